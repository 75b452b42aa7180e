// vSwitch forwarding rules of spec §1 (told MAC table, split horizon, BPDUs, unicast/broadcast/multicast,
// reverse path, promiscuous duplicates, MTU) with fixed frames from frames.ts, plus malformed-frame and counter behaviour.

import { expect } from 'chai';
import sinon from 'sinon';
import { VSwitch, type VSwitchConfig } from '../../lib/vswitch/vswitch.js';
import type { UplinkSelector } from '../../lib/vswitch/uplink-selector.js';
import { MAX_FRAME_BYTES } from '../../lib/wire/ethernet.js';
import { MAC, bpdu, broadcast, frame, hex, multicast, tagged, unicast } from './frames.js';
import { portIdsOf, toPorts, uplinksOf } from './harness.js';

function config(over: Partial<VSwitchConfig> = {}): VSwitchConfig {
  return {
    name: 'vSwitch0',
    uplinks: ['vmnic0', 'vmnic1'],
    portGroups: [
      { name: 'est', vlanId: 0 },
      { name: 'v10', vlanId: 10 },
      { name: 'v10b', vlanId: 10 },
      { name: 'v20', vlanId: 20 },
      { name: 'trunk', vlanId: 4095 },
    ],
    ...over,
  };
}

describe('vswitch forwarding (§1)', () => {
  let vs: VSwitch;
  beforeEach(() => {
    vs = new VSwitch(config());
  });

  it('§1.1 the MAC table holds the registered (vlan, mac) of each port and is never learned from uplinks', () => {
    const a = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
    const b = vs.connectPort({ portGroup: 'est', initialMac: MAC.vm2 });
    vs.fromUplink(0, tagged(MAC.vm1, MAC.remote, 10));
    vs.fromUplink(0, broadcast(MAC.remote2));
    const table = vs.macTable().map((e) => [e.vlanId, e.mac, e.portId]);
    expect(table).to.have.deep.members([[10, MAC.vm1, a], [0, MAC.vm2, b]]);
    vs.disconnectPort(a);
    expect(vs.macTable().map((e) => e.portId)).to.deep.equal([b]);
  });

  it('§1.2 split horizon: a broadcast from one uplink never leaves by another uplink', () => {
    vs.connectPort({ portGroup: 'est', initialMac: MAC.vm1 });
    const r = vs.fromUplink(0, broadcast(MAC.remote));
    expect(r.uplinkMask).to.equal(0);
    expect(r.portCount).to.equal(1);
    const r2 = vs.fromUplink(0, unicast(MAC.remote2, MAC.remote));
    expect(r2.uplinkMask).to.equal(0);
  });

  it('§1.3 BPDUs from an uplink are dropped (bpdu_from_uplink); a VM BPDU may leave by an uplink', () => {
    const a = vs.connectPort({ portGroup: 'est', initialMac: MAC.vm1 });
    vs.setMulticastFilter(a, [MAC.bpdu]);
    vs.setGuestPromiscuous(a, true);
    const r = vs.fromUplink(0, bpdu(MAC.remote));
    expect(r.portCount).to.equal(0);
    expect(r.dropReason).to.equal('bpdu_from_uplink');
    expect(vs.counters().drops.bpdu_from_uplink).to.equal(1);
    const out = vs.fromPort(a, bpdu(MAC.vm1));
    expect(uplinksOf(out)).to.deep.equal([0]);
  });

  it('§1.4 known unicast goes to the owning port only, nothing to uplinks, bytes unchanged (no copy)', () => {
    const a = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
    const b = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm2 });
    vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm3 });
    const f = unicast(MAC.vm2, MAC.vm1);
    const r = vs.fromPort(a, f);
    expect(portIdsOf(r)).to.deep.equal([b]);
    expect(r.uplinkMask).to.equal(0);
    expect(r.portFrames[0]).to.equal(f);
    expect(r.dropReason).to.equal(null);
  });

  it('§1.5 unknown unicast from a VM: exactly one copy out of the selected uplink, no local flood', () => {
    const a = vs.connectPort({ portGroup: 'est', initialMac: MAC.vm1 });
    vs.connectPort({ portGroup: 'est', initialMac: MAC.vm2 });
    vs.connectPort({ portGroup: 'trunk', initialMac: MAC.vm3 });
    const f = unicast(MAC.unknown, MAC.vm1);
    const r = vs.fromPort(a, f);
    expect(r.portCount).to.equal(0);
    expect(uplinksOf(r)).to.deep.equal([0]);
    expect(hex(r.uplinkFrame!)).to.equal(hex(f));
  });

  it('§1.6 unknown unicast from an uplink is dropped (unknown_unicast_from_uplink)', () => {
    vs.connectPort({ portGroup: 'est', initialMac: MAC.vm1 });
    vs.connectPort({ portGroup: 'trunk', initialMac: MAC.vm2 });
    const r = vs.fromUplink(0, unicast(MAC.unknown, MAC.remote));
    expect(r.portCount).to.equal(0);
    expect(r.dropReason).to.equal('unknown_unicast_from_uplink');
    expect(vs.counters().drops.unknown_unicast_from_uplink).to.equal(1);
  });

  it('§1.6/§4.2 unknown unicast from an uplink reaches a promiscuous port of that VLAN', () => {
    vs = new VSwitch(config({ security: { allowPromiscuous: true } }));
    const a = vs.connectPort({ portGroup: 'est', initialMac: MAC.vm1 });
    vs.setGuestPromiscuous(a, true);
    const r = vs.fromUplink(0, unicast(MAC.unknown, MAC.remote));
    expect(portIdsOf(r)).to.deep.equal([a]);
  });

  it('§1.7 broadcast from a VM: every other port of the VLAN (any port group, VGT too) plus one uplink', () => {
    const a = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
    const b = vs.connectPort({ portGroup: 'v10b', initialMac: MAC.vm2 });
    vs.connectPort({ portGroup: 'v20', initialMac: MAC.vm3 });
    vs.connectPort({ portGroup: 'est', initialMac: MAC.vm4 });
    const t = vs.connectPort({ portGroup: 'trunk', initialMac: MAC.vm5 });
    const r = vs.fromPort(a, broadcast(MAC.vm1));
    expect(portIdsOf(r)).to.deep.equal([b, t]);
    expect(uplinksOf(r)).to.deep.equal([0]);
  });

  it('§1.8 broadcast from an uplink: ports of the matching VLAN only, no uplink', () => {
    const a = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
    const b = vs.connectPort({ portGroup: 'v10b', initialMac: MAC.vm2 });
    vs.connectPort({ portGroup: 'v20', initialMac: MAC.vm3 });
    vs.connectPort({ portGroup: 'est', initialMac: MAC.vm4 });
    const r = vs.fromUplink(0, broadcast(MAC.remote, { vid: 10 }));
    expect(portIdsOf(r)).to.deep.equal([a, b]);
    expect(r.uplinkMask).to.equal(0);
  });

  it('§1.8 a broadcast from an uplink for a VLAN with no ports is dropped as no_destination', () => {
    vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
    const r = vs.fromUplink(0, broadcast(MAC.remote, { vid: 30 }));
    expect(r.dropReason).to.equal('no_destination');
  });

  it('§1.9 multicast reaches only ports that subscribed to the group, from a VM and from an uplink', () => {
    const a = vs.connectPort({ portGroup: 'est', initialMac: MAC.vm1 });
    const b = vs.connectPort({ portGroup: 'est', initialMac: MAC.vm2 });
    const c = vs.connectPort({ portGroup: 'est', initialMac: MAC.vm3 });
    vs.setMulticastFilter(b, [MAC.mcast1]);
    vs.setMulticastFilter(c, [MAC.mcast2]);
    const r = vs.fromPort(a, multicast(MAC.mcast1, MAC.vm1));
    expect(portIdsOf(r)).to.deep.equal([b]);
    expect(uplinksOf(r)).to.deep.equal([0]);
    const r2 = vs.fromUplink(0, multicast(MAC.mcast2, MAC.remote));
    expect(portIdsOf(r2)).to.deep.equal([c]);
    const r3 = vs.fromUplink(0, multicast(0x01005e7f0001, MAC.remote));
    expect(r3.dropReason).to.equal('no_destination');
  });

  it('§1.9 a port with more than 32 multicast filters becomes all-multicast; 32 does not', () => {
    const a = vs.connectPort({ portGroup: 'est', initialMac: MAC.vm1 });
    const groups = Array.from({ length: 33 }, (_, i) => 0x01005e000100 + i);
    vs.setMulticastFilter(a, groups.slice(0, 32));
    expect(vs.fromUplink(0, multicast(0x01005e7f0001, MAC.remote)).portCount).to.equal(0);
    expect(vs.fromUplink(0, multicast(groups[31]!, MAC.remote)).portCount).to.equal(1);
    vs.setMulticastFilter(a, groups);
    expect(vs.ports()[0]!.allMulticast).to.equal(true);
    expect(portIdsOf(vs.fromUplink(0, multicast(0x01005e7f0001, MAC.remote)))).to.deep.equal([a]);
    vs.setMulticastFilter(a, []);
    expect(vs.fromUplink(0, multicast(groups[0]!, MAC.remote)).portCount).to.equal(0);
  });

  it('§1.9 a multicast filter entry must be a multicast MAC', () => {
    const a = vs.connectPort({ portGroup: 'est', initialMac: MAC.vm1 });
    expect(() => vs.setMulticastFilter(a, [MAC.vm2])).to.throw().with.property('code', 'VFAB_VSWITCH_BAD_MAC');
  });

  it('§1.10 reverse path: a broadcast returning on the uplink the port does not use is dropped', () => {
    const a = vs.connectPort({ portGroup: 'est', initialMac: MAC.vm1 });
    const r1 = vs.fromUplink(1, broadcast(MAC.remote));
    expect(r1.portCount).to.equal(0);
    expect(r1.dropReason).to.equal('reverse_path');
    expect(vs.ports()[0]!.counters.drops.reverse_path).to.equal(1);
    const r0 = vs.fromUplink(0, broadcast(MAC.remote));
    expect(portIdsOf(r0)).to.deep.equal([a]);
  });

  it('§1.10 reverse path is asked of the selector per port with the arriving uplink', () => {
    const a = vs.connectPort({ portGroup: 'est', initialMac: MAC.vm1 });
    const b = vs.connectPort({ portGroup: 'est', initialMac: MAC.vm2 });
    const sel: UplinkSelector = {
      selectEgress: (port) => (port.portId === a ? 1 : 2),
      acceptsIngress: sinon.spy((port, uplinkIndex: number) => (port.portId === a ? uplinkIndex === 0 : uplinkIndex === 1)),
    };
    vs.setUplinkSelector(sel);
    expect(portIdsOf(vs.fromUplink(0, broadcast(MAC.remote)))).to.deep.equal([a]);
    expect(portIdsOf(vs.fromUplink(1, broadcast(MAC.remote)))).to.deep.equal([b]);
    expect(portIdsOf(vs.fromUplink(1, unicast(MAC.vm2, MAC.remote)))).to.deep.equal([b]);
    expect(vs.fromUplink(0, unicast(MAC.vm2, MAC.remote)).dropReason).to.equal('reverse_path');
    expect((sel.acceptsIngress as sinon.SinonSpy).firstCall.args[0]).to.include({ portId: a });
  });

  it('§1.10 an uplink frame whose source is a local port MAC in the same VLAN is dropped (own_mac_reflection)', () => {
    const a = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
    const b = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm2 });
    const r = vs.fromUplink(0, broadcast(MAC.vm1, { vid: 10 }));
    expect(r.portCount).to.equal(0);
    expect(r.dropReason).to.equal('own_mac_reflection');
    // Same MAC in another VLAN is not ours: delivered.
    vs.connectPort({ portGroup: 'v20', initialMac: MAC.vm3 });
    expect(portIdsOf(vs.fromUplink(0, broadcast(MAC.vm3, { vid: 10 })))).to.deep.equal([a, b]);
  });

  it('§1.11 a promiscuous port gets the copies from every uplink (option off)', () => {
    vs = new VSwitch(config({ security: { allowPromiscuous: true } }));
    const a = vs.connectPort({ portGroup: 'est', initialMac: MAC.vm1 });
    const b = vs.connectPort({ portGroup: 'est', initialMac: MAC.vm2 });
    vs.setGuestPromiscuous(a, true);
    expect(portIdsOf(vs.fromUplink(0, broadcast(MAC.remote)))).to.deep.equal([a, b]);
    expect(portIdsOf(vs.fromUplink(1, broadcast(MAC.remote)))).to.deep.equal([a]);
    // and a reflection of its neighbour's frame
    expect(portIdsOf(vs.fromUplink(1, broadcast(MAC.vm2)))).to.deep.equal([a]);
  });

  it('§1.11 Net.ReversePathFwdCheckPromisc=1 extends the reverse-path check to promiscuous ports', () => {
    vs = new VSwitch(config({ security: { allowPromiscuous: true }, reversePathCheckPromiscuous: true }));
    const a = vs.connectPort({ portGroup: 'est', initialMac: MAC.vm1 });
    vs.connectPort({ portGroup: 'est', initialMac: MAC.vm2 });
    vs.setGuestPromiscuous(a, true);
    expect(vs.fromUplink(1, broadcast(MAC.remote)).dropReason).to.equal('reverse_path');
    expect(vs.fromUplink(0, broadcast(MAC.vm2)).dropReason).to.equal('own_mac_reflection');
    expect(portIdsOf(vs.fromUplink(0, unicast(MAC.unknown, MAC.remote)))).to.deep.equal([a]);
  });

  it('§1.12 two vSwitches keep separate tables: a frame on one never reaches the other', () => {
    const other = new VSwitch(config({ name: 'vSwitch1' }));
    const x = other.connectPort({ portGroup: 'est', initialMac: MAC.vm2 });
    const a = vs.connectPort({ portGroup: 'est', initialMac: MAC.vm1 });
    const r = vs.fromPort(a, unicast(MAC.vm2, MAC.vm1));
    expect(r.portCount).to.equal(0);
    expect(uplinksOf(r)).to.deep.equal([0]); // unknown here: out of the uplink
    expect(other.macTable().map((e) => e.portId)).to.deep.equal([x]);
  });

  it('§1.13 MTU 1500: a 1500-byte payload passes, 1501 is dropped (mtu_exceeded) in both directions', () => {
    const a = vs.connectPort({ portGroup: 'est', initialMac: MAC.vm1 });
    const b = vs.connectPort({ portGroup: 'est', initialMac: MAC.vm2 });
    expect(portIdsOf(vs.fromPort(a, unicast(MAC.vm2, MAC.vm1, { payloadBytes: 1500 })))).to.deep.equal([b]);
    expect(vs.fromPort(a, unicast(MAC.vm2, MAC.vm1, { payloadBytes: 1501 })).dropReason).to.equal('mtu_exceeded');
    expect(portIdsOf(vs.fromUplink(0, unicast(MAC.vm2, MAC.remote, { payloadBytes: 1500 })))).to.deep.equal([b]);
    expect(vs.fromUplink(0, unicast(MAC.vm2, MAC.remote, { payloadBytes: 1501 })).dropReason).to.equal('mtu_exceeded');
    expect(vs.counters().drops.mtu_exceeded).to.equal(2);
    expect(vs.ports().find((p) => p.portId === a)!.counters.drops.mtu_exceeded).to.equal(1);
  });

  it('§1.13 the 802.1Q tag does not count against the MTU; a jumbo vSwitch carries 9000-byte payloads', () => {
    const t = vs.connectPort({ portGroup: 'trunk', initialMac: MAC.vm1 });
    const b = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm2 });
    expect(portIdsOf(vs.fromPort(t, tagged(MAC.vm2, MAC.vm1, 10, { payloadBytes: 1500 })))).to.deep.equal([b]);
    const jumbo = new VSwitch(config({ mtuBytes: 9000 }));
    const j1 = jumbo.connectPort({ portGroup: 'est', initialMac: MAC.vm1 });
    const j2 = jumbo.connectPort({ portGroup: 'est', initialMac: MAC.vm2 });
    expect(portIdsOf(jumbo.fromPort(j1, unicast(MAC.vm2, MAC.vm1, { payloadBytes: 9000 })))).to.deep.equal([j2]);
    expect(jumbo.fromPort(j1, unicast(MAC.vm2, MAC.vm1, { payloadBytes: 9001 })).dropReason).to.equal('mtu_exceeded');
  });

  it('malformed frames (short, cut inside the tag, oversize) are dropped and counted, never thrown', () => {
    const a = vs.connectPort({ portGroup: 'trunk', initialMac: MAC.vm1 });
    const short = Buffer.from('ffffffffffff005056000001', 'hex');
    const cutTag = Buffer.from('ffffffffffff0050560000018100000a', 'hex');
    const huge = Buffer.alloc(MAX_FRAME_BYTES + 1, 0xff);
    for (const f of [short, cutTag, huge, new Uint8Array(0)]) {
      expect(vs.fromPort(a, f).dropReason).to.equal('malformed');
      expect(vs.fromUplink(0, f).dropReason).to.equal('malformed');
    }
    expect(vs.counters().drops.malformed).to.equal(8);
  });

  it('frames from an unknown or blocked port are dropped as port_blocked; a blocked port receives nothing', () => {
    const a = vs.connectPort({ portGroup: 'est', initialMac: MAC.vm1 });
    const b = vs.connectPort({ portGroup: 'est', initialMac: MAC.vm2 });
    expect(vs.fromPort(999, broadcast(MAC.vm1)).dropReason).to.equal('port_blocked');
    vs.setPortBlocked(b, true);
    expect(vs.fromPort(b, broadcast(MAC.vm2)).dropReason).to.equal('port_blocked');
    expect(vs.fromPort(a, unicast(MAC.vm2, MAC.vm1)).dropReason).to.equal('port_blocked');
    vs.setPortBlocked(b, false);
    expect(portIdsOf(vs.fromPort(a, unicast(MAC.vm2, MAC.vm1)))).to.deep.equal([b]);
  });

  it('no usable uplink: unknown unicast is dropped (no_uplink); a broadcast still reaches local ports and counts the lost copy', () => {
    const a = vs.connectPort({ portGroup: 'est', initialMac: MAC.vm1 });
    const b = vs.connectPort({ portGroup: 'est', initialMac: MAC.vm2 });
    vs.setUplinkUp(0, false);
    vs.setUplinkUp(1, false);
    expect(vs.fromPort(a, unicast(MAC.unknown, MAC.vm1)).dropReason).to.equal('no_uplink');
    const r = vs.fromPort(a, broadcast(MAC.vm1));
    expect(portIdsOf(r)).to.deep.equal([b]);
    expect(r.dropReason).to.equal(null);
    expect(vs.counters().drops.no_uplink).to.equal(2);
  });

  it('a frame arriving on a down uplink is dropped (uplink_down); failover moves egress to the next uplink', () => {
    const a = vs.connectPort({ portGroup: 'est', initialMac: MAC.vm1 });
    vs.setUplinkUp(0, false);
    expect(vs.fromUplink(0, broadcast(MAC.remote)).dropReason).to.equal('uplink_down');
    expect(uplinksOf(vs.fromPort(a, unicast(MAC.unknown, MAC.vm1)))).to.deep.equal([1]);
    expect(portIdsOf(vs.fromUplink(1, broadcast(MAC.remote)))).to.deep.equal([a]);
  });

  it('a VM sending to its own MAC reaches nobody (no_destination)', () => {
    const a = vs.connectPort({ portGroup: 'est', initialMac: MAC.vm1 });
    expect(vs.fromPort(a, unicast(MAC.vm1, MAC.vm1)).dropReason).to.equal('no_destination');
  });

  it('shotgun egress: a selector may return several uplinks; each gets the same bytes', () => {
    const a = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
    vs.setUplinkSelector({ selectEgress: () => 3, acceptsIngress: () => true });
    const r = vs.fromPort(a, unicast(MAC.unknown, MAC.vm1));
    expect(uplinksOf(r)).to.deep.equal([0, 1]);
    expect(vs.counters().framesToUplinks).to.equal(2);
  });

  it('the result object is reused across calls and delivery frames are cleared', () => {
    const a = vs.connectPort({ portGroup: 'est', initialMac: MAC.vm1 });
    vs.connectPort({ portGroup: 'est', initialMac: MAC.vm2 });
    const r1 = vs.fromPort(a, broadcast(MAC.vm1));
    expect(r1.portCount).to.equal(1);
    const r2 = vs.fromUplink(0, unicast(MAC.unknown, MAC.remote));
    expect(r2).to.equal(r1);
    expect(r2.portCount).to.equal(0);
    expect(r2.portFrames[0]!.length).to.equal(0);
  });

  it('counters: frames and bytes per direction and per port', () => {
    const a = vs.connectPort({ portGroup: 'est', initialMac: MAC.vm1 });
    const b = vs.connectPort({ portGroup: 'est', initialMac: MAC.vm2 });
    const f = unicast(MAC.vm2, MAC.vm1);
    vs.fromPort(a, f);
    vs.fromUplink(0, frame(MAC.vm1, MAC.remote));
    const c = vs.counters();
    expect(c).to.include({ framesFromPorts: 1, bytesFromPorts: 60, framesFromUplinks: 1, deliveriesToPorts: 2, framesToUplinks: 0 });
    const [pa, pb] = [vs.ports().find((p) => p.portId === a)!, vs.ports().find((p) => p.portId === b)!];
    expect(pa.counters).to.include({ txFrames: 1, txBytes: 60, rxFrames: 1, rxBytes: 60 });
    expect(pb.counters).to.include({ txFrames: 0, rxFrames: 1 });
    expect(toPorts(vs.fromPort(a, f)).get(b)).to.equal(f);
  });
});
