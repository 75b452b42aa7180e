// Measured traffic streams between VMs: a sender stamps each UDP payload with a stream id, a sequence
// number and the send time; a receiver counts frames, losses (sequence gaps), duplicates and reordering,
// and keeps a bounded latency sample for percentiles. Used by benchmarks ("frames/s, p50, p99") and by
// failover scenarios ("frames lost, ms without delivery"). Times are in ns on a clock both ends share
// (daemons pass performance.timeOrigin + performance.now(), which all processes on one machine agree on).
// A receiver's state can move with its VM (vMotion) as a plain value: snapshot() and StreamReceiver.restore(),
// latency samples thinned to STREAM_SNAPSHOT_MAX_SAMPLES. Leaves out rate pacing (the daemon schedules sends).

import { VfabError, type Result, ok, err } from '../errors.js';

export const STREAM_MAGIC = 0x76666162; // "vfab"
export const STREAM_HEADER_BYTES = 20; // magic u32, stream u32, seq u32, sentAtNs f64
/** Latency samples kept per receiver; later samples replace random earlier ones (reservoir). */
export const LATENCY_SAMPLES_MAX = 100_000;
/** Latency samples a snapshot carries (evenly thinned); mean and max stay exact. */
export const STREAM_SNAPSHOT_MAX_SAMPLES = 1024;
/** Largest "seen" bitmap a snapshot carries: 2^21 sequence numbers (about 3.5 min at 10 000 frames/s). */
export const STREAM_SNAPSHOT_MAX_SEEN_BYTES = 256 * 1024;

/** A StreamReceiver as a JSON-serialisable value; times are ns on the machine-wide shared time line. */
export interface StreamReceiverSnapshot {
  version: 1;
  streamId: number;
  received: number;
  duplicates: number;
  reordered: number;
  highestSeq: number;
  /** Bitmap of the sequence numbers seen (bit seq & 7 of byte seq >> 3), base64, up to highestSeq. */
  seen: string;
  firstAtNs: number | null;
  lastAtNs: number | null;
  maxGapNs: number;
  maxGapStartNs: number | null;
  latencySumNs: number;
  latencyMaxNs: number;
  samplesNs: number[];
  rng: number;
}

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

  /** The receiver's state as a plain value, or VFAB_STREAM_SNAPSHOT_TOO_LARGE past the bitmap limit. */
  snapshot(): Result<StreamReceiverSnapshot> {
    const seenBytes = this.highestSeq < 0 ? 0 : (this.highestSeq >>> 3) + 1;
    if (seenBytes > STREAM_SNAPSHOT_MAX_SEEN_BYTES) {
      return err(new VfabError('VFAB_STREAM_SNAPSHOT_TOO_LARGE', `stream ${this.streamId} has seen sequence numbers up to ${this.highestSeq}; a snapshot carries at most ${STREAM_SNAPSHOT_MAX_SEEN_BYTES * 8}`));
    }
    const n = Math.min(this.sampleCount, this.maxSamples);
    const step = Math.max(1, Math.ceil(n / STREAM_SNAPSHOT_MAX_SAMPLES));
    const samplesNs: number[] = [];
    for (let i = 0; i < n && samplesNs.length < STREAM_SNAPSHOT_MAX_SAMPLES; i += step) samplesNs.push(this.samples[i]!);
    const nn = (v: number): number | null => (Number.isNaN(v) ? null : v);
    return ok({
      version: 1, streamId: this.streamId, received: this.received, duplicates: this.duplicates, reordered: this.reordered,
      highestSeq: this.highestSeq, seen: Buffer.from(this.seen.buffer, this.seen.byteOffset, seenBytes).toString('base64'),
      firstAtNs: nn(this.firstAtNs), lastAtNs: nn(this.lastAtNs), maxGapNs: this.maxGapNs, maxGapStartNs: nn(this.maxGapStartNs),
      latencySumNs: this.latencySumNs, latencyMaxNs: this.latencyMaxNs, samplesNs, rng: this.rng >>> 0,
    });
  }

  /** A receiver that carries on from `v` (untrusted); VFAB_STREAM_BAD_SNAPSHOT when out of shape or range. */
  static restore(v: unknown): Result<StreamReceiver> {
    const bad = (why: string) => err(new VfabError('VFAB_STREAM_BAD_SNAPSHOT', `stream snapshot: ${why}`));
    if (typeof v !== 'object' || v === null) return bad('not an object');
    const o = v as Record<string, unknown>;
    const count = (k: string): boolean => typeof o[k] === 'number' && Number.isSafeInteger(o[k]) && (o[k] as number) >= 0;
    const time = (k: string, nullable: boolean): boolean => (nullable && o[k] === null) || (typeof o[k] === 'number' && Number.isFinite(o[k]));
    if (o.version !== 1) return bad('version is not 1');
    for (const k of ['streamId', 'received', 'duplicates', 'reordered', 'rng']) if (!count(k)) return bad(`${k} is not a non-negative integer`);
    if (!(Number.isSafeInteger(o.highestSeq) && (o.highestSeq as number) >= -1)) return bad('highestSeq is not an integer >= -1');
    for (const k of ['firstAtNs', 'lastAtNs', 'maxGapStartNs']) if (!time(k, true)) return bad(`${k} is not a number or null`);
    for (const k of ['maxGapNs', 'latencySumNs', 'latencyMaxNs']) if (!time(k, false)) return bad(`${k} is not a number`);
    if (typeof o.seen !== 'string' || o.seen.length > Math.ceil(STREAM_SNAPSHOT_MAX_SEEN_BYTES / 3) * 4) return bad(`seen is not base64 of at most ${STREAM_SNAPSHOT_MAX_SEEN_BYTES} bytes`);
    const seen = Buffer.from(o.seen, 'base64');
    const highestSeq = o.highestSeq as number;
    if (highestSeq >= seen.length * 8) return bad('highestSeq lies beyond the seen bitmap');
    if (!Array.isArray(o.samplesNs) || o.samplesNs.length > STREAM_SNAPSHOT_MAX_SAMPLES || !o.samplesNs.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      return bad(`samplesNs must be at most ${STREAM_SNAPSHOT_MAX_SAMPLES} numbers`);
    }
    const r = new StreamReceiver(o.streamId as number);
    let size = r.seen.length;
    while (size < seen.length) size *= 2;
    r.seen = new Uint8Array(size);
    r.seen.set(seen);
    r.received = o.received as number;
    r.duplicates = o.duplicates as number;
    r.reordered = o.reordered as number;
    r.highestSeq = highestSeq;
    const num = (x: unknown): number => (x === null ? NaN : (x as number));
    r.firstAtNs = num(o.firstAtNs);
    r.lastAtNs = num(o.lastAtNs);
    r.maxGapNs = o.maxGapNs as number;
    r.maxGapStartNs = num(o.maxGapStartNs);
    r.latencySumNs = o.latencySumNs as number;
    r.latencyMaxNs = o.latencyMaxNs as number;
    r.samples.set(o.samplesNs as number[]);
    r.sampleCount = (o.samplesNs as number[]).length;
    r.rng = (o.rng as number) >>> 0 || 0x9e3779b9;
    return ok(r);
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
