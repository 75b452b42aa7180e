// Outgoing PDUs of one connection packed back to back into a slab (RFC 7143 §11 wire format, emitted by
// lib/iscsi/pdu.ts emitPduInto): the portal adds every PDU it sends in a tick and writes the packed run
// once at the end of the tick, so a batch of Data-In and SCSI Response PDUs costs one buffer, one copy of
// each data segment and one socket write instead of a header, a trailer and a Buffer wrapper per PDU.
// A slab is never written again once part of it was handed out: when the next PDU does not fit, a new slab
// is taken and the old one is left to the socket (and then the GC). PDUs larger than a quarter slab get a
// buffer of their own. Pure: no sockets, no timers (the portal decides when to take and write). Leaves out
// reusing slabs (that would need the socket to say when each write has left).

import { emitPduInto, pduWireBytes, type Digests, type Pdu } from './pdu.js';

/** Bytes of one slab (per connection at most one is being filled; 64 connections hold at most 8 MiB). */
export const SEND_SLAB_BYTES = 128 * 1024;
/** PDUs larger than this get a buffer of their own instead of a slab run. */
export const SEND_SLAB_LARGE_PDU_BYTES = SEND_SLAB_BYTES / 4;

export class PduSendBuffer {
  private slab: Buffer | undefined;
  /** Start of the bytes added but not yet taken, and the end of what was written into the slab. */
  private start = 0;
  private used = 0;

  constructor(private readonly slabBytes: number = SEND_SLAB_BYTES) {}

  /** Bytes added and not yet taken. */
  get pendingBytes(): number {
    return this.used - this.start;
  }

  /**
   * Emits `pdu` after the ones already pending. When it cannot join them (slab full, or a large PDU), the
   * pending run and, for a large PDU, the PDU itself are passed to `write` first, in order. The PDU's data
   * is copied before this returns. Throws VFAB_ISCSI_BAD_EMIT as emitPdu does (a bug of the sender).
   */
  add(pdu: Pdu, digests: Digests, write: (bytes: Buffer) => void): void {
    const n = pduWireBytes(pdu, digests);
    if (n > Math.min(SEND_SLAB_LARGE_PDU_BYTES, this.slabBytes / 4)) {
      const own = Buffer.allocUnsafe(n);
      emitPduInto(pdu, digests, own, 0);
      const run = this.take();
      if (run !== undefined) write(run);
      write(own);
      return;
    }
    if (this.slab === undefined || this.slab.length - this.used < n) {
      const run = this.take();
      if (run !== undefined) write(run);
      this.slab = Buffer.allocUnsafe(this.slabBytes);
      this.start = this.used = 0;
    }
    this.used += emitPduInto(pdu, digests, this.slab, this.used);
  }

  /** The PDUs added since the last take, as one buffer (a view of the slab), or undefined if none. */
  take(): Buffer | undefined {
    if (this.used === this.start || this.slab === undefined) return undefined;
    const run = this.slab.subarray(this.start, this.used);
    this.start = this.used;
    // Little room left: let go of this slab now rather than hold it while the connection is idle.
    if (this.slab.length - this.used < SEND_SLAB_LARGE_PDU_BYTES) {
      this.slab = undefined;
      this.start = this.used = 0;
    }
    return run;
  }
}
