// hostd's vMotion routes, with the vMotion code (daemons/vmotion/service.ts and lib/vmotion) loaded on the
// first request to one of them rather than at start: most hosts never migrate a VM, and the code is
// about 2 MiB of a host's idle memory (bench `cli`, idle RSS). The service is built once, on that first
// request, with the same dependencies hostd would have given it at start; it binds the vMotion vmk's UDP
// port then, which is early enough because a destination is always asked to prepare (a route) before the
// source sends it a datagram. Leaves out everything a migration does (service.ts).

import type { ControlHandler, ControlServer } from '../common/server.js';
import type { VmotionDeps } from './service.js';

/** The routes VmotionService.register serves (checked when the service loads). */
export const VMOTION_ROUTES: ReadonlyArray<readonly [method: string, path: string]> = [
  ['POST', '/control/vms/:vm/migrate'],
  ['GET', '/control/vmotion/facts'],
  ['POST', '/control/vmotion/prepare'],
  ['GET', '/control/vmotion/:id'],
];

/** Registers the vMotion routes on `server`; the service is created on the first request. */
export function registerVmotionOnDemand(server: ControlServer, deps: VmotionDeps): void {
  let routes: Promise<Map<string, ControlHandler>> | undefined;
  const load = (): Promise<Map<string, ControlHandler>> => (routes ??= import('./service.js').then(({ VmotionService }) => {
    const got = new Map<string, ControlHandler>();
    const collector = { on(method: string, path: string, handler: ControlHandler) { got.set(`${method} ${path}`, handler); return collector; } };
    new VmotionService(deps).register(collector as unknown as ControlServer);
    const want = VMOTION_ROUTES.map(([m, p]) => `${m} ${p}`);
    if (got.size !== want.length || want.some((k) => !got.has(k))) throw new Error(`vMotion routes out of step with VMOTION_ROUTES: ${[...got.keys()].join(', ')}`);
    return got;
  }));
  for (const [method, path] of VMOTION_ROUTES) {
    server.on(method, path, async (req) => (await load()).get(`${method} ${path}`)!(req));
  }
}
