// The scenario runner's core: runs the steps in order against a ScenarioDriver (which performs actions
// and observations; daemons/scenario/driver.ts does it over the fabric's control API, tests use fakes),
// keeps every step's start and end time, takes snapshots at expect steps, and after the last step
// evaluates the checks that need the whole run (streams, captures, events) over the collected evidence.
// Pure: no sockets, no timers of its own (time and sleeping come from the driver). Leaves out bringing
// the fabric up and down and writing output files (daemons/scenario/run.ts).

import type { ActionStep, ExpectationSpec, Scenario, Step } from './model.js';
import { describeAction } from './model.js';
import {
  type ExpectationResult, type MacTableRow, type Observation, type RunEvidence,
  evaluateDeferred, evaluateSnapshot, isDeferred,
} from './evaluate.js';
import { type TimelineEntry, mergeTimeline } from './timeline.js';

/** Name of the capture the runner starts by itself for rarpCount points no capture step covers. */
export const AUTO_CAPTURE_NAME = 'rarp-points';

export interface PortUplink {
  port: string;
  uplink: string | null;
  egressUplinks: string[];
  reason?: string;
}

export interface ScenarioDriver {
  /** Scene time: fabric ms since the scenario started. */
  nowMs(): number;
  /** Waits `ms` of fabric time. */
  sleep(ms: number): Promise<void>;
  /** Performs an action other than wait; may return a detail line for the timeline. */
  act(action: ActionStep): Promise<string | undefined>;
  macTable(switchName: string): Promise<MacTableRow[]>;
  ping(from: string, to: string, count: number): Promise<{ sent: number; received: number; detail: string }>;
  /** The uplink(s) a VM's first vNIC port sends on now. */
  portUplink(vm: string): Promise<PortUplink>;
  /** Frames sent so far on every host uplink, by endpoint ("esx1.vmnic0"). */
  uplinkTxFrames(): Promise<Record<string, number>>;
  /** Ends the run's measurements: waits for streams, stops captures, gathers every daemon's events. */
  collect(): Promise<RunEvidence>;
  /** How far (scene ms) a daemon's timestamps may be off the driver's clock; windows open this much earlier. */
  clockSlackMs?(): number;
  /** True once the user asked to stop (Ctrl-C): the runner stops before the next step. */
  aborted?(): boolean;
}

export interface StepRecord {
  index: number;
  label?: string;
  description: string;
  startMs: number;
  endMs: number;
  detail?: string;
  error?: string;
}

export interface RunResult {
  scenario: string;
  passed: boolean;
  steps: StepRecord[];
  results: ExpectationResult[];
  timeline: TimelineEntry[];
  durationMs: number;
  /** The run broke (a step failed or was interrupted); checks not reached are failed with this reason. */
  error?: string;
}

/** Points named by rarpCount checks that no capture step captures: the runner captures them from the start. */
export function autoCapturePoints(s: Scenario): string[] {
  const captured = new Set<string>();
  const wanted = new Set<string>();
  for (const step of s.steps) {
    if (step.kind === 'action' && step.action.kind === 'capture') for (const p of step.action.points) captured.add(p);
    if (step.kind === 'expect') for (const e of step.expectations) if (e.check.kind === 'rarpCount') wanted.add(e.check.point);
  }
  return [...wanted].filter((p) => !captured.has(p));
}

/** The step a check's time window starts at: its `after` label, else the last action before it that is not a wait or capture. */
export function anchorStep(s: Scenario, expectStep: Step, after?: string): Step | undefined {
  if (after !== undefined) return s.steps.find((x) => x.label === after);
  let found: Step | undefined;
  for (const x of s.steps) {
    if (x.index >= expectStep.index) break;
    if (x.kind === 'action' && x.action.kind !== 'wait' && x.action.kind !== 'capture') found = x;
  }
  return found;
}

export async function runScenario(s: Scenario, driver: ScenarioDriver): Promise<RunResult> {
  const records = new Map<number, StepRecord>();
  const own: TimelineEntry[] = [];
  const results = new Map<string, ExpectationResult>();
  const deferred: Array<{ spec: ExpectationSpec; windowMs: [number, number] }> = [];
  const counterSnapshots = new Map<number, { atMs: number; frames: Record<string, number> }>();
  const traffic = new Map<string, { action: ActionStep & { kind: 'traffic' }; startMs: number }>();
  const needCounters = s.steps.some((x) => x.kind === 'expect' && x.expectations.some((e) => (e.check.kind === 'uplinkCarries' || e.check.kind === 'uplinkIdle') && e.check.stream !== undefined));
  let error: string | undefined;
  let baseline: { atMs: number; frames: Record<string, number> } | undefined;

  const note = (type: string, fields: Record<string, unknown>, atMs = driver.nowMs()) => own.push({ sceneMs: atMs, source: 'runner', type, fields });

  try {
    const auto = autoCapturePoints(s);
    if (auto.length > 0) {
      const name = s.steps.some((x) => x.kind === 'action' && x.action.kind === 'capture' && x.action.name === AUTO_CAPTURE_NAME) ? `${AUTO_CAPTURE_NAME}-auto` : AUTO_CAPTURE_NAME;
      await driver.act({ kind: 'capture', name, points: auto });
      note('capture', { name, points: auto.join(','), why: 'rarpCount points' });
    }
    if (needCounters) baseline = { atMs: driver.nowMs(), frames: await driver.uplinkTxFrames() };
  } catch (e) {
    error = `setup failed: ${(e as Error).message}`;
  }

  for (const step of s.steps) {
    if (error !== undefined) break;
    if (driver.aborted?.()) {
      error = `interrupted before step ${step.index}`;
      break;
    }
    const startMs = driver.nowMs();
    const rec: StepRecord = { index: step.index, ...(step.label ? { label: step.label } : {}), description: step.kind === 'action' ? describeAction(step.action) : `expect (${step.expectations.length})`, startMs, endMs: startMs };
    records.set(step.index, rec);
    if (step.kind === 'action') {
      note('step', { step: step.index, ...(step.label ? { label: step.label } : {}), action: rec.description, ...(step.note ? { note: step.note } : {}) }, startMs);
      try {
        if (step.action.kind === 'wait') await driver.sleep(step.action.ms);
        else {
          const detail = await driver.act(step.action);
          if (detail) rec.detail = detail;
        }
        if (step.action.kind === 'traffic') traffic.set(step.action.name, { action: step.action, startMs });
        if (needCounters && step.action.kind !== 'wait' && step.action.kind !== 'capture') counterSnapshots.set(step.index, { atMs: driver.nowMs(), frames: await driver.uplinkTxFrames() });
      } catch (e) {
        rec.error = (e as Error).message;
        error = `step ${step.index} (${rec.description}) failed: ${rec.error}`;
        note('step-failed', { step: step.index, error: rec.error });
      }
      rec.endMs = driver.nowMs();
      if (rec.detail) note('step-done', { step: step.index, detail: rec.detail }, rec.endMs);
      continue;
    }
    // expect block
    const atMs = driver.nowMs();
    for (const spec of step.expectations) {
      const c = spec.check;
      if (isDeferred(c)) {
        let windowMs: [number, number] = [0, atMs];
        if (c.kind === 'rarpCount' || c.kind === 'event') {
          const anchor = anchorStep(s, step, c.after);
          const from = anchor ? Math.max(0, (records.get(anchor.index)?.startMs ?? 0) - (driver.clockSlackMs?.() ?? 0)) : 0;
          windowMs = [from, c.withinMs !== undefined ? from + c.withinMs : atMs];
        }
        deferred.push({ spec, windowMs });
        continue;
      }
      const obs = await observe(spec, step);
      const r = evaluateSnapshot(spec, obs);
      results.set(spec.id, r);
      note('check', { id: spec.id, passed: r.passed, name: spec.name, ...(r.passed ? {} : { expected: r.expected, got: r.got }) }, driver.nowMs());
    }
    rec.endMs = driver.nowMs();
  }

  let evidence: RunEvidence;
  try {
    evidence = await driver.collect();
  } catch (e) {
    error ??= `collecting evidence failed: ${(e as Error).message}`;
    evidence = { timeline: [], streams: new Map(), rarps: [], capturedPoints: new Set() };
  }
  for (const { spec, windowMs } of deferred) results.set(spec.id, evaluateDeferred(spec, evidence, windowMs));
  // checks never reached fail with the reason
  const ordered: ExpectationResult[] = [];
  for (const step of s.steps) {
    if (step.kind !== 'expect') continue;
    for (const spec of step.expectations) {
      const r = results.get(spec.id) ?? {
        id: spec.id, name: spec.name, kind: spec.check.kind, passed: false, expected: spec.name, got: `not checked: ${error ?? 'the run stopped early'}`,
        evidence: [], where: `${spec.loc.file}:${spec.loc.line}:${spec.loc.column}`,
      };
      ordered.push(r);
    }
  }
  const endMs = driver.nowMs();
  const timeline = mergeTimeline(evidence.timeline, own);
  return {
    scenario: s.name,
    passed: error === undefined && ordered.every((r) => r.passed),
    steps: s.steps.map((x) => records.get(x.index)).filter((x): x is StepRecord => x !== undefined),
    results: ordered,
    timeline,
    durationMs: endMs,
    ...(error !== undefined ? { error } : {}),
  };

  async function observe(spec: ExpectationSpec, step: Step): Promise<Observation> {
    const c = spec.check;
    try {
      switch (c.kind) {
        case 'macTable': return { kind: 'macTable', rows: await driver.macTable(c.switch) };
        case 'ping': return { kind: 'ping', ...(await driver.ping(c.from, c.to, c.count)) };
        case 'uplinkCarries':
        case 'uplinkIdle': {
          if (c.vm !== undefined) return { kind: 'portUplink', vm: c.vm, ...(await driver.portUplink(c.vm)) };
          const t = traffic.get(c.stream!);
          if (!t) return { kind: 'error', message: `stream ${c.stream} has not started` };
          const anchor = anchorStep(s, step, c.after);
          const snap = (anchor && counterSnapshots.get(anchor.index)) ?? baseline;
          if (!snap) return { kind: 'error', message: 'no uplink counters were taken before this check' };
          const now = await driver.uplinkTxFrames();
          const nowMs = driver.nowMs();
          const streamEndMs = t.startMs + t.action.seconds * 1000;
          const overlapMs = Math.max(0, Math.min(nowMs, streamEndMs) - Math.max(snap.atMs, t.startMs));
          return {
            kind: 'uplinkFrames', endpoint: c.endpoint,
            deltaFrames: (now[c.endpoint] ?? 0) - (snap.frames[c.endpoint] ?? 0),
            expectedFrames: (t.action.ratePps * overlapMs) / 1000,
            windowMs: [snap.atMs, nowMs],
          };
        }
        default: return { kind: 'error', message: `${c.kind} is not a snapshot check` };
      }
    } catch (e) {
      return { kind: 'error', message: (e as Error).message };
    }
  }
}
