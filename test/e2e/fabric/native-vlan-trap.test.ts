// End-to-end across real processes: the native-VLAN trap of spec §2.6 on topologies/native-vlan-trap.yaml.
// sw1 Gi1/0/1 is a trunk to esx1 with native VLAN 10. `trapped` sits on a VST port group with VLAN 10
// (tagged out, expects tagged in) and gets no replies; `fixed` sits on a VLAN-0 port group and works.
// The tests show *why* with the counters and tables the daemons expose: the replies come back untagged
// and the vSwitch hands untagged frames only to VLAN-0 port groups (§2.3). Leaves out the validation
// tool's finding (another suite).

import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { startCapture } from '../../../daemons/fabric/capture-client.js';
import { hasPeerTool, requirePeerTool, runTshark, TSHARK_INSTALL_HINT } from '../../helpers/peer-tools.js';
import { FABRIC_DOWN_TIMEOUT_MS, FABRIC_UP_TIMEOUT_MS, makeTempDir, startFabric, type TestFabric } from '../helpers/fabric.js';

const TRAPPED_MAC = '00:50:56:00:0a:01';
const FIXED_MAC = '00:50:56:00:0a:02';
const PEER_IP = '192.0.2.20';

describe('e2e fabric: the native VLAN trap (topologies/native-vlan-trap.yaml, spec §2.6)', function () {
  this.timeout(30_000);
  let fab: TestFabric;
  const dir = makeTempDir('vfab-e2e-trap-');

  before(async function () {
    this.timeout(FABRIC_UP_TIMEOUT_MS);
    fab = await startFabric('topologies/native-vlan-trap.yaml');
  });

  after(async function () {
    this.timeout(FABRIC_DOWN_TIMEOUT_MS);
    await fab?.down();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('§2.6 the VST port group on the native VLAN gets no replies: they arrive untagged and miss the VLAN-10 port group', async function () {
    const vsBefore = (await fab.status('esx1')).vswitches[0].counters;
    const trappedBefore = (await fab.vm('trapped')).counters;
    const file = path.join(dir, 'esx1-vmnic0.pcapng');
    const capture = await startCapture(fab.state, ['esx1.vmnic0'], file, 'pcapng');
    const r = await fab.ping('trapped', PEER_IP, { count: 2, timeoutMs: 500 });
    await capture.stop();
    expect(r.received).to.equal(0);

    // The tagged requests did reach peer (sw1 accepts a frame tagged with the native VLAN) and peer answered.
    const peer = (await fab.vm('peer')).counters;
    expect(peer.arp.requestsReceived, 'peer heard the ARP requests').to.be.above(0);
    expect(peer.arp.repliesSent, 'peer answered them').to.be.above(0);
    // ... and sw1 learned trapped's MAC in VLAN 10 on the esx1 trunk, "as if all were well".
    const table = await fab.call('sw1', 'GET', '/control/mac-table');
    expect(table.entries.find((e: any) => e.mac === TRAPPED_MAC)).to.include({ vlan: 10, port: 'Gi1/0/1' });

    // The replies left sw1 untagged (native VLAN) and esx1's vSwitch found no VLAN-0 port with trapped's MAC.
    const vs = (await fab.status('esx1')).vswitches[0].counters;
    expect(vs.drops.unknown_unicast_from_uplink - vsBefore.drops.unknown_unicast_from_uplink, 'untagged replies to trapped dropped (§1.6, §2.3)').to.be.above(0);
    const trapped = (await fab.vm('trapped')).counters;
    expect(trapped.arp.repliesReceived - trappedBefore.arp.repliesReceived, 'no ARP reply ever reached trapped').to.equal(0);

    // On the wire (esx1.vmnic0): requests leave tagged VID 10, the replies come back untagged.
    if (!hasPeerTool('tshark')) return requirePeerTool(this, 'tshark', TSHARK_INSTALL_HINT);
    expect(runTshark(['-r', file, '-Y', '_ws.malformed']).trim()).to.equal('');
    const rows = runTshark(['-r', file, '-Y', 'arp', '-T', 'fields', '-e', 'arp.opcode', '-e', 'vlan.id']).split('\n').filter(Boolean);
    expect(rows.filter((l) => l.startsWith('1')).length, 'ARP requests seen').to.be.above(0);
    for (const l of rows.filter((x) => x.startsWith('1'))) expect(l, 'request tagged VID 10').to.equal('1\t10');
    expect(rows.filter((l) => l.startsWith('2')).length, 'ARP replies seen').to.be.above(0);
    for (const l of rows.filter((x) => x.startsWith('2'))) expect(l, 'reply untagged (native VLAN)').to.equal('2\t');
  });

  it('§2.6 the fix: the VLAN-0 port group reaches the native VLAN and pings work', async () => {
    const r = await fab.ping('fixed', PEER_IP, { count: 3 });
    expect(r.received).to.equal(3);
    const table = await fab.call('sw1', 'GET', '/control/mac-table');
    expect(table.entries.find((e: any) => e.mac === FIXED_MAC), 'untagged frames from esx1 land in native VLAN 10').to.include({ vlan: 10, port: 'Gi1/0/1' });
    expect(table.entries.find((e: any) => e.mac === '00:50:56:00:0a:10')).to.include({ vlan: 10, port: 'Gi1/0/10' });
  });

  it('§2.3 esx1 keys trapped under VLAN 10 and fixed under VLAN 0: untagged frames only ever look in VLAN 0', async () => {
    const esx1 = await fab.status('esx1');
    const ports = esx1.vswitches[0].ports;
    expect(ports.find((p: any) => p.effectiveMac === TRAPPED_MAC)).to.include({ vlanId: 10, portGroup: 'Trap-10' });
    expect(ports.find((p: any) => p.effectiveMac === FIXED_MAC)).to.include({ vlanId: 0, portGroup: 'Native' });
    const hostTable = await fab.call('esx1', 'GET', '/control/mac-table');
    expect(hostTable.entries.find((e: any) => e.mac === TRAPPED_MAC).vlan, "the vSwitch keys trapped under VLAN 10, where untagged replies never look").to.equal(10);
    expect(hostTable.entries.find((e: any) => e.mac === FIXED_MAC).vlan).to.equal(0);
  });
});
