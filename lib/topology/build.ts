// Builds the typed topology model (model.ts) from a parsed YAML value and runs the semantic checks that
// a JSON Schema cannot express: unique names, references between objects, endpoints used twice,
// VLAN lists, IP/prefix/gateway, limits of spec §8, and teaming that cannot work (spec §3.1, §3.4, §3.9).
// Port-group teaming/security/shaping overrides are resolved against the vSwitch's into effective values.
// The input may still hold schema errors (load.ts reports those): every read here tolerates a wrong type
// by falling back to the default, so the checks never throw and all problems come out in one pass.
// Leaves out design findings that are legal configuration (duplicate MACs, native VLAN traps, IP hash
// without a port-channel...): the validate tool reports those.

import { isGroupMac, macToString, parseMac, type Mac } from '../wire/mac.js';
import {
  BYTES_PER_GB, BYTES_PER_MIB, DEFAULT_MAC_AGING_SECONDS, DEFAULT_MTU_BYTES, MAX_ACTIVE_PORTS_PER_HOST,
  MAX_PNICS_PER_HOST, MAX_PORTS_PER_VSWITCH, MAX_UPLINKS_PER_VSWITCH, PORT_GROUP_VLAN_ALL, didYouMean, formatVlanRanges,
  STORAGE_PROTOCOLS, hostInitiatorName, generateNicMac, generateVmkernelMac, parseVlanList, resolveEndpointDetailed, VMKERNEL_SERVICES,
  type FailureDetection, type Host, type HostDatastore, type HostStorage, type LoadBalancing, type Link, type Lun, type NasShare,
  type PathPolicy, type PhysicalSwitch, type PortChannel, type PortChannelLoadBalance, type PortGroup,
  type SecurityPolicy, type SecurityVerdict, type StorageArray, type SwitchPort, type SwitchPortVxlan, type TeamingPolicy,
  type Topology, type TrafficShapingPolicy, type Vm, type VmDisk, type VmNic, type VSwitch, type IpInterface, type Vmkernel,
  type VmkernelService, type QemuOptions, DEFAULT_VM_MEMORY_MB, VXLAN_DEFAULT_LOCAL_ADDRESS, VM_KINDS, QEMU_NETDEVS, DEFAULT_VM_DIRTY_RATE_MBPS,
} from './model.js';
import { DEFAULT_READ_CACHE_BYTES } from '../storage/block-cache.js';
import { VXLAN_DEFAULT_UDP_PORT } from '../wire/vxlan.js';
import { ISCSI_DEFAULT_PORT } from '../iscsi/negotiate.js';
import { accessProblems, initiatorAllowed } from '../iscsi/access.js';
import { buildClusters } from './clusters.js';
import { type Locator, type PathSeg, type TopologyProblem, pathText } from './source.js';

type Raw = Record<string, unknown>;

const obj = (x: unknown): Raw => (x !== null && typeof x === 'object' && !Array.isArray(x) ? (x as Raw) : {});
const list = (x: unknown): unknown[] => (Array.isArray(x) ? x : []);
const str = (x: unknown, d: string): string => (typeof x === 'string' ? x : d);
const int = (x: unknown, d: number): number => (typeof x === 'number' && Number.isInteger(x) ? x : d);
const num = (x: unknown, d: number): number => (typeof x === 'number' && Number.isFinite(x) ? x : d);
const bool = (x: unknown, d: boolean): boolean => (typeof x === 'boolean' ? x : d);
const has = (o: Raw, k: string): boolean => o[k] !== undefined && o[k] !== null;
function pick<T extends string | number>(x: unknown, allowed: readonly T[], d: T): T {
  return allowed.includes(x as T) ? (x as T) : d;
}
const strList = (x: unknown): string[] => list(x).filter((v): v is string => typeof v === 'string');

const SECURITY_DEFAULTS: SecurityPolicy = { promiscuous: 'reject', macChanges: 'reject', forgedTransmits: 'reject' };
const SHAPING_DEFAULTS: TrafficShapingPolicy = { enabled: false, averageKbps: 100000, peakKbps: 100000, burstKB: 102400 };
const VERDICTS: readonly SecurityVerdict[] = ['accept', 'reject'];
const LOAD_BALANCING: readonly LoadBalancing[] = ['srcPortId', 'srcMac', 'ipHash', 'explicit'];
const DETECTION: readonly FailureDetection[] = ['linkStatus', 'beaconProbing'];
const PC_LOAD_BALANCE: readonly PortChannelLoadBalance[] = ['src-mac', 'dst-mac', 'src-dst-mac', 'src-ip', 'dst-ip', 'src-dst-ip'];
const PATH_POLICIES: readonly PathPolicy[] = ['roundRobin', 'fixed', 'mru'];

export interface BuildResult {
  topology: Topology;
  problems: TopologyProblem[];
}

/** Builds the model from `raw` (the YAML document as plain data) and returns it with every problem found. */
export function buildTopology(raw: unknown, at: Locator): BuildResult {
  return new Builder(at).build(raw);
}

class Builder {
  readonly problems: TopologyProblem[] = [];
  /** Explicit MACs in the fabric (generated ones avoid them). */
  private readonly takenMacs = new Set<Mac>();
  private readonly pendingMacs: Array<{ host: string; vm: string; nic: VmNic }> = [];
  private readonly pendingVmkMacs: Array<{ host: string; vmk: Vmkernel }> = [];
  /** Every vmkernel port with the path of its entry (fabric-wide IP and MAC checks run once all are read). */
  private readonly vmkEntries: Array<{ host: string; vmk: Vmkernel; segs: PathSeg[]; explicitMac: boolean }> = [];
  /** Hosts whose uplink or port group lists had the wrong type (the schema reports it): lookups into
   * them would only repeat that mistake, so dangling-reference checks skip them. */
  private readonly unsureUplinks = new Set<string>();
  private readonly unsurePortGroups = new Set<string>();

  constructor(private readonly at: Locator) {}

  private report(segs: readonly PathSeg[], message: string, hint?: string, onKey = false): void {
    this.problems.push(this.at.problem(segs, message, hint, onKey));
  }
  private line(segs: readonly PathSeg[]): number {
    return this.at.loc(segs).line;
  }

  build(rawValue: unknown): BuildResult {
    const root = obj(rawValue);
    const rd = obj(root.defaults);
    const defaults = {
      macAgingSeconds: int(rd.macAgingSeconds, DEFAULT_MAC_AGING_SECONDS),
      mtu: int(rd.mtu, DEFAULT_MTU_BYTES),
      security: this.security(obj(rd.security), SECURITY_DEFAULTS),
    };
    this.checkNodeNames(root);
    const arrays = list(root.arrays).map((a, i) => this.array(obj(a), ['arrays', i]));
    const dataDirs = new Map<string, PathSeg[]>();
    arrays.forEach((a, i) => {
      // two arrays in one store would fight over its lock (and its LUN table): one folder each
      if (a.dataDir) this.unique(dataDirs, a.dataDir.replace(/\/+$/, ''), ['arrays', i, 'dataDir'], 'array dataDir', 'give each array its own folder');
    });
    const switches = list(root.switches).map((s, i) => this.switch(obj(s), ['switches', i], defaults.macAgingSeconds));
    this.checkVxlanSockets(switches);
    const hosts = list(root.hosts).map((h, i) => this.host(obj(h), ['hosts', i], defaults, arrays));
    this.checkVmkernelAddresses(hosts);
    this.assignGeneratedMacs();
    const topology: Topology = {
      name: str(root.name, ''),
      description: str(root.description, ''),
      file: this.at.file,
      defaults,
      switches,
      hosts,
      links: [],
      arrays,
      clusters: [],
      loc: this.at.loc([]),
    };
    topology.links = this.links(list(root.links), topology);
    const clusters = buildClusters(root.clusters, hosts, this.at); // vSphere-HA clusters (clusters.ts)
    topology.clusters = clusters.clusters;
    this.problems.push(...clusters.problems);
    return { topology, problems: this.problems };
  }

  // ---- names shared by the whole fabric: hosts, switches, arrays, VMs ----------------------------

  private checkNodeNames(root: Raw): void {
    const entries: Array<{ name: string; kind: string; segs: PathSeg[]; line: number }> = [];
    const add = (kind: string, name: unknown, segs: PathSeg[]) => {
      if (typeof name === 'string') entries.push({ name, kind, segs, line: this.line(segs) });
    };
    list(root.switches).forEach((s, i) => add('switch', obj(s).name, ['switches', i, 'name']));
    list(root.arrays).forEach((a, i) => add('array', obj(a).name, ['arrays', i, 'name']));
    list(root.hosts).forEach((h, i) => {
      add('host', obj(h).name, ['hosts', i, 'name']);
      list(obj(h).vms).forEach((v, j) => add('VM', obj(v).name, ['hosts', i, 'vms', j, 'name']));
    });
    entries.sort((x, y) => x.line - y.line);
    const seen = new Map<string, (typeof entries)[number]>();
    for (const e of entries) {
      const first = seen.get(e.name);
      if (first) {
        this.report(
          e.segs,
          `duplicate name \`${e.name}\`: the ${first.kind} at ${pathText(first.segs.slice(0, -1))} (line ${first.line}) already has it`,
          'hosts, switches, arrays and VMs share one namespace (link endpoints start with the name); rename one',
        );
      } else seen.set(e.name, e);
    }
  }

  /** Reports a second use of `name` in a scope; returns false if it was a duplicate. */
  private unique(scope: Map<string, PathSeg[]>, name: string, segs: PathSeg[], what: string, hint?: string): boolean {
    const first = scope.get(name);
    if (first) {
      this.report(segs, `duplicate ${what} \`${name}\` (first at ${pathText(first)}, line ${this.line(first)})`, hint);
      return false;
    }
    scope.set(name, segs);
    return true;
  }

  // ---- storage arrays ----------------------------------------------------------------------------

  private array(r: Raw, segs: PathSeg[]): StorageArray {
    const names = new Map<string, PathSeg[]>();
    const ids = new Map<string, PathSeg[]>();
    const luns: Lun[] = list(r.luns).map((l, i) => {
      const rl = obj(l);
      const ls = [...segs, 'luns', i];
      const name = str(rl.name, '');
      if (name) this.unique(names, name, [...ls, 'name'], 'LUN name', 'LUN names are unique within an array');
      const lunId = int(rl.id, i);
      this.unique(ids, String(lunId), has(rl, 'id') ? [...ls, 'id'] : ls, 'LUN id', 'give each LUN its own id (0-255)');
      const blockSizeBytes = pick(rl.blockSize, [512, 4096] as const, 512);
      const sizeBytes = Math.round(num(rl.sizeGB, 1) * BYTES_PER_GB);
      if (sizeBytes % blockSizeBytes !== 0) {
        this.report([...ls, 'sizeGB'], `size ${rl.sizeGB} GiB is not a whole number of ${blockSizeBytes}-byte blocks`,
          `round it, e.g. ${Math.max(1, Math.round(sizeBytes / BYTES_PER_GB))}`);
      }
      return {
        name, lunId, blockSizeBytes, sizeBytes: Math.floor(sizeBytes / blockSizeBytes) * blockSizeBytes,
        blockCount: Math.floor(sizeBytes / blockSizeBytes), ...(rl.ats === false ? { ats: false as const } : {}),
        ...(rl.provisioning === 'thick' ? { provisioning: 'thick' as const } : {}), loc: this.at.loc(ls),
      };
    });
    const shareNames = new Map<string, PathSeg[]>();
    const shares: NasShare[] = list(r.shares).map((sh, i) => {
      const rs = obj(sh);
      const ss = [...segs, 'shares', i];
      const name = str(rs.name, '');
      if (name) this.unique(shareNames, name, [...ss, 'name'], 'share name', 'share names are unique within an array');
      return { name, sizeMB: int(rs.sizeMB, 1), loc: this.at.loc(ss) };
    });
    const readCacheBytes = int(r.readCacheMB, DEFAULT_READ_CACHE_BYTES / BYTES_PER_MIB) * BYTES_PER_MIB;
    const dataDir = str(r.dataDir, '');
    const iscsi = has(r, 'iscsi') ? this.iscsi(obj(r.iscsi), [...segs, 'iscsi']) : undefined;
    return { name: str(r.name, ''), luns, shares, readCacheBytes, ...(iscsi ? { iscsi } : {}), ...(dataDir ? { dataDir } : {}), loc: this.at.loc(segs) };
  }

  /** arrays[].iscsi: the port, and the initiator ACL and CHAP checked by accessProblems (the schema checks shapes). */
  private iscsi(r: Raw, segs: PathSeg[]): NonNullable<StorageArray['iscsi']> {
    for (const p of accessProblems(r)) if (p.kind === 'value') this.report([...segs, ...p.path], p.message);
    const initiators = has(r, 'initiators') ? strList(r.initiators) : undefined;
    const chap = obj(r.chap);
    const mutual = obj(chap.mutual);
    const creds = (c: Raw): { username: string; secret: string } => ({ username: str(c.username, ''), secret: str(c.secret, '') });
    return {
      port: int(r.port, ISCSI_DEFAULT_PORT),
      ...(initiators ? { initiators } : {}),
      ...(has(r, 'chap') ? { chap: { ...creds(chap), ...(has(chap, 'mutual') ? { mutual: creds(mutual) } : {}) } } : {}),
    };
  }

  // ---- physical switches -------------------------------------------------------------------------

  private switch(r: Raw, segs: PathSeg[], defaultAgingSeconds: number): PhysicalSwitch {
    const names = new Map<string, PathSeg[]>();
    const ports: SwitchPort[] = list(r.ports).map((p, i) => this.switchPort(obj(p), [...segs, 'ports', i], names));
    const byName = new Map(ports.map((p) => [p.name, p]));
    const memberOf = new Map<string, { pc: string; segs: PathSeg[] }>();
    const portChannels: PortChannel[] = list(r.portChannels).map((p, i) => {
      const rp = obj(p);
      const ps = [...segs, 'portChannels', i];
      const name = str(rp.name, '');
      if (name) this.unique(names, name, [...ps, 'name'], 'interface name', 'ports and port-channels of a switch need distinct names');
      const members = strList(rp.members);
      let reference: SwitchPort | undefined;
      list(rp.members).forEach((m, j) => {
        if (typeof m !== 'string') return;
        const ms = [...ps, 'members', j];
        const port = byName.get(m);
        if (!port) {
          const isChannel = list(r.portChannels).some((q) => obj(q).name === m);
          this.report(ms, isChannel ? `${m} is a port-channel; a channel's members are ports`
            : `unknown port \`${m}\`${didYouMean(m, byName.keys())}`, isChannel ? undefined : 'members must be declared under ports');
          return;
        }
        const prior = memberOf.get(m);
        if (prior) {
          this.report(ms, `${m} is already a member of ${prior.pc} (${pathText(prior.segs)}, line ${this.line(prior.segs)})`,
            'a port belongs to at most one port-channel');
          return;
        }
        if (port.vxlan) {
          this.report(ms, `${m} is a VXLAN tunnel port; a port-channel bundles cabled ports`, 'remove it from members (one tunnel is one link)');
          return;
        }
        memberOf.set(m, { pc: name, segs: ms });
        port.portChannel = name;
        if (!reference) reference = port;
        else if (portSettings(port) !== portSettings(reference)) {
          this.report(ms, `${m} (${portSettings(port)}) does not match ${reference.name} (${portSettings(reference)})`,
            `members of ${name} must share mode and VLANs; IOS suspends a member that differs`);
        }
      });
      return {
        name, members, mode: 'on' as const,
        loadBalance: pick(rp.loadBalance, PC_LOAD_BALANCE, 'src-dst-ip'), loc: this.at.loc(ps),
      };
    });
    return {
      name: str(r.name, ''),
      description: str(r.description, ''),
      macAgingMs: int(r.macAgingSeconds, defaultAgingSeconds) * 1000,
      mtu: int(r.mtu, DEFAULT_MTU_BYTES),
      ports,
      portChannels,
      loc: this.at.loc(segs),
    };
  }

  private switchPort(r: Raw, segs: PathSeg[], names: Map<string, PathSeg[]>): SwitchPort {
    const name = str(r.name, '');
    if (name) this.unique(names, name, [...segs, 'name'], 'port name', 'each port of a switch needs its own name');
    const written = pick(r.mode, ['access', 'trunk', 'vxlan'] as const, 'access');
    const vxlan = this.switchPortVxlan(r, written, segs);
    // a vxlan port switches like an access port (or a trunk with vxlan.trunk); the tunnel is its cable
    const mode = written === 'vxlan' ? (obj(r.vxlan).trunk === true ? 'trunk' : 'access') : written;
    const port: SwitchPort = {
      name, description: str(r.description, ''), mode, accessVlan: 0, allowedVlans: [], nativeVlan: 1,
      shutdown: bool(r.shutdown, false), portChannel: undefined, ...(vxlan ? { vxlan } : {}), loc: this.at.loc(segs),
    };
    if (mode === 'access') {
      port.accessVlan = int(r.vlan, 1);
      port.nativeVlan = port.accessVlan;
      port.allowedVlans = [[port.accessVlan, port.accessVlan]];
      for (const key of ['allowedVlans', 'nativeVlan']) {
        if (has(r, key)) this.report([...segs, key], `${key} applies to trunk ports only`, vxlan ? 'set trunk: true under vxlan to carry tagged VLANs over the tunnel, or use vlan:' : `set mode: trunk, or use vlan: for an access port`, true);
      }
    } else {
      if (has(r, 'vlan')) {
        this.report([...segs, 'vlan'], 'vlan sets the VLAN of an access port; this port is a trunk',
          'on a trunk use allowedVlans and nativeVlan', true);
      }
      port.nativeVlan = int(r.nativeVlan, 1);
      port.allowedVlans = [[1, 4094]];
      if (has(r, 'allowedVlans')) {
        const parsed = parseVlanList(r.allowedVlans);
        if (parsed.ok) port.allowedVlans = parsed.ranges;
        else this.report([...segs, 'allowedVlans'], parsed.message, parsed.hint ?? 'write e.g. "10,20,100-110" or "all"');
      }
    }
    return port;
  }

  /** The tunnel of a `mode: vxlan` port (undefined for other ports; a `vxlan:` on them is reported). */
  private switchPortVxlan(r: Raw, mode: 'access' | 'trunk' | 'vxlan', segs: PathSeg[]): SwitchPortVxlan | undefined {
    if (mode !== 'vxlan') {
      if (has(r, 'vxlan')) this.report([...segs, 'vxlan'], `vxlan settings apply to mode: vxlan ports; this port is ${mode === 'trunk' ? 'a trunk' : 'an access port'}`, 'set mode: vxlan, or remove vxlan:', true);
      return undefined;
    }
    if (!has(r, 'vxlan')) {
      this.report([...segs, 'mode'], 'a mode: vxlan port needs its tunnel', 'add vxlan: { vni: 5001, remote: 127.0.0.1, remotePort: 4790 }');
      return undefined;
    }
    const v = obj(r.vxlan);
    const vs = [...segs, 'vxlan'];
    let remoteOk = false;
    const address = (key: 'remote' | 'localAddress', fallback: string): string => {
      const text = str(v[key], fallback).trim();
      const value = parseIpv4(text);
      if (typeof v[key] === 'string' && value === undefined) this.report([...vs, key], `${key} ${text} is not an IPv4 address`, 'write e.g. 192.0.2.10');
      else if (key === 'remote' && value !== undefined) {
        remoteOk = !(value === 0 || value >>> 28 === 0xe || value === 0xffffffff);
        if (!remoteOk) this.report([...vs, key], `remote ${text} is not a unicast address`, 'a tunnel has one far endpoint; multicast groups are not supported');
      }
      return text;
    };
    const remote = address('remote', '');
    const localAddress = address('localAddress', VXLAN_DEFAULT_LOCAL_ADDRESS);
    const isLoopback = (a: string) => (parseIpv4(a) ?? 0) >>> 24 === 127;
    if (remoteOk && isLoopback(localAddress) && !isLoopback(remote)) {
      this.report([...vs, has(v, 'localAddress') ? 'localAddress' : 'remote'], `a socket bound to ${localAddress} cannot reach ${remote}`,
        'set localAddress to this machine\'s address on the way to the remote, or 0.0.0.0');
    }
    return {
      vni: int(v.vni, 1), remote, remotePort: int(v.remotePort, VXLAN_DEFAULT_UDP_PORT),
      localAddress, localPort: int(v.localPort, VXLAN_DEFAULT_UDP_PORT),
    };
  }

  /**
   * VXLAN sockets across the fabric: the ports of one switch with the same local address and port share
   * one socket, which tells its tunnels apart by VNI alone; two switches (two processes) cannot bind one
   * port (0.0.0.0 overlaps every address; port 0 = any free port never clashes).
   */
  private checkVxlanSockets(switches: PhysicalSwitch[]): void {
    const vnis = new Map<string, PathSeg[]>();
    const owner = new Map<number, Array<{ sw: string; address: string; segs: PathSeg[] }>>();
    switches.forEach((sw, i) => sw.ports.forEach((p, j) => {
      const v = p.vxlan;
      if (!v) return;
      const segs: PathSeg[] = ['switches', i, 'ports', j, 'vxlan'];
      this.unique(vnis, `${sw.name} ${v.localAddress}:${v.localPort} VNI ${v.vni}`, [...segs, 'vni'], 'VXLAN tunnel',
        `ports of ${sw.name} on one local socket need distinct VNIs (or give this port its own localPort)`);
      if (v.localPort === 0) return;
      const users = owner.get(v.localPort) ?? [];
      const clash = users.find((u) => u.sw !== sw.name && (u.address === v.localAddress || u.address === '0.0.0.0' || v.localAddress === '0.0.0.0'));
      if (clash) {
        this.report([...segs, 'localPort'], `switch ${clash.sw} already binds UDP ${clash.address}:${v.localPort} (${pathText(clash.segs)}, line ${this.line(clash.segs)})`,
          'each switch is its own process and needs its own VXLAN port: set another localPort, or 0 for any free port');
      } else users.push({ sw: sw.name, address: v.localAddress, segs: [...segs, 'localPort'] });
      owner.set(v.localPort, users);
    }));
  }

  // ---- hosts -------------------------------------------------------------------------------------

  private host(r: Raw, segs: PathSeg[], defaults: Topology['defaults'], arrays: StorageArray[]): Host {
    const name = str(r.name, '');
    const vsNames = new Map<string, PathSeg[]>();
    const pgNames = new Map<string, PathSeg[]>();
    const pnics = new Map<string, { vswitch: string; segs: PathSeg[] }>();
    for (const v of list(r.vswitches)) {
      if (has(obj(v), 'uplinks') && !Array.isArray(obj(v).uplinks)) this.unsureUplinks.add(name);
      if (has(obj(v), 'portGroups') && !Array.isArray(obj(v).portGroups)) this.unsurePortGroups.add(name);
    }
    if (has(r, 'vswitches') && !Array.isArray(r.vswitches)) {
      this.unsureUplinks.add(name);
      this.unsurePortGroups.add(name);
    }
    const vswitches = list(r.vswitches).map((v, i) =>
      this.vswitch(obj(v), [...segs, 'vswitches', i], defaults, vsNames, pgNames, pnics));
    const oversized = list(r.vswitches).some((v) => list(obj(v).uplinks).length > MAX_UPLINKS_PER_VSWITCH);
    if (pnics.size > MAX_PNICS_PER_HOST && !oversized) {
      this.report([...segs, 'vswitches'], `host has ${pnics.size} physical NICs; at most ${MAX_PNICS_PER_HOST}`, 'spec §8');
    }
    const storage = this.hostStorage(list(r.storage), [...segs, 'storage'], arrays, name);
    const host: Host = { name, description: str(r.description, ''), vswitches, vms: [], vmkernels: [], storage, loc: this.at.loc(segs) };
    if (obj(r.advanced).reversePathFwdCheckPromisc === 1) host.advanced = { reversePathFwdCheckPromisc: 1 };
    const lunUse = new Map<Lun, number>();
    const portsPerVswitch = new Map<string, number>();
    host.vms = list(r.vms).map((v, i) => this.vm(obj(v), [...segs, 'vms', i], host, arrays, lunUse, portsPerVswitch));
    const vmkNames = new Map<string, PathSeg[]>();
    // (more than MAX_VMKERNELS_PER_HOST is the schema's to report; the rest are still read and checked)
    host.vmkernels = list(r.vmkernels).map((k, i) => this.vmkernel(obj(k), [...segs, 'vmkernels', i], host, vmkNames, portsPerVswitch));
    let ports = 0;
    for (const [vsName, count] of portsPerVswitch) {
      ports += count;
      if (count > MAX_PORTS_PER_VSWITCH) {
        this.report([...segs, 'vms'], `${count} vNICs attach to ${vsName}; a standard vSwitch has at most ${MAX_PORTS_PER_VSWITCH} ports`, 'spec §8');
      }
    }
    if (ports > MAX_ACTIVE_PORTS_PER_HOST) {
      this.report([...segs, 'vms'], `${ports} vNICs on this host; at most ${MAX_ACTIVE_PORTS_PER_HOST} active ports per host`, 'spec §8');
    }
    if (has(r, 'datastores')) host.datastores = this.hostDatastores(list(r.datastores), [...segs, 'datastores'], host, arrays);
    this.vmDatastoreDisks(host, segs);
    return host;
  }

  /** vms[].disks[].datastore: a datastore of this host (hosts[].datastores), one per VM (its directory's). */
  private vmDatastoreDisks(host: Host, segs: PathSeg[]): void {
    const names = (host.datastores ?? []).map((d) => d.name);
    host.vms.forEach((vm, i) => {
      let home: string | undefined;
      vm.disks.forEach((d, j) => {
        if (d.datastore === undefined || d.datastore === '') return;
        const at = [...segs, 'vms', i, 'disks', j, 'datastore'];
        if (!names.includes(d.datastore)) {
          this.report(at, `host ${host.name} does not mount datastore \`${d.datastore}\`${didYouMean(d.datastore, names)}`,
            names.length ? `datastores on ${host.name}: ${names.join(', ')}` : `declare it under hosts[].datastores of ${host.name}`);
        } else if (host.datastores!.find((x) => x.name === d.datastore)!.share !== undefined) {
          this.report(at, `datastore ${d.datastore} is a NAS datastore; VM disks on NAS datastores are not emulated yet`, 'put the disk on a datastore on a LUN');
        } else if (home !== undefined && d.datastore !== home) {
          this.report(at, `VM ${vm.name} has disks on ${home} already; a VM's datastore disks share one datastore (its directory ${vm.name}/)`, `put the disk on ${home}`);
        } else home = d.datastore;
      });
    });
  }

  /** hosts[].datastores: each on a LUN the host sees, not used by a VM disk of the host (the old LBA-0 directory). */
  private hostDatastores(items: unknown[], segs: PathSeg[], host: Host, arrays: StorageArray[]): HostDatastore[] {
    const names = new Map<string, PathSeg[]>();
    const out: HostDatastore[] = [];
    items.forEach((item, i) => {
      const r = obj(item);
      const ss = [...segs, i];
      const name = str(r.name, '');
      const lun = str(r.lun, '');
      if (name && !this.unique(names, name, [...ss, 'name'], 'datastore name', 'datastore names are unique within a host')) return;
      if (has(r, 'share') === has(r, 'lun')) {
        this.report(ss, `datastore ${name} needs exactly one of lun (a VMFS-like datastore) and share (a NAS datastore)`, has(r, 'share') ? 'remove lun or share' : 'add lun: <LUN> or share: <share>');
        return;
      }
      if (has(r, 'share')) {
        const nas = this.nasDatastore(r, ss, host, arrays);
        if (nas) out.push({ name, ...nas, loc: this.at.loc(ss) });
        return;
      }
      const seen = host.storage.filter((s) => s.luns.includes(lun) && (!has(r, 'array') || s.array === str(r.array, '')));
      if (lun && seen.length !== 1) {
        this.report([...ss, 'lun'], seen.length === 0 ? `host ${host.name} does not see LUN ${lun}${has(r, 'array') ? ` of ${str(r.array, '')}` : ''}` : `LUN \`${lun}\` is seen on ${seen.map((s) => s.array).join(' and ')}`,
          seen.length === 0 ? `add the LUN to the host's storage` : 'add array: <name> to the datastore');
        return;
      }
      if (host.vms.some((v) => v.disks.some((d) => d.lun === lun && d.array === seen[0]!.array))) {
        this.report([...ss, 'lun'], `LUN ${lun} holds VM disks of this host (the LBA-0 disk directory); a datastore needs a LUN of its own`, 'declare another LUN for the datastore');
        return;
      }
      out.push({ name, array: seen[0]!.array, lun, loc: this.at.loc(ss) });
    });
    return out;
  }

  /**
   * A NAS datastore: its share must be on an array the host lists under hosts[].storage (that grants the
   * host access to the array and gives it the array's address); `array` picks one when two have the share.
   */
  private nasDatastore(r: Raw, ss: PathSeg[], host: Host, arrays: StorageArray[]): { array: string; lun: ''; share: string } | undefined {
    const share = str(r.share, '');
    const want = has(r, 'array') ? str(r.array, '') : undefined;
    const holders = arrays.filter((a) => (want === undefined || a.name === want) && a.shares.some((s) => s.name === share));
    if (holders.length === 0) {
      this.report([...ss, 'share'], `no array${want === undefined ? '' : ` named ${want}`} has a share \`${share}\``, 'add it under arrays[].shares');
      return undefined;
    }
    const reachable = holders.filter((a) => host.storage.some((s) => s.array === a.name));
    if (reachable.length !== 1) {
      this.report([...ss, 'share'], reachable.length === 0
        ? `host ${host.name} has no storage access to ${holders.map((a) => a.name).join(' or ')}, which holds share ${share}`
        : `share \`${share}\` is on ${reachable.map((a) => a.name).join(' and ')}`,
      reachable.length === 0 ? `add { array: ${holders[0]!.name} } to the host's storage` : 'add array: <name> to the datastore');
      return undefined;
    }
    return { array: reachable[0]!.name, lun: '', share };
  }

  private vswitch(
    r: Raw, segs: PathSeg[], defaults: Topology['defaults'], vsNames: Map<string, PathSeg[]>,
    pgNames: Map<string, PathSeg[]>, pnics: Map<string, { vswitch: string; segs: PathSeg[] }>,
  ): VSwitch {
    const name = str(r.name, '');
    if (name) this.unique(vsNames, name, [...segs, 'name'], 'vSwitch name', 'vSwitch names are unique within a host');
    const uplinks = strList(r.uplinks);
    list(r.uplinks).forEach((u, i) => {
      if (typeof u !== 'string') return;
      const prior = pnics.get(u);
      if (prior && prior.vswitch !== name) {
        this.report([...segs, 'uplinks', i], `${u} is already an uplink of ${prior.vswitch} (line ${this.line(prior.segs)})`,
          'a physical NIC belongs to one vSwitch (spec §8)');
      } else if (!prior) pnics.set(u, { vswitch: name, segs: [...segs, 'uplinks', i] });
    });
    const rt = obj(r.teaming);
    const teaming = this.teaming(rt, undefined, uplinks);
    const uplinksKnown = !has(r, 'uplinks') || Array.isArray(r.uplinks);
    this.checkTeaming(rt, teaming, [...segs, 'teaming'], uplinks, name, true, pnics, uplinksKnown);
    const security = this.security(obj(r.security), defaults.security);
    const trafficShaping = this.shaping(obj(r.trafficShaping), SHAPING_DEFAULTS, [...segs, 'trafficShaping']);
    const vswitch: VSwitch = {
      name, mtu: int(r.mtu, defaults.mtu), uplinks, teaming, security, trafficShaping, portGroups: [], loc: this.at.loc(segs),
    };
    vswitch.portGroups = list(r.portGroups).map((p, i) => {
      const rp = obj(p);
      const ps = [...segs, 'portGroups', i];
      const pgName = str(rp.name, '');
      if (pgName) {
        this.unique(pgNames, pgName, [...ps, 'name'], 'port group name',
          'port group names are unique within a host (VM NICs find their vSwitch by it)');
      }
      const rpt = obj(rp.teaming);
      const pgTeaming = this.teaming(rpt, teaming, uplinks);
      this.checkTeaming(rpt, pgTeaming, [...ps, 'teaming'], uplinks, name, false, pnics, uplinksKnown);
      const overrides: string[] = [];
      for (const [section, o] of [['teaming', rpt], ['security', obj(rp.security)], ['trafficShaping', obj(rp.trafficShaping)]] as const) {
        for (const k of Object.keys(o)) if (has(o, k)) overrides.push(`${section}.${k}`);
      }
      const pg: PortGroup = {
        name: pgName,
        vlan: int(rp.vlan, 0),
        teaming: pgTeaming,
        security: this.security(obj(rp.security), security),
        trafficShaping: this.shaping(obj(rp.trafficShaping), trafficShaping, [...ps, 'trafficShaping']),
        overrides,
        vswitch: name,
        loc: this.at.loc(ps),
      };
      return pg;
    });
    return vswitch;
  }

  private teaming(r: Raw, base: TeamingPolicy | undefined, uplinks: string[]): TeamingPolicy {
    let active: string[];
    let standby: string[];
    if (has(r, 'active') || has(r, 'standby')) {
      standby = strList(r.standby);
      active = has(r, 'active') ? strList(r.active) : uplinks.filter((u) => !standby.includes(u));
    } else if (base) {
      active = [...base.active];
      standby = [...base.standby];
    } else {
      active = [...uplinks];
      standby = [];
    }
    return {
      loadBalancing: pick(r.loadBalancing, LOAD_BALANCING, base?.loadBalancing ?? 'srcPortId'),
      active,
      standby,
      unused: uplinks.filter((u) => !active.includes(u) && !standby.includes(u)),
      failback: bool(r.failback, base?.failback ?? true),
      notifySwitches: bool(r.notifySwitches, base?.notifySwitches ?? true),
      failureDetection: pick(r.failureDetection, DETECTION, base?.failureDetection ?? 'linkStatus'),
    };
  }

  /**
   * Teaming that cannot work (spec §3.1, §3.4, §3.9). On a port group only what the override changes is
   * checked (inherited values were checked on the vSwitch), and problems point at the overriding field.
   */
  private checkTeaming(
    r: Raw, t: TeamingPolicy, segs: PathSeg[], uplinks: string[], vsName: string, isVswitch: boolean,
    pnics: Map<string, { vswitch: string; segs: PathSeg[] }>, uplinksKnown: boolean,
  ): void {
    // With a malformed uplinks list (reported by the schema), membership checks would only echo it.
    for (const listName of uplinksKnown ? (['active', 'standby'] as const) : []) {
      list(r[listName]).forEach((nic, i) => {
        if (typeof nic !== 'string') return;
        const ns = [...segs, listName, i];
        if (!uplinks.includes(nic)) {
          const owner = pnics.get(nic);
          this.report(ns, owner && owner.vswitch !== vsName
            ? `${nic} is an uplink of ${owner.vswitch}, not of ${vsName}`
            : `${nic} is not an uplink of ${vsName}${didYouMean(nic, uplinks)}`,
          `teaming lists name uplinks of the same vSwitch (uplinks: ${uplinks.join(', ') || 'none'}); spec §3.1`);
        } else if (listName === 'standby' && t.active.includes(nic)) {
          this.report(ns, `${nic} is both active and standby`, 'a NIC is active, standby or unused, never two of these (spec §3.1)');
        }
      });
    }
    const touches = (...keys: string[]) => isVswitch || keys.some((k) => has(r, k));
    const where = (...keys: string[]): PathSeg[] => {
      for (const k of keys) if (has(r, k)) return [...segs, k];
      return segs.slice(0, -1);
    };
    if (t.loadBalancing === 'ipHash' && touches('loadBalancing', 'active', 'standby')) {
      if (t.standby.length > 0) {
        this.report(where('standby', 'loadBalancing', 'active'),
          `IP hash needs every uplink active, but ${t.standby.join(', ')} ${t.standby.length > 1 ? 'are' : 'is'} standby`,
          'spec §3.4: make all uplinks active with empty standby, or choose another loadBalancing');
      }
      if (t.unused.length > 0 && uplinksKnown) {
        this.report(where('active', 'loadBalancing', 'standby'),
          `IP hash needs every uplink active, but ${t.unused.join(', ')} ${t.unused.length > 1 ? 'are' : 'is'} unused`,
          'spec §3.4: list every uplink of the vSwitch as active, or choose another loadBalancing');
      }
    }
    if (t.loadBalancing === 'ipHash' && t.failureDetection === 'beaconProbing' && touches('loadBalancing', 'failureDetection')) {
      this.report(where('failureDetection', 'loadBalancing'), 'IP hash cannot be combined with beacon probing',
        'spec §3.4, §3.9: use failureDetection: linkStatus with IP hash');
    }
    const teamSize = t.active.length + t.standby.length;
    if (t.failureDetection === 'beaconProbing' && teamSize < 2 && touches('failureDetection', 'active', 'standby')) {
      this.report(where('failureDetection', 'active', 'standby'),
        `beacon probing needs at least 2 team uplinks (3 recommended); this team has ${teamSize}`,
        'spec §3.9: add uplinks or use failureDetection: linkStatus');
    }
  }

  private security(r: Raw, base: SecurityPolicy): SecurityPolicy {
    return {
      promiscuous: pick(r.promiscuous, VERDICTS, base.promiscuous),
      macChanges: pick(r.macChanges, VERDICTS, base.macChanges),
      forgedTransmits: pick(r.forgedTransmits, VERDICTS, base.forgedTransmits),
    };
  }

  private shaping(r: Raw, base: TrafficShapingPolicy, segs: PathSeg[]): TrafficShapingPolicy {
    const s: TrafficShapingPolicy = {
      enabled: bool(r.enabled, base.enabled),
      averageKbps: int(r.averageKbps, base.averageKbps),
      peakKbps: int(r.peakKbps, base.peakKbps),
      burstKB: int(r.burstKB, base.burstKB),
    };
    if (s.peakKbps < s.averageKbps && (has(r, 'peakKbps') || has(r, 'averageKbps'))) {
      this.report([...segs, has(r, 'peakKbps') ? 'peakKbps' : 'averageKbps'],
        `peak bandwidth ${s.peakKbps} Kbps is below the average ${s.averageKbps} Kbps`, 'spec §5.3: peakKbps must be >= averageKbps');
    }
    return s;
  }

  private hostStorage(items: unknown[], segs: PathSeg[], arrays: StorageArray[], hostName: string): HostStorage[] {
    const seen = new Map<string, PathSeg[]>();
    const out: HostStorage[] = [];
    items.forEach((item, i) => {
      const r = obj(item);
      const ss = [...segs, i];
      const arrayName = str(r.array, '');
      const array = arrays.find((a) => a.name === arrayName);
      if (arrayName && !array) {
        this.report([...ss, 'array'], `unknown array \`${arrayName}\`${didYouMean(arrayName, arrays.map((a) => a.name))}`,
          arrays.length ? `arrays: ${arrays.map((a) => a.name).join(', ')}` : 'declare it under arrays');
      }
      if (arrayName && !this.unique(seen, arrayName, [...ss, 'array'], 'storage entry for array', 'list each array once per host')) return;
      let luns = array ? array.luns.map((l) => l.name) : [];
      if (has(r, 'luns')) {
        luns = strList(r.luns);
        if (array) {
          list(r.luns).forEach((l, j) => {
            if (typeof l === 'string' && !array.luns.some((x) => x.name === l)) {
              this.report([...ss, 'luns', j], `array ${arrayName} has no LUN \`${l}\`${didYouMean(l, array.luns.map((x) => x.name))}`);
            }
          });
        }
      }
      const protocol = pick(r.protocol, STORAGE_PROTOCOLS, 'block');
      if (protocol === 'iscsi' && array && !array.iscsi) {
        this.report([...ss, 'protocol'], `protocol iscsi: array ${arrayName} has no iSCSI portal`, `add iscsi: { port: 0 } to array ${arrayName}, or use protocol: block`);
      } else if (protocol === 'iscsi' && array?.iscsi && !initiatorAllowed(array.iscsi.initiators, hostInitiatorName(hostName))) {
        this.report([...ss, 'protocol'], `protocol iscsi: array ${arrayName}'s initiator ACL does not list ${hostInitiatorName(hostName)}`,
          `add ${hostInitiatorName(hostName)} to arrays[].iscsi.initiators of ${arrayName}, or use protocol: block`);
      }
      out.push({ array: arrayName, luns, paths: int(r.paths, 1), policy: pick(r.policy, PATH_POLICIES, 'fixed'), protocol, loc: this.at.loc(ss) });
    });
    return out;
  }

  // ---- VMs ---------------------------------------------------------------------------------------

  private vm(r: Raw, segs: PathSeg[], host: Host, arrays: StorageArray[], lunUse: Map<Lun, number>,
    portsPerVswitch: Map<string, number>): Vm {
    const name = str(r.name, '');
    const nicNames = new Map<string, PathSeg[]>();
    const nics = list(r.nics).map((n, i) => {
      const nic = this.nic(obj(n), [...segs, 'nics', i], i, host, name, nicNames);
      if (nic.vswitch) portsPerVswitch.set(nic.vswitch, (portsPerVswitch.get(nic.vswitch) ?? 0) + 1);
      return nic;
    });
    const diskNames = new Map<string, PathSeg[]>();
    const disks = list(r.disks).map((d, i) => this.disk(obj(d), [...segs, 'disks', i], i, host, arrays, lunUse, diskNames));
    const kind = pick(r.kind, VM_KINDS, 'builtin');
    if (kind !== 'builtin' && bool(r.external, false)) {
      this.report([...segs, 'external'], `external: true runs vfab's own stack in a process of its own; a ${kind} guest has a real stack already`,
        'drop external: true (a netns or qemu guest always runs outside its host)');
    }
    const qemu = this.qemuOptions(r, segs, kind, nics.length);
    return {
      name, host: host.name, nics, disks, external: bool(r.external, false), kind, ...(qemu ? { qemu } : {}),
      memoryMB: int(r.memoryMB, DEFAULT_VM_MEMORY_MB), dirtyRateMBps: num(r.dirtyRateMBps, DEFAULT_VM_DIRTY_RATE_MBPS), loc: this.at.loc(segs),
    };
  }

  /** A qemu guest's backend options (default: stream on free ports); `qemu` on another kind is a mistake. */
  private qemuOptions(r: Raw, segs: PathSeg[], kind: string, nicCount: number): QemuOptions | undefined {
    if (kind !== 'qemu') {
      if (has(r, 'qemu')) this.report([...segs, 'qemu'], `qemu options on a ${kind} guest`, 'set kind: qemu, or drop qemu');
      return undefined;
    }
    const q = obj(r.qemu);
    const port = int(q.port, 0);
    if (port > 0 && port + Math.max(nicCount, 1) - 1 > 65535) {
      this.report([...segs, 'qemu', 'port'], `port ${port}: the VM's ${nicCount} vNICs take ports ${port}..${port + nicCount - 1}, past 65535`, `use a port at most ${65536 - nicCount}`);
    }
    return { netdev: pick(q.netdev, QEMU_NETDEVS, 'stream'), port };
  }

  private nic(r: Raw, segs: PathSeg[], index: number, host: Host, vmName: string, names: Map<string, PathSeg[]>): VmNic {
    const name = str(r.name, `nic${index}`);
    this.unique(names, name, has(r, 'name') ? [...segs, 'name'] : segs, 'NIC name', 'NIC names are unique within a VM');
    const pgName = str(r.portGroup, '');
    let vswitch = '';
    let pg: PortGroup | undefined;
    for (const vs of host.vswitches) {
      pg = vs.portGroups.find((p) => p.name === pgName);
      if (pg) {
        vswitch = vs.name;
        break;
      }
    }
    const allPgs = [...new Set(host.vswitches.flatMap((v) => v.portGroups.map((p) => p.name)))];
    if (pgName && !pg && !this.unsurePortGroups.has(host.name)) {
      this.report([...segs, 'portGroup'], `host ${host.name} has no port group \`${pgName}\`${didYouMean(pgName, allPgs)}`,
        allPgs.length ? `port groups on ${host.name}: ${allPgs.join(', ')}` : `declare it under a vSwitch's portGroups on ${host.name}`);
    }
    const nic: VmNic = {
      name, portGroup: pgName, vswitch, mac: 0, macText: '', macGenerated: false,
      ip: undefined, gateway: undefined, guestVlan: undefined, loc: this.at.loc(segs),
    };
    if (typeof r.mac === 'string') {
      try {
        nic.mac = parseMac(r.mac);
        nic.macText = macToString(nic.mac);
        this.takenMacs.add(nic.mac);
        if (isGroupMac(nic.mac)) {
          this.report([...segs, 'mac'], `${nic.macText} is a multicast (group) address; a NIC needs a unicast MAC`,
            'the lowest bit of the first byte must be 0, e.g. 00:50:56:00:10:01');
        }
      } catch {
        // Syntax is the schema's job (pattern); keep a generated MAC so the model stays usable.
        this.pendingMacs.push({ host: host.name, vm: vmName, nic });
      }
    } else {
      this.pendingMacs.push({ host: host.name, vm: vmName, nic });
    }
    const addr = this.ipAndGateway(r, segs, 'NIC');
    nic.ip = addr.ip;
    nic.gateway = addr.gateway;
    if (has(r, 'guestVlan')) {
      const vlan = int(r.guestVlan, 0);
      if (pg && pg.vlan !== PORT_GROUP_VLAN_ALL) {
        this.report([...segs, 'guestVlan'], `guestVlan needs a port group with vlan 4095 (guest tagging); ${pgName} has vlan ${pg.vlan}`,
          'spec §2.1, §2.4: a VST/EST port group drops guest-tagged frames; remove guestVlan or use a 4095 port group', true);
      }
      if (vlan > 0) nic.guestVlan = vlan;
    }
    if (has(r, 'mtu')) {
      const mtu = int(r.mtu, 0);
      const vsMtu = host.vswitches.find((v) => v.name === vswitch)?.mtu;
      if (vsMtu !== undefined && mtu > vsMtu) {
        this.report([...segs, 'mtu'], `vNIC MTU ${mtu} is above the MTU ${vsMtu} of its vSwitch ${vswitch}`,
          `the vSwitch drops larger frames: use at most ${vsMtu}, or raise the vSwitch's mtu`);
      }
      if (mtu > 0) nic.mtu = mtu;
    }
    return nic;
  }

  /** `ip` (CIDR) and `gateway` of a NIC or vmkernel port (`what`), each checked; undefined where wrong or absent. */
  private ipAndGateway(r: Raw, segs: PathSeg[], what: string): { ip: IpInterface | undefined; gateway: string | undefined } {
    let ip: IpInterface | undefined;
    let gateway: string | undefined;
    if (has(r, 'ip') && typeof r.ip === 'string') {
      const parsed = parseCidr(r.ip);
      if ('message' in parsed) this.report([...segs, 'ip'], parsed.message, parsed.hint);
      else ip = parsed;
    }
    if (typeof r.gateway === 'string') {
      const gw = parseIpv4(r.gateway.trim());
      if (gw === undefined) {
        this.report([...segs, 'gateway'], `\`${r.gateway}\` is not an IPv4 address`, 'write e.g. 192.0.2.1');
      } else if (!has(r, 'ip')) {
        this.report([...segs, 'gateway'], `a gateway needs an ip on the same ${what}`, 'add ip: e.g. 192.0.2.11/24');
      } else if (ip) {
        const mask = prefixMask(ip.prefixLength);
        const net = (parseIpv4(ip.address)! & mask) >>> 0;
        if (((gw & mask) >>> 0) !== net) {
          this.report([...segs, 'gateway'], `gateway ${r.gateway} is outside the ${what}'s subnet ${ipv4Text(net)}/${ip.prefixLength}`,
            'the gateway must be reachable on the link: pick an address inside the subnet');
        } else if (ipv4Text(gw) === ip.address) {
          this.report([...segs, 'gateway'], `gateway ${r.gateway} is the ${what}'s own address`, 'use the router\'s address');
        } else gateway = ipv4Text(gw);
      }
    }
    return { ip, gateway };
  }

  // ---- vmkernel ports ----------------------------------------------------------------------------

  private vmkernel(r: Raw, segs: PathSeg[], host: Host, names: Map<string, PathSeg[]>, portsPerVswitch: Map<string, number>): Vmkernel {
    const name = str(r.name, '');
    if (name) this.unique(names, name, [...segs, 'name'], 'vmkernel port name', 'vmkernel port names are unique within a host');
    const pgName = str(r.portGroup, '');
    const found = host.vswitches.map((vs) => ({ vs, pg: vs.portGroups.find((p) => p.name === pgName) })).find((x) => x.pg);
    if (pgName && !found && !this.unsurePortGroups.has(host.name)) {
      const allPgs = [...new Set(host.vswitches.flatMap((v) => v.portGroups.map((p) => p.name)))];
      this.report([...segs, 'portGroup'], `host ${host.name} has no port group \`${pgName}\`${didYouMean(pgName, allPgs)}`,
        allPgs.length ? `port groups on ${host.name}: ${allPgs.join(', ')}` : `declare it under a vSwitch's portGroups on ${host.name}`);
    }
    const vswitch = found?.vs.name ?? '';
    if (vswitch) portsPerVswitch.set(vswitch, (portsPerVswitch.get(vswitch) ?? 0) + 1);
    const addr = this.ipAndGateway(r, segs, 'vmkernel port');
    const vsMtu = found?.vs.mtu ?? DEFAULT_MTU_BYTES;
    const mtu = int(r.mtu, Math.min(DEFAULT_MTU_BYTES, vsMtu));
    if (has(r, 'mtu') && found && mtu > vsMtu) {
      this.report([...segs, 'mtu'], `vmkernel MTU ${mtu} is above the MTU ${vsMtu} of its vSwitch ${vswitch}`,
        `the vSwitch drops frames longer than its MTU: lower the port's mtu, or raise ${vswitch}'s to ${mtu}`);
    }
    const services = strList(r.services).filter((x): x is VmkernelService => (VMKERNEL_SERVICES as readonly string[]).includes(x));
    const vmk: Vmkernel = {
      name, portGroup: pgName, vswitch, mac: 0, macText: '', macGenerated: false,
      ip: addr.ip ?? { address: '0.0.0.0', prefixLength: 32, text: '' }, gateway: addr.gateway, mtu,
      services: [...new Set(services)], loc: this.at.loc(segs),
    };
    let explicitMac = false;
    if (typeof r.mac === 'string') {
      try {
        vmk.mac = parseMac(r.mac);
        vmk.macText = macToString(vmk.mac);
        explicitMac = true;
        this.takenMacs.add(vmk.mac);
        if (isGroupMac(vmk.mac)) {
          this.report([...segs, 'mac'], `${vmk.macText} is a multicast (group) address; a vmkernel port needs a unicast MAC`,
            'the lowest bit of the first byte must be 0, e.g. 00:50:56:6a:00:01');
        }
      } catch {
        // syntax is the schema's job (pattern)
      }
    }
    if (!explicitMac) this.pendingVmkMacs.push({ host: host.name, vmk });
    this.vmkEntries.push({ host: host.name, vmk, segs, explicitMac });
    return vmk;
  }

  /**
   * A vmkernel port's IP and explicit MAC must be its own across the fabric (VM NICs and other vmkernel
   * ports): the host's management and vMotion traffic would otherwise reach the wrong station. Reported at
   * the vmkernel port; two VM NICs sharing an address stay a design finding (vfab validate).
   */
  private checkVmkernelAddresses(hosts: Host[]): void {
    const ips = new Map<string, string>();
    const macs = new Map<number, string>();
    hosts.forEach((h, hi) => h.vms.forEach((vm, vi) => vm.nics.forEach((n, ni) => {
      const where = `VM NIC ${vm.name}.${n.name} (hosts[${hi}].vms[${vi}].nics[${ni}])`;
      if (n.ip && !ips.has(n.ip.address)) ips.set(n.ip.address, where);
      if (n.macText && !macs.has(n.mac)) macs.set(n.mac, where);
    })));
    for (const { host, vmk, segs, explicitMac } of this.vmkEntries) {
      const where = `vmkernel port ${host}.${vmk.name} (${pathText(segs)}, line ${this.line(segs)})`;
      if (vmk.ip.text) {
        const prior = ips.get(vmk.ip.address);
        if (prior) this.report([...segs, 'ip'], `IP ${vmk.ip.address} is already used by ${prior}`, 'give every vmkernel port an address of its own');
        else ips.set(vmk.ip.address, where);
      }
      if (explicitMac) {
        const prior = macs.get(vmk.mac);
        if (prior) this.report([...segs, 'mac'], `MAC ${vmk.macText} is already used by ${prior}`, 'give every vmkernel port a MAC of its own, or omit mac to have one generated');
        else macs.set(vmk.mac, where);
      }
    }
  }

  private disk(r: Raw, segs: PathSeg[], index: number, host: Host, arrays: StorageArray[], lunUse: Map<Lun, number>,
    names: Map<string, PathSeg[]>): VmDisk {
    const name = str(r.name, `disk${index}`);
    this.unique(names, name, has(r, 'name') ? [...segs, 'name'] : segs, 'disk name', 'disk names are unique within a VM');
    const lunName = str(r.lun, '');
    const arrayName = str(r.array, '');
    const disk: VmDisk = { name, array: arrayName, lun: lunName, sizeBytes: Math.round(num(r.sizeGB, 0) * BYTES_PER_GB), loc: this.at.loc(segs) };
    if (has(r, 'datastore')) {
      disk.datastore = str(r.datastore, '');
      if (has(r, 'lun') || has(r, 'array')) this.report([...segs, has(r, 'lun') ? 'lun' : 'array'], 'a disk lives on a datastore or on array + lun, not both', 'remove lun/array, or datastore');
      return disk; // the datastore is checked once the host's datastores are known (vmDatastoreDisks)
    }
    if (!has(r, 'lun')) this.report(segs, 'a disk needs lun (a region of an array LUN) or datastore (files on a datastore the host mounts)', 'add lun: <name> or datastore: <name>');
    if (!lunName) return disk;
    let candidates = arrays.flatMap((a) => a.luns.filter((l) => l.name === lunName).map((lun) => ({ array: a, lun })));
    if (arrayName) {
      if (!arrays.some((a) => a.name === arrayName)) {
        this.report([...segs, 'array'], `unknown array \`${arrayName}\`${didYouMean(arrayName, arrays.map((a) => a.name))}`);
        return disk;
      }
      candidates = candidates.filter((c) => c.array.name === arrayName);
    }
    if (candidates.length === 0) {
      const all = arrays.filter((a) => !arrayName || a.name === arrayName).flatMap((a) => a.luns.map((l) => l.name));
      this.report([...segs, 'lun'], `unknown LUN \`${lunName}\`${didYouMean(lunName, all)}`,
        all.length ? `LUNs: ${all.join(', ')}` : 'declare it under arrays[].luns');
      return disk;
    }
    if (candidates.length > 1) {
      this.report([...segs, 'lun'], `LUN \`${lunName}\` exists on ${candidates.map((c) => c.array.name).join(' and ')}`,
        'add array: <name> to the disk');
      return disk;
    }
    const { array, lun } = candidates[0]!;
    disk.array = array.name;
    disk.sizeBytes = Math.ceil(disk.sizeBytes / lun.blockSizeBytes) * lun.blockSizeBytes;
    if (!host.storage.some((s) => s.array === array.name && s.luns.includes(lunName))) {
      this.report([...segs, 'lun'], `host ${host.name} does not see LUN ${lunName} of ${array.name}`,
        `add { array: ${array.name}, luns: [${lunName}] } to the host's storage`);
      return disk;
    }
    const used = lunUse.get(lun) ?? 0;
    if (used + disk.sizeBytes > lun.sizeBytes) {
      this.report([...segs, 'sizeGB'],
        `disk does not fit: LUN ${lunName} has ${gib(lun.sizeBytes)} GiB and ${gib(used)} GiB already hold other disks on this host`,
        'grow the LUN (sizeGB under arrays[].luns) or shrink the disk');
    }
    lunUse.set(lun, used + disk.sizeBytes);
    return disk;
  }

  private assignGeneratedMacs(): void {
    for (const { host, vm, nic } of this.pendingMacs) {
      nic.mac = generateNicMac(host, vm, nic.name, this.takenMacs);
      nic.macText = macToString(nic.mac);
      nic.macGenerated = true;
      this.takenMacs.add(nic.mac);
    }
    for (const { host, vmk } of this.pendingVmkMacs) {
      vmk.mac = generateVmkernelMac(host, vmk.name, this.takenMacs);
      vmk.macText = macToString(vmk.mac);
      vmk.macGenerated = true;
      this.takenMacs.add(vmk.mac);
    }
  }

  // ---- links -------------------------------------------------------------------------------------

  private links(items: unknown[], topology: Topology): Link[] {
    const used = new Map<string, PathSeg[]>();
    const out: Link[] = [];
    items.forEach((item, i) => {
      const ends = list(item);
      const ls: PathSeg[] = ['links', i];
      if (ends.length !== 2 || typeof ends[0] !== 'string' || typeof ends[1] !== 'string') return; // schema reports it
      const canonical: string[] = [];
      ends.forEach((e, j) => {
        const text = (e as string).trim();
        const es = [...ls, j];
        const r = resolveEndpointDetailed(topology, text);
        if (!r.ok) {
          if (!this.unsureUplinks.has(text.slice(0, text.indexOf('.')))) this.report(es, r.message, r.hint);
          return;
        }
        if (r.ref.kind === 'vmNic') {
          this.report(es, `${text} is a VM NIC; VM NICs attach to port groups, not links`, 'set portGroup on the NIC instead');
          return;
        }
        if (r.ref.kind === 'vmkernel') {
          this.report(es, `${text} is a vmkernel port; it attaches to a port group, not a link`, 'set portGroup on the vmkernel port, and cable the vSwitch\'s uplinks');
          return;
        }
        if (r.ref.kind === 'switchPort' && r.ref.port.vxlan) {
          this.report(es, `${text} is a VXLAN tunnel port (mode: vxlan); its tunnel is its cable`, 'cable another port, or remove this link');
          return;
        }
        if (j === 1 && canonical[0] === text) {
          this.report(es, `a link cannot join ${text} to itself`);
          return;
        }
        const prior = used.get(text);
        if (prior) {
          this.report(es, `${text} is already cabled by ${pathText(prior.slice(0, -1))} (line ${this.line(prior)})`,
            'an interface takes one cable; for more bandwidth bundle ports in a port-channel');
          return;
        }
        used.set(text, es);
        canonical[j] = text;
      });
      if (canonical[0] !== undefined && canonical[1] !== undefined) out.push({ a: canonical[0], b: canonical[1], loc: this.at.loc(ls) });
    });
    return out;
  }
}

// ---- helpers -------------------------------------------------------------------------------------

function portSettings(p: SwitchPort): string {
  return p.mode === 'access' ? `access vlan ${p.accessVlan}` : `trunk allowed ${formatVlanRanges(p.allowedVlans)} native ${p.nativeVlan}`;
}

function gib(bytes: number): string {
  return String(Math.round((bytes / BYTES_PER_GB) * 100) / 100);
}

function parseIpv4(text: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const octet = Number(m[i]);
    if (octet > 255) return undefined;
    v = v * 256 + octet;
  }
  return v;
}

function ipv4Text(v: number): string {
  return [v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff].join('.');
}

function prefixMask(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

function parseCidr(text: string): IpInterface | { message: string; hint?: string } {
  const t = text.trim();
  const slash = t.indexOf('/');
  const addrText = slash < 0 ? t : t.slice(0, slash);
  const addr = parseIpv4(addrText);
  if (addr === undefined) {
    return { message: `\`${text}\` is not an IPv4 address`, hint: 'write an address with prefix length, e.g. 192.0.2.11/24' };
  }
  if (slash < 0) return { message: `${t} has no prefix length`, hint: `write e.g. ${t}/24` };
  const prefixText = t.slice(slash + 1);
  const prefixLength = /^\d{1,2}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!(prefixLength >= 1 && prefixLength <= 32)) {
    return { message: `prefix length \`/${prefixText}\` must be 1-32`, hint: 'e.g. /24 for 255.255.255.0' };
  }
  if (prefixLength <= 30) {
    const mask = prefixMask(prefixLength);
    const hostBits = (addr & ~mask) >>> 0;
    if (hostBits === 0) return { message: `${addrText} is the network address of ${addrText}/${prefixLength}`, hint: 'pick a host address inside the subnet' };
    if (hostBits === (~mask >>> 0)) return { message: `${addrText} is the broadcast address of its /${prefixLength} subnet`, hint: 'pick a host address inside the subnet' };
  }
  const address = ipv4Text(addr);
  return { address, prefixLength, text: `${address}/${prefixLength}` };
}
