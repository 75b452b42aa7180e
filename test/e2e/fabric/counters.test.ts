// End to end across real processes (scenarios/topologies/forged-lab.yaml: esx1 with web1 behind a Forged
// Transmits = Reject port group, esx2 with peer, sw1 between them): `vfab counters` shows a forged
// frame's drop at web1's vSwitch port by reason and the frames an honest one puts on the uplink and the
// switch port; --reset zeroes a host's and a switch's counters; unknown nodes and ports exit 2 with a
// did-you-mean, no fabric exits 3. Also hostd refusing a stream whose frames web1's vNIC cannot send.

import { expect } from 'chai';
import { buildFrame } from '../../../lib/wire/ethernet.js';
import { parseMac } from '../../../lib/wire/mac.js';
import { makeTempDir, runCli, waitFor, type TestFabric, useFabric } from '../helpers/fabric.js';

const ETHERTYPE_EXPERIMENTAL = 0x88b5;

function frameHex(src: string): string {
  return buildFrame({ dst: parseMac('ff:ff:ff:ff:ff:ff'), src: parseMac(src), etherType: ETHERTYPE_EXPERIMENTAL }, Buffer.alloc(46)).toString('hex');
}

describe('e2e fabric: vfab counters (scenarios/topologies/forged-lab.yaml)', function () {
  this.timeout(40_000);
  let fab: TestFabric;
  const cli = (...args: string[]) => runCli(['counters', ...args], { stateDir: fab.stateDir });
  const json = async (...args: string[]) => {
    const r = await cli(...args, '--json');
    expect(r.code, r.stderr).to.equal(0);
    return JSON.parse(r.out) as { node: string; points: Array<{ point: string; kind: string; counters: Record<string, number> }> };
  };
  const counter = async (node: string, point: string, name: string) => (await json(node)).points.find((p) => p.point === point)!.counters[name];

  useFabric('scenarios/topologies/forged-lab.yaml', (f) => (fab = f));

  it('--reset zeroes every counter of a host and of a switch', async () => {
    // the fabric's startup traffic (RARPs, ARPs) has counted by now
    await waitFor(async () => (await counter('sw1', 'sw1.Gi1/0/1', 'rxFrames')) > 0, 'sw1 to count startup frames');
    for (const node of ['esx1', 'sw1']) {
      const r = await cli(node, '--reset');
      expect(r.code, r.stderr).to.equal(0);
      expect(r.out).to.contain(`${node}: every counter is now 0`);
    }
    // frames may arrive meanwhile only from esx2's side: everything esx1 and sw1's Gi1/0/1 sent or dropped is 0
    const esx1 = (await json('esx1')).points;
    expect(esx1.map((p) => p.point)).to.deep.equal(['web1.nic0', 'esx1.vmnic0']);
    for (const p of esx1) for (const [k, v] of Object.entries(p.counters)) if (!k.startsWith('rx') && k !== 'link.rxMessages') expect(v, `${p.point} ${k}`).to.equal(0);
    expect(await counter('sw1', 'sw1.Gi1/0/1', 'rxFrames')).to.equal(0);
  });

  it('shows the forged frame as drops.forged_transmit at web1.nic0 and the honest one on the uplink and the switch port', async () => {
    await cli('esx1', '--reset');
    await cli('sw1', '--reset');
    await fab.call('esx1', 'POST', '/control/vms/web1/raw', { frameHex: frameHex('02:00:00:00:66:66') });
    await fab.call('esx1', 'POST', '/control/vms/web1/raw', { frameHex: frameHex('00:50:56:00:66:01') });
    await waitFor(async () => (await counter('sw1', 'sw1.Gi1/0/1', 'rxFrames')) === 1, 'the honest frame to reach sw1');
    const table = await cli('esx1');
    expect(table.code, table.stderr).to.equal(0);
    const web1 = table.out.split('\n').find((l) => l.startsWith('web1.nic0'))!;
    expect(web1).to.match(/^web1\.nic0\s+vNIC\s+0\s+1\s+0\s+60\s+drops\.forged_transmit=1$/);
    // on the trunk it carries its VLAN 10 tag: 64 bytes
    expect(table.out.split('\n').find((l) => l.startsWith('esx1.vmnic0')), table.out).to.match(/^esx1\.vmnic0\s+uplink\s+\d+\s+1\s+\d+\s+64\s+-$/);
    const port = await cli('web1', 'nic0');
    expect(port.code, port.stderr).to.equal(0);
    expect(port.out).to.match(/^web1\.nic0 \(vNIC\)\n/);
    expect(port.out).to.match(/ {2}drops\.forged_transmit\s+1\n/);
    expect(port.out, 'zeros are hidden without --all').not.to.contain('drops.vlan_mismatch');
    const all = await cli('sw1', 'Gi1/0/1', '--all');
    expect(all.out).to.match(/ {2}rxDrops\.vlan_not_allowed\s+0\n/);
    expect(all.out).to.match(/ {2}rxFrames\s+1\n/);
  });

  it('an unknown node or port exits 2 and names it (did you mean); --reset of a VM is refused', async () => {
    const node = await cli('sw2');
    expect(node.code).to.equal(2);
    expect(node.stderr).to.contain('no host, switch or VM named "sw2"').and.to.contain('did you mean sw1?');
    const port = await cli('sw1', 'Gi1/0/9');
    expect(port.code).to.equal(2);
    expect(port.stderr).to.contain('sw1 has no port "sw1.Gi1/0/9"').and.to.contain('sw1.Gi1/0/1');
    const vm = await cli('web1', '--reset');
    expect(vm.code).to.equal(2);
    expect(vm.stderr).to.contain('vfab counters esx1 --reset');
  });

  it('exits 3 when no fabric runs here', async () => {
    const r = await runCli(['counters', 'esx1'], { stateDir: makeTempDir('vfab-counters-none-') });
    expect(r.code).to.equal(3);
    expect(r.stderr).to.contain('no fabric is running here');
  });

  it('hostd refuses a stream of frames larger than the vNIC sends, naming the vNIC, the size and the limit', async () => {
    let error: any;
    try {
      await fab.call('esx1', 'POST', '/control/streams/send', { vm: 'web1', target: '192.0.2.21', udpPort: 9100, frameBytes: 9014, seconds: 0.1, ratePps: 100, streamId: 7, background: true });
    } catch (e) {
      error = e;
    }
    expect(error?.code).to.equal('VFAB_STREAM_FRAME_TOO_LARGE');
    expect(error.message).to.contain('web1.nic0 cannot send 9014-byte frames: its largest frame is 1514 bytes (MTU 1500');
    // the largest frame that fits is sent
    const ok = await fab.call('esx1', 'POST', '/control/streams/send', { vm: 'web1', target: '192.0.2.21', udpPort: 9100, frameBytes: 1514, seconds: 0.1, ratePps: 100, streamId: 8 });
    expect(ok.sent).to.be.greaterThan(0);
  });

  // last: it kills sw1 (a daemon this test's fabric started, by its PID)
  it('exits 3 naming the daemon when the node does not answer', async () => {
    const sw1 = fab.daemon('sw1');
    process.kill(sw1.pid, 'SIGKILL');
    await waitFor(() => { try { process.kill(sw1.pid, 0); return false; } catch { return true; } }, 'sw1 to exit');
    const r = await cli('sw1');
    expect(r.code, r.stderr).to.equal(3);
    expect(r.stderr).to.contain('switch sw1 (127.0.0.1:');
  });
});
