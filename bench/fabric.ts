// Fabric benchmark: frames/s and latency VM to VM across two hosts and a physical switch (three daemon
// processes, two WebSocket hops), against the bare WebSocket relay chain of the same hop count
// (bench/peers/ws-chain.ts) measured in the same run. Throughput: the sender runs unpaced for a fixed
// time and the receiver counts what arrives (frames beyond a link's queue are tail-dropped, as on a
// NIC). Latency: a paced stream at LATENCY_RATE_PPS, p50/p99 from send to receive on a clock shared by
// all processes. Every phase is bounded in time.

import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadTopologyFile } from '../lib/topology/load.js';
import { fabricUp, fabricDown } from '../daemons/fabric/lifecycle.js';
import { control } from '../daemons/common/control-client.js';
import { findDaemon } from '../daemons/fabric/state.js';
import { tsNodeArgs } from '../daemons/common/node-args.js';
import type { StreamReport } from '../lib/traffic/stream.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const LATENCY_RATE_PPS = 1000;

export interface PathFigures {
  framesPerSec: number;
  sent: number;
  received: number;
  latencyP50Ms: number | null;
  latencyP99Ms: number | null;
  /**
   * CPU time (user + system) of the path's three processes during the throughput phase, per frame
   * received, in ns (null where /proc is not available). Moves much less with other load on the machine
   * than frames/s do; the three processes share the machine's CPUs, so every process's cost counts.
   */
  cpuNsPerFrame: number | null;
}

const USER_HZ = 100;
/** CPU seconds a process has used (user + system, or system only), or null (no /proc, process gone). */
export function processCpuSeconds(pid: number | undefined, only?: 'system'): number | null {
  if (pid === undefined) return null;
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((only === 'system' ? 0 : Number(fields[11])) + Number(fields[12])) / USER_HZ;
  } catch {
    return null;
  }
}

function cpuOf(pids: Array<number | undefined>): number | null {
  let sum = 0;
  for (const pid of pids) {
    const s = processCpuSeconds(pid);
    if (s === null) return null;
    sum += s;
  }
  return sum;
}

function perFrameNs(before: number | null, after: number | null, frames: number): number | null {
  return before === null || after === null || frames <= 0 ? null : ((after - before) / frames) * 1e9;
}

export interface FabricBenchRow {
  frameBytes: number;
  vfab: PathFigures;
  /** The peer: a relay forwarding whole WebSocket messages (transport cost only). */
  bareChain: PathFigures;
  /** vfab frames/s divided by the bare chain's (the target: >= 0.7). */
  ratio: number;
  /** A second peer: the relay takes every frame apart and re-batches it (per-frame relaying, no switching). */
  frameRelayChain: PathFigures;
  frameRelayRatio: number;
}

function rate(r: StreamReport): number {
  if (r.firstAtNs === null || r.lastAtNs === null || r.lastAtNs === r.firstAtNs) return 0;
  return (r.received - 1) / ((r.lastAtNs - r.firstAtNs) / 1e9);
}

// ------------------------------------------------------------------ bare chain peer
/** Starts one role of the bare chain peer; resolves with its first (ready) line parsed. */
export function startRole(args: string[]): Promise<{ child: ChildProcess; lines: AsyncIterableIterator<string>; ready: any }> {
  const child = spawn(process.execPath, tsNodeArgs(path.join(here, 'peers/ws-chain.ts'), args), { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return lines.next().then((first) => ({ child, lines, ready: JSON.parse(first.value) }));
}

async function bareChain(frameBytes: number, seconds: number, ratePps?: number, perFrame = false): Promise<{ sent: number; report: StreamReport; cpuNsPerFrame: number | null }> {
  const rx = await startRole(['receiver']);
  const relay = await startRole(['relay', '--to', `ws://127.0.0.1:${rx.ready.port}`, ...(perFrame ? ['--per-frame'] : [])]);
  const tx = await startRole(['sender', '--to', `ws://127.0.0.1:${relay.ready.port}`, '--bytes', String(frameBytes), '--seconds', String(seconds), ...(ratePps ? ['--rate', String(ratePps)] : [])]);
  // the receiver and relay from /proc; the sender reports its own (it exits when done)
  const pids = [rx.child.pid, relay.child.pid];
  const cpuBefore = cpuOf(pids);
  const result = JSON.parse((await tx.lines.next()).value);
  await new Promise((r) => setTimeout(r, 300)); // the last frames land
  const cpuRest = cpuOf(pids);
  const cpuAfter = cpuRest === null || typeof result.cpuSeconds !== 'number' ? null : cpuRest + result.cpuSeconds;
  rx.child.kill('SIGTERM');
  const report = JSON.parse((await rx.lines.next()).value).report as StreamReport;
  relay.child.kill('SIGTERM');
  return { sent: result.sent, report, cpuNsPerFrame: perFrameNs(cpuBefore, cpuAfter, report.received) };
}

// ------------------------------------------------------------------ vfab path
export async function runFabricBench(opts: { seconds?: number; sizes?: number[]; log?: (line: string) => void } = {}): Promise<FabricBenchRow[]> {
  const seconds = opts.seconds ?? 3;
  const sizes = opts.sizes ?? [64, 1500];
  const log = opts.log ?? (() => {});
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfab-bench-'));
  const topology = await loadTopologyFile(path.join(here, 'topologies/two-hosts.yaml'));
  const state = await fabricUp({ topology, stateDir });
  const rows: FabricBenchRow[] = [];
  try {
    const esx1 = findDaemon(state, 'esx1');
    const esx2 = findDaemon(state, 'esx2');
    let streamId = 100;
    const pids = state.daemons.map((d) => d.pid);
    const measure = async (frameBytes: number, ratePps?: number) => {
      const id = ++streamId;
      await control(esx2, state.token, 'POST', '/control/streams/sink', { vm: 'vm-b', udpPort: 9000, streamId: id });
      const cpuBefore = cpuOf(pids);
      const sent = await control<{ sent: number }>(esx1, state.token, 'POST', '/control/streams/send', { vm: 'vm-a', target: '192.0.2.2', udpPort: 9000, frameBytes, seconds: ratePps ? 2 : seconds, streamId: id, ...(ratePps ? { ratePps } : {}) }, 120_000);
      await new Promise((r) => setTimeout(r, 300)); // the last frames land
      const cpuAfter = cpuOf(pids);
      const report = (await control<{ streams: StreamReport[] }>(esx2, state.token, 'GET', '/control/streams/vm-b')).streams.find((s) => s.streamId === id)!;
      await control(esx2, state.token, 'POST', '/control/streams/vm-b/clear', {});
      return { sent: sent.sent, report, cpuNsPerFrame: perFrameNs(cpuBefore, cpuAfter, report.received) };
    };
    for (const frameBytes of sizes) {
      log(`vfab ${frameBytes} B: throughput ${seconds} s, latency 2 s at ${LATENCY_RATE_PPS} frames/s`);
      const vt = await measure(frameBytes);
      const vl = await measure(frameBytes, LATENCY_RATE_PPS);
      log(`bare chain ${frameBytes} B: the same`);
      const bt = await bareChain(frameBytes, seconds);
      const bl = await bareChain(frameBytes, 2, LATENCY_RATE_PPS);
      log(`frame-relay chain ${frameBytes} B: throughput`);
      const ft = await bareChain(frameBytes, seconds, undefined, true);
      const fl = await bareChain(frameBytes, 2, LATENCY_RATE_PPS, true);
      const vfab: PathFigures = { framesPerSec: rate(vt.report), sent: vt.sent, received: vt.report.received, latencyP50Ms: vl.report.latencyMs?.p50 ?? null, latencyP99Ms: vl.report.latencyMs?.p99 ?? null, cpuNsPerFrame: vt.cpuNsPerFrame };
      const bare: PathFigures = { framesPerSec: rate(bt.report), sent: bt.sent, received: bt.report.received, latencyP50Ms: bl.report.latencyMs?.p50 ?? null, latencyP99Ms: bl.report.latencyMs?.p99 ?? null, cpuNsPerFrame: bt.cpuNsPerFrame };
      const frameRelay: PathFigures = { framesPerSec: rate(ft.report), sent: ft.sent, received: ft.report.received, latencyP50Ms: fl.report.latencyMs?.p50 ?? null, latencyP99Ms: fl.report.latencyMs?.p99 ?? null, cpuNsPerFrame: ft.cpuNsPerFrame };
      rows.push({
        frameBytes,
        vfab,
        bareChain: bare,
        ratio: bare.framesPerSec > 0 ? vfab.framesPerSec / bare.framesPerSec : 0,
        frameRelayChain: frameRelay,
        frameRelayRatio: frameRelay.framesPerSec > 0 ? vfab.framesPerSec / frameRelay.framesPerSec : 0,
      });
    }
  } finally {
    await fabricDown(state, stateDir);
    fs.rmSync(stateDir, { recursive: true, force: true });
  }
  return rows;
}
