// Server side of the vfab block protocol (lib/storage/protocol.ts, docs/block-protocol.md): accepts
// authenticated WebSocket upgrades on /block, runs one session per connection (identity = initiator name
// from HELLO), hands COMMANDs to a ScsiTarget (callback `submit` when it has one) and writes the answers of
// one turn with one TCP write, each record its own WebSocket message (docs/block-protocol.md "Batching";
// frames are built in a reused buffer, no record objects on the hot path). Flow control: each session executes at
// most `window` commands at a time; extra commands are queued and the socket is paused (no more reads)
// while the queue is non-empty or the send buffer is above MAX_SEND_BUFFER_BYTES, so a fast sender is
// slowed by TCP instead of growing server memory. Leaves out the array itself, task management, iSCSI.

import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from '../common/ws.js';
import type { ScsiTarget, ScsiResult } from '../../lib/storage/scsi.js';
import { SCSI_STATUS } from '../../lib/storage/scsi.js';
import {
  BLOCK_ERROR,
  BLOCK_PROTOCOL_VERSION,
  BLOCK_WS_PATH,
  MAX_BLOCK_MESSAGE_BYTES,
  MAX_DATA_TRANSFER_BYTES,
  MAX_IN_FLIGHT,
  MessageBuilder,
  RECORD_HEADER_BYTES,
  RECORD_TYPE,
  OFF,
  RecordScan,
  emitRecord,
  emitResponse,
  errorRecord,
  isUnknownRecord,
  parseRecord,
  peekTag,
  recordSize,
  responseRecordBytes,
  scanRecord,
  type BlockRecord,
  type LunEntry,
} from '../../lib/storage/protocol.js';
import type { ScsiCommand } from '../../lib/storage/scsi.js';
import { toFixedSense } from '../../lib/storage/sense.js';
import { isSubmitTarget, type SubmitTarget } from '../../lib/storage/target.js';

/** Commands queued per session beyond the window before new ones get TASK SET FULL. */
export const MAX_QUEUED_COMMANDS = 4 * MAX_IN_FLIGHT;
/** Bytes waiting in a session's send buffer above which the server stops reading from that socket. */
export const MAX_SEND_BUFFER_BYTES = 16 * 1024 * 1024;
/** ws refuses (close 1009) messages above this; between MAX_BLOCK_MESSAGE_BYTES and this, an ERROR. */
export const WS_MAX_PAYLOAD_BYTES = 2 * MAX_BLOCK_MESSAGE_BYTES;
/** Time a connection has to send its HELLO. */
export const HELLO_TIMEOUT_MS = 10_000;

export interface BlockServerOptions {
  target: ScsiTarget;
  token: string;
  /** Largest window granted (default and cap MAX_IN_FLIGHT). */
  maxInFlight?: number;
  /** LUN snapshot for HELLO_ACK. */
  luns?: () => LunEntry[];
  log?: (line: string) => void;
  /** Called when the last connection of an initiator closes (the array releases its SPC-2 reservations). */
  onInitiatorGone?: (initiator: string) => void;
}

export interface BlockSessionInfo {
  sessionId: number;
  initiator: string | undefined;
  remote: string;
  window: number;
  active: number;
  queued: number;
  paused: boolean;
  pauses: number;
  commands: number;
  protocolErrors: number;
  bytesIn: number;
  bytesOut: number;
}

/** Checks `Authorization: Bearer <token>` or `?token=` on an HTTP request. */
export function requestHasToken(req: IncomingMessage, token: string): boolean {
  const auth = req.headers.authorization;
  if (auth !== undefined && auth === `Bearer ${token}`) return true;
  const q = req.url?.indexOf('?') ?? -1;
  if (q >= 0) {
    const params = new URLSearchParams(req.url!.slice(q + 1));
    if (params.get('token') === token) return true;
  }
  return false;
}

/** Bytes of the header of an unmasked WebSocket frame carrying `payloadBytes` (RFC 6455 §5.2). */
function wsFrameHeaderBytes(payloadBytes: number): number {
  return payloadBytes < 126 ? 2 : payloadBytes <= 0xffff ? 4 : 10;
}

/** Writes the header of a final, unmasked, binary WebSocket frame (server to client, RFC 6455 §5.2). */
function writeWsFrameHeader(buf: Buffer, at: number, payloadBytes: number): void {
  buf[at] = 0x82; // FIN + opcode 2 (binary)
  if (payloadBytes < 126) buf[at + 1] = payloadBytes;
  else if (payloadBytes <= 0xffff) {
    buf[at + 1] = 126;
    buf.writeUInt16BE(payloadBytes, at + 2);
  } else {
    buf[at + 1] = 127;
    buf.writeUInt32BE(0, at + 2);
    buf.writeUInt32BE(payloadBytes, at + 6);
  }
}

function refuse(socket: Duplex, status: number, code: string, message: string): void {
  const body = JSON.stringify({ error: { code, message } });
  socket.end(
    `HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : 'Not Found'}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

export class BlockServer {
  private readonly wss: WebSocketServer;
  private readonly sessionsById = new Map<number, BlockSession>();
  private nextSessionId = 1;
  readonly maxInFlight: number;

  constructor(readonly opts: BlockServerOptions) {
    this.maxInFlight = Math.min(Math.max(1, opts.maxInFlight ?? MAX_IN_FLIGHT), MAX_IN_FLIGHT);
    this.wss = new WebSocketServer({ noServer: true, maxPayload: WS_MAX_PAYLOAD_BYTES, perMessageDeflate: false });
  }

  /** Handles an HTTP upgrade; returns false if the path is not the block path (caller handles it). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const path = (req.url ?? '').split('?')[0];
    if (path !== BLOCK_WS_PATH) return false;
    if (!requestHasToken(req, this.opts.token)) {
      refuse(socket, 401, BLOCK_ERROR.UNAUTHORIZED, 'missing or wrong fabric token');
      return true;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const id = this.nextSessionId++;
      const s = new BlockSession(this, id, ws, `${req.socket.remoteAddress}:${req.socket.remotePort}`);
      this.sessionsById.set(id, s);
      ws.on('close', () => {
        this.sessionsById.delete(id);
        const who = s.initiator;
        if (who !== undefined && ![...this.sessionsById.values()].some((o) => o.initiator === who)) this.opts.onInitiatorGone?.(who);
      });
    });
    return true;
  }

  sessions(): BlockSessionInfo[] {
    return [...this.sessionsById.values()].map((s) => s.info());
  }

  log(line: string): void {
    this.opts.log?.(line);
  }

  /** Closes every session (in-flight commands finish inside the target; their responses are dropped). */
  close(): void {
    for (const s of this.sessionsById.values()) s.ws.terminate();
    this.sessionsById.clear();
    this.wss.close();
  }
}

/** One received COMMAND: the ScsiCommand handed to the target and, with its tag, the submit context. */
class SessionCommand implements ScsiCommand {
  constructor(
    readonly tag: number,
    readonly initiator: string,
    readonly lun: number,
    readonly cdb: Uint8Array,
    readonly dataOut: Uint8Array | undefined,
  ) {}
}

class BlockSession {
  initiator: string | undefined;
  window = 0;
  private active = 0;
  private readonly activeTags = new Set<number>();
  private readonly queue: SessionCommand[] = [];
  /** Records answered in this turn, already encoded: sent as one message when the turn ends. */
  private readonly out = new MessageBuilder();
  private readonly scan = new RecordScan();
  private flushScheduled = false;
  private pausedForQueue = false;
  private pausedForSend = false;
  private closed = false;
  private pauses = 0;
  private commands = 0;
  private protocolErrors = 0;
  private bytesIn = 0;
  private bytesOut = 0;
  private readonly helloTimer: NodeJS.Timeout;
  private readonly flushBound = (): void => this.flush();
  private readonly onDrainBound = (): void => this.onDrain();
  /** The target's callback entry (hot path) when it has one: one bound function per session, none per command. */
  private readonly submitTarget: SubmitTarget | undefined;
  private readonly onSubmittedBound = (cmd: SessionCommand, res: ScsiResult): void => this.complete(cmd.tag, res);
  /** ws calls this when a sent message has been written: its buffer goes back to the builder. */
  private readonly onWrittenBound = (): void => this.out.written();

  constructor(
    private readonly server: BlockServer,
    readonly sessionId: number,
    readonly ws: WebSocket,
    private readonly remote: string,
  ) {
    ws.binaryType = 'nodebuffer';
    this.submitTarget = isSubmitTarget(server.opts.target) ? server.opts.target : undefined;
    ws.on('message', (data, isBinary) => this.onMessage(data as Buffer, isBinary));
    ws.on('close', () => this.onClose());
    ws.on('error', (e) => server.log(`block session ${sessionId}: ${e.message}`));
    this.helloTimer = setTimeout(() => {
      if (this.initiator === undefined) this.fatal(0, BLOCK_ERROR.HANDSHAKE_TIMEOUT, `no HELLO within ${HELLO_TIMEOUT_MS} ms`);
    }, HELLO_TIMEOUT_MS);
  }

  info(): BlockSessionInfo {
    return {
      sessionId: this.sessionId,
      initiator: this.initiator,
      remote: this.remote,
      window: this.window,
      active: this.active,
      queued: this.queue.length,
      paused: this.pausedForQueue || this.pausedForSend,
      pauses: this.pauses,
      commands: this.commands,
      protocolErrors: this.protocolErrors,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
    };
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    if (this.closed) return;
    this.bytesIn += data.length;
    if (!isBinary) {
      this.protocolError(0, BLOCK_ERROR.UNEXPECTED_RECORD, 'text messages are not part of the block protocol');
      return;
    }
    if (data.length > MAX_BLOCK_MESSAGE_BYTES) {
      this.protocolError(peekTag(data), BLOCK_ERROR.MESSAGE_TOO_LARGE, `message of ${data.length} bytes exceeds ${MAX_BLOCK_MESSAGE_BYTES}`);
      return;
    }
    if (data.length === 0) {
      this.protocolError(0, BLOCK_ERROR.EMPTY_MESSAGE, 'message holds no records');
      return;
    }
    // Framing first: a broken record boundary makes the rest unreadable, so nothing in the message runs.
    let offset = 0;
    while (offset < data.length) {
      const left = data.length - offset;
      const recordBytes = left >= RECORD_HEADER_BYTES ? data.readUInt32BE(offset + OFF.recordBytes) : 0;
      if (left < RECORD_HEADER_BYTES || recordBytes < RECORD_HEADER_BYTES || recordBytes > left) {
        this.fatal(peekTag(data, offset), BLOCK_ERROR.TRUNCATED, `record at offset ${offset} is truncated or has a bad length`);
        return;
      }
      offset += recordBytes;
    }
    offset = 0;
    const scan = this.scan;
    while (offset < data.length && !this.closed) {
      const recordBytes = data.readUInt32BE(offset + OFF.recordBytes);
      if (this.initiator !== undefined && scanRecord(data, offset, scan) && scan.type === RECORD_TYPE.COMMAND) {
        // Hot path: a well-formed COMMAND after the handshake, without building a record.
        const cdb = data.subarray(scan.cdbOffset, scan.cdbOffset + scan.cdbBytes);
        const dataOut = scan.dataBytes > 0 ? data.subarray(scan.dataOffset, scan.dataOffset + scan.dataBytes) : undefined;
        this.onCommand(new SessionCommand(scan.tag, this.initiator, scan.lun, cdb, dataOut));
        offset += recordBytes;
        continue;
      }
      const r = parseRecord(data, offset);
      if (!r.ok) {
        const tag = (r.error.details?.tag as number | undefined) ?? peekTag(data, offset);
        if (this.initiator === undefined) this.fatal(tag, r.error.code, r.error.message);
        else this.protocolError(tag, r.error.code, r.error.message);
      } else {
        this.onRecord(r.value.record);
      }
      offset += recordBytes;
    }
  }

  private onRecord(rec: BlockRecord): void {
    if (isUnknownRecord(rec)) {
      this.protocolError(0, BLOCK_ERROR.UNKNOWN_RECORD, `record type ${rec.type} is unknown`);
      return;
    }
    if (rec.type === RECORD_TYPE.COMMAND) {
      if (this.initiator === undefined) {
        this.fatal(rec.tag, BLOCK_ERROR.UNEXPECTED_RECORD, 'COMMAND before HELLO');
        return;
      }
      this.onCommand(new SessionCommand(rec.tag, this.initiator, rec.lun, rec.cdb, rec.dataOut));
      return;
    }
    if (rec.type === RECORD_TYPE.HELLO) {
      if (this.initiator !== undefined) {
        this.protocolError(0, BLOCK_ERROR.UNEXPECTED_RECORD, 'second HELLO on one connection (one identity per connection)');
        return;
      }
      if (rec.version !== BLOCK_PROTOCOL_VERSION) {
        this.fatal(0, BLOCK_ERROR.BAD_VERSION, `protocol version ${rec.version} not supported (speaks ${BLOCK_PROTOCOL_VERSION})`);
        return;
      }
      if (rec.maxInFlight < 1 || rec.maxInFlight > MAX_IN_FLIGHT) {
        this.fatal(0, BLOCK_ERROR.BAD_WINDOW, `requested window ${rec.maxInFlight} outside 1..${MAX_IN_FLIGHT}`);
        return;
      }
      clearTimeout(this.helloTimer);
      this.initiator = rec.initiator;
      this.window = Math.min(rec.maxInFlight, this.server.maxInFlight);
      this.enqueueOut({
        type: RECORD_TYPE.HELLO_ACK,
        version: BLOCK_PROTOCOL_VERSION,
        maxInFlight: this.window,
        sessionId: this.sessionId,
        maxDataOutBytes: MAX_DATA_TRANSFER_BYTES,
        maxDataInBytes: MAX_DATA_TRANSFER_BYTES,
        luns: this.server.opts.luns?.() ?? [],
      });
      this.server.log(`block session ${this.sessionId}: initiator ${rec.initiator} from ${this.remote}, window ${this.window}`);
      return;
    }
    this.protocolError(0, BLOCK_ERROR.UNEXPECTED_RECORD, `record type ${rec.type} is not sent by clients`);
  }

  private onCommand(rec: SessionCommand): void {
    if (this.activeTags.has(rec.tag)) {
      this.protocolError(rec.tag, BLOCK_ERROR.DUPLICATE_TAG, `tag ${rec.tag} is already in flight`);
      return;
    }
    this.commands++;
    if (this.active < this.window && this.queue.length === 0) {
      this.run(rec);
      return;
    }
    if (this.queue.length >= MAX_QUEUED_COMMANDS) {
      // Only reachable by a client far beyond its window within already-received bytes.
      this.appendResponse(rec.tag, SCSI_STATUS.TASK_SET_FULL, undefined, undefined);
      return;
    }
    this.activeTags.add(rec.tag);
    this.queue.push(rec);
    if (!this.pausedForQueue) {
      this.pausedForQueue = true;
      this.pauses++;
      this.ws.pause();
    }
  }

  private run(rec: SessionCommand): void {
    this.active++;
    this.activeTags.add(rec.tag);
    const tag = rec.tag;
    if (this.submitTarget !== undefined) {
      this.submitTarget.submit(rec, rec, this.onSubmittedBound);
      return;
    }
    let p: Promise<ScsiResult>;
    try {
      p = this.server.opts.target.execute(rec);
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(
      (res) => this.complete(tag, res),
      (e: unknown) => this.failed(tag, e),
    );
  }

  private complete(tag: number, res: ScsiResult): void {
    this.active--;
    this.activeTags.delete(tag);
    if (this.closed) return;
    let dataIn = res.dataIn;
    let status: number = res.status;
    let sense = res.sense ? toFixedSense(res.sense) : undefined;
    if (dataIn && dataIn.length > MAX_DATA_TRANSFER_BYTES) {
      // The target produced more than the protocol carries: report it instead of sending a broken record.
      dataIn = undefined;
      status = SCSI_STATUS.CHECK_CONDITION;
      sense = toFixedSense({ key: 0x5, asc: 0x24, ascq: 0x00 });
    }
    this.appendResponse(tag, status, sense, dataIn);
    this.drainQueue();
  }

  private failed(tag: number, e: unknown): void {
    this.active--;
    this.activeTags.delete(tag);
    if (this.closed) return;
    const message = e instanceof Error ? e.message : String(e);
    this.server.log(`block session ${this.sessionId}: target failed tag ${tag}: ${message}`);
    this.enqueueOut(errorRecord(tag, BLOCK_ERROR.TARGET_FAILED, message));
    this.drainQueue();
  }

  private drainQueue(): void {
    while (this.active < this.window && this.queue.length > 0) {
      const next = this.queue.shift()!;
      this.activeTags.delete(next.tag);
      this.run(next);
    }
    if (this.queue.length === 0 && this.pausedForQueue) {
      this.pausedForQueue = false;
      if (!this.pausedForSend) this.ws.resume();
    }
  }

  /** Encodes a RESPONSE, framed, straight into this turn's output (no record object). */
  private appendResponse(tag: number, status: number, sense: Uint8Array | undefined, dataIn: Uint8Array | undefined): void {
    const size = responseRecordBytes(sense === undefined ? 0 : sense.length, dataIn === undefined ? 0 : dataIn.length);
    const at = this.reserveFrame(size);
    emitResponse(this.out.buffer, at, tag, status, sense, dataIn);
  }

  private enqueueOut(rec: BlockRecord): void {
    const at = this.reserveFrame(recordSize(rec));
    emitRecord(this.out.buffer, at, rec);
  }

  /**
   * Reserves a WebSocket binary frame for one record of `recordBytes` in the turn's output, writes the
   * frame header and returns where the record goes. Each record is its own WebSocket message (see flush).
   */
  private reserveFrame(recordBytes: number): number {
    const headerBytes = wsFrameHeaderBytes(recordBytes);
    if (this.out.bytes + headerBytes + recordBytes > MAX_BLOCK_MESSAGE_BYTES) this.flush();
    const at = this.out.reserve(headerBytes + recordBytes);
    writeWsFrameHeader(this.out.buffer, at, recordBytes);
    this.bytesOut += recordBytes;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushBound);
    }
    return at + headerBytes;
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.out.bytes === 0 || this.closed) {
      this.out.discard();
      return;
    }
    this.writeOut(this.onWrittenBound);
    if (this.ws.bufferedAmount > MAX_SEND_BUFFER_BYTES && !this.pausedForSend) {
      // The client is not reading its responses: stop reading its commands until the socket drains.
      this.pausedForSend = true;
      this.pauses++;
      this.ws.pause();
      const sock = (this.ws as unknown as { _socket?: Duplex })._socket;
      if (sock) sock.once('drain', this.onDrainBound);
      else this.onDrain();
    }
  }

  /**
   * Sends the turn's output: one WebSocket message per record, all in one TCP write. With one message per
   * record the client's ws hands most messages over as views of the chunk it read, where one message
   * spanning several socket reads is copied into a fresh buffer (allocation, memcpy and, at tens of MB/s,
   * major GCs for the external memory); one write per turn keeps one syscall per turn. The frames are
   * already in the buffer (RFC 6455 §5.2, server to client: FIN, binary, unmasked), so the buffer goes
   * to the socket as is when ws has nothing of its own queued (always, without permessage-deflate);
   * otherwise each record goes through ws.send. `done` runs once the bytes are written.
   */
  private writeOut(done: (err?: Error | null) => void): void {
    const buf = this.out.take();
    const ws = this.ws as unknown as { _socket?: Duplex; _sender?: { _state?: number; _queue?: unknown[] } };
    const sock = ws._socket;
    const sender = ws._sender;
    if (this.ws.readyState !== this.ws.OPEN) {
      done();
      return;
    }
    if (sock !== undefined && sender !== undefined && sender._state === 0 && sender._queue !== undefined && sender._queue.length === 0) {
      sock.write(buf, done);
      return;
    }
    let off = 0;
    while (off < buf.length) {
      const headerBytes = buf[off + 1]! === 126 ? 4 : buf[off + 1]! === 127 ? 10 : 2;
      const n = buf.readUInt32BE(off + headerBytes + OFF.recordBytes);
      const last = off + headerBytes + n >= buf.length;
      this.ws.send(buf.subarray(off + headerBytes, off + headerBytes + n), { binary: true }, last ? done : undefined);
      off += headerBytes + n;
    }
  }

  private onDrain(): void {
    this.pausedForSend = false;
    if (!this.pausedForQueue && !this.closed) this.ws.resume();
  }

  private protocolError(tag: number, code: string, message: string): void {
    this.protocolErrors++;
    this.enqueueOut(errorRecord(tag, code, message));
  }

  /** Sends an ERROR and closes the connection (used before the handshake and for broken framing). */
  private fatal(tag: number, code: string, message: string): void {
    if (this.closed) return;
    this.protocolErrors++;
    this.server.log(`block session ${this.sessionId}: closing: ${code}: ${message}`);
    this.enqueueOut(errorRecord(tag, code, message));
    this.flushScheduled = false; // the setImmediate finds the session closed and does nothing
    this.closed = true;
    this.queue.length = 0;
    clearTimeout(this.helloTimer);
    this.writeOut(() => this.ws.close(1002, code.slice(0, 100)));
  }

  private onClose(): void {
    this.closed = true;
    clearTimeout(this.helloTimer);
    this.queue.length = 0;
    this.out.discard();
  }
}
