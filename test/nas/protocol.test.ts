// NAS protocol codec (lib/nas/protocol.ts): hand-written hex fixtures decode to the documented fields and
// emit back to the same bytes; records coalesced into one message parse in order at every boundary, and a
// message cut at any byte is refused as truncated, never misread; malformed records give typed errors;
// seeded garbage never throws.

import { expect } from 'chai';
import { seededRandom } from '../../lib/clock.js';
import {
  NAS_ERROR,
  NAS_FILE_TYPE,
  NAS_MAX_IO_BYTES,
  NAS_MAX_NAME_BYTES,
  NAS_OP,
  NAS_RECORD,
  NAS_STATUS,
  emitDirents,
  encodeNasMessage,
  nasErrorRecord,
  parseDirents,
  parseNasMessage,
  parseNasRecord,
  type NasRecord,
} from '../../lib/nas/protocol.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

const FIXTURES: Record<string, string> = {
  // type flags reserved len | version window shareBytes clientBytes | "ds" "h1"
  hello: '01 00 0000 00000014  0001 0010 0002 0002  6473 6831',
  // version window sessionId maxIo maxReaddir rootId capacity
  helloAck: '02 00 0000 00000028  0001 0010 00000007 00100000 00000400 0000000000000001 0000000040000000',
  // id op flags reserved fileId arg count nameBytes name2Bytes dataBytes | "a.vmx"
  lookup: '03 00 0000 00000031  00000005 03 00 0000 0000000000000001 0000000000000000 00000000 0005 0000 00000000  612e766d78',
  // WRITE stable at offset 4096, 4 bytes
  writeStable: '03 00 0000 00000030  00000006 07 01 0000 0000000000000002 0000000000001000 00000000 0000 0000 00000004  deadbeef',
  // RENAME dir 1 "a" -> dir 3 "b"
  rename: '03 00 0000 0000002e  00000008 0e 00 0000 0000000000000001 0000000000000003 00000000 0001 0001 00000000  61 62',
  // GETATTR OK: id op flags(attrs) status fileId size mtimeNs type reserved dataBytes value
  getattrOk: '04 00 0000 00000038  00000005 01 02 0000 0000000000000002 0000000000001004 0000000100000000 01 000000 00000000 0000000000000000',
  // LOOKUP NOENT (70 = STALE would be 0046): no attributes, all zero
  lookupNoent: '04 00 0000 00000038  00000009 03 00 0002 0000000000000000 0000000000000000 0000000000000000 00 000000 00000000 0000000000000000',
  // READ OK with eof and 3 bytes of data
  readEof: '04 00 0000 0000003b  0000000a 06 03 0000 0000000000000002 0000000000000003 0000000000000005 01 000000 00000003 0000000000000000  414243',
  // ERROR id 0 "VFAB_NAS_BAD_NAME" "x"
  error: '05 00 0000 00000022  00000000 0011 0001  564641425f4e41535f4241445f4e414d45 78',
};

describe('nas/protocol codec', () => {
  describe('hex fixtures round-trip (parse then emit gives the same bytes)', () => {
    for (const [name, h] of Object.entries(FIXTURES)) {
      it(name, () => {
        const bytes = hex(h);
        const r = parseNasMessage(bytes);
        if (!r.ok) expect.fail(`${r.error.code}: ${r.error.message}`);
        expect(r.value).to.have.length(1);
        expect(encodeNasMessage(r.value).toString('hex')).to.equal(bytes.toString('hex'));
      });
    }
  });

  it('decodes the documented fields', () => {
    const get = (name: string): NasRecord => {
      const r = parseNasRecord(hex(FIXTURES[name]!));
      if (!r.ok) throw r.error;
      return r.value.record;
    };
    expect(get('hello')).to.deep.equal({ type: NAS_RECORD.HELLO, version: 1, maxInFlight: 16, share: 'ds', client: 'h1' });
    expect(get('helloAck')).to.include({ sessionId: 7, maxIoBytes: 1 << 20, maxReaddirEntries: 1024, rootId: 1, capacityBytes: 2 ** 30 });
    expect(get('lookup')).to.include({ id: 5, op: NAS_OP.LOOKUP, fileId: 1, name: 'a.vmx', name2: '' });
    const w = get('writeStable');
    expect(w).to.include({ op: NAS_OP.WRITE, opFlags: 1, fileId: 2, arg: 4096 });
    expect(Buffer.from((w as { data: Uint8Array }).data).toString('hex')).to.equal('deadbeef');
    expect(get('rename')).to.include({ op: NAS_OP.RENAME, fileId: 1, arg: 3, name: 'a', name2: 'b' });
    expect(get('getattrOk')).to.deep.include({ status: NAS_STATUS.OK, attrs: { fileId: 2, fileType: NAS_FILE_TYPE.FILE, size: 4100, mtimeNs: 4294967296n } });
    expect(get('lookupNoent')).to.include({ status: NAS_STATUS.NOENT, attrs: undefined });
    expect(get('readEof')).to.include({ flags: 3, value: 0 });
    expect(get('error')).to.include({ code: 'VFAB_NAS_BAD_NAME', message: 'x' });
  });

  it('coalesced: all fixtures in one message parse in order; a cut at any byte is refused, never misread', () => {
    const parts = Object.values(FIXTURES).map(hex);
    const all = Buffer.concat(parts);
    const r = parseNasMessage(all);
    if (!r.ok) expect.fail(r.error.message);
    expect(r.value).to.have.length(parts.length);
    expect(encodeNasMessage(r.value).equals(all)).to.equal(true);
    const boundaries = new Set<number>();
    let at = 0;
    for (const p of parts) boundaries.add((at += p.length));
    for (let cut = 1; cut < all.length; cut++) {
      const head = parseNasMessage(all.subarray(0, cut));
      const tail = parseNasMessage(all.subarray(cut));
      if (boundaries.has(cut)) {
        // both halves are whole messages: together they hold every record once
        expect(head.ok && tail.ok, `cut at ${cut}`).to.equal(true);
        if (head.ok && tail.ok) expect(head.value.length + tail.value.length).to.equal(parts.length);
      } else {
        expect(head.ok, `cut at ${cut} must not parse`).to.equal(false);
        if (!head.ok) expect([NAS_ERROR.TRUNCATED, NAS_ERROR.BAD_LENGTH]).to.include(head.error.code);
      }
    }
  });

  describe('malformed input returns typed errors, never throws', () => {
    const cases: Array<[string, string, string]> = [
      ['short header', '01 00 00', NAS_ERROR.TRUNCATED],
      ['length below header', '03 00 0000 00000004', NAS_ERROR.BAD_LENGTH],
      ['length past the end', '03 00 0000 000000ff 00', NAS_ERROR.TRUNCATED],
      ['unknown record type', '09 00 0000 00000008', NAS_ERROR.UNKNOWN],
      ['flags set', '03 01 0000 00000008', NAS_ERROR.BAD_RESERVED],
      ['unknown op', FIXTURES.lookup!.replace('00000005 03', '00000005 63'), NAS_ERROR.UNKNOWN],
      ['name with slash', FIXTURES.lookup!.replace('612e766d78', '612f766d78'), NAS_ERROR.BAD_NAME],
      ['name "."', '03 00 0000 0000002d 00000005 03 00 0000 0000000000000001 0000000000000000 00000000 0001 0000 00000000 2e', NAS_ERROR.BAD_NAME],
      ['LOOKUP without a name', '03 00 0000 0000002c 00000005 03 00 0000 0000000000000001 0000000000000000 00000000 0000 0000 00000000', NAS_ERROR.BAD_NAME],
      ['name not UTF-8', FIXTURES.lookup!.replace('612e766d78', '612eff6d78'), NAS_ERROR.BAD_NAME],
      ['name lengths disagree with record', FIXTURES.lookup!.replace('0005 0000', '0004 0000'), NAS_ERROR.BAD_LENGTH],
      ['file id 2^53', FIXTURES.lookup!.replace('0000000000000001 0000000000000000', '0020000000000000 0000000000000000'), NAS_ERROR.BAD_LENGTH],
      ['GETATTR carrying data', '03 00 0000 0000002d 00000005 01 00 0000 0000000000000001 0000000000000000 00000000 0000 0000 00000001 00', NAS_ERROR.BAD_LENGTH],
      ['READ over the limit', `03 00 0000 0000002c 00000005 06 00 0000 0000000000000001 0000000000000000 ${(NAS_MAX_IO_BYTES + 1).toString(16).padStart(8, '0')} 0000 0000 00000000`, NAS_ERROR.BAD_LENGTH],
      ['READDIR of 0 entries', '03 00 0000 0000002c 00000005 10 00 0000 0000000000000001 0000000000000000 00000000 0000 0000 00000000', NAS_ERROR.BAD_LENGTH],
      ['REPLY unknown status', FIXTURES.lookupNoent!.replace('03 00 0002', '03 00 0003'), NAS_ERROR.UNKNOWN],
      ['REPLY without attrs but a file id', FIXTURES.lookupNoent!.replace('0002 0000000000000000', '0002 0000000000000001'), NAS_ERROR.BAD_RESERVED],
      ['HELLO with an empty share', '01 00 0000 00000012 0001 0010 0000 0002 6831', NAS_ERROR.BAD_NAME],
      ['HELLO_ACK of wrong size', '02 00 0000 00000008', NAS_ERROR.BAD_LENGTH],
    ];
    for (const [name, h, code] of cases) {
      it(`${name} -> ${code}`, () => {
        const r = parseNasMessage(hex(h));
        expect(r.ok).to.equal(false);
        if (!r.ok) expect(r.error.code).to.equal(code);
      });
    }

    it('an error names the request id when the record got that far', () => {
      const r = parseNasMessage(hex(FIXTURES.lookup!.replace('612e766d78', '612f766d78')));
      expect(!r.ok && r.error.details?.id).to.equal(5);
    });

    it('empty message', () => {
      const r = parseNasMessage(Buffer.alloc(0));
      expect(!r.ok && r.error.code).to.equal(NAS_ERROR.BAD_MESSAGE);
    });

    it('seeded garbage and mutated fixtures (3000 inputs) never throw', () => {
      const rnd = seededRandom(1813);
      const bases = Object.values(FIXTURES).map(hex);
      for (let i = 0; i < 3000; i++) {
        let b: Buffer;
        if (i % 2 === 0) {
          b = Buffer.from(bases[i % bases.length]!);
          for (let k = 0; k < 1 + Math.floor(rnd() * 4); k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
        } else {
          b = Buffer.alloc(Math.floor(rnd() * 96));
          for (let k = 0; k < b.length; k++) b[k] = Math.floor(rnd() * 256);
        }
        expect(() => parseNasMessage(b)).not.to.throw();
      }
    });
  });

  it('READDIR entries round-trip and refuse truncation', () => {
    const entries = [
      { fileId: 2, fileType: NAS_FILE_TYPE.FILE, name: 'vm.vmx' },
      { fileId: 9, fileType: NAS_FILE_TYPE.DIR, name: 'x'.repeat(NAS_MAX_NAME_BYTES) },
    ];
    const b = emitDirents(entries);
    const r = parseDirents(b);
    expect(r.ok && r.value).to.deep.equal(entries);
    for (let cut = 1; cut < b.length; cut++) {
      if (cut === 16) continue; // end of the first entry: a whole list of one
      expect(parseDirents(b.subarray(0, cut)).ok, `cut ${cut}`).to.equal(false);
    }
  });

  it('emit refuses what the wire cannot carry (sender bug), and nasErrorRecord truncates long messages', () => {
    expect(() => encodeNasMessage([{ type: NAS_RECORD.REQUEST, id: 1, op: NAS_OP.GETATTR, opFlags: 0, fileId: 2 ** 53, arg: 0, count: 0, name: '', name2: '', data: undefined }])).to.throw();
    const e = nasErrorRecord(3, NAS_ERROR.BAD_NAME, 'é'.repeat(2000));
    const r = parseNasMessage(encodeNasMessage([e]));
    expect(r.ok && (r.value[0] as { id: number }).id).to.equal(3);
  });
});
