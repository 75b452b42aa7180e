// The storage array: a LUN table (create, grow, delete, list) and a SCSI target over one BlockStore,
// in memory (no dataDir) or in LevelDB (dataDir, with a read cache in front unless readCacheBytes is 0:
// blockstore-cached.ts). This is the API shared with the block transport
// (lib/storage/protocol.ts) and the stored daemon. Covers LUN records and NAA IDs, reloading LUNs and
// persistent reservations at open, per-LUN stats, and reconciling the stored LUNs with a configured list
// (ensureLuns: create what is missing, grow, refuse to shrink). Leaves out the transports, snapshots,
// shrinking LUNs and LUN masking. Command semantics: lib/storage/target.ts; docs/storage-model.md.

import { createHash } from 'node:crypto';
import type { Clock } from '../clock.js';
import { VfabError } from '../errors.js';
import type { ScsiCommand, ScsiResult, ScsiTarget } from './scsi.js';
import { type BlockSizeBytes, type BlockStore, STORAGE_ERROR } from './blockstore.js';
import { MemoryBlockStore } from './blockstore-memory.js';
import { CachedBlockStore } from './blockstore-cached.js';
import { DEFAULT_READ_CACHE_BYTES, MAX_READ_CACHE_BYTES, READ_CACHE_CHUNK_BYTES, emptyReadCacheStats, type ReadCacheStats } from './block-cache.js';
import { LevelBlockStore } from './blockstore-level.js';
import { LunReservations } from './reservations.js';
import { formatSize } from './size.js';
import { BlockTarget, type LunStats, type SubmitDone, type SubmitTarget, emptyLunStats, prMetaKey } from './target.js';

/** LUNs per array; LUN numbers are 0..MAX_LUNS-1 (peripheral device addressing in REPORT LUNS). */
export const MAX_LUNS = 256;
/** Largest LUN: 16 TiB. */
export const MAX_LUN_BYTES = 16 * 1024 ** 4;
/** LUN names: 1..MAX_LUN_NAME_CHARS of [A-Za-z0-9._-]. */
export const MAX_LUN_NAME_CHARS = 64;
export const DEFAULT_BLOCK_SIZE_BYTES: BlockSizeBytes = 512;
/** IEEE company ID placed in NAA-6 designators. Not a registered OUI: vfab is an emulator. */
export const VFAB_NAA_COMPANY_ID = 0x766661; // "vfa"

export interface LunInfo {
  /** LUN number on the target. */
  lun: number;
  name: string;
  /** Stable NAA-6 ID: "naa.6" followed by 31 hex digits (16 bytes). */
  id: string;
  sizeBytes: number;
  blockSizeBytes: BlockSizeBytes;
  blocks: number;
  createdAtMs: number;
  /**
   * ATS (COMPARE AND WRITE) on this LUN; absent = on. Off: the LUN answers COMPARE AND WRITE as an
   * unknown opcode and VPD 0xb0 reports a MAXIMUM COMPARE AND WRITE LENGTH of 0 (an array without VAAI ATS).
   */
  ats?: boolean;
  /**
   * Logical block provisioning; absent = thin. Thin (SBC-3 §4.7.3): LBPME, UNMAP and WRITE SAME with UNMAP,
   * unwritten blocks deallocated. Thick ('thick', fully provisioned): LBPME 0, UNMAP refused, every block
   * mapped (GET LBA STATUS). The stored data is the same either way (unwritten blocks read as zeros).
   */
  provisioning?: LunProvisioning;
}

/** LUN provisioning (topology arrays[].luns[].provisioning). */
export type LunProvisioning = 'thin' | 'thick';
export const LUN_PROVISIONING: readonly LunProvisioning[] = ['thin', 'thick'];

export interface LunStatsEntry extends LunStats {
  lun: number;
  name: string;
}

export interface ArrayStats {
  name: string;
  luns: LunStatsEntry[];
  totals: LunStats;
  /** The read cache's counters (capacityBytes 0 when the array has none). */
  readCache: ReadCacheStats;
}

export interface StorageArray extends ScsiTarget, SubmitTarget {
  readonly name: string;
  /** True when the array is backed by LevelDB (acknowledged writes survive kill -9). */
  readonly durable: boolean;
  /** `lun`: the LUN number to use (topology lunId); default the lowest free one. */
  createLun(opts: CreateLunOptions): Promise<LunInfo>;
  listLuns(): LunInfo[];
  getLun(nameOrNumber: string | number): LunInfo | undefined;
  /** Grow only; the new blocks read as zeros. */
  growLun(nameOrNumber: string | number, newSizeBytes: number): Promise<LunInfo>;
  deleteLun(nameOrNumber: string | number): Promise<void>;
  stats(): ArrayStats;
  /** The transport lost an initiator's connection: its SPC-2 reservations are released. */
  nexusLoss(initiator: string): void;
  /** LOGICAL UNIT RESET task management function: releases the LUN's SPC-2 reservation. */
  logicalUnitReset(nameOrNumber: string | number): void;
  /** Turns ATS (COMPARE AND WRITE) of a LUN on or off; kept in the LUN record. Commands already running finish. */
  setLunAts(nameOrNumber: string | number, enabled: boolean): Promise<LunInfo>;
  /** Makes a LUN thin or thick; kept in the LUN record. The data stays; only what the LUN reports and allows changes. */
  setLunProvisioning(nameOrNumber: string | number, provisioning: LunProvisioning): Promise<LunInfo>;
  /** Finishes the store's background compaction now (no-op in memory); used before measurements. */
  compact(): Promise<void>;
  close(): Promise<void>;
}

export interface CreateLunOptions {
  name: string;
  sizeBytes: number;
  blockSizeBytes?: BlockSizeBytes;
  lun?: number;
  /** Default thin. */
  provisioning?: LunProvisioning;
}

export interface OpenArrayOptions {
  /** LevelDB directory; undefined = in-memory. */
  dataDir?: string;
  /** Array name (NAA ID input, stats); default "vfab-array". */
  name?: string;
  /** Source of LunInfo.createdAtMs; default wall-clock milliseconds. */
  clock?: Clock;
  /** LevelDB only: group commit (default true) or one fsync per write. */
  groupCommit?: boolean;
  /**
   * LevelDB only: bytes of read cache in front of the store (blockstore-cached.ts); default
   * DEFAULT_READ_CACHE_BYTES, 0 = no cache. The in-memory store has none (it is memory already).
   */
  readCacheBytes?: number;
  /**
   * An in-memory store to open instead of a new one (without dataDir): the simulation keeps an array's
   * MemoryBlockStore across a kill and restart, as a LevelDB array keeps its directory.
   */
  store?: MemoryBlockStore;
}

/**
 * A configured LUN (topology arrays[].luns) is smaller than the LUN of that name in the array's store.
 * A topology problem: the file asks for something the data does not allow (exit 2 in the CLI).
 */
export const LUN_SHRINK_REFUSED = 'VFAB_TOPOLOGY_LUN_SHRINK';
/** A configured LUN that the store lacks asks for a LUN number another stored LUN holds. */
export const LUN_NUMBER_TAKEN = 'VFAB_TOPOLOGY_LUN_NUMBER_TAKEN';

/** A LUN the configuration wants on the array. */
export interface LunSpec {
  name: string;
  sizeBytes: number;
  blockSizeBytes?: BlockSizeBytes;
  /** LUN number; default the lowest free one. */
  lun?: number;
  /** ATS on the LUN (topology arrays[].luns[].ats); default on. Applied to a stored LUN too. */
  ats?: boolean;
  /** Thin or thick (topology arrays[].luns[].provisioning); default thin. Applied to a stored LUN too. */
  provisioning?: LunProvisioning;
}

export interface EnsureLunsResult {
  created: LunInfo[];
  grown: Array<{ name: string; fromBytes: number; toBytes: number }>;
  /** Configured differences that are kept as stored (LUN number, block size): one line each. */
  kept: string[];
}

/**
 * Makes the configured LUNs exist: a missing one is created, a larger configured size grows the stored
 * LUN, and a smaller one is refused (LUN_SHRINK_REFUSED) before anything changes, as is a missing LUN
 * whose number another stored LUN holds (LUN_NUMBER_TAKEN). LUNs in the store that
 * the list does not name (made with `vfab lun create`) are left alone; the number and block size of an
 * existing LUN never change.
 */
export async function ensureLuns(array: StorageArray, specs: LunSpec[]): Promise<EnsureLunsResult> {
  for (const spec of specs) {
    const have = array.getLun(spec.name);
    if (have !== undefined && spec.sizeBytes < have.sizeBytes) {
      throw storageError(
        LUN_SHRINK_REFUSED,
        `array ${array.name}: LUN ${spec.name} holds ${formatSize(have.sizeBytes)} (${have.sizeBytes} bytes) but the topology asks for ` +
          `${formatSize(spec.sizeBytes)} (${spec.sizeBytes} bytes); LUNs only grow. Give it at least ${formatSize(have.sizeBytes)}, ` +
          `or delete the array's data first: vfab array wipe ${array.name} --yes`,
        { array: array.name, lun: spec.name, storedBytes: have.sizeBytes, configuredBytes: spec.sizeBytes },
      );
    }
    const holder = have === undefined && spec.lun !== undefined ? array.getLun(spec.lun) : undefined;
    if (holder !== undefined) {
      throw storageError(
        LUN_NUMBER_TAKEN,
        `array ${array.name}: the topology's LUN ${spec.name} is to be LUN ${spec.lun}, but the store has LUN ${holder.name} there; ` +
          `give ${spec.name} another id, delete ${holder.name} (vfab lun delete ${holder.name}), or delete the array's data: vfab array wipe ${array.name} --yes`,
        { array: array.name, lun: spec.name, number: spec.lun, heldBy: holder.name },
      );
    }
  }
  const result: EnsureLunsResult = { created: [], grown: [], kept: [] };
  // LUNs with a fixed number first, so a numberless one never takes a number another LUN asks for.
  const ordered = [...specs.filter((s) => s.lun !== undefined), ...specs.filter((s) => s.lun === undefined)];
  for (const spec of ordered) {
    const have = array.getLun(spec.name);
    const ats = spec.ats ?? true;
    const provisioning = spec.provisioning ?? 'thin';
    if (have === undefined) {
      const created = await array.createLun(spec);
      result.created.push(ats ? created : await array.setLunAts(created.name, false));
      continue;
    }
    if ((have.ats ?? true) !== ats) await array.setLunAts(have.name, ats);
    if ((have.provisioning ?? 'thin') !== provisioning) await array.setLunProvisioning(have.name, provisioning);
    if (spec.lun !== undefined && have.lun !== spec.lun) result.kept.push(`LUN ${spec.name} is LUN ${have.lun} in the store, not ${spec.lun} as configured (LUNs are not renumbered)`);
    if (spec.blockSizeBytes !== undefined && have.blockSizeBytes !== spec.blockSizeBytes) result.kept.push(`LUN ${spec.name} keeps its ${have.blockSizeBytes}-byte blocks (configured ${spec.blockSizeBytes})`);
    if (spec.sizeBytes > have.sizeBytes) {
      await array.growLun(spec.name, spec.sizeBytes);
      result.grown.push({ name: spec.name, fromBytes: have.sizeBytes, toBytes: spec.sizeBytes });
    }
  }
  return result;
}

const LUN_META_PREFIX = 'lun/';
const ARRAY_META_KEY = 'array';
const lunMetaKey = (lun: number): string => LUN_META_PREFIX + String(lun).padStart(5, '0');
const NAME_RE = /^[A-Za-z0-9._-]+$/;
const wallClock: Clock = { nowMs: () => Date.now() };

function storageError(code: string, message: string, details?: Record<string, unknown>): VfabError {
  return new VfabError(code, message, details);
}

/** NAA-6 (IEEE Registered Extended) ID: 4-bit NAA, 24-bit company ID, 100 bits from a hash of the inputs. */
export function makeNaaId(parts: Array<string | number>): string {
  const digest = createHash('sha256').update(parts.join('\u0000')).digest('hex');
  return 'naa.6' + VFAB_NAA_COMPANY_ID.toString(16).padStart(6, '0') + digest.slice(0, 25);
}

function validSize(sizeBytes: unknown, blockSizeBytes: number): sizeBytes is number {
  return (
    typeof sizeBytes === 'number' &&
    Number.isSafeInteger(sizeBytes) &&
    sizeBytes > 0 &&
    sizeBytes <= MAX_LUN_BYTES &&
    sizeBytes % blockSizeBytes === 0
  );
}

function parseLunRecord(bytes: Uint8Array): LunInfo | undefined {
  try {
    const r = JSON.parse(Buffer.from(bytes).toString('utf8')) as Partial<LunInfo>;
    if (
      typeof r.lun === 'number' &&
      typeof r.name === 'string' &&
      typeof r.id === 'string' &&
      (r.blockSizeBytes === 512 || r.blockSizeBytes === 4096) &&
      validSize(r.sizeBytes, r.blockSizeBytes) &&
      typeof r.createdAtMs === 'number' &&
      (r.ats === undefined || typeof r.ats === 'boolean') &&
      (r.provisioning === undefined || LUN_PROVISIONING.includes(r.provisioning))
    ) {
      const info: LunInfo = { lun: r.lun, name: r.name, id: r.id, sizeBytes: r.sizeBytes, blockSizeBytes: r.blockSizeBytes, blocks: r.sizeBytes / r.blockSizeBytes, createdAtMs: r.createdAtMs };
      if (r.ats === false) info.ats = false;
      if (r.provisioning === 'thick') info.provisioning = 'thick';
      return info;
    }
  } catch {
    // fall through
  }
  return undefined;
}

class Array_ implements StorageArray {
  private readonly byNumber = new Map<number, LunInfo>();
  private readonly byName = new Map<string, LunInfo>();
  private serial = 0;
  private closed = false;

  constructor(
    readonly name: string,
    private readonly store: BlockStore,
    private readonly target: BlockTarget,
    private readonly clock: Clock,
  ) {}

  get durable(): boolean {
    return this.store.durable;
  }

  async load(): Promise<void> {
    const meta = await this.store.getMeta(ARRAY_META_KEY);
    if (meta !== undefined) {
      try {
        const j = JSON.parse(Buffer.from(meta).toString('utf8')) as { serial?: unknown };
        if (typeof j.serial === 'number') this.serial = j.serial;
      } catch {
        throw storageError(STORAGE_ERROR.CORRUPT_META, 'bad array record');
      }
    }
    for (const [key, value] of await this.store.listMeta(LUN_META_PREFIX)) {
      const info = parseLunRecord(value);
      if (info === undefined) throw storageError(STORAGE_ERROR.CORRUPT_META, `bad LUN record ${key}`);
      let pr = new LunReservations();
      const prBytes = await this.store.getMeta(prMetaKey(info.lun));
      if (prBytes !== undefined) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(Buffer.from(prBytes).toString('utf8'));
        } catch {
          parsed = undefined;
        }
        const r = LunReservations.fromJSON(parsed);
        if (!r.ok) throw r.error;
        pr = r.value;
      }
      this.byNumber.set(info.lun, info);
      this.byName.set(info.name, info);
      this.target.addLun(info, pr);
    }
  }

  execute(cmd: ScsiCommand): Promise<ScsiResult> {
    return this.target.execute(cmd);
  }

  submit<C>(cmd: ScsiCommand, ctx: C, done: SubmitDone<C>): void {
    this.target.submit(cmd, ctx, done);
  }

  private checkOpen(): void {
    if (this.closed) throw storageError(STORAGE_ERROR.CLOSED, `array ${this.name} is closed`);
  }

  async createLun(opts: CreateLunOptions): Promise<LunInfo> {
    this.checkOpen();
    const name = opts?.name;
    if (typeof name !== 'string' || name.length === 0 || name.length > MAX_LUN_NAME_CHARS || !NAME_RE.test(name)) {
      throw storageError(STORAGE_ERROR.BAD_NAME, `bad LUN name ${JSON.stringify(name)}: 1-${MAX_LUN_NAME_CHARS} of [A-Za-z0-9._-]`);
    }
    const bs = opts.blockSizeBytes ?? DEFAULT_BLOCK_SIZE_BYTES;
    if (bs !== 512 && bs !== 4096) throw storageError(STORAGE_ERROR.BAD_SIZE, `block size must be 512 or 4096, got ${String(bs)}`);
    if (!validSize(opts.sizeBytes, bs)) {
      throw storageError(STORAGE_ERROR.BAD_SIZE, `LUN size must be a positive multiple of ${bs} up to ${MAX_LUN_BYTES} bytes`, { sizeBytes: opts.sizeBytes });
    }
    if (this.byName.has(name)) throw storageError(STORAGE_ERROR.LUN_EXISTS, `LUN ${name} exists`);
    if (opts.provisioning !== undefined && !LUN_PROVISIONING.includes(opts.provisioning)) {
      throw storageError(STORAGE_ERROR.BAD_PROVISIONING, `LUN provisioning must be thin or thick, got ${JSON.stringify(opts.provisioning)}`);
    }
    let lun = 0;
    if (opts.lun !== undefined) {
      if (!Number.isInteger(opts.lun) || opts.lun < 0 || opts.lun >= MAX_LUNS) {
        throw storageError(STORAGE_ERROR.BAD_LUN_NUMBER, `LUN number ${String(opts.lun)} outside 0..${MAX_LUNS - 1}`);
      }
      const holder = this.byNumber.get(opts.lun);
      if (holder !== undefined) throw storageError(STORAGE_ERROR.LUN_NUMBER_IN_USE, `LUN number ${opts.lun} is taken by ${holder.name}`, { lun: opts.lun, name: holder.name });
      lun = opts.lun;
    } else {
      while (this.byNumber.has(lun)) lun++;
    }
    if (lun >= MAX_LUNS) throw storageError(STORAGE_ERROR.TOO_MANY_LUNS, `at most ${MAX_LUNS} LUNs`);
    const createdAtMs = this.clock.nowMs();
    const serial = ++this.serial;
    const info: LunInfo = {
      lun,
      name,
      id: makeNaaId([this.name, name, lun, createdAtMs, serial]),
      sizeBytes: opts.sizeBytes,
      blockSizeBytes: bs,
      blocks: opts.sizeBytes / bs,
      createdAtMs,
      ...(opts.provisioning === 'thick' ? { provisioning: 'thick' as const } : {}),
    };
    // Claim name and number before the first await so concurrent createLun calls cannot collide.
    this.byNumber.set(lun, info);
    this.byName.set(name, info);
    try {
      await this.store.dropLun(lun); // leftovers of a half-deleted LUN with this number
      await this.store.putMeta(ARRAY_META_KEY, Buffer.from(JSON.stringify({ serial: this.serial })));
      await this.store.putMeta(lunMetaKey(lun), Buffer.from(JSON.stringify(info)));
      await this.store.deleteMeta(prMetaKey(lun));
    } catch (e) {
      this.byNumber.delete(lun);
      this.byName.delete(name);
      throw e instanceof VfabError ? e : storageError(STORAGE_ERROR.IO, `createLun ${name}: ${String(e)}`);
    }
    this.target.addLun(info);
    return { ...info };
  }

  listLuns(): LunInfo[] {
    return [...this.byNumber.values()].sort((a, b) => a.lun - b.lun).map((i) => ({ ...i }));
  }

  private find(nameOrNumber: string | number): LunInfo | undefined {
    return typeof nameOrNumber === 'number' ? this.byNumber.get(nameOrNumber) : this.byName.get(nameOrNumber);
  }

  getLun(nameOrNumber: string | number): LunInfo | undefined {
    const i = this.find(nameOrNumber);
    return i === undefined ? undefined : { ...i };
  }

  async growLun(nameOrNumber: string | number, newSizeBytes: number): Promise<LunInfo> {
    this.checkOpen();
    const cur = this.find(nameOrNumber);
    if (cur === undefined) throw storageError(STORAGE_ERROR.NO_SUCH_LUN, `no LUN ${String(nameOrNumber)}`);
    if (!validSize(newSizeBytes, cur.blockSizeBytes)) {
      throw storageError(STORAGE_ERROR.BAD_SIZE, `LUN size must be a positive multiple of ${cur.blockSizeBytes} up to ${MAX_LUN_BYTES} bytes`, { sizeBytes: newSizeBytes });
    }
    if (newSizeBytes < cur.sizeBytes) {
      throw storageError(STORAGE_ERROR.SHRINK, `LUN ${cur.name} is ${cur.sizeBytes} bytes; LUNs only grow`, { sizeBytes: newSizeBytes });
    }
    const info: LunInfo = { ...cur, sizeBytes: newSizeBytes, blocks: newSizeBytes / cur.blockSizeBytes };
    await this.store.putMeta(lunMetaKey(info.lun), Buffer.from(JSON.stringify(info)));
    this.byNumber.set(info.lun, info);
    this.byName.set(info.name, info);
    this.target.updateLun(info);
    return { ...info };
  }

  setLunAts(nameOrNumber: string | number, enabled: boolean): Promise<LunInfo> {
    return this.updateRecord(nameOrNumber, (info) => {
      if (enabled) delete info.ats;
      else info.ats = false;
    });
  }

  setLunProvisioning(nameOrNumber: string | number, provisioning: LunProvisioning): Promise<LunInfo> {
    if (!LUN_PROVISIONING.includes(provisioning)) {
      return Promise.reject(storageError(STORAGE_ERROR.BAD_PROVISIONING, `LUN provisioning must be thin or thick, got ${JSON.stringify(provisioning)}`));
    }
    return this.updateRecord(nameOrNumber, (info) => {
      if (provisioning === 'thick') info.provisioning = 'thick';
      else delete info.provisioning;
    });
  }

  /** Changes a LUN's record (a copy), stores it, and hands it to the target. */
  private async updateRecord(nameOrNumber: string | number, change: (info: LunInfo) => void): Promise<LunInfo> {
    this.checkOpen();
    const cur = this.find(nameOrNumber);
    if (cur === undefined) throw storageError(STORAGE_ERROR.NO_SUCH_LUN, `no LUN ${String(nameOrNumber)}`);
    const info: LunInfo = { ...cur };
    change(info);
    await this.store.putMeta(lunMetaKey(info.lun), Buffer.from(JSON.stringify(info)));
    this.byNumber.set(info.lun, info);
    this.byName.set(info.name, info);
    this.target.updateLun(info);
    return { ...info };
  }

  async deleteLun(nameOrNumber: string | number): Promise<void> {
    this.checkOpen();
    const info = this.find(nameOrNumber);
    if (info === undefined) throw storageError(STORAGE_ERROR.NO_SUCH_LUN, `no LUN ${String(nameOrNumber)}`);
    this.target.removeLun(info.lun); // from here on commands see LOGICAL UNIT NOT SUPPORTED
    this.byNumber.delete(info.lun);
    this.byName.delete(info.name);
    await this.store.deleteMeta(lunMetaKey(info.lun));
    await this.store.deleteMeta(prMetaKey(info.lun));
    await this.store.dropLun(info.lun);
  }

  stats(): ArrayStats {
    const totals = emptyLunStats();
    const luns: LunStatsEntry[] = [];
    for (const info of this.listLuns()) {
      const s = this.target.lunStats(info.lun) ?? emptyLunStats();
      luns.push({ lun: info.lun, name: info.name, ...s });
      for (const k of Object.keys(totals) as Array<keyof LunStats>) totals[k] += s[k];
    }
    const readCache = this.store instanceof CachedBlockStore ? this.store.cacheStats() : emptyReadCacheStats();
    return { name: this.name, luns, totals, readCache };
  }

  nexusLoss(initiator: string): void {
    this.target.nexusLoss(initiator);
  }

  logicalUnitReset(nameOrNumber: string | number): void {
    const info = this.find(nameOrNumber);
    if (info !== undefined) this.target.logicalUnitReset(info.lun);
  }

  async compact(): Promise<void> {
    this.checkOpen();
    await this.store.compact?.();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.store.close();
  }
}

/** Open (or create) an array. With dataDir the LUN table and persistent reservations are reloaded. */
export async function openArray(opts: OpenArrayOptions = {}): Promise<StorageArray> {
  const cacheBytes = opts.readCacheBytes ?? DEFAULT_READ_CACHE_BYTES;
  if (!Number.isInteger(cacheBytes) || cacheBytes < 0 || cacheBytes > MAX_READ_CACHE_BYTES || (cacheBytes > 0 && cacheBytes < READ_CACHE_CHUNK_BYTES)) {
    throw storageError(STORAGE_ERROR.BAD_CACHE_SIZE, `read cache size must be 0 or ${READ_CACHE_CHUNK_BYTES}..${MAX_READ_CACHE_BYTES} bytes, got ${cacheBytes}`);
  }
  let store: BlockStore;
  if (opts.dataDir === undefined) store = opts.store ?? new MemoryBlockStore();
  else {
    const level = await LevelBlockStore.open(opts.dataDir, { groupCommit: opts.groupCommit ?? true });
    store = cacheBytes > 0 ? new CachedBlockStore(level, cacheBytes) : level;
  }
  const target = new BlockTarget(store);
  const array = new Array_(opts.name ?? 'vfab-array', store, target, opts.clock ?? wallClock);
  try {
    await array.load();
  } catch (e) {
    await store.close();
    throw e;
  }
  return array;
}
