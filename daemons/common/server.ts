// The I/O edge every vfab daemon shares: one HTTP server on 127.0.0.1 carrying the JSON control API
// (/control/...) and WebSocket upgrades (links, capture streams, block protocol), all behind the fabric
// token. Covers routing, auth, JSON bodies with a size limit, typed error replies, the ready line and
// clean shutdown on SIGTERM/SIGINT. Leaves out TLS: daemons listen on loopback only by default.

import http from 'node:http';
import type { Duplex } from 'node:stream';
import { timingSafeEqual, randomBytes } from 'node:crypto';
import { VfabError } from '../../lib/errors.js';

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
export type UpgradeHandler = (req: http.IncomingMessage, socket: Duplex, head: Buffer, url: URL) => boolean;

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

export function tokenMatches(expected: string, given: string | null | undefined): boolean {
  if (!given) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The token of a request: `Authorization: Bearer <token>` or `?token=`. */
export function requestToken(req: http.IncomingMessage, url: URL): string | null {
  const auth = req.headers.authorization;
  if (auth && auth.startsWith('Bearer ')) return auth.slice(7).trim();
  return url.searchParams.get('token');
}

export class ControlServer {
  private readonly routes: Route[] = [];
  private readonly upgrades: UpgradeHandler[] = [];
  readonly http: http.Server;

  constructor(private readonly token: string) {
    this.http = http.createServer((req, res) => void this.handle(req, res));
    this.http.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head));
    this.http.keepAliveTimeout = 5000;
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
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (!tokenMatches(this.token, requestToken(req, url))) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      socket.destroy();
      return;
    }
    for (const handler of this.upgrades) if (handler(req, socket, head, url)) return;
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    socket.destroy();
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const reply = (status: number, value: unknown) => {
      const body = JSON.stringify(value);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    if (!tokenMatches(this.token, requestToken(req, url))) {
      reply(401, { error: { code: 'VFAB_AUTH', message: 'missing or wrong fabric token (Authorization: Bearer <token>)' } });
      return;
    }
    let matchedPath = false;
    for (const route of this.routes) {
      const m = route.pattern.exec(url.pathname);
      if (!m) continue;
      matchedPath = true;
      if (route.method !== req.method) continue;
      try {
        const params: Record<string, string> = {};
        route.names.forEach((name, i) => (params[name] = decodeURIComponent(m[i + 1]!)));
        const body = req.method === 'GET' || req.method === 'HEAD' ? undefined : await readJson(req);
        const value = await route.handler({ params, query: url.searchParams, body });
        reply(200, value ?? { ok: true });
      } catch (e) {
        const status = e instanceof VfabError ? (e.code.endsWith('_NOT_FOUND') ? 404 : 400) : 500;
        const error = e instanceof VfabError ? e.toJSON() : { code: 'VFAB_INTERNAL', message: String((e as Error)?.message ?? e) };
        reply(status, { error });
      }
      return;
    }
    reply(matchedPath ? 405 : 404, { error: { code: matchedPath ? 'VFAB_METHOD' : 'VFAB_NOT_FOUND', message: `${req.method} ${url.pathname}` } });
  }
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_CONTROL_BODY_BYTES) throw new VfabError('VFAB_CONTROL_TOO_LARGE', `request body of ${declared} bytes exceeds ${MAX_CONTROL_BODY_BYTES}`);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req) {
    total += (chunk as Buffer).length;
    if (total > MAX_CONTROL_BODY_BYTES) throw new VfabError('VFAB_CONTROL_TOO_LARGE', `request body exceeds ${MAX_CONTROL_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  if (total === 0) return {};
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new VfabError('VFAB_CONTROL_BAD_JSON', 'request body is not valid JSON');
  }
}

/** Prints the one ready line the orchestrator waits for. */
export function announceReady(name: string, port: number): void {
  process.stdout.write(JSON.stringify({ event: 'ready', name, port, pid: process.pid }) + '\n');
}

/** Runs `cleanup` once on SIGTERM/SIGINT, then exits 0. */
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
