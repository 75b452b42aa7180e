// lib/host/host.ts HostIo.drop: every frame the vSwitch drops whole is reported with where it entered and
// why (the daemon turns that into `drop` events and capture comments), right after the tap saw it.
import { expect } from 'chai';
import { ManualClock } from '../../lib/clock.js';
import { EsxHost } from '../../lib/host/host.js';
import { parseTopology } from '../../lib/topology/load.js';
import { buildFrame } from '../../lib/wire/ethernet.js';
import { parseMac } from '../../lib/wire/mac.js';

const TOPOLOGY = `
name: drops
switches:
  - name: sw1
    ports: [ { name: Gi1/0/1, mode: trunk, allowedVlans: [10] } ]
hosts:
  - name: esx1
    vswitches:
      - name: vSwitch0
        uplinks: [vmnic0]
        security: { forgedTransmits: reject }
        portGroups: [ { name: V10, vlan: 10 } ]
    vms:
      - { name: web1, nics: [ { portGroup: V10, mac: "00:50:56:00:10:01", ip: 192.0.2.11/24 } ] }
links:
  - [esx1.vmnic0, sw1.Gi1/0/1]
`;

describe('host: the drop hook', () => {
  function setup() {
    const calls: string[] = [];
    const topo = parseTopology(TOPOLOGY, 't.yaml');
    const host = new EsxHost(topo.hosts[0]!, new ManualClock(0), {
      uplinkTx: () => {},
      tap: (point, direction) => calls.push(`tap ${point} ${direction}`),
      drop: (point, reason, frame) => calls.push(`drop ${point} ${reason} ${frame.length}`),
    });
    host.powerOnAll();
    host.setUplinkLink('vmnic0', true);
    host.setTap('web1.nic0', true);
    host.setTap('esx1.vmnic0', true);
    calls.length = 0;
    return { host, calls };
  }

  it('a forged transmit is reported at the VM port, after its tap', () => {
    const { host, calls } = setup();
    host.transmitFromVm('web1', 0, buildFrame({ dst: parseMac('ff:ff:ff:ff:ff:ff'), src: parseMac('00:50:56:3f:ee:01'), etherType: 0x88b5 }, Buffer.alloc(46)));
    expect(calls).to.deep.equal(['tap web1.nic0 out', 'drop web1.nic0 forged_transmit 60']);
  });

  it('a frame from the uplink tagged with VID 4095 is reported at the uplink; a delivered frame is not', () => {
    const { host, calls } = setup();
    const tagged = (vid: number) => Buffer.concat([Buffer.from('0050560010010050560099018100', 'hex'), Buffer.from([vid >> 8, vid & 0xff]), Buffer.from('88b5', 'hex'), Buffer.alloc(46)]);
    host.receiveUplink('vmnic0', tagged(4095));
    host.receiveUplink('vmnic0', tagged(10));
    expect(calls).to.deep.equal(['tap esx1.vmnic0 in', 'drop esx1.vmnic0 vlan_mismatch 64', 'tap esx1.vmnic0 in', 'tap web1.nic0 in']);
  });
});
