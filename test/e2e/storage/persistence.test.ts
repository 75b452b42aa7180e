// End-to-end: an array keeps its data, and `vfab fault restart` brings back what `vfab up` set up.
// One small fabric (sw1, esx1 with VM web1 and its disk on ds1, array1 seen over 2 paths) run through
// the real CLI (`node bin/vfab.js`, exit codes) in a temp state dir: a LUN made with `vfab lun create`
// and blocks written over the block protocol and through a VM disk survive `vfab down` / `vfab up`; a
// larger topology LUN grows, a smaller one is refused with exit 2; `vfab array wipe` (refused while
// running or without --yes) and `vfab down --purge` delete, plain down does not; after
// `vfab fault restart esx1` the VM's disk works; I/O running while array1 restarts finishes without
// errors with both paths connected again when restart returns; a host restarted while its array was
// killed attaches it when the array restarts.

import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fabricDown } from '../../../daemons/fabric/lifecycle.js';
import { readState, type FabricState } from '../../../daemons/fabric/state.js';
import { connectBlockClient } from '../../../daemons/storage/block-client.js';
import { makeTempDir, runCli, trackPids, type CliResult } from '../helpers/fabric.js';

const LBA = 100;
const BLOCKS = 8;

function topologyYaml(ds1SizeGB: number): string {
  return `name: persist
switches:
  - name: sw1
    ports:
      - { name: Gi1/0/1, mode: access, vlan: 10 }
hosts:
  - name: esx1
    vswitches:
      - name: vSwitch0
        uplinks: [vmnic0]
        portGroups:
          - { name: VM-10 }
    vms:
      - name: web1
        nics:
          - { portGroup: VM-10, ip: 192.0.2.11/24 }
        disks:
          - { lun: ds1, sizeGB: 0.125 }
    storage:
      - { array: array1, paths: 2, policy: roundRobin }
links:
  - [esx1.vmnic0, sw1.Gi1/0/1]
arrays:
  - name: array1
    readCacheMB: 0
    luns:
      - { name: ds1, sizeGB: ${ds1SizeGB} }
`;
}

describe('e2e storage: arrays keep their data; restart brings back storage', function () {
  this.timeout(120_000);
  let dir: string;
  let topo: string;
  const store = () => path.join(dir, 'arrays', 'array1');

  async function vfab(...args: string[]): Promise<CliResult> {
    const r = await runCli(args, { stateDir: dir, timeoutMs: 60_000 });
    if (args[0] === 'up' && r.code === 0) trackPids(readState(dir).daemons.map((d) => d.pid));
    return r;
  }
  async function ok(...args: string[]): Promise<CliResult> {
    const r = await vfab(...args);
    expect(r.code, `vfab ${args.join(' ')}: ${r.stderr}`).to.equal(0);
    return r;
  }
  const json = async (...args: string[]) => JSON.parse((await ok(...args, '--json')).out);
  const up = (sizeGB = 0.25) => (fs.writeFileSync(topo, topologyYaml(sizeGB)), ok('up', topo, '--detach'));
  const state = (): FabricState => readState(dir);

  async function withArray<T>(fn: (c: Awaited<ReturnType<typeof connectBlockClient>>) => Promise<T>): Promise<T> {
    const a = state().daemons.find((d) => d.name === 'array1')!;
    const c = await connectBlockClient({ url: `ws://127.0.0.1:${a.port}/block`, token: state().token, initiator: 'iqn.2026-11.vfab:test' });
    try {
      return await fn(c);
    } finally {
      c.close();
    }
  }
  const lunNumber = async (name: string) => (await json('lun', 'list')).luns.find((l: any) => l.name === name)?.lun as number | undefined;

  before(() => {
    dir = makeTempDir('vfab-e2e-persist-');
    topo = path.join(dir, 'persist.yaml');
  });
  after(async function () {
    this.timeout(30_000);
    try {
      await fabricDown(readState(dir), dir);
    } catch {
      /* not running */
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const keepData = randomBytes(BLOCKS * 512);
  const diskData = randomBytes(5000);

  it('a LUN from vfab lun create, its blocks and a VM disk write survive vfab down / vfab up', async () => {
    await up();
    await ok('lun', 'create', 'keep', '--size', '16M');
    const lun = (await lunNumber('keep'))!;
    await withArray((c) => c.write(lun, LBA, keepData));
    fs.writeFileSync(path.join(dir, 'disk.bin'), diskData);
    await ok('disk', 'write', 'web1', 'disk0', '4096', path.join(dir, 'disk.bin'));
    const before = (await json('lun', 'list')).luns;
    expect(fs.existsSync(path.join(store(), 'CURRENT')), 'the store is in <state dir>/arrays/array1').to.equal(true);

    await ok('down');
    await up();
    const after = (await json('lun', 'list')).luns;
    expect(after.map((l: any) => [l.name, l.id, l.sizeBytes])).to.deep.equal(before.map((l: any) => [l.name, l.id, l.sizeBytes]));
    expect((await withArray((c) => c.read(lun, LBA, BLOCKS))).equals(keepData), 'blocks of LUN keep').to.equal(true);
    const back = path.join(dir, 'back.bin');
    await ok('disk', 'read', 'web1', 'disk0', '4096', '5000', '--out', back);
    expect(fs.readFileSync(back).equals(diskData), 'VM disk bytes').to.equal(true);
  });

  it('a larger topology LUN grows; a smaller one is refused: vfab up exits 2 naming array, LUN and both sizes', async () => {
    await ok('down');
    await up(0.5);
    expect((await json('lun', 'list')).luns.find((l: any) => l.name === 'ds1').sizeBytes).to.equal(512 * 1024 ** 2);
    await ok('down');
    fs.writeFileSync(topo, topologyYaml(0.25));
    const r = await vfab('up', topo, '--detach');
    expect(r.code, r.stderr).to.equal(2);
    expect(r.stderr).to.match(/array array1: LUN ds1 holds 512M \(536870912 bytes\) but the topology asks for 256M \(268435456 bytes\)/);
    expect(r.stderr).to.include('vfab array wipe array1 --yes');
    expect(() => readState(dir), 'a refused up leaves no fabric behind').to.throw(/no fabric/);
    await up(0.5); // the data is untouched by the refusal
    expect((await withArray(async (c) => c.read((await lunNumber('keep'))!, LBA, BLOCKS))).equals(keepData)).to.equal(true);
  });

  it('vfab fault restart esx1: the VM disk can be written and read again (storage attached again)', async () => {
    await ok('fault', 'restart', 'esx1');
    const data = randomBytes(3000);
    fs.writeFileSync(path.join(dir, 'after-restart.bin'), data);
    await ok('disk', 'write', 'web1', 'disk0', '65536', path.join(dir, 'after-restart.bin'));
    const back = path.join(dir, 'back2.bin');
    await ok('disk', 'read', 'web1', 'disk0', '65536', '3000', '--out', back);
    expect(fs.readFileSync(back).equals(data)).to.equal(true);
    const st = await json('disk', 'status', 'esx1');
    expect(st.hosts[0].arrays[0].state).to.equal('attached');
  });

  it('vfab fault restart array1 under VM I/O: no I/O error, both paths connected when restart returns, data intact', async () => {
    const load = vfab('disk', 'load', 'web1', '--pattern', 'random', '--block', '4k', '--depth', '8', '--seconds', '4', '--read-percent', '50', '--json');
    await new Promise((r) => setTimeout(r, 800));
    const oldPid = state().daemons.find((d) => d.name === 'array1')!.pid;
    const restarted = await json('fault', 'restart', 'array1');
    expect(restarted.pid).to.not.equal(oldPid);
    expect(restarted.storage).to.deep.equal(['esx1']);
    const paths = (await json('disk', 'status', 'esx1')).hosts[0].arrays[0].paths;
    expect(paths.map((p: any) => p.connected), 'paths right after restart returned').to.deep.equal([true, true]);
    const r = await load;
    expect(r.code, r.stderr).to.equal(0);
    const result = JSON.parse(r.out);
    expect(result.errors).to.equal(0);
    expect(result.ios).to.be.greaterThan(0);
    const back = path.join(dir, 'back3.bin');
    await ok('disk', 'read', 'web1', 'disk0', '4096', '5000', '--out', back);
    // the load wrote random blocks of disk0 too; the LUN keep was not touched by it
    expect((await withArray(async (c) => c.read((await lunNumber('keep'))!, LBA, BLOCKS))).equals(keepData)).to.equal(true);
  });

  it('a host restarted while its array is down attaches it when the array restarts', async () => {
    await ok('fault', 'kill', 'array1');
    const host = await json('fault', 'restart', 'esx1');
    expect(host).to.deep.include({ storage: [], arraysDown: ['array1'] });
    const array = await json('fault', 'restart', 'array1');
    expect(array.storage).to.deep.equal(['esx1']);
    const back = path.join(dir, 'back4.bin');
    await ok('disk', 'read', 'web1', 'disk0', '65536', '16', '--out', back);
    expect(fs.readFileSync(back).length).to.equal(16);
  });

  it('vfab array wipe: refused while the array runs (exit 1) and without --yes (exit 2, says what); deletes with --yes', async () => {
    const running = await vfab('array', 'wipe', 'array1', '--yes');
    expect(running.code).to.equal(1);
    expect(running.stderr).to.match(/array array1 is running in fabric persist/);
    await ok('down');
    expect(fs.existsSync(path.join(store(), 'CURRENT')), 'plain down keeps the store').to.equal(true);
    const asked = await vfab('array', 'wipe', 'array1');
    expect(asked.code).to.equal(2);
    expect(asked.stderr).to.match(/would delete the store of array array1 at .*: 2 LUNs \(ds1 512M, keep 16M\)/);
    expect(fs.existsSync(path.join(store(), 'CURRENT')), 'nothing deleted without --yes').to.equal(true);
    const typo = await vfab('array', 'wipe', 'arary1', '--yes');
    expect(typo.code).to.equal(2);
    expect(typo.stderr).to.match(/no store for array "arary1" .*stores here: array1/);
    const wiped = await json('array', 'wipe', 'array1', '--yes');
    expect(wiped).to.include({ deleted: true, array: 'array1' });
    expect(fs.existsSync(store())).to.equal(false);
    await up(0.5);
    const luns = (await json('lun', 'list')).luns;
    expect(luns.map((l: any) => l.name)).to.deep.equal(['ds1']);
  });

  it('vfab down --purge stops the fabric and deletes its arrays\' stores', async () => {
    await ok('lun', 'create', 'keep2', '--size', '1M');
    expect(fs.existsSync(path.join(store(), 'CURRENT'))).to.equal(true);
    const r = await json('down', '--purge');
    expect(r.purged.map((p: any) => [p.array, p.deleted])).to.deep.equal([['array1', true]]);
    expect(fs.existsSync(store())).to.equal(false);
    expect(() => readState(dir)).to.throw(/no fabric/);
  });
});
