// A stalled storage path, as a fault injected at a host's storage edge: while a stall is active for the
// whole array or one LUN, commands the host sends there are held (neither sent nor failed), like commands
// stuck in a fabric that stopped moving frames. When the stall ends they are sent in the order they were
// issued, except those whose issuer gave up meanwhile (`cmd.aborted`, set when an I/O deadline passed):
// the host's abort removed them from its queue before they reached the array, so they are answered TASK
// ABORTED and never reach the medium (no stale write lands after its issuer moved on). Pure: the caller
// passes the time and arms a timer for `nextEndMs()`, then calls `release(nowMs)`. Leaves out stalls
// inside the array (every host at once) and commands already on the wire when a stall starts (they
// complete normally). docs/datastores.md, "Faults"; follows docs/vsphere-behaviour.md §7.2 (an I/O that
// does not complete in time is aborted and reissued).

import { SCSI_STATUS, type ScsiCommand, type ScsiResult, type ScsiTarget } from './scsi.js';

/** Commands held at once per gate; more are answered TASK SET FULL (the host's queue is full). */
export const MAX_HELD_COMMANDS = 4096;
/** Longest stall accepted, in ms of the caller's clock (10 minutes). */
export const MAX_STALL_MS = 10 * 60 * 1000;

const TASK_ABORTED: ScsiResult = { status: SCSI_STATUS.TASK_ABORTED };
const TASK_SET_FULL: ScsiResult = { status: SCSI_STATUS.TASK_SET_FULL };

interface Held {
  cmd: ScsiCommand;
  resolve: (r: ScsiResult) => void;
  reject: (e: unknown) => void;
}

/** What one `release` did, for events and status. */
export interface StallRelease {
  /** Stalls that ended: `lun` undefined = the whole array. */
  ended: Array<{ lun: number | undefined; held: number; sent: number; aborted: number }>;
}

export interface StallCounters {
  /** Commands held since the gate was made. */
  held: number;
  /** Held commands sent when their stall ended. */
  sent: number;
  /** Held commands whose issuer aborted them: never sent. */
  aborted: number;
  /** Commands refused with TASK SET FULL because MAX_HELD_COMMANDS were held. */
  refused: number;
}

/** Key of a stall: a LUN number, or ALL for the whole array. */
const ALL = -1;

export class StallGate implements ScsiTarget {
  /** End time per stalled LUN (ALL = every LUN). */
  private readonly until = new Map<number, number>();
  /** Held commands per stall key, in issue order. */
  private readonly queues = new Map<number, Held[]>();
  private heldNow = 0;
  private readonly perKey = new Map<number, { held: number; aborted: number }>();
  readonly counters: StallCounters = { held: 0, sent: 0, aborted: 0, refused: 0 };

  constructor(
    readonly inner: ScsiTarget,
    private readonly nowMs: () => number,
    /** Told about each stall that ended (from release(), whoever called it). */
    private readonly onEnded?: (ended: StallRelease['ended'][number]) => void,
  ) {}

  /**
   * Stalls `lun` (undefined = every LUN) until nowMs + ms; a longer stall of the same key extends it, a
   * shorter one leaves it. ms 0 ends that stall at the next release. Returns the stall's end time.
   */
  stall(lun: number | undefined, ms: number): number {
    if (!Number.isFinite(ms) || ms < 0 || ms > MAX_STALL_MS) throw new RangeError(`stall of ${ms} ms outside 0..${MAX_STALL_MS}`);
    const key = lun ?? ALL;
    const end = this.nowMs() + ms;
    const cur = this.until.get(key);
    const next = ms === 0 ? end : Math.max(cur ?? 0, end);
    this.until.set(key, next);
    return next;
  }

  /** True when a command to `lun` would be held now. */
  stalled(lun: number): boolean {
    return this.keyFor(lun) !== undefined;
  }

  /** Stalls now active: lun (undefined = all) and end time. */
  active(): Array<{ lun: number | undefined; untilMs: number; held: number }> {
    return [...this.until.entries()].map(([k, u]) => ({ lun: k === ALL ? undefined : k, untilMs: u, held: this.queues.get(k)?.length ?? 0 }));
  }

  /** The earliest end of an active stall (arm a timer for it), or undefined. */
  nextEndMs(): number | undefined {
    let min: number | undefined;
    for (const u of this.until.values()) if (min === undefined || u < min) min = u;
    return min;
  }

  private keyFor(lun: number): number | undefined {
    const now = this.nowMs();
    const all = this.until.get(ALL);
    if (all !== undefined && all > now) return ALL;
    const one = this.until.get(lun);
    if (one !== undefined && one > now) return lun;
    return undefined;
  }

  execute(cmd: ScsiCommand): Promise<ScsiResult> {
    // A stall that ended before its timer fired is released first, so held commands keep their order.
    if (this.until.size > 0 && this.nextEndMs()! <= this.nowMs()) this.release();
    const key = this.keyFor(cmd.lun);
    if (key === undefined) return this.inner.execute(cmd);
    if (this.heldNow >= MAX_HELD_COMMANDS) {
      this.counters.refused++;
      return Promise.resolve(TASK_SET_FULL);
    }
    return new Promise<ScsiResult>((resolve, reject) => {
      let q = this.queues.get(key);
      if (q === undefined) this.queues.set(key, (q = []));
      q.push({ cmd, resolve, reject });
      this.heldNow++;
      this.counters.held++;
      const k = this.perKey.get(key) ?? { held: 0, aborted: 0 };
      k.held++;
      this.perKey.set(key, k);
    });
  }

  /** Ends every stall whose time has come and sends (or answers TASK ABORTED) what it held. */
  release(): StallRelease {
    const now = this.nowMs();
    const out: StallRelease = { ended: [] };
    for (const [key, end] of [...this.until.entries()]) {
      if (end > now) continue;
      this.until.delete(key);
      const q = this.queues.get(key) ?? [];
      this.queues.delete(key);
      let sent = 0;
      let aborted = 0;
      for (const h of q) {
        this.heldNow--;
        if (h.cmd.aborted === true) {
          aborted++;
          h.resolve(TASK_ABORTED);
          continue;
        }
        // Still stalled by another key (the whole array, or this LUN longer): hold it there instead.
        const other = this.keyFor(h.cmd.lun);
        if (other !== undefined) {
          let oq = this.queues.get(other);
          if (oq === undefined) this.queues.set(other, (oq = []));
          oq.push(h);
          this.heldNow++;
          continue;
        }
        sent++;
        this.inner.execute(h.cmd).then(h.resolve, h.reject);
      }
      this.counters.sent += sent;
      this.counters.aborted += aborted;
      const k = this.perKey.get(key);
      this.perKey.delete(key);
      const ended = { lun: key === ALL ? undefined : key, held: k?.held ?? 0, sent, aborted };
      out.ended.push(ended);
      this.onEnded?.(ended);
    }
    return out;
  }

  /** Answers every held command with an error (the host is closing its storage). */
  close(why: Error): void {
    for (const q of this.queues.values()) for (const h of q) h.reject(why);
    this.queues.clear();
    this.until.clear();
    this.heldNow = 0;
  }
}
