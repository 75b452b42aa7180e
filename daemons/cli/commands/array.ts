// vfab array: the arrays' stored data when the fabric is down. `array list` shows each store this state
// dir knows (LUNs, bytes on disk, running or not); `array wipe NAME --yes` deletes one. Thin CLI over
// daemons/fabric/stores.ts; `vfab down --purge` deletes the stores of a whole fabric. Leaves out backups.
// Docs: docs/storage-model.md ("Where the data lives").

import fs from 'node:fs';
import path from 'node:path';
import { VfabError } from '../../../lib/errors.js';
import { formatSize } from '../../../lib/storage/size.js';
import { readState, daemonRunning, stateDir, type FabricState } from '../../fabric/state.js';
import { ARRAYS_DIR, STORE_ERROR, describeStore, readKnownStores, storeLocation, wipeStore, type StoreSummary, type WipeResult } from '../../fabric/stores.js';
import { type CliIo, type CommandTable, defineCommand, printJson, table, JSON_OPTION, UsageError, EXIT_OK } from '../io.js';
import { suggest } from '../../fabric/state.js';

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/;

function summaryText(s: StoreSummary): string {
  const luns = s.luns.length ? `${s.luns.length} LUN${s.luns.length === 1 ? '' : 's'} (${s.luns.map((l) => `${l.name} ${formatSize(l.sizeBytes)}`).join(', ')})` : 'no LUNs';
  return `the store of array ${s.array} at ${s.dataDir}: ${luns}, ${s.files} files, ${formatSize(s.bytes)} on disk`;
}

/** One line for a deleted store (also used by `vfab down --purge`). */
export function wipeLine(w: WipeResult): string {
  if (!w.deleted) return `array ${w.array}: no store at ${w.dataDir} (nothing deleted)`;
  return `deleted ${summaryText(w)}${w.kept.length ? `; kept ${w.kept.length} other file(s) in the folder` : ''}`;
}

/** The array daemon named `name` of the fabric running from this state dir, if it runs. */
function runningArray(name: string): { state: FabricState; pid: number } | undefined {
  let state: FabricState;
  try {
    state = readState();
  } catch {
    return undefined;
  }
  const d = state.daemons.find((x) => x.kind === 'array' && x.name === name);
  return d && daemonRunning(state, d) ? { state, pid: d.pid } : undefined;
}

/** Array names with a store here: recorded by vfab up, or a folder under .vfab/arrays/. */
function knownNames(dir: string): string[] {
  const names = new Set(readKnownStores(dir).map((s) => s.array));
  try {
    for (const e of fs.readdirSync(path.join(dir, ARRAYS_DIR), { withFileTypes: true })) if (e.isDirectory()) names.add(e.name);
  } catch {
    /* no arrays folder yet */
  }
  return [...names].sort();
}

async function list(io: CliIo, json: boolean): Promise<number> {
  const dir = stateDir();
  const rows: Array<StoreSummary & { running: boolean; inUse: boolean }> = [];
  for (const name of knownNames(dir)) {
    const { dataDir } = storeLocation(dir, name);
    const running = runningArray(name) !== undefined;
    try {
      rows.push({ ...(await describeStore(name, dataDir)), running, inUse: false });
    } catch (e) {
      if ((e as VfabError).code !== STORE_ERROR.IN_USE) throw e;
      rows.push({ array: name, dataDir, exists: true, files: 0, bytes: 0, luns: [], running, inUse: true });
    }
  }
  if (json) return printJson(io, { stateDir: dir, stores: rows }), EXIT_OK;
  if (rows.length === 0) return io.out(`no array stores in ${dir} (vfab up creates them)`), EXIT_OK;
  io.out(table([['array', 'state', 'LUNs', 'on disk', 'folder'], ...rows.map((r) => [
    r.array,
    r.running ? 'running' : r.inUse ? 'in use' : r.exists ? 'stopped' : 'empty',
    r.inUse ? '-' : r.luns.map((l) => `${l.name} ${formatSize(l.sizeBytes)}`).join(', ') || 'none',
    r.inUse ? '-' : formatSize(r.bytes),
    r.dataDir,
  ])]));
  return EXIT_OK;
}

async function wipe(name: string, yes: boolean, io: CliIo, json: boolean): Promise<number> {
  if (!NAME_RE.test(name)) throw new UsageError(`array name ${JSON.stringify(name)} is not valid (letters, digits, '-' and '_', at most 32)`);
  const running = runningArray(name);
  if (running) {
    throw new VfabError(STORE_ERROR.IN_USE, `array ${name} is running in fabric ${running.state.fabric} (pid ${running.pid}); stop it first with: vfab down (or stop and delete every array's data with: vfab down --purge)`);
  }
  const dir = stateDir();
  const { dataDir, known } = storeLocation(dir, name);
  if (!known && !fs.existsSync(dataDir)) {
    const names = knownNames(dir);
    throw new UsageError(`no store for array ${JSON.stringify(name)} in ${dir}${suggest(name, names)} (stores here: ${names.join(', ') || 'none'})`);
  }
  const summary = await describeStore(name, dataDir);
  if (!yes) {
    throw new UsageError(summary.exists ? `would delete ${summaryText(summary)}; nothing was deleted. To delete it: vfab array wipe ${name} --yes` : `array ${name} has no store at ${dataDir}; nothing to delete`);
  }
  const result = await wipeStore(dir, name, dataDir);
  if (json) printJson(io, result);
  else io.out(wipeLine(result));
  return EXIT_OK;
}

const array = defineCommand(
  {
    usage: ['list [--json]', 'wipe NAME [--yes] [--json]'],
    description: `An array keeps its LUNs and every block written in a store on disk: by default .vfab/arrays/<array>/
(next to state.json; $VFAB_STATE_DIR moves both), or the folder the topology names in arrays[].dataDir.
The store survives vfab down / vfab up, vfab fault kill/restart and a reboot of the machine; it is
deleted only by vfab down --purge (every array of the running fabric) or by vfab array wipe.

  list   the stores known here (the folders vfab up last used): LUNs, bytes on disk, running or not
  wipe   delete array NAME's store: its LUNs and their data. The array must not be running (stop the
         fabric with vfab down first). Without --yes nothing is deleted: it says what would be.`,
    options: {
      yes: { type: 'bool', verbs: ['wipe'], description: 'really delete (without it, wipe only says what it would delete, exit 2)' },
      json: { ...JSON_OPTION, description: 'machine-readable output' },
    },
    args: { min: 1, max: 2 },
    verbs: ['list', 'wipe'],
    examples: ['array list', 'array wipe array1            # shows what would be deleted, exit 2', 'array wipe array1 --yes      # deletes it; the next vfab up creates the topology\'s LUNs empty'],
    exits: { 2: 'bad usage, an unknown array, or wipe without --yes (nothing deleted)' },
  },
  async ({ values, positionals }, io) => {
    const [verb, name] = positionals as [string, string | undefined];
    if (verb === 'list') {
      if (name !== undefined) throw new UsageError(`vfab array list takes no NAME (got ${JSON.stringify(name)})`);
      return list(io, values.json);
    }
    if (name === undefined) throw new UsageError('vfab array wipe needs an array NAME (see: vfab array --help)');
    return wipe(name, values.yes, io, values.json);
  },
);

export const commands: CommandTable = { array };
