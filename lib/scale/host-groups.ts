// Which hosts share a process under `vfab up --hosts-per-process N` (docs/scale.md, "Several hosts per
// process"). Pure planning: the daemons that run the groups are daemons/hostgroupd.ts and
// daemons/fabric/host-groups.ts. Hosts are packed in topology order into the fewest groups of at most N,
// sizes differing by at most one (100 hosts at 10: ten groups of 10; 25 at 10: 9, 8, 8), so a group's
// memory and start time are about the same as its siblings'. A host with real guests (kind netns or qemu)
// stays in its own process: attaching them changes process-wide things (namespaces, child processes, names
// made from the PID). Leaves out placing by switch or cluster (every host costs about the same).

import { VfabError } from '../errors.js';

/** Most hosts one process runs (one worker thread each); the bound of --hosts-per-process. */
export const MAX_HOSTS_PER_PROCESS = 64;
/** Group names carry a dot, which node names cannot (lib/topology/topology.schema.json), so they never clash. */
export const GROUP_NAME_PREFIX = 'hostgroup.';

export interface PackableHost {
  name: string;
  /** False: runs in its own process whatever N is (real guests). */
  packable: boolean;
}

export interface HostGroupPlan {
  /** "hostgroup.1", "hostgroup.2", ... */
  name: string;
  hosts: string[];
}

/** The groups for `hosts` at `perProcess` hosts per process; none at 1 (every host alone, as without packing). */
export function planHostGroups(hosts: readonly PackableHost[], perProcess: number): HostGroupPlan[] {
  if (!Number.isInteger(perProcess) || perProcess < 1 || perProcess > MAX_HOSTS_PER_PROCESS) {
    throw new VfabError('VFAB_USAGE', `hosts per process must be a whole number 1-${MAX_HOSTS_PER_PROCESS}, not ${perProcess}`);
  }
  if (perProcess === 1) return [];
  const packed = hosts.filter((h) => h.packable).map((h) => h.name);
  if (packed.length < 2) return [];
  const count = Math.ceil(packed.length / perProcess);
  const small = Math.floor(packed.length / count);
  const bigger = packed.length % count; // the first `bigger` groups take one more
  const groups: HostGroupPlan[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    const size = small + (i < bigger ? 1 : 0);
    groups.push({ name: `${GROUP_NAME_PREFIX}${i + 1}`, hosts: packed.slice(at, at + size) });
    at += size;
  }
  return groups;
}

/** Host name -> its group's name, for the hosts that are packed. */
export function groupOfHost(groups: readonly HostGroupPlan[]): Map<string, string> {
  return new Map(groups.flatMap((g) => g.hosts.map((h) => [h, g.name] as const)));
}
