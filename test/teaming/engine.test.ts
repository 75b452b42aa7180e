// Teaming engine: load balancing, failover/failback, notify switches, reverse path, validation (spec §3, §1.10).
import { expect } from 'chai';
import { ManualClock } from '../../lib/clock.js';
import { TeamingEngine, ipHashByte, type TeamingAction, type TeamingEngineOptions } from '../../lib/teaming/engine.js';
import type { TeamingPolicy } from '../../lib/teaming/policy.js';
import { VfabError } from '../../lib/errors.js';
import { NICS, NIC_MACS, frame, ipv4, kinds, policy } from './helpers.js';

const PORT_MAC = 0x005056800010;

function engine(vs: Partial<TeamingPolicy> = {}, extra: Partial<TeamingEngineOptions> = {}): TeamingEngine {
  return new TeamingEngine({ uplinks: NICS, vswitchPolicy: policy(vs), portGroupPolicies: {}, clock: new ManualClock(0), ...extra });
}
function port(portId: number, portGroup = 'VM Network', mac = PORT_MAC + portId) {
  return { portId, portGroup, mac };
}
function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).to.be.instanceOf(VfabError);
    return (e as VfabError).code;
  }
  throw new Error('expected a VfabError');
}
const ANY = frame({});

describe('teaming engine: validation', () => {
  it('§3.1 refuses a NIC in both the active and the standby list', () => {
    expect(code(() => engine({ active: ['vmnic0', 'vmnic1'], standby: ['vmnic1'] }))).to.equal('VFAB_TEAMING_NIC_IN_BOTH');
  });
  it('§3.1 refuses the same conflict when it only appears in a port-group override', () => {
    expect(code(() => engine({}, { portGroupPolicies: { pg: { active: ['vmnic2'], standby: ['vmnic2'] } } }))).to.equal('VFAB_TEAMING_NIC_IN_BOTH');
  });
  it('refuses an unknown NIC name', () => {
    expect(code(() => engine({ active: ['vmnic9'] }))).to.equal('VFAB_TEAMING_UNKNOWN_NIC');
    expect(code(() => engine({}, { portGroupPolicies: { pg: { standby: ['eth0'] } } }))).to.equal('VFAB_TEAMING_UNKNOWN_NIC');
  });
  it('refuses duplicate NICs in a list and duplicate uplink names', () => {
    expect(code(() => engine({ active: ['vmnic0', 'vmnic0'] }))).to.equal('VFAB_TEAMING_DUPLICATE_NIC');
    expect(code(() => new TeamingEngine({ uplinks: ['a', 'a'], vswitchPolicy: policy({ active: ['a'] }), clock: new ManualClock() }))).to.equal('VFAB_TEAMING_DUPLICATE_NIC');
  });
  it('§3.4 refuses IP hash with standby NICs or with unused NICs', () => {
    expect(code(() => engine({ loadBalancing: 'ipHash', active: ['vmnic0', 'vmnic1', 'vmnic2'], standby: ['vmnic3'] }))).to.equal('VFAB_TEAMING_IPHASH_STANDBY');
    expect(code(() => engine({ loadBalancing: 'ipHash', active: ['vmnic0', 'vmnic1'] }))).to.equal('VFAB_TEAMING_IPHASH_STANDBY');
  });
  it('§3.4 §3.9 refuses IP hash combined with beacon probing', () => {
    expect(code(() => engine({ loadBalancing: 'ipHash', active: NICS, failureDetection: 'beaconProbing' }, { uplinkMacs: NIC_MACS }))).to.equal('VFAB_TEAMING_IPHASH_BEACON');
  });
  it('§3.9 refuses beacon probing with a single team NIC, and without uplink MACs', () => {
    expect(code(() => engine({ active: ['vmnic0'], failureDetection: 'beaconProbing' }, { uplinkMacs: NIC_MACS }))).to.equal('VFAB_TEAMING_BEACON_ONE_UPLINK');
    expect(code(() => engine({ failureDetection: 'beaconProbing' }))).to.equal('VFAB_TEAMING_BEACON_NO_MAC');
  });
  it('refuses an unknown load-balancing value and a notify count above 8 (§3.10)', () => {
    expect(code(() => engine({ loadBalancing: 'loadBased' as never }))).to.equal('VFAB_TEAMING_BAD_POLICY');
    expect(code(() => engine({}, { notifyCount: 9 }))).to.equal('VFAB_TEAMING_BAD_POLICY');
  });
  it('refuses more than 32 uplinks', () => {
    const many = Array.from({ length: 33 }, (_, i) => `vmnic${i}`);
    expect(code(() => new TeamingEngine({ uplinks: many, vswitchPolicy: policy({ active: ['vmnic0'] }), clock: new ManualClock() }))).to.equal('VFAB_TEAMING_TOO_MANY_UPLINKS');
  });
});

describe('teaming engine: load balancing', () => {
  it('§3.2 srcPortId pins port to portId mod nActiveHealthy, whatever the frame', () => {
    const e = engine({ active: ['vmnic0', 'vmnic1'] });
    for (const id of [4, 7, 10, 13]) e.portConnected(port(id));
    expect(e.selectEgress(port(4), ANY)).to.equal(0b01);
    expect(e.selectEgress(port(7), ANY)).to.equal(0b10);
    expect(e.selectEgress(port(10), frame({ src: 0x0000000000ff }))).to.equal(0b01);
    expect(e.selectEgress(port(13), ipv4('10.0.0.1', '10.0.0.2'))).to.equal(0b10);
    expect(e.describePort(7)).to.deep.equal({ uplink: 'vmnic1', uplinks: ['vmnic1'], reason: 'active uplink vmnic1 (srcPortId: port 7 mod 2 healthy active = 1)' });
  });
  it('§3.2 srcPortId recomputes pins only when the healthy active set changes', () => {
    const e = engine({ active: ['vmnic0', 'vmnic1', 'vmnic2'] });
    e.portConnected(port(3)); // 3 mod 3 = 0 -> vmnic0
    e.portConnected(port(7)); // 7 mod 3 = 1 -> vmnic1
    expect(e.selectEgress(port(3), ANY)).to.equal(0b001);
    expect(e.setLinkState(3, false)).to.deep.equal([{ kind: 'event', type: 'link-down', uplink: 3, message: 'vmnic3 link down' }]); // unused NIC: no repin
    expect(e.selectEgress(port(3), ANY)).to.equal(0b001);
    const actions = e.setLinkState(1, false); // active set [0,2]: 3 mod 2 = 1 -> vmnic2; 7 mod 2 = 1 -> vmnic2
    expect(e.selectEgress(port(3), ANY)).to.equal(0b100);
    expect(e.selectEgress(port(7), ANY)).to.equal(0b100);
    expect(kinds(actions, 'repin')).to.deep.equal([
      { kind: 'repin', portId: 3, from: 0, to: 2, toMask: 0b100, reason: 'failover' },
      { kind: 'repin', portId: 7, from: 1, to: 2, toMask: 0b100, reason: 'failover' },
    ]);
  });
  it('§3.3 srcMac uses lastByte(srcMac) mod n per frame, so several source MACs use several uplinks', () => {
    const e = engine({ loadBalancing: 'srcMac', active: ['vmnic0', 'vmnic1', 'vmnic2'] });
    e.portConnected(port(1, 'VM Network', 0x005056800004)); // 4 mod 3 = 1
    expect(e.selectEgress(port(1), frame({ src: 0x005056800004 }))).to.equal(0b010);
    expect(e.selectEgress(port(1), frame({ src: 0x005056800005 }))).to.equal(0b100);
    expect(e.selectEgress(port(1), frame({ src: 0x0050568000ff }))).to.equal(0b001); // 255 mod 3 = 0
    expect(e.describePort(1).reason).to.equal('active uplink vmnic1 (srcMac: last byte 0x04 of 00:50:56:80:00:04 mod 3 healthy active = 1)');
  });
  it('§3.4 ipHash uses (lastOctet(srcIP) XOR lastOctet(dstIP)) mod n, also behind an 802.1Q tag', () => {
    const e = engine({ loadBalancing: 'ipHash', active: NICS });
    e.portConnected(port(1));
    expect(e.selectEgress(port(1), ipv4('10.0.0.1', '10.0.0.2'))).to.equal(1 << 3); // 1^2 = 3
    expect(e.selectEgress(port(1), ipv4('10.0.0.5', '192.168.1.1'))).to.equal(1 << 0); // 5^1 = 4 mod 4 = 0
    expect(e.selectEgress(port(1), ipv4('10.0.0.6', '10.0.0.3', 100))).to.equal(1 << 1); // 6^3 = 5 mod 4 = 1
    expect(e.describePort(1).uplinks).to.deep.equal(NICS);
  });
  it('§3.4 ipHash hashes non-IP frames on the words where the IPv4 addresses would be', () => {
    const payload = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x11, 0x22, 0x33, 0x44, 0x01, 0x02, 0x03, 0x04];
    const f = frame({ type: 0x88b5, payload });
    const expected = 0x11 ^ 0x22 ^ 0x33 ^ 0x44 ^ 0x01 ^ 0x02 ^ 0x03 ^ 0x04;
    expect(ipHashByte(f)).to.equal(expected);
    const e = engine({ loadBalancing: 'ipHash', active: NICS });
    e.portConnected(port(1));
    expect(e.selectEgress(port(1), f)).to.equal(1 << (expected % 4));
    // IPv6 uses the last bytes of the two addresses
    const v6 = new Array(40).fill(0);
    v6[23] = 0x07;
    v6[39] = 0x01;
    expect(ipHashByte(frame({ type: 0x86dd, payload: v6 }))).to.equal(6);
  });
  it('§3.5 explicit uses the first healthy active, then the standby list in order', () => {
    const e = engine({ loadBalancing: 'explicit', active: ['vmnic1', 'vmnic0'], standby: ['vmnic3', 'vmnic2'] });
    for (const id of [1, 2, 3]) e.portConnected(port(id));
    expect(e.selectEgress(port(1), ANY)).to.equal(0b0010);
    expect(e.selectEgress(port(2), ANY)).to.equal(0b0010);
    e.setLinkState(1, false);
    expect(e.selectEgress(port(3), ANY)).to.equal(0b0001);
    e.setLinkState(0, false);
    expect(e.selectEgress(port(3), ANY)).to.equal(0b1000);
    e.setLinkState(3, false);
    expect(e.selectEgress(port(3), ANY)).to.equal(0b0100);
    expect(e.describePort(3).reason).to.equal('standby vmnic2 in use: vmnic1 and vmnic0 down');
  });
  it('§3.1 unused NICs are never used, even when every team NIC is down', () => {
    const e = engine({ active: ['vmnic0'], standby: ['vmnic1'] });
    e.portConnected(port(5));
    e.setLinkState(0, false);
    e.setLinkState(1, false);
    expect(e.selectEgress(port(5), ANY)).to.equal(0);
    for (let u = 0; u < 4; u++) expect(e.acceptsIngress(port(5), u, ANY)).to.equal(false);
    expect(e.describePort(5).reason).to.equal('no usable uplink: vmnic0 down, vmnic1 down');
  });
  it('§3 port-group override inherits unspecified fields; an overridden order replaces active and standby', () => {
    const e = engine(
      { loadBalancing: 'explicit', active: ['vmnic0'], standby: ['vmnic1'], notifySwitches: true },
      { portGroupPolicies: { lb: { loadBalancing: 'srcPortId' }, order: { active: ['vmnic2'] }, quiet: { notifySwitches: false } } },
    );
    e.portConnected(port(1, 'lb'));
    e.portConnected(port(2, 'order'));
    e.portConnected(port(3, 'other'));
    expect(e.selectEgress(port(1, 'lb'), ANY)).to.equal(0b0001); // srcPortId over inherited active [vmnic0]
    expect(e.selectEgress(port(2, 'order'), ANY)).to.equal(0b0100);
    expect(e.selectEgress(port(3, 'other'), ANY)).to.equal(0b0001); // no override: vSwitch policy
    e.setLinkState(2, false);
    expect(e.selectEgress(port(2, 'order'), ANY)).to.equal(0, 'standby was not inherited with an overridden order');
    expect(e.setLinkState(0, false).filter((a) => a.kind === 'notify').map((a) => a.portId).sort()).to.deep.equal([1, 3]);
  });
  it('unknown ports select no uplink and accept nothing', () => {
    const e = engine();
    expect(e.selectEgress(port(99), ANY)).to.equal(0);
    expect(e.acceptsIngress(port(99), 0, ANY)).to.equal(false);
    expect(e.describePort(99).reason).to.equal('port 99 is not connected');
  });
});

describe('teaming engine: failover and failback', () => {
  const sb = { loadBalancing: 'explicit' as const, active: ['vmnic0', 'vmnic1'], standby: ['vmnic2'] };
  it('§3.7 an active failure moves ports to the remaining actives, then to standby when the actives are exhausted', () => {
    const e = engine({ ...sb, loadBalancing: 'srcPortId' });
    e.portConnected(port(2)); // 2 mod 2 = 0 -> vmnic0
    e.setLinkState(0, false);
    expect(e.selectEgress(port(2), ANY)).to.equal(0b010);
    const actions = e.setLinkState(1, false);
    expect(e.selectEgress(port(2), ANY)).to.equal(0b100);
    expect(kinds(actions, 'repin')).to.deep.equal([{ kind: 'repin', portId: 2, from: 1, to: 2, toMask: 0b100, reason: 'failover' }]);
    expect(e.describePort(2)).to.deep.equal({ uplink: 'vmnic2', uplinks: ['vmnic2'], reason: 'standby vmnic2 in use: vmnic0 and vmnic1 down' });
  });
  it('§3.8 failback Yes: a recovered active displaces its standby at once', () => {
    const e = engine(sb);
    e.portConnected(port(1));
    e.setLinkState(0, false);
    e.setLinkState(1, false);
    expect(e.selectEgress(port(1), ANY)).to.equal(0b100);
    const actions = e.setLinkState(1, true);
    expect(e.selectEgress(port(1), ANY)).to.equal(0b010);
    expect(kinds(actions, 'repin')).to.deep.equal([{ kind: 'repin', portId: 1, from: 2, to: 1, toMask: 0b010, reason: 'failback' }]);
    e.setLinkState(0, true);
    expect(e.selectEgress(port(1), ANY)).to.equal(0b001);
  });
  it('§3.8 failback No (rolling order): the standby stays in use after recovery until it fails', () => {
    const e = engine({ ...sb, failback: false });
    e.portConnected(port(1));
    e.setLinkState(0, false);
    expect(e.selectEgress(port(1), ANY)).to.equal(0b010);
    expect(kinds(e.setLinkState(0, true), 'repin')).to.deep.equal([]);
    expect(e.selectEgress(port(1), ANY)).to.equal(0b010, 'vmnic1 stays in use');
    expect(e.describePort(1).reason).to.equal('active uplink vmnic1 (explicit: first healthy active); vmnic0 recovered but failback is off');
    e.setLinkState(0, false);
    e.setLinkState(1, false);
    expect(e.selectEgress(port(1), ANY)).to.equal(0b100);
    e.setLinkState(0, true);
    e.setLinkState(1, true);
    expect(e.selectEgress(port(1), ANY)).to.equal(0b100, 'standby vmnic2 stays');
    e.setLinkState(2, false);
    expect(e.selectEgress(port(1), ANY)).to.equal(0b001, 'replacement is the first healthy active');
  });
  it('a repeated link state is a no-op', () => {
    const e = engine(sb);
    e.portConnected(port(1));
    expect(e.setLinkState(2, true)).to.deep.equal([]);
  });
  it('initialLinkDown starts links down', () => {
    const e = engine(sb, { initialLinkDown: ['vmnic0'] });
    e.portConnected(port(1));
    expect(e.selectEgress(port(1), ANY)).to.equal(0b010);
  });
});

describe('teaming engine: notify switches (§3.10)', () => {
  it('§3.10 power-on sends 5 RARPs on the pinned uplink, tagged with the VST VLAN', () => {
    const e = engine({}, { portGroupVlans: { 'VM Network': 100, untagged: 0 } });
    expect(e.portConnected(port(7))).to.deep.equal([{ kind: 'notify', portId: 7, mac: PORT_MAC + 7, uplink: 1, vlanId: 100, count: 5, reason: 'power-on' }]);
    expect(e.portConnected(port(8, 'untagged'))).to.deep.equal([{ kind: 'notify', portId: 8, mac: PORT_MAC + 8, uplink: 0, count: 5, reason: 'power-on' }]);
  });
  it('§3.10 failover and failback notify on the NEW uplink, once per moved port', () => {
    const e = engine({ loadBalancing: 'explicit', active: ['vmnic0'], standby: ['vmnic1'] }, { notifyCount: 8 });
    e.portConnected(port(1));
    e.portConnected(port(2));
    const over = kinds(e.setLinkState(0, false), 'notify');
    expect(over).to.deep.equal([
      { kind: 'notify', portId: 1, mac: PORT_MAC + 1, uplink: 1, count: 8, reason: 'failover' },
      { kind: 'notify', portId: 2, mac: PORT_MAC + 2, uplink: 1, count: 8, reason: 'failover' },
    ]);
    const back = kinds(e.setLinkState(0, true), 'notify') as Extract<TeamingAction, { kind: 'notify' }>[];
    expect(back.map((a) => [a.portId, a.uplink, a.reason])).to.deep.equal([[1, 0, 'failback'], [2, 0, 'failback']]);
  });
  it('§3.10 uplinks getting their first carrier notify as startup, a port back from no uplink as port-up; failover and failback keep theirs', () => {
    const e = engine({ loadBalancing: 'explicit', active: ['vmnic0'], standby: ['vmnic1'] }, { initialLinkDown: ['vmnic0', 'vmnic1'] });
    expect(e.portConnected(port(1)), 'powered on before any carrier: nothing to notify yet').to.deep.equal([]);
    const first = e.setLinkState(1, true); // the standby gets carrier first
    expect(kinds(first, 'repin')).to.deep.equal([{ kind: 'repin', portId: 1, from: null, to: 1, toMask: 0b10, reason: 'startup' }]);
    expect(kinds(first, 'notify')).to.deep.equal([{ kind: 'notify', portId: 1, mac: PORT_MAC + 1, uplink: 1, count: 5, reason: 'startup' }]);
    const reasons = (actions: TeamingAction[]) => kinds(actions, 'notify').map((a) => [a.uplink, a.reason]);
    expect(reasons(e.setLinkState(0, true)), 'the active comes up for the first time and takes the port').to.deep.equal([[0, 'startup']]);
    expect(reasons(e.setLinkState(0, false))).to.deep.equal([[1, 'failover']]);
    expect(reasons(e.setLinkState(0, true)), 'vmnic0 had been up: now it is a failback').to.deep.equal([[0, 'failback']]);
    e.setLinkState(0, false);
    e.setLinkState(1, false); // no uplink left
    expect(reasons(e.setLinkState(1, true)), 'back from no uplink at all').to.deep.equal([[1, 'port-up']]);
  });
  it('§3.10 a MAC change notifies with the new MAC', () => {
    const e = engine({ loadBalancing: 'srcMac' });
    e.portConnected(port(1, 'VM Network', 0x005056800002));
    const actions = e.portMacChanged(port(1, 'VM Network', 0x005056800003));
    expect(actions).to.deep.equal([
      { kind: 'repin', portId: 1, from: 0, to: 1, toMask: 0b10, reason: 'mac-change' },
      { kind: 'notify', portId: 1, mac: 0x005056800003, uplink: 1, count: 5, reason: 'mac-change' },
    ]);
  });
  it('§3.10 notify off in a port group sends nothing there while other groups still notify', () => {
    const e = engine({ loadBalancing: 'explicit' }, { portGroupPolicies: { nlb: { notifySwitches: false } } });
    expect(e.portConnected(port(1, 'nlb'))).to.deep.equal([]);
    expect(e.portConnected(port(2))).to.have.length(1);
    const actions = e.setLinkState(0, false);
    expect(kinds(actions, 'repin')).to.have.length(2);
    expect(kinds(actions, 'notify').map((a) => a.portId)).to.deep.equal([2]);
  });
  it('no notify when a port has no uplink', () => {
    const e = engine({ active: [] });
    expect(e.portConnected(port(1))).to.deep.equal([]);
  });
  it('a disconnected port is no longer re-pinned or notified', () => {
    const e = engine({ loadBalancing: 'explicit' });
    e.portConnected(port(1));
    e.portDisconnected(1);
    expect(kinds(e.setLinkState(0, false), 'notify')).to.deep.equal([]);
  });
});

describe('teaming engine: reverse path (§1.10)', () => {
  it('§1.10 srcPortId accepts inbound frames only from the pinned uplink, and follows failover', () => {
    const e = engine({ active: ['vmnic0', 'vmnic1'], standby: ['vmnic2'] });
    e.portConnected(port(1)); // vmnic1
    expect([0, 1, 2, 3].map((u) => e.acceptsIngress(port(1), u, ANY))).to.deep.equal([false, true, false, false]);
    e.setLinkState(1, false);
    expect([0, 1, 2, 3].map((u) => e.acceptsIngress(port(1), u, ANY))).to.deep.equal([true, false, false, false]);
  });
  it('§1.10 srcMac accepts only the uplink chosen by the port MAC', () => {
    const e = engine({ loadBalancing: 'srcMac' });
    e.portConnected(port(1, 'VM Network', 0x005056800009));
    expect([0, 1].map((u) => e.acceptsIngress(port(1), u, ANY))).to.deep.equal([false, true]);
  });
  it('§1.10 ipHash accepts any healthy active uplink, never a failed one', () => {
    const e = engine({ loadBalancing: 'ipHash', active: NICS });
    e.portConnected(port(1));
    e.setLinkState(2, false);
    expect([0, 1, 2, 3].map((u) => e.acceptsIngress(port(1), u, ANY))).to.deep.equal([true, true, false, true]);
    expect(e.acceptsIngress(port(1), 7, ANY)).to.equal(false);
    // after a failure the modulus shrinks to the 3 healthy NICs [0,1,3]: 1^2 = 3 mod 3 = 0
    expect(e.selectEgress(port(1), ipv4('10.0.0.1', '10.0.0.2'))).to.equal(0b0001);
  });
});

describe('teaming engine: status', () => {
  it('uplinkStatus reports link, beacon, vSwitch role and use', () => {
    const e = engine({ active: ['vmnic0'], standby: ['vmnic1'] });
    e.portConnected(port(1));
    e.setLinkState(0, false);
    expect(e.uplinkStatus()).to.deep.equal([
      { name: 'vmnic0', link: 'down', beacon: 'n/a', role: 'active', inUse: false },
      { name: 'vmnic1', link: 'up', beacon: 'n/a', role: 'standby', inUse: true },
      { name: 'vmnic2', link: 'up', beacon: 'n/a', role: 'unused', inUse: false },
      { name: 'vmnic3', link: 'up', beacon: 'n/a', role: 'unused', inUse: false },
    ]);
    expect(e.nextDeadlineMs()).to.equal(null);
    expect(e.tick()).to.deep.equal([]);
  });
  it('emits a no-uplink event when a team loses its last usable uplink', () => {
    const e = engine({ active: ['vmnic0'] });
    e.portConnected(port(1));
    const ev = kinds(e.setLinkState(0, false), 'event');
    expect(ev.map((a) => (a as { type: string }).type)).to.deep.equal(['link-down', 'no-uplink']);
  });
});
