// Spec coverage audit (docs/spec-coverage.md): rules of spec §1 and §4 that the unit tests in
// test/vswitch pinned only in part. Here the vSwitch runs with the real teaming engine as its uplink
// selector (as EsxHost wires it), so §1.5/§1.7/§1.10 are checked against a real pin rather than the
// default first-uplink selector; plus multicast rules of §1.8/§1.9 (IGMP not interpreted, groups sharing
// a MAC) and §4.2/§4.3 with multicast. Fixed frames, ManualClock. Leaves out what test/vswitch pins.

import { expect } from 'chai';
import { ManualClock } from '../../lib/clock.js';
import { TeamingEngine } from '../../lib/teaming/engine.js';
import type { TeamingPolicy } from '../../lib/teaming/policy.js';
import { VSwitch } from '../../lib/vswitch/vswitch.js';
import { buildFrame, ETHERTYPE_IPV4 } from '../../lib/wire/ethernet.js';
import { parseMac } from '../../lib/wire/mac.js';
import { MAC, broadcast, multicast, tagged, unicast } from '../vswitch/frames.js';
import { portIdsOf, uplinksOf } from '../vswitch/harness.js';

const POLICY: TeamingPolicy = {
  loadBalancing: 'srcPortId', active: ['vmnic0', 'vmnic1'], standby: [], failback: true, notifySwitches: true, failureDetection: 'linkStatus',
};

/** A vSwitch with two uplinks whose selector is a real TeamingEngine (srcPortId), as EsxHost sets it up. */
function teamed(security: { allowPromiscuous?: boolean; allowMacChanges?: boolean } = {}): {
  vs: VSwitch; engine: TeamingEngine; connect(pg: string, mac: number): number;
} {
  const vs = new VSwitch({
    name: 'vSwitch0',
    uplinks: ['vmnic0', 'vmnic1'],
    security,
    notifySwitches: false,
    portGroups: [{ name: 'est', vlanId: 0 }, { name: 'v10', vlanId: 10 }, { name: 'v20', vlanId: 20 }],
  });
  const engine = new TeamingEngine({ uplinks: ['vmnic0', 'vmnic1'], vswitchPolicy: POLICY, portGroupPolicies: {}, clock: new ManualClock(0) });
  vs.setUplinkSelector(engine);
  return {
    vs,
    engine,
    connect(pg: string, mac: number): number {
      const portId = vs.connectPort({ portGroup: pg, initialMac: mac });
      engine.portConnected({ portId, portGroup: pg, mac });
      return portId;
    },
  };
}

/** The uplink index a srcPortId engine pins `portId` to with two healthy actives (§3.2). */
const pin = (portId: number): number => portId % 2;

/** An IPv4 multicast frame to group `groupIp` (dotted) with the RFC 1112 group MAC. */
function ipMulticast(groupIp: string, src: number, protocol = 17): Buffer {
  const o = groupIp.split('.').map(Number);
  const dst = 0x01005e000000 + ((o[1]! & 0x7f) << 16) + (o[2]! << 8) + o[3]!;
  const ip = [0x45, 0, 0, 28, 0, 0, 0, 0, 1, protocol, 0, 0, 192, 0, 2, 11, ...o, ...new Array(8).fill(0)];
  return buildFrame({ dst, src, etherType: ETHERTYPE_IPV4 }, Uint8Array.from([...ip, ...new Array(18).fill(0)]));
}

describe('spec audit: vSwitch forwarding with the real teaming engine (§1.5, §1.7, §1.10)', () => {
  it('§1.5 unknown unicast from a VM leaves once, by the uplink its srcPortId pin names (both pins)', () => {
    const t = teamed();
    const a = t.connect('est', MAC.vm1);
    const b = t.connect('est', MAC.vm2);
    expect(pin(a)).to.not.equal(pin(b), 'the two ports are pinned to different uplinks');
    const ra = t.vs.fromPort(a, unicast(MAC.unknown, MAC.vm1));
    expect(ra.portCount).to.equal(0);
    expect(uplinksOf(ra)).to.deep.equal([pin(a)]);
    const rb = t.vs.fromPort(b, unicast(MAC.unknown, MAC.vm2));
    expect(uplinksOf(rb)).to.deep.equal([pin(b)]);
  });

  it('§1.7 a VM broadcast reaches the other local ports of its VLAN and exactly one uplink: its pinned one', () => {
    const t = teamed();
    const a = t.connect('v10', MAC.vm1);
    const b = t.connect('v10', MAC.vm2);
    t.connect('v20', MAC.vm3);
    for (const [src, mac, other] of [[a, MAC.vm1, b], [b, MAC.vm2, a]] as const) {
      const r = t.vs.fromPort(src, broadcast(mac));
      expect(portIdsOf(r)).to.deep.equal([other]);
      expect(uplinksOf(r)).to.deep.equal([pin(src)]);
    }
  });

  it('§1.10 a broadcast the physical switch floods on both uplinks reaches every port exactly once', () => {
    const t = teamed();
    const ports = [t.connect('est', MAC.vm1), t.connect('est', MAC.vm2), t.connect('est', MAC.vm3), t.connect('est', MAC.vm4)];
    const seen = new Map<number, number>();
    for (const uplink of [0, 1]) {
      const r = t.vs.fromUplink(uplink, broadcast(MAC.remote));
      for (const p of portIdsOf(r)) {
        expect(pin(p), `port ${p} got the copy from uplink ${uplink}`).to.equal(uplink);
        seen.set(p, (seen.get(p) ?? 0) + 1);
      }
    }
    expect([...seen.entries()].sort((x, y) => x[0] - y[0])).to.deep.equal(ports.map((p) => [p, 1]));
  });

  it('§1.10 after a failover the port accepts inbound frames only on its new uplink', () => {
    const t = teamed();
    const a = t.connect('est', MAC.vm1);
    const old = pin(a);
    t.engine.setLinkState(old, false);
    t.vs.setUplinkUp(old, false);
    const now = 1 - old;
    expect(portIdsOf(t.vs.fromUplink(now, unicast(MAC.vm1, MAC.remote)))).to.deep.equal([a]);
    expect(uplinksOf(t.vs.fromPort(a, unicast(MAC.unknown, MAC.vm1)))).to.deep.equal([now]);
  });
});

describe('spec audit: multicast and broadcast from uplinks (§1.8, §1.9)', () => {
  it('§1.8 multicast and broadcast from an uplink never leave by another uplink, even with no local receiver', () => {
    const t = teamed();
    const a = t.connect('est', MAC.vm1);
    t.vs.setMulticastFilter(a, [MAC.mcast1]);
    const u = pin(a);
    const r1 = t.vs.fromUplink(u, multicast(MAC.mcast1, MAC.remote));
    expect(portIdsOf(r1)).to.deep.equal([a]);
    expect(r1.uplinkMask).to.equal(0);
    const r2 = t.vs.fromUplink(u, multicast(MAC.mcast2, MAC.remote));
    expect(r2.portCount).to.equal(0);
    expect(r2.uplinkMask).to.equal(0);
    expect(t.vs.fromUplink(u, broadcast(MAC.remote, { vid: 10 })).uplinkMask).to.equal(0);
  });

  it('§1.9 IGMP is not interpreted: a membership report goes out the uplink and does not subscribe the port', () => {
    const t = teamed();
    const a = t.connect('est', MAC.vm1);
    const report = ipMulticast('239.1.2.3', MAC.vm1, 2); // IGMPv2 report is sent to the group itself (RFC 2236)
    const r = t.vs.fromPort(a, report);
    expect(uplinksOf(r)).to.deep.equal([pin(a)]);
    // The port pushed no filter: traffic to 239.1.2.3 from the uplink does not reach it.
    const data = t.vs.fromUplink(pin(a), ipMulticast('239.1.2.3', MAC.remote));
    expect(data.portCount).to.equal(0);
    expect(data.dropReason).to.equal('no_destination');
  });

  it('§1.9 filtering is by MAC: a port subscribed to one group also gets another group that maps to the same MAC', () => {
    const t = teamed();
    const a = t.connect('est', MAC.vm1);
    t.vs.setMulticastFilter(a, [parseMac('01:00:5e:01:02:03')]); // 224.1.2.3
    expect(portIdsOf(t.vs.fromUplink(pin(a), ipMulticast('224.1.2.3', MAC.remote)))).to.deep.equal([a]);
    expect(portIdsOf(t.vs.fromUplink(pin(a), ipMulticast('225.129.2.3', MAC.remote)))).to.deep.equal([a], 'same low 23 bits');
    expect(t.vs.fromUplink(pin(a), ipMulticast('224.1.2.4', MAC.remote)).portCount).to.equal(0);
  });

  it('§1.9 a VM multicast reaches subscribed local ports and one uplink, not unsubscribed ports', () => {
    const t = teamed();
    const a = t.connect('v10', MAC.vm1);
    const b = t.connect('v10', MAC.vm2);
    t.connect('v10', MAC.vm3);
    t.vs.setMulticastFilter(b, [MAC.mcast2]);
    const r = t.vs.fromPort(a, multicast(MAC.mcast2, MAC.vm1));
    expect(portIdsOf(r)).to.deep.equal([b]);
    expect(uplinksOf(r)).to.deep.equal([pin(a)]);
  });
});

describe('spec audit: security policy with multicast (§4.2, §4.3)', () => {
  it('§4.2 Accept + guest promiscuous: the port gets unsubscribed multicast of its own VLAN only', () => {
    const t = teamed({ allowPromiscuous: true });
    const p = t.connect('v10', MAC.vm1);
    t.vs.setGuestPromiscuous(p, true);
    expect(portIdsOf(t.vs.fromUplink(pin(p), multicast(MAC.mcast1, MAC.remote, { vid: 10 })))).to.deep.equal([p]);
    expect(t.vs.fromUplink(pin(p), multicast(MAC.mcast1, MAC.remote, { vid: 20 })).portCount).to.equal(0);
    expect(t.vs.fromUplink(pin(p), tagged(MAC.unknown, MAC.remote, 20)).portCount).to.equal(0);
  });

  it('§4.3 Reject: after a MAC change the port receives nothing, subscribed multicast included', () => {
    const t = teamed();
    const a = t.connect('est', MAC.vm1);
    const b = t.connect('est', MAC.vm2);
    t.vs.setMulticastFilter(b, [MAC.mcast1]);
    expect(portIdsOf(t.vs.fromPort(a, multicast(MAC.mcast1, MAC.vm1)))).to.deep.equal([b]);
    t.vs.setEffectiveMac(b, MAC.vm5);
    expect(t.vs.fromPort(a, multicast(MAC.mcast1, MAC.vm1)).portCount).to.equal(0);
    expect(t.vs.fromUplink(pin(b), multicast(MAC.mcast1, MAC.remote)).portCount).to.equal(0);
    t.vs.setEffectiveMac(b, MAC.vm2);
    expect(portIdsOf(t.vs.fromPort(a, multicast(MAC.mcast1, MAC.vm1)))).to.deep.equal([b]);
  });
});
