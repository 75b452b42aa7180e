// Static analysis of a whole design for `vfab diff` and `vfab probe`: the expected and predicted
// reachability of every pair of VM NICs that share a VLAN or a subnet (plus each NIC's gateway), and the
// single points of failure of each VM NIC (an uplink or a physical switch all of its team's paths
// cross). Built on graph.ts. Follows docs/vsphere-behaviour.md §1.4/§2.5 (VLAN = broadcast domain), §3.1/§3.7
// (team uplinks and failover). Leaves out L3 routing (vfab has no routers: a gateway is another VM NIC).

import type { Topology } from '../topology/model.js';
import { PhysicalGraph, allNics, intendedVlan, nicLabel, sameSubnet, vlanLabel, type NicRef, type Reach } from './graph.js';

export type Expectation = 'reachable' | 'isolated' | 'no-router';

export interface PairAnalysis {
  /** "web1.nic0 -> web2.nic0" or "web1.nic0 -> gateway 192.0.2.1". */
  key: string;
  from: string;
  fromIp: string;
  to: string;
  toIp: string;
  /** VLAN label of the sender, e.g. "VLAN 10". */
  vlan: string;
  kind: 'peer' | 'gateway';
  /** Design intent: same VLAN and subnet = reachable, different VLANs = isolated. */
  expected: Expectation;
  /** What the static analysis predicts. */
  predicted: Reach;
  reasons: string[];
  /** Sender and receiver as model references (not serialised). */
  src: NicRef;
  dst: NicRef | undefined;
}

export interface Spof {
  /** "web1.nic0 depends on switch sw1". */
  key: string;
  nic: string;
  element: string;
}

export interface DesignAnalysis {
  pairs: PairAnalysis[];
  spofs: Spof[];
}

/** Pairs of NICs with IPs: same VLAN (expected reachable when in one subnet), or same subnet in
 * different VLANs (expected isolated); plus each NIC's gateway. */
export function analyzeReachability(t: Topology, graph = new PhysicalGraph(t)): PairAnalysis[] {
  const nics = allNics(t).filter((n) => n.nic.ip);
  const out: PairAnalysis[] = [];
  const vlanOf = new Map(nics.map((n) => [n, intendedVlan(graph, n)]));
  for (const a of nics) {
    for (const b of nics) {
      if (a === b) continue;
      const sameVlan = vlanOf.get(a) === vlanOf.get(b) && (vlanOf.get(a) !== 0 || a.vswitch === b.vswitch);
      const subnet = sameSubnet(a.nic, b.nic);
      if (!subnet) continue; // a ping needs an on-link target; routing is not modelled
      const r = graph.reach(a, b);
      out.push({
        key: `${nicLabel(a)} -> ${nicLabel(b)}`, from: nicLabel(a), fromIp: a.nic.ip!.address, to: nicLabel(b), toIp: b.nic.ip!.address,
        vlan: vlanLabel(vlanOf.get(a)!), kind: 'peer', expected: sameVlan ? 'reachable' : 'isolated', predicted: r.reach, reasons: r.reasons, src: a, dst: b,
      });
    }
    const gw = a.nic.gateway;
    if (gw) {
      const owner = nics.find((o) => o !== a && o.nic.ip!.address === gw);
      const r = owner ? graph.reach(a, owner) : undefined;
      out.push({
        key: `${nicLabel(a)} -> gateway ${gw}`, from: nicLabel(a), fromIp: a.nic.ip!.address, to: owner ? nicLabel(owner) : `gateway ${gw}`, toIp: gw,
        vlan: vlanLabel(vlanOf.get(a)!), kind: 'gateway', expected: owner ? 'reachable' : 'no-router', predicted: r?.reach ?? 'unreachable',
        reasons: r ? r.reasons : [`no NIC in the design has ${gw}: the design has no router there`], src: a, dst: owner,
      });
    }
  }
  return out;
}

/** Elements every path of a NIC's team crosses: one uplink, or one switch. */
export function analyzeSpofs(t: Topology, graph = new PhysicalGraph(t)): Spof[] {
  const out: Spof[] = [];
  for (const n of allNics(t)) {
    const uplinks = PhysicalGraph.teamUplinks(n.portGroup).filter((u) => graph.uplinkPort(n.host.name, u));
    if (uplinks.length === 0) continue;
    const label = nicLabel(n);
    const add = (element: string) => out.push({ key: `${label} depends on ${element}`, nic: label, element });
    // Standby uplinks take over too (§3.7): count the whole team.
    const team = [...n.portGroup.teaming.active, ...n.portGroup.teaming.standby].filter((u) => graph.uplinkPort(n.host.name, u));
    if (team.length === 1) add(`uplink ${n.host.name}.${team[0]}`);
    const switches = new Set(team.map((u) => graph.uplinkPort(n.host.name, u)!.switch.name));
    if (switches.size === 1) add(`switch ${[...switches][0]}`);
  }
  return out;
}

export function analyzeDesign(t: Topology): DesignAnalysis {
  const graph = new PhysicalGraph(t);
  return { pairs: analyzeReachability(t, graph), spofs: analyzeSpofs(t, graph) };
}

/** Pair without its model references (for JSON). */
export function pairJson(p: PairAnalysis): Omit<PairAnalysis, 'src' | 'dst'> {
  const { src: _s, dst: _d, ...rest } = p;
  return rest;
}
