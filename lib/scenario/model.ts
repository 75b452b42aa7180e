// The typed scenario model that lib/scenario/load.ts builds from a scenario YAML file: the topology it
// runs on, the time scale, and ordered steps (actions and expect blocks). Plain data; every step and
// expectation keeps its source location for error messages and reports. Every time in a scenario is
// fabric time (the daemons' scaled clock), in ms. Leaves out running (runner.ts) and checking
// (evaluate.ts). Teaming semantics the shipped scenarios exercise: spec §3 and §6.

import type { Mac } from '../wire/mac.js';
import type { SourceLoc } from '../topology/model.js';

/** Largest scenario file read; checked before parsing. */
export const MAX_SCENARIO_FILE_BYTES = 1024 * 1024;
/** Longest single `wait` (fabric time). */
export const MAX_WAIT_MS = 3_600_000;
/** Default frame size of a traffic step. */
export const DEFAULT_FRAME_BYTES = 128;
/** First UDP port given to traffic steps without one (stream n gets BASE + n). */
export const STREAM_UDP_PORT_BASE = 9000;
export const DEFAULT_PING_COUNT = 3;

export type ActionStep =
  | { kind: 'traffic'; name: string; streamId: number; from: string; to: string; ratePps: number; frameBytes: number; seconds: number; udpPort: number }
  | { kind: 'ping'; from: string; to: string; count: number }
  | { kind: 'link'; endpoint: string; up: boolean }
  | { kind: 'impair'; endpoint: string; lossPercent?: number; direction?: 'tx' | 'rx' | 'both'; delayMs?: number; jitterMs?: number; seed?: number; clear: boolean }
  | { kind: 'flap'; endpoint: string; periodMs: number; downMs: number; count: number }
  | { kind: 'shut'; endpoint: string; shutdown: boolean }
  | { kind: 'kill'; node: string }
  | { kind: 'restart'; node: string }
  | { kind: 'power'; vm: string; on: boolean }
  | { kind: 'setMac'; vm: string; nic?: string; mac: Mac; macText: string }
  | { kind: 'wait'; ms: number }
  | { kind: 'capture'; name: string; points: string[] };

export type Expectation =
  | { kind: 'framesLost'; stream: string; max: number; min: number }
  | { kind: 'maxGapMs'; stream: string; max: number; min: number }
  | { kind: 'uplinkCarries' | 'uplinkIdle'; endpoint: string; stream?: string; vm?: string; minFrames?: number; after?: string }
  | { kind: 'rarpCount'; point: string; mac?: Mac; macText?: string; direction: 'in' | 'out' | 'any'; min: number; max: number; after?: string; withinMs?: number }
  | { kind: 'macTable'; switch: string; vlan?: number; mac: Mac; macText: string; port: string | null }
  | { kind: 'event'; source: string; type: string; match: Record<string, string | number | boolean>; min: number; max: number; after?: string; withinMs?: number }
  | { kind: 'ping'; from: string; to: string; expect: 'reachable' | 'unreachable'; count: number };

export type ExpectationKind = Expectation['kind'];

export interface ExpectationSpec {
  /** Stable id: `<step index>.<item index>` (1-based), e.g. "7.2". */
  id: string;
  /** JUnit test case name: the `name` field, else a generated summary. */
  name: string;
  check: Expectation;
  loc: SourceLoc;
}

export type Step =
  | { index: number; label?: string; note?: string; kind: 'action'; action: ActionStep; loc: SourceLoc }
  | { index: number; label?: string; note?: string; kind: 'expect'; expectations: ExpectationSpec[]; loc: SourceLoc };

export interface Scenario {
  name: string;
  description: string;
  file: string;
  /** As written (relative to the scenario file). */
  topology: string;
  timeScale: number;
  steps: Step[];
}

/** Milliseconds from a duration as written: a number (ms) or text "500ms", "2s", "1.5s", "1m". */
export function parseDurationMs(value: number | string): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)\s*$/.exec(value);
  if (!m) return undefined;
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : n * 60_000;
}

/** One-line description of an action, for the timeline and reports. */
export function describeAction(a: ActionStep): string {
  switch (a.kind) {
    case 'traffic': return `traffic ${a.name}: ${a.from} -> ${a.to}, ${a.ratePps} pps x ${a.frameBytes} B for ${a.seconds} s`;
    case 'ping': return `ping ${a.from} -> ${a.to} (${a.count})`;
    case 'link': return `link ${a.endpoint} ${a.up ? 'up' : 'down'}`;
    case 'impair': return a.clear ? `impair ${a.endpoint}: clear` : `impair ${a.endpoint}: ${[
      a.lossPercent !== undefined ? `loss ${a.lossPercent}%` : '', a.direction ? `dir ${a.direction}` : '',
      a.delayMs !== undefined ? `delay ${a.delayMs} ms` : '', a.jitterMs !== undefined ? `jitter ${a.jitterMs} ms` : '',
      a.seed !== undefined ? `seed ${a.seed}` : ''].filter(Boolean).join(', ')}`;
    case 'flap': return `flap ${a.endpoint}: ${a.count} x (down ${a.downMs} ms every ${a.periodMs} ms)`;
    case 'shut': return `${a.shutdown ? 'shutdown' : 'no shutdown'} ${a.endpoint}`;
    case 'kill': return `kill ${a.node}`;
    case 'restart': return `restart ${a.node}`;
    case 'power': return `power ${a.on ? 'on' : 'off'} ${a.vm}`;
    case 'setMac': return `set MAC of ${a.vm}${a.nic ? `.${a.nic}` : ''} to ${a.macText}`;
    case 'wait': return `wait ${a.ms} ms`;
    case 'capture': return `capture ${a.name}: ${a.points.join(', ')}`;
  }
}

/** One-line description of an expectation (the default JUnit name). */
export function describeExpectation(e: Expectation): string {
  const range = (min: number, max: number) => (max === Infinity ? `at least ${min}` : min === max ? `exactly ${min}` : `${min}-${max}`);
  switch (e.kind) {
    case 'framesLost': return `stream ${e.stream} loses ${e.min > 0 ? `${e.min}-${e.max}` : `at most ${e.max}`} frames`;
    case 'maxGapMs': return `stream ${e.stream} has no gap longer than ${e.max} ms${e.min > 0 ? ` (and one of at least ${e.min} ms)` : ''}`;
    case 'uplinkCarries': return `${e.endpoint} carries ${e.stream ? `stream ${e.stream}` : `${e.vm}'s traffic`}`;
    case 'uplinkIdle': return `${e.endpoint} does not carry ${e.stream ? `stream ${e.stream}` : `${e.vm}'s traffic`}`;
    case 'rarpCount': return `${range(e.min, e.max)} RARPs${e.macText ? ` for ${e.macText}` : ''} at ${e.point}${e.direction === 'any' ? '' : ` (${e.direction})`}`;
    case 'macTable': return e.port === null
      ? `${e.switch} has no entry for ${e.macText}${e.vlan !== undefined ? ` in VLAN ${e.vlan}` : ''}`
      : `${e.switch} has ${e.macText}${e.vlan !== undefined ? ` in VLAN ${e.vlan}` : ''} at ${e.port}`;
    case 'event': {
      const m = Object.entries(e.match).map(([k, v]) => `${k}=${String(v)}`).join(' ');
      const count = e.min === 1 && e.max === Infinity ? 'an' : e.max === 0 ? 'no' : range(e.min, e.max);
      return `${count} ${e.type} event from ${e.source}${m ? ` with ${m}` : ''}${e.withinMs !== undefined ? ` within ${e.withinMs} ms` : ''}`;
    }
    case 'ping': return `${e.from} ${e.expect === 'reachable' ? 'reaches' : 'does not reach'} ${e.to}`;
  }
}
