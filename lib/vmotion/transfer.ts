// Reliable, windowed delivery of vMotion datagrams over UDP (docs/vmotion.md "Transfer"). Covers the
// sender (sequence numbers, a bounded window of unacknowledged datagrams, cumulative + selective acks,
// retransmission when the caller's retransmission timeout passes, and once early ("fast") when
// FAST_RETRANSMIT_AFTER datagrams sent after one are acknowledged while it is not, counters and the time
// of the last ack progress for loss-of-network detection) and the receiver (duplicate and out-of-window detection with a
// bounded bitmap, the cumulative point and the selective bitmap it acknowledges with). Sequence numbers
// are u32 on the wire; both sides keep absolute numbers and compare modulo 2^32.
// Leaves out what the datagrams carry (wire.ts), congestion control (the window is fixed by the caller;
// the fabric's shaping and loss are what the copy meets) and timers (the caller calls tick-like methods
// at nextDeadlineMs()).

import { ACK_SACK_BYTES } from './wire.js';
import { VMOTION_MAX_WINDOW_CHUNKS } from './config.js';

/** A datagram is taken as lost when this many sent after it are acknowledged (the usual duplicate threshold). */
export const FAST_RETRANSMIT_AFTER = 3;

interface InFlight {
  seq: number;
  /** Already resent once on the fast path; further resends wait for the timeout. */
  fastResent: boolean;
  datagram: Buffer;
  /** Payload bytes this datagram carries for bandwidth accounting (memory/state data). */
  dataBytes: number;
  sentAtMs: number;
  retries: number;
}

export interface SenderCounters {
  datagramsSent: number;
  bytesSent: number;
  /** Every resend (timeout and fast). */
  retransmits: number;
  /** Resends on the fast path. */
  fastRetransmits: number;
  retransmittedBytes: number;
  acksReceived: number;
  /** Acks that acknowledged nothing new. */
  duplicateAcks: number;
  /** Acks whose cumulative point lies outside what was sent (stale or forged): ignored. */
  staleAcks: number;
}

export interface AckOutcome {
  /** Datagrams newly acknowledged. */
  datagrams: number;
  /** Their data bytes (the `dataBytes` given at send). */
  dataBytes: number;
  /** Datagrams to send again now (fast retransmission), already counted. */
  resend: Buffer[];
}

export class ChunkSender {
  /** Absolute sequence number the next datagram gets. */
  private nextSeq = 0;
  /** Lowest unacknowledged absolute sequence number. */
  private base = 0;
  private readonly inflight = new Map<number, InFlight>();
  /** Highest absolute sequence number acknowledged so far (-1: none). */
  private highestAcked = -1;
  private peerWindow: number;
  readonly counters: SenderCounters = {
    datagramsSent: 0, bytesSent: 0, retransmits: 0, fastRetransmits: 0, retransmittedBytes: 0, acksReceived: 0, duplicateAcks: 0, staleAcks: 0,
  };
  /** Last time an ack acknowledged something new (or the first send). */
  lastProgressMs: number;

  constructor(private readonly windowChunks: number, private readonly rtoMs: number, nowMs: number) {
    if (!(Number.isInteger(windowChunks) && windowChunks >= 1 && windowChunks <= VMOTION_MAX_WINDOW_CHUNKS)) {
      throw new RangeError(`window of ${windowChunks} datagrams is not 1..${VMOTION_MAX_WINDOW_CHUNKS}`);
    }
    this.peerWindow = windowChunks;
    this.lastProgressMs = nowMs;
  }

  get outstanding(): number {
    return this.inflight.size;
  }

  /** The sequence number the next send() will use. */
  get nextSequence(): number {
    return this.nextSeq;
  }

  /** True while the next datagram fits the window (ours and the receiver's, counted from the oldest unacked). */
  canSend(): boolean {
    return this.nextSeq - this.base < Math.min(this.windowChunks, this.peerWindow);
  }

  /** Records and returns `datagram` (already built with sequence number `nextSequence`). */
  send(datagram: Buffer, dataBytes: number, nowMs: number): Buffer {
    if (!this.canSend()) throw new RangeError('send() with the window full: call canSend() first');
    if (this.inflight.size === 0) this.lastProgressMs = Math.max(this.lastProgressMs, nowMs);
    this.inflight.set(this.nextSeq, { seq: this.nextSeq, fastResent: false, datagram, dataBytes, sentAtMs: nowMs, retries: 0 });
    this.nextSeq++;
    this.counters.datagramsSent++;
    this.counters.bytesSent += datagram.length;
    return datagram;
  }

  /** Applies an ack: cumulative `next` (u32, next expected) and the selective bitmap; `window` from the peer. */
  onAck(next: number, sack: Uint8Array, window: number, nowMs: number): AckOutcome {
    this.counters.acksReceived++;
    const ahead = (next - this.base) >>> 0; // modulo 2^32
    if (ahead > this.nextSeq - this.base) {
      this.counters.staleAcks++;
      return { datagrams: 0, dataBytes: 0, resend: [] };
    }
    if (window >= 1) this.peerWindow = window;
    const absNext = this.base + ahead;
    const out: AckOutcome = { datagrams: 0, dataBytes: 0, resend: [] };
    for (let s = this.base; s < absNext; s++) this.take(s, out);
    for (let i = 0; i < ACK_SACK_BYTES * 8 && i < sack.length * 8; i++) {
      if (sack[i >>> 3]! & (1 << (i & 7))) this.take(absNext + 1 + i, out);
    }
    this.base = absNext;
    while (this.base < this.nextSeq && !this.inflight.has(this.base)) this.base++;
    if (out.datagrams > 0) this.lastProgressMs = nowMs;
    else this.counters.duplicateAcks++;
    // Holes with FAST_RETRANSMIT_AFTER later datagrams acknowledged: resend once now (in sequence order).
    const lostUpTo = this.highestAcked - FAST_RETRANSMIT_AFTER;
    for (const f of this.inflight.values()) {
      if (f.seq > lostUpTo) break;
      if (f.fastResent) continue;
      f.fastResent = true;
      this.resent(f, nowMs);
      this.counters.fastRetransmits++;
      out.resend.push(f.datagram);
    }
    return out;
  }

  private take(seq: number, out: AckOutcome): void {
    const f = this.inflight.get(seq);
    if (f === undefined) return;
    this.inflight.delete(seq);
    if (seq > this.highestAcked) this.highestAcked = seq;
    out.datagrams++;
    out.dataBytes += f.dataBytes;
  }

  /** Datagrams whose retransmission timeout has passed, stamped as sent again now. */
  due(nowMs: number): Buffer[] {
    const out: Buffer[] = [];
    for (const f of this.inflight.values()) {
      if (f.sentAtMs + this.rtoMs > nowMs) continue;
      this.resent(f, nowMs);
      out.push(f.datagram);
    }
    return out;
  }

  private resent(f: InFlight, nowMs: number): void {
    f.sentAtMs = nowMs;
    f.retries++;
    this.counters.retransmits++;
    this.counters.retransmittedBytes += f.datagram.length;
    this.counters.bytesSent += f.datagram.length;
  }

  /** When due() next has work, or undefined with nothing outstanding. */
  nextDeadlineMs(): number | undefined {
    let next: number | undefined;
    for (const f of this.inflight.values()) if (next === undefined || f.sentAtMs + this.rtoMs < next) next = f.sentAtMs + this.rtoMs;
    return next;
  }

  /** Forgets every unacknowledged datagram (the migration ended): nothing is retransmitted any more. */
  cancelAll(): void {
    this.inflight.clear();
    this.base = this.nextSeq;
  }

  /** True once every datagram sent so far is acknowledged. */
  get idle(): boolean {
    return this.inflight.size === 0;
  }
}

export type Arrival = 'new' | 'duplicate' | 'outside';

export interface ReceiverCounters {
  accepted: number;
  duplicates: number;
  /** Beyond the window (never buffered): dropped, the sender retransmits. */
  outsideWindow: number;
}

export class ChunkReceiver {
  /** Absolute next expected sequence number (all below it arrived). */
  private next = 0;
  /** received[abs % VMOTION_MAX_WINDOW_CHUNKS] for abs in (next, next + window). */
  private readonly seen = new Uint8Array(VMOTION_MAX_WINDOW_CHUNKS);
  readonly counters: ReceiverCounters = { accepted: 0, duplicates: 0, outsideWindow: 0 };

  constructor(readonly windowChunks: number = VMOTION_MAX_WINDOW_CHUNKS) {
    if (!(Number.isInteger(windowChunks) && windowChunks >= 1 && windowChunks <= VMOTION_MAX_WINDOW_CHUNKS)) {
      throw new RangeError(`window of ${windowChunks} datagrams is not 1..${VMOTION_MAX_WINDOW_CHUNKS}`);
    }
  }

  /** The cumulative point as sent in an ACK (u32). */
  get nextExpected(): number {
    return this.next >>> 0;
  }

  /** Absolute form of a u32 sequence number relative to the cumulative point (negative = before it). */
  distance(seq: number): number {
    return ((seq - this.next) | 0);
  }

  /** Classifies and records one arrival of `seq` (u32). Only 'new' datagrams should be applied. */
  accept(seq: number): Arrival {
    const d = this.distance(seq);
    if (d < 0) {
      this.counters.duplicates++;
      return 'duplicate';
    }
    if (d >= this.windowChunks) {
      this.counters.outsideWindow++;
      return 'outside';
    }
    const abs = this.next + d;
    const slot = abs % VMOTION_MAX_WINDOW_CHUNKS;
    if (this.seen[slot]) {
      this.counters.duplicates++;
      return 'duplicate';
    }
    this.counters.accepted++;
    this.seen[slot] = 1;
    while (this.seen[this.next % VMOTION_MAX_WINDOW_CHUNKS]) {
      this.seen[this.next % VMOTION_MAX_WINDOW_CHUNKS] = 0;
      this.next++;
    }
    return 'new';
  }

  /** True when every datagram up to and including `seq` (u32) has arrived. */
  hasAllThrough(seq: number): boolean {
    return this.distance(seq) < 0;
  }

  /** The selective bitmap: bit i set when next + 1 + i has arrived. */
  sack(into: Uint8Array = new Uint8Array(ACK_SACK_BYTES)): Uint8Array {
    into.fill(0);
    for (let i = 0; i + 1 < this.windowChunks; i++) {
      if (this.seen[(this.next + 1 + i) % VMOTION_MAX_WINDOW_CHUNKS]) into[i >>> 3]! |= 1 << (i & 7);
    }
    return into;
  }
}
