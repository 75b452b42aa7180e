// Seeded link impairments and flap schedules: repeatable decisions on simulated time.
import { expect } from 'chai';
import { LinkImpairment, FlapPlan, type ImpairmentDecision } from '../../lib/faults/impairment.js';
import { VfabError } from '../../lib/errors.js';

function run(l: LinkImpairment, dir: 'aToB' | 'bToA', count: number, stepMs = 1): ImpairmentDecision[] {
  return Array.from({ length: count }, (_, i) => l.decide(dir, i * stepMs));
}
const drops = (ds: ImpairmentDecision[]): number => ds.filter((d) => d.drop).length;

describe('link impairments', () => {
  it('seeded loss: the rate over 10 000 frames is close to the setting and the run repeats exactly', () => {
    const a = run(new LinkImpairment({ seed: 42, lossPercent: 20 }), 'aToB', 10_000);
    const b = run(new LinkImpairment({ seed: 42, lossPercent: 20 }), 'aToB', 10_000);
    expect(a).to.deep.equal(b);
    expect(drops(a)).to.be.within(1800, 2200);
    const other = run(new LinkImpairment({ seed: 43, lossPercent: 20 }), 'aToB', 10_000);
    expect(other).to.not.deep.equal(a);
  });
  it('0 % loses nothing and 100 % loses everything', () => {
    expect(drops(run(new LinkImpairment({ seed: 1 }), 'aToB', 1000))).to.equal(0);
    expect(drops(run(new LinkImpairment({ seed: 1, lossPercent: 100 }), 'bToA', 1000))).to.equal(1000);
  });
  it('loss may apply to one direction only', () => {
    const l = new LinkImpairment({ seed: 7, lossPercent: 50, lossDirection: 'aToB' });
    expect(drops(run(l, 'aToB', 1000))).to.be.within(400, 600);
    expect(drops(run(l, 'bToA', 1000))).to.equal(0);
  });
  it('changing the jitter does not change which frames are lost', () => {
    const lost = (jitterMs: number): number[] =>
      run(new LinkImpairment({ seed: 9, lossPercent: 30, delayMs: 50, jitterMs }), 'aToB', 500).flatMap((d, i) => (d.drop ? [i] : []));
    expect(lost(0)).to.deep.equal(lost(40));
  });
  it('delay and jitter: deliverAtMs within delay ± jitter, and no reordering unless asked', () => {
    const l = new LinkImpairment({ seed: 5, delayMs: 100, jitterMs: 20 });
    const ds = run(l, 'aToB', 1000);
    let last = -Infinity;
    ds.forEach((d, i) => {
      expect(d.drop).to.equal(false);
      if (d.drop) return;
      expect(d.deliverAtMs).to.be.at.least(i + 80);
      expect(d.deliverAtMs).to.be.at.most(i + 120 + 40); // held behind the previous frame at most
      expect(d.deliverAtMs).to.be.at.least(last);
      last = d.deliverAtMs;
    });
    const r = run(new LinkImpairment({ seed: 5, delayMs: 100, jitterMs: 20, allowReorder: true }), 'aToB', 1000);
    const at = r.map((d) => (d.drop ? 0 : d.deliverAtMs));
    expect(at.some((t, i) => i > 0 && t < at[i - 1]!)).to.equal(true);
    expect(at.every((t, i) => t >= i + 80 && t <= i + 120)).to.equal(true);
  });
  it('fixed delay without jitter is exact', () => {
    const d = new LinkImpairment({ seed: 1, delayMs: 25 }).decide('bToA', 1000);
    expect(d).to.deep.equal({ drop: false, deliverAtMs: 1025 });
  });
  it('explicit flap schedule: frames drop while down; nextFlapChangeMs reports the changes', () => {
    const l = new LinkImpairment({ seed: 1, flap: { changes: [{ atMs: 100, up: false }, { atMs: 250, up: true }, { atMs: 300, up: true }, { atMs: 400, up: false }] } });
    expect(l.isUp(99)).to.equal(true);
    expect(l.decide('aToB', 150)).to.deep.equal({ drop: true, reason: 'link-down' });
    expect(l.decide('bToA', 260).drop).to.equal(false);
    expect(l.nextFlapChangeMs(0)).to.equal(100);
    expect(l.nextFlapChangeMs(100)).to.equal(250);
    expect(l.nextFlapChangeMs(250)).to.equal(400); // the "up" at 300 changes nothing
    expect(l.nextFlapChangeMs(400)).to.equal(null);
  });
  it('periodic flap (period/duty) from a start time', () => {
    const f = new FlapPlan({ periodMs: 1000, upMs: 700, startMs: 500 });
    expect([0, 499, 500, 1199, 1200, 1499, 1500].map((t) => f.isUp(t))).to.deep.equal([true, true, true, true, false, false, true]);
    expect(f.nextChangeMs(0)).to.equal(1200);
    expect(f.nextChangeMs(1200)).to.equal(1500);
    expect(f.nextChangeMs(1600)).to.equal(2200);
  });
  it('refuses impossible settings with VFAB_FAULTS_BAD_CONFIG', () => {
    const bad = [
      { seed: 1, lossPercent: 101 },
      { seed: 1, delayMs: -1 },
      { seed: 1, jitterMs: 1e9 },
      { seed: 1, flap: { periodMs: 100, upMs: 100 } },
      { seed: 1, flap: { changes: [{ atMs: 5, up: false }, { atMs: 1, up: true }] } },
      { seed: Number.NaN },
    ];
    for (const cfg of bad) {
      expect(() => new LinkImpairment(cfg)).to.throw(VfabError).with.property('code', 'VFAB_FAULTS_BAD_CONFIG');
    }
  });
});
