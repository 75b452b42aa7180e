// lib/datastore/extent-map.ts: file byte ranges to LUN runs. Every (offset, length) of a small file whose
// extents are out of order, partly adjacent and partly not is checked against a byte-by-byte model, so a
// range split at each extent boundary (and merged across adjacent extents) is covered; plus bounds
// (size vs allocated) and an entry whose extents do not cover its size.
import { expect } from 'chai';
import { DS_ERROR } from '../../lib/datastore/errors.js';
import { type LunRun, fileBlockLba, mapFileRange } from '../../lib/datastore/extent-map.js';

const L = { dataLba: 100, fileBlockBytes: 1024, blockSize: 512 };
// file blocks 5,6 then 7 (adjacent: one run), then 1 (before them), then 9,10
const EXTENTS = [{ start: 5, count: 2 }, { start: 7, count: 1 }, { start: 1, count: 1 }, { start: 9, count: 2 }];
const SIZE = 6 * 1024 - 300;
const META = { name: 'web1-flat.vmdk', sizeBytes: SIZE, extents: EXTENTS };

/** The model: the LUN byte of each file byte, then consecutive LUN bytes folded into runs. */
function model(offset: number, length: number): LunRun[] {
  const lunByte: number[] = [];
  for (const x of EXTENTS) for (let b = 0; b < x.count * L.fileBlockBytes; b++) lunByte.push((L.dataLba * L.blockSize) + (x.start * L.fileBlockBytes) + b);
  const runs: LunRun[] = [];
  for (let f = offset; f < offset + length; f++) {
    const last = runs.at(-1);
    if (last !== undefined && last.lunOffsetBytes + last.bytes === lunByte[f]) last.bytes++;
    else runs.push({ fileOffset: f, lunOffsetBytes: lunByte[f]!, lba: Math.floor(lunByte[f]! / L.blockSize), bytes: 1 });
  }
  return runs;
}

describe('datastore file extents to LUN runs', () => {
  it('file block N starts at dataLba + N * (fileBlockBytes / blockSize)', () => {
    expect(fileBlockLba(L, 0)).to.equal(100);
    expect(fileBlockLba(L, 5)).to.equal(110);
  });

  it('maps every offset and length of the file like the byte-by-byte model (splits at each non-adjacent extent boundary)', () => {
    const step = 100; // offsets and lengths on a 100-byte grid plus every boundary +-1
    const points = new Set<number>();
    for (let v = 0; v <= SIZE; v += step) points.add(v);
    for (const b of [0, 2048, 3072, 4096, SIZE]) for (const d of [-1, 0, 1]) if (b + d >= 0 && b + d <= SIZE) points.add(b + d);
    let checked = 0;
    for (const off of points) {
      for (const end of points) {
        if (end < off) continue;
        expect(mapFileRange(L, META, off, end - off), `${off}..${end}`).to.deep.equal(model(off, end - off));
        checked++;
      }
    }
    expect(checked).to.be.greaterThan(1000);
  });

  it('a range across all extents gives three runs: blocks 5-7 merged, then 1, then 9-10', () => {
    const runs = mapFileRange(L, META, 0, SIZE);
    expect(runs.map((r) => [r.fileOffset, r.lba, r.bytes])).to.deep.equal([[0, 110, 3072], [3072, 102, 1024], [4096, 118, SIZE - 4096]]);
  });

  it('refuses a range past the size (but allows the allocated tail when asked), negative or fractional values', () => {
    expect(() => mapFileRange(L, META, SIZE - 10, 11)).to.throw().with.property('code', DS_ERROR.OUT_OF_RANGE);
    expect(mapFileRange(L, META, SIZE - 10, 310, 'allocated')).to.deep.equal([{ fileOffset: SIZE - 10, lunOffsetBytes: 118 * 512 + SIZE - 10 - 4096, lba: 118 + Math.floor((SIZE - 10 - 4096) / 512), bytes: 310 }]);
    expect(() => mapFileRange(L, META, 0, 6 * 1024 + 1, 'allocated')).to.throw().with.property('code', DS_ERROR.OUT_OF_RANGE);
    expect(() => mapFileRange(L, META, -1, 1)).to.throw().with.property('code', DS_ERROR.OUT_OF_RANGE);
    expect(() => mapFileRange(L, META, 0.5, 1)).to.throw().with.property('code', DS_ERROR.OUT_OF_RANGE);
    expect(mapFileRange(L, META, SIZE, 0)).to.deep.equal([]);
  });

  it('refuses an entry whose extents hold less than its size', () => {
    expect(() => mapFileRange(L, { ...META, sizeBytes: 6 * 1024 + 1 }, 0, 1)).to.throw().with.property('code', DS_ERROR.BAD_FIELD);
  });
});
