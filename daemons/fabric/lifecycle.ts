// Bringing a whole fabric up and down: `vfab up`, `vfab down`, `npm start` and the end-to-end tests use
// it. Covers writing each daemon's config, spawning switches, arrays, hosts and then the vm daemons of
// external VMs (their config gets the host's link URLs) as separate processes,
// telling the dialling ends where their peers listen and the hosts where their arrays' block protocol
// listens (setUpDaemon: also what `vfab fault restart` re-sends), waiting until every link has carrier
// at both ends (with progress), recording the fabric in the state file, and stopping every daemon it
// started. Arrays keep their stores outside the run directory (daemons/fabric/stores.ts); only
// `vfab down --purge` (fabricDown with purge) deletes them here.

import fs from 'node:fs';
import path from 'node:path';
import { VfabError } from '../../lib/errors.js';
import { isRealGuest, type Topology } from '../../lib/topology/model.js';
import { newToken } from '../common/server.js';
import { takeClockAnchor } from '../common/fabric-clock.js';
import { control, daemonWsUrl, type DaemonAddress } from '../common/control-client.js';
import { tlsDirFiles } from '../common/tls.js';
import { planFabric, linkUrl, type DaemonConfig, type HostConfig, type IscsiTargetRef, type PlannedDaemon } from './plan.js';
import { arrayDataDir, rememberStores, wipeStore, type WipeResult } from './stores.js';
import { spawnDaemon, stopDaemons, type NotSignalled } from './process.js';
import { defaultConcurrency, runBounded } from './bounded.js';
import { initRunningConfig } from './running-config.js';
import { type FabricState, type DaemonRecord, assertNoFabricRunning, writeState, removeState, stateDir as defaultStateDir, ensurePrivateDir, writePrivateFile } from './state.js';
import { canManageNetworks, netnsNeedsRoot } from '../guests/vxlan-device.js';
import { planHostGroups } from '../../lib/scale/host-groups.js';
import { HostGroupStarter } from './host-groups.js';

export const LINKS_UP_TIMEOUT_MS = 30_000;
const LINK_POLL_MS = 50;

export interface UpOptions {
  topology: Topology;
  detached?: boolean;
  timeScale?: number;
  stateDir?: string;
  onProgress?: (line: string) => void;
  /** Daemons started (and told their peers) at once; default defaultConcurrency() (daemons/fabric/bounded.ts). */
  concurrency?: number;
  /** The topology's YAML text, the start of the running configuration; default: read topology.file. */
  topologyText?: string;
  /**
   * Every daemon listens with TLS (https://, wss://) using DIR/tls.crt and DIR/tls.key, and trusts
   * DIR/ca.crt for its own dials; the CLI trusts it too (docs/kubernetes.md, "TLS on one machine").
   */
  tlsDir?: string;
  /** Each daemon on its own loopback address, 127.0.0.2, .3, ... (Linux routes all of 127/8 to lo). */
  spreadAddresses?: boolean;
  /**
   * Hosts per process, 1-MAX_HOSTS_PER_PROCESS (default 1: each host its own process): above 1, hosts
   * run as worker threads of host groups (lib/scale/host-groups.ts, daemons/fabric/host-groups.ts).
   */
  hostsPerProcess?: number;
}

/** The most daemons --spread-addresses places: 127.0.0.2 to 127.0.0.254 (one per address of the last byte). */
export const MAX_SPREAD_DAEMONS = 253;

/** The loopback address of the i-th daemon (0-based) under --spread-addresses. */
export function spreadAddress(i: number): string {
  if (!Number.isInteger(i) || i < 0 || i >= MAX_SPREAD_DAEMONS) throw new VfabError('VFAB_FABRIC_SPREAD', `--spread-addresses places at most ${MAX_SPREAD_DAEMONS} daemons (127.0.0.2-127.0.0.254)`);
  return `127.0.0.${i + 2}`;
}

/** The listening arguments and environment of a daemon: its address and, with TLS, its certificate and the CA it trusts. */
export function listenSettings(host: string | undefined, tlsDir: string | undefined): { args: string[]; env: Record<string, string> } {
  const args = host !== undefined ? ['--host', host] : [];
  if (tlsDir === undefined) return { args, env: {} };
  const f = tlsDirFiles(path.resolve(tlsDir));
  return { args: [...args, '--tls-cert', f.cert, '--tls-key', f.key], env: { NODE_EXTRA_CA_CERTS: f.ca } };
}

function readIfThere(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

export interface LinkStatus {
  local: string;
  peer: string;
  carrier: boolean;
  /** false: held down on purpose (vfab link down, a shut switch port). */
  adminUp?: boolean;
}

export async function fabricUp(opts: UpOptions): Promise<FabricState> {
  const dir = opts.stateDir ?? defaultStateDir();
  const progress = opts.onProgress ?? (() => {});
  assertNoFabricRunning(dir);
  const runDir = path.join(dir, 'run');
  checkGuestPrivileges(opts.topology);
  await removeGuestLeftovers(runDir); // namespaces an earlier run of this fabric left behind (kill -9)
  ensurePrivateDir(dir); // the state file, run configs and logs hold or lead to the token: owner only
  fs.rmSync(runDir, { recursive: true, force: true });
  fs.mkdirSync(runDir, { recursive: true });
  const token = newToken();
  const timeScale = opts.timeScale ?? 1;
  // one clock for the whole fabric: every daemon's clock, event and capture time runs on this anchor
  const clock = takeClockAnchor();
  const plan = planFabric(opts.topology, timeScale, clock);
  if (opts.spreadAddresses) spreadAddress(plan.length - 1); // refused before anything starts
  for (const d of plan) {
    if (d.config.kind === 'array') d.config.dataDir = arrayDataDir(d.config.array, opts.topology.file, dir);
  }
  const state: FabricState = {
    fabric: opts.topology.name,
    topologyFile: opts.topology.file,
    token,
    startedAt: new Date(clock.wallMs).toISOString(),
    timeScale,
    clock,
    runDir,
    ...(opts.tlsDir !== undefined ? { tlsDir: path.resolve(opts.tlsDir) } : {}),
    daemons: [],
    // an external VM's guest routes (ping, mac, ...) are served by its own vm daemon, named like the VM
    vmHosts: Object.fromEntries(opts.topology.hosts.flatMap((h) => h.vms.map((vm) => [vm.name, vm.external ? vm.name : h.name]))),
    externalVmHosts: Object.fromEntries(opts.topology.hosts.flatMap((h) => h.vms.filter((vm) => vm.external).map((vm) => [vm.name, h.name]))),
    realGuestHosts: Object.fromEntries(opts.topology.hosts.flatMap((h) => h.vms.filter((vm) => isRealGuest(vm)).map((vm) => [vm.name, h.name]))),
  };
  const started: DaemonRecord[] = [];
  const concurrency = opts.concurrency ?? defaultConcurrency();
  // --hosts-per-process: packed hosts start in their group's process (started with its first host)
  const groups = new HostGroupStarter(planHostGroups(opts.topology.hosts.map((h) => ({ name: h.name, packable: !h.vms.some(isRealGuest) })), opts.hostsPerProcess ?? 1), { stateDir: dir, runDir, token, detached: opts.detached ?? false, listen: listenSettings(undefined, state.tlsDir), ...(state.tlsDir !== undefined ? { tls: { caFile: tlsDirFiles(state.tlsDir).ca } } : {}) });
  try {
    // a few at a time (bounded.ts); listeners first (switches and arrays), then hosts, then external VMs,
    // each VM only once its host listens; each daemon prints its port when ready
    const order = [...plan].sort((a, b) => rank(a) - rank(b)).map((d) => ({ name: d.name, daemon: d, after: d.config.kind === 'vm' ? [d.config.host] : [] }));
    const byName = new Map<string, DaemonRecord>();
    const position = new Map(order.map((o, i) => [o.name, i]));
    progress(`starting ${plan.length} daemons, ${Math.min(concurrency, plan.length)} at a time`);
    await runBounded(order, async ({ daemon: d }) => {
      if (d.config.kind === 'vm') {
        // the host listens already: tell the VM where each vNIC's port is
        const hostRec = byName.get(d.config.host);
        if (!hostRec) throw new VfabError('VFAB_FABRIC_PEER', `external VM ${d.name}: no daemon for its host ${d.config.host}`);
        d.config.nicUrls = Object.fromEntries(d.config.links.map((end) => [end.local, linkUrl(hostRec.port, end.peerInterface, hostRec)]));
        d.config.hostControlPort = hostRec.port;
      }
      const configFile = path.join(runDir, `${d.name}.json`);
      writePrivateFile(configFile, JSON.stringify(d.config, null, 2));
      // (with spread addresses, each daemon's own 127.0.0.x by its place in the start order)
      const host = opts.spreadAddresses ? spreadAddress(position.get(d.name)!) : undefined;
      const listen = listenSettings(host, state.tlsDir);
      const args = [...daemonArgs(d.name, d.config, configFile), ...listen.args];
      const spawned = groups.groupOfHost(d.name) !== undefined
        ? await groups.startHost(d.name, args)
        : await spawnDaemon({ name: d.name, kind: d.kind, args, token, logFile: path.join(dir, 'logs', `${d.name}.log`), detached: opts.detached ?? false, env: listen.env });
      const rec: DaemonRecord = { ...spawned, ...(host !== undefined ? { host } : {}), ...(state.tlsDir !== undefined ? { tls: true, caFile: tlsDirFiles(state.tlsDir).ca } : {}) };
      return rec;
    }, {
      concurrency,
      onDone: ({ daemon: d }, rec) => {
        if (d.config.kind === 'array') {
          rememberStores(dir, [{ array: d.name, dataDir: d.config.dataDir!, fabric: state.fabric, topologyFile: path.resolve(state.topologyFile), usedAt: new Date().toISOString() }]);
        }
        started.push(rec);
        byName.set(rec.name, rec);
        progress(`started ${d.kind} ${d.name} (pid ${rec.pid}, port ${rec.port}) [${started.length}/${plan.length}]`);
      },
    });
    // the state file lists the daemons in the plan's order, whatever order they became ready in
    started.sort((a, b) => position.get(a.name)! - position.get(b.name)!);
    state.daemons = started;
    writeState(state, dir);
    // the running configuration starts as the topology's text (vfab set edits it, vfab export prints it)
    const text = opts.topologyText ?? readIfThere(opts.topology.file);
    if (text !== undefined) initRunningConfig(state, text);
    await connectPeers(plan, started, token, concurrency);
    await waitLinksUp(state, LINKS_UP_TIMEOUT_MS, progress);
    return state;
  } catch (e) {
    await stopDaemons([...started, ...groups.started]);
    await removeGuestLeftovers(runDir).catch(() => undefined);
    removeState(dir);
    throw e;
  }
}

/** `kind: netns` VMs need root; checked before anything starts, naming the VMs (exit 2 in the CLI). */
function checkGuestPrivileges(topology: Topology): void {
  const netns = topology.hosts.flatMap((h) => h.vms.filter((vm) => vm.kind === 'netns').map((vm) => vm.name));
  if (netns.length > 0 && !canManageNetworks()) throw netnsNeedsRoot(netns);
}

/**
 * Removes the network namespaces and devices the fabric's hosts recorded in `runDir` and did not remove
 * themselves (a host killed with SIGKILL); daemons/guests/netns.ts. Nothing to do (and nothing loaded)
 * when no host recorded any.
 */
async function removeGuestLeftovers(runDir: string): Promise<string[]> {
  if (!fs.existsSync(path.join(runDir, 'guests'))) return [];
  const { removeNetnsLeftovers } = await import('../guests/netns.js');
  return removeNetnsLeftovers(runDir);
}

function rank(d: PlannedDaemon): number {
  return d.kind === 'switch' ? 0 : d.kind === 'array' ? 1 : d.kind === 'host' ? 2 : 3;
}

/** The command line of a daemon started from its recorded config file (the same for up and restart). */
export function daemonArgs(name: string, config: DaemonConfig, configFile: string): string[] {
  const args = ['--config', configFile, '--name', name];
  if (config.kind === 'array') {
    if (config.dataDir === undefined) throw new VfabError('VFAB_FAULT_NO_CONFIG', `array ${name}: its config names no data directory (${configFile})`);
    args.push('--data-dir', config.dataDir);
  }
  return args;
}

/** The config `vfab up` wrote for daemon `name` in the run directory. */
export function readDaemonConfig(state: FabricState, name: string): DaemonConfig {
  const file = path.join(state.runDir, `${name}.json`);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as DaemonConfig;
  } catch (e) {
    throw new VfabError('VFAB_FAULT_NO_CONFIG', `no recorded config for ${name} (${file}): ${(e as Error).message}`);
  }
}

export interface SetUpResult {
  /** Link ends told where to dial. */
  redialled: string[];
  /** Arrays the host attached (every path connected or reconnecting). */
  storage: string[];
  /** Arrays not running (SetUpOptions.arrayRunning): the host attaches them when they restart. */
  arraysDown: string[];
}

export interface SetUpOptions {
  /** False for an array that is down (killed): its hosts are not told about it until it restarts. */
  arrayRunning?: (array: string) => boolean;
}

/**
 * What the orchestrator tells a started daemon, and tells it again after a restart: a dialling end's
 * peers (POST /control/peers) and a host's arrays (attachStorage).
 */
export async function setUpDaemon(name: string, config: DaemonConfig, addressOf: (node: string) => DaemonAddress | undefined, token: string, opts: SetUpOptions = {}): Promise<SetUpResult> {
  const result: SetUpResult = { redialled: [], storage: [], arraysDown: [] };
  if (config.kind === 'array' || config.kind === 'vm') return result; // vm daemons dial from their config
  const self = addressOf(name);
  if (self === undefined) throw new VfabError('VFAB_FABRIC_PEER', `no daemon for ${name}`);
  const peers: Record<string, string> = {};
  for (const end of config.links) {
    if (end.role !== 'dial') continue;
    const peer = addressOf(end.peerNode);
    if (peer === undefined) throw new VfabError('VFAB_FABRIC_PEER', `link ${name}.${end.local} -> ${end.peer}: no daemon for ${end.peerNode}`);
    peers[end.local] = linkUrl(peer.port, end.peerInterface, peer);
  }
  // (re-sending peers redials those links: done once per start, never to a daemon that did not restart)
  if (Object.keys(peers).length > 0) {
    const r = await control<{ dialled?: string[] }>(self, token, 'POST', '/control/peers', { peers });
    result.redialled = r.dialled ?? Object.keys(peers);
  }
  if (config.kind === 'host') Object.assign(result, await attachStorage(name, config, addressOf, token, opts));
  return result;
}

/**
 * Tells a host where each of its arrays listens (POST /control/storage/arrays, which resolves once each
 * array is attached; daemons/host-storage.ts): the block protocol's ws:// URL, or for `protocol: iscsi`
 * iscsi://127.0.0.1:PORT/IQN from the plan (a port 0 in the topology is read from the array's status).
 * Arrays attached already are left as they are, so it is safe to send again. A host that cannot attach a
 * running array is an error.
 */
export async function attachStorage(name: string, config: HostConfig, addressOf: (node: string) => DaemonAddress | undefined, token: string, opts: SetUpOptions = {}): Promise<{ storage: string[]; arraysDown: string[] }> {
  const out = { storage: [] as string[], arraysDown: [] as string[] };
  const self = addressOf(name);
  if (config.host.storage.length === 0 || self === undefined) return out;
  const arrays: Record<string, string> = {};
  for (const s of config.host.storage) {
    const array = addressOf(s.array);
    if (array === undefined) continue;
    if (opts.arrayRunning?.(s.array) === false) out.arraysDown.push(s.array);
    else if (s.protocol === 'iscsi') arrays[s.array] = await iscsiUrl(s.array, array, config.iscsiTargets?.[s.array], token);
    else arrays[s.array] = daemonWsUrl(array, '/block');
  }
  if (Object.keys(arrays).length === 0) return out;
  const status = await control<{ arrays: Array<{ array: string; state: string; error: string | null }> }>(self, token, 'POST', '/control/storage/arrays', { arrays });
  for (const a of status.arrays) {
    if (!(a.array in arrays)) continue;
    if (a.state !== 'attached') throw new VfabError('VFAB_FABRIC_STORAGE', `host ${name} could not attach array ${a.array}: ${a.state}${a.error ? ` (${a.error})` : ''}`);
    out.storage.push(a.array);
  }
  return out;
}

/** iscsi://ADDRESS:PORT/IQN of an array's portal: the plan's port, or the one the running array reports. */
async function iscsiUrl(array: string, arrayAddress: DaemonAddress, planned: IscsiTargetRef | undefined, token: string): Promise<string> {
  if (planned === undefined) throw new VfabError('VFAB_FABRIC_STORAGE', `array ${array} has no iSCSI portal in the plan`);
  let port = planned.port;
  if (port === 0) {
    const st = await control<{ iscsi: { port: number; iqn: string } | null }>(arrayAddress, token, 'GET', '/control/status');
    if (st.iscsi === null) throw new VfabError('VFAB_FABRIC_STORAGE', `array ${array} serves no iSCSI portal`);
    port = st.iscsi.port;
  }
  // the portal listens where the array does (--spread-addresses); the plan's address otherwise
  return `iscsi://${arrayAddress.host ?? planned.address}:${port}/${planned.iqn}`;
}

/** Tells every started daemon its peers and arrays, `concurrency` daemons at a time. */
async function connectPeers(plan: PlannedDaemon[], started: DaemonRecord[], token: string, concurrency: number): Promise<void> {
  const byName = new Map(started.map((d) => [d.name, d]));
  await runBounded(plan, (d) => setUpDaemon(d.name, d.config, (n) => byName.get(n), token), { concurrency });
}

/** Polls every daemon's link list until each link reports carrier at both ends. */
export async function waitLinksUp(state: FabricState, timeoutMs: number, progress: (line: string) => void = () => {}): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  const configs = new Map<string, DaemonConfig>(); // read once, not on every poll
  for (;;) {
    const { up, total, down } = await linkCensus(state, configs);
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

/** Links up and down by both ends' status; `configs` caches the daemons' recorded configs across calls. */
export async function linkCensus(state: FabricState, configs = new Map<string, DaemonConfig>()): Promise<{ up: number; total: number; down: string[] }> {
  const ends = new Map<string, LinkStatus>();
  const linked = state.daemons.filter((d) => d.kind === 'host' || d.kind === 'switch' || d.kind === 'vm');
  // a few daemons at a time: a 100-host fabric answers in one round trip's time, not a hundred
  await runBounded(linked, (d) => control<{ links: LinkStatus[] }>(d, state.token, 'GET', '/control/links'), {
    concurrency: defaultConcurrency(),
    onDone: (d, status) => {
      for (const l of status.links) ends.set(`${d.name}.${l.local}`, l);
    },
  });
  const seen = new Set<string>();
  let up = 0;
  let total = 0;
  const down: string[] = [];
  for (const d of state.daemons) {
    if (d.kind !== 'host' && d.kind !== 'switch' && d.kind !== 'vm') continue;
    const cfg = configs.get(d.name) ?? readDaemonConfig(state, d.name);
    configs.set(d.name, cfg);
    if (cfg.kind === 'array') continue;
    for (const end of cfg.links) {
      const a = `${d.name}.${end.local}`;
      const key = [a, end.peer].sort().join(' ');
      if (seen.has(key)) continue;
      seen.add(key);
      total++;
      const ea = ends.get(a);
      const eb = ends.get(end.peer);
      // a link held down on purpose (a switch port configured shutdown) is as it should be
      if ((ea?.carrier && eb?.carrier) || ea?.adminUp === false || eb?.adminUp === false) up++;
      else down.push(`${a} <-> ${end.peer}`);
    }
  }
  return { up, total, down };
}

export interface DownOptions {
  /** Also delete the stores of the fabric's arrays once they stopped (`vfab down --purge`). */
  purge?: boolean;
}

export async function fabricDown(state: FabricState, stateDirPath = defaultStateDir(), opts: DownOptions = {}): Promise<{ stopped: string[]; killed: string[]; notSignalled: NotSignalled[]; guestLeftovers?: string[]; purged?: WipeResult[] }> {
  // where the arrays' stores are, read before anything stops
  const stores = opts.purge ? state.daemons.filter((d) => d.kind === 'array').map((d) => ({ name: d.name, config: readDaemonConfig(state, d.name) })) : [];
  const stopped = await stopDaemons(state.daemons);
  // what a killed host could not remove (its namespaces); a clean host removed its own
  const leftovers = await removeGuestLeftovers(state.runDir);
  const result = leftovers.length > 0 ? { ...stopped, guestLeftovers: leftovers } : stopped;
  removeState(stateDirPath);
  if (!opts.purge) return result;
  const purged: WipeResult[] = [];
  for (const { name, config } of stores) {
    if (config.kind === 'array' && config.dataDir !== undefined) purged.push(await wipeStore(stateDirPath, name, config.dataDir));
  }
  return { ...result, purged };
}
