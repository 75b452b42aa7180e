// daemons/storage/iscsi-client.ts against the real iSCSI portal in process (daemons/storage/iscsi-portal.ts
// over a lib/storage BlockTarget, TCP on 127.0.0.1 port 0): connect, login and the LUN scan (names from
// VPD 0x83, sizes from READ CAPACITY); a UNIT ATTENTION after a LUN reset retried without the caller
// seeing it, and a target that answers nothing else given up after MAX_UNIT_ATTENTION_RETRIES; the
// connection lost (in-flight commands fail with VFAB_BLOCK_DISCONNECTED, 'close' emitted); a portal that
// accepts and never answers hits the connect timeout; iscsi:// URLs and per-path ISIDs.

import { expect } from 'chai';
import net from 'node:net';
import { IscsiPortal } from '../../daemons/storage/iscsi-portal.js';
import { InFlightBudget } from '../../daemons/storage/block-server.js';
import { ISCSI_CLIENT_ERROR, MAX_UNIT_ATTENTION_RETRIES, connectIscsiClient, parseIscsiUrl, pathIsid, type IscsiClient } from '../../daemons/storage/iscsi-client.js';
import { BlockTarget } from '../../lib/storage/target.js';
import { MemoryBlockStore } from '../../lib/storage/blockstore-memory.js';
import { SCSI_STATUS, SENSE_KEY, type ScsiCommand, type ScsiResult, type ScsiTarget } from '../../lib/storage/scsi.js';
import { BLOCK_ERROR } from '../../lib/storage/protocol.js';
import * as cdb from '../../lib/storage/cdb.js';

const INITIATOR = 'iqn.2026-11.vfab:esx9';

async function portalOver(target: ScsiTarget, luns: number[]): Promise<IscsiPortal> {
  const p = new IscsiPortal({
    target: target as never,
    arrayName: 'arrx',
    budget: new InFlightBudget(64 * 1024 * 1024),
    host: '127.0.0.1',
    port: 0,
    lunNumbers: () => luns,
    logicalUnitReset: () => {},
    onInitiatorGone: () => {},
    log: () => {},
  });
  await p.listen();
  return p;
}

describe('iscsi-client: a host path over iSCSI against the real portal', () => {
  let lu: BlockTarget;
  let portal: IscsiPortal;
  let client: IscsiClient | undefined;

  beforeEach(async () => {
    lu = new BlockTarget(new MemoryBlockStore());
    lu.addLun({ lun: 0, name: 'alpha', id: 'naa.6' + '1'.repeat(31), sizeBytes: 2048 * 512, blockSizeBytes: 512, blocks: 2048, createdAtMs: 0 });
    lu.addLun({ lun: 3, name: 'beta', id: 'naa.6' + '2'.repeat(31), sizeBytes: 64 * 4096, blockSizeBytes: 4096, blocks: 64, createdAtMs: 0 });
    portal = await portalOver(lu, [0, 3]);
    client = undefined;
  });
  afterEach(async () => {
    client?.terminate();
    await portal.close();
  });

  const url = (): string => `iscsi://127.0.0.1:${portal.port}/${portal.iqn}`;

  it('logs in with its ISID and finds the LUNs with names, block sizes and sizes', async () => {
    client = await connectIscsiClient({ url: url(), initiator: INITIATOR, isid: pathIsid(3) });
    expect(client.connected).to.equal(true);
    expect(client.luns).to.deep.equal([
      { lun: 0, name: 'alpha', blockSizeBytes: 512, blocks: 2048 },
      { lun: 3, name: 'beta', blockSizeBytes: 4096, blocks: 64 },
    ]);
    const s = portal.info().sessions;
    expect(s.map((x) => [x.initiatorName, x.isid, x.target])).to.deep.equal([[INITIATOR, '807666620003', portal.iqn]]);
  });

  it('a UNIT ATTENTION after a LUN reset is retried: the caller gets GOOD and the data', async () => {
    client = await connectIscsiClient({ url: url(), initiator: INITIATOR, isid: pathIsid(0) });
    const data = Buffer.alloc(512, 0x5a);
    expect((await client.execute({ initiator: INITIATOR, lun: 0, cdb: cdb.write16(7, 1), dataOut: data })).status).to.equal(SCSI_STATUS.GOOD);
    lu.logicalUnitReset(0); // what a LUN RESET by another nexus does: every nexus that knows the LUN gets a UA
    const r = await client.execute({ initiator: INITIATOR, lun: 0, cdb: cdb.read16(7, 1) });
    expect(r.status).to.equal(SCSI_STATUS.GOOD);
    expect(Buffer.from(r.dataIn!).equals(data)).to.equal(true);
    expect(client.unitAttentionRetries).to.equal(1);
  });

  it('a connection lost with commands in flight: they fail with VFAB_BLOCK_DISCONNECTED and close is emitted', async () => {
    client = await connectIscsiClient({ url: url(), initiator: INITIATOR, isid: pathIsid(0) });
    const closed = new Promise<Error>((r) => client!.once('close', r));
    const inflight = client.execute({ initiator: INITIATOR, lun: 0, cdb: cdb.read16(0, 8) });
    await portal.close();
    const e = await inflight.then(() => undefined, (x: unknown) => x as { code: string });
    // the read may have been answered before the close; if not, it failed with the disconnect code
    if (e !== undefined) expect(e.code).to.equal(BLOCK_ERROR.DISCONNECTED);
    expect(((await closed) as { code?: string }).code).to.equal(BLOCK_ERROR.DISCONNECTED);
    expect(client.connected).to.equal(false);
    const after = await client.execute({ initiator: INITIATOR, lun: 0, cdb: cdb.testUnitReady() }).catch((x: { code: string }) => x);
    expect((after as { code: string }).code).to.equal(BLOCK_ERROR.DISCONNECTED);
    portal = await portalOver(lu, [0]); // for afterEach
  });
});

describe('iscsi-client: bounds and URLs', () => {
  it('gives a UNIT ATTENTION to the caller after MAX_UNIT_ATTENTION_RETRIES retries', async () => {
    let calls = 0;
    const inner = new BlockTarget(new MemoryBlockStore());
    inner.addLun({ lun: 0, name: 'x', id: 'naa.6' + '3'.repeat(31), sizeBytes: 16 * 512, blockSizeBytes: 512, blocks: 16, createdAtMs: 0 });
    // answers UNIT ATTENTION to every TEST UNIT READY, everything else as the real target
    const target: ScsiTarget = {
      execute: async (cmd: ScsiCommand): Promise<ScsiResult> => {
        if (cmd.cdb[0] !== 0x00) return inner.execute(cmd);
        calls++;
        return { status: SCSI_STATUS.CHECK_CONDITION, sense: { key: SENSE_KEY.UNIT_ATTENTION, asc: 0x29, ascq: 0 } };
      },
    };
    const portal = await portalOver(target, [0]);
    const client = await connectIscsiClient({ url: `iscsi://127.0.0.1:${portal.port}/${portal.iqn}`, initiator: INITIATOR, isid: pathIsid(0) });
    try {
      const r = await client.execute({ initiator: INITIATOR, lun: 0, cdb: cdb.testUnitReady() });
      expect(r.status).to.equal(SCSI_STATUS.CHECK_CONDITION);
      expect(r.sense?.key).to.equal(SENSE_KEY.UNIT_ATTENTION);
      expect(calls).to.equal(MAX_UNIT_ATTENTION_RETRIES + 1);
    } finally {
      client.terminate();
      await portal.close();
    }
  });

  it('a portal that accepts and never answers the login: VFAB_ISCSI_CLIENT_CONNECT_TIMEOUT, socket closed', async () => {
    const sockets: net.Socket[] = [];
    let peerClosed = 0;
    const server = net.createServer((s) => {
      sockets.push(s);
      s.resume(); // reads (and drops) the Login Request; never answers
      s.on('close', () => peerClosed++);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const e = await connectIscsiClient({ url: `iscsi://127.0.0.1:${port}/iqn.2026-11.vfab:x`, initiator: INITIATOR, isid: pathIsid(0), connectTimeoutMs: 200 }).catch((x: { code: string }) => x);
      expect((e as { code: string }).code).to.equal(ISCSI_CLIENT_ERROR.CONNECT_TIMEOUT);
      expect(sockets).to.have.length(1);
      for (let i = 0; i < 100 && peerClosed === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(peerClosed, 'the client closed its socket').to.equal(1);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('a refused connection is VFAB_BLOCK_DISCONNECTED (MultipathClient marks the path dead and retries later)', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise<void>((r) => server.close(() => r()));
    const e = await connectIscsiClient({ url: `iscsi://127.0.0.1:${port}/iqn.2026-11.vfab:x`, initiator: INITIATOR, isid: pathIsid(0) }).catch((x: { code: string }) => x);
    expect((e as { code: string }).code).to.equal(BLOCK_ERROR.DISCONNECTED);
  });

  it('parses iscsi://HOST[:PORT]/IQN and refuses other URLs; ISIDs differ per path', () => {
    expect(parseIscsiUrl('iscsi://127.0.0.1:3261/iqn.2026-11.vfab:array1')).to.deep.equal({ host: '127.0.0.1', port: 3261, iqn: 'iqn.2026-11.vfab:array1' });
    expect(parseIscsiUrl('iscsi://[::1]/iqn.2026-11.vfab:a')).to.deep.equal({ host: '::1', port: 3260, iqn: 'iqn.2026-11.vfab:a' });
    for (const bad of ['ws://127.0.0.1:1/block', 'iscsi://127.0.0.1:1/', 'iscsi://127.0.0.1:1/notaname', 'not a url']) expect(parseIscsiUrl(bad), bad).to.equal(undefined);
    expect(Buffer.from(pathIsid(0)).equals(Buffer.from(pathIsid(1)))).to.equal(false);
    expect(pathIsid(1)[0]! >> 6, 'ISID type 10b (random)').to.equal(2);
  });
});
