// PDU reassembly (lib/iscsi/framer.ts): the fixtures as one TCP stream give the same PDUs whether the
// stream arrives whole, cut in two at every byte, or one byte at a time; digests switched on mid-stream
// apply from the next PDU; a bad PDU is reported and the stream goes on; a fatal one (over the limit,
// header digest) stops the framer; and it never holds more than one PDU.

import { expect } from 'chai';
import { seededRandom } from '../../lib/clock.js';
import { IscsiFramer, type FramerEvent } from '../../lib/iscsi/framer.js';
import { BHS_BYTES, ISCSI_ERROR, ISCSI_MAX_PDU_BYTES, emitPdu, parsePdu, type Digests } from '../../lib/iscsi/pdu.js';
import { FIXTURES } from './fixtures.js';

const NONE: Digests = { header: false, data: false };
const BOTH: Digests = { header: true, data: true };
const PARTS = Object.values(FIXTURES);
const STREAM = Buffer.concat(PARTS);

/** Pushes the chunks and returns the events, each PDU re-emitted (without digests) for comparison. */
function run(chunks: Uint8Array[], framer = new IscsiFramer()): { pdus: Buffer[]; others: FramerEvent[]; maxHeld: number } {
  const pdus: Buffer[] = [];
  const others: FramerEvent[] = [];
  let maxHeld = 0;
  for (const c of chunks) {
    framer.push(c, (e) => (e.type === 'pdu' ? pdus.push(emitPdu(e.pdu)) : others.push(e)));
    maxHeld = Math.max(maxHeld, framer.bufferedBytes);
  }
  return { pdus, others, maxHeld };
}

function expectAll(pdus: Buffer[], what: string): void {
  expect(pdus.length, what).to.equal(PARTS.length);
  pdus.forEach((p, i) => expect(p.equals(PARTS[i]), `${what}: PDU ${i}`).to.equal(true));
}

describe('iscsi/framer', () => {
  it('coalesced: the whole stream in one chunk gives every PDU in order', () => {
    const r = run([STREAM]);
    expectAll(r.pdus, 'one chunk');
    expect(r.maxHeld).to.equal(0);
  });

  it('hands out PDUs that lie whole in a chunk as views of it (no copy), the last one included', () => {
    const chunk = Buffer.concat([FIXTURES.dataOut, FIXTURES.dataIn]);
    const datas: Uint8Array[] = [];
    new IscsiFramer().push(chunk, (e) => e.type === 'pdu' && datas.push(e.pdu.data));
    expect(datas.length).to.equal(2);
    for (const d of datas) expect(d.buffer).to.equal(chunk.buffer);
  });

  it('split: the stream cut in two at every byte gives the same PDUs', () => {
    for (let cut = 1; cut < STREAM.length; cut++) {
      const r = run([STREAM.subarray(0, cut), STREAM.subarray(cut)]);
      expectAll(r.pdus, `cut at ${cut}`);
      expect(r.others, `cut at ${cut}`).to.deep.equal([]);
    }
  });

  it('one byte at a time gives the same PDUs, holding at most one PDU', () => {
    const bytes = [...STREAM].map((b) => Uint8Array.of(b));
    const r = run(bytes);
    expectAll(r.pdus, 'bytewise');
    expect(r.maxHeld).to.be.lessThan(Math.max(...PARTS.map((p) => p.length)));
  });

  it('with digests: seeded random chunk sizes give the same PDUs', () => {
    const wire = Buffer.concat(PARTS.map((p) => {
      const r = parsePdu(p, 0, NONE);
      if (!r.ok) throw r.error;
      return emitPdu(r.value.pdu, BOTH);
    }));
    const rnd = seededRandom(3720);
    for (let round = 0; round < 50; round++) {
      const chunks: Buffer[] = [];
      for (let p = 0; p < wire.length; ) {
        const n = 1 + Math.floor(rnd() * 120);
        chunks.push(wire.subarray(p, p + n));
        p += n;
      }
      expectAll(run(chunks, new IscsiFramer({ digests: BOTH })).pdus, `round ${round}`);
    }
  });

  it('digests switched on from a handler apply from the next PDU of the same chunk', () => {
    const login = FIXTURES.loginRequest;
    const next = parsePdu(FIXTURES.scsiRead, 0, NONE);
    if (!next.ok) throw next.error;
    const wire = Buffer.concat([login, emitPdu(next.value.pdu, BOTH)]);
    const framer = new IscsiFramer();
    const got: string[] = [];
    framer.push(wire, (e) => {
      got.push(e.type);
      if (e.type === 'pdu' && e.pdu.opcode === 0x03) framer.configure({ digests: BOTH, maxDataSegmentBytes: 65536 });
    });
    expect(got).to.deep.equal(['pdu', 'pdu']);
  });

  it('a bad PDU (unknown opcode, data digest) is reported with its header and the stream goes on', () => {
    const bad = Buffer.from(FIXTURES.nopOut);
    bad[0] = 0x07;
    const r = run([Buffer.concat([FIXTURES.scsiRead, bad, FIXTURES.nopOut])]);
    expect(r.pdus.length).to.equal(2);
    expect(r.others.length).to.equal(1);
    const e = r.others[0];
    if (e.type !== 'bad-pdu') throw new Error(e.type);
    expect(e.error.code).to.equal(ISCSI_ERROR.BAD_OPCODE);
    expect(Buffer.from(e.header).equals(bad.subarray(0, BHS_BYTES))).to.equal(true);

    const dp = parsePdu(FIXTURES.dataOut, 0, NONE);
    if (!dp.ok) throw dp.error;
    const wire = emitPdu(dp.value.pdu, BOTH);
    wire[BHS_BYTES + 4 + 2] ^= 0xff;
    const d = run([wire, emitPdu(dp.value.pdu, BOTH)], new IscsiFramer({ digests: BOTH }));
    expect(d.others.map((x) => (x.type === 'bad-pdu' ? x.error.code : x.type))).to.deep.equal([ISCSI_ERROR.DATA_DIGEST]);
    expect(d.pdus.length).to.equal(1);
  });

  it('a data segment over the limit is fatal as soon as the BHS is in, before the data is buffered', () => {
    const framer = new IscsiFramer({ maxDataSegmentBytes: 8192 });
    const big = Buffer.alloc(BHS_BYTES);
    big[0] = 0x05;
    big.writeUIntBE(8193, 5, 3);
    const events: FramerEvent[] = [];
    framer.push(big, (e) => events.push(e));
    expect(events.map((e) => e.type)).to.deep.equal(['fatal']);
    expect(events[0].type === 'fatal' && events[0].error.code).to.equal(ISCSI_ERROR.DATA_TOO_LONG);
    expect(framer.bufferedBytes).to.equal(0);
    framer.push(FIXTURES.nopOut, (e) => events.push(e));
    expect(events.length, 'no input taken after a fatal error').to.equal(1);
    expect(framer.failed).to.equal(true);
  });

  it('a header digest mismatch is fatal, whether the PDU arrives whole or in pieces', () => {
    const p = parsePdu(FIXTURES.nopOut, 0, NONE);
    if (!p.ok) throw p.error;
    const wire = emitPdu(p.value.pdu, BOTH);
    wire[BHS_BYTES] ^= 1;
    for (const chunks of [[wire], [...wire].map((b) => Uint8Array.of(b))]) {
      const r = run([...chunks, FIXTURES.nopOut], new IscsiFramer({ digests: BOTH }));
      expect(r.others.map((e) => (e.type === 'fatal' ? e.error.code : e.type))).to.deep.equal([ISCSI_ERROR.HEADER_DIGEST]);
      expect(r.pdus).to.deep.equal([]);
    }
  });

  it('seeded garbage never throws and never holds more than the largest PDU', () => {
    const rnd = seededRandom(11);
    for (let round = 0; round < 200; round++) {
      const framer = new IscsiFramer({ digests: rnd() < 0.5 ? NONE : BOTH });
      for (let i = 0; i < 20 && !framer.failed; i++) {
        const chunk = Buffer.from(PARTS[Math.floor(rnd() * PARTS.length)]);
        if (rnd() < 0.5) chunk[Math.floor(rnd() * chunk.length)] = Math.floor(rnd() * 256);
        framer.push(chunk.subarray(0, 1 + Math.floor(rnd() * chunk.length)), () => undefined);
        expect(framer.bufferedBytes).to.be.at.most(ISCSI_MAX_PDU_BYTES);
      }
    }
  });
});
