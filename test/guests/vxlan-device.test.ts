// daemons/guests/vxlan-device.ts: a kernel VXLAN device sends real datagrams to a userspace socket on
// 127.0.0.1 and takes them back, also after it moved into another namespace. Needs root and iproute2 +
// python3; skips with the reason elsewhere, and fails in CI (which runs as root with them installed).
import { expect } from 'chai';
import dgram from 'node:dgram';
import { createVxlanDevice, checkVxlanDeviceSpec, deleteLink, run, canManageNetworks } from '../../daemons/guests/vxlan-device.js';
import { emitVxlan, parseVxlan } from '../../lib/wire/vxlan.js';

const NS = `vfabt-vxd-${process.pid}`;
const DEV = `vfxt${process.pid % 100000}`;

describe('guests/vxlan-device', function () {
  this.timeout(20_000);
  it('refuses a bad spec before running anything', () => {
    const ok = { name: 'vfx1', vni: 10, listenPort: 40000, remote: '127.0.0.1', remotePort: 40001 };
    expect(() => checkVxlanDeviceSpec(ok)).not.to.throw();
    expect(() => checkVxlanDeviceSpec({ ...ok, name: 'a-name-longer-than-15' })).to.throw(/VFAB|name/);
    expect(() => checkVxlanDeviceSpec({ ...ok, vni: 0 })).to.throw(/VNI/);
    expect(() => checkVxlanDeviceSpec({ ...ok, remote: '10.0.0.256' })).to.throw(/IPv4/);
    expect(() => checkVxlanDeviceSpec({ ...ok, mac: '02:00' })).to.throw(/MAC/);
  });

  describe('with root', () => {
    before(function () {
      if (!canManageNetworks()) {
        if (process.env.CI === 'true') throw new Error('CI runs as root: network namespace tests cannot skip');
        this.skip(); // needs root (CAP_NET_ADMIN): run the suite as root to include it
      }
    });
    after(async () => {
      if (process.env.KEEP) return;
      await deleteLink(DEV).catch(() => undefined);
      await run('ip', ['netns', 'del', NS]).catch(() => undefined);
    });

    it('a frame sent in the namespace arrives at the userspace socket as VXLAN, and back', async () => {
      const sock = dgram.createSocket('udp4');
      await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
      const port = sock.address().port;
      // a free port for the kernel's socket: bind, read, close (the kernel binds it a moment later)
      const probe = dgram.createSocket('udp4');
      await new Promise<void>((r) => probe.bind(0, '127.0.0.1', () => r()));
      const listenPort = probe.address().port;
      probe.close();
      try {
        await createVxlanDevice({ name: DEV, vni: 777, listenPort, remote: '127.0.0.1', remotePort: port, mac: '02:00:00:00:07:77', mtu: 1500 });
        await run('ip', ['netns', 'add', NS]);
        await run('ip', ['link', 'set', DEV, 'netns', NS]);
        await run('ip', ['-n', NS, 'link', 'set', DEV, 'name', 'eth0']);
        await run('ip', ['-n', NS, 'addr', 'add', '192.0.2.1/24', 'dev', 'eth0']);
        await run('ip', ['-n', NS, 'link', 'set', 'eth0', 'up']);
        // the first ARP request (IPv6 router solicitations and the like may come first)
        const got = new Promise<Buffer>((resolve) => {
          const onMessage = (m: Buffer) => {
            if (m.length >= 22 && m.readUInt16BE(20) === 0x0806) {
              sock.off('message', onMessage);
              resolve(m);
            }
          };
          sock.on('message', onMessage);
        });
        // the guest ARPs for 192.0.2.2 when asked to send to it
        void run('ip', ['netns', 'exec', NS, 'python3', '-c', "import socket;socket.socket(socket.AF_INET,socket.SOCK_DGRAM).sendto(b'x',('192.0.2.2',9))"]).catch(() => undefined);
        const d = await got;
        const p = parseVxlan(d);
        if (!p.ok) throw p.error;
        expect(p.value.vni).to.equal(777);
        expect(Buffer.from(p.value.frame.subarray(6, 12)).toString('hex')).to.equal('020000000777');
        // an ARP reply for 192.0.2.2 sent back through the tunnel lands in the namespace's neighbour table
        const reply = Buffer.from('020000000777' + '020000000002' + '0806' + '0001080006040002' + '020000000002' + 'c0000202' + '020000000777' + 'c0000201', 'hex');
        sock.send(emitVxlan(777, reply), listenPort, '127.0.0.1');
        let neigh = '';
        for (let i = 0; i < 50 && !/02:00:00:00:00:02/.test(neigh); i++) {
          await new Promise((r) => setTimeout(r, 50));
          neigh = await run('ip', ['-n', NS, 'neigh', 'show', '192.0.2.2']);
        }
        expect(neigh).to.match(/02:00:00:00:00:02/);
      } finally {
        sock.close();
      }
    });
  });
});
