// ICMP for IPv4 (RFC 792). Covers echo request/reply as a value type (id, sequence, payload) and every
// other type parsed generically (type, code, the 4 "rest of header" bytes, body kept unchanged), with the
// checksum verified on parse and computed on emit, plus a zero-copy view. Leaves out interpreting error
// bodies (unreachable, time exceeded...) and ICMP extensions (RFC 4884).

import { type Result, ok, err } from '../errors.js';
import { WireError } from './ethernet.js';
import { internetChecksum } from './checksum.js';

export const ICMP_TYPE_OFFSET = 0;
export const ICMP_CODE_OFFSET = 1;
export const ICMP_CHECKSUM_OFFSET = 2;
export const ICMP_ECHO_ID_OFFSET = 4;
export const ICMP_ECHO_SEQ_OFFSET = 6;
export const ICMP_HEADER_BYTES = 8;

export const ICMP_ECHO_REPLY = 0;
export const ICMP_DEST_UNREACHABLE = 3;
export const ICMP_ECHO_REQUEST = 8;
export const ICMP_TIME_EXCEEDED = 11;

export interface IcmpEcho {
  kind: 'echo';
  /** ICMP_ECHO_REQUEST (8) or ICMP_ECHO_REPLY (0). */
  type: number;
  code: number;
  id: number;
  seq: number;
  payload: Uint8Array;
}

export interface IcmpOther {
  kind: 'other';
  type: number;
  code: number;
  /** Bytes 4..7 of the header as a 32-bit number (meaning depends on the type). */
  restOfHeader: number;
  /** Everything after the 8-byte header, unchanged. */
  body: Uint8Array;
}

export type IcmpMessage = IcmpEcho | IcmpOther;

// ---------------------------------------------------------------- hot-path view (no allocation)

export function icmpType(buf: Uint8Array, offset: number): number {
  return buf[offset]!;
}
export function icmpCode(buf: Uint8Array, offset: number): number {
  return buf[offset + 1]!;
}
export function icmpEchoId(buf: Uint8Array, offset: number): number {
  return (buf[offset + 4]! << 8) | buf[offset + 5]!;
}
export function icmpEchoSeq(buf: Uint8Array, offset: number): number {
  return (buf[offset + 6]! << 8) | buf[offset + 7]!;
}
/** True when the `lengthBytes` ICMP message at `offset` is long enough and its checksum verifies. */
export function icmpVerifies(buf: Uint8Array, offset: number, lengthBytes: number): boolean {
  return lengthBytes >= ICMP_HEADER_BYTES && offset + lengthBytes <= buf.length && internetChecksum(buf, offset, lengthBytes) === 0;
}

// ---------------------------------------------------------------- value type

/**
 * Parses the ICMP message occupying `lengthBytes` bytes at `offset` (the IPv4 payload). The payload/body
 * is copied. Errors: VFAB_WIRE_TRUNCATED, VFAB_WIRE_BAD_CHECKSUM.
 */
export function parseIcmp(buf: Uint8Array, offset = 0, lengthBytes: number = buf.length - offset): Result<IcmpMessage, WireError> {
  if (lengthBytes < ICMP_HEADER_BYTES || offset + lengthBytes > buf.length) {
    return err(new WireError('VFAB_WIRE_TRUNCATED', `ICMP message of ${lengthBytes} bytes (${buf.length - offset} present) is shorter than its header or the bytes present`));
  }
  if (internetChecksum(buf, offset, lengthBytes) !== 0) {
    return err(new WireError('VFAB_WIRE_BAD_CHECKSUM', 'ICMP checksum does not verify', { protocol: 'icmp' }));
  }
  const type = buf[offset]!;
  const code = buf[offset + 1]!;
  const body = Uint8Array.from(buf.subarray(offset + ICMP_HEADER_BYTES, offset + lengthBytes));
  if (type === ICMP_ECHO_REQUEST || type === ICMP_ECHO_REPLY) {
    return ok({ kind: 'echo', type, code, id: icmpEchoId(buf, offset), seq: icmpEchoSeq(buf, offset), payload: body });
  }
  const restOfHeader = ((buf[offset + 4]! << 24) | (buf[offset + 5]! << 16) | (buf[offset + 6]! << 8) | buf[offset + 7]!) >>> 0;
  return ok({ kind: 'other', type, code, restOfHeader, body });
}

/** Bytes `emitIcmp` writes. */
export function icmpBytes(msg: IcmpMessage): number {
  return ICMP_HEADER_BYTES + (msg.kind === 'echo' ? msg.payload.length : msg.body.length);
}

/** Writes the message at `offset` with its checksum; returns the offset after it. */
export function emitIcmp(msg: IcmpMessage, buf: Uint8Array, offset = 0): number {
  buf[offset] = msg.type & 0xff;
  buf[offset + 1] = msg.code & 0xff;
  buf[offset + 2] = 0;
  buf[offset + 3] = 0;
  let body: Uint8Array;
  if (msg.kind === 'echo') {
    buf[offset + 4] = (msg.id >>> 8) & 0xff;
    buf[offset + 5] = msg.id & 0xff;
    buf[offset + 6] = (msg.seq >>> 8) & 0xff;
    buf[offset + 7] = msg.seq & 0xff;
    body = msg.payload;
  } else {
    const r = msg.restOfHeader >>> 0;
    buf[offset + 4] = r >>> 24;
    buf[offset + 5] = (r >>> 16) & 0xff;
    buf[offset + 6] = (r >>> 8) & 0xff;
    buf[offset + 7] = r & 0xff;
    body = msg.body;
  }
  buf.set(body, offset + ICMP_HEADER_BYTES);
  const end = offset + ICMP_HEADER_BYTES + body.length;
  const sum = internetChecksum(buf, offset, end - offset);
  buf[offset + 2] = sum >>> 8;
  buf[offset + 3] = sum & 0xff;
  return end;
}
