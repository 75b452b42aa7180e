// The running configuration of a live fabric: the topology it was started from plus every change made
// since (`vfab set`, scenario `set:` steps; docs/reconfigure.md), kept as YAML text in the fabric's run
// dir (`running.yaml`, owner-only). A change is: edits to that text (lib/topology/edit.ts), checked by
// loading the result with every rule of a topology file, then pushed to the daemons that must apply it,
// and only then saved. A change that is invalid, or that a daemon refuses, leaves the running
// configuration and the fabric as they were (a daemon applies a change whole or not at all). Changes
// are serialised by a lock file (two `vfab set` at once take turns). `vfab export` prints the text.
// Leaves out rolling back a change that one daemon applied when a later daemon of the same change
// refuses it: each change that reaches several daemons says so in its applier.

import fs from 'node:fs';
import path from 'node:path';
import { VfabError } from '../../lib/errors.js';
import { editTopologyText, rawTopology, type TopologyEdit } from '../../lib/topology/edit.js';
import { parseTopology } from '../../lib/topology/load.js';
import type { Topology } from '../../lib/topology/model.js';
import { writePrivateFile, type FabricState } from './state.js';

export const RUNNING_CONFIG_FILE = 'running.yaml';
const LOCK_FILE = 'running.lock';
/** How long a change waits for another one to finish, ms. */
export const CONFIG_LOCK_WAIT_MS = 10_000;

export function runningConfigFile(state: FabricState): string {
  return path.join(state.runDir, RUNNING_CONFIG_FILE);
}

/** The running configuration's text: running.yaml, or the topology file before the first change. */
export function readRunningConfig(state: FabricState): string {
  try {
    return fs.readFileSync(runningConfigFile(state), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  try {
    return fs.readFileSync(state.topologyFile, 'utf8');
  } catch (e) {
    throw new VfabError('VFAB_CONFIG_READ', `cannot read the fabric's topology ${state.topologyFile} (the running configuration starts from it): ${(e as Error).message}`);
  }
}

/** Records the topology text the fabric starts with (vfab up), so later edits of the user's file do not count. */
export function initRunningConfig(state: FabricState, text: string): void {
  writePrivateFile(runningConfigFile(state), text);
}

export function runningTopology(state: FabricState): { text: string; raw: Record<string, unknown>; topology: Topology } {
  const text = readRunningConfig(state);
  return { text, raw: rawTopology(text), topology: parseTopology(text, state.topologyFile) };
}

async function withLock<T>(state: FabricState, fn: () => Promise<T>): Promise<T> {
  const lock = path.join(state.runDir, LOCK_FILE);
  const until = Date.now() + CONFIG_LOCK_WAIT_MS;
  for (;;) {
    try {
      fs.writeFileSync(lock, String(process.pid), { flag: 'wx', mode: 0o600 });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = Number(fs.readFileSync(lock, 'utf8'));
      let alive = false;
      try {
        process.kill(holder, 0);
        alive = holder > 0;
      } catch {
        /* gone */
      }
      if (!alive) fs.rmSync(lock, { force: true });
      else if (Date.now() > until) throw new VfabError('VFAB_CONFIG_BUSY', `another change to the running configuration (pid ${holder}) has not finished within ${CONFIG_LOCK_WAIT_MS} ms`);
      else await new Promise((r) => setTimeout(r, 50));
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

export interface ConfigChange<R> {
  /** What the user asked for, for messages: "sw1 Gi1/0/1 native VLAN 10". */
  what: string;
  /** The edits, computed from the running configuration (paths found by name in `raw`). */
  edits(raw: Record<string, unknown>, before: Topology): TopologyEdit[];
  /** Pushes the change to the daemons of `state` (after it has been checked); throws if a daemon refuses it. */
  apply(before: Topology, after: Topology, state: FabricState): Promise<R>;
}

/**
 * Checks and applies one change: VFAB_TOPOLOGY_INVALID (exit 2, the problems located in the running
 * configuration) when the result is not a valid topology, the daemon's error when it refuses; the
 * running configuration is saved only after the daemons took the change.
 */
export async function changeRunningConfig<R>(state: FabricState, change: ConfigChange<R>): Promise<{ result: R; after: Topology }> {
  return await withLock(state, async () => {
    const { text, raw, topology: before } = runningTopology(state);
    const edited = editTopologyText(text, state.topologyFile, change.edits(raw, before));
    const result = await change.apply(before, edited.topology, state);
    initRunningConfig(state, edited.text);
    return { result, after: edited.topology };
  });
}
