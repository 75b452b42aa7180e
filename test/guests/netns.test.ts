// daemons/guests/netns.ts: namespace names and their prefix, the leftovers sweep of a run directory
// without records, and the topology's nics[].mtu (68-9000, at most the vSwitch's MTU); with root, one
// attachment on its own (no hostd): the record of what it created, power off as protodown, close
// removing everything, and a namespace of the same name that is not in the record refused and left
// alone. Fabrics of netns guests: test/e2e/guests/netns.test.ts.
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { netnsName, netnsPrefix, guestIfName, removeNetnsLeftovers, attachNetnsGuest, removeNamespace, DEFAULT_NETNS_PREFIX } from '../../daemons/guests/netns.js';
import { canManageNetworks, run } from '../../daemons/guests/vxlan-device.js';
import type { GuestAttachContext } from '../../daemons/guests/attach.js';
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

  describe('an attachment on its own (root)', () => {
    const prefix = `vfabt-nu${process.pid % 100000}-`;
    let runDir = '';
    const events: Array<{ type: string; fields: Record<string, unknown> }> = [];
    const ctx = (fabric: string): GuestAttachContext => ({
      fabric, hostName: 'esx1', runDir, nowMs: () => 0, event: (type, fields) => events.push({ type, fields }),
      vm: parseTopology(lab('{ portGroup: APP, mac: "02:00:00:00:00:31", ip: 192.0.2.31/24, mtu: 1400 }'), 't.yaml').hosts[0]!.vms[0]!,
    });
    const ours = async () => (await run('ip', ['netns', 'list'])).split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(prefix));

    before(function () {
      if (!canManageNetworks()) {
        if (process.env.CI === 'true') throw new Error('CI runs as root: network namespace tests cannot skip');
        this.skip(); // needs root (CAP_NET_ADMIN): run the suite as root to include it
      }
      process.env.VFAB_NETNS_PREFIX = prefix;
      runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfabt-netns-run-'));
    });
    after(async () => {
      delete process.env.VFAB_NETNS_PREFIX;
      for (const ns of await ours().catch(() => [])) await removeNamespace(ns).catch(() => undefined);
      if (runDir) fs.rmSync(runDir, { recursive: true, force: true });
    });

    for (const mode of ['tap', 'vxlan'] as const)
    it(`records its namespace, shows power off as NO-CARRIER (${mode === 'tap' ? 'tap carrier off' : 'protodown'}), and close removes the namespace and the record (attached by ${mode})`, async () => {
      process.env.VFAB_GUEST_ATTACH = mode;
      const a = await attachNetnsGuest(ctx('unit')).finally(() => delete process.env.VFAB_GUEST_ATTACH);
      const ns = `${prefix}unit-web1`;
      try {
        const record = JSON.parse(fs.readFileSync(path.join(runDir, 'guests', 'esx1.netns.json'), 'utf8'));
        expect(record.namespaces).to.deep.equal([ns]);
        expect(record.devices, 'the temporary device moved into the namespace').to.deep.equal([]);
        expect(a.links).to.have.length(1);
        expect(a.status()).to.include({ kind: 'netns', netns: ns, attach: mode });
        expect(await run('ip', ['-n', ns, 'link', 'show', 'eth0'])).to.match(/mtu 1400/).and.match(/02:00:00:00:00:31/);
        a.powered!(false);
        let link = '';
        for (let i = 0; i < 40 && !/NO-CARRIER/.test(link); i++) {
          await new Promise((r) => setTimeout(r, 50));
          link = await run('ip', ['-n', ns, 'link', 'show', 'eth0']);
        }
        expect(link).to.match(/NO-CARRIER/);
        if (mode === 'vxlan') expect(link).to.match(/protodown on/);
        a.powered!(true);
        for (let i = 0; i < 40 && /NO-CARRIER/.test(link); i++) {
          await new Promise((r) => setTimeout(r, 50));
          link = await run('ip', ['-n', ns, 'link', 'show', 'eth0']);
        }
        expect(link).to.not.match(/protodown on|NO-CARRIER/);
      } finally {
        await a.close();
      }
      expect(await ours()).to.deep.equal([]);
      expect(fs.existsSync(path.join(runDir, 'guests', 'esx1.netns.json')), 'record removed with the last namespace').to.equal(false);
      expect(events.filter((e) => e.type === 'guest-error')).to.deep.equal([]);
    });

    it('refuses a namespace of the same name that is not in its record, and leaves it alone', async () => {
      const ns = `${prefix}clash-web1`;
      await run('ip', ['netns', 'add', ns]);
      try {
        let error: unknown;
        await attachNetnsGuest(ctx('clash')).catch((e) => (error = e));
        expect((error as { code?: string })?.code).to.equal('VFAB_GUEST_NETNS_TAKEN');
        expect(String((error as Error).message)).to.include(`ip netns del ${ns}`);
        expect(await ours()).to.deep.equal([ns]);
      } finally {
        await run('ip', ['netns', 'del', ns]);
      }
    });
  });
});
