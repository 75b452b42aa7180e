// Where frames were dropped for being larger than an MTU between two readings of a fabric's counters:
// the vSwitch ports and uplinks (`drops.mtu_exceeded`) and physical switch ports (`rxDrops.` /
// `txDrops.mtu_exceeded`) whose count grew, with the MTU of that hop. Used by `vfab ping` to name the hop
// that refused a packet too large for it (neither vSwitches nor switches fragment, spec §1.13). Pure:
// the daemons edge reads the counters (daemons/fabric/counters.ts). Leaves out drops inside guests.

import type { CounterPoint } from './counters.js';

/** The counters that count MTU drops, per kind of point. */
const MTU_DROP_COUNTERS = ['drops.mtu_exceeded', 'rxDrops.mtu_exceeded', 'txDrops.mtu_exceeded'] as const;

export interface MtuDrop {
  /** "sw1.Gi1/0/2", "esx1.vmnic0", "web1.nic0". */
  point: string;
  node: string;
  /** The MTU of that hop, when its status gives it. */
  mtuBytes?: number;
  /** Frames dropped there for their size between the two readings. */
  frames: number;
}

/** Points whose MTU drop counters grew from `before` to `after` (a point missing before counts from 0), most drops first. */
export function mtuDropsBetween(before: readonly CounterPoint[], after: readonly CounterPoint[]): MtuDrop[] {
  const old = new Map(before.map((p) => [p.point, p.counters]));
  const out: MtuDrop[] = [];
  for (const p of after) {
    let frames = 0;
    for (const name of MTU_DROP_COUNTERS) {
      const now = p.counters[name];
      if (now === undefined) continue;
      // a counter that went down was reset (vfab counters --reset, a restarted daemon): count from 0
      const was = old.get(p.point)?.[name] ?? 0;
      frames += now >= was ? now - was : now;
    }
    if (frames > 0) out.push({ point: p.point, node: p.node, ...(p.mtuBytes !== undefined ? { mtuBytes: p.mtuBytes } : {}), frames });
  }
  return out.sort((a, b) => b.frames - a.frames || a.point.localeCompare(b.point));
}

/** "dropped at sw1.Gi1/0/2 (MTU 1500 < 9000-byte IP packet; 4 frames)". */
export function mtuDropText(d: MtuDrop, packetBytes: number): string {
  const mtu = d.mtuBytes !== undefined ? `MTU ${d.mtuBytes} < ` : 'larger than the MTU: ';
  return `dropped at ${d.point} (${mtu}${packetBytes}-byte IP packet; ${d.frames} frame${d.frames === 1 ? '' : 's'})`;
}
