// The full feature phase of an iSCSI session (lib/iscsi/session.ts) driven PDU by PDU with a fake SCSI
// executor: reads split at every MaxRecvDataSegmentLength and MaxBurstLength with status in the last
// Data-In, sense in the SCSI Response, residuals; writes under every ImmediateData x InitialR2T
// combination at the FirstBurstLength and MaxBurstLength boundaries; Data-Out checks; the CmdSN window;
// Task Management (abort of a task waiting for Data-Out and of a running one, resets); NOP, Logout and
// Text. Every PDU the session sends is emitted and parsed again (it must be valid on the wire). One test
// runs the real lib/storage target (BlockTarget over a MemoryBlockStore) behind the session.

import { expect } from 'chai';
import { FLAG, OPCODE, REJECT_REASON, RESERVED_TAG, emitPdu, makePdu, parsePdu, type Pdu, type PduOf } from '../../lib/iscsi/pdu.js';
import { sessionParams, type SessionParams } from '../../lib/iscsi/negotiate.js';
import {
  ISCSI_ASC,
  ISCSI_MAX_TRANSFER_BYTES,
  IscsiSession,
  SESSION_MAX_DATA_OUT_BYTES,
  LOGOUT_RESPONSE,
  SESSION_MAX_IMMEDIATE_TASKS,
  TMF,
  TMF_RESPONSE,
  UNADDRESSABLE_LUN,
  decodeLun,
  encodeLun,
  initiatorPortName,
  type SessionAction,
} from '../../lib/iscsi/session.js';
import { encodeText } from '../../lib/iscsi/text.js';
import { SCSI_STATUS, SENSE_KEY, ASC, type ScsiCommand } from '../../lib/storage/scsi.js';
import { parseFixedSense } from '../../lib/storage/sense.js';
import * as cdb from '../../lib/storage/cdb.js';
import { BlockTarget } from '../../lib/storage/target.js';
import { seededRandom } from '../../lib/clock.js';
import { TARGET_CMD_WINDOW } from '../../lib/iscsi/negotiate.js';
import { MemoryBlockStore } from '../../lib/storage/blockstore-memory.js';

const ISID = Uint8Array.from([0x80, 0x12, 0x34, 0x56, 0x00, 0x01]);
const INITIATOR = 'iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-test';
const TARGET = 'iqn.2026-01.dev.vfab:array1';

function params(over: Partial<SessionParams> = {}): SessionParams {
  return { ...sessionParams(new Map([['InitiatorName', INITIATOR], ['TargetName', TARGET]]), true), ...over };
}

function newSession(over: Partial<SessionParams> = {}, window?: number): IscsiSession {
  cmdSN = 10;
  return new IscsiSession({
    params: params(over),
    isid: ISID,
    cid: 1,
    expCmdSN: 10,
    statSN: 100,
    agreed: new Map(),
    targets: [{ name: TARGET, portals: ['127.0.0.1:3260'], portalGroupTag: 1 }],
    ...(window !== undefined ? { cmdWindow: window } : {}),
  });
}

/** Every PDU the session sends goes through emit and parse, so it is valid on the wire. */
function wire(p: Pdu): Pdu {
  const r = parsePdu(emitPdu(p), 0, { header: false, data: false });
  if (!r.ok) throw r.error;
  return r.value.pdu;
}
const sent = (acts: SessionAction[]): Pdu[] => acts.filter((a) => a.kind === 'send').map((a) => wire((a as { pdu: Pdu }).pdu));
const executes = (acts: SessionAction[]): Array<{ itt: number; cmd: ScsiCommand }> =>
  acts.filter((a) => a.kind === 'execute') as Array<{ kind: 'execute'; itt: number; cmd: ScsiCommand }>;
const ofType = <Op extends Pdu['opcode']>(pdus: Pdu[], op: Op): Array<PduOf<Op>> => pdus.filter((p) => p.opcode === op) as unknown as Array<PduOf<Op>>;

let cmdSN = 10;
function scsiCmd(itt: number, flags: number, edtl: number, cdbBytes: Uint8Array, extra: Partial<PduOf<typeof OPCODE.SCSI_COMMAND>> = {}): PduOf<typeof OPCODE.SCSI_COMMAND> {
  const c = new Uint8Array(16);
  c.set(cdbBytes);
  return makePdu(OPCODE.SCSI_COMMAND, { itt, flags, expectedDataTransferLength: edtl, cmdSN: cmdSN++, expStatSN: 100, cdb: c, lun: encodeLun(0), ...extra });
}
const dataOut = (itt: number, ttt: number, offset: number, data: Uint8Array, dataSN: number, final: boolean): PduOf<typeof OPCODE.DATA_OUT> =>
  makePdu(OPCODE.DATA_OUT, { itt, ttt, bufferOffset: offset, dataSN, flags: final ? FLAG.F : 0, data, lun: encodeLun(0) });

const pattern = (n: number, seed = 1): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

beforeEach(() => {
  cmdSN = 10;
});

describe('iscsi session: LUN field (SAM-5 single level)', () => {
  it('peripheral below 256, flat up to 16383, as REPORT LUNS of lib/storage writes them', () => {
    expect(encodeLun(0)).to.equal(0n);
    expect(encodeLun(5)).to.equal(0x0005n << 48n);
    expect(encodeLun(300)).to.equal(BigInt(0x4000 | 300) << 48n);
    for (const n of [0, 1, 255, 256, 1000, 16383]) expect(decodeLun(encodeLun(n))).to.equal(n);
    expect(decodeLun(0x0105n << 48n)).to.equal(UNADDRESSABLE_LUN); // bus 1
    expect(decodeLun((5n << 48n) | 1n)).to.equal(UNADDRESSABLE_LUN); // second level
    expect(decodeLun(0x8000n << 48n)).to.equal(UNADDRESSABLE_LUN); // logical unit addressing
    expect(() => encodeLun(16384)).to.throw(RangeError);
  });

  it('commands carry the SCSI initiator port name (name,i,0xISID) as the I_T nexus identity', () => {
    const s = newSession();
    const ex = executes(s.receive(scsiCmd(1, FLAG.F, 0, cdb.testUnitReady())));
    expect(ex[0]!.cmd.initiator).to.equal(`${INITIATOR},i,0x801234560001`);
    expect(initiatorPortName('a', ISID)).to.not.equal(initiatorPortName('a', Uint8Array.from([0x80, 0x12, 0x34, 0x56, 0x00, 0x02])));
  });
});

describe('iscsi session: reads (Data-In)', () => {
  for (const mrdsl of [512, 1000, 4096, 8192, 65536]) {
    for (const len of [1, mrdsl - 1, mrdsl, mrdsl + 1, 3 * mrdsl, 20000]) {
      it(`${len} bytes at MaxRecvDataSegmentLength ${mrdsl}: contiguous Data-Ins, DataSN from 0, status in the last`, () => {
        const s = newSession({ initiatorMaxRecvDataSegmentBytes: mrdsl, maxBurstBytes: 262144 });
        const data = pattern(len);
        const ex = executes(s.receive(scsiCmd(7, FLAG.F | FLAG.READ, len, cdb.read10(0, 1))));
        expect(ex).to.have.length(1);
        const pdus = sent(s.complete(7, { status: SCSI_STATUS.GOOD, dataIn: data }));
        const dins = ofType(pdus, OPCODE.DATA_IN);
        expect(pdus).to.have.length(dins.length); // no separate SCSI Response
        expect(dins).to.have.length(Math.ceil(len / mrdsl));
        let off = 0;
        dins.forEach((d, i) => {
          expect(d.data.length).to.be.at.most(mrdsl);
          expect(d.bufferOffset).to.equal(off);
          expect(d.dataSN).to.equal(i);
          expect(d.itt).to.equal(7);
          off += d.data.length;
          const last = i === dins.length - 1;
          expect((d.flags & FLAG.STATUS) !== 0).to.equal(last);
          expect((d.flags & FLAG.F) !== 0).to.equal(last);
        });
        expect(Buffer.concat(dins.map((d) => d.data)).equals(Buffer.from(data))).to.equal(true);
        const last = dins[dins.length - 1]!;
        expect(last.status).to.equal(SCSI_STATUS.GOOD);
        expect(last.statSN).to.equal(100);
        expect(s.nextStatSN).to.equal(101); // only the status-carrying PDU takes a StatSN
        expect(last.flags & (FLAG.UNDERFLOW | FLAG.OVERFLOW)).to.equal(0);
      });
    }
  }

  it('F marks the end of each MaxBurstLength sequence; DataSN runs on across sequences', () => {
    const s = newSession({ initiatorMaxRecvDataSegmentBytes: 4096, maxBurstBytes: 10000 });
    s.receive(scsiCmd(3, FLAG.F | FLAG.READ, 25000, cdb.read10(0, 1)));
    const dins = ofType(sent(s.complete(3, { status: SCSI_STATUS.GOOD, dataIn: pattern(25000) })), OPCODE.DATA_IN);
    const finals = dins.filter((d) => (d.flags & FLAG.F) !== 0).map((d) => d.bufferOffset + d.data.length);
    expect(finals).to.deep.equal([10000, 20000, 25000]);
    for (const d of dins) expect(Math.floor(d.bufferOffset / 10000)).to.equal(Math.floor((d.bufferOffset + d.data.length - 1) / 10000)); // never across a burst
    expect(dins.map((d) => d.dataSN)).to.deep.equal(dins.map((_, i) => i));
  });

  it('CHECK CONDITION: a SCSI Response with the sense behind a 2-byte SenseLength, no Data-In', () => {
    const s = newSession();
    s.receive(scsiCmd(4, FLAG.F | FLAG.READ, 512, cdb.read10(99999, 1)));
    const pdus = sent(s.complete(4, { status: SCSI_STATUS.CHECK_CONDITION, sense: { key: SENSE_KEY.ILLEGAL_REQUEST, asc: 0x21, ascq: 0 } }));
    expect(pdus).to.have.length(1);
    const r = pdus[0] as PduOf<typeof OPCODE.SCSI_RESPONSE>;
    expect(r.opcode).to.equal(OPCODE.SCSI_RESPONSE);
    expect(r.status).to.equal(SCSI_STATUS.CHECK_CONDITION);
    const senseLen = (r.data[0]! << 8) | r.data[1]!;
    expect(senseLen).to.equal(r.data.length - 2);
    const sense = parseFixedSense(r.data.subarray(2));
    expect(sense.ok && sense.value).to.deep.include({ key: SENSE_KEY.ILLEGAL_REQUEST, asc: 0x21, ascq: 0 });
    expect(r.flags & FLAG.UNDERFLOW).to.equal(FLAG.UNDERFLOW); // nothing of the 512 bytes moved
    expect(r.residualCount).to.equal(512);
  });

  it('CHECK CONDITION with data-in: the data goes in Data-Ins without the S bit, status and sense in a SCSI Response', () => {
    const s = newSession({ initiatorMaxRecvDataSegmentBytes: 8192 });
    s.receive(scsiCmd(5, FLAG.F | FLAG.READ, 512, cdb.read10(0, 1)));
    const pdus = sent(s.complete(5, { status: SCSI_STATUS.CHECK_CONDITION, dataIn: pattern(512), sense: { key: SENSE_KEY.MEDIUM_ERROR, asc: 0x11, ascq: 0 } }));
    expect(pdus.map((p) => p.opcode)).to.deep.equal([OPCODE.DATA_IN, OPCODE.SCSI_RESPONSE]);
    expect(pdus[0]!.flags & FLAG.STATUS).to.equal(0);
    const r = pdus[1] as PduOf<typeof OPCODE.SCSI_RESPONSE>;
    expect([r.status, r.expDataSN, r.statSN]).to.deep.equal([SCSI_STATUS.CHECK_CONDITION, 1, 100]);
  });

  it('residuals: underflow (less data than EDTL), overflow (more: only EDTL sent), none', () => {
    const s = newSession({ initiatorMaxRecvDataSegmentBytes: 8192 });
    s.receive(scsiCmd(1, FLAG.F | FLAG.READ, 4096, cdb.read10(0, 1)));
    let last = ofType(sent(s.complete(1, { status: SCSI_STATUS.GOOD, dataIn: pattern(1000) })), OPCODE.DATA_IN).pop()!;
    expect(last.flags & (FLAG.UNDERFLOW | FLAG.OVERFLOW)).to.equal(FLAG.UNDERFLOW);
    expect(last.residualCount).to.equal(3096);
    s.receive(scsiCmd(2, FLAG.F | FLAG.READ, 100, cdb.read10(0, 1)));
    const dins = ofType(sent(s.complete(2, { status: SCSI_STATUS.GOOD, dataIn: pattern(512) })), OPCODE.DATA_IN);
    expect(dins.reduce((n, d) => n + d.data.length, 0)).to.equal(100);
    last = dins.pop()!;
    expect(last.flags & (FLAG.UNDERFLOW | FLAG.OVERFLOW)).to.equal(FLAG.OVERFLOW);
    expect(last.residualCount).to.equal(412);
    // A command with data-in but no R bit: everything is overflow, in a SCSI Response.
    s.receive(scsiCmd(3, FLAG.F, 0, cdb.inquiry()));
    const r = sent(s.complete(3, { status: SCSI_STATUS.GOOD, dataIn: pattern(36) }))[0] as PduOf<typeof OPCODE.SCSI_RESPONSE>;
    expect(r.opcode).to.equal(OPCODE.SCSI_RESPONSE);
    expect(r.flags & FLAG.OVERFLOW).to.equal(FLAG.OVERFLOW);
    expect(r.residualCount).to.equal(36);
    // READ with no data at all: a SCSI Response, underflow of the whole EDTL.
    s.receive(scsiCmd(4, FLAG.F | FLAG.READ, 512, cdb.read10(0, 1)));
    const z = sent(s.complete(4, { status: SCSI_STATUS.GOOD }))[0] as PduOf<typeof OPCODE.SCSI_RESPONSE>;
    expect(z.opcode).to.equal(OPCODE.SCSI_RESPONSE);
    expect([z.flags & FLAG.UNDERFLOW, z.residualCount, z.expDataSN]).to.deep.equal([FLAG.UNDERFLOW, 512, 0]);
  });

  it('write residuals: commands say residuals are reported; the SCSI layer\'s dataOutWanted against EDTL is overflow or underflow', () => {
    const s = newSession({ immediateData: true, initialR2T: false, firstBurstBytes: 65536 });
    const resp = (acts: SessionAction[]): PduOf<typeof OPCODE.SCSI_RESPONSE> => ofType(sent(acts), OPCODE.SCSI_RESPONSE)[0]!;
    // EDTL 0 for a one-block WRITE: executed without data, overflow of the block it wanted
    const a = s.receive(scsiCmd(1, FLAG.F | FLAG.WRITE, 0, cdb.write10(0, 1)));
    expect(executes(a)[0]!.cmd.residualsReported).to.equal(true);
    let r = resp(s.complete(1, { status: SCSI_STATUS.GOOD, dataOutWanted: 512 }));
    expect([r.status, r.flags & (FLAG.OVERFLOW | FLAG.UNDERFLOW), r.residualCount]).to.deep.equal([SCSI_STATUS.GOOD, FLAG.OVERFLOW, 512]);
    // EDTL 10000 for one block: underflow of what it did not use
    s.receive(scsiCmd(2, FLAG.F | FLAG.WRITE, 10000, cdb.write10(0, 1), { data: pattern(10000) }));
    r = resp(s.complete(2, { status: SCSI_STATUS.GOOD, dataOutWanted: 512 }));
    expect([r.flags & (FLAG.OVERFLOW | FLAG.UNDERFLOW), r.residualCount]).to.deep.equal([FLAG.UNDERFLOW, 9488]);
    // a CHECK CONDITION keeps the residual (EDTL 200 of 512)
    s.receive(scsiCmd(3, FLAG.F | FLAG.WRITE, 200, cdb.write10(0, 1), { data: pattern(200) }));
    r = resp(s.complete(3, { status: SCSI_STATUS.CHECK_CONDITION, sense: { key: SENSE_KEY.ILLEGAL_REQUEST, asc: 0x0e, ascq: 0x03 }, dataOutWanted: 512 }));
    expect([r.status, r.flags & (FLAG.OVERFLOW | FLAG.UNDERFLOW), r.residualCount]).to.deep.equal([SCSI_STATUS.CHECK_CONDITION, FLAG.OVERFLOW, 312]);
    // matching lengths: no residual
    s.receive(scsiCmd(4, FLAG.F | FLAG.WRITE, 512, cdb.write10(0, 1), { data: pattern(512) }));
    r = resp(s.complete(4, { status: SCSI_STATUS.GOOD }));
    expect([r.flags & (FLAG.OVERFLOW | FLAG.UNDERFLOW), r.residualCount]).to.deep.equal([0, 0]);
  });
});

/**
 * A well-behaved initiator writing `data`: immediate data when allowed, unsolicited Data-Out up to
 * FirstBurstLength when InitialR2T=No, then answering each R2T in PDUs of at most `seg` bytes.
 */
function initiatorWrite(s: IscsiSession, p: SessionParams, itt: number, data: Uint8Array, seg: number) {
  const edtl = data.length;
  const imm = p.immediateData ? Math.min(edtl, p.firstBurstBytes, seg) : 0;
  const unsolEnd = p.initialR2T ? imm : Math.min(edtl, p.firstBurstBytes);
  const follows = unsolEnd > imm;
  const acts: SessionAction[] = [];
  acts.push(...s.receive(scsiCmd(itt, (follows ? 0 : FLAG.F) | FLAG.WRITE, edtl, cdb.write10(0, 1), { data: data.subarray(0, imm) })));
  let sn = 0;
  for (let off = imm; off < unsolEnd; off += seg) {
    const end = Math.min(unsolEnd, off + seg);
    acts.push(...s.receive(dataOut(itt, RESERVED_TAG, off, data.subarray(off, end), sn++, end === unsolEnd)));
  }
  const r2ts: Array<PduOf<typeof OPCODE.R2T>> = [];
  const all: SessionAction[] = [];
  let maxOutstanding = 0;
  for (let i = 0; i < 10000; i++) {
    const batch = acts.splice(0);
    all.push(...batch);
    const queue = ofType(sent(batch), OPCODE.R2T);
    r2ts.push(...queue);
    maxOutstanding = Math.max(maxOutstanding, queue.length);
    if (queue.length === 0) break;
    for (const r of queue) {
      let dsn = 0;
      const end = r.bufferOffset + r.desiredDataTransferLength;
      for (let off = r.bufferOffset; off < end; off += seg) {
        const e = Math.min(end, off + seg);
        acts.push(...s.receive(dataOut(itt, r.ttt, off, data.subarray(off, e), dsn++, e === end)));
      }
    }
  }
  return { r2ts, maxOutstanding, executed: executes(all), imm, unsolEnd };
}

describe('iscsi session: writes (immediate data, unsolicited Data-Out, R2T)', () => {
  const FBL = 8192;
  const MBL = 16384;
  for (const immediateData of [false, true]) {
    for (const initialR2T of [true, false]) {
      for (const len of [512, FBL - 1, FBL, FBL + 1, MBL, MBL + 1, FBL + MBL, 3 * MBL + 7]) {
        for (const maxOutstandingR2T of [1, 2]) {
          it(`ImmediateData=${immediateData ? 'Yes' : 'No'} InitialR2T=${initialR2T ? 'Yes' : 'No'} ${len} bytes, MaxOutstandingR2T ${maxOutstandingR2T}`, () => {
            const p = params({ immediateData, initialR2T, firstBurstBytes: FBL, maxBurstBytes: MBL, maxOutstandingR2T, targetMaxRecvDataSegmentBytes: 4096 });
            const s = newSession(p);
            const data = pattern(len, len);
            const w = initiatorWrite(s, p, 9, data, 4096);
            expect(w.executed).to.have.length(1);
            expect(Buffer.from(w.executed[0]!.cmd.dataOut!).equals(Buffer.from(data))).to.equal(true);
            // R2Ts cover exactly what the unsolicited part did not, in bursts of at most MaxBurstLength.
            let off = w.unsolEnd;
            w.r2ts.forEach((r, i) => {
              expect(r.r2tSN).to.equal(i);
              expect(r.bufferOffset).to.equal(off);
              expect(r.desiredDataTransferLength).to.be.at.most(MBL).and.above(0);
              expect(r.itt).to.equal(9);
              expect(r.ttt).to.not.equal(RESERVED_TAG);
              off += r.desiredDataTransferLength;
            });
            expect(off).to.equal(len);
            expect(w.r2ts.length).to.equal(Math.ceil((len - w.unsolEnd) / MBL));
            expect(w.maxOutstanding).to.be.at.most(maxOutstandingR2T);
            expect(s.bufferedDataOutBytes).to.equal(len); // held (and counted) until the command ends
            const done = sent(s.complete(9, { status: SCSI_STATUS.GOOD }));
            expect(done.map((d) => d.opcode)).to.deep.equal([OPCODE.SCSI_RESPONSE]);
            expect(s.bufferedDataOutBytes).to.equal(0);
          });
        }
      }
    }
  }

  it('EDTL above ISCSI_MAX_TRANSFER_BYTES: INVALID FIELD IN CDB; buffered data-out above SESSION_MAX_DATA_OUT_BYTES: TASK SET FULL', () => {
    const s = newSession({ initialR2T: true, immediateData: false });
    let pdus = sent(s.receive(scsiCmd(1, FLAG.F | FLAG.WRITE, ISCSI_MAX_TRANSFER_BYTES + 1, cdb.write10(0, 1))));
    let r = pdus[0] as PduOf<typeof OPCODE.SCSI_RESPONSE>;
    expect([r.opcode, r.status]).to.deep.equal([OPCODE.SCSI_RESPONSE, SCSI_STATUS.CHECK_CONDITION]);
    const n = SESSION_MAX_DATA_OUT_BYTES / ISCSI_MAX_TRANSFER_BYTES;
    for (let i = 0; i < n; i++) expect(ofType(sent(s.receive(scsiCmd(10 + i, FLAG.F | FLAG.WRITE, ISCSI_MAX_TRANSFER_BYTES, cdb.write10(0, 1)))), OPCODE.R2T)).to.have.length(1);
    expect(s.bufferedDataOutBytes).to.equal(SESSION_MAX_DATA_OUT_BYTES);
    pdus = sent(s.receive(scsiCmd(99, FLAG.F | FLAG.WRITE, 512, cdb.write10(0, 1))));
    r = pdus[0] as PduOf<typeof OPCODE.SCSI_RESPONSE>;
    expect([r.opcode, r.status]).to.deep.equal([OPCODE.SCSI_RESPONSE, SCSI_STATUS.TASK_SET_FULL]);
    expect(s.counters.taskSetFull).to.equal(1);
    expect(s.taskCount).to.equal(n);
  });

  it('immediate data when ImmediateData=No, or beyond FirstBurstLength, or F=0 with InitialR2T=Yes: Reject', () => {
    let s = newSession({ immediateData: false });
    let pdus = sent(s.receive(scsiCmd(1, FLAG.F | FLAG.WRITE, 512, cdb.write10(0, 1), { data: pattern(512) })));
    expect(pdus.map((p) => [p.opcode, (p as PduOf<typeof OPCODE.REJECT>).reason])).to.deep.equal([[OPCODE.REJECT, REJECT_REASON.PROTOCOL_ERROR]]);
    s = newSession({ immediateData: true, firstBurstBytes: 1024 });
    pdus = sent(s.receive(scsiCmd(2, FLAG.F | FLAG.WRITE, 4096, cdb.write10(0, 8), { data: pattern(2048) })));
    expect(pdus.map((p) => p.opcode)).to.deep.equal([OPCODE.REJECT]);
    s = newSession({ initialR2T: true });
    pdus = sent(s.receive(scsiCmd(3, FLAG.WRITE, 4096, cdb.write10(0, 8))));
    expect(pdus.map((p) => p.opcode)).to.deep.equal([OPCODE.REJECT]);
    expect(s.taskCount).to.equal(0);
  });

  it('Data-Out at a wrong offset, with a wrong DataSN or past its burst: Reject and CHECK CONDITION (incorrect amount of data)', () => {
    for (const bad of ['offset', 'dataSN', 'length', 'early-final'] as const) {
      const s = newSession({ initialR2T: true, immediateData: false, maxBurstBytes: 8192 });
      const r2t = ofType(sent(s.receive(scsiCmd(5, FLAG.F | FLAG.WRITE, 8192, cdb.write10(0, 16)))), OPCODE.R2T)[0]!;
      expect(r2t.desiredDataTransferLength).to.equal(8192);
      const first = s.receive(dataOut(5, r2t.ttt, 0, pattern(4096), 0, false));
      expect(first).to.deep.equal([]);
      const pdu =
        bad === 'offset'
          ? dataOut(5, r2t.ttt, 4000, pattern(4096), 1, true)
          : bad === 'dataSN'
            ? dataOut(5, r2t.ttt, 4096, pattern(4096), 7, true)
            : bad === 'length'
              ? dataOut(5, r2t.ttt, 4096, pattern(4100), 1, true)
              : dataOut(5, r2t.ttt, 4096, pattern(1000), 1, true);
      const acts = s.receive(pdu);
      expect(executes(acts), bad).to.have.length(0);
      const pdus = sent(acts);
      expect(pdus.map((p) => p.opcode), bad).to.deep.equal([OPCODE.REJECT, OPCODE.SCSI_RESPONSE]);
      const resp = pdus[1] as PduOf<typeof OPCODE.SCSI_RESPONSE>;
      const sense = parseFixedSense(resp.data.subarray(2));
      expect(sense.ok && [sense.value.key, sense.value.asc, sense.value.ascq], bad).to.deep.equal([SENSE_KEY.ABORTED_COMMAND, ...ISCSI_ASC.INCORRECT_AMOUNT_OF_DATA]);
      expect(s.taskCount).to.equal(0);
      expect(s.bufferedDataOutBytes).to.equal(0);
      // The rest of that write is discarded quietly, not rejected again.
      expect(sent(s.receive(dataOut(5, r2t.ttt, 4096, pattern(4096), 1, true)))).to.deep.equal([]);
    }
  });

  it('Data-Out for an unknown task or with a wrong TTT: Reject (invalid PDU field), the task keeps waiting', () => {
    const s = newSession({ initialR2T: true, immediateData: false });
    const r2t = ofType(sent(s.receive(scsiCmd(5, FLAG.F | FLAG.WRITE, 512, cdb.write10(0, 1)))), OPCODE.R2T)[0]!;
    for (const p of [dataOut(77, r2t.ttt, 0, pattern(512), 0, true), dataOut(5, r2t.ttt + 1, 0, pattern(512), 0, true)]) {
      const pdus = sent(s.receive(p));
      expect(pdus.map((x) => [x.opcode, (x as PduOf<typeof OPCODE.REJECT>).reason])).to.deep.equal([[OPCODE.REJECT, REJECT_REASON.INVALID_PDU_FIELD]]);
      const rejected = pdus[0]!.data;
      expect(rejected.length).to.equal(48); // the BHS of the rejected PDU
      expect(rejected[0]! & 0x3f).to.equal(OPCODE.DATA_OUT);
    }
    expect(executes(s.receive(dataOut(5, r2t.ttt, 0, pattern(512), 0, true)))).to.have.length(1);
  });

  it('unsolicited Data-Out when none was announced: CHECK CONDITION unexpected unsolicited data', () => {
    const s = newSession({ initialR2T: true, immediateData: false });
    s.receive(scsiCmd(5, FLAG.F | FLAG.WRITE, 1024, cdb.write10(0, 2)));
    const pdus = sent(s.receive(dataOut(5, RESERVED_TAG, 0, pattern(512), 0, true)));
    expect(pdus.map((p) => p.opcode)).to.deep.equal([OPCODE.REJECT, OPCODE.SCSI_RESPONSE]);
    const sense = parseFixedSense(pdus[1]!.data.subarray(2));
    expect(sense.ok && [sense.value.asc, sense.value.ascq]).to.deep.equal([...ISCSI_ASC.UNEXPECTED_UNSOLICITED_DATA]);
  });

  it('an unsolicited burst that ends (F) short of min(FirstBurstLength, EDTL): incorrect amount of data', () => {
    const s = newSession({ initialR2T: false, immediateData: false, firstBurstBytes: 4096 });
    s.receive(scsiCmd(5, FLAG.WRITE, 8192, cdb.write10(0, 16)));
    const pdus = sent(s.receive(dataOut(5, RESERVED_TAG, 0, pattern(2048), 0, true)));
    expect(pdus.map((p) => p.opcode)).to.deep.equal([OPCODE.REJECT, OPCODE.SCSI_RESPONSE]);
  });

  it('a data digest error on Data-Out: Reject reason 0x02 and CHECK CONDITION protocol service CRC error', () => {
    const s = newSession({ initialR2T: true, immediateData: false });
    const r2t = ofType(sent(s.receive(scsiCmd(5, FLAG.F | FLAG.WRITE, 512, cdb.write10(0, 1)))), OPCODE.R2T)[0]!;
    const pdus = sent(s.dataDigestError(dataOut(5, r2t.ttt, 0, pattern(512), 0, true)));
    expect(pdus.map((p) => p.opcode)).to.deep.equal([OPCODE.REJECT, OPCODE.SCSI_RESPONSE]);
    expect(s.taskCount).to.equal(0);
    expect((pdus[0] as PduOf<typeof OPCODE.REJECT>).reason).to.equal(REJECT_REASON.DATA_DIGEST);
    const sense = parseFixedSense(pdus[1]!.data.subarray(2));
    expect(sense.ok && [sense.value.asc, sense.value.ascq]).to.deep.equal([...ISCSI_ASC.PROTOCOL_SERVICE_CRC_ERROR]);
  });
});

describe('iscsi session: CmdSN window and StatSN', () => {
  const tur = (itt: number, sn: number, immediate = false) => ({ ...scsiCmd(itt, FLAG.F, 0, cdb.testUnitReady()), cmdSN: sn, immediate });

  it('ExpCmdSN advances per non-immediate command; MaxCmdSN closes while tasks run and reopens as they end', () => {
    const s = newSession({}, 4);
    expect([s.nextExpCmdSN, s.maxCmdSN]).to.deep.equal([10, 13]);
    for (let i = 0; i < 4; i++) expect(executes(s.receive(tur(i + 1, 10 + i)))).to.have.length(1);
    expect([s.nextExpCmdSN, s.maxCmdSN]).to.deep.equal([14, 13]); // window closed (MaxCmdSN = ExpCmdSN - 1)
    expect(s.receive(tur(9, 14))).to.deep.equal([]); // out of window: silently ignored
    expect(s.counters.outOfWindow).to.equal(1);
    const r = sent(s.complete(1, { status: SCSI_STATUS.GOOD }))[0] as PduOf<typeof OPCODE.SCSI_RESPONSE>;
    expect([r.statSN, r.expCmdSN, r.maxCmdSN]).to.deep.equal([100, 14, 14]);
    expect(executes(s.receive(tur(9, 14)))).to.have.length(1);
  });

  it('duplicates and commands below ExpCmdSN are dropped; a gap holds later commands until it fills', () => {
    const s = newSession();
    expect(executes(s.receive(tur(1, 10)))).to.have.length(1);
    expect(s.receive(tur(2, 10))).to.deep.equal([]); // duplicate
    expect(s.receive(tur(3, 12))).to.deep.equal([]); // held: 11 missing
    expect(s.receive(tur(4, 12))).to.deep.equal([]); // duplicate of a held one
    expect(s.counters.outOfWindow).to.equal(2);
    expect(s.heldCommands).to.equal(1);
    const ex = executes(s.receive(tur(5, 11)));
    expect(ex.map((e) => e.itt)).to.deep.equal([5, 3]); // in CmdSN order
    expect(s.nextExpCmdSN).to.equal(13);
    expect(s.heldCommands).to.equal(0);
  });

  it('serial arithmetic: the window wraps past 2^32', () => {
    const s = new IscsiSession({ params: params(), isid: ISID, cid: 1, expCmdSN: 0xffffffff, statSN: 0xffffffff, agreed: new Map(), targets: [] });
    expect(executes(s.receive(tur(1, 0xffffffff)))).to.have.length(1);
    expect(executes(s.receive(tur(2, 0)))).to.have.length(1);
    expect(s.nextExpCmdSN).to.equal(1);
    const r = sent(s.complete(1, { status: SCSI_STATUS.GOOD }))[0] as PduOf<typeof OPCODE.SCSI_RESPONSE>;
    expect(r.statSN).to.equal(0xffffffff);
    expect(s.nextStatSN).to.equal(0);
  });

  it('immediate commands do not advance ExpCmdSN; too many at once are rejected (reason 0x06)', () => {
    const s = newSession();
    for (let i = 0; i < SESSION_MAX_IMMEDIATE_TASKS; i++) expect(executes(s.receive(tur(i + 1, 10, true)))).to.have.length(1);
    expect(s.nextExpCmdSN).to.equal(10);
    const pdus = sent(s.receive(tur(99, 10, true)));
    expect((pdus[0] as PduOf<typeof OPCODE.REJECT>).reason).to.equal(REJECT_REASON.IMMEDIATE_COMMAND_REJECT);
  });

  it('an ITT still in use: Reject (task in progress)', () => {
    const s = newSession();
    s.receive(tur(1, 10));
    const pdus = sent(s.receive(tur(1, 11)));
    expect((pdus[0] as PduOf<typeof OPCODE.REJECT>).reason).to.equal(REJECT_REASON.TASK_IN_PROGRESS);
  });

  it('ExpStatSN is taken only for StatSNs that were sent', () => {
    const s = newSession();
    s.receive(tur(1, 10));
    s.complete(1, { status: SCSI_STATUS.GOOD }); // StatSN 100 sent
    s.receive({ ...tur(2, 11), expStatSN: 101 });
    expect(s.lastExpStatSN).to.equal(101);
    s.receive({ ...tur(3, 12), expStatSN: 5000 });
    expect(s.lastExpStatSN).to.equal(101);
  });
});

describe('iscsi session: task management', () => {
  const tmf = (fn: number, itt: number, ref = 0, lun = 0): PduOf<typeof OPCODE.TASK_MGMT_REQUEST> =>
    makePdu(OPCODE.TASK_MGMT_REQUEST, { flags: FLAG.F | fn, itt, referencedTaskTag: ref, cmdSN: cmdSN, immediate: true, lun: encodeLun(lun) });

  it('ABORT TASK of a write waiting for Data-Out: function complete at once, no SCSI Response, its late Data-Out discarded', () => {
    const s = newSession({ initialR2T: true, immediateData: false }, 4);
    const r2t = ofType(sent(s.receive(scsiCmd(5, FLAG.F | FLAG.WRITE, 4096, cdb.write10(0, 8)))), OPCODE.R2T)[0]!;
    expect(s.maxCmdSN).to.equal(13);
    const pdus = sent(s.receive(tmf(TMF.ABORT_TASK, 50, 5)));
    expect(pdus.map((p) => [p.opcode, (p as PduOf<typeof OPCODE.TASK_MGMT_RESPONSE>).response])).to.deep.equal([[OPCODE.TASK_MGMT_RESPONSE, TMF_RESPONSE.COMPLETE]]);
    expect(s.taskCount).to.equal(0);
    expect(s.bufferedDataOutBytes).to.equal(0);
    expect(s.maxCmdSN).to.equal(14); // its window slot is free again
    const late = s.receive(dataOut(5, r2t.ttt, 0, pattern(4096), 0, true));
    expect(late).to.deep.equal([]);
    expect(s.counters.discardedDataOut).to.equal(1);
  });

  it('ABORT TASK of a running command: abort action, response only after its result, which is dropped', () => {
    const s = newSession();
    s.receive(scsiCmd(5, FLAG.F | FLAG.READ, 512, cdb.read10(0, 1)));
    const acts = s.receive(tmf(TMF.ABORT_TASK, 50, 5));
    expect(acts).to.deep.equal([{ kind: 'abort', itt: 5 }]);
    const after = sent(s.complete(5, { status: SCSI_STATUS.TASK_ABORTED }));
    expect(after.map((p) => p.opcode)).to.deep.equal([OPCODE.TASK_MGMT_RESPONSE]);
    expect((after[0] as PduOf<typeof OPCODE.TASK_MGMT_RESPONSE>).response).to.equal(TMF_RESPONSE.COMPLETE);
  });

  it('ABORT TASK of an unknown tag: task does not exist; TASK REASSIGN: not supported at ERL 0; CLEAR ACA: not supported', () => {
    const s = newSession();
    const r = (p: Pdu[]) => (p[0] as PduOf<typeof OPCODE.TASK_MGMT_RESPONSE>).response;
    expect(r(sent(s.receive(tmf(TMF.ABORT_TASK, 50, 1234))))).to.equal(TMF_RESPONSE.NO_TASK);
    expect(r(sent(s.receive(tmf(TMF.TASK_REASSIGN, 51, 1))))).to.equal(TMF_RESPONSE.REASSIGN_UNSUPPORTED);
    expect(r(sent(s.receive(tmf(TMF.CLEAR_ACA, 52))))).to.equal(TMF_RESPONSE.NOT_SUPPORTED);
  });

  it('ABORT TASK SET ends this session’s tasks on the LUN (waiting and running) and answers after them', () => {
    const s = newSession({ initialR2T: true, immediateData: false });
    s.receive(scsiCmd(1, FLAG.F | FLAG.WRITE, 512, cdb.write10(0, 1), { lun: encodeLun(2) }));
    s.receive(scsiCmd(2, FLAG.F | FLAG.READ, 512, cdb.read10(0, 1), { lun: encodeLun(2) }));
    s.receive(scsiCmd(3, FLAG.F | FLAG.READ, 512, cdb.read10(0, 1), { lun: encodeLun(1) }));
    expect(s.receive(tmf(TMF.ABORT_TASK_SET, 70, 0, 2))).to.deep.equal([{ kind: 'abort', itt: 2 }]);
    expect(s.taskCount).to.equal(2);
    const r = sent(s.complete(2, { status: SCSI_STATUS.TASK_ABORTED }));
    expect(r.map((p) => [p.opcode, (p as PduOf<typeof OPCODE.TASK_MGMT_RESPONSE>).response])).to.deep.equal([[OPCODE.TASK_MGMT_RESPONSE, TMF_RESPONSE.COMPLETE]]);
    expect(s.taskCount).to.equal(1);
  });

  it('LUN RESET aborts the tasks of that LUN only and hands the reset to the caller; cold reset closes', () => {
    const s = newSession();
    s.receive(scsiCmd(1, FLAG.F | FLAG.READ, 512, cdb.read10(0, 1), { lun: encodeLun(0) }));
    s.receive(scsiCmd(2, FLAG.F | FLAG.READ, 512, cdb.read10(0, 1), { lun: encodeLun(3) }));
    const acts = s.receive(tmf(TMF.LUN_RESET, 60, 0, 3));
    expect(acts).to.deep.equal([{ kind: 'abort', itt: 2 }]);
    const done = s.complete(2, { status: SCSI_STATUS.TASK_ABORTED });
    expect(done[0]).to.deep.equal({ kind: 'lun-reset', lun: 3 });
    expect(sent(done).map((p) => p.opcode)).to.deep.equal([OPCODE.TASK_MGMT_RESPONSE]);
    expect(sent(s.complete(1, { status: SCSI_STATUS.GOOD, dataIn: pattern(512) }))).to.have.length(1); // LUN 0 untouched
    const cold = s.receive(tmf(TMF.TARGET_COLD_RESET, 61));
    expect(cold.map((a) => a.kind)).to.deep.equal(['target-reset', 'send', 'close']);
  });
});

describe('iscsi session: NOP, Logout, Text, other PDUs', () => {
  it('NOP-Out ping: NOP-In with the same data and ITT; NOP-Out with the reserved ITT gets nothing', () => {
    const s = newSession();
    const ping = makePdu(OPCODE.NOP_OUT, { itt: 3, ttt: RESERVED_TAG, cmdSN: 10, immediate: true, data: pattern(100) });
    const pdus = sent(s.receive(ping));
    const nop = pdus[0] as PduOf<typeof OPCODE.NOP_IN>;
    expect([nop.opcode, nop.itt, nop.ttt, nop.statSN]).to.deep.equal([OPCODE.NOP_IN, 3, RESERVED_TAG, 100]);
    expect(Buffer.from(nop.data).equals(Buffer.from(pattern(100)))).to.equal(true);
    expect(s.receive(makePdu(OPCODE.NOP_OUT, { itt: RESERVED_TAG, ttt: RESERVED_TAG, cmdSN: 10, immediate: true }))).to.deep.equal([]);
  });

  it('a non-immediate NOP-Out ping (as libiscsi sends it) takes its CmdSN and is answered; out of window it is dropped', () => {
    const s = newSession();
    const ping = (sn: number) => makePdu(OPCODE.NOP_OUT, { itt: 40 + sn, ttt: RESERVED_TAG, cmdSN: sn, data: pattern(8) });
    expect(sent(s.receive(ping(10))).map((p) => p.opcode)).to.deep.equal([OPCODE.NOP_IN]);
    expect(s.nextExpCmdSN).to.equal(11);
    expect(s.receive(ping(10))).to.deep.equal([]);
    expect(s.counters.outOfWindow).to.equal(1);
  });

  it('Logout closes the session after its response; recovery logout is refused at ERL 0', () => {
    let s = newSession();
    let acts = s.receive(makePdu(OPCODE.LOGOUT_REQUEST, { flags: FLAG.F | 2, itt: 8, cid: 1, cmdSN: 10, immediate: true }));
    expect((sent(acts)[0] as PduOf<typeof OPCODE.LOGOUT_RESPONSE>).response).to.equal(LOGOUT_RESPONSE.RECOVERY_UNSUPPORTED);
    expect(acts.some((a) => a.kind === 'close')).to.equal(false);
    s = newSession();
    s.receive(scsiCmd(1, FLAG.F | FLAG.READ, 512, cdb.read10(0, 1)));
    acts = s.receive(makePdu(OPCODE.LOGOUT_REQUEST, { flags: FLAG.F | 0, itt: 8, cid: 1, cmdSN: 11, immediate: true }));
    expect(acts.map((a) => a.kind)).to.deep.equal(['abort', 'send', 'close']);
    expect((sent(acts)[0] as PduOf<typeof OPCODE.LOGOUT_RESPONSE>).response).to.equal(LOGOUT_RESPONSE.OK);
    expect(s.complete(1, { status: SCSI_STATUS.GOOD, dataIn: pattern(512) })).to.deep.equal([]);
  });

  it('SendTargets in full feature: an answer longer than MaxRecvDataSegmentLength continues on the initiator’s empty requests', () => {
    const targets = Array.from({ length: 20 }, (_, i) => ({ name: `iqn.2026-01.dev.vfab:array${i}`, portals: ['127.0.0.1:3260'], portalGroupTag: 1 }));
    const s = new IscsiSession({ params: params({ sessionType: 'Discovery', initiatorMaxRecvDataSegmentBytes: 512 }), isid: ISID, cid: 1, expCmdSN: 10, statSN: 1, agreed: new Map(), targets });
    let req = makePdu(OPCODE.TEXT_REQUEST, { itt: 4, ttt: RESERVED_TAG, cmdSN: 10, immediate: true, data: encodeText([{ key: 'SendTargets', value: 'All' }]) });
    const parts: Uint8Array[] = [];
    for (let i = 0; i < 50; i++) {
      const r = sent(s.receive(req))[0] as PduOf<typeof OPCODE.TEXT_RESPONSE>;
      expect(r.opcode).to.equal(OPCODE.TEXT_RESPONSE);
      expect(r.data.length).to.be.at.most(512);
      parts.push(r.data);
      if ((r.flags & FLAG.F) !== 0) break;
      expect(r.flags & FLAG.CONTINUE).to.equal(FLAG.CONTINUE);
      req = makePdu(OPCODE.TEXT_REQUEST, { itt: 4, ttt: r.ttt, cmdSN: 10, immediate: true });
    }
    expect(parts.length).to.be.above(1);
    // SendTargets answers repeat TargetName (parseText refuses repeats, so count the pairs by hand).
    const pairs = Buffer.concat(parts).toString('utf8').split('\0').filter((x) => x.length > 0);
    expect(pairs.filter((p) => p.startsWith('TargetName=')).length).to.equal(20);
    expect(pairs.every((p) => /^(TargetName|TargetAddress)=/.test(p))).to.equal(true);
  });

  it('Login Request in full feature, SNACK at ERL 0, target opcodes: Reject', () => {
    const s = newSession();
    const reason = (p: Pdu) => (sent(s.receive(p))[0] as PduOf<typeof OPCODE.REJECT>).reason;
    expect(reason(makePdu(OPCODE.LOGIN_REQUEST, {}))).to.equal(REJECT_REASON.PROTOCOL_ERROR);
    expect(reason(makePdu(OPCODE.SNACK_REQUEST, {}))).to.equal(REJECT_REASON.COMMAND_NOT_SUPPORTED);
    expect(reason(makePdu(OPCODE.NOP_IN, {}))).to.equal(REJECT_REASON.PROTOCOL_ERROR);
  });
});

describe('iscsi session: seeded garbage', () => {
  it('20 000 random initiator PDUs never throw and never exceed the task and buffer bounds', () => {
    const rnd = seededRandom(7143);
    const int = (n: number): number => Math.floor(rnd() * n);
    const ops = [OPCODE.NOP_OUT, OPCODE.SCSI_COMMAND, OPCODE.TASK_MGMT_REQUEST, OPCODE.TEXT_REQUEST, OPCODE.DATA_OUT, OPCODE.LOGOUT_REQUEST, OPCODE.SNACK_REQUEST, OPCODE.LOGIN_REQUEST];
    let s = newSession({ initialR2T: false, immediateData: true, firstBurstBytes: 4096, maxBurstBytes: 8192, maxOutstandingR2T: 2, initiatorMaxRecvDataSegmentBytes: 1024 });
    const running: number[] = [];
    let sessions = 1;
    let executed = 0;
    for (let i = 0; i < 20000; i++) {
      const opcode = ops[int(ops.length)]!;
      const small = (): number => (rnd() < 0.5 ? int(16) : int(0x100000000));
      const fields = {
        immediate: rnd() < 0.3,
        flags: int(256),
        itt: int(24),
        ttt: rnd() < 0.5 ? RESERVED_TAG : int(8),
        cmdSN: 10 + int(80),
        expStatSN: 100 + int(40),
        expectedDataTransferLength: rnd() < 0.8 ? int(20000) : small(),
        bufferOffset: rnd() < 0.5 ? int(20000) : small(),
        dataSN: int(8),
        referencedTaskTag: int(24),
        cid: int(3),
        lun: rnd() < 0.8 ? encodeLun(int(4)) : BigInt(int(0x10000)) << 48n,
        data: pattern(rnd() < 0.5 ? 0 : int(5000), i),
      };
      const acts = s.receive(makePdu(opcode, fields as never) as Pdu);
      for (const a of acts) {
        if (a.kind === 'execute') {
          running.push(a.itt);
          executed++;
        }
        if (a.kind === 'send') wire(a.pdu);
      }
      if (running.length > 0 && rnd() < 0.5) {
        const itt = running.splice(int(running.length), 1)[0]!;
        for (const a of s.complete(itt, rnd() < 0.5 ? { status: SCSI_STATUS.GOOD, dataIn: pattern(int(3000)) } : { status: SCSI_STATUS.CHECK_CONDITION, sense: { key: 5, asc: 0x24, ascq: 0 } }))
          if (a.kind === 'send') wire(a.pdu);
      }
      expect(s.taskCount).to.be.at.most(TARGET_CMD_WINDOW + SESSION_MAX_IMMEDIATE_TASKS);
      expect(s.bufferedDataOutBytes).to.be.at.most(SESSION_MAX_DATA_OUT_BYTES);
      if (acts.some((a) => a.kind === 'close')) {
        s = newSession();
        running.length = 0;
        sessions++;
      }
    }
    expect(executed).to.be.above(50); // the garbage reached the SCSI layer, not only Reject
    expect(sessions).to.be.above(1); // logouts and cold resets happened along the way
  });
});

describe('iscsi session: over the real lib/storage target', () => {
  it('write by R2T then read back through Data-In; out-of-range sense arrives intact', async () => {
    const t = new BlockTarget(new MemoryBlockStore());
    t.addLun({ lun: 0, name: 'x', id: 'naa.6' + '0'.repeat(31), sizeBytes: 64 * 512, blockSizeBytes: 512, blocks: 64, createdAtMs: 0 });
    const p = params({ initialR2T: true, immediateData: true, firstBurstBytes: 1024, maxBurstBytes: 2048, initiatorMaxRecvDataSegmentBytes: 1024 });
    const s = newSession(p);
    const runAll = async (acts: SessionAction[]): Promise<Pdu[]> => {
      const out: Pdu[] = sent(acts);
      for (const e of executes(acts)) out.push(...(await runAll(s.complete(e.itt, await t.execute(e.cmd)))));
      return out;
    };
    const data = pattern(8 * 512, 3);
    const itt = 11;
    let acts = s.receive(scsiCmd(itt, FLAG.F | FLAG.WRITE, data.length, cdb.write10(4, 8), { data: data.subarray(0, 1024) }));
    let r2ts = ofType(sent(acts), OPCODE.R2T);
    const responses: Pdu[] = [];
    while (r2ts.length > 0) {
      const r = r2ts.shift()!;
      acts = s.receive(dataOut(itt, r.ttt, r.bufferOffset, data.subarray(r.bufferOffset, r.bufferOffset + r.desiredDataTransferLength), 0, true));
      const out = await runAll(acts);
      r2ts.push(...ofType(out, OPCODE.R2T));
      responses.push(...out.filter((x) => x.opcode === OPCODE.SCSI_RESPONSE));
    }
    expect((responses[0] as PduOf<typeof OPCODE.SCSI_RESPONSE>).status).to.equal(SCSI_STATUS.GOOD);
    const read = await runAll(s.receive(scsiCmd(12, FLAG.F | FLAG.READ, data.length, cdb.read10(4, 8))));
    expect(Buffer.concat(ofType(read, OPCODE.DATA_IN).map((d) => d.data)).equals(Buffer.from(data))).to.equal(true);
    const bad = await runAll(s.receive(scsiCmd(13, FLAG.F | FLAG.READ, 512, cdb.read10(64, 1))));
    const sense = parseFixedSense(bad[0]!.data.subarray(2));
    expect(sense.ok && [sense.value.key, sense.value.asc]).to.deep.equal([SENSE_KEY.ILLEGAL_REQUEST, ASC.LBA_OUT_OF_RANGE[0]]);
    // An unaddressable LUN field reaches the target as a LUN it does not have.
    const nolun = await runAll(s.receive(scsiCmd(14, FLAG.F, 0, cdb.testUnitReady(), { lun: 0x0105n << 48n })));
    const ns = parseFixedSense(nolun[0]!.data.subarray(2));
    expect(ns.ok && [ns.value.asc, ns.value.ascq]).to.deep.equal([...ASC.LOGICAL_UNIT_NOT_SUPPORTED]);
  });
});

