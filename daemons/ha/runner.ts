// The HA agent of one host as a running thing (docs/ha.md "In a fabric"): lib/ha's HaAgent fed ticks
// of the fabric clock, and its actions carried out through the host's own machinery. Network heartbeats
// are real UDP datagrams from the management vmkernel port to port 8182 (so a cut uplink, a VLAN the
// switch does not carry or a downed vmk really stops them); pings of isolation and management addresses
// are ICMP echoes from that vmk; restart requests to another host and their outcomes go as small JSON
// datagrams to port 8183 of its management address. Datastore heartbeating is the VMFS machinery's:
// the host keeps `.vSphere-HA/<cluster>/host-<name>-hb` open exclusively on each of its heartbeat
// datastores (so the file's lock names its heartbeat slot), writes its poweron file there, and reads
// another host's pulse through the file's lock holder (lib/datastore/ha-files.ts). Restarts are the
// datastore power-on of the chosen host (the lock decides: `locked` goes back to the agent), isolation
// responses the datastore power-off (its locks are released). Actions run in the order the agent returns
// them; those that wait for I/O answer later with the agent's matching input. Every count is bounded.
// A restarted VM's vNICs come up when the host knows it: its own VM or a standby copy from the plan.
// Leaves out guest shutdown (a shutdown response powers the VMs off at once: vfab guests have no OS to
// stop). Behaviour reference §7.11-§7.14.

import { type Clock } from '../../lib/clock.js';
import {
  type ClusterInput, type HaAction, HaAgent, type HaCluster, type HaInput, type PingPurpose, type PowerOnOutcome, type PoweronRecord,
  HA_TICK_MS, HA_UDP_PORT, HeartbeatAssembler, encodeHeartbeat, resolveCluster, restartable,
} from '../../lib/ha/index.js';
import { HA_ERROR, HaError } from '../../lib/ha/errors.js';
import type { VmkernelPort, VmkUdpDatagram } from '../../lib/host/vmkernel.js';
import type { HostCtx } from '../../lib/datastore/host.js';
import type { Gen } from '../../lib/datastore/proc.js';
import { DS_ERROR } from '../../lib/datastore/errors.js';
import { type HaHeartbeatRead, holdHaFile, readHaHeartbeat, writeHaText } from '../../lib/datastore/ha-files.js';
import { decodeControl, encodeControl, HA_CONTROL_UDP_PORT } from './control-datagram.js';
import { realTimers, type TimerHandle, type Timers } from '../common/timers.js';

/** Restart requests this host carries out at once for other hosts; more are answered `failed`. */
export const HA_MAX_POWER_ONS_IN_FLIGHT = 64;
/** Pings waiting for their reply or timeout; the oldest is counted as unanswered when more are sent. */
export const HA_MAX_PINGS_IN_FLIGHT = 256;
/** How long a ping waits for its reply (fabric ms): one probe interval. */
export const HA_PING_TIMEOUT_MS = 1_000;
/** ICMP identifier of the agent's echo requests ("HA"). */
const HA_PING_ID = 0x4841;
/** How often a heartbeat datastore's `-hb` file is opened again while not held (fabric ms). */
const HB_HOLD_RETRY_MS = 1_000;

/** What the runner needs of the host's datastores (daemons/datastore/host-datastores.ts). */
export interface HaDatastores {
  mountedNames(): string[];
  runOn<T>(ds: string, label: string, proc: (ctx: HostCtx) => Gen<T>): Promise<T>;
  poweredOnVms(): string[];
  haPowerOn(ds: string, vm: string): Promise<unknown>;
  haPowerOff(vm: string): Promise<void>;
}

export interface HaRunnerDeps {
  host: string;
  cluster: ClusterInput;
  /** The fabric clock (fabric ms); the tick timer waits HA_TICK_MS / timeScale wall ms. */
  clock: Clock;
  timeScale: number;
  event: (type: string, fields: Record<string, unknown>) => void;
  /** The host's vmkernel port with the management service. */
  vmk: VmkernelPort;
  /** Re-arm the host's timers after frames were sent (ARP, ping timeouts). */
  scheduleTick: () => void;
  datastores: HaDatastores;
  /** The tick timer (default Node's; the simulation passes the host's scheduler timers). */
  timers?: Timers;
}

export interface HaRunnerCounters {
  heartbeatsSent: number;
  heartbeatSendFailed: number;
  heartbeatsReceived: number;
  /** Datagrams on 8182/8183 that were not valid (or for another cluster): dropped and counted. */
  dropped: number;
  pingsSent: number;
  dsReads: number;
  dsReadFailed: number;
  powerOnsRequested: number;
  powerOnsServed: number;
}

export class HaRunner {
  readonly cluster: HaCluster;
  readonly agent: HaAgent;
  readonly counters: HaRunnerCounters = { heartbeatsSent: 0, heartbeatSendFailed: 0, heartbeatsReceived: 0, dropped: 0, pingsSent: 0, dsReads: 0, dsReadFailed: 0, powerOnsRequested: 0, powerOnsServed: 0 };
  private readonly assembler = new HeartbeatAssembler();
  /** Per peer: heartbeats heard and when the last one arrived (fabric ms). */
  private readonly heard = new Map<string, { count: number; lastMs: number }>();
  private readonly pings = new Map<number, { address: string; purpose: PingPurpose; host?: string }>();
  private pingSeq = 0;
  private readonly reading = new Set<string>();
  /** Heartbeat datastore -> the `-hb` and poweron entries held there. */
  private readonly held = new Map<string, { hb: number; poweron: number }>();
  private readonly holding = new Set<string>();
  private nextHoldAtMs = 0;
  /** The last poweron record the agent asked for, and where: written once a file is held, and after a busy write. */
  private lastRecord: { datastores: readonly string[]; record: PoweronRecord } | undefined;
  private writeBusy = false;
  private writeAgain = false;
  private lastLocal = '';
  private lastSeen = -1;
  private powerOnsInFlight = 0;
  private timer: TimerHandle;
  private readonly unbind: Array<() => void> = [];
  private closed = false;

  constructor(private readonly deps: HaRunnerDeps) {
    const r = resolveCluster(deps.cluster);
    if (!r.ok) throw new HaError(HA_ERROR.BAD_CONFIG, r.error.map((e) => e.message).join('; '));
    this.cluster = r.value;
    this.agent = new HaAgent({ cluster: this.cluster, host: deps.host, clock: deps.clock });
  }

  start(): void {
    const { vmk } = this.deps;
    this.unbind.push(vmk.bindUdp(HA_UDP_PORT, (d) => this.onHeartbeat(d)));
    this.unbind.push(vmk.bindUdp(HA_CONTROL_UDP_PORT, (d) => this.onControl(d)));
    this.unbind.push(vmk.listen((a) => {
      if ((a.kind === 'pingReply' || a.kind === 'pingTimeout') && a.id === HA_PING_ID) {
        const p = this.pings.get(a.seq);
        if (p === undefined) return;
        this.pings.delete(a.seq);
        this.later({ kind: 'ping-result', address: p.address, purpose: p.purpose, ...(p.host !== undefined ? { host: p.host } : {}), ok: a.kind === 'pingReply' });
      }
    }));
    this.timer = (this.deps.timers ?? realTimers).setInterval(() => this.tick(), HA_TICK_MS / this.deps.timeScale);
    this.tick();
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) (this.deps.timers ?? realTimers).clearInterval(this.timer);
    for (const u of this.unbind.splice(0)) u();
  }

  /** For GET /control/ha: the agent's view, heartbeats heard, held heartbeat files, protected VMs. */
  status(): Record<string, unknown> {
    const s = this.agent.status();
    const view = this.agent.runningView();
    const now = this.deps.clock.nowMs();
    return {
      cluster: this.cluster.name,
      host: this.deps.host,
      nowMs: Math.round(now),
      role: s.role,
      primary: s.primary ?? null,
      isolationResponse: this.cluster.isolationResponse,
      peers: s.peers.map((p) => ({ ...p, lastHeardMs: Math.round(p.lastHeardMs) })),
      heartbeatsHeard: Object.fromEntries([...this.heard].map(([h, x]) => [h, { count: x.count, ageMs: Math.round(now - x.lastMs) }])),
      heartbeatDatastores: { configured: this.agent.me.heartbeatDatastores, held: [...this.held.keys()].sort() },
      localVms: s.localVms,
      protectedVms: this.cluster.vms.filter(restartable).map((v) => ({ vm: v.name, datastore: v.datastore, restartPriority: v.restartPriority, runningOn: view.get(v.name) ?? [] })),
      restarts: s.restarts,
      counters: { ...this.counters, heartbeatPagesDropped: this.assembler.dropped },
    };
  }

  private tick(): void {
    if (this.closed) return;
    const ds = this.deps.datastores;
    const local = ds.poweredOnVms();
    const key = local.join('\n');
    if (key !== this.lastLocal) {
      this.lastLocal = key;
      this.feed({ kind: 'local-vms', poweredOn: local });
    }
    const mounted = ds.mountedNames();
    if (mounted.length !== this.lastSeen) {
      this.lastSeen = mounted.length;
      this.feed({ kind: 'datastores-seen', count: mounted.length });
    }
    for (const d of [...this.held.keys()]) if (!mounted.includes(d)) this.held.delete(d); // unmounted: its lock is gone
    if (this.deps.clock.nowMs() >= this.nextHoldAtMs) {
      this.nextHoldAtMs = this.deps.clock.nowMs() + HB_HOLD_RETRY_MS;
      for (const d of this.agent.me.heartbeatDatastores) if (mounted.includes(d) && !this.held.has(d)) this.hold(d);
    }
    this.feed({ kind: 'tick' });
  }

  /** Opens the host's `-hb` and poweron files on heartbeat datastore `d` (exclusive, created if missing). */
  private hold(d: string): void {
    if (this.holding.has(d)) return;
    this.holding.add(d);
    const c = this.cluster.name;
    const me = this.deps.host;
    this.deps.datastores.runOn(d, `ha hold ${d}`, function* (ctx) {
      const hb = yield* holdHaFile(ctx, `.vSphere-HA/${c}/host-${me}-hb`);
      const poweron = yield* holdHaFile(ctx, `.vSphere-HA/${c}/host-${me}-poweron`);
      return { hb, poweron };
    }).then((files) => {
      this.held.set(d, files);
      if (this.lastRecord !== undefined) this.writePoweron(this.lastRecord.datastores, this.lastRecord.record); // asked for before the file was held
      this.deps.event('ha-heartbeat-datastore', { datastore: d, message: `${me} holds its HA heartbeat file on ${d}` });
    }, (e: Error) => this.deps.event('ha-heartbeat-datastore-failed', { datastore: d, message: e.message })).finally(() => this.holding.delete(d));
  }

  /** Feeds the agent an input now and carries out what it returns, in order. */
  private feed(input: HaInput): void {
    if (this.closed) return;
    for (const a of this.agent.handle(input)) this.perform(a);
  }

  /** Feeds an input from an I/O callback once the current one has returned (no re-entry into the agent). */
  private later(input: HaInput): void {
    queueMicrotask(() => this.feed(input));
  }

  private perform(a: HaAction): void {
    switch (a.kind) {
      case 'send-heartbeat': {
        let ok = true;
        for (const page of encodeHeartbeat(a.message)) {
          try {
            if (!this.deps.vmk.sendUdp(a.address, HA_UDP_PORT, page).ok) ok = false;
          } catch {
            ok = false; // vmk down: the heartbeat is lost, like any datagram
          }
        }
        if (ok) this.counters.heartbeatsSent++;
        else this.counters.heartbeatSendFailed++;
        this.deps.scheduleTick();
        return;
      }
      case 'ping':
        return this.ping(a.address, a.purpose, a.host);
      case 'read-ds-heartbeat':
        return this.readDs(a.host, a.datastore, a.file, a.poweronFile);
      case 'write-poweron':
        return this.writePoweron(a.datastores, a.record);
      case 'power-off':
      case 'shutdown':
        return this.powerOff(a.vms);
      case 'power-on':
        return this.powerOn(a.vm, a.host);
      case 'event':
        this.deps.event(a.type, { message: a.message, ...a.details });
    }
  }

  private ping(address: string, purpose: PingPurpose, host: string | undefined): void {
    if (this.pings.size >= HA_MAX_PINGS_IN_FLIGHT) {
      const [oldest, p] = this.pings.entries().next().value!;
      this.pings.delete(oldest);
      this.later({ kind: 'ping-result', address: p.address, purpose: p.purpose, ...(p.host !== undefined ? { host: p.host } : {}), ok: false });
    }
    const seq = (this.pingSeq = (this.pingSeq + 1) & 0xffff);
    this.pings.set(seq, { address, purpose, ...(host !== undefined ? { host } : {}) });
    this.counters.pingsSent++;
    let sent = false;
    try {
      sent = this.deps.vmk.ping(address, { id: HA_PING_ID, seq, timeoutMs: HA_PING_TIMEOUT_MS }).ok;
    } catch {
      sent = false;
    }
    // a failed send answers at once with a timeout action through the listener, or not at all: settle it here
    if (!sent && this.pings.delete(seq)) this.later({ kind: 'ping-result', address, purpose, ...(host !== undefined ? { host } : {}), ok: false });
    this.deps.scheduleTick();
  }

  private readDs(host: string, datastore: string, file: string, poweronFile: string): void {
    const key = `${host}/${datastore}`;
    if (this.reading.has(key)) return; // the previous read answers; the agent reads again next second
    const answer = (read: { ok: true; pulse: number; poweron?: PoweronRecord } | { ok: false }) => this.feed({ kind: 'ds-heartbeat', host, datastore, read });
    if (!this.deps.datastores.mountedNames().includes(datastore)) {
      this.later({ kind: 'ds-heartbeat', host, datastore, read: { ok: false } });
      return;
    }
    this.reading.add(key);
    this.counters.dsReads++;
    this.deps.datastores.runOn(datastore, `ha read ${host}`, (ctx) => readHaHeartbeat(ctx, file, poweronFile)).then((r: HaHeartbeatRead) => {
      // nobody live holds the -hb file (never held, or its slot was freed): no sign of life
      if (r.pulse === undefined) return answer({ ok: false });
      const poweron = parsePoweron(r.poweron);
      answer({ ok: true, pulse: r.pulse, ...(poweron !== undefined ? { poweron } : {}) });
    }, () => {
      this.counters.dsReadFailed++;
      answer({ ok: false });
    }).finally(() => this.reading.delete(key));
  }

  /** Writes the poweron record on each held heartbeat datastore; one write at a time, the latest record wins. */
  private writePoweron(datastores: readonly string[], record: PoweronRecord): void {
    this.lastRecord = { datastores, record };
    if (this.writeBusy) {
      this.writeAgain = true;
      return;
    }
    this.writeBusy = true;
    void (async () => {
      do {
        this.writeAgain = false;
        const { datastores: where, record: r } = this.lastRecord!;
        const text = JSON.stringify(r);
        for (const d of where) {
          const files = this.held.get(d);
          if (files === undefined) continue; // not held yet: written once it is
          await this.deps.datastores.runOn(d, `ha poweron ${d}`, (ctx) => writeHaText(ctx, files.poweron, text)).catch((e: Error) => this.deps.event('ha-poweron-write-failed', { datastore: d, message: e.message }));
        }
      } while (this.writeAgain && !this.closed);
      this.writeBusy = false;
    })();
  }

  private powerOff(vms: readonly string[]): void {
    void (async () => {
      for (const vm of vms) {
        await this.deps.datastores.haPowerOff(vm).catch((e: Error) => this.deps.event('ha-power-off-failed', { vm, message: e.message }));
      }
      this.lastLocal = '\0'; // the next tick reports the VMs running now
    })();
  }

  private powerOn(vm: string, host: string): void {
    if (host === this.deps.host) {
      void this.powerOnHere(vm).then((outcome) => this.feed({ kind: 'power-on-result', vm, host, outcome }));
      return;
    }
    const target = this.cluster.host.get(host);
    if (target === undefined) return;
    this.counters.powerOnsRequested++;
    try {
      this.deps.vmk.sendUdp(target.managementIp, HA_CONTROL_UDP_PORT, encodeControl({ t: 'power-on', c: this.cluster.name, f: this.deps.host, vm }));
    } catch {
      // lost like a datagram: the agent counts the attempt as failed after its result timeout
    }
    this.deps.scheduleTick();
  }

  /** A restart here, through the datastore's power-on: the VM's file locks decide. */
  private async powerOnHere(vm: string): Promise<PowerOnOutcome> {
    const v = this.cluster.vm.get(vm);
    if (v === undefined) return 'failed';
    if (this.powerOnsInFlight >= HA_MAX_POWER_ONS_IN_FLIGHT) return 'failed';
    this.powerOnsInFlight++;
    try {
      await this.deps.datastores.haPowerOn(v.datastore, vm);
      return 'ok';
    } catch (e) {
      return (e as { code?: string }).code === DS_ERROR.LOCKED ? 'locked' : 'failed';
    } finally {
      this.powerOnsInFlight--;
    }
  }

  private onHeartbeat(d: VmkUdpDatagram): void {
    const hb = this.assembler.push(d.payload);
    if (hb === undefined) return;
    if (hb.cluster !== this.cluster.name || !this.cluster.host.has(hb.from) || hb.from === this.deps.host) {
      this.counters.dropped++;
      return;
    }
    this.counters.heartbeatsReceived++;
    const h = this.heard.get(hb.from) ?? { count: 0, lastMs: 0 };
    h.count++;
    h.lastMs = this.deps.clock.nowMs();
    this.heard.set(hb.from, h);
    this.later({ kind: 'heartbeat', message: hb });
  }

  private onControl(d: VmkUdpDatagram): void {
    const m = decodeControl(d.payload);
    if (m === undefined || m.c !== this.cluster.name || !this.cluster.host.has(m.f)) {
      this.counters.dropped++;
      return;
    }
    if (m.t === 'power-on') {
      this.counters.powerOnsServed++;
      void this.powerOnHere(m.vm).then((outcome) => {
        try {
          this.deps.vmk.sendUdp(d.srcIp, HA_CONTROL_UDP_PORT, encodeControl({ t: 'power-on-result', c: this.cluster.name, f: this.deps.host, vm: m.vm, o: outcome }));
        } catch {
          // the requester times the attempt out
        }
        this.deps.scheduleTick();
      });
      return;
    }
    this.later({ kind: 'power-on-result', vm: m.vm, host: m.f, outcome: m.o });
  }
}

/** A poweron file's record, or undefined when it is missing or not one. */
function parsePoweron(text: string | undefined): PoweronRecord | undefined {
  if (text === undefined || text === '') return undefined;
  try {
    const r = JSON.parse(text) as unknown;
    if (typeof r !== 'object' || r === null) return undefined;
    const o = r as Record<string, unknown>;
    if (typeof o.isolated !== 'boolean' || !Array.isArray(o.poweredOn) || !o.poweredOn.every((x) => typeof x === 'string')) return undefined;
    return { isolated: o.isolated, poweredOn: o.poweredOn as string[] };
  } catch {
    return undefined;
  }
}
