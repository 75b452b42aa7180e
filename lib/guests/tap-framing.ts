// What hostd writes to a netns guest's TAP helper (daemons/guests/tap-helper.py; docs/guests.md "How a
// netns guest is attached"): the frames of one event-loop turn gathered into one buffer, each as a 4-byte
// big-endian length and its bytes (the QEMU stream framing, lib/guests/qemu-stream.ts, which also parses
// what the helper sends back), and control records: a prefix with the top bit set and no body (carrier
// down/up). Covers the batch encoder and its bounds. Leaves out the socket and the flush timing (the
// caller flushes once per turn, daemons/guests/tap-attach.ts). Pure code: no I/O.

import { QEMU_STREAM_PREFIX_BYTES } from './qemu-stream.js';

/** Top bit of a length prefix: a control record, not a frame. */
export const TAP_CONTROL_BIT = 0x8000_0000;
export const TAP_CONTROL_CARRIER_DOWN = TAP_CONTROL_BIT + 0;
export const TAP_CONTROL_CARRIER_UP = TAP_CONTROL_BIT + 1;
/**
 * Bytes of one buffer of records to the helper: a fuller one is handed over and a new one begun. 64 KiB
 * stays under the C library's threshold for mapping memory per allocation, and is what the helper reads
 * in one go four times over (it reads 256 KiB).
 */
export const MAX_TAP_BATCH_BYTES = 64 * 1024;
/** Bytes the Ethernet header and two VLAN tags add to a vNIC's MTU: the longest frame either way. */
export const TAP_FRAME_OVERHEAD_BYTES = 14 + 8;

/**
 * Gathers records into one buffer. `add*` return a full batch when the next record would not fit
 * (write it, then go on), else undefined; take() returns what is gathered (undefined when nothing).
 * The buffer handed over is the batcher's no longer: it may be queued by the socket as is.
 */
export class TapBatcher {
  private buf: Buffer | undefined;
  private fill = 0;
  /** Records gathered in the current batch. */
  records = 0;

  constructor(private readonly batchBytes = MAX_TAP_BATCH_BYTES) {}

  get pendingBytes(): number {
    return this.fill;
  }

  /** One frame (a view: it is copied now; its length the caller bounded). A longer one than a batch gets a buffer of its own. */
  addFrame(frame: Uint8Array, full: (batch: Buffer) => void): void {
    const need = QEMU_STREAM_PREFIX_BYTES + frame.length;
    const b = this.room(need, full);
    b.writeUInt32BE(frame.length, this.fill);
    b.set(frame, this.fill + QEMU_STREAM_PREFIX_BYTES);
    this.fill += need;
    this.records++;
  }

  /** A control record (TAP_CONTROL_*). */
  addControl(code: number, full: (batch: Buffer) => void): void {
    const b = this.room(QEMU_STREAM_PREFIX_BYTES, full);
    b.writeUInt32BE(code >>> 0, this.fill);
    this.fill += QEMU_STREAM_PREFIX_BYTES;
    this.records++;
  }

  take(): Buffer | undefined {
    if (this.buf === undefined || this.fill === 0) return undefined;
    const out = this.buf.subarray(0, this.fill);
    this.buf = undefined;
    this.fill = 0;
    this.records = 0;
    return out;
  }

  private room(need: number, full: (batch: Buffer) => void): Buffer {
    if (this.buf !== undefined && this.fill + need > this.buf.length) full(this.take()!);
    this.buf ??= Buffer.allocUnsafe(Math.max(this.batchBytes, need));
    return this.buf;
  }
}
