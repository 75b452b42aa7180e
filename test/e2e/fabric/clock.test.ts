// End-to-end across real processes on topologies/quickstart.yaml: the fabric clock (lib/fabric-clock.ts).
// CLOCK_MONOTONIC is one clock for every process; every daemon runs on the anchor `vfab up` recorded;
// `vfab events` prints the same time for the same event in every call, in time order, the cause of a
// `vfab link down` first; merged captures over several daemons (pcapng and pcap) are in strict time order
// (capinfos) and line up with the events; drops become rate-limited `drop` events and pcapng packet
// comments (tshark); `vfab capture` fails cleanly: a path that cannot be written and a bad point exit 2
// leaving no file, a daemon that dies mid-capture exits 3 naming it with the frames so far in a valid file.
// One fabric for the file; the last test kills esx2 (its own child, by PID).

import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { FabricClock } from '../../../daemons/common/fabric-clock.js';
import { fabricMsOfCapture } from '../../../lib/fabric-clock.js';
import { readPcapng } from '../../../lib/capture/pcapng.js';
import { buildFrame } from '../../../lib/wire/ethernet.js';
import { parseMac } from '../../../lib/wire/mac.js';
import { ETHERTYPE_RARP } from '../../../lib/wire/ethernet.js';
import { CAPINFOS_INSTALL_HINT, requirePeerTool, runTshark, strictTimeOrder, TSHARK_INSTALL_HINT } from '../../helpers/peer-tools.js';
import { FABRIC_DOWN_TIMEOUT_MS, FABRIC_UP_TIMEOUT_MS, makeTempDir, runCli, startFabric, waitFor, type TestFabric } from '../helpers/fabric.js';

interface JsonEvent {
  timeMs: number;
  wall: string;
  source: string;
  seq: number;
  type: string;
  [field: string]: unknown;
}

function parseEvents(out: string): JsonEvent[] {
  return out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as JsonEvent);
}

/** The EtherType of a frame, under one 802.1Q tag if there is one. */
function innerType(f: Buffer): number {
  const outer = f.readUInt16BE(12);
  return outer === 0x8100 ? f.readUInt16BE(16) : outer;
}

describe('e2e fabric: one fabric clock for events and captures (topologies/quickstart.yaml)', function () {
  this.timeout(60_000);
  let fab: TestFabric;
  let clock: FabricClock;
  const dir = makeTempDir('vfab-e2e-clock-');
  const cli = (args: string[], timeoutMs?: number) => runCli(args, { stateDir: fab.stateDir, ...(timeoutMs ? { timeoutMs } : {}) });
  const events = async (...args: string[]) => {
    const r = await cli(['events', '--json', ...args]);
    expect(r.code, r.stderr).to.equal(0);
    return parseEvents(r.out);
  };

  before(async function () {
    this.timeout(FABRIC_UP_TIMEOUT_MS);
    fab = await startFabric('topologies/quickstart.yaml');
    clock = new FabricClock(fab.state.clock, fab.state.timeScale);
  });

  after(async function () {
    this.timeout(FABRIC_DOWN_TIMEOUT_MS);
    await fab?.down();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('process.hrtime.bigint() is one clock across processes, and every daemon reads the anchor vfab up recorded', async () => {
    const before = process.hrtime.bigint();
    const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.hrtime.bigint()))'], { encoding: 'utf8', timeout: 10_000 });
    const after = process.hrtime.bigint();
    const theirs = BigInt(child.stdout);
    expect(theirs > before && theirs < after, `child read ${theirs}, outside [${before}, ${after}]`).to.equal(true);
    for (const name of ['esx1', 'esx2', 'sw1', 'sw2']) {
      const t0 = clock.nowMs();
      const { clockMs } = await fab.status(name);
      const t1 = clock.nowMs();
      expect(clockMs, `${name}'s clock`).to.be.within(t0, t1);
    }
  });

  it('vfab link down esx1.vmnic0: the cause prints first, then its effects, in time order; two calls print identical times', async () => {
    const startMs = clock.nowMs();
    const down = await cli(['link', 'down', 'esx1.vmnic0']);
    expect(down.code, down.stderr).to.equal(0);
    await waitFor(async () => (await events('--node', 'sw2', '--type', 'mac-move')).some((e) => e.timeMs > startMs), 'sw2 to move app1 after the failover');
    const first = await events();
    const second = await events();
    const timeOf = new Map(second.map((e) => [`${e.source}#${e.seq}`, e.timeMs]));
    for (const e of first) expect(timeOf.get(`${e.source}#${e.seq}`), `${e.source} event ${e.seq} (${e.type})`).to.equal(e.timeMs);
    for (let i = 1; i < first.length; i++) expect(first[i]!.timeMs, `event ${i} (${first[i]!.type} at ${first[i]!.source})`).to.be.at.least(first[i - 1]!.timeMs);

    const linkTypes = new Set(['admin-link', 'carrier', 'link-down', 'failover', 'notify', 'mac-flushed', 'mac-move']);
    const after = first.filter((e) => e.timeMs > startMs && linkTypes.has(e.type));
    expect(after[0], 'first event after the command').to.include({ source: 'esx1', type: 'admin-link', uplink: 'vmnic0', up: false });
    const at = (pred: (e: JsonEvent) => boolean, what: string) => {
      const i = after.findIndex(pred);
      expect(i, what).to.be.greaterThan(0);
      return i;
    };
    const carrierPeer = at((e) => e.source === 'sw1' && e.type === 'carrier' && e.port === 'Gi1/0/1' && e.up === false, 'carrier lost at sw1 Gi1/0/1');
    const failover = at((e) => e.source === 'esx1' && e.type === 'failover', 'failover at esx1');
    const notify = at((e) => e.source === 'esx1' && e.type === 'notify' && e.uplink === 'vmnic1', 'RARPs on vmnic1');
    const move = at((e) => e.source === 'sw2' && e.type === 'mac-move', 'MAC move at sw2');
    expect(notify, 'the RARPs go out after the failover').to.be.greaterThan(failover);
    expect(move, 'the switch moves the MAC after the RARPs').to.be.greaterThan(notify);
    expect(carrierPeer).to.be.greaterThan(0);
    expect(after[0]!.wall).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);

    const up = await cli(['link', 'up', 'esx1.vmnic0']);
    expect(up.code, up.stderr).to.equal(0);
    await waitFor(async () => (await fab.status('esx1')).vswitches[0].uplinks.every((u: any) => u.up), 'vmnic0 back');
  });

  it('merged captures over three daemons (pcapng and pcap) are in strict time order and line up with the events; frames carry the daemons\' comments', async function () {
    requirePeerTool(this, 'capinfos', CAPINFOS_INSTALL_HINT);
    requirePeerTool(this, 'tshark', TSHARK_INSTALL_HINT);
    const points = ['esx1.vmnic0', 'esx1.vmnic1', 'sw1.Gi1/0/1', 'sw1.Gi1/0/48', 'sw2.Gi1/0/1', 'sw2.Gi1/0/48'];
    const ng = path.join(dir, 'merged.pcapng');
    const pcap = path.join(dir, 'merged.pcap');
    const capNg = cli(['capture', ...points, '-w', ng, '--seconds', '6'], 30_000);
    const capPcap = cli(['capture', ...points, '-w', pcap, '--seconds', '6'], 30_000);
    await new Promise((r) => setTimeout(r, 2000)); // both CLIs attached
    // a stream web1 -> web2 crosses esx1, sw2 (or sw1 and the trunk) and esx2 at once: batches of
    // different daemons overlap in time, which is what the merge has to order
    await fab.call('esx2', 'POST', '/control/streams/sink', { vm: 'web2', udpPort: 9000, streamId: 7 });
    await fab.call('esx1', 'POST', '/control/streams/send', { vm: 'web1', target: '192.0.2.12', udpPort: 9000, frameBytes: 128, seconds: 1, ratePps: 3000, streamId: 7, background: true });
    const startMs = clock.nowMs();
    const down = await cli(['link', 'down', 'esx1.vmnic0']);
    expect(down.code, down.stderr).to.equal(0);
    for (let i = 0; i < 5; i++) await fab.ping('web1', '192.0.2.12', { count: 2, intervalMs: 20 });
    const [a, b] = await Promise.all([capNg, capPcap]);
    expect(a.code, a.stderr).to.equal(0);
    expect(b.code, b.stderr).to.equal(0);
    expect(strictTimeOrder(ng), `${ng} in strict time order`).to.equal(true);
    expect(strictTimeOrder(pcap), `${pcap} in strict time order`).to.equal(true);

    const file = readPcapng(fs.readFileSync(ng));
    if (!file.ok) throw file.error;
    const daemons = new Set(file.value.packets.map((p) => file.value.interfaces[p.interfaceId]!.name!.split('.')[0]));
    expect([...daemons].sort(), 'frames from every daemon').to.deep.equal(['esx1', 'sw1', 'sw2']);
    // the failover's first RARP, captured at esx1.vmnic1, is stamped when the notify event is (same clock)
    const ev = await events('--node', 'esx1', '--type', 'notify');
    const notify = ev.find((e) => e.timeMs > startMs && e.uplink === 'vmnic1')!;
    expect(notify, 'notify on vmnic1 after the link went down').to.not.equal(undefined);
    const vmnic1 = file.value.interfaces.findIndex((i) => i.name === 'esx1.vmnic1');
    const rarp = file.value.packets.find((p) => p.interfaceId === vmnic1 && innerType(p.data) === ETHERTYPE_RARP && fabricMsOfCapture(fab.state.clock, p.timestampNs!) > startMs)!;
    expect(rarp, 'a RARP at esx1.vmnic1').to.not.equal(undefined);
    const rarpMs = fabricMsOfCapture(fab.state.clock, rarp.timestampNs!);
    expect(notify.timeMs - rarpMs, 'event time minus frame time (ms)').to.be.within(0, 2);
    expect(rarp.comment).to.match(/^esx1: notify RARP for 00:50:56:00:20:02 \(app1\.nic0\), failover$/);
    // tshark shows the switch's comment on the frame that moved the MAC
    const comments = runTshark(['-r', ng, '-T', 'fields', '-e', 'frame.interface_name', '-e', 'frame.comment']).split('\n');
    expect(comments.some((l) => /^sw2\.Gi1\/0\/1\tsw2: MAC 00:50:56:00:20:02 moved Gi1\/0\/48 -> Gi1\/0\/1 \(VLAN 20\)/.test(l)), comments.filter((l) => l.includes('\t') && l.split('\t')[1]).join('\n')).to.equal(true);

    const up = await cli(['link', 'up', 'esx1.vmnic0']);
    expect(up.code, up.stderr).to.equal(0);
    await waitFor(async () => (await fab.status('esx1')).vswitches[0].uplinks.every((u: any) => u.up), 'vmnic0 back');
  });

  it('drops: a forged transmit is one drop event per second with a count, and its captured frame says why (pcapng comment)', async function () {
    requirePeerTool(this, 'tshark', TSHARK_INSTALL_HINT);
    const ng = path.join(dir, 'forged.pcapng');
    const cap = cli(['capture', 'web1.nic0', '-w', ng, '--count', '3', '--seconds', '20'], 30_000);
    const forged = buildFrame({ dst: parseMac('ff:ff:ff:ff:ff:ff'), src: parseMac('00:50:56:3f:ee:01'), etherType: 0x88b5 }, Buffer.alloc(46, 7)).toString('hex');
    const startMs = clock.nowMs();
    let sent = 0;
    let done = false;
    void cap.finally(() => (done = true));
    // the capture attaches in the background: keep sending until it has its frames
    while (!done && sent < 200) {
      await fab.call('esx1', 'POST', '/control/vms/web1/raw', { frameHex: forged });
      sent++;
      await new Promise((r) => setTimeout(r, 100));
    }
    const c = await cap;
    expect(c.code, c.stderr).to.equal(0);
    // (web1 may also receive a broadcast meanwhile: only the forged frames are dropped, each says why)
    const lines = runTshark(['-r', ng, '-T', 'fields', '-e', 'eth.src', '-e', 'frame.comment']).trim().split('\n');
    expect(lines).to.have.length(3);
    const forgedLines = lines.filter((l) => l.startsWith('00:50:56:3f:ee:01'));
    expect(forgedLines.length).to.be.at.least(1);
    for (const l of forgedLines) expect(l).to.equal('00:50:56:3f:ee:01\tdropped: forged transmit (security policy)');
    for (const l of lines.filter((x) => !x.startsWith('00:50:56:3f:ee:01'))) expect(l).to.not.include('dropped');
    // every drop is counted in some event, and there are at most one per second (plus the first)
    let drops: JsonEvent[] = [];
    await waitFor(async () => {
      drops = (await events('--node', 'esx1', '--type', 'drop')).filter((e) => e.timeMs > startMs && e.reason === 'forged_transmit');
      return drops.reduce((n, e) => n + (e.count as number), 0) === sent;
    }, `drop events counting all ${sent} forged frames`, 5_000);
    const spanS = (drops[drops.length - 1]!.timeMs - drops[0]!.timeMs) / 1000;
    expect(drops.length, `${drops.length} events over ${spanS.toFixed(1)} s`).to.be.at.most(Math.ceil(spanS) + 2);
    expect(drops[0]).to.include({ port: 'web1.nic0', count: 1, message: 'forged transmit (security policy)' });
    expect(drops[0]!.frame).to.equal('00:50:56:3f:ee:01 > ff:ff:ff:ff:ff:ff type 0x88b5 60 bytes');
    if (sent > 1) expect(drops.length, 'later drops are folded into counts').to.be.below(sent);
  });

  it('vfab capture -w into a missing directory exits 2 naming the path (no stack trace)', async () => {
    const r = await cli(['capture', 'esx1.vmnic0', '-w', '/no/such/dir/x.pcap', '--count', '1']);
    expect(r.code, r.stderr).to.equal(2);
    expect(r.stderr).to.include('/no/such/dir/x.pcap');
    expect(r.stderr).to.match(/no such directory/);
    expect(r.stderr).to.not.match(/\n\s+at |internal error|ENOENT/);
  });

  it('vfab capture of a point that does not exist exits 2 naming it and leaves no file', async () => {
    for (const point of ['sw1.Gi9/9/9', 'nosuch.nic0']) {
      const file = path.join(dir, `bad-${point.replace(/\W/g, '_')}.pcap`);
      const r = await cli(['capture', 'esx1.vmnic0', point, '-w', file, '--count', '1']);
      expect(r.code, r.stderr).to.equal(2);
      expect(r.stderr).to.include(point);
      expect(fs.existsSync(file), `${file} left behind`).to.equal(false);
    }
  });

  it('a capture whose daemon dies ends with exit 3 naming it; the frames so far stay in a valid file (last: kills esx2)', async function () {
    requirePeerTool(this, 'capinfos', CAPINFOS_INSTALL_HINT);
    const file = path.join(dir, 'dies.pcapng');
    const cap = cli(['capture', 'esx2.vmnic1', 'sw2.Gi1/0/2', '-w', file, '--seconds', '30'], 40_000);
    // traffic through both points until frames are in the file (the pcapng header alone is < 400 bytes)
    await waitFor(async () => {
      await fab.ping('web1', '192.0.2.12', { count: 1, timeoutMs: 300 }).catch(() => undefined);
      return fs.existsSync(file) && fs.statSync(file).size > 1000;
    }, 'captured frames in the file', 20_000, 100);
    process.kill(fab.daemon('esx2').pid, 'SIGKILL');
    const r = await cap;
    expect(r.code, r.stderr).to.equal(3);
    expect(r.stderr).to.match(/lost the capture stream: the connection to esx2 closed/);
    expect(r.stderr).to.not.match(/\n\s+at |internal error/);
    const parsed = readPcapng(fs.readFileSync(file));
    if (!parsed.ok) throw parsed.error;
    expect(parsed.value.packets.length).to.be.greaterThan(0);
    expect(r.stderr).to.include(`the ${parsed.value.packets.length} frames captured before are in ${file}`);
    expect(strictTimeOrder(file)).to.equal(true);
  });
});
