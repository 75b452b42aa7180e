// End-to-end: `vfab probe` brings real fabrics up (own temp state dirs), pings, explains, tears down.
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadTopologyFile } from '../../lib/topology/load.js';
import { probeDesign, type ProbeReport } from '../../daemons/validate/probe.js';
import { isAlive } from '../../daemons/fabric/state.js';

describe('vfab probe (e2e)', function () {
  this.timeout(90_000);
  const dirs: string[] = [];
  const pids: number[] = [];
  const onProgress = (line: string) => {
    const m = /\(pid (\d+),/.exec(line);
    if (m) pids.push(Number(m[1]));
  };
  const run = async (file: string): Promise<ProbeReport> => {
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfab-probe-test-'));
    dirs.push(stateDir);
    return probeDesign(await loadTopologyFile(file), { stateDir, onProgress });
  };
  after(() => {
    for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL'); // only if teardown failed
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('quickstart matches the expected matrix (same VLAN reachable, gateway without router noted)', async () => {
    const report = await run('topologies/quickstart.yaml');
    const got = Object.fromEntries(report.results.map((r) => [r.key, r.outcome]));
    expect(got).to.deep.equal({
      'web1.nic0 -> web2.nic0': 'ok',
      'web2.nic0 -> web1.nic0': 'ok',
      'app1.nic0 -> db1.nic0': 'ok',
      'db1.nic0 -> app1.nic0': 'ok',
      'web1.nic0 -> gateway 192.0.2.1': 'no-router',
      'web2.nic0 -> gateway 192.0.2.1': 'no-router',
    });
    expect(report.unexpected).to.equal(0);
    expect(pids.filter(isAlive), 'daemons left running').to.deep.equal([]);
  });

  it('native-vlan-trap: each failed pair names the hop and the reason (§2.6)', async () => {
    const report = await run('topologies/native-vlan-trap.yaml');
    const byKey = new Map(report.results.map((r) => [r.key, r]));
    expect(byKey.get('fixed.nic0 -> peer.nic0')!.outcome).to.equal('ok');
    expect(byKey.get('peer.nic0 -> fixed.nic0')!.outcome).to.equal('ok');
    const failed = report.results.filter((r) => r.outcome === 'UNEXPECTED-FAIL');
    expect(failed.map((r) => r.key).sort()).to.deep.equal([
      'fixed.nic0 -> trapped.nic0', 'peer.nic0 -> trapped.nic0', 'trapped.nic0 -> fixed.nic0', 'trapped.nic0 -> peer.nic0']);
    for (const r of failed) expect(r.explanation, r.key).to.not.be.empty;
    for (const key of ['trapped.nic0 -> peer.nic0', 'peer.nic0 -> trapped.nic0']) {
      const text = byKey.get(key)!.explanation.join('\n');
      expect(text, key).to.match(/esx1\/vSwitch0 dropped \d+ frames?: unknown_unicast_from_uplink — the reply came back untagged on native VLAN 10 \(sw1 port Gi1\/0\/1\)/);
    }
    expect(byKey.get('trapped.nic0 -> fixed.nic0')!.explanation.join('\n')).to.contain('switches only within one VLAN');
    expect(pids.filter(isAlive), 'daemons left running').to.deep.equal([]);
  });
});
