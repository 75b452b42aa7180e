// Fault injection at the orchestrator level: kill a daemon (SIGKILL by its recorded PID), restart it
// (respawn with the recorded config file on the same port, so peers reconnect: hosts dial again with
// backoff, switches listen again; a restarted dialler is re-told its peers with POST /control/peers), and
// the per-endpoint faults of the control API (impair, flap, clear, switch port shut / no shut) resolved
// from "<node>.<interface>". Used by `vfab fault ...` (daemons/cli/commands/fault.ts) and the scenario
// runner. Only PIDs recorded in the fabric's state file are ever signalled. Leaves out partitions of
// several links at once (call these per link) and killing individual VMs (they live inside hostd).

import fs from 'node:fs';
import path from 'node:path';
import { VfabError } from '../../lib/errors.js';
import { control } from '../common/control-client.js';
import type { FlapRequest, ImpairRequest } from '../common/links.js';
import { linkUrl, type LinkEnd } from './plan.js';
import { spawnDaemon, stopDaemons } from './process.js';
import { type FabricState, type DaemonRecord, findDaemon, writeState, stateDir as defaultStateDir, daemonForEndpoint } from './state.js';
import { checkDaemonPid, stillExists } from './pid-identity.js';
import { waitLinksUp } from './lifecycle.js';

/** How long kill waits for the process to be gone. */
export const KILL_WAIT_MS = 5_000;
/** How long restart waits for every link to have carrier again. */
export const RESTART_LINKS_TIMEOUT_MS = 30_000;

/** SIGKILL a daemon by its recorded PID (no clean shutdown: peers see their links drop). */
export async function killDaemon(state: FabricState, name: string): Promise<{ name: string; pid: number; wasRunning: boolean }> {
  const d = findDaemon(state, name);
  const wasRunning = checkDaemonPid(d).state === 'running'; // a reused PID is not ours to kill
  if (wasRunning) {
    try {
      process.kill(d.pid, 'SIGKILL');
    } catch {
      /* gone already */
    }
    const deadline = Date.now() + KILL_WAIT_MS;
    while (stillExists(d) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    if (stillExists(d)) throw new VfabError('VFAB_FAULT_KILL_FAILED', `${name} (pid ${d.pid}) is still alive ${KILL_WAIT_MS} ms after SIGKILL`);
  }
  return { name, pid: d.pid, wasRunning };
}

export interface RestartOptions {
  stateDir?: string;
  /** Keep running after this process exits (default true: the CLI returns at once). */
  detached?: boolean;
  /** Wait until every link of the fabric has carrier again (default true). */
  waitLinks?: boolean;
  linksTimeoutMs?: number;
}

/**
 * Respawns `name` with its recorded config on its recorded port (stopping it first if it still runs),
 * re-sends its peers when it dials, updates the state file, and (by default) waits for every link.
 */
export async function restartDaemon(state: FabricState, name: string, opts: RestartOptions = {}): Promise<{ name: string; oldPid: number; pid: number; port: number; redialled: string[] }> {
  const d = findDaemon(state, name);
  await stopDaemons([d]); // signals it only while it is provably still this daemon
  const configFile = path.join(state.runDir, `${d.name}.json`);
  if (!fs.existsSync(configFile)) throw new VfabError('VFAB_FAULT_NO_CONFIG', `no recorded config for ${name} (${configFile})`);
  const args = ['--config', configFile, '--name', d.name, '--port', String(d.port)];
  if (d.kind === 'array') args.push('--data-dir', path.join(state.runDir, 'data', d.name));
  const rec = await spawnDaemon({ name: d.name, kind: d.kind, args, token: state.token, logFile: d.logFile, detached: opts.detached ?? true });
  if (rec.port !== d.port) {
    await stopDaemons([rec]);
    throw new VfabError('VFAB_FAULT_PORT_CHANGED', `${name} came back on port ${rec.port}, not ${d.port}; its peers would not find it`);
  }
  const oldPid = d.pid;
  const updated: DaemonRecord = { ...d, pid: rec.pid, ...(rec.startTime !== undefined ? { startTime: rec.startTime } : {}) };
  state.daemons = state.daemons.map((x) => (x.name === name ? updated : x));
  writeState(state, opts.stateDir ?? defaultStateDir());
  const redialled = await redialPeers(state, updated);
  if (opts.waitLinks ?? true) await waitLinksUp(state, opts.linksTimeoutMs ?? RESTART_LINKS_TIMEOUT_MS);
  return { name, oldPid, pid: rec.pid, port: rec.port, redialled };
}

/** A restarted process forgot where its dialling ends go: tell it again (the orchestrator's job). */
async function redialPeers(state: FabricState, d: DaemonRecord): Promise<string[]> {
  if (d.kind !== 'host' && d.kind !== 'switch') return [];
  const cfg = JSON.parse(fs.readFileSync(path.join(state.runDir, `${d.name}.json`), 'utf8')) as { links: LinkEnd[] };
  const peers: Record<string, string> = {};
  for (const end of cfg.links) {
    if (end.role !== 'dial') continue;
    peers[end.local] = linkUrl(findDaemon(state, end.peerNode).port, end.peerInterface);
  }
  if (Object.keys(peers).length === 0) return [];
  const r = await control<{ dialled: string[] }>(d, state.token, 'POST', '/control/peers', { peers });
  return r.dialled;
}

/** Loss / delay / jitter on one link end ("esx1.vmnic0", "sw1.Gi1/0/1"); `{}` clears. */
export async function impairEndpoint(state: FabricState, endpoint: string, req: ImpairRequest): Promise<unknown> {
  const { daemon, iface } = linkEndpoint(state, endpoint);
  return control(daemon, state.token, 'POST', `/control/links/${encodeURIComponent(iface)}/impair`, req);
}

/** Flap schedule on one link end; `{}` cancels (the link is left up). */
export async function flapEndpoint(state: FabricState, endpoint: string, req: FlapRequest): Promise<unknown> {
  const { daemon, iface } = linkEndpoint(state, endpoint);
  return control(daemon, state.token, 'POST', `/control/links/${encodeURIComponent(iface)}/flap`, req);
}

/** Clears impairment and cancels any flap on one link end. */
export async function clearEndpoint(state: FabricState, endpoint: string): Promise<{ endpoint: string }> {
  await impairEndpoint(state, endpoint, {});
  await flapEndpoint(state, endpoint, {});
  return { endpoint };
}

/** "shutdown" / "no shutdown" of a physical switch port. */
export async function shutPort(state: FabricState, endpoint: string, shutdown: boolean): Promise<unknown> {
  const { daemon, iface } = linkEndpoint(state, endpoint);
  if (daemon.kind !== 'switch') throw new VfabError('VFAB_BAD_ENDPOINT', `${endpoint} is not a physical switch port (shut applies to switch ports, e.g. sw1.Gi1/0/1)`);
  return control(daemon, state.token, 'POST', `/control/ports/${encodeURIComponent(iface)}/shutdown`, { shutdown });
}

function linkEndpoint(state: FabricState, endpoint: string) {
  const r = daemonForEndpoint(state, endpoint);
  if (r.daemon.kind !== 'host' && r.daemon.kind !== 'switch') throw new VfabError('VFAB_BAD_ENDPOINT', `${endpoint} is not a host uplink or a switch port`);
  if (state.vmHosts[r.node]) throw new VfabError('VFAB_BAD_ENDPOINT', `${endpoint} is a VM's vNIC; faults apply to cables: a host uplink (esx1.vmnic0) or a switch port (sw1.Gi1/0/1)`);
  return r;
}
