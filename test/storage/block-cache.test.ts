// BlockCache (lib/storage/block-cache.ts): hits and misses, copies in and views out, the byte budget
// (chunks allocated only as needed, shared by both block sizes), CLOCK eviction keeping referenced blocks,
// invalidation of ranges and LUNs, freed slots reused before new memory.
import { expect } from 'chai';
import { BlockCache, MAX_READ_CACHE_BYTES, READ_CACHE_CHUNK_BYTES } from '../../lib/storage/block-cache.js';

const MIB = 1024 * 1024;

function block(bytes: number, seed: number): Buffer {
  const b = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) b[i] = (seed * 13 + i * 7) & 0xff;
  return b;
}

describe('BlockCache', () => {
  it('misses, then holds a copy of what was put and counts both', () => {
    const c = new BlockCache(4 * MIB);
    expect(c.get(0, 7)).to.equal(undefined);
    const data = block(4096, 1);
    c.put(0, 7, data);
    data.fill(0); // the cache copied it
    const hit = c.get(0, 7)!;
    expect(hit.equals(block(4096, 1))).to.equal(true);
    expect(c.get(1, 7)).to.equal(undefined, 'another LUN');
    const s = c.stats();
    expect([s.hits, s.misses, s.fills, s.entries, s.allocatedBytes]).to.deep.equal([1, 2, 1, 1, READ_CACHE_CHUNK_BYTES]);
  });

  it('overwrites an entry in place when the same block is put again', () => {
    const c = new BlockCache(MIB);
    c.put(2, 5, block(512, 1));
    c.put(2, 5, block(512, 2));
    expect(c.get(2, 5)!.equals(block(512, 2))).to.equal(true);
    expect(c.stats().entries).to.equal(1);
  });

  it('never allocates past its budget and evicts instead', () => {
    const c = new BlockCache(MIB); // 256 slots of 4 KiB
    for (let lba = 0; lba < 300; lba++) c.put(0, lba, block(4096, lba));
    const s = c.stats();
    expect([s.entries, s.evictions, s.allocatedBytes]).to.deep.equal([256, 44, MIB]);
    let present = 0;
    for (let lba = 0; lba < 300; lba++) {
      const hit = c.get(0, lba);
      if (hit !== undefined) {
        present++;
        expect(hit.equals(block(4096, lba))).to.equal(true, `lba ${lba} holds its own data`);
      }
    }
    expect(present).to.equal(256);
  });

  it('CLOCK: blocks read since the hand last passed survive, the others go first', () => {
    const c = new BlockCache(MIB);
    for (let lba = 0; lba < 256; lba++) c.put(0, lba, block(4096, lba));
    for (let lba = 0; lba < 128; lba++) c.get(0, lba);
    for (let lba = 1000; lba < 1128; lba++) c.put(0, lba, block(4096, lba));
    for (let lba = 0; lba < 128; lba++) expect(c.get(0, lba), `hot lba ${lba}`).to.not.equal(undefined);
    for (let lba = 128; lba < 256; lba++) expect(c.get(0, lba), `cold lba ${lba}`).to.equal(undefined);
  });

  it('invalidates exactly a range, by walking the range or the LUN index', () => {
    for (const [lba, count] of [
      [10, 5],
      [10, 1_000_000],
    ] as const) {
      const c = new BlockCache(MIB);
      for (let b = 0; b < 20; b++) c.put(3, b, block(512, b));
      c.invalidate(3, lba, count);
      for (let b = 0; b < 20; b++) {
        const inside = b >= lba && b < lba + count;
        expect(c.get(3, b) === undefined).to.equal(inside, `count ${count} lba ${b}`);
      }
      expect(c.stats().invalidations).to.equal(count === 5 ? 5 : 10);
    }
  });

  it('drops one LUN only, and everything on dropAll', () => {
    const c = new BlockCache(MIB);
    c.put(1, 0, block(512, 1));
    c.put(2, 0, block(512, 2));
    c.dropLun(1);
    expect(c.get(1, 0)).to.equal(undefined);
    expect(c.get(2, 0)).to.not.equal(undefined);
    c.dropAll();
    expect(c.get(2, 0)).to.equal(undefined);
    expect(c.stats().entries).to.equal(0);
  });

  it('reuses freed slots before taking new memory', () => {
    const c = new BlockCache(8 * MIB);
    for (let lba = 0; lba < 256; lba++) c.put(0, lba, block(4096, lba));
    c.invalidate(0, 0, 256);
    for (let lba = 500; lba < 756; lba++) c.put(0, lba, block(4096, lba));
    expect(c.stats().allocatedBytes).to.equal(MIB);
  });

  it('shares one budget between block sizes: a size without slots is not cached once it is spent', () => {
    const c = new BlockCache(2 * MIB);
    for (let lba = 0; lba < 512; lba++) c.put(0, lba, block(4096, lba));
    c.put(1, 0, block(512, 9));
    expect(c.get(1, 0)).to.equal(undefined);
    expect(c.stats().allocatedBytes).to.equal(2 * MIB);
  });

  it('forgets a LUN whose block size changed (recreated under the same number)', () => {
    const c = new BlockCache(4 * MIB);
    c.put(0, 1, block(512, 1));
    c.put(0, 2, block(4096, 2));
    expect(c.get(0, 1)).to.equal(undefined);
    expect(c.get(0, 2)!.length).to.equal(4096);
  });

  it('ignores other block sizes, and is off below one chunk', () => {
    const c = new BlockCache(MIB);
    c.put(0, 0, block(1024, 1));
    expect(c.get(0, 0)).to.equal(undefined);
    const off = new BlockCache(0);
    expect(off.enabled).to.equal(false);
    off.put(0, 0, block(512, 1));
    expect(off.get(0, 0)).to.equal(undefined);
    expect(off.stats().allocatedBytes).to.equal(0);
  });

  it('rejects sizes that are negative, fractional or above MAX_READ_CACHE_BYTES', () => {
    for (const bad of [-1, 1.5, MAX_READ_CACHE_BYTES + 1]) expect(() => new BlockCache(bad)).to.throw(RangeError);
  });
});
