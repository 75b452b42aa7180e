// The per-LUN ATS setting (an array without VAAI ATS on that LUN): with ATS off, COMPARE AND WRITE is
// ILLEGAL REQUEST / INVALID COMMAND OPERATION CODE and changes nothing, VPD 0xb0 reports a MAXIMUM COMPARE
// AND WRITE LENGTH of 0, other commands and other LUNs are unaffected; turning it on again restores both;
// the setting survives reopening a LevelDB array and ensureLuns applies the topology's `ats`.
import { expect } from 'chai';
import { ensureLuns, openArray, type StorageArray } from '../../lib/storage/array.js';
import * as cdb from '../../lib/storage/cdb.js';
import { ASC, SENSE_KEY } from '../../lib/storage/scsi.js';
import { MAX_CAW_BLOCKS } from '../../lib/storage/target.js';
import { A, blocksOf, expectGood, expectSense, run } from './helpers.js';
import { makeTempDir, removeTempDir } from './tmpdir.js';

const caw = (arr: StorageArray, lun: number, lba: number, old: Buffer, next: Buffer) =>
  run(arr, A, lun, cdb.compareAndWrite(lba, 1), Buffer.concat([old, next]));
const cawLength = async (arr: StorageArray, lun: number): Promise<number> => expectGood(await run(arr, A, lun, cdb.inquiry(0xb0)))[5]!;

describe('storage: ATS per LUN', () => {
  let arr: StorageArray;
  beforeEach(async () => {
    arr = await openArray({ name: 'ats' });
    await arr.createLun({ name: 'a', sizeBytes: 64 * 512 });
    await arr.createLun({ name: 'b', sizeBytes: 64 * 512 });
  });
  afterEach(() => arr.close());

  it('is on by default: COMPARE AND WRITE works and VPD 0xb0 advertises it', async () => {
    expect(arr.getLun('a')!.ats).to.equal(undefined);
    expectGood(await caw(arr, 0, 3, Buffer.alloc(512), blocksOf(1, 512, 1)));
    expect(await cawLength(arr, 0)).to.equal(MAX_CAW_BLOCKS);
  });

  it('off: COMPARE AND WRITE is an unknown opcode and writes nothing; VPD 0xb0 says 0; the rest works', async () => {
    const info = await arr.setLunAts('a', false);
    expect(info.ats).to.equal(false);
    expect(arr.getLun(0)!.ats).to.equal(false);
    expectSense(await caw(arr, 0, 3, Buffer.alloc(512), blocksOf(1, 512, 1)), SENSE_KEY.ILLEGAL_REQUEST, ASC.INVALID_COMMAND_OPCODE);
    expect(expectGood(await run(arr, A, 0, cdb.read16(3, 1))).equals(Buffer.alloc(512))).to.equal(true);
    expect(await cawLength(arr, 0)).to.equal(0);
    expect(arr.stats().luns[0]!.compareAndWrites).to.equal(0);
    // plain I/O and reservations still work on that LUN; the other LUN keeps ATS
    expectGood(await run(arr, A, 0, cdb.write16(3, 1), blocksOf(1, 512, 2)));
    expectGood(await run(arr, A, 0, cdb.reserve10()));
    expectGood(await run(arr, A, 0, cdb.release10()));
    expectGood(await caw(arr, 1, 3, Buffer.alloc(512), blocksOf(1, 512, 3)));
    expect(await cawLength(arr, 1)).to.equal(MAX_CAW_BLOCKS);
  });

  it('on again: COMPARE AND WRITE and the VPD limit come back', async () => {
    await arr.setLunAts('a', false);
    expect((await arr.setLunAts(0, true)).ats).to.equal(undefined);
    expectGood(await caw(arr, 0, 3, Buffer.alloc(512), blocksOf(1, 512, 4)));
    expect(await cawLength(arr, 0)).to.equal(MAX_CAW_BLOCKS);
  });

  it('an unknown LUN is VFAB_STORAGE_NO_SUCH_LUN', async () => {
    let code: string | undefined;
    await arr.setLunAts('zz', false).catch((e: { code: string }) => (code = e.code));
    expect(code).to.equal('VFAB_STORAGE_NO_SUCH_LUN');
  });

  it('ensureLuns applies the configured ats to new and stored LUNs', async () => {
    await ensureLuns(arr, [{ name: 'a', sizeBytes: 64 * 512, ats: false }, { name: 'c', sizeBytes: 64 * 512, ats: false }]);
    expect(arr.getLun('a')!.ats).to.equal(false);
    expect(arr.getLun('c')!.ats).to.equal(false);
    expectSense(await caw(arr, arr.getLun('c')!.lun, 0, Buffer.alloc(512), blocksOf(1, 512, 5)), SENSE_KEY.ILLEGAL_REQUEST, ASC.INVALID_COMMAND_OPCODE);
    await ensureLuns(arr, [{ name: 'a', sizeBytes: 64 * 512 }]);
    expect(arr.getLun('a')!.ats).to.equal(undefined);
  });

  it('is kept in the LUN record across reopening a LevelDB array', async function () {
    this.timeout(20_000);
    const dir = makeTempDir('ats');
    try {
      let level = await openArray({ dataDir: dir, name: 'l' });
      await level.createLun({ name: 'x', sizeBytes: 64 * 512 });
      await level.setLunAts('x', false);
      await level.close();
      level = await openArray({ dataDir: dir, name: 'l' });
      expect(level.getLun('x')!.ats).to.equal(false);
      expectSense(await caw(level, 0, 0, Buffer.alloc(512), blocksOf(1, 512, 6)), SENSE_KEY.ILLEGAL_REQUEST, ASC.INVALID_COMMAND_OPCODE);
      await level.close();
    } finally {
      removeTempDir(dir);
    }
  });
});
