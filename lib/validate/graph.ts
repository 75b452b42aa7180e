// The physical reachability graph of a topology, for the design-validation rules, `vfab diff` and the
// expected matrix of `vfab probe`: which switch port each host uplink is cabled to, which VLAN a frame
// of a port group becomes on the physical side (and whether the reply comes back in a form the port
// group accepts), which (switch, VLAN) pairs form one broadcast domain across switch-to-switch links
// (trunks, access ports, native VLANs, port-channel members), and L2 reachability between two VM NICs.
// Follows docs/vsphere-behaviour.md §1.4/§2.5 (local switching by VLAN), §2.1-§2.3 (VST,
// EST, VGT tagging and classification), §2.6 (native VLAN), §2.7 (allowed VLANs), §3.1 (active/standby).
// Leaves out runtime state (link status, learned MACs, which active uplink a port is pinned to): when a
// team's uplinks lead to different domains the result is "partial". Pure functions over the model.

import {
  expandVlanRanges, vlanSetHas, findPortGroup,
  type Host, type PhysicalSwitch, type PortGroup, type SwitchPort, type Topology, type VmNic, type VSwitch, type Vm,
} from '../topology/model.js';

/** How a frame crosses a cable: untagged, or tagged with a VID. */
export type WireTag = number | 'untagged';

export type AttachFailure =
  | 'not_cabled' | 'peer_not_switch' | 'port_shutdown' | 'vlan_not_allowed' | 'tagged_on_access' | 'native_vlan_trap';

export type Attachment =
  | { ok: true; uplink: string; switch: PhysicalSwitch; port: SwitchPort; vlan: number; segment: string }
  | { ok: false; uplink: string; switch?: PhysicalSwitch; port?: SwitchPort; reason: AttachFailure; detail: string };

export interface NicRef {
  host: Host;
  vm: Vm;
  nic: VmNic;
  vswitch: VSwitch;
  portGroup: PortGroup;
}

export type Reach = 'reachable' | 'partial' | 'unreachable';

export interface ReachResult {
  reach: Reach;
  /** "local" when both sit on one vSwitch in one VLAN (no uplink involved). */
  via: 'local' | 'physical' | 'none';
  /** Why some or all uplink combinations fail (empty when reachable). */
  reasons: string[];
}

/** Untagged frames count as VLAN 0 inside a vSwitch (EST, spec §2.1). */
export const UNTAGGED_DOMAIN = 0;

/** Tag a switch port puts on VLAN `vlan` when sending it, or null when the port does not carry it. */
export function portEgressTag(port: SwitchPort, vlan: number): WireTag | null {
  if (port.shutdown) return null;
  if (port.mode === 'access') return vlan === port.accessVlan ? 'untagged' : null;
  if (!vlanSetHas(port.allowedVlans, vlan)) return null;
  return vlan === port.nativeVlan ? 'untagged' : vlan;
}

/** VLAN a switch port puts a received frame into, or null when it drops it. */
export function portIngressVlan(port: SwitchPort, tag: WireTag): number | null {
  if (port.shutdown) return null;
  if (port.mode === 'access') return tag === 'untagged' ? port.accessVlan : null;
  const vlan = tag === 'untagged' ? port.nativeVlan : tag;
  return vlanSetHas(port.allowedVlans, vlan) ? vlan : null;
}

/** VLANs a port carries (access: its VLAN; trunk: its allowed list). */
function portVlans(port: SwitchPort): number[] {
  return port.mode === 'access' ? [port.accessVlan] : expandVlanRanges(port.allowedVlans);
}

/** Tag the vSwitch puts on a NIC's frames on the uplink (and expects on the replies). */
export function nicWireTag(portGroup: PortGroup, nic: VmNic): WireTag {
  if (portGroup.vlan === 0) return 'untagged';
  if (portGroup.vlan === 4095) return nic.guestVlan ?? 'untagged';
  return portGroup.vlan;
}

/** VLAN of the NIC inside its vSwitch (local broadcast domain, §2.5): 0 stands for untagged. */
export function nicLocalVlan(portGroup: PortGroup, nic: VmNic): number {
  const tag = nicWireTag(portGroup, nic);
  return tag === 'untagged' ? UNTAGGED_DOMAIN : tag;
}

function localText(vlan: number): string {
  return vlan === UNTAGGED_DOMAIN ? 'untagged, VLAN 0 port group' : `tagged VLAN ${vlan}`;
}

export function segmentKey(switchName: string, vlan: number): string {
  return `${switchName}#${vlan}`;
}

class UnionFind {
  private readonly parent = new Map<string, string>();
  find(x: string): string {
    let root = x;
    for (let up = this.parent.get(root); up !== undefined; up = this.parent.get(root)) root = up;
    for (let cur = x; cur !== root;) {
      const next = this.parent.get(cur)!;
      this.parent.set(cur, root);
      cur = next;
    }
    return root;
  }
  union(a: string, b: string): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra !== rb) this.parent.set(ra < rb ? rb : ra, ra < rb ? ra : rb);
  }
}

export class PhysicalGraph {
  private readonly segments = new UnionFind();
  private readonly switchesJoined = new UnionFind();
  /** "esx1.vmnic0" -> the switch port at the other end, or the raw peer text. */
  private readonly uplinkPeers = new Map<string, { switch: PhysicalSwitch; port: SwitchPort } | string>();
  /** Members of each segment root, filled lazily. */
  private segmentMembers: Map<string, string[]> | undefined;

  constructor(readonly topology: Topology) {
    const switches = new Map(topology.switches.map((s) => [s.name, s]));
    const switchPort = (endpoint: string) => {
      const dot = endpoint.indexOf('.');
      const sw = switches.get(endpoint.slice(0, dot));
      const port = sw?.ports.find((p) => p.name === endpoint.slice(dot + 1));
      return sw && port ? { switch: sw, port } : undefined;
    };
    const hostNames = new Set(topology.hosts.map((h) => h.name));
    for (const link of topology.links) {
      const a = switchPort(link.a);
      const b = switchPort(link.b);
      if (a && b) {
        this.joinSwitches(a.switch, a.port, b.switch, b.port);
        continue;
      }
      for (const [end, other, otherPort] of [[link.a, link.b, b], [link.b, link.a, a]] as const) {
        if (hostNames.has(end.slice(0, end.indexOf('.')))) this.uplinkPeers.set(end, otherPort ?? other);
      }
    }
  }

  private joinSwitches(sa: PhysicalSwitch, pa: SwitchPort, sb: PhysicalSwitch, pb: SwitchPort): void {
    if (pa.shutdown || pb.shutdown) return;
    this.switchesJoined.union(sa.name, sb.name);
    for (const v of portVlans(pa)) {
      const tag = portEgressTag(pa, v);
      if (tag === null) continue;
      const w = portIngressVlan(pb, tag);
      if (w === null) continue;
      const back = portEgressTag(pb, w);
      if (back === null || portIngressVlan(pa, back) !== v) continue;
      this.segments.union(segmentKey(sa.name, v), segmentKey(sb.name, w));
    }
  }

  /** The switch port a host uplink is cabled to (undefined: not cabled or cabled to a non-switch). */
  uplinkPort(host: string, uplink: string): { switch: PhysicalSwitch; port: SwitchPort } | undefined {
    const peer = this.uplinkPeers.get(`${host}.${uplink}`);
    return typeof peer === 'object' ? peer : undefined;
  }

  isCabled(host: string, uplink: string): boolean {
    return this.uplinkPeers.has(`${host}.${uplink}`);
  }

  /** Broadcast domain id of VLAN `vlan` on switch `sw` (equal ids = one L2 domain). */
  segment(sw: string, vlan: number): string {
    return this.segments.find(segmentKey(sw, vlan));
  }

  /** Names of the switches that carry one segment. */
  segmentSwitches(segment: string): string[] {
    if (!this.segmentMembers) {
      this.segmentMembers = new Map();
      for (const sw of this.topology.switches) {
        const vlans = new Set<number>();
        for (const p of sw.ports) for (const v of portVlans(p)) vlans.add(v);
        for (const v of vlans) {
          const root = this.segment(sw.name, v);
          const list = this.segmentMembers.get(root) ?? [];
          if (!list.includes(sw.name)) list.push(sw.name);
          this.segmentMembers.set(root, list);
        }
      }
    }
    return this.segmentMembers.get(segment) ?? [segment.slice(0, segment.lastIndexOf('#'))];
  }

  /** Switches joined by cables (any VLAN): one id per physically connected group. */
  switchGroup(sw: string): string {
    return this.switchesJoined.find(sw);
  }

  /** Where a NIC's frames land when they leave by `uplink`, and whether replies come back. */
  attach(host: Host, portGroup: PortGroup, nic: VmNic | undefined, uplink: string): Attachment {
    const peer = this.uplinkPeers.get(`${host.name}.${uplink}`);
    if (peer === undefined) return { ok: false, uplink, reason: 'not_cabled', detail: `${host.name}.${uplink} has no cable` };
    if (typeof peer === 'string') return { ok: false, uplink, reason: 'peer_not_switch', detail: `${host.name}.${uplink} is cabled to ${peer}, not to a switch port` };
    const { switch: sw, port } = peer;
    const where = `${sw.name} ${port.name}`;
    if (port.shutdown) return { ok: false, uplink, switch: sw, port, reason: 'port_shutdown', detail: `${where} is shut down` };
    const tag: WireTag = nic ? nicWireTag(portGroup, nic) : portGroup.vlan === 0 || portGroup.vlan === 4095 ? 'untagged' : portGroup.vlan;
    const vlan = portIngressVlan(port, tag);
    if (vlan === null) {
      if (port.mode === 'access') {
        return { ok: false, uplink, switch: sw, port, reason: 'tagged_on_access', detail: `${where} is an access port (VLAN ${port.accessVlan}) and drops frames tagged ${String(tag)}` };
      }
      const what = tag === 'untagged' ? `native VLAN ${port.nativeVlan} (untagged frames)` : `VLAN ${tag}`;
      return { ok: false, uplink, switch: sw, port, reason: 'vlan_not_allowed', detail: `${where} does not allow ${what}` };
    }
    const back = portEgressTag(port, vlan);
    if (back !== tag) {
      return { ok: false, uplink, switch: sw, port, reason: 'native_vlan_trap',
        detail: `${where} sends VLAN ${vlan} ${back === 'untagged' ? 'untagged (it is the native VLAN)' : `tagged ${String(back)}`}, but the port group expects ${tag === 'untagged' ? 'untagged' : `tag ${tag}`}` };
    }
    return { ok: true, uplink, switch: sw, port, vlan, segment: this.segment(sw.name, vlan) };
  }

  /** Uplinks a port group's traffic may use: active, else standby (spec §3.1, §3.5). */
  static teamUplinks(portGroup: PortGroup): string[] {
    return portGroup.teaming.active.length > 0 ? portGroup.teaming.active : portGroup.teaming.standby;
  }

  /** L2 reachability from NIC a to NIC b, over every uplink combination their teams may use. */
  reach(a: NicRef, b: NicRef): ReachResult {
    const la = nicLocalVlan(a.portGroup, a.nic);
    const lb = nicLocalVlan(b.portGroup, b.nic);
    if (a.host === b.host && a.vswitch === b.vswitch) {
      // Local switching by VLAN (§1.4, §2.5); a vSwitch never hairpins uplink frames (§1.2).
      return la === lb ? { reach: 'reachable', via: 'local', reasons: [] }
        : { reach: 'unreachable', via: 'none', reasons: [`${nicLabel(a)} (${localText(la)}) and ${nicLabel(b)} (${localText(lb)}) share ${a.host.name}/${a.vswitch.name}, which switches only within one VLAN (§2.5) and never returns an uplink's frame upward (§1.2); the switch does not send it back out the port it came in on`] };
    }
    const ua = PhysicalGraph.teamUplinks(a.portGroup);
    const ub = PhysicalGraph.teamUplinks(b.portGroup);
    if (ua.length === 0 || ub.length === 0) {
      const who = ua.length === 0 ? a : b;
      return { reach: 'unreachable', via: 'none', reasons: [`${who.host.name}/${who.vswitch.name} has no uplink for port group ${who.portGroup.name}`] };
    }
    let ok = 0;
    let total = 0;
    const reasons = new Set<string>();
    const attA = ua.map((u) => this.attach(a.host, a.portGroup, a.nic, u));
    const attB = ub.map((u) => this.attach(b.host, b.portGroup, b.nic, u));
    for (const x of attA) {
      for (const y of attB) {
        total++;
        if (!x.ok) reasons.add(x.detail);
        else if (!y.ok) reasons.add(y.detail);
        else if (x.segment !== y.segment) reasons.add(`${a.host.name}.${x.uplink} lands in VLAN ${x.vlan} on ${x.switch.name}, ${b.host.name}.${y.uplink} in VLAN ${y.vlan} on ${y.switch.name}: not one broadcast domain`);
        else ok++;
      }
    }
    const reach: Reach = ok === total ? 'reachable' : ok === 0 ? 'unreachable' : 'partial';
    return { reach, via: ok > 0 ? 'physical' : 'none', reasons: [...reasons] };
  }
}

/** Every VM NIC with its host, vSwitch and port group (NICs whose port group did not resolve are left out). */
export function allNics(t: Topology): NicRef[] {
  const out: NicRef[] = [];
  for (const host of t.hosts) {
    for (const vm of host.vms) {
      for (const nic of vm.nics) {
        const found = findPortGroup(host, nic.portGroup);
        if (found) out.push({ host, vm, nic, vswitch: found.vswitch, portGroup: found.portGroup });
      }
    }
  }
  return out;
}

export function nicLabel(n: NicRef): string {
  return `${n.vm.name}.${n.nic.name}`;
}

/**
 * The physical VLAN a NIC is meant to be in: the port group's VLAN (VST), the guest's tag (VGT), or for
 * untagged traffic the access VLAN / native VLAN of the switch port its first cabled team uplink reaches.
 * 0 when untagged traffic reaches no switch (an internal-only vSwitch).
 */
export function intendedVlan(graph: PhysicalGraph, n: NicRef): number {
  const tag = nicWireTag(n.portGroup, n.nic);
  if (tag !== 'untagged') return tag;
  for (const u of PhysicalGraph.teamUplinks(n.portGroup)) {
    const p = graph.uplinkPort(n.host.name, u);
    if (p) return p.port.mode === 'access' ? p.port.accessVlan : p.port.nativeVlan;
  }
  return UNTAGGED_DOMAIN;
}

/** "VLAN 10", "VLAN 0 (untagged)". */
export function vlanLabel(vlan: number): string {
  return vlan === UNTAGGED_DOMAIN ? 'VLAN 0 (internal, untagged)' : `VLAN ${vlan}`;
}

// ---- IPv4 helpers (dotted text <-> 32-bit number) -------------------------------------------------

export function ipv4ToNumber(text: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

export function sameSubnet(a: VmNic, b: VmNic): boolean {
  if (!a.ip || !b.ip || a.ip.prefixLength !== b.ip.prefixLength) return false;
  const mask = a.ip.prefixLength === 0 ? 0 : (0xffffffff << (32 - a.ip.prefixLength)) >>> 0;
  return ((ipv4ToNumber(a.ip.address)! & mask) >>> 0) === ((ipv4ToNumber(b.ip.address)! & mask) >>> 0);
}
