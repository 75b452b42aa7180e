// End-to-end: two host daemons (esx1, esx2) mount datastore ds1 on array1's LUN over the real block
// protocol (topologies/e2e/datastore.yaml), at time scale 8 so the 16 s lease takes 2 s. Checks: format
// (refused again without --force, and with it while another host heartbeats), both hosts heartbeating,
// 20 power-on races of one VM where exactly one host wins each time, 5 more on the volume formatted
// again as ATS+SCSI (metadata under SCSI-2 reservations), every path of a host down (offline after the
// lease, online when a path returns), and kill -9 of the host running a VM: the other host's power-on
// fails while the lease window is open and succeeds after it by breaking the lock (journal replayed, slot
// generation + 1); then the lock names the new owner and inspect finds the datastore clean. About 20 s.

import { expect } from 'chai';
import { type TestFabric, FABRIC_DOWN_TIMEOUT_MS, FABRIC_UP_TIMEOUT_MS, startFabric, waitFor } from '../helpers/fabric.js';
import { control } from '../../../daemons/common/control-client.js';
import { cli, datastoreCommand, powerOnRace, vmCommand } from './helpers.js';
import { isAlive } from '../../../daemons/fabric/state.js';
import { exitCodeFor } from '../../../daemons/cli.js';

const TIME_SCALE = 8;
/** The volume's lease (fabric ms, the format default) and its wall-clock length at TIME_SCALE. */
const LEASE_MS = 16_000;
const LEASE_WALL_MS = LEASE_MS / TIME_SCALE;
const RACES = 20;
const SCSI_RACES = 5;

describe('e2e datastore: two hosts, one VMFS-like datastore, VM power-on locks', function () {
  this.timeout(60_000);
  let fab: TestFabric;
  const saved = process.env.VFAB_STATE_DIR;
  const api = (host: string, method: 'GET' | 'POST', path: string, body?: unknown) => control<any>(fab.daemon(host), fab.state.token, method, path, body, 30_000);
  const powerOn = (host: string, vm: string, body: unknown = {}) => api(host, 'POST', `/control/datastores/ds1/vms/${vm}/power-on`, body);
  const powerOff = (host: string, vm: string) => api(host, 'POST', `/control/datastores/ds1/vms/${vm}/power-off`, {});

  before(async function () {
    this.timeout(FABRIC_UP_TIMEOUT_MS);
    fab = await startFabric('topologies/e2e/datastore.yaml', { timeScale: TIME_SCALE });
    process.env.VFAB_STATE_DIR = fab.stateDir;
  });

  after(async function () {
    this.timeout(FABRIC_DOWN_TIMEOUT_MS);
    await fab?.down();
    if (saved === undefined) delete process.env.VFAB_STATE_DIR;
    else process.env.VFAB_STATE_DIR = saved;
  });

  it('formats ds1 through esx1 and mounts it on both hosts; formatting again is refused (without --force; with it while esx2 heartbeats)', async () => {
    for (const h of ['esx1', 'esx2']) {
      await waitFor(async () => (await api(h, 'GET', '/control/datastores')).datastores[0].state === 'unformatted', `${h} sees the blank LUN`, 15_000);
    }
    const f = await cli(datastoreCommand, ['format', 'ds1', '--json']);
    expect(f.error, f.error?.message).to.equal(undefined);
    expect(f.code).to.equal(0);
    expect(f.json.mounted.map((m: any) => [m.host, m.state])).to.deep.equal([['esx1', 'mounted'], ['esx2', 'mounted']]);
    const again = await cli(datastoreCommand, ['format', 'ds1', '--host', 'esx2']);
    expect(again.error?.code).to.equal('VFAB_DATASTORE_ALREADY_FORMATTED');
    // --force does not format under a host whose heartbeat moves
    expect((await cli(datastoreCommand, ['unmount', 'ds1', '--host', 'esx1'])).code).to.equal(0);
    const forced = await cli(datastoreCommand, ['format', 'ds1', '--host', 'esx1', '--force']);
    expect(forced.error?.code).to.equal('VFAB_HOSTDATASTORE_IN_USE');
    expect(forced.error?.message).to.contain('the heartbeat of esx2 moves');
    expect((await cli(datastoreCommand, ['mount', 'ds1', '--host', 'esx1'])).code).to.equal(0);
    const hb = await cli(datastoreCommand, ['heartbeats', 'ds1', '--json']);
    const owners = hb.json.slots.filter((s: any) => s.state === 'in-use').map((s: any) => s.owner).sort();
    expect(owners).to.deep.equal(['esx1', 'esx2']);
    // both slots keep pulsing: the pulse count moves within a few heartbeat intervals
    const before = new Map<string, number>(hb.json.slots.map((s: any) => [s.owner, s.pulse]));
    await waitFor(async () => {
      const now = (await cli(datastoreCommand, ['heartbeats', 'ds1', '--json'])).json.slots;
      return now.filter((s: any) => s.state === 'in-use' && s.pulse > before.get(s.owner)!).length === 2;
    }, 'both heartbeats pulse', 5_000);
  });

  it(`two hosts race to power on the same VM ${RACES} times: exactly one wins each time, the other is told who holds it`, async () => {
    const wins = { esx1: 0, esx2: 0 };
    for (let i = 0; i < RACES; i++) {
      const { winner, loser } = await powerOnRace(powerOn, 'race1', i);
      wins[winner]++;
      const locks = (await api(loser, 'GET', '/control/datastores/ds1/files')).files.filter((f: any) => f.path.startsWith('race1/'));
      expect(locks.map((f: any) => [f.path, f.lock.mode, f.lock.holders.map((h: any) => h.owner)])).to.deep.equal([
        ['race1/race1.vmx', 'exclusive', [winner]],
        ['race1/race1.vmdk', 'exclusive', [winner]],
        ['race1/race1-flat.vmdk', 'exclusive', [winner]],
      ]);
      await powerOff(winner, 'race1');
    }
    expect(wins.esx1 + wins.esx2).to.equal(RACES);
    const events = (await api('esx2', 'GET', '/control/events?since=0')).events;
    expect(events.some((e: any) => e.type === 'vm-power-on-failed' && e.vm === 'race1' && /locked by esx1/.test(e.message)) || wins.esx2 === RACES).to.equal(true);
  });

  it('an ATS+SCSI volume (metadata under a SCSI-2 reservation of the LUN): formatted again with --force, races still have one winner', async () => {
    expect((await cli(datastoreCommand, ['unmount', 'ds1'])).code).to.equal(0);
    const f = await cli(datastoreCommand, ['format', 'ds1', '--force', '--locking', 'ats-scsi', '--json']);
    expect(f.error?.message).to.equal(undefined);
    expect(f.json.formatted.locking).to.equal('ats-scsi');
    expect(f.json.mounted.map((m: any) => m.state)).to.deep.equal(['mounted', 'mounted']);
    for (let i = 0; i < SCSI_RACES; i++) {
      const results = await Promise.allSettled([powerOn('esx1', 'scsi1'), powerOn('esx2', 'scsi1')]);
      const won = results.flatMap((r, k) => (r.status === 'fulfilled' ? [k === 0 ? 'esx1' : 'esx2'] : []));
      expect(won, `race ${i}: ${results.map((r) => (r.status === 'rejected' ? (r.reason as Error).message : 'won')).join(' / ')}`).to.have.length(1);
      expect(((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason as Error).message).to.match(new RegExp(`^locked by ${won[0]}`));
      await powerOff(won[0]!, 'scsi1');
    }
    const inspect = await cli(datastoreCommand, ['inspect', 'ds1', '--json']);
    expect(inspect.json.problems).to.deep.equal([]);
  });

  it('§7.5/§7.8 open modes across hosts: two read-only holders share a disk, an exclusive open is refused "locked by", multi-writer is shared', async () => {
    const disk = 'tmpl1/tmpl1-flat.vmdk';
    const open = (host: string, mode: string, extra: string[] = []) => cli(datastoreCommand, ['open', 'ds1', disk, '--host', host, '--mode', mode, '--json', ...extra]);
    const close = (host: string) => cli(datastoreCommand, ['close', 'ds1', disk, '--host', host, '--json']);
    const lockOf = async () => (await cli(datastoreCommand, ['locks', 'ds1', '--json'])).json.files.find((f: any) => f.path === disk).lock;
    expect((await cli(vmCommand, ['power-on', 'tmpl1', '--host', 'esx1'])).code).to.equal(0); // creates the files
    expect((await cli(vmCommand, ['power-off', 'tmpl1', '--host', 'esx1'])).code).to.equal(0);
    for (const h of ['esx1', 'esx2']) {
      const r = await open(h, 'read-only');
      expect(r.error?.message).to.equal(undefined);
      expect(r.json).to.include({ mode: 'read-only', taken: true });
    }
    let lock = await lockOf();
    expect(lock.mode).to.equal('read-only');
    expect(lock.holders.map((x: any) => x.owner).sort()).to.deep.equal(['esx1', 'esx2']);
    // each holder's heartbeat staleness is shown: both pulse within the lease
    for (const x of lock.holders) expect(x.pulseAgeMs).to.be.a('number').within(0, LEASE_MS - 1);
    const text = await cli(datastoreCommand, ['locks', 'ds1']);
    expect(text.text).to.match(/tmpl1\/tmpl1-flat\.vmdk .*read-only .*esx\d \(slot \d+ gen \d+, pulse \d+ ms ago\)/);
    expect((await close('esx2')).code).to.equal(0);
    const refused = await open('esx2', 'exclusive', ['--wait', '6']); // two heartbeats: esx1's pulse is seen to move
    expect(exitCodeFor(refused.error)).to.equal(1);
    expect(refused.error?.code).to.equal('VFAB_DATASTORE_LOCKED');
    expect(refused.error?.message).to.contain('locked by esx1');
    expect((await close('esx1')).code).to.equal(0);
    expect((await lockOf()).mode).to.equal('free');
    for (const h of ['esx1', 'esx2']) expect((await open(h, 'multi-writer')).json?.mode).to.equal('multi-writer');
    lock = await lockOf();
    expect(lock.mode).to.equal('multi-writer');
    expect(lock.holders).to.have.length(2);
    for (const h of ['esx1', 'esx2']) expect((await close(h)).code).to.equal(0);
    expect((await lockOf()).mode).to.equal('free');
    const missing = await cli(datastoreCommand, ['open', 'ds1', 'tmpl1/nope.vmdk', '--host', 'esx1']);
    expect(missing.error?.code).to.equal('VFAB_DATASTORE_NOT_FOUND');
    const badMode = await cli(datastoreCommand, ['open', 'ds1', disk, '--host', 'esx1', '--mode', 'shared']);
    expect(exitCodeFor(badMode.error)).to.equal(2);
    const noHost = await cli(datastoreCommand, ['open', 'ds1', disk]);
    expect(exitCodeFor(noHost.error)).to.equal(2);
    expect(noHost.error?.message).to.contain('--host');
  });

  it('every path of esx2 down: "lost access to volume" (offline) after the lease, back online when a path returns', async () => {
    const since = (await api('esx2', 'GET', '/control/events?since=0')).events.at(-1)?.seq ?? 0;
    const t0 = Date.now();
    for (const i of [0, 1]) await api('esx2', 'POST', `/control/storage/paths/array1/${i}`, { up: false });
    const offline = await waitFor(async () => (await api('esx2', 'GET', `/control/events?since=${since}`)).events.find((e: any) => e.type === 'datastore-offline'), 'esx2 offline', 10_000);
    expect(Date.now() - t0).to.be.at.least(LEASE_WALL_MS * 0.5, 'offline only once the lease passed without a heartbeat');
    expect(offline).to.include({ host: 'esx2', datastore: 'ds1' });
    expect(offline.message).to.match(/^lost access to volume ds1/);
    expect((await api('esx2', 'GET', '/control/datastores')).datastores[0].state).to.equal('offline');
    const refused = await powerOn('esx2', 'race1').then(() => undefined, (e) => e);
    expect(refused?.code, 'no power-on while offline').to.equal('VFAB_DATASTORE_NOT_MOUNTED');
    await api('esx2', 'POST', '/control/storage/paths/array1/0', { up: true });
    await waitFor(async () => (await api('esx2', 'GET', `/control/events?since=${since}`)).events.some((e: any) => e.type === 'datastore-online'), 'esx2 online again', 10_000);
    expect((await api('esx2', 'GET', '/control/datastores')).datastores[0].state).to.equal('mounted');
    await api('esx2', 'POST', '/control/storage/paths/array1/1', { up: true });
  });

  it('kill -9 of the host running a VM: power-on elsewhere fails while the lease is open, then breaks the lock and succeeds', async () => {
    const on = await cli(vmCommand, ['power-on', 'crash1', '--host', 'esx1', '--json']);
    expect(on.error?.message).to.equal(undefined);
    expect(on.json.files.map((f: any) => f.path)).to.deep.equal(['crash1/crash1.vmx', 'crash1/crash1.vmdk', 'crash1/crash1-flat.vmdk']);
    const mine = (await api('esx1', 'GET', '/control/datastores')).datastores[0];
    const esx1 = fab.daemon('esx1');
    process.kill(esx1.pid, 'SIGKILL');
    await waitFor(() => !isAlive(esx1.pid), 'esx1 gone', 5_000);
    // while the window is open: a power-on that may wait only 2 s (fabric) cannot break the lock
    const early = await cli(vmCommand, ['power-on', 'crash1', '--host', 'esx2', '--wait', '2']);
    expect(early.error?.code).to.equal('VFAB_DATASTORE_LOCKED');
    expect(early.error?.message).to.match(/^locked by esx1/);
    // the dead holder's heartbeat is seen to age: its pulse is older than at the kill
    const stale = (await cli(datastoreCommand, ['locks', 'ds1', '--host', 'esx2', '--json'])).json.files.find((f: any) => f.path === 'crash1/crash1.vmx').lock.holders[0];
    expect(stale.owner).to.equal('esx1');
    expect(stale.pulseAgeMs).to.be.at.least(2_000, 'esx1 has not pulsed since the kill (2 s fabric of waiting at least)');
    // after the window: esx2 watches esx1's slot for the whole lease, breaks the lock and powers on
    const t0 = Date.now();
    const late = await cli(vmCommand, ['power-on', 'crash1', '--host', 'esx2', '--json']);
    expect(late.error?.message).to.equal(undefined);
    expect(Date.now() - t0).to.be.at.least(LEASE_WALL_MS * 0.9, 'the lock is broken only after a full lease');
    const locks = (await cli(datastoreCommand, ['locks', 'ds1', '--host', 'esx2', '--json'])).json.files;
    for (const p of ['crash1/crash1.vmx', 'crash1/crash1.vmdk', 'crash1/crash1-flat.vmdk']) {
      const f = locks.find((x: any) => x.path === p);
      expect(f.lock.mode, p).to.equal('exclusive');
      expect(f.lock.holders.map((h: any) => h.owner), p).to.deep.equal(['esx2']);
    }
    const hb = (await cli(datastoreCommand, ['heartbeats', 'ds1', '--host', 'esx2', '--json'])).json.slots;
    expect(hb.filter((s: any) => s.state === 'in-use').map((s: any) => s.owner)).to.deep.equal(['esx2']);
    expect(hb.find((s: any) => s.index === mine.slot), 'esx1 slot freed with generation + 1').to.include({ state: 'free', generation: mine.generation + 1 });
    const inspect = await cli(datastoreCommand, ['inspect', 'ds1', '--host', 'esx2', '--json']);
    expect(inspect.json.problems).to.deep.equal([]);
    expect(inspect.code).to.equal(0);
    expect(inspect.json.clean).to.equal(true);
    const events = (await api('esx2', 'GET', '/control/events?since=0')).events.filter((e: any) => e.vm === 'crash1');
    const types = events.map((e: any) => e.type);
    expect(types).to.include.members(['vm-power-on-failed', 'datastore-journal-replayed', 'datastore-lock-broken', 'vm-power-on']);
    const broken = events.find((e: any) => e.type === 'datastore-lock-broken');
    expect(broken).to.include({ host: 'esx2', datastore: 'ds1', file: 'crash1/crash1.vmx' });
  });
});
