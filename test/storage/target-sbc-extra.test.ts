// READ (12)/WRITE (12), VERIFY (10)/(12)/(16), WRITE AND VERIFY (10)/(12)/(16), PRE-FETCH (10)/(16) and START STOP UNIT of the SCSI target
// (SBC-3): CDB fields, range and length checks, MISCOMPARE with INFORMATION, reservations.
import { expect } from 'chai';
import { openArray, type StorageArray } from '../../lib/storage/array.js';
import * as cdb from '../../lib/storage/cdb.js';
import { ASC, SENSE_KEY } from '../../lib/storage/scsi.js';
import { maxTransferBlocks } from '../../lib/storage/target.js';
import { A, B, blocksOf, expectConflict, expectGood, expectSense, run } from './helpers.js';

const IR = SENSE_KEY.ILLEGAL_REQUEST;

describe('storage target: READ/WRITE (12), VERIFY, WRITE AND VERIFY, PRE-FETCH, START STOP UNIT', () => {
  let arr: StorageArray;
  beforeEach(async () => {
    arr = await openArray({ name: 'test' });
    await arr.createLun({ name: 'ds1', sizeBytes: 1024 * 512 }); // 1024 blocks of 512
  });
  afterEach(() => arr.close());

  const read = async (lba: number, n: number) => expectGood(await run(arr, A, 0, cdb.read16(lba, n)));

  it('WRITE (12)/READ (12) round-trip with FUA and DPO; range, length and WRPROTECT/RDPROTECT checks', async () => {
    const d = blocksOf(3, 512, 5);
    expectGood(await run(arr, A, 0, cdb.write12(1021, 3, { fua: true }), d));
    expect((await read(1021, 3)).equals(d)).to.equal(true);
    const r12 = cdb.read12(1021, 3);
    r12[1] = 0x18; // DPO + FUA
    r12[10] = 0x05; // group number
    expect(expectGood(await run(arr, A, 0, r12)).equals(d)).to.equal(true);
    expectSense(await run(arr, A, 0, cdb.read12(1023, 2)), IR, ASC.LBA_OUT_OF_RANGE);
    expectSense(await run(arr, A, 0, cdb.write12(1024, 1), Buffer.alloc(512, 1)), IR, ASC.LBA_OUT_OF_RANGE);
    expectSense(await run(arr, A, 0, cdb.read12(0, maxTransferBlocks(512) + 1)), IR, ASC.INVALID_FIELD_IN_CDB);
    expectSense(await run(arr, A, 0, cdb.write12(0, 2), Buffer.alloc(512, 1)), IR, ASC.PARAMETER_LIST_LENGTH_ERROR, 1024);
    const w = cdb.write12(0, 1);
    w[1] = 0x20;
    expectSense(await run(arr, A, 0, w, Buffer.alloc(512, 9)), IR, ASC.INVALID_FIELD_IN_CDB);
    const r = cdb.read12(0, 1);
    r[1] = 0x40;
    expectSense(await run(arr, A, 0, r), IR, ASC.INVALID_FIELD_IN_CDB);
    expect((await read(0, 1)).equals(Buffer.alloc(512))).to.equal(true);
    expect(expectGood(await run(arr, A, 0, cdb.read12(0, 0))).length).to.equal(0);
  });

  it('VERIFY BYTCHK 0 checks the medium; BYTCHK 1 compares the data-out; MISCOMPARE carries the offset', async () => {
    const d = blocksOf(4, 512, 7);
    expectGood(await run(arr, A, 0, cdb.write16(10, 4), d));
    for (const v of [cdb.verify10, cdb.verify12, cdb.verify16]) {
      expectGood(await run(arr, A, 0, v(10, 4, 0)));
      expectGood(await run(arr, A, 0, v(10, 4, 1), d));
      const bad = Buffer.from(d);
      bad[700] ^= 0xff;
      expectSense(await run(arr, A, 0, v(10, 4, 1), bad), SENSE_KEY.MISCOMPARE, ASC.MISCOMPARE_DURING_VERIFY, 700);
      expectSense(await run(arr, A, 0, v(10, 4, 1), d.subarray(0, 512)), IR, ASC.PARAMETER_LIST_LENGTH_ERROR, 2048);
      expectSense(await run(arr, A, 0, v(1022, 4, 0)), IR, ASC.LBA_OUT_OF_RANGE);
      expectSense(await run(arr, A, 0, v(10, 1, 2)), IR, ASC.INVALID_FIELD_IN_CDB); // BYTCHK 10b reserved
      expectGood(await run(arr, A, 0, v(10, 0, 0))); // zero length verifies nothing
    }
    // BYTCHK 11b: one data-out block against each block of the range
    const same = Buffer.alloc(512, 0x5a);
    expectGood(await run(arr, A, 0, cdb.writeSame10(100, 3), same));
    expectGood(await run(arr, A, 0, cdb.verify10(100, 3, 3), same));
    expectSense(await run(arr, A, 0, cdb.verify16(99, 3, 3), same), SENSE_KEY.MISCOMPARE, ASC.MISCOMPARE_DURING_VERIFY, 0);
    const vp = cdb.verify10(10, 1, 0);
    vp[1] |= 0x20; // VRPROTECT
    expectSense(await run(arr, A, 0, vp), IR, ASC.INVALID_FIELD_IN_CDB);
  });

  it('WRITE AND VERIFY (10/12/16) writes like WRITE; BYTCHK 1x and WRPROTECT refused, nothing written', async () => {
    const vs = [cdb.writeAndVerify10, cdb.writeAndVerify12, cdb.writeAndVerify16];
    for (const [i, wv] of vs.entries()) {
      const d = blocksOf(2, 512, 20 + i);
      expectGood(await run(arr, A, 0, wv(40, 2, i & 1), d));
      expect((await read(40, 2)).equals(d)).to.equal(true);
      expectSense(await run(arr, A, 0, wv(1023, 2), d), IR, ASC.LBA_OUT_OF_RANGE);
      expectSense(await run(arr, A, 0, wv(0, 2), d.subarray(512)), IR, ASC.PARAMETER_LIST_LENGTH_ERROR, 1024);
      expectSense(await run(arr, A, 0, wv(0, 1, 2), d.subarray(512)), IR, ASC.INVALID_FIELD_IN_CDB);
      const w = wv(0, 1);
      w[1] = 0x20;
      expectSense(await run(arr, A, 0, w, d.subarray(512)), IR, ASC.INVALID_FIELD_IN_CDB);
    }
    expect((await read(0, 1)).equals(Buffer.alloc(512))).to.equal(true);
    expectGood(await run(arr, B, 0, cdb.reserve6()));
    expectConflict(await run(arr, A, 0, cdb.writeAndVerify10(0, 1), Buffer.alloc(512, 1)));
  });

  it('PRE-FETCH (10)/(16) is GOOD in range, LBA OUT OF RANGE beyond, length 0 means to the end', async () => {
    expectGood(await run(arr, A, 0, cdb.preFetch10(0, 1024)));
    expectGood(await run(arr, A, 0, cdb.preFetch16(1000, 0, true)));
    expectSense(await run(arr, A, 0, cdb.preFetch10(1000, 25)), IR, ASC.LBA_OUT_OF_RANGE);
    expectSense(await run(arr, A, 0, cdb.preFetch16(1024, 0)), IR, ASC.LBA_OUT_OF_RANGE);
    expectSense(await run(arr, A, 0, cdb.preFetch16(0xffffffffffffffffn, 1)), IR, ASC.LBA_OUT_OF_RANGE);
  });

  it('START STOP UNIT is GOOD and changes nothing; reserved bits refused; stop conflicts with another\'s reservation', async () => {
    expectGood(await run(arr, A, 0, cdb.startStopUnit(false)));
    expectGood(await run(arr, A, 0, cdb.read10(0, 1))); // still readable: no stopped state
    expectGood(await run(arr, A, 0, cdb.startStopUnit(true, { immed: true })));
    const bad = cdb.startStopUnit(true);
    bad[3] = 0x10;
    expectSense(await run(arr, A, 0, bad), IR, ASC.INVALID_FIELD_IN_CDB);
    expectGood(await run(arr, B, 0, cdb.reserve6()));
    expectConflict(await run(arr, A, 0, cdb.startStopUnit(false)));
    expectConflict(await run(arr, A, 0, cdb.verify10(0, 1)));
    expectConflict(await run(arr, A, 0, cdb.preFetch10(0, 1)));
  });
});
