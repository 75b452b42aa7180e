// A VM on a NAS datastore (lib/datastore/nas-vm.ts) on the manual-clock simulation: power-on takes the
// `.lck` of each of the VM's files in order, so two hosts racing meet on the `.vmx`'s lease and exactly
// one wins; a lease that cannot be taken gives back the ones taken before it; power-off removes them;
// listings describe a `.lck` with its age and staleness (§7.10: 35 s).
import { expect } from 'chai';
import { DS_ERROR } from '../../lib/datastore/errors.js';
import { emitLck, nasTiming, refreshLease } from '../../lib/datastore/nas-lease.js';
import { type NasLease, describeLck, lckFileId, powerOnNasVm, releaseNasLeases, vmLckPath } from '../../lib/datastore/nas-vm.js';
import { Sim } from './sim.js';

const FILES = [{ path: 'web1/web1.vmx', fileId: 11 }, { path: 'web1/web1-flat.vmdk', fileId: 12 }];

describe('datastore NAS VM power-on/off with .lck leases (§7.10)', () => {
  it('power-on creates one .lck per file, in file order, named after the file id', async () => {
    const sim = new Sim();
    const a = sim.host('esx1');
    const p = a.run('on', powerOnNasVm(sim.nasCtx(a), 'web1', FILES));
    await sim.advance(100);
    expect(p.value<NasLease[]>()).to.deep.equal([
      { file: 'web1/web1.vmx', lck: 'web1/.lck-11', counter: 1 },
      { file: 'web1/web1-flat.vmdk', lck: 'web1/.lck-12', counter: 1 },
    ]);
    expect([...sim.nas.keys()]).to.deep.equal(['web1/.lck-11', 'web1/.lck-12']);
    expect(lckFileId('.lck-12')).to.equal(12);
    expect(lckFileId('web1.vmx')).to.equal(undefined);
  });

  it('two hosts racing: exactly one wins, the other is told "locked by" the winner while it refreshes', async () => {
    for (let i = 0; i < 10; i++) {
      const sim = new Sim({ latencyMs: 1 + (i % 3) });
      const hosts = [sim.host('esx1'), sim.host('esx2')];
      const procs = (i % 2 === 0 ? hosts : [...hosts].reverse()).map((h) => ({ h, p: h.run('on', powerOnNasVm(sim.nasCtx(h), 'web1', FILES)) }));
      // the winner keeps its leases fresh, as hostd does
      await sim.advance(50);
      for (const { h, p } of procs) if (p.done && !p.error()) for (const l of p.value<NasLease[]>()) h.run('refresh', refreshLease(sim.nasCtx(h), l.lck, 'exclusive', l.counter));
      await sim.advance(30_000);
      const won = procs.filter(({ p }) => p.done && p.error() === undefined);
      expect(won, `race ${i}`).to.have.length(1);
      const lost = procs.find(({ p }) => p.error() !== undefined)!;
      expect(lost.p.error()!.code).to.equal(DS_ERROR.LOCKED);
      expect(lost.p.error()!.message).to.equal(`locked by ${won[0]!.h.name}`);
      expect(lost.h.eventsOf('lock-acquired')).to.deep.equal([]);
    }
  });

  it('a lease that cannot be taken gives back the ones taken before it', async () => {
    const sim = new Sim();
    const b = sim.host('esx2');
    sim.nas.set(vmLckPath('web1', 12), emitLck({ counter: 1, mode: 'exclusive', owner: 'esx9' }));
    const p = b.run('on', powerOnNasVm(sim.nasCtx(b), 'web1', FILES));
    // esx9 refreshes its .lck of the disk: esx2 holds the .vmx's lease meanwhile, then must give it back
    await sim.advance(5_000);
    expect(sim.nas.has('web1/.lck-11')).to.equal(true);
    sim.nas.set(vmLckPath('web1', 12), emitLck({ counter: 2, mode: 'exclusive', owner: 'esx9' }));
    await sim.advance(20_000);
    expect(p.error()?.message).to.equal('locked by esx9');
    expect(sim.nas.has('web1/.lck-11'), 'the .vmx lease was given back').to.equal(false);
    expect(b.eventsOf('lock-released').map((e) => e.details!.path)).to.deep.equal(['web1/.lck-11']);
  });

  it('power-off removes the leases; a dead owner\'s leases are broken only after 35 s unchanged', async () => {
    const sim = new Sim();
    const a = sim.host('esx1');
    const on = a.run('on', powerOnNasVm(sim.nasCtx(a), 'web1', FILES));
    await sim.advance(100);
    const off = a.run('off', releaseNasLeases(sim.nasCtx(a), on.value<NasLease[]>()));
    await sim.advance(100);
    expect(off.value<string[]>()).to.deep.equal(['web1/web1.vmx', 'web1/web1-flat.vmdk']);
    expect(sim.nas.size).to.equal(0);
    // esx1 powers on again and dies: esx2's power-on waits out the stale time and breaks both leases
    a.run('on', powerOnNasVm(sim.nasCtx(a), 'web1', FILES));
    await sim.advance(100);
    sim.kill('esx1');
    const b = sim.host('esx2');
    const t0 = sim.now;
    const p = b.run('on', powerOnNasVm(sim.nasCtx(b), 'web1', FILES));
    await sim.advance(34_000);
    expect(p.done).to.equal(false);
    await sim.advance(40_000);
    expect(p.error()).to.equal(undefined);
    const broken = b.eventsOf('lock-broken');
    expect(broken.map((e) => e.details!.path)).to.deep.equal(['web1/.lck-11', 'web1/.lck-12']);
    expect(broken[0]!.atMs - t0).to.be.at.least(35_000);
  });

  it('describeLck: owner, counter and age in fabric ms; stale from 35 s (time-scaled); damage reported', () => {
    const t = nasTiming();
    const b = emitLck({ counter: 5, mode: 'exclusive', owner: 'esx1' });
    expect(describeLck(b, 1000, 3000, 8, t)).to.deep.equal({ owner: 'esx1', mode: 'exclusive', counter: 5, problem: null, ageMs: 16_000, stale: false });
    expect(describeLck(b, 1000, 1000 + 35_000 / 8, 8, t).stale).to.equal(true);
    const bad = describeLck(Buffer.alloc(3), 0, 0, 1, t);
    expect([bad.owner, bad.problem]).to.deep.equal([null, '.lck file: length at byte 0 is 3 bytes, not 84']);
  });
});
