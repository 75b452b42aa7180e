// vSwitch security policy of spec §4 (promiscuous, MAC address changes, forged transmits, port-group override)
// and duplicate MAC registrations of §6.7.

import { expect } from 'chai';
import { VSwitch, type VSwitchConfig } from '../../lib/vswitch/vswitch.js';
import type { SecurityPolicy } from '../../lib/vswitch/config.js';
import { MAC, broadcast, tagged, unicast } from './frames.js';
import { portIdsOf, uplinksOf } from './harness.js';

function make(security: Partial<SecurityPolicy>, over: Partial<VSwitchConfig> = {}): VSwitch {
  return new VSwitch({
    name: 'vSwitch0',
    uplinks: ['vmnic0', 'vmnic1'],
    security,
    portGroups: [
      { name: 'v10', vlanId: 10 },
      { name: 'v20', vlanId: 20 },
      { name: 'trunk', vlanId: 4095 },
    ],
    ...over,
  });
}

describe('vswitch security policy (§4) and duplicate MACs (§6.7)', () => {
  describe('§4.2 promiscuous mode', () => {
    it('Accept alone changes nothing: the guest must also enable promiscuous receive', () => {
      const vs = make({ allowPromiscuous: true });
      const a = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
      const b = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm2 });
      const c = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm3 });
      expect(portIdsOf(vs.fromPort(a, unicast(MAC.vm2, MAC.vm1)))).to.deep.equal([b]);
      vs.setGuestPromiscuous(c, true);
      expect(portIdsOf(vs.fromPort(a, unicast(MAC.vm2, MAC.vm1)))).to.deep.equal([b, c]);
      vs.setGuestPromiscuous(c, false);
      expect(portIdsOf(vs.fromPort(a, unicast(MAC.vm2, MAC.vm1)))).to.deep.equal([b]);
    });

    it('Reject (default): a guest in promiscuous mode still gets only its own traffic', () => {
      const vs = make({});
      const a = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
      const b = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm2 });
      const c = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm3 });
      vs.setGuestPromiscuous(c, true);
      expect(portIdsOf(vs.fromPort(a, unicast(MAC.vm2, MAC.vm1)))).to.deep.equal([b]);
      expect(vs.fromUplink(0, unicast(MAC.unknown, MAC.remote, { vid: 10 })).dropReason).to.equal('unknown_unicast_from_uplink');
      const st = vs.ports().find((p) => p.portId === c)!;
      expect(st).to.include({ promiscuousRequested: true, promiscuousEffective: false });
    });

    it('a promiscuous VLAN-10 port sees VLAN-10 unicast leaving by the uplink, not VLAN 20', () => {
      const vs = make({ allowPromiscuous: true });
      const a = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
      const c = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm3 });
      const d = vs.connectPort({ portGroup: 'v20', initialMac: MAC.vm4 });
      vs.setGuestPromiscuous(c, true);
      const r = vs.fromPort(a, unicast(MAC.remote, MAC.vm1));
      expect(portIdsOf(r)).to.deep.equal([c]);
      expect(uplinksOf(r)).to.deep.equal([0]);
      expect(vs.fromPort(d, unicast(MAC.remote, MAC.vm4)).portCount).to.equal(0);
    });

    it('a promiscuous VGT (4095) port sees every VLAN, with tags', () => {
      const vs = make({ allowPromiscuous: true });
      const a = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
      const d = vs.connectPort({ portGroup: 'v20', initialMac: MAC.vm4 });
      const t = vs.connectPort({ portGroup: 'trunk', initialMac: MAC.vm5 });
      vs.setGuestPromiscuous(t, true);
      expect(portIdsOf(vs.fromPort(a, unicast(MAC.remote, MAC.vm1)))).to.deep.equal([t]);
      expect(portIdsOf(vs.fromPort(d, unicast(MAC.remote, MAC.vm4)))).to.deep.equal([t]);
      const r = vs.fromUplink(0, tagged(MAC.unknown, MAC.remote, 777));
      expect(portIdsOf(r)).to.deep.equal([t]);
      expect(r.portFrames[0]![12]).to.equal(0x81);
    });

    it('policy applied later takes effect for a guest already in promiscuous mode', () => {
      const vs = make({});
      vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
      const c = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm3 });
      vs.setGuestPromiscuous(c, true);
      vs.setPortGroupSecurity('v10', { allowPromiscuous: true });
      expect(portIdsOf(vs.fromUplink(0, unicast(MAC.unknown, MAC.remote, { vid: 10 })))).to.deep.equal([c]);
    });
  });

  describe('§4.3 MAC address changes', () => {
    it('Reject: after a guest MAC change the port receives nothing, broadcasts included, until it reverts', () => {
      const vs = make({});
      const a = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
      const b = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm2 });
      const ev = vs.setEffectiveMac(b, MAC.vm5);
      expect(ev).to.deep.include({ kind: 'mac_change_blocked', portId: b, initialMac: MAC.vm2, effectiveMac: MAC.vm5 });
      const r1 = vs.fromPort(a, broadcast(MAC.vm1));
      expect(r1.portCount).to.equal(0);
      expect(uplinksOf(r1)).to.deep.equal([0]);
      const r2 = vs.fromPort(a, unicast(MAC.vm2, MAC.vm1));
      expect(r2.dropReason).to.equal('mac_change_blocked');
      expect(portIdsOf(vs.fromUplink(0, broadcast(MAC.remote, { vid: 10 })))).to.deep.equal([a]);
      expect(vs.ports().find((p) => p.portId === b)!.counters.drops.mac_change_blocked).to.equal(3);
      // the table still points at the initial MAC
      expect(vs.macTable().find((e) => e.portId === b)!.mac).to.equal(MAC.vm2);
      expect(vs.ports().find((p) => p.portId === b)!.macChangeBlocked).to.equal(true);
      // it may still transmit with its effective MAC (forged check uses the effective MAC, §4.4)
      expect(portIdsOf(vs.fromPort(b, unicast(MAC.vm1, MAC.vm5)))).to.deep.equal([a]);
      vs.setEffectiveMac(b, MAC.vm2);
      expect(portIdsOf(vs.fromPort(a, broadcast(MAC.vm1)))).to.deep.equal([b]);
    });

    it('Accept: the MAC table entry moves to the new MAC, with mac_changed and a RARP action', () => {
      const vs = make({ allowMacChanges: true });
      const a = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
      const b = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm2 });
      vs.takeEvents();
      const ev = vs.setEffectiveMac(b, MAC.vm5);
      expect(ev.map((e) => e.kind)).to.deep.equal(['mac_changed', 'notify_switches']);
      expect(ev[0]).to.include({ oldMac: MAC.vm2, newMac: MAC.vm5 });
      expect(portIdsOf(vs.fromPort(a, unicast(MAC.vm5, MAC.vm1)))).to.deep.equal([b]);
      const old = vs.fromPort(a, unicast(MAC.vm2, MAC.vm1));
      expect(old.portCount).to.equal(0);
      expect(uplinksOf(old)).to.deep.equal([0]);
    });

    it('port-group Reject overrides a vSwitch Accept', () => {
      const vs = make({ allowMacChanges: true }, { portGroups: [{ name: 'v10', vlanId: 10, security: { allowMacChanges: false } }] });
      const a = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
      const b = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm2 });
      vs.setEffectiveMac(b, MAC.vm5);
      expect(vs.fromPort(a, broadcast(MAC.vm1)).portCount).to.equal(0);
    });

    it('switching the policy to Accept re-keys a blocked port to its effective MAC', () => {
      const vs = make({});
      const a = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
      const b = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm2 });
      vs.setEffectiveMac(b, MAC.vm5);
      vs.setPortGroupSecurity('v10', { allowMacChanges: true });
      expect(portIdsOf(vs.fromPort(a, unicast(MAC.vm5, MAC.vm1)))).to.deep.equal([b]);
      expect(vs.takeEvents().some((e) => e.kind === 'mac_changed')).to.equal(true);
    });
  });

  describe('§4.4 forged transmits', () => {
    it('Reject drops frames whose source is not the effective MAC; the guest is not told', () => {
      const vs = make({});
      const a = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
      vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm2 });
      const r = vs.fromPort(a, broadcast(MAC.remote));
      expect(r.portCount).to.equal(0);
      expect(r.uplinkMask).to.equal(0);
      expect(r.dropReason).to.equal('forged_transmit');
      expect(vs.ports().find((p) => p.portId === a)!.counters.drops.forged_transmit).to.equal(1);
    });

    it('Accept passes any source MAC', () => {
      const vs = make({ allowForgedTransmits: true });
      const a = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
      const b = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm2 });
      const r = vs.fromPort(a, broadcast(MAC.remote));
      expect(portIdsOf(r)).to.deep.equal([b]);
      expect(uplinksOf(r)).to.deep.equal([0]);
    });

    it('compares with the effective MAC after an accepted MAC change', () => {
      const vs = make({ allowMacChanges: true });
      const a = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
      vs.setEffectiveMac(a, MAC.vm5);
      expect(vs.fromPort(a, broadcast(MAC.vm1)).dropReason).to.equal('forged_transmit');
      expect(uplinksOf(vs.fromPort(a, broadcast(MAC.vm5)))).to.deep.equal([0]);
    });
  });

  describe('§6.7 duplicate MACs on one vSwitch', () => {
    it('raise a conflict event; unicast goes to the newest registration; broadcasts reach both', () => {
      const vs = make({});
      const a = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
      const b = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm2 });
      vs.takeEvents();
      const c = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm2 });
      const ev = vs.takeEvents();
      expect(ev).to.deep.include({ kind: 'mac_conflict', vlanId: 10, mac: MAC.vm2, portIds: [b, c], activePortId: c });
      expect(portIdsOf(vs.fromPort(a, unicast(MAC.vm2, MAC.vm1)))).to.deep.equal([c]);
      expect(portIdsOf(vs.fromPort(a, broadcast(MAC.vm1)))).to.deep.equal([b, c]);
      expect(vs.macTable().filter((e) => e.mac === MAC.vm2).map((e) => [e.portId, e.active])).to.deep.equal([[b, false], [c, true]]);
      vs.disconnectPort(c);
      expect(portIdsOf(vs.fromPort(a, unicast(MAC.vm2, MAC.vm1)))).to.deep.equal([b]);
    });

    it('the same MAC in two VLANs is not a conflict', () => {
      const vs = make({});
      vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
      vs.takeEvents();
      vs.connectPort({ portGroup: 'v20', initialMac: MAC.vm1 });
      expect(vs.takeEvents().filter((e) => e.kind === 'mac_conflict')).to.deep.equal([]);
    });
  });
});
