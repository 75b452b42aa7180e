// End-to-end: `vfab up --hosts-per-process 2` on a generated 4-host fabric (bench/scale-topology.ts, one
// VM per host, two switches; the hosts listed esx1, esx3, esx2, esx4 so each ping pair crosses groups):
// two host groups (daemons/hostgroupd.ts), every host in a worker thread with its own control port.
// Pings cross hosts in different processes; `vfab fault kill` of a packed host ends only its worker (its
// sibling keeps answering and forwarding, the killed host's links drop at both switches); `vfab fault
// restart` starts it again in its group on its port; a group process that dies takes its hosts with it
// and `vfab status` says so; `vfab down` leaves no process. Also: the option's bounds (exit 2, named), and
// a group's own contract: a host that cannot start is answered with its log tail, its group lives on.
// Real processes through the CLI on 127.0.0.1, a temporary state dir, stopped by PID.

import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { scaleTopologyYaml } from '../../../bench/scale-topology.js';
import { control } from '../../../daemons/common/control-client.js';
import { fabricDown } from '../../../daemons/fabric/lifecycle.js';
import { spawnDaemon, stopDaemons } from '../../../daemons/fabric/process.js';
import { HOSTGROUPD_SCRIPT, groupWorkersFile } from '../../../daemons/fabric/host-groups.js';
import { newToken } from '../../../daemons/common/server.js';
import { VfabError } from '../../../lib/errors.js';
import { findDaemon, isAlive, readState, type FabricState } from '../../../daemons/fabric/state.js';
import { MAX_HOSTS_PER_PROCESS } from '../../../lib/scale/host-groups.js';
import { makeTempDir, runCli, trackPids, waitFor } from '../helpers/fabric.js';

/** vm1-1 (esx1) <-> vm2-1 (esx2) in VLAN 100, vm3-1 (esx3) <-> vm4-1 (esx4) in VLAN 101. */
const PEER_OF: Record<string, string> = { 'vm1-1': '10.0.100.2', 'vm2-1': '10.0.100.1', 'vm3-1': '10.0.101.2', 'vm4-1': '10.0.101.1' };

describe('vfab up --hosts-per-process (e2e)', function () {
  this.timeout(120_000);
  let dir: string;
  let topo: string;
  let state: FabricState | undefined;
  const pids = new Set<number>();
  const cli = (args: string[]) => runCli(args, { stateDir: path.join(dir, 'state') });
  const ping = async (vm: string, count = 3) => {
    const s = readState(path.join(dir, 'state'));
    const r = await control<{ received: number }>(findDaemon(s, s.vmHosts[vm]!), s.token, 'POST', `/control/vms/${vm}/ping`, { target: PEER_OF[vm], count, intervalMs: 20, timeoutMs: 500 });
    return r.received;
  };
  const switchPort = async (sw: string, port: string) => {
    const s = readState(path.join(dir, 'state'));
    const st = await control<{ links: Array<{ local: string; carrier: boolean }> }>(findDaemon(s, sw), s.token, 'GET', '/control/links');
    return st.links.find((l) => l.local === port)!.carrier;
  };

  before(async () => {
    dir = makeTempDir('vfab-pack-');
    const doc = parse(scaleTopologyYaml({ hosts: 4, vmsPerHost: 1, name: 'pack4' }));
    const byName = new Map<string, unknown>(doc.hosts.map((h: { name: string }) => [h.name, h]));
    doc.hosts = ['esx1', 'esx3', 'esx2', 'esx4'].map((n) => byName.get(n)); // groups {esx1, esx3} and {esx2, esx4}
    topo = path.join(dir, 'pack4.yaml');
    fs.writeFileSync(topo, stringify(doc));
  });
  after(async () => {
    try {
      state = readState(path.join(dir, 'state'));
      await fabricDown(state, path.join(dir, 'state')); // only if the test's own `vfab down` did not run
    } catch {
      /* stopped already */
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a value out of 1-64, naming the option (exit 2)', async () => {
    for (const bad of ['0', String(MAX_HOSTS_PER_PROCESS + 1), '2.5']) {
      const r = await cli(['up', topo, '--detach', '--hosts-per-process', bad]);
      expect(r.code, bad).to.equal(2);
      expect(r.stderr, bad).to.include('--hosts-per-process');
    }
  });

  it('packs two hosts per process; pings cross processes; a kill ends only one host; restart; down', async () => {
    const up = await cli(['up', topo, '--detach', '--hosts-per-process', '2', '--json']);
    expect(up.code, up.stderr).to.equal(0);
    state = JSON.parse(up.out) as FabricState;
    for (const d of state.daemons) pids.add(d.pid);
    trackPids([...pids]);
    const host = (n: string) => state!.daemons.find((d) => d.name === n)!;
    // two groups, each one process for two hosts with their own control ports
    expect(host('esx1').group).to.equal('hostgroup.1');
    expect(host('esx3').group).to.equal('hostgroup.1');
    expect(host('esx2').group).to.equal('hostgroup.2');
    expect(host('esx1').pid).to.equal(host('esx3').pid);
    expect(host('esx2').pid).to.equal(host('esx4').pid);
    expect(host('esx1').pid).to.not.equal(host('esx2').pid);
    expect(host('esx1').port).to.not.equal(host('esx3').port);
    expect(new Set(state.daemons.map((d) => d.pid)).size, 'processes: 2 switches + 2 groups').to.equal(4);
    for (const vm of Object.keys(PEER_OF)) expect(await ping(vm), `${vm} -> ${PEER_OF[vm]}`).to.be.above(0);
    expect((await cli(['status'])).code, 'status with every host up').to.equal(0);

    // kill esx1: only its worker ends
    const kill = await cli(['fault', 'kill', 'esx1']);
    expect(kill.code, kill.stderr).to.equal(0);
    expect(kill.out).to.include('worker thread in hostgroup.1 terminated');
    expect(isAlive(host('esx1').pid), 'the group process lives on').to.equal(true);
    await waitFor(async () => !(await switchPort('sw1', 'Gi1/0/1')) && !(await switchPort('sw2', 'Gi1/0/1')), "esx1's links down at sw1 and sw2", 5_000);
    const esx3 = await control<{ name: string }>(host('esx3'), state.token, 'GET', '/control/status');
    expect(esx3.name, 'the sibling in the same process answers').to.equal('esx3');
    expect(await ping('vm3-1'), 'the sibling still forwards').to.be.above(0);
    expect(await ping('vm2-1', 2), 'nobody answers for the killed host').to.equal(0);
    const status = await cli(['status', '--json']);
    expect(status.code).to.equal(3);
    const esx1 = JSON.parse(status.out).daemons.find((d: any) => d.name === 'esx1');
    expect(esx1).to.include({ running: false, group: 'hostgroup.1' });
    expect(esx1.error).to.include('killed');

    // restart esx1 in its group, on its port
    const restart = await cli(['fault', 'restart', 'esx1']);
    expect(restart.code, restart.stderr).to.equal(0);
    const restarted = findDaemon(readState(path.join(dir, 'state')), 'esx1');
    expect(restarted).to.include({ pid: host('esx1').pid, port: host('esx1').port, group: 'hostgroup.1' });
    expect(await waitFor(() => ping('vm2-1'), 'vm2-1 reaches vm1-1 again', 10_000)).to.be.above(0);
    expect((await cli(['status'])).code, 'status after the restart').to.equal(0);

    // the second group's process dies: both its hosts are gone, and status says why
    process.kill(host('esx2').pid, 'SIGKILL');
    await waitFor(() => !isAlive(host('esx2').pid), 'hostgroup.2 gone', 5_000);
    const after = await cli(['status', '--json']);
    expect(after.code).to.equal(3);
    for (const n of ['esx2', 'esx4']) {
      const r = JSON.parse(after.out).daemons.find((d: any) => d.name === n);
      expect(r, n).to.include({ running: false });
      expect(r.error, n).to.include('host group hostgroup.2');
    }
    expect(after.stderr).to.include('host esx4');

    // every host and switch killed, but hostgroup.1's process still runs (no workers): not a free state dir,
    // and vfab down still ends that process
    for (const n of ['esx1', 'esx3', 'sw1', 'sw2']) expect((await cli(['fault', 'kill', n])).code, n).to.equal(0);
    expect(isAlive(host('esx1').pid), 'hostgroup.1 without workers').to.equal(true);
    const again = await cli(['up', topo, '--detach', '--hosts-per-process', '2']);
    expect(again.code).to.not.equal(0);
    expect(again.stderr).to.include('already running');

    const down = await cli(['down']);
    expect(down.code, down.stderr).to.equal(0);
    expect([...pids].filter(isAlive), 'processes left after vfab down').to.deep.equal([]);
  });
});

describe('a host group process (e2e)', function () {
  this.timeout(60_000);
  it('answers a host that cannot start with its log tail and goes on; refuses hosts not in it; SIGTERM ends it', async () => {
    const dir = makeTempDir('vfab-group-');
    const token = newToken();
    const workers = groupWorkersFile(dir, 'hostgroup.1');
    const group = await spawnDaemon({ name: 'hostgroup.1', kind: 'host', script: HOSTGROUPD_SCRIPT, args: ['--name', 'hostgroup.1', '--hosts', 'esx1,esx2', '--log-dir', dir, '--workers-file', workers], token, logFile: path.join(dir, 'hostgroup.1.log'), detached: false });
    trackPids([group.pid]);
    try {
      const err = await control(group, token, 'POST', '/control/group/hosts/esx1/start', { args: ['--config', path.join(dir, 'missing.json'), '--name', 'esx1'] }).then(() => undefined, (e: unknown) => e);
      expect(err).to.be.instanceOf(VfabError);
      expect((err as VfabError).message).to.match(/host esx1 exited .* before it was ready \(in hostgroup\.1\)/);
      expect((err as VfabError).message, 'the log tail names the cause').to.include('missing.json');
      const st = await control<{ hosts: Array<{ name: string; state: string }> }>(group, token, 'GET', '/control/group');
      expect(st.hosts.map((x) => [x.name, x.state])).to.deep.equal([['esx1', 'failed'], ['esx2', 'stopped']]);
      expect(JSON.parse(fs.readFileSync(workers, 'utf8')).hosts).to.deep.equal({ esx1: 'failed', esx2: 'stopped' });
      const notOurs = await control(group, token, 'POST', '/control/group/hosts/esx9/start', { args: [] }).then(() => undefined, (e: unknown) => e);
      expect((notOurs as VfabError).code).to.equal('VFAB_NOT_FOUND');
      const tooMany = await control(group, token, 'POST', '/control/group/hosts/esx2/start', { args: Array.from({ length: 33 }, () => '-x') }).then(() => undefined, (e: unknown) => e);
      expect((tooMany as VfabError).code).to.equal('VFAB_GROUP_START');
      expect(isAlive(group.pid), 'the group lives on').to.equal(true);
    } finally {
      const r = await stopDaemons([group]);
      expect(r.stopped, 'stopped by SIGTERM, not killed').to.deep.equal(['hostgroup.1']);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
