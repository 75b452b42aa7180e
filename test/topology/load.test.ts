// Loader tests: shipped topologies load; YAML, schema and semantic mistakes are each reported once with
// the line they are on (marked `# <-` in the fixtures), the field path and a clear message.

import { expect } from 'chai';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  formatProblems, loadTopologyFile, parseTopology, TopologyError, VFAB_TOPOLOGY_INVALID, VFAB_TOPOLOGY_READ,
  VFAB_TOPOLOGY_YAML,
} from '../../lib/topology/load.js';
import { MAX_PROBLEMS } from '../../lib/topology/model.js';
import { expectOneProblem, fabric, lineOf, loadError, yml } from './helpers.js';

const TOPOLOGY_DIR = join(import.meta.dirname, '..', '..', 'topologies');

describe('topology loader', () => {
  describe('shipped topologies', () => {
    const files = readdirSync(TOPOLOGY_DIR).filter((f) => f.endsWith('.yaml'));
    it('include quickstart and native-vlan-trap', () => {
      expect(files).to.include.members(['quickstart.yaml', 'native-vlan-trap.yaml']);
    });
    for (const f of files) {
      it(`${f} loads without problems`, async () => {
        try {
          const t = await loadTopologyFile(join(TOPOLOGY_DIR, f));
          expect(t.name).to.equal(f.replace(/\.yaml$/, ''));
        } catch (e) {
          if (e instanceof TopologyError) expect.fail(formatProblems(e.problems));
          throw e;
        }
      });
    }
  });

  it('the base test fabric is valid', () => {
    expect(parseTopology(fabric(), 't.yaml').hosts[0]!.vms[0]!.name).to.equal('vm1');
  });

  describe('YAML syntax', () => {
    it('an unclosed flow list is one VFAB_TOPOLOGY_YAML problem with its line', () => {
      const text = yml(`
        name: t
        hosts:
          - name: esx1
            vswitches:
              - { name: vSwitch0, uplinks: [vmnic0, vmnic1 }   # <-
      `);
      const e = loadError(text);
      expect(e.code).to.equal(VFAB_TOPOLOGY_YAML);
      expect(e.problems.length).to.be.greaterThan(0);
      expect(e.problems[0]!.line).to.equal(lineOf(text));
      expect(e.problems[0]!.file).to.equal('test.yaml');
    });

    it('a duplicate key is a YAML problem with a hint', () => {
      const text = yml(`
        name: t
        name: u   # <-
      `);
      const e = loadError(text);
      expect(e.code).to.equal(VFAB_TOPOLOGY_YAML);
      expect(e.problems).to.have.length(1);
      expect(e.problems[0]!.line).to.equal(lineOf(text));
      expect(e.problems[0]!.message).to.match(/unique/i);
      expect(e.problems[0]!.hint).to.include('once');
    });

    it('bad indentation is reported on its line', () => {
      const text = 'name: t\nhosts:\n  - name: esx1\n   vms: []\n';
      const e = loadError(text);
      expect(e.code).to.equal(VFAB_TOPOLOGY_YAML);
      expect(e.problems[0]!.line).to.be.oneOf([3, 4]);
    });

    it('an empty file says so', () => {
      const e = loadError('# nothing here\n');
      expect(e.code).to.equal(VFAB_TOPOLOGY_INVALID);
      expect(e.problems[0]!.message).to.include('empty');
    });
  });

  describe('schema', () => {
    it('top-level x- keys are ignored and YAML merge keys work (anchors for reuse)', () => {
      const text = yml(`
        name: a
        x-team: &team { loadBalancing: srcMac, failback: false }
        hosts:
          - name: esx1
            vswitches:
              - name: vSwitch0
                uplinks: [vmnic0, vmnic1]
                teaming: { <<: *team, standby: [vmnic1] }
      `);
      const t = parseTopology(text, 'a.yaml');
      expect(t.hosts[0]!.vswitches[0]!.teaming).to.include({ loadBalancing: 'srcMac', failback: false });
      expect(t.hosts[0]!.vswitches[0]!.teaming.active).to.deep.equal(['vmnic0']);
    });

    it('unknown field: names it, suggests the close one, points at the key', () => {
      const text = fabric({ vswitches: `
        - name: vSwitch1
          portGroups:
            - { name: VM-20, vlanId: 20 }   # <-
      ` });
      const p = expectOneProblem(text, 'hosts[0].vswitches[1].portGroups[0].vlanId', 'unknown field `vlanId` (did you mean `vlan`?)');
      expect(text.split('\n')[p.line - 1]!.slice(p.column - 1)).to.match(/^vlanId/);
      expect(p.hint).to.include('vlan');
    });

    it('wrong type: "expected a list" for a string where a list belongs', () => {
      const text = fabric({ vswitches: `
        - name: vSwitch1
          uplinks: vmnic2   # <-
      ` });
      expectOneProblem(text, 'hosts[0].vswitches[1].uplinks', 'expected a list, got text "vmnic2"');
    });

    it('a mapping where a list belongs gives one problem, not one per nested field', () => {
      const text = fabric({ vswitches: `
        - name: vSwitch1
          portGroups:   # <-
            name: VM-20
            vlan: 20
      ` });
      expectOneProblem(text, 'hosts[0].vswitches[1].portGroups', 'expected a list, got a mapping');
    });

    it('§2.1 port-group vlan must be 0-4095', () => {
      const text = fabric({ vswitches: `
        - name: vSwitch1
          portGroups:
            - { name: VM-20, vlan: 4096 }   # <-
      ` });
      const p = expectOneProblem(text, 'hosts[0].vswitches[1].portGroups[0].vlan', 'vlan must be 0-4095');
      expect(p.hint).to.include('4095');
    });

    it('§1.13 vSwitch MTU above 9000 is refused', () => {
      const text = fabric({ vswitches: `
        - name: vSwitch1
          mtu: 9216   # <-
      ` });
      expectOneProblem(text, 'hosts[0].vswitches[1].mtu', 'mtu must be 1280-9000');
    });

    it('enum with a near miss suggests the right value', () => {
      const text = fabric({ vswitches: `
        - name: vSwitch1
          teaming: { loadBalancing: iphash }   # <-
      ` });
      const p = expectOneProblem(text, 'hosts[0].vswitches[1].teaming.loadBalancing', 'did you mean `ipHash`?');
      expect(p.hint).to.include('srcPortId');
    });

    it('LUN provisioning: thin (default) or thick; a near miss is one problem that suggests the value', () => {
      const thick = parseTopology(fabric().replace('- { name: lun1, sizeGB: 1 }', '- { name: lun1, sizeGB: 1, provisioning: thick }'), 't.yaml');
      expect(thick.arrays[0]!.luns.map((l) => l.provisioning)).to.deep.equal([undefined, 'thick']);
      const text = fabric().replace('- { name: lun1, sizeGB: 1 }', '- { name: lun1, sizeGB: 1, provisioning: thickk }   # <-');
      const p = expectOneProblem(text, 'arrays[0].luns[1].provisioning', 'did you mean `thick`?');
      expect(p.hint).to.include('thin');
    });

    it('missing required field is reported on the object', () => {
      const text = fabric({ vswitches: `
        - uplinks: [vmnic5]   # <-
      ` });
      expectOneProblem(text, 'hosts[0].vswitches[1]', 'missing required field `name`');
    });

    it('MAC syntax is checked', () => {
      const text = fabric({ vms: `
        - name: vm2
          nics:
            - { portGroup: VM-10, mac: "00:50:56:zz:00:01" }   # <-
      ` });
      expectOneProblem(text, 'hosts[0].vms[1].nics[0].mac', 'not a valid mac');
    });

    it('§8 a VM has at most 10 vNICs', () => {
      const nics = Array.from({ length: 11 }, () => '    - { portGroup: VM-10 }').join('\n');
      const text = fabric({ vms: `- name: vm2\n  nics:   # <-\n${nics}` });
      expectOneProblem(text, 'hosts[0].vms[1].nics', 'at most 10');
    });

    it('§8 names are at most 32 characters', () => {
      const text = fabric({ vswitches: `
        - name: vSwitch-with-a-much-too-long-name-for-esx   # <-
      ` });
      expectOneProblem(text, 'hosts[0].vswitches[1].name', 'too long');
    });

    it('§8 a vSwitch has at most 512 port groups', () => {
      const pgs = Array.from({ length: 513 }, (_, i) => `    - { name: pg${i} }`).join('\n');
      const text = fabric({ vswitches: `- name: vSwitch1\n  portGroups:   # <-\n${pgs}` });
      expectOneProblem(text, 'hosts[0].vswitches[1].portGroups', 'at most 512');
    });

    it('§8 a vSwitch has at most 32 uplinks', () => {
      const nics = Array.from({ length: 33 }, (_, i) => `vmnic${i + 10}`).join(', ');
      const text = fabric({ vswitches: `- name: vSwitch1\n  uplinks: [${nics}]   # <-` });
      expectOneProblem(text, 'hosts[0].vswitches[1].uplinks', 'at most 32');
    });

    it('an array read cache is a whole number of MiB, 0-16384; 0 turns it off, leaving it out gives 128 MiB', () => {
      const bad = fabric({ arrays: `
        - name: array2
          readCacheMB: 20000   # <-
      ` });
      const p = expectOneProblem(bad, 'arrays[1].readCacheMB', /16384/);
      expect(p.hint).to.include('MiB');
      const ok = parseTopology(fabric({ arrays: `
        - name: array2
          readCacheMB: 0
      ` }), 'ok.yaml');
      expect(ok.arrays.map((a) => a.readCacheBytes)).to.deep.equal([128 * 1024 ** 2, 0]);
    });

    it('an array iscsi portal is off unless asked for; {} means port 3260, port is 0-65535, no other keys', () => {
      const ok = parseTopology(fabric({ arrays: `
        - name: array2
          iscsi: {}
        - name: array3
          iscsi: { port: 0 }
      ` }), 'ok.yaml');
      expect(ok.arrays.map((a) => a.iscsi)).to.deep.equal([undefined, { port: 3260 }, { port: 0 }]);
      expectOneProblem(fabric({ arrays: `
        - name: array2
          iscsi: { port: 70000 }   # <-
      ` }), 'arrays[1].iscsi.port', /65535/);
      expectOneProblem(fabric({ arrays: `
        - name: array2
          iscsi: { chap: yes }   # <-
      ` }), 'arrays[1].iscsi.chap', /expected a mapping/);
      expectOneProblem(fabric({ arrays: `
        - name: array2
          iscsi: { acl: [] }   # <-
      ` }), 'arrays[1].iscsi.acl', /unknown field/);
    });

    it('an array iscsi initiator ACL and CHAP: kept as written; names, duplicates and secret bounds are load errors on their line', () => {
      const ok = parseTopology(fabric({ arrays: `
        - name: array2
          iscsi:
            initiators: [iqn.1994-05.com.redhat:host1, eui.02004567A425678D, naa.52004567ba64678d]
            chap: { username: host1, secret: twelve-bytes, mutual: { username: array2, secret: other-secret-1 } }
      ` }), 'ok.yaml');
      expect(ok.arrays[1]!.iscsi).to.deep.equal({
        port: 3260,
        initiators: ['iqn.1994-05.com.redhat:host1', 'eui.02004567A425678D', 'naa.52004567ba64678d'],
        chap: { username: 'host1', secret: 'twelve-bytes', mutual: { username: 'array2', secret: 'other-secret-1' } },
      });
      expectOneProblem(fabric({ arrays: `
        - name: array2
          iscsi:
            initiators:
              - iqn.1994-05.com.redhat:host1
              - host1.example.com   # <-
      ` }), 'arrays[1].iscsi.initiators[1]', /not an iSCSI name/);
      expectOneProblem(fabric({ arrays: `
        - name: array2
          iscsi:
            initiators:
              - iqn.1994-05.com.redhat:host1
              - IQN.1994-05.com.redhat:HOST1   # <-
      ` }), 'arrays[1].iscsi.initiators[1]', /listed twice/);
      const short = expectOneProblem(fabric({ arrays: `
        - name: array2
          iscsi:
            chap:
              username: host1
              secret: tooshort-11   # <-
      ` }), 'arrays[1].iscsi.chap.secret', /at least 12 bytes/);
      expect(short.message).not.to.contain('tooshort');
      const same = expectOneProblem(fabric({ arrays: `
        - name: array2
          iscsi:
            chap:
              username: host1
              secret: same-secret-here
              mutual:
                username: array2
                secret: same-secret-here   # <-
      ` }), 'arrays[1].iscsi.chap.mutual.secret', /must differ/);
      expect(same.message).not.to.contain('same-secret');
      const typed = expectOneProblem(fabric({ arrays: `
        - name: array2
          iscsi:
            chap:
              username: host1
              secret: 123456789012345   # <-
      ` }), 'arrays[1].iscsi.chap.secret', /not shown/);
      expect(typed.message).not.to.contain('123456789012345');
      expectOneProblem(fabric({ arrays: `
        - name: array2
          iscsi:
            chap: { secret: twelve-bytes }   # <-
      ` }), 'arrays[1].iscsi.chap', /username/);
    });

    it('host storage protocol: block by default, iscsi only to an array with an iSCSI portal whose ACL lets the host in (errors name line and field)', () => {
      const hostWith = (entry: string, arrays?: string) =>
        fabric({ hosts: `- name: esx2\n  storage:\n    - ${entry}`, ...(arrays !== undefined ? { arrays } : {}) });
      const ok = parseTopology(hostWith('{ array: array2, paths: 2, protocol: iscsi }', '- name: array2\n  iscsi: { port: 0 }\n  luns:\n    - { name: l0, sizeGB: 1 }'), 'ok.yaml');
      expect(ok.hosts.map((h) => h.storage.map((s) => s.protocol))).to.deep.equal([['block'], ['iscsi']]);
      const p = expectOneProblem(hostWith('{ array: array1, protocol: iscsi }   # <-'), 'hosts[1].storage[0].protocol', 'array array1 has no iSCSI portal');
      expect(p.hint).to.include('iscsi:');
      expectOneProblem(hostWith('{ array: array1, protocol: fc }   # <-'), 'hosts[1].storage[0].protocol', /not a valid protocol/);
      const acl = '- name: array2\n  iscsi: { port: 0, initiators: [iqn.2026-11.vfab:esx9] }\n  luns:\n    - { name: l0, sizeGB: 1 }';
      const refused = expectOneProblem(hostWith('{ array: array2, protocol: iscsi }   # <-', acl), 'hosts[1].storage[0].protocol', "array array2's initiator ACL does not list iqn.2026-11.vfab:esx2");
      expect(refused.hint).to.include('initiators');
      const listed = parseTopology(hostWith('{ array: array2, protocol: iscsi }', acl.replace('esx9', 'ESX2')), 'ok.yaml');
      expect(listed.hosts[1]!.storage[0]!.protocol).to.equal('iscsi');
    });

    it('an array dataDir is kept as written (vfab up resolves it), absent by default, one folder per array', () => {
      const ok = parseTopology(fabric({ arrays: `
        - name: array2
          dataDir: data/array2
      ` }), 'ok.yaml');
      expect(ok.arrays.map((a) => a.dataDir)).to.deep.equal([undefined, 'data/array2']);
      const dup = fabric({ arrays: `
        - name: array2
          dataDir: data/shared
        - name: array3
          dataDir: data/shared/   # <-
      ` });
      expectOneProblem(dup, 'arrays[2].dataDir', 'duplicate array dataDir');
      expectOneProblem(fabric({ arrays: `
        - name: array2
          dataDir: ""   # <-
      ` }), 'arrays[1].dataDir', /.+/);
    });

    it('a link is exactly two endpoints', () => {
      const text = fabric({ links: `
        - [esx1.vmnic1]   # <-
      ` });
      expectOneProblem(text, 'links[1]', 'exactly 2');
    });

    it('a node name with a dot is refused (endpoints split at the first dot)', () => {
      const text = fabric({ switches: `
        - name: sw2.core   # <-
      ` });
      const p = expectOneProblem(text, 'switches[1].name', 'not a valid name');
      expect(p.hint).to.include('no dots');
    });
  });

  describe('semantic checks', () => {
    it('duplicate switch names', () => {
      const text = fabric({ switches: `
        - name: sw1   # <-
      ` });
      expectOneProblem(text, 'switches[1].name', 'duplicate name `sw1`');
    });

    it('VM names are unique across the fabric (and against hosts and switches)', () => {
      const text = fabric({ hosts: `
        - name: esx2
          vms:
            - name: vm1   # <-
      ` });
      const p = expectOneProblem(text, 'hosts[1].vms[0].name', 'duplicate name `vm1`');
      expect(p.message).to.include('hosts[0].vms[0]');
    });

    it('duplicate ports within a switch', () => {
      const text = fabric({ ports: `
        - { name: Gi1/0/2, mode: access }   # <-
      ` });
      expectOneProblem(text, 'switches[0].ports[4].name', 'duplicate port name `Gi1/0/2`');
    });

    it('duplicate vSwitch names within a host', () => {
      const text = fabric({ vswitches: `
        - name: vSwitch0   # <-
      ` });
      expectOneProblem(text, 'hosts[0].vswitches[1].name', 'duplicate vSwitch name');
    });

    it('duplicate port group names within a host, even on different vSwitches', () => {
      const text = fabric({ vswitches: `
        - name: vSwitch1
          portGroups:
            - { name: VM-10, vlan: 10 }   # <-
      ` });
      expectOneProblem(text, 'hosts[0].vswitches[1].portGroups[0].name', 'duplicate port group name `VM-10`');
    });

    it('§8 a pNIC belongs to one vSwitch', () => {
      const text = fabric({ vswitches: `
        - name: vSwitch1
          uplinks: [vmnic2, vmnic1]   # <-
      ` });
      expectOneProblem(text, 'hosts[0].vswitches[1].uplinks[1]', 'vmnic1 is already an uplink of vSwitch0');
    });

    it('link to an unknown node', () => {
      const text = fabric({ links: `
        - [esx9.vmnic1, sw1.Gi1/0/2]   # <-
      ` });
      expectOneProblem(text, 'links[1][0]', 'unknown node `esx9`');
    });

    it('link to an unknown switch port suggests a close name', () => {
      const text = fabric({ links: `
        - [esx1.vmnic1, sw1.Gi1/0/22]   # <-
      ` });
      expectOneProblem(text, 'links[1][1]', 'switch sw1 has no port `Gi1/0/22` (did you mean `Gi1/0/2`?)');
    });

    it('link to a vmnic that is no uplink of the host', () => {
      const text = fabric({ links: `
        - [esx1.vmnic7, sw1.Gi1/0/2]   # <-
      ` });
      const p = expectOneProblem(text, 'links[1][0]', 'host esx1 has no uplink `vmnic7`');
      expect(p.hint).to.include('vmnic0, vmnic1');
    });

    it('an endpoint used by two links', () => {
      const text = fabric({ links: `
        - [esx1.vmnic1, sw1.Gi1/0/1]   # <-
      ` });
      expectOneProblem(text, 'links[1][1]', 'sw1.Gi1/0/1 is already cabled by links[0]');
    });

    it('a link to a port-channel, a VM NIC or itself is refused', () => {
      const pc = fabric({ portChannels: '- { name: Po1, members: [Gi1/0/2] }', links: '- [esx1.vmnic1, sw1.Po1]   # <-' });
      expectOneProblem(pc, 'links[1][1]', 'Po1 is a port-channel');
      const vm = fabric({ links: '- [vm1.nic0, sw1.Gi1/0/2]   # <-' });
      expectOneProblem(vm, 'links[1][0]', 'VM NICs attach to port groups');
      const self = fabric({ links: '- [sw1.Gi1/0/2, sw1.Gi1/0/2]   # <-' });
      expectOneProblem(self, 'links[1][1]', 'to itself');
    });

    it('a port in two port-channels', () => {
      const text = fabric({ portChannels: `
        - { name: Po1, members: [Gi1/0/3, Gi1/0/4] }
        - { name: Po2, members: [Gi1/0/4] }   # <-
      ` });
      expectOneProblem(text, 'switches[0].portChannels[1].members[0]', 'Gi1/0/4 is already a member of Po1');
    });

    it('a port-channel member that does not exist', () => {
      const text = fabric({ portChannels: `
        - { name: Po1, members: [Gi1/0/3, Gi1/0/9] }   # <-
      ` });
      expectOneProblem(text, 'switches[0].portChannels[0].members[1]', 'unknown port `Gi1/0/9`');
    });

    it('port-channel members must share mode and VLANs', () => {
      const text = fabric({ portChannels: `
        - { name: Po1, members: [Gi1/0/1, Gi1/0/3] }   # <-
      ` });
      expectOneProblem(text, 'switches[0].portChannels[0].members[1]', 'does not match Gi1/0/1');
    });

    it('trunk VLAN lists: out of range and reversed ranges', () => {
      const out = fabric({ ports: '- { name: Gi1/0/5, mode: trunk, allowedVlans: "10,4095" }   # <-' });
      expectOneProblem(out, 'switches[0].ports[4].allowedVlans', 'VLAN 4095 is out of range 1-4094');
      const rev = fabric({ ports: '- { name: Gi1/0/5, mode: trunk, allowedVlans: [10, "30-20"] }   # <-' });
      const p = expectOneProblem(rev, 'switches[0].ports[4].allowedVlans', 'reversed');
      expect(p.hint).to.include('20-30');
    });

    it('access/trunk fields on the wrong kind of port', () => {
      const acc = fabric({ ports: '- { name: Gi1/0/5, mode: access, allowedVlans: [10] }   # <-' });
      expectOneProblem(acc, 'switches[0].ports[4].allowedVlans', 'trunk ports only');
      const trk = fabric({ ports: '- { name: Gi1/0/5, mode: trunk, vlan: 10 }   # <-' });
      expectOneProblem(trk, 'switches[0].ports[4].vlan', 'this port is a trunk');
    });

    it('a NIC on an unknown port group', () => {
      const text = fabric({ vms: `
        - name: vm2
          nics:
            - { portGroup: VM-01 }   # <-
      ` });
      expectOneProblem(text, 'hosts[0].vms[1].nics[0].portGroup', 'host esx1 has no port group `VM-01` (did you mean `VM-10`?)');
    });

    it('§2.1 guestVlan only on a 4095 port group', () => {
      const bad = fabric({ vms: `
        - name: vm2
          nics:
            - { portGroup: VM-10, guestVlan: 10 }   # <-
      ` });
      expectOneProblem(bad, 'hosts[0].vms[1].nics[0].guestVlan', 'needs a port group with vlan 4095');
      const good = fabric({ vms: `
        - name: vm2
          nics:
            - { portGroup: VGT, guestVlan: 10 }
      ` });
      expect(parseTopology(good, 't.yaml').hosts[0]!.vms[1]!.nics[0]!.guestVlan).to.equal(10);
    });

    it('IP address syntax, missing prefix, network address', () => {
      const cases: Array<[string, string]> = [
        ['192.0.2.256/24', 'is not an IPv4 address'],
        ['192.0.2.5', 'has no prefix length'],
        ['192.0.2.5/33', 'must be 1-32'],
        ['192.0.2.0/24', 'network address'],
      ];
      for (const [ip, message] of cases) {
        const text = fabric({ vms: `- name: vm2\n  nics:\n    - { portGroup: VM-10, ip: ${ip} }   # <-` });
        expectOneProblem(text, 'hosts[0].vms[1].nics[0].ip', message);
      }
    });

    it('gateway outside the subnet, or without an ip', () => {
      const out = fabric({ vms: '- name: vm2\n  nics:\n    - { portGroup: VM-10, ip: 192.0.2.5/24, gateway: 198.51.100.1 }   # <-' });
      expectOneProblem(out, 'hosts[0].vms[1].nics[0].gateway', 'outside the NIC\'s subnet 192.0.2.0/24');
      const noIp = fabric({ vms: '- name: vm2\n  nics:\n    - { portGroup: VM-10, gateway: 192.0.2.1 }   # <-' });
      expectOneProblem(noIp, 'hosts[0].vms[1].nics[0].gateway', 'needs an ip');
    });

    it('a multicast MAC on a NIC is refused', () => {
      const text = fabric({ vms: '- name: vm2\n  nics:\n    - { portGroup: VM-10, mac: "01:00:5e:00:00:01" }   # <-' });
      expectOneProblem(text, 'hosts[0].vms[1].nics[0].mac', 'multicast');
    });

    it('duplicate MACs on one vSwitch and MACs outside 00:50:56:00-3f are not load errors (validate reports them)', () => {
      const text = fabric({ vms: `
        - name: vm2
          nics:
            - { portGroup: VM-10, mac: "00:0c:29:00:00:01" }
        - name: vm3
          nics:
            - { portGroup: VM-10, mac: "00:0c:29:00:00:01" }
      ` });
      const t = parseTopology(text, 't.yaml');
      expect(t.hosts[0]!.vms[1]!.nics[0]!.mac).to.equal(t.hosts[0]!.vms[2]!.nics[0]!.mac);
    });

    it('storage: unknown array, unknown LUN, LUN the host does not see, disk that does not fit', () => {
      const arr = fabric({ storage: '- { array: array2 }   # <-' });
      expectOneProblem(arr, 'hosts[0].storage[1].array', 'unknown array `array2`');
      const lun = fabric({ vms: '- name: vm2\n  disks:\n    - { lun: lun7, sizeGB: 1 }   # <-' });
      expectOneProblem(lun, 'hosts[0].vms[1].disks[0].lun', 'unknown LUN `lun7`');
      const unseen = fabric({ vms: '- name: vm2\n  disks:\n    - { lun: lun1, sizeGB: 0.5 }   # <-' });
      expectOneProblem(unseen, 'hosts[0].vms[1].disks[0].lun', 'host esx1 does not see LUN lun1');
      const full = fabric({ vms: '- name: vm2\n  disks:\n    - { lun: lun0, sizeGB: 1.5 }\n    - { lun: lun0, sizeGB: 1 }   # <-' });
      expectOneProblem(full, 'hosts[0].vms[1].disks[1].sizeGB', 'does not fit');
      const twice = fabric({ storage: '- { array: array1, luns: [lun1] }   # <-' });
      expectOneProblem(twice, 'hosts[0].storage[1].array', 'duplicate storage entry for array `array1`');
      const noLun = fabric({ hosts: '- name: esx2\n  storage:\n    - { array: array1, luns: [lun5] }   # <-' });
      expectOneProblem(noLun, 'hosts[1].storage[0].luns[0]', 'array array1 has no LUN `lun5`');
    });

    it('datastores: on a LUN the host sees; unseen LUN, LUN holding VM disks and duplicate names refused', () => {
      const host2 = (datastores: string, extra = '') => fabric({ hosts: `- name: esx2\n  storage:\n    - { array: array1, luns: [lun0] }\n${extra}  datastores:\n${datastores}` });
      const ok = parseTopology(host2('    - { name: ds1, lun: lun0 }'), 't.yaml');
      expect(ok.hosts[1]!.datastores!.map((d) => [d.name, d.array, d.lun])).to.deep.equal([['ds1', 'array1', 'lun0']]);
      expect(parseTopology(fabric(), 't.yaml').hosts[0]!.datastores).to.equal(undefined);
      expectOneProblem(host2('    - { name: ds1, lun: lun1 }   # <-'), 'hosts[1].datastores[0].lun', 'host esx2 does not see LUN lun1');
      expectOneProblem(host2('    - { name: ds1, lun: lun0 }\n    - { name: ds1, lun: lun0 }   # <-'), 'hosts[1].datastores[1].name', 'duplicate datastore name `ds1`');
      const disks = '  vms:\n    - name: v2\n      disks:\n        - { lun: lun0, sizeGB: 0.5 }\n';
      expectOneProblem(host2('    - { name: ds1, lun: lun0 }   # <-', disks), 'hosts[1].datastores[0].lun', 'holds VM disks of this host');
    });

    it('NAS datastores: a share of an array the host has storage access to; exactly one of lun and share', () => {
      const arrays = '- name: array2\n  shares:\n    - { name: share1, sizeMB: 8 }';
      const host2 = (datastores: string, storage = '    - { array: array2 }\n') => fabric({ arrays, hosts: `- name: esx2\n  storage:\n${storage}  datastores:\n${datastores}` });
      const ok = parseTopology(host2('    - { name: nas1, share: share1 }'), 't.yaml');
      expect(ok.hosts[1]!.datastores!.map((d) => [d.name, d.array, d.lun, d.share])).to.deep.equal([['nas1', 'array2', '', 'share1']]);
      expectOneProblem(host2('    - { name: nas1, share: share1, lun: lun0 }   # <-'), 'hosts[1].datastores[0]', 'needs exactly one of lun');
      expectOneProblem(host2('    - { name: nas1 }   # <-'), 'hosts[1].datastores[0]', 'needs exactly one of lun');
      expectOneProblem(host2('    - { name: nas1, share: share9 }   # <-'), 'hosts[1].datastores[0].share', 'no array has a share `share9`');
      expectOneProblem(host2('    - { name: nas1, share: share1, array: array1 }   # <-'), 'hosts[1].datastores[0].share', 'no array named array1 has a share `share1`');
      expectOneProblem(host2('    - { name: nas1, share: share1 }   # <-', '    - { array: array1, luns: [lun0] }\n'), 'hosts[1].datastores[0].share', 'host esx2 has no storage access to array2');
      const disk = '  vms:\n    - name: v2\n      disks:\n        - { datastore: nas1, sizeGB: 0.5 }   # <-\n';
      expectOneProblem(fabric({ arrays, hosts: `- name: esx2\n  storage:\n    - { array: array2 }\n  datastores:\n    - { name: nas1, share: share1 }\n${disk}` }), 'hosts[1].vms[0].disks[0].datastore', 'VM disks on NAS datastores are not emulated yet');
    });

    it('VM disks on a datastore: a datastore the host mounts, one per VM, exactly one of datastore and array + lun', () => {
      const host2 = (disks: string, datastores = '    - { name: ds1, lun: lun0 }\n') =>
        fabric({ hosts: `- name: esx2\n  storage:\n    - { array: array1, luns: [lun0] }\n  datastores:\n${datastores}  vms:\n    - name: v2\n      disks:\n${disks}` });
      const ok = parseTopology(host2('        - { name: sys, datastore: ds1, sizeGB: 0.25 }\n        - { datastore: ds1, sizeGB: 0.5 }'), 't.yaml');
      expect(ok.hosts[1]!.vms[0]!.disks.map((d) => [d.name, d.datastore, d.array, d.lun, d.sizeBytes])).to.deep.equal([['sys', 'ds1', '', '', 1024 ** 3 / 4], ['disk1', 'ds1', '', '', 1024 ** 3 / 2]]);
      expectOneProblem(host2('        - { datastore: ds2, sizeGB: 1 }   # <-'), 'hosts[1].vms[0].disks[0].datastore', 'host esx2 does not mount datastore `ds2`');
      expectOneProblem(host2('        - { datastore: ds1, sizeGB: 1 }\n        - { datastore: ds2, sizeGB: 1 }   # <-', '    - { name: ds1, lun: lun0 }\n    - { name: ds2, lun: lun0 }\n'),
        'hosts[1].vms[0].disks[1].datastore', 'share one datastore');
      expectOneProblem(host2('        - { datastore: ds1, lun: lun0, sizeGB: 1 }   # <-'), 'hosts[1].vms[0].disks[0].lun', 'not both');
      expectOneProblem(host2('        - { name: d, sizeGB: 1 }   # <-'), 'hosts[1].vms[0].disks[0]', 'a disk needs lun');
    });

    it('§5.3 peak bandwidth below average is refused', () => {
      const text = fabric({ vswitches: '- name: vSwitch1\n  trafficShaping: { enabled: true, averageKbps: 2000, peakKbps: 1000 }   # <-' });
      expectOneProblem(text, 'hosts[0].vswitches[1].trafficShaping.peakKbps', 'below the average');
    });
  });

  describe('§3 impossible teaming is refused at load time', () => {
    const vs = (teaming: string, uplinks = '[vmnic2, vmnic3, vmnic4]') =>
      fabric({ vswitches: `- name: vSwitch1\n  uplinks: ${uplinks}\n  teaming: ${teaming}   # <-` });

    it('§3.1 a NIC both active and standby', () => {
      expectOneProblem(vs('{ active: [vmnic2, vmnic3], standby: [vmnic3] }'),
        'hosts[0].vswitches[1].teaming.standby[0]', 'vmnic3 is both active and standby');
    });
    it('§3.1 a teaming NIC that is not an uplink of the vSwitch', () => {
      expectOneProblem(vs('{ active: [vmnic2, vmnic9] }'), 'hosts[0].vswitches[1].teaming.active[1]', 'vmnic9 is not an uplink of vSwitch1');
      expectOneProblem(vs('{ active: [vmnic2, vmnic0] }'), 'hosts[0].vswitches[1].teaming.active[1]', 'vmnic0 is an uplink of vSwitch0, not of vSwitch1');
    });
    it('§3.4 IP hash with a standby NIC', () => {
      expectOneProblem(vs('{ loadBalancing: ipHash, active: [vmnic2, vmnic3], standby: [vmnic4] }'),
        'hosts[0].vswitches[1].teaming.standby', 'IP hash needs every uplink active, but vmnic4 is standby');
    });
    it('§3.4 IP hash with an unused NIC', () => {
      expectOneProblem(vs('{ loadBalancing: ipHash, active: [vmnic2, vmnic3] }'),
        'hosts[0].vswitches[1].teaming.active', 'vmnic4 is unused');
    });
    it('§3.4 §3.9 IP hash with beacon probing', () => {
      expectOneProblem(vs('{ loadBalancing: ipHash, failureDetection: beaconProbing }'),
        'hosts[0].vswitches[1].teaming.failureDetection', 'IP hash cannot be combined with beacon probing');
    });
    it('§3.9 beacon probing with one uplink', () => {
      expectOneProblem(vs('{ failureDetection: beaconProbing }', '[vmnic2]'),
        'hosts[0].vswitches[1].teaming.failureDetection', 'at least 2 team uplinks');
    });
    it('a port-group override is checked against its vSwitch and reported on the override line', () => {
      const text = fabric({ vswitches: `
        - name: vSwitch1
          uplinks: [vmnic2, vmnic3]
          teaming: { standby: [vmnic3] }
          portGroups:
            - name: PG-ok
            - name: PG-bad
              teaming: { loadBalancing: ipHash }   # <-
      ` });
      expectOneProblem(text, 'hosts[0].vswitches[1].portGroups[1].teaming.loadBalancing', 'vmnic3 is standby');
    });
    it('valid teaming loads (explicit failover with standby, beacon with 3 NICs)', () => {
      const text = vs('{ loadBalancing: explicit, active: [vmnic2], standby: [vmnic3, vmnic4], failureDetection: beaconProbing }');
      const t = parseTopology(text, 't.yaml');
      expect(t.hosts[0]!.vswitches[1]!.teaming.standby).to.deep.equal(['vmnic3', 'vmnic4']);
    });
  });

  describe('reporting', () => {
    it('several mistakes of different kinds in one file are all reported, in line order', () => {
      const text = fabric({
        ports: '- { name: Gi1/0/9, mode: trunk, allowedVlans: "10-x" }   # <- A',
        vswitches: '- name: vSwitch1\n  mtu: 10000   # <- B\n  portGroups:\n    - { name: P, vlanID: 3 }   # <- C',
        vms: '- name: vm2\n  nics:\n    - { portGroup: Nope }   # <- D',
        links: '- [esx1.vmnic1, sw1.Gi1/0/7]   # <- E',
      });
      const e = loadError(text);
      expect(e.code).to.equal(VFAB_TOPOLOGY_INVALID);
      expect(e.problems.map((p) => p.line)).to.deep.equal(['A', 'B', 'C', 'D', 'E'].map((m) => lineOf(text, `# <- ${m}`)));
      expect(e.problems.map((p) => p.path)).to.deep.equal([
        'switches[0].ports[4].allowedVlans',
        'hosts[0].vswitches[1].mtu',
        'hosts[0].vswitches[1].portGroups[0].vlanID',
        'hosts[0].vms[1].nics[0].portGroup',
        'links[1][1]',
      ]);
    });

    it('formatProblems renders file:line:col: path: message (hint)', () => {
      const text = fabric({ vswitches: '- name: vSwitch1\n  portGroups:\n    - { name: P, vlan: 5000 }' });
      const e = loadError(text, 'fab.yaml');
      const line = lineOf(text, 'vlan: 5000');
      const col = text.split('\n')[line - 1]!.indexOf('5000') + 1;
      expect(formatProblems(e.problems)).to.match(
        new RegExp(`^fab\\.yaml:${line}:${col}: hosts\\[0\\]\\.vswitches\\[1\\]\\.portGroups\\[0\\]\\.vlan: vlan must be 0-4095, got 5000 \\(.*§2\\.1\\)$`));
      expect(e.message).to.include('fab.yaml');
      expect(e.toJSON()).to.have.property('code', VFAB_TOPOLOGY_INVALID);
    });

    it(`caps the report at MAX_PROBLEMS (${MAX_PROBLEMS}) and says how many were left out`, () => {
      const bad = Array.from({ length: MAX_PROBLEMS + 20 }, (_, i) => `- { name: Gi2/0/${i}, mode: access, vlan: 9999 }`).join('\n');
      const e = loadError(fabric({ ports: bad }));
      expect(e.problems).to.have.length(MAX_PROBLEMS);
      expect(e.problems[MAX_PROBLEMS - 1]!.message).to.include('21 more problems');
    });

    it('loadTopologyFile: a missing file is VFAB_TOPOLOGY_READ', async () => {
      try {
        await loadTopologyFile(join(TOPOLOGY_DIR, 'no-such-file.yaml'));
        expect.fail('should throw');
      } catch (e) {
        expect(e).to.be.instanceOf(TopologyError);
        expect((e as TopologyError).code).to.equal(VFAB_TOPOLOGY_READ);
      }
    });
  });
});
