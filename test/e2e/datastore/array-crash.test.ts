// End-to-end crash consistency of datastore metadata (docs/datastores.md "Crashes and corruption"): two
// hosts keep powering VMs on and off on ds1 (each power-on of a new VM creates a directory and two files,
// claims file blocks and takes exclusive locks; each power-off releases them) while the array's `stored`
// is killed with SIGKILL at a seeded random moment, ROUNDS times (bounded by BUDGET_MS). After each
// restart (restartDaemon) and once both hosts' datastores are online again: every acknowledged power-on
// (HTTP 200) still has its two files locked exclusive by its host, every acknowledged power-off left them
// free; inspect finds no problem (no torn record, bitmap equal to the allocations, every journal readable,
// and no unreplayed transaction left behind); both hostd processes are the ones started at the beginning.
// Operations that failed because the array died may have happened or not: the test adopts what is on disk.
// Topology: topologies/e2e/datastore.yaml at time scale 8. About 60 s.

import { expect } from 'chai';
import { seededRandom } from '../../../lib/clock.js';
import { type TestFabric, waitFor } from '../helpers/fabric.js';
import { cli, datastoreCommand, useDatastoreFabric } from './helpers.js';
import { control } from '../../../daemons/common/control-client.js';
import { isAlive } from '../../../daemons/fabric/state.js';
import { killDaemon, restartDaemon } from '../../../daemons/fabric/faults.js';

const TIME_SCALE = 8;
const ROUNDS = 10;
const BUDGET_MS = 90_000;
/** Concurrent power-on/off loops per host. */
const WORKERS_PER_HOST = 2;
/** Range of the kill moment after the round's work started (wall ms). */
const KILL_AFTER_MIN_MS = 150;
const KILL_AFTER_SPAN_MS = 1_200;
/** How long after the array is back a host may take to give back what its failed creates left (wall ms). */
const SETTLE_MS = 3_000;
const SEED = Number(process.env.VFAB_CRASH_SEED ?? 20261206);
const HOSTS = ['esx1', 'esx2'] as const;

/** What the test knows of one VM: its state as last acknowledged, and whether an unacknowledged op followed. */
interface VmState {
  host: string;
  on: boolean;
  /** Set when an operation on the VM failed: the disk may show either state until the test looks. */
  unsure: boolean;
  /** While off: which of the two files exist (a power-on that failed half-way may have created one). */
  created: [boolean, boolean];
}


describe('e2e datastore: kill -9 of stored during metadata updates', function () {
  this.timeout(BUDGET_MS + 60_000);
  let fab: TestFabric;
  useDatastoreFabric('topologies/e2e/datastore.yaml', TIME_SCALE, (f) => {
    fab = f;
  });
  const api = (host: string, method: 'GET' | 'POST', path: string, body?: unknown) => control<any>(fab.daemon(host), fab.state.token, method, path, body, 30_000);

  it(`${ROUNDS} SIGKILLs of stored: acknowledged power-on/off kept, inspect clean, hosts alive and back online`, async () => {
    console.log(`      seed ${SEED} (VFAB_CRASH_SEED to repeat)`);
    const rnd = seededRandom(SEED);
    for (const h of HOSTS) await waitFor(async () => (await api(h, 'GET', '/control/datastores')).datastores[0].state === 'unformatted', `${h} sees the blank LUN`, 15_000);
    const f = await cli(datastoreCommand, ['format', 'ds1', '--json']);
    expect(f.error?.message).to.equal(undefined);
    const hostPids = new Map(HOSTS.map((h) => [h, fab.daemon(h).pid]));
    const vms = new Map<string, VmState>();
    let nextVm = 0;
    let acked = 0;
    let failed = 0;
    let kills = 0;
    const started = Date.now();

    /** Power a VM on (a new one, or one of this host's that is off) or off (one of this host's that is on). */
    async function step(host: string, worker: number, busy: Set<string>): Promise<void> {
      const mine = [...vms.entries()].filter(([n, s]) => s.host === host && !s.unsure && !busy.has(n));
      const on = mine.filter(([, s]) => s.on);
      const off = mine.filter(([, s]) => !s.on);
      const r = rnd();
      let vm: string;
      let powerOn: boolean;
      if (on.length > 0 && (r < 0.45 || on.length >= 6)) [vm, powerOn] = [on[Math.floor(rnd() * on.length)]![0], false];
      else if (off.length > 0 && r < 0.7) [vm, powerOn] = [off[Math.floor(rnd() * off.length)]![0], true];
      else [vm, powerOn] = [`c${host.slice(-1)}w${worker}v${nextVm++}`, true];
      const st = vms.get(vm) ?? { host, on: false, unsure: false, created: [false, false] as [boolean, boolean] };
      vms.set(vm, st);
      busy.add(vm);
      try {
        await api(host, 'POST', `/control/datastores/ds1/vms/${vm}/${powerOn ? 'power-on' : 'power-off'}`, {});
        st.on = powerOn;
        st.created = [true, true];
        acked++;
      } catch {
        st.unsure = true;
        failed++;
        await new Promise((r) => setTimeout(r, 50)); // the array is down: do not spin
      } finally {
        busy.delete(vm);
      }
    }

    async function filesOn(host: string): Promise<Map<string, any>> {
      const r = await api(host, 'GET', '/control/datastores/ds1/files');
      return new Map(r.files.map((x: any) => [x.path, x]));
    }

    /** Every acknowledged state holds on disk; unsure VMs take what the disk says (then are sure again). */
    async function verify(round: number): Promise<void> {
      const files = await filesOn('esx1');
      for (const [vm, st] of vms) {
        const vmx = files.get(`${vm}/${vm}.vmx`);
        const flat = files.get(`${vm}/${vm}-flat.vmdk`);
        const lockOf = (x: any) => (x === undefined ? 'missing' : x.lock.mode === 'free' ? 'free' : `${x.lock.mode} ${x.lock.holders.map((h: any) => h.owner).join(',')}`);
        const seen = [lockOf(vmx), lockOf(flat)];
        if (st.unsure) {
          // after a failed power-on or power-off: any mix, as long as what exists is well-formed; release it
          expect(seen.every((s) => s === 'missing' || s === 'free' || s === `exclusive ${st.host}`), `round ${round}: ${vm} after a failed operation on ${st.host}: ${seen}`).to.equal(true);
          if (seen.some((s) => s.startsWith('exclusive'))) await api(st.host, 'POST', `/control/datastores/ds1/vms/${vm}/power-off`, {});
          st.on = false;
          st.unsure = false;
          st.created = [vmx !== undefined, flat !== undefined];
          continue;
        }
        const want = st.on ? [`exclusive ${st.host}`, `exclusive ${st.host}`] : st.created.map((c) => (c ? 'free' : 'missing'));
        expect(seen, `round ${round}: ${vm} was acknowledged ${st.on ? 'on' : 'off'} on ${st.host}`).to.deep.equal(want);
      }
      // a host gives back what its failed creates left (blocks, entries, a directory's lock) right after the
      // failure, retrying while the array is away: allow it SETTLE_MS after the array is back
      let ins = await cli(datastoreCommand, ['inspect', 'ds1', '--json']);
      const unsettled = (j: any) => j === undefined || j.problems.length > 0 || j.pendingJournals.length > 0;
      for (const until = Date.now() + SETTLE_MS; unsettled(ins.json) && Date.now() < until; ) {
        await new Promise((r) => setTimeout(r, 100));
        ins = await cli(datastoreCommand, ['inspect', 'ds1', '--json']);
      }
      if (unsettled(ins.json)) {
        for (const h of HOSTS) console.log((await api(h, 'GET', '/control/events?since=0')).events.filter((e: any) => /orphans|replayed|settle|failed/.test(e.type) || /claim|bitmap/.test(e.message ?? '')).slice(-15).map((e: any) => `${h} ${e.type} ${e.message ?? ''}`).join('\n'));
      }
      expect(ins.error?.message, `round ${round}: inspect`).to.equal(undefined);
      expect(ins.json.problems, `round ${round}: inspect problems`).to.deep.equal([]);
      expect(ins.json.pendingJournals, `round ${round}: journals with transactions not yet replayed`).to.deep.equal([]);
      expect(ins.code).to.equal(0);
      for (const h of HOSTS) expect(isAlive(hostPids.get(h)!), `${h} (pid ${hostPids.get(h)}) alive`).to.equal(true);
      for (const h of HOSTS) expect(fab.daemon(h).pid, `${h} never restarted`).to.equal(hostPids.get(h));
    }

    for (let round = 0; round < ROUNDS && Date.now() - started < BUDGET_MS; round++) {
      let stop = false;
      const busy = new Set<string>();
      const loops = HOSTS.flatMap((h) => Array.from({ length: WORKERS_PER_HOST }, async (_, w) => {
        while (!stop) await step(h, w, busy);
      }));
      const killAfter = KILL_AFTER_MIN_MS + Math.floor(rnd() * KILL_AFTER_SPAN_MS);
      await new Promise((r) => setTimeout(r, killAfter));
      await killDaemon(fab.state, 'array1');
      kills++;
      // the hosts keep trying while the array is away; then it comes back (requests waiting on it go on)
      await new Promise((r) => setTimeout(r, 100 + Math.floor(rnd() * 300)));
      const t1 = Date.now();
      await restartDaemon(fab.state, 'array1', { stateDir: fab.stateDir });
      const t2 = Date.now();
      for (const h of HOSTS) {
        await waitFor(async () => (await api(h, 'GET', '/control/datastores')).datastores[0].state === 'mounted', `${h}: ds1 online again after restart ${round}`, 20_000);
      }
      const t3 = Date.now();
      stop = true;
      await Promise.all(loops);
      console.log(`      round ${round}: killed after ${killAfter} ms; restart ${t2 - t1} ms, online ${t3 - t2} ms, loops ended ${Date.now() - t3} ms later; ${acked} acknowledged, ${failed} failed so far, ${vms.size} VMs`);
      await verify(round);
    }
    expect(kills).to.be.at.least(3);
    expect(acked).to.be.above(kills * 4);
    // the datastore still works normally afterwards
    await api('esx1', 'POST', '/control/datastores/ds1/vms/after1/power-on', {});
    expect((await filesOn('esx2')).get('after1/after1.vmx').lock.holders.map((h: any) => h.owner)).to.deep.equal(['esx1']);
  });
});
