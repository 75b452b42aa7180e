// On-disk lock rules (docs/vsphere-behaviour.md §7.5-§7.9) on the manual-clock simulation with the real
// SCSI target: acquire with ATS, "locked by" while the owner's pulse moves, break after an unchanged lease
// (slot marked being replayed, journal replayed, slot freed with generation + 1, lock taken with ATS),
// read-only and multi-writer sharing, and the whole-LUN SCSI-2 reservation path of ATS+SCSI volumes.
import { expect } from 'chai';
import { DS_ERROR } from '../../lib/datastore/errors.js';
import { DS_MAX_LOCK_HOLDERS, type EntryMeta, type LockingMode, entryLba } from '../../lib/datastore/format.js';
import { DS_RESERVE_MAX_TRIES, type UpdateOutcome, atomicUpdate } from '../../lib/datastore/host.js';
import { journalledUpdate } from '../../lib/datastore/journal.js';
import { acquireLock, releaseLock } from '../../lib/datastore/lock.js';
import { Sim } from './sim.js';

async function setup(names: string[], locking: LockingMode = 'ats-only', slotCount = 8): Promise<Sim> {
  const sim = new Sim();
  await sim.format({ locking, slotCount });
  await sim.load();
  for (const n of names) sim.host(n).mount();
  await sim.advance(50);
  return sim;
}

const FLAT: EntryMeta = { type: 'file', parent: 0, name: 'web1-flat.vmdk', sizeBytes: 2 * 1024 * 1024, extents: [{ start: 0, count: 2 }] };

describe('datastore locks (§7.5-§7.8)', () => {
  it('§7.5 a free lock is taken with one ATS: exclusive, owner, its slot address and generation, lock generation 1', async () => {
    const sim = await setup(['esx1']);
    const h = sim.host('esx1');
    (await h.lockFor(1, 'exclusive', 100)).value();
    const e = await sim.entry(1);
    expect(e.lock).to.deep.include({ mode: 'exclusive', owner: h.uuid, ownerSlotLba: h.ctx.slot!.lba, ownerSlotGeneration: 1, generation: 1 });
    expect(e.lock.holders).to.have.length(1);
    expect(sim.log.filter((x) => x.host === 'esx1' && x.lba === entryLba(sim.superblock().layout, 1) && x.kind === 'ats')).to.have.length(1);
    expect(h.eventsOf('lock-acquired')).to.have.length(1);
  });

  it('§7.6 two hosts race for a free lock: one wins; the other is refused "locked by" within one heartbeat, as the pulse moves', async () => {
    const sim = await setup(['esx1', 'esx2']);
    const t0 = sim.now;
    const a = sim.host('esx1').run('lock', acquireLock(sim.host('esx1').ctx, 1, 'exclusive'));
    const b = sim.host('esx2').run('lock', acquireLock(sim.host('esx2').ctx, 1, 'exclusive'));
    await sim.advance(20_000);
    const results = [a, b].map((p) => p.error()?.code ?? 'ok');
    expect(results.sort()).to.deep.equal(['VFAB_DATASTORE_LOCKED', 'ok']);
    const loser = a.error() ? sim.host('esx1') : sim.host('esx2');
    const winner = a.error() ? 'esx2' : 'esx1';
    const refused = loser.eventsOf('lock-refused');
    expect(refused).to.have.length(1);
    expect(refused[0]!.message).to.contain(`locked by ${winner}`);
    expect(refused[0]!.atMs - t0).to.be.lessThan(3000 + 3000 + 50); // sees the pulse move on a 3 s poll
    expect((await sim.entry(1)).lock.owner).to.equal(sim.host(winner).uuid);
  });

  it('§7.6 an owner stalled for 10 s keeps its lock: its pulse moves again within the 16 s window', async () => {
    const sim = await setup(['esx1', 'esx2']);
    const p1 = sim.host('esx1').run('lock', acquireLock(sim.host('esx1').ctx, 1, 'exclusive'));
    await sim.advance(100);
    p1.value();
    sim.stall('esx1', sim.now + 10_000);
    const p2 = sim.host('esx2').run('lock', acquireLock(sim.host('esx2').ctx, 1, 'exclusive'));
    await sim.advance(30_000);
    expect(p2.error()?.code).to.equal(DS_ERROR.LOCKED);
    expect(sim.host('esx2').eventsOf('lock-broken')).to.deep.equal([]);
    expect((await sim.entry(1)).lock.owner).to.equal(sim.host('esx1').uuid);
  });

  it('§7.6 a dead owner: unchanged for 16 s, slot marked being replayed, journal replayed, slot freed with generation + 1, lock taken', async () => {
    const sim = await setup(['esx1', 'esx2']);
    const h1 = sim.host('esx1');
    (await h1.lockFor(1, 'exclusive', 100)).value();
    // esx1 journals a metadata change and dies before applying it
    const j = h1.run('update', journalledUpdate(h1.ctx, [{ op: 'entry-meta', entry: 1, meta: FLAT }, { op: 'bitmap-set', start: 0, bits: 2 }], 'journal'));
    await sim.advance(50);
    j.value();
    expect((await sim.entry(1)).meta.type).to.equal('unused'); // journalled, not applied
    const deadSlot = h1.ctx.slot!;
    sim.kill('esx1');
    const t0 = sim.now;
    const h2 = sim.host('esx2');
    const p2 = await h2.lockFor(1, 'exclusive', 15_000);
    expect(p2.done).to.equal(false); // still inside the window
    await sim.advance(5_000);
    const e = p2.value<{ lock: { owner: string } }>();
    expect(e.lock.owner).to.equal(h2.uuid);
    const broken = h2.eventsOf('lock-broken');
    expect(broken).to.have.length(1);
    expect(broken[0]!.atMs - t0).to.be.within(16_000, 16_100);
    // the replay redid the committed transaction before the slot was freed
    const after = await sim.entry(1);
    expect(after.meta).to.deep.equal(FLAT);
    expect(after.lock).to.deep.include({ mode: 'exclusive', owner: h2.uuid, ownerSlotGeneration: h2.ctx.slot!.generation, generation: 2 });
    const slot = await sim.slot(deadSlot.index);
    expect([slot.state, slot.generation]).to.deep.equal(['free', deadSlot.generation + 1]);
    // order on the array: mark replaying (ATS on the slot), apply (ATS on the entry), free (ATS on the slot), take the lock
    const l = sim.superblock().layout;
    const seq = sim.log.filter((x) => x.host === 'esx2' && x.kind === 'ats' && x.status === 'good' && x.t >= t0).map((x) => (x.lba === deadSlot.lba ? 'slot' : x.lba === entryLba(l, 1) ? 'entry' : x.lba === l.bitmapLba ? 'bitmap' : 'hb'));
    expect(seq.filter((s) => s !== 'hb')).to.deep.equal(['slot', 'entry', 'bitmap', 'slot', 'entry']);
    expect(h2.eventsOf('journal-replayed')[0]!.details).to.deep.include({ torn: [] });
  });

  it('§7.6 generation + 1 makes every other lock of the dead host stale at once (no second 16 s wait)', async () => {
    const sim = await setup(['esx1', 'esx2']);
    const h1 = sim.host('esx1');
    h1.run('a', acquireLock(h1.ctx, 1, 'exclusive'));
    h1.run('b', acquireLock(h1.ctx, 2, 'exclusive'));
    await sim.advance(100);
    sim.kill('esx1');
    const h2 = sim.host('esx2');
    const first = h2.run('a', acquireLock(h2.ctx, 1, 'exclusive'));
    await sim.advance(17_000);
    first.value();
    const t1 = sim.now;
    const second = h2.run('b', acquireLock(h2.ctx, 2, 'exclusive'));
    await sim.advance(100);
    expect(second.value<{ lock: { owner: string } }>().lock.owner).to.equal(h2.uuid);
    expect(h2.eventsOf('lock-acquired').at(-1)!.atMs - t1).to.be.lessThan(50);
  });

  it('§7.4+§7.6 a host whose lock was broken during a long stall comes back, finds its slot freed, and acquires a new one', async () => {
    const sim = await setup(['esx1', 'esx2']);
    const h1 = sim.host('esx1');
    h1.run('a', acquireLock(h1.ctx, 1, 'exclusive'));
    await sim.advance(100);
    sim.stall('esx1', sim.now + 40_000);
    const h2 = sim.host('esx2');
    const p2 = h2.run('a', acquireLock(h2.ctx, 1, 'exclusive'));
    await sim.advance(45_000);
    p2.value();
    expect(h1.eventsOf('offline')).to.have.length(1);
    expect(h1.eventsOf('slot-lost')).to.have.length(1);
    expect(h1.eventsOf('online')).to.have.length(1);
    expect(h1.ctx.slot!.generation).to.equal(3); // freed at 2 by esx2, claimed again at 3
    expect((await sim.entry(1)).lock.owner).to.equal(h2.uuid);
  });

  it('§7.5/§7.8 read-only: many readers share; an exclusive request is refused while they live; release frees with generation + 1', async () => {
    const sim = await setup(['esx1', 'esx2', 'esx3', 'esx4']);
    const readers = ['esx1', 'esx2', 'esx3'].map((n) => sim.host(n).run('ro', acquireLock(sim.host(n).ctx, 3, 'read-only')));
    await sim.advance(200);
    for (const r of readers) r.value();
    expect((await sim.entry(3)).lock.holders.map((h) => h.owner).sort()).to.deep.equal(['esx1', 'esx2', 'esx3'].map((n) => sim.host(n).uuid).sort());
    const w = sim.host('esx4').run('x', acquireLock(sim.host('esx4').ctx, 3, 'exclusive'));
    const mw = sim.host('esx4').run('mw', acquireLock(sim.host('esx4').ctx, 4, 'multi-writer'));
    await sim.advance(20_000);
    expect(w.error()?.code).to.equal(DS_ERROR.LOCKED);
    mw.value();
    const rels = ['esx1', 'esx2', 'esx3'].map((n) => sim.host(n).run('rel', releaseLock(sim.host(n).ctx, 3)));
    await sim.advance(200);
    for (const r of rels) r.value();
    const e = await sim.entry(3);
    expect([e.lock.mode, e.lock.holders.length, e.lock.generation]).to.deep.equal(['free', 0, 6]);
  });

  it('§7.8 multi-writer: several writers share; a read-only or exclusive request is refused while they live', async () => {
    const sim = await setup(['esx1', 'esx2', 'esx3']);
    const ws = ['esx1', 'esx2'].map((n) => sim.host(n).run('mw', acquireLock(sim.host(n).ctx, 5, 'multi-writer')));
    await sim.advance(200);
    for (const w of ws) w.value();
    expect((await sim.entry(5)).lock).to.deep.include({ mode: 'multi-writer' });
    const ro = sim.host('esx3').run('ro', acquireLock(sim.host('esx3').ctx, 5, 'read-only'));
    await sim.advance(20_000);
    expect(ro.error()?.code).to.equal(DS_ERROR.LOCKED);
    expect((await sim.entry(5)).lock.holders).to.have.length(2);
  });

  it(`§7.5 a shared lock holds at most DS_MAX_LOCK_HOLDERS (${DS_MAX_LOCK_HOLDERS}) holders`, async () => {
    const names = Array.from({ length: DS_MAX_LOCK_HOLDERS + 1 }, (_, i) => `esx${i + 1}`);
    const sim = await setup(names, 'ats-only', 16);
    const ps = [];
    for (const n of names) {
      ps.push(sim.host(n).run('ro', acquireLock(sim.host(n).ctx, 6, 'read-only')));
      await sim.advance(20);
    }
    expect(ps.slice(0, -1).every((p) => p.error() === undefined)).to.equal(true);
    expect(ps.at(-1)!.error()?.code).to.equal(DS_ERROR.HOLDERS_FULL);
  });
});

describe('datastore ATS+SCSI locking (§7.7)', () => {
  it('on an ATS+SCSI volume a lock is taken under a whole-LUN SCSI-2 reservation (RESERVE, READ, WRITE, RELEASE), no ATS on the lock', async () => {
    const sim = await setup(['esx1'], 'ats-scsi');
    const h = sim.host('esx1');
    (await h.lockFor(1, 'exclusive', 100)).value();
    const lba = entryLba(sim.superblock().layout, 1);
    const ops = sim.log.filter((x) => x.host === 'esx1' && x.t >= 50).filter((x) => x.lba === lba || x.kind === 'reserve' || x.kind === 'release').map((x) => x.kind);
    expect(ops).to.deep.equal(['read', 'reserve', 'read', 'write', 'release']);
    expect((await sim.entry(1)).lock.owner).to.equal(h.uuid);
  });

  it('others get RESERVATION CONFLICT while the LUN is reserved and retry with a growing backoff until it is released', async () => {
    const sim = await setup(['esx1'], 'ats-scsi');
    await sim.exec('iqn.other', { kind: 'reserve' });
    const h = sim.host('esx1');
    const p = h.run('lock', acquireLock(h.ctx, 1, 'exclusive'));
    await sim.advance(1000);
    expect(p.done).to.equal(false);
    expect(h.eventsOf('reservation-conflict')).to.have.length(1);
    // a SCSI-2 reservation blocks the lock's first READ too: it is retried with the same backoff
    const lba = entryLba(sim.superblock().layout, 1);
    const tries = h.issuedLog.filter((x) => x.lba === lba).map((x) => x.t);
    expect(tries.length).to.be.greaterThan(3);
    const gaps = tries.slice(1).map((t, i) => t - tries[i]!);
    expect(gaps[1]!).to.be.greaterThan(gaps[0]!); // backoff grows
    await sim.exec('iqn.other', { kind: 'release' });
    await sim.advance(1000);
    p.value();
    expect((await sim.entry(1)).lock.owner).to.equal(h.uuid);
  });

  it('two operations of one host never share its reservation: the second waits on the host, so one of two racing updates of a block wins', async () => {
    // The array knows the host as one initiator: it would grant the second RESERVE and the first RELEASE
    // would end both. Without the host's own serialization both read the old block and both write.
    const sim = await setup(['esx1'], 'ats-scsi');
    const h = sim.host('esx1');
    const lba = entryLba(sim.superblock().layout, 2);
    const r = await sim.exec('reader', { kind: 'read', lba, blocks: 1 });
    const old = r.status === 'good' ? r.data! : Buffer.alloc(0);
    const a = h.run('a', atomicUpdate(h.ctx, lba, old, Buffer.alloc(old.length, 0xaa), true));
    const b = h.run('b', atomicUpdate(h.ctx, lba, old, Buffer.alloc(old.length, 0xbb), true));
    await sim.advance(2000);
    const outcomes = [a.value<UpdateOutcome>(), b.value<UpdateOutcome>()].map((o) => (o.ok ? 'ok' : o.why)).sort();
    expect(outcomes).to.deep.equal(['miscompare', 'ok']);
    const ops = sim.log.filter((x) => x.host === 'esx1' && (x.kind === 'reserve' || x.kind === 'release')).slice(-4).map((x) => x.kind);
    expect(ops).to.deep.equal(['reserve', 'release', 'reserve', 'release']); // never two reservations at once
    expect(h.ctx.reserving).to.equal(false);
  });

  it(`gives up with VFAB_DATASTORE_CONTENDED after ${DS_RESERVE_MAX_TRIES} conflicts (bounded)`, async () => {
    const sim = await setup(['esx1'], 'ats-scsi');
    await sim.exec('iqn.other', { kind: 'reserve' });
    const h = sim.host('esx1');
    const p = h.run('lock', acquireLock(h.ctx, 1, 'exclusive'));
    await sim.advance(60_000);
    expect(p.error()?.code).to.equal(DS_ERROR.CONTENDED);
    const lba = entryLba(sim.superblock().layout, 1);
    expect(h.issuedLog.filter((x) => x.lba === lba).length).to.equal(DS_RESERVE_MAX_TRIES);
  });

  it('an ATS-only volume on a LUN that rejects COMPARE AND WRITE falls back to reservations (event "ats-unsupported")', async () => {
    const sim = new Sim();
    await sim.format();
    await sim.load();
    sim.atsEnabled = false;
    const h = sim.host('esx1');
    h.mount();
    await sim.advance(50);
    expect(h.eventsOf('ats-unsupported')).to.have.length(1);
    expect(h.eventsOf('mounted')).to.have.length(1);
    const p = h.run('lock', acquireLock(h.ctx, 1, 'exclusive'));
    await sim.advance(10_000);
    p.value();
    expect(h.ctx.online).to.equal(true);
    expect(sim.log.filter((x) => x.host === 'esx1' && x.kind === 'write').length).to.be.greaterThan(3); // heartbeats went through
  });
});

describe('datastore on a 4096-byte-block LUN', () => {
  it('mount, heartbeat, lock, and break of a dead owner work alike: every ATS covers one 4096-byte block', async () => {
    const sim = new Sim({ blockSize: 4096, lunBytes: 16 * 1024 * 1024 });
    await sim.format();
    await sim.load();
    for (const n of ['esx1', 'esx2']) sim.host(n).mount();
    await sim.advance(50);
    (await sim.host('esx1').lockFor(1, 'exclusive', 100)).value();
    sim.kill('esx1');
    const p = await sim.host('esx2').lockFor(1, 'exclusive', 20_000);
    expect(p.value<{ lock: { owner: string } }>().lock.owner).to.equal(sim.host('esx2').uuid);
    expect(sim.host('esx2').eventsOf('lock-broken')).to.have.length(1);
    expect(sim.target.lunStats(0)!.compareAndWrites).to.be.greaterThan(10);
    expect(sim.target.lunStats(0)!.checkConditions).to.equal(sim.target.lunStats(0)!.cawMiscompares); // no malformed ATS
  });
});
