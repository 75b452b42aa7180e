// Sense data: fixed format (response code 0x70, current errors) per SPC-4 §4.5.3, from a `Sense` value
// and back, with the sense-key specific field pointer of an ILLEGAL REQUEST (SPC-4 §4.5.2.4.2), plus the
// CHECK CONDITION result builders the target uses. Leaves out descriptor-format sense (0x72), deferred
// errors (0x71) and the other sense-key specific kinds (progress indication, retry count).

import { VfabError, err, ok, type Result } from '../errors.js';
import { ASC, SCSI_STATUS, SENSE_KEY, type ScsiResult, type Sense } from './scsi.js';

/** Length of the fixed-format sense data vfab returns (additional sense length 10). */
export const FIXED_SENSE_BYTES = 18;
/** Smallest buffer parseFixedSense accepts: up to and including ASCQ. */
export const MIN_FIXED_SENSE_BYTES = 14;

/** ASC/ASCQ pairs used by the target that the shared contract (scsi.ts) does not list. */
export const ASC_EXTRA = {
  INVALID_RELEASE_OF_PERSISTENT_RESERVATION: [0x26, 0x04],
  INTERNAL_TARGET_FAILURE: [0x44, 0x00],
  NO_ADDITIONAL_SENSE: [0x00, 0x00],
} as const;

export const SENSE_ERROR = {
  /** parseFixedSense: fewer than MIN_FIXED_SENSE_BYTES bytes, or a response code other than 0x70/0x71. */
  BAD_SENSE: 'VFAB_STORAGE_BAD_SENSE',
} as const;

/** Render a Sense as 18 bytes of fixed-format sense data; VALID is set when `information` is present and fits 32 bits. */
export function toFixedSense(sense: Sense): Buffer {
  const out = Buffer.alloc(FIXED_SENSE_BYTES);
  const info = sense.information;
  const valid = info !== undefined && info >= 0 && info <= 0xffffffff;
  out[0] = (valid ? 0x80 : 0) | 0x70;
  out[2] = sense.key & 0x0f;
  if (valid) out.writeUInt32BE(info, 3);
  out[7] = FIXED_SENSE_BYTES - 8;
  out[12] = sense.asc & 0xff;
  out[13] = sense.ascq & 0xff;
  const f = sense.field;
  if (f !== undefined) {
    // SKSV, C/D, BPV + bit pointer, then the 16-bit field pointer
    out[15] = 0x80 | (f.inCdb ? 0x40 : 0) | (f.bit !== undefined ? 0x08 | (f.bit & 0x07) : 0);
    out.writeUInt16BE(f.byte & 0xffff, 16);
  }
  return out;
}

/** Decode fixed-format sense data (0x70 current or 0x71 deferred). Never throws. */
export function parseFixedSense(bytes: Uint8Array): Result<Sense> {
  if (bytes.length < MIN_FIXED_SENSE_BYTES) {
    return err(new VfabError(SENSE_ERROR.BAD_SENSE, `sense data too short: ${bytes.length} bytes`));
  }
  const code = bytes[0]! & 0x7f;
  if (code !== 0x70 && code !== 0x71) {
    return err(new VfabError(SENSE_ERROR.BAD_SENSE, `not fixed-format sense: response code 0x${code.toString(16)}`));
  }
  const sense: Sense = { key: bytes[2]! & 0x0f, asc: bytes[12]!, ascq: bytes[13]! };
  if (bytes[0]! & 0x80) {
    sense.information = ((bytes[3]! << 24) | (bytes[4]! << 16) | (bytes[5]! << 8) | bytes[6]!) >>> 0;
  }
  if (bytes.length >= FIXED_SENSE_BYTES && (bytes[15]! & 0x80) !== 0 && sense.key === SENSE_KEY.ILLEGAL_REQUEST) {
    const b15 = bytes[15]!;
    sense.field = { inCdb: (b15 & 0x40) !== 0, byte: (bytes[16]! << 8) | bytes[17]!, ...((b15 & 0x08) !== 0 ? { bit: b15 & 0x07 } : {}) };
  }
  return ok(sense);
}

type AscPair = readonly [number, number];

/** A CHECK CONDITION result with the given key and ASC/ASCQ. */
export function checkCondition(key: number, asc: AscPair, information?: number): ScsiResult {
  const sense: Sense = { key, asc: asc[0], ascq: asc[1] };
  if (information !== undefined) sense.information = information;
  return { status: SCSI_STATUS.CHECK_CONDITION, sense };
}

export const illegalRequest = (asc: AscPair, information?: number): ScsiResult =>
  checkCondition(SENSE_KEY.ILLEGAL_REQUEST, asc, information);
/**
 * INVALID FIELD IN CDB; with `byte` the field pointer names the CDB byte (and `bit`) in error. For a
 * service action command the pointer matters: initiators (libiscsi) read "no pointer" or "byte 1" (the
 * service action) as "command not supported".
 */
export function invalidFieldInCdb(byte?: number, bit?: number): ScsiResult {
  const r = illegalRequest(ASC.INVALID_FIELD_IN_CDB);
  if (byte !== undefined) r.sense!.field = { inCdb: true, byte, ...(bit !== undefined ? { bit } : {}) };
  return r;
}
export const invalidFieldInParameterList = (): ScsiResult => illegalRequest(ASC.INVALID_FIELD_IN_PARAMETER_LIST);
export const lbaOutOfRange = (): ScsiResult => illegalRequest(ASC.LBA_OUT_OF_RANGE);
export const parameterListLengthError = (expectedBytes?: number): ScsiResult =>
  illegalRequest(ASC.PARAMETER_LIST_LENGTH_ERROR, expectedBytes);
export const invalidOpcode = (): ScsiResult => illegalRequest(ASC.INVALID_COMMAND_OPCODE);
export const lunNotSupported = (): ScsiResult => illegalRequest(ASC.LOGICAL_UNIT_NOT_SUPPORTED);
export const reservationConflict = (): ScsiResult => ({ status: SCSI_STATUS.RESERVATION_CONFLICT });
export const good = (dataIn?: Uint8Array): ScsiResult =>
  dataIn === undefined ? { status: SCSI_STATUS.GOOD } : { status: SCSI_STATUS.GOOD, dataIn };
