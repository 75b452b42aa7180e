// End-to-end storage faults on a datastore (topologies/e2e/datastore.yaml: esx1 and esx2 mount ds1 on
// array1's LUN shared1), at time scale 8 so the 16 s lease takes 2 s, driven through `vfab fault`:
// a 10 s I/O stall of esx1 keeps ds1 online there (a heartbeat times out and is reissued; the aborted
// command is never sent), a 20 s stall takes it offline ("lost access to volume" about 16 s after the last
// heartbeat) and back online once the stall ends, while esx2 stays mounted; ATS off on the LUN: power-on
// and power-off still work, both hosts report ats-unsupported and no COMPARE AND WRITE reaches the array;
// ATS on again and a remount: the hosts use ATS again; every path of esx2 down: offline, restored:
// online. About 25 s.

import { expect } from 'chai';
import { type TestFabric, useFabric, waitFor } from '../helpers/fabric.js';
import { cliInProcess } from '../helpers/cli-in-process.js';
import { control } from '../../../daemons/common/control-client.js';
import { exitCodeFor } from '../../../daemons/cli.js';

const TIME_SCALE = 8;
/** The volume's heartbeat and lease (fabric ms, the format defaults). */
const HEARTBEAT_MS = 3_000;
const LEASE_MS = 16_000;
const IO_TIMEOUT_MS = 8_000;
/** Fabric ms -> wall ms at TIME_SCALE. */
const wall = (fabricMs: number): number => fabricMs / TIME_SCALE;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('e2e datastore: storage faults (stall, all paths down, ATS off) through vfab fault', function () {
  this.timeout(90_000);
  let fab: TestFabric;
  const saved = process.env.VFAB_STATE_DIR;
  const api = (daemon: string, method: 'GET' | 'POST', path: string, body?: unknown) => control<any>(fab.daemon(daemon), fab.state.token, method, path, body, 30_000);
  const fault = (...args: string[]) => cliInProcess('fault', args);
  const lastSeq = async (host: string): Promise<number> => (await api(host, 'GET', '/control/events?since=0')).events.at(-1)?.seq ?? 0;
  const eventsSince = async (host: string, since: number): Promise<any[]> => (await api(host, 'GET', `/control/events?since=${since}`)).events;
  const dsState = async (host: string): Promise<string> => (await api(host, 'GET', '/control/datastores')).datastores[0].state;
  const lunStats = async (): Promise<any> => (await api('array1', 'GET', '/control/status')).stats.luns.find((l: any) => l.name === 'shared1');

  useFabric('topologies/e2e/datastore.yaml', (f) => {
    fab = f;
    process.env.VFAB_STATE_DIR = f.stateDir; // the in-process CLI finds this fabric
  }, { timeScale: TIME_SCALE });
  after(() => {
    if (saved === undefined) delete process.env.VFAB_STATE_DIR;
    else process.env.VFAB_STATE_DIR = saved;
  });

  before(async () => {
    for (const h of ['esx1', 'esx2']) await waitFor(async () => (await dsState(h)) === 'unformatted', `${h} sees the blank LUN`, 15_000);
    const f = await cliInProcess('datastore', ['format', 'ds1', '--json']);
    expect(f.error?.message).to.equal(undefined);
    expect(f.json.mounted.map((m: any) => m.state)).to.deep.equal(['mounted', 'mounted']);
  });

  it('refuses bad storage faults with exit 2 naming the input, before or at the daemon', async () => {
    const unknownLun = await fault('storage-stall', 'esx1', 'array1/nope', '--seconds', '1');
    expect(exitCodeFor(unknownLun.error), unknownLun.error?.message).to.equal(2);
    expect(unknownLun.error.message).to.contain('"nope"');
    const notHost = await fault('storage-paths', 'array1', 'array1', 'down');
    expect(exitCodeFor(notHost.error)).to.equal(2);
    expect(notHost.error.message).to.contain('array1 is an array, not a host');
    const badLun = await fault('ats', 'array1/nope', 'off');
    expect(exitCodeFor(badLun.error)).to.equal(2);
  });

  it('a 10 s stall of esx1\'s I/O to the LUN keeps ds1 online; a heartbeat aborted at its deadline is never sent', async () => {
    // The heartbeat held by the stall is aborted (8 s deadline) only when it was issued in the first 2 s of
    // the stall (heartbeats come every 3 s): stall again, up to STALL_TRIES times, until that happened once.
    const STALL_TRIES = 6;
    let timedOut = 0;
    for (let attempt = 0; attempt < STALL_TRIES && timedOut === 0; attempt++) {
      const since = await lastSeq('esx1');
      const r = await fault('storage-stall', 'esx1', 'array1/shared1', '--seconds', '10', '--json');
      expect(r.error?.message).to.equal(undefined);
      expect(r.json.message).to.equal('esx1: I/O to array1/shared1 stalled for 10000 ms (fabric clock)');
      if (attempt === 0) expect((await cliInProcess('disk', ['status', 'esx1'])).text).to.match(/I\/O STALLED to shared1: \d+ ms more/);
      const end = await waitFor(async () => (await eventsSince('esx1', since)).find((e) => e.type === 'storage-stall-end'), 'the stall ends', 10_000);
      expect(end).to.include({ array: 'array1', lun: 'shared1' });
      const during = (await eventsSince('esx1', since)).filter((e) => e.seq < end.seq);
      expect(during.map((e) => e.type)).to.include('storage-stall-start');
      // each timeout aborted the held heartbeat; the stall's end must not send it (a stale ATS of an old image)
      timedOut = during.filter((e) => e.type === 'datastore-heartbeat-timeout').length;
      expect(end.aborted, 'held commands whose deadline passed are dropped, not sent').to.equal(timedOut);
      expect(end.sent, 'the (reissued) heartbeat is sent when the stall ends').to.be.at.least(1);
      await sleep(wall(LEASE_MS)); // a whole lease later: had it gone offline, it would show by now
      expect((await eventsSince('esx1', since)).map((e) => e.type), 'no "lost access" for a stall shorter than the lease').to.not.include('datastore-offline');
      expect(await dsState('esx1')).to.equal('mounted');
    }
    expect(timedOut, `a heartbeat timed out during one of ${STALL_TRIES} stalls`).to.be.at.least(1);
  });

  it('a 20 s stall: "lost access to volume" about 16 s after the last heartbeat, online again after the stall; esx2 unaffected', async () => {
    const since1 = await lastSeq('esx1');
    const since2 = await lastSeq('esx2');
    expect((await fault('storage-stall', 'esx1', 'array1/shared1', '--seconds', '20')).code).to.equal(0);
    const online = await waitFor(async () => (await eventsSince('esx1', since1)).find((e) => e.type === 'datastore-online'), 'esx1 online again', 15_000);
    const events = await eventsSince('esx1', since1);
    const start = events.find((e) => e.type === 'storage-stall-start');
    const offline = events.find((e) => e.type === 'datastore-offline');
    const end = events.find((e) => e.type === 'storage-stall-end');
    expect(offline, 'offline during a stall longer than the lease').to.not.equal(undefined);
    expect(offline).to.include({ host: 'esx1', datastore: 'ds1' });
    expect(offline.message).to.match(/^lost access to volume ds1/);
    // the last good heartbeat was about one interval or less before the stall: offline LEASE_MS after it
    // (the bounds allow a heartbeat of slack each way for a loaded machine; a lease of half would fail)
    const afterStart = offline.timeMs - start.timeMs;
    expect(afterStart, 'offline at the lease after the last good heartbeat').to.be.within(LEASE_MS - 2 * HEARTBEAT_MS, 20_000);
    expect(offline.seq).to.be.below(end.seq, 'offline while the stall holds the I/O');
    expect(online.seq).to.be.above(end.seq, 'online after the stall ends');
    expect(online.timeMs - end.timeMs, 'online at the first retry after the end, well within an I/O timeout').to.be.below(IO_TIMEOUT_MS);
    expect(await dsState('esx1')).to.equal('mounted');
    expect((await eventsSince('esx2', since2)).map((e) => e.type), 'the stall is esx1\'s alone').to.not.include('datastore-offline');
    expect(await dsState('esx2')).to.equal('mounted');
  });

  it('ATS off on the LUN: power-on/off still work under SCSI-2 reservations; ATS on again and a remount: back to ATS', async () => {
    const since = { esx1: await lastSeq('esx1'), esx2: await lastSeq('esx2') };
    const off = await fault('ats', 'array1/shared1', 'off', '--json');
    expect(off.json?.result?.ats, off.error?.message).to.equal(false);
    expect((await cliInProcess('lun', ['list'])).text).to.match(/shared1 .* off /);
    for (const h of ['esx1', 'esx2'] as const) {
      await waitFor(async () => (await eventsSince(h, since[h])).some((e) => e.type === 'datastore-ats-unsupported'), `${h} finds ATS gone`, 5_000);
    }
    const cawBefore = (await lunStats()).compareAndWrites;
    // metadata (create and lock files) while both hosts' heartbeats take whole-LUN reservations too. One
    // power-on at a time: two hosts creating VMs in the root directory at once may find it locked by the other.
    const opened = new Map<string, number>();
    for (const [vm, host] of [['noats1', 'esx1'], ['noats2', 'esx2']]) {
      const on = await cliInProcess('vm', ['power-on', vm!, '--host', host!, '--json']);
      expect(on.error?.message).to.equal(undefined);
      expect(on.json.files.length).to.be.at.least(2);
      expect(on.json.files.every((f: any) => f.created), 'its files were created under reservations').to.equal(true);
      opened.set(vm!, on.json.files.length);
    }
    expect((await cliInProcess('vm', ['power-on', 'noats1', '--host', 'esx2'])).error?.code, 'locks still exclude').to.equal('VFAB_DATASTORE_LOCKED');
    for (const [vm, host] of [['noats1', 'esx1'], ['noats2', 'esx2']]) {
      const off = await cliInProcess('vm', ['power-off', vm!, '--host', host!, '--json']);
      expect(off.error?.message).to.equal(undefined);
      expect(off.json.released, `${vm} was open on ${host}`).to.have.length(opened.get(vm!)!);
    }
    await sleep(wall(2 * HEARTBEAT_MS));
    expect((await lunStats()).compareAndWrites, 'no COMPARE AND WRITE reaches a LUN without ATS').to.equal(cawBefore);
    expect(await dsState('esx1')).to.equal('mounted');
    expect(await dsState('esx2')).to.equal('mounted');

    expect((await fault('ats', 'array1/shared1', 'on')).code).to.equal(0);
    expect((await cliInProcess('lun', ['list'])).text).to.match(/shared1 .* on /);
    for (const h of ['esx1', 'esx2']) {
      expect((await cliInProcess('datastore', ['unmount', 'ds1', '--host', h])).error?.message).to.equal(undefined);
      expect((await cliInProcess('datastore', ['mount', 'ds1', '--host', h])).error?.message).to.equal(undefined);
    }
    const cawOn = (await lunStats()).compareAndWrites;
    const sinceOn = { esx1: await lastSeq('esx1'), esx2: await lastSeq('esx2') };
    await sleep(wall(3 * HEARTBEAT_MS));
    expect((await lunStats()).compareAndWrites, 'heartbeats use ATS again').to.be.at.least(cawOn + 2);
    for (const h of ['esx1', 'esx2'] as const) expect((await eventsSince(h, sinceOn[h])).map((e) => e.type)).to.not.include('datastore-ats-unsupported');
  });

  it('every path of esx2 to array1 down: ds1 offline after the lease; restored: online', async () => {
    const since = await lastSeq('esx2');
    const down = await fault('storage-paths', 'esx2', 'array1', 'down', '--json');
    expect(down.json?.result?.paths.map((p: any) => p.state), down.error?.message).to.deep.equal(['dead', 'dead']);
    const offline = await waitFor(async () => (await eventsSince('esx2', since)).find((e) => e.type === 'datastore-offline'), 'esx2 offline', 10_000);
    expect(offline.message).to.match(/^lost access to volume ds1/);
    expect(await dsState('esx2')).to.equal('offline');
    expect(await dsState('esx1')).to.equal('mounted');
    const up = await fault('storage-paths', 'esx2', 'array1', 'up');
    expect(up.text).to.match(/^esx2: every path to array1 restored/);
    await waitFor(async () => (await eventsSince('esx2', since)).some((e) => e.type === 'datastore-online'), 'esx2 online again', 10_000);
    expect(await dsState('esx2')).to.equal('mounted');
  });
});
