// Per-link impairments for fault injection: seeded loss, delay, jitter and a link flap schedule, as pure
// decisions so a run with the same seed repeats exactly (lib/clock.ts seededRandom). Each direction of a
// link (aToB, bToA) has its own random stream, derived from the one seed; loss may apply to one direction
// or both. Every decision draws exactly two random numbers (loss, jitter), whatever the settings, so
// changing the jitter does not change which frames are lost. Jitter is uniform in [-jitterMs, +jitterMs]
// around delayMs (never earlier than nowMs); frames are not reordered (a frame never leaves before the one
// decided before it) unless `allowReorder` is set. A flap schedule (explicit changes or period/duty) takes
// the whole link down and up; while down, every frame is dropped. Not from a spec: an emulator feature.
// Leaves out: timers and queues (the link daemon holds frames until deliverAtMs), corruption, duplication.

import { VfabError } from '../errors.js';
import { type Random, seededRandom } from '../clock.js';

/** Largest configurable one-way delay. */
export const MAX_IMPAIRMENT_DELAY_MS = 60_000;
/** Largest configurable jitter. */
export const MAX_IMPAIRMENT_JITTER_MS = 60_000;
/** Most entries of an explicit flap schedule. */
export const MAX_FLAP_CHANGES = 10_000;
/** Shortest flap period. */
export const MIN_FLAP_PERIOD_MS = 1;

export type FlapSchedule =
  /** Explicit changes, sorted by atMs; the link is up before the first change. */
  | { changes: Array<{ atMs: number; up: boolean }> }
  /** From startMs (default 0): up for upMs, then down for periodMs - upMs, repeating; up before startMs. */
  | { periodMs: number; upMs: number; startMs?: number };

export interface ImpairmentConfig {
  seed: number;
  /** Loss probability in percent, 0..100. */
  lossPercent?: number;
  /** Which direction loses frames (default both). */
  lossDirection?: 'both' | 'aToB' | 'bToA';
  delayMs?: number;
  jitterMs?: number;
  allowReorder?: boolean;
  flap?: FlapSchedule;
}

export type ImpairmentDecision = { drop: true; reason: 'loss' | 'link-down' } | { drop: false; deliverAtMs: number };

function configError(message: string): VfabError {
  return new VfabError('VFAB_FAULTS_BAD_CONFIG', message);
}

/** The up/down state of a link over time. Pure: a function of time only. */
export class FlapPlan {
  private readonly changes: Array<{ atMs: number; up: boolean }> | null;
  private readonly periodMs: number;
  private readonly upMs: number;
  private readonly startMs: number;

  constructor(schedule: FlapSchedule | undefined) {
    if (!schedule) {
      this.changes = [];
      this.periodMs = this.upMs = this.startMs = 0;
    } else if ('changes' in schedule) {
      if (schedule.changes.length > MAX_FLAP_CHANGES) throw configError(`flap schedule of ${schedule.changes.length} changes exceeds MAX_FLAP_CHANGES (${MAX_FLAP_CHANGES})`);
      let last = -Infinity;
      for (const c of schedule.changes) {
        if (!Number.isFinite(c.atMs) || c.atMs < last) throw configError('flap schedule times must be finite and sorted ascending');
        last = c.atMs;
      }
      this.changes = schedule.changes.map((c) => ({ atMs: c.atMs, up: c.up }));
      this.periodMs = this.upMs = this.startMs = 0;
    } else {
      const { periodMs, upMs } = schedule;
      if (!(Number.isFinite(periodMs) && periodMs >= MIN_FLAP_PERIOD_MS)) throw configError(`flap period ${periodMs} ms must be >= ${MIN_FLAP_PERIOD_MS}`);
      if (!(Number.isFinite(upMs) && upMs > 0 && upMs < periodMs)) throw configError(`flap up time ${upMs} ms must be > 0 and < the period ${periodMs} ms`);
      this.changes = null;
      this.periodMs = periodMs;
      this.upMs = upMs;
      this.startMs = schedule.startMs ?? 0;
      if (!Number.isFinite(this.startMs)) throw configError('flap startMs must be finite');
    }
  }

  isUp(nowMs: number): boolean {
    if (this.changes) {
      let up = true;
      for (const c of this.changes) {
        if (c.atMs > nowMs) break;
        up = c.up;
      }
      return up;
    }
    if (nowMs < this.startMs) return true;
    return (nowMs - this.startMs) % this.periodMs < this.upMs;
  }

  /** The first instant after nowMs at which the state changes, or null if it never does. */
  nextChangeMs(nowMs: number): number | null {
    if (this.changes) {
      let state = this.isUp(nowMs);
      for (const c of this.changes) {
        if (c.atMs <= nowMs) continue;
        if (c.up !== state) return c.atMs;
        state = c.up;
      }
      return null;
    }
    if (nowMs < this.startMs) return this.startMs + this.upMs;
    const k = Math.floor((nowMs - this.startMs) / this.periodMs);
    const base = this.startMs + k * this.periodMs;
    return nowMs - base < this.upMs ? base + this.upMs : base + this.periodMs;
  }
}

/** Impairment of one direction of a link. */
export class DirectionImpairment {
  private readonly random: Random;
  private readonly lossFraction: number;
  private lastDeliverAtMs = -Infinity;
  decided = 0;
  lost = 0;
  downDrops = 0;

  constructor(
    seed: number,
    lossPercent: number,
    private readonly delayMs: number,
    private readonly jitterMs: number,
    private readonly allowReorder: boolean,
    private readonly flap: FlapPlan,
  ) {
    this.random = seededRandom(seed);
    this.lossFraction = lossPercent / 100;
  }

  decide(nowMs: number): ImpairmentDecision {
    const lossDraw = this.random();
    const jitterDraw = this.random();
    this.decided++;
    if (!this.flap.isUp(nowMs)) {
      this.downDrops++;
      return { drop: true, reason: 'link-down' };
    }
    if (lossDraw < this.lossFraction) {
      this.lost++;
      return { drop: true, reason: 'loss' };
    }
    let at = nowMs + this.delayMs + (jitterDraw * 2 - 1) * this.jitterMs;
    if (at < nowMs) at = nowMs;
    if (!this.allowReorder && at < this.lastDeliverAtMs) at = this.lastDeliverAtMs;
    this.lastDeliverAtMs = at;
    return { drop: false, deliverAtMs: at };
  }
}

/** Both directions of one link, from one seed. */
export class LinkImpairment {
  readonly aToB: DirectionImpairment;
  readonly bToA: DirectionImpairment;
  readonly flap: FlapPlan;

  constructor(config: ImpairmentConfig) {
    const loss = config.lossPercent ?? 0;
    const delay = config.delayMs ?? 0;
    const jitter = config.jitterMs ?? 0;
    if (!Number.isFinite(config.seed)) throw configError(`seed ${config.seed} must be a finite number`);
    if (!(Number.isFinite(loss) && loss >= 0 && loss <= 100)) throw configError(`loss ${loss} % must be 0..100`);
    if (!(Number.isFinite(delay) && delay >= 0 && delay <= MAX_IMPAIRMENT_DELAY_MS)) throw configError(`delay ${delay} ms must be 0..MAX_IMPAIRMENT_DELAY_MS (${MAX_IMPAIRMENT_DELAY_MS})`);
    if (!(Number.isFinite(jitter) && jitter >= 0 && jitter <= MAX_IMPAIRMENT_JITTER_MS)) throw configError(`jitter ${jitter} ms must be 0..MAX_IMPAIRMENT_JITTER_MS (${MAX_IMPAIRMENT_JITTER_MS})`);
    const dir = config.lossDirection ?? 'both';
    if (dir !== 'both' && dir !== 'aToB' && dir !== 'bToA') throw configError(`loss direction ${JSON.stringify(dir)} must be both, aToB or bToA`);
    this.flap = new FlapPlan(config.flap);
    const reorder = config.allowReorder ?? false;
    // Two independent streams from one seed (the second offset by a fixed odd constant).
    this.aToB = new DirectionImpairment(config.seed >>> 0, dir === 'bToA' ? 0 : loss, delay, jitter, reorder, this.flap);
    this.bToA = new DirectionImpairment((config.seed ^ 0x9e3779b9) >>> 0, dir === 'aToB' ? 0 : loss, delay, jitter, reorder, this.flap);
  }

  decide(direction: 'aToB' | 'bToA', nowMs: number): ImpairmentDecision {
    return (direction === 'aToB' ? this.aToB : this.bToA).decide(nowMs);
  }

  isUp(nowMs: number): boolean {
    return this.flap.isUp(nowMs);
  }

  nextFlapChangeMs(nowMs: number): number | null {
    return this.flap.nextChangeMs(nowMs);
  }
}

/** Impairment of one link end, as the control API and scenarios give it; `{}` clears. */
export interface ImpairRequest {
  lossPercent?: number;
  /** Which direction loses frames, seen from this end (tx = frames this end sends). Default both. */
  direction?: 'tx' | 'rx' | 'both';
  delayMs?: number;
  jitterMs?: number;
  seed?: number;
}

/** A flap schedule of one link end; `{}` cancels. Times relative to now. */
export type FlapRequest = { schedule: Array<{ atMs: number; up: boolean }> } | { periodMs: number; downMs: number; count: number } | Record<string, never>;

/**
 * The impairment of a link end for `req` (null: `req` clears), with `seed` when req has none: aToB is
 * this end transmitting, bToA this end receiving. Throws VFAB_FAULTS_BAD_CONFIG for a bad value.
 */
export function impairmentFor(req: ImpairRequest, defaultSeed: number): { impair: LinkImpairment; config: ImpairRequest & { direction: 'tx' | 'rx' | 'both'; seed: number } } | null {
  if (req.lossPercent === undefined && req.delayMs === undefined && req.jitterMs === undefined) return null;
  const dir = req.direction ?? 'both';
  if (dir !== 'tx' && dir !== 'rx' && dir !== 'both') throw configError(`direction ${JSON.stringify(dir)} must be tx, rx or both`);
  const seed = req.seed ?? defaultSeed;
  const impair = new LinkImpairment({
    seed,
    ...(req.lossPercent !== undefined ? { lossPercent: Number(req.lossPercent) } : {}),
    lossDirection: dir === 'tx' ? 'aToB' : dir === 'rx' ? 'bToA' : 'both',
    ...(req.delayMs !== undefined ? { delayMs: Number(req.delayMs) } : {}),
    ...(req.jitterMs !== undefined ? { jitterMs: Number(req.jitterMs) } : {}),
  });
  return { impair, config: { ...req, direction: dir, seed } };
}

/**
 * The admin changes of a flap request, relative to now (null: `req` cancels): explicit changes, or
 * `count` cycles of down for `downMs` every `periodMs` from now. Throws VFAB_FAULTS_BAD_CONFIG.
 */
export function flapChanges(req: FlapRequest): Array<{ atMs: number; up: boolean }> | null {
  let changes: Array<{ atMs: number; up: boolean }>;
  if ('schedule' in req && Array.isArray(req.schedule)) {
    changes = req.schedule.map((c) => ({ atMs: Number(c.atMs), up: c.up !== false }));
  } else if ('periodMs' in req) {
    const periodMs = Number(req.periodMs);
    const downMs = Number(req.downMs);
    const count = Number(req.count ?? 1);
    if (!(Number.isInteger(count) && count >= 1 && count * 2 <= MAX_FLAP_CHANGES)) throw configError(`flap count ${req.count} must be 1..${MAX_FLAP_CHANGES / 2}`);
    if (!(Number.isFinite(periodMs) && Number.isFinite(downMs) && downMs > 0 && downMs < periodMs)) throw configError(`flap down time ${req.downMs} ms must be > 0 and < the period ${req.periodMs} ms`);
    changes = [];
    for (let k = 0; k < count; k++) changes.push({ atMs: k * periodMs, up: false }, { atMs: k * periodMs + downMs, up: true });
  } else {
    return null;
  }
  if (changes.some((c) => !(c.atMs >= 0))) throw configError('flap times must be >= 0 (relative to now)');
  new FlapPlan({ changes }); // validates order and size
  return changes;
}
