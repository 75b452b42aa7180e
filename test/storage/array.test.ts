// The array's LUN table API (in memory): createLun validation and VFAB_STORAGE_* codes, LUN numbering,
// getLun by name or number, grow-only, deleteLun, stats; ensureLuns (configured LUNs: create missing,
// grow, refuse to shrink before changing anything, leave other LUNs alone).
import { expect } from 'chai';
import { ManualClock } from '../../lib/clock.js';
import { LUN_NUMBER_TAKEN, LUN_SHRINK_REFUSED, MAX_LUNS, MAX_LUN_BYTES, ensureLuns, openArray, type StorageArray } from '../../lib/storage/array.js';
import { STORAGE_ERROR } from '../../lib/storage/blockstore.js';
import * as cdb from '../../lib/storage/cdb.js';
import { VfabError } from '../../lib/errors.js';
import { A, expectGood, run } from './helpers.js';

async function rejects(p: Promise<unknown>, code: string): Promise<void> {
  try {
    await p;
  } catch (e) {
    expect(e).to.be.instanceOf(VfabError);
    expect((e as VfabError).code).to.equal(code);
    return;
  }
  expect.fail(`expected ${code}`);
}

describe('storage array (LUN table)', () => {
  let arr: StorageArray;
  const clock = new ManualClock(1_000);
  beforeEach(async () => {
    arr = await openArray({ name: 'lt', clock });
  });
  afterEach(() => arr.close());

  it('creates LUNs with the lowest free number, NAA ID, blocks and createdAtMs from the clock', async () => {
    const a = await arr.createLun({ name: 'a', sizeBytes: 1 << 20 });
    clock.advance(5);
    const b = await arr.createLun({ name: 'b', sizeBytes: 1 << 20, blockSizeBytes: 4096 });
    expect(a).to.deep.include({ lun: 0, blockSizeBytes: 512, blocks: 2048, createdAtMs: 1000 });
    expect(b).to.deep.include({ lun: 1, blockSizeBytes: 4096, blocks: 256, createdAtMs: 1005 });
    expect(a.id).to.match(/^naa\.6[0-9a-f]{31}$/);
    expect(arr.getLun('b')).to.deep.equal(b);
    expect(arr.getLun(1)).to.deep.equal(b);
    await arr.deleteLun(0);
    expect((await arr.createLun({ name: 'c', sizeBytes: 512 })).lun).to.equal(0);
  });

  it('rejects bad names, sizes and duplicates with VFAB_STORAGE_* codes', async () => {
    await rejects(arr.createLun({ name: '', sizeBytes: 512 }), STORAGE_ERROR.BAD_NAME);
    await rejects(arr.createLun({ name: 'a b', sizeBytes: 512 }), STORAGE_ERROR.BAD_NAME);
    await rejects(arr.createLun({ name: 'x'.repeat(65), sizeBytes: 512 }), STORAGE_ERROR.BAD_NAME);
    await rejects(arr.createLun({ name: 'a', sizeBytes: 0 }), STORAGE_ERROR.BAD_SIZE);
    await rejects(arr.createLun({ name: 'a', sizeBytes: 1000 }), STORAGE_ERROR.BAD_SIZE);
    await rejects(arr.createLun({ name: 'a', sizeBytes: 512, blockSizeBytes: 4096 }), STORAGE_ERROR.BAD_SIZE);
    await rejects(arr.createLun({ name: 'a', sizeBytes: MAX_LUN_BYTES + 512 }), STORAGE_ERROR.BAD_SIZE);
    await rejects(arr.createLun({ name: 'a', sizeBytes: 1024, blockSizeBytes: 1024 as 512 }), STORAGE_ERROR.BAD_SIZE);
    await arr.createLun({ name: 'a', sizeBytes: 512 });
    await rejects(arr.createLun({ name: 'a', sizeBytes: 512 }), STORAGE_ERROR.LUN_EXISTS);
    expect(arr.listLuns()).to.have.length(1);
  });

  it(`stops at MAX_LUNS (${MAX_LUNS})`, async () => {
    await Promise.all(Array.from({ length: MAX_LUNS }, (_, i) => arr.createLun({ name: `l${i}`, sizeBytes: 512 })));
    expect(new Set(arr.listLuns().map((l) => l.lun)).size).to.equal(MAX_LUNS);
    await rejects(arr.createLun({ name: 'one-more', sizeBytes: 512 }), STORAGE_ERROR.TOO_MANY_LUNS);
  });

  it('grows only; unknown LUNs are VFAB_STORAGE_NO_SUCH_LUN', async () => {
    await arr.createLun({ name: 'a', sizeBytes: 4096 });
    await rejects(arr.growLun('a', 2048), STORAGE_ERROR.SHRINK);
    await rejects(arr.growLun('a', 5000), STORAGE_ERROR.BAD_SIZE);
    await rejects(arr.growLun('zz', 8192), STORAGE_ERROR.NO_SUCH_LUN);
    await rejects(arr.deleteLun(7), STORAGE_ERROR.NO_SUCH_LUN);
    expect((await arr.growLun(0, 8192)).blocks).to.equal(16);
  });

  it('stats count reads, writes and bytes per LUN and in total', async () => {
    await arr.createLun({ name: 'a', sizeBytes: 512 * 8 });
    expectGood(await run(arr, A, 0, cdb.write10(0, 2), Buffer.alloc(1024, 1)));
    expectGood(await run(arr, A, 0, cdb.read10(0, 1)));
    const s = arr.stats();
    expect(s.luns[0]).to.deep.include({ lun: 0, name: 'a', reads: 1, writes: 1, readBytes: 512, writtenBytes: 1024 });
    expect(s.totals.writtenBytes).to.equal(1024);
  });

  it('refuses LUN changes after close', async () => {
    await arr.close();
    await rejects(arr.createLun({ name: 'a', sizeBytes: 512 }), STORAGE_ERROR.CLOSED);
  });

  describe('ensureLuns (topology LUNs at start)', () => {
    it('creates missing LUNs (numbered ones first), grows smaller ones, leaves LUNs it does not name alone', async () => {
      await arr.createLun({ name: 'keep', sizeBytes: 4096 }); // made by `vfab lun create`: LUN 0
      const first = await ensureLuns(arr, [{ name: 'free', sizeBytes: 1024 }, { name: 'fixed', sizeBytes: 2048, lun: 1 }]);
      expect(first.created.map((l) => [l.name, l.lun])).to.deep.equal([['fixed', 1], ['free', 2]]);
      const again = await ensureLuns(arr, [{ name: 'free', sizeBytes: 1024 }, { name: 'fixed', sizeBytes: 8192, lun: 1 }]);
      expect(again).to.deep.equal({ created: [], grown: [{ name: 'fixed', fromBytes: 2048, toBytes: 8192 }], kept: [] });
      expect(arr.listLuns().map((l) => [l.name, l.sizeBytes])).to.deep.equal([['keep', 4096], ['fixed', 8192], ['free', 1024]]);
    });

    it('refuses a smaller size with the array, LUN and both sizes, before changing any LUN', async () => {
      await ensureLuns(arr, [{ name: 'a', sizeBytes: 4096 }, { name: 'b', sizeBytes: 4096 }]);
      let error: VfabError | undefined;
      try {
        await ensureLuns(arr, [{ name: 'a', sizeBytes: 8192 }, { name: 'b', sizeBytes: 2048 }, { name: 'c', sizeBytes: 512 }]);
      } catch (e) {
        error = e as VfabError;
      }
      expect(error?.code).to.equal(LUN_SHRINK_REFUSED);
      expect(error?.message).to.match(/^array lt: LUN b holds 4K \(4096 bytes\) but the topology asks for 2K \(2048 bytes\)/);
      expect(error?.details).to.deep.equal({ array: 'lt', lun: 'b', storedBytes: 4096, configuredBytes: 2048 });
      expect(arr.listLuns().map((l) => [l.name, l.sizeBytes]), 'a not grown, c not created').to.deep.equal([['a', 4096], ['b', 4096]]);
    });

    it('refuses a missing LUN whose number a stored LUN holds, naming both, before changing any LUN', async () => {
      await arr.createLun({ name: 'keep', sizeBytes: 4096, lun: 1 }); // made by `vfab lun create`
      await ensureLuns(arr, [{ name: 'ds0', sizeBytes: 4096, lun: 0 }]);
      const e = await ensureLuns(arr, [{ name: 'ds0', sizeBytes: 8192, lun: 0 }, { name: 'ds1', sizeBytes: 4096, lun: 1 }]).catch((x: VfabError) => x);
      expect(e).to.be.instanceOf(VfabError);
      expect((e as VfabError).code).to.equal(LUN_NUMBER_TAKEN);
      expect((e as VfabError).message).to.match(/LUN ds1 is to be LUN 1, but the store has LUN keep there/);
      expect(arr.getLun('ds0')?.sizeBytes, 'ds0 not grown').to.equal(4096);
    });

    it('keeps the stored number and block size of an existing LUN and says so', async () => {
      await arr.createLun({ name: 'x', sizeBytes: 4096, lun: 3 });
      const r = await ensureLuns(arr, [{ name: 'x', sizeBytes: 4096, lun: 0, blockSizeBytes: 4096 }]);
      expect(r.kept).to.have.length(2);
      expect(arr.getLun('x')).to.include({ lun: 3, blockSizeBytes: 512 });
    });
  });
});
