// Unit attention conditions of one logical unit (SPC-4 §5.9, SAM-5 §5.14): which I_T nexuses have one
// pending, raised by a LOGICAL UNIT RESET (SAM-5 §7.7) and by persistent reservation changes made by
// another nexus (SPC-4 §5.13.11: PREEMPT, CLEAR, RELEASE of a registrants type), reported once each by the
// next command of that nexus as CHECK CONDITION UNIT ATTENTION, or by REQUEST SENSE. Pure state, bounded:
// at most MAX_UA_NEXUSES nexuses are remembered (the oldest is forgotten first) and
// MAX_PENDING_UNIT_ATTENTIONS per nexus (a newer one past that is dropped, the older ones are still told).
// Leaves out UA_INTLCK_CTRL and the priority order of SPC-4 §5.9.1 (pending conditions are told oldest first).

import { ASC, SENSE_KEY, type Sense } from './scsi.js';

/** I_T nexuses a logical unit remembers for unit attentions; the oldest is forgotten beyond it. */
export const MAX_UA_NEXUSES = 1024;
/** Unit attention conditions pending for one I_T nexus at once. */
export const MAX_PENDING_UNIT_ATTENTIONS = 4;

/** ASC/ASCQ of the unit attentions vfab raises (SPC-4 Annex D). */
export const UA_ASC = {
  /** LOGICAL UNIT RESET (SAM-5: BUS DEVICE RESET FUNCTION OCCURRED). */
  BUS_DEVICE_RESET_FUNCTION_OCCURRED: [0x29, 0x03],
  RESERVATIONS_PREEMPTED: ASC.RESERVATIONS_PREEMPTED,
  RESERVATIONS_RELEASED: ASC.RESERVATIONS_RELEASED,
  REGISTRATIONS_PREEMPTED: ASC.REGISTRATIONS_PREEMPTED,
} as const;

type AscPair = readonly [number, number];

export class UnitAttentions {
  /** Every remembered nexus, in the order first seen, with its pending conditions (often none). */
  private readonly nexuses = new Map<string, Sense[]>();
  private pendingCount = 0;

  /** True when no nexus has a condition pending: the fast path needs nothing more than this and `knows`. */
  get quiet(): boolean {
    return this.pendingCount === 0;
  }

  knows(initiator: string): boolean {
    return this.nexuses.has(initiator);
  }

  /** Remember a nexus that sent a command (it is told about conditions raised from now on). */
  seen(initiator: string): void {
    if (this.nexuses.has(initiator)) return;
    if (this.nexuses.size >= MAX_UA_NEXUSES) {
      const oldest = this.nexuses.keys().next().value as string;
      this.forget(oldest);
    }
    this.nexuses.set(initiator, []);
  }

  /** The nexus is gone (I_T nexus loss): its pending conditions go with it. */
  forget(initiator: string): void {
    const p = this.nexuses.get(initiator);
    if (p === undefined) return;
    this.pendingCount -= p.length;
    this.nexuses.delete(initiator);
  }

  /** Raise a condition for every remembered nexus, or for those named (each must be remembered). */
  raise(asc: AscPair, only?: Iterable<string>): void {
    const targets = only === undefined ? this.nexuses.keys() : only;
    for (const name of targets) {
      const p = this.nexuses.get(name);
      if (p === undefined || p.length >= MAX_PENDING_UNIT_ATTENTIONS) continue;
      p.push({ key: SENSE_KEY.UNIT_ATTENTION, asc: asc[0], ascq: asc[1] });
      this.pendingCount++;
    }
  }

  /** The oldest pending condition of the nexus, removed (it is being reported), or undefined. */
  take(initiator: string): Sense | undefined {
    const p = this.nexuses.get(initiator);
    if (p === undefined || p.length === 0) return undefined;
    this.pendingCount--;
    return p.shift();
  }
}
