// The EthernetLink conformance suite: one set of behaviours every link transport must show, run by
// inprocess.test.ts (in-process pair) and ws-link.test.ts (WebSocket pair on 127.0.0.1). Covers frame
// integrity and order, batching, carrier propagation both ways, admin-down and queue-full drops,
// malformed and oversize input, invalid sends and close, same-header runs (onFrameRun / sendRun). Transport-specific cases (reconnect, auth)
// live with their transport's tests.

import { expect } from 'chai';
import { LinkEncoder, RECORD_CARRIER, RECORD_FRAME, RECORD_HEADER_BYTES, forEachRunFrame } from '../../lib/link/codec.js';
import type { LinkEndpoint } from '../../lib/link/link.js';
import { MAX_FRAME_BYTES } from '../../lib/wire/ethernet.js';

export interface LinkPairFixture {
  /** The two ends; carrier is already up on both. */
  a: LinkEndpoint;
  b: LinkEndpoint;
  teardown(): Promise<void>;
}

export type LinkPairFactory = (options: { queueBytes?: number }) => Promise<LinkPairFixture>;

/** Waits (bounded) until `predicate` holds; checks after every I/O turn. Not a timing assertion. */
export async function waitFor(predicate: () => boolean, what: string | (() => string), limitMs = 5000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** Lets pending turns run (flushes and deliveries). */
export async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setTimeout(resolve, 2));
}

/** A frame of `sizeBytes` whose bytes 14..17 carry `seq` and the rest a pattern derived from it. */
export function seqFrame(seq: number, sizeBytes = 64): Buffer {
  const frame = Buffer.alloc(sizeBytes);
  frame.writeUIntBE(0x005056000002, 0, 6);
  frame.writeUIntBE(0x005056000001, 6, 6);
  frame.writeUInt16BE(0x88b5, 12);
  if (sizeBytes >= 18) frame.writeUInt32BE(seq, 14);
  for (let i = 18; i < sizeBytes; i++) frame[i] = (seq + i) & 0xff;
  return frame;
}

function collectFrames(link: LinkEndpoint): Buffer[] {
  const got: Buffer[] = [];
  link.onFrame((frame) => got.push(Buffer.from(frame)));
  return got;
}

function collectCarrier(link: LinkEndpoint): Array<[boolean, string]> {
  const events: Array<[boolean, string]> = [];
  link.onCarrier((up, reason) => events.push([up, reason]));
  return events;
}

export function runLinkConformance(label: string, factory: LinkPairFactory): void {
  describe(`EthernetLink conformance: ${label}`, () => {
    let fx: LinkPairFixture | undefined;
    const open = async (options: { queueBytes?: number } = {}) => {
      fx = await factory(options);
      return fx;
    };
    afterEach(async () => {
      if (fx) await fx.teardown();
      fx = undefined;
    });

    it('brings carrier up at both ends and exchanges endpoint names', async () => {
      const { a, b } = await open();
      expect(a.carrier).to.equal(true);
      expect(b.carrier).to.equal(true);
      expect(a.peerName).to.equal(b.name);
      expect(b.peerName).to.equal(a.name);
    });

    it('delivers frames intact and in order in both directions (sizes 14 B to MAX_FRAME_BYTES)', async () => {
      const { a, b } = await open();
      const atB = collectFrames(b);
      const atA = collectFrames(a);
      const sizes = [14, 18, 60, 64, 1514, 1518, MAX_FRAME_BYTES];
      const sent: Buffer[] = [];
      for (let turn = 0; turn < 10; turn++) {
        for (let i = 0; i < 20; i++) {
          const f = seqFrame(sent.length, sizes[sent.length % sizes.length]);
          sent.push(f);
          expect(a.send(f)).to.equal(true);
        }
        expect(b.send(seqFrame(turn, 100))).to.equal(true);
        await settle(1);
      }
      await waitFor(() => atB.length === sent.length && atA.length === 10, 'all frames');
      for (let i = 0; i < sent.length; i++) expect(atB[i]!.equals(sent[i]!), `frame ${i}`).to.equal(true);
      expect(atA.map((f) => f.readUInt32BE(14))).to.deep.equal([...Array(10).keys()]);
      expect(a.counters.txFrames).to.equal(200);
      expect(b.counters.rxFrames).to.equal(200);
      expect(b.counters.rxBytes).to.equal(sent.reduce((n, f) => n + f.length, 0));
      expect(a.counters.txBytes).to.equal(b.counters.rxBytes);
    });

    it('copies the frame on send: later changes to the caller buffer do not travel', async () => {
      const { a, b } = await open();
      const got = collectFrames(b);
      const frame = seqFrame(1);
      a.send(frame);
      frame.fill(0);
      await waitFor(() => got.length === 1, 'frame');
      expect(got[0]!.equals(seqFrame(1))).to.equal(true);
    });

    it('batches the frames of one event-loop turn into one message, delivered asynchronously', async () => {
      const { a, b } = await open();
      const got = collectFrames(b);
      const txBefore = a.counters.txMessages;
      const rxBefore = b.counters.rxMessages;
      for (let i = 0; i < 50; i++) a.send(seqFrame(i, 200));
      expect(got).to.have.length(0); // not delivered synchronously
      await waitFor(() => got.length === 50, '50 frames');
      expect(a.counters.txMessages - txBefore).to.equal(1);
      expect(b.counters.rxMessages - rxBefore).to.equal(1);
    });

    it('admin-down at one end takes carrier down at both; sends drop and are counted; admin-up restores both', async () => {
      const { a, b } = await open();
      const eventsA = collectCarrier(a);
      const eventsB = collectCarrier(b);
      const got = collectFrames(b);
      a.setAdminUp(false);
      expect(a.carrier).to.equal(false);
      expect(a.adminUp).to.equal(false);
      await waitFor(() => !b.carrier, 'carrier down at b');
      expect(eventsA).to.deep.equal([[false, 'admin-down']]);
      expect(eventsB).to.deep.equal([[false, 'peer-admin-down']]);
      expect(a.send(seqFrame(1))).to.equal(false);
      expect(b.send(seqFrame(2))).to.equal(false);
      expect(a.counters.txDropsCarrier).to.equal(1);
      expect(b.counters.txDropsCarrier).to.equal(1);
      a.setAdminUp(true);
      await waitFor(() => a.carrier && b.carrier, 'carrier up at both');
      expect(eventsA[1]).to.deep.equal([true, 'admin-up']);
      expect(eventsB[1]).to.deep.equal([true, 'peer-admin-up']);
      expect(a.send(seqFrame(3))).to.equal(true);
      await waitFor(() => got.length === 1, 'frame after admin-up');
      expect(got[0]!.readUInt32BE(14)).to.equal(3);
    });

    it('propagates admin-down from the other end too, and needs both ends up for carrier', async () => {
      const { a, b } = await open();
      b.setAdminUp(false);
      await waitFor(() => !a.carrier, 'carrier down at a');
      a.setAdminUp(false);
      b.setAdminUp(true);
      await settle();
      expect(a.carrier).to.equal(false);
      expect(b.carrier).to.equal(false);
      a.setAdminUp(true);
      await waitFor(() => a.carrier && b.carrier, 'carrier up at both');
    });

    it('delivers frames sent before admin-down, in order, ahead of the carrier change', async () => {
      const { a, b } = await open();
      const got = collectFrames(b);
      for (let i = 0; i < 5; i++) a.send(seqFrame(i));
      a.setAdminUp(false);
      await waitFor(() => !b.carrier, 'carrier down at b');
      expect(got.map((f) => f.readUInt32BE(14))).to.deep.equal([0, 1, 2, 3, 4]);
    });

    it('tail-drops and counts frames beyond the queue limit, never blocking the sender', async () => {
      const queueBytes = 64 * 1024;
      const { a, b } = await open({ queueBytes });
      const got = collectFrames(b);
      const results: boolean[] = [];
      for (let i = 0; i < 100; i++) results.push(a.send(seqFrame(i, 1500)));
      const accepted = results.filter(Boolean).length;
      // Each queued frame costs its bytes plus a record header; the next one would not fit.
      expect(accepted).to.be.within(Math.floor(queueBytes / (1500 + RECORD_HEADER_BYTES)), Math.floor(queueBytes / 1500));
      expect(results.slice(0, accepted).every(Boolean)).to.equal(true); // tail drop: the first ones go
      expect(a.counters.txDropsQueueFull).to.equal(100 - accepted);
      await waitFor(() => got.length === accepted, 'accepted frames');
      expect(got.map((f) => f.readUInt32BE(14))).to.deep.equal([...Array(accepted).keys()]);
      expect(a.send(seqFrame(999, 1500))).to.equal(true); // the queue drained
    });

    it('refuses and counts runt and oversize sends', async () => {
      const { a } = await open();
      expect(a.send(Buffer.alloc(13))).to.equal(false);
      expect(a.send(Buffer.alloc(MAX_FRAME_BYTES + 1))).to.equal(false);
      expect(a.counters.txDropsInvalid).to.equal(2);
      expect(a.counters.txFrames).to.equal(0);
    });

    it('drops and counts malformed records and oversize frames without crashing, and keeps the link up', async () => {
      const { a, b } = await open();
      const got = collectFrames(b);
      const good = (seq: number) => {
        const f = seqFrame(seq);
        return Buffer.concat([Buffer.from([RECORD_FRAME, 0, f.length]), f]);
      };
      const oversize = Buffer.alloc(3 + MAX_FRAME_BYTES + 1);
      oversize[0] = RECORD_FRAME;
      oversize.writeUInt16BE(MAX_FRAME_BYTES + 1, 1);
      const message = Buffer.concat([
        good(1),
        Buffer.from([RECORD_FRAME, 0, 4, 1, 2, 3, 4]), // runt
        oversize,
        Buffer.from([RECORD_CARRIER, 0, 2, 7, 0]), // bad carrier state
        Buffer.from([0x7f, 0, 1, 0]), // unknown record type: skipped
        good(2),
        Buffer.from([RECORD_FRAME, 0x10]), // truncated header: rest of message dropped
      ]);
      const before = { ...b.counters };
      expect(a.sendRaw(message)).to.equal(true);
      a.sendRaw(Buffer.from([RECORD_FRAME, 0x00, 0x40, 1, 2])); // length past the end
      await waitFor(() => b.counters.rxMessages - before.rxMessages === 2, 'both raw messages');
      expect(got.map((f) => f.readUInt32BE(14))).to.deep.equal([1, 2]);
      expect(b.counters.rxDropsMalformed - before.rxDropsMalformed).to.equal(4); // runt, carrier, 2 truncations
      expect(b.counters.rxDropsOversize - before.rxDropsOversize).to.equal(1);
      expect(b.counters.rxUnknownRecords - before.rxUnknownRecords).to.equal(1);
      expect(b.carrier).to.equal(true);
      a.send(seqFrame(3));
      await waitFor(() => got.length === 3, 'a frame after the garbage');
    });

    it('same-header runs arrive at onFrameRun (counted per frame) and sendRun forwards them intact, small and large', async () => {
      const { a, b } = await open();
      const runs: Array<{ count: number; frameBytes: number; maxFrameBytes: number; frames: Buffer[] }> = [];
      const singles: Buffer[] = [];
      b.onFrameView((f) => singles.push(Buffer.from(f)));
      b.onFrameRun((first, count, records, frameBytes, maxFrameBytes) => {
        const frames: Buffer[] = [];
        forEachRunFrame(records, 0, (f) => frames.push(Buffer.from(f)));
        expect(Buffer.from(first).equals(frames[0]!)).to.equal(true);
        runs.push({ count, frameBytes, maxFrameBytes, frames });
        // forward the run back unchanged: 30 x 64 B is copied, 40 x 1500 B (> ZERO_COPY_RUN_BYTES) is not
        expect(b.sendRun(records, count, frameBytes)).to.equal(count);
      });
      const back = collectFrames(a);
      const small = Array.from({ length: 30 }, (_, i) => seqFrame(i, 64)); // one key: bytes 14..15 are 0
      const large = Array.from({ length: 40 }, (_, i) => seqFrame(100 + i, 1500));
      for (const f of small) a.send(f);
      await settle(1);
      for (const f of large) a.send(f);
      await waitFor(() => back.length === 70, 'both runs back at a');
      expect(singles).to.have.length(0);
      expect(runs.map((r) => [r.count, r.frameBytes, r.maxFrameBytes])).to.deep.equal([[30, 30 * 64, 64], [40, 40 * 1500, 1500]]);
      expect(back.every((f, i) => f.equals([...small, ...large][i]!))).to.equal(true);
      expect(b.counters.rxFrames).to.equal(70);
      expect(b.counters.rxBytes).to.equal(30 * 64 + 40 * 1500);
      expect(b.counters.txFrames).to.equal(70);
      expect(b.counters.txBytes).to.equal(30 * 64 + 40 * 1500);
    });

    it('sendRun tail-drops exactly what send() would, frame by frame, and counts carrier-down drops', async () => {
      const queueBytes = 32 * 1024;
      const { a, b } = await open({ queueBytes });
      // a run of 30 x 1500 B (45 KB) does not fit a 32 KB queue: the longest fitting prefix goes
      const enc = new LinkEncoder();
      const frames = Array.from({ length: 30 }, (_, i) => seqFrame(i, 1500));
      for (const f of frames) enc.appendFrame(f);
      const records = enc.take()[0]!;
      const got = collectFrames(b);
      const sent = a.sendRun(records, 30, 30 * 1500);
      expect(sent).to.equal(Math.floor((queueBytes + RECORD_HEADER_BYTES) / (1500 + RECORD_HEADER_BYTES)));
      expect(a.counters.txDropsQueueFull).to.equal(30 - sent);
      expect(a.counters.txFrames).to.equal(sent);
      await waitFor(() => got.length === sent, 'the accepted prefix');
      expect(got.map((f) => f.readUInt32BE(14))).to.deep.equal([...Array(sent).keys()]);
      // the same frames through send() on a fresh pair give the same split
      await fx!.teardown();
      const ref = await open({ queueBytes });
      expect(frames.map((f) => ref.a.send(f)).filter(Boolean).length).to.equal(sent);
      ref.a.setAdminUp(false);
      expect(ref.a.sendRun(records, 30, 30 * 1500)).to.equal(0);
      expect(ref.a.counters.txDropsCarrier).to.equal(30);
    });

    it('close() at one end takes carrier down at the other and refuses sends', async () => {
      const { a, b } = await open();
      const eventsB = collectCarrier(b);
      a.close();
      expect(a.carrier).to.equal(false);
      expect(a.send(seqFrame(1))).to.equal(false);
      await waitFor(() => !b.carrier, 'carrier down at b');
      expect(eventsB[0]![0]).to.equal(false);
      expect(['peer-closed', 'peer-gone']).to.include(eventsB[0]![1]);
    });
  });
}
