// A daemon's event log: a bounded ring of timestamped events for `vfab events` (GET /control/events?since=N).
// Oldest events fall off when the ring is full; `dropped` says how many.

export const EVENT_LOG_CAPACITY = 10_000;

export interface LoggedEvent {
  seq: number;
  timeMs: number;
  source: string;
  type: string;
  [field: string]: unknown;
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
    this.ring.push({ ...fields, seq: this.nextSeq++, timeMs: Math.round(this.nowMs() * 1000) / 1000, source: this.source, type });
  }

  since(seq: number): LoggedEvent[] {
    return this.ring.filter((e) => e.seq > seq);
  }
}
