// Server side of the vfab block protocol (lib/storage/protocol.ts, docs/block-protocol.md): accepts
// authenticated WebSocket upgrades on /block, runs one session per connection (identity = initiator name
// from HELLO), hands COMMANDs to a ScsiTarget (callback `submit` when it has one) and writes the answers of
// one turn with one TCP write, each record its own WebSocket message (docs/block-protocol.md "Batching";
// frames are built in a reused buffer, no record objects on the hot path). Flow control: each session executes at
// most `window` commands at a time; extra commands are queued and the socket is paused (no more reads)
// while the queue is non-empty or the send buffer is above MAX_SEND_BUFFER_BYTES, so a fast sender is
// slowed by TCP instead of growing server memory. Across connections, one in-flight byte budget per array
// (MAX_ARRAY_IN_FLIGHT_BYTES: data-out held plus the working memory commandWorkingBytes estimates) admits
// commands; a command that does not fit waits in its session's bounded queue, and sessions take turns
// (round robin, one command each) as the budget frees, so a greedy client cannot starve another. When a
// connection closes, its queued commands are dropped and its running ones are marked aborted (the target
// answers TASK ABORTED instead of touching the medium when it reaches them). Connections are capped at
// MAX_BLOCK_SESSIONS. Leaves out the array itself, task management functions, iSCSI.

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
import { commandWorkingBytes, isSubmitTarget, type SubmitDone, type SubmitTarget } from '../../lib/storage/target.js';
import { refuseSocket, requestAuthorized } from '../common/http-guard.js';

/** Commands queued per session beyond the window before new ones get TASK SET FULL. */
export const MAX_QUEUED_COMMANDS = 4 * MAX_IN_FLIGHT;
/** Bytes waiting in a session's send buffer above which the server stops reading from that socket. */
export const MAX_SEND_BUFFER_BYTES = 16 * 1024 * 1024;
/** ws refuses (close 1009) messages above this; between MAX_BLOCK_MESSAGE_BYTES and this, an ERROR. */
export const WS_MAX_PAYLOAD_BYTES = 2 * MAX_BLOCK_MESSAGE_BYTES;
/** Time a connection has to send its HELLO. */
export const HELLO_TIMEOUT_MS = 10_000;
/**
 * Bytes the commands an array runs at once may hold, over all its connections: each command counts its
 * data-out plus commandWorkingBytes (data-in, compare read, WRITE SAME batch) plus COMMAND_BASE_COST_BYTES.
 * A command that does not fit waits (queued, its socket paused); one command always runs when none does.
 */
export const MAX_ARRAY_IN_FLIGHT_BYTES = 64 * 1024 * 1024;
/** What a command costs beyond its data: record, CDB, sense, result and bookkeeping. */
export const COMMAND_BASE_COST_BYTES = 1024;
/** Block protocol connections one array serves at once (hosts x paths); more get HTTP 503. */
export const MAX_BLOCK_SESSIONS = 64;

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
  /** In-flight byte budget of the array (default MAX_ARRAY_IN_FLIGHT_BYTES; tests use smaller ones). */
  inFlightBytes?: number;
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

/** Checks `Authorization: Bearer <token>` or `?token=` on an HTTP request (constant time, raw text). */
export function requestHasToken(req: IncomingMessage, token: string): boolean {
  return requestAuthorized(req, token);
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
  refuseSocket(socket, status, status === 401 ? 'Unauthorized' : status === 503 ? 'Service Unavailable' : 'Not Found', JSON.stringify({ error: { code, message } }));
}

/**
 * Runs one command on the array's target, the way every transport does: through the target's callback
 * entry when it has one (`submit`, the hot path), else `execute`; `done` gets the result, `failed` a thrown
 * or rejected error.
 */
export function runOnTarget<C extends ScsiCommand>(target: ScsiTarget, submit: SubmitTarget | undefined, cmd: C, done: SubmitDone<C>, failed: (cmd: C, e: unknown) => void): void {
  if (submit !== undefined) {
    submit.submit(cmd, cmd, done);
    return;
  }
  let p: Promise<ScsiResult>;
  try {
    p = target.execute(cmd);
  } catch (e) {
    p = Promise.reject(e);
  }
  p.then(
    (res) => done(cmd, res),
    (e: unknown) => failed(cmd, e),
  );
}

/** How admit() answers: run now, wait for the budget, or wait for this session's turn. */
export const ADMIT = { RUN: 0, FULL: 1, TURN: 2 } as const;
export type Admit = (typeof ADMIT)[keyof typeof ADMIT];

/** A connection of any transport (block protocol, iSCSI) that runs commands under the array's budget. */
export interface BudgetSession {
  /** In the budget's FIFO (InFlightBudget keeps it). */
  waitingForBudget: boolean;
  readonly isClosed: boolean;
  /** Runs what it has queued while the budget allows; answers why it stopped. */
  drainQueue(): Admit;
}

/**
 * The array-wide in-flight byte budget with a FIFO of sessions waiting for it (each at most once, so the
 * FIFO is bounded by MAX_BLOCK_SESSIONS plus the iSCSI portal's MAX_ISCSI_CONNECTIONS). A session at the head runs one command and goes to the back if
 * it has more; a new command never overtakes waiting sessions.
 */
export class InFlightBudget {
  usedBytes = 0;
  /** Commands that had to wait for the budget or their turn (counted once per wait). */
  waits = 0;
  private readonly waiting: BudgetSession[] = [];

  constructor(readonly limitBytes: number) {}

  get waitingSessions(): number {
    return this.waiting.length;
  }

  admit(session: BudgetSession, costBytes: number): Admit {
    const head = this.waiting[0];
    if (head !== undefined && head !== session) return this.wait(session, ADMIT.TURN);
    if (this.usedBytes > 0 && this.usedBytes + costBytes > this.limitBytes) return this.wait(session, ADMIT.FULL);
    if (head === session) {
      this.waiting.shift();
      session.waitingForBudget = false;
    }
    this.usedBytes += costBytes;
    return ADMIT.RUN;
  }

  private wait(session: BudgetSession, why: Admit): Admit {
    if (!session.waitingForBudget) {
      session.waitingForBudget = true;
      this.waiting.push(session);
      this.waits++;
    }
    return why;
  }

  /** Gives back a finished command's bytes and lets waiting sessions run what now fits, in turn. */
  release(costBytes: number): void {
    this.usedBytes -= costBytes;
    while (this.waiting.length > 0) {
      const s = this.waiting[0]!;
      if (!s.isClosed && s.drainQueue() === ADMIT.FULL) return;
      if (this.waiting[0] === s) {
        // closed, or nothing it can run now (window full, queue empty): it asks again when it can
        this.waiting.shift();
        s.waitingForBudget = false;
      }
    }
  }
}

export class BlockServer {
  private readonly wss: WebSocketServer;
  private readonly sessionsById = new Map<number, BlockSession>();
  private nextSessionId = 1;
  readonly maxInFlight: number;
  readonly budget: InFlightBudget;
  /** Upgrades refused because MAX_BLOCK_SESSIONS connections were open. */
  refusedSessions = 0;

  constructor(readonly opts: BlockServerOptions) {
    this.maxInFlight = Math.min(Math.max(1, opts.maxInFlight ?? MAX_IN_FLIGHT), MAX_IN_FLIGHT);
    this.budget = new InFlightBudget(opts.inFlightBytes ?? MAX_ARRAY_IN_FLIGHT_BYTES);
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
    if (this.sessionsById.size >= MAX_BLOCK_SESSIONS) {
      this.refusedSessions++;
      refuse(socket, 503, BLOCK_ERROR.TOO_MANY_SESSIONS, `${MAX_BLOCK_SESSIONS} block sessions are open (MAX_BLOCK_SESSIONS)`);
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

  /** The array-wide budget: bytes held by running commands, its limit, waits so far, sessions waiting. */
  budgetInfo(): { usedBytes: number; limitBytes: number; waits: number; waitingSessions: number; refusedSessions: number } {
    const b = this.budget;
    return { usedBytes: b.usedBytes, limitBytes: b.limitBytes, waits: b.waits, waitingSessions: b.waitingSessions, refusedSessions: this.refusedSessions };
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
  /** Set when the connection closes while the command runs (the target then skips the medium). */
  aborted = false;
  /** Bytes it holds of the array's in-flight budget while it runs. */
  readonly costBytes: number;
  constructor(
    readonly tag: number,
    readonly initiator: string,
    readonly lun: number,
    readonly cdb: Uint8Array,
    readonly dataOut: Uint8Array | undefined,
  ) {
    this.costBytes = COMMAND_BASE_COST_BYTES + (dataOut === undefined ? 0 : dataOut.length) + commandWorkingBytes(cdb);
  }
}

export class BlockSession implements BudgetSession {
  initiator: string | undefined;
  window = 0;
  /** In the budget's FIFO (InFlightBudget keeps it). */
  waitingForBudget = false;
  private active = 0;
  /** Commands received and not answered (queued or running), by tag; aborted when the connection closes. */
  private readonly activeTags = new Map<number, SessionCommand>();
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
  private readonly onSubmittedBound = (cmd: SessionCommand, res: ScsiResult): void => this.complete(cmd, res);
  private readonly onFailedBound = (cmd: SessionCommand, e: unknown): void => this.failed(cmd, e);
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
      const admitted = this.server.budget.admit(this, rec.costBytes);
      if (admitted === ADMIT.RUN) {
        this.run(rec);
        return;
      }
    }
    if (this.queue.length >= MAX_QUEUED_COMMANDS) {
      // Only reachable by a client far beyond its window within already-received bytes.
      this.appendResponse(rec.tag, SCSI_STATUS.TASK_SET_FULL, undefined, undefined);
      return;
    }
    this.activeTags.set(rec.tag, rec);
    this.queue.push(rec);
    if (!this.pausedForQueue) {
      this.pausedForQueue = true;
      this.pauses++;
      this.ws.pause();
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private run(rec: SessionCommand): void {
    this.active++;
    this.activeTags.set(rec.tag, rec);
    runOnTarget(this.server.opts.target, this.submitTarget, rec, this.onSubmittedBound, this.onFailedBound);
  }

  /** A running command is over: its budget goes back (other sessions may run), its tag is free again. */
  private finished(rec: SessionCommand): void {
    this.active--;
    if (this.activeTags.get(rec.tag) === rec) this.activeTags.delete(rec.tag);
    this.server.budget.release(rec.costBytes);
  }

  private complete(rec: SessionCommand, res: ScsiResult): void {
    this.finished(rec);
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
    this.appendResponse(rec.tag, status, sense, dataIn);
    this.drainQueue();
  }

  private failed(rec: SessionCommand, e: unknown): void {
    this.finished(rec);
    if (this.closed) return;
    const message = e instanceof Error ? e.message : String(e);
    this.server.log(`block session ${this.sessionId}: target failed tag ${rec.tag}: ${message}`);
    this.enqueueOut(errorRecord(rec.tag, BLOCK_ERROR.TARGET_FAILED, message));
    this.drainQueue();
  }

  /**
   * Runs queued commands while the window and the array's budget allow; answers why it stopped
   * (ADMIT.FULL: the budget, the caller should not wake later sessions yet).
   */
  drainQueue(): Admit {
    let stopped: Admit = ADMIT.RUN;
    while (!this.closed && this.active < this.window && this.queue.length > 0) {
      const next = this.queue[0]!;
      stopped = this.server.budget.admit(this, next.costBytes);
      if (stopped !== ADMIT.RUN) break;
      this.queue.shift();
      this.run(next);
    }
    if (this.queue.length === 0 && this.pausedForQueue) {
      this.pausedForQueue = false;
      if (!this.pausedForSend && !this.closed) this.ws.resume();
    }
    return stopped;
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
    this.abortAll();
    this.writeOut(() => this.ws.close(1002, code.slice(0, 100)));
  }

  private onClose(): void {
    this.abortAll();
    this.out.discard();
  }

  /** The connection is gone (I_T nexus loss): queued commands are dropped, running ones marked aborted. */
  private abortAll(): void {
    this.closed = true;
    clearTimeout(this.helloTimer);
    for (const cmd of this.activeTags.values()) cmd.aborted = true;
    this.activeTags.clear();
    this.queue.length = 0;
    if (this.waitingForBudget) this.server.budget.release(0); // let the sessions behind it have their turn
  }
}
