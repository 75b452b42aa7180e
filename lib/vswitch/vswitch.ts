// The standard vSwitch (vSS) as a pure decision engine: the host daemon hands it frames from VM ports
// and from uplinks; it answers which ports and uplinks get which bytes, or why the frame was dropped.
// Follows docs/vsphere-behaviour.md §1 (forwarding: told MAC table, split horizon, no STP, known/unknown
// unicast, broadcast, multicast filters, reverse path, promiscuous duplicates, MTU), §2 (VLAN 0 / VST /
// VGT tagging and classification, guest-tag mismatch, native-VLAN trap), §4 (security policy), §6.7
// (duplicate MACs) and §8 (limits). Leaves out traffic shaping (§5), teaming policy (§3, reached only
// through an UplinkSelector), sockets and timers (the daemon performs the actions).
//
// Hot path: fromPort/fromUplink allocate nothing but the output frames (at most one re-tagged and one
// untagged copy per input frame, shared by every destination that needs those bytes). They fill and
// return one ForwardResult owned by this vSwitch: it is valid until the next fromPort/fromUplink call.
// Output frames may be the very input buffer (when no re-tagging is needed); the caller must not reuse
// the input buffer until it has sent them. With `reuseOutputBuffers` the re-tagged and untagged copies
// are written into two scratch areas owned by the vSwitch instead of new buffers (no allocation per
// frame): their bytes, too, are valid only until the next fromPort/fromUplink call (`isScratch` tells
// them apart, for a caller that must keep one).

import { VfabError } from '../errors.js';
import { type Mac, BROADCAST_MAC, ZERO_MAC, isGroupMac, macToString, readMac } from '../wire/mac.js';
import {
  ETHERTYPE_ARP,
  ETHERTYPE_VLAN,
  ETH_HEADER_BYTES,
  MAX_FRAME_BYTES,
  VLAN_TAG_BYTES,
  buildFrame,
  ethOuterType,
  ethVid,
  MIN_FRAME_BYTES,
  pushVlanTag,
} from '../wire/ethernet.js';
import { FirstActiveUplinkSelector, type PortTeamingView, type UplinkLinkState, type UplinkSelector } from './uplink-selector.js';
import {
  DEFAULT_NOTIFY_SWITCHES,
  DEFAULT_REVERSE_PATH_CHECK_PROMISCUOUS,
  type SecurityPolicy,
  type VSwitchConfig,
  resolveSecurity,
  validateVSwitchConfig,
} from './config.js';
import { DROP, DROP_REASON_COUNT, DROP_REASON_NAMES, type DropReason, dropCounterRecord } from './drop-reasons.js';
import {
  BPDU_MAC,
  DEFAULT_MTU_BYTES,
  MAX_MULTICAST_FILTERS_PER_PORT,
  MAX_PORT_NAME_CHARS,
  MAX_PORTS_PER_VSWITCH,
  VLAN_ID_VGT,
} from './limits.js';
import { buildRarpFrame } from './rarp.js';

export type { SecurityPolicy, PortGroupConfig, VSwitchConfig } from './config.js';

/**
 * Optional extension a teaming selector may implement so `vfab status` can show a port's egress uplink
 * without a probe frame. Without it the vSwitch asks selectEgress with a broadcast from the port's MAC.
 */
export interface DescribableUplinkSelector extends UplinkSelector {
  describeEgress?(port: PortTeamingView): number;
}

/**
 * What to do with one frame. Reused by the vSwitch: valid until the next fromPort/fromUplink call.
 * Deliveries to VM ports are `portIds[i]` with bytes `portFrames[i]` for i < portCount (destinations that
 * receive identical bytes share one buffer). Every uplink whose bit is set in `uplinkMask` gets
 * `uplinkFrame`. `dropReason` is set only when nothing at all was delivered.
 */
export class ForwardResult {
  portCount = 0;
  readonly portIds: Int32Array;
  readonly portFrames: Uint8Array[];
  uplinkMask = 0;
  uplinkFrame: Uint8Array | null = null;
  dropReason: DropReason | null = null;
  /** DROP code of dropReason, -1 when none. */
  dropCode = -1;
  constructor(capacity: number) {
    this.portIds = new Int32Array(capacity);
    this.portFrames = new Array<Uint8Array>(capacity).fill(EMPTY_FRAME);
  }
  get delivered(): boolean {
    return this.portCount > 0 || this.uplinkMask !== 0;
  }
}

const EMPTY_FRAME = new Uint8Array(0);
const EMPTY_BUFFER = Buffer.alloc(0);
/** One scratch area (reuseOutputBuffers): the largest accepted frame plus the tag a re-tag adds. */
const SCRATCH_AREA_BYTES = MAX_FRAME_BYTES + VLAN_TAG_BYTES;

export type VSwitchEvent =
  /** §6.7: two ports registered one MAC in one VLAN; unicast goes to `activePortId` (the newest). */
  | { kind: 'mac_conflict'; vlanId: number; mac: Mac; portIds: number[]; activePortId: number }
  /** §4.3: the guest changed its MAC while MAC Address Changes is Reject: the port now receives nothing. */
  | { kind: 'mac_change_blocked'; portId: number; initialMac: Mac; effectiveMac: Mac }
  /** §4.3 Accept: the port's MAC-table entry moved to a new MAC. */
  | { kind: 'mac_changed'; portId: number; oldMac: Mac; newMac: Mac }
  /** §3.10: send `frame` (a RARP for `mac`) out of every uplink in `uplinkMask`. */
  | { kind: 'notify_switches'; portId: number; mac: Mac; uplinkMask: number; frame: Buffer };

export interface PortCounters {
  txFrames: number;
  txBytes: number;
  rxFrames: number;
  rxBytes: number;
  /** Frames this port sent that were dropped, plus frames it was filtered from receiving (by reason). */
  drops: Record<DropReason, number>;
}

export interface PortStatus {
  portId: number;
  name: string;
  portGroup: string;
  vlanId: number;
  initialMac: string;
  effectiveMac: string;
  /** MAC the port is registered under in the MAC table (the initial MAC while a MAC change is blocked). */
  registeredMac: string;
  promiscuousRequested: boolean;
  promiscuousEffective: boolean;
  /** §4.3: effective != initial under MAC Address Changes = Reject; the port receives nothing. */
  macChangeBlocked: boolean;
  blocked: boolean;
  security: SecurityPolicy;
  multicastFilter: string[];
  allMulticast: boolean;
  /** Uplink names the selector currently uses for this port's egress (empty: none usable). */
  egressUplinks: string[];
  counters: PortCounters;
}

export interface MacTableEntry {
  /** Port-group VLAN of the registration (4095 for VGT ports, which match any VLAN). */
  vlanId: number;
  mac: Mac;
  macText: string;
  portId: number;
  portGroup: string;
  /** False for an older duplicate registration that no longer receives unicast (§6.7). */
  active: boolean;
}

export interface VSwitchCounters {
  framesFromPorts: number;
  bytesFromPorts: number;
  framesFromUplinks: number;
  bytesFromUplinks: number;
  /** One per (frame, receiving port). */
  deliveriesToPorts: number;
  /** One per (frame, uplink). */
  framesToUplinks: number;
  drops: Record<DropReason, number>;
}

interface PortGroupState {
  name: string;
  vlanId: number;
  security: Partial<SecurityPolicy> | undefined;
  notifySwitches: boolean | undefined;
  policy: SecurityPolicy;
  portCount: number;
}

interface PortState {
  id: number;
  name: string;
  pg: PortGroupState;
  vlanId: number;
  initialMac: Mac;
  effectiveMac: Mac;
  registeredMac: Mac;
  /** Order of the latest MAC registration (higher = more recent), for §6.7. */
  regSeq: number;
  guestPromisc: boolean;
  promisc: boolean;
  rxBlocked: boolean;
  adminBlocked: boolean;
  mcast: Set<Mac>;
  allMulticast: boolean;
  view: PortTeamingView;
  txFrames: number;
  txBytes: number;
  rxFrames: number;
  rxBytes: number;
  drops: Float64Array;
}

const VLAN_TABLES = VLAN_ID_VGT + 1;

function checkMac(mac: unknown, what: string): Mac {
  if (typeof mac !== 'number' || !Number.isInteger(mac) || mac <= ZERO_MAC || mac > BROADCAST_MAC || isGroupMac(mac)) {
    throw new VfabError('VFAB_VSWITCH_BAD_MAC', `${what}: ${typeof mac === 'number' ? macToString(mac) : String(mac)} is not a unicast MAC`, { mac });
  }
  return mac;
}

function popcount32(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24);
}

export class VSwitch implements UplinkLinkState {
  readonly name: string;
  /** Changed only by reconfigure(). */
  mtuBytes: number;
  readonly uplinkNames: readonly string[];
  readonly maxPorts: number;
  /** Net.ReversePathFwdCheckPromisc (§1.11); changed only by reconfigure(). */
  reversePathCheckPromiscuous: boolean;

  private securityCfg: Partial<SecurityPolicy> | undefined;
  private readonly notifyDefault: boolean;
  private readonly portGroups = new Map<string, PortGroupState>();
  private readonly portsById = new Map<number, PortState>();
  /** MAC tables by port-group VLAN: index 0..4094, and 4095 for VGT ports. */
  private readonly macTables: Array<Map<Mac, PortState[]> | undefined> = new Array(VLAN_TABLES).fill(undefined);
  /** Ports of VLAN 0..4094 port groups, by VLAN. VGT ports are in `trunkPorts`. */
  private readonly members: Array<PortState[] | undefined> = new Array(VLAN_ID_VGT).fill(undefined);
  private readonly trunkPorts: PortState[] = [];
  private readonly promiscPorts: PortState[] = [];
  private readonly uplinkUp: boolean[];
  private selector: UplinkSelector;
  private nextPortId = 1;
  private regCounter = 0;
  private pendingEvents: VSwitchEvent[] = [];

  // switch counters
  private framesFromPorts = 0;
  private bytesFromPorts = 0;
  private framesFromUplinks = 0;
  private bytesFromUplinks = 0;
  private deliveriesToPorts = 0;
  private framesToUplinks = 0;
  private readonly drops = new Float64Array(DROP_REASON_COUNT);
  /** Drops of frames that arrived on each uplink, by reason (indexed like uplinkNames). */
  private readonly uplinkDrops: Float64Array[];
  /** The uplink of the frame being decided (-1: a port's frame). */
  private curUplink = -1;

  // per-frame scratch state (no allocation per frame)
  private readonly result: ForwardResult;
  private curFrame: Uint8Array = EMPTY_FRAME;
  private curTagged = false;
  private curVlan = 0;
  private curUntagged: Uint8Array | null = null;
  private curRetagged: Uint8Array | null = null;
  private curNoted = -1;
  /** The port of the run fromUplinkRun() accepted, and whether its frames are untagged on the way. */
  private repeatPort: PortState | undefined;
  private repeatUntag = false;
  /** The sending port fromPortRepeatable() accepted. */
  private repeatSender: PortState | undefined;
  /** Scratch areas for re-tagged and untagged copies (reuseOutputBuffers), in one ArrayBuffer. */
  private readonly scratch: ArrayBuffer | null;
  private readonly scratchTagged: Buffer;
  private readonly scratchUntagged: Buffer;
  /** The last lookup() and isLocalSource() answers, valid until a registration changes (-1: none). */
  private lookupVlan = -1;
  private lookupMac = -1;
  private lookupPort: PortState | undefined;
  private localSourceVlan = -1;
  private localSourceMac = -1;
  private localSource = false;
  /** The last view handed out of each scratch area (reused while frames keep the same length). */
  private viewTagged: Buffer;
  private viewUntagged: Buffer;

  /**
   * `reuseOutputBuffers`: write re-tagged / untagged copies into scratch areas owned by the vSwitch
   * (valid until the next fromPort/fromUplink call) instead of allocating them; for callers that copy or
   * finish with the bytes synchronously (see the file header).
   */
  constructor(config: VSwitchConfig, opts?: { selector?: UplinkSelector; reuseOutputBuffers?: boolean }) {
    validateVSwitchConfig(config);
    this.name = config.name;
    this.mtuBytes = config.mtuBytes ?? DEFAULT_MTU_BYTES;
    this.uplinkNames = Object.freeze([...config.uplinks]);
    this.maxPorts = config.maxPorts ?? MAX_PORTS_PER_VSWITCH;
    this.reversePathCheckPromiscuous = config.reversePathCheckPromiscuous ?? DEFAULT_REVERSE_PATH_CHECK_PROMISCUOUS;
    this.securityCfg = config.security ? { ...config.security } : undefined;
    this.notifyDefault = config.notifySwitches ?? DEFAULT_NOTIFY_SWITCHES;
    this.uplinkUp = config.uplinks.map(() => true);
    this.uplinkDrops = config.uplinks.map(() => new Float64Array(DROP_REASON_COUNT));
    for (const pg of config.portGroups) {
      const security = pg.security ? { ...pg.security } : undefined;
      this.portGroups.set(pg.name, {
        name: pg.name,
        vlanId: pg.vlanId,
        security,
        notifySwitches: pg.notifySwitches,
        policy: resolveSecurity(this.securityCfg, security),
        portCount: 0,
      });
    }
    this.result = new ForwardResult(this.maxPorts);
    this.selector = opts?.selector ?? new FirstActiveUplinkSelector(this);
    if (opts?.reuseOutputBuffers === true) {
      // a re-tagged copy is at most one tag longer than the largest accepted frame; an untagged one shorter
      const all = Buffer.allocUnsafeSlow(2 * SCRATCH_AREA_BYTES);
      this.scratch = all.buffer as ArrayBuffer;
      this.scratchTagged = all.subarray(0, SCRATCH_AREA_BYTES);
      this.scratchUntagged = all.subarray(SCRATCH_AREA_BYTES);
    } else {
      this.scratch = null;
      this.scratchTagged = EMPTY_BUFFER;
      this.scratchUntagged = EMPTY_BUFFER;
    }
    this.viewTagged = this.scratchTagged;
    this.viewUntagged = this.scratchUntagged;
  }

  /** True when `frame` lives in this vSwitch's scratch areas (reuseOutputBuffers): copy it to keep it. */
  isScratch(frame: Uint8Array): boolean {
    return this.scratch !== null && frame.buffer === this.scratch;
  }

  // ------------------------------------------------------------------ UplinkLinkState

  get uplinkCount(): number {
    return this.uplinkNames.length;
  }
  isUplinkUp(uplinkIndex: number): boolean {
    return this.uplinkUp[uplinkIndex] === true;
  }

  // ------------------------------------------------------------------ control plane

  setUplinkSelector(selector: UplinkSelector): void {
    this.selector = selector;
  }

  /**
   * Link state of one uplink (uplinks start up). With Notify Switches on, ports whose egress uplink
   * changed get a RARP action (§3.10), collected by takeEvents().
   */
  setUplinkUp(uplinkIndex: number, up: boolean): void {
    this.checkUplink(uplinkIndex);
    if (this.uplinkUp[uplinkIndex] === up) return;
    const before = new Map<number, number>();
    for (const p of this.portsById.values()) before.set(p.id, this.egressMaskFor(p));
    this.uplinkUp[uplinkIndex] = up;
    for (const p of this.portsById.values()) {
      if (this.egressMaskFor(p) !== before.get(p.id)) this.notify(p, this.pendingEvents);
    }
  }

  /** Connects a vNIC (or vmk) port and registers its MAC (§1.1). Events (conflict, RARP) go to takeEvents(). */
  connectPort(opts: { portGroup: string; initialMac: Mac; name?: string }): number {
    const pg = this.portGroups.get(opts.portGroup);
    if (!pg) {
      throw new VfabError('VFAB_VSWITCH_NO_SUCH_PORT_GROUP', `vSwitch ${this.name} has no port group ${JSON.stringify(opts.portGroup)}`, { portGroup: opts.portGroup });
    }
    const mac = checkMac(opts.initialMac, `port on ${opts.portGroup}`);
    if (this.portsById.size >= this.maxPorts) {
      throw new VfabError('VFAB_VSWITCH_PORTS_EXHAUSTED', `vSwitch ${this.name} has all ${this.maxPorts} ports in use`, { maxPorts: this.maxPorts });
    }
    const id = this.nextPortId++;
    const name = opts.name ?? `port-${id}`;
    if (name.length > MAX_PORT_NAME_CHARS) {
      throw new VfabError('VFAB_VSWITCH_BAD_NAME', `port name ${JSON.stringify(name)} is longer than ${MAX_PORT_NAME_CHARS} characters`);
    }
    const p: PortState = {
      id,
      name,
      pg,
      vlanId: pg.vlanId,
      initialMac: mac,
      effectiveMac: mac,
      registeredMac: ZERO_MAC,
      regSeq: 0,
      guestPromisc: false,
      promisc: false,
      rxBlocked: false,
      adminBlocked: false,
      mcast: new Set(),
      allMulticast: false,
      view: { portId: id, portGroup: pg.name, mac },
      txFrames: 0,
      txBytes: 0,
      rxFrames: 0,
      rxBytes: 0,
      drops: new Float64Array(DROP_REASON_COUNT),
    };
    this.portsById.set(id, p);
    pg.portCount++;
    if (p.vlanId === VLAN_ID_VGT) this.trunkPorts.push(p);
    else (this.members[p.vlanId] ??= []).push(p);
    this.register(p, mac, this.pendingEvents);
    this.notify(p, this.pendingEvents);
    return id;
  }

  disconnectPort(portId: number): void {
    const p = this.port(portId);
    this.unregister(p);
    if (p.vlanId === VLAN_ID_VGT) removeFrom(this.trunkPorts, p);
    else removeFrom(this.members[p.vlanId]!, p);
    if (p.promisc) removeFrom(this.promiscPorts, p);
    p.pg.portCount--;
    this.portsById.delete(portId);
  }

  /** Events queued by connectPort, setUplinkUp and setPortGroupSecurity since the last call. */
  takeEvents(): VSwitchEvent[] {
    const out = this.pendingEvents;
    this.pendingEvents = [];
    return out;
  }

  /** The guest set its MAC (§4.1, §4.3). Re-keys the MAC table when allowed; returns what happened. */
  setEffectiveMac(portId: number, mac: Mac): VSwitchEvent[] {
    const p = this.port(portId);
    checkMac(mac, `port ${portId}`);
    const events: VSwitchEvent[] = [];
    if (mac === p.effectiveMac) return events;
    p.effectiveMac = mac;
    p.view.mac = mac;
    this.refreshPort(p, events);
    if (p.rxBlocked) events.push({ kind: 'mac_change_blocked', portId, initialMac: p.initialMac, effectiveMac: mac });
    return events;
  }

  /** Guest adapter promiscuous mode; effective only when the policy allows it (§4.2). */
  setGuestPromiscuous(portId: number, on: boolean): void {
    const p = this.port(portId);
    p.guestPromisc = on;
    this.refreshPromisc(p);
  }

  /** The guest's multicast MAC list (§1.9). More than 32 entries make the port all-multicast. */
  setMulticastFilter(portId: number, macs: Mac[]): void {
    const p = this.port(portId);
    for (const m of macs) {
      if (typeof m !== 'number' || !isGroupMac(m) || m === BROADCAST_MAC || m > BROADCAST_MAC) {
        throw new VfabError('VFAB_VSWITCH_BAD_MAC', `multicast filter of port ${portId}: ${typeof m === 'number' ? macToString(m) : String(m)} is not a multicast MAC`);
      }
    }
    p.mcast.clear();
    const distinct = new Set(macs);
    if (distinct.size > MAX_MULTICAST_FILTERS_PER_PORT) {
      p.allMulticast = true;
    } else {
      p.allMulticast = false;
      for (const m of distinct) p.mcast.add(m);
    }
  }

  /** Blocks a port administratively (or unblocks it): a blocked port neither sends nor receives. */
  setPortBlocked(portId: number, blocked: boolean): void {
    this.port(portId).adminBlocked = blocked;
  }

  /** Replaces a port group's security override (§4); ports re-evaluate at once. Events go to takeEvents(). */
  setPortGroupSecurity(portGroup: string, security: Partial<SecurityPolicy> | undefined): void {
    const pg = this.portGroups.get(portGroup);
    if (!pg) throw new VfabError('VFAB_VSWITCH_NO_SUCH_PORT_GROUP', `vSwitch ${this.name} has no port group ${JSON.stringify(portGroup)}`, { portGroup });
    validateVSwitchConfig({ name: this.name, uplinks: [], portGroups: [{ name: pg.name, vlanId: pg.vlanId, ...(security ? { security } : {}) }] });
    pg.security = security ? { ...security } : undefined;
    pg.policy = resolveSecurity(this.securityCfg, pg.security);
    for (const p of this.portsById.values()) if (p.pg === pg) this.refreshPort(p, this.pendingEvents);
  }

  /**
   * A live change of the vSwitch's settings (`vfab set`): MTU, security policy, reverse-path option and,
   * per port group, VLAN, security override and notify. `config` is the whole new configuration; it is
   * validated first and must keep the uplinks and port groups (names, order) of this vSwitch, otherwise
   * VFAB_VSWITCH_LIVE_UNSUPPORTED and nothing changes. Ports of a port group whose VLAN changed move to
   * the new VLAN at once: their MAC-table entries follow them (§1.1: the table is what ports registered),
   * so unicast for the old VLAN stops reaching them with the next frame (§2.3). Security changes re-judge
   * every port at once (§4). Returns what changed, for the event log; events go to takeEvents().
   */
  reconfigure(config: VSwitchConfig): string[] {
    validateVSwitchConfig(config);
    const sameUplinks = config.uplinks.length === this.uplinkNames.length && config.uplinks.every((u, i) => u === this.uplinkNames[i]);
    if (!sameUplinks) throw new VfabError('VFAB_VSWITCH_LIVE_UNSUPPORTED', `vSwitch ${this.name}: its uplinks cannot change while it runs (have ${this.uplinkNames.join(', ') || 'none'}, asked ${config.uplinks.join(', ') || 'none'})`);
    const names = [...this.portGroups.keys()];
    if (config.portGroups.length !== names.length || config.portGroups.some((pg) => !this.portGroups.has(pg.name))) {
      throw new VfabError('VFAB_VSWITCH_LIVE_UNSUPPORTED', `vSwitch ${this.name}: port groups cannot be added or removed while it runs (have ${names.join(', ')})`);
    }
    const changes: string[] = [];
    const mtu = config.mtuBytes ?? DEFAULT_MTU_BYTES;
    if (mtu !== this.mtuBytes) changes.push(`MTU ${this.mtuBytes} -> ${mtu}`);
    this.mtuBytes = mtu;
    const rpf = config.reversePathCheckPromiscuous ?? DEFAULT_REVERSE_PATH_CHECK_PROMISCUOUS;
    if (rpf !== this.reversePathCheckPromiscuous) changes.push(`Net.ReversePathFwdCheckPromisc ${rpf ? 1 : 0}`);
    this.reversePathCheckPromiscuous = rpf;
    this.securityCfg = config.security ? { ...config.security } : undefined;
    for (const c of config.portGroups) {
      const pg = this.portGroups.get(c.name)!;
      const before = pg.policy;
      pg.security = c.security ? { ...c.security } : undefined;
      pg.notifySwitches = c.notifySwitches;
      pg.policy = resolveSecurity(this.securityCfg, pg.security);
      if (!sameSecurity(before, pg.policy)) changes.push(`${pg.name} security ${describeSecurity(pg.policy)}`);
      if (c.vlanId !== pg.vlanId) {
        changes.push(`${pg.name} VLAN ${pg.vlanId} -> ${c.vlanId}`);
        pg.vlanId = c.vlanId;
        for (const p of this.portsById.values()) if (p.pg === pg) this.moveToVlan(p, c.vlanId);
      }
      for (const p of this.portsById.values()) if (p.pg === pg) this.refreshPort(p, this.pendingEvents);
    }
    return changes;
  }

  /** A port's port group changed VLAN: it leaves the old VLAN's member list and MAC table for the new one's. */
  private moveToVlan(p: PortState, vlanId: number): void {
    const mac = p.registeredMac;
    this.unregister(p);
    if (p.vlanId === VLAN_ID_VGT) removeFrom(this.trunkPorts, p);
    else removeFrom(this.members[p.vlanId]!, p);
    p.vlanId = vlanId;
    if (vlanId === VLAN_ID_VGT) this.trunkPorts.push(p);
    else (this.members[vlanId] ??= []).push(p);
    this.register(p, mac, this.pendingEvents);
  }

  // ------------------------------------------------------------------ forwarding (hot path)

  /** A VM port sent `frame`. The result is valid until the next fromPort/fromUplink call. */
  fromPort(portId: number, frame: Uint8Array): ForwardResult {
    const r = this.reset(frame);
    const len = frame.length;
    this.curUplink = -1;
    this.framesFromPorts++;
    this.bytesFromPorts += len;
    const p = this.portsById.get(portId);
    if (p === undefined) return this.dropFrame(DROP.PORT_BLOCKED, undefined);
    if (p.adminBlocked) return this.dropFrame(DROP.PORT_BLOCKED, p);
    if (len < ETH_HEADER_BYTES || len > MAX_FRAME_BYTES) return this.dropFrame(DROP.MALFORMED, p);
    const tagged = ethOuterType(frame) === ETHERTYPE_VLAN;
    if (tagged && len < ETH_HEADER_BYTES + VLAN_TAG_BYTES) return this.dropFrame(DROP.MALFORMED, p);
    if (len - (tagged ? ETH_HEADER_BYTES + VLAN_TAG_BYTES : ETH_HEADER_BYTES) > this.mtuBytes) return this.dropFrame(DROP.MTU_EXCEEDED, p);
    let vlan: number;
    if (p.vlanId === VLAN_ID_VGT) {
      // §2.1 VGT: the guest's tag decides the VLAN; untagged is VLAN 0.
      vlan = tagged ? ethVid(frame) : 0;
      if (vlan === VLAN_ID_VGT) return this.dropFrame(DROP.VLAN_MISMATCH, p);
    } else {
      // §2.4: a guest tag on an EST/VST port is a mismatch.
      if (tagged) return this.dropFrame(DROP.VLAN_MISMATCH, p);
      vlan = p.vlanId;
    }
    // §4.4 forged transmits: compare with the effective MAC.
    if (!p.pg.policy.allowForgedTransmits && readMac(frame, 6) !== p.effectiveMac) return this.dropFrame(DROP.FORGED_TRANSMIT, p);
    p.txFrames++;
    p.txBytes += len;
    this.curTagged = tagged;
    this.curVlan = vlan;

    if ((frame[0]! & 1) === 1) {
      // §1.7 / §1.9: group frame: every other accepting port of the VLAN, plus the selected uplink.
      const dst = readMac(frame, 0);
      const bcast = dst === BROADCAST_MAC;
      const list = vlan < VLAN_ID_VGT ? this.members[vlan] : undefined;
      if (list !== undefined) for (let i = 0; i < list.length; i++) this.offerGroupLocal(list[i]!, p, dst, bcast);
      const trunks = this.trunkPorts;
      for (let i = 0; i < trunks.length; i++) this.offerGroupLocal(trunks[i]!, p, dst, bcast);
      this.egress(p, frame);
      if (r.uplinkMask === 0) {
        // The uplink copy is lost: counted even when local ports got the frame.
        this.countDrop(DROP.NO_UPLINK, p);
        if (r.portCount === 0) return this.markDropped(DROP.NO_UPLINK);
      }
      return r;
    }

    const dst = readMac(frame, 0);
    const target = this.lookup(vlan, dst);
    if (target !== undefined) {
      // §1.4 known unicast: local only.
      if (target !== p) this.offerUnicastLocal(target);
      this.promiscCopies(p, target);
      if (r.portCount === 0) return this.finishDropped(this.curNoted >= 0 ? this.curNoted : DROP.NO_DESTINATION, p);
      return r;
    }
    // §1.5 unknown unicast: one copy out of the selected uplink(s), no local flood (promiscuous ports aside).
    this.promiscCopies(p, undefined);
    this.egress(p, frame);
    if (r.uplinkMask === 0) {
      this.countDrop(DROP.NO_UPLINK, p);
      if (r.portCount === 0) return this.markDropped(DROP.NO_UPLINK);
    }
    return r;
  }

  /** A frame arrived from the physical network on uplink `uplinkIndex`. Never forwarded to an uplink (§1.2). */
  fromUplink(uplinkIndex: number, frame: Uint8Array): ForwardResult {
    this.checkUplink(uplinkIndex);
    const r = this.reset(frame);
    const len = frame.length;
    this.curUplink = uplinkIndex;
    this.framesFromUplinks++;
    this.bytesFromUplinks += len;
    if (!this.uplinkUp[uplinkIndex]) return this.dropFrame(DROP.UPLINK_DOWN, undefined);
    if (len < ETH_HEADER_BYTES || len > MAX_FRAME_BYTES) return this.dropFrame(DROP.MALFORMED, undefined);
    const tagged = ethOuterType(frame) === ETHERTYPE_VLAN;
    if (tagged && len < ETH_HEADER_BYTES + VLAN_TAG_BYTES) return this.dropFrame(DROP.MALFORMED, undefined);
    if (len - (tagged ? ETH_HEADER_BYTES + VLAN_TAG_BYTES : ETH_HEADER_BYTES) > this.mtuBytes) return this.dropFrame(DROP.MTU_EXCEEDED, undefined);
    const dst = readMac(frame, 0);
    if (dst === BPDU_MAC) return this.dropFrame(DROP.BPDU_FROM_UPLINK, undefined);
    // §2.3 ingress classification: tag VID v -> VLAN v, untagged (or priority-tagged) -> VLAN 0.
    const vlan = tagged ? ethVid(frame) : 0;
    if (vlan === VLAN_ID_VGT) return this.dropFrame(DROP.VLAN_MISMATCH, undefined);
    this.curTagged = tagged;
    this.curVlan = vlan;
    // §1.10: a frame carrying a local port's source MAC in this VLAN is our own frame coming back.
    const reflected = this.isLocalSource(vlan, readMac(frame, 6));

    if ((frame[0]! & 1) === 1) {
      // §1.8: local ports of the VLAN only.
      const bcast = dst === BROADCAST_MAC;
      const list = this.members[vlan];
      if (list !== undefined) for (let i = 0; i < list.length; i++) this.offerGroupFromUplink(list[i]!, uplinkIndex, dst, bcast, reflected);
      const trunks = this.trunkPorts;
      for (let i = 0; i < trunks.length; i++) this.offerGroupFromUplink(trunks[i]!, uplinkIndex, dst, bcast, reflected);
      if (r.portCount === 0) return this.finishDropped(this.curNoted >= 0 ? this.curNoted : DROP.NO_DESTINATION, undefined);
      return r;
    }

    const target = this.lookup(vlan, dst);
    if (target !== undefined && this.receivable(target) && this.ingressOk(target, uplinkIndex, reflected)) this.deliver(target);
    // §1.6 / §4.2: promiscuous ports of the VLAN see unicast too.
    const promisc = this.promiscPorts;
    for (let i = 0; i < promisc.length; i++) {
      const q = promisc[i]!;
      if (q === target || !this.inVlan(q, vlan)) continue;
      if (this.receivable(q) && this.ingressOk(q, uplinkIndex, reflected)) this.deliver(q);
    }
    if (r.portCount === 0) {
      if (target === undefined) return this.finishDropped(DROP.UNKNOWN_UNICAST_FROM_UPLINK, undefined);
      return this.finishDropped(this.curNoted >= 0 ? this.curNoted : DROP.NO_DESTINATION, undefined);
    }
    return r;
  }

  /**
   * Forgets the last frame passed in (the vSwitch keeps a reference to it until the next call): for
   * callers whose frames are views into large received messages, so the message can be freed early.
   * The last result's port frames may be such views too and are cleared as well.
   */
  forgetFrame(): void {
    this.curFrame = EMPTY_FRAME;
    const r = this.result;
    for (let i = 0; i < r.portCount; i++) r.portFrames[i] = EMPTY_FRAME;
    r.uplinkFrame = null;
  }

  /** The result of the last fromPort/fromUplink/fromUplinkRun call (reused by the next one). */
  get lastResult(): ForwardResult {
    return this.result;
  }

  /**
   * fromUplink() for the first frame of a run (lib/link/codec.ts: frames received back to back that
   * agree on their first RUN_KEY_BYTES bytes, none longer than `maxFrameBytes`). Returns true when every
   * other frame of the run gets the same decision: a known unicast delivered to exactly one port, nothing
   * refused on the way, and the largest frame within the MTU. The caller then passes each of the other
   * frames to repeatFromUplink() (instead of fromUplink()) as long as it makes no other call on this
   * vSwitch or its uplink selector in between; the decision is this call's `result`.
   * The reverse-path rule (UplinkSelector.acceptsIngress) decides by port and uplink, not by later bytes.
   */
  fromUplinkRun(uplinkIndex: number, first: Uint8Array, maxFrameBytes: number): boolean {
    const r = this.fromUplink(uplinkIndex, first);
    this.repeatPort = undefined;
    if (r.portCount !== 1 || r.dropCode >= 0 || this.curNoted >= 0 || (first[0]! & 1) === 1) return false;
    if (maxFrameBytes - (this.curTagged ? ETH_HEADER_BYTES + VLAN_TAG_BYTES : ETH_HEADER_BYTES) > this.mtuBytes) return false;
    const q = this.portsById.get(r.portIds[0]!);
    if (q === undefined) return false;
    this.repeatPort = q;
    // the bytes the port got: the frame itself, or (tagged frame, EST/VST port) an untagged copy
    this.repeatUntag = this.curTagged && q.vlanId !== VLAN_ID_VGT;
    return true;
  }

  /**
   * One more frame of the run fromUplinkRun() accepted: counted as fromUplink() would count it; returns
   * the bytes for the run's port (the frame, or an untagged copy in the scratch area when the vSwitch
   * reuses output buffers).
   */
  repeatFromUplink(frame: Uint8Array): Uint8Array {
    this.countRepeatFromUplink(frame.length);
    return !this.repeatUntag ? frame : this.scratch === null ? untagCopy(frame) : this.untagIntoScratch(frame);
  }

  /**
   * Counts one more frame of the accepted run, of `frameBytes` on the wire, as repeatFromUplink() would,
   * for a caller that consumes the frame as received (a measuring sink reads it tagged or not alike).
   */
  countRepeatFromUplink(frameBytes: number): void {
    const q = this.repeatPort!;
    this.framesFromUplinks++;
    this.bytesFromUplinks += frameBytes;
    q.rxFrames++;
    // the untagged copy is padded to MIN_FRAME_BYTES (untagCopy / untagIntoScratch)
    q.rxBytes += !this.repeatUntag ? frameBytes : Math.max(frameBytes - VLAN_TAG_BYTES, MIN_FRAME_BYTES);
    this.deliveriesToPorts++;
  }

  /**
   * After fromPort(portId, frame): true when the same frame sent again (every byte the vSwitch or its
   * uplink selector reads unchanged: only payload bytes past the headers differ, as in a traffic
   * generator's stream) gets the same decision: out of the uplinks in the result's uplinkMask only,
   * nothing delivered or refused locally. Then countRepeatFromPort() accounts each such frame instead of
   * a fromPort() call, as long as no other call on this vSwitch or its selector comes in between.
   */
  fromPortRepeatable(portId: number): boolean {
    const r = this.result;
    if (r.portCount !== 0 || r.uplinkMask === 0 || r.dropCode >= 0 || this.curNoted >= 0) return false;
    this.repeatSender = this.portsById.get(portId);
    return this.repeatSender !== undefined;
  }

  /** One more frame of `frameBytes` from the port fromPortRepeatable() accepted, counted as fromPort() would. */
  countRepeatFromPort(frameBytes: number, uplinkMask: number): void {
    const p = this.repeatSender!;
    this.framesFromPorts++;
    this.bytesFromPorts += frameBytes;
    p.txFrames++;
    p.txBytes += frameBytes;
    this.framesToUplinks += popcount32(uplinkMask);
  }

  // ------------------------------------------------------------------ status

  ports(): PortStatus[] {
    const out: PortStatus[] = [];
    for (const p of this.portsById.values()) {
      const mask = this.egressMaskFor(p);
      const egressUplinks: string[] = [];
      for (let i = 0; i < this.uplinkNames.length; i++) if ((mask >>> i) & 1) egressUplinks.push(this.uplinkNames[i]!);
      out.push({
        portId: p.id,
        name: p.name,
        portGroup: p.pg.name,
        vlanId: p.vlanId,
        initialMac: macToString(p.initialMac),
        effectiveMac: macToString(p.effectiveMac),
        registeredMac: macToString(p.registeredMac),
        promiscuousRequested: p.guestPromisc,
        promiscuousEffective: p.promisc,
        macChangeBlocked: p.rxBlocked,
        blocked: p.adminBlocked,
        security: { ...p.pg.policy },
        multicastFilter: [...p.mcast].map(macToString),
        allMulticast: p.allMulticast,
        egressUplinks,
        counters: { txFrames: p.txFrames, txBytes: p.txBytes, rxFrames: p.rxFrames, rxBytes: p.rxBytes, drops: dropCounterRecord(p.drops) },
      });
    }
    return out;
  }

  macTable(): MacTableEntry[] {
    const out: MacTableEntry[] = [];
    for (let v = 0; v < VLAN_TABLES; v++) {
      const t = this.macTables[v];
      if (t === undefined) continue;
      for (const [mac, list] of t) {
        for (let i = 0; i < list.length; i++) {
          const p = list[i]!;
          out.push({ vlanId: v, mac, macText: macToString(mac), portId: p.id, portGroup: p.pg.name, active: i === list.length - 1 });
        }
      }
    }
    return out;
  }

  counters(): VSwitchCounters {
    return {
      framesFromPorts: this.framesFromPorts,
      bytesFromPorts: this.bytesFromPorts,
      framesFromUplinks: this.framesFromUplinks,
      bytesFromUplinks: this.bytesFromUplinks,
      deliveriesToPorts: this.deliveriesToPorts,
      framesToUplinks: this.framesToUplinks,
      drops: dropCounterRecord(this.drops),
    };
  }

  /** Drops of frames that arrived on each uplink, by reason (frames the uplink's link delivered to this vSwitch). */
  uplinkCounters(): Array<{ name: string; drops: Record<DropReason, number> }> {
    return this.uplinkNames.map((name, i) => ({ name, drops: dropCounterRecord(this.uplinkDrops[i]!) }));
  }

  /** Zeroes every counter: the switch's, each port's and each uplink's (`vfab counters --reset`). */
  clearCounters(): void {
    this.framesFromPorts = 0;
    this.bytesFromPorts = 0;
    this.framesFromUplinks = 0;
    this.bytesFromUplinks = 0;
    this.deliveriesToPorts = 0;
    this.framesToUplinks = 0;
    this.drops.fill(0);
    for (const d of this.uplinkDrops) d.fill(0);
    for (const p of this.portsById.values()) {
      p.txFrames = 0;
      p.txBytes = 0;
      p.rxFrames = 0;
      p.rxBytes = 0;
      p.drops.fill(0);
    }
  }

  /** The effective security policy of a port group (§4: port group over vSwitch over defaults). */
  portGroupPolicy(portGroup: string): SecurityPolicy {
    const pg = this.portGroups.get(portGroup);
    if (!pg) throw new VfabError('VFAB_VSWITCH_NO_SUCH_PORT_GROUP', `vSwitch ${this.name} has no port group ${JSON.stringify(portGroup)}`, { portGroup });
    return { ...pg.policy };
  }

  // ------------------------------------------------------------------ internals: per frame

  private reset(frame: Uint8Array): ForwardResult {
    const r = this.result;
    for (let i = 0; i < r.portCount; i++) r.portFrames[i] = EMPTY_FRAME;
    r.portCount = 0;
    r.uplinkMask = 0;
    r.uplinkFrame = null;
    r.dropReason = null;
    r.dropCode = -1;
    this.curFrame = frame;
    this.curUntagged = null;
    this.curRetagged = null;
    this.curNoted = -1;
    return r;
  }

  private countDrop(code: number, port: PortState | undefined): void {
    this.drops[code]!++;
    if (port !== undefined) port.drops[code]!++;
    else if (this.curUplink >= 0) this.uplinkDrops[this.curUplink]![code]!++;
  }

  /** Whole-frame drop before any delivery decision: counted on the switch and the sending port. */
  private dropFrame(code: number, port: PortState | undefined): ForwardResult {
    this.countDrop(code, port);
    return this.markDropped(code);
  }

  /** Nothing was delivered: count `code` on the switch (and the sender) and mark the result. */
  private finishDropped(code: number, sender: PortState | undefined): ForwardResult {
    this.countDrop(code, sender);
    return this.markDropped(code);
  }

  private markDropped(code: number): ForwardResult {
    const r = this.result;
    r.dropCode = code;
    r.dropReason = DROP_REASON_NAMES[code]!;
    return r;
  }

  private note(code: number, port: PortState): void {
    port.drops[code]!++;
    if (this.curNoted < 0) this.curNoted = code;
  }

  /** Bytes for an EST/VST port: untagged. */
  private accessBytes(): Uint8Array {
    if (!this.curTagged) return this.curFrame;
    return (this.curUntagged ??= this.scratch === null ? untagCopy(this.curFrame) : this.untagIntoScratch(this.curFrame));
  }

  /** Bytes for a VGT port or an uplink: tagged with the VLAN unless it is VLAN 0 (§2.2). */
  private trunkBytes(): Uint8Array {
    if (this.curTagged || this.curVlan === 0) return this.curFrame;
    return (this.curRetagged ??= this.scratch === null ? pushVlanTag(this.curFrame, this.curVlan, 0) : this.tagIntoScratch(this.curFrame, this.curVlan));
  }

  /** pushVlanTag (PCP 0) into the tagged scratch area. */
  private tagIntoScratch(frame: Uint8Array, vid: number): Buffer {
    const out = this.scratchTagged;
    const length = frame.length + VLAN_TAG_BYTES;
    out.set(frame, VLAN_TAG_BYTES); // addresses land 4 bytes late (rewritten below), the rest in place
    out.copyWithin(0, VLAN_TAG_BYTES, VLAN_TAG_BYTES + 12);
    out[12] = 0x81;
    out[13] = 0x00;
    out[14] = (vid >>> 8) & 0x0f;
    out[15] = vid & 0xff;
    let view = this.viewTagged;
    if (view.length !== length) this.viewTagged = view = out.subarray(0, length);
    return view;
  }

  /** untagCopy into the untagged scratch area (padded to MIN_FRAME_BYTES with zeros). */
  private untagIntoScratch(frame: Uint8Array): Buffer {
    const out = this.scratchUntagged;
    const bodyBytes = frame.length - VLAN_TAG_BYTES;
    out.set(frame, 0);
    out.copyWithin(12, 12 + VLAN_TAG_BYTES, frame.length);
    let length = bodyBytes;
    if (bodyBytes < MIN_FRAME_BYTES) {
      out.fill(0, bodyBytes, MIN_FRAME_BYTES);
      length = MIN_FRAME_BYTES;
    }
    let view = this.viewUntagged;
    if (view.length !== length) this.viewUntagged = view = out.subarray(0, length);
    return view;
  }

  private deliver(q: PortState): void {
    const r = this.result;
    const bytes = q.vlanId === VLAN_ID_VGT ? this.trunkBytes() : this.accessBytes();
    r.portIds[r.portCount] = q.id;
    r.portFrames[r.portCount] = bytes;
    r.portCount++;
    q.rxFrames++;
    q.rxBytes += bytes.length;
    this.deliveriesToPorts++;
  }

  /** Blocked ports and ports with a rejected MAC change receive nothing (§4.3). */
  private receivable(q: PortState): boolean {
    if (q.adminBlocked) {
      this.note(DROP.PORT_BLOCKED, q);
      return false;
    }
    if (q.rxBlocked) {
      this.note(DROP.MAC_CHANGE_BLOCKED, q);
      return false;
    }
    return true;
  }

  /** §4.2 / §1.9 receive filter for a group destination. */
  private acceptsGroup(q: PortState, dst: Mac, bcast: boolean): boolean {
    return bcast || q.promisc || q.allMulticast || q.mcast.has(dst);
  }

  private offerGroupLocal(q: PortState, sender: PortState, dst: Mac, bcast: boolean): void {
    if (q === sender || !this.acceptsGroup(q, dst, bcast)) return;
    if (this.receivable(q)) this.deliver(q);
  }

  private offerGroupFromUplink(q: PortState, uplinkIndex: number, dst: Mac, bcast: boolean, reflected: boolean): void {
    if (!this.acceptsGroup(q, dst, bcast)) return;
    if (this.receivable(q) && this.ingressOk(q, uplinkIndex, reflected)) this.deliver(q);
  }

  private offerUnicastLocal(q: PortState): void {
    if (this.receivable(q)) this.deliver(q);
  }

  /** §4.2: promiscuous ports of the frame's VLAN get a copy of a VM's unicast (not the sender, not the target). */
  private promiscCopies(sender: PortState, target: PortState | undefined): void {
    const promisc = this.promiscPorts;
    for (let i = 0; i < promisc.length; i++) {
      const q = promisc[i]!;
      if (q === sender || q === target || !this.inVlan(q, this.curVlan)) continue;
      if (this.receivable(q)) this.deliver(q);
    }
  }

  /** §1.10 reverse-path rule and own-MAC reflection; §1.11: promiscuous ports skip both unless the option is on. */
  private ingressOk(q: PortState, uplinkIndex: number, reflected: boolean): boolean {
    if (q.promisc && !this.reversePathCheckPromiscuous) return true;
    if (reflected) {
      this.note(DROP.OWN_MAC_REFLECTION, q);
      return false;
    }
    if (!this.selector.acceptsIngress(q.view, uplinkIndex, this.curFrame)) {
      this.note(DROP.REVERSE_PATH, q);
      return false;
    }
    return true;
  }

  private egress(p: PortState, frame: Uint8Array): void {
    const mask = this.selector.selectEgress(p.view, frame) & this.allUplinksMask();
    if (mask === 0) return;
    const r = this.result;
    r.uplinkMask = mask;
    r.uplinkFrame = this.trunkBytes();
    this.framesToUplinks += popcount32(mask);
  }

  private allUplinksMask(): number {
    const n = this.uplinkNames.length;
    return n >= 32 ? 0xffffffff | 0 : (1 << n) - 1;
  }

  private inVlan(q: PortState, vlan: number): boolean {
    return q.vlanId === vlan || q.vlanId === VLAN_ID_VGT;
  }

  /** §1.1 / §6.7: the newest registration of `mac` visible in `vlan` (VLAN ports and VGT ports). */
  private lookup(vlan: number, mac: Mac): PortState | undefined {
    // a stream repeats one destination: the last answer holds until a registration changes
    if (mac === this.lookupMac && vlan === this.lookupVlan) return this.lookupPort;
    const best = this.lookupTables(vlan, mac);
    this.lookupVlan = vlan;
    this.lookupMac = mac;
    this.lookupPort = best;
    return best;
  }

  private lookupTables(vlan: number, mac: Mac): PortState | undefined {
    let best: PortState | undefined;
    const a = vlan < VLAN_ID_VGT ? this.macTables[vlan]?.get(mac) : undefined;
    if (a !== undefined) best = a[a.length - 1];
    const b = this.macTables[VLAN_ID_VGT]?.get(mac);
    if (b !== undefined) {
      const c = b[b.length - 1]!;
      if (best === undefined || c.regSeq > best.regSeq) best = c;
    }
    return best;
  }

  private isLocalSource(vlan: number, mac: Mac): boolean {
    if (mac === this.localSourceMac && vlan === this.localSourceVlan) return this.localSource;
    const local = (this.macTables[vlan]?.has(mac) ?? false) || (this.macTables[VLAN_ID_VGT]?.has(mac) ?? false);
    this.localSourceVlan = vlan;
    this.localSourceMac = mac;
    this.localSource = local;
    return local;
  }

  /** A registration changed: forget the remembered lookups. */
  private forgetLookups(): void {
    this.lookupVlan = -1;
    this.lookupMac = -1;
    this.lookupPort = undefined;
    this.localSourceVlan = -1;
    this.localSourceMac = -1;
    this.localSource = false;
  }

  // ------------------------------------------------------------------ internals: control plane

  private port(portId: number): PortState {
    const p = this.portsById.get(portId);
    if (!p) throw new VfabError('VFAB_VSWITCH_NO_SUCH_PORT', `vSwitch ${this.name} has no port ${portId}`, { portId });
    return p;
  }

  private checkUplink(uplinkIndex: number): void {
    if (!Number.isInteger(uplinkIndex) || uplinkIndex < 0 || uplinkIndex >= this.uplinkNames.length) {
      throw new VfabError('VFAB_VSWITCH_NO_SUCH_UPLINK', `vSwitch ${this.name} has no uplink ${uplinkIndex} (it has ${this.uplinkNames.length})`, { uplinkIndex });
    }
  }

  private register(p: PortState, mac: Mac, events: VSwitchEvent[]): void {
    this.forgetLookups();
    const table = (this.macTables[p.vlanId] ??= new Map<Mac, PortState[]>());
    let list = table.get(mac);
    if (list === undefined) table.set(mac, (list = []));
    list.push(p);
    p.registeredMac = mac;
    p.regSeq = ++this.regCounter;
    if (list.length > 1) {
      events.push({ kind: 'mac_conflict', vlanId: p.vlanId, mac, portIds: list.map((q) => q.id), activePortId: p.id });
    }
  }

  private unregister(p: PortState): void {
    this.forgetLookups();
    const table = this.macTables[p.vlanId];
    const list = table?.get(p.registeredMac);
    if (table === undefined || list === undefined) return;
    removeFrom(list, p);
    if (list.length === 0) table.delete(p.registeredMac);
    p.registeredMac = ZERO_MAC;
  }

  /** Re-evaluates MAC-change blocking, table key and promiscuity after a MAC or policy change. */
  private refreshPort(p: PortState, events: VSwitchEvent[]): void {
    const allowed = p.pg.policy.allowMacChanges || p.effectiveMac === p.initialMac;
    p.rxBlocked = !allowed;
    const want = allowed ? p.effectiveMac : p.initialMac;
    if (want !== p.registeredMac) {
      const old = p.registeredMac;
      this.unregister(p);
      this.register(p, want, events);
      events.push({ kind: 'mac_changed', portId: p.id, oldMac: old, newMac: want });
      this.notify(p, events);
    }
    this.refreshPromisc(p);
  }

  private refreshPromisc(p: PortState): void {
    const on = p.guestPromisc && p.pg.policy.allowPromiscuous;
    if (on === p.promisc) return;
    p.promisc = on;
    if (on) this.promiscPorts.push(p);
    else removeFrom(this.promiscPorts, p);
  }

  private notify(p: PortState, events: VSwitchEvent[]): void {
    if (!(p.pg.notifySwitches ?? this.notifyDefault)) return;
    const frame = buildRarpFrame(p.effectiveMac, p.vlanId);
    const uplinkMask = this.selector.selectEgress(p.view, frame) & this.allUplinksMask();
    if (uplinkMask === 0) return;
    events.push({ kind: 'notify_switches', portId: p.id, mac: p.effectiveMac, uplinkMask, frame });
  }

  private egressMaskFor(p: PortState): number {
    const sel = this.selector as DescribableUplinkSelector;
    if (typeof sel.describeEgress === 'function') return sel.describeEgress(p.view) & this.allUplinksMask();
    const probe = buildFrame(
      p.vlanId >= 1 && p.vlanId < VLAN_ID_VGT
        ? { dst: BROADCAST_MAC, src: p.effectiveMac, tag: { tpid: ETHERTYPE_VLAN, pcp: 0, dei: 0, vid: p.vlanId }, etherType: ETHERTYPE_ARP }
        : { dst: BROADCAST_MAC, src: p.effectiveMac, etherType: ETHERTYPE_ARP },
      EMPTY_FRAME,
    );
    return this.selector.selectEgress(p.view, probe) & this.allUplinksMask();
  }
}

/**
 * Like popVlanTag (lib/wire/ethernet.ts) but from the Buffer pool without zero-filling the whole copy:
 * only the padding up to MIN_FRAME_BYTES is zeroed. Call only on frames carrying a C-tag.
 */
function untagCopy(frame: Uint8Array): Buffer {
  const bodyBytes = frame.length - VLAN_TAG_BYTES;
  const out = Buffer.allocUnsafe(bodyBytes < MIN_FRAME_BYTES ? MIN_FRAME_BYTES : bodyBytes);
  out.set(frame.subarray(0, 12), 0);
  out.set(frame.subarray(12 + VLAN_TAG_BYTES), 12);
  if (bodyBytes < MIN_FRAME_BYTES) out.fill(0, bodyBytes);
  return out;
}

function sameSecurity(a: SecurityPolicy, b: SecurityPolicy): boolean {
  return a.allowPromiscuous === b.allowPromiscuous && a.allowMacChanges === b.allowMacChanges && a.allowForgedTransmits === b.allowForgedTransmits;
}

function describeSecurity(p: SecurityPolicy): string {
  const v = (on: boolean): string => (on ? 'accept' : 'reject');
  return `promiscuous ${v(p.allowPromiscuous)}, MAC changes ${v(p.allowMacChanges)}, forged transmits ${v(p.allowForgedTransmits)}`;
}

function removeFrom<T>(list: T[], item: T): void {
  const i = list.indexOf(item);
  if (i >= 0) list.splice(i, 1);
}
