// The RARP frame ESXi sends for a port when Notify Switches is on (spec §3.10, §3.11; RFC 903 layout):
// broadcast, source = port MAC, EtherType 0x8035, op 3 (reverse request), sha = tha = port MAC, both
// protocol addresses 0.0.0.0, padded to 60 bytes; an 802.1Q tag for a VST port group [INF]. Covers
// mapping a port's VLAN to the tag; the bytes come from the one RARP builder, lib/wire/arp.ts
// (buildRarpAnnounce). When to send it is decided by lib/teaming (the host turns the vSwitch's own off).

import type { Mac } from '../wire/mac.js';
import { buildRarpAnnounce, RARP_OP_REQUEST_REVERSE } from '../wire/arp.js';
import { VLAN_ID_VST_MAX, VLAN_ID_VST_MIN } from './limits.js';

export const RARP_PAYLOAD_BYTES = 28;
export const RARP_OP_REVERSE_REQUEST = RARP_OP_REQUEST_REVERSE;

/** A RARP reverse request announcing `mac`; tagged with `vlanId` when it is a VST VLAN (1..4094). */
export function buildRarpFrame(mac: Mac, vlanId: number): Buffer {
  return buildRarpAnnounce(mac, vlanId >= VLAN_ID_VST_MIN && vlanId <= VLAN_ID_VST_MAX ? vlanId : undefined);
}
