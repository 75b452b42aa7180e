// hostd's HA wiring (docs/ha.md "In a fabric"): when the host's config names a cluster (topology
// `clusters:`, daemons/fabric/plan.ts), runs its HA agent (runner.ts) on the management vmkernel port and
// the host's datastores, and serves GET /control/ha (the agent's status: role, primary, how it sees each
// peer, heartbeats heard, held heartbeat files, protected VMs and pending restarts). A host in no
// cluster answers that route with VFAB_HA_NOT_CONFIGURED. Also POST /control/vmkernels/:vmk/link {up}
// (`management` for the management vmk): the vmk's vSwitch port blocked or unblocked, for
// `vfab fault isolate`. Behaviour reference §7.11-§7.14 through runner.ts. Leaves out the decisions (lib/ha).

import { VfabError } from '../../lib/errors.js';
import type { Clock } from '../../lib/clock.js';
import type { EsxHost } from '../../lib/host/host.js';
import type { ControlServer } from '../common/server.js';
import type { HostConfig } from '../fabric/plan.js';
import type { HaDatastores, HaRunner } from './runner.js';
import type { Timers } from '../common/timers.js';

/** GET /control/ha on a host that is in no cluster. */
export const HA_NOT_CONFIGURED = 'VFAB_HA_NOT_CONFIGURED';

export interface AttachHaDeps {
  server: ControlServer;
  name: string;
  config: HostConfig;
  host: EsxHost;
  clock: Clock;
  timeScale: number;
  event: (type: string, fields: Record<string, unknown>) => void;
  datastores: HaDatastores;
  scheduleTick: () => void;
  /** The agent's tick timer (default Node's; the simulation passes the host's scheduler timers). */
  timers?: Timers;
  /** The runner class, when the caller has it loaded already (the simulation: no import at run time). */
  runnerClass?: typeof HaRunner;
}

/**
 * Starts the host's HA agent if it is in a cluster; returns the function that stops it. The agent's code
 * (runner.ts, lib/ha) is loaded only for a host in a cluster, so other hosts do not carry it (idle RSS).
 */
export async function attachHa(d: AttachHaDeps): Promise<() => void> {
  const cluster = d.config.cluster;
  const vmk = d.host.vmkernelFor('management');
  // the topology loader refuses a cluster host without a management vmk; a hand-written config may not
  const runner = cluster !== undefined && vmk !== undefined
    ? new (d.runnerClass ?? (await import('./runner.js')).HaRunner)({
        host: d.name, cluster, clock: d.clock, timeScale: d.timeScale, event: d.event, vmk, scheduleTick: d.scheduleTick, datastores: d.datastores, ...(d.timers ? { timers: d.timers } : {}),
      })
    : undefined;
  d.server.on('GET', '/control/ha', () => {
    if (runner === undefined) throw new VfabError(HA_NOT_CONFIGURED, `${d.name} is in no HA cluster${cluster !== undefined ? ' (it has no management vmkernel port)' : ''}: add it to a cluster under clusters: in the topology`);
    return runner.status();
  });
  // `vfab fault isolate`: the vmk's vSwitch port blocked ("management" names the management vmk)
  d.server.on('POST', '/control/vmkernels/:vmk/link', (req) => {
    const name = req.params.vmk === 'management' ? (vmk?.name ?? 'management') : req.params.vmk!;
    const up = req.body?.up !== false;
    d.event('vmk-link', { vmk: `${d.name}.${name}`, up });
    d.host.setVmkernelLink(name, up); // VFAB_NOT_FOUND names the host's vmkernel ports
    return { host: d.name, vmk: name, up };
  });
  runner?.start();
  return () => runner?.close();
}
