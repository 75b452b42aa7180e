// Storage in simulation mode (daemons/sim/storage.ts): an array killed under two hosts closes their paths
// (they log the dead paths) and, once a whole lease passes without a heartbeat, the datastore goes offline;
// restarted, it keeps its LUN contents (the VM's lock is still on disk), the hosts' multipath clients
// reconnect and the datastore is mounted again. A host killed and restarted mounts the datastore again
// (reclaiming its own heartbeat slot). Commands and answers take SIM_STORAGE_HOP_MS each way. vMotion of
// a VM with datastore disks moves its file locks to the destination. In this process, no daemons.
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
import { SIM_STORAGE_JITTER_STEP_MS } from '../../daemons/sim/storage.js';
import { pathIsid } from '../../daemons/storage/iscsi-url.js';

const pathIsidHex = (i: number) => Buffer.from(pathIsid(i)).toString('hex');

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
    // every command and answer costs 0.125 ms plus whole 0.125 ms jitter steps: a power-on (reads, ATS,
    // writes) takes a whole number of eighths of a ms, at least two hops per command
    const on = r.steps.find((s) => s.description.startsWith('power on'))!;
    const took = on.endMs - on.startMs;
    expect(took).to.be.greaterThan(0.25);
    expect((took / SIM_STORAGE_JITTER_STEP_MS) % 1).to.equal(0);
  });

  it("vMotion of a VM with a datastore disk hands its file locks from esx1 to esx2 (as hostd's service does)", async () => {
    const file = path.join(tmp, 'vmotion-ds.yaml');
    fs.writeFileSync(file, `name: vmotion-ds\ndescription: x\ntopology: ${path.resolve('topologies/e2e/vmotion-datastore.yaml')}\nsteps:
  - datastoreFormat: { datastore: ds1 }
  - expect:
      - lock: { datastore: ds1, file: db1/db1.vmx, owner: esx1, mode: exclusive, withinMs: 5000 }
      - lock: { datastore: ds1, file: db1/db1-flat.vmdk, owner: esx1, mode: exclusive }
  - migrate: { vm: db1, to: esx2 }
  - expect:
      - lock: { datastore: ds1, file: db1/db1.vmx, owner: esx2, mode: exclusive }
      - lock: { datastore: ds1, file: db1/db1-flat.vmdk, owner: esx2, mode: exclusive }
      - event: { source: esx1, type: vmotion-locks-released, match: { vm: db1 } }
  - label: back
    vmPowerOn: { vm: db1, host: esx1, expect: locked }
`);
    const { scenario, topology } = await loadScenarioAndTopology(file);
    expect(simUnsupported(scenario, topology)).to.deep.equal([]);
    const r = await runScenarioFile(file, { sim: { seed: 1 }, outDir: path.join(tmp, 'vmotion-ds'), handleSignals: false });
    const failed = r.results.filter((x) => !x.passed).map((x) => `${x.id} ${x.name}: expected ${x.expected}, got ${x.got}`);
    expect(r.error, r.error).to.equal(undefined);
    expect(failed).to.deep.equal([]);
    const mig = r.steps.find((s) => s.description.includes('db1') && /migrat/.test(s.description))!;
    expect(mig.detail).to.match(/^downtime [\d.]+ ms, 1 pass\(es\), 4\.\d MiB/);
  });

  it('a power-on race: the seeded hop jitter decides each round, so the winners depend on the seed and repeat with it', async () => {
    const file = path.join(tmp, 'race.yaml');
    fs.writeFileSync(file, `name: race\ndescription: x\ntopology: ${LAB}\nsteps:\n  - datastoreFormat: { datastore: ds1 }\n  - vmPowerOnRace: { vm: app1, hosts: [esx1, esx2], rounds: 6 }\n`);
    const rounds = async (seed: number, dir: string) => {
      const r = await runScenarioFile(file, { sim: { seed }, outDir: path.join(tmp, dir), handleSignals: false });
      const race = r.results.find((x) => x.kind === 'vmPowerRace')!;
      expect(race.passed, race.got).to.equal(true);
      return race.evidence.filter((l) => l.startsWith('round ')).map((l) => /(esx\d) won/.exec(l)![1]).join(' ');
    };
    const one = await rounds(1, 'race-1');
    const winners = [one, await rounds(2, 'race-2'), await rounds(3, 'race-3')];
    expect(await rounds(1, 'race-1b'), 'seed 1 again').to.equal(one);
    const all = winners.join(' ').split(' ');
    expect(all).to.have.length(18);
    expect(all, 'esx2 wins some rounds too').to.include('esx2');
    expect(all, 'and esx1').to.include('esx1');
    expect(new Set(winners).size, `winners by seed: ${winners.join(' | ')}`).to.be.greaterThan(1);
  });

  /** datastore-lab over iSCSI: two paths per host to array1's portal, with an initiator ACL and mutual CHAP. */
  const ISCSI_LAB = `name: iscsi-ds-lab
description: esx1 and esx2 mount ds1 over two iSCSI paths each
hosts:
  - name: esx1
    storage: [{ array: array1, luns: [shared1], paths: 2, policy: roundRobin, protocol: iscsi }]
    datastores: [{ name: ds1, lun: shared1 }]
  - name: esx2
    storage: [{ array: array1, luns: [shared1], paths: 2, policy: roundRobin, protocol: iscsi }]
    datastores: [{ name: ds1, lun: shared1 }]
arrays:
  - name: array1
    iscsi:
      port: 3260
      initiators: [iqn.2026-11.vfab:esx1, iqn.2026-11.vfab:esx2]
      chap: { username: esx-hosts, secret: sim-host-secret, mutual: { username: array1, secret: sim-array-secret } }
    luns:
      - { name: shared1, sizeGB: 0.25, blockSize: 512 }
`;

  it("iSCSI paths: the hosts log in to the array's portal (ACL, mutual CHAP), run the datastore over iSCSI PDUs, and reconnect after the array restarts", async () => {
    const file = path.join(tmp, 'iscsi-ds-lab.yaml');
    fs.writeFileSync(file, ISCSI_LAB);
    const topology = await loadTopologyFile(file);
    expect(simUnsupported({ steps: [] } as never, topology)).to.deep.equal([]);
    const fabric = new SimFabric({ topology, seed: 1 });
    await fabric.storage!.start(SIM_SETTLE_MS);
    const driver = new SimDriver({ fabric, topologyText: ISCSI_LAB, topologyFile: file, outDir: tmp });
    type Status = { arrays: Array<{ array: string; protocol: string; state: string; paths: Array<{ name: string; protocol: string; connected: boolean }> }> };
    const status = (h: string) => fabric.storage!.request<Status>(h, 'GET', '/control/storage', undefined, 1000);
    for (const h of ['esx1', 'esx2']) {
      const a = (await status(h)).arrays[0]!;
      expect(a.state, h).to.equal('attached');
      expect(a.paths.map((p) => `${p.name} ${p.protocol} ${p.connected}`), h).to.deep.equal(['vmhba65:C0:T0:P0 iscsi true', 'vmhba65:C0:T0:P1 iscsi true']);
    }
    const portal = fabric.storage!.arrays.get('array1')!.portal!;
    const nexuses = ['esx1', 'esx2'].flatMap((h) => [0, 1].map((i) => `iqn.2026-11.vfab:${h} ${pathIsidHex(i)}`)).sort();
    expect(portal.info().sessions.map((x) => `${x.initiatorName} ${x.isid}`).sort(), 'one session per path, its ISID the path number').to.deep.equal(nexuses);
    expect(portal.info().authFailures).to.deep.equal({});
    await driver.act({ kind: 'datastoreFormat', datastore: 'ds1', force: false, locking: 'ats-only' } as never);
    expect((await driver.vmPower({ vm: 'app1', host: 'esx1', on: true })).outcome).to.equal('ok');
    expect((await driver.vmPower({ vm: 'app1', host: 'esx2', on: true })).outcome).to.equal('locked');
    const commands = portal.info().commands;
    expect(commands, 'the datastore I/O went through the portal').to.be.greaterThan(20);
    // the array dies and comes back: paths close, the hosts log in again, the lock is still esx1's
    expect(await driver.act({ kind: 'restart', node: 'array1' })).to.equal('started afresh (LUN contents kept)');
    await driver.sleep(3000); // the hosts' multipath clients retry every second
    const again = fabric.storage!.arrays.get('array1')!.portal!;
    expect(again).to.not.equal(portal);
    expect(again.info().sessions).to.have.length(4);
    const files = await driver.datastoreFiles('ds1');
    const vmx = files.files.find((f) => f.path === 'app1/app1.vmx') as unknown as { lock: { holders: unknown[] } };
    expect(JSON.stringify(vmx.lock.holders)).to.include('esx1');
    expect((await driver.vmPower({ vm: 'app1', host: 'esx2', on: true })).outcome).to.equal('locked');
  });

  it('an iSCSI datastore scenario (race, host killed and restarted) passes and repeats byte for byte with its seed', async () => {
    const lab = path.join(tmp, 'iscsi-ds-lab.yaml');
    fs.writeFileSync(lab, ISCSI_LAB);
    const file = path.join(tmp, 'iscsi-race.yaml');
    fs.writeFileSync(file, `name: iscsi-race\ndescription: x\ntopology: ${lab}\nsteps:\n  - datastoreFormat: { datastore: ds1 }\n  - vmPowerOnRace: { vm: app1, hosts: [esx1, esx2], rounds: 4 }\n  - vmPowerOn: { vm: app1, host: esx2 }\n  - kill: esx2\n  - restart: esx2\n  - vmPowerOn: { vm: app1, host: esx1, expect: locked }\n`);
    const json: string[] = [];
    for (const dir of ['ir1', 'ir2']) {
      const r = await runScenarioFile(file, { sim: { seed: 4 }, outDir: path.join(tmp, dir), handleSignals: false });
      expect(r.error, r.error).to.equal(undefined);
      expect(r.results.filter((x) => !x.passed).map((x) => x.got)).to.deep.equal([]);
      json.push(fs.readFileSync(path.join(tmp, dir, 'timeline.json'), 'utf8'));
    }
    expect(json[0]).to.include('storage-attached');
    expect(json[1]).to.equal(json[0]);
  });

  it('vfab up --sim runs datastores and HA clusters too (its control servers mount the storage routes)', async () => {
    const ha = await loadTopologyFile(path.resolve('scenarios/topologies/ha-lab.yaml'));
    expect(simUnsupported({ steps: [] } as never, ha)).to.deep.equal([]);
    expect(topologyUnsupported(ha)).to.deep.equal([]);
  });
});
