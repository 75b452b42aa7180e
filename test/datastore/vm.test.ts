// VM power-on/off over datastore files (lib/datastore/vm.ts, docs/vsphere-behaviour.md §7.5-§7.8) on the
// manual-clock simulation with the real SCSI target: the first power-on creates <vm>/ and both files
// open exclusive; another host is refused "locked by" while the owner lives, gets the VM after power-off,
// and breaks a dead owner's locks after the lease; a host cannot power the same VM on twice; power-off
// releases both files; a failure on the second file releases the first.
import { expect } from 'chai';
import { DS_ERROR } from '../../lib/datastore/errors.js';
import { listDir } from '../../lib/datastore/files.js';
import { DS_MAX_VM_NAME_BYTES, powerOffVm, powerOnVm, vmFiles, type OpenedFile } from '../../lib/datastore/vm.js';
import { acquireLock } from '../../lib/datastore/lock.js';
import { Sim } from './sim.js';

async function setup(names: string[]): Promise<Sim> {
  const sim = new Sim();
  await sim.format({ slotCount: 8 });
  await sim.load();
  for (const n of names) sim.host(n).mount();
  await sim.advance(50);
  return sim;
}

async function entryByPath(sim: Sim, path: string) {
  const [dir, name] = path.split('/');
  for (let i = 1; i < 64; i++) {
    const e = await sim.entry(i);
    if (e.meta.type !== 'unused' && e.meta.name === name) {
      const parent = await sim.entry(e.meta.parent);
      if (parent.meta.name === dir) return e;
    }
  }
  throw new Error(`no ${path}`);
}

describe('VM power-on/off over datastore files', () => {
  it('the first power-on creates <vm>/ with <vm>.vmx and <vm>-flat.vmdk, both open exclusive; the directory is not kept open', async () => {
    const sim = await setup(['esx1']);
    const h = sim.host('esx1');
    const p = h.run('on', powerOnVm(h.ctx, 'web1'));
    await sim.advance(1000);
    const opened = p.value<OpenedFile[]>();
    expect(opened.map((o) => [o.path, o.created])).to.deep.equal([['web1/web1.vmx', true], ['web1/web1-flat.vmdk', true]]);
    for (const f of vmFiles('web1')) {
      const e = await entryByPath(sim, `web1/${f.name}`);
      expect(e.lock.mode, f.name).to.equal('exclusive');
      expect(e.lock.owner).to.equal(h.uuid);
      expect(e.meta.sizeBytes).to.equal(f.sizeBytes);
    }
    const dir = h.run('ls', listDir(h.ctx, 0));
    await sim.advance(100);
    const web1 = dir.value<Array<{ index: number; meta: { name: string } }>>().find((e) => e.meta.name === 'web1')!;
    expect((await sim.entry(web1.index)).lock.mode).to.equal('free');
  });

  it('another host is refused "locked by esx1" while esx1 lives, and powers the VM on after esx1 powers it off', async () => {
    const sim = await setup(['esx1', 'esx2']);
    const [a, b] = [sim.host('esx1'), sim.host('esx2')];
    const on1 = a.run('on', powerOnVm(a.ctx, 'web1'));
    await sim.advance(1000);
    on1.value();
    const on2 = b.run('on', powerOnVm(b.ctx, 'web1'));
    await sim.advance(10_000);
    expect(on2.error()?.code).to.equal(DS_ERROR.LOCKED);
    expect(on2.error()?.message).to.equal('locked by esx1');
    const notHere = b.run('off', powerOffVm(b.ctx, 'web1'));
    await sim.advance(500);
    expect(notHere.value<string[]>(), 'esx2 has nothing of web1 open').to.deep.equal([]);
    expect((await entryByPath(sim, 'web1/web1.vmx')).lock.owner).to.equal(a.uuid);
    const off = a.run('off', powerOffVm(a.ctx, 'web1'));
    await sim.advance(500);
    expect(off.value<string[]>()).to.deep.equal(['web1/web1.vmx', 'web1/web1-flat.vmdk']);
    const again = b.run('on', powerOnVm(b.ctx, 'web1'));
    await sim.advance(1000);
    expect(again.value<OpenedFile[]>().map((o) => o.created)).to.deep.equal([false, false]);
    expect((await entryByPath(sim, 'web1/web1.vmx')).lock.owner).to.equal(b.uuid);
  });

  it('a VM name whose disk file name would not fit is refused before anything is created', async () => {
    const sim = await setup(['esx1']);
    const h = sim.host('esx1');
    const p = h.run('on', powerOnVm(h.ctx, 'v'.repeat(DS_MAX_VM_NAME_BYTES + 1)));
    await sim.advance(1000);
    expect(p.error()?.code).to.equal(DS_ERROR.BAD_OPTION);
    const ls = h.run('ls', listDir(h.ctx, 0));
    await sim.advance(100);
    expect(ls.value<unknown[]>()).to.deep.equal([]);
    const ok = h.run('on', powerOnVm(h.ctx, 'v'.repeat(DS_MAX_VM_NAME_BYTES)));
    await sim.advance(1000);
    expect(ok.value<OpenedFile[]>()).to.have.length(2);
  });

  it('a host cannot power on a VM it runs already (and keeps it running)', async () => {
    const sim = await setup(['esx1']);
    const h = sim.host('esx1');
    h.run('on', powerOnVm(h.ctx, 'web1'));
    await sim.advance(1000);
    const twice = h.run('on2', powerOnVm(h.ctx, 'web1'));
    await sim.advance(1000);
    expect(twice.error()?.code).to.equal(DS_ERROR.LOCKED);
    expect(twice.error()?.message).to.contain('powered on on this host already');
    expect((await entryByPath(sim, 'web1/web1.vmx')).lock.owner).to.equal(h.uuid);
  });

  it("a dead owner's VM is powered on elsewhere after the lease: both locks move, the dead slot is freed with generation + 1", async () => {
    const sim = await setup(['esx1', 'esx2']);
    const [a, b] = [sim.host('esx1'), sim.host('esx2')];
    a.run('on', powerOnVm(a.ctx, 'web1'));
    await sim.advance(1000);
    const deadSlot = a.ctx.slot!.index;
    sim.kill('esx1');
    const t0 = sim.now;
    const on = b.run('on', powerOnVm(b.ctx, 'web1'));
    await sim.advance(30_000);
    on.value();
    expect(b.eventsOf('lock-broken')[0]!.atMs - t0).to.be.at.least(16_000);
    for (const f of vmFiles('web1')) expect((await entryByPath(sim, `web1/${f.name}`)).lock.owner).to.equal(b.uuid);
    expect(await sim.slot(deadSlot)).to.deep.include({ state: 'free', generation: 2 });
  });

  it('when the second file is locked by another host, the first is released again', async () => {
    const sim = await setup(['esx1', 'esx2']);
    const [a, b] = [sim.host('esx1'), sim.host('esx2')];
    a.run('on', powerOnVm(a.ctx, 'web1'));
    await sim.advance(1000);
    a.run('off', powerOffVm(a.ctx, 'web1'));
    await sim.advance(500);
    const flat = await entryByPath(sim, 'web1/web1-flat.vmdk');
    a.run('grab', acquireLock(a.ctx, flat.index, 'exclusive')); // esx1 holds only the disk
    await sim.advance(500);
    const on = b.run('on', powerOnVm(b.ctx, 'web1'));
    await sim.advance(10_000);
    expect(on.error()?.message).to.equal('locked by esx1');
    expect((await entryByPath(sim, 'web1/web1.vmx')).lock.mode).to.equal('free');
  });
});
