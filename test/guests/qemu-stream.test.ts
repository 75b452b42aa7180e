// lib/guests/qemu-stream.ts: QEMU's length-prefixed stream framing, from hex fixtures, with the input cut
// at every byte and joined with its neighbours; bad lengths end the stream.
import { expect } from 'chai';
import { encodeQemuStreamFrame, QemuStreamParser, MAX_QEMU_STREAM_FRAME_BYTES } from '../../lib/guests/qemu-stream.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
// Two frames as QEMU writes them: a 14-byte header-only frame and a 60-byte ARP request (broadcast).
const F1 = hex('ffffffffffff 525400123456 88b5');
const F2 = hex('ffffffffffff 525400123456 0806 0001 0800 06 04 0001 525400123456 c0000264 000000000000 c000020a' + '00'.repeat(18));
const STREAM = hex('0000000e' + F1.toString('hex') + '0000003c' + F2.toString('hex'));

function parseAll(chunks: Uint8Array[]): { frames: string[]; ok: boolean; parser: QemuStreamParser } {
  const parser = new QemuStreamParser();
  const frames: string[] = [];
  let ok = true;
  for (const c of chunks) ok = parser.push(c, (f) => frames.push(Buffer.from(f).toString('hex'))) && ok;
  return { frames, ok, parser };
}

describe('guests/qemu-stream', () => {
  it('the fixture is what the encoder writes', () => {
    expect(Buffer.concat([encodeQemuStreamFrame(F1), encodeQemuStreamFrame(F2)]).equals(STREAM)).to.equal(true);
  });

  it('parses the stream in one chunk, byte by byte, and cut at every pair of places', () => {
    const want = [F1.toString('hex'), F2.toString('hex')];
    expect(parseAll([STREAM]).frames).to.deep.equal(want);
    expect(parseAll([...STREAM].map((b) => Uint8Array.of(b))).frames).to.deep.equal(want);
    for (let i = 0; i <= STREAM.length; i++) {
      for (let j = i; j <= STREAM.length; j++) {
        const r = parseAll([STREAM.subarray(0, i), STREAM.subarray(i, j), STREAM.subarray(j)]);
        expect(r.frames, `cut at ${i} and ${j}`).to.deep.equal(want);
        expect(r.parser.pendingBytes).to.equal(0);
      }
    }
  });

  it('many frames joined in one chunk come out in order', () => {
    const frames = Array.from({ length: 50 }, (_, i) => Buffer.alloc(14 + i, i));
    const r = parseAll([Buffer.concat(frames.map(encodeQemuStreamFrame))]);
    expect(r.frames).to.deep.equal(frames.map((f) => f.toString('hex')));
  });

  it('holds a partial frame until the rest arrives', () => {
    const p = new QemuStreamParser();
    const got: number[] = [];
    expect(p.push(STREAM.subarray(0, 10), (f) => got.push(f.length))).to.equal(true);
    expect(got).to.deep.equal([]);
    expect(p.pendingBytes).to.equal(6);
    p.push(STREAM.subarray(10, 20), (f) => got.push(f.length));
    expect(got).to.deep.equal([14]);
    expect(p.pendingBytes).to.equal(2);
  });

  it('a length of 0 or above the bound is a protocol error, also when the prefix is cut', () => {
    for (const bad of ['00000000', (MAX_QEMU_STREAM_FRAME_BYTES + 1).toString(16).padStart(8, '0'), 'ffffffff']) {
      const whole = parseAll([hex('0000000e' + F1.toString('hex') + bad + '00'.repeat(20))]);
      expect(whole.ok, bad).to.equal(false);
      expect(whole.frames).to.have.length(1);
      expect(whole.parser.error).to.match(/length prefix \d+ is outside/);
      const cut = parseAll([hex(bad.slice(0, 2)), hex(bad.slice(2, 6)), hex(bad.slice(6))]);
      expect(cut.ok, bad).to.equal(false);
      // nothing more is taken after an error
      expect(cut.parser.push(STREAM, () => expect.fail('frame after an error'))).to.equal(false);
    }
    const max = parseAll([encodeQemuStreamFrame(Buffer.alloc(MAX_QEMU_STREAM_FRAME_BYTES))]);
    expect(max.ok).to.equal(true);
    expect(max.frames).to.have.length(1);
  });
});
