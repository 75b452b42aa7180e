// The bounded starter behind `vfab up` / `vfab down` (daemons/fabric/bounded.ts), with a fake spawner:
// never more than the bound in flight, order constraints kept, the first failure stops new starts while
// the ones in flight finish and are reported (so the caller can stop them), the default bound from the CPU
// count. Deterministic: the fake's "daemons" become ready when the test says so, no timers.

import { expect } from 'chai';
import { MAX_PARALLEL_STARTS, STARTS_PER_CPU, defaultConcurrency, runBounded } from '../../daemons/fabric/bounded.js';

interface Item {
  name: string;
  after?: string[];
}

/** A fake spawner: each start waits until the test resolves or rejects it; records what ran when. */
class FakeSpawner {
  inFlight = 0;
  maxInFlight = 0;
  startOrder: string[] = [];
  pending = new Map<string, { resolve: (v: string) => void; reject: (e: Error) => void }>();
  start = (item: Item): Promise<string> => {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    this.startOrder.push(item.name);
    return new Promise<string>((resolve, reject) => {
      this.pending.set(item.name, {
        resolve: (v) => ((this.inFlight--, this.pending.delete(item.name)), resolve(v)),
        reject: (e) => ((this.inFlight--, this.pending.delete(item.name)), reject(e)),
      });
    });
  };
  /** Lets every start run so far finish, oldest first, until nothing is pending (or `fail` names one). */
  async drain(fail?: (name: string) => boolean): Promise<void> {
    for (let guard = 0; guard < 10_000 && this.pending.size > 0; guard++) {
      const [name, p] = this.pending.entries().next().value as [string, { resolve: (v: string) => void; reject: (e: Error) => void }];
      if (fail?.(name)) p.reject(new Error(`${name} did not start`));
      else p.resolve(`pid-of-${name}`);
      await new Promise((r) => setImmediate(r));
    }
  }
}

const items = (n: number, prefix = 'd'): Item[] => Array.from({ length: n }, (_, i) => ({ name: `${prefix}${i + 1}` }));

describe('bounded starter (vfab up / down)', () => {
  it('never has more than the bound in flight, and fills it up to the bound', async () => {
    for (const bound of [1, 3, 4]) {
      const fake = new FakeSpawner();
      const run = runBounded(items(25), fake.start, { concurrency: bound });
      await new Promise((r) => setImmediate(r));
      expect(fake.inFlight, `bound ${bound}: in flight at first`).to.equal(bound);
      await fake.drain();
      const results = await run;
      expect(fake.maxInFlight, `bound ${bound}`).to.equal(bound);
      expect(results, 'results in the items\' order').to.deep.equal(items(25).map((i) => `pid-of-${i.name}`));
    }
  });

  it('starts an item only after the items it waits for (an external VM after its host)', async () => {
    const list: Item[] = [{ name: 'vm1', after: ['esx1'] }, { name: 'sw1' }, { name: 'esx1' }, { name: 'vm2', after: ['esx1', 'sw1'] }, { name: 'esx2' }];
    const fake = new FakeSpawner();
    const done: string[] = [];
    const run = runBounded(list, fake.start, { concurrency: 4, onDone: (i) => done.push(i.name) });
    await new Promise((r) => setImmediate(r));
    expect(fake.startOrder, 'first wave: only what waits for nothing').to.deep.equal(['sw1', 'esx1', 'esx2']);
    await fake.drain();
    await run;
    expect(done.indexOf('vm1')).to.be.greaterThan(done.indexOf('esx1'));
    expect(done.indexOf('vm2')).to.be.greaterThan(Math.max(done.indexOf('esx1'), done.indexOf('sw1')));
    for (const vm of ['vm1', 'vm2']) expect(fake.startOrder.indexOf(vm)).to.be.greaterThan(done.indexOf('esx1'));
  });

  it('on a failure starts nothing new, lets the ones in flight finish (reported), then throws that failure', async () => {
    const fake = new FakeSpawner();
    const done: string[] = [];
    const run = runBounded(items(20), fake.start, { concurrency: 4, onDone: (i) => done.push(i.name) });
    let settled: Error | 'ok' | undefined;
    run.then(() => (settled = 'ok'), (e: Error) => (settled = e));
    const tick = () => new Promise((r) => setImmediate(r));
    await tick();
    fake.pending.get('d1')!.resolve('pid-of-d1'); // d5 takes its place
    await tick();
    fake.pending.get('d2')!.reject(new Error('d2 did not start'));
    await tick();
    expect(settled, 'not thrown while d3, d4, d5 are still starting').to.equal(undefined);
    expect(fake.startOrder, 'nothing started after the failure').to.deep.equal(['d1', 'd2', 'd3', 'd4', 'd5']);
    await fake.drain();
    await tick();
    expect((settled as Error | undefined)?.message).to.equal('d2 did not start');
    expect(fake.startOrder, 'still nothing new').to.have.length(5);
    expect(done, 'every start that succeeded is reported, for the caller to stop').to.deep.equal(['d1', 'd3', 'd4', 'd5']);
  });

  it('refuses an order that names an unknown item or has a cycle, before starting anything', async () => {
    const fake = new FakeSpawner();
    const err = (list: Item[]) => runBounded(list, fake.start, { concurrency: 2 }).then(() => '', (e: Error) => e.message);
    expect(await err([{ name: 'vm1', after: ['esx9'] }])).to.match(/vm1 waits for esx9/);
    expect(await err([{ name: 'a', after: ['b'] }, { name: 'b', after: ['a'] }])).to.match(/cycle: a -> b -> a/);
    expect(fake.startOrder).to.deep.equal([]);
    expect(await runBounded([], fake.start, { concurrency: 2 })).to.deep.equal([]);
    expect(await runBounded(items(1), fake.start, { concurrency: 0 }).then(() => '', (e: Error) => e.message)).to.match(/concurrency 0/);
  });

  it('bounds the default by the CPU count and by MAX_PARALLEL_STARTS', () => {
    expect(defaultConcurrency(1)).to.equal(STARTS_PER_CPU);
    expect(defaultConcurrency(2)).to.equal(2 * STARTS_PER_CPU);
    expect(defaultConcurrency(64)).to.equal(MAX_PARALLEL_STARTS);
    expect(defaultConcurrency(0)).to.equal(1);
  });
});
