// End-to-end across real processes: vfab set port|switch on a running fabric (docs/reconfigure.md), on
// topologies/native-vlan-trap.yaml (sw1 Gi1/0/1 trunk to esx1, allowed 10,20, native 10; Gi1/0/10 access
// VLAN 10 to esx2's `peer`). Each kind of change is followed by traffic that shows it: the native-VLAN
// trap appears and disappears, an access VLAN moves reachability, pruning a VLAN cuts it, shutdown,
// channel membership, MAC aging. Invalid changes exit 2 and change nothing (running.yaml and the
// switch's status). Then the export round trip: ten changes, vfab export, down, up of the exported file:
// the same vfab status. Leaves out host-side changes (reconfigure-host) and the unit rules (test/pswitch).

import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { readState } from '../../../daemons/fabric/state.js';
import { fabricDown } from '../../../daemons/fabric/lifecycle.js';
import { FABRIC_DOWN_TIMEOUT_MS, FABRIC_UP_TIMEOUT_MS, makeTempDir, runCli, startFabric, trackPids, waitFor, type TestFabric } from '../helpers/fabric.js';
import { ARP_MAX_RETRIES, ARP_RETRY_INTERVAL_MS } from '../../../lib/endpoint/arp-cache.js';

const PEER_IP = '192.0.2.20';
const PEER_MAC = '00:50:56:00:0a:10';

describe('e2e fabric: vfab set port|switch, live (docs/reconfigure.md)', function () {
  this.timeout(60_000);
  let fab: TestFabric;
  const dir = makeTempDir('vfab-e2e-setsw-');
  const stateDir = path.join(dir, 'state');
  const running = () => fs.readFileSync(path.join(stateDir, 'run', 'running.yaml'), 'utf8');
  const set = (...args: string[]) => runCli(['set', ...args], { stateDir });
  const ok = async (...args: string[]) => {
    const r = await set(...args);
    expect(r.code, `vfab set ${args.join(' ')}: ${r.stderr}`).to.equal(0);
    return r;
  };
  const port = async (name: string) => (await fab.status('sw1')).ports.find((p: any) => p.name === name);
  const reaches = async (vm: string) => (await fab.ping(vm, PEER_IP, { count: 2, intervalMs: 100, timeoutMs: 400 })).received > 0;
  // A positive check polls: an ARP resolution the VM started before a change (retried every
  // ARP_RETRY_INTERVAL_MS, given up after ARP_MAX_RETRIES) can still fail after the change and drop the
  // packets of a ping sent meanwhile; the resolution after it sees the new configuration.
  const reachesSoon = async (vm: string) => {
    const end = Date.now() + (ARP_MAX_RETRIES + 1) * ARP_RETRY_INTERVAL_MS;
    do { if (await reaches(vm)) return true; } while (Date.now() < end);
    return false;
  };
  const events = async (type: string) => (await fab.call('sw1', 'GET', '/control/events?since=0')).events.filter((e: any) => e.type === type);

  before(async function () {
    this.timeout(FABRIC_UP_TIMEOUT_MS);
    fs.mkdirSync(stateDir);
    fab = await startFabric('topologies/native-vlan-trap.yaml', { stateDir });
  });

  after(async function () {
    this.timeout(FABRIC_DOWN_TIMEOUT_MS);
    await fab?.down();
    if (fs.existsSync(path.join(stateDir, 'state.json'))) await fabricDown(readState(stateDir), stateDir).catch(() => {});
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a trunk\'s native VLAN changed makes the native-VLAN trap disappear and, changed back, appear again (config-changed logged)', async () => {
    expect(await reaches('trapped'), 'the trap: VLAN-10 port group on native VLAN 10').to.equal(false);
    expect(await reachesSoon('fixed')).to.equal(true);
    await ok('port', 'sw1', 'Gi1/0/1', '--native-vlan', '20');
    expect(await port('Gi1/0/1')).to.include({ nativeVlan: 20 });
    expect(running()).to.match(/nativeVlan: 20/);
    // VLAN 10 now leaves the trunk tagged: the VST port group gets its replies; untagged is VLAN 20 now
    expect(await reachesSoon('trapped'), 'no trap once VLAN 10 is tagged').to.equal(true);
    expect(await reaches('fixed'), 'the VLAN-0 port group is in native VLAN 20 now, away from peer').to.equal(false);
    const changed = await events('config-changed');
    expect(changed.at(-1).what).to.equal('sw1 Gi1/0/1 native VLAN 20');
    expect(changed.at(-1).changes.join('\n')).to.match(/Gi1\/0\/1 .*native=10 .*-> .*native=20/);
    await ok('port', 'sw1', 'Gi1/0/1', '--native-vlan', '10');
    expect(await reaches('trapped'), 'the trap is back').to.equal(false);
    expect(await reachesSoon('fixed')).to.equal(true);
  });

  it('an access VLAN changed moves reachability and flushes the MACs of the VLAN the port left', async () => {
    expect(await reachesSoon('fixed')).to.equal(true);
    await ok('port', 'sw1', 'Gi1/0/10', '--vlan', '20');
    const table = (await fab.call('sw1', 'GET', '/control/mac-table')).entries;
    expect(table.some((e: any) => e.mac === PEER_MAC && e.vlan === 10), 'peer\'s VLAN-10 entry flushed').to.equal(false);
    expect((await events('mac-flushed')).some((e: any) => e.port === 'Gi1/0/10' && e.reason === 'reconfigured')).to.equal(true);
    expect(await reaches('fixed'), 'peer is in VLAN 20, fixed in native VLAN 10').to.equal(false);
    await ok('port', 'sw1', 'Gi1/0/1', '--native-vlan', '20');
    expect(await reachesSoon('fixed'), 'both in VLAN 20 now').to.equal(true);
    await ok('port', 'sw1', 'Gi1/0/10', '--vlan', '10');
    await ok('port', 'sw1', 'Gi1/0/1', '--native-vlan', '10');
    expect(await reachesSoon('fixed')).to.equal(true);
  });

  it('allowed VLANs pruned cut the VLAN off the trunk; allowed again, it carries it', async () => {
    await ok('port', 'sw1', 'Gi1/0/1', '--allowed-vlans', '20');
    expect(await port('Gi1/0/1')).to.include({ vlans: '20' });
    const before = (await port('Gi1/0/1')).counters.rxDrops.vlan_not_allowed;
    expect(await reaches('fixed'), 'native VLAN 10 no longer allowed').to.equal(false);
    expect((await port('Gi1/0/1')).counters.rxDrops.vlan_not_allowed).to.be.above(before);
    await ok('port', 'sw1', 'Gi1/0/1', '--allowed-vlans', '10,20');
    expect(await reachesSoon('fixed')).to.equal(true);
  });

  it('shutdown takes the port down (no link at the host), no shutdown brings it back', async () => {
    await ok('port', 'sw1', 'Gi1/0/10', '--shutdown', 'on');
    expect(await port('Gi1/0/10')).to.include({ shutdown: true, status: 'disabled' });
    expect(running()).to.match(/shutdown: true/);
    expect(await reaches('fixed')).to.equal(false);
    await ok('port', 'sw1', 'Gi1/0/10', '--shutdown', 'off');
    await waitFor(async () => (await port('Gi1/0/10')).up === true, 'Gi1/0/10 up again');
    expect(running()).not.to.match(/shutdown: true/);
    await waitFor(() => reaches('fixed'), 'fixed reaches peer again', 15_000, 200);
  });

  it('channel membership: a port joins a new channel (learning moves to the channel) and leaves it', async () => {
    await ok('port', 'sw1', 'Gi1/0/1', '--channel', 'Po1');
    const status = await fab.status('sw1');
    expect(status.portChannels.map((c: any) => [c.name, c.members])).to.deep.equal([['Po1', ['Gi1/0/1']]]);
    expect(running()).to.match(/portChannels:/);
    expect(await reachesSoon('fixed')).to.equal(true);
    const table = (await fab.call('sw1', 'GET', '/control/mac-table')).entries;
    expect(table.find((e: any) => e.mac === '00:50:56:00:0a:02')).to.include({ port: 'Po1' });
    await ok('port', 'sw1', 'Gi1/0/1', '--channel', 'none');
    expect((await fab.status('sw1')).portChannels).to.deep.equal([]);
    expect(running()).not.to.match(/Po1/);
    expect(await reachesSoon('fixed')).to.equal(true);
  });

  it('invalid changes exit 2 with the problem named, and change nothing', async () => {
    await ok('port', 'sw1', 'Gi1/0/1', '--channel', 'Po1');
    const text = running();
    const ports = (await fab.status('sw1')).ports.map(({ counters: _c, ...p }: any) => p);
    const cases: Array<[string[], RegExp]> = [
      [['port', 'sw1', 'Gi1/0/10', '--native-vlan', '20'], /nativeVlan applies to trunk ports only/],
      [['port', 'sw1', 'Gi1/0/10', '--vlan', '5000'], /--vlan/],
      [['port', 'sw1', 'Gi1/0/9', '--vlan', '20'], /no port Gi1\/0\/9 \(did you mean Gi1\/0\/1\?\)/],
      [['port', 'sw1', 'Gi1/0/10', '--channel', 'Po1'], /members of Po1 must share mode and VLANs/],
      [['port', 'sw1', 'Gi1/0/1', '--allowed-vlans', '10,abc'], /allowedVlans/],
      [['port', 'sw1', 'Gi1/0/1', '--mode', 'trunk', '--vlan', '10'], /vlan sets the VLAN of an access port/],
      [['switch', 'sw1', '--mac-aging', '5'], /--mac-aging/],
      [['port', 'swX', 'Gi1/0/1', '--vlan', '10'], /no switch swX/],
    ];
    for (const [args, message] of cases) {
      const r = await set(...args);
      expect(r.code, `vfab set ${args.join(' ')}: ${r.stderr}`).to.equal(2);
      expect(r.stderr).to.match(message);
      expect(running(), `running.yaml after ${args.join(' ')}`).to.equal(text);
    }
    expect((await fab.status('sw1')).ports.map(({ counters: _c, ...p }: any) => p)).to.deep.equal(ports);
    await ok('port', 'sw1', 'Gi1/0/1', '--channel', 'none');
  });

  it('MAC aging: a shorter time ages the learned MACs out live', async function () {
    this.timeout(40_000);
    await ok('switch', 'sw1', '--mac-aging', '10');
    expect((await fab.status('sw1')).macAgingSeconds).to.equal(10);
    expect(await reachesSoon('fixed')).to.equal(true);
    await waitFor(async () => (await fab.call('sw1', 'GET', '/control/mac-table')).entries.length === 0, 'every MAC aged out after 10 s', 25_000, 250);
    expect((await events('mac-aged')).some((e: any) => e.mac === PEER_MAC)).to.equal(true);
    await ok('switch', 'sw1', '--mac-aging', '300');
  });

  it('vfab mac-table --clear clears the learned MACs (of one VLAN or port)', async () => {
    expect(await reachesSoon('fixed')).to.equal(true);
    const cleared = await runCli(['mac-table', 'sw1', '--clear', '--port', 'Gi1/0/10', '--json'], { stateDir });
    expect(cleared.code, cleared.stderr).to.equal(0);
    expect(JSON.parse(cleared.out).cleared).to.equal(1);
    const table = (await fab.call('sw1', 'GET', '/control/mac-table')).entries;
    expect(table.some((e: any) => e.port === 'Gi1/0/10')).to.equal(false);
    expect(table.length).to.be.above(0);
    const bad = await runCli(['mac-table', 'esx1', '--clear'], { stateDir });
    expect(bad.code).to.equal(2);
  });

  it('export round trip: ten changes, vfab export, down, up of the export: the same vfab status', async function () {
    this.timeout(FABRIC_UP_TIMEOUT_MS + FABRIC_DOWN_TIMEOUT_MS + 30_000);
    const changes = [
      ['port', 'sw1', 'Gi1/0/1', '--native-vlan', '20'],
      ['port', 'sw1', 'Gi1/0/1', '--allowed-vlans', '10,20,30-32'],
      ['port', 'sw1', 'Gi1/0/10', '--vlan', '20'],
      ['port', 'sw1', 'Gi1/0/10', '--shutdown', 'on'],
      ['switch', 'sw1', '--mac-aging', '600'],
      ['port', 'sw1', 'Gi1/0/1', '--channel', 'Po7'],
      ['port', 'sw1', 'Gi1/0/10', '--mode', 'trunk'],
      ['port', 'sw1', 'Gi1/0/10', '--allowed-vlans', '20,30', '--native-vlan', '30'],
      ['port', 'sw1', 'Gi1/0/1', '--native-vlan', '30'],
      ['port', 'sw1', 'Gi1/0/1', '--mode', 'access', '--vlan', '30'],
    ];
    for (const c of changes) await ok(...c);
    // the shut port's line is down at both ends (the host's NIC sees no carrier), before and after the round trip
    await waitFor(async () => (await fab.status('esx2')).links[0].carrier === false, 'esx2 vmnic0 without carrier');
    const status = async () => {
      const r = await runCli(['status', '--json'], { stateDir });
      expect(r.code, r.stderr).to.equal(0);
      return normalise(JSON.parse(r.out));
    };
    const before = await status();
    const file = path.join(dir, 'exported.yaml');
    expect((await runCli(['export', file], { stateDir })).code).to.equal(0);
    expect((await runCli(['down'], { stateDir })).code).to.equal(0);
    const up = await runCli(['up', file, '--detach'], { stateDir, timeoutMs: FABRIC_UP_TIMEOUT_MS });
    if (fs.existsSync(path.join(stateDir, 'state.json'))) trackPids(readState(stateDir).daemons.map((d) => d.pid));
    expect(up.code, up.stderr).to.equal(0);
    const after = await status();
    expect(after.daemons.find((d: any) => d.name === 'sw1').ports[1]).to.include({ shutdown: true, status: 'disabled' });
    expect(differences(after, before), 'status fields that differ (path: after vs before)').to.deep.equal([]);
    expect(after).to.deep.equal(before);
    expect(before.daemons.find((d: any) => d.name === 'sw1').macAgingSeconds).to.equal(600);
  });
});

/** vfab status --json without what differs between two runs of the same fabric: pids, ports, counters, times, learned tables. */
function normalise(v: any): any {
  if (Array.isArray(v)) return v.map(normalise);
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (['pid', 'counters', 'drops', 'startedAt', 'arp', 'arpTable', 'stateDir', 'topologyFile', 'file'].includes(k)) continue;
    if (k === 'port' && typeof x === 'number') continue;
    if (/Ms$|At$|Url$|^rx|^tx/.test(k)) continue;
    out[k] = normalise(x);
  }
  return out;
}

/** Leaf paths where `a` and `b` differ, for a readable failure. */
function differences(a: any, b: any, at = ''): string[] {
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return a === b ? [] : [`${at}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`];
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].flatMap((k) => differences(a[k], b[k], `${at}.${k}`));
}
