// Guests benchmark (issue 13, docs/guests.md "Measured"), on the shared harness (bench/harness.ts,
// docs/benchmarks.md): real TCP between two Linux network namespaces, the kernel's own stacks at both
// ends, carried (1) by vfab: two `kind: netns` guests on two hosts through two physical switches
// (bench/topologies/guests.yaml: esx1 -> sw1 -> trunk -> sw2 -> esx2, each guest's frames entering its
// host as VXLAN datagrams on loopback), and (2) by VDE (bench/peers/vde-netns.ts: vde_switch and a
// vde_plug2tap per namespace), the baseline, in interleaved rounds. Per side and round: one iperf3 TCP
// flow for `seconds` (default 10; payload Gb/s at the receiver, retransmissions), CPU per segment (user +
// system time of the path's userspace processes per full-size data segment delivered, payload / MSS:
// vfab's four daemons, VDE's switch and two plugs; the guests' own iperf3 is the same on both sides and
// not counted; interface packet counters would not do, as vfab's vxlan device counts a GSO super-packet
// once where VDE's tap counts each segment), and ping RTT p50/p99 over PING_COUNT echoes 10 ms apart. Then, on vfab
// alone, a series: the active uplink of the sending host goes down FAIL_AT_MS into a TCP flow
// (`vfab link down esx1.vmnic0` through the control API); the longest receiver stall (consecutive 100 ms
// iperf3 intervals with no byte), the throughput dip in ms, and the retransmissions. Needs root, iproute2,
// iperf3, ping and vde2: without them the area prints one "skipped: ..." line and succeeds. Pure parts in
// bench/guests-parse.ts (test/bench/guests.test.ts). Leaves out UDP, several flows, QEMU guests.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTopologyFile } from '../lib/topology/load.js';
import { fabricUp, fabricDown } from '../daemons/fabric/lifecycle.js';
import { control } from '../daemons/common/control-client.js';
import { findDaemon, type FabricState } from '../daemons/fabric/state.js';
import { run } from '../daemons/guests/vxlan-device.js';
import { DEFAULT_ROUNDS, cpuSecondsOf, perUnit, runComparison, type ComparisonResult, type FigureSpec, type Side } from './harness.js';
import { dipMs, longestStallMs, parseIperfJson, parsePingRtts, quantile, type IperfRun } from './guests-parse.js';
import { VDE_TOOLS, VdeNetnsPair, endChild } from './peers/vde-netns.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const GUESTS_TOOLS = ['ip', 'python3', 'iperf3', 'ping', ...VDE_TOOLS] as const;
export const GUESTS_INSTALL = 'apt-get install -y iproute2 python3 iperf3 iputils-ping vde2';
export const DEFAULT_TCP_SECONDS = 10;
/** A TCP run shorter than this tells little (slow start, one interval). */
export const MIN_TCP_SECONDS = 1;
export const PING_COUNT = 200;
export const PING_INTERVAL_S = 0.01;
/** The failover runs: a flow this long, the active uplink down this far into it. */
export const FAILOVER_SECONDS = 8;
export const FAIL_AT_MS = 3000;
/** Failback after each failover run (the uplink back up) before the next round starts. */
export const FAILBACK_SETTLE_MS = 1500;
/** iperf3's report interval for the failover runs (its smallest is 0.1 s). */
export const IPERF_INTERVAL_S = 0.1;
export const IPERF_PORT = 5201;
/** The prefix of the namespaces the bench's fabric creates (hostd's $VFAB_NETNS_PREFIX). */
export const BENCH_NETNS_PREFIX = 'vfabb-';
/** Unmeasured TCP run per side before the rounds. */
export const WARMUP_SECONDS = 2;
/** Bound on any one tool run beyond its own length. */
const TOOL_SLACK_MS = 20_000;
const SERVER_START_TIMEOUT_MS = 5000;
/** Bound on the guests answering pings after the fabric comes up (ARP, carrier). */
const REACH_TIMEOUT_MS = 20_000;
/** The issue's bar: vfab's TCP Gb/s at least this multiple of VDE's (the aim is 2). */
export const GUESTS_TARGET_RATIO = 1.0;

export const GUESTS_FIGURES: FigureSpec[] = [
  { id: 'gbps', label: 'TCP Gb/s', better: 'higher' },
  { id: 'cpuNsPerSegment', label: 'CPU ns/segment', better: 'lower' },
  { id: 'retransmits', label: 'TCP retransmits', better: 'lower' },
  { id: 'rttP50Ms', label: 'ping RTT p50 ms', better: 'lower' },
  { id: 'rttP99Ms', label: 'ping RTT p99 ms', better: 'lower' },
];

const FAILOVER_FIGURES: FigureSpec[] = [
  { id: 'stallMs', label: 'longest stall ms (100 ms intervals)', better: 'lower' },
  { id: 'dipMs', label: 'throughput dip ms', better: 'lower' },
  { id: 'retransmits', label: 'TCP retransmits', better: 'lower' },
  { id: 'gbps', label: 'TCP Gb/s over the run', better: 'higher' },
];

export const GUESTS_METHOD =
  'one iperf3 TCP flow (default options: cubic, 128 KiB writes) per side and round between two network namespaces; both guests\' interfaces MTU 1500, kernel defaults otherwise (VDE: tap without vnet header; vfab: a tap served by its TAP helper, VFAB_GUEST_ATTACH=tap, the default; or the kernel vxlan device with VFAB_GUEST_ATTACH=vxlan); CPU ns/segment = user+system of the path\'s userspace processes (vfab: every daemon of the fabric and their children, the TAP helpers; VDE: vde_switch + both vde_plug2tap) per full-size data segment delivered (iperf3\'s received bytes / MSS 1448; the ACKs ride along uncounted; the system time includes the kernel work a write to a tap or a UDP send does for the receiving guest, on both sides); ping: ' +
  `${PING_COUNT} echoes ${PING_INTERVAL_S * 1000} ms apart, 56-byte payload`;

export interface GuestPath {
  client: { netns: string; ip: string };
  server: { netns: string; ip: string };
  /** PIDs of the processes that carry the frames. */
  pids(): number[];
}

export interface GuestsBenchResult {
  skipped?: string;
  method: string;
  tcpSeconds: number;
  comparisons: ComparisonResult[];
}

/** Why the area cannot run here (not root, tools missing), or null. */
export function guestsPrerequisites(): string | null {
  const why: string[] = [];
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) why.push('root (network namespaces)');
  const missing = GUESTS_TOOLS.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
  if (missing.length > 0) why.push(`${missing.join(', ')} (${GUESTS_INSTALL})`);
  return why.length === 0 ? null : `needs ${why.join(' and ')}`;
}

// ------------------------------------------------------------------ tools in namespaces

/** Runs a command in a namespace to its end (bounded), resolving with stdout; rejects naming it on a non-zero exit. */
function inNetns(netns: string, args: string[], timeoutMs: number): Promise<string> {
  return run('ip', ['netns', 'exec', netns, ...args], timeoutMs);
}

/** The MTU of each interface but lo in a namespace, for the record. */
async function mtus(netns: string): Promise<Record<string, number>> {
  const links = JSON.parse(await run('ip', ['-n', netns, '-j', 'link', 'show'])) as Array<{ ifname: string; mtu: number }>;
  return Object.fromEntries(links.filter((l) => l.ifname !== 'lo').map((l) => [l.ifname, l.mtu]));
}

/**
 * Starts `iperf3 -s -1 -J` in the server's namespace and resolves once it listens (polled with ss: in
 * JSON mode it prints nothing until the end); returns a stopper. -J so the client's --get-server-output
 * carries the receiver's intervals as JSON.
 */
async function startIperfServer(netns: string, intervalS: number): Promise<() => Promise<void>> {
  const child = spawn('ip', ['netns', 'exec', netns, 'iperf3', '-s', '-1', '-J', '-p', String(IPERF_PORT), '-i', String(intervalS)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-1000)));
  try {
    const deadline = Date.now() + SERVER_START_TIMEOUT_MS;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`iperf3 server in ${netns} exited ${child.exitCode}: ${err.trim()}`);
      if ((await inNetns(netns, ['ss', '-Hltn', `sport = :${IPERF_PORT}`], 5000)).trim() !== '') break;
      if (Date.now() > deadline) throw new Error(`iperf3 server in ${netns} not listening after ${SERVER_START_TIMEOUT_MS} ms: ${err.trim()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  } catch (e) {
    await endChild(child);
    throw e;
  }
  return () => endChild(child);
}

/** One iperf3 TCP flow client -> server; `during` runs while it does (the failover). */
export async function tcpFlow(p: GuestPath, seconds: number, intervalS: number, during?: () => Promise<void>): Promise<{ run: IperfRun; cpuSeconds: number | null }> {
  const stopServer = await startIperfServer(p.server.netns, intervalS);
  try {
    const cpu0 = cpuSecondsOf(p.pids());
    const client = inNetns(p.client.netns, ['iperf3', '-c', p.server.ip, '-p', String(IPERF_PORT), '-t', String(seconds), '-i', String(intervalS), '-J', '--get-server-output'], seconds * 1000 + TOOL_SLACK_MS);
    const side = during?.();
    const [text] = await Promise.all([client, side]);
    const cpu1 = cpuSecondsOf(p.pids());
    return { run: parseIperfJson(text), cpuSeconds: cpu0 === null || cpu1 === null ? null : cpu1 - cpu0 };
  } finally {
    await stopServer();
  }
}

async function pingRtts(p: GuestPath): Promise<number[]> {
  // ping exits 1 when a reply is missing: the replies that came are still the figures
  const out = await inNetns(p.client.netns, ['ping', '-n', '-c', String(PING_COUNT), '-i', String(PING_INTERVAL_S), '-W', '1', p.server.ip], PING_COUNT * PING_INTERVAL_S * 1000 + TOOL_SLACK_MS).catch((e: Error) => e.message);
  return parsePingRtts(out);
}

/** Waits until the client's pings reach the server (ARP resolved, carrier up). */
export async function waitReachable(p: GuestPath, what: string): Promise<void> {
  const deadline = Date.now() + REACH_TIMEOUT_MS;
  for (;;) {
    const ok = await inNetns(p.client.netns, ['ping', '-n', '-c', '1', '-W', '1', p.server.ip], 5000).then(() => true, () => false);
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what}: ${p.server.ip} does not answer pings from ${p.client.netns} within ${REACH_TIMEOUT_MS} ms`);
  }
}

export async function measureSide(p: GuestPath, seconds: number): Promise<Record<string, number | null>> {
  const t = await tcpFlow(p, seconds, 1);
  const rtts = await pingRtts(p);
  return {
    gbps: +(t.run.receivedBitsPerSecond / 1e9).toFixed(3),
    cpuNsPerSegment: perUnit(0, t.cpuSeconds, t.run.segments, 1e9),
    retransmits: t.run.retransmits,
    rttP50Ms: quantile(rtts, 0.5),
    rttP99Ms: quantile(rtts, 0.99),
    segments: t.run.segments,
    pingReplies: rtts.length,
  };
}

// ------------------------------------------------------------------ vfab's side

/** The namespace vfab made for a guest, from its host's status (guests.<vm>.netns). */
export function guestNetns(status: any, vm: string): string | null {
  const g = status?.guests?.[vm] ?? status?.host?.guests?.[vm];
  return typeof g?.netns === 'string' ? g.netns : null;
}

/** `pids` and their direct children (/proc/PID/task/PID/children), for CPU accounting of a path's processes. */
export function withChildren(pids: readonly number[]): number[] {
  const out = [...pids];
  for (const pid of pids) {
    try {
      out.push(...fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(/\s+/).filter((x) => /^\d+$/.test(x)).map(Number));
    } catch {
      /* gone */
    }
  }
  return out;
}

export class VfabGuests {
  private constructor(readonly state: FabricState, readonly dir: string, readonly path: GuestPath) {}

  static async start(topologyFile: string): Promise<VfabGuests> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfab-bench-guests-'));
    let state: FabricState | null = null;
    try {
      const topology = await loadTopologyFile(topologyFile);
      // the bench's namespaces are vfabb-<fabric>-<vm>, apart from a fabric someone runs (vfab-...)
      const prefix = process.env.VFAB_NETNS_PREFIX;
      process.env.VFAB_NETNS_PREFIX = BENCH_NETNS_PREFIX;
      try {
        state = await fabricUp({ topology, stateDir: dir });
      } finally {
        if (prefix === undefined) delete process.env.VFAB_NETNS_PREFIX;
        else process.env.VFAB_NETNS_PREFIX = prefix;
      }
      const s = state;
      const ns = async (host: string, vm: string) => {
        const st = await control<any>(findDaemon(s, host), s.token, 'GET', '/control/status');
        const n = guestNetns(st, vm);
        if (n === null) throw new Error(`${host}'s status names no namespace for guest ${vm} (guests.${vm}.netns)`);
        return n;
      };
      const p: GuestPath = {
        client: { netns: await ns('esx1', 'ga'), ip: '192.0.2.1' },
        server: { netns: await ns('esx2', 'gb'), ip: '192.0.2.2' },
        // the daemons and their children: the hosts' TAP helpers (daemons/guests/tap-helper.py) are on the path
        pids: () => withChildren(s.daemons.map((d) => d.pid)),
      };
      return new VfabGuests(s, dir, p);
    } catch (e) {
      if (state) await fabricDown(state, dir).catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }

  async link(host: string, nic: string, up: boolean): Promise<void> {
    await control(findDaemon(this.state, host), this.state.token, 'POST', `/control/links/${nic}`, { up });
  }

  async stop(): Promise<void> {
    await fabricDown(this.state, this.dir).catch(() => undefined);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ the area

export async function runGuestsBench(opts: { log?: (line: string) => void; rounds?: number; seconds?: number; topologyFile?: string } = {}): Promise<GuestsBenchResult> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const rounds = opts.rounds ?? DEFAULT_ROUNDS;
  const tcpSeconds = Math.max(MIN_TCP_SECONDS, Math.round(opts.seconds ?? DEFAULT_TCP_SECONDS));
  const base = { method: GUESTS_METHOD, tcpSeconds, comparisons: [] };
  const why = guestsPrerequisites();
  if (why !== null) {
    log(`skipped: ${why}`);
    return { ...base, skipped: why };
  }
  log(GUESTS_METHOD);
  const topologyFile = opts.topologyFile ?? path.join(here, 'topologies/guests.yaml');
  const tag = `g${process.pid}`;
  let vde: VdeNetnsPair | null = null;
  let vfab: VfabGuests | null = null;
  try {
    vde = await VdeNetnsPair.start(tag);
    const vdePath: GuestPath = { client: { netns: vde.guests[0].netns, ip: vde.guests[1].ip }, server: { netns: vde.guests[1].netns, ip: vde.guests[1].ip }, pids: () => vde!.pids() };
    await waitReachable(vdePath, 'VDE');
    vfab = await VfabGuests.start(topologyFile);
    await waitReachable(vfab.path, 'vfab');
    const vf = vfab;
    log(`vfab: ${vf.path.client.netns} ${JSON.stringify(await mtus(vf.path.client.netns))} -> ${vf.path.server.netns}, daemons ${vf.state.daemons.map((d) => `${d.name}:${d.pid}`).join(' ')}; VDE: ${vdePath.client.netns} ${JSON.stringify(await mtus(vdePath.client.netns))} -> ${vdePath.server.netns}, pids ${vde.pids().join(' ')}`);
    const side = (id: string, label: string, p: GuestPath): Side => ({
      id,
      label,
      measure: () => measureSide(p, tcpSeconds),
      warmUp: async () => void (await tcpFlow(p, WARMUP_SECONDS, 1)),
    });
    const tcp = await runComparison({
      name: `netns TCP ${tcpSeconds} s`,
      figures: GUESTS_FIGURES,
      sides: [side('vfab', 'vfab (2 hosts, 2 switches)', vf.path), side('vde', 'VDE (switch + 2 plugs)', vdePath)],
      baseline: 'vde',
      rounds,
      targets: [{
        text: `vfab TCP Gb/s >= ${GUESTS_TARGET_RATIO.toFixed(1)} x VDE`, figure: 'gbps', side: 'vfab', on: 'ratio', atLeast: GUESTS_TARGET_RATIO,
        why: 'issue 13: a real guest on vfab moves TCP at least as fast as on VDE on the same machine (the aim is 2x)',
      }],
      log,
    });
    await vde.stop();
    vde = null;
    log(`failover: esx1.vmnic0 (active) down ${FAIL_AT_MS} ms into a ${FAILOVER_SECONDS} s TCP flow ga -> gb, back up after it (failback) and ${FAILBACK_SETTLE_MS} ms settle`);
    const failover = await runComparison({
      name: 'teaming failover under TCP',
      figures: FAILOVER_FIGURES,
      sides: [{
        id: 'vfab',
        label: 'link-status failover, notify on',
        measure: async () => {
          const t = await tcpFlow(vf.path, FAILOVER_SECONDS, IPERF_INTERVAL_S, async () => {
            await new Promise((r) => setTimeout(r, FAIL_AT_MS));
            await vf.link('esx1', 'vmnic0', false);
          });
          await vf.link('esx1', 'vmnic0', true);
          await new Promise((r) => setTimeout(r, FAILBACK_SETTLE_MS));
          const failAt = FAIL_AT_MS / 1000;
          return {
            stallMs: longestStallMs(t.run.intervals),
            dipMs: dipMs(t.run.intervals, failAt - IPERF_INTERVAL_S, failAt + 3),
            retransmits: t.run.retransmits,
            gbps: +(t.run.receivedBitsPerSecond / 1e9).toFixed(3),
            intervalsFromReceiver: t.run.intervalsFrom === 'receiver' ? 1 : 0,
          };
        },
      }],
      rounds,
      log,
    });
    return { ...base, comparisons: [tcp, failover] };
  } finally {
    if (vde) await vde.stop();
    if (vfab) await vfab.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await runGuestsBench({ rounds: 1, seconds: 3 });
  console.log(JSON.stringify(r, null, 2));
  process.exit(0);
}
