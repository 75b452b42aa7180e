// The SCSI command model of the vfab array: ScsiTarget.execute over a BlockStore, per SBC-3 (READ 6/10/12/16,
// WRITE 10/12/16, VERIFY and WRITE AND VERIFY 10/12/16, PRE-FETCH 10/16, COMPARE AND WRITE, ORWRITE (16), WRITE SAME
// 10/16, UNMAP, GET LBA STATUS, SYNCHRONIZE CACHE 10/16, READ CAPACITY 10/16, START STOP UNIT; thin or thick
// logical block provisioning, §4.7) and SPC-4 (TEST UNIT READY, INQUIRY with VPD
// 0x00/0x80/0x83/0xb0/0xb2, REPORT LUNS, REQUEST SENSE, MODE SENSE 6/10 (mode-pages.ts), REPORT SUPPORTED
// OPERATION CODES (opcodes.ts), SPC-2 RESERVE/RELEASE 6/10, PERSISTENT RESERVE IN/OUT). Never throws: bad
// input is CHECK CONDITION and changes no data. `submit` is a callback entry with a Promise-free fast path for
// READs (any length on a store with readRunCb, one block on the others) and, on a store that writes at once
// (the memory store), WRITE (10)/(16). Unit attentions (unit-attention.ts) for transports that report them.
// Leaves out protection information (RDPROTECT/WRPROTECT/VRPROTECT must be 0), task management (except
// `nexusLoss`/`logicalUnitReset`), descriptor sense, anchored blocks, ORWRITE (32) and its
// previous-generation processing, EXTENDED COPY, MODE SELECT and third-party reservations. docs/storage-model.md lists every sense it returns.

import type { Clock } from '../clock.js';
import { ASC, SCSI_OP, SCSI_STATUS, SENSE_KEY, type ScsiCommand, type ScsiResult, type ScsiTarget, type Sense } from './scsi.js';
import { type BlockReadCallback, type BlockStore, READ_CACHE_HINTS, READ_FUA, STORAGE_ERROR } from './blockstore.js';
import type { VfabError } from '../errors.js';
import { RangeLock } from './range-lock.js';
import { TurnBatch } from './turn-batch.js';
import {
  ACCESS,
  LunReservations,
  PR_IN_SA,
  PR_OUTCOME,
  PR_OUT_PARAM_BYTES,
  PR_OUT_SA,
  PR_TYPE,
  type AccessClass,
  type PrStateJson,
} from './reservations.js';
import {
  ASC_EXTRA,
  checkCondition,
  good,
  illegalRequest,
  invalidFieldInCdb,
  invalidFieldInParameterList,
  invalidOpcode,
  lbaOutOfRange,
  lunNotSupported,
  parameterListLengthError,
  reservationConflict,
  toFixedSense,
} from './sense.js';
import type { LunInfo } from './array.js';
import { UA_ASC, UnitAttentions } from './unit-attention.js';
import { CachedBlockStore } from './blockstore-cached.js';
import { modeSense } from './mode-pages.js';
import { RSOC_SA, SAI_SA, reportSupportedOpcodes } from './opcodes.js';

/** Largest READ/WRITE data transfer; VPD 0xb0 MAXIMUM TRANSFER LENGTH reports it in blocks. */
export const MAX_TRANSFER_BYTES = 4 * 1024 * 1024;
/** VPD 0xb0 MAXIMUM COMPARE AND WRITE LENGTH, in blocks. */
export const MAX_CAW_BLOCKS = 16;
/**
 * Largest WRITE SAME in bytes of the range it covers: the same as one WRITE may carry, so an initiator that
 * zeroes or unmaps a range with WRITE SAME can also write and read that range in one command (VPD 0xb0
 * MAXIMUM WRITE SAME LENGTH = MAXIMUM TRANSFER LENGTH, in blocks of the LUN).
 */
export const MAX_WRITE_SAME_BYTES = MAX_TRANSFER_BYTES;
/** WRITE SAME with non-zero data is written in batches of this many blocks. */
export const WRITE_SAME_CHUNK_BLOCKS = 256;
/** VPD 0xb0 MAXIMUM UNMAP LBA COUNT (per descriptor and per command): 2^20 blocks, a finite bound initiators accept. */
export const MAX_UNMAP_LBA_COUNT = 1 << 20;
/** VPD 0xb0 MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT. */
export const MAX_UNMAP_DESCRIPTORS = 256;
/**
 * GET LBA STATUS looks at no more than this many blocks from its starting LBA per command (the initiator
 * asks again from where the answer ends); 2^16 block numbers at most are held while the answer is built.
 */
export const MAX_LBA_STATUS_SCAN_BLOCKS = 1 << 16;
/** GET LBA STATUS descriptors per answer, at most (also bounded by the allocation length). */
export const MAX_LBA_STATUS_DESCRIPTORS = 1024;
/** LBA STATUS descriptor provisioning status (SBC-3 §5.16.2): mapped, deallocated. */
export const LBA_STATUS = { MAPPED: 0, DEALLOCATED: 1 } as const;
/** Longest CDB accepted (iSCSI pads to 16; longer is refused). */
export const MAX_CDB_BYTES = 16;
/** Supported VPD pages, ascending (VPD 0x00). */
export const VPD_PAGES = [0x00, 0x80, 0x83, 0xb0, 0xb2] as const;

export const INQUIRY_VENDOR = 'VFAB';
export const INQUIRY_PRODUCT = 'VIRTUAL-DISK';
export const INQUIRY_REVISION = '0100';
/**
 * Version descriptors of the standard INQUIRY data (SPC-4 §6.4.2, bytes 58-73): SAM-5, SPC-4, SBC-3 and
 * iSCSI, each with no version claimed. Initiators read SBC-3 here before trusting the Block Limits page.
 */
export const INQUIRY_VERSION_DESCRIPTORS = [0x00a0, 0x0460, 0x04c0, 0x0960] as const;
/** Standard INQUIRY data length: through the eight version descriptor slots and the reserved bytes after them. */
export const STANDARD_INQUIRY_BYTES = 96;

/** Largest logical block a LUN may have (512 or 4096). */
export const LARGEST_BLOCK_BYTES = 4096;

/**
 * An upper bound, from the CDB alone, of the memory the target allocates for a command beyond its
 * data-out: the data-in of a READ, the compare read of COMPARE AND WRITE, the pattern batch of WRITE
 * SAME. Block sizes are taken as LARGEST_BLOCK_BYTES (the LUN is not looked up). A short or unknown CDB
 * costs 0 (the target answers it without I/O). Used for admission control by the block server.
 */
export function commandWorkingBytes(cdb: Uint8Array): number {
  const op = cdb[0];
  let blocks = 0;
  if (op === SCSI_OP.READ_10 && cdb.length >= 10) blocks = u16(cdb, 7);
  else if (op === SCSI_OP.READ_6 && cdb.length >= 6) blocks = read6Blocks(cdb);
  else if (op === SCSI_OP.ORWRITE_16 && cdb.length >= 16) blocks = u32(cdb, 10);
  else if (op === SCSI_OP.VERIFY_10 && cdb.length >= 10) blocks = u16(cdb, 7);
  else if ((op === SCSI_OP.READ_12 || op === SCSI_OP.VERIFY_12) && cdb.length >= 12) blocks = u32(cdb, 6);
  else if ((op === SCSI_OP.READ_16 || op === SCSI_OP.VERIFY_16) && cdb.length >= 16) blocks = u32(cdb, 10);
  else if (op === SCSI_OP.COMPARE_AND_WRITE && cdb.length >= 16) blocks = Math.min(cdb[13]!, MAX_CAW_BLOCKS);
  else if ((op === SCSI_OP.WRITE_SAME_10 || op === SCSI_OP.WRITE_SAME_16) && cdb.length >= 10) blocks = WRITE_SAME_CHUNK_BLOCKS;
  return Math.min(blocks * LARGEST_BLOCK_BYTES, MAX_TRANSFER_BYTES);
}

const TASK_ABORTED_RESULT: ScsiResult = { status: SCSI_STATUS.TASK_ABORTED };

export function maxTransferBlocks(blockSizeBytes: number): number {
  return Math.floor(MAX_TRANSFER_BYTES / blockSizeBytes);
}

/** VPD 0xb0 MAXIMUM WRITE SAME LENGTH of a LUN with this block size. */
export function maxWriteSameBlocks(blockSizeBytes: number): number {
  return Math.floor(MAX_WRITE_SAME_BYTES / blockSizeBytes);
}

export interface LunStats {
  reads: number;
  writes: number;
  readBytes: number;
  writtenBytes: number;
  compareAndWrites: number;
  cawMiscompares: number;
  unmappedBlocks: number;
  reservationConflicts: number;
  checksumErrors: number;
  /** CHECK CONDITION answers of every kind (including the counted ones above). */
  checkConditions: number;
}

export function emptyLunStats(): LunStats {
  return {
    reads: 0,
    writes: 0,
    readBytes: 0,
    writtenBytes: 0,
    compareAndWrites: 0,
    cawMiscompares: 0,
    unmappedBlocks: 0,
    reservationConflicts: 0,
    checksumErrors: 0,
    checkConditions: 0,
  };
}

interface TargetLun {
  info: LunInfo;
  naa: Buffer; // 16-byte NAA designator from info.id
  lock: RangeLock;
  pr: LunReservations;
  stats: LunStats;
  ua: UnitAttentions;
}

/** READ (6): a transfer length of 0 means 256 blocks (SBC-3 §5.7). */
const read6Blocks = (cdb: Uint8Array): number => (cdb[4] === 0 ? 256 : cdb[4]!);
/** READ (6): the 21-bit LBA in bytes 1-3. */
const read6Lba = (cdb: Uint8Array): number => ((cdb[1]! & 0x1f) << 16) | (cdb[2]! << 8) | cdb[3]!;
/** A LUN without thin provisioning (LunInfo.provisioning 'thick'; absent = thin). */
const isThick = (l: TargetLun): boolean => l.info.provisioning === 'thick';

/** Where persistent reservation state of LUN n lives in the store. */
export const prMetaKey = (lun: number): string => `pr/${lun}`;

const u16 = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!;
const u32 = (b: Uint8Array, o: number): number => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
/** A 64-bit CDB field as a Number; values beyond 2^53 become Infinity (always out of range). */
const u64 = (b: Uint8Array, o: number): number => {
  const hi = u32(b, o);
  return hi > 0x1fffff ? Infinity : hi * 0x100000000 + u32(b, o + 4);
};

/** CDB length implied by the opcode's group code (SPC-4 §4.2.5.1); 0 = vendor/reserved group. */
function cdbLengthFor(op: number): number {
  switch (op >> 5) {
    case 0:
      return 6;
    case 1:
    case 2:
      return 10;
    case 4:
      return 16;
    case 5:
      return 12;
    default:
      return 0;
  }
}

function naaBytes(id: string): Buffer {
  const hex = id.startsWith('naa.') ? id.slice(4) : id;
  const out = Buffer.alloc(16);
  if (/^[0-9a-fA-F]{32}$/.test(hex)) Buffer.from(hex, 'hex').copy(out);
  return out;
}

function asciiField(text: string, width: number): Buffer {
  return Buffer.from(text.padEnd(width, ' ').slice(0, width), 'latin1');
}

function truncate(data: Buffer, allocationBytes: number): Buffer {
  return data.length > allocationBytes ? data.subarray(0, allocationBytes) : data;
}

const INTERNAL_FAILURE: ScsiResult = checkCondition(SENSE_KEY.HARDWARE_ERROR, ASC_EXTRA.INTERNAL_TARGET_FAILURE);

/** The LBA rwRange read last (a scratch, so the fast paths allocate nothing for it). */
const RW_RANGE = { lba: -1 };

/**
 * The block count of a (10) or (16) CDB of the two given opcodes (its LBA into RW_RANGE.lba), or -1 when
 * the CDB is neither or has the wrong length.
 */
function rwRange(cdb: Uint8Array, op10: number, op16: number): number {
  const op = cdb[0];
  if (op === op16 && cdb.length >= 16 && cdb.length <= MAX_CDB_BYTES) {
    RW_RANGE.lba = u64(cdb, 2);
    return u32(cdb, 10);
  }
  if (op === op10 && cdb.length >= 10 && cdb.length <= MAX_CDB_BYTES) {
    RW_RANGE.lba = u32(cdb, 2);
    return u16(cdb, 7);
  }
  RW_RANGE.lba = -1;
  return -1;
}

/** Completion of submit(): `ctx` is the caller's own per-command object, so no closure per command. */
export type SubmitDone<C> = (ctx: C, result: ScsiResult) => void;

/**
 * A ScsiTarget that also takes commands callback-style (the block server's hot path). `done` is called
 * exactly once, never synchronously inside submit, and submit never throws. A result's dataIn is valid
 * only during the `done` call (a READ answered from the read cache lends cache memory): copy it to keep it.
 */
export interface SubmitTarget extends ScsiTarget {
  submit<C>(cmd: ScsiCommand, ctx: C, done: SubmitDone<C>): void;
}

export function isSubmitTarget(t: ScsiTarget): t is SubmitTarget {
  return typeof (t as Partial<SubmitTarget>).submit === 'function';
}

/** One single-block READ on the fast path: the store calls blockRead, this answers the submitter. */
class FastRead<C> implements BlockReadCallback {
  constructor(
    private readonly target: BlockTarget,
    private readonly l: TargetLun,
    private readonly ctx: C,
    private readonly done: SubmitDone<C>,
  ) {}

  blockRead(data: Buffer | undefined, error: VfabError | undefined): void {
    let result: ScsiResult;
    if (error !== undefined) result = this.target.readFailureResult(this.l, error.code, error.details);
    else {
      this.l.stats.reads++;
      this.l.stats.readBytes += data!.length;
      result = good(data);
    }
    this.done(this.ctx, result);
  }
}

export interface BlockTargetOptions {
  clock?: Clock;
}

/** SCSI target over a BlockStore; the LUN table is managed by the owner (lib/storage/array.ts). */
export class BlockTarget implements ScsiTarget {
  private readonly luns = new Map<number, TargetLun>();
  /** Fast-path answers waiting for this turn's completion microtask. */
  private readonly later = new TurnBatch<{ ctx: unknown; done: SubmitDone<unknown>; result: ScsiResult }>((all) => {
    for (let i = 0; i < all.length; i++) all[i]!.done(all[i]!.ctx, all[i]!.result);
  });

  constructor(readonly store: BlockStore, _opts: BlockTargetOptions = {}) {}

  addLun(info: LunInfo, pr: LunReservations = new LunReservations()): void {
    this.luns.set(info.lun, { info, naa: naaBytes(info.id), lock: new RangeLock(), pr, stats: emptyLunStats(), ua: new UnitAttentions() });
  }

  updateLun(info: LunInfo): void {
    const l = this.luns.get(info.lun);
    if (l !== undefined) l.info = info;
  }

  removeLun(lun: number): void {
    this.luns.delete(lun);
  }

  lunStats(lun: number): LunStats | undefined {
    const s = this.luns.get(lun)?.stats;
    return s === undefined ? undefined : { ...s };
  }

  reservations(lun: number): LunReservations | undefined {
    return this.luns.get(lun)?.pr;
  }

  /** I_T nexus loss (transport connection gone): SPC-2 reservations of that initiator are released. */
  nexusLoss(initiator: string): void {
    for (const l of this.luns.values()) {
      if (l.pr.spc2Holder === initiator) l.pr.spc2Holder = null;
      l.ua.forget(initiator);
    }
  }

  /**
   * LOGICAL UNIT RESET: releases the SPC-2 reservation (how ESXi breaks a stale SCSI-2 reserve) and raises
   * the unit attention BUS DEVICE RESET FUNCTION OCCURRED for every nexus of the LUN (SAM-5 §7.7), the
   * resetting one included.
   */
  logicalUnitReset(lun: number): void {
    const l = this.luns.get(lun);
    if (l === undefined) return;
    l.pr.spc2Holder = null;
    l.ua.raise(UA_ASC.BUS_DEVICE_RESET_FUNCTION_OCCURRED);
  }

  /**
   * Callback-style execute. A READ (10)/(16) that passes every check goes straight to the store's
   * readRunCb (any length; the memory store) or, for one block, its readBlockCb (LevelDB and the read
   * cache) — no Promise, no async frames; anything else, including every READ that ends in
   * CHECK CONDITION or RESERVATION CONFLICT, runs through execute() so the answers are identical.
   */
  submit<C>(cmd: ScsiCommand, ctx: C, done: SubmitDone<C>): void {
    const cdb = cmd.cdb;
    const store = this.store;
    if ((store.readBlockCb !== undefined || store.readRunCb !== undefined) && cdb instanceof Uint8Array && typeof cmd.initiator === 'string') {
      const blocks = rwRange(cdb, SCSI_OP.READ_10, SCSI_OP.READ_16);
      const lba = RW_RANGE.lba;
      if (blocks >= 1 && (cdb[1]! & 0xe0) === 0 && (blocks === 1 || store.readRunCb !== undefined) && cmd.aborted !== true) {
        const l = this.luns.get(cmd.lun);
        if (
          l !== undefined &&
          blocks <= maxTransferBlocks(l.info.blockSizeBytes) &&
          lba + blocks <= l.info.blocks &&
          l.pr.access(cmd.initiator, ACCESS.READ) &&
          (cmd.reportsUnitAttentions !== true || (l.ua.quiet && l.ua.knows(cmd.initiator)))
        ) {
          const fast = new FastRead(this, l, ctx, done);
          if (store.readRunCb !== undefined) store.readRunCb(l.info.lun, lba, blocks, l.info.blockSizeBytes, fast);
          else store.readBlockCb!(l.info.lun, lba, l.info.blockSizeBytes, fast, cdb[1]! & READ_CACHE_HINTS);
          return;
        }
      }
    }
    if (store.writeBlocksNow !== undefined && cdb instanceof Uint8Array && typeof cmd.initiator === 'string' && this.writeNow(cmd, ctx, done)) return;
    this.execute(cmd).then(
      (res) => done(ctx, res),
      () => done(ctx, INTERNAL_FAILURE),
    );
  }

  /**
   * WRITE (10)/(16) fast path on a store that writes at once (writeBlocksNow: the memory store): a write
   * whose every check passes, whose data-out is exactly its blocks and whose range no lock holder or
   * waiter overlaps is applied now (so it is atomic against every other command, as under the range lock)
   * and answered GOOD in this turn's completion microtask. Anything else returns false and runs through
   * execute(), so the answers are identical.
   */
  private writeNow<C>(cmd: ScsiCommand, ctx: C, done: SubmitDone<C>): boolean {
    const cdb = cmd.cdb;
    const blocks = rwRange(cdb, SCSI_OP.WRITE_10, SCSI_OP.WRITE_16);
    const lba = RW_RANGE.lba;
    if (blocks <= 0 || (cdb[1]! & 0xe0) !== 0 || cmd.aborted === true) return false;
    const l = this.luns.get(cmd.lun);
    if (l === undefined) return false;
    const bs = l.info.blockSizeBytes;
    const data = cmd.dataOut;
    if (
      data === undefined ||
      data.length !== blocks * bs ||
      blocks > maxTransferBlocks(bs) ||
      lba + blocks > l.info.blocks ||
      !l.pr.access(cmd.initiator, ACCESS.WRITE) ||
      (cmd.reportsUnitAttentions === true && !(l.ua.quiet && l.ua.knows(cmd.initiator))) ||
      !l.lock.free(lba, blocks)
    ) {
      return false;
    }
    let result: ScsiResult;
    try {
      this.store.writeBlocksNow!(l.info.lun, lba, data, bs);
      l.stats.writes++;
      l.stats.writtenBytes += data.length;
      result = good();
    } catch {
      result = checkCondition(SENSE_KEY.MEDIUM_ERROR, ASC.WRITE_ERROR);
      l.stats.checkConditions++;
    }
    this.answerLater(ctx as unknown, done as SubmitDone<unknown>, result);
    return true;
  }

  /** Calls done(ctx, result) in this turn's completion microtask (submit never answers synchronously). */
  private answerLater(ctx: unknown, done: SubmitDone<unknown>, result: ScsiResult): void {
    this.later.push({ ctx, done, result });
  }

  /** The SCSI answer to a failed store read (MEDIUM ERROR with the LBA for a checksum, else internal). */
  readFailureResult(l: TargetLun, code: string, details: Record<string, unknown> | undefined): ScsiResult {
    const r = this.readFailure(l, code, details);
    if (r.status === SCSI_STATUS.CHECK_CONDITION) l.stats.checkConditions++;
    return r;
  }

  async execute(cmd: ScsiCommand): Promise<ScsiResult> {
    let result: ScsiResult;
    try {
      result = await this.dispatch(cmd);
    } catch {
      result = INTERNAL_FAILURE;
    }
    if (result.status === SCSI_STATUS.CHECK_CONDITION) {
      const l = this.luns.get(cmd.lun);
      if (l !== undefined) l.stats.checkConditions++;
    }
    return result;
  }

  private conflict(l: TargetLun, initiator: string, cls: AccessClass): boolean {
    if (l.pr.access(initiator, cls)) return false;
    l.stats.reservationConflicts++;
    return true;
  }

  private dispatch(cmd: ScsiCommand): Promise<ScsiResult> | ScsiResult {
    if (cmd.aborted === true) return TASK_ABORTED_RESULT;
    const cdb = cmd.cdb;
    if (!(cdb instanceof Uint8Array) || cdb.length === 0 || cdb.length > MAX_CDB_BYTES) return invalidFieldInCdb();
    const op = cdb[0]!;
    const need = cdbLengthFor(op);
    if (need === 0) return invalidOpcode();
    if (cdb.length < need) return invalidFieldInCdb();
    if (typeof cmd.initiator !== 'string') return invalidFieldInCdb();
    const l = this.luns.get(cmd.lun);
    const ua = l !== undefined && cmd.reportsUnitAttentions === true;
    if (ua) l.ua.seen(cmd.initiator);
    switch (op) {
      case SCSI_OP.REPORT_LUNS:
        return this.reportLuns(cdb);
      case SCSI_OP.INQUIRY:
        return this.inquiry(l, cdb);
      case SCSI_OP.REQUEST_SENSE:
        return this.requestSense(l, cdb, ua ? l.ua.take(cmd.initiator) : undefined);
    }
    if (l === undefined) return lunNotSupported();
    if (ua && !l.ua.quiet) {
      // SPC-4 §5.9: a pending unit attention answers (and ends) the nexus's next command but INQUIRY,
      // REPORT LUNS and REQUEST SENSE.
      const sense = l.ua.take(cmd.initiator);
      if (sense !== undefined) return { status: SCSI_STATUS.CHECK_CONDITION, sense };
    }
    switch (op) {
      case SCSI_OP.READ_10:
        return this.read(l, cmd, u32(cdb, 2), u16(cdb, 7));
      case SCSI_OP.READ_6:
        // no flag bits: byte 1 holds the top of the LBA, so no cache hints either
        return this.read(l, cmd, read6Lba(cdb), read6Blocks(cdb), 0);
      case SCSI_OP.READ_16:
        return this.read(l, cmd, u64(cdb, 2), u32(cdb, 10));
      case SCSI_OP.READ_12:
        return this.read(l, cmd, u32(cdb, 2), u32(cdb, 6));
      case SCSI_OP.WRITE_10:
        return this.write(l, cmd, u32(cdb, 2), u16(cdb, 7));
      case SCSI_OP.WRITE_12:
        return this.write(l, cmd, u32(cdb, 2), u32(cdb, 6));
      case SCSI_OP.WRITE_AND_VERIFY_10:
        return this.writeAndVerify(l, cmd, u32(cdb, 2), u16(cdb, 7));
      case SCSI_OP.WRITE_AND_VERIFY_12:
        return this.writeAndVerify(l, cmd, u32(cdb, 2), u32(cdb, 6));
      case SCSI_OP.WRITE_AND_VERIFY_16:
        return this.writeAndVerify(l, cmd, u64(cdb, 2), u32(cdb, 10));
      case SCSI_OP.VERIFY_10:
        return this.verify(l, cmd, u32(cdb, 2), u16(cdb, 7));
      case SCSI_OP.VERIFY_12:
        return this.verify(l, cmd, u32(cdb, 2), u32(cdb, 6));
      case SCSI_OP.VERIFY_16:
        return this.verify(l, cmd, u64(cdb, 2), u32(cdb, 10));
      case SCSI_OP.PRE_FETCH_10:
        return this.preFetch(l, cmd, u32(cdb, 2), u16(cdb, 7));
      case SCSI_OP.PRE_FETCH_16:
        return this.preFetch(l, cmd, u64(cdb, 2), u32(cdb, 10));
      case SCSI_OP.MODE_SENSE_6:
      case SCSI_OP.MODE_SENSE_10:
        // STATUS class: allowed under every persistent reservation, refused under another's SPC-2 RESERVE.
        if (this.conflict(l, cmd.initiator, ACCESS.STATUS)) return reservationConflict();
        return modeSense(cdb, { blocks: l.info.blocks, blockSizeBytes: l.info.blockSizeBytes, readCache: this.store instanceof CachedBlockStore });
      case SCSI_OP.MAINTENANCE_IN:
        return (cdb[1]! & 0x1f) === RSOC_SA ? reportSupportedOpcodes(cdb, { ats: l.info.ats !== false, thin: !isThick(l) }) : invalidFieldInCdb(1, 4);
      case SCSI_OP.START_STOP_UNIT:
        return this.startStopUnit(l, cmd);
      case SCSI_OP.WRITE_16:
        return this.write(l, cmd, u64(cdb, 2), u32(cdb, 10));
      case SCSI_OP.COMPARE_AND_WRITE:
        return l.info.ats === false ? invalidOpcode() : this.compareAndWrite(l, cmd); // a LUN without ATS
      case SCSI_OP.ORWRITE_16:
        return this.orWrite(l, cmd);
      case SCSI_OP.WRITE_SAME_10:
        return this.writeSame(l, cmd, u32(cdb, 2), u16(cdb, 7));
      case SCSI_OP.WRITE_SAME_16:
        return this.writeSame(l, cmd, u64(cdb, 2), u32(cdb, 10));
      case SCSI_OP.UNMAP:
        return isThick(l) ? invalidOpcode() : this.unmap(l, cmd); // LBPU=0: UNMAP is not supported
      case SCSI_OP.SYNCHRONIZE_CACHE_10:
        return this.synchronizeCache(l, cmd, u32(cdb, 2), u16(cdb, 7));
      case SCSI_OP.SYNCHRONIZE_CACHE_16:
        return this.synchronizeCache(l, cmd, u64(cdb, 2), u32(cdb, 10));
      case SCSI_OP.READ_CAPACITY_10:
        return this.readCapacity10(l, cmd);
      case SCSI_OP.SERVICE_ACTION_IN_16:
        switch (cdb[1]! & 0x1f) {
          case SAI_SA.READ_CAPACITY_16:
            return this.readCapacity16(l, cmd);
          case SAI_SA.GET_LBA_STATUS:
            return this.getLbaStatus(l, cmd);
          default:
            return invalidFieldInCdb(1, 4); // the service action: not supported
        }
      case SCSI_OP.TEST_UNIT_READY:
        return this.conflict(l, cmd.initiator, ACCESS.STATUS) ? reservationConflict() : good();
      case SCSI_OP.RESERVE_6:
      case SCSI_OP.RESERVE_10:
      case SCSI_OP.RELEASE_6:
      case SCSI_OP.RELEASE_10:
        return this.spc2(l, cmd, op);
      case SCSI_OP.PERSISTENT_RESERVE_IN:
        return this.prIn(l, cmd);
      case SCSI_OP.PERSISTENT_RESERVE_OUT:
        return this.prOut(l, cmd);
      default:
        return invalidOpcode();
    }
  }

  // ---- block commands (SBC-3) ----

  private async read(l: TargetLun, cmd: ScsiCommand, lba: number, blocks: number, hints = cmd.cdb[1]! & READ_CACHE_HINTS): Promise<ScsiResult> {
    if ((cmd.cdb[1]! & 0xe0) !== 0) return invalidFieldInCdb(); // RDPROTECT (READ (6): reserved): no protection information
    const bs = l.info.blockSizeBytes;
    if (blocks > maxTransferBlocks(bs)) return invalidFieldInCdb();
    if (lba + blocks > l.info.blocks) return lbaOutOfRange();
    if (this.conflict(l, cmd.initiator, ACCESS.READ)) return reservationConflict();
    if (blocks === 0) return good();
    const res = await this.store.readBlocks(l.info.lun, lba, blocks, bs, hints);
    if (!res.ok) return this.readFailure(l, res.error.code, res.error.details);
    l.stats.reads++;
    l.stats.readBytes += res.value.length;
    return good(res.value);
  }

  /**
   * VERIFY (10)/(12)/(16), SBC-3 §5.33-5.35: BYTCHK 00b reads the blocks and reports a medium error (checksum);
   * 01b compares the data-out with the medium and 11b compares one data-out block with each block. A
   * difference is MISCOMPARE / MISCOMPARE DURING VERIFY OPERATION with INFORMATION = offset of the first
   * differing byte in the data-out, as for COMPARE AND WRITE. Length 0 verifies nothing (GOOD).
   */
  private async verify(l: TargetLun, cmd: ScsiCommand, lba: number, blocks: number): Promise<ScsiResult> {
    const flags = cmd.cdb[1]!;
    if ((flags & 0xe0) !== 0) return invalidFieldInCdb(); // VRPROTECT: no protection information
    const bytchk = (flags >> 1) & 0x03;
    if (bytchk === 0x02) return invalidFieldInCdb(); // reserved
    const bs = l.info.blockSizeBytes;
    if (blocks > maxTransferBlocks(bs)) return invalidFieldInCdb();
    if (lba + blocks > l.info.blocks) return lbaOutOfRange();
    const wanted = bytchk === 0 || blocks === 0 ? 0 : bytchk === 0x01 ? blocks * bs : bs;
    const mismatch = BlockTarget.dataOutMismatch(cmd, wanted);
    if (mismatch !== undefined) return mismatch;
    if (this.conflict(l, cmd.initiator, ACCESS.READ)) return reservationConflict();
    if (blocks === 0) return good();
    const res = await this.store.readBlocks(l.info.lun, lba, blocks, bs, READ_FUA);
    if (!res.ok) return this.readFailure(l, res.error.code, res.error.details);
    if (bytchk === 0) return good();
    const medium = res.value;
    const data = cmd.dataOut!;
    for (let i = 0; i < medium.length; i++) {
      const expected = bytchk === 0x01 ? data[i] : data[i % bs];
      if (medium[i] !== expected) return checkCondition(SENSE_KEY.MISCOMPARE, ASC.MISCOMPARE_DURING_VERIFY, bytchk === 0x01 ? i : i % bs);
    }
    return good();
  }

  /**
   * PRE-FETCH (10)/(16), SBC-3 §5.9-5.10: range and reservation checked, then GOOD. The array does not load
   * blocks ahead of a READ, which SBC-3 reports as GOOD ("not all blocks fit in the cache") rather than
   * CONDITION MET. Length 0 means "to the last block". IMMED is accepted (the answer is immediate anyway).
   */
  private preFetch(l: TargetLun, cmd: ScsiCommand, lba: number, blocks: number): ScsiResult {
    if ((cmd.cdb[1]! & 0xfd) !== 0) return invalidFieldInCdb(); // only IMMED (bit 1) is defined
    if (lba + blocks > l.info.blocks || lba >= l.info.blocks) return lbaOutOfRange();
    if (this.conflict(l, cmd.initiator, ACCESS.READ)) return reservationConflict();
    return good();
  }

  /**
   * START STOP UNIT (SBC-3 §5.25): the array's units are always spinning and not removable, so every
   * power condition and START/LOEJ combination is GOOD and changes nothing (no stopped state is kept: a
   * READ after STOP succeeds, as on arrays that ignore power management). Reserved bits are checked.
   */
  private startStopUnit(l: TargetLun, cmd: ScsiCommand): ScsiResult {
    const cdb = cmd.cdb;
    if ((cdb[1]! & 0xfe) !== 0 || (cdb[3]! & 0xf0) !== 0 || (cdb[4]! & 0x08) !== 0) return invalidFieldInCdb();
    // SBC-3 reservation table: START=1 with power condition 0 is allowed like TEST UNIT READY; stopping is a write.
    const start = (cdb[4]! & 0xf1) === 0x01;
    if (this.conflict(l, cmd.initiator, start ? ACCESS.STATUS : ACCESS.WRITE)) return reservationConflict();
    return good();
  }

  private readFailure(l: TargetLun, code: string, details: Record<string, unknown> | undefined): ScsiResult {
    if (code === STORAGE_ERROR.CHECKSUM) {
      l.stats.checksumErrors++;
      const lba = typeof details?.['lba'] === 'number' ? (details['lba'] as number) : undefined;
      return checkCondition(SENSE_KEY.MEDIUM_ERROR, ASC.UNRECOVERED_READ_ERROR, lba);
    }
    return INTERNAL_FAILURE;
  }

  /** Data-out must be exactly `expectedBytes`; otherwise PARAMETER LIST LENGTH ERROR (INFORMATION = expected). */
  private static dataOutMismatch(cmd: ScsiCommand, expectedBytes: number): ScsiResult | undefined {
    const got = cmd.dataOut === undefined ? 0 : cmd.dataOut.length;
    return got === expectedBytes ? undefined : parameterListLengthError(expectedBytes);
  }

  private write(l: TargetLun, cmd: ScsiCommand, lba: number, blocks: number): Promise<ScsiResult> | ScsiResult {
    if ((cmd.cdb[1]! & 0xe0) !== 0) return invalidFieldInCdb(); // WRPROTECT
    const bs = l.info.blockSizeBytes;
    if (blocks > maxTransferBlocks(bs)) return invalidFieldInCdb();
    if (lba + blocks > l.info.blocks) return lbaOutOfRange();
    const wanted = blocks * bs;
    const got = cmd.dataOut === undefined ? 0 : cmd.dataOut.length;
    if (got !== wanted) {
      if (cmd.residualsReported !== true) return parameterListLengthError(wanted);
      // SAM-5 residuals: write only what both the CDB and the data-out cover, in whole blocks; the transport
      // reports the rest as an overflow or underflow (RFC 7143 §11.4.5.1).
      const common = Math.min(got, wanted);
      if (common % bs !== 0) return { ...illegalRequest(ASC.INVALID_FIELD_IN_INFORMATION_UNIT), dataOutWanted: wanted };
      return this.writeBlocks(l, cmd, lba, common / bs).then((r) => ({ ...r, dataOutWanted: wanted }));
    }
    return this.writeBlocks(l, cmd, lba, blocks);
  }

  /**
   * WRITE AND VERIFY (10)/(12)/(16), SBC-3 §5.40-5.42: a WRITE whose blocks are verified. A write reaches
   * GOOD only once the store has it durably with each block's CRC, which is the verification, so BYTCHK 00b
   * and 01b both write exactly as WRITE does (residuals included); BYTCHK 1xb → INVALID FIELD IN CDB.
   */
  private writeAndVerify(l: TargetLun, cmd: ScsiCommand, lba: number, blocks: number): Promise<ScsiResult> | ScsiResult {
    if ((cmd.cdb[1]! & 0x04) !== 0) return invalidFieldInCdb(); // BYTCHK 10b/11b
    return this.write(l, cmd, lba, blocks);
  }

  /** The medium part of a WRITE: `blocks` blocks from the start of the data-out, under the range lock. */
  private async writeBlocks(l: TargetLun, cmd: ScsiCommand, lba: number, blocks: number): Promise<ScsiResult> {
    const bs = l.info.blockSizeBytes;
    if (this.conflict(l, cmd.initiator, ACCESS.WRITE)) return reservationConflict();
    if (blocks === 0) return good();
    // Every write is durable before GOOD (FUA or not), so FUA needs no extra step; see docs/storage-model.md.
    const wait = l.lock.acquire(lba, blocks);
    if (wait !== undefined) await wait;
    try {
      if (cmd.aborted === true) return TASK_ABORTED_RESULT;
      const data = cmd.dataOut!;
      await this.store.writeBlocks(l.info.lun, lba, data.length === blocks * bs ? data : data.subarray(0, blocks * bs), bs, { sync: true });
    } catch {
      return checkCondition(SENSE_KEY.MEDIUM_ERROR, ASC.WRITE_ERROR);
    } finally {
      l.lock.release(lba, blocks);
    }
    l.stats.writes++;
    l.stats.writtenBytes += blocks * bs;
    return good();
  }

  private compareAndWrite(l: TargetLun, cmd: ScsiCommand): Promise<ScsiResult> | ScsiResult {
    const cdb = cmd.cdb;
    if ((cdb[1]! & 0xe0) !== 0) return invalidFieldInCdb(); // WRPROTECT
    const lba = u64(cdb, 2);
    const blocks = cdb[13]!;
    if (blocks > MAX_CAW_BLOCKS) return invalidFieldInCdb();
    // Zero blocks moves no data (SBC-3): a data-out with it means the CDB's length field is wrong.
    if (blocks === 0 && cmd.dataOut !== undefined && cmd.dataOut.length > 0) return invalidFieldInCdb();
    if (lba + blocks > l.info.blocks) return lbaOutOfRange();
    const half = blocks * l.info.blockSizeBytes;
    const mismatch = BlockTarget.dataOutMismatch(cmd, 2 * half);
    if (mismatch !== undefined) return mismatch;
    if (this.conflict(l, cmd.initiator, ACCESS.WRITE)) return reservationConflict();
    if (blocks === 0) return good(); // SBC-3: zero blocks is not an error, nothing is compared or written
    const data = cmd.dataOut!;
    return this.readModifyWrite(l, cmd, lba, blocks, (current) => {
      l.stats.compareAndWrites++;
      const verify = data.subarray(0, half);
      if (Buffer.compare(current, verify) !== 0) {
        let offset = 0;
        while (offset < half && current[offset] === verify[offset]) offset++;
        l.stats.cawMiscompares++;
        return checkCondition(SENSE_KEY.MISCOMPARE, ASC.MISCOMPARE_DURING_VERIFY, offset);
      }
      return data.subarray(half);
    });
  }

  /**
   * ORWRITE (16), SBC-3 §5.11: each block becomes the bitwise OR of what it holds and the data-out, read and
   * written under the same range lock as COMPARE AND WRITE, so no other write of these blocks lands between the
   * read and the write. ORPROTECT must be 0; DPO/FUA are accepted (FUA: the read is from the medium). Zero
   * blocks is GOOD after the range check.
   */
  private orWrite(l: TargetLun, cmd: ScsiCommand): Promise<ScsiResult> | ScsiResult {
    const cdb = cmd.cdb;
    if ((cdb[1]! & 0xe0) !== 0) return invalidFieldInCdb(1, 7); // ORPROTECT
    const lba = u64(cdb, 2);
    const blocks = u32(cdb, 10);
    const bs = l.info.blockSizeBytes;
    if (blocks > maxTransferBlocks(bs)) return invalidFieldInCdb(10);
    if (lba + blocks > l.info.blocks) return lbaOutOfRange();
    const mismatch = BlockTarget.dataOutMismatch(cmd, blocks * bs);
    if (mismatch !== undefined) return mismatch;
    if (this.conflict(l, cmd.initiator, ACCESS.WRITE)) return reservationConflict();
    if (blocks === 0) return good();
    const data = cmd.dataOut!;
    return this.readModifyWrite(l, cmd, lba, blocks, (current) => {
      for (let i = 0; i < current.length; i++) current[i]! |= data[i]!;
      return current;
    });
  }

  /**
   * The atomic read-modify-write of COMPARE AND WRITE and ORWRITE: under the range lock (no other write of
   * these blocks between the read and the write), read the blocks (from the medium when the CDB has FUA),
   * let `next` give the blocks to write or a result that ends the command, and write them durably.
   */
  private async readModifyWrite(l: TargetLun, cmd: ScsiCommand, lba: number, blocks: number, next: (current: Buffer) => Uint8Array | ScsiResult): Promise<ScsiResult> {
    const bs = l.info.blockSizeBytes;
    const wait = l.lock.acquire(lba, blocks);
    if (wait !== undefined) await wait;
    try {
      if (cmd.aborted === true) return TASK_ABORTED_RESULT;
      const res = await this.store.readBlocks(l.info.lun, lba, blocks, bs, cmd.cdb[1]! & READ_FUA);
      if (!res.ok) return this.readFailure(l, res.error.code, res.error.details);
      const out = next(res.value);
      if (!(out instanceof Uint8Array)) return out;
      try {
        await this.store.writeBlocks(l.info.lun, lba, out, bs, { sync: true });
      } catch {
        return checkCondition(SENSE_KEY.MEDIUM_ERROR, ASC.WRITE_ERROR);
      }
      l.stats.writes++;
      l.stats.writtenBytes += out.length;
      return good();
    } finally {
      l.lock.release(lba, blocks);
    }
  }

  private async writeSame(l: TargetLun, cmd: ScsiCommand, lba: number, blocks: number): Promise<ScsiResult> {
    const flags = cmd.cdb[1]!;
    const is16 = cmd.cdb[0] === SCSI_OP.WRITE_SAME_16;
    if ((flags & 0xe0) !== 0 || (flags & 0x10) !== 0) return invalidFieldInCdb(); // WRPROTECT, ANCHOR
    if (!is16 && (flags & 0x01) !== 0) return invalidFieldInCdb(); // bit 0 reserved in WRITE SAME(10)
    const ndob = is16 && (flags & 0x01) !== 0;
    // UNMAP on a thick LUN (LBPWS/LBPWS10 = 0): SBC-3 §5.46/5.47 refuse the command.
    if ((flags & 0x08) !== 0 && isThick(l)) return invalidFieldInCdb(1, 3);
    const bs = l.info.blockSizeBytes;
    if (blocks === 0 || blocks > maxWriteSameBlocks(bs)) return invalidFieldInCdb(); // WSNZ=1
    if (lba + blocks > l.info.blocks) return lbaOutOfRange();
    const mismatch = BlockTarget.dataOutMismatch(cmd, ndob ? 0 : bs);
    if (mismatch !== undefined) return mismatch;
    if (this.conflict(l, cmd.initiator, ACCESS.WRITE)) return reservationConflict();
    const pattern = ndob ? undefined : cmd.dataOut!;
    const zero = pattern === undefined || pattern.every((b) => b === 0);
    const lun = l.info.lun;
    const wait = l.lock.acquire(lba, blocks);
    if (wait !== undefined) await wait;
    try {
      if (cmd.aborted === true) return TASK_ABORTED_RESULT;
      if (zero) {
        // LBPRZ=1: a deallocated block reads as zeros, so zero data is stored as "unmapped" either way.
        await this.store.unmapBlocks(lun, lba, blocks, { sync: true });
        l.stats.unmappedBlocks += blocks;
      } else {
        const chunkBlocks = Math.min(blocks, WRITE_SAME_CHUNK_BLOCKS);
        const chunk = Buffer.allocUnsafe(chunkBlocks * bs);
        for (let i = 0; i < chunkBlocks; i++) chunk.set(pattern!, i * bs);
        for (let done = 0; done < blocks; done += chunkBlocks) {
          const n = Math.min(chunkBlocks, blocks - done);
          await this.store.writeBlocks(lun, lba + done, chunk.subarray(0, n * bs), bs, { sync: true });
        }
        l.stats.writes++;
        l.stats.writtenBytes += blocks * bs;
      }
    } catch {
      return checkCondition(SENSE_KEY.MEDIUM_ERROR, ASC.WRITE_ERROR);
    } finally {
      l.lock.release(lba, blocks);
    }
    return good();
  }

  private async unmap(l: TargetLun, cmd: ScsiCommand): Promise<ScsiResult> {
    const cdb = cmd.cdb;
    if ((cdb[1]! & 0x01) !== 0) return invalidFieldInCdb(); // ANCHOR (ANC_SUP=0)
    const paramBytes = u16(cdb, 7);
    const mismatch = BlockTarget.dataOutMismatch(cmd, paramBytes);
    if (mismatch !== undefined) return mismatch;
    if (paramBytes === 0) return this.conflict(l, cmd.initiator, ACCESS.WRITE) ? reservationConflict() : good();
    if (paramBytes < 8) return parameterListLengthError();
    const p = cmd.dataOut!;
    const descBytes = u16(p, 2);
    if (u16(p, 0) < 6 || descBytes > paramBytes - 8) return parameterListLengthError();
    const count = Math.floor(descBytes / 16); // a trailing partial descriptor is ignored (SBC-3 §5.28.2)
    if (count > MAX_UNMAP_DESCRIPTORS) return invalidFieldInParameterList();
    let total = 0;
    for (let i = 0; i < count; i++) {
      const o = 8 + 16 * i;
      const lba = u64(p, o);
      const n = u32(p, o + 8);
      total += n;
      if (n > MAX_UNMAP_LBA_COUNT || total > MAX_UNMAP_LBA_COUNT) return invalidFieldInParameterList();
      if (lba + n > l.info.blocks) return lbaOutOfRange();
    }
    if (this.conflict(l, cmd.initiator, ACCESS.WRITE)) return reservationConflict();
    try {
      for (let i = 0; i < count; i++) {
        const o = 8 + 16 * i;
        const lba = u64(p, o);
        const n = u32(p, o + 8);
        if (n === 0) continue;
        const wait = l.lock.acquire(lba, n);
        if (wait !== undefined) await wait;
        try {
          await this.store.unmapBlocks(l.info.lun, lba, n, { sync: true });
        } finally {
          l.lock.release(lba, n);
        }
        l.stats.unmappedBlocks += n;
      }
    } catch {
      return checkCondition(SENSE_KEY.MEDIUM_ERROR, ASC.WRITE_ERROR);
    }
    return good();
  }

  private async synchronizeCache(l: TargetLun, cmd: ScsiCommand, lba: number, blocks: number): Promise<ScsiResult> {
    if (lba + blocks > l.info.blocks) return lbaOutOfRange();
    if (this.conflict(l, cmd.initiator, ACCESS.WRITE)) return reservationConflict();
    try {
      await this.store.flush();
    } catch {
      return checkCondition(SENSE_KEY.MEDIUM_ERROR, ASC.WRITE_ERROR);
    }
    return good();
  }

  private readCapacity10(l: TargetLun, cmd: ScsiCommand): ScsiResult {
    const cdb = cmd.cdb;
    if ((cdb[8]! & 0x01) === 0 && u32(cdb, 2) !== 0) return invalidFieldInCdb(); // LBA must be 0 without PMI
    if (this.conflict(l, cmd.initiator, ACCESS.STATUS)) return reservationConflict();
    const out = Buffer.alloc(8);
    const last = l.info.blocks - 1;
    out.writeUInt32BE(last > 0xfffffffe ? 0xffffffff : last, 0);
    out.writeUInt32BE(l.info.blockSizeBytes, 4);
    return good(out);
  }

  private readCapacity16(l: TargetLun, cmd: ScsiCommand): ScsiResult {
    const cdb = cmd.cdb;
    if ((cdb[1]! & 0x1f) !== 0x10) return invalidFieldInCdb(); // only READ CAPACITY (16)
    if (this.conflict(l, cmd.initiator, ACCESS.STATUS)) return reservationConflict();
    const out = Buffer.alloc(32);
    out.writeBigUInt64BE(BigInt(l.info.blocks - 1), 0);
    out.writeUInt32BE(l.info.blockSizeBytes, 8);
    out[14] = isThick(l) ? 0 : 0x80 | 0x40; // thin: LBPME, LBPRZ (unmapped blocks read as zeros); thick: neither
    return good(truncate(out, u32(cdb, 10)));
  }

  /**
   * GET LBA STATUS (SBC-3 §5.16): from the starting LBA, runs of mapped and deallocated blocks as the store
   * has them (a block never written or unmapped is deallocated), up to MAX_LBA_STATUS_SCAN_BLOCKS blocks and
   * as many descriptors as the allocation length holds (at least one, truncated). A thick LUN is mapped
   * everywhere. Allowed where a READ is under reservations.
   */
  private async getLbaStatus(l: TargetLun, cmd: ScsiCommand): Promise<ScsiResult> {
    const cdb = cmd.cdb;
    const lba = u64(cdb, 2);
    const alloc = u32(cdb, 10);
    if (lba >= l.info.blocks) return lbaOutOfRange();
    if (this.conflict(l, cmd.initiator, ACCESS.READ)) return reservationConflict();
    const maxDescriptors = Math.min(MAX_LBA_STATUS_DESCRIPTORS, Math.max(1, Math.floor((alloc - 8) / 16)));
    const runs: Array<[number, number, number]> = [];
    if (isThick(l)) {
      runs.push([lba, Math.min(l.info.blocks - lba, 0xffffffff), LBA_STATUS.MAPPED]);
    } else {
      const end = lba + Math.min(l.info.blocks - lba, MAX_LBA_STATUS_SCAN_BLOCKS);
      let mapped: number[];
      try {
        mapped = await this.store.mappedBlocks(l.info.lun, lba, end - lba);
      } catch {
        return INTERNAL_FAILURE;
      }
      // mapped is ascending and inside [lba, end): alternate deallocated gaps and mapped runs
      let pos = lba;
      let i = 0;
      while (pos < end && runs.length < maxDescriptors) {
        const start = pos;
        if (mapped[i] === pos) {
          while (mapped[i] === pos) {
            i++;
            pos++;
          }
          runs.push([start, pos - start, LBA_STATUS.MAPPED]);
        } else {
          pos = i < mapped.length ? mapped[i]! : end;
          runs.push([start, pos - start, LBA_STATUS.DEALLOCATED]);
        }
      }
    }
    const out = Buffer.alloc(8 + 16 * runs.length);
    out.writeUInt32BE(out.length - 4, 0);
    runs.forEach(([start, count, status], k) => {
      out.writeBigUInt64BE(BigInt(start), 8 + 16 * k);
      out.writeUInt32BE(count, 16 + 16 * k);
      out[20 + 16 * k] = status;
    });
    return good(truncate(out, alloc));
  }

  // ---- SPC-4 commands ----

  private reportLuns(cdb: Uint8Array): ScsiResult {
    const select = cdb[2]!;
    if (select > 2) return invalidFieldInCdb();
    const alloc = u32(cdb, 6);
    if (alloc < 16) return invalidFieldInCdb();
    const numbers = select === 1 ? [] : [...this.luns.keys()].sort((a, b) => a - b);
    const out = Buffer.alloc(8 + 8 * numbers.length);
    out.writeUInt32BE(8 * numbers.length, 0);
    numbers.forEach((n, i) => {
      // peripheral device addressing below 256, flat space addressing above (SAM-5 §4.7)
      if (n < 256) out[9 + 8 * i] = n;
      else out.writeUInt16BE(0x4000 | n, 8 + 8 * i);
    });
    return good(truncate(out, alloc));
  }

  private inquiry(l: TargetLun | undefined, cdb: Uint8Array): ScsiResult {
    const evpd = (cdb[1]! & 0x01) !== 0;
    if ((cdb[1]! & 0xfe) !== 0) return invalidFieldInCdb(); // CMDDT / obsolete bits
    const page = cdb[2]!;
    const alloc = u16(cdb, 3);
    if (!evpd) {
      if (page !== 0) return invalidFieldInCdb();
      const out = Buffer.alloc(STANDARD_INQUIRY_BYTES);
      out[0] = l === undefined ? 0x7f : 0x00; // PQ 011b + type 1Fh for a LUN that does not exist
      out[2] = 0x06; // SPC-4
      out[3] = 0x12; // HISUP, response data format 2
      out[4] = STANDARD_INQUIRY_BYTES - 5;
      INQUIRY_VERSION_DESCRIPTORS.forEach((d, i) => out.writeUInt16BE(d, 58 + 2 * i));
      out[7] = 0x02; // CMDQUE
      asciiField(INQUIRY_VENDOR, 8).copy(out, 8);
      asciiField(INQUIRY_PRODUCT, 16).copy(out, 16);
      asciiField(INQUIRY_REVISION, 4).copy(out, 32);
      return good(truncate(out, alloc));
    }
    if (l === undefined) return lunNotSupported();
    let body: Buffer;
    switch (page) {
      case 0x00:
        body = Buffer.from(VPD_PAGES);
        break;
      case 0x80:
        body = Buffer.from(l.naa.toString('hex'), 'latin1');
        break;
      case 0x83: {
        const naa = Buffer.alloc(4 + 16);
        naa[0] = 0x01; // code set binary
        naa[1] = 0x03; // association: logical unit, designator type NAA
        naa[3] = 16;
        l.naa.copy(naa, 4);
        const t10Id = Buffer.concat([asciiField(INQUIRY_VENDOR, 8), Buffer.from(l.info.name, 'latin1')]);
        const t10 = Buffer.alloc(4);
        t10[0] = 0x02; // code set ASCII
        t10[1] = 0x01; // T10 vendor ID
        t10[3] = t10Id.length;
        body = Buffer.concat([naa, t10, t10Id]);
        break;
      }
      case 0xb0: {
        body = Buffer.alloc(0x3c);
        const bs = l.info.blockSizeBytes;
        body[0] = 0x01; // byte 4: WSNZ
        body[1] = l.info.ats === false ? 0 : MAX_CAW_BLOCKS; // byte 5: 0 = COMPARE AND WRITE not supported
        body.writeUInt16BE(1, 2); // OPTIMAL TRANSFER LENGTH GRANULARITY
        body.writeUInt32BE(maxTransferBlocks(bs), 4);
        body.writeUInt32BE(maxTransferBlocks(bs), 8);
        if (!isThick(l)) {
          // a thick LUN has no UNMAP: its limits stay 0
          body.writeUInt32BE(MAX_UNMAP_LBA_COUNT, 16);
          body.writeUInt32BE(MAX_UNMAP_DESCRIPTORS, 20);
          body.writeUInt32BE(1, 24); // OPTIMAL UNMAP GRANULARITY
        }
        body.writeBigUInt64BE(BigInt(maxWriteSameBlocks(bs)), 32);
        break;
      }
      case 0xb2:
        body = Buffer.alloc(4);
        if (!isThick(l)) {
          body[1] = 0x80 | 0x40 | 0x20 | 0x04; // LBPU, LBPWS, LBPWS10, LBPRZ
          body[2] = 0x02; // provisioning type: thin
        } // thick: no unmap of any kind, provisioning type 0 (not reported: fully provisioned)
        break;
      default:
        return invalidFieldInCdb();
    }
    const out = Buffer.alloc(4 + body.length);
    out[1] = page;
    out.writeUInt16BE(body.length, 2);
    body.copy(out, 4);
    return good(truncate(out, alloc));
  }

  private requestSense(l: TargetLun | undefined, cdb: Uint8Array, pending: Sense | undefined): ScsiResult {
    if ((cdb[1]! & 0x01) !== 0) return invalidFieldInCdb(); // DESC: descriptor format not supported
    // Sense is returned with each CHECK CONDITION (autosense); only a unit attention may be pending (it is
    // reported here and cleared).
    const sense =
      pending !== undefined
        ? pending
        : l === undefined
        ? { key: SENSE_KEY.ILLEGAL_REQUEST, asc: ASC.LOGICAL_UNIT_NOT_SUPPORTED[0], ascq: ASC.LOGICAL_UNIT_NOT_SUPPORTED[1] }
        : { key: SENSE_KEY.NO_SENSE, asc: 0, ascq: 0 };
    return good(truncate(toFixedSense(sense), cdb[4]!));
  }

  private spc2(l: TargetLun, cmd: ScsiCommand, op: number): ScsiResult {
    const flags = cmd.cdb[1]!;
    const ten = op === SCSI_OP.RESERVE_10 || op === SCSI_OP.RELEASE_10;
    // 3RDPTY (bit 4) and LONGID (bit 1, 10-byte) or the obsolete extent bit (bit 0, 6-byte) are not supported.
    if ((flags & 0x10) !== 0 || (flags & (ten ? 0x02 : 0x01)) !== 0) return invalidFieldInCdb();
    const reserve = op === SCSI_OP.RESERVE_6 || op === SCSI_OP.RESERVE_10;
    if (this.conflict(l, cmd.initiator, reserve ? ACCESS.RESERVE : ACCESS.RELEASE)) return reservationConflict();
    if (!reserve) {
      l.pr.spc2Release(cmd.initiator);
      return good();
    }
    if (!l.pr.spc2Reserve(cmd.initiator)) {
      l.stats.reservationConflicts++;
      return reservationConflict();
    }
    return good();
  }

  private prIn(l: TargetLun, cmd: ScsiCommand): ScsiResult {
    const sa = cmd.cdb[1]! & 0x1f;
    const alloc = u16(cmd.cdb, 7);
    if (this.conflict(l, cmd.initiator, ACCESS.PR_IN)) return reservationConflict();
    switch (sa) {
      case PR_IN_SA.READ_KEYS:
        return good(truncate(l.pr.readKeys(), alloc));
      case PR_IN_SA.READ_RESERVATION:
        return good(truncate(l.pr.readReservation(), alloc));
      case PR_IN_SA.REPORT_CAPABILITIES:
        return good(truncate(LunReservations.reportCapabilities(), alloc));
      case PR_IN_SA.READ_FULL_STATUS:
        return good(truncate(l.pr.readFullStatus(), alloc));
      default:
        return invalidFieldInCdb();
    }
  }

  /**
   * Unit attentions for the other registrants after a PERSISTENT RESERVE OUT changed the state (SPC-4
   * §5.13.11): PREEMPT tells the nexuses it unregistered REGISTRATIONS PREEMPTED, CLEAR tells every other
   * registrant RESERVATIONS PREEMPTED, RELEASE of a registrants-only or all-registrants reservation tells the
   * other registrants RESERVATIONS RELEASED.
   */
  private reservationAttentions(l: TargetLun, initiator: string, sa: number, before: PrStateJson): void {
    const others = before.registrations.map(([name]) => name).filter((name) => name !== initiator);
    if (sa === PR_OUT_SA.PREEMPT || sa === PR_OUT_SA.PREEMPT_AND_ABORT) {
      l.ua.raise(UA_ASC.REGISTRATIONS_PREEMPTED, others.filter((name) => !l.pr.registrations.has(name)));
    } else if (sa === PR_OUT_SA.CLEAR) {
      l.ua.raise(UA_ASC.RESERVATIONS_PREEMPTED, others);
    } else if (sa === PR_OUT_SA.RELEASE && before.reservation !== null && l.pr.reservation === null && before.reservation.type >= PR_TYPE.WRITE_EXCLUSIVE_REGISTRANTS_ONLY) {
      l.ua.raise(UA_ASC.RESERVATIONS_RELEASED, others);
    }
  }

  private async prOut(l: TargetLun, cmd: ScsiCommand): Promise<ScsiResult> {
    const cdb = cmd.cdb;
    const sa = cdb[1]! & 0x1f;
    if (sa > 0x07) return invalidFieldInCdb();
    const paramBytes = u32(cdb, 5);
    if (paramBytes !== PR_OUT_PARAM_BYTES) return parameterListLengthError(PR_OUT_PARAM_BYTES);
    const mismatch = BlockTarget.dataOutMismatch(cmd, paramBytes);
    if (mismatch !== undefined) return mismatch;
    if (this.conflict(l, cmd.initiator, ACCESS.PR_OUT)) return reservationConflict();
    const p = Buffer.from(cmd.dataOut!.buffer, cmd.dataOut!.byteOffset, cmd.dataOut!.length);
    const before = l.pr.toJSON();
    const { outcome, changed } = l.pr.prOut(cmd.initiator, sa, cdb[2]! >> 4, cdb[2]! & 0x0f, {
      reservationKey: p.readBigUInt64BE(0),
      serviceActionKey: p.readBigUInt64BE(8),
      flags: p[20]!,
    });
    switch (outcome) {
      case PR_OUTCOME.GOOD:
        break;
      case PR_OUTCOME.CONFLICT:
        l.stats.reservationConflicts++;
        return reservationConflict();
      case PR_OUTCOME.INVALID_FIELD_IN_CDB:
        return invalidFieldInCdb();
      case PR_OUTCOME.INVALID_FIELD_IN_PARAMETER_LIST:
        return invalidFieldInParameterList();
      case PR_OUTCOME.INVALID_RELEASE:
        return illegalRequest(ASC_EXTRA.INVALID_RELEASE_OF_PERSISTENT_RESERVATION);
      case PR_OUTCOME.INSUFFICIENT_RESOURCES:
        return illegalRequest(ASC.INSUFFICIENT_REGISTRATION_RESOURCES);
    }
    if (changed) this.reservationAttentions(l, cmd.initiator, sa, before);
    if (changed) {
      try {
        // "Persistent reservations must be persistent": durable before GOOD.
        await this.store.putMeta(prMetaKey(l.info.lun), Buffer.from(JSON.stringify(l.pr.toJSON())));
      } catch {
        const restored = LunReservations.fromJSON(before);
        if (restored.ok) {
          const spc2 = l.pr.spc2Holder;
          l.pr = restored.value;
          l.pr.spc2Holder = spc2;
        }
        return INTERNAL_FAILURE;
      }
    }
    return good();
  }
}
