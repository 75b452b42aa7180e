// READ fast path (lib/storage/target.ts submit, LevelBlockStore.readBlockCb, MemoryBlockStore.readRunCb): a READ (10)/(16)
// skips the Promise chain but must answer exactly what execute() answers (SBC-3 READ, SPC-4 reservations,
// docs/storage-model.md error table), never call back synchronously, and count stats the same way. Also
// compact() (used by the bench before measuring) keeps data.
import { expect } from 'chai';
import { LevelBlockStore, blockKey } from '../../lib/storage/blockstore-level.js';
import { openArray, type StorageArray } from '../../lib/storage/array.js';
import { BlockTarget, isSubmitTarget } from '../../lib/storage/target.js';
import { MemoryBlockStore } from '../../lib/storage/blockstore-memory.js';
import { compareAndWrite, read10, read16, reserve6, write10, write16 } from '../../lib/storage/cdb.js';
import { ASC, SCSI_STATUS, SENSE_KEY, type ScsiCommand, type ScsiResult } from '../../lib/storage/scsi.js';
import type { VfabError } from '../../lib/errors.js';
import { A, B, blocksOf, expectConflict, expectGood, expectSense, run } from './helpers.js';
import { makeTempDir, removeTempDir } from './tmpdir.js';

const BS = 4096;

function submit(arr: StorageArray, cmd: ScsiCommand): { result: Promise<ScsiResult>; sync: boolean } {
  let answered = false;
  const result = new Promise<ScsiResult>((resolve) => {
    arr.submit(cmd, 'ctx', (ctx, res) => {
      expect(ctx).to.equal('ctx');
      expect(answered, 'done called once').to.equal(false);
      answered = true;
      resolve(res);
    });
  });
  return { result, sync: answered };
}

describe('storage/READ fast path (submit) and compact', function () {
  this.timeout(20_000);
  let dir: string;
  let arr: StorageArray;
  beforeEach(async () => {
    dir = makeTempDir('fastread');
    arr = await openArray({ dataDir: dir });
    await arr.createLun({ name: 'ds', sizeBytes: 64 * BS, blockSizeBytes: BS });
  });
  afterEach(async () => {
    await arr.close();
    removeTempDir(dir);
  });

  it('the array is a SubmitTarget', () => {
    expect(isSubmitTarget(arr)).to.equal(true);
  });

  it('READ (16) and READ (10) of one block answer the written data, asynchronously, like execute (SBC-3)', async () => {
    const data = Buffer.alloc(BS, 0x3c);
    data.writeUInt32BE(0xdeadbeef, 100);
    await arr.execute({ initiator: A, lun: 0, cdb: Buffer.from([0x8a, 0, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 1, 0, 0]), dataOut: data });
    for (const cdb of [read16(7, 1), read10(7, 1)]) {
      const s = submit(arr, { initiator: A, lun: 0, cdb });
      expect(s.sync, 'never answered inside submit').to.equal(false);
      const fast = await s.result;
      const slow = await arr.execute({ initiator: A, lun: 0, cdb });
      expect(expectGood(fast).equals(data)).to.equal(true);
      expect(Buffer.from(fast.dataIn!).equals(Buffer.from(slow.dataIn!))).to.equal(true);
    }
    const stats = arr.stats().luns[0]!;
    expect(stats.reads).to.equal(4);
    expect(stats.readBytes).to.equal(4 * BS);
  });

  it('an unwritten block reads as zeros (thin, LBPRZ)', async () => {
    const r = await submit(arr, { initiator: A, lun: 0, cdb: read16(63, 1) }).result;
    expect(expectGood(r).equals(Buffer.alloc(BS))).to.equal(true);
  });

  it('out of range, RDPROTECT, missing LUN and reservation conflict give the same answers as execute', async () => {
    const rdprotect = read16(0, 1);
    rdprotect[1] = 0x20;
    const cases: ScsiCommand[] = [
      { initiator: A, lun: 0, cdb: read16(64, 1) },
      { initiator: A, lun: 0, cdb: rdprotect },
      { initiator: A, lun: 9, cdb: read16(0, 1) },
      { initiator: A, lun: 0, cdb: read16(0, 0) },
      { initiator: A, lun: 0, cdb: read16(0, 2) },
    ];
    for (const cmd of cases) {
      const fast = await submit(arr, cmd).result;
      const slow = await arr.execute(cmd);
      expect(fast, `cdb ${Buffer.from(cmd.cdb).toString('hex')}`).to.deep.equal(slow);
    }
    expectSense(await submit(arr, cases[0]!).result, SENSE_KEY.ILLEGAL_REQUEST, [0x21, 0x00]);
    // SPC-2 reservation by B: A's READ conflicts on both paths
    expectGood(await arr.execute({ initiator: B, lun: 0, cdb: reserve6() }));
    expectConflict(await submit(arr, { initiator: A, lun: 0, cdb: read16(0, 1) }).result);
    expectGood(await submit(arr, { initiator: B, lun: 0, cdb: read16(0, 1) }).result);
  });

  it('a corrupted block is MEDIUM ERROR / UNRECOVERED READ ERROR with INFORMATION = LBA, counted once', async () => {
    await arr.execute({ initiator: A, lun: 0, cdb: Buffer.from([0x8a, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 1, 0, 0]), dataOut: Buffer.alloc(BS, 1) });
    await arr.close();
    const store = await LevelBlockStore.open(dir);
    const bad = Buffer.from((await store.db.get(blockKey(0, 5)))!);
    bad[200] ^= 0x01;
    await store.db.put(blockKey(0, 5), bad);
    await store.close();
    arr = await openArray({ dataDir: dir });
    const r = await submit(arr, { initiator: A, lun: 0, cdb: read16(5, 1) }).result;
    expect(r.status).to.equal(SCSI_STATUS.CHECK_CONDITION);
    expectSense(r, SENSE_KEY.MEDIUM_ERROR, ASC.UNRECOVERED_READ_ERROR, 5);
    expect(r.dataIn).to.equal(undefined);
    const s = arr.stats().luns[0]!;
    expect([s.checksumErrors, s.checkConditions, s.reads]).to.deep.equal([1, 1, 0]);
  });

  it('readBlockCb on a closed store answers VFAB_STORAGE_CLOSED, asynchronously', async () => {
    const store = await LevelBlockStore.open(makeTempDir('fastread-closed'));
    const loc = store.db.location;
    await store.close();
    let sync = true;
    const got = await new Promise<VfabError | undefined>((resolve) => {
      store.readBlockCb(0, 0, BS, { blockRead: (_d, e) => resolve(e) });
      sync = false;
    });
    expect(sync).to.equal(false);
    expect(got?.code).to.equal('VFAB_STORAGE_CLOSED');
    removeTempDir(loc);
  });

  it('compact() keeps every block and the LUN table; a memory array compacts as a no-op', async () => {
    for (let i = 0; i < 16; i++) {
      await arr.execute({ initiator: A, lun: 0, cdb: Buffer.from([0x8a, 0, 0, 0, 0, 0, 0, 0, 0, i, 0, 0, 0, 1, 0, 0]), dataOut: Buffer.alloc(BS, i + 1) });
    }
    await arr.compact();
    for (let i = 0; i < 16; i++) {
      const r = await submit(arr, { initiator: A, lun: 0, cdb: read16(i, 1) }).result;
      expect(expectGood(r).every((b) => b === i + 1), `block ${i}`).to.equal(true);
    }
    expect(arr.listLuns().map((l) => l.name)).to.deep.equal(['ds']);
    const mem = await openArray();
    await mem.compact();
    await mem.close();
  });
});

describe('storage/READ fast path on a memory store (readRunCb: reads of any length)', () => {
  const MBS = 512 as const;
  let store: MemoryBlockStore;
  let t: BlockTarget;
  const lunInfo = { lun: 0, name: 'm', id: 'naa.6' + '0'.repeat(31), sizeBytes: 64 * MBS, blockSizeBytes: MBS, blocks: 64, createdAtMs: 0 };
  beforeEach(() => {
    store = new MemoryBlockStore();
    t = new BlockTarget(store);
    t.addLun(lunInfo);
  });
  const submitTo = (cmd: ScsiCommand): { result: Promise<ScsiResult>; sync: boolean } => {
    let answered = false;
    const result = new Promise<ScsiResult>((resolve) => {
      t.submit(cmd, 'ctx', (_ctx, res) => {
        answered = true;
        // the data is lent for the call only: keep a copy
        resolve(res.dataIn !== undefined ? { ...res, dataIn: Buffer.from(res.dataIn) } : res);
      });
    });
    return { result, sync: answered };
  };

  it('an 8-block READ (16)/(10) answers the written data (and zeros for unwritten blocks) like execute, asynchronously', async () => {
    const data = blocksOf(6, MBS, 9);
    expectGood(await run(t, A, 0, Buffer.from([0x8a, 0, 0, 0, 0, 0, 0, 0, 0, 10, 0, 0, 0, 6, 0, 0]), data));
    for (const cdb of [read16(8, 8), read10(8, 8), read16(0, 64)]) {
      const s = submitTo({ initiator: A, lun: 0, cdb });
      expect(s.sync, 'never answered inside submit').to.equal(false);
      const fast = await s.result;
      const slow = await t.execute({ initiator: A, lun: 0, cdb });
      expect(Buffer.from(expectGood(fast)).equals(Buffer.from(expectGood(slow)))).to.equal(true);
    }
    const r = expectGood(await submitTo({ initiator: A, lun: 0, cdb: read16(8, 8) }).result);
    expect(r.subarray(0, 2 * MBS).equals(Buffer.alloc(2 * MBS))).to.equal(true);
    expect(r.subarray(2 * MBS).equals(data)).to.equal(true);
    expect(t.lunStats(0)!.reads).to.equal(7);
  });

  it('reads of one turn each get their own blocks (the lent scratch is refilled per answer)', async () => {
    for (let i = 0; i < 4; i++) expectGood(await run(t, A, 0, Buffer.from([0x8a, 0, 0, 0, 0, 0, 0, 0, 0, i * 8, 0, 0, 0, 8, 0, 0]), Buffer.alloc(8 * MBS, i + 1)));
    const all = await Promise.all([0, 1, 2, 3].map((i) => submitTo({ initiator: A, lun: 0, cdb: read16(i * 8, 8) }).result));
    all.forEach((r, i) => expect(expectGood(r).every((b) => b === i + 1), `read ${i}`).to.equal(true));
  });

  it('a block changed through rawValue is MEDIUM ERROR with its LBA on the fast path too; out of range as execute', async () => {
    expectGood(await run(t, A, 0, Buffer.from([0x8a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0]), blocksOf(8, MBS, 3)));
    expectGood(await submitTo({ initiator: A, lun: 0, cdb: read16(0, 8) }).result);
    store.rawValue(0, 5)![100]! ^= 0x10;
    const r = await submitTo({ initiator: A, lun: 0, cdb: read16(0, 8) }).result;
    expectSense(r, SENSE_KEY.MEDIUM_ERROR, ASC.UNRECOVERED_READ_ERROR, 5);
    expect(r.dataIn).to.equal(undefined);
    for (const cdb of [read16(60, 8), read16(0, 0)]) {
      expect(await submitTo({ initiator: A, lun: 0, cdb }).result).to.deep.equal(await t.execute({ initiator: A, lun: 0, cdb }));
    }
  });

  it('readRunCb on a closed store answers VFAB_STORAGE_CLOSED, asynchronously', async () => {
    await store.close();
    let sync = true;
    const got = await new Promise<VfabError | undefined>((resolve) => {
      store.readRunCb(0, 0, 8, MBS, { blockRead: (_d, e) => resolve(e) });
      sync = false;
    });
    expect(sync).to.equal(false);
    expect(got?.code).to.equal('VFAB_STORAGE_CLOSED');
  });
});

describe('storage/WRITE fast path on a memory store (writeBlocksNow)', () => {
  const MBS = 512 as const;
  const lunInfo = { lun: 0, name: 'm', id: 'naa.6' + '0'.repeat(31), sizeBytes: 64 * MBS, blockSizeBytes: MBS, blocks: 64, createdAtMs: 0 };
  const fresh = (): { store: MemoryBlockStore; t: BlockTarget } => {
    const store = new MemoryBlockStore();
    const t = new BlockTarget(store);
    t.addLun(lunInfo);
    return { store, t };
  };
  const submitTo = (t: BlockTarget, cmd: ScsiCommand): { result: Promise<ScsiResult>; sync: boolean } => {
    let answered = false;
    const result = new Promise<ScsiResult>((resolve) => {
      t.submit(cmd, 'ctx', (ctx, res) => {
        expect(ctx).to.equal('ctx');
        answered = true;
        resolve(res);
      });
    });
    return { result, sync: answered };
  };

  it('WRITE (16)/(10) land at once, answer GOOD asynchronously, count like execute', async () => {
    const { t } = fresh();
    const data = blocksOf(8, MBS, 4);
    for (const cdb of [write16(8, 8), write10(16, 8)]) {
      const s = submitTo(t, { initiator: A, lun: 0, cdb, dataOut: data });
      expect(s.sync, 'never answered inside submit').to.equal(false);
      expectGood(await s.result);
    }
    expect(Buffer.from(expectGood(await run(t, A, 0, read16(8, 16)))).equals(Buffer.concat([data, data]))).to.equal(true);
    expect([t.lunStats(0)!.writes, t.lunStats(0)!.writtenBytes]).to.deep.equal([2, 16 * MBS]);
  });

  it('short data-out, out of range, WRPROTECT, reservation conflict and a closed store answer as execute', async () => {
    const wrprotect = write16(0, 1);
    wrprotect[1] = 0x20;
    const cases: ScsiCommand[] = [
      { initiator: A, lun: 0, cdb: write16(0, 2), dataOut: Buffer.alloc(MBS) },
      { initiator: A, lun: 0, cdb: write16(60, 8), dataOut: Buffer.alloc(8 * MBS) },
      { initiator: A, lun: 0, cdb: wrprotect, dataOut: Buffer.alloc(MBS) },
      { initiator: A, lun: 0, cdb: write16(0, 0) },
      { initiator: A, lun: 9, cdb: write16(0, 1), dataOut: Buffer.alloc(MBS) },
    ];
    for (const cmd of cases) {
      const a = fresh();
      const b = fresh();
      expect(await submitTo(a.t, cmd).result, `cdb ${Buffer.from(cmd.cdb).toString('hex')}`).to.deep.equal(await b.t.execute(cmd));
    }
    const { store, t } = fresh();
    expectGood(await run(t, B, 0, reserve6()));
    expectConflict(await submitTo(t, { initiator: A, lun: 0, cdb: write16(0, 1), dataOut: Buffer.alloc(MBS) }).result);
    await store.close();
    const closed = await submitTo(t, { initiator: B, lun: 0, cdb: write16(0, 1), dataOut: Buffer.alloc(MBS) }).result;
    expectSense(closed, SENSE_KEY.MEDIUM_ERROR, ASC.WRITE_ERROR);
  });

  it('a write overlapping a range under the lock (COMPARE AND WRITE running) waits for it, as on the slow path', async () => {
    const { store, t } = fresh();
    expectGood(await run(t, A, 0, write16(0, 1), Buffer.alloc(MBS, 1)));
    // a COMPARE AND WRITE whose read is held back keeps LBA 0 locked
    let releaseRead: (() => void) | undefined;
    const realRead = store.readBlocks.bind(store);
    store.readBlocks = async (...args) => {
      await new Promise<void>((r) => (releaseRead = r));
      return realRead(...args);
    };
    const caw = run(t, A, 0, compareAndWrite(0, 1), Buffer.concat([Buffer.alloc(MBS, 1), Buffer.alloc(MBS, 2)]));
    await new Promise((r) => setImmediate(r));
    const w = submitTo(t, { initiator: A, lun: 0, cdb: write16(0, 1), dataOut: Buffer.alloc(MBS, 3) }).result;
    await new Promise((r) => setImmediate(r));
    store.readBlocks = realRead;
    releaseRead!();
    expectGood(await caw);
    expectGood(await w);
    // the plain write came after the atomic compare-and-write, so its data is what stays
    expect(expectGood(await run(t, A, 0, read16(0, 1))).every((x) => x === 3)).to.equal(true);
  });
});
