// Fault injection on a running fabric (topologies/failover.yaml): seeded loss in one direction that
// repeats run to run, a flap schedule with carrier lost at both ends, switch port shut, and a switch
// killed (SIGKILL) and restarted on the same port with its peers reconnecting.
import { NOTIFY_RARP_SPACING_MS } from '../../../lib/host/host.js';
import { NOTIFY_RARP_MAX } from '../../../lib/teaming/notify.js';
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadTopologyFile } from '../../../lib/topology/load.js';
import { fabricUp, fabricDown, linkCensus } from '../../../daemons/fabric/lifecycle.js';
import { control } from '../../../daemons/common/control-client.js';
import { findDaemon, isAlive, readState, type FabricState } from '../../../daemons/fabric/state.js';
import { killDaemon, restartDaemon, impairEndpoint, flapEndpoint, clearEndpoint, shutPort } from '../../../daemons/fabric/faults.js';

async function ping(s: FabricState, count: number): Promise<number[]> {
  const r = await control<{ replies: Array<{ seq: number; rttMs: number | null }> }>(findDaemon(s, 'esx2'), s.token, 'POST', '/control/vms/web2/ping', { target: '192.0.2.11', count, intervalMs: 5, timeoutMs: 300 }, 60_000);
  return r.replies.filter((x) => x.rttMs !== null).map((x) => x.seq);
}

/** After a restart the fresh guest stack resolves ARP first: retry (bounded) until 3 replies arrive. */
async function pingsFlowAgain(s: FabricState, withinMs = 10_000): Promise<number[]> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const got = await ping(s, 3);
    if (got.length === 3 || Date.now() > deadline) return got;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('e2e: fault injection (vfab fault ...)', function () {
  this.timeout(90_000);
  let state: FabricState | undefined;
  let dir: string;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfab-faults-'));
    state = await fabricUp({ topology: await loadTopologyFile('topologies/failover.yaml'), stateDir: dir });
  });
  after(async () => {
    if (state) await fabricDown(readState(dir), dir).catch(() => fabricDown(state!, dir));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('impair: seeded tx loss drops the same echo replies on every run; clear restores', async () => {
    const s = state!;
    expect(await ping(s, 3)).to.have.length(3); // ARP warm
    // the notify RARPs of link-up leave NOTIFY_RARP_SPACING_MS apart; let them finish, so the seeded loss
    // below decides over echo replies only
    await new Promise((r) => setTimeout(r, NOTIFY_RARP_SPACING_MS * NOTIFY_RARP_MAX + 200));
    // loss on what esx1 sends on vmnic0 (app1's replies): requests arrive, some replies do not
    await impairEndpoint(s, 'esx1.vmnic0', { lossPercent: 40, direction: 'tx', seed: 42 });
    const run1 = await ping(s, 40);
    await impairEndpoint(s, 'esx1.vmnic0', { lossPercent: 40, direction: 'tx', seed: 42 });
    const run2 = await ping(s, 40);
    expect(run1.length).to.be.within(5, 35);
    expect(run2, 'same seed, same frames lost').to.deep.equal(run1);
    const st = await control<{ links: any[] }>(findDaemon(s, 'esx1'), s.token, 'GET', '/control/status');
    expect(st.links.find((l) => l.local === 'vmnic0').impairment).to.include({ lossPercent: 40, direction: 'tx', seed: 42 });
    await clearEndpoint(s, 'esx1.vmnic0');
    expect(await ping(s, 10)).to.have.length(10);
  });

  it('impair: rx-only loss on the other end of the same cable loses the requests instead', async () => {
    const s = state!;
    await impairEndpoint(s, 'sw1.Gi1/0/1', { lossPercent: 100, direction: 'rx' });
    expect(await ping(s, 5)).to.have.length(0);
    const ev = await control<{ events: any[] }>(findDaemon(s, 'sw1'), s.token, 'GET', '/control/events?since=0');
    expect(ev.events.some((e) => e.type === 'impairment-set' && e.link === 'Gi1/0/1' && e.direction === 'rx')).to.equal(true);
    await clearEndpoint(s, 'sw1.Gi1/0/1');
    expect(await ping(s, 5)).to.have.length(5);
  });

  it('flap: the link goes down and up on schedule; the host fails over and back (carrier at both ends)', async () => {
    const s = state!;
    const esx1 = findDaemon(s, 'esx1');
    const { events: before } = await control<{ events: any[] }>(esx1, s.token, 'GET', '/control/events?since=0');
    const since = before.at(-1)?.seq ?? 0;
    await flapEndpoint(s, 'sw1.Gi1/0/1', { periodMs: 400, downMs: 150, count: 2 });
    await new Promise((r) => setTimeout(r, 1200));
    const { events } = await control<{ events: any[] }>(esx1, s.token, 'GET', `/control/events?since=${since}`);
    const types = events.map((e) => e.type);
    expect(types.filter((t) => t === 'failover')).to.have.length(2);
    expect(types.filter((t) => t === 'failback')).to.have.length(2);
    expect((await linkCensus(s)).down).to.deep.equal([]);
  });

  it('shut / no-shut of a switch port takes the host uplink down and up', async () => {
    const s = state!;
    await shutPort(s, 'sw1.Gi1/0/1', true);
    await new Promise((r) => setTimeout(r, 200));
    let st = await control<{ vswitches: any[] }>(findDaemon(s, 'esx1'), s.token, 'GET', '/control/status');
    expect(st.vswitches[0].ports.find((p: any) => p.name === 'app1.nic0').uplink).to.equal('vmnic1');
    expect(await ping(s, 3)).to.have.length(3);
    await shutPort(s, 'sw1.Gi1/0/1', false);
    await new Promise((r) => setTimeout(r, 200));
    st = await control<{ vswitches: any[] }>(findDaemon(s, 'esx1'), s.token, 'GET', '/control/status');
    expect(st.vswitches[0].ports.find((p: any) => p.name === 'app1.nic0').uplink).to.equal('vmnic0');
  });

  it('kill + restart: a switch comes back on its port, hosts redial, traffic flows; a restarted host is re-told its peers', async () => {
    const s = state!;
    const old = findDaemon(s, 'sw2');
    const k = await killDaemon(s, 'sw2');
    expect(k.wasRunning).to.equal(true);
    expect(isAlive(old.pid)).to.equal(false);
    const r = await restartDaemon(s, 'sw2', { stateDir: dir, detached: false });
    expect(r.port).to.equal(old.port);
    expect(readState(dir).daemons.find((d) => d.name === 'sw2')!.pid).to.equal(r.pid);
    expect(await pingsFlowAgain(s)).to.have.length(3);
    const h = await restartDaemon(s, 'esx1', { stateDir: dir, detached: false });
    expect(h.redialled).to.have.members(['vmnic0', 'vmnic1']);
    expect(await pingsFlowAgain(s)).to.have.length(3);
  });
});
