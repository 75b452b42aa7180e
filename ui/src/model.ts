// The page's state of the fabric: the server's snapshot (lib/ui/protocol.ts), kept current by its live
// deltas (entities replaced whole by id), and the pure helpers the page's parts share (filters, formats).
// No DOM: unit-tested from test/ui/. Leaves out drawing (layout.ts, graph.ts) and the wire (live.ts).
// Behaviour shown follows docs/teaming.md, docs/events.md and docs/ui.md.

import type { UiDelta, UiEvent, UiLink, UiSnapshot } from '../../lib/ui/protocol.js';

function replaceById<T>(list: T[], changed: T[] | undefined, key: (t: T) => string, removed: string[] | undefined): T[] {
  if (!changed?.length && !removed?.length) return list;
  const byKey = new Map(list.map((t) => [key(t), t] as const));
  for (const t of changed ?? []) byKey.set(key(t), t);
  for (const k of removed ?? []) byKey.delete(k);
  return [...byKey.values()];
}

/** Applies one live delta to `snap` in place (order kept; new entities go last). */
export function applyDelta(snap: UiSnapshot, delta: UiDelta, clockMs: number): void {
  const byName = (x: { name: string }) => x.name;
  snap.hosts = replaceById(snap.hosts, delta.hosts, byName, delta.removed?.hosts);
  snap.switches = replaceById(snap.switches, delta.switches, byName, delta.removed?.switches);
  snap.arrays = replaceById(snap.arrays, delta.arrays, byName, delta.removed?.arrays);
  snap.links = replaceById(snap.links, delta.links, (l) => l.id, delta.removed?.links);
  snap.daemons = replaceById(snap.daemons, delta.daemons, byName, undefined);
  snap.datastores = replaceById(snap.datastores, delta.datastores, byName, undefined);
  if (delta.ha !== undefined) snap.ha = delta.ha;
  snap.clockMs = Math.max(snap.clockMs, clockMs);
}

/** Fabric time as the page prints it: seconds with ms ("12.329 s"), minutes past 10 min. */
export function formatFabricTime(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  if (ms < 600_000) return `${(ms / 1000).toFixed(3)} s`;
  const m = Math.floor(ms / 60_000);
  return `${m} min ${((ms - m * 60_000) / 1000).toFixed(3)} s`;
}

/** A rate with a unit prefix: 1234 -> "1.2k f/s"; '' for nothing. */
export function formatRate(n: number | undefined, unit: string): string {
  if (n === undefined || !Number.isFinite(n) || n <= 0) return '';
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)}G${unit}`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M${unit}`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k${unit}`;
  return `${Math.round(n)}${unit}`;
}

/** Frames per second on a link, both directions. */
export function linkFps(l: UiLink): number {
  return (l.rate?.ab?.fps ?? 0) + (l.rate?.ba?.fps ?? 0);
}

/** The drawing changes (deltas, highlights starting and ending) at most this often (ms of page time):
 * each change restyles and redraws the whole canvas, and with a delta every 100 ms and 100 drops/s that
 * was a full redraw almost every frame. The timeline and the clock still update every frame. */
export const GRAPH_REDRAW_MS = 100;
/** The events the timeline keeps (older ones leave the page, not the fabric). */
export const MAX_TIMELINE_EVENTS = 2000;
/** Timeline rows drawn at once; the filter picks the newest that match. */
export const MAX_TIMELINE_ROWS = 400;

/** The event's own fields in `key=value` form, as `vfab events` prints them. */
export function eventFields(e: UiEvent): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(e)) {
    if (k === 'timeMs' || k === 'wall' || k === 'seq' || k === 'source' || k === 'type') continue;
    const s = typeof v === 'string' ? (/\s/.test(v) ? JSON.stringify(v) : v) : JSON.stringify(v);
    parts.push(`${k}=${s}`);
  }
  return parts.join(' ');
}

/** True when `e` passes the timeline's filter: a type ('' for every type) and text found in its source, type or fields. */
export function eventMatches(e: UiEvent, type: string, text: string): boolean {
  if (type !== '' && e.type !== type) return false;
  if (text === '') return true;
  const needle = text.toLowerCase();
  return `${e.source} ${e.type} ${eventFields(e)}`.toLowerCase().includes(needle);
}

/** Where an event happened, as a graph node id (endpoint name), or null: drops and MAC moves are lit there. */
export function eventPlace(e: UiEvent): { id: string; kind: 'drops' | 'macmove' } | null {
  if (e.type === 'drop' || e.type === 'shaping-drop') {
    const port = typeof e.port === 'string' ? e.port : typeof e.uplink === 'string' ? e.uplink : null;
    if (!port) return null;
    // a VM or vmkernel port names itself (web1.nic0, esx1.vmk0); an uplink or switch port needs its daemon
    return { id: port.includes('.') ? port : `${e.source}.${port}`, kind: 'drops' };
  }
  if (e.type === 'mac-move' || e.type === 'mac-flap') {
    const ports = Array.isArray(e.ports) ? e.ports : [];
    const port = typeof e.toPort === 'string' ? e.toPort : typeof ports[1] === 'string' ? ports[1] : null;
    return port ? { id: `${e.source}.${port}`, kind: 'macmove' } : null;
  }
  return null;
}
