// External VMs inside lib/host without sockets: an EsxHost with one VM marked `external: true` forwards
// its port's deliveries to io.vmTx and takes the guest's frames from receiveFromVm, through the same
// vSwitch checks as an internal VM (spec §4.4 forged transmits, §2 VLAN tagging on the uplink), blocks
// the port while the VM's link has no carrier, and refuses guest operations that belong to the vm daemon.
// Manual clock, no timers. Processes: none (the e2e tests next to this file cover vmd).

import { expect } from 'chai';
import { ManualClock } from '../../../lib/clock.js';
import { VfabError } from '../../../lib/errors.js';
import { EsxHost } from '../../../lib/host/host.js';
import { parseTopology } from '../../../lib/topology/load.js';
import { buildArpRequest } from '../../../lib/wire/arp.js';
import { buildFrame, ethVid, ethIsTagged } from '../../../lib/wire/ethernet.js';
import { parseMac, readMac } from '../../../lib/wire/mac.js';

const EXT_MAC = parseMac('00:50:56:00:0e:01');
const WEB_MAC = parseMac('00:50:56:00:10:01');
const FORGED_MAC = parseMac('00:50:56:3f:ee:01');

const TOPOLOGY = `
name: ext-unit
hosts:
  - name: esx1
    vswitches:
      - name: vSwitch0
        uplinks: [vmnic0]
        security: { forgedTransmits: reject }
        portGroups: [ { name: VM-10, vlan: 10 } ]
    vms:
      - { name: ext1, external: true, nics: [ { portGroup: VM-10, mac: "00:50:56:00:0e:01", ip: 192.0.2.21/24 } ] }
      - { name: web1, nics: [ { portGroup: VM-10, mac: "00:50:56:00:10:01", ip: 192.0.2.11/24 } ] }
`;

interface Rig {
  host: EsxHost;
  toVm: Buffer[];
  toUplink: Buffer[];
}

function rig(): Rig {
  const topo = parseTopology(TOPOLOGY, 'ext-unit.yaml');
  const toVm: Buffer[] = [];
  const toUplink: Buffer[] = [];
  const host = new EsxHost(topo.hosts[0]!, new ManualClock(0), {
    uplinkTx: (_vmnic, f) => void toUplink.push(Buffer.from(f)),
    vmTx: (vm, nic, f) => {
      expect([vm, nic]).to.deep.equal(['ext1', 0]);
      toVm.push(Buffer.from(f));
    },
  });
  host.setUplinkLink('vmnic0', true);
  host.powerOnAll();
  toUplink.length = 0;
  return { host, toVm, toUplink };
}

function port(host: EsxHost, name: string): any {
  return host.status().vswitches[0]!.ports.find((p: any) => p.name === name);
}

describe('lib/host external VMs (receiveFromVm / io.vmTx / setVmLink)', () => {
  it('the port of an external VM starts blocked (no carrier yet) and opens on setVmLink(up)', () => {
    const { host } = rig();
    expect(host.isExternal('ext1')).to.equal(true);
    expect(port(host, 'ext1.nic0').blocked).to.equal(true);
    host.setVmLink('ext1', 0, true);
    expect(port(host, 'ext1.nic0').blocked).to.equal(false);
    const vm = host.status().vms.find((v: any) => v.name === 'ext1')!;
    expect(vm).to.include({ external: true, counters: null });
    expect(vm.links).to.deep.equal([{ nic: 'nic0', carrier: true }]);
  });

  it('an ARP request from the external guest reaches the internal VM, whose reply comes back through io.vmTx', () => {
    const { host, toVm, toUplink } = rig();
    host.setVmLink('ext1', 0, true);
    host.receiveFromVm('ext1', 0, buildArpRequest(EXT_MAC, '192.0.2.21', '192.0.2.11'));
    const replies = toVm.filter((f) => f.readUInt16BE(12) === 0x0806 && f.readUInt16BE(20) === 2);
    expect(replies, 'one ARP reply delivered to the external VM').to.have.length(1);
    expect(readMac(replies[0]!, 6)).to.equal(WEB_MAC);
    expect(readMac(replies[0]!, 0)).to.equal(EXT_MAC);
    // §2.2 the broadcast also left on the uplink, tagged with the port group's VLAN
    const out = toUplink.find((f) => readMac(f, 6) === EXT_MAC)!;
    expect(ethIsTagged(out) && ethVid(out)).to.equal(10);
  });

  it('§4.4 forged transmits = reject: a frame with a foreign source MAC from the external guest is dropped and counted', () => {
    const { host, toUplink } = rig();
    host.setVmLink('ext1', 0, true);
    const forged = buildFrame({ dst: WEB_MAC, src: FORGED_MAC, etherType: 0x88b5 }, Buffer.alloc(46, 1));
    host.receiveFromVm('ext1', 0, forged);
    host.receiveFromVm('ext1', 0, forged);
    expect(port(host, 'ext1.nic0').counters.drops.forged_transmit).to.equal(2);
    expect(host.endpoint('web1').counters.drops.unsupportedEtherType, 'web1 got nothing').to.equal(0);
    expect(toUplink).to.have.length(0);
    host.receiveFromVm('ext1', 0, buildFrame({ dst: WEB_MAC, src: EXT_MAC, etherType: 0x88b5 }, Buffer.alloc(46, 2)));
    expect(host.endpoint('web1').counters.drops.unsupportedEtherType, 'the honest frame arrived').to.equal(1);
  });

  it('link down blocks the port: frames to the VM are dropped (port_blocked), frames from it too', () => {
    const { host, toVm } = rig();
    host.setVmLink('ext1', 0, true);
    host.setVmLink('ext1', 0, false);
    const blockedBefore = port(host, 'ext1.nic0').counters.drops.port_blocked; // web1's power-on ARP counted too
    host.transmitFromVm('web1', 0, buildFrame({ dst: EXT_MAC, src: WEB_MAC, etherType: 0x88b5 }, Buffer.alloc(46, 3)));
    expect(toVm).to.have.length(0);
    expect(port(host, 'ext1.nic0').counters.drops.port_blocked - blockedBefore).to.equal(1);
    host.receiveFromVm('ext1', 0, buildFrame({ dst: WEB_MAC, src: EXT_MAC, etherType: 0x88b5 }, Buffer.alloc(46, 4)));
    expect(host.endpoint('web1').counters.drops.unsupportedEtherType).to.equal(0);
    host.setVmLink('ext1', 0, true);
    host.transmitFromVm('web1', 0, buildFrame({ dst: EXT_MAC, src: WEB_MAC, etherType: 0x88b5 }, Buffer.alloc(46, 5)));
    expect(toVm).to.have.length(1);
  });

  it('§4.3 a MAC the guest programs (shadow endpoint) moves the port; the host itself never transmits for the guest', () => {
    const { host, toVm, toUplink } = rig();
    host.setVmLink('ext1', 0, true);
    const newMac = parseMac('00:50:56:00:0e:99');
    host.applyGuestActions('ext1', host.endpoint('ext1').setMac(0, newMac));
    expect(port(host, 'ext1.nic0').effectiveMac).to.equal('00:50:56:00:0e:99');
    expect(port(host, 'ext1.nic0').macChangeBlocked, 'MAC changes = reject (the default)').to.equal(true);
    host.tick();
    expect(toUplink.filter((f) => readMac(f, 6) === newMac || readMac(f, 6) === EXT_MAC)).to.have.length(0);
    expect(toVm).to.have.length(0);
  });

  it('guest operations for an external VM are refused with VFAB_VM_EXTERNAL (its vm daemon serves them)', () => {
    const { host } = rig();
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as VfabError).code;
      }
      return 'no error';
    };
    expect(code(() => host.ping('ext1', 0, '192.0.2.11', { id: 1, seq: 0 }))).to.equal('VFAB_VM_EXTERNAL');
    expect(code(() => host.transmitFromVm('ext1', 0, Buffer.alloc(60)))).to.equal('VFAB_VM_EXTERNAL');
    expect(code(() => host.addStreamSink('ext1', 1, 9000))).to.equal('VFAB_VM_EXTERNAL');
    expect(code(() => host.ping('web1', 0, '192.0.2.21', { id: 1, seq: 0 }))).to.equal('no error');
  });
});
