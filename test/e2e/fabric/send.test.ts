// End-to-end `vfab send` across real processes (2 hostd + 1 switchd, topologies/e2e/security.yaml):
// a forged source sent from a VM's vNIC is dropped and counted under Forged Transmits = Reject and leaves
// the uplink under Accept (spec §4.4); a pcap file replayed at a switch port (as if received there)
// arrives byte for byte at the far end of the other trunk, with the file's gaps kept under --timing.
// Leaves out option parsing (test/daemons and the CLI contract test) and the replay parser (test/capture).

import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { startCapture } from '../../../daemons/fabric/capture-client.js';
import { PcapWriter, readPcap } from '../../../lib/capture/index.js';
import { buildFrame, pushVlanTag } from '../../../lib/wire/ethernet.js';
import { parseMac } from '../../../lib/wire/mac.js';
import { cliInProcess } from '../helpers/cli-in-process.js';
import { makeTempDir, waitFor, type TestFabric, useFabric } from '../helpers/fabric.js';

/** MACs no VM of the topology owns. */
const FORGED_REJECT = '00:50:56:3f:5e:01';
const FORGED_ACCEPT = '00:50:56:3f:5e:02';
const T30_MAC = '00:50:56:00:02:1e';

describe('e2e fabric: vfab send (topologies/e2e/security.yaml)', function () {
  this.timeout(30_000);
  let fab: TestFabric;
  let dir: string;
  const saved = process.env.VFAB_STATE_DIR;

  useFabric('topologies/e2e/security.yaml', (f) => {
    fab = f;
    process.env.VFAB_STATE_DIR = f.stateDir;
  });
  before(() => (dir = makeTempDir('vfab-e2e-send-')));
  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
    if (saved === undefined) delete process.env.VFAB_STATE_DIR;
    else process.env.VFAB_STATE_DIR = saved;
  });

  /** Frames a capture file holds whose source MAC is `src` (none while the file ends in a partial record). */
  const framesFrom = (file: string, src: string) => {
    const r = readPcap(fs.readFileSync(file));
    if (!r.ok) return [];
    const mac = src.replace(/:/g, '');
    return r.value.packets.filter((p) => p.data.subarray(6, 12).toString('hex') === mac).map((p) => p.data);
  };

  it('§4.4 Reject: a forged source sent from the vNIC is dropped at the vSwitch port and counted, never reaching the uplink', async () => {
    const esx1Before = (await fab.status('esx1')).vswitches[0].counters.drops.forged_transmit;
    const portBefore = (await fab.vmPort('forger')).counters.drops.forged_transmit;
    const t30Before = (await fab.vm('t30')).counters.drops.unsupportedEtherType;
    const uplinkFile = path.join(dir, 'reject-uplink.pcap');
    const capture = await startCapture(fab.state, ['esx1.vmnic0'], uplinkFile, 'pcap');
    const r = await cliInProcess('send', ['forger.nic0', '--dst', T30_MAC, '--src', FORGED_REJECT, '--count', '3', '--json']);
    expect(r.code, r.text).to.equal(0);
    expect(r.json).to.include({ point: 'forger.nic0', daemon: 'esx1', frames: 3, bytes: 180 });
    // the honest frame on the same path afterwards: once it is at t30, the forged ones had their chance
    const honest = await cliInProcess('send', ['forger.nic0', '--dst', T30_MAC, '--src', '00:50:56:00:01:1e']);
    expect(honest.code, honest.text).to.equal(0);
    await waitFor(async () => (await fab.vm('t30')).counters.drops.unsupportedEtherType === t30Before + 1, 'the honest frame to reach t30');
    await waitFor(() => framesFrom(uplinkFile, '00:50:56:00:01:1e').length > 0, 'the honest frame in the uplink capture');
    await capture.stop();
    expect((await fab.status('esx1')).vswitches[0].counters.drops.forged_transmit - esx1Before, 'vSwitch drop counter').to.equal(3);
    expect((await fab.vmPort('forger')).counters.drops.forged_transmit - portBefore, 'port drop counter').to.equal(3);
    expect(framesFrom(uplinkFile, FORGED_REJECT), 'no forged frame on the uplink').to.have.length(0);
    expect(framesFrom(uplinkFile, '00:50:56:00:01:1e').length, 'the honest frame left by the uplink').to.be.greaterThan(0);
    const injected = await fab.call('esx1', 'GET', '/control/inject');
    expect(injected.points['forger.nic0']).to.deep.include({ frames: 4 });
  });

  it('§4.4 Accept: the same forged frame leaves the uplink, tagged for the port group\'s VLAN', async () => {
    const esx1Before = (await fab.status('esx1')).vswitches[0].counters.drops.forged_transmit;
    const uplinkFile = path.join(dir, 'accept-uplink.pcap');
    const capture = await startCapture(fab.state, ['esx1.vmnic0'], uplinkFile, 'pcap');
    const r = await cliInProcess('send', ['faker.nic0', '--dst', T30_MAC, '--src', FORGED_ACCEPT, '--count', '3', '--json']);
    expect(r.code, r.text).to.equal(0);
    await waitFor(() => framesFrom(uplinkFile, FORGED_ACCEPT).length >= 3, 'the forged frames on the uplink');
    await capture.stop();
    const out = framesFrom(uplinkFile, FORGED_ACCEPT);
    expect(out, 'three forged frames on the uplink').to.have.length(3);
    for (const f of out) expect(f.readUInt16BE(12) === 0x8100 && (f.readUInt16BE(14) & 0xfff), 'VLAN 30 tag').to.equal(30);
    expect((await fab.status('esx1')).vswitches[0].counters.drops.forged_transmit).to.equal(esx1Before);
  });

  it('a pcap replayed at sw1.Gi1/0/1 with --timing arrives byte for byte at esx2.vmnic0, gaps kept', async () => {
    // three sizes, each tagged for a VLAN the trunks carry; unknown destination: flooded to the other trunk
    const src = '00:50:56:3f:5e:10';
    const frame = (vlan: number, size: number, fill: number) =>
      pushVlanTag(buildFrame({ dst: parseMac('00:50:56:3f:5e:ff'), src: parseMac(src), etherType: 0x88b5 }, Buffer.alloc(size - 14, fill)), vlan);
    const sent = [frame(10, 60, 0xa1), frame(30, 333, 0xa2), frame(50, 1514, 0xa3)];
    const pcapFile = path.join(dir, 'replay.pcap');
    const chunks: Buffer[] = [];
    const w = new PcapWriter((c) => chunks.push(Buffer.from(c)));
    const t0 = 1_700_000_000_000_000_000n;
    [0n, 150_000_000n, 300_000_000n].forEach((offset, i) => w.writeFrame(t0 + offset, sent[i]!));
    fs.writeFileSync(pcapFile, Buffer.concat(chunks));
    const farFile = path.join(dir, 'far-end.pcap');
    const capture = await startCapture(fab.state, ['esx2.vmnic0'], farFile, 'pcap');
    const started = performance.now();
    const r = await cliInProcess('send', ['sw1.Gi1/0/1', '--pcap', pcapFile, '--timing', '--json']);
    const tookMs = performance.now() - started;
    expect(r.code, r.text).to.equal(0);
    expect(r.json).to.include({ frames: 3, bytes: sent.reduce((n, f) => n + f.length, 0) });
    expect(tookMs, 'the file spans 300 ms: --timing keeps it').to.be.at.least(290);
    // the capture file grows as frames arrive (after the capture's reorder window)
    await waitFor(() => framesFrom(farFile, src).length >= sent.length, 'the replayed frames at esx2.vmnic0');
    await capture.stop();
    const got = framesFrom(farFile, src);
    expect(got.map((f) => f.toString('hex')), 'byte for byte, in order').to.deep.equal(sent.map((f) => f.toString('hex')));
    const table = await fab.call('sw1', 'GET', '/control/mac-table');
    expect(table.entries.filter((e: any) => e.mac === src).map((e: any) => `${e.vlan}@${e.port}`).sort(), 'learned where it was injected').to.deep.equal(['10@Gi1/0/1', '30@Gi1/0/1', '50@Gi1/0/1']);
  });

  it('refuses an unknown point naming the ones there are (exit 2)', async () => {
    const r = await cliInProcess('send', ['sw1.Gi9/9', '--hex', 'ffffffffffff00505600000188b5']);
    expect(r.error?.code).to.equal('VFAB_INJECT_NOT_FOUND');
    expect(r.error?.message).to.include('sw1.Gi1/0/1');
  });
});
