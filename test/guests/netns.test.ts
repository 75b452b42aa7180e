// daemons/guests/netns.ts without root: namespace names and their prefix, the leftovers sweep of a run
// directory without records, and the topology's nics[].mtu (68-9000, at most the vSwitch's MTU). The
// namespaces themselves are created in test/e2e/guests/netns.test.ts (root).
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { netnsName, netnsPrefix, guestIfName, removeNetnsLeftovers, DEFAULT_NETNS_PREFIX } from '../../daemons/guests/netns.js';
import { parseTopology } from '../../lib/topology/load.js';
import { expectOneProblem, lineOf, loadError, yml } from '../topology/helpers.js';

const lab = (nic: string, vsMtu = '') => yml(`
  name: lab
  hosts:
    - name: esx1
      vswitches:
        - { name: vSwitch0, ${vsMtu}portGroups: [{ name: APP, vlan: 10 }] }
      vms:
        - name: web1
          kind: netns
          nics:
            - ${nic}
`);

describe('guests/netns: names and mtu', () => {
  it('names a namespace <prefix><fabric>-<vm>, with vfab- unless VFAB_NETNS_PREFIX says otherwise', () => {
    expect(netnsName('netns-lab', 'web1', netnsPrefix({}))).to.equal('vfab-netns-lab-web1');
    expect(DEFAULT_NETNS_PREFIX).to.equal('vfab-');
    expect(netnsName('lab', 'web1', netnsPrefix({ VFAB_NETNS_PREFIX: 'vfabt-x1-' }))).to.equal('vfabt-x1-lab-web1');
    expect(guestIfName(0)).to.equal('eth0');
    expect(guestIfName(9)).to.equal('eth9');
  });

  it('refuses a prefix that could make a bad or unbounded name', () => {
    for (const bad of ['', 'a b', 'x/y', 'a'.repeat(17), '../']) {
      expect(() => netnsPrefix({ VFAB_NETNS_PREFIX: bad }), JSON.stringify(bad)).to.throw(/VFAB_NETNS_PREFIX/);
    }
    expect(netnsPrefix({ VFAB_NETNS_PREFIX: 'a'.repeat(16) })).to.have.length(16);
  });

  it('a run directory without records has no leftovers (and needs no root)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfabt-netns-'));
    try {
      expect(await removeNetnsLeftovers(dir)).to.deep.equal([]);
      fs.mkdirSync(path.join(dir, 'guests'));
      expect(await removeNetnsLeftovers(dir)).to.deep.equal([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('nics[].mtu: kept in the model, default absent (1500 when the guest is created)', () => {
    const t = parseTopology(lab('{ portGroup: APP, ip: 192.0.2.11/24, mtu: 1400 }'), 't.yaml');
    expect(t.hosts[0]!.vms[0]!.nics[0]!.mtu).to.equal(1400);
    expect(t.hosts[0]!.vms[0]!.kind).to.equal('netns');
    const d = parseTopology(lab('{ portGroup: APP }'), 't.yaml');
    expect(d.hosts[0]!.vms[0]!.nics[0]!.mtu).to.equal(undefined);
  });

  it('nics[].mtu above the vSwitch MTU is one problem on its line; 9000 on a jumbo vSwitch loads', () => {
    expectOneProblem(lab('{ portGroup: APP, mtu: 9000 }   # <- here'), 'hosts[0].vms[0].nics[0].mtu', 'above the MTU 1500 of its vSwitch vSwitch0');
    expect(parseTopology(lab('{ portGroup: APP, mtu: 9000 }', 'mtu: 9000, '), 't.yaml').hosts[0]!.vms[0]!.nics[0]!.mtu).to.equal(9000);
  });

  it('nics[].mtu outside 68..9000 does not load', () => {
    for (const mtu of [67, 9001]) {
      const text = lab(`{ portGroup: APP, mtu: ${mtu} }   # <- here`);
      const e = loadError(text);
      expect(e.problems.some((p) => p.line === lineOf(text) && /mtu/.test(p.path)), e.message).to.equal(true);
    }
  });
});
