// switchd: one physical switch as its own process. Wraps lib/pswitch (access/trunk ports, native VLAN,
// MAC learning and aging, MAC moves and flaps, static port-channels) with its I/O: a WebSocket link per
// port (or a VXLAN tunnel for a `mode: vxlan` port, daemons/link/vxlan-ports.ts), aging timers on the
// (optionally sped-up) clock, live capture and the control API. The frame decisions are the library's;
// this file only moves bytes.
//
// usage: node --import tsx daemons/switchd.ts --config FILE [--name NAME] [--port 0] [--host 127.0.0.1] [--tls-cert FILE --tls-key FILE]
// control API (JSON, Authorization: Bearer <token>):
//   GET  /control/status            ports, port-channels, links, counters, VXLAN sockets
//   GET  /control/mac-table         learned MACs (vlan, mac, port, age, moves)
//   POST /control/mac-table/clear   {vlan?, port?, mac?}
//   POST /control/counters/reset    zero every port, switch and link counter (`vfab counters --reset`)
//   GET  /control/events?since=N    MAC learned/moved/flapped/aged, link changes
//   POST /control/peers             {peers: {port: url}}: dial the links this switch originates
//   GET  /control/links             {links}: each link's carrier and admin state (what vfab up polls)
//   POST /control/links/:port       {up}: cable pulled / plugged (carrier lost at both ends)
//   POST /control/ports/:port/shutdown {shutdown}: "shutdown" / "no shutdown"
//   POST /control/config             {what, switch}: apply a new switch model live (vfab set port|switch)
//   POST /control/links/:port/impair {lossPercent?, direction?: tx|rx|both, delayMs?, jitterMs?, seed?}; {} clears
//   POST /control/links/:port/flap   {schedule: [{atMs, up}]} or {periodMs, downMs, count}; {} cancels
//   POST /control/inject             {point, frames: [hex], intervalsMs?}: crafted frames received on a port; GET: counters
//   WS   /link/:port                the Ethernet link of a port (docs/link-protocol.md)
//   WS   /capture?point=sw.port     live capture

import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { TLS_ARG_OPTIONS, daemonTlsFiles } from './common/tls.js';
import type { Clock } from '../lib/clock.js';
import { PhysicalSwitch, type SwitchEvent, type SwitchResult } from '../lib/pswitch/pswitch.js';
import { forEachRunFrame } from '../lib/link/codec.js';
import { switchConfigFromModel } from '../lib/pswitch/from-topology.js';
import { VfabError } from '../lib/errors.js';
import { compactVlans, switchPortRows } from './common/switch-ports.js';
import { ControlServer, announceReady, exitFatal, onShutdown, daemonToken } from './common/server.js';
import { CaptureServer } from './common/capture-server.js';
import { DaemonLinks } from './common/links.js';
import { openVxlanPorts } from './link/vxlan-ports.js';
import { EventLog } from './common/events.js';
import { FabricClock } from './common/fabric-clock.js';
import { DropEvents } from './common/drop-events.js';
import { switchEventsComment } from '../lib/events/comments.js';
import { DeadlineTimer } from './common/deadline-timer.js';
import { registerInjectRoutes, unknownInjectPoint } from './common/inject.js';
import type { SwitchConfig } from './fabric/plan.js';
import type { PhysicalSwitch as SwitchModel } from '../lib/topology/model.js';

const { values } = parseArgs({ options: { config: { type: 'string' }, name: { type: 'string' }, port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' }, ...TLS_ARG_OPTIONS, help: { type: 'boolean' } } });
if (values.help || !values.config) {
  process.stderr.write('usage: switchd --config FILE [--name NAME] [--port 0] [--host 127.0.0.1] [--tls-cert FILE --tls-key FILE]\n(normally started by `vfab up`)\n');
  process.exit(values.help ? 0 : 2);
}
const config = JSON.parse(fs.readFileSync(values.config, 'utf8')) as SwitchConfig;
const model = config.switch;
const name = values.name ?? model.name;
const token = daemonToken();
const timeScale = config.timeScale ?? 1;
// the fabric clock (lib/fabric-clock.ts): aging, events and capture times on the fabric's one time line
const clock = new FabricClock(config.clock, timeScale);

/**
 * The switch reads the time for every frame (learning, aging). Frames handled in one I/O callback arrive
 * at one instant, so the clock is read once per callback and kept until its microtasks run.
 */
class CallbackClock implements Clock {
  private fresh = false;
  private cachedMs = 0;
  private readonly expire = () => {
    this.fresh = false;
  };
  constructor(private readonly base: Clock) {}
  nowMs(): number {
    if (!this.fresh) {
      this.cachedMs = this.base.nowMs();
      this.fresh = true;
      queueMicrotask(this.expire);
    }
    return this.cachedMs;
  }
}

const sw = new PhysicalSwitch(switchConfigFromModel(model), new CallbackClock(clock));
const events = new EventLog(name, () => clock.nowMs());
const portIndex = new Map<string, number>();
for (const p of sw.ports()) portIndex.set(p.name, p.index);
const tapped = new Uint8Array(sw.portCount());
// every port starts unplugged; carrier on its link brings it up
for (let i = 0; i < sw.portCount(); i++) sw.setLinkUp(i, false);
let ingressFrameNo = 0;

const capture = new CaptureServer({
  setTap(point, on) {
    const prefix = `${name}.`;
    if (!point.startsWith(prefix)) return false;
    const i = portIndex.get(point.slice(prefix.length));
    if (i === undefined) return false;
    tapped[i] = on ? 1 : 0;
    return true;
  },
}, () => clock.captureNowNs());
const drops = new DropEvents(clock, timeScale, events, capture);

function logEvents(list: SwitchEvent[] | undefined): void {
  if (!list) return;
  for (const e of list) {
    const { type, ...rest } = e;
    events.add(type, rest);
  }
  scheduleAging();
}

const portNames = sw.ports().map((p) => p.name);

/**
 * What the frame received on port `i` did, for its capture (a comment on the frame the tap just saw) and
 * the event stream (drops). Runs before perform(), so the comment follows its frame in the stream.
 */
function decided(i: number, frame: Uint8Array, r: SwitchResult): void {
  if (r.verdict === 'drop' && r.dropReason !== undefined) drops.dropped(portNames[i]!, `${name}.${portNames[i]}`, r.dropReason, frame);
  else if (tapped[i] && r.events !== undefined) {
    const text = switchEventsComment(name, r.events);
    if (text !== null) capture.comment(`${name}.${portNames[i]}`, text);
  }
}

/** Performs a result of receive() for one frame. */
function perform(r: SwitchResult): void {
  for (let k = 0; k < r.count; k++) {
    const out = r.ports[k]!;
    const bytes = r.frames[k]!;
    if (tapped[out]) capture.frame(`${name}.${portNames[out]}`, 'out', bytes);
    links.send(portNames[out]!, bytes);
  }
  if (r.events) logEvents(r.events);
}

function receiveFrame(i: number, frame: Uint8Array): void {
  if (tapped[i]) capture.frame(`${name}.${portNames[i]}`, 'in', frame);
  const r = sw.receive(i, frame, ++ingressFrameNo);
  if (r.verdict === 'drop' || r.events !== undefined) decided(i, frame, r);
  perform(r);
}

// the rest of a run the switch did not take whole, frame by frame (one function: no closure per run)
let runPort = 0;
const receiveRunRest = (frame: Uint8Array) => receiveFrame(runPort, frame);
let runOutPoint = '';
const captureRunOut = (frame: Uint8Array) => capture.frame(runOutPoint, 'out', frame);

const links = new DaemonLinks(name, config.links, token, {
  frame(local, frame) {
    const i = portIndex.get(local);
    if (i === undefined) return;
    receiveFrame(i, frame);
  },
  // Same-header runs (lib/link/codec.ts): one decision, and when the switch takes the run whole its
  // records leave unchanged with one copy. A tapped ingress port sees every frame on the per-frame path.
  frameRun(local, first, count, records, frameBytes, maxFrameBytes) {
    const i = portIndex.get(local);
    if (i === undefined) return;
    runPort = i;
    if (tapped[i]) {
      forEachRunFrame(records, 0, receiveRunRest);
      return;
    }
    const r = sw.receiveRun(i, first, count, frameBytes, maxFrameBytes, ingressFrameNo + 1);
    if (r.runFrames === count) {
      ingressFrameNo += count;
      const out = r.ports[0]!;
      if (tapped[out]) {
        runOutPoint = `${name}.${portNames[out]}`;
        forEachRunFrame(records, 0, captureRunOut);
      }
      links.sendRun(portNames[out]!, records, count, frameBytes);
      return;
    }
    ingressFrameNo++;
    if (r.verdict === 'drop' || r.events !== undefined) decided(i, first, r);
    perform(r);
    forEachRunFrame(records, 1, receiveRunRest);
  },
  carrier(local, up, reason) {
    const i = portIndex.get(local);
    if (i === undefined) return;
    events.add('carrier', { port: local, up, reason });
    logEvents(sw.setLinkUp(i, up));
  },
}, { clock, timeScale, event: (type, fields) => events.add(type, fields) });

// a port configured "shutdown" has no line from the start, as after the shutdown route
for (const p of model.ports) if (p.shutdown && links.has(p.name)) links.setAdminUp(p.name, false);

// Aging runs on the switch's clock; with --time-scale the wall-clock wait shrinks accordingly.
const agingTimer = new DeadlineTimer(clock, timeScale, () => sw.nextAgingDeadlineMs(), () => logEvents(sw.age()), false);
function scheduleAging(): void {
  agingTimer.schedule();
}

// `mode: vxlan` ports: their tunnels are their cables, attached before the switch says it is ready
const vxlanPorts = model.ports.some((p) => p.vxlan)
  ? await openVxlanPorts(name, model.ports, (port, link, peer) => links.attach(port, link, peer)).catch((e: unknown) => exitFatal(`switchd ${name}`, e))
  : undefined;
const vxlanByPort = new Map((vxlanPorts?.ports() ?? []).map((v) => [v.port, v]));

function port(nameText: string): number {
  const i = portIndex.get(nameText);
  if (i === undefined) throw new VfabError('VFAB_NOT_FOUND', `switch ${name} has no port ${nameText}`);
  return i;
}

const server = new ControlServer(token, { tls: daemonTlsFiles(values['tls-cert'], values['tls-key']) })
  .on('GET', '/control/links', () => ({ links: links.status() })) // vfab up polls this until every link is up: not the ports and counters
  .on('GET', '/control/status', () => ({
    name,
    kind: 'switch',
    macAgingSeconds: sw.macAgingMs() / 1000,
    links: links.status(),
    ports: switchPortRows(sw).map((p) => (vxlanByPort.has(p.name) ? { ...p, vxlan: vxlanByPort.get(p.name) } : p)),
    portChannels: sw.portChannels(),
    ...(vxlanPorts ? { vxlanSockets: vxlanPorts.sockets() } : {}),
    counters: sw.counters(),
    clockMs: clock.nowMs(),
  }))
  .on('GET', '/control/mac-table', () => ({ entries: sw.macTable() }))
  .on('POST', '/control/mac-table/clear', (req) => ({ cleared: sw.clearMacTable(req.body ?? {}) }))
  .on('POST', '/control/counters/reset', () => (sw.clearCounters(), links.clearCounters(), { reset: true, clockMs: clock.nowMs() }))
  .on('GET', '/control/events', (req) => events.reply(Number(req.query.get('since') ?? 0), clock.nowMs()))
  .on('POST', '/control/peers', (req) => ({ dialled: links.dial(req.body?.peers ?? {}) }))
  .on('POST', '/control/links/:port', (req) => {
    port(req.params.port!);
    if (!links.has(req.params.port!)) links.setAdminUp(req.params.port!, true); // no cable there: throws VFAB_NOT_FOUND naming the links
    // the cause is logged before its effects (carrier, MAC flush) so the event stream reads in order
    events.add('admin-link', { port: req.params.port, up: req.body?.up !== false });
    links.setAdminUp(req.params.port!, req.body?.up !== false);
    return { port: req.params.port, up: req.body?.up !== false };
  })
  .on('POST', '/control/links/:port/impair', (req) => {
    port(req.params.port!);
    return { port: req.params.port, impairment: links.impair(req.params.port!, req.body ?? {}) };
  })
  .on('POST', '/control/links/:port/flap', (req) => {
    port(req.params.port!);
    return { port: req.params.port, flap: links.flap(req.params.port!, req.body ?? {}) };
  })
  .on('POST', '/control/ports/:port/shutdown', (req) => {
    const shut = req.body?.shutdown !== false;
    logEvents(sw.setShutdown(port(req.params.port!), shut));
    // a shut port drops its line: the attached NIC sees link down (like IOS "administratively down")
    if (links.has(req.params.port!)) links.setAdminUp(req.params.port!, !shut);
    return { port: req.params.port, shutdown: shut };
  })
  .on('POST', '/control/config', (req) => reconfigure(req.body?.what, req.body?.switch))
  .onUpgrade((req, socket, head) => links.server.handleUpgrade(req, socket, head))
  .onUpgrade((req, socket, head, url) => capture.handleUpgrade(req, socket, head, url));

// crafted frames (vfab send): into the receive path of a port, as if they arrived on its cable
registerInjectRoutes(server, {
  resolve: (point) => {
    const i = point.startsWith(`${name}.`) ? portIndex.get(point.slice(name.length + 1)) : undefined;
    if (i === undefined) throw unknownInjectPoint(name, point, portNames.map((p) => `${name}.${p}`));
    return (frame) => receiveFrame(i, frame);
  },
}, events);

/**
 * `vfab set port|switch` (docs/reconfigure.md): the whole new switch model, applied at once by the engine
 * (which refuses an invalid one before changing anything). Logs config-changed (each setting, old -> new)
 * before the change's effects; a port shut or opened drops or restores its line as the shutdown route does.
 */
function reconfigure(what: unknown, next: SwitchModel | undefined): { changes: string[] } {
  if (typeof next !== 'object' || next === null || !Array.isArray(next.ports) || !Array.isArray(next.portChannels)) {
    throw new VfabError('VFAB_USAGE', 'POST /control/config needs {switch: a switch of the topology model}');
  }
  const show = () => [`macAgingMs=${sw.macAgingMs()}`, ...sw.ports().map((p) => `${p.name} mode=${p.mode} ${p.mode === 'access' ? `vlan=${p.accessVlan}` : `allowed=${Array.isArray(p.allowedVlans) ? compactVlans(p.allowedVlans) : 'all'} native=${p.nativeVlan}`} shutdown=${p.shutdown} channel=${p.portChannel ?? '-'}`)];
  const before = show();
  const shutBefore = sw.ports().map((p) => p.shutdown);
  const effects = sw.reconfigure({ ...switchConfigFromModel(next), name: sw.name });
  const after = show();
  const changes = after.map((line, i) => (line === before[i] ? '' : `${before[i]} -> ${line.slice(line.indexOf(' ') + 1)}`)).filter(Boolean);
  events.add('config-changed', { what: typeof what === 'string' ? what : undefined, changes });
  logEvents(effects);
  for (const [i, p] of sw.ports().entries()) {
    if (shutBefore[i] !== p.shutdown && links.has(p.name)) links.setAdminUp(p.name, !p.shutdown);
  }
  return { changes };
}

const boundPort = await server.listen(Number(values.port), values.host);
onShutdown(async () => {
  links.close();
  vxlanPorts?.close();
  drops.close();
  capture.close();
  await server.close();
});
announceReady(name, boundPort);
