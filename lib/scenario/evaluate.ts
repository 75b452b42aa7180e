// Checking a scenario's expectations against collected evidence: the merged timeline, stream reports,
// RARP frames from captures, and snapshots taken at the expect step (MAC tables, pings, port uplinks,
// uplink counters). Pure: no I/O, times are scene ms (fabric time since the scenario started). Each check
// says what was expected, what happened, and the evidence (timeline lines, frames, table rows). RARP
// frames follow spec §3.10-3.11 (EtherType 0x8035, op 3); MAC-table moves spec §6.6. Datastore checks
// (file locks, a host's datastore state, power-on outcomes and races) follow docs/vsphere-behaviour.md §7.

import type { Mac } from '../wire/mac.js';
import { macToString } from '../wire/mac.js';
import type { Expectation, ExpectationSpec, PowerOutcome } from './model.js';
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

/** One file of a datastore as hostd lists it (GET /control/datastores/:ds/files). */
export interface DatastoreFileRow {
  path: string;
  type?: string;
  lock: { mode: string; generation?: number; holders: Array<{ owner: string; slot?: number; slotGeneration?: number; heartbeat?: string }> };
}

/** One power-on or power-off as the driver performed it. */
export interface PowerAttempt {
  host: string;
  on: boolean;
  outcome: PowerOutcome;
  /** The error code when it failed (VFAB_DATASTORE_LOCKED for `locked`). */
  code?: string;
  /** What hostd answered: the files opened, or the error message. */
  message: string;
  /** Fabric ms the request took. */
  tookMs: number;
}

/** One round of a vmPowerOnRace: every host's power-on, then the winner's power-off. */
export interface RaceRound {
  attempts: PowerAttempt[];
  powerOff: PowerAttempt[];
}

/** What the runner observed for a snapshot expectation at the expect step. */
export type Observation =
  | { kind: 'datastoreFiles'; via: string; files: DatastoreFileRow[] }
  | { kind: 'datastoreState'; host: string; state: string | null; error?: string | null }
  | { kind: 'macTable'; rows: MacTableRow[] }
  | { kind: 'ping'; sent: number; received: number; detail: string }
  | { kind: 'portUplink'; vm: string; port: string; uplink: string | null; egressUplinks: string[]; reason?: string }
  | { kind: 'uplinkFrames'; endpoint: string; deltaFrames: number; expectedFrames: number; windowMs: [number, number] }
  /** A point's counters now and at the start of the check's window (`before` null: the window starts at zero). */
  | { kind: 'counters'; point: string; before: Record<string, number> | null; now: Record<string, number>; windowMs: [number, number] }
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
      const evidence = (n > 0 ? hits : same.length > 0 ? same : ev.timeline.filter((e) => e.source === c.source)).map((e) => formatTimelineLine(e));
      if (n === 0 && same.length === 0) evidence.unshift(`(no ${c.type} events from ${c.source} at all; its events:)`);
      else if (n === 0) evidence.unshift(`(${c.type} events from ${c.source} outside the window or not matching:)`);
      return result(spec, n >= c.min && n <= c.max, expected, `${n}`, evidence, windowMs);
    }
    default:
      return result(spec, false, 'a check evaluated at the expect step', `${c.kind} is not evaluated at the end (runner bug)`);
  }
}

/** Checks evaluated at the expect step from a snapshot: macTable, counter, ping, uplinkCarries, uplinkIdle, lock, datastoreState. */
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
    case 'macCount': {
      if (obs.kind !== 'macTable') break;
      const rows = obs.rows.filter((r) => (c.vlan === undefined || r.vlan === c.vlan) && (c.port === undefined || r.port === c.port));
      const where = `${c.vlan !== undefined ? ` in VLAN ${c.vlan}` : ''}${c.port !== undefined ? ` at ${c.port}` : ''}`;
      const lines = rows.map((r) => `vlan ${r.vlan} ${r.mac} ${r.port}${r.moves !== undefined ? ` moves ${String(r.moves)}` : ''}`);
      if (rows.length === 0 && obs.rows.length > 0) lines.push(`(no entry${where}; the table has ${obs.rows.length})`);
      return result(spec, rows.length >= c.min && rows.length <= c.max, `${rangeText(c.min, c.max, 'MAC entries')}${where} on ${c.switch}`, `${rows.length}`, lines);
    }
    case 'counter': {
      if (obs.kind !== 'counters') break;
      const expected = `${c.point} ${c.name} to grow by ${rangeText(c.min, c.max, '')}`.trimEnd() + ` between ${fmtMs(obs.windowMs[0])} and ${fmtMs(obs.windowMs[1])}`;
      const now = obs.now[c.name];
      if (now === undefined) return result(spec, false, expected, `${c.point} has no counter ${c.name}`, [`its counters: ${Object.keys(obs.now).join(', ')}`]);
      const before = obs.before?.[c.name] ?? 0;
      const grew = now - before;
      const lines = [`${c.point} ${c.name}: ${before} -> ${now}`];
      // what else moved at the point: the drop that did happen when the expected one did not
      const others = Object.entries(obs.now).filter(([k, v]) => k !== c.name && v !== (obs.before?.[k] ?? 0)).map(([k, v]) => `${k} +${v - (obs.before?.[k] ?? 0)}`);
      if (others.length) lines.push(`other counters of ${c.point} that changed: ${others.join(', ')}`);
      if (now < before) lines.push('(the counter went down: the daemon restarted or its counters were reset)');
      return result(spec, grew >= c.min && grew <= c.max, expected, `${grew}`, lines, obs.windowMs);
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
    case 'lock': {
      if (obs.kind !== 'datastoreFiles') break;
      const f = obs.files.find((x) => x.path === c.file);
      const want = c.owner === null ? 'not locked (mode free)' : `locked by ${c.owner}${c.mode ? ` (${c.mode})` : ''}`;
      const expected = `${c.datastore} ${c.file} ${want}`;
      if (!f) {
        const paths = obs.files.map((x) => x.path);
        return result(spec, false, expected, `no file ${c.file} on ${c.datastore}`, [`read through ${obs.via}; files: ${paths.join(', ') || 'none'}`]);
      }
      const owners = f.lock.holders.map((h) => h.owner);
      const ok = c.owner === null
        ? f.lock.mode === 'free' && owners.length === 0
        : f.lock.mode !== 'free' && owners.includes(c.owner) && (c.mode === undefined || f.lock.mode === c.mode) && (f.lock.mode !== 'exclusive' || owners.length === 1);
      return result(spec, ok, expected, lockText(f), [`${describeLock(f)} (read through ${obs.via})`]);
    }
    case 'datastoreState': {
      if (obs.kind !== 'datastoreState') break;
      const got = obs.state ?? `${c.datastore} not listed`;
      return result(spec, obs.state === c.state, `${c.host} sees ${c.datastore} ${c.state}`, got, [`${obs.host}: ${c.datastore} ${got}${obs.error ? ` (${obs.error})` : ''}`]);
    }
    default:
      break;
  }
  return result(spec, false, describe(c), `wrong observation ${obs.kind} for ${c.kind} (runner bug)`);
}

/** A polled check's final result: its window in the expected text and the states seen while polling as evidence. */
export function withPollEvidence(r: ExpectationResult, p: { withinMs: number; fromMs: number; toMs: number; polls: number; seen: string[] }): ExpectationResult {
  const seen = p.seen.length > MAX_EVIDENCE_LINES / 2 ? [...p.seen.slice(0, MAX_EVIDENCE_LINES / 4), `... ${p.seen.length - MAX_EVIDENCE_LINES / 2} more changes`, ...p.seen.slice(-MAX_EVIDENCE_LINES / 4)] : p.seen;
  const head = `polled ${p.polls} time(s) between ${fmtMs(p.fromMs)} and ${fmtMs(p.toMs)}; seen:`;
  return { ...r, expected: `${r.expected} within ${p.withinMs} ms`, evidence: [head, ...seen.map((l) => `  ${l}`), ...r.evidence].slice(0, MAX_EVIDENCE_LINES + 1), windowMs: [p.fromMs, p.toMs] };
}

/** "exclusive by esx2", "free": a file's lock in a few words (what a lock check got). */
export function lockText(f: DatastoreFileRow): string {
  const owners = f.lock.holders.map((h) => h.owner);
  return `${f.lock.mode}${owners.length ? ` by ${owners.join(', ')}` : ''}`;
}

function describeLock(f: DatastoreFileRow): string {
  const holders = f.lock.holders.map((h) => `${h.owner}${h.slot !== undefined ? ` (slot ${h.slot} gen ${h.slotGeneration ?? '?'}${h.heartbeat ? `, heartbeat ${h.heartbeat}` : ''})` : ''}`);
  return `${f.path}: ${f.lock.mode}${f.lock.generation !== undefined ? `, lock generation ${f.lock.generation}` : ''}, holders: ${holders.join(', ') || 'none'}`;
}

function attemptLine(a: PowerAttempt): string {
  return `${a.host}: power-${a.on ? 'on' : 'off'} ${a.outcome}${a.code ? ` ${a.code}` : ''} in ${fmtMs(a.tookMs)}: ${a.message}`;
}

/** A vmPower step's outcome against what it expected. */
export function evaluatePower(spec: ExpectationSpec, a: PowerAttempt): ExpectationResult {
  const c = spec.check;
  if (c.kind !== 'vmPower') return result(spec, false, c.kind, 'not a power step (runner bug)');
  return result(spec, a.outcome === c.expect, c.expect, a.outcome === 'ok' ? 'ok' : `${a.outcome} (${a.code ?? 'no code'})`, [attemptLine(a)]);
}

/** A vmPowerOnRace: every round needs exactly one winner, every other host refused as locked, and the winner's power-off to succeed. */
export function evaluateRace(spec: ExpectationSpec, rounds: RaceRound[]): ExpectationResult {
  const c = spec.check;
  if (c.kind !== 'vmPowerRace') return result(spec, false, c.kind, 'not a race step (runner bug)');
  const bad: string[] = [];
  const lines: string[] = [];
  const wins = new Map<string, number>();
  rounds.forEach((r, i) => {
    const winners = r.attempts.filter((a) => a.outcome === 'ok').map((a) => a.host);
    const others = r.attempts.filter((a) => a.outcome !== 'ok');
    for (const w of winners) wins.set(w, (wins.get(w) ?? 0) + 1);
    const problems = [
      ...(winners.length !== 1 ? [`${winners.length} winners`] : []),
      ...others.filter((a) => a.outcome !== 'locked').map((a) => `${a.host} ${a.outcome} (${a.code ?? 'no code'})`),
      ...r.powerOff.filter((a) => a.outcome !== 'ok').map((a) => `power-off on ${a.host} ${a.outcome}`),
    ];
    if (problems.length) bad.push(`round ${i + 1}: ${problems.join(', ')}`);
    lines.push(`round ${i + 1}: ${winners.length ? `${winners.join(' and ')} won` : 'nobody won'}${others.length ? `; ${others.map((a) => `${a.host} ${a.outcome}`).join(', ')}` : ''}`);
    for (const a of [...r.attempts, ...r.powerOff]) if (a.outcome !== 'ok' || problems.length) lines.push(`  ${attemptLine(a)}`);
  });
  const ok = rounds.length === c.rounds && bad.length === 0;
  const tally = [...wins].map(([h, n]) => `${h} ${n}`).join(', ');
  const got = bad.length ? bad.join('; ') : rounds.length !== c.rounds ? `${rounds.length} of ${c.rounds} rounds ran` : `one winner in each of ${rounds.length} round(s) (wins: ${tally})`;
  return result(spec, ok, `exactly one winner in each of ${c.rounds} round(s), the other host(s) refused as locked`, got, lines);
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
