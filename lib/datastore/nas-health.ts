// Whether a host can reach a NAS datastore's share (docs/datastores.md "NAS datastores"): the host probes
// the share every lease refresh interval (10 s), each probe with the lease update timeout (5 s); after as
// many failed probes in a row as a lease tolerates (3) the datastore is offline ("lost access"), and is
// then tried every offline-retry interval (1 s) until a probe succeeds ("online"). vfab's own rule, built
// from the `.lck` numbers of docs/vsphere-behaviour.md §7.10 and the VMFS offline retry of §7.3. Pure:
// the caller performs the probe and keeps the timer. Leaves out the probe itself (a GETATTR of the root).

import { type NasTiming, NAS_REFRESH_MS } from './nas-lease.js';

/** While offline, how often the share is tried again (fabric ms at time scale 1), like a VMFS-like datastore. */
export const NAS_OFFLINE_RETRY_MS = 1_000;
/** The offline retry of a (possibly time-scaled) timing: the same fraction of its refresh interval. */
export const offlineRetryMs = (t: NasTiming): number => (t.refreshMs * NAS_OFFLINE_RETRY_MS) / NAS_REFRESH_MS;

export interface ShareHealth {
  online: boolean;
  /** Failed probes in a row. */
  failures: number;
}

export const initialShareHealth = (): ShareHealth => ({ online: true, failures: 0 });

export interface ProbeDecision {
  health: ShareHealth;
  /** Set when the datastore changes state with this probe. */
  change: 'offline' | 'online' | undefined;
  /** When to probe next (fabric ms from now). */
  nextProbeMs: number;
}

/** The outcome of one probe (`ok`): the new health, a state change if any, and when to probe again. */
export function afterProbe(h: ShareHealth, ok: boolean, t: NasTiming): ProbeDecision {
  if (ok) {
    return { health: { online: true, failures: 0 }, change: h.online ? undefined : 'online', nextProbeMs: t.refreshMs };
  }
  const failures = h.failures + 1;
  const online = h.online && failures < t.maxFailures;
  return { health: { online, failures }, change: h.online && !online ? 'offline' : undefined, nextProbeMs: online ? t.refreshMs : offlineRetryMs(t) };
}
