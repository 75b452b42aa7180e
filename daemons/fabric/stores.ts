// Where each storage array keeps its data, and deleting it on purpose. An array's LevelDB store lives
// outside the per-run directory (`vfab up` clears that one): `<state dir>/arrays/<name>/` by default, or
// the topology's `arrays[].dataDir` (relative to the topology file's folder). So LUNs and blocks survive
// `vfab down` / `vfab up` and a reboot. `vfab up` records where each array's store is in
// `<state dir>/stores.json`, so `vfab array wipe NAME` finds a store in a custom folder after the fabric
// is down. Deleting (wipeStore) removes only LevelDB's own files, after opening the store once: that
// lists its LUNs for the report and fails if a running array holds the store's lock. Leaves out
// backups and snapshots. Docs: docs/storage-model.md ("Where the data lives").

import fs from 'node:fs';
import path from 'node:path';
import { VfabError } from '../../lib/errors.js';
import { openArray, type StorageArray } from '../../lib/storage/array.js';
import type { StorageArray as TopologyArray } from '../../lib/topology/model.js';

/** Folder under the state dir holding the arrays' stores by default. */
export const ARRAYS_DIR = 'arrays';
/** File under the state dir recording where each array's store is (written by `vfab up`). */
export const STORES_FILE = 'stores.json';
/** Entries kept in STORES_FILE; the least recently used go first. */
export const MAX_KNOWN_STORES = 256;

export const STORE_ERROR = {
  /** The store is open in a running array (its fabric is up, or another process holds its lock). */
  IN_USE: 'VFAB_ARRAY_IN_USE',
  /** The store's folder could not be read or deleted. */
  IO: 'VFAB_ARRAY_STORE_IO',
} as const;

/** LevelDB's own files: the only ones a wipe deletes. */
const LEVELDB_FILE_RE = /^(CURRENT|LOCK|LOG|LOG\.old|MANIFEST-\d+|\d+\.(?:log|ldb|sst|dbtmp))$/;

/** The absolute folder of an array's store for a topology loaded from `topologyFile`. */
export function arrayDataDir(array: Pick<TopologyArray, 'name' | 'dataDir'>, topologyFile: string, stateDir: string): string {
  if (array.dataDir !== undefined) return path.resolve(path.dirname(path.resolve(topologyFile)), array.dataDir);
  return path.resolve(stateDir, ARRAYS_DIR, array.name);
}

export interface KnownStore {
  array: string;
  dataDir: string;
  fabric: string;
  topologyFile: string;
  /** When `vfab up` last started the array on this store (ISO time). */
  usedAt: string;
}

export function readKnownStores(stateDir: string): KnownStore[] {
  try {
    const j = JSON.parse(fs.readFileSync(path.join(stateDir, STORES_FILE), 'utf8')) as { stores?: unknown };
    if (!Array.isArray(j.stores)) return [];
    return j.stores.filter((s): s is KnownStore => typeof s?.array === 'string' && typeof s?.dataDir === 'string');
  } catch {
    return [];
  }
}

function writeKnownStores(stateDir: string, stores: KnownStore[]): void {
  fs.mkdirSync(stateDir, { recursive: true });
  const kept = [...stores].sort((a, b) => b.usedAt.localeCompare(a.usedAt)).slice(0, MAX_KNOWN_STORES);
  const file = path.join(stateDir, STORES_FILE);
  fs.writeFileSync(file + '.tmp', JSON.stringify({ stores: kept }, null, 2));
  fs.renameSync(file + '.tmp', file);
}

/** Records the stores a fabric uses (the newest entry for an array name wins). */
export function rememberStores(stateDir: string, stores: KnownStore[]): void {
  const names = new Set(stores.map((s) => s.array));
  writeKnownStores(stateDir, [...readKnownStores(stateDir).filter((s) => !names.has(s.array)), ...stores]);
}

function forgetStore(stateDir: string, array: string): void {
  const all = readKnownStores(stateDir);
  if (all.some((s) => s.array === array)) writeKnownStores(stateDir, all.filter((s) => s.array !== array));
}

/** Where array `name`'s store is: the folder `vfab up` last used for it here, else the default folder. */
export function storeLocation(stateDir: string, name: string): { dataDir: string; known: KnownStore | undefined } {
  const known = readKnownStores(stateDir).find((s) => s.array === name);
  return { dataDir: known?.dataDir ?? path.resolve(stateDir, ARRAYS_DIR, name), known };
}

export interface StoreSummary {
  array: string;
  dataDir: string;
  /** The folder holds a LevelDB store. */
  exists: boolean;
  /** LevelDB files and their bytes (what a wipe deletes). */
  files: number;
  bytes: number;
  luns: Array<{ lun: number; name: string; sizeBytes: number }>;
}

/** The array's NAS shares live in a second LevelDB in this subfolder (daemons/storage/nas-server.ts NAS_STORE_DIR). */
const NAS_SUBDIR = 'nas';

/** LevelDB's files of the store: the LUN database at the top, the NAS database in `nas/` (as `nas/NAME`). */
function storeFiles(dataDir: string): Array<{ name: string; bytes: number }> {
  const levelFiles = (dir: string, prefix: string) => {
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new VfabError(STORE_ERROR.IO, `cannot read ${dir}: ${(e as Error).message}`);
    }
    return names.filter((n) => LEVELDB_FILE_RE.test(n)).map((name) => ({ name: prefix + name, bytes: fs.statSync(path.join(dir, name)).size }));
  };
  return [...levelFiles(dataDir, ''), ...levelFiles(path.join(dataDir, NAS_SUBDIR), `${NAS_SUBDIR}/`)];
}

/**
 * What is in array `name`'s store: opens it once (no read cache) to list its LUNs; refuses if it is in
 * use (LevelDB's lock). Callers check the fabric's state first: a refused open still rotates LevelDB's
 * info log (LOG -> LOG.old) of the running store, nothing else.
 */
export async function describeStore(name: string, dataDir: string): Promise<StoreSummary> {
  const files = storeFiles(dataDir);
  const summary: StoreSummary = { array: name, dataDir, exists: files.some((f) => f.name === 'CURRENT'), files: files.length, bytes: files.reduce((s, f) => s + f.bytes, 0), luns: [] };
  if (!summary.exists) return summary;
  let array: StorageArray | undefined;
  try {
    array = await openArray({ dataDir, name, readCacheBytes: 0 });
  } catch (e) {
    const code = (e as { code?: string; cause?: { code?: string } }).cause?.code ?? (e as { code?: string }).code;
    if (code === 'LEVEL_LOCKED') throw new VfabError(STORE_ERROR.IN_USE, `the store of array ${name} (${dataDir}) is open in a running array; stop it first: vfab down`);
    // a damaged store can still be deleted; its LUNs are unknown
    return summary;
  }
  summary.luns = array.listLuns().map((l) => ({ lun: l.lun, name: l.name, sizeBytes: l.sizeBytes }));
  await array.close();
  return summary;
}

export interface WipeResult extends StoreSummary {
  deleted: boolean;
  /** Other files left in the folder (a wipe deletes LevelDB's files only). */
  kept: string[];
}

/**
 * Deletes array `name`'s store in `dataDir`: LevelDB's files (LUNs, and NAS shares in `nas/`), then the
 * folders if nothing else is in them.
 * Refuses (STORE_ERROR.IN_USE) while a running array holds the store. Forgets the store in `stateDir`.
 */
export async function wipeStore(stateDir: string, name: string, dataDir: string): Promise<WipeResult> {
  const summary = await describeStore(name, dataDir);
  const files = storeFiles(dataDir);
  try {
    for (const f of files) fs.rmSync(path.join(dataDir, f.name), { force: true });
    let kept: string[] = [];
    const nasDir = path.join(dataDir, NAS_SUBDIR);
    if (fs.existsSync(nasDir) && fs.readdirSync(nasDir).length === 0) fs.rmdirSync(nasDir);
    if (fs.existsSync(dataDir)) {
      kept = fs.readdirSync(dataDir);
      if (kept.length === 0) fs.rmdirSync(dataDir);
    }
    forgetStore(stateDir, name);
    return { ...summary, deleted: files.length > 0, kept };
  } catch (e) {
    throw new VfabError(STORE_ERROR.IO, `deleting the store of array ${name} (${dataDir}): ${(e as Error).message}`);
  }
}
