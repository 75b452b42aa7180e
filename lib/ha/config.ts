// A vSphere-HA cluster's configuration (docs/ha.md): its hosts (management address, gateway, the
// datastores each mounts and the port groups each has), its HA settings (isolation response, isolation
// addresses defaulting to each host's gateway, heartbeat datastores: 2 per host unless set, chosen
// deterministically when not named) and its VMs (datastore, port groups, restart priority, protection).
// resolveCluster checks every value and returns all problems at once, each naming its field; limits are
// checked before anything is allocated. Behaviour reference §7.12. Leaves out admission control, VM
// overrides of the isolation response and VM/application monitoring.

import { type Result, err, ok } from '../errors.js';
import { parseIpv4Address } from '../wire/ipv4.js';
import { type HaError, configError } from './errors.js';

export const ISOLATION_RESPONSES = ['leave-powered-on', 'power-off', 'shutdown'] as const;
export type IsolationResponse = (typeof ISOLATION_RESPONSES)[number];
/** Restart priorities from least to most urgent; `disabled` VMs are never restarted. */
export const RESTART_PRIORITIES = ['disabled', 'lowest', 'low', 'medium', 'high', 'highest'] as const;
export type RestartPriority = (typeof RESTART_PRIORITIES)[number];

/** Most hosts in one cluster. */
export const HA_MAX_HOSTS = 64;
/** Most VMs in one cluster. */
export const HA_MAX_VMS = 8_000;
/** Most isolation addresses (das.isolationaddress0..9). */
export const HA_MAX_ISOLATION_ADDRESSES = 10;
/** Heartbeat datastores per host: the default and the most allowed (das.heartbeatdsperhost). */
export const HA_DEFAULT_HB_DATASTORES_PER_HOST = 2;
export const HA_MAX_HB_DATASTORES_PER_HOST = 5;
/** Most datastores and port groups listed per host or VM. */
export const HA_MAX_DATASTORES_PER_HOST = 256;
export const HA_MAX_PORT_GROUPS = 512;
/** Longest cluster, host, VM, datastore or port-group name, in UTF-8 bytes. */
export const HA_MAX_NAME_BYTES = 64;

export interface HaHostInput {
  name: string;
  /** The host's management (vmk0) IPv4 address: the primary pings it (T10s). */
  managementIp: string;
  /** The management network's gateway: the default isolation address. */
  gateway?: string;
  /** Datastores this host mounts (input: the topology's, not discovered). */
  datastores?: string[];
  /** Port groups this host has. */
  portGroups?: string[];
}

export interface HaVmInput {
  name: string;
  /** The datastore holding the VM's files: a restart host must mount it. */
  datastore: string;
  /** Port groups the VM's NICs use: a restart host must have all of them. */
  portGroups?: string[];
  restartPriority?: RestartPriority;
  /** Protected VMs are restarted after a failure (default true). */
  protected?: boolean;
}

export interface HaSettingsInput {
  isolationResponse?: IsolationResponse;
  /** Addresses a host pings to tell isolation from a partition; default: each host's gateway. */
  isolationAddresses?: string[];
  /** Preferred heartbeat datastores; a host uses those of them it mounts. Default: chosen per host. */
  heartbeatDatastores?: string[];
  heartbeatDatastoresPerHost?: number;
}

export interface ClusterInput {
  name: string;
  hosts: HaHostInput[];
  vms?: HaVmInput[];
  ha?: HaSettingsInput;
}

export interface HaHost {
  name: string;
  managementIp: string;
  datastores: string[];
  portGroups: string[];
  isolationAddresses: string[];
  /** Where this host's datastore heartbeat lives (empty: no heartbeat datastores, dead at T15s). */
  heartbeatDatastores: string[];
}

export interface HaVm {
  name: string;
  datastore: string;
  portGroups: string[];
  restartPriority: RestartPriority;
  protected: boolean;
}

export interface HaCluster {
  name: string;
  isolationResponse: IsolationResponse;
  hosts: HaHost[];
  vms: HaVm[];
  host: ReadonlyMap<string, HaHost>;
  vm: ReadonlyMap<string, HaVm>;
}

/** Rank of a restart priority: higher restarts first; 0 (disabled) never. */
export const priorityRank = (p: RestartPriority): number => RESTART_PRIORITIES.indexOf(p);

/** Paths of a host's HA files on a heartbeat datastore (§7.12). */
export const haDir = (cluster: string): string => `.vSphere-HA/${cluster}`;
export const haHeartbeatFile = (cluster: string, host: string): string => `${haDir(cluster)}/host-${host}-hb`;
export const haPoweronFile = (cluster: string, host: string): string => `${haDir(cluster)}/host-${host}-poweron`;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

class Checker {
  readonly errors: HaError[] = [];
  constructor(private readonly prefix: string) {}
  field(f: string): string {
    return this.prefix ? `${this.prefix}.${f}` : f;
  }
  fail(f: string, why: string): void {
    this.errors.push(configError(this.field(f), why));
  }
  unknownKeys(f: string, o: Record<string, unknown>, allowed: readonly string[]): void {
    for (const k of Object.keys(o)) if (!allowed.includes(k)) this.fail(f ? `${f}.${k}` : k, `unknown field (allowed: ${allowed.join(', ')})`);
  }
  /** `spaces`: a label that may hold spaces (port groups: "VM Network"); never sent in a heartbeat. */
  name(f: string, v: unknown, spaces = false): string | undefined {
    if (typeof v !== 'string' || v.length === 0 || Buffer.byteLength(v, 'utf8') > HA_MAX_NAME_BYTES || (spaces ? /[\0/]/ : /[\0/\s]/).test(v)) {
      this.fail(f, `must be a name of 1..${HA_MAX_NAME_BYTES} bytes without ${spaces ? '' : 'spaces or '}"/" (got ${JSON.stringify(v)})`);
      return undefined;
    }
    return v;
  }
  ipv4(f: string, v: unknown): string | undefined {
    if (typeof v === 'string') {
      try {
        parseIpv4Address(v);
        return v.trim();
      } catch {
        /* reported below */
      }
    }
    this.fail(f, `must be an IPv4 address such as 192.0.2.1 (got ${JSON.stringify(v)})`);
    return undefined;
  }
  names(f: string, v: unknown, max: number, spaces = false): string[] {
    if (v === undefined) return [];
    if (!Array.isArray(v)) {
      this.fail(f, 'must be a list of names');
      return [];
    }
    if (v.length > max) {
      this.fail(f, `has ${v.length} entries, at most ${max}`);
      return [];
    }
    const out: string[] = [];
    v.forEach((x, i) => {
      const n = this.name(`${f}[${i}]`, x, spaces);
      if (n === undefined) return;
      if (out.includes(n)) this.fail(`${f}[${i}]`, `"${n}" is listed twice`);
      else out.push(n);
    });
    return out;
  }
  oneOf<T extends string>(f: string, v: unknown, allowed: readonly T[], dflt: T): T {
    if (v === undefined) return dflt;
    if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
    this.fail(f, `must be one of ${allowed.join(', ')} (got ${JSON.stringify(v)})`);
    return dflt;
  }
}

/**
 * Heartbeat datastores per host: from `preferred` (in its order) when given, else the datastores
 * mounted by the most hosts of the cluster first, ties by name; each host takes the first `perHost` it mounts.
 */
export function chooseHeartbeatDatastores(hosts: ReadonlyArray<{ name: string; datastores: readonly string[] }>, perHost: number, preferred?: readonly string[]): Map<string, string[]> {
  let order: string[];
  if (preferred !== undefined && preferred.length > 0) order = [...preferred];
  else {
    const count = new Map<string, number>();
    for (const h of hosts) for (const d of h.datastores) count.set(d, (count.get(d) ?? 0) + 1);
    order = [...count.keys()].sort((a, b) => count.get(b)! - count.get(a)! || (a < b ? -1 : a > b ? 1 : 0));
  }
  return new Map(hosts.map((h) => [h.name, order.filter((d) => h.datastores.includes(d)).slice(0, perHost)]));
}

/** Checks and completes a cluster's configuration; `prefix` is prepended to every field named (`clusters[0]`). */
export function resolveCluster(input: unknown, prefix = ''): Result<HaCluster, HaError[]> {
  const c = new Checker(prefix);
  if (!isObject(input)) {
    c.fail('', 'must be an object with name, hosts, vms and ha');
    return err(c.errors);
  }
  c.unknownKeys('', input, ['name', 'hosts', 'vms', 'ha']);
  const name = c.name('name', input.name) ?? '';
  const ha = input.ha ?? {};
  if (!isObject(ha)) c.fail('ha', 'must be an object');
  const s = isObject(ha) ? ha : {};
  c.unknownKeys('ha', s, ['isolationResponse', 'isolationAddresses', 'heartbeatDatastores', 'heartbeatDatastoresPerHost']);
  const isolationResponse = c.oneOf('ha.isolationResponse', s.isolationResponse, ISOLATION_RESPONSES, 'leave-powered-on');
  let perHost = HA_DEFAULT_HB_DATASTORES_PER_HOST;
  if (s.heartbeatDatastoresPerHost !== undefined) {
    const n = s.heartbeatDatastoresPerHost;
    if (typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= HA_MAX_HB_DATASTORES_PER_HOST) perHost = n;
    else c.fail('ha.heartbeatDatastoresPerHost', `must be an integer 0..${HA_MAX_HB_DATASTORES_PER_HOST} (got ${JSON.stringify(n)})`);
  }
  let isolationAddresses: string[] | undefined;
  if (s.isolationAddresses !== undefined) {
    const a = s.isolationAddresses;
    if (!Array.isArray(a) || a.length === 0 || a.length > HA_MAX_ISOLATION_ADDRESSES) {
      c.fail('ha.isolationAddresses', `must list 1..${HA_MAX_ISOLATION_ADDRESSES} IPv4 addresses`);
    } else {
      isolationAddresses = a.map((x, i) => c.ipv4(`ha.isolationAddresses[${i}]`, x)).filter((x): x is string => x !== undefined);
    }
  }
  const preferred = c.names('ha.heartbeatDatastores', s.heartbeatDatastores, HA_MAX_DATASTORES_PER_HOST);

  const hostsIn = input.hosts;
  const hosts: Array<Omit<HaHost, 'heartbeatDatastores'>> = [];
  if (!Array.isArray(hostsIn) || hostsIn.length === 0 || hostsIn.length > HA_MAX_HOSTS) {
    c.fail('hosts', `must list 1..${HA_MAX_HOSTS} hosts`);
  } else {
    hostsIn.forEach((h, i) => {
      const f = `hosts[${i}]`;
      if (!isObject(h)) return c.fail(f, 'must be an object with name and managementIp');
      c.unknownKeys(f, h, ['name', 'managementIp', 'gateway', 'datastores', 'portGroups']);
      const hn = c.name(`${f}.name`, h.name);
      if (hn !== undefined && hosts.some((x) => x.name === hn)) c.fail(`${f}.name`, `host "${hn}" is listed twice`);
      const ip = c.ipv4(`${f}.managementIp`, h.managementIp);
      const gw = h.gateway === undefined ? undefined : c.ipv4(`${f}.gateway`, h.gateway);
      if (h.gateway === undefined && s.isolationAddresses === undefined) {
        c.fail(`${f}.gateway`, 'is needed: it is the default isolation address when ha.isolationAddresses is not given');
      }
      const datastores = c.names(`${f}.datastores`, h.datastores, HA_MAX_DATASTORES_PER_HOST);
      const portGroups = c.names(`${f}.portGroups`, h.portGroups, HA_MAX_PORT_GROUPS, true);
      if (hn !== undefined && ip !== undefined) hosts.push({ name: hn, managementIp: ip, datastores, portGroups, isolationAddresses: isolationAddresses ?? (gw ? [gw] : []) });
    });
  }
  preferred.forEach((d, i) => {
    if (!hosts.some((h) => h.datastores.includes(d))) c.fail(`ha.heartbeatDatastores[${i}]`, `"${d}" is mounted by no host of the cluster`);
  });

  const vmsIn = input.vms ?? [];
  const vms: HaVm[] = [];
  if (!Array.isArray(vmsIn) || vmsIn.length > HA_MAX_VMS) {
    c.fail('vms', `must be a list of at most ${HA_MAX_VMS} VMs`);
  } else {
    vmsIn.forEach((v, i) => {
      const f = `vms[${i}]`;
      if (!isObject(v)) return c.fail(f, 'must be an object with name and datastore');
      c.unknownKeys(f, v, ['name', 'datastore', 'portGroups', 'restartPriority', 'protected']);
      const vn = c.name(`${f}.name`, v.name);
      if (vn !== undefined && vms.some((x) => x.name === vn)) c.fail(`${f}.name`, `VM "${vn}" is listed twice`);
      const ds = c.name(`${f}.datastore`, v.datastore);
      if (ds !== undefined && hosts.length > 0 && !hosts.some((h) => h.datastores.includes(ds))) c.fail(`${f}.datastore`, `"${ds}" is mounted by no host of the cluster`);
      const portGroups = c.names(`${f}.portGroups`, v.portGroups, HA_MAX_PORT_GROUPS, true);
      portGroups.forEach((pg, j) => {
        if (hosts.length > 0 && !hosts.some((h) => h.portGroups.includes(pg))) c.fail(`${f}.portGroups[${j}]`, `"${pg}" is on no host of the cluster`);
      });
      const restartPriority = c.oneOf(`${f}.restartPriority`, v.restartPriority, RESTART_PRIORITIES, 'medium');
      if (v.protected !== undefined && typeof v.protected !== 'boolean') c.fail(`${f}.protected`, `must be true or false (got ${JSON.stringify(v.protected)})`);
      if (vn !== undefined && ds !== undefined) vms.push({ name: vn, datastore: ds, portGroups, restartPriority, protected: v.protected !== false });
    });
  }
  if (c.errors.length > 0) return err(c.errors);
  const hb = chooseHeartbeatDatastores(hosts, perHost, preferred);
  const full: HaHost[] = hosts.map((h) => ({ ...h, heartbeatDatastores: hb.get(h.name) ?? [] }));
  return ok({ name, isolationResponse, hosts: full, vms, host: new Map(full.map((h) => [h.name, h])), vm: new Map(vms.map((v) => [v.name, v])) });
}
