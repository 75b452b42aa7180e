// End-to-end: two host daemons (esx1, esx2) mount NAS datastore nas1 on array1's share share1 over the
// real NAS protocol (topologies/e2e/nas-datastore.yaml), at time scale 8 so the 10 s lease refresh takes
// 1.25 s and the 35 s stale time 4.4 s. Checks: both hosts mount it (type nas; format refused), 10
// power-on races of one VM where exactly one host wins each time and the other is told "locked by" the
// winner, and kill -9 of the host running a VM: the other host's power-on fails while the `.lck` leases
// are fresh and succeeds after the stale time by breaking them (event datastore-lock-broken); then the
// leases name the new owner; then kill -9 of the array: the share goes offline on esx2 (3 failed probes)
// and its VM loses its leases, and after a restart of the array the share is online again. About 50 s.

import { expect } from 'chai';
import { type TestFabric, useFabric, waitFor } from '../helpers/fabric.js';
import { control } from '../../../daemons/common/control-client.js';
import { cli, datastoreCommand, powerOnRace, vmCommand } from './helpers.js';
import { isAlive } from '../../../daemons/fabric/state.js';
import { killDaemon, restartDaemon } from '../../../daemons/fabric/faults.js';

const TIME_SCALE = 8;
/** The `.lck` stale time (fabric ms: 10 s refresh × 3 failures + 5 s timeout) and its wall-clock length. */
const STALE_MS = 35_000;
const STALE_WALL_MS = STALE_MS / TIME_SCALE;
const RACES = 10;

describe('e2e NAS datastore: two hosts, one share, VM power-on with .lck leases', function () {
  this.timeout(90_000);
  let fab: TestFabric;
  const saved = process.env.VFAB_STATE_DIR;
  useFabric('topologies/e2e/nas-datastore.yaml', (f) => {
    fab = f;
    process.env.VFAB_STATE_DIR = f.stateDir;
  }, { timeScale: TIME_SCALE });
  after(() => {
    if (saved === undefined) delete process.env.VFAB_STATE_DIR;
    else process.env.VFAB_STATE_DIR = saved;
  });
  const api = (host: string, method: 'GET' | 'POST', path: string, body?: unknown) => control<any>(fab.daemon(host), fab.state.token, method, path, body, 30_000);
  const powerOn = (host: string, vm: string, body: unknown = {}) => api(host, 'POST', `/control/datastores/nas1/vms/${vm}/power-on`, body);
  const powerOff = (host: string, vm: string) => api(host, 'POST', `/control/datastores/nas1/vms/${vm}/power-off`, {});

  it('both hosts mount share1 as NAS datastore nas1; format is refused (a share is not formatted)', async () => {
    for (const h of ['esx1', 'esx2']) {
      await waitFor(async () => (await api(h, 'GET', '/control/datastores')).datastores[0]?.state === 'mounted', `${h} mounts nas1`, 15_000);
    }
    const list = await cli(datastoreCommand, ['list', '--json']);
    expect(list.json.hosts.map((h: any) => [h.host, h.datastores[0].name, h.datastores[0].type, h.datastores[0].share, h.datastores[0].state])).to.deep.equal([
      ['esx1', 'nas1', 'nas', 'share1', 'mounted'],
      ['esx2', 'nas1', 'nas', 'share1', 'mounted'],
    ]);
    const f = await cli(datastoreCommand, ['format', 'nas1']);
    expect(f.error?.code).to.equal('VFAB_HOSTDATASTORE_NOT_SUPPORTED');
    const hb = await cli(datastoreCommand, ['heartbeats', 'nas1']);
    expect(hb.text).to.contain('no heartbeat slots');
  });

  it(`two hosts race to power on the same VM ${RACES} times: exactly one wins each time, the other is told who holds it`, async () => {
    const wins = { esx1: 0, esx2: 0 };
    for (let i = 0; i < RACES; i++) {
      const { winner, loser, refusal } = await powerOnRace(powerOn, 'race1', i);
      expect(refusal).to.equal(`locked by ${winner}`);
      wins[winner]++;
      const files = (await api(loser, 'GET', '/control/datastores/nas1/files')).files.filter((f: any) => f.path.startsWith('race1/'));
      expect(files.map((f: any) => [f.path, f.lock.mode, f.lock.holders.map((h: any) => h.owner)]).sort()).to.deep.equal([
        ['race1/race1-flat.vmdk', 'exclusive', [winner]],
        ['race1/race1.vmdk', 'exclusive', [winner]],
        ['race1/race1.vmx', 'exclusive', [winner]],
      ]);
      expect((await powerOff(winner, 'race1')).released).to.have.length(3);
    }
    expect(wins.esx1 + wins.esx2).to.equal(RACES);
    const events = [...(await api('esx1', 'GET', '/control/events?since=0')).events, ...(await api('esx2', 'GET', '/control/events?since=0')).events];
    const refused = events.filter((e: any) => e.type === 'datastore-lock-refused' && e.vm === 'race1');
    expect(refused.length).to.equal(RACES);
    expect(refused[0]).to.include({ datastore: 'nas1', file: 'race1/race1.vmx' });
    expect(events.filter((e: any) => e.type === 'vm-power-on' && e.vm === 'race1')).to.have.length(RACES);
  });

  it('kill -9 of the host running a VM: power-on elsewhere fails while its .lck leases are fresh, then breaks them after the stale time', async () => {
    const on = await cli(vmCommand, ['power-on', 'crash1', '--host', 'esx1', '--json']);
    expect(on.error?.message).to.equal(undefined);
    expect(on.json.files.map((f: any) => f.path)).to.deep.equal(['crash1/crash1.vmx', 'crash1/crash1.vmdk', 'crash1/crash1-flat.vmdk']);
    const killed = await killDaemon(fab.state, 'esx1');
    await waitFor(() => !isAlive(killed.pid), 'esx1 gone', 5_000);
    // while the leases are fresh: a power-on that may wait only 2 s (fabric) cannot break them
    const early = await cli(vmCommand, ['power-on', 'crash1', '--host', 'esx2', '--wait', '2']);
    expect(early.error?.code).to.equal('VFAB_DATASTORE_LOCKED');
    expect(early.error?.message).to.match(/^locked by esx1/);
    const held = (await cli(datastoreCommand, ['locks', 'nas1', '--host', 'esx2', '--json'])).json.files.find((f: any) => f.path === 'crash1/crash1.vmx');
    expect(held.lock.holders.map((h: any) => [h.owner, h.stale])).to.deep.equal([['esx1', false]]);
    // then: esx2 watches the .lck for the whole stale time, removes it and takes its own
    const t0 = Date.now();
    const late = await cli(vmCommand, ['power-on', 'crash1', '--host', 'esx2', '--json']);
    expect(late.error?.message).to.equal(undefined);
    // the .vmx's lease first, then the two disk files' side by side: two stale times
    expect(Date.now() - t0).to.be.at.least(2 * STALE_WALL_MS * 0.9, 'a .lck is broken only after the stale time');
    const locks = (await cli(datastoreCommand, ['locks', 'nas1', '--host', 'esx2', '--json'])).json.files.filter((f: any) => f.path.startsWith('crash1/'));
    expect(locks.map((f: any) => [f.path, f.lock.mode, f.lock.holders.map((h: any) => h.owner)]).sort()).to.deep.equal([
      ['crash1/crash1-flat.vmdk', 'exclusive', ['esx2']],
      ['crash1/crash1.vmdk', 'exclusive', ['esx2']],
      ['crash1/crash1.vmx', 'exclusive', ['esx2']],
    ]);
    const events = (await api('esx2', 'GET', '/control/events?since=0')).events.filter((e: any) => e.vm === 'crash1');
    expect(events.map((e: any) => e.type)).to.include.members(['vm-power-on-failed', 'datastore-lease-stale', 'datastore-lock-broken', 'vm-power-on']);
    const broken = events.filter((e: any) => e.type === 'datastore-lock-broken');
    expect(broken[0]).to.include({ host: 'esx2', datastore: 'nas1', file: 'crash1/crash1.vmx', owner: 'esx1' });
    expect(broken.map((e: any) => [e.host, e.datastore, e.file, e.owner]).sort()).to.deep.equal([
      ['esx2', 'nas1', 'crash1/crash1-flat.vmdk', 'esx1'],
      ['esx2', 'nas1', 'crash1/crash1.vmdk', 'esx1'],
      ['esx2', 'nas1', 'crash1/crash1.vmx', 'esx1'],
    ]);
  });

  it('the array stops answering: the share goes offline (and the VM running there loses its leases), and comes back online', async () => {
    const since = (await api('esx2', 'GET', '/control/events?since=0')).events.at(-1)?.seq ?? 0;
    const events = async () => (await api('esx2', 'GET', `/control/events?since=${since}`)).events;
    await killDaemon(fab.state, 'array1');
    const offline = await waitFor(async () => (await events()).find((e: any) => e.type === 'datastore-offline'), 'esx2 offline', 20_000);
    expect(offline).to.include({ host: 'esx2', datastore: 'nas1' });
    expect(offline.message).to.match(/^lost access to share share1 of array1: 3 probes failed/);
    expect((await api('esx2', 'GET', '/control/datastores')).datastores[0].state).to.equal('offline');
    const refused = await powerOn('esx2', 'after1').then(() => undefined, (e) => e);
    expect(refused?.code, 'no power-on while offline').to.equal('VFAB_DATASTORE_NOT_MOUNTED');
    const lost = await waitFor(async () => (await events()).find((e: any) => e.type === 'vm-lease-lost'), 'crash1 loses its leases', 20_000);
    expect(lost).to.include({ vm: 'crash1', datastore: 'nas1' });
    await restartDaemon(fab.state, 'array1', { waitLinks: false });
    await waitFor(async () => (await events()).some((e: any) => e.type === 'datastore-online'), 'esx2 online again', 20_000);
    expect((await api('esx2', 'GET', '/control/datastores')).datastores[0]).to.include({ state: 'mounted', error: null });
    expect((await powerOn('esx2', 'after1')).files.map((f: any) => f.path)).to.deep.equal(['after1/after1.vmx', 'after1/after1.vmdk', 'after1/after1-flat.vmdk']);
  });
});
