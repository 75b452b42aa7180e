// A QEMU guest vNIC's datagram backend (docs/guests.md "QEMU guests"): a UDP socket on 127.0.0.1 for
// `-netdev dgram,local...,remote...` (or the older `-netdev socket,udp=...,localaddr=...`): one Ethernet
// frame per datagram, no header. vfab learns QEMU's address from its datagrams: only 127.0.0.1 is taken,
// and the port of the latest datagram is where frames go (a restarted QEMU may bind another port; the
// change is counted). The link has carrier from the first datagram on: UDP tells nothing of a peer that
// stops, so carrier stays up until the fabric stops or `vfab link down`. Datagrams from other addresses are
// dropped and counted. Leaves out a configured QEMU port (a guest that never sends gets no frames), IPv6.

import dgram from 'node:dgram';
import { VfabError } from '../../lib/errors.js';
import { FrameLink, type FrameTransport } from '../../lib/link/frame-link.js';
import type { QemuBackend } from './qemu-backend.js';

export interface QemuDgramCounters {
  rxDatagrams: number;
  /** Datagrams from an address other than 127.0.0.1. */
  rxDropsWrongSource: number;
  txDatagrams: number;
  txErrors: number;
  /** Times QEMU's port changed after it was first learned. */
  peerChanges: number;
}

export class QemuDgramBackend implements QemuBackend {
  readonly kind = 'dgram';
  readonly counters: QemuDgramCounters = { rxDatagrams: 0, rxDropsWrongSource: 0, txDatagrams: 0, txErrors: 0, peerChanges: 0 };
  private peerPort = 0;
  private attached = false;
  private readonly transport: FrameTransport;

  private constructor(readonly link: FrameLink, private readonly socket: dgram.Socket, readonly address: string, readonly port: number) {
    const counters = this.counters;
    this.transport = {
      sendFrame: (frame) => {
        counters.txDatagrams++;
        socket.send(Buffer.from(frame), this.peerPort, address, (e) => {
          if (e) counters.txErrors++;
        });
      },
      bufferedBytes: () => socket.getSendQueueSize(),
    };
    socket.on('message', (msg, rinfo) => this.receive(msg, rinfo));
    socket.on('error', () => {
      counters.txErrors++;
    });
  }

  /** Binds address:port (port 0 = a free port). */
  static open(link: FrameLink, address = '127.0.0.1', port = 0): Promise<QemuDgramBackend> {
    return new Promise((resolve, reject) => {
      const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: 1 << 20, sendBufferSize: 1 << 20 });
      socket.once('error', (e) => reject(new VfabError('VFAB_GUEST_QEMU_BIND', `${link.name}: cannot bind ${address}:${port} for QEMU: ${e.message}`, { address, port })));
      socket.bind(port, address, () => {
        socket.removeAllListeners('error');
        resolve(new QemuDgramBackend(link, socket, address, socket.address().port));
      });
    });
  }

  private receive(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const c = this.counters;
    if (rinfo.address !== this.address) {
      c.rxDropsWrongSource++;
      return;
    }
    c.rxDatagrams++;
    if (rinfo.port !== this.peerPort) {
      if (this.peerPort !== 0) c.peerChanges++;
      this.peerPort = rinfo.port;
      if (!this.attached) {
        this.attached = true;
        this.link.attachTransport(this.transport);
      }
    }
    this.link.receiveFrame(msg);
  }

  status(): Record<string, unknown> {
    return { backend: 'dgram', address: `${this.address}:${this.port}`, peer: this.peerPort ? `${this.address}:${this.peerPort}` : null, counters: { ...this.counters } };
  }

  async close(): Promise<void> {
    this.link.close();
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }
}
