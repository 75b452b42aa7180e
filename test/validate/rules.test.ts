import { expect } from 'chai';
import { RULE_LIST, RULES, validateText } from '../../lib/validate/index.js';
import { BASE, fileFindings, findingsOf, ids, variant } from './helpers.js';

const SHIPPED: Array<[string, string, string]> = [
  ['vlan-not-allowed', RULES.vlanNotAllowed.id, '§2.7'],
  ['native-vlan-trap', RULES.nativeVlanTrap.id, '§2.6'],
  ['port-group-vlan-mismatch', RULES.portGroupVlanMismatch.id, 'cluster'],
  ['port-group-missing', RULES.portGroupMissing.id, 'cluster'],
  ['single-uplink', RULES.singleUplink.id, '§3.7'],
  ['uplinks-same-switch', RULES.uplinksSameSwitch.id, '§3.7'],
  ['ip-hash-without-port-channel', RULES.ipHashNoChannel.id, '§3.4'],
  ['port-channel-without-ip-hash', RULES.channelNotIpHash.id, '§3.4'],
  ['beacon-probing-two-uplinks', RULES.beaconTwoUplinks.id, '§3.9'],
  ['mtu-mismatch', RULES.mtuMismatch.id, '§1.13'],
  ['duplicate-mac', RULES.duplicateMac.id, '§6.6'],
  ['mac-out-of-range', RULES.macOutOfRange.id, '§6.2'],
  ['standby-same-switch', RULES.standbySameSwitch.id, '§3.7'],
  ['gateway-unreachable', RULES.gatewayUnreachable.id, 'gateway'],
  ['gateway-not-in-design', RULES.gatewayNotInDesign.id, 'gateway'],
  ['uplink-not-cabled', RULES.uplinkNotCabled.id, '§3.9'],
];

describe('validate rules: shipped topologies', () => {
  it('ships one topology per rule', () => {
    expect(SHIPPED.map((s) => s[1]).sort()).to.deep.equal(RULE_LIST.map((r) => r.id).sort());
  });
  for (const [file, ruleId, spec] of SHIPPED) {
    it(`topologies/validate/${file}.yaml triggers ${ruleId} (${spec})`, () => {
      const findings = fileFindings(`topologies/validate/${file}.yaml`);
      const hit = findings.filter((f) => f.ruleId === ruleId);
      expect(hit, ids(findings).join(',')).to.not.be.empty;
      // nothing else at error level
      expect(findings.filter((f) => f.severity === 'error' && f.ruleId !== ruleId).map((f) => f.ruleId)).to.deep.equal([]);
      for (const f of hit) {
        expect(f.file).to.equal(`topologies/validate/${file}.yaml`);
        expect(f.line).to.be.greaterThan(1);
        expect(f.hint).to.be.a('string').and.not.empty;
        expect(f.path).to.match(/^(hosts|switches)\[/);
      }
    });
  }
  it('topologies/production.yaml triggers no rule at all', () => {
    expect(fileFindings('topologies/production.yaml')).to.deep.equal([]);
  });
  it('the clean base of the rule topologies triggers no rule', () => {
    expect(findingsOf(BASE)).to.deep.equal([]);
  });
  it('topologies/native-vlan-trap.yaml gives the native-VLAN trap on the Trap-10 vlan line (§2.6)', () => {
    const f = fileFindings('topologies/native-vlan-trap.yaml').filter((x) => x.ruleId === RULES.nativeVlanTrap.id);
    expect(f).to.have.length(1);
    expect(f[0]!.path).to.equal('hosts[0].vswitches[0].portGroups[0].vlan');
    expect(f[0]!.message).to.contain('Trap-10');
  });
});

describe('validate rules: triggering and near-miss designs', () => {
  const has = (text: string, id: string) => ids(findingsOf(text)).includes(id);

  it('VFAB-NET-001 §2.7: VLAN missing on a trunk triggers; the same VLAN allowed does not', () => {
    // the first Gi1/0/2 is sw1's, cabled to esx2.vmnic0
    const bad = variant(['      - { name: Gi1/0/2, mode: trunk, allowedVlans: [10, 20], nativeVlan: 999 }',
      '      - { name: Gi1/0/2, mode: trunk, allowedVlans: [20], nativeVlan: 999 }']);
    const f = findingsOf(bad).filter((x) => x.ruleId === RULES.vlanNotAllowed.id);
    expect(f).to.have.length(1);
    expect(f[0]!.message).to.contain('esx2').and.contain('vmnic0').and.contain('VLAN 10');
    expect(has(BASE, RULES.vlanNotAllowed.id)).to.equal(false);
  });

  it('VFAB-NET-001 §2.1: a tagged port group behind an access port triggers; a VLAN-0 port group there does not', () => {
    const access = variant(['      - { name: Gi1/0/1, mode: trunk, allowedVlans: [10, 20], nativeVlan: 999 }',
      '      - { name: Gi1/0/1, mode: access, vlan: 10 }']);
    expect(findingsOf(access).find((x) => x.ruleId === RULES.vlanNotAllowed.id)?.message).to.contain('access port');
    // both of esx1's uplinks on access ports in VLAN 10: a VLAN-0 port group is right there (§2.1 EST)
    const est = access.replace('  - name: sw2\n    ports:\n      - { name: Gi1/0/1, mode: trunk, allowedVlans: [10, 20], nativeVlan: 999 }',
      '  - name: sw2\n    ports:\n      - { name: Gi1/0/1, mode: access, vlan: 10 }').replace(/- \{ name: VM-20, vlan: 20 \}/, '- { name: VM-20, vlan: 20 }').replace(
      '          - { name: VM-10, vlan: 10 }\n          - { name: VM-20, vlan: 20 }\n    vms:\n      - name: web1',
      '          - { name: Native, vlan: 0 }\n    vms:\n      - name: web1').replace('{ portGroup: VM-10, mac: "00:50:56:00:10:01"', '{ portGroup: Native, mac: "00:50:56:00:10:01"');
    const f = findingsOf(est);
    expect(ids(f)).to.not.include(RULES.vlanNotAllowed.id);
  });

  it('VFAB-NET-002 §2.6: the finding points at the port group vlan line; an EST (vlan 0) port group on the same trunk does not trigger', () => {
    const trap = variant(['      - { name: Gi1/0/1, mode: trunk, allowedVlans: [10, 20], nativeVlan: 999 }',
      '      - { name: Gi1/0/1, mode: trunk, allowedVlans: [10, 20], nativeVlan: 20 }']);
    const f = findingsOf(trap).filter((x) => x.ruleId === RULES.nativeVlanTrap.id);
    expect(f).to.have.length(1);
    expect(f[0]!.path).to.equal('hosts[0].vswitches[0].portGroups[1].vlan');
    expect(f[0]!.line).to.equal(trap.split('\n').findIndex((l) => l.includes('{ name: VM-20, vlan: 20 }')) + 1);
    expect(f[0]!.related?.[0]?.message).to.contain('sw1 Gi1/0/1');
    const est = trap.replace('          - { name: VM-20, vlan: 20 }\n    vms:\n      - name: web1', '          - { name: VM-20, vlan: 0 }\n    vms:\n      - name: web1');
    expect(ids(findingsOf(est))).to.not.include(RULES.nativeVlanTrap.id);
  });

  it('VFAB-NET-003: same name with another VLAN triggers, on the later host', () => {
    const text = variant(['          - { name: VM-20, vlan: 20 }\n    vms:\n      - name: web2', '          - { name: VM-20, vlan: 10 }\n    vms:\n      - name: web2']);
    const f = findingsOf(text).filter((x) => x.ruleId === RULES.portGroupVlanMismatch.id);
    expect(f).to.have.length(1);
    expect(f[0]!.path).to.equal('hosts[1].vswitches[0].portGroups[1].vlan');
  });

  it('VFAB-NET-004: a port group missing on a host without shared storage is not a cluster problem', () => {
    const text = variant(['          - { name: VM-10, vlan: 10 }\n          - { name: VM-20, vlan: 20 }\n    vms:\n      - name: web2', '          - { name: VM-20, vlan: 20 }\n    vms:\n      - name: web2'],
      ['{ portGroup: VM-10, mac: "00:50:56:00:10:02"', '{ portGroup: VM-20, mac: "00:50:56:00:10:02"']);
    expect(has(text, RULES.portGroupMissing.id)).to.equal(true);
    const noStorage = text.replace(/    storage:\n      - \{ array: array1 \}\n/g, '');
    expect(has(noStorage, RULES.portGroupMissing.id)).to.equal(false);
  });

  it('VFAB-NET-007 §3.4: IP hash over a matching static channel is clean; a channel with an extra member is not', () => {
    const good = variant(
      ['      - { name: Gi1/0/48, mode: trunk, allowedVlans: [10, 20], nativeVlan: 999 }\n  - name: sw2',
        '      - { name: Gi1/0/48, mode: trunk, allowedVlans: [10, 20], nativeVlan: 999 }\n    portChannels:\n      - { name: Po1, members: [Gi1/0/1, Gi1/0/3] }\n  - name: sw2'],
      ['  - [esx1.vmnic1, sw2.Gi1/0/1]', '  - [esx1.vmnic1, sw1.Gi1/0/3]'],
      ['        uplinks: [vmnic0, vmnic1]\n        portGroups:\n          - { name: VM-10, vlan: 10 }\n          - { name: VM-20, vlan: 20 }\n    vms:\n      - name: web1',
        '        uplinks: [vmnic0, vmnic1]\n        teaming: { loadBalancing: ipHash }\n        portGroups:\n          - { name: VM-10, vlan: 10 }\n          - { name: VM-20, vlan: 20 }\n    vms:\n      - name: web1']);
    const f = findingsOf(good);
    expect(ids(f)).to.not.include(RULES.ipHashNoChannel.id);
    expect(ids(f)).to.not.include(RULES.channelNotIpHash.id);
    const extra = good.replace('members: [Gi1/0/1, Gi1/0/3]', 'members: [Gi1/0/1, Gi1/0/2, Gi1/0/3]');
    const e = findingsOf(extra).filter((x) => x.ruleId === RULES.ipHashNoChannel.id);
    expect(e).to.have.length(1);
    expect(e[0]!.message).to.contain('3 members');
    // Gi1/0/2 faces esx2, which is not IP hash: the channel rule fires too
    expect(ids(findingsOf(extra))).to.include(RULES.channelNotIpHash.id);
  });

  it('VFAB-NET-009 §3.9: beacon probing with 3 uplinks is clean', () => {
    const three = variant(['        uplinks: [vmnic0, vmnic1]\n        portGroups:\n          - { name: VM-10, vlan: 10 }\n          - { name: VM-20, vlan: 20 }\n    vms:\n      - name: web1',
      '        uplinks: [vmnic0, vmnic1, vmnic2]\n        teaming: { failureDetection: beaconProbing }\n        portGroups:\n          - { name: VM-10, vlan: 10 }\n          - { name: VM-20, vlan: 20 }\n    vms:\n      - name: web1'],
    ['  - [esx1.vmnic1, sw2.Gi1/0/1]', '  - [esx1.vmnic1, sw2.Gi1/0/1]\n  - [esx1.vmnic2, sw1.Gi1/0/3]']);
    expect(findingsOf(three)).to.deep.equal([]);
  });

  it('VFAB-NET-010 §1.13: jumbo vSwitch with jumbo switches is clean; the finding names the switch', () => {
    const jumbo = variant(['        uplinks: [vmnic0, vmnic1]\n        portGroups:\n          - { name: VM-10, vlan: 10 }\n          - { name: VM-20, vlan: 20 }\n    vms:\n      - name: web1',
      '        mtu: 9000\n        uplinks: [vmnic0, vmnic1]\n        portGroups:\n          - { name: VM-10, vlan: 10 }\n          - { name: VM-20, vlan: 20 }\n    vms:\n      - name: web1']);
    const f = findingsOf(jumbo).filter((x) => x.ruleId === RULES.mtuMismatch.id);
    expect(f.map((x) => x.message.includes('sw1') || x.message.includes('sw2'))).to.deep.equal([true, true]);
    const both = jumbo.replace('  - name: sw1\n', '  - name: sw1\n    mtu: 9216\n').replace('  - name: sw2\n', '  - name: sw2\n    mtu: 9216\n');
    expect(ids(findingsOf(both))).to.not.include(RULES.mtuMismatch.id);
  });

  it('VFAB-NET-011/012 §6.2: generated MACs never collide and stay in range', () => {
    const gen = BASE.replace(/, mac: "[0-9a-f:]+"/g, '');
    expect(findingsOf(gen)).to.deep.equal([]);
  });

  it('VFAB-NET-014: a gateway NIC in the same VLAN is reachable (no finding)', () => {
    const ok = variant(['{ portGroup: VM-10, mac: "00:50:56:00:10:01", ip: 192.0.2.11/24 }', '{ portGroup: VM-10, mac: "00:50:56:00:10:01", ip: 192.0.2.11/24, gateway: 192.0.2.12 }']);
    expect(findingsOf(ok)).to.deep.equal([]);
    const f = fileFindings('topologies/validate/gateway-unreachable.yaml').find((x) => x.ruleId === RULES.gatewayUnreachable.id)!;
    expect(f.message).to.contain('gw1.nic0');
    expect(f.related?.[0]?.message).to.contain('gw1.nic0');
  });
});

describe('validate: configurations the loader already refuses (exit 2, §3.4, §3.9)', () => {
  const refused: Array<[string, string]> = [
    ['IP hash with a standby uplink', '        teaming: { loadBalancing: ipHash, active: [vmnic0], standby: [vmnic1] }\n'],
    ['IP hash with an unused uplink', '        teaming: { loadBalancing: ipHash, active: [vmnic0] }\n'],
    ['IP hash with beacon probing', '        teaming: { loadBalancing: ipHash, failureDetection: beaconProbing }\n'],
  ];
  for (const [what, teaming] of refused) {
    it(`${what} does not load`, () => {
      const text = BASE.replace('        uplinks: [vmnic0, vmnic1]\n', `        uplinks: [vmnic0, vmnic1]\n${teaming}`);
      const r = validateText(text, 'x.yaml');
      expect(r.ok).to.equal(false);
      if (!r.ok) {
        expect(r.code).to.equal('VFAB_TOPOLOGY_INVALID');
        expect(r.problems[0]!.message).to.match(/IP hash/);
      }
    });
  }
  it('beacon probing with one uplink does not load', () => {
    const text = BASE.replace('        uplinks: [vmnic0, vmnic1]\n', '        uplinks: [vmnic0, vmnic1]\n        teaming: { failureDetection: beaconProbing, active: [vmnic0] }\n');
    const r = validateText(text, 'x.yaml');
    expect(r.ok).to.equal(false);
  });
});
