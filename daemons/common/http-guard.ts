// What every vfab daemon's HTTP server does before it trusts a request: the fabric token is read from the
// raw `Authorization` header or the raw query text and compared in constant time, before any URL parsing
// that could throw; the request target is parsed by a function that never throws (a target that is not a
// path, such as `//x:99999/` resolved as a URL, or `*`, is simply "not a path"); and the server gets
// bounds: concurrent connections, time to send the request head and body, time for an upgraded socket to
// finish its WebSocket handshake, and 'clientError' answered with 400 instead of an exception. Follows RFC
// 9110/9112 (origin-form request targets) and RFC 6750 (Bearer tokens). Leaves out TLS (loopback only) and
// per-client rate limits (a token holder is trusted to stay under the connection cap).

import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import { timingSafeEqual } from 'node:crypto';

/** Connections one daemon accepts at once (links, capture streams, control clients, block sessions). */
export const MAX_CONTROL_CONNECTIONS = 2048;
/** Time a client has to send a request's head (request line and headers), from its first byte. */
export const HEADERS_TIMEOUT_MS = 10_000;
/** Time a client has to send a whole request (head and body). */
export const REQUEST_TIMEOUT_MS = 30_000;
/** How often the server looks for requests past HEADERS_TIMEOUT_MS / REQUEST_TIMEOUT_MS. */
export const TIMEOUT_CHECK_INTERVAL_MS = 1_000;
/** Time an authenticated upgrade has to become a WebSocket (or be closed) before its socket is dropped. */
export const UPGRADE_HANDSHAKE_TIMEOUT_MS = 10_000;
/** Idle time before a keep-alive control connection is closed. */
export const KEEP_ALIVE_TIMEOUT_MS = 5_000;

const BEARER = 'Bearer ';

/** Constant-time comparison of a presented token with the fabric token (false when none was presented). */
export function tokenMatches(expected: string, given: string | null | undefined): boolean {
  if (typeof given !== 'string' || given.length === 0) return false;
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(given, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * The token a request presents: `Authorization: Bearer <token>`, else `?token=` in the raw request target.
 * Works on the raw text only and never throws (URLSearchParams leaves bad %-escapes as they are).
 */
export function presentedToken(req: Pick<http.IncomingMessage, 'headers' | 'url'>): string | null {
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && auth.startsWith(BEARER)) return auth.slice(BEARER.length).trim();
  const raw = typeof req.url === 'string' ? req.url : '';
  const q = raw.indexOf('?');
  if (q < 0) return null;
  const hash = raw.indexOf('#', q);
  return new URLSearchParams(raw.slice(q + 1, hash < 0 ? undefined : hash)).get('token');
}

/** True when the request carries the fabric token. */
export function requestAuthorized(req: Pick<http.IncomingMessage, 'headers' | 'url'>, token: string): boolean {
  return tokenMatches(token, presentedToken(req));
}

/** A request target split into a path and query (what the routes look at). */
export interface RequestTarget {
  pathname: string;
  searchParams: URLSearchParams;
}

/**
 * Parses an origin-form request target (`/path?query`). Anything else (`*`, `http://host/...`,
 * `host:port`) or text the URL parser refuses gives undefined; this never throws. The target is appended
 * to a fixed origin rather than resolved against it, so `//x:99999/` is the path `//x:99999/`, not a host.
 */
export function parseRequestTarget(raw: string | undefined): RequestTarget | undefined {
  if (typeof raw !== 'string' || !raw.startsWith('/')) return undefined;
  try {
    const url = new URL(`http://daemon.invalid${raw}`);
    return { pathname: url.pathname, searchParams: url.searchParams };
  } catch {
    return undefined;
  }
}

/** decodeURIComponent that answers undefined for a malformed escape instead of throwing. */
export function decodeSegment(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/** Writes a minimal HTTP error answer on a raw (upgrade) socket and closes it. */
export function refuseSocket(socket: Duplex, status: number, reason: string, body = ''): void {
  if (socket.destroyed) return;
  const text = `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: ${body.startsWith('{') ? 'application/json' : 'text/plain'}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  socket.end(text);
  socket.destroy();
}

export interface GuardOptions {
  /** Default MAX_CONTROL_CONNECTIONS. */
  maxConnections?: number;
  /** Serve HTTPS (and wss://) with this certificate and key (daemons/common/tls.ts). */
  tls?: { cert: Buffer; key: Buffer };
}

/**
 * Puts the bounds on an HTTP server: connection cap, head/request timeouts, keep-alive, 'clientError'
 * answered 400 (or just closed when nothing can be written), socket errors absorbed. Call before listen.
 */
export function guardHttpServer(server: http.Server, opts: GuardOptions = {}): void {
  server.maxConnections = opts.maxConnections ?? MAX_CONTROL_CONNECTIONS;
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.on('connection', (socket: Duplex) => {
    // An error on one connection (reset by peer, write after end) concerns that connection only.
    socket.on('error', () => socket.destroy());
  });
  server.on('clientError', (err: Error & { code?: string }, socket: Duplex) => {
    if (socket.destroyed || !socket.writable || err.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    const timeout = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    const body = JSON.stringify({ error: { code: timeout ? 'VFAB_CONTROL_TIMEOUT' : 'VFAB_CONTROL_BAD_REQUEST', message: timeout ? `request not received within ${REQUEST_TIMEOUT_MS} ms` : `malformed HTTP request (${err.code ?? 'parse error'})` } });
    refuseSocket(socket, timeout ? 408 : 400, timeout ? 'Request Timeout' : 'Bad Request', body);
  });
}

/** An HTTP server with the guard's bounds (see guardHttpServer), checking timeouts every TIMEOUT_CHECK_INTERVAL_MS. */
export function createGuardedServer(handler: http.RequestListener, opts: GuardOptions = {}): http.Server {
  // an https.Server is an http.Server on TLS sockets: the same events, timeouts and bounds
  const server = opts.tls
    ? (https.createServer({ connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS, cert: opts.tls.cert, key: opts.tls.key }, handler) as unknown as http.Server)
    : http.createServer({ connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS }, handler);
  guardHttpServer(server, opts);
  return server;
}

/**
 * Bounds an upgraded socket: it must complete its WebSocket handshake (ws clears socket timeouts when it
 * takes the socket over) or be closed within UPGRADE_HANDSHAKE_TIMEOUT_MS. Errors on it are absorbed.
 */
export function guardUpgradeSocket(socket: Duplex & { setTimeout?: (ms: number, cb?: () => void) => unknown }, timeoutMs = UPGRADE_HANDSHAKE_TIMEOUT_MS): void {
  socket.on('error', () => socket.destroy());
  socket.setTimeout?.(timeoutMs, () => socket.destroy());
}
