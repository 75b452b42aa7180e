// Per-port traffic shaping on a vSS (spec §5): egress from the VM/port into the vSwitch only (§5.1), values
// per port (§5.2), average/peak/burst (§5.3) modelled as a token bucket (§5.4, [INF]). Credit refills at the
// average rate and is capped at the burst size; the bucket starts full. A frame may leave while credit
// remains (credit >= 0; it may go negative by the frame's size, which the average refill then repays), and
// never faster than the peak rate (each frame occupies the port for sizeBytes*8/peakBps). Frames that may
// not leave yet wait, in order, in a bounded queue (SHAPER_QUEUE_FRAMES / SHAPER_QUEUE_BYTES); a frame that
// finds the queue full is dropped and counted. Pure: time comes in as `nowMs`; the daemon schedules a timer
// for nextReleaseMs() and calls dequeueDue().
// Units: the API (HostNetworkTrafficShapingPolicy) uses bits/s and bytes; the UI uses Kbit/s and KB. We take
// 1 Kbit = 1000 bits and 1 KB = 1024 bytes [INF]; see kbitToBps and kbToBytes.
// Leaves out: ingress shaping (vDS only) and shaping of traffic between uplinks.

import { VfabError } from '../errors.js';

/** Frames a shaper queues before it drops. */
export const SHAPER_QUEUE_FRAMES = 256;
/** Bytes a shaper queues before it drops. */
export const SHAPER_QUEUE_BYTES = 1024 * 1024;
/** Upper bound for any configured rate: 100 Gbit/s. */
export const MAX_SHAPING_BPS = 100_000_000_000;
/** Upper bound for a burst size: 4 GiB. */
export const MAX_BURST_BYTES = 4 * 1024 * 1024 * 1024;
/** Tolerance for floating-point credit at a computed release instant. */
const CREDIT_EPSILON_BYTES = 1e-6;

export interface ShapingPolicy {
  /** Long-run rate, bits per second. */
  averageBps: number;
  /** Rate ceiling while burst credit is spent, bits per second; must be >= averageBps. */
  peakBps: number;
  /** Most credit that builds up while the port sends below average, bytes. */
  burstBytes: number;
}

export interface ShaperLimits {
  queueFrames?: number;
  queueBytes?: number;
}

export type ShaperVerdict = 'send' | 'queued' | 'dropped';

export interface ShaperStats {
  sentFrames: number;
  sentBytes: number;
  queuedFrames: number;
  droppedFrames: number;
  droppedBytes: number;
}

/** UI Kbit/s to API bits/s. */
export function kbitToBps(kbitPerSecond: number): number {
  return kbitPerSecond * 1000;
}
/** UI KB to API bytes. */
export function kbToBytes(kiloBytes: number): number {
  return kiloBytes * 1024;
}
export function bpsToKbit(bitsPerSecond: number): number {
  return bitsPerSecond / 1000;
}
export function bytesToKb(bytes: number): number {
  return bytes / 1024;
}

export function validateShapingPolicy(p: ShapingPolicy): void {
  const bad = (v: number): boolean => !(Number.isFinite(v) && v > 0 && v <= MAX_SHAPING_BPS);
  if (bad(p.averageBps)) {
    throw new VfabError('VFAB_SHAPING_BAD_RATE', `average bandwidth ${p.averageBps} bit/s must be > 0 and <= MAX_SHAPING_BPS (${MAX_SHAPING_BPS})`);
  }
  if (bad(p.peakBps)) {
    throw new VfabError('VFAB_SHAPING_BAD_RATE', `peak bandwidth ${p.peakBps} bit/s must be > 0 and <= MAX_SHAPING_BPS (${MAX_SHAPING_BPS})`);
  }
  if (p.peakBps < p.averageBps) {
    throw new VfabError('VFAB_SHAPING_PEAK_BELOW_AVERAGE', `peak bandwidth ${p.peakBps} bit/s is below average ${p.averageBps} bit/s (§5.3: peak must be >= average)`);
  }
  if (!(Number.isFinite(p.burstBytes) && p.burstBytes >= 0 && p.burstBytes <= MAX_BURST_BYTES)) {
    throw new VfabError('VFAB_SHAPING_BAD_BURST', `burst size ${p.burstBytes} bytes must be 0..MAX_BURST_BYTES (${MAX_BURST_BYTES})`);
  }
}

export class TokenBucketShaper {
  readonly policy: Readonly<ShapingPolicy>;
  readonly stats: ShaperStats = { sentFrames: 0, sentBytes: 0, queuedFrames: 0, droppedFrames: 0, droppedBytes: 0 };
  private readonly avgBytesPerMs: number;
  private readonly peakMsPerByte: number;
  private readonly queueFramesMax: number;
  private readonly queueBytesMax: number;
  private creditBytes: number;
  private lastRefillMs: number;
  /** When the port is free again at peak rate. */
  private peakFreeAtMs: number;
  // FIFO as a ring of fixed capacity (no per-frame array shifting).
  private readonly ring: (Uint8Array | undefined)[];
  private head = 0;
  private count = 0;
  private queuedBytes = 0;

  constructor(policy: ShapingPolicy, startMs: number, limits: ShaperLimits = {}) {
    validateShapingPolicy(policy);
    this.policy = { ...policy };
    this.queueFramesMax = limits.queueFrames ?? SHAPER_QUEUE_FRAMES;
    this.queueBytesMax = limits.queueBytes ?? SHAPER_QUEUE_BYTES;
    if (!(Number.isInteger(this.queueFramesMax) && this.queueFramesMax >= 0 && this.queueFramesMax <= 65536)) {
      throw new VfabError('VFAB_SHAPING_BAD_QUEUE', `queue of ${this.queueFramesMax} frames must be 0..65536`);
    }
    if (!(Number.isInteger(this.queueBytesMax) && this.queueBytesMax >= 0 && this.queueBytesMax <= 256 * 1024 * 1024)) {
      throw new VfabError('VFAB_SHAPING_BAD_QUEUE', `queue of ${this.queueBytesMax} bytes must be 0..256 MiB`);
    }
    this.avgBytesPerMs = policy.averageBps / 8000;
    this.peakMsPerByte = 8000 / policy.peakBps;
    this.creditBytes = policy.burstBytes;
    this.lastRefillMs = startMs;
    this.peakFreeAtMs = startMs;
    this.ring = new Array(this.queueFramesMax);
  }

  /** Frames waiting. */
  get queueLength(): number {
    return this.count;
  }
  get queueBytes(): number {
    return this.queuedBytes;
  }
  /** Current credit in bytes (negative while repaying a frame larger than the credit it found). */
  creditAt(nowMs: number): number {
    this.refill(nowMs);
    return this.creditBytes;
  }

  /** A frame from the VM: 'send' now, 'queued' (leaves via dequeueDue) or 'dropped' (queue full). */
  offer(frame: Uint8Array, nowMs: number): ShaperVerdict {
    this.refill(nowMs);
    if (this.count === 0 && this.releaseAtMs() <= nowMs) {
      this.consume(frame.length, nowMs);
      return 'send';
    }
    if (this.count >= this.queueFramesMax || this.queuedBytes + frame.length > this.queueBytesMax) {
      this.stats.droppedFrames++;
      this.stats.droppedBytes += frame.length;
      return 'dropped';
    }
    this.ring[(this.head + this.count) % this.queueFramesMax] = frame;
    this.count++;
    this.queuedBytes += frame.length;
    this.stats.queuedFrames++;
    return 'queued';
  }

  /** Queued frames whose release time is <= nowMs, in order. Each leaves at its own release instant. */
  dequeueDue(nowMs: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    while (this.count > 0) {
      const at = this.releaseAtMs();
      if (at > nowMs) break;
      const frame = this.ring[this.head]!;
      this.ring[this.head] = undefined;
      this.head = (this.head + 1) % this.queueFramesMax;
      this.count--;
      this.queuedBytes -= frame.length;
      this.refill(at);
      this.consume(frame.length, at);
      out.push(frame);
    }
    this.refill(nowMs);
    return out;
  }

  /** When the head of the queue may leave, or null when the queue is empty. */
  nextReleaseMs(): number | null {
    return this.count === 0 ? null : this.releaseAtMs();
  }

  private refill(atMs: number): void {
    if (atMs <= this.lastRefillMs) return;
    this.creditBytes = Math.min(this.policy.burstBytes, this.creditBytes + (atMs - this.lastRefillMs) * this.avgBytesPerMs);
    this.lastRefillMs = atMs;
  }

  /** Earliest instant (>= last refill) with credit >= 0 and the port free at peak rate. */
  private releaseAtMs(): number {
    let at = this.lastRefillMs;
    if (this.creditBytes < -CREDIT_EPSILON_BYTES) at += -this.creditBytes / this.avgBytesPerMs;
    return Math.max(at, this.peakFreeAtMs);
  }

  private consume(sizeBytes: number, atMs: number): void {
    this.creditBytes -= sizeBytes;
    this.peakFreeAtMs = Math.max(atMs, this.peakFreeAtMs) + sizeBytes * this.peakMsPerByte;
    this.stats.sentFrames++;
    this.stats.sentBytes += sizeBytes;
  }
}
