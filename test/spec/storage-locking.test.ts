// Spec coverage audit (docs/spec-coverage.md): the storage primitives of spec §7.3 (ATS = COMPARE AND
// WRITE, opcode 0x89) and §7.7 (ATS+SCSI: a whole-LUN SCSI-2 reservation held for a metadata update)
// that earlier tests pinned only in part: the opcode sent as raw CDB bytes, an ATS heartbeat-style
// update racing another host's, and ATS from a second host while the first holds the LUN reserved.
// In-memory array; no VMFS (§7.1-7.6 are not built).

import { expect } from 'chai';
import { openArray, type StorageArray } from '../../lib/storage/array.js';
import * as cdb from '../../lib/storage/cdb.js';
import { PR_TYPE } from '../../lib/storage/reservations.js';
import { ASC, SCSI_OP, SCSI_STATUS, SENSE_KEY } from '../../lib/storage/scsi.js';
import { A, B, blocksOf, expectConflict, expectGood, expectSense, run } from '../storage/helpers.js';

const BLOCK = 512;
const SLOT_LBA = 40; // a "heartbeat slot" / lock sector; any LBA would do

describe('spec audit: ATS and reservations (§7.3, §7.7)', () => {
  let arr: StorageArray;
  beforeEach(async () => {
    arr = await openArray({ name: 'spec' });
    await arr.createLun({ name: 'ds', sizeBytes: BLOCK * 128 });
  });
  afterEach(() => arr.close());

  const read = async (who: string, lba: number): Promise<Buffer> => expectGood(await run(arr, who, 0, cdb.read10(lba, 1)));

  it('§7.3 ATS is COMPARE AND WRITE, opcode 0x89: a hand-written 16-byte CDB is executed as one', async () => {
    expect(SCSI_OP.COMPARE_AND_WRITE).to.equal(0x89);
    // 89h, flags 0, LBA (8 bytes) = 40, reserved x3, NUMBER OF LOGICAL BLOCKS = 1, group 0, control 0 (SBC-3)
    const raw = Buffer.from('89' + '00' + '0000000000000028' + '000000' + '01' + '00' + '00', 'hex');
    expect(raw.length).to.equal(16);
    const next = blocksOf(1, BLOCK, 9);
    expectGood(await run(arr, A, 0, raw, Buffer.concat([Buffer.alloc(BLOCK), next])));
    expect((await read(A, SLOT_LBA)).equals(next)).to.equal(true);
    expect(arr.stats().luns[0]!.compareAndWrites).to.equal(1);
  });

  it('§7.3 two hosts refreshing one slot with ATS from the same old image: exactly one wins, the other gets MISCOMPARE', async () => {
    const old = blocksOf(1, BLOCK, 1);
    expectGood(await run(arr, A, 0, cdb.write10(SLOT_LBA, 1), old));
    const mineA = blocksOf(1, BLOCK, 2);
    const mineB = blocksOf(1, BLOCK, 3);
    const [ra, rb] = await Promise.all([
      run(arr, A, 0, cdb.compareAndWrite(SLOT_LBA, 1), Buffer.concat([old, mineA])),
      run(arr, B, 0, cdb.compareAndWrite(SLOT_LBA, 1), Buffer.concat([old, mineB])),
    ]);
    const statuses = [ra.status, rb.status].sort();
    expect(statuses).to.deep.equal([SCSI_STATUS.GOOD, SCSI_STATUS.CHECK_CONDITION].sort());
    const loser = ra.status === SCSI_STATUS.GOOD ? rb : ra;
    expect([loser.sense!.key, loser.sense!.asc, loser.sense!.ascq]).to.deep.equal([SENSE_KEY.MISCOMPARE, ...ASC.MISCOMPARE_DURING_VERIFY]);
    const winner = ra.status === SCSI_STATUS.GOOD ? mineA : mineB;
    expect((await read(A, SLOT_LBA)).equals(winner)).to.equal(true);
  });

  it('§7.7 ATS+SCSI: while host A holds the whole LUN reserved, host B\'s ATS gets RESERVATION CONFLICT and changes nothing', async () => {
    const old = blocksOf(1, BLOCK, 4);
    expectGood(await run(arr, A, 0, cdb.write10(SLOT_LBA, 1), old));
    expectGood(await run(arr, A, 0, cdb.reserve10()));
    expectConflict(await run(arr, B, 0, cdb.compareAndWrite(SLOT_LBA, 1), Buffer.concat([old, blocksOf(1, BLOCK, 5)])));
    expectConflict(await run(arr, B, 0, cdb.compareAndWrite(SLOT_LBA + 50, 1), Buffer.concat([Buffer.alloc(BLOCK), blocksOf(1, BLOCK, 5)])));
    expect((await read(A, SLOT_LBA)).equals(old)).to.equal(true);
    // the holder does its metadata update (here with ATS) under the reservation, then releases
    const updated = blocksOf(1, BLOCK, 6);
    expectGood(await run(arr, A, 0, cdb.compareAndWrite(SLOT_LBA, 1), Buffer.concat([old, updated])));
    expectGood(await run(arr, A, 0, cdb.release10()));
    const afterB = blocksOf(1, BLOCK, 7);
    expectGood(await run(arr, B, 0, cdb.compareAndWrite(SLOT_LBA, 1), Buffer.concat([updated, afterB])));
    expect((await read(B, SLOT_LBA)).equals(afterB)).to.equal(true);
  });

  it('§7.7 a reservation conflict is checked before the compare: B\'s ATS with wrong verify data still gets RESERVATION CONFLICT, not MISCOMPARE', async () => {
    expectGood(await run(arr, A, 0, cdb.reserve6()));
    const r = await run(arr, B, 0, cdb.compareAndWrite(SLOT_LBA, 1), Buffer.concat([blocksOf(1, BLOCK, 8), blocksOf(1, BLOCK, 9)]));
    expectConflict(r);
  });

  it('§7.7 a persistent WRITE EXCLUSIVE reservation also blocks ATS from a registered non-holder, but not reads', async () => {
    const KA = 0xa1n;
    const KB = 0xb2n;
    expectGood(await run(arr, A, 0, cdb.prOut.register(0n, KA).cdb, cdb.prOut.register(0n, KA).dataOut));
    expectGood(await run(arr, B, 0, cdb.prOut.register(0n, KB).cdb, cdb.prOut.register(0n, KB).dataOut));
    const res = cdb.prOut.reserve(KA, PR_TYPE.WRITE_EXCLUSIVE);
    expectGood(await run(arr, A, 0, res.cdb, res.dataOut));
    expectConflict(await run(arr, B, 0, cdb.compareAndWrite(SLOT_LBA, 1), Buffer.concat([Buffer.alloc(BLOCK), blocksOf(1, BLOCK, 1)])));
    expectGood(await run(arr, B, 0, cdb.read10(SLOT_LBA, 1)));
    expectGood(await run(arr, A, 0, cdb.compareAndWrite(SLOT_LBA, 1), Buffer.concat([Buffer.alloc(BLOCK), blocksOf(1, BLOCK, 1)])));
  });

  it('§7.7 an ATS-capable device says so: VPD Block Limits reports a non-zero MAXIMUM COMPARE AND WRITE LENGTH', async () => {
    const page = expectGood(await run(arr, A, 0, cdb.inquiry(0xb0, 64)));
    expect(page[1]).to.equal(0xb0);
    expect(page[5]).to.be.greaterThan(0); // byte 5 of the Block Limits page (SBC-3)
    // and a CAW longer than that is refused without touching the medium
    expectSense(
      await run(arr, A, 0, cdb.compareAndWrite(0, page[5]! + 1), Buffer.alloc(2 * (page[5]! + 1) * BLOCK)),
      SENSE_KEY.ILLEGAL_REQUEST,
      ASC.INVALID_FIELD_IN_CDB,
    );
  });
});
