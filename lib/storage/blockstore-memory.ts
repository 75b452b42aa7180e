// In-memory BlockStore: per-LUN Map from LBA (a number, no string keys) to the stored value
// [crc32][data], the same value format as the LevelDB store so checksum behaviour is identical.
// Checksums: a value lives only in this Map, copied in by writeBlocks and never handed out except by the
// rawValue test hook, so nothing can change it behind the store's back but a caller of rawValue. The
// CRC is therefore computed when rawValue first hands a value out (writes store the data, CRC field
// pending), and reads verify it for exactly those values, from then on; a value never handed out is
// returned as written without a per-block CRC (each read of a 512-byte-block LUN used to pay 8 zlib
// calls, 12 % of stored's CPU at 4 KiB reads). A corruption made through rawValue is thus detected as in
// the LevelDB store (MEDIUM ERROR with the LBA); what no longer is: a bit flip in this process's own RAM.
// `readRunCb` is the callback-style read of the SCSI target's READ fast path (no Promise, no allocation
// per command: the blocks are gathered into a scratch buffer lent for the call). Leaves out durability:
// everything is lost with the process (openArray without dataDir).

import { crc32 } from 'node:zlib';
import { ok, type Result } from '../errors.js';
import {
  BLOCK_CRC_BYTES,
  type BlockReadCallback,
  type BlockStore,
  type WriteOptions,
  blockValueValid,
  checksumError,
  closedError,
} from './blockstore.js';

/**
 * Largest read (bytes) gathered into the store's reused scratch buffer for readRunCb; larger reads get a
 * buffer of their own (so the scratch never grows past this).
 */
export const MEMORY_READ_SCRATCH_BYTES = 256 * 1024;

interface PendingRun {
  lun: number;
  lba: number;
  count: number;
  blockSizeBytes: number;
  cb: BlockReadCallback;
}

export class MemoryBlockStore implements BlockStore {
  readonly durable = false;
  private readonly luns = new Map<number, Map<number, Buffer>>();
  private readonly meta = new Map<string, Uint8Array>();
  private closed = false;
  /** Values handed out by rawValue (their CRC is set and checked on every read); `exposed` counts them. */
  private readonly handedOut = new WeakSet<Buffer>();
  private exposed = 0;
  private pendingRuns: PendingRun[] = [];
  private runsScheduled = false;
  private readonly answerRunsBound = (): void => this.answerRuns();
  private scratch: Buffer = Buffer.alloc(0);

  private lunMap(lun: number): Map<number, Buffer> {
    let m = this.luns.get(lun);
    if (m === undefined) {
      m = new Map();
      this.luns.set(lun, m);
    }
    return m;
  }

  /**
   * Copies `count` blocks from `lba` into `out` (unwritten blocks as zeros); answers the LBA of the first
   * value that fails its checksum, or -1.
   */
  private gather(lun: number, lba: number, count: number, blockSizeBytes: number, out: Buffer): number {
    const m = this.luns.get(lun);
    if (m === undefined || m.size === 0) {
      out.fill(0, 0, count * blockSizeBytes);
      return -1;
    }
    const checked = this.exposed > 0;
    for (let i = 0; i < count; i++) {
      const value = m.get(lba + i);
      const at = i * blockSizeBytes;
      if (value === undefined) out.fill(0, at, at + blockSizeBytes);
      else {
        if (checked && this.handedOut.has(value) && !blockValueValid(value, blockSizeBytes)) return lba + i;
        if (value.length !== BLOCK_CRC_BYTES + blockSizeBytes) return lba + i;
        value.copy(out, at, BLOCK_CRC_BYTES);
      }
    }
    return -1;
  }

  async readBlocks(lun: number, lba: number, count: number, blockSizeBytes: number): Promise<Result<Buffer>> {
    if (this.closed) return { ok: false, error: closedError() };
    const out = Buffer.allocUnsafe(count * blockSizeBytes);
    const bad = this.gather(lun, lba, count, blockSizeBytes, out);
    return bad < 0 ? ok(out) : { ok: false, error: checksumError(lun, bad) };
  }

  /**
   * Callback-style read of `count` blocks (the target's READ fast path): `cb.blockRead` is called later in
   * this turn (never synchronously; all reads of a turn in one microtask), with the blocks as a view that
   * is valid only during the call, or with a checksum or closed error as readBlocks answers.
   */
  readRunCb(lun: number, lba: number, count: number, blockSizeBytes: number, cb: BlockReadCallback): void {
    this.pendingRuns.push({ lun, lba, count, blockSizeBytes, cb });
    if (!this.runsScheduled) {
      this.runsScheduled = true;
      queueMicrotask(this.answerRunsBound);
    }
  }

  private answerRuns(): void {
    this.runsScheduled = false;
    const all = this.pendingRuns;
    this.pendingRuns = [];
    for (let i = 0; i < all.length; i++) {
      const r = all[i]!;
      if (this.closed) {
        r.cb.blockRead(undefined, closedError());
        continue;
      }
      const bytes = r.count * r.blockSizeBytes;
      let out: Buffer;
      if (bytes > MEMORY_READ_SCRATCH_BYTES) out = Buffer.allocUnsafe(bytes);
      else {
        if (this.scratch.length < bytes) this.scratch = Buffer.allocUnsafe(Math.max(bytes, Math.min(MEMORY_READ_SCRATCH_BYTES, 2 * this.scratch.length)));
        out = this.scratch;
      }
      const bad = this.gather(r.lun, r.lba, r.count, r.blockSizeBytes, out);
      if (bad >= 0) r.cb.blockRead(undefined, checksumError(r.lun, bad));
      else r.cb.blockRead(out.length === bytes ? out : out.subarray(0, bytes), undefined);
    }
  }

  async writeBlocks(lun: number, lba: number, data: Uint8Array, blockSizeBytes: number, _opts?: WriteOptions): Promise<void> {
    if (this.closed) throw closedError();
    const count = Math.floor(data.length / blockSizeBytes);
    const values = new Array<Buffer>(count);
    for (let i = 0; i < count; i++) {
      // [CRC pending][data]: the CRC is computed if rawValue ever hands this value out.
      const value = Buffer.allocUnsafe(BLOCK_CRC_BYTES + blockSizeBytes);
      value.writeUInt32BE(0, 0);
      value.set(data.subarray(i * blockSizeBytes, (i + 1) * blockSizeBytes), BLOCK_CRC_BYTES);
      values[i] = value;
    }
    const m = this.lunMap(lun);
    for (let i = 0; i < count; i++) m.set(lba + i, values[i]!);
  }

  async unmapBlocks(lun: number, lba: number, count: number, _opts?: WriteOptions): Promise<void> {
    if (this.closed) throw closedError();
    const m = this.luns.get(lun);
    if (m === undefined) return;
    if (count > m.size) {
      for (const key of m.keys()) if (key >= lba && key < lba + count) m.delete(key);
    } else {
      for (let i = 0; i < count; i++) m.delete(lba + i);
    }
  }

  async dropLun(lun: number): Promise<void> {
    if (this.closed) throw closedError();
    this.luns.delete(lun);
  }

  async allocatedBlocks(lun: number): Promise<number> {
    return this.luns.get(lun)?.size ?? 0;
  }

  async getMeta(key: string): Promise<Uint8Array | undefined> {
    if (this.closed) throw closedError();
    const v = this.meta.get(key);
    return v === undefined ? undefined : Uint8Array.from(v);
  }

  async putMeta(key: string, value: Uint8Array): Promise<void> {
    if (this.closed) throw closedError();
    this.meta.set(key, Uint8Array.from(value));
  }

  async deleteMeta(key: string): Promise<void> {
    if (this.closed) throw closedError();
    this.meta.delete(key);
  }

  async listMeta(prefix: string): Promise<Array<[string, Uint8Array]>> {
    if (this.closed) throw closedError();
    const out: Array<[string, Uint8Array]> = [];
    for (const [k, v] of this.meta) if (k.startsWith(prefix)) out.push([k, Uint8Array.from(v)]);
    out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return out;
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {
    this.closed = true;
  }

  /**
   * Test hook: the stored value ([crc][data]) of one block, mutable in place, or undefined. Its CRC is set
   * now, and every later read of it checks the CRC (a change made through this view is a checksum error).
   */
  rawValue(lun: number, lba: number): Buffer | undefined {
    const v = this.luns.get(lun)?.get(lba);
    if (v !== undefined && !this.handedOut.has(v)) {
      v.writeUInt32BE(crc32(v.subarray(BLOCK_CRC_BYTES)), 0);
      this.handedOut.add(v);
      this.exposed++;
    }
    return v;
  }
}
