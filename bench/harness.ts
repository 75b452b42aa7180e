// The benchmark harness every comparison of `npm run bench` runs on (docs/benchmarks.md): the sides of a
// comparison (vfab and its peer(s), measured in the same run) run in interleaved rounds, the order
// reversed every other round (A B, B A, ...) so a slow drift of the machine weighs on both sides alike;
// each side may warm up once, unmeasured, before round 1; each figure is summed up as the median with
// its min and max over the rounds, and each side's ratio to the comparison's baseline is the median of
// the per-round ratios (pairs measured seconds apart, not two medians from different minutes). Also
// here: CPU accounting from /proc (per process, the bench's whole process tree, the machine), and the
// noise guard: a fixed CPU loop timed before, between and after the rounds, plus the CPU that processes
// outside the bench used during each round; a comparison whose machine speed moved by more than
// MACHINE_SPEED_TOLERANCE_PERCENT, or that shared the machine with more than FOREIGN_LOAD_LIMIT_CORES of
// other work, is marked noisy. The pure parts (stats, order, ratios, verdicts, targets) are unit-tested
// in test/bench/; what a side measures is up to each bench/*.ts. Leaves out: pinning processes to CPUs,
// and anything that needs root.

import fs from 'node:fs';
import { performance } from 'node:perf_hooks';

/** Rounds per comparison unless `--rounds N` says otherwise. */
export const DEFAULT_ROUNDS = 5;
/**
 * The storage comparisons' rounds unless `--rounds N` says otherwise. Their 1.5 s phases swing more from
 * round to round than the fabric's (raw LevelDB QD32 reads 158-197 k IOPS between rounds): over five runs
 * of 5 rounds the median ratios of three phases spread 0.11-0.14; of 9 rounds, at most 0.07.
 */
export const STORAGE_DEFAULT_ROUNDS = 9;
/** Upper bound on `--rounds` (a full bench at 50 rounds already takes hours). */
export const MAX_ROUNDS = 50;
/**
 * A comparison whose fixed CPU loop ran this much slower at one probe than at another (% of the fastest)
 * is noisy. The loop's own spread on an idle machine here is up to about 8 % over a handful of probes.
 */
export const MACHINE_SPEED_TOLERANCE_PERCENT = 15;
/** A comparison during whose rounds other processes used more than this many CPUs (median over rounds) is noisy. */
export const FOREIGN_LOAD_LIMIT_CORES = 0.2;
/** Iterations of the probe loop (about 10-20 ms on this machine's CPUs). */
export const PROBE_ITERATIONS = 12_000_000;
/**
 * Timings per probe; the probe's figure is the fastest. A round's own processes can still be draining
 * when a probe starts and take the CPU from a few timings (on 2 cores one outlier probe of +15 % came
 * from that with the median); the fastest timing is what the machine can do, which is what the guard asks.
 */
export const PROBE_REPEATS = 7;
/** Clock ticks per second of /proc's CPU times (USER_HZ; 100 on every Linux ABI Node runs on). */
export const USER_HZ = 100;

// ------------------------------------------------------------------ stats (pure)

/** Median, min and max of the finite values (all null when there is none). */
export interface Spread {
  median: number | null;
  min: number | null;
  max: number | null;
}

export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function spread(values: ReadonlyArray<number | null | undefined>): Spread {
  const finite = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  if (finite.length === 0) return { median: null, min: null, max: null };
  return { median: median(finite), min: Math.min(...finite), max: Math.max(...finite) };
}

/** The order of the sides in round `round` (0-based): as given in even rounds, reversed in odd ones. */
export function roundOrder<T>(sides: readonly T[], round: number): T[] {
  return round % 2 === 0 ? [...sides] : [...sides].reverse();
}

/** a / b, or null when either is missing or b is 0. */
export function ratioOf(a: number | null | undefined, b: number | null | undefined): number | null {
  if (typeof a !== 'number' || typeof b !== 'number' || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return null;
  return a / b;
}

// ------------------------------------------------------------------ comparisons

/** One figure every side of a comparison reports per round (e.g. frames/s, CPU ns per frame). */
export interface FigureSpec {
  /** Key in the JSON and in what a side's measure() returns. */
  id: string;
  /** How the text output names it, with its unit: 'frames/s', 'CPU ns/frame'. */
  label: string;
  better: 'higher' | 'lower';
  /** false: a figure only some sides have (a cache hit ratio), summed up per side but never divided. */
  ratio?: false;
}

/** One side of a comparison: vfab, a peer, a baseline. */
export interface Side {
  id: string;
  label: string;
  /** Measures one round; returns a value (or null: not measurable here) for each figure id. */
  measure(round: number): Promise<Record<string, number | null>>;
  /**
   * Run once, unmeasured, before the first round (each side in turn): the JIT of every process of the
   * side compiles its hot paths and caches fill, so round 1 is not the only round that pays for them.
   */
  warmUp?(): Promise<void>;
}

/** A target printed beside the figures, judged on one summary of one figure. */
export interface TargetSpec {
  /** As printed: 'vfab frames/s >= 0.70 x bare chain'. */
  text: string;
  figure: string;
  side: string;
  /** 'ratio': the median of the side's per-round ratios to the baseline; 'value': the side's median. */
  on: 'ratio' | 'value';
  atLeast?: number;
  atMost?: number;
  /** Why this figure and not another (docs/benchmarks.md, "What a target is judged on"). */
  why: string;
}

export interface TargetVerdict extends TargetSpec {
  /** The judged value (median), or null when it could not be measured. */
  value: number | null;
  met: boolean | null;
}

export interface ComparisonSpec {
  name: string;
  figures: FigureSpec[];
  /** Two or more sides; a single side makes a series (rounds and spread, no ratio). */
  sides: Side[];
  /** Id of the side the others are divided by (ratio = side / baseline, per round); none for a series. */
  baseline?: string;
  rounds: number;
  targets?: TargetSpec[];
  log?: (line: string) => void;
  /** For tests: the probe and meters (defaults: the real CPU loop and /proc). */
  machine?: MachineMeters;
}

export interface RoundRecord {
  /** 1-based. */
  round: number;
  /** Side ids in the order they ran. */
  order: string[];
  /** Every figure of every side this round. */
  values: Record<string, Record<string, number | null>>;
  /** Per non-baseline side, per figure: this round's side / baseline. */
  ratio: Record<string, Record<string, number | null>>;
  wallSeconds: number;
  /** CPUs' worth of work done by processes outside this bench during the round (null without /proc). */
  foreignCores: number | null;
}

export interface FigureSummary {
  label: string;
  better: 'higher' | 'lower';
  /** Per side: median, min and max over the rounds. */
  sides: Record<string, Spread>;
  /** Per non-baseline side: median, min and max of the per-round ratios to the baseline. */
  ratio: Record<string, Spread>;
}

export interface NoiseReport {
  /** Wall ms of the fixed CPU loop at each probe (before the rounds, after each round). */
  probeMs: number[];
  /** (slowest - fastest probe) / fastest, in %. */
  speedMovedPercent: number | null;
  /** Other processes' load during the rounds, in CPUs. */
  foreignCores: Spread;
  verdict: 'steady' | 'noisy';
  reasons: string[];
}

export interface ComparisonResult {
  name: string;
  sides: Array<{ id: string; label: string }>;
  baseline: string | null;
  figures: Record<string, FigureSummary>;
  rounds: RoundRecord[];
  noise: NoiseReport;
  targets: TargetVerdict[];
}

/** Sums the rounds up per figure: each side's spread, and each non-baseline side's per-round ratio spread. */
export function summarizeRounds(figures: readonly FigureSpec[], sideIds: readonly string[], baseline: string | undefined, rounds: readonly RoundRecord[]): Record<string, FigureSummary> {
  const out: Record<string, FigureSummary> = {};
  for (const f of figures) {
    const sides: Record<string, Spread> = {};
    const ratio: Record<string, Spread> = {};
    for (const s of sideIds) {
      sides[s] = spread(rounds.map((r) => r.values[s]?.[f.id] ?? null));
      if (baseline !== undefined && s !== baseline && f.ratio !== false) ratio[s] = spread(rounds.map((r) => r.ratio[s]?.[f.id] ?? null));
    }
    out[f.id] = { label: f.label, better: f.better, sides, ratio };
  }
  return out;
}

/** Per-round ratios of every non-baseline side to the baseline, per figure. */
export function roundRatios(figures: readonly FigureSpec[], values: RoundRecord['values'], baseline: string | undefined): RoundRecord['ratio'] {
  const out: RoundRecord['ratio'] = {};
  if (baseline === undefined) return out;
  for (const side of Object.keys(values)) {
    if (side === baseline) continue;
    out[side] = Object.fromEntries(figures.filter((f) => f.ratio !== false).map((f) => [f.id, ratioOf(values[side]?.[f.id], values[baseline]?.[f.id])]));
  }
  return out;
}

export function judgeTarget(t: TargetSpec, figures: Record<string, FigureSummary>): TargetVerdict {
  const fig = figures[t.figure];
  const value = (t.on === 'ratio' ? fig?.ratio[t.side]?.median : fig?.sides[t.side]?.median) ?? null;
  let met: boolean | null = null;
  if (value !== null) met = (t.atLeast === undefined || value >= t.atLeast) && (t.atMost === undefined || value <= t.atMost);
  return { ...t, value, met };
}

export function noiseVerdict(probeMs: readonly number[], foreignCores: ReadonlyArray<number | null>, limits = { speedPercent: MACHINE_SPEED_TOLERANCE_PERCENT, foreignCores: FOREIGN_LOAD_LIMIT_CORES }): NoiseReport {
  const reasons: string[] = [];
  const p = spread(probeMs);
  const speedMovedPercent = p.min !== null && p.max !== null && p.min > 0 ? ((p.max - p.min) / p.min) * 100 : null;
  if (speedMovedPercent !== null && speedMovedPercent > limits.speedPercent) {
    reasons.push(`machine speed moved ${speedMovedPercent.toFixed(0)} % between probes (limit ${limits.speedPercent} %)`);
  }
  const foreign = spread(foreignCores);
  if (foreign.median !== null && foreign.median > limits.foreignCores) {
    reasons.push(`other processes used ${foreign.median.toFixed(2)} CPUs during the rounds (median; limit ${limits.foreignCores})`);
  }
  return { probeMs: [...probeMs], speedMovedPercent: speedMovedPercent === null ? null : +speedMovedPercent.toFixed(1), foreignCores: foreign, verdict: reasons.length > 0 ? 'noisy' : 'steady', reasons };
}

/** The machine-facing parts of a comparison (replaced by fakes in tests). */
export interface MachineMeters {
  /** Wall ms of the fixed CPU loop. */
  probe(): number;
  /** CPU seconds used so far by the whole machine and by this bench's process tree (null without /proc). */
  cpu(): { machine: number; ours: number } | null;
  nowMs(): number;
}

export const realMachine: MachineMeters = {
  probe: probeMachineSpeed,
  cpu: () => {
    const machine = machineBusySeconds();
    const ours = ownCpu().seconds();
    return machine === null || ours === null ? null : { machine, ours };
  },
  nowMs: () => performance.now(),
};

/**
 * In the bench's environment, so every process it starts inherits it: a daemon that a `vfab up` child
 * started is re-parented to init when that child exits, leaving this process's tree, but it is still
 * the bench's own work and not another process loading the machine.
 */
export const BENCH_OWNER_ENV = 'VFAB_BENCH_OWNER';
/** How often the meter looks at /proc between readings, so a re-parented process that ends keeps its CPU. */
export const OWN_CPU_SAMPLE_MS = 250;

/**
 * CPU seconds of the bench's own processes: its tree (children counted through cutime once reaped) plus
 * every process outside the tree that carries BENCH_OWNER_ENV with this process's PID, alive or ended
 * since it was last seen (its last reading is kept; at most OWN_CPU_SAMPLE_MS of an ended process's CPU
 * is missed). A process whose parent is one of ours is counted by that parent's cutime once it ends.
 */
export class OwnCpuMeter {
  private readonly marker: string;
  /** "pid:starttime" -> carries the marker (read once per process). */
  private readonly marked = new Map<string, boolean>();
  /** Ours outside this process, at the last look: ticks (with their reaped children) and parent. */
  private live = new Map<string, { pid: number; ppid: number; ticks: number }>();
  private endedTicks = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly root: number = process.pid) {
    this.marker = `${BENCH_OWNER_ENV}=${root}`;
  }

  /** Marks this process's environment (children inherit it) and starts the background look. */
  start(): this {
    if (this.root === process.pid) process.env[BENCH_OWNER_ENV] = String(this.root);
    this.timer ??= setInterval(() => this.seconds(), OWN_CPU_SAMPLE_MS).unref();
    return this;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  seconds(): number | null {
    let entries: string[];
    try {
      entries = fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e));
    } catch {
      return null;
    }
    const stats = new Map<number, { ppid: number; start: string; ticks: number }>();
    const children = new Map<number, number[]>();
    for (const e of entries) {
      const f = statFields(Number(e));
      if (f === null) continue; // ended while we looked
      const pid = Number(e);
      const ppid = Number(f[1]);
      stats.set(pid, { ppid, start: f[19]!, ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]) });
      const list = children.get(ppid);
      if (list) list.push(pid);
      else children.set(ppid, [pid]);
    }
    const self = stats.get(this.root);
    if (self === undefined) return null;
    const tree = new Set<number>();
    const todo = [...(children.get(this.root) ?? [])];
    while (todo.length > 0) {
      const pid = todo.pop()!;
      tree.add(pid);
      todo.push(...(children.get(pid) ?? []));
    }
    const live = new Map<string, { pid: number; ppid: number; ticks: number }>();
    for (const [pid, st] of stats) {
      if (pid === this.root) continue;
      const key = `${pid}:${st.start}`;
      let ours = tree.has(pid) || this.marked.get(key);
      if (ours === undefined) {
        ours = this.carriesMarker(pid);
        this.marked.set(key, ours);
      }
      if (ours) live.set(key, { pid, ppid: st.ppid, ticks: st.ticks });
    }
    const livePids = new Set([...live.values()].map((v) => v.pid));
    for (const [key, was] of this.live) {
      if (live.has(key)) continue;
      // ended: a parent of ours reaps it into its cutime (counted there); re-parented ones keep their reading
      if (was.ppid !== this.root && !livePids.has(was.ppid)) this.endedTicks += was.ticks;
      this.marked.delete(key);
    }
    for (const key of this.marked.keys()) if (!live.has(key) && !stats.has(Number(key.split(':')[0]))) this.marked.delete(key);
    this.live = live;
    let sum = self.ticks + this.endedTicks;
    for (const v of live.values()) sum += v.ticks;
    return sum / USER_HZ;
  }

  private carriesMarker(pid: number): boolean {
    try {
      const env = fs.readFileSync(`/proc/${pid}/environ`, 'latin1');
      return env.startsWith(this.marker + '\0') || env.includes('\0' + this.marker + '\0');
    } catch {
      return false;
    }
  }
}

let ownMeter: OwnCpuMeter | undefined;
/** The bench's one meter, started on first use. */
export function ownCpu(): OwnCpuMeter {
  return (ownMeter ??= new OwnCpuMeter().start());
}

/** Runs the comparison's rounds (sides interleaved, order reversed every other round) and sums them up. */
export async function runComparison(spec: ComparisonSpec): Promise<ComparisonResult> {
  if (spec.sides.length === 0) throw new Error(`${spec.name}: no side to measure`);
  if (spec.baseline !== undefined && !spec.sides.some((s) => s.id === spec.baseline)) throw new Error(`${spec.name}: baseline ${spec.baseline} is not a side`);
  const m = spec.machine ?? realMachine;
  const log = spec.log ?? (() => {});
  for (const side of spec.sides) await side.warmUp?.();
  const probeMs = [m.probe()];
  const rounds: RoundRecord[] = [];
  for (let r = 0; r < spec.rounds; r++) {
    const order = roundOrder(spec.sides, r);
    const values: RoundRecord['values'] = {};
    const t0 = m.nowMs();
    const cpu0 = m.cpu();
    for (const side of order) values[side.id] = await side.measure(r);
    const cpu1 = m.cpu();
    const wallSeconds = (m.nowMs() - t0) / 1000;
    const foreignCores = cpu0 && cpu1 && wallSeconds > 0 ? Math.max(0, cpu1.machine - cpu0.machine - (cpu1.ours - cpu0.ours)) / wallSeconds : null;
    // keyed in the spec's side order whatever order they ran in
    const ordered = Object.fromEntries(spec.sides.map((s) => [s.id, values[s.id]!]));
    const rec: RoundRecord = { round: r + 1, order: order.map((s) => s.id), values: ordered, ratio: roundRatios(spec.figures, ordered, spec.baseline), wallSeconds: +wallSeconds.toFixed(3), foreignCores: foreignCores === null ? null : +foreignCores.toFixed(3) };
    rounds.push(rec);
    probeMs.push(m.probe());
    log(`${spec.name}: round ${r + 1}/${spec.rounds} (${rec.order.join(', ')}) ${roundSummary(spec, rec)}`);
  }
  const figures = summarizeRounds(spec.figures, spec.sides.map((s) => s.id), spec.baseline, rounds);
  return {
    name: spec.name,
    sides: spec.sides.map((s) => ({ id: s.id, label: s.label })),
    baseline: spec.baseline ?? null,
    figures,
    rounds,
    noise: noiseVerdict(probeMs.map((v) => +v.toFixed(2)), rounds.map((r) => r.foreignCores)),
    targets: (spec.targets ?? []).map((t) => judgeTarget(t, figures)),
  };
}

function roundSummary(spec: ComparisonSpec, rec: RoundRecord): string {
  const f = spec.figures[0]!;
  const parts = spec.sides.map((s) => `${s.label} ${fmt(rec.values[s.id]?.[f.id])}`);
  const ratios = Object.entries(rec.ratio).map(([s, r]) => `${s} ratio ${fmtRatio(r[f.id] ?? null)}`);
  return `${f.label}: ${[...parts, ...ratios].join(', ')}`;
}

// ------------------------------------------------------------------ text output

/** A number with 3 significant digits and k/M suffix: 3.61 M, 512, 0.134. */
export function fmt(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '-';
  const a = Math.abs(n);
  if (a >= 1e6) return `${(n / 1e6).toPrecision(3)} M`;
  if (a >= 1e4) return `${(n / 1e3).toPrecision(3)} k`;
  if (a >= 100) return n.toFixed(0);
  return n.toPrecision(3);
}

export function fmtRatio(n: number | null): string {
  return n === null ? '-' : n.toFixed(2);
}

function fmtSpread(s: Spread | undefined, f: (n: number | null) => string): string {
  if (!s || s.median === null) return '-';
  return `${f(s.median)} (${f(s.min)}-${f(s.max)})`;
}

/** The text lines of a comparison: a table of figures per side, ratios with their range, targets, noise. */
export function formatComparison(res: ComparisonResult): string[] {
  const lines: string[] = [];
  const n = res.rounds.length;
  const baseLabel = res.sides.find((s) => s.id === res.baseline)?.label;
  lines.push(`${res.name}: ${n} round${n === 1 ? '' : 's'}, median (min-max)${baseLabel ? `; ratio = median of the per-round ratios to ${baseLabel}` : ''}`);
  const figW = Math.max(14, ...Object.values(res.figures).map((f) => f.label.length + (Object.keys(f.ratio).length > 0 ? 6 : 0))) + 2;
  const colW = Math.max(28, ...res.sides.map((s) => s.label.length + 2));
  lines.push('  ' + ''.padEnd(figW) + res.sides.map((s) => s.label.padEnd(colW)).join(''));
  // a figure no side measured here (cache hits in a write phase) is left out of the text, kept in the JSON
  const shown = Object.values(res.figures).filter((f) => Object.values(f.sides).some((sp) => sp.median !== null));
  for (const f of shown) {
    lines.push('  ' + f.label.padEnd(figW) + res.sides.map((s) => fmtSpread(f.sides[s.id], fmt).padEnd(colW)).join(''));
  }
  if (baseLabel) {
    for (const f of shown) {
      if (Object.keys(f.ratio).length === 0) continue;
      lines.push('  ' + `ratio ${f.label}`.padEnd(figW) + res.sides.map((s) => (s.id === res.baseline ? '1' : fmtSpread(f.ratio[s.id], fmtRatio)).padEnd(colW)).join(''));
    }
  }
  for (const t of res.targets) {
    const v = t.on === 'ratio' ? fmtRatio(t.value) : fmt(t.value);
    lines.push(`  target: ${t.text}: ${v} ${t.met === null ? 'not measured' : t.met ? 'met' : 'NOT met'} (judged on the ${t.on === 'ratio' ? 'median per-round ratio' : 'median'} of ${res.figures[t.figure]?.label ?? t.figure})`);
  }
  const nz = res.noise;
  const foreign = nz.foreignCores.median === null ? 'unknown' : `${nz.foreignCores.median.toFixed(2)} CPUs`;
  lines.push(`  noise: ${nz.verdict === 'steady' ? 'steady' : 'NOISY, do not trust this comparison'} (probe loop moved ${nz.speedMovedPercent ?? '-'} %, other processes ${foreign})${nz.reasons.length > 0 ? ': ' + nz.reasons.join('; ') : ''}`);
  return lines;
}

// ------------------------------------------------------------------ CPU accounting (/proc)

function statFields(pid: number | 'self'): string[] | null {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) is in parentheses and may hold spaces: split after its closing one
    return text.slice(text.lastIndexOf(') ') + 2).split(' ');
  } catch {
    return null;
  }
}

/** CPU seconds a process has used (user + system, all its threads; or system only), or null (no /proc, gone). */
export function processCpuSeconds(pid: number | undefined, only?: 'system'): number | null {
  if (pid === undefined) return null;
  const f = statFields(pid);
  if (f === null) return null;
  return ((only === 'system' ? 0 : Number(f[11])) + Number(f[12])) / USER_HZ;
}

/** CPU seconds of the children this process has waited for (cutime + cstime: finished child processes). */
export function reapedChildrenCpuSeconds(): number | null {
  const f = statFields('self');
  return f === null ? null : (Number(f[13]) + Number(f[14])) / USER_HZ;
}

/** CPU seconds of this process (user + system, all threads; microsecond precision). */
export function selfCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/**
 * CPU seconds used so far by a set of processes: the given pids (live, from /proc), plus optionally this
 * process and the children it has already waited for. Null when a pid cannot be read.
 */
export function cpuSecondsOf(pids: ReadonlyArray<number | undefined>, opts: { self?: boolean; reapedChildren?: boolean } = {}): number | null {
  let sum = opts.self ? selfCpuSeconds() : 0;
  for (const pid of pids) {
    const s = processCpuSeconds(pid);
    if (s === null) return null;
    sum += s;
  }
  if (opts.reapedChildren) {
    const c = reapedChildrenCpuSeconds();
    if (c === null) return null;
    sum += c;
  }
  return sum;
}

/** CPU time per unit in the given scale (1e9: ns, 1e6: us, 1e3: ms), or null. */
export function perUnit(cpuBefore: number | null, cpuAfter: number | null, units: number, scale: number): number | null {
  return cpuBefore === null || cpuAfter === null || units <= 0 ? null : ((cpuAfter - cpuBefore) / units) * scale;
}

/**
 * CPU seconds used so far by this process and every process below it (live ones from /proc, finished
 * ones through their parents' cutime/cstime), so a process that starts or ends mid-round is counted once.
 */
export function treeCpuSeconds(root: number = process.pid): number | null {
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return null;
  }
  const children = new Map<number, number[]>();
  const ticks = new Map<number, number>();
  for (const e of entries) {
    const f = statFields(Number(e));
    if (f === null) continue; // ended while we looked
    const pid = Number(e);
    const ppid = Number(f[1]);
    ticks.set(pid, Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]));
    const list = children.get(ppid);
    if (list) list.push(pid);
    else children.set(ppid, [pid]);
  }
  if (!ticks.has(root)) return null;
  let sum = 0;
  const todo = [root];
  while (todo.length > 0) {
    const pid = todo.pop()!;
    sum += ticks.get(pid) ?? 0;
    for (const c of children.get(pid) ?? []) todo.push(c);
  }
  return sum / USER_HZ;
}

/** CPU seconds the whole machine has been busy (user + nice + system + steal, all CPUs), or null. */
export function machineBusySeconds(): number | null {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: interrupt time is left out on both sides (the
    // kernel does not charge it to the process whose packets it handled)
    return (v[0]! + v[1]! + v[2]! + (v[7] ?? 0)) / USER_HZ;
  } catch {
    return null;
  }
}

/** Resident memory of a process in bytes (VmRSS), or null. */
export function processRssBytes(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

// ------------------------------------------------------------------ noise probe

let probeSink = 0;
function probeLoop(iterations: number): number {
  let x = 0x9e3779b9 | 0;
  for (let i = 0; i < iterations; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
  }
  return x;
}

/** Wall ms of PROBE_ITERATIONS of a fixed integer loop, the fastest of PROBE_REPEATS timings (after one untimed run, so the JIT has compiled it). */
export function probeMachineSpeed(): number {
  probeSink ^= probeLoop(PROBE_ITERATIONS);
  const times: number[] = [];
  for (let i = 0; i < PROBE_REPEATS; i++) {
    const t0 = performance.now();
    probeSink ^= probeLoop(PROBE_ITERATIONS);
    times.push(performance.now() - t0);
  }
  return Math.min(...times);
}
