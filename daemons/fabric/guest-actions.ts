// Guest actions on a running builtin VM, through the control API of the daemon that runs it (its host,
// or its own vmd): the guest sets its interface MTU, changes its MAC, or turns promiscuous mode on or off
// (POST /control/vms/:vm/mtu | mac | promiscuous, daemons/common/vm-control.ts). Shared by `vfab vm
// mtu|mac|promiscuous` and the scenario steps; `vfab set vnic --mtu` can apply its change with
// applyVnicMtu. Leaves out real guests (netns, qemu): their own kernel owns those settings
// (vfab exec VM -- ip link set ...).

import { VfabError } from '../../lib/errors.js';
import { control } from '../common/control-client.js';
import { type FabricState, findVmDaemon } from './state.js';

export type GuestSetting = { mtu: number } | { mac: string } | { promiscuous: boolean };

export interface GuestActionResult {
  vm: string;
  /** The vNIC's name ("nic0"), or its index where an older daemon answers with one. */
  nic: string | number;
  mtu?: number;
  mac?: string;
  promiscuous?: boolean;
}

/** Applies one guest setting to vNIC `nic` of VM `vm` (default: its first vNIC with an address). */
export async function applyGuestSetting(state: FabricState, vm: string, nic: string | undefined, setting: GuestSetting): Promise<GuestActionResult> {
  const daemon = findVmDaemon(state, vm);
  if (state.realGuestHosts?.[vm] !== undefined) {
    throw new VfabError('VFAB_USAGE', `${vm} is a real guest: its own kernel owns its interfaces (vfab exec ${vm} -- ip link set ...)`);
  }
  const [route, body] = 'mtu' in setting ? ['mtu', { mtu: setting.mtu }] : 'mac' in setting ? ['mac', { mac: setting.mac }] : ['promiscuous', { on: setting.promiscuous }];
  return control<GuestActionResult>(daemon, state.token, 'POST', `/control/vms/${encodeURIComponent(vm)}/${route}`, { ...(nic !== undefined ? { nic } : {}), ...body });
}

/** The guest of VM `vm` sets vNIC `nic`'s IP MTU (68-9000) at once; for `vfab set vnic VM NIC --mtu N`. */
export function applyVnicMtu(state: FabricState, vm: string, nic: string, mtu: number): Promise<GuestActionResult> {
  return applyGuestSetting(state, vm, nic, { mtu });
}

/**
 * Powers VM `vm`'s guest on or off at the daemon that runs it: its vNICs go up or down on their vSwitch
 * ports (teaming pins them again on power-on). No datastore locks: `vfab vm power-on|power-off` does those.
 * Shared by the scenario `power` step and `vfab ui`.
 */
export async function setVmPower(state: FabricState, vm: string, on: boolean): Promise<unknown> {
  return control(findVmDaemon(state, vm), state.token, 'POST', `/control/vms/${encodeURIComponent(vm)}/power`, { on });
}
