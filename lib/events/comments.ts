// Capture comments: the sentence a daemon attaches to a frame it captured (pcapng opt_comment, shown by
// Wireshark as a packet comment), saying what that frame did at the capture point: why it was dropped,
// which MAC it moved or taught the switch. Pure; the daemon decides when (daemons/common/drop-events.ts,
// switchd.ts, hostd.ts). Leaves out comments across daemons (a frame is commented where it was seen).

import type { SwitchEvent } from '../pswitch/pswitch.js';
import { dropLabel } from './drops.js';

/** `dropped: forged transmit (security policy)` */
export function dropComment(reason: string): string {
  return `dropped: ${dropLabel(reason)}`;
}

/** What a frame did to a switch's MAC table, e.g. `sw1: MAC 00:50:56:00:10:01 moved Gi1/0/1 -> Gi1/0/48 (VLAN 10)`; null for other events. */
export function switchEventComment(switchName: string, e: SwitchEvent): string | null {
  switch (e.type) {
    case 'mac-learned':
      return `${switchName}: learned MAC ${e.mac} on ${e.port} (VLAN ${e.vlan})`;
    case 'mac-move':
      return `${switchName}: MAC ${e.mac} moved ${e.fromPort} -> ${e.toPort} (VLAN ${e.vlan})`;
    case 'mac-flap':
      return `${switchName}: MAC ${e.mac} flapping between ${e.ports[0]} and ${e.ports[1]} (VLAN ${e.vlan}, ${e.movesInWindow} moves in ${e.windowMs} ms)`;
    case 'mac-table-full':
      return `${switchName}: MAC table full (${e.maxEntries} entries), ${e.mac} not learned`;
    default:
      return null;
  }
}

/** The comments of one frame's events, joined; null when none says anything about the frame. */
export function switchEventsComment(switchName: string, events: readonly SwitchEvent[]): string | null {
  const parts = events.map((e) => switchEventComment(switchName, e)).filter((c): c is string => c !== null);
  return parts.length ? parts.join('; ') : null;
}
