// Datastore benchmark (issue 10), on the shared harness (bench/harness.ts, docs/benchmarks.md): the
// VMFS-like datastore's locking modes side by side, ATS-only (the baseline) against ATS+SCSI, measured in
// interleaved rounds. One real `stored` process with one LUN per mode; DS_BENCH_HOSTS "hosts", each its
// own block-protocol session with its own initiator name (so a SCSI-2 reservation of one conflicts with
// the others, as on a real array), each mounting both datastores with its own heartbeat slot and
// heartbeating at the volume's real cadence (time scale 1: 3 s pulse, 8 s I/O timeout, 16 s lease), and
// running the real lib/datastore generators through the driver hostd uses (daemons/datastore/driver.ts).
// Three comparisons: (1) uncontended exclusive lock acquire of one host on its own file (acquire timed,
// release not), p50/p99; (2) VM power-on of a fresh VM (lib/datastore/vm.ts: its directory and files
// created and opened exclusively), then power-off, p50/p99, the VM removed again untimed; and a boot
// storm: every host powers on its own existing VM at the same moment, p50/p99; (3) metadata
// operations per second with every host at once on one datastore, each creating and deleting its own
// files (one file block each) in its own directory for a bounded time, with per-operation latency, CPU
// per operation (bench process + stored), and the number of ATS miscompares, stale reads under a
// reservation, reservation conflicts and their sum (the retries), counted on the wire of each session.
// Everything is bounded: samples per round, seconds per phase, failed operations per host, and each
// operation's wall time. After the rounds each datastore's metadata is cross-checked raw (inspect.ts).
// Follows docs/vsphere-behaviour.md §7.2-§7.8 through lib/datastore. Leaves out contended lock acquire
// (the other host watches a live holder's heartbeat and fails once it moves, §7.6), VM disk data I/O, NAS
// datastores, and LUNs with ATS turned off.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { SystemClock } from '../lib/clock.js';
import { percentile } from '../lib/storage/vdisk.js';
import { SCSI_OP, type ScsiCommand, type ScsiResult, type ScsiTarget } from '../lib/storage/scsi.js';
import { DS_FILE_BLOCK_BYTES, type LockingMode, parseSuperblock, planFormat } from '../lib/datastore/format.js';
import { inspectVolume, metadataBlocks } from '../lib/datastore/inspect.js';
import { type HostCtx, createHostCtx, heartbeat, unmount } from '../lib/datastore/host.js';
import { acquireLock, releaseLock } from '../lib/datastore/lock.js';
import { createFile, deleteFile, listDir } from '../lib/datastore/files.js';
import { powerOffVm, powerOnVm } from '../lib/datastore/vm.js';
import { type Gen, fromScsiResult } from '../lib/datastore/proc.js';
import { DatastoreDriver } from '../daemons/datastore/driver.js';
import { hostUuidOf } from '../daemons/datastore/host-datastores.js';
import { connectBlockClient, type BlockClient } from '../daemons/storage/block-client.js';
import { VDisk } from '../lib/storage/vdisk.js';
import { BenchUsageError, MAX_PHASE_SECONDS, MIN_PHASE_SECONDS, parseBenchArgs } from './options.js';
import { DEFAULT_ROUNDS, MAX_ROUNDS, formatComparison, processCpuSeconds, runComparison, selfCpuSeconds, type ComparisonResult, type FigureSpec, type Side } from './harness.js';
import { control, startStored, stopStored, type StoredProcess } from './storage.js';

/** Hosts on each datastore: independent block sessions, each with its own initiator and heartbeat slot. */
export const DS_BENCH_HOSTS = 8;
/** Each LUN's size (sparse in stored's LevelDB): the metadata regions plus about 100 file blocks. */
export const DS_BENCH_LUN_BYTES = 128 * 1024 * 1024;
/** The LUNs' block size: one on-disk lock record or heartbeat slot per block, as a 512-byte sector. */
export const DS_BENCH_BLOCK_BYTES = 512;
/** Uncontended lock acquires per side and round (p99 of 200 is the second-slowest). */
export const DEFAULT_LOCK_SAMPLES = 200;
/** Fresh-VM power-ons per side and round, one per host (p99 of so few is the slowest). */
export const DEFAULT_POWER_ONS = 8;
/** Boot-storm waves per side and round: every host powers on its VM at once, then all power off. */
export const STORM_WAVES = 2;
/** Length of the 8-host metadata phase per side and round, unless `--seconds` says otherwise. */
export const DEFAULT_META_SECONDS = 2;
/** Bounds of the sample counts (settings checked by datastoreBenchSettings). */
export const MAX_LOCK_SAMPLES = 10_000;
export const MAX_POWER_ONS = 200;
/** Size of each file the metadata phase creates: one file block, so each create also claims a bitmap bit. */
export const META_FILE_BYTES = DS_FILE_BLOCK_BYTES;
/** A host whose operations fail this many times in one phase stops; the phase reports the failures. */
export const MAX_FAILED_OPS_PER_HOST = 20;
/** Longest one datastore operation may take (wall ms) before the bench stops it and fails the round. */
export const OP_TIMEOUT_MS = 60_000;
/** Longest a host waits for its heartbeat slot at mount (wall ms). */
export const MOUNT_TIMEOUT_MS = 30_000;
/** The two locking modes: ATS-only is the baseline the ratios divide by. */
export const MODES: readonly LockingMode[] = ['ats-only', 'ats-scsi'];

export interface DatastoreBenchOptions {
  rounds?: number;
  /** Length of the metadata phase per side and round (`--seconds`). */
  seconds?: number;
  lockSamples?: number;
  powerOns?: number;
  log?: (line: string) => void;
}

export interface DatastoreBenchSettings {
  rounds: number;
  metaSeconds: number;
  lockSamples: number;
  powerOns: number;
  hosts: number;
}

function wholeIn(name: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) throw new BenchUsageError(`${name} ${v}: want a whole number from ${min} to ${max}`);
  return v;
}

/** The phase's settings with defaults filled in; a value out of range is a BenchUsageError naming it. */
export function datastoreBenchSettings(o: Omit<DatastoreBenchOptions, 'log'> = {}): DatastoreBenchSettings {
  const metaSeconds = o.seconds ?? DEFAULT_META_SECONDS;
  if (!(metaSeconds >= MIN_PHASE_SECONDS && metaSeconds <= MAX_PHASE_SECONDS)) {
    throw new BenchUsageError(`--seconds ${metaSeconds}: want a number of seconds from ${MIN_PHASE_SECONDS} to ${MAX_PHASE_SECONDS}`);
  }
  return {
    rounds: wholeIn('--rounds', o.rounds ?? DEFAULT_ROUNDS, 1, MAX_ROUNDS),
    metaSeconds,
    lockSamples: wholeIn('lock samples', o.lockSamples ?? DEFAULT_LOCK_SAMPLES, 1, MAX_LOCK_SAMPLES),
    powerOns: wholeIn('power-ons', o.powerOns ?? DEFAULT_POWER_ONS, 1, MAX_POWER_ONS),
    hosts: DS_BENCH_HOSTS,
  };
}

// ------------------------------------------------------------------ counting what the array answered

/** What one session's commands met on the wire. */
export interface WireCounts {
  commands: number;
  /** COMPARE AND WRITE answered MISCOMPARE: another host changed the block first (ATS path). */
  atsMiscompares: number;
  /** RESERVE ... RELEASE with no WRITE between: the block read under the reservation had changed (the reservation path's miscompare; or its READ failed). */
  staleUnderReserve: number;
  /** Any command answered RESERVATION CONFLICT: another host held the LUN. */
  reservationConflicts: number;
  /** RESERVE (10) that succeeded: whole-LUN locks taken. */
  reservations: number;
}

export const zeroCounts = (): WireCounts => ({ commands: 0, atsMiscompares: 0, staleUnderReserve: 0, reservationConflicts: 0, reservations: 0 });

export function addCounts(a: WireCounts, b: WireCounts): WireCounts {
  return {
    commands: a.commands + b.commands,
    atsMiscompares: a.atsMiscompares + b.atsMiscompares,
    staleUnderReserve: a.staleUnderReserve + b.staleUnderReserve,
    reservationConflicts: a.reservationConflicts + b.reservationConflicts,
    reservations: a.reservations + b.reservations,
  };
}

/** Every miscompare and conflict makes the host redo a step (read again and retry, or back off and reissue). */
export const retriesOf = (c: WireCounts): number => c.atsMiscompares + c.staleUnderReserve + c.reservationConflicts;

/**
 * A ScsiTarget that passes every command to `inner` and counts the outcomes (WireCounts). One per
 * session and LUN. The reservation path is RESERVE, READ, compare, WRITE, RELEASE: a RELEASE after a
 * successful RESERVE without a successful WRITE between means the compare failed. That holds while one
 * metadata operation per session runs at a time (the heartbeat uses ATS, not the reservation), as here.
 */
export class CountingTarget implements ScsiTarget {
  counts = zeroCounts();
  private reservedNoWrite = false;

  constructor(private readonly inner: ScsiTarget) {}

  async execute(cmd: ScsiCommand): Promise<ScsiResult> {
    const r = await this.inner.execute(cmd);
    this.count(cmd.cdb[0]!, r);
    return r;
  }

  /** Counts one command's outcome (public for tests). */
  count(opcode: number, r: ScsiResult): void {
    const c = this.counts;
    c.commands++;
    const io = fromScsiResult(r);
    if (io.status === 'conflict') c.reservationConflicts++;
    else if (io.status === 'miscompare' && opcode === SCSI_OP.COMPARE_AND_WRITE) c.atsMiscompares++;
    if (io.status !== 'good') return;
    if (opcode === SCSI_OP.RESERVE_10) {
      c.reservations++;
      this.reservedNoWrite = true;
    } else if (opcode === SCSI_OP.WRITE_16) this.reservedNoWrite = false;
    else if (opcode === SCSI_OP.RELEASE_10) {
      if (this.reservedNoWrite) c.staleUnderReserve++;
      this.reservedNoWrite = false;
    }
  }

  /** The counts since the last take, and zero again. */
  take(): WireCounts {
    const c = this.counts;
    this.counts = zeroCounts();
    return c;
  }
}

// ------------------------------------------------------------------ latency summary (pure)

/** p50 and p99 (nearest rank) of wall-ms samples, rounded to microseconds; nulls for no sample. */
export function latencySummary(samplesMs: readonly number[]): { p50: number | null; p99: number | null } {
  if (samplesMs.length === 0) return { p50: null, p99: null };
  const s = [...samplesMs].sort((a, b) => a - b);
  return { p50: +percentile(s, 0.5).toFixed(3), p99: +percentile(s, 0.99).toFixed(3) };
}

// ------------------------------------------------------------------ hosts and datastores

interface Session {
  name: string;
  uuid: string;
  initiator: string;
  client: BlockClient;
}

/** One host's mount of one datastore. */
interface Mount {
  session: Session;
  ctx: HostCtx;
  driver: DatastoreDriver;
  counter: CountingTarget;
  heartbeat: Promise<void>;
  /** The host's own directory (entry index) and its lock-bench file. */
  dir: number;
  lockFile: number;
}

interface Datastore {
  mode: LockingMode;
  mounts: Mount[];
  /** Datastore events seen (type -> count), e.g. datastore-offline. */
  events: Map<string, number>;
  /** A heartbeat Proc that ended (it should not until the end). */
  heartbeatError: string | undefined;
}

let opSeq = 0;

/** The VM each host powers on in the boot storm. */
const stormVm = (m: Mount): string => `storm-${m.session.name}`;

/** Runs `gen` on the mount's driver, stopped and failed after OP_TIMEOUT_MS. */
async function runOp<T>(m: Mount, what: string, gen: Gen<T>): Promise<T> {
  const name = `${what} #${++opSeq}`;
  let timer: NodeJS.Timeout | undefined;
  const run = m.driver.run(name, m.ctx, gen);
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      m.driver.stopNamed(name, new Error(`${m.session.name}: ${what} took over ${OP_TIMEOUT_MS} ms`));
      reject(new Error(`${m.session.name}: ${what} took over ${OP_TIMEOUT_MS} ms`));
    }, OP_TIMEOUT_MS);
  });
  try {
    return await Promise.race([run, timeout]);
  } finally {
    clearTimeout(timer);
    run.catch(() => {});
  }
}

/** A directory's entry: created (open), then closed, as the power-on path does with a VM's directory. */
function* makeDir(ctx: HostCtx, parent: number, name: string): Gen<number> {
  const index = yield* createFile(ctx, parent, name, 0, 'dir');
  yield* releaseLock(ctx, index);
  return index;
}

/** A closed empty file in `dir`. */
function* makeFile(ctx: HostCtx, dir: number, name: string): Gen<number> {
  const index = yield* createFile(ctx, dir, name, 0);
  yield* releaseLock(ctx, index);
  return index;
}

/** Removes a powered-off VM's files and directory (the bench's cleanup; not a vfab operation). */
function* removeVm(ctx: HostCtx, vm: string): Gen<void> {
  const dir = (yield* listDir(ctx, 0)).find((e) => e.meta.name === vm)?.index;
  if (dir === undefined) return;
  for (const f of yield* listDir(ctx, dir)) {
    yield* acquireLock(ctx, f.index, 'exclusive');
    yield* deleteFile(ctx, f.index);
  }
  yield* acquireLock(ctx, dir, 'exclusive');
  yield* deleteFile(ctx, dir);
}

async function openDatastore(stored: StoredProcess, token: string, sessions: Session[], mode: LockingMode, clock: SystemClock): Promise<Datastore> {
  const info = (await control(stored.port, token, 'POST', 'luns', { name: `bench-${mode}`, sizeBytes: DS_BENCH_LUN_BYTES, blockSize: DS_BENCH_BLOCK_BYTES })) as { lun: number };
  const ds: Datastore = { mode, mounts: [], events: new Map(), heartbeatError: undefined };
  const driverFor = (s: Session, disk: VDisk, counter: CountingTarget): DatastoreDriver =>
    new DatastoreDriver({
      lun: { target: counter, lun: disk.lun, initiator: s.initiator, blockSizeBytes: disk.blockSizeBytes, sizeBytes: disk.sizeBytes },
      clock,
      timeScale: 1,
      event: (type) => ds.events.set(type, (ds.events.get(type) ?? 0) + 1),
      base: { host: s.name, datastore: mode },
    });
  // format through the first host's session, as `vfab datastore format` does through a hostd
  const first = await VDisk.open(sessions[0]!.client, info.lun, sessions[0]!.initiator);
  const fmt = driverFor(sessions[0]!, first, new CountingTarget(sessions[0]!.client));
  const plan = planFormat(first.sizeBytes, first.blockSizeBytes, { label: `bench-${mode}`, volumeUuid: randomBytes(16).toString('hex'), locking: mode, inspect: await fmt.read(0, 1) });
  if (!plan.ok) throw plan.error;
  for (const w of plan.value.writes) await fmt.write(w.lba, w.data);
  const sb = parseSuperblock(await fmt.read(0, 1), first.blockSizeBytes);
  if (!sb.ok) throw sb.error;
  for (const s of sessions) {
    const disk = await VDisk.open(s.client, info.lun, s.initiator);
    const counter = new CountingTarget(s.client);
    const driver = driverFor(s, disk, counter);
    const ctx = createHostCtx({ hostUuid: s.uuid, hostName: s.name, sb: sb.value });
    const hb = driver.run('heartbeat', ctx, heartbeat(ctx));
    hb.catch((e: Error) => void (ds.heartbeatError ??= `${s.name}: ${e.message}`));
    const until = performance.now() + MOUNT_TIMEOUT_MS;
    while (!ctx.online && ds.heartbeatError === undefined && performance.now() < until) await new Promise((r) => setTimeout(r, 5));
    if (!ctx.online) throw new Error(`${s.name} could not mount ${mode}: ${ds.heartbeatError ?? `no heartbeat slot within ${MOUNT_TIMEOUT_MS} ms`}`);
    const m: Mount = { session: s, ctx, driver, counter, heartbeat: hb, dir: -1, lockFile: -1 };
    m.dir = await runOp(m, 'mkdir', makeDir(ctx, 0, `bench-${s.name}`));
    m.lockFile = await runOp(m, 'create lock file', makeFile(ctx, m.dir, 'lock-bench'));
    await runOp(m, 'create storm VM', powerOnVm(ctx, stormVm(m)));
    await runOp(m, 'power off storm VM', powerOffVm(ctx, stormVm(m)));
    counter.take();
    ds.mounts.push(m);
  }
  return ds;
}

/** The datastore's metadata read raw and cross-checked (lib/datastore/inspect.ts): problems found, none when clean. */
async function verifyDatastore(ds: Datastore): Promise<string[]> {
  const m = ds.mounts[0]!;
  const meta = await m.driver.read(0, metadataBlocks(m.ctx.sb.layout));
  const r = inspectVolume(meta, m.driver.lun.blockSizeBytes);
  if (r.report === undefined) return [r.problem?.message ?? 'the volume could not be inspected'];
  return r.report.problems.map((p) => `${p.code} at byte ${p.offset}: ${p.message}`);
}

async function closeDatastore(ds: Datastore): Promise<void> {
  for (const m of ds.mounts) {
    m.driver.stopNamed('heartbeat', new Error('bench over'));
    m.heartbeat.catch(() => {});
    await m.driver.run('unmount', m.ctx, unmount(m.ctx)).catch(() => {});
    m.driver.stopAll();
  }
}

function checkHealthy(ds: Datastore): void {
  if (ds.heartbeatError !== undefined) throw new Error(`${ds.mode}: a heartbeat stopped: ${ds.heartbeatError}`);
  const offline = ds.events.get('datastore-offline') ?? 0;
  if (offline > 0) throw new Error(`${ds.mode}: ${offline} host(s) lost access to the volume during the bench (no heartbeat for a lease)`);
}

// ------------------------------------------------------------------ the three measurements

type Figures = Record<string, number | null>;

/** One host acquires (timed) and releases (untimed) an exclusive lock on its own file, `n` times. */
async function lockRound(ds: Datastore, n: number): Promise<Figures> {
  const m = ds.mounts[0]!;
  const lat: number[] = [];
  m.counter.take();
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await runOp(m, 'acquire', acquireLock(m.ctx, m.lockFile, 'exclusive'));
    lat.push(performance.now() - t0);
    await runOp(m, 'release', releaseLock(m.ctx, m.lockFile));
  }
  const wire = m.counter.take();
  checkHealthy(ds);
  const s = latencySummary(lat);
  return { acquireP50Ms: s.p50, acquireP99Ms: s.p99, commandsPerCycle: +(wire.commands / n).toFixed(1), samples: n };
}

let vmSeq = 0;

/** `n` power-ons of fresh VMs, each on the next host in turn, then power-off (timed apart) and removal (untimed). */
async function powerOnRound(ds: Datastore, n: number): Promise<Figures> {
  const on: number[] = [];
  const off: number[] = [];
  for (let i = 0; i < n; i++) {
    const m = ds.mounts[i % ds.mounts.length]!;
    const vm = `bvm${++vmSeq}`;
    const t0 = performance.now();
    await runOp(m, `power-on ${vm}`, powerOnVm(m.ctx, vm));
    const t1 = performance.now();
    await runOp(m, `power-off ${vm}`, powerOffVm(m.ctx, vm));
    off.push(performance.now() - t1);
    on.push(t1 - t0);
    await runOp(m, `remove ${vm}`, removeVm(m.ctx, vm));
  }
  checkHealthy(ds);
  const a = latencySummary(on);
  const storm = await stormRound(ds);
  return { powerOnP50Ms: a.p50, powerOnP99Ms: a.p99, powerOffP50Ms: latencySummary(off).p50, stormP50Ms: storm.p50, stormP99Ms: storm.p99, samples: n };
}

/**
 * A boot storm: every host powers on its own existing VM (`storm-<host>`, created at setup and powered
 * off) at the same moment, STORM_WAVES times; each power-on's wall time. No two hosts want the same lock,
 * so what they share is the LUN: a reservation per lock on ATS+SCSI, nothing on ATS-only.
 */
async function stormRound(ds: Datastore): Promise<{ p50: number | null; p99: number | null }> {
  const lat: number[] = [];
  for (let wave = 0; wave < STORM_WAVES; wave++) {
    await Promise.all(
      ds.mounts.map(async (m) => {
        const t0 = performance.now();
        await runOp(m, 'storm power-on', powerOnVm(m.ctx, stormVm(m)));
        lat.push(performance.now() - t0);
      }),
    );
    await Promise.all(ds.mounts.map((m) => runOp(m, 'storm power-off', powerOffVm(m.ctx, stormVm(m)))));
  }
  return latencySummary(lat);
}

let fileSeq = 0;

/** Every host creates and deletes files in its own directory for `seconds`; rates, latency and wire counts. */
async function metadataRound(ds: Datastore, seconds: number, storedPid: number | undefined, log: (line: string) => void): Promise<Figures> {
  for (const m of ds.mounts) m.counter.take();
  const lat: number[] = [];
  let failed = 0;
  let firstError: string | undefined;
  const cpu0 = selfCpuSeconds() + (processCpuSeconds(storedPid) ?? NaN);
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(
    ds.mounts.map(async (m) => {
      let hostFailures = 0;
      const timed = async <T>(what: string, gen: Gen<T>): Promise<T> => {
        const s = performance.now();
        const v = await runOp(m, what, gen);
        lat.push(performance.now() - s);
        return v;
      };
      while (performance.now() < end && hostFailures < MAX_FAILED_OPS_PER_HOST) {
        try {
          const entry = await timed('create', createFile(m.ctx, m.dir, `f${++fileSeq}`, META_FILE_BYTES));
          await timed('delete', deleteFile(m.ctx, entry));
        } catch (e) {
          hostFailures++;
          failed++;
          firstError ??= `${m.session.name}: ${(e as Error).message}`;
        }
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  const cpu1 = selfCpuSeconds() + (processCpuSeconds(storedPid) ?? NaN);
  const wire = ds.mounts.reduce((acc, m) => addCounts(acc, m.counter.take()), zeroCounts());
  checkHealthy(ds);
  const ops = lat.length;
  const s = latencySummary(lat);
  const out: Figures = {
    opsPerSec: Math.round(ops / elapsed),
    opP50Ms: s.p50,
    opP99Ms: s.p99,
    cpuUsPerOp: ops > 0 && Number.isFinite(cpu1 - cpu0) ? +(((cpu1 - cpu0) / ops) * 1e6).toFixed(0) : null,
    atsMiscompares: wire.atsMiscompares,
    staleUnderReserve: wire.staleUnderReserve,
    reservationConflicts: wire.reservationConflicts,
    retries: retriesOf(wire),
    failedOps: failed,
    ops,
  };
  if (firstError !== undefined) log(`${ds.mode}: ${failed} metadata operation(s) failed, the first: ${firstError}`);
  return out;
}

export const LOCK_FIGURES: FigureSpec[] = [
  { id: 'acquireP50Ms', label: 'acquire p50 ms', better: 'lower' },
  { id: 'acquireP99Ms', label: 'acquire p99 ms', better: 'lower' },
  /** SCSI commands of the host per acquire + release (and its few heartbeats meanwhile). */
  { id: 'commandsPerCycle', label: 'SCSI cmds/acq+rel', better: 'lower' },
];

export const POWER_ON_FIGURES: FigureSpec[] = [
  { id: 'powerOnP50Ms', label: 'power-on p50 ms', better: 'lower' },
  { id: 'powerOnP99Ms', label: 'power-on p99 ms', better: 'lower' },
  { id: 'powerOffP50Ms', label: 'power-off p50 ms', better: 'lower' },
  { id: 'stormP50Ms', label: 'storm power-on p50 ms', better: 'lower' },
  { id: 'stormP99Ms', label: 'storm power-on p99 ms', better: 'lower' },
];

export const METADATA_FIGURES: FigureSpec[] = [
  { id: 'opsPerSec', label: 'metadata ops/s', better: 'higher' },
  { id: 'opP50Ms', label: 'op p50 ms', better: 'lower' },
  { id: 'opP99Ms', label: 'op p99 ms', better: 'lower' },
  { id: 'cpuUsPerOp', label: 'CPU us/op', better: 'lower' },
  { id: 'atsMiscompares', label: 'ATS miscompares', better: 'lower', ratio: false },
  { id: 'staleUnderReserve', label: 'stale under reserve', better: 'lower', ratio: false },
  { id: 'reservationConflicts', label: 'reservation conflicts', better: 'lower', ratio: false },
  { id: 'retries', label: 'retries', better: 'lower', ratio: false },
  { id: 'failedOps', label: 'failed ops', better: 'lower', ratio: false },
];

export interface DatastoreBenchResult {
  settings: DatastoreBenchSettings;
  lunBytes: number;
  blockBytes: number;
  timeScale: number;
  /** Sides atsOnly (baseline) and atsScsi in each. */
  lock: ComparisonResult;
  powerOn: ComparisonResult;
  metadata: ComparisonResult;
  comparisons: ComparisonResult[];
  /** Per mode: what the raw metadata check found after the rounds (empty = clean). */
  verify: Record<string, string[]>;
  /** Per mode: datastore events of all hosts over the whole run, by type (datastore-heartbeat-timeout, ...). */
  events: Record<string, Record<string, number>>;
}

const sideId = (mode: LockingMode): string => (mode === 'ats-only' ? 'atsOnly' : 'atsScsi');
const sideLabel = (mode: LockingMode): string => (mode === 'ats-only' ? 'ATS-only' : 'ATS+SCSI');

export async function runDatastoreBench(opts: DatastoreBenchOptions = {}): Promise<DatastoreBenchResult> {
  const st = datastoreBenchSettings(opts);
  const log = opts.log ?? ((): void => {});
  const clock = new SystemClock();
  const dir = mkdtempSync(join(tmpdir(), 'vfab-bench-ds-'));
  const token = randomBytes(8).toString('hex');
  let stored: StoredProcess | undefined;
  const sessions: Session[] = [];
  const stores: Datastore[] = [];
  try {
    stored = await startStored(dir, token, []);
    for (let i = 1; i <= st.hosts; i++) {
      const name = `esx${i}`;
      const initiator = `iqn.vfab:bench-${name}`;
      sessions.push({ name, uuid: hostUuidOf(`bench-${name}`), initiator, client: await connectBlockClient({ url: `ws://127.0.0.1:${stored.port}/block`, token, initiator }) });
    }
    for (const mode of MODES) stores.push(await openDatastore(stored, token, sessions, mode, clock));
    log(`${st.hosts} hosts (block sessions with their own initiators) mounted on an ATS-only and an ATS+SCSI datastore (${DS_BENCH_LUN_BYTES / 2 ** 20} MiB LUNs, ${DS_BENCH_BLOCK_BYTES}-byte blocks), heartbeating at the volume's cadence (time scale 1)`);
    const storedPid = stored.child.pid;
    const sides = (measure: (ds: Datastore) => Promise<Figures>, warm: (ds: Datastore) => Promise<unknown>): Side[] =>
      stores.map((ds) => ({ id: sideId(ds.mode), label: sideLabel(ds.mode), measure: () => measure(ds), warmUp: async () => void (await warm(ds)) }));
    const compare = (name: string, figures: FigureSpec[], s: Side[]): Promise<ComparisonResult> => runComparison({ name, figures, sides: s, baseline: 'atsOnly', rounds: st.rounds, log });
    const lock = await compare(`datastore lock acquire, uncontended (${st.lockSamples} per round)`, LOCK_FIGURES, sides((ds) => lockRound(ds, st.lockSamples), (ds) => lockRound(ds, Math.min(20, st.lockSamples))));
    const powerOn = await compare(`datastore VM power-on, fresh VM (${st.powerOns} per round)`, POWER_ON_FIGURES, sides((ds) => powerOnRound(ds, st.powerOns), (ds) => powerOnRound(ds, 1)));
    const metadata = await compare(`datastore metadata ops, ${st.hosts} hosts at once (${st.metaSeconds} s per round)`, METADATA_FIGURES, sides((ds) => metadataRound(ds, st.metaSeconds, storedPid, log), (ds) => metadataRound(ds, MIN_PHASE_SECONDS, storedPid, log)));
    const verify: Record<string, string[]> = {};
    const events: Record<string, Record<string, number>> = {};
    for (const ds of stores) {
      events[ds.mode] = Object.fromEntries([...ds.events].sort(([a], [b]) => a.localeCompare(b)));
      const odd = [...ds.events].filter(([t]) => /heartbeat-timeout|slot-lost|slot-changed|offline|replay/.test(t));
      if (odd.length > 0) log(`${ds.mode}: ${odd.map(([t, n]) => `${n} ${t}`).join(', ')}`);
      verify[ds.mode] = await verifyDatastore(ds);
      log(`${ds.mode}: metadata after the rounds ${verify[ds.mode]!.length === 0 ? 'verifies clean' : `has ${verify[ds.mode]!.length} problem(s): ${verify[ds.mode]!.slice(0, 3).join('; ')}`}`);
    }
    const dirty = Object.entries(verify).filter(([, p]) => p.length > 0);
    if (dirty.length > 0) throw new Error(`the datastore metadata does not verify clean after the rounds: ${dirty.map(([mode, p]) => `${mode}: ${p[0]}`).join('; ')}`);
    return { settings: st, lunBytes: DS_BENCH_LUN_BYTES, blockBytes: DS_BENCH_BLOCK_BYTES, timeScale: 1, lock, powerOn, metadata, comparisons: [lock, powerOn, metadata], verify, events };
  } finally {
    for (const ds of stores) await closeDatastore(ds);
    for (const s of sessions) s.client.close();
    if (stored !== undefined) await stopStored(stored.child);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && /bench[\\/]datastore\.ts$/.test(process.argv[1])) {
  // standalone: node --import tsx bench/datastore.ts [--rounds N] [--seconds S] [--json]
  let o: ReturnType<typeof parseBenchArgs>;
  let given: { rounds?: number; seconds?: number };
  try {
    o = parseBenchArgs(process.argv.slice(2));
    given = { ...(o.rounds !== undefined ? { rounds: o.rounds } : {}), ...(o.seconds !== undefined ? { seconds: o.seconds } : {}) };
    datastoreBenchSettings(given);
  } catch (e) {
    process.stderr.write(`bench/datastore.ts: ${(e as Error).message}\n`);
    process.exit(2);
  }
  const say = (l: string): void => void (o.json ? process.stderr : process.stdout).write(l + '\n');
  runDatastoreBench({ ...given, log: say })
    .then((r) => {
      if (o.json) console.log(JSON.stringify(r, null, 2));
      else for (const c of r.comparisons) for (const l of formatComparison(c)) say(l);
      process.exit(0);
    })
    .catch((e: unknown) => {
      console.error(e);
      process.exit(1);
    });
}
