// The wall-clock loop of `vfab up --sim` (daemons/sim/serve.ts PacerLoop) over the fabric's pump
// (daemons/sim/pump.ts): asynchronous daemon code (a promise resolved by one timer whose continuation
// sets the next, as a storage command's hops do) runs at the virtual instants that resolved it, not after
// the whole catch-up, as the wall pacer alone (lib/sim/pacer.ts, straight through) would run it. The wall clock is real here, but the assertions are on virtual times only: the pacer's origin
// is set far enough in the past that every timer of the chain is due.

import { expect } from 'chai';
import { SimScheduler } from '../../lib/sim/scheduler.js';
import { WallPacer } from '../../lib/sim/pacer.js';
import { NS_PER_MS } from '../../lib/fabric-clock.js';
import { PacerLoop } from '../../daemons/sim/serve.js';
import { SIM_STORAGE_HOP_MS } from '../../daemons/sim/storage.js';
import { SimPump } from '../../daemons/sim/pump.js';

/** A chain of `n` hops: each waits for a timer one hop later, then records the time its continuation ran. */
function hopChain(sched: SimScheduler, n: number): number[] {
  const seen: number[] = [];
  void (async () => {
    for (let i = 0; i < n; i++) {
      await new Promise<void>((r) => sched.after(SIM_STORAGE_HOP_MS, r));
      seen.push(sched.nowMs());
    }
  })();
  return seen;
}

/** A pacer whose wall clock reads `aheadMs` of virtual time already (origin in the past). */
function pacerAt(sched: SimScheduler, aheadMs: number): WallPacer {
  return new WallPacer(sched, process.hrtime.bigint() - BigInt(aheadMs * NS_PER_MS), 1);
}

describe('sim: the wall-clock pacer loop of vfab up --sim', () => {
  it('with a pump, each continuation of a chain of hops runs at the instant that resolved it', async () => {
    const sched = new SimScheduler();
    const loop = new PacerLoop(pacerAt(sched, 50), new SimPump(sched), (e) => {
      throw e;
    });
    const seen = hopChain(sched, 8);
    await loop.catchUp();
    expect(seen).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8].map((k) => k * SIM_STORAGE_HOP_MS));
    expect(sched.nowMs()).to.be.at.least(50);
    loop.stop();
  });

  it('the wall pacer alone runs straight through: the continuation comes after the catch-up (why the loop pumps)', async () => {
    const sched = new SimScheduler();
    const seen = hopChain(sched, 2);
    pacerAt(sched, 50).catchUp(process.hrtime.bigint());
    await new Promise((r) => setImmediate(r));
    expect(seen).to.have.length(1);
    expect(seen[0]).to.be.at.least(50);
  });
});
