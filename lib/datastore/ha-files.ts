// The vSphere-HA files of a host on a heartbeat datastore (docs/ha.md "In a fabric";
// docs/vsphere-behaviour.md §7.12): `.vSphere-HA/<cluster>/host-<name>-hb`, which the host keeps open
// exclusively so that the file's lock names the host's VMFS heartbeat slot, and
// `.vSphere-HA/<cluster>/host-<name>-poweron`, a small text file with the host's running VMs and its
// isolation flag. Another host reads both with one READ of the file table, one of the holder's
// heartbeat slot and the poweron file's few data blocks: the "pulse" the HA agent compares is the slot's
// pulse counter while the slot still carries the lock holder's generation. Runs as generators under
// proc.ts. Leaves out the decisions (lib/ha) and the daemon's retries (daemons/ha/).

import { DS_ERROR, DatastoreError } from './errors.js';
import { type FileEntry, parseSlot, slotIndexAt } from './format.js';
import { type HostCtx, ioOrThrow } from './host.js';
import { createFile, readTable } from './files.js';
import { mapFileRange } from './extent-map.js';
import { takeLock } from './lock.js';
import { splitPath } from './open.js';
import { ensureDir, find, writeText } from './vm.js';
import type { Gen } from './proc.js';

/** Largest poweron file read or written (bytes): a record of a few hundred VM names. */
export const HA_POWERON_MAX_BYTES = 64 * 1024;

/** Opens `path` exclusively on this host, creating its directories and the file (empty) when missing. */
export function* holdHaFile(ctx: HostCtx, path: string): Gen<number> {
  const parts = splitPath(path);
  let dir = 0;
  for (const d of parts.slice(0, -1)) dir = yield* ensureDir(ctx, dir, d);
  const name = parts[parts.length - 1]!;
  let entry = yield* find(ctx, dir, name);
  if (entry === undefined) {
    try {
      return yield* createFile(ctx, dir, name, 0); // created open (exclusive)
    } catch (e) {
      if ((e as DatastoreError).code !== DS_ERROR.EXISTS) throw e;
      entry = yield* find(ctx, dir, name);
      if (entry === undefined) throw e;
    }
  }
  yield* takeLock(ctx, entry, 'exclusive');
  return entry;
}

/** Writes `text` into file `entry` (held by this host) from byte 0. */
export function* writeHaText(ctx: HostCtx, entry: number, text: string): Gen<void> {
  if (Buffer.byteLength(text, 'utf8') > HA_POWERON_MAX_BYTES) throw new DatastoreError(DS_ERROR.BAD_OPTION, `HA record of ${Buffer.byteLength(text, 'utf8')} bytes is over ${HA_POWERON_MAX_BYTES}`);
  const table = yield* readTable(ctx);
  const e = table[entry];
  if (e === undefined) throw new DatastoreError(DS_ERROR.NOT_FOUND, `no file entry ${entry} on ${ctx.sb.label}`);
  yield* writeText(ctx, entry, e.meta, text);
}

export interface HaHeartbeatRead {
  /** The pulse of the hb file's holder's slot; undefined when nobody live holds the file. */
  pulse: number | undefined;
  /** The poweron file's text (trailing padding removed), if it exists. */
  poweron: string | undefined;
}

function lookup(table: readonly FileEntry[], path: string): FileEntry | undefined {
  let dir = 0;
  let found: FileEntry | undefined;
  for (const name of splitPath(path)) {
    found = table.find((x) => x.index !== 0 && x.meta.type !== 'unused' && x.meta.parent === dir && x.meta.name === name);
    if (found === undefined) return undefined;
    dir = found.index;
  }
  return found;
}

/** Reads another host's HA files: the hb file's holder's heartbeat pulse and the poweron text. */
export function* readHaHeartbeat(ctx: HostCtx, hbPath: string, poweronPath: string): Gen<HaHeartbeatRead> {
  const l = ctx.sb.layout;
  const table = yield* readTable(ctx);
  let pulse: number | undefined;
  const holder = lookup(table, hbPath)?.lock.holders[0];
  if (holder !== undefined) {
    const index = slotIndexAt(l, holder.slotLba);
    if (index >= 0) {
      const raw = yield* ioOrThrow(ctx, { kind: 'read', lba: holder.slotLba, blocks: 1 }, `read heartbeat slot ${index}`);
      const s = parseSlot(raw, index, holder.slotLba * l.blockSize);
      // a slot freed or reused since (generation moved on) says nothing about the old holder
      if (s.ok && s.value.state === 'in-use' && s.value.owner === holder.owner && s.value.generation === holder.slotGeneration) pulse = s.value.pulse;
    }
  }
  let poweron: string | undefined;
  const p = lookup(table, poweronPath);
  if (p !== undefined && p.meta.sizeBytes > 0 && p.meta.sizeBytes <= HA_POWERON_MAX_BYTES) {
    const parts: Buffer[] = [];
    for (const r of mapFileRange(l, p.meta, 0, p.meta.sizeBytes)) {
      const skip = r.lunOffsetBytes - r.lba * l.blockSize;
      const raw = yield* ioOrThrow(ctx, { kind: 'read', lba: r.lba, blocks: Math.ceil((skip + r.bytes) / l.blockSize) }, `read ${p.meta.name}`);
      parts.push(Buffer.from(raw).subarray(skip, skip + r.bytes));
    }
    poweron = Buffer.concat(parts).toString('utf8').replace(/[\n\0]+$/, '');
  }
  return { pulse, poweron };
}
