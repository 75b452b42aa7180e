// Storage benchmark: 4 KiB random read and write IOPS / MB/s / latency at queue depth 1 and 32 over the
// WebSocket block protocol against a spawned `stored` process (LevelDB, durable writes, its default read
// cache), next to raw LevelDB get/put rates for the same block size in this process (the baseline), in
// interleaved rounds on the shared harness (bench/harness.ts, docs/benchmarks.md): one comparison per
// phase (op, queue depth, array cache), protocol and raw alternating within it. "Raw" (RAW_DEFINITION
// below) is a LevelDB opened with the same options and the same memory for caching (LevelDB's block
// cache = its 8 MiB default + the array's read cache size), holding the same 64 MiB region under the same
// key layout ([0x42][lun u16][lba u64]) and value format ([crc32][4 KiB]), driven by `depth` concurrent
// loops of one db.get / db.put({sync: true}) each: the same concurrency as the protocol phase, no
// checksum check, no SCSI, no network. Before the measured phases one warm-up pass reads every block of
// the region once on both sides (the array's cache, both LevelDB block caches and the JIT of both
// processes start warm alike); each protocol read reports its cache hit ratio, and a last comparison
// measures read QD32 again with stored restarted on the same data without a cache (`--read-cache-mb 0`,
// warmed the same way): the miss path, every read a LevelDB get. After the prefill both stores are
// compacted (stored via POST /control/compact) so no background compaction runs during the measured
// phases. Each side also reports CPU microseconds per I/O (bench process + stored for the protocol, the
// bench process for raw, from /proc on Linux), which depends far less on other load than IOPS do.
// Bounded: each phase runs `seconds` (default 1.5 s) per side and round, about 2.6 minutes at its default 9 rounds.
// `--json` prints one JSON document; `--only read|write` runs one kind; `--rounds N`;
// VFAB_BENCH_STORED_NODE_ARGS (e.g. "--cpu-prof") is passed to the stored process for profiling,
// VFAB_BENCH_STORED_ARGS to stored itself. V8 heap flags of the bench process (`--max-semi-space-size`
// etc., from its command line; NODE_OPTIONS is inherited anyway) are passed on to stored, so the raw peer
// (this process) and the protocol (this process + stored) always run under the same GC settings; run it
// as `node --max-semi-space-size=1 --import tsx bench/storage.ts` (docs/storage-model.md, "Third round").
// Used by bench/index.ts through runStorageBench(). Leaves out iSCSI and multi-host load.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';
import { Level } from 'level';
import { SystemClock, seededRandom, type Clock } from '../lib/clock.js';
import { VDisk, percentile, runWorkload } from '../lib/storage/vdisk.js';
import { connectBlockClient } from '../daemons/storage/block-client.js';
import { BenchUsageError, parseBenchArgs, type BenchOptions } from './options.js';
import { STORAGE_DEFAULT_ROUNDS, formatComparison, processCpuSeconds, runComparison, type ComparisonResult, type FigureSpec, type Side } from './harness.js';
import { blockKey } from '../lib/storage/blockstore-level.js';
import { encodeBlockValue } from '../lib/storage/blockstore.js';
import { DEFAULT_READ_CACHE_BYTES, type ReadCacheStats } from '../lib/storage/block-cache.js';
import { DAEMON_SCRIPTS } from '../daemons/fabric/process.js';

/** What the raw column measures (printed with the results). */
export const RAW_DEFINITION =
  'raw = LevelDB in the bench process, same key layout and value format (4 KiB + crc32), same queue depth as concurrent db.get / db.put(sync) loops; no checksum check, no SCSI, no network; working set 64 MiB of random 4 KiB blocks; same memory for caching on both sides (stored: LevelDB 8 MiB + its 128 MiB read cache; raw: LevelDB block cache 136 MiB); one warm-up pass reads every block once on both sides before measuring (hit ratio printed) and the last phase repeats read QD32 with no array cache; both stores compacted before measuring; CPU us/IO = user+system time of all threads per I/O';
/** LevelDB's own block cache size when none is given (classic-level / LevelDB default). */
export const LEVELDB_DEFAULT_CACHE_BYTES = 8 * 1024 * 1024;

export const BENCH_BLOCK_BYTES = 4096;
/** Blocks in the measured region (64 MiB of 4 KiB blocks), prefilled so reads hit real data. */
export const BENCH_REGION_BLOCKS = 16384;
export const DEFAULT_PHASE_SECONDS = 1.5;
/** Upper bound on one phase whatever `seconds` says. */
export const MAX_PHASE_SECONDS = 10;

/** V8 heap-sizing flags that stored gets when the bench process runs with them (same GC on both sides). */
const HEAP_FLAG_RE = /^--(max|min)-semi-space-size(=|$)|^--(max|initial)-old-space-size(=|$)|^--semi-space-growth-factor(=|$)/;

/** The bench process's own V8 heap flags (from process.execArgv), to pass on to stored. */
export function heapNodeArgs(execArgv: readonly string[] = process.execArgv): string[] {
  return execArgv.filter((a) => HEAP_FLAG_RE.test(a) && a.includes('='));
}

export interface StorageBenchOptions {
  seconds?: number;
  rounds?: number;
  log?: (line: string) => void;
  /** Only reads or only writes (default both). */
  only?: 'read' | 'write';
}

/** What a side reports per round (the figures below plus counts). */
export const STORAGE_FIGURES: FigureSpec[] = [
  { id: 'iops', label: 'IOPS', better: 'higher' },
  /** user + system, all threads, per I/O: protocol = bench process (client) + stored, raw = bench process. */
  { id: 'cpuUsPerIo', label: 'CPU us/IO', better: 'lower' },
  { id: 'latencyP50Ms', label: 'latency p50 ms', better: 'lower' },
  { id: 'latencyP99Ms', label: 'latency p99 ms', better: 'lower' },
  /** Protocol only: the part of cpuUsPerIo spent in stored. */
  { id: 'storedCpuUsPerIo', label: 'stored CPU us/IO', better: 'lower', ratio: false },
  /** Protocol reads only: share of the reads the array's read cache answered (0..1). */
  { id: 'cacheHitRatio', label: 'array cache hits', better: 'higher', ratio: false },
];

/** The read target (issue: protocol >= 0.8 of raw LevelDB at QD32). */
export const READ_QD32_TARGET_RATIO = 0.8;

export interface StorageBenchResult {
  blockBytes: number;
  regionBlocks: number;
  phaseSeconds: number;
  raw: string;
  /** V8 heap flags both sides ran with (bench process and stored); empty = V8 defaults. */
  heapNodeArgs: string[];
  /** stored's read cache and the raw LevelDB's block cache, bytes (the same memory for caching). */
  arrayReadCacheBytes: number;
  rawLevelCacheBytes: number;
  /** One per phase: `storage read QD32 (array cache on)` etc.; sides protocol and rawLevel (baseline). */
  comparisons: ComparisonResult[];
}

/** CPU microseconds (user + system) used so far: this process (process.cpuUsage), or another via /proc. */
function cpuUs(pid?: number): number {
  if (pid === undefined) {
    const u = process.cpuUsage();
    return u.user + u.system;
  }
  return (processCpuSeconds(pid) ?? NaN) * 1e6;
}

type Figures = Record<string, number | null>;

async function rawRun(db: Level<Buffer, Buffer>, op: 'read' | 'write', depth: number, seconds: number, clock: Clock, seed: number): Promise<Figures> {
  const rnd = seededRandom(seed);
  const value = encodeBlockValue(randomBytes(BENCH_BLOCK_BYTES), 0, BENCH_BLOCK_BYTES);
  const endMs = clock.nowMs() + seconds * 1000;
  const startMs = clock.nowMs();
  const lat: number[] = [];
  let ios = 0;
  const cpu0 = cpuUs();
  const key = (n: number): Buffer => blockKey(0, n);
  await Promise.all(
    Array.from({ length: depth }, async () => {
      while (clock.nowMs() < endMs) {
        const k = key(Math.floor(rnd() * BENCH_REGION_BLOCKS));
        const t0 = clock.nowMs();
        if (op === 'read') await db.get(k);
        else await db.put(k, value, { sync: true });
        lat.push(clock.nowMs() - t0);
        ios++;
      }
    }),
  );
  const elapsedMs = clock.nowMs() - startMs;
  lat.sort((a, b) => a - b);
  const iops = (ios * 1000) / elapsedMs;
  return { ios, cpuUsPerIo: +((cpuUs() - cpu0) / Math.max(1, ios)).toFixed(2), iops: Math.round(iops), mbPerSec: +((iops * BENCH_BLOCK_BYTES) / 1e6).toFixed(2), latencyP50Ms: +percentile(lat, 0.5).toFixed(3), latencyP99Ms: +percentile(lat, 0.99).toFixed(3), storedCpuUsPerIo: null, cacheHitRatio: null };
}

/** Writes the whole region over the protocol with random data, 256 KiB per write. */
export async function prefillProtocol(disk: VDisk, clock: Clock): Promise<void> {
  const prefillData = randomBytes(256 * 1024);
  await runWorkload(disk, { pattern: 'sequential', blockBytes: 256 * 1024, depth: 8, count: (BENCH_REGION_BLOCKS * BENCH_BLOCK_BYTES) / (256 * 1024), readPercent: 0, clock, random: seededRandom(1), writeData: prefillData });
}

/**
 * Reads every block of the region once, sequentially at QD32, through the protocol and (when given) the raw
 * LevelDB: both caches (the array's, LevelDB's block cache on both sides) and both processes' JIT start
 * the measured phases warm, the same way.
 */
export async function warmUp(disk: VDisk, db: Level<Buffer, Buffer> | undefined, clock: Clock): Promise<void> {
  const r = await runWorkload(disk, { pattern: 'sequential', blockBytes: BENCH_BLOCK_BYTES, depth: 32, count: BENCH_REGION_BLOCKS, readPercent: 100, clock, random: seededRandom(7) });
  if (r.errors > 0) throw new Error(`warm-up: ${r.errors} errors, first: ${r.firstError}`);
  if (db === undefined) return;
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < BENCH_REGION_BLOCKS) await db.get(blockKey(0, next++));
    }),
  );
}

/** How much of a quiet stored's stderr is kept for the error when it exits before its ready line. */
const STORED_LAST_WORDS_BYTES = 2000;

export interface StoredProcess {
  child: ChildProcess;
  port: number;
  /** From the ready line when stored runs its iSCSI portal (--iscsi-port). */
  iscsiPort?: number;
  iqn?: string;
}

/** Spawns stored on `dataDir` and waits for its ready line (the listening port). */
export async function startStored(dataDir: string, token: string, storedArgs: string[], opts: { quiet?: boolean } = {}): Promise<StoredProcess> {
  const extraNodeArgs = (process.env.VFAB_BENCH_STORED_NODE_ARGS ?? '').split(' ').filter((a) => a.length > 0);
  const child = spawn(process.execPath, [...heapNodeArgs(), ...extraNodeArgs, DAEMON_SCRIPTS.array, '--data-dir', dataDir, ...storedArgs], {
    env: { ...process.env, VFAB_TOKEN: token },
    // quiet: stored's log lines (one per iSCSI login) are dropped, but its last words before an early exit are kept
    stdio: ['ignore', 'pipe', opts.quiet ? 'pipe' : 'inherit'],
  });
  let lastWords = '';
  child.stderr?.on('data', (d: Buffer) => (lastWords = (lastWords + d.toString()).slice(-STORED_LAST_WORDS_BYTES)));
  try {
    const ready = await new Promise<{ port: number; iscsiPort?: number; iqn?: string }>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('stored not ready in 20 s')), 20_000);
      createInterface({ input: child.stdout! }).once('line', (line) => {
        clearTimeout(t);
        resolve(JSON.parse(line) as { port: number; iscsiPort?: number; iqn?: string });
      });
      child.once('exit', (code) => reject(new Error(`stored exited ${code}${lastWords ? `: ${lastWords.trim()}` : ''}`)));
    });
    return { child, port: ready.port, ...(ready.iscsiPort !== undefined ? { iscsiPort: ready.iscsiPort } : {}), ...(ready.iqn !== undefined ? { iqn: ready.iqn } : {}) };
  } catch (e) {
    await stopStored(child);
    throw e;
  }
}

export async function stopStored(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise((r) => child.once('exit', r));
  process.kill(child.pid, 'SIGTERM');
  await exited;
}

export async function control(port: number, token: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`http://127.0.0.1:${port}/control/${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  if (res.status >= 300) throw new Error(`${method} /control/${path} failed: ${res.status} ${await res.text()}`);
  return res.json();
}

async function readCacheStats(port: number, token: string): Promise<ReadCacheStats> {
  return ((await control(port, token, 'GET', 'status')) as { stats: { readCache: ReadCacheStats } }).stats.readCache;
}

export async function runStorageBench(opts: StorageBenchOptions = {}): Promise<StorageBenchResult> {
  const seconds = Math.min(opts.seconds ?? DEFAULT_PHASE_SECONDS, MAX_PHASE_SECONDS);
  const rounds = opts.rounds ?? STORAGE_DEFAULT_ROUNDS;
  const log = opts.log ?? ((): void => {});
  const clock = new SystemClock();
  const storedDir = mkdtempSync(join(tmpdir(), 'vfab-bench-stored-'));
  const rawDir = mkdtempSync(join(tmpdir(), 'vfab-bench-level-'));
  const token = randomBytes(8).toString('hex');
  const extraStoredArgs = (process.env.VFAB_BENCH_STORED_ARGS ?? '').split(' ').filter((a) => a.length > 0);
  const heapArgs = heapNodeArgs();
  log(`V8 heap flags on both sides: ${heapArgs.length > 0 ? heapArgs.join(' ') : 'none'}${process.env.NODE_OPTIONS ? ` (NODE_OPTIONS ${process.env.NODE_OPTIONS})` : ''}`);
  const rawCacheBytes = LEVELDB_DEFAULT_CACHE_BYTES + DEFAULT_READ_CACHE_BYTES;
  const db = new Level<Buffer, Buffer>(rawDir, { keyEncoding: 'buffer', valueEncoding: 'buffer', cacheSize: rawCacheBytes } as ConstructorParameters<typeof Level<Buffer, Buffer>>[1]);
  let stored: StoredProcess | undefined;
  try {
    stored = await startStored(storedDir, token, extraStoredArgs);
    await control(stored.port, token, 'POST', 'luns', { name: 'bench', sizeBytes: BENCH_REGION_BLOCKS * BENCH_BLOCK_BYTES, blockSize: BENCH_BLOCK_BYTES });
    let client = await connectBlockClient({ url: `ws://127.0.0.1:${stored.port}/block`, token, initiator: 'iqn.vfab:bench', maxInFlight: 32 });
    let disk = await VDisk.open(client, 0, 'iqn.vfab:bench');

    log('prefilling 64 MiB over the protocol and in raw LevelDB');
    // Random data on both sides, as in the raw prefill below: a compressible pattern would make the two
    // stores hold different data (snappy-compressed blocks on one side only, so different read work).
    await prefillProtocol(disk, clock);
    for (let i = 0; i < BENCH_REGION_BLOCKS; i += 1024) {
      const batch = db.batch();
      for (let k = i; k < i + 1024; k++) {
        batch.put(blockKey(0, k), encodeBlockValue(randomBytes(BENCH_BLOCK_BYTES), 0, BENCH_BLOCK_BYTES));
      }
      await batch.write();
    }
    // Both prefills leave LevelDB compactions running in the background (stored's and this process's);
    // finish them now so they do not eat the 2 CPUs during the first measured phases (unevenly: the raw
    // store's compaction ran during the protocol phases).
    await control(stored.port, token, 'POST', 'compact');
    await (db as unknown as { compactRange(start: Buffer, end: Buffer): Promise<void> }).compactRange(Buffer.of(0x00), Buffer.of(0xff));
    log('compacted both stores before measuring');

    const comparisons: ComparisonResult[] = [];
    log(RAW_DEFINITION);
    await warmUp(disk, db, clock);
    log('warm-up: every block of the region read once on both sides');
    const compare = async (op: 'read' | 'write', queueDepth: number, arrayCache: 'on' | 'off'): Promise<void> => {
      const protocol: Side = {
        id: 'protocol',
        label: 'protocol',
        measure: async (round) => {
          const port = stored!.port;
          const cache0 = op === 'read' ? await readCacheStats(port, token) : undefined;
          const storedCpu0 = cpuUs(stored!.child.pid);
          const selfCpu0 = cpuUs();
          const p = await runWorkload(disk, { pattern: 'random', blockBytes: BENCH_BLOCK_BYTES, depth: queueDepth, seconds, readPercent: op === 'read' ? 100 : 0, clock, random: seededRandom(queueDepth + 1000 * round) });
          const storedCpuUs = cpuUs(stored!.child.pid) - storedCpu0;
          const totalCpuUs = cpuUs() - selfCpu0 + storedCpuUs;
          if (p.errors > 0) throw new Error(`protocol ${op} QD${queueDepth}: ${p.errors} errors, first: ${p.firstError}`);
          let cacheHitRatio: number | null = null;
          if (cache0 !== undefined) {
            const cache1 = await readCacheStats(port, token);
            const lookups = cache1.hits + cache1.misses - cache0.hits - cache0.misses;
            cacheHitRatio = lookups > 0 ? +((cache1.hits - cache0.hits) / lookups).toFixed(3) : 0;
          }
          const ios = Math.max(1, p.ios);
          return { ios: p.ios, iops: Math.round(p.iops), cpuUsPerIo: +(totalCpuUs / ios).toFixed(2), storedCpuUsPerIo: +(storedCpuUs / ios).toFixed(2), mbPerSec: +p.mbPerSec.toFixed(2), latencyP50Ms: +p.latencyP50Ms.toFixed(3), latencyP99Ms: +p.latencyP99Ms.toFixed(3), cacheHitRatio };
        },
      };
      const raw: Side = { id: 'rawLevel', label: 'raw LevelDB', measure: (round) => rawRun(db, op, queueDepth, seconds, clock, 99 + queueDepth + 1000 * round) };
      comparisons.push(
        await runComparison({
          name: `storage ${op} QD${queueDepth} (array cache ${arrayCache})`,
          figures: STORAGE_FIGURES,
          sides: [protocol, raw],
          baseline: 'rawLevel',
          rounds,
          log,
          targets:
            op === 'read' && queueDepth === 32
              ? [
                  {
                    text: `protocol IOPS >= ${READ_QD32_TARGET_RATIO.toFixed(2)} x raw LevelDB`,
                    figure: 'iops',
                    side: 'protocol',
                    on: 'ratio',
                    atLeast: READ_QD32_TARGET_RATIO,
                    why: 'the target is stated in IOPS; at QD32 both sides keep the machine busy, and the per-round pair cancels most load drift',
                  },
                ]
              : [],
        }),
      );
    };
    for (const op of opts.only ? [opts.only] : (['read', 'write'] as const)) {
      for (const queueDepth of [1, 32]) await compare(op, queueDepth, 'on');
    }
    if (opts.only !== 'write') {
      // The miss path: the same data, stored restarted without a read cache.
      client.close();
      await stopStored(stored.child);
      stored = await startStored(storedDir, token, [...extraStoredArgs, '--read-cache-mb', '0']);
      client = await connectBlockClient({ url: `ws://127.0.0.1:${stored.port}/block`, token, initiator: 'iqn.vfab:bench', maxInFlight: 32 });
      disk = await VDisk.open(client, 0, 'iqn.vfab:bench');
      await warmUp(disk, undefined, clock);
      log('stored restarted with --read-cache-mb 0 (every read a LevelDB get), warmed up as before');
      await compare('read', 32, 'off');
    }
    client.close();
    return { blockBytes: BENCH_BLOCK_BYTES, regionBlocks: BENCH_REGION_BLOCKS, phaseSeconds: seconds, raw: RAW_DEFINITION, heapNodeArgs: heapArgs, arrayReadCacheBytes: DEFAULT_READ_CACHE_BYTES, rawLevelCacheBytes: rawCacheBytes, comparisons };
  } finally {
    await db.close().catch(() => {});
    if (stored !== undefined) await stopStored(stored.child);
    rmSync(storedDir, { recursive: true, force: true });
    rmSync(rawDir, { recursive: true, force: true });
  }
}

if (process.argv[1] && /bench[\\/]storage\.ts$/.test(process.argv[1])) {
  // standalone: node --max-semi-space-size=1 --import tsx bench/storage.ts [--only read|write] [--seconds S] [--rounds N] [--json]
  let opts: BenchOptions;
  let only: string | undefined;
  try {
    const argv = process.argv.slice(2);
    const oi = argv.indexOf('--only');
    if (oi >= 0) {
      only = argv[oi + 1];
      if (only !== 'read' && only !== 'write') throw new BenchUsageError(`--only ${only ?? ''}: want read or write`);
      argv.splice(oi, 2);
    }
    opts = parseBenchArgs(argv);
  } catch (e) {
    process.stderr.write(`bench/storage.ts: ${(e as Error).message}\n`);
    process.exit(2);
  }
  const say = (l: string): void => void (opts.json ? process.stderr : process.stdout).write(l + '\n');
  runStorageBench({ rounds: opts.rounds, ...(opts.seconds ? { seconds: opts.seconds } : {}), ...(only ? { only: only as 'read' | 'write' } : {}), log: say })
    .then((r) => {
      if (opts.json) console.log(JSON.stringify(r, null, 2));
      else for (const c of r.comparisons) for (const l of formatComparison(c)) say(l);
      process.exit(0);
    })
    .catch((e: unknown) => {
      console.error(e);
      process.exit(1);
    });
}
