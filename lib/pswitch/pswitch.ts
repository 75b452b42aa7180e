// The emulated physical switch as a pure decision engine: the switchd daemon hands it each received frame
// and performs what it returns (deliveries, events). Covers ingress VLAN classification of access and
// trunk ports (native VLAN untagged both ways, priority tags), egress tagging, per-VLAN MAC learning with
// aging, MAC-move and flap detection, a bounded MAC table, static port-channels ("mode on") with a hash
// per frame, and per-port counters with named drop reasons. Follows IEEE 802.1Q bridging and IOS
// behaviour; the vSphere side of these rules is in docs/vsphere-behaviour.md §2.6, §2.7
// (native VLAN, allowed VLANs), §3.4 (IP hash needs a static channel, else MAC moves), §3.8 (flapping
// uplinks show up as MAC moves), §6.6 (duplicate MACs -> MAC flaps on the upstream switch).
// Leaves out STP (the reserved 01:80:c2:00:00:0x group is dropped), LACP, IGMP snooping, static/secure
// MACs, storm control and Q-in-Q (an 0x88a8 frame is treated as untagged with an unknown EtherType).
//
// Rules worth knowing:
//  - MTU: a frame whose payload (length minus 14 bytes of header minus a 4-byte 802.1Q tag if present)
//    exceeds the ingress port MTU is dropped (`mtu_exceeded`); a copy that exceeds an egress port's MTU is
//    not sent there (tx `mtu_exceeded`). Frames are carried without FCS; runts (< 60 bytes) are accepted.
//  - Table full: a new MAC is NOT learned when the table holds macTableMaxEntries entries (counted as
//    `mac_table_full`, the frame is still forwarded, traffic to that MAC keeps being flooded). This is
//    what most hardware does; evicting the oldest entry instead would let a MAC flood (CAM overflow)
//    push out the entries of real hosts. A `mac-table-full` event is raised once when the table first
//    refuses a MAC, and re-armed when aging, a flush or a clear brings the table below its capacity.
//  - Aging: an entry last seen at t is stale from t + macAgingMs on (exactly at the boundary): lookups
//    treat it as unknown from then, and age() removes it and reports `mac-aged`. A frame from a stale
//    source reports `mac-aged` and learns it afresh (a new learn, never a move).
//  - Moves/flaps: a (VLAN, MAC) seen on another logical port moves there (`mac-move`). A flap window
//    opens at a move when none is open (or the last one is older than flapDetection.windowMs); when the
//    moves inside one window exceed flapDetection.moves, `mac-flap` is raised once for that window.
//  - Port-channels: learning, flooding and filtering use the channel as one logical port; each copy
//    leaves by one member picked by the channel hash (see hash.ts) among the members whose link is up.
//    A channel with no member up is down and its MACs are flushed; a member going down flushes nothing.
//  - Link down or shutdown of a standalone port flushes the MACs learned on it (`mac-flushed`).

import { VfabError } from '../errors.js';
import { ETH_HEADER_BYTES, ETHERTYPE_VLAN, VLAN_TAG_BYTES, popVlanTag, pushVlanTag } from '../wire/ethernet.js';
import { type Mac, BROADCAST_MAC, macToString, parseMac, readMac } from '../wire/mac.js';
import type { Clock } from '../clock.js';
import {
  type LoadBalance, type NormalizedConfig, type PhysicalSwitchConfig, type PortMode, VLAN_ID_SPACE, normalizeSwitchConfig,
} from './config.js';
import {
  type DropReason, type PortCounters, type SwitchCounters, C_RX_BYTES, C_RX_FRAMES, C_RX_UNICAST, C_TX_BYTES, C_TX_FRAMES,
  C_TX_UNICAST, CAST_BROADCAST, CAST_MULTICAST, CAST_UNICAST, DROP, DROP_REASONS, DROP_REASON_COUNT, PortCounterBlock, dropCounts,
} from './counters.js';
import { channelHash, loadBalanceCode } from './hash.js';
import { type MacEntry, MacTable } from './mac-table.js';

export * from './config.js';
export * from './counters.js';
export { channelHash, loadBalanceCode, ipv4Offset } from './hash.js';
export type { MacEntry } from './mac-table.js';

export type SwitchEvent =
  | { type: 'mac-learned'; timeMs: number; vlan: number; mac: string; port: string; frameNo: number | undefined }
  | { type: 'mac-move'; timeMs: number; vlan: number; mac: string; fromPort: string; toPort: string; moves: number; frameNo: number | undefined }
  | {
      type: 'mac-flap'; timeMs: number; vlan: number; mac: string; ports: [string, string]; movesInWindow: number;
      windowMs: number; windowStartMs: number; frameNo: number | undefined;
    }
  | { type: 'mac-aged'; timeMs: number; vlan: number; mac: string; port: string; ageMs: number }
  | { type: 'mac-flushed'; timeMs: number; port: string; count: number; reason: 'link-down' | 'shutdown' | 'reconfigured' }
  | { type: 'mac-table-full'; timeMs: number; vlan: number; mac: string; port: string; maxEntries: number; frameNo: number | undefined }
  | { type: 'link-up'; timeMs: number; port: string }
  | { type: 'link-down'; timeMs: number; port: string; reason: 'link' | 'shutdown' }
  | { type: 'port-channel-up'; timeMs: number; channel: string }
  | { type: 'port-channel-down'; timeMs: number; channel: string };

export type SwitchEventType = SwitchEvent['type'];
export type SwitchVerdict = 'forward' | 'flood' | 'drop';

/**
 * What receive() decided. The switch reuses ONE result object: it is valid until the next receive() call
 * on the same switch (copy what you keep, e.g. with resultDeliveries()).
 * Deliveries are ports[0..count) with frames[i] the bytes to send out ports[i]. Ports that get identical
 * bytes share one buffer (every untagged copy shares one, every tagged copy another); an unchanged copy is
 * the input frame itself. Never mutate these buffers.
 */
export interface SwitchResult {
  verdict: SwitchVerdict;
  /** Set when verdict is 'drop'. */
  dropReason: DropReason | undefined;
  /** VLAN the frame was classified into, -1 when dropped before classification. */
  vlan: number;
  count: number;
  readonly ports: Int32Array;
  readonly frames: Uint8Array[];
  /** Events raised by this frame, undefined when none (no array is allocated then). */
  events: SwitchEvent[] | undefined;
  /**
   * Frames this result stands for: 1 from receive(); from receiveRun() the whole run when it was taken
   * at once (every frame forwarded unchanged to ports[0]), else 1 (only the first frame was decided).
   */
  runFrames: number;
}

export interface PortStatus {
  index: number;
  name: string;
  description: string;
  mode: PortMode;
  accessVlan: number;
  nativeVlan: number;
  allowedVlans: number[] | 'all';
  mtuBytes: number;
  linkUp: boolean;
  shutdown: boolean;
  /** Forwarding: link up and not shut. */
  up: boolean;
  /** IOS-style status: connected, notconnect (link down) or disabled (shutdown). */
  status: 'connected' | 'notconnect' | 'disabled';
  portChannel: string | undefined;
}

export interface PortChannelStatus {
  name: string;
  members: string[];
  upMembers: string[];
  up: boolean;
  loadBalance: LoadBalance;
}

export interface MacTableRow {
  vlan: number;
  mac: string;
  /** Port or port-channel name. */
  port: string;
  type: 'dynamic';
  ageMs: number;
  moves: number;
}

export interface ClearMacOptions {
  vlan?: number;
  /** Port or port-channel name (a member name clears its channel's entries). */
  port?: string;
  mac?: Mac | string;
}

/** A copy of a result's deliveries, for callers that keep them past the next receive(). */
export function resultDeliveries(r: SwitchResult): Array<{ port: number; frame: Uint8Array }> {
  const out: Array<{ port: number; frame: Uint8Array }> = [];
  for (let i = 0; i < r.count; i++) out.push({ port: r.ports[i]!, frame: r.frames[i]! });
  return out;
}

/** 01:80:c2:00:00:00 .. 0f, shifted right by 4 bits: the IEEE 802.1Q reserved (never forwarded) group. */
const LINK_LOCAL_PREFIX = 0x0180c200000;

export class PhysicalSwitch {
  readonly name: string;
  private cfg!: NormalizedConfig;
  private readonly clock: Clock;
  private readonly table: MacTable;
  private agingMs!: number;
  private flapMoves: number;
  private flapWindowMs: number;

  // Per physical port (index = port index).
  private readonly portNames: string[];
  private readonly portLinkUp: Uint8Array;
  private readonly portShut: Uint8Array;
  private portIsAccess!: Uint8Array;
  private portAccessVlan!: Int32Array;
  private portNativeVlan!: Int32Array;
  /** VLAN sent untagged: the access VLAN or the trunk native VLAN. */
  private portUntaggedVlan!: Int32Array;
  private portAllowed!: Uint8Array[];
  private portMtu!: Int32Array;
  private portLport!: Int32Array;
  private readonly portCtr: PortCounterBlock[];

  // Per logical port (standalone port or port-channel).
  private lportNames!: string[];
  private lportMembers!: number[][];
  /** Members whose link is up and that are not shut, in config order. */
  private lportUp!: number[][];
  /** LB_* code of a channel, -1 for a standalone port. */
  private lportLb!: Int32Array;
  private lportChannel!: Int32Array;
  /** Logical ports carrying each VLAN, built on first use. */
  private floodLists: Array<Int32Array | undefined> = new Array(VLAN_ID_SPACE);

  private readonly result: SwitchResult;
  // Per-frame scratch (fields, not closures).
  private curFrame: Uint8Array = new Uint8Array(0);
  private curTagged = false;
  private curVid = 0;
  private curVlan = 0;
  private curPayloadBytes = 0;
  private curCast = CAST_UNICAST;
  private curUntaggedOut: Uint8Array | undefined;
  private curTaggedOut: Uint8Array | undefined;

  private tableFullReported = false;
  private knownUnicast = 0;
  private flooded = 0;
  private learnedCount = 0;
  private movesCount = 0;
  private flapsCount = 0;
  private agedCount = 0;
  private flushedCount = 0;
  private tableFullEvents = 0;

  /** Validates `config` (throws VfabError VFAB_PSWITCH_*); time comes from `clock`. */
  constructor(config: PhysicalSwitchConfig, clock: Clock) {
    const cfg = normalizeSwitchConfig(config);
    this.cfg = cfg;
    this.name = cfg.name;
    this.clock = clock;
    this.agingMs = cfg.macAgingMs;
    this.flapMoves = cfg.flapMoves;
    this.flapWindowMs = cfg.flapWindowMs;
    this.table = new MacTable(cfg.macTableMaxEntries);
    const n = cfg.ports.length;
    this.portNames = cfg.ports.map((p) => p.name);
    this.portLinkUp = new Uint8Array(n).fill(cfg.linksStartUp ? 1 : 0);
    this.portShut = Uint8Array.from(cfg.ports, (p) => (p.shutdown ? 1 : 0));
    this.portCtr = cfg.ports.map(() => new PortCounterBlock());
    this.build(cfg);

    this.result = {
      verdict: 'drop', dropReason: undefined, vlan: -1, count: 0,
      ports: new Int32Array(n), frames: new Array<Uint8Array>(n), events: undefined, runFrames: 1,
    };
  }

  /** Sets the per-port and per-logical-port arrays from `cfg` (keeps link state, shutdown, counters, table). */
  private build(cfg: NormalizedConfig): void {
    this.cfg = cfg;
    this.agingMs = cfg.macAgingMs;
    this.portIsAccess = Uint8Array.from(cfg.ports, (p) => (p.mode === 'access' ? 1 : 0));
    this.portAccessVlan = Int32Array.from(cfg.ports, (p) => p.accessVlan);
    this.portNativeVlan = Int32Array.from(cfg.ports, (p) => p.nativeVlan);
    this.portUntaggedVlan = Int32Array.from(cfg.ports, (p) => (p.mode === 'access' ? p.accessVlan : p.nativeVlan));
    this.portAllowed = cfg.ports.map((p) => p.allowed);
    this.portMtu = Int32Array.from(cfg.ports, (p) => p.mtuBytes);
    this.portLport = new Int32Array(cfg.ports.length);

    this.lportNames = [];
    this.lportMembers = [];
    const lb: number[] = [];
    const lch: number[] = [];
    cfg.ports.forEach((p, i) => {
      if (p.channel !== -1) return;
      this.portLport[i] = this.lportNames.length;
      this.lportNames.push(p.name);
      this.lportMembers.push([i]);
      lb.push(-1);
      lch.push(-1);
    });
    cfg.channels.forEach((c, ci) => {
      const lp = this.lportNames.length;
      for (const m of c.members) this.portLport[m] = lp;
      this.lportNames.push(c.name);
      this.lportMembers.push([...c.members]);
      lb.push(loadBalanceCode(c.loadBalance));
      lch.push(ci);
    });
    this.lportLb = Int32Array.from(lb);
    this.lportChannel = Int32Array.from(lch);
    this.lportUp = this.lportMembers.map(() => []);
    for (let lp = 0; lp < this.lportMembers.length; lp++) this.rebuildUp(lp);

    this.floodLists = new Array(VLAN_ID_SPACE);
  }

  // ------------------------------------------------------------------ hot path

  /**
   * Decides what happens to `frame` received on port `portIndex`. `frameNo` (the frame's number in a
   * capture) is carried into events. Never throws for bad bytes (drops and counts); throws
   * VFAB_PSWITCH_UNKNOWN_PORT for a port index that does not exist. The result is reused (see SwitchResult).
   */
  receive(portIndex: number, frame: Uint8Array, frameNo?: number): SwitchResult {
    const r = this.result;
    r.count = 0;
    r.events = undefined;
    r.dropReason = undefined;
    r.vlan = -1;
    r.runFrames = 1;
    const inLport = this.portLport[portIndex];
    if (inLport === undefined) {
      throw new VfabError('VFAB_PSWITCH_UNKNOWN_PORT', `switch ${this.name} has no port index ${portIndex}`, { portIndex });
    }
    const pc = this.portCtr[portIndex]!;
    const len = frame.length;
    pc.traffic[C_RX_FRAMES]!++;
    pc.traffic[C_RX_BYTES]! += len;
    if (this.portShut[portIndex] === 1) return this.drop(pc, DROP.port_shutdown);
    if (this.portLinkUp[portIndex] === 0) return this.drop(pc, DROP.port_down);
    if (len < ETH_HEADER_BYTES) return this.drop(pc, DROP.malformed);

    const dst = readMac(frame, 0);
    const groupDst = (frame[0]! & 1) === 1;
    const cast = !groupDst ? CAST_UNICAST : dst === BROADCAST_MAC ? CAST_BROADCAST : CAST_MULTICAST;
    pc.traffic[C_RX_UNICAST + cast]!++;

    const tagged = ((frame[12]! << 8) | frame[13]!) === ETHERTYPE_VLAN;
    if (tagged && len < ETH_HEADER_BYTES + VLAN_TAG_BYTES) return this.drop(pc, DROP.malformed);
    const payloadBytes = len - ETH_HEADER_BYTES - (tagged ? VLAN_TAG_BYTES : 0);
    if (payloadBytes > this.portMtu[portIndex]!) return this.drop(pc, DROP.mtu_exceeded);

    // Ingress classification.
    let vid = 0;
    let vlan: number;
    if (tagged) vid = ((frame[14]! << 8) | frame[15]!) & 0x0fff;
    if (this.portIsAccess[portIndex] === 1) {
      if (tagged && vid !== 0) return this.drop(pc, DROP.tagged_on_access);
      vlan = this.portAccessVlan[portIndex]!;
    } else {
      // Untagged and priority-tagged (VID 0) frames belong to the native VLAN; a frame tagged with the
      // native VID is accepted into the native VLAN too (and leaves other trunks untagged: §2.6).
      vlan = tagged && vid !== 0 ? vid : this.portNativeVlan[portIndex]!;
      if (this.portAllowed[portIndex]![vlan] !== 1) return this.drop(pc, DROP.vlan_not_allowed);
    }
    r.vlan = vlan;

    const src = readMac(frame, 6);
    if ((frame[6]! & 1) === 1) return this.drop(pc, DROP.src_mac_group);
    if (groupDst && Math.floor(dst / 16) === LINK_LOCAL_PREFIX) return this.drop(pc, DROP.link_local);

    const nowMs = this.clock.nowMs();
    this.learn(src, vlan, inLport, nowMs, frameNo, pc);

    this.curFrame = frame;
    this.curTagged = tagged;
    this.curVid = vid;
    this.curVlan = vlan;
    this.curPayloadBytes = payloadBytes;
    this.curCast = cast;
    this.curUntaggedOut = undefined;
    this.curTaggedOut = undefined;

    if (!groupDst) {
      const e = this.table.get(vlan, dst);
      if (e !== undefined && nowMs - e.lastSeenMs < this.agingMs) {
        if (e.lport === inLport) return this.drop(pc, DROP.same_port);
        const phys = this.pickMember(e.lport, frame);
        if (phys < 0) return this.drop(pc, DROP.no_egress);
        this.deliver(phys);
        this.curFrame = EMPTY;
        if (r.count === 0) return this.drop(pc, DROP.mtu_exceeded);
        this.knownUnicast++;
        r.verdict = 'forward';
        return r;
      }
    }

    // Flood within the VLAN: one copy per logical port other than the ingress one.
    let list = this.floodLists[vlan];
    if (list === undefined) list = this.buildFloodList(vlan);
    let candidates = 0;
    for (let i = 0; i < list.length; i++) {
      const lp = list[i]!;
      if (lp === inLport) continue;
      const phys = this.pickMember(lp, frame);
      if (phys < 0) continue;
      candidates++;
      this.deliver(phys);
    }
    this.curFrame = EMPTY;
    if (r.count === 0) return this.drop(pc, candidates === 0 ? DROP.no_egress : DROP.mtu_exceeded);
    this.flooded++;
    r.verdict = 'flood';
    return r;
  }

  /**
   * A run of `count` frames received back to back on one port that agree on their first RUN_KEY_BYTES
   * bytes (lib/link/codec.ts: destination, source, TPID + TCI or EtherType), `frameBytes` in total, none
   * longer than `maxFrameBytes`. Decides the first frame as receive() does. When that is a known-unicast
   * forward with no event, out of one port (not a port-channel hash over several members) with the bytes
   * unchanged, and the largest frame fits both ports' MTU, every other frame of the run gets the same
   * decision, so they are accounted at once (counters, the source entry refreshed at the same instant)
   * and result.runFrames = count: the caller sends the run's bytes out ports[0] as they are. Otherwise
   * runFrames = 1 and the caller hands the other frames to receive() one by one. The run is taken as
   * arriving at one instant, as a burst does on a wire.
   */
  receiveRun(portIndex: number, first: Uint8Array, count: number, frameBytes: number, maxFrameBytes: number, frameNo?: number): SwitchResult {
    const r = this.receive(portIndex, first, frameNo);
    if (count < 2 || r.verdict !== 'forward' || r.count !== 1 || r.events !== undefined || r.frames[0] !== first) return r;
    const out = r.ports[0]!;
    const tagged = ((first[12]! << 8) | first[13]!) === ETHERTYPE_VLAN;
    const maxPayloadBytes = maxFrameBytes - ETH_HEADER_BYTES - (tagged ? VLAN_TAG_BYTES : 0);
    if (maxPayloadBytes > this.portMtu[portIndex]! || maxPayloadBytes > this.portMtu[out]!) return r;
    if (this.lportUp[this.portLport[out]!]!.length !== 1) return r;
    // the source must be in the table on this port (not a zero MAC, not refused by a full table: those
    // count a drop per frame)
    const src = this.table.get(r.vlan, readMac(first, 6));
    if (src === undefined || src.lport !== this.portLport[portIndex]) return r;
    const n = count - 1;
    const restBytes = frameBytes - first.length;
    const inCtr = this.portCtr[portIndex]!.traffic;
    inCtr[C_RX_FRAMES]! += n;
    inCtr[C_RX_BYTES]! += restBytes;
    inCtr[C_RX_UNICAST + CAST_UNICAST]! += n;
    const outCtr = this.portCtr[out]!.traffic;
    outCtr[C_TX_FRAMES]! += n;
    outCtr[C_TX_BYTES]! += restBytes;
    outCtr[C_TX_UNICAST + CAST_UNICAST]! += n;
    this.knownUnicast += n;
    r.runFrames = count;
    return r;
  }

  private drop(pc: PortCounterBlock, reason: number): SwitchResult {
    pc.rxDrops[reason]!++;
    const r = this.result;
    r.verdict = 'drop';
    r.dropReason = DROP_REASONS[reason];
    r.count = 0;
    return r;
  }

  private pushEvent(ev: SwitchEvent): void {
    const r = this.result;
    if (r.events === undefined) r.events = [ev];
    else r.events.push(ev);
  }

  private learn(src: Mac, vlan: number, lport: number, nowMs: number, frameNo: number | undefined, pc: PortCounterBlock): void {
    if (src === 0) {
      pc.rxDrops[DROP.src_mac_zero]!++;
      return;
    }
    let e = this.table.get(vlan, src);
    if (e !== undefined) {
      if (nowMs - e.lastSeenMs < this.agingMs) {
        e.lastSeenMs = nowMs;
        if (e.lport !== lport) this.move(e, lport, nowMs, frameNo);
        return;
      }
      // Stale but not yet removed by age(): age it now and learn afresh.
      this.table.delete(e);
      this.agedCount++;
      this.pushEvent({ type: 'mac-aged', timeMs: nowMs, vlan, mac: macToString(src), port: this.lportNames[e.lport]!, ageMs: nowMs - e.lastSeenMs });
      e = undefined;
    }
    if (this.table.isFull()) {
      pc.rxDrops[DROP.mac_table_full]!++;
      if (!this.tableFullReported) {
        this.tableFullReported = true;
        this.tableFullEvents++;
        this.pushEvent({
          type: 'mac-table-full', timeMs: nowMs, vlan, mac: macToString(src), port: this.lportNames[lport]!,
          maxEntries: this.table.maxEntries, frameNo,
        });
      }
      return;
    }
    this.table.insert(vlan, src, lport, nowMs);
    this.learnedCount++;
    this.pushEvent({ type: 'mac-learned', timeMs: nowMs, vlan, mac: macToString(src), port: this.lportNames[lport]!, frameNo });
  }

  private move(e: MacEntry, lport: number, nowMs: number, frameNo: number | undefined): void {
    e.prevLport = e.lport;
    e.lport = lport;
    e.moves++;
    this.movesCount++;
    if (e.windowMoves === 0 || nowMs - e.windowStartMs >= this.flapWindowMs) {
      e.windowStartMs = nowMs;
      e.windowMoves = 0;
      e.flapReported = false;
    }
    e.windowMoves++;
    const mac = macToString(e.mac);
    const fromPort = this.lportNames[e.prevLport]!;
    const toPort = this.lportNames[lport]!;
    this.pushEvent({ type: 'mac-move', timeMs: nowMs, vlan: e.vlan, mac, fromPort, toPort, moves: e.moves, frameNo });
    if (e.windowMoves > this.flapMoves && !e.flapReported) {
      e.flapReported = true;
      this.flapsCount++;
      this.pushEvent({
        type: 'mac-flap', timeMs: nowMs, vlan: e.vlan, mac, ports: [fromPort, toPort], movesInWindow: e.windowMoves,
        windowMs: this.flapWindowMs, windowStartMs: e.windowStartMs, frameNo,
      });
    }
  }

  /** Physical port that carries a frame out of logical port `lp`, or -1 when none is up. */
  private pickMember(lp: number, frame: Uint8Array): number {
    const ups = this.lportUp[lp]!;
    const n = ups.length;
    if (n === 0) return -1;
    if (n === 1) return ups[0]!;
    return ups[channelHash(frame, this.lportLb[lp]!) % n]!;
  }

  private deliver(phys: number): void {
    const pc = this.portCtr[phys]!;
    if (this.curPayloadBytes > this.portMtu[phys]!) {
      pc.txDrops[DROP.mtu_exceeded]!++;
      return;
    }
    const out = this.curVlan === this.portUntaggedVlan[phys]! ? this.untaggedOut() : this.taggedOut();
    const r = this.result;
    r.ports[r.count] = phys;
    r.frames[r.count] = out;
    r.count++;
    pc.traffic[C_TX_FRAMES]!++;
    pc.traffic[C_TX_BYTES]! += out.length;
    pc.traffic[C_TX_UNICAST + this.curCast]!++;
  }

  private untaggedOut(): Uint8Array {
    let out = this.curUntaggedOut;
    if (out === undefined) {
      out = this.curTagged ? popVlanTag(this.curFrame) : this.curFrame;
      this.curUntaggedOut = out;
    }
    return out;
  }

  private taggedOut(): Uint8Array {
    let out = this.curTaggedOut;
    if (out === undefined) {
      const f = this.curFrame;
      const vlan = this.curVlan;
      if (!this.curTagged) {
        out = pushVlanTag(f, vlan);
      } else if (this.curVid === vlan) {
        out = f;
      } else {
        // Priority-tagged (VID 0) frame: keep PCP/DEI, write the VLAN.
        const copy = Buffer.allocUnsafe(f.length);
        copy.set(f);
        copy[14] = (copy[14]! & 0xf0) | (vlan >>> 8);
        copy[15] = vlan & 0xff;
        out = copy;
      }
      this.curTaggedOut = out;
    }
    return out;
  }

  private buildFloodList(vlan: number): Int32Array {
    const lps: number[] = [];
    for (let lp = 0; lp < this.lportMembers.length; lp++) {
      if (this.portAllowed[this.lportMembers[lp]![0]!]![vlan] === 1) lps.push(lp);
    }
    const list = Int32Array.from(lps);
    this.floodLists[vlan] = list;
    return list;
  }

  // ------------------------------------------------------------------ link state

  private checkPort(portIndex: number): void {
    if (!Number.isInteger(portIndex) || portIndex < 0 || portIndex >= this.portNames.length) {
      throw new VfabError('VFAB_PSWITCH_UNKNOWN_PORT', `switch ${this.name} has no port index ${portIndex}`, { portIndex });
    }
  }

  private isUp(portIndex: number): boolean {
    return this.portLinkUp[portIndex] === 1 && this.portShut[portIndex] === 0;
  }

  private rebuildUp(lp: number): void {
    const ups = this.lportUp[lp]!;
    ups.length = 0;
    for (const m of this.lportMembers[lp]!) if (this.isUp(m)) ups.push(m);
  }

  /** Link (cable/peer) state of a port. Link down flushes the MACs learned on it (or on its channel once no member is up). */
  setLinkUp(portIndex: number, up: boolean): SwitchEvent[] {
    this.checkPort(portIndex);
    const want = up ? 1 : 0;
    if (this.portLinkUp[portIndex] === want) return [];
    const wasUp = this.isUp(portIndex);
    this.portLinkUp[portIndex] = want;
    return this.portChanged(portIndex, wasUp, 'link');
  }

  /** Administrative state ("shutdown" / "no shutdown"). Shutting a port flushes like link down. */
  setShutdown(portIndex: number, shut: boolean): SwitchEvent[] {
    this.checkPort(portIndex);
    const want = shut ? 1 : 0;
    if (this.portShut[portIndex] === want) return [];
    const wasUp = this.isUp(portIndex);
    this.portShut[portIndex] = want;
    return this.portChanged(portIndex, wasUp, 'shutdown');
  }

  private portChanged(portIndex: number, wasUp: boolean, why: 'link' | 'shutdown'): SwitchEvent[] {
    const nowUp = this.isUp(portIndex);
    if (wasUp === nowUp) return [];
    const timeMs = this.clock.nowMs();
    const events: SwitchEvent[] = [];
    const port = this.portNames[portIndex]!;
    events.push(nowUp ? { type: 'link-up', timeMs, port } : { type: 'link-down', timeMs, port, reason: why });
    const lp = this.portLport[portIndex]!;
    const upBefore = this.lportUp[lp]!.length;
    this.rebuildUp(lp);
    const upAfter = this.lportUp[lp]!.length;
    const isChannel = this.lportChannel[lp]! >= 0;
    if (isChannel && upBefore === 0 && upAfter > 0) events.push({ type: 'port-channel-up', timeMs, channel: this.lportNames[lp]! });
    if (upBefore > 0 && upAfter === 0) {
      if (isChannel) events.push({ type: 'port-channel-down', timeMs, channel: this.lportNames[lp]! });
      const removed = this.table.removeWhere((e) => e.lport === lp);
      if (removed.length > 0) {
        this.flushedCount += removed.length;
        events.push({ type: 'mac-flushed', timeMs, port: this.lportNames[lp]!, count: removed.length, reason: why === 'link' ? 'link-down' : 'shutdown' });
      }
      this.rearmTableFull();
    }
    return events;
  }

  private rearmTableFull(): void {
    if (!this.table.isFull()) this.tableFullReported = false;
  }

  // ------------------------------------------------------------------ aging and table

  /**
   * Applies a new configuration live, as an admin reconfigures a running switch: port modes, VLANs, MTU,
   * shutdown, port-channel membership, MAC aging and flap detection. The ports stay the same (names, in
   * order). Validated first with the rules of the constructor: an invalid config throws VFAB_PSWITCH_*
   * and changes nothing. MAC entries go (`mac-flushed`, reason reconfigured) where their logical port
   * no longer carries the entry's VLAN, changed its members (a port joined or left a channel) or is
   * gone; the rest stay. Shutdown changes act as setShutdown(). Link state and counters are kept.
   */
  reconfigure(config: PhysicalSwitchConfig): SwitchEvent[] {
    const cfg = normalizeSwitchConfig(config);
    const same = cfg.ports.length === this.portNames.length && cfg.ports.every((p, i) => p.name === this.portNames[i]);
    if (!same) throw new VfabError('VFAB_PSWITCH_CONFIG', `switch ${this.name}: ports cannot be added, removed or reordered on a running switch`);
    if (cfg.name !== this.name) throw new VfabError('VFAB_PSWITCH_CONFIG', `switch ${this.name}: cannot be renamed to ${cfg.name} while running`);
    if (cfg.macTableMaxEntries !== this.table.maxEntries) {
      throw new VfabError('VFAB_PSWITCH_CONFIG', `switch ${this.name}: the MAC table size cannot change on a running switch`);
    }
    const oldNames = this.lportNames;
    const oldMembers = this.lportMembers;
    this.build(cfg);
    this.flapMoves = cfg.flapMoves;
    this.flapWindowMs = cfg.flapWindowMs;
    const newLport = new Map(this.lportNames.map((n, lp) => [n, lp]));
    const keeps = oldNames.map((n, lp) => {
      const now = newLport.get(n);
      const members = now === undefined ? undefined : this.lportMembers[now]!;
      return members !== undefined && members.length === oldMembers[lp]!.length && members.every((m, k) => m === oldMembers[lp]![k]) ? now! : -1;
    });
    const removed = this.table.removeWhere((e) => keeps[e.lport]! < 0 || this.portAllowed[this.lportMembers[keeps[e.lport]!]![0]!]![e.vlan] !== 1);
    for (const e of this.table.entries()) {
      e.lport = keeps[e.lport]!;
      e.prevLport = e.prevLport < 0 ? -1 : newLport.get(oldNames[e.prevLport]!) ?? -1;
    }
    const timeMs = this.clock.nowMs();
    const events: SwitchEvent[] = [];
    const flushed = new Map<string, number>();
    for (const e of removed) flushed.set(oldNames[e.lport]!, (flushed.get(oldNames[e.lport]!) ?? 0) + 1);
    for (const [port, count] of flushed) events.push({ type: 'mac-flushed', timeMs, port, count, reason: 'reconfigured' });
    this.flushedCount += removed.length;
    this.rearmTableFull();
    cfg.ports.forEach((p, i) => events.push(...this.setShutdown(i, p.shutdown)));
    return events;
  }

  /** Removes entries not seen for macAgingMs or more (time from the clock); one mac-aged event each. */
  age(): SwitchEvent[] {
    const nowMs = this.clock.nowMs();
    const agingMs = this.agingMs;
    const removed = this.table.removeWhere((e) => nowMs - e.lastSeenMs >= agingMs);
    this.agedCount += removed.length;
    this.rearmTableFull();
    return removed.map((e) => ({
      type: 'mac-aged' as const, timeMs: nowMs, vlan: e.vlan, mac: macToString(e.mac), port: this.lportNames[e.lport]!, ageMs: nowMs - e.lastSeenMs,
    }));
  }

  /** Clock time at which the next entry becomes stale (call age() then), or undefined when the table is empty. */
  nextAgingDeadlineMs(): number | undefined {
    const oldest = this.table.oldestSeenMs();
    return oldest === undefined ? undefined : oldest + this.agingMs;
  }

  /** Current entries (stale ones excluded), by VLAN then MAC, like `show mac address-table dynamic`. */
  macTable(): MacTableRow[] {
    const nowMs = this.clock.nowMs();
    const rows: MacTableRow[] = [];
    for (const e of this.table.entries()) {
      const ageMs = nowMs - e.lastSeenMs;
      if (ageMs >= this.agingMs) continue;
      rows.push({ vlan: e.vlan, mac: macToString(e.mac), port: this.lportNames[e.lport]!, type: 'dynamic', ageMs, moves: e.moves });
    }
    return rows;
  }

  /** Port or port-channel name where (vlan, mac) is learned (and not stale), or undefined. */
  lookupMac(vlan: number, mac: Mac | string): string | undefined {
    const m = typeof mac === 'string' ? parseMac(mac) : mac;
    const e = this.table.get(vlan, m);
    if (e === undefined || this.clock.nowMs() - e.lastSeenMs >= this.agingMs) return undefined;
    return this.lportNames[e.lport];
  }

  /** `clear mac address-table dynamic [vlan v] [interface p] [address m]`; returns how many entries went. */
  clearMacTable(opts: ClearMacOptions = {}): number {
    const vlan = opts.vlan;
    const mac = opts.mac === undefined ? undefined : typeof opts.mac === 'string' ? parseMac(opts.mac) : opts.mac;
    let lport: number | undefined;
    if (opts.port !== undefined) {
      const lp = this.lportNames.indexOf(opts.port);
      lport = lp >= 0 ? lp : this.portLport[this.portIndex(opts.port)]!;
    }
    const removed = this.table.removeWhere(
      (e) => (vlan === undefined || e.vlan === vlan) && (mac === undefined || e.mac === mac) && (lport === undefined || e.lport === lport),
    );
    this.rearmTableFull();
    return removed.length;
  }

  // ------------------------------------------------------------------ introspection

  /** Index of a port by name; throws VFAB_PSWITCH_UNKNOWN_PORT. */
  portIndex(name: string): number {
    const i = this.portNames.indexOf(name);
    if (i < 0) throw new VfabError('VFAB_PSWITCH_UNKNOWN_PORT', `switch ${this.name} has no port ${JSON.stringify(name)}`, { port: name });
    return i;
  }

  /** The MAC aging time in force, ms. */
  macAgingMs(): number {
    return this.agingMs;
  }

  portCount(): number {
    return this.portNames.length;
  }

  ports(): PortStatus[] {
    return this.cfg.ports.map((p, index) => {
      const linkUp = this.portLinkUp[index] === 1;
      const shutdown = this.portShut[index] === 1;
      const lp = this.portLport[index]!;
      return {
        index, name: p.name, description: p.description, mode: p.mode, accessVlan: p.accessVlan, nativeVlan: p.nativeVlan,
        allowedVlans: p.allowedVlans === 'all' ? 'all' : [...p.allowedVlans], mtuBytes: p.mtuBytes, linkUp, shutdown,
        up: linkUp && !shutdown, status: shutdown ? 'disabled' : linkUp ? 'connected' : 'notconnect',
        portChannel: this.lportChannel[lp]! >= 0 ? this.lportNames[lp] : undefined,
      };
    });
  }

  portChannels(): PortChannelStatus[] {
    return this.cfg.channels.map((c) => {
      const lp = this.portLport[c.members[0]!]!;
      return {
        name: c.name, members: c.members.map((m) => this.portNames[m]!), upMembers: this.lportUp[lp]!.map((m) => this.portNames[m]!),
        up: this.lportUp[lp]!.length > 0, loadBalance: c.loadBalance,
      };
    });
  }

  portCounters(portIndex: number): PortCounters {
    this.checkPort(portIndex);
    return this.portCtr[portIndex]!.snapshot(this.portNames[portIndex]!);
  }

  counters(): SwitchCounters {
    const ports = this.portCtr.map((c, i) => c.snapshot(this.portNames[i]!));
    const drops = new Float64Array(DROP_REASON_COUNT);
    let rxFrames = 0;
    let rxBytes = 0;
    let txFrames = 0;
    let txBytes = 0;
    for (const c of this.portCtr) {
      rxFrames += c.traffic[C_RX_FRAMES]!;
      rxBytes += c.traffic[C_RX_BYTES]!;
      txFrames += c.traffic[C_TX_FRAMES]!;
      txBytes += c.traffic[C_TX_BYTES]!;
      for (let i = 0; i < DROP_REASON_COUNT; i++) drops[i]! += c.rxDrops[i]! + c.txDrops[i]!;
    }
    return {
      rxFrames, rxBytes, txFrames, txBytes, knownUnicast: this.knownUnicast, flooded: this.flooded, drops: dropCounts(drops),
      learned: this.learnedCount, moves: this.movesCount, flaps: this.flapsCount, aged: this.agedCount, flushed: this.flushedCount,
      tableFullEvents: this.tableFullEvents, macEntries: this.table.size, ports,
    };
  }

  clearCounters(): void {
    for (const c of this.portCtr) c.reset();
    this.knownUnicast = 0;
    this.flooded = 0;
    this.learnedCount = 0;
    this.movesCount = 0;
    this.flapsCount = 0;
    this.agedCount = 0;
    this.flushedCount = 0;
    this.tableFullEvents = 0;
  }
}

const EMPTY = new Uint8Array(0);
