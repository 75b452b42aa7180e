// A VM's virtual disk over any ScsiTarget + LUN: a byte-offset/length API on top of READ(16)/WRITE(16)
// (SBC-3), with read-modify-write for writes that do not start or end on a block boundary, split into
// transfers of at most MAX_VDISK_TRANSFER_BYTES. Also the workload generator behind `vfab disk load` and
// bench/storage.ts: random or sequential I/O of `blockBytes` at queue depth `depth`, a read/write mix, for
// a count or a duration, reporting IOPS, MB/s and latency p50/p99. Time and randomness are injected. Over a
// CallbackScsiTarget (the block client) the workload runs callback-driven: no Promise, async frame or
// closure per I/O, CDBs rewritten in place per slot.
// Leaves out caching and atomicity of unaligned writes against other writers (RMW is not locked: callers
// that share blocks use COMPARE AND WRITE).

import { VfabError } from '../errors.js';
import type { Clock, Random } from '../clock.js';
import { SCSI_OP, SCSI_STATUS, type ScsiCommand, type ScsiResult, type ScsiTarget } from './scsi.js';
import { parseReadCapacity16, read16, readCapacity16, synchronizeCache16, write16 } from './cdb.js';

/**
 * Completion of executeCb: exactly one of result / error is set (error = the command never got a SCSI
 * answer, e.g. the connection was lost). `ctx` is the caller's own per-command object: no closure needed.
 */
export type ScsiCallback<C> = (ctx: C, result: ScsiResult | undefined, error: Error | undefined) => void;

/**
 * A ScsiTarget that also takes commands callback-style (no Promise per command): the workload generator
 * uses it when present. `done` is called exactly once, never synchronously inside executeCb. The target
 * keeps references to cmd.cdb and cmd.dataOut until `done` runs: the caller must not change them before.
 */
export interface CallbackScsiTarget extends ScsiTarget {
  executeCb<C>(cmd: ScsiCommand, ctx: C, done: ScsiCallback<C>): void;
}

export function isCallbackScsiTarget(t: ScsiTarget): t is CallbackScsiTarget {
  return typeof (t as Partial<CallbackScsiTarget>).executeCb === 'function';
}

/** Largest single READ/WRITE the disk issues (matches the block protocol's data limit). */
export const MAX_VDISK_TRANSFER_BYTES = 1024 * 1024;
/** Largest queue depth of a workload. */
export const MAX_WORKLOAD_DEPTH = 256;
/** Longest workload run (`vfab disk load --seconds`), wall seconds. */
export const MAX_WORKLOAD_SECONDS = 300;
/** Latency samples kept for percentiles (reservoir). */
export const MAX_LATENCY_SAMPLES = 100_000;

export const VDISK_ERROR = {
  /** Offset/length outside the disk, or negative. */
  OUT_OF_RANGE: 'VFAB_VDISK_OUT_OF_RANGE',
  /** The target answered a non-GOOD status; details carry status and sense. */
  IO: 'VFAB_VDISK_IO',
  /** Bad workload options (depth, blockBytes, mix, no count/duration). */
  BAD_WORKLOAD: 'VFAB_VDISK_BAD_WORKLOAD',
} as const;

export interface VDiskOptions {
  lun: number;
  initiator: string;
  blockSizeBytes: number;
  blocks: number;
}

export class VDisk {
  readonly lun: number;
  readonly initiator: string;
  readonly blockSizeBytes: number;
  readonly blocks: number;

  constructor(
    readonly target: ScsiTarget,
    opts: VDiskOptions,
  ) {
    this.lun = opts.lun;
    this.initiator = opts.initiator;
    this.blockSizeBytes = opts.blockSizeBytes;
    this.blocks = opts.blocks;
  }

  /** Opens a disk by asking the target for its capacity (READ CAPACITY (16)). */
  static async open(target: ScsiTarget, lun: number, initiator: string): Promise<VDisk> {
    const r = await target.execute({ initiator, lun, cdb: readCapacity16() });
    const cap = r.status === SCSI_STATUS.GOOD && r.dataIn ? parseReadCapacity16(r.dataIn) : undefined;
    if (!cap) throw ioError('READ CAPACITY (16)', r);
    return new VDisk(target, { lun, initiator, blockSizeBytes: cap.blockSizeBytes, blocks: cap.lastLba + 1 });
  }

  get sizeBytes(): number {
    return this.blocks * this.blockSizeBytes;
  }

  async readBlocks(lba: number, count: number): Promise<Buffer> {
    const r = await this.target.execute({ initiator: this.initiator, lun: this.lun, cdb: read16(lba, count) });
    if (r.status !== SCSI_STATUS.GOOD) throw ioError(`READ (16) lba ${lba} x${count}`, r);
    const d = r.dataIn ?? new Uint8Array(0);
    return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  }

  async writeBlocks(lba: number, data: Uint8Array): Promise<void> {
    const r = await this.target.execute({ initiator: this.initiator, lun: this.lun, cdb: write16(lba, data.length / this.blockSizeBytes), dataOut: data });
    if (r.status !== SCSI_STATUS.GOOD) throw ioError(`WRITE (16) lba ${lba}`, r);
  }

  /** Reads `lengthBytes` from byte `offsetBytes`. */
  async read(offsetBytes: number, lengthBytes: number): Promise<Buffer> {
    this.checkRange(offsetBytes, lengthBytes);
    const out = Buffer.alloc(lengthBytes);
    const bs = this.blockSizeBytes;
    let pos = offsetBytes;
    while (pos < offsetBytes + lengthBytes) {
      const lba = Math.floor(pos / bs);
      const endBytes = Math.min(offsetBytes + lengthBytes, lba * bs + MAX_VDISK_TRANSFER_BYTES);
      const count = Math.ceil(endBytes / bs) - lba;
      const data = await this.readBlocks(lba, count);
      const from = pos - lba * bs;
      data.copy(out, pos - offsetBytes, from, from + (endBytes - pos));
      pos = endBytes;
    }
    return out;
  }

  /** Writes `data` at byte `offsetBytes`; partial first/last blocks are read, merged and written back. */
  async write(offsetBytes: number, data: Uint8Array): Promise<void> {
    this.checkRange(offsetBytes, data.length);
    const bs = this.blockSizeBytes;
    let pos = offsetBytes;
    const end = offsetBytes + data.length;
    while (pos < end) {
      const lba = Math.floor(pos / bs);
      const chunkEnd = Math.min(end, lba * bs + MAX_VDISK_TRANSFER_BYTES);
      const count = Math.ceil(chunkEnd / bs) - lba;
      const headPartial = pos % bs !== 0;
      const tailPartial = chunkEnd % bs !== 0;
      let buf: Buffer;
      if (!headPartial && !tailPartial) {
        buf = Buffer.from(data.buffer, data.byteOffset + (pos - offsetBytes), chunkEnd - pos);
      } else {
        buf = Buffer.alloc(count * bs);
        if (headPartial) (await this.readBlocks(lba, 1)).copy(buf, 0);
        if (tailPartial && (count > 1 || !headPartial)) (await this.readBlocks(lba + count - 1, 1)).copy(buf, (count - 1) * bs);
        Buffer.from(data.buffer, data.byteOffset, data.length).copy(buf, pos - lba * bs, pos - offsetBytes, chunkEnd - offsetBytes);
      }
      await this.writeBlocks(lba, buf);
      pos = chunkEnd;
    }
  }

  /** SYNCHRONIZE CACHE (16) over the whole disk. */
  async flush(): Promise<void> {
    const r = await this.target.execute({ initiator: this.initiator, lun: this.lun, cdb: synchronizeCache16() });
    if (r.status !== SCSI_STATUS.GOOD) throw ioError('SYNCHRONIZE CACHE (16)', r);
  }

  private checkRange(offsetBytes: number, lengthBytes: number): void {
    if (!Number.isSafeInteger(offsetBytes) || !Number.isSafeInteger(lengthBytes) || offsetBytes < 0 || lengthBytes < 0 || offsetBytes + lengthBytes > this.sizeBytes) {
      throw new VfabError(VDISK_ERROR.OUT_OF_RANGE, `range ${offsetBytes}+${lengthBytes} outside the ${this.sizeBytes}-byte disk`);
    }
  }
}

function ioError(what: string, r: ScsiResult): VfabError {
  return new VfabError(VDISK_ERROR.IO, `${what}: status 0x${r.status.toString(16)}${r.sense ? ` sense ${r.sense.key}/${r.sense.asc}/${r.sense.ascq}` : ''}`, {
    status: r.status,
    ...(r.sense ? { sense: r.sense } : {}),
  });
}

// ---------------------------------------------------------------------------------------------------------
// Workload generator

export interface WorkloadOptions {
  pattern: 'random' | 'sequential';
  /** Bytes per I/O: a multiple of the disk's block size. */
  blockBytes: number;
  /** Queue depth: I/Os kept outstanding. */
  depth: number;
  /** Stop after this many I/Os ... */
  count?: number;
  /** ... or after this long (by `clock`). At least one of count/seconds is required. */
  seconds?: number;
  /** Percentage of reads, 0..100 (default 100). */
  readPercent?: number;
  /** Region used, from `offsetBytes` (default the whole disk). */
  offsetBytes?: number;
  regionBytes?: number;
  clock: Clock;
  random: Random;
  /** Data written (default a pattern buffer of blockBytes). */
  writeData?: Uint8Array;
}

export interface WorkloadResult {
  ios: number;
  reads: number;
  writes: number;
  errors: number;
  firstError: string | undefined;
  elapsedMs: number;
  iops: number;
  mbPerSec: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  latencyMaxMs: number;
}

/** Value at quantile q (0..1) of ascending-sorted samples (nearest rank). */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[idx];
}

export async function runWorkload(disk: VDisk, o: WorkloadOptions): Promise<WorkloadResult> {
  const bs = disk.blockSizeBytes;
  const readPercent = o.readPercent ?? 100;
  if (!Number.isInteger(o.blockBytes) || o.blockBytes <= 0 || o.blockBytes % bs !== 0 || o.blockBytes > MAX_VDISK_TRANSFER_BYTES) {
    throw new VfabError(VDISK_ERROR.BAD_WORKLOAD, `blockBytes ${o.blockBytes} must be a multiple of ${bs} up to ${MAX_VDISK_TRANSFER_BYTES}`);
  }
  if (!Number.isInteger(o.depth) || o.depth < 1 || o.depth > MAX_WORKLOAD_DEPTH) throw new VfabError(VDISK_ERROR.BAD_WORKLOAD, `depth ${o.depth} outside 1..${MAX_WORKLOAD_DEPTH}`);
  if (o.count === undefined && o.seconds === undefined) throw new VfabError(VDISK_ERROR.BAD_WORKLOAD, 'give count or seconds');
  if (!(readPercent >= 0 && readPercent <= 100)) throw new VfabError(VDISK_ERROR.BAD_WORKLOAD, `readPercent ${readPercent} outside 0..100`);
  const offsetBytes = o.offsetBytes ?? 0;
  const regionBytes = o.regionBytes ?? disk.sizeBytes - offsetBytes;
  if (offsetBytes % bs !== 0 || regionBytes < o.blockBytes || offsetBytes + regionBytes > disk.sizeBytes) {
    throw new VfabError(VDISK_ERROR.BAD_WORKLOAD, `region ${offsetBytes}+${regionBytes} does not fit the disk or one I/O`);
  }
  const blocksPerIo = o.blockBytes / bs;
  const writeData = o.writeData ?? Buffer.alloc(o.blockBytes, 0x5a);
  const run = new WorkloadRun(o, blocksPerIo, offsetBytes / bs, Math.floor(regionBytes / o.blockBytes), readPercent);
  if (isCallbackScsiTarget(disk.target)) return runWorkloadCb(disk.target, disk, run, blocksPerIo, writeData);

  const worker = async (): Promise<void> => {
    while (run.more(o.clock.nowMs())) {
      const lba = run.nextLba();
      const isRead = run.nextIsRead();
      const t0 = o.clock.nowMs();
      try {
        if (isRead) await disk.readBlocks(lba, blocksPerIo);
        else await disk.writeBlocks(lba, writeData);
        run.succeeded(isRead);
      } catch (e) {
        run.failed((e as Error).message);
      }
      run.latency(o.clock.nowMs() - t0);
    }
  };
  await Promise.all(Array.from({ length: o.depth }, worker));
  return run.result(o.clock.nowMs());
}

/**
 * The state of one runWorkload, shared by its two loops (Promise and callback): which I/O comes next
 * (one random() for the slot, then one for read or write), the counts, and latency samples (the first
 * MAX_LATENCY_SAMPLES, then reservoir sampling, one random() per I/O past that).
 */
class WorkloadRun {
  private readonly startMs: number;
  private readonly endMs: number;
  private readonly maxIos: number;
  private issued = 0;
  private seq = 0;
  private reads = 0;
  private writes = 0;
  private errors = 0;
  private firstError: string | undefined;
  private maxLatencyMs = 0;
  private readonly samples: number[] = [];

  constructor(
    private readonly o: WorkloadOptions,
    private readonly blocksPerIo: number,
    private readonly firstLba: number,
    private readonly slots: number,
    private readonly readPercent: number,
  ) {
    this.startMs = o.clock.nowMs();
    this.endMs = o.seconds !== undefined ? this.startMs + o.seconds * 1000 : Infinity;
    this.maxIos = o.count ?? Infinity;
  }

  get clock(): Clock {
    return this.o.clock;
  }

  get depth(): number {
    return this.o.depth;
  }

  /** Whether another I/O may start now (count and time left). */
  more(nowMs: number): boolean {
    return this.issued < this.maxIos && nowMs < this.endMs;
  }

  /** Counts an I/O as issued and returns its first LBA. */
  nextLba(): number {
    this.issued++;
    const slot = this.o.pattern === 'random' ? Math.floor(this.o.random() * this.slots) : this.seq++ % this.slots;
    return this.firstLba + slot * this.blocksPerIo;
  }

  nextIsRead(): boolean {
    return this.o.random() * 100 < this.readPercent;
  }

  succeeded(isRead: boolean): void {
    if (isRead) this.reads++;
    else this.writes++;
  }

  failed(message: string): void {
    this.errors++;
    this.firstError ??= message;
  }

  latency(ms: number): void {
    if (ms > this.maxLatencyMs) this.maxLatencyMs = ms;
    if (this.samples.length < MAX_LATENCY_SAMPLES) this.samples.push(ms);
    else {
      const k = Math.floor(this.o.random() * (this.reads + this.writes + this.errors));
      if (k < MAX_LATENCY_SAMPLES) this.samples[k] = ms;
    }
  }

  /** The figures of the finished workload. */
  result(nowMs: number): WorkloadResult {
    const samples = this.samples.sort((a, b) => a - b);
    const ios = this.reads + this.writes;
    const elapsedMs = nowMs - this.startMs;
    const perSec = elapsedMs > 0 ? 1000 / elapsedMs : 0;
    return {
      ios,
      reads: this.reads,
      writes: this.writes,
      errors: this.errors,
      firstError: this.firstError,
      elapsedMs,
      iops: ios * perSec,
      mbPerSec: (ios * this.o.blockBytes * perSec) / 1e6,
      latencyP50Ms: percentile(samples, 0.5),
      latencyP99Ms: percentile(samples, 0.99),
      latencyMaxMs: this.maxLatencyMs,
    };
  }
}

/** Fills a READ (16) / WRITE (16) CDB in place (same bytes as cdb.ts read16/write16 without flags). */
function fillRw16(cdb: Buffer, op: number, lba: number, blocks: number): void {
  cdb.fill(0);
  cdb[0] = op;
  cdb.writeUInt32BE(Math.floor(lba / 0x100000000), 2);
  cdb.writeUInt32BE(lba >>> 0, 6);
  cdb.writeUInt32BE(blocks >>> 0, 10);
}

/** One outstanding I/O of a callback-driven workload: its command (CDB rewritten per I/O) and start time. */
class WorkloadSlot {
  readonly cdb = Buffer.alloc(16);
  readonly cmd: ScsiCommand;
  lba = 0;
  isRead = false;
  t0Ms = 0;
  constructor(initiator: string, lun: number) {
    this.cmd = { initiator, lun, cdb: this.cdb, dataOut: undefined };
  }
}

/**
 * runWorkload over a CallbackScsiTarget: `depth` slots, each issuing its next I/O from the completion of
 * the previous one (no Promise, no async frame and no closure per I/O; one clock read per I/O, the end of
 * one I/O being the start of the next). Same counts, errors, sampling and results as the async loop.
 */
function runWorkloadCb(target: CallbackScsiTarget, disk: VDisk, run: WorkloadRun, blocksPerIo: number, writeData: Uint8Array): Promise<WorkloadResult> {
  const clock = run.clock;
  /** As writeBlocks does: the CDB covers the data given (writeData defaults to blockBytes). */
  const writeBlocks = writeData.length / disk.blockSizeBytes;
  let active = 0;
  return new Promise<WorkloadResult>((resolve) => {
    const issue = (s: WorkloadSlot, nowMs: number): void => {
      s.lba = run.nextLba();
      s.isRead = run.nextIsRead();
      fillRw16(s.cdb, s.isRead ? SCSI_OP.READ_16 : SCSI_OP.WRITE_16, s.lba, s.isRead ? blocksPerIo : writeBlocks);
      s.cmd.dataOut = s.isRead ? undefined : writeData;
      s.t0Ms = nowMs;
      target.executeCb(s.cmd, s, done);
    };
    const done = (s: WorkloadSlot, r: ScsiResult | undefined, e: Error | undefined): void => {
      const nowMs = clock.nowMs();
      if (r !== undefined && r.status === SCSI_STATUS.GOOD) run.succeeded(s.isRead);
      else run.failed(r !== undefined ? ioError(s.isRead ? `READ (16) lba ${s.lba} x${blocksPerIo}` : `WRITE (16) lba ${s.lba}`, r).message : e!.message);
      run.latency(nowMs - s.t0Ms);
      if (run.more(nowMs)) issue(s, nowMs);
      else if (--active === 0) resolve(run.result(clock.nowMs()));
    };
    for (let i = 0; i < run.depth; i++) {
      const nowMs = clock.nowMs();
      if (!run.more(nowMs)) break;
      active++;
      issue(new WorkloadSlot(disk.initiator, disk.lun), nowMs);
    }
    if (active === 0) resolve(run.result(clock.nowMs()));
  });
}
