// Where a byte range of a datastore file lies on the LUN (docs/datastore-format.md, "File data"): a file's
// data is its extents' file blocks in order, file block N starting at LBA dataLba + N * (fileBlockBytes /
// blockSize). mapFileRange turns a file byte offset and length into runs of LUN bytes, split where the
// range crosses from one extent to a non-adjacent one (adjacent extents make one run), bounds-checked
// against the file's size (or against its allocated blocks, for writes of whole LUN blocks of a small
// file). Pure: the caller reads or writes the runs. Leaves out sparse files and caching of maps.

import { DS_ERROR, DatastoreError } from './errors.js';
import type { EntryMeta, Layout } from './format.js';

/** One contiguous piece of a file range on the LUN. */
export interface LunRun {
  /** Byte offset of the piece in the file. */
  fileOffset: number;
  /** Byte offset of the piece on the LUN. */
  lunOffsetBytes: number;
  /** First LUN block the piece touches (lunOffsetBytes / blockSize, rounded down). */
  lba: number;
  bytes: number;
}

export type DataLayout = Pick<Layout, 'dataLba' | 'fileBlockBytes' | 'blockSize'>;

/** First LBA of file block `fileBlock` (an index into the data area, as extents count them). */
export function fileBlockLba(l: DataLayout, fileBlock: number): number {
  return l.dataLba + fileBlock * (l.fileBlockBytes / l.blockSize);
}

/** Bytes the file's extents hold (whole file blocks). */
export function allocatedBytes(l: DataLayout, meta: Pick<EntryMeta, 'extents'>): number {
  return meta.extents.reduce((n, x) => n + x.count, 0) * l.fileBlockBytes;
}

/**
 * The LUN runs of bytes [offset, offset + length) of a file. `bound` 'size' (default) checks against the
 * file's size, 'allocated' against its extents. Throws VFAB_DATASTORE_OUT_OF_RANGE for a range outside
 * the bound and VFAB_DATASTORE_BAD_FIELD for an entry whose extents do not cover its size.
 */
export function mapFileRange(l: DataLayout, meta: Pick<EntryMeta, 'name' | 'sizeBytes' | 'extents'>, offset: number, length: number, bound: 'size' | 'allocated' = 'size'): LunRun[] {
  const allocated = allocatedBytes(l, meta);
  if (meta.sizeBytes > allocated) {
    throw new DatastoreError(DS_ERROR.BAD_FIELD, `${meta.name}: ${meta.sizeBytes} bytes but its extents hold ${allocated}`, { sizeBytes: meta.sizeBytes, allocated });
  }
  const limit = bound === 'size' ? meta.sizeBytes : allocated;
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > limit) {
    throw new DatastoreError(DS_ERROR.OUT_OF_RANGE, `${length} bytes at offset ${offset} run past the end of ${meta.name} (${limit} bytes)`, { offset, length, sizeBytes: limit });
  }
  const runs: LunRun[] = [];
  let extentStart = 0; // file offset where the current extent begins
  for (const x of meta.extents) {
    const extentBytes = x.count * l.fileBlockBytes;
    const from = Math.max(offset, extentStart);
    const to = Math.min(offset + length, extentStart + extentBytes);
    if (from < to) {
      const lunOffsetBytes = fileBlockLba(l, x.start) * l.blockSize + (from - extentStart);
      const last = runs.at(-1);
      if (last !== undefined && last.lunOffsetBytes + last.bytes === lunOffsetBytes) last.bytes += to - from;
      else runs.push({ fileOffset: from, lunOffsetBytes, lba: Math.floor(lunOffsetBytes / l.blockSize), bytes: to - from });
    }
    extentStart += extentBytes;
    if (extentStart >= offset + length) break;
  }
  return runs;
}
