// The vfab link message format (docs/link-protocol.md): one binary WebSocket message carries a sequence
// of records, each `type (u8) | payload length (u16, big-endian) | payload`. Record types: FRAME (one
// Ethernet frame without FCS), CARRIER (admin state + reason), HELLO (protocol version + endpoint name)
// CAPTURE_FRAME (a frame seen at a capture point, for live capture streams) and CAPTURE_COMMENT (why the
// frame before it at that point was dropped or what it caused). Covers a batching
// encoder (one copy of each frame into a shared chunk, messages are slices of it) and a visitor decoder
// that validates every length, hands frames out as zero-copy views and never throws. Unknown record types
// are skipped (and reported) so newer peers can add records. Receivers that ask for them get runs:
// consecutive frames with the same first RUN_KEY_BYTES bytes in one call, and can forward a run's records
// unchanged (appendFrameRecords / appendRecordsMessage). Leaves out the transport (lib/link/link.ts,
// daemons/link/ws-link.ts). Frame limits follow lib/wire/ethernet.ts (IEEE 802.3 / 802.1Q, jumbo §1.13).

import { VfabError, type Result, ok, err } from '../errors.js';
import { ETH_HEADER_BYTES, MAX_FRAME_BYTES } from '../wire/ethernet.js';

export const LINK_PROTOCOL_VERSION = 1;

export const RECORD_FRAME = 0x01;
export const RECORD_CARRIER = 0x02;
export const RECORD_HELLO = 0x03;
export const RECORD_CAPTURE_FRAME = 0x04;
export const RECORD_CAPTURE_COMMENT = 0x05;

export const RECORD_HEADER_BYTES = 3;
/** The u16 length field caps every record payload. */
export const MAX_RECORD_PAYLOAD_BYTES = 0xffff;
/** Largest WebSocket message either side accepts (ws maxPayload); the encoder never builds a larger one. */
export const MAX_LINK_MESSAGE_BYTES = 256 * 1024;
/** Size of the encoder's copy-in chunks; a message never spans two chunks. */
export const LINK_ENCODER_CHUNK_BYTES = 64 * 1024;
/**
 * Frame runs (receive side): consecutive FRAME records whose frames agree on their first RUN_KEY_BYTES
 * bytes (destination, source, and the TPID + TCI or EtherType + 2 bytes) get one switching decision. Only
 * frames of at least RUN_MIN_FRAME_BYTES (a tagged header) join a run, and a run's records never exceed
 * MAX_RUN_BYTES, so a whole run fits one encoder chunk when it is forwarded unchanged.
 */
export const RUN_KEY_BYTES = 16;
export const RUN_MIN_FRAME_BYTES = 18;
export const MAX_RUN_BYTES = 64 * 1024;
/**
 * A run forwarded unchanged of at least this many bytes leaves as a WebSocket message of its own, without
 * a copy; smaller runs are copied into the current message (a copy of a few KiB costs less than a message).
 */
export const ZERO_COPY_RUN_BYTES = 16 * 1024;
/** Endpoint names (HELLO, URL path) are 1..MAX_ENDPOINT_NAME_BYTES bytes of UTF-8. */
export const MAX_ENDPOINT_NAME_BYTES = 128;
export const CARRIER_PAYLOAD_BYTES = 2;
/** timestamp ns (u64) + direction (u8) + capture point id (u32). */
export const CAPTURE_FRAME_FIXED_BYTES = 13;
/** capture point id (u32), then the comment's UTF-8 text. */
export const CAPTURE_COMMENT_FIXED_BYTES = 4;
/** A capture comment's text is cut to this many bytes (a sentence, not a log). */
export const MAX_CAPTURE_COMMENT_BYTES = 1024;
/** The largest record the encoder writes (a CAPTURE_FRAME around a largest frame). */
export const MAX_ENCODED_RECORD_BYTES = RECORD_HEADER_BYTES + CAPTURE_FRAME_FIXED_BYTES + MAX_FRAME_BYTES;

/** Reason codes carried by CARRIER records. */
export const CarrierReason = {
  NONE: 0,
  ADMIN_DOWN: 1,
  ADMIN_UP: 2,
  PEER_GONE: 3,
  SHUTDOWN: 4,
} as const;
const CARRIER_REASON_NAMES = ['none', 'admin-down', 'admin-up', 'peer-gone', 'shutdown'];

export function carrierReasonName(code: number): string {
  return CARRIER_REASON_NAMES[code] ?? `reason-${code}`;
}

export const CAPTURE_DIRECTION_IN = 0;
export const CAPTURE_DIRECTION_OUT = 1;

export class LinkError extends VfabError {
  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
    this.name = 'LinkError';
  }
}

// ---------------------------------------------------------------- encoder

/**
 * Appends records to the current batch. Each append copies the payload once into a shared chunk; a
 * message is a slice of a chunk, so sealed messages are never written to again (the transport may hold
 * them). `take()` returns the batch's messages in order and starts a new batch.
 */
export class LinkEncoder {
  private chunk: Buffer;
  private batchStart = 0;
  private cursor = 0;
  private sealed: Buffer[] = [];
  private sealedBytes = 0;

  /** `allocate` makes the copy-in chunks (tests pass one that pre-fills them with 0xa5). */
  constructor(
    private readonly chunkBytes = LINK_ENCODER_CHUNK_BYTES,
    private readonly allocate: (bytes: number) => Buffer = Buffer.allocUnsafe,
  ) {
    if (chunkBytes < MAX_ENCODED_RECORD_BYTES || chunkBytes > MAX_LINK_MESSAGE_BYTES) {
      throw new RangeError(`encoder chunk of ${chunkBytes} bytes must hold one largest record and fit a message`);
    }
    this.chunk = allocate(chunkBytes);
  }

  /**
   * Ends the current message and queues `records` (valid FRAME records, e.g. a received run) as a message
   * of its own without copying: the caller must not change those bytes afterwards (a received WebSocket
   * message never is). For large runs, where a copy costs more than one more message.
   */
  appendRecordsMessage(records: Uint8Array): void {
    if (this.cursor > this.batchStart) {
      this.sealed.push(this.chunk.subarray(this.batchStart, this.cursor));
      this.sealedBytes += this.cursor - this.batchStart;
      this.batchStart = this.cursor;
    }
    this.sealed.push(Buffer.from(records.buffer, records.byteOffset, records.length));
    this.sealedBytes += records.length;
  }

  /** The most bytes one appendFrameRecords() call takes (one chunk). */
  get maxAppendBytes(): number {
    return this.chunkBytes;
  }

  /** Bytes appended since the last take(). */
  get pendingBytes(): number {
    return this.sealedBytes + (this.cursor - this.batchStart);
  }

  /** Room for `recordBytes` more bytes in the current chunk, sealing the batch slice and starting a new chunk if needed. */
  private reserve(recordBytes: number): number {
    if (this.cursor + recordBytes > this.chunkBytes) {
      if (this.cursor > this.batchStart) {
        this.sealed.push(this.chunk.subarray(this.batchStart, this.cursor));
        this.sealedBytes += this.cursor - this.batchStart;
      }
      this.chunk = this.allocate(this.chunkBytes);
      this.batchStart = 0;
      this.cursor = 0;
    }
    const at = this.cursor;
    this.cursor += recordBytes;
    return at;
  }

  /**
   * Appends FRAME records already encoded (a run from decodeLinkMessage, forwarded unchanged) with one
   * copy. The caller vouches that `records` holds only valid FRAME records (the decoder checked them).
   * Returns false (nothing appended) when the bytes would not fit one chunk.
   */
  appendFrameRecords(records: Uint8Array): boolean {
    if (records.length > this.chunkBytes) return false;
    const at = this.reserve(records.length);
    this.chunk.set(records, at);
    return true;
  }

  /** Appends a FRAME record. Returns false (nothing appended) for a runt or a frame over MAX_FRAME_BYTES. */
  appendFrame(frame: Uint8Array): boolean {
    const length = frame.length;
    if (length < ETH_HEADER_BYTES || length > MAX_FRAME_BYTES) return false;
    const at = this.reserve(RECORD_HEADER_BYTES + length);
    const chunk = this.chunk;
    chunk[at] = RECORD_FRAME;
    chunk[at + 1] = length >>> 8;
    chunk[at + 2] = length & 0xff;
    chunk.set(frame, at + RECORD_HEADER_BYTES);
    return true;
  }

  appendCarrier(up: boolean, reasonCode: number): void {
    const at = this.reserve(RECORD_HEADER_BYTES + CARRIER_PAYLOAD_BYTES);
    const chunk = this.chunk;
    chunk[at] = RECORD_CARRIER;
    chunk[at + 1] = 0;
    chunk[at + 2] = CARRIER_PAYLOAD_BYTES;
    chunk[at + 3] = up ? 1 : 0;
    chunk[at + 4] = reasonCode & 0xff;
  }

  /** Appends a HELLO record; throws for a name outside 1..MAX_ENDPOINT_NAME_BYTES (a configuration error). */
  appendHello(version: number, endpointName: string): void {
    const nameBytes = Buffer.byteLength(endpointName, 'utf8');
    if (nameBytes < 1 || nameBytes > MAX_ENDPOINT_NAME_BYTES) {
      throw new LinkError('VFAB_LINK_BAD_ENDPOINT_NAME', `endpoint name of ${nameBytes} bytes is outside 1..${MAX_ENDPOINT_NAME_BYTES}`);
    }
    const at = this.reserve(RECORD_HEADER_BYTES + 1 + nameBytes);
    const chunk = this.chunk;
    chunk[at] = RECORD_HELLO;
    chunk.writeUInt16BE(1 + nameBytes, at + 1);
    chunk[at + 3] = version & 0xff;
    chunk.write(endpointName, at + 4, nameBytes, 'utf8');
  }

  /** Appends a CAPTURE_FRAME record. Returns false for a runt or oversize frame. */
  appendCaptureFrame(timestampNs: bigint, direction: number, capturePointId: number, frame: Uint8Array): boolean {
    const length = frame.length;
    if (length < ETH_HEADER_BYTES || length > MAX_FRAME_BYTES) return false;
    const payloadBytes = CAPTURE_FRAME_FIXED_BYTES + length;
    const at = this.reserve(RECORD_HEADER_BYTES + payloadBytes);
    const chunk = this.chunk;
    chunk[at] = RECORD_CAPTURE_FRAME;
    chunk.writeUInt16BE(payloadBytes, at + 1);
    chunk.writeBigUInt64BE(BigInt.asUintN(64, timestampNs), at + 3);
    chunk[at + 11] = direction & 0xff;
    chunk.writeUInt32BE(capturePointId >>> 0, at + 12);
    chunk.set(frame, at + 16);
    return true;
  }

  /**
   * Appends a CAPTURE_COMMENT record: `text` (cut to MAX_CAPTURE_COMMENT_BYTES) belongs to the last
   * CAPTURE_FRAME of `capturePointId` before it in the stream.
   */
  appendCaptureComment(capturePointId: number, text: string): void {
    let bytes = Buffer.from(text, 'utf8');
    if (bytes.length > MAX_CAPTURE_COMMENT_BYTES) bytes = bytes.subarray(0, MAX_CAPTURE_COMMENT_BYTES);
    const payloadBytes = CAPTURE_COMMENT_FIXED_BYTES + bytes.length;
    const at = this.reserve(RECORD_HEADER_BYTES + payloadBytes);
    const chunk = this.chunk;
    chunk[at] = RECORD_CAPTURE_COMMENT;
    chunk.writeUInt16BE(payloadBytes, at + 1);
    chunk.writeUInt32BE(capturePointId >>> 0, at + 3);
    chunk.set(bytes, at + 3 + CAPTURE_COMMENT_FIXED_BYTES);
  }

  /**
   * The bytes of every message taken so far are no longer referenced by anyone (the transport wrote them
   * and kept no reference): the next batch starts again at the beginning of the current chunk, so a link
   * whose socket keeps up allocates no new chunks. Does nothing while a batch is open.
   */
  rewind(): void {
    if (this.cursor !== this.batchStart || this.sealed.length > 0) return;
    this.cursor = 0;
    this.batchStart = 0;
  }

  /** Ends the batch: its messages in order (none when nothing was appended). */
  take(): Buffer[] {
    const messages = this.sealed;
    if (this.cursor > this.batchStart) messages.push(this.chunk.subarray(this.batchStart, this.cursor));
    this.batchStart = this.cursor;
    this.sealed = [];
    this.sealedBytes = 0;
    return messages;
  }
}

// ---------------------------------------------------------------- decoder

/** Receives the records of a message. One handler object per link: no closure per frame. */
export interface LinkRecordHandler {
  /** A valid FRAME record: a view into the message (no copy). */
  frame(frame: Buffer): void;
  /**
   * When present, called for FRAME records instead of frame(), with a plain Uint8Array view into the
   * message (no copy), which is cheaper to make per frame than a Buffer view.
   */
  frameView?(frame: Uint8Array): void;
  /**
   * When present, consecutive valid FRAME records whose frames share their first RUN_KEY_BYTES bytes
   * arrive here as one run of `count` >= 2 frames instead of one call each: `first` is the first frame (a
   * view), `records` the run's encoded records (a view: type, length, frame, ...; walk them with
   * forEachRunFrame), `frameBytes` the sum and `maxFrameBytes` the largest of the frame lengths.
   */
  frameRun?(first: Uint8Array, count: number, records: Uint8Array, frameBytes: number, maxFrameBytes: number): void;
  carrier(up: boolean, reasonCode: number): void;
  hello(version: number, endpointName: string): void;
  captureFrame(timestampNs: bigint, direction: number, capturePointId: number, frame: Buffer): void;
  /** A CAPTURE_COMMENT record; without this handler it goes to unknownRecord. */
  captureComment?(capturePointId: number, text: string): void;
  /** A record that was skipped: VFAB_LINK_FRAME_OVERSIZE, _FRAME_RUNT, _BAD_CARRIER, _BAD_HELLO, _BAD_CAPTURE. */
  recordError(error: LinkError): void;
  /** A record of a type this version does not know; skipped. */
  unknownRecord(type: number, payload: Buffer): void;
}

/**
 * Walks the records of one message. Returns the number of records visited, or a typed error when the
 * message itself is broken (a record runs past its end, or the message is too large); records before the
 * break have been delivered. A bad record whose length is intact is reported and skipped.
 */
export function decodeLinkMessage(message: Buffer, handler: LinkRecordHandler): Result<number, LinkError> {
  const end = message.length;
  if (end > MAX_LINK_MESSAGE_BYTES) {
    return err(new LinkError('VFAB_LINK_MESSAGE_TOO_LARGE', `message of ${end} bytes exceeds MAX_LINK_MESSAGE_BYTES (${MAX_LINK_MESSAGE_BYTES})`));
  }
  let offset = 0;
  let records = 0;
  const views = handler.frameView !== undefined;
  const runs = handler.frameRun !== undefined;
  let view: DataView | undefined;
  const arrayBuffer = message.buffer;
  const base = message.byteOffset;
  while (offset < end) {
    if (offset + RECORD_HEADER_BYTES > end) {
      return err(new LinkError('VFAB_LINK_TRUNCATED', `record header at offset ${offset} is cut short`, { offset, records }));
    }
    const type = message[offset]!;
    const length = (message[offset + 1]! << 8) | message[offset + 2]!;
    const start = offset + RECORD_HEADER_BYTES;
    const stop = start + length;
    if (stop > end) {
      return err(new LinkError('VFAB_LINK_TRUNCATED', `record at offset ${offset} claims ${length} bytes past the end of the message`, { offset, records }));
    }
    records++;
    offset = stop;
    switch (type) {
      case RECORD_FRAME:
        if (length > MAX_FRAME_BYTES) {
          handler.recordError(new LinkError('VFAB_LINK_FRAME_OVERSIZE', `frame of ${length} bytes exceeds MAX_FRAME_BYTES (${MAX_FRAME_BYTES})`));
        } else if (length < ETH_HEADER_BYTES) {
          handler.recordError(new LinkError('VFAB_LINK_FRAME_RUNT', `frame of ${length} bytes is shorter than an Ethernet header`));
        } else if (runs && length >= RUN_MIN_FRAME_BYTES && stop < end) {
          // one DataView per message: the key compares read 4 bytes at a time
          if (view === undefined) view = new DataView(arrayBuffer, base, end);
          offset = decodeRun(message, view, start - RECORD_HEADER_BYTES, start, length, end, handler);
          records += runCount - 1;
        } else if (views) {
          handler.frameView!(new Uint8Array(arrayBuffer, base + start, length));
        } else {
          // Buffer.from(arrayBuffer, ...) makes the same view as subarray() with fewer checks
          handler.frame(Buffer.from(arrayBuffer, base + start, length));
        }
        break;
      case RECORD_CARRIER: {
        const state = message[start];
        if (length !== CARRIER_PAYLOAD_BYTES || (state !== 0 && state !== 1)) {
          handler.recordError(new LinkError('VFAB_LINK_BAD_CARRIER', `CARRIER record of ${length} bytes / state ${state} is invalid`));
        } else {
          handler.carrier(state === 1, message[start + 1]!);
        }
        break;
      }
      case RECORD_HELLO:
        if (length < 2 || length - 1 > MAX_ENDPOINT_NAME_BYTES) {
          handler.recordError(new LinkError('VFAB_LINK_BAD_HELLO', `HELLO record of ${length} bytes is invalid`));
        } else {
          handler.hello(message[start]!, message.toString('utf8', start + 1, stop));
        }
        break;
      case RECORD_CAPTURE_FRAME: {
        const frameBytes = length - CAPTURE_FRAME_FIXED_BYTES;
        const direction = message[start + 8];
        if (frameBytes < ETH_HEADER_BYTES || frameBytes > MAX_FRAME_BYTES || (direction !== CAPTURE_DIRECTION_IN && direction !== CAPTURE_DIRECTION_OUT)) {
          handler.recordError(new LinkError('VFAB_LINK_BAD_CAPTURE', `CAPTURE_FRAME record of ${length} bytes / direction ${direction} is invalid`));
        } else {
          handler.captureFrame(message.readBigUInt64BE(start), direction, message.readUInt32BE(start + 9), message.subarray(start + CAPTURE_FRAME_FIXED_BYTES, stop));
        }
        break;
      }
      case RECORD_CAPTURE_COMMENT:
        if (handler.captureComment === undefined) handler.unknownRecord(type, message.subarray(start, stop));
        else if (length < CAPTURE_COMMENT_FIXED_BYTES || length > CAPTURE_COMMENT_FIXED_BYTES + MAX_CAPTURE_COMMENT_BYTES) {
          handler.recordError(new LinkError('VFAB_LINK_BAD_CAPTURE', `CAPTURE_COMMENT record of ${length} bytes is invalid`));
        } else {
          handler.captureComment(message.readUInt32BE(start), message.toString('utf8', start + CAPTURE_COMMENT_FIXED_BYTES, stop));
        }
        break;
      default:
        handler.unknownRecord(type, message.subarray(start, stop));
    }
  }
  return ok(records);
}

/** Frames in the run decodeRun last found (module state: no result object per run). */
let runCount = 1;

/**
 * From a valid FRAME record at `recordAt` (frame at `start`, `length` bytes), collects the following FRAME
 * records with the same first RUN_KEY_BYTES bytes and hands them to frameRun (or the single frame to
 * frameView/frame). Returns the offset after the last record taken; records it stops at are decoded by
 * the caller as usual (their errors included).
 */
function decodeRun(message: Buffer, view: DataView, recordAt: number, start: number, length: number, end: number, handler: LinkRecordHandler): number {
  let next = start + length;
  let count = 1;
  let frameBytes = length;
  let maxFrameBytes = length;
  const limit = Math.min(end, recordAt + MAX_RUN_BYTES);
  // RUN_KEY_BYTES = 16: four 32-bit words
  const k0 = view.getInt32(start);
  const k1 = view.getInt32(start + 4);
  const k2 = view.getInt32(start + 8);
  const k3 = view.getInt32(start + 12);
  while (next + RECORD_HEADER_BYTES <= limit && message[next] === RECORD_FRAME) {
    const len = (message[next + 1]! << 8) | message[next + 2]!;
    const at = next + RECORD_HEADER_BYTES;
    if (len < RUN_MIN_FRAME_BYTES || len > MAX_FRAME_BYTES || at + len > limit) break;
    if (view.getInt32(at) !== k0 || view.getInt32(at + 4) !== k1 || view.getInt32(at + 8) !== k2 || view.getInt32(at + 12) !== k3) break;
    count++;
    frameBytes += len;
    if (len > maxFrameBytes) maxFrameBytes = len;
    next = at + len;
  }
  runCount = count;
  const arrayBuffer = message.buffer;
  const base = message.byteOffset;
  if (count === 1) {
    if (handler.frameView !== undefined) handler.frameView(new Uint8Array(arrayBuffer, base + start, length));
    else handler.frame(Buffer.from(arrayBuffer, base + start, length));
  } else {
    handler.frameRun!(new Uint8Array(arrayBuffer, base + start, length), count, new Uint8Array(arrayBuffer, base + recordAt, next - recordAt), frameBytes, maxFrameBytes);
  }
  return next;
}

/**
 * Calls `fn` with a view of each frame of a run's records (as handed to frameRun), skipping the first
 * `skip` frames. The records were validated by the decoder; this only walks them.
 */
export function forEachRunFrame(records: Uint8Array, skip: number, fn: (frame: Uint8Array) => void): void {
  const cursor = new RunCursor().reset(records);
  for (let index = 0; cursor.next(); index++) if (index >= skip) fn(cursor.view());
}

/**
 * Walks the frames of a run's records without a callback per frame: `reset(records)`, then `next()` until
 * it returns false, reading `frame` (a view) after each true. One cursor per consumer, reused.
 */
export class RunCursor {
  /** The records being walked, and the current frame's offset and length in them (after next()). */
  records: Uint8Array = new Uint8Array(0);
  offset = 0;
  length = 0;
  private nextAt = 0;

  reset(records: Uint8Array): this {
    this.records = records;
    this.nextAt = 0;
    this.offset = 0;
    this.length = 0;
    return this;
  }

  /** Steps to the next frame (no allocation); false at the end. */
  next(): boolean {
    const records = this.records;
    const at = this.nextAt + RECORD_HEADER_BYTES;
    if (at > records.length) return false;
    const len = (records[at - 2]! << 8) | records[at - 1]!;
    this.offset = at;
    this.length = len;
    this.nextAt = at + len;
    return true;
  }

  /** A view of the current frame (allocates a view; valid as long as the records are). */
  view(): Uint8Array {
    return new Uint8Array(this.records.buffer, this.records.byteOffset + this.offset, this.length);
  }
}

// ---------------------------------------------------------------- value type (tests, tools, docs)

export type LinkRecord =
  | { type: 'frame'; frame: Buffer }
  | { type: 'carrier'; up: boolean; reasonCode: number }
  | { type: 'hello'; version: number; endpointName: string }
  | { type: 'capture'; timestampNs: bigint; direction: number; capturePointId: number; frame: Buffer }
  | { type: 'error'; error: LinkError }
  | { type: 'unknown'; recordType: number; payload: Buffer };

/** Decodes a message into a list of records (allocates; for tests and tools, not the hot path). */
export function parseLinkMessage(message: Buffer): Result<LinkRecord[], LinkError> {
  const records: LinkRecord[] = [];
  const result = decodeLinkMessage(message, {
    frame: (frame) => records.push({ type: 'frame', frame }),
    carrier: (up, reasonCode) => records.push({ type: 'carrier', up, reasonCode }),
    hello: (version, endpointName) => records.push({ type: 'hello', version, endpointName }),
    captureFrame: (timestampNs, direction, capturePointId, frame) => records.push({ type: 'capture', timestampNs, direction, capturePointId, frame }),
    recordError: (error) => records.push({ type: 'error', error }),
    unknownRecord: (recordType, payload) => records.push({ type: 'unknown', recordType, payload }),
  });
  return result.ok ? ok(records) : err(result.error);
}
