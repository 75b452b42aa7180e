// npm run bench [-- --json] [-- --only fabric|storage|failover] [-- --seconds N]: every benchmark with
// its peer measured in the same run, printed as figures and ratios (or one JSON document with --json).
// Each part is bounded in time; the whole run takes about a minute and a half.

import { parseArgs } from 'node:util';
import { runFabricBench, type FabricBenchRow } from './fabric.js';

const { values } = parseArgs({ options: { json: { type: 'boolean' }, only: { type: 'string' }, seconds: { type: 'string' } } });
const log = (line: string) => (values.json ? process.stderr.write(line + '\n') : process.stdout.write(line + '\n'));
const want = (part: string) => !values.only || values.only.split(',').includes(part);
const seconds = values.seconds ? Number(values.seconds) : undefined;
const result: Record<string, unknown> = { machine: { cpus: (await import('node:os')).cpus().length, node: process.version }, startedAt: new Date().toISOString() };

const fmt = (n: number | null | undefined, digits = 0) => (n === null || n === undefined ? '-' : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));

if (want('fabric')) {
  log('== fabric: VM to VM across two hosts and a physical switch vs a bare WebSocket relay chain (same hop count)');
  const rows: FabricBenchRow[] = await runFabricBench({ ...(seconds ? { seconds } : {}), log: (l) => log(`   ${l}`) });
  result.fabric = {
    target: 'vfab frames/s >= 70 % of the bare chain',
    peers: 'bare chain: sender -> relay forwarding whole WebSocket messages -> receiver; frame-relay chain: the relay takes each message apart and re-batches every frame (per-frame relaying, no switching); both with the same transport options as vfab (no compression, zero mask on loopback)',
    rows,
  };
  for (const r of rows) {
    log(`   ${String(r.frameBytes).padStart(4)} B  vfab ${fmt(r.vfab.framesPerSec)} frames/s (p50 ${fmt(r.vfab.latencyP50Ms, 3)} ms, p99 ${fmt(r.vfab.latencyP99Ms, 3)} ms, ${fmt(r.vfab.cpuNsPerFrame)} CPU ns/frame)` +
      `  bare chain ${fmt(r.bareChain.framesPerSec)} frames/s (p50 ${fmt(r.bareChain.latencyP50Ms, 3)} ms, p99 ${fmt(r.bareChain.latencyP99Ms, 3)} ms, ${fmt(r.bareChain.cpuNsPerFrame)} CPU ns/frame)  ratio ${(r.ratio * 100).toFixed(0)} %` +
      `  | frame-relay chain ${fmt(r.frameRelayChain.framesPerSec)} frames/s (${fmt(r.frameRelayChain.cpuNsPerFrame)} CPU ns/frame), ratio ${(r.frameRelayRatio * 100).toFixed(0)} %`);
  }
}

if (want('storage')) {
  const mod = await import('./storage.js').catch(() => undefined);
  if (mod?.runStorageBench) {
    log('== storage: 4 KiB random I/O over the WebSocket block protocol vs raw LevelDB (same run)');
    const storage = await mod.runStorageBench({ ...(seconds ? { seconds } : {}), log: (l: string) => log(`   ${l}`) });
    result.storage = storage;
  }
}

if (want('failover')) {
  const mod: any = await import('./failover.js').catch(() => undefined);
  if (mod?.runFailoverBench) {
    log('== failover: link-status failover under 10 000 frames/s, and the cost of teaming (1 vs 4 uplinks)');
    result.failover = await mod.runFailoverBench({ log: (l: string) => log(`   ${l}`) });
  }
}

if (values.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
process.exit(0);
