// REPORT SUPPORTED OPERATION CODES (SPC-4 §6.35, MAINTENANCE IN service action 0Ch) of the vfab target:
// the table of every command and service action the target implements, with each one's CDB usage data
// (a bit set = that CDB bit is read by the target), and the two reply formats — all commands, and one
// command (reporting options 1, 2 and 3) — with command timeouts descriptors when RCTD is set (timeouts
// are reported as 0 = not specified). Leaves out the REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS command.

import { SCSI_OP, type ScsiResult } from './scsi.js';
import { good, invalidFieldInCdb } from './sense.js';
import { PR_IN_SA, PR_OUT_SA } from './reservations.js';

/** MAINTENANCE IN service action of REPORT SUPPORTED OPERATION CODES. */
export const RSOC_SA = 0x0c;
/** SERVICE ACTION IN (16) service actions: READ CAPACITY (16), GET LBA STATUS (SBC-3 §5.16). */
export const SAI_SA = { READ_CAPACITY_16: 0x10, GET_LBA_STATUS: 0x12 } as const;

export interface OpcodeEntry {
  op: number;
  /** Present for commands with a service action field. */
  sa?: number;
  /** CDB usage data; its length is the CDB length. */
  usage: readonly number[];
}

const F = 0xff;
const lba32 = [F, F, F, F];
const lba64 = [F, F, F, F, F, F, F, F];
/** Byte 1 of READ/WRITE: DPO and FUA (RDPROTECT/WRPROTECT must be 0, so they are not in use). */
const DPO_FUA = 0x18;
/** Byte 1 of VERIFY: DPO and BYTCHK. */
const VERIFY_FLAGS = 0x16;
const GROUP = 0x1f;

const ENTRIES: readonly OpcodeEntry[] = [
  { op: SCSI_OP.TEST_UNIT_READY, usage: [SCSI_OP.TEST_UNIT_READY, 0, 0, 0, 0, 0] },
  { op: SCSI_OP.REQUEST_SENSE, usage: [SCSI_OP.REQUEST_SENSE, 0, 0, 0, F, 0] },
  { op: SCSI_OP.INQUIRY, usage: [SCSI_OP.INQUIRY, 0x01, F, F, F, 0] },
  { op: SCSI_OP.RESERVE_6, usage: [SCSI_OP.RESERVE_6, 0, 0, 0, 0, 0] },
  { op: SCSI_OP.RELEASE_6, usage: [SCSI_OP.RELEASE_6, 0, 0, 0, 0, 0] },
  { op: SCSI_OP.MODE_SENSE_6, usage: [SCSI_OP.MODE_SENSE_6, 0x08, F, F, F, 0] },
  { op: SCSI_OP.START_STOP_UNIT, usage: [SCSI_OP.START_STOP_UNIT, 0x01, 0, 0x0f, 0xf7, 0] },
  { op: SCSI_OP.READ_6, usage: [SCSI_OP.READ_6, 0x1f, F, F, F, 0] },
  { op: SCSI_OP.READ_CAPACITY_10, usage: [SCSI_OP.READ_CAPACITY_10, 0, ...lba32, 0, 0, 0x01, 0] },
  { op: SCSI_OP.READ_10, usage: [SCSI_OP.READ_10, DPO_FUA, ...lba32, GROUP, F, F, 0] },
  { op: SCSI_OP.WRITE_10, usage: [SCSI_OP.WRITE_10, DPO_FUA, ...lba32, GROUP, F, F, 0] },
  { op: SCSI_OP.WRITE_AND_VERIFY_10, usage: [SCSI_OP.WRITE_AND_VERIFY_10, 0x12, ...lba32, GROUP, F, F, 0] },
  { op: SCSI_OP.VERIFY_10, usage: [SCSI_OP.VERIFY_10, VERIFY_FLAGS, ...lba32, GROUP, F, F, 0] },
  { op: SCSI_OP.PRE_FETCH_10, usage: [SCSI_OP.PRE_FETCH_10, 0x02, ...lba32, GROUP, F, F, 0] },
  { op: SCSI_OP.SYNCHRONIZE_CACHE_10, usage: [SCSI_OP.SYNCHRONIZE_CACHE_10, 0x02, ...lba32, GROUP, F, F, 0] },
  { op: SCSI_OP.WRITE_SAME_10, usage: [SCSI_OP.WRITE_SAME_10, 0x08, ...lba32, GROUP, F, F, 0] },
  { op: SCSI_OP.UNMAP, usage: [SCSI_OP.UNMAP, 0, 0, 0, 0, 0, GROUP, F, F, 0] },
  { op: SCSI_OP.RESERVE_10, usage: [SCSI_OP.RESERVE_10, 0, 0, 0, 0, 0, 0, 0, 0, 0] },
  { op: SCSI_OP.RELEASE_10, usage: [SCSI_OP.RELEASE_10, 0, 0, 0, 0, 0, 0, 0, 0, 0] },
  { op: SCSI_OP.MODE_SENSE_10, usage: [SCSI_OP.MODE_SENSE_10, 0x18, F, F, 0, 0, 0, F, F, 0] },
  ...Object.values(PR_IN_SA).map((sa) => ({ op: SCSI_OP.PERSISTENT_RESERVE_IN, sa, usage: [SCSI_OP.PERSISTENT_RESERVE_IN, 0x1f, 0, 0, 0, 0, 0, F, F, 0] })),
  ...Object.values(PR_OUT_SA)
    .filter((sa) => sa !== PR_OUT_SA.REGISTER_AND_MOVE)
    .map((sa) => ({ op: SCSI_OP.PERSISTENT_RESERVE_OUT, sa, usage: [SCSI_OP.PERSISTENT_RESERVE_OUT, 0x1f, F, 0, 0, F, F, F, F, 0] })),
  { op: SCSI_OP.READ_16, usage: [SCSI_OP.READ_16, DPO_FUA, ...lba64, F, F, F, F, GROUP, 0] },
  { op: SCSI_OP.COMPARE_AND_WRITE, usage: [SCSI_OP.COMPARE_AND_WRITE, DPO_FUA, ...lba64, 0, 0, 0, F, GROUP, 0] },
  { op: SCSI_OP.ORWRITE_16, usage: [SCSI_OP.ORWRITE_16, DPO_FUA, ...lba64, F, F, F, F, GROUP, 0] },
  { op: SCSI_OP.WRITE_16, usage: [SCSI_OP.WRITE_16, DPO_FUA, ...lba64, F, F, F, F, GROUP, 0] },
  { op: SCSI_OP.WRITE_AND_VERIFY_16, usage: [SCSI_OP.WRITE_AND_VERIFY_16, 0x12, ...lba64, F, F, F, F, GROUP, 0] },
  { op: SCSI_OP.VERIFY_16, usage: [SCSI_OP.VERIFY_16, VERIFY_FLAGS, ...lba64, F, F, F, F, GROUP, 0] },
  { op: SCSI_OP.PRE_FETCH_16, usage: [SCSI_OP.PRE_FETCH_16, 0x02, ...lba64, F, F, F, F, GROUP, 0] },
  { op: SCSI_OP.SYNCHRONIZE_CACHE_16, usage: [SCSI_OP.SYNCHRONIZE_CACHE_16, 0x02, ...lba64, F, F, F, F, GROUP, 0] },
  { op: SCSI_OP.WRITE_SAME_16, usage: [SCSI_OP.WRITE_SAME_16, 0x09, ...lba64, F, F, F, F, GROUP, 0] },
  { op: SCSI_OP.SERVICE_ACTION_IN_16, sa: SAI_SA.READ_CAPACITY_16, usage: [SCSI_OP.SERVICE_ACTION_IN_16, 0x1f, ...lba64, F, F, F, F, 0, 0] },
  { op: SCSI_OP.SERVICE_ACTION_IN_16, sa: SAI_SA.GET_LBA_STATUS, usage: [SCSI_OP.SERVICE_ACTION_IN_16, 0x1f, ...lba64, F, F, F, F, 0, 0] },
  { op: SCSI_OP.REPORT_LUNS, usage: [SCSI_OP.REPORT_LUNS, 0, F, 0, 0, 0, F, F, F, F, 0, 0] },
  { op: SCSI_OP.MAINTENANCE_IN, sa: RSOC_SA, usage: [SCSI_OP.MAINTENANCE_IN, 0x1f, 0x87, F, F, F, F, F, F, F, 0, 0] },
  { op: SCSI_OP.READ_12, usage: [SCSI_OP.READ_12, DPO_FUA, ...lba32, F, F, F, F, GROUP, 0] },
  { op: SCSI_OP.WRITE_12, usage: [SCSI_OP.WRITE_12, DPO_FUA, ...lba32, F, F, F, F, GROUP, 0] },
  { op: SCSI_OP.WRITE_AND_VERIFY_12, usage: [SCSI_OP.WRITE_AND_VERIFY_12, 0x12, ...lba32, F, F, F, F, GROUP, 0] },
  { op: SCSI_OP.VERIFY_12, usage: [SCSI_OP.VERIFY_12, VERIFY_FLAGS, ...lba32, F, F, F, F, GROUP, 0] },
];

/** What a LUN has that changes its command list. */
export interface LunFeatures {
  /** COMPARE AND WRITE (ATS). */
  ats: boolean;
  /** Thin provisioning: UNMAP (a thick LUN answers it as an unknown opcode). */
  thin: boolean;
}

/** The commands a LUN implements (COMPARE AND WRITE only with ATS, UNMAP only when thin), ascending by opcode then service action. */
export function supportedOpcodes(lun: LunFeatures): OpcodeEntry[] {
  return ENTRIES.filter((e) => (lun.ats || e.op !== SCSI_OP.COMPARE_AND_WRITE) && (lun.thin || e.op !== SCSI_OP.UNMAP)).sort((a, b) => a.op - b.op || (a.sa ?? 0) - (b.sa ?? 0));
}

const TIMEOUTS_BYTES = 12;

function timeouts(): Buffer {
  const t = Buffer.alloc(TIMEOUTS_BYTES);
  t.writeUInt16BE(TIMEOUTS_BYTES - 2, 0); // nominal and recommended timeouts 0: not specified
  return t;
}

/** Answer a REPORT SUPPORTED OPERATION CODES CDB (MAINTENANCE IN, service action checked by the caller). */
export function reportSupportedOpcodes(cdb: Uint8Array, lun: LunFeatures): ScsiResult {
  const rctd = (cdb[2]! & 0x80) !== 0;
  const options = cdb[2]! & 0x07;
  // Every refusal points at byte 2 (the reporting options): without a field pointer, or pointing at the
  // service action (byte 1), initiators take INVALID FIELD IN CDB as "REPORT SUPPORTED OPERATION CODES not supported".
  if ((cdb[2]! & 0x78) !== 0) return invalidFieldInCdb(2);
  const alloc = ((cdb[6]! << 24) | (cdb[7]! << 16) | (cdb[8]! << 8) | cdb[9]!) >>> 0;
  const table = supportedOpcodes(lun);
  let out: Buffer;
  if (options === 0) {
    const parts: Buffer[] = [Buffer.alloc(4)];
    for (const e of table) {
      const d = Buffer.alloc(8);
      d[0] = e.op;
      d.writeUInt16BE(e.sa ?? 0, 2);
      d[5] = (rctd ? 0x02 : 0) | (e.sa !== undefined ? 0x01 : 0); // CTDP, SERVACTV
      d.writeUInt16BE(e.usage.length, 6);
      parts.push(d);
      if (rctd) parts.push(timeouts());
    }
    out = Buffer.concat(parts);
    out.writeUInt32BE(out.length - 4, 0);
  } else if (options <= 3) {
    const op = cdb[3]!;
    const sa = (cdb[4]! << 8) | cdb[5]!;
    const withSa = table.some((e) => e.op === op && e.sa !== undefined);
    // 001b: the command must have no service action; 010b: it must have one; 011b: either (SPC-4).
    if ((options === 1 && withSa) || (options === 2 && !withSa && table.some((e) => e.op === op))) return invalidFieldInCdb(2);
    const e = table.find((x) => x.op === op && (options === 1 || (options === 3 && !withSa) || x.sa === sa));
    const usage = e === undefined ? [] : e.usage;
    out = Buffer.alloc(4 + usage.length + (rctd && e !== undefined ? TIMEOUTS_BYTES : 0));
    out[1] = (rctd && e !== undefined ? 0x80 : 0) | (e === undefined ? 0x01 : 0x03); // CTDP, SUPPORT
    out.writeUInt16BE(usage.length, 2);
    Buffer.from(usage).copy(out, 4);
    if (rctd && e !== undefined) timeouts().copy(out, 4 + usage.length);
  } else {
    return invalidFieldInCdb(2);
  }
  return good(out.length > alloc ? out.subarray(0, alloc) : out);
}
