// The pump of a simulated fabric: runs its scheduler one instant at a time so that asynchronous daemon
// code (storage commands, the vMotion service, a control call) resumes at the virtual instant that
// resolved it, in an order that repeats. One per fabric (SimFabric.pump), shared by the scenario driver,
// the storage layer and the wall-clock pacer of `vfab up --sim`. Leaves out the wall clock (lib/sim/pacer.ts).

import { VfabError } from '../../lib/errors.js';
import type { SimScheduler } from '../../lib/sim/scheduler.js';

/**
 * Runs the scheduler one instant at a time, letting every promise continuation queued at an instant run
 * (one macrotask turn drains the microtask queue) before time moves on, so asynchronous daemon code sees
 * time as it would on a real clock, and the order (timers' order, then the microtask queue's) repeats.
 * Calls are serialized: a second run waits for the first to end, then goes on from there.
 */
export class SimPump {
  private chain: Promise<void> = Promise.resolve();
  constructor(private readonly sched: SimScheduler) {}

  run(done: () => boolean, untilMs: number): Promise<void> {
    const next = this.chain.then(() => this.loop(done, untilMs));
    this.chain = next.catch(() => {});
    return next;
  }

  /** Pumps until `p` settles; rejects (VFAB_SIM_TIMEOUT) if it has not by `untilMs`. */
  async settle<T>(p: Promise<T>, untilMs: number, what: string): Promise<T> {
    let settled = false;
    p.then(() => (settled = true), () => (settled = true));
    await this.run(() => settled, untilMs);
    if (!settled) {
      p.catch(() => {});
      throw new VfabError('VFAB_SIM_TIMEOUT', `${what}: no answer within ${Math.round(untilMs)} ms of fabric time`);
    }
    return p;
  }

  private async loop(done: () => boolean, untilMs: number): Promise<void> {
    const sched = this.sched;
    for (;;) {
      await turn();
      if (done()) return;
      const next = sched.nextAtMs();
      if (next === undefined || next > untilMs) {
        sched.runUntil(untilMs);
        await turn();
        return;
      }
      sched.runUntil(next);
    }
  }
}

/** One macrotask turn: every pending continuation runs first. */
function turn(): Promise<void> {
  return new Promise<void>((r) => setImmediate(r));
}
