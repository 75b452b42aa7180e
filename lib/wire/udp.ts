// UDP (RFC 768) over IPv4. Covers a zero-copy view, a zero-allocation validator for hot paths
// (`checkUdp`), a value type with parse (length field vs the IP payload, checksum with the IPv4
// pseudo-header; a received checksum of 0 means "none" and is accepted) and emit (the checksum is always
// computed; a computed 0 goes out as 0xffff). Bytes after the UDP length inside the IP payload are
// ignored. Leaves out UDP over IPv6 (where a zero checksum is illegal) and UDP-Lite.

import { type Result, ok, err } from '../errors.js';
import { WireError } from './ethernet.js';
import { internetChecksum, ipv4PseudoHeaderSum } from './checksum.js';
import { IPPROTO_UDP } from './ipv4.js';

export const UDP_SRC_PORT_OFFSET = 0;
export const UDP_DST_PORT_OFFSET = 2;
export const UDP_LENGTH_OFFSET = 4;
export const UDP_CHECKSUM_OFFSET = 6;
export const UDP_HEADER_BYTES = 8;
/** Largest UDP datagram the 16-bit length can describe. */
export const UDP_MAX_DATAGRAM_BYTES = 65535;

export interface UdpDatagram {
  srcPort: number;
  dstPort: number;
  payload: Uint8Array;
  /** Checksum as received (0 = sender sent none). Ignored by emit, which computes it. */
  checksum?: number;
}

// ---------------------------------------------------------------- hot-path view (no allocation)

export function udpSrcPort(buf: Uint8Array, offset: number): number {
  return (buf[offset]! << 8) | buf[offset + 1]!;
}
export function udpDstPort(buf: Uint8Array, offset: number): number {
  return (buf[offset + 2]! << 8) | buf[offset + 3]!;
}
export function udpLength(buf: Uint8Array, offset: number): number {
  return (buf[offset + 4]! << 8) | buf[offset + 5]!;
}
export function udpChecksumField(buf: Uint8Array, offset: number): number {
  return (buf[offset + 6]! << 8) | buf[offset + 7]!;
}

export enum UdpCheck {
  Ok = 0,
  Truncated = 1,
  BadLength = 2,
  BadChecksum = 3,
}

/**
 * Validates the UDP datagram at `offset` inside an IP payload of `ipPayloadBytes`: header present, length
 * field in 8..ipPayloadBytes, checksum (unless 0) over the pseudo-header and `length` bytes. No allocation.
 */
export function checkUdp(buf: Uint8Array, offset: number, ipPayloadBytes: number, srcIp: number, dstIp: number): UdpCheck {
  if (ipPayloadBytes < UDP_HEADER_BYTES || offset + ipPayloadBytes > buf.length) return UdpCheck.Truncated;
  const len = udpLength(buf, offset);
  if (len < UDP_HEADER_BYTES || len > ipPayloadBytes) return UdpCheck.BadLength;
  if (udpChecksumField(buf, offset) !== 0) {
    if (internetChecksum(buf, offset, len, ipv4PseudoHeaderSum(srcIp, dstIp, IPPROTO_UDP, len)) !== 0) return UdpCheck.BadChecksum;
  }
  return UdpCheck.Ok;
}

export function udpCheckError(check: UdpCheck): WireError {
  switch (check) {
    case UdpCheck.Truncated: return new WireError('VFAB_WIRE_TRUNCATED', 'UDP datagram is shorter than its 8-byte header', { protocol: 'udp' });
    case UdpCheck.BadLength: return new WireError('VFAB_WIRE_UDP_BAD_LENGTH', 'UDP length field is below 8 or beyond the IP payload', { protocol: 'udp' });
    case UdpCheck.BadChecksum: return new WireError('VFAB_WIRE_BAD_CHECKSUM', 'UDP checksum does not verify', { protocol: 'udp' });
    default: return new WireError('VFAB_WIRE_MALFORMED', 'malformed UDP datagram', { protocol: 'udp' });
  }
}

// ---------------------------------------------------------------- value type

/** Parses a datagram from an IPv4 payload (untrusted bytes); the payload is copied. */
export function parseUdp(
  buf: Uint8Array, offset: number, ipPayloadBytes: number, srcIp: number, dstIp: number,
): Result<UdpDatagram, WireError> {
  const check = checkUdp(buf, offset, ipPayloadBytes, srcIp, dstIp);
  if (check !== UdpCheck.Ok) return err(udpCheckError(check));
  const len = udpLength(buf, offset);
  return ok({
    srcPort: udpSrcPort(buf, offset),
    dstPort: udpDstPort(buf, offset),
    checksum: udpChecksumField(buf, offset),
    payload: Uint8Array.from(buf.subarray(offset + UDP_HEADER_BYTES, offset + len)),
  });
}

/**
 * Computes and stores the checksum of the `lengthBytes` datagram already written at `offset` (0 sent as
 * 0xffff, RFC 768). Use after changing header or payload bytes in place.
 */
export function fillUdpChecksum(buf: Uint8Array, offset: number, lengthBytes: number, srcIp: number, dstIp: number): void {
  buf[offset + 6] = 0;
  buf[offset + 7] = 0;
  let sum = internetChecksum(buf, offset, lengthBytes, ipv4PseudoHeaderSum(srcIp, dstIp, IPPROTO_UDP, lengthBytes));
  if (sum === 0) sum = 0xffff;
  buf[offset + 6] = sum >>> 8;
  buf[offset + 7] = sum & 0xff;
}

/**
 * Writes the datagram at `offset` (header, payload, checksum computed with the pseudo-header of
 * srcIp/dstIp); returns the offset after it. Throws VFAB_WIRE_OVERSIZE if it cannot fit 16-bit length.
 */
export function emitUdp(dgram: UdpDatagram, srcIp: number, dstIp: number, buf: Uint8Array, offset = 0): number {
  const len = UDP_HEADER_BYTES + dgram.payload.length;
  if (len > UDP_MAX_DATAGRAM_BYTES) {
    throw new WireError('VFAB_WIRE_OVERSIZE', `UDP datagram of ${len} bytes exceeds ${UDP_MAX_DATAGRAM_BYTES}`);
  }
  buf[offset] = (dgram.srcPort >>> 8) & 0xff;
  buf[offset + 1] = dgram.srcPort & 0xff;
  buf[offset + 2] = (dgram.dstPort >>> 8) & 0xff;
  buf[offset + 3] = dgram.dstPort & 0xff;
  buf[offset + 4] = len >>> 8;
  buf[offset + 5] = len & 0xff;
  buf.set(dgram.payload, offset + UDP_HEADER_BYTES);
  fillUdpChecksum(buf, offset, len, srcIp, dstIp);
  return offset + len;
}
