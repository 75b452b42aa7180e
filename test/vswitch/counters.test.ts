// The vSwitch's per-uplink drop counters (frames that arrived on an uplink and were dropped, by reason,
// counted on that uplink only) and clearCounters (every switch, port and uplink counter back to 0).

import { expect } from 'chai';
import { VSwitch } from '../../lib/vswitch/vswitch.js';
import { MAC, bpdu, tagged, unicast } from './frames.js';

function make(): VSwitch {
  return new VSwitch({ name: 'vSwitch0', uplinks: ['vmnic0', 'vmnic1'], portGroups: [{ name: 'v10', vlanId: 10 }], security: { allowForgedTransmits: false } });
}

const nonZero = (r: Record<string, number>) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== 0));

describe('vswitch counters: per-uplink drops and clearCounters', () => {
  it('counts a drop of a frame from an uplink on that uplink, by reason; a port frame\'s drop on no uplink', () => {
    const vs = make();
    const a = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
    vs.setUplinkUp(1, false);
    expect(vs.fromUplink(1, tagged(MAC.vm1, MAC.remote, 10)).dropReason).to.equal('uplink_down');
    expect(vs.fromUplink(0, bpdu(MAC.remote)).dropReason).to.equal('bpdu_from_uplink');
    expect(vs.fromUplink(0, tagged(MAC.unknown, MAC.remote, 10)).dropReason).to.equal('unknown_unicast_from_uplink');
    // after an uplink frame, a port's frame drops count on the port and never on the last uplink
    expect(vs.fromPort(a, unicast(MAC.vm2, MAC.vm3)).dropReason).to.equal('forged_transmit');
    expect(vs.fromPort(999, unicast(MAC.vm2, MAC.vm1)).dropReason).to.equal('port_blocked');
    const [u0, u1] = vs.uplinkCounters();
    expect(u0!.name).to.equal('vmnic0');
    expect(nonZero(u0!.drops)).to.deep.equal({ bpdu_from_uplink: 1, unknown_unicast_from_uplink: 1 });
    expect(nonZero(u1!.drops)).to.deep.equal({ uplink_down: 1 });
    expect(nonZero(vs.ports()[0]!.counters.drops)).to.deep.equal({ forged_transmit: 1 });
    expect(nonZero(vs.counters().drops)).to.deep.equal({ uplink_down: 1, bpdu_from_uplink: 1, unknown_unicast_from_uplink: 1, forged_transmit: 1, port_blocked: 1 });
  });

  it('clearCounters zeroes the switch, every port and every uplink; counting goes on from 0', () => {
    const vs = make();
    const a = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
    const b = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm2 });
    vs.fromPort(a, unicast(MAC.vm2, MAC.vm1));
    vs.fromPort(a, unicast(MAC.vm2, MAC.vm3));
    vs.fromUplink(0, bpdu(MAC.remote));
    vs.clearCounters();
    const zero = (o: object): boolean => Object.values(o).every((v) => (typeof v === 'number' ? v === 0 : zero(v as object)));
    expect(zero(vs.counters()), JSON.stringify(vs.counters())).to.equal(true);
    for (const p of vs.ports()) expect(zero(p.counters), `${p.portId} ${JSON.stringify(p.counters)}`).to.equal(true);
    for (const u of vs.uplinkCounters()) expect(zero(u.drops)).to.equal(true);
    vs.fromPort(b, unicast(MAC.vm1, MAC.vm2));
    expect(vs.ports().find((p) => p.portId === b)!.counters).to.include({ txFrames: 1, txBytes: 60 });
    expect(vs.ports().find((p) => p.portId === a)!.counters).to.include({ rxFrames: 1, rxBytes: 60 });
  });
});
