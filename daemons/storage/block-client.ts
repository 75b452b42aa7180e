// Client side of the vfab block protocol (docs/block-protocol.md): one authenticated WebSocket connection,
// one initiator identity, pipelined SCSI commands matched by tag (responses may come out of order). Never
// exceeds the window the server granted: extra commands wait in a local queue. Commands issued in the same
// turn go out batched in one message. `execute` returns a Promise; `executeCb(cmd, ctx, done)` is the same
// without a Promise per command (the workload generator's hot path). Responses are read with scanRecord
// (no record objects). On loopback the WebSocket masking key is all zeros (RFC 6455 §5.3 allows any key).
// On disconnect every in-flight and queued command fails with VFAB_BLOCK_DISCONNECTED. Convenience
// read/write/compareAndWrite use READ(16)/WRITE(16)/COMPARE AND WRITE (SBC-3). Leaves out reconnection
// (multipath-client does that) and task management.

import { EventEmitter } from 'node:events';
import { WebSocket } from '../common/ws.js';
import { VfabError } from '../../lib/errors.js';
import { SCSI_STATUS, SENSE_KEY, type ScsiCommand, type ScsiResult, type ScsiTarget, type Sense } from '../../lib/storage/scsi.js';
import { parseFixedSense } from '../../lib/storage/sense.js';
import { compareAndWrite as cawCdb, parseReadCapacity16, read16, readCapacity16, write16 } from '../../lib/storage/cdb.js';
import {
  BLOCK_ERROR,
  BLOCK_PROTOCOL_VERSION,
  DEFAULT_IN_FLIGHT,
  MAX_BLOCK_MESSAGE_BYTES,
  MAX_CDB_BYTES,
  MAX_IN_FLIGHT,
  MAX_LUN_NUMBER,
  MIN_CDB_BYTES,
  RECORD_TYPE,
  RecordScan,
  commandRecordBytes,
  emitCommand,
  encodeMessage,
  isUnknownRecord,
  parseMessage,
  scanRecord,
  type HelloAckRecord,
  type LunEntry,
} from '../../lib/storage/protocol.js';
import type { CallbackScsiTarget, ScsiCallback } from '../../lib/storage/vdisk.js';

/** Time allowed for the WebSocket upgrade plus HELLO/HELLO_ACK. */
export const CONNECT_TIMEOUT_MS = 10_000;

export interface BlockClientOptions {
  /** ws://127.0.0.1:PORT/block */
  url: string;
  token: string;
  initiator: string;
  /** Window to ask for (default DEFAULT_IN_FLIGHT); the server may grant less. */
  maxInFlight?: number;
  connectTimeoutMs?: number;
}

/** One command from executeCb/execute until its answer: what goes on the wire and whom to tell. */
class Pending {
  constructor(
    readonly tag: number,
    readonly lun: number,
    readonly cdb: Uint8Array,
    readonly dataOut: Uint8Array | undefined,
    readonly ctx: unknown,
    readonly done: ScsiCallback<unknown>,
  ) {}
}

/** execute()'s context: the Promise's settle functions. */
interface PromiseCtx {
  resolve: (r: ScsiResult) => void;
  reject: (e: Error) => void;
}

function settlePromise(ctx: PromiseCtx, result: ScsiResult | undefined, error: Error | undefined): void {
  if (error !== undefined) ctx.reject(error);
  else ctx.resolve(result!);
}

/** All-zero WebSocket masking key (see connectBlockClient). */
function zeroMask(mask: Buffer): void {
  mask[0] = 0;
  mask[1] = 0;
  mask[2] = 0;
  mask[3] = 0;
}

/** True for URLs whose host is the loopback interface (127.0.0.0/8, ::1, localhost). */
export function isLoopbackUrl(url: string): boolean {
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    return false;
  }
  return host === 'localhost' || host === '[::1]' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

export interface CompareAndWriteOutcome {
  /** true = the compare matched and the write happened. */
  written: boolean;
  /** On miscompare: offset of the first differing byte (sense INFORMATION, SBC-3). */
  miscompareOffset?: number;
}

export interface BlockClientStats {
  sent: number;
  completed: number;
  inFlight: number;
  queued: number;
  maxQueued: number;
  messagesOut: number;
  messagesIn: number;
  protocolErrors: number;
}

export class BlockClient extends EventEmitter implements ScsiTarget, CallbackScsiTarget {
  readonly window: number;
  readonly sessionId: number;
  readonly luns: LunEntry[];
  readonly maxDataOutBytes: number;
  private nextTag = 1;
  private readonly inFlight = new Map<number, Pending>();
  private readonly waiting: Pending[] = [];
  private outgoing: Pending[] = [];
  private readonly scan = new RecordScan();
  private outgoingBytes = 0;
  private flushScheduled = false;
  private closedError: VfabError | undefined;
  private lastServerError: string | undefined;
  private readonly blockSizes = new Map<number, number>();
  private readonly counters = { sent: 0, completed: 0, maxQueued: 0, messagesOut: 0, messagesIn: 0, protocolErrors: 0 };
  private readonly flushBound = (): void => this.flush();

  /** Use connectBlockClient(). */
  constructor(
    private readonly ws: WebSocket,
    readonly initiator: string,
    ack: HelloAckRecord,
  ) {
    super();
    this.window = ack.maxInFlight;
    this.sessionId = ack.sessionId;
    this.luns = ack.luns;
    this.maxDataOutBytes = ack.maxDataOutBytes;
    for (const l of ack.luns) this.blockSizes.set(l.lun, l.blockSizeBytes);
    ws.on('message', (data) => this.onMessage(data as Buffer));
    ws.on('close', (code, reason) => this.onClose(`connection closed (${code}${reason.length ? ` ${reason.toString()}` : ''})`));
    ws.on('error', (e) => this.onClose(`connection failed: ${e.message}`));
  }

  get connected(): boolean {
    return this.closedError === undefined;
  }

  stats(): BlockClientStats {
    return { ...this.counters, inFlight: this.inFlight.size, queued: this.waiting.length };
  }

  execute(cmd: ScsiCommand): Promise<ScsiResult> {
    return new Promise<ScsiResult>((resolve, reject) => {
      this.executeCb<PromiseCtx>(cmd, { resolve, reject }, settlePromise);
    });
  }

  /**
   * Callback form of execute (CallbackScsiTarget): no Promise per command. `done(ctx, result, undefined)`
   * on an answer, `done(ctx, undefined, error)` when the command is refused or the connection is lost;
   * never called synchronously inside executeCb. cmd.cdb and cmd.dataOut are read when the batch is sent
   * (at the end of the turn): the caller must not change them before `done`.
   */
  executeCb<C>(cmd: ScsiCommand, ctx: C, done: ScsiCallback<C>): void {
    const refused = this.refusal(cmd);
    if (refused !== undefined) {
      queueMicrotask(() => done(ctx, undefined, refused));
      return;
    }
    const p = new Pending(this.allocTag(), cmd.lun, cmd.cdb, cmd.dataOut, ctx, done as ScsiCallback<unknown>);
    if (this.inFlight.size < this.window) this.send(p);
    else {
      this.waiting.push(p);
      if (this.waiting.length > this.counters.maxQueued) this.counters.maxQueued = this.waiting.length;
    }
  }

  private refusal(cmd: ScsiCommand): VfabError | undefined {
    if (this.closedError) return this.closedError;
    const cdbBytes = cmd.cdb.length;
    if (cdbBytes < MIN_CDB_BYTES || cdbBytes > MAX_CDB_BYTES) {
      return new VfabError(BLOCK_ERROR.BAD_COMMAND, `CDB length ${cdbBytes} outside ${MIN_CDB_BYTES}..${MAX_CDB_BYTES}`);
    }
    if (!(Number.isInteger(cmd.lun) && cmd.lun >= 0 && cmd.lun <= MAX_LUN_NUMBER)) {
      return new VfabError(BLOCK_ERROR.BAD_COMMAND, `LUN ${cmd.lun} outside 0..${MAX_LUN_NUMBER}`);
    }
    if (cmd.dataOut && cmd.dataOut.length > this.maxDataOutBytes) {
      return new VfabError(BLOCK_ERROR.DATA_TOO_LARGE, `data-out of ${cmd.dataOut.length} bytes exceeds the server's ${this.maxDataOutBytes}`);
    }
    return undefined;
  }

  private allocTag(): number {
    let t = this.nextTag;
    while (t === 0 || this.inFlight.has(t)) t = (t + 1) >>> 0;
    this.nextTag = (t + 1) >>> 0;
    return t;
  }

  private send(p: Pending): void {
    this.inFlight.set(p.tag, p);
    const size = commandRecordBytes(p.cdb.length, p.dataOut === undefined ? 0 : p.dataOut.length);
    if (this.outgoingBytes + size > MAX_BLOCK_MESSAGE_BYTES) this.flush();
    this.outgoing.push(p);
    this.outgoingBytes += size;
    this.counters.sent++;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // End of the current turn (after every response of the chunk just read has been handled): no
      // wait for the event loop's check phase, which matters at queue depth 1.
      queueMicrotask(this.flushBound);
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.outgoing.length === 0) return;
    const buf = Buffer.allocUnsafe(this.outgoingBytes);
    let offset = 0;
    for (const p of this.outgoing) offset += emitCommand(buf, offset, p.tag, p.lun, p.cdb, p.dataOut);
    this.outgoing = [];
    this.outgoingBytes = 0;
    if (this.closedError) return;
    this.counters.messagesOut++;
    this.ws.send(buf, { binary: true });
  }

  private onMessage(data: Buffer): void {
    this.counters.messagesIn++;
    if (this.onResponses(data)) return;
    const parsed = parseMessage(data);
    if (!parsed.ok) {
      this.counters.protocolErrors++;
      this.ws.terminate();
      this.onClose(`malformed message from server: ${parsed.error.code}: ${parsed.error.message}`);
      return;
    }
    for (const rec of parsed.value) {
      if (isUnknownRecord(rec)) {
        this.counters.protocolErrors++;
        continue;
      }
      if (rec.type === RECORD_TYPE.RESPONSE) {
        const p = this.inFlight.get(rec.tag);
        if (!p) {
          this.counters.protocolErrors++;
          this.emit('protocolError', new VfabError(BLOCK_ERROR.UNKNOWN_TAG, `response for unknown tag ${rec.tag}`));
          continue;
        }
        this.inFlight.delete(rec.tag);
        this.counters.completed++;
        const result: ScsiResult = { status: rec.status as ScsiResult['status'] };
        if (rec.dataIn) result.dataIn = rec.dataIn;
        if (rec.sense) result.sense = senseOf(rec.sense);
        p.done(p.ctx, result, undefined);
      } else if (rec.type === RECORD_TYPE.ERROR) {
        const p = rec.tag !== 0 ? this.inFlight.get(rec.tag) : undefined;
        if (p) {
          this.inFlight.delete(rec.tag);
          this.counters.completed++;
          p.done(p.ctx, undefined, new VfabError(rec.code, rec.message, { tag: rec.tag }));
        } else {
          this.counters.protocolErrors++;
          this.lastServerError = `${rec.code}: ${rec.message}`;
          this.emit('protocolError', new VfabError(rec.code, rec.message, { tag: rec.tag }));
        }
      } else {
        this.counters.protocolErrors++;
      }
    }
    while (this.inFlight.size < this.window && this.waiting.length > 0) this.send(this.waiting.shift()!);
  }

  /**
   * Hot path: a message of well-formed RESPONSE records only (the usual case), handled without building
   * records. Returns false, having done nothing, for any other message (parseMessage handles it).
   */
  private onResponses(data: Buffer): boolean {
    const scan = this.scan;
    let offset = 0;
    while (offset < data.length) {
      if (!scanRecord(data, offset, scan) || scan.type !== RECORD_TYPE.RESPONSE) return false;
      offset += scan.recordBytes;
    }
    if (offset === 0) return false;
    offset = 0;
    while (offset < data.length) {
      scanRecord(data, offset, scan);
      offset += scan.recordBytes;
      const tag = scan.tag;
      const p = this.inFlight.get(tag);
      if (p === undefined) {
        this.counters.protocolErrors++;
        this.emit('protocolError', new VfabError(BLOCK_ERROR.UNKNOWN_TAG, `response for unknown tag ${tag}`));
        continue;
      }
      this.inFlight.delete(tag);
      this.counters.completed++;
      const result: ScsiResult = { status: scan.status as ScsiResult['status'] };
      if (scan.dataBytes > 0) result.dataIn = data.subarray(scan.dataOffset, scan.dataOffset + scan.dataBytes);
      if (scan.senseBytes > 0) result.sense = senseOf(data.subarray(scan.senseOffset, scan.senseOffset + scan.senseBytes));
      p.done(p.ctx, result, undefined);
      if (this.closedError) return true;
    }
    while (this.inFlight.size < this.window && this.waiting.length > 0) this.send(this.waiting.shift()!);
    return true;
  }

  private onClose(why: string): void {
    if (this.closedError) return;
    const detail = this.lastServerError ? `${why}; last server error ${this.lastServerError}` : why;
    this.closedError = new VfabError(BLOCK_ERROR.DISCONNECTED, `block connection to the array lost: ${detail}`);
    const all = [...this.inFlight.values(), ...this.waiting];
    this.inFlight.clear();
    this.waiting.length = 0;
    this.outgoing = [];
    this.outgoingBytes = 0;
    for (const p of all) p.done(p.ctx, undefined, this.closedError);
    this.emit('close', this.closedError);
  }

  /** Closes the connection; in-flight commands are rejected with VFAB_BLOCK_DISCONNECTED. */
  close(): void {
    this.ws.close(1000, 'client close');
    this.onClose('closed by the client');
  }

  /** Drops the connection at once (simulates a cable pull). */
  terminate(): void {
    this.ws.terminate();
    this.onClose('terminated by the client');
  }

  // ---- convenience ------------------------------------------------------------------------------------

  /** Block size of a LUN: from the HELLO_ACK snapshot, else READ CAPACITY (16). */
  async blockSize(lun: number): Promise<number> {
    const known = this.blockSizes.get(lun);
    if (known !== undefined) return known;
    const cap = await this.readCapacity(lun);
    return cap.blockSizeBytes;
  }

  async readCapacity(lun: number): Promise<{ blocks: number; blockSizeBytes: number }> {
    const r = this.check(await this.execute({ initiator: this.initiator, lun, cdb: readCapacity16() }), 'READ CAPACITY (16)');
    const cap = parseReadCapacity16(r.dataIn ?? new Uint8Array(0));
    if (!cap) throw new VfabError(BLOCK_ERROR.SCSI_ERROR, 'READ CAPACITY (16) returned short data');
    this.blockSizes.set(lun, cap.blockSizeBytes);
    return { blocks: cap.lastLba + 1, blockSizeBytes: cap.blockSizeBytes };
  }

  async read(lun: number, lba: number, blocks: number): Promise<Buffer> {
    const r = this.check(await this.execute({ initiator: this.initiator, lun, cdb: read16(lba, blocks) }), 'READ (16)');
    const d = r.dataIn ?? new Uint8Array(0);
    return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  }

  async write(lun: number, lba: number, data: Uint8Array): Promise<void> {
    const bs = await this.blockSize(lun);
    if (data.length === 0 || data.length % bs !== 0) {
      throw new VfabError(BLOCK_ERROR.BAD_COMMAND, `write of ${data.length} bytes is not a positive multiple of the ${bs}-byte block`);
    }
    this.check(await this.execute({ initiator: this.initiator, lun, cdb: write16(lba, data.length / bs), dataOut: data }), 'WRITE (16)');
  }

  /** COMPARE AND WRITE (SBC-3): `compare` and `write` are each `blocks` blocks long. */
  async compareAndWrite(lun: number, lba: number, compare: Uint8Array, write: Uint8Array): Promise<CompareAndWriteOutcome> {
    const bs = await this.blockSize(lun);
    if (compare.length !== write.length || compare.length === 0 || compare.length % bs !== 0 || compare.length / bs > 255) {
      throw new VfabError(BLOCK_ERROR.BAD_COMMAND, 'COMPARE AND WRITE needs equal compare/write buffers of 1..255 whole blocks');
    }
    const cdb = cawCdb(lba, compare.length / bs);
    const dataOut = Buffer.concat([compare, write]);
    const r = await this.execute({ initiator: this.initiator, lun, cdb, dataOut });
    if (r.status === SCSI_STATUS.CHECK_CONDITION && r.sense?.key === SENSE_KEY.MISCOMPARE) {
      return r.sense.information !== undefined ? { written: false, miscompareOffset: r.sense.information } : { written: false };
    }
    this.check(r, 'COMPARE AND WRITE');
    return { written: true };
  }

  private check(r: ScsiResult, what: string): ScsiResult {
    if (r.status === SCSI_STATUS.GOOD) return r;
    throw scsiError(what, r);
  }
}

function senseOf(bytes: Uint8Array): Sense {
  const s = parseFixedSense(bytes);
  return s.ok ? s.value : { key: SENSE_KEY.HARDWARE_ERROR, asc: 0x44, ascq: 0 };
}

export function describeSense(s: Sense | undefined): string {
  if (!s) return 'no sense';
  const h = (n: number): string => `0x${n.toString(16).padStart(2, '0')}`;
  return `key ${h(s.key)} asc ${h(s.asc)} ascq ${h(s.ascq)}${s.information !== undefined ? ` info ${s.information}` : ''}`;
}

export function scsiError(what: string, r: ScsiResult): VfabError {
  return new VfabError(BLOCK_ERROR.SCSI_ERROR, `${what} failed: status 0x${r.status.toString(16)} (${describeSense(r.sense)})`, {
    status: r.status,
    ...(r.sense ? { sense: r.sense } : {}),
  });
}

/** Opens a connection, sends HELLO and waits for HELLO_ACK. Rejects with a VfabError on failure. */
export function connectBlockClient(opts: BlockClientOptions): Promise<BlockClient> {
  const requested = opts.maxInFlight ?? DEFAULT_IN_FLIGHT;
  if (!(Number.isInteger(requested) && requested >= 1 && requested <= MAX_IN_FLIGHT)) {
    return Promise.reject(new VfabError(BLOCK_ERROR.BAD_WINDOW, `maxInFlight ${requested} outside 1..${MAX_IN_FLIGHT}`));
  }
  return new Promise<BlockClient>((resolve, reject) => {
    const ws = new WebSocket(opts.url, {
      headers: { authorization: `Bearer ${opts.token}` },
      perMessageDeflate: false,
      maxPayload: 2 * MAX_BLOCK_MESSAGE_BYTES,
      // On loopback an all-zero masking key (the random key of RFC 6455 §5.3 protects intermediaries, and
      // there are none on 127.0.0.1): ws then neither copies nor XORs the payload and the server skips
      // unmasking. Any other host gets ws's random keys.
      ...(isLoopbackUrl(opts.url) ? { generateMask: zeroMask } : {}),
    });
    ws.binaryType = 'nodebuffer';
    let done = false;
    const timer = setTimeout(() => finish(new VfabError(BLOCK_ERROR.HANDSHAKE_TIMEOUT, `no HELLO_ACK from ${opts.url} within ${opts.connectTimeoutMs ?? CONNECT_TIMEOUT_MS} ms`)), opts.connectTimeoutMs ?? CONNECT_TIMEOUT_MS);
    const finish = (e: VfabError | undefined, client?: BlockClient): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      ws.off('message', onHandshake);
      ws.removeAllListeners('unexpected-response');
      if (e) {
        ws.removeAllListeners('error');
        ws.on('error', () => {});
        ws.terminate();
        reject(e);
      } else resolve(client!);
    };
    ws.on('unexpected-response', (_req, res) => {
      const code = res.statusCode === 401 ? BLOCK_ERROR.UNAUTHORIZED : BLOCK_ERROR.DISCONNECTED;
      finish(new VfabError(code, `block upgrade refused by ${opts.url}: HTTP ${res.statusCode}`, { httpStatus: res.statusCode }));
    });
    ws.once('error', (e) => finish(new VfabError(BLOCK_ERROR.DISCONNECTED, `cannot connect to ${opts.url}: ${e.message}`)));
    ws.once('close', (code) => finish(new VfabError(BLOCK_ERROR.DISCONNECTED, `connection closed during handshake (${code})`)));
    ws.once('open', () => {
      ws.send(encodeMessage([{ type: RECORD_TYPE.HELLO, version: BLOCK_PROTOCOL_VERSION, maxInFlight: requested, initiator: opts.initiator }]));
    });
    const onHandshake = (data: Buffer): void => {
      const parsed = parseMessage(data);
      if (!parsed.ok) return finish(new VfabError(parsed.error.code, `bad handshake reply: ${parsed.error.message}`));
      const first = parsed.value[0];
      if (first && !isUnknownRecord(first) && first.type === RECORD_TYPE.ERROR) {
        return finish(new VfabError(first.code, first.message));
      }
      if (!first || isUnknownRecord(first) || first.type !== RECORD_TYPE.HELLO_ACK) {
        return finish(new VfabError(BLOCK_ERROR.UNEXPECTED_RECORD, 'expected HELLO_ACK'));
      }
      ws.off('message', onHandshake);
      ws.removeAllListeners('close');
      ws.removeAllListeners('error');
      finish(undefined, new BlockClient(ws, opts.initiator, first));
    };
    ws.on('message', onHandshake);
  });
}
