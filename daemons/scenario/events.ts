// Polling the event logs of a running fabric: GET /control/events?since=N on every host and switch
// daemon, remembering the last sequence number per daemon, so each event is seen once. Used by
// `vfab events` (printing, --follow) and by the scenario runner (which keeps the events of daemons that
// are later killed). A daemon that restarted starts its sequence again at 1: the poller notices the drop
// and starts over for it. Leaves out ordering across daemons (lib/events/order.ts merges by time).

import { control } from '../common/control-client.js';
import type { FabricState, DaemonRecord } from '../fabric/state.js';
import type { DaemonEvent } from '../../lib/scenario/timeline.js';

/** Wall-clock time one poll of one daemon may take. */
export const EVENT_POLL_TIMEOUT_MS = 5_000;

export interface PolledEvents {
  daemon: string;
  events: DaemonEvent[];
  /** The daemon's own count of events that fell off its ring before we read them. */
  dropped: number;
  /** The daemon's fabric clock when it read them (every event it logs later is later); absent on error. */
  nowMs?: number;
  /** Set when the daemon could not be reached (killed, restarting). */
  error?: string;
}

export class EventPoller {
  private readonly since = new Map<string, number>();
  /** Called when a daemon's sequence went backwards (it restarted). */
  onRestart: (daemon: string) => void = () => {};

  constructor(private readonly state: FabricState, private readonly filter: (d: DaemonRecord) => boolean = () => true) {}

  /** Forget where `daemon`'s log was read to (after it restarted on purpose). */
  reset(daemon: string): void {
    this.since.delete(daemon);
  }

  daemons(): DaemonRecord[] {
    return this.state.daemons.filter((d) => (d.kind === 'host' || d.kind === 'switch') && this.filter(d));
  }

  /** One round over every daemon; unreachable daemons are reported, not thrown. */
  async poll(): Promise<PolledEvents[]> {
    return Promise.all(this.daemons().map((d) => this.pollOne(d)));
  }

  async pollOne(d: DaemonRecord): Promise<PolledEvents> {
    const since = this.since.get(d.name) ?? 0;
    try {
      let r = await control<{ events: DaemonEvent[]; dropped: number; nowMs?: number }>(d, this.state.token, 'GET', `/control/events?since=${since}`, undefined, EVENT_POLL_TIMEOUT_MS);
      if (since > 0 && r.events.length === 0) {
        // a restarted daemon numbers from 1 again: ask for everything and compare
        const all = await control<{ events: DaemonEvent[]; dropped: number; nowMs?: number }>(d, this.state.token, 'GET', '/control/events?since=0', undefined, EVENT_POLL_TIMEOUT_MS);
        const last = all.events[all.events.length - 1];
        if (last && last.seq < since) {
          this.onRestart(d.name);
          r = all;
        }
      }
      const last = r.events[r.events.length - 1];
      if (last) this.since.set(d.name, last.seq);
      return { daemon: d.name, events: r.events, dropped: r.dropped ?? 0, ...(typeof r.nowMs === 'number' ? { nowMs: r.nowMs } : {}) };
    } catch (e) {
      return { daemon: d.name, events: [], dropped: 0, error: (e as Error).message };
    }
  }
}
