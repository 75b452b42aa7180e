// The target's side of connection loss (SAM-5 I_T nexus loss aborts the tasks of that nexus): a command
// marked aborted before it reaches the medium answers TASK ABORTED and changes no data, also when it was
// waiting for the range lock behind an overlapping write; one already at the medium finishes. And
// commandWorkingBytes, the CDB-only memory estimate the block server's budget uses.
import { expect } from 'chai';
import { openArray, type StorageArray } from '../../lib/storage/array.js';
import * as cdb from '../../lib/storage/cdb.js';
import { SCSI_STATUS, type ScsiCommand } from '../../lib/storage/scsi.js';
import { LARGEST_BLOCK_BYTES, MAX_TRANSFER_BYTES, WRITE_SAME_CHUNK_BLOCKS, commandWorkingBytes } from '../../lib/storage/target.js';
import { A, blocksOf, expectGood, run } from './helpers.js';

describe('storage target: aborted commands (connection gone)', () => {
  let arr: StorageArray;
  beforeEach(async () => {
    arr = await openArray({ name: 'test' });
    await arr.createLun({ name: 'ds1', sizeBytes: 1024 * 512 });
  });
  afterEach(() => arr.close());

  const cmd = (c: Uint8Array, dataOut?: Uint8Array): ScsiCommand & { aborted: boolean } => ({ initiator: A, lun: 0, cdb: c, ...(dataOut ? { dataOut } : {}), aborted: false });

  it('a command aborted before it starts answers TASK ABORTED and writes nothing', async () => {
    const w = cmd(cdb.write10(5, 2), blocksOf(2, 512, 9));
    w.aborted = true;
    expect((await arr.execute(w)).status).to.equal(SCSI_STATUS.TASK_ABORTED);
    expect(expectGood(await run(arr, A, 0, cdb.read10(5, 2))).equals(Buffer.alloc(1024))).to.equal(true);
  });

  it('a write aborted while it waits for the range lock is not written; the one holding the lock is', async () => {
    const first = cmd(cdb.write10(0, 8), blocksOf(8, 512, 1));
    const second = cmd(cdb.write10(4, 8), blocksOf(8, 512, 2)); // overlaps: waits for the first
    const p1 = arr.execute(first);
    const p2 = arr.execute(second);
    second.aborted = true; // the connection closes while it waits
    expect((await p1).status).to.equal(SCSI_STATUS.GOOD);
    expect((await p2).status).to.equal(SCSI_STATUS.TASK_ABORTED);
    expect(expectGood(await run(arr, A, 0, cdb.read10(0, 8))).equals(blocksOf(8, 512, 1))).to.equal(true);
    expect(expectGood(await run(arr, A, 0, cdb.read10(8, 4))).equals(Buffer.alloc(2048))).to.equal(true);
  });

  it('commandWorkingBytes: READ data-in at the largest block size, capped; CAW compare read; WRITE SAME batch; else 0', () => {
    expect(commandWorkingBytes(cdb.read10(0, 1))).to.equal(LARGEST_BLOCK_BYTES);
    expect(commandWorkingBytes(cdb.read16(0, 1 << 20))).to.equal(MAX_TRANSFER_BYTES);
    expect(commandWorkingBytes(cdb.compareAndWrite(0, 2))).to.equal(2 * LARGEST_BLOCK_BYTES);
    expect(commandWorkingBytes(cdb.writeSame16(0, 10))).to.equal(WRITE_SAME_CHUNK_BLOCKS * LARGEST_BLOCK_BYTES);
    expect(commandWorkingBytes(cdb.read6(0, 0))).to.equal(256 * LARGEST_BLOCK_BYTES); // READ (6) length 0 = 256 blocks
    expect(commandWorkingBytes(cdb.orWrite16(0, 3))).to.equal(3 * LARGEST_BLOCK_BYTES); // ORWRITE reads what it ORs into
    expect(commandWorkingBytes(cdb.write10(0, 8))).to.equal(0); // its data-out is counted as such
    expect(commandWorkingBytes(cdb.testUnitReady())).to.equal(0);
    expect(commandWorkingBytes(Uint8Array.from([0x28, 0, 0]))).to.equal(0); // short CDB: answered without I/O
  });
});
