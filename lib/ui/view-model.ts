// The view model of `vfab ui`: turns the daemons' status replies (GET /control/status, as `vfab status
// --json` shows them) and their events into the page's UiSnapshot, and two snapshots into a UiDelta.
// Pure: the server (daemons/ui/) passes in the replies, the events and the fabric time. Covers link state
// (up, down, impaired, flapping), rates per link direction from counter differences, each vNIC's active
// uplink and the teaming reason, drops, MAC moves per switch port (from mac-move/mac-flap events), and
// the batching of events for the live stream (EventBatcher, eventBatchWaitMs).
// Leaves out polling, HTTP and the page. Event order follows lib/events/order.ts (docs/events.md "Order").

import { compareEvents } from '../events/order.js';
import {
  LIVE_BATCH_MS, LIVE_QUIET_BATCH_EVENTS, LIVE_QUIET_BATCH_MS, UI_PROTOCOL_VERSION, type LinkState, type UiArray, type UiDaemon, type UiDatastore, type UiDelta, type UiEvent, type UiHa, type UiHost,
  type UiLink, type UiLinkEnd, type UiRate, type UiScenarioRun, type UiSnapshot, type UiSwitch, type UiUplink, type UiVm, type UiVswitch,
} from './protocol.js';

/** Event types that do not change what a status reply shows (apart from counters, read on the next poll). */
export const QUIET_EVENT_TYPES: ReadonlySet<string> = new Set(['drop', 'shaping-drop', 'frames-injected', 'mac-learned', 'mac-aged', 'notify', 'arpResolved', 'arpFailed', 'sendFailed', 'ipConflict']);

/** Most switch ports whose MAC moves are counted (ports beyond are counted in the switch's total only). */
export const MAX_TRACKED_MOVE_PORTS = 65_536;

export interface DaemonInfo {
  name: string;
  kind: UiDaemon['kind'];
}

/** A daemon's /control/status reply (only the fields the view reads; everything else is ignored). */
export type StatusReply = Record<string, any>;

interface Polled {
  reply: StatusReply | undefined;
  error: string | undefined;
  /** Fabric ms the reply was read at (its clockMs, else the poller's time). */
  atMs: number;
}

interface CounterSample {
  txFrames: number;
  txBytes: number;
  rxFrames: number;
  rxBytes: number;
  atMs: number;
}

const ZERO_RATE: UiRate = { fps: 0, bps: 0 };

function sumValues(o: unknown): number {
  if (!o || typeof o !== 'object') return 0;
  let n = 0;
  for (const v of Object.values(o as Record<string, unknown>)) if (typeof v === 'number') n += v;
  return n;
}

function num(v: unknown, fallback = 0): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : fallback;
}

/** "srcPortId, active vmnic0,vmnic1, standby -, failback on, notify on, linkStatus" (as `vfab status` words it). */
export function teamingSummary(t: any): string {
  if (!t) return '';
  const list = (a: unknown) => (Array.isArray(a) && a.length ? a.join(',') : '-');
  return `${t.loadBalancing}, active ${list(t.active)}, standby ${list(t.standby)}, failback ${t.failback ? 'on' : 'off'}, notify ${t.notifySwitches ? 'on' : 'off'}, ${t.failureDetection}`;
}

/** Link state from both ends: a flap schedule running wins, then carrier, then an impairment. */
export function linkState(ends: Array<{ carrier: boolean; impairment: unknown; flap: unknown } | undefined>): LinkState {
  const known = ends.filter((e): e is NonNullable<typeof e> => e !== undefined);
  if (known.some((e) => e.flap)) return 'flapping';
  if (known.length === 0 || known.some((e) => !e.carrier)) return 'down';
  if (known.some((e) => e.impairment)) return 'impaired';
  return 'up';
}

function splitEndpoint(endpoint: string): { node: string; iface: string } {
  const dot = endpoint.indexOf('.');
  return dot < 0 ? { node: endpoint, iface: '' } : { node: endpoint.slice(0, dot), iface: endpoint.slice(dot + 1) };
}

export function linkId(a: string, b: string): string {
  return a < b ? `${a} -- ${b}` : `${b} -- ${a}`;
}

export interface ViewOptions {
  fabric: string;
  timeScale: number;
  daemons: DaemonInfo[];
}

/** The fabric as last seen: one status reply per daemon, counter samples for rates, MAC moves per port. */
export class FabricView {
  private readonly polled = new Map<string, Polled>();
  /** Endpoint -> the two most recent counter samples of its link end. */
  private readonly samples = new Map<string, { prev?: CounterSample; last: CounterSample }>();
  private readonly movesByPort = new Map<string, number>();
  datastores: UiDatastore[] = [];
  ha: UiHa | null = null;
  scenario: UiScenarioRun | null = null;
  readonly daemons: DaemonInfo[];

  constructor(private readonly opts: ViewOptions) {
    this.daemons = opts.daemons.map((d) => ({ ...d }));
  }

  /** A status reply of one daemon (or why it could not be read: the last good reply is kept). */
  applyStatus(name: string, reply: StatusReply | undefined, error: string | undefined, atMs: number): void {
    const old = this.polled.get(name);
    if (reply === undefined) {
      this.polled.set(name, { reply: old?.reply, error: error ?? 'no reply', atMs: old?.atMs ?? atMs });
      return;
    }
    const at = num(reply.clockMs, atMs);
    this.polled.set(name, { reply, error: undefined, atMs: at });
    for (const l of Array.isArray(reply.links) ? reply.links : []) {
      const c = l?.counters;
      if (!c || typeof l.local !== 'string') continue;
      const ep = `${name}.${l.local}`;
      const s: CounterSample = { txFrames: num(c.txFrames), txBytes: num(c.txBytes), rxFrames: num(c.rxFrames), rxBytes: num(c.rxBytes), atMs: at };
      const was = this.samples.get(ep);
      // a counter that went backwards (reset, restart) starts the rate over
      const prev = was && was.last.atMs < at && was.last.txFrames <= s.txFrames && was.last.rxFrames <= s.rxFrames ? was.last : undefined;
      this.samples.set(ep, { ...(prev ? { prev } : {}), last: s });
    }
  }

  /**
   * Events polled from the daemons: counts MAC moves per switch port, returns the names of daemons whose
   * status changed (the server reads them again now rather than at the next poll).
   */
  applyEvents(events: readonly UiEvent[]): Set<string> {
    const changed = new Set<string>();
    for (const e of events) {
      if (!QUIET_EVENT_TYPES.has(e.type)) changed.add(e.source);
      if (e.type === 'mac-move' || e.type === 'mac-flap') {
        for (const p of [e.toPort, e.fromPort]) {
          if (typeof p !== 'string') continue;
          const key = `${e.source}.${p}`;
          if (!this.movesByPort.has(key) && this.movesByPort.size >= MAX_TRACKED_MOVE_PORTS) continue;
          this.movesByPort.set(key, (this.movesByPort.get(key) ?? 0) + 1);
        }
      }
    }
    return changed;
  }

  private rate(endpoint: string, dir: 'tx' | 'rx'): UiRate | undefined {
    // undefined until this end was read twice: the link's other end may know the rate already
    const s = this.samples.get(endpoint);
    if (!s?.prev) return undefined;
    const dt = (s.last.atMs - s.prev.atMs) / 1000;
    const frames = dir === 'tx' ? s.last.txFrames - s.prev.txFrames : s.last.rxFrames - s.prev.rxFrames;
    const bytes = dir === 'tx' ? s.last.txBytes - s.prev.txBytes : s.last.rxBytes - s.prev.rxBytes;
    return { fps: Math.round((frames / dt) * 10) / 10, bps: Math.round((bytes * 8) / dt) };
  }

  private daemon(name: string): UiDaemon {
    const info = this.daemons.find((d) => d.name === name);
    const p = this.polled.get(name);
    const reachable = p !== undefined && p.error === undefined;
    return { name, kind: info?.kind ?? 'host', reachable, ...(p?.error !== undefined ? { error: p.error } : p === undefined ? { error: 'not read yet' } : {}) };
  }

  snapshot(clockMs: number): UiSnapshot {
    const hosts: UiHost[] = [];
    const switches: UiSwitch[] = [];
    const arrays: UiArray[] = [];
    for (const d of this.daemons) {
      const r = this.polled.get(d.name)?.reply ?? {};
      const state = this.daemon(d.name);
      if (d.kind === 'host') hosts.push(this.host(d.name, r, state));
      else if (d.kind === 'switch') switches.push(this.switch(d.name, r, state));
      else if (d.kind === 'array') arrays.push(this.array(d.name, r, state));
    }
    oneVmPerName(hosts);
    this.fillLockHolders(hosts);
    return {
      version: UI_PROTOCOL_VERSION,
      fabric: this.opts.fabric,
      clockMs,
      timeScale: this.opts.timeScale,
      daemons: this.daemons.map((d) => this.daemon(d.name)),
      hosts,
      switches,
      arrays,
      links: this.links(),
      datastores: this.datastores,
      ha: this.ha,
      scenario: this.scenario,
    };
  }

  private host(name: string, r: StatusReply, state: UiDaemon): UiHost {
    const vswitches: UiVswitch[] = (r.vswitches ?? []).map((vs: any): UiVswitch => ({
      id: `${name}/${vs.name}`,
      name: vs.name,
      mtu: num(vs.mtu, 1500),
      teaming: teamingSummary(vs.teaming),
      uplinks: (vs.uplinks ?? []).map((u: any): UiUplink => ({ id: `${name}.${u.name}`, name: u.name, up: !!u.up, role: String(u.role ?? ''), inUse: !!u.inUse, drops: sumValues(u.drops) })),
      portGroups: (vs.portGroups ?? []).map((pg: any) => ({ name: pg.name, vlan: num(pg.vlan) })),
      ports: (vs.ports ?? []).map((p: any) => ({
        portId: num(p.portId),
        name: String(p.name ?? `port ${p.portId}`),
        portGroup: String(p.portGroup ?? ''),
        vlan: num(p.vlanId),
        mac: p.effectiveMac ?? p.mac ?? null,
        uplink: p.uplink ?? null,
        uplinkReason: String(p.uplinkReason ?? ''),
        drops: sumValues(p.counters?.drops),
      })),
    }));
    const portOf = (vswitch: string, portId: unknown) => vswitches.find((v) => v.name === vswitch)?.ports.find((p) => p.portId === portId);
    const vms: UiVm[] = (r.vms ?? []).map((vm: any): UiVm => ({
      name: vm.name,
      host: name,
      poweredOn: !!vm.poweredOn,
      nics: (vm.nics ?? []).map((n: any) => {
        const port = portOf(n.vswitch, n.portId);
        return {
          id: `${vm.name}.${n.name}`,
          name: n.name,
          mac: n.mac,
          ip: n.ip ?? null,
          portGroup: n.portGroup,
          vswitch: n.vswitch,
          vlan: port?.vlan ?? null,
          activeUplink: vm.poweredOn ? (port?.uplink ?? null) : null,
          uplinkReason: vm.poweredOn ? (port?.uplinkReason ?? 'no vSwitch port') : 'powered off',
        };
      }),
      disks: [],
    }));
    const drops = vswitches.reduce((n, v) => n + v.ports.reduce((m, p) => m + p.drops, 0) + v.uplinks.reduce((m, u) => m + u.drops, 0), 0);
    return {
      name,
      reachable: state.reachable,
      ...(state.error ? { error: state.error } : {}),
      vswitches,
      vms,
      vmkernels: (r.vmkernels ?? []).map((k: any) => ({ name: k.name, ip: k.ip, mac: k.mac, portGroup: k.portGroup, uplink: k.uplink ?? null, services: k.services ?? [] })),
      drops,
    };
  }

  private switch(name: string, r: StatusReply, state: UiDaemon): UiSwitch {
    return {
      name,
      reachable: state.reachable,
      ...(state.error ? { error: state.error } : {}),
      ports: (r.ports ?? []).map((p: any) => ({
        id: `${name}.${p.name}`,
        name: p.name,
        description: String(p.description ?? ''),
        mode: String(p.mode ?? ''),
        vlans: p.mode === 'access' ? String(p.accessVlan ?? '') : String(p.vlans ?? ''),
        nativeVlan: p.mode === 'access' ? null : (p.nativeVlan ?? null),
        up: !!p.up,
        shutdown: !!p.shutdown,
        drops: sumValues(p.counters?.rxDrops) + sumValues(p.counters?.txDrops),
      })),
      macEntries: num(r.counters?.macEntries),
      macMoves: num(r.counters?.moves),
      macFlaps: num(r.counters?.flaps),
      drops: sumValues(r.counters?.drops),
    };
  }

  private array(name: string, r: StatusReply, state: UiDaemon): UiArray {
    return {
      name,
      reachable: state.reachable,
      ...(state.error ? { error: state.error } : {}),
      luns: (r.luns ?? []).map((l: any) => ({ lun: num(l.lun), name: String(l.name), sizeBytes: num(l.sizeBytes) })),
      sessions: Array.isArray(r.sessions) ? r.sessions.length : 0,
    };
  }

  /** Each VM disk's lock holder, from the datastores' lock lists (file "<vm>/<vm>-flat.vmdk" style paths). */
  private fillLockHolders(hosts: UiHost[]): void {
    for (const ds of this.datastores) {
      for (const lock of ds.locks) {
        const vm = lock.file.split('/')[0];
        for (const h of hosts) for (const v of h.vms) if (v.name === vm) v.disks.push({ name: lock.file, datastore: ds.name, lun: null, lockHolder: lock.holder });
      }
    }
  }

  private links(): UiLink[] {
    interface End { endpoint: string; peer: string; carrier: boolean; adminUp: boolean; impairment: unknown; flap: unknown; drops: number }
    const ends = new Map<string, End>();
    for (const d of this.daemons) {
      const r = this.polled.get(d.name)?.reply;
      for (const l of Array.isArray(r?.links) ? r!.links : []) {
        if (typeof l?.local !== 'string' || typeof l.peer !== 'string') continue;
        const c = l.counters ?? {};
        const endpoint = `${d.name}.${l.local}`;
        ends.set(endpoint, {
          endpoint,
          peer: l.peer,
          carrier: !!l.carrier,
          adminUp: l.adminUp !== false,
          impairment: l.impairment ?? null,
          flap: l.flap ?? null,
          drops: num(c.txDropsCarrier) + num(c.txDropsQueueFull) + num(c.txDropsInvalid) + num(c.rxDropsMalformed) + num(c.rxDropsOversize) + num(c.rxDropsCarrier),
        });
      }
    }
    const switchPorts = new Map<string, { vlans: string; nativeVlan: number | null }>();
    for (const d of this.daemons) {
      if (d.kind !== 'switch') continue;
      for (const p of this.polled.get(d.name)?.reply?.ports ?? []) {
        switchPorts.set(`${d.name}.${p.name}`, { vlans: p.mode === 'access' ? String(p.accessVlan ?? '') : String(p.vlans ?? ''), nativeVlan: p.mode === 'access' ? null : (p.nativeVlan ?? null) });
      }
    }
    const links = new Map<string, UiLink>();
    for (const e of ends.values()) {
      const id = linkId(e.endpoint, e.peer);
      if (links.has(id)) continue;
      const [aName, bName] = e.endpoint < e.peer ? [e.endpoint, e.peer] : [e.peer, e.endpoint];
      const a = ends.get(aName);
      const b = ends.get(bName);
      const end = (name: string, x: End | undefined): UiLinkEnd => ({ endpoint: name, ...splitEndpoint(name), carrier: x?.carrier ?? false, adminUp: x?.adminUp ?? true });
      const sw = switchPorts.get(aName) ?? switchPorts.get(bName);
      const moves = (this.movesByPort.get(aName) ?? 0) + (this.movesByPort.get(bName) ?? 0);
      links.set(id, {
        id,
        a: end(aName, a),
        b: end(bName, b),
        state: linkState([a, b]),
        vlans: sw?.vlans ?? null,
        nativeVlan: sw?.nativeVlan ?? null,
        rate: {
          ab: this.rate(aName, 'tx') ?? this.rate(bName, 'rx') ?? ZERO_RATE,
          ba: this.rate(bName, 'tx') ?? this.rate(aName, 'rx') ?? ZERO_RATE,
        },
        drops: (a?.drops ?? 0) + (b?.drops ?? 0),
        macMoves: moves,
        impairment: a?.impairment ?? b?.impairment ?? null,
        flap: a?.flap ?? b?.flap ?? null,
      });
    }
    return [...links.values()].sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
  }
}

/**
 * A VM registered on several hosts (an HA cluster) is listed once: under the host that runs it, else the
 * first; `registeredOn` names them all. VM names and vNIC ids stay unique in a snapshot.
 */
function oneVmPerName(hosts: UiHost[]): void {
  const where = new Map<string, UiHost[]>();
  for (const h of hosts) for (const vm of h.vms) where.set(vm.name, [...(where.get(vm.name) ?? []), h]);
  for (const [name, list] of where) {
    if (list.length < 2) continue;
    const keep = list.find((h) => h.vms.find((v) => v.name === name)!.poweredOn) ?? list[0]!;
    for (const h of list) if (h !== keep) h.vms = h.vms.filter((v) => v.name !== name);
    keep.vms.find((v) => v.name === name)!.registeredOn = list.map((h) => h.name);
  }
}

function byKey<T>(list: readonly T[], key: (t: T) => string): Map<string, string> {
  return new Map(list.map((t) => [key(t), JSON.stringify(t)]));
}

function changedOf<T>(prev: readonly T[], next: readonly T[], key: (t: T) => string): { changed: T[]; removed: string[] } {
  const before = byKey(prev, key);
  const changed = next.filter((t) => before.get(key(t)) !== JSON.stringify(t));
  const now = new Set(next.map(key));
  return { changed, removed: [...before.keys()].filter((k) => !now.has(k)) };
}

/** What changed from `prev` to `next`, entities replaced whole; undefined when nothing did. */
export function diffSnapshots(prev: UiSnapshot, next: UiSnapshot): UiDelta | undefined {
  const delta: UiDelta = {};
  const removed: NonNullable<UiDelta['removed']> = {};
  const name = (x: { name: string }) => x.name;
  const hosts = changedOf(prev.hosts, next.hosts, name);
  const switches = changedOf(prev.switches, next.switches, name);
  const arrays = changedOf(prev.arrays, next.arrays, name);
  const links = changedOf(prev.links, next.links, (l) => l.id);
  const daemons = changedOf(prev.daemons, next.daemons, name);
  const datastores = changedOf(prev.datastores, next.datastores, name);
  if (hosts.changed.length) delta.hosts = hosts.changed;
  if (switches.changed.length) delta.switches = switches.changed;
  if (arrays.changed.length) delta.arrays = arrays.changed;
  if (links.changed.length) delta.links = links.changed;
  if (daemons.changed.length) delta.daemons = daemons.changed;
  if (datastores.changed.length || datastores.removed.length) delta.datastores = next.datastores;
  if (JSON.stringify(prev.ha) !== JSON.stringify(next.ha)) delta.ha = next.ha;
  if (hosts.removed.length) removed.hosts = hosts.removed;
  if (switches.removed.length) removed.switches = switches.removed;
  if (arrays.removed.length) removed.arrays = arrays.removed;
  if (links.removed.length) removed.links = links.removed;
  if (Object.keys(removed).length) delta.removed = removed;
  const before = new Map(prev.hosts.flatMap((h) => h.vms.flatMap((vm) => vm.nics.map((n) => [n.id, n.activeUplink] as const))));
  const changes: NonNullable<UiDelta['uplinkChanges']> = [];
  for (const h of hosts.changed) {
    for (const vm of h.vms) {
      for (const n of vm.nics) {
        const from = before.has(n.id) ? before.get(n.id)! : null;
        if (from !== n.activeUplink) changes.push({ nic: n.id, host: h.name, from, to: n.activeUplink, reason: n.uplinkReason });
      }
    }
  }
  if (changes.length) delta.uplinkChanges = changes;
  return Object.keys(delta).length ? delta : undefined;
}

/**
 * Events on their way to the pages: batched, at most `maxPerBatch` per batch (the rest counted by type
 * in `omitted`), the newest `maxRecent` of those sent kept for pages that connect later. A page that
 * connects gets recent() (sent before) and then every batch taken after: each event once. Pure: the
 * server calls take() on its batch timer.
 */
/**
 * How long (wall ms from `nowMs`) the next event batch waits, given when the previous one went out and how
 * many events it held: LIVE_QUIET_BATCH_MS after a small batch (a quiet stream: a lone event reaches the
 * pages at once), LIVE_BATCH_MS after a big one (a busy stream: fewer, fuller messages). 0 = send now.
 */
export function eventBatchWaitMs(lastBatchAt: number, lastBatchEvents: number, nowMs: number): number {
  const gap = lastBatchEvents <= LIVE_QUIET_BATCH_EVENTS ? LIVE_QUIET_BATCH_MS : LIVE_BATCH_MS;
  return Math.max(0, lastBatchAt + gap - nowMs);
}

export class EventBatcher {
  private pending: UiEvent[] = [];
  private omitted: Record<string, number> = {};
  private readonly recentRing: UiEvent[] = [];

  constructor(private readonly maxPerBatch: number, private readonly maxRecent: number) {}

  push(events: readonly UiEvent[]): void {
    for (const e of events) {
      if (this.pending.length < this.maxPerBatch) this.pending.push(e);
      else this.omitted[e.type] = (this.omitted[e.type] ?? 0) + 1;
    }
  }

  get size(): number {
    return this.pending.length;
  }

  /** The batch to send now (in fabric-time order), or undefined when nothing is waiting. */
  take(): { events: UiEvent[]; omitted: Record<string, number> } | undefined {
    if (this.pending.length === 0 && Object.keys(this.omitted).length === 0) return undefined;
    const batch = { events: this.pending.sort(compareEvents), omitted: this.omitted };
    this.pending = [];
    this.omitted = {};
    this.recentRing.push(...batch.events);
    if (this.recentRing.length > this.maxRecent) this.recentRing.splice(0, this.recentRing.length - this.maxRecent);
    return batch;
  }

  /** The newest events sent so far, in order. */
  recent(): UiEvent[] {
    return [...this.recentRing].sort(compareEvents);
  }
}
