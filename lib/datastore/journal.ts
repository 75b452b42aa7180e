// Metadata journal of a host (docs/vsphere-behaviour.md §7.9; format in docs/datastore-format.md): every
// metadata change is written to the host's journal first as a transaction of redo records, then applied,
// then the journal header's checkpoint is moved past it. Replay (by the host itself or by a host breaking
// its locks, §7.6) redoes every complete transaction after the checkpoint and skips torn ones (a record
// missing, unreadable or with a bad checksum). Changes are redo-safe: an entry's metadata is only changed
// by the holder of its lock, so a dead host's entries are untouched until its journal is replayed; bitmap
// changes are set/clear of bits, idempotent. Covers transaction encoding, replay planning, applying one
// change to a block, and the journalled-update procedure. Leaves out journal wrap with unapplied data
// (one transaction is in flight per host at a time, so the ring never holds more than one).

import { DS_ERROR, DatastoreError } from './errors.js';
import {
  DS_BITMAP_BITS_PER_BLOCK, DS_JOURNAL_MAX_TXN_RECORDS, type BitmapBlock, type FileEntry, type JournalChange, type Layout,
  bitmapBlockLba, emitBitmap, emitEntry, emitJournalHeader, emitJournalRecord, entryLba, journalLbaOf, parseBitmap, parseEntry,
  parseJournalHeader, parseJournalRecord,
} from './format.js';
import { type Gen, type IoResult, emit } from './proc.js';
import { type HostCtx, atomicUpdate, ioOrThrow } from './host.js';

/** LBA of the ring block that holds record `seq` of journal `slot` (seq 1 is the first record block). */
export function journalRecordLba(l: Layout, slot: number, seq: number): number {
  return journalLbaOf(l, slot) + 1 + ((seq - 1) % (l.journalBlocks - 1));
}

/** The blocks of one transaction whose first record has sequence `firstSeq`. */
export function encodeTxn(l: Layout, slot: number, firstSeq: number, changes: JournalChange[]): Array<{ lba: number; data: Buffer }> {
  if (changes.length < 1 || changes.length > DS_JOURNAL_MAX_TXN_RECORDS) {
    throw new DatastoreError(DS_ERROR.JOURNAL_TXN_TOO_BIG, `a transaction has ${changes.length} changes, 1..${DS_JOURNAL_MAX_TXN_RECORDS} allowed`);
  }
  return changes.map((change, index) => ({
    lba: journalRecordLba(l, slot, firstSeq + index),
    data: emitJournalRecord({ slot, seq: firstSeq + index, txn: firstSeq, index, count: changes.length, change }, l.blockSize),
  }));
}

export interface ReplayPlan {
  checkpoint: number;
  /** Complete transactions after the checkpoint, oldest first. */
  txns: Array<{ txn: number; changes: JournalChange[] }>;
  /** Record blocks that are not zero but do not parse (torn or corrupt), with the first error of each. */
  unreadable: Array<{ lba: number; error: DatastoreError }>;
  /** Transactions after the checkpoint with records missing (torn writes): ignored. */
  tornTxns: number[];
  /** Highest sequence number seen (the new checkpoint after replay). */
  lastSeq: number;
}

/** Plans the replay of journal `slot` from its blocks as read (journalBlocks blocks, header first). */
export function planReplay(l: Layout, slot: number, journal: Buffer): ReplayPlan {
  const bs = l.blockSize;
  const base = journalLbaOf(l, slot);
  const header = parseJournalHeader(journal.subarray(0, bs), slot, base * bs);
  if (!header.ok) throw header.error;
  const checkpoint = header.value.checkpoint;
  const byTxn = new Map<number, Map<number, { count: number; change: JournalChange }>>();
  const unreadable: ReplayPlan['unreadable'] = [];
  let lastSeq = checkpoint;
  for (let i = 1; i < l.journalBlocks; i++) {
    const block = journal.subarray(i * bs, (i + 1) * bs);
    if (!block.some((x) => x !== 0)) continue; // never written
    const r = parseJournalRecord(block, l.fileEntries, l.fileBlocks, (base + i) * bs);
    if (!r.ok) {
      unreadable.push({ lba: base + i, error: r.error });
      continue;
    }
    const rec = r.value;
    if (rec.slot !== slot || journalRecordLba(l, slot, rec.seq) !== base + i) {
      unreadable.push({ lba: base + i, error: new DatastoreError(DS_ERROR.BAD_FIELD, `journal record at LBA ${base + i} belongs elsewhere (slot ${rec.slot}, seq ${rec.seq})`) });
      continue;
    }
    lastSeq = Math.max(lastSeq, rec.seq);
    if (rec.txn <= checkpoint) continue;
    let m = byTxn.get(rec.txn);
    if (m === undefined) byTxn.set(rec.txn, (m = new Map()));
    m.set(rec.index, { count: rec.count, change: rec.change });
  }
  const txns: ReplayPlan['txns'] = [];
  const tornTxns: number[] = [];
  for (const txn of [...byTxn.keys()].sort((a, b) => a - b)) {
    const m = byTxn.get(txn)!;
    const count = m.values().next().value!.count;
    const complete = m.size === count && [...m.values()].every((r) => r.count === count);
    if (!complete) {
      tornTxns.push(txn);
      continue;
    }
    txns.push({ txn, changes: Array.from({ length: count }, (_, i) => m.get(i)!.change) });
  }
  return { checkpoint, txns, unreadable, tornTxns, lastSeq };
}

/** Bitmap blocks touched by a bit range, each with the range inside it. */
export function bitmapSpans(start: number, bits: number): Array<{ index: number; from: number; to: number }> {
  const out: Array<{ index: number; from: number; to: number }> = [];
  for (let b = start; b < start + bits; ) {
    const index = Math.floor(b / DS_BITMAP_BITS_PER_BLOCK);
    const end = Math.min(start + bits, (index + 1) * DS_BITMAP_BITS_PER_BLOCK);
    out.push({ index, from: b - index * DS_BITMAP_BITS_PER_BLOCK, to: end - index * DS_BITMAP_BITS_PER_BLOCK });
    b = end;
  }
  return out;
}

export function setBits(m: BitmapBlock, from: number, to: number, value: boolean): BitmapBlock {
  const bits = Buffer.from(m.bits);
  for (let i = from; i < to; i++) {
    if (value) bits[i >> 3]! |= 1 << (i & 7);
    else bits[i >> 3]! &= ~(1 << (i & 7));
  }
  return { index: m.index, bits };
}

/** The first run of `count` free file blocks in `blocks` (the bitmap in order), or undefined. */
export function findFreeRun(blocks: BitmapBlock[], fileBlocks: number, count: number): number | undefined {
  let run = 0;
  for (let bit = 0; bit < fileBlocks; bit++) {
    const m = blocks[Math.floor(bit / DS_BITMAP_BITS_PER_BLOCK)]!;
    const i = bit % DS_BITMAP_BITS_PER_BLOCK;
    run = m.bits[i >> 3]! & (1 << (i & 7)) ? 0 : run + 1;
    if (run === count) return bit - count + 1;
  }
  return undefined;
}

/** Most ATS rounds one change may take when other hosts change the same bitmap block meanwhile. */
export const DS_APPLY_MAX_TRIES = 16;

/** Applies one change: read the block, change it, write it back with an atomic update (retried on miscompare). */
export function* applyChange(ctx: HostCtx, change: JournalChange): Gen<void> {
  const l = ctx.sb.layout;
  const bs = l.blockSize;
  const targets = change.op === 'entry-meta' ? [{ lba: entryLba(l, change.entry), span: undefined }] : bitmapSpans(change.start, change.bits).map((span) => ({ lba: bitmapBlockLba(l, span.index), span }));
  for (const t of targets) {
    for (let tries = 0; ; tries++) {
      if (tries >= DS_APPLY_MAX_TRIES) throw new DatastoreError(DS_ERROR.CONTENDED, `journal change at LBA ${t.lba} lost ${tries} ATS races`);
      const old = yield* ioOrThrow(ctx, { kind: 'read', lba: t.lba, blocks: 1 }, `read LBA ${t.lba}`);
      let next: Buffer;
      if (change.op === 'entry-meta') {
        const e = parseEntry(old, l.fileEntries, change.entry, t.lba * bs);
        if (!e.ok) throw e.error;
        next = emitEntry({ ...e.value, meta: change.meta }, bs);
      } else {
        const m = parseBitmap(old, t.span!.index, l.fileBlocks, t.lba * bs);
        if (!m.ok) throw m.error;
        next = emitBitmap(setBits(m.value, t.span!.from, t.span!.to, change.op === 'bitmap-set'), bs);
      }
      if (next.equals(old)) break;
      const r = yield* atomicUpdate(ctx, t.lba, old, next, true);
      if (r.ok) break;
      if (r.why !== 'miscompare') throw new DatastoreError(DS_ERROR.IO_FAILED, `journal change at LBA ${t.lba}: ${r.why}`);
    }
  }
}

/**
 * A journalled metadata change by this host (which must hold the lock of every entry it changes):
 * write the transaction to the journal, apply each change, move the checkpoint. `crashAfter` lets tests
 * stop at a step ("journal" = after the journal write, "apply" = after applying, before the checkpoint).
 */
export function* journalledUpdate(ctx: HostCtx, changes: JournalChange[], crashAfter?: 'journal' | 'apply'): Gen<number> {
  const slot = ctx.slot;
  if (slot === undefined) throw new DatastoreError(DS_ERROR.NOT_MOUNTED, 'journalled update without a heartbeat slot');
  const l = ctx.sb.layout;
  yield* settleJournal(ctx);
  const first = slot.nextSeq;
  const blocks = encodeTxn(l, slot.index, first, changes);
  // Sequence numbers are taken before the first yield: two updates of this host in flight at once
  // (two power-ons) must not write their records over each other's.
  slot.nextSeq = first + changes.length;
  try {
    for (const b of blocks) yield* ioOrThrow(ctx, { kind: 'write', lba: b.lba, data: b.data }, `journal write LBA ${b.lba}`);
    if (crashAfter === 'journal') return first;
    for (const c of changes) yield* applyChange(ctx, c);
    if (crashAfter === 'apply') return first;
    const header = emitJournalHeader({ slot: slot.index, checkpoint: first + changes.length - 1 }, l.blockSize);
    yield* ioOrThrow(ctx, { kind: 'write', lba: journalLbaOf(l, slot.index), data: header }, 'journal checkpoint');
  } catch (e) {
    slot.journalUnsettled = true; // the transaction may be on disk, unapplied: replay before the next one
    throw e;
  }
  return first;
}

/**
 * Replays this host's own journal when an earlier update failed half-way (slot.journalUnsettled): its
 * complete transactions are redone before anything else changes, so the next checkpoint cannot skip them.
 */
export function* settleJournal(ctx: HostCtx): Gen<void> {
  const slot = ctx.slot;
  if (slot === undefined || slot.journalUnsettled !== true) return;
  yield* replayJournal(ctx, slot.index);
  slot.journalUnsettled = false;
}

/** Replays journal `slot`: redo complete transactions after the checkpoint, then move the checkpoint. */
export function* replayJournal(ctx: HostCtx, slot: number): Gen<ReplayPlan> {
  const l = ctx.sb.layout;
  const lba = journalLbaOf(l, slot);
  const data = yield* ioOrThrow(ctx, { kind: 'read', lba, blocks: l.journalBlocks }, `read journal of slot ${slot}`);
  const plan = planReplay(l, slot, data);
  for (const t of plan.txns) for (const c of t.changes) yield* applyChange(ctx, c);
  if (plan.lastSeq !== plan.checkpoint) {
    yield* ioOrThrow(ctx, { kind: 'write', lba, data: emitJournalHeader({ slot, checkpoint: plan.lastSeq }, l.blockSize) }, 'journal checkpoint');
  }
  yield* emit('journal-replayed', `replayed journal of slot ${slot}: ${plan.txns.length} transaction(s) redone, ${plan.tornTxns.length} torn skipped`, {
    slot, redone: plan.txns.map((t) => t.txn), torn: plan.tornTxns, unreadable: plan.unreadable.map((u) => ({ lba: u.lba, error: u.error.message })),
  });
  return plan;
}

export type { IoResult, FileEntry };
