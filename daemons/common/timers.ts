// The timers, wall clock and random bytes of daemon-side code that the simulation also runs (the storage
// attachment, datastores, multipath client): a daemon passes realTimers (Node's setTimeout/setInterval,
// Date.now, crypto.randomBytes), the simulation (daemons/sim/timers.ts) passes a node's scheduler timer
// group, the virtual clock and a seeded stream, so the same code runs on the virtual clock and repeats.
// Leaves out the fabric clock (lib/fabric-clock.ts, passed as a Clock where code needs fabric time).

import { randomBytes } from 'node:crypto';

/** An armed timer (opaque); only the Timers that made it can cancel it. */
export type TimerHandle = unknown;

export interface Timers {
  /** Wall-clock ms (Date.now in a daemon; virtual ms in the simulation). */
  nowMs(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(t: TimerHandle): void;
  setInterval(fn: () => void, ms: number): TimerHandle;
  clearInterval(t: TimerHandle): void;
  /** `n` random bytes (crypto in a daemon; a seeded stream in the simulation). */
  randomBytes(n: number): Buffer;
}

/** Node's timers, Date.now and crypto: what every daemon uses. */
export const realTimers: Timers = {
  nowMs: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (t) => clearTimeout(t as NodeJS.Timeout | undefined),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (t) => clearInterval(t as NodeJS.Timeout | undefined),
  randomBytes: (n) => randomBytes(n),
};
