// daemons/fabric/stores.ts: where an array's store is (default folder, topology dataDir relative to the
// topology file's folder), the record of known stores, and wipeStore: deletes LevelDB's files only,
// refuses a store a running array holds open, reports the LUNs it deleted.
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { openArray } from '../../lib/storage/array.js';
import { VfabError } from '../../lib/errors.js';
import { arrayDataDir, describeStore, readKnownStores, rememberStores, storeLocation, wipeStore, STORE_ERROR } from '../../daemons/fabric/stores.js';
import { makeTempDir, removeTempDir } from '../storage/tmpdir.js';
import { openNasService, NAS_STORE_DIR } from '../../daemons/storage/nas-server.js';

describe('array stores (daemons/fabric/stores.ts)', () => {
  let dir: string;
  beforeEach(() => {
    dir = makeTempDir('stores');
  });
  afterEach(() => removeTempDir(dir));

  it('resolves the store folder: default under the state dir, dataDir relative to the topology file, absolute as is', () => {
    const state = path.join(dir, '.vfab');
    expect(arrayDataDir({ name: 'array1' }, '/lab/designs/a.yaml', state)).to.equal(path.join(state, 'arrays', 'array1'));
    expect(arrayDataDir({ name: 'array1', dataDir: 'data/a1' }, '/lab/designs/a.yaml', state)).to.equal('/lab/designs/data/a1');
    expect(arrayDataDir({ name: 'array1', dataDir: '../shared' }, '/lab/designs/a.yaml', state)).to.equal('/lab/shared');
    expect(arrayDataDir({ name: 'array1', dataDir: '/srv/a1' }, '/lab/designs/a.yaml', state)).to.equal('/srv/a1');
  });

  it('remembers where each array\'s store is; the newest entry per array wins', () => {
    rememberStores(dir, [{ array: 'a1', dataDir: '/x/a1', fabric: 'f', topologyFile: '/t.yaml', usedAt: '2026-01-01T00:00:00Z' }]);
    rememberStores(dir, [{ array: 'a1', dataDir: '/y/a1', fabric: 'f', topologyFile: '/t.yaml', usedAt: '2026-01-02T00:00:00Z' }]);
    expect(readKnownStores(dir).map((s) => s.dataDir)).to.deep.equal(['/y/a1']);
    expect(storeLocation(dir, 'a1')).to.deep.include({ dataDir: '/y/a1' });
    expect(storeLocation(dir, 'other').dataDir).to.equal(path.join(dir, 'arrays', 'other'));
  });

  it('wipeStore deletes LevelDB files and reports the LUNs; other files in the folder are kept', async () => {
    const store = path.join(dir, 'a1');
    const array = await openArray({ dataDir: store, name: 'a1', readCacheBytes: 0 });
    await array.createLun({ name: 'ds1', sizeBytes: 1024 * 1024 });
    await array.close();
    fs.writeFileSync(path.join(store, 'notes.txt'), 'mine');
    rememberStores(dir, [{ array: 'a1', dataDir: store, fabric: 'f', topologyFile: '/t.yaml', usedAt: '2026-01-01T00:00:00Z' }]);
    const r = await wipeStore(dir, 'a1', store);
    expect(r).to.deep.include({ deleted: true, kept: ['notes.txt'] });
    expect(r.luns.map((l) => [l.name, l.sizeBytes])).to.deep.equal([['ds1', 1024 * 1024]]);
    expect(fs.readdirSync(store)).to.deep.equal(['notes.txt']);
    expect(readKnownStores(dir)).to.deep.equal([]);
    const empty = await describeStore('a1', store);
    expect(empty.exists).to.equal(false);
  });

  it('wipeStore also deletes the NAS shares\' database in nas/ (a purge leaves no share data behind)', async () => {
    const store = path.join(dir, 'a1');
    const array = await openArray({ dataDir: store, name: 'a1', readCacheBytes: 0 });
    await array.close();
    const nas = await openNasService({ dataDir: store, shares: [{ name: 'nfs1', sizeMB: 16 }], token: 't' });
    await nas.close();
    expect(fs.readdirSync(path.join(store, NAS_STORE_DIR))).to.include('CURRENT');
    const r = await wipeStore(dir, 'a1', store);
    expect(r.deleted).to.equal(true);
    expect(fs.existsSync(store), 'the store folder is gone, nas/ with it').to.equal(false);
  });

  it('wipeStore refuses a store a running array holds open (VFAB_ARRAY_IN_USE) and deletes nothing', async () => {
    const store = path.join(dir, 'a1');
    const array = await openArray({ dataDir: store, name: 'a1', readCacheBytes: 0 });
    try {
      // LevelDB's info log (LOG, LOG.old) is rotated by any open attempt; the data files must stay
      const dataFiles = () => fs.readdirSync(store).filter((f) => !f.startsWith('LOG')).sort();
      const before = dataFiles();
      const e = await wipeStore(dir, 'a1', store).catch((x: unknown) => x);
      expect(e).to.be.instanceOf(VfabError);
      expect((e as VfabError).code).to.equal(STORE_ERROR.IN_USE);
      expect(dataFiles()).to.deep.equal(before);
      expect(before).to.include('CURRENT');
    } finally {
      await array.close();
    }
  });
});
