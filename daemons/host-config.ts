// hostd's live reconfiguration route (vfab set vswitch|portgroup|vnic|host; docs/reconfigure.md):
// POST /control/config {what, host} carries the whole new model of this host (the running configuration
// after the change, checked by the CLI with every topology rule); EsxHost.reconfigure applies it whole or
// not at all (lib/host/host.ts); a config-changed event ({what}) precedes the events the change causes. Leaves out changes that
// cannot happen live (the host refuses them) and the vMotion service's copy of the model.

import { VfabError } from '../lib/errors.js';
import type { EsxHost } from '../lib/host/host.js';
import type { Host as HostModel } from '../lib/topology/model.js';
import type { ControlServer } from './common/server.js';
import type { EventLog } from './common/events.js';

/** Longest `what` text kept in an event, characters. */
const MAX_WHAT_CHARS = 500;

export function registerConfigRoute(server: ControlServer, host: EsxHost, events: EventLog, after: () => void): void {
  server.on('POST', '/control/config', (req) => {
    const body = req.body as { what?: unknown; host?: unknown } | undefined;
    const next = body?.host as HostModel | undefined;
    if (typeof next !== 'object' || next === null || !Array.isArray(next.vswitches) || !Array.isArray(next.vms) || !Array.isArray(next.vmkernels)) {
      throw new VfabError('VFAB_HOST_CONFIG_BAD', 'POST /control/config needs {host: the host model of a topology} (vswitches, vms, vmkernels)');
    }
    const what = typeof body?.what === 'string' ? body.what.slice(0, MAX_WHAT_CHARS) : 'configuration change';
    let changes: string[];
    try {
      // the cause is logged before its effects (re-pinned ports, RARPs, MAC-table moves), once checked
      changes = host.reconfigure(next, () => events.add('config-changed', { what }));
    } catch (e) {
      if (e instanceof VfabError) throw e;
      throw new VfabError('VFAB_HOST_CONFIG_BAD', `the host model in the request is malformed: ${(e as Error).message}`);
    }
    after();
    return { host: host.name, changes };
  });
}
