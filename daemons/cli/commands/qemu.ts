// vfab qemu-args: the QEMU arguments that put a qemu guest (topology `kind: qemu`) on its vfab ports
// (docs/guests.md "QEMU guests"): one `-netdev` and one `-device` per vNIC, with the port its host's
// backend listens on in the running fabric and the vNIC's MAC. Asks the VM's host (GET /control/status).
// Leaves out starting QEMU (the user owns its command line: kernel, disks, memory).

import { daemonRunning, readState, findVmDaemon } from '../../fabric/state.js';
import { control } from '../../common/control-client.js';
import { VfabError } from '../../../lib/errors.js';
import { qemuNetArgs, QEMU_ARGS_FORMS, DEFAULT_QEMU_NIC_MODEL, type QemuArgsForm } from '../../../lib/guests/qemu-args.js';
import { type CommandTable, defineCommand, printJson, JSON_OPTION, UsageError, EXIT_OK } from '../io.js';

interface QemuGuestStatus {
  kind: string;
  netdev: 'stream' | 'dgram';
  nics: Array<{ nic: string; mac: string; address: string; peer: string | null }>;
}

const qemuArgs = defineCommand(
  {
    usage: ['VM [--form stream|socket|dgram] [--model MODEL] [--json]'],
    description: `The QEMU arguments that attach qemu guest VM's vNICs to their vfab ports in the running fabric:
per vNIC "-netdev ... -device MODEL,netdev=ID,mac=MAC", with the port its host listens on (127.0.0.1)
and the vNIC's MAC from the topology. Printed on one line, to paste into a QEMU command line.

  --form    stream (default for netdev: stream) is QEMU 7.2's -netdev stream; socket is the older
            -netdev socket,connect= with the same framing, to the same port; dgram (the only form for
            netdev: dgram) is -netdev dgram: QEMU binds a free local port, vfab learns it.

Exit codes: 0 printed; 2 bad usage, an unknown VM, a VM that is not a qemu guest, or a form its
backend does not speak; 3 no fabric, or the VM's host does not answer.`,
    options: {
      form: { type: 'enum', values: QEMU_ARGS_FORMS, value: 'FORM', description: 'stream, socket or dgram (default: the VM\'s netdev)' },
      model: { type: 'string', value: 'MODEL', description: `QEMU NIC model (default ${DEFAULT_QEMU_NIC_MODEL}; e1000, rtl8139, ...)` },
      json: JSON_OPTION,
    },
    args: { min: 1, max: 1 },
    examples: [
      'qemu-args q1',
      'qemu-system-x86_64 -m 512 -kernel vmlinuz -initrd initrd.img $(vfab qemu-args q1)',
      'qemu-args q1 --form socket --model e1000 --json',
    ],
  },
  async ({ values, positionals }, io) => {
    const vm = positionals[0]!;
    const model = values.model ?? DEFAULT_QEMU_NIC_MODEL;
    if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/.test(model)) throw new UsageError(`--model ${JSON.stringify(model)}: a QEMU device name is letters, digits, - and _ (e.g. virtio-net-pci, e1000)`);
    const state = readState();
    const host = findVmDaemon(state, vm);
    if (!daemonRunning(state, host)) throw new VfabError('VFAB_DAEMON_DOWN', `host ${host.name} (pid ${host.pid}) of VM ${vm} is not running`);
    const status = await control<{ guests?: Record<string, QemuGuestStatus> }>(host, state.token, 'GET', '/control/status', undefined, 5_000);
    const g = status.guests?.[vm];
    if (g === undefined || g.kind !== 'qemu') throw new UsageError(`${vm} is not a qemu guest (topology kind: qemu); QEMU arguments exist for qemu guests only`);
    const form = (values.form ?? g.netdev) as QemuArgsForm;
    if ((g.netdev === 'dgram') !== (form === 'dgram')) {
      throw new UsageError(`--form ${form}: ${vm}'s backend is netdev ${g.netdev}, which takes ${g.netdev === 'dgram' ? 'dgram' : 'stream or socket'}`);
    }
    const nics = g.nics.map((n) => ({ name: n.nic, mac: n.mac, port: Number(n.address.slice(n.address.lastIndexOf(':') + 1)) }));
    const args = qemuNetArgs(form, nics, model);
    if (values.json) return printJson(io, { vm, host: host.name, netdev: g.netdev, form, args, nics: g.nics.map((n) => ({ nic: n.nic, mac: n.mac, address: n.address, peer: n.peer })) }), EXIT_OK;
    io.out(args.join(' '));
    return EXIT_OK;
  },
);

export const commands: CommandTable = { 'qemu-args': qemuArgs };
