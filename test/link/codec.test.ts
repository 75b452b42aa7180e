// Tests for lib/link/codec.ts: record layout against hex fixtures (emit into 0xa5-filled chunks),
// decode of every record type, batching across chunks, and typed errors for malformed input.

import { expect } from 'chai';
import {
  CAPTURE_DIRECTION_OUT,
  CarrierReason,
  LINK_PROTOCOL_VERSION,
  LinkEncoder,
  MAX_LINK_MESSAGE_BYTES,
  RECORD_FRAME,
  carrierReasonName,
  parseLinkMessage,
  type LinkRecord,
} from '../../lib/link/codec.js';
import { MAX_FRAME_BYTES } from '../../lib/wire/ethernet.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const FRAME_HEX = 'ffffffffffff 005056000001 88b5 0102';
const filled = (n: number) => Buffer.alloc(n, 0xa5);

function records(message: Buffer): LinkRecord[] {
  const parsed = parseLinkMessage(message);
  if (!parsed.ok) throw parsed.error;
  return parsed.value;
}

describe('link codec: encoder', () => {
  it('lays out HELLO, CARRIER, FRAME and CAPTURE_FRAME records as documented', () => {
    const enc = new LinkEncoder(undefined, filled);
    enc.appendHello(LINK_PROTOCOL_VERSION, 'esx1/vmnic0');
    enc.appendCarrier(true, CarrierReason.NONE);
    expect(enc.appendFrame(hex(FRAME_HEX))).to.equal(true);
    expect(enc.appendCaptureFrame(0x0102030405060708n, CAPTURE_DIRECTION_OUT, 7, hex(FRAME_HEX))).to.equal(true);
    const messages = enc.take();
    expect(messages).to.have.length(1);
    const expected =
      '03 000c 01 657378312f766d6e696330' + // HELLO: len 12, version 1, "esx1/vmnic0"
      '02 0002 01 00' + // CARRIER: up, reason none
      '01 0010 ' + FRAME_HEX + // FRAME: 16 bytes
      '04 001d 0102030405060708 01 00000007 ' + FRAME_HEX; // CAPTURE_FRAME: 13 + 16 bytes
    expect(messages[0]!.toString('hex')).to.equal(hex(expected).toString('hex'));
  });

  it('returns nothing for an empty batch and starts a new batch after take()', () => {
    const enc = new LinkEncoder(undefined, filled);
    expect(enc.take()).to.deep.equal([]);
    enc.appendCarrier(false, CarrierReason.ADMIN_DOWN);
    const first = enc.take();
    enc.appendCarrier(true, CarrierReason.ADMIN_UP);
    const second = enc.take();
    expect(first[0]!.toString('hex')).to.equal('0200020001');
    expect(second[0]!.toString('hex')).to.equal('0200020102');
    expect(enc.pendingBytes).to.equal(0);
  });

  it('refuses runt and oversize frames without appending anything', () => {
    const enc = new LinkEncoder();
    expect(enc.appendFrame(Buffer.alloc(13))).to.equal(false);
    expect(enc.appendFrame(Buffer.alloc(MAX_FRAME_BYTES + 1))).to.equal(false);
    expect(enc.appendFrame(Buffer.alloc(MAX_FRAME_BYTES))).to.equal(true);
    expect(enc.pendingBytes).to.equal(MAX_FRAME_BYTES + 3);
  });

  it('refuses an empty or over-long endpoint name', () => {
    const enc = new LinkEncoder();
    expect(() => enc.appendHello(1, '')).to.throw().with.property('code', 'VFAB_LINK_BAD_ENDPOINT_NAME');
    expect(() => enc.appendHello(1, 'x'.repeat(129))).to.throw().with.property('code', 'VFAB_LINK_BAD_ENDPOINT_NAME');
  });

  it('splits a large batch into several messages, each within MAX_LINK_MESSAGE_BYTES, keeping order', () => {
    const enc = new LinkEncoder();
    const count = 40;
    for (let i = 0; i < count; i++) {
      const frame = Buffer.alloc(MAX_FRAME_BYTES, i);
      enc.appendFrame(frame);
    }
    expect(enc.pendingBytes).to.equal(count * (MAX_FRAME_BYTES + 3));
    const messages = enc.take();
    expect(messages.length).to.be.greaterThan(1);
    const seen: number[] = [];
    for (const m of messages) {
      expect(m.length).to.be.at.most(MAX_LINK_MESSAGE_BYTES);
      for (const r of records(m)) if (r.type === 'frame') seen.push(r.frame[0]!);
    }
    expect(seen).to.deep.equal([...Array(count).keys()]);
  });

  it('never rewrites a message after take(): the next batch writes after it', () => {
    const enc = new LinkEncoder();
    enc.appendFrame(hex(FRAME_HEX));
    const [first] = enc.take();
    const snapshot = Buffer.from(first!);
    for (let i = 0; i < 5000; i++) enc.appendFrame(Buffer.alloc(100, 0xee));
    enc.take();
    expect(first!.equals(snapshot)).to.equal(true);
  });

  it('rewind() (the transport holds none of the taken bytes) makes the next batch reuse the chunk from its start', () => {
    const enc = new LinkEncoder();
    enc.appendFrame(Buffer.alloc(64, 1));
    const [first] = enc.take();
    enc.rewind();
    enc.appendFrame(Buffer.alloc(64, 2));
    const [second] = enc.take();
    expect(second!.buffer).to.equal(first!.buffer);
    expect(second!.byteOffset).to.equal(first!.byteOffset);
    expect(second![3]).to.equal(2);
  });

  it('rewind() does nothing while a batch is open or sealed messages wait', () => {
    const enc = new LinkEncoder();
    enc.appendFrame(Buffer.alloc(64, 1));
    enc.rewind(); // open batch: ignored
    enc.appendFrame(Buffer.alloc(64, 2));
    const [both] = enc.take();
    expect(both!.length).to.equal(2 * (3 + 64));
    expect(both![3]).to.equal(1);
    // a batch larger than a chunk leaves a sealed message behind the open one: ignored too
    for (let i = 0; i < 2000; i++) enc.appendFrame(Buffer.alloc(100, 3));
    enc.rewind();
    const messages = enc.take();
    expect(messages.length).to.be.greaterThan(1);
    expect(messages.reduce((n, m) => n + m.length, 0)).to.equal(2000 * 103);
  });
});

describe('link codec: decoder', () => {
  it('decodes every record type from a hex fixture', () => {
    const message = hex('03 0003 01 6869  02 0002 00 03  01 0010 ' + FRAME_HEX + ' 04 001d 0000000000000064 00 00000002 ' + FRAME_HEX);
    const r = records(message);
    expect(r.map((x) => x.type)).to.deep.equal(['hello', 'carrier', 'frame', 'capture']);
    expect(r[0]).to.deep.include({ version: 1, endpointName: 'hi' });
    expect(r[1]).to.deep.include({ up: false, reasonCode: CarrierReason.PEER_GONE });
    expect(carrierReasonName((r[1] as { reasonCode: number }).reasonCode)).to.equal('peer-gone');
    expect((r[2] as { frame: Buffer }).frame.toString('hex')).to.equal(hex(FRAME_HEX).toString('hex'));
    expect(r[3]).to.deep.include({ timestampNs: 100n, direction: 0, capturePointId: 2 });
  });

  it('hands frames out as views into the message (no copy)', () => {
    const message = hex('01 0010 ' + FRAME_HEX);
    const frame = (records(message)[0] as { frame: Buffer }).frame;
    message[3] = 0x11;
    expect(frame[0]).to.equal(0x11);
  });

  it('skips unknown record types and keeps going', () => {
    const r = records(hex('7f 0002 abcd  01 0010 ' + FRAME_HEX));
    expect(r[0]).to.deep.include({ type: 'unknown', recordType: 0x7f });
    expect(r[1]!.type).to.equal('frame');
  });

  it('reports and skips runt, oversize, bad carrier, bad hello and bad capture records', () => {
    const oversize = Buffer.alloc(3 + MAX_FRAME_BYTES + 1);
    oversize[0] = RECORD_FRAME;
    oversize.writeUInt16BE(MAX_FRAME_BYTES + 1, 1);
    const message = Buffer.concat([
      hex('01 0004 01020304'),
      oversize,
      hex('02 0002 05 00'),
      hex('02 0001 01'),
      hex('03 0001 01'),
      hex('04 001d 0000000000000064 09 00000002 ' + FRAME_HEX),
      hex('01 0010 ' + FRAME_HEX),
    ]);
    const r = records(message);
    const codes = r.filter((x) => x.type === 'error').map((x) => (x as { error: { code: string } }).error.code);
    expect(codes).to.deep.equal([
      'VFAB_LINK_FRAME_RUNT',
      'VFAB_LINK_FRAME_OVERSIZE',
      'VFAB_LINK_BAD_CARRIER',
      'VFAB_LINK_BAD_CARRIER',
      'VFAB_LINK_BAD_HELLO',
      'VFAB_LINK_BAD_CAPTURE',
    ]);
    expect(r[r.length - 1]!.type).to.equal('frame');
  });

  it('returns VFAB_LINK_TRUNCATED for a cut header or a length past the end (never throws)', () => {
    for (const bad of ['01', '01 00', '01 0010 ffff', '02 0002 01']) {
      const parsed = parseLinkMessage(hex(bad));
      expect(parsed.ok, bad).to.equal(false);
      expect(!parsed.ok && parsed.error.code).to.equal('VFAB_LINK_TRUNCATED');
    }
  });

  it('returns VFAB_LINK_MESSAGE_TOO_LARGE for a message over MAX_LINK_MESSAGE_BYTES before reading it', () => {
    const parsed = parseLinkMessage(Buffer.alloc(MAX_LINK_MESSAGE_BYTES + 1));
    expect(!parsed.ok && parsed.error.code).to.equal('VFAB_LINK_MESSAGE_TOO_LARGE');
  });

  it('decodes the annotated example of docs/link-protocol.md', () => {
    const example = hex(
      '03 0005 01 766d2d61  02 0002 01 00  01 002a ffffffffffff 00505600000a 0806' +
        ' 0001 0800 06 04 0001 00505600000a 0a00000a 000000000000 0a000001',
    );
    expect(example.length).to.equal(58);
    const r = records(example);
    expect(r.map((x) => x.type)).to.deep.equal(['hello', 'carrier', 'frame']);
    expect(r[0]).to.deep.include({ version: 1, endpointName: 'vm-a' });
    expect((r[2] as { frame: Buffer }).frame.length).to.equal(42);
  });

  it('survives random garbage without throwing', () => {
    let seed = 12345;
    const next = () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    for (let i = 0; i < 500; i++) {
      const junk = Buffer.alloc(1 + (next() % 200));
      for (let j = 0; j < junk.length; j++) junk[j] = next();
      expect(() => parseLinkMessage(junk)).to.not.throw();
    }
  });
});
