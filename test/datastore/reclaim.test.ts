// Reclaiming a host's own slot left in use by a previous mount (lib/datastore/reclaim.ts) on the
// manual-clock simulation: the slot is freed with generation + 1 after its journal is replayed, the old
// life's locks become dead (another host takes them without waiting a lease), and slots of other hosts
// are left alone.
import { expect } from 'chai';
import { createHostCtx } from '../../lib/datastore/host.js';
import { acquireLock } from '../../lib/datastore/lock.js';
import { reclaimOwnSlots } from '../../lib/datastore/reclaim.js';
import { Sim } from './sim.js';

describe('reclaiming a previous mount\'s slot', () => {
  it('a restarted host frees its old slot (gen + 1) and no other; its old locks are taken at once by another host', async () => {
    const sim = new Sim();
    await sim.format({ slotCount: 8 });
    await sim.load();
    const [a, b] = [sim.host('esx1'), sim.host('esx2')];
    a.mount();
    b.mount();
    await sim.advance(50);
    const old = a.ctx.slot!.index;
    (await a.lockFor(1, 'exclusive', 100)).value();
    // the daemon dies; a new process of esx1 (same identity) starts and mounts again
    for (const p of a.procs) p.proc.stop();
    a.procs.clear();
    a.ctx = createHostCtx({ hostUuid: a.uuid, hostName: a.name, sb: sim.superblock() });
    const r = a.run('reclaim', reclaimOwnSlots(a.ctx));
    await sim.advance(100);
    expect(r.value<number[]>()).to.deep.equal([old]);
    expect(await sim.slot(old)).to.deep.include({ state: 'free', generation: 2 });
    expect(await sim.slot(b.ctx.slot!.index)).to.deep.include({ state: 'in-use', owner: b.uuid });
    const t0 = sim.now;
    const lock = b.run('lock', acquireLock(b.ctx, 1, 'exclusive'));
    await sim.advance(500);
    lock.value();
    expect(b.eventsOf('lock-acquired').at(-1)!.atMs - t0).to.be.below(1000, 'no lease to wait out: the holder is gone');
  });
});
