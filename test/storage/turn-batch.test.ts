// TurnBatch (lib/storage/turn-batch.ts): what is pushed in one turn reaches `run` together, in push order,
// never synchronously; what is pushed while a batch runs goes to the next one.
import { expect } from 'chai';
import { TurnBatch } from '../../lib/storage/turn-batch.js';

describe('storage/TurnBatch', () => {
  it('one run per turn with every item of it, in order, after the pushing code returned', async () => {
    const runs: number[][] = [];
    const b = new TurnBatch<number>((all) => runs.push([...all]));
    b.push(1);
    b.push(2);
    b.push(3);
    expect(runs).to.deep.equal([]);
    await Promise.resolve();
    expect(runs).to.deep.equal([[1, 2, 3]]);
  });

  it('an item pushed from inside a run goes to a later batch, not the one running', async () => {
    const runs: number[][] = [];
    const b: TurnBatch<number> = new TurnBatch<number>((all) => {
      runs.push([...all]);
      if (all[0] === 1) b.push(9);
    });
    b.push(1);
    await new Promise((r) => setImmediate(r));
    expect(runs).to.deep.equal([[1], [9]]);
  });
});
