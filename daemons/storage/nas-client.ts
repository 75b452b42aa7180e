// Client side of the vfab NAS protocol (docs/nas-protocol.md): one authenticated WebSocket connection to
// one share, pipelined requests matched by request id (replies may come out of order). Never has more
// requests outstanding than the window the server granted; extra calls wait in a local queue bounded by
// NAS_CLIENT_MAX_QUEUED (beyond it a call fails at once with VFAB_NAS_BAD_REQUEST). On disconnect every
// in-flight and queued call fails with VFAB_NAS_DISCONNECTED. `request` returns the raw REPLY (any status);
// the named calls (lookup, create, read, ...) resolve with the useful part on OK and reject with
// VFAB_NAS_STATUS (details.status = the status name, e.g. "EXIST") otherwise. EXCLUSIVE creates carry a
// random verifier, so a retransmitted create of the same call succeeds and another client's does not.
// Leaves out reconnection, retry on JUKEBOX, and mounting (daemons/datastore/nas-datastores.ts mounts a
// share as a host's datastore, reconnecting when it comes back).

import { randomInt } from 'node:crypto';
import { WebSocket } from '../common/ws.js';
import { VfabError } from '../../lib/errors.js';
import {
  NAS_CREATE,
  NAS_DEFAULT_IN_FLIGHT,
  NAS_ERROR,
  NAS_MAX_IN_FLIGHT,
  NAS_MAX_MESSAGE_BYTES,
  NAS_OP,
  NAS_PROTOCOL_VERSION,
  NAS_RECORD,
  NAS_REPLY_EOF,
  NAS_STATUS,
  NAS_STATUS_NAME,
  NAS_WRITE_STABLE,
  encodeNasMessage,
  parseDirents,
  parseNasMessage,
  type NasAttrs,
  type NasDirent,
  type NasHelloAck,
  type NasOp,
  type NasReply,
  type NasRequest,
} from '../../lib/nas/protocol.js';

/** Time allowed for the WebSocket upgrade plus HELLO/HELLO_ACK. */
export const NAS_CONNECT_TIMEOUT_MS = 10_000;
/** Calls waiting locally for a window slot. */
export const NAS_CLIENT_MAX_QUEUED = 4096;

export interface NasClientOptions {
  /** ws://127.0.0.1:PORT/nas */
  url: string;
  token: string;
  share: string;
  client: string;
  /** Window to ask for (default NAS_DEFAULT_IN_FLIGHT); the server may grant less. */
  maxInFlight?: number;
  connectTimeoutMs?: number;
}

export type NasRequestArgs = Omit<NasRequest, 'type' | 'id' | 'opFlags' | 'arg' | 'count' | 'name' | 'name2' | 'data'> &
  Partial<Pick<NasRequest, 'opFlags' | 'arg' | 'count' | 'name' | 'name2' | 'data'>>;

interface Call {
  req: NasRequest;
  resolve: (r: NasReply) => void;
  reject: (e: VfabError) => void;
}

/**
 * What a NasClient needs of its connection when it is not a WebSocket (the simulation's in-process socket,
 * daemons/sim/storage.ts): 'message' (one binary message), 'close' and 'error' events, send, close, and
 * readyState 3 once closed.
 */
export interface NasSocket {
  on(event: string, listener: (...args: any[]) => void): unknown;
  once(event: string, listener: (...args: any[]) => void): unknown;
  send(data: Buffer): void;
  close(): void;
  readonly readyState: number;
}

function statusError(op: NasOp, r: NasReply): VfabError {
  const name = NAS_STATUS_NAME[r.status] ?? String(r.status);
  return new VfabError(NAS_ERROR.STATUS, `NAS operation ${op} answered ${name}`, { status: name, op });
}

export class NasClient {
  private readonly inFlight = new Map<number, Call>();
  private readonly queue: Call[] = [];
  private nextId = 1;
  private closedError: VfabError | undefined;
  /** ERROR records the server sent (protocol errors), newest last, at most 64 kept. */
  readonly serverErrors: Array<{ id: number; code: string; message: string }> = [];

  private constructor(
    private readonly ws: WebSocket,
    readonly ack: NasHelloAck,
  ) {
    ws.on('message', (data) => this.onMessage(data as Buffer));
    ws.on('close', () => this.failAll(new VfabError(NAS_ERROR.DISCONNECTED, 'NAS connection closed')));
    ws.on('error', () => {});
  }

  get rootId(): number {
    return this.ack.rootId;
  }
  get window(): number {
    return this.ack.maxInFlight;
  }
  get outstanding(): number {
    return this.inFlight.size;
  }

  /** A client over a connection whose handshake is done (HELLO_ACK `ack` received). */
  static attach(socket: NasSocket, ack: NasHelloAck): NasClient {
    return new NasClient(socket as unknown as WebSocket, ack);
  }

  static connect(opts: NasClientOptions): Promise<NasClient> {
    const maxInFlight = opts.maxInFlight ?? NAS_DEFAULT_IN_FLIGHT;
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1 || maxInFlight > NAS_MAX_IN_FLIGHT) {
      return Promise.reject(new VfabError(NAS_ERROR.BAD_REQUEST, `maxInFlight ${maxInFlight} outside 1..${NAS_MAX_IN_FLIGHT}`));
    }
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(opts.url, { headers: { authorization: `Bearer ${opts.token}` }, maxPayload: NAS_MAX_MESSAGE_BYTES, perMessageDeflate: false });
      ws.binaryType = 'nodebuffer';
      let settled = false;
      const done = (e: VfabError | undefined, c?: NasClient): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        ws.removeListener('message', onFirst);
        if (e) {
          ws.terminate();
          reject(e);
        } else resolve(c!);
      };
      const timer = setTimeout(() => done(new VfabError(NAS_ERROR.HANDSHAKE_TIMEOUT, `no HELLO_ACK from ${opts.url}`)), opts.connectTimeoutMs ?? NAS_CONNECT_TIMEOUT_MS);
      const onFirst = (data: Buffer): void => {
        const p = parseNasMessage(data);
        const rec = p.ok ? p.value[0] : undefined;
        if (rec?.type === NAS_RECORD.HELLO_ACK) done(undefined, new NasClient(ws, rec));
        else if (rec?.type === NAS_RECORD.ERROR) done(new VfabError(rec.code, rec.message));
        else done(new VfabError(NAS_ERROR.UNEXPECTED_RECORD, 'first server message is not HELLO_ACK'));
      };
      ws.on('message', onFirst);
      ws.once('unexpected-response', (_req, res) => done(new VfabError(res.statusCode === 401 ? NAS_ERROR.UNAUTHORIZED : NAS_ERROR.DISCONNECTED, `HTTP ${res.statusCode} from ${opts.url}`)));
      ws.once('error', (e) => done(new VfabError(NAS_ERROR.DISCONNECTED, `cannot connect to ${opts.url}: ${e.message}`)));
      ws.once('close', () => done(new VfabError(NAS_ERROR.DISCONNECTED, `${opts.url} closed during the handshake`)));
      ws.once('open', () => ws.send(encodeNasMessage([{ type: NAS_RECORD.HELLO, version: NAS_PROTOCOL_VERSION, maxInFlight, share: opts.share, client: opts.client }])));
    });
  }

  /** Sends one request (queued locally while the window is full) and resolves with its REPLY. */
  request(args: NasRequestArgs): Promise<NasReply> {
    if (this.closedError) return Promise.reject(this.closedError);
    if (this.queue.length >= NAS_CLIENT_MAX_QUEUED) return Promise.reject(new VfabError(NAS_ERROR.BAD_REQUEST, `${NAS_CLIENT_MAX_QUEUED} calls already wait for the window`));
    const req: NasRequest = { type: NAS_RECORD.REQUEST, id: 0, opFlags: 0, arg: 0, count: 0, name: '', name2: '', data: undefined, ...args };
    return new Promise((resolve, reject) => {
      this.queue.push({ req, resolve, reject });
      this.pump();
    });
  }

  /** Sends queued calls while the window allows, several per message but no message over NAS_MAX_MESSAGE_BYTES. */
  private pump(): void {
    const parts: Buffer[] = [];
    let bytes = 0;
    while (this.queue.length > 0 && this.inFlight.size < this.ack.maxInFlight) {
      const call = this.queue.shift()!;
      while (this.inFlight.has(this.nextId) || this.nextId === 0) this.nextId = (this.nextId + 1) >>> 0;
      call.req.id = this.nextId;
      this.nextId = (this.nextId + 1) >>> 0;
      let encoded: Buffer;
      try {
        encoded = encodeNasMessage([call.req]); // refuses a bad argument here, for this call only
      } catch (e) {
        call.reject(e instanceof VfabError ? e : new VfabError(NAS_ERROR.BAD_REQUEST, String(e)));
        continue;
      }
      if (bytes + encoded.length > NAS_MAX_MESSAGE_BYTES) {
        this.ws.send(Buffer.concat(parts, bytes));
        parts.length = 0;
        bytes = 0;
      }
      this.inFlight.set(call.req.id, call);
      parts.push(encoded);
      bytes += encoded.length;
    }
    if (parts.length > 0) this.ws.send(parts.length === 1 ? parts[0]! : Buffer.concat(parts, bytes));
  }

  private onMessage(data: Buffer): void {
    const p = parseNasMessage(data);
    if (!p.ok) {
      this.serverErrors.push({ id: 0, code: p.error.code, message: `unreadable server message: ${p.error.message}` });
      return;
    }
    for (const rec of p.value) {
      if (rec.type === NAS_RECORD.REPLY) {
        const call = this.inFlight.get(rec.id);
        if (call === undefined) continue;
        this.inFlight.delete(rec.id);
        // a reply's data is a view into the message buffer: copy so callers may keep it
        call.resolve(rec.data ? { ...rec, data: Buffer.from(rec.data) } : rec);
      } else if (rec.type === NAS_RECORD.ERROR) {
        if (this.serverErrors.length >= 64) this.serverErrors.shift();
        this.serverErrors.push({ id: rec.id, code: rec.code, message: rec.message });
        const call = rec.id !== 0 ? this.inFlight.get(rec.id) : undefined;
        if (call) {
          this.inFlight.delete(rec.id);
          call.reject(new VfabError(rec.code, rec.message));
        }
      }
    }
    this.pump();
  }

  private failAll(e: VfabError): void {
    this.closedError = e;
    for (const c of this.inFlight.values()) c.reject(e);
    this.inFlight.clear();
    for (const c of this.queue.splice(0)) c.reject(e);
  }

  /** Sends raw bytes as one message (tests: malformed input). */
  sendRaw(bytes: Uint8Array): void {
    this.ws.send(bytes);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.ws.readyState === WebSocket.CLOSED) return resolve();
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }

  // ---- named calls: resolve on OK, reject with VFAB_NAS_STATUS otherwise ----------------------------

  private async ok(args: NasRequestArgs): Promise<NasReply> {
    const r = await this.request(args);
    if (r.status !== NAS_STATUS.OK) throw statusError(args.op, r);
    return r;
  }

  async getattr(fileId: number): Promise<NasAttrs> {
    return (await this.ok({ op: NAS_OP.GETATTR, fileId })).attrs!;
  }
  async lookup(dirId: number, name: string): Promise<NasAttrs> {
    return (await this.ok({ op: NAS_OP.LOOKUP, fileId: dirId, name })).attrs!;
  }
  /** CREATE; mode GUARDED by default (EXIST if the name is taken). */
  async create(dirId: number, name: string, mode: number = NAS_CREATE.GUARDED): Promise<NasAttrs> {
    const arg = mode === NAS_CREATE.EXCLUSIVE ? randomInt(1, 2 ** 47) : 0;
    return (await this.ok({ op: NAS_OP.CREATE, fileId: dirId, name, opFlags: mode, arg })).attrs!;
  }
  async mkdir(dirId: number, name: string): Promise<NasAttrs> {
    return (await this.ok({ op: NAS_OP.MKDIR, fileId: dirId, name })).attrs!;
  }
  async read(fileId: number, offset: number, count: number): Promise<{ data: Buffer; eof: boolean }> {
    const r = await this.ok({ op: NAS_OP.READ, fileId, arg: offset, count });
    return { data: r.data ? Buffer.from(r.data) : Buffer.alloc(0), eof: (r.flags & NAS_REPLY_EOF) !== 0 };
  }
  /** WRITE; stable (default) means on disk before the reply. */
  async write(fileId: number, offset: number, data: Uint8Array, stable = true): Promise<NasAttrs> {
    return (await this.ok({ op: NAS_OP.WRITE, fileId, arg: offset, data, opFlags: stable ? NAS_WRITE_STABLE : 0 })).attrs!;
  }
  async commit(fileId: number): Promise<void> {
    await this.ok({ op: NAS_OP.COMMIT, fileId });
  }
  async setSize(fileId: number, size: number): Promise<NasAttrs> {
    return (await this.ok({ op: NAS_OP.SETATTR, fileId, arg: size })).attrs!;
  }
  async remove(dirId: number, name: string): Promise<void> {
    await this.ok({ op: NAS_OP.REMOVE, fileId: dirId, name });
  }
  async rename(fromDir: number, name: string, toDir: number, toName: string): Promise<void> {
    await this.ok({ op: NAS_OP.RENAME, fileId: fromDir, name, arg: toDir, name2: toName });
  }
  /** Every entry of a directory, `pageEntries` per READDIR. */
  async readdirAll(dirId: number, pageEntries = 256): Promise<NasDirent[]> {
    const out: NasDirent[] = [];
    let cookie = 0;
    for (;;) {
      const r = await this.ok({ op: NAS_OP.READDIR, fileId: dirId, arg: cookie, count: pageEntries });
      const entries = parseDirents(r.data ?? new Uint8Array(0));
      if (!entries.ok) throw entries.error;
      out.push(...entries.value);
      if ((r.flags & NAS_REPLY_EOF) !== 0 || entries.value.length === 0) return out;
      cookie = r.value;
    }
  }
}

export const connectNasClient = (opts: NasClientOptions): Promise<NasClient> => NasClient.connect(opts);
