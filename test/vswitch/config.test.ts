// vSwitch config validation (§8 limits, §2.1 VLAN IDs, §1.13 MTU), §4/§4.5 policy resolution and the drop-reason list.

import { expect } from 'chai';
import { VSwitch, type VSwitchConfig } from '../../lib/vswitch/vswitch.js';
import { DEFAULT_SECURITY, PRE_7_VSS_SECURITY } from '../../lib/vswitch/config.js';
import { MAX_PORT_GROUPS_PER_VSWITCH, MAX_VSWITCH_NAME_CHARS } from '../../lib/vswitch/limits.js';
import { DROP, DROP_REASONS, DROP_REASON_COUNT } from '../../lib/vswitch/drop-reasons.js';
import { VfabError } from '../../lib/errors.js';
import { MAC } from './frames.js';

function base(over: Partial<VSwitchConfig> = {}): VSwitchConfig {
  return { name: 'vSwitch0', uplinks: ['vmnic0', 'vmnic1'], portGroups: [{ name: 'VM Network', vlanId: 0 }], ...over };
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    expect(e).to.be.instanceOf(VfabError);
    return (e as VfabError).code;
  }
  return undefined;
}

describe('vswitch config validation (§8, §2.1, §1.13)', () => {
  it('defaults: MTU 1500 (§1.13), uplinks start up', () => {
    const vs = new VSwitch(base());
    expect(vs.mtuBytes).to.equal(1500);
    expect(vs.isUplinkUp(0)).to.equal(true);
    expect(vs.isUplinkUp(1)).to.equal(true);
  });

  it('§1.13 accepts MTU 9000, rejects 9001 with VFAB_VSWITCH_BAD_MTU', () => {
    expect(new VSwitch(base({ mtuBytes: 9000 })).mtuBytes).to.equal(9000);
    expect(codeOf(() => new VSwitch(base({ mtuBytes: 9001 })))).to.equal('VFAB_VSWITCH_BAD_MTU');
    expect(codeOf(() => new VSwitch(base({ mtuBytes: 1500.5 })))).to.equal('VFAB_VSWITCH_BAD_MTU');
  });

  it('§2.1/§8 accepts VLAN 0, 1, 4094, 4095 and rejects -1, 4096, 1.5', () => {
    for (const vlanId of [0, 1, 4094, 4095]) expect(() => new VSwitch(base({ portGroups: [{ name: 'pg', vlanId }] }))).not.to.throw();
    for (const vlanId of [-1, 4096, 1.5]) expect(codeOf(() => new VSwitch(base({ portGroups: [{ name: 'pg', vlanId }] })))).to.equal('VFAB_VSWITCH_BAD_VLAN');
  });

  it('§8 vSwitch name: 32 characters ok, 33 rejected; empty rejected', () => {
    expect(() => new VSwitch(base({ name: 'x'.repeat(MAX_VSWITCH_NAME_CHARS) }))).not.to.throw();
    expect(codeOf(() => new VSwitch(base({ name: 'x'.repeat(MAX_VSWITCH_NAME_CHARS + 1) })))).to.equal('VFAB_VSWITCH_BAD_NAME');
    expect(codeOf(() => new VSwitch(base({ name: '' })))).to.equal('VFAB_VSWITCH_BAD_NAME');
  });

  it('rejects duplicate port-group and uplink names', () => {
    expect(codeOf(() => new VSwitch(base({ portGroups: [{ name: 'a', vlanId: 1 }, { name: 'a', vlanId: 2 }] })))).to.equal('VFAB_VSWITCH_DUPLICATE_NAME');
    expect(codeOf(() => new VSwitch(base({ uplinks: ['vmnic0', 'vmnic0'] })))).to.equal('VFAB_VSWITCH_DUPLICATE_NAME');
  });

  it('§8 at most 32 uplinks', () => {
    const names = (n: number) => Array.from({ length: n }, (_, i) => `vmnic${i}`);
    expect(() => new VSwitch(base({ uplinks: names(32) }))).not.to.throw();
    expect(codeOf(() => new VSwitch(base({ uplinks: names(33) })))).to.equal('VFAB_VSWITCH_TOO_MANY_UPLINKS');
  });

  it('§8 at most 512 port groups per vSwitch', () => {
    const pgs = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `pg${i}`, vlanId: i % 4095 }));
    expect(() => new VSwitch(base({ portGroups: pgs(MAX_PORT_GROUPS_PER_VSWITCH) }))).not.to.throw();
    expect(codeOf(() => new VSwitch(base({ portGroups: pgs(MAX_PORT_GROUPS_PER_VSWITCH + 1) })))).to.equal('VFAB_VSWITCH_TOO_MANY_PORT_GROUPS');
  });

  it('rejects non-boolean security settings and bad maxPorts', () => {
    expect(codeOf(() => new VSwitch(base({ security: { allowPromiscuous: 'yes' as unknown as boolean } })))).to.equal('VFAB_VSWITCH_BAD_CONFIG');
    expect(codeOf(() => new VSwitch(base({ maxPorts: 0 })))).to.equal('VFAB_VSWITCH_BAD_CONFIG');
    expect(codeOf(() => new VSwitch(base({ maxPorts: 5000 })))).to.equal('VFAB_VSWITCH_BAD_CONFIG');
  });

  it('connectPort: unknown port group, non-unicast MAC and a full switch are errors', () => {
    const vs = new VSwitch(base({ maxPorts: 2 }));
    expect(codeOf(() => vs.connectPort({ portGroup: 'nope', initialMac: MAC.vm1 }))).to.equal('VFAB_VSWITCH_NO_SUCH_PORT_GROUP');
    expect(codeOf(() => vs.connectPort({ portGroup: 'VM Network', initialMac: MAC.mcast1 }))).to.equal('VFAB_VSWITCH_BAD_MAC');
    expect(codeOf(() => vs.connectPort({ portGroup: 'VM Network', initialMac: 0 }))).to.equal('VFAB_VSWITCH_BAD_MAC');
    vs.connectPort({ portGroup: 'VM Network', initialMac: MAC.vm1 });
    vs.connectPort({ portGroup: 'VM Network', initialMac: MAC.vm2 });
    expect(codeOf(() => vs.connectPort({ portGroup: 'VM Network', initialMac: MAC.vm3 }))).to.equal('VFAB_VSWITCH_PORTS_EXHAUSTED');
  });

  it('unknown port or uplink index are errors on the control plane', () => {
    const vs = new VSwitch(base());
    expect(codeOf(() => vs.disconnectPort(42))).to.equal('VFAB_VSWITCH_NO_SUCH_PORT');
    expect(codeOf(() => vs.setUplinkUp(2, false))).to.equal('VFAB_VSWITCH_NO_SUCH_UPLINK');
    expect(codeOf(() => vs.fromUplink(5, Buffer.alloc(60)))).to.equal('VFAB_VSWITCH_NO_SUCH_UPLINK');
  });

  it('§4.5 defaults are the vSphere 7+ ones (all Reject); pre-7.0 vSS defaults are documented constants', () => {
    expect(DEFAULT_SECURITY).to.deep.equal({ allowPromiscuous: false, allowMacChanges: false, allowForgedTransmits: false });
    expect(PRE_7_VSS_SECURITY).to.deep.equal({ allowPromiscuous: false, allowMacChanges: true, allowForgedTransmits: true });
    expect(new VSwitch(base()).portGroupPolicy('VM Network')).to.deep.equal(DEFAULT_SECURITY);
  });

  it('§4 port-group security overrides the vSwitch field by field', () => {
    const vs = new VSwitch(base({
      security: { allowPromiscuous: true, allowMacChanges: true },
      portGroups: [{ name: 'a', vlanId: 0, security: { allowMacChanges: false, allowForgedTransmits: true } }, { name: 'b', vlanId: 0 }],
    }));
    expect(vs.portGroupPolicy('a')).to.deep.equal({ allowPromiscuous: true, allowMacChanges: false, allowForgedTransmits: true });
    expect(vs.portGroupPolicy('b')).to.deep.equal({ allowPromiscuous: true, allowMacChanges: true, allowForgedTransmits: false });
  });

  it('every drop reason has a unique name, a code equal to its index and a description', () => {
    expect(DROP_REASONS).to.have.length(DROP_REASON_COUNT);
    expect(new Set(DROP_REASONS.map((r) => r.name)).size).to.equal(DROP_REASON_COUNT);
    DROP_REASONS.forEach((r, i) => {
      expect(r.code).to.equal(i);
      expect(r.description.length).to.be.greaterThan(20);
    });
    expect(Object.keys(DROP)).to.have.length(DROP_REASON_COUNT);
  });
});
