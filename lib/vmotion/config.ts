// vMotion parameters, limits and errors (docs/vmotion.md). Covers the named constants with their units,
// the error class with its VFAB_VMOTION_* codes, the reason numbers the wire carries for a refusal or an
// abort and their codes, and the validation of a migration's tunables (done once, before anything is
// allocated). Follows the vMotion steps and limits of the behaviour reference §7.15 (the 100 s switchover
// limit); the other defaults are vfab's own choices and are marked so.
// Leaves out the migration logic (source.ts, destination.ts) and the pre-checks (precheck.ts).

import { VfabError } from '../errors.js';

/** Guest memory is tracked and copied in pages of this size (x86 small pages). */
export const VMOTION_PAGE_BYTES = 4096;
/**
 * Memory travels in units of this size (a page is 4 units): a datagram carries whole units of one page,
 * and the destination keeps one bit per unit received.
 */
export const VMOTION_UNIT_BYTES = 1024;
/** Smallest and largest guest memory a migration accepts (the destination's unit map is 2 MiB at most). */
export const VMOTION_MIN_MEMORY_BYTES = 1024 * 1024;
export const VMOTION_MAX_MEMORY_BYTES = 16 * 1024 * 1024 * 1024;
/** Highest guest dirty rate accepted, bytes/s. */
export const VMOTION_MAX_DIRTY_BYTES_PER_SEC = 16 * 1024 * 1024 * 1024;
/** Pre-copy stops when the remaining dirty memory would copy within this budget (vfab's choice). */
export const VMOTION_DEFAULT_SWITCHOVER_BUDGET_MS = 500;
export const VMOTION_MAX_SWITCHOVER_BUDGET_MS = 60_000;
/** Pre-copy passes before stunning anyway, converged or not (vfab's choice). */
export const VMOTION_DEFAULT_MAX_PASSES = 12;
export const VMOTION_MAX_PASSES_LIMIT = 64;
/** A switchover still unfinished this long after the stun fails and the VM resumes on the source (§7.15). */
export const VMOTION_DEFAULT_SWITCHOVER_TIMEOUT_MS = 100_000;
export const VMOTION_MAX_SWITCHOVER_TIMEOUT_MS = 3_600_000;
/** No acknowledgement progress for this long with data outstanding: the vMotion network is lost (vfab's choice). */
export const VMOTION_DEFAULT_NETWORK_TIMEOUT_MS = 10_000;
export const VMOTION_MAX_NETWORK_TIMEOUT_MS = 600_000;
/** Datagrams a sender keeps unacknowledged. */
export const VMOTION_DEFAULT_WINDOW_CHUNKS = 64;
/** The ACK's selective bitmap covers this many datagrams past the cumulative point: the window's bound. */
export const VMOTION_MAX_WINDOW_CHUNKS = 256;
/** Retransmission timeout the caller gives (ms). */
export const VMOTION_DEFAULT_RTO_MS = 200;
export const VMOTION_MIN_RTO_MS = 1;
export const VMOTION_MAX_RTO_MS = 10_000;
/** Largest serialised device state (endpoint snapshot and the daemon's extra). */
export const VMOTION_MAX_STATE_BYTES = 1024 * 1024;
/** UDP port of the vMotion listener on a vMotion vmkernel port (vfab's; ESXi's vMotion is TCP 8000). */
export const VMOTION_UDP_PORT = 8000;
/** Largest UDP payload for a 1500-byte MTU (1500 - 20 IPv4 - 8 UDP). */
export const VMOTION_DEFAULT_MAX_DATAGRAM_BYTES = 1472;
/** Smallest UDP payload a migration is told to use (a DATA header and one unit) and the largest (9000-byte MTU). */
export const VMOTION_MIN_DATAGRAM_BYTES = 32 + VMOTION_UNIT_BYTES;
export const VMOTION_MAX_DATAGRAM_BYTES = 8972;
/** After the VM resumed, the destination keeps answering the source this long, then closes. */
export const VMOTION_DEST_LINGER_MS = 10_000;
/** Migrations a host runs at once, as source or destination (ESXi allows 4 on 1 GbE, 8 on 10 GbE). */
export const VMOTION_MAX_CONCURRENT_PER_HOST = 8;
/** Longest VM name carried on the wire (bytes of UTF-8). */
export const VMOTION_MAX_VM_NAME_BYTES = 64;

export class VmotionError extends VfabError {
  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
    this.name = 'VmotionError';
  }
}

/** Why a migration stopped, as one byte on the wire (ABORT, or an ACK's refusal). */
export const VmotionReason = {
  NONE: 0,
  /** The destination will not take the VM (limits, a VM of that name, too many migrations). */
  REFUSED: 1,
  NETWORK_LOST: 2,
  SWITCHOVER_TIMEOUT: 3,
  LOCK_FAILED: 4,
  BAD_STATE: 5,
  CANCELLED: 6,
  /** The switchover came before every page and the whole state had arrived. */
  INCOMPLETE: 7,
} as const;
export type VmotionReasonNumber = (typeof VmotionReason)[keyof typeof VmotionReason];

const REASON_CODES: Record<number, string> = {
  [VmotionReason.NONE]: 'VFAB_VMOTION_ABORTED',
  [VmotionReason.REFUSED]: 'VFAB_VMOTION_DEST_REFUSED',
  [VmotionReason.NETWORK_LOST]: 'VFAB_VMOTION_NETWORK_LOST',
  [VmotionReason.SWITCHOVER_TIMEOUT]: 'VFAB_VMOTION_SWITCHOVER_TIMEOUT',
  [VmotionReason.LOCK_FAILED]: 'VFAB_VMOTION_LOCK_FAILED',
  [VmotionReason.BAD_STATE]: 'VFAB_VMOTION_BAD_STATE',
  [VmotionReason.CANCELLED]: 'VFAB_VMOTION_CANCELLED',
  [VmotionReason.INCOMPLETE]: 'VFAB_VMOTION_INCOMPLETE',
};

export function reasonCode(reason: number): string {
  return REASON_CODES[reason] ?? 'VFAB_VMOTION_ABORTED';
}

export function isReason(n: number): n is VmotionReasonNumber {
  return Number.isInteger(n) && n >= VmotionReason.NONE && n <= VmotionReason.INCOMPLETE;
}

/** A migration's tunables; every field has a default. */
export interface MigrationTuning {
  switchoverBudgetMs?: number;
  maxPasses?: number;
  switchoverTimeoutMs?: number;
  networkTimeoutMs?: number;
  windowChunks?: number;
  rtoMs?: number;
  /** UDP payload bytes per datagram (the vMotion vmkernel port's MTU - 28). */
  maxDatagramBytes?: number;
}

export type Tuning = Required<MigrationTuning>;

function inRange(name: string, v: number, min: number, max: number, unit: string): number {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new VmotionError('VFAB_VMOTION_BAD_CONFIG', `${name} ${v} must be an integer ${min}..${max}${unit ? ' ' + unit : ''}`, { field: name, value: v });
  }
  return v;
}

/** Fills defaults and checks every tunable; throws VFAB_VMOTION_BAD_CONFIG naming the field. */
export function resolveTuning(t: MigrationTuning = {}): Tuning {
  return {
    switchoverBudgetMs: inRange('switchoverBudgetMs', t.switchoverBudgetMs ?? VMOTION_DEFAULT_SWITCHOVER_BUDGET_MS, 1, VMOTION_MAX_SWITCHOVER_BUDGET_MS, 'ms'),
    maxPasses: inRange('maxPasses', t.maxPasses ?? VMOTION_DEFAULT_MAX_PASSES, 1, VMOTION_MAX_PASSES_LIMIT, ''),
    switchoverTimeoutMs: inRange('switchoverTimeoutMs', t.switchoverTimeoutMs ?? VMOTION_DEFAULT_SWITCHOVER_TIMEOUT_MS, 1, VMOTION_MAX_SWITCHOVER_TIMEOUT_MS, 'ms'),
    networkTimeoutMs: inRange('networkTimeoutMs', t.networkTimeoutMs ?? VMOTION_DEFAULT_NETWORK_TIMEOUT_MS, 1, VMOTION_MAX_NETWORK_TIMEOUT_MS, 'ms'),
    windowChunks: inRange('windowChunks', t.windowChunks ?? VMOTION_DEFAULT_WINDOW_CHUNKS, 1, VMOTION_MAX_WINDOW_CHUNKS, ''),
    rtoMs: inRange('rtoMs', t.rtoMs ?? VMOTION_DEFAULT_RTO_MS, VMOTION_MIN_RTO_MS, VMOTION_MAX_RTO_MS, 'ms'),
    maxDatagramBytes: inRange('maxDatagramBytes', t.maxDatagramBytes ?? VMOTION_DEFAULT_MAX_DATAGRAM_BYTES, VMOTION_MIN_DATAGRAM_BYTES, VMOTION_MAX_DATAGRAM_BYTES, 'bytes'),
  };
}

/** Checks a VM's memory model; throws VFAB_VMOTION_BAD_CONFIG naming the field. */
export function checkMemoryModel(m: { memoryBytes: number; dirtyBytesPerSec: number; workingSetBytes?: number }): void {
  inRange('memoryBytes', m.memoryBytes, VMOTION_MIN_MEMORY_BYTES, VMOTION_MAX_MEMORY_BYTES, 'bytes');
  if (m.memoryBytes % VMOTION_PAGE_BYTES !== 0) {
    throw new VmotionError('VFAB_VMOTION_BAD_CONFIG', `memoryBytes ${m.memoryBytes} is not a multiple of the ${VMOTION_PAGE_BYTES}-byte page`, { field: 'memoryBytes' });
  }
  inRange('dirtyBytesPerSec', m.dirtyBytesPerSec, 0, VMOTION_MAX_DIRTY_BYTES_PER_SEC, 'bytes/s');
  if (m.workingSetBytes !== undefined) inRange('workingSetBytes', m.workingSetBytes, VMOTION_PAGE_BYTES, m.memoryBytes, 'bytes');
}
