// Fault injection at the orchestrator level: kill a daemon (SIGKILL by its recorded PID), restart it
// (respawn with the recorded config file on the same port, so peers reconnect: hosts dial again with
// backoff, switches listen again; then everything `vfab up` told it is told again by the same code,
// lifecycle.ts setUpDaemon: a dialler's peers, a host's arrays; a restarted array is re-announced to the
// hosts that see it and restart waits until their paths are connected again), and
// the per-endpoint faults of the control API (impair, flap, clear, switch port shut / no shut) resolved
// from "<node>.<interface>". Used by `vfab fault ...` (daemons/cli/commands/fault.ts) and the scenario
// runner. Only PIDs recorded in the fabric's state file are ever signalled. A host packed into a host group
// (vfab up --hosts-per-process) is killed and restarted as its group's worker thread
// (daemons/fabric/host-groups.ts): the group's process is never signalled for it. Leaves out partitions of
// several links at once (call these per link) and killing individual VMs (they live inside hostd).

import path from 'node:path';
import { VfabError } from '../../lib/errors.js';
import { control } from '../common/control-client.js';
import type { FlapRequest, ImpairRequest } from '../common/links.js';
import { spawnDaemon, stopDaemons } from './process.js';
import { type FabricState, type DaemonRecord, findDaemon, writeState, stateDir as defaultStateDir, daemonForEndpoint, vmLinkHost } from './state.js';
import { checkDaemonPid, stillExists } from './pid-identity.js';
import { waitLinksUp, setUpDaemon, attachStorage, readDaemonConfig, daemonArgs, listenSettings } from './lifecycle.js';
import type { DaemonAddress } from '../common/control-client.js';
import { killPackedHost, restartPackedHost } from './host-groups.js';

/** How long kill waits for the process to be gone. */
export const KILL_WAIT_MS = 5_000;
/** How long restart waits for every link to have carrier again. */
export const RESTART_LINKS_TIMEOUT_MS = 30_000;

/** A fabric on Kubernetes (vfab k8s connect) has no process here to signal or start: refused, naming what to do. */
function refuseRemote(state: FabricState, action: 'kill' | 'restart', name: string): void {
  if (state.remote) throw new VfabError('VFAB_BAD_REMOTE_FAULT', `vfab fault ${action} ${name}: fabric ${state.fabric} runs on Kubernetes behind ${state.remote.gateway}; there is no PID here to ${action}. Delete the pod instead: kubectl delete pod -l vfab.dev/daemon=${name} (the gateway wires it again when it is back)`);
}

/** SIGKILL a daemon by its recorded PID (no clean shutdown: peers see their links drop). */
export async function killDaemon(state: FabricState, name: string): Promise<{ name: string; pid: number; wasRunning: boolean; group?: string }> {
  refuseRemote(state, 'kill', name);
  if (state.sim) return (await import('../sim/up.js')).simKill(state, name); // one process serves every node (vfab up --sim)
  const d = findDaemon(state, name);
  const wasRunning = checkDaemonPid(d).state === 'running'; // a reused PID is not ours to kill
  // a host packed into a host group: only its worker thread ends (terminate: no clean shutdown)
  if (d.group !== undefined) return { name, pid: d.pid, wasRunning: wasRunning && (await killPackedHost(d, state.token)), group: d.group };
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

/** How long restart of an array waits for the hosts' storage paths to connect again. */
export const RESTART_STORAGE_TIMEOUT_MS = 30_000;
const STORAGE_POLL_MS = 50;

export interface RestartResult {
  name: string;
  kind: DaemonRecord['kind'];
  oldPid: number;
  pid: number;
  port: number;
  /** Link ends told where to dial again. */
  redialled: string[];
  /** A host: the arrays it attached again. An array: the hosts whose paths to it are connected again. */
  storage: string[];
  /** A host: arrays that are down; it attaches them when they restart. */
  arraysDown: string[];
}

/**
 * Respawns `name` with its recorded config on its recorded port (stopping it first if it still runs),
 * sets it up as `vfab up` did (setUpDaemon), updates the state file, and (by default) waits for every
 * link. For an array, the hosts that see it are told again where it listens (a host that had failed to
 * attach attaches now) and restart returns once every path that is not failed on purpose is connected.
 */
export async function restartDaemon(state: FabricState, name: string, opts: RestartOptions = {}): Promise<RestartResult> {
  refuseRemote(state, 'restart', name);
  if (state.sim) return (await import('../sim/up.js')).simRestart(state, name);
  const d = findDaemon(state, name);
  const config = readDaemonConfig(state, name);
  const listen = listenSettings(d.host, state.tlsDir);
  const args = [...daemonArgs(d.name, config, path.join(state.runDir, `${d.name}.json`)), '--port', String(d.port), ...(d.iscsiPort !== undefined ? ['--iscsi-port', String(d.iscsiPort)] : []), ...listen.args];
  // a packed host starts again in its group; any other daemon is stopped (only while it is provably
  // still this daemon) and spawned again
  const rec = d.group !== undefined
    ? await restartPackedHost(d, args, state.token)
    : (await stopDaemons([d]), await spawnDaemon({ name: d.name, kind: d.kind, args, token: state.token, logFile: d.logFile, detached: opts.detached ?? true, env: listen.env }));
  if (rec.port !== d.port || rec.iscsiPort !== d.iscsiPort) {
    if (rec.group !== undefined) await killPackedHost(rec, state.token);
    else await stopDaemons([rec]);
    const was = rec.port !== d.port ? `port ${rec.port}, not ${d.port}` : `iSCSI port ${rec.iscsiPort ?? 'none'}, not ${d.iscsiPort ?? 'none'}`;
    throw new VfabError('VFAB_FAULT_PORT_CHANGED', `${name} came back on ${was}; its peers would not find it`);
  }
  const oldPid = d.pid;
  const updated: DaemonRecord = { ...d, pid: rec.pid, ...(rec.startTime !== undefined ? { startTime: rec.startTime } : {}) };
  state.daemons = state.daemons.map((x) => (x.name === name ? updated : x));
  writeState(state, opts.stateDir ?? defaultStateDir());
  const portOf = (node: string) => state.daemons.find((x) => x.name === node);
  // an array that is down (vfab fault kill) is attached when it restarts (reattachHosts)
  const arrayRunning = (array: string) => checkDaemonPid(findDaemon(state, array)).state === 'running';
  const { redialled, storage, arraysDown } = await setUpDaemon(name, config, portOf, state.token, { arrayRunning });
  if (config.kind === 'array') storage.push(...(await reattachHosts(state, name, portOf, arrayRunning)));
  if (opts.waitLinks ?? true) await waitLinksUp(state, opts.linksTimeoutMs ?? RESTART_LINKS_TIMEOUT_MS);
  return { name, kind: d.kind, oldPid, pid: rec.pid, port: rec.port, redialled, storage, arraysDown };
}

/** The hosts that see a restarted array: attach again where needed, then wait for their paths. */
async function reattachHosts(state: FabricState, array: string, portOf: (node: string) => DaemonAddress | undefined, arrayRunning: (array: string) => boolean): Promise<string[]> {
  const hosts: string[] = [];
  for (const h of state.daemons) {
    if (h.kind !== 'host' || checkDaemonPid(h).state !== 'running') continue;
    const config = readDaemonConfig(state, h.name);
    if (config.kind !== 'host' || !config.host.storage.some((s) => s.array === array)) continue;
    // storage only: the host's links are fine (re-sending its peers would redial them)
    await attachStorage(h.name, config, portOf, state.token, { arrayRunning });
    hosts.push(h.name);
  }
  const deadline = Date.now() + RESTART_STORAGE_TIMEOUT_MS;
  for (const name of hosts) {
    for (;;) {
      const st = await control<{ arrays: Array<{ array: string; state: string; paths: Array<{ connected: boolean; adminDown: boolean }> }> }>(findDaemon(state, name), state.token, 'GET', '/control/storage');
      const a = st.arrays.find((x) => x.array === array);
      if (a?.state === 'attached' && a.paths.every((p) => p.connected || p.adminDown)) break;
      if (Date.now() > deadline) {
        throw new VfabError('VFAB_FAULT_STORAGE_TIMEOUT', `host ${name}: paths to ${array} not connected again within ${RESTART_STORAGE_TIMEOUT_MS} ms (${a?.paths.map((p) => (p.connected ? 'up' : 'down')).join(', ') ?? 'not attached'})`);
      }
      await new Promise((r) => setTimeout(r, STORAGE_POLL_MS));
    }
  }
  return hosts;
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
  if (state.vmHosts[r.node] && vmLinkHost(state, r.node) === undefined) throw new VfabError('VFAB_BAD_ENDPOINT', `${endpoint} is a builtin VM's vNIC; faults apply to cables: a host uplink (esx1.vmnic0), a switch port (sw1.Gi1/0/1), or the vNIC of a netns, qemu or external VM (web1.nic0)`);
  return r;
}

/**
 * Cuts (isolated) or restores a host's management network only: the vSwitch port of its management
 * vmkernel port is blocked, so HA heartbeats and pings stop both ways while its VMs' networks and its
 * storage paths go on (docs/ha.md "In a fabric").
 */
export async function isolateHost(state: FabricState, host: string, isolated: boolean): Promise<{ host: string; vmk: string; up: boolean }> {
  const daemon = findDaemon(state, host);
  if (daemon.kind !== 'host') throw new VfabError('VFAB_BAD_ENDPOINT', `${host} is a ${daemon.kind}; isolate applies to hosts (it cuts the management vmkernel port)`);
  return control(daemon, state.token, 'POST', '/control/vmkernels/management/link', { up: !isolated });
}
