// Bench fairness: the V8 heap flags of the bench process (raw LevelDB peer + block client) are the ones
// stored is started with, so both sides of the read/write ratio run under the same GC settings
// (docs/storage-model.md, "Third round"). Leaves out running the bench itself (bench/storage.ts).

import { expect } from 'chai';
import { heapNodeArgs } from '../../bench/storage.js';

describe('bench/storage heapNodeArgs (same GC flags for raw peer and stored)', () => {
  it('passes on semi-space and old-space sizes given with a value', () => {
    const args = heapNodeArgs(['--max-semi-space-size=1', '--import', 'tsx', '--max-old-space-size=512', '--min-semi-space-size=1', '--initial-old-space-size=64']);
    expect(args).to.deep.equal(['--max-semi-space-size=1', '--max-old-space-size=512', '--min-semi-space-size=1', '--initial-old-space-size=64']);
  });

  it('leaves out unrelated flags, profiling flags and flags without a value', () => {
    expect(heapNodeArgs(['--cpu-prof', '--import', 'tsx', '--max-semi-space-size', '--max-semi-space-size-x=3', '--trace-gc'])).to.deep.equal([]);
  });

  it('gives nothing when the bench process runs with V8 defaults', () => {
    expect(heapNodeArgs([])).to.deep.equal([]);
  });
});
