// simd: an interactive simulated fabric (`vfab up TOPOLOGY --sim`, docs/simulation.md "Interactive: vfab
// up --sim") as one background process. Builds every host and switch of the topology as a SimFabric
// (daemons/sim/fabric.ts) with the run seed, lets it settle for SIM_SETTLE_MS of fabric time (cables
// carrier, VMs power on, teaming pins ports), then runs its scheduler paced to the wall clock (virtual
// time = wall time since the anchor x --time-scale; lib/sim/pacer.ts) and serves each node's control API
// on a port of its own (daemons/sim/serve.ts), so vfab status, events, ping, link, fault, capture, set
// work as against daemons; with datastores in the topology, arrays, hosts' storage, datastores and HA
// agents run too (daemons/sim/storage.ts) and the datastore, vm, ha, lun and vMotion commands work. Its own
// port answers GET /control/sim (nodes, ports, the clock anchor, how far virtual time is ahead of the wall
// clock) and kill/restart of a node or array (POST /control/sim/nodes/:node/kill|restart), whose own port
// is closed while it is down. Leaves out real guests, VXLAN ports and iSCSI paths (refused at start,
// VFAB_SIM_UNSUPPORTED) and dialling links (per request).
//
// usage: node dist/daemons/simd.js --config FILE --name NAME [--host 127.0.0.1]   (started by vfab up --sim)
// config: {kind: 'sim', fabric, topologyFile, seed, timeScale}

import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { VfabError } from '../lib/errors.js';
import { loadTopologyFile } from '../lib/topology/load.js';
import { WallPacer } from '../lib/sim/pacer.js';
import { NS_PER_MS } from '../lib/fabric-clock.js';
import { announceReady, daemonToken, exitFatal, onShutdown } from './common/server.js';
import { SimFabric } from './sim/fabric.js';
import { SIM_SETTLE_MS, SimDriver } from './sim/driver.js';
import { PacedControlServer, PacerLoop, SimService, topologyUnsupported } from './sim/serve.js';

/** What `vfab up --sim` writes for this process (run/sim.json). */
export interface SimdConfig {
  kind: 'sim';
  fabric: string;
  topologyFile: string;
  seed: number;
  timeScale: number;
}

const { values } = parseArgs({ options: { config: { type: 'string' }, name: { type: 'string' }, host: { type: 'string', default: '127.0.0.1' }, help: { type: 'boolean' } } });
if (values.help || !values.config || !values.name) {
  process.stderr.write('usage: simd --config FILE --name NAME [--host 127.0.0.1]\n(normally started by `vfab up --sim`)\n');
  process.exit(values.help ? 0 : 2);
}

try {
  const config = JSON.parse(fs.readFileSync(values.config, 'utf8')) as SimdConfig;
  if (config.kind !== 'sim' || !(config.timeScale > 0) || !Number.isInteger(config.seed)) throw new VfabError('VFAB_USAGE', `${values.config} is not a simulated fabric's config`);
  const token = daemonToken();
  const topology = await loadTopologyFile(config.topologyFile);
  const why = topologyUnsupported(topology);
  if (why.length > 0) throw new VfabError('VFAB_SIM_UNSUPPORTED', `topology ${topology.name} cannot be simulated:\n  ${why.join('\n  ')}`, { reasons: why });
  const fabric = new SimFabric({ topology, seed: config.seed });
  // with datastores, arrays open and hosts attach and mount them while the fabric settles (as vfab run --sim)
  await fabric.storage?.start(SIM_SETTLE_MS);
  const driver = new SimDriver({ fabric, topologyText: fs.readFileSync(config.topologyFile, 'utf8'), topologyFile: config.topologyFile, outDir: path.dirname(values.config) });
  // the fabric settled for SIM_SETTLE_MS of virtual time: the anchor puts that instant at now, so the
  // CLI's fabric clock (state.clock, timeScale) reads the scheduler's time from here on
  const settledMs = fabric.sched.nowMs();
  const monotonicNow = process.hrtime.bigint();
  const wallNow = Date.now();
  const originNs = monotonicNow - BigInt(Math.round((settledMs * NS_PER_MS) / config.timeScale));
  const anchor = { monotonicNs: String(originNs), wallMs: wallNow - settledMs / config.timeScale };
  // the scheduler runs through a pump, one instant at a time: the daemons' asynchronous code (storage,
  // vMotion's service) resumes at the virtual instant that resolved it, as under vfab run --sim
  const loop = new PacerLoop(new WallPacer(fabric.sched, originNs, config.timeScale), fabric.pump, (e) => process.stderr.write(`simd: a simulated node failed: ${(e as Error)?.stack ?? String(e)}\n`));
  const service = new SimService({ fabric, driver, loop, token, anchor, timeScale: config.timeScale, bindHost: values.host });
  await service.start();
  const main = new PacedControlServer(token, loop)
    .on('GET', '/control/sim', () => ({
      fabric: topology.name, pid: process.pid, seed: config.seed, timeScale: config.timeScale, clock: anchor, nodes: service.nodes(),
      virtualMs: fabric.sched.nowMs(), aheadMs: loop.aheadMs(), timersFired: fabric.sched.fired, timersPending: fabric.sched.pending,
    }))
    .on('POST', '/control/sim/nodes/:node/kill', (req) => service.kill(req.params.node!))
    .on('POST', '/control/sim/nodes/:node/restart', (req) => service.restart(req.params.node!));
  const port = await main.listen(0, values.host);
  loop.kick();
  onShutdown(async () => {
    loop.stop();
    await service.close();
    await main.close();
  });
  announceReady(values.name, port);
} catch (e) {
  exitFatal('simd', e);
}
