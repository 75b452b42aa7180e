// Read cache of whole blocks, the array's DRAM cache in front of the block store. Covers a bounded cache of
// verified block contents keyed by (LUN, LBA): memory comes in fixed chunks (READ_CACHE_CHUNK_BYTES) cut
// into slots of one block size, allocated only as the cache fills and never beyond the byte budget shared
// by every block size; eviction is CLOCK (second chance: a hit sets a reference bit, the sweeping hand
// clears it or evicts), so a hit moves nothing. Pure: no I/O, no timers. What it leaves out: deciding
// when a fill is safe against concurrent writes (blockstore-cached.ts does that), write-back caching
// (writes always go to the store first; the cache only ever holds what the store holds), and per-LUN
// partitioning (all LUNs compete for the same slots).

/** Bytes of one allocation unit: slots of one block size are cut out of chunks of this size. */
export const READ_CACHE_CHUNK_BYTES = 1024 * 1024;
/** Default cache size of an array (stored --read-cache-mb). */
export const DEFAULT_READ_CACHE_BYTES = 128 * 1024 * 1024;
/** Largest cache an array accepts. */
export const MAX_READ_CACHE_BYTES = 16 * 1024 * 1024 * 1024;
/** Block sizes the cache keeps (the LUN block sizes of blockstore.ts). */
export const CACHEABLE_BLOCK_BYTES: readonly number[] = [512, 4096];

export interface ReadCacheStats {
  /** The byte budget (0 = cache off). */
  capacityBytes: number;
  /** Bytes of slot memory allocated so far (grows in chunks up to capacityBytes). */
  allocatedBytes: number;
  /** Blocks held now. */
  entries: number;
  /** Blocks answered from the cache (a multi-block read counts each of its blocks). */
  hits: number;
  /** Blocks looked up and not found (a multi-block read that lacks any block counts all of them). */
  misses: number;
  /** Blocks copied in after a store read. */
  fills: number;
  /** Store reads not copied in because a write or unmap may have overtaken them (blockstore-cached.ts). */
  staleFillsSkipped: number;
  /** Blocks dropped to make room. */
  evictions: number;
  /** Blocks dropped because they were written, unmapped or their LUN deleted. */
  invalidations: number;
  /** READs with FUA set, sent past the cache to the store (SBC-3: from the medium). */
  fuaReads: number;
}

/** The cache's counters, zeroed. */
export function emptyReadCacheStats(capacityBytes = 0): ReadCacheStats {
  return { capacityBytes, allocatedBytes: 0, entries: 0, hits: 0, misses: 0, fills: 0, staleFillsSkipped: 0, evictions: 0, invalidations: 0, fuaReads: 0 };
}

const FREE = -1;

/** The slots of one block size. */
class SlotPool {
  private readonly chunks: Buffer[] = [];
  /** Per slot: the LUN it holds, or FREE. */
  private readonly slotLun: number[] = [];
  private readonly slotLba: number[] = [];
  private readonly slotRef: number[] = [];
  private readonly free: number[] = [];
  private readonly slotsPerChunk: number;
  private hand = 0;

  constructor(readonly blockBytes: number) {
    this.slotsPerChunk = READ_CACHE_CHUNK_BYTES / blockBytes;
  }

  get slots(): number {
    return this.slotLun.length;
  }

  view(slot: number): Buffer {
    const chunk = this.chunks[(slot / this.slotsPerChunk) | 0]!;
    const at = (slot % this.slotsPerChunk) * this.blockBytes;
    return chunk.subarray(at, at + this.blockBytes);
  }

  touch(slot: number): void {
    this.slotRef[slot] = 1;
  }

  addChunk(): void {
    this.chunks.push(Buffer.allocUnsafeSlow(READ_CACHE_CHUNK_BYTES));
    const first = this.slotLun.length;
    for (let i = 0; i < this.slotsPerChunk; i++) {
      this.slotLun.push(FREE);
      this.slotLba.push(0);
      this.slotRef.push(0);
    }
    for (let i = this.slotsPerChunk - 1; i >= 0; i--) this.free.push(first + i);
  }

  takeFree(): number {
    return this.free.length > 0 ? this.free.pop()! : FREE;
  }

  release(slot: number): void {
    this.slotLun[slot] = FREE;
    this.free.push(slot);
  }

  assign(slot: number, lun: number, lba: number): void {
    this.slotLun[slot] = lun;
    this.slotLba[slot] = lba;
    this.slotRef[slot] = 0;
  }

  /** CLOCK: the first occupied slot without its reference bit (clearing the bits it passes). */
  victim(): number {
    const n = this.slotLun.length;
    if (n === 0) return FREE;
    for (let steps = 0; steps < 2 * n + 1; steps++) {
      const s = this.hand;
      this.hand = s + 1 === n ? 0 : s + 1;
      if (this.slotLun[s] === FREE) continue;
      if (this.slotRef[s] === 1) this.slotRef[s] = 0;
      else return s;
    }
    return FREE;
  }

  lunOf(slot: number): number {
    return this.slotLun[slot]!;
  }

  lbaOf(slot: number): number {
    return this.slotLba[slot]!;
  }
}

/**
 * Bounded block cache. `get` returns a view into cache memory that stays valid only until the next
 * `put`, `invalidate` or `dropLun`: copy it (or use it synchronously) before anything else touches the
 * cache.
 */
export class BlockCache {
  private readonly pools = new Map<number, SlotPool>();
  /** lun -> (lba -> slot); the pool is the LUN's block size. */
  private readonly index = new Map<number, Map<number, number>>();
  private readonly lunBlockBytes = new Map<number, number>();
  private readonly counters: ReadCacheStats;

  constructor(readonly capacityBytes: number) {
    if (!Number.isInteger(capacityBytes) || capacityBytes < 0 || capacityBytes > MAX_READ_CACHE_BYTES) {
      throw new RangeError(`read cache size must be 0..${MAX_READ_CACHE_BYTES} bytes, got ${capacityBytes}`);
    }
    this.counters = emptyReadCacheStats(capacityBytes);
  }

  get enabled(): boolean {
    return this.capacityBytes >= READ_CACHE_CHUNK_BYTES;
  }

  stats(): ReadCacheStats {
    return { ...this.counters };
  }

  /** The cached block, as a view (see the class comment), or undefined. Counts a hit or a miss. */
  get(lun: number, lba: number): Buffer | undefined {
    const slot = this.index.get(lun)?.get(lba);
    if (slot === undefined) {
      this.counters.misses++;
      return undefined;
    }
    this.counters.hits++;
    const pool = this.pools.get(this.lunBlockBytes.get(lun)!)!;
    pool.touch(slot);
    return pool.view(slot);
  }

  /**
   * Copies blocks lba .. lba+count-1 into `out` (count * blockBytes long) if the cache holds every one of
   * them at that size, counting `count` hits; else copies nothing and counts `count` misses.
   */
  copyRun(lun: number, lba: number, count: number, blockBytes: number, out: Buffer): boolean {
    const lbas = this.index.get(lun);
    if (lbas === undefined || this.lunBlockBytes.get(lun) !== blockBytes) {
      this.counters.misses += count;
      return false;
    }
    for (let i = 0; i < count; i++) {
      if (!lbas.has(lba + i)) {
        this.counters.misses += count;
        return false;
      }
    }
    const pool = this.pools.get(blockBytes)!;
    for (let i = 0; i < count; i++) {
      const slot = lbas.get(lba + i)!;
      pool.touch(slot);
      out.set(pool.view(slot), i * blockBytes);
    }
    this.counters.hits += count;
    return true;
  }

  /** Copies `data` (one block of `data.length` bytes, a cacheable block size) in as (lun, lba). */
  put(lun: number, lba: number, data: Uint8Array): void {
    const blockBytes = data.length;
    if (!this.enabled || !CACHEABLE_BLOCK_BYTES.includes(blockBytes)) return;
    let lbas = this.index.get(lun);
    if (lbas !== undefined && this.lunBlockBytes.get(lun) !== blockBytes) {
      // The LUN was recreated with another block size under the same number: forget the old contents.
      this.dropLun(lun);
      lbas = undefined;
    }
    const existing = lbas?.get(lba);
    const pool = this.pool(blockBytes);
    if (existing !== undefined) {
      pool.view(existing).set(data);
      this.counters.fills++;
      return;
    }
    const slot = this.slotFor(pool);
    if (slot === FREE) return;
    if (lbas === undefined) {
      lbas = new Map();
      this.index.set(lun, lbas);
      this.lunBlockBytes.set(lun, blockBytes);
    }
    pool.assign(slot, lun, lba);
    pool.view(slot).set(data);
    lbas.set(lba, slot);
    this.counters.fills++;
    this.counters.entries++;
  }

  /** Forgets blocks lba .. lba+count-1 of a LUN (written or unmapped). */
  invalidate(lun: number, lba: number, count: number): void {
    const lbas = this.index.get(lun);
    if (lbas === undefined || lbas.size === 0) return;
    const pool = this.pools.get(this.lunBlockBytes.get(lun)!)!;
    if (count <= lbas.size) {
      for (let i = 0; i < count; i++) {
        const slot = lbas.get(lba + i);
        if (slot !== undefined) this.drop(pool, lbas, lba + i, slot);
      }
    } else {
      for (const [at, slot] of lbas) if (at >= lba && at < lba + count) this.drop(pool, lbas, at, slot);
    }
  }

  /** Counts a store read whose data was not copied in (it may have been overtaken by a write). */
  noteStaleFill(): void {
    this.counters.staleFillsSkipped++;
  }

  /** Counts a READ with FUA that went past the cache. */
  noteFuaRead(): void {
    this.counters.fuaReads++;
  }

  /** Forgets everything (the store closed); allocated memory stays with the cache object. */
  dropAll(): void {
    for (const lun of [...this.index.keys()]) this.dropLun(lun);
  }

  /** Forgets every block of a LUN. */
  dropLun(lun: number): void {
    const lbas = this.index.get(lun);
    if (lbas === undefined) return;
    const pool = this.pools.get(this.lunBlockBytes.get(lun)!)!;
    for (const [at, slot] of lbas) this.drop(pool, lbas, at, slot);
    this.index.delete(lun);
    this.lunBlockBytes.delete(lun);
  }

  private drop(pool: SlotPool, lbas: Map<number, number>, lba: number, slot: number): void {
    lbas.delete(lba);
    pool.release(slot);
    this.counters.entries--;
    this.counters.invalidations++;
  }

  private pool(blockBytes: number): SlotPool {
    let pool = this.pools.get(blockBytes);
    if (pool === undefined) {
      pool = new SlotPool(blockBytes);
      this.pools.set(blockBytes, pool);
    }
    return pool;
  }

  /** A slot to fill: a free one, a new chunk's while the budget lasts, else the CLOCK victim's. */
  private slotFor(pool: SlotPool): number {
    let slot = pool.takeFree();
    if (slot !== FREE) return slot;
    if (this.counters.allocatedBytes + READ_CACHE_CHUNK_BYTES <= this.capacityBytes) {
      pool.addChunk();
      this.counters.allocatedBytes += READ_CACHE_CHUNK_BYTES;
      return pool.takeFree();
    }
    slot = pool.victim();
    if (slot === FREE) return FREE; // this block size has no slots and the budget is spent by the other
    const lun = pool.lunOf(slot);
    this.index.get(lun)!.delete(pool.lbaOf(slot));
    this.counters.entries--;
    this.counters.evictions++;
    return slot;
  }
}
