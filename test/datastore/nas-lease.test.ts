// NFS v3 `.lck` leases (docs/vsphere-behaviour.md §7.10) on the manual-clock simulation: the owner
// refreshes every 10 s with an 84-byte write, a lease is lost after 3 failed refreshes of 5 s each, and
// another host may break it only after it stayed unchanged for 10 × 3 + 5 = 35 s.
import { expect } from 'chai';
import { DS_ERROR } from '../../lib/datastore/errors.js';
import { LCK_BYTES, LCK, acquireLease, emitLck, holdLease, lckPath, nasTiming, parseLck, staleAfterMs } from '../../lib/datastore/nas-lease.js';
import { Sim } from './sim.js';

const PATH = lckPath('/web1', 4242);

/** esx1 takes the lease, runs `ms`, and dies. */
async function ownerDiesAfter(sim: Sim, ms: number): Promise<void> {
  const a = sim.host('esx1');
  a.run('lease', holdLease(sim.nasCtx(a), PATH, 'exclusive'));
  await sim.advance(ms);
  sim.kill('esx1');
}

describe('datastore NAS .lck leases (§7.10)', () => {
  it('the stale time is refresh × failures + timeout = 35 s', () => {
    expect(staleAfterMs(nasTiming())).to.equal(35_000);
    expect(staleAfterMs(nasTiming(10))).to.equal(3_500);
    expect(PATH).to.equal('/web1/.lck-4242');
  });

  it('.lck content: 84 bytes, round trip, damage reported with its offset', () => {
    const b = emitLck({ counter: 7, mode: 'exclusive', owner: 'esx1' });
    expect(b.length).to.equal(LCK_BYTES);
    expect(parseLck(b)).to.deep.equal({ ok: true, value: { counter: 7, mode: 'exclusive', owner: 'esx1' } });
    const bad = Buffer.from(b);
    bad[LCK.COUNTER] ^= 1;
    const r = parseLck(bad);
    expect(!r.ok && [r.error.code, r.error.details!.offset]).to.deep.equal([DS_ERROR.BAD_CHECKSUM, LCK.CRC]);
  });

  it('the owner creates the .lck and rewrites it every 10 s with an 84-byte write; the counter moves', async () => {
    const sim = new Sim();
    const h = sim.host('esx1');
    h.run('lease', holdLease(sim.nasCtx(h), PATH, 'exclusive'));
    await sim.advance(35_000);
    const writes = h.issuedLog.filter((x) => x.kind === 'nas-write').map((x) => x.t);
    expect(writes).to.deep.equal([10_002, 20_002, 30_002]);
    const c = parseLck(sim.nas.get(PATH)!);
    expect(c.ok && [c.value.counter, c.value.owner]).to.deep.equal([4, 'esx1']);
  });

  it('another host is refused "locked by" while the owner refreshes', async () => {
    const sim = new Sim();
    const a = sim.host('esx1');
    a.run('lease', holdLease(sim.nasCtx(a), PATH, 'exclusive'));
    await sim.advance(1000);
    const b = sim.host('esx2');
    const p = b.run('acq', acquireLease(sim.nasCtx(b), PATH, 'exclusive'));
    await sim.advance(60_000);
    expect(p.error()?.code).to.equal(DS_ERROR.LOCKED);
    expect(p.error()?.message).to.equal('locked by esx1');
    expect(b.eventsOf('lock-refused')[0]!.atMs).to.be.lessThan(1000 + 10_000 + 10);
  });

  it('a dead owner: the .lck is broken only after 35 s unchanged, then the new owner holds it', async () => {
    const sim = new Sim();
    await ownerDiesAfter(sim, 5000);
    const b = sim.host('esx2');
    const t0 = sim.now;
    const p = b.run('lease', holdLease(sim.nasCtx(b), PATH, 'exclusive'));
    await sim.advance(34_000);
    expect(b.eventsOf('lease-stale')).to.deep.equal([]);
    await sim.advance(2_000);
    const stale = b.eventsOf('lease-stale');
    expect(stale).to.have.length(1);
    expect(stale[0]!.atMs - t0).to.be.closeTo(35_000, 10);
    expect(b.eventsOf('lock-acquired')).to.have.length(1);
    const c = parseLck(sim.nas.get(PATH)!);
    expect(c.ok && c.value.owner).to.equal('esx2');
    expect(p.done).to.equal(false); // holding and refreshing
  });

  it('the owner loses the lease after 3 failed refreshes (each timing out after 5 s): at 35 s', async () => {
    const sim = new Sim();
    const a = sim.host('esx1');
    a.run('lease', holdLease(sim.nasCtx(a), PATH, 'exclusive'));
    await sim.advance(100);
    const t0 = 2; // created at 2 ms
    sim.stall('esx1', 60_000);
    await sim.advance(50_000);
    const fails = a.eventsOf('lease-refresh-failed').map((e) => e.atMs - t0);
    expect(fails).to.deep.equal([15_000, 25_000, 35_000]);
    expect(a.eventsOf('lease-lost')[0]!.atMs - t0).to.equal(35_000);
  });

  it('the time scale shrinks every NAS interval alike (scale 10: stale after 3.5 s)', async () => {
    const sim = new Sim();
    sim.nasTimeScale = 10;
    await ownerDiesAfter(sim, 100);
    const b = sim.host('esx2');
    const t0 = sim.now;
    b.run('acq', acquireLease(sim.nasCtx(b), PATH, 'exclusive'));
    await sim.advance(10_000);
    expect(b.eventsOf('lease-stale')[0]!.atMs - t0).to.be.closeTo(3_500, 10);
  });
});
