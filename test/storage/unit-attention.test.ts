// Unit attentions of the SCSI target (lib/storage/unit-attention.ts through BlockTarget): LOGICAL UNIT RESET
// tells every nexus of the LUN once (SAM-5 §7.7), reservation changes tell the other registrants (SPC-4
// §5.13.11), INQUIRY / REPORT LUNS pass without clearing, REQUEST SENSE reports and clears, nexuses of a
// transport that does not report unit attentions are never sent one, and the per-nexus bounds.
import { expect } from 'chai';
import * as cdb from '../../lib/storage/cdb.js';
import { MemoryBlockStore } from '../../lib/storage/blockstore-memory.js';
import { CachedBlockStore } from '../../lib/storage/blockstore-cached.js';
import { PR_TYPE } from '../../lib/storage/reservations.js';
import { SCSI_STATUS, SENSE_KEY, type ScsiCommand, type ScsiResult } from '../../lib/storage/scsi.js';
import { parseFixedSense } from '../../lib/storage/sense.js';
import { BlockTarget } from '../../lib/storage/target.js';
import { MAX_PENDING_UNIT_ATTENTIONS, MAX_UA_NEXUSES, UA_ASC, UnitAttentions } from '../../lib/storage/unit-attention.js';
import { A, B, C, expectGood } from './helpers.js';

const UA = SENSE_KEY.UNIT_ATTENTION;

function newTarget(): BlockTarget {
  // the cached store has readBlockCb, so single-block READs through submit take the fast path
  const t = new BlockTarget(new CachedBlockStore(new MemoryBlockStore(), 1024 * 1024));
  expect(t.store.readBlockCb).to.be.a('function');
  t.addLun({ lun: 0, name: 'x', id: 'naa.6' + '0'.repeat(31), sizeBytes: 64 * 512, blockSizeBytes: 512, blocks: 64, createdAtMs: 0 });
  return t;
}

/** A command as iSCSI sends it (unit attentions reported). */
const iscsi = (t: BlockTarget, who: string, c: Buffer, dataOut?: Buffer): Promise<ScsiResult> =>
  t.execute({ initiator: who, lun: 0, cdb: c, ...(dataOut ? { dataOut } : {}), reportsUnitAttentions: true });
/** The callback entry (the fast path for single-block READs). */
const submitted = (t: BlockTarget, cmd: ScsiCommand): Promise<ScsiResult> => new Promise((r) => t.submit(cmd, null, (_c, res) => r(res)));

function expectUa(r: ScsiResult, asc: readonly [number, number]): void {
  expect(r.status).to.equal(SCSI_STATUS.CHECK_CONDITION);
  expect([r.sense!.key, r.sense!.asc, r.sense!.ascq]).to.deep.equal([UA, asc[0], asc[1]]);
}

describe('storage target: unit attentions', () => {
  it('LOGICAL UNIT RESET: every nexus of the LUN, the resetting one too, is told once with 29h/03h', async () => {
    const t = newTarget();
    expectGood(await iscsi(t, A, cdb.testUnitReady()));
    expectGood(await iscsi(t, B, cdb.testUnitReady()));
    t.logicalUnitReset(0);
    expectUa(await iscsi(t, A, cdb.testUnitReady()), UA_ASC.BUS_DEVICE_RESET_FUNCTION_OCCURRED);
    expectGood(await iscsi(t, A, cdb.testUnitReady()));
    // INQUIRY and REPORT LUNS pass and leave it pending; the READ fast path does not skip it
    expectGood(await iscsi(t, B, cdb.inquiry()));
    expectGood(await iscsi(t, B, cdb.reportLuns()));
    expectUa(await submitted(t, { initiator: B, lun: 0, cdb: cdb.read10(0, 1), reportsUnitAttentions: true }), UA_ASC.BUS_DEVICE_RESET_FUNCTION_OCCURRED);
    expectGood(await submitted(t, { initiator: B, lun: 0, cdb: cdb.read10(0, 1), reportsUnitAttentions: true }));
    // a nexus first seen after the reset has nothing pending
    expectGood(await iscsi(t, C, cdb.testUnitReady()));
  });

  it('REQUEST SENSE reports the pending unit attention and clears it', async () => {
    const t = newTarget();
    expectGood(await iscsi(t, A, cdb.testUnitReady()));
    t.logicalUnitReset(0);
    const s = parseFixedSense(expectGood(await iscsi(t, A, cdb.requestSense())));
    expect(s.ok && [s.value.key, s.value.asc, s.value.ascq]).to.deep.equal([UA, 0x29, 0x03]);
    const none = parseFixedSense(expectGood(await iscsi(t, A, cdb.requestSense())));
    expect(none.ok && none.value.key).to.equal(SENSE_KEY.NO_SENSE);
    expectGood(await iscsi(t, A, cdb.testUnitReady()));
  });

  it('a transport that does not report unit attentions (the block protocol) is never sent one', async () => {
    const t = newTarget();
    expectGood(await t.execute({ initiator: A, lun: 0, cdb: cdb.testUnitReady() }));
    t.logicalUnitReset(0);
    expectGood(await t.execute({ initiator: A, lun: 0, cdb: cdb.testUnitReady() }));
    expectGood(await submitted(t, { initiator: A, lun: 0, cdb: cdb.read10(0, 1) }));
  });

  it('I_T nexus loss forgets the nexus and what was pending for it', async () => {
    const t = newTarget();
    expectGood(await iscsi(t, A, cdb.testUnitReady()));
    t.logicalUnitReset(0);
    t.nexusLoss(A);
    expectGood(await iscsi(t, A, cdb.testUnitReady()));
  });

  describe('persistent reservation changes tell the other registrants (SPC-4 §5.13.11)', () => {
    const KA = 0xaan;
    const KB = 0xbbn;
    const KC = 0xccn;
    async function registered(): Promise<BlockTarget> {
      const t = newTarget();
      for (const [who, key] of [[A, KA], [B, KB], [C, KC]] as const) {
        const r = cdb.prOut.register(0n, key);
        expectGood(await iscsi(t, who, r.cdb, r.dataOut));
      }
      return t;
    }
    const prOut = (t: BlockTarget, who: string, c: cdb.CdbWithData) => iscsi(t, who, c.cdb, c.dataOut);

    it('PREEMPT: REGISTRATIONS PREEMPTED for the nexus it unregistered only', async () => {
      const t = await registered();
      expectGood(await prOut(t, A, cdb.prOut.reserve(KA, PR_TYPE.WRITE_EXCLUSIVE)));
      expectGood(await prOut(t, B, cdb.prOut.preempt(KB, KA, PR_TYPE.WRITE_EXCLUSIVE)));
      expectUa(await iscsi(t, A, cdb.testUnitReady()), UA_ASC.REGISTRATIONS_PREEMPTED);
      expectGood(await iscsi(t, C, cdb.testUnitReady()));
      expectGood(await iscsi(t, B, cdb.testUnitReady()));
    });

    it('CLEAR: RESERVATIONS PREEMPTED for every other registrant', async () => {
      const t = await registered();
      expectGood(await prOut(t, A, cdb.prOut.clear(KA)));
      expectUa(await iscsi(t, B, cdb.testUnitReady()), UA_ASC.RESERVATIONS_PREEMPTED);
      expectUa(await iscsi(t, C, cdb.testUnitReady()), UA_ASC.RESERVATIONS_PREEMPTED);
      expectGood(await iscsi(t, A, cdb.testUnitReady()));
    });

    it('RELEASE of a registrants-only reservation: RESERVATIONS RELEASED; of Write Exclusive: nothing', async () => {
      const t = await registered();
      expectGood(await prOut(t, A, cdb.prOut.reserve(KA, PR_TYPE.WRITE_EXCLUSIVE_REGISTRANTS_ONLY)));
      expectGood(await prOut(t, A, cdb.prOut.release(KA, PR_TYPE.WRITE_EXCLUSIVE_REGISTRANTS_ONLY)));
      expectUa(await iscsi(t, B, cdb.testUnitReady()), UA_ASC.RESERVATIONS_RELEASED);
      expectUa(await iscsi(t, C, cdb.testUnitReady()), UA_ASC.RESERVATIONS_RELEASED);
      expectGood(await iscsi(t, A, cdb.testUnitReady()));
      expectGood(await prOut(t, A, cdb.prOut.reserve(KA, PR_TYPE.WRITE_EXCLUSIVE)));
      expectGood(await prOut(t, A, cdb.prOut.release(KA, PR_TYPE.WRITE_EXCLUSIVE)));
      expectGood(await iscsi(t, B, cdb.testUnitReady()));
    });
  });

  it('bounds: MAX_PENDING_UNIT_ATTENTIONS per nexus (oldest told first), MAX_UA_NEXUSES nexuses (oldest forgotten)', () => {
    const u = new UnitAttentions();
    u.seen(A);
    for (let i = 0; i < MAX_PENDING_UNIT_ATTENTIONS + 3; i++) u.raise(i === 0 ? UA_ASC.RESERVATIONS_RELEASED : UA_ASC.BUS_DEVICE_RESET_FUNCTION_OCCURRED);
    expect(u.take(A)!.asc).to.equal(0x2a);
    let n = 1;
    while (u.take(A) !== undefined) n++;
    expect(n).to.equal(MAX_PENDING_UNIT_ATTENTIONS);
    expect(u.quiet).to.equal(true);
    for (let i = 0; i <= MAX_UA_NEXUSES; i++) u.seen(`n${i}`);
    expect(u.knows(A)).to.equal(false);
    expect(u.knows(`n${MAX_UA_NEXUSES}`)).to.equal(true);
  });
});
