// The simulation's discrete-event scheduler: a virtual clock and a queue of timers ordered by (due time,
// insertion sequence), so two timers due at the same instant run in the order they were set, every run.
// Time moves only when the scheduler runs the next timer: it jumps to that timer's due time, never
// backwards, and as fast as the CPU allows. Also a seeded random source for the simulated fabric
// (lib/clock.ts seededRandom, mulberry32) with named sub-streams, so adding a consumer of randomness
// does not shift the numbers another one draws. Pure: no real timers, no I/O. Leaves out what the timers
// do (lib/sim/links.ts, daemons/sim/fabric.ts). Not from the spec: the emulator's own test machinery.

import type { Clock, Random } from '../clock.js';
import { seededRandom } from '../clock.js';
import { VfabError } from '../errors.js';

/** Timers the scheduler holds at once; a simulation that sets more is a runaway (VFAB_SIM_TOO_MANY_TIMERS). */
export const MAX_SIM_TIMERS = 4_000_000;
/** Timers one runUntil call may fire before it gives up (a loop that sets timers at "now" forever). */
export const MAX_SIM_EVENTS_PER_RUN = 200_000_000;
/** Run seed when the user gives none (`vfab run --sim` without --seed). */
export const DEFAULT_SIM_SEED = 1;

export interface SimTimer {
  readonly atMs: number;
  readonly seq: number;
  cancelled: boolean;
  readonly fn: () => void;
}

export class SimScheduler implements Clock {
  private now = 0;
  private nextSeq = 0;
  private readonly heap: SimTimer[] = [];
  /** Timers fired since the scheduler was made. */
  fired = 0;

  nowMs(): number {
    return this.now;
  }

  /** Timers waiting (cancelled ones included until they reach the head). */
  get pending(): number {
    return this.heap.length;
  }

  /** Runs `fn` at now + delayMs (delayMs < 0 or NaN counts as 0). */
  after(delayMs: number, fn: () => void): SimTimer {
    return this.at(this.now + (delayMs > 0 ? delayMs : 0), fn);
  }

  /** Runs `fn` at `atMs`; a time in the past runs at now (the clock never moves backwards). */
  at(atMs: number, fn: () => void): SimTimer {
    if (this.heap.length >= MAX_SIM_TIMERS) throw new VfabError('VFAB_SIM_TOO_MANY_TIMERS', `the simulation holds ${MAX_SIM_TIMERS} timers (MAX_SIM_TIMERS): a runaway model`);
    const t: SimTimer = { atMs: atMs > this.now ? atMs : this.now, seq: this.nextSeq++, cancelled: false, fn };
    this.push(t);
    return t;
  }

  cancel(t: SimTimer | undefined): void {
    if (t) t.cancelled = true;
  }

  /** Due time of the next live timer, or undefined. */
  nextAtMs(): number | undefined {
    this.dropCancelled();
    return this.heap[0]?.atMs;
  }

  /** Fires every timer due at or before `untilMs` in (time, sequence) order, then sets the clock to `untilMs`. */
  runUntil(untilMs: number): void {
    let budget = MAX_SIM_EVENTS_PER_RUN;
    for (;;) {
      this.dropCancelled();
      const t = this.heap[0];
      if (t === undefined || t.atMs > untilMs) break;
      this.pop();
      if (--budget < 0) throw new VfabError('VFAB_SIM_RUNAWAY', `more than ${MAX_SIM_EVENTS_PER_RUN} timers fired before ${untilMs} ms (MAX_SIM_EVENTS_PER_RUN)`);
      this.now = t.atMs;
      this.fired++;
      t.fn();
    }
    if (untilMs > this.now) this.now = untilMs;
  }

  /** Advances the clock by `ms`, firing what falls due. */
  advance(ms: number): void {
    this.runUntil(this.now + (ms > 0 ? ms : 0));
  }

  /** Runs timers until `done()` holds or the clock would pass `untilMs`; true when done() held. */
  runUntilTrue(done: () => boolean, untilMs: number): boolean {
    let budget = MAX_SIM_EVENTS_PER_RUN;
    while (!done()) {
      this.dropCancelled();
      const t = this.heap[0];
      if (t === undefined || t.atMs > untilMs) {
        if (untilMs > this.now) this.now = untilMs;
        return done();
      }
      this.pop();
      if (--budget < 0) throw new VfabError('VFAB_SIM_RUNAWAY', `more than ${MAX_SIM_EVENTS_PER_RUN} timers fired before ${untilMs} ms (MAX_SIM_EVENTS_PER_RUN)`);
      this.now = t.atMs;
      this.fired++;
      t.fn();
    }
    return true;
  }

  private dropCancelled(): void {
    while (this.heap.length > 0 && this.heap[0]!.cancelled) this.pop();
  }

  private static before(a: SimTimer, b: SimTimer): boolean {
    return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
  }

  private push(t: SimTimer): void {
    const h = this.heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!SimScheduler.before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): SimTimer {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && SimScheduler.before(h[l]!, h[m]!)) m = l;
        if (r < h.length && SimScheduler.before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

/** What a node's timers need of the scheduler: a SimScheduler itself, or a SimTimerGroup over one. */
export interface SimTimers {
  nowMs(): number;
  after(delayMs: number, fn: () => void): SimTimer;
  at(atMs: number, fn: () => void): SimTimer;
  cancel(t: SimTimer | undefined): void;
}

/**
 * The timers one simulated node sets, so they can all be cancelled at once when the node is killed (a
 * dead process's timers never fire). A timer leaves the group when it fires or is cancelled, so the group
 * holds only live timers (bounded by MAX_SIM_TIMERS through the scheduler).
 */
export class SimTimerGroup implements SimTimers {
  private readonly live = new Set<SimTimer>();
  constructor(private readonly sched: SimScheduler) {}

  nowMs(): number {
    return this.sched.nowMs();
  }

  after(delayMs: number, fn: () => void): SimTimer {
    return this.at(this.sched.nowMs() + (delayMs > 0 ? delayMs : 0), fn);
  }

  at(atMs: number, fn: () => void): SimTimer {
    const t: SimTimer = this.sched.at(atMs, () => {
      this.live.delete(t);
      fn();
    });
    this.live.add(t);
    return t;
  }

  cancel(t: SimTimer | undefined): void {
    if (t === undefined) return;
    this.live.delete(t);
    this.sched.cancel(t);
  }

  /** Live timers of the group. */
  get size(): number {
    return this.live.size;
  }

  /** Cancels every live timer of the group; returns how many. */
  cancelAll(): number {
    const n = this.live.size;
    for (const t of this.live) this.sched.cancel(t);
    this.live.clear();
    return n;
  }
}

/** FNV-1a over the run seed and a name: the seed of a named random stream (stable across runs and versions). */
export function streamSeed(runSeed: number, name: string): number {
  let h = (0x811c9dc5 ^ (runSeed >>> 0)) >>> 0;
  h = Math.imul(h, 0x01000193) >>> 0;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** A seeded random stream per consumer name, all derived from one run seed. */
export class SimRandom {
  constructor(readonly seed: number) {}
  stream(name: string): Random {
    return seededRandom(streamSeed(this.seed, name));
  }
}
