// The simulated fabric: every host and switch of a topology in this one process, on the virtual clock of
// lib/sim/scheduler.ts, joined by the in-process cables of lib/sim/links.ts. Each node is the same core
// its daemon wraps (lib/host EsxHost for hostd, lib/pswitch PhysicalSwitch for switchd) built from the
// same plan (daemons/fabric/plan.ts), with the daemon's I/O replaced: timers are scheduler timers that
// follow each core's next deadline, frames go over simulated cables, events go to an EventLog per node
// stamped with virtual time, drops are reported as the daemons report them, and captured frames go to
// pcapng files stamped on a fixed fabric-clock anchor (SIM_CLOCK_ANCHOR), so a run's bytes repeat.
// Randomness (ping ids, impairment seeds left unset) comes from the run seed (lib/sim/scheduler.ts).
// A node can be killed (its core dropped, its timers cancelled, its cables lose carrier at the far end)
// and restarted (a fresh core from its configuration, as a restarted daemon: same config, same clock
// anchor, fresh state); vMotion runs on hosts' services made on demand (daemons/sim/vmotion.ts). With
// datastores in the topology, arrays, hosts' storage, datastores and HA agents run too (storage.ts: a
// host's storage is built with its core and dropped with it). Leaves out external and real guests
// (netns, qemu) and VXLAN ports: simUnsupported (lib/sim/support.ts) names them before a run.

import { EsxHost } from '../../lib/host/host.js';
import { PhysicalSwitch, type SwitchEvent, type SwitchResult } from '../../lib/pswitch/pswitch.js';
import { switchConfigFromModel } from '../../lib/pswitch/from-topology.js';
import { VfabError } from '../../lib/errors.js';
import { type FabricClockAnchor, captureTimestampNs, NS_PER_MS } from '../../lib/fabric-clock.js';
import { DropReporter, dropLabel, type DropReport } from '../../lib/events/drops.js';
import { eventTimeMs } from '../../lib/fabric-clock.js';
import { PcapngWriter } from '../../lib/capture/pcapng.js';
import type { Topology, Host as HostModel, PhysicalSwitch as SwitchModel } from '../../lib/topology/model.js';
import { SimScheduler, SimRandom, SimTimerGroup, type SimTimer, type SimTimers } from '../../lib/sim/scheduler.js';
import { SimPump } from './pump.js';
import { SimLink, type SimLinkEnd } from '../../lib/sim/links.js';
import { planFabric, type HostConfig, type SwitchConfig } from '../fabric/plan.js';
import { EventLog } from '../common/events.js';
import { hostEventEntry } from '../common/host-events.js';
import { SimStorage } from './storage.js';

/**
 * The fabric-clock anchor of every simulated run: fabric time 0 is 2026-01-01T00:00:00Z, so capture
 * timestamps (anchor wall time + virtual time) are the same every run.
 */
export const SIM_CLOCK_ANCHOR: FabricClockAnchor = { monotonicNs: '0', wallMs: Date.UTC(2026, 0, 1) };
/** Bytes one simulated capture may hold in memory before it stops recording (counted as dropped). */
export const MAX_SIM_CAPTURE_BYTES = 256 * 1024 * 1024;

/** A deadline timer on the scheduler that follows a core's next deadline (the daemons' DeadlineTimer). */
export class SimDeadline {
  private timer: SimTimer | undefined;
  private armedAtMs = Infinity;
  constructor(private readonly sched: SimTimers, private readonly next: () => number | null | undefined, private readonly fire: () => void) {}

  /**
   * schedule() once, after the timers due at this instant (frames arrive in bursts at one instant: the
   * core's next deadline is read once per burst, not per frame, as hostd re-arms once per I/O callback).
   */
  touch(): void {
    if (this.touched) return;
    this.touched = true;
    this.sched.after(0, this.afterTouch);
  }

  private touched = false;
  private readonly afterTouch = () => {
    this.touched = false;
    this.schedule();
  };

  schedule(): void {
    const due = this.next();
    if (due === undefined || due === null || due >= this.armedAtMs) return;
    this.sched.cancel(this.timer);
    this.armedAtMs = due;
    this.timer = this.sched.at(due, () => {
      this.timer = undefined;
      this.armedAtMs = Infinity;
      this.fire();
      this.schedule();
    });
  }
}

interface Capture {
  name: string;
  points: string[];
  ids: Map<string, number>;
  writer: PcapngWriter;
  chunks: Buffer[];
  bytes: number;
  dropped: number;
}

/** Live capture streams beside the recorded captures (vfab up --sim: the nodes' /capture, daemons/sim/serve.ts). */
export interface SimLiveTap {
  watching(point: string): boolean;
  frame(point: string, direction: 'in' | 'out', frame: Uint8Array): void;
}

/** Captures in memory: pcapng records stamped on the virtual clock, one interface per point. */
export class SimCaptures {
  private readonly byPoint = new Map<string, Capture[]>();
  private readonly all: Capture[] = [];
  /** Also given every frame at the points it watches (set by vfab up --sim). */
  live: SimLiveTap | undefined;

  constructor(private readonly sched: SimScheduler) {}

  watching(point: string): boolean {
    return this.byPoint.has(point) || (this.live?.watching(point) ?? false);
  }

  /** Points some capture records, in the order captures started on them. */
  points(): string[] {
    return [...this.byPoint.keys()];
  }

  start(name: string, points: string[]): Capture {
    const chunks: Buffer[] = [];
    const c: Capture = { name, points, ids: new Map(), writer: undefined as unknown as PcapngWriter, chunks, bytes: 0, dropped: 0 };
    c.writer = new PcapngWriter((chunk) => {
      if (c.bytes + chunk.length > MAX_SIM_CAPTURE_BYTES) {
        c.dropped++;
        return;
      }
      c.bytes += chunk.length;
      chunks.push(chunk);
    });
    for (const p of points) {
      c.ids.set(p, c.writer.addInterface({ name: p }));
      const list = this.byPoint.get(p) ?? [];
      list.push(c);
      this.byPoint.set(p, list);
    }
    this.all.push(c);
    return c;
  }

  frame(point: string, direction: 'in' | 'out', frame: Uint8Array): void {
    this.live?.frame(point, direction, frame);
    const list = this.byPoint.get(point);
    if (!list) return;
    const ts = captureTimestampNs(SIM_CLOCK_ANCHOR, this.sched.nowMs() * NS_PER_MS);
    for (const c of list) c.writer.writeFrame(c.ids.get(point)!, ts, frame, { direction: direction === 'in' ? 'inbound' : 'outbound' });
  }

  /** Stops recording `c` and returns its bytes. */
  stop(c: Capture): Buffer {
    for (const p of c.points) {
      const list = (this.byPoint.get(p) ?? []).filter((x) => x !== c);
      if (list.length) this.byPoint.set(p, list);
      else this.byPoint.delete(p);
    }
    return Buffer.concat(c.chunks);
  }
}

/** Drop events as the daemons emit them (daemons/common/drop-events.ts), on the virtual clock. */
class SimDrops {
  private readonly reporter = new DropReporter();
  private readonly timer: SimDeadline;
  constructor(private readonly sched: SimTimers, private readonly events: EventLog) {
    this.timer = new SimDeadline(sched, () => this.reporter.nextDeadlineMs(), () => {
      for (const r of this.reporter.due(this.sched.nowMs())) this.emit(r);
    });
  }

  dropped(port: string, reason: string, frame: Uint8Array): void {
    if (!DropReporter.reports(reason)) return;
    const r = this.reporter.offer(port, reason, this.sched.nowMs(), frame);
    if (r !== null) this.emit(r);
    this.timer.schedule();
  }

  private emit(r: DropReport): void {
    this.events.add('drop', { port: r.port, reason: r.reason, count: r.count, frame: r.frame, firstMs: eventTimeMs(r.firstMs), message: dropLabel(r.reason) });
  }
}

export interface SimHost {
  kind: 'host';
  name: string;
  core: EsxHost;
  events: EventLog;
  ends: Map<string, SimLinkEnd>;
  tick: SimDeadline;
  config: HostConfig;
  /** The node's timers: cancelled together when it is killed. */
  timers: SimTimerGroup;
  /** Its vMotion service, made on the first migration that involves it (daemons/sim/vmotion.ts). */
  vmotion?: unknown;
}

export interface SimSwitch {
  kind: 'switch';
  name: string;
  core: PhysicalSwitch;
  events: EventLog;
  ends: Map<string, SimLinkEnd>;
  portIndex: Map<string, number>;
  portNames: string[];
  tapped: Uint8Array;
  receive(i: number, frame: Uint8Array): void;
  logEvents(list: SwitchEvent[] | undefined): void;
  model: SwitchModel;
  config: SwitchConfig;
  timers: SimTimerGroup;
}

export type SimNode = SimHost | SimSwitch;

export interface SimFabricOptions {
  topology: Topology;
  seed: number;
}

export class SimFabric {
  readonly sched = new SimScheduler();
  /** Runs the scheduler one instant at a time for asynchronous daemon code (daemons/sim/pump.ts). */
  readonly pump = new SimPump(this.sched);
  readonly random: SimRandom;
  readonly captures: SimCaptures;
  readonly nodes = new Map<string, SimNode>();
  readonly links: SimLink[] = [];
  /** Every link end by "<node>.<interface>". */
  readonly ends = new Map<string, SimLinkEnd>();
  /** VMs that vMotion moved off their topology host: VM name -> the host it runs on now. */
  readonly vmMoved = new Map<string, string>();
  /** Nodes killed and not restarted: they have no core running, no timers and no carrier. */
  readonly stopped = new Set<string>();
  topology: Topology;
  /** Arrays, hosts' storage and datastores (daemons/sim/storage.ts), when the topology has datastores. */
  readonly storage: SimStorage | undefined;

  constructor(o: SimFabricOptions) {
    this.topology = o.topology;
    this.random = new SimRandom(o.seed);
    this.captures = new SimCaptures(this.sched);
    this.storage = SimStorage.needed(o.topology) ? new SimStorage(this) : undefined;
    const plan = planFabric(o.topology, 1, SIM_CLOCK_ANCHOR);
    for (const l of o.topology.links) {
      const [an, ai] = split(l.a);
      const [bn, bi] = split(l.b);
      const link = new SimLink(this.sched, { node: an, iface: ai }, { node: bn, iface: bi }, (node) => !this.stopped.has(node));
      this.links.push(link);
      this.ends.set(l.a, link.a);
      this.ends.set(l.b, link.b);
    }
    for (const p of plan) {
      if (p.kind === 'switch') this.addSwitch(p.config as SwitchConfig);
    }
    for (const p of plan) {
      if (p.kind === 'host') this.addHost(p.config as HostConfig);
    }
    // plug every cable: carrier comes up at both ends (as the daemons' links connect at `vfab up`)
    for (const l of this.links) l.carrierChanged('connected');
    for (const n of this.nodes.values()) if (n.kind === 'host') this.startHost(n);
  }

  /** vmkernel ports come up and VMs power on with their host (hostd's start-up). */
  private startHost(n: SimHost): void {
    n.core.startVmkernels();
    // a VM with datastore disks powers on once its files are locked (daemons/sim/storage.ts)
    for (const vm of n.config.host.vms) if (!vm.haStandby && !this.storage?.ownsPowerOn(n, vm.name)) n.core.powerOn(vm.name);
    n.tick.schedule();
  }

  /**
   * kill -9 of a node's daemon: its core is dropped with every timer it set, what it held of its cables
   * is gone, and the far ends lose carrier one hop later ("peer-gone"). Its events so far stay in the
   * timeline (the daemon driver reads them before a restart). False when it was not running.
   */
  kill(name: string): boolean {
    const n = this.nodeAny(name);
    if (this.stopped.has(name)) return false;
    this.stopped.add(name);
    n.timers.cancelAll();
    this.storage?.hostKilled(name);
    for (const end of n.ends.values()) {
      end.reset();
      end.link.carrierChanged('peer-gone');
    }
    return true;
  }

  /**
   * A node's daemon started again (after a kill, or stopped and started): a fresh core built from its
   * configuration (with the changes `vfab set` made, as the daemon's config file holds them), fresh link
   * state, and the same fabric clock anchor (the plan's). Its cables come up ("connected") and a host
   * starts its vmkernel ports and VMs, as at `vfab up`. Its event log goes on (one timeline per node).
   */
  restart(name: string): void {
    const n = this.nodeAny(name);
    if (!this.stopped.has(name)) this.kill(name);
    if (n.kind === 'host') this.addHost(n.config, n.events);
    else this.addSwitch({ ...n.config, switch: n.model }, n.events);
    this.stopped.delete(name);
    const fresh = this.nodes.get(name)!;
    for (const end of fresh.ends.values()) end.link.carrierChanged('connected');
    if (fresh.kind === 'host') {
      // a capture running across the restart goes on recording (the fresh core's taps are off)
      for (const p of this.captures.points()) fresh.core.setTap(p, true);
      this.startHost(fresh);
    }
  }

  running(name: string): boolean {
    return !this.stopped.has(name);
  }

  private nodeEvents(name: string): EventLog {
    return new EventLog(name, () => this.sched.nowMs());
  }

  private addHost(config: HostConfig, events = this.nodeEvents(config.host.name)): void {
    const name = config.host.name;
    const timers = new SimTimerGroup(this.sched);
    const drops = new SimDrops(timers, events);
    const ends = new Map<string, SimLinkEnd>();
    for (const e of config.links) {
      const end = this.ends.get(`${name}.${e.local}`);
      if (end) ends.set(e.local, end);
    }
    const captures = this.captures;
    const core: EsxHost = new EsxHost(config.host, timers, {
      uplinkTx: (vmnic, frame) => {
        ends.get(vmnic)?.send(frame);
      },
      event: (e) => {
        const entry = hostEventEntry(name, e);
        if (entry) events.add(entry.type, entry.fields);
      },
      tap: (point, direction, frame) => captures.frame(point, direction, frame),
      drop: (point, reason, frame) => drops.dropped(point.startsWith(`${name}.`) ? point.slice(name.length + 1) : point, reason, frame),
      streamNowNs: () => this.sched.nowMs() * NS_PER_MS,
    });
    const tick = new SimDeadline(timers, () => core.nextDeadlineMs(), () => core.tick());
    const node: SimHost = { kind: 'host', name, core, events, ends, tick, config, timers };
    for (const [local, end] of ends) {
      end.handlers = {
        frame: (frame) => {
          core.receiveUplink(local, frame);
          tick.touch();
        },
        carrier: (up, reason) => {
          events.add('carrier', { uplink: local, up, reason });
          core.setUplinkLink(local, up);
          tick.schedule();
        },
        event: (type, fields) => events.add(type, fields),
      };
    }
    this.nodes.set(name, node);
    this.storage?.hostStarted(node);
  }

  private addSwitch(config: SwitchConfig, events = this.nodeEvents(config.switch.name)): void {
    const model = config.switch;
    const name = model.name;
    const timers = new SimTimerGroup(this.sched);
    const drops = new SimDrops(timers, events);
    const core = new PhysicalSwitch(switchConfigFromModel(model), timers);
    const portIndex = new Map<string, number>();
    for (const p of core.ports()) portIndex.set(p.name, p.index);
    const portNames = core.ports().map((p) => p.name);
    const tapped = new Uint8Array(core.portCount());
    for (let i = 0; i < core.portCount(); i++) core.setLinkUp(i, false);
    const ends = new Map<string, SimLinkEnd>();
    for (const e of config.links) {
      const end = this.ends.get(`${name}.${e.local}`);
      if (end) ends.set(e.local, end);
    }
    const captures = this.captures;
    let frameNo = 0;
    const aging = new SimDeadline(timers, () => core.nextAgingDeadlineMs(), () => logEvents(core.age()));
    function logEvents(list: SwitchEvent[] | undefined): void {
      if (!list) return;
      for (const e of list) {
        const { type, ...rest } = e;
        events.add(type, rest);
      }
      aging.schedule();
    }
    const perform = (r: SwitchResult) => {
      for (let k = 0; k < r.count; k++) {
        const out = r.ports[k]!;
        const bytes = r.frames[k]!;
        const point = `${name}.${portNames[out]}`;
        if (captures.watching(point)) captures.frame(point, 'out', bytes);
        ends.get(portNames[out]!)?.send(bytes);
      }
      if (r.events) logEvents(r.events);
    };
    const receive = (i: number, frame: Uint8Array) => {
      const point = `${name}.${portNames[i]}`;
      if (captures.watching(point)) captures.frame(point, 'in', frame);
      const r = core.receive(i, frame, ++frameNo);
      if (r.verdict === 'drop' && r.dropReason !== undefined) drops.dropped(portNames[i]!, r.dropReason, frame);
      perform(r);
    };
    for (const [local, end] of ends) {
      const i = portIndex.get(local);
      if (i === undefined) continue;
      end.handlers = {
        frame: (frame) => receive(i, frame),
        carrier: (up, reason) => {
          events.add('carrier', { port: local, up, reason });
          logEvents(core.setLinkUp(i, up));
        },
        event: (type, fields) => events.add(type, fields),
      };
    }
    // a port configured "shutdown" has no line from the start
    for (const p of model.ports) if (p.shutdown) ends.get(p.name)?.setAdminUp(false);
    this.nodes.set(name, { kind: 'switch', name, core, events, ends, portIndex, portNames, tapped, receive, logEvents, model, config, timers });
  }

  /** A node, running or not. */
  private nodeAny(name: string): SimNode {
    const n = this.nodes.get(name);
    if (!n) throw new VfabError('VFAB_NOT_FOUND', `no host or switch named ${name} (has: ${[...this.nodes.keys()].join(', ')})`);
    return n;
  }

  /** A running node: a killed one does not answer (as its daemon's control API would not). */
  node(name: string): SimNode {
    const n = this.nodeAny(name);
    if (this.stopped.has(name)) throw new VfabError('VFAB_DAEMON_DOWN', `${name} is not running (killed in this simulated run; restart it)`);
    return n;
  }

  host(name: string): SimHost {
    const n = this.node(name);
    if (n.kind !== 'host') throw new VfabError('VFAB_NOT_FOUND', `${name} is a switch, not a host`);
    return n;
  }

  /** The host a VM runs on (where vMotion moved it, else its topology host). */
  hostOfVm(vm: string): SimHost {
    const moved = this.vmMoved.get(vm);
    if (moved !== undefined) return this.host(moved);
    for (const n of this.nodes.values()) if (n.kind === 'host' && n.config.host.vms.some((v) => v.name === vm)) return this.node(n.name) as SimHost;
    throw new VfabError('VFAB_NOT_FOUND', `no VM named ${vm}`);
  }

  /** The cable end at "<node>.<interface>". */
  end(endpoint: string): SimLinkEnd {
    const e = this.ends.get(endpoint);
    if (!e) throw new VfabError('VFAB_BAD_ENDPOINT', `${endpoint} is not a cable end of the topology (a host uplink like esx1.vmnic0 or a switch port like sw1.Gi1/0/1)`);
    return e;
  }

  /** Turns the tap of a capture point on (hosts tap inside the core; switches check the capture set). */
  tap(point: string): void {
    const dot = point.indexOf('.');
    const nodeName = dot > 0 ? point.slice(0, dot) : point;
    const n = this.nodes.get(nodeName);
    if (n?.kind === 'host' || n === undefined) {
      // "esx1.vmnic0" or a VM's "web1.nic0": whichever host has it
      for (const h of this.nodes.values()) if (h.kind === 'host' && h.core.setTap(point, true)) return;
      throw new VfabError('VFAB_NOT_FOUND', `no capture point ${point}`);
    }
    if (!n.portIndex.has(point.slice(dot + 1))) throw new VfabError('VFAB_NOT_FOUND', `no capture point ${point}`);
  }

  /** Every host's and switch's events, in node order then log order. */
  allEvents() {
    return [...this.nodes.values()].flatMap((n) => n.events.since(0));
  }

  /** GET /control/status of a host, in the shape lib/counters/counters.ts reads. */
  hostStatus(h: SimHost) {
    return { name: h.name, kind: 'host' as const, links: [...h.ends.values()].map((e) => e.status()), ...h.core.status() };
  }

  switchStatus(s: SimSwitch) {
    return {
      name: s.name, kind: 'switch' as const, links: [...s.ends.values()].map((e) => e.status()),
      ports: s.core.ports().map((p) => ({ ...p, counters: s.core.portCounters(p.index) })),
    };
  }

  /** Applies a whole new topology (vfab set): hosts and switches whose model changed take it live. */
  reconfigure(after: Topology, what: string): string[] {
    const changes: string[] = [];
    for (const hm of after.hosts) {
      const h = this.nodes.get(hm.name);
      if (h?.kind !== 'host' || JSON.stringify(h.config.host) === JSON.stringify(hm)) continue;
      changes.push(...h.core.reconfigure(hm as HostModel, () => h.events.add('config-changed', { what })));
      h.config.host = hm;
      h.tick.schedule();
    }
    for (const sm of after.switches) {
      const s = this.nodes.get(sm.name);
      if (s?.kind !== 'switch' || JSON.stringify(s.model) === JSON.stringify(sm)) continue;
      const shutBefore = s.core.ports().map((p) => p.shutdown);
      const effects = s.core.reconfigure({ ...switchConfigFromModel(sm), name: s.core.name });
      s.events.add('config-changed', { what });
      s.logEvents(effects);
      for (const [i, p] of s.core.ports().entries()) if (shutBefore[i] !== p.shutdown) s.ends.get(p.name)?.setAdminUp(!p.shutdown);
      s.model = sm;
      changes.push(`${sm.name}: reconfigured`);
    }
    this.topology = after;
    return changes;
  }
}

function split(endpoint: string): [string, string] {
  const dot = endpoint.indexOf('.');
  return [endpoint.slice(0, dot), endpoint.slice(dot + 1)];
}
