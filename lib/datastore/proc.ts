// Decisions apart from actions for the datastore state machines (docs/vsphere-behaviour.md §7.2-§7.10).
// Each algorithm (mount and heartbeat, lock acquire/break, release, NAS lease) is written as a generator
// that yields requests: an I/O on the LUN (with an optional deadline), a sleep until a time, or an event.
// A Proc runs one generator: it turns requests into Actions (issue I/O, abort I/O, emit event, wake me at
// T) and takes back completions, timeouts and wake-ups with the current time. Nothing here performs I/O
// or reads a clock: the caller (a daemon, or test/datastore/sim.ts) does, and feeds the results in.
// Also the mapping from a SCSI result (lib/storage) to an I/O outcome, and CDBs for each request.
// Leaves out scheduling of several Procs (the caller keeps one wake time per Proc).

import * as cdb from '../storage/cdb.js';
import { ASC, SCSI_STATUS, SENSE_KEY, type ScsiCommand, type ScsiResult } from '../storage/scsi.js';

export type IoRequest =
  | { kind: 'read'; lba: number; blocks: number }
  | { kind: 'write'; lba: number; data: Buffer }
  /** COMPARE AND WRITE of data.length / blockSize blocks: compare with `old`, write `data` if equal. */
  | { kind: 'ats'; lba: number; old: Buffer; data: Buffer }
  /** SCSI-2 RESERVE (10) of the whole LUN. */
  | { kind: 'reserve' }
  | { kind: 'release' }
  /** NAS file operations on a share (§7.10): create fails with 'exists' when the file is there. */
  | { kind: 'nas-create'; path: string; data: Buffer }
  | { kind: 'nas-write'; path: string; data: Buffer }
  | { kind: 'nas-read'; path: string }
  | { kind: 'nas-remove'; path: string };

export type IoResult =
  | { status: 'good'; data?: Buffer }
  | { status: 'miscompare' }
  /** RESERVATION CONFLICT: another initiator holds the LUN. */
  | { status: 'conflict' }
  /** The LUN rejects the command as an unknown opcode (a LUN without ATS). */
  | { status: 'unsupported' }
  /** NAS: create of a file that exists; read/write/remove of one that does not. */
  | { status: 'exists' }
  | { status: 'not-found' }
  | { status: 'error'; message: string }
  /** The deadline passed first; the I/O was aborted. */
  | { status: 'timeout' };

export interface DsEvent {
  kind:
    | 'mounted' | 'unmounted' | 'heartbeat-timeout' | 'offline' | 'online' | 'slot-changed' | 'slot-lost' | 'replay-wait'
    | 'lock-acquired' | 'lock-refused' | 'lock-broken' | 'lock-released' | 'journal-replayed' | 'ats-unsupported'
    | 'file-created' | 'file-deleted' | 'orphans-freed' | 'reservation-conflict' | 'lease-lost' | 'lease-stale' | 'lease-refreshed' | 'lease-refresh-failed';
  atMs: number;
  message: string;
  details?: Record<string, unknown>;
}

export type Action =
  | { type: 'io'; id: number; req: IoRequest; deadlineMs?: number }
  /** Stop waiting for I/O `id`: its completion, if any, is ignored (the command may still reach the LUN). */
  | { type: 'abort'; id: number }
  | { type: 'event'; event: DsEvent }
  /** Call onWake at or after this time (replaces the Proc's previous wake time). */
  | { type: 'wake'; atMs: number };

export type Request =
  | { io: IoRequest; deadlineMs?: number }
  | { sleepUntilMs: number }
  | { emit: Omit<DsEvent, 'atMs'> };

/** What a generator gets back: the outcome of its I/O (undefined after a sleep or an event). */
export type Resume = IoResult | undefined;

export type Gen<T> = Generator<Request, T, Resume>;

/** The current time, kept up to date by the Proc before it resumes the generator. */
export interface Now {
  nowMs: number;
}

export function* io(req: IoRequest, deadlineMs?: number): Gen<IoResult> {
  const r = yield deadlineMs === undefined ? { io: req } : { io: req, deadlineMs };
  return r!;
}

export function* sleepUntil(atMs: number): Gen<void> {
  yield { sleepUntilMs: atMs };
}

export function* emit(kind: DsEvent['kind'], message: string, details?: Record<string, unknown>): Gen<void> {
  yield { emit: details === undefined ? { kind, message } : { kind, message, details } };
}

/** Most steps one resume may run without yielding I/O or sleep (a guard against a generator spinning). */
export const MAX_STEPS_PER_RESUME = 10_000;

export class Proc<T> {
  private nextId = 1;
  private pending: { id: number; deadlineMs: number | undefined } | undefined;
  private sleepingUntil: number | undefined;
  private finished = false;
  private outcome: { value: T } | { error: unknown } | undefined;

  constructor(
    readonly name: string,
    private readonly clock: Now,
    private readonly gen: Gen<T>,
  ) {}

  get done(): boolean {
    return this.finished;
  }

  /** The generator's return value, or the error it threw; undefined while running. */
  get result(): { value: T } | { error: unknown } | undefined {
    return this.outcome;
  }

  start(nowMs: number): Action[] {
    return this.step(nowMs, undefined);
  }

  onIo(nowMs: number, id: number, result: IoResult): Action[] {
    if (this.finished || this.pending?.id !== id) return []; // aborted or stale: ignored
    this.pending = undefined;
    return this.step(nowMs, result);
  }

  onWake(nowMs: number): Action[] {
    if (this.finished) return [];
    const p = this.pending;
    if (p !== undefined && p.deadlineMs !== undefined && nowMs >= p.deadlineMs) {
      this.pending = undefined;
      return [{ type: 'abort', id: p.id }, ...this.step(nowMs, { status: 'timeout' })];
    }
    if (this.sleepingUntil !== undefined && nowMs >= this.sleepingUntil) {
      this.sleepingUntil = undefined;
      return this.step(nowMs, undefined);
    }
    return [];
  }

  /** Stops the generator (host death, unmount): an outstanding I/O is aborted. */
  stop(): Action[] {
    if (this.finished) return [];
    this.finished = true;
    const out: Action[] = this.pending === undefined ? [] : [{ type: 'abort', id: this.pending.id }];
    this.pending = undefined;
    this.gen.return(undefined as T);
    return out;
  }

  private step(nowMs: number, input: Resume): Action[] {
    const out: Action[] = [];
    let next = input;
    for (let steps = 0; ; steps++) {
      if (steps > MAX_STEPS_PER_RESUME) throw new Error(`${this.name}: generator ran ${MAX_STEPS_PER_RESUME} steps without waiting`);
      this.clock.nowMs = nowMs;
      let r: IteratorResult<Request, T>;
      try {
        r = this.gen.next(next);
      } catch (e) {
        this.finished = true;
        this.outcome = { error: e };
        return out;
      }
      if (r.done) {
        this.finished = true;
        this.outcome = { value: r.value };
        return out;
      }
      const q = r.value;
      if ('emit' in q) {
        out.push({ type: 'event', event: { ...q.emit, atMs: nowMs } });
        next = undefined;
      } else if ('sleepUntilMs' in q) {
        if (q.sleepUntilMs <= nowMs) {
          next = undefined;
          continue;
        }
        this.sleepingUntil = q.sleepUntilMs;
        out.push({ type: 'wake', atMs: q.sleepUntilMs });
        return out;
      } else {
        const id = this.nextId++;
        this.pending = { id, deadlineMs: q.deadlineMs };
        out.push(q.deadlineMs === undefined ? { type: 'io', id, req: q.io } : { type: 'io', id, req: q.io, deadlineMs: q.deadlineMs });
        if (q.deadlineMs !== undefined) out.push({ type: 'wake', atMs: q.deadlineMs });
        return out;
      }
    }
  }
}

// ---------------------------------------------------------------- SCSI mapping (for whoever performs the I/O)

export type ScsiRequest = Extract<IoRequest, { kind: 'read' | 'write' | 'ats' | 'reserve' | 'release' }>;

export function toScsiCommand(req: ScsiRequest, initiator: string, lun: number, blockSize: number): ScsiCommand {
  switch (req.kind) {
    case 'read':
      return { initiator, lun, cdb: cdb.read16(req.lba, req.blocks) };
    case 'write':
      return { initiator, lun, cdb: cdb.write16(req.lba, req.data.length / blockSize), dataOut: req.data };
    case 'ats':
      return { initiator, lun, cdb: cdb.compareAndWrite(req.lba, req.data.length / blockSize), dataOut: Buffer.concat([req.old, req.data]) };
    case 'reserve':
      return { initiator, lun, cdb: cdb.reserve10() };
    case 'release':
      return { initiator, lun, cdb: cdb.release10() };
  }
}

export function fromScsiResult(r: ScsiResult): IoResult {
  if (r.status === SCSI_STATUS.GOOD) return r.dataIn === undefined ? { status: 'good' } : { status: 'good', data: Buffer.from(r.dataIn) };
  if (r.status === SCSI_STATUS.RESERVATION_CONFLICT) return { status: 'conflict' };
  const s = r.sense;
  if (s?.key === SENSE_KEY.MISCOMPARE) return { status: 'miscompare' };
  if (s?.key === SENSE_KEY.ILLEGAL_REQUEST && s.asc === ASC.INVALID_COMMAND_OPCODE[0] && s.ascq === ASC.INVALID_COMMAND_OPCODE[1]) return { status: 'unsupported' };
  return { status: 'error', message: `SCSI status 0x${r.status.toString(16)}${s ? ` sense ${s.key}/${s.asc}/${s.ascq}` : ''}` };
}
