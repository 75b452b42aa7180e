// Time and randomness passed into pure cores. Covers a Clock interface, a manual clock for tests and a
// seeded PRNG (mulberry32) so failover, aging, lock expiry and impairments repeat run to run.
// Leaves out timers: scheduling is the daemon's job (daemons/ use setTimeout against a scaled clock).

export interface Clock {
  /** Milliseconds on a monotonic time line (not wall-clock). */
  nowMs(): number;
}

/** Real monotonic clock, optionally sped up by `timeScale` (2 = time runs twice as fast). */
export class SystemClock implements Clock {
  private readonly originMs = performance.now();
  constructor(private readonly timeScale = 1) {}
  nowMs(): number {
    return (performance.now() - this.originMs) * this.timeScale;
  }
}

/** A clock moved only by the test. */
export class ManualClock implements Clock {
  constructor(private currentMs = 0) {}
  nowMs(): number {
    return this.currentMs;
  }
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`cannot advance a clock by ${ms} ms`);
    this.currentMs += ms;
  }
  set(ms: number): void {
    this.currentMs = ms;
  }
}

/** A source of uniform numbers in [0, 1). */
export type Random = () => number;

/** mulberry32: small, fast, good enough for impairments and jitter; the same seed gives the same run. */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
