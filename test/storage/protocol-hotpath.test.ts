// Block protocol hot path (lib/storage/protocol.ts): scanRecord accepts exactly the COMMAND/RESPONSE records
// parseRecord accepts and reports the same fields (hex fixtures plus seeded byte mutations), emitCommand /
// emitResponse write the same bytes as emitRecord (into 0xa5-filled buffers), and MessageBuilder batches,
// grows, bounds and reuses its buffers.

import { expect } from 'chai';
import { seededRandom } from '../../lib/clock.js';
import {
  BLOCK_ERROR,
  MAX_BLOCK_MESSAGE_BYTES,
  MESSAGE_BUILDER_SPARES,
  MessageBuilder,
  RECORD_TYPE,
  RecordScan,
  commandRecordBytes,
  emitCommand,
  emitRecord,
  emitResponse,
  parseRecord,
  recordSize,
  responseRecordBytes,
  scanRecord,
  type CommandRecord,
  type ResponseRecord,
} from '../../lib/storage/protocol.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

const COMMAND = '03 00 0000 0000001e 01020304 0005 0a 00 00000000 28000000001000000100';
const COMMAND_DATA = '03 00 0000 00000022 00000009 0000 0a 00 00000004 2a000000000000000100 deadbeef';
const RESPONSE_SENSE = '04 00 0000 00000026 00000007 02 12 0000 00000000 700005000000000a000000002100000000 00';
const RESPONSE_DATA = '04 00 0000 00000018 00000008 00 00 0000 00000004 cafebabe';
const HELLO = '01 00 0000 00000016 0001 0020 0006 0000 69716e2e6831';
const ERROR = '05 00 0000 00000019 00000003 0006 0003 564641425f58 626164';

/** scanRecord agrees with parseRecord on `buf` at `offset`: same verdict for COMMAND/RESPONSE, same fields. */
function expectAgreement(buf: Buffer, offset = 0): boolean {
  const scan = new RecordScan();
  const scanned = scanRecord(buf, offset, scan);
  const parsed = parseRecord(buf, offset);
  const rec = parsed.ok ? parsed.value.record : undefined;
  const isCmdOrRsp = rec !== undefined && (rec.type === RECORD_TYPE.COMMAND || rec.type === RECORD_TYPE.RESPONSE);
  expect(scanned, `scan ${buf.toString('hex')}`).to.equal(isCmdOrRsp);
  if (!scanned || rec === undefined) return false;
  expect(scan.recordBytes).to.equal(parsed.ok ? parsed.value.bytes : -1);
  if (rec.type === RECORD_TYPE.COMMAND) {
    const c = rec as CommandRecord;
    expect(scan.type).to.equal(RECORD_TYPE.COMMAND);
    expect(scan.tag).to.equal(c.tag);
    expect(scan.lun).to.equal(c.lun);
    expect(Buffer.from(buf.subarray(scan.cdbOffset, scan.cdbOffset + scan.cdbBytes))).to.deep.equal(Buffer.from(c.cdb));
    expect(scan.dataBytes).to.equal(c.dataOut?.length ?? 0);
    if (c.dataOut) expect(Buffer.from(buf.subarray(scan.dataOffset, scan.dataOffset + scan.dataBytes))).to.deep.equal(Buffer.from(c.dataOut));
  } else {
    const r = rec as ResponseRecord;
    expect(scan.type).to.equal(RECORD_TYPE.RESPONSE);
    expect(scan.tag).to.equal(r.tag);
    expect(scan.status).to.equal(r.status);
    expect(scan.senseBytes).to.equal(r.sense?.length ?? 0);
    expect(scan.dataBytes).to.equal(r.dataIn?.length ?? 0);
    if (r.dataIn) expect(Buffer.from(buf.subarray(scan.dataOffset, scan.dataOffset + scan.dataBytes))).to.deep.equal(Buffer.from(r.dataIn));
    if (r.sense) expect(Buffer.from(buf.subarray(scan.senseOffset, scan.senseOffset + scan.senseBytes))).to.deep.equal(Buffer.from(r.sense));
  }
  return true;
}

describe('storage/protocol hot path (scanRecord, emitCommand/emitResponse, MessageBuilder)', () => {
  it('scanRecord reads the fixture COMMANDs and RESPONSEs with the same fields as parseRecord', () => {
    for (const f of [COMMAND, COMMAND_DATA, RESPONSE_SENSE, RESPONSE_DATA]) expect(expectAgreement(hex(f))).to.equal(true);
  });

  it('scanRecord declines HELLO, ERROR and unknown record types (parseRecord handles them)', () => {
    const unknown = hex('09 00 0000 00000014 0000000000000000 00000000');
    for (const b of [hex(HELLO), hex(ERROR), unknown]) expect(scanRecord(b, 0, new RecordScan())).to.equal(false);
  });

  it('scanRecord works at an offset inside a batched message', () => {
    const msg = Buffer.concat([hex(COMMAND), hex(COMMAND_DATA)]);
    const scan = new RecordScan();
    expect(scanRecord(msg, 0, scan)).to.equal(true);
    expect(scanRecord(msg, scan.recordBytes, scan)).to.equal(true);
    expect(scan.tag).to.equal(9);
    expect(expectAgreement(msg, 30)).to.equal(true);
  });

  it('scanRecord never accepts what parseRecord rejects: 4000 seeded mutations and truncations of valid records', () => {
    const rnd = seededRandom(42);
    const bases = [COMMAND, COMMAND_DATA, RESPONSE_SENSE, RESPONSE_DATA].map(hex);
    let accepted = 0;
    for (let i = 0; i < 4000; i++) {
      const base = bases[i % bases.length]!;
      let b = Buffer.from(base);
      const flips = 1 + Math.floor(rnd() * 3);
      for (let k = 0; k < flips; k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      if (rnd() < 0.2) b = b.subarray(0, Math.floor(rnd() * b.length));
      if (expectAgreement(b)) accepted++;
    }
    // Mutations of the data bytes stay valid records, so some are accepted: both paths were exercised.
    expect(accepted).to.be.greaterThan(100);
    expect(accepted).to.be.lessThan(4000);
  });

  it('emitResponse writes the same bytes as emitRecord (0xa5-filled buffers, with sense, with data, bare)', () => {
    const cases: ResponseRecord[] = [
      { type: RECORD_TYPE.RESPONSE, tag: 7, status: 2, sense: hex('700005000000000a000000002100000000 00'), dataIn: undefined },
      { type: RECORD_TYPE.RESPONSE, tag: 0xfffffffe, status: 0, sense: undefined, dataIn: Buffer.alloc(4096, 0x3c) },
      { type: RECORD_TYPE.RESPONSE, tag: 1, status: 0x28, sense: undefined, dataIn: undefined },
    ];
    for (const r of cases) {
      const size = responseRecordBytes(r.sense?.length ?? 0, r.dataIn?.length ?? 0);
      expect(size).to.equal(recordSize(r));
      const a = Buffer.alloc(size + 6, 0xa5);
      const b = Buffer.alloc(size + 6, 0xa5);
      expect(emitRecord(a, 3, r)).to.equal(size);
      expect(emitResponse(b, 3, r.tag, r.status, r.sense, r.dataIn)).to.equal(size);
      expect(b.toString('hex')).to.equal(a.toString('hex'));
    }
    expect(hex(RESPONSE_DATA).toString('hex')).to.equal(
      (() => {
        const b = Buffer.alloc(24, 0xa5);
        emitResponse(b, 0, 8, 0, undefined, hex('cafebabe'));
        return b.toString('hex');
      })(),
    );
  });

  it('emitCommand writes the same bytes as emitRecord and refuses a bad CDB length or LUN', () => {
    const c: CommandRecord = { type: RECORD_TYPE.COMMAND, tag: 9, lun: 0, cdb: hex('2a000000000000000100'), dataOut: hex('deadbeef') };
    const size = commandRecordBytes(10, 4);
    expect(size).to.equal(recordSize(c));
    const a = Buffer.alloc(size, 0xa5);
    const b = Buffer.alloc(size, 0xa5);
    emitRecord(a, 0, c);
    emitCommand(b, 0, c.tag, c.lun, c.cdb, c.dataOut);
    expect(b.toString('hex')).to.equal(a.toString('hex'));
    expect(b.toString('hex')).to.equal(hex(COMMAND_DATA).toString('hex'));
    expect(() => emitCommand(Buffer.alloc(64), 0, 1, 0, new Uint8Array(5), undefined)).to.throw().with.property('code', BLOCK_ERROR.BAD_COMMAND);
    expect(() => emitCommand(Buffer.alloc(64), 0, 1, 0x10000, new Uint8Array(10), undefined)).to.throw().with.property('code', BLOCK_ERROR.BAD_COMMAND);
  });

  it('MessageBuilder: records reserved in one turn come out as one message, in order', () => {
    const m = new MessageBuilder(64);
    const r1 = m.reserve(responseRecordBytes(0, 4));
    emitResponse(m.buffer, r1, 1, 0, undefined, hex('01020304'));
    const r2 = m.reserve(responseRecordBytes(0, 0));
    emitResponse(m.buffer, r2, 2, 0x28, undefined, undefined);
    const msg = m.take();
    expect(msg.length).to.equal(44);
    const scan = new RecordScan();
    expect(scanRecord(msg, 0, scan) && scan.tag).to.equal(1);
    expect(scanRecord(msg, 24, scan) && scan.tag).to.equal(2);
    expect(m.bytes).to.equal(0);
    expect(m.take().length).to.equal(0);
  });

  it('MessageBuilder grows past its first buffer keeping what was written, and refuses more than MAX_BLOCK_MESSAGE_BYTES', () => {
    const m = new MessageBuilder(32);
    const at = m.reserve(24);
    emitResponse(m.buffer, at, 5, 0, undefined, hex('aabbccdd'));
    const at2 = m.reserve(4096 + 20);
    emitResponse(m.buffer, at2, 6, 0, undefined, Buffer.alloc(4096, 1));
    const msg = m.take();
    const scan = new RecordScan();
    expect(scanRecord(msg, 0, scan) && scan.tag).to.equal(5);
    expect(scanRecord(msg, 24, scan) && scan.dataBytes).to.equal(4096);
    expect(() => new MessageBuilder(16).reserve(MAX_BLOCK_MESSAGE_BYTES + 1)).to.throw().with.property('code', BLOCK_ERROR.BAD_COMMAND);
  });

  it('MessageBuilder reuses a buffer only after written() and keeps at most MESSAGE_BUILDER_SPARES', () => {
    const m = new MessageBuilder(8192); // above Buffer.poolSize / 2: each buffer has its own ArrayBuffer
    m.reserve(10);
    const first = m.take();
    m.reserve(10);
    const second = m.take();
    expect(second.buffer).to.not.equal(first.buffer); // first still being written
    m.written(); // first done
    m.written(); // second done
    m.reserve(10);
    const third = m.take(); // written in the buffer started when `second` was taken
    expect([first.buffer, second.buffer]).to.not.include(third.buffer);
    m.reserve(10);
    const fourth = m.take(); // written in a reused one
    expect([first.buffer, second.buffer]).to.include(fourth.buffer);
    const taken: Buffer[] = [];
    for (let i = 0; i < MESSAGE_BUILDER_SPARES + 3; i++) {
      m.reserve(1);
      taken.push(m.take());
    }
    for (let i = 0; i < taken.length + 1; i++) m.written();
    expect((m as unknown as { spare: Buffer[] }).spare.length).to.be.at.most(MESSAGE_BUILDER_SPARES);
  });
});
