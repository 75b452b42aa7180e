// lib/fabric-clock.ts: fabric time from a monotonic reading, capture timestamps and wall time text.
import { expect } from 'chai';
import { anchorOriginNs, captureTimestampNs, eventTimeMs, fabricMsOfCapture, fabricNsAt, wallClockText, wallTimeText, type FabricClockAnchor } from '../lib/fabric-clock.js';

const anchor: FabricClockAnchor = { monotonicNs: '5000000000000', wallMs: Date.UTC(2026, 11, 6, 7, 0, 0, 0) };

describe('fabric-clock', () => {
  it('fabric time is monotonic time since the anchor, scaled', () => {
    expect(fabricNsAt(anchorOriginNs(anchor), 5_000_001_500_000n)).to.equal(1_500_000);
    expect(fabricNsAt(anchorOriginNs(anchor), 5_000_001_500_000n, 4)).to.equal(6_000_000);
  });

  it('capture timestamps are the anchor wall time plus fabric time, and convert back', () => {
    const ts = captureTimestampNs(anchor, 1_234_567_891);
    expect(ts).to.equal(BigInt(anchor.wallMs) * 1_000_000n + 1_234_567_891n);
    expect(fabricMsOfCapture(anchor, ts)).to.equal(1234.567891);
  });

  it('event times keep microseconds; wall text is UTC to the microsecond', () => {
    expect(eventTimeMs(1234.5678912)).to.equal(1234.568);
    expect(wallTimeText(anchor, 1234.567)).to.equal('2026-12-06T07:00:01.234567Z');
    expect(wallClockText(anchor, 61_000.0015)).to.equal('07:01:01.000002');
  });
});
