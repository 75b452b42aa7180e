// A NAS datastore's reachability (lib/datastore/nas-health.ts), probe by probe on fabric time: probes
// every 10 s while online; offline after 3 failed probes in a row (a success in between starts the count
// again); tried every 1 s while offline; online at the first success. Time-scaled timings keep the ratios.
import { expect } from 'chai';
import { afterProbe, initialShareHealth } from '../../lib/datastore/nas-health.js';
import { nasTiming } from '../../lib/datastore/nas-lease.js';

/** Runs probes with the given outcomes on a manual clock; returns each state change with its time. */
function run(outcomes: boolean[], timeScale = 1): { changes: Array<[number, string]>; at: number[] } {
  const t = nasTiming(timeScale);
  let h = initialShareHealth();
  let now = 0;
  const changes: Array<[number, string]> = [];
  const at: number[] = [];
  for (const ok of outcomes) {
    now += at.length === 0 ? t.refreshMs : 0;
    at.push(now);
    const d = afterProbe(h, ok, t);
    h = d.health;
    if (d.change) changes.push([now, d.change]);
    now += d.nextProbeMs;
  }
  return { changes, at };
}

describe('datastore NAS share health: offline after 3 failed probes, retried every 1 s, online at the first success', () => {
  it('probes every 10 s while the share answers', () => {
    expect(run([true, true, true]).at).to.deep.equal([10_000, 20_000, 30_000]);
    expect(run([true, true, true]).changes).to.deep.equal([]);
  });

  it('3 failed probes in a row: offline at the third; then tried every 1 s; online at the first success', () => {
    const r = run([false, false, false, false, false, true, true]);
    expect(r.changes).to.deep.equal([[30_000, 'offline'], [33_000, 'online']]);
    expect(r.at).to.deep.equal([10_000, 20_000, 30_000, 31_000, 32_000, 33_000, 43_000]);
  });

  it('a success between failures starts the count again', () => {
    expect(run([false, false, true, false, false, true]).changes).to.deep.equal([]);
  });

  it('time-scaled: the same probe count, intervals divided by the scale', () => {
    const r = run([false, false, false, false, true], 8);
    expect(r.changes).to.deep.equal([[3_750, 'offline'], [4_000, 'online']]);
    expect(r.at).to.deep.equal([1_250, 2_500, 3_750, 3_875, 4_000]);
  });
});
