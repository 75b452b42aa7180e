// Where a running fabric is recorded: `.vfab/state.json` in the working directory (or $VFAB_STATE_DIR),
// written by `vfab up` and read by every other command. Covers the file's shape, reading (a corrupt or
// truncated file is VFAB_STATE_CORRUPT naming the file; salvageDaemons recovers the daemon records that
// are still whole), and writing: the file holds the fabric token, so the directory is made 0700 and the
// file 0600 (owner only). Leaves out locking: one `vfab up` per state directory at a time (a second one
// is refused).

import fs from 'node:fs';
import path from 'node:path';
import { VfabError } from '../../lib/errors.js';
import { closestName } from '../../lib/text/did-you-mean.js';
import type { FabricClockAnchor } from '../../lib/fabric-clock.js';
import { checkDaemonPid, isAlive, processIdentity } from './pid-identity.js';

export { isAlive };

/** Owner-only modes for the state directory and every file in it that holds or leads to the token. */
export const STATE_DIR_MODE = 0o700;
export const STATE_FILE_MODE = 0o600;

export type DaemonKind = 'host' | 'switch' | 'array' | 'vm';

export interface DaemonRecord {
  name: string;
  kind: DaemonKind;
  pid: number;
  port: number;
  logFile: string;
  /** The process start time at spawn (daemons/fabric/pid-identity.ts): proves the PID is still this daemon. */
  startTime?: string;
  /** An array's iSCSI portal port (from its ready line): a restart listens on it again, so iSCSI paths reconnect. */
  iscsiPort?: number;
  /** The address it listens on when not 127.0.0.1 (vfab up --spread-addresses). */
  host?: string;
  /** It serves https:// and wss:// (vfab up --tls DIR), with a certificate signed by the CA in caFile. */
  tls?: boolean;
  caFile?: string;
  /**
   * A host packed into a host group (vfab up --hosts-per-process, daemons/fabric/host-groups.ts): `pid`
   * and `startTime` are the group's process, `group` its name ("hostgroup.1"), `groupPort` its control
   * port, `groupFile` its workers file (which hosts' worker threads run). `port` stays the host's own.
   */
  group?: string;
  groupPort?: number;
  groupFile?: string;
  /**
   * The `--name` of the process that serves this node when it is not a process of its own: a simulated
   * fabric (vfab up --sim) serves every host and switch from one process (FabricState.sim).
   */
  process?: string;
  /**
   * A node of a fabric on Kubernetes reached through its gateway (vfab k8s connect): no local process
   * (`pid` 0, never signalled), control and capture at the gateway under `basePath` (/daemons/NAME).
   */
  remote?: true;
  basePath?: string;
}

/** The one process of a simulated fabric (vfab up --sim, daemons/simd.ts): every node's record has its pid. */
export interface SimProcessRecord {
  /** Its `--name` (each node record's `process`). */
  name: string;
  pid: number;
  /** Its own control port: GET /control/sim, kill and restart of a node (whose own port is closed while it is down). */
  port: number;
  startTime?: string;
  logFile: string;
  /** The run seed of every random choice. */
  seed: number;
  /** Topology parts the simulation leaves out (storage arrays), named in `vfab status`. */
  leftOut: string[];
  /** Nodes killed by `vfab fault kill` and not restarted (their PID, the sim process's, stays alive). */
  killed?: string[];
}

export interface FabricState {
  fabric: string;
  topologyFile: string;
  token: string;
  startedAt: string;
  timeScale: number;
  /** The fabric clock's anchor (lib/fabric-clock.ts): every event and capture time is on it. */
  clock: FabricClockAnchor;
  runDir: string;
  /** vfab up --tls DIR: the folder with ca.crt, tls.crt and tls.key every daemon listens and dials with. */
  tlsDir?: string;
  daemons: DaemonRecord[];
  /** Set when the fabric is simulated in one process (vfab up --sim; docs/simulation.md). */
  sim?: SimProcessRecord;
  /** Set when the fabric runs on Kubernetes and this file only records how to reach its gateway (vfab k8s connect). */
  remote?: { gateway: string; caFile?: string };
  /**
   * Which daemon serves each VM's guest routes (/control/vms/:vm/...): its host, or for an external VM
   * its own vm daemon (named like the VM).
   */
  vmHosts: Record<string, string>;
  /** External VMs -> the host whose vSwitch ports (and capture points "vm.nic") they attach to. */
  externalVmHosts?: Record<string, string>;
  /** Real guests (kind: netns | qemu; docs/guests.md) -> their host: each vNIC is a link "<vm>.<nic>" there. */
  realGuestHosts?: Record<string, string>;
}

export function stateDir(): string {
  return path.resolve(process.env.VFAB_STATE_DIR ?? '.vfab');
}

export function statePath(dir = stateDir()): string {
  return path.join(dir, 'state.json');
}

export function readState(dir = stateDir()): FabricState {
  const file = statePath(dir);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new VfabError('VFAB_NO_FABRIC', `no fabric is running here (no ${path.relative(process.cwd(), file) || file}); start one with: vfab up FILE`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw corrupt(file, `is not valid JSON (${(e as Error).message}${text.trimEnd().endsWith('}') ? '' : '; it looks truncated'})`);
  }
  const problem = stateProblem(value);
  if (problem !== undefined) throw corrupt(file, problem);
  return value as FabricState;
}

function corrupt(file: string, why: string): VfabError {
  return new VfabError('VFAB_STATE_CORRUPT', `state file ${file} ${why}; \`vfab down\` stops the daemons it can still identify, or remove the file`, { file });
}

function isDaemonRecord(d: unknown): d is DaemonRecord {
  const r = d as Partial<DaemonRecord> | null;
  return (
    typeof r === 'object' && r !== null && typeof r.name === 'string' && r.name !== '' &&
    (r.kind === 'host' || r.kind === 'switch' || r.kind === 'array' || r.kind === 'vm') &&
    Number.isInteger(r.pid) && (r.pid! > 0 || (r.pid === 0 && r.remote === true)) && Number.isInteger(r.port) && r.port! > 0 && r.port! <= 65535 &&
    typeof r.logFile === 'string' && (r.startTime === undefined || typeof r.startTime === 'string')
  );
}

/** What is wrong with a parsed state file, or undefined when it has the shape of a FabricState. */
function stateProblem(v: unknown): string | undefined {
  const s = v as Partial<FabricState> | null;
  if (typeof s !== 'object' || s === null || Array.isArray(s)) return 'is not a JSON object';
  for (const key of ['fabric', 'token', 'runDir'] as const) if (typeof s[key] !== 'string') return `has no "${key}" string`;
  if (!Array.isArray(s.daemons)) return 'has no "daemons" list';
  const bad = s.daemons.findIndex((d) => !isDaemonRecord(d));
  if (bad >= 0) return `has a malformed daemon record (daemons[${bad}])`;
  if (typeof s.vmHosts !== 'object' || s.vmHosts === null) return 'has no "vmHosts" object';
  return undefined;
}

/**
 * The daemon records still whole in a state file that does not parse (e.g. cut short by a full disk):
 * every `{...}` without nested braces that parses as a daemon record. The caller must still prove each
 * PID is its daemon (checkDaemonPid) before signalling it.
 */
export function salvageDaemons(dir = stateDir()): DaemonRecord[] {
  let text: string;
  try {
    text = fs.readFileSync(statePath(dir), 'utf8');
  } catch {
    return [];
  }
  const found: DaemonRecord[] = [];
  for (const m of text.matchAll(/\{[^{}]*\}/g)) {
    try {
      const rec = JSON.parse(m[0]) as unknown;
      if (isDaemonRecord(rec)) found.push(rec);
    } catch {
      /* not a whole record */
    }
  }
  return found;
}

/** Creates `dir` (and parents) and makes it owner-only. */
export function ensurePrivateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: STATE_DIR_MODE });
  fs.chmodSync(dir, STATE_DIR_MODE);
}

/** Writes `text` to `file` readable by the owner only (replaced atomically through a temp file). */
export function writePrivateFile(file: string, text: string): void {
  const tmp = `${file}.tmp`;
  fs.rmSync(tmp, { force: true });
  fs.writeFileSync(tmp, text, { mode: STATE_FILE_MODE, flag: 'wx' });
  fs.renameSync(tmp, file);
}

export function writeState(state: FabricState, dir = stateDir()): void {
  ensurePrivateDir(dir);
  writePrivateFile(statePath(dir), JSON.stringify(state, null, 2));
}

/** VFAB_FABRIC_RUNNING when a daemon of the fabric recorded in `dir` still runs (`vfab up` refuses a second fabric). */
export function assertNoFabricRunning(dir = stateDir()): void {
  try {
    const existing = readState(dir);
    // (a host group whose hosts were all killed still runs: its process counts)
    if (existing.daemons.some((d) => checkDaemonPid(processIdentity(d)).state === 'running')) {
      throw new VfabError('VFAB_FABRIC_RUNNING', `fabric ${existing.fabric} is already running from ${dir}; stop it with: vfab down`);
    }
  } catch (e) {
    if (!(e instanceof VfabError) || e.code !== 'VFAB_NO_FABRIC') throw e;
  }
}

export function removeState(dir = stateDir()): void {
  fs.rmSync(statePath(dir), { force: true });
}

/** " (did you mean x?)" when `name` is close to one of `names`, else "". */
export function suggest(name: string, names: Iterable<string>): string {
  const c = closestName(name, names);
  return c === undefined ? '' : ` (did you mean ${c}?)`;
}

export function findDaemon(state: FabricState, name: string): DaemonRecord {
  const d = state.daemons.find((x) => x.name === name);
  if (!d) {
    const names = state.daemons.map((x) => x.name);
    throw new VfabError('VFAB_NOT_FOUND', `no host, switch or array named ${JSON.stringify(name)} in fabric ${state.fabric}${suggest(name, names)} (have: ${names.join(', ')})`);
  }
  return d;
}

/** The daemon that serves VM `vm` (its host, or its own vm daemon); an unknown VM is a usage error. */
export function findVmDaemon(state: FabricState, vm: string): DaemonRecord {
  const host = Object.hasOwn(state.vmHosts, vm) ? state.vmHosts[vm] : undefined;
  if (!host) {
    const vms = Object.keys(state.vmHosts);
    throw new VfabError('VFAB_NOT_FOUND', `no VM named ${JSON.stringify(vm)} in fabric ${state.fabric}${suggest(vm, vms)} (VMs: ${vms.join(', ') || 'none'})`);
  }
  return findDaemon(state, host);
}

/** The host where VM `vm`'s vNICs are links (an external VM or a real guest), or undefined. */
export function vmLinkHost(state: FabricState, vm: string): string | undefined {
  return state.externalVmHosts?.[vm] ?? state.realGuestHosts?.[vm];
}

/** The daemon that serves endpoint "<node>.<interface>": the node itself, or the host of a VM (external or not). */
export function daemonForEndpoint(state: FabricState, endpoint: string): { daemon: DaemonRecord; node: string; iface: string } {
  const dot = endpoint.indexOf('.');
  if (dot <= 0 || dot === endpoint.length - 1) {
    throw new VfabError('VFAB_BAD_ENDPOINT', `not an endpoint: ${JSON.stringify(endpoint)} (write <node>.<interface>, e.g. esx1.vmnic0, sw1.Gi1/0/1 or web1.nic0)`);
  }
  const node = endpoint.slice(0, dot);
  const nic = endpoint.slice(dot + 1);
  // an external VM's or a real guest's vNIC is a link of its host, named "<vm>.<nic>" there
  const linkHost = vmLinkHost(state, node);
  const iface = linkHost === undefined ? nic : `${node}.${nic}`;
  const host = linkHost ?? state.vmHosts[node];
  if (host === undefined && !state.daemons.some((d) => d.name === node)) {
    const nodes = [...state.daemons.map((d) => d.name), ...Object.keys(state.vmHosts)];
    throw new VfabError('VFAB_NOT_FOUND', `no host, switch or VM named ${JSON.stringify(node)} in endpoint ${endpoint}${suggest(node, nodes)} (have: ${nodes.join(', ')})`);
  }
  return { daemon: findDaemon(state, host ?? node), node, iface };
}

/**
 * Is the daemon of this record running: its process provably still this daemon (checkDaemonPid: not a
 * reused PID; a packed host's worker still in its group; a remote node counts as running) and, in a
 * simulated fabric, the node not killed. The one check commands make before they call a daemon.
 */
export function daemonRunning(state: FabricState, d: DaemonRecord): boolean {
  return checkDaemonPid(d).state === 'running' && !(state.sim?.killed ?? []).includes(d.name);
}
