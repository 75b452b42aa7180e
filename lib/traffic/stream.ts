// Measured traffic streams between VMs: a sender stamps each UDP payload with a stream id, a sequence
// number and the send time; a receiver counts frames, losses (sequence gaps), duplicates and reordering,
// and keeps a bounded latency sample for percentiles. Used by benchmarks ("frames/s, p50, p99") and by
// failover scenarios ("frames lost, ms without delivery"). Times are in ns on a clock both ends share
// (daemons pass performance.timeOrigin + performance.now(), which all processes on one machine agree on).
// Leaves out rate pacing (the daemon schedules sends).

export const STREAM_MAGIC = 0x76666162; // "vfab"
export const STREAM_HEADER_BYTES = 20; // magic u32, stream u32, seq u32, sentAtNs f64
/** Latency samples kept per receiver; later samples replace random earlier ones (reservoir). */
export const LATENCY_SAMPLES_MAX = 100_000;

// Per-frame codec without allocation: the double goes through one shared scratch (big-endian on the wire).
const scratchF64 = new Float64Array(1);
const scratchBytes = new Uint8Array(scratchF64.buffer);
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function writeU32(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v >>> 24;
  buf[at + 1] = (v >>> 16) & 0xff;
  buf[at + 2] = (v >>> 8) & 0xff;
  buf[at + 3] = v & 0xff;
}

function readU32(buf: Uint8Array, at: number): number {
  return ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
}

export function writeStreamHeader(buf: Uint8Array, offset: number, streamId: number, seq: number, sentAtNs: number): void {
  writeU32(buf, offset, STREAM_MAGIC);
  writeU32(buf, offset + 4, streamId >>> 0);
  writeU32(buf, offset + 8, seq >>> 0);
  scratchF64[0] = sentAtNs;
  for (let i = 0; i < 8; i++) buf[offset + 12 + i] = scratchBytes[LITTLE_ENDIAN_HOST ? 7 - i : i]!;
}

export interface StreamStamp {
  streamId: number;
  seq: number;
  sentAtNs: number;
}

/** Reads a stream header, or undefined when the payload is not a vfab stream payload. */
export function readStreamHeader(buf: Uint8Array, offset: number): StreamStamp | undefined {
  const stamp: StreamStamp = { streamId: 0, seq: 0, sentAtNs: 0 };
  return readStreamHeaderInto(buf, offset, stamp) ? stamp : undefined;
}

/**
 * readStreamHeader without allocating (per-frame receive paths): fills `into` and returns true, or
 * returns false (leaving `into` unchanged) when the payload is not a vfab stream payload.
 */
export function readStreamHeaderInto(buf: Uint8Array, offset: number, into: StreamStamp): boolean {
  if (offset < 0 || buf.length - offset < STREAM_HEADER_BYTES) return false;
  if (readU32(buf, offset) !== STREAM_MAGIC) return false;
  for (let i = 0; i < 8; i++) scratchBytes[LITTLE_ENDIAN_HOST ? 7 - i : i] = buf[offset + 12 + i]!;
  into.streamId = readU32(buf, offset + 4);
  into.seq = readU32(buf, offset + 8);
  into.sentAtNs = scratchF64[0]!;
  return true;
}

export interface StreamReport {
  streamId: number;
  received: number;
  /** Highest sequence number seen + 1 minus distinct frames received: frames never seen. */
  lost: number;
  duplicates: number;
  reordered: number;
  firstAtNs: number | null;
  lastAtNs: number | null;
  /** The longest time between two consecutive arrivals (an outage shows here), ms. */
  maxGapMs: number;
  /** Arrival time (ns) at the start of the longest gap, or null. */
  maxGapStartNs: number | null;
  latencyMs: { p50: number; p99: number; max: number; mean: number; samples: number } | null;
}

/** Receiver-side accounting for one stream. */
export class StreamReceiver {
  private received = 0;
  private duplicates = 0;
  private reordered = 0;
  private highestSeq = -1;
  private seen: Uint8Array = new Uint8Array(1024);
  // arrival times are plain doubles with NaN for "none yet" (a field that may hold null stores each new
  // double in a fresh heap box: one allocation per frame)
  private firstAtNs = NaN;
  private lastAtNs = NaN;
  private maxGapNs = 0;
  private maxGapStartNs = NaN;
  private readonly samples: Float64Array;
  private sampleCount = 0;
  private latencySumNs = 0;
  private latencyMaxNs = 0;
  private rng = 0x9e3779b9;

  constructor(readonly streamId: number, private readonly maxSamples = LATENCY_SAMPLES_MAX) {
    this.samples = new Float64Array(maxSamples);
  }

  /** Records one arrival of `seq` sent at `sentAtNs`, received at `nowNs`. */
  record(seq: number, sentAtNs: number, nowNs: number): void {
    if (seq >= this.seen.length * 8) {
      let size = this.seen.length;
      while (seq >= size * 8) size *= 2;
      const grown = new Uint8Array(size);
      grown.set(this.seen);
      this.seen = grown;
    }
    const byte = seq >>> 3;
    const bit = 1 << (seq & 7);
    if (this.seen[byte]! & bit) {
      this.duplicates++;
      return;
    }
    this.seen[byte]! |= bit;
    this.received++;
    if (seq < this.highestSeq) this.reordered++;
    else this.highestSeq = seq;
    // (NaN compares false: no gap before the first arrival)
    if (nowNs - this.lastAtNs > this.maxGapNs) {
      this.maxGapNs = nowNs - this.lastAtNs;
      this.maxGapStartNs = this.lastAtNs;
    }
    if (this.received === 1) this.firstAtNs = nowNs;
    this.lastAtNs = nowNs;
    const latencyNs = nowNs - sentAtNs;
    this.latencySumNs += latencyNs;
    if (latencyNs > this.latencyMaxNs) this.latencyMaxNs = latencyNs;
    if (this.sampleCount < this.maxSamples) this.samples[this.sampleCount] = latencyNs;
    else {
      // reservoir sampling with a fixed-seed xorshift, so reports repeat for the same arrivals
      this.rng ^= this.rng << 13;
      this.rng ^= this.rng >>> 17;
      this.rng ^= this.rng << 5;
      // uniform in [0, received) by scaling (a modulo of a double costs several times more)
      const slot = Math.floor(((this.rng >>> 0) / 4294967296) * this.received);
      if (slot < this.maxSamples) this.samples[slot] = latencyNs;
    }
    this.sampleCount++;
  }

  report(sentCount?: number): StreamReport {
    const expected = sentCount ?? this.highestSeq + 1;
    const n = Math.min(this.sampleCount, this.maxSamples);
    let latencyMs: StreamReport['latencyMs'] = null;
    if (n > 0) {
      const sorted = Float64Array.from(this.samples.subarray(0, n)).sort();
      const pick = (q: number) => sorted[Math.min(n - 1, Math.floor(q * n))]! / 1e6;
      latencyMs = { p50: pick(0.5), p99: pick(0.99), max: this.latencyMaxNs / 1e6, mean: this.latencySumNs / this.received / 1e6, samples: n };
    }
    return {
      streamId: this.streamId,
      received: this.received,
      lost: Math.max(0, expected - this.received),
      duplicates: this.duplicates,
      reordered: this.reordered,
      firstAtNs: Number.isNaN(this.firstAtNs) ? null : this.firstAtNs,
      lastAtNs: Number.isNaN(this.lastAtNs) ? null : this.lastAtNs,
      maxGapMs: this.maxGapNs / 1e6,
      maxGapStartNs: Number.isNaN(this.maxGapStartNs) ? null : this.maxGapStartNs,
      latencyMs,
    };
  }
}

const TIME_ORIGIN_MS = performance.timeOrigin;

/** Nanoseconds on a time line shared by every process on this machine. */
export function sharedNowNs(): number {
  return (TIME_ORIGIN_MS + performance.now()) * 1e6;
}
