// Checking a scenario's expectations against collected evidence: the merged timeline, stream reports,
// RARP frames from captures, and snapshots taken at the expect step (MAC tables, pings, port uplinks,
// uplink counters). Pure: no I/O, times are scene ms (fabric time since the scenario started). Each check
// says what was expected, what happened, and the evidence (timeline lines, frames, table rows). RARP
// frames follow spec §3.10-3.11 (EtherType 0x8035, op 3); MAC-table moves spec §6.6.

import type { Mac } from '../wire/mac.js';
import { macToString } from '../wire/mac.js';
import type { Expectation, ExpectationSpec } from './model.js';
import { type TimelineEntry, formatTimelineLine } from './timeline.js';

/** Evidence lines attached to one result (the rest are counted). */
export const MAX_EVIDENCE_LINES = 20;
/** uplinkCarries with a stream and no minFrames: this share of the frames the stream sent in the window. */
export const CARRIES_DEFAULT_SHARE = 0.5;
/** uplinkIdle with a stream and no minFrames: fewer than this share of the stream's frames (or 5). */
export const IDLE_DEFAULT_SHARE = 0.1;
const IDLE_MIN_THRESHOLD_FRAMES = 5;

export interface StreamEvidence {
  name: string;
  from: string;
  to: string;
  /** Frames the sender sent (null if its report never came back). */
  sent: number | null;
  received: number;
  /** Frames never received: sent - received when `sent` is known, else the sink's sequence-gap count. */
  lost: number;
  /** Longest time between two arrivals, in fabric ms. */
  maxGapMs: number;
  /** Scene time of the start of the longest gap, if known. */
  maxGapAtMs: number | null;
  error?: string;
}

export interface RarpFrame {
  sceneMs: number;
  point: string;
  direction: 'in' | 'out';
  /** Sender hardware address (the MAC being announced). */
  mac: Mac;
  vlan?: number;
}

export interface MacTableRow {
  vlan: number;
  mac: string;
  port: string;
  [field: string]: unknown;
}

/** What the runner observed for a snapshot expectation at the expect step. */
export type Observation =
  | { kind: 'macTable'; rows: MacTableRow[] }
  | { kind: 'ping'; sent: number; received: number; detail: string }
  | { kind: 'portUplink'; vm: string; port: string; uplink: string | null; egressUplinks: string[]; reason?: string }
  | { kind: 'uplinkFrames'; endpoint: string; deltaFrames: number; expectedFrames: number; windowMs: [number, number] }
  | { kind: 'error'; message: string };

/** Evidence collected over the whole run (for checks evaluated at the end). */
export interface RunEvidence {
  timeline: TimelineEntry[];
  streams: Map<string, StreamEvidence>;
  rarps: RarpFrame[];
  /** Points that were captured (a RARP count at any other point cannot be checked). */
  capturedPoints: Set<string>;
}

export interface ExpectationResult {
  id: string;
  name: string;
  kind: Expectation['kind'];
  passed: boolean;
  expected: string;
  got: string;
  evidence: string[];
  /** Where the expectation is written: file:line:column. */
  where: string;
  /** [from, to] in scene ms, for checks over a time window. */
  windowMs?: [number, number];
}

function result(spec: ExpectationSpec, passed: boolean, expected: string, got: string, evidence: string[] = [], windowMs?: [number, number]): ExpectationResult {
  const shown = evidence.length > MAX_EVIDENCE_LINES ? [...evidence.slice(0, MAX_EVIDENCE_LINES), `... ${evidence.length - MAX_EVIDENCE_LINES} more`] : evidence;
  return { id: spec.id, name: spec.name, kind: spec.check.kind, passed, expected, got, evidence: shown, where: `${spec.loc.file}:${spec.loc.line}:${spec.loc.column}`, ...(windowMs ? { windowMs } : {}) };
}

const fmtMs = (ms: number) => `${ms.toFixed(1)} ms`;
const rangeText = (min: number, max: number, unit: string) =>
  max === Infinity ? `at least ${min} ${unit}` : min === max ? `exactly ${min} ${unit}` : min === 0 ? `at most ${max} ${unit}` : `${min}-${max} ${unit}`;

/** True when every `match` field equals the event's field (compared as text, case-insensitive; list fields must contain it). */
export function eventMatches(e: TimelineEntry, source: string, type: string, match: Record<string, string | number | boolean>): boolean {
  if (e.source !== source || e.type !== type) return false;
  for (const [k, v] of Object.entries(match)) {
    const have = e.fields[k];
    if (have === undefined || have === null) return false;
    // a list or record field (e.g. failover's `ports`) matches when it contains the value
    if (typeof have === 'object') {
      if (!JSON.stringify(have).toLowerCase().includes(String(v).toLowerCase())) return false;
    } else if (String(have).toLowerCase() !== String(v).toLowerCase()) return false;
  }
  return true;
}

/** Checks evaluated at the end of the run: framesLost, maxGapMs, rarpCount, event. */
export function evaluateDeferred(spec: ExpectationSpec, ev: RunEvidence, windowMs: [number, number]): ExpectationResult {
  const c = spec.check;
  switch (c.kind) {
    case 'framesLost':
    case 'maxGapMs': {
      const s = ev.streams.get(c.stream);
      if (!s) return result(spec, false, `a report for stream ${c.stream}`, 'no report (the stream never started)');
      const line = `stream ${s.name} ${s.from} -> ${s.to}: sent ${s.sent ?? '?'}, received ${s.received}, lost ${s.lost}, longest gap ${fmtMs(s.maxGapMs)}${s.maxGapAtMs !== null ? ` starting at ${fmtMs(s.maxGapAtMs)}` : ''}${s.error ? ` (${s.error})` : ''}`;
      if (c.kind === 'framesLost') {
        const okLost = s.lost >= c.min && s.lost <= c.max && s.sent !== 0;
        return result(spec, okLost, `${rangeText(c.min, c.max, 'frames')} lost`, s.sent === 0 ? 'the stream sent nothing' : `${s.lost} lost of ${s.sent ?? '?'} sent`, [line]);
      }
      const okGap = s.maxGapMs >= c.min && s.maxGapMs <= c.max && s.received > 0;
      return result(spec, okGap, `longest gap ${c.min > 0 ? `${c.min}-${c.max}` : `at most ${c.max}`} ms`, s.received === 0 ? 'nothing was received' : `longest gap ${fmtMs(s.maxGapMs)}`, [line]);
    }
    case 'rarpCount': {
      if (!ev.capturedPoints.has(c.point)) return result(spec, false, `a capture at ${c.point}`, `${c.point} was not captured`);
      const [from, to] = windowMs;
      const inWindow = ev.rarps.filter((r) => r.point === c.point && r.sceneMs >= from && r.sceneMs <= to);
      const matching = inWindow.filter((r) => (c.mac === undefined || r.mac === c.mac) && (c.direction === 'any' || r.direction === c.direction));
      const n = matching.length;
      const lines = matching.map((r) => `${fmtMs(r.sceneMs)} ${r.point} ${r.direction} RARP who-is ${macToString(r.mac)} tell ${macToString(r.mac)}${r.vlan !== undefined ? ` vlan ${r.vlan}` : ''}`);
      const other = inWindow.length - n;
      if (other > 0) lines.push(`(${other} other RARP frame(s) at ${c.point} in the window did not match)`);
      return result(spec, n >= c.min && n <= c.max, `${rangeText(c.min, c.max, 'RARP frames')}${c.macText ? ` for ${c.macText}` : ''} at ${c.point} between ${fmtMs(from)} and ${fmtMs(to)}`,
        `${n}`, lines, windowMs);
    }
    case 'event': {
      const [from, to] = windowMs;
      const same = ev.timeline.filter((e) => e.source === c.source && e.type === c.type);
      const hits = same.filter((e) => eventMatches(e, c.source, c.type, c.match) && e.sceneMs >= from && e.sceneMs <= to);
      const n = hits.length;
      const expected = `${c.max === 0 ? 'no' : rangeText(c.min, c.max, '')} ${c.type} event(s) from ${c.source}${Object.keys(c.match).length ? ` matching ${JSON.stringify(c.match)}` : ''} between ${fmtMs(from)} and ${fmtMs(to)}`.replace(/\s+/g, ' ');
      const evidence = (n > 0 ? hits : same.length > 0 ? same : ev.timeline.filter((e) => e.source === c.source)).map(formatTimelineLine);
      if (n === 0 && same.length === 0) evidence.unshift(`(no ${c.type} events from ${c.source} at all; its events:)`);
      else if (n === 0) evidence.unshift(`(${c.type} events from ${c.source} outside the window or not matching:)`);
      return result(spec, n >= c.min && n <= c.max, expected, `${n}`, evidence, windowMs);
    }
    default:
      return result(spec, false, 'a check evaluated at the expect step', `${c.kind} is not evaluated at the end (runner bug)`);
  }
}

/** Checks evaluated at the expect step from a snapshot: macTable, ping, uplinkCarries, uplinkIdle. */
export function evaluateSnapshot(spec: ExpectationSpec, obs: Observation): ExpectationResult {
  const c = spec.check;
  if (obs.kind === 'error') return result(spec, false, describe(c), `could not observe: ${obs.message}`);
  switch (c.kind) {
    case 'macTable': {
      if (obs.kind !== 'macTable') break;
      const rows = obs.rows.filter((r) => r.mac.toLowerCase() === c.macText && (c.vlan === undefined || r.vlan === c.vlan));
      const lines = (rows.length ? rows : obs.rows).map((r) => `vlan ${r.vlan} ${r.mac} ${r.port}${r.moves !== undefined ? ` moves ${String(r.moves)}` : ''}`);
      if (rows.length === 0 && obs.rows.length > 0) lines.unshift(`(no entry for ${c.macText}; the table:)`);
      const where = c.vlan !== undefined ? ` in VLAN ${c.vlan}` : '';
      if (c.port === null) return result(spec, rows.length === 0, `no entry for ${c.macText}${where} on ${c.switch}`, rows.length === 0 ? 'none' : `at ${rows.map((r) => r.port).join(', ')}`, lines);
      const ok = rows.length > 0 && rows.every((r) => r.port === c.port);
      return result(spec, ok, `${c.macText}${where} at ${c.switch} ${c.port}`, rows.length === 0 ? 'not in the table' : `at ${[...new Set(rows.map((r) => r.port))].join(', ')}`, lines);
    }
    case 'ping': {
      if (obs.kind !== 'ping') break;
      const reachable = obs.received > 0;
      return result(spec, reachable === (c.expect === 'reachable'), `${c.to} ${c.expect} from ${c.from}`, `${obs.received}/${obs.sent} replies`, [obs.detail]);
    }
    case 'uplinkCarries':
    case 'uplinkIdle': {
      const carries = c.kind === 'uplinkCarries';
      const iface = c.endpoint.slice(c.endpoint.indexOf('.') + 1);
      if (obs.kind === 'portUplink') {
        const uses = obs.egressUplinks.includes(iface);
        const line = `${obs.port}: uplink ${obs.uplink ?? 'none'}${obs.reason ? ` (${obs.reason})` : ''}, egress uplinks [${obs.egressUplinks.join(', ')}]`;
        return result(spec, uses === carries, `${obs.port} ${carries ? 'sends on' : 'does not send on'} ${c.endpoint}`, `egress uplinks [${obs.egressUplinks.join(', ') || 'none'}]`, [line]);
      }
      if (obs.kind === 'uplinkFrames') {
        const line = `${obs.endpoint}: ${obs.deltaFrames} frames sent between ${fmtMs(obs.windowMs[0])} and ${fmtMs(obs.windowMs[1])}; stream ${c.stream} sent about ${Math.round(obs.expectedFrames)} in that time`;
        if (carries) {
          const min = c.minFrames ?? Math.max(1, Math.floor(obs.expectedFrames * CARRIES_DEFAULT_SHARE));
          return result(spec, obs.deltaFrames >= min, `at least ${min} frames out of ${c.endpoint}`, `${obs.deltaFrames}`, [line], obs.windowMs);
        }
        const limit = c.minFrames ?? Math.max(IDLE_MIN_THRESHOLD_FRAMES, Math.ceil(obs.expectedFrames * IDLE_DEFAULT_SHARE));
        return result(spec, obs.deltaFrames < limit, `fewer than ${limit} frames out of ${c.endpoint}`, `${obs.deltaFrames}`, [line], obs.windowMs);
      }
      break;
    }
    default:
      break;
  }
  return result(spec, false, describe(c), `wrong observation ${obs.kind} for ${c.kind} (runner bug)`);
}

function describe(c: Expectation): string {
  return c.kind;
}

/** Which checks need the whole run's evidence (evaluated after the last step). */
export function isDeferred(c: Expectation): boolean {
  return c.kind === 'framesLost' || c.kind === 'maxGapMs' || c.kind === 'rarpCount' || c.kind === 'event';
}

/** "expected X, got Y" plus indented evidence lines; what `vfab run` prints for a failed check. */
export function formatFailure(r: ExpectationResult): string {
  return [`FAIL ${r.id} ${r.name} (${r.where})`, `  expected ${r.expected}, got ${r.got}`, ...r.evidence.map((l) => `    ${l}`)].join('\n');
}
