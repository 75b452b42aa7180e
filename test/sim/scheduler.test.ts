// lib/sim/scheduler.ts: the virtual clock never moves backwards, timers due at the same instant run in
// the order they were set, cancelled timers never run, runUntilTrue stops at the condition, and the
// named random streams are stable and independent. Randomised schedules use a seeded PRNG (bounded count).
import { expect } from 'chai';
import { SimScheduler, SimRandom, SimTimerGroup, streamSeed } from '../../lib/sim/scheduler.js';
import { seededRandom } from '../../lib/clock.js';

describe('sim scheduler', () => {
  it('never moves the clock backwards, whatever order timers are set in (2000 random timers)', () => {
    const s = new SimScheduler();
    const rnd = seededRandom(42);
    const seen: number[] = [];
    const add = (n: number) => {
      for (let i = 0; i < n; i++) {
        // some in the past (clamped to now), some at now, most ahead; timers set more timers
        const fn = () => {
          seen.push(s.nowMs());
          if (rnd() < 0.3) add(1);
        };
        const r = rnd();
        if (r < 0.2) s.at(s.nowMs() - rnd() * 50, fn); // an absolute time already past
        else if (r < 0.3) s.after(-rnd() * 50, fn);
        else s.after(r < 0.4 ? 0 : rnd() * 100, fn);
      }
    };
    add(2000);
    s.at(-5, () => seen.push(s.nowMs())); // an absolute time in the past runs now
    s.runUntil(10_000);
    expect(seen.length).to.be.greaterThan(2000);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!, `timer ${i}`).to.be.at.least(seen[i - 1]!);
    expect(s.nowMs()).to.equal(10_000);
  });

  it('runs timers due at the same instant in insertion order', () => {
    const s = new SimScheduler();
    const order: string[] = [];
    s.at(5, () => order.push('a'));
    s.at(3, () => order.push('x'));
    s.at(5, () => order.push('b'));
    s.after(5, () => order.push('c'));
    for (let i = 0; i < 20; i++) s.at(7, () => order.push(`t${i}`));
    s.at(5, () => {
      order.push('d');
      s.after(0, () => order.push('e')); // set at 5 for 5: after everything already due at 5
    });
    s.runUntil(10);
    expect(order).to.deep.equal(['x', 'a', 'b', 'c', 'd', 'e', ...Array.from({ length: 20 }, (_, i) => `t${i}`)]);
  });

  it('skips cancelled timers and stops runUntilTrue at the condition', () => {
    const s = new SimScheduler();
    let n = 0;
    const t = s.at(1, () => (n += 100));
    for (let i = 1; i <= 10; i++) s.at(i, () => n++);
    s.cancel(t);
    expect(s.runUntilTrue(() => n >= 3, 100)).to.equal(true);
    expect(s.nowMs()).to.equal(3);
    expect(s.runUntilTrue(() => n >= 50, 20)).to.equal(false);
    expect(s.nowMs()).to.equal(20);
    expect(n).to.equal(10);
  });

  it('derives named random streams from the run seed: stable, independent of each other', () => {
    expect(streamSeed(7, 'ping-ids')).to.equal(streamSeed(7, 'ping-ids'));
    expect(streamSeed(7, 'ping-ids')).to.not.equal(streamSeed(8, 'ping-ids'));
    expect(streamSeed(7, 'impair:sw1.Gi1/0/1')).to.not.equal(streamSeed(7, 'impair:sw1.Gi1/0/2'));
    const a = new SimRandom(7).stream('x');
    const b = new SimRandom(7).stream('x');
    const drawn = Array.from({ length: 5 }, () => a());
    expect(Array.from({ length: 5 }, () => b())).to.deep.equal(drawn);
  });
  it('a timer group cancels only its own live timers (a killed node), and fired timers leave it', () => {
    const s = new SimScheduler();
    const node = new SimTimerGroup(s);
    const other = new SimTimerGroup(s);
    const ran: string[] = [];
    node.after(1, () => ran.push('node@1'));
    node.after(5, () => ran.push('node@5'));
    node.after(6, () => node.after(1, () => ran.push('node-rearmed')));
    other.after(5, () => ran.push('other@5'));
    s.runUntil(2);
    expect(node.size).to.equal(2);
    expect(node.cancelAll()).to.equal(2);
    s.runUntil(100);
    expect(ran).to.deep.equal(['node@1', 'other@5']);
    expect(node.size).to.equal(0);
    expect(other.size).to.equal(0);
  });
});
