// Storage faults a user or a scenario injects into a running fabric (docs/datastores.md, "Faults"):
// stall one host's I/O to an array (or one LUN of it) for a while, fail or restore every path of a host to
// an array at once, and turn ATS (COMPARE AND WRITE) off or on for one LUN of an array. Resolves names
// from the fabric's state file and asks the daemon concerned over its control API; the decisions (what a
// stalled command does, what a LUN without ATS answers) live in hostd and stored. Used by
// `vfab fault storage-stall|storage-paths|ats` (daemons/cli/commands/fault.ts) and by the scenario runner's `storageFault`
// step. Faults are validated here before any daemon is asked (VFAB_FAULT_BAD_STORAGE names the field).
// Leaves out stalls at the array side (every host at once): stall each host instead.
// Follows docs/vsphere-behaviour.md §7.2-§7.4 (what a host does while its I/O stalls) and §7.7 (a LUN
// without ATS: metadata operations take a SCSI-2 reservation).

import { VfabError } from '../../lib/errors.js';
import { MAX_STALL_MS } from '../../lib/storage/stall.js';
import { control } from '../common/control-client.js';
import { type DaemonRecord, type FabricState, findDaemon } from './state.js';

export type StorageFault =
  /** Hold every I/O `host` sends to `array` (only to `lun` when given) for `ms` fabric milliseconds (0 ends a stall). */
  | { kind: 'stall'; host: string; array: string; lun?: string; ms: number }
  /** Fail (`up: false`) or restore every path of `host` to `array`, like pulling all its storage cables. */
  | { kind: 'paths'; host: string; array: string; up: boolean }
  /** Turn ATS off (the LUN answers COMPARE AND WRITE as an unknown opcode) or on again. */
  | { kind: 'ats'; array: string; lun: string; enabled: boolean };

export interface StorageFaultResult {
  /** One line for people, e.g. "esx1: I/O to array1/shared1 stalled for 10000 ms". */
  message: string;
  /** The daemon's answer (for --json). */
  detail?: unknown;
}

/** Longest stall a fault may ask for, in fabric ms (the host's limit, lib/storage/stall.ts). */
export const MAX_STORAGE_STALL_MS = MAX_STALL_MS;

export const STORAGE_FAULT_ERROR = {
  /** A storage fault with a missing or wrong field (kind, host, array, lun, ms, up, enabled). */
  BAD: 'VFAB_FAULT_BAD_STORAGE',
} as const;

function bad(message: string): VfabError {
  return new VfabError(STORAGE_FAULT_ERROR.BAD, message);
}

function daemonOfKind(state: FabricState, name: unknown, kind: 'host' | 'array', field: string): DaemonRecord {
  if (typeof name !== 'string' || name === '') throw bad(`storage fault: "${field}" must be the name of ${kind === 'host' ? 'a host' : 'an array'}, got ${JSON.stringify(name)}`);
  const d = findDaemon(state, name);
  if (d.kind !== kind) {
    const names = state.daemons.filter((x) => x.kind === kind).map((x) => x.name);
    throw bad(`storage fault: ${name} is ${/^[aeiou]/.test(d.kind) ? 'an' : 'a'} ${d.kind}, not ${kind === 'host' ? 'a host' : 'an array'} (${kind}s: ${names.join(', ') || 'none'})`);
  }
  return d;
}

/** Applies one storage fault to the running fabric. */
export async function applyStorageFault(state: FabricState, fault: StorageFault): Promise<StorageFaultResult> {
  const f = fault as Partial<Record<string, unknown>>;
  switch (fault.kind) {
    case 'stall': {
      const host = daemonOfKind(state, f.host, 'host', 'host');
      daemonOfKind(state, f.array, 'array', 'array');
      const ms = f.ms;
      if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0 || ms > MAX_STORAGE_STALL_MS) throw bad(`storage fault: "ms" must be 0..${MAX_STORAGE_STALL_MS} fabric ms, got ${JSON.stringify(ms)}`);
      if (f.lun !== undefined && (typeof f.lun !== 'string' || f.lun === '')) throw bad(`storage fault: "lun" must be a LUN name, got ${JSON.stringify(f.lun)}`);
      const detail = await control(host, state.token, 'POST', `/control/storage/stall/${encodeURIComponent(fault.array)}`, { ms, ...(fault.lun !== undefined ? { lun: fault.lun } : {}) });
      const what = `${fault.array}${fault.lun !== undefined ? `/${fault.lun}` : ''}`;
      return { message: ms === 0 ? `${fault.host}: stall of I/O to ${what} ended` : `${fault.host}: I/O to ${what} stalled for ${ms} ms (fabric clock)`, detail };
    }
    case 'paths': {
      const host = daemonOfKind(state, f.host, 'host', 'host');
      daemonOfKind(state, f.array, 'array', 'array');
      if (typeof f.up !== 'boolean') throw bad(`storage fault: "up" must be true or false, got ${JSON.stringify(f.up)}`);
      const detail = await control<{ paths: Array<{ path: number; state: string }> }>(host, state.token, 'POST', `/control/storage/paths/${encodeURIComponent(fault.array)}`, { up: fault.up });
      return { message: `${fault.host}: every path to ${fault.array} ${fault.up ? 'restored' : 'failed'} (${detail.paths.map((p) => `P${p.path} ${p.state}`).join(', ')})`, detail };
    }
    case 'ats': {
      const array = daemonOfKind(state, f.array, 'array', 'array');
      if (typeof f.lun !== 'string' || f.lun === '') throw bad(`storage fault: "lun" must be a LUN name, got ${JSON.stringify(f.lun)}`);
      if (typeof f.enabled !== 'boolean') throw bad(`storage fault: "enabled" must be true or false, got ${JSON.stringify(f.enabled)}`);
      const detail = await control(array, state.token, 'POST', `/control/luns/${encodeURIComponent(fault.lun)}/ats`, { enabled: fault.enabled });
      return { message: `${fault.array}/${fault.lun}: ATS (COMPARE AND WRITE) ${fault.enabled ? 'on' : 'off'}`, detail };
    }
    default:
      throw bad(`storage fault: "kind" must be stall, paths or ats, got ${JSON.stringify(f.kind)}`);
  }
}
