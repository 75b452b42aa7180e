// daemons/fabric/plan.ts for host paths over iSCSI: a host whose storage entry says `protocol: iscsi` gets
// the array's portal (address, port from the topology, target IQN, the CHAP it asks for) in its config; block entries get none;
// arrays get the fabric clock anchor (their iSCSI login times are on it).

import { expect } from 'chai';
import { planFabric, type ArrayConfig, type HostConfig } from '../../daemons/fabric/plan.js';
import { parseTopology } from '../../lib/topology/load.js';

const TOPOLOGY = `
name: t
hosts:
  - name: esx1
    storage:
      - { array: array1, paths: 2, protocol: iscsi }
      - { array: array2 }
      - { array: Array_2, protocol: iscsi }
arrays:
  - name: array1
    iscsi: { port: 0, chap: { username: hosts, secret: a-secret-of-16b } }
    luns:
      - { name: l0, sizeGB: 1 }
  - name: Array_2
    iscsi: { port: 3261 }
    luns:
      - { name: l1, sizeGB: 1 }
  - name: array2
    luns:
      - { name: l2, sizeGB: 1 }
`;

describe('fabric plan: iSCSI host paths', () => {
  it('passes the portal address, port and IQN of each iscsi array to the host, nothing for block arrays', () => {
    const anchor = { monotonicNs: '123', wallMs: 456 };
    const plan = planFabric(parseTopology(TOPOLOGY, 't.yaml'), 4, anchor);
    const host = plan.find((d) => d.name === 'esx1')!.config as HostConfig;
    expect(host.iscsiTargets).to.deep.equal({
      array1: { address: '127.0.0.1', port: 0, iqn: 'iqn.2026-11.vfab:array1', chap: { username: 'hosts', secret: 'a-secret-of-16b' } },
      Array_2: { address: '127.0.0.1', port: 3261, iqn: 'iqn.2026-11.vfab:array-2' },
    });
    expect(host.host.storage.map((s) => [s.array, s.protocol])).to.deep.equal([['array1', 'iscsi'], ['array2', 'block'], ['Array_2', 'iscsi']]);
    const array = plan.find((d) => d.name === 'array1')!.config as ArrayConfig;
    expect(array).to.include({ timeScale: 4 });
    expect(array.clock).to.deep.equal(anchor);
  });

  it('a host with block paths only has no iscsiTargets', () => {
    const plan = planFabric(parseTopology(TOPOLOGY.replaceAll(', protocol: iscsi', ''), 't.yaml'));
    expect((plan.find((d) => d.name === 'esx1')!.config as HostConfig).iscsiTargets).to.equal(undefined);
  });
});
