// VMkernel ports of one host as seen by the code that uses them: a VmkernelPort handle per vmk (name, IP,
// MAC, services) with a small UDP socket API (bind a port to a handler, send a datagram to IP:port) and
// ping, for the daemon layer's HA heartbeats (management vmk) and vMotion copy traffic (vmotion vmk).
// The ports themselves are vSwitch ports of lib/host/host.ts and their IP stack is one lib/endpoint
// VmEndpoint (the host's kernel stack, one vNIC per vmk): this file only keeps the UDP bindings and
// dispatches received datagrams. Pure: no sockets or timers. Leaves out TCP, ICMP port unreachable for
// unbound ports (the datagram is counted and dropped), and separate netstacks per service. Follows the
// project's docs/vsphere-behaviour.md §3 and §7.11 through the host (teaming; HA heartbeats over the
// management network).

import { VfabError } from '../errors.js';
import type { VmEndpoint, EndpointAction, EndpointActions } from '../endpoint/vm-endpoint.js';
import type { Vmkernel, VmkernelService } from '../topology/model.js';

/** UDP ports bound at once on one host's vmkernel ports together. */
export const MAX_VMK_UDP_BINDINGS = 256;

/** A datagram that arrived on a bound port. `payload` is the handler's own copy. */
export interface VmkUdpDatagram {
  vmk: string;
  srcIp: string;
  srcPort: number;
  dstIp: string;
  dstPort: number;
  payload: Buffer;
}

export type VmkUdpHandler = (datagram: VmkUdpDatagram) => void;

/**
 * What a send did. ok: the datagram left through the vSwitch, or waits for ARP (the endpoint's bounded
 * pending queue; lost if ARP gives up, like any UDP datagram). Not ok: it could not start (`code`
 * VFAB_ENDPOINT_NO_ROUTE, VFAB_ENDPOINT_POWERED_OFF, VFAB_ENDPOINT_ARP_BUSY ...).
 */
export type VmkSendResult = { ok: true } | { ok: false; code: string; message: string };

export interface VmkernelCounters {
  /** Datagrams handed to a bound handler. */
  udpDelivered: number;
  /** Datagrams to a port nobody bound (dropped). */
  udpNoListener: number;
  /** Handlers that threw (counted; the frame path goes on). */
  handlerErrors: number;
}

/** The host side a VmkernelPort needs: the kernel endpoint and a way to carry out its actions. */
export interface KernelHost {
  readonly endpoint: VmEndpoint;
  /** Performs endpoint actions (transmissions through the vSwitch, events, listeners). */
  run(actions: EndpointActions): void;
  /** Throws VFAB_VMK_DOWN unless the vmkernel ports are up. */
  checkUp(): void;
  listen(listener: (action: EndpointAction) => void): () => void;
}

/** The UDP bindings of every vmk of one host, and the datagram dispatch. */
export class VmkernelStack {
  readonly counters: VmkernelCounters = { udpDelivered: 0, udpNoListener: 0, handlerErrors: 0 };
  /** Key: nic index * 65536 + port. */
  private readonly bindings = new Map<number, VmkUdpHandler>();
  readonly ports: VmkernelPort[];

  constructor(models: readonly Vmkernel[], host: KernelHost) {
    this.ports = models.map((m, i) => new VmkernelPort(m, i, this, host));
  }

  bind(nic: number, port: number, handler: VmkUdpHandler): () => void {
    if (!Number.isInteger(port) || port < 1 || port > 0xffff) throw new VfabError('VFAB_ENDPOINT_BAD_ARGUMENT', `UDP port ${port} is outside 1..65535`);
    const key = nic * 0x10000 + port;
    const vmk = this.ports[nic]!.name;
    if (this.bindings.has(key)) throw new VfabError('VFAB_VMK_PORT_IN_USE', `UDP port ${port} on ${vmk} is already bound`);
    if (this.bindings.size >= MAX_VMK_UDP_BINDINGS) throw new VfabError('VFAB_VMK_TOO_MANY_BINDINGS', `a host binds at most ${MAX_VMK_UDP_BINDINGS} UDP ports on its vmkernel ports`);
    this.bindings.set(key, handler);
    return () => {
      if (this.bindings.get(key) === handler) this.bindings.delete(key);
    };
  }

  /** A 'udp' action of the kernel endpoint: to its bound handler, or counted as unbound. */
  deliver(a: Extract<EndpointAction, { kind: 'udp' }>): void {
    const handler = this.bindings.get(a.nic * 0x10000 + a.dstPort);
    if (handler === undefined) {
      this.counters.udpNoListener++;
      return;
    }
    this.counters.udpDelivered++;
    try {
      handler({ vmk: this.ports[a.nic]!.name, srcIp: a.srcIp, srcPort: a.srcPort, dstIp: a.dstIp, dstPort: a.dstPort, payload: a.payload });
    } catch {
      // a handler's bug must not stop the frame path (the datagram came from the network)
      this.counters.handlerErrors++;
    }
  }

  boundPorts(nic: number): number[] {
    const out: number[] = [];
    for (const key of this.bindings.keys()) if (Math.floor(key / 0x10000) === nic) out.push(key % 0x10000);
    return out.sort((a, b) => a - b);
  }
}

/** One vmkernel port (vmk0, ...): its settings, UDP and ping. Get it with EsxHost.vmkernel(name). */
export class VmkernelPort {
  readonly name: string;
  readonly services: readonly VmkernelService[];
  readonly portGroup: string;
  readonly vswitch: string;
  /** Dotted IPv4 address and prefix length. */
  readonly ip: string;
  readonly prefixLength: number;
  readonly gateway: string | undefined;
  readonly mtu: number;

  constructor(model: Vmkernel, readonly index: number, private readonly stack: VmkernelStack, private readonly host: KernelHost) {
    this.name = model.name;
    this.services = [...model.services];
    this.portGroup = model.portGroup;
    this.vswitch = model.vswitch;
    this.ip = model.ip.address;
    this.prefixLength = model.ip.prefixLength;
    this.gateway = model.gateway;
    this.mtu = model.mtu;
  }

  /** The effective MAC (48-bit number). */
  get mac(): number {
    return this.host.endpoint.nicMac(this.index);
  }

  /**
   * Datagrams arriving on this vmk for UDP `port` (1..65535) go to `handler`, synchronously as the frame
   * is processed. Returns the unbind function. Throws VFAB_VMK_PORT_IN_USE, VFAB_VMK_TOO_MANY_BINDINGS.
   */
  bindUdp(port: number, handler: VmkUdpHandler): () => void {
    return this.stack.bind(this.index, port, handler);
  }

  /**
   * Sends one datagram from this vmk's address to `dstIp`:`dstPort` (ARP first when needed; off-link
   * through the gateway). `srcPort` defaults to `dstPort`. Throws VFAB_ENDPOINT_TOO_LARGE when the
   * payload does not fit the vmk's MTU (no fragmentation), VFAB_VMK_DOWN before the ports are up.
   */
  sendUdp(dstIp: string, dstPort: number, payload: Uint8Array, srcPort = dstPort): VmkSendResult {
    this.host.checkUp();
    return this.outcome(this.host.endpoint.sendUdp(this.index, dstIp, dstPort, srcPort, payload));
  }

  /** One ICMP echo request; the reply or timeout reaches `listen` listeners as a pingReply/pingTimeout. */
  ping(target: string, opts: { id: number; seq: number; sizeBytes?: number; timeoutMs?: number }): VmkSendResult {
    this.host.checkUp();
    return this.outcome(this.host.endpoint.ping(this.index, target, opts));
  }

  /**
   * Sends `frame` exactly as given through this vmk's vSwitch port (fault injection and tests, e.g. a
   * forged source MAC that the port group's security policy must drop). 14..MAX_FRAME_BYTES bytes.
   */
  sendRaw(frame: Uint8Array): VmkSendResult {
    this.host.checkUp();
    return this.outcome(this.host.endpoint.sendRaw(this.index, frame));
  }

  /** Actions of this vmk's stack (ping replies and timeouts, ARP results, send failures). */
  listen(listener: (action: EndpointAction) => void): () => void {
    return this.host.listen((a) => {
      if (a.nic === this.index) listener(a);
    });
  }

  boundUdpPorts(): number[] {
    return this.stack.boundPorts(this.index);
  }

  private outcome(actions: EndpointActions): VmkSendResult {
    const failed = actions.find((a) => a.kind === 'sendFailed');
    this.host.run(actions);
    return failed?.kind === 'sendFailed' ? { ok: false, code: failed.code, message: failed.message } : { ok: true };
  }
}
