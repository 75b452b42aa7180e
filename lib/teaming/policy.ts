// NIC teaming policy (spec §3): the policy type, per-port-group overrides and their validation. Covers the
// load-balancing choices of a vSS (§3.2-3.5), the active/standby/unused lists (§3.1), failback (§3.8),
// notify switches (§3.10) and failure detection (§3.9), resolved into uplink indices once, so the engine's
// per-frame paths never look a name up. Impossible configurations are refused with VFAB_TEAMING_* errors.
// Leaves out: load-based teaming (vDS only, §3.6) and LACP (not on a vSS, §3.4).
// Override rule [S6]: a port group inherits every field it does not set. The NIC order (active + standby)
// is one field in the vSphere API (HostNicOrderPolicy), so setting `active` or `standby` in a port group
// replaces the order as a whole (an omitted list is then empty).

import { VfabError } from '../errors.js';
import { MAX_UPLINKS_PER_VSWITCH } from '../vswitch/uplink-selector.js';

export type LoadBalancing = 'srcPortId' | 'srcMac' | 'ipHash' | 'explicit';
export type FailureDetection = 'linkStatus' | 'beaconProbing';

export interface TeamingPolicy {
  loadBalancing: LoadBalancing;
  /** Active NICs in order. */
  active: string[];
  /** Standby NICs in order. NICs in neither list are unused (§3.1). */
  standby: string[];
  /** true = a recovered NIC displaces its replacement at once; false = rolling order (§3.8). */
  failback: boolean;
  notifySwitches: boolean;
  failureDetection: FailureDetection;
}

/** Defaults of a new vSS (§3.2, §3.8, §3.9, §3.10): every uplink active. */
export function defaultTeamingPolicy(uplinks: readonly string[]): TeamingPolicy {
  return { loadBalancing: 'srcPortId', active: [...uplinks], standby: [], failback: true, notifySwitches: true, failureDetection: 'linkStatus' };
}

export const LOAD_BALANCING_VALUES: readonly LoadBalancing[] = ['srcPortId', 'srcMac', 'ipHash', 'explicit'];
export const FAILURE_DETECTION_VALUES: readonly FailureDetection[] = ['linkStatus', 'beaconProbing'];

export type UplinkRole = 'active' | 'standby' | 'unused';

/** A policy with names turned into uplink indices. `where` names its origin for messages. */
export interface ResolvedPolicy {
  where: string;
  policy: TeamingPolicy;
  activeIdx: number[];
  standbyIdx: number[];
  activeMask: number;
  standbyMask: number;
  /** Active | standby: the NICs of the team (beacon participants). */
  teamMask: number;
  role: UplinkRole[];
}

export function teamingError(code: string, message: string, details?: Record<string, unknown>): VfabError {
  return new VfabError(code, message, details);
}

/** Merges a port-group override over the vSwitch policy (see the override rule above). */
export function mergePolicy(base: TeamingPolicy, over: Partial<TeamingPolicy> | undefined): TeamingPolicy {
  if (!over) return base;
  const orderOverridden = over.active !== undefined || over.standby !== undefined;
  return {
    loadBalancing: over.loadBalancing ?? base.loadBalancing,
    active: orderOverridden ? [...(over.active ?? [])] : base.active,
    standby: orderOverridden ? [...(over.standby ?? [])] : base.standby,
    failback: over.failback ?? base.failback,
    notifySwitches: over.notifySwitches ?? base.notifySwitches,
    failureDetection: over.failureDetection ?? base.failureDetection,
  };
}

/** Checks the uplink list itself (names unique, at most MAX_UPLINKS_PER_VSWITCH). */
export function validateUplinks(uplinks: readonly string[]): void {
  if (uplinks.length > MAX_UPLINKS_PER_VSWITCH) {
    throw teamingError('VFAB_TEAMING_TOO_MANY_UPLINKS', `${uplinks.length} uplinks exceed MAX_UPLINKS_PER_VSWITCH (${MAX_UPLINKS_PER_VSWITCH})`);
  }
  const seen = new Set<string>();
  for (const u of uplinks) {
    if (seen.has(u)) throw teamingError('VFAB_TEAMING_DUPLICATE_NIC', `uplink ${u} is listed twice on the vSwitch`, { nic: u });
    seen.add(u);
  }
}

/** Validates `policy` against the vSwitch uplinks and resolves it; throws VfabError VFAB_TEAMING_*. */
export function resolvePolicy(policy: TeamingPolicy, uplinks: readonly string[], where: string): ResolvedPolicy {
  if (!LOAD_BALANCING_VALUES.includes(policy.loadBalancing)) {
    throw teamingError('VFAB_TEAMING_BAD_POLICY', `${where}: load balancing ${JSON.stringify(policy.loadBalancing)} is not one of ${LOAD_BALANCING_VALUES.join(', ')}`);
  }
  if (!FAILURE_DETECTION_VALUES.includes(policy.failureDetection)) {
    throw teamingError('VFAB_TEAMING_BAD_POLICY', `${where}: failure detection ${JSON.stringify(policy.failureDetection)} is not one of ${FAILURE_DETECTION_VALUES.join(', ')}`);
  }
  const index = (name: string, list: string): number => {
    const i = uplinks.indexOf(name);
    if (i < 0) throw teamingError('VFAB_TEAMING_UNKNOWN_NIC', `${where}: ${list} NIC ${name} is not an uplink of this vSwitch (uplinks: ${uplinks.join(', ') || 'none'})`, { nic: name });
    return i;
  };
  const role: UplinkRole[] = uplinks.map(() => 'unused');
  const activeIdx: number[] = [];
  const standbyIdx: number[] = [];
  for (const name of policy.active) {
    const i = index(name, 'active');
    if (role[i] === 'active') throw teamingError('VFAB_TEAMING_DUPLICATE_NIC', `${where}: NIC ${name} is listed twice in the active list`, { nic: name });
    role[i] = 'active';
    activeIdx.push(i);
  }
  for (const name of policy.standby) {
    const i = index(name, 'standby');
    if (role[i] === 'active') throw teamingError('VFAB_TEAMING_NIC_IN_BOTH', `${where}: NIC ${name} is in both the active and the standby list (§3.1)`, { nic: name });
    if (role[i] === 'standby') throw teamingError('VFAB_TEAMING_DUPLICATE_NIC', `${where}: NIC ${name} is listed twice in the standby list`, { nic: name });
    role[i] = 'standby';
    standbyIdx.push(i);
  }
  const unused = uplinks.filter((_, i) => role[i] === 'unused');
  if (policy.loadBalancing === 'ipHash') {
    if (standbyIdx.length > 0 || unused.length > 0) {
      throw teamingError('VFAB_TEAMING_IPHASH_STANDBY', `${where}: IP hash needs every uplink active with empty standby and unused lists (§3.4); standby: ${policy.standby.join(', ') || 'none'}, unused: ${unused.join(', ') || 'none'}`);
    }
    if (policy.failureDetection === 'beaconProbing') {
      throw teamingError('VFAB_TEAMING_IPHASH_BEACON', `${where}: IP hash cannot be combined with beacon probing (§3.4, §3.9); use link status`);
    }
  }
  if (policy.failureDetection === 'beaconProbing' && activeIdx.length + standbyIdx.length < 2) {
    throw teamingError('VFAB_TEAMING_BEACON_ONE_UPLINK', `${where}: beacon probing needs at least 2 team NICs (3 recommended, §3.9); this team has ${activeIdx.length + standbyIdx.length}`);
  }
  let activeMask = 0;
  let standbyMask = 0;
  for (const i of activeIdx) activeMask |= 1 << i;
  for (const i of standbyIdx) standbyMask |= 1 << i;
  return { where, policy, activeIdx, standbyIdx, activeMask, standbyMask, teamMask: activeMask | standbyMask, role };
}
