// LevelDB store read path (lib/storage/blockstore-level.ts): single-block reads issued in one turn are
// coalesced into getMany calls of at most MAX_READ_COALESCE_KEYS keys, each answer is its own block
// (thin blocks zeros), a corrupted value is a checksum error for that read only; and createLun with an
// explicit LUN number (topology lunId).
import { expect } from 'chai';
import { LevelBlockStore, MAX_READ_COALESCE_KEYS, blockKey } from '../../lib/storage/blockstore-level.js';
import { openArray } from '../../lib/storage/array.js';
import { makeTempDir, removeTempDir } from './tmpdir.js';

describe('storage/LevelDB read coalescing and explicit LUN numbers', function () {
  this.timeout(20_000);
  let dir: string;
  beforeEach(() => {
    dir = makeTempDir('coalesce');
  });
  afterEach(() => removeTempDir(dir));

  it('reads of one turn go out as getMany batches and each gets its own block', async () => {
    const store = await LevelBlockStore.open(dir);
    try {
      const n = MAX_READ_COALESCE_KEYS * 2 + 3;
      for (let i = 0; i < n; i += 2) await store.writeBlocks(0, i, Buffer.alloc(512, i & 0xff), 512);
      const before = { ...store.readStats };
      const results = await Promise.all(Array.from({ length: n }, (_, i) => store.readBlocks(0, i, 1, 512)));
      expect(store.readStats.reads - before.reads).to.equal(n);
      expect(store.readStats.getManys - before.getManys).to.equal(Math.ceil(n / MAX_READ_COALESCE_KEYS));
      results.forEach((r, i) => {
        if (!r.ok) throw r.error;
        expect(r.value.length).to.equal(512);
        expect(r.value.every((b) => b === (i % 2 === 0 ? i & 0xff : 0)), `block ${i}`).to.equal(true);
      });
    } finally {
      await store.close();
    }
  });

  it('a corrupted block fails only its own read with VFAB_STORAGE_CHECKSUM', async () => {
    const store = await LevelBlockStore.open(dir);
    try {
      await store.writeBlocks(3, 0, Buffer.alloc(1024, 9), 512);
      const bad = Buffer.from((await store.db.get(blockKey(3, 1)))!);
      bad[10] ^= 0xff;
      await store.db.put(blockKey(3, 1), bad);
      const [a, b] = await Promise.all([store.readBlocks(3, 0, 1, 512), store.readBlocks(3, 1, 1, 512)]);
      expect(a.ok).to.equal(true);
      expect(!b.ok && b.error.code).to.equal('VFAB_STORAGE_CHECKSUM');
      expect(!b.ok && b.error.details?.lba).to.equal(1);
    } finally {
      await store.close();
    }
  });

  it('createLun takes the topology LUN number; a taken or out-of-range number is refused', async () => {
    const arr = await openArray({ dataDir: dir });
    try {
      expect((await arr.createLun({ name: 'ds5', sizeBytes: 512 * 8, lun: 5 })).lun).to.equal(5);
      expect((await arr.createLun({ name: 'auto', sizeBytes: 512 * 8 })).lun).to.equal(0);
      const taken = await arr.createLun({ name: 'other', sizeBytes: 512 * 8, lun: 5 }).catch((e) => e);
      expect(taken.code).to.equal('VFAB_STORAGE_LUN_NUMBER_IN_USE');
      const range = await arr.createLun({ name: 'far', sizeBytes: 512 * 8, lun: 256 }).catch((e) => e);
      expect(range.code).to.equal('VFAB_STORAGE_BAD_LUN_NUMBER');
      expect(arr.listLuns().map((l) => l.lun)).to.deep.equal([0, 5]);
    } finally {
      await arr.close();
    }
  });
});
