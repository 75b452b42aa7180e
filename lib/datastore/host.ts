// Host side of a datastore, part 1: the host's context, atomic block updates (ATS, or a whole-LUN SCSI-2
// reservation on an ATS+SCSI volume or a LUN without ATS, §7.3/§7.7), and the heartbeat (§7.1-§7.4):
// claim a free slot with ATS at mount, pulse it every heartbeat interval with ATS, abort and reissue an I/O
// after the I/O timeout, go offline ("lost access to volume") after the lease without a successful pulse,
// retry every offline-retry interval while offline (reading the slot again first, §7.4), back online on the
// first success, and handle a miscompare on its own slot as §7.4 says. Intervals come from the superblock,
// divided by a time scale. Runs as generators under proc.ts (no I/O, no clock here). Leaves out NFS
// (nas-lease.ts) and locks (lock.ts).

import { DS_ERROR, DatastoreError } from './errors.js';
import {
  type Extent, type HeartbeatSlot, type Intervals, type Superblock, ZERO_UUID, emitSlot, freeSlot, journalLbaOf, parseJournalHeader, parseSlot, slotLba,
} from './format.js';
import { type Gen, type IoResult, type Now, emit, io, sleepUntil } from './proc.js';

/** Reservation backoff: first wait, cap, and most attempts (before time scaling), §7.7. */
export const DS_RESERVE_BACKOFF_MS = 10;
export const DS_RESERVE_BACKOFF_MAX_MS = 320;
export const DS_RESERVE_MAX_TRIES = 40;
/** Most waits (of DS_RESERVE_BACKOFF_MS each, 40 s) for another operation of the same host to release the LUN: longer than its four I/Os at the 8 s I/O timeout. */
export const DS_LOCAL_RESERVE_MAX_WAITS = 4000;
/** Most slot-claim rounds at mount (each reads the region and tries the free slots it saw). */
export const DS_CLAIM_MAX_ROUNDS = 8;

export interface Timing extends Intervals {
  reserveBackoffMs: number;
  reserveBackoffMaxMs: number;
}

/** The volume's intervals divided by `timeScale` (2 = twice as fast), ratios unchanged. */
export function timingFor(iv: Intervals, timeScale = 1): Timing {
  if (!(timeScale > 0)) throw new DatastoreError(DS_ERROR.BAD_OPTION, `time scale ${timeScale} must be > 0`);
  const s = (ms: number): number => ms / timeScale;
  return {
    heartbeatMs: s(iv.heartbeatMs), ioTimeoutMs: s(iv.ioTimeoutMs), leaseMs: s(iv.leaseMs), offlineRetryMs: s(iv.offlineRetryMs),
    reserveBackoffMs: s(DS_RESERVE_BACKOFF_MS), reserveBackoffMaxMs: s(DS_RESERVE_BACKOFF_MAX_MS),
  };
}

export interface MySlot {
  index: number;
  lba: number;
  generation: number;
  /** The slot's bytes as this host last wrote or verified them (the ATS compare image). */
  image: Buffer;
  slot: HeartbeatSlot;
  /** Next journal sequence number. */
  nextSeq: number;
  /**
   * A journalled update failed after its journal write began (the array died or timed out): its
   * transaction may be on disk and not applied, so this journal is replayed before the next update
   * (journal.ts). Without it the next checkpoint would skip the transaction for good.
   */
  journalUnsettled?: boolean;
  /** Entries and file blocks claimed by creates that then failed: given back at the next create (files.ts settleFailedCreates). */
  orphans?: Array<{ entry: number; extents: Extent[] }>;
}

export interface HostCtx extends Now {
  readonly hostUuid: string;
  readonly hostName: string;
  readonly sb: Superblock;
  readonly timing: Timing;
  /** False once the LUN answered COMPARE AND WRITE with "unsupported" (sticky). */
  atsSupported: boolean;
  /**
   * True while one of this host's operations holds the LUN's SCSI-2 reservation. The array knows one
   * initiator per host, so it would let a second operation of the same host in (and the first one's
   * RELEASE would end the second's reservation): the host serializes its own reservation users here.
   */
  reserving: boolean;
  /**
   * Directories in which one of this host's operations is creating an entry. The directory lock cannot
   * keep two operations of one host apart (a lock the host holds is "held already" to itself), so the
   * host serializes its own creates per directory here, as it does its reservations.
   */
  creatingIn: Set<number>;
  slot: MySlot | undefined;
  online: boolean;
}

export function createHostCtx(o: { hostUuid: string; hostName: string; sb: Superblock; timeScale?: number }): HostCtx {
  return { hostUuid: o.hostUuid, hostName: o.hostName, sb: o.sb, timing: timingFor(o.sb, o.timeScale ?? 1), atsSupported: true, reserving: false, creatingIn: new Set(), slot: undefined, online: false, nowMs: 0 };
}

/** The data of a good I/O, or a thrown DatastoreError naming `what`. */
export function requireGood(r: IoResult, what: string): Buffer {
  if (r.status === 'good') return r.data ?? Buffer.alloc(0);
  throw new DatastoreError(DS_ERROR.IO_FAILED, `${what}: ${r.status === 'error' ? r.message : r.status}`, { status: r.status });
}

export type UpdateOutcome = { ok: true } | { ok: false; why: 'miscompare' | 'timeout' | 'contended' | 'error'; message?: string };

/**
 * Changes block `lba` from `old` to `next` if it still holds `old`. With ATS: one COMPARE AND WRITE. With
 * the reservation path (metadata on an ATS+SCSI volume, or any update once the LUN said it has no ATS):
 * RESERVE the LUN, READ, compare, WRITE, RELEASE. RESERVATION CONFLICT is retried with a doubling backoff,
 * at most DS_RESERVE_MAX_TRIES times (§7.7). Each I/O gets `deadlineMs` or the I/O timeout.
 */
export function* atomicUpdate(ctx: HostCtx, lba: number, old: Buffer, next: Buffer, metadata: boolean, deadlineMs?: number): Gen<UpdateOutcome> {
  const t = ctx.timing;
  let conflicts = 0;
  let localWaits = 0;
  for (;;) {
    const deadline = (): number => deadlineMs ?? ctx.nowMs + t.ioTimeoutMs;
    const useScsi = !ctx.atsSupported || (metadata && ctx.sb.locking === 'ats-scsi');
    let r: IoResult;
    if (!useScsi) {
      r = yield* io({ kind: 'ats', lba, old, data: next }, deadline());
      if (r.status === 'good') return { ok: true };
      if (r.status === 'miscompare') return { ok: false, why: 'miscompare' };
      if (r.status === 'unsupported') {
        ctx.atsSupported = false;
        yield* emit('ats-unsupported', 'the LUN rejects COMPARE AND WRITE: metadata updates take a SCSI-2 reservation of the LUN from now on');
        continue;
      }
    } else if (ctx.reserving) {
      // another operation of this host is inside its reservation: wait for it on the host (not a conflict)
      if (++localWaits > DS_LOCAL_RESERVE_MAX_WAITS) return { ok: false, why: 'contended', message: `this host's own reservation stayed held for ${localWaits - 1} waits` };
      yield* sleepUntil(ctx.nowMs + t.reserveBackoffMs);
      continue;
    } else {
      ctx.reserving = true;
      try {
        r = yield* io({ kind: 'reserve' }, deadline());
        if (r.status === 'good') {
          const out = yield* underReservation(ctx, lba, old, next, deadline());
          const rel = yield* io({ kind: 'release' }, deadline());
          if (rel.status !== 'good' && out.ok) return { ok: false, why: 'error', message: `RELEASE: ${rel.status}` };
          return out;
        }
      } finally {
        ctx.reserving = false;
      }
    }
    if (r.status === 'timeout') return { ok: false, why: 'timeout' };
    if (r.status !== 'conflict') return { ok: false, why: 'error', message: r.status === 'error' ? r.message : r.status };
    if (!(yield* backoff(ctx, ++conflicts, lba))) return { ok: false, why: 'contended', message: `${conflicts} reservation conflicts` };
  }
}

/** After RESERVATION CONFLICT number `conflicts`: wait a doubling backoff; false once the bound is reached. */
function* backoff(ctx: HostCtx, conflicts: number, lba: number): Gen<boolean> {
  const t = ctx.timing;
  if (conflicts === 1) yield* emit('reservation-conflict', `LBA ${lba}: the LUN is reserved by another host; retrying with backoff`, { lba });
  if (conflicts >= DS_RESERVE_MAX_TRIES) return false;
  yield* sleepUntil(ctx.nowMs + Math.min(t.reserveBackoffMs * 2 ** (conflicts - 1), t.reserveBackoffMaxMs));
  return true;
}

/**
 * A READ or WRITE that must succeed: retried after RESERVATION CONFLICT with the same bounded backoff
 * (another host holds the LUN for a metadata update, §7.7); any other failure throws.
 */
export function* ioOrThrow(ctx: HostCtx, req: { kind: 'read'; lba: number; blocks: number } | { kind: 'write'; lba: number; data: Buffer }, what: string): Gen<Buffer> {
  for (let conflicts = 1; ; conflicts++) {
    const r = yield* io(req, ctx.nowMs + ctx.timing.ioTimeoutMs);
    if (r.status !== 'conflict') return requireGood(r, what);
    if (!(yield* backoff(ctx, conflicts, req.lba))) throw new DatastoreError(DS_ERROR.CONTENDED, `${what}: ${conflicts} reservation conflicts`, { lba: req.lba });
  }
}

function* underReservation(ctx: HostCtx, lba: number, old: Buffer, next: Buffer, deadline: number): Gen<UpdateOutcome> {
  const cur = yield* io({ kind: 'read', lba, blocks: next.length / ctx.sb.layout.blockSize }, deadline);
  if (cur.status !== 'good') return { ok: false, why: cur.status === 'timeout' ? 'timeout' : 'error', message: cur.status };
  if (!cur.data!.equals(old)) return { ok: false, why: 'miscompare' };
  const w = yield* io({ kind: 'write', lba, data: next }, deadline);
  if (w.status !== 'good') return { ok: false, why: w.status === 'timeout' ? 'timeout' : 'error', message: w.status };
  return { ok: true };
}

// ---------------------------------------------------------------- slot claim (mount)

function inUse(ctx: HostCtx, free: HeartbeatSlot): HeartbeatSlot {
  return { ...free, state: 'in-use', generation: free.generation + 1, pulse: 1, owner: ctx.hostUuid, replayHost: ZERO_UUID, hostName: ctx.hostName, pulseMs: Math.floor(ctx.nowMs) };
}

/** Claims a free heartbeat slot with ATS (preferring `prefer`), then reads its journal header. */
export function* claimSlot(ctx: HostCtx, prefer?: number): Gen<MySlot> {
  const l = ctx.sb.layout;
  const bs = l.blockSize;
  for (let round = 0; round < DS_CLAIM_MAX_ROUNDS; round++) {
    const r = yield* io({ kind: 'read', lba: l.hbLba, blocks: l.slotCount }, ctx.nowMs + ctx.timing.ioTimeoutMs);
    if (r.status !== 'good') {
      yield* sleepUntil(ctx.nowMs + ctx.timing.offlineRetryMs);
      continue;
    }
    const free: Array<{ slot: HeartbeatSlot; image: Buffer }> = [];
    for (let i = 0; i < l.slotCount; i++) {
      const image = r.data!.subarray(i * bs, (i + 1) * bs);
      const s = parseSlot(image, i, slotLba(l, i) * bs);
      if (s.ok && s.value.state === 'free') free.push({ slot: s.value, image: Buffer.from(image) });
    }
    if (free.length === 0) throw new DatastoreError(DS_ERROR.NO_FREE_SLOT, `no free heartbeat slot among ${l.slotCount}`, { slots: l.slotCount });
    free.sort((a, b) => (a.slot.index === prefer ? -1 : b.slot.index === prefer ? 1 : a.slot.index - b.slot.index));
    for (const f of free) {
      const slot = inUse(ctx, f.slot);
      const image = emitSlot(slot, bs);
      const lba = slotLba(l, f.slot.index);
      const u = yield* atomicUpdate(ctx, lba, f.image, image, true);
      if (!u.ok) continue; // someone else took it first (or it failed): try the next free one
      const jh = yield* ioOrThrow(ctx, { kind: 'read', lba: journalLbaOf(l, slot.index), blocks: 1 }, 'read journal header');
      const h = parseJournalHeader(jh, slot.index, journalLbaOf(l, slot.index) * bs);
      if (!h.ok) throw h.error;
      return { index: slot.index, lba, generation: slot.generation, image, slot, nextSeq: h.value.checkpoint + 1 };
    }
  }
  throw new DatastoreError(DS_ERROR.CONTENDED, `could not claim a heartbeat slot in ${DS_CLAIM_MAX_ROUNDS} rounds`);
}

// ---------------------------------------------------------------- heartbeat

type Pulse = { ok: true } | { ok: false; why: 'miscompare' | 'timeout' | 'contended' | 'error' };

function* pulse(ctx: HostCtx, deadlineMs: number): Gen<Pulse> {
  const my = ctx.slot!;
  const slot: HeartbeatSlot = { ...my.slot, pulse: my.slot.pulse + 1, pulseMs: Math.floor(ctx.nowMs) };
  const image = emitSlot(slot, ctx.sb.layout.blockSize);
  const r = yield* atomicUpdate(ctx, my.lba, my.image, image, false, deadlineMs);
  if (r.ok) {
    my.slot = slot;
    my.image = image;
  }
  return r;
}

export type SlotCheck = 'unchanged' | 'reacquired' | 'failed';

/**
 * §7.4: read the own slot again and decide. Unchanged (still ours, same generation) → carry on from what
 * is on disk. Being replayed by another host → wait until the replay is done. Cleared by another host
 * (generation went up) or taken → claim a slot again ("slot-lost" then "slot-changed": locks held under the
 * old generation are gone).
 */
export function* checkOwnSlot(ctx: HostCtx, deadlineMs: number): Gen<SlotCheck> {
  const my = ctx.slot!;
  const l = ctx.sb.layout;
  for (;;) {
    const r = yield* io({ kind: 'read', lba: my.lba, blocks: 1 }, deadlineMs);
    if (r.status !== 'good') return 'failed';
    const s = parseSlot(r.data!, my.index, my.lba * l.blockSize);
    if (s.ok && s.value.state === 'in-use' && s.value.owner === ctx.hostUuid && s.value.generation === my.generation) {
      my.slot = s.value;
      my.image = Buffer.from(r.data!);
      return 'unchanged';
    }
    if (s.ok && s.value.state === 'replaying') {
      yield* emit('replay-wait', `slot ${my.index} is being replayed by ${s.value.replayHost}: waiting for the replay to finish`, { slot: my.index, replayHost: s.value.replayHost });
      yield* sleepUntil(ctx.nowMs + ctx.timing.offlineRetryMs);
      deadlineMs = ctx.nowMs + ctx.timing.ioTimeoutMs;
      continue;
    }
    const why = !s.ok ? s.error.message : s.value.state === 'free' ? `cleared by another host (generation ${my.generation} -> ${s.value.generation})` : `taken by ${s.value.owner}`;
    yield* emit('slot-lost', `heartbeat slot ${my.index} was ${why}; acquiring a slot again`, { slot: my.index, generation: my.generation });
    const old = my;
    ctx.slot = yield* claimSlot(ctx, my.index);
    yield* emit('slot-changed', `heartbeat slot ${ctx.slot.index} generation ${ctx.slot.generation} (was slot ${old.index} generation ${old.generation})`, {
      slot: ctx.slot.index, generation: ctx.slot.generation, oldSlot: old.index, oldGeneration: old.generation,
    });
    return 'reacquired';
  }
}

/**
 * Mount and heartbeat until stopped: claim a slot, then pulse it every heartbeat interval (§7.2). Each
 * pulse I/O is aborted and reissued after the I/O timeout; after the lease without success the volume goes
 * offline; while offline the slot is read again and pulsed every offline-retry interval; the first success
 * brings it back online.
 */
export function* heartbeat(ctx: HostCtx): Gen<void> {
  const t = ctx.timing;
  ctx.slot = yield* claimSlot(ctx);
  ctx.online = true;
  yield* emit('mounted', `mounted ${ctx.sb.label} with heartbeat slot ${ctx.slot.index} (generation ${ctx.slot.generation})`, { slot: ctx.slot.index, generation: ctx.slot.generation });
  let lastOk = ctx.nowMs;
  let next = lastOk + t.heartbeatMs;
  let offlineSince = 0;
  for (;;) {
    if (ctx.online) {
      yield* sleepUntil(next);
      const scheduled = next;
      for (;;) {
        const offlineAt = lastOk + t.leaseMs;
        if (ctx.nowMs >= offlineAt) break;
        const r = yield* pulse(ctx, Math.min(ctx.nowMs + t.ioTimeoutMs, offlineAt));
        if (r.ok) {
          lastOk = ctx.nowMs;
          break;
        }
        if (r.why === 'miscompare') {
          const c = yield* checkOwnSlot(ctx, Math.min(ctx.nowMs + t.ioTimeoutMs, offlineAt));
          if (c === 'reacquired') lastOk = ctx.nowMs;
          if (c !== 'failed') continue; // pulse again at once from what is on disk
        } else if (r.why === 'timeout' && ctx.nowMs < offlineAt) {
          yield* emit('heartbeat-timeout', `heartbeat I/O on slot ${ctx.slot!.index} timed out: reissuing`, { slot: ctx.slot!.index });
          continue;
        }
        if (ctx.nowMs < offlineAt) yield* sleepUntil(Math.min(ctx.nowMs + t.offlineRetryMs, offlineAt));
      }
      if (ctx.nowMs >= lastOk + t.leaseMs) {
        ctx.online = false;
        offlineSince = ctx.nowMs;
        yield* emit('offline', `lost access to volume ${ctx.sb.label}: no successful heartbeat for ${t.leaseMs} ms`, { sinceMs: lastOk });
        continue;
      }
      next = Math.max(scheduled + t.heartbeatMs, ctx.nowMs); // a fixed cadence, not drifting with I/O latency
    } else {
      const start = ctx.nowMs;
      const deadline = start + t.offlineRetryMs;
      const c = yield* checkOwnSlot(ctx, deadline);
      if (c !== 'failed') {
        const r = yield* pulse(ctx, c === 'reacquired' ? ctx.nowMs + t.offlineRetryMs : deadline);
        if (r.ok) {
          ctx.online = true;
          lastOk = ctx.nowMs;
          next = lastOk + t.heartbeatMs;
          yield* emit('online', `access to volume ${ctx.sb.label} restored`, { offlineForMs: ctx.nowMs - offlineSince });
          continue;
        }
      }
      yield* sleepUntil(Math.max(deadline, ctx.nowMs));
    }
  }
}

/** Clean unmount (§7.4): free the own slot with generation + 1. */
export function* unmount(ctx: HostCtx): Gen<void> {
  const my = ctx.slot;
  if (my === undefined) return;
  const l = ctx.sb.layout;
  const image = emitSlot(freeSlot(my.index, my.generation + 1, journalLbaOf(l, my.index)), l.blockSize);
  let r = yield* atomicUpdate(ctx, my.lba, my.image, image, true);
  if (!r.ok && r.why === 'miscompare') {
    // A pulse sent just before the heartbeat stopped may have landed after all: if the slot is still ours
    // (in use, our UUID, our generation), free it from what is on disk.
    const cur = yield* ioOrThrow(ctx, { kind: 'read', lba: my.lba, blocks: 1 }, `read heartbeat slot ${my.index}`);
    const s = parseSlot(cur, my.index, my.lba * l.blockSize);
    if (s.ok && s.value.state === 'in-use' && s.value.owner === ctx.hostUuid && s.value.generation === my.generation) r = yield* atomicUpdate(ctx, my.lba, cur, image, true);
  }
  if (!r.ok) throw new DatastoreError(DS_ERROR.IO_FAILED, `unmount: freeing slot ${my.index} failed (${r.why})`);
  ctx.slot = undefined;
  ctx.online = false;
  yield* emit('unmounted', `unmounted ${ctx.sb.label}, slot ${my.index} freed`, { slot: my.index });
}
