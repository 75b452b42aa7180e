// Merging live capture streams of several daemons into one file in time order. Each daemon stamps its
// frames on the fabric clock (lib/fabric-clock.ts) and sends them in the order it stamped them, so every
// stream is in order by itself; the merger is a k-way merge that holds frames back until no stream can
// still send an earlier one: a frame is written once every open stream has sent something later, or once
// it is CAPTURE_REORDER_WINDOW_MS old on the shared clock (a quiet stream cannot hold the others forever),
// or when the held frames reach their bound. The last frame of each stream is held until the stream moves
// past it, so a comment the daemon sends right after a frame (CAPTURE_COMMENT) still finds it. A frame
// that arrives after a later one was written (its daemon was slower than the window) is written next with
// the time of the frame before it, so the file stays in order, and is counted as late. Pure: the current
// time comes in; the caller writes what comes out.

/** How long (ms on the fabric clock) a frame may wait for slower streams before it is written. */
export const CAPTURE_REORDER_WINDOW_MS = 250;
/** Frames held for ordering at most; past it the oldest are written at once. */
export const CAPTURE_REORDER_MAX_FRAMES = 65_536;
/** Frame bytes held for ordering at most; past it the oldest are written at once. */
export const CAPTURE_REORDER_MAX_BYTES = 32 * 1024 * 1024;

export interface MergeFrame {
  /** Capture timestamp, ns since the Unix epoch (fabric clock). */
  timestampNs: bigint;
  point: string;
  direction: 'in' | 'out';
  frame: Uint8Array;
  comment?: string;
  /** Set on a frame that came after a later one was written: how late it was (ns); its time was raised. */
  lateNs?: bigint;
}

interface Stream {
  queue: MergeFrame[];
  head: number;
  /** Time of the last frame received: the stream sends nothing earlier any more. */
  lastNs: bigint;
  open: boolean;
}

const NS_PER_MS = 1_000_000n;

export interface MergerLimits {
  windowMs?: number;
  maxFrames?: number;
  maxBytes?: number;
}

export class CaptureMerger {
  private readonly streams: Stream[] = [];
  private readonly windowNs: bigint;
  private readonly maxFrames: number;
  private readonly maxBytes: number;
  private heldFrames = 0;
  private heldBytes = 0;
  private lastWrittenNs = -1n;
  /** Frames that arrived after a later frame had been written (see lateNs). */
  late = 0;
  /** Comments whose frame had already been written (or was never received). */
  commentsLost = 0;

  constructor(limits: MergerLimits = {}) {
    this.windowNs = BigInt(Math.round((limits.windowMs ?? CAPTURE_REORDER_WINDOW_MS) * 1e6));
    this.maxFrames = limits.maxFrames ?? CAPTURE_REORDER_MAX_FRAMES;
    this.maxBytes = limits.maxBytes ?? CAPTURE_REORDER_MAX_BYTES;
  }

  /** A new input stream; returns its id. */
  addStream(): number {
    this.streams.push({ queue: [], head: 0, lastNs: -1n, open: true });
    return this.streams.length - 1;
  }

  get held(): number {
    return this.heldFrames;
  }

  push(streamId: number, f: MergeFrame): void {
    const s = this.streams[streamId]!;
    if (f.timestampNs < s.lastNs) f.timestampNs = s.lastNs; // a stream is in order; never let it go back
    s.lastNs = f.timestampNs;
    if (f.timestampNs < this.lastWrittenNs) {
      f.lateNs = this.lastWrittenNs - f.timestampNs;
      f.timestampNs = this.lastWrittenNs;
      this.late++;
    }
    s.queue.push(f);
    this.heldFrames++;
    this.heldBytes += f.frame.length;
  }

  /** Attaches `text` to the last frame of `point` received on the stream, if it is still held. */
  comment(streamId: number, point: string, text: string): boolean {
    const s = this.streams[streamId]!;
    for (let i = s.queue.length - 1; i >= s.head; i--) {
      const f = s.queue[i]!;
      if (f.point !== point) continue;
      f.comment = f.comment === undefined ? text : `${f.comment}; ${text}`;
      return true;
    }
    this.commentsLost++;
    return false;
  }

  /** The stream ended: it holds nothing back any more. */
  closeStream(streamId: number): void {
    this.streams[streamId]!.open = false;
  }

  /** Frames that may be written now (`nowNs`: the fabric clock as a capture timestamp), in time order. */
  release(nowNs: bigint): MergeFrame[] {
    // frames strictly before the slowest open stream's last time are safe (no stream sends earlier ones
    // any more); a frame a window old is safe too (a quiet stream does not hold the others forever)
    const aged = nowNs - this.windowNs;
    let safe = aged;
    let slowest: bigint | undefined;
    for (const s of this.streams) if (s.open && (slowest === undefined || s.lastNs < slowest)) slowest = s.lastNs;
    if (slowest === undefined) safe = BigInt(Number.MAX_SAFE_INTEGER) * NS_PER_MS;
    else if (slowest - 1n > safe) safe = slowest - 1n;
    return this.take(safe, aged, false);
  }

  /** Everything held, in time order (the capture ends). */
  drain(): MergeFrame[] {
    return this.take(0n, 0n, true);
  }

  private take(safeNs: bigint, agedNs: bigint, all: boolean): MergeFrame[] {
    const out: MergeFrame[] = [];
    for (;;) {
      let best: Stream | undefined;
      for (const s of this.streams) {
        if (s.head >= s.queue.length) continue;
        if (best === undefined || s.queue[s.head]!.timestampNs < best.queue[best.head]!.timestampNs) best = s;
      }
      if (best === undefined) break;
      const f = best.queue[best.head]!;
      const overBound = this.heldFrames > this.maxFrames || this.heldBytes > this.maxBytes;
      if (!all && !overBound) {
        if (f.timestampNs > safeNs) break;
        // an open stream's newest frame waits for the stream to move on (a comment may follow it)
        if (best.open && best.head === best.queue.length - 1 && f.timestampNs > agedNs) break;
      }
      best.head++;
      if (best.head === best.queue.length) {
        best.queue = [];
        best.head = 0;
      } else if (best.head > 1024 && best.head * 2 > best.queue.length) {
        best.queue = best.queue.slice(best.head);
        best.head = 0;
      }
      this.heldFrames--;
      this.heldBytes -= f.frame.length;
      if (f.timestampNs > this.lastWrittenNs) this.lastWrittenNs = f.timestampNs;
      out.push(f);
    }
    return out;
  }
}
