// Named limits and defaults of the standard vSwitch (spec §8, §1.9, §1.13, §4.5). Covers the numbers the
// vSwitch enforces and a few per-host maxima the host daemon enforces (exported here so there is one
// source). Leaves out teaming limits (lib/teaming) and vDS-only maxima. Values follow spec §8; [INF]
// marks our own choice where the spec gives none.

import { MAX_MTU_BYTES } from '../wire/ethernet.js';

/** §1.13: vSwitch MTU when the config gives none. */
export const DEFAULT_MTU_BYTES = 1500;
/** §1.13 / §8: largest vSwitch MTU (jumbo frames). */
export const MAX_VSWITCH_MTU_BYTES = MAX_MTU_BYTES; // 9000
/** [INF] smallest MTU we accept: the IPv4 minimum (RFC 791). */
export const MIN_VSWITCH_MTU_BYTES = 68;

/** §8: vSwitch name length. */
export const MAX_VSWITCH_NAME_CHARS = 32;
/** [INF] port group (network label) name length; the spec gives no figure. */
export const MAX_PORT_GROUP_NAME_CHARS = 64;
/** [INF] vNIC port name length (status display only). */
export const MAX_PORT_NAME_CHARS = 64;

/** §8: port groups per standard switch (256 in 5.0). */
export const MAX_PORT_GROUPS_PER_VSWITCH = 512;
/** §8: ports per standard switch at creation (ESXi 6.0); elastic from 5.5, so this is also our default cap. */
export const MAX_PORTS_PER_VSWITCH = 4088;
/** §8: the creation default before elastic ports (documented, not enforced: ports grow elastically). */
export const LEGACY_DEFAULT_PORTS_PER_VSWITCH = 128;

/** §8: per-host maxima, enforced by the host daemon (not by one vSwitch). */
export const MAX_VSWITCHES_PER_HOST = 127;
export const MAX_SWITCH_PORTS_PER_HOST = 4096;
export const MAX_ACTIVE_PORTS_PER_HOST = 1016;
export const MAX_VNICS_PER_VM = 10;

/** §1.9 / §8: multicast MAC filters per vNIC in basic mode; above this the port becomes all-multicast. */
export const MAX_MULTICAST_FILTERS_PER_PORT = 32;

/** §2.1: port-group VLAN IDs. */
export const VLAN_ID_EST = 0;
export const VLAN_ID_VST_MIN = 1;
export const VLAN_ID_VST_MAX = 4094;
export const VLAN_ID_VGT = 4095;

/** §1.3: IEEE 802.1D bridge group address (STP BPDUs). */
export const BPDU_MAC = 0x0180c2000000;
