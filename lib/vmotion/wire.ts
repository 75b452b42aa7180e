// The vMotion datagram format (docs/vmotion.md "Wire format"): one message per UDP payload, sent between
// the vMotion vmkernel ports of the source and destination hosts. Covers named offsets with a read-only
// view for hot paths, `parseVmotion` that validates untrusted bytes (magic, version, type, every length
// and range) and returns a typed error instead of throwing, and `emitVmotion`/`buildVmotion`. vfab's own
// layout (ESXi's vMotion stream is TCP and undocumented); all integers big-endian:
//
//   header  0 magic "VFVM" u32 | 4 version u8 | 5 type u8 | 6 reserved u16 (0) | 8 migration u32 | 12 seq u32
//   OPEN        16 memory bytes (hi u32, lo u32) | 24 page bytes u32 | 28 name length u8 | 29 name (UTF-8)
//   DATA        16 region u8 (0 memory, 1 state) | 17 pass u8 | 18 length u16 | 20 page u32
//               | 24 offset u32 (in the page, or in the state) | 28 state total u32 (0 for memory) | 32 data
//   SWITCHOVER  16 stun time f64 (fabric ms) | 24 state bytes u32 | 28 pages u32
//   ABORT       16 reason u8 | 17 reserved (3 bytes, 0)
//   ACK         (seq = next expected) 16 status u8 | 17 reason u8 | 18 window u16 | 20 resumed at f64
//               | 28 selective bitmap (32 bytes: bit i of byte i>>3, LSB first = seq next+1+i received)
//
// OPEN, DATA and SWITCHOVER are sequenced (window, acks, retransmission: transfer.ts); ACK and ABORT are
// not. Leaves out the IP/UDP headers (the host's vmkernel port adds them) and what the fields mean to the
// two sides (source.ts, destination.ts).

import { type Result, ok, err } from '../errors.js';
import { VmotionError, VMOTION_MAX_VM_NAME_BYTES, VMOTION_MAX_WINDOW_CHUNKS, isReason } from './config.js';

export const VMOTION_MAGIC = 0x5646564d; // "VFVM"
export const VMOTION_VERSION = 1;

export const VM_MAGIC_OFFSET = 0;
export const VM_VERSION_OFFSET = 4;
export const VM_TYPE_OFFSET = 5;
export const VM_RESERVED_OFFSET = 6;
export const VM_MIGRATION_OFFSET = 8;
export const VM_SEQ_OFFSET = 12;
export const VM_HEADER_BYTES = 16;

export const OPEN_MEMORY_HI_OFFSET = 16;
export const OPEN_MEMORY_LO_OFFSET = 20;
export const OPEN_PAGE_BYTES_OFFSET = 24;
export const OPEN_NAME_LENGTH_OFFSET = 28;
export const OPEN_NAME_OFFSET = 29;

export const DATA_REGION_OFFSET = 16;
export const DATA_PASS_OFFSET = 17;
export const DATA_LENGTH_OFFSET = 18;
export const DATA_PAGE_OFFSET = 20;
export const DATA_BYTE_OFFSET_OFFSET = 24;
export const DATA_TOTAL_OFFSET = 28;
export const DATA_PAYLOAD_OFFSET = 32;

export const SWITCHOVER_STUN_AT_OFFSET = 16;
export const SWITCHOVER_STATE_BYTES_OFFSET = 24;
export const SWITCHOVER_PAGES_OFFSET = 28;
export const SWITCHOVER_BYTES = 32;

export const ABORT_REASON_OFFSET = 16;
export const ABORT_BYTES = 20;

export const ACK_STATUS_OFFSET = 16;
export const ACK_REASON_OFFSET = 17;
export const ACK_WINDOW_OFFSET = 18;
export const ACK_RESUMED_AT_OFFSET = 20;
export const ACK_SACK_OFFSET = 28;
export const ACK_SACK_BYTES = VMOTION_MAX_WINDOW_CHUNKS / 8;
export const ACK_BYTES = ACK_SACK_OFFSET + ACK_SACK_BYTES;

export const MSG_OPEN = 1;
export const MSG_DATA = 2;
export const MSG_SWITCHOVER = 3;
export const MSG_ABORT = 4;
export const MSG_ACK = 5;

export const REGION_MEMORY = 0;
export const REGION_STATE = 1;

/** What the destination says about itself in every ACK. */
export const DestStatus = {
  /** OPEN accepted; receiving memory and state. */
  RECEIVING: 1,
  /** The VM runs here (locks taken). */
  RESUMED: 2,
  /** The destination gave up or refused; `reason` says why. */
  FAILED: 3,
} as const;
export type DestStatusNumber = (typeof DestStatus)[keyof typeof DestStatus];

interface Base { migrationId: number; seq: number }
export interface OpenMessage extends Base { type: 'open'; memoryBytes: number; pageBytes: number; vm: string }
export interface DataMessage extends Base {
  type: 'data'; region: 'memory' | 'state'; pass: number; page: number; offset: number; total: number;
  /** A view into the parsed buffer (zero-copy); copy it to keep it. */
  data: Uint8Array;
}
export interface SwitchoverMessage extends Base { type: 'switchover'; stunAtMs: number; stateBytes: number; pages: number }
export interface AbortMessage extends Base { type: 'abort'; reason: number }
export interface AckMessage extends Base {
  type: 'ack'; status: DestStatusNumber; reason: number; window: number; resumedAtMs: number;
  /** ACK_SACK_BYTES bytes; a view into the parsed buffer. */
  sack: Uint8Array;
}
export type VmotionMessage = OpenMessage | DataMessage | SwitchoverMessage | AbortMessage | AckMessage;

// ---------------------------------------------------------------- view (no allocation)

function u32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}
function u16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}
function putU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}
function putU16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}

/** Message type byte, or 0 when `buf` is not a vMotion datagram of this version. */
export function vmotionType(buf: Uint8Array): number {
  if (buf.length < VM_HEADER_BYTES || u32(buf, VM_MAGIC_OFFSET) !== VMOTION_MAGIC || buf[VM_VERSION_OFFSET] !== VMOTION_VERSION) return 0;
  return buf[VM_TYPE_OFFSET]!;
}
export function vmotionMigrationId(buf: Uint8Array): number {
  return u32(buf, VM_MIGRATION_OFFSET);
}
export function vmotionSeq(buf: Uint8Array): number {
  return u32(buf, VM_SEQ_OFFSET);
}

// ---------------------------------------------------------------- parse (untrusted bytes)

function fail(code: string, message: string): { ok: false; error: VmotionError } {
  return err(new VmotionError(code, message));
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parses one datagram; never throws. Views (DATA data, ACK sack) point into `buf`. */
export function parseVmotion(buf: Uint8Array): Result<VmotionMessage, VmotionError> {
  if (buf.length < VM_HEADER_BYTES) return fail('VFAB_VMOTION_TRUNCATED', `datagram of ${buf.length} bytes is shorter than the ${VM_HEADER_BYTES}-byte header`);
  if (u32(buf, VM_MAGIC_OFFSET) !== VMOTION_MAGIC) return fail('VFAB_VMOTION_BAD_MAGIC', 'datagram is not a vfab vMotion message (magic)');
  if (buf[VM_VERSION_OFFSET] !== VMOTION_VERSION) return fail('VFAB_VMOTION_BAD_VERSION', `vMotion version ${buf[VM_VERSION_OFFSET]} is not ${VMOTION_VERSION}`);
  if (u16(buf, VM_RESERVED_OFFSET) !== 0) return fail('VFAB_VMOTION_BAD_FIELD', 'reserved header bytes are not zero');
  const migrationId = u32(buf, VM_MIGRATION_OFFSET);
  const seq = u32(buf, VM_SEQ_OFFSET);
  const type = buf[VM_TYPE_OFFSET]!;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  switch (type) {
    case MSG_OPEN: {
      if (buf.length < OPEN_NAME_OFFSET) return fail('VFAB_VMOTION_TRUNCATED', 'OPEN shorter than its fixed fields');
      const hi = u32(buf, OPEN_MEMORY_HI_OFFSET);
      if (hi >= 0x200000) return fail('VFAB_VMOTION_BAD_FIELD', 'OPEN memory size beyond 2^53 bytes');
      const memoryBytes = hi * 0x100000000 + u32(buf, OPEN_MEMORY_LO_OFFSET);
      const pageBytes = u32(buf, OPEN_PAGE_BYTES_OFFSET);
      const nameLen = buf[OPEN_NAME_LENGTH_OFFSET]!;
      if (nameLen === 0 || nameLen > VMOTION_MAX_VM_NAME_BYTES) return fail('VFAB_VMOTION_BAD_FIELD', `OPEN VM name length ${nameLen} is not 1..${VMOTION_MAX_VM_NAME_BYTES}`);
      if (buf.length !== OPEN_NAME_OFFSET + nameLen) return fail('VFAB_VMOTION_BAD_LENGTH', `OPEN of ${buf.length} bytes does not end with its ${nameLen}-byte name`);
      let vm: string;
      try {
        vm = utf8.decode(buf.subarray(OPEN_NAME_OFFSET, OPEN_NAME_OFFSET + nameLen));
      } catch {
        return fail('VFAB_VMOTION_BAD_FIELD', 'OPEN VM name is not UTF-8');
      }
      return ok({ type: 'open', migrationId, seq, memoryBytes, pageBytes, vm });
    }
    case MSG_DATA: {
      if (buf.length < DATA_PAYLOAD_OFFSET) return fail('VFAB_VMOTION_TRUNCATED', 'DATA shorter than its fixed fields');
      const region = buf[DATA_REGION_OFFSET]!;
      if (region !== REGION_MEMORY && region !== REGION_STATE) return fail('VFAB_VMOTION_BAD_FIELD', `DATA region ${region} is not 0 (memory) or 1 (state)`);
      const length = u16(buf, DATA_LENGTH_OFFSET);
      if (length === 0 || buf.length !== DATA_PAYLOAD_OFFSET + length) {
        return fail('VFAB_VMOTION_BAD_LENGTH', `DATA length ${length} does not match the ${buf.length - DATA_PAYLOAD_OFFSET} bytes after its header`);
      }
      const page = u32(buf, DATA_PAGE_OFFSET);
      const offset = u32(buf, DATA_BYTE_OFFSET_OFFSET);
      const total = u32(buf, DATA_TOTAL_OFFSET);
      if (region === REGION_STATE ? (page !== 0 || offset + length > total) : total !== 0) {
        return fail('VFAB_VMOTION_BAD_FIELD', 'DATA page/offset/total are inconsistent for its region');
      }
      return ok({
        type: 'data', migrationId, seq, region: region === REGION_MEMORY ? 'memory' : 'state', pass: buf[DATA_PASS_OFFSET]!,
        page, offset, total, data: buf.subarray(DATA_PAYLOAD_OFFSET),
      });
    }
    case MSG_SWITCHOVER: {
      if (buf.length !== SWITCHOVER_BYTES) return fail('VFAB_VMOTION_BAD_LENGTH', `SWITCHOVER of ${buf.length} bytes is not ${SWITCHOVER_BYTES}`);
      const stunAtMs = view.getFloat64(SWITCHOVER_STUN_AT_OFFSET);
      if (!Number.isFinite(stunAtMs) || stunAtMs < 0) return fail('VFAB_VMOTION_BAD_FIELD', 'SWITCHOVER stun time is not a finite non-negative number');
      return ok({ type: 'switchover', migrationId, seq, stunAtMs, stateBytes: u32(buf, SWITCHOVER_STATE_BYTES_OFFSET), pages: u32(buf, SWITCHOVER_PAGES_OFFSET) });
    }
    case MSG_ABORT: {
      if (buf.length !== ABORT_BYTES) return fail('VFAB_VMOTION_BAD_LENGTH', `ABORT of ${buf.length} bytes is not ${ABORT_BYTES}`);
      const reason = buf[ABORT_REASON_OFFSET]!;
      if (!isReason(reason)) return fail('VFAB_VMOTION_BAD_FIELD', `ABORT reason ${reason} is unknown`);
      return ok({ type: 'abort', migrationId, seq, reason });
    }
    case MSG_ACK: {
      if (buf.length !== ACK_BYTES) return fail('VFAB_VMOTION_BAD_LENGTH', `ACK of ${buf.length} bytes is not ${ACK_BYTES}`);
      const status = buf[ACK_STATUS_OFFSET]!;
      if (status !== DestStatus.RECEIVING && status !== DestStatus.RESUMED && status !== DestStatus.FAILED) {
        return fail('VFAB_VMOTION_BAD_FIELD', `ACK status ${status} is unknown`);
      }
      const reason = buf[ACK_REASON_OFFSET]!;
      if (!isReason(reason)) return fail('VFAB_VMOTION_BAD_FIELD', `ACK reason ${reason} is unknown`);
      const window = u16(buf, ACK_WINDOW_OFFSET);
      if (window > VMOTION_MAX_WINDOW_CHUNKS) return fail('VFAB_VMOTION_BAD_FIELD', `ACK window ${window} exceeds ${VMOTION_MAX_WINDOW_CHUNKS}`);
      const resumedAtMs = view.getFloat64(ACK_RESUMED_AT_OFFSET);
      if (!Number.isFinite(resumedAtMs) || resumedAtMs < 0) return fail('VFAB_VMOTION_BAD_FIELD', 'ACK resume time is not a finite non-negative number');
      return ok({ type: 'ack', migrationId, seq, status, reason, window, resumedAtMs, sack: buf.subarray(ACK_SACK_OFFSET, ACK_BYTES) });
    }
    default:
      return fail('VFAB_VMOTION_BAD_TYPE', `vMotion message type ${type} is unknown`);
  }
}

// ---------------------------------------------------------------- emit

const utf8Encoder = new TextEncoder();

/** Bytes `m` takes on the wire. */
export function vmotionBytes(m: VmotionMessage): number {
  switch (m.type) {
    case 'open': return OPEN_NAME_OFFSET + utf8Encoder.encode(m.vm).length;
    case 'data': return DATA_PAYLOAD_OFFSET + m.data.length;
    case 'switchover': return SWITCHOVER_BYTES;
    case 'abort': return ABORT_BYTES;
    case 'ack': return ACK_BYTES;
  }
}

function checkField(ok: boolean, what: string): void {
  if (!ok) throw new VmotionError('VFAB_VMOTION_BAD_FIELD', `cannot emit: ${what}`);
}
const isU32 = (v: number): boolean => Number.isInteger(v) && v >= 0 && v <= 0xffffffff;

/**
 * Writes `m` at the start of `buf` (at least vmotionBytes(m) long); returns the bytes written. Throws
 * VFAB_VMOTION_BAD_FIELD for a value that does not fit its field (a bug in the caller, not input).
 */
export function emitVmotion(m: VmotionMessage, buf: Uint8Array): number {
  const total = vmotionBytes(m);
  checkField(buf.length >= total, `buffer of ${buf.length} bytes is smaller than ${total}`);
  checkField(isU32(m.migrationId) && isU32(m.seq), 'migration id and seq are u32');
  putU32(buf, VM_MAGIC_OFFSET, VMOTION_MAGIC);
  buf[VM_VERSION_OFFSET] = VMOTION_VERSION;
  putU16(buf, VM_RESERVED_OFFSET, 0);
  putU32(buf, VM_MIGRATION_OFFSET, m.migrationId);
  putU32(buf, VM_SEQ_OFFSET, m.seq);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  switch (m.type) {
    case 'open': {
      const name = utf8Encoder.encode(m.vm);
      checkField(name.length >= 1 && name.length <= VMOTION_MAX_VM_NAME_BYTES, `VM name of ${name.length} bytes`);
      checkField(Number.isSafeInteger(m.memoryBytes) && m.memoryBytes >= 0 && isU32(m.pageBytes), 'memory and page sizes');
      buf[VM_TYPE_OFFSET] = MSG_OPEN;
      putU32(buf, OPEN_MEMORY_HI_OFFSET, Math.floor(m.memoryBytes / 0x100000000));
      putU32(buf, OPEN_MEMORY_LO_OFFSET, m.memoryBytes >>> 0);
      putU32(buf, OPEN_PAGE_BYTES_OFFSET, m.pageBytes);
      buf[OPEN_NAME_LENGTH_OFFSET] = name.length;
      buf.set(name, OPEN_NAME_OFFSET);
      break;
    }
    case 'data':
      checkField(m.data.length >= 1 && m.data.length <= 0xffff, `DATA of ${m.data.length} bytes`);
      checkField(isU32(m.page) && isU32(m.offset) && isU32(m.total) && Number.isInteger(m.pass) && m.pass >= 0 && m.pass <= 0xff, 'DATA page/offset/total/pass');
      buf[VM_TYPE_OFFSET] = MSG_DATA;
      buf[DATA_REGION_OFFSET] = m.region === 'memory' ? REGION_MEMORY : REGION_STATE;
      buf[DATA_PASS_OFFSET] = m.pass;
      putU16(buf, DATA_LENGTH_OFFSET, m.data.length);
      putU32(buf, DATA_PAGE_OFFSET, m.page);
      putU32(buf, DATA_BYTE_OFFSET_OFFSET, m.offset);
      putU32(buf, DATA_TOTAL_OFFSET, m.total);
      buf.set(m.data, DATA_PAYLOAD_OFFSET);
      break;
    case 'switchover':
      checkField(isU32(m.stateBytes) && isU32(m.pages) && Number.isFinite(m.stunAtMs) && m.stunAtMs >= 0, 'SWITCHOVER fields');
      buf[VM_TYPE_OFFSET] = MSG_SWITCHOVER;
      view.setFloat64(SWITCHOVER_STUN_AT_OFFSET, m.stunAtMs);
      putU32(buf, SWITCHOVER_STATE_BYTES_OFFSET, m.stateBytes);
      putU32(buf, SWITCHOVER_PAGES_OFFSET, m.pages);
      break;
    case 'abort':
      checkField(isReason(m.reason), `ABORT reason ${m.reason}`);
      buf[VM_TYPE_OFFSET] = MSG_ABORT;
      buf[ABORT_REASON_OFFSET] = m.reason;
      buf.fill(0, ABORT_REASON_OFFSET + 1, ABORT_BYTES);
      break;
    case 'ack':
      checkField(isReason(m.reason) && m.window >= 0 && m.window <= VMOTION_MAX_WINDOW_CHUNKS && m.sack.length === ACK_SACK_BYTES, 'ACK fields');
      checkField(Number.isFinite(m.resumedAtMs) && m.resumedAtMs >= 0, 'ACK resume time');
      buf[VM_TYPE_OFFSET] = MSG_ACK;
      buf[ACK_STATUS_OFFSET] = m.status;
      buf[ACK_REASON_OFFSET] = m.reason;
      putU16(buf, ACK_WINDOW_OFFSET, m.window);
      view.setFloat64(ACK_RESUMED_AT_OFFSET, m.resumedAtMs);
      buf.set(m.sack, ACK_SACK_OFFSET);
      break;
  }
  return total;
}

/** A fresh Buffer holding `m`. */
export function buildVmotion(m: VmotionMessage): Buffer {
  const buf = Buffer.alloc(vmotionBytes(m));
  emitVmotion(m, buf);
  return buf;
}
