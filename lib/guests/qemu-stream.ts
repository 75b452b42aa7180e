// QEMU's stream framing (the `-netdev stream` and `-netdev socket,connect=|listen=` backends): each Ethernet
// frame travels as a 4-byte big-endian length, then the frame's bytes (no FCS, no padding). Covers the
// encoder and an incremental parser that takes a TCP byte stream cut and joined anywhere (a length split
// across reads, many frames in one read) and hands over each frame as a view. A length of 0 or above
// MAX_QEMU_STREAM_FRAME_BYTES is a protocol error: the stream cannot be resynchronised, so the caller drops
// the connection. Leaves out the sockets (daemons/guests/qemu-stream-server.ts) and the vnet header (QEMU's
// stream backends carry none). Pure code: no I/O.

/** Bytes of the length prefix. */
export const QEMU_STREAM_PREFIX_BYTES = 4;
/**
 * Largest length prefix taken, bytes: a frame of the largest MTU Linux gives a virtio-net or e1000 device
 * (65 535) plus its Ethernet header and two VLAN tags. Frames above vfab's MAX_FRAME_BYTES but within this
 * bound are well-framed: the link drops and counts them (oversize); anything longer ends the connection.
 */
export const MAX_QEMU_STREAM_FRAME_BYTES = 65_535 + 14 + 8;

/** One frame with its length prefix, in a new buffer (the frame may be a view that does not outlive the call). */
export function encodeQemuStreamFrame(frame: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(QEMU_STREAM_PREFIX_BYTES + frame.length);
  out.writeUInt32BE(frame.length, 0);
  out.set(frame, QEMU_STREAM_PREFIX_BYTES);
  return out;
}

/**
 * Incremental parser of one connection's bytes. Frames that lie whole in one chunk are handed over as views
 * of it (no copy); a frame cut across chunks is gathered in a buffer of its own length (at most
 * MAX_QEMU_STREAM_FRAME_BYTES, so a connection holds at most that much). After an error it takes nothing more.
 */
export class QemuStreamParser {
  /** Why the stream was given up ('' while it is sound). */
  error = '';
  private readonly prefix = new Uint8Array(QEMU_STREAM_PREFIX_BYTES);
  private prefixFill = 0;
  /** The frame being gathered across chunks, and how much of it has arrived. */
  private partial: Uint8Array | undefined;
  private partialFill = 0;

  /** Bytes held for a frame not complete yet (prefix and body). */
  get pendingBytes(): number {
    return this.prefixFill + this.partialFill;
  }

  /**
   * Feeds one chunk; calls onFrame for each complete frame (a view, valid during the call). Returns false on
   * a protocol error (see `error`): the caller closes the connection.
   */
  push(chunk: Uint8Array, onFrame: (frame: Uint8Array) => void): boolean {
    if (this.error !== '') return false;
    let at = 0;
    const end = chunk.length;
    while (at < end) {
      if (this.partial !== undefined) {
        const want = this.partial.length - this.partialFill;
        const take = Math.min(want, end - at);
        this.partial.set(chunk.subarray(at, at + take), this.partialFill);
        this.partialFill += take;
        at += take;
        if (this.partialFill === this.partial.length) {
          const frame = this.partial;
          this.partial = undefined;
          this.partialFill = 0;
          onFrame(frame);
        }
        continue;
      }
      let length: number;
      if (this.prefixFill === 0 && end - at >= QEMU_STREAM_PREFIX_BYTES) {
        length = ((chunk[at]! << 24) >>> 0) + (chunk[at + 1]! << 16) + (chunk[at + 2]! << 8) + chunk[at + 3]!;
        at += QEMU_STREAM_PREFIX_BYTES;
      } else {
        const take = Math.min(QEMU_STREAM_PREFIX_BYTES - this.prefixFill, end - at);
        this.prefix.set(chunk.subarray(at, at + take), this.prefixFill);
        this.prefixFill += take;
        at += take;
        if (this.prefixFill < QEMU_STREAM_PREFIX_BYTES) break;
        this.prefixFill = 0;
        const p = this.prefix;
        length = ((p[0]! << 24) >>> 0) + (p[1]! << 16) + (p[2]! << 8) + p[3]!;
      }
      if (length === 0 || length > MAX_QEMU_STREAM_FRAME_BYTES) {
        this.error = `length prefix ${length} is outside 1..${MAX_QEMU_STREAM_FRAME_BYTES}`;
        return false;
      }
      if (end - at >= length) {
        onFrame(chunk.subarray(at, at + length));
        at += length;
      } else {
        this.partial = new Uint8Array(length);
        this.partialFill = 0;
      }
    }
    return true;
  }
}
