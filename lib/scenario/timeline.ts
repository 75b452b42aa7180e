// The scenario timeline: every daemon's events and the runner's own steps on one time axis, in ms since
// the scenario started (fabric time). Covers converting a daemon's event time to scene time (every daemon
// is on the one fabric clock, lib/fabric-clock.ts: scene = fabric ms - the fabric ms the scenario started
// at), merging, sorting and the one-line text form written to timeline.txt and shown as evidence. Pure;
// leaves out fetching events.

export interface TimelineEntry {
  /** ms since the scenario started, fabric time. */
  sceneMs: number;
  /** Daemon name, or "runner" for steps and expectation results. */
  source: string;
  type: string;
  /** The event's own fields (without seq/timeMs/source/type). */
  fields: Record<string, unknown>;
}

/** A daemon's raw event as GET /control/events returns it. */
export interface DaemonEvent {
  seq: number;
  timeMs: number;
  source: string;
  type: string;
  [field: string]: unknown;
}

export function toTimelineEntry(e: DaemonEvent, offsetMs: number): TimelineEntry {
  const { seq: _seq, timeMs, source, type, ...fields } = e;
  return { sceneMs: timeMs - offsetMs, source, type, fields };
}

/** Merges entries from several sources by time (stable: equal times keep their input order). */
export function mergeTimeline(...lists: TimelineEntry[][]): TimelineEntry[] {
  const all = lists.flat();
  return all.map((e, i) => ({ e, i })).sort((a, b) => a.e.sceneMs - b.e.sceneMs || a.i - b.i).map((x) => x.e);
}

function fieldText(v: unknown): string {
  if (typeof v === 'string') return /\s/.test(v) || v === '' ? JSON.stringify(v) : v;
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  return JSON.stringify(v);
}

/** `   1234.5 ms  sw1     mac-move  vlan=10 mac=00:50:56:00:10:01 fromPort=Gi1/0/1 toPort=Gi1/0/2` (`decimals` of a ms). */
export function formatTimelineLine(e: TimelineEntry, decimals = 1): string {
  const fields = Object.entries(e.fields).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${fieldText(v)}`).join(' ');
  return `${e.sceneMs.toFixed(decimals).padStart(9 + decimals)} ms  ${e.source.padEnd(8)} ${e.type.padEnd(16)} ${fields}`.trimEnd();
}

export function formatTimeline(entries: readonly TimelineEntry[]): string {
  return entries.map((e) => formatTimelineLine(e)).join('\n') + (entries.length ? '\n' : '');
}
