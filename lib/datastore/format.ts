// The on-disk format of a vfab VMFS-like datastore (docs/datastore-format.md describes it byte by byte;
// behaviour per docs/vsphere-behaviour.md §7.1, §7.5, §7.9). Covers codecs for the superblock, heartbeat
// slots, file-table entries with their lock records, journal header and records, and bitmap blocks: each
// is one 512-byte record at the start of one LUN block (the rest of a 4096-byte block is zero), so every
// structure that is changed with ATS is one COMPARE AND WRITE of one block. `parse*` validates untrusted
// bytes and returns a typed DatastoreError naming the field and its byte offset; `emit*` writes a record.
// Also `computeLayout` and `planFormat`. Leaves out all I/O (the caller reads and writes the LUN).

import { crc32 } from 'node:zlib';
import { type Result, ok, err } from '../errors.js';
import { DS_ERROR, DatastoreError, fieldError } from './errors.js';

// ---------------------------------------------------------------- limits and constants

/** Bytes of every record; one record per LUN block (512- or 4096-byte blocks). */
export const DS_RECORD_BYTES = 512;
/** LUN block sizes a datastore may be formatted on. */
export const DS_BLOCK_SIZES = [512, 4096] as const;
/** Heartbeat slots, so hosts that can mount one datastore at once. */
export const DS_MAX_HOSTS = 64;
/** File-table entries (directories and files, the root directory included). */
export const DS_MAX_FILES = 1024;
/** Holders a shared (read-only or multi-writer) lock can list. */
export const DS_MAX_LOCK_HOLDERS = 8;
/** Longest file or directory name, in UTF-8 bytes. */
export const DS_MAX_NAME_BYTES = 64;
/** Longest volume label, in UTF-8 bytes. */
export const DS_MAX_LABEL_BYTES = 64;
/** Longest host name kept in a heartbeat slot, in UTF-8 bytes. */
export const DS_MAX_HOST_NAME_BYTES = 32;
/** Allocation extents per file. */
export const DS_MAX_EXTENTS = 12;
/** Blocks of each host's journal: one header block, then a ring of record blocks. */
export const DS_JOURNAL_BLOCKS = 64;
/** Records one journal transaction may have. */
export const DS_JOURNAL_MAX_TXN_RECORDS = 8;
/** Allocation unit of file data: 1 MiB. */
export const DS_FILE_BLOCK_BYTES = 1024 * 1024;
/** Bits of the allocation bitmap held by one bitmap block. */
export const DS_BITMAP_BITS_PER_BLOCK = 488 * 8;
/** The smallest data area a datastore is formatted with, in file blocks. */
export const DS_MIN_FILE_BLOCKS = 4;
/** On-disk format version written and accepted. */
export const DS_FORMAT_VERSION = 1;

/** Default intervals (the vSphere values, docs/vsphere-behaviour.md §7.2, §7.6), in milliseconds. */
export const DS_DEFAULT_HEARTBEAT_MS = 3000;
export const DS_DEFAULT_IO_TIMEOUT_MS = 8000;
export const DS_DEFAULT_LEASE_MS = 16000;
export const DS_DEFAULT_OFFLINE_RETRY_MS = 1000;

export const MAGIC = {
  SUPERBLOCK: 0x53444656, // "VFDS" little-endian
  FILE_ENTRY: 0x45464656, // "VFFE"
  JOURNAL_HEADER: 0x484a4656, // "VFJH"
  JOURNAL_RECORD: 0x524a4656, // "VFJR"
  BITMAP: 0x4d424656, // "VFBM"
} as const;

/** Heartbeat slot states; the values are the magic at offset 0 of the slot. */
export const SLOT_STATE = { FREE: 0xabcdef01, IN_USE: 0xabcdef02, REPLAYING: 0xabcdef03 } as const;
export type SlotState = 'free' | 'in-use' | 'replaying';
const SLOT_STATE_NAMES: Record<number, SlotState> = { [SLOT_STATE.FREE]: 'free', [SLOT_STATE.IN_USE]: 'in-use', [SLOT_STATE.REPLAYING]: 'replaying' };
const SLOT_STATE_VALUES: Record<SlotState, number> = { free: SLOT_STATE.FREE, 'in-use': SLOT_STATE.IN_USE, replaying: SLOT_STATE.REPLAYING };

export type LockMode = 'free' | 'exclusive' | 'read-only' | 'multi-writer';
export const LOCK_MODES: readonly LockMode[] = ['free', 'exclusive', 'read-only', 'multi-writer'];

export type LockingMode = 'ats-only' | 'ats-scsi';
const LOCKING_MODES: readonly LockingMode[] = ['ats-only', 'ats-scsi'];

export type EntryType = 'unused' | 'dir' | 'file';
const ENTRY_TYPES: readonly EntryType[] = ['unused', 'dir', 'file'];

export const ZERO_UUID = '0'.repeat(32);
const UUID_RE = /^[0-9a-f]{32}$/;

// ---------------------------------------------------------------- field offsets

/** Superblock (LBA 0). */
export const SB = {
  MAGIC: 0, VERSION: 4, LOCKING: 6, VOLUME_UUID: 8, LABEL: 24, BLOCK_SIZE: 88, LUN_BLOCKS: 92,
  HEARTBEAT_MS: 100, IO_TIMEOUT_MS: 104, LEASE_MS: 108, OFFLINE_RETRY_MS: 112,
  SLOT_COUNT: 116, HB_LBA: 120, JOURNAL_LBA: 128, JOURNAL_BLOCKS: 136, FILE_TABLE_LBA: 140, FILE_ENTRIES: 148,
  BITMAP_LBA: 152, BITMAP_BLOCKS: 160, DATA_LBA: 164, FILE_BLOCK_BYTES: 172, FILE_BLOCKS: 176, RESERVED: 180, CRC: 508,
} as const;

/** Heartbeat slot. */
export const HB = {
  STATE: 0, INDEX: 4, GENERATION: 8, PULSE: 16, OWNER: 24, JOURNAL_LBA: 40, REPLAY_HOST: 48, HOST_NAME: 64,
  PULSE_MS: 96, RESERVED: 104, CRC: 508,
} as const;

/** File-table entry: lock record (8..311) then the entry proper (312..507). */
export const FE = {
  MAGIC: 0, INDEX: 4, LOCK_MODE: 8, HOLDER_COUNT: 9, LOCK_RESERVED: 10, LOCK_GENERATION: 12, OWNER: 16,
  OWNER_SLOT_LBA: 32, OWNER_SLOT_GEN: 40, LOCK_MTIME_MS: 48, HOLDERS: 56,
  TYPE: 312, NAME_LEN: 313, ENTRY_RESERVED: 314, PARENT: 316, NAME: 320, SIZE: 384, EXTENT_COUNT: 392,
  EXTENT_RESERVED: 393, EXTENTS: 396, TAIL_RESERVED: 492, CRC: 508,
} as const;
/** One holder in the lock record: host UUID, its slot LBA, the slot generation it held. */
export const HOLDER_BYTES = 32;
export const EXTENT_BYTES = 8;
/** The entry part of a file-table record (what a journal record carries): bytes FE.TYPE..FE.TAIL_RESERVED. */
export const ENTRY_META_BYTES = FE.TAIL_RESERVED - FE.TYPE;

/** Journal header (first block of each host's journal). */
export const JH = { MAGIC: 0, SLOT: 4, CHECKPOINT: 8, RESERVED: 16, CRC: 508 } as const;
/** Journal record. */
export const JR = {
  MAGIC: 0, SLOT: 4, SEQ: 8, TXN: 16, INDEX: 24, COUNT: 25, OP: 26, RESERVED1: 27, TARGET: 28, BITS: 32,
  RESERVED2: 36, META: 40, RESERVED3: 40 + ENTRY_META_BYTES, CRC: 508,
} as const;
export const JOURNAL_OP = { ENTRY_META: 1, BITMAP_SET: 2, BITMAP_CLEAR: 3 } as const;

/** Bitmap block. */
export const BM = { MAGIC: 0, INDEX: 4, RESERVED: 8, BITS: 16, TAIL: 504, CRC: 508 } as const;

// ---------------------------------------------------------------- value types

export interface Intervals {
  heartbeatMs: number;
  ioTimeoutMs: number;
  leaseMs: number;
  offlineRetryMs: number;
}

export interface Layout {
  blockSize: number;
  lunBlocks: number;
  slotCount: number;
  hbLba: number;
  journalLba: number;
  journalBlocks: number;
  fileTableLba: number;
  fileEntries: number;
  bitmapLba: number;
  bitmapBlocks: number;
  dataLba: number;
  fileBlockBytes: number;
  fileBlocks: number;
}

export interface Superblock extends Intervals {
  version: number;
  locking: LockingMode;
  volumeUuid: string;
  label: string;
  layout: Layout;
}

export interface HeartbeatSlot {
  state: SlotState;
  index: number;
  generation: number;
  pulse: number;
  owner: string;
  journalLba: number;
  replayHost: string;
  hostName: string;
  pulseMs: number;
}

export interface LockHolder {
  owner: string;
  slotLba: number;
  slotGeneration: number;
}

export interface LockRecord {
  mode: LockMode;
  generation: number;
  /** The holder that last took the lock (holders[0]); ZERO_UUID when free. */
  owner: string;
  ownerSlotLba: number;
  ownerSlotGeneration: number;
  mtimeMs: number;
  holders: LockHolder[];
}

export interface Extent {
  start: number;
  count: number;
}

export interface EntryMeta {
  type: EntryType;
  parent: number;
  name: string;
  sizeBytes: number;
  extents: Extent[];
}

export interface FileEntry {
  index: number;
  lock: LockRecord;
  meta: EntryMeta;
}

export interface JournalHeader {
  slot: number;
  checkpoint: number;
}

export type JournalChange =
  | { op: 'entry-meta'; entry: number; meta: EntryMeta }
  | { op: 'bitmap-set' | 'bitmap-clear'; start: number; bits: number };

export interface JournalRecord {
  slot: number;
  seq: number;
  txn: number;
  index: number;
  count: number;
  change: JournalChange;
}

export interface BitmapBlock {
  index: number;
  bits: Buffer;
}

// ---------------------------------------------------------------- byte helpers

type R<T> = Result<T, DatastoreError>;

function crcOf(b: Uint8Array): number {
  return crc32(b.subarray(0, DS_RECORD_BYTES - 4)) >>> 0;
}

function u64(b: Buffer, o: number): number {
  const v = b.readBigUInt64LE(o);
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(v);
}

function putU64(b: Buffer, o: number, v: number): void {
  b.writeBigUInt64LE(BigInt(v), o);
}

function readUuid(b: Buffer, o: number): string {
  return b.toString('hex', o, o + 16);
}

function writeUuid(b: Buffer, o: number, uuid: string, what: string): void {
  if (!UUID_RE.test(uuid)) throw new DatastoreError(DS_ERROR.BAD_OPTION, `${what} must be 32 lowercase hex digits, got "${uuid}"`);
  b.write(uuid, o, 16, 'hex');
}

/** A zero-padded UTF-8 string field; `undefined` when it is not valid UTF-8 or has bytes after its end. */
function readText(b: Buffer, o: number, width: number): string | undefined {
  const field = b.subarray(o, o + width);
  let end = field.indexOf(0);
  if (end < 0) end = width;
  for (let i = end; i < width; i++) if (field[i] !== 0) return undefined;
  const s = field.toString('utf8', 0, end);
  return Buffer.byteLength(s) === end ? s : undefined;
}

function writeText(b: Buffer, o: number, width: number, s: string, what: string): void {
  const bytes = Buffer.from(s, 'utf8');
  if (bytes.length > width || bytes.includes(0)) {
    throw new DatastoreError(DS_ERROR.BAD_OPTION, `${what} "${s}" is longer than ${width} UTF-8 bytes or holds NUL`);
  }
  bytes.copy(b, o);
}

function firstNonZero(b: Buffer, from: number, to: number): number {
  for (let i = from; i < to; i++) if (b[i] !== 0) return i;
  return -1;
}

/** Common checks: the block is long enough, starts with `magic` (if given), the CRC matches, the tail is zero. */
class Check {
  constructor(readonly b: Buffer, readonly structure: string, readonly base: number) {}

  /** A Check over `block` once its length, magic, CRC and tail are right; else the error. */
  static open(block: Uint8Array, structure: string, base: number, magic: number | readonly number[]): Check | { ok: false; error: DatastoreError } {
    const c = new Check(Buffer.from(block.buffer, block.byteOffset, block.byteLength), structure, base);
    return c.frame(magic) ?? c;
  }

  bad(field: string, offset: number, why: string, code: (typeof DS_ERROR)[keyof typeof DS_ERROR] = DS_ERROR.BAD_FIELD): { ok: false; error: DatastoreError } {
    return err(fieldError(code, this.structure, field, offset, why, this.base));
  }

  frame(magic: number | readonly number[]): { ok: false; error: DatastoreError } | undefined {
    const b = this.b;
    if (b.length < DS_RECORD_BYTES) return this.bad('length', 0, `is ${b.length} bytes, shorter than a ${DS_RECORD_BYTES}-byte record`);
    const m = b.readUInt32LE(0);
    const allowed = typeof magic === 'number' ? [magic] : magic;
    if (!allowed.includes(m)) return this.bad('magic', 0, `is 0x${m.toString(16).padStart(8, '0')}, not a ${this.structure}`, DS_ERROR.BAD_MAGIC);
    const stored = b.readUInt32LE(DS_RECORD_BYTES - 4);
    const actual = crcOf(b);
    if (stored !== actual) return this.bad('crc32', DS_RECORD_BYTES - 4, `is 0x${stored.toString(16)}, bytes give 0x${actual.toString(16)}`, DS_ERROR.BAD_CHECKSUM);
    const tail = firstNonZero(b, DS_RECORD_BYTES, b.length);
    if (tail >= 0) return this.bad('block tail', tail, 'is not zero (bytes after the 512-byte record must be zero)');
    return undefined;
  }

  zero(field: string, from: number, to: number): { ok: false; error: DatastoreError } | undefined {
    const at = firstNonZero(this.b, from, to);
    return at >= 0 ? this.bad(field, at, 'is reserved and must be zero') : undefined;
  }

  u64(field: string, o: number): number | { ok: false; error: DatastoreError } {
    const v = u64(this.b, o);
    return v < 0 ? this.bad(field, o, 'exceeds 2^53') : v;
  }
}

function newRecord(blockSize: number): Buffer {
  return Buffer.alloc(Math.max(blockSize, DS_RECORD_BYTES));
}

function seal(b: Buffer): Buffer {
  b.writeUInt32LE(crcOf(b), DS_RECORD_BYTES - 4);
  return b;
}

const isErr = (v: unknown): v is { ok: false; error: DatastoreError } => typeof v === 'object' && v !== null && (v as { ok?: unknown }).ok === false;

// ---------------------------------------------------------------- layout

export interface LayoutOptions {
  slotCount?: number;
  fileEntries?: number;
}

/** Where each region lives on a LUN of `lunBytes` with `blockSize`-byte blocks; undefined = too small. */
export function computeLayout(lunBytes: number, blockSize: number, opts: LayoutOptions = {}): Layout | undefined {
  const slotCount = opts.slotCount ?? DS_MAX_HOSTS;
  const fileEntries = opts.fileEntries ?? DS_MAX_FILES;
  const lunBlocks = Math.floor(lunBytes / blockSize);
  const hbLba = 1;
  const journalLba = hbLba + slotCount;
  const fileTableLba = journalLba + slotCount * DS_JOURNAL_BLOCKS;
  const bitmapLba = fileTableLba + fileEntries;
  const maxFileBlocks = Math.floor(lunBytes / DS_FILE_BLOCK_BYTES);
  const bitmapBlocks = Math.max(1, Math.ceil(maxFileBlocks / DS_BITMAP_BITS_PER_BLOCK));
  const perFileBlock = DS_FILE_BLOCK_BYTES / blockSize;
  const dataLba = Math.ceil((bitmapLba + bitmapBlocks) / perFileBlock) * perFileBlock;
  const fileBlocks = Math.floor((lunBlocks - dataLba) / perFileBlock);
  if (fileBlocks < DS_MIN_FILE_BLOCKS) return undefined;
  return { blockSize, lunBlocks, slotCount, hbLba, journalLba, journalBlocks: DS_JOURNAL_BLOCKS, fileTableLba, fileEntries, bitmapLba, bitmapBlocks, dataLba, fileBlockBytes: DS_FILE_BLOCK_BYTES, fileBlocks };
}

/** The smallest LUN computeLayout accepts with these options. */
export function minLunBytes(blockSize: number, opts: LayoutOptions = {}): number {
  const slotCount = opts.slotCount ?? DS_MAX_HOSTS;
  const fileEntries = opts.fileEntries ?? DS_MAX_FILES;
  const meta = (1 + slotCount * (1 + DS_JOURNAL_BLOCKS) + fileEntries + 1) * blockSize;
  return (Math.ceil(meta / DS_FILE_BLOCK_BYTES) + DS_MIN_FILE_BLOCKS) * DS_FILE_BLOCK_BYTES;
}

export const slotLba = (l: Layout, slot: number): number => l.hbLba + slot;
export const journalLbaOf = (l: Layout, slot: number): number => l.journalLba + slot * l.journalBlocks;
export const entryLba = (l: Layout, entry: number): number => l.fileTableLba + entry;
export const bitmapBlockLba = (l: Layout, index: number): number => l.bitmapLba + index;
/** Slot index of the slot at `lba`, or -1 when `lba` is not a slot. */
export function slotIndexAt(l: Layout, lba: number): number {
  const i = lba - l.hbLba;
  return i >= 0 && i < l.slotCount ? i : -1;
}

// ---------------------------------------------------------------- superblock

export function emitSuperblock(sb: Superblock): Buffer {
  const l = sb.layout;
  if (!LOCKING_MODES.includes(sb.locking)) throw new DatastoreError(DS_ERROR.BAD_OPTION, `unknown lock mode ${sb.locking}`);
  const b = newRecord(l.blockSize);
  b.writeUInt32LE(MAGIC.SUPERBLOCK, SB.MAGIC);
  b.writeUInt16LE(sb.version, SB.VERSION);
  b.writeUInt8(LOCKING_MODES.indexOf(sb.locking) + 1, SB.LOCKING);
  writeUuid(b, SB.VOLUME_UUID, sb.volumeUuid, 'volume UUID');
  writeText(b, SB.LABEL, DS_MAX_LABEL_BYTES, sb.label, 'label');
  b.writeUInt32LE(l.blockSize, SB.BLOCK_SIZE);
  putU64(b, SB.LUN_BLOCKS, l.lunBlocks);
  b.writeUInt32LE(sb.heartbeatMs, SB.HEARTBEAT_MS);
  b.writeUInt32LE(sb.ioTimeoutMs, SB.IO_TIMEOUT_MS);
  b.writeUInt32LE(sb.leaseMs, SB.LEASE_MS);
  b.writeUInt32LE(sb.offlineRetryMs, SB.OFFLINE_RETRY_MS);
  b.writeUInt32LE(l.slotCount, SB.SLOT_COUNT);
  putU64(b, SB.HB_LBA, l.hbLba);
  putU64(b, SB.JOURNAL_LBA, l.journalLba);
  b.writeUInt32LE(l.journalBlocks, SB.JOURNAL_BLOCKS);
  putU64(b, SB.FILE_TABLE_LBA, l.fileTableLba);
  b.writeUInt32LE(l.fileEntries, SB.FILE_ENTRIES);
  putU64(b, SB.BITMAP_LBA, l.bitmapLba);
  b.writeUInt32LE(l.bitmapBlocks, SB.BITMAP_BLOCKS);
  putU64(b, SB.DATA_LBA, l.dataLba);
  b.writeUInt32LE(l.fileBlockBytes, SB.FILE_BLOCK_BYTES);
  b.writeUInt32LE(l.fileBlocks, SB.FILE_BLOCKS);
  return seal(b);
}

/**
 * Parses LBA 0. `lunBlockSize`, when known, must equal the recorded block size. The region addresses
 * must be exactly what computeLayout gives for the recorded sizes (nothing is trusted on its own word).
 */
export function parseSuperblock(block: Uint8Array, lunBlockSize?: number): R<Superblock> {
  const c = Check.open(block, 'superblock', 0, MAGIC.SUPERBLOCK);
  if (!(c instanceof Check)) return c;
  const b = c.b;
  const version = b.readUInt16LE(SB.VERSION);
  if (version !== DS_FORMAT_VERSION) return c.bad('version', SB.VERSION, `is ${version}, this vfab reads version ${DS_FORMAT_VERSION}`);
  const lockingCode = b.readUInt8(SB.LOCKING);
  const locking = LOCKING_MODES[lockingCode - 1];
  if (locking === undefined) return c.bad('lock mode', SB.LOCKING, `is ${lockingCode}, not 1 (ATS-only) or 2 (ATS+SCSI)`);
  const z = c.zero('reserved', SB.LOCKING + 1, SB.VOLUME_UUID);
  if (z) return z;
  const volumeUuid = readUuid(b, SB.VOLUME_UUID);
  if (volumeUuid === ZERO_UUID) return c.bad('volume UUID', SB.VOLUME_UUID, 'is all zeros');
  const label = readText(b, SB.LABEL, DS_MAX_LABEL_BYTES);
  if (label === undefined) return c.bad('label', SB.LABEL, 'is not zero-padded UTF-8');
  const blockSize = b.readUInt32LE(SB.BLOCK_SIZE);
  if (!(DS_BLOCK_SIZES as readonly number[]).includes(blockSize)) return c.bad('block size', SB.BLOCK_SIZE, `is ${blockSize}, not 512 or 4096`);
  if (lunBlockSize !== undefined && blockSize !== lunBlockSize) return c.bad('block size', SB.BLOCK_SIZE, `is ${blockSize}, the LUN has ${lunBlockSize}-byte blocks`);
  if (b.length !== blockSize) return c.bad('length', 0, `is ${b.length} bytes, the recorded block size is ${blockSize}`);
  const lunBlocks = c.u64('LUN blocks', SB.LUN_BLOCKS);
  if (isErr(lunBlocks)) return lunBlocks;
  const iv: Intervals = {
    heartbeatMs: b.readUInt32LE(SB.HEARTBEAT_MS),
    ioTimeoutMs: b.readUInt32LE(SB.IO_TIMEOUT_MS),
    leaseMs: b.readUInt32LE(SB.LEASE_MS),
    offlineRetryMs: b.readUInt32LE(SB.OFFLINE_RETRY_MS),
  };
  const ivBad = checkIntervals(iv);
  if (ivBad !== undefined) return c.bad(ivBad.field, SB[ivBad.key], ivBad.why);
  const slotCount = b.readUInt32LE(SB.SLOT_COUNT);
  if (slotCount < 1 || slotCount > DS_MAX_HOSTS) return c.bad('slot count', SB.SLOT_COUNT, `is ${slotCount}, not 1..${DS_MAX_HOSTS}`);
  const fileEntries = b.readUInt32LE(SB.FILE_ENTRIES);
  if (fileEntries < 1 || fileEntries > DS_MAX_FILES) return c.bad('file entries', SB.FILE_ENTRIES, `is ${fileEntries}, not 1..${DS_MAX_FILES}`);
  const expect = computeLayout(lunBlocks * blockSize, blockSize, { slotCount, fileEntries });
  if (expect === undefined) return c.bad('LUN blocks', SB.LUN_BLOCKS, `(${lunBlocks}) is too small for the recorded layout`);
  const fields: Array<[keyof Layout, keyof typeof SB, 32 | 64]> = [
    ['hbLba', 'HB_LBA', 64], ['journalLba', 'JOURNAL_LBA', 64], ['journalBlocks', 'JOURNAL_BLOCKS', 32],
    ['fileTableLba', 'FILE_TABLE_LBA', 64], ['bitmapLba', 'BITMAP_LBA', 64], ['bitmapBlocks', 'BITMAP_BLOCKS', 32],
    ['dataLba', 'DATA_LBA', 64], ['fileBlockBytes', 'FILE_BLOCK_BYTES', 32], ['fileBlocks', 'FILE_BLOCKS', 32],
  ];
  for (const [key, off, width] of fields) {
    const got = width === 32 ? b.readUInt32LE(SB[off]) : u64(b, SB[off]);
    if (got !== expect[key]) return c.bad(key, SB[off], `is ${got}, the layout gives ${expect[key]}`);
  }
  const zr = c.zero('reserved', SB.RESERVED, SB.CRC);
  if (zr) return zr;
  return ok({ version, locking, volumeUuid, label, ...iv, layout: expect });
}

function checkIntervals(iv: Intervals): { field: string; key: 'HEARTBEAT_MS' | 'IO_TIMEOUT_MS' | 'LEASE_MS' | 'OFFLINE_RETRY_MS'; why: string } | undefined {
  if (iv.heartbeatMs < 1) return { field: 'heartbeat interval', key: 'HEARTBEAT_MS', why: 'is 0' };
  if (iv.ioTimeoutMs < 1) return { field: 'I/O timeout', key: 'IO_TIMEOUT_MS', why: 'is 0' };
  if (iv.leaseMs <= iv.ioTimeoutMs || iv.leaseMs <= iv.heartbeatMs) {
    return { field: 'lease', key: 'LEASE_MS', why: `(${iv.leaseMs} ms) must exceed the heartbeat interval and the I/O timeout` };
  }
  if (iv.offlineRetryMs < 1 || iv.offlineRetryMs > iv.leaseMs) return { field: 'offline retry', key: 'OFFLINE_RETRY_MS', why: `(${iv.offlineRetryMs} ms) must be 1..lease` };
  return undefined;
}

// ---------------------------------------------------------------- heartbeat slot

export function emitSlot(s: HeartbeatSlot, blockSize: number): Buffer {
  const b = newRecord(blockSize);
  b.writeUInt32LE(SLOT_STATE_VALUES[s.state], HB.STATE);
  b.writeUInt32LE(s.index, HB.INDEX);
  putU64(b, HB.GENERATION, s.generation);
  putU64(b, HB.PULSE, s.pulse);
  writeUuid(b, HB.OWNER, s.owner, 'slot owner');
  putU64(b, HB.JOURNAL_LBA, s.journalLba);
  writeUuid(b, HB.REPLAY_HOST, s.replayHost, 'replay host');
  writeText(b, HB.HOST_NAME, DS_MAX_HOST_NAME_BYTES, s.hostName, 'host name');
  putU64(b, HB.PULSE_MS, s.pulseMs);
  return seal(b);
}

/** Parses one heartbeat slot; `expectIndex` is its position in the region (checked when given). */
export function parseSlot(block: Uint8Array, expectIndex?: number, base = 0): R<HeartbeatSlot> {
  const c = Check.open(block, 'heartbeat slot', base, [SLOT_STATE.FREE, SLOT_STATE.IN_USE, SLOT_STATE.REPLAYING]);
  if (!(c instanceof Check)) return c;
  const b = c.b;
  const state = SLOT_STATE_NAMES[b.readUInt32LE(HB.STATE)]!;
  const index = b.readUInt32LE(HB.INDEX);
  if (index >= DS_MAX_HOSTS || (expectIndex !== undefined && index !== expectIndex)) {
    return c.bad('slot index', HB.INDEX, `is ${index}, the slot sits at position ${expectIndex ?? '<' + DS_MAX_HOSTS}`);
  }
  const generation = c.u64('generation', HB.GENERATION);
  if (isErr(generation)) return generation;
  const pulse = c.u64('pulse', HB.PULSE);
  if (isErr(pulse)) return pulse;
  const owner = readUuid(b, HB.OWNER);
  const replayHost = readUuid(b, HB.REPLAY_HOST);
  if (state === 'free' && owner !== ZERO_UUID) return c.bad('owner', HB.OWNER, 'is set on a free slot');
  if (state !== 'free' && owner === ZERO_UUID) return c.bad('owner', HB.OWNER, `is all zeros on a slot that is ${state}`);
  if ((state === 'replaying') !== (replayHost !== ZERO_UUID)) return c.bad('replay host', HB.REPLAY_HOST, `must be set exactly when the slot is being replayed (state ${state})`);
  const journalLba = c.u64('journal address', HB.JOURNAL_LBA);
  if (isErr(journalLba)) return journalLba;
  const hostName = readText(b, HB.HOST_NAME, DS_MAX_HOST_NAME_BYTES);
  if (hostName === undefined) return c.bad('host name', HB.HOST_NAME, 'is not zero-padded UTF-8');
  const pulseMs = c.u64('pulse time', HB.PULSE_MS);
  if (isErr(pulseMs)) return pulseMs;
  const z = c.zero('reserved', HB.RESERVED, HB.CRC);
  if (z) return z;
  return ok({ state, index, generation, pulse, owner, journalLba, replayHost, hostName, pulseMs });
}

export function freeSlot(index: number, generation: number, journalLba: number): HeartbeatSlot {
  return { state: 'free', index, generation, pulse: 0, owner: ZERO_UUID, journalLba, replayHost: ZERO_UUID, hostName: '', pulseMs: 0 };
}

// ---------------------------------------------------------------- file entry and lock record

export const FREE_LOCK: LockRecord = { mode: 'free', generation: 0, owner: ZERO_UUID, ownerSlotLba: 0, ownerSlotGeneration: 0, mtimeMs: 0, holders: [] };
export const UNUSED_META: EntryMeta = { type: 'unused', parent: 0, name: '', sizeBytes: 0, extents: [] };

function emitMeta(b: Buffer, at: number, m: EntryMeta): void {
  const name = Buffer.from(m.name, 'utf8');
  if (name.length > DS_MAX_NAME_BYTES || name.includes(0)) throw new DatastoreError(DS_ERROR.BAD_OPTION, `name "${m.name}" is longer than ${DS_MAX_NAME_BYTES} UTF-8 bytes or holds NUL`);
  if (m.extents.length > DS_MAX_EXTENTS) throw new DatastoreError(DS_ERROR.BAD_OPTION, `${m.extents.length} extents, at most ${DS_MAX_EXTENTS}`);
  const d = at - FE.TYPE;
  b.writeUInt8(ENTRY_TYPES.indexOf(m.type), FE.TYPE + d);
  b.writeUInt8(name.length, FE.NAME_LEN + d);
  b.writeUInt32LE(m.parent, FE.PARENT + d);
  name.copy(b, FE.NAME + d);
  putU64(b, FE.SIZE + d, m.sizeBytes);
  b.writeUInt8(m.extents.length, FE.EXTENT_COUNT + d);
  m.extents.forEach((e, i) => {
    b.writeUInt32LE(e.start, FE.EXTENTS + d + i * EXTENT_BYTES);
    b.writeUInt32LE(e.count, FE.EXTENTS + d + i * EXTENT_BYTES + 4);
  });
}

/** Entry-meta fields at `at` (FE.TYPE in an entry, JR.META in a journal record). */
function parseMeta(c: Check, at: number, fileEntries: number): R<EntryMeta> {
  const b = c.b;
  const d = at - FE.TYPE;
  const typeCode = b.readUInt8(FE.TYPE + d);
  const type = ENTRY_TYPES[typeCode];
  if (type === undefined) return c.bad('entry type', FE.TYPE + d, `is ${typeCode}, not 0 (unused), 1 (dir) or 2 (file)`);
  const nameLen = b.readUInt8(FE.NAME_LEN + d);
  if (nameLen > DS_MAX_NAME_BYTES) return c.bad('name length', FE.NAME_LEN + d, `is ${nameLen}, at most ${DS_MAX_NAME_BYTES}`);
  const z1 = c.zero('reserved', FE.ENTRY_RESERVED + d, FE.PARENT + d);
  if (z1) return z1;
  const parent = b.readUInt32LE(FE.PARENT + d);
  if (parent >= fileEntries) return c.bad('parent', FE.PARENT + d, `is ${parent}, the file table has ${fileEntries} entries`);
  const name = b.toString('utf8', FE.NAME + d, FE.NAME + d + nameLen);
  if (Buffer.byteLength(name) !== nameLen || name.includes('\0')) return c.bad('name', FE.NAME + d, 'is not valid UTF-8');
  const z2 = c.zero('name padding', FE.NAME + d + nameLen, FE.NAME + d + DS_MAX_NAME_BYTES);
  if (z2) return z2;
  if ((type === 'unused') !== (nameLen === 0)) return c.bad('name length', FE.NAME_LEN + d, `is ${nameLen} on an entry of type ${type}`);
  const sizeBytes = c.u64('size', FE.SIZE + d);
  if (isErr(sizeBytes)) return sizeBytes;
  const extentCount = b.readUInt8(FE.EXTENT_COUNT + d);
  if (extentCount > DS_MAX_EXTENTS) return c.bad('extent count', FE.EXTENT_COUNT + d, `is ${extentCount}, at most ${DS_MAX_EXTENTS}`);
  const z3 = c.zero('reserved', FE.EXTENT_RESERVED + d, FE.EXTENTS + d);
  if (z3) return z3;
  const extents: Extent[] = [];
  for (let i = 0; i < extentCount; i++) {
    const o = FE.EXTENTS + d + i * EXTENT_BYTES;
    const e = { start: b.readUInt32LE(o), count: b.readUInt32LE(o + 4) };
    if (e.count === 0) return c.bad(`extent ${i} count`, o + 4, 'is 0');
    extents.push(e);
  }
  const z4 = c.zero('unused extents', FE.EXTENTS + d + extentCount * EXTENT_BYTES, FE.TAIL_RESERVED + d);
  if (z4) return z4;
  return ok({ type, parent, name, sizeBytes, extents });
}

export function emitEntry(e: FileEntry, blockSize: number): Buffer {
  const b = newRecord(blockSize);
  const l = e.lock;
  if (l.holders.length > DS_MAX_LOCK_HOLDERS) throw new DatastoreError(DS_ERROR.BAD_OPTION, `${l.holders.length} lock holders, at most ${DS_MAX_LOCK_HOLDERS}`);
  b.writeUInt32LE(MAGIC.FILE_ENTRY, FE.MAGIC);
  b.writeUInt32LE(e.index, FE.INDEX);
  b.writeUInt8(LOCK_MODES.indexOf(l.mode), FE.LOCK_MODE);
  b.writeUInt8(l.holders.length, FE.HOLDER_COUNT);
  b.writeUInt32LE(l.generation, FE.LOCK_GENERATION);
  writeUuid(b, FE.OWNER, l.owner, 'lock owner');
  putU64(b, FE.OWNER_SLOT_LBA, l.ownerSlotLba);
  putU64(b, FE.OWNER_SLOT_GEN, l.ownerSlotGeneration);
  putU64(b, FE.LOCK_MTIME_MS, l.mtimeMs);
  l.holders.forEach((h, i) => {
    const o = FE.HOLDERS + i * HOLDER_BYTES;
    writeUuid(b, o, h.owner, 'lock holder');
    putU64(b, o + 16, h.slotLba);
    putU64(b, o + 24, h.slotGeneration);
  });
  emitMeta(b, FE.TYPE, e.meta);
  return seal(b);
}

export function parseEntry(block: Uint8Array, fileEntries: number, expectIndex?: number, base = 0): R<FileEntry> {
  const c = Check.open(block, 'file entry', base, MAGIC.FILE_ENTRY);
  if (!(c instanceof Check)) return c;
  const b = c.b;
  const index = b.readUInt32LE(FE.INDEX);
  if (index >= fileEntries || (expectIndex !== undefined && index !== expectIndex)) {
    return c.bad('entry index', FE.INDEX, `is ${index}, the entry sits at position ${expectIndex ?? '<' + fileEntries}`);
  }
  const modeCode = b.readUInt8(FE.LOCK_MODE);
  const mode = LOCK_MODES[modeCode];
  if (mode === undefined) return c.bad('lock mode', FE.LOCK_MODE, `is ${modeCode}, not 0..3`);
  const count = b.readUInt8(FE.HOLDER_COUNT);
  if (count > DS_MAX_LOCK_HOLDERS) return c.bad('holder count', FE.HOLDER_COUNT, `is ${count}, at most ${DS_MAX_LOCK_HOLDERS}`);
  if (mode === 'free' ? count !== 0 : mode === 'exclusive' ? count !== 1 : count < 1) {
    return c.bad('holder count', FE.HOLDER_COUNT, `is ${count}, impossible for a ${mode} lock`);
  }
  const z = c.zero('reserved', FE.LOCK_RESERVED, FE.LOCK_GENERATION);
  if (z) return z;
  const owner = readUuid(b, FE.OWNER);
  const ownerSlotLba = c.u64('owner slot address', FE.OWNER_SLOT_LBA);
  if (isErr(ownerSlotLba)) return ownerSlotLba;
  const ownerSlotGeneration = c.u64('owner slot generation', FE.OWNER_SLOT_GEN);
  if (isErr(ownerSlotGeneration)) return ownerSlotGeneration;
  const mtimeMs = c.u64('lock mtime', FE.LOCK_MTIME_MS);
  if (isErr(mtimeMs)) return mtimeMs;
  const holders: LockHolder[] = [];
  for (let i = 0; i < count; i++) {
    const o = FE.HOLDERS + i * HOLDER_BYTES;
    const h = { owner: readUuid(b, o), slotLba: u64(b, o + 16), slotGeneration: u64(b, o + 24) };
    if (h.owner === ZERO_UUID) return c.bad(`holder ${i} owner`, o, 'is all zeros');
    if (h.slotLba < 0 || h.slotGeneration < 0) return c.bad(`holder ${i}`, o + 16, 'has a field beyond 2^53');
    holders.push(h);
  }
  const zh = c.zero('unused holders', FE.HOLDERS + count * HOLDER_BYTES, FE.TYPE);
  if (zh) return zh;
  if (count === 0) {
    if (owner !== ZERO_UUID || ownerSlotLba !== 0 || ownerSlotGeneration !== 0) return c.bad('owner', FE.OWNER, 'is set on a free lock');
  } else if (owner !== holders[0]!.owner || ownerSlotLba !== holders[0]!.slotLba || ownerSlotGeneration !== holders[0]!.slotGeneration) {
    return c.bad('owner', FE.OWNER, 'differs from the first holder');
  }
  const meta = parseMeta(c, FE.TYPE, fileEntries);
  if (!meta.ok) return meta;
  const zt = c.zero('reserved', FE.TAIL_RESERVED, FE.CRC);
  if (zt) return zt;
  return ok({ index, lock: { mode, generation: b.readUInt32LE(FE.LOCK_GENERATION), owner, ownerSlotLba, ownerSlotGeneration, mtimeMs, holders }, meta: meta.value });
}

// ---------------------------------------------------------------- journal

export function emitJournalHeader(h: JournalHeader, blockSize: number): Buffer {
  const b = newRecord(blockSize);
  b.writeUInt32LE(MAGIC.JOURNAL_HEADER, JH.MAGIC);
  b.writeUInt32LE(h.slot, JH.SLOT);
  putU64(b, JH.CHECKPOINT, h.checkpoint);
  return seal(b);
}

export function parseJournalHeader(block: Uint8Array, expectSlot?: number, base = 0): R<JournalHeader> {
  const c = Check.open(block, 'journal header', base, MAGIC.JOURNAL_HEADER);
  if (!(c instanceof Check)) return c;
  const b = c.b;
  const slot = b.readUInt32LE(JH.SLOT);
  if (slot >= DS_MAX_HOSTS || (expectSlot !== undefined && slot !== expectSlot)) return c.bad('slot', JH.SLOT, `is ${slot}, the journal belongs to slot ${expectSlot ?? '<' + DS_MAX_HOSTS}`);
  const checkpoint = c.u64('checkpoint', JH.CHECKPOINT);
  if (isErr(checkpoint)) return checkpoint;
  const z = c.zero('reserved', JH.RESERVED, JH.CRC);
  if (z) return z;
  return ok({ slot, checkpoint });
}

export function emitJournalRecord(r: JournalRecord, blockSize: number): Buffer {
  const b = newRecord(blockSize);
  b.writeUInt32LE(MAGIC.JOURNAL_RECORD, JR.MAGIC);
  b.writeUInt32LE(r.slot, JR.SLOT);
  putU64(b, JR.SEQ, r.seq);
  putU64(b, JR.TXN, r.txn);
  b.writeUInt8(r.index, JR.INDEX);
  b.writeUInt8(r.count, JR.COUNT);
  const ch = r.change;
  if (ch.op === 'entry-meta') {
    b.writeUInt8(JOURNAL_OP.ENTRY_META, JR.OP);
    b.writeUInt32LE(ch.entry, JR.TARGET);
    emitMeta(b, JR.META, ch.meta);
  } else {
    b.writeUInt8(ch.op === 'bitmap-set' ? JOURNAL_OP.BITMAP_SET : JOURNAL_OP.BITMAP_CLEAR, JR.OP);
    b.writeUInt32LE(ch.start, JR.TARGET);
    b.writeUInt32LE(ch.bits, JR.BITS);
  }
  return seal(b);
}

export function parseJournalRecord(block: Uint8Array, fileEntries: number, fileBlocks: number, base = 0): R<JournalRecord> {
  const c = Check.open(block, 'journal record', base, MAGIC.JOURNAL_RECORD);
  if (!(c instanceof Check)) return c;
  const b = c.b;
  const slot = b.readUInt32LE(JR.SLOT);
  if (slot >= DS_MAX_HOSTS) return c.bad('slot', JR.SLOT, `is ${slot}, at most ${DS_MAX_HOSTS - 1}`);
  const seq = c.u64('sequence', JR.SEQ);
  if (isErr(seq)) return seq;
  const txn = c.u64('transaction', JR.TXN);
  if (isErr(txn)) return txn;
  const index = b.readUInt8(JR.INDEX);
  const count = b.readUInt8(JR.COUNT);
  if (count < 1 || count > DS_JOURNAL_MAX_TXN_RECORDS) return c.bad('record count', JR.COUNT, `is ${count}, not 1..${DS_JOURNAL_MAX_TXN_RECORDS}`);
  if (index >= count) return c.bad('record index', JR.INDEX, `is ${index}, the transaction has ${count} records`);
  if (seq !== txn + index) return c.bad('sequence', JR.SEQ, `is ${seq}, transaction ${txn} record ${index} must be ${txn + index}`);
  const opCode = b.readUInt8(JR.OP);
  const z = c.zero('reserved', JR.RESERVED1, JR.TARGET);
  if (z) return z;
  const target = b.readUInt32LE(JR.TARGET);
  let change: JournalChange;
  if (opCode === JOURNAL_OP.ENTRY_META) {
    if (target >= fileEntries) return c.bad('target entry', JR.TARGET, `is ${target}, the file table has ${fileEntries} entries`);
    const zb = c.zero('reserved', JR.BITS, JR.META);
    if (zb) return zb;
    const meta = parseMeta(c, JR.META, fileEntries);
    if (!meta.ok) return meta;
    change = { op: 'entry-meta', entry: target, meta: meta.value };
  } else if (opCode === JOURNAL_OP.BITMAP_SET || opCode === JOURNAL_OP.BITMAP_CLEAR) {
    const bits = b.readUInt32LE(JR.BITS);
    if (bits === 0 || target + bits > fileBlocks) return c.bad('bit range', JR.TARGET, `${target}+${bits} is outside the ${fileBlocks} file blocks`);
    const zm = c.zero('reserved', JR.RESERVED2, JR.RESERVED3);
    if (zm) return zm;
    change = { op: opCode === JOURNAL_OP.BITMAP_SET ? 'bitmap-set' : 'bitmap-clear', start: target, bits };
  } else {
    return c.bad('operation', JR.OP, `is ${opCode}, not 1..3`);
  }
  const zr = c.zero('reserved', JR.RESERVED3, JR.CRC);
  if (zr) return zr;
  return ok({ slot, seq, txn, index, count, change });
}

// ---------------------------------------------------------------- bitmap

export function emitBitmap(m: BitmapBlock, blockSize: number): Buffer {
  const b = newRecord(blockSize);
  b.writeUInt32LE(MAGIC.BITMAP, BM.MAGIC);
  b.writeUInt32LE(m.index, BM.INDEX);
  m.bits.copy(b, BM.BITS, 0, BM.TAIL - BM.BITS);
  return seal(b);
}

/** Parses bitmap block `expectIndex`; bits beyond the datastore's file blocks must be zero. */
export function parseBitmap(block: Uint8Array, expectIndex: number, fileBlocks: number, base = 0): R<BitmapBlock> {
  const c = Check.open(block, 'bitmap block', base, MAGIC.BITMAP);
  if (!(c instanceof Check)) return c;
  const b = c.b;
  const index = b.readUInt32LE(BM.INDEX);
  if (index !== expectIndex) return c.bad('bitmap index', BM.INDEX, `is ${index}, the block sits at position ${expectIndex}`);
  const z = c.zero('reserved', BM.RESERVED, BM.BITS);
  if (z) return z;
  const valid = Math.max(0, Math.min(DS_BITMAP_BITS_PER_BLOCK, fileBlocks - index * DS_BITMAP_BITS_PER_BLOCK));
  const bits = Buffer.from(b.subarray(BM.BITS, BM.TAIL));
  for (let bit = valid; bit < DS_BITMAP_BITS_PER_BLOCK; bit++) {
    if (bits[bit >> 3]! & (1 << (bit & 7))) return c.bad('bitmap bits', BM.BITS + (bit >> 3), `mark file block ${index * DS_BITMAP_BITS_PER_BLOCK + bit}, beyond the ${fileBlocks} file blocks`);
  }
  const zt = c.zero('reserved', BM.TAIL, BM.CRC);
  if (zt) return zt;
  return ok({ index, bits });
}

// ---------------------------------------------------------------- format planning

export interface FormatOptions {
  label: string;
  volumeUuid: string;
  locking?: LockingMode;
  intervals?: Partial<Intervals>;
  slotCount?: number;
  fileEntries?: number;
  /** The LUN's first bytes as read now (at least LBA 0); all zeros = blank. Omit only for a LUN known blank. */
  inspect?: Uint8Array;
  /** Format over foreign data or an existing datastore. */
  force?: boolean;
}

export interface FormatPlan {
  superblock: Superblock;
  layout: Layout;
  /** Contiguous regions to write, in this order (superblock last, so a half-done format is not a datastore). */
  writes: Array<{ lba: number; data: Buffer; what: string }>;
}

export function planFormat(lunBytes: number, blockSize: number, opts: FormatOptions): R<FormatPlan> {
  const bad = (code: (typeof DS_ERROR)[keyof typeof DS_ERROR], message: string, details?: Record<string, unknown>): { ok: false; error: DatastoreError } =>
    err(new DatastoreError(code, message, details));
  if (!(DS_BLOCK_SIZES as readonly number[]).includes(blockSize)) return bad(DS_ERROR.BAD_OPTION, `block size ${blockSize}: a datastore needs 512- or 4096-byte blocks`);
  const slotCount = opts.slotCount ?? DS_MAX_HOSTS;
  const fileEntries = opts.fileEntries ?? DS_MAX_FILES;
  if (!Number.isInteger(slotCount) || slotCount < 1 || slotCount > DS_MAX_HOSTS) return bad(DS_ERROR.BAD_OPTION, `slot count ${slotCount}: 1..${DS_MAX_HOSTS}`);
  if (!Number.isInteger(fileEntries) || fileEntries < 1 || fileEntries > DS_MAX_FILES) return bad(DS_ERROR.BAD_OPTION, `file entries ${fileEntries}: 1..${DS_MAX_FILES}`);
  if (Buffer.byteLength(opts.label) > DS_MAX_LABEL_BYTES || opts.label.includes('\0')) return bad(DS_ERROR.BAD_OPTION, `label "${opts.label}" is longer than ${DS_MAX_LABEL_BYTES} UTF-8 bytes`);
  if (!UUID_RE.test(opts.volumeUuid) || opts.volumeUuid === ZERO_UUID) return bad(DS_ERROR.BAD_OPTION, `volume UUID "${opts.volumeUuid}" must be 32 lowercase hex digits, not all zero`);
  const iv: Intervals = {
    heartbeatMs: opts.intervals?.heartbeatMs ?? DS_DEFAULT_HEARTBEAT_MS,
    ioTimeoutMs: opts.intervals?.ioTimeoutMs ?? DS_DEFAULT_IO_TIMEOUT_MS,
    leaseMs: opts.intervals?.leaseMs ?? DS_DEFAULT_LEASE_MS,
    offlineRetryMs: opts.intervals?.offlineRetryMs ?? DS_DEFAULT_OFFLINE_RETRY_MS,
  };
  const ivBad = checkIntervals(iv);
  if (ivBad !== undefined || Object.values(iv).some((v) => !Number.isInteger(v) || v > 0xffffffff)) {
    return bad(DS_ERROR.BAD_OPTION, `intervals: ${ivBad?.field ?? 'a value'} ${ivBad?.why ?? 'is not a 32-bit integer'}`);
  }
  const layout = computeLayout(lunBytes, blockSize, { slotCount, fileEntries });
  if (layout === undefined) {
    const need = minLunBytes(blockSize, { slotCount, fileEntries });
    return bad(DS_ERROR.LUN_TOO_SMALL, `a ${lunBytes}-byte LUN is too small for a datastore (at least ${need} bytes with ${blockSize}-byte blocks)`, { lunBytes, needBytes: need });
  }
  if (opts.inspect !== undefined && !opts.force && firstNonZero(Buffer.from(opts.inspect), 0, opts.inspect.length) >= 0) {
    const sb = parseSuperblock(opts.inspect.subarray(0, blockSize), blockSize);
    if (sb.ok) return bad(DS_ERROR.ALREADY_FORMATTED, `the LUN holds datastore "${sb.value.label}" (${sb.value.volumeUuid}); use force to format it again`, { label: sb.value.label, volumeUuid: sb.value.volumeUuid });
    return bad(DS_ERROR.FOREIGN_DATA, `the LUN holds data that is not a datastore (${sb.error.message}); use force to overwrite it`, { reason: sb.error.message });
  }
  const superblock: Superblock = { version: DS_FORMAT_VERSION, locking: opts.locking ?? 'ats-only', volumeUuid: opts.volumeUuid, label: opts.label, ...iv, layout };
  const bs = blockSize;
  const slots = Buffer.alloc(slotCount * bs);
  const journals = Buffer.alloc(slotCount * DS_JOURNAL_BLOCKS * bs);
  for (let i = 0; i < slotCount; i++) {
    emitSlot(freeSlot(i, 0, journalLbaOf(layout, i)), bs).copy(slots, i * bs);
    emitJournalHeader({ slot: i, checkpoint: 0 }, bs).copy(journals, i * DS_JOURNAL_BLOCKS * bs);
  }
  const table = Buffer.alloc(fileEntries * bs);
  for (let i = 0; i < fileEntries; i++) {
    const meta: EntryMeta = i === 0 ? { type: 'dir', parent: 0, name: '/', sizeBytes: 0, extents: [] } : UNUSED_META;
    emitEntry({ index: i, lock: FREE_LOCK, meta }, bs).copy(table, i * bs);
  }
  const bitmap = Buffer.alloc(layout.bitmapBlocks * bs);
  for (let i = 0; i < layout.bitmapBlocks; i++) emitBitmap({ index: i, bits: Buffer.alloc(BM.TAIL - BM.BITS) }, bs).copy(bitmap, i * bs);
  return ok({
    superblock,
    layout,
    writes: [
      { lba: layout.hbLba, data: slots, what: 'heartbeat region' },
      { lba: layout.journalLba, data: journals, what: 'journals' },
      { lba: layout.fileTableLba, data: table, what: 'file table' },
      { lba: layout.bitmapLba, data: bitmap, what: 'bitmap' },
      { lba: 0, data: emitSuperblock(superblock), what: 'superblock' },
    ],
  });
}
