// Error codes of the vSphere-HA core (lib/ha): a cluster configuration that cannot be used (each error
// names the field as the topology spells it) and a heartbeat datagram that is not ours. Leaves out
// restart and lock outcomes: those are events and actions of the agent, never errors.

import { VfabError } from '../errors.js';

export const HA_ERROR = {
  /** A cluster's HA configuration has a missing, unknown or out-of-range value (details: field). */
  BAD_CONFIG: 'VFAB_HA_BAD_CONFIG',
  /** A received heartbeat datagram is not a vfab HA heartbeat (dropped and counted by the daemon). */
  BAD_HEARTBEAT: 'VFAB_HA_BAD_HEARTBEAT',
} as const;

export type HaErrorCode = (typeof HA_ERROR)[keyof typeof HA_ERROR];

export class HaError extends VfabError {
  constructor(code: HaErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
    this.name = 'HaError';
  }
}

/** A configuration error naming its field (`hosts[1].gateway`, `ha.isolationResponse`). */
export function configError(field: string, why: string): HaError {
  return new HaError(HA_ERROR.BAD_CONFIG, `${field}: ${why}`, { field });
}
