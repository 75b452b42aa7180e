// Ethernet links over WebSocket: the I/O edge of lib/link. Covers the server side (an HTTP upgrade
// handler for ws://host:port/link/<endpointName>, bearer-token auth, one stable EthernetLink per endpoint
// name across reconnections) and the client side (connects, reconnects with exponential backoff plus
// jitter, carrier down while disconnected). Both sides: no per-message deflate, maxPayload =
// MAX_LINK_MESSAGE_BYTES, TCP no-delay (ws sets it on every socket), frames of one event-loop turn
// batched into one message, tail drop above LINK_QUEUE_BYTES of ws.bufferedAmount; the client masks with
// an all-zero key (loopback only), so neither side copies or XORs payloads. Follows RFC 6455 and
// docs/link-protocol.md. Leaves out TLS and keepalive pings (a silently dead peer is noticed only when
// TCP reports it).

import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from '../common/ws.js';
import type { Random } from '../../lib/clock.js';
import { decodeSegment, parseRequestTarget, refuseSocket, requestAuthorized } from '../common/http-guard.js';
import { LinkError, MAX_ENDPOINT_NAME_BYTES, MAX_LINK_MESSAGE_BYTES } from '../../lib/link/codec.js';
import { type EthernetLink, type FlushScheduler, LinkEndpoint, type LinkTransport } from '../../lib/link/link.js';

export const LINK_PATH_PREFIX = '/link/';
export const DEFAULT_BACKOFF_INITIAL_MS = 100;
export const DEFAULT_BACKOFF_MAX_MS = 5_000;
/** A client gives up on one connection attempt (and backs off) after this long. */
export const LINK_HANDSHAKE_TIMEOUT_MS = 10_000;
/** Endpoint names: letters, digits and . _ : - / (so "esx1/vmnic0" works), 1..MAX_ENDPOINT_NAME_BYTES. */
const ENDPOINT_NAME_RE = /^[A-Za-z0-9._:/-]+$/;

export function isValidEndpointName(name: string): boolean {
  return name.length >= 1 && Buffer.byteLength(name) <= MAX_ENDPOINT_NAME_BYTES && ENDPOINT_NAME_RE.test(name);
}

/** Fills a client frame's masking key with zeros (see connect()). */
function zeroMask(mask: Buffer): void {
  mask[0] = 0;
  mask[1] = 0;
  mask[2] = 0;
  mask[3] = 0;
}

class WsTransport implements LinkTransport {
  /** ws writes a message to the socket (or queues it, counted in bufferedAmount); the kernel copies it. */
  readonly releasesWrittenBytes = true;
  /** The TCP socket corked by cork() (ws's own `_socket`, set once open; ws corks it per message too, and corks nest). */
  private corked: Duplex | null = null;
  constructor(readonly ws: WebSocket) {}
  cork(): void {
    const socket = (this.ws as unknown as { _socket: Duplex | null })._socket;
    if (socket === null || this.corked !== null) return;
    this.corked = socket;
    socket.cork();
  }
  uncork(): void {
    const socket = this.corked;
    this.corked = null;
    socket?.uncork();
  }
  write(message: Buffer): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(message);
  }
  bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }
  end(): void {
    this.ws.close(1000, 'link closed');
  }
}

/** Wires a WebSocket to an endpoint: messages in, close -> carrier down. */
function bindSocket(endpoint: LinkEndpoint, ws: WebSocket, onGone: (transport: WsTransport) => void): WsTransport {
  const transport = new WsTransport(ws);
  ws.binaryType = 'nodebuffer';
  ws.on('message', (data: RawData, isBinary: boolean) => {
    if (!isBinary) {
      endpoint.receiveInvalid(new LinkError('VFAB_LINK_TEXT_MESSAGE', 'text WebSocket messages are not part of the link protocol'));
      return;
    }
    endpoint.receiveMessage(Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data));
  });
  ws.on('error', (error: Error & { code?: string }) => {
    if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
      endpoint.receiveInvalid(new LinkError('VFAB_LINK_MESSAGE_TOO_LARGE', `peer sent a message over MAX_LINK_MESSAGE_BYTES (${MAX_LINK_MESSAGE_BYTES})`));
    }
    // Every error is followed by 'close', which takes carrier down.
  });
  ws.on('close', () => {
    endpoint.detachTransport('peer-gone', transport);
    onGone(transport);
  });
  return transport;
}

// ---------------------------------------------------------------- server

export interface WsLinkServerOptions {
  token: string;
  /** Called once per endpoint name, when its first connection arrives (the link survives reconnections). */
  onLink: (endpointName: string, link: EthernetLink) => void;
  maxPayloadBytes?: number;
  queueBytes?: number;
  schedule?: FlushScheduler;
}

/** Server-side link end: a LinkEndpoint plus a hook that drops its connection (tests, fault injection). */
export class WsServerLink extends LinkEndpoint {
  socket: WebSocket | undefined;
  /** Drops the TCP connection abruptly (the client sees carrier down and reconnects). */
  dropTransport(): void {
    this.socket?.terminate();
  }
}

export class WsLinkServer {
  private readonly wss: WebSocketServer;
  private readonly token: string;
  private readonly links = new Map<string, WsServerLink>();

  constructor(private readonly options: WsLinkServerOptions) {
    if (options.token.length === 0) throw new LinkError('VFAB_LINK_NO_TOKEN', 'a link server needs a non-empty token');
    this.token = options.token;
    this.wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: Math.min(options.maxPayloadBytes ?? MAX_LINK_MESSAGE_BYTES, MAX_LINK_MESSAGE_BYTES),
      clientTracking: false,
    });
  }

  /** Links by endpoint name (one per name, kept across reconnections until closed). */
  get endpoints(): ReadonlyMap<string, WsServerLink> {
    return this.links;
  }

  /**
   * Handles an HTTP upgrade. Returns false when the path is not /link/... (the caller routes it
   * elsewhere); otherwise answers it: 401 for a wrong or missing token, 400 for a bad endpoint name.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const target = parseRequestTarget(req.url);
    if (target === undefined || !target.pathname.startsWith(LINK_PATH_PREFIX)) return false;
    if (!requestAuthorized(req, this.token)) {
      refuseSocket(socket, 401, 'Unauthorized');
      return true;
    }
    const endpointName = decodeSegment(target.pathname.slice(LINK_PATH_PREFIX.length)) ?? '';
    if (!isValidEndpointName(endpointName)) {
      refuseSocket(socket, 400, 'Bad Request');
      return true;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(endpointName, ws));
    return true;
  }

  /** Closes every link (peers see carrier down) and stops accepting. */
  close(): void {
    for (const link of [...this.links.values()]) link.close();
    this.wss.close();
  }

  private accept(endpointName: string, ws: WebSocket): void {
    let link = this.links.get(endpointName);
    const isNew = link === undefined;
    if (link === undefined) {
      const created: WsServerLink = new WsServerLink(endpointName, {
        ...(this.options.queueBytes !== undefined ? { queueBytes: this.options.queueBytes } : {}),
        ...(this.options.schedule !== undefined ? { schedule: this.options.schedule } : {}),
        onClose: () => {
          if (this.links.get(endpointName) === created) this.links.delete(endpointName);
        },
      });
      link = created;
      this.links.set(endpointName, link);
    }
    const previous = link.socket;
    const serverLink = link;
    serverLink.socket = ws;
    const transport = bindSocket(serverLink, ws, () => {
      if (serverLink.socket === ws) serverLink.socket = undefined;
    });
    serverLink.attachTransport(transport); // replaces (and carrier-cycles) a previous connection
    if (previous !== undefined && previous !== ws) previous.terminate();
    if (isNew) this.options.onLink(endpointName, serverLink);
  }
}

// ---------------------------------------------------------------- client

export interface WsLinkClientOptions {
  /** ws://127.0.0.1:PORT/link/<endpointName> */
  url: string;
  token: string;
  /** This end's name, sent in HELLO. */
  name: string;
  backoff?: { initialMs: number; maxMs: number };
  random?: Random;
  queueBytes?: number;
  schedule?: FlushScheduler;
}

/** Client-side link end: reconnects until closed. */
export class WsClientLink extends LinkEndpoint {
  /** Why the last connection attempt failed or ended (VFAB_LINK_UNAUTHORIZED, VFAB_LINK_CONNECT_FAILED). */
  lastConnectError: LinkError | undefined;
  connectAttempts = 0;
  private socket: WebSocket | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private readonly errorHandlers: Array<(error: LinkError) => void> = [];
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly random: Random;

  constructor(private readonly clientOptions: WsLinkClientOptions) {
    super(clientOptions.name, {
      ...(clientOptions.queueBytes !== undefined ? { queueBytes: clientOptions.queueBytes } : {}),
      ...(clientOptions.schedule !== undefined ? { schedule: clientOptions.schedule } : {}),
    });
    this.initialMs = clientOptions.backoff?.initialMs ?? DEFAULT_BACKOFF_INITIAL_MS;
    this.maxMs = clientOptions.backoff?.maxMs ?? DEFAULT_BACKOFF_MAX_MS;
    if (!(this.initialMs > 0) || !(this.maxMs >= this.initialMs)) {
      throw new RangeError(`backoff ${this.initialMs}..${this.maxMs} ms is invalid`);
    }
    this.random = clientOptions.random ?? Math.random;
    this.connect();
  }

  /** Adds a listener for connection failures (each failed attempt). */
  onError(handler: (error: LinkError) => void): void {
    this.errorHandlers.push(handler);
  }

  /** Drops the TCP connection abruptly (tests, fault injection); the client reconnects. */
  dropTransport(): void {
    this.socket?.terminate();
  }

  override close(): void {
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const socket = this.socket;
    super.close(); // sends CARRIER(down, shutdown) and closes the socket after it
    if (socket !== undefined && socket.readyState === WebSocket.CONNECTING) socket.terminate();
  }

  /** The delay before reconnection attempt number `failures` (exponential, capped, jittered 50-100 %). */
  backoffDelayMs(failures: number): number {
    const ceiling = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(failures, 30));
    return ceiling / 2 + (this.random() * ceiling) / 2;
  }

  private connect(): void {
    this.retryTimer = undefined;
    if (this.isClosed) return;
    this.connectAttempts++;
    const ws = new WebSocket(this.clientOptions.url, {
      headers: { Authorization: `Bearer ${this.clientOptions.token}` },
      perMessageDeflate: false,
      maxPayload: MAX_LINK_MESSAGE_BYTES,
      handshakeTimeout: LINK_HANDSHAKE_TIMEOUT_MS,
      // All-zero masking key: links run on 127.0.0.1 only, with no proxy in between (the random key of
      // RFC 6455 §5.3 protects intermediaries). ws then neither copies nor XORs the payload, and the
      // server skips unmasking (docs/link-protocol.md, "Connecting").
      generateMask: zeroMask,
    });
    this.socket = ws;
    let opened = false;
    ws.on('open', () => {
      opened = true;
      this.failures = 0;
      this.lastConnectError = undefined;
      if (this.isClosed) {
        ws.close(1000, 'link closed');
        return;
      }
      this.attachTransport(transport);
    });
    ws.on('error', (error: Error) => {
      if (opened) return;
      const unauthorized = /\b401\b/.test(error.message);
      const linkError = new LinkError(
        unauthorized ? 'VFAB_LINK_UNAUTHORIZED' : 'VFAB_LINK_CONNECT_FAILED',
        unauthorized ? `link server ${this.clientOptions.url} refused the token (401)` : `cannot connect to ${this.clientOptions.url}: ${error.message}`,
      );
      this.lastConnectError = linkError;
      for (const handler of this.errorHandlers) handler(linkError);
    });
    const transport = bindSocket(this, ws, () => {
      if (this.socket === ws) this.socket = undefined;
      if (this.isClosed) return;
      const delayMs = this.backoffDelayMs(this.failures++);
      this.retryTimer = setTimeout(() => this.connect(), delayMs);
    });
  }
}

/** Opens the client end of a link; it connects (and reconnects) in the background. */
export function connectWsLink(options: WsLinkClientOptions): WsClientLink {
  return new WsClientLink(options);
}
