// The pure parts of the datastore benchmark (bench/datastore.ts, docs/benchmarks.md "Datastores"): its
// settings (defaults and strict bounds, a BenchUsageError naming the value), the p50/p99 summary of
// latency samples, and the wire counter that tells ATS miscompares, reservation conflicts and stale
// reads under a reservation apart, on a fake SCSI target. Leaves out the measurement itself (npm run
// bench -- --only datastore, which needs a real stored).

import { expect } from 'chai';
import {
  CountingTarget, DEFAULT_LOCK_SAMPLES, DEFAULT_META_SECONDS, DEFAULT_POWER_ONS, DS_BENCH_HOSTS, MAX_LOCK_SAMPLES, MAX_POWER_ONS,
  addCounts, datastoreBenchSettings, latencySummary, retriesOf, zeroCounts,
} from '../../bench/datastore.js';
import { BenchUsageError, MAX_PHASE_SECONDS, MIN_PHASE_SECONDS, parseBenchArgs } from '../../bench/options.js';
import { DEFAULT_ROUNDS, MAX_ROUNDS } from '../../bench/harness.js';
import { compareAndWrite, read16, release10, reserve10, write16 } from '../../lib/storage/cdb.js';
import { SCSI_STATUS, SENSE_KEY, type ScsiCommand, type ScsiResult, type ScsiTarget } from '../../lib/storage/scsi.js';

function usageError(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).to.be.instanceOf(BenchUsageError);
    return (e as Error).message;
  }
  throw new Error('no usage error');
}

describe('datastore bench settings', () => {
  it('fills in the defaults: 8 hosts, the default rounds and metadata phase length', () => {
    expect(datastoreBenchSettings()).to.deep.equal({ rounds: DEFAULT_ROUNDS, metaSeconds: DEFAULT_META_SECONDS, lockSamples: DEFAULT_LOCK_SAMPLES, powerOns: DEFAULT_POWER_ONS, hosts: DS_BENCH_HOSTS });
    expect(DS_BENCH_HOSTS).to.equal(8);
    expect(datastoreBenchSettings({ rounds: 2, seconds: 0.5, lockSamples: 10, powerOns: 1 })).to.include({ rounds: 2, metaSeconds: 0.5, lockSamples: 10, powerOns: 1 });
  });

  it('refuses values out of range, naming them', () => {
    expect(usageError(() => datastoreBenchSettings({ seconds: MIN_PHASE_SECONDS / 2 }))).to.match(/^--seconds 0\.1: want a number of seconds/);
    expect(usageError(() => datastoreBenchSettings({ seconds: MAX_PHASE_SECONDS + 1 }))).to.match(/^--seconds 11:/);
    expect(usageError(() => datastoreBenchSettings({ seconds: NaN }))).to.match(/^--seconds NaN:/);
    expect(usageError(() => datastoreBenchSettings({ rounds: 0 }))).to.match(/^--rounds 0: want a whole number from 1 to/);
    expect(usageError(() => datastoreBenchSettings({ rounds: MAX_ROUNDS + 1 }))).to.match(/^--rounds/);
    expect(usageError(() => datastoreBenchSettings({ lockSamples: 0 }))).to.match(/^lock samples 0:/);
    expect(usageError(() => datastoreBenchSettings({ lockSamples: MAX_LOCK_SAMPLES + 1 }))).to.match(/^lock samples/);
    expect(usageError(() => datastoreBenchSettings({ lockSamples: 2.5 }))).to.match(/^lock samples 2\.5:/);
    expect(usageError(() => datastoreBenchSettings({ powerOns: MAX_POWER_ONS + 1 }))).to.match(/^power-ons/);
    expect(datastoreBenchSettings({ seconds: MAX_PHASE_SECONDS, rounds: MAX_ROUNDS, lockSamples: MAX_LOCK_SAMPLES, powerOns: MAX_POWER_ONS }).metaSeconds).to.equal(MAX_PHASE_SECONDS);
  });

  it('is an area of npm run bench, selected with --only datastore', () => {
    expect(parseBenchArgs(['--only', 'datastore']).areas).to.deep.equal(['datastore']);
    expect(parseBenchArgs([]).areas).to.include('datastore');
    expect(() => parseBenchArgs(['--only', 'datastores'])).to.throw(BenchUsageError, "unknown area 'datastores'");
  });
});

describe('datastore bench latency summary', () => {
  it('takes p50 and p99 by nearest rank from unsorted samples', () => {
    const samples = Array.from({ length: 200 }, (_, i) => 200 - i); // 200 .. 1
    expect(latencySummary(samples)).to.deep.equal({ p50: 100, p99: 198 });
    expect(latencySummary([5, 1, 3])).to.deep.equal({ p50: 3, p99: 5 });
    expect(latencySummary([1.23456])).to.deep.equal({ p50: 1.235, p99: 1.235 });
  });

  it('says null for no sample, and leaves the input alone', () => {
    expect(latencySummary([])).to.deep.equal({ p50: null, p99: null });
    const s = [3, 1, 2];
    latencySummary(s);
    expect(s).to.deep.equal([3, 1, 2]);
  });
});

const GOOD: ScsiResult = { status: SCSI_STATUS.GOOD };
const CONFLICT: ScsiResult = { status: SCSI_STATUS.RESERVATION_CONFLICT };
const MISCOMPARE: ScsiResult = { status: SCSI_STATUS.CHECK_CONDITION, sense: { key: SENSE_KEY.MISCOMPARE, asc: 0x1d, ascq: 0 } };

/** A target that answers each command with the next scripted result. */
class Scripted implements ScsiTarget {
  seen: number[] = [];
  constructor(private readonly answers: ScsiResult[]) {}
  async execute(cmd: ScsiCommand): Promise<ScsiResult> {
    this.seen.push(cmd.cdb[0]!);
    return this.answers.shift() ?? GOOD;
  }
}

const cmd = (cdb: Buffer, dataOut?: Buffer): ScsiCommand => ({ initiator: 'iqn.test', lun: 0, cdb, ...(dataOut ? { dataOut } : {}) });

describe('datastore bench wire counter', () => {
  it('counts an ATS miscompare and passes the answer through unchanged', async () => {
    const t = new CountingTarget(new Scripted([MISCOMPARE, GOOD]));
    expect(await t.execute(cmd(compareAndWrite(5, 1), Buffer.alloc(1024)))).to.equal(MISCOMPARE);
    await t.execute(cmd(compareAndWrite(5, 1), Buffer.alloc(1024)));
    expect(t.counts).to.deep.equal({ ...zeroCounts(), commands: 2, atsMiscompares: 1 });
  });

  it('counts RESERVE ... RELEASE without a WRITE as a stale read under the reservation, not when the WRITE happened', async () => {
    const t = new CountingTarget(new Scripted([]));
    for (const c of [reserve10(), read16(5, 1), release10()]) await t.execute(cmd(c)); // compare failed: no write
    for (const c of [reserve10(), read16(5, 1)]) await t.execute(cmd(c));
    await t.execute(cmd(write16(5, 1), Buffer.alloc(512)));
    await t.execute(cmd(release10())); // compare matched: written
    expect(t.counts).to.deep.equal({ ...zeroCounts(), commands: 7, reservations: 2, staleUnderReserve: 1 });
  });

  it('counts reservation conflicts on any command, and a refused RESERVE holds nothing', async () => {
    const t = new CountingTarget(new Scripted([CONFLICT, CONFLICT, GOOD]));
    await t.execute(cmd(reserve10())); // conflict: not reserved
    await t.execute(cmd(read16(0, 1))); // conflict
    await t.execute(cmd(release10())); // a RELEASE with no reservation of ours: not a stale read
    expect(t.counts).to.deep.equal({ ...zeroCounts(), commands: 3, reservationConflicts: 2 });
  });

  it('take() hands the counts over and starts again; retries add up every redo', async () => {
    const t = new CountingTarget(new Scripted([MISCOMPARE, CONFLICT]));
    await t.execute(cmd(compareAndWrite(1, 1), Buffer.alloc(1024)));
    await t.execute(cmd(read16(0, 1)));
    const a = t.take();
    expect(t.counts).to.deep.equal(zeroCounts());
    const sum = addCounts(a, { ...zeroCounts(), commands: 3, staleUnderReserve: 1 });
    expect(sum).to.deep.equal({ commands: 5, atsMiscompares: 1, staleUnderReserve: 1, reservationConflicts: 1, reservations: 0 });
    expect(retriesOf(sum)).to.equal(3);
  });
});
