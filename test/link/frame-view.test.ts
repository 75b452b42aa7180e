// The per-frame fast path of links: decodeLinkMessage hands FRAME records to a handler's frameView as
// plain Uint8Array views into the message (no copy, no Buffer), and LinkEndpoint.onFrameView delivers
// them (docs/link-protocol.md, "Messages and records"); counters and carrier rules are the same as onFrame.

import { expect } from 'chai';
import { LinkEncoder, decodeLinkMessage, type LinkRecordHandler } from '../../lib/link/codec.js';
import { createInProcessLinkPair } from '../../lib/link/link.js';
import { seqFrame, waitFor } from './conformance.js';

function handler(overrides: Partial<LinkRecordHandler>): LinkRecordHandler {
  const fail = () => {
    throw new Error('unexpected record');
  };
  return { frame: fail, carrier: fail, hello: fail, captureFrame: fail, recordError: fail, unknownRecord: fail, ...overrides };
}

describe('link frame views', () => {
  it('decodeLinkMessage calls frameView (not frame) with views into the message', () => {
    const enc = new LinkEncoder();
    enc.appendFrame(seqFrame(1, 60));
    enc.appendFrame(seqFrame(2, 1514));
    const [message] = enc.take();
    const seen: Uint8Array[] = [];
    const r = decodeLinkMessage(message!, handler({ frameView: (f) => seen.push(f) }));
    expect(r.ok && r.value).to.equal(2);
    expect(seen.map((f) => f.length)).to.deep.equal([60, 1514]);
    expect(Buffer.isBuffer(seen[0])).to.equal(false);
    expect(Buffer.from(seen[0]!).equals(seqFrame(1, 60))).to.equal(true);
    expect(Buffer.from(seen[1]!).equals(seqFrame(2, 1514))).to.equal(true);
    // a view, not a copy: it shares the message's memory
    expect(seen[1]!.buffer).to.equal(message!.buffer);
    expect(seen[1]!.byteOffset).to.equal(message!.byteOffset + 3 + 60 + 3);
  });

  it('without frameView, frame() still gets Buffer views of the same bytes', () => {
    const enc = new LinkEncoder();
    enc.appendFrame(seqFrame(3, 64));
    const [message] = enc.take();
    const seen: Buffer[] = [];
    decodeLinkMessage(message!, handler({ frame: (f) => seen.push(f) }));
    expect(Buffer.isBuffer(seen[0])).to.equal(true);
    expect(seen[0]!.equals(seqFrame(3, 64))).to.equal(true);
    expect(seen[0]!.buffer).to.equal(message!.buffer);
  });

  it('onFrameView receives frames in order and counts them like onFrame; onFrame replaces it', async () => {
    const [a, b] = createInProcessLinkPair('a', 'b');
    await waitFor(() => a.carrier && b.carrier, 'carrier up');
    const viewed: number[] = [];
    b.onFrameView((f) => viewed.push(Buffer.from(f.buffer, f.byteOffset, f.length).readUInt32BE(14)));
    for (let i = 0; i < 5; i++) a.send(seqFrame(i));
    await waitFor(() => viewed.length === 5, 'five frames');
    expect(viewed).to.deep.equal([0, 1, 2, 3, 4]);
    expect(b.counters.rxFrames).to.equal(5);
    const buffers: number[] = [];
    b.onFrame((f) => buffers.push(f.readUInt32BE(14)));
    a.send(seqFrame(9));
    await waitFor(() => buffers.length === 1, 'one frame');
    expect(buffers).to.deep.equal([9]);
    expect(viewed).to.have.length(5);
    expect(b.counters.rxFrames).to.equal(6);
    a.close();
    b.close();
  });
});
