// What the simulation mode (`vfab run --sim`, docs/simulation.md) runs and what it refuses, decided from
// the scenario and its topology before anything starts: the network side (hosts, vSwitches, teaming,
// builtin VMs, physical switches, cables, faults on cables, captures, `vfab set` changes, crafted frames)
// is simulated, and so are killing or restarting a host, switch or array, vMotion (with the hand-over of a
// VM's datastore locks), and block storage with VMFS-like and NAS datastores (locks, leases, power-on,
// format, storage faults) over a topology with datastores, over block-protocol or iSCSI paths, with
// vSphere HA; HA without datastores, external and real guests and VXLAN ports are not (a topology without
// datastores runs without its arrays, simNotes). Each refusal names the step or the
// topology part and why, so a user sees at once that the scenario needs daemon mode. Pure.

import type { ActionStep, Expectation, Scenario } from '../scenario/model.js';
import type { Topology } from '../topology/model.js';

/** Action kinds that need real processes or cores the simulation does not run, with the reason. */
export const SIM_UNSUPPORTED_ACTIONS: Readonly<Partial<Record<ActionStep['kind'], string>>> = {};

/** Storage actions and checks: simulated over a topology with datastores (daemons/sim/storage.ts). */
const STORAGE_ACTIONS: ReadonlySet<ActionStep['kind']> = new Set(['vmPower', 'vmPowerRace', 'datastoreFormat', 'storageFault', 'isolate']);
const STORAGE_CHECKS: ReadonlySet<Expectation['kind']> = new Set(['lock', 'datastoreState']);

/** Checks that read state the simulation does not have. */
export const SIM_UNSUPPORTED_CHECKS: Readonly<Partial<Record<Expectation['kind'], string>>> = {};

/** True when the simulation runs the topology's storage: some host has datastores. */
export function simRunsStorage(t: Topology): boolean {
  return t.hosts.some((h) => (h.datastores ?? []).length > 0);
}

/**
 * What a simulated run leaves out of a topology it can run: without datastores, storage arrays (and the
 * hosts' paths and VM disks on them) are not simulated; a scenario that does not touch storage runs
 * without them.
 */
export function simNotes(t: Topology): string[] {
  return t.arrays.length > 0 && !simRunsStorage(t) ? [`storage arrays (${t.arrays.map((a) => a.name).join(', ')}) are not simulated (the topology has no datastores): their paths and disks are left out`] : [];
}

/** Why the scenario cannot run in simulation mode: one line per reason; [] when it can. */
export function simUnsupported(s: Scenario, t: Topology): string[] {
  const out: string[] = [];
  const storage = simRunsStorage(t);
  if ((t.clusters ?? []).length > 0 && !storage) out.push(`topology ${t.name}: vSphere HA clusters without datastores are not simulated`);
  for (const h of t.hosts) {
    for (const vm of h.vms) {
      if (vm.external) out.push(`VM ${vm.name}: an external VM runs in its own process (vmd)`);
      else if (vm.kind === 'netns' || vm.kind === 'qemu') out.push(`VM ${vm.name}: a ${vm.kind} guest is a real kernel or virtual machine`);
    }
  }
  for (const sw of t.switches) for (const p of sw.ports) if (p.vxlan) out.push(`switch port ${sw.name}.${p.name}: a VXLAN port is a real UDP socket`);
  for (const step of s.steps) {
    if (step.kind === 'action') {
      const a = step.action;
      const why = SIM_UNSUPPORTED_ACTIONS[a.kind];
      if (why !== undefined) out.push(`step ${step.index} (${a.kind}): ${why}`);
      else if (!storage && STORAGE_ACTIONS.has(a.kind)) out.push(`step ${step.index} (${a.kind}): the topology has no datastores, so its storage is not simulated`);
      else if (!storage && (a.kind === 'kill' || a.kind === 'restart') && t.arrays.some((x) => x.name === a.node)) out.push(`step ${step.index} (${a.kind}): ${a.node} is a storage array of a topology without datastores (not simulated)`);
    } else {
      for (const e of step.expectations) {
        const why = SIM_UNSUPPORTED_CHECKS[e.check.kind] ?? (!storage && STORAGE_CHECKS.has(e.check.kind) ? 'the topology has no datastores, so its storage is not simulated' : undefined);
        if (why !== undefined) out.push(`check ${e.id} (${e.check.kind}): ${why}`);
      }
    }
  }
  return out;
}
