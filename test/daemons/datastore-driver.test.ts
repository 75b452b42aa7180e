// daemons/datastore/driver.ts against lib/storage's real SCSI target in-process (no sockets), with real
// timers: a Proc's wake-ups wait (T - now) / timeScale wall ms on a fabric clock running timeScale times
// faster; I/O completions feed back; events carry the base and per-Proc fields; a stalled LUN makes the
// Proc's deadline fire (heartbeat-timeout, then offline) and marks the held command aborted; direct reads/writes split into chunks; stop
// ends a Proc. Short: each case runs well under a second of wall time.
import { expect } from 'chai';
import { BlockTarget } from '../../lib/storage/target.js';
import { MemoryBlockStore } from '../../lib/storage/blockstore-memory.js';
import type { ScsiCommand, ScsiResult, ScsiTarget } from '../../lib/storage/scsi.js';
import { parseSuperblock, planFormat } from '../../lib/datastore/format.js';
import { createHostCtx, heartbeat } from '../../lib/datastore/host.js';
import { DIRECT_IO_CHUNK_BYTES, DatastoreDriver } from '../../daemons/datastore/driver.js';
import { io, sleepUntil, type Gen } from '../../lib/datastore/proc.js';

const TIME_SCALE = 20;
const LUN_BYTES = 8 * 1024 * 1024;

/** Fabric ms: wall ms since start times TIME_SCALE (like FabricClock). */
function fabricClock() {
  const t0 = performance.now();
  return { nowMs: () => (performance.now() - t0) * TIME_SCALE };
}

/** The target, with a switch that holds every command (a dead path) until released. */
class StallableTarget implements ScsiTarget {
  stalled: Array<() => void> | undefined;
  commands = 0;
  /** The last command received (to see whether the driver marked it aborted). */
  last: ScsiCommand | undefined;
  constructor(readonly inner: BlockTarget) {}
  async execute(cmd: ScsiCommand): Promise<ScsiResult> {
    this.commands++;
    this.last = cmd;
    if (this.stalled) await new Promise<void>((r) => this.stalled!.push(r));
    return this.inner.execute(cmd);
  }
}

async function setup() {
  const target = new BlockTarget(new MemoryBlockStore());
  target.addLun({ lun: 0, name: 'ds', id: 'naa.60000000000000000000000000000002', sizeBytes: LUN_BYTES, blockSizeBytes: 512, blocks: LUN_BYTES / 512, createdAtMs: 0 });
  const stall = new StallableTarget(target);
  const events: Array<{ type: string; fields: Record<string, unknown> }> = [];
  const clock = fabricClock();
  const driver = new DatastoreDriver({
    lun: { target: stall, lun: 0, initiator: 'iqn.test:esx1', blockSizeBytes: 512, sizeBytes: LUN_BYTES },
    clock,
    timeScale: TIME_SCALE,
    event: (type, fields) => events.push({ type, fields }),
    base: { host: 'esx1', datastore: 'ds1' },
  });
  const plan = planFormat(LUN_BYTES, 512, { label: 'ds1', volumeUuid: '1'.repeat(32), slotCount: 4, fileEntries: 16 });
  if (!plan.ok) throw plan.error;
  for (const w of plan.value.writes) await driver.write(w.lba, w.data);
  const sb = parseSuperblock(await driver.read(0, 1), 512);
  if (!sb.ok) throw sb.error;
  return { driver, stall, events, clock, sb: sb.value };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('datastore driver (daemons/datastore/driver.ts)', () => {
  it('a sleep of 1000 fabric ms wakes after about 1000 / timeScale wall ms', async () => {
    const { driver, clock } = await setup();
    const now = { nowMs: 0 };
    function* nap(): Gen<number> {
      const from = now.nowMs;
      yield* sleepUntil(from + 1000);
      return now.nowMs - from;
    }
    const t0 = performance.now();
    const fabricMs = await driver.run('nap', now, nap());
    const wallMs = performance.now() - t0;
    expect(fabricMs).to.be.at.least(1000);
    expect(wallMs).to.be.at.least(1000 / TIME_SCALE - 2);
    expect(wallMs).to.be.below(1000 / 2, 'not run on the wall clock');
    expect(clock.nowMs()).to.be.above(1000);
  });

  it('mounts and heartbeats: events carry host and datastore; the pulse moves every heartbeat interval', async () => {
    const { driver, events, sb, clock } = await setup();
    const ctx = createHostCtx({ hostUuid: 'a'.repeat(32), hostName: 'esx1', sb });
    const hb = driver.run('heartbeat', ctx, heartbeat(ctx), { extra: 1 });
    hb.catch(() => {});
    await sleep((3.5 * sb.heartbeatMs) / TIME_SCALE);
    const mounted = events.find((e) => e.type === 'datastore-mounted');
    expect(mounted?.fields).to.include({ host: 'esx1', datastore: 'ds1', extra: 1, slot: 0 });
    expect(ctx.online).to.equal(true);
    const pulses = ctx.slot!.slot.pulse;
    expect(pulses, `pulse after ${clock.nowMs()} fabric ms`).to.be.within(2, 5);
    driver.stopAll();
    const err = await hb.then(() => undefined, (e: Error) => e);
    expect(err?.message).to.match(/stopped/);
    expect(driver.procs).to.equal(0);
  });

  it('a LUN that stops answering: heartbeat-timeout after the I/O timeout, offline after the lease, online when it answers again', async () => {
    const { driver, events, sb, stall } = await setup();
    const ctx = createHostCtx({ hostUuid: 'a'.repeat(32), hostName: 'esx1', sb });
    driver.run('heartbeat', ctx, heartbeat(ctx)).catch(() => {});
    await sleep(50);
    expect(ctx.online).to.equal(true);
    stall.stalled = [];
    await sleep((sb.leaseMs + 2 * sb.heartbeatMs) / TIME_SCALE);
    expect(events.map((e) => e.type)).to.include.members(['datastore-heartbeat-timeout', 'datastore-offline']);
    expect(ctx.online).to.equal(false);
    const held = stall.stalled;
    stall.stalled = undefined;
    for (const r of held) r();
    await sleep((3 * sb.offlineRetryMs) / TIME_SCALE + 50);
    expect(events.map((e) => e.type)).to.include('datastore-online');
    expect(ctx.online).to.equal(true);
    driver.stopAll();
  });

  it('an I/O past its deadline is marked aborted (a queue holding it never sends it); one answered in time is not', async () => {
    const { driver, stall } = await setup();
    const now = { nowMs: 0 };
    function* readOnce(deadlineMs: number): Gen<string> {
      return (yield* io({ kind: 'read', lba: 0, blocks: 1 }, now.nowMs + deadlineMs)).status;
    }
    expect(await driver.run('quick', now, readOnce(1000))).to.equal('good');
    expect(stall.last?.aborted).to.equal(undefined);
    stall.stalled = [];
    expect(await driver.run('late', now, readOnce(200))).to.equal('timeout');
    expect(stall.last?.aborted, 'the held command is marked when its issuer gives up').to.equal(true);
    for (const r of stall.stalled) r();
    stall.stalled = undefined;
  });

  it('direct reads and writes larger than one chunk are split and come back whole', async () => {
    const { driver, stall } = await setup();
    const data = Buffer.alloc(DIRECT_IO_CHUNK_BYTES * 2 + 512, 7);
    const before = stall.commands;
    await driver.write(8192, data);
    expect(stall.commands - before).to.equal(3);
    expect((await driver.read(8192, data.length / 512)).equals(data)).to.equal(true);
  });
});
