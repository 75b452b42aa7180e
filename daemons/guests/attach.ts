// Real guests on a host's vSwitch ports (topology `kind: netns | qemu`; docs/guests.md): the interface
// between hostd and the code that carries a real guest's frames. hostd owns the vSwitch port (security
// policy, shaping, VLANs, teaming and captures apply as for any VM); an attachment owns the guest side: a
// Linux network namespace reached through a kernel VXLAN device (daemons/guests/netns.ts), or a QEMU
// -netdev backend (daemons/guests/qemu.ts). Each kind's module loads only when a host has such a guest,
// so hosts without real guests pay nothing for them. Leaves out: the guests' own configuration (their
// kernel does that), HA standby copies (attached only when an HA restart powers them on).

import { VfabError } from '../../lib/errors.js';
import type { Vm } from '../../lib/topology/model.js';

/** What an attachment tells its host about one vNIC. */
export interface GuestNicIo {
  /** A frame the guest sent: it enters the vSwitch port now. May be a view valid only during the call. */
  receive(frame: Uint8Array): void;
  /** The guest side of the cable: up when the guest (QEMU) connects, down when it goes away. */
  carrier(up: boolean, reason: string): void;
}

/** One vNIC of an attached guest, as its host drives it. */
export interface GuestNicPort {
  /** A frame from the vSwitch port to the guest. */
  send(frame: Uint8Array): void;
  /** `vfab link down/up VM.NIC`: the guest sees carrier go (netns: NO-CARRIER inside the namespace). */
  setAdminUp(up: boolean): void;
  /** For GET /control/status: how the guest is reached (namespace and interface, backend address, counters). */
  status(): Record<string, unknown>;
}

export interface GuestAttachment {
  nics: GuestNicPort[];
  /** Tears down everything the attachment created (namespaces, devices, sockets); idempotent. */
  close(): Promise<void>;
  status(): Record<string, unknown>;
}

export interface GuestAttachContext {
  /** The fabric (topology) name and the host's name: they make machine-wide names unique. */
  fabric: string;
  hostName: string;
  vm: Vm;
  /** Fabric-clock milliseconds. */
  nowMs(): number;
  event(type: string, fields: Record<string, unknown>): void;
  io(nic: number): GuestNicIo;
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
