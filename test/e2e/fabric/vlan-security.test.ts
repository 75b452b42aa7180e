// End-to-end across real processes (2 hostd + 1 switchd, WebSocket links carrying real frames): VLAN
// reachability and isolation (spec §2.3, §2.5), VGT guest tagging on a 4095 port group (§2.1), and the
// security policy: forged transmits (§4.4), MAC address changes (§4.3), promiscuous mode (§4.2).
// Topology: topologies/e2e/security.yaml (one behaviour per VLAN, so tests share one fabric without
// disturbing each other). Leaves out teaming and failover (see cli.test.ts); captures only where they show a tag.

import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { startCapture } from '../../../daemons/fabric/capture-client.js';
import { requirePeerTool, runTshark, TSHARK_INSTALL_HINT } from '../../helpers/peer-tools.js';
import { buildFrame } from '../../../lib/wire/ethernet.js';
import { parseMac } from '../../../lib/wire/mac.js';
import { makeTempDir, waitFor, type TestFabric, useFabric } from '../helpers/fabric.js';

/** IEEE local experimental EtherType: no VM stack speaks it, so every delivery shows up as one count. */
const ETHERTYPE_EXPERIMENTAL = 0x88b5;
/** A MAC no VM of the topology owns. */
const FORGED_MAC = '00:50:56:3f:ee:01';

function probeFrameHex(dst: string, src: string, tagByte: number): string {
  return buildFrame({ dst: parseMac(dst), src: parseMac(src), etherType: ETHERTYPE_EXPERIMENTAL }, Buffer.alloc(46, tagByte)).toString('hex');
}

describe('e2e fabric: VLANs and security policy (topologies/e2e/security.yaml)', function () {
  this.timeout(30_000);
  let fab: TestFabric;

  useFabric('topologies/e2e/security.yaml', (f) => (fab = f));

  it('§2.2/§2.3 a ping within VLAN 10 crosses both hosts and the physical switch and gets replies', async () => {
    const r = await fab.ping('a10', '192.0.2.110', { count: 3 });
    expect(r.received).to.equal(3);
    const table = await fab.call('sw1', 'GET', '/control/mac-table');
    const a10 = table.entries.find((e: any) => e.mac === '00:50:56:00:01:0a');
    expect(a10, 'sw1 learned a10').to.include({ vlan: 10, port: 'Gi1/0/1' });
    expect(table.entries.find((e: any) => e.mac === '00:50:56:00:02:0a')).to.include({ vlan: 10, port: 'Gi1/0/2' });
  });

  it('§2.5 VLANs are isolated: a10 (VLAN 10) cannot reach b20 (VLAN 20) in the same IP subnet, a20 can', async () => {
    const before = (await fab.vm('b20')).counters.arp.requestsReceived;
    const cross = await fab.ping('a10', '192.0.2.120', { count: 1, timeoutMs: 500 });
    expect(cross.received).to.equal(0);
    expect((await fab.vm('b20')).counters.arp.requestsReceived, "a10's ARP requests never reach VLAN 20").to.equal(before);
    const b20Arp = (await fab.vm('b20')).arp.map((e: any) => JSON.stringify(e)).join(' ');
    expect(b20Arp).not.to.include('192.0.2.10"');
    const same = await fab.ping('a20', '192.0.2.120', { count: 2 });
    expect(same.received).to.equal(2);
    const table = await fab.call('sw1', 'GET', '/control/mac-table');
    const a10Vlans = table.entries.filter((e: any) => e.mac === '00:50:56:00:01:0a').map((e: any) => e.vlan);
    expect(a10Vlans, 'a10 is known to sw1 only in VLAN 10').to.deep.equal([10]);
  });

  it('§4.4 forged transmits = reject: a frame with a forged source MAC is not delivered and counts forged_transmit', async () => {
    const t30Before = (await fab.vm('t30')).counters.drops.unsupportedEtherType;
    const esx1Before = (await fab.status('esx1')).vswitches[0].counters.drops.forged_transmit;
    const portBefore = (await fab.vmPort('forger')).counters.drops.forged_transmit;
    for (let i = 0; i < 3; i++) await fab.call('esx1', 'POST', '/control/vms/forger/raw', { frameHex: probeFrameHex('00:50:56:00:02:1e', FORGED_MAC, 0x30) });
    // a frame with its own source MAC goes through (the same path, so the drop above is the policy's)
    await fab.call('esx1', 'POST', '/control/vms/forger/raw', { frameHex: probeFrameHex('00:50:56:00:02:1e', '00:50:56:00:01:1e', 0x31) });
    await waitFor(async () => (await fab.vm('t30')).counters.drops.unsupportedEtherType === t30Before + 1, 'the honest frame to reach t30');
    const esx1 = (await fab.status('esx1')).vswitches[0];
    expect(esx1.counters.drops.forged_transmit - esx1Before).to.equal(3);
    expect((await fab.vmPort('forger')).counters.drops.forged_transmit - portBefore).to.equal(3);
    expect((await fab.vm('t30')).counters.drops.unsupportedEtherType - t30Before, 'only the honest frame arrived').to.equal(1);
    const table = await fab.call('sw1', 'GET', '/control/mac-table');
    expect(table.entries.map((e: any) => e.mac), 'the forged MAC never reached the physical switch').not.to.include(FORGED_MAC);
  });

  it('§4.4 forged transmits = accept: the forged frame is delivered across the fabric', async () => {
    const t30Before = (await fab.vm('t30')).counters.drops.unsupportedEtherType;
    const esx1Before = (await fab.status('esx1')).vswitches[0].counters.drops.forged_transmit;
    await fab.call('esx1', 'POST', '/control/vms/faker/raw', { frameHex: probeFrameHex('00:50:56:00:02:1e', FORGED_MAC, 0x32) });
    await waitFor(async () => (await fab.vm('t30')).counters.drops.unsupportedEtherType === t30Before + 1, 'the forged frame to reach t30');
    expect((await fab.status('esx1')).vswitches[0].counters.drops.forged_transmit).to.equal(esx1Before);
    const table = await fab.call('sw1', 'GET', '/control/mac-table');
    expect(table.entries.find((e: any) => e.mac === FORGED_MAC), 'sw1 learned the forged source on the esx1 port').to.include({ vlan: 30, port: 'Gi1/0/1' });
  });

  it('§4.3 MAC address changes = reject: after the guest changes its MAC the port receives nothing, until it changes back', async () => {
    expect((await fab.ping('mover', '192.0.2.140', { count: 1 })).received).to.equal(1);
    await fab.call('esx1', 'POST', '/control/vms/mover/mac', { mac: '00:50:56:00:01:99' });
    const port = await fab.vmPort('mover');
    expect(port.macChangeBlocked).to.equal(true);
    expect(port.effectiveMac).to.equal('00:50:56:00:01:99');
    const rxBefore = (await fab.vm('mover')).counters.rxFrames;
    const m40Before = (await fab.vm('m40')).counters.icmp.echoRepliesSent;
    const unknownBefore = (await fab.status('esx1')).vswitches[0].counters.drops.unknown_unicast_from_uplink;
    const r = await fab.ping('mover', '192.0.2.140', { count: 2, timeoutMs: 500 });
    expect(r.received).to.equal(0);
    // m40 answered (the requests left: forged transmits compares the effective MAC, §4.4) to the new
    // MAC, which the port is not registered under while the change is rejected: unknown unicast (§1.6).
    expect((await fab.vm('m40')).counters.icmp.echoRepliesSent - m40Before).to.equal(2);
    expect((await fab.status('esx1')).vswitches[0].counters.drops.unknown_unicast_from_uplink - unknownBefore).to.be.at.least(2);
    // Broadcasts are blocked too: m40 ARPs for an unused address; free (same VLAN) hears it, mover does not.
    const blockedBefore = (await fab.vmPort('mover')).counters.drops.mac_change_blocked;
    const freeBefore = (await fab.vm('free')).counters.arp.requestsReceived;
    await fab.ping('m40', '192.0.2.49', { count: 1, timeoutMs: 300 });
    await waitFor(async () => (await fab.vm('free')).counters.arp.requestsReceived > freeBefore, 'the ARP broadcast to reach esx1');
    expect((await fab.vmPort('mover')).counters.drops.mac_change_blocked, 'the broadcast was filtered at the port (§4.3)').to.be.above(blockedBefore);
    expect((await fab.vm('mover')).counters.rxFrames, 'the guest received nothing at all').to.equal(rxBefore);

    await fab.call('esx1', 'POST', '/control/vms/mover/mac', { mac: '00:50:56:00:01:28' });
    expect((await fab.vmPort('mover')).macChangeBlocked).to.equal(false);
    expect((await fab.ping('mover', '192.0.2.140', { count: 1 })).received).to.equal(1);
  });

  it('§4.3 MAC address changes = accept: the port follows the new MAC and keeps working', async () => {
    await fab.call('esx1', 'POST', '/control/vms/free/mac', { mac: '00:50:56:00:01:9a' });
    const port = await fab.vmPort('free');
    expect(port.macChangeBlocked).to.equal(false);
    expect(port.registeredMac).to.equal('00:50:56:00:01:9a');
    expect((await fab.ping('free', '192.0.2.140', { count: 2 })).received).to.equal(2);
    const table = await fab.call('sw1', 'GET', '/control/mac-table');
    expect(table.entries.find((e: any) => e.mac === '00:50:56:00:01:9a')).to.include({ vlan: 40, port: 'Gi1/0/1' });
  });

  it('§4.2 promiscuous: only an Accept port group whose guest enabled promiscuous mode sees unicast for others', async () => {
    // Accept alone changes nothing (the guest adapter is not promiscuous yet)
    const a0 = (await fab.vm('spyA')).counters.rxPromiscuousFrames;
    expect((await fab.ping('p2', '192.0.2.52', { count: 2 })).received).to.equal(2);
    expect((await fab.vm('spyA')).counters.rxPromiscuousFrames).to.equal(a0);

    await fab.call('esx1', 'POST', '/control/vms/spyA/promiscuous', { on: true });
    await fab.call('esx1', 'POST', '/control/vms/spyR/promiscuous', { on: true });
    expect((await fab.vmPort('spyA')).promiscuousEffective).to.equal(true);
    expect((await fab.vmPort('spyR')).promiscuousEffective, 'Reject overrides the guest').to.equal(false);
    const r0 = (await fab.vm('spyR')).counters;
    expect((await fab.ping('p2', '192.0.2.52', { count: 3 })).received).to.equal(3);
    // spyA saw at least the three requests to p1 and the three replies from p1 (unicast, not its MAC)
    await waitFor(async () => (await fab.vm('spyA')).counters.rxPromiscuousFrames >= a0 + 6, 'spyA to sniff the pings');
    const r1 = (await fab.vm('spyR')).counters;
    expect(r1.rxPromiscuousFrames).to.equal(0);
    expect(r1.rxFrames - r0.rxFrames, 'spyR got none of the unicast').to.equal(0);
  });

  it('§2.1 VGT: a guest tagging VLAN 60 on a 4095 port group reaches a VST VLAN-60 VM on the other host', async function () {
    requirePeerTool(this, 'tshark', TSHARK_INSTALL_HINT);
    const dir = makeTempDir('vfab-e2e-vgt-');
    try {
      const files = { vgt: path.join(dir, 'vgt.pcapng'), v60: path.join(dir, 'v60.pcap'), uplink: path.join(dir, 'esx1-vmnic0.pcapng') };
      const sessions = [
        await startCapture(fab.state, ['vgt.nic0'], files.vgt, 'pcapng'),
        await startCapture(fab.state, ['v60.nic0'], files.v60, 'pcap'),
        await startCapture(fab.state, ['esx1.vmnic0'], files.uplink, 'pcapng'),
      ];
      const r = await fab.ping('vgt', '192.0.2.160', { count: 2 });
      for (const s of sessions) await s.stop();
      expect(r.received).to.equal(2);
      const table = await fab.call('sw1', 'GET', '/control/mac-table');
      expect(table.entries.find((e: any) => e.mac === '00:50:56:00:01:3c')).to.include({ vlan: 60, port: 'Gi1/0/1' });
      // esx1's vSwitch registers the VGT port for every VLAN (4095): the guest's tag is passed through
      const esx1Mac = await fab.call('esx1', 'GET', '/control/mac-table');
      expect(esx1Mac.entries.find((e: any) => e.mac === '00:50:56:00:01:3c')).to.include({ vlan: 4095, portGroup: 'Trunk-4095' });
      for (const f of Object.values(files)) expect(runTshark(['-r', f, '-Y', '_ws.malformed']).trim(), f).to.equal('');
      const vids = (f: string) => runTshark(['-r', f, '-Y', 'icmp', '-T', 'fields', '-e', 'vlan.id']).split('\n').slice(0, -1);
      expect(vids(files.vgt), 'the guest itself sends and receives VID 60 (§2.2: VGT leaves as the guest sent it)').to.deep.equal(['60', '60', '60', '60']);
      expect(vids(files.uplink)).to.deep.equal(['60', '60', '60', '60']);
      expect(vids(files.v60), 'the VST guest sees untagged frames').to.deep.equal(['', '', '', '']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
