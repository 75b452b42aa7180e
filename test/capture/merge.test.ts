// lib/capture/merge.ts: k-way merge of capture streams in time order with a bounded reorder window.
import { expect } from 'chai';
import { CaptureMerger, type MergeFrame } from '../../lib/capture/merge.js';

const MS = 1_000_000n;
const f = (ms: number, point = 'p'): MergeFrame => ({ timestampNs: BigInt(Math.round(ms * 1e6)), point, direction: 'in', frame: new Uint8Array(60) });
const times = (list: MergeFrame[]) => list.map((x) => Number(x.timestampNs / MS));

describe('capture/merge: CaptureMerger', () => {
  it('writes frames of several streams in time order, even when a stream\'s batch arrives late', () => {
    const m = new CaptureMerger({ windowMs: 250 });
    const a = m.addStream();
    const b = m.addStream();
    for (const t of [10, 20, 30]) m.push(a, f(t, 'a'));
    // b has not sent anything yet: nothing may be written before the window (b might send 5)
    expect(m.release(100n * MS)).to.deep.equal([]);
    for (const t of [5, 15, 25, 40]) m.push(b, f(t, 'b'));
    // safe: before b's and a's last frames (30 is a's last: held for a possible comment)
    expect(times(m.release(100n * MS))).to.deep.equal([5, 10, 15, 20, 25]);
    expect(times(m.drain())).to.deep.equal([30, 40]);
    expect(m.late).to.equal(0);
  });

  it('a quiet stream holds the others only for the window', () => {
    const m = new CaptureMerger({ windowMs: 250 });
    const a = m.addStream();
    m.addStream(); // never sends
    m.push(a, f(1000));
    m.push(a, f(1001));
    expect(m.release(1200n * MS)).to.deep.equal([]);
    expect(times(m.release(1251n * MS))).to.deep.equal([1000, 1001]);
  });

  it('the newest frame of a stream waits for the stream to move on, so a comment sent right after it lands', () => {
    const m = new CaptureMerger({ windowMs: 250 });
    const a = m.addStream();
    m.push(a, f(10, 'x'));
    expect(m.release(11n * MS)).to.deep.equal([]);
    expect(m.comment(a, 'x', 'dropped: forged transmit (security policy)')).to.equal(true);
    m.push(a, f(12, 'y'));
    const out = m.release(13n * MS);
    expect(out.map((x) => x.comment)).to.deep.equal(['dropped: forged transmit (security policy)']);
    expect(m.comment(a, 'x', 'too late')).to.equal(false);
    expect(m.commentsLost).to.equal(1);
  });

  it('a frame later than the window is written next with the time before it, and counted', () => {
    const m = new CaptureMerger({ windowMs: 10 });
    const a = m.addStream();
    const b = m.addStream();
    m.push(a, f(100));
    m.push(a, f(101));
    m.closeStream(a);
    expect(times(m.release(200n * MS))).to.deep.equal([100, 101]);
    m.push(b, f(50));
    const out = m.release(300n * MS);
    expect(times(out)).to.deep.equal([101]);
    expect(out[0]!.lateNs).to.equal(51n * MS);
    expect(m.late).to.equal(1);
  });

  it('holds at most maxFrames: past it the oldest go out at once', () => {
    const m = new CaptureMerger({ windowMs: 1e6, maxFrames: 3 });
    const a = m.addStream();
    m.addStream();
    for (let t = 1; t <= 5; t++) m.push(a, f(t));
    expect(times(m.release(0n))).to.deep.equal([1, 2]);
    expect(m.held).to.equal(3);
  });

  it('a randomized interleaving of 4 streams comes out sorted (seeded)', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const m = new CaptureMerger({ windowMs: 50 });
    const streams = [0, 1, 2, 3].map(() => ({ id: m.addStream(), t: 0 }));
    const out: MergeFrame[] = [];
    let now = 0;
    for (let i = 0; i < 2000; i++) {
      const s = streams[Math.floor(rnd() * 4)]!;
      // each stream is in order by itself and at most 40 ms behind the clock
      s.t = Math.max(s.t + rnd() * 2, now - 40);
      m.push(s.id, f(s.t));
      now += rnd() * 1.5;
      out.push(...m.release(BigInt(Math.round(now * 1e6))));
    }
    out.push(...m.drain());
    const ts = out.map((x) => x.timestampNs);
    expect(ts).to.have.length(2000);
    for (let i = 1; i < ts.length; i++) expect(ts[i]! >= ts[i - 1]!, `frame ${i}`).to.equal(true);
    expect(m.late).to.equal(0);
  });
});
