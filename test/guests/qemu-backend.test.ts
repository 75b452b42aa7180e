// daemons/guests/qemu-stream-server.ts, qemu-dgram.ts and qemu.ts: a qemu guest's vNIC backends on
// loopback, against plain TCP and UDP peers speaking QEMU's framing (no QEMU needed; the boot test with a
// real QEMU is test/e2e/guests/qemu.test.ts).
import { expect } from 'chai';
import net from 'node:net';
import dgram from 'node:dgram';
import { FrameLink } from '../../lib/link/frame-link.js';
import { encodeQemuStreamFrame, QemuStreamParser } from '../../lib/guests/qemu-stream.js';
import { QemuStreamServer } from '../../daemons/guests/qemu-stream-server.js';
import { QemuDgramBackend } from '../../daemons/guests/qemu-dgram.js';
import { attachQemuGuest } from '../../daemons/guests/qemu.js';
import type { Vm } from '../../lib/topology/model.js';

const frame = (fill: number, n = 60) => Buffer.alloc(n, fill);
const until = async (cond: () => boolean, what: string) => {
  for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
};
async function connect(port: number): Promise<net.Socket & { frames: Buffer[]; gone: boolean }> {
  const s = net.connect(port, '127.0.0.1') as net.Socket & { frames: Buffer[]; gone: boolean };
  s.frames = [];
  s.gone = false;
  const parser = new QemuStreamParser();
  s.on('data', (c) => parser.push(c, (f) => s.frames.push(Buffer.from(f))));
  s.on('close', () => (s.gone = true));
  s.on('error', () => {});
  await new Promise((r) => s.once('connect', r));
  return s;
}

describe('guests/qemu backends', () => {
  describe('stream', () => {
    let link: FrameLink;
    let server: QemuStreamServer;
    const clients: net.Socket[] = [];
    beforeEach(async () => {
      link = new FrameLink('g.nic0');
      server = await QemuStreamServer.listen(link);
    });
    afterEach(async () => {
      for (const c of clients.splice(0)) c.destroy();
      await server.close();
    });

    it('carrier comes with the connection; frames pass both ways in length-prefixed form, cut anywhere', async () => {
      expect(link.carrier).to.equal(false);
      const c = await connect(server.port);
      clients.push(c);
      await until(() => link.carrier, 'carrier');
      const rx: Buffer[] = [];
      link.onFrameView((f) => rx.push(Buffer.from(f)));
      const bytes = Buffer.concat([encodeQemuStreamFrame(frame(1)), encodeQemuStreamFrame(frame(2, 64))]);
      c.write(bytes.subarray(0, 3));
      await new Promise((r) => setTimeout(r, 20));
      c.write(bytes.subarray(3, 70));
      c.write(bytes.subarray(70));
      await until(() => rx.length === 2, 'two frames');
      expect(rx[0]!.equals(frame(1))).to.equal(true);
      expect(rx[1]!.equals(frame(2, 64))).to.equal(true);
      expect(link.send(frame(9))).to.equal(true);
      await until(() => c.frames.length === 1, 'a frame at the client');
      expect(c.frames[0]!.equals(frame(9))).to.equal(true);
      expect(server.status()).to.deep.include({ backend: 'stream', address: `127.0.0.1:${server.port}`, peer: `127.0.0.1:${c.localPort}` });
      c.end();
      await until(() => !link.carrier, 'carrier down');
      expect(server.counters).to.include({ connects: 1, disconnects: 1, rxFrames: 2, txFrames: 1 });
    });

    it('a second connection is closed at once while the first is up, and counted', async () => {
      const first = await connect(server.port);
      const second = await connect(server.port);
      clients.push(first, second);
      await until(() => second.gone, 'second closed');
      expect(first.gone).to.equal(false);
      expect(server.counters.refused).to.equal(1);
      expect(link.send(frame(5))).to.equal(true);
      await until(() => first.frames.length === 1, 'the first still gets frames');
    });

    it('a bad length prefix drops the connection and is counted; the next connection works', async () => {
      const reasons: unknown[] = [];
      link.onCarrier((up, why) => reasons.push(up, why));
      const bad = await connect(server.port);
      clients.push(bad);
      await until(() => link.carrier, 'carrier');
      bad.write(Buffer.from('00000000', 'hex'));
      await until(() => bad.gone, 'bad connection closed');
      await until(() => !link.carrier, 'carrier down');
      expect(server.counters.protocolErrors).to.equal(1);
      expect(link.counters.rxDropsMalformed).to.equal(1);
      expect(server.status().lastError).to.match(/length prefix 0/);
      expect(reasons).to.deep.equal([true, 'connected', false, 'bad-framing']);
      const good = await connect(server.port);
      clients.push(good);
      await until(() => link.carrier, 'carrier again');
    });

    it('sends are bounded by the unsent bytes of a peer that does not read', async () => {
      link = new FrameLink('g.nic0', { queueBytes: 64 * 1024 });
      await server.close();
      server = await QemuStreamServer.listen(link);
      const c = await connect(server.port);
      clients.push(c);
      c.pause();
      await until(() => link.carrier, 'carrier');
      let sent = 0;
      for (let i = 0; i < 20_000; i++) if (link.send(frame(i & 0xff, 1514))) sent++;
      expect(link.counters.txDropsQueueFull).to.be.greaterThan(0);
      expect(sent).to.be.lessThan(20_000);
      expect(link.queuedBytes).to.be.at.most(64 * 1024);
    });
  });

  describe('dgram', () => {
    let link: FrameLink;
    let b: QemuDgramBackend;
    let peer: dgram.Socket;
    const rxPeer: Buffer[] = [];
    beforeEach(async () => {
      link = new FrameLink('g.nic0');
      b = await QemuDgramBackend.open(link);
      peer = dgram.createSocket('udp4');
      rxPeer.length = 0;
      peer.on('message', (m) => rxPeer.push(m));
      await new Promise<void>((r) => peer.bind(0, '127.0.0.1', () => r()));
    });
    afterEach(async () => {
      peer.close();
      await b.close();
    });

    it('learns QEMU\'s port from its first datagram: carrier up, one frame per datagram both ways', async () => {
      expect(link.carrier).to.equal(false);
      expect(link.send(frame(1))).to.equal(false);
      const rx: Buffer[] = [];
      link.onFrameView((f) => rx.push(Buffer.from(f)));
      peer.send(frame(3), b.port, '127.0.0.1');
      await until(() => rx.length === 1, 'a frame');
      expect(link.carrier).to.equal(true);
      expect(rx[0]!.equals(frame(3))).to.equal(true);
      expect(link.send(frame(4, 100))).to.equal(true);
      await until(() => rxPeer.length === 1, 'a datagram at the peer');
      expect(rxPeer[0]!.equals(frame(4, 100))).to.equal(true);
      expect(b.status()).to.deep.include({ backend: 'dgram', peer: `127.0.0.1:${peer.address().port}` });
    });

    it('a new port (QEMU restarted) takes over and is counted; runts are dropped by the link', async () => {
      peer.send(frame(3), b.port, '127.0.0.1');
      await until(() => link.carrier, 'carrier');
      const other = dgram.createSocket('udp4');
      try {
        const got: Buffer[] = [];
        other.on('message', (m) => got.push(m));
        await new Promise<void>((r) => other.bind(0, '127.0.0.1', () => r()));
        other.send(Buffer.alloc(5), b.port, '127.0.0.1');
        await until(() => b.counters.rxDatagrams === 2, 'second datagram');
        expect(b.counters.peerChanges).to.equal(1);
        expect(link.counters.rxDropsMalformed).to.equal(1);
        link.send(frame(6));
        await until(() => got.length === 1, 'the frame at the new port');
        expect(link.counters.connects).to.equal(1);
      } finally {
        other.close();
      }
    });
  });

  it('attachQemuGuest: a backend per vNIC, and QEMU arguments with each vNIC\'s MAC and port', async () => {
    const nic = (name: string, macText: string) => ({ name, macText }) as Vm['nics'][number];
    const vm = { name: 'q1', kind: 'qemu', qemu: { netdev: 'stream', port: 0 }, nics: [nic('nic0', '00:50:56:00:00:01'), nic('eth1', '00:50:56:00:00:02')] } as unknown as Vm;
    const a = await attachQemuGuest({ fabric: 'f', hostName: 'esx1', vm, nowMs: () => 0, event: () => {} });
    try {
      const st = a.status() as { nics: Array<{ address: string }>; qemuArgs: { stream: string[]; socket: string[] } };
      const ports = st.nics.map((n) => Number(n.address.split(':')[1]));
      expect(ports[0]).to.be.greaterThan(0);
      expect(st.qemuArgs.stream).to.deep.equal([
        '-netdev', `stream,id=nic0,server=off,addr.type=inet,addr.host=127.0.0.1,addr.port=${ports[0]}`, '-device', 'virtio-net-pci,netdev=nic0,mac=00:50:56:00:00:01',
        '-netdev', `stream,id=eth1,server=off,addr.type=inet,addr.host=127.0.0.1,addr.port=${ports[1]}`, '-device', 'virtio-net-pci,netdev=eth1,mac=00:50:56:00:00:02',
      ]);
      expect(st.qemuArgs.socket[1]).to.equal(`socket,id=nic0,connect=127.0.0.1:${ports[0]}`);
      expect(a.links.map((l) => l.name)).to.deep.equal(['q1.nic0', 'q1.eth1']);
      const c = await connect(ports[1]!);
      await until(() => a.links[1]!.carrier, 'carrier on the second vNIC');
      expect(a.links[0]!.carrier).to.equal(false);
      c.destroy();
    } finally {
      await a.close();
    }
  });
});
