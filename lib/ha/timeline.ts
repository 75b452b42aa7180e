// The intervals of vSphere HA (docs/ha.md; docs/vsphere-behaviour.md §7.11-§7.14) as named constants in
// fabric ms, scaled together by a time scale. Every "T" of the failure and isolation timelines is
// measured from T0 = the last network heartbeat the deciding agent heard (a real failure falls within
// one heartbeat interval after it). Leaves out the VMFS intervals (lib/datastore: heartbeat 3 s, lease
// 16 s), which decide when a dead host's locks break, not when HA declares it dead.

import { HA_ERROR, HaError } from './errors.js';

/** Primary and secondaries send each other a network heartbeat this often (§7.11). */
export const HA_NET_HEARTBEAT_MS = 1_000;
/** A peer unheard this long is "heartbeat lost": the primary starts reading its datastore heartbeats (T3s). */
export const HA_DS_WATCH_START_MS = 3_000;
/** How long the primary watches a peer's datastore heartbeats before deciding (T3s + 15 s = T18s). */
export const HA_DS_WATCH_MS = 15_000;
/** A peer unheard this long is unreachable: the primary pings its management address (T10s). */
export const HA_UNREACHABLE_MS = 10_000;
/** How long the primary pings the management address (T10s + 5 s = T15s, dead without heartbeat datastores). */
export const HA_MGMT_PING_MS = 5_000;
/** A secondary that has not heard the primary this long starts an election (T10s). */
export const HA_ELECTION_START_MS = 10_000;
/** An election lasts this long; an agent that hears nobody elects itself at its end (T10s + 15 s = T25s). */
export const HA_ELECTION_MS = 15_000;
/** A candidate counts in an election when heard within this window before it ends. */
export const HA_CANDIDATE_FRESH_MS = 3_000;
/** An agent alone (a primary that hears no host) pings its isolation addresses this long before it
 *  declares itself isolated: primary T5s, self-elected secondary T25s + 5 s = T30s. */
export const HA_ISOLATION_PING_MS = 5_000;
/** A primary counts as alone once no host was heard for this long: a heartbeat half an interval late is
 *  missed, and it starts pinging at once (a whole interval would race with heartbeats sent on time). */
export const HA_ALONE_AFTER_MS = 1_500;
/** Pings (isolation addresses, management addresses) and datastore heartbeat reads repeat this often. */
export const HA_PROBE_INTERVAL_MS = 1_000;
/** A restart attempt refused (locked by a live holder, or failed) is tried again after this. */
export const HA_RESTART_RETRY_MS = 5_000;
/** Most power-on attempts per VM restart (the first plus 5 retries) before HA gives that VM up. */
export const HA_RESTART_MAX_ATTEMPTS = 6;
/** A power-on attempt without an outcome after this long counts as failed (the datastore's own wait is
 *  the 16 s lease plus four 3 s heartbeats, 28 s). */
export const HA_RESTART_RESULT_TIMEOUT_MS = 40_000;
/** The "shut down" isolation response waits this long for guests to stop, then powers the rest off. */
export const HA_SHUTDOWN_TIMEOUT_MS = 300_000;
/** The daemon should feed the agent a tick this often; every decision falls on a tick. */
export const HA_TICK_MS = 100;

export interface HaTiming {
  netHeartbeatMs: number;
  dsWatchStartMs: number;
  dsWatchMs: number;
  unreachableMs: number;
  mgmtPingMs: number;
  electionStartMs: number;
  electionMs: number;
  candidateFreshMs: number;
  isolationPingMs: number;
  aloneAfterMs: number;
  probeIntervalMs: number;
  restartRetryMs: number;
  restartMaxAttempts: number;
  restartResultTimeoutMs: number;
  shutdownTimeoutMs: number;
  tickMs: number;
}

/** The HA intervals divided by `timeScale` (2 = twice as fast); counts are not scaled. */
export function haTiming(timeScale = 1): HaTiming {
  if (!(timeScale > 0) || !Number.isFinite(timeScale)) throw new HaError(HA_ERROR.BAD_CONFIG, `time scale ${timeScale} must be a number > 0`, { field: 'timeScale' });
  const s = (ms: number): number => ms / timeScale;
  return {
    netHeartbeatMs: s(HA_NET_HEARTBEAT_MS),
    dsWatchStartMs: s(HA_DS_WATCH_START_MS),
    dsWatchMs: s(HA_DS_WATCH_MS),
    unreachableMs: s(HA_UNREACHABLE_MS),
    mgmtPingMs: s(HA_MGMT_PING_MS),
    electionStartMs: s(HA_ELECTION_START_MS),
    electionMs: s(HA_ELECTION_MS),
    candidateFreshMs: s(HA_CANDIDATE_FRESH_MS),
    isolationPingMs: s(HA_ISOLATION_PING_MS),
    aloneAfterMs: s(HA_ALONE_AFTER_MS),
    probeIntervalMs: s(HA_PROBE_INTERVAL_MS),
    restartRetryMs: s(HA_RESTART_RETRY_MS),
    restartMaxAttempts: HA_RESTART_MAX_ATTEMPTS,
    restartResultTimeoutMs: s(HA_RESTART_RESULT_TIMEOUT_MS),
    shutdownTimeoutMs: s(HA_SHUTDOWN_TIMEOUT_MS),
    tickMs: s(HA_TICK_MS),
  };
}

/** When the primary declares an unheard peer dead (ms after T0), if neither sign of life answers. */
export function deadAfterMs(t: HaTiming, hasHeartbeatDatastores: boolean): number {
  return hasHeartbeatDatastores ? t.dsWatchStartMs + t.dsWatchMs : t.unreachableMs + t.mgmtPingMs;
}
