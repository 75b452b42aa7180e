// Reassembly of iSCSI PDUs from a TCP byte stream (RFC 7143 §11: the BHS says how long the rest is). Covers
// chunks that hold part of a PDU, several PDUs, or both; the limits checked as soon as the BHS is in
// (before anything more is buffered); the header and data digests once negotiated; and the difference
// between a bad PDU the stream survives (unknown opcode, bad field, data digest: the caller answers with a
// Reject, §7.8 and §11.17) and a fatal one (length over the limit, header digest mismatch: nothing after it
// can be trusted, the caller closes the connection, §7.8). Leaves out resynchronisation (no markers, they
// left the protocol with RFC 7143, which lists their keys as obsolete in §13) and everything the PDUs mean. Pure: no sockets or timers.
//
// Buffering is bounded: at most one PDU that is not complete yet is held (at most ISCSI_MAX_PDU_BYTES),
// never a backlog; whole PDUs inside a chunk are handed out as views of that chunk without a copy, and a
// PDU split across chunks is copied once, into a buffer of its size allocated when its BHS is in.

import type { VfabError } from '../errors.js';
import { BHS_BYTES, FATAL_PDU_ERRORS, ISCSI_MAX_DATA_SEGMENT_BYTES, NO_DIGESTS, parsePdu, pduTotalBytes, type Digests, type Pdu } from './pdu.js';

export type FramerEvent =
  /**
   * A whole, valid PDU. Its views point into the chunk that was pushed (a PDU whole inside one chunk) or
   * into a copy the framer made; the framer never writes to either again.
   */
  | { type: 'pdu'; pdu: Pdu; bytes: number }
  /** A PDU with a readable header but bad content; the stream goes on. `header` is its 48-byte BHS. */
  | { type: 'bad-pdu'; error: VfabError; header: Uint8Array }
  /** The stream cannot be trusted from here on; the framer takes no more input. */
  | { type: 'fatal'; error: VfabError };

export interface FramerOptions {
  digests?: Digests;
  /** Largest data segment accepted: the receiver's own MaxRecvDataSegmentLength (8192 during login). */
  maxDataSegmentBytes?: number;
}

export class IscsiFramer {
  private digests: Digests;
  private maxDataSegmentBytes: number;
  /** The PDU being assembled: its first 48 bytes until the BHS is in, then a buffer of its whole size. */
  private partial: Uint8Array = new Uint8Array(BHS_BYTES);
  /** Bytes of `partial` filled (0: nothing held). */
  private held = 0;
  /** Total bytes of the PDU being assembled, once its BHS is in; else 0. */
  private want = 0;
  private dead = false;

  constructor(opts: FramerOptions = {}) {
    this.digests = opts.digests ?? NO_DIGESTS;
    this.maxDataSegmentBytes = Math.min(opts.maxDataSegmentBytes ?? ISCSI_MAX_DATA_SEGMENT_BYTES, ISCSI_MAX_DATA_SEGMENT_BYTES);
  }

  /**
   * Changes digests or the data limit for the PDUs not yet parsed. Called from within an event handler
   * (e.g. after the last Login Request), it applies to the next PDU of the same chunk already.
   */
  configure(opts: FramerOptions): void {
    if (opts.digests) this.digests = opts.digests;
    if (opts.maxDataSegmentBytes !== undefined) this.maxDataSegmentBytes = Math.min(opts.maxDataSegmentBytes, ISCSI_MAX_DATA_SEGMENT_BYTES);
  }

  /** Bytes held for a PDU not yet complete (never more than one PDU). */
  get bufferedBytes(): number {
    return this.held;
  }

  get failed(): boolean {
    return this.dead;
  }

  /** Feeds one chunk; calls `emit` for every event, in stream order. After a fatal event input is ignored. */
  push(chunk: Uint8Array, emit: (e: FramerEvent) => void): void {
    let p = 0;
    while (!this.dead && p < chunk.length) {
      if (this.held === 0) {
        // Fast path: whole PDUs straight from the chunk, no copy.
        const left = chunk.length - p;
        if (left >= BHS_BYTES) {
          const total = pduTotalBytes(chunk, p, this.digests, this.maxDataSegmentBytes);
          if (!total.ok) return this.fatal(total.error, emit);
          if (left >= total.value) {
            this.deliver(chunk, p, total.value, emit);
            p += total.value;
            continue;
          }
          this.want = total.value;
          this.partial = new Uint8Array(total.value);
        }
      }
      // Slow path: copy into the PDU being assembled (one copy of each byte).
      const need = (this.want || BHS_BYTES) - this.held;
      const take = Math.min(need, chunk.length - p);
      this.partial.set(chunk.subarray(p, p + take), this.held);
      this.held += take;
      p += take;
      if (take < need) return;
      if (this.want === 0) {
        const total = pduTotalBytes(this.partial, 0, this.digests, this.maxDataSegmentBytes);
        if (!total.ok) return this.fatal(total.error, emit);
        this.want = total.value;
        if (this.want > BHS_BYTES) {
          const whole = new Uint8Array(this.want);
          whole.set(this.partial);
          this.partial = whole;
          continue;
        }
      }
      const pdu = this.partial;
      this.reset();
      this.deliver(pdu, 0, pdu.length, emit);
    }
  }

  private reset(): void {
    this.partial = new Uint8Array(BHS_BYTES);
    this.held = 0;
    this.want = 0;
  }

  private deliver(buf: Uint8Array, offset: number, bytes: number, emit: (e: FramerEvent) => void): void {
    const r = parsePdu(buf, offset, this.digests, this.maxDataSegmentBytes);
    if (r.ok) {
      emit({ type: 'pdu', pdu: r.value.pdu, bytes });
      return;
    }
    if (FATAL_PDU_ERRORS.has(r.error.code)) return this.fatal(r.error, emit);
    emit({ type: 'bad-pdu', error: r.error, header: Uint8Array.prototype.slice.call(buf, offset, offset + BHS_BYTES) });
  }

  private fatal(error: VfabError, emit: (e: FramerEvent) => void): void {
    this.dead = true;
    this.reset();
    emit({ type: 'fatal', error });
  }
}
