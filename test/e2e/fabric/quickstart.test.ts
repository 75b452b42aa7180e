// End-to-end: `vfab quickstart --json` (what `npm start` runs) as a child process in a temporary state
// directory. Checks what the summary promises a new user: every check passes, the failover under
// 2000 frames/s stays inside the stated bound (frames lost = sent - delivered, at most 1 %; longest gap
// at the receiver under 100 ms), web1's notify-switches RARPs say startup and then failover (never
// failback at start-up), the captures are written, and nothing is left running. Leaves out the capture
// contents (test/e2e/fabric/cli.test.ts reads them with tshark) and the ping details.

import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { FAILOVER_MAX_GAP_MS, FAILOVER_MAX_LOSS_PERCENT, FAILOVER_MIN_SENT_RATIO } from '../../../lib/traffic/failover-check.js';
import { QUICKSTART_STREAM_PPS, QUICKSTART_STREAM_SECONDS } from '../../../daemons/cli/commands/quickstart.js';
import { FABRIC_UP_TIMEOUT_MS, makeTempDir, runCli } from '../helpers/fabric.js';
import { assertStrictTimeOrder } from '../../helpers/peer-tools.js';

describe('e2e: vfab quickstart --json (npm start)', function () {
  this.timeout(FABRIC_UP_TIMEOUT_MS + 30_000);
  const stateDir = makeTempDir('vfab-e2e-quickstart-');
  const outDir = path.join(stateDir, 'captures');
  let r: Awaited<ReturnType<typeof runCli>>;
  let json: any;

  before(async function () {
    r = await runCli(['quickstart', '--json', '--out', outDir], { stateDir, timeoutMs: FABRIC_UP_TIMEOUT_MS + 25_000 });
    json = JSON.parse(r.out);
  });

  after(() => fs.rmSync(stateDir, { recursive: true, force: true }));

  it('every check comes out as the design predicts, and the exit code says so', () => {
    const bad = json.checks.filter((c: any) => !c.ok).map((c: any) => `${c.check}: expected ${c.expected}, got ${c.got}`);
    expect(bad, r.stderr).to.deep.equal([]);
    expect(json.ok).to.equal(true);
    expect(r.code).to.equal(0);
  });

  it(`the failover at ${QUICKSTART_STREAM_PPS} frames/s loses at most ${FAILOVER_MAX_LOSS_PERCENT} % and has no gap of ${FAILOVER_MAX_GAP_MS} ms`, () => {
    const f = json.failover;
    const row = json.checks.find((c: any) => c.check.startsWith('failover:'));
    expect(row.expected, 'the bound is stated to the user').to.equal(`on ${f.web1Uplink}, <= ${FAILOVER_MAX_LOSS_PERCENT} % lost, gap < ${FAILOVER_MAX_GAP_MS} ms`);
    expect(f.lost, 'lost = sent - delivered').to.equal(f.sent - f.received);
    expect(f.sent, 'the sender ran at the rate it claims').to.be.at.least(QUICKSTART_STREAM_PPS * QUICKSTART_STREAM_SECONDS * FAILOVER_MIN_SENT_RATIO);
    expect(f.lossPercent, JSON.stringify(f)).to.be.at.most(FAILOVER_MAX_LOSS_PERCENT);
    expect(f.maxGapMs, JSON.stringify(f)).to.be.below(FAILOVER_MAX_GAP_MS);
  });

  it("web1's RARPs: startup bursts at start-up, then one failover burst on the uplink it moved to", () => {
    const rarps: Array<{ uplink: string; reason: string }> = json.failover.rarps;
    expect(rarps.length).to.be.within(2, 3);
    expect(rarps.slice(0, -1).map((x) => x.reason)).to.satisfy((rs: string[]) => rs.every((x) => x === 'startup'));
    expect(rarps[rarps.length - 1]).to.deep.include({ reason: 'failover', uplink: json.failover.web1Uplink });
    expect(json.checks.find((c: any) => c.check.startsWith('notify switches')).ok).to.equal(true);
  });

  it('writes the three captures and stops every daemon it started', () => {
    const files = json.captures.map((c: any) => path.basename(c.file)).sort();
    expect(files).to.deep.equal(['esx1-uplinks.pcapng', 'sw1-sw2-trunk.pcapng', 'web1.nic0.pcap']);
    for (const c of json.captures) expect(c.bytes, c.file).to.be.above(1000);
    assertStrictTimeOrder(json.captures.map((c: any) => c.file));
    expect(fs.existsSync(path.join(stateDir, 'quickstart', 'state.json')), 'the fabric was taken down').to.equal(false);
    // each daemon's command line names its config file under the state dir
    const left = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(stateDir));
    expect(left, 'daemons still running').to.deep.equal([]);
  });
});
