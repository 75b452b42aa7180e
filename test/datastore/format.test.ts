// On-disk format codecs (docs/datastore-format.md): round trips on 512- and 4096-byte blocks, hex
// fixtures, every corrupt field reported with its byte offset, single-byte damage never accepted, and
// planFormat's refusals (too small, foreign data, already a datastore) and its writes.
import { expect } from 'chai';
import fs from 'node:fs';
import { DS_ERROR } from '../../lib/datastore/errors.js';
import {
  BM, DS_BITMAP_BITS_PER_BLOCK, DS_MAX_EXTENTS, DS_MAX_LOCK_HOLDERS, DS_MAX_NAME_BYTES, DS_RECORD_BYTES, FE, HB, JR, SB, type FileEntry, type HeartbeatSlot,
  type JournalRecord, computeLayout, emitBitmap, emitEntry, emitJournalHeader, emitJournalRecord, emitSlot, emitSuperblock, minLunBytes, parseBitmap,
  parseEntry, parseJournalHeader, parseJournalRecord, parseSlot, parseSuperblock, planFormat,
} from '../../lib/datastore/format.js';
import { crc32 } from 'node:zlib';

const UUID = '00112233445566778899aabbccddeeff';
const HOST = 'e5e1e5e1e5e1e5e1e5e1e5e1e5e1e5e1';
const MIB = 1024 * 1024;

function plan(bs: 512 | 4096, extra: Partial<Parameters<typeof planFormat>[2]> = {}) {
  const r = planFormat(64 * MIB, bs, { label: 'ds1', volumeUuid: UUID, slotCount: 8, fileEntries: 64, ...extra });
  if (!r.ok) throw r.error;
  return r.value;
}

const slot = (bs: number): HeartbeatSlot => ({ state: 'in-use', index: 3, generation: 7, pulse: 42, owner: HOST, journalLba: 1 + 8 + 3 * 64, replayHost: '0'.repeat(32), hostName: 'esx1', pulseMs: 123456 + bs });
const entry = (): FileEntry => ({
  index: 5,
  lock: {
    mode: 'read-only', generation: 9, owner: HOST, ownerSlotLba: 4, ownerSlotGeneration: 7, mtimeMs: 1000,
    holders: [{ owner: HOST, slotLba: 4, slotGeneration: 7 }, { owner: UUID, slotLba: 5, slotGeneration: 2 }],
  },
  meta: { type: 'file', parent: 1, name: 'web1-flat.vmdk', sizeBytes: 3 * MIB, extents: [{ start: 10, count: 2 }, { start: 40, count: 1 }] },
});
const record = (): JournalRecord => ({ slot: 3, seq: 12, txn: 11, index: 1, count: 2, change: { op: 'entry-meta', entry: 5, meta: entry().meta } });

/** Re-seals a damaged record (so the field check, not the CRC, must catch the damage). */
function reseal(b: Buffer): Buffer {
  b.writeUInt32LE(crc32(b.subarray(0, DS_RECORD_BYTES - 4)) >>> 0, DS_RECORD_BYTES - 4);
  return b;
}

describe('datastore format: round trips', () => {
  for (const bs of [512, 4096] as const) {
    it(`every record is one ${bs}-byte block and parses back to what was emitted`, () => {
      const p = plan(bs);
      const sb = emitSuperblock(p.superblock);
      expect(sb.length).to.equal(bs);
      expect(parseSuperblock(sb, bs)).to.deep.equal({ ok: true, value: p.superblock });
      const s = emitSlot(slot(bs), bs);
      expect(s.length).to.equal(bs);
      expect(parseSlot(s, 3)).to.deep.equal({ ok: true, value: slot(bs) });
      const e = emitEntry(entry(), bs);
      expect(e.length).to.equal(bs);
      expect(parseEntry(e, 64, 5)).to.deep.equal({ ok: true, value: entry() });
      const jr = emitJournalRecord(record(), bs);
      expect(parseJournalRecord(jr, 64, 100)).to.deep.equal({ ok: true, value: record() });
      const bits = { ...record(), seq: 20, txn: 20, index: 0, count: 1, change: { op: 'bitmap-clear' as const, start: 3, bits: 9 } };
      expect(parseJournalRecord(emitJournalRecord(bits, bs), 64, 100)).to.deep.equal({ ok: true, value: bits });
      expect(parseJournalHeader(emitJournalHeader({ slot: 3, checkpoint: 99 }, bs), 3)).to.deep.equal({ ok: true, value: { slot: 3, checkpoint: 99 } });
      const bm = { index: 0, bits: Buffer.alloc(BM.TAIL - BM.BITS) };
      bm.bits[1] = 0x81;
      expect(parseBitmap(emitBitmap(bm, bs), 0, 100)).to.deep.equal({ ok: true, value: bm });
    });
  }

  it('the layout on a 4096-byte LUN keeps every region block-aligned and the data area on a 1 MiB boundary', () => {
    const l = computeLayout(256 * MIB, 4096)!;
    expect(l.dataLba * 4096 % MIB).to.equal(0);
    expect(l.bitmapBlocks).to.equal(1);
    expect(l.fileBlocks).to.equal(256 - (l.dataLba * 4096) / MIB);
  });
});

describe('datastore format: hex fixtures', () => {
  const fixture = (name: string): string => fs.readFileSync(new URL(`fixtures/${name}.hex`, import.meta.url), 'utf8').replace(/\s+/g, '');
  it('superblock of a 64 MiB LUN, 512-byte blocks, 8 slots, 64 entries', () => {
    expect(emitSuperblock(plan(512).superblock).toString('hex')).to.equal(fixture('superblock-512'));
  });
  it('an in-use heartbeat slot and a read-only file entry with two holders', () => {
    expect(emitSlot(slot(512), 512).toString('hex')).to.equal(fixture('slot-512'));
    expect(emitEntry(entry(), 512).toString('hex')).to.equal(fixture('entry-512'));
  });
  it('fixture spot checks: magic, state values and field offsets are where docs/datastore-format.md says', () => {
    const sb = Buffer.from(fixture('superblock-512'), 'hex');
    expect(sb.toString('latin1', 0, 4)).to.equal('VFDS');
    expect(sb.readUInt32LE(SB.BLOCK_SIZE)).to.equal(512);
    expect(sb.toString('utf8', SB.LABEL, SB.LABEL + 3)).to.equal('ds1');
    const s = Buffer.from(fixture('slot-512'), 'hex');
    expect(s.readUInt32LE(HB.STATE)).to.equal(0xabcdef02);
    expect(s.toString('hex', HB.OWNER, HB.OWNER + 16)).to.equal(HOST);
    const e = Buffer.from(fixture('entry-512'), 'hex');
    expect([e[FE.LOCK_MODE], e[FE.HOLDER_COUNT], e[FE.TYPE], e[FE.NAME_LEN]]).to.deep.equal([2, 2, 2, 14]);
  });
});

describe('datastore format: corrupt structures are reported with their offset', () => {
  const sb = (): Buffer => emitSuperblock(plan(512).superblock);
  const cases: Array<[string, () => Buffer, (b: Buffer) => void, (b: Buffer) => unknown, string, number, string]> = [
    ['superblock magic', sb, (b) => b.writeUInt32LE(0x12345678, 0), (b) => parseSuperblock(b, 512), 'magic', 0, DS_ERROR.BAD_MAGIC],
    ['superblock version', sb, (b) => b.writeUInt16LE(2, SB.VERSION), (b) => parseSuperblock(b, 512), 'version', SB.VERSION, DS_ERROR.BAD_FIELD],
    ['superblock lock mode', sb, (b) => b.writeUInt8(3, SB.LOCKING), (b) => parseSuperblock(b, 512), 'lock mode', SB.LOCKING, DS_ERROR.BAD_FIELD],
    ['superblock label', sb, (b) => b.writeUInt8(0xff, SB.LABEL), (b) => parseSuperblock(b, 512), 'label', SB.LABEL, DS_ERROR.BAD_FIELD],
    ['superblock block size', sb, (b) => b.writeUInt32LE(1024, SB.BLOCK_SIZE), (b) => parseSuperblock(b, 512), 'block size', SB.BLOCK_SIZE, DS_ERROR.BAD_FIELD],
    ['superblock lease', sb, (b) => b.writeUInt32LE(1000, SB.LEASE_MS), (b) => parseSuperblock(b, 512), 'lease', SB.LEASE_MS, DS_ERROR.BAD_FIELD],
    ['superblock heartbeat region', sb, (b) => b.writeUInt32LE(2, SB.HB_LBA), (b) => parseSuperblock(b, 512), 'hbLba', SB.HB_LBA, DS_ERROR.BAD_FIELD],
    ['superblock data start', sb, (b) => b.writeUInt32LE(9, SB.DATA_LBA), (b) => parseSuperblock(b, 512), 'dataLba', SB.DATA_LBA, DS_ERROR.BAD_FIELD],
    ['superblock slot count', sb, (b) => b.writeUInt32LE(65, SB.SLOT_COUNT), (b) => parseSuperblock(b, 512), 'slot count', SB.SLOT_COUNT, DS_ERROR.BAD_FIELD],
    ['superblock reserved', sb, (b) => b.writeUInt8(1, 300), (b) => parseSuperblock(b, 512), 'reserved', 300, DS_ERROR.BAD_FIELD],
    ['slot state', () => emitSlot(slot(512), 512), (b) => b.writeUInt32LE(0xabcdef09, 0), (b) => parseSlot(b, 3), 'magic', 0, DS_ERROR.BAD_MAGIC],
    ['slot index', () => emitSlot(slot(512), 512), (b) => b.writeUInt32LE(4, HB.INDEX), (b) => parseSlot(b, 3), 'slot index', HB.INDEX, DS_ERROR.BAD_FIELD],
    ['slot replay host on an in-use slot', () => emitSlot(slot(512), 512), (b) => b.writeUInt8(1, HB.REPLAY_HOST), (b) => parseSlot(b, 3), 'replay host', HB.REPLAY_HOST, DS_ERROR.BAD_FIELD],
    ['entry lock mode', () => emitEntry(entry(), 512), (b) => b.writeUInt8(7, FE.LOCK_MODE), (b) => parseEntry(b, 64, 5), 'lock mode', FE.LOCK_MODE, DS_ERROR.BAD_FIELD],
    ['entry holder count', () => emitEntry(entry(), 512), (b) => b.writeUInt8(DS_MAX_LOCK_HOLDERS + 1, FE.HOLDER_COUNT), (b) => parseEntry(b, 64, 5), 'holder count', FE.HOLDER_COUNT, DS_ERROR.BAD_FIELD],
    ['entry owner differs from first holder', () => emitEntry(entry(), 512), (b) => b.writeUInt8(0xee, FE.OWNER), (b) => parseEntry(b, 64, 5), 'owner', FE.OWNER, DS_ERROR.BAD_FIELD],
    ['entry name length', () => emitEntry(entry(), 512), (b) => b.writeUInt8(DS_MAX_NAME_BYTES + 1, FE.NAME_LEN), (b) => parseEntry(b, 64, 5), 'name length', FE.NAME_LEN, DS_ERROR.BAD_FIELD],
    ['entry parent', () => emitEntry(entry(), 512), (b) => b.writeUInt32LE(64, FE.PARENT), (b) => parseEntry(b, 64, 5), 'parent', FE.PARENT, DS_ERROR.BAD_FIELD],
    ['entry extent count', () => emitEntry(entry(), 512), (b) => b.writeUInt8(DS_MAX_EXTENTS + 1, FE.EXTENT_COUNT), (b) => parseEntry(b, 64, 5), 'extent count', FE.EXTENT_COUNT, DS_ERROR.BAD_FIELD],
    ['journal record count', () => emitJournalRecord(record(), 512), (b) => b.writeUInt8(0, JR.COUNT), (b) => parseJournalRecord(b, 64, 100), 'record count', JR.COUNT, DS_ERROR.BAD_FIELD],
    ['journal record sequence', () => emitJournalRecord(record(), 512), (b) => b.writeUInt8(13, JR.SEQ), (b) => parseJournalRecord(b, 64, 100), 'sequence', JR.SEQ, DS_ERROR.BAD_FIELD],
    ['journal record op', () => emitJournalRecord(record(), 512), (b) => b.writeUInt8(9, JR.OP), (b) => parseJournalRecord(b, 64, 100), 'operation', JR.OP, DS_ERROR.BAD_FIELD],
    ['bitmap bit beyond the file blocks', () => emitBitmap({ index: 0, bits: Buffer.alloc(BM.TAIL - BM.BITS) }, 512), (b) => b.writeUInt8(0x01, BM.BITS + 13), (b) => parseBitmap(b, 0, 100), 'bitmap bits', BM.BITS + 13, DS_ERROR.BAD_FIELD],
  ];
  for (const [name, make, damage, parse, field, offset, code] of cases) {
    it(`${name}: ${code} at byte ${offset}`, () => {
      const b = make();
      damage(b);
      const r = parse(reseal(b)) as { ok: boolean; error: { code: string; details: { field: string; offset: number } } };
      expect(r.ok).to.equal(false);
      expect([r.error.code, r.error.details.field, r.error.details.offset]).to.deep.equal([code, field, offset]);
    });
  }

  it('a CRC mismatch is reported at byte 508, and bytes after the record in a 4096-byte block must be zero', () => {
    const b = emitSlot(slot(4096), 4096);
    b[100] ^= 1;
    const r1 = parseSlot(b, 3);
    expect(!r1.ok && [r1.error.code, r1.error.details!.offset]).to.deep.equal([DS_ERROR.BAD_CHECKSUM, 508]);
    b[100] ^= 1;
    b[3000] = 1;
    const r2 = parseSlot(b, 3);
    expect(!r2.ok && [r2.error.code, r2.error.details!.offset]).to.deep.equal([DS_ERROR.BAD_FIELD, 3000]);
  });

  it('the byte offset of a structure on the LUN is added when given (base)', () => {
    const b = emitSlot(slot(512), 512);
    b.writeUInt32LE(4, HB.INDEX);
    const r = parseSlot(reseal(b), 3, 4 * 512);
    expect(!r.ok && r.error.details!.offset).to.equal(4 * 512 + HB.INDEX);
    expect(!r.ok && r.error.message).to.match(/at byte 2052/);
  });

  it('damage to any single byte of any record (without re-sealing) is never accepted', () => {
    const records: Array<[Buffer, (b: Buffer) => { ok: boolean }]> = [
      [emitSuperblock(plan(512).superblock), (b) => parseSuperblock(b, 512)],
      [emitSlot(slot(512), 512), (b) => parseSlot(b, 3)],
      [emitEntry(entry(), 512), (b) => parseEntry(b, 64, 5)],
      [emitJournalRecord(record(), 512), (b) => parseJournalRecord(b, 64, 100)],
    ];
    for (const [good, parse] of records) {
      for (let i = 0; i < DS_RECORD_BYTES; i++) {
        const b = Buffer.from(good);
        b[i] ^= 0x5a;
        expect(parse(b).ok, `byte ${i}`).to.equal(false);
      }
    }
  });
});

describe('datastore format: planFormat', () => {
  it('refuses a LUN that is too small and says how much is needed', () => {
    const need = minLunBytes(512, { slotCount: 8, fileEntries: 64 });
    const r = planFormat(need - MIB, 512, { label: 'x', volumeUuid: UUID, slotCount: 8, fileEntries: 64 });
    expect(!r.ok && [r.error.code, r.error.details!.needBytes]).to.deep.equal([DS_ERROR.LUN_TOO_SMALL, need]);
    expect(planFormat(need, 512, { label: 'x', volumeUuid: UUID, slotCount: 8, fileEntries: 64 }).ok).to.equal(true);
  });

  it('refuses foreign data and an existing datastore unless forced', () => {
    const foreign = Buffer.alloc(512);
    foreign.write('EFI PART', 0);
    const f = planFormat(64 * MIB, 512, { label: 'x', volumeUuid: UUID, inspect: foreign });
    expect(!f.ok && f.error.code).to.equal(DS_ERROR.FOREIGN_DATA);
    const existing = emitSuperblock(plan(512).superblock);
    const e = planFormat(64 * MIB, 512, { label: 'x', volumeUuid: UUID, slotCount: 8, fileEntries: 64, inspect: existing });
    expect(!e.ok && [e.error.code, e.error.details!.label]).to.deep.equal([DS_ERROR.ALREADY_FORMATTED, 'ds1']);
    expect(planFormat(64 * MIB, 512, { label: 'x', volumeUuid: UUID, inspect: foreign, force: true }).ok).to.equal(true);
    expect(planFormat(64 * MIB, 512, { label: 'x', volumeUuid: UUID, inspect: Buffer.alloc(512) }).ok).to.equal(true);
  });

  it('rejects bad options: block size, label length, UUID, intervals', () => {
    const base = { label: 'x', volumeUuid: UUID };
    const codes = [
      planFormat(64 * MIB, 1024, base),
      planFormat(64 * MIB, 512, { ...base, label: 'x'.repeat(65) }),
      planFormat(64 * MIB, 512, { ...base, volumeUuid: 'nope' }),
      planFormat(64 * MIB, 512, { ...base, intervals: { leaseMs: 5000 } }),
      planFormat(64 * MIB, 512, { ...base, slotCount: 65 }),
    ].map((r) => (!r.ok ? r.error.code : 'ok'));
    expect(codes).to.deep.equal(Array(5).fill(DS_ERROR.BAD_OPTION));
  });

  for (const bs of [512, 4096] as const) {
    it(`writes regions that all parse (${bs}-byte blocks), the superblock last`, () => {
      const p = plan(bs);
      const l = p.layout;
      expect(p.writes.at(-1)!.lba).to.equal(0);
      const region = (lba: number) => p.writes.find((w) => w.lba === lba)!.data;
      for (let i = 0; i < l.slotCount; i++) {
        const s = parseSlot(region(l.hbLba).subarray(i * bs, (i + 1) * bs), i);
        expect(s.ok && s.value.state).to.equal('free');
        const h = parseJournalHeader(region(l.journalLba).subarray(i * l.journalBlocks * bs, (i * l.journalBlocks + 1) * bs), i);
        expect(h.ok && h.value.checkpoint).to.equal(0);
      }
      for (let i = 0; i < l.fileEntries; i++) {
        const e = parseEntry(region(l.fileTableLba).subarray(i * bs, (i + 1) * bs), l.fileEntries, i);
        expect(e.ok && e.value.meta.type).to.equal(i === 0 ? 'dir' : 'unused');
      }
      expect(parseBitmap(region(l.bitmapLba).subarray(0, bs), 0, l.fileBlocks).ok).to.equal(true);
      expect(l.fileBlocks).to.be.at.most(DS_BITMAP_BITS_PER_BLOCK * l.bitmapBlocks);
    });
  }
});
