// A VM's files on a datastore and what power-on and power-off do with them (docs/vsphere-behaviour.md
// §7.5-§7.8): a VM `web1` lives in directory `web1/` with `web1.vmx` (its configuration) and
// `web1-flat.vmdk` (its disk). Power-on opens both exclusively, in that order (so two hosts racing fail on
// the same first file), creating the directory and files on the first power-on; a holder whose heartbeat
// is dead is broken by lock.ts (replay, generation + 1). If a later file fails, the files opened so far are
// released again. Power-off releases them. Runs as generators under proc.ts. Leaves out the VM's disk data
// (the disk's blocks are allocated, not yet read or written through the datastore) and swap/log files.

import { DS_ERROR, DatastoreError } from './errors.js';
import { DS_FILE_BLOCK_BYTES, DS_MAX_NAME_BYTES } from './format.js';
import type { HostCtx } from './host.js';
import { createFile, listDir } from './files.js';
import { releaseLock, takeLock } from './lock.js';
import type { Gen } from './proc.js';

/** Size of the disk file created at first power-on (one file block: the disk's data is a later step). */
export const VM_DISK_BYTES = DS_FILE_BLOCK_BYTES;

/** The files power-on opens, in order, with the bytes each gets when created. */
export function vmFiles(vm: string): Array<{ name: string; sizeBytes: number }> {
  return [
    { name: `${vm}.vmx`, sizeBytes: 0 },
    { name: `${vm}-flat.vmdk`, sizeBytes: VM_DISK_BYTES },
  ];
}

export interface OpenedFile {
  path: string;
  entry: number;
  created: boolean;
}

/** Longest VM name: its disk file name (`<vm>-flat.vmdk`) must fit a file name. */
export const DS_MAX_VM_NAME_BYTES = DS_MAX_NAME_BYTES - Buffer.byteLength('-flat.vmdk');

/** Refuses a VM name before anything is created: 1..DS_MAX_VM_NAME_BYTES UTF-8 bytes, no "/" or NUL. */
export function checkVmName(vm: string): void {
  const n = Buffer.byteLength(vm, 'utf8');
  if (n < 1 || n > DS_MAX_VM_NAME_BYTES || vm.includes('/') || vm.includes('\0') || vm === '.' || vm === '..') {
    throw new DatastoreError(DS_ERROR.BAD_OPTION, `VM name "${vm}" must be 1..${DS_MAX_VM_NAME_BYTES} UTF-8 bytes without "/" or NUL`, { vm });
  }
}

function* find(ctx: HostCtx, dir: number, name: string): Gen<number | undefined> {
  return (yield* listDir(ctx, dir)).find((e) => e.meta.name === name)?.index;
}

/** The entry of directory `vm` in the root, created (and closed again) if missing. */
function* vmDir(ctx: HostCtx, vm: string): Gen<number> {
  for (let attempt = 0; attempt < 2; attempt++) {
    const found = yield* find(ctx, 0, vm);
    if (found !== undefined) return found;
    try {
      const index = yield* createFile(ctx, 0, vm, 0, 'dir');
      yield* releaseLock(ctx, index); // a directory is not kept open
      return index;
    } catch (e) {
      if ((e as DatastoreError).code !== DS_ERROR.EXISTS) throw e; // another host created it first: look again
    }
  }
  throw new DatastoreError(DS_ERROR.CONTENDED, `directory ${vm} could not be found or created`);
}

/**
 * Opens the VM's files exclusively (creating them on first use). `onFile` is told each file's path and
 * entry as soon as it is known (so events about an entry can name the file). Throws VFAB_DATASTORE_LOCKED "locked by <host>" when a live host holds one.
 * Throws VFAB_DATASTORE_LOCKED too when this host has the VM open already.
 */
export function* powerOnVm(ctx: HostCtx, vm: string, onFile: (path: string, entry?: number) => void = () => {}): Gen<OpenedFile[]> {
  checkVmName(vm);
  const dir = yield* vmDir(ctx, vm);
  onFile(vm, dir);
  const opened: OpenedFile[] = [];
  try {
    for (const f of vmFiles(vm)) {
      const path = `${vm}/${f.name}`;
      onFile(path);
      let entry = yield* find(ctx, dir, f.name);
      if (entry === undefined) {
        try {
          entry = yield* createFile(ctx, dir, f.name, f.sizeBytes); // created open (exclusive)
          onFile(path, entry);
          opened.push({ path, entry, created: true });
          continue;
        } catch (e) {
          if ((e as DatastoreError).code !== DS_ERROR.EXISTS) throw e;
          entry = yield* find(ctx, dir, f.name);
          if (entry === undefined) throw e;
        }
      }
      onFile(path, entry);
      const { taken } = yield* takeLock(ctx, entry, 'exclusive');
      if (!taken) throw new DatastoreError(DS_ERROR.LOCKED, `${vm} is powered on on this host already (${path} is open here)`, { path, ownerName: ctx.hostName });
      opened.push({ path, entry, created: false });
    }
    return opened;
  } catch (e) {
    for (const o of opened.reverse()) yield* releaseLock(ctx, o.entry);
    throw e;
  }
}

/** Closes the VM's files (releases this host's locks); returns the paths it released (none when not open here). */
export function* powerOffVm(ctx: HostCtx, vm: string): Gen<string[]> {
  const dir = yield* find(ctx, 0, vm);
  if (dir === undefined) throw new DatastoreError(DS_ERROR.NOT_FOUND, `no VM ${vm} on ${ctx.sb.label} (no directory ${vm}/)`, { vm });
  const released: string[] = [];
  const files = yield* listDir(ctx, dir);
  for (const f of vmFiles(vm)) {
    const e = files.find((x) => x.meta.name === f.name);
    if (e === undefined || !e.lock.holders.some((h) => h.owner === ctx.hostUuid && h.slotGeneration === ctx.slot?.generation)) continue; // not open here
    yield* releaseLock(ctx, e.index);
    released.push(`${vm}/${f.name}`);
  }
  return released;
}
