// Conformance suite for BlockStore implementations: thin reads, atomic multi-block writes, unmap,
// checksums verified on read (corrupting a stored value directly), metadata records, dropLun.
// Each store's test file calls blockStoreConformance with a factory (levelHarness / memoryHarness here).

import { expect } from 'chai';
import type { BlockStore } from '../../lib/storage/blockstore.js';
import { STORAGE_ERROR } from '../../lib/storage/blockstore.js';
import { LevelBlockStore, blockKey, type LevelBlockStoreOptions } from '../../lib/storage/blockstore-level.js';
import { MemoryBlockStore } from '../../lib/storage/blockstore-memory.js';
import { makeTempDir, removeTempDir } from './tmpdir.js';

export interface StoreHarness {
  store: BlockStore;
  /** Flip one byte of the stored value of (lun, lba) behind the store's back. */
  corrupt(lun: number, lba: number): Promise<void>;
  cleanup(): Promise<void>;
}

function pattern(blocks: number, blockSizeBytes: number, seed: number): Buffer {
  const b = Buffer.alloc(blocks * blockSizeBytes);
  for (let i = 0; i < b.length; i++) b[i] = (i * 31 + seed * 7 + (i >> 9)) & 0xff;
  return b;
}

/** A LevelDB store in a temporary directory, optionally wrapped (e.g. in a CachedBlockStore). */
export async function levelHarness(opts: LevelBlockStoreOptions = {}, wrap: (s: LevelBlockStore) => BlockStore = (s) => s): Promise<StoreHarness> {
  const dir = makeTempDir('bs');
  const level = await LevelBlockStore.open(dir, opts);
  const store = wrap(level);
  return {
    store,
    corrupt: async (lun, lba) => {
      const key = blockKey(lun, lba);
      const v = await level.db.get(key);
      if (v === undefined) throw new Error('no such block');
      const bad = Buffer.from(v);
      bad[bad.length - 1]! ^= 0x01;
      await level.db.put(key, bad);
    },
    cleanup: async () => {
      await store.close();
      removeTempDir(dir);
    },
  };
}

/** An in-memory store, optionally wrapped. */
export async function memoryHarness(wrap: (s: MemoryBlockStore) => BlockStore = (s) => s): Promise<StoreHarness> {
  const inner = new MemoryBlockStore();
  const store = wrap(inner);
  return {
    store,
    corrupt: async (lun, lba) => {
      const v = inner.rawValue(lun, lba);
      if (v === undefined) throw new Error('no such block');
      v[v.length - 1]! ^= 0x01;
    },
    cleanup: () => store.close(),
  };
}

export function blockStoreConformance(name: string, factory: () => Promise<StoreHarness>): void {
  describe(`BlockStore conformance: ${name}`, () => {
    let h: StoreHarness;
    beforeEach(async () => {
      h = await factory();
    });
    afterEach(async () => {
      await h.cleanup();
    });

    it('reads never-written blocks as zeros (thin, LBPRZ)', async () => {
      const r = await h.store.readBlocks(0, 1000, 3, 512);
      expect(r.ok).to.equal(true);
      if (r.ok) expect(r.value.equals(Buffer.alloc(1536))).to.equal(true);
    });

    for (const bs of [512, 4096]) {
      it(`round-trips a multi-block write with ${bs}-byte blocks`, async () => {
        const data = pattern(4, bs, 1);
        await h.store.writeBlocks(1, 10, data, bs, { sync: true });
        const r = await h.store.readBlocks(1, 10, 4, bs);
        expect(r.ok && r.value.equals(data)).to.equal(true);
        const one = await h.store.readBlocks(1, 12, 1, bs);
        expect(one.ok && one.value.equals(data.subarray(2 * bs, 3 * bs))).to.equal(true);
      });
    }

    it('mixes written and unwritten blocks in one read', async () => {
      const data = pattern(1, 512, 2);
      await h.store.writeBlocks(0, 5, data, 512);
      const r = await h.store.readBlocks(0, 4, 3, 512);
      expect(r.ok).to.equal(true);
      if (!r.ok) return;
      expect(r.value.subarray(0, 512).equals(Buffer.alloc(512))).to.equal(true);
      expect(r.value.subarray(512, 1024).equals(data)).to.equal(true);
      expect(r.value.subarray(1024).equals(Buffer.alloc(512))).to.equal(true);
    });

    it('keeps LUNs apart', async () => {
      await h.store.writeBlocks(0, 0, pattern(1, 512, 3), 512);
      const r = await h.store.readBlocks(1, 0, 1, 512);
      expect(r.ok && r.value.equals(Buffer.alloc(512))).to.equal(true);
    });

    it('does not alias the caller buffer', async () => {
      const data = pattern(1, 512, 4);
      const copy = Buffer.from(data);
      await h.store.writeBlocks(0, 0, data, 512);
      data.fill(0);
      const r = await h.store.readBlocks(0, 0, 1, 512);
      expect(r.ok && r.value.equals(copy)).to.equal(true);
    });

    it('unmaps blocks: they read as zeros and are no longer allocated', async () => {
      await h.store.writeBlocks(2, 0, pattern(8, 512, 5), 512);
      expect(await h.store.allocatedBlocks(2)).to.equal(8);
      await h.store.unmapBlocks(2, 2, 3);
      const r = await h.store.readBlocks(2, 0, 8, 512);
      expect(r.ok).to.equal(true);
      if (!r.ok) return;
      expect(r.value.subarray(1024, 2560).equals(Buffer.alloc(1536))).to.equal(true);
      expect(r.value.subarray(0, 1024).equals(pattern(8, 512, 5).subarray(0, 1024))).to.equal(true);
      expect(await h.store.allocatedBlocks(2)).to.equal(5);
    });

    it('mappedBlocks lists the allocated blocks of a range, ascending, for dense and sparse ranges', async () => {
      await h.store.writeBlocks(2, 0, pattern(8, 512, 5), 512);
      await h.store.writeBlocks(2, 5000, pattern(1, 512, 6), 512);
      await h.store.writeBlocks(3, 4, pattern(1, 512, 6), 512); // another LUN
      await h.store.unmapBlocks(2, 2, 3);
      expect(await h.store.mappedBlocks(2, 1, 6)).to.deep.equal([1, 5, 6]);
      expect(await h.store.mappedBlocks(2, 0, 10000)).to.deep.equal([0, 1, 5, 6, 7, 5000]);
      expect(await h.store.mappedBlocks(2, 5001, 10)).to.deep.equal([]);
      expect(await h.store.mappedBlocks(9, 0, 10)).to.deep.equal([]);
    });

    it('unmaps a large sparse range', async () => {
      await h.store.writeBlocks(2, 100, pattern(1, 512, 6), 512);
      await h.store.writeBlocks(2, 90000, pattern(1, 512, 7), 512);
      await h.store.unmapBlocks(2, 0, 100000);
      expect(await h.store.allocatedBlocks(2)).to.equal(0);
    });

    it('detects a corrupted block on read and never returns its data', async () => {
      await h.store.writeBlocks(3, 0, pattern(3, 512, 8), 512);
      await h.corrupt(3, 1);
      const single = await h.store.readBlocks(3, 1, 1, 512);
      expect(single.ok).to.equal(false);
      if (!single.ok) {
        expect(single.error.code).to.equal(STORAGE_ERROR.CHECKSUM);
        expect(single.error.details?.['lba']).to.equal(1);
      }
      const range = await h.store.readBlocks(3, 0, 3, 512);
      expect(range.ok).to.equal(false);
      const clean = await h.store.readBlocks(3, 2, 1, 512);
      expect(clean.ok).to.equal(true);
    });

    it('stores, lists and deletes metadata records', async () => {
      await h.store.putMeta('lun/00001', Buffer.from('one'));
      await h.store.putMeta('lun/00000', Buffer.from('zero'));
      await h.store.putMeta('pr/0', Buffer.from('pr'));
      const list = await h.store.listMeta('lun/');
      expect(list.map(([k]) => k)).to.deep.equal(['lun/00000', 'lun/00001']);
      expect(Buffer.from(list[1]![1]).toString()).to.equal('one');
      await h.store.deleteMeta('lun/00000');
      expect(await h.store.getMeta('lun/00000')).to.equal(undefined);
      expect(Buffer.from((await h.store.getMeta('pr/0'))!).toString()).to.equal('pr');
    });

    it('drops every block of one LUN only', async () => {
      await h.store.writeBlocks(4, 0, pattern(2, 512, 9), 512);
      await h.store.writeBlocks(5, 0, pattern(2, 512, 9), 512);
      await h.store.dropLun(4);
      expect(await h.store.allocatedBlocks(4)).to.equal(0);
      expect(await h.store.allocatedBlocks(5)).to.equal(2);
    });

    it('applies concurrent writes so that each multi-block write is whole', async () => {
      const a = Buffer.alloc(8 * 512, 0xaa);
      const b = Buffer.alloc(8 * 512, 0xbb);
      const writes: Array<Promise<void>> = [];
      for (let i = 0; i < 20; i++) writes.push(h.store.writeBlocks(6, 0, i % 2 ? a : b, 512));
      const reads: Array<Promise<unknown>> = [];
      for (let i = 0; i < 20; i++) {
        reads.push(
          h.store.readBlocks(6, 0, 8, 512).then((r) => {
            expect(r.ok).to.equal(true);
            if (!r.ok) return;
            const first = r.value[0];
            expect(r.value.every((x) => x === first)).to.equal(true);
          }),
        );
      }
      await Promise.all([...writes, ...reads]);
      const last = await h.store.readBlocks(6, 0, 8, 512);
      expect(last.ok && last.value.equals(a)).to.equal(true); // i = 19 wrote `a` last
    });

    it('flush resolves after pending writes', async () => {
      const p = h.store.writeBlocks(7, 0, pattern(1, 512, 10), 512);
      await h.store.flush();
      await p;
      const r = await h.store.readBlocks(7, 0, 1, 512);
      expect(r.ok && r.value.equals(pattern(1, 512, 10))).to.equal(true);
    });
  });
}
