// The vSwitch's reuseOutputBuffers mode (tag push/pop copies in scratch areas, no allocation per frame)
// and its remembered MAC lookups: the bytes and decisions must be exactly those of the allocating mode
// (docs/vsphere-behaviour.md §1.4, §1.5, §2.2, §2.3), and a registration change must be seen at once.

import { expect } from 'chai';
import { VSwitch, type VSwitchConfig } from '../../lib/vswitch/vswitch.js';
import { buildFrame, ETHERTYPE_IPV4, ETHERTYPE_VLAN, popVlanTag, pushVlanTag } from '../../lib/wire/ethernet.js';
import { MAC } from './frames.js';

const config: VSwitchConfig = { name: 'vSwitch0', mtuBytes: 9000, uplinks: ['vmnic0'], portGroups: [{ name: 'VM-10', vlanId: 10 }, { name: 'VM-20', vlanId: 20 }] };

function frame(dst: number, src: number, payloadBytes: number, vid?: number): Buffer {
  const payload = Buffer.alloc(payloadBytes);
  for (let i = 0; i < payloadBytes; i++) payload[i] = (i * 7 + 3) & 0xff;
  return buildFrame(vid === undefined ? { dst, src, etherType: ETHERTYPE_IPV4 } : { dst, src, tag: { tpid: ETHERTYPE_VLAN, pcp: 0, dei: 0, vid }, etherType: ETHERTYPE_IPV4 }, payload);
}

function pair(): { plain: VSwitch; reuse: VSwitch; plainPort: number; reusePort: number } {
  const plain = new VSwitch(config);
  const reuse = new VSwitch(config, { reuseOutputBuffers: true });
  return {
    plain,
    reuse,
    plainPort: plain.connectPort({ portGroup: 'VM-10', initialMac: MAC.vm1 }),
    reusePort: reuse.connectPort({ portGroup: 'VM-10', initialMac: MAC.vm1 }),
  };
}

describe('vSwitch reuseOutputBuffers', () => {
  for (const payloadBytes of [46, 1486, 8982]) {
    it(`§2.2 VST egress: the uplink gets the same tagged bytes as pushVlanTag (${payloadBytes} B payload), in scratch`, () => {
      const { plain, reuse, plainPort, reusePort } = pair();
      const f = frame(MAC.remote, MAC.vm1, payloadBytes);
      const expected = Buffer.from(plain.fromPort(plainPort, f).uplinkFrame!);
      expect(expected.equals(pushVlanTag(f, 10))).to.equal(true);
      const r = reuse.fromPort(reusePort, f);
      expect(Buffer.from(r.uplinkFrame!).equals(expected)).to.equal(true);
      expect(reuse.isScratch(r.uplinkFrame!)).to.equal(true);
      expect(plain.isScratch(expected)).to.equal(false);
      // the input is left as it was
      expect(f.equals(frame(MAC.remote, MAC.vm1, payloadBytes))).to.equal(true);
    });
  }

  for (const payloadBytes of [40, 46, 1486]) {
    it(`§2.3 VST ingress: the port gets the same untagged bytes as popVlanTag (${payloadBytes} B payload, padded to 60)`, () => {
      const { plain, reuse, plainPort, reusePort } = pair();
      const f = frame(MAC.vm1, MAC.remote, payloadBytes, 10);
      const p = plain.fromUplink(0, f);
      expect(p.portIds[0]).to.equal(plainPort);
      const expected = Buffer.from(p.portFrames[0]!);
      expect(expected.equals(popVlanTag(f))).to.equal(true);
      const r = reuse.fromUplink(0, f);
      expect(r.portCount).to.equal(1);
      expect(r.portIds[0]).to.equal(reusePort);
      expect(Buffer.from(r.portFrames[0]!).equals(expected)).to.equal(true);
      expect(reuse.isScratch(r.portFrames[0]!)).to.equal(true);
    });
  }

  it('scratch bytes follow each call: a shorter frame after a longer one gets its own length and padding', () => {
    const { reuse } = pair();
    const long = reuse.fromUplink(0, frame(MAC.vm1, MAC.remote, 200, 10));
    expect(long.portFrames[0]!.length).to.equal(214);
    const short = reuse.fromUplink(0, frame(MAC.vm1, MAC.remote, 10, 10));
    expect(short.portFrames[0]!.length).to.equal(60);
    expect(Buffer.from(short.portFrames[0]!).subarray(24).every((b) => b === 0)).to.equal(true);
  });

  it('frames that need no re-tagging are the input itself, not scratch', () => {
    const { reuse } = pair();
    const f = frame(MAC.vm1, MAC.remote, 46); // untagged from the uplink: VLAN 0, not VLAN 10
    const vlan0 = new VSwitch({ name: 'v', uplinks: ['vmnic0'], portGroups: [{ name: 'VM-0', vlanId: 0 }] }, { reuseOutputBuffers: true });
    vlan0.connectPort({ portGroup: 'VM-0', initialMac: MAC.vm1 });
    const r = vlan0.fromUplink(0, f);
    expect(r.portFrames[0]).to.equal(f);
    expect(vlan0.isScratch(f)).to.equal(false);
    expect(reuse.fromUplink(0, f).portCount).to.equal(0); // VLAN 0 frame, VLAN 10 port
  });
});

describe('vSwitch remembered lookups', () => {
  it('§1.4 -> §1.5: a destination that disconnects becomes unknown unicast at once (uplink, not the old port)', () => {
    const vs = new VSwitch(config, { reuseOutputBuffers: true });
    const a = vs.connectPort({ portGroup: 'VM-10', initialMac: MAC.vm1 });
    const b = vs.connectPort({ portGroup: 'VM-10', initialMac: MAC.vm2 });
    const f = frame(MAC.vm2, MAC.vm1, 46);
    const first = vs.fromPort(a, f);
    expect(first.portCount).to.equal(1);
    expect(first.portIds[0]).to.equal(b);
    expect(vs.fromPort(a, f).portIds[0]).to.equal(b);
    vs.disconnectPort(b);
    const after = vs.fromPort(a, f);
    expect(after.portCount).to.equal(0);
    expect(after.uplinkMask).to.equal(1);
  });

  it('§6.7: a newer registration of the same MAC takes the unicast at once', () => {
    const vs = new VSwitch(config, { reuseOutputBuffers: true });
    const first = vs.connectPort({ portGroup: 'VM-10', initialMac: MAC.vm2 });
    const toVm2 = frame(MAC.vm2, MAC.remote, 46, 10);
    expect(vs.fromUplink(0, toVm2).portIds[0]).to.equal(first);
    const second = vs.connectPort({ portGroup: 'VM-10', initialMac: MAC.vm2 });
    const r = vs.fromUplink(0, toVm2);
    expect(r.portCount).to.equal(1);
    expect(r.portIds[0]).to.equal(second);
  });

  it('§1.10: a source that becomes local is treated as a reflection of our own frame at once', () => {
    const vs = new VSwitch(config, { reuseOutputBuffers: true });
    vs.connectPort({ portGroup: 'VM-10', initialMac: MAC.vm1 });
    const bcastFromRemote = frame(MAC.broadcast, MAC.remote, 46, 10);
    expect(vs.fromUplink(0, bcastFromRemote).portCount).to.equal(1);
    vs.connectPort({ portGroup: 'VM-10', initialMac: MAC.remote });
    const r = vs.fromUplink(0, bcastFromRemote);
    expect(r.portCount).to.equal(0);
    expect(r.dropReason).to.equal('own_mac_reflection');
  });
});
