// Scale benchmark (issue 16, item 1; docs/scale.md, docs/benchmarks.md): how a fabric of many hosts starts,
// sits idle, answers and stops on one machine. For each size (10, 50 and 100 hosts x 10 VMs, two switches;
// bench/scale-topology.ts) one side: `vfab up FILE --detach` (wall time, and from its progress lines the
// time until every daemon was ready and until every link was up), the memory of every daemon once idle
// (VmRSS and PSS from /proc: VmRSS counts the Node binary's shared pages in every process, PSS splits them,
// so the sum of PSS is what the fabric takes from the machine), `vfab status` (STATUS_RUNS runs), `vfab
// down`, and then `vfab probe FILE --json` of the same design (its own fabric: up, a ping from every VM
// to its peer, down) with its result. Also, once, the memory one idle VM adds to a host (a host daemon
// started alone with 0 and with MARGINAL_VMS VMs). Commands run as `node bin/vfab.js` (the compiled CLI)
// in a temporary state directory; whatever a size started is stopped by PID at the end, also on failure.
// Bounded: each command has a time-out, one round by default. Targets (the issue's) at 100 hosts.
// Every size runs with SCALE_HOSTS_PER_PROCESS hosts per process (`vfab up --hosts-per-process`, host
// groups of worker threads); at TARGET_HOSTS one more side runs every host as its own process, for
// comparison (no probe there: the probe runs its own fabric, packed or not, the same). Memory is summed
// over processes (a group's PID once), and a host's share of its group is the group's figure / its hosts.
// Leaves out: traffic under load (bench/fabric.ts), storage, the simulation mode.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { fabricDown } from '../daemons/fabric/lifecycle.js';
import { readState } from '../daemons/fabric/state.js';
import { spawnDaemon, stopDaemons } from '../daemons/fabric/process.js';
import { newToken } from '../daemons/common/server.js';
import { planFabric } from '../daemons/fabric/plan.js';
import { parseTopology } from '../lib/topology/load.js';
import { processCpuSeconds, runComparison, type ComparisonResult, type FigureSpec, type TargetSpec } from './harness.js';
import { scalePairCount, scaleTopologyYaml } from './scale-topology.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const VFAB_ENTRY = path.join(path.resolve(here, '..'), 'bin/vfab.js');

/** Hosts per size (each with SCALE_VMS_PER_HOST VMs); `--hosts` picks others. */
export const SCALE_DEFAULT_HOSTS = [10, 50, 100] as const;
export const SCALE_VMS_PER_HOST = 10;
/** Hosts per process of every size (vfab up --hosts-per-process); the unpacked side at TARGET_HOSTS runs 1. */
export const SCALE_HOSTS_PER_PROCESS = 10;
/** Rounds when `--rounds` is not given: a 100-host round takes about a minute and most of the machine. */
export const SCALE_DEFAULT_ROUNDS = 1;
/** The issue's targets, judged at TARGET_HOSTS hosts. */
export const TARGET_HOSTS = 100;
export const UP_TARGET_SECONDS = 15;
export const MEMORY_TARGET_MIB = 4096;
/** Bounds on one command (a command that takes longer is killed and fails the bench). */
export const UP_TIMEOUT_MS = 180_000;
export const STATUS_TIMEOUT_MS = 60_000;
export const DOWN_TIMEOUT_MS = 60_000;
export const PROBE_TIMEOUT_MS = 600_000;
/** `vfab status` runs per round (their median is the round's figure). */
export const STATUS_RUNS = 3;
/** Wait after `vfab up` returned before the memory is read (start-up garbage collected, links settled). */
export const IDLE_SETTLE_MS = 2000;
/** VMs of the lone host whose memory is set against a host without VMs. */
export const MARGINAL_VMS = 100;
/** Bound on what is kept of a command's output (its JSON, or the tail quoted in an error). */
const OUTPUT_KEEP_BYTES = 16 * 1024 * 1024;

const FIGURES: FigureSpec[] = [
  { id: 'processes', label: 'processes (switches, hosts or host groups)', better: 'lower' },
  { id: 'upS', label: 'vfab up, s', better: 'lower' },
  { id: 'readyS', label: '  every daemon ready, s', better: 'lower' },
  { id: 'linksS', label: '  every link up, s', better: 'lower' },
  { id: 'startCpuMs', label: '  CPU per daemon (a group: per host) from start to idle, ms (median; the machine\'s load does not change it much)', better: 'lower' },
  { id: 'rssTotalMiB', label: 'sum of VmRSS, MiB', better: 'lower' },
  { id: 'pssTotalMiB', label: 'sum of PSS (what the fabric takes), MiB', better: 'lower' },
  { id: 'hostRssMiB', label: 'host daemon VmRSS, MiB (median; packed: its group\'s / its hosts)', better: 'lower' },
  { id: 'hostPssMiB', label: 'host daemon PSS, MiB (median; packed: its group\'s / its hosts)', better: 'lower' },
  { id: 'switchRssMiB', label: 'switch daemon VmRSS, MiB (median)', better: 'lower' },
  { id: 'switchPssMiB', label: 'switch daemon PSS, MiB (median)', better: 'lower' },
  { id: 'rssPerVmKiB', label: 'VmRSS per VM (the fabric\'s VmRSS sum / VMs), KiB', better: 'lower' },
  { id: 'pssPerVmKiB', label: 'PSS per VM (the fabric\'s PSS / VMs), KiB', better: 'lower' },
  { id: 'statusMs', label: 'vfab status, ms', better: 'lower' },
  { id: 'downS', label: 'vfab down, s', better: 'lower' },
  { id: 'probeS', label: 'vfab probe (up, every pair, down), s', better: 'lower' },
  { id: 'probePairs', label: 'probe pairs', better: 'higher' },
  { id: 'probeUnexpected', label: 'probe pairs not as designed', better: 'lower' },
];

export interface ScaleBenchResult {
  vmsPerHost: number;
  /** Hosts per process of the sizes (the unpacked side at TARGET_HOSTS runs 1). */
  hostsPerProcess: number;
  hosts: number[];
  sizes: ComparisonResult;
  /** Memory one idle VM adds to a host daemon (anonymous resident memory, KiB), from a host alone. */
  marginalVm: { vms: number; hostAnonKiB0: number; hostAnonKiBN: number; perVmKiB: number } | null;
}

interface Run {
  code: number | null;
  wallMs: number;
  stdout: string;
  /** stderr lines with the ms after the start at which each arrived. */
  lines: Array<{ atMs: number; text: string }>;
}

/** Runs `node bin/vfab.js ARGS` to its end (killed after timeoutMs); never throws on an exit code. */
async function vfab(args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Run> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [VFAB_ENTRY, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout!.on('data', (d: Buffer) => void (stdout.length < OUTPUT_KEEP_BYTES && (stdout += d.toString())));
  const lines: Run['lines'] = [];
  readline.createInterface({ input: child.stderr! }).on('line', (text) => void (lines.length < 100_000 && lines.push({ atMs: performance.now() - t0, text })));
  let timedOut = false;
  const timer = setTimeout(() => ((timedOut = true), child.kill('SIGINT')), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
  clearTimeout(timer);
  const wallMs = performance.now() - t0;
  if (timedOut) throw new Error(`vfab ${args.join(' ')}: no end within ${timeoutMs} ms`);
  return { code, wallMs, stdout, lines };
}

function expectExit(r: Run, codes: number[], what: string): void {
  if (r.code === null || !codes.includes(r.code)) throw new Error(`${what} exited ${r.code}: ${r.lines.slice(-8).map((l) => l.text).join(' | ')}`);
}

/** VmRSS, anonymous RSS and PSS of a process, KiB (null once it is gone). */
export function processMemoryKiB(pid: number): { rss: number; anon: number; pss: number } | null {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const rollup = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const field = (text: string, name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
    return { rss: field(status, 'VmRSS'), anon: field(status, 'RssAnon'), pss: field(rollup, 'Pss') };
  } catch {
    return null;
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const mib = (kib: number) => +(kib / 1024).toFixed(1);
const sec = (ms: number) => +(ms / 1000).toFixed(2);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One size: up, idle memory, status, down, probe. Stops whatever it started, also on failure. */
async function measureSize(hosts: number, perProcess: number, probe: boolean, log: (line: string) => void): Promise<Record<string, number | null>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `vfab-bench-scale-${hosts}-`));
  const file = path.join(dir, 'topology.yaml');
  fs.writeFileSync(file, scaleTopologyYaml({ hosts, vmsPerHost: SCALE_VMS_PER_HOST }));
  const stateDir = path.join(dir, 'state');
  const env = { ...process.env, VFAB_STATE_DIR: stateDir };
  try {
    const up = await vfab(['up', file, '--detach', '--hosts-per-process', String(perProcess)], env, UP_TIMEOUT_MS);
    expectExit(up, [0], `vfab up (${hosts} hosts)`);
    const state = readState(stateDir);
    const n = state.daemons.length;
    const ready = up.lines.find((l) => l.text.includes(`[${n}/${n}]`));
    const links = up.lines.filter((l) => /^links up (\d+)\/\1$/.test(l.text)).at(-1);
    const what = `${hosts} hosts (${perProcess} per process)`;
    log(`${what}: up in ${sec(up.wallMs)} s (${n} daemons ready at ${ready ? sec(ready.atMs) : '?'} s, links at ${links ? sec(links.atMs) : '?'} s)`);
    await sleep(IDLE_SETTLE_MS);
    // one entry per process: a host group's PID is recorded for each of its hosts
    const procs = new Map<number, { kind: string; members: string[] }>();
    for (const d of state.daemons) {
      const p = procs.get(d.pid);
      if (p === undefined) procs.set(d.pid, { kind: d.kind, members: [d.name] });
      else p.members.push(d.name);
    }
    const mem = [...procs].map(([pid, p]) => ({ kind: p.kind, members: p.members.length, m: processMemoryKiB(pid) }));
    // what starting took each daemon in CPU time (on a quiet machine, up ~ daemons x this / CPUs); a group's per host
    const startCpuMs = median([...procs].map(([pid, p]) => ((processCpuSeconds(pid) ?? NaN) * 1000) / p.members.length));
    const gone = [...procs.values()].filter((_, i) => mem[i]!.m === null).flatMap((p) => p.members);
    if (gone.length > 0) throw new Error(`${what}: daemons gone while idle: ${gone.join(', ')}`);
    const sum = (k: 'rss' | 'pss') => mem.reduce((s, x) => s + x.m![k], 0);
    const of = (kind: string, k: 'rss' | 'pss') => mib(median(mem.filter((x) => x.kind === kind).map((x) => x.m![k] / x.members)));
    const statusMs: number[] = [];
    for (let i = 0; i < STATUS_RUNS; i++) {
      const st = await vfab(['status'], env, STATUS_TIMEOUT_MS);
      expectExit(st, [0], `vfab status (${hosts} hosts)`);
      statusMs.push(st.wallMs);
    }
    const down = await vfab(['down'], env, DOWN_TIMEOUT_MS);
    expectExit(down, [0], `vfab down (${hosts} hosts)`);
    log(`${what}: ${procs.size} processes, PSS ${mib(sum('pss'))} MiB, VmRSS ${mib(sum('rss'))} MiB; status ${Math.round(median(statusMs))} ms; down ${sec(down.wallMs)} s${probe ? '; probing' : ''}`);
    const probed = probe ? await probeSize(file, hosts, path.join(dir, 'probe-state'), env, log) : { probeS: null, probePairs: null, probeUnexpected: null };
    return {
      processes: procs.size, upS: sec(up.wallMs), readyS: ready ? sec(ready.atMs) : null, linksS: links ? sec(links.atMs) : null, startCpuMs: Math.round(startCpuMs),
      rssTotalMiB: mib(sum('rss')), pssTotalMiB: mib(sum('pss')),
      hostRssMiB: of('host', 'rss'), hostPssMiB: of('host', 'pss'), switchRssMiB: of('switch', 'rss'), switchPssMiB: of('switch', 'pss'),
      rssPerVmKiB: Math.round(sum('rss') / (hosts * SCALE_VMS_PER_HOST)), pssPerVmKiB: Math.round(sum('pss') / (hosts * SCALE_VMS_PER_HOST)),
      statusMs: Math.round(median(statusMs)), downS: sec(down.wallMs),
      ...probed,
    };
  } finally {
    // whatever is still recorded (a failed status or down) is stopped by PID
    try {
      await fabricDown(readState(stateDir), stateDir);
    } catch {
      /* nothing running */
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** `vfab probe FILE --json` of the design (its own fabric: up, every pair, down). */
async function probeSize(file: string, hosts: number, stateDir: string, env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<Record<string, number>> {
  const probe = await vfab(['probe', file, '--json'], { ...env, VFAB_STATE_DIR: stateDir }, PROBE_TIMEOUT_MS);
  expectExit(probe, [0, 1], `vfab probe (${hosts} hosts)`);
  const report = JSON.parse(probe.stdout) as { results: unknown[]; unexpected: number };
  if (report.results.length !== scalePairCount({ hosts, vmsPerHost: SCALE_VMS_PER_HOST })) throw new Error(`vfab probe (${hosts} hosts): ${report.results.length} pairs, want ${scalePairCount({ hosts, vmsPerHost: SCALE_VMS_PER_HOST })}`);
  log(`${hosts} hosts: probe of ${report.results.length} pairs in ${sec(probe.wallMs)} s, ${report.unexpected} not as designed`);
  return { probeS: sec(probe.wallMs), probePairs: report.results.length, probeUnexpected: report.unexpected };
}

/** Anonymous RSS of a lone host daemon with 0 and with MARGINAL_VMS VMs (no links, no peers). */
async function measureMarginalVm(): Promise<ScaleBenchResult['marginalVm']> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfab-bench-scale-vm-'));
  const token = newToken();
  try {
    const anonOf = async (vms: number) => {
      const topo = parseTopology(scaleTopologyYaml({ hosts: 2, vmsPerHost: Math.max(vms, 1) }), 'generated.yaml');
      const host = planFabric(topo).find((d) => d.kind === 'host')!;
      if (host.config.kind !== 'host') throw new Error('no host in the plan');
      if (vms === 0) host.config.host = { ...host.config.host, vms: [] };
      const configFile = path.join(dir, `esx-${vms}.json`);
      fs.writeFileSync(configFile, JSON.stringify(host.config), { mode: 0o600 });
      const rec = await spawnDaemon({ name: host.name, kind: 'host', args: ['--config', configFile, '--name', host.name], token, logFile: path.join(dir, `esx-${vms}.log`), detached: false });
      try {
        await sleep(IDLE_SETTLE_MS);
        return processMemoryKiB(rec.pid)?.anon ?? NaN;
      } finally {
        await stopDaemons([rec]);
      }
    };
    const a0 = await anonOf(0);
    const aN = await anonOf(MARGINAL_VMS);
    return { vms: MARGINAL_VMS, hostAnonKiB0: a0, hostAnonKiBN: aN, perVmKiB: +((aN - a0) / MARGINAL_VMS).toFixed(1) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function runScaleBench(opts: { rounds?: number; hosts?: number[]; log?: (line: string) => void } = {}): Promise<ScaleBenchResult> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const hosts = opts.hosts ?? [...SCALE_DEFAULT_HOSTS];
  log(`${hosts.join(', ')} hosts x ${SCALE_VMS_PER_HOST} VMs, two switches, ${SCALE_HOSTS_PER_PROCESS} hosts per process${hosts.includes(TARGET_HOSTS) ? ` (and ${TARGET_HOSTS} hosts one per process)` : ''}; one fabric per size and round, ${os.availableParallelism()} CPUs, load ${os.loadavg()[0]!.toFixed(1)}`);
  const marginalVm = await measureMarginalVm();
  if (marginalVm) log(`one idle VM adds ${marginalVm.perVmKiB} KiB to its host (anonymous RSS, host alone: ${marginalVm.hostAnonKiB0} KiB with no VM, ${marginalVm.hostAnonKiBN} KiB with ${marginalVm.vms})`);
  const at = hosts.includes(TARGET_HOSTS) ? `h${TARGET_HOSTS}` : undefined;
  const targets: TargetSpec[] = at === undefined ? [] : [
    { text: `vfab up of ${TARGET_HOSTS} hosts x ${SCALE_VMS_PER_HOST} VMs <= ${UP_TARGET_SECONDS} s`, figure: 'upS', side: at, on: 'value', atMost: UP_TARGET_SECONDS, why: 'the wall time a user waits, from the command to every link up (issue 16)' },
    { text: `the fabric's memory (sum of PSS) <= ${MEMORY_TARGET_MIB} MiB`, figure: 'pssTotalMiB', side: at, on: 'value', atMost: MEMORY_TARGET_MIB, why: 'what the daemons take from the machine: each shared page counted once (issue 16: 4 GiB)' },
    { text: `sum of VmRSS <= ${MEMORY_TARGET_MIB} MiB (counts the shared Node binary once per process)`, figure: 'rssTotalMiB', side: at, on: 'value', atMost: MEMORY_TARGET_MIB, why: `the issue's wording; a bare idle node already has about 34 MiB of file pages resident, so 102 processes sum to over 3.4 GiB before any vfab code: hence ${SCALE_HOSTS_PER_PROCESS} hosts per process` },
    { text: 'vfab probe of the whole fabric: every pair as designed', figure: 'probeUnexpected', side: at, on: 'value', atMost: 0, why: 'the probe completes and every VM reaches its peer across hosts, uplinks and the inter-switch trunk' },
  ];
  const sizes = await runComparison({
    name: 'fabric scale',
    figures: FIGURES,
    sides: [
      ...hosts.map((h) => ({ id: `h${h}`, label: `${h} hosts, ${SCALE_HOSTS_PER_PROCESS}/process`, measure: () => measureSize(h, SCALE_HOSTS_PER_PROCESS, true, log) })),
      // the same target size with one process per host, for comparison
      ...(at === undefined ? [] : [{ id: `h${TARGET_HOSTS}u`, label: `${TARGET_HOSTS} hosts, 1/process`, measure: () => measureSize(TARGET_HOSTS, 1, false, log) }]),
    ],
    rounds: opts.rounds ?? SCALE_DEFAULT_ROUNDS,
    targets,
    log,
  });
  return { vmsPerHost: SCALE_VMS_PER_HOST, hostsPerProcess: SCALE_HOSTS_PER_PROCESS, hosts, sizes, marginalVm };
}
