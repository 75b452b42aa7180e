// Model tests: defaults, effective policies (port-group overrides), VLAN lists, generated MACs, source
// locations, endpoint resolution and link peers, on quickstart.yaml and small fixtures.

import { expect } from 'chai';
import { join } from 'node:path';
import { loadTopologyFile, parseTopology } from '../../lib/topology/load.js';
import {
  STATIC_MAC_BASE, STATIC_MAC_COUNT, expandVlanRanges, findPortGroup, findVm, formatVlanRanges,
  generateNicMac, isStaticVmwareMac, linkPeer, linkPeers, parseVlanList, resolveEndpoint,
  resolveEndpointDetailed, vlanSetHas, type Topology,
} from '../../lib/topology/model.js';
import { parseMac } from '../../lib/wire/mac.js';
import { fabric, lineOf, yml } from './helpers.js';

const QUICKSTART = join(import.meta.dirname, '..', '..', 'topologies', 'quickstart.yaml');

describe('topology model', () => {
  let qs: Topology;
  before(async () => {
    qs = await loadTopologyFile(QUICKSTART);
  });

  describe('quickstart', () => {
    it('has the brief\'s shape: 2 hosts, 2 switches, VMs on VLAN 10 and 20', () => {
      expect(qs.hosts.map((h) => h.name)).to.deep.equal(['esx1', 'esx2']);
      expect(qs.switches.map((s) => s.name)).to.deep.equal(['sw1', 'sw2']);
      const where = (vm: string) => {
        const f = findVm(qs, vm)!;
        const nic = f.vm.nics[0]!;
        return `${f.host.name}/${nic.portGroup}/${findPortGroup(f.host, nic.portGroup)!.portGroup.vlan}`;
      };
      expect(where('web1')).to.equal('esx1/VM-10/10');
      expect(where('web2')).to.equal('esx2/VM-10/10');
      expect(where('db1')).to.equal('esx2/VM-20/20');
      expect(where('app1')).to.equal('esx1/VM-20/20');
    });

    it('VM addresses use documentation space: VLAN 10 = 192.0.2.0/24, VLAN 20 = 198.51.100.0/24', () => {
      for (const host of qs.hosts) {
        for (const vm of host.vms) {
          for (const nic of vm.nics) {
            const vlan = findPortGroup(host, nic.portGroup)!.portGroup.vlan;
            expect(nic.ip!.address.startsWith(vlan === 10 ? '192.0.2.' : '198.51.100.')).to.equal(true);
            expect(nic.ip!.prefixLength).to.equal(24);
          }
        }
      }
    });

    it('every host uplink is cabled to a trunk allowing 10 and 20 with native VLAN 1', () => {
      for (const host of qs.hosts) {
        for (const uplink of host.vswitches[0]!.uplinks) {
          const peer = linkPeer(qs, `${host.name}.${uplink}`);
          expect(peer?.kind).to.equal('switchPort');
          if (peer?.kind !== 'switchPort') continue;
          expect(peer.port.mode).to.equal('trunk');
          expect(formatVlanRanges(peer.port.allowedVlans)).to.equal('10,20');
          expect(peer.port.nativeVlan).to.equal(1);
        }
      }
      expect(linkPeer(qs, 'esx1.vmnic0')!.endpoint).to.equal('sw1.Gi1/0/1');
      expect(linkPeer(qs, 'esx1.vmnic1')!.endpoint).to.equal('sw2.Gi1/0/1');
    });

    it('fills defaults: §3.2 srcPortId with all uplinks active, §4.5 security reject, MTU 1500, aging 300 s', () => {
      const vs = qs.hosts[1]!.vswitches[0]!;
      expect(vs.teaming).to.deep.equal({
        loadBalancing: 'srcPortId', active: ['vmnic0', 'vmnic1'], standby: [], unused: [],
        failback: true, notifySwitches: true, failureDetection: 'linkStatus',
      });
      expect(vs.security).to.deep.equal({ promiscuous: 'reject', macChanges: 'reject', forgedTransmits: 'reject' });
      expect(vs.mtu).to.equal(1500);
      expect(vs.trafficShaping.enabled).to.equal(false);
      expect(qs.switches[0]!.macAgingMs).to.equal(300_000);
      expect(qs.hosts[1]!.vms[0]!.nics[0]!.name).to.equal('nic0');
    });

    it('MACs are numbers plus text; storage defaults to every LUN of the array', () => {
      const nic = findVm(qs, 'web1')!.vm.nics[0]!;
      expect(nic.mac).to.equal(parseMac('00:50:56:00:10:01'));
      expect(nic.macText).to.equal('00:50:56:00:10:01');
      expect(nic.macGenerated).to.equal(false);
      expect(qs.hosts[1]!.storage[0]!.luns).to.deep.equal(['datastore1']);
      expect(qs.hosts[1]!.storage[0]!.policy).to.equal('roundRobin');
      const lun = qs.arrays[0]!.luns[0]!;
      expect(lun.sizeBytes).to.equal(4 * 1024 ** 3);
      expect(lun.blockCount).to.equal(lun.sizeBytes / 512);
      expect(findVm(qs, 'web1')!.vm.disks[0]).to.include({ name: 'disk0', array: 'array1', lun: 'datastore1', sizeBytes: 1024 ** 3 / 2 });
    });

    it('linkPeers lists a switch\'s cables with the far end resolved', () => {
      const peers = linkPeers(qs, 'sw1');
      expect(peers.map((p) => `${p.localInterface}->${p.remote.endpoint}`)).to.deep.equal([
        'Gi1/0/1->esx1.vmnic0', 'Gi1/0/2->esx2.vmnic0', 'Gi1/0/48->sw2.Gi1/0/48',
      ]);
    });
  });

  describe('port-group overrides resolve into effective policies (§3, §4)', () => {
    const text = fabric({ vswitches: `
      - name: vSwitch1
        uplinks: [vmnic2, vmnic3, vmnic4]
        teaming: { loadBalancing: explicit, active: [vmnic2], standby: [vmnic3], failback: false }
        security: { forgedTransmits: accept }
        portGroups:
          - { name: Inherit, vlan: 30 }
          - name: Override
            vlan: 31
            teaming: { standby: [vmnic2] }
            security: { promiscuous: accept }
    ` });
    let t: Topology;
    before(() => {
      t = parseTopology(text, 'o.yaml');
    });
    it('a port group without overrides takes the vSwitch policy', () => {
      const pg = findPortGroup(t.hosts[0]!, 'Inherit')!.portGroup;
      expect(pg.teaming).to.include({ loadBalancing: 'explicit', failback: false });
      expect(pg.teaming.active).to.deep.equal(['vmnic2']);
      expect(pg.teaming.unused).to.deep.equal(['vmnic4']);
      expect(pg.security.forgedTransmits).to.equal('accept');
      expect(pg.overrides).to.deep.equal([]);
      expect(pg.vswitch).to.equal('vSwitch1');
    });
    it('§3.1 an override of the failover order replaces both lists; other fields still inherit', () => {
      const pg = findPortGroup(t.hosts[0]!, 'Override')!.portGroup;
      expect(pg.teaming.standby).to.deep.equal(['vmnic2']);
      expect(pg.teaming.active).to.deep.equal(['vmnic3', 'vmnic4']);
      expect(pg.teaming.unused).to.deep.equal([]);
      expect(pg.teaming.failback).to.equal(false);
      expect(pg.security).to.deep.equal({ promiscuous: 'accept', macChanges: 'reject', forgedTransmits: 'accept' });
      expect(pg.overrides).to.deep.equal(['teaming.standby', 'security.promiscuous']);
    });
    it('every object carries its source line and path', () => {
      const pg = findPortGroup(t.hosts[0]!, 'Override')!.portGroup;
      expect(pg.loc.line).to.equal(lineOf(text, '- name: Override'));
      expect(pg.loc.path).to.equal('hosts[0].vswitches[1].portGroups[1]');
      expect(pg.loc.file).to.equal('o.yaml');
    });
  });

  describe('VLAN lists', () => {
    it('parses numbers, "a,b,c-d", "all" and mixed lists into merged ranges', () => {
      expect(parseVlanList(10)).to.deep.equal({ ok: true, ranges: [[10, 10]] });
      expect(parseVlanList('10,20,100-110')).to.deep.equal({ ok: true, ranges: [[10, 10], [20, 20], [100, 110]] });
      expect(parseVlanList([20, '10', '11-19', 21])).to.deep.equal({ ok: true, ranges: [[10, 21]] });
      expect(parseVlanList('all')).to.deep.equal({ ok: true, ranges: [[1, 4094]] });
      expect(parseVlanList([])).to.deep.equal({ ok: true, ranges: [] });
    });
    it('rejects out-of-range, reversed and malformed items', () => {
      expect(parseVlanList(0).ok).to.equal(false);
      expect(parseVlanList('4095').ok).to.equal(false);
      expect(parseVlanList('20-10').ok).to.equal(false);
      expect(parseVlanList('10;20').ok).to.equal(false);
    });
    it('formats, tests membership and expands', () => {
      const r = parseVlanList('1,5-7');
      if (!r.ok) expect.fail(r.message);
      expect(formatVlanRanges(r.ranges)).to.equal('1,5-7');
      expect(vlanSetHas(r.ranges, 6)).to.equal(true);
      expect(vlanSetHas(r.ranges, 4)).to.equal(false);
      expect(expandVlanRanges(r.ranges)).to.deep.equal([1, 5, 6, 7]);
      expect(formatVlanRanges([])).to.equal('none');
    });
    it('a trunk without allowedVlans carries 1-4094; an access port without vlan is in VLAN 1', () => {
      const t = parseTopology(yml(`
        name: v
        switches:
          - name: s
            ports:
              - { name: Gi1, mode: trunk }
              - { name: Gi2 }
      `), 'v.yaml');
      expect(t.switches[0]!.ports[0]!.allowedVlans).to.deep.equal([[1, 4094]]);
      expect(t.switches[0]!.ports[1]).to.include({ mode: 'access', accessVlan: 1 });
    });
  });

  describe('§6.2 generated MACs', () => {
    it('are stable, in 00:50:56:00:00:00-3f:ff:ff and differ per NIC', () => {
      const a = generateNicMac('esx1', 'vm1', 'nic0');
      expect(generateNicMac('esx1', 'vm1', 'nic0')).to.equal(a);
      expect(isStaticVmwareMac(a)).to.equal(true);
      expect(generateNicMac('esx1', 'vm1', 'nic1')).to.not.equal(a);
      expect(generateNicMac('esx2', 'vm1', 'nic0')).to.not.equal(a);
    });
    it('skip MACs already taken, wrapping inside the range', () => {
      const a = generateNicMac('h', 'v', 'n');
      expect(generateNicMac('h', 'v', 'n', new Set([a]))).to.equal(a + 1 === STATIC_MAC_BASE + STATIC_MAC_COUNT ? STATIC_MAC_BASE : a + 1);
    });
    it('the loader gives NICs without a MAC a generated one that avoids explicit MACs', () => {
      const want = generateNicMac('esx1', 'vm1', 'nic0');
      const text = fabric({ vms: `- name: vm2\n  nics:\n    - { portGroup: VM-10, mac: "${macText(want)}" }` });
      const t = parseTopology(text, 'g.yaml');
      const generated = t.hosts[0]!.vms[0]!.nics[0]!;
      expect(generated.macGenerated).to.equal(true);
      expect(generated.mac).to.not.equal(want);
      expect(isStaticVmwareMac(generated.mac)).to.equal(true);
      expect(generated.macText).to.equal(macText(generated.mac));
    });
  });

  describe('endpoints', () => {
    it('resolves uplinks, switch ports and VM NICs', () => {
      const up = resolveEndpoint(qs, 'esx2.vmnic1');
      expect(up).to.include({ kind: 'uplink', uplink: 'vmnic1', uplinkIndex: 1 });
      const port = resolveEndpoint(qs, 'sw2.Gi1/0/48');
      expect(port?.kind).to.equal('switchPort');
      const nic = resolveEndpoint(qs, 'db1.nic0');
      expect(nic?.kind === 'vmNic' && nic.host.name).to.equal('esx2');
    });
    it('explains what is wrong with a bad endpoint', () => {
      expect(resolveEndpoint(qs, 'esx1')).to.equal(undefined);
      const r = resolveEndpointDetailed(qs, 'esx1.vmnic9');
      expect(r.ok).to.equal(false);
      if (!r.ok) expect(r.message).to.include('has no uplink');
      const arr = resolveEndpointDetailed(qs, 'array1.eth0');
      expect(!arr.ok && arr.message).to.include('storage array');
    });
  });
});

function macText(mac: number): string {
  return mac.toString(16).padStart(12, '0').replace(/(..)(?!$)/g, '$1:');
}
