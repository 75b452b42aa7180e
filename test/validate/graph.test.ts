import { expect } from 'chai';
import { PhysicalGraph, allNics, portEgressTag, portIngressVlan } from '../../lib/validate/graph.js';
import { analyzeSpofs } from '../../lib/validate/analysis.js';
import { addStatusCounters, classify, explainDeltas, renderMatrix, type ProbeResult } from '../../lib/validate/probe-explain.js';
import { parsePath } from '../../lib/validate/locate.js';
import type { SwitchPort } from '../../lib/topology/model.js';
import { BASE, topo, variant } from './helpers.js';
import fs from 'node:fs';

const trunk = (allowed: Array<[number, number]>, native: number): SwitchPort => ({
  name: 'p', description: '', mode: 'trunk', accessVlan: 0, allowedVlans: allowed, nativeVlan: native, shutdown: false, portChannel: undefined,
  loc: { file: 'f', line: 1, column: 1, path: '' },
});

describe('validate graph', () => {
  it('trunk egress tags allowed VLANs and sends the native one untagged (§2.6)', () => {
    const p = trunk([[10, 20]], 10);
    expect(portEgressTag(p, 10)).to.equal('untagged');
    expect(portEgressTag(p, 11)).to.equal(11);
    expect(portEgressTag(p, 30)).to.equal(null);
    expect(portIngressVlan(p, 'untagged')).to.equal(10);
    expect(portIngressVlan(p, 30)).to.equal(null);
    expect(portIngressVlan({ ...p, shutdown: true }, 11)).to.equal(null);
  });

  it('access ports between switches join different VLAN numbers into one domain', () => {
    const text = variant(['      - { name: Gi1/0/48, mode: trunk, allowedVlans: [10, 20], nativeVlan: 999 }\n  - name: sw2',
      '      - { name: Gi1/0/48, mode: access, vlan: 10 }\n  - name: sw2'],
    ['      - { name: Gi1/0/48, mode: trunk, allowedVlans: [10, 20], nativeVlan: 999 }\nhosts', '      - { name: Gi1/0/48, mode: access, vlan: 20 }\nhosts']);
    const g = new PhysicalGraph(topo(text));
    expect(g.segment('sw1', 10)).to.equal(g.segment('sw2', 20));
    expect(g.segment('sw1', 20)).to.not.equal(g.segment('sw2', 20));
  });

  it('reach: same VLAN across switches is reachable; a trunk missing the VLAN makes it partial', () => {
    const t = topo(BASE);
    const g = new PhysicalGraph(t);
    const [web1, web2] = allNics(t);
    expect(g.reach(web1!, web2!).reach).to.equal('reachable');
    const cut = topo(variant(['      - { name: Gi1/0/2, mode: trunk, allowedVlans: [10, 20], nativeVlan: 999 }', '      - { name: Gi1/0/2, mode: trunk, allowedVlans: [20], nativeVlan: 999 }']));
    const [a, b] = allNics(cut);
    const r = new PhysicalGraph(cut).reach(a!, b!);
    expect(r.reach).to.equal('partial');
    expect(r.reasons.join()).to.contain('does not allow VLAN 10');
  });

  it('SPOF analysis: two uplinks on two switches have none', () => {
    expect(analyzeSpofs(topo(BASE))).to.deep.equal([]);
  });

  it('parsePath reads indexes and quoted keys', () => {
    expect(parsePath('hosts[0].vswitches[1]["a.b"].vlan')).to.deep.equal(['hosts', 0, 'vswitches', 1, 'a.b', 'vlan']);
  });
});

describe('probe explanations', () => {
  const trap = topo(fs.readFileSync('topologies/native-vlan-trap.yaml', 'utf8'));
  const hostStatus = (reason: string, n: number) => ({
    vswitches: [{ name: 'vSwitch0', counters: { drops: { [reason]: n, reverse_path: n } } }],
    vms: [{ name: 'trapped', counters: { drops: { notForUs: n } } }],
  });

  it('names the vSwitch and the native-VLAN cause for an untagged reply (§2.6)', () => {
    const before = addStatusCounters(new Map(), 'esx1', hostStatus('unknown_unicast_from_uplink', 1));
    const after = addStatusCounters(new Map(), 'esx1', hostStatus('unknown_unicast_from_uplink', 3));
    const nics = allNics(trap);
    const hops = explainDeltas(trap, before, after, [nics.find((n) => n.vm.name === 'trapped')!]);
    expect(hops).to.have.length(1); // reverse_path and notForUs are benign
    expect(hops[0]!.where).to.equal('esx1/vSwitch0');
    expect(hops[0]!.count).to.equal(2);
    expect(hops[0]!.text).to.contain('untagged on native VLAN 10').and.contain('sw1 port Gi1/0/1');
  });

  it('names a switch port and its drop reason (§2.7)', () => {
    const sw = (n: number) => ({ ports: [{ name: 'Gi1/0/1', counters: { rxDrops: { vlan_not_allowed: n }, txDrops: {} } }] });
    const hops = explainDeltas(trap, addStatusCounters(new Map(), 'sw1', sw(0)), addStatusCounters(new Map(), 'sw1', sw(2)));
    expect(hops.map((h) => h.text)).to.deep.equal([
      'sw1 port Gi1/0/1 dropped 2 frames on ingress: vlan_not_allowed — trunk received a VID (or untagged frame for a native VLAN) outside its allowed list',
    ]);
  });

  it('classifies results against the expectation', () => {
    expect(classify('reachable', true)).to.equal('ok');
    expect(classify('reachable', false)).to.equal('UNEXPECTED-FAIL');
    expect(classify('isolated', false)).to.equal('isolated');
    expect(classify('isolated', true)).to.equal('UNEXPECTED-REACH');
    expect(classify('no-router', false)).to.equal('no-router');
  });

  it('renders one matrix per VLAN and explains failures', () => {
    const base = { toIp: '192.0.2.12', vlan: 'VLAN 10', kind: 'peer' as const, expected: 'reachable' as const, predicted: 'reachable' as const, sent: 2 };
    const results: ProbeResult[] = [
      { ...base, key: 'a.nic0 -> b.nic0', from: 'a.nic0', to: 'b.nic0', received: 2, reachable: true, outcome: 'ok', explanation: [] },
      { ...base, key: 'b.nic0 -> a.nic0', from: 'b.nic0', to: 'a.nic0', received: 0, reachable: false, outcome: 'UNEXPECTED-FAIL', explanation: ['sw1 port X dropped'] },
    ];
    const text = renderMatrix(results);
    expect(text).to.contain('VLAN 10');
    expect(text).to.match(/a\.nic0\s+-\s+ok/);
    expect(text).to.contain('FAIL b.nic0 -> a.nic0');
    expect(text).to.contain('    sw1 port X dropped');
    expect(text).to.contain('2 pairs probed: 1 as expected, 1 unexpected');
  });
});
