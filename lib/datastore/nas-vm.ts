// A VM on a NAS datastore (docs/datastores.md "NAS datastores", docs/vsphere-behaviour.md §7.10): the same
// files as on a VMFS-like datastore (`<vm>/<vm>.vmx`, `<vm>.vmdk`, `<vm>-flat.vmdk`, vm.ts vmFiles), locked
// with `.lck-<fileid>` leases in the VM's directory instead of on-disk locks. Power-on takes the leases in
// the order given (hostd takes the `.vmx`'s first, so two hosts racing meet there: exactly one creates
// it), giving back the ones it took when a later one fails; power-off removes them. Also what `vfab datastore locks` shows of a
// `.lck` (owner, mode, counter, age from the file's mtime). Runs as generators under proc.ts; the caller
// creates the directory and files and keeps each lease fresh (nas-lease.ts refreshLease). Leaves out
// read-only opens from the CLI, the VM's disk data, and swap/log files.

import { DS_ERROR, DatastoreError } from './errors.js';
import { type NasCtx, type NasTiming, acquireLease, lckPath, parseLck, staleAfterMs } from './nas-lease.js';
import { type Gen, emit, io } from './proc.js';
import { checkVmName, vmFiles } from './vm.js';

export { checkVmName, vmFiles };

/** A file of the VM as the share names it: its path in the share and its file id (the `.lck`'s suffix). */
export interface NasVmFile {
  path: string;
  fileId: number;
}

/** A lease power-on took: the VM file, its `.lck` path, and the counter last written into it. */
export interface NasLease {
  file: string;
  lck: string;
  counter: number;
}

/** The `.lck` of a file of `vm` (in the VM's directory, named after the file's id). */
export const vmLckPath = (vm: string, fileId: number): string => lckPath(vm, fileId);

/** Is `name` (an entry of a directory) a `.lck` file? Returns the file id it locks. */
export function lckFileId(name: string): number | undefined {
  const m = /^\.lck-(\d{1,16})$/.exec(name);
  return m === null ? undefined : Number(m[1]);
}

/**
 * Takes the `.lck` of each file exclusively, in order (`onFile` is told each file before its lease is
 * sought). When a lease cannot be taken (VFAB_DATASTORE_LOCKED "locked by <host>", or an I/O error), the
 * leases taken so far are removed again and the error is thrown. Each lease held by a dead host costs a
 * whole stale time (leases of one call are watched one after the other).
 */
export function* powerOnNasVm(ctx: NasCtx, vm: string, files: NasVmFile[], onFile: (file: NasVmFile) => void = () => {}): Gen<NasLease[]> {
  checkVmName(vm);
  const taken: NasLease[] = [];
  try {
    for (const f of files) {
      onFile(f);
      const lck = vmLckPath(vm, f.fileId);
      const counter = yield* acquireLease(ctx, lck, 'exclusive');
      taken.push({ file: f.path, lck, counter });
    }
    return taken;
  } catch (e) {
    yield* releaseNasLeases(ctx, taken.reverse());
    throw e;
  }
}

/** Removes the leases (power-off, or a power-on giving back what it took); returns the files released. */
export function* releaseNasLeases(ctx: NasCtx, leases: Array<Pick<NasLease, 'file' | 'lck'>>): Gen<string[]> {
  const released: string[] = [];
  for (const l of leases) {
    const r = yield* io({ kind: 'nas-remove', path: l.lck }, ctx.nowMs + ctx.timing.updateTimeoutMs);
    if (r.status !== 'good' && r.status !== 'not-found') {
      throw new DatastoreError(DS_ERROR.IO_FAILED, `remove ${l.lck}: ${r.status === 'error' ? r.message : r.status}`, { path: l.lck });
    }
    yield* emit('lock-released', `${l.lck} removed by ${ctx.hostName}`, { path: l.lck });
    released.push(l.file);
  }
  return released;
}

/** What a `.lck` says, for listings: owner, mode and counter, or why it cannot be read. */
export interface LckView {
  owner: string | null;
  mode: 'exclusive' | 'read-only' | null;
  counter: number | null;
  problem: string | null;
  /** Fabric ms since the `.lck` last changed. */
  ageMs: number;
  /** True once it stayed unchanged for the stale time (another host may break it). */
  stale: boolean;
}

/**
 * Describes a `.lck` from its bytes and mtime: `mtimeWallMs` and `nowWallMs` are wall-clock ms (the array
 * stamps mtimes with its wall clock), turned into fabric ms with the fabric's time scale.
 */
export function describeLck(bytes: Buffer, mtimeWallMs: number, nowWallMs: number, timeScale: number, timing: NasTiming): LckView {
  const ageMs = Math.max(0, Math.round((nowWallMs - mtimeWallMs) * timeScale));
  const p = parseLck(bytes);
  const stale = ageMs >= staleAfterMs(timing);
  if (!p.ok) return { owner: null, mode: null, counter: null, problem: p.error.message, ageMs, stale };
  return { owner: p.value.owner, mode: p.value.mode, counter: p.value.counter, problem: null, ageMs, stale };
}
