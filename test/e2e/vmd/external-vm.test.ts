// End-to-end: VMs that run outside their host daemon (topologies/external-vm.yaml). Real processes on
// 127.0.0.1: sw1, esx1, esx2 and a vm daemon (daemons/vmd.ts) per external VM, linked by WebSockets.
// Covers: pings between an external VM and an internal VM on another host, both ways (and through the
// vfab CLI); forged transmits from the external VM dropped by the vSwitch (spec §4.4); a guest MAC change
// reaching the port (§4.3); killing the vmd takes its port's carrier down (frames to it dropped and
// counted), a restarted vmd reconnects; and a bare WebSocket client speaking docs/link-protocol.md
// ("Attaching a VM") attaches as raw1's vNIC and exchanges ARP with an internal VM.

import { expect } from 'chai';
import path from 'node:path';
import { WebSocket } from 'ws';
import { spawnDaemon, stopDaemons } from '../../../daemons/fabric/process.js';
import { LinkEncoder, parseLinkMessage, LINK_PROTOCOL_VERSION, type LinkRecord } from '../../../lib/link/codec.js';
import { buildArpRequest, buildArpFrame, ARP_OP_REPLY, ARP_OP_REQUEST, ARP_HTYPE_ETHERNET, ARP_PTYPE_IPV4, buildGratuitousArp } from '../../../lib/wire/arp.js';
import { buildFrame, ETHERTYPE_ARP } from '../../../lib/wire/ethernet.js';
import { parseMac, readMac } from '../../../lib/wire/mac.js';
import { parseIpv4Address } from '../../../lib/wire/ipv4.js';
import { runCli, trackPids, waitFor, type TestFabric, useFabric } from '../helpers/fabric.js';

const EXT1_MAC = '00:50:56:00:0e:01';
const RAW1_MAC = parseMac('00:50:56:00:0e:02');
const WEB1_MAC = parseMac('00:50:56:00:10:01');
const FORGED_MAC = '00:50:56:3f:ee:02';
/** IEEE local experimental EtherType: no VM stack speaks it, so each delivery shows up as one count. */
const ETHERTYPE_EXPERIMENTAL = 0x88b5;

describe('e2e external VMs: vmd attached to its vSwitch port over WebSocket (topologies/external-vm.yaml)', function () {
  this.timeout(30_000);
  let fab: TestFabric;

  useFabric('topologies/external-vm.yaml', (f) => (fab = f));

  /** esx1's vSwitch port of `vm`'s nic0. */
  async function esx1Port(vm: string): Promise<any> {
    const st = await fab.status('esx1');
    return st.vswitches[0].ports.find((p: any) => p.name === `${vm}.nic0`);
  }
  async function esx1Link(local: string): Promise<any> {
    return (await fab.status('esx1')).links.find((l: any) => l.local === local);
  }

  it('runs each external VM as its own vm daemon, routed by the state file; links counted by vfab up', async () => {
    const ext1 = fab.daemon('ext1');
    expect(ext1.kind).to.equal('vm');
    expect(fab.state.vmHosts.ext1, 'guest routes go to the vm daemon').to.equal('ext1');
    expect(fab.state.externalVmHosts?.ext1, 'ports and captures stay at the host').to.equal('esx1');
    const st = await fab.status('ext1');
    expect(st.kind).to.equal('vm');
    expect(st.links).to.have.length(1);
    expect(st.links[0]).to.include({ local: 'nic0', peer: 'esx1.ext1.nic0', carrier: true });
    expect((await esx1Link('ext1.nic0')).carrier).to.equal(true);
    expect((await esx1Port('ext1')).blocked).to.equal(false);
  });

  it('§2.3 the external VM pings an internal VM on the other host and is pinged back', async () => {
    const out = await fab.ping('ext1', '192.0.2.12', { count: 3 });
    expect(out).to.include({ vm: 'ext1', nic: 'nic0', sourceIp: '192.0.2.21', received: 3 });
    const back = await fab.ping('web2', '192.0.2.21', { count: 3 });
    expect(back.received).to.equal(3);
    const table = await fab.call('sw1', 'GET', '/control/mac-table');
    expect(table.entries.find((e: any) => e.mac === EXT1_MAC), 'sw1 learned ext1 behind esx1').to.include({ vlan: 10, port: 'Gi1/0/1' });
    const st = await fab.status('ext1');
    expect(st.vms[0].counters.icmp.echoRepliesReceived).to.be.at.least(3);
    expect(st.vms[0].counters.icmp.echoRequestsReceived).to.be.at.least(3);
  });

  it('vfab ping and vfab status reach the vm daemon through the state file', async function () {
    const ping = await runCli(['ping', 'ext1', '192.0.2.11', '--count', '1'], { stateDir: fab.stateDir });
    expect(ping.code, ping.stderr).to.equal(0);
    expect(ping.out).to.match(/from ext1\.nic0 \(192\.0\.2\.21\)/);
    expect(ping.out).to.match(/1 received/);
    const status = await runCli(['status', 'ext1'], { stateDir: fab.stateDir });
    expect(status.code, status.stderr).to.equal(0);
    expect(status.out).to.match(/vm ext1 .*running/);
    expect(status.out).to.include('esx1.ext1.nic0');
  });

  it('§4.4 forged transmits = reject: frames the external guest sends with a foreign source MAC are dropped at its port', async () => {
    const web2Before = (await fab.vm('web2')).counters.drops.unsupportedEtherType;
    const portBefore = (await esx1Port('ext1')).counters.drops.forged_transmit;
    const forged = buildFrame({ dst: parseMac('00:50:56:00:10:02'), src: parseMac(FORGED_MAC), etherType: ETHERTYPE_EXPERIMENTAL }, Buffer.alloc(46, 0x30)).toString('hex');
    for (let i = 0; i < 3; i++) await fab.call('ext1', 'POST', '/control/vms/ext1/raw', { frameHex: forged });
    const honest = buildFrame({ dst: parseMac('00:50:56:00:10:02'), src: parseMac(EXT1_MAC), etherType: ETHERTYPE_EXPERIMENTAL }, Buffer.alloc(46, 0x31)).toString('hex');
    await fab.call('ext1', 'POST', '/control/vms/ext1/raw', { frameHex: honest });
    await waitFor(async () => (await fab.vm('web2')).counters.drops.unsupportedEtherType === web2Before + 1, 'the honest frame to reach web2');
    expect((await esx1Port('ext1')).counters.drops.forged_transmit - portBefore).to.equal(3);
    expect((await fab.vm('web2')).counters.drops.unsupportedEtherType - web2Before, 'only the honest frame arrived').to.equal(1);
    const table = await fab.call('sw1', 'GET', '/control/mac-table');
    expect(table.entries.map((e: any) => e.mac), 'the forged MAC never reached sw1').not.to.include(FORGED_MAC);
  });

  it('§4.3 a MAC change inside the vmd guest is programmed into its port (MAC changes = reject blocks receive), and reverted', async () => {
    await fab.call('ext1', 'POST', '/control/vms/ext1/mac', { mac: '00:50:56:00:0e:77' });
    let port = await esx1Port('ext1');
    expect(port.effectiveMac).to.equal('00:50:56:00:0e:77');
    expect(port.macChangeBlocked).to.equal(true);
    await fab.call('ext1', 'POST', '/control/vms/ext1/mac', { mac: EXT1_MAC });
    port = await esx1Port('ext1');
    expect(port.effectiveMac).to.equal(EXT1_MAC);
    expect(port.macChangeBlocked).to.equal(false);
    expect((await fab.ping('ext1', '192.0.2.11', { count: 1 })).received).to.equal(1);
  });

  it('killing the vmd takes its port carrier down (frames to it dropped, counted); a restarted vmd reconnects', async function () {
    this.timeout(45_000);
    const rec = fab.daemon('ext1');
    await stopDaemons([{ ...rec }]);
    await waitFor(async () => (await esx1Link('ext1.nic0')).carrier === false, 'esx1 to see ext1.nic0 carrier down');
    expect((await esx1Port('ext1')).blocked).to.equal(true);
    const blockedBefore = (await esx1Port('ext1')).counters.drops.port_blocked;
    const r = await fab.ping('web1', '192.0.2.21', { count: 2, timeoutMs: 300 });
    expect(r.received).to.equal(0);
    expect((await esx1Port('ext1')).counters.drops.port_blocked - blockedBefore, 'web1 frames to ext1 dropped at the blocked port').to.be.at.least(2);
    // restart from the same config file (it holds the host's URL): same name, new process
    const restarted = await spawnDaemon({
      name: 'ext1', kind: 'vm', token: fab.state.token, detached: false,
      args: ['--config', path.join(fab.state.runDir, 'ext1.json'), '--name', 'ext1'],
      logFile: rec.logFile,
    });
    trackPids([restarted.pid]);
    Object.assign(rec, restarted); // fab.down() stops the new PID
    await waitFor(async () => (await esx1Link('ext1.nic0')).carrier === true, 'ext1.nic0 carrier up again');
    expect((await esx1Port('ext1')).blocked).to.equal(false);
    expect((await fab.ping('ext1', '192.0.2.12', { count: 2 })).received).to.equal(2);
    expect((await fab.ping('web1', '192.0.2.21', { count: 2 })).received).to.equal(2);
  });

  describe('a bare WebSocket client attaches as raw1.nic0 (docs/link-protocol.md "Attaching a VM")', () => {
    let ws: WebSocket | undefined;
    const received: LinkRecord[] = [];

    before(async function () {
      // raw1's own vm daemon steps aside (by PID); the client takes its place
      await stopDaemons([{ ...fab.daemon('raw1') }]);
      await waitFor(async () => (await esx1Link('raw1.nic0')).carrier === false, 'raw1.nic0 carrier down');
    });

    after(() => ws?.terminate());

    const send = (fill: (enc: LinkEncoder) => void) => {
      const enc = new LinkEncoder();
      fill(enc);
      for (const m of enc.take()) ws!.send(m);
    };

    it('a wrong token is refused with HTTP 401', async () => {
      const bad = new WebSocket(`ws://127.0.0.1:${fab.daemon('esx1').port}/link/raw1.nic0`, { headers: { Authorization: 'Bearer nope' } });
      const status = await new Promise<number>((resolve) => {
        bad.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        bad.on('open', () => resolve(101));
        bad.on('error', () => undefined);
      });
      bad.terminate();
      expect(status).to.equal(401);
    });

    it('HELLO + CARRIER bring the port up; the client ARPs for web1 and answers web1\'s ARP for 192.0.2.22', async () => {
      ws = new WebSocket(`ws://127.0.0.1:${fab.daemon('esx1').port}/link/raw1.nic0`, { headers: { Authorization: `Bearer ${fab.state.token}` }, perMessageDeflate: false });
      ws.binaryType = 'nodebuffer';
      ws.on('message', (data: Buffer) => {
        const parsed = parseLinkMessage(data);
        if (!parsed.ok) return;
        for (const rec of parsed.value) {
          received.push(rec.type === 'frame' ? { type: 'frame', frame: Buffer.from(rec.frame) } : rec);
          // answer "who has 192.0.2.22" like a guest would
          if (rec.type === 'frame' && rec.frame.readUInt16BE(12) === ETHERTYPE_ARP && rec.frame.readUInt16BE(20) === ARP_OP_REQUEST && rec.frame.readUInt32BE(38) === parseIpv4Address('192.0.2.22')) {
            const reply = buildArpFrame(readMac(rec.frame, 6), RAW1_MAC, ETHERTYPE_ARP, {
              htype: ARP_HTYPE_ETHERNET, ptype: ARP_PTYPE_IPV4, op: ARP_OP_REPLY, sha: RAW1_MAC, spa: parseIpv4Address('192.0.2.22'), tha: readMac(rec.frame, 22), tpa: rec.frame.readUInt32BE(28),
            });
            send((e) => e.appendFrame(reply));
          }
        }
      });
      await new Promise<void>((resolve, reject) => {
        ws!.once('open', () => resolve());
        ws!.once('error', reject);
      });
      send((e) => {
        e.appendHello(LINK_PROTOCOL_VERSION, 'raw1-client');
        e.appendCarrier(true, 0);
      });
      await waitFor(() => received.some((r) => r.type === 'carrier' && r.up), "the host's CARRIER(up)");
      const hello = received.find((r) => r.type === 'hello') as Extract<LinkRecord, { type: 'hello' }>;
      expect(hello, 'the host says HELLO first').to.include({ version: 1, endpointName: 'raw1.nic0' });
      await waitFor(async () => (await esx1Link('raw1.nic0')).carrier === true, 'esx1 to see raw1.nic0 carrier up');
      expect((await esx1Port('raw1')).blocked).to.equal(false);

      send((e) => {
        e.appendFrame(buildGratuitousArp(RAW1_MAC, '192.0.2.22'));
        e.appendFrame(buildArpRequest(RAW1_MAC, '192.0.2.22', '192.0.2.11'));
      });
      const reply = (await waitFor(
        () => received.find((r) => r.type === 'frame' && r.frame.readUInt16BE(12) === ETHERTYPE_ARP && r.frame.readUInt16BE(20) === ARP_OP_REPLY) as Extract<LinkRecord, { type: 'frame' }> | undefined,
        "web1's ARP reply",
      ))!;
      expect(readMac(reply.frame, 22), 'sender MAC = web1').to.equal(WEB1_MAC);
      expect(reply.frame.readUInt32BE(28), 'sender IP 192.0.2.11').to.equal(parseIpv4Address('192.0.2.11'));
      expect(readMac(reply.frame, 0), 'sent to the client').to.equal(RAW1_MAC);

      // web1 pings 192.0.2.22: the client answers the ARP (not the ICMP), so web1's ARP table learns raw1
      await fab.ping('web1', '192.0.2.22', { count: 1, timeoutMs: 300 });
      const web1 = await fab.vm('web1');
      expect(web1.arp.find((e: any) => e.ip === '192.0.2.22'), "web1's ARP entry for raw1").to.include({ mac: '00:50:56:00:0e:02' });
    });

    it('closing the client takes the port down again (carrier follows the connection)', async () => {
      ws!.close();
      await waitFor(async () => (await esx1Link('raw1.nic0')).carrier === false, 'raw1.nic0 carrier down');
      expect((await esx1Port('raw1')).blocked).to.equal(true);
    });
  });
});
