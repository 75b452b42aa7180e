// Linux network namespaces as guests (topology `kind: netns`; docs/guests.md). Not built yet.
import { VfabError } from '../../lib/errors.js';
import type { GuestAttachContext, GuestAttachment } from './attach.js';

export async function attachNetnsGuest(ctx: GuestAttachContext): Promise<GuestAttachment> {
  throw new VfabError('VFAB_GUEST_KIND', `VM ${ctx.vm.name}: netns guests are not built yet`);
}
