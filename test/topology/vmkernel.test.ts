// hosts[].vmkernels: the model a vmkernel port loads into (vSwitch resolved, MAC generated in the
// vmkernel block, MTU default) and each load error on its line: unknown port group, duplicate name,
// duplicate IP or MAC across the fabric, bad CIDR, a service listed twice, MTU above the vSwitch's, a link
// to a vmkernel port. Generated MACs follow model.ts (00:50:56:40-7f, never a generated VM MAC).

import { expect } from 'chai';
import { parseTopology } from '../../lib/topology/load.js';
import {
  generateNicMac, generateVmkernelMac, resolveEndpoint, STATIC_MAC_BASE, STATIC_MAC_COUNT, VMKERNEL_MAC_BASE, VMKERNEL_MAC_COUNT,
} from '../../lib/topology/model.js';
import { parseMac } from '../../lib/wire/mac.js';
import { MAX_VMKERNELS_PER_HOST } from '../../lib/topology/model.js';
import { MAX_VM_NICS } from '../../lib/endpoint/vm-endpoint.js';
import schema from '../../lib/topology/topology.schema.json' with { type: 'json' };
import { expectOneProblem, fabric } from './helpers.js';

describe('topology: vmkernel ports', () => {
  it('loads with its vSwitch resolved, a generated MAC in 00:50:56:40-7f, MTU 1500 and its services', () => {
    const t = parseTopology(fabric({ vmkernels: `
      - { name: vmk0, portGroup: VM-10, ip: 10.0.0.11/24, gateway: 10.0.0.1, services: [management] }
      - { name: vmk1, portGroup: VGT, ip: 10.0.1.11/24, mac: "00:50:56:6a:00:01", mtu: 1400, services: [vmotion, storage] }
    ` }), 't.yaml');
    const [k0, k1] = t.hosts[0]!.vmkernels;
    expect(k0).to.deep.include({ name: 'vmk0', portGroup: 'VM-10', vswitch: 'vSwitch0', gateway: '10.0.0.1', mtu: 1500, services: ['management'], macGenerated: true });
    expect(k0!.ip).to.deep.equal({ address: '10.0.0.11', prefixLength: 24, text: '10.0.0.11/24' });
    expect(k0!.mac).to.equal(generateVmkernelMac('esx1', 'vmk0'));
    expect(k0!.mac >= VMKERNEL_MAC_BASE && k0!.mac < VMKERNEL_MAC_BASE + VMKERNEL_MAC_COUNT).to.equal(true);
    expect(k0!.macText.startsWith('00:50:56:')).to.equal(true);
    expect(k1).to.deep.include({ mac: parseMac('00:50:56:6a:00:01'), macGenerated: false, mtu: 1400, services: ['vmotion', 'storage'] });
    expect(resolveEndpoint(t, 'esx1.vmk1')).to.deep.include({ kind: 'vmkernel', endpoint: 'esx1.vmk1' });
    expect(t.hosts[0]!.vmkernels.length, 'a host without vmkernels has []').to.equal(2);
    expect(parseTopology(fabric(), 't.yaml').hosts[0]!.vmkernels).to.deep.equal([]);
  });

  it('generated vmkernel MACs never fall in the VM range and avoid MACs taken in the file', () => {
    for (let i = 0; i < 200; i++) {
      const vmk = generateVmkernelMac(`esx${i}`, `vmk${i % 3}`);
      expect(vmk >= STATIC_MAC_BASE && vmk < STATIC_MAC_BASE + STATIC_MAC_COUNT, 'not a VM MAC').to.equal(false);
      expect(vmk).to.not.equal(generateNicMac(`esx${i}`, 'vm', `vmk${i % 3}`));
    }
    const first = generateVmkernelMac('esx1', 'vmk0');
    expect(generateVmkernelMac('esx1', 'vmk0', new Set([first]))).to.equal(first + 1);
    // a file that takes vmk0's MAC by hand for vmk1: vmk0 gets the next one
    const t = parseTopology(fabric({ vmkernels: `
      - { name: vmk1, portGroup: VM-10, ip: 10.0.0.12/24, mac: "${formatMac(first)}" }
      - { name: vmk0, portGroup: VM-10, ip: 10.0.0.11/24 }
    ` }), 't.yaml');
    expect(t.hosts[0]!.vmkernels[1]!.mac).to.equal(first + 1);
  });

  // one vmkernel port with one mistake: [what, the entry, the field reported, the message]
  const ONE_MISTAKE: Array<[string, string, string, string | RegExp]> = [
    ['an unknown port group is reported with a suggestion', '{ name: vmk0, portGroup: VM-1O, ip: 10.0.0.11/24 }', 'portGroup', /host esx1 has no port group `VM-1O` \(did you mean `VM-10`\?\)/],
    ['a name that is not vmk<number>', '{ name: mgmt0, portGroup: VM-10, ip: 10.0.0.11/24 }', 'name', 'not a valid name'],
    ["an IP used by a VM's NIC", '{ name: vmk0, portGroup: VM-10, ip: 192.0.2.11/24 }', 'ip', /IP 192\.0\.2\.11 is already used by VM NIC vm1\.nic0/],
    ['a CIDR without prefix length', '{ name: vmk0, portGroup: VM-10, ip: 10.0.0.11 }', 'ip', 'has no prefix length'],
    ['a CIDR that is the network address', '{ name: vmk0, portGroup: VM-10, ip: 10.0.0.0/24 }', 'ip', 'is the network address'],
    ['a CIDR that is not an address', '{ name: vmk0, portGroup: VM-10, ip: 10.0.0.300/24 }', 'ip', 'is not an IPv4 address'],
    ['a gateway outside the subnet', '{ name: vmk0, portGroup: VM-10, ip: 10.0.0.11/24, gateway: 10.0.1.1 }', 'gateway', "outside the vmkernel port's subnet 10.0.0.0/24"],
    ['a service listed twice', '{ name: vmk0, portGroup: VM-10, ip: 10.0.0.11/24, services: [management, vmotion, management] }', 'services[2]', 'is listed twice'],
    ['an unknown service suggests the close one', '{ name: vmk0, portGroup: VM-10, ip: 10.0.0.11/24, services: [vMotion] }', 'services[0]', 'did you mean `vmotion`?'],
    ['an MTU above the vSwitch MTU', '{ name: vmk0, portGroup: VM-10, ip: 10.0.0.11/24, mtu: 9000 }', 'mtu', 'vmkernel MTU 9000 is above the MTU 1500 of its vSwitch vSwitch0'],
  ];
  for (const [what, entry, field, message] of ONE_MISTAKE) {
    it(what, () => {
      expectOneProblem(fabric({ vmkernels: `- ${entry}   # <-` }), `hosts[0].vmkernels[0].${field}`, message);
    });
  }

  it('a name used twice on a host', () => {
    expectOneProblem(fabric({ vmkernels: `
      - { name: vmk0, portGroup: VM-10, ip: 10.0.0.11/24 }
      - { name: vmk0, portGroup: VM-10, ip: 10.0.0.12/24 }   # <-
    ` }), 'hosts[0].vmkernels[1].name', 'duplicate vmkernel port name `vmk0`');
  });

  it('an IP used by another vmkernel port on another host', () => {
    expectOneProblem(fabric({ vmkernels: `
      - { name: vmk0, portGroup: VM-10, ip: 10.0.0.11/24 }
    `, hosts: `
      - name: esx2
        vswitches:
          - { name: vSwitch0, uplinks: [vmnic0], portGroups: [{ name: Mgmt }] }
        vmkernels:
          - { name: vmk0, portGroup: Mgmt, ip: 10.0.0.11/24 }   # <-
    ` }), 'hosts[1].vmkernels[0].ip', /IP 10\.0\.0\.11 is already used by vmkernel port esx1\.vmk0/);
  });

  it("a MAC used by a VM's NIC (even one written later in the file)", () => {
    expectOneProblem(fabric({ vmkernels: `
      - { name: vmk0, portGroup: VM-10, ip: 10.0.0.11/24, mac: "00:50:56:00:10:99" }   # <-
    `, hosts: `
      - name: esx2
        vswitches:
          - { name: vSwitch0, uplinks: [vmnic0], portGroups: [{ name: PG }] }
        vms:
          - { name: vm9, nics: [{ portGroup: PG, mac: "00:50:56:00:10:99" }] }
    ` }), 'hosts[0].vmkernels[0].mac', /MAC 00:50:56:00:10:99 is already used by VM NIC vm9\.nic0/);
  });

  it('a MAC used by another vmkernel port', () => {
    expectOneProblem(fabric({ vmkernels: `
      - { name: vmk0, portGroup: VM-10, ip: 10.0.0.11/24, mac: "00:50:56:6a:00:01" }
      - { name: vmk1, portGroup: VM-10, ip: 10.0.0.12/24, mac: "00:50:56:6a:00:01" }   # <-
    ` }), 'hosts[0].vmkernels[1].mac', /already used by vmkernel port esx1\.vmk0/);
  });

  it('a link to a vmkernel port', () => {
    expectOneProblem(fabric({ vmkernels: `
      - { name: vmk0, portGroup: VM-10, ip: 10.0.0.11/24 }
    `, links: `
      - [esx1.vmk0, sw1.Gi1/0/3]   # <-
    ` }), 'links[1][0]', 'is a vmkernel port; it attaches to a port group');
  });

  it('the schema limit is MAX_VMKERNELS_PER_HOST, which one kernel endpoint can hold', () => {
    expect(schema.definitions.host.properties.vmkernels.maxItems).to.equal(MAX_VMKERNELS_PER_HOST);
    expect(MAX_VMKERNELS_PER_HOST).to.be.at.most(MAX_VM_NICS);
  });

  it('more than 10 on a host', () => {
    const many = Array.from({ length: 11 }, (_, i) => `- { name: vmk${i}, portGroup: VM-10, ip: 10.0.0.${i + 1}/24 }`).join('\n');
    const text = fabric({ vmkernels: many }).replace('    vmkernels:', '    vmkernels:   # <-');
    expectOneProblem(text, 'hosts[0].vmkernels', 'too many entries in vmkernels: 11, at most 10');
  });
});

function formatMac(mac: number): string {
  return mac.toString(16).padStart(12, '0').replace(/(..)(?!$)/g, '$1:');
}
