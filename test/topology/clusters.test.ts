// clusters: (lib/topology/clusters.ts): a cluster loads into the HA core's input (management address and
// gateway from the management vmk, datastores, port groups, the hosts' VMs with datastore disks and their
// per-VM settings), a cluster host without a management vmk, an unknown host or VM and every problem the
// HA core finds are reported on their line, and the fabric plan hands each member host its cluster and
// powered-off copies of the other members' datastore VMs.

import { expect } from 'chai';
import { parseTopology, loadTopologyFile } from '../../lib/topology/load.js';
import { resolveCluster } from '../../lib/ha/config.js';
import { planFabric, type HostConfig } from '../../daemons/fabric/plan.js';
import { expectOneProblem } from './helpers.js';

const host = (name: string, ip: string, vmk = true): string => [
  `  - name: ${name}`,
  '    storage:',
  '      - { array: array1, luns: [shared1] }',
  '    datastores:',
  '      - { name: ds1, lun: shared1 }',
  '    vswitches:',
  '      - name: vSwitch0',
  '        portGroups:',
  '          - { name: Management Network, vlan: 30 }',
  '          - { name: VM Network, vlan: 10 }',
  ...(vmk ? ['    vmkernels:', `      - { name: vmk0, portGroup: Management Network, ip: ${ip}/24, gateway: 10.0.0.1, services: [management] }`] : []),
].join('\n') + '\n';

/** esx1 (app1 with a disk on ds1, web1 without) and esx2 sharing ds1; `clusters` is appended under `clusters:`. */
function fabric(clusters: string, opts: { esx2Vmk?: boolean } = {}): string {
  return 'name: t\nhosts:\n' + host('esx1', '10.0.0.11') + [
    '    vms:',
    '      - { name: app1, nics: [{ portGroup: VM Network, ip: 192.0.2.11/24 }], disks: [{ name: sys, datastore: ds1, sizeGB: 0.001 }] }',
    '      - { name: web1, nics: [{ portGroup: VM Network, ip: 192.0.2.12/24 }] }',
  ].join('\n') + '\n' + host('esx2', '10.0.0.12', opts.esx2Vmk ?? true) + [
    'arrays:', '  - name: array1', '    luns:', '      - { name: shared1, sizeGB: 0.25 }', 'clusters:',
  ].join('\n') + '\n' + clusters;
}

describe('topology: clusters (vSphere HA)', () => {
  it('loads into the HA core input: management vmk address and gateway, datastores, port groups, datastore VMs with their settings', () => {
    const t = parseTopology(fabric(`  - { name: c1, hosts: [esx1, esx2], ha: { isolationResponse: power-off }, vms: { app1: { restartPriority: high } } }\n`), 't.yaml');
    expect(t.clusters).to.have.length(1);
    const c = t.clusters[0]!;
    expect(c.hosts).to.deep.equal(['esx1', 'esx2']);
    expect(c.input.hosts[0]).to.deep.equal({ name: 'esx1', managementIp: '10.0.0.11', gateway: '10.0.0.1', datastores: ['ds1'], portGroups: ['Management Network', 'VM Network'] });
    // web1 has no disk on a datastore: nothing holds its files, HA cannot restart it
    expect(c.input.vms).to.deep.equal([{ name: 'app1', datastore: 'ds1', portGroups: ['VM Network'], restartPriority: 'high' }]);
    const r = resolveCluster(c.input);
    expect(r.ok).to.equal(true);
    if (r.ok) expect(r.value.isolationResponse).to.equal('power-off');
    expect(parseTopology(fabric('').replace('clusters:\n', ''), 't.yaml').clusters, 'no clusters: []').to.deep.equal([]);
  });

  it('a cluster host without a management vmkernel port fails to load, naming its line and field', () => {
    const text = fabric(`  - name: c1\n    hosts:\n      - esx1\n      - esx2 # <- here\n`, { esx2Vmk: false });
    expectOneProblem(text, 'clusters[0].hosts[1]', /host `esx2` has no vmkernel port with the management service/);
  });

  it('an unknown host, a host in two clusters and a VM that is not the cluster\'s are reported on their lines', () => {
    expectOneProblem(fabric(`  - name: c1\n    hosts:\n      - esx1\n      - esx9 # <- here\n`), 'clusters[0].hosts[1]', /no host `esx9` in hosts\[\]/);
    expectOneProblem(fabric(`  - { name: c1, hosts: [esx1] }\n  - name: c2\n    hosts:\n      - esx1 # <- here\n`), 'clusters[1].hosts[0]', /is in cluster `c1` already/);
    expectOneProblem(fabric(`  - name: c1\n    hosts: [esx1, esx2]\n    vms:\n      web1: { protected: false } # <- here\n`), 'clusters[0].vms.web1', /no VM `web1` with a disk on a datastore/);
  });

  it("the HA core's problems come back on the line of the field they name", () => {
    expectOneProblem(fabric(`  - name: c1\n    hosts: [esx1, esx2]\n    ha:\n      isolationAddresses:\n        - 10.0.0.300 # <- here\n`), 'clusters[0].ha.isolationAddresses[0]', /must be an IPv4 address/);
    expectOneProblem(fabric(`  - name: c1\n    hosts: [esx1, esx2]\n    ha:\n      heartbeatDatastores: [ds9] # <- here\n`), 'clusters[0].ha.heartbeatDatastores[0]', /ds9/);
  });

  it('the fabric plan gives each member host its cluster, and other hosts none', async () => {
    const t = await loadTopologyFile('scenarios/topologies/ha-lab.yaml');
    const plan = planFabric(t);
    const cfg = (n: string) => plan.find((d) => d.name === n)!.config as HostConfig;
    for (const h of ['esx1', 'esx2', 'esx3']) expect(cfg(h).cluster?.name, h).to.equal('cluster1');
    expect(cfg('infra').cluster).to.equal(undefined);
    expect(cfg('esx1').cluster!.vms).to.deep.equal([{ name: 'app1', datastore: 'ds1', portGroups: ['VM Network'], restartPriority: 'high' }]);
    // the other cluster hosts know app1 powered off (an HA restart there brings its vNIC up); esx1 and infra do not
    const standby = (n: string) => cfg(n).host.vms.filter((v) => v.haStandby).map((v) => `${v.name}@${v.host}/${v.nics[0]!.vswitch}`);
    expect(standby('esx2')).to.deep.equal(['app1@esx2/vSwitch0']);
    expect(standby('esx3')).to.deep.equal(['app1@esx3/vSwitch0']);
    expect(standby('esx1')).to.deep.equal([]);
    expect(cfg('infra').host.vms.map((v) => v.name)).to.deep.equal(['gw']);
  });
});
