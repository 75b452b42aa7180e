// Port-channel load-balancing hash: which member of a static channel carries a frame. Reads addresses
// straight from the frame bytes (no parsing, no allocation). The hash is ours, in the spirit of IOS
// `port-channel load-balance`:
//   - the chosen fields are XORed together as 32-bit words (a MAC contributes its low 32 bits XOR its
//     high 16 bits), then folded to 8 bits: h ^= h >>> 16; h ^= h >>> 8; bucket = h & 0xff;
//   - member = bucket mod (number of members whose link is up), members taken in config order.
// For src-dst-ip with addresses that differ only in the last octet this equals
// (lastOctet(src) XOR lastOctet(dst)) mod n, the vSphere IP-hash formula of spec §3.4, so with as many
// members as the host has uplinks both ends pick the same link index. IP modes use IPv4 only: non-IPv4
// frames (ARP, IPv6, ...) and truncated IPv4 headers fall back to the matching MAC mode (src-dst-ip to
// src-dst-mac, src-ip to src-mac, dst-ip to dst-mac). Leaves out L4 ports and IPv6 addresses.

import { ETHERTYPE_IPV4, ETHERTYPE_VLAN } from '../wire/ethernet.js';
import type { LoadBalance } from './config.js';

export const LB_SRC_DST_IP = 0;
export const LB_SRC_DST_MAC = 1;
export const LB_SRC_MAC = 2;
export const LB_DST_MAC = 3;
export const LB_SRC_IP = 4;
export const LB_DST_IP = 5;

const LB_CODES: Record<LoadBalance, number> = {
  'src-dst-ip': LB_SRC_DST_IP,
  'src-dst-mac': LB_SRC_DST_MAC,
  'src-mac': LB_SRC_MAC,
  'dst-mac': LB_DST_MAC,
  'src-ip': LB_SRC_IP,
  'dst-ip': LB_DST_IP,
};

export function loadBalanceCode(mode: LoadBalance): number {
  return LB_CODES[mode];
}

/** 32-bit word of a MAC at `offset`: low 32 bits XOR high 16 bits. */
function macWord(frame: Uint8Array, offset: number): number {
  const hi = (frame[offset]! << 8) | frame[offset + 1]!;
  const lo = ((frame[offset + 2]! << 24) | (frame[offset + 3]! << 16) | (frame[offset + 4]! << 8) | frame[offset + 5]!) >>> 0;
  return (lo ^ hi) >>> 0;
}

function u32(frame: Uint8Array, offset: number): number {
  return ((frame[offset]! << 24) | (frame[offset + 1]! << 16) | (frame[offset + 2]! << 8) | frame[offset + 3]!) >>> 0;
}

function fold8(h: number): number {
  h ^= h >>> 16;
  h ^= h >>> 8;
  return h & 0xff;
}

/**
 * Offset of an IPv4 header whose addresses are readable, or -1 (non-IPv4 or truncated). Handles one
 * 802.1Q tag. The frame must be at least 14 bytes long.
 */
export function ipv4Offset(frame: Uint8Array): number {
  let typeAt = 12;
  let type = (frame[12]! << 8) | frame[13]!;
  if (type === ETHERTYPE_VLAN && frame.length >= 18) {
    typeAt = 16;
    type = (frame[16]! << 8) | frame[17]!;
  }
  if (type !== ETHERTYPE_IPV4) return -1;
  const ip = typeAt + 2;
  if (frame.length < ip + 20 || frame[ip]! >>> 4 !== 4) return -1;
  return ip;
}

/** The 8-bit bucket (0..255) of `frame` under load-balance mode `lb` (an LB_* code). */
export function channelHash(frame: Uint8Array, lb: number): number {
  if (lb === LB_SRC_DST_IP || lb === LB_SRC_IP || lb === LB_DST_IP) {
    const ip = ipv4Offset(frame);
    if (ip >= 0) {
      if (lb === LB_SRC_IP) return fold8(u32(frame, ip + 12));
      if (lb === LB_DST_IP) return fold8(u32(frame, ip + 16));
      return fold8((u32(frame, ip + 12) ^ u32(frame, ip + 16)) >>> 0);
    }
    lb = lb === LB_SRC_IP ? LB_SRC_MAC : lb === LB_DST_IP ? LB_DST_MAC : LB_SRC_DST_MAC;
  }
  if (lb === LB_SRC_MAC) return fold8(macWord(frame, 6));
  if (lb === LB_DST_MAC) return fold8(macWord(frame, 0));
  return fold8((macWord(frame, 0) ^ macWord(frame, 6)) >>> 0);
}
