// The shares of one array: each share is a ShareStore in its own key space of one shared kv (prefix
// 's' nameBytes u8 name), opened from the topology's `arrays[].shares: [{ name, sizeMB }]`. A share that
// leaves the topology keeps its data in the kv (it is just not exported); one that comes back finds it.
// Leaves out deleting a share's data and the kv itself (kv-level.ts, kv.ts).

import { VfabError } from '../errors.js';
import { prefixKv, type NasKv } from './kv.js';
import { NAS_MAX_SHARE_NAME_BYTES } from './protocol.js';
import { ShareStore, type NsClock } from './share-store.js';

/** Shares per array. */
export const NAS_MAX_SHARES = 64;
/** Largest share, in MiB (1 TiB). */
export const NAS_MAX_SHARE_MB = 1024 * 1024;
const MIB = 1024 * 1024;

export const NAS_SHARE_ERROR = {
  /** A share spec with a bad name or size, a duplicate name, or too many shares. */
  BAD_SHARE: 'VFAB_NAS_BAD_SHARE',
} as const;

export interface ShareSpec {
  name: string;
  sizeMB: number;
}

function sharePrefix(name: string): Buffer {
  const n = Buffer.from(name, 'utf8');
  return Buffer.concat([Buffer.of(0x73, n.length), n]);
}

/** Checks share specs: names 1..NAS_MAX_SHARE_NAME_BYTES printable and unique, sizes 1..NAS_MAX_SHARE_MB. */
export function validateShares(specs: readonly ShareSpec[]): void {
  if (specs.length > NAS_MAX_SHARES) throw new VfabError(NAS_SHARE_ERROR.BAD_SHARE, `${specs.length} shares (max ${NAS_MAX_SHARES})`);
  const seen = new Set<string>();
  for (const s of specs) {
    const bytes = typeof s.name === 'string' ? Buffer.byteLength(s.name, 'utf8') : 0;
    if (bytes === 0 || bytes > NAS_MAX_SHARE_NAME_BYTES || /[\u0000-\u001f\u007f/]/.test(s.name)) {
      throw new VfabError(NAS_SHARE_ERROR.BAD_SHARE, `share name ${JSON.stringify(s.name)} must be 1..${NAS_MAX_SHARE_NAME_BYTES} printable bytes without "/"`);
    }
    if (seen.has(s.name)) throw new VfabError(NAS_SHARE_ERROR.BAD_SHARE, `duplicate share "${s.name}"`);
    seen.add(s.name);
    if (!Number.isInteger(s.sizeMB) || s.sizeMB < 1 || s.sizeMB > NAS_MAX_SHARE_MB) {
      throw new VfabError(NAS_SHARE_ERROR.BAD_SHARE, `share "${s.name}" sizeMB ${String(s.sizeMB)} must be a whole number 1..${NAS_MAX_SHARE_MB}`);
    }
  }
}

/** Opens (creating on first use) every share of `specs` in `kv`. */
export async function openShares(kv: NasKv, specs: readonly ShareSpec[], nowNs: NsClock): Promise<Map<string, ShareStore>> {
  validateShares(specs);
  const out = new Map<string, ShareStore>();
  for (const s of specs) out.set(s.name, await ShareStore.open({ kv: prefixKv(kv, sharePrefix(s.name)), capacityBytes: s.sizeMB * MIB, nowNs }));
  return out;
}
