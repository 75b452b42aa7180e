// lib/link/codec.ts: the CAPTURE_COMMENT record (a daemon's comment on the capture frame before it).
import { expect } from 'chai';
import { LinkEncoder, MAX_LINK_MESSAGE_BYTES, MAX_CAPTURE_COMMENT_BYTES, RECORD_CAPTURE_COMMENT, decodeLinkMessage, parseLinkMessage } from '../../lib/link/codec.js';

function decodeComments(message: Buffer): Array<{ pointId: number; text: string }> {
  const out: Array<{ pointId: number; text: string }> = [];
  decodeLinkMessage(message, { frame() {}, carrier() {}, hello() {}, captureFrame() {}, captureComment: (pointId, text) => out.push({ pointId, text }), recordError() {}, unknownRecord() {} });
  return out;
}

describe('link/codec: CAPTURE_COMMENT', () => {
  it('follows its frame in the stream and decodes to point id and text', () => {
    const enc = new LinkEncoder(MAX_LINK_MESSAGE_BYTES);
    enc.appendCaptureFrame(123n, 0, 2, Buffer.alloc(60, 1));
    enc.appendCaptureComment(2, 'dropped: forged transmit (security policy)');
    const [msg] = enc.take();
    const records = parseLinkMessage(msg!);
    if (!records.ok) throw records.error;
    expect(records.value.map((r) => r.type)).to.deep.equal(['capture', 'unknown']); // a reader without the handler skips it
    expect(decodeComments(msg!)).to.deep.equal([{ pointId: 2, text: 'dropped: forged transmit (security policy)' }]);
    expect(msg![3 + 13 + 60]).to.equal(RECORD_CAPTURE_COMMENT);
  });

  it('cuts a long comment to MAX_CAPTURE_COMMENT_BYTES', () => {
    const enc = new LinkEncoder(MAX_LINK_MESSAGE_BYTES);
    enc.appendCaptureComment(0, 'x'.repeat(5000));
    expect(decodeComments(enc.take()[0]!)[0]!.text).to.have.length(MAX_CAPTURE_COMMENT_BYTES);
  });
});
