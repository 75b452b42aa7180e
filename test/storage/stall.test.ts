// A stalled path (lib/storage/stall.ts) on a manual clock: commands to a stalled LUN or array are held,
// neither sent nor failed; at the end they are sent in issue order; those aborted by their issuer meanwhile
// are answered TASK ABORTED and never reach the array (no stale write); other LUNs pass; the held count is
// bounded; a longer stall extends, ms 0 ends it.
import { expect } from 'chai';
import { ManualClock } from '../../lib/clock.js';
import { openArray, type StorageArray } from '../../lib/storage/array.js';
import * as cdb from '../../lib/storage/cdb.js';
import { SCSI_STATUS, type ScsiCommand, type ScsiResult, type ScsiTarget } from '../../lib/storage/scsi.js';
import { MAX_HELD_COMMANDS, MAX_STALL_MS, StallGate } from '../../lib/storage/stall.js';
import { A, blocksOf, expectGood } from './helpers.js';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A target that records what reached it before passing it on. */
class Recording implements ScsiTarget {
  readonly seen: number[] = [];
  constructor(private readonly inner: ScsiTarget) {}
  execute(cmd: ScsiCommand): Promise<ScsiResult> {
    this.seen.push(cmd.cdb[0]!);
    return this.inner.execute(cmd);
  }
}

describe('storage: stalled path (StallGate)', () => {
  let arr: StorageArray;
  let rec: Recording;
  let clock: ManualClock;
  let gate: StallGate;
  let ended: Array<{ lun: number | undefined; held: number; sent: number; aborted: number }>;
  beforeEach(async () => {
    arr = await openArray({ name: 'stall' });
    await arr.createLun({ name: 'a', sizeBytes: 64 * 512 });
    await arr.createLun({ name: 'b', sizeBytes: 64 * 512 });
    rec = new Recording(arr);
    clock = new ManualClock(1000);
    ended = [];
    gate = new StallGate(rec, () => clock.nowMs(), (e) => ended.push(e));
  });
  afterEach(() => arr.close());

  it('holds commands to a stalled LUN (not sent, not answered) and sends them in order when it ends', async () => {
    expect(gate.stall(0, 10_000)).to.equal(11_000);
    const answers: string[] = [];
    const w = gate.execute({ initiator: A, lun: 0, cdb: cdb.write16(1, 1), dataOut: blocksOf(1, 512, 1) }).then((r) => { answers.push('write'); return r; });
    const r = gate.execute({ initiator: A, lun: 0, cdb: cdb.read16(1, 1) }).then((x) => { answers.push('read'); return x; });
    await tick();
    expect(rec.seen).to.deep.equal([]);
    expect(answers).to.deep.equal([]);
    expect(gate.stalled(0)).to.equal(true);
    clock.advance(9_999);
    gate.release();
    await tick();
    expect(rec.seen).to.deep.equal([]);
    clock.advance(1);
    gate.release();
    expectGood(await w);
    expect(expectGood(await r).equals(blocksOf(1, 512, 1))).to.equal(true); // the write went first
    expect(answers).to.deep.equal(['write', 'read']);
    expect(ended).to.deep.equal([{ lun: 0, held: 2, sent: 2, aborted: 0 }]);
    expect(gate.stalled(0)).to.equal(false);
  });

  it('never sends a held command its issuer aborted: TASK ABORTED, the medium unchanged', async () => {
    gate.stall(0, 5_000);
    const cmd: ScsiCommand & { aborted?: boolean } = { initiator: A, lun: 0, cdb: cdb.write16(2, 1), dataOut: blocksOf(1, 512, 2) };
    const p = gate.execute(cmd);
    cmd.aborted = true; // the issuer's deadline passed
    clock.advance(5_000);
    gate.release();
    expect((await p).status).to.equal(SCSI_STATUS.TASK_ABORTED);
    expect(rec.seen).to.deep.equal([]);
    expect(expectGood(await arr.execute({ initiator: A, lun: 0, cdb: cdb.read16(2, 1) })).equals(Buffer.alloc(512))).to.equal(true);
    expect(gate.counters).to.deep.include({ held: 1, sent: 0, aborted: 1 });
  });

  it('a LUN stall leaves other LUNs alone; an array stall (lun undefined) holds every LUN', async () => {
    gate.stall(0, 1_000);
    expectGood(await gate.execute({ initiator: A, lun: 1, cdb: cdb.read16(0, 1) }));
    gate.stall(undefined, 2_000);
    let done = false;
    const p = gate.execute({ initiator: A, lun: 1, cdb: cdb.read16(0, 1) }).then((x) => { done = true; return x; });
    clock.advance(1_000);
    gate.release(); // the LUN 0 stall ended, the array stall still holds LUN 1
    await tick();
    expect(done).to.equal(false);
    clock.advance(1_000);
    gate.release();
    expectGood(await p);
  });

  it('a held command of an ended LUN stall stays held while the whole array is still stalled', async () => {
    gate.stall(0, 1_000);
    const p = gate.execute({ initiator: A, lun: 0, cdb: cdb.read16(0, 1) });
    gate.stall(undefined, 3_000);
    clock.advance(1_000);
    gate.release();
    await tick();
    expect(rec.seen).to.deep.equal([]);
    clock.advance(2_000);
    gate.release();
    expectGood(await p);
  });

  it('a command issued after the end but before the timer fired releases the held ones first', async () => {
    gate.stall(0, 1_000);
    const first = gate.execute({ initiator: A, lun: 0, cdb: cdb.write16(3, 1), dataOut: blocksOf(1, 512, 3) });
    clock.advance(1_000);
    const second = gate.execute({ initiator: A, lun: 0, cdb: cdb.read16(3, 1) });
    expectGood(await first);
    expect(expectGood(await second).equals(blocksOf(1, 512, 3))).to.equal(true);
    expect(rec.seen).to.deep.equal([0x8a, 0x88]);
  });

  it('extends with a longer stall, ends with ms 0, refuses bad lengths', () => {
    gate.stall(0, 5_000);
    expect(gate.stall(0, 1_000)).to.equal(6_000);
    expect(gate.stall(0, 8_000)).to.equal(9_000);
    gate.stall(0, 0);
    expect(gate.stalled(0)).to.equal(false);
    expect(() => gate.stall(0, -1)).to.throw(RangeError);
    expect(() => gate.stall(0, MAX_STALL_MS + 1)).to.throw(RangeError);
    expect(() => gate.stall(0, Number.NaN)).to.throw(RangeError);
  });

  it(`holds at most MAX_HELD_COMMANDS (${MAX_HELD_COMMANDS}); more are TASK SET FULL`, async () => {
    gate.stall(0, 1_000);
    const held: Array<Promise<ScsiResult>> = [];
    for (let i = 0; i < MAX_HELD_COMMANDS; i++) held.push(gate.execute({ initiator: A, lun: 0, cdb: cdb.testUnitReady() }));
    expect((await gate.execute({ initiator: A, lun: 0, cdb: cdb.testUnitReady() })).status).to.equal(SCSI_STATUS.TASK_SET_FULL);
    expect(gate.counters.refused).to.equal(1);
    clock.advance(1_000);
    gate.release();
    for (const r of await Promise.all(held)) expect(r.status).to.equal(SCSI_STATUS.GOOD);
  });
});
