// Restart decisions of the HA primary (docs/ha.md; docs/vsphere-behaviour.md §7.11, §7.14): which host a VM is
// restarted on (a surviving host that mounts the VM's datastore and has all its port groups, the least
// loaded first, ties by name: these are inputs from the configuration, not discovered), in what order
// (restart priority, most urgent first; a lower priority waits while a more urgent attempt is in flight),
// and what an attempt's outcome means: "ok" places the VM; "locked" (its files are locked by a holder whose
// heartbeat is alive: an isolated host that still reaches storage, or a crashed host whose heartbeat is
// not yet stale for a whole lease) and "failed" are retried every HA_RESTART_RETRY_MS, at most
// HA_RESTART_MAX_ATTEMPTS attempts in all. Pure: the lock check itself is the daemon's (lib/datastore).
// Leaves out admission control and capacity (CPU, memory), and vSphere's growing retry delays.

import { type HaCluster, type HaVm, priorityRank } from './config.js';
import type { HaTiming } from './timeline.js';

export type PowerOnOutcome = 'ok' | 'locked' | 'failed';

export interface RestartJob {
  vm: string;
  /** The host it ran on when that host was declared dead (or powered it off in isolation). */
  from: string;
  rank: number;
  queuedAtMs: number;
  attempts: number;
  nextAtMs: number;
  inFlight?: { host: string; sinceMs: number };
  /** Hosts that answered "failed" for this VM: not chosen again for it. */
  excluded: string[];
}

export function newJob(vm: HaVm, from: string, nowMs: number): RestartJob {
  return { vm: vm.name, from, rank: priorityRank(vm.restartPriority), queuedAtMs: nowMs, attempts: 0, nextAtMs: nowMs, excluded: [] };
}

/** Restart order: most urgent priority first, then the earlier queued, then by name. */
export function byRestartOrder(a: RestartJob, b: RestartJob): number {
  return b.rank - a.rank || a.queuedAtMs - b.queuedAtMs || (a.vm < b.vm ? -1 : a.vm > b.vm ? 1 : 0);
}

/** Whether a VM is restarted at all: protected and not of priority `disabled`. */
export const restartable = (vm: HaVm): boolean => vm.protected && priorityRank(vm.restartPriority) > 0;

/**
 * The host to restart `vm` on: among `live` hosts (connected to the primary, including itself) that mount
 * the VM's datastore and have all its port groups and are not excluded, the one running the fewest VMs
 * (`load`), ties by name. Undefined when none fits.
 */
export function placeVm(cluster: HaCluster, vm: HaVm, live: Iterable<string>, load: (host: string) => number, excluded: readonly string[] = []): string | undefined {
  let best: string | undefined;
  let bestLoad = Infinity;
  for (const name of live) {
    const h = cluster.host.get(name);
    if (h === undefined || excluded.includes(name)) continue;
    if (!h.datastores.includes(vm.datastore) || !vm.portGroups.every((pg) => h.portGroups.includes(pg))) continue;
    const l = load(name);
    if (l < bestLoad || (l === bestLoad && best !== undefined && name < best)) {
      best = name;
      bestLoad = l;
    }
  }
  return best;
}

/** The jobs that may be attempted now: due, not in flight, and no more urgent attempt in flight. */
export function dueJobs(jobs: Iterable<RestartJob>, nowMs: number): RestartJob[] {
  const all = [...jobs].sort(byRestartOrder);
  const topInFlight = Math.max(-1, ...all.filter((j) => j.inFlight).map((j) => j.rank));
  return all.filter((j) => !j.inFlight && j.nextAtMs <= nowMs && j.rank >= topInFlight);
}

/** What an outcome does to a job: done (placed), retry (at nextAtMs), or given up after the last attempt. */
export function settleAttempt(job: RestartJob, outcome: PowerOnOutcome, host: string, nowMs: number, t: HaTiming): 'done' | 'retry' | 'gave-up' {
  delete job.inFlight;
  if (outcome === 'ok') return 'done';
  if (outcome === 'failed' && !job.excluded.includes(host)) job.excluded.push(host);
  if (job.attempts >= t.restartMaxAttempts) return 'gave-up';
  job.nextAtMs = nowMs + t.restartRetryMs;
  return 'retry';
}
