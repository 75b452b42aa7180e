// Killing and restarting a host or switch in simulation mode (daemons/sim/fabric.ts kill/restart): the far
// ends of a killed node's cables lose carrier ("peer-gone") one hop later, its timers are cancelled (none
// stays queued, it logs nothing more), it answers no action (VFAB_DAEMON_DOWN, as an unreachable daemon),
// and a restart builds a fresh core from its configuration (a change made to the old one is gone), brings
// its cables up ("connected") and powers its VMs on, so pings work again. In this process, no daemons.
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runScenarioFile } from '../../daemons/scenario/run.js';
import { loadTopologyFile } from '../../lib/topology/load.js';
import { SimFabric } from '../../daemons/sim/fabric.js';
import { SimDriver } from '../../daemons/sim/driver.js';
import type { VfabError } from '../../lib/errors.js';

const LAB = path.resolve('scenarios/topologies/teaming-lab.yaml');

describe('sim: kill and restart', function () {
  let tmp: string;
  before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vfab-sim-kill-'))));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  async function lab() {
    const topology = await loadTopologyFile(LAB);
    const fabric = new SimFabric({ topology, seed: 1 });
    const driver = new SimDriver({ fabric, topologyText: fs.readFileSync(LAB, 'utf8'), topologyFile: LAB, outDir: tmp });
    return { fabric, driver };
  }

  it('runs a scenario that kills and restarts a host: the switch sees peer-gone, then connected, and pings work again', async () => {
    const file = path.join(tmp, 'kill-esx2.yaml');
    fs.writeFileSync(file, `name: kill-esx2
description: kill the peer host, then restart it
topology: ${LAB}
steps:
  - ping: { from: web1, to: peer }
  - label: crash
    kill: esx2
  - wait: 1s
  - expect:
      - event: { source: sw1, type: carrier, match: { port: Gi1/0/4, up: false, reason: peer-gone }, after: crash, withinMs: 50 }
      - ping: { from: web1, to: 192.0.2.21, expect: unreachable }
  - label: back
    restart: esx2
  - wait: 1s
  - expect:
      - event: { source: sw1, type: carrier, match: { port: Gi1/0/4, up: true, reason: connected }, after: back, withinMs: 50 }
      - event: { source: esx2, type: carrier, match: { uplink: vmnic0, up: true }, after: back, withinMs: 50 }
      - ping: { from: web1, to: peer, expect: reachable }
`);
    const r = await runScenarioFile(file, { sim: { seed: 1 }, outDir: path.join(tmp, 'out'), handleSignals: false });
    expect(r.error, r.error).to.equal(undefined);
    expect(r.results.filter((x) => !x.passed).map((x) => `${x.id}: ${x.got}`)).to.deep.equal([]);
    expect(r.results.length).to.equal(5);
  });

  it('cancels a killed node\'s timers, logs nothing more for it and refuses actions on it', async () => {
    const { fabric, driver } = await lab();
    const esx1 = fabric.host('esx1');
    await driver.ping('web1', 'peer', 1);
    expect(esx1.timers.size, 'a running host has deadlines queued').to.be.greaterThan(0);
    const pendingBefore = fabric.sched.pending;
    fabric.kill('esx1');
    expect(esx1.timers.size).to.equal(0);
    expect(fabric.sched.nextAtMs() === undefined || fabric.sched.pending <= pendingBefore).to.equal(true);
    const logged = esx1.events.since(0).length;
    fabric.sched.advance(600_000); // ten minutes of fabric time: ARP and MAC aging would have run
    expect(esx1.events.since(0).length).to.equal(logged);
    expect(fabric.end('sw1.Gi1/0/1').carrierSeen).to.equal(false);
    const err = await driver.ping('web1', 'peer', 1).then(() => null, (e: unknown) => e as VfabError);
    expect(err?.code).to.equal('VFAB_DAEMON_DOWN');
    expect(fabric.kill('esx1'), 'a second kill finds nothing running').to.equal(false);
  });

  it('restarts a host from its configuration: fresh state, cables up, VMs on', async () => {
    const { fabric, driver } = await lab();
    await driver.act({ kind: 'setMac', vm: 'peer', mac: 0x020000000099, macText: '02:00:00:00:00:99' } as never);
    const macOf = () => fabric.host('esx2').core.status().vms.find((v: { name: string }) => v.name === 'peer')!.nics[0]!.mac;
    expect(macOf()).to.equal('02:00:00:00:00:99');
    const old = fabric.host('esx2').core;
    fabric.kill('esx2');
    fabric.restart('esx2');
    expect(fabric.host('esx2').core).to.not.equal(old);
    expect(macOf(), 'the restarted guest has its configured MAC again').to.equal('00:50:56:00:10:21');
    fabric.sched.advance(100);
    expect(fabric.end('esx2.vmnic0').carrierSeen).to.equal(true);
    expect(fabric.end('sw1.Gi1/0/4').carrierSeen).to.equal(true);
    expect((await driver.ping('web1', 'peer', 2)).received).to.equal(2);
  });

  it('kills and restarts a switch: every host uplink on it loses carrier, then comes back', async () => {
    const { fabric, driver } = await lab();
    fabric.kill('sw1');
    fabric.sched.advance(10);
    for (const e of ['esx1.vmnic0', 'esx1.vmnic1', 'esx2.vmnic0']) expect(fabric.end(e).carrierSeen, e).to.equal(false);
    expect((await driver.ping('web1', 'peer', 1)).received).to.equal(0);
    fabric.restart('sw1');
    fabric.sched.advance(10);
    for (const e of ['esx1.vmnic0', 'esx1.vmnic1', 'esx2.vmnic0']) expect(fabric.end(e).carrierSeen, e).to.equal(true);
    expect((await driver.ping('web1', 'peer', 2)).received).to.equal(2);
  });
});
