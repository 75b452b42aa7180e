// Error codes of the VMFS-like datastore core (lib/datastore): on-disk format problems (each carries the
// structure, field and byte offset that is wrong), formatting refusals and lock/heartbeat outcomes.
// Leaves out the older LBA-0 directory (lib/storage/datastore.ts has its own codes).

import { VfabError } from '../errors.js';

export const DS_ERROR = {
  /** A structure does not start with its magic number (not ours, or never written). */
  BAD_MAGIC: 'VFAB_DATASTORE_BAD_MAGIC',
  /** The CRC-32 stored in a structure does not match its bytes (torn or corrupt block). */
  BAD_CHECKSUM: 'VFAB_DATASTORE_BAD_CHECKSUM',
  /** A field holds a value the format does not allow (details: structure, field, offset). */
  BAD_FIELD: 'VFAB_DATASTORE_BAD_FIELD',
  /** planFormat: the LUN cannot hold the metadata plus one file block. */
  LUN_TOO_SMALL: 'VFAB_DATASTORE_LUN_TOO_SMALL',
  /** planFormat: the LUN holds data that is not a datastore (refused without force). */
  FOREIGN_DATA: 'VFAB_DATASTORE_FOREIGN_DATA',
  /** planFormat: the LUN is a datastore already (refused without force). */
  ALREADY_FORMATTED: 'VFAB_DATASTORE_ALREADY_FORMATTED',
  /** planFormat or a value to encode is out of range (label too long, unknown lock mode, ...). */
  BAD_OPTION: 'VFAB_DATASTORE_BAD_OPTION',
  /** A lock is held by a host whose heartbeat still moves. */
  LOCKED: 'VFAB_DATASTORE_LOCKED',
  /** No free heartbeat slot (DS_MAX_HOSTS hosts mounted). */
  NO_FREE_SLOT: 'VFAB_DATASTORE_NO_FREE_SLOT',
  /** A shared lock already has DS_MAX_LOCK_HOLDERS holders. */
  HOLDERS_FULL: 'VFAB_DATASTORE_HOLDERS_FULL',
  /** ATS miscompares or reservation conflicts went on past the retry bound. */
  CONTENDED: 'VFAB_DATASTORE_CONTENDED',
  /** The LUN answered an I/O with an error that retrying does not cure. */
  IO_FAILED: 'VFAB_DATASTORE_IO_FAILED',
  /** A journal transaction has more records than DS_JOURNAL_MAX_TXN_RECORDS. */
  JOURNAL_TXN_TOO_BIG: 'VFAB_DATASTORE_JOURNAL_TXN_TOO_BIG',
  /** A file or directory of that name exists already (or a directory to delete is not empty). */
  EXISTS: 'VFAB_DATASTORE_EXISTS',
  /** The entry is not in use, or is not a directory where one is needed. */
  NOT_FOUND: 'VFAB_DATASTORE_NOT_FOUND',
  /** No free file blocks or file-table entries left. */
  NO_SPACE: 'VFAB_DATASTORE_NO_SPACE',
  /** The operation needs a mounted volume with a live heartbeat. */
  NOT_MOUNTED: 'VFAB_DATASTORE_NOT_MOUNTED',
  /** A byte range of a file runs past its end (or its extents do not cover its size). */
  OUT_OF_RANGE: 'VFAB_DATASTORE_OUT_OF_RANGE',
} as const;

export type DsErrorCode = (typeof DS_ERROR)[keyof typeof DS_ERROR];

export class DatastoreError extends VfabError {
  constructor(code: DsErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
    this.name = 'DatastoreError';
  }
}

/** A structure-level format error at byte `offset` of the structure (and of the LUN when `base` given). */
export function fieldError(code: DsErrorCode, structure: string, field: string, offset: number, why: string, base = 0): DatastoreError {
  return new DatastoreError(code, `${structure}: ${field} at byte ${base + offset} ${why}`, { structure, field, offset: base + offset });
}
