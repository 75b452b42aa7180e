// Why the vSwitch dropped a frame: stable names, numeric codes for counter arrays, and a one-line
// explanation each (shown by `vfab status` and by the design-validation tool when a ping fails).
// Covers every drop the decision engine in vswitch.ts can make. Spec rules cited per reason
// (docs/vsphere-behaviour.md §1, §2, §4). Split horizon (§1.2) is structural, so no "uplink to uplink" drop
// ever happens: an uplink frame's result simply never lists uplinks.

export const DROP = {
  MALFORMED: 0,
  MTU_EXCEEDED: 1,
  VLAN_MISMATCH: 2,
  FORGED_TRANSMIT: 3,
  MAC_CHANGE_BLOCKED: 4,
  UNKNOWN_UNICAST_FROM_UPLINK: 5,
  REVERSE_PATH: 6,
  OWN_MAC_REFLECTION: 7,
  BPDU_FROM_UPLINK: 8,
  NO_UPLINK: 9,
  PORT_BLOCKED: 10,
  NO_DESTINATION: 11,
  UPLINK_DOWN: 12,
} as const;

export type DropCode = (typeof DROP)[keyof typeof DROP];

export type DropReason =
  | 'malformed'
  | 'mtu_exceeded'
  | 'vlan_mismatch'
  | 'forged_transmit'
  | 'mac_change_blocked'
  | 'unknown_unicast_from_uplink'
  | 'reverse_path'
  | 'own_mac_reflection'
  | 'bpdu_from_uplink'
  | 'no_uplink'
  | 'port_blocked'
  | 'no_destination'
  | 'uplink_down';

export interface DropReasonInfo {
  code: DropCode;
  name: DropReason;
  /** Spec rule the drop follows. */
  rule: string;
  description: string;
}

/** Indexed by DropCode. */
export const DROP_REASONS: readonly DropReasonInfo[] = [
  { code: DROP.MALFORMED, name: 'malformed', rule: '—', description: 'frame shorter than an Ethernet header, cut inside its 802.1Q tag, or longer than MAX_FRAME_BYTES' },
  { code: DROP.MTU_EXCEEDED, name: 'mtu_exceeded', rule: '§1.13', description: 'payload larger than the vSwitch MTU; the vSwitch does not fragment' },
  { code: DROP.VLAN_MISMATCH, name: 'vlan_mismatch', rule: '§2.3/§2.4', description: 'guest sent an 802.1Q-tagged frame on a VST/EST port group, or the tag carries the reserved VID 4095' },
  { code: DROP.FORGED_TRANSMIT, name: 'forged_transmit', rule: '§4.4', description: 'source MAC differs from the port\'s effective MAC and Forged Transmits is Reject' },
  { code: DROP.MAC_CHANGE_BLOCKED, name: 'mac_change_blocked', rule: '§4.3', description: 'receiving port changed its MAC and MAC Address Changes is Reject: it receives nothing until it reverts' },
  { code: DROP.UNKNOWN_UNICAST_FROM_UPLINK, name: 'unknown_unicast_from_uplink', rule: '§1.6', description: 'unicast from the physical network to a MAC no port on this vSwitch has (and no promiscuous port took it)' },
  { code: DROP.REVERSE_PATH, name: 'reverse_path', rule: '§1.10', description: 'frame arrived on an uplink the receiving port\'s teaming does not use (reverse-path check)' },
  { code: DROP.OWN_MAC_REFLECTION, name: 'own_mac_reflection', rule: '§1.10', description: 'frame from an uplink carries the source MAC of a local port in the same VLAN (our own frame reflected back)' },
  { code: DROP.BPDU_FROM_UPLINK, name: 'bpdu_from_uplink', rule: '§1.3', description: 'spanning-tree BPDU from the physical network; the vSwitch runs no STP and does not pass them to VMs' },
  { code: DROP.NO_UPLINK, name: 'no_uplink', rule: '§1.5/§1.7', description: 'frame (or its uplink copy) had to leave by an uplink but teaming selected none (all down or none configured)' },
  { code: DROP.PORT_BLOCKED, name: 'port_blocked', rule: '—', description: 'sending or receiving port is blocked (administratively or disconnected)' },
  { code: DROP.NO_DESTINATION, name: 'no_destination', rule: '§1.4/§1.8/§1.9', description: 'no port in the frame\'s VLAN accepts it (none in the VLAN, none subscribed to the multicast group, or sent to itself)' },
  { code: DROP.UPLINK_DOWN, name: 'uplink_down', rule: '§3.9', description: 'frame arrived on an uplink whose link is down' },
];

export const DROP_REASON_COUNT = DROP_REASONS.length;

/** Name by code, for hot-path reporting without allocation. */
export const DROP_REASON_NAMES: readonly DropReason[] = DROP_REASONS.map((r) => r.name);

export function dropCounterRecord(counts: ArrayLike<number>): Record<DropReason, number> {
  const out = {} as Record<DropReason, number>;
  for (let i = 0; i < DROP_REASON_COUNT; i++) out[DROP_REASON_NAMES[i]!] = counts[i]!;
  return out;
}
