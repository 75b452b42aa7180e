// CLI start benchmark (issue 9), on the shared harness (bench/harness.ts, docs/benchmarks.md): how long
// `vfab --help` and `vfab status` take from spawn to exit against a bare Node start (`node -e 0`, the
// baseline), in interleaved rounds of CLI_RUNS_PER_ROUND runs per side, with the CPU time of each command
// (the bench's finished children, from /proc/self/stat's cutime + cstime); `vfab status` asks a running
// quickstart fabric (topologies/quickstart.yaml) that the bench starts in a temporary state dir and stops
// by PID at the end. Also the idle resident memory (VmRSS) of each daemon of that fabric, sampled in
// rounds before any command talks to it. The CLI runs as `node bin/vfab.js ...` with this process's
// Node binary, so the bench measures whatever the entry point does (the compiled CLI in dist/).
// Leaves out: the quickstart's pings, failover and captures, and commands other than these two.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { loadTopologyFile } from '../lib/topology/load.js';
import { fabricUp, fabricDown } from '../daemons/fabric/lifecycle.js';
import type { FabricState } from '../daemons/fabric/state.js';
import { DEFAULT_ROUNDS, processRssBytes, reapedChildrenCpuSeconds, runComparison, type ComparisonResult, type FigureSpec, type Side, type TargetSpec } from './harness.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..');
export const VFAB_ENTRY = path.join(repoRoot, 'bin/vfab.js');

/** Runs of each command per side and round (their mean is the round's figure: CPU time has 10 ms ticks). */
export const CLI_RUNS_PER_ROUND = 5;
/** Issue 9's targets: wall time of a command over a bare Node start's. */
export const HELP_TARGET_RATIO = 3;
export const STATUS_TARGET_RATIO = 5;
/** Issue 9: each daemon's idle RSS at least RSS_TARGET_REDUCTION below RSS_REFERENCE_MIB (measured before). */
export const RSS_REFERENCE_MIB = 83;
export const RSS_TARGET_REDUCTION = 0.3;
export const RSS_TARGET_MIB = +(RSS_REFERENCE_MIB * (1 - RSS_TARGET_REDUCTION)).toFixed(1);
/** Wait after the fabric is up before the first RSS sample (start-up garbage collected, links settled). */
export const IDLE_SETTLE_MS = 2000;
/** Wait between two RSS rounds. */
export const RSS_SAMPLE_INTERVAL_MS = 500;
/** Bound on one command run; a command that takes longer fails the bench. */
export const COMMAND_TIMEOUT_MS = 30_000;
/** Bound on what is kept of a command's output (to check it and to quote it in an error). */
const OUTPUT_KEEP_BYTES = 64 * 1024;

export interface CliBenchResult {
  runsPerRound: number;
  /** Sides node (`node -e 0`, baseline), help (`vfab --help`), status (`vfab status`). */
  start: ComparisonResult;
  /** A series: one figure per daemon, its VmRSS in MiB. */
  idleRss: ComparisonResult;
}

const START_FIGURES: FigureSpec[] = [
  { id: 'wallMs', label: 'wall ms', better: 'lower' },
  { id: 'cpuMs', label: 'CPU ms', better: 'lower' },
];

interface RunResult {
  wallMs: number;
  cpuMs: number | null;
}

/** Runs `node ARGS` once to exit; checks the exit code and that stdout holds `expect`. */
export async function timeCommand(args: string[], env: NodeJS.ProcessEnv, expect?: string): Promise<RunResult> {
  const cpu0 = reapedChildrenCpuSeconds();
  const t0 = performance.now();
  const child = spawn(process.execPath, args, { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => void (out.length < OUTPUT_KEEP_BYTES && (out += d.toString())));
  child.stderr!.on('data', (d: Buffer) => void (err.length < OUTPUT_KEEP_BYTES && (err += d.toString())));
  const timer = setTimeout(() => child.kill('SIGKILL'), COMMAND_TIMEOUT_MS);
  let wallMs = NaN;
  child.once('exit', () => (wallMs = performance.now() - t0));
  // 'close' comes after the exit (the child reaped, so its CPU is in our cutime) and the end of its output
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('close', (c, s) => resolve([c, s])));
  clearTimeout(timer);
  const cpu1 = reapedChildrenCpuSeconds();
  const shown = `node ${args.map((a) => path.relative(repoRoot, a) || a).join(' ')}`;
  if (code !== 0) throw new Error(`${shown} exited ${signal ?? `with code ${code}`}: ${err.trim().slice(-500)}`);
  if (expect !== undefined && !out.includes(expect)) throw new Error(`${shown}: output lacks '${expect}': ${out.slice(0, 300)}`);
  return { wallMs, cpuMs: cpu0 === null || cpu1 === null ? null : (cpu1 - cpu0) * 1000 };
}

function commandSide(id: string, label: string, args: string[], env: NodeJS.ProcessEnv, expect?: string): Side {
  return {
    id,
    label,
    measure: async () => {
      let wall = 0;
      let cpu: number | null = 0;
      for (let i = 0; i < CLI_RUNS_PER_ROUND; i++) {
        const r = await timeCommand(args, env, expect);
        wall += r.wallMs;
        cpu = cpu === null || r.cpuMs === null ? null : cpu + r.cpuMs;
      }
      return { wallMs: +(wall / CLI_RUNS_PER_ROUND).toFixed(2), cpuMs: cpu === null ? null : +(cpu / CLI_RUNS_PER_ROUND).toFixed(1) };
    },
    // one run first: the OS file cache holds what every later run reads
    warmUp: async () => void (await timeCommand(args, env, expect)),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runCliBench(opts: { rounds?: number; log?: (line: string) => void } = {}): Promise<CliBenchResult> {
  const rounds = opts.rounds ?? DEFAULT_ROUNDS;
  const log = opts.log ?? (() => {});
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfab-bench-cli-'));
  let state: FabricState | undefined;
  try {
    log(`starting the quickstart fabric in ${stateDir}`);
    state = await fabricUp({ topology: await loadTopologyFile(path.join(repoRoot, 'topologies/quickstart.yaml')), stateDir });
    await sleep(IDLE_SETTLE_MS);
    const daemons = state.daemons;
    const rssFigures: FigureSpec[] = daemons.map((d) => ({ id: `rssMiB_${d.name}`, label: `${d.name} (${d.kind}) RSS MiB`, better: 'lower' }));
    const rssTargets: TargetSpec[] = daemons.map((d) => ({
      text: `${d.name} idle RSS <= ${RSS_TARGET_MIB} MiB (${RSS_TARGET_REDUCTION * 100} % below ${RSS_REFERENCE_MIB} MiB)`,
      figure: `rssMiB_${d.name}`,
      side: 'idle',
      on: 'value',
      atMost: RSS_TARGET_MIB,
      why: 'memory is a level, not a rate: the median of the samples, no peer needed',
    }));
    const idleRss = await runComparison({
      name: 'quickstart daemons idle RSS',
      figures: rssFigures,
      sides: [
        {
          id: 'idle',
          label: 'idle',
          measure: async () => {
            const values = Object.fromEntries(daemons.map((d) => [`rssMiB_${d.name}`, ((b) => (b === null ? null : +(b / 2 ** 20).toFixed(1)))(processRssBytes(d.pid))]));
            await sleep(RSS_SAMPLE_INTERVAL_MS);
            return values;
          },
        },
      ],
      rounds,
      log,
      targets: rssTargets,
    });
    const env = { ...process.env, VFAB_STATE_DIR: stateDir };
    const start = await runComparison({
      name: 'CLI start',
      figures: START_FIGURES,
      sides: [
        commandSide('help', 'vfab --help', [VFAB_ENTRY, '--help'], env, 'vfab'),
        commandSide('status', 'vfab status', [VFAB_ENTRY, 'status'], env, 'esx1'),
        commandSide('node', 'node -e 0', ['-e', '0'], env),
      ],
      baseline: 'node',
      rounds,
      log,
      targets: [
        { text: `vfab --help <= ${HELP_TARGET_RATIO} x a bare Node start`, figure: 'wallMs', side: 'help', on: 'ratio', atMost: HELP_TARGET_RATIO, why: 'a user waits wall time; the ratio to node -e 0 in the same round cancels the machine speed' },
        { text: `vfab status <= ${STATUS_TARGET_RATIO} x a bare Node start`, figure: 'wallMs', side: 'status', on: 'ratio', atMost: STATUS_TARGET_RATIO, why: 'a user waits wall time (including the daemons answering); the ratio to node -e 0 in the same round cancels the machine speed' },
      ],
    });
    return { runsPerRound: CLI_RUNS_PER_ROUND, start, idleRss };
  } finally {
    if (state) await fabricDown(state, stateDir);
    fs.rmSync(stateDir, { recursive: true, force: true });
  }
}
