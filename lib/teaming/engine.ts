// NIC teaming engine for one vSwitch (spec §3, §1.10): implements the vSwitch's UplinkSelector seam and
// decides pinning, failover, failback, beacon-probing verdicts and notify-switches RARPs. It returns
// actions (notify, repin, beacon, event); the host daemon performs them (sends RARPs/beacons, logs events).
// Load balancing: srcPortId `portId mod n`, pinned and recomputed only when the set of healthy uplinks in
// use changes (§3.2); srcMac `lastByte(srcMac) mod n` per frame (§3.3); ipHash `(lastOctet(srcIP) XOR
// lastOctet(dstIP)) mod n` per frame, read from the frame bytes (§3.4); explicit: first healthy active, then
// standby in order (§3.5). n counts the uplinks in use: the healthy actives, or, when the active list is
// exhausted, the first healthy standby (§3.7). Failback No keeps the replacement after recovery (§3.8).
// Per-frame calls (selectEgress/acceptsIngress) allocate nothing and look up ports by number only.
// Leaves out: load-based teaming (§3.6, vDS), LACP, vMotion-triggered notify (the destination host's
// daemon calls portConnected), RARP rate limiting, changing the uplink list after construction, and
// turning beacon probing on or off live (reconfigure() refuses it).

import type { Clock } from '../clock.js';
import { VfabError } from '../errors.js';
import type { Mac } from '../wire/mac.js';
import { macToString } from '../wire/mac.js';
import { VLAN_MAX, VLAN_MIN, VLAN_TRUNK_ALL } from '../wire/ethernet.js';
import type { PortTeamingView, UplinkSelector } from '../vswitch/uplink-selector.js';
import { BeaconProber, type BeaconVerdict } from './beacon.js';
import { NOTIFY_RARP_COUNT, NOTIFY_RARP_MAX } from './notify.js';
import { type ResolvedPolicy, type TeamingPolicy, type UplinkRole, mergePolicy, resolvePolicy, teamingError, validateUplinks } from './policy.js';

/**
 * Why a port moved and its RARPs went out. `startup`: uplinks getting carrier for the first time (a host
 * starts with its VMs powered on and its uplinks still down, then each uplink comes up once): nothing
 * failed and nothing came back. `port-up`: later, a port that had no uplink at all (every team NIC was
 * down) gets one again. `failover`: an uplink in use went down or failed its beacons. `failback`: an
 * uplink that had been up before came back and took ports over.
 */
export type NotifyReason = 'power-on' | 'vmotion' | 'startup' | 'port-up' | 'failover' | 'failback' | 'mac-change' | 'reconnect' | 'policy-change';
export type RepinReason = 'startup' | 'port-up' | 'failover' | 'failback' | 'shotgun' | 'mac-change' | 'policy-change';
export type TeamingEventType =
  | 'link-down'
  | 'link-up'
  | 'beacon-failed'
  | 'beacon-restored'
  | 'shotgun-on'
  | 'shotgun-off'
  | 'no-uplink';

export type TeamingAction =
  /** Send `count` RARPs for `mac` (tagged with `vlanId` when set) on uplink `uplink` (§3.10, §3.11). */
  | { kind: 'notify'; portId: number; mac: Mac; uplink: number; vlanId?: number; count: number; reason: NotifyReason }
  /** The port's traffic moved; `to` null = no single uplink (`toMask` 0: none; several bits: shotgun). */
  | { kind: 'repin'; portId: number; from: number | null; to: number | null; toMask: number; reason: RepinReason }
  /** Send this beacon frame out of uplink `uplink` (§3.9). */
  | { kind: 'beacon'; uplink: number; vlanId: number; frame: Buffer }
  /** Something to log or show; `portGroup` set for 'no-uplink'. */
  | { kind: 'event'; type: TeamingEventType; uplink?: number; portGroup?: string; message: string };

export interface TeamingEngineOptions {
  /** The vSwitch's uplinks in order; index i is bit i of the selector masks. */
  uplinks: string[];
  vswitchPolicy: TeamingPolicy;
  /** Per-port-group overrides (§3 header): unspecified fields inherit from the vSwitch. */
  portGroupPolicies?: Record<string, Partial<TeamingPolicy>>;
  clock: Clock;
  /** Burned-in MAC per uplink, same order as `uplinks`; required when any policy uses beacon probing. */
  uplinkMacs?: Mac[];
  /** Port-group VLAN IDs: RARPs of VST port groups (1-4094) carry that tag; also the default beacon VLANs. */
  portGroupVlans?: Record<string, number>;
  /** VLANs beacons go out on (0 = untagged). Default: the port-group VLANs (4095 skipped), else [0]. */
  vlansInUse?: number[];
  /** RARPs per notify (default NOTIFY_RARP_COUNT, at most NOTIFY_RARP_MAX). */
  notifyCount?: number;
  /** Links start up unless listed here as down. */
  initialLinkDown?: string[];
}

export interface UplinkStatusRow {
  name: string;
  link: 'up' | 'down';
  beacon: 'ok' | 'failed' | 'n/a';
  role: UplinkRole;
  inUse: boolean;
}

export interface PortDescription {
  uplink: string | null;
  uplinks: string[];
  reason: string;
}

const MODE_SRC_PORT = 0;
const MODE_SRC_MAC = 1;
const MODE_IP_HASH = 2;
const MODE_EXPLICIT = 3;

interface PolicyState {
  name: string; // port-group name or '' for the vSwitch policy
  rp: ResolvedPolicy;
  mode: number;
  beacon: boolean;
  failback: boolean;
  /** Uplinks in use, in team order; the modulus base of srcPortId/srcMac/ipHash. */
  inUse: number[];
  inUseMask: number;
  /** Non-zero while beacon probing is ambiguous for this team: send on all these. */
  shotgunMask: number;
  ports: Set<PortState>;
}

interface PortState {
  portId: number;
  portGroup: string;
  mac: Mac;
  ps: PolicyState;
  /** Pinned uplink, -1 for none (or shotgun / ipHash, where it is only the notify uplink). */
  uplink: number;
  egressMask: number;
  ingressMask: number;
}

function modeOf(p: TeamingPolicy): number {
  switch (p.loadBalancing) {
    case 'srcPortId': return MODE_SRC_PORT;
    case 'srcMac': return MODE_SRC_MAC;
    case 'ipHash': return MODE_IP_HASH;
    default: return MODE_EXPLICIT;
  }
}

function bits(mask: number, n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) if ((mask & (1 << i)) !== 0) out.push(i);
  return out;
}

export class TeamingEngine implements UplinkSelector {
  private readonly names: readonly string[];
  private readonly n: number;
  private readonly clock: Clock;
  private readonly notifyCount: number;
  private vswitch: PolicyState;
  private byGroup = new Map<string, PolicyState>();
  private policies: PolicyState[] = [];
  private readonly ports = new Map<number, PortState>();
  private readonly portGroupVlans: Record<string, number>;
  private readonly prober: BeaconProber | null;
  private linkUpMask = 0;
  /** Uplinks that have been healthy at least once (one coming up for the first time is start-up, not failback). */
  private everHealthyMask = 0;
  private verdict: BeaconVerdict = { failedMask: 0, shotgunMask: 0 };

  constructor(opts: TeamingEngineOptions) {
    validateUplinks(opts.uplinks);
    this.names = [...opts.uplinks];
    this.n = this.names.length;
    this.clock = opts.clock;
    this.notifyCount = opts.notifyCount ?? NOTIFY_RARP_COUNT;
    if (!(Number.isInteger(this.notifyCount) && this.notifyCount >= 1 && this.notifyCount <= NOTIFY_RARP_MAX)) {
      throw teamingError('VFAB_TEAMING_BAD_POLICY', `notifyCount ${opts.notifyCount} must be 1..${NOTIFY_RARP_MAX} (NOTIFY_RARP_MAX, §3.10)`);
    }
    this.portGroupVlans = { ...(opts.portGroupVlans ?? {}) };
    for (const [pg, v] of Object.entries(this.portGroupVlans)) {
      if (!(Number.isInteger(v) && v >= 0 && v <= VLAN_TRUNK_ALL)) throw teamingError('VFAB_TEAMING_BAD_VLAN', `port group ${pg}: VLAN ${v} is not 0..4095`);
    }
    for (let i = 0; i < this.n; i++) this.linkUpMask |= 1 << i;
    for (const down of opts.initialLinkDown ?? []) {
      const i = this.names.indexOf(down);
      if (i < 0) throw teamingError('VFAB_TEAMING_UNKNOWN_NIC', `initialLinkDown: ${down} is not an uplink of this vSwitch`, { nic: down });
      this.linkUpMask &= ~(1 << i);
    }
    this.everHealthyMask = this.linkUpMask;

    const resolved = this.resolveAll(opts.vswitchPolicy, opts.portGroupPolicies);
    this.vswitch = this.makeState('', resolved.vswitch);
    for (const [pg, rp] of resolved.groups) this.byGroup.set(pg, this.makeState(pg, rp));

    let participants = 0;
    for (const ps of this.policies) if (ps.beacon) participants |= ps.rp.teamMask;
    if (participants !== 0) {
      if (!opts.uplinkMacs || opts.uplinkMacs.length !== this.n) {
        throw teamingError('VFAB_TEAMING_BEACON_NO_MAC', `beacon probing needs uplinkMacs with one MAC per uplink (${this.n})`);
      }
      if (new Set(opts.uplinkMacs).size !== this.n) throw teamingError('VFAB_TEAMING_BEACON_NO_MAC', 'uplinkMacs must be distinct for beacon probing');
      this.prober = new BeaconProber({
        uplinkNames: this.names,
        uplinkMacs: opts.uplinkMacs,
        participants: bits(participants, this.n),
        vlans: opts.vlansInUse ?? this.defaultBeaconVlans(),
        startMs: this.clock.nowMs(),
      });
      for (let i = 0; i < this.n; i++) if ((this.linkUpMask & (1 << i)) === 0) this.prober.setLinkUp(i, false);
    } else {
      this.prober = null;
    }
    for (const ps of this.policies) this.recomputeInUse(ps);
  }

  private resolveAll(vswitchPolicy: TeamingPolicy, overrides: Record<string, Partial<TeamingPolicy>> | undefined): { vswitch: ResolvedPolicy; groups: Map<string, ResolvedPolicy> } {
    const groups = new Map<string, ResolvedPolicy>();
    for (const [pg, over] of Object.entries(overrides ?? {})) groups.set(pg, resolvePolicy(mergePolicy(vswitchPolicy, over), this.names, `port group ${pg}`));
    return { vswitch: resolvePolicy(vswitchPolicy, this.names, 'vSwitch policy'), groups };
  }

  /**
   * A live change of the teaming policies (`vfab set`; spec §3): the vSwitch policy, the port-group
   * overrides and the port groups' VLANs, all given whole. Everything is resolved first (an invalid
   * policy throws and changes nothing); then every team is recomputed as if it started now from the
   * healthy uplinks, and every port is pinned again: a port whose uplink changed gets a repin action and,
   * when its policy notifies (and is not IP hash, whose EtherChannel is one logical port), RARPs on its
   * new uplink (§3.10: its traffic moved). Changing which uplinks run beacon probing is refused
   * (VFAB_TEAMING_LIVE_UNSUPPORTED): the prober is set up once.
   */
  reconfigure(vswitchPolicy: TeamingPolicy, portGroupPolicies: Record<string, Partial<TeamingPolicy>>, portGroupVlans: Record<string, number>): TeamingAction[] {
    return this.planReconfigure(vswitchPolicy, portGroupPolicies, portGroupVlans)();
  }

  /** reconfigure() in two steps: every check now (throws), the change when the returned function runs. */
  planReconfigure(vswitchPolicy: TeamingPolicy, portGroupPolicies: Record<string, Partial<TeamingPolicy>>, portGroupVlans: Record<string, number>): () => TeamingAction[] {
    const resolved = this.resolveAll(vswitchPolicy, portGroupPolicies);
    for (const [pg, v] of Object.entries(portGroupVlans)) {
      if (!(Number.isInteger(v) && v >= 0 && v <= VLAN_TRUNK_ALL)) throw teamingError('VFAB_TEAMING_BAD_VLAN', `port group ${pg}: VLAN ${v} is not 0..4095`);
    }
    let participants = 0;
    for (const rp of [resolved.vswitch, ...resolved.groups.values()]) if (rp.policy.failureDetection === 'beaconProbing') participants |= rp.teamMask;
    const current = this.prober ? this.policies.reduce((m, ps) => (ps.beacon ? m | ps.rp.teamMask : m), 0) : 0;
    if (participants !== current) {
      throw teamingError('VFAB_TEAMING_LIVE_UNSUPPORTED', 'beacon probing cannot be turned on or off, or given other uplinks, while the vSwitch runs (failure detection stays as it started)');
    }
    return () => this.applyPolicies(resolved, portGroupVlans);
  }

  private applyPolicies(resolved: { vswitch: ResolvedPolicy; groups: Map<string, ResolvedPolicy> }, portGroupVlans: Record<string, number>): TeamingAction[] {
    const old = [...this.ports.values()].map((st) => ({ st, from: st.uplink, fromMask: st.egressMask }));
    this.policies = [];
    this.byGroup = new Map();
    this.vswitch = this.makeState('', resolved.vswitch);
    for (const [pg, rp] of resolved.groups) this.byGroup.set(pg, this.makeState(pg, rp));
    for (const k of Object.keys(this.portGroupVlans)) delete this.portGroupVlans[k];
    Object.assign(this.portGroupVlans, portGroupVlans);
    for (const ps of this.policies) this.recomputeInUse(ps);
    const actions: TeamingAction[] = [];
    for (const { st, from, fromMask } of old) {
      st.ps = this.byGroup.get(st.portGroup) ?? this.vswitch;
      st.ps.ports.add(st);
      this.pin(st);
      if (st.uplink === from && st.egressMask === fromMask) continue;
      actions.push({ kind: 'repin', portId: st.portId, from: from < 0 ? null : from, to: st.uplink < 0 ? null : st.uplink, toMask: st.egressMask, reason: 'policy-change' });
      if (st.ps.mode !== MODE_IP_HASH) this.pushNotify(actions, st, 'policy-change');
    }
    if (this.prober) this.prober.setVlans(this.defaultBeaconVlans());
    return actions;
  }

  private defaultBeaconVlans(): number[] {
    const vlans = new Set<number>();
    for (const v of Object.values(this.portGroupVlans)) if (v !== VLAN_TRUNK_ALL) vlans.add(v);
    return vlans.size ? [...vlans] : [0];
  }

  private makeState(name: string, rp: ResolvedPolicy): PolicyState {
    const ps: PolicyState = {
      name,
      rp,
      mode: modeOf(rp.policy),
      beacon: rp.policy.failureDetection === 'beaconProbing',
      // IP hash spreads over the whole EtherChannel, so a recovered member always rejoins.
      failback: rp.policy.failback || rp.policy.loadBalancing === 'ipHash',
      inUse: [],
      inUseMask: 0,
      shotgunMask: 0,
      ports: new Set(),
    };
    this.policies.push(ps);
    return ps;
  }

  // ------------------------------------------------------------ per-frame (UplinkSelector)

  selectEgress(port: PortTeamingView, frame: Uint8Array): number {
    const st = this.ports.get(port.portId);
    if (st === undefined) return 0;
    const ps = st.ps;
    if (ps.shotgunMask !== 0) return st.egressMask;
    const n = ps.inUse.length;
    if (n === 0) return 0;
    if (ps.mode === MODE_SRC_MAC) {
      if (frame.length < 12) return st.egressMask;
      return 1 << ps.inUse[frame[11]! % n]!;
    }
    if (ps.mode === MODE_IP_HASH) return 1 << ps.inUse[ipHashByte(frame) % n]!;
    return st.egressMask;
  }

  acceptsIngress(port: PortTeamingView, uplinkIndex: number, _frame: Uint8Array): boolean {
    const st = this.ports.get(port.portId);
    if (st === undefined || uplinkIndex < 0 || uplinkIndex >= this.n) return false;
    return (st.ingressMask & (1 << uplinkIndex)) !== 0;
  }

  // ------------------------------------------------------------ ports

  /** Pins a newly connected port; returns the power-on notify (§3.10) when notify switches is on. */
  /** A port came up: pinned, and notified with `reason` (a VM arriving by vMotion: 'vmotion'). */
  portConnected(port: PortTeamingView, reason: NotifyReason = 'power-on'): TeamingAction[] {
    if (this.ports.has(port.portId)) this.portDisconnected(port.portId);
    const ps = this.byGroup.get(port.portGroup) ?? this.vswitch;
    const st: PortState = { portId: port.portId, portGroup: port.portGroup, mac: port.mac, ps, uplink: -1, egressMask: 0, ingressMask: 0 };
    this.pin(st);
    ps.ports.add(st);
    this.ports.set(port.portId, st);
    const actions: TeamingAction[] = [];
    this.pushNotify(actions, st, reason);
    return actions;
  }

  portDisconnected(portId: number): void {
    const st = this.ports.get(portId);
    if (!st) return;
    st.ps.ports.delete(st);
    this.ports.delete(portId);
  }

  /** The port's effective MAC changed: re-pin (source-MAC hash may move it) and notify (§3.10). */
  portMacChanged(port: PortTeamingView): TeamingAction[] {
    const st = this.ports.get(port.portId);
    if (!st) return [];
    st.mac = port.mac;
    const from = st.uplink;
    const fromMask = st.egressMask;
    this.pin(st);
    const actions: TeamingAction[] = [];
    if (st.uplink !== from || st.egressMask !== fromMask) {
      actions.push({ kind: 'repin', portId: st.portId, from: from < 0 ? null : from, to: st.uplink < 0 ? null : st.uplink, toMask: st.egressMask, reason: 'mac-change' });
    }
    this.pushNotify(actions, st, 'mac-change');
    return actions;
  }

  // ------------------------------------------------------------ failure detection

  /** Link-status detection (§3.9): failover (§3.7) on down, failback (§3.8) on up. */
  setLinkState(uplinkIndex: number, up: boolean): TeamingAction[] {
    this.checkUplink(uplinkIndex);
    const bit = 1 << uplinkIndex;
    if (up === ((this.linkUpMask & bit) !== 0)) return [];
    const before = this.healthyBaseMask();
    this.linkUpMask = up ? this.linkUpMask | bit : this.linkUpMask & ~bit;
    const actions: TeamingAction[] = [{ kind: 'event', type: up ? 'link-up' : 'link-down', uplink: uplinkIndex, message: `${this.names[uplinkIndex]} link ${up ? 'up' : 'down'}` }];
    if (this.prober) {
      this.prober.setLinkUp(uplinkIndex, up);
      this.applyVerdict(this.prober.current(), actions);
    }
    this.reevaluate(actions, before);
    return actions;
  }

  isLinkUp(uplinkIndex: number): boolean {
    return (this.linkUpMask & (1 << uplinkIndex)) !== 0;
  }

  /** A beacon frame (EtherType 0x8922) that arrived on `uplinkIndex`; the vSwitch diverts these here. */
  onBeacon(uplinkIndex: number, frame: Uint8Array): boolean {
    return this.prober ? this.prober.receive(uplinkIndex, frame) : false;
  }

  /** Runs beacon rounds that are due: beacon sends, then any failover/failback the verdict causes. */
  tick(): TeamingAction[] {
    if (!this.prober) return [];
    const r = this.prober.tick(this.clock.nowMs());
    if (!r) return [];
    const actions: TeamingAction[] = [];
    if (r.changed) {
      const before = this.healthyBaseMask();
      this.applyVerdict(this.prober.current(), actions);
      this.reevaluate(actions, before);
    }
    for (const s of r.sends) actions.push({ kind: 'beacon', uplink: s.uplink, vlanId: s.vlanId, frame: s.frame });
    return actions;
  }

  /** When tick() next has work (ms on the engine clock), or null without beacon probing. */
  nextDeadlineMs(): number | null {
    return this.prober ? this.prober.nextDeadlineMs() : null;
  }

  /** Replaces the VLANs beacons go out on (the host daemon calls this when port groups change). */
  setVlansInUse(vlans: number[]): void {
    if (this.prober) this.prober.setVlans(vlans);
  }

  // ------------------------------------------------------------ status

  describePort(portId: number): PortDescription {
    const st = this.ports.get(portId);
    if (!st) return { uplink: null, uplinks: [], reason: `port ${portId} is not connected` };
    const ps = st.ps;
    const lb = ps.rp.policy.loadBalancing;
    const nm = (i: number): string => this.names[i]!;
    const list = (xs: number[]): string => (xs.length <= 1 ? xs.map(nm).join('') : `${xs.slice(0, -1).map(nm).join(', ')} and ${nm(xs[xs.length - 1]!)}`);
    if (ps.shotgunMask !== 0) {
      const sh = bits(ps.shotgunMask, this.n);
      return { uplink: null, uplinks: sh.map(nm), reason: `shotgun: beacon failure ambiguous with ${sh.length} uplinks (sending on ${sh.map(nm).join(', ')})` };
    }
    const unhealthy = (i: number): string => `${nm(i)} ${this.isLinkUp(i) ? 'beacon failed' : 'down'}`;
    if (ps.inUse.length === 0) {
      const team = [...ps.rp.activeIdx, ...ps.rp.standbyIdx];
      const why = team.length ? team.map(unhealthy).join(', ') : 'no active or standby NIC configured';
      return { uplink: null, uplinks: [], reason: `no usable uplink: ${why}` };
    }
    const n = ps.inUse.length;
    const downActives = ps.rp.activeIdx.filter((i) => !this.isHealthy(ps, i));
    const heldBack = ps.rp.activeIdx.filter((i) => this.isHealthy(ps, i) && (ps.inUseMask & (1 << i)) === 0);
    const suffix = heldBack.length ? `; ${heldBack.map(nm).join(', ')} recovered but failback is off` : '';
    if (lb === 'ipHash') {
      const used = ps.inUse.map(nm);
      return { uplink: null, uplinks: used, reason: `ipHash per frame over ${used.join(', ')}: (srcIP last octet XOR dstIP last octet) mod ${n}${downActives.length ? `; ${downActives.map(unhealthy).join(', ')}` : ''}` };
    }
    const u = st.uplink;
    if (ps.rp.role[u] === 'standby') {
      const why = downActives.length ? `${list(downActives)} ${downActives.every((i) => !this.isLinkUp(i)) ? 'down' : 'failed'}` : ps.rp.activeIdx.length === 0 ? 'no active NIC configured' : 'active NICs held back (failback off)';
      return { uplink: nm(u), uplinks: [nm(u)], reason: `standby ${nm(u)} in use: ${why}` };
    }
    let how: string;
    if (lb === 'srcPortId') how = `srcPortId: port ${st.portId} mod ${n} healthy active = ${((st.portId % n) + n) % n}`;
    else if (lb === 'srcMac') how = `srcMac: last byte 0x${(st.mac % 256).toString(16).padStart(2, '0')} of ${macToString(st.mac)} mod ${n} healthy active = ${(st.mac % 256) % n}`;
    else how = `explicit: first healthy active`;
    const failed = downActives.length ? `; ${downActives.map(unhealthy).join(', ')}` : '';
    return { uplink: nm(u), uplinks: [nm(u)], reason: `active uplink ${nm(u)} (${how})${failed}${suffix}` };
  }

  uplinkStatus(): UplinkStatusRow[] {
    const rows: UplinkStatusRow[] = [];
    let participants = 0;
    let inUse = 0;
    for (const ps of this.policies) {
      if (ps.beacon) participants |= ps.rp.teamMask;
      inUse |= ps.shotgunMask !== 0 ? ps.shotgunMask : ps.inUseMask;
    }
    for (let i = 0; i < this.n; i++) {
      const bit = 1 << i;
      rows.push({
        name: this.names[i]!,
        link: this.linkUpMask & bit ? 'up' : 'down',
        beacon: participants & bit ? (this.verdict.failedMask & bit ? 'failed' : 'ok') : 'n/a',
        role: this.vswitch.rp.role[i]!,
        inUse: (inUse & bit) !== 0,
      });
    }
    return rows;
  }

  /** The uplink index of a name (for daemons mapping config to indices); -1 when unknown. */
  uplinkIndex(name: string): number {
    return this.names.indexOf(name);
  }

  // ------------------------------------------------------------ internals

  private checkUplink(i: number): void {
    if (!(Number.isInteger(i) && i >= 0 && i < this.n)) {
      throw new VfabError('VFAB_TEAMING_UNKNOWN_NIC', `uplink index ${i} is not 0..${this.n - 1}`);
    }
  }

  /** Link-up and not beacon-failed, as seen by beacon-probing policies (for failover/failback cause). */
  private healthyBaseMask(): number {
    return this.linkUpMask & ~this.verdict.failedMask;
  }

  private isHealthy(ps: PolicyState, i: number): boolean {
    const bit = 1 << i;
    if ((this.linkUpMask & bit) === 0) return false;
    return !(ps.beacon && (this.verdict.failedMask & bit) !== 0);
  }

  private applyVerdict(v: BeaconVerdict, actions: TeamingAction[]): void {
    const old = this.verdict;
    for (let i = 0; i < this.n; i++) {
      const bit = 1 << i;
      if ((v.failedMask & bit) !== (old.failedMask & bit)) {
        const failed = (v.failedMask & bit) !== 0;
        actions.push({ kind: 'event', type: failed ? 'beacon-failed' : 'beacon-restored', uplink: i, message: failed ? `${this.names[i]} hears no beacons from its team mates while others do: marked failed` : `${this.names[i]} hears team mates again` });
      }
    }
    if ((v.shotgunMask !== 0) !== (old.shotgunMask !== 0)) {
      const sh = bits(v.shotgunMask || old.shotgunMask, this.n).map((i) => this.names[i]).join(', ');
      actions.push({ kind: 'event', type: v.shotgunMask ? 'shotgun-on' : 'shotgun-off', message: v.shotgunMask ? `beacon failure ambiguous: sending on all of ${sh}` : `beacon probing unambiguous again (${sh})` });
    }
    this.verdict = v;
  }

  private recomputeInUse(ps: PolicyState): void {
    const healthyActive = ps.rp.activeIdx.filter((i) => this.isHealthy(ps, i));
    let ideal = healthyActive;
    if (ideal.length === 0) {
      const sb = ps.rp.standbyIdx.find((i) => this.isHealthy(ps, i));
      ideal = sb === undefined ? [] : [sb];
    }
    let next = ideal;
    if (!ps.failback && ps.inUse.length > 0) {
      const kept = ps.inUse.filter((i) => this.isHealthy(ps, i));
      if (kept.length > 0) next = kept;
    }
    ps.inUse = next;
    ps.inUseMask = 0;
    for (const i of next) ps.inUseMask |= 1 << i;
    ps.shotgunMask = ps.beacon ? this.verdict.shotgunMask & ps.rp.teamMask & this.linkUpMask : 0;
  }

  private pin(st: PortState): void {
    const ps = st.ps;
    if (ps.shotgunMask !== 0) {
      st.uplink = -1;
      st.egressMask = ps.shotgunMask;
      st.ingressMask = ps.shotgunMask;
      return;
    }
    const n = ps.inUse.length;
    if (n === 0) {
      st.uplink = -1;
      st.egressMask = 0;
      st.ingressMask = 0;
      return;
    }
    let idx = 0;
    if (ps.mode === MODE_SRC_PORT) idx = ((st.portId % n) + n) % n;
    else if (ps.mode === MODE_SRC_MAC) idx = (st.mac % 256) % n;
    st.uplink = ps.inUse[idx]!;
    st.egressMask = 1 << st.uplink;
    st.ingressMask = ps.mode === MODE_IP_HASH ? ps.inUseMask : st.egressMask;
  }

  /** After a health change: recompute every team, re-pin its ports, emit repin + notify actions. */
  private reevaluate(actions: TeamingAction[], healthyBefore: number): void {
    const healthyAfter = this.healthyBaseMask();
    const gained = healthyAfter & ~healthyBefore;
    let cause: 'failover' | 'failback' | 'startup' = 'failback';
    if ((healthyBefore & ~healthyAfter) !== 0) cause = 'failover';
    else if (gained !== 0 && (gained & this.everHealthyMask) === 0) cause = 'startup';
    this.everHealthyMask |= healthyAfter;
    for (const ps of this.policies) {
      const hadUplink = ps.inUse.length > 0 || ps.shotgunMask !== 0;
      this.recomputeInUse(ps);
      if (hadUplink && ps.inUse.length === 0 && ps.shotgunMask === 0) {
        const pg = ps.name || '(vSwitch policy)';
        actions.push({ kind: 'event', type: 'no-uplink', portGroup: pg, message: `${pg}: no usable uplink; its ports are cut off` });
      }
      for (const st of ps.ports) {
        const from = st.uplink;
        const fromMask = st.egressMask;
        const fromIngress = st.ingressMask;
        this.pin(st);
        if (st.uplink === from && st.egressMask === fromMask && st.ingressMask === fromIngress) continue;
        // a port that had no uplink at all gets one: nothing failed and it replaces nothing
        const portUp = fromMask === 0 && st.egressMask !== 0 && ps.shotgunMask === 0;
        const why = portUp && cause !== 'startup' ? 'port-up' : cause;
        const reason: RepinReason = ps.shotgunMask !== 0 ? 'shotgun' : why;
        if (st.uplink !== from || st.egressMask !== fromMask) {
          actions.push({ kind: 'repin', portId: st.portId, from: from < 0 ? null : from, to: st.uplink < 0 ? null : st.uplink, toMask: st.egressMask, reason });
        }
        // IP-hash teams sit on an EtherChannel: the physical switch sees one logical port, no notify needed.
        if (ps.mode !== MODE_IP_HASH && (st.uplink !== from || st.egressMask !== fromMask)) this.pushNotify(actions, st, why);
      }
    }
  }

  private pushNotify(actions: TeamingAction[], st: PortState, reason: NotifyReason): void {
    if (!st.ps.rp.policy.notifySwitches || st.egressMask === 0) return;
    const vlan = this.portGroupVlans[st.portGroup];
    const tagged = vlan !== undefined && vlan >= VLAN_MIN && vlan <= VLAN_MAX;
    const targets = st.uplink >= 0 ? [st.uplink] : bits(st.egressMask, this.n);
    for (const uplink of targets) {
      actions.push({ kind: 'notify', portId: st.portId, mac: st.mac, uplink, ...(tagged ? { vlanId: vlan } : {}), count: this.notifyCount, reason });
    }
  }
}

/**
 * The byte IP hash reduces mod n (§3.4): IPv4 lastOctet(src) XOR lastOctet(dst); IPv6 the same on the
 * last bytes of the 128-bit addresses; any other frame XOR-folds the two 32-bit words where the IPv4
 * addresses would sit (bytes 12..19 after the EtherType; missing bytes count as 0). No allocation.
 */
export function ipHashByte(f: Uint8Array): number {
  if (f.length < 14) return 0;
  let type = (f[12]! << 8) | f[13]!;
  let l3 = 14;
  if (type === 0x8100 && f.length >= 18) {
    type = (f[16]! << 8) | f[17]!;
    l3 = 18;
  }
  if (type === 0x0800 && f.length >= l3 + 20) return f[l3 + 15]! ^ f[l3 + 19]!;
  if (type === 0x86dd && f.length >= l3 + 40) return f[l3 + 23]! ^ f[l3 + 39]!;
  let h = 0;
  const end = Math.min(f.length, l3 + 20);
  for (let i = l3 + 12; i < end; i++) h ^= f[i]!;
  return h;
}
