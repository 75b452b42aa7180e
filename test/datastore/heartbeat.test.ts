// Heartbeat rules (docs/vsphere-behaviour.md §7.1-§7.4) on the manual-clock simulation with the real SCSI
// target: slot claim with ATS, 3 s cadence, 8 s abort-and-reissue, 16 s offline, 1 s retries while
// offline, back online on the first success, own-slot miscompare handling, clean unmount, time scale.
import { expect } from 'chai';
import { emitSlot, freeSlot, journalLbaOf, slotLba } from '../../lib/datastore/format.js';
import { unmount } from '../../lib/datastore/host.js';
import { Sim } from './sim.js';

async function setup(...names: string[]): Promise<Sim> {
  const sim = new Sim();
  await sim.format();
  await sim.load();
  for (const n of names) sim.host(n).mount();
  return sim;
}

/** Times at which `host` sent a heartbeat ATS (array log). */
function atsTimes(sim: Sim, host: string, lba: number): number[] {
  return sim.log.filter((e) => e.host === host && e.kind === 'ats' && e.lba === lba).map((e) => e.t);
}

describe('datastore heartbeat (§7.1-§7.4)', () => {
  it('§7.1 two hosts mounting at once claim different slots with ATS; each slot is in use by its owner, generation 1', async () => {
    const sim = await setup('esx1', 'esx2', 'esx3');
    await sim.advance(100);
    const idx = ['esx1', 'esx2', 'esx3'].map((n) => sim.host(n).ctx.slot!.index);
    expect(new Set(idx).size).to.equal(3);
    for (const n of ['esx1', 'esx2', 'esx3']) {
      const h = sim.host(n);
      const s = await sim.slot(h.ctx.slot!.index);
      expect([s.state, s.owner, s.generation, s.hostName]).to.deep.equal(['in-use', h.uuid, 1, n]);
      expect(h.eventsOf('mounted')).to.have.length(1);
    }
    // the race was real: at least one claim lost a compare and moved on
    expect(sim.log.filter((e) => e.kind === 'ats' && e.status === 'miscompare').length).to.be.greaterThan(0);
  });

  it('§7.2 pulses every 3 s with ATS and the pulse moves each time', async () => {
    const sim = await setup('esx1');
    await sim.advance(10);
    const h = sim.host('esx1');
    const lba = h.ctx.slot!.lba;
    const p0 = (await sim.slot(h.ctx.slot!.index)).pulse;
    await sim.advance(30_000);
    const times = atsTimes(sim, 'esx1', lba).slice(1); // first ATS is the claim
    expect(times.length).to.equal(10);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).to.be.closeTo(3000, 5);
    expect((await sim.slot(h.ctx.slot!.index)).pulse).to.equal(p0 + 10);
  });

  it('§7.2 a heartbeat I/O that does not complete in 8 s is aborted and reissued; a 10 s stall stays online', async () => {
    const sim = await setup('esx1');
    await sim.advance(10);
    const h = sim.host('esx1');
    const lba = h.ctx.slot!.lba;
    const t0 = sim.now;
    const issue = t0 + 2996; // the next pulse goes out 3 s after the mount (at ~6 ms)
    sim.stall('esx1', issue + 10_000);
    await sim.advance(20_000);
    const issued = sim.log.filter((e) => e.host === 'esx1' && e.kind === 'ats' && e.lba === lba && e.t >= t0).length;
    const timeouts = h.eventsOf('heartbeat-timeout');
    expect(timeouts).to.have.length(1);
    // issued at ~t0+3 s, timed out and reissued 8 s later
    expect(timeouts[0]!.atMs - issue).to.be.closeTo(8000, 10);
    expect(issued).to.be.greaterThan(2);
    expect(h.eventsOf('offline')).to.deep.equal([]);
    expect(h.ctx.online).to.equal(true);
    // the first (aborted) ATS landed when the stall ended, so the reissue miscompared on our own,
    // unchanged slot: §7.4 says carry on (no slot change)
    expect(h.eventsOf('slot-lost')).to.deep.equal([]);
    expect(h.ctx.slot!.generation).to.equal(1);
  });

  it('§7.2 16 s without a successful heartbeat: offline ("lost access to volume"); retried every 1 s; online at the first success', async () => {
    const sim = await setup('esx1');
    await sim.advance(10);
    const h = sim.host('esx1');
    const lastOk = sim.now; // the mount's claim was the last success
    sim.stall('esx1', lastOk + 25_500);
    await sim.advance(40_000);
    const off = h.eventsOf('offline');
    expect(off).to.have.length(1);
    expect(off[0]!.message).to.match(/lost access to volume/);
    expect(off[0]!.atMs - lastOk).to.be.closeTo(16_000, 10);
    // while offline: one attempt (a read of the own slot, §7.4) per second until the stall ends
    const tries = h.issuedLog.filter((e) => e.kind === 'read' && e.lba === h.ctx.slot!.lba && e.t >= off[0]!.atMs && e.t < lastOk + 25_500).map((e) => e.t);
    expect(tries.length).to.equal(10);
    for (let i = 1; i < tries.length; i++) expect(tries[i]! - tries[i - 1]!).to.equal(1000);
    const on = h.eventsOf('online');
    expect(on).to.have.length(1);
    expect(on[0]!.atMs - (lastOk + 25_500)).to.be.within(0, 1100);
    expect(on[0]!.details!.offlineForMs).to.equal(on[0]!.atMs - off[0]!.atMs); // the whole outage, not the last retry
    expect(h.ctx.online).to.equal(true);
  });

  it('§7.4 slot cleared by another host (generation + 1): the host acquires a slot again and heartbeats', async () => {
    const sim = await setup('esx1');
    await sim.advance(10);
    const h = sim.host('esx1');
    const l = sim.superblock().layout;
    const i = h.ctx.slot!.index;
    await sim.exec('esx9', { kind: 'write', lba: slotLba(l, i), data: emitSlot(freeSlot(i, 2, journalLbaOf(l, i)), l.blockSize) });
    await sim.advance(4000);
    expect(h.eventsOf('slot-lost')).to.have.length(1);
    const changed = h.eventsOf('slot-changed');
    expect(changed).to.have.length(1);
    expect(h.ctx.slot!.generation).to.equal(3);
    const s = await sim.slot(h.ctx.slot!.index);
    expect([s.state, s.owner]).to.deep.equal(['in-use', h.uuid]);
    const p = s.pulse;
    await sim.advance(6000);
    expect((await sim.slot(h.ctx.slot!.index)).pulse).to.equal(p + 2);
  });

  it('§7.4 slot being replayed by another host: the host waits until the replay is done, then acquires again', async () => {
    const sim = await setup('esx1');
    await sim.advance(10);
    const h = sim.host('esx1');
    const l = sim.superblock().layout;
    const i = h.ctx.slot!.index;
    const cur = await sim.slot(i);
    await sim.exec('esx9', { kind: 'write', lba: slotLba(l, i), data: emitSlot({ ...cur, state: 'replaying', replayHost: '39'.repeat(16) }, l.blockSize) });
    await sim.advance(8000);
    expect(h.eventsOf('replay-wait').length).to.be.greaterThan(2);
    expect(h.eventsOf('slot-changed')).to.deep.equal([]);
    await sim.exec('esx9', { kind: 'write', lba: slotLba(l, i), data: emitSlot(freeSlot(i, cur.generation + 1, journalLbaOf(l, i)), l.blockSize) });
    await sim.advance(2000);
    expect(h.eventsOf('slot-changed')).to.have.length(1);
    expect((await sim.slot(h.ctx.slot!.index)).owner).to.equal(h.uuid);
  });

  it('§7.4 clean unmount frees the slot with generation + 1', async () => {
    const sim = await setup('esx1');
    await sim.advance(10);
    const h = sim.host('esx1');
    const i = h.ctx.slot!.index;
    h.hb!.proc.stop();
    const u = h.run('unmount', unmount(h.ctx));
    await sim.advance(100);
    u.value();
    const s = await sim.slot(i);
    expect([s.state, s.generation]).to.deep.equal(['free', 2]);
  });

  it('§7.4 unmount right after a pulse was sent: the pulse lands anyway, unmount reads the slot again and frees it', async () => {
    const sim = await setup('esx1');
    await sim.advance(10);
    const h = sim.host('esx1');
    const i = h.ctx.slot!.index;
    const from = h.issuedLog.length;
    for (let n = 0; n < 10_000 && !h.issuedLog.slice(from).some((x) => x.kind === 'ats' && x.lba === h.ctx.slot!.lba); n++) await sim.advance(1);
    h.hb!.proc.stop(); // the heartbeat stops with its pulse on the wire (it reaches the array, the answer is ignored)
    const u = h.run('unmount', unmount(h.ctx));
    await sim.advance(100);
    u.value();
    const s = await sim.slot(i);
    expect([s.state, s.generation]).to.deep.equal(['free', 2]);
  });

  it('intervals come from the superblock and a time scale: at scale 10 offline comes after 1.6 s', async () => {
    const sim = new Sim();
    await sim.format();
    await sim.load();
    const h = sim.host('esx1');
    h.mount(10);
    await sim.advance(10);
    const t0 = sim.now;
    sim.stall('esx1', t0 + 5000);
    await sim.advance(3000);
    expect(h.eventsOf('offline')[0]!.atMs - t0).to.be.closeTo(1600, 5);
    expect(h.eventsOf('heartbeat-timeout')[0]!.atMs - t0).to.be.closeTo(300 + 800, 10);
  });
});
