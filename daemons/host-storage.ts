// A host's storage attachment (the I/O edge of hostd for storage): for each array the topology grants
// (`config.host.storage`), one MultipathClient with `paths` connections (initiator
// `iqn.2026-11.vfab:<host>`), block-protocol ones or, with `protocol: iscsi`, one iSCSI session per path
// (a distinct ISID each) to the array's portal, the path selection policy of the topology (roundRobin / fixed / mru, see
// lib/storage/multipath.ts) and the all-paths-down timeout (VFAB_APD_TIMEOUT_MS or the `apdTimeoutMs` of
// POST /control/storage/arrays; default VMware's 140 s). VM disks (`config.host.vms[].disks`) are byte
// ranges of their LUN placed by the datastore directory (lib/storage/datastore.ts: sequential, 1 MiB
// aligned, added with COMPARE AND WRITE so hosts sharing a LUN never overlap). Any host that sees the LUN
// can read a disk of another host's VM (read-only), like browsing a shared datastore. A disk on a
// VMFS-like datastore (`disks[].datastore`) is a file instead: its reads, writes and loads go through the
// runs of its `-flat.vmdk` extents that daemons/datastore hands out (`datastoreDisk`) only while this host
// holds the file's exclusive lock (the VM is powered on here).
// Control routes registered on hostd's ControlServer:
//   GET  /control/storage                              arrays, paths (state, I/O counts), LUNs, disks
//   POST /control/storage/arrays                       {arrays: {name: ws-url | iscsi-url}, apdTimeoutMs?}: attach
//   POST /control/storage/paths/:array/:index          {up}: fail / restore one path (cable pull)
//   POST /control/storage/paths/:array                 {up}: fail / restore every path to the array
//   POST /control/storage/stall/:array                 {lun?, ms}: hold the host's I/O to the array (or one
//                                                      LUN) for ms fabric ms (lib/storage/stall.ts); ms 0 ends it
//   GET  /control/vms/:vm/disks                        the VM's disks
//   POST /control/vms/:vm/disks/:disk/write            {offset, dataBase64}
//   POST /control/vms/:vm/disks/:disk/read             {offset, length} -> {dataBase64}
//   POST /control/vms/:vm/disks/:disk/load             {pattern, blockBytes, depth, seconds, readPercent}
// iSCSI paths log in with the CHAP the array's portal asks for (from the plan). Leaves out reading another
// host's datastore disk, LUN rescans (LUNs created after attach are not seen until hostd restarts) and VAAI beyond ATS.

import { VfabError } from '../lib/errors.js';
import { SystemClock, seededRandom, type Clock } from '../lib/clock.js';
import type { HostConfig } from './fabric/plan.js';
import type { Vm } from '../lib/topology/model.js';
import { HOST_INITIATOR_PREFIX } from '../lib/iscsi/well-known.js';
import type { ControlServer } from './common/server.js';
import type { EventLog } from './common/events.js';
import { MultipathClient, pathProtocol, type PathTransport } from './storage/multipath-client.js';
import { realTimers, type TimerHandle, type Timers } from './common/timers.js';
import { parseIscsiUrl } from './storage/iscsi-url.js';
import type { PathPolicy } from '../lib/storage/multipath.js';
import { VDisk, runWorkload, MAX_WORKLOAD_DEPTH, MAX_VDISK_TRANSFER_BYTES, MAX_WORKLOAD_SECONDS } from '../lib/storage/vdisk.js';
import { SCSI_STATUS, SENSE_KEY } from '../lib/storage/scsi.js';
import { compareAndWrite } from '../lib/storage/cdb.js';
import { MAX_STALL_MS, StallGate } from '../lib/storage/stall.js';
import { DATASTORE_DIR_BYTES, DATASTORE_ERROR, parseDirectory, planDisk, type DatastoreDisk } from '../lib/storage/datastore.js';
import type { DatastoreDiskFile } from './datastore/host-datastores.js';
import { flatName } from '../lib/datastore/vm.js';

/** Largest read or write of one control request (the base64 body stays under the 1 MiB control limit). */
export const MAX_DISK_REQUEST_BYTES = 512 * 1024;
/** Longest `disk load` run (lib/storage/vdisk.ts, where the CLI reads it too). */
export const MAX_LOAD_SECONDS = MAX_WORKLOAD_SECONDS;
/** COMPARE AND WRITE attempts to add a disk to a directory other hosts are changing. */
export const MAX_DIRECTORY_RETRIES = 16;
/** Initiator names: IQN of the host (RFC 3720 style, date = vfab's naming authority month). */
export const INITIATOR_PREFIX = HOST_INITIATOR_PREFIX;

export const HOST_STORAGE_ERROR = {
  /** No VM of that name on this host (nor a disk of it on a LUN this host sees). */
  VM_NOT_FOUND: 'VFAB_HOSTSTORAGE_VM_NOT_FOUND',
  /** The VM has no disk of that name. */
  DISK_NOT_FOUND: 'VFAB_HOSTSTORAGE_DISK_NOT_FOUND',
  /** The array is not granted to this host by the topology. */
  ARRAY_NOT_FOUND: 'VFAB_HOSTSTORAGE_ARRAY_NOT_FOUND',
  /** The array's LUN is not visible (not granted or not on the array). */
  LUN_NOT_FOUND: 'VFAB_HOSTSTORAGE_LUN_NOT_FOUND',
  /** The array is not attached yet (no URL received, or connecting failed). */
  NOT_ATTACHED: 'VFAB_HOSTSTORAGE_NOT_ATTACHED',
  /** Bad request body (offset, length, base64, workload options). */
  BAD_REQUEST: 'VFAB_HOSTSTORAGE_BAD_REQUEST',
  /** A read or write larger than MAX_DISK_REQUEST_BYTES in one request. */
  TOO_LARGE: 'VFAB_HOSTSTORAGE_TOO_LARGE',
  /** Another host's VM disk can only be read from here. */
  READ_ONLY: 'VFAB_HOSTSTORAGE_READ_ONLY',
} as const;

export interface HostStorageDeps {
  server: ControlServer;
  config: HostConfig;
  token: string;
  events: EventLog;
  clock?: Clock;
  log?: (line: string) => void;
  /** Told when an array is attached (its LUNs can be used; daemons/datastore mounts its datastores). */
  onAttached?: (array: string) => void;
  /** A VM disk that is a datastore file: its LUN and runs, checked to be locked by this host (daemons/datastore). */
  datastoreDisk?: (vm: string, disk: string) => Promise<DatastoreDiskFile | undefined>;
  /** Stall, reconnect and path-wait timers (default Node's; the simulation passes the host's scheduler timers). */
  timers?: Timers;
  /** Opens a storage path in process instead of over a socket (the simulation, daemons/sim/storage.ts). */
  connectTransport?: (url: string, path: number) => Promise<PathTransport>;
}

/** Where a disk request goes: the LUN, the disk's size and the LUN bytes of a disk byte range. */
interface DiskTarget {
  lun: VDisk;
  sizeBytes: number;
  runs: (offset: number, length: number) => Array<{ fileOffset: number; lunOffsetBytes: number; bytes: number }>;
  /** The LUN region a workload runs over (a datastore file: its first contiguous run). */
  region: { offsetBytes: number; regionBytes: number };
  /** A datastore disk's file, e.g. "ds1:web1/web1-flat.vmdk". */
  file?: string;
}

interface ArrayState {
  name: string;
  paths: number;
  protocol: 'block' | 'iscsi';
  policy: PathPolicy;
  /** LUN names granted; empty = every LUN of the array. */
  lunNames: string[];
  url: string | undefined;
  client: MultipathClient | undefined;
  /** In front of the client: holds commands while a stall fault is active (lib/storage/stall.ts). */
  gate: StallGate | undefined;
  stallTimer: TimerHandle;
  state: 'waiting' | 'connecting' | 'attached' | 'failed';
  error: string | undefined;
  luns: Map<string, VDisk>;
}

interface DiskState {
  vm: string;
  name: string;
  array: string;
  lun: string;
  /** The datastore of a disk that is a file there (no placement in the LBA-0 directory). */
  datastore: string | undefined;
  sizeBytes: number;
  placed: DatastoreDisk | undefined;
  error: string | undefined;
}

const POLICY: Record<string, PathPolicy> = { roundRobin: 'rr', fixed: 'fixed', mru: 'mru' };

/** ESX-style runtime name of a path: block paths on vmhba64, iSCSI paths on the software iSCSI adapter vmhba65. */
function pathName(protocol: 'block' | 'iscsi', path: number): string {
  return `${protocol === 'iscsi' ? 'vmhba65' : 'vmhba64'}:C0:T0:P${path}`;
}

function bad(message: string): VfabError {
  return new VfabError(HOST_STORAGE_ERROR.BAD_REQUEST, message);
}

function intField(body: Record<string, unknown> | undefined, field: string, dflt?: number): number {
  const v = body?.[field] ?? dflt;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad(`"${field}" must be a non-negative integer, got ${JSON.stringify(v)}`);
  return v;
}

export class HostStorage {
  readonly host: string;
  readonly initiator: string;
  private readonly arrays = new Map<string, ArrayState>();
  private readonly disks = new Map<string, DiskState>();
  private readonly clock: Clock;
  private readonly timers: Timers;
  private apdTimeoutMs: number | undefined;
  /** The fabric's time scale: a stall of N fabric ms lasts N / timeScale wall ms. */
  private readonly timeScale: number;

  constructor(private readonly deps: HostStorageDeps) {
    const h = deps.config.host;
    this.host = h.name;
    this.initiator = INITIATOR_PREFIX + h.name;
    this.clock = deps.clock ?? new SystemClock();
    this.timers = deps.timers ?? realTimers;
    this.timeScale = deps.config.timeScale ?? 1;
    const env = process.env.VFAB_APD_TIMEOUT_MS;
    if (env !== undefined && env !== '') {
      const n = Number(env);
      if (Number.isFinite(n) && n >= 0) this.apdTimeoutMs = n;
    }
    for (const s of h.storage ?? []) {
      this.arrays.set(s.array, {
        name: s.array,
        paths: s.paths,
        protocol: s.protocol ?? 'block',
        policy: POLICY[s.policy] ?? 'fixed',
        lunNames: s.luns ?? [],
        url: undefined,
        client: undefined,
        gate: undefined,
        stallTimer: undefined,
        state: 'waiting',
        error: undefined,
        luns: new Map(),
      });
    }
    for (const vm of h.vms) {
      for (const d of vm.disks ?? []) {
        this.disks.set(`${vm.name}/${d.name}`, { vm: vm.name, name: d.name, array: d.array, lun: d.lun, datastore: d.datastore, sizeBytes: d.sizeBytes, placed: undefined, error: undefined });
      }
    }
  }

  /**
   * A VM that arrived by vMotion (`vm`) or left (its name): its datastore disks become (or stop being) this
   * host's, so the disk routes answer for it where it runs. Disks carved straight from a LUN are not moved.
   */
  adoptVmDisks(vm: Vm | string): void {
    const name = typeof vm === 'string' ? vm : vm.name;
    for (const [key, d] of this.disks) if (d.vm === name) this.disks.delete(key);
    if (typeof vm === 'string') return;
    for (const d of vm.disks ?? []) {
      if (d.datastore) this.disks.set(`${vm.name}/${d.name}`, { vm: vm.name, name: d.name, array: d.array, lun: d.lun, datastore: d.datastore, sizeBytes: d.sizeBytes, placed: undefined, error: undefined });
    }
  }

  /** Registers the control routes. */
  register(server: ControlServer): void {
    server
      .on('GET', '/control/storage', () => this.status())
      .on('POST', '/control/storage/arrays', (req) => this.attach(req.body))
      .on('POST', '/control/storage/paths/:array', (req) => this.setAllPaths(req.params.array!, req.body))
      .on('POST', '/control/storage/stall/:array', (req) => this.stall(req.params.array!, req.body))
      .on('POST', '/control/storage/paths/:array/:index', (req) => this.setPath(req.params.array!, req.params.index!, req.body?.up !== false))
      .on('GET', '/control/vms/:vm/disks', (req) => ({ vm: req.params.vm, disks: this.vmDisks(req.params.vm!) }))
      .on('POST', '/control/vms/:vm/disks/:disk/write', (req) => this.write(req.params.vm!, req.params.disk!, req.body))
      .on('POST', '/control/vms/:vm/disks/:disk/read', (req) => this.read(req.params.vm!, req.params.disk!, req.body))
      .on('POST', '/control/vms/:vm/disks/:disk/load', (req) => this.load(req.params.vm!, req.params.disk!, req.body));
  }

  status(): unknown {
    return {
      host: this.host,
      initiator: this.initiator,
      apdTimeoutMs: this.apdTimeoutMs ?? null,
      arrays: [...this.arrays.values()].map((a) => ({
        array: a.name,
        state: a.state,
        error: a.error ?? null,
        url: a.url ?? null,
        policy: a.policy,
        retriedCommands: a.client?.retriedCommands ?? 0,
        allPathsDownSinceMs: a.client?.selector.allPathsDownSinceMs ?? null,
        stalls: a.gate?.active().map((st) => ({ lun: st.lun === undefined ? null : this.lunName(a, st.lun), remainingMs: Math.max(0, Math.round((st.untilMs - this.clock.nowMs()) * this.timeScale)), held: st.held })) ?? [],
        stalledCommands: a.gate?.counters ?? null,
        protocol: a.protocol,
        ...(a.protocol === 'iscsi' ? { target: a.url === undefined ? null : (parseIscsiUrl(a.url)?.iqn ?? null) } : {}),
        paths: a.client
          ? a.client.paths().map((p) => ({ path: p.path, name: pathName(a.protocol, p.path), protocol: p.protocol, state: p.state, io: p.io, connected: p.connected, adminDown: p.adminDown, selected: p.selected, failures: p.failures }))
          : Array.from({ length: a.paths }, (_, i) => ({ path: i, name: pathName(a.protocol, i), protocol: a.protocol, state: 'dead', io: false, connected: false, adminDown: false, selected: 0, failures: 0 })),
        luns: [...a.luns.entries()].map(([name, d]) => ({ name, lun: d.lun, blockSizeBytes: d.blockSizeBytes, sizeBytes: d.sizeBytes })),
      })),
      disks: [...this.disks.values()].map((d) => ({
        vm: d.vm,
        disk: d.name,
        array: d.array,
        lun: d.lun,
        datastore: d.datastore ?? null,
        file: d.datastore === undefined ? null : `${d.vm}/${this.flatOf(d)}`,
        sizeBytes: d.sizeBytes,
        offsetBytes: d.placed?.offsetBytes ?? null,
        error: d.error ?? null,
      })),
    };
  }

  private vmDisks(vm: string): unknown[] {
    if (!this.deps.config.host.vms.some((v) => v.name === vm)) throw this.noVm(vm);
    return [...this.disks.values()].filter((d) => d.vm === vm).map((d) => ({
      disk: d.name, array: d.array, lun: d.lun, datastore: d.datastore ?? null, file: d.datastore === undefined ? null : `${d.vm}/${this.flatOf(d)}`,
      sizeBytes: d.sizeBytes, offsetBytes: d.placed?.offsetBytes ?? null,
    }));
  }

  /** The flat file name of a datastore disk: `<vm>-flat.vmdk` for the VM's first datastore disk, `<vm>_N-flat.vmdk` after. */
  private flatOf(d: DiskState): string {
    const i = [...this.disks.values()].filter((x) => x.vm === d.vm && x.datastore !== undefined).indexOf(d);
    return flatName(d.vm, i);
  }

  private noVm(vm: string): VfabError {
    const vms = this.deps.config.host.vms.map((v) => v.name);
    return new VfabError(HOST_STORAGE_ERROR.VM_NOT_FOUND, `no VM ${JSON.stringify(vm)} on ${this.host} (VMs here: ${vms.join(', ') || 'none'})`);
  }

  /** Receives the arrays' block URLs and connects every path; resolves when each array is attached or failed. */
  async attach(body: Record<string, unknown> | undefined): Promise<unknown> {
    const urls = body?.arrays;
    if (typeof urls !== 'object' || urls === null) throw bad('need {"arrays": {"<array>": "ws://127.0.0.1:PORT/block"}}');
    if (body?.apdTimeoutMs !== undefined) this.apdTimeoutMs = intField(body, 'apdTimeoutMs');
    const jobs: Array<Promise<void>> = [];
    for (const [name, url] of Object.entries(urls as Record<string, unknown>)) {
      const a = this.arrays.get(name);
      if (a === undefined || typeof url !== 'string') continue; // arrays this host does not see
      if (a.state === 'attached' || a.state === 'connecting') continue;
      if (pathProtocol(url) !== a.protocol) throw bad(`array ${name}: ${url} is not a ${a.protocol} URL (the topology says protocol: ${a.protocol})`);
      a.url = url;
      jobs.push(this.connectArray(a));
    }
    await Promise.all(jobs);
    return this.status();
  }

  private async connectArray(a: ArrayState): Promise<void> {
    a.state = 'connecting';
    a.error = undefined;
    try {
      a.client = await MultipathClient.connect({
        urls: Array.from({ length: a.paths }, () => a.url!),
        token: this.deps.token,
        initiator: this.initiator,
        ...(this.deps.config.iscsiTargets?.[a.name]?.chap ? { chap: this.deps.config.iscsiTargets[a.name]!.chap! } : {}),
        policy: a.policy,
        ...(this.apdTimeoutMs !== undefined ? { apdTimeoutMs: this.apdTimeoutMs } : {}),
        clock: this.clock,
        timers: this.timers,
        ...(this.deps.connectTransport ? { connectTransport: this.deps.connectTransport } : {}),
        log: (line) => {
          this.deps.log?.(`storage ${a.name}: ${line}`);
          this.deps.events.add('storage-path', { array: a.name, message: line });
        },
      });
      const client = a.client;
      const gate = new StallGate(client, () => this.clock.nowMs(), (e) => {
        this.deps.events.add('storage-stall-end', { array: a.name, lun: e.lun === undefined ? null : this.lunName(a, e.lun), held: e.held, sent: e.sent, aborted: e.aborted });
      });
      a.gate = gate;
      const entries = client.lunEntries();
      const wanted = a.lunNames.length > 0 ? a.lunNames : entries.map((e) => e.name);
      for (const lunName of wanted) {
        const e = entries.find((x) => x.name === lunName);
        if (e === undefined) {
          this.deps.log?.(`storage ${a.name}: LUN ${lunName} is not on the array`);
          continue;
        }
        a.luns.set(lunName, new VDisk(gate, { lun: e.lun, initiator: this.initiator, blockSizeBytes: e.blockSizeBytes, blocks: e.blocks }));
      }
      a.state = 'attached';
      this.deps.events.add('storage-attached', { array: a.name, paths: a.paths, policy: a.policy, luns: [...a.luns.keys()] });
      this.deps.onAttached?.(a.name);
      for (const d of this.disks.values()) if (d.datastore === undefined && d.array === a.name) await this.placeDisk(d, a);
    } catch (e) {
      a.state = 'failed';
      a.error = e instanceof Error ? e.message : String(e);
      this.deps.log?.(`storage ${a.name}: attach failed: ${a.error}`);
    }
  }

  /** Finds or adds the disk in the LUN's datastore directory (COMPARE AND WRITE against what was read). */
  private async placeDisk(d: DiskState, a: ArrayState): Promise<void> {
    const lun = a.luns.get(d.lun);
    if (lun === undefined) {
      d.error = `LUN ${d.lun} of ${a.name} is not visible to ${this.host}`;
      return;
    }
    const sizeBytes = Math.ceil(d.sizeBytes / lun.blockSizeBytes) * lun.blockSizeBytes;
    try {
      for (let attempt = 0; attempt < MAX_DIRECTORY_RETRIES; attempt++) {
        const current = await lun.read(0, DATASTORE_DIR_BYTES);
        const dir = parseDirectory(current);
        if (!dir.ok) throw dir.error;
        const plan = planDisk(dir.value, `${d.vm}/${d.name}`, sizeBytes, lun.sizeBytes, lun.blockSizeBytes);
        if (!plan.ok) throw plan.error;
        if (plan.value.kind === 'found') {
          d.placed = plan.value.disk;
          return;
        }
        const blocks = DATASTORE_DIR_BYTES / lun.blockSizeBytes;
        const r = await lun.target.execute({ initiator: this.initiator, lun: lun.lun, cdb: compareAndWrite(0, blocks), dataOut: Buffer.concat([current, plan.value.directory]) });
        if (r.status === SCSI_STATUS.GOOD) {
          d.placed = plan.value.disk;
          this.deps.events.add('disk-placed', { vm: d.vm, disk: d.name, lun: d.lun, offsetBytes: d.placed.offsetBytes, sizeBytes });
          return;
        }
        if (r.status !== SCSI_STATUS.CHECK_CONDITION || r.sense?.key !== SENSE_KEY.MISCOMPARE) {
          throw new VfabError(DATASTORE_ERROR.CORRUPT, `COMPARE AND WRITE of the datastore directory failed: status 0x${r.status.toString(16)}`);
        }
        // another host changed the directory between our read and our write: read again
      }
      throw new VfabError(DATASTORE_ERROR.FULL, `directory of ${d.lun} kept changing (${MAX_DIRECTORY_RETRIES} attempts)`);
    } catch (e) {
      d.error = e instanceof Error ? e.message : String(e);
      this.deps.log?.(`disk ${d.vm}/${d.name}: ${d.error}`);
    }
  }

  /** The disk to act on: this host's VM, or (read-only) another host's VM disk found on a visible LUN. */
  private async resolve(vm: string, disk: string, forWrite: boolean): Promise<DiskTarget> {
    const local = this.deps.config.host.vms.some((v) => v.name === vm);
    if (local) {
      const d = this.disks.get(`${vm}/${disk}`);
      if (d === undefined) {
        const names = [...this.disks.values()].filter((x) => x.vm === vm).map((x) => x.name);
        throw new VfabError(HOST_STORAGE_ERROR.DISK_NOT_FOUND, `VM ${vm} has no disk ${JSON.stringify(disk)} (disks: ${names.join(', ') || 'none'})`);
      }
      if (d.datastore !== undefined) {
        const f = await this.deps.datastoreDisk?.(vm, disk);
        if (f === undefined) throw new VfabError(HOST_STORAGE_ERROR.NOT_ATTACHED, `disk ${vm}/${disk} is on datastore ${d.datastore}, which ${this.host} does not serve`);
        const whole = f.sizeBytes > 0 ? f.runs(0, f.sizeBytes)[0]! : { lunOffsetBytes: 0, bytes: 0 };
        return { lun: f.lun, sizeBytes: f.sizeBytes, runs: f.runs, region: { offsetBytes: whole.lunOffsetBytes, regionBytes: whole.bytes }, file: `${f.datastore}:${f.file}` };
      }
      const a = this.arrays.get(d.array);
      if (a === undefined) throw new VfabError(HOST_STORAGE_ERROR.ARRAY_NOT_FOUND, `${this.host} does not see array ${d.array}`);
      if (a.state !== 'attached') throw new VfabError(HOST_STORAGE_ERROR.NOT_ATTACHED, `array ${a.name} is ${a.state}${a.error ? `: ${a.error}` : ''}`);
      const lun = a.luns.get(d.lun);
      if (lun === undefined) throw new VfabError(HOST_STORAGE_ERROR.LUN_NOT_FOUND, `LUN ${d.lun} of ${a.name} is not visible to ${this.host}`);
      if (d.placed === undefined) await this.placeDisk(d, a);
      if (d.placed === undefined) throw new VfabError(HOST_STORAGE_ERROR.NOT_ATTACHED, `disk ${vm}/${disk} has no place on ${d.lun}: ${d.error ?? 'unknown'}`);
      return HostStorage.byteRange(lun, d.placed.offsetBytes, d.placed.sizeBytes);
    }
    // Another host's VM: look it up in the directories of the LUNs this host sees.
    for (const a of this.arrays.values()) {
      if (a.state !== 'attached') continue;
      for (const lun of a.luns.values()) {
        const dir = parseDirectory(await lun.read(0, DATASTORE_DIR_BYTES));
        if (!dir.ok) continue;
        const entry = dir.value.disks.find((x) => x.name === `${vm}/${disk}`);
        if (entry === undefined) continue;
        if (forWrite) throw new VfabError(HOST_STORAGE_ERROR.READ_ONLY, `${vm} does not run on ${this.host}: its disk ${disk} can only be read from here`);
        return HostStorage.byteRange(lun, entry.offsetBytes, entry.sizeBytes);
      }
    }
    throw this.noVm(vm);
  }

  /** A disk that is one byte range of its LUN (the LBA-0 directory's). */
  private static byteRange(lun: VDisk, offsetBytes: number, sizeBytes: number): DiskTarget {
    return { lun, sizeBytes, runs: (offset, length) => [{ fileOffset: offset, lunOffsetBytes: offsetBytes + offset, bytes: length }], region: { offsetBytes, regionBytes: sizeBytes } };
  }

  private static checkRange(offset: number, length: number, sizeBytes: number, what: string): void {
    if (offset + length > sizeBytes) {
      throw new VfabError('VFAB_VDISK_OUT_OF_RANGE', `${what} of ${length} bytes at offset ${offset} runs past the end of the ${sizeBytes}-byte disk`, { offset, length, sizeBytes });
    }
  }

  async write(vm: string, disk: string, body: Record<string, unknown> | undefined): Promise<unknown> {
    const offset = intField(body, 'offset');
    const b64 = body?.dataBase64;
    if (typeof b64 !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) throw bad('"dataBase64" must be base64 text');
    if (b64.length > Math.ceil(MAX_DISK_REQUEST_BYTES / 3) * 4) throw new VfabError(HOST_STORAGE_ERROR.TOO_LARGE, `one write carries at most ${MAX_DISK_REQUEST_BYTES} bytes (split larger data)`);
    const data = Buffer.from(b64, 'base64');
    const t = await this.resolve(vm, disk, true);
    HostStorage.checkRange(offset, data.length, t.sizeBytes, 'write');
    const runs = t.runs(offset, data.length);
    for (const r of runs) await t.lun.write(r.lunOffsetBytes, data.subarray(r.fileOffset - offset, r.fileOffset - offset + r.bytes));
    return { vm, disk, offset, bytes: data.length, ...(t.file ? { file: t.file, lunRuns: runs.map((r) => ({ lunOffsetBytes: r.lunOffsetBytes, bytes: r.bytes })) } : {}) };
  }

  async read(vm: string, disk: string, body: Record<string, unknown> | undefined): Promise<unknown> {
    const offset = intField(body, 'offset');
    const length = intField(body, 'length');
    if (length > MAX_DISK_REQUEST_BYTES) throw new VfabError(HOST_STORAGE_ERROR.TOO_LARGE, `one read returns at most ${MAX_DISK_REQUEST_BYTES} bytes (split larger reads)`);
    const t = await this.resolve(vm, disk, false);
    HostStorage.checkRange(offset, length, t.sizeBytes, 'read');
    const parts: Buffer[] = [];
    for (const r of t.runs(offset, length)) parts.push(Buffer.from(await t.lun.read(r.lunOffsetBytes, r.bytes)));
    const data = Buffer.concat(parts);
    return { vm, disk, offset, bytes: data.length, sizeBytes: t.sizeBytes, ...(t.file ? { file: t.file } : {}), dataBase64: data.toString('base64') };
  }

  async load(vm: string, disk: string, body: Record<string, unknown> | undefined): Promise<unknown> {
    const pattern = body?.pattern ?? 'random';
    if (pattern !== 'random' && pattern !== 'sequential') throw bad('"pattern" must be random or sequential');
    const blockBytes = intField(body, 'blockBytes', 4096);
    const depth = intField(body, 'depth', 32);
    const readPercent = intField(body, 'readPercent', 100);
    const seconds = body?.seconds ?? 5;
    if (typeof seconds !== 'number' || !(seconds > 0) || seconds > MAX_LOAD_SECONDS) throw bad(`"seconds" must be in (0, ${MAX_LOAD_SECONDS}]`);
    if (depth < 1 || depth > MAX_WORKLOAD_DEPTH) throw bad(`"depth" must be 1..${MAX_WORKLOAD_DEPTH}`);
    if (readPercent > 100) throw bad('"readPercent" must be 0..100');
    if (blockBytes === 0 || blockBytes > MAX_VDISK_TRANSFER_BYTES) throw bad(`"blockBytes" must be 1..${MAX_VDISK_TRANSFER_BYTES}`);
    const t = await this.resolve(vm, disk, true);
    if (blockBytes % t.lun.blockSizeBytes !== 0) throw bad(`"blockBytes" ${blockBytes} is not a multiple of the LUN's ${t.lun.blockSizeBytes}-byte block`);
    const client = this.clientOf(t.lun);
    const retriedBefore = client?.retriedCommands ?? 0;
    const r = await runWorkload(t.lun, {
      pattern,
      blockBytes,
      depth,
      seconds,
      readPercent,
      offsetBytes: t.region.offsetBytes,
      regionBytes: t.region.regionBytes,
      clock: this.clock,
      random: seededRandom(Math.floor(this.clock.nowMs()) >>> 0),
    });
    return {
      vm,
      disk,
      pattern,
      blockBytes,
      depth,
      readPercent,
      ...r,
      iops: Math.round(r.iops),
      mbPerSec: +r.mbPerSec.toFixed(2),
      retriedOnOtherPath: (client?.retriedCommands ?? 0) - retriedBefore,
      ...(t.file ? { file: t.file, regionBytes: t.region.regionBytes } : {}),
    };
  }

  /** LUN `lunName` of `array` once attached (the datastores' block device), else undefined. */
  /** The array's NAS endpoint (same port as its block endpoint) once attached, for NAS datastores. */
  nasUrlOf(array: string): string | undefined {
    const a = this.arrays.get(array);
    return a?.state === 'attached' && a.url !== undefined ? a.url.replace(/\/block$/, '/nas') : undefined;
  }

  lunOf(array: string, lunName: string): VDisk | undefined {
    const a = this.arrays.get(array);
    return a?.state === 'attached' ? a.luns.get(lunName) : undefined;
  }

  private clientOf(lun: VDisk): MultipathClient | undefined {
    const t = lun.target instanceof StallGate ? lun.target.inner : lun.target;
    return t instanceof MultipathClient ? t : undefined;
  }

  private lunName(a: ArrayState, lun: number): string {
    for (const [name, d] of a.luns) if (d.lun === lun) return name;
    return String(lun);
  }

  /** The array `array` once it has a client (attached), or a coded error naming what is wrong. */
  private attachedArray(array: string): ArrayState & { client: MultipathClient } {
    const a = this.arrays.get(array);
    if (a === undefined) throw new VfabError(HOST_STORAGE_ERROR.ARRAY_NOT_FOUND, `${this.host} does not see array ${JSON.stringify(array)} (sees: ${[...this.arrays.keys()].join(', ') || 'none'})`);
    if (a.client === undefined) throw new VfabError(HOST_STORAGE_ERROR.NOT_ATTACHED, `array ${array} is ${a.state}`);
    return a as ArrayState & { client: MultipathClient };
  }

  /** Fails or restores every path of this host to `array` at once (all its storage cables). */
  async setAllPaths(array: string, body: Record<string, unknown> | undefined): Promise<unknown> {
    if (typeof body?.up !== 'boolean') throw bad('need {"up": true | false}');
    const up = body.up;
    const a = this.attachedArray(array);
    const client = a.client;
    if (up) await Promise.all(Array.from({ length: a.paths }, (_, i) => client.restorePath(i)));
    else for (let i = 0; i < a.paths; i++) client.failPath(i);
    this.deps.events.add('storage-paths-admin', { array, paths: a.paths, up });
    return { array, up, paths: client.paths().map((p) => ({ path: p.path, state: p.state })) };
  }

  /**
   * Stalls this host's I/O to `array` (or one LUN of it) for `ms` fabric ms: commands are held until the
   * stall ends, then sent; ms 0 ends a stall now. A second stall of the same target extends it.
   */
  stall(array: string, body: Record<string, unknown> | undefined): unknown {
    const a = this.attachedArray(array);
    const ms = body?.ms;
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0 || ms > MAX_STALL_MS) throw bad(`"ms" must be a number of fabric ms 0..${MAX_STALL_MS}, got ${JSON.stringify(ms)}`);
    let lun: number | undefined;
    const lunName = body?.lun;
    if (lunName !== undefined && lunName !== null) {
      const d = typeof lunName === 'string' ? a.luns.get(lunName) : undefined;
      if (d === undefined) throw new VfabError(HOST_STORAGE_ERROR.LUN_NOT_FOUND, `${this.host} sees no LUN ${JSON.stringify(lunName)} of array ${array} (sees: ${[...a.luns.keys()].join(', ') || 'none'})`);
      lun = d.lun;
    }
    const gate = a.gate!;
    const untilMs = gate.stall(lun, ms / this.timeScale); // the gate runs on wall ms, like the paths
    if (ms > 0) this.deps.events.add('storage-stall-start', { array, lun: lunName ?? null, ms });
    this.armStall(a);
    return { array, lun: lunName ?? null, ms, remainingMs: Math.round((untilMs - this.clock.nowMs()) * this.timeScale) };
  }

  private armStall(a: ArrayState): void {
    this.timers.clearTimeout(a.stallTimer);
    a.stallTimer = undefined;
    const next = a.gate?.nextEndMs();
    if (next === undefined) return;
    a.stallTimer = this.timers.setTimeout(() => {
      a.stallTimer = undefined;
      a.gate?.release();
      this.armStall(a);
    }, Math.max(0, Math.ceil(next - this.clock.nowMs())));
  }

  async setPath(array: string, index: string, up: boolean): Promise<unknown> {
    const a = this.attachedArray(array);
    const i = Number(index);
    if (!Number.isInteger(i) || i < 0 || i >= a.paths) throw new VfabError('VFAB_MULTIPATH_NO_SUCH_PATH', `path ${index} outside 0..${a.paths - 1} of array ${array}`);
    if (up) await a.client.restorePath(i);
    else a.client.failPath(i);
    this.deps.events.add('storage-path-admin', { array, path: i, up });
    return { array, path: i, up, paths: a.client.paths().map((p) => ({ path: p.path, state: p.state })) };
  }

  close(): void {
    for (const a of this.arrays.values()) {
      this.timers.clearTimeout(a.stallTimer);
      a.gate?.close(new VfabError(HOST_STORAGE_ERROR.NOT_ATTACHED, `${this.host} is closing its storage`));
      a.client?.close();
    }
  }
}

/** The hostd hook: builds the host's storage attachment and registers its control routes. */
export function attachHostStorage(deps: HostStorageDeps): HostStorage {
  const hs = new HostStorage(deps);
  hs.register(deps.server);
  return hs;
}
