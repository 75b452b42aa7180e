// REPORT SUPPORTED OPERATION CODES of the SCSI target: the all-commands list is exactly what the target
// executes (every listed command is not answered INVALID COMMAND OPERATION CODE, and opcodes missing from it
// are), one-command replies with CDB usage data, service actions, RCTD timeouts, ATS off.
import { expect } from 'chai';
import { openArray, type StorageArray } from '../../lib/storage/array.js';
import * as cdb from '../../lib/storage/cdb.js';
import { ASC, SCSI_OP, SENSE_KEY } from '../../lib/storage/scsi.js';
import { A, expectGood, expectSense, run } from './helpers.js';

const IR = SENSE_KEY.ILLEGAL_REQUEST;

interface Listed { op: number; sa: number; servactv: boolean; cdbLength: number }

function parseAll(d: Buffer, rctd = false): Listed[] {
  expect(d.readUInt32BE(0)).to.equal(d.length - 4);
  const out: Listed[] = [];
  for (let o = 4; o < d.length; o += rctd ? 20 : 8) {
    out.push({ op: d[o]!, sa: d.readUInt16BE(o + 2), servactv: (d[o + 5]! & 1) === 1, cdbLength: d.readUInt16BE(o + 6) });
  }
  return out;
}

describe('storage target: REPORT SUPPORTED OPERATION CODES', () => {
  let arr: StorageArray;
  beforeEach(async () => {
    arr = await openArray({ name: 'test' });
    await arr.createLun({ name: 'ds1', sizeBytes: 1024 * 512 });
    await arr.createLun({ name: 'noats', sizeBytes: 64 * 512 });
    await arr.setLunAts(1, false);
  });
  afterEach(() => arr.close());

  it('lists exactly the opcodes the target implements', async () => {
    const list = parseAll(expectGood(await run(arr, A, 0, cdb.reportSupportedOpcodes())));
    const ops = new Set(list.map((e) => e.op));
    for (const op of [0x28, 0x2a, 0xa8, 0xaa, 0x2f, 0xaf, 0x8f, 0x34, 0x90, 0x1b, 0x1a, 0x5a, 0x89, 0xa3]) expect(ops.has(op), op.toString(16)).to.equal(true);
    for (let op = 0; op < 256; op++) {
      if (op === SCSI_OP.MAINTENANCE_IN || op === SCSI_OP.SERVICE_ACTION_IN_16) continue;
      const len = op < 0x20 ? 6 : op < 0x60 ? 10 : op >= 0x80 && op < 0xa0 ? 16 : op >= 0xa0 && op < 0xc0 ? 12 : 0;
      if (len === 0) continue;
      const c = Buffer.alloc(len);
      c[0] = op;
      const r = await run(arr, A, 0, c);
      const unknown = r.sense !== undefined && r.sense.asc === ASC.INVALID_COMMAND_OPCODE[0];
      expect(unknown, `opcode ${op.toString(16)} listed=${ops.has(op)}`).to.equal(!ops.has(op));
    }
    const pr = list.filter((e) => e.op === SCSI_OP.PERSISTENT_RESERVE_OUT);
    expect(pr.map((e) => e.sa)).to.deep.equal([0, 1, 2, 3, 4, 5, 6]); // no REGISTER AND MOVE
    expect(pr.every((e) => e.servactv && e.cdbLength === 10)).to.equal(true);
    expect(list.find((e) => e.op === SCSI_OP.READ_12)).to.deep.equal({ op: SCSI_OP.READ_12, sa: 0, servactv: false, cdbLength: 12 });
  });

  it('a LUN without ATS does not list COMPARE AND WRITE', async () => {
    const list = parseAll(expectGood(await run(arr, A, 1, cdb.reportSupportedOpcodes())));
    expect(list.some((e) => e.op === SCSI_OP.COMPARE_AND_WRITE)).to.equal(false);
    const one = expectGood(await run(arr, A, 1, cdb.reportSupportedOpcodes(1, SCSI_OP.COMPARE_AND_WRITE)));
    expect(one[1]! & 0x07).to.equal(1); // not supported
  });

  it('one command: SUPPORT 011b with the CDB usage data; service-action commands need option 2', async () => {
    const d = expectGood(await run(arr, A, 0, cdb.reportSupportedOpcodes(1, SCSI_OP.READ_10)));
    expect(d[1]! & 0x07).to.equal(3);
    expect(d.readUInt16BE(2)).to.equal(10);
    expect([...d.subarray(4)]).to.deep.equal([0x28, 0x18, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, 0]);
    expectSense(await run(arr, A, 0, cdb.reportSupportedOpcodes(1, SCSI_OP.PERSISTENT_RESERVE_IN)), IR, ASC.INVALID_FIELD_IN_CDB);
    expectSense(await run(arr, A, 0, cdb.reportSupportedOpcodes(2, SCSI_OP.READ_10)), IR, ASC.INVALID_FIELD_IN_CDB);
    const rc = expectGood(await run(arr, A, 0, cdb.reportSupportedOpcodes(2, SCSI_OP.SERVICE_ACTION_IN_16, 0x10)));
    expect([rc[1]! & 0x07, rc.readUInt16BE(2), rc[4]]).to.deep.equal([3, 16, 0x9e]);
    const other = expectGood(await run(arr, A, 0, cdb.reportSupportedOpcodes(2, SCSI_OP.SERVICE_ACTION_IN_16, 0x11)));
    expect([other[1]! & 0x07, other.length]).to.deep.equal([1, 4]);
    expect(expectGood(await run(arr, A, 0, cdb.reportSupportedOpcodes(1, 0x0a)))[1]! & 0x07).to.equal(1); // WRITE (6)
    expectSense(await run(arr, A, 0, cdb.reportSupportedOpcodes(5)), IR, ASC.INVALID_FIELD_IN_CDB);
  });

  it('RCTD adds a 12-byte command timeouts descriptor (CTDP set) to each entry', async () => {
    const plain = parseAll(expectGood(await run(arr, A, 0, cdb.reportSupportedOpcodes())));
    const d = expectGood(await run(arr, A, 0, cdb.reportSupportedOpcodes(0, 0, 0, true)));
    const withT = parseAll(d, true);
    expect(withT).to.deep.equal(plain);
    expect(d[4 + 5]! & 0x02).to.equal(0x02);
    expect(d.readUInt16BE(4 + 8)).to.equal(10);
    const one = expectGood(await run(arr, A, 0, cdb.reportSupportedOpcodes(1, SCSI_OP.WRITE_16, 0, true)));
    expect([one[1]! & 0x80, one.length]).to.deep.equal([0x80, 4 + 16 + 12]);
  });

  it('truncated to the allocation length; another MAINTENANCE IN service action is INVALID FIELD IN CDB', async () => {
    const full = expectGood(await run(arr, A, 0, cdb.reportSupportedOpcodes()));
    expect(expectGood(await run(arr, A, 0, cdb.reportSupportedOpcodes(0, 0, 0, false, 10))).equals(full.subarray(0, 10))).to.equal(true);
    const c = cdb.reportSupportedOpcodes();
    c[1] = 0x0a;
    expectSense(await run(arr, A, 0, c), IR, ASC.INVALID_FIELD_IN_CDB);
  });
});
