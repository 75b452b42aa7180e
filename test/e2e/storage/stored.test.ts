// The `stored` daemon as a process (node dist/daemons/stored.js, port 0, temp LevelDB dir):
// control API, bad input with precise errors while others keep being served, SPC-2 and persistent
// reservations over the wire (and PR surviving a restart), COMPARE AND WRITE contention from 8 connections,
// and a Round Robin multipath write load losing one path without the caller seeing an error.

import { MAX_LOGIN_TIMEOUT_MS, MIN_LOGIN_TIMEOUT_MS } from '../../../daemons/storage/iscsi-portal.js';
import { expect } from 'chai';
import { WebSocket } from 'ws';
import { connectBlockClient, type BlockClient } from '../../../daemons/storage/block-client.js';
import { MultipathClient } from '../../../daemons/storage/multipath-client.js';
import { BLOCK_ERROR, MAX_BLOCK_MESSAGE_BYTES, RECORD_TYPE, encodeMessage, parseMessage, type BlockRecord } from '../../../lib/storage/protocol.js';
import { ASC, SCSI_STATUS, SENSE_KEY } from '../../../lib/storage/scsi.js';
import { PR_TYPE } from '../../../lib/storage/reservations.js';
import { parseReadKeys, prIn, prOut, read16, release6, reserve6, write16 } from '../../../lib/storage/cdb.js';
import { spawnSync } from 'node:child_process';
import { DEFAULT_READ_CACHE_BYTES, MAX_READ_CACHE_BYTES } from '../../../lib/storage/block-cache.js';
import { TOKEN, control, killStored, removeDir, spawnStored, tempDataDir, type StoredProcess } from './helpers.js';
import { DAEMON_SCRIPTS } from '../../../daemons/fabric/process.js';

const BS = 512;

function pattern(lba: number, tag: number): Buffer {
  const b = Buffer.alloc(BS);
  for (let o = 0; o < BS; o += 8) {
    b.writeUInt32BE(lba, o);
    b.writeUInt32BE(tag, o + 4);
  }
  return b;
}

describe('e2e storage: stored daemon', function () {
  this.timeout(60_000);
  let dir: string;
  let stored: StoredProcess | undefined;
  const clients: BlockClient[] = [];
  const connect = async (initiator: string, maxInFlight = 32): Promise<BlockClient> => {
    const c = await connectBlockClient({ url: stored!.url, token: TOKEN, initiator, maxInFlight });
    clients.push(c);
    return c;
  };

  before(async () => {
    dir = tempDataDir();
    stored = await spawnStored(['--data-dir', dir], {}, dir);
    const r = await control(stored, 'POST', '/control/luns', { name: 'ds1', sizeBytes: 64 * 1024 * 1024, blockSize: 512 });
    expect(r.status).to.equal(201);
    expect(r.json).to.include({ lun: 0, name: 'ds1', blockSizeBytes: 512, blocks: 131072 });
    expect((await control(stored, 'POST', '/control/luns', { name: 'ds2', sizeGB: 0.0625 })).status).to.equal(201);
  });
  after(async () => {
    for (const c of clients) c.close();
    expect(await killStored(stored, 'SIGTERM')).to.equal(0);
    removeDir(dir);
  });

  describe('control API', () => {
    it('lists, grows and deletes LUNs; errors are {"error":{code,message}} with 4xx', async () => {
      const list = await control(stored!, 'GET', '/control/luns');
      expect(list.json.luns.map((l: { name: string }) => l.name)).to.deep.equal(['ds1', 'ds2']);
      const tmp = await control(stored!, 'POST', '/control/luns', { name: 'tmp', sizeBytes: 1024 * 1024 });
      expect(tmp.status).to.equal(201);
      const grown = await control(stored!, 'POST', '/control/luns/tmp/grow', { sizeBytes: 2 * 1024 * 1024 });
      expect(grown.json.sizeBytes).to.equal(2 * 1024 * 1024);
      const shrink = await control(stored!, 'POST', '/control/luns/tmp/grow', { sizeBytes: 1024 * 1024 });
      expect(shrink.status).to.equal(400);
      expect(shrink.json.error.code).to.equal('VFAB_STORAGE_SHRINK_NOT_ALLOWED');
      const dup = await control(stored!, 'POST', '/control/luns', { name: 'ds1', sizeBytes: 1024 * 1024 });
      expect(dup.status).to.equal(409);
      expect((await control(stored!, 'DELETE', '/control/luns/tmp')).status).to.equal(200);
      const gone = await control(stored!, 'DELETE', '/control/luns/tmp');
      expect(gone.status).to.equal(404);
      expect(gone.json.error.code).to.equal('VFAB_STORAGE_NO_SUCH_LUN');
      const bad = await control(stored!, 'POST', '/control/luns', { name: 'x' });
      expect(bad.json.error.code).to.equal('VFAB_STORED_BAD_REQUEST');
      const unauth = await control(stored!, 'GET', '/control/status', undefined, 'nope');
      expect(unauth.status).to.equal(401);
      const status = await control(stored!, 'GET', '/control/status');
      expect(status.json).to.include({ durable: true, pid: stored!.pid });
    });

    it('GET /control/status shows the read cache: the default size, a miss and then a hit for one block read twice', async () => {
      const before = (await control(stored!, 'GET', '/control/status')).json.stats.readCache;
      expect(before.capacityBytes).to.equal(DEFAULT_READ_CACHE_BYTES);
      const c = await connect('iqn.test:cache');
      const lba = 4242;
      await c.write(0, lba, pattern(lba, 77));
      for (let i = 0; i < 2; i++) expect((await c.read(0, lba, 1)).equals(pattern(lba, 77))).to.equal(true);
      const after = (await control(stored!, 'GET', '/control/status')).json.stats.readCache;
      expect([after.misses - before.misses, after.hits - before.hits]).to.deep.equal([1, 1]);
    });

    it('--read-cache-mb outside 0..MAX exits 2 with VFAB_STORED_BAD_CONFIG before opening anything', () => {
      for (const bad of ['-1', '1.5', 'lots', String(MAX_READ_CACHE_BYTES / 1024 ** 2 + 1)]) {
        const r = spawnSync(process.execPath, [DAEMON_SCRIPTS.array, '--memory', '--read-cache-mb', bad], { encoding: 'utf8', timeout: 20_000 });
        expect(r.status, bad).to.equal(2);
        expect(r.stderr).to.include('VFAB_STORED_BAD_CONFIG').and.include('--read-cache-mb');
      }
    });

    it('--iscsi-login-timeout-ms outside MIN..MAX_LOGIN_TIMEOUT_MS exits 2 with VFAB_STORED_BAD_CONFIG naming the option', () => {
      for (const bad of ['0', String(MIN_LOGIN_TIMEOUT_MS - 1), '1.5', 'soon', String(MAX_LOGIN_TIMEOUT_MS + 1)]) {
        const r = spawnSync(process.execPath, [DAEMON_SCRIPTS.array, '--memory', '--iscsi-port', '0', '--iscsi-login-timeout-ms', bad], { encoding: 'utf8', timeout: 20_000 });
        expect(r.status, bad).to.equal(2);
        expect(r.stderr).to.include('VFAB_STORED_BAD_CONFIG').and.include('--iscsi-login-timeout-ms');
      }
    });
  });

  describe('bad input: precise errors, no data change, others still served', () => {
    let good: BlockClient;
    let bad: BlockClient;
    before(async () => {
      good = await connect('iqn.test:good');
      bad = await connect('iqn.test:bad');
      await good.write(0, 10, pattern(10, 1));
    });
    afterEach(async () => {
      // After every bad request, the other client is still served and block 10 is unchanged.
      expect((await good.read(0, 10, 1)).equals(pattern(10, 1))).to.equal(true);
    });

    it('LBA past the end -> CHECK CONDITION, ILLEGAL REQUEST, LBA OUT OF RANGE', async () => {
      const r = await bad.execute({ initiator: 'x', lun: 0, cdb: write16(131072, 1), dataOut: pattern(0, 9) });
      expect(r.status).to.equal(SCSI_STATUS.CHECK_CONDITION);
      expect(r.sense).to.include({ key: SENSE_KEY.ILLEGAL_REQUEST, asc: ASC.LBA_OUT_OF_RANGE[0] });
    });

    it('transfer length too large -> INVALID FIELD IN CDB; length 0 transfers nothing (SBC-3)', async () => {
      const big = await bad.execute({ initiator: 'x', lun: 0, cdb: read16(0, 1_000_000) });
      expect(big.status).to.equal(SCSI_STATUS.CHECK_CONDITION);
      expect(big.sense).to.include({ key: SENSE_KEY.ILLEGAL_REQUEST, asc: ASC.INVALID_FIELD_IN_CDB[0] });
      const zero = await bad.execute({ initiator: 'x', lun: 0, cdb: write16(10, 0) });
      expect(zero.status).to.equal(SCSI_STATUS.GOOD);
      expect(zero.dataIn).to.equal(undefined);
    });

    it('data-out length not matching the CDB -> PARAMETER LIST LENGTH ERROR, nothing written', async () => {
      const r = await bad.execute({ initiator: 'x', lun: 0, cdb: write16(10, 2), dataOut: pattern(10, 66) });
      expect(r.status).to.equal(SCSI_STATUS.CHECK_CONDITION);
      expect(r.sense).to.include({ asc: ASC.PARAMETER_LIST_LENGTH_ERROR[0] });
    });

    it('unknown LUN -> LOGICAL UNIT NOT SUPPORTED', async () => {
      const r = await bad.execute({ initiator: 'x', lun: 77, cdb: read16(0, 1) });
      expect(r.sense).to.include({ asc: ASC.LOGICAL_UNIT_NOT_SUPPORTED[0] });
    });

    it('malformed record -> ERROR VFAB_BLOCK_CDB_LENGTH for its tag; the session keeps working', async () => {
      const { ws, records } = await raw(stored!.url);
      ws.send(encodeMessage([{ type: RECORD_TYPE.HELLO, version: 1, maxInFlight: 4, initiator: 'iqn.test:raw' }]));
      await until(() => records.length === 1);
      ws.send(Buffer.from('03000000000000190000002a0000050000000000' + '2a00000000', 'hex'));
      ws.send(encodeMessage([{ type: RECORD_TYPE.COMMAND, tag: 43, lun: 0, cdb: read16(10, 1), dataOut: undefined }]));
      await until(() => records.length === 3);
      expect(records[1]).to.deep.include({ type: RECORD_TYPE.ERROR, tag: 42, code: BLOCK_ERROR.CDB_LENGTH });
      expect(records[2]).to.deep.include({ type: RECORD_TYPE.RESPONSE, tag: 43, status: 0 });
      ws.close();
    });

    it('oversize message -> ERROR VFAB_BLOCK_MESSAGE_TOO_LARGE, nothing executed', async () => {
      const { ws, records } = await raw(stored!.url);
      ws.send(encodeMessage([{ type: RECORD_TYPE.HELLO, version: 1, maxInFlight: 4, initiator: 'iqn.test:big' }]));
      await until(() => records.length === 1);
      const cmds: BlockRecord[] = [];
      const data = Buffer.alloc(4 * 1024 * 1024, 0xee);
      for (let i = 0; i < 5; i++) cmds.push({ type: RECORD_TYPE.COMMAND, tag: i + 1, lun: 0, cdb: write16(10, data.length / BS), dataOut: data });
      const msg = encodeMessage(cmds);
      expect(msg.length).to.be.above(MAX_BLOCK_MESSAGE_BYTES);
      ws.send(msg);
      await until(() => records.length === 2);
      expect(records[1]).to.deep.include({ type: RECORD_TYPE.ERROR, code: BLOCK_ERROR.MESSAGE_TOO_LARGE });
      ws.close();
    });

    it('wrong token -> HTTP 401 VFAB_BLOCK_UNAUTHORIZED', async () => {
      const e = await connectBlockClient({ url: stored!.url, token: 'wrong', initiator: 'iqn.test:x' }).catch((x: { code: string }) => x);
      expect((e as { code: string }).code).to.equal(BLOCK_ERROR.UNAUTHORIZED);
    });

    it("a second initiator's write into an SPC-2 reserved LUN -> RESERVATION CONFLICT, data unchanged", async () => {
      expect((await good.execute({ initiator: 'x', lun: 0, cdb: reserve6() })).status).to.equal(SCSI_STATUS.GOOD);
      const w = await bad.execute({ initiator: 'x', lun: 0, cdb: write16(10, 1), dataOut: pattern(10, 99) });
      expect(w.status).to.equal(SCSI_STATUS.RESERVATION_CONFLICT);
      expect((await bad.execute({ initiator: 'x', lun: 0, cdb: reserve6() })).status).to.equal(SCSI_STATUS.RESERVATION_CONFLICT);
      expect((await good.execute({ initiator: 'x', lun: 0, cdb: release6() })).status).to.equal(SCSI_STATUS.GOOD);
      await bad.write(0, 11, pattern(11, 5));
    });
  });

  describe('persistent reservations over the wire', () => {
    it('A registers + reserves (Write Exclusive); B gets RESERVATION CONFLICT; both survive a restart', async () => {
      const a = await connect('iqn.test:pr-a');
      const b = await connect('iqn.test:pr-b');
      const reg = prOut.register(0n, 0xaan);
      expect((await a.execute({ initiator: 'x', lun: 1, cdb: reg.cdb, dataOut: reg.dataOut })).status).to.equal(SCSI_STATUS.GOOD);
      const res = prOut.reserve(0xaan, PR_TYPE.WRITE_EXCLUSIVE);
      expect((await a.execute({ initiator: 'x', lun: 1, cdb: res.cdb, dataOut: res.dataOut })).status).to.equal(SCSI_STATUS.GOOD);
      const w = await b.execute({ initiator: 'x', lun: 1, cdb: write16(0, 1), dataOut: pattern(0, 1) });
      expect(w.status).to.equal(SCSI_STATUS.RESERVATION_CONFLICT);
      expect((await b.execute({ initiator: 'x', lun: 1, cdb: read16(0, 1) })).status).to.equal(SCSI_STATUS.GOOD);
      await a.write(1, 0, pattern(0, 2));

      // Restart stored on the same data dir.
      for (const c of clients.splice(0)) c.close();
      expect(await killStored(stored, 'SIGTERM')).to.equal(0);
      stored = await spawnStored(['--data-dir', dir], {}, dir);
      const a2 = await connect('iqn.test:pr-a');
      const b2 = await connect('iqn.test:pr-b');
      const keys = await b2.execute({ initiator: 'x', lun: 1, cdb: prIn.readKeys() });
      expect(parseReadKeys(keys.dataIn!)!.keys).to.deep.equal([0xaan]);
      const w2 = await b2.execute({ initiator: 'x', lun: 1, cdb: write16(0, 1), dataOut: pattern(0, 3) });
      expect(w2.status).to.equal(SCSI_STATUS.RESERVATION_CONFLICT);
      expect((await a2.read(1, 0, 1)).equals(pattern(0, 2))).to.equal(true);
      await a2.write(1, 0, pattern(0, 4));
    });
  });

  describe('COMPARE AND WRITE contention (§7.3 ATS)', () => {
    it('8 connections x 500 increments of one counter block with CAW retry loops end at exactly 4000', async () => {
      const lba = 5000;
      const setup = await connect('iqn.test:caw-setup');
      await setup.write(0, lba, counterBlock(0));
      const workers = await Promise.all(Array.from({ length: 8 }, (_, i) => connect(`iqn.test:caw-${i}`)));
      let miscompares = 0;
      await Promise.all(
        workers.map(async (c) => {
          let current = await c.read(0, lba, 1);
          for (let done = 0; done < 500; ) {
            const next = counterBlock(current.readUInt32BE(0) + 1);
            const r = await c.compareAndWrite(0, lba, current, next);
            if (r.written) {
              done++;
              current = next;
            } else {
              miscompares++;
              current = await c.read(0, lba, 1);
            }
          }
        }),
      );
      const final = await setup.read(0, lba, 1);
      expect(final.readUInt32BE(0)).to.equal(4000);
      expect(final.equals(counterBlock(4000))).to.equal(true);
      expect(miscompares).to.be.above(0);
    });
  });

  describe('multipath (Round Robin, rrIops=1)', () => {
    it('a path failed during a verified write load: no I/O error reaches the caller, every block verifies', async () => {
      const mp = await MultipathClient.connect({ urls: [stored!.url, stored!.url], token: TOKEN, initiator: 'iqn.test:mp', policy: 'rr', rrIops: 1, apdTimeoutMs: 5000 });
      try {
        const base = 20_000;
        let next = 0;
        let writes = 0;
        const worker = async (): Promise<void> => {
          while (next < 600) {
            const i = next++;
            const r = await mp.execute({ initiator: 'x', lun: 0, cdb: write16(base + i, 1), dataOut: pattern(base + i, 7) });
            expect(r.status).to.equal(SCSI_STATUS.GOOD);
            if (++writes === 200) mp.failPath(0);
          }
        };
        await Promise.all(Array.from({ length: 16 }, worker));
        expect(mp.paths().map((p) => p.state)).to.deep.equal(['dead', 'active']);
        for (let i = 0; i < 600; i += 100) {
          const r = await mp.execute({ initiator: 'x', lun: 0, cdb: read16(base + i, 100) });
          for (let k = 0; k < 100; k++) expect(Buffer.from(r.dataIn!).subarray(k * BS, (k + 1) * BS).equals(pattern(base + i + k, 7))).to.equal(true);
        }
        await mp.restorePath(0);
        expect(mp.paths().map((p) => p.state)).to.deep.equal(['active', 'active']);
        expect(mp.paths()[0].failures).to.equal(1);
      } finally {
        mp.close();
      }
    });
  });
});

function counterBlock(n: number): Buffer {
  const b = Buffer.alloc(BS);
  for (let o = 0; o < BS; o += 4) b.writeUInt32BE(n, o);
  return b;
}

async function until(cond: () => boolean, maxMs = 10_000): Promise<void> {
  for (let waited = 0; !cond(); waited += 10) {
    if (waited > maxMs) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

function raw(url: string): Promise<{ ws: WebSocket; records: BlockRecord[] }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${TOKEN}` }, maxPayload: 64 * 1024 * 1024 });
    const records: BlockRecord[] = [];
    ws.on('message', (d) => {
      const r = parseMessage(d as Buffer);
      if (r.ok) records.push(...r.value);
    });
    ws.once('open', () => resolve({ ws, records }));
    ws.once('error', reject);
  });
}
