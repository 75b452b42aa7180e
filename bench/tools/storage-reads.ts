// Protocol-only read profile: stored (its default read cache unless VFAB_BENCH_STORED_ARGS says otherwise)
// with the bench's 64 MiB region, prefilled, compacted and warmed as bench/storage.ts does, then random
// 4 KiB reads at one queue depth for N seconds; prints IOPS and CPU us per read split into client (this
// process) and stored. No raw LevelDB peer: use it with --cpu-prof (this process) and
// VFAB_BENCH_STORED_NODE_ARGS="--cpu-prof" (stored) to see where a read's time goes.
// usage: node --max-semi-space-size=1 --initial-old-space-size=64 --import tsx bench/tools/storage-reads.ts [seconds] [depth] [readPercent] [cold]
// (cold: no warm-up pass, so the read cache starts empty and the run shows how it fills)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { SystemClock, seededRandom } from '../../lib/clock.js';
import { VDisk, runWorkload } from '../../lib/storage/vdisk.js';
import { connectBlockClient } from '../../daemons/storage/block-client.js';
import { BENCH_BLOCK_BYTES, BENCH_REGION_BLOCKS, control, prefillProtocol, startStored, stopStored, warmUp } from '../storage.js';
import { processCpuSeconds } from '../harness.js';

const seconds = Math.min(Number(process.argv[2] ?? 5), 30);
const depth = Math.min(Number(process.argv[3] ?? 32), 256);
const readPercent = Math.min(Math.max(Number(process.argv[4] ?? 100), 0), 100);
const clock = new SystemClock();
const dir = mkdtempSync(join(tmpdir(), 'vfab-storage-reads-'));
const token = randomBytes(8).toString('hex');
const storedArgs = (process.env.VFAB_BENCH_STORED_ARGS ?? '').split(' ').filter((a) => a.length > 0);
const stored = await startStored(dir, token, storedArgs);
/** CPU microseconds a process has used so far (/proc). */
const cpuOf = (pid: number): number => (processCpuSeconds(pid) ?? NaN) * 1e6;
try {
  await control(stored.port, token, 'POST', 'luns', { name: 'bench', sizeBytes: BENCH_REGION_BLOCKS * BENCH_BLOCK_BYTES, blockSize: BENCH_BLOCK_BYTES });
  const client = await connectBlockClient({ url: `ws://127.0.0.1:${stored.port}/block`, token, initiator: 'iqn.vfab:reads', maxInFlight: depth });
  const disk = await VDisk.open(client, 0, 'iqn.vfab:reads');
  await prefillProtocol(disk, clock);
  await control(stored.port, token, 'POST', 'compact');
  if (process.argv[5] !== 'cold') await warmUp(disk, undefined, clock);
  const s0 = cpuOf(stored.child.pid!);
  const c0 = cpuOf(process.pid);
  const r = await runWorkload(disk, { pattern: 'random', blockBytes: BENCH_BLOCK_BYTES, depth, seconds, readPercent, clock, random: seededRandom(depth) });
  const storedUs = cpuOf(stored.child.pid!) - s0;
  const clientUs = cpuOf(process.pid) - c0;
  const cache = ((await control(stored.port, token, 'GET', 'status')) as { stats: { readCache: { hits: number; misses: number; staleFillsSkipped: number } } }).stats.readCache;
  console.log(`${readPercent} % reads QD${depth} ${seconds} s: ${Math.round(r.iops)} IOPS (${r.reads} reads, ${r.writes} writes), p99 ${r.latencyP99Ms.toFixed(3)} ms, CPU us/IO client ${(clientUs / r.ios).toFixed(1)} stored ${(storedUs / r.ios).toFixed(1)}, errors ${r.errors}; read cache since start ${cache.hits} hits / ${cache.misses} misses, ${cache.staleFillsSkipped} fills skipped`);
  client.close();
} finally {
  await stopStored(stored.child);
  rmSync(dir, { recursive: true, force: true });
}
