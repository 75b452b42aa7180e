// Linux network namespaces as guests (topology `kind: netns`; docs/guests.md "Network namespaces"). For
// each such VM hostd creates a namespace `<prefix><fabric>-<vm>` (prefix `vfab-`, or $VFAB_NETNS_PREFIX)
// and, per vNIC, an interface eth0, eth1, ... in vNIC order. Two ways to attach it ($VFAB_GUEST_ATTACH,
// default tap where the helper can run): `tap`, a tap device served by a python3 helper process in the
// namespace (daemons/guests/tap-attach.ts), carrier shown by TUNSETCARRIER; or `vxlan`, a kernel vxlan
// device (daemons/guests/vxlan-device.ts) that is moved into it and renamed
// eth0, eth1, ... in vNIC order, with the vNIC's MAC, MTU, address and (first gateway) default route. Each
// device talks VXLAN over 127.0.0.1 to the host's one VxlanSocket (daemons/link/vxlan-socket.ts), whose
// tunnel per vNIC is the FrameLink hostd binds as "<vm>.<nic>". The kernel end of every tunnel of a host
// listens on one UDP port (0.0.0.0:<port> in the root namespace, chosen free at start); VNIs are 1..n.
// Carrier of a vNIC's link (link down/up, flaps, power off) is mirrored into the namespace (vxlan:
// protodown; tap: the helper's TUNSETCARRIER): the guest sees NO-CARRIER.
//
// What was created is recorded in <run dir>/guests/<host>.netns.json before it is created, so that a
// host restarted after kill -9, `vfab down` and the next `vfab up` remove leftovers
// (removeNetnsLeftovers). Removing a namespace first ends the processes still running in it (`vfab exec
// ... -D`): they belong to the guest. Leaves out IPv6 addresses (the guest's kernel does SLAAC/DAD on
// its own), more than one default route, and namespaces of other fabrics (a name that exists and is not
// in this host's record is refused, never deleted). Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN).

import fs from 'node:fs';
import path from 'node:path';
import dgram from 'node:dgram';
import { VfabError } from '../../lib/errors.js';
import type { Vm } from '../../lib/topology/model.js';
import { FrameLink } from '../../lib/link/frame-link.js';
import { VxlanSocket } from '../link/vxlan-socket.js';

import { TapHelper, tapAttachAvailable } from './tap-attach.js';
import { canManageNetworks, netnsNeedsRoot, createVxlanDevice, deleteLink, run, MAX_IFNAME_BYTES } from './vxlan-device.js';
import type { GuestAttachContext, GuestAttachment } from './attach.js';

/** Namespace names start with this unless $VFAB_NETNS_PREFIX says otherwise (tests use their own). */
export const DEFAULT_NETNS_PREFIX = 'vfab-';
/** Longest $VFAB_NETNS_PREFIX, bytes: with a 32-byte fabric and VM name a namespace name stays <= 81 bytes. */
export const MAX_NETNS_PREFIX_BYTES = 16;
/** A vNIC's MTU when the topology gives none, bytes (IP MTU, as `ip link` shows it). */
export const DEFAULT_GUEST_MTU = 1500;
/** How long the processes left in a namespace get after SIGTERM before SIGKILL, ms. */
export const NETNS_PROCESS_GRACE_MS = 1000;
const PREFIX_RE = /^[A-Za-z0-9_-]{1,16}$/;

/** The prefix of every namespace and temporary device vfab creates ($VFAB_NETNS_PREFIX or vfab-). */
export function netnsPrefix(env: NodeJS.ProcessEnv = process.env): string {
  const p = env.VFAB_NETNS_PREFIX ?? DEFAULT_NETNS_PREFIX;
  if (!PREFIX_RE.test(p)) throw new VfabError('VFAB_GUEST_BAD_PREFIX', `VFAB_NETNS_PREFIX ${JSON.stringify(p)}: use 1-${MAX_NETNS_PREFIX_BYTES} of A-Z a-z 0-9 _ -`);
  return p;
}

export type GuestAttachMode = 'tap' | 'vxlan';
export const GUEST_ATTACH_MODES: readonly GuestAttachMode[] = ['tap', 'vxlan'];

/**
 * How netns guests' vNICs are attached: $VFAB_GUEST_ATTACH (tap | vxlan), else tap when the helper can
 * run here (it ships with vfab; /dev/net/tun exists), else vxlan.
 */
export function guestAttachMode(env: NodeJS.ProcessEnv = process.env, tapAvailable = tapAttachAvailable): GuestAttachMode {
  const v = env.VFAB_GUEST_ATTACH;
  if (v === undefined || v === '') return tapAvailable() ? 'tap' : 'vxlan';
  if (!(GUEST_ATTACH_MODES as readonly string[]).includes(v)) throw new VfabError('VFAB_GUEST_BAD_ATTACH', `VFAB_GUEST_ATTACH ${JSON.stringify(v)}: use ${GUEST_ATTACH_MODES.join(' or ')}`);
  return v as GuestAttachMode;
}

/** The namespace of VM `vm` of fabric `fabric` (topology names are [A-Za-z0-9_-], at most 32 bytes). */
export function netnsName(fabric: string, vm: string, prefix = netnsPrefix()): string {
  return `${prefix}${fabric}-${vm}`;
}

/** The guest's interface for vNIC index `i`. */
export function guestIfName(i: number): string {
  return `eth${i}`;
}

let tempSerial = 0;
/** A temporary root-namespace device name (<= 15 bytes): the prefix's first 6 bytes, this PID, a serial. */
function tempDeviceName(prefix: string): string {
  const name = `${prefix.slice(0, 6)}${process.pid.toString(36)}x${(tempSerial++).toString(36)}`;
  if (Buffer.byteLength(name) > MAX_IFNAME_BYTES) throw new VfabError('VFAB_GUEST_BAD_DEVICE', `temporary device name ${name} is longer than ${MAX_IFNAME_BYTES} bytes`);
  return name;
}

// ------------------------------------------------------------------ records of what was created

interface NetnsRecord {
  host: string;
  /** Namespaces created (or about to be). */
  namespaces: string[];
  /** Temporary devices in the root namespace (between creation and the move into the namespace). */
  devices: string[];
}

const RECORD_SUFFIX = '.netns.json';

function recordFile(runDir: string, host: string): string {
  return path.join(runDir, 'guests', `${host}${RECORD_SUFFIX}`);
}

function readRecord(file: string, host: string): NetnsRecord {
  try {
    const r = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<NetnsRecord>;
    const names = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string' && /^[A-Za-z0-9_.-]{1,128}$/.test(x)) : []);
    return { host, namespaces: names(r.namespaces), devices: names(r.devices) };
  } catch {
    return { host, namespaces: [], devices: [] };
  }
}

function writeRecord(file: string, r: NetnsRecord): void {
  if (r.namespaces.length === 0 && r.devices.length === 0) {
    fs.rmSync(file, { force: true });
    return;
  }
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(r), { mode: 0o600 });
  fs.renameSync(`${file}.tmp`, file);
}

/** Namespaces that exist now (`ip netns list`). */
async function listNamespaces(): Promise<Set<string>> {
  const out = await run('ip', ['netns', 'list']);
  return new Set(out.split('\n').map((l) => l.trim().split(/\s+/)[0]!).filter(Boolean));
}

/** Ends the processes in namespace `ns` (SIGTERM, SIGKILL after the grace time), then deletes it. */
export async function removeNamespace(ns: string): Promise<boolean> {
  if (!(await listNamespaces()).has(ns)) return false;
  const pids = async () => (await run('ip', ['netns', 'pids', ns]).catch(() => '')).split(/\s+/).filter((p) => /^\d+$/.test(p)).map(Number);
  let left = await pids();
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    for (const pid of left) {
      try {
        process.kill(pid, signal);
      } catch {
        /* gone */
      }
    }
    const until = Date.now() + NETNS_PROCESS_GRACE_MS;
    while (left.length > 0 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 50));
      left = await pids();
    }
    if (left.length === 0) break;
  }
  await run('ip', ['netns', 'del', ns]);
  return true;
}

/** Removes what one host's record lists (namespaces, temporary devices) and the record; returns what existed. */
async function removeRecorded(file: string, host: string): Promise<string[]> {
  const r = readRecord(file, host);
  const removed: string[] = [];
  for (const ns of r.namespaces) if (await removeNamespace(ns)) removed.push(`netns ${ns}`);
  for (const dev of r.devices) if (await deleteLink(dev)) removed.push(`link ${dev}`);
  fs.rmSync(file, { force: true });
  return removed;
}

/**
 * Removes every namespace and device the hosts of a fabric recorded in `runDir` (after their hostd was
 * killed, or by `vfab down` / the next `vfab up`). Returns what existed and was removed; a record whose
 * removal fails stays, and the error is thrown after the others were tried.
 */
export async function removeNetnsLeftovers(runDir: string): Promise<string[]> {
  const dir = path.join(runDir, 'guests');
  let files: string[];
  try {
    files = fs.readdirSync(dir).filter((f) => f.endsWith(RECORD_SUFFIX));
  } catch {
    return [];
  }
  const removed: string[] = [];
  let failure: unknown;
  for (const f of files) {
    try {
      removed.push(...(await removeRecorded(path.join(dir, f), f.slice(0, -RECORD_SUFFIX.length))));
    } catch (e) {
      failure ??= e;
    }
  }
  if (failure !== undefined) throw failure;
  return removed;
}

// ------------------------------------------------------------------ the host's shared socket

interface HostShared {
  mode: GuestAttachMode;
  /** vxlan mode: the socket every tunnel of this host shares. */
  socket: VxlanSocket | undefined;
  /** The UDP port every kernel device of this host listens on (root namespace, 0.0.0.0). */
  kernelPort: number;
  nextVni: number;
  users: number;
  record: NetnsRecord;
  file: string;
}

let shared: Promise<HostShared> | undefined;

/** A UDP port free right now on 0.0.0.0 (the kernel binds it a moment later). */
function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '0.0.0.0', () => {
      const port = s.address().port;
      s.close(() => resolve(port));
    });
  });
}

async function openShared(runDir: string, host: string): Promise<HostShared> {
  const file = recordFile(runDir, host);
  // leftovers of this host's earlier life (killed before it could clean up)
  await removeRecorded(file, host);
  const mode = guestAttachMode();
  const socket = mode === 'vxlan' ? await VxlanSocket.open('127.0.0.1', 0) : undefined;
  return { mode, socket, kernelPort: mode === 'vxlan' ? await freeUdpPort() : 0, nextVni: 1, users: 0, record: { host, namespaces: [], devices: [] }, file };
}

// ------------------------------------------------------------------ attach

interface NetnsInterface {
  nic: string;
  name: string;
  mac: string;
  mtu: number;
  ip: string | null;
  vni: number | null;
  link: FrameLink;
  /** NO-CARRIER shown inside (vxlan: protodown; tap: the helper's carrier off). */
  protodown: boolean;
  /** tap mode: the helper serving the interface. */
  tap?: TapHelper;
}

export async function attachNetnsGuest(ctx: GuestAttachContext): Promise<GuestAttachment> {
  const vm: Vm = ctx.vm;
  if (!canManageNetworks()) throw netnsNeedsRoot([vm.name]);
  if (ctx.runDir === undefined) throw new VfabError('VFAB_GUEST_KIND', `VM ${vm.name}: netns guests need the fabric's run directory to record what they create`);
  const prefix = netnsPrefix();
  shared ??= openShared(ctx.runDir, ctx.hostName).catch((e: unknown) => {
    shared = undefined; // the next attachment tries again
    throw e;
  });
  const sh = await shared;
  sh.users++;
  const ns = netnsName(ctx.fabric, vm.name, prefix);
  const save = () => writeRecord(sh.file, sh.record);
  const forget = (list: string[], name: string) => {
    const i = list.indexOf(name);
    if (i >= 0) list.splice(i, 1);
  };
  const ifaces: NetnsInterface[] = [];
  let powered = true;
  let closed = false;
  let ours = false; // the namespace is this attachment's (recorded, then created): only then is it removed
  // protodown changes run one at a time, in order, so the last one wins
  let queue: Promise<unknown> = Promise.resolve();
  const mirror = (i: NetnsInterface) => {
    const down = !(i.link.carrier && powered);
    queue = queue.then(async () => {
      if (closed || down === i.protodown) return;
      if (i.tap) i.tap.setCarrier(!down);
      else await run('ip', ['-n', ns, 'link', 'set', i.name, 'protodown', down ? 'on' : 'off']);
      i.protodown = down;
    }).catch((e: Error) => ctx.event('guest-error', { vm: vm.name, error: e.message }));
  };

  const close = async () => {
    if (closed) return;
    closed = true;
    await queue;
    await Promise.all(ifaces.map((i) => i.tap?.close()));
    for (const i of ifaces) i.link.close();
    try {
      if (ours) {
        await removeNamespace(ns);
        forget(sh.record.namespaces, ns);
        save();
      }
    } finally {
      if (--sh.users === 0) {
        sh.socket?.close();
        shared = undefined;
      }
    }
  };

  try {
    if ((await listNamespaces()).has(ns)) {
      throw new VfabError('VFAB_GUEST_NETNS_TAKEN', `VM ${vm.name}: network namespace ${ns} exists and is not this host's (another fabric named ${ctx.fabric} running from another directory?); stop that fabric, or remove it with: ip netns del ${ns}`, { netns: ns });
    }
    sh.record.namespaces.push(ns);
    save();
    ours = true;
    await run('ip', ['netns', 'add', ns]);
    await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    let gatewaySet = false;
    for (const [index, nic] of vm.nics.entries()) {
      const name = guestIfName(index);
      const mtu = nic.mtu ?? DEFAULT_GUEST_MTU;
      const linkName = `${vm.name}.${nic.name}`;
      if (sh.mode === 'tap') {
        const link = new FrameLink(linkName);
        const iface: NetnsInterface = { nic: nic.name, name, mac: nic.macText, mtu, ip: nic.ip?.text ?? null, vni: null, link, protodown: false };
        ifaces.push(iface);
        // the helper creates the tap inside the namespace: nothing passes through the root namespace
        iface.tap = await TapHelper.start({ netns: ns, ifname: name, mtu, link, event: ctx.event });
        await run('ip', ['-n', ns, 'link', 'set', name, 'address', nic.macText, 'mtu', String(mtu)]);
      } else {
        const socket = sh.socket!;
        const vni = sh.nextVni++;
        const link = socket.tunnel({ vni, remoteAddress: '127.0.0.1', remotePort: sh.kernelPort, name: linkName });
        ifaces.push({ nic: nic.name, name, mac: nic.macText, mtu, ip: nic.ip?.text ?? null, vni, link, protodown: false });
        const temp = tempDeviceName(prefix);
        sh.record.devices.push(temp);
        save();
        await createVxlanDevice({ name: temp, vni, listenPort: sh.kernelPort, remote: '127.0.0.1', remotePort: socket.port, mtu, mac: nic.macText });
        await run('ip', ['link', 'set', temp, 'netns', ns]);
        forget(sh.record.devices, temp);
        save();
        await run('ip', ['-n', ns, 'link', 'set', temp, 'name', name]);
      }
      const iface = ifaces[ifaces.length - 1]!;
      if (nic.ip) await run('ip', ['-n', ns, 'addr', 'add', nic.ip.text, 'dev', name]);
      await run('ip', ['-n', ns, 'link', 'set', name, 'up']);
      if (nic.gateway !== undefined && nic.ip && !gatewaySet) {
        await run('ip', ['-n', ns, 'route', 'add', 'default', 'via', nic.gateway, 'dev', name]);
        gatewaySet = true;
      }
      iface.link.onCarrier(() => mirror(iface));
    }
  } catch (e) {
    await close().catch(() => undefined);
    throw e;
  }

  return {
    links: ifaces.map((i) => i.link),
    close,
    powered(on: boolean) {
      powered = on;
      for (const i of ifaces) mirror(i);
    },
    status: () => ({
      kind: 'netns',
      netns: ns,
      exec: `vfab exec ${vm.name} -- COMMAND`,
      attach: sh.mode,
      ...(sh.socket ? { kernelPort: sh.kernelPort, vxlanPort: sh.socket.port } : {}),
      interfaces: ifaces.map((i) => ({
        nic: i.nic, name: i.name, mac: i.mac, mtu: i.mtu, ip: i.ip, carrier: i.link.carrier, protodown: i.protodown,
        ...(i.tap ? { helperPid: i.tap.pid, helper: { ...i.tap.counters } } : { vni: i.vni }),
      })),
    }),
  };
}
