// Host side of a datastore, part 2: on-disk file locks (docs/vsphere-behaviour.md §7.5-§7.8). Acquire a
// lock in a mode (exclusive, read-only, multi-writer) with an atomic update of the entry's lock record;
// when an incompatible holder's heartbeat slot still holds its generation, watch that slot for a full
// lease: if it moves, fail ("locked by <host>"); if it does not, break: mark the slot being replayed (ATS),
// replay the holder's journal, free the slot with generation + 1, then take the lock (ATS). A holder whose
// slot no longer holds the generation recorded in the lock is dead already and is dropped at once. While
// watching, the lock record is read again too: if it changed (released, taken over), the decision is made
// again from what it is now. Release removes this host from the holders. Runs as generators under proc.ts. Leaves out lock upgrade
// (read-only to exclusive); the HA heartbeat files that use these locks are ha-files.ts.

import { DS_ERROR, DatastoreError } from './errors.js';
import {
  DS_MAX_LOCK_HOLDERS, FREE_LOCK, type FileEntry, type HeartbeatSlot, type LockHolder, type LockMode, type LockRecord, ZERO_UUID,
  emitEntry, emitSlot, entryLba, freeSlot, journalLbaOf, parseEntry, parseSlot, slotIndexAt,
} from './format.js';
import { type HostCtx, atomicUpdate, ioOrThrow } from './host.js';
import { replayJournal } from './journal.js';
import { type Gen, emit, io, sleepUntil } from './proc.js';

export type HeldMode = Exclude<LockMode, 'free'>;

/** Most rounds of one acquire (a round: read the lock, then take it, wait out its owner, or break it). */
export const DS_LOCK_MAX_ROUNDS = 16;

export function compatible(held: LockMode, want: HeldMode): boolean {
  return held === 'free' || (held === want && want !== 'exclusive');
}

function me(ctx: HostCtx): LockHolder {
  const s = ctx.slot;
  if (s === undefined || !ctx.online) throw new DatastoreError(DS_ERROR.NOT_MOUNTED, `${ctx.hostName} has no live heartbeat on ${ctx.sb.label}`);
  return { owner: ctx.hostUuid, slotLba: s.lba, slotGeneration: s.generation };
}

function withHolders(lock: LockRecord, mode: LockMode, holders: LockHolder[], nowMs: number): LockRecord {
  const first = holders[0];
  return {
    mode: holders.length === 0 ? 'free' : mode,
    generation: (lock.generation + 1) >>> 0,
    owner: first?.owner ?? ZERO_UUID,
    ownerSlotLba: first?.slotLba ?? 0,
    ownerSlotGeneration: first?.slotGeneration ?? 0,
    mtimeMs: Math.floor(nowMs),
    holders,
  };
}

const sameHolder = (a: LockHolder, b: LockHolder): boolean => a.owner === b.owner && a.slotLba === b.slotLba && a.slotGeneration === b.slotGeneration;

function* readEntry(ctx: HostCtx, entry: number): Gen<{ raw: Buffer; entry: FileEntry }> {
  const l = ctx.sb.layout;
  const lba = entryLba(l, entry);
  const raw = yield* ioOrThrow(ctx, { kind: 'read', lba, blocks: 1 }, `read file entry ${entry}`);
  const e = parseEntry(raw, l.fileEntries, entry, lba * l.blockSize);
  if (!e.ok) throw e.error;
  return { raw, entry: e.value };
}

interface Watched {
  holder: LockHolder;
  lba: number;
  image: Buffer;
  slot: HeartbeatSlot;
}

/** Reads the slot of each holder: which are dead already (generation moved on or free), which to watch. */
function* classify(ctx: HostCtx, holders: LockHolder[]): Gen<{ dead: LockHolder[]; live: Watched[]; replaying: Watched[] }> {
  const l = ctx.sb.layout;
  const dead: LockHolder[] = [];
  const live: Watched[] = [];
  const replaying: Watched[] = [];
  for (const h of holders) {
    const index = slotIndexAt(l, h.slotLba);
    if (index < 0) {
      dead.push(h); // points outside the heartbeat region: cannot be alive
      continue;
    }
    const image = yield* ioOrThrow(ctx, { kind: 'read', lba: h.slotLba, blocks: 1 }, `read heartbeat slot ${index}`);
    const s = parseSlot(image, index, h.slotLba * l.blockSize);
    if (!s.ok) throw s.error;
    const w = { holder: h, lba: h.slotLba, image: Buffer.from(image), slot: s.value };
    if (s.value.generation !== h.slotGeneration || s.value.owner !== h.owner) dead.push(h);
    else if (s.value.state === 'replaying') replaying.push(w);
    else if (s.value.state === 'in-use') live.push(w);
    else dead.push(h);
  }
  return { dead, live, replaying };
}

/**
 * §7.6 break of a dead host's slot: mark it being replayed by us (ATS on what we watched), replay its
 * journal, free it with generation + 1. False when the slot moved meanwhile (the host is alive after all).
 */
export function* breakSlot(ctx: HostCtx, w: Watched): Gen<boolean> {
  const l = ctx.sb.layout;
  const bs = l.blockSize;
  const replaying: HeartbeatSlot = { ...w.slot, state: 'replaying', replayHost: ctx.hostUuid };
  const replayImage = emitSlot(replaying, bs);
  const a = yield* atomicUpdate(ctx, w.lba, w.image, replayImage, true);
  if (!a.ok) {
    if (a.why === 'miscompare') return false;
    throw new DatastoreError(DS_ERROR.IO_FAILED, `marking slot ${w.slot.index} as being replayed: ${a.why}`);
  }
  yield* replayJournal(ctx, w.slot.index);
  const freed = emitSlot(freeSlot(w.slot.index, w.slot.generation + 1, journalLbaOf(l, w.slot.index)), bs);
  const f = yield* atomicUpdate(ctx, w.lba, replayImage, freed, true);
  if (!f.ok) throw new DatastoreError(DS_ERROR.IO_FAILED, `freeing replayed slot ${w.slot.index}: ${f.why}`);
  return true;
}

/**
 * Acquires the lock of file entry `entry` in `mode`. Returns the entry as written. Throws a
 * DatastoreError VFAB_DATASTORE_LOCKED naming the owner when a holder's heartbeat moves within the lease.
 */
export function* acquireLock(ctx: HostCtx, entry: number, mode: HeldMode): Gen<FileEntry> {
  return (yield* takeLock(ctx, entry, mode)).entry;
}

export interface TakeLockOptions {
  /**
   * For short metadata locks (a directory while a file is created in it): a live holder is waited for,
   * the lock record read again every `pollMs`, for at most `waitMs` (fabric ms), instead of refusing
   * "locked by" as soon as its heartbeat is seen to move. A dead holder is still broken after a lease.
   */
  waitLive?: { pollMs: number; waitMs: number };
}

/** acquireLock, also saying whether this call took the lock (false: this host held it already). */
export function* takeLock(ctx: HostCtx, entry: number, mode: HeldMode, opts: TakeLockOptions = {}): Gen<{ entry: FileEntry; taken: boolean }> {
  const l = ctx.sb.layout;
  const t = ctx.timing;
  const lba = entryLba(l, entry);
  const waitLiveUntil = opts.waitLive ? ctx.nowMs + opts.waitLive.waitMs : -Infinity;
  rounds: for (let round = 0; round < DS_LOCK_MAX_ROUNDS; round++) {
    const mine = me(ctx);
    const { raw, entry: cur } = yield* readEntry(ctx, entry);
    const lock = cur.lock;
    let holders: LockHolder[];
    if (lock.mode === mode && lock.holders.some((h) => sameHolder(h, mine))) return { entry: cur, taken: false }; // held already
    if (compatible(lock.mode, mode)) {
      if (lock.holders.length >= DS_MAX_LOCK_HOLDERS) {
        throw new DatastoreError(DS_ERROR.HOLDERS_FULL, `lock of entry ${entry} already has ${DS_MAX_LOCK_HOLDERS} holders`, { entry });
      }
      holders = [...lock.holders, mine];
    } else {
      const others = lock.holders.filter((h) => h.owner !== ctx.hostUuid || h.slotGeneration !== mine.slotGeneration);
      if (others.length < lock.holders.length) {
        throw new DatastoreError(DS_ERROR.LOCKED, `entry ${entry} is already locked ${lock.mode} by this host`, { entry, mode: lock.mode });
      }
      const c = yield* classify(ctx, others);
      if (c.replaying.length > 0) {
        yield* emit('replay-wait', `lock of entry ${entry}: its owner's slot is being replayed; waiting`, { entry });
        yield* sleepUntil(ctx.nowMs + t.heartbeatMs);
        continue;
      }
      if (c.live.length > 0) {
        // Watch every live holder's slot for a full lease (§7.6); any change means alive.
        let end = ctx.nowMs + t.leaseMs;
        let moved: Watched | undefined;
        // With waitLive the lock record is read every pollMs (a short metadata lock is let go within
        // milliseconds), and a holder whose heartbeat moves is waited for, not refused, until waitMs.
        const pollMs = opts.waitLive ? Math.min(opts.waitLive.pollMs, t.heartbeatMs) : t.heartbeatMs;
        // A read that fails or times out observes nothing: the watch goes on, and it ends only with a
        // successful read of every slot at or after the end of the window.
        for (let seenAtEnd = false; moved === undefined && !seenAtEnd; ) {
          if (ctx.nowMs >= end + t.leaseMs) throw new DatastoreError(DS_ERROR.IO_FAILED, `cannot read the heartbeat slots of entry ${entry}'s holders`, { entry });
          yield* sleepUntil(ctx.nowMs >= end ? ctx.nowMs + t.offlineRetryMs : Math.min(ctx.nowMs + pollMs, end));
          const atEnd = ctx.nowMs >= end;
          // The lock itself changed (released, or taken over): decide again from what it is now.
          const again = yield* io({ kind: 'read', lba, blocks: 1 }, ctx.nowMs + t.ioTimeoutMs);
          if (again.status === 'good' && !again.data!.equals(raw)) {
            if (ctx.nowMs < waitLiveUntil) round--; // a short lock changing hands is not a contention round
            continue rounds;
          }
          let all = true;
          let alive = false;
          for (const w of c.live) {
            const r = yield* io({ kind: 'read', lba: w.lba, blocks: 1 }, ctx.nowMs + t.ioTimeoutMs);
            if (r.status !== 'good') all = false;
            else if (!r.data!.equals(w.image)) {
              if (ctx.nowMs < waitLiveUntil) {
                w.image = Buffer.from(r.data!); // alive: keep waiting for it to let go, from its new pulse
                alive = true;
                continue;
              }
              moved = w;
              break;
            }
          }
          if (alive) end = ctx.nowMs + t.leaseMs; // a dead holder must stand still for a whole lease from here
          seenAtEnd = atEnd && all && !alive;
        }
        if (moved !== undefined) {
          const who = moved.slot.hostName || moved.holder.owner;
          yield* emit('lock-refused', `entry ${entry} is locked by ${who} (${lock.mode}): its heartbeat is alive`, { entry, owner: moved.holder.owner, ownerName: who, mode: lock.mode });
          throw new DatastoreError(DS_ERROR.LOCKED, `locked by ${who}`, { entry, owner: moved.holder.owner, ownerName: who, mode: lock.mode });
        }
        for (const w of c.live) {
          if (yield* breakSlot(ctx, w)) yield* emit('lock-broken', `broke the lock of entry ${entry} held by ${w.slot.hostName || w.holder.owner}: slot ${w.slot.index} unchanged for ${t.leaseMs} ms`, { entry, owner: w.holder.owner, slot: w.slot.index, newGeneration: w.slot.generation + 1 });
        }
        // Re-read the entry: the replay may have changed it, and the holders are dead now (or, when a
        // slot moved while we marked it, alive: the next round watches it again).
        continue;
      }
      holders = [mine]; // every incompatible holder is dead already
    }
    const next: FileEntry = { ...cur, lock: withHolders(lock, mode, holders, ctx.nowMs) };
    const r = yield* atomicUpdate(ctx, lba, raw, emitEntry(next, l.blockSize), true);
    if (r.ok) {
      yield* emit('lock-acquired', `locked entry ${entry} (${cur.meta.name}) ${mode}`, { entry, mode, generation: next.lock.generation });
      return { entry: next, taken: true };
    }
    if (r.why !== 'miscompare') throw new DatastoreError(DS_ERROR.IO_FAILED, `taking the lock of entry ${entry}: ${r.why}`, { entry });
  }
  throw new DatastoreError(DS_ERROR.CONTENDED, `lock of entry ${entry}: no decision in ${DS_LOCK_MAX_ROUNDS} rounds`, { entry });
}

/** Releases this host's hold on entry `entry`'s lock (no-op when it holds none). */
export function* releaseLock(ctx: HostCtx, entry: number): Gen<void> {
  const l = ctx.sb.layout;
  for (let round = 0; round < DS_LOCK_MAX_ROUNDS; round++) {
    const { raw, entry: cur } = yield* readEntry(ctx, entry);
    const gen = ctx.slot?.generation;
    const rest = cur.lock.holders.filter((h) => !(h.owner === ctx.hostUuid && h.slotGeneration === gen));
    if (rest.length === cur.lock.holders.length) return;
    const lock = rest.length === 0 ? { ...FREE_LOCK, generation: (cur.lock.generation + 1) >>> 0 } : withHolders(cur.lock, cur.lock.mode, rest, ctx.nowMs);
    const r = yield* atomicUpdate(ctx, entryLba(l, entry), raw, emitEntry({ ...cur, lock }, l.blockSize), true);
    if (r.ok) {
      yield* emit('lock-released', `released entry ${entry} (${cur.meta.name})`, { entry });
      return;
    }
    if (r.why !== 'miscompare') throw new DatastoreError(DS_ERROR.IO_FAILED, `releasing the lock of entry ${entry}: ${r.why}`, { entry });
  }
  throw new DatastoreError(DS_ERROR.CONTENDED, `releasing entry ${entry}: no success in ${DS_LOCK_MAX_ROUNDS} rounds`, { entry });
}
