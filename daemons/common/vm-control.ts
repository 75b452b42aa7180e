// The guest part of the control API, shared by hostd (VMs inside the host) and vmd (one VM in its own
// process): POST /control/vms/:vm/ping | mac | promiscuous | mtu | raw, over anything that runs guests
// (`GuestOps`: EsxHost fits it as it is; `GuestRunner` below runs a single VmEndpoint for vmd). Covers
// argument checks, the ping loop (echo requests paced on the daemon's scaled clock, replies collected
// from the guest's actions) and GuestRunner, which turns a VmEndpoint's actions into link sends and
// "vNIC programming" calls (MAC, promiscuous) for the host's vSwitch port. Leaves out power, streams and
// everything about vSwitches. Ping semantics: RFC 792 echo, like ping(8).

import { VfabError } from '../../lib/errors.js';
import type { Clock } from '../../lib/clock.js';
import type { Vm as VmModel } from '../../lib/topology/model.js';
import { VmEndpoint, nicConfigsOf, maxPingPayloadBytes, type EndpointAction, type EndpointActions } from '../../lib/endpoint/vm-endpoint.js';
import { parseMac, macToString, type Mac } from '../../lib/wire/mac.js';
import { MAX_FRAME_BYTES } from '../../lib/wire/ethernet.js';
import { parseIpv4Address, prefixMask, sameSubnet, IPV4_MIN_HEADER_BYTES } from '../../lib/wire/ipv4.js';
import { ICMP_HEADER_BYTES } from '../../lib/wire/icmp.js';
import type { ControlServer } from './server.js';

export const MAX_PING_COUNT = 10_000;
/** A ping call waits this long (host clock) past the last request's timeout before it reports "no answer". */
export const PING_GRACE_MS = 2_000;

/** What the guest routes need from whatever runs the VM. */
export interface GuestOps {
  pickNic(vm: string, target: string, nicName?: string): number;
  ping(vm: string, nic: number, target: string, opts: { id: number; seq: number; sizeBytes?: number; timeoutMs?: number }): void;
  listen(vm: string, listener: (action: EndpointAction) => void): () => void;
  endpoint(vm: string): VmEndpoint;
  /** Performs guest actions (MAC change, promiscuous); a Promise when they reach another process. */
  applyGuestActions(vm: string, actions: EndpointActions): void | Promise<void>;
  transmitFromVm(vm: string, nic: number, frame: Uint8Array): void;
}

export interface VmRouteOptions {
  /** Re-arms the daemon's deadline timer after guest work (ARP retries, ping timeouts). */
  scheduleTick(): void;
  /** Scaled-clock ms per wall ms. */
  timeScale: number;
  /** Ping ids; default Math.random (the daemon edge). */
  random?: () => number;
}

/** What the ping loop needs: a VM's guest, or a host's vmkernel stack (hostd's /control/vmkernels/:vmk/ping). */
export type PingOps = Pick<GuestOps, 'pickNic' | 'ping' | 'listen' | 'endpoint'>;

/**
 * The ping loop of POST .../ping: `count` echo requests from `vm` (body: target, count, intervalMs,
 * timeoutMs, sizeBytes, nic), paced on the daemon's scaled clock; resolves with every reply or timeout.
 */
export async function runPing(ops: PingOps, vm: string, body: any, opts: VmRouteOptions) {
  const random = opts.random ?? Math.random;
  const sleepHostMs = (ms: number) => new Promise((r) => setTimeout(r, ms / opts.timeScale));
  const target = String(body?.target ?? '');
  if (!target) throw new VfabError('VFAB_USAGE', 'ping needs a target IP');
  const count = Math.min(Math.max(1, Number(body?.count ?? 4)), MAX_PING_COUNT);
  const intervalMs = Math.max(1, Number(body?.intervalMs ?? 200));
  const timeoutMs = Math.max(1, Number(body?.timeoutMs ?? 1000));
  const sizeBytes = Math.max(0, Number(body?.sizeBytes ?? 56));
  const nic = ops.pickNic(vm, target, body?.nic);
  checkPingSize(ops.endpoint(vm), vm, nic, sizeBytes);
  const id = (random() * 0xffff) | 0;
  const replies = new Map<number, { seq: number; rttMs: number | null; ttl?: number; bytes?: number; error?: string }>();
  let settle: () => void = () => {};
  const done = new Promise<void>((r) => (settle = r));
  const stop = ops.listen(vm, (a) => {
    if (a.kind === 'pingReply' && a.id === id) replies.set(a.seq, { seq: a.seq, rttMs: a.rttMs, ttl: a.ttl, bytes: a.bytes });
    else if (a.kind === 'pingTimeout' && a.id === id) replies.set(a.seq, { seq: a.seq, rttMs: null, error: 'timeout' });
    else if (a.kind === 'sendFailed') {
      for (let s = 0; s < count; s++) if (!replies.has(s)) replies.set(s, { seq: s, rttMs: null, error: a.message });
    } else return;
    if (replies.size >= count) settle();
  });
  try {
    for (let seq = 0; seq < count && replies.size < count; seq++) {
      ops.ping(vm, nic, target, { id, seq, sizeBytes, timeoutMs });
      opts.scheduleTick();
      if (seq < count - 1) await sleepHostMs(intervalMs);
    }
    await Promise.race([done, sleepHostMs(timeoutMs + PING_GRACE_MS)]);
  } finally {
    stop();
  }
  const ordered = [...Array(count).keys()].map((s) => replies.get(s) ?? { seq: s, rttMs: null, error: 'no answer' });
  const ep = ops.endpoint(vm);
  return { vm, nic: ep.nicName(nic), sourceIp: ep.nicIp(nic) ?? '-', target, sent: count, received: ordered.filter((r) => r.rttMs !== null).length, replies: ordered };
}

/**
 * VFAB_PING_TOO_LARGE when `sizeBytes` of ICMP data (ping -s) do not fit vNIC `nic`'s IP MTU in one
 * packet: the guest does not fragment (like ping -M do). details.maxSizeBytes is the limit.
 */
export function checkPingSize(ep: VmEndpoint, vm: string, nic: number, sizeBytes: number): void {
  const mtu = ep.nicMtu(nic);
  const max = maxPingPayloadBytes(mtu);
  if (!Number.isInteger(sizeBytes) || sizeBytes > max) {
    throw new VfabError('VFAB_PING_TOO_LARGE', `${sizeBytes} data bytes do not fit ${vm}.${ep.nicName(nic)}'s MTU ${mtu}: at most ${max} (MTU - ${IPV4_MIN_HEADER_BYTES}-byte IPv4 header - ${ICMP_HEADER_BYTES}-byte ICMP header; no fragmentation)`, { maxSizeBytes: max, mtuBytes: mtu });
  }
}

/** Registers POST /control/vms/:vm/ping, /mac, /promiscuous, /mtu and /raw on `server`. */
export function registerVmRoutes(server: ControlServer, ops: GuestOps, opts: VmRouteOptions): ControlServer {
  return server
    .on('POST', '/control/vms/:vm/ping', (req) => runPing(ops, req.params.vm!, req.body, opts))
    .on('POST', '/control/vms/:vm/mac', async (req) => {
      const vm = req.params.vm!;
      const nic = ops.pickNic(vm, '0.0.0.0', req.body?.nic);
      const ep = ops.endpoint(vm);
      await ops.applyGuestActions(vm, ep.setMac(nic, parseMac(String(req.body?.mac))));
      return { vm, nic, mac: macToString(ep.nicMac(nic)) };
    })
    .on('POST', '/control/vms/:vm/promiscuous', async (req) => {
      const vm = req.params.vm!;
      const nic = ops.pickNic(vm, '0.0.0.0', req.body?.nic);
      await ops.applyGuestActions(vm, ops.endpoint(vm).setPromiscuous(nic, req.body?.on !== false));
      return { vm, nic, promiscuous: req.body?.on !== false };
    })
    .on('POST', '/control/vms/:vm/mtu', (req) => {
      const vm = req.params.vm!;
      const nic = ops.pickNic(vm, '0.0.0.0', req.body?.nic);
      const ep = ops.endpoint(vm);
      ep.setMtu(nic, Number(req.body?.mtu));
      return { vm, nic: ep.nicName(nic), mtu: ep.nicMtu(nic) };
    })
    .on('POST', '/control/vms/:vm/raw', (req) => {
      const vm = req.params.vm!;
      const nic = ops.pickNic(vm, '0.0.0.0', req.body?.nic);
      const hex = String(req.body?.frameHex ?? '');
      if (!/^([0-9a-fA-F]{2})+$/.test(hex) || hex.length > 2 * MAX_FRAME_BYTES) throw new VfabError('VFAB_USAGE', `frameHex must be the frame as hex, at most ${MAX_FRAME_BYTES} bytes`);
      ops.transmitFromVm(vm, nic, Buffer.from(hex, 'hex'));
      return { vm, nic, bytes: hex.length / 2 };
    });
}

// ---------------------------------------------------------------- one VM on its own (vmd)

export interface GuestRunnerIo {
  /** Put `frame` on vNIC `nic`'s link (the runner hands over the buffer). */
  tx(nic: number, frame: Buffer): void;
  /**
   * Tell the host's vSwitch port what the guest programmed into its vNIC (like a vNIC driver): a new MAC
   * (spec §4.1/§4.3) or promiscuous mode (§4.2). Resolves once the host has applied it.
   */
  programNic(nic: number, setting: { mac: Mac } | { promiscuous: boolean }): Promise<void>;
  /** Guest actions worth an event (ARP resolved/failed, IP conflict, ...). */
  event?(action: EndpointAction): void;
}

/** Runs one VM's IP stack outside a host: the GuestOps of vmd. Pure apart from the injected io. */
export class GuestRunner implements GuestOps {
  readonly vmEndpoint: VmEndpoint;
  private readonly listeners = new Set<(action: EndpointAction) => void>();

  constructor(readonly model: VmModel, clock: Clock, private readonly io: GuestRunnerIo) {
    this.vmEndpoint = new VmEndpoint({
      name: model.name,
      clock,
      nics: nicConfigsOf(model.nics),
    });
  }

  get name(): string {
    return this.model.name;
  }

  powerOn(): void {
    this.run(this.vmEndpoint.powerOn());
  }

  powerOff(): void {
    this.run(this.vmEndpoint.powerOff());
  }

  /** A frame arrived on vNIC `nic`'s link. */
  receive(nic: number, frame: Uint8Array): void {
    this.run(this.vmEndpoint.receive(nic, frame));
  }

  /** vNIC `nic`'s link came up: announce the address (gratuitous ARP), as a guest does on link-up. */
  linkUp(nic: number): void {
    this.run(this.vmEndpoint.announce(nic));
  }

  tick(): void {
    this.run(this.vmEndpoint.tick());
  }

  nextDeadlineMs(): number | undefined {
    return this.vmEndpoint.isPoweredOn ? this.vmEndpoint.nextDeadlineMs() : undefined;
  }

  // GuestOps ---------------------------------------------------------------

  pickNic(vm: string, target: string, nicName?: string): number {
    this.check(vm);
    const nics = this.model.nics;
    if (nicName !== undefined) {
      const i = nics.findIndex((n) => n.name === nicName);
      if (i < 0) throw new VfabError('VFAB_NOT_FOUND', `VM ${vm} has no vNIC ${nicName} (has: ${nics.map((n) => n.name).join(', ')})`);
      return i;
    }
    let t: number | undefined;
    try {
      t = parseIpv4Address(target);
    } catch {
      t = undefined;
    }
    const onLink = nics.findIndex((n) => n.ip && t !== undefined && sameSubnet(parseIpv4Address(n.ip.address), t, prefixMask(n.ip.prefixLength)));
    if (onLink >= 0) return onLink;
    const any = nics.findIndex((n) => n.ip);
    return any >= 0 ? any : 0;
  }

  ping(vm: string, nic: number, target: string, opts: { id: number; seq: number; sizeBytes?: number; timeoutMs?: number }): void {
    this.check(vm);
    if (!this.vmEndpoint.isPoweredOn) throw new VfabError('VFAB_VM_POWERED_OFF', `VM ${vm} is powered off`);
    this.run(this.vmEndpoint.ping(nic, target, opts));
  }

  listen(vm: string, listener: (action: EndpointAction) => void): () => void {
    this.check(vm);
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  endpoint(vm: string): VmEndpoint {
    this.check(vm);
    return this.vmEndpoint;
  }

  applyGuestActions(vm: string, actions: EndpointActions): Promise<void> {
    this.check(vm);
    return this.run(actions);
  }

  transmitFromVm(vm: string, nic: number, frame: Uint8Array): void {
    this.check(vm);
    this.run(this.vmEndpoint.sendRaw(nic, frame));
  }

  /** Carries out actions; resolves once every vNIC setting in them reached the host. */
  private run(actions: EndpointActions): Promise<void> {
    let pending: Array<Promise<void>> | undefined;
    for (const a of actions) {
      if (a.kind === 'transmit') {
        this.io.tx(a.nic, a.frame);
        continue;
      }
      if (a.kind === 'macChanged') (pending ??= []).push(this.io.programNic(a.nic, { mac: a.mac }));
      else if (a.kind === 'promiscuous') (pending ??= []).push(this.io.programNic(a.nic, { promiscuous: a.on }));
      for (const l of this.listeners) l(a);
      if (a.kind !== 'udp' && a.kind !== 'sniffed' && a.kind !== 'pingReply' && a.kind !== 'pingTimeout') this.io.event?.(a);
    }
    return pending ? Promise.all(pending).then(() => undefined) : Promise.resolve();
  }

  private check(vm: string): void {
    if (vm !== this.model.name) throw new VfabError('VFAB_NOT_FOUND', `no VM ${vm} here (this vm daemon runs ${this.model.name})`);
  }
}
