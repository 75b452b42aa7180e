// Ethernet II framing with IEEE 802.1Q tags: one C-tag (TPID 0x8100), and an outer S-tag (0x88a8)
// parsed and kept. Follows IEEE 802.3 / 802.1Q. Frames here never carry the FCS (as in pcap and on
// our links). Covers a zero-copy view for hot paths (named offsets, no allocation), a value type with
// parse (validates untrusted bytes, returns a typed error) and emit, and tag push/pop. Unknown EtherTypes
// are not an error: the payload travels unchanged. Leaves out 802.3 length/LLC framing (treated as an
// EtherType below 0x0600 and carried as is) and more than two stacked tags.

import { VfabError, type Result, ok, err } from '../errors.js';
import { type Mac, readMac, writeMac } from './mac.js';

export const ETH_DST_OFFSET = 0;
export const ETH_SRC_OFFSET = 6;
export const ETH_TYPE_OFFSET = 12;
export const ETH_HEADER_BYTES = 14;
export const VLAN_TAG_BYTES = 4;
/** Shortest frame on the wire without FCS; shorter frames are padded on emit. */
export const MIN_FRAME_BYTES = 60;
/** Largest payload vfab carries: the 9000-byte jumbo MTU of spec §1.13. */
export const MAX_MTU_BYTES = 9000;
/** Largest frame: jumbo payload + header + two tags. Anything larger is dropped where it arrives. */
export const MAX_FRAME_BYTES = MAX_MTU_BYTES + ETH_HEADER_BYTES + 2 * VLAN_TAG_BYTES;

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_RARP = 0x8035;
export const ETHERTYPE_VLAN = 0x8100;
export const ETHERTYPE_QINQ = 0x88a8;
export const ETHERTYPE_IPV6 = 0x86dd;
/** ESXi beacon probing (ESX >= 4.1), spec §3.9. */
export const ETHERTYPE_VMW_BEACON = 0x8922;

export const VLAN_NONE = 0;
export const VLAN_MIN = 1;
export const VLAN_MAX = 4094;
/** Port-group VLAN 4095: virtual guest tagging (spec §2.1). */
export const VLAN_TRUNK_ALL = 4095;

export class WireError extends VfabError {
  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
    this.name = 'WireError';
  }
}

export interface VlanTag {
  tpid: number; // 0x8100 or 0x88a8
  pcp: number; // 0..7
  dei: number; // 0..1
  vid: number; // 0..4095
}

export interface EthernetHeader {
  dst: Mac;
  src: Mac;
  /** Outer service tag (0x88a8), present only on Q-in-Q frames. */
  outerTag?: VlanTag;
  /** Customer tag (0x8100). */
  tag?: VlanTag;
  /** EtherType after any tags (or an 802.3 length, carried as is). */
  etherType: number;
}

export interface ParsedEthernet {
  header: EthernetHeader;
  /** Offset of the first payload byte. */
  payloadOffset: number;
}

// ---------------------------------------------------------------- hot-path view (no allocation)

export function ethDst(frame: Uint8Array): Mac {
  return readMac(frame, ETH_DST_OFFSET);
}
export function ethSrc(frame: Uint8Array): Mac {
  return readMac(frame, ETH_SRC_OFFSET);
}
/** The first TPID/EtherType field (0x8100 means the frame carries a C-tag right after the MACs). */
export function ethOuterType(frame: Uint8Array): number {
  return (frame[ETH_TYPE_OFFSET]! << 8) | frame[ETH_TYPE_OFFSET + 1]!;
}
/** True when the frame carries an 802.1Q C-tag right after the MACs. */
export function ethIsTagged(frame: Uint8Array): boolean {
  return frame.length >= ETH_HEADER_BYTES + VLAN_TAG_BYTES && ethOuterType(frame) === ETHERTYPE_VLAN;
}
/** VID of the first tag (call only when ethIsTagged). */
export function ethVid(frame: Uint8Array): number {
  return ((frame[14]! << 8) | frame[15]!) & 0x0fff;
}
/** EtherType after a single C-tag if any. */
export function ethInnerType(frame: Uint8Array): number {
  return ethIsTagged(frame) ? (frame[16]! << 8) | frame[17]! : ethOuterType(frame);
}

// ---------------------------------------------------------------- value type

function readTag(buf: Uint8Array, offset: number, tpid: number): VlanTag {
  const tci = (buf[offset + 2]! << 8) | buf[offset + 3]!;
  return { tpid, pcp: tci >>> 13, dei: (tci >>> 12) & 1, vid: tci & 0x0fff };
}

/** Parses an Ethernet II header (with up to an S-tag and a C-tag) from untrusted bytes. */
export function parseEthernet(buf: Uint8Array): Result<ParsedEthernet, WireError> {
  if (buf.length < ETH_HEADER_BYTES) {
    return err(new WireError('VFAB_WIRE_TRUNCATED', `Ethernet frame of ${buf.length} bytes is shorter than its ${ETH_HEADER_BYTES}-byte header`));
  }
  if (buf.length > MAX_FRAME_BYTES) {
    return err(new WireError('VFAB_WIRE_OVERSIZE', `Ethernet frame of ${buf.length} bytes exceeds MAX_FRAME_BYTES (${MAX_FRAME_BYTES})`));
  }
  const header: EthernetHeader = { dst: readMac(buf, 0), src: readMac(buf, 6), etherType: 0 };
  let offset = ETH_TYPE_OFFSET;
  let type = (buf[offset]! << 8) | buf[offset + 1]!;
  if (type === ETHERTYPE_QINQ) {
    if (buf.length < offset + VLAN_TAG_BYTES + 2) return err(new WireError('VFAB_WIRE_TRUNCATED', 'frame ends inside its 802.1ad S-tag'));
    header.outerTag = readTag(buf, offset, type);
    offset += VLAN_TAG_BYTES;
    type = (buf[offset]! << 8) | buf[offset + 1]!;
  }
  if (type === ETHERTYPE_VLAN) {
    if (buf.length < offset + VLAN_TAG_BYTES + 2) return err(new WireError('VFAB_WIRE_TRUNCATED', 'frame ends inside its 802.1Q tag'));
    header.tag = readTag(buf, offset, type);
    offset += VLAN_TAG_BYTES;
    type = (buf[offset]! << 8) | buf[offset + 1]!;
  }
  header.etherType = type;
  return ok({ header, payloadOffset: offset + 2 });
}

export function ethernetHeaderBytes(header: EthernetHeader): number {
  return ETH_HEADER_BYTES + (header.outerTag ? VLAN_TAG_BYTES : 0) + (header.tag ? VLAN_TAG_BYTES : 0);
}

function writeTag(buf: Uint8Array, offset: number, tag: VlanTag): void {
  buf[offset] = tag.tpid >>> 8;
  buf[offset + 1] = tag.tpid & 0xff;
  const tci = ((tag.pcp & 7) << 13) | ((tag.dei & 1) << 12) | (tag.vid & 0x0fff);
  buf[offset + 2] = tci >>> 8;
  buf[offset + 3] = tci & 0xff;
}

/** Writes the header at `offset`; returns the offset of the payload. `buf` must have room for it. */
export function emitEthernet(header: EthernetHeader, buf: Uint8Array, offset = 0): number {
  writeMac(buf, offset, header.dst);
  writeMac(buf, offset + 6, header.src);
  let o = offset + 12;
  if (header.outerTag) {
    writeTag(buf, o, header.outerTag);
    o += VLAN_TAG_BYTES;
  }
  if (header.tag) {
    writeTag(buf, o, header.tag);
    o += VLAN_TAG_BYTES;
  }
  buf[o] = header.etherType >>> 8;
  buf[o + 1] = header.etherType & 0xff;
  return o + 2;
}

/** Builds a whole frame: header + payload, zero-padded to MIN_FRAME_BYTES. */
export function buildFrame(header: EthernetHeader, payload: Uint8Array): Buffer {
  const headerBytes = ethernetHeaderBytes(header);
  const frame = Buffer.alloc(Math.max(MIN_FRAME_BYTES, headerBytes + payload.length));
  const at = emitEthernet(header, frame, 0);
  frame.set(payload, at);
  return frame;
}

// ---------------------------------------------------------------- tagging on the hot path

/** A copy of `frame` with an 802.1Q C-tag (TPID 0x8100) inserted after the source MAC. */
export function pushVlanTag(frame: Uint8Array, vid: number, pcp = 0): Buffer {
  const out = Buffer.allocUnsafe(frame.length + VLAN_TAG_BYTES);
  out.set(frame.subarray(0, 12), 0);
  out[12] = 0x81;
  out[13] = 0x00;
  const tci = ((pcp & 7) << 13) | (vid & 0x0fff);
  out[14] = tci >>> 8;
  out[15] = tci & 0xff;
  out.set(frame.subarray(12), 16);
  return out;
}

/** A copy of a tagged frame without its first C-tag (call only when ethIsTagged). Pads back to 60 bytes. */
export function popVlanTag(frame: Uint8Array): Buffer {
  const len = Math.max(MIN_FRAME_BYTES, frame.length - VLAN_TAG_BYTES);
  const out = Buffer.alloc(len);
  out.set(frame.subarray(0, 12), 0);
  out.set(frame.subarray(16), 12);
  return out;
}
