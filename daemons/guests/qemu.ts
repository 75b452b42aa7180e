// QEMU guests on a vfab port (topology `kind: qemu`; docs/guests.md "QEMU guests"): each vNIC gets a
// netdev backend on 127.0.0.1 (a TCP server for `-netdev stream` / `-netdev socket`, or a UDP socket for
// `-netdev dgram`; topology `qemu.netdev`) and a FrameLink that hostd binds as "<vm>.<nic>", so link
// down/up, impairments, flaps, counters and captures apply as to any VM. vfab does not start QEMU: the
// user runs it with the arguments status() and `vfab qemu-args VM` print. Leaves out starting and stopping
// QEMU, its console and disks.

import { VfabError } from '../../lib/errors.js';
import { FrameLink } from '../../lib/link/frame-link.js';
import { qemuNetArgs, type QemuArgsForm } from '../../lib/guests/qemu-args.js';
import type { GuestAttachContext, GuestAttachment } from './attach.js';
import type { QemuBackend } from './qemu-backend.js';
import { QemuStreamServer } from './qemu-stream-server.js';
import { QemuDgramBackend } from './qemu-dgram.js';

export async function attachQemuGuest(ctx: GuestAttachContext): Promise<GuestAttachment> {
  const vm = ctx.vm;
  if (vm.kind !== 'qemu') throw new VfabError('VFAB_GUEST_KIND', `VM ${vm.name} is a ${vm.kind ?? 'builtin'} guest, not a qemu guest`);
  const netdev = vm.qemu?.netdev ?? 'stream';
  const basePort = vm.qemu?.port ?? 0;
  const backends: QemuBackend[] = [];
  try {
    for (const [i, nic] of vm.nics.entries()) {
      const link = new FrameLink(`${vm.name}.${nic.name}`);
      const port = basePort === 0 ? 0 : basePort + i;
      backends.push(netdev === 'dgram' ? await QemuDgramBackend.open(link, '127.0.0.1', port) : await QemuStreamServer.listen(link, '127.0.0.1', port, ctx.event));
    }
  } catch (e) {
    await Promise.all(backends.map((b) => b.close()));
    throw e;
  }
  const argsFor = (form: QemuArgsForm) => qemuNetArgs(form, vm.nics.map((n, i) => ({ name: n.name, mac: n.macText, port: backends[i]!.port })));
  let closed = false;
  return {
    links: backends.map((b) => b.link),
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all(backends.map((b) => b.close()));
    },
    status() {
      return {
        kind: 'qemu',
        netdev,
        nics: backends.map((b, i) => ({ nic: vm.nics[i]!.name, mac: vm.nics[i]!.macText, ...b.status() })),
        qemuArgs: netdev === 'dgram' ? { dgram: argsFor('dgram') } : { stream: argsFor('stream'), socket: argsFor('socket') },
      };
    },
  };
}
