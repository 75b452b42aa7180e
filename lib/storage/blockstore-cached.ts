// A BlockStore with a read cache (block-cache.ts) in front of another store: the array's DRAM cache.
// Single-block reads (the READ fast path `readBlockCb` and one-block `readBlocks`) are answered from the
// cache when it holds the block; misses go to the inner store and, once its checksum matched there, the
// block is copied in. Writes, unmaps and LUN drops go to the inner store unchanged and invalidate the
// blocks they touch, so the cache only ever holds what the store holds (write-through, never write-back:
// durability is the inner store's alone).
// Consistency: a read that the inner store answers may have been overtaken by a write issued after it; its
// data must not enter the cache. Every write, unmap and drop bumps a mutation counter when issued and
// again when done (invalidating its blocks both times), and a read's data is copied in only if the counter
// did not move while the read was out. A miss during a mixed load therefore often skips the fill
// (counted as staleFillsSkipped); a pure read load fills every miss.
// Multi-block reads go to the inner store (one consistent snapshot there) and neither use nor fill the
// cache. Checksums: a block is verified when it comes from the inner store; a cached copy is DRAM and is
// not re-verified, so a value corrupted on disk after it was cached is only detected once it is evicted
// (as in an array whose cache holds a good copy). Leaves out readahead and per-LUN cache partitions.

import { ok, type Result } from '../errors.js';
import { BlockCache, type ReadCacheStats } from './block-cache.js';
import type { BlockReadCallback, BlockStore, WriteOptions } from './blockstore.js';
import type { VfabError } from '../errors.js';

interface Lookup {
  lun: number;
  lba: number;
  blockSizeBytes: number;
  cb: BlockReadCallback;
}

/** A miss on its way through the inner store: fills the cache if no mutation overtook it. */
class MissRead implements BlockReadCallback {
  constructor(
    private readonly owner: CachedBlockStore,
    private readonly lun: number,
    private readonly lba: number,
    private readonly mutationsAtIssue: number,
    private readonly cb: BlockReadCallback,
  ) {}

  blockRead(data: Buffer | undefined, error: VfabError | undefined): void {
    if (data !== undefined) this.owner.fill(this.lun, this.lba, data, this.mutationsAtIssue);
    this.cb.blockRead(data, error);
  }
}

/** readBlocks(count 1) through the callback path. */
class PromiseRead implements BlockReadCallback {
  resolve!: (r: Result<Buffer>) => void;
  blockRead(data: Buffer | undefined, error: VfabError | undefined): void {
    // The data may be a view into cache memory, valid only now: the Promise's caller keeps a copy.
    this.resolve(error !== undefined ? { ok: false, error } : ok(Buffer.from(data!)));
  }
}

export class CachedBlockStore implements BlockStore {
  readonly durable: boolean;
  readonly cache: BlockCache;
  /** Writes, unmaps and drops issued plus those finished: a read may fill only if this did not move. */
  private mutations = 0;
  private pendingLookups: Lookup[] = [];
  private lookupsScheduled = false;
  private readonly runLookupsBound = (): void => this.runLookups();

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

  /** Called by MissRead. */
  fill(lun: number, lba: number, data: Buffer, mutationsAtIssue: number): void {
    if (this.mutations === mutationsAtIssue) this.cache.put(lun, lba, data);
    else this.cache.noteStaleFill();
  }

  readBlockCb(lun: number, lba: number, blockSizeBytes: number, cb: BlockReadCallback): void {
    if (!this.cache.enabled) {
      this.innerRead(lun, lba, blockSizeBytes, cb);
      return;
    }
    // Looked up when the turn's lookups are answered (one microtask per turn): the contract says never synchronously,
    // and the view must be fresh when it is handed over.
    this.pendingLookups.push({ lun, lba, blockSizeBytes, cb });
    if (!this.lookupsScheduled) {
      this.lookupsScheduled = true;
      queueMicrotask(this.runLookupsBound);
    }
  }

  private runLookups(): void {
    this.lookupsScheduled = false;
    const all = this.pendingLookups;
    this.pendingLookups = [];
    for (let i = 0; i < all.length; i++) {
      const r = all[i]!;
      const data = this.cache.get(r.lun, r.lba);
      if (data !== undefined && data.length === r.blockSizeBytes) r.cb.blockRead(data, undefined);
      else this.innerRead(r.lun, r.lba, r.blockSizeBytes, new MissRead(this, r.lun, r.lba, this.mutations, r.cb));
    }
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

  readBlocks(lun: number, lba: number, count: number, blockSizeBytes: number): Promise<Result<Buffer>> {
    if (count !== 1 || !this.cache.enabled) return this.inner.readBlocks(lun, lba, count, blockSizeBytes);
    const cb = new PromiseRead();
    const p = new Promise<Result<Buffer>>((resolve) => (cb.resolve = resolve));
    this.readBlockCb(lun, lba, blockSizeBytes, cb);
    return p;
  }

  /**
   * Runs a write, unmap or drop (count < 0: the whole LUN): its blocks are invalidated and the mutation
   * counter bumped when it is issued and again when it is done, so no read that it may overtake fills.
   */
  private async mutate(lun: number, lba: number, count: number, run: () => Promise<void>): Promise<void> {
    this.mutated(lun, lba, count);
    try {
      await run();
    } finally {
      this.mutated(lun, lba, count);
    }
  }

  private mutated(lun: number, lba: number, count: number): void {
    this.mutations++;
    if (count < 0) this.cache.dropLun(lun);
    else this.cache.invalidate(lun, lba, count);
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
