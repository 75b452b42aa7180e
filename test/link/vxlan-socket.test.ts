// daemons/link/vxlan-socket.ts: VXLAN tunnels on one UDP socket over loopback, against a plain UDP peer.
import { expect } from 'chai';
import dgram from 'node:dgram';
import { VxlanSocket } from '../../daemons/link/vxlan-socket.js';
import { emitVxlan, parseVxlan } from '../../lib/wire/vxlan.js';

const frame = (fill: number, n = 60) => Buffer.alloc(n, fill);
async function peer(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  return s;
}
const next = (s: dgram.Socket) => new Promise<Buffer>((r) => s.once('message', (m) => r(m)));
const until = async (cond: () => boolean) => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
};

describe('link/vxlan-socket', () => {
  let vx: VxlanSocket;
  let p: dgram.Socket;
  beforeEach(async () => {
    vx = await VxlanSocket.open();
    p = await peer();
  });
  afterEach(() => {
    vx.close();
    p.close();
  });

  it('a frame sent on a tunnel leaves as one datagram with its VNI; one received comes out of the link', async () => {
    const link = vx.tunnel({ vni: 5001, remoteAddress: '127.0.0.1', remotePort: p.address().port, name: 'sw1.Gi1/0/9' });
    const got = next(p);
    expect(link.send(frame(3))).to.equal(true);
    const d = parseVxlan(await got);
    if (!d.ok) throw d.error;
    expect(d.value.vni).to.equal(5001);
    expect(Buffer.from(d.value.frame).equals(frame(3))).to.equal(true);
    const rx: Buffer[] = [];
    link.onFrameView((f) => rx.push(Buffer.from(f)));
    p.send(emitVxlan(5001, frame(4)), vx.port, '127.0.0.1');
    await until(() => rx.length > 0);
    expect(rx[0]!.equals(frame(4))).to.equal(true);
  });

  it('demultiplexes by VNI; drops and counts an unknown VNI, a bad header and a runt, and keeps running', async () => {
    const a = vx.tunnel({ vni: 1, remoteAddress: '127.0.0.1', remotePort: p.address().port, name: 'a' });
    const b = vx.tunnel({ vni: 2, remoteAddress: '127.0.0.1', remotePort: p.address().port, name: 'b' });
    const seen: string[] = [];
    a.onFrameView((f) => seen.push(`a${f[0]}`));
    b.onFrameView((f) => seen.push(`b${f[0]}`));
    const port = vx.port;
    p.send(emitVxlan(2, frame(7)), port, '127.0.0.1');
    p.send(emitVxlan(3, frame(8)), port, '127.0.0.1');
    p.send(Buffer.from('0000000000000100', 'hex'), port, '127.0.0.1');
    p.send(Buffer.concat([Buffer.from('0800000000000100', 'hex'), frame(1, 10)]), port, '127.0.0.1');
    p.send(Buffer.from('08'), port, '127.0.0.1');
    p.send(emitVxlan(1, frame(9)), port, '127.0.0.1');
    await until(() => vx.counters.rxDatagrams >= 6);
    expect(seen).to.deep.equal(['b7', 'a9']);
    expect(vx.counters.rxDrops).to.include({ 'unknown-vni': 1, 'no-i-flag': 1, 'runt-frame': 1, short: 1 });
  });

  it('a datagram for a known VNI from another address is dropped (wrong-source)', async () => {
    const link = vx.tunnel({ vni: 9, remoteAddress: '127.0.0.2', remotePort: 4789, name: 'x' });
    let rx = 0;
    link.onFrameView(() => rx++);
    p.send(emitVxlan(9, frame(1)), vx.port, '127.0.0.1');
    await until(() => vx.counters.rxDatagrams >= 1);
    expect(rx).to.equal(0);
    expect(vx.counters.rxDrops['wrong-source']).to.equal(1);
  });

  it('refuses a taken VNI and bad ports; a closed tunnel frees its VNI', () => {
    const link = vx.tunnel({ vni: 10, remoteAddress: '127.0.0.1', remotePort: 4789, name: 'x' });
    expect(() => vx.tunnel({ vni: 10, remoteAddress: '127.0.0.1', remotePort: 4789, name: 'y' })).to.throw(/taken/);
    expect(() => vx.tunnel({ vni: 11, remoteAddress: '127.0.0.1', remotePort: 0, name: 'y' })).to.throw(/port/);
    expect(() => vx.tunnel({ vni: 1 << 24, remoteAddress: '127.0.0.1', remotePort: 1, name: 'y' })).to.throw(/VNI/);
    link.close();
    expect(() => vx.tunnel({ vni: 10, remoteAddress: '127.0.0.1', remotePort: 4789, name: 'y' })).not.to.throw();
  });

  it('sends through one connected socket per remote once it is ready (its own source port), and through the bound socket before', async () => {
    const a = vx.tunnel({ vni: 21, remoteAddress: '127.0.0.1', remotePort: p.address().port, name: 'a' });
    const b = vx.tunnel({ vni: 22, remoteAddress: '127.0.0.1', remotePort: p.address().port, name: 'b' });
    const from: Array<{ port: number; vni: number }> = [];
    p.on('message', (m, r) => {
      const d = parseVxlan(m);
      if (d.ok) from.push({ port: r.port, vni: d.value.vni });
    });
    expect(a.send(frame(1))).to.equal(true); // before the sender has connected
    await until(() => from.length === 1);
    await new Promise((r) => setTimeout(r, 50));
    expect(a.send(frame(2))).to.equal(true);
    expect(b.send(frame(3))).to.equal(true);
    await until(() => from.length === 3);
    expect(from.map((f) => f.vni)).to.deep.equal([21, 21, 22]);
    expect(from[0]!.port).to.equal(vx.port);
    expect(from[1]!.port).to.not.equal(vx.port);
    expect(from[2]!.port).to.equal(from[1]!.port); // one sender for both tunnels to the same remote
    expect(vx.counters.txDatagrams).to.equal(3);
  });
});
