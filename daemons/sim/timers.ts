// The Timers of daemon-side code (daemons/common/timers.ts) in the simulation: setTimeout and setInterval
// are timers of a node's scheduler group (cancelled together when the node is killed), the wall clock is
// the virtual clock, and random bytes come from a seeded stream of the run seed. Leaves out Node's
// clamping of a delay under 1 ms to 1 ms: a simulated timer fires exactly when it was asked to.

import type { Random } from '../../lib/clock.js';
import type { SimTimer, SimTimers } from '../../lib/sim/scheduler.js';
import type { TimerHandle, Timers } from '../common/timers.js';

interface SimInterval {
  current: SimTimer | undefined;
}

export function simTimers(group: SimTimers, random: Random): Timers {
  return {
    nowMs: () => group.nowMs(),
    setTimeout: (fn, ms) => group.after(ms, fn),
    clearTimeout: (t: TimerHandle) => group.cancel(t as SimTimer | undefined),
    setInterval: (fn, ms) => {
      const iv: SimInterval = { current: undefined };
      const arm = (): void => {
        iv.current = group.after(ms, () => {
          arm();
          fn();
        });
      };
      arm();
      return iv;
    },
    clearInterval: (t: TimerHandle) => {
      const iv = t as SimInterval | undefined;
      if (iv === undefined) return;
      group.cancel(iv.current);
      iv.current = undefined;
    },
    randomBytes: (n) => {
      const b = Buffer.alloc(n);
      for (let i = 0; i < n; i++) b[i] = Math.floor(random() * 256);
      return b;
    },
  };
}
