// libiscsi's conformance suite (`iscsi-test-cu`) against vfab's iSCSI portal, the way issue 11 measures
// it: every suite of the ALL family in its own iscsi-test-cu process, each on a fresh in-memory array
// (`stored --memory --iscsi-port 0` from dist/, one 64 MiB LUN, thin or thick), destructive tests on (-d),
// two initiator names (-i/-I) and the LUN URL given twice (MultipathIO's second path). Parses CUnit's
// verbose output per test (passed/FAILED, and whether the test skipped a check with "[SKIPPED]"), prints a
// per-suite table and totals per LUN kind, or JSON, or writes the Markdown table (docs/iscsi-conformance.md).
// Leaves out the SCSI/iSCSI/LINUX families (subsets of ALL) and the sanitize tests (-S).
// usage: npm run conformance:iscsi -- [--lun thin|thick|both] [--suite NAME]... [--json] [--markdown FILE]

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';
import { DAEMON_SCRIPTS } from '../../daemons/fabric/process.js';

export const CONFORMANCE_TOOL = 'iscsi-test-cu';
export const CONFORMANCE_INSTALL = 'apt-get install libiscsi-bin';
/** The family whose suites are run (it holds every test once). */
export const CONFORMANCE_FAMILY = 'ALL';
/** LUN under test: large enough for every test (they use the first and last few hundred blocks). */
export const CONFORMANCE_LUN_BYTES = 64 * 1024 * 1024;
/** Two I_T nexuses: tests that reserve or register act from both. */
export const CONFORMANCE_INITIATORS = ['iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-test', 'iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-test-2'] as const;
/** Default bound on one suite's iscsi-test-cu run; a suite still running then is killed, its unreported tests fail. */
export const DEFAULT_SUITE_TIMEOUT_S = 120;
export const MAX_SUITE_TIMEOUT_S = 3600;
/** Bound on stored's start (spawn to ready line). */
const STORED_READY_MS = 20_000;
/** Bound on the kept output of one iscsi-test-cu run (the largest suite prints about 200 KiB with -d). */
const MAX_OUTPUT_BYTES = 8 * 1024 * 1024;
/** Suites run at the same time, at most (each with its own stored). */
export const MAX_JOBS = 8;

export type LunKind = 'thin' | 'thick';
export const LUN_KINDS: readonly LunKind[] = ['thin', 'thick'];

export interface TestResult {
  name: string;
  outcome: 'passed' | 'failed';
  /** The test skipped at least one check ("[SKIPPED]" in its output). */
  skippedChecks: boolean;
  /** ... because a command it sends is not implemented. */
  notImplemented: boolean;
}

export interface SuiteResult {
  suite: string;
  tests: number;
  passed: number;
  failed: number;
  skippedChecks: number;
  notImplemented: number;
  /** Failed tests, and why the run ended early when it did. */
  failures: string[];
  seconds: number;
}

export interface KindResult {
  lun: LunKind;
  suites: SuiteResult[];
  totals: Omit<SuiteResult, 'suite' | 'failures' | 'seconds'> & { seconds: number };
}

/** Suites of the family and their tests, in listing order, from `iscsi-test-cu -l`. */
export function parseTestList(listing: string, family = CONFORMANCE_FAMILY): Map<string, string[]> {
  const suites = new Map<string, string[]>();
  for (const raw of listing.split('\n')) {
    const parts = raw.trim().split('.');
    if (parts[0] !== family) continue;
    if (parts.length === 2) suites.set(parts[1]!, suites.get(parts[1]!) ?? []);
    else if (parts.length === 3) {
      const tests = suites.get(parts[1]!) ?? [];
      tests.push(parts[2]!);
      suites.set(parts[1]!, tests);
    }
  }
  return suites;
}

/**
 * The tests CUnit's verbose runner reports in `out`: each starts at "  Test: NAME ..." and ends with
 * "passed" or "FAILED" at the start of a line (the logging of libiscsi is indented, so its "[FAILED]"
 * lines do not count); the last such word of a test's section is its result.
 */
export function parseCunitOutput(out: string): TestResult[] {
  const results: TestResult[] = [];
  const sections = out.split(/^\s*Test: /m).slice(1);
  for (const section of sections) {
    const name = /^(\S+) \.\.\./.exec(section)?.[1];
    if (name === undefined) continue;
    const body = section.split(/^(?:Suite: |Run Summary:)/m)[0]!.slice(name.length + 4);
    const words = [...body.matchAll(/^(passed|FAILED)/gm)];
    const last = words.length === 0 ? undefined : words[words.length - 1]![1];
    if (last === undefined) continue; // the run ended inside this test
    results.push({ name, outcome: last === 'passed' ? 'passed' : 'failed', skippedChecks: /\[SKIPPED\]/.test(body), notImplemented: /\[SKIPPED\].*not implemented/.test(body) });
  }
  return results;
}

/** One suite's row from the tests it has and what the run reported (a test not reported failed). */
export function suiteResult(suite: string, tests: string[], reported: TestResult[], seconds: number, ending?: string): SuiteResult {
  const byName = new Map(reported.map((r) => [r.name, r]));
  const row: SuiteResult = { suite, tests: tests.length, passed: 0, failed: 0, skippedChecks: 0, notImplemented: 0, failures: [], seconds };
  for (const t of tests) {
    const r = byName.get(t);
    if (r === undefined) {
      row.failed++;
      row.failures.push(`${t}: not reported${ending ? ` (${ending})` : ''}`);
      continue;
    }
    if (r.outcome === 'passed') row.passed++;
    else {
      row.failed++;
      row.failures.push(`${t}: FAILED`);
    }
    if (r.skippedChecks) row.skippedChecks++;
    if (r.notImplemented) row.notImplemented++;
  }
  return row;
}

export function totalsOf(lun: LunKind, suites: SuiteResult[]): KindResult {
  const totals = { tests: 0, passed: 0, failed: 0, skippedChecks: 0, notImplemented: 0, seconds: 0 };
  for (const s of suites) {
    totals.tests += s.tests;
    totals.passed += s.passed;
    totals.failed += s.failed;
    totals.skippedChecks += s.skippedChecks;
    totals.notImplemented += s.notImplemented;
    totals.seconds += s.seconds;
  }
  totals.seconds = Math.round(totals.seconds * 10) / 10;
  return { lun, suites, totals };
}

/** Every process this runner started and has not seen exit (stored and iscsi-test-cu), to stop on SIGTERM/SIGINT. */
const live = new Set<ChildProcess>();
/** The run's scratch folder (stored configs), removed at the end or on SIGTERM/SIGINT. */
let scratchDir: string | undefined;

function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

interface Stored {
  child: ChildProcess;
  iscsiPort: number;
  iqn: string;
  lastWords: () => string;
}

async function startStored(configFile: string): Promise<Stored> {
  const child = track(
    spawn(process.execPath, [DAEMON_SCRIPTS.array, '--memory', '--config', configFile, '--port', '0', '--iscsi-port', '0'], {
      env: { ...process.env, VFAB_TOKEN: randomBytes(12).toString('hex') },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4096)));
  const ready = await new Promise<{ iscsiPort?: number; iqn?: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`stored not ready in ${STORED_READY_MS / 1000} s: ${err.trim()}`)), STORED_READY_MS);
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(line) as { iscsiPort?: number; iqn?: string });
      } catch {
        reject(new Error(`stored's first line is not its ready line: ${line}`));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`stored exited with ${code} before it was ready: ${err.trim()}`));
    });
  }).catch(async (e: Error) => {
    await stopStored(child);
    throw e;
  });
  if (typeof ready.iscsiPort !== 'number' || typeof ready.iqn !== 'string') {
    await stopStored(child);
    throw new Error('stored started without an iSCSI portal');
  }
  return { child, iscsiPort: ready.iscsiPort, iqn: ready.iqn, lastWords: () => err };
}

/** Ends a stored this runner started, by its PID, and waits for it. */
async function stopStored(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise((r) => child.once('exit', r));
  process.kill(child.pid, 'SIGTERM');
  const timer = setTimeout(() => child.pid !== undefined && child.exitCode === null && process.kill(child.pid, 'SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

function runTool(args: string[], timeoutMs: number): Promise<{ out: string; code: number | null; timedOut: boolean }> {
  return new Promise((resolve, reject) => {
    const child = track(spawn(CONFORMANCE_TOOL, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    const keep = (d: Buffer): void => {
      if (out.length < MAX_OUTPUT_BYTES) out += d.toString();
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ out, code, timedOut });
    });
  });
}

export interface ConformanceOptions {
  kinds: LunKind[];
  /** Suites to run (names without the family); empty = all. */
  suites: string[];
  suiteTimeoutS: number;
  jobs: number;
  progress: (line: string) => void;
}

/** One suite on a fresh stored. */
async function runSuite(dir: string, kind: LunKind, suite: string, tests: string[], timeoutS: number): Promise<SuiteResult> {
  const t0 = Date.now();
  const config = join(dir, `${kind}-${suite}.json`);
  writeFileSync(config, JSON.stringify({ name: 'conformance', luns: [{ name: 'lun0', sizeBytes: CONFORMANCE_LUN_BYTES, lun: 0, provisioning: kind }] }));
  const stored = await startStored(config);
  try {
    const url = `iscsi://127.0.0.1:${stored.iscsiPort}/${stored.iqn}/0`;
    const r = await runTool(['-d', `--test=${CONFORMANCE_FAMILY}.${suite}.*`, '-i', CONFORMANCE_INITIATORS[0], '-I', CONFORMANCE_INITIATORS[1], url, url], timeoutS * 1000);
    const exited = stored.child.exitCode !== null || stored.child.signalCode !== null;
    const ending = r.timedOut ? `killed after ${timeoutS} s` : exited ? `stored exited: ${stored.lastWords().trim().slice(-300)}` : r.code !== 0 ? `iscsi-test-cu exited with ${r.code}` : undefined;
    return suiteResult(suite, tests, parseCunitOutput(r.out), (Date.now() - t0) / 1000, ending);
  } finally {
    await stopStored(stored.child);
  }
}

export async function runConformance(opts: ConformanceOptions): Promise<KindResult[]> {
  const list = spawnSync(CONFORMANCE_TOOL, ['-l'], { encoding: 'utf8', timeout: 30_000 });
  if (list.status !== 0) throw new Error(`${CONFORMANCE_TOOL} -l exited with ${list.status}: ${list.stderr}`);
  const all = parseTestList(list.stdout);
  for (const s of opts.suites) if (!all.has(s)) throw new UsageError(`--suite ${s}: no such suite; ${CONFORMANCE_TOOL} -l lists ${[...all.keys()].join(', ')}`);
  const chosen = [...all.keys()].filter((s) => opts.suites.length === 0 || opts.suites.includes(s));
  const dir = mkdtempSync(join(tmpdir(), 'vfab-iscsi-conformance-'));
  scratchDir = dir;
  const out: KindResult[] = [];
  try {
    for (const kind of opts.kinds) {
      const rows = new Array<SuiteResult>(chosen.length);
      let next = 0;
      let finished = 0;
      const worker = async (): Promise<void> => {
        while (next < chosen.length) {
          const i = next++;
          const suite = chosen[i]!;
          rows[i] = await runSuite(dir, kind, suite, all.get(suite)!, opts.suiteTimeoutS);
          finished++;
          const r = rows[i];
          opts.progress(`${kind} [${finished}/${chosen.length}] ${suite}: ${r.passed}/${r.tests} passed, ${r.failed} failed, ${r.skippedChecks} skipping checks (${r.seconds.toFixed(1)} s)`);
          for (const f of r.failures) opts.progress(`    ${f}`);
        }
      };
      await Promise.all(Array.from({ length: Math.min(opts.jobs, chosen.length) }, worker));
      out.push(totalsOf(kind, rows));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

/** The per-suite table, thin and thick side by side when both ran. */
export function formatTable(results: KindResult[], markdown = false): string {
  const header = ['suite', 'tests', ...results.flatMap((k) => [`${k.lun} passed`, `${k.lun} failed`, `${k.lun} skipping checks`])];
  const rows: string[][] = [];
  const suites = results[0]?.suites.map((s) => s.suite) ?? [];
  suites.forEach((suite, i) => {
    rows.push([suite, String(results[0]!.suites[i]!.tests), ...results.flatMap((k) => [String(k.suites[i]!.passed), String(k.suites[i]!.failed), String(k.suites[i]!.skippedChecks)])]);
  });
  rows.push(['total', String(results[0]?.totals.tests ?? 0), ...results.flatMap((k) => [String(k.totals.passed), String(k.totals.failed), String(k.totals.skippedChecks)])]);
  if (markdown) {
    const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
    return [line(header), line(header.map((_, i) => (i === 0 ? '---' : '---:'))), ...rows.map((r, i) => line(i === rows.length - 1 ? r.map((c) => `**${c}**`) : r))].join('\n');
  }
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const fmt = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [fmt(header), ...rows.map(fmt)].join('\n');
}

export function markdownReport(results: KindResult[], command: string, date: string, toolVersion: string): string {
  const lines = [
    '# iSCSI conformance: libiscsi `iscsi-test-cu` against vfab',
    '',
    `Generated by \`${command}\` on ${date} (${toolVersion}). Each suite of the ALL family ran in its own`,
    '`iscsi-test-cu -d` process against a fresh `stored --memory --iscsi-port 0` with one 64 MiB LUN of',
    'the kind named, two initiator names (`-i`, `-I`) and the LUN URL given twice (MultipathIO). "skipping',
    'checks" counts tests that passed but left out a check, mostly because the test asks for a command or',
    'feature the LUN does not have (see [iscsi.md](iscsi.md) for what is implemented).',
    '',
    formatTable(results, true),
    '',
    ...results.map((k) => `- ${k.lun}: ${k.totals.passed} of ${k.totals.tests} passed, ${k.totals.failed} failed, ${k.totals.skippedChecks} skipping checks (${k.totals.notImplemented} for a command not implemented), ${k.totals.seconds} s summed over its suite runs.`),
    '',
  ];
  return lines.join('\n');
}

export class UsageError extends Error {}

export interface CliOptions extends ConformanceOptions {
  json: boolean;
  markdown?: string;
  help: boolean;
}

export const HELP = `usage: npm run conformance:iscsi -- [options]
   or: node --import tsx bench/tools/iscsi-conformance.ts [options]   (after npm run build)

Runs libiscsi's ${CONFORMANCE_TOOL} against vfab's iSCSI portal: each suite of the ${CONFORMANCE_FAMILY} family in its own
process on a fresh stored (dist/daemons/stored.js --memory --iscsi-port 0, one 64 MiB LUN), with -d (destructive
tests), two initiator names and the LUN URL twice. Prints progress, then a table per suite: tests, passed,
failed, and tests that skipped a check.

options:
  --lun thin|thick|both   LUN provisioning to test (default both)
  --suite NAME            only this suite (repeatable), e.g. --suite CompareAndWrite
  --jobs N                suites run at once, each on its own stored (1..${MAX_JOBS}, default 1)
  --suite-timeout S       seconds one suite may take before it is killed (1..${MAX_SUITE_TIMEOUT_S}, default ${DEFAULT_SUITE_TIMEOUT_S})
  --json                  the results as JSON on stdout (progress stays on stderr)
  --markdown FILE         also write the table as Markdown to FILE (e.g. docs/iscsi-conformance.md)
  --help                  this text

exit: 0 every test passed, 1 a test failed, 2 bad options, 3 ${CONFORMANCE_TOOL} or dist/ missing (the message says how to
get it: ${CONFORMANCE_INSTALL}, npm run build).

examples:
  npm run conformance:iscsi
  npm run conformance:iscsi -- --lun thick --suite GetLBAStatus --suite Unmap
  npm run conformance:iscsi -- --json --jobs 2 > /tmp/conformance.json
  npm run conformance:iscsi -- --markdown docs/iscsi-conformance.md`;

export function parseArgs(argv: string[]): CliOptions {
  const o: CliOptions = { kinds: [...LUN_KINDS], suites: [], suiteTimeoutS: DEFAULT_SUITE_TIMEOUT_S, jobs: 1, progress: () => {}, json: false, help: false };
  const value = (i: number, flag: string): string => {
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new UsageError(`${flag} needs a value`);
    return v;
  };
  const integer = (text: string, flag: string, max: number): number => {
    if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > max) throw new UsageError(`${flag} ${text}: a whole number 1..${max}`);
    return Number(text);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    switch (a) {
      case '--help':
      case '-h':
        o.help = true;
        break;
      case '--json':
        o.json = true;
        break;
      case '--lun': {
        const v = value(i++, a);
        if (v === 'both') o.kinds = [...LUN_KINDS];
        else if (v === 'thin' || v === 'thick') o.kinds = [v];
        else throw new UsageError(`--lun ${v}: thin, thick or both`);
        break;
      }
      case '--suite': {
        const v = value(i++, a);
        if (!/^[A-Za-z0-9_]+$/.test(v)) throw new UsageError(`--suite ${v}: a suite name as ${CONFORMANCE_TOOL} -l lists it (without ${CONFORMANCE_FAMILY}.)`);
        o.suites.push(v);
        break;
      }
      case '--jobs':
        o.jobs = integer(value(i++, a), a, MAX_JOBS);
        break;
      case '--suite-timeout':
        o.suiteTimeoutS = integer(value(i++, a), a, MAX_SUITE_TIMEOUT_S);
        break;
      case '--markdown':
        o.markdown = value(i++, a);
        break;
      default:
        throw new UsageError(`unknown option ${a}`);
    }
  }
  return o;
}

function toolPresent(): boolean {
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', CONFORMANCE_TOOL], { stdio: 'ignore' }).status === 0;
}

export async function main(argv: string[]): Promise<number> {
  let o: CliOptions;
  try {
    o = parseArgs(argv);
  } catch (e) {
    process.stderr.write(`iscsi-conformance: ${(e as Error).message} (see --help)\n`);
    return 2;
  }
  if (o.help) {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  if (!toolPresent()) {
    process.stderr.write(`iscsi-conformance: ${CONFORMANCE_TOOL} is not installed; install it with: ${CONFORMANCE_INSTALL}\n`);
    return 3;
  }
  if (!existsSync(DAEMON_SCRIPTS.array)) {
    process.stderr.write(`iscsi-conformance: ${DAEMON_SCRIPTS.array} is missing; build it with: npm run build\n`);
    return 3;
  }
  o.progress = (line) => process.stderr.write(line + '\n');
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      // stop what we started, by PID, then go with the signal's exit status
      const n = live.size;
      for (const child of live) if (child.pid !== undefined) process.kill(child.pid, 'SIGTERM');
      if (scratchDir !== undefined) rmSync(scratchDir, { recursive: true, force: true });
      process.stderr.write(`iscsi-conformance: ${signal}: stopped the ${n} process(es) it had started\n`);
      process.exit(128 + (signal === 'SIGTERM' ? 15 : 2));
    });
  }
  let results: KindResult[];
  try {
    results = await runConformance(o);
  } catch (e) {
    process.stderr.write(`iscsi-conformance: ${(e as Error).message}\n`);
    return e instanceof UsageError ? 2 : 1;
  }
  if (o.json) process.stdout.write(JSON.stringify({ tool: CONFORMANCE_TOOL, family: CONFORMANCE_FAMILY, results }, null, 2) + '\n');
  else process.stdout.write(formatTable(results) + '\n' + results.map((k) => `${k.lun}: ${k.totals.passed}/${k.totals.tests} passed, ${k.totals.failed} failed, ${k.totals.skippedChecks} skipping checks (${k.totals.notImplemented} for a command not implemented)`).join('\n') + '\n');
  if (o.markdown !== undefined) {
    const version = spawnSync('dpkg-query', ['-W', '-f', '${Version}', 'libiscsi-bin'], { encoding: 'utf8' });
    const toolVersion = version.status === 0 ? `libiscsi-bin ${version.stdout.trim()}` : CONFORMANCE_TOOL;
    const cmd = ['npm run conformance:iscsi', ...(argv.length > 0 ? ['--', ...argv.filter((a, i) => a !== '--markdown' && argv[i - 1] !== '--markdown')] : [])].join(' ');
    writeFileSync(o.markdown, markdownReport(results, cmd.replace(/ --$/, ''), new Date().toISOString().slice(0, 10), toolVersion));
    process.stderr.write(`wrote ${o.markdown}\n`);
  }
  return results.some((k) => k.totals.failed > 0) ? 1 : 0;
}

if (process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  process.exitCode = await main(process.argv.slice(2));
}
