// iSCSI PDU codec (RFC 7143 §11): the 48-byte Basic Header Segment (BHS) of every PDU type as a view with
// named offsets, the Additional Header Segments (AHS, §11.2.2), the optional header and data digests
// (CRC32C, §11.2.3 and §13.1) and the data segment padded to 4 bytes (§11.2.4). Covers parse (validates
// untrusted bytes against named limits and returns a typed error, never throws) and emit for every PDU
// type, target side and initiator side (the latter for tests and tools). Leaves out stream reassembly
// (lib/iscsi/framer.ts), text data (lib/iscsi/text.ts), login and negotiation (lib/iscsi/negotiate.ts) and
// every SCSI meaning of the fields (sequence numbers, tasks, residuals: later, with the portal in stored).
//
// Byte layout common to all PDUs (§11.2.1): byte 0 = reserved bit, I (immediate) bit, 6-bit opcode; byte 1
// = F bit and opcode-specific flags; bytes 2-3 opcode-specific; byte 4 = TotalAHSLength in 4-byte words;
// bytes 5-7 = DataSegmentLength in bytes (padding excluded); bytes 8-15 LUN or opcode-specific; bytes
// 16-19 Initiator Task Tag; bytes 20-47 opcode-specific. All integers big-endian; digests travel least
// significant byte first (lib/iscsi/crc32c.ts).

import { VfabError, type Result, ok, err } from '../errors.js';
import { DIGEST_BYTES, crc32c, crc32cFinish, crc32cUpdate, CRC32C_INIT, readDigest, writeDigest } from './crc32c.js';

export const BHS_BYTES = 48;
/** The data segment and every AHS are padded to a multiple of this many bytes. */
export const PAD_BYTES = 4;
/** DataSegmentLength is a 24-bit field. */
export const DATA_SEGMENT_LENGTH_FIELD_MAX = 0xffffff;
/**
 * Largest data segment vfab accepts in any PDU, whatever was negotiated (a receiver's own
 * MaxRecvDataSegmentLength is at most this; §13.12 allows up to 2^24-1).
 */
export const ISCSI_MAX_DATA_SEGMENT_BYTES = 1024 * 1024;
/**
 * Largest AHS total vfab accepts (TotalAHSLength allows 1020 bytes). An extended CDB of the largest
 * variable-length CDB (260 bytes) takes 248 bytes of AHS, the bidirectional read length 8.
 */
export const ISCSI_MAX_AHS_BYTES = 256;
/** Bytes of one AHS before its specific data: AHSLength (u16) and AHSType (u8). */
export const AHS_HEADER_BYTES = 3;
/** Largest PDU vfab parses: BHS, AHS, header digest, data segment, data digest. */
export const ISCSI_MAX_PDU_BYTES = BHS_BYTES + ISCSI_MAX_AHS_BYTES + DIGEST_BYTES + ISCSI_MAX_DATA_SEGMENT_BYTES + DIGEST_BYTES;

/** Opcodes (§11.2.1); initiator opcodes are below 0x20, target opcodes from 0x20. */
export const OPCODE = {
  NOP_OUT: 0x00,
  SCSI_COMMAND: 0x01,
  TASK_MGMT_REQUEST: 0x02,
  LOGIN_REQUEST: 0x03,
  TEXT_REQUEST: 0x04,
  DATA_OUT: 0x05,
  LOGOUT_REQUEST: 0x06,
  SNACK_REQUEST: 0x10,
  NOP_IN: 0x20,
  SCSI_RESPONSE: 0x21,
  TASK_MGMT_RESPONSE: 0x22,
  LOGIN_RESPONSE: 0x23,
  TEXT_RESPONSE: 0x24,
  DATA_IN: 0x25,
  LOGOUT_RESPONSE: 0x26,
  R2T: 0x31,
  ASYNC_MESSAGE: 0x32,
  REJECT: 0x3f,
} as const;
export type Opcode = (typeof OPCODE)[keyof typeof OPCODE];
export const OPCODE_NAME: Record<number, string> = Object.fromEntries(Object.entries(OPCODE).map(([k, v]) => [v, k]));

/** Offsets of the fields every PDU has. */
export const BHS_OFF = {
  opcode: 0,
  flags: 1,
  totalAhsLength: 4,
  dataSegmentLength: 5,
  itt: 16,
} as const;

export const OPCODE_MASK = 0x3f;
export const IMMEDIATE_BIT = 0x40;
/** Byte 0 bit 7 is reserved (0). */
export const OPCODE_RESERVED_BIT = 0x80;

/** Flag bits of byte 1 (§11.3, §11.4, §11.7, §11.10, §11.12, §11.13). */
export const FLAG = {
  /** Final: last PDU of a sequence (on every PDU type that has it). */
  F: 0x80,
  // SCSI Command
  READ: 0x40,
  WRITE: 0x20,
  ATTR_MASK: 0x07,
  // SCSI Response and Data-In residual bits
  BIDI_OVERFLOW: 0x10,
  BIDI_UNDERFLOW: 0x08,
  OVERFLOW: 0x04,
  UNDERFLOW: 0x02,
  // Data-In
  ACK: 0x40,
  STATUS: 0x01,
  // Login and Text: Continue; Login: Transit and the stage fields
  CONTINUE: 0x40,
  TRANSIT: 0x80,
  CSG_SHIFT: 2,
  STAGE_MASK: 0x03,
  /** Task Management function and Logout reason code: the low 7 bits of byte 1. */
  FUNCTION_MASK: 0x7f,
} as const;

/** Login stages (§11.12.3). */
export const STAGE = { SECURITY: 0, OPERATIONAL: 1, FULL_FEATURE: 3 } as const;

/** AHS types (§11.2.2.1). */
export const AHS_TYPE = { EXTENDED_CDB: 1, BIDI_READ_LENGTH: 2 } as const;

/** Reject reasons (§11.17.1). */
export const REJECT_REASON = {
  DATA_DIGEST: 0x02,
  SNACK_REJECT: 0x03,
  PROTOCOL_ERROR: 0x04,
  COMMAND_NOT_SUPPORTED: 0x05,
  IMMEDIATE_COMMAND_REJECT: 0x06,
  TASK_IN_PROGRESS: 0x07,
  INVALID_DATA_ACK: 0x08,
  INVALID_PDU_FIELD: 0x09,
  LONG_OPERATION_REJECT: 0x0a,
  WAITING_FOR_LOGOUT: 0x0c,
} as const;

/** Login response status (class << 8 | detail, §11.13.5). */
export const LOGIN_STATUS = {
  SUCCESS: 0x0000,
  TARGET_MOVED_TEMPORARILY: 0x0101,
  TARGET_MOVED_PERMANENTLY: 0x0102,
  INITIATOR_ERROR: 0x0200,
  AUTHENTICATION_FAILURE: 0x0201,
  AUTHORIZATION_FAILURE: 0x0202,
  NOT_FOUND: 0x0203,
  TARGET_REMOVED: 0x0204,
  UNSUPPORTED_VERSION: 0x0205,
  TOO_MANY_CONNECTIONS: 0x0206,
  MISSING_PARAMETER: 0x0207,
  CANT_INCLUDE_IN_SESSION: 0x0208,
  SESSION_TYPE_NOT_SUPPORTED: 0x0209,
  SESSION_DOES_NOT_EXIST: 0x020a,
  INVALID_DURING_LOGIN: 0x020b,
  TARGET_ERROR: 0x0300,
  SERVICE_UNAVAILABLE: 0x0301,
  OUT_OF_RESOURCES: 0x0302,
} as const;

/** The reserved tag value (ITT of unsolicited target PDUs, TTT when none is wanted). */
export const RESERVED_TAG = 0xffffffff;

type Kind = 'u8' | 'u16' | 'u32' | 'u64' | 'isid' | 'cdb';
const KIND_BYTES: Record<Kind, number> = { u8: 1, u16: 2, u32: 4, u64: 8, isid: 6, cdb: 16 };

/**
 * The opcode-specific fields of each BHS: name -> [offset, kind] (§11.3 to §11.18). Bytes 0, 1, 4-7 and
 * the ITT (16-19) are common; what no table names is reserved (sent as 0, ignored on receipt).
 */
export const LAYOUT = {
  [OPCODE.NOP_OUT]: { lun: [8, 'u64'], ttt: [20, 'u32'], cmdSN: [24, 'u32'], expStatSN: [28, 'u32'] },
  [OPCODE.SCSI_COMMAND]: {
    lun: [8, 'u64'],
    expectedDataTransferLength: [20, 'u32'],
    cmdSN: [24, 'u32'],
    expStatSN: [28, 'u32'],
    cdb: [32, 'cdb'],
  },
  [OPCODE.TASK_MGMT_REQUEST]: {
    lun: [8, 'u64'],
    referencedTaskTag: [20, 'u32'],
    cmdSN: [24, 'u32'],
    expStatSN: [28, 'u32'],
    refCmdSN: [32, 'u32'],
    expDataSN: [36, 'u32'],
  },
  [OPCODE.LOGIN_REQUEST]: {
    versionMax: [2, 'u8'],
    versionMin: [3, 'u8'],
    isid: [8, 'isid'],
    tsih: [14, 'u16'],
    cid: [20, 'u16'],
    cmdSN: [24, 'u32'],
    expStatSN: [28, 'u32'],
  },
  [OPCODE.TEXT_REQUEST]: { lun: [8, 'u64'], ttt: [20, 'u32'], cmdSN: [24, 'u32'], expStatSN: [28, 'u32'] },
  [OPCODE.DATA_OUT]: { lun: [8, 'u64'], ttt: [20, 'u32'], expStatSN: [28, 'u32'], dataSN: [36, 'u32'], bufferOffset: [40, 'u32'] },
  [OPCODE.LOGOUT_REQUEST]: { cid: [20, 'u16'], cmdSN: [24, 'u32'], expStatSN: [28, 'u32'] },
  [OPCODE.SNACK_REQUEST]: { lun: [8, 'u64'], ttt: [20, 'u32'], expStatSN: [28, 'u32'], begRun: [40, 'u32'], runLength: [44, 'u32'] },
  [OPCODE.NOP_IN]: { lun: [8, 'u64'], ttt: [20, 'u32'], statSN: [24, 'u32'], expCmdSN: [28, 'u32'], maxCmdSN: [32, 'u32'] },
  [OPCODE.SCSI_RESPONSE]: {
    response: [2, 'u8'],
    status: [3, 'u8'],
    snackTag: [20, 'u32'],
    statSN: [24, 'u32'],
    expCmdSN: [28, 'u32'],
    maxCmdSN: [32, 'u32'],
    expDataSN: [36, 'u32'],
    bidiReadResidualCount: [40, 'u32'],
    residualCount: [44, 'u32'],
  },
  [OPCODE.TASK_MGMT_RESPONSE]: { response: [2, 'u8'], statSN: [24, 'u32'], expCmdSN: [28, 'u32'], maxCmdSN: [32, 'u32'] },
  [OPCODE.LOGIN_RESPONSE]: {
    versionMax: [2, 'u8'],
    versionActive: [3, 'u8'],
    isid: [8, 'isid'],
    tsih: [14, 'u16'],
    statSN: [24, 'u32'],
    expCmdSN: [28, 'u32'],
    maxCmdSN: [32, 'u32'],
    statusClass: [36, 'u8'],
    statusDetail: [37, 'u8'],
  },
  [OPCODE.TEXT_RESPONSE]: { lun: [8, 'u64'], ttt: [20, 'u32'], statSN: [24, 'u32'], expCmdSN: [28, 'u32'], maxCmdSN: [32, 'u32'] },
  [OPCODE.DATA_IN]: {
    status: [3, 'u8'],
    lun: [8, 'u64'],
    ttt: [20, 'u32'],
    statSN: [24, 'u32'],
    expCmdSN: [28, 'u32'],
    maxCmdSN: [32, 'u32'],
    dataSN: [36, 'u32'],
    bufferOffset: [40, 'u32'],
    residualCount: [44, 'u32'],
  },
  [OPCODE.LOGOUT_RESPONSE]: {
    response: [2, 'u8'],
    statSN: [24, 'u32'],
    expCmdSN: [28, 'u32'],
    maxCmdSN: [32, 'u32'],
    time2Wait: [40, 'u16'],
    time2Retain: [42, 'u16'],
  },
  [OPCODE.R2T]: {
    lun: [8, 'u64'],
    ttt: [20, 'u32'],
    statSN: [24, 'u32'],
    expCmdSN: [28, 'u32'],
    maxCmdSN: [32, 'u32'],
    r2tSN: [36, 'u32'],
    bufferOffset: [40, 'u32'],
    desiredDataTransferLength: [44, 'u32'],
  },
  [OPCODE.ASYNC_MESSAGE]: {
    lun: [8, 'u64'],
    statSN: [24, 'u32'],
    expCmdSN: [28, 'u32'],
    maxCmdSN: [32, 'u32'],
    asyncEvent: [36, 'u8'],
    asyncVCode: [37, 'u8'],
    parameter1: [38, 'u16'],
    parameter2: [40, 'u16'],
    parameter3: [42, 'u16'],
  },
  [OPCODE.REJECT]: { reason: [2, 'u8'], statSN: [24, 'u32'], expCmdSN: [28, 'u32'], maxCmdSN: [32, 'u32'], dataSN: [36, 'u32'] },
} as const satisfies Record<Opcode, Record<string, readonly [number, Kind]>>;

type KindValue<K> = K extends 'u64' ? bigint : K extends 'isid' | 'cdb' ? Uint8Array : number;
type Fields<Op extends Opcode> = { -readonly [F in keyof (typeof LAYOUT)[Op]]: KindValue<(typeof LAYOUT)[Op][F] extends readonly [number, infer K] ? K : never> };

/** The parts every PDU has. `ahs` is the raw AHS bytes (padding included), `data` the data segment without padding. */
export interface PduCommon<Op extends Opcode> {
  opcode: Op;
  /** The I bit (initiator PDUs only; 0 on target PDUs). */
  immediate: boolean;
  /** Byte 1 whole: F bit and opcode-specific flags (see FLAG). */
  flags: number;
  itt: number;
  ahs: Uint8Array;
  data: Uint8Array;
}
export type PduOf<Op extends Opcode> = PduCommon<Op> & Fields<Op>;
export type Pdu = { [Op in Opcode]: PduOf<Op> }[Opcode];

/** Whether header and data digests are in use on a connection (§13.1; both off during login). */
export interface Digests {
  header: boolean;
  data: boolean;
}
export const NO_DIGESTS: Digests = { header: false, data: false };

/** Stable codes of PDU errors. Fatal ones (see FATAL_PDU_ERRORS) lose the framing: close the connection. */
export const ISCSI_ERROR = {
  /** Fewer bytes than the PDU needs. */
  TRUNCATED: 'VFAB_ISCSI_TRUNCATED',
  /** An opcode RFC 7143 does not define, or the reserved bit of byte 0 set. */
  BAD_OPCODE: 'VFAB_ISCSI_BAD_OPCODE',
  /** TotalAHSLength above ISCSI_MAX_AHS_BYTES. */
  AHS_TOO_LONG: 'VFAB_ISCSI_AHS_TOO_LONG',
  /** An AHS whose length runs past the AHS area, or an AHS on a PDU type that has none. */
  BAD_AHS: 'VFAB_ISCSI_BAD_AHS',
  /** DataSegmentLength above the receiver's limit (its MaxRecvDataSegmentLength). */
  DATA_TOO_LONG: 'VFAB_ISCSI_DATA_TOO_LONG',
  /** The header digest does not match the header. */
  HEADER_DIGEST: 'VFAB_ISCSI_HEADER_DIGEST',
  /** The data digest does not match the data segment. */
  DATA_DIGEST: 'VFAB_ISCSI_DATA_DIGEST',
  /** A field value the PDU type does not allow (data on a PDU that has none, ...). */
  BAD_FIELD: 'VFAB_ISCSI_BAD_FIELD',
  /** A PDU that cannot be emitted (a value out of its field's range): a bug on the sending side. */
  BAD_EMIT: 'VFAB_ISCSI_BAD_EMIT',
} as const;

/** Errors after which the byte stream cannot be trusted: the caller closes the connection. */
export const FATAL_PDU_ERRORS: ReadonlySet<string> = new Set([ISCSI_ERROR.AHS_TOO_LONG, ISCSI_ERROR.DATA_TOO_LONG, ISCSI_ERROR.HEADER_DIGEST]);

function fail(code: string, message: string, details?: Record<string, unknown>): { ok: false; error: VfabError } {
  return err(new VfabError(code, message, details));
}

function getU32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

const EMPTY = new Uint8Array(0);

export function padded(n: number): number {
  return (n + PAD_BYTES - 1) & ~(PAD_BYTES - 1);
}

const KNOWN: ReadonlySet<number> = new Set(Object.values(OPCODE));
/** PDU types whose DataSegmentLength must be 0 (§11.5, §11.6, §11.8, §11.14, §11.15, §11.16). */
const NO_DATA: ReadonlySet<number> = new Set([OPCODE.TASK_MGMT_REQUEST, OPCODE.TASK_MGMT_RESPONSE, OPCODE.LOGOUT_REQUEST, OPCODE.LOGOUT_RESPONSE, OPCODE.R2T, OPCODE.SNACK_REQUEST]);

export function isInitiatorOpcode(op: number): boolean {
  return op < 0x20;
}

/**
 * Total bytes of the PDU whose BHS starts at `bhs[offset]` (48 bytes needed), checked against the limits
 * before anything is buffered: AHS, header digest, padded data segment, data digest.
 */
export function pduTotalBytes(bhs: Uint8Array, offset: number, digests: Digests, maxDataSegmentBytes: number): Result<number> {
  if (bhs.length - offset < BHS_BYTES) return fail(ISCSI_ERROR.TRUNCATED, `BHS needs ${BHS_BYTES} bytes, ${bhs.length - offset} left`);
  const ahsBytes = bhs[offset + BHS_OFF.totalAhsLength] * 4;
  const dataBytes = (bhs[offset + 5] << 16) | (bhs[offset + 6] << 8) | bhs[offset + 7];
  if (ahsBytes > ISCSI_MAX_AHS_BYTES) return fail(ISCSI_ERROR.AHS_TOO_LONG, `AHS of ${ahsBytes} bytes exceeds ${ISCSI_MAX_AHS_BYTES} (ISCSI_MAX_AHS_BYTES)`);
  const limit = Math.min(maxDataSegmentBytes, ISCSI_MAX_DATA_SEGMENT_BYTES);
  if (dataBytes > limit) return fail(ISCSI_ERROR.DATA_TOO_LONG, `data segment of ${dataBytes} bytes exceeds ${limit} (MaxRecvDataSegmentLength)`, { dataBytes, limit });
  return ok(
    BHS_BYTES + ahsBytes + (digests.header ? DIGEST_BYTES : 0) + (dataBytes > 0 ? padded(dataBytes) + (digests.data ? DIGEST_BYTES : 0) : 0),
  );
}

/**
 * Parses exactly one PDU from `buf[offset, offset + total)` where total comes from pduTotalBytes (the same
 * checks are repeated here, so it is also safe to call on its own). Views into `buf` are returned for
 * AHS, CDB and data (no copy). The error's details carry the opcode and ITT when the header was readable.
 */
export function parsePdu(
  buf: Uint8Array,
  offset: number,
  digests: Digests,
  maxDataSegmentBytes: number = ISCSI_MAX_DATA_SEGMENT_BYTES,
): Result<{ pdu: Pdu; bytes: number }> {
  const total = pduTotalBytes(buf, offset, digests, maxDataSegmentBytes);
  if (!total.ok) return total;
  const bytes = total.value;
  if (buf.length - offset < bytes) return fail(ISCSI_ERROR.TRUNCATED, `PDU needs ${bytes} bytes, ${buf.length - offset} left`);
  const ahsBytes = buf[offset + BHS_OFF.totalAhsLength] * 4;
  const dataBytes = getU32(buf, offset + 4) & DATA_SEGMENT_LENGTH_FIELD_MAX;
  let p = offset + BHS_BYTES + ahsBytes;
  if (digests.header) {
    const want = crc32c(buf, offset, p);
    const got = readDigest(buf, p);
    if (want !== got) return fail(ISCSI_ERROR.HEADER_DIGEST, `header digest 0x${got.toString(16)} != computed 0x${want.toString(16)}`);
    p += DIGEST_BYTES;
  }
  const byte0 = buf[offset];
  const opcode = byte0 & OPCODE_MASK;
  const itt = getU32(buf, offset + BHS_OFF.itt);
  if (dataBytes > 0 && digests.data) {
    const end = p + padded(dataBytes);
    const want = crc32c(buf, p, end);
    const got = readDigest(buf, end);
    if (want !== got) return fail(ISCSI_ERROR.DATA_DIGEST, `data digest 0x${got.toString(16)} != computed 0x${want.toString(16)}`, { opcode, itt });
  }
  if (byte0 & OPCODE_RESERVED_BIT || !KNOWN.has(opcode)) return fail(ISCSI_ERROR.BAD_OPCODE, `opcode 0x${byte0.toString(16)} is not an iSCSI opcode`, { opcode, itt });
  // Empty AHS and data (most PDUs) share one empty array instead of a view each.
  const ahs = ahsBytes > 0 ? buf.subarray(offset + BHS_BYTES, offset + BHS_BYTES + ahsBytes) : EMPTY;
  if (ahsBytes > 0) {
    if (opcode !== OPCODE.SCSI_COMMAND) return fail(ISCSI_ERROR.BAD_AHS, `${OPCODE_NAME[opcode]} carries no AHS, got ${ahsBytes} bytes`, { opcode, itt });
    const bad = checkAhs(ahs);
    if (bad) return fail(ISCSI_ERROR.BAD_AHS, bad, { opcode, itt });
  }
  if (dataBytes > 0 && NO_DATA.has(opcode)) return fail(ISCSI_ERROR.BAD_FIELD, `${OPCODE_NAME[opcode]} carries no data segment, got ${dataBytes} bytes`, { opcode, itt });
  const pdu: Record<string, unknown> = {
    opcode,
    immediate: (byte0 & IMMEDIATE_BIT) !== 0,
    flags: buf[offset + BHS_OFF.flags],
    itt,
    ahs,
    data: dataBytes > 0 ? buf.subarray(p, p + dataBytes) : EMPTY,
  };
  const layout = LAYOUT[opcode as Opcode] as Record<string, readonly [number, Kind]>;
  for (const name in layout) {
    const [off, kind] = layout[name];
    const at = offset + off;
    switch (kind) {
      case 'u8':
        pdu[name] = buf[at];
        break;
      case 'u16':
        pdu[name] = (buf[at]! << 8) | buf[at + 1]!;
        break;
      case 'u32':
        pdu[name] = getU32(buf, at);
        break;
      case 'u64': {
        const hi = getU32(buf, at);
        const lo = getU32(buf, at + 4);
        pdu[name] = hi === 0 && lo === 0 ? 0n : (BigInt(hi) << 32n) | BigInt(lo);
        break;
      }
      default:
        pdu[name] = buf.subarray(at, at + KIND_BYTES[kind]);
    }
  }
  return ok({ pdu: pdu as unknown as Pdu, bytes });
}

/** Checks that the AHS area is a whole sequence of AHSs; returns what is wrong, or undefined. */
function checkAhs(ahs: Uint8Array): string | undefined {
  let p = 0;
  while (p < ahs.length) {
    if (ahs.length - p < AHS_HEADER_BYTES + 1) return `AHS at ${p} has no room for its header`;
    const len = (ahs[p] << 8) | ahs[p + 1];
    if (len === 0) return `AHS at ${p} has length 0`;
    const next = p + padded(AHS_HEADER_BYTES + len);
    if (next > ahs.length) return `AHS at ${p} of ${len} bytes runs past the AHS area (${ahs.length} bytes)`;
    p = next;
  }
  return undefined;
}

export interface Ahs {
  type: number;
  /** The AHS-specific bytes (from byte 3 of the AHS, AHSLength bytes). */
  specific: Uint8Array;
}

/** The AHSs of a parsed PDU (already checked by parsePdu). */
export function listAhs(ahs: Uint8Array): Ahs[] {
  const out: Ahs[] = [];
  let p = 0;
  while (p + AHS_HEADER_BYTES < ahs.length) {
    const len = (ahs[p] << 8) | ahs[p + 1];
    if (len === 0 || p + AHS_HEADER_BYTES + len > ahs.length) break;
    out.push({ type: ahs[p + 2], specific: ahs.subarray(p + AHS_HEADER_BYTES, p + AHS_HEADER_BYTES + len) });
    p += padded(AHS_HEADER_BYTES + len);
  }
  return out;
}

/** Builds the AHS bytes of the given AHSs (each padded to 4). */
export function buildAhs(list: readonly Ahs[]): Uint8Array {
  const size = list.reduce((n, a) => n + padded(AHS_HEADER_BYTES + a.specific.length), 0);
  const out = new Uint8Array(size);
  let p = 0;
  for (const a of list) {
    out[p] = a.specific.length >> 8;
    out[p + 1] = a.specific.length & 0xff;
    out[p + 2] = a.type;
    out.set(a.specific, p + AHS_HEADER_BYTES);
    p += padded(AHS_HEADER_BYTES + a.specific.length);
  }
  return out;
}

/**
 * The whole CDB of a SCSI Command: the 16 bytes of the BHS followed by the Extended CDB AHS if there is
 * one (§11.2.2.3: its first specific byte is reserved, the CDB continues after it).
 */
export function fullCdb(pdu: PduOf<typeof OPCODE.SCSI_COMMAND>): Uint8Array {
  if (pdu.ahs.length === 0) return pdu.cdb;
  const ext = listAhs(pdu.ahs).find((a) => a.type === AHS_TYPE.EXTENDED_CDB);
  if (!ext) return pdu.cdb;
  const out = new Uint8Array(pdu.cdb.length + ext.specific.length - 1);
  out.set(pdu.cdb, 0);
  out.set(ext.specific.subarray(1), pdu.cdb.length);
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Emit. A PDU is emitted as three parts so a large data segment is never copied: the header (BHS, AHS,
// header digest), the data segment itself, and the trailer (padding and data digest).

function badEmit(message: string): never {
  throw new VfabError(ISCSI_ERROR.BAD_EMIT, message);
}

const PAD = new Uint8Array(PAD_BYTES);

/** Each opcode's fields as a list (name, offset, kind), built once from LAYOUT for the emit loop. */
const FIELD_LIST: Record<number, ReadonlyArray<readonly [string, number, Kind]>> = Object.fromEntries(
  Object.entries(LAYOUT).map(([op, layout]) => [Number(op), Object.entries(layout as Record<string, readonly [number, Kind]>).map(([name, [off, kind]]) => [name, off, kind] as const)]),
);

function putU16(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 8) & 0xff;
  b[at + 1] = v & 0xff;
}
function putU32(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 24) & 0xff;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}
function putU64(b: Uint8Array, at: number, v: bigint): void {
  if (v === 0n) {
    b.fill(0, at, at + 8);
    return;
  }
  const u = BigInt.asUintN(64, v);
  putU32(b, at, Number(u >> 32n));
  putU32(b, at + 4, Number(u & 0xffffffffn));
}

/** Checks what emit cannot encode (a bug on the sending side: VFAB_ISCSI_BAD_EMIT). */
function checkEmit(pdu: Pdu): void {
  const ahsBytes = pdu.ahs.length;
  if (ahsBytes % PAD_BYTES !== 0 || ahsBytes > ISCSI_MAX_AHS_BYTES) badEmit(`AHS of ${ahsBytes} bytes (multiple of 4, at most ${ISCSI_MAX_AHS_BYTES})`);
  if (pdu.data.length > DATA_SEGMENT_LENGTH_FIELD_MAX) badEmit(`data segment of ${pdu.data.length} bytes does not fit 24 bits`);
  if (!KNOWN.has(pdu.opcode)) badEmit(`opcode ${pdu.opcode} is not an iSCSI opcode`);
}

/** Bytes of the header part (BHS, AHS, header digest) of `pdu`. */
function headerBytesOf(pdu: Pdu, digests: Digests): number {
  return BHS_BYTES + pdu.ahs.length + (digests.header ? DIGEST_BYTES : 0);
}

/** Bytes of the trailer (padding, data digest) after a data segment of `dataBytes`. */
function trailerBytesOf(dataBytes: number, digests: Digests): number {
  return dataBytes > 0 ? padded(dataBytes) - dataBytes + (digests.data ? DIGEST_BYTES : 0) : 0;
}

/** Writes the header part (BHS, AHS, header digest) of a checked `pdu` at out[at]. */
function writeHeader(pdu: Pdu, digests: Digests, out: Uint8Array, at: number): void {
  const ahsBytes = pdu.ahs.length;
  const dataBytes = pdu.data.length;
  out.fill(0, at, at + BHS_BYTES);
  out[at] = pdu.opcode | (pdu.immediate ? IMMEDIATE_BIT : 0);
  out[at + 1] = pdu.flags & 0xff;
  out[at + 4] = ahsBytes / 4;
  out[at + 5] = (dataBytes >> 16) & 0xff;
  out[at + 6] = (dataBytes >> 8) & 0xff;
  out[at + 7] = dataBytes & 0xff;
  putU32(out, at + BHS_OFF.itt, pdu.itt >>> 0);
  const fields = FIELD_LIST[pdu.opcode]!;
  const values = pdu as unknown as Record<string, number | bigint | Uint8Array>;
  for (let i = 0; i < fields.length; i++) {
    const [name, off, kind] = fields[i]!;
    const value = values[name];
    switch (kind) {
      case 'u8':
        out[at + off] = (value as number) & 0xff;
        break;
      case 'u16':
        putU16(out, at + off, (value as number) & 0xffff);
        break;
      case 'u32':
        putU32(out, at + off, (value as number) >>> 0);
        break;
      case 'u64':
        putU64(out, at + off, value as bigint);
        break;
      default: {
        const bytes = value as Uint8Array;
        if (bytes.length !== KIND_BYTES[kind]) badEmit(`${name} must be ${KIND_BYTES[kind]} bytes, got ${bytes.length}`);
        out.set(bytes, at + off);
      }
    }
  }
  if (ahsBytes > 0) out.set(pdu.ahs, at + BHS_BYTES);
  if (digests.header) writeDigest(out, at + BHS_BYTES + ahsBytes, crc32c(out, at, at + BHS_BYTES + ahsBytes));
}

/** Writes the trailer (zero padding, data digest over data and padding) of `data` at out[at]. */
function writeTrailer(data: Uint8Array, digests: Digests, out: Uint8Array, at: number): void {
  const dataBytes = data.length;
  if (dataBytes === 0) return;
  const padBytes = padded(dataBytes) - dataBytes;
  out.fill(0, at, at + padBytes);
  if (digests.data) writeDigest(out, at + padBytes, crc32cFinish(crc32cUpdate(crc32cUpdate(CRC32C_INIT, data), PAD, 0, padBytes)));
}

/** Header, data and trailer of `pdu`; concatenated they are the PDU on the wire. */
export function emitPduParts(pdu: Pdu, digests: Digests): [Uint8Array, Uint8Array, Uint8Array] {
  checkEmit(pdu);
  const header = new Uint8Array(headerBytesOf(pdu, digests));
  writeHeader(pdu, digests, header, 0);
  const trailer = new Uint8Array(trailerBytesOf(pdu.data.length, digests));
  writeTrailer(pdu.data, digests, trailer, 0);
  return [header, pdu.data, trailer];
}

/** Bytes `pdu` takes on the wire with these digests (what emitPduInto writes). */
export function pduWireBytes(pdu: Pdu, digests: Digests): number {
  return headerBytesOf(pdu, digests) + pdu.data.length + trailerBytesOf(pdu.data.length, digests);
}

/**
 * Writes the whole PDU (as emitPdu would) into `out` from `offset`, which must have pduWireBytes room;
 * the data segment is copied, so `pdu.data` may be reused once this returns. Returns the bytes written.
 */
export function emitPduInto(pdu: Pdu, digests: Digests, out: Uint8Array, offset: number): number {
  checkEmit(pdu);
  const h = headerBytesOf(pdu, digests);
  const total = h + pdu.data.length + trailerBytesOf(pdu.data.length, digests);
  if (out.length - offset < total) badEmit(`PDU of ${total} bytes does not fit ${out.length - offset} bytes left`);
  writeHeader(pdu, digests, out, offset);
  out.set(pdu.data, offset + h);
  writeTrailer(pdu.data, digests, out, offset + h + pdu.data.length);
  return total;
}

/** The PDU as one buffer. */
export function emitPdu(pdu: Pdu, digests: Digests = NO_DIGESTS): Buffer {
  const out = Buffer.allocUnsafe(pduWireBytes(pdu, digests));
  emitPduInto(pdu, digests, out, 0);
  return out;
}

/** Each opcode's field defaults (numbers 0, LUN 0n; ISID and CDB fields listed apart, fresh per PDU). */
const DEFAULTS: Record<number, Record<string, number | bigint>> = {};
const ARRAY_FIELDS: Record<number, Array<[string, number]>> = {};
for (const [op, fields] of Object.entries(FIELD_LIST)) {
  const d: Record<string, number | bigint> = {};
  const arrays: Array<[string, number]> = [];
  for (const [name, , kind] of fields) {
    if (kind === 'isid' || kind === 'cdb') arrays.push([name, KIND_BYTES[kind]]);
    else d[name] = kind === 'u64' ? 0n : 0;
  }
  DEFAULTS[Number(op)] = d;
  ARRAY_FIELDS[Number(op)] = arrays;
}

/** A PDU of type `opcode` with the given fields; the rest 0 (flags default to F set, the usual case). */
export function makePdu<Op extends Opcode>(opcode: Op, fields: Partial<Omit<PduOf<Op>, 'opcode'>>): PduOf<Op> {
  const pdu: Record<string, unknown> = { ...DEFAULTS[opcode], opcode, immediate: false, flags: FLAG.F, itt: 0, ahs: EMPTY, data: EMPTY };
  for (const [name, bytes] of ARRAY_FIELDS[opcode]!) pdu[name] = new Uint8Array(bytes);
  return Object.assign(pdu, fields) as unknown as PduOf<Op>;
}

/** The CSG and NSG of a Login Request or Response flags byte. */
export function loginStages(flags: number): { transit: boolean; cont: boolean; csg: number; nsg: number } {
  return {
    transit: (flags & FLAG.TRANSIT) !== 0,
    cont: (flags & FLAG.CONTINUE) !== 0,
    csg: (flags >> FLAG.CSG_SHIFT) & FLAG.STAGE_MASK,
    nsg: flags & FLAG.STAGE_MASK,
  };
}

/** The flags byte of a Login Request or Response. */
export function loginFlags(transit: boolean, cont: boolean, csg: number, nsg: number): number {
  return (transit ? FLAG.TRANSIT : 0) | (cont ? FLAG.CONTINUE : 0) | ((csg & FLAG.STAGE_MASK) << FLAG.CSG_SHIFT) | (transit ? nsg & FLAG.STAGE_MASK : 0);
}
