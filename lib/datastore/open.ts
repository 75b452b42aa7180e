// Opening and closing an existing file of a datastore by its path, in one of the three lock modes
// (docs/vsphere-behaviour.md §7.5, §7.8): exclusive (one host reads and writes: a running VM's disk),
// read-only (many hosts read, nobody writes: a disk shared as a template) and multi-writer (many hosts
// write: a shared cluster disk). The compatibility rules and the break of a dead holder are lock.ts's;
// this file only resolves "dir/name" to its file-table entry. Runs as generators under proc.ts. Leaves
// out creating files (files.ts, vm.ts) and NAS datastores (their leases are exclusive or read-only,
// nas-lease.ts).

import { DS_ERROR, DatastoreError } from './errors.js';
import { DS_MAX_NAME_BYTES } from './format.js';
import type { HostCtx } from './host.js';
import { readTable } from './files.js';
import { type HeldMode, releaseLock, takeLock } from './lock.js';
import type { Gen } from './proc.js';

/** Deepest path resolvePath walks (the root counts as 0): VM directories are one level deep. */
export const DS_MAX_PATH_DEPTH = 8;

export const OPEN_MODES: readonly HeldMode[] = ['exclusive', 'read-only', 'multi-writer'];

/** Splits "dir/name" into its names, refusing empty, "." / ".." and over-long parts before any I/O. */
export function splitPath(path: string): string[] {
  const parts = path.split('/').filter((p) => p !== '');
  if (parts.length === 0 || parts.length > DS_MAX_PATH_DEPTH) {
    throw new DatastoreError(DS_ERROR.BAD_OPTION, `path "${path}" must name a file 1..${DS_MAX_PATH_DEPTH} directories deep, e.g. web1/web1-flat.vmdk`, { path });
  }
  for (const p of parts) {
    if (p === '.' || p === '..' || p.includes('\0') || Buffer.byteLength(p, 'utf8') > DS_MAX_NAME_BYTES) {
      throw new DatastoreError(DS_ERROR.BAD_OPTION, `path "${path}": "${p}" is not a file name (1..${DS_MAX_NAME_BYTES} UTF-8 bytes, not . or ..)`, { path });
    }
  }
  return parts;
}

/** The file-table entry of `path` (one READ of the table). */
export function* resolvePath(ctx: HostCtx, path: string): Gen<number> {
  const parts = splitPath(path);
  const table = yield* readTable(ctx);
  let dir = 0;
  for (const [i, name] of parts.entries()) {
    const e = table.find((x) => x.index !== 0 && x.meta.type !== 'unused' && x.meta.parent === dir && x.meta.name === name);
    if (e === undefined) throw new DatastoreError(DS_ERROR.NOT_FOUND, `no "${parts.slice(0, i + 1).join('/')}" on ${ctx.sb.label}`, { path });
    if (i < parts.length - 1 && e.meta.type !== 'dir') throw new DatastoreError(DS_ERROR.NOT_FOUND, `"${parts.slice(0, i + 1).join('/')}" is not a directory`, { path });
    dir = e.index;
  }
  return dir;
}

/** Opens `path` in `mode`: its entry, and whether this call took the lock (false: held already). */
export function* openPath(ctx: HostCtx, path: string, mode: HeldMode, onEntry: (entry: number) => void = () => {}): Gen<{ entry: number; taken: boolean }> {
  if (!OPEN_MODES.includes(mode)) throw new DatastoreError(DS_ERROR.BAD_OPTION, `open mode "${mode}" must be one of ${OPEN_MODES.join(', ')}`, { mode });
  const entry = yield* resolvePath(ctx, path);
  onEntry(entry);
  const { taken } = yield* takeLock(ctx, entry, mode);
  return { entry, taken };
}

/** Closes `path`: this host's hold on its lock ends (a no-op when it holds none). */
export function* closePath(ctx: HostCtx, path: string): Gen<number> {
  const entry = yield* resolvePath(ctx, path);
  yield* releaseLock(ctx, entry);
  return entry;
}
