// Notify-switches RARP actions (§3.10, §3.11 with a hex fixture) and the per-port status shown by `vfab status`.

import { expect } from 'chai';
import sinon from 'sinon';
import { VSwitch, type DescribableUplinkSelector } from '../../lib/vswitch/vswitch.js';
import { buildRarpFrame } from '../../lib/vswitch/rarp.js';
import { MAC, broadcast } from './frames.js';

function make(notifySwitches?: boolean): VSwitch {
  return new VSwitch({
    name: 'vSwitch0',
    uplinks: ['vmnic0', 'vmnic1'],
    portGroups: [{ name: 'v10', vlanId: 10 }, { name: 'est', vlanId: 0, notifySwitches: false }],
    ...(notifySwitches === undefined ? {} : { notifySwitches }),
  });
}

const RARP_VM1_VLAN10 =
  'ffffffffffff' + '005056000001' + '8100000a' + '8035' + '0001' + '0800' + '06' + '04' + '0003' +
  '005056000001' + '00000000' + '005056000001' + '00000000' + '00'.repeat(14);

describe('vswitch notify switches (§3.10, §3.11) and status', () => {
  it('§3.11 RARP frame: broadcast, EtherType 0x8035, op 3, sha = tha = port MAC, VST tag, 60 bytes (hex fixture)', () => {
    const f = buildRarpFrame(MAC.vm1, 10);
    expect(f.toString('hex')).to.equal(RARP_VM1_VLAN10);
    const untagged = buildRarpFrame(MAC.vm1, 0);
    expect(untagged.length).to.equal(60);
    expect(untagged.subarray(12, 14).toString('hex')).to.equal('8035');
    expect(buildRarpFrame(MAC.vm1, 4095).subarray(12, 14).toString('hex')).to.equal('8035');
  });

  it('§3.10 connecting a port queues a RARP action on its egress uplink; a port group may turn it off', () => {
    const vs = make();
    const a = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
    vs.connectPort({ portGroup: 'est', initialMac: MAC.vm2 });
    const ev = vs.takeEvents();
    expect(ev).to.have.length(1);
    expect(ev[0]).to.include({ kind: 'notify_switches', portId: a, mac: MAC.vm1, uplinkMask: 1 });
    expect((ev[0] as { frame: Buffer }).frame.toString('hex')).to.equal(RARP_VM1_VLAN10);
    expect(vs.takeEvents()).to.deep.equal([]);
  });

  it('§3.10 notifySwitches=false on the vSwitch suppresses RARP actions', () => {
    const vs = make(false);
    vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
    expect(vs.takeEvents()).to.deep.equal([]);
  });

  it('§3.10 when egress moves to another uplink (failover, failback) the port gets a RARP on the new uplink', () => {
    const vs = make();
    const a = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
    vs.takeEvents();
    vs.setUplinkUp(1, false); // not the one in use: nothing moves
    expect(vs.takeEvents()).to.deep.equal([]);
    vs.setUplinkUp(1, true);
    vs.setUplinkUp(0, false);
    expect(vs.takeEvents().map((e) => [e.kind, (e as { portId: number }).portId, (e as { uplinkMask: number }).uplinkMask])).to.deep.equal([['notify_switches', a, 2]]);
    vs.setUplinkUp(0, true);
    expect(vs.takeEvents().map((e) => (e as { uplinkMask: number }).uplinkMask)).to.deep.equal([1]);
  });

  it('status: per-port group, VLAN, MACs, promiscuous, egress uplink and counters', () => {
    const vs = make();
    const a = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1, name: 'web01.eth0' });
    vs.setGuestPromiscuous(a, true);
    vs.fromPort(a, broadcast(MAC.remote));
    const [st] = vs.ports();
    expect(st).to.deep.include({
      portId: a,
      name: 'web01.eth0',
      portGroup: 'v10',
      vlanId: 10,
      initialMac: '00:50:56:00:00:01',
      effectiveMac: '00:50:56:00:00:01',
      promiscuousRequested: true,
      promiscuousEffective: false,
      macChangeBlocked: false,
      egressUplinks: ['vmnic0'],
    });
    expect(st!.counters.drops.forged_transmit).to.equal(1);
    vs.setUplinkUp(0, false);
    expect(vs.ports()[0]!.egressUplinks).to.deep.equal(['vmnic1']);
    vs.setUplinkUp(1, false);
    expect(vs.ports()[0]!.egressUplinks).to.deep.equal([]);
  });

  it('status: a selector with describeEgress is asked directly', () => {
    const vs = make();
    vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
    const sel: DescribableUplinkSelector = {
      selectEgress: sinon.stub().returns(1),
      acceptsIngress: () => true,
      describeEgress: sinon.stub().returns(2),
    };
    vs.setUplinkSelector(sel);
    expect(vs.ports()[0]!.egressUplinks).to.deep.equal(['vmnic1']);
    expect((sel.selectEgress as sinon.SinonStub).called).to.equal(false);
  });
});
