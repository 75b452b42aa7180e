// One timer that follows a pure core's next deadline (guest ARP/ping timers, teaming beacons, MAC aging).
// Deadlines are on the core's clock, which may run `timeScale` times faster than the wall clock, so the
// wall-clock wait is (deadline - now) / timeScale. `schedule()` after anything that may bring the
// deadline closer; the timer re-arms itself after each firing.

import type { Clock } from '../../lib/clock.js';

export class DeadlineTimer {
  private timer: NodeJS.Timeout | undefined;
  private armedAtMs = Infinity;

  constructor(
    private readonly clock: Clock,
    private readonly timeScale: number,
    private readonly nextDeadlineMs: () => number | null | undefined,
    private readonly fire: () => void,
    private readonly keepProcessAlive = true,
  ) {}

  schedule(): void {
    const due = this.nextDeadlineMs();
    if (due === undefined || due === null || due >= this.armedAtMs) return;
    if (this.timer) clearTimeout(this.timer);
    this.armedAtMs = due;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.armedAtMs = Infinity;
      this.fire();
      this.schedule();
    }, Math.max(0, (due - this.clock.nowMs()) / this.timeScale) + 1);
    if (!this.keepProcessAlive) this.timer.unref();
  }

  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.armedAtMs = Infinity;
  }
}
