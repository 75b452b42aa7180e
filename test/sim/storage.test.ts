// Storage in simulation mode (daemons/sim/storage.ts): an array killed under two hosts closes their paths
// (they log the dead paths) and, once a whole lease passes without a heartbeat, the datastore goes offline;
// restarted, it keeps its LUN contents (the VM's lock is still on disk), the hosts' multipath clients
// reconnect and the datastore is mounted again. A host killed and restarted mounts the datastore again
// (reclaiming its own heartbeat slot). Commands and answers take SIM_STORAGE_HOP_MS each way. vMotion of
// a VM with datastore disks is refused (no lock hand-over). In this process, no daemons.
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadScenarioAndTopology, runScenarioFile } from '../../daemons/scenario/run.js';
import { simUnsupported } from '../../lib/sim/support.js';
import { topologyUnsupported } from '../../daemons/sim/serve.js';
import { loadTopologyFile } from '../../lib/topology/load.js';
import { SimFabric } from '../../daemons/sim/fabric.js';
import { SIM_SETTLE_MS, SimDriver } from '../../daemons/sim/driver.js';

const LAB = path.resolve('scenarios/topologies/datastore-lab.yaml');

describe('sim: storage arrays and datastores', function () {
  let tmp: string;
  before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vfab-sim-storage-'))));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  async function run(name: string, steps: string) {
    const file = path.join(tmp, `${name}.yaml`);
    fs.writeFileSync(file, `name: ${name}\ndescription: ${name}\ntopology: ${LAB}\nsteps:\n${steps}`);
    const r = await runScenarioFile(file, { sim: { seed: 1 }, outDir: path.join(tmp, name), handleSignals: false });
    const failed = r.results.filter((x) => !x.passed).map((x) => `${x.id} ${x.name}: expected ${x.expected}, got ${x.got}`);
    return { r, failed };
  }

  it('an array killed and restarted: paths die, ds1 goes offline after the lease, and comes back with its locks', async () => {
    // a scenario cannot name an array in kill/restart: drive the simulated fabric's driver directly
    const topology = await loadTopologyFile(LAB);
    const fabric = new SimFabric({ topology, seed: 1 });
    await fabric.storage!.start(SIM_SETTLE_MS);
    const driver = new SimDriver({ fabric, topologyText: fs.readFileSync(LAB, 'utf8'), topologyFile: LAB, outDir: tmp });
    await driver.act({ kind: 'datastoreFormat', datastore: 'ds1', force: false, locking: 'ats-only' } as never);
    expect((await driver.vmPower({ vm: 'app1', host: 'esx1', on: true })).outcome).to.equal('ok');
    const downAt = fabric.sched.nowMs();
    expect(await driver.act({ kind: 'kill', node: 'array1' })).to.equal('killed');
    await driver.sleep(20_000);
    const dead = fabric.nodes.get('esx1')!.events.since(0).filter((e) => e.type === 'storage-path' && e.timeMs >= downAt);
    expect(dead.length, 'esx1 logs its two dead paths').to.be.at.least(2);
    expect((await driver.datastoreState('esx1', 'ds1')).state).to.equal('offline');
    expect((await driver.datastoreState('esx2', 'ds1')).state).to.equal('offline');
    expect(await driver.act({ kind: 'restart', node: 'array1' })).to.equal('started afresh (LUN contents kept)');
    await driver.sleep(8_000);
    expect((await driver.datastoreState('esx1', 'ds1')).state).to.equal('mounted');
    expect((await driver.datastoreState('esx2', 'ds1')).state).to.equal('mounted');
    // the LUN kept its contents: app1's lock is still esx1's
    const files = await driver.datastoreFiles('ds1');
    const vmx = files.files.find((f) => f.path === 'app1/app1.vmx') as unknown as { lock: { mode: string; holders: Array<{ ownerName?: string; hostName?: string }> } };
    expect(vmx, JSON.stringify(files.files.map((f) => f.path))).to.not.equal(undefined);
    expect(vmx.lock.mode).to.equal('exclusive');
    expect(JSON.stringify(vmx.lock.holders)).to.include('esx1');
  });

  it('a host killed and restarted mounts the datastore again; its power-on goes through the array one hop each way', async () => {
    const { r, failed } = await run('host-restart', `
  - datastoreFormat: { datastore: ds1 }
  - kill: esx2
  - restart: esx2
  - expect:
      - datastoreState: { host: esx2, datastore: ds1, state: mounted, withinMs: 5000 }
  - vmPowerOn: { vm: app1, host: esx2 }
  - expect:
      - lock: { datastore: ds1, file: app1/app1-flat.vmdk, owner: esx2, mode: exclusive }
`);
    expect(r.error, r.error).to.equal(undefined);
    expect(failed).to.deep.equal([]);
    // every command and answer costs 2 x 0.125 ms: a power-on (reads, ATS, writes) takes a whole number of quarter ms
    const on = r.steps.find((s) => s.description.startsWith('power on'))!;
    const took = on.endMs - on.startMs;
    expect(took).to.be.greaterThan(0.25);
    expect((took * 4) % 1).to.equal(0);
  });

  it('refuses vMotion of a VM with datastore disks (no lock hand-over in the simulation), not the storage steps around it', async () => {
    const file = path.join(tmp, 'ha-migrate.yaml');
    fs.writeFileSync(file, `name: ha-migrate\ndescription: x\ntopology: ${path.resolve('scenarios/topologies/ha-lab.yaml')}\nsteps:\n  - datastoreFormat: { datastore: ds1 }\n  - migrate: { vm: app1, to: esx2 }\n`);
    const { scenario, topology } = await loadScenarioAndTopology(file);
    expect(simUnsupported(scenario, topology)).to.deep.equal(["step 2 (migrate): app1 has disks on a datastore (vMotion's datastore lock hand-over is not simulated)"]);
  });

  it('vfab up --sim runs datastores and HA clusters too (its control servers mount the storage routes)', async () => {
    const ha = await loadTopologyFile(path.resolve('scenarios/topologies/ha-lab.yaml'));
    expect(simUnsupported({ steps: [] } as never, ha)).to.deep.equal([]);
    expect(topologyUnsupported(ha)).to.deep.equal([]);
  });
});
