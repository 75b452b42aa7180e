// A host's NAS datastores (docs/datastores.md "NAS datastores"): the datastores the topology puts on an
// array's NAS share (`hosts[].datastores: [{ name, share }]`), mounted when the array attaches by
// connecting to its /nas endpoint (daemons/storage/nas-client.ts, docs/nas-protocol.md). While mounted the
// host probes the share (GETATTR of its root, reconnecting when the connection is gone) when
// lib/datastore/nas-health.ts says, which also decides when it goes offline and comes back online. VM power-on creates the VM's
// directory and files when missing and takes a `.lck-<fileid>` lease on each exclusively
// (lib/datastore/nas-vm.ts), kept fresh by one refresh Proc per lease (nas-lease.ts refreshLease);
// power-off removes them. Every interval is fabric time (the daemon's clock), run time-scale times faster in
// wall time by the DatastoreDriver (driver.ts), which also performs the Procs' NAS requests here.
// Served through HostDatastores' routes (host-datastores.ts dispatches a NAS datastore's requests here).
// Follows docs/vsphere-behaviour.md §7.10. Leaves out read-only opens, rescans, the VM's disk data, and
// the race of two hosts breaking the same stale `.lck` at once (NFS v3 has no atomic replace either).

import type { Clock } from '../../lib/clock.js';
import type { HostDatastore } from '../../lib/topology/model.js';
import { VfabError } from '../../lib/errors.js';
import { DS_ERROR, DatastoreError } from '../../lib/datastore/errors.js';
import { type ShareHealth, afterProbe, initialShareHealth } from '../../lib/datastore/nas-health.js';
import { type NasCtx, type NasTiming, nasTiming, parseLck, refreshLease, staleAfterMs } from '../../lib/datastore/nas-lease.js';
import { type LckView, type NasLease, type NasVmFile, checkVmName, describeLck, lckFileId, powerOnNasVm, releaseNasLeases, vmFiles, vmLckPath } from '../../lib/datastore/nas-vm.js';
import type { IoRequest, IoResult } from '../../lib/datastore/proc.js';
import { VM_DEFAULT_DISKS, descriptorText, vmxText } from '../../lib/datastore/vm.js';
import { NAS_CREATE, NAS_ERROR, NAS_FILE_TYPE, type NasAttrs, type NasDirent } from '../../lib/nas/protocol.js';
import type { EventLog } from '../common/events.js';
import type { ControlHandler, ControlServer } from '../common/server.js';
import { NasClient, type NasClientOptions } from '../storage/nas-client.js';
import { realTimers, type TimerHandle, type Timers } from '../common/timers.js';
import { DatastoreDriver } from './driver.js';

/** Longest wait of a power-on (fabric ms) a request may ask for: the same as on a VMFS-like datastore. */
export const MAX_NAS_POWER_ON_WAIT_MS = 600_000;
/** VMs one host may run on one NAS datastore (each holds two refresh Procs of the driver's 64). */
export const MAX_NAS_VMS_PER_DATASTORE = 24;
/** Directory entries a listing (locks, inspect) reads at most, over all directories. */
export const MAX_NAS_LISTING_ENTRIES = 8_192;
/** Bytes read of a `.lck` (it is 84; more shows a damaged one as such). */
export const NAS_LCK_READ_BYTES = 512;
/** A `.lck` read empty (created, its content not written yet): read again this many times, this far apart (wall ms). */
export const NAS_EMPTY_LCK_RETRIES = 20;
export const NAS_EMPTY_LCK_RETRY_MS = 5;

/**
 * A power-on's default wait (fabric ms): enough to break a dead host's leases (the .vmx's, then the other
 * files' side by side: two stale times) plus two refresh intervals: 2 × 35 s + 20 s = 90 s.
 */
export const defaultNasWaitMs = (t: NasTiming): number => 2 * staleAfterMs(t) + 2 * t.refreshMs;

export const NAS_DATASTORE_ERROR = {
  /** The operation exists for VMFS-like datastores only (format). */
  NOT_SUPPORTED: 'VFAB_HOSTDATASTORE_NOT_SUPPORTED',
} as const;

export type NasDatastoreState = 'waiting' | 'mounting' | 'mounted' | 'offline' | 'unmounted' | 'failed';

interface RunningVm {
  leases: NasLease[];
  files: Array<NasVmFile & { created: boolean }>;
}

interface NasDs {
  name: string;
  array: string;
  share: string;
  state: NasDatastoreState;
  error: string | undefined;
  client: NasClient | undefined;
  driver: DatastoreDriver | undefined;
  ctx: NasCtx;
  vms: Map<string, RunningVm>;
  /** The file id of each `.lck` this host created: refreshes write that file, not a successor of the same name. */
  lckIds: Map<string, number>;
  probeTimer: TimerHandle;
  health: ShareHealth;
}

export interface NasDatastoresDeps {
  host: string;
  /** The host's datastores on NAS shares (those with `share`). */
  datastores: HostDatastore[];
  clock: Clock;
  timeScale: number;
  events: EventLog;
  token: string;
  /** The array's NAS endpoint (ws://.../nas) once the host has its address, else undefined. */
  nasUrlOf: (array: string) => string | undefined;
  log?: (line: string) => void;
  /** Timers and wall clock (default Node's; the simulation passes the host's scheduler timers). */
  timers?: Timers;
  /** Opens a NAS connection in process instead of a WebSocket (the simulation, daemons/sim/storage.ts). */
  connectNas?: (opts: NasClientOptions) => Promise<NasClient>;
}

const statusOf = (e: unknown): string | undefined => ((e as VfabError).code === NAS_ERROR.STATUS ? ((e as VfabError).details?.status as string) : undefined);
const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

function bad(why: string): VfabError {
  return new VfabError('VFAB_HOSTDATASTORE_BAD_REQUEST', why);
}

export class NasDatastores {
  private readonly list = new Map<string, NasDs>();
  private readonly timing: NasTiming = nasTiming();
  private readonly timers: Timers;
  /** Numbers power-ons, so each one's Procs have names of their own. */
  private powerOnSeq = 0;

  constructor(private readonly deps: NasDatastoresDeps) {
    this.timers = deps.timers ?? realTimers;
    for (const d of deps.datastores) {
      this.list.set(d.name, {
        name: d.name, array: d.array, share: d.share!, state: 'waiting', error: undefined, client: undefined, driver: undefined,
        ctx: { hostName: deps.host, nowMs: 0, timing: this.timing }, vms: new Map(), lckIds: new Map(), probeTimer: undefined, health: initialShareHealth(),
      });
    }
  }

  has(name: string): boolean {
    return this.list.has(name);
  }

  summaries(): Array<Record<string, unknown>> {
    return [...this.list.values()].map((d) => this.summary(d));
  }

  /**
   * The datastore routes of host-datastores.ts with a dispatch in front: a request whose `:ds` names a
   * NAS datastore is served here (by the route's last path segment), any other by the route's handler.
   */
  dispatch(server: ControlServer): { on: (method: string, path: string, handler: ControlHandler) => ReturnType<NasDatastores['dispatch']> } {
    const wrapped = {
      on: (method: string, path: string, handler: ControlHandler) => {
        const action = path.split('/').pop()!;
        server.on(method, path, (req) => {
          const ds = req.params.ds;
          return ds !== undefined && this.has(ds) ? this.route(ds, action, req.params.vm, req.body) : handler(req);
        });
        return wrapped;
      },
    };
    return wrapped;
  }

  /** Serves one datastore route for a NAS datastore (`action`: the route's last path segment). */
  route(name: string, action: string, vm: string | undefined, body: Record<string, unknown> | undefined): Promise<unknown> | unknown {
    const d = this.list.get(name)!;
    switch (action) {
      case 'mount':
        return this.mount(d);
      case 'unmount':
        return this.unmount(d);
      case 'files':
        return this.files(d);
      case 'heartbeats':
        return this.heartbeats(d);
      case 'inspect':
        return this.inspect(d);
      case 'power-on':
        return this.powerOn(d, vm!, body);
      case 'power-off':
        return this.powerOff(d, vm!);
      default:
        throw new VfabError(NAS_DATASTORE_ERROR.NOT_SUPPORTED, `${name} is a NAS datastore (share ${d.share} of ${d.array}): ${action} is for VMFS-like datastores on a LUN`);
    }
  }

  private summary(d: NasDs): Record<string, unknown> {
    return {
      name: d.name, type: 'nas', array: d.array, lun: null, share: d.share, state: d.state, error: d.error ?? null,
      label: d.name, volumeUuid: null, locking: 'nfs-lck', slot: null, generation: null,
      refreshMs: this.timing.refreshMs, staleAfterMs: staleAfterMs(this.timing), vms: [...d.vms.keys()],
    };
  }

  private event(d: NasDs, type: string, fields: Record<string, unknown>): void {
    this.deps.events.add(type, { host: this.deps.host, datastore: d.name, ...fields });
  }

  /** A wall-clock wait for `fabricMs` of fabric time. */
  private wallMs(fabricMs: number): number {
    return Math.ceil(fabricMs / this.deps.timeScale);
  }

  private async withTimeout<T>(p: Promise<T>, fabricMs: number, what: string): Promise<T> {
    let timer: TimerHandle;
    const t = new Promise<never>((_, reject) => {
      timer = this.timers.setTimeout(() => reject(new DatastoreError(DS_ERROR.IO_FAILED, `${what}: no answer within ${fabricMs} ms (fabric)`)), this.wallMs(fabricMs));
    });
    try {
      return await Promise.race([p, t]);
    } finally {
      this.timers.clearTimeout(timer);
    }
  }

  // ------------------------------------------------------------ mount, probe, offline/online

  arrayAttached(array: string): void {
    for (const d of this.list.values()) {
      if (d.array !== array || d.state !== 'waiting') continue;
      this.mount(d).catch((e: Error) => this.deps.log?.(`datastore ${d.name}: ${e.message}`));
    }
  }

  private async connect(d: NasDs): Promise<NasClient> {
    const url = this.deps.nasUrlOf(d.array);
    if (url === undefined) throw new VfabError('VFAB_HOSTDATASTORE_NOT_ATTACHED', `array ${d.array} (share ${d.share}) is not attached to ${this.deps.host} yet`);
    const opts: NasClientOptions = { url, token: this.deps.token, share: d.share, client: this.deps.host, connectTimeoutMs: this.wallMs(this.timing.updateTimeoutMs) };
    const client = await (this.deps.connectNas ?? NasClient.connect)(opts);
    d.client?.close().catch(() => {});
    d.client = client;
    return client;
  }

  async mount(d: NasDs): Promise<unknown> {
    if (d.state === 'mounted' || d.state === 'offline' || d.state === 'mounting') return this.summary(d);
    d.state = 'mounting';
    try {
      const client = await this.connect(d);
      await client.getattr(client.rootId);
    } catch (e) {
      d.state = 'failed';
      d.error = message(e);
      this.event(d, 'datastore-mount-failed', { type: 'nas', share: d.share, message: d.error, code: (e as VfabError).code });
      throw e;
    }
    d.error = undefined;
    d.state = 'mounted';
    d.health = initialShareHealth();
    d.driver = new DatastoreDriver({
      clock: this.deps.clock,
      timeScale: this.deps.timeScale,
      event: (type, fields) => this.deps.events.add(type, fields),
      base: { host: this.deps.host, datastore: d.name },
      nasIo: (req) => this.nasIo(d, req),
      timers: this.timers,
    });
    this.event(d, 'datastore-mounted', { type: 'nas', array: d.array, share: d.share, message: `share ${d.share} of ${d.array} mounted as ${d.name}` });
    this.scheduleProbe(d, this.timing.refreshMs);
    return this.summary(d);
  }

  private scheduleProbe(d: NasDs, fabricMs: number): void {
    this.timers.clearTimeout(d.probeTimer);
    d.probeTimer = this.timers.setTimeout(() => void this.probe(d), this.wallMs(fabricMs));
  }

  /** One probe of the share: GETATTR of the root (reconnecting first when the connection is gone). */
  private async probe(d: NasDs): Promise<void> {
    d.probeTimer = undefined;
    if (d.state !== 'mounted' && d.state !== 'offline') return;
    let error: unknown;
    try {
      await this.withTimeout((async () => {
        const client = d.client ?? (await this.connect(d));
        try {
          await client.getattr(client.rootId);
        } catch (e) {
          if ((e as VfabError).code === NAS_ERROR.DISCONNECTED && d.client === client) d.client = undefined; // reconnect next time
          throw e;
        }
      })(), this.timing.updateTimeoutMs, `probe of share ${d.share}`);
    } catch (e) {
      error = e;
    }
    if (d.state !== 'mounted' && d.state !== 'offline') return; // unmounted meanwhile
    const next = afterProbe(d.health, error === undefined, this.timing);
    d.health = next.health;
    if (next.change === 'offline') {
      d.state = 'offline';
      d.error = message(error);
      this.event(d, 'datastore-offline', { type: 'nas', share: d.share, message: `lost access to share ${d.share} of ${d.array}: ${next.health.failures} probes failed (${d.error})` });
    } else if (next.change === 'online') {
      d.state = 'mounted';
      d.error = undefined;
      this.event(d, 'datastore-online', { type: 'nas', share: d.share, message: `access to share ${d.share} restored` });
    }
    this.scheduleProbe(d, next.nextProbeMs);
  }

  async unmount(d: NasDs): Promise<unknown> {
    if (d.vms.size > 0) throw new VfabError('VFAB_HOSTDATASTORE_IN_USE', `${d.name} has powered-on VMs on ${this.deps.host} (${[...d.vms.keys()].join(', ')}): power them off first`);
    if (d.state !== 'mounted' && d.state !== 'offline') return this.summary(d);
    this.stop(d);
    d.state = 'unmounted';
    this.event(d, 'datastore-unmounted', { type: 'nas', share: d.share });
    return this.summary(d);
  }

  private stop(d: NasDs): void {
    this.timers.clearTimeout(d.probeTimer);
    d.probeTimer = undefined;
    d.driver?.stopAll();
    d.driver = undefined;
    d.client?.close().catch(() => {});
    d.client = undefined;
  }

  close(): void {
    for (const d of this.list.values()) this.stop(d);
  }

  // ------------------------------------------------------------ the Procs' NAS requests

  private async dirOf(client: NasClient, parts: string[]): Promise<number> {
    let id = client.rootId;
    for (const p of parts) id = (await client.lookup(id, p)).fileId;
    return id;
  }

  /** Performs one request of a lease Proc on the share; paths are relative to the share's root. */
  private async nasIo(d: NasDs, req: IoRequest): Promise<IoResult> {
    const client = d.client;
    if (client === undefined) return { status: 'error', message: `share ${d.share} is not connected` };
    const parts = (req as { path: string }).path.split('/').filter((x) => x !== '');
    const name = parts.pop()!;
    const path = (req as { path: string }).path;
    try {
      const dir = await this.dirOf(client, parts);
      switch (req.kind) {
        case 'nas-create': {
          let attrs: NasAttrs;
          try {
            attrs = await client.create(dir, name, NAS_CREATE.GUARDED);
          } catch (e) {
            if (statusOf(e) === 'EXIST') return { status: 'exists' };
            throw e;
          }
          d.lckIds.set(path, attrs.fileId);
          await client.write(attrs.fileId, 0, req.data);
          return { status: 'good' };
        }
        case 'nas-write': {
          const id = d.lckIds.get(path) ?? (await client.lookup(dir, name)).fileId;
          await client.write(id, 0, req.data);
          return { status: 'good' };
        }
        case 'nas-read': {
          const id = (await client.lookup(dir, name)).fileId;
          for (let i = 0; ; i++) {
            const r = await client.read(id, 0, NAS_LCK_READ_BYTES);
            if (r.data.length > 0 || i >= NAS_EMPTY_LCK_RETRIES) return { status: 'good', data: r.data };
            await new Promise<void>((res) => this.timers.setTimeout(res, NAS_EMPTY_LCK_RETRY_MS));
          }
        }
        case 'nas-remove':
          await client.remove(dir, name);
          d.lckIds.delete(path);
          return { status: 'good' };
        default:
          return { status: 'error', message: `a NAS datastore has no ${req.kind}` };
      }
    } catch (e) {
      const s = statusOf(e);
      if (s === 'NOENT' || s === 'STALE') {
        if (req.kind === 'nas-remove') d.lckIds.delete(path);
        return { status: 'not-found' };
      }
      return { status: 'error', message: message(e) };
    }
  }

  // ------------------------------------------------------------ VM power-on / power-off

  private online(d: NasDs): { driver: DatastoreDriver; client: NasClient } {
    if (d.state !== 'mounted' || d.driver === undefined || d.client === undefined) {
      throw new DatastoreError(DS_ERROR.NOT_MOUNTED, `${d.name} is ${d.state} on ${this.deps.host}${d.error ? ` (${d.error})` : ''}: it must be mounted and online`);
    }
    return { driver: d.driver, client: d.client };
  }

  /** The VM's directory and files, created when missing (GUARDED creates: a racing host's EXIST means "use it"). */
  private async vmFilesOn(client: NasClient, vm: string): Promise<Array<NasVmFile & { created: boolean }>> {
    let dir: number;
    try {
      dir = (await client.mkdir(client.rootId, vm)).fileId;
    } catch (e) {
      if (statusOf(e) !== 'EXIST') throw e;
      dir = (await client.lookup(client.rootId, vm)).fileId;
    }
    const out: Array<NasVmFile & { created: boolean }> = [];
    for (const f of vmFiles(vm)) {
      let attrs: NasAttrs | undefined;
      let created = false;
      try {
        attrs = await client.create(dir, f.name, NAS_CREATE.GUARDED);
        created = true;
        // the .vmx and the descriptor get their text (as on a VMFS-like datastore); the flat file its size
        const text = f.role === 'vmx' ? vmxText(vm, VM_DEFAULT_DISKS) : f.role === 'descriptor' ? descriptorText(vm, f.disk!, vmFiles(vm).find((x) => x.role === 'flat')!.sizeBytes) : undefined;
        if (text !== undefined) attrs = await client.write(attrs.fileId, 0, Buffer.from(text));
        else if (f.sizeBytes > 0) attrs = await client.setSize(attrs.fileId, f.sizeBytes);
      } catch (e) {
        if (statusOf(e) !== 'EXIST') throw e;
        attrs = await client.lookup(dir, f.name);
      }
      out.push({ path: `${vm}/${f.name}`, fileId: attrs.fileId, created });
    }
    return out;
  }

  async powerOn(d: NasDs, vm: string, body: Record<string, unknown> | undefined): Promise<unknown> {
    const { driver, client } = this.online(d);
    checkVmName(vm);
    const waitMs = body?.waitMs ?? defaultNasWaitMs(this.timing);
    if (typeof waitMs !== 'number' || !(waitMs >= 0) || waitMs > MAX_NAS_POWER_ON_WAIT_MS) throw bad(`"waitMs" must be 0..${MAX_NAS_POWER_ON_WAIT_MS} (fabric ms), got ${JSON.stringify(waitMs)}`);
    if (d.vms.has(vm)) throw new DatastoreError(DS_ERROR.LOCKED, `${vm} is powered on on this host already (its .lck files are held here)`, { vm, ownerName: this.deps.host });
    if (d.vms.size >= MAX_NAS_VMS_PER_DATASTORE) throw new DatastoreError(DS_ERROR.CONTENDED, `${MAX_NAS_VMS_PER_DATASTORE} VMs run on ${d.name} on ${this.deps.host} already`);
    const started = this.deps.clock.nowMs();
    let current: string | undefined;
    let files: Array<NasVmFile & { created: boolean }> = [];
    const fileOfLck = new Map<string, string>();
    const fields = (details: Record<string, unknown>) => ({ vm, file: fileOfLck.get(details.path as string) ?? current ?? null });
    const name = `power-on ${vm} ${++this.powerOnSeq}`; // unique among this host's runs, so stopNamed stops only these
    let timer: TimerHandle;
    try {
      files = await this.withTimeout(this.vmFilesOn(client, vm), this.timing.updateTimeoutMs * 2, `creating the files of ${vm}`);
      for (const f of files) fileOfLck.set(vmLckPath(vm, f.fileId), f.path);
      const timedOut = new Promise<never>((_, reject) => {
        timer = this.timers.setTimeout(() => reject(new Error('wait')), this.wallMs(waitMs));
      });
      const names: string[] = [];
      const take = (fs: NasVmFile[]): Promise<NasLease[]> => {
        names.push(`${name} ${names.length}`);
        return driver.run(names.at(-1)!, d.ctx, powerOnNasVm(d.ctx, vm, fs, (f) => (current = f.path)), fields);
      };
      // the .vmx first (racing hosts meet there), then the other files' leases side by side: a dead host's
      // VM costs two stale times, however many disks it has
      const run = (async () => {
        const taken = await take(files.slice(0, 1));
        const rest = await Promise.allSettled(files.slice(1).map((f) => take([f])));
        for (const r of rest) if (r.status === 'fulfilled') taken.push(...r.value);
        const failed = rest.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed === undefined) return taken;
        await driver.run(`${name} give back`, d.ctx, releaseNasLeases(d.ctx, taken), fields);
        throw failed.reason;
      })();
      let leases: NasLease[];
      try {
        leases = await Promise.race([run, timedOut]);
      } catch (e) {
        if ((e as Error).message !== 'wait' || e instanceof VfabError) throw e;
        for (const n of names) driver.stopNamed(n, new Error('stopped'));
        run.catch(() => {});
        await this.giveBack(d, driver, vm, files);
        const owner = await this.ownerOf(client, vm, files, current);
        throw new DatastoreError(DS_ERROR.LOCKED, `locked by ${owner ?? 'another host'}: ${current ?? vm} has a .lck of that host, which could not be watched for the stale time (${staleAfterMs(this.timing)} ms unchanged) within the ${waitMs} ms wait; a dead host's .lck is broken only after that (wait longer or retry)`, { file: current, ownerName: owner, waitMs });
      }
      d.vms.set(vm, { leases, files });
      for (const l of leases) this.keepFresh(d, driver, vm, l);
      this.event(d, 'vm-power-on', { vm, files: files.map((f) => f.path), created: files.filter((f) => f.created).map((f) => f.path), leases: leases.map((l) => l.lck) });
      return { vm, host: this.deps.host, datastore: d.name, type: 'nas', files: files.map((f) => ({ path: f.path, fileId: f.fileId, created: f.created, lck: vmLckPath(vm, f.fileId) })), tookMs: Math.round(this.deps.clock.nowMs() - started) };
    } catch (e) {
      const err = e as VfabError;
      this.event(d, 'vm-power-on-failed', { vm, file: current ?? null, code: err.code ?? null, message: err.message });
      throw e;
    } finally {
      this.timers.clearTimeout(timer);
    }
  }

  /** A power-on stopped by its wait: removes the `.lck` files it may have created already. */
  private async giveBack(d: NasDs, driver: DatastoreDriver, vm: string, files: NasVmFile[]): Promise<void> {
    const mine: Array<{ file: string; lck: string }> = [];
    for (const f of files) {
      const lck = vmLckPath(vm, f.fileId);
      const r = await this.nasIo(d, { kind: 'nas-read', path: lck });
      const p = r.status === 'good' ? parseLck(r.data!) : undefined;
      if (p?.ok && p.value.owner === this.deps.host) mine.push({ file: f.path, lck });
    }
    if (mine.length > 0) await driver.run(`power-on ${vm} give back`, d.ctx, releaseNasLeases(d.ctx, mine), { vm }).catch(() => {});
  }

  private async ownerOf(client: NasClient, vm: string, files: NasVmFile[], current: string | undefined): Promise<string | undefined> {
    const f = files.find((x) => x.path === current) ?? files[0];
    if (f === undefined) return undefined;
    try {
      const dir = (await client.lookup(client.rootId, vm)).fileId;
      const id = (await client.lookup(dir, `.lck-${f.fileId}`)).fileId;
      const p = parseLck((await client.read(id, 0, NAS_LCK_READ_BYTES)).data);
      return p.ok ? p.value.owner : undefined;
    } catch {
      return undefined;
    }
  }

  /** Refreshes one lease until power-off stops it; a lost lease (refreshes failing) ends the VM here. */
  private keepFresh(d: NasDs, driver: DatastoreDriver, vm: string, l: NasLease): void {
    driver.run(`refresh ${l.lck}`, d.ctx, refreshLease(d.ctx, l.lck, 'exclusive', l.counter), { vm, file: l.file }).then(() => {
      if (d.vms.get(vm)?.leases.includes(l) !== true) return;
      for (const other of d.vms.get(vm)!.leases) driver.stopNamed(`refresh ${other.lck}`, new Error('lease lost'));
      d.vms.delete(vm);
      this.event(d, 'vm-lease-lost', { vm, file: l.file, path: l.lck, message: `${vm} stopped on ${this.deps.host}: its lease on ${l.file} was lost (another host may break it)` });
    }, () => {}); // stopped: power-off or shutdown
  }

  async powerOff(d: NasDs, vm: string): Promise<unknown> {
    const running = d.vms.get(vm);
    if (running === undefined) return { vm, host: this.deps.host, datastore: d.name, released: [] };
    const driver = d.driver;
    if (driver === undefined || d.client === undefined) throw new DatastoreError(DS_ERROR.NOT_MOUNTED, `${d.name} is ${d.state} on ${this.deps.host}: its leases cannot be removed now`);
    for (const l of running.leases) driver.stopNamed(`refresh ${l.lck}`, new Error('power-off'));
    d.vms.delete(vm);
    const fileOf = new Map(running.leases.map((l) => [l.lck, l.file]));
    const released = await driver.run(`power-off ${vm}`, d.ctx, releaseNasLeases(d.ctx, running.leases), (details) => ({ vm, file: fileOf.get(details.path as string) ?? null }));
    this.event(d, 'vm-power-off', { vm, files: released });
    return { vm, host: this.deps.host, datastore: d.name, released };
  }

  // ------------------------------------------------------------ listings: locks, heartbeats, inspect

  /** Every file in the VM directories with its `.lck` (if any): owner, mode, counter, lease age. */
  private async listing(d: NasDs): Promise<Array<{ path: string; fileId: number; type: string; sizeBytes: number; lck: string | null; lease: LckView | null }>> {
    const client = d.client;
    if (client === undefined) throw new DatastoreError(DS_ERROR.NOT_MOUNTED, `${d.name} is ${d.state} on ${this.deps.host}: not connected to share ${d.share}`);
    let budget = MAX_NAS_LISTING_ENTRIES;
    const readdir = async (id: number): Promise<NasDirent[]> => {
      const entries = await client.readdirAll(id);
      budget -= entries.length;
      if (budget < 0) throw new DatastoreError(DS_ERROR.CONTENDED, `share ${d.share} has more than ${MAX_NAS_LISTING_ENTRIES} entries: not listed`);
      return entries;
    };
    const out: Array<{ path: string; fileId: number; type: string; sizeBytes: number; lck: string | null; lease: LckView | null }> = [];
    for (const dir of await readdir(client.rootId)) {
      if (dir.fileType !== NAS_FILE_TYPE.DIR) continue;
      const entries = await readdir(dir.fileId);
      const lcks = new Map<number, NasDirent>();
      for (const e of entries) {
        const id = lckFileId(e.name);
        if (id !== undefined) lcks.set(id, e);
      }
      for (const e of entries) {
        if (lckFileId(e.name) !== undefined || e.fileType !== NAS_FILE_TYPE.FILE) continue;
        const attrs = await client.getattr(e.fileId);
        const l = lcks.get(e.fileId);
        lcks.delete(e.fileId);
        out.push({ path: `${dir.name}/${e.name}`, fileId: e.fileId, type: 'file', sizeBytes: attrs.size, lck: l ? `${dir.name}/${l.name}` : null, lease: l ? await this.lease(client, l) : null });
      }
      // a .lck whose file is gone: listed on its own
      for (const l of lcks.values()) out.push({ path: `${dir.name}/${l.name}`, fileId: l.fileId, type: 'lck', sizeBytes: 0, lck: `${dir.name}/${l.name}`, lease: await this.lease(client, l) });
    }
    return out;
  }

  private async lease(client: NasClient, l: NasDirent): Promise<LckView | null> {
    try {
      const attrs = await client.getattr(l.fileId);
      const data = (await client.read(l.fileId, 0, NAS_LCK_READ_BYTES)).data;
      return describeLck(data, Number(attrs.mtimeNs / 1_000_000n), this.timers.nowMs(), this.deps.timeScale, this.timing);
    } catch (e) {
      if (statusOf(e) === 'NOENT' || statusOf(e) === 'STALE') return null; // removed meanwhile
      throw e;
    }
  }

  async files(d: NasDs): Promise<unknown> {
    const list = await this.listing(d);
    return {
      datastore: d.name, type: 'nas', refreshMs: this.timing.refreshMs, staleAfterMs: staleAfterMs(this.timing),
      files: list.map((f) => ({
        path: f.path, entry: f.fileId, type: f.type, sizeBytes: f.sizeBytes,
        lock: f.lease === null
          ? { mode: 'free', lck: null, holders: [] }
          : { mode: f.lease.mode ?? 'unreadable', lck: f.lck, holders: f.lease.owner === null ? [] : [{ owner: f.lease.owner, counter: f.lease.counter, leaseAgeMs: f.lease.ageMs, stale: f.lease.stale }], problem: f.lease.problem },
      })),
    };
  }

  /** NAS datastores have no heartbeat region: liveness is each `.lck`'s refresh; this lists those ages. */
  async heartbeats(d: NasDs): Promise<unknown> {
    const list = await this.listing(d);
    return {
      datastore: d.name, type: 'nas', heartbeatMs: null, refreshMs: this.timing.refreshMs, staleAfterMs: staleAfterMs(this.timing), slots: [],
      note: 'a NAS datastore has no heartbeat region: each lock is a .lck file its owner rewrites every refresh interval',
      leases: list.flatMap((f) => (f.lease === null ? [] : [{ lck: f.lck, file: f.type === 'lck' ? null : f.path, owner: f.lease.owner, counter: f.lease.counter, ageMs: f.lease.ageMs, stale: f.lease.stale }])),
    };
  }

  async inspect(d: NasDs): Promise<unknown> {
    const list = await this.listing(d);
    const problems = list.flatMap((f) => [
      ...(f.lease?.problem ? [{ path: f.lck, code: DS_ERROR.BAD_FIELD, message: f.lease.problem }] : []),
      ...(f.type === 'lck' ? [{ path: f.path, code: DS_ERROR.NOT_FOUND, message: `${f.path} locks file id ${lckFileId(f.path.split('/').pop()!)}, which is not in its directory` }] : []),
    ]);
    return { datastore: d.name, type: 'nas', share: d.share, clean: problems.length === 0, files: list.filter((f) => f.type === 'file').length, lockedFiles: list.filter((f) => f.lease !== null).length, problems };
  }
}
