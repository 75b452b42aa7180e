// A BlockStore with a read cache (block-cache.ts) in front of another store: the array's DRAM cache.
// Reads (the single-block READ fast path `readBlockCb`, and `readBlocks` up to MAX_CACHED_READ_BYTES) are
// answered from the cache when it holds the blocks; misses go to the inner store, and what comes back
// with a matching checksum is copied in block by block. Writes, unmaps and LUN drops go to the inner
// store unchanged and invalidate the blocks they touch, so the cache only ever holds what the store held
// (write-through, never write-back: durability is the inner store's alone).
// Consistency: a read that the inner store answers may have been overtaken by a write issued after it; its
// data must not enter the cache. Every write, unmap and drop takes a sequence number when issued and
// again when done (invalidating its blocks both times); while misses are out, each of these is also
// recorded with the blocks it touches. A miss remembers the sequence number at its issue, and its data is
// copied in only if no mutation recorded since then touched its block. So a mixed load fills every miss
// whose own block was left alone; the rest are counted as staleFillsSkipped. The record list is pruned to
// what the oldest miss still out can need, and capped at MAX_TRACKED_MUTATIONS: when a stuck read would
// need more, the oldest records are dropped and every read issued before them skips its fill.
// Multi-block reads: while a write is out, single-block fills may leave its blocks in the cache half old,
// half new (until the write is done and invalidates them again), so a multi-block read is answered from
// the cache only when every block is there and no write, unmap or drop overlapping it is out; otherwise
// it reads the whole range from the inner store (one snapshot there) and fills block by block. A
// multi-block write is therefore seen whole or not at all, as the BlockStore contract says.
// Cache hints (SBC-3 READ byte 1): FUA reads skip the lookup and go to the inner store (the medium; the
// cache is volatile); DPO reads may hit but a DPO miss does not fill.
// Checksums: a block is verified when it comes from the inner store; a cached copy is DRAM and is not
// verified again, so a value corrupted on disk after it was cached is detected by a FUA read or once it is
// evicted (as in an array whose cache holds a good copy). Leaves out readahead and per-LUN partitions.

import { ok, type Result } from '../errors.js';
import { BlockCache, type ReadCacheStats } from './block-cache.js';
import { TurnBatch } from './turn-batch.js';
import { READ_DPO, READ_FUA, type BlockReadCallback, type BlockStore, type WriteOptions } from './blockstore.js';
import type { VfabError } from '../errors.js';

interface Lookup {
  lun: number;
  lba: number;
  blockSizeBytes: number;
  cb: BlockReadCallback;
  /** READ_DPO: a miss does not fill. */
  dpo: boolean;
}

/**
 * Most mutations remembered for misses still out (about 40 bytes each). A read that stays out across more
 * writes than this skips its fill.
 */
export const MAX_TRACKED_MUTATIONS = 4096;

/**
 * Largest read (bytes) that uses the cache: 64 KiB, e.g. a 4 KiB guest I/O on a 512-byte LUN (8 blocks)
 * or 16 blocks of 4 KiB. Larger reads (sequential streaming) go straight to the store and do not fill,
 * so one big scan does not push out the blocks that random I/O keeps hot.
 */
export const MAX_CACHED_READ_BYTES = 64 * 1024;

/** A write, unmap or LUN drop (count < 0) issued or finished while misses were out. */
interface MutationRecord {
  seq: number;
  lun: number;
  lba: number;
  count: number;
}

/** A miss on its way through the inner store: fills the cache if no mutation of its block overtook it. */
class MissRead implements BlockReadCallback {
  constructor(
    private readonly owner: CachedBlockStore,
    private readonly lun: number,
    private readonly lba: number,
    private readonly seqAtIssue: number,
    private readonly cb: BlockReadCallback,
    private readonly fill: boolean,
  ) {}

  blockRead(data: Buffer | undefined, error: VfabError | undefined): void {
    if (this.fill && data !== undefined) this.owner.fill(this.lun, this.lba, data, this.seqAtIssue);
    this.owner.missFinished(this.seqAtIssue);
    this.cb.blockRead(data, error);
  }
}

export class CachedBlockStore implements BlockStore {
  readonly durable: boolean;
  readonly cache: BlockCache;
  /** Moves with every write, unmap and drop, when issued and when done. */
  private seq = 0;
  /** Mutations since the oldest miss still out, oldest first (from recentHead on). */
  private recent: MutationRecord[] = [];
  private recentHead = 0;
  /** Misses out, by the seq at their issue; insertion order is seq order (seq only grows). */
  private readonly missesOut = new Map<number, number>();
  /** Fills of misses issued before this seq are skipped (their records were dropped at the cap). */
  private staleBefore = 0;
  /** Writes, unmaps and drops issued and not yet done (a few per session window). */
  private readonly mutationsOut: MutationRecord[] = [];
  private readonly lookups = new TurnBatch<Lookup>((all) => this.runLookups(all));

  constructor(
    readonly inner: BlockStore,
    capacityBytes: number,
  ) {
    this.durable = inner.durable;
    this.cache = new BlockCache(capacityBytes);
  }

  cacheStats(): ReadCacheStats {
    return this.cache.stats();
  }

  /** Copies one block a miss brought back into the cache, unless a mutation of that block overtook the read. */
  fill(lun: number, lba: number, data: Buffer, seqAtIssue: number): void {
    if (this.overtaken(lun, lba, seqAtIssue)) this.cache.noteStaleFill();
    else this.cache.put(lun, lba, data);
  }

  /** Counts a read to the inner store as out; returns the seq it was issued at. */
  private missStarted(): number {
    const seq = this.seq;
    this.missesOut.set(seq, (this.missesOut.get(seq) ?? 0) + 1);
    return seq;
  }

  /** A read issued at seqAtIssue is no longer out. */
  missFinished(seqAtIssue: number): void {
    const left = this.missesOut.get(seqAtIssue)! - 1;
    if (left > 0) this.missesOut.set(seqAtIssue, left);
    else this.missesOut.delete(seqAtIssue);
    this.pruneRecent();
  }

  private overtaken(lun: number, lba: number, seqAtIssue: number): boolean {
    if (seqAtIssue < this.staleBefore) return true;
    const recent = this.recent;
    for (let i = recent.length - 1; i >= this.recentHead; i--) {
      const m = recent[i]!;
      if (m.seq <= seqAtIssue) break;
      if (m.lun === lun && (m.count < 0 || (lba >= m.lba && lba < m.lba + m.count))) return true;
    }
    return false;
  }

  /** Drops the records no miss still out can need (all of them once no miss is out). */
  private pruneRecent(): void {
    if (this.missesOut.size === 0) {
      if (this.recent.length > 0) {
        this.recent = [];
        this.recentHead = 0;
      }
      return;
    }
    const oldest = this.missesOut.keys().next().value as number;
    while (this.recentHead < this.recent.length && this.recent[this.recentHead]!.seq <= oldest) this.recentHead++;
    this.compactRecent();
  }

  /** Gives back the array space before recentHead once it is most of the array. */
  private compactRecent(): void {
    if (this.recentHead > 1024 && this.recentHead * 2 > this.recent.length) {
      this.recent = this.recent.slice(this.recentHead);
      this.recentHead = 0;
    }
  }

  readBlockCb(lun: number, lba: number, blockSizeBytes: number, cb: BlockReadCallback, hints = 0): void {
    if (!this.cache.enabled) {
      this.innerRead(lun, lba, blockSizeBytes, cb);
      return;
    }
    if ((hints & READ_FUA) !== 0) {
      // From the medium (SBC-3 FUA): skip the lookup; what comes back may refresh the cache unless DPO.
      this.cache.noteFuaRead();
      this.issueMiss(lun, lba, blockSizeBytes, cb, (hints & READ_DPO) === 0);
      return;
    }
    // Looked up when the turn's lookups are answered (one microtask per turn): the contract says never synchronously,
    // and the view must be fresh when it is handed over.
    this.lookups.push({ lun, lba, blockSizeBytes, cb, dpo: (hints & READ_DPO) !== 0 });
  }

  private runLookups(all: readonly Lookup[]): void {
    for (let i = 0; i < all.length; i++) {
      const r = all[i]!;
      const data = this.cache.get(r.lun, r.lba);
      if (data !== undefined && data.length === r.blockSizeBytes) r.cb.blockRead(data, undefined);
      else this.issueMiss(r.lun, r.lba, r.blockSizeBytes, r.cb, !r.dpo);
    }
  }

  /** Sends a read to the inner store, counted as out until it answers; its data fills if `fill`. */
  private issueMiss(lun: number, lba: number, blockSizeBytes: number, cb: BlockReadCallback, fill: boolean): void {
    this.innerRead(lun, lba, blockSizeBytes, new MissRead(this, lun, lba, this.missStarted(), cb, fill));
  }

  private innerRead(lun: number, lba: number, blockSizeBytes: number, cb: BlockReadCallback): void {
    const inner = this.inner;
    if (inner.readBlockCb !== undefined) {
      inner.readBlockCb(lun, lba, blockSizeBytes, cb);
      return;
    }
    inner.readBlocks(lun, lba, 1, blockSizeBytes).then(
      (r) => (r.ok ? cb.blockRead(r.value, undefined) : cb.blockRead(undefined, r.error)),
      (e: unknown) => cb.blockRead(undefined, e as VfabError),
    );
  }

  readBlocks(lun: number, lba: number, count: number, blockSizeBytes: number, hints = 0): Promise<Result<Buffer>> {
    if (!this.cache.enabled || count * blockSizeBytes > MAX_CACHED_READ_BYTES) return this.inner.readBlocks(lun, lba, count, blockSizeBytes);
    return this.readRun(lun, lba, count, blockSizeBytes, hints);
  }

  /**
   * A Promise read: a copy out of the cache when it holds every block and no overlapping mutation is out
   * (FUA aside), else one read of the whole range from the inner store (one snapshot there), whose blocks
   * then fill one by one, each unless a mutation of that block overtook the read (or DPO).
   */
  private async readRun(lun: number, lba: number, count: number, blockSizeBytes: number, hints: number): Promise<Result<Buffer>> {
    if ((hints & READ_FUA) !== 0) this.cache.noteFuaRead();
    else if (!this.mutationOut(lun, lba, count)) {
      const out = Buffer.allocUnsafe(count * blockSizeBytes);
      if (this.cache.copyRun(lun, lba, count, blockSizeBytes, out)) return ok(out);
    }
    const seq = this.missStarted();
    let res: Result<Buffer> | undefined;
    try {
      res = await this.inner.readBlocks(lun, lba, count, blockSizeBytes);
      return res;
    } finally {
      if (res?.ok && (hints & READ_DPO) === 0) {
        for (let i = 0; i < count; i++) this.fill(lun, lba + i, res.value.subarray(i * blockSizeBytes, (i + 1) * blockSizeBytes), seq);
      }
      this.missFinished(seq);
    }
  }

  /**
   * Runs a write, unmap or drop (count < 0: the whole LUN): its blocks are invalidated, and recorded for
   * the misses out, when it is issued and again when it is done, so no read that it may overtake fills.
   */
  private async mutate(lun: number, lba: number, count: number, run: () => Promise<void>): Promise<void> {
    const out: MutationRecord = { seq: 0, lun, lba, count };
    this.mutationsOut.push(out);
    this.mutated(lun, lba, count);
    try {
      await run();
    } finally {
      this.mutationsOut.splice(this.mutationsOut.indexOf(out), 1);
      this.mutated(lun, lba, count);
    }
  }

  /** Whether a write, unmap or drop that overlaps these blocks is out. */
  private mutationOut(lun: number, lba: number, count: number): boolean {
    for (const m of this.mutationsOut) {
      if (m.lun === lun && (m.count < 0 || (m.lba < lba + count && lba < m.lba + m.count))) return true;
    }
    return false;
  }

  private mutated(lun: number, lba: number, count: number): void {
    const seq = ++this.seq;
    if (count < 0) this.cache.dropLun(lun);
    else this.cache.invalidate(lun, lba, count);
    if (this.missesOut.size === 0) return; // every later read is issued after this one
    this.recent.push({ seq, lun, lba, count });
    if (this.recent.length - this.recentHead > MAX_TRACKED_MUTATIONS) {
      // A read is out across too many mutations: forget the oldest; reads issued before it skip their fill.
      this.staleBefore = this.recent[this.recentHead]!.seq;
      this.recentHead++;
      this.compactRecent();
    }
  }

  writeBlocks(lun: number, lba: number, data: Uint8Array, blockSizeBytes: number, opts?: WriteOptions): Promise<void> {
    return this.mutate(lun, lba, Math.floor(data.length / blockSizeBytes), () => this.inner.writeBlocks(lun, lba, data, blockSizeBytes, opts));
  }

  unmapBlocks(lun: number, lba: number, count: number, opts?: WriteOptions): Promise<void> {
    return this.mutate(lun, lba, count, () => this.inner.unmapBlocks(lun, lba, count, opts));
  }

  dropLun(lun: number): Promise<void> {
    return this.mutate(lun, 0, -1, () => this.inner.dropLun(lun));
  }

  allocatedBlocks(lun: number): Promise<number> {
    return this.inner.allocatedBlocks(lun);
  }

  mappedBlocks(lun: number, lba: number, count: number): Promise<number[]> {
    return this.inner.mappedBlocks(lun, lba, count);
  }

  getMeta(key: string): Promise<Uint8Array | undefined> {
    return this.inner.getMeta(key);
  }

  putMeta(key: string, value: Uint8Array): Promise<void> {
    return this.inner.putMeta(key, value);
  }

  deleteMeta(key: string): Promise<void> {
    return this.inner.deleteMeta(key);
  }

  listMeta(prefix: string): Promise<Array<[string, Uint8Array]>> {
    return this.inner.listMeta(prefix);
  }

  flush(): Promise<void> {
    return this.inner.flush();
  }

  compact(): Promise<void> {
    return this.inner.compact !== undefined ? this.inner.compact() : Promise.resolve();
  }

  async close(): Promise<void> {
    await this.inner.close();
    this.cache.dropAll();
  }
}
