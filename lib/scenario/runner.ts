// The scenario runner's core: runs the steps in order against a ScenarioDriver (which performs actions
// and observations; daemons/scenario/driver.ts does it over the fabric's control API, tests use fakes),
// keeps every step's start and end time, takes snapshots at expect steps (polling the datastore checks
// until they hold or their window ends), checks the outcome of power steps and races as they run, and
// after the last step evaluates the checks that need the whole run (streams, captures, events) over the
// collected evidence.
// Pure: no sockets, no timers of its own (time and sleeping come from the driver). Leaves out bringing
// the fabric up and down and writing output files (daemons/scenario/run.ts).

import type { ActionStep, ExpectationSpec, Scenario, Step } from './model.js';
import { describeAction } from './model.js';
import {
  type DatastoreFileRow, type ExpectationResult, type MacTableRow, type Observation, type PowerAttempt, type RaceRound, type RunEvidence,
  evaluateDeferred, evaluatePower, evaluateRace, evaluateSnapshot, isDeferred, withPollEvidence,
} from './evaluate.js';
import { type TimelineEntry, mergeTimeline } from './timeline.js';

/** Name of the capture the runner starts by itself for rarpCount points no capture step covers. */
export const AUTO_CAPTURE_NAME = 'rarp-points';

/** Shortest and longest pause (fabric ms) between two polls of a lock or datastoreState check. */
export const MIN_POLL_INTERVAL_MS = 250;
export const MAX_POLL_INTERVAL_MS = 5_000;
/** A polled check looks this many times per window (within the bounds above). */
export const POLLS_PER_WINDOW = 20;

export function pollIntervalMs(withinMs: number): number {
  return Math.min(MAX_POLL_INTERVAL_MS, Math.max(MIN_POLL_INTERVAL_MS, withinMs / POLLS_PER_WINDOW));
}

/** One power operation the runner asks the driver for (a vmPower step, or one host's part of a race). */
export interface PowerRequest {
  vm: string;
  host: string;
  datastore?: string;
  on: boolean;
  maxWaitMs?: number;
}

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
  /** Every counter of each point (lib/counters/counters.ts names), by point; throws for a point no daemon has. */
  counters(points: string[]): Promise<Record<string, Record<string, number>>>;
  /** Powers a VM on or off through a host's datastore; a refusal is an outcome (`locked`, `fails`), not a throw. */
  vmPower(req: PowerRequest): Promise<PowerAttempt>;
  /** A datastore's files with their locks, read through `via` (default: a running host that lists it). */
  datastoreFiles(datastore: string, via?: string): Promise<{ via: string; files: DatastoreFileRow[] }>;
  /** The state `host` reports for `datastore` (null: it does not list it). */
  datastoreState(host: string, datastore: string): Promise<{ state: string | null; error?: string | null }>;
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

/**
 * What a caller may watch while a run goes on (the web view of `vfab run --ui`): each step as it starts
 * and ends, and each expectation once its result is known (snapshot checks and power outcomes at once,
 * event/RARP checks and checks never reached after the run's evidence is collected). Each is called at
 * most once per step start, per step end (a traffic step whose stream sent nothing ends again, failed)
 * and per expectation. A hook that throws is ignored: watching never changes the run.
 */
export interface RunHooks {
  stepStarted?(rec: Readonly<StepRecord>): void;
  stepEnded?(rec: Readonly<StepRecord>): void;
  /** `stepIndex`: the step that declares the check (an expect block, or a power step's outcome). */
  expectation?(r: Readonly<ExpectationResult>, stepIndex: number): void;
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

export async function runScenario(s: Scenario, driver: ScenarioDriver, hooks: RunHooks = {}): Promise<RunResult> {
  const told = new Set<string>();
  const tell = <K extends keyof RunHooks>(k: K, ...args: Parameters<NonNullable<RunHooks[K]>>) => {
    try {
      (hooks[k] as ((...a: unknown[]) => void) | undefined)?.(...args);
    } catch {
      // a watcher's failure is not the run's
    }
  };
  const tellResult = (r: ExpectationResult, stepIndex: number) => {
    if (told.has(r.id)) return;
    told.add(r.id);
    tell('expectation', r, stepIndex);
  };
  const records = new Map<number, StepRecord>();
  const own: TimelineEntry[] = [];
  const results = new Map<string, ExpectationResult>();
  const deferred: Array<{ spec: ExpectationSpec; windowMs: [number, number] }> = [];
  const counterSnapshots = new Map<number, { atMs: number; frames: Record<string, number> }>();
  const traffic = new Map<string, { action: ActionStep & { kind: 'traffic' }; startMs: number; index: number }>();
  // counter checks read their points when their anchor step starts (0: before the first step)
  const counterPoints = new Map<number, Set<string>>();
  for (const step of s.steps) {
    if (step.kind !== 'expect') continue;
    for (const e of step.expectations) {
      if (e.check.kind !== 'counter') continue;
      const at = anchorStep(s, step, e.check.after)?.index ?? 0;
      if (!counterPoints.has(at)) counterPoints.set(at, new Set());
      counterPoints.get(at)!.add(e.check.point);
    }
  }
  const countersBefore = new Map<number, { atMs: number; values: Record<string, Record<string, number>> }>();
  const readCounters = async (index: number) => {
    const points = counterPoints.get(index);
    if (points) countersBefore.set(index, { atMs: driver.nowMs(), values: await driver.counters([...points]) });
  };
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
    await readCounters(0);
  } catch (e) {
    error = `setup failed: ${(e as Error).message}`;
  }

  for (const step of s.steps) {
    if (error !== undefined) break;
    if (driver.aborted?.()) {
      error = `interrupted before step ${step.index}`;
      break;
    }
    try {
      await readCounters(step.index);
    } catch (e) {
      error = `reading counters before step ${step.index} failed: ${(e as Error).message}`;
      break;
    }
    const startMs = driver.nowMs();
    const rec: StepRecord = { index: step.index, ...(step.label ? { label: step.label } : {}), description: step.kind === 'action' ? describeAction(step.action) : `expect (${step.expectations.length})`, startMs, endMs: startMs };
    records.set(step.index, rec);
    tell('stepStarted', { ...rec });
    if (step.kind === 'action') {
      note('step', { step: step.index, ...(step.label ? { label: step.label } : {}), action: rec.description, ...(step.note ? { note: step.note } : {}) }, startMs);
      try {
        if (step.action.kind === 'wait') await driver.sleep(step.action.ms);
        else if (step.outcome) {
          const r = await runPowerStep(step.action, step.outcome);
          results.set(step.outcome.id, r);
          tellResult(r, step.index);
          rec.detail = r.got;
          note('check', { id: step.outcome.id, passed: r.passed, name: step.outcome.name, ...(r.passed ? {} : { expected: r.expected, got: r.got }) });
        } else {
          const detail = await driver.act(step.action);
          if (detail) rec.detail = detail;
        }
        if (step.action.kind === 'traffic') traffic.set(step.action.name, { action: step.action, startMs, index: step.index });
        if (needCounters && step.action.kind !== 'wait' && step.action.kind !== 'capture') counterSnapshots.set(step.index, { atMs: driver.nowMs(), frames: await driver.uplinkTxFrames() });
      } catch (e) {
        rec.error = (e as Error).message;
        error = `step ${step.index} (${rec.description}) failed: ${rec.error}`;
        note('step-failed', { step: step.index, error: rec.error });
      }
      rec.endMs = driver.nowMs();
      if (rec.detail) note('step-done', { step: step.index, detail: rec.detail }, rec.endMs);
      tell('stepEnded', { ...rec });
      continue;
    }
    // expect block
    const atMs = driver.nowMs();
    const open: Array<{ spec: ExpectationSpec; windowMs: [number, number] }> = [];
    for (const spec of step.expectations) {
      const c = spec.check;
      if (isDeferred(c)) {
        let windowMs: [number, number] = [0, atMs];
        if (c.kind === 'rarpCount' || c.kind === 'event') {
          const anchor = anchorStep(s, step, c.after);
          const from = anchor ? Math.max(0, (records.get(anchor.index)?.startMs ?? 0) - (driver.clockSlackMs?.() ?? 0)) : 0;
          windowMs = [from, c.withinMs !== undefined ? from + c.withinMs : atMs];
          if (c.withinMs === undefined) open.push({ spec, windowMs });
        }
        deferred.push({ spec, windowMs });
        continue;
      }
      const r = await poll(spec, step);
      results.set(spec.id, r);
      tellResult(r, step.index);
      note('check', { id: spec.id, passed: r.passed, name: spec.name, ...(r.passed ? {} : { expected: r.expected, got: r.got }) }, driver.nowMs());
    }
    // a block that polled (lock, datastoreState with withinMs) waited for what it polled: windows without
    // withinMs include that wait, so an event the awaited change logged counts
    if (step.expectations.some((e) => isPolled(e.check))) for (const o of open) o.windowMs[1] = driver.nowMs();
    rec.endMs = driver.nowMs();
    tell('stepEnded', { ...rec });
  }

  let evidence: RunEvidence;
  try {
    evidence = await driver.collect();
  } catch (e) {
    error ??= `collecting evidence failed: ${(e as Error).message}`;
    evidence = { timeline: [], streams: new Map(), rarps: [], capturedPoints: new Set() };
  }
  // a stream that sent nothing fails its traffic step, whatever the checks say (no silent "success")
  for (const [name, t] of traffic) {
    const ev = evidence.streams.get(name);
    if (ev?.sent !== 0) continue;
    const rec = records.get(t.index)!;
    rec.error = `stream ${name} sent no frames${ev.error ? `: ${ev.error}` : ''}`;
    error ??= `step ${t.index} (${rec.description}) failed: ${rec.error}`;
    note('step-failed', { step: t.index, error: rec.error });
    tell('stepEnded', { ...rec });
  }
  for (const { spec, windowMs } of deferred) results.set(spec.id, evaluateDeferred(spec, evidence, windowMs));
  // checks never reached fail with the reason
  const ordered: ExpectationResult[] = [];
  for (const step of s.steps) {
    const specs = step.kind === 'expect' ? step.expectations : step.outcome ? [step.outcome] : [];
    for (const spec of specs) {
      const r = results.get(spec.id) ?? {
        id: spec.id, name: spec.name, kind: spec.check.kind, passed: false, expected: spec.name, got: `not checked: ${error ?? 'the run stopped early'}`,
        evidence: [], where: `${spec.loc.file}:${spec.loc.line}:${spec.loc.column}`,
      };
      ordered.push(r);
      tellResult(r, step.index);
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

  function isPolled(c: ExpectationSpec['check']): boolean {
    return (c.kind === 'lock' || c.kind === 'datastoreState') && c.withinMs !== undefined;
  }

  async function runPowerStep(a: ActionStep, spec: ExpectationSpec): Promise<ExpectationResult> {
    if (a.kind === 'vmPower') {
      const { kind: _k, expect: _e, ...req } = a;
      return evaluatePower(spec, await driver.vmPower(req));
    }
    if (a.kind !== 'vmPowerRace') throw new Error(`${a.kind} has no outcome (runner bug)`);
    const rounds: RaceRound[] = [];
    const ds = a.datastore !== undefined ? { datastore: a.datastore } : {};
    for (let i = 0; i < a.rounds && !driver.aborted?.(); i++) {
      // every host's power-on leaves at once; the datastore's locks decide
      const attempts = await Promise.all(a.hosts.map((host) => driver.vmPower({ vm: a.vm, host, ...ds, on: true })));
      const powerOff = await Promise.all(attempts.filter((x) => x.outcome === 'ok').map((w) => driver.vmPower({ vm: a.vm, host: w.host, ...ds, on: false })));
      rounds.push({ attempts, powerOff });
    }
    return evaluateRace(spec, rounds);
  }

  /** A lock or datastoreState check: observed until it holds or its withinMs passes (once without withinMs). */
  async function poll(spec: ExpectationSpec, step: Step): Promise<ExpectationResult> {
    const c = spec.check;
    const withinMs = c.kind === 'lock' || c.kind === 'datastoreState' ? c.withinMs : undefined;
    const fromMs = driver.nowMs();
    const seen: string[] = [];
    let last: string | undefined;
    let polls = 0;
    for (;;) {
      const r = evaluateSnapshot(spec, await observe(spec, step));
      polls++;
      const t = driver.nowMs();
      if (r.got !== last) seen.push(`${t.toFixed(1)} ms: ${r.got}`);
      last = r.got;
      if (withinMs === undefined) return r;
      if (r.passed || t - fromMs >= withinMs || driver.aborted?.()) return withPollEvidence(r, { withinMs, fromMs, toMs: t, polls, seen });
      await driver.sleep(Math.min(pollIntervalMs(withinMs), fromMs + withinMs - t));
    }
  }

  async function observe(spec: ExpectationSpec, step: Step): Promise<Observation> {
    const c = spec.check;
    try {
      switch (c.kind) {
        case 'lock': return { kind: 'datastoreFiles', ...(await driver.datastoreFiles(c.datastore, c.host)) };
        case 'datastoreState': return { kind: 'datastoreState', host: c.host, ...(await driver.datastoreState(c.host, c.datastore)) };
        case 'macTable':
        case 'macCount': return { kind: 'macTable', rows: await driver.macTable(c.switch) };
        case 'counter': {
          const anchorIndex = anchorStep(s, step, c.after)?.index ?? 0;
          const before = countersBefore.get(anchorIndex);
          if (!before) return { kind: 'error', message: `the counters of ${c.point} were not read before step ${anchorIndex} (runner bug)` };
          const now = await driver.counters([c.point]);
          return { kind: 'counters', point: c.point, before: before.values[c.point] ?? null, now: now[c.point] ?? {}, windowMs: [before.atMs, driver.nowMs()] };
        }
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
