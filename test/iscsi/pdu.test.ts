// iSCSI PDU codec (lib/iscsi/pdu.ts): every PDU type from hex fixtures parses to its named fields and
// emits back to the same bytes; digests are added and checked; a PDU cut at any byte is refused as
// truncated; every limit and malformation gives its typed error; seeded garbage never throws.

import { expect } from 'chai';
import { seededRandom } from '../../lib/clock.js';
import {
  AHS_TYPE,
  BHS_BYTES,
  FLAG,
  ISCSI_ERROR,
  ISCSI_MAX_AHS_BYTES,
  OPCODE,
  STAGE,
  buildAhs,
  emitPdu,
  emitPduParts,
  fullCdb,
  listAhs,
  loginFlags,
  loginStages,
  makePdu,
  parsePdu,
  pduTotalBytes,
  type Digests,
  type Pdu,
} from '../../lib/iscsi/pdu.js';
import { FIXTURES, hex } from './fixtures.js';

const NONE: Digests = { header: false, data: false };
const BOTH: Digests = { header: true, data: true };

function parseOne(buf: Uint8Array, digests: Digests = NONE): Pdu {
  const r = parsePdu(buf, 0, digests);
  if (!r.ok) throw r.error;
  expect(r.value.bytes).to.equal(buf.length);
  return r.value.pdu;
}

function errorOf(buf: Uint8Array, digests: Digests = NONE, max?: number): string {
  const r = parsePdu(buf, 0, digests, max);
  expect(r.ok, 'must not parse').to.equal(false);
  return r.ok ? '' : r.error.code;
}

describe('iscsi/pdu codec', () => {
  describe('hex fixtures round-trip (parse then emit gives the same bytes)', () => {
    for (const [name, bytes] of Object.entries(FIXTURES)) {
      it(name, () => {
        const pdu = parseOne(bytes);
        expect(emitPdu(pdu).equals(bytes)).to.equal(true);
      });
    }
  });

  it('with header and data digests: emit adds them, parse checks them, the fields survive', () => {
    for (const [name, bytes] of Object.entries(FIXTURES)) {
      const pdu = parseOne(bytes);
      const wire = emitPdu(pdu, BOTH);
      const dataBytes = pdu.data.length;
      expect(wire.length, name).to.equal(bytes.length + 4 + (dataBytes > 0 ? 4 : 0));
      expect(emitPdu(parseOne(wire, BOTH)).equals(bytes), name).to.equal(true);
    }
  });

  it('reads the named fields of each BHS at their RFC 7143 offsets', () => {
    const read = parseOne(FIXTURES.scsiRead);
    if (read.opcode !== OPCODE.SCSI_COMMAND) throw new Error('opcode');
    expect(read.flags & FLAG.READ).to.equal(FLAG.READ);
    expect(read.flags & FLAG.ATTR_MASK).to.equal(1);
    expect(read.lun).to.equal(0x0001000000000000n);
    expect(read.itt).to.equal(0x11);
    expect(read.expectedDataTransferLength).to.equal(4096);
    expect([read.cmdSN, read.expStatSN]).to.deep.equal([6, 8]);
    expect(Buffer.from(read.cdb).toString('hex')).to.equal('28000000001000000800000000000000');

    const login = parseOne(FIXTURES.loginRequest);
    if (login.opcode !== OPCODE.LOGIN_REQUEST) throw new Error('opcode');
    expect(login.immediate).to.equal(true);
    expect(loginStages(login.flags)).to.deep.equal({ transit: true, cont: false, csg: STAGE.OPERATIONAL, nsg: STAGE.FULL_FEATURE });
    expect(Buffer.from(login.isid).toString('hex')).to.equal('801234560000');
    expect([login.tsih, login.cid, login.cmdSN]).to.deep.equal([0, 0, 0xabcd]);

    const rsp = parseOne(FIXTURES.scsiResponse);
    if (rsp.opcode !== OPCODE.SCSI_RESPONSE) throw new Error('opcode');
    expect([rsp.response, rsp.status, rsp.statSN, rsp.expCmdSN, rsp.maxCmdSN, rsp.expDataSN, rsp.residualCount]).to.deep.equal([0, 0, 8, 7, 0x26, 1, 512]);
    expect(rsp.flags & FLAG.UNDERFLOW).to.equal(FLAG.UNDERFLOW);

    const sense = parseOne(FIXTURES.scsiResponseSense);
    if (sense.opcode !== OPCODE.SCSI_RESPONSE) throw new Error('opcode');
    expect(sense.status).to.equal(2);
    expect(sense.data.length).to.equal(20);

    const din = parseOne(FIXTURES.dataIn);
    if (din.opcode !== OPCODE.DATA_IN) throw new Error('opcode');
    expect(Buffer.from(din.data).toString()).to.equal('hello');
    expect(din.flags & FLAG.STATUS).to.equal(FLAG.STATUS);

    const r2t = parseOne(FIXTURES.r2t);
    if (r2t.opcode !== OPCODE.R2T) throw new Error('opcode');
    expect([r2t.ttt, r2t.r2tSN, r2t.bufferOffset, r2t.desiredDataTransferLength]).to.deep.equal([0x100, 0, 8, 4096]);

    const lo = parseOne(FIXTURES.logoutResponse);
    if (lo.opcode !== OPCODE.LOGOUT_RESPONSE) throw new Error('opcode');
    expect([lo.time2Wait, lo.time2Retain]).to.deep.equal([2, 0]);

    const am = parseOne(FIXTURES.asyncMessage);
    if (am.opcode !== OPCODE.ASYNC_MESSAGE) throw new Error('opcode');
    expect([am.itt, am.asyncEvent, am.parameter3]).to.deep.equal([0xffffffff, 1, 5]);

    const rj = parseOne(FIXTURES.reject);
    if (rj.opcode !== OPCODE.REJECT) throw new Error('opcode');
    expect(rj.reason).to.equal(9);
    expect(Buffer.from(rj.data).equals(FIXTURES.tmfRequest)).to.equal(true);
  });

  it('joins the Extended CDB AHS onto the CDB', () => {
    const pdu = parseOne(FIXTURES.scsiExtCdb);
    if (pdu.opcode !== OPCODE.SCSI_COMMAND) throw new Error('opcode');
    expect(listAhs(pdu.ahs)).to.have.length(1);
    const cdb = fullCdb(pdu);
    expect(cdb.length).to.equal(32);
    expect(Buffer.from(cdb.subarray(16)).toString('hex')).to.equal('0102030405060708090a0b0c0d0e0f10');
    const rebuilt = buildAhs([{ type: AHS_TYPE.EXTENDED_CDB, specific: hex('00 0102030405060708090a0b0c0d0e0f10') }]);
    expect(Buffer.from(rebuilt).equals(Buffer.from(pdu.ahs))).to.equal(true);
  });

  it('pads the data segment with zeros and leaves padding out of the data', () => {
    const pdu = makePdu(OPCODE.DATA_IN, { itt: 1, data: Buffer.from('abcdefg') });
    const wire = emitPdu(pdu);
    expect(wire.length).to.equal(BHS_BYTES + 8);
    expect(wire[BHS_BYTES + 7]).to.equal(0);
    expect(wire.readUIntBE(5, 3)).to.equal(7);
    const parts = emitPduParts(pdu, BOTH);
    expect(parts[1]).to.equal(pdu.data); // the data segment is not copied
    expect(parts[2].length).to.equal(1 + 4);
  });

  it('builds login flags from T, C, CSG and NSG', () => {
    expect(loginFlags(true, false, STAGE.OPERATIONAL, STAGE.FULL_FEATURE)).to.equal(0x87);
    expect(loginFlags(false, true, STAGE.SECURITY, STAGE.OPERATIONAL)).to.equal(0x40);
  });

  it('refuses a PDU cut at any byte as truncated, never misreads it', () => {
    for (const [name, bytes] of Object.entries(FIXTURES)) {
      for (let cut = 0; cut < bytes.length; cut++) {
        expect(errorOf(bytes.subarray(0, cut)), `${name} cut at ${cut}`).to.equal(ISCSI_ERROR.TRUNCATED);
      }
    }
  });

  describe('malformed input returns typed errors, never throws', () => {
    it('a data segment over the receiver limit (checked from the BHS alone)', () => {
      expect(errorOf(FIXTURES.dataOut, NONE, 7)).to.equal(ISCSI_ERROR.DATA_TOO_LONG);
      const r = pduTotalBytes(FIXTURES.dataOut, 0, NONE, 7);
      expect(r.ok).to.equal(false);
      expect(pduTotalBytes(FIXTURES.dataOut, 0, NONE, 8).ok).to.equal(true);
    });

    it('an AHS area over ISCSI_MAX_AHS_BYTES', () => {
      const b = Buffer.from(FIXTURES.scsiRead);
      b[4] = ISCSI_MAX_AHS_BYTES / 4 + 1;
      expect(errorOf(b)).to.equal(ISCSI_ERROR.AHS_TOO_LONG);
    });

    it('an AHS whose length runs past the AHS area, or of length 0', () => {
      const b = Buffer.from(FIXTURES.scsiExtCdb);
      b[BHS_BYTES + 1] = 0x12; // 3 + 18 bytes > 20
      expect(errorOf(b)).to.equal(ISCSI_ERROR.BAD_AHS);
      const zero = Buffer.concat([FIXTURES.scsiRead, Buffer.from('00000100', 'hex')]);
      zero[4] = 1; // one word of AHS: length 0, type 1
      expect(errorOf(zero)).to.equal(ISCSI_ERROR.BAD_AHS);
    });

    it('an AHS on a PDU type that has none', () => {
      const b = Buffer.concat([FIXTURES.nopOut, Buffer.alloc(4)]);
      b[4] = 1;
      b.writeUInt16BE(1, BHS_BYTES);
      expect(errorOf(b)).to.equal(ISCSI_ERROR.BAD_AHS);
    });

    it('a header digest that does not match', () => {
      const wire = emitPdu(parseOne(FIXTURES.scsiRead), BOTH);
      wire[BHS_BYTES] ^= 1;
      expect(errorOf(wire, BOTH)).to.equal(ISCSI_ERROR.HEADER_DIGEST);
      const hdr = emitPdu(parseOne(FIXTURES.scsiRead), BOTH);
      hdr[20] ^= 0x80; // a header byte changed after the digest was computed
      expect(errorOf(hdr, BOTH)).to.equal(ISCSI_ERROR.HEADER_DIGEST);
    });

    it('a data digest that does not match (padding included in the digest)', () => {
      const wire = emitPdu(parseOne(FIXTURES.dataIn), BOTH);
      wire[BHS_BYTES + 4] ^= 1;
      expect(errorOf(wire, BOTH)).to.equal(ISCSI_ERROR.DATA_DIGEST);
      const pad = emitPdu(parseOne(FIXTURES.dataIn), BOTH);
      pad[BHS_BYTES + 4 + 5] = 1; // a padding byte
      expect(errorOf(pad, BOTH)).to.equal(ISCSI_ERROR.DATA_DIGEST);
    });

    it('an opcode RFC 7143 does not define, or the reserved bit of byte 0', () => {
      const b = Buffer.from(FIXTURES.nopOut);
      b[0] = 0x07;
      expect(errorOf(b)).to.equal(ISCSI_ERROR.BAD_OPCODE);
      b[0] = 0x80;
      expect(errorOf(b)).to.equal(ISCSI_ERROR.BAD_OPCODE);
    });

    it('a data segment on a PDU type that has none', () => {
      for (const name of ['tmfRequest', 'tmfResponse', 'logoutRequest', 'logoutResponse', 'r2t', 'snack']) {
        const b = Buffer.concat([FIXTURES[name], Buffer.alloc(4)]);
        b[7] = 4;
        expect(errorOf(b), name).to.equal(ISCSI_ERROR.BAD_FIELD);
      }
    });

    it('seeded garbage and mutated fixtures never throw', () => {
      const rnd = seededRandom(7143);
      const all = Object.values(FIXTURES);
      for (let i = 0; i < 5_000; i++) {
        const base = Buffer.from(all[i % all.length]);
        const n = 1 + Math.floor(rnd() * 4);
        for (let k = 0; k < n; k++) base[Math.floor(rnd() * base.length)] = Math.floor(rnd() * 256);
        const d = rnd() < 0.5 ? NONE : BOTH;
        parsePdu(base, 0, d); // a throw fails the test
      }
    });
  });

  it('emit refuses values its fields cannot hold', () => {
    expect(() => emitPdu(makePdu(OPCODE.LOGIN_RESPONSE, { isid: new Uint8Array(5) }))).to.throw(/isid must be 6 bytes/);
    expect(() => emitPdu(makePdu(OPCODE.NOP_IN, { ahs: new Uint8Array(3) }))).to.throw(/AHS/);
  });
});
