// A VM's files on a datastore and what power-on and power-off do with them (docs/vsphere-behaviour.md
// §7.5-§7.8, docs/datastores.md "VM disks on datastores"): a VM `web1` lives in directory `web1/` with
// `web1.vmx` (its configuration, a few text lines), and per disk a small text descriptor and the flat
// extent holding the disk's bytes: `web1.vmdk` + `web1-flat.vmdk` for the first disk, `web1_1.vmdk` +
// `web1_1-flat.vmdk` for the second, and so on. Power-on opens them all exclusively, `.vmx` first (so two
// hosts racing fail on the same first file), creating the directory and files on the first power-on, then
// grows a flat file whose disk got bigger (never shrinks one) and writes the text files' contents when
// they are new or their disk grew. A holder whose heartbeat is dead is broken by lock.ts (replay,
// generation + 1). If a later file fails, the files opened so far are released again. Power-off releases
// every file of the VM this host holds. Runs as generators under proc.ts. Leaves out reading a `.vmx` or
// descriptor back (they describe the VM; the topology, or the default of one one-block disk, is what
// power-on follows), swap/log files and disks on another datastore than the VM's directory.

import { DS_ERROR, DatastoreError } from './errors.js';
import { DS_FILE_BLOCK_BYTES, DS_MAX_NAME_BYTES, type EntryMeta } from './format.js';
import { type HostCtx, ioOrThrow } from './host.js';
import { createFile, growFile, listDir, readTable } from './files.js';
import { mapFileRange } from './extent-map.js';
import { releaseLock, takeLock } from './lock.js';
import type { Gen } from './proc.js';

/** Size of the disk of a VM power-on knows nothing about (not in the host's topology): one file block. */
export const VM_DISK_BYTES = DS_FILE_BLOCK_BYTES;
/** Most disks of one VM on a datastore (the topology's limit per VM). */
export const VM_MAX_DISKS = 60;
/** Descriptor sectors are 512 bytes whatever the LUN's block size; flat files are whole sectors. */
export const VMDK_SECTOR_BYTES = 512;

/** A disk of the VM, in order (disk 0 is the first). */
export interface VmDiskSpec {
  sizeBytes: number;
}

export const VM_DEFAULT_DISKS: readonly VmDiskSpec[] = [{ sizeBytes: VM_DISK_BYTES }];

export type VmFileRole = 'vmx' | 'descriptor' | 'flat';

export interface VmFile {
  name: string;
  role: VmFileRole;
  /** The disk a descriptor or flat file belongs to. */
  disk?: number;
  /** Size when created: the text's length, or the disk's size in whole sectors. */
  sizeBytes: number;
}

/** File names of disk `i`: `<vm>` for the first, `<vm>_<i>` after it. */
export function diskBaseName(vm: string, i: number): string {
  return i === 0 ? vm : `${vm}_${i}`;
}

export const flatName = (vm: string, i: number): string => `${diskBaseName(vm, i)}-flat.vmdk`;
export const descriptorName = (vm: string, i: number): string => `${diskBaseName(vm, i)}.vmdk`;

const sectors = (bytes: number): number => Math.ceil(bytes / VMDK_SECTOR_BYTES);

/** The `.vmx` text: display name and the disks' descriptor names (descriptive; nothing reads it back). */
export function vmxText(vm: string, disks: readonly VmDiskSpec[]): string {
  const lines = ['.encoding = "UTF-8"', 'config.version = "8"', `displayName = "${vm}"`, 'scsi0.present = "TRUE"', 'scsi0.virtualDev = "lsilogic"'];
  disks.forEach((_, i) => lines.push(`scsi0:${i}.present = "TRUE"`, `scsi0:${i}.fileName = "${descriptorName(vm, i)}"`));
  return `${lines.join('\n')}\n`;
}

/** The descriptor text of disk `i`: one extent line naming the flat file and its size in 512-byte sectors. */
export function descriptorText(vm: string, i: number, flatBytes: number): string {
  return [
    '# Disk DescriptorFile', 'version=1', 'encoding="UTF-8"', 'CID=fffffffe', 'parentCID=ffffffff', 'createType="vmfs"', '',
    '# Extent description', `RW ${sectors(flatBytes)} VMFS "${flatName(vm, i)}"`, '',
    '# The Disk Data Base', '#DDB', '', 'ddb.adapterType = "lsilogic"', '',
  ].join('\n');
}

/** The files power-on opens, in order: `.vmx`, then per disk its descriptor and flat file. */
export function vmFiles(vm: string, disks: readonly VmDiskSpec[] = VM_DEFAULT_DISKS): VmFile[] {
  const out: VmFile[] = [{ name: `${vm}.vmx`, role: 'vmx', sizeBytes: Buffer.byteLength(vmxText(vm, disks)) }];
  disks.forEach((d, i) => {
    const flatBytes = sectors(d.sizeBytes) * VMDK_SECTOR_BYTES;
    out.push({ name: descriptorName(vm, i), role: 'descriptor', disk: i, sizeBytes: Buffer.byteLength(descriptorText(vm, i, flatBytes)) });
    out.push({ name: flatName(vm, i), role: 'flat', disk: i, sizeBytes: flatBytes });
  });
  return out;
}

export interface OpenedFile {
  path: string;
  entry: number;
  created: boolean;
  role: VmFileRole;
  disk?: number;
  /** The file's size once power-on finished (a flat file is never shrunk to a smaller disk). */
  sizeBytes: number;
  /** A flat file made bigger because its disk grew. */
  grown?: boolean;
}

/** Longest VM name: its first disk file name (`<vm>-flat.vmdk`) must fit a file name. */
export const DS_MAX_VM_NAME_BYTES = DS_MAX_NAME_BYTES - Buffer.byteLength('-flat.vmdk');

/** Refuses a VM name (and a disk list) before anything is created: every file name must fit. */
export function checkVmName(vm: string, disks: readonly VmDiskSpec[] = VM_DEFAULT_DISKS): void {
  const n = Buffer.byteLength(vm, 'utf8');
  if (n < 1 || n > DS_MAX_VM_NAME_BYTES || vm.includes('/') || vm.includes('\0') || vm === '.' || vm === '..') {
    throw new DatastoreError(DS_ERROR.BAD_OPTION, `VM name "${vm}" must be 1..${DS_MAX_VM_NAME_BYTES} UTF-8 bytes without "/" or NUL`, { vm });
  }
  if (disks.length < 1 || disks.length > VM_MAX_DISKS) throw new DatastoreError(DS_ERROR.BAD_OPTION, `a VM has 1..${VM_MAX_DISKS} disks on a datastore, not ${disks.length}`, { vm });
  for (const d of disks) {
    if (!Number.isSafeInteger(d.sizeBytes) || d.sizeBytes < 1) throw new DatastoreError(DS_ERROR.BAD_OPTION, `disk size ${d.sizeBytes} of ${vm} must be a whole number of bytes >= 1`, { vm });
  }
  const longest = flatName(vm, disks.length - 1);
  if (Buffer.byteLength(longest, 'utf8') > DS_MAX_NAME_BYTES) {
    throw new DatastoreError(DS_ERROR.BAD_OPTION, `file name "${longest}" of VM ${vm} is longer than ${DS_MAX_NAME_BYTES} UTF-8 bytes: shorten the VM name`, { vm });
  }
}

export function* find(ctx: HostCtx, dir: number, name: string): Gen<number | undefined> {
  return (yield* listDir(ctx, dir)).find((e) => e.meta.name === name)?.index;
}

/** The entry of directory `vm` in the root, created (and closed again) if missing. */
function* vmDir(ctx: HostCtx, vm: string): Gen<number> {
  return yield* ensureDir(ctx, 0, vm);
}

/** The entry of directory `name` in directory `parent`, created (and closed again) if missing. */
export function* ensureDir(ctx: HostCtx, parent: number, name: string): Gen<number> {
  for (let attempt = 0; attempt < 2; attempt++) {
    const found = yield* find(ctx, parent, name);
    if (found !== undefined) return found;
    try {
      const index = yield* createFile(ctx, parent, name, 0, 'dir');
      yield* releaseLock(ctx, index); // a directory is not kept open
      return index;
    } catch (e) {
      if ((e as DatastoreError).code !== DS_ERROR.EXISTS) throw e; // another host created it first: look again
    }
  }
  throw new DatastoreError(DS_ERROR.CONTENDED, `directory ${name} could not be found or created`);
}

/**
 * Writes `text` as the contents of text file `entry` (held by this host): the file grows to the text's
 * length; a shorter text is padded with newlines to the file's size (files never shrink). The data goes
 * to the file's blocks in whole LUN blocks (the rest of the last block is zeros).
 */
export function* writeText(ctx: HostCtx, entry: number, meta: EntryMeta, text: string): Gen<EntryMeta> {
  const l = ctx.sb.layout;
  let bytes = Buffer.from(text, 'utf8');
  let m = meta;
  if (bytes.length > m.sizeBytes) m = yield* growFile(ctx, entry, bytes.length);
  else if (bytes.length < m.sizeBytes) bytes = Buffer.concat([bytes, Buffer.alloc(m.sizeBytes - bytes.length, 0x0a)]);
  const padded = Buffer.alloc(Math.ceil(bytes.length / l.blockSize) * l.blockSize);
  bytes.copy(padded);
  for (const r of mapFileRange(l, m, 0, padded.length, 'allocated')) {
    yield* ioOrThrow(ctx, { kind: 'write', lba: r.lba, data: padded.subarray(r.fileOffset, r.fileOffset + r.bytes) }, `write ${m.name}`);
  }
  return m;
}

/**
 * Opens the VM's files exclusively (creating them on first use), grows flat files to their disk's size
 * and writes the text files. `onFile` is told each file's path and entry as soon as it is known (so
 * events about an entry can name the file). Throws VFAB_DATASTORE_LOCKED "locked by <host>" when a live
 * host holds one, and when this host has the VM open already.
 */
export function* powerOnVm(ctx: HostCtx, vm: string, onFile: (path: string, entry?: number) => void = () => {}, disks: readonly VmDiskSpec[] = VM_DEFAULT_DISKS): Gen<OpenedFile[]> {
  checkVmName(vm, disks);
  const files = vmFiles(vm, disks);
  const dir = yield* vmDir(ctx, vm);
  onFile(vm, dir);
  const opened: OpenedFile[] = [];
  try {
    for (const f of files) {
      const path = `${vm}/${f.name}`;
      const file = { path, role: f.role, ...(f.disk === undefined ? {} : { disk: f.disk }), sizeBytes: f.sizeBytes };
      onFile(path);
      let entry = yield* find(ctx, dir, f.name);
      if (entry === undefined) {
        try {
          entry = yield* createFile(ctx, dir, f.name, f.sizeBytes); // created open (exclusive)
          onFile(path, entry);
          opened.push({ ...file, entry, created: true });
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
      opened.push({ ...file, entry, created: false });
    }
    // every file is open: grow flat files to their disk's size, then write the text files
    const table = yield* readTable(ctx);
    const meta = (o: OpenedFile): EntryMeta => table[o.entry]!.meta;
    const flatChanged = new Set<number>();
    for (const o of opened) {
      const want = files.find((f) => `${vm}/${f.name}` === o.path)!.sizeBytes;
      const have = meta(o).sizeBytes;
      if (o.role === 'flat' && have < want) {
        table[o.entry]!.meta = yield* growFile(ctx, o.entry, want);
        o.grown = true;
      }
      o.sizeBytes = meta(o).sizeBytes;
      if (o.role === 'flat' && (o.created || o.grown)) flatChanged.add(o.disk!);
    }
    for (const o of opened) {
      let text: string | undefined;
      if (o.role === 'vmx' && o.created) text = vmxText(vm, disks);
      if (o.role === 'descriptor' && (o.created || flatChanged.has(o.disk!))) {
        text = descriptorText(vm, o.disk!, opened.find((x) => x.role === 'flat' && x.disk === o.disk)!.sizeBytes);
      }
      if (text === undefined) continue;
      table[o.entry]!.meta = yield* writeText(ctx, o.entry, meta(o), text);
      o.sizeBytes = meta(o).sizeBytes;
    }
    return opened;
  } catch (e) {
    for (const o of opened.reverse()) yield* releaseLock(ctx, o.entry);
    throw e;
  }
}

/**
 * Closes the VM's files: releases every file in `<vm>/` this host holds (the `disks` files in power-on
 * order first, then any other). Returns the paths it released (none when the VM is not open here).
 */
export function* powerOffVm(ctx: HostCtx, vm: string, disks: readonly VmDiskSpec[] = VM_DEFAULT_DISKS): Gen<string[]> {
  const dir = yield* find(ctx, 0, vm);
  if (dir === undefined) throw new DatastoreError(DS_ERROR.NOT_FOUND, `no VM ${vm} on ${ctx.sb.label} (no directory ${vm}/)`, { vm });
  const order = vmFiles(vm, disks).map((f) => f.name);
  const rank = (name: string): number => (order.includes(name) ? order.indexOf(name) : order.length);
  const held = (yield* listDir(ctx, dir))
    .filter((e) => e.lock.holders.some((h) => h.owner === ctx.hostUuid && h.slotGeneration === ctx.slot?.generation))
    .sort((a, b) => rank(a.meta.name) - rank(b.meta.name) || a.index - b.index);
  const released: string[] = [];
  for (const e of held) {
    yield* releaseLock(ctx, e.index);
    released.push(`${vm}/${e.meta.name}`);
  }
  return released;
}
