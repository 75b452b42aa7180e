// The array's read cache in one line, for `vfab status` and `vfab lun list` (kept apart from the storage
// commands so `vfab status` does not load the array's code).

import type { ReadCacheStats } from '../../lib/storage/block-cache.js';
import { formatSize } from '../../lib/storage/size.js';

/** One line on the array's read cache (stored --read-cache-mb): size, memory in use, hit ratio. */
export function readCacheLine(c: ReadCacheStats): string {
  if (c.capacityBytes === 0) return 'read cache: off';
  const lookups = c.hits + c.misses;
  const ratio = lookups > 0 ? ` (${((100 * c.hits) / lookups).toFixed(1)} % hits)` : '';
  return `read cache: ${formatSize(c.capacityBytes)}, ${formatSize(c.allocatedBytes)} allocated, ${c.entries} blocks, ${c.hits} hits / ${c.misses} misses${ratio}`;
}
