// The CLI's side of an interactive simulated fabric (`vfab up TOPOLOGY --sim`, docs/simulation.md
// "Interactive: vfab up --sim"): refuses a topology with parts that cannot be simulated (VFAB_SIM_UNSUPPORTED,
// each named), starts the one sim process (daemons/simd.ts) like a daemon (token, log, ready line), asks
// it for its nodes' ports and clock anchor (GET /control/sim), and records the fabric in the state file
// as `vfab up` does: one record per host, switch and array (with the topology's datastores; without,
// arrays are left out), each with its own control port and the sim
// process's PID (`process` names it, so PID checks and `vfab down` work unchanged), plus `sim`. Also the
// plan's per-node configs in the run directory (what the link census and the running configuration
// read), and kill/restart of a node through the sim process (`vfab fault kill|restart`). Leaves out what
// the sim process does (daemons/sim/serve.ts).

import fs from 'node:fs';
import path from 'node:path';
import { VfabError } from '../../lib/errors.js';
import type { Topology } from '../../lib/topology/model.js';
import type { FabricClockAnchor } from '../../lib/fabric-clock.js';
import { newToken } from '../common/server.js';
import { distScript } from '../common/paths.js';
import { control } from '../common/control-client.js';
import { planFabric } from '../fabric/plan.js';
import { spawnDaemon, stopDaemons } from '../fabric/process.js';
import { initRunningConfig } from '../fabric/running-config.js';
import { type DaemonRecord, type FabricState, assertNoFabricRunning, ensurePrivateDir, findDaemon, readState, removeState, stateDir as defaultStateDir, writePrivateFile, writeState } from '../fabric/state.js';
import { checkDaemonPid } from '../fabric/pid-identity.js';
import { LINKS_UP_TIMEOUT_MS, waitLinksUp } from '../fabric/lifecycle.js';
import type { RestartResult } from '../fabric/faults.js';
import { topologyUnsupported } from './serve.js';
import { simNotes, simRunsStorage } from '../../lib/sim/support.js';
import type { SimdConfig } from '../simd.js';

export interface SimUpOptions {
  topology: Topology;
  seed: number;
  timeScale: number;
  detached: boolean;
  stateDir?: string;
  topologyText?: string;
  onProgress?: (line: string) => void;
}

/** The one process of a simulated fabric: every host and switch in it. */
export const SIM_SCRIPT = distScript('daemons/simd.ts');

/** GET /control/sim of the sim process. */
export interface SimInfo {
  fabric: string;
  pid: number;
  seed: number;
  timeScale: number;
  clock: FabricClockAnchor;
  nodes: Array<{ name: string; kind: 'host' | 'switch' | 'array'; port: number; running: boolean }>;
  virtualMs: number;
  aheadMs: number;
}

/** The `--name` of a fabric's sim process (each node record's `process`). */
export function simProcessName(fabric: string): string {
  return `sim:${fabric}`;
}

/** VFAB_SIM_UNSUPPORTED naming every part of the topology that needs daemon mode. */
export function assertTopologySimulatable(t: Topology): void {
  const why = topologyUnsupported(t);
  if (why.length > 0) throw new VfabError('VFAB_SIM_UNSUPPORTED', `topology ${t.name} cannot be simulated (start it without --sim; see docs/simulation.md):\n  ${why.join('\n  ')}`, { reasons: why });
}

export async function simFabricUp(o: SimUpOptions): Promise<FabricState> {
  const dir = o.stateDir ?? defaultStateDir();
  const progress = o.onProgress ?? (() => {});
  assertTopologySimulatable(o.topology);
  assertNoFabricRunning(dir);
  ensurePrivateDir(dir);
  const runDir = path.join(dir, 'run');
  fs.rmSync(runDir, { recursive: true, force: true });
  fs.mkdirSync(runDir, { recursive: true });
  const token = newToken();
  const name = simProcessName(o.topology.name);
  const configFile = path.join(runDir, 'sim.json');
  const config: SimdConfig = { kind: 'sim', fabric: o.topology.name, topologyFile: path.resolve(o.topology.file), seed: o.seed, timeScale: o.timeScale };
  writePrivateFile(configFile, JSON.stringify(config, null, 2));
  const t = o.topology;
  const arrays = simRunsStorage(t) ? `, ${t.arrays.length} array${t.arrays.length === 1 ? '' : 's'}` : '';
  progress(`simulating ${t.hosts.length} hosts${arrays} and ${t.switches.length} switches in one process (seed ${o.seed}, time scale ${o.timeScale})`);
  for (const note of simNotes(t)) progress(`note: ${note}`);
  const logFile = path.join(dir, 'logs', 'sim.log');
  const rec = await spawnDaemon({ name, kind: 'host', script: SIM_SCRIPT, args: ['--config', configFile, '--name', name], token, logFile, detached: o.detached });
  try {
    const info = await control<SimInfo>(rec, token, 'GET', '/control/sim');
    const state: FabricState = {
      fabric: t.name,
      topologyFile: t.file,
      token,
      startedAt: new Date(info.clock.wallMs).toISOString(),
      timeScale: o.timeScale,
      clock: info.clock,
      runDir,
      daemons: info.nodes.map((n): DaemonRecord => ({ name: n.name, kind: n.kind, pid: rec.pid, port: n.port, logFile, process: name, ...(rec.startTime !== undefined ? { startTime: rec.startTime } : {}) })),
      // arrays are simulated with the topology's datastores; without, they are left out (simNotes)
      sim: { name, pid: rec.pid, port: rec.port, logFile, seed: o.seed, leftOut: t.arrays.map((a) => a.name).filter((a) => !info.nodes.some((n) => n.name === a)), ...(rec.startTime !== undefined ? { startTime: rec.startTime } : {}) },
      vmHosts: Object.fromEntries(t.hosts.flatMap((h) => h.vms.map((vm) => [vm.name, h.name]))),
    };
    // each node's config as `vfab up` writes it (the link census reads the links from them)
    for (const d of planFabric(t, o.timeScale, info.clock)) {
      if (d.kind === 'host' || d.kind === 'switch') writePrivateFile(path.join(runDir, `${d.name}.json`), JSON.stringify(d.config, null, 2));
    }
    writeState(state, dir);
    initRunningConfig(state, o.topologyText ?? fs.readFileSync(t.file, 'utf8'));
    await waitLinksUp(state, LINKS_UP_TIMEOUT_MS, progress);
    return state;
  } catch (e) {
    await stopDaemons([rec]);
    removeState(dir);
    throw e;
  }
}

/** The sim process of a simulated fabric's state, checked to be the one that was started. */
function simProcess(state: FabricState): DaemonRecord {
  const s = state.sim!;
  const rec: DaemonRecord = { name: s.name, kind: 'host', pid: s.pid, port: s.port, logFile: s.logFile, ...(s.startTime !== undefined ? { startTime: s.startTime } : {}) };
  const now = checkDaemonPid(rec);
  if (now.state !== 'running') throw new VfabError('VFAB_DAEMON_DOWN', `the simulated fabric ${state.fabric} (pid ${s.pid}) is not running${now.state === 'foreign' ? ` (${now.reason})` : ''}; start it again with: vfab up ${state.topologyFile} --sim`);
  return { ...rec, name: `simulated fabric ${state.fabric}` };
}

/** A node, or VFAB_SIM_UNSUPPORTED for a storage array the simulation left out (a topology without datastores). */
function simNode(state: FabricState, name: string): DaemonRecord {
  if (state.sim!.leftOut.includes(name)) throw new VfabError('VFAB_SIM_UNSUPPORTED', `${name} is a storage array of a topology without datastores: it is not simulated by vfab up --sim (start the fabric without --sim for this)`);
  return findDaemon(state, name);
}

/** `vfab fault kill NODE` on a simulated fabric: the node's core is dropped in the sim process. */
export async function simKill(state: FabricState, name: string): Promise<{ name: string; pid: number; wasRunning: boolean }> {
  simNode(state, name);
  const r = await control<{ name: string; pid: number; wasRunning: boolean }>(simProcess(state), state.token, 'POST', `/control/sim/nodes/${encodeURIComponent(name)}/kill`, {});
  markKilled(name, true);
  return r;
}

/** Records a killed (or restarted) node in the state file, so commands that pick a running host skip it. */
function markKilled(name: string, killed: boolean): void {
  const now = readState();
  if (now.sim === undefined) return;
  const rest = (now.sim.killed ?? []).filter((n) => n !== name);
  now.sim.killed = killed ? [...rest, name] : rest;
  writeState(now);
}

/** `vfab fault restart NODE` on a simulated fabric: a fresh core from its configuration, on its port. */
export async function simRestart(state: FabricState, name: string): Promise<RestartResult> {
  simNode(state, name);
  const r = await control<RestartResult>(simProcess(state), state.token, 'POST', `/control/sim/nodes/${encodeURIComponent(name)}/restart`, {});
  markKilled(name, false);
  return r;
}

/**
 * The nodes of a simulated fabric that are killed (`vfab fault kill`, not restarted), as the sim process
 * reports them; empty when it cannot be asked (`vfab status` then reports each node as it answers).
 */
export async function simKilledNodes(state: FabricState): Promise<Set<string>> {
  try {
    const info = await control<SimInfo>(simProcess(state), state.token, 'GET', '/control/sim');
    return new Set(info.nodes.filter((n) => !n.running).map((n) => n.name));
  } catch {
    return new Set();
  }
}
