// VM power-on/off over datastore files (lib/datastore/vm.ts, docs/vsphere-behaviour.md §7.5-§7.8) on the
// manual-clock simulation with the real SCSI target: the first power-on creates <vm>/ and its files
// open exclusive (.vmx, then per disk descriptor and flat file, sized and written from the disk list); another host is refused "locked by" while the owner lives, gets the VM after power-off,
// and breaks a dead owner's locks after the lease; a host cannot power the same VM on twice; power-off
// releases them; a failure on a later file releases the earlier ones; a grown disk grows its flat file.
import { expect } from 'chai';
import { DS_ERROR } from '../../lib/datastore/errors.js';
import { listDir } from '../../lib/datastore/files.js';
import { DS_MAX_VM_NAME_BYTES, checkVmName, descriptorText, powerOffVm, powerOnVm, vmFiles, vmxText, type OpenedFile } from '../../lib/datastore/vm.js';
import { mapFileRange } from '../../lib/datastore/extent-map.js';
import { acquireLock } from '../../lib/datastore/lock.js';
import { Sim, mountedSim } from './sim.js';

const setup = mountedSim;

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

/** A file's contents read from the raw LUN at its extents. */
async function contents(sim: Sim, path: string): Promise<string> {
  const e = await entryByPath(sim, path);
  const parts: Buffer[] = [];
  for (const r of mapFileRange(sim.superblock().layout, e.meta, 0, e.meta.sizeBytes)) {
    const first = r.lba;
    const blocks = Math.ceil((r.lunOffsetBytes + r.bytes) / sim.blockSize) - first;
    const got = await sim.exec('reader', { kind: 'read', lba: first, blocks });
    const skip = r.lunOffsetBytes - first * sim.blockSize;
    parts.push((got as { data: Buffer }).data.subarray(skip, skip + r.bytes));
  }
  return Buffer.concat(parts).toString('utf8');
}

const MIB = 1024 * 1024;

describe('VM files from the disk list', () => {
  it('lists .vmx, then per disk its descriptor and flat file (web1, web1_1, ...), flat sizes in whole 512-byte sectors', () => {
    const f = vmFiles('web1', [{ sizeBytes: 3 * MIB + 100 }, { sizeBytes: MIB }]);
    expect(f.map((x) => [x.name, x.role, x.disk])).to.deep.equal([
      ['web1.vmx', 'vmx', undefined], ['web1.vmdk', 'descriptor', 0], ['web1-flat.vmdk', 'flat', 0], ['web1_1.vmdk', 'descriptor', 1], ['web1_1-flat.vmdk', 'flat', 1],
    ]);
    expect(f[2]!.sizeBytes).to.equal(3 * MIB + 512);
    expect(f[4]!.sizeBytes).to.equal(MIB);
    expect(f[0]!.sizeBytes).to.equal(Buffer.byteLength(vmxText('web1', [{ sizeBytes: 1 }, { sizeBytes: 1 }])));
    expect(descriptorText('web1', 1, MIB)).to.contain('RW 2048 VMFS "web1_1-flat.vmdk"');
    expect(vmxText('web1', [{ sizeBytes: 1 }, { sizeBytes: 1 }])).to.contain('displayName = "web1"').and.contain('scsi0:1.fileName = "web1_1.vmdk"');
    expect(vmFiles('app').map((x) => x.name), 'the default: one disk').to.deep.equal(['app.vmx', 'app.vmdk', 'app-flat.vmdk']);
  });

  it('refuses a name whose last disk file would not fit, and a disk list that is empty or too long', () => {
    const name = 'v'.repeat(DS_MAX_VM_NAME_BYTES);
    expect(() => checkVmName(name, [{ sizeBytes: 1 }])).to.not.throw();
    expect(() => checkVmName(name, [{ sizeBytes: 1 }, { sizeBytes: 1 }])).to.throw(/shorten the VM name/);
    expect(() => checkVmName('web1', [])).to.throw(/1\.\.60 disks/);
    expect(() => checkVmName('web1', Array.from({ length: 61 }, () => ({ sizeBytes: 1 })))).to.throw(/1\.\.60 disks/);
  });
});

describe('VM power-on/off over datastore files', () => {
  it('the first power-on creates <vm>/ with <vm>.vmx, <vm>.vmdk and <vm>-flat.vmdk, all open exclusive; the directory is not kept open', async () => {
    const sim = await setup(['esx1']);
    const h = sim.host('esx1');
    const p = h.run('on', powerOnVm(h.ctx, 'web1'));
    await sim.advance(1000);
    const opened = p.value<OpenedFile[]>();
    expect(opened.map((o) => [o.path, o.created])).to.deep.equal([['web1/web1.vmx', true], ['web1/web1.vmdk', true], ['web1/web1-flat.vmdk', true]]);
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
    expect(off.value<string[]>()).to.deep.equal(['web1/web1.vmx', 'web1/web1.vmdk', 'web1/web1-flat.vmdk']);
    const again = b.run('on', powerOnVm(b.ctx, 'web1'));
    await sim.advance(1000);
    expect(again.value<OpenedFile[]>().map((o) => o.created)).to.deep.equal([false, false, false]);
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
    expect(ok.value<OpenedFile[]>()).to.have.length(3);
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

  it('creates each disk at its size and writes the .vmx and descriptors onto the LUN; a grown disk grows its flat file, a smaller one never shrinks it', async () => {
    const sim = await setup(['esx1']);
    const h = sim.host('esx1');
    const disks = [{ sizeBytes: 2 * MIB }, { sizeBytes: MIB / 2 }];
    const on = h.run('on', powerOnVm(h.ctx, 'web1', () => {}, disks));
    await sim.advance(2000);
    expect(on.value<OpenedFile[]>().map((o) => [o.path, o.sizeBytes])).to.deep.equal([
      ['web1/web1.vmx', Buffer.byteLength(vmxText('web1', disks))], ['web1/web1.vmdk', Buffer.byteLength(descriptorText('web1', 0, 2 * MIB))],
      ['web1/web1-flat.vmdk', 2 * MIB], ['web1/web1_1.vmdk', Buffer.byteLength(descriptorText('web1', 1, MIB / 2))], ['web1/web1_1-flat.vmdk', MIB / 2],
    ]);
    expect((await entryByPath(sim, 'web1/web1-flat.vmdk')).meta.extents.reduce((n, x) => n + x.count, 0)).to.equal(2);
    expect(await contents(sim, 'web1/web1.vmx')).to.equal(vmxText('web1', disks));
    expect(await contents(sim, 'web1/web1.vmdk')).to.equal(descriptorText('web1', 0, 2 * MIB));
    expect(await contents(sim, 'web1/web1_1.vmdk')).to.contain('RW 1024 VMFS "web1_1-flat.vmdk"');
    for (const f of vmFiles('web1', disks)) expect((await entryByPath(sim, `web1/${f.name}`)).lock.mode, f.name).to.equal('exclusive');
    h.run('off', powerOffVm(h.ctx, 'web1'));
    await sim.advance(1000);
    const bigger = [{ sizeBytes: 3 * MIB }, { sizeBytes: MIB / 2 }];
    const grown = h.run('on2', powerOnVm(h.ctx, 'web1', () => {}, bigger));
    await sim.advance(2000);
    const g = grown.value<OpenedFile[]>();
    expect(g.filter((o) => o.grown).map((o) => o.path)).to.deep.equal(['web1/web1-flat.vmdk']);
    expect((await entryByPath(sim, 'web1/web1-flat.vmdk')).meta.sizeBytes).to.equal(3 * MIB);
    expect(await contents(sim, 'web1/web1.vmdk')).to.equal(descriptorText('web1', 0, 3 * MIB));
    h.run('off2', powerOffVm(h.ctx, 'web1'));
    await sim.advance(1000);
    const smaller = h.run('on3', powerOnVm(h.ctx, 'web1', () => {}, disks));
    await sim.advance(2000);
    expect(smaller.value<OpenedFile[]>().find((o) => o.role === 'flat' && o.disk === 0)!.sizeBytes, 'never shrunk').to.equal(3 * MIB);
    expect(await contents(sim, 'web1/web1.vmdk')).to.equal(descriptorText('web1', 0, 3 * MIB));
  });

  it('power-off releases every file of the VM this host holds, whatever disk list it is given', async () => {
    const sim = await setup(['esx1']);
    const h = sim.host('esx1');
    h.run('on', powerOnVm(h.ctx, 'web1', () => {}, [{ sizeBytes: MIB }, { sizeBytes: MIB }]));
    await sim.advance(2000);
    const off = h.run('off', powerOffVm(h.ctx, 'web1'));
    await sim.advance(1000);
    expect(off.value<string[]>()).to.deep.equal(['web1/web1.vmx', 'web1/web1.vmdk', 'web1/web1-flat.vmdk', 'web1/web1_1.vmdk', 'web1/web1_1-flat.vmdk']);
    expect((await entryByPath(sim, 'web1/web1_1-flat.vmdk')).lock.mode).to.equal('free');
  });
});
