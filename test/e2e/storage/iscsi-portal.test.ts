// The array's iSCSI portal (daemons/storage/iscsi-portal.ts) against real initiators: libiscsi's tools
// (iscsi-ls, iscsi-inq, iscsi-readcapacity16) and qemu-img's iscsi:// driver, on a stored spawned with
// --iscsi-port 0. Checks discovery and LUN listing, capacities, data written over iSCSI compared back over
// iSCSI and read over vfab's own block protocol (one command model), header digests, and that garbage on
// one connection closes that connection only. Needs libiscsi-bin and qemu-utils: with CI=true a missing tool
// fails the test, otherwise the tests are skipped with how to install them. libiscsi's iscsi-test-cu runs in
// iscsi-conformance.test.ts (one suite per process, thin and thick LUNs). Data digests, which
// libiscsi does not offer, are checked with a hand-driven login.

import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectBlockClient } from '../../../daemons/storage/block-client.js';
import { MAX_ISCSI_CONNECTIONS } from '../../../daemons/storage/iscsi-portal.js';
import { OPCODE, REJECT_REASON, RESERVED_TAG, emitPdu, makePdu, type Digests } from '../../../lib/iscsi/pdu.js';
import { requirePeerTool } from '../../helpers/peer-tools.js';
import { TOKEN, control, killStored, rawIscsiClient, removeDir, runTool as run, spawnStored, tempDataDir, type StoredProcess } from './helpers.js';

const TOOLS = ['iscsi-ls', 'iscsi-inq', 'iscsi-readcapacity16', 'qemu-img'];
const INSTALL = 'apt-get install -y libiscsi-bin qemu-utils';
const IMAGE_BYTES = 4 * 1024 * 1024;
/** The image of the kill -9 test: issue 11 asks for 256 MiB (about 5 s to convert and 3 s to compare here). */
const DURABLE_IMAGE_BYTES = 256 * 1024 * 1024;

describe('storage/iSCSI portal with real initiators (libiscsi, qemu-img)', function () {
  this.timeout(120_000);
  let stored: StoredProcess | undefined;
  let dir = '';
  let portal = '';
  let iqn = '';

  before(async function () {
    for (const tool of TOOLS) requirePeerTool(this, tool, INSTALL); // fails in CI, skips with the install line elsewhere
    dir = mkdtempSync(join(tmpdir(), 'vfab-iscsi-'));
    const cfg = join(dir, 'array.json');
    writeFileSync(cfg, JSON.stringify({ name: 'arr1', luns: [{ name: 'ds1', sizeBytes: 64 * 1024 * 1024, lun: 0 }, { name: 'ds2', sizeBytes: 32 * 1024 * 1024, blockSize: 4096, lun: 1 }] }));
    stored = await spawnStored(['--memory', '--config', cfg, '--iscsi-port', '0'], { VFAB_TOKEN: TOKEN });
    expect(stored.iscsiPort).to.be.a('number').above(0);
    portal = `127.0.0.1:${stored.iscsiPort}`;
    iqn = stored.iqn!;
    expect(iqn).to.equal('iqn.2026-11.vfab:arr1');
  });
  after(async () => {
    await killStored(stored);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('iscsi-ls discovers the target at this portal and lists its LUNs with their sizes', async () => {
    const r = await run('iscsi-ls', ['-s', `iscsi://${portal}/`]);
    expect(r.code, r.err).to.equal(0);
    expect(r.out).to.contain(`Target:${iqn} Portal:${portal},1`);
    expect(r.out).to.match(/Lun:0\s+Type:DIRECT_ACCESS \(Size:63M\)/);
    expect(r.out).to.match(/Lun:1\s+Type:DIRECT_ACCESS \(Size:31M\)/);
    const st = await control(stored!, 'GET', '/control/status');
    expect(st.json.iscsi).to.include({ iqn, port: stored!.iscsiPort, address: '127.0.0.1' });
    expect(st.json.iscsi.logins).to.be.at.least(2); // a Discovery and a Normal session
  });

  it('iscsi-inq and iscsi-readcapacity16 see the LUN as the array made it', async () => {
    const inq = await run('iscsi-inq', [`iscsi://${portal}/${iqn}/1`]);
    expect(inq.code, inq.err).to.equal(0);
    expect(inq.out).to.match(/Peripheral Device Type:DIRECT_ACCESS/);
    const cap = await run('iscsi-readcapacity16', [`iscsi://${portal}/${iqn}/1`]);
    expect(cap.code, cap.err).to.equal(0);
    expect(cap.out).to.contain('LOGICAL BLOCK LENGTH IN BYTES:4096');
    expect(cap.out).to.contain(`Total size:${32 * 1024 * 1024}`);
  });

  it('qemu-img writes random data over iSCSI; it compares back and reads the same over the block protocol', async () => {
    const data = randomBytes(IMAGE_BYTES);
    const file = join(dir, 'image.raw');
    writeFileSync(file, data);
    const url = `iscsi://${portal}/${iqn}/0`;
    const conv = await run('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'raw', file, url]);
    expect(conv.code, conv.err).to.equal(0);
    const cmp = await run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', file, url]);
    expect(cmp.code, cmp.err + cmp.out).to.equal(0);
    expect(cmp.out).to.contain('Images are identical');
    // compare is not blind: one changed byte is found
    const other = Buffer.from(data);
    other[IMAGE_BYTES - 1] ^= 0xff;
    writeFileSync(join(dir, 'other.raw'), other);
    const diff = await run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', join(dir, 'other.raw'), url]);
    expect(diff.code).to.equal(1);
    const c = await connectBlockClient({ url: stored!.url, token: TOKEN, initiator: 'iqn.test:block', maxInFlight: 8 });
    try {
      const got = await c.read(0, 0, IMAGE_BYTES / 512);
      expect(Buffer.compare(got, data)).to.equal(0);
    } finally {
      c.close();
    }
  });

  it('with CRC32C header digests negotiated, qemu-img writes and compares the same way', async () => {
    const data = randomBytes(IMAGE_BYTES);
    const file = join(dir, 'digest.raw');
    writeFileSync(file, data);
    const opts = `driver=iscsi,transport=tcp,portal=${portal},target=${iqn},lun=0,header-digest=crc32c`;
    const conv = await run('qemu-img', ['convert', '-n', '-f', 'raw', '--target-image-opts', file, opts]);
    expect(conv.code, conv.err).to.equal(0);
    const cmp = await run('qemu-img', ['compare', '--image-opts', `driver=file,filename=${file}`, opts]);
    expect(cmp.code, cmp.err + cmp.out).to.equal(0);
    expect(stored!.stderr()).to.match(/login Normal iqn\.2008-11\.org\.linux-kvm\S* to iqn\.2026-11\.vfab:arr1 .*digests header CRC32C/);
  });

  it('a connection sending garbage is closed with a counted reason and the portal keeps serving', async () => {
    const before = (await control(stored!, 'GET', '/control/status')).json.iscsi.closed as Record<string, number>;
    const garbage = async (bytes: Buffer): Promise<void> => {
      const s = net.connect(stored!.iscsiPort!, '127.0.0.1');
      s.on('error', () => {});
      await new Promise<void>((r) => s.once('connect', () => r()));
      s.write(bytes);
      await new Promise<void>((r) => s.once('close', () => r()));
    };
    // a BHS with the reserved opcode bit set and no data (a bad PDU before any login)
    const bad = Buffer.alloc(48);
    bad[0] = 0x80 | 0x03;
    await garbage(bad);
    // a Login Request header announcing a 16 MiB data segment (fatal: longer than the stream may carry)
    const big = Buffer.alloc(48);
    big[0] = 0x43;
    big[5] = 0xff;
    await garbage(big);
    const after = (await control(stored!, 'GET', '/control/status')).json.iscsi.closed as Record<string, number>;
    expect((after['bad-pdu-during-login'] ?? 0) - (before['bad-pdu-during-login'] ?? 0)).to.equal(1);
    expect((after['fatal-pdu'] ?? 0) - (before['fatal-pdu'] ?? 0)).to.equal(1);
    const r = await run('iscsi-ls', ['-s', `iscsi://${portal}/`]);
    expect(r.code, r.err).to.equal(0);
    expect(r.out).to.contain(`Target:${iqn}`);
  });

  it(`holds at most MAX_ISCSI_CONNECTIONS (${MAX_ISCSI_CONNECTIONS}) connections; the next is closed and counted, and freed slots serve again`, async () => {
    const status = async (): Promise<any> => (await control(stored!, 'GET', '/control/status')).json.iscsi;
    const open = async (): Promise<net.Socket> => {
      const s = net.connect(stored!.iscsiPort!, '127.0.0.1');
      s.on('error', () => {});
      await new Promise<void>((r) => s.once('connect', () => r()));
      return s;
    };
    const idle: net.Socket[] = [];
    try {
      for (let i = 0; i < MAX_ISCSI_CONNECTIONS; i++) idle.push(await open());
      for (let waited = 0; (await status()).connections.length < MAX_ISCSI_CONNECTIONS; waited += 20) {
        if (waited > 5000) throw new Error('the portal did not accept every connection');
        await new Promise((r) => setTimeout(r, 20));
      }
      const refusedBefore = (await status()).closed['too-many-connections'] ?? 0;
      const extra = await open();
      await new Promise<void>((r) => extra.once('close', () => r()));
      expect((await status()).closed['too-many-connections']).to.equal(refusedBefore + 1);
      expect((await status()).connections.length).to.equal(MAX_ISCSI_CONNECTIONS);
    } finally {
      for (const s of idle) s.destroy();
    }
    for (let waited = 0; (await status()).connections.length > 0; waited += 20) {
      if (waited > 5000) throw new Error('closed connections were not released');
      await new Promise((r) => setTimeout(r, 20));
    }
    const r = await run('iscsi-ls', ['-s', `iscsi://${portal}/`]);
    expect(r.code, r.err).to.equal(0);
  });

  it('a login to a target the array does not have fails with its status and is counted', async () => {
    const before = (await control(stored!, 'GET', '/control/status')).json.iscsi;
    const r = await run('iscsi-inq', [`iscsi://${portal}/iqn.2026-11.vfab:nosuch/0`]);
    expect(r.code).to.not.equal(0);
    const after = (await control(stored!, 'GET', '/control/status')).json.iscsi;
    expect(after.loginFailures).to.equal(before.loginFailures + 1);
    expect(stored!.stderr()).to.match(/login from \S+ failed: no target iqn\.2026-11\.vfab:nosuch/);
  });

  it('data digests, which libiscsi does not offer, start after the login: a bad one is Rejected and the session goes on', async () => {
    const { sock, framer, next, login } = await rawIscsiClient(stored!.iscsiPort!);
    await login(iqn, { HeaderDigest: 'None', DataDigest: 'CRC32C' });
    const digests: Digests = { header: false, data: true };
    framer.configure({ digests });
    const nop = (itt: number): Buffer => emitPdu(makePdu(OPCODE.NOP_OUT, { immediate: true, flags: 0x80, itt, ttt: RESERVED_TAG, cmdSN: 1, data: Buffer.from('ping') }), digests);
    const bad = nop(5);
    bad[bad.length - 1]! ^= 0xff; // the data digest is the last 4 bytes
    sock.write(bad);
    const rej = await next();
    expect(rej.opcode).to.equal(OPCODE.REJECT);
    expect((rej as any).reason).to.equal(REJECT_REASON.DATA_DIGEST);
    sock.write(nop(6));
    const echo = await next();
    expect(echo.opcode).to.equal(OPCODE.NOP_IN);
    expect(echo.itt).to.equal(6);
    expect(Buffer.from(echo.data).toString()).to.equal('ping');
    const st = (await control(stored!, 'GET', '/control/status')).json.iscsi;
    expect(st.dataDigestRejects).to.equal(1);
    sock.destroy();
  });

  it('a 256 MiB image qemu-img converted onto a LUN of a LevelDB array survives kill -9 and a restart of stored', async () => {
    const dataDir = tempDataDir('vfab-iscsi-durable-');
    const cfg = join(dir, 'durable.json');
    writeFileSync(cfg, JSON.stringify({ name: 'durable', luns: [{ name: 'ds1', sizeBytes: DURABLE_IMAGE_BYTES, lun: 0 }] }));
    const file = join(dir, 'durable.raw');
    writeFileSync(file, randomBytes(DURABLE_IMAGE_BYTES));
    let p: StoredProcess | undefined;
    try {
      p = await spawnStored(['--data-dir', dataDir, '--config', cfg, '--iscsi-port', '0'], { VFAB_TOKEN: TOKEN }, dataDir);
      const conv = await run('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'raw', file, `iscsi://127.0.0.1:${p.iscsiPort}/${p.iqn}/0`]);
      expect(conv.code, conv.err).to.equal(0);
      await killStored(p, 'SIGKILL');
      p = await spawnStored(['--data-dir', dataDir, '--config', cfg, '--iscsi-port', '0'], { VFAB_TOKEN: TOKEN }, dataDir);
      const info = await run('qemu-img', ['info', '--output=json', `iscsi://127.0.0.1:${p.iscsiPort}/${p.iqn}/0`]);
      expect(info.code, info.err).to.equal(0);
      expect(JSON.parse(info.out)['virtual-size']).to.equal(DURABLE_IMAGE_BYTES);
      const cmp = await run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', file, `iscsi://127.0.0.1:${p.iscsiPort}/${p.iqn}/0`]);
      expect(cmp.code, cmp.err + cmp.out).to.equal(0);
    } finally {
      await killStored(p);
      removeDir(dataDir);
    }
  });
});
