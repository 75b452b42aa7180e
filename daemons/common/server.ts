// The I/O edge every vfab daemon shares: one HTTP server on 127.0.0.1 carrying the JSON control API
// (/control/...) and WebSocket upgrades (links, capture streams, block protocol), all behind the fabric
// token. Covers routing, auth (checked on the raw request before anything is parsed, see http-guard.ts),
// JSON bodies with a size limit, typed error replies (every failure of a request is answered: 400, 401,
// 404, 405, 413; a handler's own bug is a 500), the bounds of http-guard.ts (connections, head and body
// time, upgrade handshake time), the ready line and clean shutdown on SIGTERM/SIGINT (in a host group's worker thread: on the
// group's message). TLS when the
// daemon is given a certificate (daemons/common/tls.ts); by default plain, on loopback only. docs/security.md describes the bounds.

import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { isMainThread, parentPort } from 'node:worker_threads';
import { VfabError } from '../../lib/errors.js';
import {
  type RequestTarget,
  createGuardedServer,
  decodeSegment,
  guardUpgradeSocket,
  parseRequestTarget,
  presentedToken,
  refuseSocket,
  requestAuthorized,
  tokenMatches,
} from './http-guard.js';

export { tokenMatches, presentedToken, type RequestTarget };

/** Control requests carry small JSON documents; anything larger is refused before it is read. */
export const MAX_CONTROL_BODY_BYTES = 1024 * 1024;
export const DEFAULT_BIND_HOST = '127.0.0.1';

export type JsonValue = unknown;
export interface ControlRequest {
  params: Record<string, string>;
  query: URLSearchParams;
  body: any;
}
export type ControlHandler = (req: ControlRequest) => Promise<JsonValue> | JsonValue;
export type UpgradeHandler = (req: http.IncomingMessage, socket: Duplex, head: Buffer, url: RequestTarget) => boolean;

interface Route {
  method: string;
  pattern: RegExp;
  names: string[];
  handler: ControlHandler;
}

/** Random fabric token (hex) for `vfab up`; daemons receive it in VFAB_TOKEN. */
export function newToken(): string {
  return randomBytes(24).toString('hex');
}

/** The token of a request: `Authorization: Bearer <token>` or `?token=` (raw text, never throws). */
export function requestToken(req: http.IncomingMessage): string | null {
  return presentedToken(req);
}

/** HTTP status of a VfabError raised while serving a control request. */
function statusFor(code: string): number {
  if (code.endsWith('_NOT_FOUND')) return 404;
  if (code.endsWith('_TOO_LARGE')) return 413;
  return 400;
}

export class ControlServer {
  private readonly routes: Route[] = [];
  private readonly upgrades: UpgradeHandler[] = [];
  readonly http: http.Server;

  /** `tls`: serve https:// and wss:// with this certificate (--tls-cert/--tls-key). */
  constructor(private readonly token: string, opts: { tls?: { cert: Buffer; key: Buffer } } = {}) {
    this.http = createGuardedServer((req, res) => void this.handle(req, res), opts.tls ? { tls: opts.tls } : {});
    this.http.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head));
  }

  /** Registers a route; `:name` segments match one URL-encoded path segment. */
  on(method: string, path: string, handler: ControlHandler): this {
    const names: string[] = [];
    const pattern = new RegExp(
      '^' + path.replace(/:([a-zA-Z]+)/g, (_m, name: string) => {
        names.push(name);
        return '([^/]+)';
      }) + '$',
    );
    this.routes.push({ method, pattern, names, handler });
    return this;
  }

  /** Adds a WebSocket upgrade handler; handlers run in order until one returns true. Auth is checked first. */
  onUpgrade(handler: UpgradeHandler): this {
    this.upgrades.push(handler);
    return this;
  }

  async listen(port = 0, host = DEFAULT_BIND_HOST): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(port, host, () => resolve());
    });
    const addr = this.http.address();
    if (!addr || typeof addr === 'string') throw new VfabError('VFAB_DAEMON_LISTEN', 'server has no TCP address');
    return addr.port;
  }

  async close(): Promise<void> {
    this.http.closeAllConnections?.();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  private upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    guardUpgradeSocket(socket);
    if (!requestAuthorized(req, this.token)) {
      refuseSocket(socket, 401, 'Unauthorized');
      return;
    }
    const target = parseRequestTarget(req.url);
    if (target === undefined) {
      refuseSocket(socket, 400, 'Bad Request');
      return;
    }
    try {
      for (const handler of this.upgrades) if (handler(req, socket, head, target)) return;
    } catch (e) {
      process.stderr.write(`upgrade ${target.pathname}: ${(e as Error)?.stack ?? String(e)}\n`);
      refuseSocket(socket, 500, 'Internal Server Error');
      return;
    }
    refuseSocket(socket, 404, 'Not Found');
  }

  /** Serves one request; never rejects (every failure is answered or the socket is closed). */
  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      await this.serve(req, res);
    } catch (e) {
      reply(res, 500, { error: { code: 'VFAB_INTERNAL', message: String((e as Error)?.message ?? e) } });
    }
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (!requestAuthorized(req, this.token)) {
      reply(res, 401, { error: { code: 'VFAB_AUTH', message: 'missing or wrong fabric token (Authorization: Bearer <token>)' } });
      return;
    }
    const target = parseRequestTarget(req.url);
    if (target === undefined) {
      reply(res, 400, { error: { code: 'VFAB_CONTROL_BAD_URL', message: 'request target is not a path (/control/...)' } });
      return;
    }
    let matchedPath = false;
    for (const route of this.routes) {
      const m = route.pattern.exec(target.pathname);
      if (!m) continue;
      matchedPath = true;
      if (route.method !== req.method) continue;
      try {
        const params: Record<string, string> = {};
        route.names.forEach((name, i) => {
          const value = decodeSegment(m[i + 1]!);
          if (value === undefined) throw new VfabError('VFAB_CONTROL_BAD_URL', `path segment ${JSON.stringify(m[i + 1])} is not valid percent-encoding`);
          params[name] = value;
        });
        const body = req.method === 'GET' || req.method === 'HEAD' ? undefined : await readJson(req);
        const value = await route.handler({ params, query: target.searchParams, body });
        reply(res, 200, value ?? { ok: true });
      } catch (e) {
        if (e instanceof VfabError) {
          const status = statusFor(e.code);
          reply(res, status, { error: e.toJSON() }, status === 413);
        } else {
          process.stderr.write(`${req.method} ${target.pathname}: ${(e as Error)?.stack ?? String(e)}\n`);
          reply(res, 500, { error: { code: 'VFAB_INTERNAL', message: String((e as Error)?.message ?? e) } });
        }
      }
      return;
    }
    const path = target.pathname.length > 200 ? `${target.pathname.slice(0, 200)}...` : target.pathname;
    reply(res, matchedPath ? 405 : 404, { error: { code: matchedPath ? 'VFAB_METHOD' : 'VFAB_NOT_FOUND', message: `${req.method} ${path}` } });
  }
}

/** Answers a request with JSON; when an answer was already started, only closes the connection. */
function reply(res: http.ServerResponse, status: number, value: unknown, close = false): void {
  if (res.headersSent || res.writableEnded || res.destroyed) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...(close ? { connection: 'close' } : {}) });
  res.end(body);
}

/** Reads a JSON object body of at most MAX_CONTROL_BODY_BYTES (none: `{}`). */
function readJson(req: http.IncomingMessage): Promise<unknown> {
  return readJsonObject(req, MAX_CONTROL_BODY_BYTES, 'VFAB_CONTROL_TOO_LARGE', 'VFAB_CONTROL_BAD_JSON');
}

/**
 * Reads a JSON object body of at most `maxBytes` (none: `{}`), checked against the declared length
 * before reading and against what arrives while reading; too large is `tooLargeCode`, not a JSON object
 * `badCode`. Shared by the daemons' control API and `vfab ui`.
 */
export async function readJsonObject(req: http.IncomingMessage, maxBytes: number, tooLargeCode: string, badCode: string): Promise<Record<string, unknown>> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > maxBytes) throw new VfabError(tooLargeCode, `request body of ${declared} bytes exceeds ${maxBytes}`);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req) {
    total += (chunk as Buffer).length;
    if (total > maxBytes) throw new VfabError(tooLargeCode, `request body exceeds ${maxBytes} bytes`);
    chunks.push(chunk as Buffer);
  }
  if (total === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new VfabError(badCode, 'request body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new VfabError(badCode, 'request body must be a JSON object');
  return value as Record<string, unknown>;
}

/** Prints the one ready line the orchestrator waits for. */
export function announceReady(name: string, port: number): void {
  process.stdout.write(JSON.stringify({ event: 'ready', name, port, pid: process.pid }) + '\n');
}

/**
 * Ends a daemon that cannot start: a VfabError becomes the one `fatal` line the orchestrator reports with
 * its code (daemons/fabric/process.ts), anything else its stack on stderr; exits 1.
 */
export function exitFatal(daemon: string, e: unknown): never {
  if (e instanceof VfabError) process.stdout.write(`${JSON.stringify({ event: 'fatal', code: e.code, message: e.message })}\n`);
  process.stderr.write(`${daemon}: fatal: ${e instanceof VfabError ? `${e.code}: ` : ''}${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
}

/** What a host group (daemons/hostgroupd.ts) posts to a host's worker thread to stop it cleanly. */
export const WORKER_SHUTDOWN_MESSAGE = 'vfab-shutdown';

/**
 * Runs `cleanup` once on SIGTERM/SIGINT, then exits 0. In a worker thread (a host packed into a host
 * group), where signals are not delivered, the group's WORKER_SHUTDOWN_MESSAGE does the same, and exit
 * ends only that thread.
 */
export function onShutdown(cleanup: () => Promise<void> | void): void {
  let closing = false;
  const stop = async () => {
    if (closing) return;
    closing = true;
    try {
      await cleanup();
    } catch (e) {
      process.stderr.write(`shutdown: ${(e as Error).message}\n`);
    }
    process.exit(0);
  };
  if (!isMainThread) {
    parentPort?.on('message', (m) => {
      if (m === WORKER_SHUTDOWN_MESSAGE) void stop();
    });
    return;
  }
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}

/** Fabric token from the environment, or a fresh one that is printed to stderr. */
export function daemonToken(): string {
  const t = process.env.VFAB_TOKEN;
  if (t) return t;
  const fresh = newToken();
  process.stderr.write(`VFAB_TOKEN not set; generated token ${fresh}\n`);
  return fresh;
}
