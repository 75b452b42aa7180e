// End-to-end across real processes (2 hostd + 1 switchd from dist/, WebSocket links carrying real frames,
// port 0): the two hosts' management vmkernel ports (topologies/e2e/vmkernel.yaml) ping each other with
// `vfab ping esx1.vmk0 ...` across the physical switch on VLAN 30, the switch learns vmk0's MAC in VLAN 30
// only, a VLAN 10 address in the same subnet stays unreachable, `vfab status` lists the ports, and a live
// capture at esx1.vmk0 sees the echo. Leaves out teaming (unit tests in test/host/vmkernel.test.ts).

import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { makeTempDir, runCli, type TestFabric, useFabric } from '../helpers/fabric.js';
import { startCapture } from '../../../daemons/fabric/capture-client.js';

describe('e2e fabric: vmkernel ports (topologies/e2e/vmkernel.yaml)', function () {
  this.timeout(30_000);
  let fab: TestFabric;

  useFabric('topologies/e2e/vmkernel.yaml', (f) => (fab = f));

  it('vfab ping esx1.vmk0 reaches esx2.vmk0 across sw1 on VLAN 30, and back', async () => {
    const r = await runCli(['ping', 'esx1.vmk0', '10.0.0.12', '-c', '3', '--interval-ms', '50', '--json'], { stateDir: fab.stateDir });
    expect(r.code, r.stderr).to.equal(0);
    const result = JSON.parse(r.out);
    expect(result).to.deep.include({ vm: 'esx1', nic: 'vmk0', sourceIp: '10.0.0.11', received: 3 });
    const back = await runCli(['ping', 'esx2.vmk0', '10.0.0.11', '-c', '1'], { stateDir: fab.stateDir });
    expect(back.code, back.stderr).to.equal(0);
    expect(back.out).to.match(/PING 10\.0\.0\.11 from esx2\.vmk0 \(10\.0\.0\.12\)/);
    const table = await fab.call('sw1', 'GET', '/control/mac-table');
    const at = (mac: string) => table.entries.filter((e: any) => e.mac === mac).map((e: any) => [e.vlan, e.port]);
    expect(at('00:50:56:6a:00:12'), "sw1 learned esx2.vmk0's MAC in VLAN 30 only").to.deep.equal([[30, 'Gi1/0/2']]);
    const esx1 = (await fab.status('esx1')).vmkernels[0];
    expect(at(esx1.mac)).to.deep.equal([[30, 'Gi1/0/1']]);
  });

  it('§2.5 a VM in the same subnet on VLAN 10 is unreachable from vmk0 (exit 1), its ARP never arrives', async () => {
    expect((await runCli(['ping', 'esx1.vmk0', '10.0.0.12', '-c', '1'], { stateDir: fab.stateDir })).code, 'vmk0 itself works').to.equal(0);
    const r = await runCli(['ping', 'esx1.vmk0', '10.0.0.50', '-c', '1', '--timeout-ms', '300'], { stateDir: fab.stateDir });
    expect(r.code, r.out + r.stderr).to.equal(1);
    expect((await fab.vm('vm10')).counters.arp.requestsReceived).to.equal(0);
    const back = await runCli(['ping', 'vm10.nic0', '10.0.0.12', '-c', '1', '--timeout-ms', '300'], { stateDir: fab.stateDir });
    expect(back.code, 'nor the VM the vmk (SOURCE written <vm>.<nic>)').to.equal(1);
    expect(back.out).to.match(/PING 10\.0\.0\.12 from vm10\.nic0 \(10\.0\.0\.50\)/);
  });

  it('vfab status shows each host\'s vmk ports with IP, MAC, port group and uplink', async () => {
    const r = await runCli(['status', 'esx2'], { stateDir: fab.stateDir });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.out).to.match(/VMkernel ports:/);
    expect(r.out).to.match(/vmk0\s+10\.0\.0\.12\/24\s+00:50:56:6a:00:12\s+Management Network\s+\d+\s+vmnic0\s+management/);
    const st = await fab.status('esx1');
    expect(st.vmkernels[0]).to.deep.include({ endpoint: 'esx1.vmk0', ip: '10.0.0.11/24', up: true, uplink: 'vmnic0' });
    expect(st.vmkernels[0].mac).to.match(/^00:50:56:[4-7][0-9a-f]:/);
    expect(st.vmkernelStack.stack.icmp.echoRepliesReceived, 'the pings above, counted by the kernel stack').to.be.at.least(3);
  });

  it('a capture at esx1.vmk0 sees the echo request and reply, untagged', async () => {
    const dir = makeTempDir('vfab-e2e-vmk-');
    try {
      const file = path.join(dir, 'vmk0.pcap');
      const session = await startCapture(fab.state, ['esx1.vmk0'], file, 'pcap');
      const r = await runCli(['ping', 'esx1.vmk0', '10.0.0.12', '-c', '2', '--interval-ms', '50'], { stateDir: fab.stateDir });
      expect(r.code, r.stderr).to.equal(0);
      await new Promise((res) => setTimeout(res, 300));
      const result = await session.stop();
      expect(result.frames).to.be.at.least(4);
      const frames = pcapFrames(fs.readFileSync(file));
      const icmp = frames.filter((f) => f.readUInt16BE(12) === 0x0800 && f[23] === 1);
      expect(icmp.map((f) => f[34]), 'echo requests (8) and replies (0)').to.include.members([8, 0]);
      expect(frames.every((f) => f.readUInt16BE(12) !== 0x8100), 'what the vmk sees is untagged').to.equal(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an unknown vmk is a usage error naming the host\'s ports (exit 2)', async () => {
    const r = await runCli(['ping', 'esx1.vmk9', '10.0.0.12', '-c', '1'], { stateDir: fab.stateDir });
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/host esx1 has no vmkernel port vmk9 \(has: vmk0\)/);
  });
});

/** The frames of a classic pcap file (little-endian, as vfab writes it). */
function pcapFrames(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 24; at + 16 <= buf.length;) {
    const len = buf.readUInt32LE(at + 8);
    out.push(buf.subarray(at + 16, at + 16 + len));
    at += 16 + len;
  }
  return out;
}
