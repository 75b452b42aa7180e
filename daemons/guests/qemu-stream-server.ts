// A QEMU guest vNIC's stream backend (docs/guests.md "QEMU guests"): a TCP server on 127.0.0.1 that QEMU
// connects to with `-netdev stream,server=off,addr...` or `-netdev socket,connect=127.0.0.1:P`; both frame
// each Ethernet frame with a 4-byte length (lib/guests/qemu-stream.ts). One guest per vNIC: while a
// connection is up, another is closed at once and counted (refused). The link has carrier while QEMU is
// connected. A bad length prefix closes the connection and is counted; nothing a peer sends ends the
// daemon. Sends are bounded by the socket's unsent bytes (the link tail-drops above its queue bound).
// Leaves out QEMU's `server=on` mode (vfab listens, QEMU dials) and unix-socket addresses.

import net from 'node:net';
import { VfabError } from '../../lib/errors.js';
import { FrameLink, type FrameTransport } from '../../lib/link/frame-link.js';
import { encodeQemuStreamFrame, QemuStreamParser } from '../../lib/guests/qemu-stream.js';
import type { QemuBackend, QemuBackendEvent } from './qemu-backend.js';

export interface QemuStreamCounters {
  connects: number;
  disconnects: number;
  /** Connections closed at once because another was up. */
  refused: number;
  /** Connections closed for a bad length prefix. */
  protocolErrors: number;
  rxFrames: number;
  txFrames: number;
}

export class QemuStreamServer implements QemuBackend {
  readonly kind = 'stream';
  readonly counters: QemuStreamCounters = { connects: 0, disconnects: 0, refused: 0, protocolErrors: 0, rxFrames: 0, txFrames: 0 };
  private current: { socket: net.Socket; transport: FrameTransport; peer: string } | undefined;
  private lastError = '';

  private constructor(readonly link: FrameLink, private readonly server: net.Server, readonly address: string, readonly port: number,
    private readonly event: QemuBackendEvent) {
    server.on('connection', (socket) => this.accept(socket));
    server.on('error', () => {});
  }

  /** Listens on address:port (port 0 = a free port); `event` hears of refused connections and bad framing. */
  static listen(link: FrameLink, address = '127.0.0.1', port = 0, event: QemuBackendEvent = () => {}): Promise<QemuStreamServer> {
    return new Promise((resolve, reject) => {
      const server = net.createServer({ noDelay: true });
      server.once('error', (e) => reject(new VfabError('VFAB_GUEST_QEMU_BIND', `${link.name}: cannot listen on ${address}:${port} for QEMU: ${e.message}`, { address, port })));
      server.listen(port, address, () => {
        server.removeAllListeners('error');
        resolve(new QemuStreamServer(link, server, address, (server.address() as net.AddressInfo).port, event));
      });
    });
  }

  private accept(socket: net.Socket): void {
    if (this.current !== undefined) {
      this.counters.refused++;
      this.event('qemu-refused', { link: this.link.name, peer: `${socket.remoteAddress}:${socket.remotePort}`, connected: this.current.peer });
      socket.destroy();
      return;
    }
    const parser = new QemuStreamParser();
    const counters = this.counters;
    const link = this.link;
    const transport: FrameTransport = {
      sendFrame: (frame) => {
        counters.txFrames++;
        socket.write(encodeQemuStreamFrame(frame));
      },
      bufferedBytes: () => socket.writableLength,
    };
    const onFrame = (frame: Uint8Array) => {
      counters.rxFrames++;
      link.receiveFrame(frame);
    };
    this.current = { socket, transport, peer: `${socket.remoteAddress}:${socket.remotePort}` };
    counters.connects++;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      if (parser.push(chunk, onFrame)) return;
      counters.protocolErrors++;
      this.lastError = parser.error;
      link.receiveMalformed();
      this.event('qemu-bad-framing', { link: link.name, peer: this.current?.peer, error: parser.error });
      link.detachTransport('bad-framing', transport);
      socket.destroy();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      if (this.current?.socket !== socket) return;
      this.current = undefined;
      counters.disconnects++;
      link.detachTransport('peer-gone', transport);
    });
    link.attachTransport(transport);
  }

  status(): Record<string, unknown> {
    return {
      backend: 'stream', address: `${this.address}:${this.port}`, peer: this.current?.peer ?? null,
      ...(this.lastError ? { lastError: this.lastError } : {}), counters: { ...this.counters },
    };
  }

  async close(): Promise<void> {
    this.current?.socket.destroy();
    this.link.close();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
