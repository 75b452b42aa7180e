// Crash consistency of `stored` over the block protocol: the daemon is killed with SIGKILL at seeded random
// moments (20 rounds, bounded to ~60 s) while 8 writers issue verified multi-block WRITEs. Each block holds
// its LBA and a generation repeated 64 times, so a torn block is visible. After every restart: every
// acknowledged block reads back exactly, and every unacknowledged block holds its old or its new contents,
// never a mix within one block.

import { expect } from 'chai';
import { seededRandom } from '../../../lib/clock.js';
import { connectBlockClient, type BlockClient } from '../../../daemons/storage/block-client.js';
import { TOKEN, control, killStored, removeDir, spawnStored, tempDataDir, type StoredProcess } from './helpers.js';

const BS = 512;
const WRITERS = 8;
const BLOCKS_PER_WRITER = 64;
const BLOCKS_PER_WRITE = 4;
const ROUNDS = 20;
const BUDGET_MS = 70_000;

function block(lba: number, gen: number): Buffer {
  const b = Buffer.alloc(BS);
  if (gen === 0) return b; // never written: zeros
  for (let o = 0; o < BS; o += 8) {
    b.writeUInt32BE(lba, o);
    b.writeUInt32BE(gen, o + 4);
  }
  return b;
}

describe('e2e storage: crash consistency (SIGKILL during writes)', function () {
  this.timeout(BUDGET_MS + 30_000);
  let dir: string;
  let stored: StoredProcess | undefined;

  before(() => {
    dir = tempDataDir('vfab-crash-');
  });
  after(async () => {
    await killStored(stored, 'SIGKILL');
    removeDir(dir);
  });

  it(`${ROUNDS} SIGKILLs: acknowledged blocks exact, unacknowledged old-or-new, never torn`, async () => {
    const rnd = seededRandom(20240607);
    const totalBlocks = WRITERS * BLOCKS_PER_WRITER;
    const acked = new Array<number>(totalBlocks).fill(0);
    const pending = new Array<number | undefined>(totalBlocks).fill(undefined);
    const startMs = Date.now();
    let kills = 0;
    let writesAcked = 0;
    let unackedSeen = 0;

    stored = await spawnStored(['--data-dir', dir], {}, dir);
    expect((await control(stored, 'POST', '/control/luns', { name: 'crash', sizeBytes: 1024 * 1024, blockSize: 512 })).status).to.equal(201);

    for (let round = 0; round < ROUNDS && Date.now() - startMs < BUDGET_MS; round++) {
      if (round > 0) stored = await spawnStored(['--data-dir', dir], {}, dir);
      const clients: BlockClient[] = await Promise.all(
        Array.from({ length: WRITERS }, (_, w) => connectBlockClient({ url: stored!.url, token: TOKEN, initiator: `iqn.test:crash-${w}` })),
      );

      // Verify what the previous round left behind, then adopt the observed state.
      const verifier = clients[0];
      const all = await verifier.read(0, 0, totalBlocks);
      for (let lba = 0; lba < totalBlocks; lba++) {
        const got = all.subarray(lba * BS, (lba + 1) * BS);
        const old = block(lba, acked[lba]);
        const p = pending[lba];
        if (got.equals(old)) {
          if (p !== undefined) unackedSeen++;
        } else if (p !== undefined && got.equals(block(lba, p))) {
          acked[lba] = p;
          unackedSeen++;
        } else {
          expect.fail(`round ${round} lba ${lba}: neither acknowledged gen ${acked[lba]} nor pending ${p}: ${got.subarray(0, 16).toString('hex')}`);
        }
        pending[lba] = undefined;
      }

      // Writers: each owns a region and keeps one multi-block WRITE in flight at a time.
      let stop = false;
      const writers = clients.map(async (c, w) => {
        while (!stop) {
          const first = w * BLOCKS_PER_WRITER + Math.floor(rnd() * (BLOCKS_PER_WRITER / BLOCKS_PER_WRITE)) * BLOCKS_PER_WRITE;
          const data = Buffer.alloc(BLOCKS_PER_WRITE * BS);
          for (let k = 0; k < BLOCKS_PER_WRITE; k++) {
            pending[first + k] = acked[first + k] + 1;
            block(first + k, acked[first + k] + 1).copy(data, k * BS);
          }
          try {
            await c.write(0, first, data);
          } catch {
            return; // connection lost: this write stays pending
          }
          for (let k = 0; k < BLOCKS_PER_WRITE; k++) {
            acked[first + k] = pending[first + k]!;
            pending[first + k] = undefined;
          }
          writesAcked++;
        }
      });
      await new Promise((r) => setTimeout(r, 50 + Math.floor(rnd() * 400)));
      await killStored(stored, 'SIGKILL');
      kills++;
      stop = true;
      await Promise.all(writers);
      for (const c of clients) c.close();
    }

    // Final restart and verification of the last round.
    stored = await spawnStored(['--data-dir', dir], {}, dir);
    const c = await connectBlockClient({ url: stored.url, token: TOKEN, initiator: 'iqn.test:final' });
    const all = await c.read(0, 0, totalBlocks);
    for (let lba = 0; lba < totalBlocks; lba++) {
      const got = all.subarray(lba * BS, (lba + 1) * BS);
      const p = pending[lba];
      const ok = got.equals(block(lba, acked[lba])) || (p !== undefined && got.equals(block(lba, p)));
      expect(ok, `final lba ${lba}`).to.equal(true);
    }
    c.close();
    expect(kills).to.be.at.least(ROUNDS);
    expect(writesAcked).to.be.above(kills);
  });
});
