// The NAS share store over LevelDB (kv-level.ts), against the conformance suite, plus what only a
// persistent kv has: shares of one LevelDB surviving close and reopen, each in its own key space.
import { expect } from 'chai';
import { LevelNasKv } from '../../lib/nas/kv-level.js';
import { openShares } from '../../lib/nas/shares.js';
import { NAS_FILE_TYPE, NAS_STATUS } from '../../lib/nas/protocol.js';
import { NAS_ROOT_ID } from '../../lib/nas/share-store.js';
import { makeTempDir, removeTempDir } from '../storage/tmpdir.js';
import { shareStoreConformance } from './share-store.conformance.js';

shareStoreConformance('LevelDB kv', async () => {
  const dir = makeTempDir('nas');
  const kv = await LevelNasKv.open(dir);
  return {
    kv,
    cleanup: async () => {
      await kv.close();
      removeTempDir(dir);
    },
  };
});

describe('nas/shares over LevelDB', () => {
  it('two shares in one LevelDB keep their own files across close and reopen', async () => {
    const dir = makeTempDir('nas-shares');
    const clock = (): bigint => 1n;
    try {
      let kv = await LevelNasKv.open(dir);
      let shares = await openShares(kv, [{ name: 'nfs1', sizeMB: 1 }, { name: 'nfs1x', sizeMB: 2 }], clock);
      const f = (await shares.get('nfs1')!.create(NAS_ROOT_ID, 'only-in-nfs1', NAS_FILE_TYPE.FILE)).attrs!.fileId;
      await shares.get('nfs1')!.write(f, 0, Buffer.from('kept'), true);
      await kv.close();
      kv = await LevelNasKv.open(dir);
      shares = await openShares(kv, [{ name: 'nfs1', sizeMB: 1 }, { name: 'nfs1x', sizeMB: 2 }], clock);
      expect(Buffer.from((await shares.get('nfs1')!.read(f, 0, 10)).data!).toString()).to.equal('kept');
      expect((await shares.get('nfs1x')!.lookup(NAS_ROOT_ID, 'only-in-nfs1')).status).to.equal(NAS_STATUS.NOENT);
      expect(shares.get('nfs1x')!.capacityBytes).to.equal(2 * 1024 * 1024);
      await kv.close();
    } finally {
      removeTempDir(dir);
    }
  });

  it('openShares refuses duplicate names, bad sizes and names with "/"', async () => {
    for (const specs of [[{ name: 'a', sizeMB: 1 }, { name: 'a', sizeMB: 1 }], [{ name: 'a', sizeMB: 0 }], [{ name: 'a/b', sizeMB: 1 }]]) {
      let code: string | undefined;
      try {
        await openShares(new (await import('../../lib/nas/kv.js')).MemoryNasKv(), specs, () => 0n);
      } catch (e) {
        code = (e as { code?: string }).code;
      }
      expect(code).to.equal('VFAB_NAS_BAD_SHARE');
    }
  });
});
