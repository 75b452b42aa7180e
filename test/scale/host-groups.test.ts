// Unit tests for lib/scale/host-groups.ts: which hosts share a process under --hosts-per-process.

import { expect } from 'chai';
import { MAX_HOSTS_PER_PROCESS, groupOfHost, planHostGroups, type PackableHost } from '../../lib/scale/host-groups.js';

const hosts = (n: number, alone: string[] = []): PackableHost[] => Array.from({ length: n }, (_, i) => ({ name: `esx${i + 1}`, packable: !alone.includes(`esx${i + 1}`) }));
const sizes = (n: number, per: number) => planHostGroups(hosts(n), per).map((g) => g.hosts.length);

describe('host groups (several hosts per process)', () => {
  it('packs nothing at 1 host per process (every host its own process, as before)', () => {
    expect(planHostGroups(hosts(100), 1)).to.deep.equal([]);
  });

  it('uses the fewest groups of at most N, in topology order', () => {
    const groups = planHostGroups(hosts(100), 10);
    expect(groups).to.have.length(10);
    expect(groups[0]).to.deep.equal({ name: 'hostgroup.1', hosts: ['esx1', 'esx2', 'esx3', 'esx4', 'esx5', 'esx6', 'esx7', 'esx8', 'esx9', 'esx10'] });
    expect(groups.flatMap((g) => g.hosts)).to.deep.equal(hosts(100).map((h) => h.name));
  });

  it('balances the groups: sizes differ by at most one, none above N', () => {
    expect(sizes(25, 10)).to.deep.equal([9, 8, 8]);
    expect(sizes(4, 2)).to.deep.equal([2, 2]);
    expect(sizes(5, 2)).to.deep.equal([2, 2, 1]);
    expect(sizes(7, 64)).to.deep.equal([7]);
    for (const [n, per] of [[100, 7], [63, 8], [130, 64], [2, 64]] as const) {
      const s = sizes(n, per);
      expect(Math.max(...s), `${n}/${per}`).to.be.at.most(per);
      expect(Math.max(...s) - Math.min(...s), `${n}/${per}`).to.be.at.most(1);
      expect(s.length, `${n}/${per}`).to.equal(Math.ceil(n / per));
    }
  });

  it('keeps hosts with real guests in their own process', () => {
    const groups = planHostGroups(hosts(5, ['esx2']), 2);
    expect(groups.flatMap((g) => g.hosts)).to.not.include('esx2');
    expect(groups.map((g) => g.hosts)).to.deep.equal([['esx1', 'esx3'], ['esx4', 'esx5']]);
  });

  it('makes no group for a single packable host', () => {
    expect(planHostGroups(hosts(2, ['esx2']), 8)).to.deep.equal([]);
  });

  it(`refuses 0, more than ${MAX_HOSTS_PER_PROCESS} and fractions`, () => {
    for (const bad of [0, MAX_HOSTS_PER_PROCESS + 1, 2.5, -1, Number.NaN]) expect(() => planHostGroups(hosts(4), bad), String(bad)).to.throw(/1-64/);
  });

  it('maps each packed host to its group, group names cannot be node names', () => {
    const m = groupOfHost(planHostGroups(hosts(4), 2));
    expect([...m]).to.deep.equal([['esx1', 'hostgroup.1'], ['esx2', 'hostgroup.1'], ['esx3', 'hostgroup.2'], ['esx4', 'hostgroup.2']]);
    expect('hostgroup.1').to.not.match(/^[A-Za-z0-9][A-Za-z0-9_-]*$/); // the schema's node name pattern
  });
});
