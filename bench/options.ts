// Command-line options of `npm run bench` (bench/index.ts), parsed and checked strictly: an unknown
// option, a value that is not a number in range or an unknown area is a usage error (exit 2) that names
// what the user typed. Pure: no I/O here. Method and areas: docs/benchmarks.md.

import { parseArgs } from 'node:util';
import { DEFAULT_ROUNDS, MAX_ROUNDS, STORAGE_DEFAULT_ROUNDS } from './harness.js';

/** The areas `--only` selects, in the order a full run measures them. */
export const AREAS = ['fabric', 'storage', 'failover', 'cli', 'datastore', 'iscsi', 'ha', 'vmotion', 'guests', 'ui', 'scale', 'sim'] as const;
export type Area = (typeof AREAS)[number];
/** Bounds of `--seconds` (the length of one measured phase of one side in one round). */
export const MIN_PHASE_SECONDS = 0.2;
export const MAX_PHASE_SECONDS = 10;
/** Bounds of `--hosts` (the scale area's fabric sizes): even, as the generated hosts come in pairs. */
export const MIN_SCALE_HOSTS = 2;
export const MAX_SCALE_HOSTS = 200;
/** Sizes one `--hosts` list may name. */
export const MAX_SCALE_SIZES = 5;

export interface BenchOptions {
  json: boolean;
  help: boolean;
  areas: Area[];
  /** Rounds per comparison; each area's own default when absent (storage 9, the others 5). */
  rounds?: number;
  /** Phase length for the fabric, storage, iscsi and datastore (metadata) comparisons; each area's own default when absent. */
  seconds?: number;
  /** The scale area's fabric sizes in hosts (bench/scale.ts); its default when absent. */
  hosts?: number[];
}

export class BenchUsageError extends Error {}

export const BENCH_USAGE = `usage: npm run bench [-- [--only AREA[,AREA...]] [--rounds N] [--seconds S] [--json]]

Runs each comparison's sides (vfab and its peers, measured in the same run) in interleaved rounds and
prints each figure as median (min-max), each ratio as the median of the per-round ratios with its range,
the CPU time per frame / I/O / command of every process involved, targets, and a noise verdict.

  --only LIST    areas to run, comma-separated: ${AREAS.join(', ')} (default: all)
  --rounds N     rounds per comparison, ${1}-${MAX_ROUNDS} (default: storage ${STORAGE_DEFAULT_ROUNDS}, the others ${DEFAULT_ROUNDS})
  --seconds S    length of one measured phase in the fabric, storage, iscsi, guests and ui areas and of the
                 datastore area's 8-host metadata phase, ${MIN_PHASE_SECONDS}-${MAX_PHASE_SECONDS} (default: fabric 3, storage 1.5,
                 datastore 2, iscsi 2, guests 10, ui 3; iscsi and guests round it to whole seconds)
  --hosts LIST   the scale area's fabric sizes, hosts (x 10 VMs each), even numbers ${MIN_SCALE_HOSTS}-${MAX_SCALE_HOSTS}, comma-separated
                 (default: 10,50,100)
  --json         one JSON document on stdout (progress goes to stderr)
  --help         this text

examples:
  npm run bench                                   # everything, about 17 minutes on 2 CPUs
  npm run bench -- --only fabric                  # one area
  npm run bench -- --only cli,storage --rounds 7  # more rounds for a tighter median
  npm run bench -- --only fabric --rounds 2 --seconds 1 --json > /tmp/fabric.json   # a quick check
  npm run bench -- --only datastore --rounds 1 --seconds 0.5  # ATS-only vs ATS+SCSI, under a minute
  npm run bench -- --only iscsi --rounds 1 --seconds 1        # vfab's iSCSI portal vs tgt, about 20 s (needs root,
                                                              # apt-get install tgt libiscsi-bin qemu-utils)
  npm run bench -- --only scale                   # 10, 50 and 100 hosts x 10 VMs: up, memory, status, probe, down;
                                                  # about 4 minutes (one round)
  npm run bench -- --only scale --hosts 10        # a quick check, under a minute
  npm run bench -- --only guests --rounds 1 --seconds 2       # netns TCP through vfab vs VDE, about 40 s (needs
                                                              # root, apt-get install iperf3 vde2; skipped without)
  npm run bench -- --only ui --rounds 1 --seconds 2           # the web view on 60 hosts in Chromium: load time,
                                                              # event-to-screen latency (skipped without chromium)
`;

/** Parses bench/index.ts's argv (without node and the script); throws BenchUsageError naming the bad input. */
export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  let values: { json?: boolean; help?: boolean; only?: string; rounds?: string; seconds?: string; hosts?: string };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' }, only: { type: 'string' }, rounds: { type: 'string' }, seconds: { type: 'string' }, hosts: { type: 'string' } },
    }));
  } catch (e) {
    const msg = (e as Error).message;
    const code = (e as { code?: string }).code;
    const named = /'([^']+)'/.exec(msg)?.[1];
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new BenchUsageError(`unknown option '${named ?? msg}'`);
    if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') throw new BenchUsageError(`unexpected argument '${named ?? msg}' (options start with --)`);
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') throw new BenchUsageError(`${(named ?? msg).replace(/ <value>$/, '')} needs a value`);
    throw new BenchUsageError(msg);
  }
  const opts: BenchOptions = { json: values.json === true, help: values.help === true, areas: [...AREAS] };
  if (values.only !== undefined) {
    const parts = values.only.split(',').map((p) => p.trim());
    const unknown = parts.filter((p) => !(AREAS as readonly string[]).includes(p));
    if (parts.length === 0 || unknown.length > 0) {
      throw new BenchUsageError(`--only ${values.only}: unknown area '${unknown[0] ?? ''}' (areas: ${AREAS.join(', ')})`);
    }
    opts.areas = AREAS.filter((a) => parts.includes(a));
  }
  if (values.rounds !== undefined) {
    const n = /^\d+$/.test(values.rounds) ? Number(values.rounds) : NaN;
    if (!(n >= 1 && n <= MAX_ROUNDS)) throw new BenchUsageError(`--rounds ${values.rounds}: want a whole number from 1 to ${MAX_ROUNDS}`);
    opts.rounds = n;
  }
  if (values.seconds !== undefined) {
    const s = /^\d+(\.\d+)?$/.test(values.seconds) ? Number(values.seconds) : NaN;
    if (!(s >= MIN_PHASE_SECONDS && s <= MAX_PHASE_SECONDS)) throw new BenchUsageError(`--seconds ${values.seconds}: want a number of seconds from ${MIN_PHASE_SECONDS} to ${MAX_PHASE_SECONDS}`);
    opts.seconds = s;
  }
  if (values.hosts !== undefined) {
    const parts = values.hosts.split(',').map((p) => p.trim());
    const bad = parts.find((p) => !/^\d+$/.test(p) || Number(p) < MIN_SCALE_HOSTS || Number(p) > MAX_SCALE_HOSTS || Number(p) % 2 !== 0);
    if (bad !== undefined || parts.length > MAX_SCALE_SIZES) {
      throw new BenchUsageError(`--hosts ${values.hosts}: ${bad !== undefined ? `'${bad}' is not` : `at most ${MAX_SCALE_SIZES} sizes, each`} an even number of hosts from ${MIN_SCALE_HOSTS} to ${MAX_SCALE_HOSTS}`);
    }
    opts.hosts = parts.map(Number);
  }
  return opts;
}
