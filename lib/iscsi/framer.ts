// Reassembly of iSCSI PDUs from a TCP byte stream (RFC 7143 §11: the BHS says how long the rest is). Covers
// chunks that hold part of a PDU, several PDUs, or both; the limits checked as soon as the BHS is in
// (before anything more is buffered); the header and data digests once negotiated; and the difference
// between a bad PDU the stream survives (unknown opcode, bad field, data digest: the caller answers with a
// Reject, §7.8 and §11.17) and a fatal one (length over the limit, header digest mismatch: nothing after it
// can be trusted, the caller closes the connection, §7.8). Leaves out resynchronisation (no markers, they
// left the protocol with RFC 7143 §13.26) and everything the PDUs mean. Pure: no sockets or timers.
//
// Buffering is bounded: at most one PDU that is not complete yet is held (at most ISCSI_MAX_PDU_BYTES),
// never a backlog; whole PDUs inside a chunk are handed out as views of that chunk without a copy.

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
  /** Bytes of the PDU being assembled (a prefix of it), or none. */
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
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
    return this.pendingBytes;
  }

  get failed(): boolean {
    return this.dead;
  }

  /** Feeds one chunk; calls `emit` for every event, in stream order. After a fatal event input is ignored. */
  push(chunk: Uint8Array, emit: (e: FramerEvent) => void): void {
    let p = 0;
    while (!this.dead && p < chunk.length) {
      if (this.pendingBytes === 0) {
        // Fast path: whole PDUs straight from the chunk.
        const left = chunk.length - p;
        if (left < BHS_BYTES) {
          this.hold(chunk.subarray(p));
          return;
        }
        const total = pduTotalBytes(chunk, p, this.digests, this.maxDataSegmentBytes);
        if (!total.ok) return this.fatal(total.error, emit);
        if (left < total.value) {
          this.want = total.value;
          this.hold(chunk.subarray(p));
          return;
        }
        this.deliver(chunk, p, total.value, emit);
        p += total.value;
        continue;
      }
      // Slow path: complete the held prefix.
      const need = (this.want || BHS_BYTES) - this.pendingBytes;
      const take = Math.min(need, chunk.length - p);
      this.hold(chunk.subarray(p, p + take));
      p += take;
      if (take < need) return;
      const joined = this.joinPending();
      if (this.want === 0) {
        const total = pduTotalBytes(joined, 0, this.digests, this.maxDataSegmentBytes);
        if (!total.ok) return this.fatal(total.error, emit);
        this.want = total.value;
        this.pending = [joined];
        if (this.want > BHS_BYTES) continue;
      }
      this.pending = [];
      this.pendingBytes = 0;
      this.want = 0;
      this.deliver(joined, 0, joined.length, emit);
    }
  }

  private hold(part: Uint8Array): void {
    // A copy: the caller may reuse its chunk buffer once push returns.
    this.pending.push(Uint8Array.prototype.slice.call(part));
    this.pendingBytes += part.length;
  }

  private joinPending(): Uint8Array {
    if (this.pending.length === 1) return this.pending[0];
    const out = new Uint8Array(this.pendingBytes);
    let at = 0;
    for (const part of this.pending) {
      out.set(part, at);
      at += part.length;
    }
    return out;
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
    this.pending = [];
    this.pendingBytes = 0;
    this.want = 0;
    emit({ type: 'fatal', error });
  }
}
