// Shared helpers for storage tests: run a command, assert status/sense, build patterned blocks.
import { expect } from 'chai';
import { SCSI_STATUS, type ScsiResult, type ScsiTarget } from '../../lib/storage/scsi.js';

export const A = 'iqn.1998-01.com.vmware:esx-a';
export const B = 'iqn.1998-01.com.vmware:esx-b';
export const C = 'iqn.1998-01.com.vmware:esx-c';

export function run(t: ScsiTarget, initiator: string, lun: number, cdb: Uint8Array, dataOut?: Uint8Array): Promise<ScsiResult> {
  return t.execute(dataOut === undefined ? { initiator, lun, cdb } : { initiator, lun, cdb, dataOut });
}

export function expectGood(r: ScsiResult): Buffer {
  expect(r.status, `status ${r.status} sense ${JSON.stringify(r.sense)}`).to.equal(SCSI_STATUS.GOOD);
  expect(r.sense).to.equal(undefined);
  return r.dataIn === undefined ? Buffer.alloc(0) : Buffer.from(r.dataIn);
}

export function expectSense(r: ScsiResult, key: number, asc: readonly [number, number], information?: number): void {
  expect(r.status).to.equal(SCSI_STATUS.CHECK_CONDITION);
  expect(r.sense, 'sense present').to.not.equal(undefined);
  expect([r.sense!.key, r.sense!.asc, r.sense!.ascq]).to.deep.equal([key, asc[0], asc[1]]);
  if (information !== undefined) expect(r.sense!.information).to.equal(information);
}

export function expectConflict(r: ScsiResult): void {
  expect(r.status).to.equal(SCSI_STATUS.RESERVATION_CONFLICT);
  expect(r.sense).to.equal(undefined);
}

export function blocksOf(count: number, blockSizeBytes: number, seed: number): Buffer {
  const b = Buffer.alloc(count * blockSizeBytes);
  for (let i = 0; i < b.length; i++) b[i] = (i * 13 + seed * 101 + (i >> 8)) & 0xff;
  return b;
}
