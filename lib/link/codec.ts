// The vfab link message format (docs/link-protocol.md): one binary WebSocket message carries a sequence
// of records, each `type (u8) | payload length (u16, big-endian) | payload`. Record types: FRAME (one
// Ethernet frame without FCS), CARRIER (admin state + reason), HELLO (protocol version + endpoint name)
// and CAPTURE_FRAME (a frame seen at a capture point, for live capture streams). Covers a batching
// encoder (one copy of each frame into a shared chunk, messages are slices of it) and a visitor decoder
// that validates every length, hands frames out as zero-copy views and never throws. Unknown record types
// are skipped (and reported) so newer peers can add records. Leaves out the transport (lib/link/link.ts,
// daemons/link/ws-link.ts). Frame limits follow lib/wire/ethernet.ts (IEEE 802.3 / 802.1Q, jumbo §1.13).

import { VfabError, type Result, ok, err } from '../errors.js';
import { ETH_HEADER_BYTES, MAX_FRAME_BYTES } from '../wire/ethernet.js';

export const LINK_PROTOCOL_VERSION = 1;

export const RECORD_FRAME = 0x01;
export const RECORD_CARRIER = 0x02;
export const RECORD_HELLO = 0x03;
export const RECORD_CAPTURE_FRAME = 0x04;

export const RECORD_HEADER_BYTES = 3;
/** The u16 length field caps every record payload. */
export const MAX_RECORD_PAYLOAD_BYTES = 0xffff;
/** Largest WebSocket message either side accepts (ws maxPayload); the encoder never builds a larger one. */
export const MAX_LINK_MESSAGE_BYTES = 256 * 1024;
/** Size of the encoder's copy-in chunks; a message never spans two chunks. */
export const LINK_ENCODER_CHUNK_BYTES = 64 * 1024;
/** Endpoint names (HELLO, URL path) are 1..MAX_ENDPOINT_NAME_BYTES bytes of UTF-8. */
export const MAX_ENDPOINT_NAME_BYTES = 128;
export const CARRIER_PAYLOAD_BYTES = 2;
/** timestamp ns (u64) + direction (u8) + capture point id (u32). */
export const CAPTURE_FRAME_FIXED_BYTES = 13;
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
  carrier(up: boolean, reasonCode: number): void;
  hello(version: number, endpointName: string): void;
  captureFrame(timestampNs: bigint, direction: number, capturePointId: number, frame: Buffer): void;
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
      default:
        handler.unknownRecord(type, message.subarray(start, stop));
    }
  }
  return ok(records);
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
