// ARP (RFC 826) for Ethernet/IPv4 and RARP (RFC 903, EtherType 0x8035) in the form ESXi sends on
// "notify switches" (spec §3.10, §3.11: op 3, sha = tha = port MAC, spa = tpa = 0.0.0.0, broadcast,
// padded to 60 bytes, optional 802.1Q tag). Covers a zero-copy view, a value type with parse/emit and
// frame builders (request, reply, gratuitous ARP, RARP announce). Unknown opcodes, hardware and protocol
// types survive parsing (not an error); only 6-byte hardware and 4-byte protocol addresses are accepted
// (other lengths are a typed error). Leaves out InARP and ARP over non-Ethernet media.

import { VfabError, type Result, ok, err } from '../errors.js';
import { type Mac, BROADCAST_MAC, ZERO_MAC, readMac, writeMac } from './mac.js';
import {
  WireError, ETH_HEADER_BYTES, VLAN_TAG_BYTES, MIN_FRAME_BYTES, ETHERTYPE_ARP, ETHERTYPE_RARP, ETHERTYPE_IPV4,
  ETHERTYPE_VLAN, VLAN_MIN, VLAN_MAX, emitEthernet,
} from './ethernet.js';
import { readIpv4, writeIpv4, parseIpv4Address } from './ipv4.js';

export const ARP_HTYPE_OFFSET = 0;
export const ARP_PTYPE_OFFSET = 2;
export const ARP_HLEN_OFFSET = 4;
export const ARP_PLEN_OFFSET = 5;
export const ARP_OP_OFFSET = 6;
export const ARP_SHA_OFFSET = 8;
export const ARP_SPA_OFFSET = 14;
export const ARP_THA_OFFSET = 18;
export const ARP_TPA_OFFSET = 24;
/** Ethernet/IPv4 ARP and RARP packets are 28 bytes. */
export const ARP_PACKET_BYTES = 28;

export const ARP_HTYPE_ETHERNET = 1;
export const ARP_PTYPE_IPV4 = ETHERTYPE_IPV4;
export const ARP_OP_REQUEST = 1;
export const ARP_OP_REPLY = 2;
/** RFC 903 "request reverse": what ESXi sends to announce a MAC (spec §3.11). */
export const RARP_OP_REQUEST_REVERSE = 3;
export const RARP_OP_REPLY_REVERSE = 4;

export interface ArpPacket {
  htype: number;
  ptype: number;
  op: number;
  /** Sender hardware address. */
  sha: Mac;
  /** Sender protocol address (IPv4 as a 32-bit number). */
  spa: number;
  tha: Mac;
  tpa: number;
}

// ---------------------------------------------------------------- hot-path view (no allocation)

export function arpOp(buf: Uint8Array, offset: number): number {
  return (buf[offset + ARP_OP_OFFSET]! << 8) | buf[offset + ARP_OP_OFFSET + 1]!;
}
export function arpSha(buf: Uint8Array, offset: number): Mac {
  return readMac(buf, offset + ARP_SHA_OFFSET);
}
export function arpSpa(buf: Uint8Array, offset: number): number {
  return readIpv4(buf, offset + ARP_SPA_OFFSET);
}
export function arpTha(buf: Uint8Array, offset: number): Mac {
  return readMac(buf, offset + ARP_THA_OFFSET);
}
export function arpTpa(buf: Uint8Array, offset: number): number {
  return readIpv4(buf, offset + ARP_TPA_OFFSET);
}
/** True when the packet is Ethernet/IPv4 (htype 1, ptype 0x0800, hlen 6, plen 4) and fully present. */
export function arpIsEthernetIpv4(buf: Uint8Array, offset: number, end: number = buf.length): boolean {
  return (
    end - offset >= ARP_PACKET_BYTES &&
    buf[offset] === 0 && buf[offset + 1] === ARP_HTYPE_ETHERNET &&
    buf[offset + 2] === 0x08 && buf[offset + 3] === 0x00 &&
    buf[offset + 4] === 6 && buf[offset + 5] === 4
  );
}

// ---------------------------------------------------------------- value type

/**
 * Parses an ARP/RARP packet (the Ethernet payload) from untrusted bytes. Any htype/ptype/op is kept;
 * hlen must be 6 and plen 4 (VFAB_WIRE_ARP_BAD_ADDR_LEN), and the 28 bytes must be present
 * (VFAB_WIRE_TRUNCATED). Trailing Ethernet padding is ignored.
 */
export function parseArp(buf: Uint8Array, offset = 0, end: number = buf.length): Result<ArpPacket, WireError> {
  if (end - offset < 8) return err(new WireError('VFAB_WIRE_TRUNCATED', `ARP packet of ${end - offset} bytes is shorter than its fixed 8-byte header`));
  const hlen = buf[offset + ARP_HLEN_OFFSET]!;
  const plen = buf[offset + ARP_PLEN_OFFSET]!;
  if (hlen !== 6 || plen !== 4) {
    return err(new WireError('VFAB_WIRE_ARP_BAD_ADDR_LEN', `ARP with hlen ${hlen} / plen ${plen}: only 6 / 4 (Ethernet MAC / IPv4) is supported`, { hlen, plen }));
  }
  if (end - offset < ARP_PACKET_BYTES) {
    return err(new WireError('VFAB_WIRE_TRUNCATED', `ARP packet of ${end - offset} bytes is shorter than ${ARP_PACKET_BYTES}`));
  }
  return ok({
    htype: (buf[offset]! << 8) | buf[offset + 1]!,
    ptype: (buf[offset + 2]! << 8) | buf[offset + 3]!,
    op: arpOp(buf, offset),
    sha: arpSha(buf, offset),
    spa: arpSpa(buf, offset),
    tha: arpTha(buf, offset),
    tpa: arpTpa(buf, offset),
  });
}

/** Writes the 28-byte packet at `offset`; returns the offset after it. */
export function emitArp(pkt: ArpPacket, buf: Uint8Array, offset = 0): number {
  buf[offset] = (pkt.htype >>> 8) & 0xff;
  buf[offset + 1] = pkt.htype & 0xff;
  buf[offset + 2] = (pkt.ptype >>> 8) & 0xff;
  buf[offset + 3] = pkt.ptype & 0xff;
  buf[offset + 4] = 6;
  buf[offset + 5] = 4;
  buf[offset + 6] = (pkt.op >>> 8) & 0xff;
  buf[offset + 7] = pkt.op & 0xff;
  writeMac(buf, offset + ARP_SHA_OFFSET, pkt.sha);
  writeIpv4(buf, offset + ARP_SPA_OFFSET, pkt.spa);
  writeMac(buf, offset + ARP_THA_OFFSET, pkt.tha);
  writeIpv4(buf, offset + ARP_TPA_OFFSET, pkt.tpa);
  return offset + ARP_PACKET_BYTES;
}

// ---------------------------------------------------------------- frame builders

/** Checks an optional VLAN argument of a builder: 0/undefined = untagged, 1..4094 = C-tag. Throws otherwise. */
export function checkVlanArg(vlanId: number | undefined): number {
  if (vlanId === undefined || vlanId === 0) return 0;
  if (!Number.isInteger(vlanId) || vlanId < VLAN_MIN || vlanId > VLAN_MAX) {
    throw new VfabError('VFAB_WIRE_BAD_VLAN', `VLAN ID ${vlanId} is outside 1..4094 (0 or none = untagged)`);
  }
  return vlanId;
}

/**
 * A whole ARP-family frame: Ethernet header (with a C-tag when `vlanId` is 1..4094), the 28-byte packet,
 * zero padding to MIN_FRAME_BYTES.
 */
export function buildArpFrame(dst: Mac, src: Mac, etherType: number, pkt: ArpPacket, vlanId?: number): Buffer {
  const vid = checkVlanArg(vlanId);
  const headerBytes = ETH_HEADER_BYTES + (vid ? VLAN_TAG_BYTES : 0);
  const frame = Buffer.alloc(Math.max(MIN_FRAME_BYTES, headerBytes + ARP_PACKET_BYTES));
  const at = emitEthernet(
    vid ? { dst, src, tag: { tpid: ETHERTYPE_VLAN, pcp: 0, dei: 0, vid }, etherType } : { dst, src, etherType },
    frame, 0,
  );
  emitArp(pkt, frame, at);
  return frame;
}

function toIpv4(ip: number | string): number {
  return typeof ip === 'string' ? parseIpv4Address(ip) : ip >>> 0;
}

/**
 * The RARP frame ESXi sends for a port (spec §3.11): broadcast, EtherType 0x8035, op 3, sha = tha = mac,
 * spa = tpa = 0.0.0.0, 60 bytes; `vlanId` 1..4094 adds an 802.1Q tag (VST), 0/undefined none.
 */
export function buildRarpAnnounce(mac: Mac, vlanId?: number): Buffer {
  return buildArpFrame(BROADCAST_MAC, mac, ETHERTYPE_RARP, {
    htype: ARP_HTYPE_ETHERNET, ptype: ARP_PTYPE_IPV4, op: RARP_OP_REQUEST_REVERSE, sha: mac, spa: 0, tha: mac, tpa: 0,
  }, vlanId);
}

/** Gratuitous ARP (announcement, RFC 5227 §2.3 form): broadcast request with spa = tpa = ip, tha zero. */
export function buildGratuitousArp(mac: Mac, ipv4: number | string, vlanId?: number): Buffer {
  const ip = toIpv4(ipv4);
  return buildArpFrame(BROADCAST_MAC, mac, ETHERTYPE_ARP, {
    htype: ARP_HTYPE_ETHERNET, ptype: ARP_PTYPE_IPV4, op: ARP_OP_REQUEST, sha: mac, spa: ip, tha: ZERO_MAC, tpa: ip,
  }, vlanId);
}

/** Broadcast "who-has targetIp tell senderIp". */
export function buildArpRequest(senderMac: Mac, senderIp: number | string, targetIp: number | string, vlanId?: number): Buffer {
  return buildArpFrame(BROADCAST_MAC, senderMac, ETHERTYPE_ARP, {
    htype: ARP_HTYPE_ETHERNET, ptype: ARP_PTYPE_IPV4, op: ARP_OP_REQUEST, sha: senderMac, spa: toIpv4(senderIp), tha: ZERO_MAC, tpa: toIpv4(targetIp),
  }, vlanId);
}

/** Unicast "senderIp is-at senderMac" to the requester. */
export function buildArpReply(senderMac: Mac, senderIp: number | string, targetMac: Mac, targetIp: number | string, vlanId?: number): Buffer {
  return buildArpFrame(targetMac, senderMac, ETHERTYPE_ARP, {
    htype: ARP_HTYPE_ETHERNET, ptype: ARP_PTYPE_IPV4, op: ARP_OP_REPLY, sha: senderMac, spa: toIpv4(senderIp), tha: targetMac, tpa: toIpv4(targetIp),
  }, vlanId);
}
