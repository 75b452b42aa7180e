// `vfab send` without a fabric: every bad value named as typed (exit 2) before any daemon is asked, exit 3
// when no fabric runs; and POST /control/inject on a real ControlServer (loopback, port 0) with a stand-in
// point: frames in order, pacing kept, bounds (413), unknown points, the concurrency bound, counters and
// the frames-injected event.
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { exitCodeFor, runCommand } from '../../daemons/cli.js';
import { ControlServer } from '../../daemons/common/server.js';
import { EventLog } from '../../daemons/common/events.js';
import { control } from '../../daemons/common/control-client.js';
import { registerInjectRoutes, unknownInjectPoint, MAX_RUNNING_INJECTIONS } from '../../daemons/common/inject.js';
import { MAX_INJECT_FRAMES_PER_REQUEST } from '../../lib/traffic/crafted.js';

const FRAME = 'ffffffffffff00505600000188b5';

async function failure(argv: string[]): Promise<{ exit: number; message: string }> {
  try {
    await runCommand('send', argv, { out: () => {}, err: () => {} });
  } catch (e) {
    return { exit: exitCodeFor(e), message: (e as Error).message };
  }
  throw new Error(`vfab send ${argv.join(' ')} did not fail`);
}

describe('vfab send: usage and exit codes', () => {
  let empty: string;
  const saved = process.env.VFAB_STATE_DIR;
  before(() => {
    empty = fs.mkdtempSync(path.join(os.tmpdir(), 'vfab-send-cli-'));
    process.env.VFAB_STATE_DIR = empty;
  });
  after(() => {
    fs.rmSync(empty, { recursive: true, force: true });
    if (saved === undefined) delete process.env.VFAB_STATE_DIR;
    else process.env.VFAB_STATE_DIR = saved;
  });

  it('names the bad option or value as typed, exit 2, before any fabric is needed', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['web1.nic0'], /give the frames: --hex HEX, --pcap FILE, or --dst MAC --src MAC/],
      [['web1.nic0', '--hex', FRAME, '--dst', '00:50:56:00:00:01'], /--hex and --dst\/--src: give the frames one way/],
      [['web1.nic0', '--hex', FRAME, '--timing'], /--timing applies to --pcap only/],
      [['web1.nic0', '--pcap', 'x.pcap', '--timing', '--rate', '5'], /--rate 5: --timing keeps the file's own pace/],
      [['web1.nic0', '--dst', '00:50:56:00:00:01'], /needs --dst MAC and --src MAC \(missing --src\)/],
      [['web1.nic0', '--dst', '00:50:56:00:00:01', '--src', 'nope'], /--src nope: not a MAC address/],
      [['web1.nic0', '--dst', '00:50:56:00:00:01', '--src', '00:50:56:00:00:02', '--ethertype', 'ipv4'], /--ethertype ipv4: write the EtherType in hex/],
      [['web1.nic0', '--dst', '00:50:56:00:00:01', '--src', '00:50:56:00:00:02', '--payload', 'abc'], /--payload: write pairs of hex digits/],
      [['web1.nic0', '--dst', '00:50:56:00:00:01', '--src', '00:50:56:00:00:02', '--size', '13'], /--size 13: must be 14-9022/],
      [['web1.nic0', '--dst', '00:50:56:00:00:01', '--src', '00:50:56:00:00:02', '--payload', '00'.repeat(60), '--size', '64'], /--dst\/--src\/--size: size 64 is smaller than/],
      [['web1.nic0', '--dst', '00:50:56:00:00:01', '--src', '00:50:56:00:00:02', '-c', '1000', '--rate', '1'], /-c 1000 --rate 1: the send would take 999000 ms/],
      [['web1.nic0', '--hex', FRAME, '--hex', 'ffff'], /--hex #2: a frame is 14..9022 bytes, this one 2/],
      [['web1.nic0', '--pcap', path.join(os.tmpdir(), 'vfab-no-such-file.pcap')], /--pcap .*vfab-no-such-file.pcap: no such file/],
      [['web1.nic0', '--hex', FRAME, '--vlan', '7'], /--hex and --dst\/--src: give the frames one way/],
    ];
    for (const [argv, message] of cases) {
      const f = await failure(argv);
      expect(f.message, argv.join(' ')).to.match(message);
      expect(f.exit, argv.join(' ')).to.equal(2);
    }
  });

  it('a capture file that is not one: exit 2 naming --pcap and the file', async () => {
    const file = path.join(empty, 'not.pcap');
    fs.writeFileSync(file, 'hello, world');
    const f = await failure(['sw1.Gi1/0/1', '--pcap', file]);
    expect(f.exit).to.equal(2);
    expect(f.message).to.contain(`--pcap ${file}: not a pcap or pcapng file`);
  });

  it('no fabric running here: exit 3', async () => {
    const f = await failure(['web1.nic0', '--hex', FRAME]);
    expect(f.exit).to.equal(3);
    expect(f.message).to.match(/no fabric is running here/);
  });
});

describe('POST /control/inject (daemons/common/inject.ts)', function () {
  this.timeout(10_000);
  const token = 't'.repeat(32);
  const taken: Array<{ hex: string; atMs: number }> = [];
  const events = new EventLog('d1', () => 0);
  let server: ControlServer;
  let port: number;
  const call = (body: unknown) => control<any>({ port }, token, 'POST', '/control/inject', body);

  before(async () => {
    server = new ControlServer(token);
    registerInjectRoutes(server, {
      resolve: (point) => {
        if (point !== 'd1.p1') throw unknownInjectPoint('d1', point, ['d1.p1']);
        return (frame) => taken.push({ hex: frame.toString('hex'), atMs: performance.now() });
      },
    }, events);
    port = await server.listen(0, '127.0.0.1');
  });
  after(() => server.close());
  beforeEach(() => (taken.length = 0));

  it('takes the frames in order, counts them and logs one frames-injected event', async () => {
    const frames = [FRAME, FRAME.replace(/^ff/, '01'), FRAME.replace(/^ff/, '02')];
    expect(await call({ point: 'd1.p1', frames })).to.deep.equal({ point: 'd1.p1', frames: 3, bytes: 42 });
    expect(taken.map((t) => t.hex)).to.deep.equal(frames);
    const counters = await control<any>({ port }, token, 'GET', '/control/inject');
    expect(counters.points['d1.p1']).to.deep.include({ requests: 1, frames: 3, bytes: 42 });
    const logged = events.reply(0, 0).events.filter((e) => e.type === 'frames-injected');
    expect(logged.map((e) => [e.point, e.count, e.bytes])).to.deep.equal([['d1.p1', 3, 42]]);
  });

  it('keeps the intervals between frames (at least as long as asked)', async () => {
    const started = performance.now();
    await call({ point: 'd1.p1', frames: [FRAME, FRAME, FRAME], intervalsMs: [0, 40, 40] });
    expect(taken).to.have.length(3);
    expect(taken[1]!.atMs - taken[0]!.atMs).to.be.at.least(39);
    expect(taken[2]!.atMs - started).to.be.at.least(79);
  });

  it('refuses an unknown point (naming the points), too many frames (413) and bad frames, taking none', async () => {
    const code = (body: unknown) => call(body).then(() => 'ok', (e) => e.code);
    expect(await code({ point: 'd1.p9', frames: [FRAME] })).to.equal('VFAB_INJECT_NOT_FOUND');
    await call({ point: 'd1.p9', frames: [FRAME] }).catch((e) => expect(e.message).to.contain('has: d1.p1'));
    expect(await code({ point: 'd1.p1', frames: Array(MAX_INJECT_FRAMES_PER_REQUEST + 1).fill(FRAME) })).to.equal('VFAB_INJECT_TOO_LARGE');
    expect(await code({ point: 'd1.p1', frames: [FRAME, 'ffff'] })).to.equal('VFAB_BAD_FRAME');
    expect(taken).to.have.length(0);
  });

  it(`paces at most ${MAX_RUNNING_INJECTIONS} requests at once; one more is refused`, async () => {
    const running = Array.from({ length: MAX_RUNNING_INJECTIONS }, () => call({ point: 'd1.p1', frames: [FRAME, FRAME], intervalsMs: [0, 300] }));
    await new Promise((r) => setTimeout(r, 50));
    const extra = await call({ point: 'd1.p1', frames: [FRAME] }).then(() => 'ok', (e) => e.code);
    await Promise.all(running);
    expect(extra).to.equal('VFAB_INJECT_BUSY');
    expect(await call({ point: 'd1.p1', frames: [FRAME] }), 'free again afterwards').to.deep.include({ frames: 1 });
  });
});
