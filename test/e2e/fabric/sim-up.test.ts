// End to end through the vfab CLI (a child process, VFAB_STATE_DIR = a temp dir of this suite) on a
// simulated fabric: `vfab up topologies/quickstart.yaml --sim` starts ONE process (daemons/simd.ts)
// whose every node answers the ordinary commands: status --json lists every host and switch (simulated,
// one PID), ping across hosts and switches, link down of the uplink a VM uses gives the failover event in
// events --json, a live capture writes a pcapng (read by tshark; skipped without it on a newcomer's
// machine, fails under CI=true), fault kill/restart of a switch, the storage routes of a topology without
// datastores and dialling answer VFAB_SIM_UNSUPPORTED (exit 2), vMotion is refused by its own service, and down leaves no process and no state. Usage refusals of `up --sim` too.
// One fabric for the whole file; the tests run in order and the last one stops it.

import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { readState, type FabricState } from '../../../daemons/fabric/state.js';
import { startCapture } from '../../../daemons/fabric/capture-client.js';
import { control } from '../../../daemons/common/control-client.js';
import { requirePeerTool, runTshark, TSHARK_INSTALL_HINT } from '../../helpers/peer-tools.js';
import { FABRIC_DOWN_TIMEOUT_MS, FABRIC_UP_TIMEOUT_MS, alivePids, cleanUpCliFabric, makeTempDir, runCli, trackPids, waitFor } from '../helpers/fabric.js';
import { expectQuickstartPings } from '../helpers/quickstart-checks.js';

describe('e2e sim: vfab up --sim on topologies/quickstart.yaml, driven by the ordinary commands', function () {
  this.timeout(30_000);
  const stateDir = makeTempDir('vfab-e2e-simup-');
  const captureDir = makeTempDir('vfab-e2e-simcap-');
  let state: FabricState;
  const cli = (args: string[], timeoutMs?: number) => runCli(args, { stateDir, ...(timeoutMs ? { timeoutMs } : {}) });

  before(async function () {
    this.timeout(FABRIC_UP_TIMEOUT_MS);
    const up = await cli(['up', 'topologies/quickstart.yaml', '--sim', '--seed', '3', '--detach'], FABRIC_UP_TIMEOUT_MS - 5000);
    if (fs.existsSync(path.join(stateDir, 'state.json'))) trackPids([readState(stateDir).sim?.pid ?? 0].filter((p) => p > 0));
    expect(up.code, `vfab up --sim failed:\n${up.stderr}`).to.equal(0);
    expect(up.out).to.match(/fabric quickstart is up, simulated in one process \(pid \d+, seed 3\): sw1, sw2, esx1, esx2; not simulated: array1/);
    expect(up.stderr).to.include('links up 5/5');
    state = readState(stateDir);
  });

  after(async function () {
    this.timeout(FABRIC_DOWN_TIMEOUT_MS);
    await cleanUpCliFabric(stateDir, captureDir);
  });

  it('up --sim refuses what a simulated fabric cannot do (exit 2, naming it) before starting anything', async () => {
    const seedAlone = await cli(['up', 'topologies/quickstart.yaml', '--seed', '3']);
    expect(seedAlone.code).to.equal(2);
    expect(seedAlone.stderr).to.include('--seed 3: goes with --sim');
    const spread = await cli(['up', 'topologies/quickstart.yaml', '--sim', '--spread-addresses']);
    expect(spread.code).to.equal(2);
    expect(spread.stderr).to.include('--spread-addresses with --sim');
    const packed = await cli(['up', 'topologies/quickstart.yaml', '--sim', '--hosts-per-process', '2']);
    expect(packed.code).to.equal(2);
    expect(packed.stderr).to.include('--hosts-per-process 2 with --sim');
    const external = await cli(['up', 'topologies/external-vm.yaml', '--sim'], 20_000);
    expect(external.code, external.stderr).to.equal(2);
    expect(external.stderr).to.match(/cannot be simulated[\s\S]*an external VM runs in its own process/);
    // the running simulated fabric is untouched
    expect(readState(stateDir).sim?.pid).to.equal(state.sim!.pid);
  });

  it('status --json lists every host and switch, all served by the one sim process, every link up', async () => {
    const r = await cli(['status', '--json']);
    expect(r.code, r.stderr).to.equal(0);
    const status = JSON.parse(r.out);
    expect(status.simulated).to.deep.equal({ pid: state.sim!.pid, seed: 3, leftOut: ['array1'] });
    expect(status.daemons.map((d: any) => `${d.kind}:${d.name}`).sort()).to.deep.equal(['host:esx1', 'host:esx2', 'switch:sw1', 'switch:sw2']);
    for (const d of status.daemons) {
      expect(d, d.name).to.include({ running: true, simulated: true, pid: state.sim!.pid });
      expect(d.error, d.name).to.equal(undefined);
    }
    const ends = status.daemons.flatMap((d: any) => d.links.map((l: any) => ({ at: `${d.name}.${l.local}`, carrier: l.carrier })));
    expect(ends).to.have.length(10);
    expect(ends.filter((l: any) => !l.carrier)).to.deep.equal([]);
    expect(status.daemons.find((d: any) => d.name === 'sw1').ports.find((p: any) => p.name === 'Gi1/0/48').vlans).to.equal('10,20');
    const text = await cli(['status']);
    expect(text.out).to.match(/^fabric quickstart \(started .*, time scale 1, simulated in one process: pid \d+, seed 3, not simulated: array1\)/);
  });

  it('ping answers across hosts and switches, in VLAN 10 and VLAN 20', async () => {
    await expectQuickstartPings(cli);
    const mac = await cli(['mac-table', 'sw1', '--json']);
    expect(mac.code, mac.stderr).to.equal(0);
    expect(JSON.parse(mac.out).entries.map((e: any) => `${e.vlan} ${e.mac}`)).to.include.members(['10 00:50:56:00:10:01', '10 00:50:56:00:10:02']);
  });

  it('a live capture at a vNIC writes a pcapng with the ping in it (tshark reads it, nothing malformed)', async function () {
    const file = path.join(captureDir, 'web1.pcapng');
    const session = await startCapture(state, ['web1.nic0'], file, 'pcapng');
    const ping = await cli(['ping', 'web1', '192.0.2.12', '--count', '2', '--interval-ms', '50']);
    expect(ping.code, ping.stderr).to.equal(0);
    await waitFor(() => session.frames >= 4 || undefined, 'four frames captured', 5000);
    const result = await session.stop();
    expect(result.lost).to.equal(undefined);
    const bytes = fs.readFileSync(file);
    expect(bytes.readUInt32LE(0)).to.equal(0x0a0d0d0a); // a pcapng Section Header Block
    // and through the CLI: a bounded capture exits 0 and leaves a pcapng
    const viaCli = path.join(captureDir, 'sw1.pcapng');
    const c = await cli(['capture', 'sw1.Gi1/0/1', '-w', viaCli, '--seconds', '0.5']);
    expect(c.code, c.stderr).to.equal(0);
    expect(fs.readFileSync(viaCli).readUInt32LE(0)).to.equal(0x0a0d0d0a);
    requirePeerTool(this, 'tshark', TSHARK_INSTALL_HINT);
    expect(runTshark(['-r', file, '-Y', '_ws.malformed']).trim()).to.equal('');
    const icmp = runTshark(['-r', file, '-Y', 'icmp', '-T', 'fields', '-e', 'icmp.type']).split('\n').filter(Boolean);
    expect(icmp).to.deep.equal(['8', '0', '8', '0']);
  });

  it('link down of the uplink web1 uses gives the failover event in events --json; link up restores it', async () => {
    const st = JSON.parse((await cli(['status', 'esx1', '--json'])).out);
    const port = st.daemons[0].vswitches[0].ports.find((p: any) => p.name === 'web1.nic0');
    const uplink: string = port.uplink;
    expect(uplink).to.match(/^vmnic[01]$/);
    const down = await cli(['link', 'down', `esx1.${uplink}`]);
    expect(down.code, down.stderr).to.equal(0);
    const ev = await cli(['events', '--node', 'esx1', '--type', 'failover', '--json']);
    expect(ev.code, ev.stderr).to.equal(0);
    const failovers = ev.out.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const ours = failovers.filter((e) => e.from === uplink && e.ports.some((p: any) => p.port === 'web1.nic0'));
    expect(ours, ev.out).to.have.length(1);
    expect(ours[0].source).to.equal('esx1');
    // fabric time on the state file's clock: the event is after the fabric came up and not in the future
    expect(ours[0].timeMs).to.be.greaterThan(0);
    expect(Date.parse(ours[0].wall)).to.be.at.most(Date.now() + 1000);
    const ping = await cli(['ping', 'web1', '192.0.2.12', '--count', '1']);
    expect(ping.code, `ping over the other uplink: ${ping.out}${ping.stderr}`).to.equal(0);
    expect((await cli(['link', 'up', `esx1.${uplink}`])).code).to.equal(0);
  });

  it('fault kill of a switch: status shows it not running (exit 3), its port is closed; fault restart brings it back', async () => {
    const kill = await cli(['fault', 'kill', 'sw2']);
    expect(kill.code, kill.stderr).to.equal(0);
    expect(kill.out).to.include('killed sw2');
    const st = await cli(['status', '--json']);
    expect(st.code).to.equal(3);
    expect(st.stderr).to.match(/switch sw2 \(pid \d+\) is not running/);
    expect(JSON.parse(st.out).daemons.find((d: any) => d.name === 'sw2')).to.include({ running: false });
    // its port is closed, as a killed daemon's
    let refused: string | undefined;
    await control(state.daemons.find((d) => d.name === 'sw2')!, state.token, 'GET', '/control/status').catch((e) => (refused = e.message));
    expect(refused).to.match(/connection refused/);
    // the far ends lost carrier with the reason a daemon's peers see
    const ev = await cli(['events', '--node', 'esx1', '--type', 'carrier', '--json']);
    expect(ev.out.split('\n').filter(Boolean).map((l) => JSON.parse(l)).some((e) => e.uplink === 'vmnic1' && e.up === false && e.reason === 'peer-gone')).to.equal(true);
    const restart = await cli(['fault', 'restart', 'sw2']);
    expect(restart.code, restart.stderr).to.equal(0);
    const again = await cli(['status', '--json']);
    expect(again.code, again.stderr).to.equal(0);
    const sw2 = JSON.parse(again.out).daemons.find((d: any) => d.name === 'sw2');
    expect(sw2.links.every((l: any) => l.carrier)).to.equal(true);
  });

  it('what a topology without datastores leaves out answers VFAB_SIM_UNSUPPORTED (exit 2); vMotion is the daemons\' own', async () => {
    // the vMotion service itself refuses: quickstart's hosts have no vMotion vmkernel port (exit 1)
    const migrate = await cli(['vm', 'migrate', 'web1', '--to', 'esx2']);
    expect(migrate.code, migrate.stderr).to.equal(1);
    expect(migrate.stderr).to.include('has no vmkernel port enabled for vMotion');
    const array = await cli(['fault', 'kill', 'array1']);
    expect(array.code).to.equal(2);
    expect(array.stderr).to.include('array1 is a storage array of a topology without datastores');
    const esx1 = state.daemons.find((d) => d.name === 'esx1')!;
    const codeOf = (method: 'GET' | 'POST', route: string) => control(esx1, state.token, method, route, method === 'GET' ? undefined : {}).then(() => 'ok', (e) => e.code);
    expect(await codeOf('GET', '/control/datastores')).to.equal('VFAB_SIM_UNSUPPORTED');
    expect(await codeOf('GET', '/control/ha')).to.equal('VFAB_SIM_UNSUPPORTED');
    expect(await codeOf('POST', '/control/peers')).to.equal('VFAB_SIM_UNSUPPORTED');
  });

  it('down ends the sim process by PID and removes the state', async function () {
    this.timeout(FABRIC_DOWN_TIMEOUT_MS);
    const pid = state.sim!.pid;
    const r = await cli(['down'], FABRIC_DOWN_TIMEOUT_MS - 2000);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.out).to.match(/stopped \(the simulation process, pid \d+: 4 nodes\)/);
    expect(alivePids([pid])).to.deep.equal([]);
    expect(fs.existsSync(path.join(stateDir, 'state.json'))).to.equal(false);
  });
});
