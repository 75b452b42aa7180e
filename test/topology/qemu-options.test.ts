// vms[].qemu: a qemu guest's backend (docs/guests.md "QEMU guests"): defaults, given values, and the
// mistakes reported on their lines (qemu on another kind, ports past 65535, an unknown netdev).

import { expect } from 'chai';
import { parseTopology } from '../../lib/topology/load.js';
import { expectOneProblem, fabric } from './helpers.js';

describe('topology: qemu guest options', () => {
  it('defaults to a stream backend on free ports; keeps given values; other kinds have none', () => {
    const t = parseTopology(fabric({ vms: `
      - { name: a, kind: qemu, nics: [ { portGroup: VM-10 } ] }
      - { name: b, kind: qemu, qemu: { netdev: dgram, port: 40100 }, nics: [ { portGroup: VM-10 }, { portGroup: VM-10 } ] }
    ` }), 't.yaml');
    const vm = (n: string) => t.hosts[0]!.vms.find((v) => v.name === n)!;
    expect(vm('a').qemu).to.deep.equal({ netdev: 'stream', port: 0 });
    expect(vm('b').qemu).to.deep.equal({ netdev: 'dgram', port: 40100 });
    expect(t.hosts[0]!.vms.filter((v) => v.kind !== 'qemu').every((v) => v.qemu === undefined)).to.equal(true);
  });

  it('reports qemu options on another kind, ports past 65535 and an unknown netdev, on their lines', () => {
    expectOneProblem(fabric({ vms: `
      - name: a
        qemu: { netdev: stream }   # <-
    ` }), 'hosts[0].vms[1].qemu', /qemu options on a builtin guest/);
    expectOneProblem(fabric({ vms: `
      - name: a
        kind: qemu
        qemu: { port: 65535 }   # <-
        nics: [ { portGroup: VM-10 }, { portGroup: VM-10 } ]
    ` }), 'hosts[0].vms[1].qemu.port', /ports 65535\.\.65536, past 65535/);
    expectOneProblem(fabric({ vms: `
      - name: a
        kind: qemu
        qemu: { netdev: tap }   # <-
    ` }), 'hosts[0].vms[1].qemu.netdev', /"tap" is not a valid netdev/);
  });
});
