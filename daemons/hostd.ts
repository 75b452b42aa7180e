// hostd: one ESX-style host as its own process. Wraps lib/host (standard vSwitches, port groups, VMs with
// their IP stacks) with its I/O: a WebSocket link per uplink (vmnic) dialled to a physical-switch port,
// guest timers on the (optionally sped-up) clock, live capture, measured traffic streams and the control
// API. Frame decisions are the libraries'; this file only moves bytes and keeps time. VMkernel ports
// (hosts[].vmkernels) come up with the host, before its VMs; status lists them, /capture takes
// "<host>.<vmk>", their ARP/IP events carry `vmk`.
//
// Runs as its own process, or unchanged as a worker thread of a host group (daemons/hostgroupd.ts, vfab up
// --hosts-per-process): then its ready line goes to the group, shutdown comes as the group's message.
//
// usage: node --import tsx daemons/hostd.ts --config FILE [--name NAME] [--port 0] [--host 127.0.0.1] [--tls-cert FILE --tls-key FILE]
// control API (JSON, Authorization: Bearer <token>):
//   GET  /control/status                  vSwitches (uplinks, ports and their uplink), VMs, vmkernel ports (and
//                                         vmkernelStack: their IP stack's and UDP dispatch's counters), links
//   GET  /control/mac-table               every vSwitch's table (told by ports, never learned)
//   POST /control/counters/reset          zero every vSwitch, port, uplink and link counter (`vfab counters --reset`)
//   GET  /control/events?since=N          power, guest, vSwitch and carrier events
//   POST /control/peers                   {peers: {vmnic: url}}: dial the uplinks
//   GET  /control/links                   {links}: each link's carrier and admin state (what vfab up polls)
//   POST /control/links/:vmnic            {up}: cable pulled / plugged
//   POST /control/links/:vmnic/impair     {lossPercent?, direction?: tx|rx|both, delayMs?, jitterMs?, seed?}; {} clears
//   POST /control/links/:vmnic/flap       {schedule: [{atMs, up}]} or {periodMs, downMs, count}; {} cancels
//   POST /control/vms/:vm/power           {on}; a VM with datastore disks first locks (or releases) its files
//   POST /control/vms/:vm/ping            {target, count, intervalMs, timeoutMs, sizeBytes, nic?}
//   POST /control/vms/:vm/mac             {nic?, mac}: the guest changes its MAC
//   POST /control/vms/:vm/promiscuous     {nic?, on}: the guest adapter's promiscuous mode
//   POST /control/vms/:vm/mtu             {nic?, mtu}: the guest sets its interface's IP MTU (68-9000)
//   POST /control/vms/:vm/raw             {nic?, frameHex}: the guest sends a raw frame (e.g. forged source)
//   POST /control/inject                  {point, frames: [hex], intervalsMs?}: crafted frames at esx1.vmnic0 (as
//                                         received from the wire) or web1.nic0 (as its guest); GET: counters
//   POST /control/vmkernels/:vmk/ping     {target, count, intervalMs, timeoutMs, sizeBytes}: ping from vmk (esx1.vmk0)
//   POST /control/streams/send            {vm, nic?, target, udpPort, frameBytes, seconds, ratePps?, streamId, background?}
//                                         background: true returns {streamId, started: true} at once
//   POST /control/streams/sink            {vm, udpPort, streamId}: count a stream at this VM
//   GET  /control/streams/:vm             reports of the VM's sinks, and its senders {streamId, sent, running}
//   POST /control/streams/:vm/clear       forget the VM's sinks and finished senders
//   /control/datastores/...               VMFS-like datastores and VM power-on locks (daemons/datastore/host-datastores.ts)
//   GET  /control/ha, POST /control/vmkernels/:vmk/link {up}   HA agent status; vmk port blocked (daemons/ha/attach.ts)
//   POST /control/config                  {what, host}: live reconfiguration (vfab set; daemons/host-config.ts)
//   POST /control/vms/:vm/migrate         {to, toPort}: vMotion to host `to` (daemons/vmotion/service.ts); GET /control/vmotion/:id
// events (GET /control/events) also carry teaming: failover, failback, pinned, notify (RARPs: count,
// uplink, vlan), link-up/down, beacon-failed/-restored, shotgun-on/-off, no-uplink, shaping-drop;
// carrier changes; impairment-set/-cleared, flap-set/-change/-cancelled.
//   WS   /link/:vmnic, /capture?point=P   see docs/link-protocol.md
//   WS   /link/<vm>.<nic>                  the link of an external VM's vNIC (daemons/vmd.ts or any client
//                                         speaking docs/link-protocol.md, "Attaching a VM"); carrier down
//                                         blocks the VM's vSwitch port. Guest routes (ping, raw) for an
//                                         external VM answer VFAB_VM_EXTERNAL; mac/promiscuous program its port.

import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { TLS_ARG_OPTIONS, daemonTlsFiles } from './common/tls.js';
import { VfabError } from '../lib/errors.js';
import { EsxHost, type HostEvent } from '../lib/host/host.js';
import type { StreamReceiver } from '../lib/traffic/stream.js';
import { sharedNowNs } from '../lib/traffic/stream.js';
import { ControlServer, announceReady, onShutdown, daemonToken } from './common/server.js';
import { CaptureServer } from './common/capture-server.js';
import { DaemonLinks } from './common/links.js';
import { LINK_QUEUE_BYTES } from '../lib/link/link.js';
import { forEachRunFrame } from '../lib/link/codec.js';
import { EventLog } from './common/events.js';
import { hostEventEntry } from './common/host-events.js';
import { registerConfigRoute } from './host-config.js';
import { FabricClock } from './common/fabric-clock.js';
import { DropEvents } from './common/drop-events.js';
import { DeadlineTimer } from './common/deadline-timer.js';
import type { HostConfig } from './fabric/plan.js';
import { attachHostStorage } from './host-storage.js';
import { registerVmRoutes, runPing } from './common/vm-control.js';
import { registerInjectRoutes, guestInjectTarget, unknownInjectPoint } from './common/inject.js';
import { HostDatastores, MOUNT_TIMEOUT_MS, VM_STARTUP_MOUNT_WAIT_MS } from './datastore/host-datastores.js';
import { attachHa } from './ha/attach.js';
import { registerVmotionOnDemand } from './vmotion/on-demand.js';
import { isRealGuest } from '../lib/topology/model.js';
import type { GuestAttachment } from './guests/attach.js';

export { MAX_PING_COUNT } from './common/vm-control.js';
export const MAX_STREAM_SECONDS = 600;
/** Frames a stream sender hands the vSwitch per event-loop turn when unpaced. */
const STREAM_FRAMES_PER_TURN = 64;

const { values } = parseArgs({ options: { config: { type: 'string' }, name: { type: 'string' }, port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' }, ...TLS_ARG_OPTIONS, help: { type: 'boolean' } } });
if (values.help || !values.config) {
  process.stderr.write('usage: hostd --config FILE [--name NAME] [--port 0] [--host 127.0.0.1] [--tls-cert FILE --tls-key FILE]\n(normally started by `vfab up`)\n');
  process.exit(values.help ? 0 : 2);
}
const config = JSON.parse(fs.readFileSync(values.config, 'utf8')) as HostConfig;
const name = values.name ?? config.host.name;
const token = daemonToken();
const timeScale = config.timeScale ?? 1;
// the fabric clock (lib/fabric-clock.ts): guest timers, teaming, events and capture times on one line
const clock = new FabricClock(config.clock, timeScale);
const events = new EventLog(name, () => clock.nowMs());

const capture = new CaptureServer({ setTap: (point, on) => host.setTap(point, on) }, () => clock.captureNowNs());
const drops = new DropEvents(clock, timeScale, events, capture);
/** "web1.nic0" stays as is; "<host>.vmnic0" is named "vmnic0" in events, like every other uplink event. */
const dropPortName = (point: string) => (point.startsWith(`${name}.`) ? point.slice(name.length + 1) : point);

// External VMs: one listening link end per vNIC, named "<vm>.<nic>" (the plan adds them to config.links).
// Real guests (kind: netns | qemu) have a link per vNIC under the same name, attached below.
const externalNics = new Map<string, { vm: string; nic: number }>();
const externalLinkNames = new Map<string, string[]>(); // vm -> link name per vNIC index
for (const vm of config.host.vms) {
  if (!vm.external && !(isRealGuest(vm) && !vm.haStandby)) continue;
  externalLinkNames.set(vm.name, vm.nics.map((n, i) => {
    const local = `${vm.name}.${n.name}`;
    externalNics.set(local, { vm: vm.name, nic: i });
    return local;
  }));
}

// Real guests (kind: netns | qemu; daemons/guests/attach.ts), by VM name.
const guestAttachments = new Map<string, GuestAttachment>();

let runVm: { vm: string; nic: number } = { vm: '', nic: 0 };
const receiveRunFromVm = (frame: Uint8Array) => host.receiveFromVm(runVm.vm, runVm.nic, frame);
const links = new DaemonLinks(name, config.links, token, {
  frame: (local, frame) => {
    const ext = externalNics.get(local);
    if (ext === undefined) host.receiveUplink(local, frame);
    else host.receiveFromVm(ext.vm, ext.nic, frame);
    scheduleTickAfterCallback();
  },
  // same-header runs on an uplink (lib/link/codec.ts); an external VM's frames go one by one
  frameRun: (local, first, count, records, frameBytes, maxFrameBytes) => {
    const ext = externalNics.get(local);
    if (ext === undefined) host.receiveUplinkRun(local, first, records, maxFrameBytes);
    else {
      runVm = ext;
      forEachRunFrame(records, 0, receiveRunFromVm);
    }
    scheduleTickAfterCallback();
  },
  carrier: (local, up, reason) => {
    const ext = externalNics.get(local);
    if (ext === undefined) {
      events.add('carrier', { uplink: local, up, reason });
      host.setUplinkLink(local, up);
    } else {
      events.add('carrier', { vm: ext.vm, nic: local.slice(ext.vm.length + 1), up, reason });
      host.setVmLink(ext.vm, ext.nic, up);
    }
    scheduleTick();
  },
}, { clock, timeScale, event: (type, fields) => events.add(type, fields) });

const host: EsxHost = new EsxHost(config.host, clock, {
  uplinkTx: (vmnic, frame) => {
    links.send(vmnic, frame);
  },
  vmTx: (vm, nic, frame) => {
    const local = externalLinkNames.get(vm)?.[nic];
    if (local !== undefined) links.send(local, frame);
  },
  event: (e: HostEvent) => logHostEvent(e),
  tap: (point, direction, frame) => capture.frame(point, direction, frame),
  drop: (point, reason, frame) => drops.dropped(dropPortName(point), point, reason, frame),
  streamNowNs: () => streamArrivalNs(),
});

function logHostEvent(e: HostEvent): void {
  const entry = hostEventEntry(name, e);
  if (entry) events.add(entry.type, entry.fields);
  // the first RARP of a notify was just sent (and tapped): say why on it
  if (e.kind === 'teaming' && e.type === 'notify' && capture.watching(`${name}.${String(e.details.uplink)}`)) {
    capture.comment(`${name}.${String(e.details.uplink)}`, `${name}: notify RARP for ${String(e.details.mac)} (${String(e.details.port)}), ${String(e.details.reason)}`);
  }
}

// Guest timers (ARP retries, ping timeouts), teaming beacons and shaper releases on the host clock.
const tickTimer = new DeadlineTimer(clock, timeScale, () => host.nextDeadlineMs(), () => host.tick());
function scheduleTick(): void {
  tickTimer.schedule();
}
// Frames arrive in batches: one link message per I/O callback, but one VXLAN datagram (a netns guest's
// frame) per callback, up to 32 of them per event-loop turn. Re-arm the timer once per turn, after the
// turn's I/O (setImmediate), instead of after every frame or every callback.
let tickPending = false;
const scheduleTickNow = () => {
  tickPending = false;
  tickTimer.schedule();
};
function scheduleTickAfterCallback(): void {
  if (tickPending) return;
  tickPending = true;
  setImmediate(scheduleTickNow);
}

// ------------------------------------------------------------ measured streams
// Stream arrivals are stamped once per I/O callback (one received link message, usually), like the bare
// relay peer's receiver stamps once per message: the shared clock costs more than the rest of a sink.
let arrivalNs = 0;
let arrivalFresh = false;
const expireArrival = () => {
  arrivalFresh = false;
};
function streamArrivalNs(): number {
  if (!arrivalFresh) {
    arrivalNs = sharedNowNs();
    arrivalFresh = true;
    queueMicrotask(expireArrival);
  }
  return arrivalNs;
}

const sinks = new Map<string, StreamReceiver[]>();
/** Senders per VM (background and foreground), reported by GET /control/streams/:vm. */
const senders = new Map<string, Array<{ streamId: number; sent: number; running: boolean; error?: string }>>();
/** Senders one host keeps running at once. */
export const MAX_RUNNING_SENDERS = 64;

function senderRecord(vm: string, streamId: number) {
  const running = [...senders.values()].flat().filter((r) => r.running).length;
  if (running >= MAX_RUNNING_SENDERS) throw new VfabError('VFAB_HOST_TOO_MANY_STREAMS', `a host runs at most ${MAX_RUNNING_SENDERS} stream senders at once`);
  const list = (senders.get(vm) ?? []).filter((r) => r.streamId !== streamId);
  const rec: { streamId: number; sent: number; running: boolean; error?: string } = { streamId, sent: 0, running: true };
  list.push(rec);
  senders.set(vm, list);
  return rec;
}

async function startStream(body: any) {
  const vm = String(body?.vm);
  const streamId = Number(body?.streamId ?? 1);
  host.isPoweredOn(vm); // VFAB_NOT_FOUND before anything starts
  host.checkStreamFrame(vm, host.pickNic(vm, String(body?.target), body?.nic), Number(body?.frameBytes ?? 64)); // VFAB_STREAM_FRAME_TOO_LARGE, before going to the background
  const rec = senderRecord(vm, streamId);
  const run = sendStream(body, rec);
  if (body?.background === true) {
    run.catch((e) => {
      rec.error = (e as Error).message;
      rec.running = false;
      events.add('stream-failed', { vm, streamId, message: rec.error });
    });
    return { vm, streamId, started: true };
  }
  return await run;
}

async function sendStream(body: any, rec: { sent: number; running: boolean }) {
  const vm = String(body?.vm);
  const target = String(body?.target);
  const nic = host.pickNic(vm, target, body?.nic);
  const udpPort = Number(body?.udpPort ?? 9000);
  const frameBytes = Math.min(Math.max(64, Number(body?.frameBytes ?? 64)), 9018);
  const seconds = Math.min(Math.max(0.01, Number(body?.seconds ?? 1)), MAX_STREAM_SECONDS);
  const ratePps = Number(body?.ratePps ?? 0);
  const streamId = Number(body?.streamId ?? 1);
  // resolve the next hop first (ARP through the fabric)
  let sender = host.streamSender(vm, nic, target, udpPort, frameBytes, streamId);
  for (let i = 0; !sender && i < 100; i++) {
    scheduleTick();
    await new Promise((r) => setTimeout(r, 20));
    sender = host.streamSender(vm, nic, target, udpPort, frameBytes, streamId);
  }
  if (!sender) {
    rec.running = false;
    throw new VfabError('VFAB_STREAM_UNRESOLVED', `${vm} could not resolve ${target} (no ARP reply)`);
  }
  const s = sender;
  const startMs = performance.now();
  const endMs = startMs + seconds * 1000;
  await new Promise<void>((resolve) => {
    const turn = () => {
      const now = performance.now();
      rec.sent = s.sent;
      if (now >= endMs || !rec.running) return resolve();
      if (ratePps > 0) {
        const due = Math.floor(((now - startMs) / 1000) * ratePps) - s.sent;
        if (due > 0) host.sendStreamFrames(s, Math.min(due, 1000), sharedNowNs());
        setTimeout(turn, 1);
      } else {
        // unpaced: as fast as the uplinks drain; generating frames only to tail-drop them would just burn
        // the CPU the rest of the fabric needs (the bare relay peer's sender waits the same way)
        if (links.maxQueuedBytes() < LINK_QUEUE_BYTES / 2) host.sendStreamFrames(s, STREAM_FRAMES_PER_TURN, sharedNowNs());
        setImmediate(turn);
      }
    };
    turn();
  });
  const elapsedS = (performance.now() - startMs) / 1000;
  rec.sent = s.sent;
  rec.running = false;
  events.add('stream-done', { vm, streamId, sent: s.sent, seconds: Math.round(elapsedS * 1000) / 1000 });
  return { vm, target, streamId, sent: s.sent, seconds: elapsedS, sentPps: s.sent / elapsedS };
}

function vmPath(req: { params: Record<string, string> }): string {
  return req.params.vm!;
}

const server = new ControlServer(token, { tls: daemonTlsFiles(values['tls-cert'], values['tls-key']) })
  .on('GET', '/control/links', () => ({ links: links.status() })) // vfab up polls this until every link is up: not the whole status
  .on('GET', '/control/status', () => ({ name, kind: 'host', links: links.status(), ...host.status(), vmkernelStack: host.vmkernelCounters(), clockMs: clock.nowMs(), ...(guestAttachments.size ? { guests: Object.fromEntries([...guestAttachments].map(([vm, a]) => [vm, a.status()])) } : {}) }))
  .on('GET', '/control/mac-table', () => ({ entries: host.macTable() }))
  .on('POST', '/control/counters/reset', () => (host.clearCounters(), links.clearCounters(), { reset: true, clockMs: clock.nowMs() }))
  .on('GET', '/control/events', (req) => events.reply(Number(req.query.get('since') ?? 0), clock.nowMs()))
  .on('POST', '/control/peers', (req) => ({ dialled: links.dial(req.body?.peers ?? {}) }))
  .on('POST', '/control/links/:vmnic', (req) => {
    const up = req.body?.up !== false;
    if (!links.has(req.params.vmnic!)) links.setAdminUp(req.params.vmnic!, up); // no such link: throws VFAB_NOT_FOUND naming the links
    // the cause is logged before its effects (carrier, teaming failover, RARPs) so the stream reads in order
    events.add('admin-link', { uplink: req.params.vmnic, up });
    links.setAdminUp(req.params.vmnic!, up);
    return { uplink: req.params.vmnic, up };
  })
  .on('POST', '/control/links/:vmnic/impair', (req) => {
    const impairment = links.impair(req.params.vmnic!, req.body ?? {});
    return { uplink: req.params.vmnic, impairment };
  })
  .on('POST', '/control/links/:vmnic/flap', (req) => {
    const flap = links.flap(req.params.vmnic!, req.body ?? {});
    return { uplink: req.params.vmnic, flap };
  })
  .on('POST', '/control/vms/:vm/power', async (req) => {
    const vm = vmPath(req);
    host.isPoweredOn(vm); // VFAB_NOT_FOUND for a VM not on this host
    // a VM with datastore disks powers on only once its files are locked here (its NICs come up then)
    if (datastores.homeOf(vm) !== undefined) {
      const files = req.body?.on === false ? await datastores.powerOffTopologyVm(vm) : await datastores.powerOnTopologyVm(vm, { waitMs: MOUNT_TIMEOUT_MS, untilFormatted: false });
      return { vm, poweredOn: host.isPoweredOn(vm), datastore: files };
    }
    if (req.body?.on === false) host.powerOff(vm);
    else host.powerOn(vm);
    scheduleTick();
    return { vm, poweredOn: host.isPoweredOn(vm) };
  })
  .on('POST', '/control/vmkernels/:vmk/ping', (req) => {
    const vmk = host.vmkernel(req.params.vmk!); // VFAB_NOT_FOUND names the host's vmkernel ports
    return runPing({
      pickNic: () => vmk.index,
      ping: (_host, _nic, target, o) => void vmk.ping(target, o), // a failed send reaches the listener too
      listen: (_host, listener) => vmk.listen(listener),
      endpoint: () => host.vmkernelEndpoint(),
    }, name, req.body, { scheduleTick, timeScale });
  })
  .on('POST', '/control/streams/sink', (req) => {
    const vm = String(req.body?.vm);
    const receiver = host.addStreamSink(vm, Number(req.body?.streamId ?? 1), Number(req.body?.udpPort ?? 9000));
    sinks.set(vm, [...(sinks.get(vm) ?? []), receiver]);
    return { vm, streamId: receiver.streamId };
  })
  .on('POST', '/control/streams/send', (req) => startStream(req.body))
  .on('GET', '/control/streams/:vm', (req) => ({ vm: req.params.vm, streams: (sinks.get(req.params.vm!) ?? []).map((r) => r.report()), senders: senders.get(req.params.vm!) ?? [] }))
  .on('POST', '/control/streams/:vm/clear', (req) => {
    host.removeStreamSinks(req.params.vm!);
    sinks.delete(req.params.vm!);
    senders.set(req.params.vm!, (senders.get(req.params.vm!) ?? []).filter((r) => r.running));
    return { vm: req.params.vm };
  })
  .onUpgrade((req, socket, head) => links.server.handleUpgrade(req, socket, head))
  .onUpgrade((req, socket, head, url) => capture.handleUpgrade(req, socket, head, url));

registerVmRoutes(server, host, { scheduleTick, timeScale }); // ping, mac, promiscuous, mtu, raw (daemons/common/vm-control.ts)
// live reconfiguration (vfab set): POST /control/config; the vMotion service reads config.host, kept current
registerConfigRoute(server, host, events, () => (Object.assign(config.host, host.model), scheduleTick()));
// crafted frames (vfab send): at an uplink as if off the wire, at a VM's vNIC as its guest (daemons/common/inject.ts)
const injectUplinks = config.host.vswitches.flatMap((v) => v.uplinks);
registerInjectRoutes(server, {
  resolve: (point) => {
    if (!point.startsWith(`${name}.`)) return guestInjectTarget(host, point);
    const vmnic = point.slice(name.length + 1);
    if (!injectUplinks.includes(vmnic)) throw unknownInjectPoint(name, point, injectUplinks.map((u) => `${name}.${u}`));
    return (frame) => host.receiveUplink(vmnic, frame);
  },
  afterBatch: scheduleTick,
}, events);
// VMFS-like datastores of hosts[].datastores, mounted when their array attaches (daemons/datastore/)
const datastores = new HostDatastores({
  host: name, datastores: config.host.datastores ?? [], clock, timeScale, events, lunOf: (a, l) => storage.lunOf(a, l),
  token, nasUrlOf: (a) => storage.nasUrlOf(a),
  vms: config.host.vms,
  vmPowered: (vm, on) => {
    if (on) host.powerOn(vm);
    else host.powerOff(vm);
    guestAttachments.get(vm)?.powered?.(on);
    scheduleTick();
  },
});
const storage = attachHostStorage({ server, config, token, events, onAttached: (array) => datastores.arrayAttached(array), datastoreDisk: (vm, disk) => datastores.diskFile(vm, disk) }); // storage paths, LUNs, VM disks (daemons/host-storage.ts)
datastores.register(server);
// vMotion source and destination runners (daemons/vmotion/): POST /control/vms/:vm/migrate, /control/vmotion/...
// (the vMotion code loads on the first of these requests: daemons/vmotion/on-demand.ts)
registerVmotionOnDemand(server, { name, model: config.host, host, clock, timeScale, token, events, datastores, storage, sinks, scheduleTick });

// Real guests (kind: netns | qemu; daemons/guests/): attached before they power on, so their first frames
// find the vSwitch port; a failure to attach (no root, a tool missing) ends the host's start with the reason.
for (const vm of config.host.vms) {
  if (!isRealGuest(vm) || vm.haStandby) continue;
  const { attachGuest } = await import('./guests/attach.js');
  const attachment = await attachGuest({ fabric: config.fabric, hostName: name, vm, runDir: path.dirname(values.config!), nowMs: () => clock.nowMs(), event: (type, fields) => events.add(type, fields) });
  guestAttachments.set(vm.name, attachment);
  attachment.links.forEach((link, i) => links.attach(externalLinkNames.get(vm.name)![i]!, link, `${vm.name}.${vm.nics[i]!.name}`));
}

// the vmkernel ports come up with the host (gratuitous ARP now; notify RARPs once an uplink has carrier)
host.startVmkernels();
// VMs power on at start; one with datastore disks once its datastore is mounted and its files are locked
// (a failure, e.g. "locked by esx2", is a vm-power-on-failed event and the VM stays off)
for (const vm of config.host.vms) {
  if (vm.haStandby) continue; // another HA cluster host's VM: powered on here only by an HA restart
  if (datastores.homeOf(vm.name) === undefined) host.powerOn(vm.name);
  else datastores.powerOnTopologyVm(vm.name, { waitMs: VM_STARTUP_MOUNT_WAIT_MS, untilFormatted: true }).catch((e: Error) => process.stderr.write(`${name}: ${vm.name} stays off: ${e.message}\n`));
}
scheduleTick();
// vSphere HA: the cluster's agent on the management vmk and the datastores, GET /control/ha (daemons/ha/)
const stopHa = await attachHa({ server, name, config, host, clock, timeScale, event: (type, fields) => events.add(type, fields), datastores, scheduleTick });
const boundPort = await server.listen(Number(values.port), values.host);
onShutdown(async () => {
  await Promise.all([...guestAttachments.values()].map((a) => a.close().catch((e: Error) => process.stderr.write(`${name}: ${e.message}\n`))));
  stopHa();
  datastores.close();
  links.close();
  drops.close();
  capture.close();
  await server.close();
});
announceReady(name, boundPort);
