// Storage in the simulated fabric (docs/simulation.md "Storage"): each storage array of the topology runs
// in this process (lib/storage/array.ts over an in-memory block store, as `stored --memory` does, its NAS
// shares and, when it has one, its iSCSI portal), and each host runs the storage code its daemon runs
// (daemons/host-storage.ts with its multipath client, daemons/datastore/host-datastores.ts and driver.ts,
// its HA agent) with the daemon's I/O replaced: a block-protocol path is an in-process transport
// (SimBlockPath) whose commands reach the array, and whose answers come back, one hop of virtual time
// later each way; an iSCSI path is the daemons' iSCSI client and the array's portal over an in-process
// byte pair (SimByteSocket); a NAS connection is a SimNasSocket. A hop is SIM_STORAGE_HOP_MS plus seeded
// jitter from the host's stream `storage-hop:<host>`, in whole SIM_STORAGE_JITTER_STEP_MS, in order per
// connection (SimHopLine). Its timers are timers of the host's scheduler group (a killed host's timers
// never fire), its wall clock is the virtual clock and its random bytes come from the run seed
// (daemons/sim/timers.ts). Control requests the scenario driver makes (power-on, format, files, faults)
// go to the routes the daemons register, through SimControl, with their JSON copied as over HTTP.
// Everything asynchronous runs on the virtual clock through the fabric's pump (daemons/sim/pump.ts),
// which lets promise continuations run at the virtual instant that resolved them. Killing an array drops the commands in flight and closes
// every path to it (hosts see their paths fail, as when stored dies); restarting it opens the same store
// again (LUN contents kept, as a LevelDB array keeps its directory). Killing a host closes its paths at
// the array (its SCSI-2 reservations go, as on an I_T nexus loss). Leaves out the arrays' own control API.

import { EventEmitter } from 'node:events';
import { VfabError } from '../../lib/errors.js';
import type { Clock, Random } from '../../lib/clock.js';
import { SimTimerGroup, type SimScheduler } from '../../lib/sim/scheduler.js';
import { ensureLuns, openArray, type StorageArray } from '../../lib/storage/array.js';
import { MemoryBlockStore } from '../../lib/storage/blockstore-memory.js';
import { BLOCK_ERROR, type LunEntry } from '../../lib/storage/protocol.js';
import type { ScsiCommand, ScsiResult } from '../../lib/storage/scsi.js';
import type { StorageArray as ArrayModel } from '../../lib/topology/model.js';
import type { ActionStep, StorageFaultSpec } from '../../lib/scenario/model.js';
import type { PowerRequest } from '../../lib/scenario/runner.js';
import type { DatastoreFileRow, PowerAttempt } from '../../lib/scenario/evaluate.js';
import { resolveHostDatastore } from '../../lib/scenario/load.js';
import { DS_ERROR } from '../../lib/datastore/errors.js';
import { simRunsStorage } from '../../lib/sim/support.js';
import type { ControlHandler, ControlServer } from '../common/server.js';
import { HostStorage } from '../host-storage.js';
import { HostDatastores, MAX_POWER_ON_WAIT_MS, VM_STARTUP_MOUNT_WAIT_MS } from '../datastore/host-datastores.js';
import { pathProtocol, type PathTransport } from '../storage/multipath-client.js';
import { arrayIqn, IscsiPortal, type PortalSocket } from '../storage/iscsi-portal.js';
import { parseIscsiUrl } from '../storage/iscsi-url.js';
import { connectIscsiClient, pathIsid, type IscsiSocket } from '../storage/iscsi-client.js';
import { InFlightBudget, MAX_ARRAY_IN_FLIGHT_BYTES } from '../storage/block-server.js';
import type { Timers } from '../common/timers.js';
import { NasClient, type NasClientOptions, type NasSocket } from '../storage/nas-client.js';
import { MemoryNasKv } from '../../lib/nas/kv.js';
import { openShares } from '../../lib/nas/shares.js';
import { NAS_ROOT_ID, executeNasRequest, type ShareStore } from '../../lib/nas/share-store.js';
import {
  NAS_DEFAULT_IN_FLIGHT, NAS_ERROR, NAS_MAX_IN_FLIGHT, NAS_MAX_IO_BYTES, NAS_MAX_READDIR_ENTRIES, NAS_PROTOCOL_VERSION, NAS_RECORD, NAS_STATUS,
  encodeNasMessage, parseNasMessage, type NasReply,
} from '../../lib/nas/protocol.js';
import { simTimers } from './timers.js';
import { attachHa } from '../ha/attach.js';
import { HaRunner } from '../ha/runner.js';
import type { SimFabric, SimHost } from './fabric.js';

/** Virtual ms a storage command, answer or connection handshake message takes one way at least (loopback-like; a binary fraction, so sums of hops stay exact). */
export const SIM_STORAGE_HOP_MS = 0.125;
/**
 * One step of the seeded jitter added to each storage hop (virtual ms): 2^-3, the finest binary fraction
 * that event times (rounded to EVENT_TIME_DECIMALS = 3 decimals of a ms) show exactly, so sums of hops and
 * step times stay exact.
 */
export const SIM_STORAGE_JITTER_STEP_MS = 0.125;
/** A hop takes SIM_STORAGE_HOP_MS plus 0 to SIM_STORAGE_JITTER_STEPS - 1 jitter steps (0.125 to 0.5 ms), drawn evenly. */
export const SIM_STORAGE_JITTER_STEPS = 4;

/** One hop's latency: the fixed part plus whole jitter steps drawn from a host's `storage-hop:<host>` stream. */
export function simHopMs(random: Random): number {
  return SIM_STORAGE_HOP_MS + Math.floor(random() * SIM_STORAGE_JITTER_STEPS) * SIM_STORAGE_JITTER_STEP_MS;
}

/**
 * One direction of a storage connection: each message arrives one jittered hop after it is sent, never
 * before a message sent ahead of it on the same connection (a socket delivers in order; messages due at
 * one instant run in the order they were sent).
 */
export class SimHopLine {
  private lastAtMs = 0;
  constructor(private readonly sched: SimScheduler, private readonly random: Random) {}

  send(fn: () => void): void {
    const at = Math.max(this.sched.nowMs() + simHopMs(this.random), this.lastAtMs);
    this.lastAtMs = at;
    this.sched.at(at, fn);
  }
}
/** Fabric ms a control request may run past the wait it asked for before the driver gives up on it. */
export const SIM_CONTROL_SLACK_MS = 10_000;
/** Fabric ms a format (and the mounts after it) may take. */
const SIM_FORMAT_TIMEOUT_MS = 120_000;
/** Fabric ms hosts may take to connect their paths again after an array restarts (daemon mode: RESTART_STORAGE_TIMEOUT_MS). */
const SIM_REATTACH_TIMEOUT_MS = 30_000;

/** The URL a simulated host attaches an array by (its NAS endpoint ends in /nas instead). */
export function simArrayUrl(array: string): string {
  return `sim://${array}/block`;
}

/** The URL of an array's iSCSI target for a host whose paths to it are iSCSI (the host part names the array). */
export function simIscsiUrl(array: string): string {
  return `iscsi://${array}/${arrayIqn(array)}`;
}

/** The routes a daemon registers on its ControlServer, called in process with JSON copied as over HTTP. */
export class SimControl {
  private readonly routes: Array<{ method: string; path: string; pattern: RegExp; names: string[]; handler: ControlHandler }> = [];

  on(method: string, path: string, handler: ControlHandler): this {
    const names: string[] = [];
    const pattern = new RegExp('^' + path.replace(/:([a-zA-Z]+)/g, (_m, name: string) => {
      names.push(name);
      return '([^/]+)';
    }) + '$');
    this.routes.push({ method, path, pattern, names, handler });
    return this;
  }

  /** Registers every route on a real control server too (`vfab up --sim` serves them over HTTP). */
  mountOn(server: ControlServer): void {
    for (const r of this.routes) server.on(r.method, r.path, r.handler);
  }

  /** As a ControlServer for code that registers routes on one. */
  get server(): ControlServer {
    return this as unknown as ControlServer;
  }

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    for (const r of this.routes) {
      const m = r.pattern.exec(path);
      if (!m || r.method !== method) continue;
      const params: Record<string, string> = {};
      r.names.forEach((n, i) => (params[n] = decodeURIComponent(m[i + 1]!)));
      const copy = body === undefined ? (method === 'GET' ? undefined : {}) : JSON.parse(JSON.stringify(body));
      const value = await r.handler({ params, query: new URLSearchParams(), body: copy });
      return JSON.parse(JSON.stringify(value ?? { ok: true })) as T;
    }
    throw new VfabError('VFAB_NOT_FOUND', `${method} ${path}`);
  }
}

/**
 * One end of an in-process byte connection (an iSCSI path): what the portal and the iSCSI client use of a
 * net.Socket. Bytes written arrive at the other end one jittered hop later, in order (SimHopLine); closing
 * one end closes the other after the bytes written before it, as a TCP FIN does.
 */
export class SimByteSocket extends EventEmitter {
  destroyed = false;
  readonly writableLength = 0;
  peer: SimByteSocket | undefined;
  private readonly line: SimHopLine;

  constructor(private readonly sched: SimScheduler, random: Random, readonly remoteAddress: string, readonly remotePort: number) {
    super();
    this.line = new SimHopLine(sched, random);
  }

  /** A connected pair: [the host's end, the array's end]. */
  static pair(sched: SimScheduler, random: Random, host: string, array: string, port: number): [SimByteSocket, SimByteSocket] {
    const a = new SimByteSocket(sched, random, array, 3260);
    const b = new SimByteSocket(sched, random, host, port);
    a.peer = b;
    b.peer = a;
    return [a, b];
  }

  setNoDelay(): this {
    return this;
  }
  cork(): void {}
  uncork(): void {}
  pause(): this {
    return this;
  }
  resume(): this {
    return this;
  }

  write(data: Uint8Array): boolean {
    if (this.destroyed) return false;
    const copy = Buffer.from(data); // the bytes go on the wire now
    const peer = this.peer!;
    this.line.send(() => peer.arrive(copy));
    return true;
  }

  private arrive(b: Buffer): void {
    if (!this.destroyed) this.emit('data', b);
  }

  end(): this {
    return this.destroy();
  }

  destroySoon(): void {
    this.destroy();
  }

  destroy(): this {
    if (this.destroyed) return this;
    this.dropByHost();
    this.sched.after(0, () => this.emit('close', false)); // as Node, after the call returns
    return this;
  }

  /** This end is gone without a word to its own side (its process died): only the far end sees the close. */
  dropByHost(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    const peer = this.peer!;
    this.line.send(() => peer.remoteClosed());
  }

  private remoteClosed(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.emit('close', false);
  }
}

/** One storage path of a host to an array, in process: a PathTransport like a block-protocol connection. */
export class SimBlockPath extends EventEmitter implements PathTransport {
  private open = true;
  private closedError: VfabError | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: ScsiResult) => void; reject: (e: Error) => void }>();
  /** Host to array, array to host. */
  readonly up: SimHopLine;
  readonly down: SimHopLine;

  constructor(private readonly array: SimArray, readonly initiator: string, readonly luns: LunEntry[], random: Random) {
    super();
    this.up = new SimHopLine(array.sched, random);
    this.down = new SimHopLine(array.sched, random);
  }

  get connected(): boolean {
    return this.open;
  }

  /** Commands sent so far and those waiting for an answer (an array's session row). */
  get counts(): { commands: number; active: number } {
    return { commands: this.nextId - 1, active: this.pending.size };
  }

  execute(cmd: ScsiCommand): Promise<ScsiResult> {
    if (!this.open) return Promise.reject(this.closedError);
    // the bytes go on the wire now: later changes by the caller do not reach the array
    const copy: ScsiCommand = { initiator: this.initiator, lun: cmd.lun, cdb: Buffer.from(cmd.cdb), ...(cmd.dataOut ? { dataOut: Buffer.from(cmd.dataOut) } : {}) };
    const id = this.nextId++;
    return new Promise<ScsiResult>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.up.send(() => this.array.receive(this, id, copy));
    });
  }

  /** The array's answer to command `id` arrives (dropped when the path closed meanwhile). */
  deliver(id: number, result: ScsiResult | Error): void {
    const p = this.pending.get(id);
    if (!this.open || p === undefined) return;
    this.pending.delete(id);
    if (result instanceof Error) p.reject(result);
    else p.resolve(result);
  }

  /** The connection ends (either side): commands waiting for an answer fail, as on a closed socket. */
  lost(why: string): void {
    if (!this.open) return;
    this.open = false;
    this.closedError = new VfabError(BLOCK_ERROR.DISCONNECTED, `block connection to the array lost: ${why}`);
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.reject(this.closedError);
    this.emit('close', this.closedError);
  }

  close(): void {
    this.lost('closed by the client');
    this.array.pathClosed(this);
  }

  terminate(): void {
    this.lost('terminated by the client');
    this.array.pathClosed(this);
  }

  /** The host died: the array sees the connection close; nothing runs on the host's side any more. */
  dropByHost(): void {
    this.open = false;
    this.pending.clear();
    this.array.pathClosed(this);
  }
}

/** The HELLO_ACK of a simulated NAS session (the fields nas-server.ts sends). */
function helloAck(sessionId: number, maxInFlight: number, capacityBytes: number) {
  return {
    type: NAS_RECORD.HELLO_ACK, version: NAS_PROTOCOL_VERSION, maxInFlight, sessionId, maxIoBytes: NAS_MAX_IO_BYTES,
    maxReaddirEntries: NAS_MAX_READDIR_ENTRIES, rootId: NAS_ROOT_ID, capacityBytes,
  } as const;
}

/**
 * One NAS connection of a host to an array's share, in process: the NasSocket a NasClient talks over.
 * Messages are the NAS protocol's bytes (encoded by the client, parsed by the array), each delivered one
 * hop later.
 */
export class SimNasSocket extends EventEmitter implements NasSocket {
  readyState = 1;
  /** Host to array, array to host. */
  readonly up: SimHopLine;
  readonly down: SimHopLine;

  constructor(private readonly array: SimArray, readonly share: ShareStore, random: Random) {
    super();
    this.up = new SimHopLine(array.sched, random);
    this.down = new SimHopLine(array.sched, random);
  }

  send(data: Buffer): void {
    if (this.readyState !== 1) return;
    const copy = Buffer.from(data);
    this.up.send(() => this.array.nasMessage(this, copy));
  }

  /** A message from the array arrives. */
  deliver(data: Buffer): void {
    if (this.readyState === 1) this.emit('message', data);
  }

  /** Either side closed the connection: the client fails its calls ('close'). */
  closed(): void {
    if (this.readyState !== 1) return;
    this.readyState = 3;
    this.emit('close');
  }

  close(): void {
    this.closed();
    this.array.nasClosed(this);
  }

  /** The host died: the array drops the connection; nothing runs on the host's side any more. */
  dropByHost(): void {
    this.readyState = 3;
    this.array.nasClosed(this);
  }
}

/** A storage array of the topology, in process. */
export class SimArray {
  readonly store = new MemoryBlockStore();
  /** The NAS shares' key-value store, kept across a restart like the block store. */
  private readonly nasKv = new MemoryNasKv();
  private shares: Map<string, ShareStore> | undefined;
  private readonly nasSockets = new Set<SimNasSocket>();
  private nasSessions = 0;
  array: StorageArray | undefined;
  running = false;
  /** Bumped at each kill: answers computed before it are dropped. */
  private generation = 0;
  private readonly paths = new Set<SimBlockPath>();
  /** The iSCSI portal (daemons/storage/iscsi-portal.ts) when the array has one, its timers and connections. */
  portal: IscsiPortal | undefined;
  private portalTimers: SimTimerGroup | undefined;
  private readonly iscsiSockets = new Set<SimByteSocket>();

  constructor(readonly model: ArrayModel, readonly sched: SimScheduler, private readonly random: Random) {}

  /** Opens the array over its store (the LUNs of the topology created or kept), as stored starts. */
  async start(): Promise<void> {
    const clock: Clock = this.sched;
    const array = await openArray({ name: this.model.name, store: this.store, clock });
    await ensureLuns(array, this.model.luns.map((l) => ({
      name: l.name, sizeBytes: l.sizeBytes, blockSizeBytes: l.blockSizeBytes, lun: l.lunId,
      ...(l.ats === false ? { ats: false } : {}), ...(l.provisioning !== undefined ? { provisioning: l.provisioning } : {}),
    })));
    // share mtimes on the virtual clock (ns), as stored stamps them with its wall clock
    this.shares = await openShares(this.nasKv, this.model.shares.map((x) => ({ name: x.name, sizeMB: x.sizeMB })), () => BigInt(Math.round(this.sched.nowMs() * 1e6)));
    this.array = array;
    if (this.model.iscsi !== undefined) {
      // the portal stored runs (same access rules), handed in-process connections instead of listening
      const group = (this.portalTimers = new SimTimerGroup(this.sched));
      const { port: _port, ...access } = this.model.iscsi;
      this.portal = new IscsiPortal({
        target: array, arrayName: this.model.name, budget: new InFlightBudget(MAX_ARRAY_IN_FLIGHT_BYTES), host: this.model.name, port: 0,
        lunNumbers: () => array.listLuns().map((l) => l.lun), logicalUnitReset: (lun) => array.logicalUnitReset(lun),
        onInitiatorGone: (initiator) => array.nexusLoss(initiator), log: () => {}, now: () => this.sched.nowMs(), access,
        timers: simTimers(group, this.random),
      });
    }
    this.running = true;
  }

  /** An iSCSI path's TCP connection reached the portal: the array's end of the pair; refused while down. */
  acceptIscsi(socket: SimByteSocket): void {
    if (!this.running || this.portal === undefined) throw new VfabError(BLOCK_ERROR.DISCONNECTED, `cannot connect to iSCSI portal of ${this.model.name}: connection refused`);
    this.iscsiSockets.add(socket);
    socket.once('close', () => this.iscsiSockets.delete(socket));
    this.portal.acceptConnection(socket as unknown as PortalSocket);
  }

  /** A NAS connection's HELLO reached the array: a session on the share, or refused. */
  acceptNas(share: string, maxInFlight: number, random: Random): { socket: SimNasSocket; ack: ReturnType<typeof helloAck> } {
    if (!this.running) throw new VfabError(NAS_ERROR.DISCONNECTED, `cannot connect to array ${this.model.name}: it is not running`);
    const store = this.shares?.get(share);
    if (store === undefined) throw new VfabError(NAS_ERROR.NO_SUCH_SHARE, `no share "${share}" on this array`);
    const socket = new SimNasSocket(this, store, random);
    this.nasSockets.add(socket);
    return { socket, ack: helloAck(++this.nasSessions, Math.min(maxInFlight, NAS_MAX_IN_FLIGHT), store.capacityBytes) };
  }

  /** A NAS message from a host: each REQUEST runs on the share, its REPLY goes back one hop after it is done. */
  nasMessage(socket: SimNasSocket, data: Buffer): void {
    if (!this.running || !this.nasSockets.has(socket)) return;
    const parsed = parseNasMessage(data);
    if (!parsed.ok) return; // a malformed message is dropped (the client encodes every one)
    const gen = this.generation;
    for (const rec of parsed.value) {
      if (rec.type !== NAS_RECORD.REQUEST) continue;
      const reply = (r: NasReply): void => {
        if (gen !== this.generation || !this.nasSockets.has(socket)) return;
        const bytes = encodeNasMessage([r]);
        socket.down.send(() => socket.deliver(bytes));
      };
      executeNasRequest(socket.share, rec).then(reply, () => reply({ type: NAS_RECORD.REPLY, id: rec.id, op: rec.op, flags: 0, status: NAS_STATUS.IO, attrs: undefined, value: 0, data: undefined }));
    }
  }

  nasClosed(socket: SimNasSocket): void {
    this.nasSockets.delete(socket);
  }

  lunEntries(): LunEntry[] {
    return (this.array?.listLuns() ?? []).map((l) => ({ lun: l.lun, name: l.name, blockSizeBytes: l.blockSizeBytes, blocks: l.blocks }));
  }

  /** The open block sessions, as stored's GET /control/sessions lists them (window: no credit limit in process). */
  sessions(): Array<{ sessionId: number; initiator: string; remote: string; window: number; active: number; commands: number }> {
    return [...this.paths].map((p, i) => ({ sessionId: i + 1, initiator: p.initiator, remote: 'in-process', window: 0, ...p.counts }));
  }

  /** A path connects (its handshake reached the array): a new session, or refused while the array is down. */
  accept(initiator: string, random: Random): SimBlockPath {
    if (!this.running) throw new VfabError(BLOCK_ERROR.DISCONNECTED, `connection refused: array ${this.model.name} is not running`);
    const p = new SimBlockPath(this, initiator, this.lunEntries(), random);
    this.paths.add(p);
    return p;
  }

  receive(path: SimBlockPath, id: number, cmd: ScsiCommand): void {
    if (!this.running || !path.connected || this.array === undefined) return;
    const gen = this.generation;
    const answer = (r: ScsiResult | Error): void => {
      if (gen !== this.generation || !path.connected) return; // the array died meanwhile: no answer
      const copy = r instanceof Error ? r : { ...r, ...(r.dataIn ? { dataIn: Buffer.from(r.dataIn) } : {}) };
      path.down.send(() => path.deliver(id, copy));
    };
    this.array.execute(cmd).then(answer, (e: Error) => answer(e instanceof VfabError ? e : new VfabError('VFAB_BLOCK_SCSI_ERROR', e.message)));
  }

  /** A path closed: when it was the initiator's last, its SPC-2 reservations go (I_T nexus loss). */
  pathClosed(p: SimBlockPath): void {
    if (!this.paths.delete(p)) return;
    if (this.running && ![...this.paths].some((x) => x.initiator === p.initiator)) this.array?.nexusLoss(p.initiator);
  }

  /** kill -9 of stored: in-flight answers are lost, every host sees its paths close one hop later. */
  kill(): boolean {
    if (!this.running) return false;
    this.running = false;
    this.generation++;
    this.array = undefined;
    const paths = [...this.paths];
    this.paths.clear();
    for (const p of paths) p.down.send(() => p.lost('connection closed (1006)'));
    const sockets = [...this.nasSockets];
    this.nasSockets.clear();
    this.shares = undefined;
    for (const x of sockets) x.down.send(() => x.closed());
    // the portal's process is gone: its timers with it, every iSCSI connection closes at the host one hop later
    this.portalTimers?.cancelAll();
    this.portal = undefined;
    const iscsi = [...this.iscsiSockets];
    this.iscsiSockets.clear();
    for (const x of iscsi) x.dropByHost();
    return true;
  }
}

/** What a simulated host runs of its daemon's storage code. */
interface SimHostStorage {
  host: SimHost;
  storage: HostStorage;
  datastores: HostDatastores;
  control: SimControl;
  paths: Set<SimBlockPath>;
  nas: Set<SimNasSocket>;
  /** The host's ends of its iSCSI paths. */
  iscsi: Set<SimByteSocket>;
}

export class SimStorage {
  readonly arrays = new Map<string, SimArray>();
  private readonly hosts = new Map<string, SimHostStorage>();
  /** Each host's `storage-hop:<host>` stream: the jitter of its storage hops (kept across a restart). */
  private readonly hops = new Map<string, Random>();
  /** Source ports of simulated iSCSI connections (shown as the portal's `remote`). */
  private iscsiPorts = 0;
  /** What failed to start (an HA agent's configuration, an array's attach), for the run's warnings. */
  readonly warnings: string[] = [];
  private started = false;

  constructor(private readonly f: SimFabric) {
    for (const a of f.topology.arrays) this.arrays.set(a.name, new SimArray(a, f.sched, f.random.stream(`array-random:${a.name}`)));
  }

  /**
   * True when the topology has datastores, so the simulation runs its storage; a topology whose hosts only
   * have paths or raw LUN disks runs without its arrays (simNotes says so).
   */
  static needed(t: SimFabric['topology']): boolean {
    return simRunsStorage(t);
  }

  /** Does the host's storage code power this VM on (its disks are on a datastore)? */
  ownsPowerOn(h: SimHost, vm: string): boolean {
    return (h.config.host.vms.find((v) => v.name === vm)?.disks ?? []).some((d) => d.datastore !== undefined);
  }

  /** Opens every array, then attaches every host (as `vfab up` does), and runs the fabric to `settleMs`. */
  async start(settleMs: number): Promise<void> {
    await this.f.pump.settle(Promise.all([...this.arrays.values()].map((a) => a.start())), 0, 'opening the arrays');
    this.started = true;
    for (const h of this.hosts.values()) this.attach(h);
    await this.f.pump.run(() => false, settleMs);
  }

  /** A host's core was built (start or restart): its storage attachment and datastores, as hostd builds them. */
  hostStarted(h: SimHost): void {
    const f = this.f;
    const timers = simTimers(h.timers, f.random.stream(`host-random:${h.name}`));
    const clock: Clock = f.sched;
    const control = new SimControl();
    const paths = new Set<SimBlockPath>();
    const nas = new Set<SimNasSocket>();
    const iscsi = new Set<SimByteSocket>();
    const config = h.config;
    const datastores: HostDatastores = new HostDatastores({
      host: h.name, datastores: config.host.datastores ?? [], clock, timeScale: 1, events: h.events,
      lunOf: (a, l) => storage.lunOf(a, l), token: '', nasUrlOf: (a) => storage.nasUrlOf(a), vms: config.host.vms, timers,
      connectNas: (opts) => this.connectNas(h, nas, opts),
      vmPowered: (vm, on) => {
        if (on) h.core.powerOn(vm);
        else h.core.powerOff(vm);
        h.tick.schedule();
      },
    });
    const storage: HostStorage = new HostStorage({
      server: control.server, config, token: '', events: h.events, clock, timers,
      onAttached: (array) => datastores.arrayAttached(array),
      datastoreDisk: (vm, disk) => datastores.diskFile(vm, disk),
      connectTransport: (url, path) => (pathProtocol(url) === 'iscsi' ? this.connectIscsi(h, iscsi, timers, url, path) : this.connect(h, paths, url)),
    });
    storage.register(control.server);
    datastores.register(control.server);
    // vSphere HA: the cluster's agent on the management vmk and the datastores, as hostd attaches it (the
    // runner class is loaded already, so the agent starts at this virtual instant); a host in no cluster
    // gets the routes too (GET /control/ha answers that it is in none, as hostd's)
    attachHa({
      server: control.server, name: h.name, config, host: h.core, clock, timeScale: 1, event: (type, fields) => h.events.add(type, fields),
      datastores, scheduleTick: () => h.tick.schedule(), timers, runnerClass: HaRunner,
    }).catch((e: Error) => this.warnings.push(`${h.name}: HA agent not started: ${e.message}`));
    const hs: SimHostStorage = { host: h, storage, datastores, control, paths, nas, iscsi };
    this.hosts.set(h.name, hs);
    // VMs with datastore disks power on once their datastore is mounted and their files are locked
    for (const vm of config.host.vms) {
      if (vm.haStandby || !this.ownsPowerOn(h, vm.name)) continue;
      datastores.powerOnTopologyVm(vm.name, { waitMs: VM_STARTUP_MOUNT_WAIT_MS, untilFormatted: true }).catch(() => {});
    }
    if (this.started) this.attach(hs);
  }

  /**
   * What hostd gives its vMotion service of the host's storage (daemons/hostd.ts): its datastores (lock
   * hand-over, adopting a VM, the datastores the pre-checks see) and its disk registry (a VM's datastore
   * disks move with it). Undefined for a host without storage code in this run.
   */
  vmotionHooks(host: string): { datastores: HostDatastores; storage: HostStorage } | undefined {
    const hs = this.hosts.get(host);
    return hs === undefined ? undefined : { datastores: hs.datastores, storage: hs.storage };
  }

  /** A host was killed: its paths close at the arrays; its code is gone (its timers were cancelled). */
  hostKilled(name: string): void {
    const hs = this.hosts.get(name);
    if (hs === undefined) return;
    for (const p of hs.paths) p.dropByHost();
    hs.paths.clear();
    for (const x of hs.nas) x.dropByHost();
    hs.nas.clear();
    for (const x of hs.iscsi) x.dropByHost();
    hs.iscsi.clear();
    this.hosts.delete(name);
  }

  /** POST /control/storage/arrays with the running arrays this host sees. */
  private attach(hs: SimHostStorage): void {
    const arrays: Record<string, string> = {};
    for (const s of hs.host.config.host.storage) if (this.arrays.get(s.array)?.running) arrays[s.array] = s.protocol === 'iscsi' ? simIscsiUrl(s.array) : simArrayUrl(s.array);
    if (Object.keys(arrays).length > 0) hs.storage.attach({ arrays }).catch((e: Error) => this.warnings.push(`${hs.host.name}: storage not attached: ${e.message}`));
  }

  /** The stream a host's storage hops draw their jitter from. */
  private hopRandom(host: string): Random {
    let r = this.hops.get(host);
    if (r === undefined) this.hops.set(host, (r = this.f.random.stream(`storage-hop:${host}`)));
    return r;
  }

  /** A path's connection: the handshake reaches the array one hop later, its answer one hop after that. */
  private connect(h: SimHost, paths: Set<SimBlockPath>, url: string): Promise<PathTransport> {
    const name = /^sim:\/\/([^/]+)\//.exec(url)?.[1] ?? '';
    const array = this.arrays.get(name);
    const initiator = `iqn.2026-11.vfab:${h.name}`;
    return new Promise<PathTransport>((resolve, reject) => {
      const random = this.hopRandom(h.name);
      h.timers.after(simHopMs(random) + simHopMs(random), () => {
        try {
          if (array === undefined) throw new VfabError(BLOCK_ERROR.DISCONNECTED, `no array at ${url}`);
          const p = array.accept(initiator, random);
          paths.add(p);
          p.once('close', () => paths.delete(p));
          resolve(p);
        } catch (e) {
          reject(e as Error);
        }
      });
    });
  }

  /**
   * An iSCSI path: the daemons' iSCSI client (daemons/storage/iscsi-client.ts: login with the topology's
   * CHAP, LUN discovery, commands as PDUs) over an in-process byte connection to the array's portal; the
   * TCP handshake takes two hops, every write one jittered hop. The ISID is the path's, as in hostd.
   */
  private connectIscsi(h: SimHost, sockets: Set<SimByteSocket>, timers: Timers, url: string, path: number): Promise<PathTransport> {
    // (loaded with this module, not on demand as hostd does: a dynamic import would settle on the wall clock)
    const random = this.hopRandom(h.name);
    const name = parseIscsiUrl(url)?.host ?? '';
    const chap = h.config.iscsiTargets?.[name]?.chap;
    const dial = (): Promise<SimByteSocket> => new Promise((resolve, reject) => {
      h.timers.after(simHopMs(random) + simHopMs(random), () => {
        try {
          const array = this.arrays.get(name);
          if (array === undefined) throw new VfabError(BLOCK_ERROR.DISCONNECTED, `no array at ${url}`);
          const [mine, theirs] = SimByteSocket.pair(this.f.sched, random, h.name, name, ++this.iscsiPorts);
          array.acceptIscsi(theirs);
          sockets.add(mine);
          mine.once('close', () => sockets.delete(mine));
          resolve(mine);
        } catch (e) {
          reject(e as Error);
        }
      });
    });
    return connectIscsiClient({
      url, initiator: `iqn.2026-11.vfab:${h.name}`, isid: pathIsid(path), ...(chap ? { chap } : {}), timers,
      dial: async () => (await dial()) as unknown as IscsiSocket,
    });
  }

  /** A NAS connection: HELLO reaches the array one hop later, HELLO_ACK comes back one hop after that. */
  private connectNas(h: SimHost, sockets: Set<SimNasSocket>, opts: NasClientOptions): Promise<NasClient> {
    const name = /^sim:\/\/([^/]+)\//.exec(opts.url)?.[1] ?? '';
    const array = this.arrays.get(name);
    return new Promise<NasClient>((resolve, reject) => {
      const random = this.hopRandom(h.name);
      h.timers.after(simHopMs(random) + simHopMs(random), () => {
        try {
          if (array === undefined) throw new VfabError(NAS_ERROR.DISCONNECTED, `cannot connect to ${opts.url}: no such array`);
          const { socket, ack } = array.acceptNas(opts.share, opts.maxInFlight ?? NAS_DEFAULT_IN_FLIGHT, random);
          sockets.add(socket);
          socket.once('close', () => sockets.delete(socket));
          resolve(NasClient.attach(socket, ack));
        } catch (e) {
          reject(e as Error);
        }
      });
    });
  }

  /** The storage, datastore and HA routes of a running host (undefined: it has no storage here). */
  hostControl(name: string): SimControl | undefined {
    return this.hosts.get(name)?.control;
  }

  /** The datastores of a running host (undefined: it has no storage here). */
  hostDatastores(name: string): HostDatastores | undefined {
    return this.hosts.get(name)?.datastores;
  }

  private hostStorage(name: string): SimHostStorage {
    this.f.host(name); // VFAB_DAEMON_DOWN when it was killed, as an unreachable daemon
    const hs = this.hosts.get(name);
    if (hs === undefined) throw new VfabError('VFAB_NOT_FOUND', `${name} has no storage in this simulated run`);
    return hs;
  }

  /** A control request to a host's storage routes, run on the virtual clock until it answers. */
  request<T>(host: string, method: string, path: string, body: unknown, waitMs: number): Promise<T> {
    const hs = this.hostStorage(host);
    return this.f.pump.settle(hs.control.call<T>(method, path, body), this.f.sched.nowMs() + waitMs, `${host}: ${method} ${path}`);
  }

  private dsRoute(datastore: string, rest: string): string {
    return `/control/datastores/${encodeURIComponent(datastore)}/${rest}`;
  }

  private hostsListing(datastore: string): string[] {
    return this.f.topology.hosts.filter((h) => (h.datastores ?? []).some((d) => d.name === datastore)).map((h) => h.name);
  }

  // ---- the scenario driver's storage steps and checks (as daemons/scenario/driver.ts does them) ----------

  async vmPower(req: PowerRequest, nowMs: () => number): Promise<PowerAttempt> {
    const started = nowMs();
    const verb = req.on ? 'power-on' : 'power-off';
    try {
      const r0 = resolveHostDatastore(this.f.topology, req.host, req.datastore);
      if (!r0.ok) throw new VfabError('VFAB_HOSTDATASTORE_NOT_FOUND', r0.message);
      const ds = r0.name;
      const body = req.on && req.maxWaitMs !== undefined ? { waitMs: req.maxWaitMs } : {};
      const r = await this.request<{ files?: Array<{ path: string }>; released?: string[] }>(req.host, 'POST', this.dsRoute(ds, `vms/${encodeURIComponent(req.vm)}/${verb}`), body,
        (req.maxWaitMs ?? MAX_POWER_ON_WAIT_MS) + SIM_CONTROL_SLACK_MS);
      const files = req.on ? (r.files ?? []).map((x) => x.path) : (r.released ?? []);
      return { host: req.host, on: req.on, outcome: 'ok', message: `${req.on ? 'opened' : 'released'} ${files.join(', ') || 'nothing'} on ${ds}`, tookMs: nowMs() - started };
    } catch (e) {
      const code = (e as VfabError).code;
      return { host: req.host, on: req.on, outcome: code === DS_ERROR.LOCKED ? 'locked' : 'fails', ...(code ? { code } : {}), message: (e as Error).message, tookMs: nowMs() - started };
    }
  }

  async datastoreFiles(datastore: string, via?: string): Promise<{ via: string; files: DatastoreFileRow[] }> {
    const errors: string[] = [];
    for (const host of via !== undefined ? [via] : this.hostsListing(datastore)) {
      try {
        const r = await this.request<{ files: DatastoreFileRow[] }>(host, 'GET', this.dsRoute(datastore, 'files'), undefined, SIM_CONTROL_SLACK_MS);
        return { via: host, files: r.files };
      } catch (e) {
        errors.push(`${host}: ${(e as Error).message}`); // a killed host: read through the next one
      }
    }
    throw new VfabError('VFAB_CONTROL_UNREACHABLE', `no host could read ${datastore}: ${errors.join('; ') || 'no host lists it'}`);
  }

  async datastoreState(host: string, datastore: string): Promise<{ state: string | null; error?: string | null }> {
    const r = await this.request<{ datastores: Array<{ name: string; state: string; error: string | null }> }>(host, 'GET', '/control/datastores', undefined, SIM_CONTROL_SLACK_MS);
    const d = r.datastores.find((x) => x.name === datastore);
    return d ? { state: d.state, error: d.error } : { state: null };
  }

  /** Formats through one host, then mounts on the others (as the daemon driver and `vfab datastore format` do). */
  async format(a: ActionStep & { kind: 'datastoreFormat' }): Promise<string> {
    const hosts = this.hostsListing(a.datastore);
    const via = a.host ?? hosts[0];
    if (via === undefined) throw new VfabError('VFAB_HOSTDATASTORE_NOT_FOUND', `no host lists datastore ${a.datastore}`);
    const f = await this.request<{ state: string }>(via, 'POST', this.dsRoute(a.datastore, 'format'), { force: a.force, locking: a.locking }, SIM_FORMAT_TIMEOUT_MS);
    const mounted = [`${via} ${f.state}`];
    for (const h of hosts.filter((x) => x !== via)) {
      const m = await this.request<{ state: string }>(h, 'POST', this.dsRoute(a.datastore, 'mount'), {}, SIM_FORMAT_TIMEOUT_MS);
      mounted.push(`${h} ${m.state}`);
    }
    const line = `formatted ${a.datastore} (${a.locking}) through ${via}; ${mounted.join(', ')}`;
    if (!mounted.every((m) => m.endsWith(' mounted'))) throw new VfabError('VFAB_SCENARIO_STEP', `${line}: not mounted everywhere`);
    return line;
  }

  async fault(fault: StorageFaultSpec): Promise<string> {
    switch (fault.kind) {
      case 'stall': {
        const what = `${fault.array}${fault.lun !== undefined ? `/${fault.lun}` : ''}`;
        await this.request(fault.host, 'POST', `/control/storage/stall/${encodeURIComponent(fault.array)}`, { ms: fault.ms, ...(fault.lun !== undefined ? { lun: fault.lun } : {}) }, SIM_CONTROL_SLACK_MS);
        return fault.ms === 0 ? `${fault.host}: stall of I/O to ${what} ended` : `${fault.host}: I/O to ${what} stalled for ${fault.ms} ms (fabric clock)`;
      }
      case 'paths': {
        const r = await this.request<{ paths: Array<{ path: number; state: string }> }>(fault.host, 'POST', `/control/storage/paths/${encodeURIComponent(fault.array)}`, { up: fault.up }, SIM_CONTROL_SLACK_MS);
        return `${fault.host}: every path to ${fault.array} ${fault.up ? 'restored' : 'failed'} (${r.paths.map((p) => `P${p.path} ${p.state}`).join(', ')})`;
      }
      case 'ats': {
        const arr = this.runningArray(fault.array);
        await this.f.pump.settle(arr.setLunAts(fault.lun, fault.enabled), this.f.sched.nowMs() + SIM_CONTROL_SLACK_MS, `${fault.array}: ATS`);
        return `${fault.array}/${fault.lun}: ATS (COMPARE AND WRITE) ${fault.enabled ? 'on' : 'off'}`;
      }
    }
  }

  /** `isolate` / `noIsolate`: the host's management vmk port blocked or unblocked (as `vfab fault isolate`). */
  async isolate(host: string, isolated: boolean): Promise<string> {
    const r = await this.request<{ vmk: string; up: boolean }>(host, 'POST', '/control/vmkernels/management/link', { up: !isolated }, SIM_CONTROL_SLACK_MS);
    this.f.host(host).tick.schedule();
    return `${r.vmk} ${r.up ? 'unblocked' : 'blocked'}`;
  }

  private runningArray(name: string): StorageArray {
    const a = this.arrays.get(name);
    if (a === undefined) throw new VfabError('VFAB_NOT_FOUND', `no array named ${name}`);
    if (a.array === undefined) throw new VfabError('VFAB_DAEMON_DOWN', `${name} is not running (killed in this simulated run; restart it)`);
    return a.array;
  }

  isArray(name: string): boolean {
    return this.arrays.has(name);
  }

  killArray(name: string): boolean {
    return this.arrays.get(name)!.kill();
  }

  /**
   * The array starts again over the same store; hosts that see it reconnect their paths (their multipath
   * clients retry every second) and the step waits until every path is connected again, as daemon mode does;
   * `wait` runs the fabric meanwhile (the pump; `vfab up --sim`: its wall-clock pacer).
   */
  async restartArray(name: string, wait: (done: () => boolean, untilMs: number) => Promise<void> = (done, untilMs) => this.f.pump.run(done, untilMs)): Promise<void> {
    const a = this.arrays.get(name)!;
    a.kill();
    await this.f.pump.settle(a.start(), this.f.sched.nowMs() + SIM_CONTROL_SLACK_MS, `${name}: restart`);
    const users = [...this.hosts.values()].filter((hs) => hs.host.config.host.storage.some((s) => s.array === name));
    for (const hs of users) this.attach(hs);
    const connected = () => users.every((hs) => {
      const st = hs.storage.status() as { arrays: Array<{ array: string; state: string; paths: Array<{ connected: boolean; adminDown: boolean }> }> };
      const x = st.arrays.find((y) => y.array === name);
      return x?.state === 'attached' && x.paths.every((p) => p.connected || p.adminDown);
    });
    await wait(connected, this.f.sched.nowMs() + SIM_REATTACH_TIMEOUT_MS);
    if (!connected()) throw new VfabError('VFAB_FAULT_STORAGE_TIMEOUT', `paths to ${name} not connected again within ${SIM_REATTACH_TIMEOUT_MS} ms`);
  }
}

