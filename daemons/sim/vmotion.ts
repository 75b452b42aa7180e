// vMotion in the simulated fabric: the daemons' vMotion service (daemons/vmotion/service.ts, over the pure
// cores of lib/vmotion) on each simulated host that takes part in a migration, with its I/O replaced: the
// source reaches the destination's service by a direct call (facts, prepare) instead of its control API,
// the JSON of that call is copied as over HTTP, migration ids come from a seeded stream per host, and the
// service's deadline timer is a scheduler timer in the host's timer group (a killed host's migrations stop).
// Every vMotion datagram is a real UDP frame between the hosts' vMotion vmkernel ports through the
// simulated vSwitches, cables and switches, as in daemon mode. With storage in the run, the service gets
// the host's simulated datastores and disk registry as hostd wires them (daemons/sim/storage.ts
// vmotionHooks), so a VM's datastore file locks go from the source to the destination through the
// power-on lock code, over the simulated storage paths. Follows docs/vmotion.md "In a fabric"; leaves out
// NAS lock hand-over and storage vMotion (as the daemons do).

import { VfabError } from '../../lib/errors.js';
import type { StreamReceiver } from '../../lib/traffic/stream.js';
import { VmotionService, type VmotionDatastores } from '../vmotion/service.js';
import { SimDeadline, type SimFabric, type SimHost } from './fabric.js';

/** A host without storage in this run (a topology without datastores): no locks to hand over, no datastore to find. */
const NO_DATASTORES: VmotionDatastores = { vmotionLocks: async () => ({ ok: true }), adoptVm: () => {}, visibleDatastores: () => [], homeOf: () => undefined };

/** The vMotion service of a simulated host, made on first use (as hostd loads it on the first request). */
export function simVmotion(f: SimFabric, h: SimHost): VmotionService {
  if (h.vmotion instanceof VmotionService) return h.vmotion;
  const ids = f.random.stream(`vmotion-ids:${h.name}`);
  const hooks = f.storage?.vmotionHooks(h.name);
  const svc = new VmotionService({
    name: h.name,
    model: h.config.host,
    host: h.core,
    clock: h.timers,
    timeScale: 1,
    token: '',
    events: h.events,
    // with storage, the host's datastores and disk registry, as hostd wires them: the VM's file locks are
    // released by the source and taken by the destination through the power-on lock code
    ...(hooks !== undefined ? hooks : { datastores: NO_DATASTORES }),
    sinks: new Map<string, StreamReceiver[]>(),
    scheduleTick: () => h.tick.schedule(),
    io: {
      peer: async (to, method, route, body) => {
        const peer = simVmotion(f, f.host(to)); // VFAB_DAEMON_DOWN when it was killed, as an unreachable daemon
        const copy = body === undefined ? undefined : JSON.parse(JSON.stringify(body));
        if (method === 'GET' && route === '/control/vmotion/facts') return JSON.parse(JSON.stringify(peer.facts()));
        if (method === 'POST' && route === '/control/vmotion/prepare') return JSON.parse(JSON.stringify(peer.prepare(copy)));
        throw new VfabError('VFAB_SIM_UNSUPPORTED', `the simulated vMotion has no route ${method} ${route}`);
      },
      migrationId: () => 1 + Math.floor(ids() * 0xfffffffe),
      timer: (next, fire) => new SimDeadline(h.timers, next, fire),
    },
  });
  h.vmotion = svc;
  return svc;
}
