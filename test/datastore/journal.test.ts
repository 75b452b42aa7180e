// Journal rules (docs/vsphere-behaviour.md §7.9): a change is written to the journal before it is applied;
// replay redoes complete transactions after the checkpoint and skips torn ones; replay is idempotent.
import { expect } from 'chai';
import { DS_ERROR } from '../../lib/datastore/errors.js';
import { DS_JOURNAL_MAX_TXN_RECORDS, type EntryMeta, computeLayout, emitJournalHeader, entryLba, journalLbaOf } from '../../lib/datastore/format.js';
import { bitmapSpans, encodeTxn, findFreeRun, journalRecordLba, journalledUpdate, planReplay, replayJournal, setBits } from '../../lib/datastore/journal.js';
import { Sim } from './sim.js';

const META = (name: string): EntryMeta => ({ type: 'file', parent: 0, name, sizeBytes: 1024 * 1024, extents: [{ start: 1, count: 1 }] });

describe('datastore journal (§7.9): replay planning', () => {
  const l = computeLayout(64 * 1024 * 1024, 512, { slotCount: 8, fileEntries: 64 })!;
  const bs = 512;
  function journalWith(checkpoint: number, txns: Array<{ first: number; n: number }>): Buffer {
    const j = Buffer.alloc(l.journalBlocks * bs);
    emitJournalHeader({ slot: 2, checkpoint }, bs).copy(j, 0);
    for (const t of txns) {
      const blocks = encodeTxn(l, 2, t.first, Array.from({ length: t.n }, (_, i) => ({ op: 'entry-meta' as const, entry: 3, meta: META(`t${t.first}-${i}`) })));
      for (const b of blocks) b.data.copy(j, (b.lba - journalLbaOf(l, 2)) * bs);
    }
    return j;
  }

  it('redoes complete transactions after the checkpoint, in order; skips older ones', () => {
    const p = planReplay(l, 2, journalWith(2, [{ first: 1, n: 2 }, { first: 3, n: 2 }, { first: 5, n: 1 }]));
    expect(p.txns.map((t) => t.txn)).to.deep.equal([3, 5]);
    expect(p.txns[0]!.changes.map((c) => (c.op === 'entry-meta' ? c.meta.name : ''))).to.deep.equal(['t3-0', 't3-1']);
    expect([p.tornTxns, p.unreadable, p.lastSeq]).to.deep.equal([[], [], 5]);
  });

  it('skips a torn transaction (a record missing) and one whose record is damaged, reporting where', () => {
    const j = journalWith(0, [{ first: 1, n: 1 }, { first: 2, n: 3 }, { first: 5, n: 2 }]);
    const base = journalLbaOf(l, 2);
    j.fill(0, (journalRecordLba(l, 2, 3) - base) * bs, (journalRecordLba(l, 2, 3) - base + 1) * bs); // txn 2 record 1 never landed
    j[(journalRecordLba(l, 2, 6) - base) * bs + 100] ^= 0xff; // txn 5 record 1 torn inside the block
    const p = planReplay(l, 2, j);
    expect(p.txns.map((t) => t.txn)).to.deep.equal([1]);
    expect(p.tornTxns).to.deep.equal([2, 5]);
    expect(p.unreadable.map((u) => [u.lba, u.error.code])).to.deep.equal([[journalRecordLba(l, 2, 6), DS_ERROR.BAD_CHECKSUM]]);
  });

  it('a corrupt journal header is an error with its offset, not a silent empty journal', () => {
    const j = journalWith(0, []);
    j[10] ^= 1;
    expect(() => planReplay(l, 2, j)).to.throw(/journal header: crc32 at byte/);
  });

  it(`a transaction has 1..${DS_JOURNAL_MAX_TXN_RECORDS} records`, () => {
    const many = Array.from({ length: DS_JOURNAL_MAX_TXN_RECORDS + 1 }, () => ({ op: 'bitmap-set' as const, start: 0, bits: 1 }));
    expect(() => encodeTxn(l, 0, 1, many)).to.throw().with.property('code', DS_ERROR.JOURNAL_TXN_TOO_BIG);
  });

  it('bitmap helpers: spans across blocks, set/clear, first free run', () => {
    expect(bitmapSpans(3900, 10)).to.deep.equal([{ index: 0, from: 3900, to: 3904 }, { index: 1, from: 0, to: 6 }]);
    const m = setBits({ index: 0, bits: Buffer.alloc(488) }, 0, 3, true);
    expect(findFreeRun([m], 100, 2)).to.equal(3);
    expect(findFreeRun([setBits(m, 1, 2, false)], 100, 1)).to.equal(1);
  });
});

describe('datastore journal (§7.9): on the simulated LUN', () => {
  async function setup(): Promise<Sim> {
    const sim = new Sim();
    await sim.format();
    await sim.load();
    sim.host('esx1').mount();
    sim.host('esx2').mount();
    await sim.advance(50);
    (await sim.host('esx1').lockFor(1, 'exclusive', 50)).value();
    return sim;
  }

  it('writes the journal before applying; the checkpoint moves after; replaying again redoes nothing', async () => {
    const sim = await setup();
    const h = sim.host('esx1');
    const t0 = sim.now;
    const u = h.run('u', journalledUpdate(h.ctx, [{ op: 'entry-meta', entry: 1, meta: META('a.vmx') }, { op: 'bitmap-set', start: 1, bits: 1 }]));
    await sim.advance(100);
    u.value();
    const l = sim.superblock().layout;
    const jl = journalLbaOf(l, h.ctx.slot!.index);
    const order = sim.log.filter((x) => x.host === 'esx1' && x.t > t0 && x.kind !== 'read' && (x.lba! < l.hbLba || x.lba! >= l.journalLba)).map((x) => (x.lba === jl ? 'checkpoint' : x.lba! > jl && x.lba! < jl + l.journalBlocks ? 'journal' : x.lba === entryLba(l, 1) ? 'entry' : 'bitmap'));
    expect(order).to.deep.equal(['journal', 'journal', 'entry', 'bitmap', 'checkpoint']);
    expect((await sim.entry(1)).meta.name).to.equal('a.vmx');
    const r = h.run('replay', replayJournal(h.ctx, h.ctx.slot!.index));
    await sim.advance(100);
    expect(r.value<{ txns: unknown[] }>().txns).to.deep.equal([]);
  });

  it('a crash after applying but before the checkpoint: the replay redoes it again with the same result', async () => {
    const sim = await setup();
    const h = sim.host('esx1');
    h.run('u', journalledUpdate(h.ctx, [{ op: 'entry-meta', entry: 1, meta: META('b.vmx') }], 'apply'));
    await sim.advance(100);
    sim.kill('esx1');
    const h2 = sim.host('esx2');
    (await h2.lockFor(1, 'exclusive', 20_000)).value();
    expect(h2.eventsOf('journal-replayed')[0]!.details!.redone).to.have.length(1);
    expect((await sim.entry(1)).meta.name).to.equal('b.vmx');
  });

  it('a torn transaction of a dead host is not replayed', async () => {
    const sim = await setup();
    const h = sim.host('esx1');
    const u = h.run('u', journalledUpdate(h.ctx, [{ op: 'entry-meta', entry: 1, meta: META('c.vmx') }, { op: 'bitmap-set', start: 2, bits: 1 }], 'journal'));
    await sim.advance(100);
    const first = u.value<number>();
    sim.kill('esx1');
    // the second record never reached the disk whole
    const l = sim.superblock().layout;
    await sim.exec('x', { kind: 'write', lba: journalRecordLba(l, h.ctx.slot!.index, first + 1), data: Buffer.alloc(512, 0x77) });
    const h2 = sim.host('esx2');
    (await h2.lockFor(1, 'exclusive', 20_000)).value();
    const ev = h2.eventsOf('journal-replayed')[0]!.details!;
    expect([ev.redone, ev.torn]).to.deep.equal([[], [first]]);
    expect((await sim.entry(1)).meta.type).to.equal('unused');
  });
});
