// Beacon probing: frame codec and failure inference on a ManualClock (spec §3.9).
import { expect } from 'chai';
import { ManualClock } from '../../lib/clock.js';
import {
  BEACON_INTERVAL_MS,
  buildBeacon,
  emitBeacon,
  isBeaconFrame,
  parseBeacon,
  beaconFrameBytes,
} from '../../lib/teaming/beacon.js';
import { TeamingEngine, type TeamingAction } from '../../lib/teaming/engine.js';
import { NICS, NIC_MACS, beaconRound, deliverBeacons, frame, kinds, policy } from './helpers.js';

const FIXTURE_UNTAGGED =
  'ffffffffffff' + '001b21000a02' + '8922' + '5646424e' + '01' + '06' + '0000002a' + '766d6e696332' + '00'.repeat(30);
const FIXTURE_TAGGED = 'ffffffffffff' + '001b21000a00' + '8100' + '0064' + '8922' + '5646424e' + '01' + '06' + 'ffffffff' + '766d6e696330' + '00'.repeat(26);

describe('beacon codec (§3.9)', () => {
  it('parses the untagged fixture and emits it back byte for byte into a 0xa5 buffer', () => {
    const bytes = Buffer.from(FIXTURE_UNTAGGED, 'hex');
    expect(bytes.length).to.equal(60);
    const r = parseBeacon(bytes);
    expect(r.ok).to.equal(true);
    if (!r.ok) return;
    expect(r.value).to.deep.equal({ src: 0x001b21000a02, vlanId: 0, seq: 42, uplinkName: 'vmnic2' });
    const out = Buffer.alloc(beaconFrameBytes(r.value), 0xa5);
    expect(emitBeacon(r.value, out)).to.equal(60);
    expect(out.toString('hex')).to.equal(FIXTURE_UNTAGGED);
  });
  it('round-trips an 802.1Q-tagged beacon (one per VLAN in use)', () => {
    const bytes = Buffer.from(FIXTURE_TAGGED, 'hex');
    const r = parseBeacon(bytes);
    expect(r.ok && r.value).to.deep.equal({ src: 0x001b21000a00, vlanId: 100, seq: 0xffffffff, uplinkName: 'vmnic0' });
    expect(buildBeacon({ src: 0x001b21000a00, vlanId: 100, seq: 0xffffffff, uplinkName: 'vmnic0' }).toString('hex')).to.equal(FIXTURE_TAGGED);
    expect(isBeaconFrame(bytes)).to.equal(true);
  });
  it('returns typed errors for truncated, foreign and non-beacon frames (never throws)', () => {
    const bytes = Buffer.from(FIXTURE_UNTAGGED, 'hex');
    const codeOf = (b: Uint8Array): string => {
      const r = parseBeacon(b);
      return r.ok ? 'ok' : r.error.code;
    };
    expect(codeOf(bytes.subarray(0, 10))).to.equal('VFAB_BEACON_TRUNCATED');
    expect(codeOf(bytes.subarray(0, 20))).to.equal('VFAB_BEACON_TRUNCATED');
    const ip = Buffer.from(bytes);
    ip[12] = 0x08;
    ip[13] = 0x00;
    expect(codeOf(ip)).to.equal('VFAB_BEACON_NOT_BEACON');
    expect(isBeaconFrame(ip)).to.equal(false);
    const foreign = Buffer.from(bytes);
    foreign[14] = 0; // ESXi's own payload is not ours
    expect(codeOf(foreign)).to.equal('VFAB_BEACON_BAD_MAGIC');
    const longName = Buffer.from(bytes);
    longName[19] = 200;
    expect(codeOf(longName)).to.equal('VFAB_BEACON_BAD_NAME');
  });
  it('refuses to emit a name that is too long', () => {
    expect(() => buildBeacon({ src: 1, vlanId: 0, seq: 1, uplinkName: 'x'.repeat(33) })).to.throw(/at most 32/);
  });
});

/** Three-uplink team on explicit failover: active vmnic2, vmnic0; standby vmnic1; vmnic3 unused. */
function threeNicEngine(clock: ManualClock, extra: Partial<ConstructorParameters<typeof TeamingEngine>[0]> = {}): TeamingEngine {
  return new TeamingEngine({
    uplinks: NICS,
    uplinkMacs: NIC_MACS,
    vswitchPolicy: policy({ loadBalancing: 'explicit', active: ['vmnic2', 'vmnic0'], standby: ['vmnic1'], failureDetection: 'beaconProbing' }),
    clock,
    ...extra,
  });
}
const everyone = (): boolean => true;
const isolate = (bad: number) => (from: number, to: number): boolean => from !== bad && to !== bad;
const P = { portId: 1, portGroup: 'VM Network', mac: 0x005056800001 };
const ANY = frame({});
const types = (actions: TeamingAction[]): string[] => kinds(actions, 'event').map((a) => (a as { type: string }).type);

describe('beacon probing in the teaming engine (§3.9)', () => {
  it('§3.9 every team NIC (not unused ones) sends one broadcast beacon per second', () => {
    const clock = new ManualClock(0);
    const e = threeNicEngine(clock);
    expect(e.nextDeadlineMs()).to.equal(0);
    const first = e.tick();
    expect(first.map((a) => a.kind === 'beacon' && [a.uplink, a.vlanId])).to.deep.equal([[0, 0], [1, 0], [2, 0]]);
    expect(e.nextDeadlineMs()).to.equal(BEACON_INTERVAL_MS);
    clock.advance(999);
    expect(e.tick()).to.deep.equal([]);
    clock.advance(1);
    expect(kinds(e.tick(), 'beacon')).to.have.length(3);
    const b = first[0] as Extract<TeamingAction, { kind: 'beacon' }>;
    const parsed = parseBeacon(b.frame);
    expect(parsed.ok && parsed.value).to.deep.include({ src: NIC_MACS[0], uplinkName: 'vmnic0', vlanId: 0 });
    expect(b.frame.subarray(0, 6).toString('hex')).to.equal('ffffffffffff');
  });
  it('§3.9 beacons go out on each VLAN in use, 802.1Q-tagged', () => {
    const clock = new ManualClock(0);
    const e = threeNicEngine(clock, { portGroupVlans: { a: 10, b: 20, trunk: 4095 } });
    const sends = kinds(e.tick(), 'beacon').map((a) => a.kind === 'beacon' && `${a.uplink}/${a.vlanId}`);
    expect(sends).to.deep.equal(['0/10', '0/20', '1/10', '1/20', '2/10', '2/20']);
  });
  it('§3.9 an uplink that fails silently behind a link that stays up is failed after exactly 3 missed intervals', () => {
    const clock = new ManualClock(0);
    const e = threeNicEngine(clock);
    e.portConnected(P);
    expect(e.selectEgress(P, ANY)).to.equal(0b100); // first active vmnic2
    deliverBeacons(e, e.tick(), isolate(2)); // t=0: round 1 sent, vmnic2's upstream is broken
    expect(beaconRound(clock, e, isolate(2))).to.deep.equal([]); // t=1000: 1 miss
    expect(beaconRound(clock, e, isolate(2))).to.deep.equal([]); // t=2000: 2 misses
    expect(e.selectEgress(P, ANY)).to.equal(0b100);
    const actions = beaconRound(clock, e, isolate(2)); // t=3000: 3 misses
    expect(types(actions)).to.deep.equal(['beacon-failed']);
    expect(kinds(actions, 'repin')).to.deep.equal([{ kind: 'repin', portId: 1, from: 2, to: 0, toMask: 0b001, reason: 'failover' }]);
    expect(kinds(actions, 'notify')).to.have.length(1);
    expect(e.selectEgress(P, ANY)).to.equal(0b001);
    expect(e.acceptsIngress(P, 2, ANY)).to.equal(false);
    expect(e.uplinkStatus().map((r) => r.beacon)).to.deep.equal(['ok', 'ok', 'failed', 'n/a']);
    expect(e.uplinkStatus()[2]!.link).to.equal('up');
    expect(e.describePort(1).reason).to.equal('active uplink vmnic0 (explicit: first healthy active); vmnic2 beacon failed');
  });
  it('§3.9 §3.8 a beacon-failed uplink that hears its mates again fails back', () => {
    const clock = new ManualClock(0);
    const e = threeNicEngine(clock);
    e.portConnected(P);
    deliverBeacons(e, e.tick(), isolate(2));
    for (let i = 0; i < 3; i++) beaconRound(clock, e, isolate(2));
    expect(e.selectEgress(P, ANY)).to.equal(0b001);
    const actions = beaconRound(clock, e, everyone);
    expect(types(actions)).to.deep.equal([]); // the healed round is judged at the next boundary
    const healed = beaconRound(clock, e, everyone);
    expect(types(healed)).to.deep.equal(['beacon-restored']);
    expect(kinds(healed, 'repin')).to.deep.equal([{ kind: 'repin', portId: 1, from: 0, to: 2, toMask: 0b100, reason: 'failback' }]);
  });
  it('§3.9 a single missed beacon resets when the next one arrives (consecutive misses only)', () => {
    const clock = new ManualClock(0);
    const e = threeNicEngine(clock);
    e.portConnected(P);
    deliverBeacons(e, e.tick(), isolate(2));
    beaconRound(clock, e, isolate(2));
    beaconRound(clock, e, everyone); // closes a missed round: 2 misses
    beaconRound(clock, e, isolate(2)); // closes a heard round: reset
    beaconRound(clock, e, isolate(2));
    expect(e.selectEgress(P, ANY)).to.equal(0b100);
    beaconRound(clock, e, isolate(2));
    expect(types(beaconRound(clock, e, isolate(2)))).to.deep.equal(['beacon-failed']);
  });
  it('§3.9 with 2 NICs a failure is ambiguous: shotgun out both uplinks, then back', () => {
    const clock = new ManualClock(0);
    const e = new TeamingEngine({
      uplinks: ['vmnic0', 'vmnic1'],
      uplinkMacs: NIC_MACS.slice(0, 2),
      vswitchPolicy: policy({ failureDetection: 'beaconProbing' }),
      clock,
    });
    e.portConnected(P);
    expect(e.selectEgress(P, ANY)).to.equal(0b10);
    const none = (): boolean => false;
    deliverBeacons(e, e.tick(), none, 2);
    beaconRound(clock, e, none, 1000, 2);
    beaconRound(clock, e, none, 1000, 2);
    const actions = beaconRound(clock, e, none, 1000, 2);
    expect(types(actions)).to.deep.equal(['shotgun-on']);
    expect(kinds(actions, 'repin')).to.deep.equal([{ kind: 'repin', portId: 1, from: 1, to: null, toMask: 0b11, reason: 'shotgun' }]);
    expect(e.selectEgress(P, ANY)).to.equal(0b11);
    expect(e.describePort(1)).to.deep.equal({ uplink: null, uplinks: ['vmnic0', 'vmnic1'], reason: 'shotgun: beacon failure ambiguous with 2 uplinks (sending on vmnic0, vmnic1)' });
    beaconRound(clock, e, everyone, 1000, 2);
    const back = beaconRound(clock, e, everyone, 1000, 2);
    expect(types(back)).to.deep.equal(['shotgun-off']);
    expect(e.selectEgress(P, ANY)).to.equal(0b10);
  });
  it('§3.9 with 4 NICs two silent failures are told apart (n-2)', () => {
    const clock = new ManualClock(0);
    const e = new TeamingEngine({ uplinks: NICS, uplinkMacs: NIC_MACS, vswitchPolicy: policy({ active: NICS, failureDetection: 'beaconProbing' }), clock });
    const reach = (a: number, b: number): boolean => a < 2 && b < 2; // only vmnic0 <-> vmnic1 work
    deliverBeacons(e, e.tick(), reach);
    beaconRound(clock, e, reach);
    beaconRound(clock, e, reach);
    const actions = beaconRound(clock, e, reach);
    expect(types(actions)).to.deep.equal(['beacon-failed', 'beacon-failed']);
    expect(kinds(actions, 'event').map((a) => (a as { uplink: number }).uplink)).to.deep.equal([2, 3]);
    e.portConnected({ ...P, portId: 3 });
    expect(e.selectEgress({ ...P, portId: 3 }, ANY)).to.equal(0b10); // 3 mod 2 healthy = vmnic1
  });
  it('§3.9 a VLAN missing on one uplink trunk is detected (§2.7)', () => {
    const clock = new ManualClock(0);
    const e = threeNicEngine(clock, { vlansInUse: [10, 20] });
    e.portConnected(P);
    // vmnic2's trunk does not carry VLAN 20: its VLAN-20 beacons neither leave nor arrive
    const reach = (from: number, to: number, f?: Buffer): boolean => !(f && f[15] === 20 && (from === 2 || to === 2));
    const deliver = (actions: TeamingAction[]): void => {
      for (const a of actions) if (a.kind === 'beacon') for (let to = 0; to < 3; to++) if (to !== a.uplink && reach(a.uplink, to, a.frame)) e.onBeacon(to, a.frame);
    };
    deliver(e.tick());
    let last: TeamingAction[] = [];
    for (let i = 0; i < 3; i++) {
      clock.advance(1000);
      last = e.tick();
      deliver(last);
    }
    expect(types(last)).to.deep.equal(['beacon-failed']);
    expect(e.selectEgress(P, ANY)).to.equal(0b001);
  });
  it('§3.9 failure detection combines link status: a link-down NIC fails over at once and stops beaconing', () => {
    const clock = new ManualClock(0);
    const e = threeNicEngine(clock);
    e.portConnected(P);
    e.tick();
    const actions = e.setLinkState(2, false);
    expect(kinds(actions, 'repin')).to.have.length(1);
    expect(e.selectEgress(P, ANY)).to.equal(0b001);
    clock.advance(1000);
    expect(kinds(e.tick(), 'beacon').map((a) => a.kind === 'beacon' && a.uplink)).to.deep.equal([0, 1]);
  });
  it('§3.9 a link-status port group ignores beacon verdicts of the same uplink', () => {
    const clock = new ManualClock(0);
    const e = threeNicEngine(clock, { portGroupPolicies: { ls: { failureDetection: 'linkStatus' } } });
    const Q = { portId: 2, portGroup: 'ls', mac: 0x005056800002 };
    e.portConnected(P);
    e.portConnected(Q);
    deliverBeacons(e, e.tick(), isolate(2));
    for (let i = 0; i < 3; i++) beaconRound(clock, e, isolate(2));
    expect(e.selectEgress(P, ANY)).to.equal(0b001);
    expect(e.selectEgress(Q, ANY)).to.equal(0b100);
  });
  it('ignores malformed beacons, beacons from unknown MACs and on VLANs not in use', () => {
    const clock = new ManualClock(0);
    const e = threeNicEngine(clock);
    expect(e.onBeacon(0, frame({ type: 0x8922 }))).to.equal(false);
    expect(e.onBeacon(0, buildBeacon({ src: 0x0000000000aa, vlanId: 0, seq: 1, uplinkName: 'x' }))).to.equal(false);
    expect(e.onBeacon(0, buildBeacon({ src: NIC_MACS[1]!, vlanId: 55, seq: 1, uplinkName: 'vmnic1' }))).to.equal(false);
    expect(e.onBeacon(0, buildBeacon({ src: NIC_MACS[1]!, vlanId: 0, seq: 1, uplinkName: 'vmnic1' }))).to.equal(true);
  });
  it('a late tick does not count the rounds it skipped', () => {
    const clock = new ManualClock(0);
    const e = threeNicEngine(clock);
    e.portConnected(P);
    deliverBeacons(e, e.tick(), everyone);
    clock.advance(10_000);
    const actions = e.tick();
    expect(types(actions)).to.deep.equal([]);
    expect(e.nextDeadlineMs()).to.equal(11_000);
  });
});
