// Counter points (lib/counters/counters.ts): the names come from the counting code's own definitions, a
// real host's and switch's status flatten to exactly those names under their points, a forged frame
// shows as drops.forged_transmit at the VM's point and the honest one on the uplink and the switch port,
// and an unknown name is refused with the valid ones (and the kind of point that has it).

import { expect } from 'chai';
import { COUNTER_NAMES, counterNameProblem, counterPoints, isDropCounter } from '../../lib/counters/counters.js';
import { DROP_REASON_NAMES } from '../../lib/vswitch/drop-reasons.js';
import { DROP_REASONS as SWITCH_DROP_REASONS } from '../../lib/pswitch/counters.js';
import { zeroCounters } from '../../lib/link/link.js';
import { buildFrame } from '../../lib/wire/ethernet.js';
import { parseMac } from '../../lib/wire/mac.js';
import { MiniFabric } from '../host/fabric.js';

const TOPOLOGY = `
name: counters
switches:
  - name: sw1
    ports:
      - { name: Gi1/0/1, mode: trunk, allowedVlans: [10] }
      - { name: Gi1/0/2, mode: trunk, allowedVlans: [10] }
hosts:
  - name: esx1
    vswitches:
      - name: vSwitch0
        uplinks: [vmnic0]
        security: { forgedTransmits: reject }
        portGroups: [{ name: PG-10, vlan: 10 }]
    vmkernels:
      - { name: vmk0, portGroup: PG-10, ip: 192.0.2.1/24, services: [management] }
    vms:
      - { name: web1, nics: [{ portGroup: PG-10, mac: "00:50:56:00:66:01", ip: 192.0.2.11/24 }] }
links:
  - [esx1.vmnic0, sw1.Gi1/0/1]
`;

function frame(src: string): Buffer {
  return buildFrame({ dst: parseMac('ff:ff:ff:ff:ff:ff'), src: parseMac(src), etherType: 0x88b5 }, Buffer.alloc(46));
}

/** What hostd and switchd answer on GET /control/status, built from the same calls they make. */
function statuses(f: MiniFabric) {
  const sw = f.sw('sw1');
  return {
    host: { name: 'esx1', kind: 'host', links: [], ...f.host('esx1').status() },
    sw: { name: 'sw1', kind: 'switch', links: [], ports: sw.ports().map((p) => ({ ...p, counters: sw.portCounters(p.index) })) },
  };
}

describe('counter points and names', () => {
  it('names every drop reason the vSwitch and the switch count, and every link counter, once', () => {
    for (const r of DROP_REASON_NAMES) {
      expect(COUNTER_NAMES.vswitchPort).to.include(`drops.${r}`);
      expect(COUNTER_NAMES.uplink).to.include(`drops.${r}`);
    }
    for (const r of SWITCH_DROP_REASONS) expect(COUNTER_NAMES.switchPort).to.include.members([`rxDrops.${r}`, `txDrops.${r}`]);
    for (const k of Object.keys(zeroCounters())) if (!/^(rx|tx)(Frames|Bytes)$/.test(k)) expect(COUNTER_NAMES.uplink).to.include(`link.${k}`);
    expect(COUNTER_NAMES.switchPort).to.include.members(['rxFrames', 'txBroadcast', 'rxMulticast', 'link.txDropsQueueFull']);
    for (const names of Object.values(COUNTER_NAMES)) expect(new Set(names).size).to.equal(names.length);
    expect(isDropCounter('drops.forged_transmit')).to.equal(true);
    expect(isDropCounter('link.txDropsQueueFull')).to.equal(true);
    expect(isDropCounter('rxFrames')).to.equal(false);
    expect(isDropCounter('link.carrierUps')).to.equal(false);
  });

  it("flattens a host's and a switch's status into points with exactly those names", () => {
    const f = new MiniFabric(TOPOLOGY);
    const { host, sw } = statuses(f);
    const hp = counterPoints(host);
    expect(hp.map((p) => [p.point, p.kind])).to.deep.equal([['esx1.vmk0', 'vswitchPort'], ['web1.nic0', 'vswitchPort'], ['esx1.vmnic0', 'uplink']]);
    for (const p of hp) expect(Object.keys(p.counters)).to.deep.equal(COUNTER_NAMES[p.kind]);
    const sp = counterPoints(sw);
    expect(sp.map((p) => p.point)).to.deep.equal(['sw1.Gi1/0/1', 'sw1.Gi1/0/2']);
    expect(Object.keys(sp[0]!.counters)).to.deep.equal(COUNTER_NAMES.switchPort);
    expect(counterPoints({ kind: 'array' })).to.deep.equal([]);
  });

  it('a forged frame counts drops.forged_transmit at the VM point, the honest one txFrames on the uplink and rxFrames at the switch port', () => {
    const f = new MiniFabric(TOPOLOGY);
    f.advance(2000); // startup RARPs
    f.host('esx1').clearCounters();
    f.sw('sw1').clearCounters();
    f.host('esx1').transmitFromVm('web1', 0, frame('02:00:00:00:66:66'));
    f.pump();
    let { host, sw } = statuses(f);
    const at = (points: ReturnType<typeof counterPoints>, point: string) => points.find((p) => p.point === point)!.counters;
    expect(at(counterPoints(host), 'web1.nic0')['drops.forged_transmit']).to.equal(1);
    expect(at(counterPoints(host), 'web1.nic0').txFrames).to.equal(0);
    expect(at(counterPoints(sw), 'sw1.Gi1/0/1').rxFrames).to.equal(0);
    f.host('esx1').transmitFromVm('web1', 0, frame('00:50:56:00:66:01'));
    f.pump();
    ({ host, sw } = statuses(f));
    expect(at(counterPoints(host), 'web1.nic0')).to.include({ 'drops.forged_transmit': 1, txFrames: 1, txBytes: 60 });
    expect(at(counterPoints(sw), 'sw1.Gi1/0/1')).to.include({ rxFrames: 1, rxBroadcast: 1, rxBytes: 64 });
  });

  it('refuses an unknown name with the valid ones, a near miss, and the kind of point that has it', () => {
    expect(counterNameProblem('vswitchPort', 'drops.forged_transmit')).to.equal(undefined);
    const near = counterNameProblem('vswitchPort', 'drops.forged-transmit')!;
    expect(near).to.contain('"drops.forged-transmit" is not a counter of a vSwitch port');
    expect(near).to.contain('did you mean drops.forged_transmit?');
    expect(near).to.contain('(counters: rxFrames, rxBytes, txFrames, txBytes, drops.malformed,');
    const other = counterNameProblem('vswitchPort', 'rxDrops.vlan_not_allowed')!;
    expect(other).to.contain('rxDrops.vlan_not_allowed is a counter of a physical switch port');
  });
});
