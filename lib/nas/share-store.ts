// One NAS share: files and directories with ids, data in fixed-size chunks, over an injected key-value
// store (kv.ts) and an injected clock (docs/nas-protocol.md "Store"). Semantics follow NFS version 3
// (RFC 1813 §3.3): names live in directories, file ids are never reused (a removed id answers STALE),
// CREATE has UNCHECKED/GUARDED/EXCLUSIVE modes, RENAME replaces a file or an empty directory atomically,
// REMOVE takes files and empty directories. Durability: every operation that changes anything is ONE kv
// batch (atomic), written with sync before the promise resolves (WRITE without the stable flag is not
// synced until COMMIT), and the in-memory view changes only after the batch succeeded. Operations on one
// share run one at a time (a queue), so the view and the kv never disagree. Capacity counts file sizes
// (holes included). Key layout (inside the share's prefix):
//   'm'                       meta: format u8, reserved 7, nextId u64
//   'i' id u64                inode: type u8, reserved u8, nameBytes u16, reserved u32, parent u64,
//                             size u64, mtimeNs u64, verifier u64, name
//   'd' id u64 chunk u32      data chunk (up to NAS_CHUNK_BYTES; bytes past its end read as zeros)
// Leaves out permissions, owners, hard and symbolic links, and the wire (protocol.ts).

import {
  NAS_CREATE,
  NAS_FILE_TYPE,
  NAS_MAX_FILE_BYTES,
  NAS_MAX_FILES_PER_SHARE,
  NAS_MAX_IO_BYTES,
  NAS_MAX_NAME_BYTES,
  NAS_MAX_PATH_DEPTH,
  NAS_MAX_READDIR_ENTRIES,
  NAS_OP,
  NAS_RECORD,
  NAS_REPLY_EOF,
  NAS_STATUS,
  NAS_WRITE_STABLE,
  emitDirents,
  nameProblem,
  type NasAttrs,
  type NasDirent,
  type NasFileType,
  type NasReply,
  type NasRequest,
  type NasStatus,
} from './protocol.js';
import type { NasKv, NasKvOp } from './kv.js';

/** Bytes per stored data chunk. */
export const NAS_CHUNK_BYTES = 64 * 1024;
/** File id of every share's root directory. */
export const NAS_ROOT_ID = 1;
/** Operations waiting on one share before new ones are answered JUKEBOX (server busy). */
export const NAS_MAX_QUEUED_OPS = 4096;
/** WRITE data held by operations waiting on one share; a WRITE beyond it is answered JUKEBOX. */
export const NAS_MAX_QUEUED_WRITE_BYTES = 64 * 1024 * 1024;
const FORMAT = 1;
const INODE_FIXED_BYTES = 48;

/** Nanoseconds since the Unix epoch. */
export type NsClock = () => bigint;

interface Inode {
  id: number;
  type: NasFileType;
  parent: number;
  name: string;
  size: number;
  mtimeNs: bigint;
  verifier: number;
  /** Directories: name -> id. */
  children: Map<string, number> | undefined;
}

export interface OpResult {
  status: NasStatus;
  attrs?: NasAttrs;
  data?: Uint8Array;
  /** WRITE: bytes written; READDIR: the cookie to continue from. */
  value?: number;
  /** READ: end of file reached; READDIR: no more entries. */
  eof?: boolean;
}

export interface ShareStats {
  files: number;
  directories: number;
  usedBytes: number;
  capacityBytes: number;
  ops: number;
  ioErrors: number;
  queued: number;
}

const st = (status: NasStatus): OpResult => ({ status });

function u64(b: Buffer, at: number, v: number): void {
  b.writeUInt32BE(Math.floor(v / 0x100000000), at);
  b.writeUInt32BE(v >>> 0, at + 4);
}
function r64(b: Buffer, at: number): number {
  return b.readUInt32BE(at) * 0x100000000 + b.readUInt32BE(at + 4);
}

const META_KEY = Buffer.from('m');
const INODE_PREFIX = Buffer.from('i');
function inodeKey(id: number): Buffer {
  const k = Buffer.alloc(9);
  k[0] = 0x69;
  u64(k, 1, id);
  return k;
}
function chunkPrefix(id: number): Buffer {
  const k = Buffer.alloc(9);
  k[0] = 0x64;
  u64(k, 1, id);
  return k;
}
function chunkKey(id: number, chunk: number): Buffer {
  const k = Buffer.alloc(13);
  k[0] = 0x64;
  u64(k, 1, id);
  k.writeUInt32BE(chunk, 9);
  return k;
}

function encodeInode(n: Inode): Buffer {
  const name = Buffer.from(n.name, 'utf8');
  const b = Buffer.alloc(INODE_FIXED_BYTES + name.length);
  b[0] = n.type;
  b.writeUInt16BE(name.length, 2);
  u64(b, 8, n.parent);
  u64(b, 16, n.size);
  b.writeBigUInt64BE(n.mtimeNs, 24);
  u64(b, 32, n.verifier);
  name.copy(b, INODE_FIXED_BYTES);
  return b;
}

function decodeInode(id: number, b: Buffer): Inode | undefined {
  if (b.length < INODE_FIXED_BYTES) return undefined;
  const type = b[0];
  const nameBytes = b.readUInt16BE(2);
  if ((type !== NAS_FILE_TYPE.FILE && type !== NAS_FILE_TYPE.DIR) || b.length !== INODE_FIXED_BYTES + nameBytes) return undefined;
  return {
    id,
    type,
    parent: r64(b, 8),
    size: r64(b, 16),
    mtimeNs: b.readBigUInt64BE(24),
    verifier: r64(b, 32),
    name: b.toString('utf8', INODE_FIXED_BYTES),
    children: type === NAS_FILE_TYPE.DIR ? new Map() : undefined,
  };
}

function encodeMeta(nextId: number): Buffer {
  const b = Buffer.alloc(16);
  b[0] = FORMAT;
  u64(b, 8, nextId);
  return b;
}

export interface ShareStoreOptions {
  /** The share's own key space (see prefixKv). */
  kv: NasKv;
  capacityBytes: number;
  nowNs: NsClock;
  /** Files plus directories allowed (default NAS_MAX_FILES_PER_SHARE; tests use fewer). */
  maxFiles?: number;
}

export class ShareStore {
  private readonly inodes = new Map<number, Inode>();
  private nextId = NAS_ROOT_ID + 1;
  private lastMtimeNs = 0n;
  private usedBytes = 0;
  private tail: Promise<unknown> = Promise.resolve();
  private queued = 0;
  private queuedWriteBytes = 0;
  private ops = 0;
  private ioErrors = 0;
  /** Inodes whose parent was missing when the share was loaded (left out of the tree). */
  orphans = 0;
  readonly kv: NasKv;
  capacityBytes: number;
  private readonly nowNs: NsClock;
  private readonly maxFiles: number;

  private constructor(opts: ShareStoreOptions) {
    this.maxFiles = Math.min(opts.maxFiles ?? NAS_MAX_FILES_PER_SHARE, NAS_MAX_FILES_PER_SHARE);
    this.kv = opts.kv;
    this.capacityBytes = opts.capacityBytes;
    this.nowNs = opts.nowNs;
  }

  /** Loads the share (every inode; data stays in the kv), creating its root on first use. */
  static async open(opts: ShareStoreOptions): Promise<ShareStore> {
    const s = new ShareStore(opts);
    const meta = await opts.kv.get(META_KEY);
    if (meta !== undefined && meta.length >= 16) s.nextId = r64(meta, 8);
    for await (const [k, v] of opts.kv.scan(INODE_PREFIX)) {
      if (k.length !== 9) continue;
      const n = decodeInode(r64(k, 1), v);
      if (n === undefined) continue;
      s.inodes.set(n.id, n);
      if (n.mtimeNs > s.lastMtimeNs) s.lastMtimeNs = n.mtimeNs;
      if (n.id >= s.nextId) s.nextId = n.id + 1;
    }
    for (const n of s.inodes.values()) {
      if (n.id === NAS_ROOT_ID) continue;
      const p = s.inodes.get(n.parent);
      if (p?.children === undefined) {
        s.orphans++;
        continue;
      }
      p.children.set(n.name, n.id);
      if (n.type === NAS_FILE_TYPE.FILE) s.usedBytes += n.size;
    }
    if (!s.inodes.has(NAS_ROOT_ID)) {
      const root: Inode = { id: NAS_ROOT_ID, type: NAS_FILE_TYPE.DIR, parent: NAS_ROOT_ID, name: '', size: 0, mtimeNs: s.tick(), verifier: 0, children: new Map() };
      await opts.kv.batch([{ type: 'put', key: inodeKey(NAS_ROOT_ID), value: encodeInode(root) }, { type: 'put', key: META_KEY, value: encodeMeta(s.nextId) }], true);
      s.inodes.set(NAS_ROOT_ID, root);
    }
    return s;
  }

  stats(): ShareStats {
    let dirs = 0;
    for (const n of this.inodes.values()) if (n.type === NAS_FILE_TYPE.DIR) dirs++;
    return { files: this.inodes.size - dirs, directories: dirs, usedBytes: this.usedBytes, capacityBytes: this.capacityBytes, ops: this.ops, ioErrors: this.ioErrors, queued: this.queued };
  }

  /** Runs `fn` after every earlier operation on this share; a throw (kv failure) becomes status IO. */
  private run(fn: () => Promise<OpResult>, writeBytes = 0): Promise<OpResult> {
    if (this.queued >= NAS_MAX_QUEUED_OPS || (writeBytes > 0 && this.queuedWriteBytes + writeBytes > NAS_MAX_QUEUED_WRITE_BYTES)) {
      return Promise.resolve(st(NAS_STATUS.JUKEBOX));
    }
    this.queued++;
    this.queuedWriteBytes += writeBytes;
    const p = this.tail.then(fn).then(
      (r) => r,
      () => {
        this.ioErrors++;
        return st(NAS_STATUS.IO);
      },
    );
    this.tail = p.then(() => {
      this.queued--;
      this.queuedWriteBytes -= writeBytes;
      this.ops++;
    });
    return p;
  }

  /** A strictly increasing mtime: two changes never share one, so a watcher always sees a change. */
  private tick(): bigint {
    const now = this.nowNs();
    this.lastMtimeNs = now > this.lastMtimeNs ? now : this.lastMtimeNs + 1n;
    return this.lastMtimeNs;
  }

  private attrs(n: Inode): NasAttrs {
    return { fileId: n.id, fileType: n.type, size: n.type === NAS_FILE_TYPE.DIR ? n.children!.size : n.size, mtimeNs: n.mtimeNs };
  }

  /** The directory `id`, or the status to answer. */
  private dir(id: number): Inode | NasStatus {
    const d = this.inodes.get(id);
    if (d === undefined) return NAS_STATUS.STALE;
    if (d.type !== NAS_FILE_TYPE.DIR) return NAS_STATUS.NOTDIR;
    return d;
  }

  /** The directory `dirId` when `name` is a valid name in it, or the status to answer. */
  private entryDir(dirId: number, name: string): Inode | NasStatus {
    const d = this.dir(dirId);
    return typeof d === 'number' ? d : (ShareStore.nameStatus(name) ?? d);
  }

  private depth(n: Inode): number {
    let d = 0;
    for (let c = n; c.id !== NAS_ROOT_ID; c = this.inodes.get(c.parent)!) d++;
    return d;
  }

  /** Levels of directories below `n` (0 for a file or an empty directory). */
  private height(n: Inode): number {
    let h = 0;
    for (const id of n.children?.values() ?? []) {
      const c = this.inodes.get(id)!;
      if (c.type === NAS_FILE_TYPE.DIR) h = Math.max(h, 1 + this.height(c));
    }
    return h;
  }

  private static nameStatus(name: string): NasStatus | undefined {
    const p = nameProblem(name);
    if (p === undefined) return undefined;
    return Buffer.byteLength(name, 'utf8') > NAS_MAX_NAME_BYTES ? NAS_STATUS.NAMETOOLONG : NAS_STATUS.INVAL;
  }

  /** Ops deleting every stored chunk of `id` at or after chunk `from`. */
  private async chunkDeletes(id: number, from: number): Promise<NasKvOp[]> {
    const ops: NasKvOp[] = [];
    for await (const [k] of this.kv.scan(chunkPrefix(id))) {
      if (k.length === 13 && k.readUInt32BE(9) >= from) ops.push({ type: 'del', key: Buffer.from(k) });
    }
    return ops;
  }

  getattr(id: number): Promise<OpResult> {
    return this.run(async () => {
      const n = this.inodes.get(id);
      return n === undefined ? st(NAS_STATUS.STALE) : { status: NAS_STATUS.OK, attrs: this.attrs(n) };
    });
  }

  lookup(dirId: number, name: string): Promise<OpResult> {
    return this.run(async () => {
      const d = this.entryDir(dirId, name);
      if (typeof d === 'number') return st(d);
      const id = d.children!.get(name);
      return id === undefined ? st(NAS_STATUS.NOENT) : { status: NAS_STATUS.OK, attrs: this.attrs(this.inodes.get(id)!) };
    });
  }

  /** CREATE (type FILE, with `mode` and, for EXCLUSIVE, a non-zero `verifier`) and MKDIR (type DIR). */
  create(dirId: number, name: string, type: NasFileType, mode: number = NAS_CREATE.GUARDED, verifier = 0): Promise<OpResult> {
    return this.run(async () => {
      const d = this.entryDir(dirId, name);
      if (typeof d === 'number') return st(d);
      if (type === NAS_FILE_TYPE.FILE && mode !== NAS_CREATE.UNCHECKED && mode !== NAS_CREATE.GUARDED && mode !== NAS_CREATE.EXCLUSIVE) return st(NAS_STATUS.INVAL);
      const existing = d.children!.get(name);
      if (existing !== undefined) {
        const e = this.inodes.get(existing)!;
        const same =
          type === NAS_FILE_TYPE.FILE &&
          e.type === NAS_FILE_TYPE.FILE &&
          (mode === NAS_CREATE.UNCHECKED || (mode === NAS_CREATE.EXCLUSIVE && verifier !== 0 && e.verifier === verifier));
        return same ? { status: NAS_STATUS.OK, attrs: this.attrs(e) } : st(NAS_STATUS.EXIST);
      }
      if (type === NAS_FILE_TYPE.DIR && this.depth(d) + 1 > NAS_MAX_PATH_DEPTH) return st(NAS_STATUS.NAMETOOLONG);
      if (this.inodes.size >= this.maxFiles) return st(NAS_STATUS.NOSPC);
      const id = this.nextId;
      const mtimeNs = this.tick();
      const n: Inode = {
        id,
        type,
        parent: d.id,
        name,
        size: 0,
        mtimeNs,
        verifier: mode === NAS_CREATE.EXCLUSIVE ? verifier : 0,
        children: type === NAS_FILE_TYPE.DIR ? new Map() : undefined,
      };
      const parent = { ...d, mtimeNs };
      await this.kv.batch(
        [
          { type: 'put', key: inodeKey(id), value: encodeInode(n) },
          { type: 'put', key: inodeKey(d.id), value: encodeInode(parent) },
          { type: 'put', key: META_KEY, value: encodeMeta(id + 1) },
        ],
        true,
      );
      this.nextId = id + 1;
      this.inodes.set(id, n);
      d.children!.set(name, id);
      d.mtimeNs = mtimeNs;
      return { status: NAS_STATUS.OK, attrs: this.attrs(n) };
    });
  }

  private file(id: number): Inode | NasStatus {
    const f = this.inodes.get(id);
    if (f === undefined) return NAS_STATUS.STALE;
    if (f.type !== NAS_FILE_TYPE.FILE) return NAS_STATUS.ISDIR;
    return f;
  }

  read(id: number, offset: number, count: number): Promise<OpResult> {
    return this.run(async () => {
      const f = this.file(id);
      if (typeof f === 'number') return st(f);
      if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(count) || count < 0 || count > NAS_MAX_IO_BYTES) return st(NAS_STATUS.INVAL);
      const end = Math.min(f.size, offset + count);
      const out = Buffer.alloc(Math.max(0, end - offset));
      for (let pos = offset; pos < end; ) {
        const chunk = Math.floor(pos / NAS_CHUNK_BYTES);
        const within = pos - chunk * NAS_CHUNK_BYTES;
        const take = Math.min(NAS_CHUNK_BYTES - within, end - pos);
        const stored = await this.kv.get(chunkKey(id, chunk));
        if (stored !== undefined && stored.length > within) stored.copy(out, pos - offset, within, Math.min(stored.length, within + take));
        pos += take;
      }
      return { status: NAS_STATUS.OK, attrs: this.attrs(f), data: out, eof: end >= f.size };
    });
  }

  write(id: number, offset: number, data: Uint8Array, stable: boolean): Promise<OpResult> {
    return this.run(async () => {
      const f = this.file(id);
      if (typeof f === 'number') return st(f);
      if (!Number.isSafeInteger(offset) || offset < 0 || data.length > NAS_MAX_IO_BYTES) return st(NAS_STATUS.INVAL);
      const end = offset + data.length;
      if (end > NAS_MAX_FILE_BYTES) return st(NAS_STATUS.FBIG);
      const newSize = Math.max(f.size, end);
      if (this.usedBytes - f.size + newSize > this.capacityBytes) return st(NAS_STATUS.NOSPC);
      const ops: NasKvOp[] = [];
      for (let pos = offset; pos < end; ) {
        const chunk = Math.floor(pos / NAS_CHUNK_BYTES);
        const within = pos - chunk * NAS_CHUNK_BYTES;
        const take = Math.min(NAS_CHUNK_BYTES - within, end - pos);
        const key = chunkKey(id, chunk);
        let value: Buffer;
        if (within === 0 && take === NAS_CHUNK_BYTES) value = Buffer.from(data.subarray(pos - offset, pos - offset + take));
        else {
          const old = (await this.kv.get(key)) ?? Buffer.alloc(0);
          value = Buffer.alloc(Math.max(old.length, within + take));
          old.copy(value);
          value.set(data.subarray(pos - offset, pos - offset + take), within);
        }
        ops.push({ type: 'put', key, value });
        pos += take;
      }
      const next = { ...f, size: newSize, mtimeNs: this.tick() };
      ops.push({ type: 'put', key: inodeKey(id), value: encodeInode(next) });
      await this.kv.batch(ops, stable);
      this.usedBytes += newSize - f.size;
      f.size = newSize;
      f.mtimeNs = next.mtimeNs;
      return { status: NAS_STATUS.OK, attrs: this.attrs(f), value: data.length };
    }, data.length);
  }

  /** Makes every earlier unstable WRITE durable (one synced batch: LevelDB syncs its log up to it). */
  commit(id: number): Promise<OpResult> {
    return this.run(async () => {
      const f = this.file(id);
      if (typeof f === 'number') return st(f);
      await this.kv.batch([{ type: 'put', key: META_KEY, value: encodeMeta(this.nextId) }], true);
      return { status: NAS_STATUS.OK, attrs: this.attrs(f) };
    });
  }

  /** SETATTR size: truncates (dropping data past the new end) or grows (the new bytes read as zeros). */
  setSize(id: number, size: number): Promise<OpResult> {
    return this.run(async () => {
      const f = this.file(id);
      if (typeof f === 'number') return st(f);
      if (!Number.isSafeInteger(size) || size < 0) return st(NAS_STATUS.INVAL);
      if (size > NAS_MAX_FILE_BYTES) return st(NAS_STATUS.FBIG);
      if (this.usedBytes - f.size + size > this.capacityBytes) return st(NAS_STATUS.NOSPC);
      const ops: NasKvOp[] = [];
      if (size < f.size) {
        const keep = Math.ceil(size / NAS_CHUNK_BYTES);
        ops.push(...(await this.chunkDeletes(id, keep)));
        const within = size % NAS_CHUNK_BYTES;
        if (within !== 0) {
          const key = chunkKey(id, keep - 1);
          const old = await this.kv.get(key);
          if (old !== undefined && old.length > within) ops.push({ type: 'put', key, value: Buffer.from(old.subarray(0, within)) });
        }
      }
      const next = { ...f, size, mtimeNs: this.tick() };
      ops.push({ type: 'put', key: inodeKey(id), value: encodeInode(next) });
      await this.kv.batch(ops, true);
      this.usedBytes += size - f.size;
      f.size = size;
      f.mtimeNs = next.mtimeNs;
      return { status: NAS_STATUS.OK, attrs: this.attrs(f) };
    });
  }

  /** REMOVE a file or an empty directory. */
  remove(dirId: number, name: string): Promise<OpResult> {
    return this.run(async () => {
      const d = this.entryDir(dirId, name);
      if (typeof d === 'number') return st(d);
      const id = d.children!.get(name);
      if (id === undefined) return st(NAS_STATUS.NOENT);
      const n = this.inodes.get(id)!;
      if (n.children !== undefined && n.children.size > 0) return st(NAS_STATUS.NOTEMPTY);
      const mtimeNs = this.tick();
      const ops: NasKvOp[] = [{ type: 'del', key: inodeKey(id) }, ...(await this.chunkDeletes(id, 0)), { type: 'put', key: inodeKey(d.id), value: encodeInode({ ...d, mtimeNs }) }];
      await this.kv.batch(ops, true);
      this.inodes.delete(id);
      d.children!.delete(name);
      d.mtimeNs = mtimeNs;
      if (n.type === NAS_FILE_TYPE.FILE) this.usedBytes -= n.size;
      return { status: NAS_STATUS.OK, attrs: this.attrs(d) };
    });
  }

  /** RENAME: moves `name` in `fromDir` to `toName` in `toDir`, replacing a file or an empty directory there. */
  rename(fromDir: number, name: string, toDir: number, toName: string): Promise<OpResult> {
    return this.run(async () => {
      const from = this.dir(fromDir);
      if (typeof from === 'number') return st(from);
      const to = this.dir(toDir);
      if (typeof to === 'number') return st(to);
      const bad = ShareStore.nameStatus(name) ?? ShareStore.nameStatus(toName);
      if (bad !== undefined) return st(bad);
      const id = from.children!.get(name);
      if (id === undefined) return st(NAS_STATUS.NOENT);
      const n = this.inodes.get(id)!;
      const targetId = to.children!.get(toName);
      if (targetId === id) return { status: NAS_STATUS.OK, attrs: this.attrs(n) };
      if (n.type === NAS_FILE_TYPE.DIR) {
        for (let c = to; ; c = this.inodes.get(c.parent)!) {
          if (c.id === id) return st(NAS_STATUS.INVAL); // into its own subtree
          if (c.id === NAS_ROOT_ID) break;
        }
        if (this.depth(to) + 1 + this.height(n) > NAS_MAX_PATH_DEPTH) return st(NAS_STATUS.NAMETOOLONG);
      }
      const ops: NasKvOp[] = [];
      const target = targetId === undefined ? undefined : this.inodes.get(targetId)!;
      if (target !== undefined) {
        if (target.type === NAS_FILE_TYPE.DIR && n.type !== NAS_FILE_TYPE.DIR) return st(NAS_STATUS.ISDIR);
        if (target.type !== NAS_FILE_TYPE.DIR && n.type === NAS_FILE_TYPE.DIR) return st(NAS_STATUS.NOTDIR);
        if (target.children !== undefined && target.children.size > 0) return st(NAS_STATUS.NOTEMPTY);
        ops.push({ type: 'del', key: inodeKey(target.id) }, ...(await this.chunkDeletes(target.id, 0)));
      }
      const mtimeNs = this.tick();
      const moved = { ...n, parent: to.id, name: toName };
      ops.push({ type: 'put', key: inodeKey(id), value: encodeInode(moved) });
      ops.push({ type: 'put', key: inodeKey(from.id), value: encodeInode({ ...from, mtimeNs }) });
      if (to.id !== from.id) ops.push({ type: 'put', key: inodeKey(to.id), value: encodeInode({ ...to, mtimeNs }) });
      await this.kv.batch(ops, true);
      if (target !== undefined) {
        this.inodes.delete(target.id);
        if (target.type === NAS_FILE_TYPE.FILE) this.usedBytes -= target.size;
      }
      from.children!.delete(name);
      to.children!.set(toName, id);
      n.parent = to.id;
      n.name = toName;
      from.mtimeNs = mtimeNs;
      to.mtimeNs = mtimeNs;
      return { status: NAS_STATUS.OK, attrs: this.attrs(n) };
    });
  }

  /**
   * READDIR: up to `max` entries with an id above `cookie` (0 = from the start), in id order. The reply's
   * cookie is the last id returned; entries created later have larger ids, so a listing continued with it
   * neither repeats nor skips entries that stayed.
   */
  readdir(dirId: number, cookie: number, max: number): Promise<OpResult> {
    return this.run(async () => {
      const d = this.dir(dirId);
      if (typeof d === 'number') return st(d);
      if (!Number.isSafeInteger(max) || max < 1 || max > NAS_MAX_READDIR_ENTRIES || !Number.isSafeInteger(cookie) || cookie < 0) return st(NAS_STATUS.INVAL);
      const ids = [...d.children!.values()].filter((id) => id > cookie).sort((a, b) => a - b);
      const page = ids.slice(0, max);
      const entries: NasDirent[] = page.map((id) => {
        const n = this.inodes.get(id)!;
        return { fileId: id, fileType: n.type, name: n.name };
      });
      return { status: NAS_STATUS.OK, attrs: this.attrs(d), data: emitDirents(entries), value: page.length > 0 ? page[page.length - 1]! : cookie, eof: ids.length <= max };
    });
  }
}

/** Runs one parsed REQUEST against a share and builds its REPLY. */
export async function executeNasRequest(store: ShareStore, req: NasRequest): Promise<NasReply> {
  let r: OpResult;
  switch (req.op) {
    case NAS_OP.GETATTR:
      r = await store.getattr(req.fileId);
      break;
    case NAS_OP.SETATTR:
      r = await store.setSize(req.fileId, req.arg);
      break;
    case NAS_OP.LOOKUP:
      r = await store.lookup(req.fileId, req.name);
      break;
    case NAS_OP.READ:
      r = await store.read(req.fileId, req.arg, req.count);
      break;
    case NAS_OP.WRITE:
      r = await store.write(req.fileId, req.arg, req.data ?? new Uint8Array(0), (req.opFlags & NAS_WRITE_STABLE) !== 0);
      break;
    case NAS_OP.CREATE:
      r = await store.create(req.fileId, req.name, NAS_FILE_TYPE.FILE, req.opFlags, req.arg);
      break;
    case NAS_OP.MKDIR:
      r = await store.create(req.fileId, req.name, NAS_FILE_TYPE.DIR);
      break;
    case NAS_OP.REMOVE:
      r = await store.remove(req.fileId, req.name);
      break;
    case NAS_OP.RENAME:
      r = await store.rename(req.fileId, req.name, req.arg, req.name2);
      break;
    case NAS_OP.READDIR:
      r = await store.readdir(req.fileId, req.arg, req.count);
      break;
    default:
      r = await store.commit(req.fileId);
  }
  return { type: NAS_RECORD.REPLY, id: req.id, op: req.op, flags: r.eof ? NAS_REPLY_EOF : 0, status: r.status, attrs: r.attrs, value: r.value ?? 0, data: r.data };
}
