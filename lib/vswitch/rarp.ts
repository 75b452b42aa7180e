// The RARP frame ESXi sends for a port when Notify Switches is on (spec §3.10, §3.11; RFC 903 layout):
// broadcast, source = port MAC, EtherType 0x8035, op 3 (reverse request), sha = tha = port MAC, both
// protocol addresses 0.0.0.0, padded to 60 bytes; an 802.1Q tag for a VST port group [INF]. Covers
// building the frame only; when to send it is decided in vswitch.ts (and by teaming on failover).

import { type Mac, BROADCAST_MAC, writeMac } from '../wire/mac.js';
import { ETHERTYPE_IPV4, ETHERTYPE_RARP, ETHERTYPE_VLAN, buildFrame, type EthernetHeader } from '../wire/ethernet.js';
import { VLAN_ID_VST_MAX, VLAN_ID_VST_MIN } from './limits.js';

export const RARP_PAYLOAD_BYTES = 28;
export const RARP_OP_REVERSE_REQUEST = 3;

/** A RARP reverse request announcing `mac`; tagged with `vlanId` when it is a VST VLAN (1..4094). */
export function buildRarpFrame(mac: Mac, vlanId: number): Buffer {
  const payload = new Uint8Array(RARP_PAYLOAD_BYTES);
  payload[0] = 0; // htype 1 (Ethernet)
  payload[1] = 1;
  payload[2] = ETHERTYPE_IPV4 >>> 8; // ptype IPv4
  payload[3] = ETHERTYPE_IPV4 & 0xff;
  payload[4] = 6; // hlen
  payload[5] = 4; // plen
  payload[6] = 0;
  payload[7] = RARP_OP_REVERSE_REQUEST;
  writeMac(payload, 8, mac); // sha; spa 0.0.0.0 at 14..17
  writeMac(payload, 18, mac); // tha; tpa 0.0.0.0 at 24..27
  const header: EthernetHeader = { dst: BROADCAST_MAC, src: mac, etherType: ETHERTYPE_RARP };
  if (vlanId >= VLAN_ID_VST_MIN && vlanId <= VLAN_ID_VST_MAX) header.tag = { tpid: ETHERTYPE_VLAN, pcp: 0, dei: 0, vid: vlanId };
  return buildFrame(header, payload);
}
