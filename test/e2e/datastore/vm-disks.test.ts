// End-to-end: VM disks as files on a VMFS-like datastore (topologies/e2e/datastore-vms.yaml) at time scale
// 8. web1 on esx1 has two disks on ds1; it stays off while ds1 is blank and powers on by itself once
// ds1 is formatted and mounted, creating web1/web1.vmx, the descriptors and the flat files at their
// sizes, all locked by esx1. A pattern written through the VM disk route reads back, and is found on the
// raw LUN (read over the block protocol) at the flat file's extents as the files route and the layout
// from inspect place them; the descriptor names the flat file and its sectors. esx2's power-on of web1
// fails "locked by esx1" (with an event); after esx1 powers web1 off, its disk I/O is refused and esx2's
// power-on succeeds; then esx1's power-on fails "locked by esx2" and web1 stays off there, until esx2
// lets go. About 15 s.

import { expect } from 'chai';
import { type TestFabric, FABRIC_DOWN_TIMEOUT_MS, FABRIC_UP_TIMEOUT_MS, startFabric, waitFor } from '../helpers/fabric.js';
import { control } from '../../../daemons/common/control-client.js';
import { runCommand } from '../../../daemons/cli.js';
import type { CliIo } from '../../../daemons/cli/io.js';
import { type BlockClient, connectBlockClient } from '../../../daemons/storage/block-client.js';

const TIME_SCALE = 8;
const MIB = 1024 * 1024;

describe('e2e datastore: VM disks are files on the datastore, locked by the host that runs the VM', function () {
  this.timeout(60_000);
  let fab: TestFabric;
  let raw: BlockClient | undefined;
  const saved = process.env.VFAB_STATE_DIR;
  const api = (host: string, method: 'GET' | 'POST', path: string, body?: unknown) => control<any>(fab.daemon(host), fab.state.token, method, path, body, 30_000);
  const failure = async (p: Promise<unknown>): Promise<{ code?: string; message: string }> => {
    try {
      await p;
    } catch (e) {
      return e as { code?: string; message: string };
    }
    expect.fail('expected the call to fail');
  };
  const poweredOn = async (host: string, vm: string): Promise<boolean> => (await api(host, 'GET', '/control/status')).vms.find((v: any) => v.name === vm).poweredOn;
  const file = async (path: string): Promise<any> => (await api('esx2', 'GET', '/control/datastores/ds1/files')).files.find((f: any) => f.path === path);
  const events = async (host: string, type: string): Promise<any[]> => (await api(host, 'GET', '/control/events?since=0')).events.filter((e: any) => e.type === type && e.vm === 'web1');

  /** Bytes [offset, offset + length) of a datastore file, read from the raw LUN at its extents. */
  async function rawFileBytes(path: string, offset: number, length: number): Promise<Buffer> {
    const f = await file(path);
    const { layout } = await api('esx2', 'GET', '/control/datastores/ds1/inspect');
    const lun = raw!.luns.find((l) => l.name === 'shared1')!;
    const out: Buffer[] = [];
    let at = 0; // file offset where the extent starts
    for (const x of f.extents as Array<{ start: number; count: number }>) {
      const bytes = x.count * layout.fileBlockBytes;
      const from = Math.max(offset, at);
      const to = Math.min(offset + length, at + bytes);
      if (from < to) {
        const lunByte = (layout.dataLba + (x.start * layout.fileBlockBytes) / layout.blockSize) * layout.blockSize + (from - at);
        const first = Math.floor(lunByte / layout.blockSize);
        const blocks = Math.ceil((lunByte + (to - from)) / layout.blockSize) - first;
        const got = await raw!.read(lun.lun, first, blocks);
        out.push(got.subarray(lunByte - first * layout.blockSize, lunByte - first * layout.blockSize + (to - from)));
      }
      at += bytes;
    }
    return Buffer.concat(out);
  }

  before(async function () {
    this.timeout(FABRIC_UP_TIMEOUT_MS);
    fab = await startFabric('topologies/e2e/datastore-vms.yaml', { timeScale: TIME_SCALE });
    process.env.VFAB_STATE_DIR = fab.stateDir;
    raw = await connectBlockClient({ url: `ws://127.0.0.1:${fab.daemon('array1').port}/block`, token: fab.state.token, initiator: 'iqn.2026-11.test:raw-reader' });
  });

  after(async function () {
    this.timeout(FABRIC_DOWN_TIMEOUT_MS);
    raw?.close();
    await fab?.down();
    if (saved === undefined) delete process.env.VFAB_STATE_DIR;
    else process.env.VFAB_STATE_DIR = saved;
  });

  it('web1 stays off while ds1 is blank, and powers on by itself once ds1 is formatted: its files are created at their sizes and locked by esx1', async () => {
    for (const h of ['esx1', 'esx2']) {
      await waitFor(async () => (await api(h, 'GET', '/control/datastores')).datastores[0].state === 'unformatted', `${h} sees the blank LUN`, 15_000);
    }
    expect(await poweredOn('esx1', 'web1'), 'no datastore, no power').to.equal(false);
    const lines: string[] = [];
    const io: CliIo = { out: (t) => lines.push(t), err: (t) => lines.push(t) };
    expect(await runCommand('datastore', ['format', 'ds1', '--host', 'esx1'], io), lines.join('\n')).to.equal(0);
    await waitFor(async () => (await events('esx1', 'vm-power-on')).length > 0, 'web1 powered on at esx1', 15_000);
    expect(await poweredOn('esx1', 'web1')).to.equal(true);
    await waitFor(async () => (await api('esx2', 'GET', '/control/datastores')).datastores[0].state === 'mounted', 'esx2 mounted ds1', 15_000);
    const files = (await api('esx2', 'GET', '/control/datastores/ds1/files')).files.filter((f: any) => f.path.startsWith('web1/'));
    expect(files.map((f: any) => f.path).sort()).to.deep.equal(['web1/web1-flat.vmdk', 'web1/web1.vmdk', 'web1/web1.vmx', 'web1/web1_1-flat.vmdk', 'web1/web1_1.vmdk']);
    expect((await file('web1/web1-flat.vmdk')).sizeBytes).to.equal(4 * MIB);
    expect((await file('web1/web1_1-flat.vmdk')).sizeBytes).to.equal(MIB);
    for (const f of files) expect([f.path, f.lock.mode, f.lock.holders.map((h: any) => h.owner)]).to.deep.equal([f.path, 'exclusive', ['esx1']]);
    const disks = (await api('esx1', 'GET', '/control/vms/web1/disks')).disks;
    expect(disks.map((d: any) => [d.disk, d.datastore, d.file])).to.deep.equal([['sys', 'ds1', 'web1/web1-flat.vmdk'], ['data', 'ds1', 'web1/web1_1-flat.vmdk']]);
    const descriptor = (await rawFileBytes('web1/web1.vmdk', 0, (await file('web1/web1.vmdk')).sizeBytes)).toString('utf8');
    expect(descriptor).to.contain('RW 8192 VMFS "web1-flat.vmdk"');
    expect((await rawFileBytes('web1/web1.vmx', 0, (await file('web1/web1.vmx')).sizeBytes)).toString('utf8')).to.contain('scsi0:1.fileName = "web1_1.vmdk"');
  });

  it('a pattern written through the VM disk route reads back, and lies on the raw LUN at the flat file\'s extents', async () => {
    const pattern = Buffer.alloc(5000);
    for (let i = 0; i < pattern.length; i++) pattern[i] = (i * 7 + 13) & 0xff;
    const offset = MIB - 1234; // crosses the file's first 1 MiB file block
    const w = await api('esx1', 'POST', '/control/vms/web1/disks/sys/write', { offset, dataBase64: pattern.toString('base64') });
    expect(w.file).to.equal('ds1:web1/web1-flat.vmdk');
    const r = await api('esx1', 'POST', '/control/vms/web1/disks/sys/read', { offset, length: pattern.length });
    expect(Buffer.from(r.dataBase64, 'base64').equals(pattern), 'read back').to.equal(true);
    expect((await rawFileBytes('web1/web1-flat.vmdk', offset, pattern.length)).equals(pattern), 'on the LUN at the extents').to.equal(true);
    // the second disk is its own file: the same offset there holds none of it
    expect((await rawFileBytes('web1/web1_1-flat.vmdk', 0, 16)).equals(Buffer.alloc(16)), 'data disk untouched').to.equal(true);
    const past = await failure(api('esx1', 'POST', '/control/vms/web1/disks/data/read', { offset: MIB - 10, length: 11 }));
    expect(past.code).to.equal('VFAB_VDISK_OUT_OF_RANGE');
    // a short workload runs inside the flat file; vfab disk status names the file
    const load = await api('esx1', 'POST', '/control/vms/web1/disks/data/load', { pattern: 'random', blockBytes: 4096, depth: 4, seconds: 0.3, readPercent: 100 });
    expect([load.file, load.regionBytes, load.errors]).to.deep.equal(['ds1:web1/web1_1-flat.vmdk', MIB, 0]);
    expect(load.ios).to.be.greaterThan(0);
    const lines: string[] = [];
    expect(await runCommand('disk', ['status', 'esx1'], { out: (t) => lines.push(t), err: (t) => lines.push(t) })).to.equal(0);
    expect(lines.join('\n')).to.contain('[ds1] web1/web1-flat.vmdk').and.contain('[ds1] web1/web1_1-flat.vmdk');
  });

  it('esx2 cannot power web1 on while esx1 runs it ("locked by esx1"); after esx1 powers it off, esx2 can and esx1 cannot', async () => {
    const refused = await failure(api('esx2', 'POST', '/control/datastores/ds1/vms/web1/power-on', {}));
    expect(refused.code).to.equal('VFAB_DATASTORE_LOCKED');
    expect(refused.message).to.contain('locked by esx1');
    expect((await events('esx2', 'vm-power-on-failed')).some((e) => /locked by esx1/.test(e.message)), 'event on esx2').to.equal(true);
    expect((await file('web1/web1.vmx')).lock.holders.map((h: any) => h.owner)).to.deep.equal(['esx1']);

    const off = await api('esx1', 'POST', '/control/vms/web1/power', { on: false });
    expect(off.poweredOn).to.equal(false);
    expect(off.datastore.released).to.have.length(5);
    const closed = await failure(api('esx1', 'POST', '/control/vms/web1/disks/sys/read', { offset: 0, length: 512 }));
    expect(closed.code, closed.message).to.equal('VFAB_HOSTDATASTORE_NOT_OPEN');

    const on2 = await api('esx2', 'POST', '/control/datastores/ds1/vms/web1/power-on', {});
    expect(on2.files.map((f: any) => [f.path, f.created])).to.deep.equal([['web1/web1.vmx', false], ['web1/web1.vmdk', false], ['web1/web1-flat.vmdk', false]]);
    expect((await file('web1/web1-flat.vmdk')).sizeBytes, 'never shrunk to the default disk').to.equal(4 * MIB);

    const back = await failure(api('esx1', 'POST', '/control/vms/web1/power', { on: true }));
    expect(back.message).to.contain('locked by esx2');
    expect((await events('esx1', 'vm-power-on-failed')).some((e) => /locked by esx2/.test(e.message)), 'event on esx1').to.equal(true);
    expect(await poweredOn('esx1', 'web1'), 'stays off (no NIC up)').to.equal(false);

    await api('esx2', 'POST', '/control/datastores/ds1/vms/web1/power-off', {});
    const again = await api('esx1', 'POST', '/control/vms/web1/power', { on: true });
    expect(again.poweredOn).to.equal(true);
    const r = await api('esx1', 'POST', '/control/vms/web1/disks/sys/read', { offset: MIB - 1234, length: 4 });
    expect([...Buffer.from(r.dataBase64, 'base64')]).to.deep.equal([13, 20, 27, 34]);
  });
});
