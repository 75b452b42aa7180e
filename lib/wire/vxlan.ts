// VXLAN encapsulation (RFC 7348 §5): the 8-byte header a VXLAN tunnel endpoint puts in front of an inner
// Ethernet frame inside a UDP datagram. Covers the header (flags with the I bit, 24-bit VNI), a hot-path
// view (no allocation), parse (validates untrusted bytes: length, I bit, the inner frame's size) and emit.
// Leaves out the UDP/IP outer headers (the operating system's UDP socket carries the datagram), VXLAN-GPE
// and Group Policy extensions (their flag bits are refused, not interpreted) and multicast flooding.

import { type Result, ok, err } from '../errors.js';
import { WireError, ETH_HEADER_BYTES, MAX_FRAME_BYTES } from './ethernet.js';

export const VXLAN_HEADER_BYTES = 8;
/** IANA's VXLAN UDP port (RFC 7348 §5). */
export const VXLAN_DEFAULT_UDP_PORT = 4789;
export const VXLAN_FLAGS_OFFSET = 0;
export const VXLAN_VNI_OFFSET = 4;
/** The I flag: "the VNI is valid"; the only flag RFC 7348 defines, and it must be set. */
export const VXLAN_FLAG_I = 0x08;
export const VXLAN_VNI_MIN = 0;
/** VNIs are 24 bits. */
export const VXLAN_VNI_MAX = 0xffffff;
/** Largest datagram payload we accept: header + the largest inner frame vfab carries. */
export const VXLAN_MAX_DATAGRAM_BYTES = VXLAN_HEADER_BYTES + MAX_FRAME_BYTES;

export interface VxlanPacket {
  vni: number;
  /** The inner Ethernet frame (no FCS): a view into the datagram, not a copy. */
  frame: Uint8Array;
}

// ---------------------------------------------------------------- hot-path view (no allocation)

/** The VNI of a datagram already known to be at least VXLAN_HEADER_BYTES long. */
export function vxlanVni(d: Uint8Array): number {
  return (d[VXLAN_VNI_OFFSET]! << 16) | (d[VXLAN_VNI_OFFSET + 1]! << 8) | d[VXLAN_VNI_OFFSET + 2]!;
}

/**
 * Why a datagram is not a VXLAN packet vfab takes, or '' when it is one: the checks parse makes, without
 * allocating (the receive path drops and counts by this reason).
 */
export type VxlanCheck = '' | 'short' | 'no-i-flag' | 'reserved-flags' | 'runt-frame' | 'giant-frame';
export function checkVxlan(d: Uint8Array): VxlanCheck {
  if (d.length < VXLAN_HEADER_BYTES) return 'short';
  const flags = d[VXLAN_FLAGS_OFFSET]!;
  if ((flags & VXLAN_FLAG_I) === 0) return 'no-i-flag';
  // RFC 7348: the other flag bits are reserved, "MUST be set to zero on transmission and ignored on
  // receipt". We ignore them too; only GPE's P bit (0x04) changes the payload's meaning, so refuse it.
  if ((flags & 0x04) !== 0) return 'reserved-flags';
  const inner = d.length - VXLAN_HEADER_BYTES;
  if (inner < ETH_HEADER_BYTES) return 'runt-frame';
  if (inner > MAX_FRAME_BYTES) return 'giant-frame';
  return '';
}

// ---------------------------------------------------------------- parse / emit

export function parseVxlan(d: Uint8Array): Result<VxlanPacket, WireError> {
  const why = checkVxlan(d);
  if (why !== '') {
    return err(new WireError('VFAB_WIRE_BAD_VXLAN', `not a VXLAN packet vfab accepts: ${why} (${d.length} bytes)`, { reason: why, bytes: d.length }));
  }
  return ok({ vni: vxlanVni(d), frame: d.subarray(VXLAN_HEADER_BYTES) });
}

/** Writes the 8-byte header for `vni` at `out[offset]`; returns the bytes written. */
export function emitVxlanHeader(vni: number, out: Uint8Array, offset = 0): number {
  if (!Number.isInteger(vni) || vni < VXLAN_VNI_MIN || vni > VXLAN_VNI_MAX) {
    throw new WireError('VFAB_WIRE_BAD_VXLAN', `VNI ${vni} is outside 0..${VXLAN_VNI_MAX}`);
  }
  out[offset] = VXLAN_FLAG_I;
  out[offset + 1] = 0;
  out[offset + 2] = 0;
  out[offset + 3] = 0;
  out[offset + 4] = (vni >>> 16) & 0xff;
  out[offset + 5] = (vni >>> 8) & 0xff;
  out[offset + 6] = vni & 0xff;
  out[offset + 7] = 0;
  return VXLAN_HEADER_BYTES;
}

/** A new datagram: header + a copy of `frame`. */
export function emitVxlan(vni: number, frame: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(VXLAN_HEADER_BYTES + frame.length);
  emitVxlanHeader(vni, out, 0);
  out.set(frame, VXLAN_HEADER_BYTES);
  return out;
}
