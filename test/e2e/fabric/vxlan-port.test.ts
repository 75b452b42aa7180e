// A physical-switch port in `mode: vxlan` (docs/guests.md "VXLAN ports on physical switches") against a
// plain UDP peer speaking VXLAN (test/e2e/helpers/vxlan-peer.ts): needs no root and runs everywhere. A
// builtin VM and the guest behind the tunnel ping each other through the switch (same VLAN); the tunnel
// shows in status (JSON and text); link down/up, shutdown, an impairment, a flap, a capture and a switch
// restart act on the tunnel port as on a cabled one; malformed and foreign datagrams are dropped and
// counted at the socket. Then two fabrics joined by trunk tunnels ping across, and a taken local port
// fails `vfab up`. The Linux-device version (root) is test/e2e/guests/vxlan-port.test.ts.

import { expect } from 'chai';
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import { startCapture } from '../../../daemons/fabric/capture-client.js';
import { VfabError } from '../../../lib/errors.js';
import { emitVxlan } from '../../../lib/wire/vxlan.js';
import { FABRIC_DOWN_TIMEOUT_MS, FABRIC_UP_TIMEOUT_MS, makeTempDir, runCli, startFabric, waitFor, type TestFabric } from '../helpers/fabric.js';
import { freeUdpPort, VxlanPeer, vxlanTopology, VXLAN_TEST_VNI as VNI } from '../helpers/vxlan-peer.js';

const PEER_IP = '192.0.2.50';
const PEER_MAC = '02:00:00:00:00:50';

describe('e2e fabric: a switch port in mode: vxlan against a UDP VXLAN peer', function () {
  this.timeout(30_000);
  let dir = '';
  let peer: VxlanPeer | undefined;
  let fab: TestFabric | undefined;
  const f = () => fab!;

  before(async function () {
    this.timeout(FABRIC_UP_TIMEOUT_MS);
    dir = makeTempDir('vfab-e2e-vxport-');
    peer = await VxlanPeer.open(VNI, PEER_IP, PEER_MAC);
    const file = path.join(dir, 'vxport.yaml');
    fs.writeFileSync(file, vxlanTopology('vxport', peer.port));
    fab = await startFabric(file);
    const vx = (await fab.status('sw1')).ports.find((p: any) => p.name === 'Vx1').vxlan;
    peer.connect(vx.boundPort);
  });
  after(async function () {
    this.timeout(FABRIC_DOWN_TIMEOUT_MS);
    peer?.close();
    await fab?.down();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const pingsAcross = async (count = 3) => (await f().ping('web1', PEER_IP, { count, timeoutMs: 500 })).received;

  it('a VM and the guest behind the tunnel ping each other; the switch learns the guest on the tunnel port', async () => {
    expect(await pingsAcross()).to.equal(3);
    expect(await peer!.ping('192.0.2.11', 3, 500)).to.equal(3);
    const table = await f().call('sw1', 'GET', '/control/mac-table');
    expect(table.entries.find((e: any) => e.mac === PEER_MAC)).to.include({ vlan: 10, port: 'Vx1' });
  });

  it('status shows the tunnel: VNI, local socket (the free port it got), remote, the link and socket counters', async () => {
    const s = await f().status('sw1');
    const port = s.ports.find((p: any) => p.name === 'Vx1');
    expect(port).to.deep.include({ mode: 'access', accessVlan: 10, up: true });
    expect(port.vxlan).to.deep.include({ vni: VNI, remote: '127.0.0.1', remotePort: peer!.port, localAddress: '127.0.0.1', localPort: 0 });
    expect(port.vxlan.boundPort).to.be.above(0);
    const link = s.links.find((l: any) => l.local === 'Vx1');
    expect(link).to.include({ peer: `vxlan:127.0.0.1:${peer!.port}/${VNI}`, role: 'attach', carrier: true });
    expect(link.counters.rxFrames).to.be.above(0);
    expect(s.vxlanSockets).to.have.length(1);
    expect(s.vxlanSockets[0]).to.deep.include({ address: '127.0.0.1', port: port.vxlan.boundPort });
    expect(s.vxlanSockets[0].counters.rxDatagrams).to.be.above(0);
    const text = await runCli(['status', 'sw1'], { stateDir: f().stateDir });
    expect(text.code, text.stderr).to.equal(0);
    expect(text.out).to.match(/Vx1\s+vxlan access\s+10/);
    expect(text.out).to.include('VXLAN tunnels:');
    expect(text.out).to.match(new RegExp(`Vx1\\s+${VNI}\\s+127\\.0\\.0\\.1:${port.vxlan.boundPort}\\s+127\\.0\\.0\\.1:${peer!.port}`));
  });

  it('link down cuts the tunnel port (carrier and switch port down), link up restores it', async () => {
    const r = await runCli(['link', 'down', 'sw1.Vx1'], { stateDir: f().stateDir });
    expect(r.code, r.stderr).to.equal(0);
    try {
      const s = await f().status('sw1');
      expect(s.ports.find((p: any) => p.name === 'Vx1').up).to.equal(false);
      expect(s.links.find((l: any) => l.local === 'Vx1')).to.include({ carrier: false, adminUp: false });
      const heard = peer!.rxFrames;
      expect(await pingsAcross(2)).to.equal(0);
      expect(peer!.rxFrames, 'nothing left through the tunnel').to.equal(heard);
    } finally {
      await runCli(['link', 'up', 'sw1.Vx1'], { stateDir: f().stateDir });
    }
    expect(await pingsAcross()).to.equal(3);
  });

  it('shutdown on the tunnel port stops its frames; no shutdown brings it back', async () => {
    await f().call('sw1', 'POST', '/control/ports/Vx1/shutdown', { shutdown: true });
    try {
      expect(await pingsAcross(2)).to.equal(0);
    } finally {
      await f().call('sw1', 'POST', '/control/ports/Vx1/shutdown', { shutdown: false });
    }
    expect(await pingsAcross()).to.equal(3);
  });

  it('an impairment on the tunnel port (100% loss out) drops what the switch sends into it, counted; cleared, pings pass', async () => {
    await f().call('sw1', 'POST', '/control/links/Vx1/impair', { lossPercent: 100, direction: 'tx' });
    try {
      expect(await pingsAcross(2)).to.equal(0);
      const link = (await f().status('sw1')).links.find((l: any) => l.local === 'Vx1');
      expect(link.impairment.lostTx).to.be.above(0);
      expect(link.impairment.lostRx).to.equal(0);
    } finally {
      await f().call('sw1', 'POST', '/control/links/Vx1/impair', {});
    }
    expect(await pingsAcross()).to.equal(3);
  });

  it('a flap on the tunnel port takes it down and up on schedule (carrier events on the switch)', async () => {
    const since = Math.max(0, ...(await f().call('sw1', 'GET', '/control/events?since=0')).events.map((e: any) => e.seq));
    await f().call('sw1', 'POST', '/control/links/Vx1/flap', { schedule: [{ atMs: 0, up: false }, { atMs: 300, up: true }] });
    const carrier = await waitFor(async () => {
      const events = (await f().call('sw1', 'GET', `/control/events?since=${since}`)).events.filter((e: any) => e.type === 'carrier' && e.port === 'Vx1');
      return events.length >= 2 ? events : undefined;
    }, 'Vx1 down and up again', 5_000);
    expect(carrier.slice(0, 2).map((e: any) => e.up)).to.deep.equal([false, true]);
    expect(await pingsAcross(1)).to.equal(1);
  });

  it('a capture on the tunnel port sees the frames both ways', async () => {
    const file = path.join(dir, 'vx1.pcap');
    const session = await startCapture(f().state, ['sw1.Vx1'], file, 'pcap');
    const received = await pingsAcross(3);
    const result = await session.stop();
    expect(received).to.equal(3);
    // 3 echo requests out, 3 replies in (ARP may add more)
    expect(result.frames).to.be.at.least(6);
    const pcap = fs.readFileSync(file);
    expect(pcap.includes(Buffer.from(PEER_MAC.replace(/:/g, ''), 'hex')), 'the guest behind the tunnel is in the capture').to.equal(true);
  });

  it('vfab fault restart sw1: the switch opens its tunnel again (localPort 0: a new free port, in status)', async () => {
    const r = await runCli(['fault', 'restart', 'sw1'], { stateDir: f().stateDir, timeoutMs: 30_000 });
    expect(r.code, r.stderr).to.equal(0);
    const vx = (await f().status('sw1')).ports.find((p: any) => p.name === 'Vx1').vxlan;
    peer!.connect(vx.boundPort);
    expect(await peer!.ping('192.0.2.11', 3, 500)).to.equal(3);
  });

  it('malformed datagrams and unknown VNIs are dropped and counted at the socket; the switch keeps forwarding', async () => {
    const before = (await f().status('sw1')).vxlanSockets[0].counters.rxDrops;
    peer!.sendRaw(Buffer.from([1, 2, 3]));
    peer!.sendRaw(emitVxlan(VNI + 1, Buffer.alloc(60)));
    peer!.sendRaw(Buffer.alloc(70)); // no I flag
    await new Promise((r) => setTimeout(r, 200));
    const after = (await f().status('sw1')).vxlanSockets[0].counters.rxDrops;
    expect(after.short - before.short).to.equal(1);
    expect(after['unknown-vni'] - before['unknown-vni']).to.equal(1);
    expect(after['no-i-flag'] - before['no-i-flag']).to.equal(1);
    expect(await pingsAcross(1)).to.equal(1);
  });
});

describe('e2e fabric: two fabrics joined by their VXLAN ports (as if on two machines), as trunks', function () {
  this.timeout(30_000);
  let dir = '';
  const fabs: TestFabric[] = [];

  before(async function () {
    this.timeout(FABRIC_UP_TIMEOUT_MS * 2);
    dir = makeTempDir('vfab-e2e-vxport2-');
    // each switch binds its own port and sends to the other's: fixed free ports, known before either starts
    const [portA, portB] = [await freeUdpPort(), await freeUdpPort()];
    const a = path.join(dir, 'a.yaml');
    const b = path.join(dir, 'b.yaml');
    fs.writeFileSync(a, vxlanTopology('vxport-a', portB, portA, undefined, true));
    fs.writeFileSync(b, vxlanTopology('vxport-b', portA, portB, { name: 'web2', ip: '192.0.2.12', mac: '00:50:56:00:10:02' }, true));
    fabs.push(await startFabric(a));
    fabs.push(await startFabric(b));
  });
  after(async function () {
    this.timeout(FABRIC_DOWN_TIMEOUT_MS * 2);
    for (const fab of fabs) await fab.down();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a VM of one fabric pings a VM of the other both ways; each switch learns the far VM on its tunnel port', async () => {
    const [a, b] = fabs as [TestFabric, TestFabric];
    expect((await a.ping('web1', '192.0.2.12', { count: 3 })).received).to.equal(3);
    expect((await b.ping('web2', '192.0.2.11', { count: 3 })).received).to.equal(3);
    expect((await a.call('sw1', 'GET', '/control/mac-table')).entries.find((e: any) => e.mac === '00:50:56:00:10:02')).to.include({ vlan: 10, port: 'Vx1' });
    expect((await b.call('sw1', 'GET', '/control/mac-table')).entries.find((e: any) => e.mac === '00:50:56:00:10:01')).to.include({ vlan: 10, port: 'Vx1' });
  });

  it('the tunnel ports are trunks: frames cross tagged with VLAN 10 (the capture shows the 802.1Q tag)', async () => {
    const [a] = fabs as [TestFabric, TestFabric];
    expect((await a.status('sw1')).ports.find((p: any) => p.name === 'Vx1')).to.deep.include({ mode: 'trunk', vlans: '10' });
    const file = path.join(dir, 'trunk.pcap');
    const session = await startCapture(a.state, ['sw1.Vx1'], file, 'pcap');
    expect((await a.ping('web1', '192.0.2.12', { count: 2 })).received).to.equal(2);
    await session.stop();
    // TPID 0x8100, then PCP/DEI 0 and VID 10
    expect(fs.readFileSync(file).includes(Buffer.from('8100000a', 'hex')), 'tagged frames on the tunnel port').to.equal(true);
  });
});

describe('e2e fabric: a VXLAN port whose local UDP port is taken', function () {
  it('vfab up fails with VFAB_VXLAN_BIND naming the switch, the port and the address', async function () {
    this.timeout(FABRIC_UP_TIMEOUT_MS);
    const dir = makeTempDir('vfab-e2e-vxport3-');
    const holder = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => holder.bind(0, '127.0.0.1', () => resolve()));
    const taken = holder.address().port;
    try {
      const file = path.join(dir, 'taken.yaml');
      fs.writeFileSync(file, vxlanTopology('vxport-taken', 4789, taken));
      const e = await startFabric(file).then(
        async (fab) => {
          await fab.down();
          return undefined;
        },
        (err: unknown) => err as VfabError,
      );
      expect(e, 'the fabric must not start').to.be.instanceOf(VfabError);
      expect(e!.code).to.equal('VFAB_VXLAN_BIND');
      expect(e!.message).to.include(`switch sw1 port Vx1: cannot bind VXLAN socket 127.0.0.1:${taken}`);
    } finally {
      holder.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
