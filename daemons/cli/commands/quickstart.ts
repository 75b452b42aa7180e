// vfab quickstart (what `npm start` runs): brings up the embedded quickstart fabric (2 hosts, 2 physical
// switches, 2 VLANs, 2 uplinks per host), proves reachability inside each VLAN and isolation between
// them with real pings, measures a link failover under traffic against a stated bound (frames sent by
// web2's host vs delivered to web1's sink, longest gap between arrivals at web1; the verdicts are in
// lib/traffic/failover-check.ts) and checks the reasons of web1's notify RARPs, writes pcap/pcapng
// captures, prints a summary and tears everything down. Exit 0 when every check came out as the design
// predicts. State goes under $VFAB_STATE_DIR (default .vfab)/quickstart.

import fs from 'node:fs';
import path from 'node:path';
import type { CommandTable, CliIo } from '../io.js';
import { defineCommand, printJson, table, JSON_OPTION, EXIT_OK, EXIT_FAILED } from '../io.js';
import type { Parsed } from '../options.js';
import { loadTopologyFile } from '../../../lib/topology/load.js';
import { fabricUp, fabricDown } from '../../fabric/lifecycle.js';
import { startCapture, type CaptureSession } from '../../fabric/capture-client.js';
import { control } from '../../common/control-client.js';
import { packageFile } from '../../common/paths.js';
import { findDaemon, stateDir as defaultStateDir, type FabricState } from '../../fabric/state.js';
import type { PingResult } from '../net-commands.js';
import { sharedNowNs, type StreamReport } from '../../../lib/traffic/stream.js';
import { FAILOVER_MAX_GAP_MS, FAILOVER_MAX_LOSS_PERCENT, judgeFailover, judgeNotifyReasons, type NotifySeen } from '../../../lib/traffic/failover-check.js';

export const QUICKSTART_TOPOLOGY = packageFile('topologies', 'quickstart.yaml');
/** Rate of the measured stream during the failover check. */
export const QUICKSTART_STREAM_PPS = 2000;
/** How long the measured stream runs; the uplink goes down QUICKSTART_DOWN_AFTER_MS into it. */
export const QUICKSTART_STREAM_SECONDS = 3;
export const QUICKSTART_DOWN_AFTER_MS = 1000;
/** After the sender stops, frames still in flight get this long to arrive before the count is read. */
export const QUICKSTART_SETTLE_MAX_MS = 2000;
/** The receiver's count is final when it has not moved for this long. */
const SETTLE_QUIET_MS = 200;

const OPTIONS = {
  out: { type: 'string', value: 'DIR', default: 'captures/quickstart', description: 'where the captures go' },
  json: { ...JSON_OPTION, description: 'print the checks, the failover figures and the captures as JSON' },
} as const;

interface Check {
  check: string;
  expected: string;
  got: string;
  ok: boolean;
}

async function ping(state: FabricState, vm: string, target: string, count = 3): Promise<PingResult> {
  const host = findDaemon(state, state.vmHosts[vm]!);
  return control<PingResult>(host, state.token, 'POST', `/control/vms/${vm}/ping`, { target, count, intervalMs: 100, timeoutMs: 500 }, 30_000);
}

/** A VM's sink report once its count reaches `sent` or stops moving (frames in flight have landed). */
async function settledSinkReport(state: FabricState, host: ReturnType<typeof findDaemon>, vm: string, streamId: number, sent: number): Promise<StreamReport | undefined> {
  const read = async () => (await control<{ streams: StreamReport[] }>(host, state.token, 'GET', `/control/streams/${vm}`)).streams.find((r) => r.streamId === streamId);
  const until = Date.now() + QUICKSTART_SETTLE_MAX_MS;
  let report = await read();
  let quietSince = Date.now();
  while ((report?.received ?? 0) < sent && Date.now() < until && Date.now() - quietSince < SETTLE_QUIET_MS) {
    await new Promise((r) => setTimeout(r, 50));
    const next = await read();
    if ((next?.received ?? 0) !== (report?.received ?? 0)) quietSince = Date.now();
    report = next;
  }
  return report;
}

async function quickstart({ values }: Parsed<typeof OPTIONS>, io: CliIo): Promise<number> {
  const outDir = path.resolve(values.out);
  fs.mkdirSync(outDir, { recursive: true });
  const log = (line: string) => (values.json ? undefined : io.err(line));
  const topology = await loadTopologyFile(QUICKSTART_TOPOLOGY);
  const stateDir = path.join(defaultStateDir(), 'quickstart'); // under $VFAB_STATE_DIR when set
  log(`starting fabric ${topology.name} from ${path.relative(process.cwd(), QUICKSTART_TOPOLOGY)}`);
  const state = await fabricUp({ topology, stateDir, onProgress: (l) => log(`  ${l}`) });
  const checks: Check[] = [];
  const captures: Array<{ file: string; points: string[]; session: CaptureSession }> = [];
  let failover: Record<string, unknown> = {};
  const stop = async () => {
    for (const c of captures) await c.session.stop().catch(() => undefined);
    await fabricDown(state, stateDir);
  };
  const onSignal = () => void stop().then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  try {
    const capture = async (file: string, points: string[]) => {
      const full = path.join(outDir, file);
      captures.push({ file: full, points, session: await startCapture(state, points, full, file.endsWith('.pcapng') ? 'pcapng' : 'pcap') });
    };
    await capture('web1.nic0.pcap', ['web1.nic0']);
    await capture('esx1-uplinks.pcapng', ['esx1.vmnic0', 'esx1.vmnic1']);
    await capture('sw1-sw2-trunk.pcapng', ['sw1.Gi1/0/48']);

    log('pinging inside VLAN 10 (web1 on esx1 -> web2 on esx2), inside VLAN 20 (app1 on esx1 -> db1 on esx2) and across VLANs (web1 -> db1)');
    const pairs: Array<[string, string, string, boolean]> = [
      ['web1', '192.0.2.12', 'VLAN 10: web1 -> web2 (across hosts and switches)', true],
      ['app1', '198.51.100.11', 'VLAN 20: app1 -> db1 (across hosts and switches)', true],
      ['web1', '198.51.100.11', 'VLAN 10 -> VLAN 20: web1 -> db1 (no router between VLANs)', false],
    ];
    for (const [vm, target, what, reachable] of pairs) {
      const r = await ping(state, vm, target);
      const rtts = r.replies.filter((x) => x.rttMs !== null).map((x) => x.rttMs!);
      checks.push({
        check: what,
        expected: reachable ? 'replies' : 'isolated',
        got: r.received > 0 ? `${r.received}/${r.sent} replies, rtt ${Math.min(...rtts).toFixed(1)}-${Math.max(...rtts).toFixed(1)} ms` : `0/${r.sent} replies`,
        ok: reachable === r.received > 0,
      });
    }

    const esx1 = findDaemon(state, 'esx1');
    const esx2 = findDaemon(state, 'esx2');
    // pull the uplink web1 actually uses (srcPortId teaming pins each port to one of the two)
    const web1Before = (await control<any>(esx1, state.token, 'GET', '/control/status')).vswitches[0].ports.find((p: any) => p.name === 'web1.nic0');
    const active: string = web1Before?.uplink ?? 'vmnic0';
    const standby = active === 'vmnic0' ? 'vmnic1' : 'vmnic0';
    log(`failover: ${QUICKSTART_STREAM_PPS} frames/s web2 -> web1 while esx1.${active} (web1's uplink) goes down`);
    const streamId = 7;
    await control(esx1, state.token, 'POST', '/control/streams/sink', { vm: 'web1', udpPort: 9000, streamId });
    const sending = control<{ sent: number }>(esx2, state.token, 'POST', '/control/streams/send', { vm: 'web2', target: '192.0.2.11', udpPort: 9000, frameBytes: 128, seconds: QUICKSTART_STREAM_SECONDS, ratePps: QUICKSTART_STREAM_PPS, streamId }, 60_000);
    await new Promise((r) => setTimeout(r, QUICKSTART_DOWN_AFTER_MS));
    const downAt = Date.now();
    const downAtNs = sharedNowNs();
    await control(esx1, state.token, 'POST', `/control/links/${active}`, { up: false });
    const sent = await sending;
    // counted at the receiver (web1's sink) once the frames still in flight have landed
    const report = await settledSinkReport(state, esx1, 'web1', streamId, sent.sent);
    const status = await control<any>(esx1, state.token, 'GET', '/control/status');
    const web1Port = status.vswitches[0].ports.find((p: any) => p.name === 'web1.nic0');
    // where the longest gap began, in ms after the uplink was pulled (negative: before it)
    const gapAt = report?.maxGapStartNs != null ? Math.round((report.maxGapStartNs - downAtNs) / 1e5) / 10 : null;
    const verdict = judgeFailover({
      ratePps: QUICKSTART_STREAM_PPS, seconds: QUICKSTART_STREAM_SECONDS, sent: sent.sent, received: report?.received ?? 0,
      maxGapMs: report?.maxGapMs ?? 0, maxGapStartMsAfterPull: gapAt, uplinkAfter: web1Port?.uplink ?? null, standby,
    });
    failover = {
      sent: sent.sent, received: report?.received ?? 0, lost: verdict.lost, lossPercent: Math.round(verdict.lossPercent * 100) / 100,
      maxGapMs: Math.round((report?.maxGapMs ?? 0) * 10) / 10, maxGapStartMsAfterDown: gapAt,
      maxLossPercent: FAILOVER_MAX_LOSS_PERCENT, maxGapBoundMs: FAILOVER_MAX_GAP_MS,
      web1Uplink: web1Port?.uplink, linkDownAfterMs: Date.now() - downAt,
    };
    checks.push({ check: `failover: esx1.${active} down, ${QUICKSTART_STREAM_PPS} frames/s web2 -> web1`, expected: verdict.expected, got: verdict.got, ok: verdict.ok });
    const events = (await control<{ events: Array<Record<string, unknown>> }>(esx1, state.token, 'GET', '/control/events')).events;
    const notifies = events.filter((e) => e.type === 'notify').map((e) => ({ port: String(e.port), uplink: String(e.uplink), reason: String(e.reason) }) satisfies NotifySeen);
    const rarps = judgeNotifyReasons(notifies, 'web1.nic0', standby);
    checks.push({ check: "notify switches: web1's RARPs (vfab events)", ...rarps });
    failover.rarps = notifies.filter((n) => n.port === 'web1.nic0');
    const after = await ping(state, 'web1', '192.0.2.12');
    checks.push({ check: 'VLAN 10 after failover: web1 -> web2', expected: 'replies', got: `${after.received}/${after.sent} replies`, ok: after.received > 0 });
    await control(esx1, state.token, 'POST', `/control/links/${active}`, { up: true });

    for (const c of captures) {
      const r = await c.session.stop();
      (c as any).frames = r.frames;
    }
    captures.length = 0;
    const files = fs.readdirSync(outDir).filter((f) => /\.pcap(ng)?$/.test(f)).map((f) => ({ file: path.join(outDir, f), bytes: fs.statSync(path.join(outDir, f)).size }));
    const allOk = checks.every((c) => c.ok);
    if (values.json) printJson(io, { fabric: state.fabric, checks, failover, captures: files, ok: allOk });
    else {
      io.out(`\nvfab quickstart: ${topology.name}`);
      io.out(table([['check', 'expected', 'got', ''], ...checks.map((c) => [c.check, c.expected, c.got, c.ok ? 'ok' : 'UNEXPECTED'])]));
      io.out(`\ncaptures (open in Wireshark):\n${files.map((f) => `  ${path.relative(process.cwd(), f.file)}  (${f.bytes} bytes)`).join('\n')}`);
      io.out(allOk ? '\nall checks came out as the design predicts' : '\nsome checks did not come out as expected (see UNEXPECTED above)');
    }
    return allOk ? EXIT_OK : EXIT_FAILED;
  } finally {
    process.removeListener('SIGINT', onSignal);
    await stop();
  }
}

export const commands: CommandTable = {
  quickstart: defineCommand(
    {
      usage: ['[--out DIR] [--json]'],
      description: `Runs the quickstart end to end (this is what \`npm start\` does):
  1. starts topologies/quickstart.yaml: hosts esx1 and esx2, switches sw1 and sw2,
     VLAN 10 (web1, web2) and VLAN 20 (app1, db1), each host with vmnic0 -> sw1 and vmnic1 -> sw2;
  2. pings inside each VLAN (replies expected) and across VLANs (isolation expected);
  3. sends ${QUICKSTART_STREAM_PPS} frames/s from web2 to web1, pulls the esx1 uplink web1 uses and
     reports frames lost and the longest gap at web1 (passes at most ${FAILOVER_MAX_LOSS_PERCENT} % lost, gap under
     ${FAILOVER_MAX_GAP_MS} ms) and the reasons of web1's notify-switches RARPs (startup, then failover);
  4. writes captures to DIR: web1.nic0 (pcap, untagged, what the guest sees), esx1 uplinks and the
     sw1-sw2 trunk (pcapng, with 802.1Q tags);
  5. prints a summary and stops every process it started.`,
      options: OPTIONS,
      args: { min: 0, max: 0 },
      examples: ['quickstart', 'quickstart --out /tmp/qs --json'],
      exits: { 1: 'a check did not come out as the design predicts (marked UNEXPECTED)' },
    },
    quickstart,
  ),
};
