// Storage faults a user or a scenario injects into a running fabric (docs/datastores.md, "Faults"):
// stall one host's I/O to an array (or one LUN of it) for a while, fail or restore every path of a host to
// an array at once, and turn ATS (COMPARE AND WRITE) off or on for one LUN of an array. Resolves names
// from the fabric's state file and asks the daemon concerned over its control API; the decisions (what a
// stalled command does, what a LUN without ATS answers) live in hostd and stored. Used by
// `vfab fault storage ...` (daemons/cli/commands/fault.ts) and by the scenario runner's `storageFault`
// step. Leaves out stalls at the array side (every host at once): stall each host instead.
// Follows docs/vsphere-behaviour.md §7.2-§7.4 (what a host does while its I/O stalls) and §7.7 (a LUN
// without ATS: metadata operations take a SCSI-2 reservation).

import { VfabError } from '../../lib/errors.js';
import type { FabricState } from './state.js';

export type StorageFault =
  /** Hold every I/O `host` sends to `array` (only to `lun` when given) for `ms` fabric milliseconds. */
  | { kind: 'stall'; host: string; array: string; lun?: string; ms: number }
  /** Fail (`up: false`) or restore every path of `host` to `array`, like pulling all its storage cables. */
  | { kind: 'paths'; host: string; array: string; up: boolean }
  /** Turn ATS off (the LUN answers COMPARE AND WRITE as an unknown opcode) or on again. */
  | { kind: 'ats'; array: string; lun: string; enabled: boolean };

export interface StorageFaultResult {
  /** One line for people, e.g. "esx1: I/O to array1/shared1 stalled for 10000 ms". */
  message: string;
}

/** Applies one storage fault to the running fabric. */
export async function applyStorageFault(_state: FabricState, fault: StorageFault): Promise<StorageFaultResult> {
  throw new VfabError('VFAB_FAULT_UNSUPPORTED', `storage fault "${fault.kind}" is not built yet`);
}
