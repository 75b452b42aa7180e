// Runs the datastore state machines of lib/datastore (proc.ts) for real in a host daemon: each Proc's
// actions become SCSI commands on the host's block client (multipath, daemons/storage), real timers for
// wake-ups and I/O deadlines, and events in the host's event log. Times are fabric ms (the daemon's
// FabricClock, already sped up by the fabric's time scale), so the volume's heartbeat, I/O timeout and
// lease (docs/datastore-format.md) run time-scale times faster in wall-clock time, like every other timer
// of the fabric: a wake at fabric time T waits (T - now) / timeScale wall ms. Also direct reads and writes
// outside a Proc (format, inspect, listings). On a NAS datastore the Procs' NAS requests go to the
// `nasIo` it is given (nas-datastores.ts). Follows docs/vsphere-behaviour.md §7.2-§7.10. Leaves out
// scheduling fairness between Procs (each has its own timer).

import type { Clock } from '../../lib/clock.js';
import { realTimers, type TimerHandle, type Timers } from '../common/timers.js';
import { read16, write16 } from '../../lib/storage/cdb.js';
import { SCSI_STATUS, type ScsiCommand, type ScsiTarget } from '../../lib/storage/scsi.js';
import { MAX_DATA_TRANSFER_BYTES } from '../../lib/storage/protocol.js';
import { DS_ERROR, DatastoreError } from '../../lib/datastore/errors.js';
import { type Action, type DsEvent, type Gen, type IoRequest, type IoResult, Proc, type ScsiRequest, fromScsiResult, toScsiCommand } from '../../lib/datastore/proc.js';

/** Bytes of one direct read or write (format, inspect): a quarter of the block protocol's largest transfer. */
export const DIRECT_IO_CHUNK_BYTES = MAX_DATA_TRANSFER_BYTES / 4;
/** Procs one datastore runs at once (heartbeat plus lock operations); more are refused. */
export const MAX_PROCS_PER_DATASTORE = 64;

/** Where the driver sends its commands: a LUN of an attached array. */
export interface LunHandle {
  target: ScsiTarget;
  lun: number;
  initiator: string;
  blockSizeBytes: number;
  sizeBytes: number;
}

export interface DriverDeps {
  /** The LUN of a VMFS-like datastore; absent on a NAS datastore. */
  lun?: LunHandle;
  /** Performs a NAS request (nas-create, -write, -read, -remove) on a NAS datastore's share. */
  nasIo?: (req: IoRequest) => Promise<IoResult>;
  /** The fabric clock (ms, scaled). */
  clock: Clock;
  timeScale: number;
  /** Logs one event in the host's event log (type, fields). */
  event: (type: string, fields: Record<string, unknown>) => void;
  /** Fields every event carries (host, datastore). */
  base: Record<string, unknown>;
  /** Wake-up and wait timers (default Node's; the simulation passes the host's scheduler timers). */
  timers?: Timers;
}

/** Event types in the host's log for each state machine event (docs/events.md, docs/datastores.md). */
export function eventType(kind: DsEvent['kind']): string {
  switch (kind) {
    case 'heartbeat-timeout':
      return 'datastore-heartbeat-timeout';
    case 'offline':
      return 'datastore-offline';
    case 'online':
      return 'datastore-online';
    default:
      return `datastore-${kind}`;
  }
}

/** Fields added to each event of a Proc: fixed, or computed from the event's details (e.g. entry -> file). */
export type EventFields = Record<string, unknown> | ((details: Record<string, unknown>) => Record<string, unknown>);

interface Running {
  proc: Proc<unknown>;
  timer: TimerHandle;
  fields: EventFields;
  /** Commands issued and not yet answered, by I/O id: an abort marks them (a held command is then never sent). */
  inFlight: Map<number, { aborted?: boolean }>;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

export class DatastoreDriver {
  private readonly running = new Set<Running>();
  /** Numbers the runs of runWithin, so stopping one never stops another of the same name. */
  private runSeq = 0;
  private readonly timers: Timers;

  constructor(private readonly deps: DriverDeps) {
    this.timers = deps.timers ?? realTimers;
  }

  get lun(): LunHandle {
    if (this.deps.lun === undefined) throw new DatastoreError(DS_ERROR.BAD_OPTION, 'a NAS datastore has no LUN');
    return this.deps.lun;
  }

  get procs(): number {
    return this.running.size;
  }

  /**
   * Runs `gen` as a Proc until it returns (the promise resolves with its value) or throws (rejects).
   * `fields` are added to each event it emits (e.g. the file whose lock it is). `now` is the ctx the generator
   * reads the time from (the Proc keeps it current).
   */
  run<T>(name: string, now: { nowMs: number }, gen: Gen<T>, fields: EventFields = {}): Promise<T> {
    if (this.running.size >= MAX_PROCS_PER_DATASTORE) {
      return Promise.reject(new DatastoreError(DS_ERROR.CONTENDED, `${MAX_PROCS_PER_DATASTORE} datastore operations are running already; try again`));
    }
    return new Promise<T>((resolve, reject) => {
      const r: Running = { proc: new Proc(name, now, gen as Gen<unknown>), timer: undefined, fields, inFlight: new Map(), resolve: resolve as (v: unknown) => void, reject };
      this.running.add(r);
      this.perform(r, r.proc.start(this.deps.clock.nowMs()));
    });
  }

  /**
   * run(), bounded by `waitMs` fabric ms (scaled to wall time): when the wait ends first, the Proc is
   * stopped (a command it has on the wire completes unheeded) and the result is `{ timedOut: true }`.
   * Errors of the Proc itself are thrown as from run().
   */
  async runWithin<T>(name: string, now: { nowMs: number }, gen: Gen<T>, fields: EventFields, waitMs: number): Promise<{ timedOut: false; value: T } | { timedOut: true }> {
    const unique = `${name} ${++this.runSeq}`;
    let timer: TimerHandle;
    const timedOut = new Promise<{ timedOut: true }>((resolve) => {
      timer = this.timers.setTimeout(() => resolve({ timedOut: true }), waitMs / this.deps.timeScale);
    });
    const run = this.run(unique, now, gen, fields);
    try {
      const out = await Promise.race([run.then((value) => ({ timedOut: false as const, value })), timedOut]);
      if (out.timedOut) {
        run.catch(() => {}); // rejected by the stop below: the caller has its answer already
        this.stopNamed(unique, new Error('stopped: wait over'));
      }
      return out;
    } finally {
      this.timers.clearTimeout(timer);
    }
  }

  /** Stops every Proc (unmount without freeing the slot, or the daemon shutting down). */
  stopAll(): void {
    for (const r of [...this.running]) this.stop(r, new DatastoreError(DS_ERROR.NOT_MOUNTED, 'the datastore was stopped'));
  }

  /** Stops one Proc started by run(), found by the promise's name. */
  stopNamed(name: string, why: Error): void {
    for (const r of [...this.running]) if (r.proc.name === name) this.stop(r, why);
  }

  private stop(r: Running, why: Error): void {
    r.proc.stop();
    this.finish(r, why);
  }

  private finish(r: Running, error?: unknown): void {
    if (!this.running.delete(r)) return;
    if (r.timer) this.timers.clearTimeout(r.timer);
    r.timer = undefined;
    for (const cmd of r.inFlight.values()) cmd.aborted = true;
    r.inFlight.clear();
    const out = r.proc.result;
    if (error !== undefined) r.reject(error);
    else if (out === undefined) r.reject(new DatastoreError(DS_ERROR.NOT_MOUNTED, `${r.proc.name} stopped`));
    else if ('error' in out) r.reject(out.error);
    else r.resolve(out.value);
  }

  private perform(r: Running, actions: Action[]): void {
    for (const a of actions) {
      if (a.type === 'event') {
        const details = a.event.details ?? {};
        const extra = typeof r.fields === 'function' ? r.fields(details) : r.fields;
        this.deps.event(eventType(a.event.kind), { ...this.deps.base, ...extra, message: a.event.message, ...details });
      }
      else if (a.type === 'wake') this.arm(r, a.atMs);
      else if (a.type === 'io') this.issue(r, a.id, a.req);
      else if (a.type === 'abort') this.abort(r, a.id);
    }
    if (r.proc.done) this.finish(r);
  }

  /**
   * The Proc gave up on I/O `id` (deadline passed, or the Proc stopped). A command already on the wire
   * completes and its answer is ignored; one still queued at the host's edge (a stalled path, a path
   * wait) sees `aborted` and is never sent, so no stale write lands after its issuer moved on.
   */
  private abort(r: Running, id: number): void {
    const cmd = r.inFlight.get(id);
    if (cmd !== undefined) cmd.aborted = true;
    r.inFlight.delete(id);
  }

  private arm(r: Running, atMs: number): void {
    if (r.timer) this.timers.clearTimeout(r.timer);
    const waitMs = Math.max(0, (atMs - this.deps.clock.nowMs()) / this.deps.timeScale);
    r.timer = this.timers.setTimeout(() => {
      r.timer = undefined;
      if (!this.running.has(r)) return;
      this.perform(r, r.proc.onWake(Math.max(atMs, this.deps.clock.nowMs())));
    }, Math.ceil(waitMs));
  }

  private issue(r: Running, id: number, req: IoRequest): void {
    let done: Promise<IoResult>;
    if ((req.kind as string).startsWith('nas-')) {
      const nas = this.deps.nasIo;
      done = nas === undefined ? Promise.resolve({ status: 'error', message: 'a block datastore has no NAS file operations' }) : nas(req).catch((e: Error) => ({ status: 'error' as const, message: e.message }));
    } else {
      const l = this.lun;
      const cmd: ScsiCommand & { aborted?: boolean } = toScsiCommand(req as ScsiRequest, l.initiator, l.lun, l.blockSizeBytes);
      r.inFlight.set(id, cmd);
      done = l.target.execute(cmd).then(fromScsiResult, (e: Error) => ({ status: 'error' as const, message: e.message }));
    }
    void done.then((result) => {
      r.inFlight.delete(id);
      if (!this.running.has(r)) return;
      this.perform(r, r.proc.onIo(this.deps.clock.nowMs(), id, result));
    });
  }

  // ------------------------------------------------------------ direct I/O (outside the state machines)

  async read(lba: number, blocks: number): Promise<Buffer> {
    const l = this.lun;
    const per = Math.max(1, Math.floor(DIRECT_IO_CHUNK_BYTES / l.blockSizeBytes));
    const parts: Buffer[] = [];
    for (let at = lba; at < lba + blocks; at += per) {
      const n = Math.min(per, lba + blocks - at);
      const res = await l.target.execute({ initiator: l.initiator, lun: l.lun, cdb: read16(at, n) });
      const io = fromScsiResult(res);
      if (res.status !== SCSI_STATUS.GOOD || io.status !== 'good') throw new DatastoreError(DS_ERROR.IO_FAILED, `READ of ${n} blocks at LBA ${at}: ${io.status === 'error' ? io.message : io.status}`, { lba: at });
      parts.push(io.data ?? Buffer.alloc(0));
    }
    return Buffer.concat(parts);
  }

  async write(lba: number, data: Buffer): Promise<void> {
    const l = this.lun;
    const per = Math.max(1, Math.floor(DIRECT_IO_CHUNK_BYTES / l.blockSizeBytes)) * l.blockSizeBytes;
    for (let off = 0; off < data.length; off += per) {
      const chunk = data.subarray(off, off + per);
      const at = lba + off / l.blockSizeBytes;
      const res = await l.target.execute({ initiator: l.initiator, lun: l.lun, cdb: write16(at, chunk.length / l.blockSizeBytes), dataOut: chunk });
      const io = fromScsiResult(res);
      if (io.status !== 'good') throw new DatastoreError(DS_ERROR.IO_FAILED, `WRITE of ${chunk.length} bytes at LBA ${at}: ${io.status === 'error' ? io.message : io.status}`, { lba: at });
    }
  }
}
