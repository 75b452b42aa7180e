// QEMU guests on a vfab netdev backend (topology `kind: qemu`; docs/guests.md). Not built yet.
import { VfabError } from '../../lib/errors.js';
import type { GuestAttachContext, GuestAttachment } from './attach.js';

export async function attachQemuGuest(ctx: GuestAttachContext): Promise<GuestAttachment> {
  throw new VfabError('VFAB_GUEST_KIND', `VM ${ctx.vm.name}: qemu guests are not built yet`);
}
