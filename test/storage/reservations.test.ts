// SPC-2 RESERVE/RELEASE and SPC-4 persistent reservations through the target: conflicts for a second
// initiator, the access table of each PR type (§7.7 ATS+SCSI locking relies on these), REGISTER rules,
// RESERVE/RELEASE, CLEAR, PREEMPT, PRgeneration.
import { expect } from 'chai';
import { openArray, type StorageArray } from '../../lib/storage/array.js';
import * as cdb from '../../lib/storage/cdb.js';
import { PR_TYPE, type PrType } from '../../lib/storage/reservations.js';
import { ASC, SCSI_STATUS, SENSE_KEY } from '../../lib/storage/scsi.js';
import { ASC_EXTRA } from '../../lib/storage/sense.js';
import { A, B, C, expectConflict, expectGood, expectSense, run } from './helpers.js';

const IR = SENSE_KEY.ILLEGAL_REQUEST;
const KA = 0xaaaa0001n;
const KB = 0xbbbb0002n;

describe('storage reservations', () => {
  let arr: StorageArray;
  beforeEach(async () => {
    arr = await openArray({ name: 'res' });
    await arr.createLun({ name: 'ds', sizeBytes: 512 * 64 });
  });
  afterEach(() => arr.close());

  const pr = (who: string, c: cdb.CdbWithData) => run(arr, who, 0, c.cdb, c.dataOut);
  const canRead = async (who: string) => (await run(arr, who, 0, cdb.read10(0, 1))).status === SCSI_STATUS.GOOD;
  const canWrite = async (who: string) =>
    (await run(arr, who, 0, cdb.write10(0, 1), Buffer.alloc(512, 1))).status === SCSI_STATUS.GOOD;
  const keys = async () => cdb.parseReadKeys(expectGood(await run(arr, C, 0, cdb.prIn.readKeys())))!;
  const reservation = async () => cdb.parseReadReservation(expectGood(await run(arr, C, 0, cdb.prIn.readReservation())))!;

  describe('SPC-2 RESERVE/RELEASE (§7.7 ATS+SCSI: whole-LUN reservation)', () => {
    for (const [label, reserve, release] of [
      ['6', cdb.reserve6, cdb.release6],
      ['10', cdb.reserve10, cdb.release10],
    ] as const) {
      it(`RESERVE(${label}) gives the holder the LUN; others get RESERVATION CONFLICT except INQUIRY/REPORT LUNS/REQUEST SENSE/RELEASE`, async () => {
        expectGood(await run(arr, A, 0, reserve()));
        expectGood(await run(arr, A, 0, reserve())); // holder may reserve again
        expect(await canWrite(A)).to.equal(true);
        expect(await canRead(B)).to.equal(false);
        expect(await canWrite(B)).to.equal(false);
        expectConflict(await run(arr, B, 0, cdb.testUnitReady()));
        expectConflict(await run(arr, B, 0, cdb.readCapacity10()));
        expectConflict(await run(arr, B, 0, reserve()));
        expectConflict(await run(arr, B, 0, cdb.prIn.readKeys()));
        expectGood(await run(arr, B, 0, cdb.inquiry()));
        expectGood(await run(arr, B, 0, cdb.reportLuns()));
        expectGood(await run(arr, B, 0, cdb.requestSense()));
        expectGood(await run(arr, B, 0, release())); // no effect for a non-holder
        expect(await canWrite(B)).to.equal(false);
        expectGood(await run(arr, A, 0, release()));
        expect(await canWrite(B)).to.equal(true);
        expect(arr.stats().luns[0]!.reservationConflicts).to.be.greaterThan(0);
      });
    }

    it('a reservation of LUN 0 does not affect LUN 1', async () => {
      await arr.createLun({ name: 'ds2', sizeBytes: 512 * 8 });
      expectGood(await run(arr, A, 0, cdb.reserve6()));
      expectGood(await run(arr, B, 1, cdb.write10(0, 1), Buffer.alloc(512, 2)));
    });

    it('I_T nexus loss and LOGICAL UNIT RESET release it', async () => {
      expectGood(await run(arr, A, 0, cdb.reserve10()));
      arr.nexusLoss(A);
      expect(await canWrite(B)).to.equal(true);
      expectGood(await run(arr, A, 0, cdb.reserve10()));
      arr.logicalUnitReset('ds');
      expect(await canWrite(B)).to.equal(true);
    });

    it('third-party RESERVE is refused with INVALID FIELD IN CDB', async () => {
      const c = cdb.reserve10();
      c[1] = 0x10;
      expectSense(await run(arr, A, 0, c), IR, ASC.INVALID_FIELD_IN_CDB);
    });

    it('RESERVE/RELEASE conflict while persistent registrations exist', async () => {
      expectGood(await pr(A, cdb.prOut.register(0n, KA)));
      expectConflict(await run(arr, A, 0, cdb.reserve6()));
      expectConflict(await run(arr, B, 0, cdb.release10()));
    });

    it('PERSISTENT RESERVE OUT from another initiator conflicts with an SPC-2 reservation', async () => {
      expectGood(await run(arr, A, 0, cdb.reserve6()));
      expectConflict(await pr(B, cdb.prOut.register(0n, KB)));
    });
  });

  describe('PERSISTENT RESERVE OUT: REGISTER', () => {
    it('registers, changes and removes keys; READ KEYS and PRgeneration follow', async () => {
      expect(await keys()).to.deep.equal({ generation: 0, keys: [] });
      expectGood(await pr(A, cdb.prOut.register(0n, KA)));
      expectGood(await pr(B, cdb.prOut.register(0n, KB)));
      expect(await keys()).to.deep.equal({ generation: 2, keys: [KA, KB] });
      expectGood(await pr(A, cdb.prOut.register(KA, 0x77n)));
      expect((await keys()).keys).to.deep.equal([0x77n, KB]);
      expectGood(await pr(A, cdb.prOut.register(0x77n, 0n)));
      expect(await keys()).to.deep.equal({ generation: 4, keys: [KB] });
    });

    it('REGISTER with a wrong reservation key is RESERVATION CONFLICT (registered or not)', async () => {
      expectConflict(await pr(A, cdb.prOut.register(0x1n, KA)));
      expectGood(await pr(A, cdb.prOut.register(0n, KA)));
      expectConflict(await pr(A, cdb.prOut.register(0x1n, 0x2n)));
      expect((await keys()).keys).to.deep.equal([KA]);
    });

    it('REGISTER AND IGNORE EXISTING KEY replaces the key whatever the reservation key says', async () => {
      expectGood(await pr(A, cdb.prOut.register(0n, KA)));
      expectGood(await pr(A, cdb.prOut.registerAndIgnore(0x99n)));
      expect((await keys()).keys).to.deep.equal([0x99n]);
    });

    it('parameter list length other than 24 is PARAMETER LIST LENGTH ERROR; SPEC_I_PT is INVALID FIELD IN PARAMETER LIST', async () => {
      const c = cdb.prOutCdb(0, 0, 20);
      expectSense(await run(arr, A, 0, c, Buffer.alloc(20)), IR, ASC.PARAMETER_LIST_LENGTH_ERROR);
      expectSense(await run(arr, A, 0, cdb.prOutCdb(0), Buffer.alloc(23)), IR, ASC.PARAMETER_LIST_LENGTH_ERROR);
      expectSense(await run(arr, A, 0, cdb.prOutCdb(0), cdb.prOutParams(0n, KA, 0x08)), IR, ASC.INVALID_FIELD_IN_PARAMETER_LIST);
      expectSense(await run(arr, A, 0, cdb.prOutCdb(0x07), cdb.prOutParams(0n, KA)), IR, ASC.INVALID_FIELD_IN_CDB);
      expect((await keys()).keys).to.deep.equal([]);
    });
  });

  describe('PERSISTENT RESERVE OUT: RESERVE / RELEASE / CLEAR / PREEMPT', () => {
    beforeEach(async () => {
      expectGood(await pr(A, cdb.prOut.register(0n, KA)));
      expectGood(await pr(B, cdb.prOut.register(0n, KB)));
    });

    it('RESERVE needs a registration and the right key; a second holder conflicts', async () => {
      expectConflict(await pr(C, cdb.prOut.reserve(0n, PR_TYPE.WRITE_EXCLUSIVE)));
      expectConflict(await pr(A, cdb.prOut.reserve(KB, PR_TYPE.WRITE_EXCLUSIVE)));
      expectGood(await pr(A, cdb.prOut.reserve(KA, PR_TYPE.WRITE_EXCLUSIVE)));
      expectGood(await pr(A, cdb.prOut.reserve(KA, PR_TYPE.WRITE_EXCLUSIVE))); // same holder, same type
      expectConflict(await pr(A, cdb.prOut.reserve(KA, PR_TYPE.EXCLUSIVE_ACCESS))); // other type
      expectConflict(await pr(B, cdb.prOut.reserve(KB, PR_TYPE.WRITE_EXCLUSIVE)));
      expect(await reservation()).to.deep.equal({ generation: 2, reservation: { key: KA, scope: 0, type: 1 } });
    });

    it('invalid type or scope is INVALID FIELD IN CDB', async () => {
      expectSense(await pr(A, cdb.prOut.reserve(KA, 2 as PrType)), IR, ASC.INVALID_FIELD_IN_CDB);
      const c = cdb.prOut.reserve(KA, PR_TYPE.WRITE_EXCLUSIVE);
      c.cdb[2] |= 0x10;
      expectSense(await pr(A, c), IR, ASC.INVALID_FIELD_IN_CDB);
    });

    it('RELEASE: non-holder has no effect; wrong type is INVALID RELEASE OF PERSISTENT RESERVATION; holder releases', async () => {
      expectGood(await pr(A, cdb.prOut.reserve(KA, PR_TYPE.EXCLUSIVE_ACCESS)));
      expectGood(await pr(B, cdb.prOut.release(KB, PR_TYPE.EXCLUSIVE_ACCESS)));
      expect((await reservation()).reservation).to.not.equal(null);
      expectSense(await pr(A, cdb.prOut.release(KA, PR_TYPE.WRITE_EXCLUSIVE)), IR, ASC_EXTRA.INVALID_RELEASE_OF_PERSISTENT_RESERVATION);
      expectConflict(await pr(C, cdb.prOut.release(0n, PR_TYPE.EXCLUSIVE_ACCESS)));
      expectGood(await pr(A, cdb.prOut.release(KA, PR_TYPE.EXCLUSIVE_ACCESS)));
      expect((await reservation()).reservation).to.equal(null);
      expect(await canWrite(B)).to.equal(true);
    });

    it('unregistering the holder releases a single-holder reservation', async () => {
      expectGood(await pr(A, cdb.prOut.reserve(KA, PR_TYPE.EXCLUSIVE_ACCESS)));
      expectGood(await pr(A, cdb.prOut.register(KA, 0n)));
      expect((await reservation()).reservation).to.equal(null);
    });

    it('CLEAR removes every registration and the reservation', async () => {
      expectGood(await pr(A, cdb.prOut.reserve(KA, PR_TYPE.EXCLUSIVE_ACCESS)));
      expectConflict(await pr(B, cdb.prOut.clear(KA))); // wrong key for B
      expectGood(await pr(B, cdb.prOut.clear(KB)));
      expect((await keys()).keys).to.deep.equal([]);
      expect((await reservation()).reservation).to.equal(null);
      expect(await canWrite(C)).to.equal(true);
    });

    for (const abort of [false, true]) {
      const name = abort ? 'PREEMPT AND ABORT' : 'PREEMPT';
      const preempt = abort ? cdb.prOut.preemptAndAbort : cdb.prOut.preempt;
      it(`${name} of the holder's key: its registration goes, the preempter holds the new type`, async () => {
        expectGood(await pr(A, cdb.prOut.reserve(KA, PR_TYPE.EXCLUSIVE_ACCESS)));
        expect(await canRead(B)).to.equal(false);
        const gen = (await keys()).generation;
        expectGood(await pr(B, preempt(KB, KA, PR_TYPE.WRITE_EXCLUSIVE)));
        expect(await keys()).to.deep.equal({ generation: gen + 1, keys: [KB] });
        expect(await reservation()).to.deep.include({ reservation: { key: KB, scope: 0, type: PR_TYPE.WRITE_EXCLUSIVE } });
        expect(await canWrite(A)).to.equal(false); // A is no longer registered
        expect(await canRead(A)).to.equal(true); // WE lets anyone read
        expect(await canWrite(B)).to.equal(true);
      });
    }

    it('PREEMPT of a non-holder key removes only that registration; unknown key conflicts; key 0 is invalid', async () => {
      expectGood(await pr(C, cdb.prOut.register(0n, 0xccn)));
      expectGood(await pr(A, cdb.prOut.reserve(KA, PR_TYPE.WRITE_EXCLUSIVE_REGISTRANTS_ONLY)));
      expectGood(await pr(A, cdb.prOut.preempt(KA, 0xccn, PR_TYPE.WRITE_EXCLUSIVE_REGISTRANTS_ONLY)));
      expect((await keys()).keys).to.deep.equal([KA, KB]);
      expect((await reservation()).reservation!.key).to.equal(KA);
      expectConflict(await pr(A, cdb.prOut.preempt(KA, 0x1234n, PR_TYPE.WRITE_EXCLUSIVE_REGISTRANTS_ONLY)));
      expectSense(await pr(A, cdb.prOut.preempt(KA, 0n, PR_TYPE.WRITE_EXCLUSIVE_REGISTRANTS_ONLY)), IR, ASC.INVALID_FIELD_IN_PARAMETER_LIST);
    });

    it('PREEMPT with key 0 of an all-registrants reservation removes all others and takes a new reservation', async () => {
      expectGood(await pr(C, cdb.prOut.register(0n, 0xccn)));
      expectGood(await pr(A, cdb.prOut.reserve(KA, PR_TYPE.EXCLUSIVE_ACCESS_ALL_REGISTRANTS)));
      expectGood(await pr(B, cdb.prOut.preempt(KB, 0n, PR_TYPE.EXCLUSIVE_ACCESS)));
      expect((await keys()).keys).to.deep.equal([KB]);
      expect((await reservation()).reservation).to.deep.equal({ key: KB, scope: 0, type: PR_TYPE.EXCLUSIVE_ACCESS });
    });

    it('all-registrants: READ RESERVATION key is 0; the reservation lives until the last registrant leaves', async () => {
      expectGood(await pr(A, cdb.prOut.reserve(KA, PR_TYPE.WRITE_EXCLUSIVE_ALL_REGISTRANTS)));
      expect((await reservation()).reservation!.key).to.equal(0n);
      expectGood(await pr(B, cdb.prOut.reserve(KB, PR_TYPE.WRITE_EXCLUSIVE_ALL_REGISTRANTS))); // B is a holder too
      expectGood(await pr(A, cdb.prOut.register(KA, 0n)));
      expect((await reservation()).reservation).to.not.equal(null);
      expectGood(await pr(B, cdb.prOut.register(KB, 0n)));
      expect((await reservation()).reservation).to.equal(null);
    });

    it('REPORT CAPABILITIES: PTPL_A, type mask with all six types', async () => {
      const d = expectGood(await run(arr, C, 0, cdb.prIn.reportCapabilities()));
      expect(d.readUInt16BE(0)).to.equal(8);
      expect(d[3]! & 0x81).to.equal(0x81);
      expect(d.readUInt16BE(4)).to.equal(0xea01);
      expectSense(await run(arr, C, 0, cdb.prInCdb(0x04)), IR, ASC.INVALID_FIELD_IN_CDB);
    });

    it('READ FULL STATUS: a descriptor per registration with key, R_HOLDER, type and an iSCSI TransportID', async () => {
      const port = 'iqn.2026-01.test:c,i,0x800012345601';
      expectGood(await pr(port, cdb.prOut.register(0n, 0xccn)));
      expectGood(await pr(A, cdb.prOut.reserve(KA, PR_TYPE.WRITE_EXCLUSIVE)));
      const d = expectGood(await run(arr, C, 0, cdb.prIn.readFullStatus()));
      expect(d.readUInt32BE(0)).to.equal(3); // PRgeneration: three registrations
      expect(d.readUInt32BE(4)).to.equal(d.length - 8);
      const descs: Array<{ key: bigint; holder: boolean; type: number; format: number; proto: number; name: string }> = [];
      for (let o = 8; o < d.length; ) {
        const idBytes = d.readUInt32BE(o + 20);
        const id = d.subarray(o + 24, o + 24 + idBytes);
        expect(id.readUInt16BE(2) % 4).to.equal(0);
        expect(id.readUInt16BE(2)).to.be.at.least(20).and.equal(idBytes - 4);
        descs.push({ key: d.readBigUInt64BE(o), holder: (d[o + 12]! & 1) === 1, type: d[o + 13]!, format: id[0]! >> 6, proto: id[0]! & 0x0f, name: id.subarray(4).toString('utf8').replace(/\0+$/, '') });
        o += 24 + idBytes;
      }
      expect(descs).to.deep.equal([
        { key: KA, holder: true, type: PR_TYPE.WRITE_EXCLUSIVE, format: 0, proto: 5, name: A },
        { key: KB, holder: false, type: 0, format: 0, proto: 5, name: B },
        { key: 0xccn, holder: false, type: 0, format: 1, proto: 5, name: port },
      ]);
      // truncated to the allocation length, the header still tells the whole length
      const short = expectGood(await run(arr, C, 0, cdb.prIn.readFullStatus(12)));
      expect(short.length).to.equal(12);
      expect(short.readUInt32BE(4)).to.equal(d.length - 8);
    });
  });

  describe('access rules per persistent reservation type (SPC-4 Table 66 / SBC-3 Table 13)', () => {
    // [type, registered non-holder may read, may write, unregistered may read, may write]
    const table: Array<[string, PrType, boolean, boolean, boolean, boolean]> = [
      ['Write Exclusive', PR_TYPE.WRITE_EXCLUSIVE, true, false, true, false],
      ['Exclusive Access', PR_TYPE.EXCLUSIVE_ACCESS, false, false, false, false],
      ['WE Registrants Only', PR_TYPE.WRITE_EXCLUSIVE_REGISTRANTS_ONLY, true, true, true, false],
      ['EA Registrants Only', PR_TYPE.EXCLUSIVE_ACCESS_REGISTRANTS_ONLY, true, true, false, false],
      ['WE All Registrants', PR_TYPE.WRITE_EXCLUSIVE_ALL_REGISTRANTS, true, true, true, false],
      ['EA All Registrants', PR_TYPE.EXCLUSIVE_ACCESS_ALL_REGISTRANTS, true, true, false, false],
    ];
    for (const [name, type, regRead, regWrite, unRead, unWrite] of table) {
      it(`${name} (${type}): holder all; registered ${regRead ? 'R' : '-'}${regWrite ? 'W' : '-'}; unregistered ${unRead ? 'R' : '-'}${unWrite ? 'W' : '-'}`, async () => {
        expectGood(await pr(A, cdb.prOut.register(0n, KA)));
        expectGood(await pr(B, cdb.prOut.register(0n, KB)));
        expectGood(await pr(A, cdb.prOut.reserve(KA, type)));
        expect([await canRead(A), await canWrite(A)]).to.deep.equal([true, true]);
        expect([await canRead(B), await canWrite(B)]).to.deep.equal([regRead, regWrite]);
        expect([await canRead(C), await canWrite(C)]).to.deep.equal([unRead, unWrite]);
        // commands every type allows (SPC-4 Table 66)
        for (const who of [B, C]) {
          expectGood(await run(arr, who, 0, cdb.testUnitReady()));
          expectGood(await run(arr, who, 0, cdb.readCapacity16()));
          expectGood(await run(arr, who, 0, cdb.inquiry()));
          expectGood(await run(arr, who, 0, cdb.prIn.readReservation()));
        }
        // write-class commands follow the write column
        const syncOk = (await run(arr, C, 0, cdb.synchronizeCache10())).status === SCSI_STATUS.GOOD;
        const cawOk = (await run(arr, C, 0, cdb.compareAndWrite(5, 1), Buffer.alloc(1024))).status !== SCSI_STATUS.RESERVATION_CONFLICT;
        const unmapCmd = cdb.unmapCommand([{ lba: 9, blocks: 1 }]);
        const unmapOk = (await run(arr, C, 0, unmapCmd.cdb, unmapCmd.dataOut)).status === SCSI_STATUS.GOOD;
        expect([syncOk, cawOk, unmapOk]).to.deep.equal([unWrite, unWrite, unWrite]);
        // an unregistered initiator cannot RESERVE/RELEASE/CLEAR/PREEMPT, but can REGISTER
        expectConflict(await pr(C, cdb.prOut.clear(0n)));
        expectGood(await pr(C, cdb.prOut.register(0n, 0xccn)));
      });
    }
  });
});
