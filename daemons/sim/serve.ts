// The control API of an interactive simulated fabric (`vfab up --sim`, docs/simulation.md "Interactive:
// vfab up --sim"): in the one sim process (daemons/simd.ts), a ControlServer per host, switch and array
// on 127.0.0.1 with the fabric token, answering the routes of hostd, switchd and stored that the CLI uses,
// over the nodes of a SimFabric whose scheduler a WallPacer (lib/sim/pacer.ts) keeps on the wall clock
// (one instant at a time through a pump). Every request first runs the scheduler
// up to the wall clock's instant, then acts, then re-arms the pacer. Actions reuse the scenario sim
// driver (daemons/sim/driver.ts act(): link, impair, flap, shut, power, kill, restart) and the daemons'
// own route code: vm-control.ts ping/mac/mtu/raw, inject.ts, the capture server, EventLog.reply, the
// vMotion service's routes (vmotion/on-demand.ts over daemons/sim/vmotion.ts), and with datastores the
// host's storage, datastore and HA routes as its storage code registers them (daemons/sim/storage.ts
// SimControl.mountOn); measured streams are paced on the virtual clock (streams.ts); an array answers
// stored's control routes over its in-process array. `vfab set` goes through SimFabric.reconfigure. A
// killed node's port is closed (the CLI sees it unreachable, as a killed daemon) and opens again on
// restart. What is not served (SIM_UNSERVED_ROUTES, and SIM_STORAGE_ROUTES without datastores) answers
// VFAB_SIM_UNSUPPORTED naming why. Leaves out TLS and spread addresses (refused by `vfab up --sim`).
// Not from the spec: the emulator's own machinery.

import { VfabError } from '../../lib/errors.js';
import type { FabricClockAnchor } from '../../lib/fabric-clock.js';
import { NS_PER_MS, captureTimestampNs } from '../../lib/fabric-clock.js';
import { WallPacer } from '../../lib/sim/pacer.js';
import type { Host as HostModel, PhysicalSwitch as SwitchModel, Topology } from '../../lib/topology/model.js';
import type { Scenario } from '../../lib/scenario/model.js';
import { simUnsupported } from '../../lib/sim/support.js';
import { ControlServer, type ControlHandler } from '../common/server.js';
import { switchPortRows } from '../common/switch-ports.js';
import { CaptureServer } from '../common/capture-server.js';
import { registerVmRoutes, runPing, type GuestOps } from '../common/vm-control.js';
import { registerInjectRoutes, guestInjectTarget, unknownInjectPoint } from '../common/inject.js';
import type { SimFabric, SimHost, SimLiveTap, SimNode, SimSwitch } from './fabric.js';
import type { SimDriver } from './driver.js';
import { simVmotion } from './vmotion.js';
import { SimHostStreams } from './streams.js';
import { registerVmotionRoutes } from '../vmotion/on-demand.js';
import { MOUNT_TIMEOUT_MS } from '../datastore/host-datastores.js';

/** Routes of the daemons that the interactive simulation does not serve, with why. */
export const SIM_UNSERVED_ROUTES: ReadonlyArray<{ method: string; path: string; what: string }> = [
  { method: 'POST', path: '/control/peers', what: 'dialling links is not simulated by vfab up --sim (the cables are in-process)' },
];

/**
 * Routes of hostd's storage code (host-storage.ts, datastore/host-datastores.ts, ha/attach.ts): a simulated
 * host serves them with that code when the topology has datastores (daemons/sim/storage.ts); without
 * datastores the storage is not simulated and they answer VFAB_SIM_UNSUPPORTED.
 */
export const SIM_STORAGE_ROUTES: ReadonlyArray<{ method: string; path: string; what: string }> = [
  ...['GET /control/storage', 'POST /control/storage/arrays', 'POST /control/storage/paths/:array', 'POST /control/storage/stall/:array', 'POST /control/storage/paths/:array/:index']
    .map((r) => ({ r, what: 'storage (arrays, paths, LUNs)' })),
  ...['GET /control/vms/:vm/disks', 'POST /control/vms/:vm/disks/:disk/write', 'POST /control/vms/:vm/disks/:disk/read', 'POST /control/vms/:vm/disks/:disk/load']
    .map((r) => ({ r, what: 'VM disks (storage)' })),
  ...['GET /control/datastores', 'POST /control/datastores/:ds/format', 'POST /control/datastores/:ds/mount', 'POST /control/datastores/:ds/unmount', 'GET /control/datastores/:ds/files',
    'GET /control/datastores/:ds/heartbeats', 'GET /control/datastores/:ds/inspect', 'POST /control/datastores/:ds/files/open', 'POST /control/datastores/:ds/files/close',
    'POST /control/datastores/:ds/vms/:vm/power-on', 'POST /control/datastores/:ds/vms/:vm/power-off'].map((r) => ({ r, what: 'datastores and their locks' })),
  ...['GET /control/ha', 'POST /control/vmkernels/:vmk/link'].map((r) => ({ r, what: 'vSphere HA (agents, management network isolation)' })),
].map(({ r, what }) => {
  const [method, path] = r.split(' ') as [string, string];
  return { method, path, what: `${what}: not simulated by vfab up --sim for a topology without datastores` };
});

/** Wall ms the pacer runs the scheduler ahead of the wall clock when asynchronous storage code runs (one look covers a chain of hops). */
export const PACE_LOOKAHEAD_WALL_MS = 1;
/** Wall ms between two looks at a condition the fabric must reach (an array's paths connected again). */
const WALL_POLL_MS = 10;

/** Why a topology cannot be simulated (its parts that need real processes, sockets or storage); [] when it can. */
export function topologyUnsupported(t: Topology): string[] {
  // a scenario of no steps: only the topology's parts (storage and HA run when the topology has datastores)
  return simUnsupported({ steps: [] } as unknown as Scenario, t);
}

/** The error of a route the interactive simulation does not serve. */
export function unservedError(what: string, method: string, path: string): VfabError {
  return new VfabError('VFAB_SIM_UNSUPPORTED', `${what} (${method} ${path}); start the fabric without --sim for this (docs/simulation.md)`, { what });
}

/** What the pacer loop needs of the fabric's pump (daemons/sim/pump.ts). */
export interface PacerPump {
  run(done: () => boolean, untilMs: number): Promise<void>;
}

/**
 * The wall-clock side of the pacer: a real timer that runs the scheduler as wall time reaches its timers,
 * one instant at a time through the fabric's pump, so promise continuations (storage commands, vMotion's
 * next pass) run at the virtual instant that resolved them, up to PACE_LOOKAHEAD_WALL_MS ahead of the
 * wall clock. Running straight through instead (WallPacer.catchUp) would resume them only after the whole
 * catch-up: a vMotion's downtime would then be the wall time between the pacer's turns.
 */
export class PacerLoop {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private running: Promise<void> | undefined;
  private again = false;

  constructor(readonly pacer: WallPacer, private readonly pump: PacerPump, private readonly onError: (e: unknown) => void) {}

  /** Runs the scheduler up to now (a control request waits for this before it acts). */
  catchUp(): Promise<void> {
    const target = this.pacer.targetMs(process.hrtime.bigint() + BigInt(PACE_LOOKAHEAD_WALL_MS * 1e6));
    return this.pump.run(() => false, target);
  }

  /** Catches up and re-arms the timer for the next due timer (after anything that may have set one). */
  kick(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    // one catch-up at a time; a kick meanwhile runs another one after it
    if (this.running !== undefined) {
      this.again = true;
      return;
    }
    this.running = this.catchUp().catch((e: unknown) => this.onError(e)).finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        this.kick();
      } else this.arm();
    });
  }

  private arm(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.kick(), this.pacer.sleepMs(process.hrtime.bigint()));
  }

  aheadMs(): number {
    return this.pacer.aheadMs(process.hrtime.bigint());
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}

/** A ControlServer whose every handler runs on a caught-up scheduler and re-arms the pacer after. */
export class PacedControlServer extends ControlServer {
  constructor(token: string, private readonly loop: PacerLoop) {
    super(token);
  }

  override on(method: string, path: string, handler: ControlHandler): this {
    return super.on(method, path, async (req) => {
      await this.loop.catchUp();
      try {
        return await handler(req);
      } finally {
        this.loop.kick();
      }
    });
  }
}

export interface SimServiceOptions {
  fabric: SimFabric;
  driver: SimDriver;
  loop: PacerLoop;
  token: string;
  /** The fabric clock's anchor of the state file: capture timestamps are on it. */
  anchor: FabricClockAnchor;
  timeScale: number;
  /** Where the nodes listen (127.0.0.1). */
  bindHost?: string;
}

type NodeKind = 'host' | 'switch' | 'array';

interface NodeEdge {
  name: string;
  kind: NodeKind;
  port: number;
  server: ControlServer | undefined;
  capture: CaptureServer | undefined;
}

/** Every node's control server, its live capture streams, and kill/restart of a node with its port. */
export class SimService {
  private readonly edges = new Map<string, NodeEdge>();
  /** Capture point -> the capture server of the node that streams it. */
  private readonly taps = new Map<string, CaptureServer>();
  private readonly f: SimFabric;
  private readonly pingRandom: () => number;

  constructor(private readonly o: SimServiceOptions) {
    this.f = o.fabric;
    this.pingRandom = this.f.random.stream('ping-ids');
    const taps = this.taps;
    const live: SimLiveTap = {
      watching: (point) => taps.get(point)?.watching(point) ?? false,
      frame: (point, direction, frame) => taps.get(point)?.frame(point, direction, frame),
    };
    this.f.captures.live = live;
  }

  /** Opens every node's port (0: any free one); returns them in topology order, arrays last. */
  async start(): Promise<Array<{ name: string; kind: NodeKind; port: number }>> {
    const all: Array<{ name: string; kind: NodeKind }> = [...this.f.nodes.values()].map((n) => ({ name: n.name, kind: n.kind }));
    for (const a of this.f.storage?.arrays.keys() ?? []) all.push({ name: a, kind: 'array' });
    for (const n of all) {
      const edge: NodeEdge = { name: n.name, kind: n.kind, port: 0, server: undefined, capture: undefined };
      this.edges.set(n.name, edge);
      await this.open(edge);
    }
    return this.nodes();
  }

  nodes(): Array<{ name: string; kind: NodeKind; port: number; running: boolean }> {
    return [...this.edges.values()].map((e) => ({ name: e.name, kind: e.kind, port: e.port, running: this.running(e) }));
  }

  private running(e: NodeEdge): boolean {
    return e.kind === 'array' ? this.f.storage?.arrays.get(e.name)?.running === true : this.f.running(e.name);
  }

  /** kill -9 of a node: its core is dropped (SimDriver; an array: SimStorage), its port closes and its capture streams end. */
  async kill(name: string): Promise<{ name: string; pid: number; wasRunning: boolean }> {
    const edge = this.edge(name);
    const wasRunning = this.running(edge);
    await this.o.driver.act({ kind: 'kill', node: name });
    await this.closeEdge(edge);
    return { name, pid: process.pid, wasRunning };
  }

  /**
   * A fresh core from the node's configuration (SimDriver), listening again on its port. An array opens
   * its store again and the hosts that use it reconnect their paths: the request waits for that on the
   * wall clock while the pacer runs the fabric (as `vfab fault restart ARRAY` waits for stored's hosts).
   */
  async restart(name: string): Promise<{ name: string; kind: NodeKind; oldPid: number; pid: number; port: number; redialled: string[]; storage: string[]; arraysDown: string[] }> {
    const edge = this.edge(name);
    await this.closeEdge(edge);
    const storage: string[] = [];
    const arraysDown: string[] = [];
    if (edge.kind === 'array') {
      await this.f.storage!.restartArray(name, (done, untilMs) => this.wallWait(done, untilMs));
      storage.push(...this.f.topology.hosts.filter((h) => h.storage.some((x) => x.array === name) && this.f.running(h.name)).map((h) => h.name));
    } else {
      await this.o.driver.act({ kind: 'restart', node: name });
      if (edge.kind === 'host') for (const x of this.f.host(name).config.host.storage) if (this.f.storage?.arrays.get(x.array)?.running === false) arraysDown.push(x.array);
    }
    await this.open(edge);
    return { name, kind: edge.kind, oldPid: process.pid, pid: process.pid, port: edge.port, redialled: [], storage, arraysDown };
  }

  /** Waits on the wall clock (the pacer runs the fabric meanwhile) until `done()` or fabric time `untilMs`. */
  private async wallWait(done: () => boolean, untilMs: number): Promise<void> {
    while (!done() && this.f.sched.nowMs() < untilMs) {
      this.o.loop.kick();
      await new Promise((r) => setTimeout(r, WALL_POLL_MS));
    }
  }

  async close(): Promise<void> {
    for (const e of this.edges.values()) await this.closeEdge(e);
  }

  private edge(name: string): NodeEdge {
    const e = this.edges.get(name);
    if (!e) throw new VfabError('VFAB_NOT_FOUND', `no host, switch or array named ${name} in this simulated fabric (has: ${[...this.edges.keys()].join(', ')})`);
    return e;
  }

  private async closeEdge(e: NodeEdge): Promise<void> {
    e.capture?.close();
    for (const [p, c] of this.taps) if (c === e.capture) this.taps.delete(p);
    e.capture = undefined;
    const s = e.server;
    e.server = undefined;
    if (s) await s.close();
  }

  private async open(e: NodeEdge): Promise<void> {
    const server = new PacedControlServer(this.o.token, this.o.loop);
    const capture: CaptureServer = new CaptureServer({ setTap: (point, on): boolean => this.setTap(e, capture, point, on) }, () => captureTimestampNs(this.o.anchor, this.f.sched.nowMs() * NS_PER_MS));
    if (e.kind === 'array') {
      this.arrayRoutes(server, e.name);
    } else {
      if (e.kind === 'host') this.hostRoutes(server, e.name);
      else this.switchRoutes(server, e.name);
      this.commonRoutes(server, e.name);
      // the host's own storage, datastore and HA routes, as its daemon registers them (the core running now)
      const storage = e.kind === 'host' ? this.f.storage?.hostControl(e.name) : undefined;
      if (storage !== undefined) storage.mountOn(server);
      for (const r of [...SIM_UNSERVED_ROUTES, ...(storage === undefined ? SIM_STORAGE_ROUTES : [])]) server.on(r.method, r.path, () => {
        throw unservedError(r.what, r.method, r.path);
      });
    }
    server.onUpgrade((req, socket, head, url) => capture.handleUpgrade(req, socket, head, url));
    e.port = await server.listen(e.port, this.o.bindHost);
    e.server = server;
    e.capture = capture;
  }

  private setTap(e: NodeEdge, capture: CaptureServer, point: string, on: boolean): boolean {
    if (on) this.taps.set(point, capture);
    else if (this.taps.get(point) === capture) this.taps.delete(point);
    const n = this.live(e.name);
    if (n === undefined) return false;
    if (n.kind === 'host') return n.core.setTap(point, on);
    return point.startsWith(`${n.name}.`) && n.portIndex.has(point.slice(n.name.length + 1));
  }

  /** The node as it runs now (a restart makes a fresh one), or undefined while it is killed. */
  private live(name: string): SimNode | undefined {
    return this.f.running(name) ? this.f.nodes.get(name) : undefined;
  }

  private host(name: string): SimHost {
    return this.f.host(name);
  }

  private sw(name: string): SimSwitch {
    const n = this.f.node(name);
    if (n.kind !== 'switch') throw new VfabError('VFAB_NOT_FOUND', `${name} is a host, not a switch`);
    return n;
  }

  /** Routes both kinds answer: links, events, counters reset, link admin state and faults, config. */
  private commonRoutes(server: ControlServer, name: string): void {
    const f = this.f;
    const driver = this.o.driver;
    const ends = () => [...f.node(name).ends.values()];
    const endpoint = (iface: string) => {
      const n = f.node(name);
      if (!n.ends.has(iface)) throw new VfabError('VFAB_NOT_FOUND', `${name} has no link ${iface} (has: ${[...n.ends.keys()].join(', ')})`);
      return `${name}.${iface}`;
    };
    const side = (iface: string) => (f.node(name).kind === 'host' ? { uplink: iface } : { port: iface });
    server
      .on('GET', '/control/links', () => ({ links: ends().map((e) => e.status()) }))
      .on('GET', '/control/events', (req) => f.node(name).events.reply(Number(req.query.get('since') ?? 0), f.sched.nowMs()))
      .on('POST', '/control/counters/reset', () => {
        const n = f.node(name);
        n.core.clearCounters();
        for (const e of n.ends.values()) e.clearCounters();
        return { reset: true, clockMs: f.sched.nowMs() };
      })
      .on('POST', '/control/links/:iface', async (req) => {
        const up = req.body?.up !== false;
        await driver.act({ kind: 'link', endpoint: endpoint(req.params.iface!), up });
        return { ...side(req.params.iface!), up };
      })
      .on('POST', '/control/links/:iface/impair', async (req) => {
        const ep = endpoint(req.params.iface!);
        const body = (req.body ?? {}) as Record<string, unknown>;
        await driver.act({ kind: 'impair', endpoint: ep, ...body, clear: Object.keys(body).length === 0 });
        return { ...side(req.params.iface!), impairment: f.end(ep).status().impairment };
      })
      .on('POST', '/control/links/:iface/flap', (req) => {
        const flap = f.end(endpoint(req.params.iface!)).flap(req.body ?? {});
        return { ...side(req.params.iface!), flap };
      })
      .on('POST', '/control/config', (req) => this.reconfigure(name, req.body));
  }

  /** vfab set: the whole new model of one node, applied as the scenario driver's `set` step does. */
  private reconfigure(name: string, body: unknown): { host?: string; switch?: string; changes: string[] } {
    const b = body as { what?: unknown; host?: HostModel; switch?: SwitchModel } | undefined;
    const what = typeof b?.what === 'string' ? b.what.slice(0, 500) : 'configuration change';
    const t = this.f.topology;
    const n = this.f.node(name);
    if (n.kind === 'host') {
      const next = b?.host;
      if (typeof next !== 'object' || next === null || !Array.isArray(next.vswitches) || !Array.isArray(next.vms) || !Array.isArray(next.vmkernels) || next.name !== name) {
        throw new VfabError('VFAB_HOST_CONFIG_BAD', `POST /control/config needs {host: the model of host ${name}} (vswitches, vms, vmkernels)`);
      }
      return { host: name, changes: this.f.reconfigure({ ...t, hosts: t.hosts.map((h) => (h.name === name ? next : h)) }, what) };
    }
    const next = b?.switch;
    if (typeof next !== 'object' || next === null || !Array.isArray(next.ports) || next.name !== name) {
      throw new VfabError('VFAB_USAGE', `POST /control/config needs {switch: the model of switch ${name}} (ports)`);
    }
    return { switch: name, changes: this.f.reconfigure({ ...t, switches: t.switches.map((s) => (s.name === name ? next : s)) }, what) };
  }

  private hostRoutes(server: ControlServer, name: string): void {
    const f = this.f;
    const loop = this.o.loop;
    const scheduleTick = () => {
      const n = this.live(name);
      if (n?.kind === 'host') n.tick.schedule();
      loop.kick();
    };
    const core = () => this.host(name).core;
    // the guest routes of hostd, over whichever core runs now (a restart makes a fresh one)
    const guests: GuestOps = {
      pickNic: (vm, target, nic) => core().pickNic(vm, target, nic),
      ping: (vm, nic, target, o) => core().ping(vm, nic, target, o),
      listen: (vm, l) => core().listen(vm, l),
      endpoint: (vm) => core().endpoint(vm),
      applyGuestActions: (vm, a) => core().applyGuestActions(vm, a),
      transmitFromVm: (vm, nic, frame) => core().transmitFromVm(vm, nic, frame),
    };
    const routeOpts = { scheduleTick, timeScale: this.o.timeScale, random: this.pingRandom };
    server
      .on('GET', '/control/status', () => {
        const h = this.host(name);
        return { ...f.hostStatus(h), vmkernelStack: h.core.vmkernelCounters(), clockMs: f.sched.nowMs(), simulated: true };
      })
      .on('GET', '/control/mac-table', () => ({ entries: core().macTable() }))
      .on('POST', '/control/vms/:vm/power', async (req) => {
        const vm = req.params.vm!;
        core().isPoweredOn(vm); // VFAB_NOT_FOUND for a VM not on this host
        // a VM with datastore disks powers on only once its files are locked here, as hostd does it
        const ds = f.storage?.hostDatastores(name);
        if (ds?.homeOf(vm) !== undefined) {
          const files = req.body?.on === false ? await ds.powerOffTopologyVm(vm) : await ds.powerOnTopologyVm(vm, { waitMs: MOUNT_TIMEOUT_MS, untilFormatted: false });
          return { vm, poweredOn: core().isPoweredOn(vm), datastore: files };
        }
        // on this host (a VM vMotion moved here is not on its topology host any more)
        if (req.body?.on === false) core().powerOff(vm);
        else core().powerOn(vm);
        scheduleTick();
        return { vm, poweredOn: core().isPoweredOn(vm) };
      })
      .on('POST', '/control/vmkernels/:vmk/ping', (req) => {
        const vmk = core().vmkernel(req.params.vmk!);
        return runPing({
          pickNic: () => vmk.index,
          ping: (_h, _nic, target, o) => void vmk.ping(target, o),
          listen: (_h, listener) => vmk.listen(listener),
          endpoint: () => core().vmkernelEndpoint(),
        }, name, req.body, routeOpts);
      });
    registerVmRoutes(server, guests, routeOpts);
    // vMotion: the daemons' service of this host (daemons/sim/vmotion.ts), made on the first request
    registerVmotionRoutes(server, async () => simVmotion(f, this.host(name)));
    // measured streams, paced on the virtual clock; a restart starts with none (as a new hostd)
    new SimHostStreams(() => this.host(name)).register(server);
    const uplinks = this.host(name).config.host.vswitches.flatMap((v) => v.uplinks);
    registerInjectRoutes(server, {
      resolve: (point) => {
        if (!point.startsWith(`${name}.`)) return guestInjectTarget(core(), point);
        const vmnic = point.slice(name.length + 1);
        if (!uplinks.includes(vmnic)) throw unknownInjectPoint(name, point, uplinks.map((u) => `${name}.${u}`));
        return (frame) => core().receiveUplink(vmnic, frame);
      },
      afterBatch: scheduleTick,
    }, this.host(name).events);
  }

  /**
   * An array's control API as stored answers it (status, LUNs, sessions, create/grow/delete a LUN, ATS),
   * over the array the simulation runs (daemons/sim/storage.ts SimArray, a memory store).
   */
  private arrayRoutes(server: ControlServer, name: string): void {
    const simArray = () => this.f.storage!.arrays.get(name)!;
    const array = () => {
      const a = simArray().array;
      if (a === undefined) throw new VfabError('VFAB_DAEMON_DOWN', `array ${name} is not running (vfab fault restart ${name})`);
      return a;
    };
    const lun = (req: { params: Record<string, string> }) => req.params.lun!;
    const size = (body: Record<string, unknown> | undefined): number => {
      const b = body ?? {};
      const bytes = typeof b.sizeBytes === 'number' ? b.sizeBytes : typeof b.sizeGB === 'number' ? Math.round(b.sizeGB * 2 ** 30) : undefined;
      if (bytes === undefined) throw new VfabError('VFAB_STORED_BAD_REQUEST', 'need {"sizeBytes" | "sizeGB": number}');
      return bytes;
    };
    server
      .on('GET', '/control/status', () => ({
        name, pid: process.pid, port: this.edges.get(name)!.port, durable: false, dataDir: null, uptimeMs: null, luns: array().listLuns(),
        sessions: simArray().sessions(), inFlight: null, stats: array().stats(), nas: null, iscsi: null, simulated: true,
      }))
      .on('GET', '/control/luns', () => ({ luns: array().listLuns() }))
      .on('GET', '/control/sessions', () => ({ sessions: simArray().sessions() }))
      .on('POST', '/control/luns', async (req) => {
        const b = (req.body ?? {}) as Record<string, unknown>;
        const bs = b.blockSize ?? b.blockSizeBytes;
        if (typeof b.name !== 'string') throw new VfabError('VFAB_STORED_BAD_REQUEST', 'need {"name": string, "sizeBytes" | "sizeGB": number, "blockSize"?: 512|4096}');
        if (bs !== undefined && bs !== 512 && bs !== 4096) throw new VfabError('VFAB_STORAGE_BAD_SIZE', `block size ${String(bs)} is not 512 or 4096`);
        return array().createLun({ name: b.name, sizeBytes: size(b), ...(bs !== undefined ? { blockSizeBytes: bs as 512 | 4096 } : {}), ...(typeof b.lun === 'number' ? { lun: b.lun } : {}) });
      })
      .on('GET', '/control/luns/:lun', (req) => {
        const info = array().getLun(lun(req));
        if (!info) throw new VfabError('VFAB_STORAGE_NO_SUCH_LUN', `no LUN ${lun(req)}`);
        return info;
      })
      .on('POST', '/control/luns/:lun/grow', (req) => array().growLun(lun(req), size(req.body)))
      .on('POST', '/control/luns/:lun/ats', async (req) => {
        if (typeof req.body?.enabled !== 'boolean') throw new VfabError('VFAB_STORED_BAD_REQUEST', 'need {"enabled": true | false}');
        const info = await array().setLunAts(lun(req), req.body.enabled);
        return { ...info, ats: info.ats ?? true };
      })
      .on('DELETE', '/control/luns/:lun', async (req) => {
        await array().deleteLun(lun(req));
        return { deleted: lun(req) };
      })
      .on('POST', '/control/compact', () => ({ compacted: true, tookMs: 0 }));
  }

  private switchRoutes(server: ControlServer, name: string): void {
    const f = this.f;
    server
      .on('GET', '/control/status', () => {
        const s = this.sw(name);
        return { ...f.switchStatus(s), ports: switchPortRows(s.core), macAgingSeconds: s.core.macAgingMs() / 1000, portChannels: s.core.portChannels(), counters: s.core.counters(), clockMs: f.sched.nowMs(), simulated: true };
      })
      .on('GET', '/control/mac-table', () => ({ entries: this.sw(name).core.macTable() }))
      .on('POST', '/control/mac-table/clear', (req) => ({ cleared: this.sw(name).core.clearMacTable(req.body ?? {}) }))
      .on('POST', '/control/ports/:port/shutdown', async (req) => {
        const shut = req.body?.shutdown !== false;
        const s = this.sw(name);
        if (!s.portIndex.has(req.params.port!)) throw new VfabError('VFAB_NOT_FOUND', `switch ${name} has no port ${req.params.port}`);
        await this.o.driver.act({ kind: 'shut', endpoint: `${name}.${req.params.port}`, shutdown: shut });
        return { port: req.params.port, shutdown: shut };
      });
    registerInjectRoutes(server, {
      resolve: (point) => {
        const s = this.sw(name);
        const i = point.startsWith(`${name}.`) ? s.portIndex.get(point.slice(name.length + 1)) : undefined;
        if (i === undefined) throw unknownInjectPoint(name, point, s.portNames.map((p) => `${name}.${p}`));
        return (frame) => this.sw(name).receive(i, frame);
      },
      afterBatch: () => this.o.loop.kick(),
    }, this.sw(name).events);
  }
}
