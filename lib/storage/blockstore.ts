// The block store contract under the SCSI command model: per-LUN fixed-size blocks plus small metadata
// records (LUN table, persistent reservations). Covers the interface, the on-store value format
// ([crc32 u32 BE][block data]), checksum helpers, store error codes and named limits. Leaves out SCSI
// semantics (lib/storage/target.ts) and the concrete stores (blockstore-memory.ts, blockstore-level.ts).
// Thin provisioning follows SBC-3 §4.7 with LBPRZ=1: a block never written (or unmapped) reads as zeros.

import { crc32 } from 'node:zlib';
import { VfabError, type Result } from '../errors.js';

/** Size in bytes of the checksum that prefixes every stored block value. */
export const BLOCK_CRC_BYTES = 4;
/** Highest LUN number a store accepts (SAM-5 flat space addressing tops out at 16383). */
export const MAX_LUN_NUMBER = 16383;
/** Block sizes a LUN may use. */
export type BlockSizeBytes = 512 | 4096;

export const STORAGE_ERROR = {
  /** A stored block failed its checksum: reported as MEDIUM ERROR, never returned as data. */
  CHECKSUM: 'VFAB_STORAGE_CHECKSUM',
  /** The underlying store failed a read or write (I/O error, closed database). */
  IO: 'VFAB_STORAGE_IO',
  /** The store (or array) was used after close(). */
  CLOSED: 'VFAB_STORAGE_CLOSED',
  /** A metadata record (LUN table, reservation state) could not be decoded. */
  CORRUPT_META: 'VFAB_STORAGE_CORRUPT_META',
  /** createLun/growLun: name missing, too long or with characters outside [A-Za-z0-9._-]. */
  BAD_NAME: 'VFAB_STORAGE_BAD_NAME',
  /** createLun/growLun: size not a positive multiple of the block size, above MAX_LUN_BYTES, or a bad block size. */
  BAD_SIZE: 'VFAB_STORAGE_BAD_SIZE',
  /** createLun: a LUN with that name exists already. */
  LUN_EXISTS: 'VFAB_STORAGE_LUN_EXISTS',
  /** growLun/deleteLun: no LUN with that name or number. */
  NO_SUCH_LUN: 'VFAB_STORAGE_NO_SUCH_LUN',
  /** growLun: the new size is smaller than the current one (LUNs only grow). */
  SHRINK: 'VFAB_STORAGE_SHRINK_NOT_ALLOWED',
  /** createLun: an explicit LUN number outside 0..MAX_LUNS-1. */
  BAD_LUN_NUMBER: 'VFAB_STORAGE_BAD_LUN_NUMBER',
  /** createLun: the explicit LUN number belongs to another LUN. */
  LUN_NUMBER_IN_USE: 'VFAB_STORAGE_LUN_NUMBER_IN_USE',
  /** openArray: a read cache size that is not 0 or READ_CACHE_CHUNK_BYTES..MAX_READ_CACHE_BYTES. */
  BAD_CACHE_SIZE: 'VFAB_STORAGE_BAD_CACHE_SIZE',
  /** createLun/setLunProvisioning: a provisioning other than thin or thick. */
  BAD_PROVISIONING: 'VFAB_STORAGE_BAD_PROVISIONING',
  /** createLun: MAX_LUNS reached. */
  TOO_MANY_LUNS: 'VFAB_STORAGE_TOO_MANY_LUNS',
} as const;

/**
 * Cache hints of a read, from the READ CDB's byte 1 (SBC-3 §5.x READ (10)/(16)): READ_FUA = the data must
 * come from the medium, not a volatile cache; READ_DPO = do not keep what is read in a cache. Stores
 * without a cache ignore them.
 */
export const READ_FUA = 0x08;
export const READ_DPO = 0x10;
/** The bits of a READ CDB's byte 1 that are cache hints (pass `cdb[1] & READ_CACHE_HINTS`). */
export const READ_CACHE_HINTS = READ_FUA | READ_DPO;

export interface WriteOptions {
  /** Durable (survives kill -9 and power loss as far as fsync does) before the promise resolves. */
  sync?: boolean;
}

/**
 * Completion of a callback-style read (readBlockCb, readRunCb: the READ fast path: no Promise per command). Exactly
 * one of data / error is set; data is the block as a view that is valid only during the call (it may lie
 * in read-cache memory that a later fill reuses): copy it to keep it.
 */
export interface BlockReadCallback {
  blockRead(data: Buffer | undefined, error: VfabError | undefined): void;
}

/**
 * Per-LUN blocks plus metadata. Multi-block writes are one atomic batch. Reads verify each block's
 * checksum; a mismatch yields a VFAB_STORAGE_CHECKSUM error carrying `details.lba`.
 * Callers (the target) validate ranges; a store trusts lun/lba/count.
 */
export interface BlockStore {
  /** True when acknowledged writes survive a process kill (LevelDB), false for the in-memory store. */
  readonly durable: boolean;
  /**
   * Read `count` blocks from `lba`; unwritten blocks are zeros. Result is count*blockSizeBytes long.
   * `hints`: READ_FUA / READ_DPO bits (default none).
   */
  readBlocks(lun: number, lba: number, count: number, blockSizeBytes: number, hints?: number): Promise<Result<Buffer>>;
  /**
   * Optional fast path: read one block and call `cb.blockRead` later (never synchronously, never throws),
   * with the same checksum and zero-fill rules as readBlocks. Stores without it are used through readBlocks.
   */
  readBlockCb?(lun: number, lba: number, blockSizeBytes: number, cb: BlockReadCallback, hints?: number): void;
  /**
   * Optional fast path for reads of any length (count >= 1): as readBlockCb, `cb.blockRead` later with the
   * `count` blocks as one view valid only during the call. A store with no cache (so no cache hints) has it.
   */
  readRunCb?(lun: number, lba: number, count: number, blockSizeBytes: number, cb: BlockReadCallback): void;
  /**
   * Optional: a store whose writes complete at once (memory, not durable) applies the write now, as
   * writeBlocks would, and throws what writeBlocks rejects with. The target's WRITE fast path uses it.
   */
  writeBlocksNow?(lun: number, lba: number, data: Uint8Array, blockSizeBytes: number): void;
  /** Write data (a whole number of blocks) from `lba` as one atomic batch. */
  writeBlocks(lun: number, lba: number, data: Uint8Array, blockSizeBytes: number, opts?: WriteOptions): Promise<void>;
  /** Deallocate `count` blocks from `lba` (they read as zeros afterwards), one atomic batch. */
  unmapBlocks(lun: number, lba: number, count: number, opts?: WriteOptions): Promise<void>;
  /** Remove every block of a LUN (deleteLun). */
  dropLun(lun: number): Promise<void>;
  /** Number of allocated (stored) blocks of a LUN. */
  allocatedBlocks(lun: number): Promise<number>;
  /**
   * The allocated (mapped) blocks among lba..lba+count-1, ascending (GET LBA STATUS). The caller bounds
   * `count` (MAX_LBA_STATUS_SCAN_BLOCKS), which bounds the answer.
   */
  mappedBlocks(lun: number, lba: number, count: number): Promise<number[]>;
  getMeta(key: string): Promise<Uint8Array | undefined>;
  /** Metadata writes are always durable before they resolve. */
  putMeta(key: string, value: Uint8Array): Promise<void>;
  deleteMeta(key: string): Promise<void>;
  /** All metadata records whose key starts with `prefix`, in key order. */
  listMeta(prefix: string): Promise<Array<[string, Uint8Array]>>;
  /** Resolves once every write issued before it is durable (SYNCHRONIZE CACHE). */
  flush(): Promise<void>;
  /**
   * Optional: finish the store's background reorganisation now (LevelDB compaction), so a measurement
   * that follows is not sharing the CPU with it. Data and durability are unchanged.
   */
  compact?(): Promise<void>;
  close(): Promise<void>;
}

/** Build a stored value: [crc32 of data u32 BE][data]. */
export function encodeBlockValue(data: Uint8Array, offset: number, blockSizeBytes: number): Buffer {
  const value = Buffer.allocUnsafe(BLOCK_CRC_BYTES + blockSizeBytes);
  const block = data.subarray(offset, offset + blockSizeBytes);
  value.writeUInt32BE(crc32(block), 0);
  value.set(block, BLOCK_CRC_BYTES);
  return value;
}

/**
 * Verify a stored value and copy its data into `out` at `outOffset`. Returns false when the value has
 * the wrong length or its checksum does not match.
 */
export function decodeBlockValueInto(value: Uint8Array, blockSizeBytes: number, out: Buffer, outOffset: number): boolean {
  if (value.length !== BLOCK_CRC_BYTES + blockSizeBytes) return false;
  const stored = ((value[0]! << 24) | (value[1]! << 16) | (value[2]! << 8) | value[3]!) >>> 0;
  const data = value.subarray(BLOCK_CRC_BYTES);
  if (crc32(data) !== stored) return false;
  out.set(data, outOffset);
  return true;
}

/** True when a stored value has the right length and its checksum matches (the data is value[4..]). */
export function blockValueValid(value: Uint8Array, blockSizeBytes: number): boolean {
  if (value.length !== BLOCK_CRC_BYTES + blockSizeBytes) return false;
  const stored = ((value[0]! << 24) | (value[1]! << 16) | (value[2]! << 8) | value[3]!) >>> 0;
  return crc32(value.subarray(BLOCK_CRC_BYTES)) === stored;
}

export function checksumError(lun: number, lba: number): VfabError {
  return new VfabError(STORAGE_ERROR.CHECKSUM, `checksum mismatch in LUN ${lun} block ${lba}`, { lun, lba });
}

export function closedError(): VfabError {
  return new VfabError(STORAGE_ERROR.CLOSED, 'block store is closed');
}
