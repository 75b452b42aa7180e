// A host's VMFS-like datastores (docs/datastores.md): the datastores the topology lists for the host
// (`hosts[].datastores`), mounted when their array attaches, heartbeated by a DatastoreDriver
// (driver.ts) over the host's block client, and VM power-on/off as exclusive locks on the VM's files
// (lib/datastore/vm.ts). A topology VM whose disks are on a datastore (`vms[].disks[].datastore`) is
// powered on through its files: its disks' sizes make the file list, power-on waits (bounded) for the
// datastore's mount, and hostd is told (vmPowered) to bring the VM's NICs up only once its files are
// locked; its disks' I/O (diskFile) goes through the `-flat.vmdk` extents only while this host holds the
// file's exclusive lock. Control routes registered on hostd's ControlServer:
//   GET  /control/datastores                          each datastore: state, label, slot, generation
//   POST /control/datastores/:ds/format               {force?, locking?: ats-only|ats-scsi}: format the LUN, mount
//   POST /control/datastores/:ds/mount                mount (claim a heartbeat slot, start heartbeating)
//   POST /control/datastores/:ds/unmount              stop heartbeating and free the slot (VMs must be off)
//   GET  /control/datastores/:ds/files                files and directories with their extents and locks
//   GET  /control/datastores/:ds/heartbeats           heartbeat slots: owner, generation, pulse age
//   GET  /control/datastores/:ds/inspect              the whole metadata decoded and cross-checked
//   POST /control/datastores/:ds/files/open           {path, mode: exclusive|read-only|multi-writer, waitMs?}
//   POST /control/datastores/:ds/files/close          {path}: this host's hold on the file's lock ends
//   POST /control/datastores/:ds/vms/:vm/power-on     {waitMs?}: open the VM's files exclusively
//   POST /control/datastores/:ds/vms/:vm/power-off    release them
// Events (GET /control/events): datastore-mounted, -unmounted, -offline ("lost access to volume"),
// -online, -heartbeat-timeout, -lock-acquired, -lock-refused, -lock-broken, -lock-released,
// -journal-replayed, -file-created, ...; vm-power-on, vm-power-on-failed, vm-power-off. A datastore on a
// NAS share (`share` instead of `lun`) is served by the same routes through nas-datastores.ts (`.lck`
// leases; format is refused). Leaves out rescans.

import { createHash } from 'node:crypto';
import type { Clock } from '../../lib/clock.js';
import type { HostDatastore, Vm } from '../../lib/topology/model.js';
import { VfabError } from '../../lib/errors.js';
import { DS_ERROR, DatastoreError, type DsErrorCode } from '../../lib/datastore/errors.js';
import {
  type FileEntry, type HeartbeatSlot, type LockingMode, type Superblock, entryLba, parseEntry, parseSlot, parseSuperblock, planFormat, slotIndexAt, slotLba,
} from '../../lib/datastore/format.js';
import { type HostCtx, createHostCtx, heartbeat, unmount } from '../../lib/datastore/host.js';
import { inspectVolume, metadataBlocks } from '../../lib/datastore/inspect.js';
import { type OpenedFile, type VmDiskSpec, VM_DEFAULT_DISKS, flatName, powerOffVm, powerOnVm, vmFiles } from '../../lib/datastore/vm.js';
import { OPEN_MODES, closePath, openPath } from '../../lib/datastore/open.js';
import type { HeldMode } from '../../lib/datastore/lock.js';
import { type LunRun, mapFileRange } from '../../lib/datastore/extent-map.js';
import { reclaimOwnSlots } from '../../lib/datastore/reclaim.js';
import { settleUntilDone } from '../../lib/datastore/files.js';
import type { Gen } from '../../lib/datastore/proc.js';
import type { ControlServer } from '../common/server.js';
import type { EventLog } from '../common/events.js';
import type { VDisk } from '../../lib/storage/vdisk.js';
import { DatastoreDriver } from './driver.js';
import { realTimers, type Timers } from '../common/timers.js';
import { NasDatastores } from './nas-datastores.js';
import type { NasClient, NasClientOptions } from '../storage/nas-client.js';

/** Bytes read from LBA 0 before formatting, to refuse a LUN holding data (the old disk directory is 64 KiB). */
export const FORMAT_INSPECT_BYTES = 64 * 1024;
/** Longest wait of a power-on (fabric ms) a request may ask for. */
export const MAX_POWER_ON_WAIT_MS = 600_000;
/** Longest a mount waits for its heartbeat slot (wall ms). */
export const MOUNT_TIMEOUT_MS = 30_000;
/** Longest a topology VM's power-on at start-up waits for its datastore to be mounted (wall ms; it may need formatting first). */
export const VM_STARTUP_MOUNT_WAIT_MS = 120_000;
/** How often that wait looks at the datastore's state (wall ms). */
const MOUNT_POLL_MS = 20;

export const HOST_DATASTORE_ERROR = {
  /** No datastore of that name on this host (hosts[].datastores). */
  NOT_FOUND: 'VFAB_HOSTDATASTORE_NOT_FOUND',
  /** The datastore's array is not attached yet. */
  NOT_ATTACHED: 'VFAB_HOSTDATASTORE_NOT_ATTACHED',
  /** A bad request body (force, locking, waitMs). */
  BAD_REQUEST: 'VFAB_HOSTDATASTORE_BAD_REQUEST',
  /** The datastore is in use: mounted here (format), mounted by a live host (format --force), VMs on (unmount). */
  IN_USE: 'VFAB_HOSTDATASTORE_IN_USE',
  /** A VM disk file is not open on this host (the VM is off here, or its lock moved): no I/O through it. */
  NOT_OPEN: 'VFAB_HOSTDATASTORE_NOT_OPEN',
  /** The VM's datastore was not mounted within the power-on's wait. */
  NOT_MOUNTED: 'VFAB_HOSTDATASTORE_NOT_MOUNTED',
} as const;

/** The `waitMs` of a lock request (power-on, open): fabric ms, default the lease plus four heartbeats. */
function lockWaitMs(body: Record<string, unknown> | undefined, ctx: HostCtx): number {
  const waitMs = body?.waitMs ?? ctx.timing.leaseMs + 4 * ctx.timing.heartbeatMs;
  if (typeof waitMs !== 'number' || !(waitMs >= 0) || waitMs > MAX_POWER_ON_WAIT_MS) throw bad(`"waitMs" must be 0..${MAX_POWER_ON_WAIT_MS} (fabric ms), got ${JSON.stringify(waitMs)}`);
  return waitMs;
}

export type DatastoreState = 'waiting' | 'unformatted' | 'foreign' | 'mounting' | 'mounted' | 'offline' | 'unmounted' | 'failed';

interface Ds {
  name: string;
  array: string;
  lun: string;
  state: DatastoreState;
  error: string | undefined;
  driver: DatastoreDriver | undefined;
  ctx: HostCtx | undefined;
  /** VMs powered on here (name -> the files it opened). */
  vms: Map<string, OpenedFile[]>;
}

export interface HostDatastoresDeps {
  host: string;
  datastores: HostDatastore[];
  clock: Clock;
  timeScale: number;
  events: EventLog;
  /** The attached LUN, or undefined while its array is not attached. */
  lunOf: (array: string, lun: string) => VDisk | undefined;
  /** For NAS datastores: the fabric token and the array's /nas URL (undefined while not attached). */
  token: string;
  nasUrlOf: (array: string) => string | undefined;
  /** This host's topology VMs (their datastore disks make their file lists). */
  vms?: readonly Vm[];
  /** Told when a VM's files were opened (on) or closed (off) here: hostd powers its NICs on or off. */
  vmPowered?: (vm: string, on: boolean) => void;
  log?: (line: string) => void;
  /** Timers, wall clock and random bytes (default Node's; the simulation passes the host's scheduler timers). */
  timers?: Timers;
  /** NAS connections in process (the simulation); default a WebSocket to the array's /nas endpoint. */
  connectNas?: (opts: NasClientOptions) => Promise<NasClient>;
}

/** A topology VM's disk on a datastore, as the I/O routes use it: the LUN and the file's runs. */
export interface DatastoreDiskFile {
  datastore: string;
  /** `<vm>/<vm>-flat.vmdk` (or `<vm>_N-flat.vmdk`). */
  file: string;
  lun: VDisk;
  sizeBytes: number;
  /** LUN runs of bytes [offset, offset + length) of the file (bounds-checked). */
  runs: (offset: number, length: number) => LunRun[];
}

/** A stable 16-byte host UUID (hex) from the host name: the same host claims the same identity after a restart. */
export function hostUuidOf(host: string): string {
  return createHash('sha256').update(`vfab-host:${host}`).digest('hex').slice(0, 32);
}

/** Mount: reclaim this host's own stale slots (a previous life that did not unmount), then heartbeat. */
function* mountAndHeartbeat(ctx: HostCtx): Gen<void> {
  yield* reclaimOwnSlots(ctx);
  yield* heartbeat(ctx);
}

/** What a create that failed half-way left behind (files.ts) is given back now, retried while the array is away. */
function settleSoon(driver: DatastoreDriver, ctx: HostCtx): void {
  if ((ctx.slot?.orphans?.length ?? 0) > 0 || ctx.slot?.journalUnsettled === true) driver.run('settle', ctx, settleUntilDone(ctx)).catch(() => {});
}

function bad(message: string): VfabError {
  return new VfabError(HOST_DATASTORE_ERROR.BAD_REQUEST, message);
}

export class HostDatastores {
  private readonly list = new Map<string, Ds>();
  /** The host's NAS datastores (hosts[].datastores with a share). */
  private readonly nas: NasDatastores;
  readonly hostUuid: string;
  private readonly timers: Timers;

  constructor(private readonly deps: HostDatastoresDeps) {
    this.hostUuid = hostUuidOf(deps.host);
    this.timers = deps.timers ?? realTimers;
    this.nas = new NasDatastores({ ...deps, datastores: deps.datastores.filter((d) => d.share !== undefined) });
    for (const d of deps.datastores.filter((x) => x.share === undefined)) this.list.set(d.name, { name: d.name, array: d.array, lun: d.lun, state: 'waiting', error: undefined, driver: undefined, ctx: undefined, vms: new Map() });
  }

  register(server: ControlServer): void {
    this.nas.dispatch(server) // a route naming a NAS datastore is served by nas-datastores.ts
      .on('GET', '/control/datastores', () => ({ host: this.deps.host, hostUuid: this.hostUuid, datastores: [...[...this.list.values()].map((d) => this.summary(d)), ...this.nas.summaries()] }))
      .on('POST', '/control/datastores/:ds/format', (req) => this.format(this.get(req.params.ds!), req.body))
      .on('POST', '/control/datastores/:ds/mount', (req) => this.mount(this.get(req.params.ds!)))
      .on('POST', '/control/datastores/:ds/unmount', (req) => this.unmount(this.get(req.params.ds!)))
      .on('GET', '/control/datastores/:ds/files', (req) => this.files(this.get(req.params.ds!)))
      .on('GET', '/control/datastores/:ds/heartbeats', (req) => this.heartbeats(this.get(req.params.ds!)))
      .on('GET', '/control/datastores/:ds/inspect', (req) => this.inspect(this.get(req.params.ds!)))
      .on('POST', '/control/datastores/:ds/files/open', (req) => this.openFile(this.get(req.params.ds!), req.body))
      .on('POST', '/control/datastores/:ds/files/close', (req) => this.closeFile(this.get(req.params.ds!), req.body))
      .on('POST', '/control/datastores/:ds/vms/:vm/power-on', (req) => this.powerOn(this.get(req.params.ds!), req.params.vm!, req.body))
      .on('POST', '/control/datastores/:ds/vms/:vm/power-off', (req) => this.powerOff(this.get(req.params.ds!), req.params.vm!));
  }

  private get(name: string): Ds {
    const d = this.list.get(name);
    if (d === undefined) {
      throw new VfabError(HOST_DATASTORE_ERROR.NOT_FOUND, `${this.deps.host} has no datastore ${JSON.stringify(name)} (datastores here: ${[...this.list.keys()].join(', ') || 'none'}; see hosts[].datastores)`);
    }
    return d;
  }

  private summary(d: Ds): Record<string, unknown> {
    const c = d.ctx;
    return {
      name: d.name, type: 'vmfs', array: d.array, lun: d.lun, state: d.state, error: d.error ?? null,
      label: c?.sb.label ?? null, volumeUuid: c?.sb.volumeUuid ?? null, locking: c?.sb.locking ?? null,
      slot: c?.slot?.index ?? null, generation: c?.slot?.generation ?? null,
      leaseMs: c?.sb.leaseMs ?? null, vms: [...d.vms.keys()],
    };
  }

  private event(d: Ds, type: string, fields: Record<string, unknown>): void {
    this.deps.events.add(type, { host: this.deps.host, datastore: d.name, ...fields });
  }

  /** A driver over the datastore's LUN (a fresh one per mount, so a stopped mount's Procs stay stopped). */
  private driverFor(d: Ds): DatastoreDriver {
    const lun = this.deps.lunOf(d.array, d.lun);
    if (lun === undefined) throw new VfabError(HOST_DATASTORE_ERROR.NOT_ATTACHED, `array ${d.array} (LUN ${d.lun}) is not attached to ${this.deps.host} yet`);
    return new DatastoreDriver({
      lun: { target: lun.target, lun: lun.lun, initiator: lun.initiator, blockSizeBytes: lun.blockSizeBytes, sizeBytes: lun.sizeBytes },
      clock: this.deps.clock,
      timeScale: this.deps.timeScale,
      event: (type, fields) => this.onDsEvent(d, type, fields),
      base: { host: this.deps.host, datastore: d.name },
      timers: this.timers,
    });
  }

  private onDsEvent(d: Ds, type: string, fields: Record<string, unknown>): void {
    this.deps.events.add(type, fields);
    if (type === 'datastore-offline' && d.state === 'mounted') d.state = 'offline';
    if (type === 'datastore-online' && d.state === 'offline') d.state = 'mounted';
  }

  /** hostd's storage attached `array`: mount the datastores on it (those already formatted). */
  arrayAttached(array: string): void {
    this.nas.arrayAttached(array);
    for (const d of this.list.values()) {
      if (d.array !== array || d.state !== 'waiting') continue;
      this.mount(d).catch((e: Error) => this.deps.log?.(`datastore ${d.name}: ${e.message}`));
    }
  }

  private async readSuperblock(driver: DatastoreDriver): Promise<{ ok: true; sb: Superblock } | { ok: false; blank: boolean; why: string }> {
    const bs = driver.lun.blockSizeBytes;
    const first = await driver.read(0, 1);
    const sb = parseSuperblock(first, bs);
    if (sb.ok) return { ok: true, sb: sb.value };
    return { ok: false, blank: !first.some((b) => b !== 0), why: sb.error.message };
  }

  async mount(d: Ds): Promise<unknown> {
    if (d.state === 'mounted' || d.state === 'offline' || d.state === 'mounting') return this.summary(d);
    const driver = this.driverFor(d);
    const sb = await this.readSuperblock(driver);
    if (!sb.ok) {
      d.state = sb.blank ? 'unformatted' : 'foreign';
      d.error = sb.blank ? 'the LUN is blank: format it (vfab datastore format)' : `the LUN holds no datastore (${sb.why})`;
      this.event(d, 'datastore-not-mounted', { reason: d.error });
      return this.summary(d);
    }
    const ctx = createHostCtx({ hostUuid: this.hostUuid, hostName: this.deps.host, sb: sb.sb });
    d.state = 'mounting';
    d.error = undefined;
    d.driver = driver;
    d.ctx = ctx;
    let failed: Error | undefined;
    driver.run('heartbeat', ctx, mountAndHeartbeat(ctx)).catch((e: Error) => {
      failed = e;
      if (d.driver !== driver) return; // unmounted meanwhile
      d.state = 'failed';
      d.error = e.message;
      this.event(d, 'datastore-mount-failed', { message: e.message, code: (e as VfabError).code });
    });
    const until = this.timers.nowMs() + MOUNT_TIMEOUT_MS;
    while (!ctx.online && failed === undefined && this.timers.nowMs() < until) await new Promise<void>((r) => this.timers.setTimeout(r, 5));
    if (failed !== undefined) throw failed;
    if (!ctx.online) {
      driver.stopAll();
      d.state = 'failed';
      d.error = `no heartbeat slot within ${MOUNT_TIMEOUT_MS} ms`;
      throw new DatastoreError(DS_ERROR.IO_FAILED, `mounting ${d.name}: ${d.error}`);
    }
    d.state = 'mounted';
    return this.summary(d);
  }

  async unmount(d: Ds): Promise<unknown> {
    if (d.vms.size > 0) throw new VfabError(HOST_DATASTORE_ERROR.IN_USE, `${d.name} has powered-on VMs on ${this.deps.host} (${[...d.vms.keys()].join(', ')}): power them off first`);
    const driver = d.driver;
    const ctx = d.ctx;
    if (driver === undefined || ctx === undefined || (d.state !== 'mounted' && d.state !== 'offline')) return this.summary(d);
    d.driver = undefined; // the heartbeat's end is not a failure
    d.state = 'unmounted';
    driver.stopNamed('heartbeat', new DatastoreError(DS_ERROR.NOT_MOUNTED, 'unmounting'));
    await driver.run('unmount', ctx, unmount(ctx));
    driver.stopAll();
    return this.summary(d);
  }

  async format(d: Ds, body: Record<string, unknown> | undefined): Promise<unknown> {
    const force = body?.force ?? false;
    if (typeof force !== 'boolean') throw bad('"force" must be true or false');
    const locking = body?.locking ?? 'ats-only';
    if (locking !== 'ats-only' && locking !== 'ats-scsi') throw bad(`"locking" must be ats-only or ats-scsi, got ${JSON.stringify(locking)}`);
    const driver = this.driverFor(d);
    const lun = driver.lun;
    const inspect = await driver.read(0, Math.min(FORMAT_INSPECT_BYTES, lun.sizeBytes) / lun.blockSizeBytes);
    const plan = planFormat(lun.sizeBytes, lun.blockSizeBytes, { label: d.name, volumeUuid: this.timers.randomBytes(16).toString('hex'), locking: locking as LockingMode, inspect, force });
    if (!plan.ok) throw new DatastoreError(plan.error.code as DsErrorCode, `${d.name} on LUN ${d.lun} of ${d.array}: ${plan.error.message}`, plan.error.details);
    if (d.state === 'mounted' || d.state === 'offline' || d.state === 'mounting') {
      throw new VfabError(HOST_DATASTORE_ERROR.IN_USE, `${d.name} is mounted on ${this.deps.host}: unmount it (on every host) before formatting it again`);
    }
    const live = await this.liveHosts(driver);
    if (live.length > 0) throw new VfabError(HOST_DATASTORE_ERROR.IN_USE, `the datastore on ${d.lun} is in use: the heartbeat of ${live.join(', ')} moves (unmount it there first; --force does not override this)`, { hosts: live });
    for (const w of plan.value.writes) await driver.write(w.lba, w.data);
    const sb = plan.value.superblock;
    this.event(d, 'datastore-formatted', { label: sb.label, volumeUuid: sb.volumeUuid, locking: sb.locking, forced: force });
    d.state = 'waiting';
    const mounted = await this.mount(d);
    return { formatted: { label: sb.label, volumeUuid: sb.volumeUuid, locking: sb.locking, layout: sb.layout }, ...(mounted as object) };
  }

  /**
   * Hosts whose heartbeat on the datastore now on the LUN (if any) moves: slots read twice, one and a half
   * heartbeat intervals apart. A slot left in use by a dead host does not move and does not count.
   */
  private async liveHosts(driver: DatastoreDriver): Promise<string[]> {
    const r = await this.readSuperblock(driver);
    if (!r.ok) return [];
    const first = await this.readSlots(driver, r.sb);
    if (!first.some((s) => s?.state === 'in-use')) return [];
    await new Promise<void>((res) => this.timers.setTimeout(res, (1.5 * r.sb.heartbeatMs) / this.deps.timeScale));
    const second = await this.readSlots(driver, r.sb);
    return second.flatMap((s, i) => (s !== undefined && s.state !== 'free' && (first[i]?.pulse !== s.pulse || first[i]?.generation !== s.generation) ? [s.hostName || s.owner] : []));
  }

  /** Metadata reads (listings, inspect) go straight to the LUN: they take no lock. */
  private async superblockOf(d: Ds): Promise<{ driver: DatastoreDriver; sb: Superblock }> {
    const driver = d.driver ?? this.driverFor(d);
    const r = await this.readSuperblock(driver);
    if (!r.ok) throw new DatastoreError(r.blank ? DS_ERROR.NOT_MOUNTED : DS_ERROR.BAD_MAGIC, `${d.name} is not formatted${r.blank ? '' : `: ${r.why}`}`);
    return { driver, sb: r.sb };
  }

  private async readSlots(driver: DatastoreDriver, sb: Superblock): Promise<Array<HeartbeatSlot | undefined>> {
    const l = sb.layout;
    const raw = await driver.read(l.hbLba, l.slotCount);
    return Array.from({ length: l.slotCount }, (_, i) => {
      const s = parseSlot(raw.subarray(i * l.blockSize, (i + 1) * l.blockSize), i, slotLba(l, i) * l.blockSize);
      return s.ok ? s.value : undefined;
    });
  }

  async heartbeats(d: Ds): Promise<unknown> {
    const { driver, sb } = await this.superblockOf(d);
    const now = this.deps.clock.nowMs();
    const slots = await this.readSlots(driver, sb);
    return {
      datastore: d.name, label: sb.label, leaseMs: sb.leaseMs, heartbeatMs: sb.heartbeatMs, nowMs: now,
      slots: slots.flatMap((s, i) => (s === undefined ? [{ index: i, state: 'unreadable' }] : s.state === 'free' && s.generation === 0 ? [] : [{
        index: s.index, state: s.state, owner: s.state === 'free' ? null : s.hostName || s.owner, ownerUuid: s.state === 'free' ? null : s.owner,
        generation: s.generation, pulse: s.pulse, pulseAgeMs: s.state === 'free' ? null : Math.max(0, Math.round(now - s.pulseMs)),
      }])),
    };
  }

  async files(d: Ds): Promise<unknown> {
    const { driver, sb } = await this.superblockOf(d);
    const l = sb.layout;
    const now = this.deps.clock.nowMs();
    const slots = await this.readSlots(driver, sb);
    const raw = await driver.read(l.fileTableLba, l.fileEntries);
    const entries: FileEntry[] = [];
    for (let i = 0; i < l.fileEntries; i++) {
      const e = parseEntry(raw.subarray(i * l.blockSize, (i + 1) * l.blockSize), l.fileEntries, i, entryLba(l, i) * l.blockSize);
      if (e.ok && e.value.meta.type !== 'unused') entries.push(e.value);
    }
    const byIndex = new Map(entries.map((e) => [e.index, e]));
    const pathOf = (e: FileEntry): string => {
      const parts: string[] = [];
      for (let x: FileEntry | undefined = e, n = 0; x !== undefined && x.index !== 0 && n < l.fileEntries; x = byIndex.get(x.meta.parent), n++) parts.unshift(x.meta.name);
      return parts.join('/') || '/';
    };
    const holderName = (h: { owner: string; slotLba: number; slotGeneration: number }) => {
      const s = slots[slotIndexAt(l, h.slotLba)];
      const live = s !== undefined && s.state !== 'free' && s.owner === h.owner && s.generation === h.slotGeneration;
      // how stale the holder's heartbeat is: fabric ms since its last pulse (the lease is sb.leaseMs)
      const pulseAgeMs = live ? Math.max(0, Math.round(now - s.pulseMs)) : null;
      return { owner: live ? s.hostName : h.owner, ownerUuid: h.owner, slot: slotIndexAt(l, h.slotLba), slotGeneration: h.slotGeneration, heartbeat: live ? s.state : 'gone', pulseAgeMs };
    };
    return {
      datastore: d.name, leaseMs: sb.leaseMs,
      files: entries.map((e) => ({
        path: pathOf(e), entry: e.index, type: e.meta.type, sizeBytes: e.meta.sizeBytes, extents: e.meta.extents,
        lock: { mode: e.lock.mode, generation: e.lock.generation, holders: e.lock.holders.map(holderName) },
      })),
    };
  }

  async inspect(d: Ds): Promise<unknown> {
    const driver = d.driver ?? this.driverFor(d);
    const r0 = await this.readSuperblock(driver);
    // a superblock that does not parse is the report (structure and byte offset), not a failed request
    if (!r0.ok) {
      if (r0.blank) throw new DatastoreError(DS_ERROR.NOT_MOUNTED, `${d.name} is not formatted: LBA 0 of ${d.lun} is blank`);
      const p = inspectVolume(await driver.read(0, 1), driver.lun.blockSizeBytes).problem;
      return { datastore: d.name, clean: false, problems: p ? [p] : [] };
    }
    const sb = r0.sb;
    const meta = await driver.read(0, metadataBlocks(sb.layout));
    const r = inspectVolume(meta, driver.lun.blockSizeBytes);
    const rep = r.report;
    if (rep === undefined) return { datastore: d.name, clean: false, problems: r.problem ? [r.problem] : [] };
    const pendingJournals = rep.journals.flatMap((j, i) => (j !== undefined && j.txns.length > 0 ? [{ slot: i, transactions: j.txns.length }] : []));
    return {
      datastore: d.name,
      clean: rep.problems.length === 0,
      superblock: { label: sb.label, volumeUuid: sb.volumeUuid, locking: sb.locking, version: sb.version, blockSize: sb.layout.blockSize, heartbeatMs: sb.heartbeatMs, ioTimeoutMs: sb.ioTimeoutMs, leaseMs: sb.leaseMs, offlineRetryMs: sb.offlineRetryMs },
      layout: sb.layout,
      slotsInUse: rep.slots.filter((s) => s !== undefined && s.state !== 'free').length,
      files: rep.entries.filter((e) => e !== undefined && e.meta.type !== 'unused').length - 1,
      lockedFiles: rep.entries.filter((e) => e !== undefined && e.lock.mode !== 'free').length,
      pendingJournals,
      problems: rep.problems,
    };
  }

  private online(d: Ds): { driver: DatastoreDriver; ctx: HostCtx } {
    if (d.driver === undefined || d.ctx === undefined || d.state !== 'mounted') {
      throw new DatastoreError(DS_ERROR.NOT_MOUNTED, `${d.name} is ${d.state} on ${this.deps.host}${d.error ? ` (${d.error})` : ''}: it must be mounted and online`);
    }
    return { driver: d.driver, ctx: d.ctx };
  }

  async powerOn(d: Ds, vm: string, body: Record<string, unknown> | undefined, o: { nics?: boolean } = {}): Promise<unknown> {
    const { driver, ctx } = this.online(d);
    const waitMs = lockWaitMs(body, ctx);
    const fileOf = new Map<number, string>();
    let current: string | undefined;
    const fields = (details: Record<string, unknown>) => ({ vm, file: fileOf.get(details.entry as number) ?? current ?? null });
    const started = this.deps.clock.nowMs();
    const disks = this.diskSpecs(vm, d.name);
    try {
      const out = await driver.runWithin(`power-on ${vm}`, ctx, powerOnVm(ctx, vm, (path, entry) => {
        current = path;
        if (entry !== undefined) fileOf.set(entry, path);
      }, disks), fields, waitMs);
      if (out.timedOut) {
        // a file it had opened already (the .vmx, waiting on the disk) is closed again
        if (!d.vms.has(vm)) await driver.run(`power-on ${vm} cleanup`, ctx, powerOffVm(ctx, vm, disks), { vm }).catch(() => {});
        const path = current ?? `${vm}/${vmFiles(vm)[0]!.name}`;
        throw await this.lockedAfterWait(d, path, waitMs, '; a dead host\'s lock is broken only after that (wait longer or retry)');
      }
      const opened = out.value;
      d.vms.set(vm, opened);
      const r = { vm, host: this.deps.host, datastore: d.name, files: opened, tookMs: Math.round(this.deps.clock.nowMs() - started) };
      this.event(d, 'vm-power-on', { vm, files: opened.map((o) => o.path), created: opened.filter((o) => o.created).map((o) => o.path), grown: opened.filter((o) => o.grown).map((o) => o.path) });
      if (this.homeOf(vm) === d.name && o.nics !== false) this.deps.vmPowered?.(vm, true);
      return r;
    } catch (e) {
      const err = e as VfabError;
      this.event(d, 'vm-power-on-failed', { vm, file: current ?? null, code: err.code, message: err.message });
      settleSoon(driver, ctx);
      throw err;
    }
  }

  /**
   * The refusal of a lock request whose wait ended before the holder's heartbeat could be watched for a
   * whole lease: "locked by <holders> (<mode>)", read from the file's lock record now.
   */
  private async lockedAfterWait(d: Ds, path: string, waitMs: number, advice = ''): Promise<DatastoreError> {
    const listing = (await this.files(d).catch(() => undefined)) as { files: Array<{ path: string; lock: { mode: string; holders: Array<{ owner: string }> } }> } | undefined;
    const lock = listing?.files.find((f) => f.path === path)?.lock;
    const owners = lock?.holders.map((h) => h.owner).join(', ') || undefined;
    const ctx = d.ctx!;
    return new DatastoreError(DS_ERROR.LOCKED, `locked by ${owners ?? 'another host'}${lock && lock.mode !== 'free' ? ` (${lock.mode})` : ''}: ${path} is open there, and its heartbeat could not be watched for a full lease (${ctx.timing.leaseMs} ms) within the ${waitMs} ms wait${advice}`, { file: path, ownerName: owners, waitMs });
  }

  /**
   * Opens an existing file in a lock mode (§7.5, §7.8): exclusive, read-only or multi-writer. A lock held
   * by a live host in an incompatible mode is refused ("locked by esxN") once its heartbeat is seen to
   * move; a dead holder's is broken after the lease. `waitMs` bounds the wait like a power-on's.
   */
  async openFile(d: Ds, body: Record<string, unknown> | undefined): Promise<unknown> {
    const { driver, ctx } = this.online(d);
    const path = body?.path;
    const mode = body?.mode ?? 'exclusive';
    if (typeof path !== 'string' || path === '') throw bad(`"path" must name a file, e.g. "web1/web1-flat.vmdk", got ${JSON.stringify(path)}`);
    if (typeof mode !== 'string' || !(OPEN_MODES as readonly string[]).includes(mode)) throw bad(`"mode" must be one of ${OPEN_MODES.join(', ')}, got ${JSON.stringify(mode)}`);
    const waitMs = lockWaitMs(body, ctx);
    try {
      const out = await driver.runWithin(`open ${path}`, ctx, openPath(ctx, path, mode as HeldMode), { file: path, mode }, waitMs);
      if (out.timedOut) throw await this.lockedAfterWait(d, path, waitMs);
      const r = out.value;
      this.event(d, 'file-opened', { file: path, mode, entry: r.entry, already: !r.taken });
      return { host: this.deps.host, datastore: d.name, path, mode, entry: r.entry, taken: r.taken };
    } catch (e) {
      const err = e as VfabError;
      this.event(d, 'file-open-failed', { file: path, mode, code: err.code, message: err.message });
      throw err;
    }
  }

  /** Ends this host's hold on a file's lock (the other holders of a shared lock keep theirs). */
  async closeFile(d: Ds, body: Record<string, unknown> | undefined): Promise<unknown> {
    const { driver, ctx } = this.online(d);
    const path = body?.path;
    if (typeof path !== 'string' || path === '') throw bad(`"path" must name a file, e.g. "web1/web1-flat.vmdk", got ${JSON.stringify(path)}`);
    const entry = await driver.run(`close ${path}`, ctx, closePath(ctx, path), { file: path });
    this.event(d, 'file-closed', { file: path, entry });
    return { host: this.deps.host, datastore: d.name, path, entry };
  }

  async powerOff(d: Ds, vm: string, o: { nics?: boolean } = {}): Promise<unknown> {
    const { driver, ctx } = this.online(d);
    if (this.homeOf(vm) === d.name && o.nics !== false) this.deps.vmPowered?.(vm, false); // the guest stops before its files close
    const released = await driver.run(`power-off ${vm}`, ctx, powerOffVm(ctx, vm, this.diskSpecs(vm, d.name)), { vm }).finally(() => settleSoon(driver, ctx));
    d.vms.delete(vm);
    this.event(d, 'vm-power-off', { vm, files: released });
    return { vm, host: this.deps.host, datastore: d.name, released };
  }

  /** The topology VM `vm` of this host, if it is one. */
  private topologyVm(vm: string): Vm | undefined {
    return this.deps.vms?.find((v) => v.name === vm);
  }

  /** The datastore holding the topology VM's disk files (its directory), or undefined (no datastore disks). */
  homeOf(vm: string): string | undefined {
    return this.topologyVm(vm)?.disks.find((x) => x.datastore)?.datastore;
  }

  /** The disks power-on creates for `vm` on datastore `ds`: the topology VM's disks there, else one default disk. */
  private diskSpecs(vm: string, ds: string): readonly VmDiskSpec[] {
    const disks = (this.topologyVm(vm)?.disks ?? []).filter((x) => x.datastore === ds);
    return disks.length > 0 ? disks.map((x) => ({ sizeBytes: x.sizeBytes })) : VM_DEFAULT_DISKS;
  }

  /**
   * Powers a topology VM with datastore disks on: waits for its datastore to be mounted (at most `waitMs`
   * wall ms; `untilFormatted`: also while the LUN is still blank, as at start-up), then opens its files.
   * A failure is an event vm-power-on-failed (with the reason, e.g. "locked by esx2") and a throw.
   */
  async powerOnTopologyVm(vm: string, o: { waitMs: number; untilFormatted: boolean }): Promise<unknown> {
    const home = this.homeOf(vm);
    if (home === undefined) throw new VfabError(HOST_DATASTORE_ERROR.NOT_FOUND, `VM ${vm} of ${this.deps.host} has no disk on a datastore`);
    const d = this.get(home);
    if (d.vms.has(vm)) return { vm, host: this.deps.host, datastore: d.name, files: d.vms.get(vm), already: true };
    const until = this.timers.nowMs() + o.waitMs;
    const waiting = (): boolean => d.state === 'waiting' || d.state === 'mounting' || (o.untilFormatted && d.state === 'unformatted');
    while (d.state !== 'mounted' && waiting() && this.timers.nowMs() < until) await new Promise<void>((r) => this.timers.setTimeout(r, MOUNT_POLL_MS));
    if (d.state !== 'mounted') {
      const err = new VfabError(HOST_DATASTORE_ERROR.NOT_MOUNTED, `${vm} stays off: its datastore ${d.name} is ${d.state} on ${this.deps.host}${d.error ? ` (${d.error})` : ''}${waiting() ? ` after ${o.waitMs} ms` : ''}`);
      this.event(d, 'vm-power-on-failed', { vm, file: null, code: err.code, message: err.message });
      throw err;
    }
    return this.powerOn(d, vm, {});
  }

  /**
   * vMotion's lock hand-over (docs/vmotion.md): closes (`on` false) or opens (`on` true, exclusive, waiting
   * at most `waitMs` for a live holder to let go) the files of a VM with datastore disks through the same
   * power-on/off lock code, without touching its NICs (the migration stuns and resumes the VM itself).
   * `locked`: the refusal was a lock held by another host.
   */
  async vmotionLocks(vm: string, on: boolean, waitMs: number): Promise<{ ok: true } | { ok: false; locked: boolean; message: string }> {
    const home = this.homeOf(vm);
    if (home === undefined) return { ok: true };
    if (!this.list.has(home)) return { ok: false, locked: false, message: `${vm}'s datastore ${home} is a NAS datastore: vMotion hands over VMFS-like locks only` };
    try {
      const d = this.get(home);
      if (on) {
        if (!d.vms.has(vm)) await this.powerOn(d, vm, { waitMs }, { nics: false });
      } else if (d.vms.has(vm)) await this.powerOff(d, vm, { nics: false });
      return { ok: true };
    } catch (e) {
      const err = e as VfabError;
      return { ok: false, locked: err.code === DS_ERROR.LOCKED, message: err.message };
    }
  }

  /** Registers a VM that arrived by vMotion (its disks make its file list here); `undefined` forgets one. */
  adoptVm(vm: Vm | string): void {
    const list = this.deps.vms as Vm[] | undefined;
    if (list === undefined) return;
    const name = typeof vm === 'string' ? vm : vm.name;
    const i = list.findIndex((v) => v.name === name);
    if (i >= 0) list.splice(i, 1);
    if (typeof vm !== 'string') list.push(vm);
  }

  /** The datastores mounted here, VMFS-like and NAS (vMotion pre-checks: the destination must see the VM's). */
  visibleDatastores(): string[] {
    return [...[...this.list.values()].filter((d) => d.state === 'mounted').map((d) => d.name), ...this.nas.summaries().filter((d) => d.state === 'mounted').map((d) => String(d.name))];
  }

  /** Powers a topology VM with datastore disks off: its NICs go down, then its files are released. */
  async powerOffTopologyVm(vm: string): Promise<unknown> {
    const home = this.homeOf(vm);
    if (home === undefined) throw new VfabError(HOST_DATASTORE_ERROR.NOT_FOUND, `VM ${vm} of ${this.deps.host} has no disk on a datastore`);
    const d = this.get(home);
    this.deps.vmPowered?.(vm, false);
    if (!d.vms.has(vm)) return { vm, host: this.deps.host, datastore: d.name, released: [] };
    return this.powerOff(d, vm);
  }

  /**
   * Disk `disk` of topology VM `vm` when it is a datastore file: the LUN and the runs of its flat file,
   * after checking on the LUN that this host holds the file's exclusive lock (the VM is powered on here
   * and no other host broke the lock). Undefined when the disk is not on a datastore.
   */
  async diskFile(vm: string, disk: string): Promise<DatastoreDiskFile | undefined> {
    const v = this.topologyVm(vm);
    const onDs = (v?.disks ?? []).filter((x) => x.datastore);
    const i = onDs.findIndex((x) => x.name === disk);
    if (i < 0) return undefined;
    const d = this.get(onDs[i]!.datastore!);
    const file = `${vm}/${flatName(vm, i)}`;
    const opened = d.vms.get(vm)?.find((o) => o.path === file);
    if (opened === undefined) {
      throw new VfabError(HOST_DATASTORE_ERROR.NOT_OPEN, `${file} on ${d.name} is not open on ${this.deps.host}: ${vm} is powered off here (power it on to lock its files)`, { vm, disk, file });
    }
    const { driver, ctx } = this.online(d);
    const l = ctx.sb.layout;
    const raw = await driver.read(entryLba(l, opened.entry), 1);
    const e = parseEntry(raw, l.fileEntries, opened.entry, entryLba(l, opened.entry) * l.blockSize);
    if (!e.ok) throw e.error;
    const mine = e.value.lock.mode === 'exclusive' && e.value.lock.holders.some((h) => h.owner === this.hostUuid && h.slotGeneration === ctx.slot?.generation);
    if (!mine || e.value.meta.name !== flatName(vm, i)) {
      throw new VfabError(HOST_DATASTORE_ERROR.NOT_OPEN, `${file} on ${d.name} is no longer locked by ${this.deps.host} (lock ${e.value.lock.mode}, generation ${e.value.lock.generation}): no I/O through it`, { vm, disk, file });
    }
    const lun = this.deps.lunOf(d.array, d.lun);
    if (lun === undefined) throw new VfabError(HOST_DATASTORE_ERROR.NOT_ATTACHED, `array ${d.array} (LUN ${d.lun}) is not attached to ${this.deps.host}`);
    const meta = e.value.meta;
    return { datastore: d.name, file, lun, sizeBytes: meta.sizeBytes, runs: (offset, length) => mapFileRange(l, meta, offset, length) };
  }

  // ---- for the HA agent (daemons/ha/): its files, restarts and isolation responses ----------------

  /** Names of this host's VMFS-like datastores that are mounted and online now. */
  mountedNames(): string[] {
    return [...this.list.values()].filter((d) => d.state === 'mounted').map((d) => d.name);
  }

  /** Runs a datastore procedure (HA files, lib/datastore/ha-files.ts) on mounted datastore `ds`. */
  runOn<T>(ds: string, label: string, proc: (ctx: HostCtx) => Gen<T>): Promise<T> {
    const { driver, ctx } = this.online(this.get(ds));
    return driver.run(label, ctx, proc(ctx), {});
  }

  /** VMs whose files are open on this host (any datastore), sorted. */
  poweredOnVms(): string[] {
    return [...this.list.values()].flatMap((d) => [...d.vms.keys()]).sort();
  }

  /**
   * An HA restart here: power `vm` on from its files on `ds` (the same lock rules as any power-on: a live
   * holder refuses with VFAB_DATASTORE_LOCKED, a dead one is broken after the lease). A topology VM of
   * this host also brings its NICs up.
   */
  async haPowerOn(ds: string, vm: string): Promise<unknown> {
    if (this.homeOf(vm) === ds) return this.powerOnTopologyVm(vm, { waitMs: 0, untilFormatted: false });
    const d = this.get(ds);
    if (d.vms.has(vm)) return { vm, host: this.deps.host, datastore: d.name, files: d.vms.get(vm), already: true };
    return this.powerOn(d, vm, {});
  }

  /** An isolation response: power `vm` off wherever its files are open here (its locks are released). */
  async haPowerOff(vm: string): Promise<void> {
    if (this.homeOf(vm) !== undefined) {
      await this.powerOffTopologyVm(vm);
      return;
    }
    for (const d of this.list.values()) if (d.vms.has(vm)) await this.powerOff(d, vm);
  }

  /** Daemon shutdown: every Proc stops where it is (the slot is reclaimed at the next mount, see reclaim.ts). */
  close(): void {
    this.nas.close();
    for (const d of this.list.values()) d.driver?.stopAll();
  }
}
