// vMotion benchmark (issue 12, docs/vmotion.md "In a fabric"), on the shared harness (bench/harness.ts,
// docs/benchmarks.md): one round per fresh fabric (scenarios/topologies/vmotion-lab.yaml): pinger (esx3)
// streams 10 000 frames/s to app1 (esx1, 16 MiB dirtied at 2 MiB/s, notify on); MIGRATE_AT_MS into the
// stream app1 moves to esx2. Figures as a series (median, min, max over the rounds; no peer to divide by):
// the switchover downtime (stun to resume, fabric clock), the frames lost and the stream's longest gap
// (its receiver moves with the VM), the pre-copy time and passes. Target: the downtime stays under a
// second, what a 1 s ping that loses at most one reply allows (docs/vsphere-behaviour.md §7.15).
// Bounded: STREAM_SECONDS of traffic per round, one migration. Run: npm run bench -- --only vmotion.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadTopologyFile } from '../lib/topology/load.js';
import { fabricUp, fabricDown } from '../daemons/fabric/lifecycle.js';
import { control } from '../daemons/common/control-client.js';
import { findDaemon } from '../daemons/fabric/state.js';
import { migrateAndFollow } from '../daemons/vmotion/cli.js';
import { DEFAULT_ROUNDS, runComparison, type ComparisonResult, type FigureSpec } from './harness.js';

export const RATE_PPS = 10_000;
export const STREAM_SECONDS = 4;
export const MIGRATE_AT_MS = 1000;

const FIGURES: FigureSpec[] = [
  { id: 'downtimeMs', label: 'switchover downtime ms', better: 'lower' },
  { id: 'lost', label: 'frames lost at 10 000/s', better: 'lower' },
  { id: 'maxGapMs', label: 'longest gap ms', better: 'lower' },
  { id: 'precopyMs', label: 'pre-copy ms', better: 'lower' },
  { id: 'passes', label: 'pre-copy passes', better: 'lower' },
];

export interface VmotionBenchResult {
  ratePps: number;
  migration: ComparisonResult;
}

export async function runVmotionBench(opts: { log?: (line: string) => void; topologyFile?: string; rounds?: number } = {}): Promise<VmotionBenchResult> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const rounds = opts.rounds ?? DEFAULT_ROUNDS;
  const topologyFile = opts.topologyFile ?? path.resolve(path.dirname(new URL(import.meta.url).pathname), '../scenarios/topologies/vmotion-lab.yaml');
  log(`vMotion of a 16 MiB VM (dirtied at 2 MiB/s) under ${RATE_PPS.toLocaleString('en-US')} frames/s, ${MIGRATE_AT_MS} ms into a ${STREAM_SECONDS} s stream, a fresh fabric per round`);
  const migration = await runComparison({
    name: 'vmotion switchover',
    figures: FIGURES,
    sides: [{ id: 'vmotion', label: 'vMotion, notify on', measure: async () => measureMigration(topologyFile) }],
    rounds,
    targets: [{
      text: 'downtime <= 1000 ms', figure: 'downtimeMs', side: 'vmotion', on: 'value', atMost: 1000,
      why: 'a continuous 1 s ping loses at most one reply across a vMotion (vsphere-behaviour §7.15)',
    }],
    log,
  });
  return { ratePps: RATE_PPS, migration };
}

async function measureMigration(topologyFile: string): Promise<Record<string, number | null>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfab-bench-vmotion-'));
  const state = await fabricUp({ topology: await loadTopologyFile(topologyFile), stateDir: dir });
  try {
    const esx1 = findDaemon(state, 'esx1');
    const esx2 = findDaemon(state, 'esx2');
    const esx3 = findDaemon(state, 'esx3');
    await control(esx1, state.token, 'POST', '/control/streams/sink', { vm: 'app1', udpPort: 9001, streamId: 1 });
    await control(esx3, state.token, 'POST', '/control/streams/send', { vm: 'pinger', target: '10.0.10.21', udpPort: 9001, streamId: 1, frameBytes: 128, seconds: STREAM_SECONDS, ratePps: RATE_PPS, background: true });
    await new Promise((r) => setTimeout(r, MIGRATE_AT_MS));
    const { result } = await migrateAndFollow(state, 'app1', 'esx2');
    if (result === null || result.outcome !== 'migrated') throw new Error(`vmotion bench: the migration ended ${result?.outcome ?? 'never'}: ${result?.message ?? ''}`);
    const deadline = Date.now() + (STREAM_SECONDS + 20) * 1000;
    let senders: any[] = [];
    do {
      await new Promise((r) => setTimeout(r, 200));
      senders = (await control<{ senders: any[] }>(esx3, state.token, 'GET', '/control/streams/pinger')).senders;
    } while (senders.some((s) => s.running) && Date.now() < deadline);
    await new Promise((r) => setTimeout(r, 300));
    const rep = (await control<{ streams: any[] }>(esx2, state.token, 'GET', '/control/streams/app1')).streams[0];
    const sent = senders.find((s) => s.streamId === 1)?.sent ?? 0;
    return {
      downtimeMs: +result.downtimeMs.toFixed(1), lost: Math.max(0, sent - rep.received), maxGapMs: +rep.maxGapMs.toFixed(1),
      precopyMs: Math.round(result.precopyMs), passes: result.passes.length, sent, received: rep.received,
    };
  } finally {
    await fabricDown(state, dir);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await runVmotionBench({ rounds: 1 });
  console.log(JSON.stringify(r, null, 2));
  process.exit(0);
}
