// Token-bucket egress shaping (spec §5), on simulated time.
import { expect } from 'chai';
import { TokenBucketShaper, kbitToBps, kbToBytes, bpsToKbit, bytesToKb, SHAPER_QUEUE_FRAMES } from '../../lib/shaping/token-bucket.js';
import { VfabError } from '../../lib/errors.js';

const F1000 = new Uint8Array(1000);

/** Offers one frame per ms from t=0 to endMs inclusive; returns frames released (sent or dequeued) per ms. */
function simulate(s: TokenBucketShaper, endMs: number, frame = F1000): { released: number[]; dropped: number } {
  const released: number[] = [];
  let dropped = 0;
  for (let t = 0; t <= endMs; t++) {
    let n = s.dequeueDue(t).length;
    const v = s.offer(frame, t);
    if (v === 'send') n++;
    if (v === 'dropped') dropped++;
    released.push(n);
  }
  return { released, dropped };
}

describe('traffic shaping token bucket (§5)', () => {
  it('§5.3 §5.4 over a simulated second: burst at peak rate, then the average rate', () => {
    // avg 1 Mbit/s = 125 B/ms, peak 2 Mbit/s = one 1000-byte frame per 4 ms, burst 10 000 bytes
    const s = new TokenBucketShaper({ averageBps: 1_000_000, peakBps: 2_000_000, burstBytes: 10_000 }, 0, { queueFrames: 2000, queueBytes: 4_000_000 });
    const { released, dropped } = simulate(s, 1000);
    expect(dropped).to.equal(0);
    const times = released.flatMap((n, t) => Array<number>(n).fill(t));
    // 21 frames at peak (t = 0, 4, ..., 80) while credit remains ...
    expect(times.slice(0, 21)).to.deep.equal(Array.from({ length: 21 }, (_, k) => 4 * k));
    // ... then one every 8 ms (average rate) from t = 88
    expect(times.slice(21, 24)).to.deep.equal([88, 96, 104]);
    expect(times.length).to.equal(136);
    expect(s.stats.sentBytes).to.equal(136_000);
  });
  it('§5.4 long-run rate equals the average: sent bytes = burst + average x time (+ at most one frame)', () => {
    const s = new TokenBucketShaper({ averageBps: kbitToBps(800), peakBps: kbitToBps(1600), burstBytes: 5000 }, 0, { queueFrames: 20000, queueBytes: 32_000_000 });
    simulate(s, 10_000);
    const allowed = 5000 + 100 * 10_000; // 800 kbit/s = 100 B/ms
    expect(s.stats.sentBytes).to.be.at.least(allowed - 1000).and.at.most(allowed + 1000);
  });
  it('§5.3 peak >= average: the peak caps the rate even with plenty of credit', () => {
    const s = new TokenBucketShaper({ averageBps: 1_000_000, peakBps: 1_000_000, burstBytes: 1_000_000 }, 0, { queueFrames: 2000, queueBytes: 4_000_000 });
    const { released } = simulate(s, 99);
    expect(released.reduce((a, b) => a + b, 0)).to.equal(13); // one per 8 ms: 0..96
  });
  it('§5.4 excess frames wait in a bounded queue and are dropped and counted when it is full', () => {
    const s = new TokenBucketShaper({ averageBps: 8000, peakBps: 8000, burstBytes: 0 }, 0, { queueFrames: 4 });
    const verdicts = Array.from({ length: 10 }, () => s.offer(new Uint8Array(100), 0));
    expect(verdicts).to.deep.equal(['send', 'queued', 'queued', 'queued', 'queued', 'dropped', 'dropped', 'dropped', 'dropped', 'dropped']);
    expect(s.stats).to.deep.include({ sentFrames: 1, queuedFrames: 4, droppedFrames: 5, droppedBytes: 500 });
    expect(s.queueLength).to.equal(4);
    expect(s.nextReleaseMs()).to.equal(100); // 1 byte/ms repays the 100-byte frame
    expect(s.dequeueDue(99)).to.have.length(0);
    expect(s.dequeueDue(250)).to.have.length(2); // at 100 and 200
    expect(s.nextReleaseMs()).to.equal(300);
  });
  it('the byte limit of the queue is enforced too', () => {
    const s = new TokenBucketShaper({ averageBps: 8000, peakBps: 8000, burstBytes: 0 }, 0, { queueFrames: 100, queueBytes: 250 });
    expect([1, 2, 3, 4].map(() => s.offer(new Uint8Array(100), 0))).to.deep.equal(['send', 'queued', 'queued', 'dropped']);
    expect(s.queueBytes).to.equal(200);
  });
  it('frames leave in order: a new frame never overtakes a queued one', () => {
    const s = new TokenBucketShaper({ averageBps: 8000, peakBps: 8000, burstBytes: 0 }, 0);
    const a = new Uint8Array(100).fill(1);
    const b = new Uint8Array(10).fill(2);
    s.offer(new Uint8Array(100), 0);
    expect(s.offer(a, 50)).to.equal('queued');
    expect(s.offer(b, 250)).to.equal('queued'); // credit would allow b, but a waits ahead of it
    expect(s.dequeueDue(400).map((f) => f[0])).to.deep.equal([1, 2]);
  });
  it('§5.3 refuses peak below average and bad rates or bursts', () => {
    const code = (fn: () => unknown): string => {
      try {
        fn();
        return 'none';
      } catch (e) {
        return (e as VfabError).code;
      }
    };
    expect(code(() => new TokenBucketShaper({ averageBps: 2000, peakBps: 1000, burstBytes: 10 }, 0))).to.equal('VFAB_SHAPING_PEAK_BELOW_AVERAGE');
    expect(code(() => new TokenBucketShaper({ averageBps: 0, peakBps: 1000, burstBytes: 10 }, 0))).to.equal('VFAB_SHAPING_BAD_RATE');
    expect(code(() => new TokenBucketShaper({ averageBps: 1000, peakBps: 1000, burstBytes: -1 }, 0))).to.equal('VFAB_SHAPING_BAD_BURST');
    expect(code(() => new TokenBucketShaper({ averageBps: 1000, peakBps: 1000, burstBytes: 1 }, 0, { queueFrames: -1 }))).to.equal('VFAB_SHAPING_BAD_QUEUE');
    expect(SHAPER_QUEUE_FRAMES).to.be.greaterThan(0);
  });
  it('§5.3 converts the UI units (Kbit/s, KB) to the API units (bits/s, bytes)', () => {
    expect(kbitToBps(100_000)).to.equal(100_000_000);
    expect(kbToBytes(102_400)).to.equal(104_857_600);
    expect(bpsToKbit(100_000_000)).to.equal(100_000);
    expect(bytesToKb(104_857_600)).to.equal(102_400);
  });
  it('credit refills at the average rate, capped at the burst size', () => {
    const s = new TokenBucketShaper({ averageBps: 8000, peakBps: 80_000, burstBytes: 300 }, 0);
    s.offer(new Uint8Array(300), 0);
    expect(s.creditAt(0)).to.equal(0);
    expect(s.creditAt(100)).to.equal(100);
    expect(s.creditAt(10_000)).to.equal(300);
  });
});
