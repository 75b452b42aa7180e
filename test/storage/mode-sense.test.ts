// MODE SENSE (6)/(10) of the SCSI target: header (DPOFUA), block descriptors (short, long, DBD), the
// Caching page reflecting the array's read cache, the Control page, all pages, page control, truncation.
import { expect } from 'chai';
import { openArray, type StorageArray } from '../../lib/storage/array.js';
import * as cdb from '../../lib/storage/cdb.js';
import { ASC, SENSE_KEY } from '../../lib/storage/scsi.js';
import { ASC_SAVING_PARAMETERS_NOT_SUPPORTED } from '../../lib/storage/mode-pages.js';
import { A, B, expectConflict, expectGood, expectSense, run } from './helpers.js';
import { makeTempDir, removeTempDir } from './tmpdir.js';

const IR = SENSE_KEY.ILLEGAL_REQUEST;

describe('storage target: MODE SENSE (6)/(10)', () => {
  let arr: StorageArray;
  beforeEach(async () => {
    arr = await openArray({ name: 'test' });
    await arr.createLun({ name: 'ds1', sizeBytes: 1024 * 512 });
  });
  afterEach(() => arr.close());

  it('MODE SENSE (6) all pages: header with DPOFUA, short block descriptor, Caching then Control page', async () => {
    const d = expectGood(await run(arr, A, 0, cdb.modeSense6(0x3f)));
    expect(d[0]).to.equal(d.length - 1);
    expect(d[2]).to.equal(0x10); // DPOFUA, not write-protected
    expect(d[3]).to.equal(8);
    expect(d.readUInt32BE(4)).to.equal(1024);
    expect(d.readUIntBE(9, 3)).to.equal(512);
    const caching = d.subarray(12, 32);
    expect([caching[0], caching[1]]).to.deep.equal([0x08, 0x12]);
    expect(caching[2]! & 0x04).to.equal(0); // WCE 0: every write is durable before GOOD
    expect(caching[2]! & 0x01).to.equal(1); // RCD 1: the memory array has no read cache
    const control = d.subarray(32);
    expect([control[0], control[1], control.length]).to.deep.equal([0x0a, 0x0a, 12]);
    expect(control[2]! & 0x04).to.equal(0); // D_SENSE 0: fixed-format sense
  });

  it('MODE SENSE (10): one page, DBD drops the descriptor, LLBAA gives a long one', async () => {
    let d = expectGood(await run(arr, A, 0, cdb.modeSense10(0x08)));
    expect(d.readUInt16BE(0)).to.equal(d.length - 2);
    expect(d[3]).to.equal(0x10);
    expect(d.readUInt16BE(6)).to.equal(8);
    expect(d.length).to.equal(8 + 8 + 20);
    expect(d[16]).to.equal(0x08);
    d = expectGood(await run(arr, A, 0, cdb.modeSense10(0x0a, { dbd: true })));
    expect(d.readUInt16BE(6)).to.equal(0);
    expect(d[8]).to.equal(0x0a);
    d = expectGood(await run(arr, A, 0, cdb.modeSense10(0x0a, { llbaa: true })));
    expect(d[4]! & 1).to.equal(1); // LONGLBA
    expect(d.readUInt16BE(6)).to.equal(16);
    expect(d.readBigUInt64BE(8)).to.equal(1024n);
    expect(d.readUInt32BE(20)).to.equal(512);
  });

  it('page control: changeable values are all zero, defaults equal current, saved values are refused', async () => {
    const current = expectGood(await run(arr, A, 0, cdb.modeSense6(0x3f, { dbd: true })));
    expect(expectGood(await run(arr, A, 0, cdb.modeSense6(0x3f, { dbd: true, pc: 2 }))).equals(current)).to.equal(true);
    const ch = expectGood(await run(arr, A, 0, cdb.modeSense6(0x08, { dbd: true, pc: 1 })));
    expect(ch.subarray(6).every((b) => b === 0)).to.equal(true);
    expectSense(await run(arr, A, 0, cdb.modeSense6(0x08, { pc: 3 })), IR, ASC_SAVING_PARAMETERS_NOT_SUPPORTED);
  });

  it('unknown page or subpage is INVALID FIELD IN CDB; 0x3F/0xFF is all pages; truncated to the allocation length', async () => {
    expectSense(await run(arr, A, 0, cdb.modeSense6(0x19)), IR, ASC.INVALID_FIELD_IN_CDB);
    expectSense(await run(arr, A, 0, cdb.modeSense6(0x08, { subpage: 1 })), IR, ASC.INVALID_FIELD_IN_CDB);
    const all = expectGood(await run(arr, A, 0, cdb.modeSense6(0x3f)));
    expect(expectGood(await run(arr, A, 0, cdb.modeSense6(0x3f, { subpage: 0xff }))).equals(all)).to.equal(true);
    const short = expectGood(await run(arr, A, 0, cdb.modeSense6(0x3f, {}, 4)));
    expect(short.equals(all.subarray(0, 4))).to.equal(true);
  });

  it('RESERVATION CONFLICT under another initiator\'s SPC-2 RESERVE, GOOD for the holder', async () => {
    expectGood(await run(arr, A, 0, cdb.reserve6()));
    expectConflict(await run(arr, B, 0, cdb.modeSense6(0x3f)));
    expectGood(await run(arr, A, 0, cdb.modeSense10(0x3f)));
  });

  it('RCD is 0 on an array with a read cache in front of its store', async () => {
    const dir = makeTempDir('modesense');
    const cached = await openArray({ name: 'c', dataDir: dir });
    try {
      await cached.createLun({ name: 'ds', sizeBytes: 64 * 512 });
      const d = expectGood(await run(cached, A, 0, cdb.modeSense6(0x08, { dbd: true })));
      expect(d[4]).to.equal(0x08);
      expect(d[6]! & 0x01).to.equal(0);
    } finally {
      await cached.close();
      removeTempDir(dir);
    }
  });
});
