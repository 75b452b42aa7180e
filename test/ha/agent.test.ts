// The HA agent on a manual clock (docs/ha.md; docs/vsphere-behaviour.md §7.11-§7.14): election and
// re-election of the primary, isolation responses (leave powered on, power off, shut down) and what
// they do to the host's VMs, the lock rule of §7.14 (an isolated host that still reaches storage keeps
// its VMs' locks, so every restart attempt is refused; a crashed host's locks break only once its
// heartbeat has been stale for the lease), restart priority order and placement.
import { expect } from 'chai';
import { ManualClock } from '../../lib/clock.js';
import { HA_RESTART_MAX_ATTEMPTS, HA_RESTART_RETRY_MS, HA_SHUTDOWN_TIMEOUT_MS, HaAgent, type ClusterInput, resolveCluster } from '../../lib/ha/index.js';
import { HaSim, VMFS_LEASE_MS, clusterOf } from './sim.js';

const VMS: ClusterInput['vms'] = [{ name: 'web1', datastore: 'ds1', portGroups: ['pg-web'] }, { name: 'app1', datastore: 'ds2', restartPriority: 'high' }];

function settled(over: Partial<ClusterInput> = {}, placement: Record<string, string[]> = { esx1: ['web1', 'app1'] }, vms = VMS, n = 3): HaSim {
  const sim = new HaSim(clusterOf(n, over, vms), placement);
  sim.advance(20_000);
  return sim;
}

describe('HA agent: election (§7.11, §7.13)', () => {
  it('the first election ends after 15 s: the host seeing the most datastores wins, the rest follow it', () => {
    const input = clusterOf(3, {}, VMS);
    input.hosts[0]!.datastores = ['ds1', 'ds2', 'ds3'];
    const sim = new HaSim(input);
    sim.advance(14_900);
    expect(sim.primaries()).to.deep.equal([]);
    sim.advance(100);
    expect(sim.primaries()).to.deep.equal(['esx1']);
    expect(sim.agent('esx2').currentPrimary).to.equal('esx1');
    expect(sim.agent('esx3').currentRole).to.equal('secondary');
  });

  it('a tie goes to the host name that sorts last', () => {
    const sim = settled();
    expect(sim.primaries()).to.deep.equal(['esx3']);
    expect(sim.firstEventAt('ha-primary-elected', 'esx3')).to.equal(15_000);
  });

  it('network heartbeats every second between the primary and each secondary; no isolation check while they arrive', () => {
    const input = clusterOf(3, {}, VMS);
    input.hosts[0]!.datastores = ['ds1', 'ds2', 'ds3']; // esx1 primary: it ticks first, before the heartbeats of the tick arrive
    const sim = new HaSim(input);
    sim.advance(60_000);
    expect(sim.eventsOf('ha-isolation-check')).to.deep.equal([]);
  });

  it('heartbeats: the primary to every host, a secondary to its primary only', () => {
    const sim = settled();
    const sent = sim.actionsOf('send-heartbeat').filter((a) => a.atMs >= 16_000 && a.atMs < 20_000);
    expect(sent.filter((a) => a.by === 'esx3' && a.action.to === 'esx1').map((a) => a.atMs % 1_000)).to.have.length(4);
    expect(sent.filter((a) => a.by === 'esx1').map((a) => a.action.to)).to.deep.equal(['esx3', 'esx3', 'esx3', 'esx3']); // a secondary talks to its primary only
    expect(sent.filter((a) => a.by === 'esx3').map((a) => a.action.message.role)).to.satisfy((r: string[]) => r.every((x) => x === 'primary'));
  });

  it('re-election when the primary dies: the survivors elect at T25s; the new primary restarts the dead primary’s VMs', () => {
    const sim = settled({}, { esx3: ['web1', 'app1'] });
    sim.crash('esx3');
    const t0 = sim.delivered.get('esx3>esx1')!;
    sim.advance(50_000);
    expect(sim.firstEventAt('ha-election-started', 'esx1')! - t0).to.equal(10_000);
    expect(sim.firstEventAt('ha-primary-elected', 'esx2')! - t0).to.equal(25_000);
    expect(sim.primaries()).to.deep.equal(['esx2']);
    expect(sim.agent('esx1').currentPrimary).to.equal('esx2');
    // The new primary's own timeline for the old one starts at its takeover: dead 18 s later.
    expect(sim.firstEventAt('ha-host-dead', 'esx2')! - t0).to.equal(25_000 + 18_000);
    expect([sim.where('web1'), sim.where('app1')].map((w) => w.length)).to.deep.equal([1, 1]);
    expect(sim.violations).to.deep.equal([]);
  });

  it('re-election when the primary is isolated; it rejoins as a secondary when its network returns', () => {
    const sim = settled({ ha: { isolationResponse: 'power-off' } }, { esx3: ['web1'] });
    sim.setMgmt('esx3', false);
    sim.advance(50_000);
    expect(sim.agent('esx3').currentRole).to.equal('isolated');
    expect(sim.primaries()).to.deep.equal(['esx2']);
    expect(sim.where('web1')).to.have.length(1);
    sim.setMgmt('esx3', true);
    sim.advance(3_000);
    expect(sim.primaries()).to.deep.equal(['esx2']);
    expect(sim.agent('esx3').currentPrimary).to.equal('esx2');
    expect(sim.violations).to.deep.equal([]);
  });

  it('two primaries after a partition heals: the lesser steps down and its secondaries follow the winner', () => {
    const sim = settled();
    sim.partition([['esx3'], ['esx1', 'esx2']]);
    sim.advance(40_000);
    expect(sim.primaries().sort()).to.deep.equal(['esx2', 'esx3']);
    expect(sim.eventsOf('ha-host-dead')).to.deep.equal([]); // datastore heartbeats move: partitioned, not dead
    sim.partition([]);
    sim.advance(3_000);
    expect(sim.primaries()).to.deep.equal(['esx3']);
    expect(sim.firstEventAt('ha-stepped-down', 'esx2')).to.not.equal(undefined);
    expect(sim.agent('esx1').currentPrimary).to.equal('esx3');
  });
});

describe('HA agent: isolation responses (§7.13)', () => {
  it('leave powered on: the VMs keep running on the isolated host; with heartbeat datastores no restart is tried', () => {
    const sim = settled();
    sim.setMgmt('esx1', false);
    sim.advance(60_000);
    expect(sim.eventsOf('ha-isolation-response', 'esx1')[0]!.details).to.include({ response: 'leave-powered-on' });
    expect(sim.host('esx1').vms).to.deep.equal(new Set(['web1', 'app1']));
    expect(sim.actionsOf('power-off')).to.deep.equal([]);
    expect(sim.eventsOf('ha-restart-attempted')).to.deep.equal([]);
  });

  it('power off: the VMs stop at T30s, their locks are freed and the primary restarts them', () => {
    const sim = settled({ ha: { isolationResponse: 'power-off' } });
    sim.setMgmt('esx1', false);
    const t0 = sim.delivered.get('esx3>esx1')!;
    sim.advance(40_000);
    const off = sim.actionsOf('power-off', 'esx1');
    expect(off.map((o) => [o.atMs - t0, o.action.vms])).to.deep.equal([[30_000, ['app1', 'web1']]]);
    expect(sim.host('esx1').vms.size).to.equal(0);
    const ok = sim.eventsOf('ha-restart-succeeded', 'esx3');
    expect(ok.map((e) => e.details.vm).sort()).to.deep.equal(['app1', 'web1']);
    expect(ok.every((e) => e.atMs > t0 + 30_000)).to.equal(true);
    expect(sim.where('web1')).to.not.include('esx1');
    expect(sim.violations).to.deep.equal([]);
  });

  it('power off by an isolated primary that is heard again before it is declared dead: its stopped VMs are restarted', () => {
    const sim = settled({ ha: { isolationResponse: 'power-off', heartbeatDatastoresPerHost: 0 } }, { esx3: ['web1', 'app1'] });
    sim.setMgmt('esx3', false);
    const t0 = sim.delivered.get('esx3>esx1')!;
    sim.advance(25_000 + 5_000); // new primary esx2 at T25s; esx3 not yet dead (T25s + 15 s)
    expect(sim.primaries()).to.deep.equal(['esx2']);
    expect(sim.host('esx3').vms.size).to.equal(0);
    sim.setMgmt('esx3', true);
    sim.advance(3_000);
    expect(sim.eventsOf('ha-host-dead')).to.deep.equal([]);
    expect(sim.eventsOf('ha-restart-succeeded', 'esx2').map((e) => e.details.vm).sort()).to.deep.equal(['app1', 'web1']);
    expect(sim.firstEventAt('ha-restart-succeeded', 'esx2')! - t0).to.be.below(25_000 + 15_000);
    expect(sim.violations).to.deep.equal([]);
  });

  it('shut down: guests stop; the primary restarts them once they are off', () => {
    const sim = settled({ ha: { isolationResponse: 'shutdown' } });
    sim.setMgmt('esx1', false);
    const t0 = sim.delivered.get('esx3>esx1')!;
    sim.advance(40_000);
    const sd = sim.actionsOf('shutdown', 'esx1');
    expect(sd.map((o) => [o.atMs - t0, o.action.vms, o.action.deadlineMs - o.atMs])).to.deep.equal([[30_000, ['app1', 'web1'], HA_SHUTDOWN_TIMEOUT_MS]]);
    expect(sim.actionsOf('power-off')).to.deep.equal([]);
    const first = Math.min(...sim.eventsOf('ha-restart-succeeded').map((e) => e.atMs));
    expect(first).to.be.at.least(t0 + 30_000 + sim.shutdownDelayMs);
    expect(sim.where('app1')).to.have.length(1);
    expect(sim.violations).to.deep.equal([]);
  });

  it('shut down: guests that do not stop are powered off when the wait ends', () => {
    const sim = settled({ ha: { isolationResponse: 'shutdown' } });
    sim.host('esx1').guestsIgnoreShutdown = true;
    sim.setMgmt('esx1', false);
    const t0 = sim.delivered.get('esx3>esx1')!;
    sim.advance(30_000 + HA_SHUTDOWN_TIMEOUT_MS + 5_000);
    const off = sim.actionsOf('power-off', 'esx1');
    expect(off.map((o) => [o.atMs - t0, o.action.vms])).to.deep.equal([[30_000 + HA_SHUTDOWN_TIMEOUT_MS, ['app1', 'web1']]]);
    expect(sim.violations).to.deep.equal([]);
  });
});

describe('HA agent: restarts and locks (§7.14)', () => {
  it('an isolated host that still reaches storage keeps the locks: every attempt is refused, retried at the named interval, then given up', () => {
    const sim = settled({ ha: { heartbeatDatastoresPerHost: 0 } }); // no heartbeat datastores: declared dead at T15s
    sim.setMgmt('esx1', false);
    const t0 = sim.delivered.get('esx1>esx3')!;
    sim.advance(60_000);
    const tries = sim.eventsOf('ha-restart-attempted', 'esx3').filter((e) => e.details.vm === 'app1');
    expect(tries.map((e) => e.atMs - t0)).to.deep.equal(Array.from({ length: HA_RESTART_MAX_ATTEMPTS }, (_, i) => 15_000 + i * HA_RESTART_RETRY_MS));
    expect(sim.eventsOf('ha-restart-locked').length).to.equal(2 * HA_RESTART_MAX_ATTEMPTS);
    expect(sim.eventsOf('ha-restart-succeeded')).to.deep.equal([]);
    expect(sim.eventsOf('ha-restart-gave-up').map((e) => e.details.vm).sort()).to.deep.equal(['app1', 'web1']);
    expect(sim.host('esx1').vms).to.deep.equal(new Set(['web1', 'app1']));
    expect(sim.violations).to.deep.equal([]);
  });

  it('a crashed host’s locks break only after its heartbeat has been stale for the lease: refused at T15s, restarted at the retry', () => {
    const sim = settled({ ha: { heartbeatDatastoresPerHost: 0 } });
    sim.pulse('esx1'); // its last VMFS heartbeat: now
    const pulseAt = sim.clock.nowMs();
    sim.crash('esx1');
    const t0 = sim.delivered.get('esx1>esx3')!;
    sim.advance(30_000);
    const app1 = sim.events.filter((e) => e.details.vm === 'app1' && e.type.startsWith('ha-restart-') && e.type !== 'ha-restart-queued');
    expect(app1.map((e) => [e.type, e.atMs - t0])).to.deep.equal([
      ['ha-restart-attempted', 15_000], ['ha-restart-locked', 15_000],
      ['ha-restart-attempted', 20_000], ['ha-restart-succeeded', 20_000],
    ]);
    expect(t0 + 15_000 - pulseAt).to.be.below(VMFS_LEASE_MS);
    expect(t0 + 20_000 - pulseAt).to.be.at.least(VMFS_LEASE_MS);
    expect(sim.violations).to.deep.equal([]);
  });

  it('restart priority: most urgent first, a lower priority waits while a more urgent attempt is in flight; disabled and unprotected never', () => {
    const vms: ClusterInput['vms'] = [
      { name: 'a-low', datastore: 'ds1', restartPriority: 'low' },
      { name: 'b-highest', datastore: 'ds1', restartPriority: 'highest' },
      { name: 'c-medium', datastore: 'ds1' },
      { name: 'd-disabled', datastore: 'ds1', restartPriority: 'disabled' },
      { name: 'e-high', datastore: 'ds1', restartPriority: 'high' },
      { name: 'f-unprotected', datastore: 'ds1', restartPriority: 'highest', protected: false },
      { name: 'g-lowest', datastore: 'ds1', restartPriority: 'lowest' },
    ];
    const sim = settled({}, { esx1: vms.map((v) => v.name) }, vms);
    sim.crash('esx1');
    sim.advance(30_000);
    const order = sim.actionsOf('power-on', 'esx3');
    expect(order.map((a) => a.action.vm)).to.deep.equal(['b-highest', 'e-high', 'c-medium', 'a-low', 'g-lowest']);
    // One priority per tick here: each attempt's outcome arrives before the next priority starts.
    expect(new Set(order.map((a) => a.atMs)).size).to.equal(5);
    expect(sim.where('d-disabled')).to.deep.equal([]);
    expect(sim.where('f-unprotected')).to.deep.equal([]);
  });

  it('placement: only a surviving host that mounts the VM’s datastore and has its port groups; none fits -> given up', () => {
    const input = clusterOf(4, {}, [
      { name: 'db1', datastore: 'ds3' },
      { name: 'web1', datastore: 'ds1', portGroups: ['pg-dmz'] },
      { name: 'lost1', datastore: 'ds4' },
    ]);
    input.hosts[0]!.datastores = ['ds1', 'ds2', 'ds3', 'ds4'];
    input.hosts[0]!.portGroups = ['pg-web', 'pg-dmz'];
    input.hosts[1]!.datastores = ['ds1', 'ds2', 'ds3'];
    input.hosts[2]!.portGroups = ['pg-web', 'pg-dmz'];
    const sim = new HaSim(input, { esx1: ['db1', 'web1', 'lost1'] });
    sim.advance(20_000);
    sim.crash('esx1'); // the primary (most datastores): re-election first, then its VMs
    sim.advance(70_000);
    expect(sim.where('db1')).to.deep.equal(['esx2']);
    expect(sim.where('web1')).to.deep.equal(['esx3']);
    expect(sim.where('lost1')).to.deep.equal([]);
    expect(sim.eventsOf('ha-restart-gave-up').map((e) => e.details.vm)).to.deep.equal(['lost1']);
  });

  it('a restart is cancelled when the VM is reported running again; stale or foreign outcomes are ignored', () => {
    const r = resolveCluster(clusterOf(2, {}, VMS));
    if (!r.ok) throw new Error('config');
    const clock = new ManualClock(0);
    const a = new HaAgent({ cluster: r.value, host: 'esx2', clock });
    const hb = (role: 'election' | 'secondary', poweredOn: string[], seq: number) => ({ kind: 'heartbeat' as const, message: { cluster: 'c1', from: 'esx1', role, datastoresSeen: 2, poweredOn, seq, ...(role === 'secondary' ? { primary: 'esx2' } : {}) } });
    a.handle({ kind: 'local-vms', poweredOn: [] });
    for (let t = 100; t <= 15_000; t += 100) {
      clock.set(t);
      if (t % 1000 === 0) a.handle(hb('election', ['web1'], t));
      a.handle({ kind: 'tick' });
    }
    expect(a.currentRole).to.equal('primary');
    a.handle(hb('secondary', ['web1'], 99));
    expect(a.handle({ kind: 'power-on-result', vm: 'web1', host: 'esx2', outcome: 'ok' })).to.deep.equal([]); // nothing asked: ignored
    let out: ReturnType<HaAgent['handle']> = [];
    for (let t = 15_100; t <= 15_000 + 18_000; t += 100) {
      clock.set(t);
      const acts = a.handle({ kind: 'tick' });
      out = out.concat(acts);
      // The gateway answers: esx2 is alone but not isolated.
      for (const x of acts) if (x.kind === 'ping' && x.purpose === 'isolation') a.handle({ kind: 'ping-result', address: x.address, purpose: 'isolation', ok: true });
    }
    expect(a.peerState('esx1')).to.equal('dead');
    const asked = out.filter((x) => x.kind === 'power-on');
    expect(asked).to.have.length(1);
    // esx1 comes back and reports web1 on, before the outcome arrives: no second copy is ever asked for.
    const back = a.handle(hb('secondary', ['web1'], 100));
    expect(back.filter((x) => x.kind === 'event' && x.type === 'ha-host-back')).to.have.length(1);
    const res = a.handle({ kind: 'power-on-result', vm: 'web1', host: 'esx2', outcome: 'locked' });
    expect(res.filter((x) => x.kind === 'event').map((x) => x.kind === 'event' && x.type)).to.deep.equal(['ha-restart-locked']);
    clock.set(40_000);
    const later = a.handle({ kind: 'tick' });
    expect(later.filter((x) => x.kind === 'power-on')).to.deep.equal([]);
    expect(a.status().restarts).to.deep.equal([]);
  });
});
