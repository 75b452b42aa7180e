// The scenario part of the web view (`vfab run SCENARIO --ui`): turns the runner's hooks (a step started
// or ended, an expectation decided, the run ended) into the UiScenarioRun the page shows in its timeline.
// Pure: scene-to-fabric time is passed in. Leaves out sending (daemons/ui/server.ts setScenario) and the
// run itself (lib/scenario/runner.ts). docs/ui.md "Live stream", docs/scenarios.md.

import { describeAction, type Scenario } from '../scenario/model.js';
import type { ExpectationResult } from '../scenario/evaluate.js';
import type { RunHooks, RunResult, StepRecord } from '../scenario/runner.js';
import type { UiScenarioRun, UiScenarioStep } from './protocol.js';

export class ScenarioRunView {
  private readonly run: UiScenarioRun;
  private readonly byIndex = new Map<number, UiScenarioStep>();

  /** `fabricMs`: the fabric time (ms since vfab up) of a scene time (ms since the scenario started). */
  constructor(s: Scenario, private readonly fabricMs: (sceneMs: number) => number) {
    const steps = s.steps.map((step): UiScenarioStep => {
      const specs = step.kind === 'expect' ? step.expectations : step.outcome ? [step.outcome] : [];
      return {
        index: step.index,
        atMs: 0,
        ...(step.label ? { label: step.label } : {}),
        text: step.kind === 'action' ? describeAction(step.action) : `expect (${step.expectations.length})`,
        status: 'pending',
        expectations: specs.map((e) => ({ id: e.id, text: e.name, pass: null })),
      };
    });
    for (const st of steps) this.byIndex.set(st.index, st);
    this.run = { name: s.name, state: 'running', steps };
  }

  /** A copy of the run as it stands: safe to keep and send. */
  current(): UiScenarioRun {
    return structuredClone(this.run);
  }

  stepStarted(rec: Readonly<StepRecord>): void {
    const st = this.byIndex.get(rec.index);
    if (!st) return;
    st.status = 'running';
    st.startSceneMs = rec.startMs;
    st.atMs = this.fabricMs(rec.startMs);
  }

  stepEnded(rec: Readonly<StepRecord>): void {
    const st = this.byIndex.get(rec.index);
    if (!st) return;
    st.endSceneMs = rec.endMs;
    if (rec.error !== undefined) st.error = rec.error;
    this.settle(st);
  }

  expectation(r: Readonly<ExpectationResult>, stepIndex: number): void {
    const st = this.byIndex.get(stepIndex);
    const x = st?.expectations.find((e) => e.id === r.id);
    if (!st || !x) return;
    x.pass = r.passed;
    if (!r.passed) x.detail = `expected ${r.expected}; got ${r.got}`;
    if (st.endSceneMs !== undefined) this.settle(st);
  }

  /** The run ended: its verdict; a step left running (interrupted) fails. */
  finished(result: Pick<RunResult, 'passed' | 'error'>): void {
    this.run.state = result.passed ? 'passed' : 'failed';
    if (result.error !== undefined) this.run.error = result.error;
    for (const st of this.run.steps) if (st.status === 'running') st.status = 'failed';
  }

  /** Runner hooks that update this view, then call `changed` with a copy. */
  hooks(changed: (run: UiScenarioRun) => void): RunHooks {
    return {
      stepStarted: (rec) => (this.stepStarted(rec), changed(this.current())),
      stepEnded: (rec) => (this.stepEnded(rec), changed(this.current())),
      expectation: (r, i) => (this.expectation(r, i), changed(this.current())),
    };
  }

  /** Done or failed once the step ended and every check of it is decided; else it stays running. */
  private settle(st: UiScenarioStep): void {
    if (st.expectations.some((e) => e.pass === null) && st.error === undefined) {
      st.status = 'running';
      return;
    }
    st.status = st.error !== undefined || st.expectations.some((e) => e.pass === false) ? 'failed' : 'done';
  }
}
