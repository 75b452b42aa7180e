// vms[].memoryMB and vms[].dirtyRateMBps: the memory model a vMotion copies (docs/topology.md,
// docs/vmotion.md "In a fabric"). Defaults when absent (64 MiB, 4 MiB/s) and each out-of-range value as
// a load error on its line.

import { expect } from 'chai';
import { parseTopology } from '../../lib/topology/load.js';
import { DEFAULT_VM_DIRTY_RATE_MBPS, DEFAULT_VM_MEMORY_MB } from '../../lib/topology/model.js';
import { expectOneProblem, fabric } from './helpers.js';

describe('topology: VM memory model', () => {
  it('defaults to 64 MiB dirtied at 4 MiB/s and keeps given values', () => {
    const t = parseTopology(fabric({ vms: `
      - { name: a, nics: [ { portGroup: VM-10 } ] }
      - { name: b, memoryMB: 512, dirtyRateMBps: 2.5, nics: [ { portGroup: VM-10 } ] }
    ` }), 't.yaml');
    const a = t.hosts[0]!.vms.find((v) => v.name === 'a');
    const b = t.hosts[0]!.vms.find((v) => v.name === 'b');
    expect([a!.memoryMB, a!.dirtyRateMBps]).to.deep.equal([DEFAULT_VM_MEMORY_MB, DEFAULT_VM_DIRTY_RATE_MBPS]);
    expect([DEFAULT_VM_MEMORY_MB, DEFAULT_VM_DIRTY_RATE_MBPS]).to.deep.equal([64, 4]);
    expect([b!.memoryMB, b!.dirtyRateMBps]).to.deep.equal([512, 2.5]);
  });

  it('refuses memory outside 1..16384 MiB, a fractional size and a negative dirty rate, on their lines', () => {
    expectOneProblem(fabric({ vms: `
      - name: a
        memoryMB: 0   # <-
    ` }), 'hosts[0].vms[1].memoryMB', 'must be 1-16384, got 0');
    expectOneProblem(fabric({ vms: `
      - name: a
        memoryMB: 16385   # <-
    ` }), 'hosts[0].vms[1].memoryMB', 'must be 1-16384, got 16385');
    expectOneProblem(fabric({ vms: `
      - name: a
        memoryMB: 1.5   # <-
    ` }), 'hosts[0].vms[1].memoryMB', 'expected a whole number');
    expectOneProblem(fabric({ vms: `
      - name: a
        dirtyRateMBps: -1   # <-
    ` }), 'hosts[0].vms[1].dirtyRateMBps', 'must be 0-16384, got -1');
  });
});
