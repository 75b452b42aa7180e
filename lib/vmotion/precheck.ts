// Checks before a vMotion starts (docs/vmotion.md "Pre-checks"): from plain configuration values, every
// reason the migration cannot start, each a VmotionError whose code and message name what is wrong: the VM
// is off or already migrating, source and destination are the same host, the destination does not see a
// datastore holding the VM's files, lacks a port group a vNIC uses or has it on another VLAN, has no
// vMotion vmkernel port (nor the source), already has a VM of that name, or runs too many migrations; the
// VM's memory model or name is out of range. Pure: the daemon gathers the inputs from its topology and
// state.
// Leaves out compatibility checks vfab has no model for (CPU families, EVC, devices) and the network
// reachability of the vMotion ports (a broken path shows as a lost vMotion network during the copy).

import { VmotionError, VMOTION_MAX_CONCURRENT_PER_HOST, VMOTION_MAX_VM_NAME_BYTES, checkMemoryModel } from './config.js';
import type { MemoryModel } from './memory.js';

export interface PrecheckVm {
  name: string;
  poweredOn: boolean;
  /** Datastores holding its files. */
  datastores: readonly string[];
  nics: ReadonlyArray<{ name: string; portGroup: string; vlanId: number }>;
  memory: MemoryModel;
}

export interface PrecheckHost {
  name: string;
  /** Datastores mounted and accessible on this host. */
  datastores: readonly string[];
  portGroups: ReadonlyArray<{ name: string; vlanId: number }>;
  /** Whether the host has a vmkernel port enabled for vMotion. */
  hasVmotionVmk: boolean;
  /** VMs registered on this host. */
  vms: readonly string[];
  /** VMs migrating to or from this host now. */
  migrating: readonly string[];
}

export interface PrecheckInput {
  vm: PrecheckVm;
  source: PrecheckHost;
  destination: PrecheckHost;
}

/** Every reason the migration cannot start, in a stable order; empty when it may start. */
export function precheckMigration(p: PrecheckInput): VmotionError[] {
  const { vm, source, destination: dst } = p;
  const out: VmotionError[] = [];
  const refuse = (code: string, message: string, details: Record<string, unknown>): void => {
    out.push(new VmotionError(code, message, { vm: vm.name, source: source.name, destination: dst.name, ...details }));
  };
  if (!vm.poweredOn) refuse('VFAB_VMOTION_VM_OFF', `${vm.name} is powered off: vMotion moves a running VM (power it on, or register it on ${dst.name})`, {});
  if (source.migrating.includes(vm.name) || dst.migrating.includes(vm.name)) refuse('VFAB_VMOTION_IN_PROGRESS', `${vm.name} is already migrating`, {});
  if (source.name === dst.name) refuse('VFAB_VMOTION_SAME_HOST', `${vm.name} already runs on ${dst.name}: the destination must be another host`, {});
  else if (dst.vms.includes(vm.name)) refuse('VFAB_VMOTION_NAME_TAKEN', `${dst.name} already has a VM named ${vm.name}`, {});
  for (const ds of vm.datastores) {
    if (!dst.datastores.includes(ds)) refuse('VFAB_VMOTION_NO_DATASTORE', `${dst.name} does not see datastore ${ds}, which holds ${vm.name}'s files`, { datastore: ds });
  }
  for (const nic of vm.nics) {
    const pg = dst.portGroups.find((g) => g.name === nic.portGroup);
    if (pg === undefined) {
      refuse('VFAB_VMOTION_NO_PORT_GROUP', `${dst.name} has no port group ${nic.portGroup} for ${vm.name}.${nic.name}`, { nic: nic.name, portGroup: nic.portGroup });
    } else if (pg.vlanId !== nic.vlanId) {
      refuse('VFAB_VMOTION_VLAN_MISMATCH', `port group ${nic.portGroup} is VLAN ${pg.vlanId} on ${dst.name} but VLAN ${nic.vlanId} on ${source.name} (${vm.name}.${nic.name})`, {
        nic: nic.name, portGroup: nic.portGroup, sourceVlan: nic.vlanId, destinationVlan: pg.vlanId,
      });
    }
  }
  for (const h of source.name === dst.name ? [source] : [source, dst]) {
    if (!h.hasVmotionVmk) refuse('VFAB_VMOTION_NO_VMK', `${h.name} has no vmkernel port enabled for vMotion`, { host: h.name });
    if (h.migrating.length >= VMOTION_MAX_CONCURRENT_PER_HOST) {
      refuse('VFAB_VMOTION_TOO_MANY', `${h.name} already runs ${h.migrating.length} migrations (at most ${VMOTION_MAX_CONCURRENT_PER_HOST})`, { host: h.name });
    }
  }
  const nameBytes = Buffer.byteLength(vm.name, 'utf8');
  if (nameBytes > VMOTION_MAX_VM_NAME_BYTES) {
    refuse('VFAB_VMOTION_BAD_CONFIG', `VM name ${vm.name} is ${nameBytes} bytes; vMotion carries at most ${VMOTION_MAX_VM_NAME_BYTES}`, { field: 'name' });
  }
  try {
    checkMemoryModel(vm.memory);
  } catch (e) {
    if (e instanceof VmotionError) out.push(e);
    else throw e;
  }
  return out;
}
