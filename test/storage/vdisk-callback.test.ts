// The workload generator over a CallbackScsiTarget (lib/storage/vdisk.ts runWorkloadCb): the same counts,
// mix, timing and errors as the Promise loop, with a manual clock, seeded randomness and an in-memory array;
// the CDB a slot hands over stays unchanged until its completion; errors (non-GOOD status, a refused
// command) are counted with the first message kept.

import { expect } from 'chai';
import { ManualClock, seededRandom } from '../../lib/clock.js';
import { openArray, type StorageArray } from '../../lib/storage/array.js';
import { SCSI_OP, SCSI_STATUS, type ScsiCommand, type ScsiResult, type ScsiTarget } from '../../lib/storage/scsi.js';
import { VDisk, isCallbackScsiTarget, runWorkload, type CallbackScsiTarget, type ScsiCallback } from '../../lib/storage/vdisk.js';

/** A CallbackScsiTarget over a ScsiTarget that checks the caller's contract and can inject failures. */
class CbTarget implements CallbackScsiTarget {
  calls = 0;
  cdbChangedBeforeDone = 0;
  syncCompletions = 0;
  readonly seenOps = new Map<number, number>();
  constructor(
    private readonly inner: ScsiTarget,
    private readonly onEach: (n: number) => ScsiResult | Error | undefined = () => undefined,
    private readonly advance: () => void = () => {},
  ) {}
  execute(cmd: ScsiCommand): Promise<ScsiResult> {
    return this.inner.execute(cmd);
  }
  executeCb<C>(cmd: ScsiCommand, ctx: C, done: ScsiCallback<C>): void {
    const n = ++this.calls;
    const cdbAtCall = Buffer.from(cmd.cdb);
    this.seenOps.set(cmd.cdb[0]!, (this.seenOps.get(cmd.cdb[0]!) ?? 0) + 1);
    let inside = true;
    const finish = (r: ScsiResult | undefined, e: Error | undefined): void => {
      if (inside) this.syncCompletions++;
      if (!cdbAtCall.equals(Buffer.from(cmd.cdb))) this.cdbChangedBeforeDone++;
      this.advance();
      done(ctx, r, e);
    };
    const injected = this.onEach(n);
    if (injected instanceof Error) queueMicrotask(() => finish(undefined, injected));
    else if (injected !== undefined) queueMicrotask(() => finish(injected, undefined));
    else this.inner.execute({ ...cmd, cdb: Buffer.from(cmd.cdb) }).then((r) => finish(r, undefined), (e: Error) => finish(undefined, e));
    inside = false;
  }
}

describe('storage/vdisk workload over a callback target', () => {
  let array: StorageArray;
  let blocks: number;

  beforeEach(async () => {
    array = await openArray({});
    await array.createLun({ name: 'vd', sizeBytes: 8 * 1024 * 1024, blockSizeBytes: 512 });
    blocks = (await VDisk.open(array, 0, 'iqn.test:vd')).blocks;
  });
  afterEach(() => array.close());

  it('is chosen for targets with executeCb: count, mix and manual-clock timing match the Promise loop', async () => {
    const clock = new ManualClock();
    const t = new CbTarget(array, undefined, () => clock.advance(2));
    expect(isCallbackScsiTarget(t)).to.equal(true);
    expect(isCallbackScsiTarget(array)).to.equal(false);
    const d = new VDisk(t, { lun: 0, initiator: 'iqn.test:w', blockSizeBytes: 512, blocks });
    const r = await runWorkload(d, { pattern: 'random', blockBytes: 4096, depth: 4, count: 200, readPercent: 50, clock, random: seededRandom(7) });
    expect(t.calls).to.equal(200);
    expect(r.ios).to.equal(200);
    expect(r.errors).to.equal(0);
    expect(r.reads + r.writes).to.equal(200);
    expect(r.reads).to.be.within(60, 140);
    expect(t.seenOps.get(SCSI_OP.READ_16)).to.equal(r.reads);
    expect(t.seenOps.get(SCSI_OP.WRITE_16)).to.equal(r.writes);
    expect(r.elapsedMs).to.equal(400);
    expect(r.iops).to.equal(500);
    expect(r.latencyP50Ms).to.be.at.least(2);
    expect(t.syncCompletions).to.equal(0);
    expect(t.cdbChangedBeforeDone).to.equal(0);
  });

  it('sequential writes land on consecutive slots and a duration stops the run (one clock read per I/O)', async () => {
    const clock = new ManualClock();
    const t = new CbTarget(array, undefined, () => clock.advance(10));
    const d = new VDisk(t, { lun: 0, initiator: 'iqn.test:w', blockSizeBytes: 512, blocks });
    const r = await runWorkload(d, { pattern: 'sequential', blockBytes: 1024, depth: 1, seconds: 0.1, readPercent: 0, clock, random: seededRandom(1), writeData: Buffer.alloc(1024, 0x77) });
    expect(r.writes).to.equal(10);
    const disk = await VDisk.open(array, 0, 'iqn.test:vd');
    expect((await disk.read(0, 10 * 1024)).every((b) => b === 0x77)).to.equal(true);
    expect((await disk.read(10 * 1024, 1)).at(0)).to.equal(0);
  });

  it('a non-GOOD status and a refused command are counted as errors, the first message kept', async () => {
    const clock = new ManualClock();
    const t = new CbTarget(array, (n) => (n === 3 ? { status: SCSI_STATUS.BUSY } : n === 5 ? new Error('link lost') : undefined));
    const d = new VDisk(t, { lun: 0, initiator: 'iqn.test:w', blockSizeBytes: 512, blocks });
    const r = await runWorkload(d, { pattern: 'random', blockBytes: 512, depth: 2, count: 10, readPercent: 100, clock, random: seededRandom(3) });
    expect(r.ios).to.equal(8);
    expect(r.errors).to.equal(2);
    expect(r.firstError).to.match(/^READ \(16\) lba \d+ x1: status 0x8/);
  });

  it('ends at once with zero I/Os when the count is 0', async () => {
    const t = new CbTarget(array);
    const d = new VDisk(t, { lun: 0, initiator: 'iqn.test:w', blockSizeBytes: 512, blocks });
    const r = await runWorkload(d, { pattern: 'random', blockBytes: 512, depth: 8, count: 0, clock: new ManualClock(), random: seededRandom(1) });
    expect(r.ios).to.equal(0);
    expect(t.calls).to.equal(0);
  });
});
