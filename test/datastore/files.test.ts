// Files on the datastore (§7.8, §7.9): create (under the parent directory's lock, blocks claimed with ATS,
// entry journalled), grow, delete, list; concurrent creates by several hosts; a crash of a host holding a
// new file open; and inspectVolume, which decodes the metadata and reports every inconsistency with its offset.
import { expect } from 'chai';
import { DS_ERROR } from '../../lib/datastore/errors.js';
import { type Layout, emitEntry, entryLba, journalLbaOf } from '../../lib/datastore/format.js';
import { claimBlocks, createFile, deleteFile, growFile, listDir, settleUntilDone } from '../../lib/datastore/files.js';
import { inspectVolume } from '../../lib/datastore/inspect.js';
import type { EntryMeta, Extent, FileEntry } from '../../lib/datastore/format.js';
import { crc32 } from 'node:zlib';
import { Sim } from './sim.js';

const MIB = 1024 * 1024;

async function setup(...names: string[]): Promise<Sim> {
  const sim = new Sim({ lunBytes: 32 * MIB });
  await sim.format();
  await sim.load();
  for (const n of names) sim.host(n).mount();
  await sim.advance(50);
  return sim;
}

async function problems(sim: Sim): Promise<string[]> {
  const r = inspectVolume(await sim.metadata(), sim.blockSize);
  return r.report!.problems.map((p) => `${p.offset}: ${p.message}`);
}

describe('datastore files (§7.8, §7.9)', () => {
  it('creates a VM directory with its files; each new file is open exclusive; the volume inspects clean', async () => {
    const sim = await setup('esx1');
    const h = sim.host('esx1');
    const dir = h.run('mkdir', createFile(h.ctx, 0, 'web1', 0, 'dir'));
    await sim.advance(100);
    const d = dir.value<number>();
    const vmx = h.run('vmx', createFile(h.ctx, d, 'web1.vmx', 3000));
    await sim.advance(100);
    const flat = h.run('flat', createFile(h.ctx, d, 'web1-flat.vmdk', 3 * MIB));
    await sim.advance(100);
    const ls = h.run('ls', listDir(h.ctx, d));
    await sim.advance(100);
    expect(ls.value<FileEntry[]>().map((e) => e.meta.name).sort()).to.deep.equal(['web1-flat.vmdk', 'web1.vmx']);
    const e = await sim.entry(flat.value<number>());
    expect(e.meta.extents.reduce((n, x) => n + x.count, 0)).to.equal(3);
    expect(e.lock).to.deep.include({ mode: 'exclusive', owner: h.uuid });
    expect((await sim.entry(d)).lock.mode).to.equal('exclusive'); // a new directory is open too
    expect((await sim.entry(0)).lock.mode).to.equal('free'); // the parent's lock was only held while creating
    vmx.value();
    expect(await problems(sim)).to.deep.equal([]);
  });

  it('two hosts creating the same name at once: one gets VFAB_DATASTORE_EXISTS', async () => {
    const sim = await setup('esx1', 'esx2');
    const ps = ['esx1', 'esx2'].map((n) => sim.host(n).run('c', createFile(sim.host(n).ctx, 0, 'same.vmx', 100)));
    await sim.advance(20_000);
    expect(ps.map((p) => p.error()?.code ?? 'ok').sort()).to.deep.equal(['VFAB_DATASTORE_EXISTS', 'ok']);
    expect(await problems(sim)).to.deep.equal([]);
  });

  it('two operations of ONE host creating the same name at once: one gets VFAB_DATASTORE_EXISTS, never two entries', async () => {
    const sim = await setup('esx1');
    const h = sim.host('esx1');
    // the host holds the directory lock once for both (a lock it holds is "held already" to itself), so the
    // host must serialize its own creates in a directory or both would see the name free
    const ps = [h.run('a', createFile(h.ctx, 0, 'same.vmx', 100)), h.run('b', createFile(h.ctx, 0, 'same.vmx', 100))];
    await sim.advance(20_000);
    expect(ps.map((p) => p.error()?.code ?? 'ok').sort()).to.deep.equal(['VFAB_DATASTORE_EXISTS', 'ok']);
    const ls = h.run('ls', listDir(h.ctx, 0));
    await sim.advance(100);
    expect(ls.value<FileEntry[]>().filter((e) => e.meta.name === 'same.vmx')).to.have.length(1);
    expect(await problems(sim)).to.deep.equal([]);
  });

  it('four hosts creating different files in one directory at once all succeed, waiting for the directory lock (not refused "locked by")', async () => {
    const sim = await setup('esx1', 'esx2', 'esx3', 'esx4');
    const t0 = sim.now;
    const ps = ['esx1', 'esx2', 'esx3', 'esx4'].map((n) => sim.host(n).run('c', createFile(sim.host(n).ctx, 0, `${n}.vmx`, 100)));
    await sim.advance(20_000);
    expect(ps.map((p) => p.error()?.message ?? 'ok')).to.deep.equal(['ok', 'ok', 'ok', 'ok']);
    // each waits a few lock hand-overs (30 ms polls), not a heartbeat interval (3 s) per contender
    const done = ['esx1', 'esx2', 'esx3', 'esx4'].map((n) => sim.host(n).eventsOf('file-created')[0]!.atMs - t0);
    expect(Math.max(...done)).to.be.lessThan(1000);
    expect(await problems(sim)).to.deep.equal([]);
  });

  it('hosts creating files at once in different directories get disjoint blocks (bitmap claimed with ATS)', async () => {
    const sim = await setup('esx1', 'esx2', 'esx3');
    const dirs: number[] = [];
    for (const n of ['esx1', 'esx2', 'esx3']) {
      const p = sim.host(n).run('d', createFile(sim.host(n).ctx, 0, `vm-${n}`, 0, 'dir'));
      await sim.advance(100);
      dirs.push(p.value<number>());
    }
    // the block claims themselves, started at the same moment, race on one bitmap block
    const ps = ['esx1', 'esx2', 'esx3'].map((n) => sim.host(n).run('claim', claimBlocks(sim.host(n).ctx, 4, 12)));
    await sim.advance(1000);
    const owned = new Set<number>();
    for (const p of ps) for (const x of p.value<Extent[]>()) for (let b = x.start; b < x.start + x.count; b++) owned.add(b);
    expect(owned.size).to.equal(12);
    expect(sim.log.some((x) => x.kind === 'ats' && x.status === 'miscompare' && x.lba === sim.superblock().layout.bitmapLba)).to.equal(true);
    // and whole creates at once end with disjoint files and a clean volume
    const cs = ['esx1', 'esx2', 'esx3'].map((n, i) => sim.host(n).run('c', createFile(sim.host(n).ctx, dirs[i]!, 'disk-flat.vmdk', 4 * MIB)));
    await sim.advance(1000);
    for (const c of cs) c.value();
    const rep = inspectVolume(await sim.metadata(), sim.blockSize).report!;
    // the 12 claimed blocks above belong to no file: reported as leaked, and nothing else is wrong
    expect(rep.problems.every((p) => /leaked/.test(p.message))).to.equal(true);
    expect(rep.problems).to.have.length(12);
  });

  it('grow adds blocks under the lock; without the lock it is refused; delete frees blocks, entry and lock', async () => {
    const sim = await setup('esx1', 'esx2');
    const h = sim.host('esx1');
    const c = h.run('c', createFile(h.ctx, 0, 'g.vmdk', MIB));
    await sim.advance(100);
    const idx = c.value<number>();
    const g = h.run('g', growFile(h.ctx, idx, 5 * MIB));
    await sim.advance(100);
    expect(g.value<EntryMeta>().extents.reduce((n, x) => n + x.count, 0)).to.equal(5);
    const other = sim.host('esx2').run('g', growFile(sim.host('esx2').ctx, idx, 6 * MIB));
    await sim.advance(100);
    expect(other.error()?.code).to.equal(DS_ERROR.LOCKED);
    expect(await problems(sim)).to.deep.equal([]);
    const d = h.run('d', deleteFile(h.ctx, idx));
    await sim.advance(100);
    d.value();
    const e = await sim.entry(idx);
    expect([e.meta.type, e.lock.mode]).to.deep.equal(['unused', 'free']);
    const rep = inspectVolume(await sim.metadata(), sim.blockSize).report!;
    expect(rep.bitmap[0]!.bits.every((x) => x === 0)).to.equal(true);
    expect(rep.problems).to.deep.equal([]);
  });

  it('refuses bad names and files larger than the free space (VFAB_DATASTORE_NO_SPACE), leaving no leaked blocks', async () => {
    const sim = await setup('esx1');
    const h = sim.host('esx1');
    const bad = h.run('b', createFile(h.ctx, 0, 'a/b', 1));
    const big = h.run('c', createFile(h.ctx, 0, 'huge', 1000 * MIB));
    await sim.advance(500);
    expect(bad.error()?.code).to.equal(DS_ERROR.BAD_OPTION);
    expect(big.error()?.code).to.equal(DS_ERROR.NO_SPACE);
    const rep = inspectVolume(await sim.metadata(), sim.blockSize).report!;
    expect(rep.problems.filter((p) => /leaked/.test(p.message))).to.deep.equal([]);
  });

  it('a host that dies holding a new file open: another host breaks the lock, and the volume inspects clean', async () => {
    const sim = await setup('esx1', 'esx2');
    const h = sim.host('esx1');
    const c = h.run('c', createFile(h.ctx, 0, 'crash.vmdk', 2 * MIB));
    await sim.advance(100);
    const idx = c.value<number>();
    sim.kill('esx1');
    const p = await sim.host('esx2').lockFor(idx, 'exclusive', 20_000);
    expect(p.value<FileEntry>().meta.name).to.equal('crash.vmdk');
    expect(await problems(sim)).to.deep.equal([]);
  });

  it('inspectVolume reports corrupt entries, double allocation and leaked blocks with their byte offsets', async () => {
    const sim = await setup('esx1');
    const h = sim.host('esx1');
    const c = h.run('c', createFile(h.ctx, 0, 'a.vmdk', 2 * MIB));
    await sim.advance(100);
    const a = await sim.entry(c.value<number>());
    const l = sim.superblock().layout;
    const bs = l.blockSize;
    // entry 10 claims a's blocks too; entry 11 is damaged; bit 20 is set without a file
    await sim.exec('x', { kind: 'write', lba: entryLba(l, 10), data: emitEntry({ ...a, index: 10, meta: { ...a.meta, name: 'b.vmdk' } }, bs) });
    const broken = emitEntry({ ...a, index: 11 }, bs);
    broken[300] = 1; // holder padding, with the CRC left as is
    await sim.exec('x', { kind: 'write', lba: entryLba(l, 11), data: broken });
    const meta = await sim.metadata();
    const bm = l.bitmapLba * bs;
    meta[bm + 16 + 2] |= 0x10; // file block 20, with the bitmap block's CRC made right again
    meta.writeUInt32LE(crc32(meta.subarray(bm, bm + 508)) >>> 0, bm + 508);
    const rep = inspectVolume(meta, bs).report!;
    const at = (offset: number, re: RegExp): boolean => rep.problems.some((p) => p.offset === offset && re.test(p.message));
    expect(at(entryLba(l, 11) * bs + 508, /file entry: crc32/)).to.equal(true);
    expect(at(entryLba(l, 10) * bs + 396, /file block 0 belongs to entries 1 and 10/)).to.equal(true);
    expect(at(bm + 16 + 2, /file block 20 is marked allocated but no file uses it/)).to.equal(true);
    expect(rep.problems).to.have.length(4); // the two above count blocks 0 and 1
    expect(inspectVolume(Buffer.alloc(512), 512).problem!.code).to.equal(DS_ERROR.BAD_MAGIC);
  });

  // The array stops answering (killed, stalled) in the middle of a create: the host's I/O times out, but
  // what reached the array happened. Nothing may stay behind once the host creates a file again.
  async function failMidCreate(stallOn: (kind: string, lba: number | undefined, l: Layout, journal: number) => boolean): Promise<{ sim: Sim; failed: string | undefined }> {
    const sim = await setup('esx1');
    const h = sim.host('esx1');
    const from = h.issuedLog.length;
    const p = h.run('c', createFile(h.ctx, 0, 'lost.vmdk', 2 * MIB));
    for (let i = 0; i < 1000 && !h.issuedLog.slice(from).some((x) => stallOn(x.kind, x.lba, sim.superblock().layout, journalLbaOf(sim.superblock().layout, h.ctx.slot!.index))); i++) await sim.advance(1);
    sim.stall('esx1', sim.now + 9_000); // replies after the 8 s I/O timeout
    await sim.advance(12_000);
    return { sim, failed: p.error()?.code };
  }

  it('a create whose bitmap claim times out at the array: the next create gives the blocks and the entry back', async () => {
    const { sim, failed } = await failMidCreate((kind, lba, l) => kind === 'ats' && lba === l.bitmapLba);
    expect(failed).to.equal(DS_ERROR.IO_FAILED);
    expect((await problems(sim)).join('\n')).to.match(/marked allocated but no file uses it/); // leaked until settled
    const h = sim.host('esx1');
    const next = h.run('c2', createFile(h.ctx, 0, 'next.vmdk', 1 * MIB));
    await sim.advance(200);
    expect((await sim.entry(next.value<number>())).meta.extents).to.deep.equal([{ start: 0, count: 1 }]); // block 0 reused
    expect(await problems(sim)).to.deep.equal([]);
    expect(h.eventsOf('orphans-freed')).to.have.length(1);
    const table = await Promise.all(Array.from({ length: 4 }, (_, i) => sim.entry(i)));
    expect(table.filter((e) => e.meta.type === 'unused' && e.lock.mode !== 'free'), 'no unused entry left locked').to.deep.equal([]);
  });

  it('a create whose journal record landed but was never applied: replayed before the next update, not skipped', async () => {
    const { sim, failed } = await failMidCreate((kind, lba, _l, j) => kind === 'write' && lba !== undefined && lba > j && lba < j + 64);
    expect(failed).to.equal(DS_ERROR.IO_FAILED);
    const h = sim.host('esx1');
    const next = h.run('c2', createFile(h.ctx, 0, 'next.vmdk', 1 * MIB));
    await sim.advance(200);
    next.value();
    const names = (await Promise.all(Array.from({ length: 4 }, (_, i) => sim.entry(i)))).map((e) => e.meta.name);
    expect(names).to.include.members(['lost.vmdk', 'next.vmdk']); // the journalled create completed by the replay
    expect(h.eventsOf('journal-replayed')).to.have.length(1);
    expect(await problems(sim)).to.deep.equal([]);
  });

  it('a create whose release of the parent directory times out: the directory is released again, other hosts can create in it', async () => {
    const sim = await setup('esx1', 'esx2');
    const h = sim.host('esx1');
    const from = h.issuedLog.length;
    const p = h.run('c', createFile(h.ctx, 0, 'a.vmx', 100));
    // stalled from the checkpoint write on, for longer than two I/O timeouts: the checkpoint times out, then
    // the read before the release does, so the release is never sent
    const checkpoint = journalLbaOf(sim.superblock().layout, h.ctx.slot!.index);
    for (let i = 0; i < 1000 && !h.issuedLog.slice(from).some((x) => x.kind === 'write' && x.lba === checkpoint); i++) await sim.advance(1);
    sim.stall('esx1', sim.now + 20_000);
    await sim.advance(25_000);
    expect(p.error()?.code).to.equal(DS_ERROR.IO_FAILED);
    expect((await sim.entry(0)).lock.mode, 'the release never reached the array').to.equal('exclusive');
    const s = h.run('settle', settleUntilDone(h.ctx));
    await sim.advance(200);
    expect(s.value<boolean>()).to.equal(true);
    expect((await sim.entry(0)).lock.mode).to.equal('free');
    const other = sim.host('esx2').run('c2', createFile(sim.host('esx2').ctx, 0, 'b.vmx', 100));
    await sim.advance(200);
    other.value();
    expect(await problems(sim)).to.deep.equal([]);
  });
});

