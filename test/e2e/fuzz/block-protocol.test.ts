// Seeded fuzz of the block protocol (docs/block-protocol.md) at a real `stored` (--memory, two small LUNs):
// INPUTS messages on authenticated WebSocket connections, after a HELLO: valid COMMAND records built with
// lib/storage/cdb.ts (READ/WRITE 10/16, COMPARE AND WRITE, WRITE SAME, UNMAP, SYNCHRONIZE CACHE, READ
// CAPACITY, INQUIRY, REPORT LUNS, REQUEST SENSE, TEST UNIT READY, RESERVE/RELEASE, PERSISTENT RESERVE
// IN/OUT) on existing and missing LUNs with fresh or repeated tags, batches of them, the same mutated at
// the byte level, unknown record types, second HELLOs, records a client never sends, and random bytes.
// Broken framing makes the array close the connection (1002); the fuzzer reconnects with a new HELLO.
// Messages are pipelined (BURST per drain, far beyond the window: the server queues, pauses and answers
// TASK SET FULL). Afterwards stored must be alive, serve GET /control/status and a READ CAPACITY on a
// fresh connection, and its RSS must have stayed under RSS_BOUND_BYTES. Bounded in count and time.

import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import * as cdb from '../../../lib/storage/cdb.js';
import { BLOCK_PROTOCOL_VERSION, RECORD_TYPE, encodeMessage, parseMessage, type BlockRecord } from '../../../lib/storage/protocol.js';
import { SCSI_STATUS } from '../../../lib/storage/scsi.js';
import { TOKEN, killStored, removeDir, spawnStored, tempDataDir, type StoredProcess } from '../storage/helpers.js';
import { FUZZ_SEED, Fuzz, RssSampler, expectServing } from './fuzz-helpers.js';

const INPUTS = 100_000;
const BURST = 400;
const FUZZ_TIME_MS = 40_000;
const RSS_BOUND_BYTES = 400 * 1024 * 1024;
const LUN_BYTES = 16 * 1024 * 1024;

function command(tag: number, lun: number, c: Uint8Array, dataOut?: Uint8Array): BlockRecord {
  return { type: RECORD_TYPE.COMMAND, tag, lun, cdb: c, dataOut } as BlockRecord;
}

/** A well-formed COMMAND record with a CDB the target knows (valid or not for the LUN). */
function validCommand(f: Fuzz, tag: number): BlockRecord {
  const lun = f.pick([0, 0, 1, 1, 7]);
  const bs = lun === 1 ? 4096 : 512;
  const lba = f.chance(0.9) ? f.int(LUN_BYTES / bs) : f.pick([0xffffffff, LUN_BYTES / bs]);
  const blocks = f.pick([0, 1, 1, 1, 2, 8, 64]);
  switch (f.int(16)) {
    case 0:
      return command(tag, lun, cdb.read10(lba, blocks));
    case 1:
      return command(tag, lun, cdb.read16(lba, blocks, { fua: f.chance(0.5) }));
    case 2:
      return command(tag, lun, cdb.write10(lba, blocks), f.bytes(blocks * bs));
    case 3:
      return command(tag, lun, cdb.write16(lba, blocks), f.bytes(f.chance(0.9) ? blocks * bs : f.int(4096)));
    case 4:
      return command(tag, lun, cdb.compareAndWrite(lba, Math.min(blocks, 2)), f.bytes(2 * Math.min(blocks, 2) * bs));
    case 5:
      return command(tag, lun, cdb.writeSame16(lba, f.pick([1, 16, 256]), { unmap: f.chance(0.5) }), f.chance(0.5) ? Buffer.alloc(bs) : f.bytes(bs));
    case 6:
      return { ...(cdb.unmapCommand([{ lba, blocks: f.pick([1, 100, 5000]) }]) as { cdb: Buffer; dataOut: Buffer }), type: RECORD_TYPE.COMMAND, tag, lun } as BlockRecord;
    case 7:
      return command(tag, lun, cdb.synchronizeCache10(lba, blocks, f.chance(0.5)));
    case 8:
      return command(tag, lun, f.chance(0.5) ? cdb.readCapacity10() : cdb.readCapacity16());
    case 9:
      return command(tag, lun, cdb.inquiry(f.chance(0.5) ? undefined : f.pick([0x00, 0x80, 0x83, 0xb0, 0xb2, 0x99])));
    case 10:
      return command(tag, lun, cdb.reportLuns(f.pick([4096, 8, 16])));
    case 11:
      return command(tag, lun, f.chance(0.5) ? cdb.requestSense() : cdb.testUnitReady());
    case 12:
      return command(tag, lun, f.pick([cdb.reserve6(), cdb.release6(), cdb.reserve10(), cdb.release10()]));
    case 13:
      return command(tag, lun, f.pick([cdb.prIn.readKeys(), cdb.prIn.readReservation(), cdb.prIn.reportCapabilities()]));
    case 14: {
      const key = BigInt(1 + f.int(3));
      const c = f.pick([cdb.prOut.register(0n, key), cdb.prOut.reserve(key, 1), cdb.prOut.release(key, 1), cdb.prOut.clear(key), cdb.prOut.register(key, 0n)]);
      return command(tag, lun, c.cdb, c.dataOut);
    }
    default:
      return command(tag, lun, f.bytes(f.pick([6, 10, 12, 16])), f.chance(0.3) ? f.bytes(f.int(600)) : undefined);
  }
}

function helloRecord(name = 'iqn.fuzz'): BlockRecord {
  return { type: RECORD_TYPE.HELLO, version: BLOCK_PROTOCOL_VERSION, maxInFlight: 256, initiator: name } as BlockRecord;
}

/** The records mutated inside while each record's length field is made to match again. */
function mutateKeepingFraming(f: Fuzz, records: Buffer[]): Buffer {
  return Buffer.concat(
    records.map((r) => {
      const m = f.mutate(r, 3);
      if (m.length < 8) return Buffer.from([m[0] ?? RECORD_TYPE.COMMAND, 0, 0, 0, 0, 0, 0, 8]); // header only
      m.writeUInt32BE(m.length, 4);
      return m;
    }),
  );
}

function fuzzMessage(f: Fuzz, nextTag: () => number): Buffer | string {
  const records = (): Buffer[] => Array.from({ length: f.chance(0.2) ? 1 + f.int(6) : 1 }, () => encodeMessage([validCommand(f, f.chance(0.05) ? 1 : nextTag())]));
  // broken framing makes the array close the connection: rare, so most of a burst gets through
  if (f.chance(1 / 4000)) return f.chance(0.5) ? f.mutate(Buffer.concat(records()), 3) : f.bytes(f.int(64));
  const k = f.int(1000);
  if (k < 450) return Buffer.concat(records());
  if (k < 880) return mutateKeepingFraming(f, records());
  if (k < 910) return encodeMessage([helloRecord(f.pick(['iqn.fuzz', 'x']))]);
  if (k < 950) {
    // an unknown record type, skipped by its length
    const r = Buffer.alloc(8 + f.int(20));
    r[0] = 6 + f.int(250);
    r.writeUInt32BE(r.length, 4);
    return r;
  }
  if (k < 980) return encodeMessage([{ type: RECORD_TYPE.RESPONSE, tag: 1, status: 0, sense: undefined, dataIn: undefined } as BlockRecord]);
  if (k < 995) return 'not a binary message';
  return Buffer.alloc(0);
}

/** Opens an authenticated block connection and sends HELLO; resolves with the socket once HELLO_ACK came. */
function openSession(url: string, onRecord: (r: BlockRecord) => void): Promise<WebSocket> {
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${TOKEN}` }, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
  return new Promise((resolve, reject) => {
    ws.once('error', reject);
    ws.once('open', () => ws.send(encodeMessage([helloRecord()])));
    ws.on('message', (data: Buffer) => {
      const recs = parseMessage(data);
      if (!recs.ok) return;
      for (const r of recs.value) {
        if (r.type === RECORD_TYPE.HELLO_ACK) resolve(ws);
        onRecord(r);
      }
    });
  });
}

describe('fuzz: the block protocol at stored (seeded, bounded)', function () {
  this.timeout(FUZZ_TIME_MS + 30_000);
  let p: StoredProcess;
  let dir: string;

  before(async () => {
    dir = tempDataDir('vfab-fuzz-block-');
    writeFileSync(join(dir, 'cfg.json'), JSON.stringify({ name: 'fuzzarr', luns: [{ name: 'l0', sizeBytes: LUN_BYTES, blockSize: 512, lun: 0 }, { name: 'l1', sizeBytes: LUN_BYTES, blockSize: 4096, lun: 1 }] }));
    p = await spawnStored(['--memory', '--config', join(dir, 'cfg.json'), '--name', 'fuzzarr']);
  });
  after(async () => {
    await killStored(p);
    removeDir(dir);
  });

  it(`${INPUTS} mutated and random block messages (seed ${FUZZ_SEED}): stored alive and serving, RSS under ${RSS_BOUND_BYTES / 2 ** 20} MiB`, async () => {
    const f = new Fuzz(FUZZ_SEED);
    const sampler = new RssSampler(p.pid);
    const deadline = Date.now() + FUZZ_TIME_MS;
    let tag = 1;
    const nextTag = (): number => (tag = (tag % 0xfffffff0) + 1);
    const answers = new Map<number, number>();
    const count = (r: BlockRecord): void => void answers.set(r.type, (answers.get(r.type) ?? 0) + 1);
    let sent = 0;
    let reconnects = 0;
    try {
      let ws = await openSession(p.url, count);
      ws.on('error', () => {});
      while (sent < INPUTS && Date.now() < deadline) {
        if (ws.readyState !== WebSocket.OPEN) {
          ws.terminate();
          ws = await openSession(p.url, count);
          ws.on('error', () => {});
          reconnects++;
        }
        for (let i = 0; i < BURST && ws.readyState === WebSocket.OPEN; i++) {
          const m = fuzzMessage(f, nextTag);
          ws.send(m, { binary: typeof m !== 'string' });
          sent++;
        }
        const t0 = Date.now();
        while (ws.readyState === WebSocket.OPEN && ws.bufferedAmount > 0 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 1));
        await new Promise((r) => setImmediate(r));
      }
      ws.close();
    } finally {
      const peak = sampler.stop();
      if (process.env.VFAB_FUZZ_VERBOSE) console.log(`sent ${sent}, reconnects ${reconnects}, answers by record type ${JSON.stringify([...answers])}, stored RSS peak ${Math.round(peak / 2 ** 20)} MiB`);
      expect(peak, 'stored RSS peak').to.be.below(RSS_BOUND_BYTES);
    }
    expect(sent).to.be.at.least(INPUTS);
    // Commands reach the target, not only the parser. How many are answered depends on timing: a message
    // that breaks the framing closes its connection, and the commands still queued there are aborted
    // unanswered (docs/block-protocol.md), so the count moved between 12 500 and more than 25 000 over
    // runs with one seed. The floor asserts that the command path was exercised in bulk.
    expect(answers.get(RECORD_TYPE.RESPONSE) ?? 0, 'commands were answered').to.be.above(INPUTS / 20);
    expect(answers.get(RECORD_TYPE.ERROR) ?? 0, 'protocol errors were answered').to.be.above(INPUTS / 20);
    await expectServing('stored', p.pid, 'fuzzarr', p.port, TOKEN);
    // a fresh, well-behaved initiator is served
    let capacity: number | undefined;
    const fresh = await openSession(p.url, (r) => {
      if (r.type === RECORD_TYPE.RESPONSE) capacity = (r as { status: number }).status;
    });
    fresh.send(encodeMessage([command(7, 0, cdb.readCapacity16())]));
    const t0 = Date.now();
    while (capacity === undefined && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 10));
    fresh.close();
    expect(capacity, 'READ CAPACITY (16) on a fresh connection').to.equal(SCSI_STATUS.GOOD);
  });
});
