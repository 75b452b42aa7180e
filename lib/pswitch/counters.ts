// Counters of the emulated physical switch: the named drop reasons (each with a one-line description),
// per-port rx/tx frame, byte and unicast/broadcast/multicast counts, and their snapshot form. Counts live
// in typed arrays indexed by small numbers so the per-frame path only increments. Mirrors what
// `show interfaces counters` / `show interfaces counters errors` report on IOS; leaves out CRC/runt
// errors (our links carry no FCS) and per-queue counters.

/** Why a frame was dropped (or, for `learnOnly` reasons, why its source was not learned). */
export const DROP_REASON_INFO = {
  malformed: { learnOnly: false, description: 'shorter than an Ethernet header (14 bytes, 18 with an 802.1Q tag)' },
  mtu_exceeded: { learnOnly: false, description: 'payload (frame minus header and tag) larger than the ingress or egress port MTU' },
  tagged_on_access: { learnOnly: false, description: 'access port received an 802.1Q-tagged frame with a VID other than 0' },
  vlan_not_allowed: { learnOnly: false, description: 'trunk received a VID (or untagged frame for a native VLAN) outside its allowed list' },
  port_down: { learnOnly: false, description: 'frame arrived on a port whose link is down' },
  port_shutdown: { learnOnly: false, description: 'frame arrived on an administratively shut port' },
  same_port: { learnOnly: false, description: 'destination MAC is learned on the ingress port or its port-channel: filtered' },
  src_mac_group: { learnOnly: false, description: 'source MAC has the group (multicast) bit set: invalid, dropped and not learned' },
  link_local: { learnOnly: false, description: 'destination 01:80:c2:00:00:00-0f (STP/LACP/LLDP...): a bridge never forwards these' },
  no_egress: { learnOnly: false, description: 'no other up port carries the VLAN (or the known port-channel has no member up)' },
  mac_table_full: { learnOnly: true, description: 'source not learned because the MAC table is full; the frame is still forwarded' },
  src_mac_zero: { learnOnly: true, description: 'source MAC 00:00:00:00:00:00 is not learned; the frame is still forwarded' },
} as const;

export type DropReason = keyof typeof DROP_REASON_INFO;
export const DROP_REASONS = Object.keys(DROP_REASON_INFO) as DropReason[];
/** Numeric index of each reason, for the hot path (DROP.malformed === 0 ...). */
export const DROP: { readonly [K in DropReason]: number } = Object.freeze(
  Object.fromEntries(DROP_REASONS.map((r, i) => [r, i])) as { [K in DropReason]: number },
);
export const DROP_REASON_COUNT = DROP_REASONS.length;

// Slots of a port's traffic counter array.
export const C_RX_FRAMES = 0;
export const C_RX_BYTES = 1;
export const C_RX_UNICAST = 2;
export const C_RX_BROADCAST = 3;
export const C_RX_MULTICAST = 4;
export const C_TX_FRAMES = 5;
export const C_TX_BYTES = 6;
export const C_TX_UNICAST = 7;
export const C_TX_BROADCAST = 8;
export const C_TX_MULTICAST = 9;
export const PORT_COUNTER_SLOTS = 10;
/** Offset added to C_RX_UNICAST (0 unicast, 1 broadcast, 2 multicast) by the destination class. */
export const CAST_UNICAST = 0;
export const CAST_BROADCAST = 1;
export const CAST_MULTICAST = 2;

export type DropCounts = Record<DropReason, number>;

export interface PortCounters {
  port: string;
  rxFrames: number;
  rxBytes: number;
  rxUnicast: number;
  rxBroadcast: number;
  rxMulticast: number;
  txFrames: number;
  txBytes: number;
  txUnicast: number;
  txBroadcast: number;
  txMulticast: number;
  /** Frames dropped (or not learned) on receive, by reason. */
  rxDrops: DropCounts;
  /** Copies not sent out this port, by reason (only mtu_exceeded today). */
  txDrops: DropCounts;
}

export interface SwitchCounters {
  rxFrames: number;
  rxBytes: number;
  txFrames: number;
  txBytes: number;
  /** Frames sent to exactly one known port. */
  knownUnicast: number;
  /** Frames flooded within their VLAN (unknown unicast, broadcast, multicast). */
  flooded: number;
  /** Sum over ports of rx and tx drops. */
  drops: DropCounts;
  learned: number;
  moves: number;
  flaps: number;
  aged: number;
  flushed: number;
  tableFullEvents: number;
  macEntries: number;
  ports: PortCounters[];
}

export function dropCounts(from?: Float64Array): DropCounts {
  const out = {} as DropCounts;
  for (let i = 0; i < DROP_REASON_COUNT; i++) out[DROP_REASONS[i]!] = from ? from[i]! : 0;
  return out;
}

/** Mutable counters of one physical port; snapshot() copies them out. */
export class PortCounterBlock {
  readonly traffic = new Float64Array(PORT_COUNTER_SLOTS);
  readonly rxDrops = new Float64Array(DROP_REASON_COUNT);
  readonly txDrops = new Float64Array(DROP_REASON_COUNT);

  reset(): void {
    this.traffic.fill(0);
    this.rxDrops.fill(0);
    this.txDrops.fill(0);
  }

  snapshot(port: string): PortCounters {
    const t = this.traffic;
    return {
      port,
      rxFrames: t[C_RX_FRAMES]!,
      rxBytes: t[C_RX_BYTES]!,
      rxUnicast: t[C_RX_UNICAST]!,
      rxBroadcast: t[C_RX_BROADCAST]!,
      rxMulticast: t[C_RX_MULTICAST]!,
      txFrames: t[C_TX_FRAMES]!,
      txBytes: t[C_TX_BYTES]!,
      txUnicast: t[C_TX_UNICAST]!,
      txBroadcast: t[C_TX_BROADCAST]!,
      txMulticast: t[C_TX_MULTICAST]!,
      rxDrops: dropCounts(this.rxDrops),
      txDrops: dropCounts(this.txDrops),
    };
  }
}
