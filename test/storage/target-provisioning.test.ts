// READ (6), ORWRITE (16), GET LBA STATUS and thin/thick provisioning of the SCSI target (SBC-3 §4.7, §5.7,
// §5.11, §5.16): CDB fields and ranges, the OR under the range lock shared with COMPARE AND WRITE, runs of
// mapped and deallocated blocks, what a thick LUN reports and refuses, field pointers in the sense data.
import { expect } from 'chai';
import { ensureLuns, openArray, type StorageArray } from '../../lib/storage/array.js';
import * as cdb from '../../lib/storage/cdb.js';
import { ASC, SCSI_OP, SENSE_KEY } from '../../lib/storage/scsi.js';
import { parseFixedSense, toFixedSense } from '../../lib/storage/sense.js';
import { LBA_STATUS, MAX_LBA_STATUS_SCAN_BLOCKS } from '../../lib/storage/target.js';
import { A, B, blocksOf, expectConflict, expectGood, expectSense, run } from './helpers.js';
import { makeTempDir, removeTempDir } from './tmpdir.js';

const IR = SENSE_KEY.ILLEGAL_REQUEST;
const BLOCKS = 1024;

describe('storage target: READ (6), ORWRITE, GET LBA STATUS, thin and thick LUNs', () => {
  let arr: StorageArray;
  beforeEach(async () => {
    arr = await openArray({ name: 'test' });
    await arr.createLun({ name: 'thin', sizeBytes: BLOCKS * 512 }); // LUN 0
    await arr.createLun({ name: 'thick', sizeBytes: BLOCKS * 512, provisioning: 'thick' }); // LUN 1
  });
  afterEach(() => arr.close());

  const status = async (lun: number, lba: number, alloc?: number) => cdb.parseLbaStatus(expectGood(await run(arr, A, lun, cdb.getLbaStatus(lba, alloc))))!;

  it('READ (6): 21-bit LBA, length 0 = 256 blocks, the end of the LUN and one past it', async () => {
    const d = blocksOf(BLOCKS, 512, 3);
    expectGood(await run(arr, A, 0, cdb.write16(0, BLOCKS), d));
    expect(expectGood(await run(arr, A, 0, cdb.read6(5, 3))).equals(d.subarray(5 * 512, 8 * 512))).to.equal(true);
    const all = expectGood(await run(arr, A, 0, cdb.read6(0, 0)));
    expect(all.length).to.equal(256 * 512);
    expect(all.equals(d.subarray(0, 256 * 512))).to.equal(true);
    expect(expectGood(await run(arr, A, 0, cdb.read6(BLOCKS - 1, 1))).equals(d.subarray((BLOCKS - 1) * 512))).to.equal(true);
    expectSense(await run(arr, A, 0, cdb.read6(BLOCKS - 1, 2)), IR, ASC.LBA_OUT_OF_RANGE);
    expectSense(await run(arr, A, 0, cdb.read6(0x1fffff, 1)), IR, ASC.LBA_OUT_OF_RANGE);
    // byte 1 bits 4-0 are LBA bits, not DPO/FUA: LBA 0x10000 + 2 is read, not LBA 2 with a hint
    const big = await openArray({ name: 'big' });
    try {
      await big.createLun({ name: 'x', sizeBytes: 0x20000 * 512 });
      const mark = Buffer.alloc(512, 0x5c);
      expectGood(await run(big, A, 0, cdb.write16(0x10002, 1), mark));
      expect(expectGood(await run(big, A, 0, cdb.read6(0x10002, 1))).equals(mark)).to.equal(true);
    } finally {
      await big.close();
    }
  });

  it('ORWRITE (16): each block becomes medium OR data-out; zero blocks, ranges, ORPROTECT, data-out length, reservations', async () => {
    const base = Buffer.alloc(3 * 512, 0xa0);
    expectGood(await run(arr, A, 0, cdb.write16(10, 3), base));
    expectGood(await run(arr, A, 0, cdb.orWrite16(10, 3, { fua: true }), Buffer.alloc(3 * 512, 0x05)));
    expect(expectGood(await run(arr, A, 0, cdb.read16(10, 3))).equals(Buffer.alloc(3 * 512, 0xa5))).to.equal(true);
    expectGood(await run(arr, A, 0, cdb.orWrite16(BLOCKS, 0)));
    expectSense(await run(arr, A, 0, cdb.orWrite16(BLOCKS + 1, 0)), IR, ASC.LBA_OUT_OF_RANGE);
    expectSense(await run(arr, A, 0, cdb.orWrite16(2n ** 63n, 0)), IR, ASC.LBA_OUT_OF_RANGE);
    expectSense(await run(arr, A, 0, cdb.orWrite16(BLOCKS - 1, 2), Buffer.alloc(1024)), IR, ASC.LBA_OUT_OF_RANGE);
    expectSense(await run(arr, A, 0, cdb.orWrite16(0, 2), Buffer.alloc(512)), IR, ASC.PARAMETER_LIST_LENGTH_ERROR, 1024);
    for (let p = 1; p < 8; p++) {
      const c = cdb.orWrite16(0, 1);
      c[1] = p << 5;
      expectSense(await run(arr, A, 0, c, Buffer.alloc(512, 1)), IR, ASC.INVALID_FIELD_IN_CDB);
    }
    expect(expectGood(await run(arr, A, 0, cdb.read16(0, 1))).equals(Buffer.alloc(512))).to.equal(true);
    const key = 0x77n;
    expectGood(await run(arr, B, 0, cdb.prOut.register(0n, key).cdb, cdb.prOut.register(0n, key).dataOut));
    expectGood(await run(arr, B, 0, cdb.prOut.reserve(key, 1).cdb, cdb.prOut.reserve(key, 1).dataOut)); // WRITE EXCLUSIVE
    expectConflict(await run(arr, A, 0, cdb.orWrite16(0, 1), Buffer.alloc(512, 1)));
    expect(arr.stats().luns[0]!.writes).to.equal(2); // the WRITE and the one ORWRITE that wrote
  });

  it('ORWRITE and COMPARE AND WRITE of the same blocks do not interleave: every OR survives the compare-and-swaps', async () => {
    expectGood(await run(arr, A, 0, cdb.write16(0, 1), Buffer.alloc(512)));
    const ors = Array.from({ length: 8 }, (_, bit) => run(arr, A, 0, cdb.orWrite16(0, 1), Buffer.alloc(512, 1 << bit)));
    // a CAW that expects zeros and writes zeros: it may only succeed before any OR lands
    const caws = Array.from({ length: 4 }, () => run(arr, B, 0, cdb.compareAndWrite(0, 1), Buffer.alloc(1024)));
    for (const r of await Promise.all(ors)) expectGood(r);
    await Promise.all(caws);
    expect(expectGood(await run(arr, A, 0, cdb.read16(0, 1))).equals(Buffer.alloc(512, 0xff))).to.equal(true);
  });

  it('GET LBA STATUS (thin): runs of mapped and deallocated blocks from the starting LBA, as written and unmapped', async () => {
    expect(await status(0, 0)).to.deep.equal([{ lba: 0, blocks: BLOCKS, status: LBA_STATUS.DEALLOCATED }]);
    expectGood(await run(arr, A, 0, cdb.write16(0, 300), blocksOf(300, 512, 1)));
    const u = cdb.unmapCommand([{ lba: 10, blocks: 5 }]);
    expectGood(await run(arr, A, 0, u.cdb, u.dataOut));
    expect(await status(0, 0)).to.deep.equal([
      { lba: 0, blocks: 10, status: LBA_STATUS.MAPPED },
      { lba: 10, blocks: 5, status: LBA_STATUS.DEALLOCATED },
      { lba: 15, blocks: 285, status: LBA_STATUS.MAPPED },
      { lba: 300, blocks: BLOCKS - 300, status: LBA_STATUS.DEALLOCATED },
    ]);
    expect(await status(0, 12)).to.deep.equal(
      [
        { lba: 12, blocks: 3, status: LBA_STATUS.DEALLOCATED },
        { lba: 15, blocks: 285, status: LBA_STATUS.MAPPED },
        { lba: 300, blocks: BLOCKS - 300, status: LBA_STATUS.DEALLOCATED },
      ],
    );
    // the allocation length bounds the descriptors (24 bytes: one), the data is truncated, never an error
    expect(await status(0, 0, 24)).to.deep.equal([{ lba: 0, blocks: 10, status: LBA_STATUS.MAPPED }]);
    expect(expectGood(await run(arr, A, 0, cdb.getLbaStatus(0, 4))).length).to.equal(4);
    expect(await status(0, BLOCKS - 1)).to.deep.equal([{ lba: BLOCKS - 1, blocks: 1, status: LBA_STATUS.DEALLOCATED }]);
    expectSense(await run(arr, A, 0, cdb.getLbaStatus(BLOCKS)), IR, ASC.LBA_OUT_OF_RANGE);
    expectSense(await run(arr, A, 0, cdb.getLbaStatus(2n ** 64n - 1n)), IR, ASC.LBA_OUT_OF_RANGE);
  });

  it('GET LBA STATUS looks at most MAX_LBA_STATUS_SCAN_BLOCKS blocks per command', async () => {
    const big = await openArray({ name: 'big' });
    try {
      await big.createLun({ name: 'x', sizeBytes: (MAX_LBA_STATUS_SCAN_BLOCKS + 100) * 512 });
      const d = cdb.parseLbaStatus(expectGood(await run(big, A, 0, cdb.getLbaStatus(0))))!;
      expect(d).to.deep.equal([{ lba: 0, blocks: MAX_LBA_STATUS_SCAN_BLOCKS, status: LBA_STATUS.DEALLOCATED }]);
    } finally {
      await big.close();
    }
  });

  it('a thick LUN: LBPME 0, no unmap in VPD B0/B2, UNMAP an unknown opcode, WRITE SAME with UNMAP refused, every block mapped', async () => {
    const thin = cdb.parseReadCapacity16(expectGood(await run(arr, A, 0, cdb.readCapacity16())))!;
    const thick = cdb.parseReadCapacity16(expectGood(await run(arr, A, 1, cdb.readCapacity16())))!;
    expect([thin.thin, thin.zeroesWhenUnmapped]).to.deep.equal([true, true]);
    expect([thick.thin, thick.zeroesWhenUnmapped]).to.deep.equal([false, false]);
    const b2 = expectGood(await run(arr, A, 1, cdb.inquiry(0xb2)));
    expect([b2[5], b2[6]! & 0x07]).to.deep.equal([0, 0]); // no LBPU/LBPWS/LBPWS10/LBPRZ, provisioning type 0
    expect((expectGood(await run(arr, A, 0, cdb.inquiry(0xb2)))[6]! & 0x07)).to.equal(2); // thin
    const b0 = expectGood(await run(arr, A, 1, cdb.inquiry(0xb0)));
    expect([b0.readUInt32BE(20), b0.readUInt32BE(24)]).to.deep.equal([0, 0]); // MAXIMUM UNMAP LBA / DESCRIPTOR COUNT
    expect(expectGood(await run(arr, A, 0, cdb.inquiry(0xb0))).readUInt32BE(20)).to.be.above(0);
    const u = cdb.unmapCommand([{ lba: 0, blocks: 1 }]);
    expectSense(await run(arr, A, 1, u.cdb, u.dataOut), IR, ASC.INVALID_COMMAND_OPCODE);
    const ws = await run(arr, A, 1, cdb.writeSame10(0, 4, { unmap: true }), Buffer.alloc(512));
    expectSense(ws, IR, ASC.INVALID_FIELD_IN_CDB);
    expect(ws.sense!.field).to.deep.equal({ inCdb: true, byte: 1, bit: 3 });
    expectSense(await run(arr, A, 1, cdb.writeSame16(0, 4, { unmap: true, ndob: true })), IR, ASC.INVALID_FIELD_IN_CDB);
    expectGood(await run(arr, A, 1, cdb.writeSame16(0, 4), Buffer.alloc(512, 7))); // without UNMAP: written
    expectGood(await run(arr, A, 0, cdb.writeSame16(0, 4, { unmap: true }), Buffer.alloc(512))); // thin: allowed
    expect(await status(1, 5)).to.deep.equal([{ lba: 5, blocks: BLOCKS - 5, status: LBA_STATUS.MAPPED }]);
    const listed = (lun: number) => run(arr, A, lun, cdb.reportSupportedOpcodes(1, SCSI_OP.UNMAP)).then((r) => expectGood(r)[1]! & 0x07);
    expect([await listed(0), await listed(1)]).to.deep.equal([3, 1]); // supported on thin, not on thick
  });

  it('provisioning is kept in the LUN record and can be changed; anything but thin or thick is refused', async () => {
    expect(arr.getLun('thick')!.provisioning).to.equal('thick');
    expect(arr.getLun('thin')!.provisioning).to.equal(undefined);
    expect((await arr.setLunProvisioning('thick', 'thin')).provisioning).to.equal(undefined);
    expect(cdb.parseReadCapacity16(expectGood(await run(arr, A, 1, cdb.readCapacity16())))!.thin).to.equal(true);
    let code = '';
    await arr.createLun({ name: 'bad', sizeBytes: 512 * 8, provisioning: 'thinn' as never }).catch((e: { code: string }) => (code = e.code));
    expect(code).to.equal('VFAB_STORAGE_BAD_PROVISIONING');
    code = '';
    await arr.setLunProvisioning('thin', 'fat' as never).catch((e: { code: string }) => (code = e.code));
    expect(code).to.equal('VFAB_STORAGE_BAD_PROVISIONING');
  });

  it('ensureLuns applies the configured provisioning to new and stored LUNs; a LevelDB array keeps it across reopening', async function () {
    this.timeout(20_000);
    await ensureLuns(arr, [{ name: 'thin', sizeBytes: BLOCKS * 512, provisioning: 'thick' }, { name: 'new', sizeBytes: 64 * 512, provisioning: 'thick' }]);
    expect([arr.getLun('thin')!.provisioning, arr.getLun('new')!.provisioning]).to.deep.equal(['thick', 'thick']);
    const u = cdb.unmapCommand([{ lba: 0, blocks: 1 }]);
    expectSense(await run(arr, A, arr.getLun('new')!.lun, u.cdb, u.dataOut), IR, ASC.INVALID_COMMAND_OPCODE);
    await ensureLuns(arr, [{ name: 'thin', sizeBytes: BLOCKS * 512 }]); // default thin
    expect(arr.getLun('thin')!.provisioning).to.equal(undefined);
    const dir = makeTempDir('provisioning');
    try {
      let level = await openArray({ dataDir: dir, name: 'l' });
      await level.createLun({ name: 'x', sizeBytes: 64 * 512, provisioning: 'thick' });
      await level.close();
      level = await openArray({ dataDir: dir, name: 'l' });
      expect(level.getLun('x')!.provisioning).to.equal('thick');
      expect(cdb.parseReadCapacity16(expectGood(await run(level, A, 0, cdb.readCapacity16())))!.thin).to.equal(false);
      await level.close();
    } finally {
      removeTempDir(dir);
    }
  });

  it('sense data carries the field pointer (SKSV, C/D, BPV) and it decodes back', () => {
    const bytes = toFixedSense({ key: IR, asc: 0x24, ascq: 0, field: { inCdb: true, byte: 2, bit: 5 } });
    expect([bytes[15], bytes.readUInt16BE(16)]).to.deep.equal([0x80 | 0x40 | 0x08 | 5, 2]);
    const back = parseFixedSense(bytes);
    expect(back.ok && back.value.field).to.deep.equal({ inCdb: true, byte: 2, bit: 5 });
    expect(toFixedSense({ key: IR, asc: 0x24, ascq: 0 })[15]).to.equal(0);
  });

  it('REPORT SUPPORTED OPERATION CODES refusals point at the reporting options (byte 2), not the service action', async () => {
    // libiscsi reads INVALID FIELD IN CDB of MAINTENANCE IN without a pointer, or pointing at byte 1, as "not implemented"
    for (const c of [cdb.reportSupportedOpcodes(2, SCSI_OP.TEST_UNIT_READY), cdb.reportSupportedOpcodes(1, SCSI_OP.PERSISTENT_RESERVE_IN), cdb.reportSupportedOpcodes(5)]) {
      const r = await run(arr, A, 0, c);
      expectSense(r, IR, ASC.INVALID_FIELD_IN_CDB);
      expect(r.sense!.field).to.deep.include({ inCdb: true, byte: 2 });
    }
    const c = cdb.getLbaStatus(0);
    c[1] = 0x13; // an unknown SERVICE ACTION IN (16) service action: pointed at byte 1, i.e. not supported
    expect((await run(arr, A, 0, c)).sense!.field).to.deep.equal({ inCdb: true, byte: 1, bit: 4 });
  });
});
