// CDB builders for every command the vfab target implements (SBC-3, SPC-4), plus parameter-list
// builders (UNMAP, PERSISTENT RESERVE OUT) and decoders for the data-in of READ CAPACITY and
// PERSISTENT RESERVE IN. Used by tests, the block-protocol client and VMFS-style locking. Builders do
// not validate ranges (tests need to send bad CDBs); the target does. Leaves out the control byte (0)
// and group numbers (0).

import { SCSI_OP } from './scsi.js';
import { PR_IN_SA, PR_OUT_PARAM_BYTES, PR_OUT_SA, type PrType } from './reservations.js';

export interface IoFlags {
  /** Force unit access (byte 1 bit 3). */
  fua?: boolean;
}

function put64(b: Buffer, offset: number, value: number | bigint): void {
  b.writeBigUInt64BE(BigInt(value), offset);
}

export function testUnitReady(): Buffer {
  return Buffer.alloc(6);
}

export function requestSense(allocationBytes = 18): Buffer {
  const c = Buffer.alloc(6);
  c[0] = SCSI_OP.REQUEST_SENSE;
  c[4] = allocationBytes & 0xff;
  return c;
}

/** Standard INQUIRY (no page) or a VPD page when `vpdPage` is given. */
export function inquiry(vpdPage?: number, allocationBytes = 0xffff): Buffer {
  const c = Buffer.alloc(6);
  c[0] = SCSI_OP.INQUIRY;
  if (vpdPage !== undefined) {
    c[1] = 0x01;
    c[2] = vpdPage;
  }
  c.writeUInt16BE(allocationBytes, 3);
  return c;
}

export function reportLuns(allocationBytes = 4096, selectReport = 0): Buffer {
  const c = Buffer.alloc(12);
  c[0] = SCSI_OP.REPORT_LUNS;
  c[2] = selectReport;
  c.writeUInt32BE(allocationBytes, 6);
  return c;
}

export function readCapacity10(): Buffer {
  const c = Buffer.alloc(10);
  c[0] = SCSI_OP.READ_CAPACITY_10;
  return c;
}

export function readCapacity16(allocationBytes = 32): Buffer {
  const c = Buffer.alloc(16);
  c[0] = SCSI_OP.SERVICE_ACTION_IN_16;
  c[1] = 0x10;
  c.writeUInt32BE(allocationBytes, 10);
  return c;
}

/** A 10-byte CDB with the common layout: byte 1 flags, 32-bit LBA at 2, 16-bit length at 7. */
function lbaCdb10(op: number, byte1: number, lba: number, blocks: number): Buffer {
  const c = Buffer.alloc(10);
  c[0] = op;
  c[1] = byte1;
  c.writeUInt32BE(lba >>> 0, 2);
  c.writeUInt16BE(blocks, 7);
  return c;
}

/** A 16-byte CDB with the common layout: byte 1 flags, 64-bit LBA at 2, 32-bit length at 10. */
function lbaCdb16(op: number, byte1: number, lba: number | bigint, blocks: number): Buffer {
  const c = Buffer.alloc(16);
  c[0] = op;
  c[1] = byte1;
  put64(c, 2, lba);
  c.writeUInt32BE(blocks >>> 0, 10);
  return c;
}

const rw10 = (op: number, lba: number, blocks: number, flags: IoFlags): Buffer => lbaCdb10(op, flags.fua ? 0x08 : 0, lba, blocks);
const rw16 = (op: number, lba: number | bigint, blocks: number, flags: IoFlags): Buffer => lbaCdb16(op, flags.fua ? 0x08 : 0, lba, blocks);

export const read10 = (lba: number, blocks: number, flags: IoFlags = {}): Buffer => rw10(SCSI_OP.READ_10, lba, blocks, flags);
export const read16 = (lba: number | bigint, blocks: number, flags: IoFlags = {}): Buffer => rw16(SCSI_OP.READ_16, lba, blocks, flags);
export const write10 = (lba: number, blocks: number, flags: IoFlags = {}): Buffer => rw10(SCSI_OP.WRITE_10, lba, blocks, flags);
export const write16 = (lba: number | bigint, blocks: number, flags: IoFlags = {}): Buffer => rw16(SCSI_OP.WRITE_16, lba, blocks, flags);

function rw12(op: number, lba: number, blocks: number, flags: IoFlags): Buffer {
  const c = Buffer.alloc(12);
  c[0] = op;
  if (flags.fua) c[1] = 0x08;
  c.writeUInt32BE(lba >>> 0, 2);
  c.writeUInt32BE(blocks >>> 0, 6);
  return c;
}

/** READ (6): 21-bit LBA, 1..256 blocks (256 is sent as 0). */
export function read6(lba: number, blocks: number): Buffer {
  const c = Buffer.alloc(6);
  c[0] = SCSI_OP.READ_6;
  c[1] = (lba >> 16) & 0x1f;
  c.writeUInt16BE(lba & 0xffff, 2);
  c[4] = blocks & 0xff;
  return c;
}

/** ORWRITE (16): the data-out is `blocks` blocks OR-ed into the medium. */
export const orWrite16 = (lba: number | bigint, blocks: number, flags: IoFlags = {}): Buffer => rw16(SCSI_OP.ORWRITE_16, lba, blocks, flags);

/** GET LBA STATUS (SERVICE ACTION IN (16), service action 12h): from `lba`, as many descriptors as fit. */
export function getLbaStatus(lba: number | bigint, allocationBytes = 8 + 16 * 64): Buffer {
  const c = Buffer.alloc(16);
  c[0] = SCSI_OP.SERVICE_ACTION_IN_16;
  c[1] = 0x12;
  put64(c, 2, lba);
  c.writeUInt32BE(allocationBytes, 10);
  return c;
}

export const read12 = (lba: number, blocks: number, flags: IoFlags = {}): Buffer => rw12(SCSI_OP.READ_12, lba, blocks, flags);
export const write12 = (lba: number, blocks: number, flags: IoFlags = {}): Buffer => rw12(SCSI_OP.WRITE_12, lba, blocks, flags);

/** WRITE AND VERIFY (10/12/16) with BYTCHK (0 or 1); the data-out is the blocks to write. */
export const writeAndVerify10 = (lba: number, blocks: number, bytchk = 0): Buffer => lbaCdb10(SCSI_OP.WRITE_AND_VERIFY_10, (bytchk & 0x03) << 1, lba, blocks);
export const writeAndVerify16 = (lba: number | bigint, blocks: number, bytchk = 0): Buffer =>
  lbaCdb16(SCSI_OP.WRITE_AND_VERIFY_16, (bytchk & 0x03) << 1, lba, blocks);
export function writeAndVerify12(lba: number, blocks: number, bytchk = 0): Buffer {
  const c = rw12(SCSI_OP.WRITE_AND_VERIFY_12, lba, blocks, {});
  c[1] = (bytchk & 0x03) << 1;
  return c;
}

/** VERIFY (10): BYTCHK 0 = check the medium only, 1 = compare the data-out, 3 = compare one block with each. */
export function verify10(lba: number, blocks: number, bytchk = 0): Buffer {
  return lbaCdb10(SCSI_OP.VERIFY_10, (bytchk & 0x03) << 1, lba, blocks);
}

export function verify12(lba: number, blocks: number, bytchk = 0): Buffer {
  const c = Buffer.alloc(12);
  c[0] = SCSI_OP.VERIFY_12;
  c[1] = (bytchk & 0x03) << 1;
  c.writeUInt32BE(lba >>> 0, 2);
  c.writeUInt32BE(blocks >>> 0, 6);
  return c;
}

export function verify16(lba: number | bigint, blocks: number, bytchk = 0): Buffer {
  return lbaCdb16(SCSI_OP.VERIFY_16, (bytchk & 0x03) << 1, lba, blocks);
}

export function preFetch10(lba: number, blocks: number, immed = false): Buffer {
  return lbaCdb10(SCSI_OP.PRE_FETCH_10, immed ? 0x02 : 0, lba, blocks);
}

export function preFetch16(lba: number | bigint, blocks: number, immed = false): Buffer {
  return lbaCdb16(SCSI_OP.PRE_FETCH_16, immed ? 0x02 : 0, lba, blocks);
}

/** START STOP UNIT: `start` bit, LOEJ, power condition (byte 4 bits 7-4), IMMED. */
export function startStopUnit(start: boolean, opts: { loej?: boolean; powerCondition?: number; immed?: boolean } = {}): Buffer {
  const c = Buffer.alloc(6);
  c[0] = SCSI_OP.START_STOP_UNIT;
  if (opts.immed) c[1] = 0x01;
  c[4] = ((opts.powerCondition ?? 0) << 4) | (opts.loej ? 0x02 : 0) | (start ? 0x01 : 0);
  return c;
}

/** MODE SENSE (6): page code (0x3F = all), page control 0 current / 1 changeable / 2 default / 3 saved. */
export function modeSense6(page: number, opts: { pc?: number; dbd?: boolean; subpage?: number } = {}, allocationBytes = 0xff): Buffer {
  const c = Buffer.alloc(6);
  c[0] = SCSI_OP.MODE_SENSE_6;
  if (opts.dbd) c[1] = 0x08;
  c[2] = ((opts.pc ?? 0) << 6) | (page & 0x3f);
  c[3] = opts.subpage ?? 0;
  c[4] = allocationBytes & 0xff;
  return c;
}

/** MODE SENSE (10); `llbaa` asks for a long (16-byte) block descriptor. */
export function modeSense10(page: number, opts: { pc?: number; dbd?: boolean; llbaa?: boolean; subpage?: number } = {}, allocationBytes = 0xffff): Buffer {
  const c = Buffer.alloc(10);
  c[0] = SCSI_OP.MODE_SENSE_10;
  c[1] = (opts.dbd ? 0x08 : 0) | (opts.llbaa ? 0x10 : 0);
  c[2] = ((opts.pc ?? 0) << 6) | (page & 0x3f);
  c[3] = opts.subpage ?? 0;
  c.writeUInt16BE(allocationBytes, 7);
  return c;
}

/** REPORT SUPPORTED OPERATION CODES: options 0 = all, 1 = one opcode, 2 = opcode + service action. */
export function reportSupportedOpcodes(options = 0, opcode = 0, serviceAction = 0, rctd = false, allocationBytes = 0xffff): Buffer {
  const c = Buffer.alloc(12);
  c[0] = SCSI_OP.MAINTENANCE_IN;
  c[1] = 0x0c;
  c[2] = (rctd ? 0x80 : 0) | (options & 0x07);
  c[3] = opcode;
  c.writeUInt16BE(serviceAction, 4);
  c.writeUInt32BE(allocationBytes, 6);
  return c;
}

/** COMPARE AND WRITE (ATS): data-out is `blocks` blocks to verify followed by `blocks` blocks to write. */
export function compareAndWrite(lba: number | bigint, blocks: number, flags: IoFlags = {}): Buffer {
  const c = Buffer.alloc(16);
  c[0] = SCSI_OP.COMPARE_AND_WRITE;
  if (flags.fua) c[1] = 0x08;
  put64(c, 2, lba);
  c[13] = blocks & 0xff;
  return c;
}

export function synchronizeCache10(lba = 0, blocks = 0, immed = false): Buffer {
  return lbaCdb10(SCSI_OP.SYNCHRONIZE_CACHE_10, immed ? 0x02 : 0, lba, blocks);
}

export function synchronizeCache16(lba: number | bigint = 0, blocks = 0, immed = false): Buffer {
  return lbaCdb16(SCSI_OP.SYNCHRONIZE_CACHE_16, immed ? 0x02 : 0, lba, blocks);
}

export interface WriteSameFlags {
  /** Deallocate when possible (byte 1 bit 3). */
  unmap?: boolean;
  /** WRITE SAME(16) only: no data-out buffer, the block is zeros (byte 1 bit 0). */
  ndob?: boolean;
}

export function writeSame10(lba: number, blocks: number, flags: WriteSameFlags = {}): Buffer {
  return lbaCdb10(SCSI_OP.WRITE_SAME_10, flags.unmap ? 0x08 : 0, lba, blocks);
}

export function writeSame16(lba: number | bigint, blocks: number, flags: WriteSameFlags = {}): Buffer {
  return lbaCdb16(SCSI_OP.WRITE_SAME_16, (flags.unmap ? 0x08 : 0) | (flags.ndob ? 0x01 : 0), lba, blocks);
}

/** UNMAP CDB; the data-out is `unmapParams(...)` whose length is `parameterListBytes`. */
export function unmap(parameterListBytes: number): Buffer {
  const c = Buffer.alloc(10);
  c[0] = SCSI_OP.UNMAP;
  c.writeUInt16BE(parameterListBytes, 7);
  return c;
}

/** UNMAP parameter list (SBC-3 §5.28.2): 8-byte header + 16-byte block descriptors. */
export function unmapParams(descriptors: Array<{ lba: number | bigint; blocks: number }>): Buffer {
  const p = Buffer.alloc(8 + 16 * descriptors.length);
  p.writeUInt16BE(p.length - 2, 0);
  p.writeUInt16BE(16 * descriptors.length, 2);
  descriptors.forEach((d, i) => {
    put64(p, 8 + 16 * i, d.lba);
    p.writeUInt32BE(d.blocks >>> 0, 16 + 16 * i);
  });
  return p;
}

/** UNMAP CDB and parameter list together. */
export function unmapCommand(descriptors: Array<{ lba: number | bigint; blocks: number }>): { cdb: Buffer; dataOut: Buffer } {
  const dataOut = unmapParams(descriptors);
  return { cdb: unmap(dataOut.length), dataOut };
}

export function reserve6(): Buffer {
  const c = Buffer.alloc(6);
  c[0] = SCSI_OP.RESERVE_6;
  return c;
}
export function release6(): Buffer {
  const c = Buffer.alloc(6);
  c[0] = SCSI_OP.RELEASE_6;
  return c;
}
export function reserve10(): Buffer {
  const c = Buffer.alloc(10);
  c[0] = SCSI_OP.RESERVE_10;
  return c;
}
export function release10(): Buffer {
  const c = Buffer.alloc(10);
  c[0] = SCSI_OP.RELEASE_10;
  return c;
}

/** PERSISTENT RESERVE IN CDB (SPC-4 §6.15.1). */
export function prInCdb(serviceAction: number, allocationBytes = 0xffff): Buffer {
  const c = Buffer.alloc(10);
  c[0] = SCSI_OP.PERSISTENT_RESERVE_IN;
  c[1] = serviceAction & 0x1f;
  c.writeUInt16BE(allocationBytes, 7);
  return c;
}

/** PERSISTENT RESERVE OUT CDB (SPC-4 §6.16.1): scope LU (0), the given type, parameter list length. */
export function prOutCdb(serviceAction: number, type = 0, parameterListBytes = PR_OUT_PARAM_BYTES): Buffer {
  const c = Buffer.alloc(10);
  c[0] = SCSI_OP.PERSISTENT_RESERVE_OUT;
  c[1] = serviceAction & 0x1f;
  c[2] = type & 0x0f;
  c.writeUInt32BE(parameterListBytes, 5);
  return c;
}

/** PERSISTENT RESERVE OUT basic parameter list (24 bytes). `flags` is byte 20 (APTPL = 0x01). */
export function prOutParams(reservationKey: bigint, serviceActionKey: bigint = 0n, flags = 0): Buffer {
  const p = Buffer.alloc(PR_OUT_PARAM_BYTES);
  p.writeBigUInt64BE(reservationKey, 0);
  p.writeBigUInt64BE(serviceActionKey, 8);
  p[20] = flags;
  return p;
}

export interface CdbWithData {
  cdb: Buffer;
  dataOut: Buffer;
}

const prOutCmd = (sa: number, type: number, key: bigint, saKey: bigint): CdbWithData => ({
  cdb: prOutCdb(sa, type),
  dataOut: prOutParams(key, saKey),
});

export const prIn = {
  readKeys: (allocationBytes = 0xffff): Buffer => prInCdb(PR_IN_SA.READ_KEYS, allocationBytes),
  readReservation: (allocationBytes = 0xffff): Buffer => prInCdb(PR_IN_SA.READ_RESERVATION, allocationBytes),
  reportCapabilities: (allocationBytes = 0xffff): Buffer => prInCdb(PR_IN_SA.REPORT_CAPABILITIES, allocationBytes),
  readFullStatus: (allocationBytes = 0xffff): Buffer => prInCdb(PR_IN_SA.READ_FULL_STATUS, allocationBytes),
};

export const prOut = {
  /** Register `newKey` (currentKey 0n when not registered yet; newKey 0n unregisters). */
  register: (currentKey: bigint, newKey: bigint): CdbWithData => prOutCmd(PR_OUT_SA.REGISTER, 0, currentKey, newKey),
  registerAndIgnore: (newKey: bigint): CdbWithData => prOutCmd(PR_OUT_SA.REGISTER_AND_IGNORE_EXISTING_KEY, 0, 0n, newKey),
  reserve: (key: bigint, type: PrType): CdbWithData => prOutCmd(PR_OUT_SA.RESERVE, type, key, 0n),
  release: (key: bigint, type: PrType): CdbWithData => prOutCmd(PR_OUT_SA.RELEASE, type, key, 0n),
  clear: (key: bigint): CdbWithData => prOutCmd(PR_OUT_SA.CLEAR, 0, key, 0n),
  preempt: (key: bigint, victimKey: bigint, type: PrType): CdbWithData => prOutCmd(PR_OUT_SA.PREEMPT, type, key, victimKey),
  preemptAndAbort: (key: bigint, victimKey: bigint, type: PrType): CdbWithData =>
    prOutCmd(PR_OUT_SA.PREEMPT_AND_ABORT, type, key, victimKey),
};

// ---- data-in decoders (trusting lengths the target produced; short buffers give undefined) ----

export interface Capacity {
  lastLba: number;
  blockSizeBytes: number;
  /** READ CAPACITY(16) only. */
  thin?: boolean;
  zeroesWhenUnmapped?: boolean;
}

export function parseReadCapacity10(data: Uint8Array): Capacity | undefined {
  if (data.length < 8) return undefined;
  const b = Buffer.from(data.buffer, data.byteOffset, data.length);
  return { lastLba: b.readUInt32BE(0), blockSizeBytes: b.readUInt32BE(4) };
}

export function parseReadCapacity16(data: Uint8Array): Capacity | undefined {
  if (data.length < 16) return undefined;
  const b = Buffer.from(data.buffer, data.byteOffset, data.length);
  return {
    lastLba: Number(b.readBigUInt64BE(0)),
    blockSizeBytes: b.readUInt32BE(8),
    thin: (b[14]! & 0x80) !== 0,
    zeroesWhenUnmapped: (b[14]! & 0x40) !== 0,
  };
}

export interface LbaStatusDescriptor {
  lba: number;
  blocks: number;
  /** 0 mapped, 1 deallocated, 2 anchored. */
  status: number;
}

/** GET LBA STATUS parameter data: its descriptors (as many as the data holds). */
export function parseLbaStatus(data: Uint8Array): LbaStatusDescriptor[] | undefined {
  if (data.length < 8) return undefined;
  const b = Buffer.from(data.buffer, data.byteOffset, data.length);
  const end = Math.min(b.length, 4 + b.readUInt32BE(0));
  const out: LbaStatusDescriptor[] = [];
  for (let o = 8; o + 16 <= end; o += 16) out.push({ lba: Number(b.readBigUInt64BE(o)), blocks: b.readUInt32BE(o + 8), status: b[o + 12]! & 0x0f });
  return out;
}

export function parseReadKeys(data: Uint8Array): { generation: number; keys: bigint[] } | undefined {
  if (data.length < 8) return undefined;
  const b = Buffer.from(data.buffer, data.byteOffset, data.length);
  const n = Math.min(b.readUInt32BE(4), b.length - 8) >>> 3;
  const keys: bigint[] = [];
  for (let i = 0; i < n; i++) keys.push(b.readBigUInt64BE(8 + 8 * i));
  return { generation: b.readUInt32BE(0), keys };
}

export function parseReadReservation(
  data: Uint8Array,
): { generation: number; reservation: { key: bigint; scope: number; type: number } | null } | undefined {
  if (data.length < 8) return undefined;
  const b = Buffer.from(data.buffer, data.byteOffset, data.length);
  const generation = b.readUInt32BE(0);
  if (b.readUInt32BE(4) < 16 || b.length < 24) return { generation, reservation: null };
  return { generation, reservation: { key: b.readBigUInt64BE(8), scope: b[21]! >> 4, type: b[21]! & 0x0f } };
}
