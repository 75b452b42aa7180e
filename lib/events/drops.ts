// Drops in the event stream: which dropped frames become `drop` events, how often, and the words used for
// them (in events and in capture comments). A port that drops frames for one reason reports the first at
// once, then at most one event per DROP_EVENT_INTERVAL_MS with the count of frames since the last report
// and a summary of the first of them. Normal bridging filters (a unicast for a MAC this vSwitch does not
// have, a frame filtered back to its own port, ...) are counted and commented in captures, but are not
// events: a busy fabric makes them all the time. Pure: time comes in as `nowMs`; the daemon emits the
// reports and runs the timer (daemons/common/drop-events.ts). Reasons: lib/vswitch/drop-reasons.ts
// (spec §1, §2, §4) and lib/pswitch/counters.ts.

import { macToString } from '../wire/mac.js';
import { ETH_HEADER_BYTES, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_RARP, ETHERTYPE_VLAN, ETHERTYPE_VMW_BEACON, VLAN_TAG_BYTES, ethDst, ethSrc } from '../wire/ethernet.js';

/** One `drop` event per port and reason per this interval, at most (fabric ms). */
export const DROP_EVENT_INTERVAL_MS = 1000;
/** Port+reason pairs one reporter tracks; a pair beyond it is counted in `untracked`, never reported. */
export const MAX_DROP_REPORT_KEYS = 4096;

/** Short words for each drop reason, shown in events and capture comments. Unknown reasons print as is. */
export const DROP_LABELS: Readonly<Record<string, string>> = {
  // vSwitch (lib/vswitch/drop-reasons.ts)
  malformed: 'malformed frame',
  mtu_exceeded: 'larger than the MTU',
  vlan_mismatch: 'VLAN mismatch (guest tag on a VST/EST port group, or VID 4095)',
  forged_transmit: 'forged transmit (security policy)',
  mac_change_blocked: 'MAC address change blocked (security policy)',
  unknown_unicast_from_uplink: 'unknown unicast from the physical network (not for this host)',
  reverse_path: 'arrived on an uplink the port does not use (reverse-path check)',
  own_mac_reflection: 'own frame reflected by the physical network',
  bpdu_from_uplink: 'BPDU from the physical network',
  no_uplink: 'no uplink (teaming selected none)',
  port_blocked: 'port blocked',
  no_destination: 'no port in the VLAN takes it',
  uplink_down: 'arrived on an uplink whose link is down',
  // physical switch (lib/pswitch/counters.ts)
  tagged_on_access: 'VLAN mismatch (tagged frame on an access port)',
  vlan_not_allowed: 'VLAN not allowed on the trunk',
  port_down: 'port link down',
  port_shutdown: 'port shut down',
  same_port: 'destination is on the port it came in (filtered)',
  src_mac_group: 'group bit set in the source MAC',
  link_local: 'link-local destination (STP/LACP/LLDP)',
  no_egress: 'no other port up in the VLAN',
};

/** Reasons that are ordinary bridging, not faults: commented in captures, not logged as events. */
export const FILTER_DROP_REASONS: ReadonlySet<string> = new Set(['unknown_unicast_from_uplink', 'own_mac_reflection', 'reverse_path', 'no_destination', 'same_port']);

export function dropLabel(reason: string): string {
  return DROP_LABELS[reason] ?? reason.replace(/_/g, ' ');
}

const ETHERTYPE_NAMES: Record<number, string> = {
  [ETHERTYPE_IPV4]: 'IPv4',
  [ETHERTYPE_ARP]: 'ARP',
  [ETHERTYPE_RARP]: 'RARP',
  [ETHERTYPE_IPV6]: 'IPv6',
  [ETHERTYPE_VMW_BEACON]: 'beacon',
};

/** One line about a frame: `00:50:56:00:10:01 > ff:ff:ff:ff:ff:ff vlan 20 ARP 60 bytes`. Never throws. */
export function frameSummary(frame: Uint8Array): string {
  if (frame.length < ETH_HEADER_BYTES) return `${frame.length} bytes (shorter than an Ethernet header)`;
  let type = (frame[12]! << 8) | frame[13]!;
  let vlan = '';
  if (type === ETHERTYPE_VLAN && frame.length >= ETH_HEADER_BYTES + VLAN_TAG_BYTES) {
    vlan = ` vlan ${((frame[14]! << 8) | frame[15]!) & 0x0fff}`;
    type = (frame[16]! << 8) | frame[17]!;
  }
  const name = ETHERTYPE_NAMES[type] ?? `type 0x${type.toString(16).padStart(4, '0')}`;
  return `${macToString(ethSrc(frame))} > ${macToString(ethDst(frame))}${vlan} ${name} ${frame.length} bytes`;
}

/** A `drop` event's fields. */
export interface DropReport {
  port: string;
  reason: string;
  /** Frames dropped for this port and reason since the last report (the first report: 1). */
  count: number;
  /** Summary of the first of them (frameSummary). */
  frame: string;
  /** Fabric ms the first of them was dropped. */
  firstMs: number;
}

interface Pending {
  port: string;
  reason: string;
  /** When the current interval ends (a report was made at its start). */
  windowEndMs: number;
  count: number;
  frame: string;
  firstMs: number;
}

/**
 * Decides which drops become events. `offer` for every dropped frame (the summary is only computed when
 * it is needed); `due` when `nextDeadlineMs` has come, for the counts of drops that stopped mid-interval.
 */
export class DropReporter {
  private readonly pending = new Map<string, Pending>();
  /** Drops of port+reason pairs beyond MAX_DROP_REPORT_KEYS (counted, never reported). */
  untracked = 0;

  constructor(private readonly intervalMs = DROP_EVENT_INTERVAL_MS, private readonly maxKeys = MAX_DROP_REPORT_KEYS) {}

  /** True when drops of `reason` are reported as events at all. */
  static reports(reason: string): boolean {
    return !FILTER_DROP_REASONS.has(reason);
  }

  /** One dropped frame. Returns a report to emit now, or null (counted for a later report). */
  offer(port: string, reason: string, nowMs: number, frame: Uint8Array): DropReport | null {
    const key = `${port}\u0000${reason}`;
    const p = this.pending.get(key);
    if (p === undefined || nowMs >= p.windowEndMs) {
      // first drop of the pair, or the last interval is over: report this one (and what was counted)
      const carried = p !== undefined && p.count > 0 ? p : undefined;
      if (p === undefined && this.pending.size >= this.maxKeys && !this.evictIdle(nowMs)) {
        this.untracked++;
        return null;
      }
      const report: DropReport = carried
        ? { port, reason, count: carried.count + 1, frame: carried.frame, firstMs: carried.firstMs }
        : { port, reason, count: 1, frame: frameSummary(frame), firstMs: nowMs };
      this.pending.set(key, { port, reason, windowEndMs: nowMs + this.intervalMs, count: 0, frame: '', firstMs: 0 });
      return report;
    }
    if (p.count === 0) {
      p.frame = frameSummary(frame);
      p.firstMs = nowMs;
    }
    p.count++;
    return null;
  }

  /** Reports for intervals that ended with drops counted; forgets pairs that stayed quiet. */
  due(nowMs: number): DropReport[] {
    const out: DropReport[] = [];
    for (const [key, p] of this.pending) {
      if (nowMs < p.windowEndMs) continue;
      if (p.count === 0) {
        this.pending.delete(key);
        continue;
      }
      out.push({ port: p.port, reason: p.reason, count: p.count, frame: p.frame, firstMs: p.firstMs });
      // a new interval starts with this report
      p.windowEndMs = nowMs + this.intervalMs;
      p.count = 0;
    }
    return out;
  }

  /** When `due` has something to do (a pair's interval ends), or null. */
  nextDeadlineMs(): number | null {
    let next: number | null = null;
    for (const p of this.pending.values()) if (next === null || p.windowEndMs < next) next = p.windowEndMs;
    return next;
  }

  private evictIdle(nowMs: number): boolean {
    for (const [key, p] of this.pending) {
      if (p.count === 0 && nowMs >= p.windowEndMs) {
        this.pending.delete(key);
        return true;
      }
    }
    return false;
  }
}
