// The election rule (docs/ha.md; docs/vsphere-behaviour.md §7.11): most datastores seen wins; a tie goes to
// the name that sorts last; the same answer whatever order the claims arrive in.
import { expect } from 'chai';
import { compareClaims, electPrimary } from '../../lib/ha/index.js';

describe('HA election rule', () => {
  it('most datastores seen, then the name that sorts last', () => {
    const claims = [{ host: 'esx9', datastoresSeen: 2 }, { host: 'esx1', datastoresSeen: 3 }, { host: 'esx2', datastoresSeen: 3 }];
    expect(electPrimary(claims)?.host).to.equal('esx2');
    expect(electPrimary([...claims].reverse())?.host).to.equal('esx2');
    expect(electPrimary([{ host: 'esx9', datastoresSeen: 2 }, { host: 'esx10', datastoresSeen: 2 }])?.host).to.equal('esx9');
    expect(compareClaims({ host: 'a', datastoresSeen: 1 }, { host: 'a', datastoresSeen: 1 })).to.equal(0);
    expect(electPrimary([])).to.equal(undefined);
  });
});
