// The gateway of a fabric on Kubernetes (`vfab k8s render` runs it as the Deployment vfab-gateway).
// Does in the cluster what `vfab up` does on one machine once the daemons run: tells each dialling link
// end where its peer listens and each host where its arrays are (lifecycle.ts setUpDaemon), by Service
// DNS name over wss:// with the token, and does it again when a daemon restarts (its clock starts over,
// or it was unreachable and answers again). Measures each daemon's clock offset against its own clock
// (lib/k8s/clock-offset.ts) and serves, behind the same token and TLS:
//   GET  /fabric                     every daemon: address, reachable, wired, clock offset and round trip
//   GET  /events                     every host's and switch's events on the gateway's clock, in order
//   ANY  /daemons/NAME/control/...   a daemon's own control API, passed through (what the CLI calls)
//   WS   /daemons/NAME/capture?...   a daemon's capture stream, passed through (vfab capture after
//                                    vfab k8s connect), bounded in sockets and buffered bytes
// usage: node dist/daemons/k8s/gateway.js --config-dir DIR [--namespace NS] [--host H] [--port N]
//        [--tls-cert FILE --tls-key FILE] [--address NAME=HOST:PORT ...]
// --address points a daemon elsewhere than its Service (tests on loopback, debugging). Leaves out
// every other WebSocket (links, block, NAS): they stay between daemons.

import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { VfabError } from '../../lib/errors.js';
import { K8S_DAEMON_PORT, serviceHost, type K8sDaemonKind } from '../../lib/k8s/render.js';
import { bestOffset, toGatewayMs, MAX_OFFSET_SAMPLES, type ClockOffset, type OffsetSample } from '../../lib/k8s/clock-offset.js';
import { ControlServer, announceReady, daemonToken, exitFatal, onShutdown } from '../common/server.js';
import { control, type DaemonAddress } from '../common/control-client.js';
import { CapturePassThrough } from './ws-pass.js';
import { TLS_ARG_OPTIONS, daemonTlsFiles } from '../common/tls.js';
import type { LoggedEvent } from '../common/events.js';
import type { DaemonConfig } from '../fabric/plan.js';
import { setUpDaemon } from '../fabric/lifecycle.js';

/** How often the gateway looks at every daemon (reachability, restarts, a clock sample). */
export const GATEWAY_POLL_MS = 2_000;
/** A probe that takes longer counts as unreachable this round. */
export const GATEWAY_PROBE_TIMEOUT_MS = 3_000;
/** Daemons one gateway serves (one ConfigMap's worth). */
export const MAX_GATEWAY_DAEMONS = 4_096;
/** Events GET /events returns at most (the newest). */
export const MAX_GATEWAY_EVENTS = 20_000;
/** An event sequence number beyond any a daemon reaches: asks for the clock only, no events. */
const CLOCK_ONLY_SINCE = Number.MAX_SAFE_INTEGER;

interface Tracked {
  name: string;
  kind: K8sDaemonKind;
  config: DaemonConfig;
  address: DaemonAddress;
  reachable: boolean;
  wired: boolean;
  lastClockMs?: number;
  samples: OffsetSample[];
  offset?: ClockOffset;
  error?: string;
}

const { values } = parseArgs({
  options: {
    'config-dir': { type: 'string' },
    namespace: { type: 'string', default: 'vfab' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
    address: { type: 'string', multiple: true, default: [] },
    ...TLS_ARG_OPTIONS,
    help: { type: 'boolean' },
  },
});
if (values.help || values['config-dir'] === undefined) {
  process.stderr.write('usage: gateway --config-dir DIR [--namespace NS] [--host H] [--port N] [--tls-cert FILE --tls-key FILE] [--address NAME=HOST:PORT ...]\n(normally started by the manifests of `vfab k8s render`)\n');
  process.exit(values.help ? 0 : 2);
}

const token = daemonToken();
const start = process.hrtime.bigint();
/** The gateway's clock: ms since it started (the fabric's reference clock on Kubernetes). */
const nowMs = () => Number(process.hrtime.bigint() - start) / 1e6;

function loadDaemons(dir: string, tls: boolean): Tracked[] {
  const overrides = new Map<string, DaemonAddress>();
  for (const a of values.address) {
    const m = /^([^=]+)=(.+):(\d{1,5})$/.exec(a);
    if (!m || Number(m[3]) > 65535) throw new VfabError('VFAB_GATEWAY_BAD_ADDRESS', `--address ${a}: write NAME=HOST:PORT`);
    overrides.set(m[1]!, { host: m[2]!, port: Number(m[3]), tls });
  }
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  if (files.length > MAX_GATEWAY_DAEMONS) throw new VfabError('VFAB_GATEWAY_BAD_CONFIG', `${files.length} daemon configs in ${dir}; a gateway serves at most ${MAX_GATEWAY_DAEMONS}`);
  return files.map((f) => {
    const name = f.slice(0, -'.json'.length);
    const config = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as DaemonConfig;
    if (config.kind !== 'host' && config.kind !== 'switch' && config.kind !== 'array') throw new VfabError('VFAB_GATEWAY_BAD_CONFIG', `${f}: kind ${String(config.kind)} does not run on Kubernetes`);
    const address = overrides.get(name) ?? { host: serviceHost(config.kind, name, values.namespace), port: K8S_DAEMON_PORT, tls };
    return { name, kind: config.kind, config, address: { ...address, name, kind: config.kind }, reachable: false, wired: false, samples: [] };
  });
}

let daemons: Tracked[];
let tls: ReturnType<typeof daemonTlsFiles>;
try {
  tls = daemonTlsFiles(values['tls-cert'], values['tls-key']);
  daemons = loadDaemons(values['config-dir'], tls !== undefined);
} catch (e) {
  exitFatal('gateway', e);
}
const byName = new Map(daemons.map((d) => [d.name, d]));

/** One look at a daemon: reachable? restarted (its clock went back)? one clock sample. */
async function probe(d: Tracked): Promise<void> {
  const sentMs = nowMs();
  try {
    if (d.kind === 'array') {
      await control(d.address, token, 'GET', '/control/status', undefined, GATEWAY_PROBE_TIMEOUT_MS);
    } else {
      const r = await control<{ nowMs: number }>(d.address, token, 'GET', `/control/events?since=${CLOCK_ONLY_SINCE}`, undefined, GATEWAY_PROBE_TIMEOUT_MS);
      const receivedMs = nowMs();
      if (d.lastClockMs !== undefined && r.nowMs < d.lastClockMs) {
        d.wired = false; // a new process: its links and arrays must be told again
        d.samples = [];
      }
      d.lastClockMs = r.nowMs;
      d.samples.push({ sentMs, daemonMs: r.nowMs, receivedMs });
      if (d.samples.length > MAX_OFFSET_SAMPLES) d.samples.shift();
      d.offset = bestOffset(d.samples);
    }
    if (!d.reachable) d.wired = false;
    d.reachable = true;
  } catch (e) {
    d.reachable = false;
    d.wired = false;
    d.error = (e as Error).message;
  }
}

/** Tells a reachable, unwired daemon its peers and arrays (the peers must answer: otherwise next round). */
async function wire(d: Tracked): Promise<void> {
  if (!d.reachable || d.wired) return;
  const peersReady = d.config.kind === 'array' || (d.config.links.every((l) => l.role !== 'dial' || byName.get(l.peerNode)?.reachable) && (d.config.kind !== 'host' || d.config.host.storage.every((s) => byName.get(s.array)?.reachable)));
  if (!peersReady) return;
  try {
    await setUpDaemon(d.name, d.config, (n) => byName.get(n)?.address, token);
    d.wired = true;
    delete d.error;
    process.stdout.write(`${JSON.stringify({ event: 'wired', name: d.name, atMs: Math.round(nowMs()) })}\n`);
  } catch (e) {
    d.error = (e as Error).message;
  }
}

let stopping = false;
let timer: NodeJS.Timeout | undefined;
async function round(): Promise<void> {
  await Promise.all(daemons.map(probe));
  for (const d of daemons) await wire(d);
  if (!stopping) timer = setTimeout(() => void round(), GATEWAY_POLL_MS);
}

function find(name: string): Tracked {
  const d = byName.get(name);
  if (!d) throw new VfabError('VFAB_GATEWAY_NOT_FOUND', `no daemon ${name} in this fabric (daemons: ${[...byName.keys()].join(', ')})`);
  return d;
}

function passThrough(method: 'GET' | 'POST' | 'DELETE') {
  return async (req: { params: Record<string, string>; query: URLSearchParams; body: unknown }) => {
    const d = find(req.params.name!);
    const rest = Object.keys(req.params).filter((k) => /^seg[a-d]$/.test(k)).sort().map((k) => encodeURIComponent(req.params[k]!)).join('/');
    const qs = req.query.toString();
    return control(d.address, token, method, `/control/${rest}${qs ? `?${qs}` : ''}`, method === 'GET' ? undefined : req.body);
  };
}

const server = new ControlServer(token, { tls })
  .on('GET', '/fabric', () => ({
    kind: 'gateway',
    namespace: values.namespace,
    clockMs: nowMs(),
    daemons: daemons.map((d) => ({ name: d.name, kind: d.kind, ...(d.config.kind === 'host' ? { vms: d.config.host.vms.map((vm) => vm.name) } : {}), address: `${d.address.host}:${d.address.port}`, reachable: d.reachable, wired: d.wired, ...(d.offset ? { clockOffsetMs: d.offset.offsetMs, clockRttMs: d.offset.rttMs } : {}), ...(d.error ? { error: d.error } : {}) })),
  }))
  .on('GET', '/events', async () => {
    const all: Array<LoggedEvent & { daemonTimeMs: number }> = [];
    for (const d of daemons) {
      if (d.kind === 'array' || !d.reachable || !d.offset) continue;
      const r = await control<{ events: LoggedEvent[] }>(d.address, token, 'GET', '/control/events?since=0');
      for (const e of r.events) all.push({ ...e, daemonTimeMs: e.timeMs, timeMs: toGatewayMs(e.timeMs, d.offset) });
    }
    all.sort((a, b) => a.timeMs - b.timeMs);
    return { clock: 'gateway', events: all.slice(-MAX_GATEWAY_EVENTS), dropped: Math.max(0, all.length - MAX_GATEWAY_EVENTS) };
  });
// /daemons/NAME/control/A[/B[/C[/D]]]: ControlServer matches one segment per name
for (const method of ['GET', 'POST', 'DELETE'] as const) {
  for (let n = 1; n <= 6; n++) server.on(method, `/daemons/:name/control/${Array.from({ length: n }, (_, i) => `:seg${'abcdef'[i]}`).join('/')}`, passThrough(method));
}

// /daemons/NAME/capture?point=...: the daemon's capture stream, passed through (daemons/k8s/ws-pass.ts)
server.onUpgrade(new CapturePassThrough((name) => byName.get(name)?.address, token).handleUpgrade);

const port = await server.listen(Number(values.port), values.host);
onShutdown(async () => {
  stopping = true;
  clearTimeout(timer);
  await server.close();
});
announceReady('gateway', port);
void round();
