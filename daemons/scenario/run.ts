// `vfab run` end to end: load and check the scenario and its topology, bring the fabric up in a private
// state directory (so it never collides with a fabric the user runs), run the steps with a FabricDriver,
// write the outputs (timeline.txt, timeline.json, result.json, captures, optional JUnit XML) and always
// tear the fabric down: on success, on failure and on Ctrl-C (SIGINT/SIGTERM abort the run first).
// Leaves out argument parsing and printing (daemons/cli/commands/scenario.ts).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadTopologyFile, parseTopology, TopologyError } from '../../lib/topology/load.js';
import { editTopologyText, rawTopology } from '../../lib/topology/edit.js';
import { loadScenarioFile, assertAgainstTopology, ScenarioError, VFAB_SCENARIO_INVALID, type ScenarioProblem } from '../../lib/scenario/load.js';
import { describeAction, type Scenario } from '../../lib/scenario/model.js';
import { setChangeFromArgs } from '../cli/commands/set.js';
import { runScenario, type RunHooks, type RunResult } from '../../lib/scenario/runner.js';
import { ScenarioRunView } from '../../lib/ui/scenario-run.js';
import { VfabError } from '../../lib/errors.js';
import type { FabricState } from '../fabric/state.js';
import type { UiServer } from '../ui/server.js';
import { formatTimeline } from '../../lib/scenario/timeline.js';
import { junitXml } from '../../lib/scenario/junit.js';
import { fabricUp, fabricDown } from '../fabric/lifecycle.js';
import { FabricDriver, waitForDatastoresSettled } from './driver.js';

export interface RunOptions {
  /** Output directory; default .vfab/runs/<scenario>-<timestamp>. */
  outDir?: string;
  /** Write JUnit XML here. */
  junitFile?: string;
  /** Overrides the scenario's timeScale. */
  timeScale?: number;
  log?: (line: string) => void;
  /** Handle SIGINT/SIGTERM (abort, tear down); default true. */
  handleSignals?: boolean;
  /** Run in one process on a virtual clock with this seed (daemons/sim/run.ts, docs/simulation.md). */
  sim?: { seed: number };
  /**
   * Serve the web view (daemons/ui/server.ts) of the run's fabric once it is up, with the scenario's steps
   * and expectations live; stopped when the run ends. `portText`: the option as typed, for errors.
   * `serving` gets the one-time login URL. Not with `sim`.
   */
  ui?: { port: number; portText: string; serving: (url: string, port: number) => void };
}

export interface RunReport extends RunResult {
  /** Set on a simulated run: its seed. */
  sim?: { seed: number };
  file: string;
  topologyFile: string;
  timeScale: number;
  outDir: string;
  files: string[];
  warnings: string[];
}

export function defaultOutDir(s: Scenario, now = new Date()): string {
  const stamp = now.toISOString().replace(/[:.]/g, '-');
  return path.resolve('.vfab', 'runs', `${s.name}-${stamp}`);
}

/** Loads and checks a scenario and its topology; throws ScenarioError / TopologyError (exit 2). */
export async function loadScenarioAndTopology(file: string) {
  const scenario = await loadScenarioFile(file);
  const topologyFile = path.resolve(path.dirname(file), scenario.topology);
  const topology = await loadTopologyFile(topologyFile);
  assertAgainstTopology(scenario, topology);
  await checkSetSteps(scenario, topologyFile);
  return { scenario, topology, topologyFile };
}

/**
 * Checks the scenario's `set:` steps before anything runs: each is parsed with vfab set's option table
 * and its edits are applied, in step order, to the topology text with every topology rule, as the run
 * will apply them to the running configuration. A step that would be refused is a problem of the file.
 */
export async function checkSetSteps(scenario: Scenario, topologyFile: string): Promise<void> {
  const sets = scenario.steps.filter((s) => s.kind === 'action' && s.action.kind === 'set');
  if (sets.length === 0) return;
  let text = fs.readFileSync(topologyFile, 'utf8');
  const problems: ScenarioProblem[] = [];
  for (const step of sets) {
    if (step.kind !== 'action' || step.action.kind !== 'set') continue;
    try {
      const change = await setChangeFromArgs(step.action.argv);
      text = editTopologyText(text, topologyFile, change.edits(rawTopology(text), parseTopology(text, topologyFile))).text;
    } catch (e) {
      const lines = e instanceof TopologyError ? e.problems.map((p) => `${p.path}: ${p.message}${p.hint ? ` (${p.hint})` : ''}`) : [(e as Error).message];
      problems.push({ file: step.loc.file, line: step.loc.line, column: step.loc.column, path: step.loc.path ?? '', message: `step ${step.index} ${describeAction(step.action)}: ${lines.join('; ')}` });
    }
  }
  if (problems.length > 0) throw new ScenarioError(VFAB_SCENARIO_INVALID, problems);
}

export async function runScenarioFile(file: string, opts: RunOptions = {}): Promise<RunReport> {
  const log = opts.log ?? (() => {});
  const { scenario, topology, topologyFile } = await loadScenarioAndTopology(file);
  if (opts.sim) {
    const { runSimScenario } = await import('../sim/run.js');
    return runSimScenario({ file, scenario, topology, topologyFile, outDir: path.resolve(opts.outDir ?? defaultOutDir(scenario)), seed: opts.sim.seed, ...(opts.junitFile ? { junitFile: opts.junitFile } : {}), log });
  }
  const timeScale = opts.timeScale ?? scenario.timeScale;
  const outDir = path.resolve(opts.outDir ?? defaultOutDir(scenario));
  fs.mkdirSync(outDir, { recursive: true });
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfab-run-'));
  let driver: FabricDriver | undefined;
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    driver?.abort();
  };
  if (opts.handleSignals ?? true) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  let state: Awaited<ReturnType<typeof fabricUp>> | undefined;
  let ui: UiServer | undefined;
  try {
    log(`scenario ${scenario.name}: bringing up ${topology.name} (time scale ${timeScale})`);
    state = await fabricUp({ topology, stateDir, timeScale, detached: false, onProgress: (l) => log(`  ${l}`) });
    if (interrupted) throw new Error('interrupted while the fabric came up');
    await waitForDatastoresSettled(state, log);
    driver = new FabricDriver({ state, stateDir, topology, timeScale, outDir, log });
    await driver.start();
    let hooks: RunHooks = {};
    let view: ScenarioRunView | undefined;
    if (opts.ui) {
      ui = await startUi(state, opts.ui);
      const sceneStartMs = driver.sceneStartMs;
      view = new ScenarioRunView(scenario, (sceneMs) => sceneStartMs + sceneMs);
      const server = ui;
      server.setScenario(view.current());
      hooks = view.hooks((run) => server.setScenario(run));
    }
    const result = await runScenario(scenario, driver, hooks);
    if (view && ui) {
      view.finished(result);
      ui.setScenario(view.current());
    }
    const report: RunReport = { ...result, file: path.resolve(file), topologyFile, timeScale, outDir, files: [], warnings: driver.warnings };
    writeOutputs(report, opts.junitFile);
    return report;
  } finally {
    await ui?.close().catch(() => {});
    await driver?.close().catch(() => {});
    if (state) await fabricDown(state, stateDir).catch(() => {});
    fs.rmSync(stateDir, { recursive: true, force: true });
    if (opts.handleSignals ?? true) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
}

/** Starts the web view on the run's fabric; a port in use or not allowed is VFAB_BAD_UI_PORT (exit 2). */
async function startUi(state: FabricState, o: NonNullable<RunOptions['ui']>): Promise<UiServer> {
  const { UiServer } = await import('../ui/server.js');
  // the page's actions run the CLI on the user's own fabric, not this private one, and would change the run
  const server = new UiServer({ state, port: o.port, refuseActions: 'vfab run --ui shows a scenario run: actions from the page are off (they would change its outcome)' });
  try {
    await server.start();
  } catch (e) {
    await server.close().catch(() => {});
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES') throw new VfabError('VFAB_BAD_UI_PORT', `${o.portText}: ${code === 'EADDRINUSE' ? 'in use by another program' : 'not allowed for this user'} (try --ui-port 0 for any free port)`);
    throw e;
  }
  o.serving(server.loginUrl!, server.port);
  return server;
}

export function writeOutputs(r: RunReport, junitFile?: string): void {
  const write = (name: string, text: string) => {
    const f = path.join(r.outDir, name);
    fs.writeFileSync(f, text);
    r.files.push(f);
  };
  for (const f of fs.readdirSync(r.outDir)) if (f.endsWith('.pcapng')) r.files.push(path.join(r.outDir, f));
  write('timeline.txt', `# scenario ${r.scenario}: times in ms since the scenario started (${r.sim ? `simulated fabric time, seed ${r.sim.seed}` : `fabric time, scale ${r.timeScale}`})\n${formatTimeline(r.timeline)}`);
  write('timeline.json', JSON.stringify(r.timeline, null, 1));
  const { timeline: _t, ...summary } = r;
  write('result.json', JSON.stringify(summary, null, 2));
  if (junitFile) {
    fs.mkdirSync(path.dirname(path.resolve(junitFile)), { recursive: true });
    fs.writeFileSync(junitFile, junitXml({ scenario: r.scenario, durationMs: r.durationMs, results: r.results, ...(r.error ? { error: r.error } : {}) }));
    r.files.push(path.resolve(junitFile));
  }
}
