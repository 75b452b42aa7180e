// End-to-end: a generated fabric of 12 hosts (bench/scale-topology.ts, 3 VMs each, two switches) comes
// up with its daemons started a few at a time (daemons/fabric/bounded.ts) and `vfab probe` reaches every
// VM's peer across hosts, uplinks and the inter-switch trunk; one daemon that cannot start, among many
// starting at once, is named in the error and every daemon started beside it is stopped. Real daemons
// on 127.0.0.1 in temporary state dirs, stopped by PID. No timing targets (those are in npm run bench --
// --only scale); the sizes here are small so the test stays short on a shared machine.

import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { parseTopology } from '../../../lib/topology/load.js';
import { VfabError } from '../../../lib/errors.js';
import { fabricUp } from '../../../daemons/fabric/lifecycle.js';
import { probeDesign } from '../../../daemons/validate/probe.js';
import { isAlive } from '../../../daemons/fabric/state.js';
import { scalePairCount, scaleTopologyYaml } from '../../../bench/scale-topology.js';
import { makeTempDir, trackPids } from '../helpers/fabric.js';

const HOSTS = 12;
const VMS = 3;

describe('a generated 12-host fabric started in parallel (e2e)', function () {
  this.timeout(120_000);
  const dirs: string[] = [];
  const pids: number[] = [];
  /** Records the PID of every "started ..." progress line (the daemons this test must see stopped). */
  const progress = (lines: string[]) => (line: string) => {
    lines.push(line);
    const m = /\(pid (\d+),/.exec(line);
    if (m) {
      pids.push(Number(m[1]));
      trackPids([Number(m[1])]); // SIGKILLed on exit if a teardown failed
    }
  };
  after(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('comes up (every daemon, every link) and vfab probe finds every VM\'s peer', async () => {
    const dir = makeTempDir('vfab-e2e-scale-');
    dirs.push(dir);
    const topology = parseTopology(scaleTopologyYaml({ hosts: HOSTS, vmsPerHost: VMS }), path.join(dir, 'scale.yaml'));
    const lines: string[] = [];
    const report = await probeDesign(topology, { stateDir: path.join(dir, 'state'), onProgress: progress(lines) });
    const started = lines.filter((l) => l.startsWith('started '));
    expect(started, 'one started line per daemon').to.have.length(HOSTS + 2);
    expect(lines.filter((l) => l.endsWith(`[${HOSTS + 2}/${HOSTS + 2}]`)), 'the count reaches every daemon').to.have.length(1);
    expect(lines[0]).to.match(/^starting 14 daemons, \d+ at a time$/);
    expect(lines, 'every link up').to.include(`links up ${HOSTS * 2 + 1}/${HOSTS * 2 + 1}`);
    expect(report.results).to.have.length(scalePairCount({ hosts: HOSTS, vmsPerHost: VMS }));
    expect(report.results.filter((r) => r.outcome !== 'ok').map((r) => `${r.key}: ${r.outcome} ${r.error ?? ''}`)).to.deep.equal([]);
    // each pair crosses to the other host of its pair: vm1-1 (esx1) pings vm2-1 (esx2)
    expect(report.results.map((r) => r.key)).to.include('vm1-1.nic0 -> vm2-1.nic0');
    expect(pids.filter(isAlive), 'daemons left running').to.deep.equal([]);
  });

  it('names the one daemon that did not start, and stops every daemon started beside it', async () => {
    const dir = makeTempDir('vfab-e2e-scale-bad-');
    dirs.push(dir);
    const notADir = path.join(dir, 'not-a-directory');
    fs.writeFileSync(notADir, 'a file where the array wants its store\n');
    const yaml = scaleTopologyYaml({ hosts: HOSTS, vmsPerHost: 1 }) + `arrays:\n  - name: array1\n    dataDir: ${notADir}\n    luns:\n      - { name: lun1, sizeGB: 1 }\n`;
    const topology = parseTopology(yaml, path.join(dir, 'bad.yaml'));
    const lines: string[] = [];
    const before = pids.length;
    const err = await fabricUp({ topology, stateDir: path.join(dir, 'state'), concurrency: 4, onProgress: progress(lines) }).then(() => undefined, (e: unknown) => e);
    expect(err).to.be.instanceOf(VfabError);
    expect((err as VfabError).message).to.match(/^array daemon array1 /);
    expect(pids.length - before, 'daemons were starting beside the array').to.be.above(0);
    expect(lines.filter((l) => l.startsWith('started ')).length, 'the starts stopped at the failure').to.be.below(HOSTS + 2);
    expect(pids.filter(isAlive), 'daemons left running').to.deep.equal([]);
    expect(fs.existsSync(path.join(dir, 'state', 'state.json')), 'no state file left').to.equal(false);
  });
});
