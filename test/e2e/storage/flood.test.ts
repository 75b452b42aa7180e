// End-to-end: one greedy block client cannot grow `stored` without bound or starve another initiator.
// A client with the token floods 4 MiB WRITEs (window 256, all to the same range, so they queue on the
// range lock) and then drops its connection; meanwhile a second initiator reads one block at a time.
// Checks: stored's RSS stays under RSS_BOUND_BYTES during and after the flood (the array-wide in-flight
// budget MAX_ARRAY_IN_FLIGHT_BYTES admits commands; the rest wait with their socket paused); every read
// of the other initiator is answered, each within READ_BOUND_MS (a generous "served at all" bound, not a
// latency target: see `npm run bench` for those); once the flooder is gone its queued and lock-waiting
// writes are aborted, so the array's write count stops growing; and connections past MAX_BLOCK_SESSIONS
// get HTTP 503. Follows docs/block-protocol.md "Limits" and "Flow control".

import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { BLOCK_PROTOCOL_VERSION, RECORD_TYPE, encodeMessage, parseMessage, type BlockRecord } from '../../../lib/storage/protocol.js';
import { read10, write16 } from '../../../lib/storage/cdb.js';
import { SCSI_STATUS } from '../../../lib/storage/scsi.js';
import { MAX_BLOCK_SESSIONS } from '../../../daemons/storage/block-server.js';
import { TOKEN, control, killStored, removeDir, spawnStored, tempDataDir, type StoredProcess } from './helpers.js';
import { rssBytes } from '../helpers/raw-http.js';

const MIB = 1024 * 1024;
const WRITE_BYTES = 4 * MIB;
/** stored's RSS must stay under this while flooded (a flood held ~760 MiB after 8 s before the budget). */
const RSS_BOUND_BYTES = 400 * MIB;
/** Every read of the other initiator must be answered within this (it is served at all, not fast). */
const READ_BOUND_MS = 5_000;
const FLOOD_MS = 6_000;
/** Writes each flooding connection offers at most (1 GiB); a window of 256 lets it have them all in flight. */
const FLOOD_WRITES = 256;
const FLOODERS = 2;
const WRITES_PER_MESSAGE = 3;
/** Each flooding connection stops queueing in this process above this (keeps the test process small). */
const CLIENT_QUEUE_BYTES = 128 * MIB;

/** An all-zero masking key, as the vfab client uses on loopback: ws neither copies nor XORs payloads. */
function zeroMask(mask: Buffer): void {
  mask.fill(0);
}

function open(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${TOKEN}` }, perMessageDeflate: false, maxPayload: 64 * MIB, generateMask: zeroMask });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_q, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { statusCode: res.statusCode })));
  });
}

function hello(ws: WebSocket, initiator: string, window: number): void {
  ws.send(encodeMessage([{ type: RECORD_TYPE.HELLO, version: BLOCK_PROTOCOL_VERSION, maxInFlight: window, initiator } as BlockRecord]));
}

async function lunWrites(p: StoredProcess): Promise<number> {
  return (await control(p, 'GET', '/control/status')).json.stats.luns[0].writes as number;
}

describe('e2e storage: a flooding client is bounded and does not starve others', function () {
  this.timeout(60_000);
  let p: StoredProcess;
  let dir: string;

  before(async () => {
    dir = tempDataDir('vfab-flood-');
    writeFileSync(join(dir, 'cfg.json'), JSON.stringify({ name: 'flood', luns: [{ name: 'l0', sizeBytes: 64 * MIB, blockSize: 4096, lun: 0 }] }));
    p = await spawnStored(['--config', join(dir, 'cfg.json'), '--data-dir', join(dir, 'data')]);
  });

  after(async () => {
    await killStored(p);
    removeDir(dir);
  });

  it('4 MiB writes at window 256 then a close: RSS bounded, the other reads served, the rest aborted', async () => {
    // the other initiator: one READ(10) of one block at a time, each timed
    const reader = await open(p.url);
    hello(reader, 'iqn.reader', 4);
    const latencies: number[] = [];
    const bad: string[] = [];
    let sentAt = 0;
    let tag = 1;
    let reading = true;
    const readOne = (): void => {
      sentAt = performance.now();
      reader.send(encodeMessage([{ type: RECORD_TYPE.COMMAND, tag: tag++, lun: 0, cdb: read10(100, 1), dataOut: undefined } as unknown as BlockRecord]));
    };
    reader.on('message', (data: Buffer) => {
      const recs = parseMessage(data);
      if (!recs.ok) return void bad.push(recs.error.message);
      for (const r of recs.value) {
        if (r.type === RECORD_TYPE.HELLO_ACK) readOne();
        else if (r.type === RECORD_TYPE.RESPONSE) {
          latencies.push(performance.now() - sentAt);
          const st = (r as { status: number }).status;
          if (st !== SCSI_STATUS.GOOD) bad.push(`read status ${st}`);
          if (reading) setTimeout(readOne, 20);
        } else bad.push(`reader got record type ${r.type}`);
      }
    });

    // the flooding client: FLOODERS connections (paths) of one initiator
    const flooders: WebSocket[] = [];
    for (let i = 0; i < FLOODERS; i++) {
      const ws = await open(p.url);
      ws.on('error', () => {});
      hello(ws, 'iqn.flooder', 256);
      flooders.push(ws);
    }
    // one message of WRITES_PER_MESSAGE writes, copied per send with fresh tags (cheap for this process)
    const data = Buffer.alloc(WRITE_BYTES, 0x5a);
    const cdb = write16(0, WRITE_BYTES / 4096);
    const template = encodeMessage(Array.from({ length: WRITES_PER_MESSAGE }, () => ({ type: RECORD_TYPE.COMMAND, tag: 0, lun: 0, cdb, dataOut: data }) as BlockRecord));
    const recordBytes = template.length / WRITES_PER_MESSAGE;
    const tags = flooders.map(() => 1);
    let offered = 0;
    let maxRss = 0;
    const started = Date.now();
    while (Date.now() - started < FLOOD_MS) {
      flooders.forEach((ws, i) => {
        while (ws.bufferedAmount < CLIENT_QUEUE_BYTES && tags[i]! <= FLOOD_WRITES) {
          const msg = Buffer.from(template);
          for (let k = 0; k < WRITES_PER_MESSAGE; k++) msg.writeUInt32BE(tags[i]!++, k * recordBytes + 8);
          ws.send(msg);
          offered += WRITES_PER_MESSAGE;
        }
      });
      maxRss = Math.max(maxRss, rssBytes(p.pid) ?? 0);
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const ws of flooders) ws.terminate();
    const closedAt = Date.now();
    const status = (await control(p, 'GET', '/control/status')).json;
    // count from the moment stored has seen both closes (only the reader's session left): writes that
    // finish between the client's terminate and the server noticing it are not the abort's to prevent
    let seen = status;
    while (seen.sessions.length > 1 && Date.now() - closedAt < 3_000) {
      await new Promise((r) => setTimeout(r, 5));
      seen = (await control(p, 'GET', '/control/status')).json;
    }
    expect(seen.sessions.length, 'stored saw the flooder close').to.equal(1);
    const writesAtClose = seen.stats.luns[0].writes as number;
    // after the close: the reads go on, and the flooder's leftover writes are aborted, not written
    while (Date.now() - closedAt < 4_000) {
      maxRss = Math.max(maxRss, rssBytes(p.pid) ?? 0);
      await new Promise((r) => setTimeout(r, 100));
    }
    const writesLater = await lunWrites(p);
    reading = false;
    reader.close();

    expect(bad, 'the reader saw only GOOD answers').to.deep.equal([]);
    expect(latencies.length, 'the reader was served during and after the flood').to.be.above(10);
    expect(Math.max(...latencies), `slowest read of ${latencies.length}`).to.be.below(READ_BOUND_MS);
    expect(offered * WRITE_BYTES, 'the flooder offered more than the budget holds').to.be.above(status.inFlight.limitBytes * 2);
    expect(status.inFlight.waits, 'commands had to wait for the array budget').to.be.above(0);
    expect(status.inFlight.usedBytes).to.be.at.most(status.inFlight.limitBytes + WRITE_BYTES + 64 * 1024);
    expect(maxRss, `stored RSS peaked at ${Math.round(maxRss / MIB)} MiB`).to.be.below(RSS_BOUND_BYTES);
    expect(status.inFlight.usedBytes, 'writes were in flight when the flooder closed').to.be.at.least(4 * WRITE_BYTES);
    // at most the write at the medium (and one the range lock just handed on) finish; the rest are aborted
    expect(writesLater - writesAtClose, 'the closed connection\'s remaining writes were aborted').to.be.at.most(3);
    expect((await control(p, 'GET', '/control/status')).json.inFlight.usedBytes, 'budget fully given back').to.equal(0);
  });

  it(`connections past MAX_BLOCK_SESSIONS (${MAX_BLOCK_SESSIONS}) get HTTP 503; the array serves on`, async () => {
    const open64: WebSocket[] = [];
    try {
      for (let i = 0; i < MAX_BLOCK_SESSIONS; i++) open64.push(await open(p.url));
      let refused: number | undefined;
      try {
        open64.push(await open(p.url));
      } catch (e) {
        refused = (e as { statusCode?: number }).statusCode;
      }
      expect(refused).to.equal(503);
    } finally {
      for (const ws of open64) ws.terminate();
    }
    await new Promise((r) => setTimeout(r, 200));
    const again = await open(p.url);
    again.terminate();
    expect((await control(p, 'GET', '/control/status')).json.inFlight.refusedSessions).to.equal(1);
  });
});
