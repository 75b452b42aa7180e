// The guarantee vSphere HA exists to keep (docs/ha.md; docs/vsphere-behaviour.md §7.14): no VM is ever
// powered on at two hosts at once. doubleRuns checks one picture of who runs what (an agent's
// runningView, or a simulation's ground truth) and lists every VM it finds in two places. Leaves out
// how the picture is gathered.

/** Per VM, the hosts it runs on: the input is host -> VMs it runs. */
export function hostsByVm(running: Iterable<readonly [string, Iterable<string>]>): Map<string, string[]> {
  const by = new Map<string, string[]>();
  for (const [host, vms] of running) {
    for (const vm of vms) {
      const l = by.get(vm);
      if (l === undefined) by.set(vm, [host]);
      else if (!l.includes(host)) l.push(host);
    }
  }
  return by;
}

export interface DoubleRun {
  vm: string;
  hosts: string[];
}

/** Every VM powered on at more than one host, by VM name; `view` maps VM -> hosts (runningView's shape). */
export function doubleRuns(view: ReadonlyMap<string, readonly string[]>): DoubleRun[] {
  return [...view]
    .filter(([, hosts]) => hosts.length > 1)
    .map(([vm, hosts]) => ({ vm, hosts: [...hosts].sort() }))
    .sort((a, b) => (a.vm < b.vm ? -1 : a.vm > b.vm ? 1 : 0));
}
