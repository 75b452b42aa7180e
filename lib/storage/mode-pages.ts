// MODE SENSE (6) and (10) of the vfab target (SPC-4 §6.11-6.12, mode parameters §7.5; SBC-3 §6.4): the
// mode parameter header, one block descriptor (short, or long with LLBAA), and two mode pages — Caching
// (0x08, SBC-3 §6.4.5) and Control (0x0A, SPC-4 §7.5.8) — alone or as "all pages" (0x3F). Nothing is
// changeable (PC 01b returns all-zero masks), defaults equal the current values, saved values are not
// supported. Leaves out MODE SELECT, subpages and every other page.

import { SCSI_OP, SENSE_KEY, type ScsiResult } from './scsi.js';
import { checkCondition, good, invalidFieldInCdb } from './sense.js';

export const MODE_PAGE = { CACHING: 0x08, CONTROL: 0x0a, ALL: 0x3f } as const;
/** SPC-4 Annex D: SAVING PARAMETERS NOT SUPPORTED, for page control 11b (saved values). */
export const ASC_SAVING_PARAMETERS_NOT_SUPPORTED = [0x39, 0x00] as const;
/** Device-specific parameter (SBC-3 §6.4.1): DPOFUA — READ and WRITE accept DPO and FUA. WP is 0. */
export const MODE_DEVICE_SPECIFIC_DPOFUA = 0x10;

export interface ModeSenseLun {
  blocks: number;
  blockSizeBytes: number;
  /** The array keeps a read cache in front of the medium (RCD = 0); without one RCD = 1. */
  readCache: boolean;
}

/** Caching page: WCE is 0 because every write is durable before GOOD (no volatile write cache). */
function cachingPage(lun: ModeSenseLun, changeable: boolean): Buffer {
  const p = Buffer.alloc(20);
  p[0] = MODE_PAGE.CACHING;
  p[1] = p.length - 2;
  if (!changeable && !lun.readCache) p[2] = 0x01; // RCD
  return p;
}

/**
 * Control page: QUEUE ALGORITHM MODIFIER 1 (commands on different blocks may complete in any order; the
 * range lock orders overlapping ones), QERR 0, D_SENSE 0 (fixed-format sense), TST 0, SWP 0, TAS 0.
 */
function controlPage(changeable: boolean): Buffer {
  const p = Buffer.alloc(12);
  p[0] = MODE_PAGE.CONTROL;
  p[1] = p.length - 2;
  if (!changeable) p[3] = 0x10;
  return p;
}

function blockDescriptor(lun: ModeSenseLun, long: boolean): Buffer {
  if (long) {
    const d = Buffer.alloc(16);
    d.writeBigUInt64BE(BigInt(lun.blocks), 0);
    d.writeUInt32BE(lun.blockSizeBytes, 12);
    return d;
  }
  const d = Buffer.alloc(8);
  d.writeUInt32BE(Math.min(lun.blocks, 0xffffffff), 0);
  d.writeUIntBE(lun.blockSizeBytes, 5, 3);
  return d;
}

/** Answer a MODE SENSE (6) or (10) CDB (the caller checked its length and the reservation). */
export function modeSense(cdb: Uint8Array, lun: ModeSenseLun): ScsiResult {
  const ten = cdb[0] === SCSI_OP.MODE_SENSE_10;
  const flags = cdb[1]!;
  if ((flags & (ten ? 0xe7 : 0xf7)) !== 0) return invalidFieldInCdb(); // only DBD (and LLBAA in 10)
  const dbd = (flags & 0x08) !== 0;
  const llbaa = ten && (flags & 0x10) !== 0;
  const pc = cdb[2]! >> 6;
  const page = cdb[2]! & 0x3f;
  const subpage = cdb[3]!;
  if (pc === 3) return checkCondition(SENSE_KEY.ILLEGAL_REQUEST, ASC_SAVING_PARAMETERS_NOT_SUPPORTED);
  if (subpage !== 0 && !(page === MODE_PAGE.ALL && subpage === 0xff)) return invalidFieldInCdb();
  const changeable = pc === 1;
  let pages: Buffer[];
  if (page === MODE_PAGE.CACHING) pages = [cachingPage(lun, changeable)];
  else if (page === MODE_PAGE.CONTROL) pages = [controlPage(changeable)];
  else if (page === MODE_PAGE.ALL) pages = [cachingPage(lun, changeable), controlPage(changeable)];
  else return invalidFieldInCdb();
  const desc = dbd ? Buffer.alloc(0) : blockDescriptor(lun, llbaa);
  const header = Buffer.alloc(ten ? 8 : 4);
  const total = header.length + desc.length + pages.reduce((n, p) => n + p.length, 0);
  if (ten) {
    header.writeUInt16BE(total - 2, 0);
    header[3] = MODE_DEVICE_SPECIFIC_DPOFUA;
    if (llbaa && !dbd) header[4] = 0x01; // LONGLBA
    header.writeUInt16BE(desc.length, 6);
  } else {
    header[0] = total - 1;
    header[2] = MODE_DEVICE_SPECIFIC_DPOFUA;
    header[3] = desc.length;
  }
  const out = Buffer.concat([header, desc, ...pages], total);
  const alloc = ten ? (cdb[7]! << 8) | cdb[8]! : cdb[4]!;
  return good(out.length > alloc ? out.subarray(0, alloc) : out);
}

