// A minimal VMFS-like datastore on a LUN: where each VM disk lives. The first DATASTORE_DIR_BYTES of the
// LUN hold a directory (UTF-8 JSON, zero padded; all zeros = empty), the disks follow it sequentially,
// each starting on a DISK_ALIGN_BYTES boundary, in the order hosts first opened them. Hosts change the
// directory only with COMPARE AND WRITE of the whole directory (ATS, docs/vsphere-behaviour.md §7.3), so two
// hosts adding disks at once never both win; the loser re-reads and retries. Pure: this file encodes,
// parses and plans; daemons/host-storage.ts does the SCSI I/O. Only for disks on an array LUN
// (`disks[].lun`); a disk on a VMFS-like datastore (`disks[].datastore`) is a file there (lib/datastore/vm.ts).
// Leaves out freeing disks, growing them, files, heartbeats and on-disk locks per disk.

import { VfabError, ok, err, type Result } from '../errors.js';

/** Bytes of the directory at LBA 0 (16 blocks of 512 = MAX_CAW_BLOCKS, or 2 blocks of 4096). */
export const DATASTORE_DIR_BYTES = 8192;
/** Disks start on this boundary; the first one at DATASTORE_DATA_START_BYTES. */
export const DISK_ALIGN_BYTES = 1024 * 1024;
export const DATASTORE_DATA_START_BYTES = DISK_ALIGN_BYTES;
/** Directory format version written in the `vfabDatastore` field. */
export const DATASTORE_FORMAT = 1;
/** Disk names in the directory: "<vm>/<disk>", at most this many characters. */
export const MAX_DISK_ENTRY_NAME_CHARS = 128;

export const DATASTORE_ERROR = {
  /** The directory bytes are neither zeros nor a valid directory (foreign data at LBA 0). */
  CORRUPT: 'VFAB_DATASTORE_CORRUPT',
  /** The LUN has no room left for the disk, or the directory is full. */
  FULL: 'VFAB_DATASTORE_FULL',
  /** The disk exists with a different size than asked. */
  SIZE_MISMATCH: 'VFAB_DATASTORE_SIZE_MISMATCH',
  /** Bad name or size for a disk. */
  BAD_DISK: 'VFAB_DATASTORE_BAD_DISK',
} as const;

export interface DatastoreDisk {
  /** "<vm>/<disk>" */
  name: string;
  offsetBytes: number;
  sizeBytes: number;
}

export interface DatastoreDirectory {
  disks: DatastoreDisk[];
}

/** Parses the directory region. All zeros (a never-written thin LUN) is the empty directory. */
export function parseDirectory(bytes: Uint8Array): Result<DatastoreDirectory> {
  let end = bytes.indexOf(0);
  if (end < 0) end = bytes.length;
  if (end === 0) return ok({ disks: [] });
  for (let i = end; i < bytes.length; i++) {
    if (bytes[i] !== 0) return err(new VfabError(DATASTORE_ERROR.CORRUPT, 'datastore directory has bytes after its terminator'));
  }
  let j: unknown;
  try {
    j = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, end).toString('utf8'));
  } catch {
    return err(new VfabError(DATASTORE_ERROR.CORRUPT, 'LBA 0 of the LUN is not a vfab datastore directory (not JSON)'));
  }
  const o = j as { vfabDatastore?: unknown; disks?: unknown };
  if (o === null || typeof o !== 'object' || o.vfabDatastore !== DATASTORE_FORMAT || !Array.isArray(o.disks)) {
    return err(new VfabError(DATASTORE_ERROR.CORRUPT, `LBA 0 of the LUN is not a vfab datastore directory (format ${DATASTORE_FORMAT})`));
  }
  const disks: DatastoreDisk[] = [];
  for (const d of o.disks as Array<Record<string, unknown>>) {
    if (
      typeof d?.name !== 'string' ||
      !Number.isSafeInteger(d.offsetBytes) ||
      !Number.isSafeInteger(d.sizeBytes) ||
      (d.offsetBytes as number) < DATASTORE_DATA_START_BYTES ||
      (d.sizeBytes as number) <= 0
    ) {
      return err(new VfabError(DATASTORE_ERROR.CORRUPT, 'datastore directory has a malformed disk entry'));
    }
    disks.push({ name: d.name, offsetBytes: d.offsetBytes as number, sizeBytes: d.sizeBytes as number });
  }
  return ok({ disks });
}

/** The directory as DATASTORE_DIR_BYTES bytes; undefined when it does not fit. */
export function encodeDirectory(dir: DatastoreDirectory): Buffer | undefined {
  const text = Buffer.from(JSON.stringify({ vfabDatastore: DATASTORE_FORMAT, disks: dir.disks }), 'utf8');
  if (text.length >= DATASTORE_DIR_BYTES) return undefined;
  const out = Buffer.alloc(DATASTORE_DIR_BYTES);
  text.copy(out, 0);
  return out;
}

export type PlacementPlan =
  /** The disk is in the directory already. */
  | { kind: 'found'; disk: DatastoreDisk }
  /** Add it: write `directory` (with COMPARE AND WRITE against the bytes that were read). */
  | { kind: 'add'; disk: DatastoreDisk; directory: Buffer };

/**
 * Where disk `name` of `sizeBytes` lives on a LUN of `lunBytes`: the existing entry, or a new one after
 * the last disk (aligned to DISK_ALIGN_BYTES).
 */
export function planDisk(dir: DatastoreDirectory, name: string, sizeBytes: number, lunBytes: number, blockSizeBytes: number): Result<PlacementPlan> {
  if (name.length === 0 || name.length > MAX_DISK_ENTRY_NAME_CHARS) {
    return err(new VfabError(DATASTORE_ERROR.BAD_DISK, `disk name must be 1..${MAX_DISK_ENTRY_NAME_CHARS} characters`));
  }
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0 || sizeBytes % blockSizeBytes !== 0) {
    return err(new VfabError(DATASTORE_ERROR.BAD_DISK, `disk size ${sizeBytes} must be a positive multiple of the ${blockSizeBytes}-byte block`));
  }
  const have = dir.disks.find((d) => d.name === name);
  if (have !== undefined) {
    if (have.sizeBytes !== sizeBytes) {
      return err(new VfabError(DATASTORE_ERROR.SIZE_MISMATCH, `disk ${name} is ${have.sizeBytes} bytes on the datastore, configured ${sizeBytes}`, { ...have }));
    }
    return ok({ kind: 'found', disk: have });
  }
  let next = DATASTORE_DATA_START_BYTES;
  for (const d of dir.disks) next = Math.max(next, d.offsetBytes + d.sizeBytes);
  next = Math.ceil(next / DISK_ALIGN_BYTES) * DISK_ALIGN_BYTES;
  if (next + sizeBytes > lunBytes) {
    return err(new VfabError(DATASTORE_ERROR.FULL, `no room for ${name} (${sizeBytes} bytes at ${next}) on a ${lunBytes}-byte LUN`, { lunBytes, needBytes: next + sizeBytes }));
  }
  const disk: DatastoreDisk = { name, offsetBytes: next, sizeBytes };
  const directory = encodeDirectory({ disks: [...dir.disks, disk] });
  if (directory === undefined) return err(new VfabError(DATASTORE_ERROR.FULL, `datastore directory is full (${DATASTORE_DIR_BYTES} bytes)`));
  return ok({ kind: 'add', disk, directory });
}
