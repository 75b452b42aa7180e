// COMPARE AND WRITE atomicity (§7.3 ATS): 8 async clients x 100 increments of a shared counter block
// through CAW retry loops, on the in-memory and the LevelDB array; the final count must be exact.
// Plain WRITEs of an overlapping range racing a CAW must not slip between its compare and its write.
import { expect } from 'chai';
import { openArray, type StorageArray } from '../../lib/storage/array.js';
import * as cdb from '../../lib/storage/cdb.js';
import { SCSI_STATUS, SENSE_KEY } from '../../lib/storage/scsi.js';
import { expectGood, run } from './helpers.js';
import { makeTempDir, removeTempDir } from './tmpdir.js';

const CLIENTS = 8;
const INCREMENTS = 100;
const MAX_ATTEMPTS = 100_000; // bound on the retry loops

async function incrementLoop(arr: StorageArray, initiator: string, lba: number, bs: number): Promise<number> {
  let miscompares = 0;
  for (let done = 0, attempts = 0; done < INCREMENTS; attempts++) {
    if (attempts > MAX_ATTEMPTS) throw new Error('CAW retry loop did not converge');
    const cur = expectGood(await run(arr, initiator, 0, cdb.read16(lba, 1)));
    const next = Buffer.from(cur);
    next.writeUInt32BE(cur.readUInt32BE(0) + 1, 0);
    next.write(initiator.padEnd(16).slice(0, 16), 8, 'latin1'); // last writer, so blocks really differ
    const r = await run(arr, initiator, 0, cdb.compareAndWrite(lba, 1), Buffer.concat([cur, next]));
    if (r.status === SCSI_STATUS.GOOD) done++;
    else if (r.sense?.key === SENSE_KEY.MISCOMPARE) miscompares++;
    else throw new Error(`unexpected CAW answer ${JSON.stringify(r)}`);
  }
  return miscompares;
}

for (const kind of ['memory', 'level'] as const) {
  describe(`COMPARE AND WRITE atomicity (§7.3) on the ${kind} array`, function () {
    this.timeout(60_000);
    let arr: StorageArray;
    let dir: string | undefined;
    beforeEach(async () => {
      dir = kind === 'level' ? makeTempDir('caw') : undefined;
      arr = await openArray(dir === undefined ? {} : { dataDir: dir });
      await arr.createLun({ name: 'ds', sizeBytes: 4096 * 64, blockSizeBytes: 4096 });
    });
    afterEach(async () => {
      await arr.close();
      if (dir !== undefined) removeTempDir(dir);
    });

    it(`${CLIENTS} clients x ${INCREMENTS} CAW increments give exactly ${CLIENTS * INCREMENTS}`, async () => {
      const clients = Array.from({ length: CLIENTS }, (_, i) => incrementLoop(arr, `iqn.test:client-${i}`, 3, 4096));
      const miscompares = (await Promise.all(clients)).reduce((a, b) => a + b, 0);
      const final = expectGood(await run(arr, 'iqn.test:check', 0, cdb.read16(3, 1)));
      expect(final.readUInt32BE(0)).to.equal(CLIENTS * INCREMENTS);
      expect(miscompares).to.be.greaterThan(0); // the clients really raced
      expect(arr.stats().luns[0]!.cawMiscompares).to.equal(miscompares);
    });

    it('a WRITE racing a CAW on the same block lands before or after it, never between compare and write', async () => {
      for (let round = 0; round < 20; round++) {
        const base = Buffer.alloc(4096, round);
        expectGood(await run(arr, 'w', 0, cdb.write16(1, 1), base));
        const caw = run(arr, 'a', 0, cdb.compareAndWrite(1, 1), Buffer.concat([base, Buffer.alloc(4096, 0xc0)]));
        const wr = run(arr, 'b', 0, cdb.write16(1, 1), Buffer.alloc(4096, 0xd0));
        const [c] = await Promise.all([caw, wr]);
        const now = expectGood(await run(arr, 'r', 0, cdb.read16(1, 1)));
        if (c.status === SCSI_STATUS.GOOD) {
          // CAW compared against `base`, so the WRITE came after it: final is the WRITE's data
          expect(now[0]).to.equal(0xd0);
        } else {
          expect(c.sense?.key).to.equal(SENSE_KEY.MISCOMPARE);
          expect(now[0]).to.equal(0xd0);
        }
      }
    });

    it('CAWs on different blocks do not wait for each other', async () => {
      const r = await Promise.all(
        [10, 11, 12, 13].map((lba) => run(arr, 'x', 0, cdb.compareAndWrite(lba, 1), Buffer.concat([Buffer.alloc(4096), Buffer.alloc(4096, lba)]))),
      );
      for (const x of r) expect(x.status).to.equal(SCSI_STATUS.GOOD);
    });
  });
}
