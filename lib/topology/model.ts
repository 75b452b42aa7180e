// The typed, normalised topology model that lib/topology/load.ts builds from a topology YAML file, plus
// small helpers over it: VLAN list parsing and formatting, endpoint resolution ("esx1.vmnic0"), link
// peers and the deterministic MAC generator for vNICs written without a MAC. Every object carries the
// source location it came from, so daemons and the design-validation tool can point at file:line:field.
// Follows docs/vsphere-behaviour.md §2 (VLANs), §3 (teaming), §4 (security), §5 (shaping),
// §6.2 (static MAC range 00:50:56:00:00:00-3f:ff:ff), §8 (limits). Leaves out runtime state (link
// status, learned MACs): the model describes intended configuration only. Plain data, JSON-serialisable.

import { type Mac, macToString } from '../wire/mac.js';
import { closestName, didYouMean } from '../text/did-you-mean.js';
import type { IscsiAccess } from '../iscsi/access.js';
import type { Cluster } from './clusters.js';
import { HOST_INITIATOR_PREFIX } from '../iscsi/well-known.js';
export type { Cluster } from './clusters.js';

// ---------------------------------------------------------------------------------------------------
// Limits (spec §8 unless marked [INF])

/** Name length of hosts, switches, arrays, vSwitches, port groups, VMs, NICs, LUNs (spec §8: vSwitch name). */
export const MAX_NAME_LENGTH = 32;
export const MAX_VSWITCHES_PER_HOST = 127;
export const MAX_PORT_GROUPS_PER_VSWITCH = 512;
/** Ports per standard switch at creation (spec §8, 6.0). Counted as vNICs attached to the vSwitch. */
export const MAX_PORTS_PER_VSWITCH = 4088;
/** Active ports per host (spec §8); every vfab VM is powered on, so each vNIC is an active port. */
export const MAX_ACTIVE_PORTS_PER_HOST = 1016;
/** Physical NICs per host; also the uplink limit of one vSwitch (spec §8; 32-bit uplink masks). */
export const MAX_PNICS_PER_HOST = 32;
export const MAX_UPLINKS_PER_VSWITCH = 32;
export const MAX_VNICS_PER_VM = 10;
/** VMkernel ports per host [INF: vfab's limit; one kernel IP stack, as many interfaces as a VM's vNICs]. */
export const MAX_VMKERNELS_PER_HOST = 10;
export const MIN_VSWITCH_MTU_BYTES = 1280; // [INF] the smallest MTU ESXi's UI accepts
export const MAX_VSWITCH_MTU_BYTES = 9000;
export const DEFAULT_MTU_BYTES = 1500;
/** Physical switch MTU (system MTU); 9216 is the usual jumbo ceiling of Ethernet switches [INF]. */
export const MAX_SWITCH_MTU_BYTES = 9216;
export const MIN_MAC_AGING_SECONDS = 10; // IOS range 10-1000000
export const MAX_MAC_AGING_SECONDS = 1_000_000;
export const DEFAULT_MAC_AGING_SECONDS = 300;
/** Ports in one EtherChannel (IOS static channel) [INF]. */
export const MAX_PORT_CHANNEL_MEMBERS = 8;
export const MAX_SWITCH_PORTS = 1024; // [INF] per physical switch
/** Hosts in one topology: the hosts one vCenter Server manages (2500 in vSphere 7 and 8) [INF]. What one
 * machine runs is less (docs/scale.md: 100 hosts x 10 VMs in 15 s and about 2 GiB); the simulation more. */
export const MAX_HOSTS = 2500;
/** Links in one topology: two uplinks for each of MAX_HOSTS hosts, with room for switch-to-switch cables [INF]. */
export const MAX_LINKS = 16384;
/** Physical switches in one topology [INF]. */
export const MAX_SWITCHES = 64;
export const MAX_DISKS_PER_VM = 60; // [INF] 4 controllers x 15
export const MAX_LUNS_PER_ARRAY = 256; // [INF] SCSI LUN IDs 0-255 on a target
/** Paths per LUN [INF: ESXi allows 32]. */
export const MAX_STORAGE_PATHS = 32;
export const MAX_LUN_SIZE_GB = 65536; // [INF] VMFS 64 TB
export const BYTES_PER_GB = 1024 ** 3; // sizes in the file are GiB
export const BYTES_PER_MIB = 1024 ** 2; // cache sizes in the file are MiB
/** Largest topology file read; checked before parsing. */
export const MAX_TOPOLOGY_FILE_BYTES = 4 * 1024 * 1024;
/** Problems reported per load; the rest are counted in one last problem. */
export const MAX_PROBLEMS = 100;

export const SWITCH_VLAN_MIN = 1;
export const SWITCH_VLAN_MAX = 4094;
export const PORT_GROUP_VLAN_NONE = 0;
export const PORT_GROUP_VLAN_ALL = 4095;

/** Manual static MACs must be in 00:50:56:00:00:00-00:50:56:3f:ff:ff (spec §6.2). */
export const STATIC_MAC_BASE: Mac = 0x005056000000;
export const STATIC_MAC_COUNT = 0x400000;
/**
 * Generated vmkernel MACs: 00:50:56:40:00:00-00:50:56:7f:ff:ff, the VMware-OUI block between the manual
 * range (00-3f, where vfab puts generated VM MACs) and vCenter's 80-bf (spec §6.1, §6.2), so a generated
 * vmk MAC never equals a generated VM MAC.
 */
export const VMKERNEL_MAC_BASE: Mac = 0x005056400000;
export const VMKERNEL_MAC_COUNT = 0x400000;

// ---------------------------------------------------------------------------------------------------
// Model

/** Where an object or field came from; `path` is e.g. `hosts[0].vswitches[0].portGroups[1].vlan`. */
export interface SourceLoc {
  file: string;
  line: number;
  column: number;
  path: string;
}

/** Inclusive VLAN range; a VLAN set is a sorted list of disjoint, non-adjacent ranges. */
export type VlanRange = readonly [first: number, last: number];

export type SecurityVerdict = 'accept' | 'reject';
export type LoadBalancing = 'srcPortId' | 'srcMac' | 'ipHash' | 'explicit';
export type FailureDetection = 'linkStatus' | 'beaconProbing';
export type PathPolicy = 'roundRobin' | 'fixed' | 'mru';
export type SwitchPortMode = 'access' | 'trunk';
/** What a vmkernel port carries (vSphere's vmknic service tags; `storage` = iSCSI/NFS traffic). */
export type VmkernelService = 'management' | 'vmotion' | 'provisioning' | 'faultTolerance' | 'replication' | 'vsan' | 'storage';
export const VMKERNEL_SERVICES: readonly VmkernelService[] = ['management', 'vmotion', 'provisioning', 'faultTolerance', 'replication', 'vsan', 'storage'];
export type PortChannelLoadBalance =
  | 'src-mac' | 'dst-mac' | 'src-dst-mac' | 'src-ip' | 'dst-ip' | 'src-dst-ip';

export interface Topology {
  name: string;
  description: string;
  file: string;
  defaults: { macAgingSeconds: number; mtu: number; security: SecurityPolicy };
  switches: PhysicalSwitch[];
  hosts: Host[];
  links: Link[];
  arrays: StorageArray[];
  /** vSphere-HA clusters (clusters.ts); [] when the file lists none. */
  clusters: Cluster[];
  loc: SourceLoc;
}

export interface PhysicalSwitch {
  name: string;
  description: string;
  macAgingMs: number;
  mtu: number;
  ports: SwitchPort[];
  portChannels: PortChannel[];
  loc: SourceLoc;
}

export interface SwitchPort {
  name: string;
  description: string;
  mode: SwitchPortMode;
  /** Access VLAN (access ports; 1 by default). For trunks: 0. */
  accessVlan: number;
  /** VLANs carried by a trunk (1-4094 by default); `[[accessVlan, accessVlan]]` on an access port. */
  allowedVlans: VlanRange[];
  /** Untagged VLAN of a trunk (1 by default); equals accessVlan on an access port. */
  nativeVlan: number;
  /** Administratively down. */
  shutdown: boolean;
  /** Name of the port-channel this port belongs to, if any. */
  portChannel: string | undefined;
  /**
   * Set on a `mode: vxlan` port: the port is a VXLAN tunnel, not a cable end. Its `mode` is then the VLAN
   * behaviour over the tunnel ('access' in accessVlan, or 'trunk' with `vxlan.trunk: true`).
   */
  vxlan?: SwitchPortVxlan;
  loc: SourceLoc;
}

/** Where a switch's VXLAN socket binds when the topology does not say (tunnels to this machine). */
export const VXLAN_DEFAULT_LOCAL_ADDRESS = '127.0.0.1';

/** The tunnel of a `mode: vxlan` switch port (RFC 7348; docs/guests.md). */
export interface SwitchPortVxlan {
  /** VXLAN Network Identifier, 1..VXLAN_VNI_MAX. */
  vni: number;
  /** IPv4 address of the far endpoint. */
  remote: string;
  remotePort: number;
  /** Address the switch's socket binds (127.0.0.1 by default). */
  localAddress: string;
  /** Port the switch's socket binds (4789 by default); 0 = any free port, shown in status. */
  localPort: number;
}

export interface PortChannel {
  name: string;
  members: string[];
  mode: 'on';
  loadBalance: PortChannelLoadBalance;
  loc: SourceLoc;
}

export interface Host {
  name: string;
  description: string;
  vswitches: VSwitch[];
  vms: Vm[];
  /** VMkernel ports (vmk0, ...), in file order; [] when the file lists none. */
  vmkernels: Vmkernel[];
  storage: HostStorage[];
  /** VMFS-like datastores the host mounts when its storage attaches (docs/datastores.md); absent = none. */
  datastores?: HostDatastore[];
  /** Advanced options (hosts[].advanced); absent = defaults. */
  advanced?: { reversePathFwdCheckPromisc: 0 | 1 };
  loc: SourceLoc;
}

export interface TeamingPolicy {
  loadBalancing: LoadBalancing;
  /** Active uplinks in failover order. */
  active: string[];
  standby: string[];
  /** Uplinks of the vSwitch in neither list (never used, spec §3.1). */
  unused: string[];
  failback: boolean;
  notifySwitches: boolean;
  failureDetection: FailureDetection;
}

export interface SecurityPolicy {
  promiscuous: SecurityVerdict;
  macChanges: SecurityVerdict;
  forgedTransmits: SecurityVerdict;
}

/** Egress shaping of a vSS (spec §5); UI units: Kbit/s and KB. */
export interface TrafficShapingPolicy {
  enabled: boolean;
  averageKbps: number;
  peakKbps: number;
  burstKB: number;
}

export interface VSwitch {
  name: string;
  mtu: number;
  /** Uplink (vmnic) names in order; uplink index i = position in this list. */
  uplinks: string[];
  teaming: TeamingPolicy;
  security: SecurityPolicy;
  trafficShaping: TrafficShapingPolicy;
  portGroups: PortGroup[];
  loc: SourceLoc;
}

export interface PortGroup {
  name: string;
  /** 0 = untagged (EST), 1-4094 = VST, 4095 = VGT (spec §2.1). */
  vlan: number;
  /** Effective policies: the vSwitch's, with this port group's overrides applied. */
  teaming: TeamingPolicy;
  security: SecurityPolicy;
  trafficShaping: TrafficShapingPolicy;
  /** Which policy fields the port group overrides (for reports), e.g. ["teaming.active"]. */
  overrides: string[];
  /** Name of the vSwitch that holds this port group. */
  vswitch: string;
  loc: SourceLoc;
}

export interface IpInterface {
  /** Dotted IPv4 address, e.g. "192.0.2.11". */
  address: string;
  prefixLength: number;
  /** As written, normalised: "192.0.2.11/24". */
  text: string;
}

/** What a VM vNIC and a vmkernel port share: a named port on a port group, with a MAC and a gateway. */
export interface PortAttachment {
  name: string;
  portGroup: string;
  /** vSwitch holding the port group (resolved at load time). */
  vswitch: string;
  mac: Mac;
  macText: string;
  /** True if the MAC was generated (no `mac` in the file). */
  macGenerated: boolean;
  gateway: string | undefined;
  loc: SourceLoc;
}

export interface VmNic extends PortAttachment {
  ip: IpInterface | undefined;
  /** VLAN the guest tags its frames with (only on a 4095 port group); undefined = untagged. */
  guestVlan: number | undefined;
  /** IP MTU of the guest's interface (nics[].mtu, 68..9000, at most its vSwitch's); undefined = 1500. */
  mtu?: number;
}

/** A VMkernel port: the host's own IP interface on one of its port groups; `name` is vmk<number>. */
export interface Vmkernel extends PortAttachment {
  ip: IpInterface;
  /** IP MTU in bytes. */
  mtu: number;
  services: VmkernelService[];
}

export interface VmDisk {
  name: string;
  /** Array and LUN of a disk carved from a LUN (the LBA-0 directory); '' for a disk on a datastore. */
  array: string;
  lun: string;
  /** A disk that is a file on this datastore of the host (hosts[].datastores); absent = on array + lun. */
  datastore?: string;
  sizeBytes: number;
  loc: SourceLoc;
}

export interface Vm {
  name: string;
  host: string;
  nics: VmNic[];
  disks: VmDisk[];
  /** True: the VM runs in its own process and attaches to its vSwitch port over WebSocket. */
  external: boolean;
  /**
   * What runs the guest (topology `kind`; docs/guests.md): 'builtin' = vfab's own small IP stack (in its host,
   * or in a vm daemon when `external`); 'netns' = a Linux network namespace with a real kernel stack;
   * 'qemu' = a QEMU VM whose vNIC backend is the host. Absent in models built before kinds existed = builtin.
   */
  kind?: VmKind;
  /** A qemu guest's backend options (topology `qemu`; set for kind: qemu only). */
  qemu?: QemuOptions;
  /** Guest memory, MiB (what a vMotion copies; default DEFAULT_VM_MEMORY_MB). */
  memoryMB: number;
  /** MiB/s the guest writes while it runs (default DEFAULT_VM_DIRTY_RATE_MBPS). */
  dirtyRateMBps: number;
  /**
   * Set by the fabric plan on another host of the VM's HA cluster (daemons/fabric/plan.ts): the VM is
   * known there, powered off, so that an HA restart there brings its vNICs up. Absent in loaded files.
   */
  haStandby?: boolean;
  loc: SourceLoc;
}

export type VmKind = 'builtin' | 'netns' | 'qemu';
export const VM_KINDS: readonly VmKind[] = ['builtin', 'netns', 'qemu'];
/** True when the guest's stack is not vfab's own (a namespace or a QEMU VM): the host only switches its frames. */
export function isRealGuest(vm: { kind?: VmKind }): boolean {
  return vm.kind === 'netns' || vm.kind === 'qemu';
}

/**
 * How a qemu guest's vNICs reach their host (daemons/guests/qemu.ts): 'stream' = a TCP server on 127.0.0.1
 * that QEMU connects to (`-netdev stream` or `-netdev socket,connect=`), 'dgram' = a UDP socket on 127.0.0.1
 * (`-netdev dgram`). `port`: the first vNIC's port, the next vNICs take the ports after it; 0 = free ports.
 */
export interface QemuOptions {
  netdev: QemuNetdev;
  port: number;
}
export type QemuNetdev = 'stream' | 'dgram';
export const QEMU_NETDEVS: readonly QemuNetdev[] = ['stream', 'dgram'];

/** A VM's memory when the topology gives none, MiB (small: a vMotion of it takes well under a second). */
export const DEFAULT_VM_MEMORY_MB = 64;
/** Largest VM memory, MiB (the vMotion core's limit, 16 GiB). */
export const MAX_VM_MEMORY_MB = 16384;
/** A VM's dirty rate when the topology gives none, MiB/s. */
export const DEFAULT_VM_DIRTY_RATE_MBPS = 4;
export const MAX_VM_DIRTY_RATE_MBPS = 16384;

export { HOST_INITIATOR_PREFIX };
export function hostInitiatorName(host: string): string {
  return HOST_INITIATOR_PREFIX + host;
}

/** How a host's paths reach an array: vfab's WebSocket block protocol or iSCSI (docs/iscsi.md). */
export type StorageProtocol = 'block' | 'iscsi';
export const STORAGE_PROTOCOLS: readonly StorageProtocol[] = ['block', 'iscsi'];

export interface HostStorage {
  array: string;
  luns: string[];
  paths: number;
  policy: PathPolicy;
  protocol: StorageProtocol;
  loc: SourceLoc;
}

/** A datastore a host mounts: `name` (its label) on LUN `lun` of array `array`, or on NAS share `share` of it. */
export interface HostDatastore {
  name: string;
  array: string;
  /** The LUN of a VMFS-like datastore; '' for a NAS datastore. */
  lun: string;
  /** The NAS share of a NAS datastore (arrays[].shares); absent for a VMFS-like one. */
  share?: string;
  loc: SourceLoc;
}

export interface Link {
  /** Canonical endpoints "<node>.<interface>". */
  a: string;
  b: string;
  loc: SourceLoc;
}

export interface StorageArray {
  name: string;
  luns: Lun[];
  /** NAS shares served on the array's /nas endpoint (docs/nas-protocol.md). */
  shares: NasShare[];
  /** The array's read cache (stored --read-cache-mb); DEFAULT_READ_CACHE_BYTES unless the topology says. */
  readCacheBytes: number;
  /**
   * The iSCSI portal (stored --iscsi-port), when the topology asks for one, with who may log in: the
   * initiator ACL (absent: every initiator) and CHAP (absent: none). The secrets stay in the run config.
   */
  iscsi?: { port: number } & IscsiAccess;
  /**
   * Where the array keeps its LevelDB store, as written in the file (relative paths are relative to the
   * topology file's folder; `vfab up` resolves them). Absent: `.vfab/arrays/<name>/` in the state dir.
   */
  dataDir?: string;
  loc: SourceLoc;
}

export interface NasShare {
  name: string;
  sizeMB: number;
  loc: SourceLoc;
}

export interface Lun {
  name: string;
  /** SCSI LUN number on the array's target. */
  lunId: number;
  blockSizeBytes: 512 | 4096;
  sizeBytes: number;
  blockCount: number;
  /** false: the array has no ATS (COMPARE AND WRITE) on this LUN; absent = on. */
  ats?: false;
  /** 'thick': fully provisioned (no UNMAP, every block mapped); absent = thin. */
  provisioning?: 'thick';
  loc: SourceLoc;
}

// ---------------------------------------------------------------------------------------------------
// VLAN lists

export type VlanListResult = { ok: true; ranges: VlanRange[] } | { ok: false; message: string; hint?: string };

/**
 * Parses a VLAN list as written in the file: a number, a string such as "10,20,100-110" or "all", or a
 * list mixing both (`[10, "100-110"]`). Returns merged, sorted ranges, or a message for the first bad item.
 */
export function parseVlanList(value: unknown, min = SWITCH_VLAN_MIN, max = SWITCH_VLAN_MAX): VlanListResult {
  const items: unknown[] = Array.isArray(value) ? value : [value];
  const ranges: Array<[number, number]> = [];
  for (const item of items) {
    if (typeof item === 'number') {
      if (!Number.isInteger(item) || item < min || item > max) {
        return { ok: false, message: `VLAN ${item} is out of range ${min}-${max}` };
      }
      ranges.push([item, item]);
      continue;
    }
    if (typeof item !== 'string') return { ok: false, message: `expected a VLAN number or range, got ${typeof item}` };
    const text = item.trim();
    if (text === '') continue;
    if (text.toLowerCase() === 'all') {
      ranges.push([min, max]);
      continue;
    }
    for (const part of text.split(',')) {
      const m = /^\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?$/.exec(part);
      if (!m) {
        return { ok: false, message: `\`${part.trim()}\` is not a VLAN or a range`, hint: 'write e.g. "10,20,100-110" or "all"' };
      }
      const first = Number(m[1]);
      const last = m[2] === undefined ? first : Number(m[2]);
      for (const v of [first, last]) {
        if (v < min || v > max) return { ok: false, message: `VLAN ${v} is out of range ${min}-${max}` };
      }
      if (last < first) return { ok: false, message: `range \`${part.trim()}\` is reversed`, hint: `write ${last}-${first}` };
      ranges.push([first, last]);
    }
  }
  return { ok: true, ranges: mergeVlanRanges(ranges) };
}

export function mergeVlanRanges(ranges: ReadonlyArray<VlanRange>): VlanRange[] {
  const sorted = [...ranges].sort((x, y) => x[0] - y[0]);
  const out: Array<[number, number]> = [];
  for (const [first, last] of sorted) {
    const prev = out[out.length - 1];
    if (prev && first <= prev[1] + 1) prev[1] = Math.max(prev[1], last);
    else out.push([first, last]);
  }
  return out;
}

export function vlanSetHas(ranges: ReadonlyArray<VlanRange>, vid: number): boolean {
  for (const [first, last] of ranges) if (vid >= first && vid <= last) return true;
  return false;
}

export function expandVlanRanges(ranges: ReadonlyArray<VlanRange>): number[] {
  const out: number[] = [];
  for (const [first, last] of ranges) for (let v = first; v <= last; v++) out.push(v);
  return out;
}

/** "1,10,20-30" (IOS style). Empty set: "none". */
export function formatVlanRanges(ranges: ReadonlyArray<VlanRange>): string {
  if (ranges.length === 0) return 'none';
  return ranges.map(([f, l]) => (f === l ? `${f}` : `${f}-${l}`)).join(',');
}

// ---------------------------------------------------------------------------------------------------
// Generated MACs

/** FNV-1a, 32 bits, over UTF-16 code units; stable across runs and platforms. */
function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * The MAC vfab gives a vNIC written without one: 00:50:56:00:00:00-3f:ff:ff (spec §6.2), picked by a
 * hash of "<host>/<vm>/<nic>". `taken` holds MACs already in use; on a clash the next free address in
 * the range is used, so the result is unique within `taken` and depends only on the file's contents.
 */
export function generateNicMac(host: string, vm: string, nic: string, taken?: ReadonlySet<Mac>): Mac {
  return macInBlock(STATIC_MAC_BASE, STATIC_MAC_COUNT, `${host}/${vm}/${nic}`, taken, 'static');
}

/** The MAC at hash(`key`) in the block of `count` MACs from `base`, else the next one not in `taken`. */
function macInBlock(base: Mac, count: number, key: string, taken: ReadonlySet<Mac> | undefined, what: string): Mac {
  let offset = fnv1a32(key) % count;
  for (let tries = 0; tries < count; tries++) {
    const mac = base + offset;
    if (!taken || !taken.has(mac)) return mac;
    offset = (offset + 1) % count;
  }
  throw new RangeError(`${what} MAC range exhausted`);
}

/**
 * The MAC vfab gives a vmkernel port written without one: VMKERNEL_MAC_BASE plus a hash of
 * "<host>/<vmk>", the next free address on a clash with `taken` (as generateNicMac).
 */
export function generateVmkernelMac(host: string, vmk: string, taken?: ReadonlySet<Mac>): Mac {
  return macInBlock(VMKERNEL_MAC_BASE, VMKERNEL_MAC_COUNT, `${host}/${vmk}`, taken, 'vmkernel');
}

export function isStaticVmwareMac(mac: Mac): boolean {
  return mac >= STATIC_MAC_BASE && mac < STATIC_MAC_BASE + STATIC_MAC_COUNT;
}

export { macToString };

// ---------------------------------------------------------------------------------------------------
// Lookups, endpoints, links

export function findHost(t: Topology, name: string): Host | undefined {
  return t.hosts.find((h) => h.name === name);
}
export function findSwitch(t: Topology, name: string): PhysicalSwitch | undefined {
  return t.switches.find((s) => s.name === name);
}
export function findArray(t: Topology, name: string): StorageArray | undefined {
  return t.arrays.find((a) => a.name === name);
}
export function findVm(t: Topology, name: string): { host: Host; vm: Vm } | undefined {
  for (const host of t.hosts) {
    const vm = host.vms.find((v) => v.name === name);
    if (vm) return { host, vm };
  }
  return undefined;
}
/** Port group by name on a host (names are unique per host), with its vSwitch. */
export function findPortGroup(host: Host, name: string): { vswitch: VSwitch; portGroup: PortGroup } | undefined {
  for (const vswitch of host.vswitches) {
    const portGroup = vswitch.portGroups.find((p) => p.name === name);
    if (portGroup) return { vswitch, portGroup };
  }
  return undefined;
}
/** The vSwitch that owns uplink `pnic` on `host` (a pNIC belongs to one vSwitch, spec §8). */
export function findUplink(host: Host, pnic: string): { vswitch: VSwitch; uplinkIndex: number } | undefined {
  for (const vswitch of host.vswitches) {
    const uplinkIndex = vswitch.uplinks.indexOf(pnic);
    if (uplinkIndex >= 0) return { vswitch, uplinkIndex };
  }
  return undefined;
}

export type EndpointRef =
  | { kind: 'uplink'; endpoint: string; host: Host; vswitch: VSwitch; uplink: string; uplinkIndex: number }
  | { kind: 'switchPort'; endpoint: string; switch: PhysicalSwitch; port: SwitchPort }
  | { kind: 'vmNic'; endpoint: string; host: Host; vm: Vm; nic: VmNic }
  | { kind: 'vmkernel'; endpoint: string; host: Host; vmkernel: Vmkernel };

export type EndpointResolution =
  | { ok: true; ref: EndpointRef }
  | { ok: false; message: string; hint?: string };

/**
 * What "<node>.<interface>" names: a host uplink ("esx1.vmnic0"), a host's vmkernel port ("esx1.vmk0"),
 * a physical switch port ("sw1.Gi1/0/1") or a VM NIC ("web1.nic0"). The node is the text before the first dot (node names hold no dots).
 */
export function resolveEndpointDetailed(t: Topology, text: string): EndpointResolution {
  const dot = text.indexOf('.');
  if (dot <= 0 || dot === text.length - 1) {
    return { ok: false, message: `\`${text}\` is not an endpoint`, hint: 'write <node>.<interface>, e.g. esx1.vmnic0 or sw1.Gi1/0/1' };
  }
  const node = text.slice(0, dot);
  const iface = text.slice(dot + 1);
  const host = findHost(t, node);
  if (host) {
    const up = findUplink(host, iface);
    if (up) return { ok: true, ref: { kind: 'uplink', endpoint: text, host, vswitch: up.vswitch, uplink: iface, uplinkIndex: up.uplinkIndex } };
    const vmk = host.vmkernels.find((k) => k.name === iface);
    if (vmk) return { ok: true, ref: { kind: 'vmkernel', endpoint: text, host, vmkernel: vmk } };
    const known = host.vswitches.flatMap((v) => v.uplinks);
    return {
      ok: false,
      message: `host ${node} has no uplink \`${iface}\`${didYouMean(iface, known)}`,
      hint: known.length ? `uplinks of ${node}: ${known.join(', ')} (declared under vswitches[].uplinks)` : `add ${iface} to a vSwitch's uplinks on ${node}`,
    };
  }
  const sw = findSwitch(t, node);
  if (sw) {
    const port = sw.ports.find((p) => p.name === iface);
    if (port) return { ok: true, ref: { kind: 'switchPort', endpoint: text, switch: sw, port } };
    const pc = sw.portChannels.find((p) => p.name === iface);
    if (pc) {
      return { ok: false, message: `${iface} is a port-channel, not a port`, hint: `link its member ports instead (${pc.members.join(', ')})` };
    }
    return {
      ok: false,
      message: `switch ${node} has no port \`${iface}\`${didYouMean(iface, sw.ports.map((p) => p.name))}`,
      hint: `declare it under the ports of switch ${node}`,
    };
  }
  const found = findVm(t, node);
  if (found) {
    const nic = found.vm.nics.find((n) => n.name === iface);
    if (nic) return { ok: true, ref: { kind: 'vmNic', endpoint: text, host: found.host, vm: found.vm, nic } };
    return { ok: false, message: `VM ${node} has no NIC \`${iface}\`${didYouMean(iface, found.vm.nics.map((n) => n.name))}` };
  }
  if (findArray(t, node)) {
    return { ok: false, message: `${node} is a storage array; it has no Ethernet interfaces`, hint: 'hosts reach arrays through hosts[].storage' };
  }
  const nodes = [...t.hosts.map((h) => h.name), ...t.switches.map((s) => s.name)];
  return { ok: false, message: `unknown node \`${node}\`${didYouMean(node, nodes)}`, hint: nodes.length ? `known hosts and switches: ${nodes.join(', ')}` : undefined };
}

export function resolveEndpoint(t: Topology, text: string): EndpointRef | undefined {
  const r = resolveEndpointDetailed(t, text);
  return r.ok ? r.ref : undefined;
}

/** The endpoint at the other end of the link attached to `endpoint`, if any. */
export function linkPeer(t: Topology, endpoint: string): EndpointRef | undefined {
  for (const link of t.links) {
    if (link.a === endpoint) return resolveEndpoint(t, link.b);
    if (link.b === endpoint) return resolveEndpoint(t, link.a);
  }
  return undefined;
}

export interface LinkPeer {
  link: Link;
  /** Interface on `node` ("vmnic0", "Gi1/0/1"). */
  localInterface: string;
  remote: EndpointRef;
}

/** Every link of a node (host or switch), with the far end resolved, in file order. */
export function linkPeers(t: Topology, node: string): LinkPeer[] {
  const out: LinkPeer[] = [];
  const prefix = `${node}.`;
  for (const link of t.links) {
    for (const [local, remote] of [[link.a, link.b], [link.b, link.a]] as const) {
      if (!local.startsWith(prefix)) continue;
      const ref = resolveEndpoint(t, remote);
      if (ref) out.push({ link, localInterface: local.slice(prefix.length), remote: ref });
    }
  }
  return out;
}

// Did-you-mean lives in lib/text/did-you-mean.ts (the CLI uses it too); re-exported for the loaders.
export { closestName, didYouMean };
