// vSwitch VLAN semantics of spec §2: EST/VST/VGT egress tagging, ingress classification, guest-tag mismatch,
// the VLAN (not the port group) as broadcast domain, and the native-VLAN trap.

import { expect } from 'chai';
import { VSwitch } from '../../lib/vswitch/vswitch.js';
import { MAC, broadcast, hex, tagged, unicast } from './frames.js';
import { portIdsOf, toPorts, uplinksOf } from './harness.js';

function make(): VSwitch {
  return new VSwitch({
    name: 'vSwitch0',
    uplinks: ['vmnic0'],
    portGroups: [
      { name: 'est', vlanId: 0 },
      { name: 'v10', vlanId: 10 },
      { name: 'v10b', vlanId: 10 },
      { name: 'v20', vlanId: 20 },
      { name: 'trunk', vlanId: 4095 },
    ],
  });
}

describe('vswitch VLANs (§2)', () => {
  let vs: VSwitch;
  beforeEach(() => {
    vs = make();
  });

  it('§2.2 VST egress: an untagged VM frame leaves the uplink tagged (TPID 0x8100, VID 10, PCP 0)', () => {
    const a = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
    const f = unicast(MAC.remote, MAC.vm1);
    const r = vs.fromPort(a, f);
    expect(uplinksOf(r)).to.deep.equal([0]);
    const out = r.uplinkFrame!;
    expect(out.length).to.equal(f.length + 4);
    expect(hex(out.subarray(0, 18))).to.equal('001b21aabbcc' + '005056000001' + '8100' + '000a' + '0800');
    expect(hex(out.subarray(18))).to.equal(hex(f.subarray(14)));
  });

  it('§2.2 EST egress leaves untagged; VGT egress leaves exactly as the guest sent it', () => {
    const e = vs.connectPort({ portGroup: 'est', initialMac: MAC.vm1 });
    const t = vs.connectPort({ portGroup: 'trunk', initialMac: MAC.vm2 });
    const f1 = unicast(MAC.remote, MAC.vm1);
    expect(vs.fromPort(e, f1).uplinkFrame).to.equal(f1);
    const f2 = tagged(MAC.remote, MAC.vm2, 20, { pcp: 5 });
    expect(vs.fromPort(t, f2).uplinkFrame).to.equal(f2);
    const f3 = unicast(MAC.remote, MAC.vm2);
    expect(vs.fromPort(t, f3).uplinkFrame).to.equal(f3);
  });

  it('§2.3 a frame tagged 10 from the uplink reaches VST-10 ports untagged and VGT ports tagged, not EST or VLAN 20', () => {
    const a = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
    const b = vs.connectPort({ portGroup: 'v10b', initialMac: MAC.vm2 });
    vs.connectPort({ portGroup: 'v20', initialMac: MAC.vm3 });
    vs.connectPort({ portGroup: 'est', initialMac: MAC.vm4 });
    const t = vs.connectPort({ portGroup: 'trunk', initialMac: MAC.vm5 });
    const f = broadcast(MAC.remote, { vid: 10 });
    const r = vs.fromUplink(0, f);
    expect(portIdsOf(r)).to.deep.equal([a, b, t]);
    const got = toPorts(r);
    const untagged = broadcast(MAC.remote);
    expect(hex(got.get(a)!)).to.equal(hex(untagged));
    expect(got.get(t)).to.equal(f);
    // one shared untagged buffer for both VST ports
    expect(got.get(a)).to.equal(got.get(b));
  });

  it('§2.3 an untagged frame from the uplink reaches only VLAN-0 and VGT ports; VST ignores it', () => {
    vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
    const e = vs.connectPort({ portGroup: 'est', initialMac: MAC.vm2 });
    const t = vs.connectPort({ portGroup: 'trunk', initialMac: MAC.vm3 });
    const f = broadcast(MAC.remote);
    const r = vs.fromUplink(0, f);
    expect(portIdsOf(r)).to.deep.equal([e, t]);
    expect(toPorts(r).get(e)).to.equal(f);
    expect(toPorts(r).get(t)).to.equal(f);
    expect(vs.fromUplink(0, unicast(MAC.vm1, MAC.remote)).dropReason).to.equal('unknown_unicast_from_uplink');
  });

  it('§2.3 a VGT port receives unicast for its MAC in any VLAN, tag kept', () => {
    const t = vs.connectPort({ portGroup: 'trunk', initialMac: MAC.vm1 });
    const f = tagged(MAC.vm1, MAC.remote, 333);
    const r = vs.fromUplink(0, f);
    expect(portIdsOf(r)).to.deep.equal([t]);
    expect(r.portFrames[0]).to.equal(f);
  });

  it('§2.1 VST to VGT inside the host: the VGT port gets the frame tagged; VGT to VST: untagged', () => {
    const a = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
    const t = vs.connectPort({ portGroup: 'trunk', initialMac: MAC.vm2 });
    const f = unicast(MAC.vm2, MAC.vm1);
    const r = vs.fromPort(a, f);
    expect(portIdsOf(r)).to.deep.equal([t]);
    expect(hex(r.portFrames[0]!)).to.equal(hex(tagged(MAC.vm2, MAC.vm1, 10)).slice(0, 36) + hex(f.subarray(14)));
    const back = tagged(MAC.vm1, MAC.vm2, 10);
    const r2 = vs.fromPort(t, back);
    expect(portIdsOf(r2)).to.deep.equal([a]);
    expect(hex(r2.portFrames[0]!)).to.equal(hex(unicast(MAC.vm1, MAC.vm2)));
  });

  it('§2.2 a VST broadcast shares one tagged copy between the VGT port and the uplink', () => {
    const a = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
    vs.connectPort({ portGroup: 'trunk', initialMac: MAC.vm2 });
    const r = vs.fromPort(a, broadcast(MAC.vm1));
    expect(r.portFrames[0]).to.equal(r.uplinkFrame);
  });

  it('§2.4 a guest-tagged frame on a VST or EST port is dropped as vlan_mismatch', () => {
    const a = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
    const e = vs.connectPort({ portGroup: 'est', initialMac: MAC.vm2 });
    vs.connectPort({ portGroup: 'v10b', initialMac: MAC.vm3 });
    const r = vs.fromPort(a, tagged(MAC.vm3, MAC.vm1, 10));
    expect(r.portCount).to.equal(0);
    expect(r.uplinkMask).to.equal(0);
    expect(r.dropReason).to.equal('vlan_mismatch');
    expect(vs.fromPort(e, tagged(MAC.remote, MAC.vm2, 10)).dropReason).to.equal('vlan_mismatch');
    expect(vs.ports().find((p) => p.portId === a)!.counters.drops.vlan_mismatch).to.equal(1);
  });

  it('§2.4 the reserved VID 4095 in a tag is dropped as vlan_mismatch (guest and uplink)', () => {
    const t = vs.connectPort({ portGroup: 'trunk', initialMac: MAC.vm1 });
    expect(vs.fromPort(t, tagged(MAC.remote, MAC.vm1, 4095)).dropReason).to.equal('vlan_mismatch');
    expect(vs.fromUplink(0, tagged(MAC.vm1, MAC.remote, 4095)).dropReason).to.equal('vlan_mismatch');
  });

  it('§2.5 two port groups with one VLAN share a broadcast domain and switch unicast locally', () => {
    const a = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
    const b = vs.connectPort({ portGroup: 'v10b', initialMac: MAC.vm2 });
    const r = vs.fromPort(a, unicast(MAC.vm2, MAC.vm1));
    expect(portIdsOf(r)).to.deep.equal([b]);
    expect(r.uplinkMask).to.equal(0);
  });

  it('§2.5 different VLANs never exchange frames inside the vSwitch (the unicast goes to the uplink instead)', () => {
    const a = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
    vs.connectPort({ portGroup: 'v20', initialMac: MAC.vm2 });
    const r = vs.fromPort(a, unicast(MAC.vm2, MAC.vm1));
    expect(r.portCount).to.equal(0);
    expect(uplinksOf(r)).to.deep.equal([0]);
    expect(vs.fromPort(a, broadcast(MAC.vm1)).portCount).to.equal(0);
  });

  it('§2.6 native-VLAN trap: VST port group on the native VLAN sends tagged but never sees the untagged replies', () => {
    // Trunk native VLAN is 10; the port group uses VLAN 10 (VST) instead of 0.
    const a = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
    const req = vs.fromPort(a, broadcast(MAC.vm1));
    expect(hex(req.uplinkFrame!.subarray(12, 16))).to.equal('8100000a'); // leaves tagged
    // The physical switch sends native-VLAN traffic untagged: the reply misses the VST port.
    const reply = vs.fromUplink(0, unicast(MAC.vm1, MAC.remote));
    expect(reply.portCount).to.equal(0);
    expect(reply.dropReason).to.equal('unknown_unicast_from_uplink');
    expect(vs.fromUplink(0, broadcast(MAC.remote)).dropReason).to.equal('no_destination');
    // The fix: a VLAN-0 port group gets the same untagged reply.
    const e = vs.connectPort({ portGroup: 'est', initialMac: MAC.vm2 });
    expect(portIdsOf(vs.fromUplink(0, unicast(MAC.vm2, MAC.remote)))).to.deep.equal([e]);
  });

  it('§2.3 a priority-tagged frame (VID 0) from the uplink belongs to VLAN 0: EST gets it untagged', () => {
    const e = vs.connectPort({ portGroup: 'est', initialMac: MAC.vm1 });
    const f = tagged(MAC.vm1, MAC.remote, 0, { pcp: 3 });
    const r = vs.fromUplink(0, f);
    expect(portIdsOf(r)).to.deep.equal([e]);
    expect(hex(r.portFrames[0]!)).to.equal(hex(unicast(MAC.vm1, MAC.remote)));
  });

  it('§2.3 removing the tag from a 60-byte tagged frame pads the copy back to 60 bytes with zeros', () => {
    const a = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
    const f = tagged(MAC.vm1, MAC.remote, 10, { payloadBytes: 42 });
    expect(f.length).to.equal(60);
    const r = vs.fromUplink(0, f);
    expect(portIdsOf(r)).to.deep.equal([a]);
    const out = r.portFrames[0]!;
    expect(out.length).to.equal(60);
    expect(hex(out)).to.equal(hex(f.subarray(0, 12)) + hex(f.subarray(16)) + '00000000');
  });
});
