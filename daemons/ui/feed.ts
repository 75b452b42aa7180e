// The `vfab ui` server's one reader of the running fabric: it polls every daemon's events and status
// ONCE for all connected pages (never per page), feeds them to the view model (lib/ui/view-model.ts) and
// tells the server what changed: a new snapshot to diff, and event batches. A daemon that logged a
// state-changing event is read again at once, so a link pulled with `vfab link down` reaches the pages
// within one event poll plus one status read. Leaves out HTTP and the pages (server.ts).
// docs/ui.md "Live stream"; event order as docs/events.md "Order".

import { control } from '../common/control-client.js';
import type { FabricState, DaemonRecord } from '../fabric/state.js';
import { EventPoller } from '../scenario/events.js';
import { FabricClock } from '../common/fabric-clock.js';
import { FabricView } from '../../lib/ui/view-model.js';
import type { UiDatastore, UiEvent, UiHa } from '../../lib/ui/protocol.js';

/** How often (wall ms) every host's and switch's events are read, at most. */
export const UI_EVENT_POLL_MS = 150;
/** How often (wall ms) every daemon's full status is read (counters, rates), at most. */
export const UI_STATUS_POLL_MS = 1000;
/** Most event reads per wall second over all daemons: a big fabric is polled less often (65 daemons: every 325 ms). */
export const UI_EVENT_READS_PER_S = 200;
/** Most status reads per wall second over all daemons (timed polls; reads after events come on top). */
export const UI_STATUS_READS_PER_S = 100;

/** The poll interval for `daemons` daemons: `minMs`, or longer so that at most `perSecond` reads a second go out. */
export function pollIntervalMs(minMs: number, daemons: number, perSecond: number): number {
  return Math.max(minMs, Math.ceil((daemons * 1000) / perSecond));
}
/** How often (wall ms) datastores and HA state are read from the hosts. */
export const UI_EXTRAS_POLL_MS = 2000;
/** Wall time one control call of the feed may take: a hung daemon shows as unreachable, not a stall. */
export const UI_CONTROL_TIMEOUT_MS = 3000;

export interface FeedListener {
  /** The view changed (status read): the server diffs and sends. */
  changed(): void;
  /** Events read, in fabric-time order. */
  events(events: UiEvent[]): void;
}

export class FabricFeed {
  readonly view: FabricView;
  readonly clock: FabricClock;
  private readonly poller: EventPoller;
  private readonly inFlight = new Set<string>();
  /** Daemons to read again as soon as their current read ends. */
  private readonly again = new Set<string>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly noHa = new Set<string>();
  private eventsBusy = false;
  private extrasBusy = false;
  private stopped = false;

  constructor(private readonly state: FabricState, private readonly listener: FeedListener) {
    this.clock = new FabricClock(state.clock, state.timeScale);
    this.view = new FabricView({ fabric: state.fabric, timeScale: state.timeScale, daemons: state.daemons.map((d) => ({ name: d.name, kind: d.kind })) });
    this.poller = new EventPoller(state);
  }

  /** Reads everything once (so the first snapshot is whole), then keeps polling. */
  async start(): Promise<void> {
    await Promise.all([this.readAll(), this.readExtras(), this.pollEvents()]);
    const n = this.state.daemons.length;
    this.timers.push(setInterval(() => void this.pollEvents(), pollIntervalMs(UI_EVENT_POLL_MS, n, UI_EVENT_READS_PER_S)));
    this.timers.push(setInterval(() => void this.readAll(), pollIntervalMs(UI_STATUS_POLL_MS, n, UI_STATUS_READS_PER_S)));
    this.timers.push(setInterval(() => void this.readExtras(), UI_EXTRAS_POLL_MS));
    for (const t of this.timers) t.unref();
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
  }

  /** Read these daemons now (after an action from the page, or events from them). */
  refresh(names: Iterable<string>): void {
    for (const n of names) {
      const d = this.state.daemons.find((x) => x.name === n);
      if (d) void this.readStatus(d);
    }
  }

  private async readAll(): Promise<void> {
    await Promise.all(this.state.daemons.map((d) => this.readStatus(d)));
  }

  private async readStatus(d: DaemonRecord): Promise<void> {
    if (this.stopped) return;
    if (this.inFlight.has(d.name)) {
      this.again.add(d.name);
      return;
    }
    this.inFlight.add(d.name);
    try {
      const reply = await control<Record<string, unknown>>(d, this.state.token, 'GET', '/control/status', undefined, UI_CONTROL_TIMEOUT_MS);
      this.view.applyStatus(d.name, reply, undefined, this.clock.nowMs());
    } catch (e) {
      this.view.applyStatus(d.name, undefined, (e as Error).message, this.clock.nowMs());
    } finally {
      this.inFlight.delete(d.name);
    }
    if (this.stopped) return;
    this.listener.changed();
    if (this.again.delete(d.name)) await this.readStatus(d);
  }

  private async pollEvents(): Promise<void> {
    if (this.eventsBusy || this.stopped) return;
    this.eventsBusy = true;
    try {
      const rounds = await this.poller.poll();
      const events = rounds.flatMap((r) => r.events) as UiEvent[];
      if (events.length === 0) return;
      const changed = this.view.applyEvents(events);
      this.listener.events(events);
      this.refresh(changed);
    } finally {
      this.eventsBusy = false;
    }
  }

  /** Datastores (and who holds each VM's lock) and HA state, where the fabric has them. */
  private async readExtras(): Promise<void> {
    if (this.extrasBusy || this.stopped) return;
    this.extrasBusy = true;
    try {
      const hosts = this.state.daemons.filter((d) => d.kind === 'host');
      const datastores = new Map<string, UiDatastore>();
      const ha: UiHa = { primary: null, hosts: [] };
      await Promise.all(hosts.map(async (h) => {
        const ds = await control<{ datastores?: Array<{ name: string; state: string; vms?: string[] }> }>(h, this.state.token, 'GET', '/control/datastores', undefined, UI_CONTROL_TIMEOUT_MS).catch(() => undefined);
        for (const x of ds?.datastores ?? []) {
          const entry = datastores.get(x.name) ?? { name: x.name, hosts: [], locks: [] };
          if (x.state === 'mounted') entry.hosts.push(h.name);
          for (const vm of x.vms ?? []) entry.locks.push({ file: vm, holder: h.name, alive: true });
          datastores.set(x.name, entry);
        }
        if (this.noHa.has(h.name)) return;
        try {
          const s = await control<{ role?: string; primary?: string | null }>(h, this.state.token, 'GET', '/control/ha', undefined, UI_CONTROL_TIMEOUT_MS);
          ha.hosts.push({ name: h.name, state: String(s.role ?? 'unknown') });
          if (s.primary) ha.primary = s.primary;
        } catch (e) {
          if ((e as { code?: string }).code !== 'VFAB_CONTROL_UNREACHABLE') this.noHa.add(h.name);
          else ha.hosts.push({ name: h.name, state: 'unreachable' });
        }
      }));
      this.view.datastores = [...datastores.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
      for (const d of this.view.datastores) d.hosts.sort();
      this.view.ha = ha.hosts.some((h) => h.state !== 'unreachable') ? { ...ha, hosts: ha.hosts.sort((a, b) => (a.name < b.name ? -1 : 1)) } : null;
      if (!this.stopped) this.listener.changed();
    } finally {
      this.extrasBusy = false;
    }
  }
}
