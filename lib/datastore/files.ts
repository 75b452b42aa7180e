// Files on a datastore (docs/vsphere-behaviour.md §7.8, §7.9): create, grow, delete and list, each
// metadata change journalled first (journal.ts) and made under locks (lock.ts). Create holds the parent
// directory's lock (so names stay unique), takes a free entry with ATS (locked exclusive by the creator:
// the file is open), claims file blocks with ATS on the bitmap (clear bits to set, so two hosts never get
// the same block), then journals and applies the entry. Grow needs the caller to hold the file's lock;
// delete needs it exclusive. Runs as generators under proc.ts. Leaves out rename, file data I/O (the
// caller reads/writes the data area at the extents' blocks) and reclaiming blocks leaked when a host dies
// between claiming blocks and committing the entry (inspect.ts reports them).

import { DS_ERROR, DatastoreError } from './errors.js';
import {
  DS_BITMAP_BITS_PER_BLOCK, DS_JOURNAL_MAX_TXN_RECORDS, DS_MAX_EXTENTS, DS_MAX_NAME_BYTES, type EntryMeta, type JournalChange, type Extent, type FileEntry, UNUSED_META, bitmapBlockLba, emitBitmap,
  emitEntry, entryLba, parseBitmap, parseEntry,
} from './format.js';
import { type HostCtx, atomicUpdate, ioOrThrow } from './host.js';
import { journalledUpdate, setBits, settleJournal } from './journal.js';
import { releaseLock, takeLock } from './lock.js';
import { type Gen, emit, sleepUntil } from './proc.js';

/**
 * A directory's lock is held only while a file is created in it: another host creating there waits for it
 * (reading the lock every DS_DIR_LOCK_POLLS_PER_HEARTBEAT-th of a heartbeat interval: 30 ms at the default
 * 3 s) for at most two leases, instead of being refused "locked by" because the holder is alive.
 */
export const DS_DIR_LOCK_POLLS_PER_HEARTBEAT = 100;
const dirLockWait = (ctx: HostCtx) => ({ waitLive: { pollMs: ctx.timing.heartbeatMs / DS_DIR_LOCK_POLLS_PER_HEARTBEAT, waitMs: 2 * ctx.timing.leaseMs } });

/** Most ATS rounds when claiming blocks or a free entry races with other hosts. */
export const DS_CLAIM_MAX_TRIES = 16;

/** Reads and parses the whole file table (one READ). A corrupt entry throws, naming its offset. */
export function* readTable(ctx: HostCtx): Gen<FileEntry[]> {
  const l = ctx.sb.layout;
  const bs = l.blockSize;
  const data = yield* ioOrThrow(ctx, { kind: 'read', lba: l.fileTableLba, blocks: l.fileEntries }, 'read file table');
  return Array.from({ length: l.fileEntries }, (_, i) => {
    const e = parseEntry(data.subarray(i * bs, (i + 1) * bs), l.fileEntries, i, (l.fileTableLba + i) * bs);
    if (!e.ok) throw e.error;
    return e.value;
  });
}

export function* listDir(ctx: HostCtx, dir: number): Gen<FileEntry[]> {
  return (yield* readTable(ctx)).filter((e) => e.index !== 0 && e.meta.type !== 'unused' && e.meta.parent === dir);
}

function checkName(name: string): void {
  const n = Buffer.byteLength(name, 'utf8');
  if (n < 1 || n > DS_MAX_NAME_BYTES || name.includes('/') || name.includes('\0') || name === '.' || name === '..') {
    throw new DatastoreError(DS_ERROR.BAD_OPTION, `file name "${name}" must be 1..${DS_MAX_NAME_BYTES} UTF-8 bytes without "/" or NUL`, { name });
  }
}

/**
 * Claims `count` free file blocks (at most `maxExtents` runs) with ATS on the bitmap blocks. `claimed`
 * (when given) receives every run as soon as it may be set on disk: the runs of a COMPARE AND WRITE that
 * succeeded, and those of one whose outcome is unknown (timed out or failed: the array may have done it).
 */
export function* claimBlocks(ctx: HostCtx, count: number, maxExtents: number, claimed: Extent[] = []): Gen<Extent[]> {
  const l = ctx.sb.layout;
  const bs = l.blockSize;
  const got: Extent[] = [];
  let need = count;
  for (let index = 0, tries = 0; need > 0 && index < l.bitmapBlocks; ) {
    if (tries++ > DS_CLAIM_MAX_TRIES * l.bitmapBlocks) throw new DatastoreError(DS_ERROR.CONTENDED, 'claiming file blocks lost too many ATS races');
    const lba = bitmapBlockLba(l, index);
    const raw = yield* ioOrThrow(ctx, { kind: 'read', lba, blocks: 1 }, `read bitmap block ${index}`);
    const m = parseBitmap(raw, index, l.fileBlocks, lba * bs);
    if (!m.ok) throw m.error;
    const valid = Math.min(DS_BITMAP_BITS_PER_BLOCK, l.fileBlocks - index * DS_BITMAP_BITS_PER_BLOCK);
    const runs: Extent[] = [];
    let taking = 0;
    for (let k = 0; k < valid && taking < need && got.length + runs.length < maxExtents; k++) {
      if (m.value.bits[k >> 3]! & (1 << (k & 7))) continue;
      const last = runs.at(-1);
      const bit = index * DS_BITMAP_BITS_PER_BLOCK + k;
      if (last !== undefined && last.start + last.count === bit) last.count++;
      else if (got.length + runs.length < maxExtents) runs.push({ start: bit, count: 1 });
      else break;
      taking++;
    }
    if (runs.length === 0) {
      index++;
      continue;
    }
    let next = m.value;
    for (const r of runs) next = setBits(next, r.start - index * DS_BITMAP_BITS_PER_BLOCK, r.start - index * DS_BITMAP_BITS_PER_BLOCK + r.count, true);
    const u = yield* atomicUpdate(ctx, lba, raw, emitBitmap(next, bs), true);
    if (u.ok) {
      got.push(...runs);
      claimed.push(...runs);
      need -= taking;
      index++;
    } else if (u.why !== 'miscompare') {
      claimed.push(...runs);
      throw new DatastoreError(DS_ERROR.IO_FAILED, `claiming file blocks in bitmap block ${index}: ${u.why}`);
    } // miscompare: another host changed this bitmap block; read it again
  }
  if (need > 0) {
    if (got.length > 0) yield* journalledUpdate(ctx, [...got.map((e) => ({ op: 'bitmap-clear' as const, start: e.start, bits: e.count }))]);
    throw new DatastoreError(DS_ERROR.NO_SPACE, `no room for ${count} file block(s) in at most ${maxExtents} extent(s)`, { count });
  }
  return got;
}

/**
 * Creates `name` in directory `parent` and returns its entry index, locked exclusive by this host (open).
 * `sizeBytes` is allocated in file blocks at once.
 */
export function* createFile(ctx: HostCtx, parent: number, name: string, sizeBytes: number, type: 'file' | 'dir' = 'file'): Gen<number> {
  checkName(name);
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 0) throw new DatastoreError(DS_ERROR.BAD_OPTION, `file size ${sizeBytes} must be a whole number of bytes >= 0`);
  yield* settleFailedCreates(ctx);
  // another create of this host in this directory: wait for it here (the directory lock would let it in)
  const { pollMs, waitMs } = dirLockWait(ctx).waitLive;
  const waitUntil = ctx.nowMs + waitMs;
  while (ctx.creatingIn.has(parent)) {
    if (ctx.nowMs >= waitUntil) throw new DatastoreError(DS_ERROR.LOCKED, `directory ${parent} stayed busy with another create of this host for ${waitMs} ms`, { entry: parent });
    yield* sleepUntil(ctx.nowMs + pollMs);
  }
  ctx.creatingIn.add(parent);
  try {
    return yield* createLocked(ctx, parent, name, sizeBytes, type);
  } finally {
    ctx.creatingIn.delete(parent);
  }
}

/** createFile's work once this host's other creates in `parent` are done. */
function* createLocked(ctx: HostCtx, parent: number, name: string, sizeBytes: number, type: 'file' | 'dir'): Gen<number> {
  const l = ctx.sb.layout;
  const bs = l.blockSize;
  let taken: boolean;
  try {
    ({ taken } = yield* takeLock(ctx, parent, 'exclusive', dirLockWait(ctx)));
  } catch (e) {
    if ((e as DatastoreError).code === DS_ERROR.IO_FAILED) orphan(ctx, parent, []); // the lock may be ours on disk
    throw e;
  }
  try {
    const table = yield* readTable(ctx);
    if (table[parent]?.meta.type !== 'dir') throw new DatastoreError(DS_ERROR.NOT_FOUND, `entry ${parent} is not a directory`, { parent });
    if (table.some((e) => e.meta.type !== 'unused' && e.index !== 0 && e.meta.parent === parent && e.meta.name === name)) {
      throw new DatastoreError(DS_ERROR.EXISTS, `"${name}" exists in directory ${parent}`, { parent, name });
    }
    const mine = { owner: ctx.hostUuid, slotLba: ctx.slot!.lba, slotGeneration: ctx.slot!.generation };
    let index = -1;
    for (const e of table) {
      if (e.meta.type !== 'unused' || e.lock.mode !== 'free') continue;
      const lba = entryLba(l, e.index);
      const taken: FileEntry = { ...e, lock: { ...e.lock, mode: 'exclusive', generation: (e.lock.generation + 1) >>> 0, owner: mine.owner, ownerSlotLba: mine.slotLba, ownerSlotGeneration: mine.slotGeneration, mtimeMs: Math.floor(ctx.nowMs), holders: [mine] } };
      const u = yield* atomicUpdate(ctx, lba, emitEntry(e, bs), emitEntry(taken, bs), true);
      if (u.ok) {
        index = e.index;
        break;
      }
      if (u.why !== 'miscompare') throw new DatastoreError(DS_ERROR.IO_FAILED, `taking free entry ${e.index}: ${u.why}`);
    }
    if (index < 0) throw new DatastoreError(DS_ERROR.NO_SPACE, `no free entry in the file table (${l.fileEntries})`);
    const blocks = Math.ceil(sizeBytes / l.fileBlockBytes);
    const claimed: Extent[] = [];
    try {
      const extents = blocks === 0 ? [] : yield* claimBlocks(ctx, blocks, DS_MAX_EXTENTS, claimed);
      const meta: EntryMeta = { type, parent, name, sizeBytes, extents };
      yield* journalledUpdate(ctx, [{ op: 'entry-meta', entry: index, meta }]);
    } catch (e) {
      orphan(ctx, index, claimed);
      throw e;
    }
    yield* emit('file-created', `created ${name} as entry ${index} (${blocks} file block(s)), open exclusive`, { entry: index, name, parent });
    return index;
  } finally {
    if (taken) {
      try {
        yield* releaseLock(ctx, parent); // a directory this host had open stays open
      } catch (e) {
        orphan(ctx, parent, []); // released at the next settle, or other hosts could never create here again
        throw e;
      }
    }
  }
}

/** Failed creates remembered per slot; more are forgotten (their blocks stay leaked; inspect reports them). */
export const DS_MAX_ORPHANS = 64;

function orphan(ctx: HostCtx, entry: number, extents: Extent[]): void {
  const list = ctx.slot === undefined ? undefined : (ctx.slot.orphans ??= []);
  if (list !== undefined && list.length < DS_MAX_ORPHANS) list.push({ entry, extents });
}

/**
 * Gives back what creates that failed half-way (the array died, an I/O timed out) left behind: first this
 * host's journal is replayed if an update failed (journal.ts settleJournal: a create whose entry was
 * journalled completes), then for each failed create whose entry is still unused, the file blocks it may
 * have claimed that no entry uses are freed (journalled); the lock of every entry remembered is released
 * (the new file's: the caller was told the create failed; the parent directory's: its release failed).
 * Blocks another entry uses are left alone. Without this every such failure leaks blocks and an entry, and
 * a directory stays locked by a live host, so no other host can create in it again.
 */
export function* settleFailedCreates(ctx: HostCtx): Gen<void> {
  const slot = ctx.slot;
  if (slot === undefined) return;
  yield* settleJournal(ctx);
  const todo = slot.orphans ?? [];
  if (todo.length === 0) return;
  slot.orphans = [];
  try {
    const table = yield* readTable(ctx);
    const used = new Set<number>();
    for (const e of table) if (e.meta.type !== 'unused') for (const x of e.meta.extents) for (let b = x.start; b < x.start + x.count; b++) used.add(b);
    const free: JournalChange[] = [];
    for (const o of todo) {
      if (table[o.entry]?.meta.type !== 'unused') continue; // the create completed after all (replayed)
      for (const x of o.extents) {
        for (let b = x.start; b < x.start + x.count; b++) {
          if (used.has(b)) continue;
          const last = free.at(-1);
          if (last?.op === 'bitmap-clear' && last.start + last.bits === b) last.bits++;
          else free.push({ op: 'bitmap-clear', start: b, bits: 1 });
        }
      }
    }
    for (let i = 0; i < free.length; i += DS_JOURNAL_MAX_TXN_RECORDS) yield* journalledUpdate(ctx, free.slice(i, i + DS_JOURNAL_MAX_TXN_RECORDS));
    for (const o of todo) yield* releaseLock(ctx, o.entry); // the create failed: nobody has the file (or the directory) open
    yield* emit('orphans-freed', `gave back what ${todo.length} failed create(s) had claimed: ${free.reduce((n, c) => n + (c.op === 'bitmap-clear' ? c.bits : 0), 0)} file block(s)`, { creates: todo.length });
  } catch (e) {
    slot.orphans = [...todo, ...slot.orphans].slice(0, DS_MAX_ORPHANS); // the array is still away: next time
    throw e;
  }
}

/** Settles failed creates, retrying every offline-retry interval while the array is away (at most DS_SETTLE_MAX_TRIES times). */
export const DS_SETTLE_MAX_TRIES = 64;
export function* settleUntilDone(ctx: HostCtx): Gen<boolean> {
  for (let i = 0; i < DS_SETTLE_MAX_TRIES; i++) {
    if (ctx.slot === undefined) return false;
    try {
      yield* settleFailedCreates(ctx);
      return true;
    } catch {
      yield* sleepUntil(ctx.nowMs + ctx.timing.offlineRetryMs);
    }
  }
  return false;
}

function* readHeld(ctx: HostCtx, entry: number, exclusive: boolean): Gen<FileEntry> {
  const l = ctx.sb.layout;
  const raw = yield* ioOrThrow(ctx, { kind: 'read', lba: entryLba(l, entry), blocks: 1 }, `read file entry ${entry}`);
  const e = parseEntry(raw, l.fileEntries, entry, entryLba(l, entry) * l.blockSize);
  if (!e.ok) throw e.error;
  const held = e.value.lock.holders.some((h) => h.owner === ctx.hostUuid && h.slotGeneration === ctx.slot?.generation);
  if (!held || (exclusive && e.value.lock.mode !== 'exclusive') || e.value.lock.mode === 'read-only') {
    throw new DatastoreError(DS_ERROR.LOCKED, `entry ${entry} is not locked ${exclusive ? 'exclusive' : 'for writing'} by ${ctx.hostName}`, { entry });
  }
  if (e.value.meta.type === 'unused') throw new DatastoreError(DS_ERROR.NOT_FOUND, `entry ${entry} is not in use`, { entry });
  return e.value;
}

/** Grows file `entry` (locked exclusive or multi-writer by this host) to `sizeBytes`. */
export function* growFile(ctx: HostCtx, entry: number, sizeBytes: number): Gen<EntryMeta> {
  const l = ctx.sb.layout;
  const e = yield* readHeld(ctx, entry, false);
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes < e.meta.sizeBytes) throw new DatastoreError(DS_ERROR.BAD_OPTION, `grow ${e.meta.name} to ${sizeBytes}: files only grow (now ${e.meta.sizeBytes})`);
  const have = e.meta.extents.reduce((n, x) => n + x.count, 0);
  const need = Math.ceil(sizeBytes / l.fileBlockBytes) - have;
  const added = need > 0 ? yield* claimBlocks(ctx, need, DS_MAX_EXTENTS - e.meta.extents.length) : [];
  const extents = [...e.meta.extents];
  for (const x of added) {
    const last = extents.at(-1);
    if (last !== undefined && last.start + last.count === x.start) extents[extents.length - 1] = { start: last.start, count: last.count + x.count };
    else extents.push(x);
  }
  const meta: EntryMeta = { ...e.meta, sizeBytes, extents };
  yield* journalledUpdate(ctx, [{ op: 'entry-meta', entry, meta }]);
  return meta;
}

/** Deletes file `entry` (locked exclusive by this host): one transaction frees its blocks and the entry; then the lock. */
export function* deleteFile(ctx: HostCtx, entry: number): Gen<void> {
  const e = yield* readHeld(ctx, entry, true);
  if (e.meta.type === 'dir' && (yield* listDir(ctx, entry)).length > 0) throw new DatastoreError(DS_ERROR.EXISTS, `directory ${e.meta.name} is not empty`, { entry });
  yield* journalledUpdate(ctx, [{ op: 'entry-meta', entry, meta: UNUSED_META }, ...e.meta.extents.map((x) => ({ op: 'bitmap-clear' as const, start: x.start, bits: x.count }))]);
  yield* releaseLock(ctx, entry);
  yield* emit('file-deleted', `deleted ${e.meta.name} (entry ${entry})`, { entry, name: e.meta.name });
}
