// Notify-switches RARP frames (spec §3.10, §3.11): the frame a daemon sends `count` times when the teaming
// engine returns a `notify` action. Covers emit and parse of the VMware-style RARP: broadcast destination,
// source = port MAC, EtherType 0x8035 (802.1Q-tagged when the port group is VST), op 3 (reverse request),
// sha = tha = port MAC, spa = tpa = 0.0.0.0, padded to 60 bytes. Follows RFC 903 for the layout.
// Leaves out: when to send (lib/teaming/engine.ts decides) and rate limiting (the daemon's job).

import { VfabError, type Result, ok, err } from '../errors.js';
import { type Mac, BROADCAST_MAC, readMac, writeMac } from '../wire/mac.js';
import { buildRarpAnnounce } from '../wire/arp.js';
import { ETHERTYPE_IPV4, ETHERTYPE_RARP, ETHERTYPE_VLAN, MIN_FRAME_BYTES, VLAN_MAX, VLAN_MIN } from '../wire/ethernet.js';

/** RARPs per port per notify event (spec §3.10: "about 5"). */
export const NOTIFY_RARP_COUNT = 5;
/** Upper bound of RARPs per port per event (spec §3.10: "at most 8"). */
export const NOTIFY_RARP_MAX = 8;
/** RARP payload bytes (htype..tpa) for Ethernet/IPv4. */
export const RARP_PAYLOAD_BYTES = 28;
export const RARP_OP_REVERSE_REQUEST = 3;

export interface Rarp {
  mac: Mac;
  /** 1..4094 adds an 802.1Q tag; undefined/0 = untagged. */
  vlanId?: number;
}

/** Writes the RARP frame into `buf` (at least 60 bytes). Returns the length written. */
export function emitRarp(r: Rarp, buf: Uint8Array): number {
  const tagged = r.vlanId !== undefined && r.vlanId !== 0;
  if (tagged && !(Number.isInteger(r.vlanId) && r.vlanId! >= VLAN_MIN && r.vlanId! <= VLAN_MAX)) {
    throw new VfabError('VFAB_TEAMING_BAD_VLAN', `RARP VLAN ${r.vlanId} is not ${VLAN_MIN}..${VLAN_MAX}`);
  }
  // §3.11: padded to the 60-byte minimum before the FCS, tagged or not (as lib/wire/arp.ts buildRarpAnnounce)
  const total = MIN_FRAME_BYTES;
  if (buf.length < total) throw new VfabError('VFAB_TEAMING_BUFFER_SMALL', `RARP needs ${total} bytes, buffer has ${buf.length}`);
  writeMac(buf, 0, BROADCAST_MAC);
  writeMac(buf, 6, r.mac);
  let o = 12;
  if (tagged) {
    buf[12] = ETHERTYPE_VLAN >>> 8;
    buf[13] = ETHERTYPE_VLAN & 0xff;
    buf[14] = r.vlanId! >>> 8;
    buf[15] = r.vlanId! & 0xff;
    o = 16;
  }
  buf[o] = ETHERTYPE_RARP >>> 8;
  buf[o + 1] = ETHERTYPE_RARP & 0xff;
  const p = o + 2;
  buf[p] = 0; buf[p + 1] = 1; // htype Ethernet
  buf[p + 2] = ETHERTYPE_IPV4 >>> 8; buf[p + 3] = ETHERTYPE_IPV4 & 0xff; // ptype
  buf[p + 4] = 6; buf[p + 5] = 4; // hlen, plen
  buf[p + 6] = 0; buf[p + 7] = RARP_OP_REVERSE_REQUEST;
  writeMac(buf, p + 8, r.mac); // sha
  buf.fill(0, p + 14, p + 18); // spa
  writeMac(buf, p + 18, r.mac); // tha
  buf.fill(0, p + 24, total); // tpa + padding
  return total;
}

/** The whole frame, from the one RARP builder (lib/wire/arp.ts buildRarpAnnounce); VLAN checked here first. */
export function buildRarp(r: Rarp): Buffer {
  const tagged = r.vlanId !== undefined && r.vlanId !== 0;
  if (tagged && !(Number.isInteger(r.vlanId) && r.vlanId! >= VLAN_MIN && r.vlanId! <= VLAN_MAX)) {
    throw new VfabError('VFAB_TEAMING_BAD_VLAN', `RARP VLAN ${r.vlanId} is not ${VLAN_MIN}..${VLAN_MAX}`);
  }
  return buildRarpAnnounce(r.mac, tagged ? r.vlanId : undefined);
}

/** Parses a RARP reverse request (as sent by notify-switches) from untrusted bytes. */
export function parseRarp(frame: Uint8Array): Result<Rarp & { op: number; sha: Mac; tha: Mac }> {
  let o = 12;
  let vlanId: number | undefined;
  if (frame.length >= 18 && ((frame[12]! << 8) | frame[13]!) === ETHERTYPE_VLAN) {
    vlanId = ((frame[14]! << 8) | frame[15]!) & 0x0fff;
    o = 16;
  }
  if (frame.length < o + 2 + RARP_PAYLOAD_BYTES) return err(new VfabError('VFAB_TEAMING_RARP_TRUNCATED', `frame of ${frame.length} bytes is too short for a RARP`));
  if (((frame[o]! << 8) | frame[o + 1]!) !== ETHERTYPE_RARP) return err(new VfabError('VFAB_TEAMING_NOT_RARP', 'EtherType is not 0x8035'));
  const p = o + 2;
  return ok({
    mac: readMac(frame, 6),
    ...(vlanId !== undefined ? { vlanId } : {}),
    op: (frame[p + 6]! << 8) | frame[p + 7]!,
    sha: readMac(frame, p + 8),
    tha: readMac(frame, p + 18),
  });
}
