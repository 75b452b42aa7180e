// vfab ui: serves the live web view of the running fabric on 127.0.0.1 and prints a one-time login URL;
// runs until Ctrl-C. Thin CLI over daemons/ui/server.ts; routes, access and limits in docs/ui.md.
// Leaves out the page itself (ui/, built into dist/ui/ by npm run build).

import { VfabError } from '../../../lib/errors.js';
import { readState } from '../../fabric/state.js';
import { checkDaemonPid } from '../../fabric/pid-identity.js';
import { type CommandTable, defineCommand, printJson, JSON_OPTION, EXIT_OK } from '../io.js';

const ui = defineCommand(
  {
    usage: ['[--port P] [--json]'],
    description: `Serves a live web view of the running fabric on 127.0.0.1: hosts with their vSwitches, port groups,
VMs and uplinks, switches and their ports, links with their state, VLANs and traffic rates, each VM's
active uplink and why, MAC tables, drops and MAC moves, datastore locks and HA state where the fabric has
them, and the event stream; with actions (link down/up, impair, VM power, captures as pcapng).
It prints a one-time login URL: opening it sets a session cookie in that browser; the fabric's token
is never shown to the page. Other web sites cannot use the server (Host and Origin are checked).
Runs until Ctrl-C. The page updates live over one WebSocket; vfab ui reads the daemons once for every
open page.`,
    options: {
      port: { type: 'int', value: 'P', min: 0, max: 65535, default: 0, description: 'TCP port on 127.0.0.1 (0: any free port)' },
      json: { ...JSON_OPTION, description: 'print {url, port} as JSON once serving' },
    },
    args: { min: 0, max: 0 },
    examples: ['ui                 # then open the printed URL', 'ui --port 8700', 'ui --json          # {"url": "http://127.0.0.1:40123/login?code=...", "port": 40123}'],
    exits: { 2: 'a bad --port (the message names it), or the port is in use', 3: 'no fabric is running here, or none of its daemons runs (the fabric is named)' },
  },
  async ({ values, typed }, io) => {
    const state = readState();
    if (!state.daemons.some((d) => checkDaemonPid(d).state === 'running')) {
      throw new VfabError('VFAB_NO_FABRIC', `fabric ${state.fabric} is not running: none of its ${state.daemons.length} daemons runs (start it with: vfab up ${state.topologyFile} --detach)`);
    }
    const { UiServer } = await import('../../ui/server.js');
    const server = new UiServer({ state, port: values.port });
    if (!values.json) io.err(`reading fabric ${state.fabric}...`);
    try {
      await server.start();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE' || code === 'EACCES') {
        await server.close().catch(() => {});
        throw new VfabError('VFAB_BAD_UI_PORT', `${typed.port ?? `--port ${values.port}`}: ${code === 'EADDRINUSE' ? 'in use by another program' : 'not allowed for this user'} (try --port 0 for any free port)`);
      }
      throw e;
    }
    const url = server.loginUrl!;
    if (values.json) printJson(io, { url, port: server.port });
    else {
      io.out(`vfab ui for fabric ${state.fabric}: open ${url}`);
      io.err('the URL works once (it sets a session cookie in that browser); press Ctrl-C to stop');
    }
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await server.close();
    return EXIT_OK;
  },
);

export const commands: CommandTable = { ui };
