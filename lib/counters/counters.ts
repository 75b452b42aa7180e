// Counter points: every per-port frame counter and drop counter of a node, flattened to dotted names
// ("rxFrames", "drops.forged_transmit", "rxDrops.vlan_not_allowed", "link.txDropsQueueFull") under the
// point the capture and scenario code already use ("web1.nic0", "esx1.vmk0", "esx1.vmnic0",
// "sw1.Gi1/0/1"). The names come from the counter definitions themselves (lib/vswitch/drop-reasons.ts,
// lib/pswitch/counters.ts, lib/link/link.ts), so `vfab counters` and the scenario `counter` expectation
// can never disagree with the code that counts. Pure: reads the daemons' status replies (hostd's and
// switchd's GET /control/status). Leaves out the guest stacks' own counters (ARP, ICMP) and storage I/O
// counters. Drop reasons follow docs/vsphere-behaviour.md §1, §2, §4 (vSwitch) and IEEE 802.1Q (switch).

import { DROP_REASON_NAMES as VSWITCH_DROP_REASONS } from '../vswitch/drop-reasons.js';
import { DROP_REASONS as PSWITCH_DROP_REASONS, PortCounterBlock } from '../pswitch/counters.js';
import { zeroCounters } from '../link/link.js';
import { closestName } from '../text/did-you-mean.js';

/**
 * What a point is: a vSwitch port (a VM's vNIC or a host's vmkernel port), a host uplink (vmnic: the
 * vSwitch's drops of frames that arrived on it, and its link's counters), or a physical switch port.
 */
export type CounterPointKind = 'vswitchPort' | 'uplink' | 'switchPort';
export const COUNTER_POINT_KINDS: readonly CounterPointKind[] = ['vswitchPort', 'uplink', 'switchPort'];

/** Frame and byte counters every point has (seen from the port: tx = frames it sent). */
const TRAFFIC = ['rxFrames', 'rxBytes', 'txFrames', 'txBytes'];
/** A link's own counters besides frames and bytes: messages, its tail and carrier drops, carrier changes. */
const LINK_EXTRA = Object.keys(zeroCounters()).filter((k) => !TRAFFIC.includes(k));
const SWITCH_PORT_SAMPLE = new PortCounterBlock().snapshot('');
/** The switch port's traffic counters (rx/tx frames, bytes, unicast, broadcast, multicast). */
const SWITCH_TRAFFIC = Object.keys(SWITCH_PORT_SAMPLE).filter((k) => typeof (SWITCH_PORT_SAMPLE as unknown as Record<string, unknown>)[k] === 'number');

/** Every counter name a point of each kind has, in display order. */
export const COUNTER_NAMES: Readonly<Record<CounterPointKind, readonly string[]>> = {
  vswitchPort: [...TRAFFIC, ...VSWITCH_DROP_REASONS.map((r) => `drops.${r}`)],
  uplink: [...TRAFFIC, ...VSWITCH_DROP_REASONS.map((r) => `drops.${r}`), ...LINK_EXTRA.map((k) => `link.${k}`)],
  switchPort: [...SWITCH_TRAFFIC, ...PSWITCH_DROP_REASONS.map((r) => `rxDrops.${r}`), ...PSWITCH_DROP_REASONS.map((r) => `txDrops.${r}`), ...LINK_EXTRA.map((k) => `link.${k}`)],
};

const KIND_TEXT: Record<CounterPointKind, string> = { vswitchPort: 'a vSwitch port (VM vNIC or vmkernel port)', uplink: 'a host uplink', switchPort: 'a physical switch port' };

/** True for a counter that counts frames lost or refused (a drop), as opposed to traffic. */
export function isDropCounter(name: string): boolean {
  return /^(drops|rxDrops|txDrops)\./.test(name) || /^link\.(tx|rx)Drops/.test(name);
}

/** Why `name` is not a counter of a `kind` point (with a did-you-mean and the valid names), or undefined when it is one. */
export function counterNameProblem(kind: CounterPointKind, name: string): string | undefined {
  const names = COUNTER_NAMES[kind];
  if (names.includes(name)) return undefined;
  const all = new Set(COUNTER_POINT_KINDS.flatMap((k) => COUNTER_NAMES[k]));
  const near = closestName(name, names);
  const elsewhere = all.has(name) ? ` (${name} is a counter of ${COUNTER_POINT_KINDS.filter((k) => COUNTER_NAMES[k].includes(name)).map((k) => KIND_TEXT[k]).join(' or ')})` : '';
  return `${JSON.stringify(name)} is not a counter of ${KIND_TEXT[kind]}${elsewhere}${near ? `; did you mean ${near}?` : ''} (counters: ${names.join(', ')})`;
}

export interface CounterPoint {
  /** "<node>.<interface>", e.g. web1.nic0, esx1.vmnic0, sw1.Gi1/0/1. */
  point: string;
  kind: CounterPointKind;
  /** The host or switch that counts. */
  node: string;
  /** Every name of COUNTER_NAMES[kind], in that order. */
  counters: Record<string, number>;
  /** The MTU frames are checked against here (the vSwitch's, or the switch port's), when the status gives it. */
  mtuBytes?: number;
}

type Num = Record<string, number | undefined>;
/** The parts of hostd's GET /control/status this reads. */
export interface HostStatusLike {
  name: string;
  kind: 'host';
  links?: Array<{ local: string; counters: Num | null }>;
  vswitches: Array<{ name: string; mtu?: number; uplinks: Array<{ name: string; drops?: Num }>; ports: Array<{ name: string; counters: Num & { drops?: Num } }> }>;
}
/** The parts of switchd's GET /control/status this reads. */
export interface SwitchStatusLike {
  name: string;
  kind: 'switch';
  links?: Array<{ local: string; counters: Num | null }>;
  ports: Array<{ name: string; mtuBytes?: number; counters: Num & { rxDrops?: Num; txDrops?: Num } }>;
}

/** Reads `names` from `source` (a missing value is 0: a link that never connected has counted nothing). */
function pick(out: Record<string, number>, names: readonly string[], source: Num | null | undefined, prefix = ''): void {
  for (const n of names) out[prefix + n] = source?.[n] ?? 0;
}

function linkCounters(status: { links?: Array<{ local: string; counters: Num | null }> }, local: string): Num | null {
  return status.links?.find((l) => l.local === local)?.counters ?? null;
}

function mtuOf(mtu: number | undefined): { mtuBytes?: number } {
  return typeof mtu === 'number' ? { mtuBytes: mtu } : {};
}

/** A host's points: each vSwitch port (VM vNICs, vmkernel ports) and each uplink, in status order. */
export function hostCounterPoints(status: HostStatusLike): CounterPoint[] {
  const out: CounterPoint[] = [];
  for (const vs of status.vswitches) {
    for (const p of vs.ports) {
      const c: Record<string, number> = {};
      pick(c, TRAFFIC, p.counters);
      pick(c, VSWITCH_DROP_REASONS, p.counters.drops, 'drops.');
      out.push({ point: p.name, kind: 'vswitchPort', node: status.name, counters: c, ...mtuOf(vs.mtu) });
    }
  }
  for (const vs of status.vswitches) {
    for (const u of vs.uplinks) {
      const c: Record<string, number> = {};
      const link = linkCounters(status, u.name);
      pick(c, TRAFFIC, link);
      pick(c, VSWITCH_DROP_REASONS, u.drops, 'drops.');
      pick(c, LINK_EXTRA, link, 'link.');
      out.push({ point: `${status.name}.${u.name}`, kind: 'uplink', node: status.name, counters: c, ...mtuOf(vs.mtu) });
    }
  }
  return out;
}

/** A switch's points: each port, in configuration order. */
export function switchCounterPoints(status: SwitchStatusLike): CounterPoint[] {
  return status.ports.map((p) => {
    const c: Record<string, number> = {};
    pick(c, SWITCH_TRAFFIC, p.counters);
    pick(c, PSWITCH_DROP_REASONS, p.counters.rxDrops, 'rxDrops.');
    pick(c, PSWITCH_DROP_REASONS, p.counters.txDrops, 'txDrops.');
    pick(c, LINK_EXTRA, linkCounters(status, p.name), 'link.');
    return { point: `${status.name}.${p.name}`, kind: 'switchPort', node: status.name, counters: c, ...mtuOf(p.mtuBytes) };
  });
}

/** The points of a host or switch status reply; [] for any other daemon (arrays count I/O, not frames). */
export function counterPoints(status: { kind?: unknown }): CounterPoint[] {
  if (status.kind === 'host') return hostCounterPoints(status as HostStatusLike);
  if (status.kind === 'switch') return switchCounterPoints(status as SwitchStatusLike);
  return [];
}

/** The counters of a point with zeros left out (what `vfab counters` shows unless --all). */
export function nonZero(counters: Record<string, number>): Array<[string, number]> {
  return Object.entries(counters).filter(([, v]) => v !== 0);
}
