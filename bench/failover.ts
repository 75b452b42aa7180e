// Failover benchmark (issue "NIC teaming and failover"), on the shared harness (bench/harness.ts,
// docs/benchmarks.md): (1) the outage of a link-status failover, one round per fresh fabric
// (topologies/failover.yaml, so no round inherits MAC tables or flap history from the one before):
// 10 000 frames/s from web2 to app1 (notify on) and to quiet1 (notify off), esx1's active uplink taken
// down mid-stream; frames lost and the longest time without delivery, as a series (median, min, max over
// the rounds; there is no peer to divide by). (2) The cost of teaming on forwarding, in-process: frames/s
// and CPU ns per frame through a vSwitch whose teaming engine has 4 uplinks against 1 (the baseline),
// interleaved rounds, for srcPortId and srcMac. Bounded: STREAM_SECONDS of traffic per round,
// FRAMES_PER_CASE frames per in-process measurement. Speed is reported, never asserted.
// Run: npm run bench -- --only failover.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ManualClock } from '../lib/clock.js';
import { TeamingEngine } from '../lib/teaming/engine.js';
import type { LoadBalancing } from '../lib/teaming/policy.js';
import { VSwitch } from '../lib/vswitch/vswitch.js';
import { buildFrame, ETHERTYPE_IPV4 } from '../lib/wire/ethernet.js';
import { loadTopologyFile } from '../lib/topology/load.js';
import { fabricUp, fabricDown } from '../daemons/fabric/lifecycle.js';
import { control } from '../daemons/common/control-client.js';
import { findDaemon } from '../daemons/fabric/state.js';
import { DEFAULT_ROUNDS, runComparison, selfCpuSeconds, type ComparisonResult, type FigureSpec } from './harness.js';

export const RATE_PPS = 10_000;
export const STREAM_SECONDS = 3;
export const FAIL_AT_MS = 1000;
export const FRAMES_PER_CASE = 1_000_000;
const WARMUP_FRAMES = 50_000;
const PORTS = 8;

export interface FailoverOutage {
  notify: boolean;
  sent: number;
  received: number;
  lost: number;
  /** The frames lost as time at the stream's rate: ms of traffic that never arrived. */
  outageMs: number;
  /** Longest time between two arrivals at the receiver (also catches event-loop stalls that lose nothing;
   * a black hole that lasts to the end of the run never closes its gap, so read outageMs then). */
  maxGapMs: number;
}

export interface FailoverBenchResult {
  ratePps: number;
  /** A series (one side, no ratio): the outage figures per round, each on a fresh fabric. */
  outage: ComparisonResult;
  /** One comparison per load balancing: 4 uplinks against 1 (the baseline). */
  teamingCost: ComparisonResult[];
}

const OUTAGE_FIGURES: FigureSpec[] = [true, false].flatMap((on) => {
  const n = on ? 'NotifyOn' : 'NotifyOff';
  const l = on ? 'notify on' : 'notify off';
  return [
    { id: `lost${n}`, label: `${l}: frames lost`, better: 'lower' as const },
    { id: `outageMs${n}`, label: `${l}: outage ms`, better: 'lower' as const },
    { id: `maxGapMs${n}`, label: `${l}: longest gap ms`, better: 'lower' as const },
  ];
});

const TEAMING_FIGURES: FigureSpec[] = [
  { id: 'framesPerSec', label: 'frames/s', better: 'higher' },
  { id: 'cpuNsPerFrame', label: 'CPU ns/frame', better: 'lower' },
];

export async function runFailoverBench(opts: { log?: (line: string) => void; topologyFile?: string; rounds?: number } = {}): Promise<FailoverBenchResult> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const rounds = opts.rounds ?? DEFAULT_ROUNDS;
  const topologyFile = opts.topologyFile ?? path.resolve(path.dirname(new URL(import.meta.url).pathname), '../topologies/failover.yaml');
  log(`link-status failover at ${RATE_PPS.toLocaleString('en-US')} frames/s, esx1.vmnic0 down ${FAIL_AT_MS} ms into a ${STREAM_SECONDS} s stream, a fresh fabric per round; notify off: a black hole until the VM speaks or the switch entry ages (300 s), so its outage lasts to the end of the stream`);
  const outage = await runComparison({
    name: 'failover outage',
    figures: OUTAGE_FIGURES,
    sides: [
      {
        id: 'linkStatus',
        label: 'link-status failover',
        measure: async () => {
          const out: Record<string, number | null> = {};
          for (const o of await measureOutage(topologyFile)) {
            const n = o.notify ? 'NotifyOn' : 'NotifyOff';
            Object.assign(out, { [`lost${n}`]: o.lost, [`outageMs${n}`]: o.outageMs, [`maxGapMs${n}`]: o.maxGapMs, [`sent${n}`]: o.sent, [`received${n}`]: o.received });
          }
          return out;
        },
      },
    ],
    rounds,
    log,
  });
  const teamingCost: ComparisonResult[] = [];
  for (const lb of ['srcPortId', 'srcMac'] as const) {
    const side = (n: number) => ({ id: n === 1 ? 'oneUplink' : `uplinks${n}`, label: `${n} uplink${n > 1 ? 's' : ''}`, measure: async () => forwardingRate(lb, n) });
    teamingCost.push(await runComparison({ name: `vSwitch VM -> uplink, teaming ${lb}`, figures: TEAMING_FIGURES, sides: [side(4), side(1)], baseline: 'oneUplink', rounds, log }));
  }
  return { ratePps: RATE_PPS, outage, teamingCost };
}

async function measureOutage(topologyFile: string): Promise<FailoverOutage[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfab-bench-failover-'));
  const state = await fabricUp({ topology: await loadTopologyFile(topologyFile), stateDir: dir });
  try {
    const esx1 = findDaemon(state, 'esx1');
    const esx2 = findDaemon(state, 'esx2');
    const runs = [{ vm: 'app1', ip: '192.0.2.11', id: 1, notify: true }, { vm: 'quiet1', ip: '192.0.2.13', id: 2, notify: false }];
    for (const r of runs) {
      await control(esx1, state.token, 'POST', '/control/streams/sink', { vm: r.vm, udpPort: 9000 + r.id, streamId: r.id });
      await control(esx2, state.token, 'POST', '/control/streams/send', { vm: 'web2', target: r.ip, udpPort: 9000 + r.id, streamId: r.id, frameBytes: 128, seconds: STREAM_SECONDS, ratePps: RATE_PPS, background: true });
    }
    await new Promise((r) => setTimeout(r, FAIL_AT_MS));
    await control(esx1, state.token, 'POST', '/control/links/vmnic0', { up: false });
    const deadline = Date.now() + (STREAM_SECONDS + 20) * 1000;
    let senders: any[] = [];
    do {
      await new Promise((r) => setTimeout(r, 200));
      senders = (await control<{ senders: any[] }>(esx2, state.token, 'GET', '/control/streams/web2')).senders;
    } while (senders.some((s) => s.running) && Date.now() < deadline);
    await new Promise((r) => setTimeout(r, 300));
    const out: FailoverOutage[] = [];
    for (const r of runs) {
      const rep = (await control<{ streams: any[] }>(esx1, state.token, 'GET', `/control/streams/${r.vm}`)).streams[0];
      const sent = senders.find((s) => s.streamId === r.id)?.sent ?? 0;
      const lost = Math.max(0, sent - rep.received);
      out.push({ notify: r.notify, sent, received: rep.received, lost, outageMs: (lost * 1000) / RATE_PPS, maxGapMs: rep.maxGapMs });
    }
    return out;
  } finally {
    await fabricDown(state, dir);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Frames/s and CPU ns per frame of VM -> uplink forwarding through a vSwitch whose selector is a TeamingEngine. */
function forwardingRate(loadBalancing: LoadBalancing, uplinkCount: number): { framesPerSec: number; cpuNsPerFrame: number } {
  const uplinks = Array.from({ length: uplinkCount }, (_, i) => `vmnic${i}`);
  const vs = new VSwitch({ name: 'bench', uplinks, portGroups: [{ name: 'v10', vlanId: 10 }], notifySwitches: false });
  const engine = new TeamingEngine({
    uplinks,
    vswitchPolicy: { loadBalancing, active: uplinks, standby: [], failback: true, notifySwitches: false, failureDetection: 'linkStatus' },
    clock: new ManualClock(0),
    portGroupVlans: { v10: 10 },
  });
  vs.setUplinkSelector(engine);
  const ports: number[] = [];
  const frames: Buffer[] = [];
  for (let i = 0; i < PORTS; i++) {
    const mac = 0x005056000100 + i;
    const id = vs.connectPort({ portGroup: 'v10', initialMac: mac });
    engine.portConnected({ portId: id, portGroup: 'v10', mac });
    ports.push(id);
    frames.push(buildFrame({ dst: 0x001b21aabbcc, src: mac, etherType: ETHERTYPE_IPV4 }, new Uint8Array(1000)));
  }
  vs.takeEvents();
  let out = 0;
  const step = (i: number) => {
    const k = i & (PORTS - 1);
    if (vs.fromPort(ports[k]!, frames[k]!).uplinkMask !== 0) out++;
  };
  for (let i = 0; i < WARMUP_FRAMES; i++) step(i);
  const t0 = performance.now();
  const cpu0 = selfCpuSeconds();
  for (let i = 0; i < FRAMES_PER_CASE; i++) step(i);
  const cpu = selfCpuSeconds() - cpu0;
  const ms = performance.now() - t0;
  if (out < FRAMES_PER_CASE) throw new Error(`teaming bench: only ${out} frames reached an uplink`);
  return { framesPerSec: Math.round(FRAMES_PER_CASE / (ms / 1000)), cpuNsPerFrame: +((cpu / FRAMES_PER_CASE) * 1e9).toFixed(1) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await runFailoverBench({ rounds: 1 });
  console.log(JSON.stringify(r, null, 2));
  process.exit(0);
}
