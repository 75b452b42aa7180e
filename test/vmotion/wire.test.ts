// The vMotion datagram codec: hex fixtures written from the layout in lib/vmotion/wire.ts (parse and emit
// both), typed errors for each bad field, and parse of split, bit-flipped and random input never throwing.
import { expect } from 'chai';
import { seededRandom } from '../../lib/clock.js';
import { parseVmotion, buildVmotion, vmotionType, vmotionSeq, vmotionMigrationId, type VmotionMessage, MSG_DATA, ACK_SACK_BYTES } from '../../lib/vmotion/index.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const sack = new Uint8Array(ACK_SACK_BYTES);
sack[0] = 0x05;

const FIXTURES: Array<{ name: string; hex: string; value: VmotionMessage }> = [
  {
    name: 'OPEN',
    hex: '5646564d 01 01 0000 00000007 00000000  00000000 00400000 00001000 04 61707031',
    value: { type: 'open', migrationId: 7, seq: 0, memoryBytes: 4 * 1024 * 1024, pageBytes: 4096, vm: 'app1' },
  },
  {
    name: 'DATA (memory)',
    hex: '5646564d 01 02 0000 00000007 00000005  00 02 0004 00000010 00000400 00000000 deadbeef',
    value: { type: 'data', migrationId: 7, seq: 5, region: 'memory', pass: 2, page: 0x10, offset: 0x400, total: 0, data: hex('deadbeef') },
  },
  {
    name: 'DATA (state)',
    hex: '5646564d 01 02 0000 00000007 00000006  01 03 0002 00000000 00000400 00000402 7b7d',
    value: { type: 'data', migrationId: 7, seq: 6, region: 'state', pass: 3, page: 0, offset: 0x400, total: 0x402, data: hex('7b7d') },
  },
  {
    name: 'SWITCHOVER',
    hex: '5646564d 01 03 0000 00000007 00000009  40934a0000000000 00000402 00000400',
    value: { type: 'switchover', migrationId: 7, seq: 9, stunAtMs: 1234.5, stateBytes: 0x402, pages: 0x400 },
  },
  {
    name: 'ABORT',
    hex: '5646564d 01 04 0000 00000007 00000000  02 000000',
    value: { type: 'abort', migrationId: 7, seq: 0, reason: 2 },
  },
  {
    name: 'ACK',
    hex: '5646564d 01 05 0000 00000007 00000020  01 00 0040 0000000000000000 05' + '00'.repeat(31),
    value: { type: 'ack', migrationId: 7, seq: 0x20, status: 1, reason: 0, window: 64, resumedAtMs: 0, sack },
  },
];

function plain(m: VmotionMessage): unknown {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v]));
}

describe('vMotion wire codec', () => {
  for (const f of FIXTURES) {
    it(`${f.name}: parses the fixture and emits it byte for byte`, () => {
      const r = parseVmotion(hex(f.hex));
      expect(r.ok, r.ok ? '' : r.error.message).to.equal(true);
      if (r.ok) expect(plain(r.value)).to.deep.equal(plain(f.value));
      expect(buildVmotion(f.value).toString('hex')).to.equal(hex(f.hex).toString('hex'));
    });
  }

  it('reads type, migration and seq from the header without parsing', () => {
    const b = hex(FIXTURES[1]!.hex);
    expect(vmotionType(b)).to.equal(MSG_DATA);
    expect(vmotionMigrationId(b)).to.equal(7);
    expect(vmotionSeq(b)).to.equal(5);
    expect(vmotionType(b.subarray(0, 15))).to.equal(0);
  });

  const bad: Array<[string, string, string]> = [
    ['short header', '5646564d 01 01 0000 000000', 'VFAB_VMOTION_TRUNCATED'],
    ['magic', '5646564e 01 04 0000 00000007 00000000 02 000000', 'VFAB_VMOTION_BAD_MAGIC'],
    ['version', '5646564d 02 04 0000 00000007 00000000 02 000000', 'VFAB_VMOTION_BAD_VERSION'],
    ['reserved', '5646564d 01 04 0001 00000007 00000000 02 000000', 'VFAB_VMOTION_BAD_FIELD'],
    ['type', '5646564d 01 09 0000 00000007 00000000 02 000000', 'VFAB_VMOTION_BAD_TYPE'],
    ['abort reason', '5646564d 01 04 0000 00000007 00000000 63 000000', 'VFAB_VMOTION_BAD_FIELD'],
    ['open without name', '5646564d 01 01 0000 00000007 00000000 00000000 00400000 00001000 00', 'VFAB_VMOTION_BAD_FIELD'],
    ['open name past the end', '5646564d 01 01 0000 00000007 00000000 00000000 00400000 00001000 05 61707031', 'VFAB_VMOTION_BAD_LENGTH'],
    ['open memory beyond 2^53', '5646564d 01 01 0000 00000007 00000000 00200000 00000000 00001000 01 61', 'VFAB_VMOTION_BAD_FIELD'],
    ['open name not UTF-8', '5646564d 01 01 0000 00000007 00000000 00000000 00400000 00001000 01 ff', 'VFAB_VMOTION_BAD_FIELD'],
    ['data region', '5646564d 01 02 0000 00000007 00000005 02 02 0004 00000010 00000400 00000000 deadbeef', 'VFAB_VMOTION_BAD_FIELD'],
    ['data length vs bytes', '5646564d 01 02 0000 00000007 00000005 00 02 0005 00000010 00000400 00000000 deadbeef', 'VFAB_VMOTION_BAD_LENGTH'],
    ['data empty', '5646564d 01 02 0000 00000007 00000005 00 02 0000 00000010 00000400 00000000', 'VFAB_VMOTION_BAD_LENGTH'],
    ['state past its total', '5646564d 01 02 0000 00000007 00000006 01 03 0002 00000000 00000401 00000402 7b7d', 'VFAB_VMOTION_BAD_FIELD'],
    ['memory with a total', '5646564d 01 02 0000 00000007 00000005 00 02 0004 00000010 00000400 00000001 deadbeef', 'VFAB_VMOTION_BAD_FIELD'],
    ['switchover NaN stun', '5646564d 01 03 0000 00000007 00000009 7ff8000000000000 00000402 00000400', 'VFAB_VMOTION_BAD_FIELD'],
    ['ack status', '5646564d 01 05 0000 00000007 00000020 07 00 0040 0000000000000000' + '00'.repeat(32), 'VFAB_VMOTION_BAD_FIELD'],
    ['ack window', '5646564d 01 05 0000 00000007 00000020 01 00 0101 0000000000000000' + '00'.repeat(32), 'VFAB_VMOTION_BAD_FIELD'],
    ['ack negative resume', '5646564d 01 05 0000 00000007 00000020 01 00 0040 bff0000000000000' + '00'.repeat(32), 'VFAB_VMOTION_BAD_FIELD'],
    ['ack length', '5646564d 01 05 0000 00000007 00000020 01 00 0040 0000000000000000' + '00'.repeat(33), 'VFAB_VMOTION_BAD_LENGTH'],
  ];
  for (const [what, h, code] of bad) {
    it(`refuses ${what} with ${code}`, () => {
      const r = parseVmotion(hex(h));
      expect(r.ok).to.equal(false);
      if (!r.ok) expect(r.error.code).to.equal(code);
    });
  }

  it('every split of every fixture (a prefix and the rest) is refused without throwing', () => {
    for (const f of FIXTURES) {
      const full = hex(f.hex);
      for (let cut = 0; cut < full.length; cut++) {
        expect(parseVmotion(full.subarray(0, cut)).ok, `${f.name} cut at ${cut}`).to.equal(false);
        expect(() => parseVmotion(full.subarray(cut))).not.to.throw();
      }
    }
  });

  it('never throws on bit flips of the fixtures or on seeded random bytes (bounded: 20 000 inputs)', () => {
    const rand = seededRandom(12);
    let parsed = 0;
    for (let i = 0; i < 10_000; i++) {
      const f = hex(FIXTURES[i % FIXTURES.length]!.hex);
      f[Math.floor(rand() * f.length)] ^= 1 << Math.floor(rand() * 8);
      if (parseVmotion(f).ok) parsed++;
    }
    for (let i = 0; i < 10_000; i++) {
      const len = Math.floor(rand() * 80);
      const b = Buffer.alloc(len);
      for (let j = 0; j < len; j++) b[j] = Math.floor(rand() * 256);
      if (len >= 6 && rand() < 0.5) hex('5646564d 01').copy(b); // get past the magic half of the time
      expect(() => parseVmotion(b)).not.to.throw();
    }
    expect(parsed).to.be.greaterThan(0); // flips in data bytes still parse
  });

  it('emit refuses values that do not fit their fields', () => {
    expect(() => buildVmotion({ type: 'open', migrationId: 1, seq: 0, memoryBytes: 1, pageBytes: 4096, vm: '' })).to.throw(/VM name/);
    expect(() => buildVmotion({ type: 'abort', migrationId: 1, seq: 0, reason: 99 })).to.throw(/reason/);
    expect(() => buildVmotion({ type: 'data', migrationId: -1, seq: 0, region: 'memory', pass: 0, page: 0, offset: 0, total: 0, data: new Uint8Array(1) })).to.throw(/u32/);
  });
});
