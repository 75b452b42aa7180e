// Decodes every structure of a datastore from its raw metadata bytes (LBA 0 up to the data area), and
// checks that they agree with each other (docs/datastore-format.md). Every problem is reported with the
// LUN byte offset of what is wrong; nothing is trusted or repaired. Checks: each record parses; every
// in-use file's extents lie inside the data area, are marked in the bitmap and belong to no other file;
// no bitmap bit is set without a file; parents are directories; names are unique in a directory; no free
// slot's journal holds transactions that were never replayed. Pure: the caller reads the bytes (the
// future `vfab datastore inspect` and the post-crash verification). Leaves out the NAS `.lck` files.

import type { DatastoreError } from './errors.js';
import {
  DS_BITMAP_BITS_PER_BLOCK, type BitmapBlock, type FileEntry, type HeartbeatSlot, type Layout, type Superblock, bitmapBlockLba, entryLba,
  journalLbaOf, parseBitmap, parseEntry, parseSlot, parseSuperblock, slotLba,
} from './format.js';
import { type ReplayPlan, planReplay } from './journal.js';

export interface Problem {
  /** Byte offset on the LUN of the structure or field that is wrong. */
  offset: number;
  code: string;
  message: string;
}

export interface VolumeReport {
  superblock: Superblock;
  slots: Array<HeartbeatSlot | undefined>;
  journals: Array<ReplayPlan | undefined>;
  entries: Array<FileEntry | undefined>;
  bitmap: Array<BitmapBlock | undefined>;
  problems: Problem[];
}

function fromError(e: DatastoreError, fallbackOffset: number): Problem {
  const offset = typeof e.details?.offset === 'number' ? e.details.offset : fallbackOffset;
  return { offset, code: e.code, message: e.message };
}

/** The bytes to read for inspectVolume: LBA 0 up to (not including) `layout.dataLba`. */
export const metadataBlocks = (l: Layout): number => l.dataLba;

/**
 * Decodes `meta` (the LUN from LBA 0, at least the superblock; metadataBlocks(layout) blocks for a full
 * report). Returns undefined with the superblock's problem when LBA 0 is not a datastore.
 */
export function inspectVolume(meta: Buffer, lunBlockSize: number): { report?: VolumeReport; problem?: Problem } {
  const sb = parseSuperblock(meta.subarray(0, lunBlockSize), lunBlockSize);
  if (!sb.ok) return { problem: fromError(sb.error, 0) };
  const l = sb.value.layout;
  const bs = l.blockSize;
  const problems: Problem[] = [];
  if (meta.length < l.dataLba * bs) {
    problems.push({ offset: meta.length, code: 'VFAB_DATASTORE_BAD_FIELD', message: `only ${meta.length} bytes of metadata given, the layout has ${l.dataLba * bs}` });
    return { report: { superblock: sb.value, slots: [], journals: [], entries: [], bitmap: [], problems } };
  }
  const block = (lba: number): Buffer => meta.subarray(lba * bs, (lba + 1) * bs);
  const slots = Array.from({ length: l.slotCount }, (_, i) => {
    const r = parseSlot(block(slotLba(l, i)), i, slotLba(l, i) * bs);
    if (!r.ok) problems.push(fromError(r.error, slotLba(l, i) * bs));
    return r.ok ? r.value : undefined;
  });
  const journals = Array.from({ length: l.slotCount }, (_, i) => {
    const at = journalLbaOf(l, i);
    try {
      const plan = planReplay(l, i, meta.subarray(at * bs, (at + l.journalBlocks) * bs));
      for (const u of plan.unreadable) problems.push(fromError(u.error, u.lba * bs));
      if (slots[i]?.state === 'free' && plan.txns.length > 0) {
        problems.push({ offset: at * bs, code: 'VFAB_DATASTORE_BAD_FIELD', message: `journal of free slot ${i} holds ${plan.txns.length} transaction(s) never replayed` });
      }
      return plan;
    } catch (e) {
      problems.push(fromError(e as DatastoreError, at * bs));
      return undefined;
    }
  });
  const entries = Array.from({ length: l.fileEntries }, (_, i) => {
    const r = parseEntry(block(entryLba(l, i)), l.fileEntries, i, entryLba(l, i) * bs);
    if (!r.ok) problems.push(fromError(r.error, entryLba(l, i) * bs));
    return r.ok ? r.value : undefined;
  });
  const bitmap = Array.from({ length: l.bitmapBlocks }, (_, i) => {
    const r = parseBitmap(block(bitmapBlockLba(l, i)), i, l.fileBlocks, bitmapBlockLba(l, i) * bs);
    if (!r.ok) problems.push(fromError(r.error, bitmapBlockLba(l, i) * bs));
    return r.ok ? r.value : undefined;
  });
  problems.push(...crossCheck(l, entries, bitmap));
  return { report: { superblock: sb.value, slots, journals, entries, bitmap, problems } };
}

function crossCheck(l: Layout, entries: Array<FileEntry | undefined>, bitmap: Array<BitmapBlock | undefined>): Problem[] {
  const out: Problem[] = [];
  const bs = l.blockSize;
  const owner = new Map<number, number>();
  const names = new Set<string>();
  const isSet = (bit: number): boolean | undefined => {
    const m = bitmap[Math.floor(bit / DS_BITMAP_BITS_PER_BLOCK)];
    if (m === undefined) return undefined;
    const k = bit % DS_BITMAP_BITS_PER_BLOCK;
    return (m.bits[k >> 3]! & (1 << (k & 7))) !== 0;
  };
  for (const e of entries) {
    if (e === undefined || e.meta.type === 'unused') continue;
    const at = entryLba(l, e.index) * bs;
    if (e.index !== 0) {
      const parent = entries[e.meta.parent];
      if (parent !== undefined && parent.meta.type !== 'dir') out.push({ offset: at + 316, code: 'VFAB_DATASTORE_BAD_FIELD', message: `entry ${e.index} (${e.meta.name}): parent ${e.meta.parent} is not a directory` });
      const key = `${e.meta.parent}/${e.meta.name}`;
      if (names.has(key)) out.push({ offset: at + 320, code: 'VFAB_DATASTORE_BAD_FIELD', message: `entry ${e.index}: a second "${e.meta.name}" in directory ${e.meta.parent}` });
      names.add(key);
    }
    let blocks = 0;
    e.meta.extents.forEach((x, i) => {
      blocks += x.count;
      if (x.start + x.count > l.fileBlocks) {
        out.push({ offset: at + 396 + i * 8, code: 'VFAB_DATASTORE_BAD_FIELD', message: `entry ${e.index} (${e.meta.name}): extent ${i} ends past the ${l.fileBlocks} file blocks` });
        return;
      }
      for (let b = x.start; b < x.start + x.count; b++) {
        const other = owner.get(b);
        if (other !== undefined) out.push({ offset: at + 396 + i * 8, code: 'VFAB_DATASTORE_BAD_FIELD', message: `file block ${b} belongs to entries ${other} and ${e.index}` });
        owner.set(b, e.index);
        if (isSet(b) === false) out.push({ offset: at + 396 + i * 8, code: 'VFAB_DATASTORE_BAD_FIELD', message: `entry ${e.index} (${e.meta.name}) uses file block ${b}, which the bitmap says is free` });
      }
    });
    if (blocks * l.fileBlockBytes < e.meta.sizeBytes) out.push({ offset: at + 384, code: 'VFAB_DATASTORE_BAD_FIELD', message: `entry ${e.index} (${e.meta.name}): ${e.meta.sizeBytes} bytes in ${blocks} file blocks` });
  }
  for (let b = 0; b < l.fileBlocks; b++) {
    if (isSet(b) === true && !owner.has(b)) {
      const lba = bitmapBlockLba(l, Math.floor(b / DS_BITMAP_BITS_PER_BLOCK));
      out.push({ offset: lba * bs + 16 + ((b % DS_BITMAP_BITS_PER_BLOCK) >> 3), code: 'VFAB_DATASTORE_BAD_FIELD', message: `file block ${b} is marked allocated but no file uses it (leaked)` });
    }
  }
  return out;
}
