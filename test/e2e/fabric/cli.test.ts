// End-to-end across real processes, driven through the vfab CLI as a child process (`node bin/vfab.js`,
// VFAB_STATE_DIR = a temp dir of this suite) on topologies/quickstart.yaml: up --detach, status --json,
// ping (§2.3, across two hosts and two physical switches), mac-table --json, live capture to pcap,
// pcapng and stdout checked with tshark (802.1Q VIDs on uplinks and trunks, untagged vNICs, nothing
// malformed), link down/up with failover to vmnic1 (§3.7), and down (every PID gone). One fabric for the
// whole file; the tests run in order and the last one stops it. Leaves out teaming details (lib tests).

import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { readState, type FabricState } from '../../../daemons/fabric/state.js';
import { startCapture } from '../../../daemons/fabric/capture-client.js';
import { control } from '../../../daemons/common/control-client.js';
import { requirePeerTool, runTshark, TSHARK_INSTALL_HINT } from '../../helpers/peer-tools.js';
import { FABRIC_DOWN_TIMEOUT_MS, FABRIC_UP_TIMEOUT_MS, alivePids, cleanUpCliFabric, makeTempDir, runCli, trackPids, waitFor } from '../helpers/fabric.js';
import { expectQuickstartPings } from '../helpers/quickstart-checks.js';

/** Every packet tshark flags as malformed, one line each (empty = none). */
function malformed(file: string): string {
  return runTshark(['-r', file, '-Y', '_ws.malformed']).trim();
}

/** One line per packet: its 802.1Q VIDs ("" when untagged). */
function vlanIds(file: string): string[] {
  return runTshark(['-r', file, '-T', 'fields', '-e', 'vlan.id']).split('\n').slice(0, -1);
}

function packetCount(file: string, filter?: string): number {
  return runTshark(['-r', file, ...(filter ? ['-Y', filter] : []), '-T', 'fields', '-e', 'frame.number']).split('\n').filter(Boolean).length;
}

describe('e2e fabric: the vfab CLI on topologies/quickstart.yaml', function () {
  this.timeout(30_000);
  const stateDir = makeTempDir('vfab-e2e-cli-');
  const captureDir = makeTempDir('vfab-e2e-cap-');
  let state: FabricState;
  let pids: number[] = [];
  const cli = (args: string[], timeoutMs?: number) => runCli(args, { stateDir, ...(timeoutMs ? { timeoutMs } : {}) });
  const call = (name: string, method: 'GET' | 'POST', p: string, body?: unknown) => control<any>(state.daemons.find((d) => d.name === name)!, state.token, method, p, body);

  before(async function () {
    this.timeout(FABRIC_UP_TIMEOUT_MS);
    const up = await cli(['up', 'topologies/quickstart.yaml', '--detach'], FABRIC_UP_TIMEOUT_MS - 5000);
    if (fs.existsSync(path.join(stateDir, 'state.json'))) trackPids(readState(stateDir).daemons.map((d) => d.pid));
    expect(up.code, `vfab up failed:\n${up.stderr}`).to.equal(0);
    expect(up.out).to.match(/fabric quickstart is up: 5 daemons/);
    expect(up.stderr).to.include('links up 5/5');
    state = readState(stateDir);
    pids = state.daemons.map((d) => d.pid);
  });

  after(async function () {
    this.timeout(FABRIC_DOWN_TIMEOUT_MS);
    await cleanUpCliFabric(stateDir, captureDir);
  });

  it('vfab up --detach leaves every daemon running; vfab status --json shows them with every link up', async () => {
    expect(alivePids(pids)).to.deep.equal(pids);
    const r = await cli(['status', '--json']);
    expect(r.code, r.stderr).to.equal(0);
    const status = JSON.parse(r.out);
    expect(status.fabric).to.equal('quickstart');
    expect(status.daemons.map((d: any) => `${d.kind}:${d.name}`).sort()).to.deep.equal(['array:array1', 'host:esx1', 'host:esx2', 'switch:sw1', 'switch:sw2']);
    for (const d of status.daemons) expect(d.running, d.name).to.equal(true);
    const links = status.daemons.filter((d: any) => d.kind !== 'array').flatMap((d: any) => d.links.map((l: any) => ({ at: `${d.name}.${l.local}`, carrier: l.carrier })));
    expect(links).to.have.length(10); // 5 cables, 2 ends each
    expect(links.filter((l: any) => !l.carrier)).to.deep.equal([]);
    const esx1 = status.daemons.find((d: any) => d.name === 'esx1');
    expect(esx1.vms.map((v: any) => v.name).sort()).to.deep.equal(['app1', 'web1']);
  });

  it('§2.3 vfab ping answers within VLAN 10 and VLAN 20, across both hosts', async () => {
    await expectQuickstartPings(cli);
  });

  it('vfab ping without a path exits 1 and reports 100% loss (web1 in VLAN 10 to db1 in VLAN 20, no router)', async () => {
    const r = await cli(['ping', 'web1', '198.51.100.11', '--count', '1', '--timeout-ms', '300']);
    expect(r.code).to.equal(1);
    expect(r.out).to.match(/1 packets transmitted, 0 received, 100% packet loss/);
  });

  it('vfab mac-table sw1 --json lists learned MACs with vlan, mac, port, ageMs and moves', async () => {
    const r = await cli(['mac-table', 'sw1', '--json']);
    expect(r.code, r.stderr).to.equal(0);
    const { node, entries } = JSON.parse(r.out);
    expect(node).to.equal('sw1');
    expect(entries.length).to.be.at.least(4);
    for (const e of entries) {
      expect(e).to.include.all.keys('vlan', 'mac', 'port', 'ageMs', 'moves');
      expect(e.vlan).to.be.oneOf([10, 20]);
      expect(e.mac).to.match(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
      expect(e.ageMs).to.be.a('number').and.at.least(0);
      expect(e.moves).to.be.a('number').and.at.least(0);
    }
    const macs = entries.map((e: any) => `${e.vlan} ${e.mac}`);
    expect(macs).to.include.members(['10 00:50:56:00:10:01', '10 00:50:56:00:10:02', '20 00:50:56:00:20:01', '20 00:50:56:00:20:02']);
    const vlan20 = await cli(['mac-table', 'sw1', '--vlan', '20', '--json']);
    expect(JSON.parse(vlan20.out).entries.every((e: any) => e.vlan === 20)).to.equal(true);
  });

  it('captures (library, pcap + pcapng): uplinks and the inter-switch trunk carry VIDs 10 and 20, vNICs are untagged, nothing malformed', async function () {
    requirePeerTool(this, 'tshark', TSHARK_INSTALL_HINT);
    const files = {
      uplink: path.join(captureDir, 'esx1-vmnic0.pcap'),
      uplink1: path.join(captureDir, 'esx1-vmnic1.pcapng'),
      trunk: path.join(captureDir, 'sw1-Gi1-0-48.pcapng'),
      vnic: path.join(captureDir, 'web1-nic0.pcapng'),
      vnic2: path.join(captureDir, 'app1-nic0.pcap'),
    };
    const sessions = [
      await startCapture(state, ['esx1.vmnic0'], files.uplink, 'pcap'),
      await startCapture(state, ['esx1.vmnic1'], files.uplink1, 'pcapng'),
      await startCapture(state, ['sw1.Gi1/0/48'], files.trunk, 'pcapng'),
      await startCapture(state, ['web1.nic0'], files.vnic, 'pcapng'),
      await startCapture(state, ['app1.nic0'], files.vnic2, 'pcap'),
    ];
    // Broadcast ARP for addresses nobody has: the switches flood them on every trunk of the VLAN, so every
    // uplink and the inter-switch trunk see both VLANs whichever uplink each VM is pinned to.
    await Promise.all([
      call('esx1', 'POST', '/control/vms/web1/ping', { target: '192.0.2.99', count: 1, timeoutMs: 300 }),
      call('esx2', 'POST', '/control/vms/db1/ping', { target: '198.51.100.99', count: 1, timeoutMs: 300 }),
    ]);
    // and real echo traffic for the vNIC captures
    expect((await call('esx1', 'POST', '/control/vms/web1/ping', { target: '192.0.2.12', count: 2, intervalMs: 20 })).received).to.equal(2);
    expect((await call('esx1', 'POST', '/control/vms/app1/ping', { target: '198.51.100.11', count: 2, intervalMs: 20 })).received).to.equal(2);
    const results = await Promise.all(sessions.map((s) => s.stop()));
    for (const r of results) expect(r.malformed).to.equal(0);

    for (const f of Object.values(files)) expect(malformed(f), `${path.basename(f)}: tshark -Y _ws.malformed`).to.equal('');
    for (const f of [files.uplink, files.uplink1, files.trunk]) {
      const vids = vlanIds(f);
      expect(vids.length, path.basename(f)).to.be.above(0);
      expect(vids.filter((v) => v === ''), `${path.basename(f)}: every frame on a trunk is tagged`).to.deep.equal([]);
      expect(new Set(vids), path.basename(f)).to.have.all.keys('10', '20');
    }
    for (const f of [files.vnic, files.vnic2]) {
      const vids = vlanIds(f);
      expect(vids.length, path.basename(f)).to.be.at.least(4);
      expect(vids.filter((v) => v !== ''), `${path.basename(f)}: vNIC frames are untagged`).to.deep.equal([]);
      expect(packetCount(f, 'icmp.type == 0'), `${path.basename(f)}: echo replies`).to.be.at.least(2);
    }
    expect(packetCount(files.vnic, 'arp.dst.proto_ipv4 == 192.0.2.99')).to.be.at.least(1);
  });

  it('vfab capture -w FILE.pcapng and -w - (stdout) write files tshark reads cleanly', async function () {
    requirePeerTool(this, 'tshark', TSHARK_INSTALL_HINT);
    const pcapng = path.join(captureDir, 'cli-web1.pcapng');
    const streamed = path.join(captureDir, 'cli-stream.pcap');
    const fileCapture = cli(['capture', 'web1.nic0', '-w', pcapng, '--count', '4', '--seconds', '20'], 25_000);
    const streamCapture = runCli(['capture', 'esx1.vmnic0', 'esx1.vmnic1', '-w', '-', '--count', '4', '--seconds', '20'], { stateDir, stdoutFile: streamed, timeoutMs: 25_000 });
    // the captures attach in the background: keep the fabric busy until both have their frames
    let finished = 0;
    const all = Promise.all([fileCapture, streamCapture]).finally(() => (finished = 1));
    while (!finished) {
      await call('esx1', 'POST', '/control/vms/web1/ping', { target: '192.0.2.12', count: 1, timeoutMs: 300 });
      await call('esx1', 'POST', '/control/vms/web1/ping', { target: '192.0.2.98', count: 1, timeoutMs: 50 }).catch(() => undefined);
    }
    const [f, s] = await all;
    expect(f.code, f.stderr).to.equal(0);
    expect(s.code, s.stderr).to.equal(0);
    expect(f.stderr).to.match(/4 frames captured/);
    expect(malformed(pcapng)).to.equal('');
    expect(malformed(streamed)).to.equal('');
    expect(packetCount(pcapng)).to.equal(4);
    expect(packetCount(streamed)).to.equal(4);
    expect(vlanIds(pcapng).filter((v) => v !== '')).to.deep.equal([]);
    expect(vlanIds(streamed).filter((v) => v === ''), 'uplink frames carry 802.1Q tags').to.deep.equal([]);
    expect(runTshark(['-r', pcapng, '-T', 'fields', '-e', 'frame.interface_name']).trim().split('\n')).to.deep.equal(['web1.nic0', 'web1.nic0', 'web1.nic0', 'web1.nic0']);
  });

  it('§3.7 vfab link down esx1.vmnic0: carrier down at both ends, ports fail over to vmnic1, pings still work; link up restores', async () => {
    const down = await cli(['link', 'down', 'esx1.vmnic0']);
    expect(down.code, down.stderr).to.equal(0);
    await waitFor(async () => {
      const sw1 = await call('sw1', 'GET', '/control/status');
      return sw1.ports.find((p: any) => p.name === 'Gi1/0/1').up === false && sw1.links.find((l: any) => l.local === 'Gi1/0/1').carrier === false;
    }, 'sw1 Gi1/0/1 to go down');
    const esx1 = await call('esx1', 'GET', '/control/status');
    expect(esx1.vswitches[0].uplinks.map((u: any) => `${u.name}:${u.up}`)).to.deep.equal(['vmnic0:false', 'vmnic1:true']);
    expect(esx1.links.find((l: any) => l.local === 'vmnic0').carrier).to.equal(false);
    for (const p of esx1.vswitches[0].ports) expect(p.uplink, `port ${p.name}`).to.equal('vmnic1');
    const ping = await cli(['ping', 'web1', '192.0.2.12', '--count', '3', '--interval-ms', '100']);
    expect(ping.code, ping.out + ping.stderr).to.equal(0);
    expect((await cli(['ping', 'app1', '198.51.100.11', '--count', '2', '--interval-ms', '100'])).code).to.equal(0);

    const up = await cli(['link', 'up', 'esx1.vmnic0']);
    expect(up.code, up.stderr).to.equal(0);
    await waitFor(async () => {
      const s = await call('esx1', 'GET', '/control/status');
      return s.vswitches[0].uplinks.every((u: any) => u.up);
    }, 'esx1 vmnic0 to come back');
    expect((await call('sw1', 'GET', '/control/status')).ports.find((p: any) => p.name === 'Gi1/0/1').up).to.equal(true);
    expect((await cli(['ping', 'web1', '192.0.2.12', '--count', '2', '--interval-ms', '100'])).code).to.equal(0);
  });

  it('vfab ping to an unknown VM exits 2 with a clear error naming the VMs that exist (and the closest one)', async () => {
    const r = await cli(['ping', 'nosuchvm', '192.0.2.12']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/no VM named "nosuchvm"/);
    expect(r.stderr).to.include('web1');
    const typo = await cli(['ping', 'wbe1', '192.0.2.12']);
    expect(typo.code).to.equal(2);
    expect(typo.stderr).to.match(/no VM named "wbe1" in fabric quickstart \(did you mean web1\?\)/);
  });

  it('vfab down stops every daemon (no PID left) and removes the state; status then says no fabric', async () => {
    const r = await cli(['down']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.out).to.match(/fabric quickstart stopped \(5 daemons\)/);
    expect(alivePids(pids)).to.deep.equal([]);
    expect(fs.existsSync(path.join(stateDir, 'state.json'))).to.equal(false);
    const s = await cli(['status']);
    expect(s.code).to.equal(3);
    expect(s.stderr).to.match(/no fabric is running/);
  });
});
