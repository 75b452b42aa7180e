// `vfab lun list`'s read cache line (daemons/cli/commands/storage.ts readCacheLine): off, unused, and with
// its hit ratio.
import { expect } from 'chai';
import { readCacheLine } from '../../daemons/cli/commands/storage.js';
import { emptyReadCacheStats } from '../../lib/storage/block-cache.js';

describe('vfab lun list: read cache line', () => {
  it('says off for an array without a cache', () => {
    expect(readCacheLine(emptyReadCacheStats())).to.equal('read cache: off');
  });

  it('shows size, memory, blocks and hit ratio (none before the first lookup)', () => {
    const c = { ...emptyReadCacheStats(128 * 1024 ** 2), allocatedBytes: 3 * 1024 ** 2, entries: 700 };
    expect(readCacheLine(c)).to.equal('read cache: 128M, 3M allocated, 700 blocks, 0 hits / 0 misses');
    expect(readCacheLine({ ...c, hits: 951, misses: 49 })).to.equal('read cache: 128M, 3M allocated, 700 blocks, 951 hits / 49 misses (95.1 % hits)');
  });
});
