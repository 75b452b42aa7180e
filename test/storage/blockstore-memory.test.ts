// The in-memory BlockStore against the shared conformance suite.
import { MemoryBlockStore } from '../../lib/storage/blockstore-memory.js';
import { blockStoreConformance } from './blockstore.conformance.js';

blockStoreConformance('memory', async () => {
  const store = new MemoryBlockStore();
  return {
    store,
    corrupt: async (lun, lba) => {
      const v = store.rawValue(lun, lba);
      if (v === undefined) throw new Error('no such block');
      v[v.length - 1]! ^= 0x01;
    },
    cleanup: () => store.close(),
  };
});
