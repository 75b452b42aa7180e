// A daemon's event log: a bounded ring of timestamped events for `vfab events` (GET /control/events?since=N).
// Oldest events fall off when the ring is full; `dropped` says how many. Times are fabric ms (the daemon's
// FabricClock, lib/fabric-clock.ts) to the microsecond, so logs of different daemons merge by time. A
// reply carries the daemon's clock too: every event logged after the reply has a later time, which lets a
// follower print the merged stream in order (lib/events/order.ts).

import { eventTimeMs } from '../../lib/fabric-clock.js';

export const EVENT_LOG_CAPACITY = 10_000;

export interface LoggedEvent {
  seq: number;
  timeMs: number;
  source: string;
  type: string;
  [field: string]: unknown;
}

/** GET /control/events: the events after `since`, how many fell off, and the time they were read. */
export interface EventsReply {
  events: LoggedEvent[];
  dropped: number;
  /** Fabric ms just before the events were read (a µs below, rounded down): every later event has a later time. */
  nowMs: number;
}

export class EventLog {
  private readonly ring: LoggedEvent[] = [];
  private nextSeq = 1;
  dropped = 0;
  constructor(private readonly source: string, private readonly nowMs: () => number, private readonly capacity = EVENT_LOG_CAPACITY) {}

  add(type: string, fields: Record<string, unknown>): void {
    if (this.ring.length >= this.capacity) {
      this.ring.shift();
      this.dropped++;
    }
    this.ring.push({ ...fields, seq: this.nextSeq++, timeMs: eventTimeMs(this.nowMs()), source: this.source, type });
  }

  reply(since: number, nowMs: number): EventsReply {
    return { events: this.since(since), dropped: this.dropped, nowMs: Math.floor(nowMs * 1000) / 1000 - 0.001 };
  }

  since(seq: number): LoggedEvent[] {
    return this.ring.filter((e) => e.seq > seq);
  }
}
