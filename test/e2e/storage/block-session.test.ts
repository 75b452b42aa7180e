// Block protocol sessions in-process (block-server + block-client over loopback WebSockets, a fake target):
// handshake and window, pipelining with out-of-order responses, the server pausing a sender that ignores
// the window (backpressure), authentication, protocol errors, and rejection of in-flight commands on disconnect.

import { expect } from 'chai';
import { WebSocket } from 'ws';
import { connectBlockClient } from '../../../daemons/storage/block-client.js';
import { BLOCK_ERROR, RECORD_TYPE, encodeMessage, parseMessage, type BlockRecord } from '../../../lib/storage/protocol.js';
import { SCSI_OP } from '../../../lib/storage/scsi.js';
import { GatedTarget, TOKEN, startInProcessServer } from './helpers.js';

const tick = (ms = 20): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean, what: string, maxMs = 5000): Promise<void> {
  for (let waited = 0; !cond(); waited += 10) {
    if (waited > maxMs) throw new Error(`timed out waiting for ${what}`);
    await tick(10);
  }
}

function cdb(n: number): Uint8Array {
  const c = new Uint8Array(10);
  c[0] = SCSI_OP.READ_10;
  c[5] = n & 0xff;
  c[4] = (n >> 8) & 0xff;
  return c;
}

function rawClient(url: string, token = TOKEN): Promise<{ ws: WebSocket; records: BlockRecord[] }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
    const records: BlockRecord[] = [];
    ws.on('message', (d) => {
      const r = parseMessage(d as Buffer);
      if (r.ok) records.push(...r.value);
    });
    ws.once('open', () => resolve({ ws, records }));
    ws.once('error', reject);
  });
}

describe('storage/block sessions (in-process server, fake target)', () => {
  let srv: Awaited<ReturnType<typeof startInProcessServer>>;
  let target: GatedTarget;

  beforeEach(async () => {
    target = new GatedTarget();
    srv = await startInProcessServer({ target, maxInFlight: 8, luns: () => [{ lun: 0, name: 'lun0', blockSizeBytes: 512, blocks: 100 }] });
  });
  afterEach(async () => {
    await srv.close();
  });

  it('grants min(requested, server cap) as the window and sends the LUN snapshot', async () => {
    const c = await connectBlockClient({ url: srv.url, token: TOKEN, initiator: 'iqn.test:a', maxInFlight: 32 });
    expect(c.window).to.equal(8);
    expect(c.luns).to.deep.equal([{ lun: 0, name: 'lun0', blockSizeBytes: 512, blocks: 100 }]);
    const c2 = await connectBlockClient({ url: srv.url, token: TOKEN, initiator: 'iqn.test:b', maxInFlight: 3 });
    expect(c2.window).to.equal(3);
    expect(srv.block.sessions().map((s) => s.initiator).sort()).to.deep.equal(['iqn.test:a', 'iqn.test:b']);
    c.close();
    c2.close();
  });

  it('pipelines commands, matches out-of-order responses by tag and never exceeds the window', async () => {
    const c = await connectBlockClient({ url: srv.url, token: TOKEN, initiator: 'iqn.test:a', maxInFlight: 4 });
    const results = Array.from({ length: 20 }, (_, i) => c.execute({ initiator: 'x', lun: 0, cdb: cdb(i) }));
    await until(() => target.active === 4, '4 active');
    await tick(30);
    expect(target.active).to.equal(4);
    expect(c.stats().queued).to.equal(16);
    while (target.received < 20 || target.active > 0) {
      target.releaseNewestFirst();
      await tick(5);
    }
    const done = await Promise.all(results);
    done.forEach((r, i) => expect(Buffer.from(r.dataIn!).equals(Buffer.from(cdb(i)))).to.equal(true));
    expect(target.maxActive).to.equal(4);
    c.close();
  });

  it('pauses reading a sender that ignores the window instead of buffering without bound, then resumes', async () => {
    const { ws, records } = await rawClient(srv.url);
    ws.send(encodeMessage([{ type: RECORD_TYPE.HELLO, version: 1, maxInFlight: 2, initiator: 'iqn.test:flood' }]));
    await until(() => records.length === 1, 'HELLO_ACK');
    // 100 messages of 10 commands each with 64 KiB data-out: 1000 commands, ~64 MiB if buffered.
    const data = Buffer.alloc(64 * 1024, 7);
    let tag = 1;
    for (let m = 0; m < 100; m++) {
      const batch: BlockRecord[] = [];
      for (let k = 0; k < 10; k++) batch.push({ type: RECORD_TYPE.COMMAND, tag: tag++, lun: 0, cdb: cdb(k), dataOut: data });
      ws.send(encodeMessage(batch));
    }
    await until(() => srv.block.sessions()[0]?.paused === true, 'server paused');
    await tick(100);
    const s = srv.block.sessions()[0];
    expect(s.active).to.equal(2);
    expect(target.active).to.equal(2);
    // Bounded: only what arrived before the pause is queued; the rest waits in the client's socket.
    expect(s.queued).to.be.below(1000);
    expect(ws.bufferedAmount).to.be.above(10 * 1024 * 1024);
    expect(s.pauses).to.be.at.least(1);
    // Serve everything: the server resumes, reads the rest and answers every command.
    while (records.length < 1001) {
      target.releaseNewestFirst();
      await new Promise((r) => setImmediate(r));
    }
    const tags = new Set(records.filter((r) => r.type === RECORD_TYPE.RESPONSE).map((r) => (r as { tag: number }).tag));
    expect(tags.size).to.equal(1000);
    expect(target.maxActive).to.equal(2);
    expect(srv.block.sessions()[0].paused).to.equal(false);
    ws.close();
  });

  it('refuses a wrong or missing token with 401 VFAB_BLOCK_UNAUTHORIZED', async () => {
    try {
      await connectBlockClient({ url: srv.url, token: 'wrong', initiator: 'iqn.test:a' });
      expect.fail('connected with a wrong token');
    } catch (e) {
      expect((e as { code: string }).code).to.equal(BLOCK_ERROR.UNAUTHORIZED);
    }
    const c = await connectBlockClient({ url: `${srv.url}?token=${TOKEN}`, token: '', initiator: 'iqn.test:q' });
    expect(c.window).to.be.above(0);
    c.close();
  });

  it('closes a connection that sends COMMAND before HELLO, with the precise error', async () => {
    const { ws, records } = await rawClient(srv.url);
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    ws.send(encodeMessage([{ type: RECORD_TYPE.COMMAND, tag: 9, lun: 0, cdb: cdb(1), dataOut: undefined }]));
    expect(await closed).to.equal(1002);
    expect(records[0]).to.deep.include({ type: RECORD_TYPE.ERROR, tag: 9, code: BLOCK_ERROR.UNEXPECTED_RECORD });
    expect(target.received).to.equal(0);
  });

  it('answers a malformed record with an ERROR for its tag and keeps the session', async () => {
    const { ws, records } = await rawClient(srv.url);
    ws.send(encodeMessage([{ type: RECORD_TYPE.HELLO, version: 1, maxInFlight: 4, initiator: 'iqn.test:m' }]));
    await until(() => records.length === 1, 'ack');
    const badCdb = Buffer.from('03000000000000190000002a000005000000000000000000000000', 'hex').subarray(0, 25);
    ws.send(Buffer.concat([badCdb, encodeMessage([{ type: RECORD_TYPE.COMMAND, tag: 43, lun: 0, cdb: cdb(2), dataOut: undefined }])]));
    await until(() => target.active === 1, 'good command runs');
    target.releaseNewestFirst();
    await until(() => records.length === 3, 'error + response');
    expect(records[1]).to.deep.include({ type: RECORD_TYPE.ERROR, tag: 42, code: BLOCK_ERROR.CDB_LENGTH });
    expect(records[2]).to.deep.include({ type: RECORD_TYPE.RESPONSE, tag: 43, status: 0 });
    ws.send('text is not allowed');
    await until(() => records.length === 4, 'error for text');
    expect(records[3]).to.deep.include({ type: RECORD_TYPE.ERROR, code: BLOCK_ERROR.UNEXPECTED_RECORD });
    ws.close();
  });

  it('rejects a duplicate in-flight tag, and closes on broken framing', async () => {
    const { ws, records } = await rawClient(srv.url);
    ws.send(encodeMessage([{ type: RECORD_TYPE.HELLO, version: 1, maxInFlight: 4, initiator: 'iqn.test:d' }]));
    await until(() => records.length === 1, 'ack');
    const cmd = { type: RECORD_TYPE.COMMAND, tag: 5, lun: 0, cdb: cdb(1), dataOut: undefined } as const;
    ws.send(encodeMessage([cmd, cmd]));
    await until(() => records.length === 2, 'dup error');
    expect(records[1]).to.deep.include({ type: RECORD_TYPE.ERROR, tag: 5, code: BLOCK_ERROR.DUPLICATE_TAG });
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    ws.send(Buffer.from('0300000000000fff00000006', 'hex'));
    expect(await closed).to.equal(1002);
    expect(records.at(-1)).to.deep.include({ type: RECORD_TYPE.ERROR, code: BLOCK_ERROR.TRUNCATED });
  });

  it('rejects every in-flight and queued command with VFAB_BLOCK_DISCONNECTED when the link drops', async () => {
    const c = await connectBlockClient({ url: srv.url, token: TOKEN, initiator: 'iqn.test:a', maxInFlight: 2 });
    const all = Array.from({ length: 5 }, (_, i) => c.execute({ initiator: 'x', lun: 0, cdb: cdb(i) }).then(
      () => 'ok',
      (e: { code: string }) => e.code,
    ));
    await until(() => target.active === 2, 'active');
    srv.block.close();
    expect(await Promise.all(all)).to.deep.equal(Array(5).fill(BLOCK_ERROR.DISCONNECTED));
    const after = await c.execute({ initiator: 'x', lun: 0, cdb: cdb(0) }).catch((e: { code: string }) => e.code);
    expect(after).to.equal(BLOCK_ERROR.DISCONNECTED);
  });
});
