// From a loaded topology to what each daemon runs: one host daemon per ESX host, one switch daemon per
// physical switch, one storage daemon per array. Covers each daemon's config document and, for every
// link, which end dials (the WebSocket client) and which listens. Rule: a host uplink always dials the
// physical-switch port; between two switches (or two hosts) the end written first in the file dials.
// External VMs (`external: true`): one vm daemon each (daemons/vmd.ts), named like the VM; each vNIC is a
// link whose host end listens at /link/<vm>.<nic> and whose VM end dials it.
// Pure: no I/O.

import { arrayIqn } from '../storage/iscsi-portal.js';
import type { ChapTargetConfig } from '../../lib/iscsi/chap.js';
import type { Topology, Host, PhysicalSwitch, StorageArray, Vm } from '../../lib/topology/model.js';
import type { ClusterInput } from '../../lib/ha/config.js';
import type { DaemonKind } from './state.js';
import type { FabricClockAnchor } from '../../lib/fabric-clock.js';

export interface LinkEnd {
  /** This daemon's interface: a vmnic name on a host, a port name on a switch. */
  local: string;
  /** The other end, "<node>.<interface>". */
  peer: string;
  peerNode: string;
  peerInterface: string;
  /**
   * 'dial': this end connects to the peer's /link/<peerInterface>; 'listen': it waits; 'attach': the daemon
   * attaches a link of another transport itself (a VXLAN tunnel, a real guest's backend: DaemonLinks.attach).
   */
  role: 'dial' | 'listen' | 'attach';
}

export interface HostConfig {
  kind: 'host';
  fabric: string;
  host: Host;
  links: LinkEnd[];
  timeScale: number;
  /** The fabric clock's anchor: the daemon's clock, event and capture times run on it. */
  clock?: FabricClockAnchor;
  /** The vSphere-HA cluster this host is in (lib/ha's input; daemons/ha/ runs its agent). */
  cluster?: ClusterInput;
  /**
   * The iSCSI portal of each array this host reaches with `protocol: iscsi`: address, port (0 = the array
   * picks one at start; `vfab up` then asks the array) and target IQN.
   */
  iscsiTargets?: Record<string, IscsiTargetRef>;
}

export interface IscsiTargetRef {
  address: string;
  port: number;
  iqn: string;
  /** The CHAP the array's portal asks for (arrays[].iscsi.chap): the host logs in with it (config files are private). */
  chap?: ChapTargetConfig;
}

export interface SwitchConfig {
  kind: 'switch';
  fabric: string;
  switch: PhysicalSwitch;
  links: LinkEnd[];
  timeScale: number;
  /** The fabric clock's anchor: the daemon's clock, event and capture times run on it. */
  clock?: FabricClockAnchor;
}

export interface ArrayConfig {
  kind: 'array';
  fabric: string;
  array: StorageArray;
  /** Filled in by `vfab up`: the absolute folder of the array's store (daemons/fabric/stores.ts). */
  dataDir?: string;
  /** The fabric clock's anchor: times the array reports (iSCSI login times) run on it. */
  clock?: FabricClockAnchor;
  timeScale?: number;
}

/** An external VM's daemon (vmd). Link ends: one 'dial' end per vNIC, `local` = the vNIC name. */
export interface VmConfig {
  kind: 'vm';
  fabric: string;
  vm: Vm;
  /** The host whose vSwitch ports the vNICs attach to. */
  host: string;
  links: LinkEnd[];
  timeScale: number;
  /** The fabric clock's anchor: the daemon's clock, event and capture times run on it. */
  clock?: FabricClockAnchor;
  /** Filled in by `vfab up` once the host listens: the WebSocket URL of each vNIC's port, by vNIC name. */
  nicUrls?: Record<string, string>;
  /** Filled in by `vfab up`: the host daemon's control port (vNIC MAC/promiscuous programming). */
  hostControlPort?: number;
}

export type DaemonConfig = HostConfig | SwitchConfig | ArrayConfig | VmConfig;

export interface PlannedDaemon {
  name: string;
  kind: DaemonKind;
  config: DaemonConfig;
}

function splitEndpoint(ep: string): [string, string] {
  const dot = ep.indexOf('.');
  return [ep.slice(0, dot), ep.slice(dot + 1)];
}

export function planFabric(topology: Topology, timeScale = 1, clock?: FabricClockAnchor): PlannedDaemon[] {
  const anchor = clock ? { clock } : {};
  const hostNames = new Set(topology.hosts.map((h) => h.name));
  const ends = new Map<string, LinkEnd[]>();
  const add = (node: string, end: LinkEnd) => {
    const list = ends.get(node) ?? [];
    list.push(end);
    ends.set(node, list);
  };
  for (const link of topology.links) {
    const [aNode, aIf] = splitEndpoint(link.a);
    const [bNode, bIf] = splitEndpoint(link.b);
    // the host end dials when exactly one end is a host; otherwise the first-written end dials
    const aDials = hostNames.has(aNode) === hostNames.has(bNode) ? true : hostNames.has(aNode);
    add(aNode, { local: aIf, peer: link.b, peerNode: bNode, peerInterface: bIf, role: aDials ? 'dial' : 'listen' });
    add(bNode, { local: bIf, peer: link.a, peerNode: aNode, peerInterface: aIf, role: aDials ? 'listen' : 'dial' });
  }
  const plan: PlannedDaemon[] = [];
  for (const sw of topology.switches) {
    plan.push({ name: sw.name, kind: 'switch', config: { kind: 'switch', fabric: topology.name, switch: sw, links: ends.get(sw.name) ?? [], timeScale, ...anchor } });
  }
  for (const array of topology.arrays) {
    plan.push({ name: array.name, kind: 'array', config: { kind: 'array', fabric: topology.name, array, timeScale, ...anchor } });
  }
  for (const host of topology.hosts) {
    const vmEnds = host.vms.filter((vm) => vm.external).flatMap((vm) => externalVmEnds(host.name, vm).hostEnds);
    const cluster = (topology.clusters ?? []).find((c) => c.hosts.includes(host.name));
    const standby = cluster ? haStandbyVms(topology, host, cluster.hosts) : [];
    const iscsiTargets: Record<string, IscsiTargetRef> = {};
    for (const s of host.storage) {
      const portal = topology.arrays.find((a) => a.name === s.array)?.iscsi;
      if (s.protocol === 'iscsi' && portal) iscsiTargets[s.array] = { address: '127.0.0.1', port: portal.port, iqn: arrayIqn(s.array), ...(portal.chap ? { chap: portal.chap } : {}) };
    }
    plan.push({
      name: host.name,
      kind: 'host',
      config: {
        kind: 'host', fabric: topology.name, host: standby.length > 0 ? { ...host, vms: [...host.vms, ...standby] } : host, links: [...(ends.get(host.name) ?? []), ...vmEnds], timeScale, ...anchor,
        ...(Object.keys(iscsiTargets).length > 0 ? { iscsiTargets } : {}),
        ...(cluster ? { cluster: cluster.input } : {}),
      },
    });
  }
  for (const host of topology.hosts) {
    for (const vm of host.vms) {
      if (!vm.external) continue;
      plan.push({ name: vm.name, kind: 'vm', config: { kind: 'vm', fabric: topology.name, vm, host: host.name, links: externalVmEnds(host.name, vm).vmEnds, timeScale, ...anchor } });
    }
  }
  return plan;
}

/**
 * The VMs of the other hosts of `host`'s HA cluster that HA could restart on it (files on a datastore,
 * not external, every port group present here), as powered-off copies on this host's vSwitches.
 */
export function haStandbyVms(topology: Topology, host: Host, clusterHosts: readonly string[]): Vm[] {
  const vswitchOf = (pg: string) => host.vswitches.find((v) => v.portGroups.some((p) => p.name === pg))?.name;
  return topology.hosts
    .filter((h) => h.name !== host.name && clusterHosts.includes(h.name))
    .flatMap((h) => h.vms)
    .filter((vm) => !vm.external && vm.disks.some((d) => d.datastore) && vm.nics.every((n) => vswitchOf(n.portGroup) !== undefined))
    .map((vm) => ({ ...vm, host: host.name, haStandby: true, nics: vm.nics.map((n) => ({ ...n, vswitch: vswitchOf(n.portGroup)! })) }));
}

/** The two ends of each vNIC link of an external VM: the host listens at "<vm>.<nic>", the VM dials. */
export function externalVmEnds(hostName: string, vm: Vm): { hostEnds: LinkEnd[]; vmEnds: LinkEnd[] } {
  const hostEnds: LinkEnd[] = [];
  const vmEnds: LinkEnd[] = [];
  for (const n of vm.nics) {
    const hostIf = `${vm.name}.${n.name}`;
    hostEnds.push({ local: hostIf, peer: `${vm.name}.${n.name}`, peerNode: vm.name, peerInterface: n.name, role: 'listen' });
    vmEnds.push({ local: n.name, peer: `${hostName}.${hostIf}`, peerNode: hostName, peerInterface: hostIf, role: 'dial' });
  }
  return { hostEnds, vmEnds };
}

/**
 * The WebSocket URL of a daemon's link endpoint for one of its interfaces: ws://127.0.0.1 by default,
 * wss:// and another address for a daemon that listens with TLS elsewhere (vfab up --tls, Kubernetes).
 */
export function linkUrl(port: number, iface: string, at: { host?: string; tls?: boolean } = {}): string {
  return `${at.tls ? 'wss' : 'ws'}://${at.host ?? '127.0.0.1'}:${port}/link/${encodeURIComponent(iface)}`;
}
