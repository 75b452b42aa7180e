// Where a running fabric is recorded: `.vfab/state.json` in the working directory (or $VFAB_STATE_DIR),
// written by `vfab up` and read by every other command. Covers the file's shape, reading and writing.
// Leaves out locking: one `vfab up` per state directory at a time (a second one is refused).

import fs from 'node:fs';
import path from 'node:path';
import { VfabError } from '../../lib/errors.js';
import { closestName } from '../../lib/text/did-you-mean.js';
import type { FabricClockAnchor } from '../../lib/fabric-clock.js';

export type DaemonKind = 'host' | 'switch' | 'array' | 'vm';

export interface DaemonRecord {
  name: string;
  kind: DaemonKind;
  pid: number;
  port: number;
  logFile: string;
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
  daemons: DaemonRecord[];
  /**
   * Which daemon serves each VM's guest routes (/control/vms/:vm/...): its host, or for an external VM
   * its own vm daemon (named like the VM).
   */
  vmHosts: Record<string, string>;
  /** External VMs -> the host whose vSwitch ports (and capture points "vm.nic") they attach to. */
  externalVmHosts?: Record<string, string>;
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
  return JSON.parse(text) as FabricState;
}

export function writeState(state: FabricState, dir = stateDir()): void {
  fs.mkdirSync(dir, { recursive: true });
  const tmp = statePath(dir) + '.tmp';
  fs.writeFileSync(tmp, JSON.stringify(state, null, 2));
  fs.renameSync(tmp, statePath(dir));
}

export function removeState(dir = stateDir()): void {
  fs.rmSync(statePath(dir), { force: true });
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
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

/** The daemon that serves endpoint "<node>.<interface>": the node itself, or the host of a VM (external or not). */
export function daemonForEndpoint(state: FabricState, endpoint: string): { daemon: DaemonRecord; node: string; iface: string } {
  const dot = endpoint.indexOf('.');
  if (dot <= 0 || dot === endpoint.length - 1) {
    throw new VfabError('VFAB_BAD_ENDPOINT', `not an endpoint: ${JSON.stringify(endpoint)} (write <node>.<interface>, e.g. esx1.vmnic0, sw1.Gi1/0/1 or web1.nic0)`);
  }
  const node = endpoint.slice(0, dot);
  const iface = endpoint.slice(dot + 1);
  const host = state.externalVmHosts?.[node] ?? state.vmHosts[node];
  if (host === undefined && !state.daemons.some((d) => d.name === node)) {
    const nodes = [...state.daemons.map((d) => d.name), ...Object.keys(state.vmHosts)];
    throw new VfabError('VFAB_NOT_FOUND', `no host, switch or VM named ${JSON.stringify(node)} in endpoint ${endpoint}${suggest(node, nodes)} (have: ${nodes.join(', ')})`);
  }
  return { daemon: findDaemon(state, host ?? node), node, iface };
}
