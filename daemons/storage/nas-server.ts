// Server side of the vfab NAS protocol (lib/nas/protocol.ts, docs/nas-protocol.md): accepts authenticated
// WebSocket upgrades on /nas, one session per connection bound to one share by its HELLO, and runs each
// REQUEST against that share's store (lib/nas/share-store.ts), answering with one REPLY message each.
// Bounds per connection: at most `window` requests execute at once; up to NAS_MAX_QUEUED_REQUESTS more
// wait in a queue, and while anything waits the socket is paused (no more reads), so a client that ignores
// its window is slowed by TCP; a request arriving with the queue full is answered JUKEBOX. A malformed
// message is answered with an ERROR record and counted (before the handshake it closes the connection);
// nothing a client sends can end the process. Leaves out the store itself and mounting on hosts.

import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from '../common/ws.js';
import {
  NAS_ERROR,
  NAS_MAX_IN_FLIGHT,
  NAS_MAX_IO_BYTES,
  NAS_MAX_MESSAGE_BYTES,
  NAS_MAX_READDIR_ENTRIES,
  NAS_PROTOCOL_VERSION,
  NAS_RECORD,
  NAS_STATUS,
  NAS_WS_PATH,
  encodeNasMessage,
  nasErrorRecord,
  parseNasMessage,
  type NasRecord,
  type NasRequest,
} from '../../lib/nas/protocol.js';
import { join } from 'node:path';
import { MemoryNasKv, type NasKv } from '../../lib/nas/kv.js';
import { LevelNasKv } from '../../lib/nas/kv-level.js';
import { openShares, validateShares, type ShareSpec } from '../../lib/nas/shares.js';
import { NAS_ROOT_ID, executeNasRequest, type ShareStats, type ShareStore } from '../../lib/nas/share-store.js';
import { refuseSocket, requestAuthorized } from '../common/http-guard.js';

/** Requests waiting per session beyond the window; one more is answered JUKEBOX. */
export const NAS_MAX_QUEUED_REQUESTS = 4 * NAS_MAX_IN_FLIGHT;
/** Bytes waiting in a session's send buffer above which no further request is started. */
export const NAS_MAX_SEND_BUFFER_BYTES = 8 * 1024 * 1024;
/** Time a connection has to send its HELLO. */
export const NAS_HELLO_TIMEOUT_MS = 10_000;
/** Open NAS connections per server; the next upgrade gets HTTP 503. */
export const NAS_MAX_SESSIONS = 256;

export interface NasServerOptions {
  token: string;
  /** The store of an exported share, or undefined. */
  share: (name: string) => ShareStore | undefined;
  /** Largest window granted (default and cap NAS_MAX_IN_FLIGHT). */
  maxInFlight?: number;
  log?: (line: string) => void;
}

export interface NasSessionInfo {
  sessionId: number;
  client: string | undefined;
  share: string | undefined;
  remote: string;
  window: number;
  active: number;
  queued: number;
  requests: number;
  protocolErrors: number;
  busyReplies: number;
}

function refuse(socket: Duplex, status: 401 | 503, code: string, message: string): void {
  refuseSocket(socket, status, status === 401 ? 'Unauthorized' : 'Service Unavailable', JSON.stringify({ error: { code, message } }));
}

export class NasServer {
  private readonly wss: WebSocketServer;
  private readonly sessionsById = new Map<number, NasSession>();
  private nextSessionId = 1;
  readonly maxInFlight: number;

  constructor(readonly opts: NasServerOptions) {
    this.maxInFlight = Math.min(Math.max(1, opts.maxInFlight ?? NAS_MAX_IN_FLIGHT), NAS_MAX_IN_FLIGHT);
    this.wss = new WebSocketServer({ noServer: true, maxPayload: NAS_MAX_MESSAGE_BYTES, perMessageDeflate: false });
  }

  /** Handles an HTTP upgrade; returns false if the path is not /nas (the caller handles it). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    if ((req.url ?? '').split('?')[0] !== NAS_WS_PATH) return false;
    if (!requestAuthorized(req, this.opts.token)) {
      refuse(socket, 401, NAS_ERROR.UNAUTHORIZED, 'missing or wrong fabric token');
      return true;
    }
    if (this.sessionsById.size >= NAS_MAX_SESSIONS) {
      refuse(socket, 503, NAS_ERROR.TOO_MANY_SESSIONS, `${NAS_MAX_SESSIONS} NAS connections are open`);
      return true;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const id = this.nextSessionId++;
      const s = new NasSession(this, id, ws, `${req.socket.remoteAddress}:${req.socket.remotePort}`);
      this.sessionsById.set(id, s);
      ws.on('close', () => this.sessionsById.delete(id));
    });
    return true;
  }

  sessions(): NasSessionInfo[] {
    return [...this.sessionsById.values()].map((s) => s.info());
  }

  log(line: string): void {
    this.opts.log?.(line);
  }

  close(): void {
    for (const s of this.sessionsById.values()) s.ws.terminate();
    this.sessionsById.clear();
    this.wss.close();
  }
}

class NasSession {
  client: string | undefined;
  shareName: string | undefined;
  private store: ShareStore | undefined;
  private window = 0;
  private active = 0;
  private readonly activeIds = new Set<number>();
  private readonly queue: NasRequest[] = [];
  private paused = false;
  private closed = false;
  private requests = 0;
  private protocolErrors = 0;
  private busyReplies = 0;
  private readonly helloTimer: NodeJS.Timeout;

  constructor(
    private readonly server: NasServer,
    readonly sessionId: number,
    readonly ws: WebSocket,
    private readonly remote: string,
  ) {
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data, isBinary) => this.onMessage(data as Buffer, isBinary));
    ws.on('close', () => {
      this.closed = true;
      clearTimeout(this.helloTimer);
    });
    ws.on('error', (e) => server.log(`nas session ${sessionId}: ${e.message}`));
    this.helloTimer = setTimeout(() => {
      if (this.store === undefined) this.fatal(NAS_ERROR.HANDSHAKE_TIMEOUT, `no HELLO within ${NAS_HELLO_TIMEOUT_MS} ms`);
    }, NAS_HELLO_TIMEOUT_MS);
  }

  info(): NasSessionInfo {
    return {
      sessionId: this.sessionId,
      client: this.client,
      share: this.shareName,
      remote: this.remote,
      window: this.window,
      active: this.active,
      queued: this.queue.length,
      requests: this.requests,
      protocolErrors: this.protocolErrors,
      busyReplies: this.busyReplies,
    };
  }

  private send(records: NasRecord[]): void {
    if (this.closed) return;
    this.ws.send(encodeNasMessage(records), { binary: true }, () => this.pump());
  }

  private protocolError(id: number, code: string, message: string): void {
    this.protocolErrors++;
    this.send([nasErrorRecord(id, code, message)]);
  }

  private fatal(code: string, message: string): void {
    this.protocolError(0, code, message);
    this.server.log(`nas session ${this.sessionId} from ${this.remote}: ${code}: ${message}; closing`);
    this.closed = true;
    this.ws.close(1008, code);
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    if (this.closed) return;
    if (!isBinary) return this.protocolError(0, NAS_ERROR.UNEXPECTED_RECORD, 'text messages are not part of the NAS protocol');
    const parsed = parseNasMessage(data);
    if (!parsed.ok) {
      if (this.store === undefined) return this.fatal(parsed.error.code, parsed.error.message);
      return this.protocolError((parsed.error.details?.id as number | undefined) ?? 0, parsed.error.code, parsed.error.message);
    }
    for (const rec of parsed.value) {
      if (this.closed) return;
      if (rec.type === NAS_RECORD.REQUEST) {
        if (this.store === undefined) return this.fatal(NAS_ERROR.UNEXPECTED_RECORD, 'REQUEST before HELLO');
        this.onRequest(rec);
      } else if (rec.type === NAS_RECORD.HELLO) {
        if (this.store !== undefined) {
          this.protocolError(0, NAS_ERROR.UNEXPECTED_RECORD, 'second HELLO on one connection');
          continue;
        }
        if (rec.version !== NAS_PROTOCOL_VERSION) return this.fatal(NAS_ERROR.BAD_HELLO, `protocol version ${rec.version} not supported (speaks ${NAS_PROTOCOL_VERSION})`);
        if (rec.maxInFlight < 1 || rec.maxInFlight > NAS_MAX_IN_FLIGHT) return this.fatal(NAS_ERROR.BAD_HELLO, `requested window ${rec.maxInFlight} outside 1..${NAS_MAX_IN_FLIGHT}`);
        const store = this.server.opts.share(rec.share);
        if (store === undefined) return this.fatal(NAS_ERROR.NO_SUCH_SHARE, `no share "${rec.share}" on this array`);
        clearTimeout(this.helloTimer);
        this.store = store;
        this.client = rec.client;
        this.shareName = rec.share;
        this.window = Math.min(rec.maxInFlight, this.server.maxInFlight);
        this.send([
          {
            type: NAS_RECORD.HELLO_ACK,
            version: NAS_PROTOCOL_VERSION,
            maxInFlight: this.window,
            sessionId: this.sessionId,
            maxIoBytes: NAS_MAX_IO_BYTES,
            maxReaddirEntries: NAS_MAX_READDIR_ENTRIES,
            rootId: NAS_ROOT_ID,
            capacityBytes: store.capacityBytes,
          },
        ]);
        this.server.log(`nas session ${this.sessionId}: client ${rec.client} on share ${rec.share} from ${this.remote}, window ${this.window}`);
      } else {
        this.protocolError(0, NAS_ERROR.UNEXPECTED_RECORD, `record type ${rec.type} is not sent by clients`);
      }
    }
  }

  private onRequest(req: NasRequest): void {
    if (this.activeIds.has(req.id) || this.queue.some((q) => q.id === req.id)) {
      this.protocolError(req.id, NAS_ERROR.DUPLICATE_ID, `request id ${req.id} is still in flight`);
      return;
    }
    if (this.queue.length >= NAS_MAX_QUEUED_REQUESTS) {
      this.busyReplies++;
      this.send([{ type: NAS_RECORD.REPLY, id: req.id, op: req.op, flags: 0, status: NAS_STATUS.JUKEBOX, attrs: undefined, value: 0, data: undefined }]);
      return;
    }
    // the WRITE data is a view into the message buffer, which ws does not reuse: safe to keep while queued
    this.queue.push(req);
    this.pump();
  }

  /** Starts queued requests while the window and the send buffer allow; pauses reading while any wait. */
  private pump(): void {
    while (!this.closed && this.queue.length > 0 && this.active < this.window && this.ws.bufferedAmount < NAS_MAX_SEND_BUFFER_BYTES) {
      this.start(this.queue.shift()!);
    }
    const shouldPause = this.queue.length > 0;
    if (shouldPause !== this.paused && !this.closed) {
      this.paused = shouldPause;
      if (shouldPause) this.ws.pause();
      else this.ws.resume();
    }
  }

  private start(req: NasRequest): void {
    this.active++;
    this.activeIds.add(req.id);
    this.requests++;
    executeNasRequest(this.store!, req)
      .then(
        (reply) => this.send([reply]),
        (e: unknown) => {
          this.server.log(`nas session ${this.sessionId}: request ${req.id} failed: ${e instanceof Error ? e.message : String(e)}`);
          this.send([{ type: NAS_RECORD.REPLY, id: req.id, op: req.op, flags: 0, status: NAS_STATUS.IO, attrs: undefined, value: 0, data: undefined }]);
        },
      )
      .finally(() => {
        this.active--;
        this.activeIds.delete(req.id);
        this.pump();
      });
  }
}


/** Folder of the NAS LevelDB inside the array's data dir (next to the LUNs' LevelDB files). */
export const NAS_STORE_DIR = 'nas';

export interface NasService {
  server: NasServer;
  shares: Map<string, ShareStore>;
  /** Per-share usage and per-session counters, for GET /control/status. */
  status(): { shares: Array<{ name: string } & ShareStats>; sessions: NasSessionInfo[] };
  close(): Promise<void>;
}

/**
 * Opens the shares of an array (LevelDB in `<dataDir>/nas/`, or memory without dataDir) and the server
 * for them. With no shares nothing is opened on disk and every HELLO answers NO_SUCH_SHARE.
 */
export async function openNasService(opts: { dataDir: string | undefined; shares: ShareSpec[]; token: string; maxInFlight?: number; log?: (line: string) => void }): Promise<NasService> {
  validateShares(opts.shares);
  const kv: NasKv = opts.shares.length === 0 ? new MemoryNasKv() : opts.dataDir === undefined ? new MemoryNasKv() : await LevelNasKv.open(join(opts.dataDir, NAS_STORE_DIR));
  let shares: Map<string, ShareStore>;
  try {
    shares = await openShares(kv, opts.shares, wallClockNs);
  } catch (e) {
    await kv.close();
    throw e;
  }
  const server = new NasServer({ token: opts.token, share: (name) => shares.get(name), ...(opts.maxInFlight !== undefined ? { maxInFlight: opts.maxInFlight } : {}), ...(opts.log ? { log: opts.log } : {}) });
  return {
    server,
    shares,
    status: () => ({ shares: [...shares].map(([name, s]) => ({ name, ...s.stats() })), sessions: server.sessions() }),
    close: async () => {
      server.close();
      await kv.close();
    },
  };
}

/** Wall-clock nanoseconds (millisecond resolution; the share store keeps mtimes strictly increasing). */
const wallClockNs = (): bigint => BigInt(Date.now()) * 1_000_000n;
