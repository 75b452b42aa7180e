// NFS v3 style file locks on a NAS datastore (docs/vsphere-behaviour.md §7.10): no NLM; a `.lck-<fileid>`
// file next to the locked file holds the owner. The owner rewrites it (a small write that moves a counter)
// every refresh interval (10 s); each refresh times out after 5 s; after 3 failed refreshes in a row the
// owner has lost the lease. Another host sees the lock as stale once the file has not changed for
// 10 × 3 + 5 = 35 s, and may then remove it and create its own. Covers the `.lck` content codec and the
// lease logic as generators under proc.ts. Leaves out the file protocol (docs/nas-protocol.md) and which
// files a VM locks (nas-vm.ts).

import { crc32 } from 'node:zlib';
import { type Result, ok, err } from '../errors.js';
import { DS_ERROR, DatastoreError, fieldError } from './errors.js';
import { DS_MAX_HOST_NAME_BYTES } from './format.js';
import { type Gen, type Now, emit, io, sleepUntil } from './proc.js';

/** NFS.DiskFileLockUpdateFreq, NFS.LockUpdateTimeout, NFS.LockRenewMaxFailureNumber (§7.10). */
export const NAS_REFRESH_MS = 10_000;
export const NAS_UPDATE_TIMEOUT_MS = 5_000;
export const NAS_MAX_FAILURES = 3;
/** Bytes of a `.lck` file (the size of the refresh write). */
export const LCK_BYTES = 84;
export const LCK_MAGIC = 0x4b434c56; // "VLCK"
export const LCK = { MAGIC: 0, COUNTER: 4, MODE: 12, RESERVED: 13, OWNER: 16, CRC: 80 } as const;
const LCK_OWNER_BYTES = 64;

export type NasLockMode = 'exclusive' | 'read-only';

export interface LckContent {
  counter: number;
  mode: NasLockMode;
  owner: string;
}

export const lckPath = (dir: string, fileId: number | string): string => `${dir.replace(/\/+$/, '')}/.lck-${fileId}`;

export function emitLck(c: LckContent): Buffer {
  const owner = Buffer.from(c.owner, 'utf8');
  if (owner.length === 0 || owner.length > Math.min(LCK_OWNER_BYTES, DS_MAX_HOST_NAME_BYTES * 2) || owner.includes(0)) {
    throw new DatastoreError(DS_ERROR.BAD_OPTION, `.lck owner "${c.owner}" must be 1..${LCK_OWNER_BYTES} UTF-8 bytes without NUL`);
  }
  const b = Buffer.alloc(LCK_BYTES);
  b.writeUInt32LE(LCK_MAGIC, LCK.MAGIC);
  b.writeBigUInt64LE(BigInt(c.counter), LCK.COUNTER);
  b.writeUInt8(c.mode === 'exclusive' ? 1 : 2, LCK.MODE);
  owner.copy(b, LCK.OWNER);
  b.writeUInt32LE(crc32(b.subarray(0, LCK.CRC)) >>> 0, LCK.CRC);
  return b;
}

export function parseLck(b: Buffer): Result<LckContent, DatastoreError> {
  const bad = (field: string, offset: number, why: string, code: (typeof DS_ERROR)[keyof typeof DS_ERROR] = DS_ERROR.BAD_FIELD) => err(fieldError(code, '.lck file', field, offset, why));
  if (b.length !== LCK_BYTES) return bad('length', 0, `is ${b.length} bytes, not ${LCK_BYTES}`);
  if (b.readUInt32LE(LCK.MAGIC) !== LCK_MAGIC) return bad('magic', LCK.MAGIC, 'is not "VLCK"', DS_ERROR.BAD_MAGIC);
  if (b.readUInt32LE(LCK.CRC) !== crc32(b.subarray(0, LCK.CRC)) >>> 0) return bad('crc32', LCK.CRC, 'does not match', DS_ERROR.BAD_CHECKSUM);
  const mode = b.readUInt8(LCK.MODE);
  if (mode !== 1 && mode !== 2) return bad('mode', LCK.MODE, `is ${mode}, not 1 or 2`);
  for (let i = LCK.RESERVED; i < LCK.OWNER; i++) if (b[i] !== 0) return bad('reserved', i, 'must be zero');
  const field = b.subarray(LCK.OWNER, LCK.CRC);
  let end = field.indexOf(0);
  if (end < 0) end = field.length;
  for (let i = end; i < field.length; i++) if (field[i] !== 0) return bad('owner', LCK.OWNER + i, 'has bytes after its end');
  const owner = field.toString('utf8', 0, end);
  if (end === 0 || Buffer.byteLength(owner) !== end) return bad('owner', LCK.OWNER, 'is empty or not UTF-8');
  const counter = b.readBigUInt64LE(LCK.COUNTER);
  if (counter > BigInt(Number.MAX_SAFE_INTEGER)) return bad('counter', LCK.COUNTER, 'exceeds 2^53');
  return ok({ counter: Number(counter), mode: mode === 1 ? 'exclusive' : 'read-only', owner });
}

export interface NasTiming {
  refreshMs: number;
  updateTimeoutMs: number;
  maxFailures: number;
}

export function nasTiming(timeScale = 1): NasTiming {
  if (!(timeScale > 0)) throw new DatastoreError(DS_ERROR.BAD_OPTION, `time scale ${timeScale} must be > 0`);
  return { refreshMs: NAS_REFRESH_MS / timeScale, updateTimeoutMs: NAS_UPDATE_TIMEOUT_MS / timeScale, maxFailures: NAS_MAX_FAILURES };
}

/** How long a `.lck` must stay unchanged before another host may break it: refresh × failures + timeout. */
export const staleAfterMs = (t: NasTiming): number => t.refreshMs * t.maxFailures + t.updateTimeoutMs;

export interface NasCtx extends Now {
  hostName: string;
  timing: NasTiming;
}

/**
 * Takes the `.lck` at `path`: create it; if it exists, watch it (re-read every refresh interval): a change
 * means the owner is alive (throws VFAB_DATASTORE_LOCKED naming the owner); unchanged for staleAfterMs
 * means stale: remove it and create ours. Returns the counter written.
 */
export function* acquireLease(ctx: NasCtx, path: string, mode: NasLockMode): Gen<number> {
  const t = ctx.timing;
  for (let round = 0; round < 2; round++) {
    const c = yield* io({ kind: 'nas-create', path, data: emitLck({ counter: 1, mode, owner: ctx.hostName }) }, ctx.nowMs + t.updateTimeoutMs);
    if (c.status === 'good') {
      yield* emit('lock-acquired', `${path} created by ${ctx.hostName}`, { path });
      return 1;
    }
    if (c.status !== 'exists') throw new DatastoreError(DS_ERROR.IO_FAILED, `create ${path}: ${c.status}`, { path });
    const first = yield* io({ kind: 'nas-read', path }, ctx.nowMs + t.updateTimeoutMs);
    if (first.status === 'not-found') continue;
    if (first.status !== 'good') throw new DatastoreError(DS_ERROR.IO_FAILED, `read ${path}: ${first.status}`, { path });
    const seen = first.data!;
    const parsed = parseLck(seen);
    const owner = parsed.ok ? parsed.value.owner : '(unreadable .lck)';
    const from = ctx.nowMs;
    const staleAt = from + staleAfterMs(t);
    while (ctx.nowMs < staleAt) {
      yield* sleepUntil(Math.min(ctx.nowMs + t.refreshMs, staleAt));
      const r = yield* io({ kind: 'nas-read', path }, ctx.nowMs + t.updateTimeoutMs);
      if (r.status === 'not-found') break; // released meanwhile: try to create again
      if (r.status === 'good' && !r.data!.equals(seen)) {
        yield* emit('lock-refused', `${path} is locked by ${owner}: its .lck was refreshed`, { path, owner });
        throw new DatastoreError(DS_ERROR.LOCKED, `locked by ${owner}`, { path, owner });
      }
    }
    if (ctx.nowMs >= staleAt) {
      yield* emit('lease-stale', `${path} of ${owner} unchanged for ${staleAfterMs(t)} ms: breaking it`, { path, owner, unchangedMs: ctx.nowMs - from });
      const rm = yield* io({ kind: 'nas-remove', path }, ctx.nowMs + t.updateTimeoutMs);
      if (rm.status === 'good') yield* emit('lock-broken', `${path} of ${owner} was stale: removed`, { path, owner });
    }
  }
  throw new DatastoreError(DS_ERROR.CONTENDED, `${path}: another host created it first`, { path });
}

/**
 * Holds a lease: acquire it, then rewrite it every refresh interval. Each refresh write has the update
 * timeout; after maxFailures failed refreshes in a row the lease is lost ("lease-lost", returns).
 */
export function* holdLease(ctx: NasCtx, path: string, mode: NasLockMode): Gen<void> {
  yield* refreshLease(ctx, path, mode, yield* acquireLease(ctx, path, mode));
}

/**
 * Keeps a lease taken with acquireLease (its last counter `counter`): rewrites it every refresh interval,
 * each write with the update timeout; after maxFailures failed refreshes in a row the lease is lost
 * ("lease-lost", returns).
 */
export function* refreshLease(ctx: NasCtx, path: string, mode: NasLockMode, counter: number): Gen<void> {
  const t = ctx.timing;
  let failures = 0;
  let next = ctx.nowMs + t.refreshMs;
  for (;;) {
    yield* sleepUntil(next);
    next = ctx.nowMs + t.refreshMs;
    const r = yield* io({ kind: 'nas-write', path, data: emitLck({ counter: counter + 1, mode, owner: ctx.hostName }) }, ctx.nowMs + t.updateTimeoutMs);
    if (r.status === 'good') {
      counter++;
      failures = 0;
      continue;
    }
    failures++;
    yield* emit('lease-refresh-failed', `refresh ${failures}/${t.maxFailures} of ${path} failed (${r.status})`, { path, failures });
    if (failures >= t.maxFailures) {
      yield* emit('lease-lost', `${ctx.hostName} lost ${path}: ${failures} refreshes failed`, { path });
      return;
    }
  }
}
