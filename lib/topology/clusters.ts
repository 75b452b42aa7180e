// The topology's vSphere-HA clusters (`clusters:`, docs/topology.md and docs/ha.md "In a fabric"): each
// cluster names hosts of the file, HA settings and per-VM restart settings. This file turns them into the
// HA core's cluster input (lib/ha/config.ts): a host's management address and gateway come from its
// vmkernel port with the `management` service, its datastores from hosts[].datastores, its port groups
// from its vSwitches; the cluster's VMs are its hosts' VMs with a disk on a datastore. resolveCluster's
// problems come back with the line of the field they name. Leaves out VMs without datastore disks (HA
// cannot restart them: nothing holds their files) and hosts in two clusters (refused). Behaviour
// reference §7.12 (cluster settings).

import { type ClusterInput, type HaVmInput, resolveCluster } from '../ha/config.js';
import type { Host, SourceLoc } from './model.js';
import type { Locator, PathSeg, TopologyProblem } from './source.js';

/** A cluster as loaded: its HA core input (checked by resolveCluster) and where it is in the file. */
export interface Cluster {
  name: string;
  hosts: string[];
  /** What lib/ha's resolveCluster takes; hostd resolves it again (it is plain data, for the plan). */
  input: ClusterInput;
  loc: SourceLoc;
}

type Raw = Record<string, unknown>;
const obj = (x: unknown): Raw => (x !== null && typeof x === 'object' && !Array.isArray(x) ? (x as Raw) : {});
const list = (x: unknown): unknown[] => (Array.isArray(x) ? x : []);

/** Builds `clusters:`; returns the clusters and every problem (each with its line). */
export function buildClusters(raw: unknown, hosts: readonly Host[], at: Locator): { clusters: Cluster[]; problems: TopologyProblem[] } {
  const problems: TopologyProblem[] = [];
  const report = (segs: PathSeg[], message: string, hint?: string) => problems.push(at.problem(segs, message, hint));
  const byName = new Map(hosts.map((h) => [h.name, h]));
  const clusterOf = new Map<string, string>();
  const clusters: Cluster[] = [];
  list(raw).forEach((rc, ci) => {
    const r = obj(rc);
    const segs: PathSeg[] = ['clusters', ci];
    const name = typeof r.name === 'string' ? r.name : '';
    const hostNames: string[] = [];
    const hostInputs: ClusterInput['hosts'] = [];
    const vms: HaVmInput[] = [];
    const hostPos = new Map<number, number>(); // index in hostInputs -> index in the file's list
    list(r.hosts).forEach((hn, hi) => {
      if (typeof hn !== 'string') return; // the schema reports it
      const hs: PathSeg[] = [...segs, 'hosts', hi];
      const host = byName.get(hn);
      if (host === undefined) {
        report(hs, `no host \`${hn}\` in hosts[]`, `cluster hosts are names of hosts[]: ${hosts.map((h) => h.name).join(', ') || '(none)'}`);
        return;
      }
      const other = clusterOf.get(hn);
      if (other !== undefined) {
        report(hs, `host \`${hn}\` is in cluster \`${other}\` already`, 'a host belongs to one cluster at most');
        return;
      }
      clusterOf.set(hn, name);
      const mgmt = host.vmkernels.find((k) => k.services.includes('management'));
      if (mgmt === undefined) {
        report(hs, `host \`${hn}\` has no vmkernel port with the management service`, `add one under hosts[].vmkernels, e.g. { name: vmk0, portGroup: Management Network, ip: 10.0.0.11/24, services: [management] }: HA heartbeats go over it`);
        return;
      }
      hostNames.push(hn);
      hostPos.set(hostInputs.length, hi);
      hostInputs.push({
        name: hn,
        managementIp: mgmt.ip.address,
        ...(mgmt.gateway !== undefined ? { gateway: mgmt.gateway } : {}),
        datastores: (host.datastores ?? []).map((d) => d.name),
        portGroups: host.vswitches.flatMap((v) => v.portGroups.map((p) => p.name)),
      });
      for (const vm of host.vms) {
        const ds = vm.disks.find((d) => d.datastore)?.datastore;
        if (ds !== undefined) vms.push({ name: vm.name, datastore: ds, portGroups: [...new Set(vm.nics.map((n) => n.portGroup))] });
      }
    });
    const settings = obj(r.vms);
    const vmIndex = new Map(vms.map((v, i) => [v.name, i]));
    for (const [vmName, s] of Object.entries(settings)) {
      const i = vmIndex.get(vmName);
      if (i === undefined) {
        report([...segs, 'vms', vmName], `no VM \`${vmName}\` with a disk on a datastore runs on this cluster's hosts`, 'HA restarts VMs whose files are on a datastore (vms[].disks[].datastore) of a cluster host');
        continue;
      }
      const o = obj(s);
      vms[i] = { ...vms[i]!, ...(o.restartPriority !== undefined ? { restartPriority: o.restartPriority as HaVmInput['restartPriority'] } : {}), ...(o.protected !== undefined ? { protected: o.protected as boolean } : {}) };
    }
    const input: ClusterInput = { name, hosts: hostInputs, vms, ...(r.ha !== undefined ? { ha: obj(r.ha) } : {}) };
    // the HA core checks the rest (isolation addresses, heartbeat datastores, limits): its field names
    // are those of `input`, mapped back to the file's
    if (hostInputs.length > 0) {
      const resolved = resolveCluster(input);
      if (!resolved.ok) {
        for (const e of resolved.error) {
          const field = String((e.details as { field?: unknown } | undefined)?.field ?? '');
          report(fileSegs(segs, field, hostPos, vms), e.message.startsWith(`${field}: `) ? e.message.slice(field.length + 2) : e.message);
        }
      }
    }
    clusters.push({ name, hosts: hostNames, input, loc: at.loc(segs) });
  });
  return { clusters, problems };
}

/** The file path of a resolveCluster field: hosts[i] -> the cluster's hosts list, vms[i] -> vms.<name>. */
function fileSegs(segs: PathSeg[], field: string, hostPos: ReadonlyMap<number, number>, vms: readonly HaVmInput[]): PathSeg[] {
  const m = /^(hosts|vms)\[(\d+)\]/.exec(field);
  if (m !== null) {
    const i = Number(m[2]);
    return m[1] === 'hosts' ? [...segs, 'hosts', hostPos.get(i) ?? 0] : [...segs, 'vms', vms[i]?.name ?? ''];
  }
  const parts = field.split('.').flatMap((p) => p.split(/\[(\d+)\]/).filter((x) => x !== '').map((x) => (/^\d+$/.test(x) ? Number(x) : x)));
  return [...segs, ...parts];
}
