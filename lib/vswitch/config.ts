// Configuration of a standard vSwitch: types, security-policy defaults and validation (spec §2.1, §4,
// §8, §1.11, §1.13, §3.10). Covers what the vSwitch itself needs; teaming policy (active/standby lists,
// load balancing) lives in lib/teaming and reaches the vSwitch only as an UplinkSelector. Validation
// throws VfabError with VFAB_VSWITCH_* codes; it runs on the control plane, never per frame.

import { VfabError } from '../errors.js';
import { MAX_UPLINKS_PER_VSWITCH } from './uplink-selector.js';
import {
  DEFAULT_MTU_BYTES,
  MAX_PORT_GROUPS_PER_VSWITCH,
  MAX_PORT_GROUP_NAME_CHARS,
  MAX_PORTS_PER_VSWITCH,
  MAX_VSWITCH_MTU_BYTES,
  MAX_VSWITCH_NAME_CHARS,
  MIN_VSWITCH_MTU_BYTES,
  VLAN_ID_EST,
  VLAN_ID_VGT,
} from './limits.js';

export interface SecurityPolicy {
  allowPromiscuous: boolean;
  allowMacChanges: boolean;
  allowForgedTransmits: boolean;
}

export interface PortGroupConfig {
  name: string;
  /** 0 EST, 1..4094 VST, 4095 VGT (§2.1). */
  vlanId: number;
  /** Overrides the vSwitch policy field by field (§4). */
  security?: Partial<SecurityPolicy>;
  /** Overrides the vSwitch's Notify Switches setting (§3.10). */
  notifySwitches?: boolean;
}

export interface VSwitchConfig {
  name: string;
  /** Default 1500, at most 9000 (§1.13). */
  mtuBytes?: number;
  /** vmnic names; order = uplink index. */
  uplinks: string[];
  security?: Partial<SecurityPolicy>;
  portGroups: PortGroupConfig[];
  /** Default MAX_PORTS_PER_VSWITCH (ports are elastic since 5.5). */
  maxPorts?: number;
  /** Net.ReversePathFwdCheckPromisc (§1.11); default false. */
  reversePathCheckPromiscuous?: boolean;
  /** Notify Switches (§3.10): emit RARP actions on connect, MAC change and uplink change; default true. */
  notifySwitches?: boolean;
}

/**
 * vSphere 7.0+ vSS defaults (§4.5): all three Reject. Before 7.0 a vSS defaulted to
 * Promiscuous Reject, MAC Address Changes Accept, Forged Transmits Accept (PRE_7_VSS_SECURITY below);
 * a vDS rejects all three.
 */
export const DEFAULT_SECURITY: Readonly<SecurityPolicy> = Object.freeze({
  allowPromiscuous: false,
  allowMacChanges: false,
  allowForgedTransmits: false,
});

/** vSS defaults before vSphere 7.0 (§4.5), for topologies that emulate older hosts. */
export const PRE_7_VSS_SECURITY: Readonly<SecurityPolicy> = Object.freeze({
  allowPromiscuous: false,
  allowMacChanges: true,
  allowForgedTransmits: true,
});

export const DEFAULT_NOTIFY_SWITCHES = true;
export const DEFAULT_REVERSE_PATH_CHECK_PROMISCUOUS = false;

/** Port-group field, else vSwitch field, else DEFAULT_SECURITY (§4: the port-group setting overrides). */
export function resolveSecurity(vswitch: Partial<SecurityPolicy> | undefined, portGroup: Partial<SecurityPolicy> | undefined): SecurityPolicy {
  return {
    allowPromiscuous: portGroup?.allowPromiscuous ?? vswitch?.allowPromiscuous ?? DEFAULT_SECURITY.allowPromiscuous,
    allowMacChanges: portGroup?.allowMacChanges ?? vswitch?.allowMacChanges ?? DEFAULT_SECURITY.allowMacChanges,
    allowForgedTransmits: portGroup?.allowForgedTransmits ?? vswitch?.allowForgedTransmits ?? DEFAULT_SECURITY.allowForgedTransmits,
  };
}

function fail(code: string, message: string, details?: Record<string, unknown>): never {
  throw new VfabError(code, message, details);
}

function checkName(kind: string, name: unknown, maxChars: number, code: string): string {
  if (typeof name !== 'string' || name.length === 0) fail(code, `${kind} name must be a non-empty string`, { name });
  if (name.length > maxChars) fail(code, `${kind} name ${JSON.stringify(name)} is ${name.length} characters; the limit is ${maxChars}`, { name, maxChars });
  return name;
}

export function validateVlanId(vlanId: unknown, where: string): number {
  if (typeof vlanId !== 'number' || !Number.isInteger(vlanId) || vlanId < VLAN_ID_EST || vlanId > VLAN_ID_VGT) {
    fail('VFAB_VSWITCH_BAD_VLAN', `${where}: VLAN ID ${String(vlanId)} is not 0 (none), 1-4094 (VST) or 4095 (VGT)`, { vlanId });
  }
  return vlanId;
}

function checkSecurity(sec: unknown, where: string): void {
  if (sec === undefined) return;
  if (typeof sec !== 'object' || sec === null) fail('VFAB_VSWITCH_BAD_CONFIG', `${where}: security must be an object`);
  for (const [k, v] of Object.entries(sec)) {
    if (k !== 'allowPromiscuous' && k !== 'allowMacChanges' && k !== 'allowForgedTransmits') {
      fail('VFAB_VSWITCH_BAD_CONFIG', `${where}: unknown security setting ${JSON.stringify(k)}`);
    }
    if (typeof v !== 'boolean' && v !== undefined) fail('VFAB_VSWITCH_BAD_CONFIG', `${where}: security.${k} must be true or false`);
  }
}

function checkOptionalBoolean(v: unknown, what: string): void {
  if (v !== undefined && typeof v !== 'boolean') fail('VFAB_VSWITCH_BAD_CONFIG', `${what} must be true or false`);
}

/** Validates a vSwitch config; throws VfabError(VFAB_VSWITCH_*) on the first problem. */
export function validateVSwitchConfig(config: VSwitchConfig): void {
  if (typeof config !== 'object' || config === null) fail('VFAB_VSWITCH_BAD_CONFIG', 'vSwitch config must be an object');
  const name = checkName('vSwitch', config.name, MAX_VSWITCH_NAME_CHARS, 'VFAB_VSWITCH_BAD_NAME');
  const where = `vSwitch ${name}`;
  if (config.mtuBytes !== undefined) {
    const mtu = config.mtuBytes;
    if (typeof mtu !== 'number' || !Number.isInteger(mtu) || mtu < MIN_VSWITCH_MTU_BYTES || mtu > MAX_VSWITCH_MTU_BYTES) {
      fail('VFAB_VSWITCH_BAD_MTU', `${where}: MTU ${String(mtu)} bytes is outside ${MIN_VSWITCH_MTU_BYTES}-${MAX_VSWITCH_MTU_BYTES} (default ${DEFAULT_MTU_BYTES})`, { mtuBytes: mtu });
    }
  }
  if (!Array.isArray(config.uplinks)) fail('VFAB_VSWITCH_BAD_CONFIG', `${where}: uplinks must be an array of vmnic names`);
  if (config.uplinks.length > MAX_UPLINKS_PER_VSWITCH) {
    fail('VFAB_VSWITCH_TOO_MANY_UPLINKS', `${where}: ${config.uplinks.length} uplinks; the limit is ${MAX_UPLINKS_PER_VSWITCH}`, { count: config.uplinks.length });
  }
  const uplinkNames = new Set<string>();
  for (const u of config.uplinks) {
    checkName('uplink', u, MAX_VSWITCH_NAME_CHARS, 'VFAB_VSWITCH_BAD_NAME');
    if (uplinkNames.has(u)) fail('VFAB_VSWITCH_DUPLICATE_NAME', `${where}: uplink ${u} is listed twice`, { uplink: u });
    uplinkNames.add(u);
  }
  checkSecurity(config.security, where);
  checkOptionalBoolean(config.reversePathCheckPromiscuous, `${where}: reversePathCheckPromiscuous`);
  checkOptionalBoolean(config.notifySwitches, `${where}: notifySwitches`);
  if (config.maxPorts !== undefined) {
    const m = config.maxPorts;
    if (typeof m !== 'number' || !Number.isInteger(m) || m < 1 || m > MAX_PORTS_PER_VSWITCH) {
      fail('VFAB_VSWITCH_BAD_CONFIG', `${where}: maxPorts ${String(m)} is outside 1-${MAX_PORTS_PER_VSWITCH}`, { maxPorts: m });
    }
  }
  if (!Array.isArray(config.portGroups)) fail('VFAB_VSWITCH_BAD_CONFIG', `${where}: portGroups must be an array`);
  if (config.portGroups.length > MAX_PORT_GROUPS_PER_VSWITCH) {
    fail('VFAB_VSWITCH_TOO_MANY_PORT_GROUPS', `${where}: ${config.portGroups.length} port groups; the limit is ${MAX_PORT_GROUPS_PER_VSWITCH}`, { count: config.portGroups.length });
  }
  const pgNames = new Set<string>();
  for (const pg of config.portGroups) {
    if (typeof pg !== 'object' || pg === null) fail('VFAB_VSWITCH_BAD_CONFIG', `${where}: each port group must be an object`);
    const pgName = checkName('port group', pg.name, MAX_PORT_GROUP_NAME_CHARS, 'VFAB_VSWITCH_BAD_NAME');
    if (pgNames.has(pgName)) fail('VFAB_VSWITCH_DUPLICATE_NAME', `${where}: port group ${pgName} is defined twice`, { portGroup: pgName });
    pgNames.add(pgName);
    validateVlanId(pg.vlanId, `${where}, port group ${pgName}`);
    checkSecurity(pg.security, `${where}, port group ${pgName}`);
    checkOptionalBoolean(pg.notifySwitches, `${where}, port group ${pgName}: notifySwitches`);
  }
}
