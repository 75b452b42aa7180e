// The NAS share store over the in-memory kv, against the conformance suite, plus prefixKv isolation.
import { expect } from 'chai';
import { MemoryNasKv, prefixKv } from '../../lib/nas/kv.js';
import { shareStoreConformance } from './share-store.conformance.js';

shareStoreConformance('memory kv', async () => {
  const kv = new MemoryNasKv();
  return { kv, cleanup: () => kv.close() };
});

describe('nas/kv prefixKv', () => {
  it('keeps two prefixes apart and strips the prefix on scan', async () => {
    const kv = new MemoryNasKv();
    const a = prefixKv(kv, Buffer.from('sa'));
    const b = prefixKv(kv, Buffer.from('sab'));
    await a.batch([{ type: 'put', key: Buffer.from('i1'), value: Buffer.from('A') }], true);
    await b.batch([{ type: 'put', key: Buffer.from('i1'), value: Buffer.from('B') }], true);
    expect((await a.get(Buffer.from('i1')))!.toString()).to.equal('A');
    const keys: string[] = [];
    for await (const [k] of b.scan(Buffer.from('i'))) keys.push(k.toString());
    expect(keys).to.deep.equal(['i1']);
  });
});
