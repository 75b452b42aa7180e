// vfab block protocol codec: SCSI commands carried over WebSocket binary messages (docs/block-protocol.md).
// Covers the record layouts (HELLO, HELLO_ACK, COMMAND, RESPONSE, ERROR), batching of several records in
// one message, the protocol limits and the VFAB_BLOCK_* error codes. CDBs, data and fixed-format sense
// (SPC-4 §4.5.3, response code 0x70, built by lib/storage/sense.ts) travel unchanged; this module never interprets them. Leaves out the
// socket, authentication and flow control (daemons/storage/block-server.ts and block-client.ts), and task
// management. Pure: parse validates untrusted bytes and returns a Result, emit writes into a sized buffer.
//
// Every record starts with an 8-byte header: type u8, flags u8 (0), reserved u16 (0), recordBytes u32
// (header included). All integers are big-endian. Unknown record types survive parsing as UnknownRecord.

import { VfabError, type Result, ok, err } from '../errors.js';

export const BLOCK_PROTOCOL_VERSION = 1;
/** WebSocket path of the block protocol on the `stored` daemon. */
export const BLOCK_WS_PATH = '/block';

/** Largest WebSocket message the server accepts (all records of one batch together). */
export const MAX_BLOCK_MESSAGE_BYTES = 16 * 1024 * 1024;
/** Largest data-out or data-in buffer of one command; equals the target's MAX_TRANSFER_BYTES (VPD 0xb0). */
export const MAX_DATA_TRANSFER_BYTES = 4 * 1024 * 1024;
/** Largest window (commands in flight per connection) a server grants. */
export const MAX_IN_FLIGHT = 256;
/** Window a client asks for when it does not say. */
export const DEFAULT_IN_FLIGHT = 32;
export const MIN_CDB_BYTES = 6;
/** SBC-3/SPC-4 fixed CDBs go up to 16 bytes; variable-length (32-byte) CDBs are not carried. */
export const MAX_CDB_BYTES = 16;
/** iSCSI names are at most 223 bytes (RFC 7143 §4.2.7.1); vfab uses the same bound for initiators. */
export const MAX_INITIATOR_NAME_BYTES = 223;
/** Fixed-format sense is 18 bytes; SPC-4 allows additional sense length up to 244 + 8. */
export const MAX_SENSE_BYTES = 252;
export const MAX_ERROR_CODE_BYTES = 64;
export const MAX_ERROR_MESSAGE_BYTES = 1024;
export const MAX_LUN_NAME_BYTES = 255;
/** LUNs listed in one HELLO_ACK. */
export const MAX_LUNS_IN_HELLO = 4096;
export const MAX_LUN_NUMBER = 0xffff;

export const RECORD_HEADER_BYTES = 8;

export const RECORD_TYPE = {
  HELLO: 1,
  HELLO_ACK: 2,
  COMMAND: 3,
  RESPONSE: 4,
  ERROR: 5,
} as const;

/** Field offsets inside a record (from the start of the record). */
export const OFF = {
  type: 0,
  flags: 1,
  reserved: 2,
  recordBytes: 4,
  // HELLO
  helloVersion: 8,
  helloMaxInFlight: 10,
  helloNameBytes: 12,
  helloReserved: 14,
  helloName: 16,
  // HELLO_ACK
  ackVersion: 8,
  ackMaxInFlight: 10,
  ackSessionId: 12,
  ackMaxDataOutBytes: 16,
  ackMaxDataInBytes: 20,
  ackLunCount: 24,
  ackReserved: 26,
  ackLuns: 28,
  // one LUN entry inside HELLO_ACK (relative to the entry)
  lunNumber: 0,
  lunNameBytes: 2,
  lunBlockSizeBytes: 4,
  lunBlocks: 8, // u64
  lunName: 16,
  // COMMAND
  cmdTag: 8,
  cmdLun: 12,
  cmdCdbBytes: 14,
  cmdReserved: 15,
  cmdDataOutBytes: 16,
  cmdCdb: 20,
  // RESPONSE
  rspTag: 8,
  rspStatus: 12,
  rspSenseBytes: 13,
  rspReserved: 14,
  rspDataInBytes: 16,
  rspSense: 20,
  // ERROR
  errTag: 8,
  errCodeBytes: 12,
  errMessageBytes: 14,
  errCode: 16,
} as const;

export const HELLO_FIXED_BYTES = 16;
export const HELLO_ACK_FIXED_BYTES = 28;
export const LUN_ENTRY_FIXED_BYTES = 16;
export const COMMAND_FIXED_BYTES = 20;
export const RESPONSE_FIXED_BYTES = 20;
export const ERROR_FIXED_BYTES = 16;

/** Stable error codes of the block protocol (parse errors, session errors, client errors). */
export const BLOCK_ERROR = {
  /** Fewer bytes than a header or than the record claims. */
  TRUNCATED: 'VFAB_BLOCK_TRUNCATED',
  /** A length field is inconsistent with the record (too short, or fields overrun the record). */
  BAD_LENGTH: 'VFAB_BLOCK_BAD_LENGTH',
  /** Non-zero reserved/flags field. */
  BAD_RESERVED: 'VFAB_BLOCK_BAD_RESERVED',
  /** A message with no records. */
  EMPTY_MESSAGE: 'VFAB_BLOCK_EMPTY_MESSAGE',
  /** A message larger than MAX_BLOCK_MESSAGE_BYTES. */
  MESSAGE_TOO_LARGE: 'VFAB_BLOCK_MESSAGE_TOO_LARGE',
  /** CDB shorter than 6 or longer than MAX_CDB_BYTES. */
  CDB_LENGTH: 'VFAB_BLOCK_CDB_LENGTH',
  /** Data-out or data-in larger than MAX_DATA_TRANSFER_BYTES. */
  DATA_TOO_LARGE: 'VFAB_BLOCK_DATA_TOO_LARGE',
  /** Sense longer than MAX_SENSE_BYTES. */
  SENSE_TOO_LARGE: 'VFAB_BLOCK_SENSE_TOO_LARGE',
  /** Initiator name empty, too long or not valid UTF-8 text. */
  BAD_NAME: 'VFAB_BLOCK_BAD_NAME',
  /** Protocol version the peer does not speak. */
  BAD_VERSION: 'VFAB_BLOCK_BAD_VERSION',
  /** A window of 0 or above MAX_IN_FLIGHT. */
  BAD_WINDOW: 'VFAB_BLOCK_BAD_WINDOW',
  /** Record type unknown to this side (parsed as UnknownRecord, answered with this error). */
  UNKNOWN_RECORD: 'VFAB_BLOCK_UNKNOWN_RECORD',
  /** A record not allowed in this direction or state (COMMAND before HELLO, second HELLO, ...). */
  UNEXPECTED_RECORD: 'VFAB_BLOCK_UNEXPECTED_RECORD',
  /** A COMMAND reusing the tag of a command still in flight. */
  DUPLICATE_TAG: 'VFAB_BLOCK_DUPLICATE_TAG',
  /** A RESPONSE for a tag the client is not waiting for. */
  UNKNOWN_TAG: 'VFAB_BLOCK_UNKNOWN_TAG',
  /** Too many records and queued commands: the client ignored the window far beyond the queue bound. */
  WINDOW_EXCEEDED: 'VFAB_BLOCK_WINDOW_EXCEEDED',
  /** The connection closed or failed while commands were in flight, or before the handshake. */
  DISCONNECTED: 'VFAB_BLOCK_DISCONNECTED',
  /** Missing or wrong fabric token (HTTP 401). */
  UNAUTHORIZED: 'VFAB_BLOCK_UNAUTHORIZED',
  /** The array already serves its maximum number of block connections (HTTP 503). */
  TOO_MANY_SESSIONS: 'VFAB_BLOCK_TOO_MANY_SESSIONS',
  /** The handshake did not complete in time. */
  HANDSHAKE_TIMEOUT: 'VFAB_BLOCK_HANDSHAKE_TIMEOUT',
  /** A command argument the client refuses to send (bad LUN number, CDB length, ...). */
  BAD_COMMAND: 'VFAB_BLOCK_BAD_COMMAND',
  /** The target rejected the promise instead of answering (a target bug); reported per tag. */
  TARGET_FAILED: 'VFAB_BLOCK_TARGET_FAILED',
  /** A convenience call (read/write/...) got CHECK CONDITION or another non-GOOD status. */
  SCSI_ERROR: 'VFAB_BLOCK_SCSI_ERROR',
} as const;

export interface HelloRecord {
  type: typeof RECORD_TYPE.HELLO;
  version: number;
  /** Window the client asks for (1..MAX_IN_FLIGHT). */
  maxInFlight: number;
  initiator: string;
}

export interface LunEntry {
  lun: number;
  name: string;
  blockSizeBytes: number;
  blocks: number;
}

export interface HelloAckRecord {
  type: typeof RECORD_TYPE.HELLO_ACK;
  version: number;
  /** The window granted: the client never has more commands outstanding than this. */
  maxInFlight: number;
  sessionId: number;
  maxDataOutBytes: number;
  maxDataInBytes: number;
  /** Snapshot of the LUNs at connect time (informational; REPORT LUNS is authoritative). */
  luns: LunEntry[];
}

export interface CommandRecord {
  type: typeof RECORD_TYPE.COMMAND;
  tag: number;
  lun: number;
  cdb: Uint8Array;
  dataOut: Uint8Array | undefined;
}

export interface ResponseRecord {
  type: typeof RECORD_TYPE.RESPONSE;
  tag: number;
  status: number;
  /** Fixed-format sense bytes, present with CHECK CONDITION. */
  sense: Uint8Array | undefined;
  dataIn: Uint8Array | undefined;
}

export interface ErrorRecord {
  type: typeof RECORD_TYPE.ERROR;
  /** Tag of the command it concerns, or 0 for the connection. */
  tag: number;
  code: string;
  message: string;
}

/** A record of a type this version does not know; kept whole so it can be forwarded unchanged. */
export interface UnknownRecord {
  type: number;
  unknown: true;
  bytes: Uint8Array;
}

export type BlockRecord = HelloRecord | HelloAckRecord | CommandRecord | ResponseRecord | ErrorRecord | UnknownRecord;

export function isUnknownRecord(r: BlockRecord): r is UnknownRecord {
  return (r as UnknownRecord).unknown === true;
}

function fail(code: string, message: string, details?: Record<string, unknown>): { ok: false; error: VfabError } {
  return err(new VfabError(code, message, details));
}

const textDecoder = new TextDecoder('utf-8', { fatal: true });
const textEncoder = new TextEncoder();

/** A DataView over exactly the bytes of `buf` (also used by lib/nas/protocol.ts). */
export function dv(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Strict UTF-8 decoding: undefined for invalid bytes (also used by lib/nas/protocol.ts). */
export function decodeText(bytes: Uint8Array): string | undefined {
  try {
    return textDecoder.decode(bytes);
  } catch {
    return undefined;
  }
}

/** Reads the tag of a record if its header and tag field are present (for error replies); else 0. */
export function peekTag(buf: Uint8Array, offset = 0): number {
  if (buf.length - offset < 12) return 0;
  const t = buf[offset];
  if (t !== RECORD_TYPE.COMMAND && t !== RECORD_TYPE.RESPONSE && t !== RECORD_TYPE.ERROR) return 0;
  return dv(buf).getUint32(offset + 8);
}

/**
 * Parses one record at `offset`. On success returns the record and its length in bytes. Views into `buf`
 * are returned for CDB/data/sense (no copy): the caller must not reuse `buf` while it holds them.
 */
export function parseRecord(buf: Uint8Array, offset = 0): Result<{ record: BlockRecord; bytes: number }> {
  const left = buf.length - offset;
  if (left < RECORD_HEADER_BYTES) return fail(BLOCK_ERROR.TRUNCATED, `record header needs ${RECORD_HEADER_BYTES} bytes, ${left} left`);
  const view = dv(buf);
  const type = buf[offset + OFF.type];
  const recordBytes = view.getUint32(offset + OFF.recordBytes);
  if (recordBytes < RECORD_HEADER_BYTES) return fail(BLOCK_ERROR.BAD_LENGTH, `record length ${recordBytes} is below the header size`);
  if (recordBytes > left) return fail(BLOCK_ERROR.TRUNCATED, `record claims ${recordBytes} bytes, ${left} left`);
  const end = offset + recordBytes;
  const known = type >= RECORD_TYPE.HELLO && type <= RECORD_TYPE.ERROR;
  if (!known) return ok({ record: { type, unknown: true, bytes: buf.subarray(offset, end) }, bytes: recordBytes });
  if (buf[offset + OFF.flags] !== 0 || view.getUint16(offset + OFF.reserved) !== 0) {
    return fail(BLOCK_ERROR.BAD_RESERVED, 'record header flags/reserved must be 0');
  }
  switch (type) {
    case RECORD_TYPE.COMMAND: {
      if (recordBytes < COMMAND_FIXED_BYTES) return fail(BLOCK_ERROR.BAD_LENGTH, `COMMAND needs ${COMMAND_FIXED_BYTES} bytes, has ${recordBytes}`);
      const tag = view.getUint32(offset + OFF.cmdTag);
      const cdbBytes = buf[offset + OFF.cmdCdbBytes];
      if (buf[offset + OFF.cmdReserved] !== 0) return fail(BLOCK_ERROR.BAD_RESERVED, 'COMMAND reserved byte must be 0', { tag });
      const dataOutBytes = view.getUint32(offset + OFF.cmdDataOutBytes);
      if (cdbBytes < MIN_CDB_BYTES || cdbBytes > MAX_CDB_BYTES) {
        return fail(BLOCK_ERROR.CDB_LENGTH, `CDB length ${cdbBytes} outside ${MIN_CDB_BYTES}..${MAX_CDB_BYTES}`, { tag });
      }
      if (dataOutBytes > MAX_DATA_TRANSFER_BYTES) {
        return fail(BLOCK_ERROR.DATA_TOO_LARGE, `data-out of ${dataOutBytes} bytes exceeds ${MAX_DATA_TRANSFER_BYTES}`, { tag });
      }
      if (COMMAND_FIXED_BYTES + cdbBytes + dataOutBytes !== recordBytes) {
        return fail(BLOCK_ERROR.BAD_LENGTH, `COMMAND length ${recordBytes} != ${COMMAND_FIXED_BYTES} + cdb ${cdbBytes} + data ${dataOutBytes}`, { tag });
      }
      const cdbStart = offset + OFF.cmdCdb;
      return ok({
        record: {
          type: RECORD_TYPE.COMMAND,
          tag,
          lun: view.getUint16(offset + OFF.cmdLun),
          cdb: buf.subarray(cdbStart, cdbStart + cdbBytes),
          dataOut: dataOutBytes > 0 ? buf.subarray(cdbStart + cdbBytes, end) : undefined,
        },
        bytes: recordBytes,
      });
    }
    case RECORD_TYPE.RESPONSE: {
      if (recordBytes < RESPONSE_FIXED_BYTES) return fail(BLOCK_ERROR.BAD_LENGTH, `RESPONSE needs ${RESPONSE_FIXED_BYTES} bytes, has ${recordBytes}`);
      const tag = view.getUint32(offset + OFF.rspTag);
      const senseBytes = buf[offset + OFF.rspSenseBytes];
      if (view.getUint16(offset + OFF.rspReserved) !== 0) return fail(BLOCK_ERROR.BAD_RESERVED, 'RESPONSE reserved field must be 0', { tag });
      const dataInBytes = view.getUint32(offset + OFF.rspDataInBytes);
      if (senseBytes > MAX_SENSE_BYTES) return fail(BLOCK_ERROR.SENSE_TOO_LARGE, `sense of ${senseBytes} bytes`, { tag });
      if (dataInBytes > MAX_DATA_TRANSFER_BYTES) return fail(BLOCK_ERROR.DATA_TOO_LARGE, `data-in of ${dataInBytes} bytes exceeds ${MAX_DATA_TRANSFER_BYTES}`, { tag });
      if (RESPONSE_FIXED_BYTES + senseBytes + dataInBytes !== recordBytes) {
        return fail(BLOCK_ERROR.BAD_LENGTH, `RESPONSE length ${recordBytes} != ${RESPONSE_FIXED_BYTES} + sense ${senseBytes} + data ${dataInBytes}`, { tag });
      }
      const senseStart = offset + OFF.rspSense;
      return ok({
        record: {
          type: RECORD_TYPE.RESPONSE,
          tag,
          status: buf[offset + OFF.rspStatus],
          sense: senseBytes > 0 ? buf.subarray(senseStart, senseStart + senseBytes) : undefined,
          dataIn: dataInBytes > 0 ? buf.subarray(senseStart + senseBytes, end) : undefined,
        },
        bytes: recordBytes,
      });
    }
    case RECORD_TYPE.HELLO: {
      if (recordBytes < HELLO_FIXED_BYTES) return fail(BLOCK_ERROR.BAD_LENGTH, `HELLO needs ${HELLO_FIXED_BYTES} bytes, has ${recordBytes}`);
      const version = view.getUint16(offset + OFF.helloVersion);
      const maxInFlight = view.getUint16(offset + OFF.helloMaxInFlight);
      const nameBytes = view.getUint16(offset + OFF.helloNameBytes);
      if (view.getUint16(offset + OFF.helloReserved) !== 0) return fail(BLOCK_ERROR.BAD_RESERVED, 'HELLO reserved field must be 0');
      if (HELLO_FIXED_BYTES + nameBytes !== recordBytes) return fail(BLOCK_ERROR.BAD_LENGTH, `HELLO length ${recordBytes} != ${HELLO_FIXED_BYTES} + name ${nameBytes}`);
      if (nameBytes === 0 || nameBytes > MAX_INITIATOR_NAME_BYTES) {
        return fail(BLOCK_ERROR.BAD_NAME, `initiator name of ${nameBytes} bytes (1..${MAX_INITIATOR_NAME_BYTES})`);
      }
      const initiator = decodeText(buf.subarray(offset + OFF.helloName, end));
      if (initiator === undefined || /[\u0000-\u001f\u007f]/.test(initiator)) return fail(BLOCK_ERROR.BAD_NAME, 'initiator name is not printable UTF-8');
      return ok({ record: { type: RECORD_TYPE.HELLO, version, maxInFlight, initiator }, bytes: recordBytes });
    }
    case RECORD_TYPE.HELLO_ACK: {
      if (recordBytes < HELLO_ACK_FIXED_BYTES) return fail(BLOCK_ERROR.BAD_LENGTH, `HELLO_ACK needs ${HELLO_ACK_FIXED_BYTES} bytes, has ${recordBytes}`);
      const lunCount = view.getUint16(offset + OFF.ackLunCount);
      if (view.getUint16(offset + OFF.ackReserved) !== 0) return fail(BLOCK_ERROR.BAD_RESERVED, 'HELLO_ACK reserved field must be 0');
      if (lunCount > MAX_LUNS_IN_HELLO) return fail(BLOCK_ERROR.BAD_LENGTH, `HELLO_ACK lists ${lunCount} LUNs (max ${MAX_LUNS_IN_HELLO})`);
      const luns: LunEntry[] = [];
      let p = offset + OFF.ackLuns;
      for (let i = 0; i < lunCount; i++) {
        if (end - p < LUN_ENTRY_FIXED_BYTES) return fail(BLOCK_ERROR.BAD_LENGTH, `HELLO_ACK LUN entry ${i} overruns the record`);
        const nameBytes = view.getUint16(p + OFF.lunNameBytes);
        if (nameBytes > MAX_LUN_NAME_BYTES || end - p < LUN_ENTRY_FIXED_BYTES + nameBytes) {
          return fail(BLOCK_ERROR.BAD_LENGTH, `HELLO_ACK LUN entry ${i} name overruns the record`);
        }
        const blocks = view.getBigUint64(p + OFF.lunBlocks);
        if (blocks > BigInt(Number.MAX_SAFE_INTEGER)) return fail(BLOCK_ERROR.BAD_LENGTH, `HELLO_ACK LUN entry ${i} block count too large`);
        const name = decodeText(buf.subarray(p + OFF.lunName, p + OFF.lunName + nameBytes));
        if (name === undefined) return fail(BLOCK_ERROR.BAD_NAME, `HELLO_ACK LUN entry ${i} name is not UTF-8`);
        luns.push({ lun: view.getUint16(p + OFF.lunNumber), name, blockSizeBytes: view.getUint32(p + OFF.lunBlockSizeBytes), blocks: Number(blocks) });
        p += LUN_ENTRY_FIXED_BYTES + nameBytes;
      }
      if (p !== end) return fail(BLOCK_ERROR.BAD_LENGTH, `HELLO_ACK has ${end - p} trailing bytes`);
      return ok({
        record: {
          type: RECORD_TYPE.HELLO_ACK,
          version: view.getUint16(offset + OFF.ackVersion),
          maxInFlight: view.getUint16(offset + OFF.ackMaxInFlight),
          sessionId: view.getUint32(offset + OFF.ackSessionId),
          maxDataOutBytes: view.getUint32(offset + OFF.ackMaxDataOutBytes),
          maxDataInBytes: view.getUint32(offset + OFF.ackMaxDataInBytes),
          luns,
        },
        bytes: recordBytes,
      });
    }
    default: {
      // RECORD_TYPE.ERROR
      if (recordBytes < ERROR_FIXED_BYTES) return fail(BLOCK_ERROR.BAD_LENGTH, `ERROR needs ${ERROR_FIXED_BYTES} bytes, has ${recordBytes}`);
      const tag = view.getUint32(offset + OFF.errTag);
      const codeBytes = view.getUint16(offset + OFF.errCodeBytes);
      const messageBytes = view.getUint16(offset + OFF.errMessageBytes);
      if (codeBytes > MAX_ERROR_CODE_BYTES || messageBytes > MAX_ERROR_MESSAGE_BYTES) return fail(BLOCK_ERROR.BAD_LENGTH, 'ERROR code or message too long', { tag });
      if (ERROR_FIXED_BYTES + codeBytes + messageBytes !== recordBytes) {
        return fail(BLOCK_ERROR.BAD_LENGTH, `ERROR length ${recordBytes} != ${ERROR_FIXED_BYTES} + ${codeBytes} + ${messageBytes}`, { tag });
      }
      const codeStart = offset + OFF.errCode;
      const code = decodeText(buf.subarray(codeStart, codeStart + codeBytes));
      const message = decodeText(buf.subarray(codeStart + codeBytes, end));
      if (code === undefined || message === undefined) return fail(BLOCK_ERROR.BAD_NAME, 'ERROR code/message is not UTF-8', { tag });
      return ok({ record: { type: RECORD_TYPE.ERROR, tag, code, message }, bytes: recordBytes });
    }
  }
}

/**
 * Parses a whole message (one or more records). All-or-nothing: if any record is malformed the message is
 * rejected, so a server never executes part of a corrupt batch. The error carries `details.tag` when known.
 */
export function parseMessage(buf: Uint8Array): Result<BlockRecord[]> {
  if (buf.length > MAX_BLOCK_MESSAGE_BYTES) {
    return fail(BLOCK_ERROR.MESSAGE_TOO_LARGE, `message of ${buf.length} bytes exceeds ${MAX_BLOCK_MESSAGE_BYTES}`);
  }
  if (buf.length === 0) return fail(BLOCK_ERROR.EMPTY_MESSAGE, 'message holds no records');
  const records: BlockRecord[] = [];
  let offset = 0;
  while (offset < buf.length) {
    const r = parseRecord(buf, offset);
    if (!r.ok) {
      const tag = (r.error.details?.tag as number | undefined) ?? peekTag(buf, offset);
      return fail(r.error.code, r.error.message, { tag, recordIndex: records.length, offset });
    }
    records.push(r.value.record);
    offset += r.value.bytes;
  }
  return ok(records);
}

// ---------------------------------------------------------------------------------------------------------
// Emit. `recordSize` gives the exact size; `emitRecord` writes at an offset and returns the bytes written.
// Emit trusts its input only as far as the type system does: lengths are checked, and a value that cannot
// be represented throws a VfabError (a programming error on the sending side, not untrusted input).

function textBytes(s: string): Uint8Array {
  return textEncoder.encode(s);
}

export function recordSize(r: BlockRecord): number {
  if (isUnknownRecord(r)) return r.bytes.length;
  switch (r.type) {
    case RECORD_TYPE.COMMAND:
      return COMMAND_FIXED_BYTES + r.cdb.length + (r.dataOut ? r.dataOut.length : 0);
    case RECORD_TYPE.RESPONSE:
      return RESPONSE_FIXED_BYTES + (r.sense ? r.sense.length : 0) + (r.dataIn ? r.dataIn.length : 0);
    case RECORD_TYPE.HELLO:
      return HELLO_FIXED_BYTES + Buffer.byteLength(r.initiator, 'utf8');
    case RECORD_TYPE.HELLO_ACK: {
      let n = HELLO_ACK_FIXED_BYTES;
      for (const l of r.luns) n += LUN_ENTRY_FIXED_BYTES + Buffer.byteLength(l.name, 'utf8');
      return n;
    }
    default:
      return ERROR_FIXED_BYTES + Buffer.byteLength(r.code, 'utf8') + Buffer.byteLength(r.message, 'utf8');
  }
}

function header(view: DataView, buf: Uint8Array, offset: number, type: number, bytes: number): void {
  buf[offset + OFF.type] = type;
  buf[offset + OFF.flags] = 0;
  view.setUint16(offset + OFF.reserved, 0);
  view.setUint32(offset + OFF.recordBytes, bytes);
}

function badEmit(message: string): never {
  throw new VfabError(BLOCK_ERROR.BAD_COMMAND, message);
}

/** Writes `r` at `offset` into `buf` (which must have room: see recordSize); returns the bytes written. */
export function emitRecord(buf: Uint8Array, offset: number, r: BlockRecord): number {
  const size = recordSize(r);
  if (buf.length - offset < size) badEmit(`emit needs ${size} bytes at offset ${offset}, buffer has ${buf.length - offset}`);
  const view = dv(buf);
  if (isUnknownRecord(r)) {
    buf.set(r.bytes, offset);
    return size;
  }
  switch (r.type) {
    case RECORD_TYPE.COMMAND: {
      const cdbBytes = r.cdb.length;
      const dataBytes = r.dataOut ? r.dataOut.length : 0;
      if (cdbBytes < MIN_CDB_BYTES || cdbBytes > MAX_CDB_BYTES) badEmit(`CDB length ${cdbBytes} outside ${MIN_CDB_BYTES}..${MAX_CDB_BYTES}`);
      if (dataBytes > MAX_DATA_TRANSFER_BYTES) badEmit(`data-out of ${dataBytes} bytes exceeds ${MAX_DATA_TRANSFER_BYTES}`);
      if (!(r.lun >= 0 && r.lun <= MAX_LUN_NUMBER)) badEmit(`LUN ${r.lun} outside 0..${MAX_LUN_NUMBER}`);
      header(view, buf, offset, RECORD_TYPE.COMMAND, size);
      view.setUint32(offset + OFF.cmdTag, r.tag >>> 0);
      view.setUint16(offset + OFF.cmdLun, r.lun);
      buf[offset + OFF.cmdCdbBytes] = cdbBytes;
      buf[offset + OFF.cmdReserved] = 0;
      view.setUint32(offset + OFF.cmdDataOutBytes, dataBytes);
      buf.set(r.cdb, offset + OFF.cmdCdb);
      if (r.dataOut) buf.set(r.dataOut, offset + OFF.cmdCdb + cdbBytes);
      return size;
    }
    case RECORD_TYPE.RESPONSE: {
      const senseBytes = r.sense ? r.sense.length : 0;
      const dataBytes = r.dataIn ? r.dataIn.length : 0;
      if (senseBytes > MAX_SENSE_BYTES) badEmit(`sense of ${senseBytes} bytes exceeds ${MAX_SENSE_BYTES}`);
      if (dataBytes > MAX_DATA_TRANSFER_BYTES) badEmit(`data-in of ${dataBytes} bytes exceeds ${MAX_DATA_TRANSFER_BYTES}`);
      header(view, buf, offset, RECORD_TYPE.RESPONSE, size);
      view.setUint32(offset + OFF.rspTag, r.tag >>> 0);
      buf[offset + OFF.rspStatus] = r.status;
      buf[offset + OFF.rspSenseBytes] = senseBytes;
      view.setUint16(offset + OFF.rspReserved, 0);
      view.setUint32(offset + OFF.rspDataInBytes, dataBytes);
      if (r.sense) buf.set(r.sense, offset + OFF.rspSense);
      if (r.dataIn) buf.set(r.dataIn, offset + OFF.rspSense + senseBytes);
      return size;
    }
    case RECORD_TYPE.HELLO: {
      const name = textBytes(r.initiator);
      if (name.length === 0 || name.length > MAX_INITIATOR_NAME_BYTES) badEmit(`initiator name of ${name.length} bytes (1..${MAX_INITIATOR_NAME_BYTES})`);
      header(view, buf, offset, RECORD_TYPE.HELLO, size);
      view.setUint16(offset + OFF.helloVersion, r.version);
      view.setUint16(offset + OFF.helloMaxInFlight, r.maxInFlight);
      view.setUint16(offset + OFF.helloNameBytes, name.length);
      view.setUint16(offset + OFF.helloReserved, 0);
      buf.set(name, offset + OFF.helloName);
      return size;
    }
    case RECORD_TYPE.HELLO_ACK: {
      if (r.luns.length > MAX_LUNS_IN_HELLO) badEmit(`HELLO_ACK with ${r.luns.length} LUNs (max ${MAX_LUNS_IN_HELLO})`);
      header(view, buf, offset, RECORD_TYPE.HELLO_ACK, size);
      view.setUint16(offset + OFF.ackVersion, r.version);
      view.setUint16(offset + OFF.ackMaxInFlight, r.maxInFlight);
      view.setUint32(offset + OFF.ackSessionId, r.sessionId >>> 0);
      view.setUint32(offset + OFF.ackMaxDataOutBytes, r.maxDataOutBytes);
      view.setUint32(offset + OFF.ackMaxDataInBytes, r.maxDataInBytes);
      view.setUint16(offset + OFF.ackLunCount, r.luns.length);
      view.setUint16(offset + OFF.ackReserved, 0);
      let p = offset + OFF.ackLuns;
      for (const l of r.luns) {
        const name = textBytes(l.name);
        if (name.length > MAX_LUN_NAME_BYTES) badEmit(`LUN name of ${name.length} bytes (max ${MAX_LUN_NAME_BYTES})`);
        view.setUint16(p + OFF.lunNumber, l.lun);
        view.setUint16(p + OFF.lunNameBytes, name.length);
        view.setUint32(p + OFF.lunBlockSizeBytes, l.blockSizeBytes);
        view.setBigUint64(p + OFF.lunBlocks, BigInt(l.blocks));
        buf.set(name, p + OFF.lunName);
        p += LUN_ENTRY_FIXED_BYTES + name.length;
      }
      return size;
    }
    default: {
      const code = textBytes(r.code);
      let message = textBytes(r.message);
      if (code.length > MAX_ERROR_CODE_BYTES) badEmit(`error code of ${code.length} bytes`);
      if (message.length > MAX_ERROR_MESSAGE_BYTES) badEmit(`error message of ${message.length} bytes (use errorRecord() to truncate)`);
      header(view, buf, offset, RECORD_TYPE.ERROR, size);
      view.setUint32(offset + OFF.errTag, r.tag >>> 0);
      view.setUint16(offset + OFF.errCodeBytes, code.length);
      view.setUint16(offset + OFF.errMessageBytes, message.length);
      buf.set(code, offset + OFF.errCode);
      buf.set(message, offset + OFF.errCode + code.length);
      return size;
    }
  }
}

/** Encodes records into one freshly allocated message buffer of exactly the right size. */
export function encodeMessage(records: readonly BlockRecord[]): Buffer {
  let total = 0;
  for (const r of records) total += recordSize(r);
  const buf = Buffer.allocUnsafe(total);
  let offset = 0;
  for (const r of records) offset += emitRecord(buf, offset, r);
  return buf;
}

/** An ERROR record whose message is cut to MAX_ERROR_MESSAGE_BYTES (on a character boundary). */
export function errorRecord(tag: number, code: string, message: string): ErrorRecord {
  return { type: RECORD_TYPE.ERROR, tag: tag >>> 0, code, message: truncateUtf8(message, MAX_ERROR_MESSAGE_BYTES) };
}

/** `s` cut (on a character boundary) to at most `maxBytes` UTF-8 bytes. */
export function truncateUtf8(s: string, maxBytes: number): string {
  let m = s;
  while (Buffer.byteLength(m, 'utf8') > maxBytes) m = m.slice(0, Math.floor(m.length * 0.9));
  return m;
}


// ---------------------------------------------------------------------------------------------------------
// Hot path (one COMMAND or RESPONSE per 4 KiB I/O): allocation-free scanning and emitting. `scanRecord`
// accepts a subset of what parseRecord accepts (well-formed COMMAND and RESPONSE records) and fills a reused
// RecordScan with field positions instead of building a record; on anything else it returns false and the
// caller falls back to parseRecord, which stays the authority for every error and every other record type.
// `MessageBuilder` appends records into a reusable buffer so a turn's records become one message.

/** Field positions of one COMMAND or RESPONSE record, filled by scanRecord (reused: no allocation). */
export class RecordScan {
  type = 0;
  recordBytes = 0;
  tag = 0;
  /** COMMAND: LUN. */
  lun = 0;
  /** RESPONSE: SCSI status. */
  status = 0;
  /** COMMAND: CDB position. */
  cdbOffset = 0;
  cdbBytes = 0;
  /** RESPONSE: sense position. */
  senseOffset = 0;
  senseBytes = 0;
  /** COMMAND data-out or RESPONSE data-in position. */
  dataOffset = 0;
  dataBytes = 0;
}

function be32(buf: Uint8Array, at: number): number {
  return ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
}

function putBe32(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v >>> 24;
  buf[at + 1] = v >>> 16;
  buf[at + 2] = v >>> 8;
  buf[at + 3] = v;
}

/**
 * True when the record at `offset` is a COMMAND or RESPONSE that parseRecord would accept; `out` then holds
 * its fields. False for every other case (other types, any malformation): use parseRecord there.
 */
export function scanRecord(buf: Uint8Array, offset: number, out: RecordScan): boolean {
  const left = buf.length - offset;
  if (left < COMMAND_FIXED_BYTES) return false; // COMMAND_FIXED_BYTES === RESPONSE_FIXED_BYTES
  const type = buf[offset]!;
  if (buf[offset + OFF.flags] !== 0 || buf[offset + OFF.reserved] !== 0 || buf[offset + OFF.reserved + 1] !== 0) return false;
  const recordBytes = be32(buf, offset + OFF.recordBytes);
  if (recordBytes > left) return false;
  if (type === RECORD_TYPE.COMMAND) {
    const cdbBytes = buf[offset + OFF.cmdCdbBytes]!;
    const dataBytes = be32(buf, offset + OFF.cmdDataOutBytes);
    if (buf[offset + OFF.cmdReserved] !== 0 || cdbBytes < MIN_CDB_BYTES || cdbBytes > MAX_CDB_BYTES || dataBytes > MAX_DATA_TRANSFER_BYTES) return false;
    if (COMMAND_FIXED_BYTES + cdbBytes + dataBytes !== recordBytes) return false;
    out.type = type;
    out.recordBytes = recordBytes;
    out.tag = be32(buf, offset + OFF.cmdTag);
    out.lun = (buf[offset + OFF.cmdLun]! << 8) | buf[offset + OFF.cmdLun + 1]!;
    out.cdbOffset = offset + OFF.cmdCdb;
    out.cdbBytes = cdbBytes;
    out.dataOffset = out.cdbOffset + cdbBytes;
    out.dataBytes = dataBytes;
    return true;
  }
  if (type === RECORD_TYPE.RESPONSE) {
    const senseBytes = buf[offset + OFF.rspSenseBytes]!;
    const dataBytes = be32(buf, offset + OFF.rspDataInBytes);
    if (buf[offset + OFF.rspReserved] !== 0 || buf[offset + OFF.rspReserved + 1] !== 0 || senseBytes > MAX_SENSE_BYTES || dataBytes > MAX_DATA_TRANSFER_BYTES) return false;
    if (RESPONSE_FIXED_BYTES + senseBytes + dataBytes !== recordBytes) return false;
    out.type = type;
    out.recordBytes = recordBytes;
    out.tag = be32(buf, offset + OFF.rspTag);
    out.status = buf[offset + OFF.rspStatus]!;
    out.senseOffset = offset + OFF.rspSense;
    out.senseBytes = senseBytes;
    out.dataOffset = out.senseOffset + senseBytes;
    out.dataBytes = dataBytes;
    return true;
  }
  return false;
}

/** Size of a RESPONSE record with this much sense and data. */
export function responseRecordBytes(senseBytes: number, dataBytes: number): number {
  return RESPONSE_FIXED_BYTES + senseBytes + dataBytes;
}

/** Size of a COMMAND record with this CDB and data-out. */
export function commandRecordBytes(cdbBytes: number, dataBytes: number): number {
  return COMMAND_FIXED_BYTES + cdbBytes + dataBytes;
}

/**
 * Writes a RESPONSE at `offset` (the caller reserved responseRecordBytes(...)); same bytes as emitRecord of
 * the equivalent ResponseRecord, without building one. Throws (a sender bug) on over-long sense or data.
 */
export function emitResponse(buf: Uint8Array, offset: number, tag: number, status: number, sense: Uint8Array | undefined, dataIn: Uint8Array | undefined): number {
  const senseBytes = sense === undefined ? 0 : sense.length;
  const dataBytes = dataIn === undefined ? 0 : dataIn.length;
  if (senseBytes > MAX_SENSE_BYTES) badEmit(`sense of ${senseBytes} bytes exceeds ${MAX_SENSE_BYTES}`);
  if (dataBytes > MAX_DATA_TRANSFER_BYTES) badEmit(`data-in of ${dataBytes} bytes exceeds ${MAX_DATA_TRANSFER_BYTES}`);
  const size = RESPONSE_FIXED_BYTES + senseBytes + dataBytes;
  if (buf.length - offset < size) badEmit(`emit needs ${size} bytes at offset ${offset}, buffer has ${buf.length - offset}`);
  buf[offset] = RECORD_TYPE.RESPONSE;
  buf[offset + 1] = 0;
  buf[offset + 2] = 0;
  buf[offset + 3] = 0;
  putBe32(buf, offset + OFF.recordBytes, size);
  putBe32(buf, offset + OFF.rspTag, tag >>> 0);
  buf[offset + OFF.rspStatus] = status;
  buf[offset + OFF.rspSenseBytes] = senseBytes;
  buf[offset + OFF.rspReserved] = 0;
  buf[offset + OFF.rspReserved + 1] = 0;
  putBe32(buf, offset + OFF.rspDataInBytes, dataBytes);
  if (sense !== undefined) buf.set(sense, offset + OFF.rspSense);
  if (dataIn !== undefined) buf.set(dataIn, offset + OFF.rspSense + senseBytes);
  return size;
}

/** Writes a COMMAND at `offset`; same bytes as emitRecord of the equivalent CommandRecord. */
export function emitCommand(buf: Uint8Array, offset: number, tag: number, lun: number, cdb: Uint8Array, dataOut: Uint8Array | undefined): number {
  const cdbBytes = cdb.length;
  const dataBytes = dataOut === undefined ? 0 : dataOut.length;
  if (cdbBytes < MIN_CDB_BYTES || cdbBytes > MAX_CDB_BYTES) badEmit(`CDB length ${cdbBytes} outside ${MIN_CDB_BYTES}..${MAX_CDB_BYTES}`);
  if (dataBytes > MAX_DATA_TRANSFER_BYTES) badEmit(`data-out of ${dataBytes} bytes exceeds ${MAX_DATA_TRANSFER_BYTES}`);
  if (!(lun >= 0 && lun <= MAX_LUN_NUMBER)) badEmit(`LUN ${lun} outside 0..${MAX_LUN_NUMBER}`);
  const size = COMMAND_FIXED_BYTES + cdbBytes + dataBytes;
  if (buf.length - offset < size) badEmit(`emit needs ${size} bytes at offset ${offset}, buffer has ${buf.length - offset}`);
  buf[offset] = RECORD_TYPE.COMMAND;
  buf[offset + 1] = 0;
  buf[offset + 2] = 0;
  buf[offset + 3] = 0;
  putBe32(buf, offset + OFF.recordBytes, size);
  putBe32(buf, offset + OFF.cmdTag, tag >>> 0);
  buf[offset + OFF.cmdLun] = lun >>> 8;
  buf[offset + OFF.cmdLun + 1] = lun;
  buf[offset + OFF.cmdCdbBytes] = cdbBytes;
  buf[offset + OFF.cmdReserved] = 0;
  putBe32(buf, offset + OFF.cmdDataOutBytes, dataBytes);
  buf.set(cdb, offset + OFF.cmdCdb);
  if (dataOut !== undefined) buf.set(dataOut, offset + OFF.cmdCdb + cdbBytes);
  return size;
}

/** First capacity of a MessageBuilder buffer (one QD32 turn of 4 KiB reads fits). */
export const MESSAGE_BUILDER_INITIAL_BYTES = 256 * 1024;
/** Buffers up to this size are kept for reuse once their message has been written; larger ones are dropped. */
export const MESSAGE_BUILDER_POOLED_BYTES = 1024 * 1024;
/** Spare buffers kept per builder. */
export const MESSAGE_BUILDER_SPARES = 2;

/**
 * Accumulates records into one message buffer. `reserve(n)` returns the offset to write n bytes at (growing
 * the buffer up to MAX_BLOCK_MESSAGE_BYTES; the caller takes the message first when `bytes + n` would
 * exceed it). `take()` hands out the message (a view of the buffer) and starts a new one. The socket owner
 * calls `written()` once per taken message when the transport is done with it, in taking order (stream
 * writes complete in order); that buffer is then reused, so a turn's responses cost no allocation.
 */
export class MessageBuilder {
  private buf: Buffer;
  private used = 0;
  private readonly inUse: Buffer[] = [];
  private readonly spare: Buffer[] = [];

  constructor(private readonly initialBytes = MESSAGE_BUILDER_INITIAL_BYTES) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  /** Bytes in the message being built. */
  get bytes(): number {
    return this.used;
  }

  /** The buffer to write into at the offset reserve() returned (valid until the next reserve/take). */
  get buffer(): Buffer {
    return this.buf;
  }

  reserve(n: number): number {
    const at = this.used;
    const need = at + n;
    if (need > this.buf.length) {
      if (need > MAX_BLOCK_MESSAGE_BYTES) badEmit(`message of ${need} bytes exceeds ${MAX_BLOCK_MESSAGE_BYTES}`);
      const grown = Buffer.allocUnsafe(Math.min(MAX_BLOCK_MESSAGE_BYTES, Math.max(need, 2 * this.buf.length)));
      this.buf.copy(grown, 0, 0, at);
      this.buf = grown;
    }
    this.used = need;
    return at;
  }

  /** The message built so far (empty when nothing was reserved); the builder starts a new one. */
  take(): Buffer {
    const msg = this.buf.subarray(0, this.used);
    if (this.used === 0) return msg;
    this.inUse.push(this.buf);
    this.buf = this.spare.pop() ?? Buffer.allocUnsafe(this.initialBytes);
    this.used = 0;
    return msg;
  }

  /** The oldest taken message has been written: its buffer may be reused. */
  written(): void {
    const b = this.inUse.shift();
    if (b !== undefined && b.length <= MESSAGE_BUILDER_POOLED_BYTES && this.spare.length < MESSAGE_BUILDER_SPARES) this.spare.push(b);
  }

  /** Drops the message being built (connection gone). */
  discard(): void {
    this.used = 0;
  }
}
