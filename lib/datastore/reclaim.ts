// A host mounting a datastore again after it stopped without unmounting (daemon killed or stopped, host
// crashed; docs/vsphere-behaviour.md §7.4, §7.6): a slot still in use under this host's own UUID belongs
// to its previous life, which is dead since this host is mounting now. Reclaim it before claiming a slot:
// mark it being replayed (ATS), replay its journal, free it with generation + 1 (lock.ts breakSlot). The
// locks the previous life held then name a generation that is gone, so any host takes them at once.
// Without this every restart would leave one slot in use for good. Runs under proc.ts. Leaves out slots
// being replayed by another host (that host finishes the job) and two live processes with one identity.

import { parseSlot, slotLba } from './format.js';
import type { HostCtx } from './host.js';
import { breakSlot } from './lock.js';
import { type Gen, emit, io } from './proc.js';
import { requireGood } from './host.js';

/** Frees every slot in use under ctx.hostUuid (a previous mount of this host); returns their indexes. */
export function* reclaimOwnSlots(ctx: HostCtx): Gen<number[]> {
  const l = ctx.sb.layout;
  const bs = l.blockSize;
  const raw = requireGood(yield* io({ kind: 'read', lba: l.hbLba, blocks: l.slotCount }, ctx.nowMs + ctx.timing.ioTimeoutMs), 'read heartbeat region');
  const freed: number[] = [];
  for (let i = 0; i < l.slotCount; i++) {
    const image = Buffer.from(raw.subarray(i * bs, (i + 1) * bs));
    const s = parseSlot(image, i, slotLba(l, i) * bs);
    if (!s.ok || s.value.state !== 'in-use' || s.value.owner !== ctx.hostUuid) continue;
    const holder = { owner: ctx.hostUuid, slotLba: slotLba(l, i), slotGeneration: s.value.generation };
    if (yield* breakSlot(ctx, { holder, lba: slotLba(l, i), image, slot: s.value })) {
      freed.push(i);
      yield* emit('slot-lost', `reclaimed heartbeat slot ${i} (generation ${s.value.generation}) left in use by this host's previous mount: journal replayed, slot freed`, { slot: i, generation: s.value.generation, newGeneration: s.value.generation + 1 });
    }
  }
  return freed;
}
