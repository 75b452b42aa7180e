// VXLAN tunnels on one UDP socket (RFC 7348): the transport under a switch's `mode: vxlan` ports and under
// a host's netns guests (whose kernel vxlan devices send here; daemons/guests/vxlan-device.ts). Each tunnel
// is a (VNI, remote address, remote port) and a FrameLink (lib/link/frame-link.ts) the daemon binds to an
// interface (DaemonLinks.attach). Received datagrams are checked (lib/wire/vxlan.ts), matched to a tunnel
// by VNI and source address, and handed over as views; anything else is dropped and counted, never thrown.
// The source port is not checked: VXLAN senders spread flows over source ports (RFC 7348 §5). Sends are
// one datagram per frame, bounded by the socket's send queue (the link tail-drops above its bound). Sends go
// out through a connected UDP socket per remote (address, port), up to MAX_VXLAN_SENDERS of them: a
// connected socket skips Node's per-datagram address lookup (a deferred callback per send) and the
// kernel's route lookup; its source port is its own ephemeral one, which RFC 7348 §5 allows (receivers
// do not check it). Until a sender has connected, and for remotes beyond the bound, the bound socket sends.
// Leaves out multicast flooding and learning remotes (one configured remote per tunnel), IPv6 underlays.

import dgram from 'node:dgram';
import { VfabError } from '../../lib/errors.js';
import { FrameLink, type FrameTransport } from '../../lib/link/frame-link.js';
import { checkVxlan, emitVxlanHeader, vxlanVni, VXLAN_HEADER_BYTES, VXLAN_VNI_MAX, type VxlanCheck } from '../../lib/wire/vxlan.js';

/** Tunnels one socket serves. */
export const MAX_VXLAN_TUNNELS_PER_SOCKET = 4096;
/** Connected send sockets (one per distinct remote address and port) a VxlanSocket opens at most. */
export const MAX_VXLAN_SENDERS = 64;
/** Kernel send buffer of the bound socket and of each connected sender (bytes). */
const VXLAN_SEND_BUFFER_BYTES = 4 << 20;

export interface VxlanTunnelSpec {
  vni: number;
  remoteAddress: string;
  remotePort: number;
  /** The link's name (status, events): usually "<daemon>.<interface>". */
  name: string;
}

export interface VxlanSocketCounters {
  rxDatagrams: number;
  /** Dropped: not a VXLAN packet vfab takes (by reason), an unknown VNI, or a known VNI from another address. */
  rxDrops: Record<Exclude<VxlanCheck, ''> | 'unknown-vni' | 'wrong-source', number>;
  txDatagrams: number;
  txErrors: number;
}

interface Tunnel {
  spec: VxlanTunnelSpec;
  link: FrameLink;
}

export class VxlanSocket {
  readonly counters: VxlanSocketCounters = {
    rxDatagrams: 0,
    rxDrops: { short: 0, 'no-i-flag': 0, 'reserved-flags': 0, 'runt-frame': 0, 'giant-frame': 0, 'unknown-vni': 0, 'wrong-source': 0 },
    txDatagrams: 0,
    txErrors: 0,
  };
  private readonly tunnels = new Map<number, Tunnel>();
  /** Connected senders by "address:port"; not ready while connecting (sends use the bound socket meanwhile). */
  private readonly senders = new Map<string, { socket: dgram.Socket; ready: boolean }>();
  private closed = false;

  private constructor(private readonly socket: dgram.Socket, readonly address: string, readonly port: number) {
    socket.on('message', (msg, rinfo) => this.receive(msg, rinfo.address));
    socket.on('error', () => {
      this.counters.txErrors++;
    });
  }

  /** Binds a UDP socket (default 127.0.0.1, port 0 = any free port). */
  static open(address = '127.0.0.1', port = 0): Promise<VxlanSocket> {
    return new Promise((resolve, reject) => {
      const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: VXLAN_SEND_BUFFER_BYTES });
      socket.once('error', (e) => reject(new VfabError('VFAB_VXLAN_BIND', `cannot bind VXLAN socket ${address}:${port}: ${e.message}`, { address, port })));
      socket.bind(port, address, () => {
        socket.removeAllListeners('error');
        resolve(new VxlanSocket(socket, address, socket.address().port));
      });
    });
  }

  /** A new tunnel; its link has carrier at once (VXLAN has no carrier of its own). */
  tunnel(spec: VxlanTunnelSpec): FrameLink {
    if (this.closed) throw new VfabError('VFAB_VXLAN_CLOSED', `VXLAN socket ${this.address}:${this.port} is closed`);
    if (!Number.isInteger(spec.vni) || spec.vni < 0 || spec.vni > VXLAN_VNI_MAX) throw new VfabError('VFAB_VXLAN_BAD_TUNNEL', `${spec.name}: VNI ${spec.vni} is outside 0..${VXLAN_VNI_MAX}`);
    if (!Number.isInteger(spec.remotePort) || spec.remotePort < 1 || spec.remotePort > 65535) throw new VfabError('VFAB_VXLAN_BAD_TUNNEL', `${spec.name}: remote port ${spec.remotePort} is outside 1..65535`);
    if (this.tunnels.has(spec.vni)) throw new VfabError('VFAB_VXLAN_BAD_TUNNEL', `${spec.name}: VNI ${spec.vni} is taken on ${this.address}:${this.port} by ${this.tunnels.get(spec.vni)!.spec.name}`);
    if (this.tunnels.size >= MAX_VXLAN_TUNNELS_PER_SOCKET) throw new VfabError('VFAB_VXLAN_BAD_TUNNEL', `${spec.name}: a VXLAN socket serves at most ${MAX_VXLAN_TUNNELS_PER_SOCKET} tunnels`);
    const link = new FrameLink(spec.name, { onClose: () => this.tunnels.delete(spec.vni) });
    const socket = this.socket;
    const counters = this.counters;
    const sender = this.sender(spec.remoteAddress, spec.remotePort);
    const transport: FrameTransport = {
      sendFrame: (frame) => {
        const d = Buffer.allocUnsafe(VXLAN_HEADER_BYTES + frame.length);
        emitVxlanHeader(spec.vni, d, 0);
        d.set(frame, VXLAN_HEADER_BYTES);
        counters.txDatagrams++;
        if (sender !== null && sender.ready) sender.socket.send(d);
        else socket.send(d, spec.remotePort, spec.remoteAddress);
      },
      bufferedBytes: () => (sender !== null && sender.ready ? sender.socket.getSendQueueSize() : socket.getSendQueueSize()),
    };
    this.tunnels.set(spec.vni, { spec, link });
    link.attachTransport(transport);
    return link;
  }

  /** The connected sender for a remote (opened on first use), or null beyond MAX_VXLAN_SENDERS. */
  private sender(address: string, port: number): { socket: dgram.Socket; ready: boolean } | null {
    const key = `${address}:${port}`;
    let s = this.senders.get(key);
    if (s !== undefined) return s;
    if (this.senders.size >= MAX_VXLAN_SENDERS) return null;
    const created = { socket: dgram.createSocket({ type: 'udp4', sendBufferSize: VXLAN_SEND_BUFFER_BYTES }), ready: false };
    s = created;
    created.socket.on('error', () => {
      this.counters.txErrors++;
    });
    // it takes no datagrams: anything arriving on it is not for a tunnel (the bound socket receives)
    created.socket.on('message', () => undefined);
    created.socket.bind(0, this.address, () => {
      if (this.closed) return;
      created.socket.connect(port, address, () => {
        if (!this.closed) created.ready = true;
      });
    });
    this.senders.set(key, created);
    return created;
  }

  private receive(d: Buffer, from: string): void {
    const c = this.counters;
    c.rxDatagrams++;
    const why = checkVxlan(d);
    if (why !== '') {
      c.rxDrops[why]++;
      return;
    }
    const t = this.tunnels.get(vxlanVni(d));
    if (t === undefined) {
      c.rxDrops['unknown-vni']++;
      return;
    }
    if (from !== t.spec.remoteAddress) {
      c.rxDrops['wrong-source']++;
      return;
    }
    t.link.receiveFrame(d.subarray(VXLAN_HEADER_BYTES));
  }

  status() {
    return { address: this.address, port: this.port, tunnels: [...this.tunnels.values()].map((t) => ({ ...t.spec })), counters: this.counters };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of [...this.tunnels.values()]) t.link.close();
    for (const s of this.senders.values()) {
      s.ready = false;
      s.socket.close();
    }
    this.senders.clear();
    this.socket.close();
  }
}
