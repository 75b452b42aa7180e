// vfab run / vfab events: run a scenario file end to end (its own fabric, expectations, timeline,
// captures, JUnit), and show the merged event stream of the running fabric (learning, aging, moves,
// drops, carrier changes, failovers, RARPs sent, shaping drops), optionally following it.

import { VfabError } from '../../../lib/errors.js';
import { formatFailure } from '../../../lib/scenario/evaluate.js';
import { formatTimelineLine, toTimelineEntry, type DaemonEvent } from '../../../lib/scenario/timeline.js';
import { EventOrderer, mergeEvents } from '../../../lib/events/order.js';
import { wallClockText, wallTimeText } from '../../../lib/fabric-clock.js';
import { ScenarioError } from '../../../lib/scenario/load.js';
import { TopologyError } from '../../../lib/topology/load.js';
import { readState } from '../../fabric/state.js';
import { runScenarioFile } from '../../scenario/run.js';
import { EventPoller, type PolledEvents } from '../../scenario/events.js';
import { type CliIo, type CommandTable, parse, printJson, UsageError, EXIT_OK, EXIT_FAILED, EXIT_USAGE } from '../io.js';

export const RUN_USAGE = `usage: vfab run SCENARIO [--out DIR] [--junit FILE] [--time-scale N] [--json] [--quiet]

Runs a scenario file: brings its topology up as a private fabric (own state directory), performs the
steps (traffic, pings, link failures, impairments, kills, MAC changes, waits, captures), checks every
expectation, writes the timeline and captures, and tears the fabric down (also on Ctrl-C).
Exit 0: every expectation met. 1: some failed (each says what was expected and what happened).
2: the scenario or its topology is invalid.

  --out DIR        output directory (default .vfab/runs/<scenario>-<timestamp>): timeline.txt,
                   timeline.json, result.json, <capture>.pcapng
  --junit FILE     also write JUnit XML (one test case per expectation)
  --time-scale N   override the scenario's timeScale
  --json           print the result document (expectations, steps, timeline) as JSON
  --quiet          no progress lines

example: vfab run scenarios/failover-notify-on.yaml --junit out/junit.xml`;

async function runCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(argv, { out: { type: 'string' }, junit: { type: 'string' }, 'time-scale': { type: 'string' }, json: { type: 'boolean' }, quiet: { type: 'boolean' } }, RUN_USAGE);
  if (values.help) return io.out(RUN_USAGE), EXIT_OK;
  const file = positionals[0];
  if (!file || positionals.length > 1) throw new UsageError(`vfab run takes one scenario file\n\n${RUN_USAGE}`);
  let timeScale: number | undefined;
  if (values['time-scale'] !== undefined) {
    timeScale = Number(values['time-scale']);
    if (!(timeScale > 0 && timeScale <= 1000)) throw new UsageError(`--time-scale must be a number in (0, 1000], got ${values['time-scale']}`);
  }
  let report;
  try {
    report = await runScenarioFile(file, {
      ...(values.out ? { outDir: values.out } : {}),
      ...(values.junit ? { junitFile: values.junit } : {}),
      ...(timeScale !== undefined ? { timeScale } : {}),
      log: values.quiet || values.json ? () => {} : (l) => io.err(l),
    });
  } catch (e) {
    if (e instanceof ScenarioError || e instanceof TopologyError) {
      if (values.json) printJson(io, { passed: false, invalid: true, code: e.code, problems: e.problems });
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
    io.out(`\n${report.passed ? 'PASS' : 'FAIL'} ${report.scenario}: ${report.results.length - failed}/${report.results.length} expectations met in ${(report.durationMs / 1000).toFixed(2)} s of fabric time`);
    io.out(`timeline and captures: ${report.outDir}`);
  }
  return report.passed ? EXIT_OK : EXIT_FAILED;
}

export const EVENTS_USAGE = `usage: vfab events [--follow] [--json] [--node NAME] [--type TYPE]

Shows the events of every host and switch of the running fabric on one time line: MAC learning, aging,
moves and flaps, drops with their reason (one event per port and reason per second, with a count),
carrier changes, failovers and failbacks, RARPs sent (notify), beacon failures, shaping drops,
impairments. Every daemon stamps its events on the fabric clock, so the same event prints with the same
time in every call, and a cause prints before its effects. Each line: wall time (UTC, µs), fabric time
(ms since vfab up), daemon, event, fields.

  --follow       keep polling for new events until Ctrl-C (each printed once every daemon is past it)
  --json         one JSON object per line: timeMs (fabric ms), wall (ISO time), source, seq, type, fields
  --node NAME    only events from this host or switch (repeatable as a comma list)
  --type TYPE    only events of this type, e.g. mac-move, failover or drop (comma list allowed)

examples:
  vfab events --type drop,mac-move
  vfab link down esx1.vmnic0 && vfab events --node esx1,sw1 --json`;

/** Poll period of `vfab events --follow`, wall ms. */
export const EVENTS_FOLLOW_POLL_MS = 300;

async function eventsCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(argv, { follow: { type: 'boolean', short: 'f' }, json: { type: 'boolean' }, node: { type: 'string' }, type: { type: 'string' } }, EVENTS_USAGE);
  if (values.help) return io.out(EVENTS_USAGE), EXIT_OK;
  if (positionals.length > 0) throw new UsageError(EVENTS_USAGE);
  const state = readState();
  const nodes = values.node ? new Set(values.node.split(',').map((s) => s.trim())) : undefined;
  const types = values.type ? new Set(values.type.split(',').map((s) => s.trim())) : undefined;
  if (nodes) for (const n of nodes) if (!state.daemons.some((d) => d.name === n)) throw new VfabError('VFAB_NOT_FOUND', `no host or switch named ${n} (have: ${state.daemons.map((d) => d.name).join(', ')})`);
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
}

export const commands: CommandTable = {
  run: { run: runCommand, summary: 'run a scenario file: fabric up, steps, expectations, timeline, captures, fabric down', order: 40 },
  events: { run: eventsCommand, summary: 'merged event stream of the running fabric (learning, moves, failovers, RARPs, drops); --follow', order: 23 },
};
