// The LevelDB BlockStore against the conformance suite, plus what only a persistent store has:
// data surviving close/reopen, group commit merging concurrent writes into fewer synced batches.
import { expect } from 'chai';
import { LevelBlockStore, blockKey } from '../../lib/storage/blockstore-level.js';
import { blockStoreConformance, levelHarness } from './blockstore.conformance.js';
import { makeTempDir, removeTempDir } from './tmpdir.js';

for (const groupCommit of [true, false]) {
  blockStoreConformance(`level (groupCommit=${groupCommit})`, () => levelHarness({ groupCommit }));
}

describe('LevelBlockStore', () => {
  let dir: string;
  beforeEach(() => {
    dir = makeTempDir('bsl');
  });
  afterEach(() => removeTempDir(dir));

  it('keeps blocks and metadata across close and reopen', async () => {
    const s1 = await LevelBlockStore.open(dir);
    const data = Buffer.alloc(4096, 0x5c);
    await s1.writeBlocks(3, 123456789, data, 4096);
    await s1.putMeta('lun/00003', Buffer.from('meta'));
    await s1.close();
    const s2 = await LevelBlockStore.open(dir);
    const r = await s2.readBlocks(3, 123456789, 1, 4096);
    expect(r.ok && r.value.equals(data)).to.equal(true);
    expect(Buffer.from((await s2.getMeta('lun/00003'))!).toString()).to.equal('meta');
    await s2.close();
  });

  it('group commit: writes arriving during a synced batch share the next batch', async () => {
    const s = await LevelBlockStore.open(dir, { groupCommit: true });
    const writes: Array<Promise<void>> = [];
    for (let i = 0; i < 50; i++) writes.push(s.writeBlocks(0, i, Buffer.alloc(512, i), 512));
    await Promise.all(writes);
    expect(s.commitStats.writes).to.equal(50);
    expect(s.commitStats.batches).to.be.at.most(2); // the first alone, the other 49 together
    const r = await s.readBlocks(0, 0, 50, 512);
    expect(r.ok).to.equal(true);
    if (r.ok) for (let i = 0; i < 50; i++) expect(r.value[i * 512]).to.equal(i);
    await s.close();
  });

  it('uses 11-byte binary keys in (lun, lba) order', () => {
    const a = blockKey(1, 0xffffffff);
    const b = blockKey(1, 0x100000000);
    const c = blockKey(2, 0);
    expect(a.length).to.equal(11);
    expect(b.toString('hex')).to.equal('420001000000010000000' + '0');
    expect(Buffer.compare(a, b)).to.equal(-1);
    expect(Buffer.compare(b, c)).to.equal(-1);
  });
});
