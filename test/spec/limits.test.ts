// Spec coverage audit (docs/spec-coverage.md): the §8 limits vfab enforces that earlier tests did not
// pin: vSwitches per host (127), active ports per host (1016), physical NICs per host across vSwitches
// (32), ports per standard switch (4088) and the 32 multicast filters per vNIC at the vSwitch API.
// Topologies are generated YAML (test/topology/helpers.ts); each limit is tested at the bound and one past it.

import { expect } from 'chai';
import { parseTopology } from '../../lib/topology/load.js';
import { MAX_ACTIVE_PORTS_PER_HOST, MAX_PNICS_PER_HOST, MAX_VSWITCHES_PER_HOST } from '../../lib/topology/model.js';
import { MAX_MULTICAST_FILTERS_PER_PORT, MAX_PORTS_PER_VSWITCH } from '../../lib/vswitch/limits.js';
import { VSwitch } from '../../lib/vswitch/vswitch.js';
import { fabric, loadError } from '../topology/helpers.js';

const messages = (text: string): string[] => loadError(text).problems.map((p) => `${p.path}: ${p.message}`);

describe('spec audit: §8 limits', () => {
  it('§8 the named limits have the spec values', () => {
    expect([MAX_VSWITCHES_PER_HOST, MAX_ACTIVE_PORTS_PER_HOST, MAX_PNICS_PER_HOST, MAX_PORTS_PER_VSWITCH, MAX_MULTICAST_FILTERS_PER_PORT])
      .to.deep.equal([127, 1016, 32, 4088, 32]);
  });

  it('§8 a host has at most 127 vSwitches: 127 load, 128 are refused', () => {
    const extra = (n: number) => Array.from({ length: n }, (_, i) => `- { name: vs${i} }`).join('\n');
    expect(() => parseTopology(fabric({ vswitches: extra(126) }), 't.yaml')).to.not.throw();
    const m = messages(fabric({ vswitches: extra(127) }));
    expect(m).to.have.length(1);
    expect(m[0]).to.match(/^hosts\[0\]\.vswitches: .*127/);
  });

  it('§8 a host has at most 32 physical NICs, counted across its vSwitches', () => {
    // vSwitch0 has vmnic0 and vmnic1; add vSwitches of 10 uplinks each
    const withUplinks = (total: number) => {
      const lines: string[] = [];
      for (let n = 2, s = 0; n < total; s++) {
        const nics = Array.from({ length: Math.min(10, total - n) }, (_, i) => `vmnic${n + i}`);
        n += nics.length;
        lines.push(`- { name: vs${s}, uplinks: [${nics.join(', ')}] }`);
      }
      return lines.join('\n');
    };
    expect(() => parseTopology(fabric({ vswitches: withUplinks(32) }), 't.yaml')).to.not.throw();
    const m = messages(fabric({ vswitches: withUplinks(33) }));
    expect(m).to.have.length(1);
    expect(m[0]).to.match(/^hosts\[0\]\.vswitches: host has 33 physical NICs; at most 32/);
  });

  it('§8 a host has at most 1016 active ports: 1016 vNICs load, 1017 are refused', () => {
    // the base fabric has vm1 with one vNIC; add VMs with 5 vNICs each, then top up
    const vms = (total: number) => {
      const lines: string[] = [];
      for (let n = 1, v = 0; n < total; v++) {
        const k = Math.min(5, total - n);
        n += k;
        lines.push(`- name: x${v}`, '  nics:', ...Array.from({ length: k }, () => '    - { portGroup: VM-10 }'));
      }
      return lines.join('\n');
    };
    expect(() => parseTopology(fabric({ vms: vms(1016) }), 't.yaml')).to.not.throw();
    const m = messages(fabric({ vms: vms(1017) }));
    expect(m).to.have.length(1);
    expect(m[0]).to.match(/^hosts\[0\]\.vms: 1017 vNICs on this host; at most 1016 active ports per host/);
  });

  it('§8 a standard vSwitch refuses a port beyond its port count (VFAB_VSWITCH_PORTS_EXHAUSTED), and 4088 is the cap', () => {
    const vs = new VSwitch({ name: 'vSwitch0', uplinks: ['vmnic0'], portGroups: [{ name: 'pg', vlanId: 0 }], maxPorts: 2 });
    vs.connectPort({ portGroup: 'pg', initialMac: 0x005056000001 });
    vs.connectPort({ portGroup: 'pg', initialMac: 0x005056000002 });
    expect(() => vs.connectPort({ portGroup: 'pg', initialMac: 0x005056000003 })).to.throw().with.property('code', 'VFAB_VSWITCH_PORTS_EXHAUSTED');
    expect(() => new VSwitch({ name: 'v', uplinks: [], portGroups: [], maxPorts: MAX_PORTS_PER_VSWITCH })).to.not.throw();
    expect(() => new VSwitch({ name: 'v', uplinks: [], portGroups: [], maxPorts: MAX_PORTS_PER_VSWITCH + 1 }))
      .to.throw().with.property('code', 'VFAB_VSWITCH_BAD_CONFIG');
  });
});
