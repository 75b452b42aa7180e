// Drops into the event stream and into captures, for hostd and switchd: every dropped frame seen at a
// capture point gets its reason as a capture comment; drops of fault reasons become `drop` events through
// lib/events/drops.ts's DropReporter (one per port and reason per DROP_EVENT_INTERVAL_MS, with a count),
// the rest of a count flushed by a timer on the daemon's clock. Leaves out the decision (lib) and which
// frames are drops (the switch cores).

import type { Clock } from '../../lib/clock.js';
import { DropReporter, dropLabel, type DropReport } from '../../lib/events/drops.js';
import { eventTimeMs } from '../../lib/fabric-clock.js';
import { dropComment } from '../../lib/events/comments.js';
import type { CaptureServer } from './capture-server.js';
import type { EventLog } from './events.js';
import { DeadlineTimer } from './deadline-timer.js';

export class DropEvents {
  private readonly reporter = new DropReporter();
  private readonly timer: DeadlineTimer;

  constructor(private readonly clock: Clock, timeScale: number, private readonly events: EventLog, private readonly capture: CaptureServer) {
    this.timer = new DeadlineTimer(clock, timeScale, () => this.reporter.nextDeadlineMs(), () => {
      for (const r of this.reporter.due(this.clock.nowMs())) this.emit(r);
    }, false);
  }

  /**
   * `frame` was dropped whole for `reason` where it entered: `port` as events name it (a switch port,
   * "web1.nic0", "vmnic0"), `point` the capture point of that place (its tap saw the frame just before).
   */
  dropped(port: string, point: string, reason: string, frame: Uint8Array): void {
    if (this.capture.watching(point)) this.capture.comment(point, dropComment(reason));
    if (!DropReporter.reports(reason)) return;
    const r = this.reporter.offer(port, reason, this.clock.nowMs(), frame);
    if (r !== null) this.emit(r);
    this.timer.schedule();
  }

  private emit(r: DropReport): void {
    this.events.add('drop', { port: r.port, reason: r.reason, count: r.count, frame: r.frame, firstMs: eventTimeMs(r.firstMs), message: dropLabel(r.reason) });
  }

  close(): void {
    this.timer.cancel();
  }
}
