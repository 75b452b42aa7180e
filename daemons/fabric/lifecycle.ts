// Bringing a whole fabric up and down: `vfab up`, `vfab down`, `npm start` and the end-to-end tests use
// it. Covers writing each daemon's config, spawning switches, arrays, hosts and then the vm daemons of
// external VMs (their config gets the host's link URLs) as separate processes,
// telling the dialling ends where their peers listen, waiting until every link has carrier at both ends
// (with progress), recording the fabric in the state file, and stopping every daemon it started.

import fs from 'node:fs';
import path from 'node:path';
import { VfabError } from '../../lib/errors.js';
import type { Topology } from '../../lib/topology/model.js';
import { newToken } from '../common/server.js';
import { control } from '../common/control-client.js';
import { planFabric, linkUrl, type PlannedDaemon, type VmConfig } from './plan.js';
import { spawnDaemon, stopDaemons, type NotSignalled } from './process.js';
import { type FabricState, type DaemonRecord, writeState, removeState, stateDir as defaultStateDir, readState, ensurePrivateDir, writePrivateFile } from './state.js';
import { checkDaemonPid } from './pid-identity.js';

export const LINKS_UP_TIMEOUT_MS = 30_000;
const LINK_POLL_MS = 50;

export interface UpOptions {
  topology: Topology;
  detached?: boolean;
  timeScale?: number;
  stateDir?: string;
  onProgress?: (line: string) => void;
}

export interface LinkStatus {
  local: string;
  peer: string;
  carrier: boolean;
}

export async function fabricUp(opts: UpOptions): Promise<FabricState> {
  const dir = opts.stateDir ?? defaultStateDir();
  const progress = opts.onProgress ?? (() => {});
  try {
    const existing = readState(dir);
    if (existing.daemons.some((d) => checkDaemonPid(d).state === 'running')) {
      throw new VfabError('VFAB_FABRIC_RUNNING', `fabric ${existing.fabric} is already running from ${dir}; stop it with: vfab down`);
    }
  } catch (e) {
    if (!(e instanceof VfabError) || e.code !== 'VFAB_NO_FABRIC') throw e;
  }
  const runDir = path.join(dir, 'run');
  ensurePrivateDir(dir); // the state file, run configs and logs hold or lead to the token: owner only
  fs.rmSync(runDir, { recursive: true, force: true });
  fs.mkdirSync(runDir, { recursive: true });
  const token = newToken();
  const timeScale = opts.timeScale ?? 1;
  const plan = planFabric(opts.topology, timeScale);
  const state: FabricState = {
    fabric: opts.topology.name,
    topologyFile: opts.topology.file,
    token,
    startedAt: new Date().toISOString(),
    timeScale,
    runDir,
    daemons: [],
    // an external VM's guest routes (ping, mac, ...) are served by its own vm daemon, named like the VM
    vmHosts: Object.fromEntries(opts.topology.hosts.flatMap((h) => h.vms.map((vm) => [vm.name, vm.external ? vm.name : h.name]))),
    externalVmHosts: Object.fromEntries(opts.topology.hosts.flatMap((h) => h.vms.filter((vm) => vm.external).map((vm) => [vm.name, h.name]))),
  };
  const started: DaemonRecord[] = [];
  try {
    // listeners first (switches and arrays), then hosts, then external VMs; each prints its port when ready
    const order = [...plan].sort((a, b) => rank(a) - rank(b));
    let n = 0;
    for (const d of order) {
      if (d.config.kind === 'vm') {
        // the host listens already: tell the VM where each vNIC's port is
        const hostRec = started.find((r) => r.name === (d.config as VmConfig).host);
        if (!hostRec) throw new VfabError('VFAB_FABRIC_PEER', `external VM ${d.name}: no daemon for its host ${d.config.host}`);
        d.config.nicUrls = Object.fromEntries(d.config.links.map((end) => [end.local, linkUrl(hostRec.port, end.peerInterface)]));
        d.config.hostControlPort = hostRec.port;
      }
      const configFile = path.join(runDir, `${d.name}.json`);
      writePrivateFile(configFile, JSON.stringify(d.config, null, 2));
      const args = ['--config', configFile, '--name', d.name];
      if (d.kind === 'array') args.push('--data-dir', path.join(runDir, 'data', d.name));
      const rec = await spawnDaemon({ name: d.name, kind: d.kind, args, token, logFile: path.join(dir, 'logs', `${d.name}.log`), detached: opts.detached ?? false });
      started.push(rec);
      progress(`started ${d.kind} ${d.name} (pid ${rec.pid}, port ${rec.port}) [${++n}/${plan.length}]`);
    }
    state.daemons = started;
    writeState(state, dir);
    await connectPeers(plan, started, token);
    await waitLinksUp(state, LINKS_UP_TIMEOUT_MS, progress);
    return state;
  } catch (e) {
    await stopDaemons(started);
    removeState(dir);
    throw e;
  }
}

function rank(d: PlannedDaemon): number {
  return d.kind === 'switch' ? 0 : d.kind === 'array' ? 1 : d.kind === 'host' ? 2 : 3;
}

async function connectPeers(plan: PlannedDaemon[], started: DaemonRecord[], token: string): Promise<void> {
  const portOf = new Map(started.map((d) => [d.name, d.port]));
  for (const d of plan) {
    if (d.config.kind === 'array' || d.config.kind === 'vm') continue; // vm daemons dial from their config
    const peers: Record<string, string> = {};
    for (const end of d.config.links) {
      if (end.role !== 'dial') continue;
      const peerPort = portOf.get(end.peerNode);
      if (peerPort === undefined) throw new VfabError('VFAB_FABRIC_PEER', `link ${d.name}.${end.local} -> ${end.peer}: no daemon for ${end.peerNode}`);
      peers[end.local] = linkUrl(peerPort, end.peerInterface);
    }
    if (Object.keys(peers).length > 0) await control({ port: portOf.get(d.name)! }, token, 'POST', '/control/peers', { peers });
    // hosts with storage: where each array's block protocol listens (daemons/host-storage.ts connects its paths)
    if (d.config.kind === 'host' && d.config.host.storage.length > 0) {
      const arrays = Object.fromEntries(d.config.host.storage.filter((s) => portOf.has(s.array)).map((s) => [s.array, `ws://127.0.0.1:${portOf.get(s.array)}/block`]));
      await control({ port: portOf.get(d.name)! }, token, 'POST', '/control/storage/arrays', { arrays });
    }
  }
}

/** Polls every daemon's link list until each link reports carrier at both ends. */
export async function waitLinksUp(state: FabricState, timeoutMs: number, progress: (line: string) => void = () => {}): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const { up, total, down } = await linkCensus(state);
    const line = `links up ${up}/${total}`;
    if (line !== last) progress(line);
    last = line;
    if (up === total) return;
    if (Date.now() > deadline) {
      throw new VfabError('VFAB_LINKS_TIMEOUT', `only ${up} of ${total} links came up within ${timeoutMs} ms; down: ${down.join(', ')}`);
    }
    await new Promise((r) => setTimeout(r, LINK_POLL_MS));
  }
}

export async function linkCensus(state: FabricState): Promise<{ up: number; total: number; down: string[] }> {
  const ends = new Map<string, boolean>();
  for (const d of state.daemons) {
    if (d.kind !== 'host' && d.kind !== 'switch' && d.kind !== 'vm') continue;
    const status = await control<{ links: LinkStatus[] }>(d, state.token, 'GET', '/control/status');
    for (const l of status.links) ends.set(`${d.name}.${l.local}`, l.carrier);
  }
  const seen = new Set<string>();
  let up = 0;
  let total = 0;
  const down: string[] = [];
  for (const d of state.daemons) {
    if (d.kind !== 'host' && d.kind !== 'switch' && d.kind !== 'vm') continue;
    const cfg = JSON.parse(fs.readFileSync(path.join(state.runDir, `${d.name}.json`), 'utf8'));
    for (const end of cfg.links as Array<{ local: string; peer: string }>) {
      const a = `${d.name}.${end.local}`;
      const key = [a, end.peer].sort().join(' ');
      if (seen.has(key)) continue;
      seen.add(key);
      total++;
      if (ends.get(a) && ends.get(end.peer)) up++;
      else down.push(`${a} <-> ${end.peer}`);
    }
  }
  return { up, total, down };
}

export async function fabricDown(state: FabricState, stateDirPath = defaultStateDir()): Promise<{ stopped: string[]; killed: string[]; notSignalled: NotSignalled[] }> {
  const result = await stopDaemons(state.daemons);
  removeState(stateDirPath);
  return result;
}
