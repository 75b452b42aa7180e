// Command semantics of the SCSI target (SBC-3 / SPC-4) on an in-memory array: every block and SPC
// command, error sense, "bad input never changes data", checksum mismatch as MEDIUM ERROR.
import { expect } from 'chai';
import { openArray, type StorageArray, type LunInfo } from '../../lib/storage/array.js';
import { MemoryBlockStore } from '../../lib/storage/blockstore-memory.js';
import * as cdb from '../../lib/storage/cdb.js';
import { ASC, SCSI_STATUS, SENSE_KEY } from '../../lib/storage/scsi.js';
import { ASC_EXTRA, parseFixedSense } from '../../lib/storage/sense.js';
import {
  BlockTarget,
  MAX_CAW_BLOCKS,
  MAX_UNMAP_DESCRIPTORS,
  MAX_UNMAP_LBA_COUNT,
  maxTransferBlocks,
  maxWriteSameBlocks,
} from '../../lib/storage/target.js';
import { A, B, blocksOf, expectGood, expectSense, run } from './helpers.js';

const IR = SENSE_KEY.ILLEGAL_REQUEST;

describe('storage target: block commands (SBC-3)', () => {
  let arr: StorageArray;
  let lun: LunInfo;
  beforeEach(async () => {
    arr = await openArray({ name: 'test' });
    lun = await arr.createLun({ name: 'ds1', sizeBytes: 1024 * 512 }); // 1024 blocks of 512
  });
  afterEach(() => arr.close());

  const read = async (lba: number, n: number) => expectGood(await run(arr, A, 0, cdb.read16(lba, n)));

  it('READ of never-written blocks returns zeros', async () => {
    expect((await read(0, 4)).equals(Buffer.alloc(2048))).to.equal(true);
  });

  it('WRITE(10)/READ(10) and WRITE(16)/READ(16) round-trip, FUA accepted', async () => {
    const d1 = blocksOf(3, 512, 1);
    expectGood(await run(arr, A, 0, cdb.write10(7, 3), d1));
    expect(expectGood(await run(arr, A, 0, cdb.read10(7, 3))).equals(d1)).to.equal(true);
    const d2 = blocksOf(2, 512, 2);
    expectGood(await run(arr, A, 0, cdb.write16(1022, 2, { fua: true }), d2));
    expect(expectGood(await run(arr, A, 0, cdb.read16(1022, 2, { fua: true }))).equals(d2)).to.equal(true);
  });

  it('transfer length 0 is GOOD with no data and no change', async () => {
    const r = await run(arr, A, 0, cdb.read10(5, 0));
    expect(expectGood(r).length).to.equal(0);
    expectGood(await run(arr, A, 0, cdb.write10(5, 0)));
  });

  it('LBA OUT OF RANGE at and beyond the last block, also for a 64-bit LBA', async () => {
    expectSense(await run(arr, A, 0, cdb.read10(1023, 2)), IR, ASC.LBA_OUT_OF_RANGE);
    expectSense(await run(arr, A, 0, cdb.read16(1024, 1)), IR, ASC.LBA_OUT_OF_RANGE);
    expectSense(await run(arr, A, 0, cdb.read16(0xffffffffffffffffn, 1)), IR, ASC.LBA_OUT_OF_RANGE);
    expectSense(await run(arr, A, 0, cdb.write16(1024, 1), Buffer.alloc(512, 1)), IR, ASC.LBA_OUT_OF_RANGE);
    expectGood(await run(arr, A, 0, cdb.read16(1023, 1)));
  });

  it('INVALID FIELD IN CDB above MAX_TRANSFER_BYTES and for RDPROTECT/WRPROTECT', async () => {
    const big = await openArray({});
    await big.createLun({ name: 'big', sizeBytes: 64 * 1024 * 1024 });
    const max = maxTransferBlocks(512);
    expectGood(await run(big, A, 0, cdb.read16(0, max)));
    expectSense(await run(big, A, 0, cdb.read16(0, max + 1)), IR, ASC.INVALID_FIELD_IN_CDB);
    await big.close();
    const c = cdb.read10(0, 1);
    c[1] = 0x20;
    expectSense(await run(arr, A, 0, c), IR, ASC.INVALID_FIELD_IN_CDB);
    const w = cdb.write10(0, 1);
    w[1] = 0x20;
    expectSense(await run(arr, A, 0, w, Buffer.alloc(512, 9)), IR, ASC.INVALID_FIELD_IN_CDB);
    expect((await read(0, 1)).equals(Buffer.alloc(512))).to.equal(true);
  });

  it('data-out length must match the CDB: PARAMETER LIST LENGTH ERROR, nothing written', async () => {
    const r = await run(arr, A, 0, cdb.write10(0, 2), Buffer.alloc(512 * 2 - 1, 7));
    expectSense(r, IR, ASC.PARAMETER_LIST_LENGTH_ERROR, 1024);
    expectSense(await run(arr, A, 0, cdb.write10(0, 1)), IR, ASC.PARAMETER_LIST_LENGTH_ERROR);
    expectSense(await run(arr, A, 0, cdb.write10(0, 1), Buffer.alloc(1024, 7)), IR, ASC.PARAMETER_LIST_LENGTH_ERROR);
    expect((await read(0, 2)).equals(Buffer.alloc(1024))).to.equal(true);
  });

  it('with a transport that reports residuals, a WRITE writes the whole blocks CDB and data-out share and says what it wanted', async () => {
    const w = (c: Buffer, data?: Buffer) => arr.execute({ initiator: A, lun: 0, cdb: c, ...(data ? { dataOut: data } : {}), residualsReported: true });
    expectGood(await run(arr, A, 0, cdb.write10(0, 2), Buffer.alloc(1024, 0x61)));
    // data-out longer than the CDB (underflow): only the CDB's one block is written
    let r = await w(cdb.write10(0, 1), Buffer.alloc(1024, 0x62));
    expectGood(r);
    expect(r.dataOutWanted).to.equal(512);
    expect((await read(0, 2)).equals(Buffer.concat([Buffer.alloc(512, 0x62), Buffer.alloc(512, 0x61)]))).to.equal(true);
    // data-out shorter than the CDB (overflow): only the block that came is written
    r = await w(cdb.write16(0, 2), Buffer.alloc(512, 0x63));
    expectGood(r);
    expect(r.dataOutWanted).to.equal(1024);
    expect((await read(0, 2)).equals(Buffer.concat([Buffer.alloc(512, 0x63), Buffer.alloc(512, 0x61)]))).to.equal(true);
    // no data-out at all: nothing written, GOOD
    r = await w(cdb.write10(0, 1));
    expectGood(r);
    expect(r.dataOutWanted).to.equal(512);
    // a part of a block cannot be written: INVALID FIELD IN INFORMATION UNIT, nothing written, residual still known
    r = await w(cdb.write10(0, 1), Buffer.alloc(200, 0x64));
    expectSense(r, IR, ASC.INVALID_FIELD_IN_INFORMATION_UNIT);
    expect(r.dataOutWanted).to.equal(512);
    expect((await read(0, 1)).equals(Buffer.alloc(512, 0x63))).to.equal(true);
    // matching lengths carry no dataOutWanted
    expect((await w(cdb.write10(0, 1), Buffer.alloc(512))).dataOutWanted).to.equal(undefined);
  });

  it('INVALID COMMAND OPERATION CODE for unsupported opcodes; short CDB is INVALID FIELD IN CDB', async () => {
    expectSense(await run(arr, A, 0, Buffer.from([0x0a, 0, 0, 0, 1, 0]), Buffer.alloc(512)), IR, ASC.INVALID_COMMAND_OPCODE); // WRITE(6)
    expectSense(await run(arr, A, 0, Buffer.alloc(16, 0xc1)), IR, ASC.INVALID_COMMAND_OPCODE); // vendor group
    expectSense(await run(arr, A, 0, cdb.read16(0, 1).subarray(0, 10)), IR, ASC.INVALID_FIELD_IN_CDB);
    expectSense(await run(arr, A, 0, new Uint8Array(0)), IR, ASC.INVALID_FIELD_IN_CDB);
  });

  it('accepts a CDB padded to 16 bytes (iSCSI carries 16)', async () => {
    const padded = Buffer.alloc(16);
    cdb.read10(3, 1).copy(padded);
    expectGood(await run(arr, A, 0, padded));
  });

  it('LOGICAL UNIT NOT SUPPORTED for a LUN that does not exist', async () => {
    expectSense(await run(arr, A, 9, cdb.read10(0, 1)), IR, ASC.LOGICAL_UNIT_NOT_SUPPORTED);
    expectSense(await run(arr, A, 9, cdb.testUnitReady()), IR, ASC.LOGICAL_UNIT_NOT_SUPPORTED);
  });

  it('TEST UNIT READY is GOOD', async () => {
    expectGood(await run(arr, A, 0, cdb.testUnitReady()));
  });

  it('READ CAPACITY(10) and (16): last LBA, block size, LBPME and LBPRZ (thin)', async () => {
    const c10 = cdb.parseReadCapacity10(expectGood(await run(arr, A, 0, cdb.readCapacity10())))!;
    expect(c10).to.deep.equal({ lastLba: 1023, blockSizeBytes: 512 });
    const d16 = expectGood(await run(arr, A, 0, cdb.readCapacity16()));
    expect(d16.length).to.equal(32);
    expect(cdb.parseReadCapacity16(d16)).to.deep.equal({ lastLba: 1023, blockSizeBytes: 512, thin: true, zeroesWhenUnmapped: true });
    expect(expectGood(await run(arr, A, 0, cdb.readCapacity16(12))).length).to.equal(12);
    const badSa = cdb.readCapacity16();
    badSa[1] = 0x11;
    expectSense(await run(arr, A, 0, badSa), IR, ASC.INVALID_FIELD_IN_CDB);
  });

  it('READ CAPACITY reflects growLun; the new blocks read as zeros', async () => {
    await arr.growLun('ds1', 2048 * 512);
    expect(cdb.parseReadCapacity16(expectGood(await run(arr, A, 0, cdb.readCapacity16())))!.lastLba).to.equal(2047);
    expect((await read(2000, 1)).equals(Buffer.alloc(512))).to.equal(true);
  });

  describe('COMPARE AND WRITE (§7.3 ATS, opcode 0x89)', () => {
    it('writes when the verify data matches', async () => {
      const old = blocksOf(1, 512, 3);
      const next = blocksOf(1, 512, 4);
      expectGood(await run(arr, A, 0, cdb.write10(50, 1), old));
      expectGood(await run(arr, A, 0, cdb.compareAndWrite(50, 1), Buffer.concat([old, next])));
      expect((await read(50, 1)).equals(next)).to.equal(true);
      expect(arr.stats().luns[0]!.compareAndWrites).to.equal(1);
    });

    it('miscompare: CHECK CONDITION, MISCOMPARE / MISCOMPARE DURING VERIFY, INFORMATION = first differing byte, no write', async () => {
      const old = blocksOf(2, 512, 5);
      expectGood(await run(arr, A, 0, cdb.write16(60, 2), old));
      const verify = Buffer.from(old);
      verify[700] ^= 0xff; // second block, byte 188
      const r = await run(arr, A, 0, cdb.compareAndWrite(60, 2), Buffer.concat([verify, blocksOf(2, 512, 6)]));
      expectSense(r, SENSE_KEY.MISCOMPARE, ASC.MISCOMPARE_DURING_VERIFY, 700);
      expect((await read(60, 2)).equals(old)).to.equal(true);
      expect(arr.stats().luns[0]!.cawMiscompares).to.equal(1);
    });

    it('compares against zeros for an unwritten block (first acquire of a free lock)', async () => {
      const next = blocksOf(1, 512, 7);
      expectGood(await run(arr, A, 0, cdb.compareAndWrite(70, 1), Buffer.concat([Buffer.alloc(512), next])));
      expect((await read(70, 1)).equals(next)).to.equal(true);
    });

    it('rejects more than MAX_CAW_BLOCKS, a wrong data-out length and out-of-range LBAs, changing nothing', async () => {
      expectSense(
        await run(arr, A, 0, cdb.compareAndWrite(0, MAX_CAW_BLOCKS + 1), Buffer.alloc(2 * (MAX_CAW_BLOCKS + 1) * 512)),
        IR,
        ASC.INVALID_FIELD_IN_CDB,
      );
      expectSense(await run(arr, A, 0, cdb.compareAndWrite(0, 1), Buffer.alloc(512, 1)), IR, ASC.PARAMETER_LIST_LENGTH_ERROR, 1024);
      // 256 blocks do not fit the 8-bit length field: the CDB says 0 blocks while data follows
      expectSense(await run(arr, A, 0, cdb.compareAndWrite(0, 256), Buffer.alloc(2 * 256 * 512)), IR, ASC.INVALID_FIELD_IN_CDB);
      expectGood(await run(arr, A, 0, cdb.compareAndWrite(0, 0)));
      expectSense(await run(arr, A, 0, cdb.compareAndWrite(1024, 1), Buffer.alloc(1024)), IR, ASC.LBA_OUT_OF_RANGE);
      expect((await read(0, 1)).equals(Buffer.alloc(512))).to.equal(true);
    });
  });

  describe('WRITE SAME and UNMAP (thin provisioning)', () => {
    it('WRITE SAME(10) and (16) replicate one block', async () => {
      const blk = blocksOf(1, 512, 8);
      expectGood(await run(arr, A, 0, cdb.writeSame10(100, 5), blk));
      const got = await read(100, 5);
      for (let i = 0; i < 5; i++) expect(got.subarray(i * 512, (i + 1) * 512).equals(blk)).to.equal(true);
      expectGood(await run(arr, A, 0, cdb.writeSame16(300, 600), blk)); // more than one chunk
      expect((await read(899, 1)).equals(blk)).to.equal(true);
      expect((await read(900, 1)).equals(Buffer.alloc(512))).to.equal(true);
    });

    it('WRITE SAME with UNMAP and zero data deallocates; NDOB needs no data-out', async () => {
      expectGood(await run(arr, A, 0, cdb.write10(10, 4), blocksOf(4, 512, 9)));
      expectGood(await run(arr, A, 0, cdb.writeSame16(10, 2, { unmap: true }), Buffer.alloc(512)));
      expect((await read(10, 2)).equals(Buffer.alloc(1024))).to.equal(true);
      expectGood(await run(arr, A, 0, cdb.writeSame16(12, 2, { unmap: true, ndob: true })));
      expect((await read(12, 2)).equals(Buffer.alloc(1024))).to.equal(true);
      expect(arr.stats().luns[0]!.unmappedBlocks).to.equal(4);
    });

    it('WRITE SAME with 0 blocks (WSNZ=1) or above maxWriteSameBlocks (one WRITE of data) is INVALID FIELD IN CDB', async () => {
      expectSense(await run(arr, A, 0, cdb.writeSame10(0, 0), Buffer.alloc(512, 1)), IR, ASC.INVALID_FIELD_IN_CDB);
      expectSense(await run(arr, A, 0, cdb.writeSame16(0, maxWriteSameBlocks(512) + 1), Buffer.alloc(512, 1)), IR, ASC.INVALID_FIELD_IN_CDB);
      expectSense(await run(arr, A, 0, cdb.writeSame10(1000, 25), Buffer.alloc(512, 1)), IR, ASC.LBA_OUT_OF_RANGE);
      expectSense(await run(arr, A, 0, cdb.writeSame10(0, 2), Buffer.alloc(1024, 1)), IR, ASC.PARAMETER_LIST_LENGTH_ERROR);
      expect((await read(0, 2)).equals(Buffer.alloc(1024))).to.equal(true);
    });

    it('UNMAP deallocates every descriptor', async () => {
      expectGood(await run(arr, A, 0, cdb.write10(0, 8), blocksOf(8, 512, 10)));
      const u = cdb.unmapCommand([
        { lba: 1, blocks: 2 },
        { lba: 6, blocks: 1 },
      ]);
      expectGood(await run(arr, A, 0, u.cdb, u.dataOut));
      const got = await read(0, 8);
      const want = blocksOf(8, 512, 10);
      want.fill(0, 512, 1536);
      want.fill(0, 3072, 3584);
      expect(got.equals(want)).to.equal(true);
    });

    it('UNMAP validates the whole parameter list before changing anything', async () => {
      const data = blocksOf(4, 512, 11);
      expectGood(await run(arr, A, 0, cdb.write10(0, 4), data));
      const bad = cdb.unmapCommand([
        { lba: 0, blocks: 2 },
        { lba: 1020, blocks: 5 },
      ]);
      expectSense(await run(arr, A, 0, bad.cdb, bad.dataOut), IR, ASC.LBA_OUT_OF_RANGE);
      expect((await read(0, 4)).equals(data)).to.equal(true);
      // parameter list length 1..7
      expectSense(await run(arr, A, 0, cdb.unmap(6), Buffer.alloc(6)), IR, ASC.PARAMETER_LIST_LENGTH_ERROR);
      // CDB length and data-out disagree
      expectSense(await run(arr, A, 0, cdb.unmap(24), Buffer.alloc(8)), IR, ASC.PARAMETER_LIST_LENGTH_ERROR);
      // block descriptor data length larger than what follows the header
      const over = cdb.unmapCommand([{ lba: 0, blocks: 1 }]);
      over.dataOut.writeUInt16BE(32, 2);
      expectSense(await run(arr, A, 0, over.cdb, over.dataOut), IR, ASC.PARAMETER_LIST_LENGTH_ERROR);
      // too many descriptors
      const many = cdb.unmapCommand(Array.from({ length: MAX_UNMAP_DESCRIPTORS + 1 }, (_, i) => ({ lba: i, blocks: 1 })));
      expectSense(await run(arr, A, 0, many.cdb, many.dataOut), IR, ASC.INVALID_FIELD_IN_PARAMETER_LIST);
      // ANCHOR
      const anchored = cdb.unmapCommand([{ lba: 0, blocks: 1 }]);
      anchored.cdb[1] = 1;
      expectSense(await run(arr, A, 0, anchored.cdb, anchored.dataOut), IR, ASC.INVALID_FIELD_IN_CDB);
      expect((await read(0, 4)).equals(data)).to.equal(true);
      // empty list is GOOD
      expectGood(await run(arr, A, 0, cdb.unmap(0)));
    });
  });

  it('SYNCHRONIZE CACHE(10)/(16) GOOD in range, LBA OUT OF RANGE beyond', async () => {
    expectGood(await run(arr, A, 0, cdb.synchronizeCache10()));
    expectGood(await run(arr, A, 0, cdb.synchronizeCache16(0, 1024)));
    expectSense(await run(arr, A, 0, cdb.synchronizeCache16(1000, 100)), IR, ASC.LBA_OUT_OF_RANGE);
  });

  it('checksum mismatch: MEDIUM ERROR / UNRECOVERED READ ERROR with the LBA, never the data', async () => {
    const store = new MemoryBlockStore();
    const t = new BlockTarget(store);
    t.addLun({ lun: 0, name: 'x', id: 'naa.6' + '0'.repeat(31), sizeBytes: 8192, blockSizeBytes: 512, blocks: 16, createdAtMs: 0 });
    expectGood(await run(t, A, 0, cdb.write10(3, 2), blocksOf(2, 512, 12)));
    store.rawValue(0, 4)![100]! ^= 0x40;
    const r = await run(t, A, 0, cdb.read10(3, 2));
    expectSense(r, SENSE_KEY.MEDIUM_ERROR, ASC.UNRECOVERED_READ_ERROR, 4);
    expect(r.dataIn).to.equal(undefined);
    // COMPARE AND WRITE over the bad block does not write either
    const caw = await run(t, A, 0, cdb.compareAndWrite(4, 1), Buffer.alloc(1024));
    expectSense(caw, SENSE_KEY.MEDIUM_ERROR, ASC.UNRECOVERED_READ_ERROR, 4);
    expect(t.lunStats(0)!.checksumErrors).to.equal(2);
  });

  it('a store failure is HARDWARE/MEDIUM ERROR, never a throw', async () => {
    await arr.close();
    const r = await run(arr, A, 0, cdb.read10(0, 1));
    expect(r.status).to.equal(SCSI_STATUS.CHECK_CONDITION);
    const w = await run(arr, A, 0, cdb.write10(0, 1), Buffer.alloc(512, 1));
    expectSense(w, SENSE_KEY.MEDIUM_ERROR, ASC.WRITE_ERROR);
  });

  it('never throws on garbage commands', async () => {
    let seed = 1;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    for (let i = 0; i < 500; i++) {
      const len = 1 + Math.floor(rnd() * 16);
      const c = Buffer.alloc(len);
      for (let j = 0; j < len; j++) c[j] = Math.floor(rnd() * 256);
      const d = rnd() < 0.5 ? undefined : Buffer.alloc(Math.floor(rnd() * 2048), 0x33);
      const r = await run(arr, A, Math.floor(rnd() * 2), c, d);
      expect([0x00, 0x02, 0x18]).to.include(r.status);
    }
    void lun;
  });
});

describe('storage target: SPC-4 commands', () => {
  let arr: StorageArray;
  let lun: LunInfo;
  beforeEach(async () => {
    arr = await openArray({ name: 'spc' });
    lun = await arr.createLun({ name: 'ds1', sizeBytes: 4096 * 100, blockSizeBytes: 4096 });
    await arr.createLun({ name: 'ds2', sizeBytes: 4096 * 10, blockSizeBytes: 4096 });
  });
  afterEach(() => arr.close());

  it('standard INQUIRY: direct-access, SPC-4, vendor/product, version descriptors, truncated to the allocation length', async () => {
    const d = expectGood(await run(arr, A, 0, cdb.inquiry()));
    expect(d.length).to.equal(96);
    expect(d[0]).to.equal(0x00);
    expect(d[2]).to.equal(0x06);
    expect(d[4]).to.equal(91);
    // SAM-5, SPC-4, SBC-3 (initiators look for 0x04C0 before trusting VPD 0xb0), iSCSI; the rest zero
    const descriptors = Array.from({ length: 8 }, (_, i) => d.readUInt16BE(58 + 2 * i));
    expect(descriptors).to.deep.equal([0x00a0, 0x0460, 0x04c0, 0x0960, 0, 0, 0, 0]);
    expect(d.subarray(8, 16).toString('latin1')).to.equal('VFAB    ');
    expect(expectGood(await run(arr, A, 0, cdb.inquiry(undefined, 5))).length).to.equal(5);
  });

  it('INQUIRY to a missing LUN answers peripheral qualifier 011b / type 1Fh', async () => {
    expect(expectGood(await run(arr, A, 7, cdb.inquiry()))[0]).to.equal(0x7f);
    expectSense(await run(arr, A, 7, cdb.inquiry(0x83)), IR, ASC.LOGICAL_UNIT_NOT_SUPPORTED);
  });

  it('INQUIRY page code without EVPD, or an unsupported VPD page, is INVALID FIELD IN CDB', async () => {
    const c = cdb.inquiry();
    c[2] = 0x80;
    expectSense(await run(arr, A, 0, c), IR, ASC.INVALID_FIELD_IN_CDB);
    expectSense(await run(arr, A, 0, cdb.inquiry(0x89)), IR, ASC.INVALID_FIELD_IN_CDB);
  });

  it('VPD 0x00 lists 00 80 83 b0 b2; 0x80 serial from the NAA ID', async () => {
    const p0 = expectGood(await run(arr, A, 0, cdb.inquiry(0x00)));
    expect(p0.toString('hex')).to.equal('000000050080' + '83b0b2');
    const p80 = expectGood(await run(arr, A, 0, cdb.inquiry(0x80)));
    expect(p80[1]).to.equal(0x80);
    expect(p80.subarray(4).toString('latin1')).to.equal(lun.id.slice(4));
  });

  it('VPD 0x83 carries the NAA designator equal to LunInfo.id', async () => {
    expect(lun.id).to.match(/^naa\.6[0-9a-f]{31}$/);
    const p = expectGood(await run(arr, A, 0, cdb.inquiry(0x83)));
    expect(p[1]).to.equal(0x83);
    expect(p.readUInt16BE(2)).to.equal(p.length - 4);
    expect(p[4]! & 0x0f).to.equal(1); // binary
    expect(p[5]! & 0x0f).to.equal(3); // NAA
    expect(p[5]! & 0x30).to.equal(0); // association: logical unit
    expect(p[7]).to.equal(16);
    expect('naa.' + p.subarray(8, 24).toString('hex')).to.equal(lun.id);
    const other = arr.getLun('ds2')!;
    expect(other.id).to.not.equal(lun.id);
  });

  it('VPD 0xb0 block limits: MAXIMUM COMPARE AND WRITE LENGTH, transfer and unmap limits', async () => {
    const p = expectGood(await run(arr, A, 0, cdb.inquiry(0xb0)));
    expect(p.readUInt16BE(2)).to.equal(0x3c);
    expect(p[4]! & 1).to.equal(1); // WSNZ
    expect(p[5]).to.equal(MAX_CAW_BLOCKS);
    expect(p.readUInt32BE(8)).to.equal(maxTransferBlocks(4096));
    expect(p.readUInt32BE(20)).to.equal(MAX_UNMAP_LBA_COUNT);
    expect(MAX_UNMAP_LBA_COUNT).to.be.at.most(1024 * 1024); // finite, and within what initiators accept
    expect(p.readUInt32BE(24)).to.equal(MAX_UNMAP_DESCRIPTORS);
    // WRITE SAME covers no more than one WRITE carries: a range zeroed by WRITE SAME can be read back in one READ
    expect(Number(p.readBigUInt64BE(36))).to.equal(maxTransferBlocks(4096));
    expect(maxWriteSameBlocks(512)).to.equal(maxTransferBlocks(512));
  });

  it('VPD 0xb2 logical block provisioning: LBPU, LBPWS, LBPWS10, LBPRZ, thin', async () => {
    const p = expectGood(await run(arr, A, 0, cdb.inquiry(0xb2)));
    expect(p[5]).to.equal(0xe4);
    expect(p[6]! & 0x07).to.equal(2);
  });

  it('REPORT LUNS lists every LUN from any LUN address; allocation length < 16 is INVALID FIELD IN CDB', async () => {
    const d = expectGood(await run(arr, A, 5, cdb.reportLuns()));
    expect(d.readUInt32BE(0)).to.equal(16);
    expect(d.subarray(8, 16).toString('hex')).to.equal('0000000000000000');
    expect(d.subarray(16, 24).toString('hex')).to.equal('0001000000000000');
    expectSense(await run(arr, A, 0, cdb.reportLuns(8)), IR, ASC.INVALID_FIELD_IN_CDB);
    expect(expectGood(await run(arr, A, 0, cdb.reportLuns(4096, 1))).readUInt32BE(0)).to.equal(0);
  });

  it('REQUEST SENSE: NO SENSE in fixed format; LOGICAL UNIT NOT SUPPORTED for a missing LUN; DESC=1 refused', async () => {
    const s = parseFixedSense(expectGood(await run(arr, A, 0, cdb.requestSense())));
    expect(s.ok && s.value).to.deep.equal({ key: 0, asc: 0, ascq: 0 });
    const m = parseFixedSense(expectGood(await run(arr, A, 9, cdb.requestSense())));
    expect(m.ok && [m.value.key, m.value.asc]).to.deep.equal([IR, 0x25]);
    const c = cdb.requestSense();
    c[1] = 1;
    expectSense(await run(arr, A, 0, c), IR, ASC.INVALID_FIELD_IN_CDB);
  });

  it('counts CHECK CONDITIONs per LUN', async () => {
    await run(arr, B, 0, cdb.read16(1000, 1));
    expect(arr.stats().luns[0]!.checkConditions).to.equal(1);
    expect(arr.stats().totals.checkConditions).to.equal(1);
    void ASC_EXTRA;
  });
});
