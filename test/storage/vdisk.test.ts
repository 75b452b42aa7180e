// Virtual disk over a ScsiTarget (lib/storage/vdisk.ts) against an in-memory array: byte-granular reads
// and writes with read-modify-write, transfers split at MAX_VDISK_TRANSFER_BYTES, range errors, and the
// workload generator with a manual clock and seeded randomness.

import { expect } from 'chai';
import { ManualClock, seededRandom } from '../../lib/clock.js';
import { openArray, type StorageArray } from '../../lib/storage/array.js';
import type { ScsiCommand, ScsiResult, ScsiTarget } from '../../lib/storage/scsi.js';
import { MAX_VDISK_TRANSFER_BYTES, VDISK_ERROR, VDisk, percentile, runWorkload } from '../../lib/storage/vdisk.js';

describe('storage/vdisk', () => {
  let array: StorageArray;
  let disk: VDisk;

  beforeEach(async () => {
    array = await openArray({});
    await array.createLun({ name: 'vd', sizeBytes: 8 * 1024 * 1024, blockSizeBytes: 512 });
    disk = await VDisk.open(array, 0, 'iqn.test:vd');
  });
  afterEach(() => array.close());

  it('opens with the capacity from READ CAPACITY (16)', () => {
    expect(disk.blockSizeBytes).to.equal(512);
    expect(disk.blocks).to.equal(16384);
    expect(disk.sizeBytes).to.equal(8 * 1024 * 1024);
  });

  it('an unaligned write changes only its bytes (read-modify-write keeps the neighbours)', async () => {
    await disk.write(0, Buffer.alloc(2048, 0x11));
    await disk.write(300, Buffer.alloc(1000, 0x22));
    const all = await disk.read(0, 2048);
    expect(all.subarray(0, 300).every((b) => b === 0x11)).to.equal(true);
    expect(all.subarray(300, 1300).every((b) => b === 0x22)).to.equal(true);
    expect(all.subarray(1300).every((b) => b === 0x11)).to.equal(true);
  });

  it('an unaligned write inside one block and a read at an odd offset', async () => {
    await disk.write(1000, Buffer.from('hello'));
    expect((await disk.read(1000, 5)).toString()).to.equal('hello');
    expect((await disk.read(999, 7)).toString('hex')).to.equal('0068656c6c6f00');
  });

  it('splits large transfers at MAX_VDISK_TRANSFER_BYTES and round-trips them', async () => {
    const big = Buffer.alloc(MAX_VDISK_TRANSFER_BYTES * 2 + 700);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
    const before = array.stats().totals.writes;
    await disk.write(100, big);
    expect(array.stats().totals.writes - before).to.equal(3);
    expect((await disk.read(100, big.length)).equals(big)).to.equal(true);
  });

  it('rejects ranges outside the disk with VFAB_VDISK_OUT_OF_RANGE', async () => {
    for (const [off, len] of [[disk.sizeBytes - 10, 11], [-1, 1]]) {
      try {
        await disk.read(off, len);
        expect.fail('read out of range');
      } catch (e) {
        expect((e as { code: string }).code).to.equal(VDISK_ERROR.OUT_OF_RANGE);
      }
    }
  });

  it('workload: count, mix, depth and latency percentiles with a manual clock', async () => {
    const clock = new ManualClock();
    // Each command "takes" 2 ms of manual time.
    const slow: ScsiTarget = {
      async execute(cmd: ScsiCommand): Promise<ScsiResult> {
        const r = await array.execute(cmd);
        clock.advance(2);
        return r;
      },
    };
    const d = new VDisk(slow, { lun: 0, initiator: 'iqn.test:w', blockSizeBytes: 512, blocks: disk.blocks });
    const r = await runWorkload(d, { pattern: 'random', blockBytes: 4096, depth: 4, count: 200, readPercent: 50, clock, random: seededRandom(7) });
    expect(r.ios).to.equal(200);
    expect(r.errors).to.equal(0);
    expect(r.reads + r.writes).to.equal(200);
    expect(r.reads).to.be.within(60, 140);
    expect(r.elapsedMs).to.equal(400);
    expect(r.iops).to.equal(500);
    expect(r.mbPerSec).to.be.closeTo((500 * 4096) / 1e6, 1e-9);
    expect(r.latencyP50Ms).to.be.at.least(2);
  });

  it('workload: sequential writes land on consecutive slots and durations stop the run', async () => {
    const clock = new ManualClock();
    const ticking: ScsiTarget = {
      async execute(cmd) {
        clock.advance(10);
        return array.execute(cmd);
      },
    };
    const d = new VDisk(ticking, { lun: 0, initiator: 'iqn.test:w', blockSizeBytes: 512, blocks: disk.blocks });
    const r = await runWorkload(d, { pattern: 'sequential', blockBytes: 1024, depth: 1, seconds: 0.1, readPercent: 0, clock, random: seededRandom(1), writeData: Buffer.alloc(1024, 0x77) });
    expect(r.writes).to.equal(10);
    expect((await disk.read(0, 10 * 1024)).every((b) => b === 0x77)).to.equal(true);
    expect((await disk.read(10 * 1024, 1)).at(0)).to.equal(0);
  });

  it('workload: bad options are refused with VFAB_VDISK_BAD_WORKLOAD', async () => {
    const clock = new ManualClock();
    for (const bad of [{ blockBytes: 100, depth: 1, count: 1 }, { blockBytes: 512, depth: 0, count: 1 }, { blockBytes: 512, depth: 1 }]) {
      try {
        await runWorkload(disk, { pattern: 'random', clock, random: seededRandom(1), ...bad });
        expect.fail('accepted bad options');
      } catch (e) {
        expect((e as { code: string }).code).to.equal(VDISK_ERROR.BAD_WORKLOAD);
      }
    }
  });

  it('percentile uses nearest rank', () => {
    expect(percentile([1, 2, 3, 4], 0.5)).to.equal(2);
    expect(percentile([1, 2, 3, 4], 0.99)).to.equal(4);
    expect(percentile([], 0.5)).to.equal(0);
  });
});
