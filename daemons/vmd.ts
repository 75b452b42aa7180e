// vmd: one VM (topology `external: true`) in its own process, attached to its vSwitch ports over
// WebSocket links, the way any outside guest attaches (docs/link-protocol.md, "Attaching a VM"). Runs the
// VM's IP stack (lib/endpoint VmEndpoint: ARP, ICMP echo, UDP) on the (optionally sped-up) clock, dials
// each vNIC's port at its host (/link/<vm>.<nic>, fabric token) and reconnects when the host goes away;
// a gratuitous ARP follows every link-up. What the guest programs into a vNIC (a new MAC, promiscuous
// mode) is told to the host's control API, like a vNIC driver, so the vSwitch's security policy (spec §4)
// judges the port as it does for VMs inside the host. Leaves out streams, disks and captures (capture the
// VM at its host: `vfab capture vm.nic`, served by the host).
//
// usage: node --import tsx daemons/vmd.ts --config FILE [--name NAME] [--port 0] [--host 127.0.0.1] [--tls-cert FILE --tls-key FILE]
// config (JSON, written by `vfab up`): { kind: 'vm', vm: <topology Vm>, host, links: [one 'dial' end per
//   vNIC], nicUrls: {nic: ws-url}, hostControlPort?, timeScale }
// control API (JSON, Authorization: Bearer <token>):
//   GET  /control/status                  the VM (power, vNICs, counters, ARP table) and its links
//   GET  /control/events?since=N          guest and carrier events
//   POST /control/vms/:vm/ping            {target, count, intervalMs, timeoutMs, sizeBytes, nic?}
//   POST /control/vms/:vm/mac             {nic?, mac}: the guest changes its MAC (told to the host first)
//   POST /control/vms/:vm/promiscuous     {nic?, on}
//   POST /control/vms/:vm/mtu             {nic?, mtu}: the guest sets its interface's IP MTU (68-9000)
//   POST /control/vms/:vm/raw             {nic?, frameHex}: the guest sends a raw frame (e.g. forged source)
//   POST /control/inject                  {point: "<vm>.<nic>", frames: [hex], intervalsMs?}: as the guest; GET: counters
//   POST /control/vms/:vm/power           {on}: off = stack off and every vNIC link admin-down
//   GET  /control/links                   {links}: each vNIC link's carrier and admin state (what vfab up polls)
//   POST /control/links/:nic              {up}: the vNIC's cable; /impair and /flap as on hostd

import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { TLS_ARG_OPTIONS, daemonTlsFiles } from './common/tls.js';
import { FabricClock } from './common/fabric-clock.js';
import { VfabError } from '../lib/errors.js';
import { macToString } from '../lib/wire/mac.js';
import type { EndpointAction } from '../lib/endpoint/vm-endpoint.js';
import { ControlServer, announceReady, onShutdown, daemonToken } from './common/server.js';
import { DaemonLinks } from './common/links.js';
import { EventLog } from './common/events.js';
import { DeadlineTimer } from './common/deadline-timer.js';
import { control } from './common/control-client.js';
import { GuestRunner, registerVmRoutes } from './common/vm-control.js';
import { registerInjectRoutes, guestInjectTarget } from './common/inject.js';
import type { VmConfig } from './fabric/plan.js';

const { values } = parseArgs({ options: { config: { type: 'string' }, name: { type: 'string' }, port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' }, ...TLS_ARG_OPTIONS, help: { type: 'boolean' } } });
if (values.help || !values.config) {
  process.stderr.write('usage: vmd --config FILE [--name NAME] [--port 0] [--host 127.0.0.1] [--tls-cert FILE --tls-key FILE]\n(normally started by `vfab up` for each VM with external: true)\n');
  process.exit(values.help ? 0 : 2);
}
const config = readConfig(values.config);
const vmName = config.vm.name;
const name = values.name ?? vmName;
const token = daemonToken();
const timeScale = config.timeScale ?? 1;
const clock = new FabricClock(config.clock, timeScale);
const events = new EventLog(name, () => clock.nowMs());

function readConfig(file: string): VmConfig {
  let c: VmConfig;
  try {
    c = JSON.parse(fs.readFileSync(file, 'utf8')) as VmConfig;
  } catch (e) {
    throw new VfabError('VFAB_VMD_BAD_CONFIG', `cannot read vm daemon config ${file}: ${(e as Error).message}`);
  }
  if (c?.kind !== 'vm' || !c.vm || !Array.isArray(c.vm.nics) || !Array.isArray(c.links)) throw new VfabError('VFAB_VMD_BAD_CONFIG', `${file} is not a vm daemon config (kind: 'vm', vm, links)`);
  for (const n of c.vm.nics) {
    if (!c.nicUrls?.[n.name]) throw new VfabError('VFAB_VMD_BAD_CONFIG', `${file}: no URL for vNIC ${n.name} in nicUrls`);
    if (!c.links.some((l) => l.local === n.name && l.role === 'dial')) throw new VfabError('VFAB_VMD_BAD_CONFIG', `${file}: no dialling link end for vNIC ${n.name}`);
  }
  return c;
}

const nicIndex = new Map(config.vm.nics.map((n, i) => [n.name, i]));
const nicNames = config.vm.nics.map((n) => n.name);

const links = new DaemonLinks(name, config.links, token, {
  frame: (nic, frame) => {
    guest.receive(nicIndex.get(nic)!, frame);
    scheduleTick();
  },
  carrier: (nic, up, reason) => {
    events.add('carrier', { vm: vmName, nic, up, reason });
    if (up) void linkCameUp(nicIndex.get(nic)!);
  },
}, { clock, timeScale, event: (type, fields) => events.add(type, fields) });

const guest = new GuestRunner(config.vm, clock, {
  tx: (nic, frame) => {
    links.send(nicNames[nic]!, frame);
  },
  programNic: (nic, setting) => programNic(nic, setting),
  event: (a: EndpointAction) => {
    const { kind, ...rest } = a as any;
    if (typeof rest.mac === 'number') rest.mac = macToString(rest.mac);
    if (typeof rest.previousMac === 'number') rest.previousMac = macToString(rest.previousMac);
    if (rest.frame) delete rest.frame;
    events.add(kind, { vm: vmName, ...rest });
  },
});

/** Tells the host what the guest programmed into vNIC `nic` (its port's effective MAC, promiscuous mode). */
async function programNic(nic: number, setting: { mac: number } | { promiscuous: boolean }): Promise<void> {
  if (config.hostControlPort === undefined) return; // attached without a host control API: the port keeps its MAC
  const nicName = nicNames[nic]!;
  const vmPath = `/control/vms/${encodeURIComponent(vmName)}`;
  if ('mac' in setting) await control({ port: config.hostControlPort }, token, 'POST', `${vmPath}/mac`, { nic: nicName, mac: macToString(setting.mac) });
  else await control({ port: config.hostControlPort }, token, 'POST', `${vmPath}/promiscuous`, { nic: nicName, on: setting.promiscuous });
}

/** Link-up: bring the host's view of the vNIC in line with the guest (after a restart), then announce. */
async function linkCameUp(nic: number): Promise<void> {
  const ep = guest.endpoint(vmName);
  try {
    // idempotent at the host; after a vmd restart it resets what a previous run programmed
    await programNic(nic, { mac: ep.nicMac(nic) });
    await programNic(nic, { promiscuous: ep.isPromiscuous(nic) });
  } catch (e) {
    events.add('program-failed', { vm: vmName, nic: nicNames[nic], message: (e as Error).message });
  }
  guest.linkUp(nic);
  scheduleTick();
}

// Guest timers (ARP retries and aging, ping timeouts) on the scaled clock.
const tickTimer = new DeadlineTimer(clock, timeScale, () => guest.nextDeadlineMs(), () => guest.tick());
function scheduleTick(): void {
  tickTimer.schedule();
}

function vmStatus() {
  const ep = guest.endpoint(vmName);
  const carrier = new Map(links.status().map((l) => [l.local, l.carrier]));
  return {
    name: vmName,
    poweredOn: ep.isPoweredOn,
    external: true,
    host: config.host,
    nics: config.vm.nics.map((n, i) => ({
      name: n.name,
      mac: macToString(ep.nicMac(i)),
      ip: n.ip?.text,
      portGroup: n.portGroup,
      vswitch: n.vswitch,
      promiscuous: ep.isPromiscuous(i),
      carrier: carrier.get(n.name) ?? false,
    })),
    counters: ep.counters,
    arp: ep.arpTable(),
  };
}

const server = new ControlServer(token, { tls: daemonTlsFiles(values['tls-cert'], values['tls-key']) })
  .on('GET', '/control/links', () => ({ links: links.status() })) // vfab up polls this until every link is up
  .on('GET', '/control/status', () => ({ name, kind: 'vm', host: config.host, links: links.status(), vms: [vmStatus()], clockMs: clock.nowMs() }))
  .on('GET', '/control/events', (req) => events.reply(Number(req.query.get('since') ?? 0), clock.nowMs()))
  .on('POST', '/control/vms/:vm/power', (req) => {
    guest.endpoint(req.params.vm!); // VFAB_NOT_FOUND for another VM
    const on = req.body?.on !== false;
    if (on) {
      guest.powerOn();
      for (const n of nicNames) links.setAdminUp(n, true);
    } else {
      for (const n of nicNames) links.setAdminUp(n, false);
      guest.powerOff();
    }
    events.add('power', { vm: vmName, on });
    scheduleTick();
    return { vm: vmName, poweredOn: on };
  })
  .on('POST', '/control/links/:nic', (req) => {
    const up = req.body?.up !== false;
    links.setAdminUp(req.params.nic!, up);
    events.add('admin-link', { nic: req.params.nic, up });
    return { nic: req.params.nic, up };
  })
  .on('POST', '/control/links/:nic/impair', (req) => ({ nic: req.params.nic, impairment: links.impair(req.params.nic!, req.body ?? {}) }))
  .on('POST', '/control/links/:nic/flap', (req) => ({ nic: req.params.nic, flap: links.flap(req.params.nic!, req.body ?? {}) }));
registerVmRoutes(server, guest, { scheduleTick, timeScale });
registerInjectRoutes(server, { resolve: (point) => guestInjectTarget(guest, point), afterBatch: scheduleTick }, events); // vfab send web1.nic0

guest.powerOn(); // its gratuitous ARPs find no carrier yet; each link-up announces again
events.add('power', { vm: vmName, on: true });
links.dial(Object.fromEntries(nicNames.map((n) => [n, config.nicUrls![n]!])));
scheduleTick();
const boundPort = await server.listen(Number(values.port), values.host);
onShutdown(async () => {
  tickTimer.cancel();
  links.close();
  await server.close();
});
announceReady(name, boundPort);
