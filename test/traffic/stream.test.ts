import { expect } from 'chai';
import { StreamReceiver, writeStreamHeader, readStreamHeader, STREAM_HEADER_BYTES } from '../../lib/traffic/stream.js';

describe('traffic stream', () => {
  it('round-trips the header at an offset and rejects foreign payloads', () => {
    const buf = Buffer.alloc(64, 0xa5);
    writeStreamHeader(buf, 8, 7, 123456, 1.5e15);
    expect(readStreamHeader(buf, 8)).to.deep.equal({ streamId: 7, seq: 123456, sentAtNs: 1.5e15 });
    expect(readStreamHeader(buf, 0)).to.equal(undefined);
    expect(readStreamHeader(buf, 64 - STREAM_HEADER_BYTES + 1)).to.equal(undefined);
  });

  it('counts loss, duplicates, reordering and the longest gap', () => {
    const r = new StreamReceiver(1);
    const at = (ms: number) => ms * 1e6;
    r.record(0, at(0), at(1));
    r.record(1, at(1), at(2));
    r.record(3, at(3), at(4)); // 2 missing so far
    r.record(3, at(3), at(4.5)); // duplicate
    r.record(2, at(2), at(5)); // late: reordered, fills the hole
    r.record(9, at(9), at(105)); // 4..8 lost, 100 ms gap
    const rep = r.report(12); // 10 and 11 never arrived either
    expect(rep.received).to.equal(5);
    expect(rep.duplicates).to.equal(1);
    expect(rep.reordered).to.equal(1);
    expect(rep.lost).to.equal(7);
    expect(rep.maxGapMs).to.equal(100);
    expect(rep.maxGapStartNs).to.equal(at(5));
  });

  it('reports latency percentiles in ms', () => {
    const r = new StreamReceiver(2);
    for (let i = 0; i < 100; i++) r.record(i, 0, (i + 1) * 1e6); // latencies 1..100 ms
    const l = r.report().latencyMs!;
    expect(l.p50).to.equal(51);
    expect(l.p99).to.equal(100);
    expect(l.max).to.equal(100);
    expect(l.mean).to.be.closeTo(50.5, 1e-9);
  });

  it('keeps a bounded sample once the reservoir is full', () => {
    const r = new StreamReceiver(3, 10);
    for (let i = 0; i < 1000; i++) r.record(i, 0, 5e6);
    const l = r.report().latencyMs!;
    expect(l.samples).to.equal(10);
    expect(l.p50).to.equal(5);
  });
});
