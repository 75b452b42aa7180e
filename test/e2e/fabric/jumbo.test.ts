// End-to-end across real processes (3 hostd + 2 switchd from dist/, port 0; topologies/e2e/jumbo.yaml):
// jumbo pings. vmA and vmB have MTU 9000 on every vNIC, vSwitch and switch between them: an 8972-byte
// ping (a 9000-byte IP packet) goes through and back. vmC sits behind sw2, which keeps MTU 1500: the same
// ping gets no reply and vfab ping names the hop (sw2's port from sw1) and its MTU, exit 1. A --size
// beyond the sending vNIC's MTU - 28 is refused before anything is sent (exit 2), also after
// `vfab vm mtu` lowered it. Leaves out the unit rules (test/endpoint/vm-endpoint.test.ts).

import { expect } from 'chai';
import { runCli, type TestFabric, useFabric } from '../helpers/fabric.js';

describe('e2e fabric: jumbo frames and MTU drops named by vfab ping (topologies/e2e/jumbo.yaml)', function () {
  this.timeout(60_000);
  let fab: TestFabric;

  useFabric('topologies/e2e/jumbo.yaml', (f) => (fab = f));
  const cli = (...args: string[]) => runCli(args, { stateDir: fab.stateDir });

  it('an 8972-byte ping works between two VMs on a path with MTU 9000 everywhere', async () => {
    const r = await cli('ping', 'vmA', '192.0.2.12', '--size', '8972', '-c', '2', '--interval-ms', '50', '--json');
    expect(r.code, r.out + r.stderr).to.equal(0);
    const result = JSON.parse(r.out);
    expect(result).to.deep.include({ received: 2, packetBytes: 9000 });
    expect(result.replies[0].bytes, 'ICMP bytes of the reply: 8 + 8972').to.equal(8980);
    expect(result.mtuDrops).to.equal(undefined);
  });

  it('the same ping to a VM behind a 1500-byte switch gets no reply, and the message names that hop (exit 1)', async () => {
    expect((await cli('ping', 'vmA', '192.0.2.13', '-c', '1')).code, 'a small ping reaches vmC').to.equal(0);
    const r = await cli('ping', 'vmA', '192.0.2.13', '--size', '8972', '-c', '1', '--timeout-ms', '300');
    expect(r.code, r.out + r.stderr).to.equal(1);
    expect(r.out).to.contain('no reply: dropped at sw2.Gi1/0/48 (MTU 1500 < 9000-byte IP packet; 1 frame)');
    const j = await cli('ping', 'vmA', '192.0.2.13', '--size', '1473', '-c', '1', '--timeout-ms', '300', '--json');
    expect(j.code).to.equal(1);
    expect(JSON.parse(j.out).mtuDrops).to.deep.equal([{ point: 'sw2.Gi1/0/48', node: 'sw2', mtuBytes: 1500, frames: 1 }]);
    expect((await cli('ping', 'vmA', '192.0.2.13', '--size', '1472', '-c', '1')).code, '1500 bytes still fit').to.equal(0);
  });

  it('--size beyond the sending vNIC\'s MTU - 28 is refused naming --size and the limit (exit 2), also after vfab vm mtu', async () => {
    const over = await cli('ping', 'vmA', '192.0.2.12', '--size', '8973');
    expect(over.code).to.equal(2);
    expect(over.stderr).to.contain('--size');
    const set = await cli('vm', 'mtu', 'vmA.nic0', '1500');
    expect(set.code, set.stderr).to.equal(0);
    expect(set.out).to.contain('vmA.nic0: MTU 1500');
    try {
      const r = await cli('ping', 'vmA', '192.0.2.12', '--size', '1473', '-c', '1');
      expect(r.code, r.out + r.stderr).to.equal(2);
      expect(r.stderr).to.contain("--size 1473: 1473 data bytes do not fit vmA.nic0's MTU 1500: at most 1472");
      expect((await cli('ping', 'vmA', '192.0.2.12', '--size', '1472', '-c', '1')).code).to.equal(0);
    } finally {
      expect((await cli('vm', 'mtu', 'vmA', '9000')).code).to.equal(0);
    }
    expect((await cli('vm', 'mtu', 'vmA', '9001')).code, 'an MTU beyond 9000 is bad input').to.equal(2);
    expect((await cli('ping', 'vmA', '192.0.2.12', '--size', '8972', '-c', '1')).code, 'back at 9000').to.equal(0);
  });

  it('vfab set vnic --mtu changes the guest MTU live and keeps it in the running configuration (vfab export)', async () => {
    const set = await cli('set', 'vnic', 'vmA', 'nic0', '--mtu', '2000');
    expect(set.code, set.stderr).to.equal(0);
    try {
      expect((await cli('ping', 'vmA', '192.0.2.12', '--size', '1973', '-c', '1')).code).to.equal(2);
      expect((await cli('ping', 'vmA', '192.0.2.12', '--size', '1972', '-c', '1')).code).to.equal(0);
      const exported = await cli('export');
      expect(exported.out).to.match(/mtu: 2000/);
    } finally {
      expect((await cli('set', 'vnic', 'vmA', 'nic0', '--mtu', '9000')).code).to.equal(0);
    }
  });

  it('vfab vm promiscuous and vfab vm mac act in the guest (its host reports them), and name bad values (exit 2)', async () => {
    const nic = async () => (await fab.vm('vmB')).nics[0];
    expect(await nic()).to.deep.include({ mtu: 9000, promiscuous: false });
    const on = await cli('vm', 'promiscuous', 'vmB', 'on');
    expect(on.code, on.stderr).to.equal(0);
    expect((await nic()).promiscuous).to.equal(true);
    expect((await cli('vm', 'promiscuous', 'vmB.nic0', 'off')).code).to.equal(0);
    expect((await nic()).promiscuous).to.equal(false);
    const old = (await nic()).mac;
    const mac = await cli('vm', 'mac', 'vmB.nic0', '00:50:56:00:99:02', '--json');
    expect(mac.code, mac.stderr).to.equal(0);
    expect(JSON.parse(mac.out)).to.deep.include({ vm: 'vmB', mac: '00:50:56:00:99:02' });
    expect((await nic()).mac).to.equal('00:50:56:00:99:02');
    expect((await cli('vm', 'mac', 'vmB.nic0', old)).code).to.equal(0);
    const bad = await cli('vm', 'mtu', 'vmB.nic9', '1500');
    expect(bad.code, bad.stderr).to.equal(2);
    expect(bad.stderr).to.contain('nic9');
    expect((await cli('vm', 'promiscuous', 'vmZ', 'on')).code, 'no such VM').to.equal(2);
  });
});
