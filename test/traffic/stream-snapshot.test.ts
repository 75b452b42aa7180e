// StreamReceiver.snapshot()/restore(): a measured stream keeps counting across a hand-over (vMotion), the
// outage shows as the longest gap, and a snapshot out of shape or too large is a typed error.
import { expect } from 'chai';
import { StreamReceiver, STREAM_SNAPSHOT_MAX_SAMPLES, STREAM_SNAPSHOT_MAX_SEEN_BYTES } from '../../lib/traffic/stream.js';

const at = (ms: number) => ms * 1e6;

describe('traffic stream: receiver snapshot and restore', () => {
  it('carries counts, the seen set, the last arrival and latency across JSON; the outage is the longest gap', () => {
    const r = new StreamReceiver(4);
    for (let s = 0; s < 2_000; s++) if (s !== 500) r.record(s, at(s / 10), at(s / 10 + 1)); // 10 000 frames/s, 500 lost
    const snap = r.snapshot();
    if (!snap.ok) throw snap.error;
    expect(snap.value.samplesNs.length).to.be.at.most(STREAM_SNAPSHOT_MAX_SAMPLES);
    const moved = StreamReceiver.restore(JSON.parse(JSON.stringify(snap.value)));
    if (!moved.ok) throw moved.error;
    const c = moved.value;
    c.record(1_999, at(199.9), at(205)); // a duplicate of what arrived before the move
    c.record(500, at(50), at(230)); // the one lost before, late: reordered
    for (let s = 2_100; s < 2_200; s++) c.record(s, at(s / 10), at(s / 10 + 1)); // 2000..2099 lost in the outage
    const rep = c.report(2_200);
    expect(rep.received).to.equal(2_000 + 100);
    expect(rep.duplicates).to.equal(1);
    expect(rep.reordered).to.equal(1);
    expect(rep.lost).to.equal(100);
    expect(rep.maxGapMs).to.be.closeTo(230 - 200.9, 1e-6); // last arrival before the move to the late one
    expect(rep.latencyMs!.max).to.equal(180); // seq 500: sent at 50, arrived at 230
    expect(rep.latencyMs!.mean).to.be.closeTo(r.report().latencyMs!.mean, 0.1);
  });

  it('refuses snapshots out of shape and streams too long to carry', () => {
    const good = new StreamReceiver(1).snapshot();
    if (!good.ok) throw good.error;
    for (const bad of [null, { ...good.value, version: 2 }, { ...good.value, received: -1 }, { ...good.value, highestSeq: 8 },
      { ...good.value, samplesNs: ['x'] }, { ...good.value, lastAtNs: 'now' }]) {
      const r = StreamReceiver.restore(bad);
      expect(r.ok).to.equal(false);
      if (!r.ok) expect(r.error.code).to.equal('VFAB_STREAM_BAD_SNAPSHOT');
    }
    const long = new StreamReceiver(1, 16);
    long.record(STREAM_SNAPSHOT_MAX_SEEN_BYTES * 8, 0, 1);
    const s = long.snapshot();
    expect(s.ok).to.equal(false);
    if (!s.ok) expect(s.error.code).to.equal('VFAB_STREAM_SNAPSHOT_TOO_LARGE');
  });
});
