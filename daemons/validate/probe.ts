// `vfab probe`: the I/O half. Brings a design up in its own temporary state dir (fabricUp), pings from
// every VM NIC to every other NIC of its VLAN (and same-subnet NICs of other VLANs, which must stay
// isolated) and to its gateway through hostd's ping endpoint (ARP, then ICMP, from inside the VM), then
// re-runs each unexpected pair alone while snapshotting every daemon's drop counters before and after,
// so the counters that moved belong to that pair. Always tears the fabric down (also on errors and when
// `signal` aborts, e.g. Ctrl-C). Pure parts (expectations, explanations, matrix) are lib/validate.
// Bounded: PROBE_PING_COUNT pings of PROBE_PING_TIMEOUT_MS each, MAX_PROBE_PAIRS pairs.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { VfabError } from '../../lib/errors.js';
import type { Topology } from '../../lib/topology/model.js';
import { analyzeReachability, pairJson, type PairAnalysis } from '../../lib/validate/analysis.js';
import {
  addStatusCounters, classify, explainDeltas, isUnexpected, type CounterSnapshot, type ProbeResult,
} from '../../lib/validate/probe-explain.js';
import { control } from '../common/control-client.js';
import { fabricUp, fabricDown } from '../fabric/lifecycle.js';
import type { FabricState } from '../fabric/state.js';

export const PROBE_PING_COUNT = 2;
export const PROBE_PING_TIMEOUT_MS = 300;
export const PROBE_PING_INTERVAL_MS = 100;
/** Pairs pinged at once in the first pass (the explanation pass runs one at a time). */
export const PROBE_PARALLEL_PAIRS = 8;
/** Upper bound on probed pairs (n NICs in one VLAN give n*(n-1) pairs). */
export const MAX_PROBE_PAIRS = 2000;
/** A progress line every this many pairs of the first pass (a 100-host fabric has 1000 pairs, about 30 s). */
export const PROBE_PROGRESS_EVERY = 100;
/** Settle time after the fabric is up, so notify-switches RARPs and link events are over. */
export const PROBE_SETTLE_MS = 300;

export interface ProbeOptions {
  /** Default: a fresh temporary directory, removed afterwards. */
  stateDir?: string;
  signal?: AbortSignal;
  onProgress?: (line: string) => void;
}

export interface ProbeReport {
  fabric: string;
  results: ProbeResult[];
  unexpected: number;
}

interface PingAnswer {
  sent: number;
  received: number;
  replies: Array<{ rttMs: number | null; error?: string }>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function checkAbort(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new VfabError('VFAB_PROBE_ABORTED', 'probe interrupted; the fabric was torn down');
}

async function ping(state: FabricState, p: PairAnalysis): Promise<{ answer?: PingAnswer; error?: string }> {
  const host = state.daemons.find((d) => d.name === p.src.host.name);
  if (!host) return { error: `no daemon for host ${p.src.host.name}` };
  try {
    const answer = await control<PingAnswer>(host, state.token, 'POST', `/control/vms/${encodeURIComponent(p.src.vm.name)}/ping`, {
      target: p.toIp, count: PROBE_PING_COUNT, intervalMs: PROBE_PING_INTERVAL_MS, timeoutMs: PROBE_PING_TIMEOUT_MS, nic: p.src.nic.name,
    }, PROBE_PING_COUNT * (PROBE_PING_INTERVAL_MS + PROBE_PING_TIMEOUT_MS) + 10_000);
    return { answer };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

async function snapshot(state: FabricState): Promise<CounterSnapshot> {
  const snap: CounterSnapshot = new Map();
  const daemons = state.daemons.filter((d) => d.kind === 'host' || d.kind === 'switch');
  const statuses = await Promise.all(daemons.map((d) => control(d, state.token, 'GET', '/control/status').catch(() => undefined)));
  daemons.forEach((d, i) => addStatusCounters(snap, d.name, statuses[i]));
  return snap;
}

function result(p: PairAnalysis, got: { answer?: PingAnswer; error?: string }): ProbeResult {
  const j = pairJson(p);
  const received = got.answer?.received ?? 0;
  const reachable = received > 0;
  const firstError = got.error ?? got.answer?.replies.find((r) => r.error)?.error;
  return {
    key: j.key, from: j.from, to: j.to, toIp: j.toIp, vlan: j.vlan, kind: j.kind, expected: j.expected, predicted: j.predicted,
    received, sent: got.answer?.sent ?? 0, reachable, outcome: classify(j.expected, reachable), explanation: [],
    ...(firstError && !reachable ? { error: firstError } : {}),
  };
}

/** Brings `topology` up, probes every pair, explains unexpected results, tears down. */
export async function probeDesign(topology: Topology, opts: ProbeOptions = {}): Promise<ProbeReport> {
  const progress = opts.onProgress ?? (() => {});
  const pairs = analyzeReachability(topology);
  if (pairs.length > MAX_PROBE_PAIRS) {
    throw new VfabError('VFAB_PROBE_TOO_LARGE', `${pairs.length} pairs to probe; at most ${MAX_PROBE_PAIRS}`);
  }
  const ownDir = opts.stateDir === undefined;
  const stateDir = opts.stateDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'vfab-probe-'));
  let state: FabricState | undefined;
  try {
    checkAbort(opts.signal);
    state = await fabricUp({ topology, stateDir, detached: false, onProgress: progress });
    await sleep(PROBE_SETTLE_MS);
    const results: ProbeResult[] = new Array(pairs.length);
    // Pass 1: every pair, a few at a time.
    let next = 0;
    let probed = 0;
    const worker = async () => {
      for (let i = next++; i < pairs.length; i = next++) {
        checkAbort(opts.signal);
        results[i] = result(pairs[i]!, await ping(state!, pairs[i]!));
        if (++probed % PROBE_PROGRESS_EVERY === 0 && probed < pairs.length) progress(`probed ${probed}/${pairs.length} pairs`);
      }
    };
    await Promise.all(Array.from({ length: Math.min(PROBE_PARALLEL_PAIRS, pairs.length) }, worker));
    progress(`probed ${pairs.length} pairs`);
    // Pass 2: each unexpected pair alone, with counters before and after.
    for (let i = 0; i < pairs.length; i++) {
      if (!isUnexpected(results[i]!.outcome)) continue;
      checkAbort(opts.signal);
      const p = pairs[i]!;
      const before = await snapshot(state);
      const again = result(p, await ping(state, p));
      const after = await snapshot(state);
      const hops = explainDeltas(topology, before, after, p.dst ? [p.src, p.dst] : [p.src]);
      const r = results[i]!;
      if (!isUnexpected(again.outcome)) {
        // The first pass ran pairs in parallel; alone, the pair behaved as designed: keep the re-run.
        results[i] = { ...again, explanation: [`the first attempt (pairs in parallel) got ${r.received}/${r.sent} replies; alone it got ${again.received}/${again.sent}: intermittent, not a design fault`] };
        continue;
      }
      r.explanation = [
        ...(hops.length > 0 ? hops.map((h) => h.text) : ['no drop counter moved in any vSwitch or switch port while this pair pinged']),
        ...p.reasons.map((reason) => `design: ${reason}`),
      ];
    }
    const unexpected = results.filter((r) => isUnexpected(r.outcome)).length;
    return { fabric: topology.name, results, unexpected };
  } finally {
    if (state) {
      await fabricDown(state, stateDir).catch((e) => progress(`teardown: ${(e as Error).message}`));
      progress('fabric torn down');
    }
    if (ownDir) fs.rmSync(stateDir, { recursive: true, force: true });
  }
}
