// The scenario runner's I/O side: a ScenarioDriver (lib/scenario/runner.ts) over a running fabric. Turns
// actions into control-API calls (links, impairments, flaps, shutdown, power, MAC changes, pings,
// background streams), kill/restart into daemons/fabric/faults.ts, storage faults into
// daemons/fabric/storage-faults.ts, datastore power-ons/offs, formats and lock/state reads into hostd's
// datastore routes (daemons/datastore/host-datastores.ts), captures into pcapng files in the
// run's output directory, and gathers the evidence at the end: stream reports, RARP frames read back from
// the captures, and every daemon's events on the scene clock (fabric ms since the scenario started).
// Daemons, captures and the driver read one fabric clock (lib/fabric-clock.ts, anchored by `vfab up`),
// so scene time is fabric time minus the fabric time the scenario started at, for every daemon and every
// captured frame alike (a restarted daemon keeps the anchor). Scenario times are fabric time: waits sleep ms / timeScale, a
// stream's rate and length are converted to wall time for hostd. Leaves out step order and checking
// (lib/scenario) and bringing the fabric up (run.ts).

import fs from 'node:fs';
import path from 'node:path';
import { VfabError } from '../../lib/errors.js';
import { control } from '../common/control-client.js';
import { type FabricState, daemonForEndpoint, findDaemon } from '../fabric/state.js';
import { startCapture, type CaptureSession } from '../fabric/capture-client.js';
import { setChangeFromArgs } from '../cli/commands/set.js';
import { changeRunningConfig } from '../fabric/running-config.js';
import { killDaemon, restartDaemon, impairEndpoint, flapEndpoint, shutPort, isolateHost } from '../fabric/faults.js';
import { readPcapng } from '../../lib/capture/pcapng.js';
import { ETHERTYPE_RARP, ETH_HEADER_BYTES, VLAN_TAG_BYTES, ethInnerType, ethIsTagged, ethVid } from '../../lib/wire/ethernet.js';
import { readPointCounters } from '../fabric/counters.js';
import { readMac } from '../../lib/wire/mac.js';
import { findVm, type Topology } from '../../lib/topology/model.js';
import type { ActionStep } from '../../lib/scenario/model.js';
import type { ScenarioDriver, PortUplink } from '../../lib/scenario/runner.js';
import type { MacTableRow, RarpFrame, RunEvidence, StreamEvidence } from '../../lib/scenario/evaluate.js';
import { type TimelineEntry, toTimelineEntry } from '../../lib/scenario/timeline.js';
import { applyStorageFault } from '../fabric/storage-faults.js';
import { MAX_POWER_ON_WAIT_MS } from '../datastore/host-datastores.js';
import { DS_ERROR } from '../../lib/datastore/errors.js';
import { resolveHostDatastore } from '../../lib/scenario/load.js';
import type { DatastoreFileRow, PowerAttempt } from '../../lib/scenario/evaluate.js';
import type { PowerRequest } from '../../lib/scenario/runner.js';
import { migrateAndFollow } from '../vmotion/cli.js';
import { sendFrames, planSend } from '../fabric/send.js';
import { applyGuestSetting, setVmPower } from '../fabric/guest-actions.js';
import { EventPoller } from './events.js';
import { FabricClock } from '../common/fabric-clock.js';
import { fabricMsOfCapture } from '../../lib/fabric-clock.js';

/** How often (wall ms) the driver reads every daemon's events during a run. */
export const EVENT_POLL_INTERVAL_MS = 250;
/** Extra wall time a stream may take beyond its length before the driver gives up waiting for it. */
export const STREAM_GRACE_MS = 15_000;
/** Wall time one ping may take beyond its own timeouts. */
const PING_SLACK_MS = 10_000;
/** Wall time a power-on or -off may take beyond its own wait (fabric ms / time scale). */
const POWER_SLACK_MS = 10_000;
/** Wall time a format waits for every host's array to attach (the datastore leaves `waiting`). */
export const FORMAT_READY_TIMEOUT_MS = 30_000;
const FORMAT_READY_POLL_MS = 50;
/** Wall time one format or mount request may take. */
const FORMAT_TIMEOUT_MS = 120_000;
/** ARP offset in a RARP packet: sender hardware address (RFC 903 reuses the ARP layout). */
const RARP_SHA_OFFSET = 8;
const RARP_MIN_BYTES = 28;

/** Extra slack (wall ms) for timer and event-loop jitter when comparing daemon and runner times. */
const CLOCK_SLACK_WALL_MS = 2;

const epochNowMs = () => performance.timeOrigin + performance.now();

interface StreamRun {
  action: ActionStep & { kind: 'traffic' };
  toVm: string;
  target: string;
  send: Promise<any>;
  result?: any;
  error?: string;
}

export interface FabricDriverOptions {
  state: FabricState;
  stateDir: string;
  topology: Topology;
  timeScale: number;
  outDir: string;
  /** Progress lines (each step as it runs). */
  log?: (line: string) => void;
}

/** Wall time a run waits, before its scene starts, for every host's datastores to leave `waiting`/`mounting`. */
export const DATASTORES_SETTLE_TIMEOUT_MS = 30_000;
const DATASTORES_SETTLE_POLL_MS = 50;

/**
 * Before the scene starts: waits until no host's datastore (VMFS-like or NAS) is still `waiting` for its
 * array or `mounting`, so a first step such as a power-on meets the datastores as `vfab up` leaves them
 * once settled, however fast the daemons came up. Hosts without datastores answer an empty list (or no
 * route: skipped). Gives up after DATASTORES_SETTLE_TIMEOUT_MS with a warning; the steps then report.
 */
export async function waitForDatastoresSettled(state: FabricState, log?: (line: string) => void): Promise<void> {
  const deadline = Date.now() + DATASTORES_SETTLE_TIMEOUT_MS;
  let pending = state.daemons.filter((d) => d.kind === 'host');
  while (pending.length > 0) {
    const still = await Promise.all(pending.map(async (d) => {
      try {
        const r = await control<{ datastores?: Array<{ state?: string }> }>(d, state.token, 'GET', '/control/datastores');
        return (r.datastores ?? []).some((x) => x.state === 'waiting' || x.state === 'mounting');
      } catch {
        return false;
      }
    }));
    pending = pending.filter((_, i) => still[i]);
    if (pending.length === 0) return;
    if (Date.now() > deadline) {
      log?.(`  warning: datastores of ${pending.map((d) => d.name).join(', ')} still waiting or mounting after ${DATASTORES_SETTLE_TIMEOUT_MS} ms; starting the scene anyway`);
      return;
    }
    await new Promise((r) => setTimeout(r, DATASTORES_SETTLE_POLL_MS));
  }
}

export class FabricDriver implements ScenarioDriver {
  private readonly startEpochMs = epochNowMs();
  private readonly clock: FabricClock;
  /** Fabric ms when the scenario started: scene time 0. */
  readonly sceneStartMs: number;
  private readonly poller: EventPoller;
  private readonly events: TimelineEntry[] = [];
  private readonly captures: Array<{ name: string; file: string; points: string[]; session: CaptureSession }> = [];
  private readonly streams = new Map<string, StreamRun>();
  private pollTimer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private stopRequested = false;
  private wake: (() => void) | undefined;
  readonly warnings: string[] = [];

  constructor(private readonly o: FabricDriverOptions) {
    this.clock = new FabricClock(o.state.clock, o.timeScale);
    this.sceneStartMs = this.clock.nowMs();
    this.poller = new EventPoller(o.state);
  }

  /** Starts polling events. Call once before running. */
  async start(): Promise<void> {
    await this.pollOnce();
    this.schedulePoll();
  }

  /** Ctrl-C: the runner stops before its next step; a running wait ends at once. */
  abort(): void {
    this.stopRequested = true;
    this.wake?.();
  }

  aborted(): boolean {
    return this.stopRequested;
  }

  nowMs(): number {
    return this.clock.nowMs() - this.sceneStartMs;
  }

  private epochToScene(epochMs: number): number {
    return (epochMs - this.startEpochMs) * this.o.timeScale;
  }

  sleep(ms: number): Promise<void> {
    if (this.stopRequested) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(done, ms / this.o.timeScale);
      const self = this;
      function done() {
        clearTimeout(t);
        self.wake = undefined;
        resolve();
      }
      this.wake = done;
    });
  }

  /** How far (scene ms) a daemon's event time may be off the runner's clock: timer and event-loop jitter only (one clock). */
  clockSlackMs(): number {
    return CLOCK_SLACK_WALL_MS * this.o.timeScale;
  }

  private schedulePoll(): void {
    this.pollTimer = setTimeout(() => {
      this.polling = this.pollOnce().finally(() => {
        this.polling = undefined;
        if (this.pollTimer !== undefined) this.schedulePoll();
      });
    }, EVENT_POLL_INTERVAL_MS);
    this.pollTimer.unref();
  }

  private async pollOnce(): Promise<void> {
    for (const r of await this.poller.poll()) {
      for (const e of r.events) this.events.push(toTimelineEntry(e, this.sceneStartMs));
    }
  }

  private targetIp(text: string): { ip: string; vm: string | undefined } {
    if (/^\d+\.\d+\.\d+\.\d+$/.test(text)) {
      for (const h of this.o.topology.hosts) for (const vm of h.vms) if (vm.nics.some((n) => n.ip?.address === text)) return { ip: text, vm: vm.name };
      return { ip: text, vm: undefined };
    }
    const found = findVm(this.o.topology, text);
    const ip = found?.vm.nics.find((n) => n.ip)?.ip?.address;
    if (!found || !ip) throw new VfabError('VFAB_SCENARIO_TARGET', `${text} is not a VM with an IP address`);
    return { ip, vm: found.vm.name };
  }

  private hostOf(vm: string) {
    const host = this.o.state.vmHosts[vm];
    if (!host) throw new VfabError('VFAB_NOT_FOUND', `no VM named ${vm}`);
    return findDaemon(this.o.state, host);
  }

  async act(a: ActionStep): Promise<string | undefined> {
    const { state } = this.o;
    this.o.log?.(`  ${(this.nowMs() / 1000).toFixed(3)} s  ${a.kind}`);
    switch (a.kind) {
      case 'traffic': {
        const { ip, vm: toVm } = this.targetIp(a.to);
        if (!toVm) throw new VfabError('VFAB_SCENARIO_TARGET', `traffic ${a.name}: ${a.to} is not the address of a VM in the topology (a sink must count it)`);
        await control(this.hostOf(toVm), state.token, 'POST', '/control/streams/sink', { vm: toVm, udpPort: a.udpPort, streamId: a.streamId });
        const wallSeconds = a.seconds / this.o.timeScale;
        const body = { vm: a.from, target: ip, udpPort: a.udpPort, frameBytes: a.frameBytes, seconds: wallSeconds, ratePps: a.ratePps * this.o.timeScale, streamId: a.streamId, background: true };
        // a background sender answers at once: a stream hostd refuses (frames larger than the vNIC can
        // send, an unknown VM) fails this step here, not quietly at the end of the run
        const result = await control(this.hostOf(a.from), state.token, 'POST', '/control/streams/send', body, wallSeconds * 1000 + STREAM_GRACE_MS);
        this.streams.set(a.name, { action: a, toVm, target: ip, send: Promise.resolve(result), result });
        return `stream ${a.streamId} to ${ip}:${a.udpPort}`;
      }
      case 'ping': {
        const r = await this.ping(a.from, a.to, a.count);
        return r.detail;
      }
      case 'link': {
        const { daemon, iface } = daemonForEndpoint(state, a.endpoint);
        await control(daemon, state.token, 'POST', `/control/links/${encodeURIComponent(iface)}`, { up: a.up });
        return undefined;
      }
      case 'impair': {
        const { kind: _k, endpoint, clear, ...req } = a;
        await impairEndpoint(state, endpoint, clear ? {} : req);
        return undefined;
      }
      case 'flap':
        await flapEndpoint(state, a.endpoint, { periodMs: a.periodMs, downMs: a.downMs, count: a.count });
        return undefined;
      case 'shut':
        await shutPort(state, a.endpoint, a.shutdown);
        return undefined;
      case 'kill': {
        const r = await killDaemon(state, a.node);
        return `pid ${r.pid}${r.wasRunning ? '' : ' (was not running)'}`;
      }
      case 'restart': {
        // keep what the old process logged
        const d = findDaemon(state, a.node);
        await this.pollOnce().catch(() => {});
        const r = await restartDaemon(state, a.node, { stateDir: this.o.stateDir, detached: false });
        this.poller.reset(d.name);
        return `pid ${r.oldPid} -> ${r.pid}`;
      }
      case 'isolate': {
        const r = await isolateHost(state, a.host, a.isolated);
        return `${r.vmk} ${r.up ? 'unblocked' : 'blocked'}`;
      }
      case 'power':
        await setVmPower(state, a.vm, a.on);
        return undefined;
      case 'migrate': {
        const { result: r } = await migrateAndFollow(state, a.vm, a.to, (line) => this.o.log?.(`    ${line}`));
        const detail = migrateStepDetail(a.vm, a.to, r);
        state.vmHosts[a.vm] = a.to; // guest routes (pings, streams) go to its new host
        return detail;
      }
      case 'set': {
        // the same path as the vfab set command: parsed with its table, checked, applied, saved
        const change = await setChangeFromArgs(a.argv);
        await changeRunningConfig(state, change);
        return `${change.what}: done`;
      }
      case 'setMac': {
        const r = await control<{ mac: string }>(this.hostOf(a.vm), state.token, 'POST', `/control/vms/${encodeURIComponent(a.vm)}/mac`, { ...(a.nic ? { nic: a.nic } : {}), mac: a.macText });
        return `guest MAC now ${r.mac}`;
      }
      case 'setMtu': {
        const r = await applyGuestSetting(state, a.vm, a.nic, { mtu: a.mtu });
        return `guest MTU now ${r.mtu}`;
      }
      case 'promiscuous': {
        const r = await applyGuestSetting(state, a.vm, a.nic, { promiscuous: a.on });
        return `guest promiscuous mode ${r.promiscuous ? 'on' : 'off'}`;
      }
      case 'send': {
        // rate and a file's gaps are fabric time: the wall pace is the scale times faster
        const { kind: _k, ...spec } = a;
        const r = await sendFrames(state, a.point, planSend({ ...spec, timeScale: this.o.timeScale }));
        return `${r.frames} frames (${r.bytes} bytes) via ${r.daemon}`;
      }
      case 'capture': {
        const file = path.join(this.o.outDir, `${a.name}.pcapng`);
        const session = await startCapture(state, a.points, file, 'pcapng');
        this.captures.push({ name: a.name, file, points: a.points, session });
        return `-> ${file}`;
      }
      case 'wait':
        await this.sleep(a.ms);
        return undefined;
      case 'datastoreFormat':
        return this.formatDatastore(a);
      case 'storageFault':
        return (await applyStorageFault(state, a.fault)).message;
      case 'vmPower':
      case 'vmPowerRace':
        throw new VfabError('VFAB_SCENARIO_STEP', `${a.kind} is run by the runner through vmPower (runner bug)`);
    }
  }

  private hostDaemon(host: string) {
    const d = findDaemon(this.o.state, host);
    if (d.kind !== 'host') throw new VfabError('VFAB_NOT_FOUND', `${host} is a ${d.kind}, not a host`);
    return d;
  }

  private datastoreOn(host: string, datastore: string | undefined): string {
    const r = resolveHostDatastore(this.o.topology, host, datastore);
    if (!r.ok) throw new VfabError('VFAB_HOSTDATASTORE_NOT_FOUND', r.message);
    return r.name;
  }

  /** Hosts of the topology that list `datastore`, in topology order. */
  private hostsListing(datastore: string): string[] {
    return this.o.topology.hosts.filter((h) => (h.datastores ?? []).some((d) => d.name === datastore)).map((h) => h.name);
  }

  private dsRoute(datastore: string, rest: string): string {
    return `/control/datastores/${encodeURIComponent(datastore)}/${rest}`;
  }

  async vmPower(req: PowerRequest): Promise<PowerAttempt> {
    const started = this.nowMs();
    const verb = req.on ? 'power-on' : 'power-off';
    this.o.log?.(`  ${(started / 1000).toFixed(3)} s  ${verb} ${req.vm} on ${req.host}`);
    try {
      const ds = this.datastoreOn(req.host, req.datastore);
      const wallMs = (req.maxWaitMs ?? MAX_POWER_ON_WAIT_MS) / this.o.timeScale + POWER_SLACK_MS;
      const body = req.on && req.maxWaitMs !== undefined ? { waitMs: req.maxWaitMs } : {};
      const r = await control<{ files?: Array<{ path: string }>; released?: string[] }>(this.hostDaemon(req.host), this.o.state.token, 'POST',
        this.dsRoute(ds, `vms/${encodeURIComponent(req.vm)}/${verb}`), body, wallMs);
      const files = req.on ? (r.files ?? []).map((f) => f.path) : (r.released ?? []);
      return { host: req.host, on: req.on, outcome: 'ok', message: `${req.on ? 'opened' : 'released'} ${files.join(', ') || 'nothing'} on ${ds}`, tookMs: this.nowMs() - started };
    } catch (e) {
      const code = (e as VfabError).code;
      return { host: req.host, on: req.on, outcome: code === DS_ERROR.LOCKED ? 'locked' : 'fails', ...(code ? { code } : {}), message: (e as Error).message, tookMs: this.nowMs() - started };
    }
  }

  async datastoreFiles(datastore: string, via?: string): Promise<{ via: string; files: DatastoreFileRow[] }> {
    const candidates = via !== undefined ? [via] : this.hostsListing(datastore);
    const errors: string[] = [];
    for (const host of candidates) {
      try {
        const r = await control<{ files: DatastoreFileRow[] }>(this.hostDaemon(host), this.o.state.token, 'GET', this.dsRoute(datastore, 'files'));
        return { via: host, files: r.files };
      } catch (e) {
        errors.push(`${host}: ${(e as Error).message}`); // a killed host: read through the next one
      }
    }
    throw new VfabError('VFAB_CONTROL_UNREACHABLE', `no host could read ${datastore}: ${errors.join('; ') || 'no host lists it'}`);
  }

  async datastoreState(host: string, datastore: string): Promise<{ state: string | null; error?: string | null }> {
    const r = await control<{ datastores: Array<{ name: string; state: string; error: string | null }> }>(this.hostDaemon(host), this.o.state.token, 'GET', '/control/datastores');
    const d = r.datastores.find((x) => x.name === datastore);
    return d ? { state: d.state, error: d.error } : { state: null };
  }

  /** Formats through one host once every listing host has seen its LUN, then mounts on the others (like vfab datastore format). */
  private async formatDatastore(a: ActionStep & { kind: 'datastoreFormat' }): Promise<string> {
    const { state } = this.o;
    const hosts = this.hostsListing(a.datastore);
    const via = a.host ?? hosts[0];
    if (via === undefined) throw new VfabError('VFAB_HOSTDATASTORE_NOT_FOUND', `no host lists datastore ${a.datastore}`);
    const deadline = Date.now() + FORMAT_READY_TIMEOUT_MS;
    for (const h of hosts) {
      while ((await this.datastoreState(h, a.datastore)).state === 'waiting') {
        if (Date.now() > deadline) throw new VfabError('VFAB_HOSTDATASTORE_NOT_ATTACHED', `${h} has not attached the LUN of ${a.datastore} within ${FORMAT_READY_TIMEOUT_MS} ms`);
        await new Promise((r) => setTimeout(r, FORMAT_READY_POLL_MS));
      }
    }
    const f = await control<{ state: string }>(this.hostDaemon(via), state.token, 'POST', this.dsRoute(a.datastore, 'format'), { force: a.force, locking: a.locking }, FORMAT_TIMEOUT_MS);
    const mounted = [`${via} ${f.state}`];
    for (const h of hosts.filter((x) => x !== via)) {
      const m = await control<{ state: string }>(this.hostDaemon(h), state.token, 'POST', this.dsRoute(a.datastore, 'mount'), {}, FORMAT_TIMEOUT_MS);
      mounted.push(`${h} ${m.state}`);
    }
    const line = `formatted ${a.datastore} (${a.locking}) through ${via}; ${mounted.join(', ')}`;
    if (!mounted.every((m) => m.endsWith(' mounted'))) throw new VfabError('VFAB_SCENARIO_STEP', `${line}: not mounted everywhere`);
    return line;
  }

  async ping(from: string, to: string, count: number): Promise<{ sent: number; received: number; detail: string }> {
    const { ip } = this.targetIp(to);
    const intervalMs = 200;
    const timeoutMs = 1000;
    const wallMs = (count * (intervalMs + timeoutMs)) / this.o.timeScale + PING_SLACK_MS;
    const r = await control<{ sent: number; received: number; replies: Array<{ rttMs: number | null; error?: string }> }>(
      this.hostOf(from), this.o.state.token, 'POST', `/control/vms/${encodeURIComponent(from)}/ping`, { target: ip, count, intervalMs, timeoutMs }, wallMs);
    const errors = [...new Set(r.replies.filter((x) => x.rttMs === null).map((x) => x.error ?? 'timeout'))];
    return { sent: r.sent, received: r.received, detail: `ping ${from} -> ${ip}: ${r.received}/${r.sent} replies${errors.length ? ` (${errors.join(', ')})` : ''}` };
  }

  async macTable(switchName: string): Promise<MacTableRow[]> {
    const d = findDaemon(this.o.state, switchName);
    const r = await control<{ entries: MacTableRow[] }>(d, this.o.state.token, 'GET', '/control/mac-table');
    return r.entries;
  }

  async portUplink(vm: string): Promise<PortUplink> {
    return portUplinkFromStatus(await control<any>(this.hostOf(vm), this.o.state.token, 'GET', '/control/status'), vm);
  }

  async uplinkTxFrames(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const d of this.o.state.daemons.filter((x) => x.kind === 'host')) {
      try {
        uplinkTxFromStatus(d.name, await control<HostLinksStatus>(d, this.o.state.token, 'GET', '/control/status'), out);
      } catch {
        /* a killed host has no counters */
      }
    }
    return out;
  }

  counters(points: string[]): Promise<Record<string, Record<string, number>>> {
    return readPointCounters(this.o.state, points);
  }

  async collect(): Promise<RunEvidence> {
    const streams = new Map<string, StreamEvidence>();
    for (const [name, run] of this.streams) streams.set(name, await this.finishStream(name, run));
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
    await this.polling;
    await this.pollOnce().catch(() => {});
    const rarps: RarpFrame[] = [];
    const capturedPoints = new Set<string>();
    for (const c of this.captures) {
      await c.session.stop();
      for (const p of c.points) capturedPoints.add(p);
      rarps.push(...this.readRarps(c.file));
    }
    rarps.sort((x, y) => x.sceneMs - y.sceneMs);
    return { timeline: [...this.events], streams, rarps, capturedPoints };
  }

  /** Stops polling and captures without collecting (teardown after an error). */
  async close(): Promise<void> {
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
    await this.polling;
    for (const c of this.captures) await c.session.stop().catch(() => {});
    this.captures.length = 0;
  }

  private async finishStream(name: string, run: StreamRun): Promise<StreamEvidence> {
    const { state } = this.o;
    const a = run.action;
    const deadline = Date.now() + (a.seconds * 1000) / this.o.timeScale + STREAM_GRACE_MS;
    await run.send;
    let sent: number | null = typeof run.result?.sent === 'number' ? run.result.sent : null;
    let error = run.error;
    if (run.result?.started) {
      // background sender: wait until hostd says it stopped
      for (;;) {
        const r = await control<any>(this.hostOf(a.from), state.token, 'GET', `/control/streams/${encodeURIComponent(a.from)}`).catch(() => undefined);
        const s = (r?.senders ?? []).find((x: any) => x.streamId === a.streamId);
        if (s && !s.running) {
          sent = s.sent;
          if (s.error) error = s.error;
          break;
        }
        if (Date.now() > deadline) {
          sent = s?.sent ?? null;
          error = `the sender was still running ${STREAM_GRACE_MS} ms after the stream should have ended`;
          break;
        }
        await new Promise((r2) => setTimeout(r2, 50));
      }
    }
    // let the last frames arrive
    await new Promise((r) => setTimeout(r, 100));
    const sink = await control<any>(this.hostOf(run.toVm), state.token, 'GET', `/control/streams/${encodeURIComponent(run.toVm)}`).catch((e) => ({ error: (e as Error).message }));
    const rep = (sink?.streams ?? []).find((x: any) => x.streamId === a.streamId);
    const received = rep?.received ?? 0;
    const lost = sent !== null ? Math.max(0, sent - received) : (rep?.lost ?? 0);
    return {
      name, from: a.from, to: run.toVm, sent, received, lost,
      maxGapMs: (rep?.maxGapMs ?? 0) * this.o.timeScale,
      maxGapAtMs: typeof rep?.maxGapStartNs === 'number' ? this.epochToScene(rep.maxGapStartNs / 1e6) : null,
      ...(error ?? sink?.error ? { error: error ?? sink.error } : {}),
    };
  }

  private readRarps(file: string): RarpFrame[] {
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(file);
    } catch (e) {
      this.warnings.push(`cannot read capture ${file}: ${(e as Error).message}`);
      return [];
    }
    const r = rarpsOfCapture(bytes, (ns) => fabricMsOfCapture(this.o.state.clock, ns) - this.sceneStartMs);
    if (typeof r === 'string') {
      this.warnings.push(`capture ${file}: ${r}`);
      return [];
    }
    return r;
  }
}

/**
 * The RARP frames of a pcapng capture (empty bytes: none), each at the scene time `sceneMsOf` gives for
 * its timestamp; a string when the bytes are not a capture. Shared by the daemon and simulation drivers.
 */
export function rarpsOfCapture(bytes: Uint8Array, sceneMsOf: (timestampNs: bigint) => number): RarpFrame[] | string {
  if (bytes.length === 0) return [];
  const parsed = readPcapng(bytes);
  if (!parsed.ok) return parsed.error.message;
  const out: RarpFrame[] = [];
  for (const p of parsed.value.packets) {
    const f = p.data;
    if (f.length < ETH_HEADER_BYTES || ethInnerType(f) !== ETHERTYPE_RARP) continue;
    const tagged = ethIsTagged(f);
    const off = ETH_HEADER_BYTES + (tagged ? VLAN_TAG_BYTES : 0);
    if (f.length < off + RARP_MIN_BYTES) continue;
    const point = parsed.value.interfaces[p.interfaceId]?.name ?? '?';
    out.push({
      sceneMs: p.timestampNs === undefined ? 0 : sceneMsOf(p.timestampNs),
      point,
      direction: p.direction === 'inbound' ? 'in' : 'out',
      mac: readMac(f, off + RARP_SHA_OFFSET),
      ...(tagged ? { vlan: ethVid(f) } : {}),
    });
  }
  return out;
}

/** The uplink(s) a VM's first vNIC port sends on, from a host's GET /control/status (both drivers). */
/** A migrate step's detail once the migration ended; VFAB_SCENARIO_STEP when it did not end migrated (both drivers). */
export function migrateStepDetail(vm: string, to: string, r: { outcome: string; code?: string; message?: string; downtimeMs: number; passes: unknown[]; bytes: number } | null): string {
  if (r === null || r.outcome !== 'migrated') {
    throw new VfabError('VFAB_SCENARIO_STEP', `migrating ${vm} to ${to}: ${r === null ? 'did not end' : `${r.outcome} (${r.code}): ${r.message}`}`);
  }
  return `downtime ${r.downtimeMs.toFixed(1)} ms, ${r.passes.length} pass(es), ${(r.bytes / 1048576).toFixed(1)} MiB sent`;
}

export function portUplinkFromStatus(status: any, vm: string): PortUplink {
  for (const vs of status.vswitches ?? []) {
    for (const p of vs.ports ?? []) {
      if (typeof p.name === 'string' && p.name.startsWith(`${vm}.`)) {
        return { port: p.name, uplink: p.uplink ?? null, egressUplinks: p.egressUplinks ?? (p.uplink ? [p.uplink] : []), ...(p.uplinkReason ? { reason: p.uplinkReason } : {}) };
      }
    }
  }
  throw new VfabError('VFAB_NOT_FOUND', `no vSwitch port for ${vm} (is it powered on?)`);
}

export interface HostLinksStatus {
  links: Array<{ local: string; counters?: { txFrames?: number } | null }>;
}

/** Frames sent so far on each of a host's links, into `out` by "<host>.<link>" (both drivers). */
export function uplinkTxFromStatus(host: string, status: HostLinksStatus, out: Record<string, number>): void {
  for (const l of status.links) out[`${host}.${l.local}`] = l.counters?.txFrames ?? 0;
}
