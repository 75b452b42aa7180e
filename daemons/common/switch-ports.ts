// The port rows of a physical switch's GET /control/status, shared by switchd and the simulated fabric's
// control API (daemons/sim/serve.ts): each port's settings, its VLANs as text ("10,20-25", an access
// port's VLAN, or "all") and its counters. Leaves out VXLAN ports (switchd adds their tunnel).

import type { PhysicalSwitch } from '../../lib/pswitch/pswitch.js';

/** "10,20-25": a sorted VLAN list with runs written as ranges. */
export function compactVlans(vlans: number[]): string {
  const out: string[] = [];
  for (let i = 0; i < vlans.length; ) {
    let j = i;
    while (j + 1 < vlans.length && vlans[j + 1] === vlans[j]! + 1) j++;
    out.push(i === j ? `${vlans[i]}` : `${vlans[i]}-${vlans[j]}`);
    i = j + 1;
  }
  return out.join(',');
}

/** Every port of `sw` as a status row. */
export function switchPortRows(sw: PhysicalSwitch) {
  return sw.ports().map((p) => ({
    ...p, vlans: p.mode === 'access' ? String(p.accessVlan) : Array.isArray(p.allowedVlans) ? compactVlans(p.allowedVlans) : 'all', counters: sw.portCounters(p.index),
  }));
}
