import { expect } from 'chai';
import sinon from 'sinon';
import { DeadlineTimer } from '../../daemons/common/deadline-timer.js';
import { ManualClock } from '../../lib/clock.js';

describe('DeadlineTimer', () => {
  let fake: sinon.SinonFakeTimers;
  beforeEach(() => (fake = sinon.useFakeTimers()));
  afterEach(() => fake.restore());

  it('fires at the core deadline, scaled to wall time, and re-arms for the next one', () => {
    const clock = new ManualClock(0);
    const deadlines = [1000, 3000];
    const fired: number[] = [];
    const timer = new DeadlineTimer(clock, 10, () => deadlines[0], () => {
      fired.push(clock.nowMs());
      deadlines.shift();
    });
    timer.schedule();
    fake.tick(99); // 1000 ms of core time at 10x is 100 ms of wall time (+1 ms margin)
    clock.set(990);
    expect(fired).to.deep.equal([]);
    clock.set(1000);
    fake.tick(2);
    expect(fired).to.deep.equal([1000]);
    clock.set(3000);
    fake.tick(201);
    expect(fired).to.deep.equal([1000, 3000]);
  });

  it('moves to an earlier deadline and ignores later ones', () => {
    const clock = new ManualClock(0);
    let next: number | undefined = 5000;
    let fires = 0;
    const timer = new DeadlineTimer(clock, 1, () => next, () => {
      fires++;
      next = undefined;
    });
    timer.schedule();
    next = 100;
    timer.schedule(); // earlier: re-armed
    next = 9000;
    timer.schedule(); // later: the 100 ms timer stays
    next = 100;
    clock.set(100);
    fake.tick(101);
    expect(fires).to.equal(1);
    timer.cancel();
  });
});
