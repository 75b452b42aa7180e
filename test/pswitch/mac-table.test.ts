// The physical switch's MAC table remembers its last two hits (a frame looks up its source, then its
// destination); an entry that leaves the table must stop being found at once.

import { expect } from 'chai';
import { MacTable } from '../../lib/pswitch/mac-table.js';

const A = 0x005056000001;
const B = 0x005056000002;

describe('pswitch MacTable remembered hits', () => {
  it('finds entries per (VLAN, MAC): the same MAC in another VLAN is another entry', () => {
    const t = new MacTable(16);
    const a10 = t.insert(10, A, 1, 0);
    expect(t.get(10, A)).to.equal(a10);
    expect(t.get(20, A)).to.equal(undefined);
    const a20 = t.insert(20, A, 2, 0);
    expect(t.get(20, A)).to.equal(a20);
    expect(t.get(10, A)).to.equal(a10);
  });

  it('a deleted entry is not found any more, even right after a hit', () => {
    const t = new MacTable(16);
    const a = t.insert(10, A, 1, 0);
    const b = t.insert(10, B, 2, 0);
    expect(t.get(10, A)).to.equal(a);
    expect(t.get(10, B)).to.equal(b);
    t.delete(a);
    expect(t.get(10, A)).to.equal(undefined);
    expect(t.get(10, B)).to.equal(b);
    expect(t.size).to.equal(1);
  });

  it('entries removed by removeWhere (aging, flush) are not found any more', () => {
    const t = new MacTable(16);
    t.insert(10, A, 1, 0);
    t.insert(10, B, 2, 5);
    expect(t.get(10, A)?.lport).to.equal(1);
    expect(t.get(10, B)?.lport).to.equal(2);
    const removed = t.removeWhere((e) => e.lastSeenMs < 5);
    expect(removed.map((e) => e.mac)).to.deep.equal([A]);
    expect(t.get(10, A)).to.equal(undefined);
    const again = t.insert(10, A, 3, 6);
    expect(t.get(10, A)).to.equal(again);
    expect(t.get(10, A)?.lport).to.equal(3);
  });
});
