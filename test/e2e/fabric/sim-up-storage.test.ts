// End to end through the vfab CLI (a child process, VFAB_STATE_DIR = a temp dir of this suite) on
// simulated fabrics with storage, HA and vMotion (`vfab up --sim`, docs/simulation.md "Interactive: vfab up
// --sim"). ha-lab at time scale 8: the array is a node of its own (status --json, lun list), datastore
// format and list through the hosts' own datastore code, app1 powers on holding its files' locks (datastore
// locks --json) and a second host's power-on is refused (locked), kill -9 of esx1 has HA declare it dead
// 18 s after its last heartbeat and restart app1 on esx2 once the lease on its locks ran out (fabric
// times from the events), kill/restart of the array, down leaves no process. vmotion-lab: vm migrate of a
// VM without datastore disks through the CLI, the VM answers pings on its new host, and a measured stream
// between two VMs counts its frames. vmotion-datastore: vm migrate of a VM with a datastore disk moves
// its file locks to the destination. One fabric per describe; the tests in each run in order.

import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { readState, type FabricState } from '../../../daemons/fabric/state.js';
import { control } from '../../../daemons/common/control-client.js';
import { FABRIC_DOWN_TIMEOUT_MS, FABRIC_UP_TIMEOUT_MS, alivePids, cleanUpCliFabric, makeTempDir, runCli, trackPids, waitFor } from '../helpers/fabric.js';

const TIME_SCALE = 8;
/** docs/ha.md: a host with heartbeat datastores is dead at T18s (T0: the last heartbeat heard). */
const DEAD_AFTER_MS = 18_000;
/** Fabric ms the measured times may be late: the HA agent decides on 100 ms ticks, locks on heartbeat ticks. */
const TOLERANCE_MS = 1_000;

type Cli = (args: string[], timeoutMs?: number) => ReturnType<typeof runCli>;

/** Starts a simulated fabric through the CLI; returns its state. */
async function simUp(cli: Cli, stateDir: string, args: string[]): Promise<FabricState> {
  const up = await cli(['up', ...args, '--sim', '--detach'], FABRIC_UP_TIMEOUT_MS - 5000);
  if (fs.existsSync(path.join(stateDir, 'state.json'))) trackPids([readState(stateDir).sim?.pid ?? 0].filter((p) => p > 0));
  expect(up.code, `vfab up --sim failed:\n${up.stderr}`).to.equal(0);
  return readState(stateDir);
}

async function simDown(cli: Cli, stateDir: string, state: FabricState, nodes: number): Promise<void> {
  const pid = state.sim!.pid;
  const r = await cli(['down'], FABRIC_DOWN_TIMEOUT_MS - 2000);
  expect(r.code, r.stderr).to.equal(0);
  expect(r.out).to.include(`stopped (the simulation process, pid ${pid}: ${nodes} nodes)`);
  expect(alivePids([pid])).to.deep.equal([]);
  expect(fs.existsSync(path.join(stateDir, 'state.json'))).to.equal(false);
}

/** One simulated fabric for a describe: up in `before` (through the CLI), cleaned up in `after`; itDown() adds the last test. */
function simSuite(prefix: string, upArgs: string[]): { stateDir: string; cli: Cli; state: FabricState; itDown(nodes: number): void } {
  const stateDir = makeTempDir(prefix);
  const cli: Cli = (args, timeoutMs) => runCli(args, { stateDir, ...(timeoutMs ? { timeoutMs } : {}) });
  const suite = {
    stateDir, cli, state: undefined as unknown as FabricState,
    itDown(nodes: number): void {
      it('down ends the sim process by PID and removes the state', async function () {
        this.timeout(FABRIC_DOWN_TIMEOUT_MS);
        await simDown(cli, stateDir, suite.state, nodes);
      });
    },
  };
  before(async function () {
    this.timeout(FABRIC_UP_TIMEOUT_MS);
    suite.state = await simUp(cli, stateDir, upArgs);
  });
  after(async function () {
    this.timeout(FABRIC_DOWN_TIMEOUT_MS);
    await cleanUpCliFabric(stateDir);
  });
  return suite;
}

const lines = (out: string): any[] => out.split('\n').filter(Boolean).map((l) => JSON.parse(l));

describe('e2e sim: vfab up --sim on ha-lab: datastores, locks, HA restart, array faults through the ordinary commands', function () {
  this.timeout(60_000);
  const fab = simSuite('vfab-e2e-simup-ha-', ['scenarios/topologies/ha-lab.yaml', '--seed', '5', '--time-scale', String(TIME_SCALE)]);
  const cli = fab.cli;
  const clockMs = async (host: string): Promise<number> => (await control<{ clockMs: number }>(fab.state.daemons.find((d) => d.name === host)!, fab.state.token, 'GET', '/control/status')).clockMs;
  let leaseMs = 0;


  it('status --json lists the array as a node of its own, served by the sim process; lun list reads its LUNs', async () => {
    const r = await cli(['status', '--json']);
    expect(r.code, r.stderr).to.equal(0);
    const status = JSON.parse(r.out);
    expect(status.simulated).to.deep.equal({ pid: fab.state.sim!.pid, seed: 5, leftOut: [] });
    const array = status.daemons.find((d: any) => d.name === 'array1');
    expect(array).to.include({ kind: 'array', running: true, simulated: true, pid: fab.state.sim!.pid });
    expect(array.luns.map((l: any) => l.name)).to.deep.equal(['shared1', 'shared2']);
    expect(array.sessions.map((s: any) => s.initiator).sort()).to.deep.equal(['esx1', 'esx2', 'esx3'].map((h) => `iqn.2026-11.vfab:${h}`));
    const luns = await cli(['lun', 'list', '--json']);
    expect(luns.code, luns.stderr).to.equal(0);
    expect(JSON.stringify(JSON.parse(luns.out))).to.include('"shared2"');
  });

  it('datastore format mounts ds1 and ds2 on every host; app1 powers on holding its files (datastore locks --json)', async () => {
    for (const ds of ['ds1', 'ds2']) {
      const f = await cli(['datastore', 'format', ds], 30_000);
      expect(f.code, f.stderr).to.equal(0);
    }
    const list = await cli(['datastore', 'list', '--json']);
    expect(list.code, list.stderr).to.equal(0);
    const rows: Array<{ host: string; datastores: Array<{ name: string; state: string }> }> = JSON.parse(list.out).hosts;
    const mounted = rows.flatMap((h) => h.datastores.filter((d) => d.state === 'mounted').map((d) => `${h.host}:${d.name}`)).sort();
    expect(mounted).to.deep.equal(['esx1:ds1', 'esx1:ds2', 'esx2:ds1', 'esx2:ds2', 'esx3:ds1', 'esx3:ds2']);
    // app1 has its disk on ds1: esx1 powers it on once ds1 is formatted, its files locked exclusively
    const holders = async (): Promise<string[]> => {
      const l = await cli(['datastore', 'locks', 'ds1', '--json']);
      expect(l.code, l.stderr).to.equal(0);
      const j = JSON.parse(l.out);
      leaseMs = j.leaseMs;
      const vmx = j.files.find((x: any) => x.path === 'app1/app1.vmx');
      return vmx === undefined ? [] : vmx.lock.holders.map((h: any) => `${h.owner} ${vmx.lock.mode}`);
    };
    await waitFor(async () => (await holders()).length > 0, 'app1.vmx locked', 10_000, 200);
    expect(await holders()).to.deep.equal(['esx1 exclusive']);
    expect(leaseMs).to.be.greaterThan(0);
    // the lock is honoured: esx2 cannot power app1 on while esx1 holds its files
    const other = await cli(['vm', 'power-on', 'app1', '--host', 'esx2', '--datastore', 'ds1', '--wait', '1'], 20_000);
    expect(other.code, other.stderr).to.equal(1);
    expect(other.stderr).to.match(/locked by esx1/);
  });

  it('kill -9 of esx1: HA declares it dead 18 s (fabric) after its last heartbeat and restarts app1 on esx2 once the lease ran out', async () => {
    const ha = async (): Promise<any> => JSON.parse((await cli(['ha', 'status', '--json'])).out);
    let seen = '';
    await waitFor(async () => {
      const c = (await ha()).clusters[0];
      seen = JSON.stringify(c);
      return c.primary === 'esx3' && c.protectedVms[0]?.runningOn.includes('esx1');
    }, 'election over, app1 protected on esx1', 20_000, 200).catch((e: Error) => {
      throw new Error(`${e.message}; ha status: ${seen}`);
    });
    const before = await clockMs('esx3');
    const k = await cli(['fault', 'kill', 'esx1']);
    expect(k.code, k.stderr).to.equal(0);
    const after = await clockMs('esx3');
    await waitFor(async () => (await ha()).clusters[0].protectedVms[0].runningOn.includes('esx2'), 'app1 restarted on esx2', 30_000, 250);
    const ev = lines((await cli(['events', '--json'])).out);
    const dead = ev.find((e) => e.type === 'ha-host-dead' && e.host === 'esx1');
    expect(dead, 'ha-host-dead esx1').to.not.equal(undefined);
    // T0 is the last heartbeat heard from esx1: within one heartbeat interval before the kill, which
    // happened between `before` and `after`
    expect(dead.t0, `T0 (fabric ms; kill between ${Math.round(before)} and ${Math.round(after)})`).to.be.within(before - 1_000 - TOLERANCE_MS, after);
    expect(dead.afterMs).to.be.within(DEAD_AFTER_MS, DEAD_AFTER_MS + TOLERANCE_MS);
    const succeeded = ev.find((e) => e.type === 'ha-restart-succeeded' && e.vm === 'app1');
    expect(succeeded.host).to.equal('esx2');
    // esx2 breaks esx1's locks only after watching its heartbeat slot stand still for the lease
    expect(succeeded.timeMs - dead.timeMs, 'restart after dead (fabric ms)').to.be.within(leaseMs, leaseMs + 2 * TOLERANCE_MS);
    // the files are esx2's now; datastore locks skips the killed esx1 by itself
    const l = await cli(['datastore', 'locks', 'ds1', '--json']);
    expect(l.code, l.stderr).to.equal(0);
    expect(JSON.parse(l.out).files.find((x: any) => x.path === 'app1/app1.vmx').lock.holders.map((h: any) => h.owner)).to.deep.equal(['esx2']);
  });

  it('fault kill of the array closes its port and the hosts lose their paths; restart reconnects them', async () => {
    const kill = await cli(['fault', 'kill', 'array1']);
    expect(kill.code, kill.stderr).to.equal(0);
    const arr = readState(fab.stateDir).daemons.find((d) => d.name === 'array1')!;
    let code: string | undefined;
    await control(arr, fab.state.token, 'GET', '/control/luns').catch((e) => (code = e.code));
    expect(code).to.equal('VFAB_CONTROL_UNREACHABLE');
    const esx2 = fab.state.daemons.find((d) => d.name === 'esx2')!;
    const connected = async () => (await control<any>(esx2, fab.state.token, 'GET', '/control/storage')).arrays[0].paths.every((p: any) => p.connected);
    await waitFor(async () => !(await connected()), 'esx2 lost its path', 10_000, 100);
    const restart = await cli(['fault', 'restart', 'array1'], 30_000);
    expect(restart.code, restart.stderr).to.equal(0);
    expect(await connected()).to.equal(true);
    const luns = await control<{ luns: Array<{ name: string }> }>(arr, fab.state.token, 'GET', '/control/luns');
    expect(luns.luns.map((x) => x.name)).to.deep.equal(['shared1', 'shared2']);
  });

  fab.itDown(6);
});

describe('e2e sim: vfab up --sim on vmotion-lab: vMotion and measured streams through the ordinary commands', function () {
  this.timeout(30_000);
  const fab = simSuite('vfab-e2e-simup-vmotion-', ['scenarios/topologies/vmotion-lab.yaml', '--seed', '2']);
  const cli = fab.cli;
  const host = (name: string) => fab.state.daemons.find((d) => d.name === name)!;


  it('vm migrate moves app1 to esx2 while it runs; it answers pings there and esx1 no longer has it', async () => {
    const m = await cli(['vm', 'migrate', 'app1', '--to', 'esx2', '--json'], 20_000);
    expect(m.code, m.stderr).to.equal(0);
    const result = JSON.parse(m.out) as { downtimeMs: number; precopyMs: number };
    expect(result).to.include({ vm: 'app1', from: 'esx1', to: 'esx2', outcome: 'migrated' });
    // the service's asynchronous steps resume at the virtual instant that resolved them (the pump), so the
    // migration takes the fabric time vfab run --sim gives (16 MiB at 1 GbE: about 150 ms of pre-copy and
    // a few ms of downtime), not the wall time the pacer spent between its turns
    expect(result.precopyMs).to.be.within(140, 160);
    expect(result.downtimeMs).to.be.below(10);
    const vms = async (h: string) => (await control<any>(host(h), fab.state.token, 'GET', '/control/status')).vms.map((v: any) => v.name);
    expect(await vms('esx2')).to.include('app1');
    expect(await vms('esx1')).to.not.include('app1');
    expect(readState(fab.stateDir).vmHosts.app1).to.equal('esx2');
    const ping = await cli(['ping', 'app1', '10.0.10.22', '-c', '2']);
    expect(ping.code, ping.stderr).to.equal(0);
    // a migration to the host it runs on is refused by the vMotion service itself (exit 1)
    const again = await cli(['vm', 'migrate', 'app1', '--to', 'esx2']);
    expect(again.code, again.stderr).to.equal(1);
  });

  it('a measured stream from pinger to app1 is paced on the fabric clock and counted at the sink', async () => {
    await control(host('esx2'), fab.state.token, 'POST', '/control/streams/sink', { vm: 'app1', streamId: 7, udpPort: 9000 });
    const sent = await control<{ sent: number; seconds: number }>(host('esx3'), fab.state.token, 'POST', '/control/streams/send', { vm: 'pinger', target: '10.0.10.21', udpPort: 9000, frameBytes: 128, seconds: 1, ratePps: 200, streamId: 7 }, 10_000);
    expect(sent.sent).to.equal(200);
    // frame k leaves at k / 200 s: the 200 frames take one second of fabric time
    expect(sent.seconds).to.be.within(0.999, 1.001);
    const got = await control<{ streams: Array<{ received: number }> }>(host('esx2'), fab.state.token, 'GET', '/control/streams/app1');
    expect(got.streams[0]!.received).to.equal(200);
    let code: string | undefined;
    await control(host('esx3'), fab.state.token, 'POST', '/control/streams/send', { vm: 'pinger', target: '10.0.10.21', seconds: 1, ratePps: 0 }).catch((e) => (code = e.code));
    expect(code, 'an unpaced stream is refused').to.equal('VFAB_SIM_UNSUPPORTED');
  });

  fab.itDown(4);
});

describe('e2e sim: vfab up --sim on a VM with a datastore disk: vm migrate moves its file locks', function () {
  this.timeout(30_000);
  const fab = simSuite('vfab-e2e-simup-vmds-', ['topologies/e2e/vmotion-datastore.yaml', '--seed', '4']);
  const cli = fab.cli;
  const vmxHolders = async (via: string): Promise<string[]> => {
    const l = await cli(['datastore', 'locks', 'ds1', '--host', via, '--json']);
    expect(l.code, l.stderr).to.equal(0);
    return JSON.parse(l.out).files.find((x: any) => x.path === 'db1/db1.vmx')?.lock.holders.map((h: any) => h.owner) ?? [];
  };


  it('db1 holds its files on esx1; after vm migrate esx2 holds them and esx1 none', async () => {
    const f = await cli(['datastore', 'format', 'ds1'], 30_000);
    expect(f.code, f.stderr).to.equal(0);
    await waitFor(async () => (await vmxHolders('esx2')).length > 0, 'db1.vmx locked', 10_000, 200);
    expect(await vmxHolders('esx2')).to.deep.equal(['esx1']);
    const m = await cli(['vm', 'migrate', 'db1', '--to', 'esx2', '--json'], 20_000);
    expect(m.code, m.stderr).to.equal(0);
    expect(JSON.parse(m.out)).to.include({ vm: 'db1', outcome: 'migrated' });
    expect(await vmxHolders('esx1')).to.deep.equal(['esx2']);
  });

  fab.itDown(4);
});
