// Real guests on a host's vSwitch ports (topology `kind: netns | qemu`; docs/guests.md): the interface
// between hostd and the code that carries a real guest's frames. hostd owns the vSwitch port (security
// policy, shaping, VLANs, teaming and captures apply as for any VM); an attachment owns the guest side: a
// Linux network namespace reached through a kernel VXLAN device (daemons/guests/netns.ts), or a QEMU
// -netdev backend (daemons/guests/qemu.ts). Each kind's module loads only when a host has such a guest,
// so hosts without real guests pay nothing for them. Leaves out: the guests' own configuration (their
// kernel does that), HA standby copies (attached only when an HA restart powers them on).

import { VfabError } from '../../lib/errors.js';
import type { Vm } from '../../lib/topology/model.js';
import type { EthernetLink } from '../../lib/link/link.js';

/**
 * A real guest attached to its host: one link per vNIC, in the VM's vNIC order. hostd binds each to
 * interface "<vm>.<nic>" of its links (DaemonLinks.attach), so frames, carrier, `vfab link down/up`,
 * impairments, flaps and status work as for an external VM's WebSocket link. An attachment that can show
 * carrier to its guest (netns: protodown, NO-CARRIER inside the namespace) listens to its links' onCarrier.
 */
export interface GuestAttachment {
  links: EthernetLink[];
  /** Tears down everything the attachment created (namespaces, devices, sockets); idempotent. */
  close(): Promise<void>;
  /** For GET /control/status: how the guest is reached (namespace and interfaces, backend addresses). */
  status(): Record<string, unknown>;
  /** The VM was powered on or off on this host (its vSwitch port connects or disconnects): shown to the guest if it can. */
  powered?(on: boolean): void;
}

export interface GuestAttachContext {
  /** The fabric (topology) name and the host's name: they make machine-wide names unique. */
  fabric: string;
  hostName: string;
  vm: Vm;
  /** The fabric's run directory (where hostd's config is): netns guests record what they create there. */
  runDir?: string;
  /** Fabric-clock milliseconds. */
  nowMs(): number;
  event(type: string, fields: Record<string, unknown>): void;
}

export async function attachGuest(ctx: GuestAttachContext): Promise<GuestAttachment> {
  switch (ctx.vm.kind) {
    case 'netns':
      return (await import('./netns.js')).attachNetnsGuest(ctx);
    case 'qemu':
      return (await import('./qemu.js')).attachQemuGuest(ctx);
    default:
      throw new VfabError('VFAB_GUEST_KIND', `VM ${ctx.vm.name} is a ${ctx.vm.kind ?? 'builtin'} guest: its host runs its stack, there is nothing to attach`);
  }
}
