// What a migration reports: the events of its phases on the fabric clock and the result each side ends
// with (docs/vmotion.md "Events" and "Result"). Plain values, for the daemon's event log and `--json`.
// Leaves out the logging itself (daemons/).

import type { SenderCounters, ReceiverCounters } from './transfer.js';

export type VmotionEventType =
  | 'vmotion-start' | 'vmotion-pass' | 'vmotion-stun' | 'vmotion-final-copy' | 'vmotion-locks-released'
  | 'vmotion-switchover' | 'vmotion-resumed' | 'vmotion-notify' | 'vmotion-completed' | 'vmotion-aborted'
  | 'vmotion-switchover-failed' | 'vmotion-resumed-on-source' | 'vmotion-failed';

export interface VmotionEvent {
  type: VmotionEventType;
  /** Fabric time, ms. */
  atMs: number;
  side: 'source' | 'destination';
  vm: string;
  migrationId: number;
  message: string;
  details: Record<string, unknown>;
}

export interface PassReport {
  pass: number;
  pages: number;
  /** Memory bytes the pass copied (acknowledged). */
  bytes: number;
  ms: number;
  /** Acknowledged data bytes over the pass's time. */
  bandwidthBytesPerSec: number;
  /** Dirty bytes when the pass ended. */
  dirtyBytesAfter: number;
}

export type SourceOutcome =
  /** The VM runs on the destination; the source forgot it. */
  | 'migrated'
  /** Stopped before the stun: the VM never stopped running on the source. */
  | 'aborted'
  /** Stopped after the stun: the VM runs on the source again. */
  | 'resumed-on-source'
  /** Neither host could take the locks back: the VM is stunned on the source without its files. */
  | 'failed';

export interface SourceResult {
  migrationId: number;
  vm: string;
  outcome: SourceOutcome;
  /** VFAB_VMOTION_* for every outcome but 'migrated'. */
  code?: string;
  message: string;
  startedAtMs: number;
  endedAtMs: number;
  passes: PassReport[];
  /** Whether the dirty set came within the switchover budget (undefined if never stunned). */
  converged?: boolean;
  precopyMs: number;
  stunAtMs?: number;
  /** When the VM ran again, on whichever host. */
  resumedAtMs?: number;
  /** Stun to resume (the VM did not run), ms. */
  downtimeMs?: number;
  finalCopyBytes: number;
  stateBytes: number;
  transfer: SenderCounters;
}

export type DestinationOutcome = 'resumed' | 'aborted' | 'failed';

export interface DestinationResult {
  migrationId: number;
  vm: string;
  outcome: DestinationOutcome;
  code?: string;
  message: string;
  /** Stun (as the source stamped it on the fabric clock) to resume here, ms. */
  downtimeMs?: number;
  memoryBytesReceived: number;
  stateBytes: number;
  transfer: ReceiverCounters & { malformed: number; foreign: number; protocolErrors: number };
}
