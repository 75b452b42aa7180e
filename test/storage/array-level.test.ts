// The LevelDB-backed array through the target: LUN table and persistent reservations survive close and
// reopen ("persistent reservations must be persistent"), SPC-2 reservations do not, a corrupted stored
// value is MEDIUM ERROR, and every acknowledged write survives kill -9 of the process.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { Level } from 'level';
import { openArray, type StorageArray } from '../../lib/storage/array.js';
import { blockKey } from '../../lib/storage/blockstore-level.js';
import * as cdb from '../../lib/storage/cdb.js';
import { PR_TYPE } from '../../lib/storage/reservations.js';
import { ASC, SENSE_KEY } from '../../lib/storage/scsi.js';
import { A, B, blocksOf, expectConflict, expectGood, expectSense, run } from './helpers.js';
import { makeTempDir, removeTempDir } from './tmpdir.js';

describe('storage array on LevelDB', function () {
  this.timeout(30_000);
  let dir: string;
  let arr: StorageArray | undefined;
  beforeEach(() => {
    dir = makeTempDir('arr');
  });
  afterEach(async () => {
    await arr?.close();
    arr = undefined;
    removeTempDir(dir);
  });

  it('round-trips data through the target and keeps LUNs, IDs and data after reopening', async () => {
    arr = await openArray({ dataDir: dir, name: 'a1' });
    const l0 = await arr.createLun({ name: 'ds0', sizeBytes: 512 * 100 });
    const l1 = await arr.createLun({ name: 'ds1', sizeBytes: 4096 * 100, blockSizeBytes: 4096 });
    const d = blocksOf(3, 4096, 1);
    expectGood(await run(arr, A, 1, cdb.write16(10, 3, { fua: true }), d));
    await arr.growLun('ds0', 512 * 200);
    await arr.close();
    arr = await openArray({ dataDir: dir, name: 'a1' });
    expect(arr.listLuns()).to.deep.equal([{ ...l0, sizeBytes: 512 * 200, blocks: 200 }, l1]);
    expect(expectGood(await run(arr, A, 1, cdb.read16(10, 3))).equals(d)).to.equal(true);
    const l2 = await arr.createLun({ name: 'ds2', sizeBytes: 512 * 8 });
    expect([l0.id, l1.id]).to.not.include(l2.id);
  });

  it('deleteLun removes blocks and record; a new LUN with the same number starts empty', async () => {
    arr = await openArray({ dataDir: dir });
    await arr.createLun({ name: 'old', sizeBytes: 512 * 10 });
    expectGood(await run(arr, A, 0, cdb.write10(0, 1), Buffer.alloc(512, 7)));
    await arr.deleteLun('old');
    expectSense(await run(arr, A, 0, cdb.read10(0, 1)), SENSE_KEY.ILLEGAL_REQUEST, ASC.LOGICAL_UNIT_NOT_SUPPORTED);
    await arr.createLun({ name: 'new', sizeBytes: 512 * 10 });
    expect(expectGood(await run(arr, A, 0, cdb.read10(0, 1))).equals(Buffer.alloc(512))).to.equal(true);
    await arr.close();
    arr = await openArray({ dataDir: dir });
    expect(arr.listLuns().map((l) => l.name)).to.deep.equal(['new']);
  });

  it('persistent reservations and registrations survive close and reopen; SPC-2 reservations do not', async () => {
    arr = await openArray({ dataDir: dir });
    await arr.createLun({ name: 'ds', sizeBytes: 512 * 10 });
    await arr.createLun({ name: 'ds-b', sizeBytes: 512 * 10 });
    const reg = cdb.prOut.register(0n, 0xa1n);
    expectGood(await run(arr, A, 0, reg.cdb, reg.dataOut));
    const regB = cdb.prOut.register(0n, 0xb2n);
    expectGood(await run(arr, B, 0, regB.cdb, regB.dataOut));
    const res = cdb.prOut.reserve(0xa1n, PR_TYPE.WRITE_EXCLUSIVE_REGISTRANTS_ONLY);
    expectGood(await run(arr, A, 0, res.cdb, res.dataOut));
    expectGood(await run(arr, A, 1, cdb.reserve6()));
    await arr.close();
    arr = await openArray({ dataDir: dir });
    const keys = cdb.parseReadKeys(expectGood(await run(arr, 'iqn.other', 0, cdb.prIn.readKeys())))!;
    expect(keys).to.deep.equal({ generation: 2, keys: [0xa1n, 0xb2n] });
    const rr = cdb.parseReadReservation(expectGood(await run(arr, 'iqn.other', 0, cdb.prIn.readReservation())))!;
    expect(rr.reservation).to.deep.equal({ key: 0xa1n, scope: 0, type: PR_TYPE.WRITE_EXCLUSIVE_REGISTRANTS_ONLY });
    expectConflict(await run(arr, 'iqn.other', 0, cdb.write10(0, 1), Buffer.alloc(512, 1)));
    expectGood(await run(arr, B, 0, cdb.write10(0, 1), Buffer.alloc(512, 1)));
    expectGood(await run(arr, B, 1, cdb.write10(0, 1), Buffer.alloc(512, 1))); // SPC-2 reservation gone
  });

  it('a stored value corrupted directly in LevelDB reads as MEDIUM ERROR / UNRECOVERED READ ERROR', async () => {
    arr = await openArray({ dataDir: dir });
    await arr.createLun({ name: 'ds', sizeBytes: 512 * 10 });
    expectGood(await run(arr, A, 0, cdb.write10(2, 2), blocksOf(2, 512, 4)));
    await arr.close();
    const db = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    const v = Buffer.from((await db.get(blockKey(0, 3)))!);
    v[200] ^= 0x04;
    await db.put(blockKey(0, 3), v);
    await db.close();
    arr = await openArray({ dataDir: dir });
    const r = await run(arr, A, 0, cdb.read10(2, 2));
    expectSense(r, SENSE_KEY.MEDIUM_ERROR, ASC.UNRECOVERED_READ_ERROR, 3);
    expect(r.dataIn).to.equal(undefined);
    expect(arr.stats().totals.checksumErrors).to.equal(1);
    expect(expectGood(await run(arr, A, 0, cdb.read10(2, 1))).equals(blocksOf(1, 512, 4))).to.equal(true);
  });

  it('every acknowledged write survives kill -9 of the array process', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/storage/fixtures/acked-writer.ts', dir, '4000'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const acked = new Set<number>();
    let buf = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('writer did not reach 200 acks in 20 s')), 20_000);
      child.stdout!.on('data', (chunk: Buffer) => {
        buf += chunk.toString();
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.startsWith('ack ')) acked.add(Number(line.slice(4)));
        }
        if (acked.size >= 200 && child.exitCode === null && !child.killed) {
          clearTimeout(timer);
          child.kill('SIGKILL'); // mid-stream: writes are still in flight
          resolve();
        }
      });
      child.on('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(undefined) : child.on('exit', r)));
    expect(acked.size).to.be.at.least(200);
    arr = await openArray({ dataDir: dir });
    for (const i of acked) {
      const d = expectGood(await run(arr, A, 0, cdb.read16(i, 1)));
      expect(d.readUInt32BE(0), `block ${i}`).to.equal(i);
    }
  });
});
