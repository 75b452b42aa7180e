// vfab exec: runs a command inside a netns VM (topology `kind: netns`; docs/guests.md "Network
// namespaces"), with the caller's stdin, stdout and stderr, and exits with the command's exit code. The
// VM's namespace is read from its host's status (GET /control/status, guests.<vm>.netns), so only a
// running fabric's netns VMs are reachable; the command runs as `ip netns exec NAMESPACE COMMAND...`.
// Leaves out builtin, external and qemu VMs (no namespace to enter: vfab ping, their vm daemon, the
// guest's console) and running as another user (needs root like the namespace itself).

import { spawn } from 'node:child_process';
import os from 'node:os';
import { VfabError } from '../../../lib/errors.js';
import { control } from '../../common/control-client.js';
import { readState, findVmDaemon } from '../../fabric/state.js';
import { canManageNetworks } from '../../guests/vxlan-device.js';
import { type CommandTable, defineCommand, UsageError } from '../io.js';

/** Most words in the command line after `--`. */
export const MAX_EXEC_ARGS = 4096;

const exec = defineCommand(
  {
    usage: ['VM -- COMMAND [ARGS...]'],
    description: `Runs COMMAND inside the network namespace of VM (a \`kind: netns\` VM of the running fabric) with
this terminal's input and output, as the kernel's own tools see it: its interfaces (eth0, eth1, ... in
vNIC order), addresses, routes and neighbours. Everything after -- is the command, so its own options
are not read as vfab's. The exit code is the command's (128 + N when it ended on signal N).
Needs root, like the namespace itself. vfab status shows each netns VM's namespace.`,
    options: {},
    args: { min: 2, max: 1 + MAX_EXEC_ARGS },
    examples: [
      'exec web1 -- ping -c 3 192.0.2.12',
      'exec web2 -- iperf3 -s -1 -D      # a one-shot iperf3 server in the background',
      'exec web1 -- ip -s link show eth0  # counters, NO-CARRIER after: vfab link down web1.nic0',
    ],
    exits: {
      1: "the command's own exit code is passed through (any value); 1 also when it cannot be started",
      2: 'bad usage: no command, an unknown VM, or a VM that is not kind: netns (the message names it); not root',
      3: 'no fabric is running here, or the VM\'s host does not answer',
    },
  },
  async ({ positionals }) => {
    const [vm, ...command] = positionals as [string, ...string[]];
    const state = readState();
    const host = findVmDaemon(state, vm);
    const notNetns = (what: string) => new UsageError(`VM ${vm} is ${what}, not kind: netns: vfab exec runs commands in netns VMs only (use: vfab ping ${vm} ADDRESS)`);
    if (host.kind !== 'host') throw notNetns('an external VM (its own vm daemon)');
    const status = await control<{ guests?: Record<string, { netns?: string }>; vms?: Array<{ name: string; kind?: string }> }>(host, state.token, 'GET', '/control/status');
    const netns = status.guests?.[vm]?.netns;
    if (netns === undefined) {
      const kind = status.vms?.find((v) => v.name === vm)?.kind ?? 'builtin';
      throw notNetns(kind === 'builtin' ? 'a builtin VM (vfab\'s own small IP stack)' : `a ${kind} VM`);
    }
    if (!canManageNetworks()) throw new VfabError('VFAB_GUEST_NEEDS_ROOT', `entering VM ${vm}'s network namespace ${netns} needs root (CAP_SYS_ADMIN): run vfab exec as root (e.g. sudo)`);
    return await new Promise<number>((resolve, reject) => {
      const child = spawn('ip', ['netns', 'exec', netns, ...command], { stdio: 'inherit' });
      child.once('error', (e) => reject(new VfabError('VFAB_GUEST_TOOL_MISSING', `cannot run ip netns exec: ${e.message}`, { file: 'ip' })));
      child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? os.constants.signals[signal] : 0)));
    });
  },
);

export const commands: CommandTable = { exec };
