// What the simulation mode (`vfab run --sim`, docs/simulation.md) runs and what it refuses, decided from
// the scenario and its topology before anything starts: the network side (hosts, vSwitches, teaming,
// builtin VMs, physical switches, cables, faults on cables, captures, `vfab set` changes, crafted frames)
// is simulated, and so are killing or restarting a host or switch and vMotion; storage (arrays,
// datastores, locks: a topology's arrays are left out, simNotes), vSphere HA, external and real guests and
// VXLAN ports are not. Each refusal names the step or the
// topology part and why, so a user sees at once that the scenario needs daemon mode. Pure.

import type { ActionStep, Expectation, Scenario } from '../scenario/model.js';
import type { Topology } from '../topology/model.js';

/** Action kinds that need real processes or cores the simulation does not run, with the reason. */
export const SIM_UNSUPPORTED_ACTIONS: Readonly<Partial<Record<ActionStep['kind'], string>>> = {
  isolate: 'cuts a management network watched by the HA agent (vSphere HA is not simulated)',
  vmPower: 'powers a VM through datastore locks (storage is not simulated)',
  vmPowerRace: 'races datastore locks (storage is not simulated)',
  datastoreFormat: 'formats a datastore (storage is not simulated)',
  storageFault: 'faults storage paths (storage is not simulated)',
};

/** Checks that read state the simulation does not have. */
export const SIM_UNSUPPORTED_CHECKS: Readonly<Partial<Record<Expectation['kind'], string>>> = {
  lock: 'reads datastore locks (storage is not simulated)',
  datastoreState: 'reads datastore states (storage is not simulated)',
};

/**
 * What a simulated run leaves out of a topology it can run: storage arrays (and the hosts' paths and VM
 * disks on them) are not simulated; a scenario that does not touch storage runs without them.
 */
export function simNotes(t: Topology): string[] {
  return t.arrays.length > 0 ? [`storage arrays (${t.arrays.map((a) => a.name).join(', ')}) are not simulated: their paths and disks are left out`] : [];
}

/** Why the scenario cannot run in simulation mode: one line per reason; [] when it can. */
export function simUnsupported(s: Scenario, t: Topology): string[] {
  const out: string[] = [];
  if ((t.clusters ?? []).length > 0) out.push(`topology ${t.name}: vSphere HA clusters are not simulated`);
  for (const h of t.hosts) {
    if ((h.datastores ?? []).length > 0) out.push(`host ${h.name}: datastores are not simulated`);
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
      else if ((a.kind === 'kill' || a.kind === 'restart') && t.arrays.some((x) => x.name === a.node)) out.push(`step ${step.index} (${a.kind}): ${a.node} is a storage array (storage is not simulated)`);
    } else {
      for (const e of step.expectations) {
        const why = SIM_UNSUPPORTED_CHECKS[e.check.kind];
        if (why !== undefined) out.push(`check ${e.id} (${e.check.kind}): ${why}`);
      }
    }
  }
  return out;
}
