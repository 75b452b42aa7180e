// Conformance suite for the NAS share store over each key-value implementation (memory, LevelDB): the
// NFS-v3-like semantics of every operation, the named limits, atomicity when the kv fails, and reopening
// the same kv. Each kv's test file calls shareStoreConformance with a factory. Not a test file itself.

import { expect } from 'chai';
import type { NasKv, NasKvOp } from '../../lib/nas/kv.js';
import { NAS_CREATE, NAS_FILE_TYPE, NAS_MAX_PATH_DEPTH, NAS_OP, NAS_RECORD, NAS_STATUS, parseDirents, type NasRequest } from '../../lib/nas/protocol.js';
import { NAS_CHUNK_BYTES, NAS_MAX_QUEUED_WRITE_BYTES, NAS_ROOT_ID, ShareStore, executeNasRequest, type OpResult } from '../../lib/nas/share-store.js';

export interface KvHarness {
  kv: NasKv;
  cleanup(): Promise<void>;
}

const ROOT = NAS_ROOT_ID;
const FILE = NAS_FILE_TYPE.FILE;
const DIR = NAS_FILE_TYPE.DIR;

function pattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed * 13 + (i >> 8)) & 0xff;
  return b;
}

/** A kv whose next batch fails (to check that a failed op changes nothing). */
class FailingKv implements NasKv {
  failNext = false;
  constructor(private readonly inner: NasKv) {}
  get(key: Buffer): Promise<Buffer | undefined> {
    return this.inner.get(key);
  }
  async batch(ops: NasKvOp[], sync: boolean): Promise<void> {
    if (this.failNext) {
      this.failNext = false;
      throw new Error('disk gone');
    }
    return this.inner.batch(ops, sync);
  }
  scan(prefix: Buffer): AsyncIterable<[Buffer, Buffer]> {
    return this.inner.scan(prefix);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

export function shareStoreConformance(name: string, makeKv: () => Promise<KvHarness>): void {
  describe(`nas/share-store conformance: ${name}`, () => {
    let h: KvHarness;
    let kv: FailingKv;
    let s: ShareStore;
    let clockNs: bigint;
    const open = (capacityBytes = 64 * 1024 * 1024, maxFiles?: number): Promise<ShareStore> =>
      ShareStore.open({ kv, capacityBytes, nowNs: () => clockNs, ...(maxFiles !== undefined ? { maxFiles } : {}) });
    const ok = (r: OpResult): OpResult => {
      expect(r.status, 'status').to.equal(NAS_STATUS.OK);
      return r;
    };
    const mkfile = async (dir: number, n: string): Promise<number> => ok(await s.create(dir, n, FILE)).attrs!.fileId;
    const mkdir = async (dir: number, n: string): Promise<number> => ok(await s.create(dir, n, DIR)).attrs!.fileId;

    beforeEach(async () => {
      h = await makeKv();
      kv = new FailingKv(h.kv);
      clockNs = 1_700_000_000_000_000_000n;
      s = await open();
    });
    afterEach(() => h.cleanup());

    it('starts with an empty root directory; unknown ids are STALE', async () => {
      const r = ok(await s.getattr(ROOT));
      expect(r.attrs).to.include({ fileId: ROOT, fileType: DIR, size: 0 });
      expect((await s.getattr(99)).status).to.equal(NAS_STATUS.STALE);
      expect((await s.lookup(99, 'x')).status).to.equal(NAS_STATUS.STALE);
    });

    it('create, lookup, getattr; GUARDED refuses an existing name, UNCHECKED returns it', async () => {
      const id = await mkfile(ROOT, 'a.vmx');
      expect(ok(await s.lookup(ROOT, 'a.vmx')).attrs).to.include({ fileId: id, fileType: FILE, size: 0 });
      expect((await s.lookup(ROOT, 'b')).status).to.equal(NAS_STATUS.NOENT);
      expect((await s.create(ROOT, 'a.vmx', FILE, NAS_CREATE.GUARDED)).status).to.equal(NAS_STATUS.EXIST);
      expect(ok(await s.create(ROOT, 'a.vmx', FILE, NAS_CREATE.UNCHECKED)).attrs!.fileId).to.equal(id);
      expect((await s.create(ROOT, 'a.vmx', DIR)).status).to.equal(NAS_STATUS.EXIST);
    });

    it('EXCLUSIVE: a retry with the same verifier succeeds with the same file, another verifier gets EXIST', async () => {
      const a = ok(await s.create(ROOT, '.lck-42', FILE, NAS_CREATE.EXCLUSIVE, 1111)).attrs!.fileId;
      expect(ok(await s.create(ROOT, '.lck-42', FILE, NAS_CREATE.EXCLUSIVE, 1111)).attrs!.fileId).to.equal(a);
      expect((await s.create(ROOT, '.lck-42', FILE, NAS_CREATE.EXCLUSIVE, 2222)).status).to.equal(NAS_STATUS.EXIST);
      expect((await s.create(ROOT, '.lck-43', FILE, 7)).status).to.equal(NAS_STATUS.INVAL);
    });

    it('concurrent EXCLUSIVE creates of one name: exactly one wins', async () => {
      const rs = await Promise.all(Array.from({ length: 8 }, (_, i) => s.create(ROOT, '.lck-7', FILE, NAS_CREATE.EXCLUSIVE, 100 + i)));
      expect(rs.filter((r) => r.status === NAS_STATUS.OK)).to.have.length(1);
      expect(rs.filter((r) => r.status === NAS_STATUS.EXIST)).to.have.length(7);
    });

    it('write and read across chunk boundaries; holes read as zeros; eof', async () => {
      const id = await mkfile(ROOT, 'disk-flat.vmdk');
      const data = pattern(NAS_CHUNK_BYTES + 1000, 1);
      const at = NAS_CHUNK_BYTES - 500;
      expect(ok(await s.write(id, at, data, true)).attrs!.size).to.equal(at + data.length);
      const r = ok(await s.read(id, 0, at + data.length + 10));
      expect(r.eof).to.equal(true);
      expect(Buffer.from(r.data!).subarray(0, at).equals(Buffer.alloc(at))).to.equal(true);
      expect(Buffer.from(r.data!).subarray(at).equals(data)).to.equal(true);
      const mid = ok(await s.read(id, at + 10, 100));
      expect(mid.eof).to.equal(false);
      expect(Buffer.from(mid.data!).equals(data.subarray(10, 110))).to.equal(true);
      expect(ok(await s.read(id, 10 ** 9, 10)).data!.length).to.equal(0);
      // overwrite inside one chunk keeps its neighbours
      ok(await s.write(id, at + 1, Buffer.from([0xaa]), false));
      const after = ok(await s.read(id, at, 3)).data!;
      expect([...after]).to.deep.equal([data[0], 0xaa, data[2]]);
    });

    it('mtime strictly increases on every change even when the clock stands still', async () => {
      const id = await mkfile(ROOT, 'f');
      const t0 = ok(await s.getattr(id)).attrs!.mtimeNs;
      const t1 = ok(await s.write(id, 0, Buffer.from('x'), true)).attrs!.mtimeNs;
      const t2 = ok(await s.write(id, 0, Buffer.from('y'), true)).attrs!.mtimeNs;
      expect(t1 > t0 && t2 > t1).to.equal(true);
      clockNs += 5_000_000_000n;
      expect(ok(await s.setSize(id, 0)).attrs!.mtimeNs).to.equal(clockNs);
      expect(ok(await s.getattr(ROOT)).attrs!.mtimeNs > t0).to.equal(false); // root changed only at create
    });

    it('setattr size: truncate drops the tail, a later grow reads zeros there', async () => {
      const id = await mkfile(ROOT, 'f');
      const data = pattern(3 * NAS_CHUNK_BYTES, 2);
      ok(await s.write(id, 0, data, true));
      ok(await s.setSize(id, NAS_CHUNK_BYTES + 10));
      expect(ok(await s.getattr(id)).attrs!.size).to.equal(NAS_CHUNK_BYTES + 10);
      ok(await s.setSize(id, 3 * NAS_CHUNK_BYTES));
      const r = Buffer.from(ok(await s.read(id, 0, 3 * NAS_CHUNK_BYTES)).data!);
      expect(r.subarray(0, NAS_CHUNK_BYTES + 10).equals(data.subarray(0, NAS_CHUNK_BYTES + 10))).to.equal(true);
      expect(r.subarray(NAS_CHUNK_BYTES + 10).equals(Buffer.alloc(2 * NAS_CHUNK_BYTES - 10))).to.equal(true);
      expect((await s.setSize(ROOT, 0)).status).to.equal(NAS_STATUS.ISDIR);
      expect((await s.setSize(id, 2 ** 41)).status).to.equal(NAS_STATUS.FBIG);
    });

    it('capacity: writes and grows past the share size get NOSPC and change nothing', async () => {
      s = await open(100_000);
      const id = await mkfile(ROOT, 'f');
      ok(await s.write(id, 0, Buffer.alloc(60_000, 1), true));
      const other = await mkfile(ROOT, 'g');
      expect((await s.write(other, 0, Buffer.alloc(50_000, 2), true)).status).to.equal(NAS_STATUS.NOSPC);
      expect((await s.setSize(other, 40_001)).status).to.equal(NAS_STATUS.NOSPC);
      expect(ok(await s.getattr(other)).attrs!.size).to.equal(0);
      ok(await s.setSize(other, 40_000));
      ok(await s.remove(ROOT, 'f'));
      ok(await s.write(other, 0, Buffer.alloc(90_000, 3), true));
    });

    it('remove: files and empty directories; NOTEMPTY, NOENT; a removed id is STALE, never reused', async () => {
      const id = await mkfile(ROOT, 'f');
      ok(await s.write(id, 0, pattern(1000, 3), true));
      const d = await mkdir(ROOT, 'd');
      await mkfile(d, 'inner');
      expect((await s.remove(ROOT, 'd')).status).to.equal(NAS_STATUS.NOTEMPTY);
      expect((await s.remove(ROOT, 'nope')).status).to.equal(NAS_STATUS.NOENT);
      ok(await s.remove(ROOT, 'f'));
      expect((await s.getattr(id)).status).to.equal(NAS_STATUS.STALE);
      expect((await s.read(id, 0, 10)).status).to.equal(NAS_STATUS.STALE);
      ok(await s.remove(d, 'inner'));
      ok(await s.remove(ROOT, 'd'));
      s = await open();
      const again = await mkfile(ROOT, 'f');
      expect(again).to.be.greaterThan(d);
      expect(ok(await s.read(again, 0, 10)).data!.length).to.equal(0);
    });

    it('rename: moves across directories, replaces a file atomically, refuses type clashes and cycles', async () => {
      const a = await mkfile(ROOT, 'a');
      ok(await s.write(a, 0, Buffer.from('AAAA'), true));
      const b = await mkfile(ROOT, 'b');
      ok(await s.rename(ROOT, 'a', ROOT, 'b'));
      expect(ok(await s.lookup(ROOT, 'b')).attrs!.fileId).to.equal(a);
      expect((await s.lookup(ROOT, 'a')).status).to.equal(NAS_STATUS.NOENT);
      expect((await s.getattr(b)).status).to.equal(NAS_STATUS.STALE);
      const d1 = await mkdir(ROOT, 'd1');
      const d2 = await mkdir(d1, 'd2');
      ok(await s.rename(ROOT, 'b', d2, 'moved'));
      expect(Buffer.from(ok(await s.read(a, 0, 4)).data!).toString()).to.equal('AAAA');
      expect((await s.rename(ROOT, 'd1', d2, 'loop')).status).to.equal(NAS_STATUS.INVAL);
      expect((await s.rename(d2, 'moved', ROOT, 'd1')).status).to.equal(NAS_STATUS.ISDIR);
      await mkfile(ROOT, 'plain');
      expect((await s.rename(ROOT, 'd1', ROOT, 'plain')).status).to.equal(NAS_STATUS.NOTDIR);
      await mkdir(ROOT, 'empty');
      expect((await s.rename(d1, 'd2', ROOT, 'd1')).status).to.equal(NAS_STATUS.NOTEMPTY); // onto its own parent, which holds it
      const e = await mkdir(ROOT, 'e');
      await mkfile(e, 'x');
      expect((await s.rename(ROOT, 'empty', ROOT, 'e')).status).to.equal(NAS_STATUS.NOTEMPTY);
      ok(await s.rename(ROOT, 'e', ROOT, 'empty'));
      expect(ok(await s.lookup(ROOT, 'empty')).attrs!.fileId).to.equal(e);
      expect((await s.rename(ROOT, 'nope', ROOT, 'x')).status).to.equal(NAS_STATUS.NOENT);
      expect((await s.rename(ROOT, 'plain', a, 'x')).status).to.equal(NAS_STATUS.NOTDIR);
    });

    it('readdir pages with a cookie: every entry once, in creation order, new ones at the end', async () => {
      const ids: number[] = [];
      for (let i = 0; i < 25; i++) ids.push(await mkfile(ROOT, `f${i}`));
      const seen: number[] = [];
      let cookie = 0;
      for (let page = 0; page < 10; page++) {
        const r = ok(await s.readdir(ROOT, cookie, 10));
        const entries = parseDirents(r.data!);
        if (!entries.ok) throw entries.error;
        seen.push(...entries.value.map((e) => e.fileId));
        if (page === 0) {
          ok(await s.remove(ROOT, 'f15')); // not yet listed: must not appear
          ids.push(await mkfile(ROOT, 'late'));
        }
        if (r.eof) break;
        cookie = r.value!;
      }
      expect(seen).to.deep.equal(ids.filter((id) => id !== ids[15]));
      expect((await s.readdir(ROOT, 0, 0)).status).to.equal(NAS_STATUS.INVAL);
      expect((await s.readdir(ids[0]!, 0, 5)).status).to.equal(NAS_STATUS.NOTDIR);
    });

    it('names and depth: NAMETOOLONG past 255 bytes or NAS_MAX_PATH_DEPTH levels, INVAL for "/" and ".."', async () => {
      expect((await s.create(ROOT, 'x'.repeat(256), FILE)).status).to.equal(NAS_STATUS.NAMETOOLONG);
      expect((await s.create(ROOT, 'a/b', FILE)).status).to.equal(NAS_STATUS.INVAL);
      expect((await s.lookup(ROOT, '..')).status).to.equal(NAS_STATUS.INVAL);
      let d = ROOT;
      for (let i = 0; i < NAS_MAX_PATH_DEPTH; i++) d = await mkdir(d, `l${i}`);
      expect((await s.create(d, 'deeper', DIR)).status).to.equal(NAS_STATUS.NAMETOOLONG);
      await mkfile(d, 'file-at-the-bottom');
      const top = await mkdir(ROOT, 'top');
      expect((await s.rename(ROOT, 'l0', top, 'l0')).status).to.equal(NAS_STATUS.NAMETOOLONG);
    });

    it('files per share: CREATE beyond maxFiles gets NOSPC', async () => {
      s = await open(1024 * 1024, 4); // root + 3
      for (let i = 0; i < 3; i++) await mkfile(ROOT, `f${i}`);
      expect((await s.create(ROOT, 'f3', FILE)).status).to.equal(NAS_STATUS.NOSPC);
      expect((await s.create(ROOT, 'd', DIR)).status).to.equal(NAS_STATUS.NOSPC);
    });

    it('bounds the work waiting on a share: WRITE data past NAS_MAX_QUEUED_WRITE_BYTES gets JUKEBOX', async () => {
      const id = await mkfile(ROOT, 'f');
      s = await open(1024 * 1024 * 1024);
      const mib = Buffer.alloc(1024 * 1024, 1);
      const n = NAS_MAX_QUEUED_WRITE_BYTES / mib.length + 3;
      const rs = await Promise.all(Array.from({ length: n }, (_, i) => s.write(id, (i % 8) * mib.length, mib, false)));
      expect(rs.filter((r) => r.status === NAS_STATUS.JUKEBOX)).to.have.length(3);
      expect(rs.filter((r) => r.status === NAS_STATUS.OK)).to.have.length(n - 3);
      expect(s.stats().queued).to.equal(0);
      ok(await s.write(id, 0, mib, false)); // drained: accepted again
    });

    it('a failed kv batch answers IO and changes nothing, in the store or in the kv', async () => {
      const id = await mkfile(ROOT, 'f');
      ok(await s.write(id, 0, Buffer.from('old!'), true));
      kv.failNext = true;
      expect((await s.write(id, 0, Buffer.from('NEW!NEW!'), true)).status).to.equal(NAS_STATUS.IO);
      kv.failNext = true;
      expect((await s.rename(ROOT, 'f', ROOT, 'g')).status).to.equal(NAS_STATUS.IO);
      kv.failNext = true;
      expect((await s.create(ROOT, 'h', FILE)).status).to.equal(NAS_STATUS.IO);
      for (const store of [s, await open()]) {
        expect(ok(await store.getattr(id)).attrs!.size).to.equal(4);
        expect(Buffer.from(ok(await store.read(id, 0, 10)).data!).toString()).to.equal('old!');
        expect(ok(await store.lookup(ROOT, 'f')).attrs!.fileId).to.equal(id);
        expect((await store.lookup(ROOT, 'h')).status).to.equal(NAS_STATUS.NOENT);
      }
      expect(s.stats().ioErrors).to.equal(3);
    });

    it('reopening the kv finds every file, directory, size, mtime and byte', async () => {
      const d = await mkdir(ROOT, 'vm1');
      const f = await mkfile(d, 'vm1.vmdk');
      const data = pattern(2 * NAS_CHUNK_BYTES + 7, 9);
      ok(await s.write(f, 5, data, true));
      ok(await s.rename(d, 'vm1.vmdk', d, 'vm1-flat.vmdk'));
      const before = ok(await s.getattr(f)).attrs!;
      const s2 = await open();
      expect(ok(await s2.lookup(ROOT, 'vm1')).attrs!.fileId).to.equal(d);
      expect(ok(await s2.lookup(d, 'vm1-flat.vmdk')).attrs).to.deep.equal(before);
      expect(Buffer.from(ok(await s2.read(f, 5, data.length)).data!).equals(data)).to.equal(true);
      expect(s2.stats()).to.include({ files: 1, directories: 2, usedBytes: data.length + 5 });
    });

    it('executeNasRequest maps request records to store calls and replies', async () => {
      const req = (op: NasRequest['op'], fields: Partial<NasRequest>): NasRequest => ({ type: NAS_RECORD.REQUEST, id: 77, op, opFlags: 0, fileId: ROOT, arg: 0, count: 0, name: '', name2: '', data: undefined, ...fields });
      const c = await executeNasRequest(s, req(NAS_OP.CREATE, { name: 'x', opFlags: NAS_CREATE.GUARDED }));
      expect(c).to.include({ id: 77, op: NAS_OP.CREATE, status: NAS_STATUS.OK });
      const id = c.attrs!.fileId;
      expect((await executeNasRequest(s, req(NAS_OP.WRITE, { fileId: id, arg: 2, data: Buffer.from('hi'), opFlags: 1 }))).value).to.equal(2);
      const r = await executeNasRequest(s, req(NAS_OP.READ, { fileId: id, count: 10 }));
      expect(r.flags & 1).to.equal(1);
      expect(Buffer.from(r.data!).toString('hex')).to.equal('00006869');
      expect((await executeNasRequest(s, req(NAS_OP.COMMIT, { fileId: id }))).status).to.equal(NAS_STATUS.OK);
      expect((await executeNasRequest(s, req(NAS_OP.MKDIR, { name: 'd' }))).attrs!.fileType).to.equal(DIR);
      expect((await executeNasRequest(s, req(NAS_OP.RENAME, { name: 'x', arg: ROOT, name2: 'y' }))).status).to.equal(NAS_STATUS.OK);
      expect((await executeNasRequest(s, req(NAS_OP.SETATTR, { fileId: id, arg: 1 }))).attrs!.size).to.equal(1);
      expect((await executeNasRequest(s, req(NAS_OP.READDIR, { count: 10 }))).value).to.be.greaterThan(id);
      expect((await executeNasRequest(s, req(NAS_OP.REMOVE, { name: 'y' }))).status).to.equal(NAS_STATUS.OK);
      expect((await executeNasRequest(s, req(NAS_OP.GETATTR, { fileId: id }))).status).to.equal(NAS_STATUS.STALE);
      expect((await executeNasRequest(s, req(NAS_OP.LOOKUP, { name: 'd' }))).status).to.equal(NAS_STATUS.OK);
    });
  });
}
