// Wall-clock pacing of the simulation's scheduler, for an interactive simulated fabric (`vfab up --sim`,
// docs/simulation.md "Interactive: vfab up --sim"): virtual time follows a monotonic wall clock times a
// scale, on the same line as a daemon fabric's clock (lib/fabric-clock.ts: fabric ns = (monotonic ns -
// origin) x timeScale), so the state file's clock anchor turns the simulated fabric's times into wall
// times exactly as it does a daemon fabric's. The pacer decides only: what virtual instant a wall reading
// maps to, running the scheduler up to it (never backwards: a scheduler that ran ahead, e.g. while the
// fabric settled, waits for the wall clock), and how long the caller may sleep before the next timer is
// due. Pure: the caller reads the clock and owns the real timer (daemons/sim/serve.ts). Not from the
// spec: the emulator's own machinery.

import { NS_PER_MS, fabricNsAt } from '../fabric-clock.js';
import type { SimScheduler } from './scheduler.js';

/** Longest wall sleep between two looks at the scheduler, ms (a control request catches up anyway). */
export const MAX_PACE_SLEEP_MS = 100;

/** What the pacer needs of the scheduler. */
export type PacedScheduler = Pick<SimScheduler, 'nowMs' | 'nextAtMs' | 'runUntil'>;

export class WallPacer {
  /**
   * `originNs`: the monotonic reading at virtual time 0 (the clock anchor's monotonicNs);
   * `timeScale`: virtual ms per wall ms (vfab up --time-scale), > 0.
   */
  constructor(private readonly sched: PacedScheduler, private readonly originNs: bigint, readonly timeScale: number) {
    if (!(timeScale > 0)) throw new RangeError(`timeScale must be > 0, got ${timeScale}`);
  }

  /** The virtual ms a monotonic wall reading maps to. */
  targetMs(monotonicNs: bigint): number {
    return fabricNsAt(this.originNs, monotonicNs, this.timeScale) / NS_PER_MS;
  }

  /** Runs every timer due by the virtual instant of `monotonicNs`; returns the scheduler's time after. */
  catchUp(monotonicNs: bigint): number {
    const target = this.targetMs(monotonicNs);
    if (target > this.sched.nowMs()) this.sched.runUntil(target);
    return this.sched.nowMs();
  }

  /**
   * Wall ms from `monotonicNs` until the next timer is due: 0 when one is due already, at most
   * MAX_PACE_SLEEP_MS (also when no timer is set).
   */
  sleepMs(monotonicNs: bigint): number {
    const next = this.sched.nextAtMs();
    if (next === undefined) return MAX_PACE_SLEEP_MS;
    const wallMs = (next - this.targetMs(monotonicNs)) / this.timeScale;
    return Math.min(MAX_PACE_SLEEP_MS, Math.max(0, wallMs));
  }

  /** Virtual ms the scheduler is ahead of the wall clock (negative: behind, the CPU did not keep up). */
  aheadMs(monotonicNs: bigint): number {
    return this.sched.nowMs() - this.targetMs(monotonicNs);
  }
}
