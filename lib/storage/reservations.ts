// Reservations of one logical unit: SPC-2 RESERVE/RELEASE (whole LUN, one initiator) and SPC-4
// persistent reservations (§5.13, PERSISTENT RESERVE IN/OUT §6.15/§6.16) with registrations keyed by
// initiator name. Pure decisions: `access` answers whether a command class may run, `prOut` applies a
// service action and returns an outcome; the target renders outcomes as status/sense and persists
// `toJSON()` after a change. Leaves out REGISTER AND MOVE, SPEC_I_PT, ALL_TG_PT, unit
// attentions to other registrants and task aborts (PREEMPT AND ABORT behaves as PREEMPT: vfab has no
// task set to abort; every command has completed or is executing atomically).

import { VfabError, err, ok, type Result } from '../errors.js';
import { STORAGE_ERROR } from './blockstore.js';

/** Persistent reservation types (SPC-4 Table 212). */
export const PR_TYPE = {
  WRITE_EXCLUSIVE: 1,
  EXCLUSIVE_ACCESS: 3,
  WRITE_EXCLUSIVE_REGISTRANTS_ONLY: 5,
  EXCLUSIVE_ACCESS_REGISTRANTS_ONLY: 6,
  WRITE_EXCLUSIVE_ALL_REGISTRANTS: 7,
  EXCLUSIVE_ACCESS_ALL_REGISTRANTS: 8,
} as const;
export type PrType = (typeof PR_TYPE)[keyof typeof PR_TYPE];

export const PR_OUT_SA = {
  REGISTER: 0x00,
  RESERVE: 0x01,
  RELEASE: 0x02,
  CLEAR: 0x03,
  PREEMPT: 0x04,
  PREEMPT_AND_ABORT: 0x05,
  REGISTER_AND_IGNORE_EXISTING_KEY: 0x06,
  REGISTER_AND_MOVE: 0x07,
} as const;

export const PR_IN_SA = {
  READ_KEYS: 0x00,
  READ_RESERVATION: 0x01,
  REPORT_CAPABILITIES: 0x02,
  READ_FULL_STATUS: 0x03,
} as const;

/** PERSISTENT RESERVE OUT basic parameter list length (SPC-4 §6.16.3). */
export const PR_OUT_PARAM_BYTES = 24;
/** Registrations per LUN; more answers INSUFFICIENT REGISTRATION RESOURCES. */
export const MAX_PR_REGISTRATIONS = 256;
/** Longest initiator name kept in a registration (iSCSI names are at most 223 bytes, RFC 7143). */
export const MAX_INITIATOR_NAME_BYTES = 223;

/**
 * Command classes for the conflict check (SPC-4 Table 66 / SBC-3 Table 13 as vfab implements them):
 * INFO = INQUIRY, REPORT LUNS, REQUEST SENSE; STATUS = TEST UNIT READY, READ CAPACITY;
 * READ = READ(10/16); WRITE = WRITE, COMPARE AND WRITE, WRITE SAME, UNMAP, SYNCHRONIZE CACHE;
 * RESERVE/RELEASE = SPC-2 RESERVE/RELEASE (6/10); PR_IN / PR_OUT = PERSISTENT RESERVE IN/OUT.
 */
export const ACCESS = { INFO: 0, STATUS: 1, READ: 2, WRITE: 3, RESERVE: 4, RELEASE: 5, PR_IN: 6, PR_OUT: 7 } as const;
export type AccessClass = (typeof ACCESS)[keyof typeof ACCESS];

/** What a PERSISTENT RESERVE OUT did; the target maps it to status and sense. */
export const PR_OUTCOME = {
  GOOD: 0,
  CONFLICT: 1,
  INVALID_FIELD_IN_CDB: 2,
  INVALID_FIELD_IN_PARAMETER_LIST: 3,
  INVALID_RELEASE: 4,
  INSUFFICIENT_RESOURCES: 5,
} as const;
export type PrOutcome = (typeof PR_OUTCOME)[keyof typeof PR_OUTCOME];

export interface PrReservation {
  /** The initiator that reserved (for the all-registrants types every registrant is a holder). */
  holder: string;
  type: PrType;
}

export interface PrOutParams {
  reservationKey: bigint;
  serviceActionKey: bigint;
  /** Parameter list byte 20. */
  flags: number;
}

/** Longest initiator port name in a TransportID: an iSCSI name, ",i,0x" and 12 hex digits of ISID. */
const MAX_INITIATOR_PORT_NAME_BYTES = MAX_INITIATOR_NAME_BYTES + 17;
/** TransportID protocol identifier for iSCSI (SPC-4 §7.6.1, Table 362). */
const PROTOCOL_ID_ISCSI = 0x5;
/** Shortest iSCSI TransportID name field (SPC-4 §7.6.4.6: ADDITIONAL LENGTH at least 20, a multiple of 4). */
const MIN_ISCSI_TRANSPORT_NAME_BYTES = 20;

/** An iSCSI TransportID for an initiator name: null-terminated and padded to a multiple of 4 bytes. */
export function iscsiTransportId(initiator: string): Buffer {
  const name = Buffer.from(initiator, 'utf8').subarray(0, MAX_INITIATOR_PORT_NAME_BYTES);
  const fieldBytes = Math.max(MIN_ISCSI_TRANSPORT_NAME_BYTES, (name.length + 1 + 3) & ~3);
  const out = Buffer.alloc(4 + fieldBytes);
  out[0] = (/,i,0x[0-9a-f]{12}$/i.test(initiator) ? 0x40 : 0x00) | PROTOCOL_ID_ISCSI;
  out.writeUInt16BE(fieldBytes, 2);
  name.copy(out, 4);
  return out;
}

export function isValidPrType(type: number): type is PrType {
  return type === 1 || type === 3 || type === 5 || type === 6 || type === 7 || type === 8;
}

function isAllRegistrants(type: PrType): boolean {
  return type === PR_TYPE.WRITE_EXCLUSIVE_ALL_REGISTRANTS || type === PR_TYPE.EXCLUSIVE_ACCESS_ALL_REGISTRANTS;
}

/** Serialised form kept in the block store (bigint keys as 16 hex digits). */
export interface PrStateJson {
  generation: number;
  registrations: Array<[string, string]>;
  reservation: PrReservation | null;
}

export class LunReservations {
  /** PRgeneration (SPC-4 §6.15.2): bumped by REGISTER*, CLEAR, PREEMPT*, not by RESERVE/RELEASE. */
  generation = 0;
  readonly registrations = new Map<string, bigint>();
  reservation: PrReservation | null = null;
  /** SPC-2 RESERVE holder; volatile (not persisted, cleared by LU reset / I_T nexus loss). */
  spc2Holder: string | null = null;

  /** True when nothing can conflict: the fast path for every READ/WRITE. */
  get idle(): boolean {
    return this.spc2Holder === null && this.reservation === null && this.registrations.size === 0;
  }

  isHolder(initiator: string): boolean {
    const r = this.reservation;
    if (r === null) return false;
    if (isAllRegistrants(r.type)) return this.registrations.has(initiator);
    return r.holder === initiator;
  }

  /** May `initiator` run a command of class `cls` now? false = RESERVATION CONFLICT. */
  access(initiator: string, cls: AccessClass): boolean {
    if (this.idle || cls === ACCESS.INFO) return true;
    // SPC-2 reservation held by someone else: only INFO commands and RELEASE pass (SPC-2 §5.5.1).
    if (this.spc2Holder !== null && this.spc2Holder !== initiator) return cls === ACCESS.RELEASE;
    // RESERVE/RELEASE while any persistent registration exists conflict (SPC-3 §5.6.3 / SPC-4 §5.13.3).
    if (cls === ACCESS.RESERVE || cls === ACCESS.RELEASE) return this.registrations.size === 0;
    if (cls === ACCESS.STATUS || cls === ACCESS.PR_IN || cls === ACCESS.PR_OUT) return true;
    const r = this.reservation;
    if (r === null || this.isHolder(initiator)) return true;
    const registered = this.registrations.has(initiator);
    switch (r.type) {
      case PR_TYPE.WRITE_EXCLUSIVE:
        return cls === ACCESS.READ;
      case PR_TYPE.EXCLUSIVE_ACCESS:
        return false;
      case PR_TYPE.WRITE_EXCLUSIVE_REGISTRANTS_ONLY:
      case PR_TYPE.WRITE_EXCLUSIVE_ALL_REGISTRANTS:
        return registered || cls === ACCESS.READ;
      case PR_TYPE.EXCLUSIVE_ACCESS_REGISTRANTS_ONLY:
      case PR_TYPE.EXCLUSIVE_ACCESS_ALL_REGISTRANTS:
        return registered;
    }
  }

  /** SPC-2 RESERVE: true = reserved (or already held by this initiator), false = conflict. */
  spc2Reserve(initiator: string): boolean {
    if (this.spc2Holder !== null && this.spc2Holder !== initiator) return false;
    this.spc2Holder = initiator;
    return true;
  }

  /** SPC-2 RELEASE: releases when held by `initiator`, otherwise no effect (still GOOD). */
  spc2Release(initiator: string): void {
    if (this.spc2Holder === initiator) this.spc2Holder = null;
  }

  /**
   * Apply a PERSISTENT RESERVE OUT service action. `changed` tells the caller to persist toJSON().
   * Callers have already checked the CDB (service action known, parameter list length 24).
   */
  prOut(initiator: string, sa: number, scope: number, type: number, p: PrOutParams): { outcome: PrOutcome; changed: boolean } {
    const G = (changed: boolean) => ({ outcome: PR_OUTCOME.GOOD, changed });
    const fail = (outcome: PrOutcome) => ({ outcome, changed: false });
    // SPEC_I_PT (bit 3) and ALL_TG_PT (bit 2) are not supported (REPORT CAPABILITIES says so).
    if ((p.flags & 0x0c) !== 0) return fail(PR_OUTCOME.INVALID_FIELD_IN_PARAMETER_LIST);
    const current = this.registrations.get(initiator);
    if (sa === PR_OUT_SA.REGISTER || sa === PR_OUT_SA.REGISTER_AND_IGNORE_EXISTING_KEY) {
      const ignore = sa === PR_OUT_SA.REGISTER_AND_IGNORE_EXISTING_KEY;
      if (current === undefined) {
        if (!ignore && p.reservationKey !== 0n) return fail(PR_OUTCOME.CONFLICT);
        if (p.serviceActionKey === 0n) return G(false);
        if (this.registrations.size >= MAX_PR_REGISTRATIONS) return fail(PR_OUTCOME.INSUFFICIENT_RESOURCES);
        this.registrations.set(initiator, p.serviceActionKey);
        this.generation++;
        return G(true);
      }
      if (!ignore && p.reservationKey !== current) return fail(PR_OUTCOME.CONFLICT);
      if (p.serviceActionKey === 0n) {
        this.unregister(initiator);
      } else {
        this.registrations.set(initiator, p.serviceActionKey);
      }
      this.generation++;
      return G(true);
    }
    if (sa === PR_OUT_SA.REGISTER_AND_MOVE) return fail(PR_OUTCOME.INVALID_FIELD_IN_CDB);
    // Every other service action needs a registered I_T nexus whose key matches.
    if (current === undefined || p.reservationKey !== current) return fail(PR_OUTCOME.CONFLICT);
    switch (sa) {
      case PR_OUT_SA.RESERVE: {
        if (scope !== 0 || !isValidPrType(type)) return fail(PR_OUTCOME.INVALID_FIELD_IN_CDB);
        const r = this.reservation;
        if (r === null) {
          this.reservation = { holder: initiator, type };
          return G(true);
        }
        if (this.isHolder(initiator) && r.type === type) return G(false);
        return fail(PR_OUTCOME.CONFLICT);
      }
      case PR_OUT_SA.RELEASE: {
        if (scope !== 0) return fail(PR_OUTCOME.INVALID_FIELD_IN_CDB);
        const r = this.reservation;
        if (r === null || !this.isHolder(initiator)) return G(false);
        if (r.type !== type) return fail(PR_OUTCOME.INVALID_RELEASE);
        this.reservation = null;
        return G(true);
      }
      case PR_OUT_SA.CLEAR:
        this.registrations.clear();
        this.reservation = null;
        this.generation++;
        return G(true);
      case PR_OUT_SA.PREEMPT:
      case PR_OUT_SA.PREEMPT_AND_ABORT:
        return this.preempt(initiator, scope, type, p.serviceActionKey);
      default:
        return fail(PR_OUTCOME.INVALID_FIELD_IN_CDB);
    }
  }

  private preempt(initiator: string, scope: number, type: number, saKey: bigint): { outcome: PrOutcome; changed: boolean } {
    const r = this.reservation;
    if (r !== null && isAllRegistrants(r.type) && saKey === 0n) {
      // SPC-4 §5.13.11.2.4: preempt an all-registrants reservation: everyone else goes, new reservation.
      if (scope !== 0 || !isValidPrType(type)) return { outcome: PR_OUTCOME.INVALID_FIELD_IN_CDB, changed: false };
      for (const name of [...this.registrations.keys()]) if (name !== initiator) this.registrations.delete(name);
      this.reservation = { holder: initiator, type };
      this.generation++;
      return { outcome: PR_OUTCOME.GOOD, changed: true };
    }
    if (r !== null && !isAllRegistrants(r.type) && this.registrations.get(r.holder) === saKey) {
      // Preempting the holder: its key's registrations go (except ours), we hold a reservation of `type`.
      if (scope !== 0 || !isValidPrType(type)) return { outcome: PR_OUTCOME.INVALID_FIELD_IN_CDB, changed: false };
      this.removeKey(saKey, initiator);
      this.reservation = { holder: initiator, type };
      this.generation++;
      return { outcome: PR_OUTCOME.GOOD, changed: true };
    }
    // No reservation, or the key is not the holder's: remove registrations only (SPC-4 §5.13.11.2.3).
    if (saKey === 0n) return { outcome: PR_OUTCOME.INVALID_FIELD_IN_PARAMETER_LIST, changed: false };
    const removed = this.removeKey(saKey, initiator);
    if (removed === 0) return { outcome: PR_OUTCOME.CONFLICT, changed: false };
    this.generation++;
    return { outcome: PR_OUTCOME.GOOD, changed: true };
  }

  private removeKey(key: bigint, except: string): number {
    let removed = 0;
    for (const [name, k] of [...this.registrations]) {
      if (k === key && name !== except) {
        this.unregister(name);
        removed++;
      }
    }
    return removed;
  }

  /** Drop a registration; a reservation goes with its holder (all-registrants: with the last registrant). */
  private unregister(initiator: string): void {
    this.registrations.delete(initiator);
    const r = this.reservation;
    if (r === null) return;
    if (isAllRegistrants(r.type) ? this.registrations.size === 0 : r.holder === initiator) this.reservation = null;
  }

  /** PERSISTENT RESERVE IN, READ KEYS (SPC-4 §6.15.2). */
  readKeys(): Buffer {
    const keys = [...this.registrations.values()];
    const out = Buffer.alloc(8 + 8 * keys.length);
    out.writeUInt32BE(this.generation >>> 0, 0);
    out.writeUInt32BE(8 * keys.length, 4);
    keys.forEach((k, i) => out.writeBigUInt64BE(k, 8 + 8 * i));
    return out;
  }

  /** PERSISTENT RESERVE IN, READ RESERVATION (SPC-4 §6.15.3). */
  readReservation(): Buffer {
    const r = this.reservation;
    const out = Buffer.alloc(r === null ? 8 : 24);
    out.writeUInt32BE(this.generation >>> 0, 0);
    if (r === null) return out;
    out.writeUInt32BE(16, 4);
    const key = isAllRegistrants(r.type) ? 0n : (this.registrations.get(r.holder) ?? 0n);
    out.writeBigUInt64BE(key, 8);
    out[21] = r.type & 0x0f; // scope 0 (LU_SCOPE) in the high nibble
    return out;
  }

  /**
   * PERSISTENT RESERVE IN, READ FULL STATUS (SPC-4 §6.15.5): one descriptor per registration with its key,
   * R_HOLDER and, for the holder, scope and type, and the initiator as an iSCSI TransportID (SPC-4 §7.6.4.6;
   * format 01b when the name is an initiator port "name,i,0xISID", else 00b). Relative target port 0,
   * ALL_TG_PT 0 (not supported). Registrations in the order they were made.
   */
  readFullStatus(): Buffer {
    const parts: Buffer[] = [];
    for (const [name, key] of this.registrations) {
      const id = iscsiTransportId(name);
      const d = Buffer.alloc(24);
      d.writeBigUInt64BE(key, 0);
      if (this.isHolder(name)) {
        d[12] = 0x01; // R_HOLDER
        d[13] = this.reservation!.type & 0x0f; // scope 0 (LU_SCOPE) in the high nibble
      }
      d.writeUInt32BE(id.length, 20);
      parts.push(d, id);
    }
    const body = Buffer.concat(parts);
    const out = Buffer.alloc(8);
    out.writeUInt32BE(this.generation >>> 0, 0);
    out.writeUInt32BE(body.length, 4);
    return Buffer.concat([out, body]);
  }

  /** PERSISTENT RESERVE IN, REPORT CAPABILITIES (SPC-4 §6.15.4): PTPL_C and PTPL_A set, all six types. */
  static reportCapabilities(): Buffer {
    const out = Buffer.alloc(8);
    out.writeUInt16BE(8, 0);
    out[2] = 0x10 | 0x01; // CRH: RESERVE/RELEASE handled per SPC-3 §5.6.3; PTPL_C
    out[3] = 0x80 | 0x01; // TMV (type mask valid), PTPL_A (always persistent)
    out[4] = 0x80 | 0x40 | 0x20 | 0x08 | 0x02; // WR_EX_AR, EX_AC_RO, WR_EX_RO, EX_AC, WR_EX
    out[5] = 0x01; // EX_AC_AR
    return out;
  }

  toJSON(): PrStateJson {
    return {
      generation: this.generation,
      registrations: [...this.registrations].map(([n, k]) => [n, k.toString(16).padStart(16, '0')]),
      reservation: this.reservation === null ? null : { ...this.reservation },
    };
  }

  static fromJSON(json: unknown): Result<LunReservations> {
    const bad = () => err(new VfabError(STORAGE_ERROR.CORRUPT_META, 'bad persistent reservation record'));
    if (typeof json !== 'object' || json === null) return bad();
    const j = json as Partial<PrStateJson>;
    if (typeof j.generation !== 'number' || !Array.isArray(j.registrations)) return bad();
    const out = new LunReservations();
    out.generation = j.generation >>> 0;
    for (const entry of j.registrations) {
      if (!Array.isArray(entry) || typeof entry[0] !== 'string' || typeof entry[1] !== 'string') return bad();
      if (!/^[0-9a-f]{16}$/.test(entry[1])) return bad();
      out.registrations.set(entry[0], BigInt('0x' + entry[1]));
    }
    const r = j.reservation;
    if (r !== null && r !== undefined) {
      if (typeof r.holder !== 'string' || !isValidPrType(r.type)) return bad();
      out.reservation = { holder: r.holder, type: r.type };
    }
    return ok(out);
  }
}
