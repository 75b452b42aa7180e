// lib/sim/pacer.ts on a manual clock: virtual time follows the wall reading times the scale, on the
// fabric clock's line (origin, scale); timers fire when the wall clock reaches them and not before; a
// scheduler ahead of the wall clock is never moved back; the sleep until the next timer is in wall ms
// (scaled) and bounded.
import { expect } from 'chai';
import { SimScheduler } from '../../lib/sim/scheduler.js';
import { MAX_PACE_SLEEP_MS, WallPacer } from '../../lib/sim/pacer.js';

const ms = (n: number) => BigInt(Math.round(n * 1e6)); // a monotonic reading n wall ms after 0

describe('sim wall-clock pacer', () => {
  it('maps a wall reading to virtual time from the origin, times the scale', () => {
    const s = new SimScheduler();
    expect(new WallPacer(s, ms(1000), 1).targetMs(ms(1250))).to.equal(250);
    expect(new WallPacer(s, ms(1000), 10).targetMs(ms(1250))).to.equal(2500);
    expect(new WallPacer(s, ms(1000), 0.5).targetMs(ms(1250))).to.equal(125);
  });

  it('fires a timer once the wall clock reaches it, not before', () => {
    const s = new SimScheduler();
    const fired: number[] = [];
    s.at(40, () => fired.push(s.nowMs()));
    s.at(41, () => fired.push(s.nowMs()));
    const p = new WallPacer(s, 0n, 1);
    expect(p.catchUp(ms(39.9))).to.be.closeTo(39.9, 1e-9);
    expect(fired).to.deep.equal([]);
    p.catchUp(ms(40.5));
    expect(fired).to.deep.equal([40]);
    expect(s.nowMs()).to.be.closeTo(40.5, 1e-9);
    p.catchUp(ms(41));
    expect(fired).to.deep.equal([40, 41]);
  });

  it('runs the scale: at 4x, 10 wall ms reach a timer at 40 virtual ms', () => {
    const s = new SimScheduler();
    let at: number | undefined;
    s.at(40, () => (at = s.nowMs()));
    const p = new WallPacer(s, 0n, 4);
    p.catchUp(ms(9.99));
    expect(at).to.equal(undefined);
    p.catchUp(ms(10));
    expect(at).to.equal(40);
  });

  it('never moves a scheduler that ran ahead (the fabric settling) back: it waits for the wall clock', () => {
    const s = new SimScheduler();
    s.runUntil(1000);
    const fired: number[] = [];
    s.at(1010, () => fired.push(s.nowMs()));
    const p = new WallPacer(s, 0n, 1);
    expect(p.catchUp(ms(200))).to.equal(1000);
    expect(p.aheadMs(ms(200))).to.equal(800);
    // the next timer is 10 virtual ms past the scheduler, but 810 wall ms away: the sleep is bounded
    expect(p.sleepMs(ms(200))).to.equal(MAX_PACE_SLEEP_MS);
    expect(p.sleepMs(ms(1005))).to.be.closeTo(5, 1e-9);
    p.catchUp(ms(1009));
    expect(fired).to.deep.equal([]);
    p.catchUp(ms(1011));
    expect(fired).to.deep.equal([1010]);
    expect(p.aheadMs(ms(1011))).to.be.closeTo(0, 1e-9);
  });

  it('sleeps until the next timer in wall ms (scaled), 0 when one is due, the bound when none is set', () => {
    const s = new SimScheduler();
    const p1 = new WallPacer(s, 0n, 1);
    expect(p1.sleepMs(ms(0))).to.equal(MAX_PACE_SLEEP_MS);
    s.at(30, () => {});
    expect(p1.sleepMs(ms(10))).to.be.closeTo(20, 1e-9);
    expect(new WallPacer(s, 0n, 2).sleepMs(ms(10))).to.be.closeTo(5, 1e-9); // (30 - 20) / 2
    expect(p1.sleepMs(ms(31))).to.equal(0);
    const far = new SimScheduler();
    far.at(10_000, () => {});
    expect(new WallPacer(far, 0n, 1).sleepMs(0n)).to.equal(MAX_PACE_SLEEP_MS);
  });

  it('refuses a scale that is not positive', () => {
    expect(() => new WallPacer(new SimScheduler(), 0n, 0)).to.throw(RangeError);
    expect(() => new WallPacer(new SimScheduler(), 0n, Number.NaN)).to.throw(RangeError);
  });
});
