// iSCSI benchmark: vfab's iSCSI portal (stored --memory, daemons/storage/iscsi-portal.ts) next to the Linux
// SCSI target framework's `tgtd` (tgt, started here) on the same kind of LUN, measured in the same run in
// interleaved rounds on the shared harness (bench/harness.ts, docs/benchmarks.md). Both LUNs are 64 MiB of
// 512-byte blocks held in memory: vfab's a memory LUN, tgt's a file on /dev/shm (tmpfs: the page cache, no
// disk behind it), both filled with the same random bytes before measuring (tgt's file written directly,
// vfab's over iSCSI with `qemu-img convert`). The initiators are libiscsi's `iscsi-perf` (4 KiB random
// reads, `-b 8`, at queue depth 32 and 1, `-t` whole seconds) and `qemu-img bench -w -t none` (4 KiB writes
// at queue depth 32, each the next 4 KiB of the LUN, wrapping: qemu-img bench has no random pattern);
// neither side is asked to make writes durable (no FUA, no SYNCHRONIZE CACHE), so both write into memory
// (tgt's file is on tmpfs: its page cache is the medium). The write comparison has a third side, a second
// stored on a LevelDB array in the system temp dir, whose every acknowledged write is durable (stored makes
// each write durable before GOOD, group-committed): shown next to the others, not judged by the target;
// after each of its phases its LevelDB compaction is finished (POST /control/compact, not measured) so it
// does not run during the other sides' phases.
// The write count is calibrated per side once before the rounds so each write phase lasts about `seconds`.
// Per side and round: IOPS, and the target process's CPU microseconds per I/O (user + system, all threads,
// from /proc). Targets (issue 11): vfab >= 1.0 x tgt read IOPS at QD32, >= 0.7 x tgt write IOPS.
// tgtd runs in the foreground on 127.0.0.1 and a free port, with its own control socket
// (/var/run/tgtd/socket.N, N derived from that port), and is stopped by PID at the end, also on failure;
// it needs root and `apt-get install tgt libiscsi-bin qemu-utils`. With CI=true and a tool missing, the
// area is skipped with a message; otherwise a missing tool fails the area naming the install line. Pure
// parts (output parsing, durations) are unit-tested in test/bench/iscsi.test.ts. Run through
// bench/index.ts (`--only iscsi`); VFAB_BENCH_STORED_NODE_ARGS (e.g. "--cpu-prof") reaches stored as in
// the storage area. Leaves out: LevelDB reads, digests, several sessions at once, a durable tgt LUN.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_ROUNDS, processCpuSeconds, runComparison, type ComparisonResult, type FigureSpec, type Side, type TargetSpec } from './harness.js';
import { control, startStored, stopStored, type StoredProcess } from './storage.js';

/** LUN size on both sides (as the storage area's region). */
export const ISCSI_LUN_BYTES = 64 * 1024 * 1024;
/** Logical block size on both sides (tgt's default for a file; `-b 8` then makes 4 KiB I/Os). */
export const ISCSI_BLOCK_BYTES = 512;
export const ISCSI_IO_BYTES = 4096;
/** Default length of one measured phase per side and round, in seconds. */
export const ISCSI_DEFAULT_PHASE_SECONDS = 2;
/** Upper bound on one phase whatever `seconds` says. */
export const ISCSI_MAX_PHASE_SECONDS = 10;
/** Bounds on the calibrated number of writes of one `qemu-img bench` run. */
export const MIN_WRITE_COUNT = 1000;
export const MAX_WRITE_COUNT = 2_000_000;
/** Writes of the calibration run of each side before the write rounds. */
export const CALIBRATION_WRITES = 5000;
/** Bound on any one tool run (a phase is at most ISCSI_MAX_PHASE_SECONDS). */
export const TOOL_TIMEOUT_MS = 60_000;
/** How long tgtd may take to answer its control socket after start, and to exit when stopped. */
export const TGTD_START_TIMEOUT_MS = 10_000;
export const TGTD_STOP_TIMEOUT_MS = 5_000;
/** The largest `tgtd -C` value tgt 1.0.85 accepts. */
export const TGTD_MAX_CONTROL_PORT = 32767;
/** Issue 11's targets. */
export const READ_QD32_TARGET_RATIO = 1.0;
export const WRITE_QD32_TARGET_RATIO = 0.7;

export const ISCSI_TOOLS = ['tgtd', 'tgtadm', 'iscsi-perf', 'qemu-img'] as const;
export const ISCSI_INSTALL = 'apt-get install -y tgt libiscsi-bin qemu-utils';
const TGT_IQN = 'iqn.2026-12.vfab-bench:tgt';

export const ISCSI_FIGURES: FigureSpec[] = [
  { id: 'iops', label: 'IOPS', better: 'higher' },
  /** The target process only (stored or tgtd), user + system of all threads, per I/O. */
  { id: 'targetCpuUsPerIo', label: 'target CPU us/IO', better: 'lower' },
];

// ------------------------------------------------------------------ pure parts

/** iscsi-perf's `-t`: whole seconds, at least 1 (it takes no fractions). */
export function perfSeconds(seconds: number): number {
  return Math.max(1, Math.ceil(seconds));
}

/** The overall IOPS of an iscsi-perf run: the last `iops average N` (progress lines repeat it), or null. */
export function parseIscsiPerf(output: string): number | null {
  const all = [...output.matchAll(/iops average (\d+)/g)];
  const last = all[all.length - 1];
  return last === undefined ? null : Number(last[1]);
}

/** The run time of a `qemu-img bench` run in seconds (`Run completed in 0.418 seconds.`), or null. */
export function parseQemuImgBench(output: string): number | null {
  const m = /Run completed in (\d+(?:\.\d+)?) seconds/.exec(output);
  return m === null ? null : Number(m[1]);
}

/** Writes for one `qemu-img bench` run that lasts about `seconds` at `writesPerSecond`, within the bounds. */
export function writeCount(writesPerSecond: number, seconds: number): number {
  if (!Number.isFinite(writesPerSecond) || writesPerSecond <= 0) return MIN_WRITE_COUNT;
  return Math.min(MAX_WRITE_COUNT, Math.max(MIN_WRITE_COUNT, Math.round(writesPerSecond * seconds)));
}

/** tgtd's `-C` number (its control socket /var/run/tgtd/socket.N), derived from the free iSCSI port: tgtd takes 0-32767. */
export function tgtdControlPort(iscsiPort: number): number {
  return 1024 + (iscsiPort % (TGTD_MAX_CONTROL_PORT + 1 - 1024));
}

export function missingIscsiTools(): string[] {
  return ISCSI_TOOLS.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
}

// ------------------------------------------------------------------ processes

/** Runs a tool to its end (bounded); rejects on a non-zero exit with its output. */
function runTool(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), TOOL_TIMEOUT_MS);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code ?? signal}: ${out.trim().slice(-400)}`));
    });
  });
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

interface Tgtd {
  child: ChildProcess;
  port: number;
  controlPort: number;
}

const tgtadm = (t: Tgtd, args: string[]): Promise<string> => runTool('tgtadm', ['-C', String(t.controlPort), '--lld', 'iscsi', ...args]);

/** Starts tgtd in the foreground on 127.0.0.1:port with its own control socket and one LUN on `backing`. */
async function startTgtd(backing: string, log: (l: string) => void): Promise<Tgtd> {
  const port = await freePort();
  const controlPort = tgtdControlPort(port);
  const child = spawn('tgtd', ['-f', '-C', String(controlPort), '--iscsi', `portal=127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  const t: Tgtd = { child, port, controlPort };
  try {
    const deadline = Date.now() + TGTD_START_TIMEOUT_MS;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`tgtd exited ${child.exitCode} (needs root): ${stderr.trim()}`);
      try {
        await tgtadm(t, ['--mode', 'target', '--op', 'show']);
        break;
      } catch (e) {
        if (Date.now() > deadline) throw new Error(`tgtd not answering on control port ${port} in ${TGTD_START_TIMEOUT_MS} ms: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    await tgtadm(t, ['--mode', 'target', '--op', 'new', '--tid', '1', '--targetname', TGT_IQN]);
    await tgtadm(t, ['--mode', 'logicalunit', '--op', 'new', '--tid', '1', '--lun', '1', '--backing-store', backing]);
    await tgtadm(t, ['--mode', 'target', '--op', 'bind', '--tid', '1', '--initiator-address', 'ALL']);
    log(`tgtd pid ${child.pid} on 127.0.0.1:${port} (control socket ${controlPort}), LUN 1 on ${backing}`);
    return t;
  } catch (e) {
    await stopTgtd(t);
    throw e;
  }
}

/** Stops tgtd: removes its target and asks it to exit, then SIGTERM and SIGKILL by PID if it stays. */
async function stopTgtd(t: Tgtd): Promise<void> {
  const { child } = t;
  if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
    const exited = new Promise((r) => child.once('exit', r));
    const within = (ms: number): Promise<boolean> => Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);
    await tgtadm(t, ['--mode', 'target', '--op', 'delete', '--force', '--tid', '1']).catch(() => {});
    await runTool('tgtadm', ['-C', String(t.controlPort), '--mode', 'system', '--op', 'delete']).catch(() => {});
    if (!(await within(TGTD_STOP_TIMEOUT_MS))) {
      process.kill(child.pid, 'SIGTERM');
      if (!(await within(TGTD_STOP_TIMEOUT_MS))) {
        process.kill(child.pid, 'SIGKILL');
        await exited;
      }
    }
  }
  // tgtd leaves its control socket and lock file behind
  for (const f of [`/var/run/tgtd/socket.${t.controlPort}`, `/var/run/tgtd/socket.${t.controlPort}.lock`]) rmSync(f, { force: true });
}

// ------------------------------------------------------------------ the area

export interface IscsiBenchOptions {
  seconds?: number;
  rounds?: number;
  log?: (line: string) => void;
}

export interface IscsiBenchResult {
  skipped?: string;
  lunBytes: number;
  blockBytes: number;
  ioBytes: number;
  /** Seconds of each read phase (iscsi-perf -t) and the aimed length of each write phase. */
  phaseSeconds: number;
  method: string;
  comparisons: ComparisonResult[];
}

export const ISCSI_METHOD =
  'both LUNs 64 MiB of 512-byte blocks in memory (vfab: stored --memory; tgt: a file on /dev/shm), the same random bytes; reads: iscsi-perf -r -b 8 (4 KiB random) at -m 32 and -m 1; writes: qemu-img bench -w -t none -d 32 -s 4096 -S 4096 (4 KiB, consecutive, wrapping; not durable on either side), and the same writes to a third side, vfab on a LevelDB array (durable before GOOD); target CPU us/IO = user+system of stored or tgtd, all threads, per I/O';

interface Target {
  id: 'vfab' | 'vfab-level' | 'tgt';
  label: string;
  url: string;
  pid: () => number | undefined;
  writesPerSecond: number;
  /** Runs after each of its write phases, unmeasured (the LevelDB side finishes its compaction there). */
  settle?: () => Promise<void>;
}

async function perfRead(t: Target, depth: number, seconds: number): Promise<Record<string, number | null>> {
  const cpu0 = processCpuSeconds(t.pid());
  const out = await runTool('iscsi-perf', ['-m', String(depth), '-b', String(ISCSI_IO_BYTES / ISCSI_BLOCK_BYTES), '-r', '-t', String(seconds), t.url]);
  const cpu1 = processCpuSeconds(t.pid());
  const iops = parseIscsiPerf(out);
  if (iops === null) throw new Error(`${t.label}: no IOPS in iscsi-perf output: ${out.slice(-300)}`);
  const ios = iops * seconds;
  return { iops, targetCpuUsPerIo: cpu0 === null || cpu1 === null || ios <= 0 ? null : +(((cpu1 - cpu0) / ios) * 1e6).toFixed(2) };
}

async function benchWrite(t: Target, count: number): Promise<Record<string, number | null>> {
  const cpu0 = processCpuSeconds(t.pid());
  const out = await runTool('qemu-img', ['bench', '-f', 'raw', '-w', '-t', 'none', '-d', '32', '-s', String(ISCSI_IO_BYTES), '-S', String(ISCSI_IO_BYTES), '-c', String(count), t.url]);
  const cpu1 = processCpuSeconds(t.pid());
  const secs = parseQemuImgBench(out);
  if (secs === null || secs <= 0) throw new Error(`${t.label}: no run time in qemu-img bench output: ${out.slice(-300)}`);
  return { iops: Math.round(count / secs), targetCpuUsPerIo: cpu0 === null || cpu1 === null ? null : +(((cpu1 - cpu0) / count) * 1e6).toFixed(2) };
}

export async function runIscsiBench(opts: IscsiBenchOptions = {}): Promise<IscsiBenchResult> {
  const log = opts.log ?? ((): void => {});
  const rounds = opts.rounds ?? DEFAULT_ROUNDS;
  const seconds = perfSeconds(Math.min(opts.seconds ?? ISCSI_DEFAULT_PHASE_SECONDS, ISCSI_MAX_PHASE_SECONDS));
  const base = { lunBytes: ISCSI_LUN_BYTES, blockBytes: ISCSI_BLOCK_BYTES, ioBytes: ISCSI_IO_BYTES, phaseSeconds: seconds, method: ISCSI_METHOD };
  const missing = missingIscsiTools();
  if (missing.length > 0) {
    const msg = `${missing.join(', ')} not installed; install with: ${ISCSI_INSTALL}`;
    if (process.env.CI === 'true') {
      log(`skipped (CI): ${msg}`);
      return { ...base, skipped: msg, comparisons: [] };
    }
    throw new Error(msg);
  }
  log(ISCSI_METHOD);
  const shm = mkdtempSync(join('/dev/shm', 'vfab-bench-tgt-'));
  const storedDir = mkdtempSync(join(tmpdir(), 'vfab-bench-iscsi-'));
  const token = randomBytes(8).toString('hex');
  const levelDir = mkdtempSync(join(tmpdir(), 'vfab-bench-iscsi-level-'));
  let stored: StoredProcess | undefined;
  let storedLevel: StoredProcess | undefined;
  let tgtd: Tgtd | undefined;
  try {
    const image = join(shm, 'lun.img');
    writeFileSync(image, randomBytes(ISCSI_LUN_BYTES));
    tgtd = await startTgtd(image, log);
    stored = await startStored(storedDir, token, ['--memory', '--iscsi-port', '0'], { quiet: true });
    if (stored.iscsiPort === undefined || stored.iqn === undefined) throw new Error('stored did not report an iSCSI port');
    await control(stored.port, token, 'POST', 'luns', { name: 'bench', sizeBytes: ISCSI_LUN_BYTES, blockSize: ISCSI_BLOCK_BYTES, lun: 0 });
    const vfabUrl = `iscsi://127.0.0.1:${stored.iscsiPort}/${stored.iqn}/0`;
    await runTool('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'raw', image, vfabUrl]);
    log(`stored pid ${stored.child.pid}: iSCSI on 127.0.0.1:${stored.iscsiPort}, memory LUN 0 filled with the tgt file's bytes`);
    // A second stored on a LevelDB array (its data dir under the system temp dir, on disk): its writes are
    // acknowledged only once durable (group commit, fsync), the figure the memory side cannot give.
    storedLevel = await startStored(levelDir, token, ['--iscsi-port', '0'], { quiet: true });
    if (storedLevel.iscsiPort === undefined || storedLevel.iqn === undefined) throw new Error('stored (LevelDB) did not report an iSCSI port');
    await control(storedLevel.port, token, 'POST', 'luns', { name: 'bench', sizeBytes: ISCSI_LUN_BYTES, blockSize: ISCSI_BLOCK_BYTES, lun: 0 });
    log(`stored pid ${storedLevel.child.pid}: iSCSI on 127.0.0.1:${storedLevel.iscsiPort}, LevelDB LUN 0 in ${levelDir} (writes only)`);
    const s = stored;
    const sl = storedLevel;
    const t = tgtd;
    const vfab: Target = { id: 'vfab', label: 'vfab portal', url: vfabUrl, pid: () => s.child.pid, writesPerSecond: 0 };
    const vfabLevel: Target = {
      id: 'vfab-level',
      label: 'vfab portal, LevelDB (durable)',
      url: `iscsi://127.0.0.1:${sl.iscsiPort}/${sl.iqn}/0`,
      pid: () => sl.child.pid,
      writesPerSecond: 0,
      // LevelDB compacts in the background after a write phase: finish it before the next side's phase
      settle: async () => void (await control(sl.port, token, 'POST', 'compact')),
    };
    const tgt: Target = { id: 'tgt', label: 'tgt', url: `iscsi://127.0.0.1:${t.port}/${TGT_IQN}/1`, pid: () => t.child.pid, writesPerSecond: 0 };
    const comparisons: ComparisonResult[] = [];
    const compare = async (name: string, sideOf: (tg: Target) => Side, target?: TargetSpec, targets: Target[] = [vfab, tgt]): Promise<void> => {
      comparisons.push(await runComparison({ name, figures: ISCSI_FIGURES, sides: targets.map(sideOf), baseline: 'tgt', rounds, log, ...(target ? { targets: [target] } : {}) }));
    };
    const readSide = (depth: number) => (tg: Target): Side => ({
      id: tg.id,
      label: tg.label,
      warmUp: async () => void (await perfRead(tg, depth, 1)),
      measure: () => perfRead(tg, depth, seconds),
    });
    await compare('iscsi read 4 KiB random QD32', readSide(32), {
      text: `vfab portal IOPS >= ${READ_QD32_TARGET_RATIO.toFixed(2)} x tgt`,
      figure: 'iops',
      side: 'vfab',
      on: 'ratio',
      atLeast: READ_QD32_TARGET_RATIO,
      why: 'issue 11 states it in IOPS at QD32; each round pairs the two sides seconds apart',
    });
    await compare('iscsi read 4 KiB random QD1', readSide(1));
    await compare(
      'iscsi write 4 KiB QD32',
      (tg) => ({
        id: tg.id,
        label: tg.label,
        warmUp: async () => {
          const r = await benchWrite(tg, CALIBRATION_WRITES);
          await tg.settle?.();
          tg.writesPerSecond = r.iops ?? 0;
          log(`${tg.label}: calibration ${r.iops} writes/s -> ${writeCount(tg.writesPerSecond, seconds)} writes per phase`);
        },
        measure: async () => {
          const r = await benchWrite(tg, writeCount(tg.writesPerSecond, seconds));
          await tg.settle?.();
          return r;
        },
      }),
      {
        text: `vfab portal write IOPS >= ${WRITE_QD32_TARGET_RATIO.toFixed(2)} x tgt`,
        figure: 'iops',
        side: 'vfab',
        on: 'ratio',
        atLeast: WRITE_QD32_TARGET_RATIO,
        why: 'issue 11 states it in IOPS; vfab (memory) and tgt both write into memory without FUA or cache flushes; the LevelDB side is shown, not judged',
      },
      [vfab, vfabLevel, tgt],
    );
    return { ...base, comparisons };
  } finally {
    if (stored !== undefined) await stopStored(stored.child);
    if (storedLevel !== undefined) await stopStored(storedLevel.child);
    if (tgtd !== undefined) await stopTgtd(tgtd);
    rmSync(levelDir, { recursive: true, force: true });
    rmSync(shm, { recursive: true, force: true });
    rmSync(storedDir, { recursive: true, force: true });
  }
}
