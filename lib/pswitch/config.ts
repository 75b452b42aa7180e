// Configuration of the emulated physical switch: port, port-channel and switch settings, their named
// defaults and limits, and the validation that turns a config into a normalised form (or a VfabError
// VFAB_PSWITCH_*). Follows IOS conventions for access/trunk ports (switchport mode, access VLAN, trunk
// allowed/native VLAN) and static EtherChannel ("channel-group N mode on"); the spec side is
// docs/vsphere-behaviour.md §2.6, §2.7 (VLANs), §3.4 (IP hash needs a static channel).
// Leaves out LACP/PAgP, voice VLANs, private VLANs and STP: a channel member whose settings differ from
// the others is rejected here (IOS would suspend it) rather than emulated as suspended.

import { VfabError } from '../errors.js';
import { VLAN_MAX, VLAN_MIN } from '../wire/ethernet.js';

/** Default dynamic MAC aging time (IOS `mac address-table aging-time 300`). */
export const MAC_AGING_MS = 300_000;
/** Shortest and longest aging times accepted; aging cannot be switched off (no silent "never"). */
export const MIN_MAC_AGING_MS = 1;
export const MAX_MAC_AGING_MS = 1_000_000_000;
/** Default MAC table capacity (dynamic entries, all VLANs), the size of a small access switch. */
export const DEFAULT_MAC_TABLE_MAX_ENTRIES = 8192;
/** Largest MAC table a config may ask for. */
export const MAX_MAC_TABLE_ENTRIES = 1_048_576;
/** Flap detection: more than DEFAULT_MAC_FLAP_MOVES moves of one MAC within DEFAULT_MAC_FLAP_WINDOW_MS. */
export const DEFAULT_MAC_FLAP_MOVES = 3;
export const DEFAULT_MAC_FLAP_WINDOW_MS = 10_000;
export const MAX_MAC_FLAP_WINDOW_MS = 3_600_000;
/** Port MTU (payload bytes, without the 14-byte header and any 802.1Q tag). */
export const DEFAULT_PORT_MTU_BYTES = 1500;
export const MIN_PORT_MTU_BYTES = 576;
export const MAX_PORT_MTU_BYTES = 9216;
/** Ports per switch (a stack of 48-port units; the topology schema's limit, lib/topology/model.ts) and members per static channel (IOS: 8). */
export const MAX_SWITCH_PORTS = 1024;
export const MAX_CHANNEL_MEMBERS = 8;
export const MAX_PORT_CHANNELS = 128;
/** Longest port, channel or switch name. */
export const MAX_NAME_CHARS = 64;
/** Size of the VLAN ID space (0..4095): per-VLAN arrays are this long. */
export const VLAN_ID_SPACE = 4096;

export type PortMode = 'access' | 'trunk';
export type LoadBalance = 'src-dst-ip' | 'src-dst-mac' | 'src-mac' | 'dst-mac' | 'src-ip' | 'dst-ip';
export const LOAD_BALANCE_MODES: readonly LoadBalance[] = ['src-dst-ip', 'src-dst-mac', 'src-mac', 'dst-mac', 'src-ip', 'dst-ip'];
/** Default channel hash: the one vSphere "Route based on IP hash" needs on the switch side (§3.4). */
export const DEFAULT_LOAD_BALANCE: LoadBalance = 'src-dst-ip';

export interface SwitchPortConfig {
  /** e.g. "Gi1/0/1". */
  name: string;
  mode: PortMode;
  /** Access VLAN (access ports), default 1. */
  accessVlan?: number;
  /** Trunk allowed VLANs, default 'all' (1-4094). An empty list allows none. */
  allowedVlans?: number[] | 'all';
  /** Trunk native VLAN (sent and received untagged), default 1. */
  nativeVlan?: number;
  /** Default DEFAULT_PORT_MTU_BYTES, at most MAX_PORT_MTU_BYTES. */
  mtuBytes?: number;
  /** Administratively down ("shutdown"). */
  shutdown?: boolean;
  description?: string;
}

export interface PortChannelConfig {
  /** e.g. "Po1". */
  name: string;
  /** Member port names. */
  members: string[];
  /** Static channel only ("mode on"). */
  mode: 'on';
  loadBalance?: LoadBalance;
}

export interface PhysicalSwitchConfig {
  name: string;
  ports: SwitchPortConfig[];
  portChannels?: PortChannelConfig[];
  /** Default MAC_AGING_MS. */
  macAgingMs?: number;
  /** Default DEFAULT_MAC_TABLE_MAX_ENTRIES. */
  macTableMaxEntries?: number;
  /** Default { moves: DEFAULT_MAC_FLAP_MOVES, windowMs: DEFAULT_MAC_FLAP_WINDOW_MS }. */
  flapDetection?: { moves: number; windowMs: number };
  /** Link state of every port at start, default true (the daemon sets links down for unplugged ports). */
  linksStartUp?: boolean;
}

export interface NormalizedPort {
  name: string;
  mode: PortMode;
  accessVlan: number;
  nativeVlan: number;
  /** Sorted list of allowed VLANs (trunk), or 'all'. */
  allowedVlans: number[] | 'all';
  /** allowed[v] === 1 when this port carries VLAN v (access: only its access VLAN). */
  allowed: Uint8Array;
  mtuBytes: number;
  shutdown: boolean;
  description: string;
  /** Index of the channel this port belongs to, or -1. */
  channel: number;
}

export interface NormalizedChannel {
  name: string;
  members: number[];
  loadBalance: LoadBalance;
}

export interface NormalizedConfig {
  name: string;
  ports: NormalizedPort[];
  channels: NormalizedChannel[];
  macAgingMs: number;
  macTableMaxEntries: number;
  flapMoves: number;
  flapWindowMs: number;
  linksStartUp: boolean;
}

function fail(code: string, message: string, details?: Record<string, unknown>): never {
  throw new VfabError(code, message, details);
}

function checkName(what: string, name: unknown): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_NAME_CHARS) {
    fail('VFAB_PSWITCH_CONFIG', `${what} name must be a string of 1-${MAX_NAME_CHARS} characters, got ${JSON.stringify(name)}`);
  }
  return name;
}

function checkVlan(where: string, vlan: unknown): number {
  if (typeof vlan !== 'number' || !Number.isInteger(vlan) || vlan < VLAN_MIN || vlan > VLAN_MAX) {
    fail('VFAB_PSWITCH_BAD_VLAN', `${where}: VLAN ${JSON.stringify(vlan)} is outside ${VLAN_MIN}-${VLAN_MAX}`, { vlan });
  }
  return vlan;
}

function checkInt(code: string, what: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(code, `${what} must be an integer in ${min}-${max}, got ${JSON.stringify(value)}`, { value });
  }
  return value;
}

function normalizePort(p: SwitchPortConfig): NormalizedPort {
  const name = checkName('port', p?.name);
  if (p.mode !== 'access' && p.mode !== 'trunk') {
    fail('VFAB_PSWITCH_CONFIG', `port ${name}: mode must be 'access' or 'trunk', got ${JSON.stringify(p.mode)}`);
  }
  // IOS keeps (and ignores) the settings of the other mode; we validate them all the same.
  const accessVlan = checkVlan(`port ${name} access VLAN`, p.accessVlan ?? 1);
  const nativeVlan = checkVlan(`port ${name} native VLAN`, p.nativeVlan ?? 1);
  let allowedVlans: number[] | 'all';
  if (p.allowedVlans === undefined || p.allowedVlans === 'all') {
    allowedVlans = 'all';
  } else if (Array.isArray(p.allowedVlans)) {
    if (p.allowedVlans.length > VLAN_ID_SPACE) fail('VFAB_PSWITCH_BAD_VLAN', `port ${name}: allowed VLAN list has ${p.allowedVlans.length} entries`);
    allowedVlans = [...new Set(p.allowedVlans.map((v) => checkVlan(`port ${name} allowed VLANs`, v)))].sort((a, b) => a - b);
  } else {
    fail('VFAB_PSWITCH_BAD_VLAN', `port ${name}: allowedVlans must be 'all' or a list of VLAN IDs`);
  }
  const mtuBytes = checkInt('VFAB_PSWITCH_BAD_MTU', `port ${name} mtuBytes`, p.mtuBytes ?? DEFAULT_PORT_MTU_BYTES, MIN_PORT_MTU_BYTES, MAX_PORT_MTU_BYTES);
  const allowed = new Uint8Array(VLAN_ID_SPACE);
  if (p.mode === 'access') {
    allowed[accessVlan] = 1;
  } else if (allowedVlans === 'all') {
    allowed.fill(1, VLAN_MIN, VLAN_MAX + 1);
  } else {
    for (const v of allowedVlans) allowed[v] = 1;
  }
  return {
    name,
    mode: p.mode,
    accessVlan,
    nativeVlan,
    allowedVlans,
    allowed,
    mtuBytes,
    shutdown: p.shutdown === true,
    description: typeof p.description === 'string' ? p.description : '',
    channel: -1,
  };
}

function sameVlanSettings(a: NormalizedPort, b: NormalizedPort): boolean {
  if (a.mode !== b.mode || a.mtuBytes !== b.mtuBytes) return false;
  if (a.mode === 'access') return a.accessVlan === b.accessVlan;
  if (a.nativeVlan !== b.nativeVlan) return false;
  if (a.allowedVlans === 'all' || b.allowedVlans === 'all') return a.allowedVlans === b.allowedVlans;
  return a.allowedVlans.length === b.allowedVlans.length && a.allowedVlans.every((v, i) => v === (b.allowedVlans as number[])[i]);
}

/** Validates a switch config and fills in defaults. Throws VfabError VFAB_PSWITCH_* on the first problem. */
export function normalizeSwitchConfig(config: PhysicalSwitchConfig): NormalizedConfig {
  if (config === null || typeof config !== 'object') fail('VFAB_PSWITCH_CONFIG', 'switch config must be an object');
  const name = checkName('switch', config.name);
  if (!Array.isArray(config.ports) || config.ports.length === 0) fail('VFAB_PSWITCH_CONFIG', `switch ${name}: needs at least one port`);
  if (config.ports.length > MAX_SWITCH_PORTS) {
    fail('VFAB_PSWITCH_LIMIT', `switch ${name}: ${config.ports.length} ports exceed MAX_SWITCH_PORTS (${MAX_SWITCH_PORTS})`);
  }
  const ports = config.ports.map(normalizePort);
  const byName = new Map<string, number>();
  ports.forEach((p, i) => {
    if (byName.has(p.name)) fail('VFAB_PSWITCH_DUPLICATE_NAME', `switch ${name}: port name ${p.name} used twice`, { port: p.name });
    byName.set(p.name, i);
  });

  const channelConfigs = config.portChannels ?? [];
  if (!Array.isArray(channelConfigs)) fail('VFAB_PSWITCH_CONFIG', 'portChannels must be a list');
  if (channelConfigs.length > MAX_PORT_CHANNELS) {
    fail('VFAB_PSWITCH_LIMIT', `switch ${name}: ${channelConfigs.length} port-channels exceed MAX_PORT_CHANNELS (${MAX_PORT_CHANNELS})`);
  }
  const channels: NormalizedChannel[] = [];
  const channelNames = new Set<string>();
  channelConfigs.forEach((c, ci) => {
    const cname = checkName('port-channel', c?.name);
    if (channelNames.has(cname) || byName.has(cname)) {
      fail('VFAB_PSWITCH_DUPLICATE_NAME', `port-channel name ${cname} is already used by a port or channel`, { channel: cname });
    }
    channelNames.add(cname);
    if (c.mode !== 'on') {
      fail('VFAB_PSWITCH_BAD_CHANNEL', `${cname}: only static channels (mode 'on') are emulated, got ${JSON.stringify(c.mode)}`, { channel: cname });
    }
    const loadBalance = c.loadBalance ?? DEFAULT_LOAD_BALANCE;
    if (!LOAD_BALANCE_MODES.includes(loadBalance)) {
      fail('VFAB_PSWITCH_BAD_CHANNEL', `${cname}: unknown loadBalance ${JSON.stringify(loadBalance)} (one of ${LOAD_BALANCE_MODES.join(', ')})`, { channel: cname });
    }
    if (!Array.isArray(c.members) || c.members.length === 0 || c.members.length > MAX_CHANNEL_MEMBERS) {
      fail('VFAB_PSWITCH_BAD_CHANNEL', `${cname}: needs 1-${MAX_CHANNEL_MEMBERS} member ports`, { channel: cname });
    }
    const members: number[] = [];
    for (const m of c.members) {
      const pi = byName.get(m);
      if (pi === undefined) fail('VFAB_PSWITCH_UNKNOWN_MEMBER', `${cname}: member ${JSON.stringify(m)} is not a port of ${name}`, { channel: cname, member: m });
      const port = ports[pi]!;
      if (port.channel !== -1) {
        const other = port.channel === ci ? cname : channels[port.channel]!.name;
        fail('VFAB_PSWITCH_MEMBER_CONFLICT', `port ${m} is a member of both ${other} and ${cname}`, { channel: cname, member: m, other });
      }
      port.channel = ci;
      members.push(pi);
    }
    const first = ports[members[0]!]!;
    for (const pi of members) {
      const port = ports[pi]!;
      if (!sameVlanSettings(first, port)) {
        fail(
          'VFAB_PSWITCH_CHANNEL_MISMATCH',
          `${cname}: member ${port.name} differs from ${first.name} in mode, VLANs or MTU (IOS would suspend it)`,
          { channel: cname, member: port.name, reference: first.name },
        );
      }
    }
    channels.push({ name: cname, members, loadBalance });
  });

  const macAgingMs = checkInt('VFAB_PSWITCH_BAD_LIMIT', 'macAgingMs', config.macAgingMs ?? MAC_AGING_MS, MIN_MAC_AGING_MS, MAX_MAC_AGING_MS);
  const macTableMaxEntries = checkInt(
    'VFAB_PSWITCH_BAD_LIMIT', 'macTableMaxEntries', config.macTableMaxEntries ?? DEFAULT_MAC_TABLE_MAX_ENTRIES, 1, MAX_MAC_TABLE_ENTRIES,
  );
  const flap = config.flapDetection ?? { moves: DEFAULT_MAC_FLAP_MOVES, windowMs: DEFAULT_MAC_FLAP_WINDOW_MS };
  const flapMoves = checkInt('VFAB_PSWITCH_BAD_LIMIT', 'flapDetection.moves', flap.moves, 1, 1_000_000);
  const flapWindowMs = checkInt('VFAB_PSWITCH_BAD_LIMIT', 'flapDetection.windowMs', flap.windowMs, 1, MAX_MAC_FLAP_WINDOW_MS);
  return {
    name,
    ports,
    channels,
    macAgingMs,
    macTableMaxEntries,
    flapMoves,
    flapWindowMs,
    linksStartUp: config.linksStartUp !== false,
  };
}
