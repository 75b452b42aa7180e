// Block protocol codec (lib/storage/protocol.ts): hex-fixture round trips, emit into 0xa5-filled buffers,
// batching, unknown records, and every parse error on malformed input (never a throw).

import { expect } from 'chai';
import {
  BLOCK_ERROR,
  MAX_BLOCK_MESSAGE_BYTES,
  MAX_DATA_TRANSFER_BYTES,
  RECORD_TYPE,
  emitRecord,
  encodeMessage,
  errorRecord,
  isUnknownRecord,
  parseMessage,
  parseRecord,
  peekTag,
  recordSize,
  MAX_ERROR_MESSAGE_BYTES,
  type BlockRecord,
  type CommandRecord,
} from '../../lib/storage/protocol.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

const FIXTURES: Record<string, string> = {
  command: '03 00 0000 0000001e 01020304 0005 0a 00 00000000 28000000001000000100',
  commandWithData: '03 00 0000 00000022 00000009 0000 0a 00 00000004 2a000000000000000100 deadbeef',
  response: '04 00 0000 00000026 00000007 02 12 0000 00000000 700005000000000a000000002100000000 00',
  responseData: '04 00 0000 00000018 00000008 00 00 0000 00000004 cafebabe',
  hello: '01 00 0000 00000016 0001 0020 0006 0000 69716e2e6831',
  helloAck: '02 00 0000 0000002d 0001 0010 00000009 00100000 00100000 0001 0000 0000 0001 00000200 0000000000000800 61',
  error: '05 00 0000 00000019 00000003 0006 0003 564641425f58 626164',
};

function parseOne(buf: Buffer): BlockRecord {
  const r = parseRecord(buf);
  if (!r.ok) throw r.error;
  expect(r.value.bytes).to.equal(buf.length);
  return r.value.record;
}

function emitFilled(rec: BlockRecord): Buffer {
  const buf = Buffer.alloc(recordSize(rec) + 4, 0xa5);
  const n = emitRecord(buf, 2, rec);
  expect(n).to.equal(recordSize(rec));
  expect(buf[0]).to.equal(0xa5);
  expect(buf[1]).to.equal(0xa5);
  expect(buf[n + 2]).to.equal(0xa5);
  return buf.subarray(2, 2 + n);
}

describe('storage/protocol codec', () => {
  describe('hex fixtures round-trip (parse then emit gives the same bytes)', () => {
    for (const [name, h] of Object.entries(FIXTURES)) {
      it(name, () => {
        const bytes = hex(h);
        const rec = parseOne(bytes);
        expect(emitFilled(rec).equals(bytes)).to.equal(true);
      });
    }
  });

  it('decodes COMMAND fields (tag, LUN, CDB view, no data-out)', () => {
    const rec = parseOne(hex(FIXTURES.command)) as CommandRecord;
    expect(rec.type).to.equal(RECORD_TYPE.COMMAND);
    expect(rec.tag).to.equal(0x01020304);
    expect(rec.lun).to.equal(5);
    expect(Buffer.from(rec.cdb).toString('hex')).to.equal('28000000001000000100');
    expect(rec.dataOut).to.equal(undefined);
    const withData = parseOne(hex(FIXTURES.commandWithData)) as CommandRecord;
    expect(Buffer.from(withData.dataOut!).toString('hex')).to.equal('deadbeef');
  });

  it('decodes RESPONSE with CHECK CONDITION sense and HELLO_ACK LUN list', () => {
    const rsp = parseOne(hex(FIXTURES.response));
    expect(rsp).to.include({ type: RECORD_TYPE.RESPONSE, tag: 7, status: 2 });
    if (rsp.type !== RECORD_TYPE.RESPONSE || isUnknownRecord(rsp)) throw new Error('type');
    expect(rsp.sense!.length).to.equal(18);
    expect(rsp.sense![12]).to.equal(0x21);
    const ack = parseOne(hex(FIXTURES.helloAck));
    expect(ack).to.deep.include({ type: RECORD_TYPE.HELLO_ACK, version: 1, maxInFlight: 16, sessionId: 9, maxDataOutBytes: 0x100000 });
    if (ack.type !== RECORD_TYPE.HELLO_ACK || isUnknownRecord(ack)) throw new Error('type');
    expect(ack.luns).to.deep.equal([{ lun: 0, name: 'a', blockSizeBytes: 512, blocks: 2048 }]);
    const hello = parseOne(hex(FIXTURES.hello));
    expect(hello).to.deep.equal({ type: RECORD_TYPE.HELLO, version: 1, maxInFlight: 32, initiator: 'iqn.h1' });
    expect(parseOne(hex(FIXTURES.error))).to.deep.equal({ type: RECORD_TYPE.ERROR, tag: 3, code: 'VFAB_X', message: 'bad' });
  });

  it('batches several records in one message and parses them in order', () => {
    const msg = Buffer.concat([hex(FIXTURES.command), hex(FIXTURES.commandWithData), hex(FIXTURES.error)]);
    const r = parseMessage(msg);
    expect(r.ok).to.equal(true);
    if (!r.ok) return;
    expect(r.value.map((x) => x.type)).to.deep.equal([3, 3, 5]);
    expect(encodeMessage(r.value).equals(msg)).to.equal(true);
  });

  it('keeps an unknown record type whole and emits it unchanged', () => {
    const unknown = hex('7f 00 0000 0000000c 11223344');
    const msg = Buffer.concat([unknown, hex(FIXTURES.command)]);
    const r = parseMessage(msg);
    if (!r.ok) throw r.error;
    expect(isUnknownRecord(r.value[0])).to.equal(true);
    expect(encodeMessage(r.value).equals(msg)).to.equal(true);
  });

  describe('malformed input returns typed errors, never throws', () => {
    const cases: Array<[string, Buffer, string]> = [
      ['empty message', Buffer.alloc(0), BLOCK_ERROR.EMPTY_MESSAGE],
      ['short header', hex('03 00 00'), BLOCK_ERROR.TRUNCATED],
      ['length past the end', hex('03 00 0000 000000ff 01020304'), BLOCK_ERROR.TRUNCATED],
      ['length below the header', hex('03 00 0000 00000004'), BLOCK_ERROR.BAD_LENGTH],
      ['non-zero flags', hex(FIXTURES.command.replace(/^03 00/, '03 01')), BLOCK_ERROR.BAD_RESERVED],
      ['CDB of 5 bytes', hex('03 00 0000 00000019 00000001 0000 05 00 00000000 0000000000'), BLOCK_ERROR.CDB_LENGTH],
      ['CDB of 17 bytes', hex('03 00 0000 00000025 00000001 0000 11 00 00000000' + '00'.repeat(17)), BLOCK_ERROR.CDB_LENGTH],
      ['COMMAND length disagrees with fields', hex('03 00 0000 0000001f 00000001 0000 0a 00 00000000 28000000001000000100 00'), BLOCK_ERROR.BAD_LENGTH],
      ['data-out over the limit', hex(`03 00 0000 0000001e 00000001 0000 0a 00 ${(MAX_DATA_TRANSFER_BYTES + 1).toString(16).padStart(8, '0')} 28000000001000000100`), BLOCK_ERROR.DATA_TOO_LARGE],
      ['HELLO with empty name', hex('01 00 0000 00000010 0001 0020 0000 0000'), BLOCK_ERROR.BAD_NAME],
      ['HELLO with invalid UTF-8', hex('01 00 0000 00000012 0001 0020 0002 0000 c328'), BLOCK_ERROR.BAD_NAME],
      ['HELLO with a control character', hex('01 00 0000 00000011 0001 0020 0001 0000 0a'), BLOCK_ERROR.BAD_NAME],
      ['HELLO_ACK LUN entry overrun', hex('02 00 0000 0000001c 0001 0010 00000009 00100000 00100000 0001 0000'), BLOCK_ERROR.BAD_LENGTH],
      ['RESPONSE with sense too long for the record', hex('04 00 0000 00000014 00000007 02 12 0000 00000000'), BLOCK_ERROR.BAD_LENGTH],
    ];
    for (const [name, bytes, code] of cases) {
      it(`${name} -> ${code}`, () => {
        const r = parseMessage(bytes);
        expect(r.ok).to.equal(false);
        if (!r.ok) expect(r.error.code).to.equal(code);
      });
    }

    it('rejects a whole message over MAX_BLOCK_MESSAGE_BYTES before parsing', () => {
      const r = parseMessage(Buffer.alloc(MAX_BLOCK_MESSAGE_BYTES + 1));
      expect(r.ok).to.equal(false);
      if (!r.ok) expect(r.error.code).to.equal(BLOCK_ERROR.MESSAGE_TOO_LARGE);
    });

    it('a bad record inside a batch rejects the batch and names its tag and index', () => {
      const bad = hex('03 00 0000 00000019 0000002a 0000 05 00 00000000 0000000000');
      const r = parseMessage(Buffer.concat([hex(FIXTURES.command), bad]));
      expect(r.ok).to.equal(false);
      if (!r.ok) expect(r.error.details).to.include({ tag: 42, recordIndex: 1 });
    });

    it('survives random garbage (fuzz, 2000 seeded inputs)', () => {
      let seed = 12345;
      const rnd = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
      for (let i = 0; i < 2000; i++) {
        const base = hex(Object.values(FIXTURES)[i % 7]);
        const b = Buffer.from(base);
        for (let k = 0; k < 3; k++) b[rnd() % b.length] = rnd();
        expect(() => parseMessage(b.subarray(0, 1 + (rnd() % b.length)))).not.to.throw();
      }
    });
  });

  it('peekTag reads the tag of COMMAND/RESPONSE/ERROR and 0 otherwise', () => {
    expect(peekTag(hex(FIXTURES.command))).to.equal(0x01020304);
    expect(peekTag(hex(FIXTURES.hello))).to.equal(0);
    expect(peekTag(hex('03 00'))).to.equal(0);
  });

  it('emit refuses a CDB outside 6..16 bytes (sender bug, not untrusted input)', () => {
    const rec: CommandRecord = { type: RECORD_TYPE.COMMAND, tag: 1, lun: 0, cdb: new Uint8Array(20), dataOut: undefined };
    expect(() => encodeMessage([rec])).to.throw(/CDB length/);
  });

  it('errorRecord truncates long messages to MAX_ERROR_MESSAGE_BYTES and they round-trip', () => {
    const rec = errorRecord(5, 'VFAB_BLOCK_X', 'é'.repeat(2000));
    expect(Buffer.byteLength(rec.message)).to.be.at.most(MAX_ERROR_MESSAGE_BYTES);
    const r = parseMessage(encodeMessage([rec]));
    if (!r.ok) throw r.error;
    expect(r.value[0]).to.deep.equal(rec);
  });
});
