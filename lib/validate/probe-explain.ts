// Pure half of `vfab probe`: turns daemon status documents (GET /control/status of hostd and switchd)
// into flat drop-counter snapshots, explains a failed pair from the counters that moved while only that
// pair was pinging (which hop dropped the frame and why), classifies each probe result against the
// design's expectation, and renders the per-VLAN reachability matrix. Follows docs/vsphere-behaviour.md §1.6,
// §1.10, §2.3, §2.6, §2.7 for the explanations; drop reason names come from lib/vswitch/drop-reasons.ts
// and lib/pswitch/counters.ts. Leaves out bringing the fabric up and sending pings (daemons/validate).

import { DROP_REASONS as VSWITCH_DROPS } from '../vswitch/drop-reasons.js';
import { DROP_REASON_INFO as PSWITCH_DROPS } from '../pswitch/counters.js';
import type { Topology } from '../topology/model.js';
import { PhysicalGraph, type NicRef } from './graph.js';
import type { PairAnalysis } from './analysis.js';

/** "where|layer|reason" -> count. */
export type CounterSnapshot = Map<string, number>;

/** Drops that happen in every healthy fabric (reflections of flooded frames, same-port filtering). */
const BENIGN = new Set(['reverse_path', 'own_mac_reflection', 'same_port', 'mac_table_full', 'src_mac_zero', 'notForUs', 'broadcastEcho', 'notOurIp']);

/** Adds the drop counters of one daemon's status document to `into`. Tolerates missing fields. */
export function addStatusCounters(into: CounterSnapshot, daemon: string, status: any): CounterSnapshot {
  const add = (key: string, n: unknown) => {
    if (typeof n === 'number' && n > 0) into.set(key, (into.get(key) ?? 0) + n);
  };
  for (const vs of Array.isArray(status?.vswitches) ? status.vswitches : []) {
    for (const [reason, n] of Object.entries(vs?.counters?.drops ?? {})) add(`${daemon}/${vs.name}|vswitch|${reason}`, n);
  }
  for (const vm of Array.isArray(status?.vms) ? status.vms : []) {
    for (const [reason, n] of Object.entries(vm?.counters?.drops ?? {})) add(`${vm.name}|guest|${reason}`, n);
  }
  for (const port of Array.isArray(status?.ports) ? status.ports : []) {
    for (const dir of ['rx', 'tx'] as const) {
      for (const [reason, n] of Object.entries(port?.counters?.[`${dir}Drops`] ?? {})) add(`${daemon} port ${port.name}|${dir}|${reason}`, n);
    }
  }
  return into;
}

export interface Hop {
  /** "esx1/vSwitch0", "sw1 port Gi1/0/1", "web1 (guest)". */
  where: string;
  layer: 'vswitch' | 'switch-rx' | 'switch-tx' | 'guest';
  reason: string;
  count: number;
  /** One sentence: "esx1/vSwitch0 dropped 2 frames: vlan_mismatch (...)". */
  text: string;
}

const vswitchDescription = new Map<string, string>(VSWITCH_DROPS.map((r) => [r.name, `${r.description} (${r.rule})`]));
const pswitchDescription = new Map<string, string>(Object.entries(PSWITCH_DROPS).map(([k, v]) => [k, v.description]));

/** Uplink trunk ports whose native VLAN equals a tagged port group's VLAN, for the endpoints' port groups. */
function nativeTraps(graph: PhysicalGraph, ends: NicRef[]): Array<{ host: string; vswitch: string; sw: string; port: string; vlan: number }> {
  const out: Array<{ host: string; vswitch: string; sw: string; port: string; vlan: number }> = [];
  for (const n of ends) {
    for (const u of PhysicalGraph.teamUplinks(n.portGroup)) {
      const a = graph.attach(n.host, n.portGroup, n.nic, u);
      if (!a.ok && a.reason === 'native_vlan_trap' && a.port && a.switch) {
        out.push({ host: n.host.name, vswitch: n.vswitch.name, sw: a.switch.name, port: a.port.name, vlan: a.port.nativeVlan });
      }
    }
  }
  return out;
}

/** Hops whose drop counters moved between `before` and `after`, most telling first. */
export function explainDeltas(t: Topology, before: CounterSnapshot, after: CounterSnapshot, ends: NicRef[] = []): Hop[] {
  const graph = new PhysicalGraph(t);
  const traps = nativeTraps(graph, ends);
  const hops: Hop[] = [];
  for (const [key, n] of after) {
    const count = n - (before.get(key) ?? 0);
    if (count <= 0) continue;
    const [where, layerText, reason] = key.split('|') as [string, string, string];
    if (BENIGN.has(reason)) continue;
    const frames = `${count} frame${count > 1 ? 's' : ''}`;
    let layer: Hop['layer'];
    let text: string;
    if (layerText === 'vswitch') {
      layer = 'vswitch';
      const trap = traps.find((x) => `${x.host}/${x.vswitch}` === where);
      text = `${where} dropped ${frames}: ${reason}`;
      if (trap && (reason === 'unknown_unicast_from_uplink' || reason === 'no_destination')) {
        text += ` — the reply came back untagged on native VLAN ${trap.vlan} (${trap.sw} port ${trap.port}) and no VLAN-0 port group took it (§2.6)`;
      } else {
        text += ` — ${vswitchDescription.get(reason) ?? 'see lib/vswitch/drop-reasons.ts'}`;
      }
    } else if (layerText === 'rx' || layerText === 'tx') {
      layer = layerText === 'rx' ? 'switch-rx' : 'switch-tx';
      text = `${where} dropped ${frames} ${layerText === 'rx' ? 'on ingress' : 'on egress'}: ${reason} — ${pswitchDescription.get(reason) ?? 'see lib/pswitch/counters.ts'}`;
    } else {
      layer = 'guest';
      text = `${where} (guest) dropped ${frames}: ${reason}`;
    }
    hops.push({ where, layer, reason, count, text });
  }
  const rank: Record<Hop['layer'], number> = { 'switch-rx': 0, 'switch-tx': 1, vswitch: 2, guest: 3 };
  return hops.sort((a, b) => rank[a.layer] - rank[b.layer] || b.count - a.count || a.where.localeCompare(b.where));
}

// ---- results and the matrix ---------------------------------------------------------------------------

export type ProbeOutcome = 'ok' | 'isolated' | 'no-router' | 'UNEXPECTED-FAIL' | 'UNEXPECTED-REACH';

export interface ProbeResult {
  key: string;
  from: string;
  to: string;
  toIp: string;
  vlan: string;
  kind: 'peer' | 'gateway';
  expected: PairAnalysis['expected'];
  predicted: PairAnalysis['predicted'];
  /** Echo replies received / sent. */
  received: number;
  sent: number;
  reachable: boolean;
  outcome: ProbeOutcome;
  /** Why: counter hops (explanation phase) and the static analysis. */
  explanation: string[];
  error?: string;
}

export function classify(expected: PairAnalysis['expected'], reachable: boolean): ProbeOutcome {
  if (expected === 'reachable') return reachable ? 'ok' : 'UNEXPECTED-FAIL';
  if (expected === 'isolated') return reachable ? 'UNEXPECTED-REACH' : 'isolated';
  return reachable ? 'ok' : 'no-router';
}

export function isUnexpected(o: ProbeOutcome): boolean {
  return o === 'UNEXPECTED-FAIL' || o === 'UNEXPECTED-REACH';
}

const CELL: Record<ProbeOutcome, string> = {
  ok: 'ok', isolated: 'isolated', 'no-router': 'no router', 'UNEXPECTED-FAIL': 'FAIL', 'UNEXPECTED-REACH': 'LEAK',
};

function grid(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

/** Text report: one matrix per VLAN (rows: sender, columns: target), then each unexpected result explained. */
export function renderMatrix(results: readonly ProbeResult[]): string {
  const out: string[] = [];
  const vlans = [...new Set(results.map((r) => r.vlan))].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  for (const vlan of vlans) {
    const inVlan = results.filter((r) => r.vlan === vlan);
    const senders = [...new Set(inVlan.map((r) => r.from))];
    const peers = [...new Set(inVlan.filter((r) => r.kind === 'peer').map((r) => r.to))];
    const order = (n: string) => (senders.includes(n) ? senders.indexOf(n) : senders.length);
    const targets = [...peers.sort((a, b) => order(a) - order(b) || a.localeCompare(b)),
      ...new Set(inVlan.filter((r) => r.kind === 'gateway').map((r) => `gw ${r.toIp}`))];
    const rows: string[][] = [['from \\ to', ...targets]];
    for (const s of senders) {
      rows.push([s, ...targets.map((tcol) => {
        if (tcol === s) return '-';
        const r = inVlan.find((x) => x.from === s && (x.kind === 'gateway' ? `gw ${x.toIp}` : x.to) === tcol);
        return r ? CELL[r.outcome] : '';
      })]);
    }
    out.push(`${vlan}\n${grid(rows).split('\n').map((l) => `  ${l}`).join('\n')}`);
  }
  const notes = results.filter((r) => r.outcome === 'no-router');
  for (const r of notes) out.push(`note: ${r.from} -> gateway ${r.toIp}: gateway unreachable; expected, the design has no router at ${r.toIp}`);
  const bad = results.filter((r) => isUnexpected(r.outcome));
  for (const r of bad) {
    out.push(`${r.outcome === 'UNEXPECTED-FAIL' ? 'FAIL' : 'LEAK'} ${r.key} (${r.vlan}, expected ${r.expected}, ${r.received}/${r.sent} replies)${r.error ? `: ${r.error}` : ''}`);
    for (const e of r.explanation) out.push(`    ${e}`);
  }
  const ok = results.filter((r) => !isUnexpected(r.outcome)).length;
  out.push(`${results.length} pairs probed: ${ok} as expected, ${bad.length} unexpected`);
  return out.join('\n');
}
