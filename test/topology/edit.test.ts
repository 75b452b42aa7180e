// lib/topology/edit.ts: edits of a topology document keep its comments, are checked with every rule of a
// topology file, and locate objects by name.
import { expect } from 'chai';
import fs from 'node:fs';
import { editTopologyText, rawTopology, switchPortPath, portGroupPath, vmNicPath, vswitchPath, hostPath } from '../../lib/topology/edit.js';

const text = fs.readFileSync('topologies/quickstart.yaml', 'utf8');

describe('topology/edit', () => {
  it('sets a field by path, keeps the comments, and the loaded model has the change', () => {
    const raw = rawTopology(text);
    const p = portGroupPath(raw, 'esx1', 'VM-10');
    const { text: out, topology } = editTopologyText(text, 'q.yaml', [{ path: [...p, 'vlan'], value: 11 }]);
    const pg = topology.hosts.find((h) => h.name === 'esx1')!.vswitches.flatMap((v) => v.portGroups).find((g) => g.name === 'VM-10')!;
    expect(pg.vlan).to.equal(11);
    const firstComment = text.split('\n').find((l) => l.trim().startsWith('#'))!;
    expect(out).to.include(firstComment);
  });

  it('refuses an edit that makes an invalid topology, with the problem located', () => {
    const raw = rawTopology(text);
    const p = portGroupPath(raw, 'esx1', 'VM-10');
    expect(() => editTopologyText(text, 'q.yaml', [{ path: [...p, 'vlan'], value: 5000 }])).to.throw(/4095|vlan/i);
    const nic = vmNicPath(raw, 'web1', 'nic0');
    expect(() => editTopologyText(text, 'q.yaml', [{ path: [...nic, 'portGroup'], value: 'NOPE' }])).to.throw(/NOPE/);
  });

  it('removes a field (back to its default)', () => {
    const raw = rawTopology(text);
    const port = switchPortPath(raw, 'sw1', (raw.switches as any)[0].ports[0].name);
    const { topology } = editTopologyText(text, 'q.yaml', [{ path: [...port, 'description'], remove: true }]);
    expect(topology.switches[0]!.ports[0]!.description).to.equal('');
  });

  it('locators name what is missing and suggest the closest name', () => {
    const raw = rawTopology(text);
    expect(() => hostPath(raw, 'esx9')).to.throw(/no host esx9/);
    expect(() => switchPortPath(raw, 'sw1', 'Gi1/0/99')).to.throw(/switch sw1 has no port Gi1\/0\/99/);
    expect(() => portGroupPath(raw, 'esx1', 'VM-11')).to.throw(/did you mean VM-10/);
    expect(() => vswitchPath(raw, 'esx1', 'vSwitch9')).to.throw(/did you mean vSwitch0/);
    expect(() => vmNicPath(raw, 'web9', 'nic0')).to.throw(/did you mean web1/);
    expect(() => vmNicPath(raw, 'web1', 'nic7')).to.throw(/no vNIC nic7/);
  });
});
