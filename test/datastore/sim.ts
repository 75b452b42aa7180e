// In-memory simulation for the datastore state machines: N hosts on a manual clock share one LUN served
// by lib/storage's real SCSI target (BlockTarget over MemoryBlockStore), so COMPARE AND WRITE, READ, WRITE
// and SCSI-2 RESERVE/RELEASE behave exactly as the array's. Each host runs Procs (lib/datastore/proc.ts);
// their actions become queued events: an I/O reaches the array after `latencyMs` (or when the host's
// stall ends), its completion comes back `latencyMs` later; wake-ups fire at their time. Controls: stall a
// host's I/O until T, kill a host (its Procs stop, its I_T nexus drops, in-flight commands still land),
// turn ATS off on the LUN (COMPARE AND WRITE answers INVALID COMMAND OPERATION CODE). A NAS share is a
// Map of path to bytes for the `.lck` lease tests. Leaves out multipath and the network.

import { BlockTarget } from '../../lib/storage/target.js';
import { MemoryBlockStore } from '../../lib/storage/blockstore-memory.js';
import { invalidOpcode } from '../../lib/storage/sense.js';
import type { BlockSizeBytes } from '../../lib/storage/blockstore.js';
import { type FormatOptions, type Superblock, entryLba, parseEntry, parseSlot, parseSuperblock, planFormat, slotLba, type FileEntry, type HeartbeatSlot } from '../../lib/datastore/format.js';
import { type HostCtx, createHostCtx, heartbeat } from '../../lib/datastore/host.js';
import { type Action, type DsEvent, type Gen, type IoRequest, type IoResult, Proc, type ScsiRequest, fromScsiResult, toScsiCommand } from '../../lib/datastore/proc.js';
import { type NasCtx, nasTiming } from '../../lib/datastore/nas-lease.js';
import { type HeldMode, acquireLock } from '../../lib/datastore/lock.js';

export const uuidOf = (name: string): string => Buffer.from(name.padEnd(16, '.').slice(0, 16), 'latin1').toString('hex');

type QEvent =
  | { t: number; seq: number; kind: 'arrive'; proc: SimProc; id: number; req: IoRequest }
  | { t: number; seq: number; kind: 'complete'; proc: SimProc; id: number; result: IoResult }
  | { t: number; seq: number; kind: 'wake'; proc: SimProc };

export class SimProc {
  constructor(
    readonly host: SimHost,
    readonly proc: Proc<unknown>,
  ) {}
  get done(): boolean {
    return this.proc.done;
  }
  /** The return value; throws the generator's error (for tests that expect success). */
  value<T>(): T {
    const r = this.proc.result;
    if (r === undefined) throw new Error(`${this.proc.name} has not finished`);
    if ('error' in r) throw r.error;
    return r.value as T;
  }
  error(): { code?: string; message: string } | undefined {
    const r = this.proc.result;
    return r !== undefined && 'error' in r ? (r.error as { code?: string; message: string }) : undefined;
  }
}

export class SimHost {
  readonly uuid: string;
  readonly initiator: string;
  readonly events: DsEvent[] = [];
  readonly procs = new Set<SimProc>();
  stalledUntil = 0;
  dead = false;
  ctx!: HostCtx;
  hb: SimProc | undefined;
  /** Count of I/O requests issued, by kind. */
  readonly issued = new Map<string, number>();
  /** Every I/O request issued, with its time. */
  readonly issuedLog: Array<{ t: number; kind: string; lba?: number }> = [];
  constructor(
    readonly sim: Sim,
    readonly name: string,
  ) {
    this.uuid = uuidOf(name);
    this.initiator = `iqn.1998-01.com.vmware:${name}`;
  }

  /** Starts a generator as a Proc of this host. */
  run<T>(name: string, gen: Gen<T>): SimProc {
    const p = new SimProc(this, new Proc(`${this.name}:${name}`, this.ctx ?? this.sim.nasCtx(this), gen as Gen<unknown>));
    this.procs.add(p);
    this.sim.perform(p, p.proc.start(this.sim.now));
    return p;
  }

  mount(timeScale = 1): SimProc {
    this.ctx = createHostCtx({ hostUuid: this.uuid, hostName: this.name, sb: this.sim.superblock(), timeScale });
    this.hb = this.run('heartbeat', heartbeat(this.ctx));
    return this.hb;
  }

  /** Starts acquireLock(entry, mode) on this host and runs the simulation `ms` further. */
  async lockFor(entry: number, mode: HeldMode, ms: number): Promise<SimProc> {
    const p = this.run(`lock-${entry}`, acquireLock(this.ctx, entry, mode));
    await this.sim.advance(ms);
    return p;
  }

  eventsOf(kind: DsEvent['kind']): DsEvent[] {
    return this.events.filter((e) => e.kind === kind);
  }
}

export interface SimOptions {
  blockSize?: BlockSizeBytes;
  lunBytes?: number;
  latencyMs?: number;
}

export class Sim {
  now = 0;
  latencyMs: number;
  atsEnabled = true;
  readonly blockSize: BlockSizeBytes;
  readonly lunBytes: number;
  readonly target: BlockTarget;
  readonly hosts = new Map<string, SimHost>();
  readonly nas = new Map<string, Buffer>();
  /** Every I/O the array executed, in order (host, request kind, lba). */
  readonly log: Array<{ t: number; host: string; kind: string; lba?: number; status: string }> = [];
  private queue: QEvent[] = [];
  private seq = 0;
  private nasCtxs = new Map<SimHost, NasCtx>();
  nasTimeScale = 1;

  constructor(opts: SimOptions = {}) {
    this.blockSize = opts.blockSize ?? 512;
    this.lunBytes = opts.lunBytes ?? 8 * 1024 * 1024;
    this.latencyMs = opts.latencyMs ?? 1;
    this.target = new BlockTarget(new MemoryBlockStore());
    this.target.addLun({ lun: 0, name: 'ds', id: 'naa.60000000000000000000000000000001', sizeBytes: this.lunBytes, blockSizeBytes: this.blockSize, blocks: this.lunBytes / this.blockSize, createdAtMs: 0 });
  }

  async format(opts: Partial<FormatOptions> = {}): Promise<void> {
    const plan = planFormat(this.lunBytes, this.blockSize, { label: 'ds1', volumeUuid: uuidOf('volume-1'), slotCount: 8, fileEntries: 64, ...opts });
    if (!plan.ok) throw plan.error;
    for (const w of plan.value.writes) await this.exec('formatter', { kind: 'write', lba: w.lba, data: w.data });
  }

  private sb: Superblock | undefined;
  superblock(): Superblock {
    if (this.sb === undefined) throw new Error('read the superblock first (await sim.load())');
    return this.sb;
  }

  async load(): Promise<Superblock> {
    const r = await this.exec('reader', { kind: 'read', lba: 0, blocks: 1 });
    const sb = parseSuperblock(r.status === 'good' ? r.data! : Buffer.alloc(0), this.blockSize);
    if (!sb.ok) throw sb.error;
    this.sb = sb.value;
    return sb.value;
  }

  host(name: string): SimHost {
    let h = this.hosts.get(name);
    if (h === undefined) this.hosts.set(name, (h = new SimHost(this, name)));
    return h;
  }

  nasCtx(h: SimHost): NasCtx {
    let c = this.nasCtxs.get(h);
    if (c === undefined) {
      this.nasCtxs.set(h, (c = { hostName: h.name, nowMs: 0, timing: nasTiming(this.nasTimeScale) }));
    }
    return c;
  }

  /** Kills a host: its Procs stop, its connection drops (SPC-2 reservations released); queued I/O still lands. */
  kill(name: string): void {
    const h = this.host(name);
    h.dead = true;
    for (const p of h.procs) p.proc.stop();
    this.target.nexusLoss(h.initiator);
  }

  /** Holds every I/O of `name` issued before `untilMs` in the path until then. */
  stall(name: string, untilMs: number): void {
    this.host(name).stalledUntil = untilMs;
  }

  perform(p: SimProc, actions: Action[]): void {
    const h = p.host;
    for (const a of actions) {
      if (a.type === 'event') h.events.push(a.event);
      else if (a.type === 'wake') this.push({ t: a.atMs, kind: 'wake', proc: p });
      else if (a.type === 'io') {
        h.issued.set(a.req.kind, (h.issued.get(a.req.kind) ?? 0) + 1);
        const lba = (a.req as { lba?: number }).lba;
        h.issuedLog.push(lba === undefined ? { t: this.now, kind: a.req.kind } : { t: this.now, kind: a.req.kind, lba });
        const t = Math.max(this.now + this.latencyMs, h.stalledUntil > this.now ? h.stalledUntil : 0);
        this.push({ t, kind: 'arrive', proc: p, id: a.id, req: a.req });
      }
    }
  }

  private push(e: QEvent extends infer Q ? (Q extends QEvent ? Omit<Q, 'seq'> : never) : never): void {
    this.queue.push({ ...e, seq: this.seq++ } as QEvent);
  }

  /** Executes one request now, as `initiator`, on the array (or the NAS share). */
  async exec(initiator: string, req: IoRequest): Promise<IoResult> {
    switch (req.kind) {
      case 'nas-create':
        if (this.nas.has(req.path)) return { status: 'exists' };
        this.nas.set(req.path, Buffer.from(req.data));
        return { status: 'good' };
      case 'nas-write':
        if (!this.nas.has(req.path)) return { status: 'not-found' };
        this.nas.set(req.path, Buffer.from(req.data));
        return { status: 'good' };
      case 'nas-read': {
        const d = this.nas.get(req.path);
        return d === undefined ? { status: 'not-found' } : { status: 'good', data: Buffer.from(d) };
      }
      case 'nas-remove':
        return this.nas.delete(req.path) ? { status: 'good' } : { status: 'not-found' };
      default: {
        const r = req as ScsiRequest;
        if (r.kind === 'ats' && !this.atsEnabled) return fromScsiResult(invalidOpcode());
        return fromScsiResult(await this.target.execute(toScsiCommand(r, initiator, 0, this.blockSize)));
      }
    }
  }

  /** Runs every queued event up to and including `untilMs` (bounded), then sets the clock to it. */
  async runUntil(untilMs: number, maxEvents = 1_000_000): Promise<void> {
    for (let n = 0; ; n++) {
      if (n > maxEvents) throw new Error(`simulation did not settle by ${untilMs} ms`);
      let best = -1;
      for (let i = 0; i < this.queue.length; i++) {
        const q = this.queue[i]!;
        if (q.t <= untilMs && (best < 0 || q.t < this.queue[best]!.t || (q.t === this.queue[best]!.t && q.seq < this.queue[best]!.seq))) best = i;
      }
      if (best < 0) break;
      const e = this.queue.splice(best, 1)[0]!;
      this.now = Math.max(this.now, e.t);
      const p = e.proc;
      if (e.kind === 'arrive') {
        const result = await this.exec(p.host.initiator, e.req);
        const r = e.req as { lba?: number };
        this.log.push({ t: this.now, host: p.host.name, kind: e.req.kind, ...(r.lba !== undefined ? { lba: r.lba } : {}), status: result.status });
        if (!p.host.dead) {
          const h = p.host;
          const t = Math.max(this.now + this.latencyMs, h.stalledUntil > this.now ? h.stalledUntil : 0);
          this.push({ t, kind: 'complete', proc: p, id: e.id, result });
        }
      } else if (p.host.dead) {
        continue;
      } else if (e.kind === 'complete') {
        this.perform(p, p.proc.onIo(this.now, e.id, e.result));
      } else {
        this.perform(p, p.proc.onWake(this.now));
      }
    }
    this.now = Math.max(this.now, untilMs);
  }

  async advance(ms: number): Promise<void> {
    await this.runUntil(this.now + ms);
  }

  // ---------------------------------------------------------------- inspection helpers (direct reads)

  /** The LUN from LBA 0 to the data area (what inspectVolume decodes). */
  async metadata(): Promise<Buffer> {
    const r = await this.exec('inspector', { kind: 'read', lba: 0, blocks: this.superblock().layout.dataLba });
    return r.status === 'good' ? r.data! : Buffer.alloc(0);
  }

  async slot(index: number): Promise<HeartbeatSlot> {
    const l = this.superblock().layout;
    const r = await this.exec('inspector', { kind: 'read', lba: slotLba(l, index), blocks: 1 });
    const s = parseSlot(r.status === 'good' ? r.data! : Buffer.alloc(0), index);
    if (!s.ok) throw s.error;
    return s.value;
  }

  async entry(index: number): Promise<FileEntry> {
    const l = this.superblock().layout;
    const r = await this.exec('inspector', { kind: 'read', lba: entryLba(l, index), blocks: 1 });
    const e = parseEntry(r.status === 'good' ? r.data! : Buffer.alloc(0), l.fileEntries, index);
    if (!e.ok) throw e.error;
    return e.value;
  }
}

/** A formatted datastore (8 heartbeat slots) mounted by each of `names`. */
export async function mountedSim(names: readonly string[]): Promise<Sim> {
  const sim = new Sim();
  await sim.format({ slotCount: 8 });
  await sim.load();
  for (const n of names) sim.host(n).mount();
  await sim.advance(50);
  return sim;
}
