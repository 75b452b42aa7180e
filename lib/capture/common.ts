// Shared pieces of the capture writers and readers: limits, the error class, timestamp splitting.
// Covers what both the libpcap format and pcapng need. Leaves out I/O (writers hand chunks to a sink the
// daemon provides). Follows the libpcap file format (draft-ietf-opsawg-pcap) and pcapng
// (draft-ietf-opsawg-pcapng).

import { VfabError } from '../errors.js';

/** LINKTYPE_ETHERNET: frames start at the destination MAC, no FCS. */
export const LINKTYPE_ETHERNET = 1;
/** Snapshot length written in headers: the largest frame vfab carries fits well inside it. */
export const CAPTURE_SNAPLEN_BYTES = 262_144;
/** Readers refuse a single record larger than this before allocating anything for it. */
export const MAX_CAPTURE_RECORD_BYTES = 1_048_576;
/** A sink receives each chunk of file bytes in order; the daemon writes it to a file or a stream. */
export type CaptureSink = (chunk: Buffer) => void;

export const NS_PER_SECOND = 1_000_000_000n;

export class CaptureError extends VfabError {
  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
    this.name = 'CaptureError';
  }
}

/** A timestamp in nanoseconds since the Unix epoch, as a bigint (numbers above 2^53 lose precision). */
export function toNs(timestampNs: bigint | number): bigint {
  if (typeof timestampNs === 'bigint') {
    if (timestampNs < 0n) throw new CaptureError('VFAB_CAPTURE_BAD_TIMESTAMP', `negative timestamp ${timestampNs} ns`);
    return timestampNs;
  }
  if (!Number.isFinite(timestampNs) || timestampNs < 0) {
    throw new CaptureError('VFAB_CAPTURE_BAD_TIMESTAMP', `timestamp ${timestampNs} ns is not a finite non-negative number`);
  }
  return BigInt(Math.trunc(timestampNs));
}

/** Bytes of padding that bring `length` to a multiple of 4. */
export function pad4(length: number): number {
  return (4 - (length & 3)) & 3;
}
