// End-to-end: the quickstart topology (two hosts, array1 with datastore1 seen over 2 Round Robin paths)
// brought up with fabricUp in a temp state dir; `vfab lun` against stored, `vfab disk write` through
// esx1 and `vfab disk read` of the same bytes through esx2, a workload surviving a failed path, and
// all-paths-down failing after the (shortened) APD timeout. Always torn down in after().

import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fabricUp, fabricDown } from '../../../daemons/fabric/lifecycle.js';
import { loadTopologyFile } from '../../../lib/topology/load.js';
import type { FabricState } from '../../../daemons/fabric/state.js';
import { control } from '../../../daemons/common/control-client.js';
import { runCommand } from '../../../daemons/cli.js';
import type { CliIo } from '../../../daemons/cli/io.js';
import { VfabError } from '../../../lib/errors.js';

const APD_TIMEOUT_MS = 1500;

type Command = (args: string[], io: CliIo) => Promise<number>;
const lunCommand: Command = (args, io) => runCommand('lun', args, io);
const diskCommand: Command = (args, io) => runCommand('disk', args, io);
const statusCommand: Command = (args, io) => runCommand('status', args, io);

function capture(): CliIo & { text: () => string } {
  const lines: string[] = [];
  return { out: (t) => lines.push(t), err: (t) => lines.push(t), text: () => lines.join('\n') };
}

async function cli(fn: Command, args: string[]): Promise<{ code: number; text: string; json: any }> {
  const io = capture();
  const code = await fn(args, io);
  const text = io.text();
  let json: any;
  if (args.includes('--json')) json = JSON.parse(text);
  return { code, text, json };
}

async function cliError(fn: Command, args: string[]): Promise<VfabError> {
  try {
    await fn(args, capture());
  } catch (e) {
    return e as VfabError;
  }
  throw new Error(`expected ${args.join(' ')} to fail`);
}

describe('e2e storage: quickstart fabric with array1, hosts, paths and VM disks', function () {
  this.timeout(60_000);
  let dir: string;
  let state: FabricState | undefined;
  const saved = { stateDir: process.env.VFAB_STATE_DIR, apd: process.env.VFAB_APD_TIMEOUT_MS };
  const host = (name: string) => state!.daemons.find((d) => d.name === name)!;

  before(async function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfab-e2e-fabric-storage-'));
    process.env.VFAB_STATE_DIR = dir;
    process.env.VFAB_APD_TIMEOUT_MS = String(APD_TIMEOUT_MS); // inherited by the host daemons
    state = await fabricUp({ topology: await loadTopologyFile('topologies/quickstart.yaml'), stateDir: dir });
  });

  after(async function () {
    if (state) await fabricDown(state, dir);
    if (saved.stateDir === undefined) delete process.env.VFAB_STATE_DIR;
    else process.env.VFAB_STATE_DIR = saved.stateDir;
    if (saved.apd === undefined) delete process.env.VFAB_APD_TIMEOUT_MS;
    else process.env.VFAB_APD_TIMEOUT_MS = saved.apd;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('stored created the topology LUN with its number, size and block size; vfab lun list shows it', async () => {
    const r = await cli(lunCommand, ['list', '--json']);
    expect(r.code).to.equal(0);
    expect(r.json.array).to.equal('array1');
    const ds = r.json.luns.find((l: any) => l.name === 'datastore1');
    expect(ds).to.include({ lun: 0, blockSizeBytes: 512, sizeBytes: 4 * 1024 ** 3 });
    expect(ds.id).to.match(/^naa\.6[0-9a-f]{31}$/);
    expect(r.json.readCache.capacityBytes).to.equal(64 * 1024 ** 2, 'arrays[].readCacheMB: 64 in quickstart.yaml');
    const text = await cli(lunCommand, ['list']);
    expect(text.text).to.match(/^read cache: 64M, /m);
    const io = capture();
    await statusCommand(['array1'], io);
    const status = io.text();
    expect(status).to.match(/^array array1 .* running$/m);
    expect(status).to.match(/^\s+0\s+datastore1\s+4G\s+512\s/m);
    expect(status).to.match(/^  block sessions:$/m);
    expect(status).to.match(/^  read cache: 64M, /m);
  });

  it('vfab lun create / grow / delete, with precise errors for bad sizes, shrinking and unknown LUNs', async () => {
    const c = await cli(lunCommand, ['create', 'scratch', '--size', '64M', '--block-size', '4096', '--json']);
    expect(c.json).to.include({ name: 'scratch', sizeBytes: 64 * 1024 ** 2, blockSizeBytes: 4096, blocks: 16384 });
    expect(c.json.lun).to.equal(1);
    expect((await cliError(lunCommand, ['create', 'x', '--size', '4X'])).code).to.equal('VFAB_USAGE');
    expect((await cliError(lunCommand, ['create', 'x', '--size', '1000', '--block-size', '4096'])).message).to.match(/not a whole number of 4096-byte blocks/);
    expect((await cliError(lunCommand, ['create', 'scratch', '--size', '1M'])).code).to.equal('VFAB_STORAGE_LUN_EXISTS');
    const g = await cli(lunCommand, ['grow', 'scratch', '--size', '128M', '--json']);
    expect(g.json.sizeBytes).to.equal(128 * 1024 ** 2);
    expect((await cliError(lunCommand, ['grow', 'scratch', '--size', '1M'])).code).to.equal('VFAB_STORAGE_SHRINK_NOT_ALLOWED');
    await cli(lunCommand, ['delete', 'scratch']);
    expect((await cliError(lunCommand, ['delete', 'scratch'])).code).to.equal('VFAB_STORAGE_NO_SUCH_LUN');
  });

  it('hosts attached over 2 paths each and placed their VM disks without overlap (datastore directory)', async () => {
    const s1 = await control<any>(host('esx1'), state!.token, 'GET', '/control/storage');
    const s2 = await control<any>(host('esx2'), state!.token, 'GET', '/control/storage');
    for (const s of [s1, s2]) {
      expect(s.arrays[0]).to.include({ array: 'array1', state: 'attached', policy: 'rr' });
      expect(s.arrays[0].paths.map((p: any) => p.state)).to.deep.equal(['active', 'active']);
    }
    const d1 = s1.disks[0];
    const d2 = s2.disks[0];
    expect(d1).to.include({ vm: 'web1', disk: 'disk0', sizeBytes: 512 * 1024 ** 2 });
    expect(d2).to.include({ vm: 'web2', disk: 'disk0' });
    const [a, b] = [d1, d2].sort((x: any, y: any) => x.offsetBytes - y.offsetBytes);
    expect(a.offsetBytes + a.sizeBytes).to.be.at.most(b.offsetBytes);
  });

  it('vfab disk write through esx1, vfab disk read of the same bytes through esx2', async () => {
    const file = path.join(dir, 'payload.bin');
    const payload = Buffer.from(Array.from({ length: 10_000 }, (_, i) => (i * 7 + 3) & 0xff));
    fs.writeFileSync(file, payload);
    const w = await cli(diskCommand, ['write', 'web1', 'disk0', '1000', file, '--json']);
    expect(w.json).to.include({ host: 'esx1', bytes: 10_000, offset: 1000 });
    const out = path.join(dir, 'back.bin');
    const r = await cli(diskCommand, ['read', 'web1', 'disk0', '1000', '10000', '--via', 'esx2', '--out', out, '--json']);
    expect(r.json.host).to.equal('esx2');
    expect(fs.readFileSync(out).equals(payload)).to.equal(true);
    // another host's VM disk is read-only from esx2
    const ro = await control(host('esx2'), state!.token, 'POST', '/control/vms/web1/disks/disk0/write', { offset: 0, dataBase64: 'AA==' }).catch((e) => e);
    expect(ro.code).to.equal('VFAB_HOSTSTORAGE_READ_ONLY');
  });

  it('bad disk input: unknown VM or disk, offset past the end, bad size syntax', async () => {
    const file = path.join(dir, 'small.bin');
    fs.writeFileSync(file, Buffer.alloc(100, 1));
    expect((await cliError(diskCommand, ['write', 'nosuchvm', 'disk0', '0', file])).code).to.equal('VFAB_NOT_FOUND');
    expect((await cliError(diskCommand, ['write', 'web1', 'disk9', '0', file])).code).to.equal('VFAB_HOSTSTORAGE_DISK_NOT_FOUND');
    expect((await cliError(diskCommand, ['write', 'web1', 'disk0', String(512 * 1024 ** 2 - 50), file])).code).to.equal('VFAB_VDISK_OUT_OF_RANGE');
    expect((await cliError(diskCommand, ['read', 'web1', 'disk0', '512M', '1'])).code).to.equal('VFAB_VDISK_OUT_OF_RANGE');
    expect((await cliError(diskCommand, ['read', 'web1', 'disk0', '1Q', '1'])).code).to.equal('VFAB_USAGE');
  });

  it('Round Robin: a path failed during vfab disk load moves I/O to the other path, no errors reach the VM', async () => {
    const load = cli(diskCommand, ['load', 'web1', '--pattern', 'random', '--block', '4k', '--depth', '32', '--seconds', '3', '--read-percent', '70', '--json']);
    await new Promise((r) => setTimeout(r, 1000));
    const failed = await cli(diskCommand, ['path', 'esx1', 'array1', '0', 'down', '--json']);
    expect(failed.json.paths[0].state).to.equal('dead');
    const r = await load;
    expect(r.code).to.equal(0);
    expect(r.json.errors).to.equal(0);
    expect(r.json.ios).to.be.greaterThan(0);
    const st = await cli(diskCommand, ['status', 'esx1', '--json']);
    const paths = st.json.hosts[0].arrays[0].paths;
    expect(paths[0]).to.include({ state: 'dead', adminDown: true });
    expect(paths[1]).to.include({ state: 'active', connected: true });
    await cli(diskCommand, ['path', 'esx1', 'array1', '0', 'up']);
  });

  it('all paths down: I/O waits for the APD timeout, then fails with VFAB_MULTIPATH_APD_TIMEOUT; a restored path serves again', async () => {
    await cli(diskCommand, ['path', 'esx2', 'array1', '0', 'down']);
    await cli(diskCommand, ['path', 'esx2', 'array1', '1', 'down']);
    const t0 = Date.now();
    const e = await cliError(diskCommand, ['read', 'web2', 'disk0', '0', '512']);
    expect(e.code).to.equal('VFAB_MULTIPATH_APD_TIMEOUT');
    expect(e.message).to.match(/all 2 paths down/);
    expect(Date.now() - t0).to.be.at.least(APD_TIMEOUT_MS - 100); // it waited instead of failing at once
    await cli(diskCommand, ['path', 'esx2', 'array1', '1', 'up']);
    const r = await cli(diskCommand, ['read', 'web2', 'disk0', '0', '512', '--json']);
    expect(Buffer.from(r.json.dataBase64, 'base64').length).to.equal(512);
  });
});
