// vfab validate / probe / diff: design validation before a fabric is built (static rules with rule IDs,
// text, JSON and SARIF 2.1.0 output), a live reachability matrix (brings the design up, pings every pair,
// explains unexpected results from drop counters, tears down), and what a design change does to findings,
// reachability and single points of failure. Rules: lib/validate; reference: docs/validate.md.

import { readFile, stat, writeFile } from 'node:fs/promises';
import { formatProblem } from '../../../lib/topology/load.js';
import { MAX_TOPOLOGY_FILE_BYTES } from '../../../lib/topology/model.js';
import type { TopologyProblem } from '../../../lib/topology/source.js';
import {
  validateText, countBySeverity, formatFinding, analyzeDesign, type ValidateOutcome, type Finding,
} from '../../../lib/validate/index.js';
import { toSarif } from '../../../lib/validate/sarif.js';
import { diffDesigns } from '../../../lib/validate/diff.js';
import { renderMatrix } from '../../../lib/validate/probe-explain.js';
import { probeDesign } from '../../validate/probe.js';
import { type CliIo, type CommandTable, defineCommand, printJson, JSON_OPTION, EXIT_OK, EXIT_FAILED, EXIT_USAGE } from '../io.js';

/** Reads and validates a design file; a file that cannot be read is a load problem (exit 2). */
export async function validateFile(file: string): Promise<ValidateOutcome> {
  const readProblem = (message: string): ValidateOutcome =>
    ({ ok: false, code: 'VFAB_TOPOLOGY_READ', problems: [{ file, line: 1, column: 1, path: '', message }] });
  try {
    const info = await stat(file);
    if (info.size > MAX_TOPOLOGY_FILE_BYTES) return readProblem(`file is ${info.size} bytes; topology files are limited to ${MAX_TOPOLOGY_FILE_BYTES} bytes`);
    return validateText(await readFile(file, 'utf8'), file);
  } catch (e) {
    return readProblem(`cannot read file: ${(e as Error).message}`);
  }
}

function reportProblems(io: CliIo, file: string, problems: readonly TopologyProblem[]): void {
  for (const p of problems) io.err(formatProblem(p));
  io.err(`${file} is not a valid topology: ${problems.length} problem${problems.length === 1 ? '' : 's'} (exit 2)`);
}

const validate = defineCommand(
  {
    usage: ['FILE [--json] [--sarif OUT]'],
    description: `Checks a topology design without building it: VLANs against trunks (allowed lists, native VLAN trap),
port groups across hosts and clusters, uplink redundancy, IP hash and port-channels, beacon probing,
MTU along paths, duplicate and out-of-range MACs, standby uplinks, gateways. Each finding has a rule
ID, severity, file:line:column, field and a hint (rules: docs/validate.md).`,
    options: {
      json: { ...JSON_OPTION, description: 'print the findings (or the load problems) as one JSON document' },
      sarif: { type: 'string', value: 'OUT', description: 'also write a SARIF 2.1.0 log to OUT (for code-scanning tools)' },
    },
    args: { min: 1, max: 1 },
    examples: ['validate topologies/native-vlan-trap.yaml', 'validate design.yaml --sarif findings.sarif'],
    exits: { 0: 'no error-level finding', 1: 'at least one error-level finding', 2: 'bad usage, or the file does not load (each problem listed)' },
  },
  async ({ values, positionals }, io) => {
    const file = positionals[0]!;
    const outcome = await validateFile(file);
    if (values.sarif) {
      await writeFile(values.sarif, JSON.stringify(outcome.ok ? toSarif(outcome.findings) : toSarif([], outcome.problems), null, 2));
    }
    if (!outcome.ok) {
      if (values.json) printJson(io, { file, valid: false, code: outcome.code, problems: outcome.problems });
      else reportProblems(io, file, outcome.problems);
      return EXIT_USAGE;
    }
    const counts = countBySeverity(outcome.findings);
    if (values.json) printJson(io, { file, valid: true, summary: counts, findings: outcome.findings });
    else {
      for (const f of outcome.findings) io.out(formatFinding(f));
      io.out(`${file}: ${counts.error} error${counts.error === 1 ? '' : 's'}, ${counts.warning} warning${counts.warning === 1 ? '' : 's'}, ${counts.info} info`);
    }
    return counts.error > 0 ? EXIT_FAILED : EXIT_OK;
  },
);

const probe = defineCommand(
  {
    usage: ['FILE [--json]'],
    description: `Brings the design up in a private temporary fabric, pings (ARP + ICMP from inside each VM) from every VM
NIC to every other NIC in its VLAN, to same-subnet NICs of other VLANs (which must stay isolated) and to
its gateway, and prints the reachability matrix per VLAN. Each unexpected result is re-run alone and
explained from the drop counters of every vSwitch and switch port (which hop dropped it, and why). The
fabric is always torn down afterwards, also on Ctrl-C.`,
    options: { json: { ...JSON_OPTION, description: 'print the results as one JSON document' } },
    args: { min: 1, max: 1 },
    examples: ['probe topologies/native-vlan-trap.yaml', 'probe topologies/quickstart.yaml --json'],
    exits: { 0: 'every pair as expected', 1: 'at least one unexpected result', 2: 'bad usage, or the file does not load' },
  },
  async ({ values, positionals }, io) => {
    const file = positionals[0]!;
    const outcome = await validateFile(file);
    if (!outcome.ok) {
      if (values.json) printJson(io, { file, valid: false, code: outcome.code, problems: outcome.problems });
      else reportProblems(io, file, outcome.problems);
      return EXIT_USAGE;
    }
    const abort = new AbortController();
    const onSignal = () => {
      io.err('interrupted: tearing the fabric down');
      abort.abort();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      const report = await probeDesign(outcome.topology, { signal: abort.signal, onProgress: values.json ? undefined : (l) => io.err(l) });
      if (values.json) printJson(io, { file, ...report });
      else io.out(renderMatrix(report.results));
      return report.unexpected > 0 ? EXIT_FAILED : EXIT_OK;
    } finally {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    }
  },
);

const diff = defineCommand(
  {
    usage: ['OLD NEW [--json]'],
    description: `What changing design OLD into NEW does, without starting anything: findings that appear or go away
(matched by what they are about, not by line), VM NIC pairs whose predicted reachability changes, and
single points of failure added or removed.`,
    options: { json: { ...JSON_OPTION, description: 'print the diff as one JSON document' } },
    args: { min: 2, max: 2 },
    examples: ['diff old.yaml new.yaml', 'diff topologies/quickstart.yaml my-change.yaml --json'],
    exits: { 0: 'nothing got worse', 1: 'NEW adds an error finding or loses reachability a pair had', 2: 'bad usage, or a file does not load' },
  },
  async ({ values, positionals }, io) => {
    const [oldFile, newFile] = positionals as [string, string];
    const before = await validateFile(oldFile);
    const after = await validateFile(newFile);
    for (const [file, o] of [[oldFile, before], [newFile, after]] as const) {
      if (o.ok) continue;
      if (!values.json) reportProblems(io, file, o.problems);
    }
    if (!before.ok || !after.ok) {
      if (values.json) printJson(io, { old: oldFile, new: newFile, valid: false, problems: [...(before.ok ? [] : before.problems), ...(after.ok ? [] : after.problems)] });
      return EXIT_USAGE;
    }
    const d = diffDesigns(
      { findings: before.findings, analysis: analyzeDesign(before.topology) },
      { findings: after.findings, analysis: analyzeDesign(after.topology) },
    );
    const rank = { reachable: 2, partial: 1, unreachable: 0 } as Record<string, number>;
    const lost = d.reachability.filter((c) => c.before !== undefined && c.after !== undefined && rank[c.after]! < rank[c.before]!);
    const worse = d.newFindings.some((f) => f.severity === 'error') || lost.length > 0;
    if (values.json) {
      printJson(io, { old: oldFile, new: newFile, worse, ...d });
      return worse ? EXIT_FAILED : EXIT_OK;
    }
    const section = (title: string, lines: string[]) => {
      io.out(`${title}:${lines.length === 0 ? ' none' : ''}`);
      for (const l of lines) io.out(`  ${l}`);
    };
    const short = (f: Finding) => `${f.severity} ${f.ruleId} ${f.message} (${f.file}:${f.line})`;
    section('new findings', d.newFindings.map(short));
    section('resolved findings', d.resolvedFindings.map(short));
    section('reachability changes', d.reachability.map((c) =>
      `${c.key} (${c.vlan}, expected ${c.expected}): ${c.before ?? 'absent'} -> ${c.after ?? 'absent'}${c.reasons.length ? `  [${c.reasons.join('; ')}]` : ''}`));
    section('single points of failure added', d.spofsAdded);
    section('single points of failure resolved', d.spofsResolved);
    io.out(worse ? 'the change makes the design worse' : 'the change does not make the design worse');
    return worse ? EXIT_FAILED : EXIT_OK;
  },
);

export const commands: CommandTable = { validate, probe, diff };

