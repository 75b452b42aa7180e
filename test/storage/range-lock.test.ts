// RangeLock: exclusive LBA ranges, FIFO among overlapping requests, no waiting for disjoint ranges.
import { expect } from 'chai';
import { RangeLock } from '../../lib/storage/range-lock.js';

describe('storage RangeLock', () => {
  it('grants disjoint ranges at once', () => {
    const l = new RangeLock();
    expect(l.acquire(0, 4)).to.equal(undefined);
    expect(l.acquire(4, 4)).to.equal(undefined);
    expect(l.busy).to.equal(2);
  });

  it('makes an overlapping request wait until release, in FIFO order', async () => {
    const l = new RangeLock();
    expect(l.acquire(0, 4)).to.equal(undefined);
    const order: string[] = [];
    const w1 = l.acquire(2, 1)!.then(() => order.push('w1'));
    const w2 = l.acquire(3, 2)!.then(() => order.push('w2'));
    expect(w1).to.be.instanceOf(Promise);
    // w3 does not overlap the holder but overlaps waiter w2: it queues behind it (no starvation)
    const p3 = l.acquire(4, 1);
    expect(p3).to.be.instanceOf(Promise);
    const w3 = p3!.then(() => order.push('w3'));
    await Promise.resolve();
    expect(order).to.deep.equal([]);
    l.release(0, 4);
    await Promise.all([w1, w2]);
    expect(order).to.deep.equal(['w1', 'w2']);
    l.release(2, 1);
    l.release(3, 2);
    await w3;
    expect(order).to.deep.equal(['w1', 'w2', 'w3']);
  });
});
