// npm run bench [-- --only AREA[,AREA]] [-- --rounds N] [-- --seconds S] [-- --json]: every comparison
// (vfab and its peers, measured in the same run) in interleaved rounds on the shared harness
// (bench/harness.ts): figures as median (min-max), ratios as the median of the per-round ratios, CPU time
// per unit, targets, and a noise verdict per comparison; or one JSON document with --json (progress on
// stderr). Options are checked strictly (bench/options.ts): bad usage exits 2 naming the input; a
// measurement that fails exits 1 after the other areas have run. Areas: fabric (bench/fabric.ts), storage
// (bench/storage.ts), failover (bench/failover.ts), cli (bench/cli.ts), datastore (bench/datastore.ts),
// iscsi (bench/iscsi.ts), ha (bench/ha.ts), vmotion (bench/vmotion.ts), guests (bench/guests.ts; needs root, iperf3 and vde2, else
// skipped), ui (bench/ui.ts; needs chromium, else skipped), scale (bench/scale.ts), sim (bench/sim.ts: simulation mode at scale, no comparison). Each is bounded in time; the whole run takes about 17 minutes on 2 CPUs at the
// default rounds (5; storage 9). Method: docs/benchmarks.md.

import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { BENCH_USAGE, BenchUsageError, parseBenchArgs, type Area, type BenchOptions } from './options.js';
import { FOREIGN_LOAD_LIMIT_CORES, MACHINE_SPEED_TOLERANCE_PERCENT, formatComparison, ownCpu, type ComparisonResult } from './harness.js';

let opts: BenchOptions;
try {
  opts = parseBenchArgs(process.argv.slice(2));
} catch (e) {
  if (!(e instanceof BenchUsageError)) throw e;
  process.stderr.write(`npm run bench: ${e.message}\nsee: npm run bench -- --help\n`);
  process.exit(2);
}
if (opts.help) {
  process.stdout.write(BENCH_USAGE);
  process.exit(0);
}
// before anything starts: every process the bench starts carries the owner mark (daemons a `vfab up`
// child left running count as the bench's own in the noise guard, not as another load)
ownCpu();

const log = (line: string) => (opts.json ? process.stderr : process.stdout).write(line + '\n');
const indent = (line: string) => log(`   ${line}`);
const seconds = opts.seconds !== undefined ? { seconds: opts.seconds } : {};
const rounds = opts.rounds;

interface AreaRun {
  data: object;
  comparisons: ComparisonResult[];
}

const AREA_RUNS: Record<Area, { title: string; run: () => Promise<AreaRun> }> = {
  fabric: {
    title: 'fabric: VM to VM across two hosts and a physical switch vs a bare WebSocket relay chain (same hop count)',
    run: async () => {
      const r = await (await import('./fabric.js')).runFabricBench({ ...seconds, rounds, log: indent });
      return { data: r, comparisons: r.comparisons };
    },
  },
  storage: {
    title: 'storage: 4 KiB random I/O over the WebSocket block protocol vs raw LevelDB',
    run: async () => {
      const r = await (await import('./storage.js')).runStorageBench({ ...seconds, rounds, log: indent });
      return { data: r, comparisons: r.comparisons };
    },
  },
  failover: {
    title: 'failover: link-status failover under 10 000 frames/s, and the cost of teaming (4 uplinks vs 1)',
    run: async () => {
      const r = await (await import('./failover.js')).runFailoverBench({ rounds, log: indent });
      return { data: r, comparisons: [r.outage, ...r.teamingCost] };
    },
  },
  datastore: {
    title: 'datastore: lock acquire, VM power-on and 8-host metadata ops on an ATS+SCSI datastore vs ATS-only',
    run: async () => {
      const r = await (await import('./datastore.js')).runDatastoreBench({ ...seconds, rounds, log: indent });
      return { data: r, comparisons: r.comparisons };
    },
  },
  iscsi: {
    title: 'iscsi: 4 KiB random reads (QD32, QD1) and writes (QD32) through vfab\'s iSCSI portal vs tgt, both on a 64 MiB LUN in memory (writes also to a durable LevelDB array)',
    run: async () => {
      const r = await (await import('./iscsi.js')).runIscsiBench({ ...seconds, rounds, log: indent });
      return { data: r, comparisons: r.comparisons };
    },
  },
  ha: {
    title: 'ha: vSphere HA time to restart after a host crash (3-host cluster, heartbeat datastore), next to the spec\'s 18 s',
    run: async () => {
      const r = await (await import('./ha.js')).runHaBench({ rounds, log: indent });
      return { data: r, comparisons: [r.restart] };
    },
  },
  vmotion: {
    title: 'vmotion: switchover downtime and frames lost at 10 000 frames/s while a VM moves between hosts (notify on)',
    run: async () => {
      const r = await (await import('./vmotion.js')).runVmotionBench({ rounds, log: indent });
      return { data: r, comparisons: [r.migration] };
    },
  },
  guests: {
    title: 'guests: iperf3 TCP and ping between two network namespaces through vfab (2 hosts, 2 switches) vs VDE; teaming failover under TCP',
    run: async () => {
      const r = await (await import('./guests.js')).runGuestsBench({ ...seconds, rounds, log: indent });
      return { data: r, comparisons: r.comparisons };
    },
  },
  sim: {
    title: 'sim: simulation mode at scale (10, 100, 1000 hosts x 10 VMs): a failover scenario over the whole fabric, events per second of virtual time',
    run: async () => {
      const r = await (await import('./sim.js')).runSimBench({ ...(rounds !== undefined ? { rounds } : {}), log: indent });
      return { data: r, comparisons: [] };
    },
  },
  ui: {
    title: 'ui: the vfab ui page in headless Chromium on 60 hosts: load to first full draw, event-to-screen latency at 1000 events/s',
    run: async () => {
      const r = await (await import('./ui.js')).runUiBench({ ...seconds, rounds, log: indent });
      return { data: r, comparisons: r.comparisons };
    },
  },
  scale: {
    title: 'scale: hosts x 10 VMs on two switches (10, 50, 100 hosts unless --hosts): vfab up, idle memory per daemon and per VM, vfab status, vfab probe, vfab down',
    run: async () => {
      const r = await (await import('./scale.js')).runScaleBench({ rounds, ...(opts.hosts ? { hosts: opts.hosts } : {}), log: indent });
      return { data: r, comparisons: [r.sizes] };
    },
  },
  cli: {
    title: 'cli: vfab --help and vfab status vs a bare Node start; idle RSS of the quickstart daemons',
    run: async () => {
      const r = await (await import('./cli.js')).runCliBench({ rounds, log: indent });
      return { data: r, comparisons: [r.idleRss, r.start] };
    },
  },
};

const result: Record<string, unknown> = {
  machine: { cpus: os.cpus().length, node: process.version, loadAverage: os.loadavg().map((l) => +l.toFixed(2)) },
  startedAt: new Date().toISOString(),
  options: { areas: opts.areas, rounds: rounds ?? null, seconds: opts.seconds ?? null },
};
const started = performance.now();
const failed: string[] = [];
const all: ComparisonResult[] = [];
for (const area of opts.areas) {
  log(`== ${AREA_RUNS[area].title}`);
  const t0 = performance.now();
  try {
    const { data, comparisons } = await AREA_RUNS[area].run();
    for (const c of comparisons) for (const line of formatComparison(c)) indent(line);
    all.push(...comparisons);
    result[area] = { ...data, elapsedSeconds: Math.round((performance.now() - t0) / 1000) };
  } catch (e) {
    failed.push(area);
    indent(`${area} failed: ${(e as Error).stack ?? String(e)}`);
    result[area] = { error: String((e as Error).message ?? e) };
  }
  indent(`(${area}: ${Math.round((performance.now() - t0) / 1000)} s)`);
}

const noisy = all.filter((c) => c.noise.verdict === 'noisy').map((c) => c.name);
result.noise = { verdict: noisy.length > 0 ? 'noisy' : 'steady', noisyComparisons: noisy, limits: { machineSpeedTolerancePercent: MACHINE_SPEED_TOLERANCE_PERCENT, foreignLoadLimitCores: FOREIGN_LOAD_LIMIT_CORES } };
result.elapsedSeconds = Math.round((performance.now() - started) / 1000);
result.failedAreas = failed;

log('== summary');
for (const c of all) {
  for (const t of c.targets) indent(`${t.met === null ? 'not measured' : t.met ? 'met    ' : 'NOT met'}  ${t.text}: ${t.value === null ? '-' : +t.value.toFixed(2)}`);
}
indent(noisy.length > 0 ? `noisy (do not trust these): ${noisy.join('; ')}` : 'noise: every comparison steady');
indent(`${result.elapsedSeconds} s in all${failed.length > 0 ? `; FAILED: ${failed.join(', ')}` : ''}`);

if (opts.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
process.exit(failed.length > 0 ? 1 : 0);
