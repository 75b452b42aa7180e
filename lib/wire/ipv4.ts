// IPv4 header codec (RFC 791) and address helpers. Covers a zero-copy view with named offsets, a
// zero-allocation validator for hot paths (`checkIpv4`), a value type with parse (validates version, IHL,
// total length against the bytes present, header checksum) and emit (computes the checksum), options kept
// byte for byte, flags and fragment offset exposed. Ethernet padding after the packet is ignored (total
// length rules). Leaves out reassembly (fragments are reported, not joined), option interpretation and
// IPv6. Addresses are 32-bit unsigned numbers on the hot path; ipaddr.js converts text at the edges.

import { createRequire } from 'node:module';
import { VfabError, type Result, ok, err } from '../errors.js';
import { WireError } from './ethernet.js';
import { internetChecksum } from './checksum.js';

// ipaddr.js is CommonJS: required, not imported, so that no process starts Node's WebAssembly export
// scanner for it (about 6 MiB of resident memory; see daemons/common/ws.ts).
const ipaddr = createRequire(import.meta.url)('ipaddr.js') as typeof import('ipaddr.js');

export const IPV4_VERSION_IHL_OFFSET = 0;
export const IPV4_TOS_OFFSET = 1;
export const IPV4_TOTAL_LENGTH_OFFSET = 2;
export const IPV4_ID_OFFSET = 4;
export const IPV4_FLAGS_FRAG_OFFSET = 6;
export const IPV4_TTL_OFFSET = 8;
export const IPV4_PROTOCOL_OFFSET = 9;
export const IPV4_CHECKSUM_OFFSET = 10;
export const IPV4_SRC_OFFSET = 12;
export const IPV4_DST_OFFSET = 16;
export const IPV4_OPTIONS_OFFSET = 20;
export const IPV4_MIN_HEADER_BYTES = 20;
export const IPV4_MAX_HEADER_BYTES = 60;
/** Largest IPv4 packet the 16-bit total length can describe. */
export const IPV4_MAX_PACKET_BYTES = 65535;
export const IPV4_DEFAULT_TTL = 64;

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;

export const IPV4_FLAG_DF = 0x4000;
export const IPV4_FLAG_MF = 0x2000;
const FRAG_OFFSET_MASK = 0x1fff;

export const IPV4_BROADCAST = 0xffffffff;
export const IPV4_ANY = 0;

// ---------------------------------------------------------------- addresses

export function readIpv4(buf: Uint8Array, offset: number): number {
  return ((buf[offset]! << 24) | (buf[offset + 1]! << 16) | (buf[offset + 2]! << 8) | buf[offset + 3]!) >>> 0;
}

export function writeIpv4(buf: Uint8Array, offset: number, addr: number): void {
  buf[offset] = addr >>> 24;
  buf[offset + 1] = (addr >>> 16) & 0xff;
  buf[offset + 2] = (addr >>> 8) & 0xff;
  buf[offset + 3] = addr & 0xff;
}

/** Parses dotted-quad text ('10.0.0.1', strict four-part decimal) into a 32-bit number; throws VFAB_BAD_IPV4. */
export function parseIpv4Address(text: string): number {
  const t = text.trim();
  if (!ipaddr.IPv4.isValidFourPartDecimal(t)) {
    throw new VfabError('VFAB_BAD_IPV4', `not an IPv4 address: ${JSON.stringify(text)} (expected e.g. 10.0.0.1)`);
  }
  const b = ipaddr.IPv4.parse(t).toByteArray();
  return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
}

export function ipv4ToString(addr: number): string {
  return ipaddr.fromByteArray([addr >>> 24, (addr >>> 16) & 0xff, (addr >>> 8) & 0xff, addr & 0xff]).toString();
}

/** Netmask of a prefix length 0..32 as a 32-bit number; throws VFAB_BAD_IPV4 outside that range. */
export function prefixMask(prefixLength: number): number {
  if (!Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > 32) {
    throw new VfabError('VFAB_BAD_IPV4', `IPv4 prefix length ${prefixLength} is outside 0..32`);
  }
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

export function sameSubnet(a: number, b: number, mask: number): boolean {
  return ((a ^ b) & mask) === 0;
}

// ---------------------------------------------------------------- hot-path view (no allocation)

export function ipv4HeaderBytes(buf: Uint8Array, offset: number): number {
  return (buf[offset]! & 0x0f) * 4;
}
export function ipv4TotalLength(buf: Uint8Array, offset: number): number {
  return (buf[offset + 2]! << 8) | buf[offset + 3]!;
}
export function ipv4Protocol(buf: Uint8Array, offset: number): number {
  return buf[offset + IPV4_PROTOCOL_OFFSET]!;
}
export function ipv4Ttl(buf: Uint8Array, offset: number): number {
  return buf[offset + IPV4_TTL_OFFSET]!;
}
export function ipv4Src(buf: Uint8Array, offset: number): number {
  return readIpv4(buf, offset + IPV4_SRC_OFFSET);
}
export function ipv4Dst(buf: Uint8Array, offset: number): number {
  return readIpv4(buf, offset + IPV4_DST_OFFSET);
}
/** True for any fragment: more-fragments set or a non-zero fragment offset. */
export function ipv4IsFragment(buf: Uint8Array, offset: number): boolean {
  const ff = (buf[offset + 6]! << 8) | buf[offset + 7]!;
  return (ff & (IPV4_FLAG_MF | FRAG_OFFSET_MASK)) !== 0;
}

/** Outcome of `checkIpv4`: 0 is valid; the others name what is wrong (no allocation on the hot path). */
export enum Ipv4Check {
  Ok = 0,
  Truncated = 1,
  BadVersion = 2,
  BadHeaderLength = 3,
  BadTotalLength = 4,
  BadChecksum = 5,
}

/**
 * Validates the IPv4 header at `offset` in `buf`, whose bytes end at `end` (exclusive): version 4,
 * IHL >= 5 and inside the bytes, total length >= IHL and <= the bytes present (padding after it is
 * allowed), header checksum. Allocates nothing.
 */
export function checkIpv4(buf: Uint8Array, offset: number, end: number = buf.length): Ipv4Check {
  const avail = end - offset;
  if (avail < IPV4_MIN_HEADER_BYTES) return Ipv4Check.Truncated;
  const vihl = buf[offset]!;
  if (vihl >>> 4 !== 4) return Ipv4Check.BadVersion;
  const hlen = (vihl & 0x0f) * 4;
  if (hlen < IPV4_MIN_HEADER_BYTES) return Ipv4Check.BadHeaderLength;
  if (hlen > avail) return Ipv4Check.Truncated;
  const total = ipv4TotalLength(buf, offset);
  if (total < hlen) return Ipv4Check.BadTotalLength;
  if (total > avail) return Ipv4Check.Truncated;
  if (internetChecksum(buf, offset, hlen) !== 0) return Ipv4Check.BadChecksum;
  return Ipv4Check.Ok;
}

const CHECK_ERRORS: Record<number, [string, string]> = {
  [Ipv4Check.Truncated]: ['VFAB_WIRE_TRUNCATED', 'IPv4 packet is shorter than its header or total length'],
  [Ipv4Check.BadVersion]: ['VFAB_WIRE_IPV4_BAD_VERSION', 'IP version is not 4'],
  [Ipv4Check.BadHeaderLength]: ['VFAB_WIRE_IPV4_BAD_HEADER_LEN', 'IPv4 header length (IHL) is below 5 words'],
  [Ipv4Check.BadTotalLength]: ['VFAB_WIRE_IPV4_BAD_TOTAL_LEN', 'IPv4 total length is smaller than its header'],
  [Ipv4Check.BadChecksum]: ['VFAB_WIRE_BAD_CHECKSUM', 'IPv4 header checksum does not verify'],
};

/** The typed error for a failed `checkIpv4` outcome. */
export function ipv4CheckError(check: Ipv4Check): WireError {
  const [code, message] = CHECK_ERRORS[check] ?? ['VFAB_WIRE_MALFORMED', 'malformed IPv4 packet'];
  return new WireError(code, message, { protocol: 'ipv4' });
}

// ---------------------------------------------------------------- value type

export interface Ipv4Header {
  /** DSCP (6 bits) and ECN (2 bits) as the one TOS byte. */
  tos: number;
  /** Header + payload bytes. On emit, the caller sets it. */
  totalLength: number;
  identification: number;
  dontFragment: boolean;
  moreFragments: boolean;
  /** Fragment offset in 8-byte units, as on the wire. */
  fragmentOffset: number;
  ttl: number;
  protocol: number;
  src: number;
  dst: number;
  /** Option bytes, kept unchanged (length a multiple of 4, at most 40). Empty when none. */
  options: Uint8Array;
  /** Checksum as received (informational on parse; recomputed on emit). */
  checksum?: number;
}

export interface ParsedIpv4 {
  header: Ipv4Header;
  headerBytes: number;
  /** Offset of the first payload byte in the parsed buffer. */
  payloadOffset: number;
  payloadBytes: number;
  /** More-fragments set or fragment offset non-zero: this vfab does not reassemble. */
  isFragment: boolean;
}

/** Parses an IPv4 header from untrusted bytes (`offset`..`end`); the options are copied. */
export function parseIpv4(buf: Uint8Array, offset = 0, end: number = buf.length): Result<ParsedIpv4, WireError> {
  const check = checkIpv4(buf, offset, end);
  if (check !== Ipv4Check.Ok) return err(ipv4CheckError(check));
  const headerBytes = ipv4HeaderBytes(buf, offset);
  const totalLength = ipv4TotalLength(buf, offset);
  const ff = (buf[offset + 6]! << 8) | buf[offset + 7]!;
  const header: Ipv4Header = {
    tos: buf[offset + 1]!,
    totalLength,
    identification: (buf[offset + 4]! << 8) | buf[offset + 5]!,
    dontFragment: (ff & IPV4_FLAG_DF) !== 0,
    moreFragments: (ff & IPV4_FLAG_MF) !== 0,
    fragmentOffset: ff & FRAG_OFFSET_MASK,
    ttl: buf[offset + 8]!,
    protocol: buf[offset + 9]!,
    checksum: (buf[offset + 10]! << 8) | buf[offset + 11]!,
    src: readIpv4(buf, offset + 12),
    dst: readIpv4(buf, offset + 16),
    options: Uint8Array.from(buf.subarray(offset + IPV4_MIN_HEADER_BYTES, offset + headerBytes)),
  };
  return ok({
    header,
    headerBytes,
    payloadOffset: offset + headerBytes,
    payloadBytes: totalLength - headerBytes,
    isFragment: header.moreFragments || header.fragmentOffset !== 0,
  });
}

/** Header bytes `emitIpv4` writes for `header`. */
export function ipv4HeaderBytesOf(header: Ipv4Header): number {
  return IPV4_MIN_HEADER_BYTES + header.options.length;
}

/**
 * Writes the header (options included) at `offset` and computes its checksum; returns the payload offset.
 * Throws VFAB_WIRE_IPV4_BAD_OPTIONS if the options are not a multiple of 4 bytes or exceed 40 (a caller
 * bug, not untrusted input).
 */
export function emitIpv4(header: Ipv4Header, buf: Uint8Array, offset = 0): number {
  const optBytes = header.options.length;
  if (optBytes % 4 !== 0 || optBytes > IPV4_MAX_HEADER_BYTES - IPV4_MIN_HEADER_BYTES) {
    throw new WireError('VFAB_WIRE_IPV4_BAD_OPTIONS', `IPv4 options of ${optBytes} bytes: must be a multiple of 4, at most 40`);
  }
  const hlen = IPV4_MIN_HEADER_BYTES + optBytes;
  buf[offset] = 0x40 | (hlen >>> 2);
  buf[offset + 1] = header.tos & 0xff;
  buf[offset + 2] = (header.totalLength >>> 8) & 0xff;
  buf[offset + 3] = header.totalLength & 0xff;
  buf[offset + 4] = (header.identification >>> 8) & 0xff;
  buf[offset + 5] = header.identification & 0xff;
  const ff = (header.dontFragment ? IPV4_FLAG_DF : 0) | (header.moreFragments ? IPV4_FLAG_MF : 0) | (header.fragmentOffset & FRAG_OFFSET_MASK);
  buf[offset + 6] = ff >>> 8;
  buf[offset + 7] = ff & 0xff;
  buf[offset + 8] = header.ttl & 0xff;
  buf[offset + 9] = header.protocol & 0xff;
  buf[offset + 10] = 0;
  buf[offset + 11] = 0;
  writeIpv4(buf, offset + 12, header.src);
  writeIpv4(buf, offset + 16, header.dst);
  buf.set(header.options, offset + IPV4_MIN_HEADER_BYTES);
  const sum = internetChecksum(buf, offset, hlen);
  buf[offset + 10] = sum >>> 8;
  buf[offset + 11] = sum & 0xff;
  return offset + hlen;
}

/**
 * Hot-path emit of an option-less header with DF clear and no fragmentation (what the endpoint sends).
 * Returns the payload offset.
 */
export function emitIpv4Simple(
  buf: Uint8Array, offset: number, src: number, dst: number, protocol: number, payloadBytes: number, identification: number, ttl = IPV4_DEFAULT_TTL,
): number {
  const total = IPV4_MIN_HEADER_BYTES + payloadBytes;
  buf[offset] = 0x45;
  buf[offset + 1] = 0;
  buf[offset + 2] = total >>> 8;
  buf[offset + 3] = total & 0xff;
  buf[offset + 4] = (identification >>> 8) & 0xff;
  buf[offset + 5] = identification & 0xff;
  buf[offset + 6] = 0;
  buf[offset + 7] = 0;
  buf[offset + 8] = ttl;
  buf[offset + 9] = protocol;
  buf[offset + 10] = 0;
  buf[offset + 11] = 0;
  writeIpv4(buf, offset + 12, src);
  writeIpv4(buf, offset + 16, dst);
  const sum = internetChecksum(buf, offset, IPV4_MIN_HEADER_BYTES);
  buf[offset + 10] = sum >>> 8;
  buf[offset + 11] = sum & 0xff;
  return offset + IPV4_MIN_HEADER_BYTES;
}
