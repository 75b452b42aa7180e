// The per-host vSphere-HA agent (docs/ha.md; docs/vsphere-behaviour.md §7.11-§7.14) as decisions apart from
// actions: the daemon feeds it inputs (ticks of its clock, heartbeats received from peers, results of
// datastore-heartbeat reads, of pings and of power-on attempts, the host's own VMs and datastores) and
// carries out the actions it returns (send a heartbeat, read a peer's datastore heartbeat, ping an
// address, write this host's poweron record, power off or shut down VMs, power a VM on somewhere, log an
// event at fabric time). It covers the election of a primary and re-election, network heartbeats every
// second, the primary's failure timeline per peer (heartbeat lost T3s: watch its datastore heartbeats for
// 15 s; unreachable T10s: ping its management address for 5 s; dead at T15s without heartbeat datastores,
// T18s with; isolated or partitioned when its datastore heartbeat or its pings answer), the isolation
// timelines (secondary: election T10s, elects itself T25s and pings the isolation addresses, isolated
// T30s; primary: pings at once, isolated T5s), the isolation responses, and restarts by priority on
// hosts that fit, retried while the VM's locks are held by a live holder (restart.ts). Leaves out sockets
// and timers (daemons/), the lock check itself (lib/datastore), and VM and application monitoring.

import type { Clock } from '../clock.js';
import { HA_MAX_VMS, type HaCluster, type HaHost, haHeartbeatFile, haPoweronFile } from './config.js';
import { type Claim, compareClaims, electPrimary } from './election.js';
import type { HaHeartbeat, HaRole } from './heartbeat.js';
import { type PowerOnOutcome, type RestartJob, dueJobs, newJob, placeVm, restartable, settleAttempt } from './restart.js';
import { type HaTiming, deadAfterMs, haTiming } from './timeline.js';

/** What a host writes in its poweron file on its heartbeat datastores (§7.12). */
export interface PoweronRecord {
  isolated: boolean;
  poweredOn: string[];
}

export type DsHeartbeatRead = { ok: true; pulse: number; poweron?: PoweronRecord } | { ok: false };

export type HaInput =
  | { kind: 'tick' }
  | { kind: 'heartbeat'; message: HaHeartbeat }
  /** A read of `host`'s heartbeat on `datastore`: its VMFS heartbeat pulse (any change = alive) and poweron record. */
  | { kind: 'ds-heartbeat'; host: string; datastore: string; read: DsHeartbeatRead }
  | { kind: 'ping-result'; address: string; purpose: PingPurpose; host?: string; ok: boolean }
  /** The outcome of a power-on this agent asked for: `locked` = the files are locked by a live holder. */
  | { kind: 'power-on-result'; vm: string; host: string; outcome: PowerOnOutcome }
  /** The VMs powered on at this host now (after any change). */
  | { kind: 'local-vms'; poweredOn: readonly string[] }
  /** How many datastores this host sees now (counts in elections). */
  | { kind: 'datastores-seen'; count: number };

export type PingPurpose = 'isolation' | 'management';

export type HaEventType =
  | 'ha-election-started' | 'ha-primary-elected' | 'ha-secondary-joined' | 'ha-stepped-down'
  | 'ha-heartbeat-lost' | 'ha-host-unreachable' | 'ha-host-dead' | 'ha-host-isolated' | 'ha-host-partitioned' | 'ha-host-back'
  | 'ha-isolation-check' | 'ha-isolated' | 'ha-isolation-ended' | 'ha-isolation-response'
  | 'ha-restart-queued' | 'ha-restart-attempted' | 'ha-restart-locked' | 'ha-restart-failed' | 'ha-restart-succeeded'
  | 'ha-restart-gave-up' | 'ha-restart-cancelled' | 'ha-vm-conflict';

export type HaAction =
  | { kind: 'send-heartbeat'; to: string; address: string; message: HaHeartbeat }
  | { kind: 'read-ds-heartbeat'; host: string; datastore: string; file: string; poweronFile: string }
  | { kind: 'ping'; address: string; purpose: PingPurpose; host?: string }
  | { kind: 'write-poweron'; datastores: string[]; file: string; record: PoweronRecord }
  /** Hard power-off of these local VMs (isolation response, or the end of a shutdown's wait). */
  | { kind: 'power-off'; vms: string[] }
  /** Guest shutdown of these local VMs; the agent powers off what still runs at deadlineMs. */
  | { kind: 'shutdown'; vms: string[]; deadlineMs: number }
  /** Power `vm` on at `host`; answer with a power-on-result input. */
  | { kind: 'power-on'; vm: string; host: string; attempt: number }
  | { kind: 'event'; atMs: number; type: HaEventType; message: string; details: Record<string, unknown> };

/** How the primary sees a peer. */
export type PeerState = 'alive' | 'heartbeat-lost' | 'unreachable' | 'dead' | 'isolated' | 'partitioned';

interface Watch {
  t0: number;
  /** Last pulse read per datastore; a change is a sign of life. */
  pulse: Map<string, number>;
  dsAliveAtMs?: number;
  pingOkAtMs?: number;
  nextReadAtMs: number;
  nextPingAtMs: number;
  decidedAtMs?: number;
}

interface Peer {
  host: HaHost;
  lastHeardMs: number;
  role?: HaRole;
  primary?: string;
  datastoresSeen: number;
  poweredOn: Set<string>;
  state: PeerState;
  isolatedFlag: boolean;
  watch?: Watch;
}

export interface HaAgentOptions {
  cluster: HaCluster;
  host: string;
  clock: Clock;
  timing?: HaTiming;
}

export interface HaStatus {
  host: string;
  role: HaRole;
  primary?: string;
  peers: Array<{ host: string; state: PeerState; lastHeardMs: number; role?: HaRole; datastoresSeen: number; poweredOn: string[] }>;
  restarts: Array<{ vm: string; from: string; attempts: number; inFlightOn?: string; nextAtMs: number }>;
  localVms: string[];
}

export class HaAgent {
  readonly cluster: HaCluster;
  readonly me: HaHost;
  readonly timing: HaTiming;
  private readonly clock: Clock;
  private role: HaRole = 'election';
  private primary: string | undefined;
  private roleSinceMs: number;
  private lastPrimaryHeardMs: number;
  private readonly peers = new Map<string, Peer>();
  private nextHeartbeatAtMs: number;
  private seq = 0;
  private localVms = new Set<string>();
  private datastoresSeen: number;
  /** Set while this agent is a primary hearing nobody (or isolated): since when, last isolation reply. */
  private aloneSinceMs: number | undefined;
  private lastIsolationReplyMs: number | undefined;
  private nextIsolationPingAtMs = 0;
  private shutdownPending: { vms: string[]; deadlineMs: number } | undefined;
  private readonly jobs = new Map<string, RestartJob>();
  private lastPoweron = '';
  private conflicts = new Set<string>();
  private out: HaAction[] = [];

  constructor(opts: HaAgentOptions) {
    const me = opts.cluster.host.get(opts.host);
    if (me === undefined) throw new RangeError(`host ${opts.host} is not in cluster ${opts.cluster.name}`);
    this.cluster = opts.cluster;
    this.me = me;
    this.clock = opts.clock;
    this.timing = opts.timing ?? haTiming();
    const now = this.clock.nowMs();
    this.roleSinceMs = now;
    this.lastPrimaryHeardMs = now;
    this.nextHeartbeatAtMs = now;
    this.datastoresSeen = me.datastores.length;
    for (const h of opts.cluster.hosts) {
      if (h.name !== me.name) this.peers.set(h.name, { host: h, lastHeardMs: now, datastoresSeen: 0, poweredOn: new Set(), state: 'alive', isolatedFlag: false });
    }
  }

  // ---- inputs ------------------------------------------------------------------------------------------

  /** Feeds one input; returns the actions to carry out, in order. */
  handle(input: HaInput): HaAction[] {
    this.out = [];
    switch (input.kind) {
      case 'tick':
        this.tick();
        break;
      case 'heartbeat':
        this.onHeartbeat(input.message);
        break;
      case 'ds-heartbeat':
        this.onDsRead(input.host, input.datastore, input.read);
        break;
      case 'ping-result':
        this.onPing(input);
        break;
      case 'power-on-result':
        this.onPowerOnResult(input.vm, input.host, input.outcome);
        break;
      case 'local-vms':
        this.localVms = new Set(input.poweredOn.slice(0, HA_MAX_VMS));
        break;
      case 'datastores-seen':
        this.datastoresSeen = Math.max(0, Math.floor(input.count));
        break;
    }
    this.writePoweronIfChanged();
    return this.out;
  }

  // ---- views -------------------------------------------------------------------------------------------

  get currentRole(): HaRole {
    return this.role;
  }

  get currentPrimary(): string | undefined {
    return this.primary;
  }

  peerState(host: string): PeerState | undefined {
    return this.peers.get(host)?.state;
  }

  /**
   * Where this agent believes each VM is powered on. Dead hosts run nothing; a secondary counts only
   * hosts it heard lately (it hears its primary only), a primary every host it has not declared dead.
   */
  runningView(): Map<string, string[]> {
    const now = this.now();
    const view = new Map<string, string[]>();
    const add = (vm: string, host: string): void => {
      const l = view.get(vm);
      if (l === undefined) view.set(vm, [host]);
      else if (!l.includes(host)) l.push(host);
    };
    for (const vm of this.localVms) add(vm, this.me.name);
    for (const p of this.peers.values()) {
      if (p.state === 'dead' || (this.role !== 'primary' && now - p.lastHeardMs >= this.timing.dsWatchStartMs)) continue;
      for (const vm of p.poweredOn) add(vm, p.host.name);
    }
    return view;
  }

  status(): HaStatus {
    return {
      host: this.me.name,
      role: this.role,
      ...(this.primary !== undefined ? { primary: this.primary } : {}),
      peers: [...this.peers.values()].map((p) => ({
        host: p.host.name, state: p.state, lastHeardMs: p.lastHeardMs, ...(p.role !== undefined ? { role: p.role } : {}), datastoresSeen: p.datastoresSeen, poweredOn: [...p.poweredOn].sort(),
      })),
      restarts: [...this.jobs.values()].map((j) => ({ vm: j.vm, from: j.from, attempts: j.attempts, ...(j.inFlight ? { inFlightOn: j.inFlight.host } : {}), nextAtMs: j.nextAtMs })),
      localVms: [...this.localVms].sort(),
    };
  }

  // ---- helpers -----------------------------------------------------------------------------------------

  private now(): number {
    return this.clock.nowMs();
  }

  private event(type: HaEventType, message: string, details: Record<string, unknown> = {}): void {
    this.out.push({ kind: 'event', atMs: this.now(), type, message: `${this.me.name}: ${message}`, details: { agent: this.me.name, ...details } });
  }

  private claim(): Claim {
    return { host: this.me.name, datastoresSeen: this.datastoresSeen };
  }

  private heartbeat(): HaHeartbeat {
    return {
      cluster: this.cluster.name, from: this.me.name, role: this.role, ...(this.primary !== undefined ? { primary: this.primary } : {}),
      datastoresSeen: this.datastoresSeen, poweredOn: [...this.localVms].sort(), seq: this.seq,
    };
  }

  private sendHeartbeats(): void {
    const now = this.now();
    if (now < this.nextHeartbeatAtMs) return;
    this.nextHeartbeatAtMs = now + this.timing.netHeartbeatMs;
    this.seq++;
    const msg = this.heartbeat();
    // A secondary talks to its primary only; a primary, a candidate and an isolated host to everyone.
    const to = this.role === 'secondary' ? [this.peers.get(this.primary!)].filter((p): p is Peer => p !== undefined) : [...this.peers.values()];
    for (const p of to) this.out.push({ kind: 'send-heartbeat', to: p.host.name, address: p.host.managementIp, message: msg });
  }

  private writePoweronIfChanged(): void {
    const record: PoweronRecord = { isolated: this.role === 'isolated', poweredOn: [...this.localVms].sort() };
    const key = JSON.stringify(record);
    if (key === this.lastPoweron || this.me.heartbeatDatastores.length === 0) return;
    this.lastPoweron = key;
    this.out.push({ kind: 'write-poweron', datastores: [...this.me.heartbeatDatastores], file: haPoweronFile(this.cluster.name, this.me.name), record });
  }

  private setRole(role: HaRole, primary: string | undefined): void {
    this.role = role;
    this.primary = primary;
    this.roleSinceMs = this.now();
    this.nextHeartbeatAtMs = this.now(); // tell the others at once
    if (role !== 'primary') this.jobs.clear();
    for (const p of this.peers.values()) {
      p.watch = undefined;
      if (p.state !== 'dead') p.state = 'alive';
    }
  }

  private startElection(why: string): void {
    this.setRole('election', undefined);
    this.aloneSinceMs = undefined;
    this.event('ha-election-started', `election started: ${why}`);
  }

  private becomeSecondary(primary: string, why: string): void {
    this.setRole('secondary', primary);
    this.lastPrimaryHeardMs = this.now();
    this.aloneSinceMs = undefined;
    this.event('ha-secondary-joined', `secondary of ${primary} (${why})`, { primary });
  }

  private becomePrimary(alone: boolean): void {
    this.setRole('primary', this.me.name);
    this.aloneSinceMs = alone ? this.now() : undefined;
    this.lastIsolationReplyMs = undefined;
    this.nextIsolationPingAtMs = this.now();
    this.event('ha-primary-elected', alone ? 'elected itself primary, hearing no other agent' : 'elected primary', { primary: this.me.name, alone });
    if (alone) this.startIsolationCheck();
  }

  /** Alone: ping the isolation addresses now and every probe interval (isolated when none answers). */
  private startIsolationCheck(): void {
    this.lastIsolationReplyMs = undefined;
    this.nextIsolationPingAtMs = this.now();
    this.event('ha-isolation-check', `hears no agent since ${this.aloneSinceMs} ms: pinging ${this.me.isolationAddresses.join(', ')}`, { since: this.aloneSinceMs });
    this.pingIsolationAddresses();
  }

  // ---- inputs, one by one ------------------------------------------------------------------------------

  private onHeartbeat(m: HaHeartbeat): void {
    if (m.cluster !== this.cluster.name || m.from === this.me.name) return;
    const p = this.peers.get(m.from);
    if (p === undefined) return;
    const now = this.now();
    // VMs a host stopped while this primary could not hear it (its isolation response) are restarted.
    const unheard = this.role === 'primary' && ((p.state !== 'alive' && p.state !== 'dead') || m.role === 'isolated' || p.role === 'isolated');
    const reported = new Set(m.poweredOn);
    const stopped = unheard ? [...p.poweredOn].filter((vm) => !reported.has(vm)).sort() : [];
    p.lastHeardMs = now;
    p.role = m.role;
    p.primary = m.primary;
    p.datastoresSeen = m.datastoresSeen;
    p.poweredOn = reported;
    for (const vm of stopped) this.queueRestart(vm, m.from);
    p.isolatedFlag = m.role === 'isolated';
    if (p.state !== 'alive') {
      this.event('ha-host-back', `${m.from} is heard again (was ${p.state})`, { host: m.from, was: p.state });
      p.state = 'alive';
    }
    p.watch = undefined;
    this.aloneSinceMs = undefined;
    this.cancelRunningJobs();
    this.checkConflicts();
    switch (this.role) {
      case 'secondary':
        if (m.from === this.primary && m.role === 'primary') this.lastPrimaryHeardMs = now;
        // Another primary that beats ours (a healed partition): follow it; ours steps down when it hears it.
        else if (m.role === 'primary' && this.primary !== undefined && compareClaims({ host: m.from, datastoresSeen: m.datastoresSeen }, { host: this.primary, datastoresSeen: this.peers.get(this.primary)?.datastoresSeen ?? 0 }) > 0) {
          this.becomeSecondary(m.from, `${m.from} is the better of two primaries`);
        }
        // Our primary stepped down for another: follow that one.
        else if (m.from === this.primary && m.role === 'secondary' && m.primary !== undefined && m.primary !== this.me.name && this.peers.has(m.primary)) {
          this.becomeSecondary(m.primary, `${m.from} stepped down for it`);
        }
        break;
      case 'election':
        if (m.role === 'primary') this.becomeSecondary(m.from, 'heard its heartbeat during the election');
        break;
      case 'primary':
        if (m.role === 'primary' && compareClaims({ host: m.from, datastoresSeen: m.datastoresSeen }, this.claim()) > 0) {
          this.event('ha-stepped-down', `stepped down: ${m.from} is primary too and sees more datastores or sorts later`, { primary: m.from });
          this.becomeSecondary(m.from, 'the better of two primaries');
        }
        break;
      case 'isolated':
        this.event('ha-isolation-ended', `isolation ended: heard ${m.from}`, { host: m.from });
        if (m.role === 'primary') this.becomeSecondary(m.from, 'heard after isolation');
        else this.startElection(`heard ${m.from} after isolation`);
        break;
    }
  }

  private onPing(r: { address: string; purpose: PingPurpose; host?: string; ok: boolean }): void {
    if (!r.ok) return;
    if (r.purpose === 'isolation') {
      if (!this.me.isolationAddresses.includes(r.address)) return;
      this.lastIsolationReplyMs = this.now();
      if (this.role === 'isolated') {
        this.event('ha-isolation-ended', `isolation ended: isolation address ${r.address} answers`, { address: r.address });
        this.startElection('isolation address answers again');
      }
      return;
    }
    const p = r.host !== undefined ? this.peers.get(r.host) : undefined;
    if (p?.watch !== undefined && r.address === p.host.managementIp) p.watch.pingOkAtMs = this.now();
  }

  private onDsRead(host: string, datastore: string, read: DsHeartbeatRead): void {
    const p = this.peers.get(host);
    const w = p?.watch;
    if (p === undefined || w === undefined || !read.ok || !p.host.heartbeatDatastores.includes(datastore)) return;
    const before = w.pulse.get(datastore);
    if (before !== undefined && before !== read.pulse) w.dsAliveAtMs = this.now();
    w.pulse.set(datastore, read.pulse);
    if (read.poweron === undefined) return;
    const rec = read.poweron;
    const now = new Set(rec.poweredOn);
    if (rec.isolated) {
      // The host says it is isolated: the protected VMs it no longer runs were stopped by its isolation
      // response, and their locks are free; restart them.
      for (const vm of p.poweredOn) if (!now.has(vm)) this.queueRestart(vm, host);
      if (p.state === 'partitioned') {
        p.state = 'isolated';
        this.event('ha-host-isolated', `${host} is isolated (its poweron file says so)`, { host });
      }
    }
    p.isolatedFlag = rec.isolated;
    if (p.state !== 'dead') p.poweredOn = now;
  }

  private onPowerOnResult(vm: string, host: string, outcome: PowerOnOutcome): void {
    const job = this.jobs.get(vm);
    if (job === undefined || job.inFlight?.host !== host) return; // stale or not ours
    const now = this.now();
    const r = settleAttempt(job, outcome, host, now, this.timing);
    if (r === 'done') {
      this.jobs.delete(vm);
      if (host === this.me.name) this.localVms.add(vm);
      else this.peers.get(host)?.poweredOn.add(vm);
      this.event('ha-restart-succeeded', `${vm} restarted on ${host} (attempt ${job.attempts}, ${now - job.queuedAtMs} ms after it was queued)`, { vm, host, from: job.from, attempt: job.attempts });
      this.checkConflicts();
      return;
    }
    const type = outcome === 'locked' ? 'ha-restart-locked' : 'ha-restart-failed';
    this.event(type, `${vm} on ${host}: ${outcome === 'locked' ? 'its files are locked by a live holder' : 'power-on failed'} (attempt ${job.attempts})`, { vm, host, attempt: job.attempts });
    if (r === 'gave-up') this.giveUp(job);
  }

  private giveUp(job: RestartJob): void {
    this.jobs.delete(job.vm);
    this.event('ha-restart-gave-up', `${job.vm}: gave up after ${job.attempts} attempts`, { vm: job.vm, attempts: job.attempts });
  }

  // ---- the clock ---------------------------------------------------------------------------------------

  private tick(): void {
    const now = this.now();
    this.sendHeartbeats();
    if (this.shutdownPending !== undefined && now >= this.shutdownPending.deadlineMs) {
      const left = this.shutdownPending.vms.filter((vm) => this.localVms.has(vm));
      this.shutdownPending = undefined;
      if (left.length > 0) this.out.push({ kind: 'power-off', vms: left });
    }
    switch (this.role) {
      case 'secondary':
        if (now - this.lastPrimaryHeardMs >= this.timing.electionStartMs) this.startElection(`primary ${this.primary} not heard for ${now - this.lastPrimaryHeardMs} ms`);
        break;
      case 'election':
        if (now - this.roleSinceMs >= this.timing.electionMs) this.endElection();
        break;
      case 'primary':
        this.primaryTick();
        break;
      case 'isolated':
        this.pingIsolationAddresses();
        break;
    }
  }

  private endElection(): void {
    const now = this.now();
    const fresh = [...this.peers.values()].filter((p) => p.role === 'election' && now - p.lastHeardMs < this.timing.candidateFreshMs);
    const winner = electPrimary([this.claim(), ...fresh.map((p) => ({ host: p.host.name, datastoresSeen: p.datastoresSeen }))])!;
    if (winner.host === this.me.name) this.becomePrimary(fresh.length === 0);
    else this.becomeSecondary(winner.host, 'it won the election');
  }

  private pingIsolationAddresses(): void {
    const now = this.now();
    if (now < this.nextIsolationPingAtMs) return;
    this.nextIsolationPingAtMs = now + this.timing.probeIntervalMs;
    for (const a of this.me.isolationAddresses) this.out.push({ kind: 'ping', address: a, purpose: 'isolation' });
  }

  private primaryTick(): void {
    const now = this.now();
    const t = this.timing;
    // Alone: no agent heard for one heartbeat interval (or none heard at the election): ping the
    // isolation addresses; isolated when none answered for HA_ISOLATION_PING_MS since being alone.
    const lastHeard = Math.max(-Infinity, ...[...this.peers.values()].map((p) => p.lastHeardMs));
    if (this.aloneSinceMs === undefined && (this.peers.size === 0 || now - lastHeard >= t.aloneAfterMs)) {
      this.aloneSinceMs = this.peers.size === 0 ? this.roleSinceMs : Math.max(lastHeard, this.roleSinceMs);
      this.startIsolationCheck();
    }
    if (this.aloneSinceMs !== undefined) {
      const since = Math.max(this.aloneSinceMs, this.lastIsolationReplyMs ?? -Infinity);
      if (now - since >= t.isolationPingMs) {
        this.becomeIsolated();
        return;
      }
      this.pingIsolationAddresses();
    }
    for (const p of this.peers.values()) this.peerTimeline(p);
    this.runRestarts();
  }

  private becomeIsolated(): void {
    this.setRole('isolated', undefined);
    this.nextIsolationPingAtMs = this.now() + this.timing.probeIntervalMs;
    const response = this.cluster.isolationResponse;
    this.event('ha-isolated', `declared itself isolated: no agent heard and no isolation address answered for ${this.timing.isolationPingMs} ms`, { response });
    const vms = [...this.localVms].filter((vm) => this.cluster.vm.get(vm)?.protected === true).sort();
    this.event('ha-isolation-response', `isolation response ${response} on ${vms.length} VM(s): ${vms.join(', ') || '-'}`, { response, vms });
    if (vms.length === 0 || response === 'leave-powered-on') return;
    if (response === 'power-off') this.out.push({ kind: 'power-off', vms });
    else {
      const deadlineMs = this.now() + this.timing.shutdownTimeoutMs;
      this.shutdownPending = { vms, deadlineMs };
      this.out.push({ kind: 'shutdown', vms, deadlineMs });
    }
  }

  /** The primary's failure timeline for one peer (T measured from max(last heard, became primary)). */
  private peerTimeline(p: Peer): void {
    const now = this.now();
    const t = this.timing;
    if (p.state === 'dead') return;
    const t0 = Math.max(p.lastHeardMs, this.roleSinceMs);
    const age = now - t0;
    if (age < t.dsWatchStartMs) return;
    const name = p.host.name;
    const hasDs = p.host.heartbeatDatastores.length > 0;
    if (p.watch === undefined) {
      p.watch = { t0, pulse: new Map(), nextReadAtMs: now, nextPingAtMs: t0 + t.unreachableMs };
      p.state = 'heartbeat-lost';
      this.event('ha-heartbeat-lost', `${name}: no network heartbeat since ${t0} ms${hasDs ? '; watching its heartbeat datastores' : ''}`, { host: name, t0 });
    }
    const w = p.watch;
    const decided = w.decidedAtMs !== undefined;
    // Datastore heartbeat reads: T3s..T18s while undecided, then for as long as it is watched.
    if (hasDs && now >= w.nextReadAtMs && (decided || age < t.dsWatchStartMs + t.dsWatchMs)) {
      w.nextReadAtMs = now + t.probeIntervalMs;
      for (const d of p.host.heartbeatDatastores) {
        this.out.push({ kind: 'read-ds-heartbeat', host: name, datastore: d, file: haHeartbeatFile(this.cluster.name, name), poweronFile: haPoweronFile(this.cluster.name, name) });
      }
    }
    if (!decided && age >= t.unreachableMs && p.state === 'heartbeat-lost') {
      p.state = 'unreachable';
      this.event('ha-host-unreachable', `${name} is unreachable: pinging its management address ${p.host.managementIp}`, { host: name, t0 });
    }
    // Management pings: T10s..T15s while undecided, then for as long as it is watched.
    if (now >= w.nextPingAtMs && (decided || (age >= t.unreachableMs && age < t.unreachableMs + t.mgmtPingMs))) {
      w.nextPingAtMs = now + t.probeIntervalMs;
      this.out.push({ kind: 'ping', address: p.host.managementIp, purpose: 'management', host: name });
    }
    if (!decided) {
      if (age < deadAfterMs(t, hasDs)) return;
      w.decidedAtMs = now;
      if (w.dsAliveAtMs !== undefined || w.pingOkAtMs !== undefined) {
        p.state = w.dsAliveAtMs !== undefined && p.isolatedFlag ? 'isolated' : 'partitioned';
        const sign = w.dsAliveAtMs !== undefined ? 'its datastore heartbeat moves' : 'its management address answers';
        this.event(p.state === 'isolated' ? 'ha-host-isolated' : 'ha-host-partitioned', `${name} is ${p.state}, not dead: ${sign}; its VMs are not restarted`, { host: name, t0, afterMs: age });
        return;
      }
      this.declareDead(p, `no network heartbeat, ${hasDs ? 'no datastore heartbeat and ' : 'no heartbeat datastores and '}no ping reply for ${age} ms`, age);
      return;
    }
    // Isolated or partitioned: dead once every sign of life has stopped for a whole window.
    const lastSign = Math.max(w.decidedAtMs!, w.dsAliveAtMs ?? -Infinity, w.pingOkAtMs ?? -Infinity);
    if (now - lastSign >= (hasDs ? t.dsWatchMs : t.mgmtPingMs)) this.declareDead(p, `it was ${p.state}, and its signs of life stopped ${now - lastSign} ms ago`, age);
  }

  private declareDead(p: Peer, why: string, afterMs: number): void {
    const name = p.host.name;
    p.state = 'dead';
    this.event('ha-host-dead', `${name} is dead: ${why}`, { host: name, afterMs, t0: p.watch?.t0 });
    const vms = [...p.poweredOn].sort();
    p.poweredOn.clear();
    for (const vm of vms) this.queueRestart(vm, name);
  }

  private runsSomewhere(vm: string, except?: string): boolean {
    const hosts = this.runningView().get(vm) ?? [];
    return hosts.some((h) => h !== except);
  }

  private queueRestart(vm: string, from: string): void {
    const cfg = this.cluster.vm.get(vm);
    if (cfg === undefined || !restartable(cfg) || this.jobs.has(vm) || this.runsSomewhere(vm, from)) return;
    if (this.jobs.size >= this.cluster.vms.length) return; // one job per VM at most
    this.jobs.set(vm, newJob(cfg, from, this.now()));
    this.event('ha-restart-queued', `${vm} (priority ${cfg.restartPriority}) will be restarted: it ran on ${from}`, { vm, from, priority: cfg.restartPriority });
  }

  private cancelRunningJobs(): void {
    if (this.jobs.size === 0) return;
    const view = this.runningView();
    for (const job of [...this.jobs.values()]) {
      const where = view.get(job.vm);
      if (where === undefined || job.inFlight !== undefined) continue;
      this.jobs.delete(job.vm);
      this.event('ha-restart-cancelled', `${job.vm}: restart cancelled, it runs on ${where.join(', ')}`, { vm: job.vm, on: where });
    }
  }

  /** Reports each VM newly seen powered on at two hosts once (the guarantee HA exists to keep). */
  private checkConflicts(): void {
    if (this.role !== 'primary') return;
    const now = new Set<string>();
    for (const [vm, hosts] of this.runningView()) {
      if (hosts.length < 2) continue;
      now.add(vm);
      if (!this.conflicts.has(vm)) this.event('ha-vm-conflict', `${vm} is reported powered on at ${hosts.join(' and ')}`, { vm, hosts });
    }
    this.conflicts = now;
  }

  private runRestarts(): void {
    const now = this.now();
    const t = this.timing;
    for (const job of this.jobs.values()) {
      if (job.inFlight !== undefined && now - job.inFlight.sinceMs >= t.restartResultTimeoutMs) {
        const host = job.inFlight.host;
        this.event('ha-restart-failed', `${job.vm} on ${host}: no outcome within ${t.restartResultTimeoutMs} ms`, { vm: job.vm, host, attempt: job.attempts });
        if (settleAttempt(job, 'failed', host, now, t) === 'gave-up') this.giveUp(job);
      }
    }
    const live = [this.me.name, ...[...this.peers.values()].filter((p) => p.state === 'alive').map((p) => p.host.name)];
    const view = this.runningView();
    const counts = new Map<string, number>();
    const bump = (h: string): void => void counts.set(h, (counts.get(h) ?? 0) + 1);
    for (const hosts of view.values()) hosts.forEach(bump);
    for (const j of this.jobs.values()) if (j.inFlight) bump(j.inFlight.host);
    const load = (h: string): number => counts.get(h) ?? 0;
    // Most urgent first; a job of lower priority waits while a more urgent attempt is in flight.
    let topInFlight = Math.max(-1, ...[...this.jobs.values()].filter((j) => j.inFlight).map((j) => j.rank));
    for (const job of dueJobs(this.jobs.values(), now)) {
      if (job.rank < topInFlight) break;
      if (view.has(job.vm)) {
        this.jobs.delete(job.vm);
        continue;
      }
      const cfg = this.cluster.vm.get(job.vm)!;
      const host = placeVm(this.cluster, cfg, live, load, job.excluded);
      job.attempts++;
      if (host === undefined) {
        this.event('ha-restart-failed', `${job.vm}: no live host mounts ${cfg.datastore} and has ${cfg.portGroups.join(', ') || 'its port groups'} (attempt ${job.attempts})`, { vm: job.vm, attempt: job.attempts });
        if (job.attempts >= t.restartMaxAttempts) this.giveUp(job);
        else job.nextAtMs = now + t.restartRetryMs;
        continue;
      }
      job.inFlight = { host, sinceMs: now };
      bump(host);
      this.event('ha-restart-attempted', `${job.vm}: power-on on ${host} (attempt ${job.attempts})`, { vm: job.vm, host, attempt: job.attempts, from: job.from });
      this.out.push({ kind: 'power-on', vm: job.vm, host, attempt: job.attempts });
      topInFlight = Math.max(topInFlight, job.rank);
    }
  }
}
