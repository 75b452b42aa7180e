// hostd's vMotion routes, with the vMotion code (daemons/vmotion/service.ts and lib/vmotion) loaded on the
// first request to one of them rather than at start: most hosts never migrate a VM, and the code is
// about 2 MiB of a host's idle memory (bench `cli`, idle RSS). The service is built once, on that first
// request, with the same dependencies hostd would have given it at start; it binds the vMotion vmk's UDP
// port then, which is early enough because a destination is always asked to prepare (a route) before the
// source sends it a datagram. This is the one table of the routes. Leaves out everything a migration
// does (service.ts).

import type { ControlServer } from '../common/server.js';
import type { VmotionDeps, VmotionService } from './service.js';

/** Registers the vMotion routes on `server`; the service is created on the first request. */
export function registerVmotionOnDemand(server: ControlServer, deps: VmotionDeps): void {
  let service: Promise<VmotionService> | undefined;
  registerVmotionRoutes(server, () => (service ??= import('./service.js').then(({ VmotionService: S }) => new S(deps))));
}

/** The vMotion routes over whichever service `svc` gives (the simulation: the simulated host's own). */
export function registerVmotionRoutes(server: ControlServer, svc: () => Promise<VmotionService>): void {
  server
    .on('POST', '/control/vms/:vm/migrate', async (req) => (await svc()).migrate(req.params.vm!, req.body))
    .on('GET', '/control/vmotion/facts', async () => (await svc()).facts())
    .on('POST', '/control/vmotion/prepare', async (req) => (await svc()).prepare(req.body))
    .on('GET', '/control/vmotion/:id', async (req) => (await svc()).progress(Number(req.params.id)));
}
