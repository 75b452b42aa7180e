// `stored` serving NAS shares on /nas (daemons/storage/nas-server.ts): the fabric token is required (401
// without); a create/write/read/rename/readdir/remove round trip; EXCLUSIVE creates of one `.lck-<id>`
// name by two clients at once (exactly one wins, 20 rounds); the window the server grants bounds the
// requests executing per connection; seeded malformed messages (bounded) are answered with ERROR records
// and never end the daemon; shares keep their files across a clean restart.

import { expect } from 'chai';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { seededRandom } from '../../../lib/clock.js';
import { NAS_CREATE, NAS_ERROR, NAS_FILE_TYPE, NAS_MAX_IN_FLIGHT, NAS_OP, NAS_PROTOCOL_VERSION, NAS_RECORD, NAS_STATUS, encodeNasMessage, parseNasMessage, type NasRequest } from '../../../lib/nas/protocol.js';
import { NAS_MAX_QUEUED_REQUESTS } from '../../../daemons/storage/nas-server.js';
import { NAS_CLIENT_MAX_QUEUED, connectNasClient, type NasClient } from '../../../daemons/storage/nas-client.js';
import { TOKEN, control, killStored, removeDir, spawnStored, tempDataDir, type StoredProcess } from './helpers.js';
import { nasConfig, nasUrl } from './nas-helpers.js';

describe('e2e storage: NAS shares on stored /nas', function () {
  this.timeout(60_000);
  let dir: string;
  let stored: StoredProcess | undefined;
  const clients: NasClient[] = [];
  const connect = async (client: string, maxInFlight?: number): Promise<NasClient> => {
    const c = await connectNasClient({ url: nasUrl(stored!), token: TOKEN, share: 'nfs1', client, ...(maxInFlight ? { maxInFlight } : {}) });
    clients.push(c);
    return c;
  };

  before(async () => {
    dir = tempDataDir('vfab-nas-');
    stored = await spawnStored(['--data-dir', join(dir, 'db'), '--config', nasConfig(dir)], {}, dir);
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });
  after(async () => {
    await killStored(stored);
    removeDir(dir);
  });

  it('refuses an upgrade without the fabric token (401) and a share it does not export', async () => {
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(nasUrl(stored!));
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => resolve(101));
      ws.on('error', () => {});
    });
    expect(status).to.equal(401);
    let code: string | undefined;
    await connectNasClient({ url: nasUrl(stored!), token: 'wrong', share: 'nfs1', client: 'h' }).catch((e: { code: string }) => (code = e.code));
    expect(code).to.equal(NAS_ERROR.UNAUTHORIZED);
    await connectNasClient({ url: nasUrl(stored!), token: TOKEN, share: 'nope', client: 'h' }).catch((e: { code: string }) => (code = e.code));
    expect(code).to.equal(NAS_ERROR.NO_SUCH_SHARE);
  });

  it('create, write, read, rename, readdir, setattr, remove round trip', async () => {
    const c = await connect('esx1');
    const d = await c.mkdir(c.rootId, 'vm1');
    const f = await c.create(d.fileId, 'vm1.vmx');
    const body = Buffer.from('displayName = "vm1"\n'.repeat(5000));
    await c.write(f.fileId, 0, body);
    const { data, eof } = await c.read(f.fileId, 0, body.length);
    expect(eof).to.equal(true);
    expect(data.equals(body)).to.equal(true);
    await c.rename(d.fileId, 'vm1.vmx', d.fileId, 'vm1-renamed.vmx');
    expect((await c.lookup(d.fileId, 'vm1-renamed.vmx')).fileId).to.equal(f.fileId);
    const entries = await c.readdirAll(d.fileId, 1);
    expect(entries.map((e) => e.name)).to.deep.equal(['vm1-renamed.vmx']);
    expect((await c.setSize(f.fileId, 10)).size).to.equal(10);
    await c.write(f.fileId, 10, Buffer.from('unstable'), false);
    await c.commit(f.fileId);
    await c.remove(d.fileId, 'vm1-renamed.vmx');
    const gone = await c.request({ op: NAS_OP.GETATTR, fileId: f.fileId });
    expect(gone.status).to.equal(NAS_STATUS.STALE);
    const st = await control(stored!, 'GET', '/control/status');
    expect(st.json.nas.shares[0]).to.include({ name: 'nfs1', directories: 2, files: 0 });
  });

  it('EXCLUSIVE create of one .lck name by two clients at once: exactly one wins (20 rounds)', async () => {
    const [a, b] = [await connect('esx-a'), await connect('esx-b')];
    for (let round = 0; round < 20; round++) {
      const name = `.lck-${1000 + round}`;
      const rs = await Promise.all([a, b].map((c) => c.request({ op: NAS_OP.CREATE, fileId: c.rootId, name, opFlags: NAS_CREATE.EXCLUSIVE, arg: round * 2 + (c === a ? 1 : 2) })));
      const statuses = rs.map((r) => r.status).sort((x, y) => x - y);
      expect(statuses, `round ${round}`).to.deep.equal([NAS_STATUS.OK, NAS_STATUS.EXIST]);
      const winner = rs.find((r) => r.status === NAS_STATUS.OK)!;
      expect((await a.lookup(a.rootId, name)).fileId).to.equal(winner.attrs!.fileId);
    }
  });

  it('grants at most the window asked for and executes every pipelined request', async () => {
    const c = await connect('pipeliner', 4);
    expect(c.window).to.equal(4);
    const f = await c.create(c.rootId, 'pipe');
    const writes = Array.from({ length: 64 }, (_, i) => c.write(f.fileId, i * 100, Buffer.alloc(100, i), false));
    let maxOutstanding = 0;
    const timer = setInterval(() => (maxOutstanding = Math.max(maxOutstanding, c.outstanding)), 0);
    await Promise.all(writes);
    clearInterval(timer);
    expect(maxOutstanding).to.be.at.most(4);
    const { data } = await c.read(f.fileId, 0, 6400);
    for (let i = 0; i < 64; i++) expect(data[i * 100], `write ${i}`).to.equal(i);
    const big = await connect('greedy', NAS_MAX_IN_FLIGHT);
    expect(big.window).to.equal(NAS_MAX_IN_FLIGHT);
    // the client's own queue is bounded too: past window + NAS_CLIENT_MAX_QUEUED a call fails at once
    const calls = Array.from({ length: 4 + NAS_CLIENT_MAX_QUEUED + 1 }, () => c.request({ op: NAS_OP.GETATTR, fileId: f.fileId }).then((r) => r.status, (e: { code: string }) => e.code));
    const results = await Promise.all(calls);
    expect(results.filter((r) => r === NAS_ERROR.BAD_REQUEST)).to.have.length(1);
    expect(results.filter((r) => r === NAS_STATUS.OK)).to.have.length(4 + NAS_CLIENT_MAX_QUEUED);
  });

  it('a client ignoring its window: the server runs `window` at once, queues NAS_MAX_QUEUED_REQUESTS, answers the rest JUKEBOX', async () => {
    const ws = new WebSocket(nasUrl(stored!), { headers: { authorization: `Bearer ${TOKEN}` } });
    const statuses: number[] = [];
    const extra = 10;
    const total = 2 + NAS_MAX_QUEUED_REQUESTS + extra;
    let done!: () => void;
    const all = new Promise<void>((r) => (done = r));
    ws.on('message', (data: Buffer) => {
      const p = parseNasMessage(data);
      if (!p.ok) return;
      for (const rec of p.value) {
        if (rec.type === NAS_RECORD.HELLO_ACK) {
          expect(rec.maxInFlight).to.equal(2);
          const reqs: NasRequest[] = Array.from({ length: total }, (_, i) => ({ type: NAS_RECORD.REQUEST, id: i + 1, op: NAS_OP.GETATTR, opFlags: 0, fileId: 1, arg: 0, count: 0, name: '', name2: '', data: undefined }));
          ws.send(encodeNasMessage(reqs)); // all in one message: far past the window
        } else if (rec.type === NAS_RECORD.REPLY) {
          statuses.push(rec.status);
          if (statuses.length === total) done();
        }
      }
    });
    await new Promise((r) => ws.once('open', r));
    ws.send(encodeNasMessage([{ type: NAS_RECORD.HELLO, version: NAS_PROTOCOL_VERSION, maxInFlight: 2, share: 'nfs1', client: 'flooder' }]));
    await all;
    ws.close();
    expect(statuses.filter((s) => s === NAS_STATUS.JUKEBOX)).to.have.length(extra);
    expect(statuses.filter((s) => s === NAS_STATUS.OK)).to.have.length(total - extra);
  });

  it('state errors: REQUEST before HELLO closes the connection; a duplicate request id gets ERROR DUPLICATE_ID', async () => {
    const raw = async (first: Buffer, second?: Buffer): Promise<{ records: Array<{ type: number; id?: number; code?: string; status?: number }>; closed: boolean }> => {
      const ws = new WebSocket(nasUrl(stored!), { headers: { authorization: `Bearer ${TOKEN}` } });
      const records: Array<{ type: number; id?: number; code?: string; status?: number }> = [];
      let closed = false;
      ws.on('message', (d: Buffer) => {
        const p = parseNasMessage(d);
        if (p.ok) records.push(...(p.value as typeof records));
        if (second && records.length === 1 && records[0]!.type === NAS_RECORD.HELLO_ACK) ws.send(second);
      });
      const done = new Promise<void>((r) => ws.on('close', () => ((closed = true), r())));
      await new Promise((r) => ws.once('open', r));
      ws.send(first);
      await Promise.race([done, new Promise((r) => setTimeout(r, 500))]);
      ws.terminate();
      return { records, closed };
    };
    const getattr = (id: number): NasRequest => ({ type: NAS_RECORD.REQUEST, id, op: NAS_OP.GETATTR, opFlags: 0, fileId: 1, arg: 0, count: 0, name: '', name2: '', data: undefined });
    const early = await raw(encodeNasMessage([getattr(1)]));
    expect(early.closed).to.equal(true);
    expect(early.records[0]).to.include({ type: NAS_RECORD.ERROR, code: NAS_ERROR.UNEXPECTED_RECORD });
    const hello = encodeNasMessage([{ type: NAS_RECORD.HELLO, version: NAS_PROTOCOL_VERSION, maxInFlight: 1, share: 'nfs1', client: 'dup' }]);
    const dup = await raw(hello, encodeNasMessage([getattr(9), getattr(9)]));
    expect(dup.closed).to.equal(false);
    expect(dup.records.find((r) => r.type === NAS_RECORD.ERROR)).to.include({ id: 9, code: NAS_ERROR.DUPLICATE_ID });
    expect(dup.records.filter((r) => r.type === NAS_RECORD.REPLY)).to.have.length(1);
  });

  it('malformed messages are answered with ERROR records and never end stored (300 seeded + 20 garbage handshakes, bounded)', async () => {
    const c = await connect('fuzzer');
    const rnd = seededRandom(1813);
    const good = encodeNasMessage([{ type: NAS_RECORD.REQUEST, id: 7, op: NAS_OP.LOOKUP, opFlags: 0, fileId: 1, arg: 0, count: 0, name: 'x', name2: '', data: undefined }]);
    for (let i = 0; i < 300; i++) {
      const b = Buffer.from(good);
      for (let k = 0; k < 1 + Math.floor(rnd() * 3); k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      b.writeUInt32BE(0x10000 + i, 8); // ids not used by the client's own calls
      c.sendRaw(i % 10 === 0 ? b.subarray(0, Math.floor(rnd() * b.length)) : b);
    }
    // garbage as the first message of a connection: an ERROR and a close, nothing more
    for (let i = 0; i < 20; i++) {
      const ws = new WebSocket(nasUrl(stored!), { headers: { authorization: `Bearer ${TOKEN}` } });
      await new Promise((r) => ws.once('open', r));
      const g = Buffer.alloc(1 + Math.floor(rnd() * 80));
      for (let k = 0; k < g.length; k++) g[k] = Math.floor(rnd() * 256);
      const closed = new Promise((r) => ws.once('close', r));
      ws.send(g);
      await closed;
    }
    // the connection still works and the daemon is alive
    const f = await c.create(c.rootId, 'after-fuzz');
    expect(f.fileType).to.equal(NAS_FILE_TYPE.FILE);
    expect(c.serverErrors.length).to.be.greaterThan(0);
    expect(stored!.child.exitCode).to.equal(null);
    const st = await control(stored!, 'GET', '/control/status');
    expect(st.json.nas.sessions.find((s: { client: string }) => s.client === 'fuzzer').protocolErrors).to.be.greaterThan(0);
  });

  it('a clean restart keeps every file of the share', async () => {
    const c = await connect('before-restart');
    const f = await c.create(c.rootId, 'persist.vmdk');
    await c.write(f.fileId, 70_000, Buffer.from('tail'));
    await c.close();
    clients.length = 0;
    expect(await killStored(stored, 'SIGTERM')).to.equal(0);
    stored = await spawnStored(['--data-dir', join(dir, 'db'), '--config', nasConfig(dir)], {}, dir);
    const c2 = await connect('after-restart');
    const again = await c2.lookup(c2.rootId, 'persist.vmdk');
    expect(again).to.deep.include({ fileId: f.fileId, size: 70_004 });
    expect((await c2.read(f.fileId, 70_000, 4)).data.toString()).to.equal('tail');
  });
});
