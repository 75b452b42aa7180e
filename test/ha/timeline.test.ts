// The HA timelines (docs/ha.md; docs/vsphere-behaviour.md §7.13) pinned to the second on a manual clock, each
// measured from T0 = the last network heartbeat the deciding agent heard: a secondary's failure (heartbeat
// lost T3s, datastore heartbeats watched until T18s, unreachable and pinged T10s..T15s, dead at T15s
// without heartbeat datastores or T18s with them), a secondary's isolation (election T10s, elects itself and
// pings the isolation address T25s, isolated T30s), a primary's isolation (pings at once, isolated T5s),
// and the difference between dead, isolated and partitioned.
import { expect } from 'chai';
import { deadAfterMs, haTiming } from '../../lib/ha/index.js';
import { HaSim, clusterOf } from './sim.js';

const VMS = [{ name: 'web1', datastore: 'ds1', portGroups: ['pg-web'] }, { name: 'app1', datastore: 'ds2' }];

/** A 3-host cluster settled after its first election (esx3 primary: ties go to the name that sorts last). */
function settled(over: Parameters<typeof clusterOf>[1] = {}, placement: Record<string, string[]> = { esx1: ['web1', 'app1'] }): HaSim {
  const sim = new HaSim(clusterOf(3, over, VMS), placement);
  sim.advance(20_000);
  expect(sim.primaries()).to.deep.equal(['esx3']);
  return sim;
}

describe('HA timelines (§7.13)', () => {
  it('deadAfterMs: 15 s without heartbeat datastores, 18 s with them', () => {
    expect(deadAfterMs(haTiming(), false)).to.equal(15_000);
    expect(deadAfterMs(haTiming(), true)).to.equal(18_000);
    expect(deadAfterMs(haTiming(4), true)).to.equal(4_500);
  });

  it('secondary failure with heartbeat datastores: lost T3s, reads T3s..T17s, unreachable T10s, pings T10s..T14s, dead T18s', () => {
    const sim = settled();
    sim.crash('esx1');
    const t0 = sim.delivered.get('esx1>esx3')!;
    sim.advance(25_000);
    const rel = (ms: number | undefined): number | undefined => (ms === undefined ? undefined : ms - t0);
    expect(rel(sim.firstEventAt('ha-heartbeat-lost', 'esx3'))).to.equal(3_000);
    expect(rel(sim.firstEventAt('ha-host-unreachable', 'esx3'))).to.equal(10_000);
    expect(rel(sim.firstEventAt('ha-host-dead', 'esx3'))).to.equal(18_000);
    const reads = sim.actionsOf('read-ds-heartbeat', 'esx3').filter((r) => r.action.host === 'esx1' && r.atMs < t0 + 18_000);
    expect(reads.filter((r) => r.action.datastore === 'ds1').map((r) => rel(r.atMs))).to.deep.equal(Array.from({ length: 15 }, (_, i) => 3_000 + i * 1_000));
    const pings = sim.actionsOf('ping', 'esx3').filter((p) => p.action.host === 'esx1');
    expect(pings.map((p) => rel(p.atMs))).to.deep.equal([10_000, 11_000, 12_000, 13_000, 14_000]);
    expect(pings[0]!.action.address).to.equal('192.0.2.11');
    // Not a moment earlier: at T17.9s the primary still watched.
    expect(sim.events.filter((e) => e.type === 'ha-host-dead' && e.atMs < t0 + 18_000)).to.deep.equal([]);
    // Restarts begin at once.
    expect(rel(sim.firstEventAt('ha-restart-attempted', 'esx3'))).to.equal(18_000);
  });

  it('secondary failure without heartbeat datastores: no reads, dead at T15s', () => {
    const sim = settled({ ha: { heartbeatDatastoresPerHost: 0 } });
    sim.crash('esx1');
    const t0 = sim.delivered.get('esx1>esx3')!;
    sim.advance(25_000);
    expect(sim.actionsOf('read-ds-heartbeat')).to.deep.equal([]);
    expect(sim.firstEventAt('ha-host-unreachable', 'esx3')! - t0).to.equal(10_000);
    expect(sim.firstEventAt('ha-host-dead', 'esx3')! - t0).to.equal(15_000);
    expect(sim.events.filter((e) => e.type === 'ha-host-dead' && e.atMs < t0 + 15_000)).to.deep.equal([]);
  });

  it('secondary isolation: election T10s, elects itself and pings the isolation address T25s, isolated T30s', () => {
    const sim = settled();
    sim.setMgmt('esx1', false);
    const t0 = sim.delivered.get('esx3>esx1')!;
    sim.advance(35_000);
    const at = (type: Parameters<HaSim['firstEventAt']>[0]): number => sim.firstEventAt(type, 'esx1')! - t0;
    expect(at('ha-election-started')).to.equal(10_000);
    expect(at('ha-primary-elected')).to.equal(25_000);
    const pings = sim.actionsOf('ping', 'esx1').filter((p) => p.action.purpose === 'isolation' && p.atMs <= t0 + 30_000);
    expect(pings.map((p) => p.atMs - t0)).to.deep.equal([25_000, 26_000, 27_000, 28_000, 29_000]);
    expect(pings[0]!.action.address).to.equal('192.0.2.1'); // the gateway, by default
    expect(at('ha-isolated')).to.equal(30_000);
    expect(at('ha-isolation-response')).to.equal(30_000);
    expect(sim.events.filter((e) => e.agent === 'esx1' && e.type === 'ha-isolated' && e.atMs < t0 + 30_000)).to.deep.equal([]);
  });

  it('an isolated secondary whose isolation address answers is not isolated (it leads its own partition)', () => {
    const sim = settled();
    sim.partition([['esx1'], ['esx2', 'esx3']]);
    sim.advance(40_000);
    expect(sim.eventsOf('ha-isolated')).to.deep.equal([]);
    expect(sim.primaries().sort()).to.deep.equal(['esx1', 'esx3']);
  });

  it('primary isolation: pings the isolation address at once (a heartbeat half an interval late), isolated T5s', () => {
    const sim = settled({}, { esx3: ['web1'] });
    sim.setMgmt('esx3', false);
    const t0 = Math.max(sim.delivered.get('esx1>esx3')!, sim.delivered.get('esx2>esx3')!);
    sim.advance(10_000);
    expect(sim.firstEventAt('ha-isolation-check', 'esx3')! - t0).to.equal(1_500);
    const pings = sim.actionsOf('ping', 'esx3').filter((p) => p.action.purpose === 'isolation' && p.atMs <= t0 + 5_000);
    expect(pings.map((p) => p.atMs - t0)).to.deep.equal([1_500, 2_500, 3_500, 4_500]);
    expect(sim.firstEventAt('ha-isolated', 'esx3')! - t0).to.equal(5_000);
    expect(sim.agent('esx3').currentRole).to.equal('isolated');
  });

  it('dead, isolated or partitioned: told apart by datastore heartbeats (and pings)', () => {
    // Dead: crashed, no sign of life (above). Isolated: datastore heartbeat moves and its poweron file says isolated.
    const iso = settled();
    iso.setMgmt('esx1', false);
    const t0 = iso.delivered.get('esx1>esx3')!;
    iso.advance(40_000);
    expect(iso.firstEventAt('ha-host-partitioned', 'esx3')! - t0).to.equal(18_000); // heartbeat moves, no flag yet
    expect(iso.firstEventAt('ha-host-isolated', 'esx3')).to.be.greaterThan(iso.firstEventAt('ha-isolated', 'esx1')!);
    expect(iso.eventsOf('ha-host-dead')).to.deep.equal([]);
    expect(iso.agent('esx3').peerState('esx1')).to.equal('isolated');
    // Partitioned: the agent stopped, the host runs on (datastore heartbeat moves, no isolation flag).
    const part = settled();
    part.stopAgent('esx1');
    const p0 = part.delivered.get('esx1>esx3')!;
    part.advance(30_000);
    expect(part.firstEventAt('ha-host-partitioned', 'esx3')! - p0).to.equal(18_000);
    expect(part.eventsOf('ha-host-dead')).to.deep.equal([]);
    expect(part.eventsOf('ha-restart-attempted')).to.deep.equal([]);
    // Without heartbeat datastores, the management address answering is the sign of life (T15s).
    const ping = settled({ ha: { heartbeatDatastoresPerHost: 0 } });
    ping.stopAgent('esx1');
    const q0 = ping.delivered.get('esx1>esx3')!;
    ping.advance(30_000);
    expect(ping.firstEventAt('ha-host-partitioned', 'esx3')! - q0).to.equal(15_000);
    expect(ping.eventsOf('ha-host-dead')).to.deep.equal([]);
  });

  it('an isolated host that then crashes is declared dead once its datastore heartbeat has stood still for 15 s', () => {
    const sim = settled();
    sim.setMgmt('esx1', false);
    sim.advance(40_000);
    expect(sim.agent('esx3').peerState('esx1')).to.equal('isolated');
    sim.crash('esx1');
    const lastPulse = sim.host('esx1').lastPulseMs;
    sim.advance(25_000);
    const dead = sim.firstEventAt('ha-host-dead', 'esx3')!;
    // The last change the primary saw is the first read after the last pulse (reads every second).
    expect(dead - lastPulse).to.be.within(15_000, 16_000);
    expect(sim.violations).to.deep.equal([]);
  });
});
