// The guest memory model of a migrating VM (docs/vmotion.md "Memory model"): memory of `memoryBytes` in
// VMOTION_PAGE_BYTES pages, written by the running guest at `dirtyBytesPerSec` over a working set of
// `workingSetBytes` (default: all of it), page after page in a cycle, so the pages dirtied in an interval
// are min(rate x interval, working set). Pre-copy works on a snapshot: beginPass() takes the pages dirty
// now as the pass's set and clears the dirty map; pages written during the pass are dirty again for the
// next one (§7.15 step 1, dirty pages tracked). Also `predictPrecopy`, the same model in closed form, for
// the docs, the bench and the tests to compare a real copy with.
// Leaves out page contents (a chunk's bytes are a pattern of its page number: only their size and time on
// the wire matter), memory compression, page sharing and the guest slow-down ESXi applies when a copy
// does not converge.

import { VMOTION_PAGE_BYTES, checkMemoryModel } from './config.js';

export interface MemoryModel {
  memoryBytes: number;
  dirtyBytesPerSec: number;
  /** The bytes the guest keeps writing to; default memoryBytes. */
  workingSetBytes?: number;
}

export class GuestMemory {
  readonly pages: number;
  readonly workingSetPages: number;
  private readonly bytesPerMs: number;
  /** Dirty map: bit per page. */
  private dirty: Uint8Array;
  /** The current pass's set (the dirty map taken at beginPass). */
  private passSet: Uint8Array;
  private dirtyCount = 0;
  private passRemaining = 0;
  private passCursor = 0;
  /** Next page the guest writes (cycles over the working set). */
  private writeCursor = 0;
  /** Bytes written but not yet a whole page. */
  private carryBytes = 0;
  private lastMs: number;
  private running = true;

  constructor(model: MemoryModel, nowMs: number) {
    checkMemoryModel(model);
    this.pages = model.memoryBytes / VMOTION_PAGE_BYTES;
    this.workingSetPages = Math.floor((model.workingSetBytes ?? model.memoryBytes) / VMOTION_PAGE_BYTES);
    this.bytesPerMs = model.dirtyBytesPerSec / 1000;
    this.dirty = new Uint8Array(Math.ceil(this.pages / 8));
    this.passSet = new Uint8Array(this.dirty.length);
    // Everything is still to be sent: the first pass copies all of memory.
    this.dirty.fill(0xff);
    if (this.pages % 8 !== 0) this.dirty[this.dirty.length - 1] = (1 << (this.pages % 8)) - 1;
    this.dirtyCount = this.pages;
    this.lastMs = nowMs;
  }

  get dirtyPages(): number {
    return this.dirtyCount;
  }
  get dirtyBytes(): number {
    return this.dirtyCount * VMOTION_PAGE_BYTES;
  }
  /** Pages of the current pass not yet handed out by nextPassPage(). */
  get passPagesLeft(): number {
    return this.passRemaining;
  }

  /** The guest runs until `nowMs`: pages of its working set become dirty. No-op once stopped. */
  advance(nowMs: number): void {
    if (!this.running || nowMs <= this.lastMs) {
      this.lastMs = Math.max(this.lastMs, nowMs);
      return;
    }
    this.carryBytes += (nowMs - this.lastMs) * this.bytesPerMs;
    this.lastMs = nowMs;
    let writes = Math.floor(this.carryBytes / VMOTION_PAGE_BYTES);
    this.carryBytes -= writes * VMOTION_PAGE_BYTES;
    if (this.workingSetPages === 0 || writes === 0) return;
    // A cycle over the whole working set marks all of it: never loop more than once around.
    if (writes > this.workingSetPages) writes = this.workingSetPages;
    for (let i = 0; i < writes; i++) {
      this.mark(this.writeCursor);
      this.writeCursor = (this.writeCursor + 1) % this.workingSetPages;
    }
  }

  /** The guest is stunned: no more writes (from the time of the last advance). */
  stop(nowMs: number): void {
    this.advance(nowMs);
    this.running = false;
  }

  /** The guest runs again (a failed switchover resumed it on the source). */
  resume(nowMs: number): void {
    this.running = true;
    this.lastMs = nowMs;
  }

  private mark(page: number): void {
    const b = page >>> 3;
    const bit = 1 << (page & 7);
    if (!(this.dirty[b]! & bit)) {
      this.dirty[b]! |= bit;
      this.dirtyCount++;
    }
  }

  /** Starts a pass over the pages dirty now; returns how many. */
  beginPass(): number {
    const t = this.passSet;
    this.passSet = this.dirty;
    this.dirty = t;
    this.dirty.fill(0);
    this.passRemaining = this.dirtyCount;
    this.dirtyCount = 0;
    this.passCursor = 0;
    return this.passRemaining;
  }

  /** The next page of the pass to send, or -1 when the pass has handed out all its pages. */
  nextPassPage(): number {
    if (this.passRemaining === 0) return -1;
    for (let b = this.passCursor >>> 3; b < this.passSet.length; b++) {
      const byte = this.passSet[b]!;
      if (byte === 0) continue;
      for (let i = b === this.passCursor >>> 3 ? this.passCursor & 7 : 0; i < 8; i++) {
        if (byte & (1 << i)) {
          const page = b * 8 + i;
          this.passSet[b] = byte & ~(1 << i);
          this.passCursor = page + 1;
          this.passRemaining--;
          return page;
        }
      }
    }
    this.passRemaining = 0;
    return -1;
  }
}

export interface PredictedPass {
  pass: number;
  bytes: number;
  ms: number;
}

export interface PrecopyPrediction {
  passes: PredictedPass[];
  /** True when the dirty set came within the switchover budget before the pass limit. */
  converged: boolean;
  /** Bytes left for the final copy after the stun. */
  finalBytes: number;
  /** The final copy's time at the bandwidth (the downtime, less state and hand-over). */
  finalCopyMs: number;
  precopyMs: number;
}

/**
 * The pre-copy in closed form at a steady `bandwidthBytesPerSec`: pass 1 copies all of memory; a pass of
 * D bytes takes D / B, during which min(rate x D / B, working set) bytes become dirty (whole pages); the
 * copy stops when the dirty bytes would copy within `switchoverBudgetMs`, or after `maxPasses` passes.
 */
export function predictPrecopy(m: MemoryModel, bandwidthBytesPerSec: number, switchoverBudgetMs: number, maxPasses: number): PrecopyPrediction {
  checkMemoryModel(m);
  if (!(bandwidthBytesPerSec > 0)) throw new RangeError(`bandwidth ${bandwidthBytesPerSec} bytes/s must be positive`);
  const ws = Math.floor((m.workingSetBytes ?? m.memoryBytes) / VMOTION_PAGE_BYTES) * VMOTION_PAGE_BYTES;
  const passes: PredictedPass[] = [];
  let toSend = m.memoryBytes;
  let precopyMs = 0;
  let converged = false;
  for (let pass = 1; pass <= maxPasses; pass++) {
    const ms = (toSend / bandwidthBytesPerSec) * 1000;
    passes.push({ pass, bytes: toSend, ms });
    precopyMs += ms;
    toSend = Math.min(ws, Math.floor((m.dirtyBytesPerSec * ms) / 1000 / VMOTION_PAGE_BYTES) * VMOTION_PAGE_BYTES);
    if ((toSend / bandwidthBytesPerSec) * 1000 <= switchoverBudgetMs) {
      converged = true;
      break;
    }
  }
  return { passes, converged, finalBytes: toSend, finalCopyMs: (toSend / bandwidthBytesPerSec) * 1000, precopyMs };
}
