// A host core's event (lib/host/host.ts HostEvent) as a line of the event log: its type and fields, the
// way hostd logs them and the simulated fabric (daemons/sim/fabric.ts) logs them too, so both modes'
// timelines read alike. MACs print as text, frames are left out, ping replies and timeouts go to the
// caller (not the log). Leaves out the log itself (daemons/common/events.ts).

import type { HostEvent } from '../../lib/host/host.js';
import { macToString } from '../../lib/wire/mac.js';

/** The event-log entry for `e` on host `hostName`, or null for an event that is not logged. */
export function hostEventEntry(hostName: string, e: HostEvent): { type: string; fields: Record<string, unknown> } | null {
  if (e.kind === 'power') return { type: 'power', fields: { vm: e.vm, on: e.on } };
  if (e.kind === 'teaming') return { type: e.type, fields: { vswitch: e.vswitch, message: e.message, ...e.details } };
  if (e.kind === 'vswitch') {
    const { kind, ...rest } = e.event as any;
    if (rest.frame) delete rest.frame;
    if (typeof rest.mac === 'number') rest.mac = macToString(rest.mac);
    return { type: kind, fields: { vswitch: e.vswitch, ...rest } };
  }
  const { kind, ...rest } = e.action as any;
  if (kind === 'pingReply' || kind === 'pingTimeout') return null; // ping results go to the caller
  if (typeof rest.mac === 'number') rest.mac = macToString(rest.mac);
  return { type: kind, fields: e.kind === 'vmkernel' ? { vmk: `${hostName}.${e.vmk}`, ...rest } : { vm: e.vm, ...rest } };
}
