// The order of the fabric's event stream (`vfab events`): every daemon logs on the one fabric clock
// (lib/fabric-clock.ts), so merging is sorting by time. Ties: by source name, then the daemon's own
// sequence. Within a daemon the sequence is the order things happened, and a daemon logs a cause before
// its effects; across daemons a cause and its effect are at least one message apart (tens of µs, far above
// the µs the times are kept to), so the cause always sorts first. Following a live fabric, an event is
// printed only once every daemon's clock has passed it (each poll reply carries its daemon's time), so
// nothing printed later can belong before it. Pure; leaves out polling (daemons/scenario/events.ts).

import type { DaemonEvent } from '../scenario/timeline.js';

/** Events a follower holds back waiting for slower daemons; past this the oldest are printed anyway. */
export const MAX_HELD_EVENTS = 100_000;

export function compareEvents(a: DaemonEvent, b: DaemonEvent): number {
  return a.timeMs - b.timeMs || (a.source < b.source ? -1 : a.source > b.source ? 1 : 0) || a.seq - b.seq;
}

/** The events of several daemons as one stream in time order. */
export function mergeEvents(lists: readonly (readonly DaemonEvent[])[]): DaemonEvent[] {
  return lists.flat().sort(compareEvents);
}

/** For --follow: holds polled events until every daemon's clock has passed them. */
export class EventOrderer {
  private held: DaemonEvent[] = [];

  constructor(private readonly maxHeld = MAX_HELD_EVENTS) {}

  get size(): number {
    return this.held.length;
  }

  /**
   * Adds one round of polled events; returns those that can be printed now, in order: every event at or
   * before `watermarkMs` (the smallest clock reading among the daemons that answered the round), plus the
   * oldest beyond the bound.
   */
  round(events: readonly DaemonEvent[], watermarkMs: number): DaemonEvent[] {
    this.held.push(...events);
    this.held.sort(compareEvents);
    let n = 0;
    while (n < this.held.length && this.held[n]!.timeMs <= watermarkMs) n++;
    n = Math.max(n, this.held.length - this.maxHeld);
    const out = this.held.slice(0, n);
    this.held = this.held.slice(n);
    return out;
  }

  /** Everything still held, in order (the follower stops). */
  flush(): DaemonEvent[] {
    const out = this.held;
    this.held = [];
    return out;
  }
}
