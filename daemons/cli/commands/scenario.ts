// vfab run / vfab events: run a scenario file end to end (its own fabric, expectations, timeline,
// captures, JUnit), and show the merged event stream of the running fabric (learning, aging, moves,
// drops, carrier changes, failovers, RARPs sent, shaping drops), optionally following it.

import path from 'node:path';
import { VfabError } from '../../../lib/errors.js';
import { formatTimelineLine, toTimelineEntry, type DaemonEvent } from '../../../lib/scenario/timeline.js';
import { EventOrderer, mergeEvents } from '../../../lib/events/order.js';
import { wallClockText, wallTimeText } from '../../../lib/fabric-clock.js';
import { readState } from '../../fabric/state.js';
import { EventPoller, type PolledEvents } from '../../scenario/events.js';
import { type CommandTable, defineCommand, printJson, JSON_OPTION, EXIT_OK, EXIT_FAILED, EXIT_USAGE, UsageError } from '../io.js';
import { DEFAULT_SIM_SEED } from '../../../lib/sim/scheduler.js';
import { MAX_TIME_SCALE } from '../fabric-commands.js';
import { suggest } from '../../fabric/state.js';

const run = defineCommand(
  {
    usage: ['SCENARIO [--out DIR] [--junit FILE] [--time-scale N] [--ui [--ui-port P]] [--json] [--quiet]', 'SCENARIO --sim [--seed N] [--out DIR] [--junit FILE] [--json] [--quiet]'],
    description: `Runs a scenario file: brings its topology up as a private fabric (own state directory), performs the
steps (traffic, pings, link failures, impairments, kills, MAC changes, datastore power-ons and
races, storage faults, waits, captures), checks every
expectation, writes the timeline and captures, and tears the fabric down (also on Ctrl-C).
Output in DIR: timeline.txt, timeline.json, result.json, <capture>.pcapng.
With --sim the hosts and switches run in this one process on a virtual clock (no daemons, no sockets):
a run takes as long as the CPU needs, and the same --seed gives byte-identical timeline and captures.
Kills, restarts, vMotion, and over a topology with datastores the arrays, datastores (VMFS-like and NAS)
and vSphere HA are simulated too; real guests and VXLAN ports are refused with the reason (docs/simulation.md).
With --ui the web view of vfab ui serves the run's fabric once it is up (one-time login URL printed; on
stderr with --json) and shows each step as it starts and ends and each expectation with pass/fail in
its timeline, then the verdict; it stops when the run ends. Its actions are off. Not with --sim.`,
    options: {
      out: { type: 'string', value: 'DIR', description: 'output directory (default .vfab/runs/<scenario>-<timestamp>)' },
      junit: { type: 'string', value: 'FILE', description: 'also write JUnit XML (one test case per expectation)' },
      'time-scale': { type: 'number', min: 0.001, max: MAX_TIME_SCALE, description: "override the scenario's timeScale" },
      json: { ...JSON_OPTION, description: 'print the result document (expectations, steps, timeline) as JSON' },
      quiet: { type: 'bool', description: 'no progress lines' },
      sim: { type: 'bool', description: 'simulate the fabric in this process on a virtual clock (deterministic; docs/simulation.md)' },
      seed: { type: 'int', min: 0, max: 0xffffffff, value: 'N', description: `with --sim: the run seed for every random choice (default ${DEFAULT_SIM_SEED})` },
      ui: { type: 'bool', description: 'serve the live web view of the run (docs/ui.md): steps and expectations as they happen' },
      'ui-port': { type: 'int', value: 'P', min: 0, max: 65535, description: 'with --ui: TCP port on 127.0.0.1 (default 0: any free port)' },
    },
    args: { min: 1, max: 1 },
    examples: ['run scenarios/failover-notify-on.yaml --junit out/junit.xml', 'run scenarios/failover-notify-on.yaml --sim --seed 7', 'run scenarios/failover-notify-on.yaml --ui   # open the printed URL to watch it'],
    exits: { 1: 'an expectation failed (each says what was expected and what happened)', 2: 'bad usage, or the scenario or its topology is invalid, or --sim and the scenario needs what is not simulated, or --ui with --sim, or a bad --ui-port (or in use)' },
  },
  async ({ values, positionals, typed }, io) => {
    const file = positionals[0]!;
    const timeScale = values['time-scale'];
    if (values.seed !== undefined && !values.sim) throw new UsageError(`--seed ${values.seed} needs --sim (a daemon run has no run seed)`);
    if (timeScale !== undefined && values.sim) throw new UsageError(`--time-scale ${timeScale} does not apply with --sim (virtual time runs as fast as the CPU allows)`);
    const uiPort = values['ui-port'];
    if (uiPort !== undefined && !values.ui) throw new UsageError(`${typed['ui-port']} needs --ui`);
    if (values.ui && values.sim) throw new UsageError('--ui does not apply with --sim (a simulated fabric has no daemons for the web view to read)');
    // the scenario engine (YAML, JSON Schema, fabric orchestration) loads only for `vfab run`
    const { runScenarioFile } = await import('../../scenario/run.js');
    const { ScenarioError } = await import('../../../lib/scenario/load.js');
    const { TopologyError } = await import('../../../lib/topology/load.js');
    const { formatFailure } = await import('../../../lib/scenario/evaluate.js');
    let report;
    try {
      report = await runScenarioFile(file, {
        ...(values.out ? { outDir: values.out } : {}),
        ...(values.junit ? { junitFile: values.junit } : {}),
        ...(timeScale !== undefined ? { timeScale } : {}),
        ...(values.sim ? { sim: { seed: values.seed ?? DEFAULT_SIM_SEED } } : {}),
        log: values.quiet || values.json ? () => {} : (l) => io.err(l),
        ...(values.ui
          ? {
              ui: {
                port: uiPort ?? 0,
                portText: typed['ui-port'] ?? `--ui-port ${uiPort ?? 0}`,
                serving: (url: string) => {
                  const line = `vfab run --ui: web view of scenario ${path.basename(file)}: open ${url} (works once; stops when the run ends)`;
                  if (values.json) io.err(line);
                  else io.out(line);
                },
              },
            }
          : {}),
      });
    } catch (e) {
      if (e instanceof ScenarioError || e instanceof TopologyError) {
        if (values.json) printJson(io, { passed: false, invalid: true, code: e.code, problems: e.problems });
        else io.err(`vfab run: ${e.message}`);
        return EXIT_USAGE;
      }
      if (e instanceof VfabError && e.code === 'VFAB_SIM_UNSUPPORTED') {
        if (values.json) printJson(io, { passed: false, unsupported: true, code: e.code, reasons: e.details?.reasons ?? [] });
        else io.err(`vfab run: ${e.message}`);
        return EXIT_USAGE;
      }
      throw e;
    }
    if (values.json) {
      printJson(io, report);
    } else {
      for (const r of report.results) io.out(r.passed ? `ok   ${r.id} ${r.name}` : formatFailure(r));
      if (report.error) io.out(`ERROR ${report.error}`);
      for (const w of report.warnings) io.err(`warning: ${w}`);
      const failed = report.results.filter((r) => !r.passed).length;
      io.out(`\n${report.passed ? 'PASS' : 'FAIL'} ${report.scenario}: ${report.results.length - failed}/${report.results.length} expectations met in ${(report.durationMs / 1000).toFixed(2)} s of ${report.sim ? `simulated fabric time (seed ${report.sim.seed})` : 'fabric time'}`);
      io.out(`timeline and captures: ${report.outDir}`);
    }
    return report.passed ? EXIT_OK : EXIT_FAILED;
  },
);

/** Poll period of `vfab events --follow`, wall ms. */
export const EVENTS_FOLLOW_POLL_MS = 300;

const events = defineCommand(
  {
    usage: ['[--follow] [--json] [--node NAME] [--type TYPE]'],
    description: `Shows the events of every host and switch of the running fabric on one time line: MAC learning, aging,
moves and flaps, drops with their reason (one event per port and reason per second, with a count),
carrier changes, failovers and failbacks, RARPs sent (notify), beacon failures, shaping drops,
impairments. Every daemon stamps its events on the fabric clock, so the same event prints with the same
time in every call, and a cause prints before its effects. Each line: wall time (UTC, µs), fabric time
(ms since vfab up), daemon, event, fields.`,
    options: {
      follow: { type: 'bool', short: 'f', description: 'keep polling for new events until Ctrl-C (each printed once every daemon is past it)' },
      json: { ...JSON_OPTION, description: 'one JSON object per line: timeMs (fabric ms), wall (ISO time), source, seq, type, fields' },
      node: { type: 'string', value: 'NAME', repeatable: true, description: 'only events from this host or switch (or a comma list)' },
      type: { type: 'string', value: 'TYPE', repeatable: true, description: 'only events of this type, e.g. mac-move, failover or drop (or a comma list)' },
    },
    args: { min: 0, max: 0 },
    examples: ['events --type drop,mac-move', 'link down esx1.vmnic0 && vfab events --node esx1,sw1 --json', 'events --follow'],
    exits: { 1: 'a daemon answered with an error (named on stderr)' },
  },
  async ({ values }, io) => {
    const state = readState();
    const list = (given: string[]) => (given.length ? new Set(given.flatMap((g) => g.split(',')).map((x) => x.trim()).filter(Boolean)) : undefined);
    const nodes = list(values.node);
    const types = list(values.type);
    const names = state.daemons.map((d) => d.name);
    if (nodes) for (const n of nodes) if (!names.includes(n)) throw new VfabError('VFAB_NOT_FOUND', `--node ${n}: no host or switch named ${JSON.stringify(n)}${suggest(n, names)} (have: ${names.join(', ')})`);
    const poller = new EventPoller(state, (d) => !nodes || nodes.has(d.name));
    const show = (events: DaemonEvent[]) => {
      for (const e of events) {
        if (types && !types.has(e.type)) continue;
        if (values.json) {
          const { timeMs, source, seq, type, ...fields } = e;
          io.out(JSON.stringify({ timeMs, wall: wallTimeText(state.clock, timeMs), source, seq, type, ...fields }));
        } else {
          io.out(`${wallClockText(state.clock, e.timeMs)}  ${formatTimelineLine(toTimelineEntry(e, 0), 3)}`);
        }
      }
    };
    const first = await poller.poll();
    for (const p of first) if (p.error) io.err(`warning: ${p.daemon}: ${p.error}`);
    if (!values.follow) {
      show(mergeEvents(first.map((p) => p.events)));
      return first.every((p) => !p.error) ? EXIT_OK : EXIT_FAILED;
    }
    const orderer = new EventOrderer();
    const watermark = (polled: PolledEvents[]) => Math.min(...polled.flatMap((p) => (p.nowMs === undefined ? [] : [p.nowMs])));
    show(orderer.round(first.flatMap((p) => p.events), watermark(first)));
    let stop = false;
    const onSignal = () => (stop = true);
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      while (!stop) {
        await new Promise((r) => setTimeout(r, EVENTS_FOLLOW_POLL_MS));
        if (stop) break;
        const polled = await poller.poll();
        show(orderer.round(polled.flatMap((p) => p.events), watermark(polled)));
      }
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    show(orderer.flush());
    return EXIT_OK;
  },
);

export const commands: CommandTable = { run, events };
