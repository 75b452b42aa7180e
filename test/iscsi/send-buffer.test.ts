// Packed sending (lib/iscsi/send-buffer.ts, emitPduInto in lib/iscsi/pdu.ts): the bytes a run of PDUs
// leaves as are exactly the PDUs emitPdu gives, in order, with and without digests; a run handed out is
// never written again (later PDUs and later slabs leave it as it was); data is copied at add (the caller
// may reuse it); large PDUs leave in a buffer of their own after what was pending.

import { expect } from 'chai';
import { seededRandom } from '../../lib/clock.js';
import { FLAG, OPCODE, emitPdu, emitPduInto, makePdu, pduWireBytes, type Digests, type Pdu } from '../../lib/iscsi/pdu.js';
import { PduSendBuffer, SEND_SLAB_BYTES, SEND_SLAB_LARGE_PDU_BYTES } from '../../lib/iscsi/send-buffer.js';

function dataIn(itt: number, bytes: number, fill: number): Pdu {
  return makePdu(OPCODE.DATA_IN, { flags: FLAG.F | FLAG.STATUS, itt, lun: 3n << 48n, ttt: 0xffffffff, statSN: itt + 7, expCmdSN: 9, maxCmdSN: 40, dataSN: 0, residualCount: 2, data: Buffer.alloc(bytes, fill) });
}

describe('iscsi/PduSendBuffer: PDUs packed per tick', () => {
  for (const digests of [{ header: false, data: false }, { header: true, data: true }] as Digests[]) {
    it(`a run of mixed PDUs is byte for byte the emitPdu of each, in order (digests ${digests.header})`, () => {
      const rnd = seededRandom(11);
      const pdus: Pdu[] = [];
      for (let i = 0; i < 200; i++) {
        const bytes = Math.floor(rnd() * 9000); // crosses slab boundaries, odd lengths need padding
        pdus.push(i % 3 === 0 ? makePdu(OPCODE.SCSI_RESPONSE, { itt: i, status: 2, statSN: i, data: Buffer.alloc(bytes % 300, i) }) : dataIn(i, bytes, i & 0xff));
      }
      const sb = new PduSendBuffer();
      const written: Buffer[] = [];
      for (const p of pdus) sb.add(p, digests, (b) => written.push(Buffer.from(b)));
      const last = sb.take();
      if (last) written.push(last);
      expect(sb.pendingBytes).to.equal(0);
      expect(Buffer.concat(written).equals(Buffer.concat(pdus.map((p) => emitPdu(p, digests))))).to.equal(true);
      expect(written.length).to.be.greaterThan(1);
    });
  }

  it('a run handed out stays as it was while later PDUs are added (no slab is written twice)', () => {
    const sb = new PduSendBuffer();
    const runs: Array<{ view: Buffer; copy: Buffer }> = [];
    const keep = (b: Buffer): void => void runs.push({ view: b, copy: Buffer.from(b) });
    for (let i = 0; i < 100; i++) {
      sb.add(dataIn(i, 4096, i), { header: false, data: false }, keep);
      if (i % 7 === 0) keep(sb.take()!);
    }
    const tail = sb.take();
    if (tail) keep(tail);
    for (const r of runs) expect(r.view.equals(r.copy)).to.equal(true);
  });

  it('copies the data at add: the caller may reuse its buffer at once', () => {
    const sb = new PduSendBuffer();
    const data = Buffer.alloc(512, 0xaa);
    const p = makePdu(OPCODE.DATA_IN, { itt: 1, data });
    const want = emitPdu(p);
    sb.add(p, { header: false, data: false }, () => expect.fail('nothing written before take'));
    data.fill(0x55);
    expect(sb.take()!.equals(want)).to.equal(true);
  });

  it('a large PDU leaves on its own, after the pending run', () => {
    const sb = new PduSendBuffer();
    const small = dataIn(1, 100, 1);
    const big = dataIn(2, SEND_SLAB_LARGE_PDU_BYTES + 1, 2);
    const out: Buffer[] = [];
    sb.add(small, { header: false, data: false }, (b) => out.push(b));
    sb.add(big, { header: false, data: false }, (b) => out.push(b));
    expect(out.map((b) => b.length)).to.deep.equal([pduWireBytes(small, { header: false, data: false }), pduWireBytes(big, { header: false, data: false })]);
    expect(out[1]!.equals(emitPdu(big))).to.equal(true);
    expect(sb.take()).to.equal(undefined);
    expect(SEND_SLAB_LARGE_PDU_BYTES).to.be.lessThan(SEND_SLAB_BYTES);
  });

  it('emitPduInto refuses a buffer without room (VFAB_ISCSI_BAD_EMIT) and writes nothing past it', () => {
    const p = dataIn(1, 100, 1);
    const out = Buffer.alloc(pduWireBytes(p, { header: false, data: false }) - 1, 0x77);
    expect(() => emitPduInto(p, { header: false, data: false }, out, 0)).to.throw(/does not fit/);
    expect(out.every((b) => b === 0x77)).to.equal(true);
  });
});
