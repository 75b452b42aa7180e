// A manual-clock simulation of an HA cluster for the tests of lib/ha: one HaAgent per host, fed ticks
// every HA_TICK_MS, and a toy fabric that carries out their actions at once: heartbeats pass through the
// UDP codec when both management networks are up; datastore heartbeat reads see a host's VMFS pulse
// (every 3 s while it is up and reaches storage) and its poweron record; pings answer per network state;
// power-ons follow the lock rule of §7.14 (a VM's files held by another host are refused "locked" unless
// that holder's pulse has been stale for the 16 s lease; then broken). Ground truth (which host runs
// which VM) is checked after every step: no VM on two hosts. Leaves out latency and loss of heartbeats.

import { ManualClock, type Random, seededRandom } from '../../lib/clock.js';
import {
  type ClusterInput, type HaAction, HaAgent, type HaCluster, type HaEventType, type PoweronRecord, HeartbeatAssembler, doubleRuns,
  encodeHeartbeat, hostsByVm, HA_TICK_MS, resolveCluster,
} from '../../lib/ha/index.js';

/** VMFS heartbeat cadence and lease (lib/datastore defaults). */
export const VMFS_PULSE_MS = 3_000;
export const VMFS_LEASE_MS = 16_000;

export interface SimHost {
  name: string;
  up: boolean;
  mgmtUp: boolean;
  storageUp: boolean;
  vms: Set<string>;
  pulse: number;
  lastPulseMs: number;
  poweron?: PoweronRecord;
  agent?: HaAgent;
  assembler: HeartbeatAssembler;
  /** Guests here ignore a shutdown request (the response must power them off at its deadline). */
  guestsIgnoreShutdown: boolean;
}

export interface SimEvent {
  atMs: number;
  agent: string;
  type: HaEventType;
  details: Record<string, unknown>;
  message: string;
}

export class HaSim {
  readonly clock = new ManualClock(0);
  readonly cluster: HaCluster;
  readonly hosts = new Map<string, SimHost>();
  /** VM -> host holding its file locks on the datastore. */
  readonly locks = new Map<string, string>();
  gatewayUp = true;
  readonly events: SimEvent[] = [];
  readonly actions: Array<{ atMs: number; by: string; action: HaAction }> = [];
  /** Heartbeat deliveries: "from>to" -> last fabric ms. */
  readonly delivered = new Map<string, number>();
  readonly violations: string[] = [];
  shutdownDelayMs = 2_000;
  private readonly later: Array<{ atMs: number; run: () => void }> = [];
  readonly random: Random;

  constructor(input: ClusterInput, placement: Record<string, string[]> = {}, seed = 1) {
    const r = resolveCluster(input);
    if (!r.ok) throw new Error(r.error.map((e) => e.message).join('; '));
    this.cluster = r.value;
    this.random = seededRandom(seed);
    for (const h of this.cluster.hosts) {
      const vms = new Set(placement[h.name] ?? []);
      for (const vm of vms) this.locks.set(vm, h.name);
      this.hosts.set(h.name, { name: h.name, up: true, mgmtUp: true, storageUp: true, vms, pulse: 1, lastPulseMs: 0, assembler: new HeartbeatAssembler(), guestsIgnoreShutdown: false });
    }
    for (const h of this.hosts.values()) this.boot(h);
  }

  host(name: string): SimHost {
    const h = this.hosts.get(name);
    if (h === undefined) throw new Error(`no host ${name}`);
    return h;
  }

  agent(name: string): HaAgent {
    const a = this.host(name).agent;
    if (a === undefined) throw new Error(`${name} is down`);
    return a;
  }

  private boot(h: SimHost): void {
    h.agent = new HaAgent({ cluster: this.cluster, host: h.name, clock: this.clock });
    this.feed(h, { kind: 'local-vms', poweredOn: [...h.vms] });
  }

  /** A VMFS heartbeat write by `name` now (tests use it to pin the pulse phase). */
  pulse(name: string): void {
    const h = this.host(name);
    h.pulse++;
    h.lastPulseMs = this.clock.nowMs();
  }

  /** kill -9 of a host: its VMs stop at once; their locks stay on disk until broken. */
  crash(name: string): void {
    const h = this.host(name);
    h.up = false;
    h.vms.clear();
    h.agent = undefined;
  }

  /** The host comes back: at mount it reclaims its old slot, which frees its old locks; a fresh agent. */
  restart(name: string): void {
    const h = this.host(name);
    h.up = true;
    for (const [vm, holder] of this.locks) if (holder === name) this.locks.delete(vm);
    this.pulse(name);
    this.boot(h);
  }

  /** Management-network pairs that cannot reach each other ("a|b", both orders). */
  private readonly blocked = new Set<string>();

  /** Splits the management network into groups that reach only each other (and the gateway); [] heals. */
  partition(groups: string[][]): void {
    this.blocked.clear();
    for (const g of groups) for (const h of g) for (const o of groups.flat()) if (!g.includes(o)) this.blocked.add(`${h}|${o}`);
  }

  /** Whether a datagram from `a` reaches `b` over the management network. */
  reaches(a: SimHost, b: SimHost): boolean {
    return a.up && b.up && a.mgmtUp && b.mgmtUp && !this.blocked.has(`${a.name}|${b.name}`);
  }

  /** The HA agent of a host stops; the host, its VMs, its network and storage go on. */
  stopAgent(name: string): void {
    this.host(name).agent = undefined;
  }

  /** Cut or restore a host's management network (storage unaffected). */
  setMgmt(name: string, up: boolean): void {
    this.host(name).mgmtUp = up;
  }

  /** Advance fabric time by `ms`, in ticks of HA_TICK_MS. */
  advance(ms: number): void {
    const end = this.clock.nowMs() + ms;
    while (this.clock.nowMs() < end) {
      this.clock.advance(HA_TICK_MS);
      this.step();
    }
  }

  /** Advance until `until()` holds (checked every tick), at most `maxMs`; returns the fabric time. */
  advanceUntil(until: () => boolean, maxMs: number): number {
    const end = this.clock.nowMs() + maxMs;
    while (!until()) {
      if (this.clock.nowMs() >= end) throw new Error(`condition not met within ${maxMs} ms`);
      this.clock.advance(HA_TICK_MS);
      this.step();
    }
    return this.clock.nowMs();
  }

  private step(): void {
    const now = this.clock.nowMs();
    for (const h of this.hosts.values()) if (h.up && h.storageUp && now - h.lastPulseMs >= VMFS_PULSE_MS) this.pulse(h.name);
    const due = this.later.filter((l) => l.atMs <= now);
    this.later.splice(0, this.later.length, ...this.later.filter((l) => l.atMs > now));
    for (const l of due) l.run();
    for (const h of this.hosts.values()) if (h.up) this.feed(h, { kind: 'tick' });
    this.checkTruth();
  }

  private checkTruth(): void {
    const running = [...this.hosts.values()].filter((h) => h.up).map((h) => [h.name, h.vms] as const);
    for (const d of doubleRuns(hostsByVm(running))) this.violations.push(`${this.clock.nowMs()} ms: ${d.vm} runs on ${d.hosts.join(' and ')}`);
    for (const [name, vms] of running) for (const vm of vms) if (this.locks.get(vm) !== name) this.violations.push(`${this.clock.nowMs()} ms: ${vm} runs on ${name} without its lock`);
    // Per the primaries' own view too: none believes a VM runs in two places.
    for (const h of this.hosts.values()) {
      if (h.agent?.currentRole !== 'primary') continue;
      for (const d of doubleRuns(h.agent.runningView())) this.violations.push(`${this.clock.nowMs()} ms: primary ${h.name} sees ${d.vm} on ${d.hosts.join(' and ')}`);
    }
  }

  /** Actions waiting to be carried out, in the order the agents returned them (a FIFO, like a daemon's). */
  private readonly queue: Array<{ h: SimHost; a: HaAction }> = [];
  private draining = false;

  private feed(h: SimHost, input: Parameters<HaAgent['handle']>[0]): void {
    if (!h.up || h.agent === undefined) return;
    for (const a of h.agent.handle(input)) this.queue.push({ h, a });
    if (this.draining) return;
    this.draining = true;
    try {
      for (let next = this.queue.shift(); next !== undefined; next = this.queue.shift()) if (next.h.up) this.act(next.h, next.a);
    } finally {
      this.draining = false;
    }
  }

  private setVms(h: SimHost, change: (vms: Set<string>) => void): void {
    change(h.vms);
    for (const [vm, holder] of [...this.locks]) if (holder === h.name && !h.vms.has(vm)) this.locks.delete(vm);
    this.feed(h, { kind: 'local-vms', poweredOn: [...h.vms] });
  }

  private act(h: SimHost, a: HaAction): void {
    const now = this.clock.nowMs();
    this.actions.push({ atMs: now, by: h.name, action: a });
    switch (a.kind) {
      case 'event':
        this.events.push({ atMs: a.atMs, agent: h.name, type: a.type, details: a.details, message: a.message });
        return;
      case 'send-heartbeat': {
        const to = this.host(a.to);
        if (!this.reaches(h, to)) return;
        for (const dgram of encodeHeartbeat(a.message)) {
          const hb = to.assembler.push(dgram);
          if (hb !== undefined) {
            this.delivered.set(`${h.name}>${to.name}`, now);
            this.feed(to, { kind: 'heartbeat', message: hb });
          }
        }
        return;
      }
      case 'read-ds-heartbeat': {
        const x = this.host(a.host);
        const seesDs = h.storageUp && this.cluster.host.get(h.name)!.datastores.includes(a.datastore);
        this.feed(h, { kind: 'ds-heartbeat', host: a.host, datastore: a.datastore, read: seesDs ? { ok: true, pulse: x.pulse, ...(x.poweron ? { poweron: x.poweron } : {}) } : { ok: false } });
        return;
      }
      case 'ping': {
        let ok: boolean;
        if (a.purpose === 'isolation') ok = h.mgmtUp && this.gatewayUp;
        else {
          const x = this.host(a.host!);
          ok = this.reaches(h, x);
        }
        this.feed(h, { kind: 'ping-result', address: a.address, purpose: a.purpose, ...(a.host ? { host: a.host } : {}), ok });
        return;
      }
      case 'write-poweron':
        if (h.storageUp) h.poweron = a.record;
        return;
      case 'power-off':
        this.setVms(h, (vms) => a.vms.forEach((vm) => vms.delete(vm)));
        return;
      case 'shutdown':
        if (!h.guestsIgnoreShutdown) {
          this.later.push({ atMs: now + this.shutdownDelayMs, run: () => h.up && this.setVms(h, (vms) => a.vms.forEach((vm) => vms.delete(vm))) });
        }
        return;
      case 'power-on': {
        const target = this.host(a.host);
        const outcome = this.powerOn(h, target, a.vm);
        this.feed(h, { kind: 'power-on-result', vm: a.vm, host: a.host, outcome });
        return;
      }
    }
  }

  /** The §7.14 lock rule: a live holder keeps the files; a holder stale for the lease loses them. */
  private powerOn(by: SimHost, target: SimHost, vm: string): 'ok' | 'locked' | 'failed' {
    if (!target.up || !target.storageUp || (by !== target && !this.reaches(by, target))) return 'failed';
    if (target.vms.has(vm)) return 'ok';
    const holder = this.locks.get(vm);
    if (holder !== undefined && holder !== target.name) {
      const hh = this.host(holder);
      if (this.clock.nowMs() - hh.lastPulseMs < VMFS_LEASE_MS) return 'locked';
      this.locks.delete(vm); // broken: the holder's heartbeat stood still for a whole lease
    }
    this.locks.set(vm, target.name);
    this.setVms(target, (vms) => vms.add(vm));
    return 'ok';
  }

  // ---- queries for assertions ----------------------------------------------------------------------------

  eventsOf(type: HaEventType, agent?: string): SimEvent[] {
    return this.events.filter((e) => e.type === type && (agent === undefined || e.agent === agent));
  }

  firstEventAt(type: HaEventType, agent?: string, pred: (e: SimEvent) => boolean = () => true): number | undefined {
    return this.events.find((e) => e.type === type && (agent === undefined || e.agent === agent) && pred(e))?.atMs;
  }

  actionsOf<K extends HaAction['kind']>(kind: K, by?: string): Array<{ atMs: number; by: string; action: Extract<HaAction, { kind: K }> }> {
    return this.actions.filter((x) => x.action.kind === kind && (by === undefined || x.by === by)) as Array<{ atMs: number; by: string; action: Extract<HaAction, { kind: K }> }>;
  }

  primaries(): string[] {
    return [...this.hosts.values()].filter((h) => h.up && h.agent?.currentRole === 'primary').map((h) => h.name);
  }

  where(vm: string): string[] {
    return [...this.hosts.values()].filter((h) => h.up && h.vms.has(vm)).map((h) => h.name);
  }
}

/** A cluster of `n` hosts esx1..esxN on 192.0.2.0/24, all mounting ds1 and ds2, port group pg-web. */
export function clusterOf(n: number, over: Partial<ClusterInput> = {}, vms: ClusterInput['vms'] = []): ClusterInput {
  return {
    name: 'c1',
    hosts: Array.from({ length: n }, (_, i) => ({ name: `esx${i + 1}`, managementIp: `192.0.2.${11 + i}`, gateway: '192.0.2.1', datastores: ['ds1', 'ds2'], portGroups: ['pg-web'] })),
    vms,
    ...over,
  };
}
