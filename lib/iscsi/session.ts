// The full feature phase of one iSCSI session on the target side (RFC 7143 §3.2.2, §4.2.2, §11): a pure
// state machine that takes parsed PDUs (and the results of SCSI commands it asked to run) and returns
// actions — PDUs to send, SCSI commands to execute with the session's I_T nexus identity, tasks to abort,
// resets to apply to lib/storage, the connection to close. Covers CmdSN/ExpCmdSN/MaxCmdSN windowing with a
// bounded task table (§4.2.2.1), immediate commands, StatSN; SCSI Command with Data-In split at the
// initiator's MaxRecvDataSegmentLength and MaxBurstLength, status in the last Data-In (§11.7.4), residuals
// (§11.4.5); writes with immediate data, unsolicited Data-Out up to FirstBurstLength, R2Ts (§11.8) within
// MaxBurstLength and MaxOutstandingR2T, Data-Out checks (§11.7); sense in the SCSI Response (§11.4.7); NOP
// (§11.18, §11.19), Logout (§11.14, §11.15), Task Management (§11.5, §11.6), Text (SendTargets) and Reject
// (§11.17). Leaves out: one connection per session only, ErrorRecoveryLevel 0 only (no SNACK, no status
// retransmission, no task reassignment), bidirectional commands, out-of-order Data-Out (DataPDUInOrder=No
// is accepted by negotiation but Data-Out must still arrive in order here), target-sent NOP-In pings and
// Async Messages, and the sockets and timers (the portal in stored). Write residuals: the SCSI layer decides
// what a WRITE whose EDTL differs from its CDB does (`residualsReported`); this reports the residual count.

import type { ScsiCommand, ScsiResult, Sense } from '../storage/scsi.js';
import { SCSI_STATUS, SENSE_KEY, ASC } from '../storage/scsi.js';
import { MAX_TRANSFER_BYTES } from '../storage/target.js';
import { toFixedSense } from '../storage/sense.js';
import { BHS_BYTES, FLAG, OPCODE, REJECT_REASON, RESERVED_TAG, emitPduParts, fullCdb, makePdu, type Pdu, type PduOf } from './pdu.js';
import { TARGET_CMD_WINDOW, answerTextRequest, type SessionParams, type TargetInfo } from './negotiate.js';
import { TextAssembler, encodeText, splitText } from './text.js';

// ---- limits -----------------------------------------------------------------------------------------------

/** Largest Expected Data Transfer Length accepted for one command: the SCSI layer's own largest transfer. */
export const ISCSI_MAX_TRANSFER_BYTES = MAX_TRANSFER_BYTES;
/** Data-Out bytes buffered by one session for writes not yet executed; a write beyond it gets TASK SET FULL. */
export const SESSION_MAX_DATA_OUT_BYTES = 16 * 1024 * 1024;
/** Immediate (I bit) tasks outstanding at once beyond the CmdSN window; more are rejected (reason 0x06). */
export const SESSION_MAX_IMMEDIATE_TASKS = 8;
/** ITTs of aborted write tasks remembered so their late Data-Out is discarded, not rejected. */
export const SESSION_ABORTED_TAGS_KEPT = 64;
/** Bytes of ping data echoed in a NOP-In (the rest of a longer ping is not echoed). */
export const NOP_ECHO_MAX_BYTES = 8192;
/** LUN number given to the SCSI layer for a LUN field it cannot address: no LUN has it (LUN NOT SUPPORTED). */
export const UNADDRESSABLE_LUN = -1;

/** Sense codes RFC 7143 §11.4.7.2 assigns to iSCSI data errors (sense key ABORTED COMMAND). */
export const ISCSI_ASC = {
  UNEXPECTED_UNSOLICITED_DATA: [0x0c, 0x0c],
  INCORRECT_AMOUNT_OF_DATA: [0x0c, 0x0d],
  PROTOCOL_SERVICE_CRC_ERROR: [0x47, 0x05],
} as const;

/** Task Management functions (§11.5.1) and responses (§11.6.1). */
export const TMF = { ABORT_TASK: 1, ABORT_TASK_SET: 2, CLEAR_ACA: 3, CLEAR_TASK_SET: 4, LUN_RESET: 5, TARGET_WARM_RESET: 6, TARGET_COLD_RESET: 7, TASK_REASSIGN: 8 } as const;
export const TMF_RESPONSE = { COMPLETE: 0, NO_TASK: 1, NO_LUN: 2, TASK_ALLEGIANT: 3, REASSIGN_UNSUPPORTED: 4, NOT_SUPPORTED: 5, AUTH_FAILED: 6, REJECTED: 255 } as const;
/** Logout reasons (§11.14.1) and responses (§11.15.1). */
export const LOGOUT_REASON = { CLOSE_SESSION: 0, CLOSE_CONNECTION: 1, REMOVE_FOR_RECOVERY: 2 } as const;
export const LOGOUT_RESPONSE = { OK: 0, CID_NOT_FOUND: 1, RECOVERY_UNSUPPORTED: 2, CLEANUP_FAILED: 3 } as const;

// ---- LUN field (SAM-5 §4.7: single level, peripheral and flat addressing) ------------------------------------

const PERIPHERAL_MAX_LUN = 255;
const FLAT_MAX_LUN = 0x3fff;

/** The 8-byte LUN field of a LUN number: peripheral addressing below 256, flat addressing up to 16383. */
export function encodeLun(n: number): bigint {
  if (!Number.isInteger(n) || n < 0 || n > FLAT_MAX_LUN) throw new RangeError(`LUN ${n} is outside 0..${FLAT_MAX_LUN}`);
  return n <= PERIPHERAL_MAX_LUN ? BigInt(n) << 48n : BigInt(0x4000 | n) << 48n;
}

/** The LUN number of an 8-byte LUN field, or UNADDRESSABLE_LUN for other methods, buses or levels. */
export function decodeLun(field: bigint): number {
  if ((field & 0xffff_ffff_ffffn) !== 0n) return UNADDRESSABLE_LUN; // a second level
  const first = Number(field >> 48n);
  const method = first >> 14;
  if (method === 0) return first >> 8 === 0 ? first & 0xff : UNADDRESSABLE_LUN; // bus 0 only
  if (method === 1) return first & FLAT_MAX_LUN;
  return UNADDRESSABLE_LUN;
}

// ---- serial number arithmetic (RFC 1982, 32 bits; §4.2.2.1) -------------------------------------------------

const u32 = (n: number): number => n >>> 0;
/** a < b in 32-bit serial arithmetic. */
export function snLt(a: number, b: number): boolean {
  const d = u32(b - a);
  return d !== 0 && d < 0x80000000;
}
const snLe = (a: number, b: number): boolean => a === b || snLt(a, b);

// ---- actions ----------------------------------------------------------------------------------------------

export type SessionAction =
  | { kind: 'send'; pdu: Pdu }
  /** Run `cmd` on the SCSI target, then call `complete(itt, result)`. */
  | { kind: 'execute'; itt: number; cmd: ScsiCommand }
  /** A command handed out by `execute` is aborted: set its `aborted` flag; its result is still awaited. */
  | { kind: 'abort'; itt: number }
  /** LUN RESET: apply it to the logical unit (lib/storage `logicalUnitReset`, other sessions' tasks). */
  | { kind: 'lun-reset'; lun: number }
  /** TARGET WARM/COLD RESET: apply it to the whole target (every LUN, every session). */
  | { kind: 'target-reset'; cold: boolean }
  /** Close the connection (after sending what came before); `reason` says why, for logs and counters. */
  | { kind: 'close'; reason: string };

export interface SessionConfig {
  params: SessionParams;
  /** ISID of the session (6 bytes): with the initiator name, the SCSI initiator port name (I_T nexus). */
  isid: Uint8Array;
  /** CID of this connection (for Logout reason 1). */
  cid: number;
  /** ExpCmdSN after login (the CmdSN of the last Login Request) and the next StatSN to send. */
  expCmdSN: number;
  statSN: number;
  /** Negotiated keys (for Text requests in the full feature phase) and targets (SendTargets). */
  agreed: Map<string, string>;
  targets: readonly TargetInfo[];
  /** CmdSN window (MaxCmdSN - ExpCmdSN + 1 when no task is running); default TARGET_CMD_WINDOW. */
  cmdWindow?: number;
}

/** What a session counted (dropped or answered with an error), for `vfab status` and tests. */
export interface SessionCounters {
  outOfWindow: number;
  rejects: number;
  discardedDataOut: number;
  dataInPdus: number;
  r2ts: number;
  taskSetFull: number;
}

/** SCSI initiator port name of an iSCSI I_T nexus (RFC 7143, SCSI port names: name, ",i,0x", ISID in hex). */
export function initiatorPortName(initiatorName: string, isid: Uint8Array): string {
  return `${initiatorName},i,0x${Buffer.from(isid).toString('hex')}`;
}

type TaskState = 'data-out' | 'running' | 'done';

interface Task {
  itt: number;
  lun: number;
  lunField: bigint;
  cdb: Uint8Array;
  immediate: boolean;
  read: boolean;
  write: boolean;
  edtl: number;
  state: TaskState;
  /** Write buffer (allocated when the command is accepted, EDTL bytes, counted in dataOutBytes). */
  buf?: Uint8Array;
  received: number;
  /** Unsolicited burst: bytes it ends at (immediate included), whether Data-Out of it may still come. */
  unsolicitedEnd: number;
  unsolicitedOpen: boolean;
  expDataSN: number;
  ttt: number;
  r2tSN: number;
  /** Offset up to which R2Ts were sent, and the bursts outstanding (start offsets, ends). */
  solicitedEnd: number;
  bursts: Array<{ end: number; r2tSN: number }>;
  aborted: boolean;
  released: boolean;
  /** A Task Management response waiting for this task's result. */
  waiters: Waiter[];
}

interface Waiter {
  pending: number;
  respond: () => SessionAction[];
}

const EMPTY = new Uint8Array(0);

export class IscsiSession {
  readonly initiator: string;
  readonly counters: SessionCounters = { outOfWindow: 0, rejects: 0, discardedDataOut: 0, dataInPdus: 0, r2ts: 0, taskSetFull: 0 };
  private expCmdSN: number;
  private statSN: number;
  private expStatSN: number;
  private readonly window: number;
  /** Non-immediate tasks holding a window slot. */
  private windowTasks = 0;
  private immediateTasks = 0;
  private readonly tasks = new Map<number, Task>();
  /** In-window commands that came before a gap (CmdSN > ExpCmdSN), by CmdSN; at most `window` of them. */
  private readonly held = new Map<number, Pdu>();
  private readonly abortedTags: number[] = [];
  private dataOutBytes = 0;
  private nextTtt = 1;
  private readonly text = new TextAssembler();
  private textOut: { ttt: number; itt: number; chunks: Uint8Array[] } | undefined;
  private closed = false;

  constructor(private readonly cfg: SessionConfig) {
    this.initiator = initiatorPortName(cfg.params.initiatorName, cfg.isid);
    this.expCmdSN = u32(cfg.expCmdSN);
    this.statSN = u32(cfg.statSN);
    this.expStatSN = this.statSN;
    this.window = cfg.cmdWindow ?? TARGET_CMD_WINDOW;
  }

  get maxCmdSN(): number {
    return u32(this.expCmdSN - 1 + Math.max(0, this.window - this.windowTasks));
  }
  get nextExpCmdSN(): number {
    return this.expCmdSN;
  }
  get nextStatSN(): number {
    return this.statSN;
  }
  get lastExpStatSN(): number {
    return this.expStatSN;
  }
  get taskCount(): number {
    return this.tasks.size;
  }
  get bufferedDataOutBytes(): number {
    return this.dataOutBytes;
  }
  /** Commands held for a CmdSN gap to fill (at most the CmdSN window). */
  get heldCommands(): number {
    return this.held.size;
  }

  // ---- input ------------------------------------------------------------------------------------------------

  /** One parsed PDU from the initiator (login is over). */
  receive(pdu: Pdu): SessionAction[] {
    if (this.closed) return [];
    const out: SessionAction[] = [];
    if ('expStatSN' in pdu) this.noteExpStatSN(pdu.expStatSN);
    switch (pdu.opcode) {
      case OPCODE.DATA_OUT:
        this.dataOut(pdu, out);
        return out;
      case OPCODE.SCSI_COMMAND:
      case OPCODE.NOP_OUT:
      case OPCODE.TASK_MGMT_REQUEST:
      case OPCODE.TEXT_REQUEST:
      case OPCODE.LOGOUT_REQUEST:
        this.ordered(pdu, out);
        return out;
      case OPCODE.LOGIN_REQUEST:
        // §6.1: a Login Request in the full feature phase is a protocol error.
        this.reject(pdu, REJECT_REASON.PROTOCOL_ERROR, out);
        return out;
      case OPCODE.SNACK_REQUEST:
        this.reject(pdu, REJECT_REASON.COMMAND_NOT_SUPPORTED, out); // ERL 0: no SNACK support
        return out;
      default:
        this.reject(pdu, REJECT_REASON.PROTOCOL_ERROR, out); // a target opcode from the initiator
        return out;
    }
  }

  /** A PDU whose data digest did not match (parsePdu's VFAB_ISCSI_DATA_DIGEST): Reject it (§7.8, §11.17). */
  dataDigestError(header: Pdu): SessionAction[] {
    const out: SessionAction[] = [];
    this.reject(header, REJECT_REASON.DATA_DIGEST, out);
    // ERL 0: a write whose data was lost cannot be completed; end it with the CRC error sense.
    if (header.opcode === OPCODE.DATA_OUT || header.opcode === OPCODE.SCSI_COMMAND) {
      const t = this.tasks.get(header.itt);
      if (t !== undefined && t.state === 'data-out') this.failTask(t, SENSE_KEY.ABORTED_COMMAND, ISCSI_ASC.PROTOCOL_SERVICE_CRC_ERROR, out);
    }
    return out;
  }

  /** The result of a command handed out by an `execute` action. Unknown or repeated ITTs are ignored. */
  complete(itt: number, result: ScsiResult): SessionAction[] {
    const t = this.tasks.get(itt);
    if (t === undefined || t.state !== 'running') return [];
    const out: SessionAction[] = [];
    this.release(t); // the response already advertises the freed window slot
    if (!t.aborted && !this.closed) this.respondScsi(t, result, out);
    this.finish(t, out);
    return out;
  }

  /** The connection is gone: every task ends; returns aborts for those at the SCSI layer. */
  connectionLost(): SessionAction[] {
    const out: SessionAction[] = [];
    this.closed = true;
    for (const t of this.tasks.values()) if (t.state === 'running') out.push({ kind: 'abort', itt: t.itt });
    return out;
  }

  // ---- sequence numbers ---------------------------------------------------------------------------------------

  private noteExpStatSN(n: number): void {
    // Only acknowledgements of StatSNs actually sent move it (ERL 0 keeps no status for retransmission).
    if (snLe(this.expStatSN, n) && snLe(n, this.statSN)) this.expStatSN = n;
  }

  private ordered(pdu: Pdu, out: SessionAction[]): void {
    const sn = (pdu as { cmdSN: number }).cmdSN;
    if (pdu.immediate) {
      this.deliver(pdu, true, out);
      return;
    }
    // §4.2.2.1: non-immediate commands outside [ExpCmdSN, MaxCmdSN], and duplicates, are silently ignored.
    if (snLt(sn, this.expCmdSN) || snLt(this.maxCmdSN, sn) || this.held.has(sn)) {
      this.counters.outOfWindow++;
      return;
    }
    if (sn !== this.expCmdSN) {
      this.held.set(sn, copyPdu(pdu));
      return;
    }
    this.expCmdSN = u32(this.expCmdSN + 1);
    this.deliver(pdu, false, out);
    for (let next = this.held.get(this.expCmdSN); next !== undefined && !this.closed; next = this.held.get(this.expCmdSN)) {
      this.held.delete(this.expCmdSN);
      this.expCmdSN = u32(this.expCmdSN + 1);
      this.deliver(next, false, out);
    }
  }

  private deliver(pdu: Pdu, immediate: boolean, out: SessionAction[]): void {
    switch (pdu.opcode) {
      case OPCODE.SCSI_COMMAND:
        this.scsiCommand(pdu, immediate, out);
        break;
      case OPCODE.NOP_OUT:
        this.nopOut(pdu, out);
        break;
      case OPCODE.TASK_MGMT_REQUEST:
        this.taskManagement(pdu, out);
        break;
      case OPCODE.TEXT_REQUEST:
        this.textRequest(pdu, out);
        break;
      case OPCODE.LOGOUT_REQUEST:
        this.logout(pdu, out);
        break;
      default:
        break;
    }
  }

  /** Fields every target PDU with status sequencing carries; `advance` takes a StatSN (§11.2.1). */
  private seq(advance: boolean): { statSN: number; expCmdSN: number; maxCmdSN: number } {
    const statSN = this.statSN;
    if (advance) this.statSN = u32(this.statSN + 1);
    return { statSN, expCmdSN: this.expCmdSN, maxCmdSN: this.maxCmdSN };
  }

  private send(out: SessionAction[], pdu: Pdu): void {
    out.push({ kind: 'send', pdu });
  }

  /** Reject (§11.17): the data segment is the rejected PDU's BHS. */
  private reject(pdu: Pdu, reason: number, out: SessionAction[]): void {
    this.counters.rejects++;
    let bhs: Uint8Array;
    try {
      bhs = emitPduParts({ ...pdu, ahs: EMPTY, data: EMPTY } as Pdu, { header: false, data: false })[0].slice(0, BHS_BYTES);
    } catch {
      bhs = new Uint8Array(BHS_BYTES);
    }
    bhs[5] = (pdu.data.length >> 16) & 0xff;
    bhs[6] = (pdu.data.length >> 8) & 0xff;
    bhs[7] = pdu.data.length & 0xff;
    this.send(out, makePdu(OPCODE.REJECT, { itt: RESERVED_TAG, reason, ...this.seq(true), dataSN: 0, data: bhs }));
  }

  // ---- SCSI Command -------------------------------------------------------------------------------------------

  private scsiCommand(pdu: PduOf<typeof OPCODE.SCSI_COMMAND>, immediate: boolean, out: SessionAction[]): void {
    const p = this.cfg.params;
    if (this.tasks.has(pdu.itt)) {
      this.reject(pdu, REJECT_REASON.TASK_IN_PROGRESS, out); // §11.17.1: an ITT still in use
      return;
    }
    if (immediate && this.immediateTasks >= SESSION_MAX_IMMEDIATE_TASKS) {
      this.reject(pdu, REJECT_REASON.IMMEDIATE_COMMAND_REJECT, out);
      return;
    }
    const read = (pdu.flags & FLAG.READ) !== 0;
    const write = (pdu.flags & FLAG.WRITE) !== 0;
    const edtl = pdu.expectedDataTransferLength;
    const imm = pdu.data.length;
    // Data with the command needs ImmediateData=Yes, the W bit, and fits EDTL and FirstBurstLength (§13.11).
    // F=0 (unsolicited Data-Out follows) needs InitialR2T=No and a write (§11.3.1).
    const unsolicitedFollows = (pdu.flags & FLAG.F) === 0;
    if ((imm > 0 && (!p.immediateData || !write || imm > Math.min(edtl, p.firstBurstBytes))) || (unsolicitedFollows && (p.initialR2T || !write))) {
      this.reject(pdu, REJECT_REASON.PROTOCOL_ERROR, out);
      return;
    }
    const t: Task = {
      itt: pdu.itt,
      lun: decodeLun(pdu.lun),
      lunField: pdu.lun,
      cdb: Uint8Array.prototype.slice.call(fullCdb(pdu)),
      immediate,
      read,
      write,
      edtl,
      state: 'data-out',
      received: 0,
      unsolicitedEnd: 0,
      unsolicitedOpen: false,
      expDataSN: 0,
      ttt: RESERVED_TAG,
      r2tSN: 0,
      solicitedEnd: 0,
      bursts: [],
      aborted: false,
      released: false,
      waiters: [],
    };
    this.addTask(t);
    if (read && write) {
      this.failTask(t, SENSE_KEY.ILLEGAL_REQUEST, ASC.INVALID_FIELD_IN_CDB, out); // bidirectional: not supported
      return;
    }
    if (edtl > ISCSI_MAX_TRANSFER_BYTES) {
      this.failTask(t, SENSE_KEY.ILLEGAL_REQUEST, ASC.INVALID_FIELD_IN_CDB, out);
      return;
    }
    if (!write || edtl === 0) {
      this.execute(t, undefined, out);
      return;
    }
    if (this.dataOutBytes + edtl > SESSION_MAX_DATA_OUT_BYTES) {
      this.counters.taskSetFull++;
      this.release(t);
      this.respondStatus(t, SCSI_STATUS.TASK_SET_FULL, undefined, out);
      this.rememberAborted(t.itt); // its unsolicited Data-Out, if any, is discarded
      this.finish(t, out);
      return;
    }
    // All data came with the command (the usual small write): one copy, no zero fill.
    t.buf = imm === edtl ? Uint8Array.prototype.slice.call(pdu.data) : new Uint8Array(edtl);
    this.dataOutBytes += edtl;
    if (imm !== edtl) t.buf.set(pdu.data, 0);
    t.received = imm;
    t.unsolicitedEnd = unsolicitedFollows ? Math.min(edtl, p.firstBurstBytes) : imm;
    t.unsolicitedOpen = unsolicitedFollows && t.unsolicitedEnd > imm;
    t.solicitedEnd = t.unsolicitedEnd;
    if (unsolicitedFollows && !t.unsolicitedOpen) {
      // F=0 but the immediate data already filled the first burst: no Data-Out may follow it (§11.3.1).
      this.failTask(t, SENSE_KEY.ABORTED_COMMAND, ISCSI_ASC.UNEXPECTED_UNSOLICITED_DATA, out);
      return;
    }
    this.progressWrite(t, out);
  }

  private addTask(t: Task): void {
    this.tasks.set(t.itt, t);
    if (t.immediate) this.immediateTasks++;
    else this.windowTasks++;
  }

  /** Next step of a write: execute when all data is in, else R2Ts up to MaxOutstandingR2T. */
  private progressWrite(t: Task, out: SessionAction[]): void {
    if (t.received === t.edtl) {
      const data = t.buf!;
      this.execute(t, data, out);
      return;
    }
    if (t.unsolicitedOpen) return;
    const p = this.cfg.params;
    if (t.ttt === RESERVED_TAG) t.ttt = this.allocTtt();
    while (t.bursts.length < p.maxOutstandingR2T && t.solicitedEnd < t.edtl) {
      const offset = t.solicitedEnd;
      const len = Math.min(p.maxBurstBytes, t.edtl - offset);
      t.solicitedEnd += len;
      const r2tSN = t.r2tSN++;
      t.bursts.push({ end: t.solicitedEnd, r2tSN });
      this.counters.r2ts++;
      this.send(out, makePdu(OPCODE.R2T, { itt: t.itt, lun: t.lunField, ttt: t.ttt, ...this.seq(false), r2tSN, bufferOffset: offset, desiredDataTransferLength: len }));
    }
  }

  private allocTtt(): number {
    const ttt = this.nextTtt;
    this.nextTtt = this.nextTtt >= 0xfffffffe ? 1 : this.nextTtt + 1;
    return ttt;
  }

  private execute(t: Task, dataOut: Uint8Array | undefined, out: SessionAction[]): void {
    t.state = 'running';
    const cmd: ScsiCommand = { initiator: this.initiator, lun: t.lun, cdb: t.cdb, residualsReported: true, reportsUnitAttentions: true };
    if (dataOut !== undefined) cmd.dataOut = dataOut;
    out.push({ kind: 'execute', itt: t.itt, cmd });
  }

  // ---- Data-Out -----------------------------------------------------------------------------------------------

  private dataOut(pdu: PduOf<typeof OPCODE.DATA_OUT>, out: SessionAction[]): void {
    const t = this.tasks.get(pdu.itt);
    if (t === undefined || t.state !== 'data-out' || t.aborted) {
      if (this.abortedTags.includes(pdu.itt) || (t !== undefined && t.aborted)) {
        this.counters.discardedDataOut++; // late data of an aborted task: discarded
        return;
      }
      this.reject(pdu, REJECT_REASON.INVALID_PDU_FIELD, out);
      return;
    }
    const len = pdu.data.length;
    const off = pdu.bufferOffset;
    const final = (pdu.flags & FLAG.F) !== 0;
    if (pdu.ttt === RESERVED_TAG) {
      // Unsolicited Data-Out: only within the first burst announced by F=0 on the command.
      if (!t.unsolicitedOpen) {
        this.reject(pdu, REJECT_REASON.PROTOCOL_ERROR, out);
        this.failTask(t, SENSE_KEY.ABORTED_COMMAND, ISCSI_ASC.UNEXPECTED_UNSOLICITED_DATA, out);
        return;
      }
      if (off !== t.received || pdu.dataSN !== t.expDataSN || off + len > t.unsolicitedEnd) {
        this.reject(pdu, REJECT_REASON.PROTOCOL_ERROR, out);
        this.failTask(t, SENSE_KEY.ABORTED_COMMAND, ISCSI_ASC.INCORRECT_AMOUNT_OF_DATA, out);
        return;
      }
      this.take(t, pdu);
      if (t.received === t.unsolicitedEnd) {
        if (!final) return void this.dataError(t, pdu, out);
        t.unsolicitedOpen = false;
        t.expDataSN = 0;
        this.progressWrite(t, out);
      } else if (final) {
        // The initiator ended its unsolicited burst short of min(FirstBurstLength, EDTL) (§13.14).
        this.dataError(t, pdu, out);
      }
      return;
    }
    const burst = t.bursts[0];
    if (pdu.ttt !== t.ttt || burst === undefined) {
      this.reject(pdu, REJECT_REASON.INVALID_PDU_FIELD, out);
      return;
    }
    if (off !== t.received || pdu.dataSN !== t.expDataSN || off + len > burst.end) {
      this.dataError(t, pdu, out);
      return;
    }
    this.take(t, pdu);
    if (t.received === burst.end) {
      if (!final) return void this.dataError(t, pdu, out);
      t.bursts.shift();
      t.expDataSN = 0;
      this.progressWrite(t, out);
    } else if (final) this.dataError(t, pdu, out);
  }

  private take(t: Task, pdu: PduOf<typeof OPCODE.DATA_OUT>): void {
    t.buf!.set(pdu.data, pdu.bufferOffset);
    t.received += pdu.data.length;
    t.expDataSN = u32(t.expDataSN + 1);
  }

  /** A Data-Out that breaks its burst (offset, DataSN, length, F bit): Reject it and end the task (ERL 0). */
  private dataError(t: Task, pdu: Pdu, out: SessionAction[]): void {
    this.reject(pdu, REJECT_REASON.PROTOCOL_ERROR, out);
    this.failTask(t, SENSE_KEY.ABORTED_COMMAND, ISCSI_ASC.INCORRECT_AMOUNT_OF_DATA, out);
  }

  /** Ends a task that never reached the SCSI layer with CHECK CONDITION. */
  private failTask(t: Task, key: number, asc: readonly [number, number], out: SessionAction[]): void {
    if (t.state === 'data-out' && t.received < t.edtl && t.write) this.rememberAborted(t.itt);
    this.release(t);
    this.respondStatus(t, SCSI_STATUS.CHECK_CONDITION, { key, asc: asc[0], ascq: asc[1] }, out);
    this.finish(t, out);
  }

  private rememberAborted(itt: number): void {
    this.abortedTags.push(itt);
    if (this.abortedTags.length > SESSION_ABORTED_TAGS_KEPT) this.abortedTags.shift();
  }

  /** The task leaves the table; its window slot and buffer are freed and waiting TMF responses go out. */
  private finish(t: Task, out: SessionAction[]): void {
    if (t.state === 'done') return;
    this.release(t);
    t.state = 'done';
    this.tasks.delete(t.itt);
    for (const w of t.waiters) if (--w.pending === 0) out.push(...w.respond());
  }

  /** Frees the task's window slot (or immediate slot) and its Data-Out buffer; once. */
  private release(t: Task): void {
    if (t.released) return;
    t.released = true;
    if (t.immediate) this.immediateTasks--;
    else this.windowTasks--;
    if (t.buf !== undefined) this.dataOutBytes -= t.buf.length;
  }

  // ---- responses ----------------------------------------------------------------------------------------------

  private respondScsi(t: Task, result: ScsiResult, out: SessionAction[]): void {
    const data = result.dataIn ?? EMPTY;
    const expectedIn = t.read ? t.edtl : 0;
    const sendBytes = Math.min(data.length, expectedIn);
    let flags = 0;
    let residual = 0;
    if (data.length > expectedIn) {
      flags = FLAG.OVERFLOW;
      residual = data.length - expectedIn;
    } else if (t.read && data.length < expectedIn) {
      flags = FLAG.UNDERFLOW;
      residual = expectedIn - data.length;
    }
    const wanted = result.dataOutWanted;
    if (wanted !== undefined && !t.read) {
      // Write residuals (§11.4.5.1): overflow = data the CDB wanted beyond EDTL, underflow = EDTL it did not use.
      if (wanted > t.edtl) {
        flags = FLAG.OVERFLOW;
        residual = wanted - t.edtl;
      } else if (wanted < t.edtl) {
        flags = FLAG.UNDERFLOW;
        residual = t.edtl - wanted;
      }
    }
    const p = this.cfg.params;
    const statusInData = result.sense === undefined && sendBytes > 0;
    const seg = Math.max(1, p.initiatorMaxRecvDataSegmentBytes);
    let dataSN = 0;
    let burstStart = 0;
    for (let off = 0; off < sendBytes; ) {
      const burstEnd = Math.min(sendBytes, burstStart + Math.max(1, p.maxBurstBytes));
      const len = Math.min(seg, burstEnd - off);
      const last = off + len === sendBytes;
      const endOfSequence = off + len === burstEnd;
      const withStatus = last && statusInData;
      const pduFlags = (endOfSequence ? FLAG.F : 0) | (withStatus ? FLAG.STATUS | flags : 0);
      this.counters.dataInPdus++;
      const statSN = withStatus ? this.statSN : 0;
      if (withStatus) this.statSN = u32(this.statSN + 1);
      // Built as one literal (every read sends at least one): no makePdu defaults, no spread.
      const pdu: PduOf<typeof OPCODE.DATA_IN> = {
        opcode: OPCODE.DATA_IN,
        immediate: false,
        flags: pduFlags,
        itt: t.itt,
        ahs: EMPTY,
        data: off === 0 && len === data.length ? data : data.subarray(off, off + len),
        status: withStatus ? result.status : 0,
        lun: t.lunField,
        ttt: RESERVED_TAG,
        statSN,
        expCmdSN: this.expCmdSN,
        maxCmdSN: this.maxCmdSN,
        dataSN: dataSN++,
        bufferOffset: off,
        residualCount: withStatus ? residual : 0,
      };
      this.send(out, pdu);
      off += len;
      if (endOfSequence) burstStart = burstEnd;
    }
    if (!statusInData) this.respondStatus(t, result.status, result.sense, out, flags, residual, dataSN);
  }

  private respondStatus(t: Task, status: number, sense: Sense | undefined, out: SessionAction[], flags = 0, residual = 0, expDataSN = 0): void {
    if (flags === 0 && t.read && t.state !== 'running') {
      // A read that ends before the SCSI layer ran moved no data: all of EDTL is residual.
      if (t.edtl > 0) {
        flags = FLAG.UNDERFLOW;
        residual = t.edtl;
      }
    }
    let data: Uint8Array = EMPTY;
    if (sense !== undefined) {
      const s = toFixedSense(sense);
      const seg = new Uint8Array(2 + s.length);
      seg[0] = s.length >> 8;
      seg[1] = s.length & 0xff;
      seg.set(s, 2);
      data = seg;
    }
    const statSN = this.statSN;
    this.statSN = u32(this.statSN + 1);
    const pdu: PduOf<typeof OPCODE.SCSI_RESPONSE> = {
      opcode: OPCODE.SCSI_RESPONSE,
      immediate: false,
      flags: FLAG.F | flags,
      itt: t.itt,
      ahs: EMPTY,
      data,
      response: 0,
      status,
      snackTag: 0,
      statSN,
      expCmdSN: this.expCmdSN,
      maxCmdSN: this.maxCmdSN,
      expDataSN,
      bidiReadResidualCount: 0,
      residualCount: residual,
    };
    this.send(out, pdu);
  }

  // ---- NOP, Text, Logout --------------------------------------------------------------------------------------

  private nopOut(pdu: PduOf<typeof OPCODE.NOP_OUT>, out: SessionAction[]): void {
    if (pdu.itt === RESERVED_TAG) return; // §11.18: no answer wanted (a reply to our ping, or a CmdSN carrier)
    const echo = Math.min(pdu.data.length, NOP_ECHO_MAX_BYTES, this.cfg.params.initiatorMaxRecvDataSegmentBytes);
    this.send(out, makePdu(OPCODE.NOP_IN, { itt: pdu.itt, lun: pdu.lun, ttt: RESERVED_TAG, ...this.seq(true), data: Uint8Array.prototype.slice.call(pdu.data, 0, echo) }));
  }

  private textRequest(pdu: PduOf<typeof OPCODE.TEXT_REQUEST>, out: SessionAction[]): void {
    const cont = (pdu.flags & FLAG.CONTINUE) !== 0;
    const textResponse = (flags: number, ttt: number, data: Uint8Array): PduOf<typeof OPCODE.TEXT_RESPONSE> =>
      makePdu(OPCODE.TEXT_RESPONSE, { flags, itt: pdu.itt, lun: pdu.lun, ttt, ...this.seq(true), data });
    // A continuation of our own long answer: the initiator sends an empty request with our TTT.
    if (pdu.ttt !== RESERVED_TAG) {
      const pending = this.textOut;
      if (pending === undefined || pending.ttt !== pdu.ttt) {
        this.reject(pdu, REJECT_REASON.INVALID_PDU_FIELD, out);
        return;
      }
      const chunk = pending.chunks.shift()!;
      const last = pending.chunks.length === 0;
      if (last) this.textOut = undefined;
      this.send(out, textResponse(last ? FLAG.F : FLAG.CONTINUE, last ? RESERVED_TAG : pending.ttt, chunk));
      return;
    }
    this.textOut = undefined;
    const r = this.text.add(pdu.data, cont);
    if (!r.ok) {
      this.reject(pdu, REJECT_REASON.PROTOCOL_ERROR, out);
      return;
    }
    if (r.value === undefined) {
      this.send(out, textResponse(0, this.allocTtt(), EMPTY)); // §11.11.1: ask for the rest
      return;
    }
    const p = this.cfg.params;
    const answer = encodeText(answerTextRequest(r.value, this.cfg.agreed, this.cfg.targets, { sessionType: p.sessionType, targetName: p.targetName }));
    const chunks = splitText(answer, Math.max(1, p.initiatorMaxRecvDataSegmentBytes));
    const first = chunks.shift()!;
    if (chunks.length === 0) {
      this.send(out, textResponse(FLAG.F, RESERVED_TAG, first));
      return;
    }
    this.textOut = { ttt: this.allocTtt(), itt: pdu.itt, chunks };
    this.send(out, textResponse(FLAG.CONTINUE, this.textOut.ttt, first));
  }

  private logout(pdu: PduOf<typeof OPCODE.LOGOUT_REQUEST>, out: SessionAction[]): void {
    const reason = pdu.flags & FLAG.FUNCTION_MASK;
    let response: number = LOGOUT_RESPONSE.OK;
    if (reason === LOGOUT_REASON.REMOVE_FOR_RECOVERY) response = LOGOUT_RESPONSE.RECOVERY_UNSUPPORTED;
    else if (reason === LOGOUT_REASON.CLOSE_CONNECTION && pdu.cid !== this.cfg.cid) response = LOGOUT_RESPONSE.CID_NOT_FOUND;
    else if (reason !== LOGOUT_REASON.CLOSE_SESSION && reason !== LOGOUT_REASON.CLOSE_CONNECTION) {
      this.reject(pdu, REJECT_REASON.INVALID_PDU_FIELD, out);
      return;
    }
    const p = this.cfg.params;
    if (response === LOGOUT_RESPONSE.OK) {
      // The session ends: tasks still at the SCSI layer are aborted, their results dropped.
      for (const t of [...this.tasks.values()]) this.abortTask(t, out);
    }
    this.send(
      out,
      makePdu(OPCODE.LOGOUT_RESPONSE, { itt: pdu.itt, response, ...this.seq(true), time2Wait: p.defaultTime2WaitS, time2Retain: p.defaultTime2RetainS }),
    );
    if (response === LOGOUT_RESPONSE.OK) {
      this.closed = true;
      out.push({ kind: 'close', reason: 'logout' });
    }
  }

  // ---- Task Management ----------------------------------------------------------------------------------------

  /** Aborts one task: a running one gets an `abort` action and stays until its result; others end now. */
  private abortTask(t: Task, out: SessionAction[]): void {
    if (t.aborted || t.state === 'done') return;
    t.aborted = true;
    if (t.state === 'running') out.push({ kind: 'abort', itt: t.itt });
    else {
      if (t.write) this.rememberAborted(t.itt);
      this.finish(t, out);
    }
  }

  private taskManagement(pdu: PduOf<typeof OPCODE.TASK_MGMT_REQUEST>, out: SessionAction[]): void {
    const fn = pdu.flags & FLAG.FUNCTION_MASK;
    const respond = (response: number): SessionAction[] => [
      { kind: 'send', pdu: makePdu(OPCODE.TASK_MGMT_RESPONSE, { itt: pdu.itt, response, ...this.seq(true) }) },
    ];
    const lun = decodeLun(pdu.lun);
    let victims: Task[];
    const pre: SessionAction[] = [];
    switch (fn) {
      case TMF.ABORT_TASK: {
        const t = this.tasks.get(pdu.referencedTaskTag);
        // §11.5.1: a task that is not (or no longer) in the table: "task does not exist".
        if (t === undefined || t.aborted || t.itt === pdu.itt) {
          out.push(...respond(TMF_RESPONSE.NO_TASK));
          return;
        }
        victims = [t];
        break;
      }
      case TMF.ABORT_TASK_SET:
      case TMF.CLEAR_TASK_SET:
        victims = [...this.tasks.values()].filter((t) => t.lunField === pdu.lun);
        break;
      case TMF.LUN_RESET:
        victims = [...this.tasks.values()].filter((t) => t.lunField === pdu.lun);
        pre.push({ kind: 'lun-reset', lun });
        break;
      case TMF.TARGET_WARM_RESET:
      case TMF.TARGET_COLD_RESET:
        victims = [...this.tasks.values()];
        pre.push({ kind: 'target-reset', cold: fn === TMF.TARGET_COLD_RESET });
        break;
      case TMF.TASK_REASSIGN:
        out.push(...respond(TMF_RESPONSE.REASSIGN_UNSUPPORTED)); // ERL 0 (§11.6.1)
        return;
      default:
        out.push(...respond(TMF_RESPONSE.NOT_SUPPORTED));
        return;
    }
    const running = victims.filter((t) => t.state === 'running' && !t.aborted);
    const cold = fn === TMF.TARGET_COLD_RESET;
    const finalActions = (): SessionAction[] => {
      const acts = [...pre, ...respond(TMF_RESPONSE.COMPLETE)];
      if (cold) {
        this.closed = true;
        acts.push({ kind: 'close', reason: 'target cold reset' });
      }
      return acts;
    };
    for (const t of victims) this.abortTask(t, out);
    // The response goes out only after every affected task has ended at the SCSI layer.
    if (running.length === 0) {
      out.push(...finalActions());
      return;
    }
    const w: Waiter = { pending: running.length, respond: finalActions };
    for (const t of running) t.waiters.push(w);
  }
}

/** A copy of a PDU whose data segment may be a view into a buffer the caller reuses. */
function copyPdu(pdu: Pdu): Pdu {
  const c = { ...pdu, data: Uint8Array.prototype.slice.call(pdu.data), ahs: Uint8Array.prototype.slice.call(pdu.ahs) } as Pdu;
  if (c.opcode === OPCODE.SCSI_COMMAND) c.cdb = Uint8Array.prototype.slice.call(c.cdb);
  return c;
}
