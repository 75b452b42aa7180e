// A physical-switch port in `mode: vxlan` joined to a Linux `vxlan` device (docs/guests.md "VXLAN ports on
// physical switches"): the test creates the device (daemons/guests/vxlan-device.ts: local bypass off, so it
// sends real datagrams to the switch's socket on 127.0.0.1), moves it into a namespace of its own with
// 192.0.2.50/24, and the kernel's stack and a builtin VM (192.0.2.11, same VLAN) ping each other through
// the switch. Needs root, iproute2 and python3: skips with the reason elsewhere, fails in CI. The namespace
// and device are removed in `after`, also when a test fails.

import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { canManageNetworks, createVxlanDevice, deleteLink, run } from '../../../daemons/guests/vxlan-device.js';
import { FABRIC_DOWN_TIMEOUT_MS, FABRIC_UP_TIMEOUT_MS, makeTempDir, startFabric, type TestFabric } from '../helpers/fabric.js';
import { freeUdpPort, vxlanTopology, VXLAN_TEST_VNI } from '../helpers/vxlan-peer.js';

const NS = `vfabt-vxport-${process.pid}`;
const DEV = `vfabt-vxp${process.pid % 100000}`;
const GUEST_MAC = '02:00:00:00:00:50';

describe('e2e guests: a switch port in mode: vxlan joined to a Linux vxlan device in a namespace', function () {
  this.timeout(30_000);
  let dir = '';
  let fab: TestFabric | undefined;
  const f = () => fab!;

  before(async function () {
    if (!canManageNetworks()) {
      if (process.env.CI === 'true') throw new Error('CI runs as root: the Linux vxlan device test cannot skip');
      this.skip(); // needs root (CAP_NET_ADMIN) to create the device and the namespace
    }
    this.timeout(FABRIC_UP_TIMEOUT_MS);
    dir = makeTempDir('vfab-e2e-vxport-linux-');
    const kernelPort = await freeUdpPort();
    const file = path.join(dir, 'vxport.yaml');
    fs.writeFileSync(file, vxlanTopology('vxport-linux', kernelPort));
    fab = await startFabric(file);
    // the switch got a free port (localPort 0): status says which; the device sends there
    const switchPort = (await fab.status('sw1')).ports.find((p: any) => p.name === 'Vx1').vxlan.boundPort;
    await createVxlanDevice({ name: DEV, vni: VXLAN_TEST_VNI, listenPort: kernelPort, remote: '127.0.0.1', remotePort: switchPort, mac: GUEST_MAC, mtu: 1500 });
    await run('ip', ['netns', 'add', NS]);
    await run('ip', ['link', 'set', DEV, 'netns', NS]);
    await run('ip', ['-n', NS, 'addr', 'add', '192.0.2.50/24', 'dev', DEV]);
    await run('ip', ['-n', NS, 'link', 'set', DEV, 'up']);
  });
  after(async function () {
    this.timeout(FABRIC_DOWN_TIMEOUT_MS);
    // deleting the namespace deletes the device in it; the device is deleted itself if it never moved
    await run('ip', ['netns', 'del', NS]).catch(() => undefined);
    await deleteLink(DEV).catch(() => undefined);
    await fab?.down();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('the namespace pings the VM through the switch (ip netns exec ... ping)', async () => {
    const out = await run('ip', ['netns', 'exec', NS, 'ping', '-c', '3', '-W', '2', '192.0.2.11'], 20_000);
    expect(out).to.match(/3 packets transmitted, 3 received/);
    const table = await f().call('sw1', 'GET', '/control/mac-table');
    expect(table.entries.find((e: any) => e.mac === GUEST_MAC)).to.include({ vlan: 10, port: 'Vx1' });
  });

  it('the VM pings the namespace (vfab ping), and the kernel learned the VM on its device', async () => {
    expect((await f().ping('web1', '192.0.2.50', { count: 3 })).received).to.equal(3);
    expect(await run('ip', ['-n', NS, 'neigh', 'show', '192.0.2.11'])).to.match(/00:50:56:00:10:01/);
  });

  it('link down on the tunnel port cuts the namespace off; link up brings it back', async () => {
    await f().call('sw1', 'POST', '/control/links/Vx1', { up: false });
    try {
      expect((await f().ping('web1', '192.0.2.50', { count: 2, timeoutMs: 500 })).received).to.equal(0);
    } finally {
      await f().call('sw1', 'POST', '/control/links/Vx1', { up: true });
    }
    expect((await f().ping('web1', '192.0.2.50', { count: 2 })).received).to.equal(2);
  });
});
