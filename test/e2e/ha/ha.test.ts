// End-to-end vSphere HA (docs/ha.md "In a fabric") on scenarios/topologies/ha-lab.yaml at time scale 8:
// real hostd processes from dist, heartbeats as UDP frames over each management vmk through the switch,
// heartbeat files on the shared VMFS-like datastores ds1 and ds2, VM locks on ds1. esx3 wins the election (tie on
// datastores, the name that sorts last). (1) kill -9 of esx1, which runs app1: the primary declares it
// dead 18 s after the last heartbeat it heard (docs/ha.md timeline, with heartbeat datastores), within
// TOLERANCE_MS, and app1 is powered on by a survivor once esx1's lock on its files is broken (the
// lease); `vfab ha status` shows esx1 dead and not answering. (2) the host now running app1 is cut off
// its management network (`vfab fault isolate`): it declares itself isolated at T30s and powers app1
// off (its locks released); the primary, which saw it partitioned at T18s (its datastore heartbeat
// moves), reads the isolated flag in its poweron file and restarts app1 on the last host. Through both, app1 never runs on two
// hosts: the power-on/off events of every host (one fabric clock) give each host's running intervals,
// which must not overlap, and sampling the hosts while it moves never sees it twice. About 25 s.

import { expect } from 'chai';
import { type TestFabric, FABRIC_DOWN_TIMEOUT_MS, FABRIC_UP_TIMEOUT_MS, startFabric, waitFor } from '../helpers/fabric.js';
import { runCommand } from '../../../daemons/cli.js';
import type { CliIo } from '../../../daemons/cli/io.js';

const TIME_SCALE = 8;
/** docs/ha.md: a host with heartbeat datastores is dead at T18s (T0: the last heartbeat heard). */
const DEAD_AFTER_MS = 18_000;
/**
 * Fabric ms the measured times may be late: the agent decides on 100 ms ticks, and at time scale 8 a
 * timer or HTTP reply delayed 125 ms of wall time on a loaded machine is 1000 fabric ms.
 */
const TOLERANCE_MS = 1_000;
const HOSTS = ['esx1', 'esx2', 'esx3'] as const;

describe('e2e HA: a dead host\'s VM restarts on a survivor; no VM ever runs on two hosts', function () {
  this.timeout(120_000);
  let fab: TestFabric;
  const saved = process.env.VFAB_STATE_DIR;
  const ha = (h: string) => fab.call<any>(h, 'GET', '/control/ha');
  const nowMs = async (h: string): Promise<number> => (await fab.call<any>(h, 'GET', '/control/status')).clockMs;
  const events = async (h: string): Promise<any[]> => (await fab.call<any>(h, 'GET', '/control/events?since=0')).events;
  const cli = async (args: string[]): Promise<{ code: number; text: string }> => {
    const lines: string[] = [];
    const io: CliIo = { out: (t) => lines.push(t), err: (t) => lines.push(t) };
    const code = await runCommand(args[0]!, args.slice(1), io);
    return { code, text: lines.join('\n') };
  };
  /** Hosts whose own datastores hold app1's files open (its running place), read in the order given. */
  const runningOn = async (order: readonly string[]): Promise<string[]> => {
    const out: string[] = [];
    for (const h of order) if ((await ha(h)).localVms.includes('app1')) out.push(h);
    return out;
  };
  const killedAt = new Map<string, number>();

  before(async function () {
    this.timeout(FABRIC_UP_TIMEOUT_MS);
    fab = await startFabric('scenarios/topologies/ha-lab.yaml', { timeScale: TIME_SCALE });
    process.env.VFAB_STATE_DIR = fab.stateDir;
    await waitFor(async () => (await fab.call<any>('esx1', 'GET', '/control/datastores')).datastores[0].state === 'unformatted', 'esx1 sees the blank LUN', 20_000);
    for (const ds of ['ds1', 'ds2']) {
      await fab.call('esx1', 'POST', `/control/datastores/${ds}/format`, {});
      for (const h of ['esx2', 'esx3']) await fab.call(h, 'POST', `/control/datastores/${ds}/mount`, {});
    }
    // every agent holds its -hb file on both heartbeat datastores, all follow one primary, and app1 runs on esx1
    await waitFor(async () => {
      const views = await Promise.all(HOSTS.map(ha));
      return views.every((v) => v.heartbeatDatastores.held.includes('ds1') && v.heartbeatDatastores.held.includes('ds2') && v.primary === 'esx3' && (v.role === 'primary' || v.role === 'secondary')) && views[0].localVms.includes('app1');
    }, 'election over, heartbeat files held, app1 on esx1', 40_000, 100);
  });

  after(async function () {
    this.timeout(FABRIC_DOWN_TIMEOUT_MS);
    await fab?.down();
    if (saved === undefined) delete process.env.VFAB_STATE_DIR;
    else process.env.VFAB_STATE_DIR = saved;
  });

  it('heartbeats are real frames over the management vmks: the primary hears both secondaries, and ha status shows them alive', async () => {
    const p = await ha('esx3');
    expect(p.role).to.equal('primary');
    for (const h of ['esx1', 'esx2']) {
      expect(p.heartbeatsHeard[h].count, `heartbeats from ${h}`).to.be.greaterThan(5);
      expect(p.peers.find((x: any) => x.host === h).state).to.equal('alive');
    }
    const vmk = (await fab.status('esx3')).vmkernelStack;
    expect(vmk.udp.udpDelivered, 'datagrams delivered to the HA ports of esx3.vmk0').to.be.greaterThan(10);
    const r = await cli(['ha', 'status', '--json']);
    expect(r.code).to.equal(0);
    const c = JSON.parse(r.text).clusters[0];
    expect(c).to.deep.include({ cluster: 'cluster1', primary: 'esx3' });
    expect(c.protectedVms).to.deep.equal([{ vm: 'app1', datastore: 'ds1', restartPriority: 'high', runningOn: ['esx1'] }]);
  });

  it('kill -9 of esx1: dead at T18s (within the tolerance), app1 restarts on a survivor after its locks break', async () => {
    const before = await nowMs('esx3');
    const k = await cli(['fault', 'kill', 'esx1']);
    expect(k.code, k.text).to.equal(0);
    const after = await nowMs('esx3');
    killedAt.set('esx1', (before + after) / 2);
    // the primary restarts app1 on the host with the fewest VMs, ties by name: esx2
    await waitFor(async () => (await runningOn(['esx2', 'esx3'])).length > 0, 'app1 restarted', 60_000, 100);
    expect(await runningOn(['esx3', 'esx2'])).to.deep.equal(['esx2']);

    const ev = await events('esx3');
    const dead = ev.find((e) => e.type === 'ha-host-dead' && e.host === 'esx1');
    expect(dead, 'ha-host-dead esx1 on the primary').to.not.equal(undefined);
    // T0 is the last heartbeat heard from esx1: within one heartbeat interval before the kill, which
    // happened between `before` and `after` (the CLI waits until the process is gone)
    expect(dead.t0, `T0 (fabric ms; kill between ${Math.round(before)} and ${Math.round(after)})`).to.be.within(before - 1_000 - TOLERANCE_MS, after);
    expect(dead.afterMs, 'declared dead after T0 (fabric ms)').to.be.within(DEAD_AFTER_MS, DEAD_AFTER_MS + TOLERANCE_MS);
    expect(dead.timeMs - dead.t0).to.be.within(DEAD_AFTER_MS, DEAD_AFTER_MS + TOLERANCE_MS);
    for (const type of ['ha-heartbeat-lost', 'ha-host-unreachable']) {
      const e = ev.find((x) => x.type === type && x.host === 'esx1');
      expect(e, type).to.not.equal(undefined);
      expect(e.timeMs, `${type} before dead`).to.be.lessThan(dead.timeMs);
    }
    const attempted = ev.find((e) => e.type === 'ha-restart-attempted' && e.vm === 'app1');
    const succeeded = ev.find((e) => e.type === 'ha-restart-succeeded' && e.vm === 'app1');
    expect(attempted.timeMs).to.be.at.least(dead.timeMs);
    expect(succeeded.host).to.equal('esx2');
    // esx2 had to break esx1's lock: only after watching its heartbeat slot stand still for the lease
    const broken = (await events('esx2')).find((e) => e.type === 'datastore-lock-broken' && e.vm === 'app1');
    expect(broken, 'esx2 broke esx1\'s lock on app1\'s files').to.not.equal(undefined);
    expect(broken.timeMs).to.be.greaterThan(attempted.timeMs);
    const files = (await fab.call<any>('esx2', 'GET', '/control/datastores/ds1/files')).files;
    expect(files.find((f: any) => f.path === 'app1/app1.vmx').lock.holders.map((h: any) => h.owner)).to.deep.equal(['esx2']);

    // esx2 knows app1 (a standby copy from the plan): the restart brought its vNIC up there
    const poweredOn = async (h: string) => (await fab.status(h)).vms.find((v: any) => v.name === 'app1').poweredOn;
    expect(await poweredOn('esx2')).to.equal(true);
    expect(await poweredOn('esx3')).to.equal(false);
    const st = await cli(['ha', 'status', '--json']);
    expect(st.code, st.text).to.equal(0);
    const c = JSON.parse(st.text);
    expect(c.notAnswering).to.deep.equal(['esx1']);
    expect(c.clusters[0].hosts.find((h: any) => h.host === 'esx1')).to.deep.include({ answering: false, state: 'dead' });
    expect(c.clusters[0].protectedVms[0].runningOn).to.deep.equal(['esx2']);
  });

  it('isolating esx2 (power-off response): app1 moves to esx3, never running on both', async () => {
    const isolatedAt = await nowMs('esx3');
    const r = await cli(['fault', 'isolate', 'esx2']);
    expect(r.code, r.text).to.equal(0);
    // sample while it moves: the new host (esx3) is read before the old one (esx2), so a VM that moved
    // between the two reads cannot look doubled; both at once is a real double run
    const doubles: string[][] = [];
    await waitFor(async () => {
      const on = await runningOn(['esx3', 'esx2']);
      if (on.length > 1) doubles.push(on);
      return on.length === 1 && on[0] === 'esx3';
    }, 'app1 restarted on esx3 after esx2 powered it off', 60_000, 50);
    expect(doubles, 'samples with app1 on two hosts').to.deep.equal([]);
    // docs/ha.md: a secondary that hears no agent is isolated at T30s (T0: the last heartbeat it heard,
    // within one interval before the cut); the primary sees it alive through its datastore heartbeat
    // (partitioned at T18s), then isolated once its poweron file says so, and only then restarts app1
    const e2 = await events('esx2');
    const isolated = e2.find((e) => e.type === 'ha-isolated' && e.timeMs > isolatedAt);
    expect(isolated, 'esx2 declared itself isolated').to.not.equal(undefined);
    expect(isolated.timeMs - isolatedAt, 'isolated after the cut (fabric ms)').to.be.within(30_000 - 1_000 - TOLERANCE_MS, 30_000 + TOLERANCE_MS);
    expect(e2.find((e) => e.type === 'ha-isolation-response' && e.timeMs >= isolated.timeMs), 'and applied its response').to.not.equal(undefined);
    const e3 = (await events('esx3')).filter((e) => e.timeMs > isolatedAt && e.host === 'esx2');
    const kinds = e3.filter((e) => e.type === 'ha-host-partitioned' || e.type === 'ha-host-isolated' || e.type === 'ha-host-dead').map((e) => e.type);
    expect(kinds, "the primary's verdicts on esx2").to.deep.equal(['ha-host-partitioned', 'ha-host-isolated']);
    const restarted = (await events('esx3')).find((e) => e.type === 'ha-restart-succeeded' && e.vm === 'app1' && e.timeMs > isolatedAt);
    expect(restarted.host).to.equal('esx3');
    expect(restarted.timeMs).to.be.greaterThan(isolated.timeMs);
    const poweredOn = async (h: string) => (await fab.status(h)).vms.find((v: any) => v.name === 'app1').poweredOn;
    expect([await poweredOn('esx2'), await poweredOn('esx3')], 'app1 vNIC up on esx2, esx3').to.deep.equal([false, true]);
    await cli(['fault', 'no-isolate', 'esx2']);
  });

  it('no VM ran on two hosts: the power-on/off events of every host give running intervals that never overlap', async () => {
    const intervals: Array<{ host: string; from: number; to: number }> = [];
    const end = await nowMs('esx3');
    for (const h of HOSTS) {
      // esx1 is dead: its events up to the kill are not readable any more; it ran app1 from the start
      // until it was killed (its last moment)
      if (h === 'esx1') {
        intervals.push({ host: h, from: 0, to: killedAt.get('esx1')! });
        continue;
      }
      let on: number | undefined;
      for (const e of (await events(h)).filter((x) => x.vm === 'app1' && (x.type === 'vm-power-on' || x.type === 'vm-power-off'))) {
        if (e.type === 'vm-power-on' && on === undefined) on = e.timeMs;
        if (e.type === 'vm-power-off' && on !== undefined) {
          intervals.push({ host: h, from: on, to: e.timeMs });
          on = undefined;
        }
      }
      if (on !== undefined) intervals.push({ host: h, from: on, to: end });
    }
    expect(intervals.map((i) => i.host)).to.deep.equal(['esx1', 'esx2', 'esx3']);
    intervals.sort((a, b) => a.from - b.from);
    for (let i = 1; i < intervals.length; i++) {
      expect(intervals[i]!.from, `${intervals[i]!.host} powered app1 on after ${intervals[i - 1]!.host} stopped it`).to.be.greaterThan(intervals[i - 1]!.to);
    }
  });
});
