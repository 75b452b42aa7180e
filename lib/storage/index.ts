// Public surface of lib/storage owned by the command-model side: the array, target, block stores,
// sense data, CDB builders and reservations. The transport (protocol.ts), multipath.ts and vdisk.ts are
// imported from their own modules. Follows SBC-3 / SPC-4 (see docs/storage-model.md).

export * from './scsi.js';
export * from './array.js';
export * from './target.js';
export * from './blockstore.js';
export { MemoryBlockStore } from './blockstore-memory.js';
export { LevelBlockStore, blockKey, BLOCK_KEY_BYTES, type LevelBlockStoreOptions } from './blockstore-level.js';
export * from './sense.js';
export * as cdb from './cdb.js';
export * from './reservations.js';
export { RangeLock } from './range-lock.js';
