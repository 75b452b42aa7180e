// The cross-machine clock offset (lib/k8s/clock-offset.ts) on a manual clock: a daemon whose clock runs
// a known amount ahead of the gateway's, exchanges with symmetric and lopsided delays. The estimate is
// exact for symmetric delays, within half the round trip otherwise, the quickest exchange wins, and a
// broken sample (time going backwards) is ignored.

import { expect } from 'chai';
import { bestOffset, offsetOf, toGatewayMs, MAX_OFFSET_SAMPLES, type OffsetSample } from '../../lib/k8s/clock-offset.js';

/** A gateway clock and a daemon clock `skewMs` ahead; one exchange with the given one-way delays. */
function exchange(gatewayNow: number, skewMs: number, outMs: number, backMs: number): OffsetSample {
  return { sentMs: gatewayNow, daemonMs: gatewayNow + outMs + skewMs, receivedMs: gatewayNow + outMs + backMs };
}

describe('k8s clock offset (NTP-like, one exchange)', () => {
  it('is exact when the delays are symmetric', () => {
    expect(offsetOf(exchange(1000, 250.5, 3, 3))).to.deep.equal({ offsetMs: 250.5, rttMs: 6 });
    expect(offsetOf(exchange(1000, -40, 0.2, 0.2))!.offsetMs).to.be.closeTo(-40, 1e-9);
  });

  it('is off by at most half the round trip when they are not', () => {
    for (const [out, back] of [[10, 0], [0, 10], [7, 1]] as const) {
      const o = offsetOf(exchange(5000, 100, out, back))!;
      expect(Math.abs(o.offsetMs - 100)).to.be.at.most(o.rttMs / 2);
      expect(o.offsetMs).to.not.equal(100);
    }
  });

  it('takes the exchange with the shortest round trip and ignores broken ones', () => {
    const samples = [exchange(0, 100, 30, 2), exchange(100, 100, 1, 1), exchange(200, 100, 2, 40), { sentMs: 10, daemonMs: 5, receivedMs: 9 }];
    expect(bestOffset(samples)).to.deep.equal({ offsetMs: 100, rttMs: 2 });
    expect(bestOffset([{ sentMs: 10, daemonMs: 5, receivedMs: 9 }])).to.equal(undefined);
    expect(bestOffset([])).to.equal(undefined);
  });

  it('looks at the last MAX_OFFSET_SAMPLES samples only', () => {
    const old = exchange(0, 999, 0, 0); // perfect, but too old
    const recent = Array.from({ length: MAX_OFFSET_SAMPLES }, (_, i) => exchange(100 + i, 50, 1, 1));
    expect(bestOffset([old, ...recent])!.offsetMs).to.equal(50);
  });

  it('puts a daemon-stamped event on the gateway clock', () => {
    const o = bestOffset([exchange(1000, 250, 2, 2)])!;
    // an event the daemon stamped at its 3250 happened at the gateway's 3000
    expect(toGatewayMs(3250, o)).to.equal(3000);
  });
});
