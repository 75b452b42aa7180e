// Reading and zeroing the counters of a running fabric's nodes over their control API: a host's or
// switch's counter points (lib/counters/counters.ts flattens GET /control/status), the points a scenario
// names, and POST /control/counters/reset. Shared by `vfab counters` and the scenario driver. Leaves out
// arrays (their I/O counters are `vfab status`'s) and external VMs' own guest counters (their vmd's).

import { VfabError } from '../../lib/errors.js';
import { type CounterPoint, counterPoints } from '../../lib/counters/counters.js';
import { control } from '../common/control-client.js';
import { type DaemonRecord, type FabricState, daemonForEndpoint, daemonRunning, suggest } from './state.js';

/** Every counter point of a host or switch daemon (VFAB_USAGE for an array: it counts I/O, not frames). */
export async function nodeCounterPoints(state: FabricState, daemon: DaemonRecord): Promise<CounterPoint[]> {
  if (daemon.kind !== 'host' && daemon.kind !== 'switch') {
    throw new VfabError('VFAB_USAGE', `${daemon.name} is a${daemon.kind === 'array' ? 'n' : ''} ${daemon.kind}: frame and drop counters are kept by hosts and switches (see vfab status ${daemon.name})`);
  }
  return counterPoints(await control<{ kind?: unknown }>(daemon, state.token, 'GET', '/control/status'));
}

/** Zeroes every counter of a host or switch (its vSwitches' or ports', and its links'). */
export async function resetNodeCounters(state: FabricState, daemon: DaemonRecord): Promise<void> {
  await control(daemon, state.token, 'POST', '/control/counters/reset', {});
}

/** The point named `point` among `points`, or VFAB_NOT_FOUND naming the node's points (with a did-you-mean). */
export function findPoint(points: CounterPoint[], point: string, node: string): CounterPoint {
  const p = points.find((x) => x.point === point);
  if (p) return p;
  const names = points.map((x) => x.point);
  throw new VfabError('VFAB_NOT_FOUND', `${node} has no port ${JSON.stringify(point)}${suggest(point, names)} (ports: ${names.join(', ') || 'none'})`);
}

/** The counters of each point ("web1.nic0", "esx1.vmnic0", "sw1.Gi1/0/1"), one status read per daemon. */
export async function readPointCounters(state: FabricState, points: string[]): Promise<Record<string, Record<string, number>>> {
  const byDaemon = new Map<string, { daemon: DaemonRecord; points: string[] }>();
  for (const p of points) {
    const { daemon } = daemonForEndpoint(state, p);
    const e = byDaemon.get(daemon.name) ?? { daemon, points: [] };
    e.points.push(p);
    byDaemon.set(daemon.name, e);
  }
  const out: Record<string, Record<string, number>> = {};
  await Promise.all([...byDaemon.values()].map(async ({ daemon, points: wanted }) => {
    const all = await nodeCounterPoints(state, daemon);
    for (const p of wanted) out[p] = findPoint(all, p, daemon.name).counters;
  }));
  return out;
}

/**
 * The counter points of every running host and switch, read at once; a daemon that does not answer
 * (killed, restarting) is left out, not thrown: callers compare two readings (vfab ping's MTU drops).
 */
export async function fabricCounterPoints(state: FabricState): Promise<CounterPoint[]> {
  const nodes = state.daemons.filter((d) => (d.kind === 'host' || d.kind === 'switch') && daemonRunning(state, d));
  const each = await Promise.all(nodes.map((d) => nodeCounterPoints(state, d).catch(() => [] as CounterPoint[])));
  return each.flat();
}
