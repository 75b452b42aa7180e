// The scenario runner's simulation driver: a ScenarioDriver (lib/scenario/runner.ts) over a SimFabric
// (daemons/sim/fabric.ts) instead of daemons. Every action is a direct call into the in-process nodes
// and every wait runs the scheduler (lib/sim/scheduler.ts) that far, so virtual time advances as fast as
// the CPU allows and a run with the same seed repeats exactly: timeline, counters and capture bytes.
// Scene time 0 is when the run starts, after SIM_SETTLE_MS of fabric time in which the fabric comes up
// (cables carrier, VMs power on, teaming pins ports), as `vfab up` does before a daemon run. Streams,
// pings and crafted frames are paced on the virtual clock; time scale does not apply (there is no wall
// clock to keep up with). Leaves out what simUnsupported (lib/sim/support.ts) refuses before a run.

import fs from 'node:fs';
import path from 'node:path';
import { VfabError } from '../../lib/errors.js';
import type { ActionStep } from '../../lib/scenario/model.js';
import type { PortUplink, PowerRequest, ScenarioDriver } from '../../lib/scenario/runner.js';
import type { DatastoreFileRow, MacTableRow, PowerAttempt, RarpFrame, RunEvidence, StreamEvidence } from '../../lib/scenario/evaluate.js';
import { type TimelineEntry, toTimelineEntry } from '../../lib/scenario/timeline.js';
import { counterPoints } from '../../lib/counters/counters.js';
import { findVm } from '../../lib/topology/model.js';
import { editTopologyText, rawTopology } from '../../lib/topology/edit.js';
import { NS_PER_MS, eventTimeMs, fabricMsOfCapture } from '../../lib/fabric-clock.js';
import { streamSeed } from '../../lib/sim/scheduler.js';
import type { StreamReceiver } from '../../lib/traffic/stream.js';
import type { Random } from '../../lib/clock.js';
import { setChangeFromArgs } from '../cli/commands/set.js';
import { craftFrames } from '../fabric/send.js';
import { findPoint } from '../fabric/counters.js';
import { guestInjectTarget } from '../common/inject.js';
import { checkPingSize } from '../common/vm-control.js';
import { migrateStepDetail, portUplinkFromStatus, rarpsOfCapture, uplinkTxFromStatus } from '../scenario/driver.js';
import { MIGRATE_FOLLOW_MS } from '../vmotion/cli.js';
import { simVmotion } from './vmotion.js';
import { SIM_CLOCK_ANCHOR, type SimFabric, type SimHost } from './fabric.js';
import type { SimStorage } from './storage.js';

/** Fabric ms the simulated fabric runs before the scenario's first step (carrier, power-on, pinning). */
export const SIM_SETTLE_MS = 1000;
/** A ping's pace and timeout, as the daemon driver asks hostd for them. */
const PING_INTERVAL_MS = 200;
const PING_TIMEOUT_MS = 1000;
const PING_GRACE_MS = 100;
/** ARP resolution before a stream: attempts and the pause between them (hostd's loop). */
const STREAM_RESOLVE_TRIES = 100;
const STREAM_RESOLVE_PAUSE_MS = 20;
/** After a stream's last frame: time for the frames in flight to arrive (the daemon driver waits 100 ms). */
const STREAM_DRAIN_MS = 100;

interface SimStream {
  action: ActionStep & { kind: 'traffic' };
  toVm: string;
  receiver: StreamReceiver;
  sent: number;
  endsAtMs: number;
  error?: string;
}

export interface SimDriverOptions {
  fabric: SimFabric;
  /** The topology file's text (vfab set steps edit it, as the running configuration). */
  topologyText: string;
  topologyFile: string;
  outDir: string;
  log?: (line: string) => void;
}

export class SimDriver implements ScenarioDriver {
  private readonly f: SimFabric;
  private readonly sceneStartMs: number;
  private readonly streams = new Map<string, SimStream>();
  private readonly captures: Array<{ name: string; file: string; points: string[]; capture: ReturnType<SimFabric['captures']['start']> }> = [];
  private readonly pingIds: Random;
  private topologyText: string;
  readonly warnings: string[] = [];

  constructor(private readonly o: SimDriverOptions) {
    this.f = o.fabric;
    this.topologyText = o.topologyText;
    this.pingIds = this.f.random.stream('ping-ids');
    this.f.sched.runUntil(SIM_SETTLE_MS);
    this.sceneStartMs = this.f.sched.nowMs();
  }

  /** Rounded as event times are (lib/fabric-clock.ts eventTimeMs), so a step and the event it caused compare equal. */
  nowMs(): number {
    return eventTimeMs(this.f.sched.nowMs()) - this.sceneStartMs;
  }

  async sleep(ms: number): Promise<void> {
    await this.runTo(this.f.sched.nowMs() + Math.max(0, ms));
  }

  /**
   * Runs the fabric until `done()` holds or the clock reaches `untilMs`. With storage, asynchronous daemon
   * code runs too: the pump lets its promise continuations run at their virtual instant
   * (daemons/sim/pump.ts); without, the scheduler runs straight through (no macrotask turn per instant).
   */
  private async runTo(untilMs: number, done: () => boolean = () => false): Promise<void> {
    if (this.f.storage) await this.f.pump.run(done, untilMs);
    else this.f.sched.runUntilTrue(done, untilMs);
  }

  /** One clock: event times and the driver's time are the same number. */
  clockSlackMs(): number {
    return 0;
  }

  private targetIp(text: string): { ip: string; vm: string | undefined } {
    const t = this.f.topology;
    if (/^\d+\.\d+\.\d+\.\d+$/.test(text)) {
      for (const h of t.hosts) for (const vm of h.vms) if (vm.nics.some((n) => n.ip?.address === text)) return { ip: text, vm: vm.name };
      return { ip: text, vm: undefined };
    }
    const found = findVm(t, text);
    const ip = found?.vm.nics.find((n) => n.ip)?.ip?.address;
    if (!found || !ip) throw new VfabError('VFAB_SCENARIO_TARGET', `${text} is not a VM with an IP address`);
    return { ip, vm: found.vm.name };
  }

  async act(a: ActionStep): Promise<string | undefined> {
    const f = this.f;
    this.o.log?.(`  ${(this.nowMs() / 1000).toFixed(3)} s  ${a.kind}`);
    switch (a.kind) {
      case 'traffic':
        return await this.startStream(a);
      case 'ping':
        return (await this.ping(a.from, a.to, a.count)).detail;
      case 'link': {
        const end = f.end(a.endpoint);
        const node = f.node(end.node);
        // the cause is logged before its effects, as the daemons do
        node.events.add('admin-link', node.kind === 'host' ? { uplink: end.iface, up: a.up } : { port: end.iface, up: a.up });
        end.setAdminUp(a.up);
        return undefined;
      }
      case 'impair': {
        const { kind: _k, endpoint, clear, ...req } = a;
        f.end(endpoint).impair(clear ? {} : req, streamSeed(f.random.seed, `impair:${endpoint}`));
        return undefined;
      }
      case 'flap':
        f.end(a.endpoint).flap({ periodMs: a.periodMs, downMs: a.downMs, count: a.count });
        return undefined;
      case 'shut': {
        const end = f.end(a.endpoint);
        const sw = f.node(end.node);
        if (sw.kind !== 'switch') throw new VfabError('VFAB_BAD_ENDPOINT', `${a.endpoint} is not a physical switch port (shut applies to switch ports, e.g. sw1.Gi1/0/1)`);
        sw.logEvents(sw.core.setShutdown(sw.portIndex.get(end.iface)!, a.shutdown));
        end.setAdminUp(!a.shutdown);
        return undefined;
      }
      case 'power': {
        const h = f.hostOfVm(a.vm);
        if (a.on) h.core.powerOn(a.vm);
        else h.core.powerOff(a.vm);
        h.tick.schedule();
        return undefined;
      }
      case 'setMac': {
        const h = f.hostOfVm(a.vm);
        const nic = h.core.pickNic(a.vm, '0.0.0.0', a.nic);
        const ep = h.core.endpoint(a.vm);
        h.core.applyGuestActions(a.vm, ep.setMac(nic, a.mac));
        h.tick.schedule();
        return `guest MAC now ${a.macText.toLowerCase()}`;
      }
      case 'setMtu': {
        const h = f.hostOfVm(a.vm);
        const ep = h.core.endpoint(a.vm);
        ep.setMtu(h.core.pickNic(a.vm, '0.0.0.0', a.nic), a.mtu);
        return `guest MTU now ${a.mtu}`;
      }
      case 'promiscuous': {
        const h = f.hostOfVm(a.vm);
        h.core.applyGuestActions(a.vm, h.core.endpoint(a.vm).setPromiscuous(h.core.pickNic(a.vm, '0.0.0.0', a.nic), a.on));
        h.tick.schedule();
        return `guest promiscuous mode ${a.on ? 'on' : 'off'}`;
      }
      case 'set': {
        const change = await setChangeFromArgs(a.argv);
        const edited = editTopologyText(this.topologyText, this.o.topologyFile, change.edits(rawTopology(this.topologyText), f.topology));
        f.reconfigure(edited.topology, change.what);
        this.topologyText = edited.text;
        return `${change.what}: done`;
      }
      case 'send':
        return await this.send(a);
      case 'capture': {
        for (const p of a.points) f.tap(p);
        const file = path.join(this.o.outDir, `${a.name}.pcapng`);
        this.captures.push({ name: a.name, file, points: a.points, capture: f.captures.start(a.name, a.points) });
        // relative to the output directory: two runs into two directories write the same timeline
        return `-> ${path.basename(file)}`;
      }
      case 'wait':
        await this.sleep(a.ms);
        return undefined;
      case 'kill':
        if (f.storage?.isArray(a.node)) return f.storage.killArray(a.node) ? 'killed' : 'killed (was not running)';
        return f.kill(a.node) ? 'killed' : 'killed (was not running)';
      case 'restart':
        if (f.storage?.isArray(a.node)) {
          await f.storage.restartArray(a.node);
          return 'started afresh (LUN contents kept)';
        }
        f.restart(a.node);
        return 'started afresh';
      case 'datastoreFormat':
        return this.storage().format(a);
      case 'storageFault':
        return this.storage().fault(a.fault);
      case 'isolate':
        return this.storage().isolate(a.host, a.isolated);
      case 'migrate':
        return this.migrate(a.vm, a.to);
      default:
        throw new VfabError('VFAB_SIM_UNSUPPORTED', `${a.kind} is not simulated (docs/simulation.md); run this scenario without --sim`);
    }
  }

  /**
   * vMotion with the daemons' service on both hosts (daemons/sim/vmotion.ts), followed on the virtual
   * clock until the source reports the result (as the daemon driver polls it), for at most
   * MIGRATE_FOLLOW_MS of fabric time. The guest's routes then go to its new host.
   */
  private async migrate(vm: string, to: string): Promise<string> {
    const f = this.f;
    const src = simVmotion(f, f.hostOfVm(vm));
    simVmotion(f, f.host(to));
    const started = (await src.migrate(vm, { to, toPort: 1 })) as { migrationId: number };
    type Progress = { result: ({ outcome: string; downtimeMs: number; passes: unknown[]; transfer?: { bytesSent: number } } & Record<string, unknown>) | null };
    const result = () => (src.progress(started.migrationId) as Progress).result;
    // the vMotion service is asynchronous: follow it through the pump, whatever the topology
    await f.pump.run(() => result() !== null, f.sched.nowMs() + MIGRATE_FOLLOW_MS);
    const r = result();
    const detail = migrateStepDetail(vm, to, r === null ? null : { ...r, bytes: r.transfer?.bytesSent ?? 0 } as never);
    f.vmMoved.set(vm, to);
    return detail;
  }

  private async startStream(a: ActionStep & { kind: 'traffic' }): Promise<string> {
    const { ip, vm: toVm } = this.targetIp(a.to);
    if (!toVm) throw new VfabError('VFAB_SCENARIO_TARGET', `traffic ${a.name}: ${a.to} is not the address of a VM in the topology (a sink must count it)`);
    const sched = this.f.sched;
    const dst = this.f.hostOfVm(toVm);
    const receiver = dst.core.addStreamSink(toVm, a.streamId, a.udpPort);
    const src = this.f.hostOfVm(a.from);
    const core = src.core;
    core.isPoweredOn(a.from);
    const nic = core.pickNic(a.from, ip);
    core.checkStreamFrame(a.from, nic, a.frameBytes);
    const frameBytes = Math.min(Math.max(64, a.frameBytes), 9018);
    // resolve the next hop first (ARP through the fabric), as hostd does
    let sender = core.streamSender(a.from, nic, ip, a.udpPort, frameBytes, a.streamId);
    for (let i = 0; !sender && i < STREAM_RESOLVE_TRIES; i++) {
      src.tick.schedule();
      await this.runTo(sched.nowMs() + STREAM_RESOLVE_PAUSE_MS);
      sender = core.streamSender(a.from, nic, ip, a.udpPort, frameBytes, a.streamId);
    }
    if (!sender) throw new VfabError('VFAB_STREAM_UNRESOLVED', `${a.from} could not resolve ${ip} (no ARP reply)`);
    const s = sender;
    const total = Math.max(0, Math.floor(a.seconds * a.ratePps));
    const startMs = sched.nowMs();
    const run: SimStream = { action: a, toVm, receiver, sent: 0, endsAtMs: startMs + a.seconds * 1000 };
    this.streams.set(a.name, run);
    // frame k leaves at start + k / rate: one timer per frame, each setting the next
    const sendNext = () => {
      if (!this.f.running(src.name) || this.f.nodes.get(src.name) !== src) {
        run.error = `${src.name} (the host of ${a.from}) was killed`;
        return;
      }
      if (!core.isPoweredOn(a.from)) {
        run.error = `${a.from} was powered off`;
        return;
      }
      core.sendStreamFrames(s, 1, sched.nowMs() * NS_PER_MS);
      run.sent = s.sent;
      src.tick.schedule();
      if (s.sent < total) sched.at(startMs + (s.sent * 1000) / a.ratePps, sendNext);
      else src.events.add('stream-done', { vm: a.from, streamId: a.streamId, sent: s.sent, seconds: a.seconds });
    };
    if (total > 0) sendNext();
    return `stream ${a.streamId} to ${ip}:${a.udpPort}`;
  }

  private async send(a: ActionStep & { kind: 'send' }): Promise<string> {
    const f = this.f;
    const { kind: _k, ...spec } = a;
    const { frames, gapsMs } = craftFrames({ ...spec, timeScale: 1 });
    const point = a.point;
    const dot = point.indexOf('.');
    const node = f.nodes.get(point.slice(0, dot));
    if (node) f.node(node.name); // a killed node takes no frames (VFAB_DAEMON_DOWN)
    let take: (frame: Buffer) => void;
    let owner: { events: { add(type: string, fields: Record<string, unknown>): void }; after(): void };
    if (node?.kind === 'switch') {
      const i = node.portIndex.get(point.slice(dot + 1));
      if (i === undefined) throw new VfabError('VFAB_INJECT_NOT_FOUND', `${node.name} has no injection point ${point}`);
      take = (frame) => node.receive(i, frame);
      owner = { events: node.events, after: () => {} };
    } else if (node?.kind === 'host') {
      const vmnic = point.slice(dot + 1);
      take = (frame) => node.core.receiveUplink(vmnic, frame);
      owner = { events: node.events, after: () => node.tick.schedule() };
    } else {
      const h = f.hostOfVm(point.slice(0, dot));
      take = guestInjectTarget(h.core, point);
      owner = { events: h.events, after: () => h.tick.schedule() };
    }
    const sched = f.sched;
    let bytes = 0;
    let count = 0;
    let atMs = sched.nowMs();
    for (let round = 0; round < a.count; round++) {
      frames.forEach((frame, i) => {
        atMs += gapsMs[i]!;
        sched.at(atMs, () => {
          take(frame);
          owner.after();
        });
        count++;
        bytes += frame.length;
      });
    }
    await this.runTo(atMs);
    owner.events.add('frames-injected', { point, count, bytes });
    return `${count} frames (${bytes} bytes) via ${node?.name ?? f.hostOfVm(point.slice(0, dot)).name}`;
  }

  async ping(from: string, to: string, count: number): Promise<{ sent: number; received: number; detail: string }> {
    const { ip } = this.targetIp(to);
    const h = this.f.hostOfVm(from);
    const core = h.core;
    const nic = core.pickNic(from, ip);
    checkPingSize(core.endpoint(from), from, nic, 56);
    const id = (this.pingIds() * 0xffff) | 0;
    const replies = new Map<number, { rttMs: number | null; error?: string }>();
    const stop = core.listen(from, (a) => {
      if (a.kind === 'pingReply' && a.id === id) replies.set(a.seq, { rttMs: a.rttMs });
      else if (a.kind === 'pingTimeout' && a.id === id) replies.set(a.seq, { rttMs: null, error: 'timeout' });
      else if (a.kind === 'sendFailed') for (let s = 0; s < count; s++) if (!replies.has(s)) replies.set(s, { rttMs: null, error: a.message });
    });
    const sched = this.f.sched;
    try {
      for (let seq = 0; seq < count && replies.size < count; seq++) {
        core.ping(from, nic, ip, { id, seq, sizeBytes: 56, timeoutMs: PING_TIMEOUT_MS });
        h.tick.schedule();
        if (seq < count - 1) await this.runTo(sched.nowMs() + PING_INTERVAL_MS);
      }
      await this.runTo(sched.nowMs() + PING_TIMEOUT_MS + PING_GRACE_MS, () => replies.size >= count);
    } finally {
      stop();
    }
    const ordered = [...Array(count).keys()].map((s) => replies.get(s) ?? { rttMs: null, error: 'no answer' });
    const received = ordered.filter((r) => r.rttMs !== null).length;
    const errors = [...new Set(ordered.filter((x) => x.rttMs === null).map((x) => x.error ?? 'timeout'))];
    return { sent: count, received, detail: `ping ${from} -> ${ip}: ${received}/${count} replies${errors.length ? ` (${errors.join(', ')})` : ''}` };
  }

  async macTable(switchName: string): Promise<MacTableRow[]> {
    const n = this.f.node(switchName);
    if (n.kind !== 'switch') throw new VfabError('VFAB_NOT_FOUND', `${switchName} is a host, not a switch`);
    return n.core.macTable() as unknown as MacTableRow[];
  }

  async portUplink(vm: string): Promise<PortUplink> {
    const h = this.f.hostOfVm(vm);
    return portUplinkFromStatus(this.f.hostStatus(h), vm);
  }

  async uplinkTxFrames(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const n of this.f.nodes.values()) if (n.kind === 'host') uplinkTxFromStatus(n.name, this.f.hostStatus(n), out);
    return out;
  }

  async counters(points: string[]): Promise<Record<string, Record<string, number>>> {
    const out: Record<string, Record<string, number>> = {};
    for (const p of points) {
      const nodeName = this.nodeOfPoint(p);
      const n = this.f.node(nodeName);
      const all = counterPoints(n.kind === 'host' ? this.f.hostStatus(n) : this.f.switchStatus(n));
      out[p] = findPoint(all, p, nodeName).counters;
    }
    return out;
  }

  /** The node that counts at a point: its own prefix, or a VM's host ("web1.nic0" -> esx1). */
  private nodeOfPoint(point: string): string {
    const first = point.slice(0, Math.max(0, point.indexOf('.')));
    if (this.f.nodes.has(first)) return first;
    return this.f.hostOfVm(first).name;
  }

  /** The simulated storage (daemons/sim/storage.ts); VFAB_SIM_UNSUPPORTED when the topology has no datastores. */
  private storage(): SimStorage {
    if (this.f.storage === undefined) throw new VfabError('VFAB_SIM_UNSUPPORTED', `topology ${this.f.topology.name} has no datastores: its storage is not simulated (docs/simulation.md)`);
    return this.f.storage;
  }

  async vmPower(req: PowerRequest): Promise<PowerAttempt> {
    this.o.log?.(`  ${(this.nowMs() / 1000).toFixed(3)} s  ${req.on ? 'power-on' : 'power-off'} ${req.vm} on ${req.host}`);
    return this.storage().vmPower(req, () => this.nowMs());
  }

  async datastoreFiles(datastore: string, via?: string): Promise<{ via: string; files: DatastoreFileRow[] }> {
    return this.storage().datastoreFiles(datastore, via);
  }

  async datastoreState(host: string, datastore: string): Promise<{ state: string | null; error?: string | null }> {
    return this.storage().datastoreState(host, datastore);
  }

  async collect(): Promise<RunEvidence> {
    const sched = this.f.sched;
    // streams end on their own clock: run until the last one has sent and its frames arrived
    const lastEnd = Math.max(0, ...[...this.streams.values()].map((s) => s.endsAtMs));
    if (lastEnd > 0) await this.runTo(Math.max(sched.nowMs(), lastEnd) + STREAM_DRAIN_MS);
    const streams = new Map<string, StreamEvidence>();
    for (const [name, s] of this.streams) {
      // a receiver that vMotion moved is restored on the VM's new host: that one counts now
      const dst = this.f.nodes.get(this.f.vmMoved.get(s.toVm) ?? '');
      const moved = dst?.kind === 'host' && this.f.running(dst.name) ? dst.core.streamSinks(s.toVm).find((x) => x.udpPort === s.action.udpPort)?.receiver : undefined;
      const rep = (moved ?? s.receiver).report();
      streams.set(name, {
        name, from: s.action.from, to: s.toVm, sent: s.sent, received: rep.received, lost: Math.max(0, s.sent - rep.received),
        maxGapMs: rep.maxGapMs,
        maxGapAtMs: rep.maxGapStartNs === null ? null : rep.maxGapStartNs / NS_PER_MS - this.sceneStartMs,
        ...(s.error ? { error: s.error } : {}),
      });
    }
    const rarps: RarpFrame[] = [];
    const capturedPoints = new Set<string>();
    fs.mkdirSync(this.o.outDir, { recursive: true });
    for (const c of this.captures) {
      const bytes = this.f.captures.stop(c.capture);
      fs.writeFileSync(c.file, bytes);
      for (const p of c.points) capturedPoints.add(p);
      const r = rarpsOfCapture(bytes, (ns) => fabricMsOfCapture(SIM_CLOCK_ANCHOR, ns) - this.sceneStartMs);
      if (typeof r === 'string') this.warnings.push(`capture ${c.file}: ${r}`);
      else rarps.push(...r);
    }
    this.captures.length = 0;
    rarps.sort((x, y) => x.sceneMs - y.sceneMs);
    const timeline: TimelineEntry[] = this.f.allEvents().map((e) => toTimelineEntry(e, this.sceneStartMs));
    return { timeline, streams, rarps, capturedPoints };
  }

  /** Nothing to stop: the fabric is plain objects; kept for the run's teardown path. */
  async close(): Promise<void> {}

  /** Which host runs a VM (for tests). */
  hostOf(vm: string): SimHost {
    return this.f.hostOfVm(vm);
  }
}
