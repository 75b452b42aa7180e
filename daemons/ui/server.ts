// The `vfab ui` web server: the page's static files, the one-time login, the snapshot and node-details
// routes, the live WebSocket fanned out from one FabricFeed to every page, actions (run as the CLI's own
// commands in this process, so their rules, checks and events are the CLI's), and captures downloadable
// as pcapng. Routes and messages: lib/ui/protocol.ts; behaviour and limits: docs/ui.md. Leaves out the
// view model (lib/ui/view-model.ts), polling (feed.ts) and the page itself (ui/, built into dist/ui/).

import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { VfabError } from '../../lib/errors.js';
import { DIST_DIR } from '../common/paths.js';
import { control } from '../common/control-client.js';
import { readJsonObject } from '../common/server.js';
import { createGuardedServer, decodeSegment, guardUpgradeSocket, parseRequestTarget, refuseSocket } from '../common/http-guard.js';
import { WebSocketServer, type WebSocket } from '../common/ws.js';
import { type FabricState, findDaemon, suggest } from '../fabric/state.js';
import { startCapture, type CaptureSession } from '../fabric/capture-client.js';
import { setVmPower } from '../fabric/guest-actions.js';
import { UiAuth, originProblem } from '../../lib/ui/auth.js';
import { EventBatcher, diffSnapshots, eventBatchWaitMs } from '../../lib/ui/view-model.js';
import {
  LIVE_BATCH_MS, MAX_ACTION_BODY_BYTES, MAX_CAPTURE_FRAMES, MAX_CAPTURE_POINTS, MAX_CLIENT_BUFFER_BYTES, MAX_EVENTS_PER_BATCH, MAX_MAC_ROWS,
  MAX_RECENT_EVENTS, MAX_UI_CAPTURES, MAX_UI_CLIENTS, UI_PROTOCOL_VERSION, type ActionReply, type CaptureInfo, type LiveMessage,
  type UiEvent, type UiMacRow, type UiNodeDetails, type UiScenarioRun, type UiSnapshot,
} from '../../lib/ui/protocol.js';
import { FabricFeed, UI_CONTROL_TIMEOUT_MS } from './feed.js';

/** Largest static file served from dist/ui/ (bytes). */
export const MAX_STATIC_FILE_BYTES = 32 * 1024 * 1024;
/** Most HTTP connections to the ui server at once. */
export const MAX_UI_CONNECTIONS = 256;
/** Largest message a page may send on /api/live (it has nothing to say; bigger closes the socket). */
const MAX_PAGE_MESSAGE_BYTES = 1024;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.map': 'application/json', '.json': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png', '.woff2': 'font/woff2', '.ico': 'image/x-icon',
};

/** Where the built page lives: <package>/dist/ui/ (built by the page's own build step). */
export const UI_DIST_DIR = path.join(DIST_DIR, 'ui');

export interface UiServerOptions {
  state: FabricState;
  /** 0: any free port. */
  port: number;
  /** Default UI_DIST_DIR. */
  uiDir?: string;
  /** Refuse the link, impair, clear and power actions with this reason (409 VFAB_UI_ACTION_FAILED): `vfab run --ui`. */
  refuseActions?: string;
}

interface Client {
  ws: WebSocket;
  seq: number;
  /** Deltas were skipped while its buffer was full: it gets a whole snapshot once it drained. */
  behind: boolean;
}

interface Capture {
  info: CaptureInfo;
  file: string;
  session: CaptureSession | undefined;
  stopping: Promise<void> | undefined;
}

function httpStatusFor(e: unknown): number {
  const code = e instanceof VfabError ? e.code : '';
  if (code === 'VFAB_UI_INTERNAL') return 500;
  if (code === 'VFAB_UI_AUTH') return 401;
  if (code === 'VFAB_UI_ORIGIN') return 403;
  if (code === 'VFAB_UI_NOT_FOUND') return 404;
  if (code === 'VFAB_UI_LIMIT') return 429;
  if (code === 'VFAB_UI_CAPTURE_STATE') return 409;
  if (code === 'VFAB_NO_FABRIC' || code === 'VFAB_CONTROL_UNREACHABLE' || code === 'VFAB_DAEMON_DOWN' || code === 'VFAB_CAPTURE_UNREACHABLE') return 503;
  if (code === 'VFAB_UI_BAD_REQUEST' || code === 'VFAB_USAGE' || code.startsWith('VFAB_BAD_') || /_NOT_FOUND$|_NO_SUCH_|_POINT$/.test(code)) return 400;
  return 409;
}

export class UiServer {
  readonly auth: UiAuth;
  private readonly feed: FabricFeed;
  private readonly server: http.Server;
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_PAGE_MESSAGE_BYTES, perMessageDeflate: false });
  private readonly clients = new Set<Client>();
  private readonly batcher = new EventBatcher(MAX_EVENTS_PER_BATCH, MAX_RECENT_EVENTS);
  private readonly captures = new Map<string, Capture>();
  private readonly captureDir: string;
  private readonly uiDir: string;
  private last: UiSnapshot | undefined;
  private deltaTimer: NodeJS.Timeout | undefined;
  private lastDeltaAt = 0;
  /** A status read came in since the last delta: the snapshot is built and diffed again. */
  private viewChanged = false;
  private eventsTimer: NodeJS.Timeout | undefined;
  private lastEventsAt = 0;
  private lastEventsSize = 0;
  /** Flushes that failed (a status reply of an unexpected shape). */
  flushErrors = 0;
  private boundPort = 0;

  constructor(private readonly opts: UiServerOptions) {
    this.auth = new UiAuth({ random: () => crypto.randomBytes(32).toString('hex'), now: () => Date.now() });
    this.uiDir = opts.uiDir ?? UI_DIST_DIR;
    this.captureDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfab-ui-captures-'));
    this.feed = new FabricFeed(opts.state, {
      changed: () => {
        this.viewChanged = true;
        this.scheduleDelta();
      },
      events: (events) => this.injectEvents(events),
    });
    this.server = createGuardedServer((req, res) => void this.handle(req, res), { maxConnections: MAX_UI_CONNECTIONS });
    this.server.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head));
  }

  get port(): number {
    return this.boundPort;
  }

  /** The one-time login URL (undefined once used). */
  get loginUrl(): string | undefined {
    const code = this.auth.loginCode;
    return code === undefined ? undefined : `http://127.0.0.1:${this.boundPort}/login?code=${code}`;
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.boundPort = (this.server.address() as { port: number }).port;
    await this.feed.start();
    this.last = this.feed.view.snapshot(this.feed.clock.nowMs());
    // what the daemons logged before vfab ui started: the recent events of the first snapshot, not a batch
    this.batcher.take();
  }

  async close(): Promise<void> {
    this.feed.stop();
    if (this.deltaTimer) clearTimeout(this.deltaTimer);
    if (this.eventsTimer) clearTimeout(this.eventsTimer);
    for (const c of this.clients) c.ws.terminate();
    for (const c of this.captures.values()) await this.stopCapture(c).catch(() => {});
    await new Promise<void>((r) => this.server.close(() => r()));
    this.server.closeAllConnections();
    fs.rmSync(this.captureDir, { recursive: true, force: true });
  }

  // ----------------------------------------------------------------------------------------------
  // Live stream

  /**
   * Hands `events` to every page as if the feed had just read them from the daemons: batched, kept among
   * the recent events for pages that connect later, sent as `events` messages (they are not applied to the
   * view model: the drawing's state comes from status reads). The feed calls this; so do the bench and
   * tests that need a known event load without a fabric producing it.
   */
  injectEvents(events: readonly UiEvent[]): void {
    this.batcher.push(events);
    if (this.eventsTimer) return;
    // quiet (the last batch was small): almost at once; busy: one batch per LIVE_BATCH_MS
    this.eventsTimer = setTimeout(() => {
      this.eventsTimer = undefined;
      this.lastEventsAt = Date.now();
      const batch = this.batcher.take();
      this.lastEventsSize = batch?.events.length ?? 0;
      if (batch) this.broadcast({ type: 'events', seq: 0, clockMs: this.feed.clock.nowMs(), events: batch.events, omitted: batch.omitted });
    }, eventBatchWaitMs(this.lastEventsAt, this.lastEventsSize, Date.now()));
    this.eventsTimer.unref();
  }

  /**
   * Shows a scenario run (`vfab run --ui`): kept in the snapshot for pages that connect later, and sent
   * whole to every page as a `scenario` message. The caller passes a copy it will not change.
   */
  setScenario(run: UiScenarioRun): void {
    this.feed.view.scenario = run;
    if (this.last) this.last = { ...this.last, scenario: run };
    this.broadcast({ type: 'scenario', seq: 0, clockMs: this.feed.clock.nowMs(), run });
  }

  private scheduleDelta(): void {
    if (this.deltaTimer) return;
    const wait = Math.max(0, this.lastDeltaAt + LIVE_BATCH_MS - Date.now());
    this.deltaTimer = setTimeout(() => {
      this.deltaTimer = undefined;
      try {
        this.flushDelta();
      } catch (e) {
        // a daemon reply the view model could not read: counted and shown, never the end of vfab ui
        this.flushErrors++;
        if (this.flushErrors === 1) process.stderr.write(`vfab ui: could not build the view: ${(e as Error).message}\n`);
      }
    }, wait);
    this.deltaTimer.unref();
  }

  /** The snapshot is built and diffed only after a status read, not for every event batch. */
  private flushDelta(): void {
    this.lastDeltaAt = Date.now();
    if (!this.viewChanged) return;
    this.viewChanged = false;
    const clockMs = this.feed.clock.nowMs();
    const next = this.feed.view.snapshot(clockMs);
    const delta = this.last ? diffSnapshots(this.last, next) : undefined;
    this.last = next;
    // a page that fell behind still gets its fresh snapshot once it drained, even when nothing changed
    this.broadcast(delta ? { type: 'delta', seq: 0, clockMs, delta } : undefined);
  }

  /** Sends `m` to every page that keeps up; a page over MAX_CLIENT_BUFFER_BYTES is skipped, then resynced. */
  private broadcast(m: LiveMessage | undefined): void {
    for (const c of this.clients) {
      if (c.ws.bufferedAmount > MAX_CLIENT_BUFFER_BYTES) {
        c.behind = true;
        continue;
      }
      if (c.behind) {
        if (c.ws.bufferedAmount > 0) continue;
        c.behind = false;
        this.sendSnapshot(c, true);
        continue;
      }
      if (m) this.send(c, { ...m });
    }
  }

  private send(c: Client, m: LiveMessage): void {
    m.seq = ++c.seq;
    c.ws.send(JSON.stringify(m));
  }

  private sendSnapshot(c: Client, resync: boolean): void {
    const snapshot = this.last ?? this.feed.view.snapshot(this.feed.clock.nowMs());
    this.send(c, { type: 'snapshot', seq: 0, clockMs: snapshot.clockMs, snapshot, recentEvents: this.batcher.recent(), resync });
  }

  private upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    guardUpgradeSocket(socket);
    const target = parseRequestTarget(req.url);
    const problem = originProblem(req.headers.host, req.headers.origin, this.boundPort);
    if (problem) return refuseSocket(socket, 403, 'Forbidden', JSON.stringify({ error: { code: 'VFAB_UI_ORIGIN', message: problem } }));
    if (!this.auth.authorized(req.headers.cookie)) return refuseSocket(socket, 401, 'Unauthorized', JSON.stringify({ error: { code: 'VFAB_UI_AUTH', message: 'no vfab ui session: open the login URL vfab ui printed' } }));
    if (target?.pathname !== '/api/live') return refuseSocket(socket, 404, 'Not Found', JSON.stringify({ error: { code: 'VFAB_UI_NOT_FOUND', message: `no WebSocket at ${target?.pathname ?? '?'} (the live stream is /api/live)` } }));
    if (this.clients.size >= MAX_UI_CLIENTS) return refuseSocket(socket, 429, 'Too Many Requests', JSON.stringify({ error: { code: 'VFAB_UI_LIMIT', message: `${MAX_UI_CLIENTS} pages are connected already (MAX_UI_CLIENTS)` } }));
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const c: Client = { ws, seq: 0, behind: false };
      this.clients.add(c);
      ws.on('close', () => this.clients.delete(c));
      ws.on('error', () => ws.terminate());
      ws.on('message', () => {}); // the page has nothing to say; maxPayload bounds what it may try
      this.send(c, { type: 'hello', seq: 0, clockMs: this.feed.clock.nowMs(), version: UI_PROTOCOL_VERSION, fabric: this.opts.state.fabric, limits: { maxEventsPerBatch: MAX_EVENTS_PER_BATCH, batchMs: LIVE_BATCH_MS } });
      this.sendSnapshot(c, false);
    });
  }

  // ----------------------------------------------------------------------------------------------
  // HTTP

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      await this.route(req, res);
    } catch (e) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const err = e instanceof VfabError ? e : new VfabError('VFAB_UI_INTERNAL', (e as Error)?.message ?? String(e));
      this.json(res, httpStatusFor(err), { error: err.toJSON() });
    }
  }

  private headers(extra: Record<string, string | number> = {}): Record<string, string | number> {
    const self = `127.0.0.1:${this.boundPort} localhost:${this.boundPort}`;
    return {
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'content-security-policy': `default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; worker-src 'self' blob:; connect-src 'self' ${self.split(' ').map((h) => `ws://${h}`).join(' ')}; frame-ancestors 'none'`,
      ...extra,
    };
  }

  private json(res: http.ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, this.headers({ 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }));
    res.end(text);
  }

  private async route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const target = parseRequestTarget(req.url);
    if (!target) throw new VfabError('VFAB_UI_BAD_REQUEST', 'malformed request target');
    const problem = originProblem(req.headers.host, req.headers.origin, this.boundPort);
    if (problem) throw new VfabError('VFAB_UI_ORIGIN', problem);
    const p = target.pathname;
    const method = req.method ?? 'GET';
    if (method === 'GET' && p === '/login') return this.login(target.searchParams.get('code'), res);
    if (!this.auth.authorized(req.headers.cookie)) throw new VfabError('VFAB_UI_AUTH', 'no vfab ui session: open the login URL vfab ui printed (run vfab ui again for a new one)');
    if (method === 'GET') {
      if (p === '/api/snapshot') return this.json(res, 200, this.last ?? this.feed.view.snapshot(this.feed.clock.nowMs()));
      if (p === '/api/captures') return this.json(res, 200, [...this.captures.values()].map((c) => c.info));
      const node = /^\/api\/node\/([^/]+)$/.exec(p);
      if (node) return this.json(res, 200, await this.nodeDetails(decodeSegment(node[1]!) ?? '', target.searchParams));
      const dl = /^\/api\/capture\/([0-9a-f]+)\.pcapng$/.exec(p);
      if (dl) return this.download(dl[1]!, res);
      if (!p.startsWith('/api/')) return this.staticFile(p, res);
    }
    if (method === 'POST' && p.startsWith('/api/')) {
      const body = await this.readBody(req);
      const stop = /^\/api\/capture\/([0-9a-f]+)\/stop$/.exec(p);
      if (stop) return this.json(res, 200, await this.stopCaptureById(stop[1]!));
      if (p === '/api/capture') return this.json(res, 200, await this.startCaptureFrom(body));
      if (p === '/api/link' || p === '/api/impair' || p === '/api/clear' || p === '/api/vm/power') {
        if (this.opts.refuseActions !== undefined) throw new VfabError('VFAB_UI_ACTION_FAILED', this.opts.refuseActions);
        return this.json(res, 200, await this.action(p, body));
      }
    }
    throw new VfabError('VFAB_UI_NOT_FOUND', `no route ${method} ${p}`);
  }

  private login(code: string | null, res: http.ServerResponse): void {
    const session = this.auth.login(code);
    if (session === undefined) throw new VfabError('VFAB_UI_AUTH', 'this login code is wrong, expired or used already: run vfab ui again for a new URL');
    res.writeHead(303, this.headers({ location: '/', 'set-cookie': UiAuth.cookie(session), 'content-length': 0 }));
    res.end();
  }

  /** A JSON object body (Content-Type application/json: a form post from another site cannot send one). */
  private async readBody(req: http.IncomingMessage): Promise<Record<string, unknown>> {
    const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim();
    const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
    if (hasBody && type !== 'application/json') throw new VfabError('VFAB_UI_BAD_REQUEST', `send the body as application/json (got ${JSON.stringify(type)})`);
    return readJsonObject(req, MAX_ACTION_BODY_BYTES, 'VFAB_UI_BAD_REQUEST', 'VFAB_UI_BAD_REQUEST');
  }

  private staticFile(p: string, res: http.ServerResponse): void {
    const rel = p === '/' ? 'index.html' : p.slice(1);
    // one file name, or assets/<name>: never a path out of the ui directory
    if (!/^(assets\/)?[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(rel) || rel.includes('..')) throw new VfabError('VFAB_UI_NOT_FOUND', `no page file ${p}`);
    const file = path.join(this.uiDir, rel);
    let stat: fs.Stats | undefined;
    try {
      stat = fs.statSync(file);
    } catch {
      stat = undefined;
    }
    if (!stat?.isFile()) {
      if (rel === 'index.html') return this.placeholder(res);
      throw new VfabError('VFAB_UI_NOT_FOUND', `no page file ${p}`);
    }
    if (stat.size > MAX_STATIC_FILE_BYTES) throw new VfabError('VFAB_UI_LIMIT', `${p} is over ${MAX_STATIC_FILE_BYTES} bytes (MAX_STATIC_FILE_BYTES)`);
    const body = fs.readFileSync(file);
    res.writeHead(200, this.headers({ 'content-type': CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream', 'content-length': body.length }));
    res.end(body);
  }

  private placeholder(res: http.ServerResponse): void {
    const html = `<!doctype html><meta charset="utf-8"><title>vfab ui: ${escapeHtml(this.opts.state.fabric)}</title>
<h1>vfab ui: fabric ${escapeHtml(this.opts.state.fabric)}</h1>
<p>The page is not built: ${escapeHtml(this.uiDir)}/index.html is missing. Build it with <code>npm run build</code> in the vfab checkout, then reload.</p>
<p>The data routes work meanwhile: <a href="/api/snapshot">/api/snapshot</a> (docs/ui.md).</p>`;
    res.writeHead(200, this.headers({ 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(html) }));
    res.end(html);
  }

  // ----------------------------------------------------------------------------------------------
  // Node details

  private async nodeDetails(name: string, q: URLSearchParams): Promise<UiNodeDetails> {
    const state = this.opts.state;
    const snap = this.last ?? this.feed.view.snapshot(this.feed.clock.nowMs());
    const daemon = state.daemons.find((d) => d.name === name);
    if (daemon?.kind === 'host') {
      const status = await control<any>(daemon, state.token, 'GET', '/control/status', undefined, UI_CONTROL_TIMEOUT_MS);
      const storage = await control<any>(daemon, state.token, 'GET', '/control/storage', undefined, UI_CONTROL_TIMEOUT_MS).catch(() => null);
      const portDrops: Record<string, Record<string, number>> = {};
      const uplinkDrops: Record<string, Record<string, number>> = {};
      for (const vs of status.vswitches ?? []) {
        for (const port of vs.ports ?? []) portDrops[port.name ?? `${vs.name}/${port.portId}`] = nonZero(port.counters?.drops);
        for (const u of vs.uplinks ?? []) uplinkDrops[u.name] = nonZero(u.drops);
      }
      this.feed.view.applyStatus(name, status, undefined, this.feed.clock.nowMs());
      const host = this.feed.view.snapshot(this.feed.clock.nowMs()).hosts.find((h) => h.name === name)!;
      return { kind: 'host', name, host, counters: (status.vswitches ?? []).map((vs: any) => ({ vswitch: vs.name, ...vs.counters })), uplinkDrops, portDrops, storage };
    }
    if (daemon?.kind === 'switch') {
      const status = await control<any>(daemon, state.token, 'GET', '/control/status', undefined, UI_CONTROL_TIMEOUT_MS);
      const table = await control<{ entries: UiMacRow[] }>(daemon, state.token, 'GET', '/control/mac-table', undefined, UI_CONTROL_TIMEOUT_MS);
      const vlanText = q.get('vlan');
      let vlan: number | undefined;
      if (vlanText !== null && vlanText !== '') {
        vlan = Number(vlanText);
        if (!/^\d+$/.test(vlanText) || vlan < 1 || vlan > 4094) throw new VfabError('VFAB_UI_BAD_REQUEST', `vlan=${vlanText}: must be 1-4094`);
      }
      const macText = (q.get('mac') ?? '').toLowerCase();
      if (!/^[0-9a-f:.-]*$/.test(macText)) throw new VfabError('VFAB_UI_BAD_REQUEST', `mac=${q.get('mac')}: hex digits and ':' only (a MAC or its beginning)`);
      const rows = (table.entries ?? []).filter((r) => (vlan === undefined || r.vlan === vlan) && r.mac.toLowerCase().startsWith(macText));
      const portDrops: Record<string, Record<string, number>> = {};
      for (const port of status.ports ?? []) portDrops[port.name] = { ...prefixed('rx.', nonZero(port.counters?.rxDrops)), ...prefixed('tx.', nonZero(port.counters?.txDrops)) };
      return { kind: 'switch', name, switch: snap.switches.find((s) => s.name === name)!, macTable: rows.slice(0, MAX_MAC_ROWS), truncated: rows.length > MAX_MAC_ROWS, counters: status.counters ?? null, portDrops };
    }
    if (daemon?.kind === 'array') {
      const status = await control<any>(daemon, state.token, 'GET', '/control/status', undefined, UI_CONTROL_TIMEOUT_MS);
      return { kind: 'array', name, array: snap.arrays.find((a) => a.name === name)!, status };
    }
    const hostName = Object.hasOwn(state.vmHosts, name) ? state.vmHosts[name] : undefined;
    if (hostName !== undefined) {
      const host = findDaemon(state, hostName);
      const status = await control<any>(host, state.token, 'GET', '/control/status', undefined, UI_CONTROL_TIMEOUT_MS);
      const raw = (status.vms ?? []).find((v: any) => v.name === name);
      const vm = snap.hosts.flatMap((h) => h.vms).find((v) => v.name === name);
      if (!vm) throw new VfabError('VFAB_UI_NOT_FOUND', `VM ${name} is not in the last status of ${hostName}`);
      return { kind: 'vm', name, vm, counters: raw?.counters ?? null, arp: Array.isArray(raw?.arp) ? raw.arp : [], guest: status.guests?.[name] ?? null };
    }
    const names = [...state.daemons.map((d) => d.name), ...Object.keys(state.vmHosts)];
    throw new VfabError('VFAB_UI_NOT_FOUND', `no host, switch, array or VM named ${JSON.stringify(name)}${suggest(name, names)}`);
  }

  // ----------------------------------------------------------------------------------------------
  // Actions: the CLI's own commands, in this process

  private async action(route: string, body: Record<string, unknown>): Promise<ActionReply> {
    const endpoint = () => cliWord(body.endpoint, 'endpoint');
    let reply: ActionReply;
    if (route === '/api/link') {
      reply = await runCli('link', [upDown(body.up), endpoint(), '--json']);
    } else if (route === '/api/impair') {
      const args = ['impair', endpoint()];
      const opt = (key: string, flag: string) => {
        if (body[key] === undefined) return;
        if (typeof body[key] !== 'number' || !Number.isFinite(body[key])) throw new VfabError('VFAB_UI_BAD_REQUEST', `${key}: must be a number`);
        args.push(flag, String(body[key]));
      };
      opt('lossPercent', '--loss');
      opt('delayMs', '--delay-ms');
      opt('jitterMs', '--jitter-ms');
      opt('seed', '--seed');
      if (body.direction !== undefined) args.push('--direction', cliWord(body.direction, 'direction'));
      reply = await runCli('fault', [...args, '--json']);
    } else if (route === '/api/clear') {
      reply = await runCli('fault', ['clear', endpoint(), '--json']);
    } else {
      const vm = cliWord(body.vm, 'vm');
      const on = upDown(body.on, 'on') === 'up';
      const result = await setVmPower(this.opts.state, vm, on);
      reply = { ok: true, message: `${vm}: powered ${on ? 'on' : 'off'}`, result };
    }
    this.feed.refresh(this.opts.state.daemons.map((d) => d.name));
    return reply;
  }

  // ----------------------------------------------------------------------------------------------
  // Captures

  private async startCaptureFrom(body: Record<string, unknown>): Promise<CaptureInfo> {
    const points = body.points;
    if (!Array.isArray(points) || points.length === 0 || points.length > MAX_CAPTURE_POINTS) throw new VfabError('VFAB_UI_BAD_REQUEST', `points: a list of 1-${MAX_CAPTURE_POINTS} capture points, e.g. ["esx1.vmnic0"]`);
    const list = points.map((p) => cliWord(p, 'points[]'));
    let maxFrames = MAX_CAPTURE_FRAMES;
    if (body.maxFrames !== undefined) {
      if (typeof body.maxFrames !== 'number' || !Number.isInteger(body.maxFrames) || body.maxFrames < 1 || body.maxFrames > MAX_CAPTURE_FRAMES) throw new VfabError('VFAB_UI_BAD_REQUEST', `maxFrames: must be 1-${MAX_CAPTURE_FRAMES}`);
      maxFrames = body.maxFrames;
    }
    if (this.captures.size >= MAX_UI_CAPTURES) {
      const oldest = [...this.captures.values()].find((c) => c.info.state !== 'running');
      if (!oldest) throw new VfabError('VFAB_UI_LIMIT', `${MAX_UI_CAPTURES} captures are running (MAX_UI_CAPTURES): stop one first`);
      this.captures.delete(oldest.info.id);
      fs.rmSync(oldest.file, { force: true });
    }
    const id = crypto.randomBytes(8).toString('hex');
    const file = path.join(this.captureDir, `${id}.pcapng`);
    const session = await startCapture(this.opts.state, list, file, 'pcapng', maxFrames);
    const c: Capture = { info: { id, points: list, state: 'running', frames: 0, bytes: 0, download: null }, file, session, stopping: undefined };
    this.captures.set(id, c);
    // a count reached or a daemon gone ends the capture by itself
    void session.done.then(() => this.stopCapture(c)).catch(() => {});
    return c.info;
  }

  private stopCapture(c: Capture): Promise<void> {
    c.stopping ??= (async () => {
      try {
        const r = await c.session!.stop();
        c.info.frames = r.frames;
        c.info.state = 'done';
        if (r.lost) c.info.error = r.lost.reason;
      } catch (e) {
        c.info.state = 'failed';
        c.info.error = (e as Error).message;
      }
      c.info.bytes = fs.existsSync(c.file) ? fs.statSync(c.file).size : 0;
      c.info.download = c.info.state === 'done' ? `/api/capture/${c.info.id}.pcapng` : null;
    })();
    return c.stopping;
  }

  private async stopCaptureById(id: string): Promise<CaptureInfo> {
    const c = this.captures.get(id);
    if (!c) throw new VfabError('VFAB_UI_NOT_FOUND', `no capture ${id}`);
    await this.stopCapture(c);
    return c.info;
  }

  private download(id: string, res: http.ServerResponse): void {
    const c = this.captures.get(id);
    if (!c) throw new VfabError('VFAB_UI_NOT_FOUND', `no capture ${id}`);
    if (c.info.state !== 'done') throw new VfabError('VFAB_UI_CAPTURE_STATE', `capture ${id} is ${c.info.state}: stop it first (POST /api/capture/${id}/stop)`);
    const size = fs.statSync(c.file).size;
    res.writeHead(200, this.headers({ 'content-type': 'application/vnd.tcpdump.pcap-ng', 'content-length': size, 'content-disposition': `attachment; filename="vfab-${this.opts.state.fabric}-${id}.pcapng"` }));
    fs.createReadStream(c.file).on('error', () => res.destroy()).pipe(res);
  }
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

function nonZero(o: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries((o ?? {}) as Record<string, unknown>)) if (typeof v === 'number' && v !== 0) out[k] = v;
  return out;
}

function prefixed(p: string, o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [p + k, v]));
}

/** A body field that becomes one CLI word: a non-empty string that cannot be read as an option. */
function cliWord(v: unknown, field: string): string {
  if (typeof v !== 'string' || v === '' || v.startsWith('-') || v.length > 256) throw new VfabError('VFAB_UI_BAD_REQUEST', `${field}: must be a name like esx1.vmnic0 (a non-empty string not starting with -)`);
  return v;
}

function upDown(v: unknown, field = 'up'): 'up' | 'down' {
  if (typeof v !== 'boolean') throw new VfabError('VFAB_UI_BAD_REQUEST', `${field}: must be true or false`);
  return v ? 'up' : 'down';
}

/** Runs `vfab <command> <args>` in this process; its thrown VfabError (code, message) is the answer. */
async function runCli(command: string, args: string[]): Promise<ActionReply> {
  const { runCommand } = await import('../cli.js');
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCommand(command, args, { out: (t) => out.push(t), err: (t) => err.push(t) });
  const text = out.join('\n');
  if (code !== 0) throw new VfabError('VFAB_UI_ACTION_FAILED', `vfab ${command} ${args.join(' ')} exited ${code}: ${[...err, text].join(' ').trim()}`);
  let result: unknown = null;
  try {
    result = text ? JSON.parse(text) : null;
  } catch {
    result = text;
  }
  return { ok: true, message: `${command} ${args.filter((a) => a !== '--json').join(' ')}: done`, result };
}
