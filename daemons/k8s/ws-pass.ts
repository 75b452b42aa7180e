// The gateway's WebSocket pass-through (daemons/k8s/gateway.ts): a client's /daemons/NAME/capture?...
// upgrade is opened at the daemon (/capture?..., wss:// with the fabric token) and, once the daemon took
// it, accepted, and every message is passed on in both directions. The gateway's own token check comes
// first (ControlServer). Bounded: at most `maxSockets` streams at once (one more: 503), and per stream at
// most `maxBufferedBytes` handed to the client and not yet written (plus what was already read when it
// stopped: GATEWAY_WS_READ_SLACK_BYTES); above it the gateway stops reading the daemon (TCP backpressure: the daemon's capture drops and counts what it cannot send), below half of it
// reading resumes. A daemon's refusal (a bad point: 400/404) is passed to the client with its body.
// Leaves out every other WebSocket (links, block, NAS): they stay between daemons.

import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { daemonWsUrl, tlsClientOptions, type DaemonAddress } from '../common/control-client.js';
import { WebSocket, WebSocketServer } from '../common/ws.js';
import { refuseSocket, type RequestTarget } from '../common/http-guard.js';

/** Capture streams passed through at once; one more is refused with 503. */
export const MAX_GATEWAY_WS_SOCKETS = 64;
/** Bytes one passed-through stream may hold on its way to the client before the daemon is no longer read. */
export const MAX_GATEWAY_WS_BUFFER_BYTES = 4 * 1024 * 1024;
/** Largest message passed through (a capture record is one frame of at most a jumbo frame plus a header). */
export const MAX_GATEWAY_WS_MESSAGE_BYTES = 64 * 1024;
/**
 * What a stream may still pass on after reading stops: messages already read from the socket (one read,
 * Node's 64 KiB) and the message being passed. The bound on held bytes is maxBufferedBytes plus this.
 */
export const GATEWAY_WS_READ_SLACK_BYTES = 64 * 1024 + MAX_GATEWAY_WS_MESSAGE_BYTES;
/** How long the daemon may take to accept a passed-through stream. */
export const GATEWAY_WS_CONNECT_TIMEOUT_MS = 5_000;
/** Bytes of a daemon's refusal passed on to the client. */
const MAX_REFUSAL_BYTES = 4096;

export interface PassThroughLimits {
  maxSockets: number;
  maxBufferedBytes: number;
}

export class CapturePassThrough {
  /** Streams open or opening now. */
  active = 0;
  /** The most bytes any stream held for its client (at most maxBufferedBytes + GATEWAY_WS_READ_SLACK_BYTES). */
  maxPendingBytes = 0;
  /** How often reading a daemon was paused because its client did not keep up. */
  pauses = 0;
  private readonly wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: MAX_GATEWAY_WS_MESSAGE_BYTES });

  constructor(
    private readonly addressOf: (name: string) => DaemonAddress | undefined,
    private readonly token: string,
    private readonly limits: PassThroughLimits = { maxSockets: MAX_GATEWAY_WS_SOCKETS, maxBufferedBytes: MAX_GATEWAY_WS_BUFFER_BYTES },
  ) {}

  /** A ControlServer upgrade handler: true when the request was for /daemons/NAME/capture. */
  readonly handleUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer, target: RequestTarget): boolean => {
    const m = /^\/daemons\/([^/]+)\/capture$/.exec(target.pathname);
    if (!m) return false;
    let name: string;
    try {
      name = decodeURIComponent(m[1]!);
    } catch {
      refuseSocket(socket, 400, 'Bad Request', 'the daemon name is not valid percent-encoding');
      return true;
    }
    const at = this.addressOf(name);
    if (!at) {
      refuseSocket(socket, 404, 'Not Found', `no daemon ${name} in this fabric`);
      return true;
    }
    if (this.active >= this.limits.maxSockets) {
      refuseSocket(socket, 503, 'Service Unavailable', `the gateway passes at most ${this.limits.maxSockets} capture streams at once (MAX_GATEWAY_WS_SOCKETS)`);
      return true;
    }
    this.active++;
    let counted = true;
    const release = () => {
      if (counted) this.active--;
      counted = false;
    };
    socket.once('close', release);
    const upstream = new WebSocket(daemonWsUrl(at, `/capture?${target.searchParams.toString()}`), {
      headers: { authorization: `Bearer ${this.token}` }, perMessageDeflate: false, maxPayload: MAX_GATEWAY_WS_MESSAGE_BYTES, handshakeTimeout: GATEWAY_WS_CONNECT_TIMEOUT_MS, ...tlsClientOptions(at),
    });
    let refused = false;
    upstream.once('unexpected-response', (_r, res) => {
      refused = true;
      let body = '';
      res.on('data', (c: Buffer) => { if (body.length < MAX_REFUSAL_BYTES) body += c.toString(); });
      res.on('end', () => refuseSocket(socket, res.statusCode ?? 502, res.statusMessage ?? 'Refused', body.slice(0, MAX_REFUSAL_BYTES)));
      upstream.terminate();
    });
    upstream.on('error', (e) => {
      if (!refused && !socket.destroyed && upstream.readyState !== WebSocket.OPEN) refuseSocket(socket, 502, 'Bad Gateway', `cannot reach ${name}: ${e.message}`);
    });
    upstream.once('open', () => {
      if (socket.destroyed) return void upstream.terminate();
      this.wss.handleUpgrade(req, socket, head, (client) => this.pipe(upstream, client));
    });
    return true;
  };

  private pipe(upstream: WebSocket, client: WebSocket): void {
    let pending = 0; // bytes handed to the client's socket and not yet written
    upstream.on('message', (data: Buffer, binary) => {
      pending += data.length;
      this.maxPendingBytes = Math.max(this.maxPendingBytes, pending);
      if (pending > this.limits.maxBufferedBytes && !upstream.isPaused) {
        upstream.pause();
        this.pauses++;
      }
      client.send(data, { binary }, () => {
        pending -= data.length;
        if (upstream.isPaused && pending <= this.limits.maxBufferedBytes / 2) upstream.resume();
      });
    });
    client.on('message', (data: Buffer, binary) => upstream.send(data, { binary }));
    const end = (code: number, reason: Buffer) => {
      const c = code >= 1000 && code < 5000 && code !== 1005 && code !== 1006 ? code : 1000;
      if (client.readyState === WebSocket.OPEN) client.close(c, reason);
      if (upstream.readyState === WebSocket.OPEN) upstream.close(c, reason);
    };
    upstream.on('close', end);
    client.on('close', end);
    client.on('error', () => upstream.terminate());
    upstream.on('error', () => client.terminate());
  }
}
