// CachedBlockStore (lib/storage/blockstore-cached.ts): the shared BlockStore conformance suite over the
// LevelDB and the in-memory store with a cache in front; hits answered from the cache (asynchronously, as
// the readBlockCb contract says); writes, unmaps and LUN drops invalidating; a read overtaken by a write
// never leaving its old data in the cache (both orders, driven by hand through a scripted inner store, and
// a seeded fuzz where the store executes reads, delivers their answers and applies writes in random order);
// checksum errors never cached; Promise reads returning copies; READ FUA past the cache and DPO not filling
// (SBC-3), through the target; openArray's cache size checks and stats.
import { expect } from 'chai';
import { CachedBlockStore, MAX_CACHED_READ_BYTES, MAX_TRACKED_MUTATIONS } from '../../lib/storage/blockstore-cached.js';
import { MemoryBlockStore } from '../../lib/storage/blockstore-memory.js';
import { READ_DPO, STORAGE_ERROR, type BlockReadCallback } from '../../lib/storage/blockstore.js';
import { openArray } from '../../lib/storage/array.js';
import { VfabError } from '../../lib/errors.js';
import { seededRandom } from '../../lib/clock.js';
import { compareAndWrite, read10, read16, write10, write16 } from '../../lib/storage/cdb.js';
import { BlockTarget } from '../../lib/storage/target.js';
import { ASC, SENSE_KEY, type ScsiResult } from '../../lib/storage/scsi.js';
import { blockStoreConformance, levelHarness, memoryHarness } from './blockstore.conformance.js';
import { A, B, blocksOf, expectGood, expectSense, run } from './helpers.js';
import { makeTempDir, removeTempDir } from './tmpdir.js';

const MIB = 1024 * 1024;

blockStoreConformance('cached(level)', () => levelHarness({}, (s) => new CachedBlockStore(s, 4 * MIB)));
blockStoreConformance('cached(memory)', () => memoryHarness((s) => new CachedBlockStore(s, 4 * MIB)));

/** Reads one block through readBlockCb; `sync` tells whether the callback ran inside the call. */
function readCb(store: CachedBlockStore, lun: number, lba: number, bs: number): { done: Promise<Buffer>; sync: boolean } {
  let called = false;
  const done = new Promise<Buffer>((resolve, reject) => {
    store.readBlockCb(lun, lba, bs, {
      blockRead(data, error) {
        called = true;
        if (error !== undefined) reject(error);
        else resolve(Buffer.from(data!));
      },
    });
  });
  return { done, sync: called };
}

/** An inner store whose single-block reads and writes complete only when the test says so. */
class ScriptedStore extends MemoryBlockStore {
  readonly reads: Array<{ lun: number; lba: number; bs: number; cb: BlockReadCallback }> = [];
  readonly writes: Array<() => Promise<void>> = [];
  readBlockCb(lun: number, lba: number, bs: number, cb: BlockReadCallback): void {
    this.reads.push({ lun, lba, bs, cb });
  }
  /** Answers the oldest pending read with what the store holds now. */
  async answerRead(): Promise<void> {
    const r = this.reads.shift()!;
    const res = await this.readBlocks(r.lun, r.lba, 1, r.bs);
    if (res.ok) r.cb.blockRead(res.value, undefined);
    else r.cb.blockRead(undefined, res.error);
  }
  override writeBlocks(lun: number, lba: number, data: Uint8Array, bs: number): Promise<void> {
    return new Promise((resolve, reject) => this.writes.push(() => super.writeBlocks(lun, lba, data, bs).then(resolve, reject)));
  }
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('CachedBlockStore', function () {
  this.timeout(20_000);

  it('answers a repeated read from the cache, never synchronously, with the same bytes', async () => {
    const inner = new MemoryBlockStore();
    const store = new CachedBlockStore(inner, 4 * MIB);
    await store.writeBlocks(0, 5, Buffer.alloc(4096, 0x5a), 4096);
    const first = readCb(store, 0, 5, 4096);
    expect(first.sync).to.equal(false);
    expect((await first.done).equals(Buffer.alloc(4096, 0x5a))).to.equal(true);
    const innerRead = inner.readBlocks.bind(inner);
    let innerReads = 0;
    inner.readBlocks = (...a) => (innerReads++, innerRead(...a));
    const second = readCb(store, 0, 5, 4096);
    expect(second.sync).to.equal(false);
    expect((await second.done).equals(Buffer.alloc(4096, 0x5a))).to.equal(true);
    expect(innerReads).to.equal(0);
    const s = store.cacheStats();
    expect([s.hits, s.misses, s.fills]).to.deep.equal([1, 1, 1]);
  });

  it('a write, an unmap and a LUN drop each make the next read see the store', async () => {
    const store = new CachedBlockStore(new MemoryBlockStore(), 4 * MIB);
    const read = async (lba: number): Promise<Buffer> => readCb(store, 1, lba, 512).done;
    await store.writeBlocks(1, 0, Buffer.alloc(1024, 1), 512);
    expect((await read(0))[0]).to.equal(1);
    expect((await read(1))[0]).to.equal(1);
    await store.writeBlocks(1, 0, Buffer.alloc(512, 2), 512);
    expect((await read(0))[0]).to.equal(2);
    await store.unmapBlocks(1, 1, 1);
    expect((await read(1)).equals(Buffer.alloc(512))).to.equal(true);
    expect((await read(0))[0]).to.equal(2);
    await store.dropLun(1);
    expect((await read(0)).equals(Buffer.alloc(512))).to.equal(true);
  });

  it('a read issued before a write and answered with the old data after it does not fill the cache', async () => {
    const inner = new ScriptedStore();
    const store = new CachedBlockStore(inner, 4 * MIB);
    await MemoryBlockStore.prototype.writeBlocks.call(inner, 0, 9, Buffer.alloc(512, 0xaa), 512);
    const old = readCb(store, 0, 9, 512);
    await tick();
    expect(inner.reads.length).to.equal(1);
    const w = store.writeBlocks(0, 9, Buffer.alloc(512, 0xbb), 512);
    // The read is answered with the old contents while the write is still out.
    await inner.answerRead();
    expect((await old.done)[0]).to.equal(0xaa);
    await inner.writes.shift()!();
    await w;
    const after = readCb(store, 0, 9, 512);
    await tick();
    expect(inner.reads.length, 'a miss, not a stale hit').to.equal(1);
    await inner.answerRead();
    expect((await after.done)[0]).to.equal(0xbb);
    expect(store.cacheStats().staleFillsSkipped).to.equal(1);
  });

  it('a read issued while a write is out, answered before the write lands, is dropped when it lands', async () => {
    const inner = new ScriptedStore();
    const store = new CachedBlockStore(inner, 4 * MIB);
    await MemoryBlockStore.prototype.writeBlocks.call(inner, 0, 3, Buffer.alloc(512, 0x11), 512);
    const w = store.writeBlocks(0, 3, Buffer.alloc(512, 0x22), 512);
    const during = readCb(store, 0, 3, 512);
    await tick();
    await inner.answerRead(); // the write has not reached the store yet: old data, and it fills
    expect((await during.done)[0]).to.equal(0x11);
    expect(store.cacheStats().entries).to.equal(1);
    await inner.writes.shift()!();
    await w;
    expect(store.cacheStats().entries).to.equal(0);
    const after = readCb(store, 0, 3, 512);
    await tick();
    await inner.answerRead();
    expect((await after.done)[0]).to.equal(0x22);
  });

  it('seeded fuzz: reads, writes and unmaps completing in random order; every read sees a value its block held while it was out, and the cache ends equal to the store', async () => {
    const LBAS = 6;
    for (const seed of [1, 2, 3, 4, 5]) {
      const rnd = seededRandom(seed);
      const inner = new ScriptedStore();
      const unmaps: Array<() => Promise<void>> = [];
      inner.unmapBlocks = (lun, lba, count) => new Promise<void>((resolve, reject) => unmaps.push(() => MemoryBlockStore.prototype.unmapBlocks.call(inner, lun, lba, count).then(resolve, reject)));
      const store = new CachedBlockStore(inner, 1 * MIB);
      let step = 0;
      /** Per block: [step applied, tag] (tag 0 = zeros); the block's contents over time. */
      const history: Array<Array<[number, number]>> = Array.from({ length: LBAS }, () => [[0, 0]]);
      const tagOf = (b: Buffer): number => b.readUInt32BE(0);
      const blockWith = (tag: number): Buffer => {
        const b = Buffer.alloc(512);
        b.writeUInt32BE(tag, 0);
        return b;
      };
      const checks: Array<Promise<void>> = [];
      const pending: Array<() => Promise<void>> = [];
      const executed: Array<{ cb: BlockReadCallback; data: Buffer }> = [];
      let nextTag = 1;
      for (let i = 0; i < 400; i++) {
        step++;
        const r = rnd();
        if (r < 0.4) {
          // one block through the READ fast path, or two through readBlocks
          const count = rnd() < 0.8 ? 1 : 2;
          const lba = Math.floor(rnd() * (LBAS - count + 1));
          const issuedAt = step;
          const done =
            count === 1
              ? readCb(store, 0, lba, 512).done
              : store.readBlocks(0, lba, 2, 512).then((res) => {
                  if (!res.ok) throw res.error;
                  return res.value;
                });
          checks.push(
            done.then((data) => {
              for (let b = 0; b < count; b++) {
                const h = history[lba + b]!;
                const tag = tagOf(data.subarray(b * 512));
                // allowed: the contents at issue time, or anything applied since (until now)
                const atIssue = [...h].reverse().find(([at]) => at <= issuedAt)![1];
                const since = h.filter(([at]) => at > issuedAt).map(([, t]) => t);
                expect([atIssue, ...since], `seed ${seed} read of lba ${lba + b} issued at step ${issuedAt}`).to.include(tag);
              }
            }),
          );
        } else if (r < 0.6) {
          // one or two blocks, the same tag in each
          const count = rnd() < 0.7 ? 1 : 2;
          const lba = Math.floor(rnd() * (LBAS - count + 1));
          const tag = nextTag++;
          const w = store.writeBlocks(0, lba, Buffer.concat(Array.from({ length: count }, () => blockWith(tag))), 512);
          const apply = inner.writes.pop()!;
          pending.push(async () => {
            await apply();
            for (let b = lba; b < lba + count; b++) history[b]!.push([step, tag]);
            await w;
          });
        } else if (r < 0.65) {
          const lba = Math.floor(rnd() * LBAS);
          const u = store.unmapBlocks(0, lba, 1);
          const apply = unmaps.pop()!;
          pending.push(async () => {
            await apply();
            history[lba]!.push([step, 0]);
            await u;
          });
        } else if (r < 0.75 && inner.reads.length > 0) {
          // The store executes a read (takes its data now) ...
          const k = Math.floor(rnd() * inner.reads.length);
          const [one] = inner.reads.splice(k, 1);
          const res = await MemoryBlockStore.prototype.readBlocks.call(inner, one!.lun, one!.lba, 1, one!.bs);
          if (!res.ok) throw res.error;
          executed.push({ cb: one!.cb, data: res.value });
        } else if (r < 0.85 && executed.length > 0) {
          // ... and its answer reaches the cache later, as LevelDB's worker thread and the event loop do.
          const k = Math.floor(rnd() * executed.length);
          const [one] = executed.splice(k, 1);
          one!.cb.blockRead(one!.data, undefined);
        } else if (pending.length > 0) {
          const k = Math.floor(rnd() * pending.length);
          const [op] = pending.splice(k, 1);
          await op!();
        }
        await Promise.resolve();
      }
      while (pending.length > 0) await pending.shift()!();
      for (const e of executed.splice(0)) e.cb.blockRead(e.data, undefined);
      while (inner.reads.length > 0) {
        await tick();
        while (inner.reads.length > 0) await inner.answerRead();
        await tick();
      }
      await Promise.all(checks);
      // Quiet now: every block read through the cache equals the store.
      for (let lba = 0; lba < LBAS; lba++) {
        const viaCache = readCb(store, 0, lba, 512);
        await tick();
        while (inner.reads.length > 0) await inner.answerRead();
        const direct = await MemoryBlockStore.prototype.readBlocks.call(inner, 0, lba, 1, 512);
        if (!direct.ok) throw direct.error;
        expect(tagOf(await viaCache.done), `seed ${seed} lba ${lba} at the end`).to.equal(tagOf(direct.value));
      }
      const st = store.cacheStats();
      expect(st.hits + st.fills, `seed ${seed}: the cache was used`).to.be.greaterThan(0);
    }
  });

  it('a write to another block while a miss is out does not stop its fill; a LUN drop does', async () => {
    const inner = new ScriptedStore();
    const store = new CachedBlockStore(inner, 4 * MIB);
    await MemoryBlockStore.prototype.writeBlocks.call(inner, 0, 1, Buffer.alloc(512, 0x01), 512);
    const first = readCb(store, 0, 1, 512);
    await tick();
    const w = store.writeBlocks(0, 2, Buffer.alloc(512, 0x02), 512); // block 2, not 1
    await inner.answerRead();
    await inner.writes.shift()!();
    await w;
    expect((await first.done)[0]).to.equal(0x01);
    expect(store.cacheStats()).to.include({ fills: 1, entries: 1, staleFillsSkipped: 0 });
    // the same on another LUN, but this time the LUN is dropped while the read is out
    await MemoryBlockStore.prototype.writeBlocks.call(inner, 3, 1, Buffer.alloc(512, 0x03), 512);
    const second = readCb(store, 3, 1, 512);
    await tick();
    const res = await MemoryBlockStore.prototype.readBlocks.call(inner, 3, 1, 1, 512); // the store executes it ...
    const pendingRead = inner.reads.shift()!;
    await store.dropLun(3); // ... the LUN goes ...
    pendingRead.cb.blockRead(res.ok ? res.value : undefined, undefined); // ... and then the answer arrives
    expect((await second.done)[0]).to.equal(0x03);
    expect(store.cacheStats()).to.include({ fills: 1, staleFillsSkipped: 1 });
  });

  it(`a miss out across more than MAX_TRACKED_MUTATIONS (${MAX_TRACKED_MUTATIONS}) writes skips its fill; later reads fill again`, async () => {
    const inner = new ScriptedStore();
    inner.writeBlocks = (lun, lba, data, bs) => MemoryBlockStore.prototype.writeBlocks.call(inner, lun, lba, data, bs);
    const store = new CachedBlockStore(inner, 4 * MIB);
    const stuck = readCb(store, 0, 0, 512);
    await tick();
    for (let i = 0; i <= 3 * MAX_TRACKED_MUTATIONS; i++) await store.writeBlocks(1, i, Buffer.alloc(512, 9), 512); // other LUN
    // bounded while the read is stuck: the records kept (with room not yet given back) stay within 2x the cap
    expect((store as unknown as { recent: unknown[] }).recent.length).to.be.at.most(2 * MAX_TRACKED_MUTATIONS);
    await inner.answerRead();
    await stuck.done;
    expect(store.cacheStats().staleFillsSkipped).to.equal(1);
    const next = readCb(store, 0, 0, 512);
    await tick();
    await inner.answerRead();
    await next.done;
    expect(store.cacheStats()).to.include({ fills: 1, staleFillsSkipped: 1 });
  });

  it('a multi-block read up to MAX_CACHED_READ_BYTES uses the cache (4 KiB on a 512-byte LUN); a larger one neither uses nor fills it', async () => {
    const inner = new MemoryBlockStore();
    const store = new CachedBlockStore(inner, 4 * MIB);
    const data = Buffer.concat(Array.from({ length: 8 }, (_, i) => Buffer.alloc(512, i + 1)));
    await store.writeBlocks(0, 16, data, 512);
    let innerReads = 0;
    const innerRead = inner.readBlocks.bind(inner);
    inner.readBlocks = (...a) => (innerReads++, innerRead(...a));
    for (let i = 0; i < 2; i++) {
      const r = await store.readBlocks(0, 16, 8, 512);
      if (!r.ok) throw r.error;
      expect(r.value.equals(data)).to.equal(true);
    }
    expect(innerReads, 'the second 4 KiB read came from the cache').to.equal(1);
    expect(store.cacheStats()).to.include({ misses: 8, hits: 8, fills: 8 });
    const big = MAX_CACHED_READ_BYTES / 512 + 1;
    for (let i = 0; i < 2; i++) await store.readBlocks(0, 1000, big, 512);
    expect(innerReads).to.equal(3);
    expect(store.cacheStats().fills).to.equal(8);
  });

  it('a multi-block read never shows a multi-block write half done, even when the cache holds its blocks half old, half new', async () => {
    const inner = new ScriptedStore();
    let land!: () => Promise<void>;
    let finish!: () => void;
    inner.writeBlocks = (lun, lba, data, bs) =>
      new Promise<void>((resolve) => {
        land = () => MemoryBlockStore.prototype.writeBlocks.call(inner, lun, lba, data, bs);
        finish = resolve;
      });
    const store = new CachedBlockStore(inner, 4 * MIB);
    await MemoryBlockStore.prototype.writeBlocks.call(inner, 0, 0, Buffer.alloc(1024, 0xaa), 512);
    const w = store.writeBlocks(0, 0, Buffer.alloc(1024, 0xbb), 512);
    const r1 = readCb(store, 0, 1, 512); // executed before the write lands: old
    await tick();
    const old1 = await MemoryBlockStore.prototype.readBlocks.call(inner, 0, 1, 1, 512);
    const pending1 = inner.reads.shift()!;
    await land();
    const r0 = readCb(store, 0, 0, 512); // executed after it landed: new
    await tick();
    await inner.answerRead();
    pending1.cb.blockRead(old1.ok ? old1.value : undefined, undefined);
    expect([(await r0.done)[0], (await r1.done)[0]]).to.deep.equal([0xbb, 0xaa]);
    expect(store.cacheStats().entries, 'the cache now holds block 0 new and block 1 old').to.equal(2);
    const during = await store.readBlocks(0, 0, 2, 512);
    if (!during.ok) throw during.error;
    expect([during.value[0], during.value[512]]).to.deep.equal([0xbb, 0xbb]);
    finish();
    await w;
    expect(store.cacheStats().entries, 'the write, done, invalidated both').to.equal(0);
  });

  it('a checksum error is answered every time and never cached', async () => {
    const inner = new MemoryBlockStore();
    const store = new CachedBlockStore(inner, 4 * MIB);
    await store.writeBlocks(2, 0, Buffer.alloc(512, 7), 512);
    inner.rawValue(2, 0)![100]! ^= 0x80;
    for (let i = 0; i < 2; i++) {
      const err = await readCb(store, 2, 0, 512).done.then(
        () => undefined,
        (e: VfabError) => e,
      );
      expect(err?.code).to.equal(STORAGE_ERROR.CHECKSUM);
    }
    expect(store.cacheStats().entries).to.equal(0);
  });

  it('readBlocks of one block returns a copy that later cache traffic cannot change', async () => {
    const store = new CachedBlockStore(new MemoryBlockStore(), 1 * MIB);
    await store.writeBlocks(0, 0, Buffer.alloc(4096, 0x31), 4096);
    await store.readBlocks(0, 0, 1, 4096); // fill
    const r = await store.readBlocks(0, 0, 1, 4096); // hit
    if (!r.ok) throw r.error;
    await store.writeBlocks(0, 0, Buffer.alloc(4096, 0x32), 4096);
    for (let lba = 1; lba < 300; lba++) await store.readBlocks(0, lba, 1, 4096); // reuse every slot
    expect(r.value.equals(Buffer.alloc(4096, 0x31))).to.equal(true);
  });

  it('with capacity 0 every read goes to the inner store', async () => {
    const store = new CachedBlockStore(new MemoryBlockStore(), 0);
    await store.writeBlocks(0, 0, Buffer.alloc(512, 3), 512);
    for (let i = 0; i < 3; i++) expect((await readCb(store, 0, 0, 512).done)[0]).to.equal(3);
    expect(store.cacheStats().hits).to.equal(0);
  });
});

describe('storage/read cache and the READ cache hints (SBC-3 FUA, DPO)', () => {
  /** A target over a cached in-memory store, LUN 0 of 16 blocks of 512 bytes, block 3 written and cached. */
  async function cachedTarget(): Promise<{ t: BlockTarget; inner: MemoryBlockStore; store: CachedBlockStore; submit: (c: Uint8Array) => Promise<ScsiResult> }> {
    const inner = new MemoryBlockStore();
    const store = new CachedBlockStore(inner, 1 * MIB);
    const t = new BlockTarget(store);
    t.addLun({ lun: 0, name: 'x', id: 'naa.6' + '0'.repeat(31), sizeBytes: 8192, blockSizeBytes: 512, blocks: 16, createdAtMs: 0 });
    const submit = (c: Uint8Array): Promise<ScsiResult> =>
      new Promise((resolve) => t.submit({ initiator: A, lun: 0, cdb: c }, null, (_ctx, r) => resolve(r.dataIn ? { ...r, dataIn: Buffer.from(r.dataIn) } : r)));
    expectGood(await run(t, A, 0, write10(3, 1), blocksOf(1, 512, 5)));
    expectGood(await submit(read16(3, 1))); // fills
    return { t, inner, store, submit };
  }

  it('FUA reads come from the store, not the cache: a block corrupted on the medium after it was cached is reported', async () => {
    const { t, inner, store, submit } = await cachedTarget();
    inner.rawValue(0, 3)![100]! ^= 0x40; // the medium goes bad behind the cache
    expect(expectGood(await submit(read16(3, 1))).equals(blocksOf(1, 512, 5))).to.equal(true, 'no FUA: the cached copy');
    expectSense(await submit(read16(3, 1, { fua: true })), SENSE_KEY.MEDIUM_ERROR, ASC.UNRECOVERED_READ_ERROR, 3);
    expectSense(await run(t, A, 0, read10(3, 1, { fua: true })), SENSE_KEY.MEDIUM_ERROR, ASC.UNRECOVERED_READ_ERROR, 3);
    // COMPARE AND WRITE with FUA compares against the medium too, and writes nothing
    expectSense(await run(t, A, 0, compareAndWrite(3, 1, { fua: true }), Buffer.concat([blocksOf(1, 512, 5), Buffer.alloc(512)])), SENSE_KEY.MEDIUM_ERROR, ASC.UNRECOVERED_READ_ERROR, 3);
    expect(store.cacheStats().fuaReads).to.equal(3);
  });

  it('a FUA read that finds good data refreshes the cache; a DPO miss does not fill, a DPO hit is a hit', async () => {
    const { store, submit } = await cachedTarget();
    expect(expectGood(await submit(read16(3, 1, { fua: true }))).equals(blocksOf(1, 512, 5))).to.equal(true);
    const dpo = Buffer.from(read16(7, 1));
    dpo[1] = READ_DPO;
    expectGood(await submit(dpo)); // miss, not kept
    const before = store.cacheStats();
    expectGood(await submit(read16(7, 1)));
    expect(store.cacheStats().misses - before.misses, 'block 7 was not kept').to.equal(1);
    const dpoHit = Buffer.from(read16(3, 1));
    dpoHit[1] = READ_DPO;
    const h0 = store.cacheStats().hits;
    expectGood(await submit(dpoHit));
    expect(store.cacheStats().hits - h0).to.equal(1);
  });
});

describe('storage/array read cache', function () {
  this.timeout(20_000);
  let dir: string;
  beforeEach(() => {
    dir = makeTempDir('arrcache');
  });
  afterEach(() => removeTempDir(dir));

  it('openArray rejects a cache size that is not 0 or 1 MiB..MAX_READ_CACHE_BYTES, before opening anything', async () => {
    for (const bad of [-1, 1000, 1.5, 17 * 1024 * MIB]) {
      const err = await openArray({ dataDir: dir, readCacheBytes: bad }).then(
        () => undefined,
        (e: VfabError) => e,
      );
      expect(err?.code, String(bad)).to.equal(STORAGE_ERROR.BAD_CACHE_SIZE);
    }
  });

  it('spec §7.3/§7.6: a host polling another host\'s heartbeat slot through the cache sees every ATS update acknowledged before its read', async () => {
    const arr = await openArray({ dataDir: dir, readCacheBytes: 2 * MIB });
    try {
      await arr.createLun({ name: 'ds', sizeBytes: 64 * 512, blockSizeBytes: 512 });
      const SLOT = 7;
      const slot = (gen: number): Buffer => {
        const b = Buffer.alloc(512);
        b.writeUInt32BE(0xabcdef02, 0); // in use (§7.1)
        b.writeUInt32BE(gen, 4);
        return b;
      };
      expectGood(await arr.execute({ initiator: B, lun: 0, cdb: write10(SLOT, 1), dataOut: slot(0) }));
      const UPDATES = 150;
      let acked = 0;
      let issued = 0;
      let reads = 0;
      let done = false;
      // host B heartbeats with ATS (COMPARE AND WRITE old -> new generation)
      const writer = (async () => {
        for (let g = 1; g <= UPDATES; g++) {
          issued = g;
          expectGood(await arr.execute({ initiator: B, lun: 0, cdb: compareAndWrite(SLOT, 1), dataOut: Buffer.concat([slot(g - 1), slot(g)]) }));
          acked = g;
        }
        done = true;
      })();
      // host A polls B's slot (READ fast path, through the cache) at depth 4
      const poller = async (): Promise<void> => {
        while (!done) {
          const ackedAtIssue = acked;
          const r = await new Promise<ScsiResult>((resolve) => arr.submit({ initiator: A, lun: 0, cdb: read16(SLOT, 1) }, null, (_c, res) => resolve(res)));
          const gen = Buffer.from(expectGood(r)).readUInt32BE(4);
          reads++;
          expect(gen, 'never older than an update acknowledged before the read').to.be.at.least(ackedAtIssue);
          expect(gen, 'never newer than the update in flight').to.be.at.most(issued);
          await tick(); // a cache hit answers within microtasks: let B's I/O run, as a network would
        }
      };
      await Promise.all([writer, poller(), poller(), poller(), poller()]);
      const last = await new Promise<ScsiResult>((resolve) => arr.submit({ initiator: A, lun: 0, cdb: read16(SLOT, 1) }, null, (_c, res) => resolve(res)));
      expect(Buffer.from(expectGood(last)).readUInt32BE(4)).to.equal(UPDATES);
      expect(reads).to.be.greaterThan(UPDATES);
      expect(arr.stats().readCache.hits, 'the polls did go through the cache').to.be.greaterThan(0);
    } finally {
      await arr.close();
    }
  });

  it('an array on LevelDB caches READs (stats.readCache), an in-memory one has no cache', async () => {
    const arr = await openArray({ dataDir: dir, readCacheBytes: 2 * MIB });
    try {
      await arr.createLun({ name: 'ds', sizeBytes: 16 * 4096, blockSizeBytes: 4096 });
      expectGood(await arr.execute({ initiator: A, lun: 0, cdb: write16(4, 1), dataOut: Buffer.alloc(4096, 0x44) }));
      for (let i = 0; i < 3; i++) {
        const r = await new Promise<Buffer>((resolve) => arr.submit({ initiator: A, lun: 0, cdb: read16(4, 1) }, null, (_c, res) => resolve(Buffer.from(expectGood(res)))));
        expect(r.equals(Buffer.alloc(4096, 0x44))).to.equal(true);
      }
      const c = arr.stats().readCache;
      expect([c.capacityBytes, c.misses, c.hits, c.entries]).to.deep.equal([2 * MIB, 1, 2, 1]);
    } finally {
      await arr.close();
    }
    const mem = await openArray({});
    expect(mem.stats().readCache.capacityBytes).to.equal(0);
    await mem.close();
  });
});
