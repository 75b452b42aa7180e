// In-memory BlockStore: per-LUN Map from LBA (a number, no string keys) to the block's bytes.
// Checksums: a block lives only in this Map, copied in by writeBlocks and never handed out except by the
// rawValue test hook, so nothing can change it behind the store's back but a caller of rawValue. A block
// is therefore kept as its plain data (blockSizeBytes long) until rawValue first asks for it; then it is
// turned into the LevelDB store's value format, [crc32 u32 BE][data], with its CRC computed then, and from
// then on every read verifies that CRC (a change made through the hook is a checksum error: MEDIUM ERROR
// with the LBA, as in the LevelDB store). Plain blocks are returned as written with no per-block CRC (each
// 4 KiB read of a 512-byte-block LUN used to pay 8 zlib calls, 12 % of stored's CPU). What is no longer
// detected: a bit flip in this process's own RAM, which a CRC computed in the same RAM guarded weakly.
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
import { TurnBatch } from './turn-batch.js';

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
  /** Values rawValue made ([crc][data]); every other value is a plain block. */
  private readonly sealed = new WeakSet<Buffer>();
  private readonly runs = new TurnBatch<PendingRun>((all) => this.answerRuns(all));
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
   * block that fails its checksum (a value rawValue handed out) or has the wrong length, or -1.
   */
  private gather(lun: number, lba: number, count: number, blockSizeBytes: number, out: Buffer): number {
    const m = this.luns.get(lun);
    if (m === undefined || m.size === 0) {
      out.fill(0, 0, count * blockSizeBytes);
      return -1;
    }
    for (let i = 0; i < count; i++) {
      const value = m.get(lba + i);
      const at = i * blockSizeBytes;
      if (value === undefined) out.fill(0, at, at + blockSizeBytes);
      else if (value.length === blockSizeBytes) out.set(value, at);
      else if (blockValueValid(value, blockSizeBytes)) out.set(value.subarray(BLOCK_CRC_BYTES), at);
      else return lba + i;
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
    this.runs.push({ lun, lba, count, blockSizeBytes, cb });
  }

  private answerRuns(all: readonly PendingRun[]): void {
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
    this.writeBlocksNow(lun, lba, data, blockSizeBytes);
  }

  /** The write applied now (the target's WRITE fast path); throws VFAB_STORAGE_CLOSED once closed. */
  writeBlocksNow(lun: number, lba: number, data: Uint8Array, blockSizeBytes: number): void {
    if (this.closed) throw closedError();
    const count = Math.floor(data.length / blockSizeBytes);
    const values = new Array<Buffer>(count);
    for (let i = 0; i < count; i++) values[i] = Buffer.from(data.subarray(i * blockSizeBytes, (i + 1) * blockSizeBytes));
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

  async mappedBlocks(lun: number, lba: number, count: number): Promise<number[]> {
    if (this.closed) throw closedError();
    const m = this.luns.get(lun);
    const out: number[] = [];
    if (m === undefined) return out;
    if (count <= m.size) {
      for (let i = 0; i < count; i++) if (m.has(lba + i)) out.push(lba + i);
      return out;
    }
    for (const key of m.keys()) if (key >= lba && key < lba + count) out.push(key);
    return out.sort((a, b) => a - b);
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
   * Test hook: the stored value ([crc][data]) of one block, mutable in place, or undefined. A block asked
   * for the first time is turned into that format now (CRC computed), and every later read of it checks
   * the CRC: a change made through this view is a checksum error.
   */
  rawValue(lun: number, lba: number): Buffer | undefined {
    const m = this.luns.get(lun);
    const v = m?.get(lba);
    if (m === undefined || v === undefined) return undefined;
    if (this.sealed.has(v)) return v;
    const value = Buffer.allocUnsafe(BLOCK_CRC_BYTES + v.length);
    value.writeUInt32BE(crc32(v), 0);
    value.set(v, BLOCK_CRC_BYTES);
    this.sealed.add(value);
    m.set(lba, value);
    return value;
  }
}
