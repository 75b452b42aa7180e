// Opening an existing file by path in a lock mode (lib/datastore/open.ts, docs/vsphere-behaviour.md §7.5,
// §7.8) on the manual-clock simulation with the real SCSI target: read-only and multi-writer holders
// share, an exclusive open is refused while a live host holds another mode, close ends one host's hold;
// paths are resolved through the directories, bad paths refused before any I/O.
import { expect } from 'chai';
import { DS_ERROR } from '../../lib/datastore/errors.js';
import { closePath, openPath, resolvePath, splitPath } from '../../lib/datastore/open.js';
import { powerOffVm, powerOnVm } from '../../lib/datastore/vm.js';
import { type Sim, mountedSim } from './sim.js';

async function setup(): Promise<Sim> {
  const sim = await mountedSim(['esx1', 'esx2']);
  const h = sim.host('esx1');
  const on = h.run('on', powerOnVm(h.ctx, 'tmpl1'));
  await sim.advance(2000);
  on.value();
  const off = h.run('off', powerOffVm(h.ctx, 'tmpl1'));
  await sim.advance(2000);
  off.value();
  return sim;
}

const DISK = 'tmpl1/tmpl1-flat.vmdk';

describe('datastore open by path (§7.5, §7.8)', () => {
  it('two hosts open a disk read-only together; the lock lists both; an exclusive open is refused "locked by" while one lives', async () => {
    const sim = await setup();
    const [h1, h2] = [sim.host('esx1'), sim.host('esx2')];
    const a = h1.run('ro1', openPath(h1.ctx, DISK, 'read-only'));
    const b = h2.run('ro2', openPath(h2.ctx, DISK, 'read-only'));
    await sim.advance(2000);
    const entry = a.value<{ entry: number }>().entry;
    expect(b.value<{ entry: number }>().entry).to.equal(entry);
    let e = await sim.entry(entry);
    expect(e.lock.mode).to.equal('read-only');
    expect(e.lock.holders.map((x) => x.owner).sort()).to.deep.equal([h1.uuid, h2.uuid].sort());
    const c2 = h2.run('close', closePath(h2.ctx, DISK));
    await sim.advance(1000);
    c2.value();
    const x = h2.run('ex', openPath(h2.ctx, DISK, 'exclusive'));
    await sim.advance(20_000);
    expect(x.error()?.code).to.equal(DS_ERROR.LOCKED);
    expect(x.error()?.message).to.contain('locked by esx1');
    e = await sim.entry(entry);
    expect(e.lock.holders.map((y) => y.owner)).to.deep.equal([h1.uuid]);
  });

  it('multi-writer is shared; closing the last holder frees the lock', async () => {
    const sim = await setup();
    const [h1, h2] = [sim.host('esx1'), sim.host('esx2')];
    const a = h1.run('mw1', openPath(h1.ctx, DISK, 'multi-writer'));
    const b = h2.run('mw2', openPath(h2.ctx, DISK, 'multi-writer'));
    await sim.advance(2000);
    const entry = a.value<{ entry: number }>().entry;
    b.value();
    expect((await sim.entry(entry)).lock).to.deep.include({ mode: 'multi-writer' });
    expect((await sim.entry(entry)).lock.holders).to.have.length(2);
    for (const h of [h1, h2]) {
      const c = h.run('close', closePath(h.ctx, DISK));
      await sim.advance(1000);
      c.value();
    }
    expect((await sim.entry(entry)).lock.mode).to.equal('free');
  });

  it('resolves through directories; a missing file or a file used as a directory is NOT_FOUND; bad paths are refused before any I/O', async () => {
    const sim = await setup();
    const h = sim.host('esx1');
    const r = h.run('resolve', resolvePath(h.ctx, 'tmpl1/tmpl1.vmx'));
    const missing = h.run('missing', resolvePath(h.ctx, 'tmpl1/nope.vmdk'));
    const notDir = h.run('notdir', resolvePath(h.ctx, 'tmpl1/tmpl1.vmx/x'));
    await sim.advance(1000);
    expect(r.value<number>()).to.be.greaterThan(0);
    expect(missing.error()?.code).to.equal(DS_ERROR.NOT_FOUND);
    expect(notDir.error()?.code).to.equal(DS_ERROR.NOT_FOUND);
    for (const bad of ['', '/', 'a/../b', './x', 'a/' + 'n'.repeat(300)]) expect(() => splitPath(bad), bad).to.throw().with.property('code', DS_ERROR.BAD_OPTION);
    expect(splitPath('/tmpl1//tmpl1.vmx')).to.deep.equal(['tmpl1', 'tmpl1.vmx']);
  });
});
