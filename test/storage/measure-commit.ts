// Bounded measurement (not a test; run: node --import tsx test/storage/measure-commit.ts): 4 KiB
// WRITE(16)s through the target on LevelDB with one fsync per write, group commit, and no fsync, at
// 1 and 16 writes in flight; then random 4 KiB READ(16)s. Each run: at most WRITES writes or SECONDS.
import { rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlockTarget } from '../../lib/storage/target.js';
import { LevelBlockStore } from '../../lib/storage/blockstore-level.js';
import * as cdb from '../../lib/storage/cdb.js';

const WRITES = 2000;
const SECONDS = 10;
const LUN_BLOCKS = 262144; // 1 GiB of 4 KiB blocks

async function measure(mode: 'sync-each' | 'group' | 'no-sync', inFlight: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'vfab-measure-'));
  const store = await LevelBlockStore.open(dir, { groupCommit: mode === 'group', sync: mode !== 'no-sync' });
  const t = new BlockTarget(store);
  t.addLun({ lun: 0, name: 'm', id: 'naa.6' + '0'.repeat(31), sizeBytes: LUN_BLOCKS * 4096, blockSizeBytes: 4096, blocks: LUN_BLOCKS, createdAtMs: 0 });
  const data = Buffer.alloc(4096, 0x5a);
  let issued = 0;
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % LUN_BLOCKS);
  const t0 = performance.now();
  const deadline = t0 + SECONDS * 1000;
  const worker = async () => {
    while (issued < WRITES && performance.now() < deadline) {
      issued++;
      const r = await t.execute({ initiator: 'm', lun: 0, cdb: cdb.write16(rnd(), 1), dataOut: data });
      if (r.status !== 0) throw new Error('write failed');
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const writeMs = performance.now() - t0;
  const line = `${mode.padEnd(9)} inflight=${String(inFlight).padStart(2)}  ${issued} writes  ${(issued / (writeMs / 1000)).toFixed(0).padStart(6)} writes/s  ` +
    `${(writeMs / issued).toFixed(2)} ms/write  batches=${store.commitStats.batches}`;
  console.log(line);
  if (mode === 'group' && inFlight === 16) {
    // random reads over what was written plus holes
    let reads = 0;
    const r0 = performance.now();
    const rworker = async () => {
      while (reads < 20000 && performance.now() - r0 < SECONDS * 1000) {
        reads++;
        const r = await t.execute({ initiator: 'm', lun: 0, cdb: cdb.read16(rnd(), 1) });
        if (r.status !== 0) throw new Error('read failed');
      }
    };
    await Promise.all(Array.from({ length: 16 }, rworker));
    const ms = performance.now() - r0;
    console.log(`random 4 KiB READ(16), 16 in flight: ${(reads / (ms / 1000)).toFixed(0)} reads/s (${reads} reads)`);
  }
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}

for (const inFlight of [1, 16]) {
  for (const mode of ['sync-each', 'group', 'no-sync'] as const) await measure(mode, inFlight);
}
