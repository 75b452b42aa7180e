// The initiator side of one iSCSI session (RFC 7143), as a pure state machine for a host's storage paths:
// bytes from the target go in (`receive`), SCSI commands go in (`submit`), and actions come out — bytes to
// send, command completions, the session going up or closing. Covers the login (§6.3, §11.12, §11.13):
// security stage with AuthMethod None, or CHAP (§12.1.3, MD5, one-way: the target does not authenticate
// itself) when credentials are given; operational negotiation of HeaderDigest/DataDigest (None or CRC32C),
// ImmediateData, InitialR2T, MaxRecvDataSegmentLength, MaxBurstLength, FirstBurstLength and the ERL 0
// keys; then the full feature phase: CmdSN/ExpCmdSN/MaxCmdSN windowing (§4.2.2.1) with a bounded local
// queue, ITT allocation, SCSI Command PDUs with immediate data and unsolicited Data-Out up to
// FirstBurstLength (§11.3), Data-Out answering R2Ts (§11.7, §11.8), Data-In assembly with status in the
// last Data-In or a SCSI Response, sense data and residuals (§11.4), NOP-In pings answered (§11.19), Reject
// (§11.17) and Logout (§11.14). Reuses lib/iscsi's PDU codec, framer, text and CHAP helpers. Leaves out:
// several connections per session, ERL above 0 (a protocol error from the target closes the connection:
// the caller retries on another path), Task Management (a command is never aborted once sent), SNACK,
// Text requests, bidirectional commands, mutual CHAP, and sockets and timers (daemons/storage/iscsi-client.ts).
//
// The Expected Data Transfer Length of a command without data-out is ISCSI_MAX_TRANSFER_BYTES (the most
// any vfab target moves in one command): ScsiCommand carries no expected length, and the target reports
// what it did not use as an underflow residual (§11.4.5.1), so the data handed back is exactly what came.

import { VfabError } from '../errors.js';
import { SCSI_STATUS, SENSE_KEY, type ScsiCommand, type ScsiResult, type Sense } from '../storage/scsi.js';
import { parseFixedSense } from '../storage/sense.js';
import { IscsiFramer, type FramerEvent } from './framer.js';
import {
  AHS_TYPE,
  FLAG,
  LOGIN_STATUS,
  NO_DIGESTS,
  OPCODE,
  RESERVED_TAG,
  STAGE,
  buildAhs,
  emitPduParts,
  loginFlags,
  loginStages,
  makePdu,
  type Digests,
  type Pdu,
  type PduOf,
} from './pdu.js';
import { DEFAULT_MAX_RECV_DATA_SEGMENT_BYTES, ISCSI_VERSION, parseNumber } from './negotiate.js';
import { TextAssembler, encodeText, type TextPair } from './text.js';
import { CHAP_ALGORITHM_MD5, chapResponse, decodeBinary, encodeBinary } from './chap.js';
import { ISCSI_MAX_TRANSFER_BYTES, encodeLun, snLt } from './session.js';

// ---- limits and the values the initiator offers ----------------------------------------------------------

/** Commands sent and not yet answered, plus those waiting for the CmdSN window; more are refused. */
export const INITIATOR_MAX_OUTSTANDING = 256;
/** Data-In bytes held for commands whose status has not come yet; a target sending more closes the connection. */
export const INITIATOR_MAX_BUFFERED_BYTES = 64 * 1024 * 1024;
/** MaxRecvDataSegmentLength the initiator declares (bytes of data per PDU it accepts). */
export const INITIATOR_MAX_RECV_DATA_SEGMENT_BYTES = 256 * 1024;
/** MaxBurstLength and FirstBurstLength offered (the target's answer, the minimum, is used). */
export const INITIATOR_MAX_BURST_BYTES = 1024 * 1024;
export const INITIATOR_FIRST_BURST_BYTES = 256 * 1024;
/** Login responses accepted in one login before the initiator gives up (a login going round in circles). */
export const INITIATOR_MAX_LOGIN_EXCHANGES = 16;
/** Task attribute SIMPLE (§11.3.1, ATTR field). */
const ATTR_SIMPLE = 1;
/** Bytes of the CDB field in the BHS; longer CDBs continue in an Extended CDB AHS (§11.2.2.3). */
const BHS_CDB_BYTES = 16;

export const INITIATOR_ERROR = {
  /** The target refused the login (status class/detail in the message and details). */
  LOGIN_FAILED: 'VFAB_ISCSI_LOGIN_FAILED',
  /** The target broke the protocol (a PDU that does not fit the session's state); the connection closes. */
  PROTOCOL: 'VFAB_ISCSI_INITIATOR_PROTOCOL',
  /** More than INITIATOR_MAX_OUTSTANDING commands at once. */
  BUSY: 'VFAB_ISCSI_INITIATOR_BUSY',
  /** The target rejected a command PDU (§11.17); the reason code is in the details. */
  REJECTED: 'VFAB_ISCSI_REJECTED',
  /** The session is not in the full feature phase (logging in, logging out or closed). */
  NOT_READY: 'VFAB_ISCSI_NOT_READY',
} as const;

export interface InitiatorConfig {
  initiatorName: string;
  targetName: string;
  /** 6 bytes; with the initiator name, the SCSI initiator port (one per path). */
  isid: Uint8Array;
  /**
   * CHAP credentials: the login offers AuthMethod=CHAP only (no fallback to None). With `mutual` the
   * initiator also challenges the target (identifier and challenge bytes from the caller: randomness is
   * passed in) and fails the login unless the target answers with that name and the right response.
   */
  chap?: { name: string; secret: string | Uint8Array; mutual?: { name: string; secret: string | Uint8Array; id: number; challenge: Uint8Array } };
  /** Offer CRC32C header and data digests (the target decides; default None only). */
  digests?: Digests;
  /** CmdSN of the Login Request and of the first command (any 32-bit value). */
  initialCmdSN?: number;
  /** What to offer for the write keys (default: InitialR2T=No, ImmediateData=Yes, INITIATOR_MAX_BURST_BYTES). */
  offer?: { initialR2T?: boolean; immediateData?: boolean; maxBurstBytes?: number; firstBurstBytes?: number };
}

/** What the session agreed with the target at login. */
export interface InitiatorParams {
  headerDigest: boolean;
  dataDigest: boolean;
  immediateData: boolean;
  initialR2T: boolean;
  /** Largest data segment the target accepts (its declaration). */
  targetMaxRecvDataSegmentBytes: number;
  maxBurstBytes: number;
  firstBurstBytes: number;
  tsih: number;
  /** AuthMethod that was used. */
  auth: 'None' | 'CHAP';
}

export type InitiatorAction =
  /** Bytes to write to the connection, in order (header, data, trailer of each PDU). */
  | { kind: 'send'; parts: Uint8Array[] }
  /** The login is over: commands may be submitted. */
  | { kind: 'ready'; params: InitiatorParams }
  /** A command's answer. */
  | { kind: 'complete'; id: number; result: ScsiResult }
  /** A command that has no answer (refused, rejected, or lost with the connection). */
  | { kind: 'fail'; id: number; error: VfabError }
  /** Close the connection (after the bytes before it): login failed, protocol error, or logout done. */
  | { kind: 'close'; reason: string; error?: VfabError };

export interface InitiatorCounters {
  /** PDUs from the target that broke the protocol (each closes the connection). */
  badPdus: number;
  rejects: number;
  nopPings: number;
  r2ts: number;
  dataInPdus: number;
  dataOutPdus: number;
  /** Commands that waited for the CmdSN window. */
  windowWaits: number;
}

type Phase = 'idle' | 'login' | 'full-feature' | 'logout' | 'closed';

interface Task {
  id: number;
  itt: number;
  cmd: ScsiCommand;
  cmdSN: number;
  edtl: number;
  write: boolean;
  /** Data-In received so far (DataPDUInOrder: in offset order). */
  chunks: Uint8Array[];
  received: number;
  /** Data-In bytes this task counts against INITIATOR_MAX_BUFFERED_BYTES. */
  buffered: number;
}

const u32 = (n: number): number => n >>> 0;
const snLe = (a: number, b: number): boolean => a === b || snLt(a, b);
const EMPTY = new Uint8Array(0);

/** The keys of a Login Response by name (the initiator reads the ones it negotiated; TargetAlias and the like are ignored). */
function pairsToMap(pairs: readonly TextPair[]): Map<string, string> {
  return new Map(pairs.map((p) => [p.key, p.value]));
}

export class IscsiInitiator {
  readonly counters: InitiatorCounters = { badPdus: 0, rejects: 0, nopPings: 0, r2ts: 0, dataInPdus: 0, dataOutPdus: 0, windowWaits: 0 };
  private phase: Phase = 'idle';
  private readonly framer = new IscsiFramer({ maxDataSegmentBytes: DEFAULT_MAX_RECV_DATA_SEGMENT_BYTES });
  private digests: Digests = NO_DIGESTS;
  private cmdSN: number;
  private expCmdSN: number;
  private maxCmdSN: number;
  private expStatSN = 0;
  private nextItt = 1;
  private readonly tasks = new Map<number, Task>();
  /** Commands waiting for the CmdSN window, in submit order. */
  private readonly waiting: Task[] = [];
  private bufferedBytes = 0;
  private params: InitiatorParams | undefined;
  // login
  private loginStage: number = STAGE.SECURITY;
  private loginExchanges = 0;
  private readonly loginText = new TextAssembler();
  private readonly agreed = new Map<string, string>();
  private chapStep: 'none' | 'offered' | 'algorithm' | 'answered' = 'none';
  private tsih = 0;
  private logoutItt = RESERVED_TAG;
  private closeReason: string | undefined;

  constructor(private readonly cfg: InitiatorConfig) {
    if (cfg.isid.length !== 6) throw new RangeError(`ISID must be 6 bytes, got ${cfg.isid.length}`);
    this.cmdSN = u32(cfg.initialCmdSN ?? 1);
    this.expCmdSN = this.cmdSN;
    this.maxCmdSN = this.cmdSN;
  }

  get state(): Phase {
    return this.phase;
  }
  get agreedParams(): InitiatorParams | undefined {
    return this.params;
  }
  /** Commands sent and not answered, plus those waiting for the window. */
  get outstanding(): number {
    return this.tasks.size + this.waiting.length;
  }
  get dataInBufferedBytes(): number {
    return this.bufferedBytes;
  }
  get window(): { cmdSN: number; expCmdSN: number; maxCmdSN: number } {
    return { cmdSN: this.cmdSN, expCmdSN: this.expCmdSN, maxCmdSN: this.maxCmdSN };
  }
  get closedBecause(): string | undefined {
    return this.closeReason;
  }

  /** The first Login Request. */
  start(): InitiatorAction[] {
    if (this.phase !== 'idle') return [];
    this.phase = 'login';
    const out: InitiatorAction[] = [];
    const first: TextPair[] = [
      { key: 'InitiatorName', value: this.cfg.initiatorName },
      { key: 'TargetName', value: this.cfg.targetName },
      { key: 'SessionType', value: 'Normal' },
    ];
    if (this.cfg.chap) {
      this.chapStep = 'offered';
      this.loginRequest(out, STAGE.SECURITY, false, 0, [...first, { key: 'AuthMethod', value: 'CHAP' }]);
    } else {
      this.loginRequest(out, STAGE.SECURITY, true, STAGE.OPERATIONAL, [...first, { key: 'AuthMethod', value: 'None' }]);
    }
    return out;
  }

  /** Bytes read from the connection. */
  receive(chunk: Uint8Array): InitiatorAction[] {
    const out: InitiatorAction[] = [];
    if (this.phase === 'closed' || this.phase === 'idle') return out;
    this.framer.push(chunk, (e) => this.onEvent(e, out));
    return out;
  }

  /** Queues a SCSI command; its answer comes as a 'complete' (or 'fail') action with the same id. */
  submit(id: number, cmd: ScsiCommand): InitiatorAction[] {
    const out: InitiatorAction[] = [];
    if (this.phase !== 'full-feature') {
      out.push({ kind: 'fail', id, error: new VfabError(INITIATOR_ERROR.NOT_READY, `iSCSI session is ${this.phase}, not in the full feature phase`) });
      return out;
    }
    if (this.outstanding >= INITIATOR_MAX_OUTSTANDING) {
      out.push({ kind: 'fail', id, error: new VfabError(INITIATOR_ERROR.BUSY, `${INITIATOR_MAX_OUTSTANDING} commands outstanding (INITIATOR_MAX_OUTSTANDING)`) });
      return out;
    }
    const write = cmd.dataOut !== undefined && cmd.dataOut.length > 0;
    const edtl = write ? cmd.dataOut!.length : ISCSI_MAX_TRANSFER_BYTES;
    if (edtl > ISCSI_MAX_TRANSFER_BYTES) {
      out.push({ kind: 'fail', id, error: new VfabError(INITIATOR_ERROR.BUSY, `data-out of ${edtl} bytes exceeds ${ISCSI_MAX_TRANSFER_BYTES} (ISCSI_MAX_TRANSFER_BYTES)`) });
      return out;
    }
    const t: Task = { id, itt: 0, cmd, cmdSN: 0, edtl, write, chunks: [], received: 0, buffered: 0 };
    if (this.waiting.length > 0 || !snLe(this.cmdSN, this.maxCmdSN)) {
      this.counters.windowWaits++;
      this.waiting.push(t);
      return out;
    }
    this.sendCommand(t, out);
    return out;
  }

  /** Asks the target to close the session (§11.14); a 'close' action follows its answer. */
  logout(): InitiatorAction[] {
    const out: InitiatorAction[] = [];
    if (this.phase !== 'full-feature') return out;
    this.phase = 'logout';
    this.logoutItt = this.allocItt();
    this.send(out, makePdu(OPCODE.LOGOUT_REQUEST, { immediate: true, flags: FLAG.F | 0, itt: this.logoutItt, cid: 0, cmdSN: this.cmdSN, expStatSN: this.expStatSN }));
    return out;
  }

  /** The connection is gone: every command fails with `error` (the caller's disconnect error). */
  connectionLost(error: VfabError): InitiatorAction[] {
    const out: InitiatorAction[] = [];
    this.phase = 'closed';
    this.closeReason ??= error.message;
    const all = [...this.tasks.values(), ...this.waiting];
    this.tasks.clear();
    this.waiting.length = 0;
    this.bufferedBytes = 0;
    for (const t of all) out.push({ kind: 'fail', id: t.id, error });
    return out;
  }

  // ---- plumbing ---------------------------------------------------------------------------------------------

  private send(out: InitiatorAction[], pdu: Pdu): void {
    out.push({ kind: 'send', parts: emitPduParts(pdu, this.digests) });
  }

  private close(out: InitiatorAction[], reason: string, error?: VfabError): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.closeReason = reason;
    out.push(error ? { kind: 'close', reason, error } : { kind: 'close', reason });
  }

  private protocolError(out: InitiatorAction[], message: string): void {
    this.counters.badPdus++;
    this.close(out, 'protocol-error', new VfabError(INITIATOR_ERROR.PROTOCOL, `iSCSI target broke the protocol: ${message}`));
  }

  private allocItt(): number {
    let itt = this.nextItt;
    while (itt === RESERVED_TAG || this.tasks.has(itt) || itt === this.logoutItt) itt = u32(itt + 1);
    this.nextItt = u32(itt + 1);
    return itt;
  }

  private onEvent(e: FramerEvent, out: InitiatorAction[]): void {
    if (this.phase === 'closed') return;
    if (e.type === 'fatal') return this.protocolError(out, `${e.error.code}: ${e.error.message}`);
    if (e.type === 'bad-pdu') return this.protocolError(out, `${e.error.code}: ${e.error.message}`);
    const pdu = e.pdu;
    if (pdu.opcode < 0x20) return this.protocolError(out, `initiator opcode 0x${pdu.opcode.toString(16)} from the target`);
    if (this.phase === 'login') {
      if (pdu.opcode !== OPCODE.LOGIN_RESPONSE) return this.protocolError(out, `opcode 0x${pdu.opcode.toString(16)} during login`);
      return this.loginResponse(pdu, out);
    }
    this.fullFeature(pdu, out);
  }

  // ---- login ------------------------------------------------------------------------------------------------

  private loginRequest(out: InitiatorAction[], csg: number, transit: boolean, nsg: number, pairs: TextPair[]): void {
    this.loginStage = csg;
    this.send(
      out,
      makePdu(OPCODE.LOGIN_REQUEST, {
        immediate: true,
        flags: loginFlags(transit, false, csg, nsg),
        versionMax: ISCSI_VERSION,
        versionMin: ISCSI_VERSION,
        isid: this.cfg.isid,
        tsih: 0,
        itt: 0,
        cid: 0,
        cmdSN: this.cmdSN,
        expStatSN: this.expStatSN,
        data: pairs.length > 0 ? encodeText(pairs) : EMPTY,
      }),
    );
  }

  private operationalKeys(): TextPair[] {
    const dig = (on: boolean | undefined): string => (on ? 'CRC32C,None' : 'None');
    const o = this.cfg.offer ?? {};
    const yn = (b: boolean): string => (b ? 'Yes' : 'No');
    return [
      { key: 'HeaderDigest', value: dig(this.cfg.digests?.header) },
      { key: 'DataDigest', value: dig(this.cfg.digests?.data) },
      { key: 'InitialR2T', value: yn(o.initialR2T ?? false) },
      { key: 'ImmediateData', value: yn(o.immediateData ?? true) },
      { key: 'MaxBurstLength', value: String(this.maxBurstOffer) },
      { key: 'FirstBurstLength', value: String(Math.min(o.firstBurstBytes ?? INITIATOR_FIRST_BURST_BYTES, this.maxBurstOffer)) },
      { key: 'DefaultTime2Wait', value: '2' },
      { key: 'DefaultTime2Retain', value: '0' },
      { key: 'MaxOutstandingR2T', value: '1' },
      { key: 'ErrorRecoveryLevel', value: '0' },
      { key: 'MaxConnections', value: '1' },
      { key: 'DataPDUInOrder', value: 'Yes' },
      { key: 'DataSequenceInOrder', value: 'Yes' },
      { key: 'MaxRecvDataSegmentLength', value: String(INITIATOR_MAX_RECV_DATA_SEGMENT_BYTES) },
    ];
  }

  private get maxBurstOffer(): number {
    return Math.min(this.cfg.offer?.maxBurstBytes ?? INITIATOR_MAX_BURST_BYTES, INITIATOR_MAX_BURST_BYTES);
  }

  private loginFail(out: InitiatorAction[], message: string, status?: number): void {
    const details = status === undefined ? undefined : { statusClass: status >> 8, statusDetail: status & 0xff };
    this.close(out, 'login-failed', new VfabError(INITIATOR_ERROR.LOGIN_FAILED, `iSCSI login to ${this.cfg.targetName} failed: ${message}`, details));
  }

  private loginResponse(pdu: PduOf<typeof OPCODE.LOGIN_RESPONSE>, out: InitiatorAction[]): void {
    if (++this.loginExchanges > INITIATOR_MAX_LOGIN_EXCHANGES) return this.loginFail(out, `more than ${INITIATOR_MAX_LOGIN_EXCHANGES} login exchanges (INITIATOR_MAX_LOGIN_EXCHANGES)`);
    const status = (pdu.statusClass << 8) | pdu.statusDetail;
    if (status !== LOGIN_STATUS.SUCCESS) return this.loginFail(out, `status class ${pdu.statusClass} detail ${pdu.statusDetail} (0x${status.toString(16).padStart(4, '0')})`, status);
    const st = loginStages(pdu.flags);
    if (st.csg !== this.loginStage) return this.protocolError(out, `Login Response for stage ${st.csg} while the login is in stage ${this.loginStage}`);
    this.expStatSN = u32(pdu.statSN + 1);
    this.updateWindow(pdu.expCmdSN, pdu.maxCmdSN);
    const text = this.loginText.add(pdu.data, st.cont);
    if (!text.ok) return this.loginFail(out, `bad login text: ${text.error.message}`);
    if (text.value === undefined) {
      // More text to come: an empty request asks for it (§6.1).
      this.loginRequest(out, this.loginStage, false, 0, []);
      return;
    }
    const answers = pairsToMap(text.value);
    for (const [k, v] of answers) this.agreed.set(k, v);
    if (this.loginStage === STAGE.SECURITY) return this.securityStep(answers, st.transit, st.nsg, out);
    // Operational stage: the target either moves to full feature or waits for more (T=0).
    if (st.transit && st.nsg === STAGE.FULL_FEATURE) {
      this.tsih = pdu.tsih;
      return this.enterFullFeature(out);
    }
    if (this.loginStage === STAGE.OPERATIONAL && st.transit) return this.protocolError(out, `Login Response moves to stage ${st.nsg}`);
    this.loginRequest(out, STAGE.OPERATIONAL, true, STAGE.FULL_FEATURE, []);
  }

  private securityStep(answers: Map<string, string>, transit: boolean, nsg: number, out: InitiatorAction[]): void {
    const auth = this.agreed.get('AuthMethod');
    if (this.cfg.chap) {
      if (auth !== 'CHAP') return this.loginFail(out, `target answered AuthMethod=${auth ?? '(nothing)'} to AuthMethod=CHAP`);
      if (this.chapStep === 'offered') {
        this.chapStep = 'algorithm';
        return this.loginRequest(out, STAGE.SECURITY, false, 0, [{ key: 'CHAP_A', value: String(CHAP_ALGORITHM_MD5) }]);
      }
      if (this.chapStep === 'algorithm') {
        if (answers.get('CHAP_A') !== String(CHAP_ALGORITHM_MD5)) return this.loginFail(out, `target chose CHAP_A=${answers.get('CHAP_A') ?? '(nothing)'}, not MD5 (5)`);
        const id = parseNumber(answers.get('CHAP_I') ?? '');
        const challenge = decodeBinary(answers.get('CHAP_C') ?? '');
        if (id === undefined || id > 255 || challenge === undefined) return this.loginFail(out, 'target sent no valid CHAP_I and CHAP_C');
        this.chapStep = 'answered';
        const response = chapResponse(id, this.cfg.chap.secret, challenge);
        const m = this.cfg.chap.mutual;
        return this.loginRequest(out, STAGE.SECURITY, true, STAGE.OPERATIONAL, [
          { key: 'CHAP_N', value: this.cfg.chap.name },
          { key: 'CHAP_R', value: encodeBinary(response) },
          ...(m ? [{ key: 'CHAP_I', value: String(m.id & 0xff) }, { key: 'CHAP_C', value: encodeBinary(m.challenge) }] : []),
        ]);
      }
      const m = this.cfg.chap.mutual;
      if (m) {
        // Mutual CHAP: the target proves it knows the mutual secret (RFC 7143 §12.1.3).
        const got = decodeBinary(answers.get('CHAP_R') ?? '');
        const want = chapResponse(m.id & 0xff, m.secret, m.challenge);
        if (answers.get('CHAP_N') !== m.name || got === undefined || !got.equals(want)) return this.loginFail(out, 'the target did not prove itself (mutual CHAP: wrong or missing CHAP_N/CHAP_R)');
      }
    } else if (auth !== undefined && auth !== 'None') {
      return this.loginFail(out, `target asks for AuthMethod=${auth}; no credentials configured`);
    }
    if (!transit) {
      // The target stays in the security stage without asking anything: ask again to move on.
      if (this.cfg.chap && this.chapStep !== 'answered') return this.loginFail(out, 'CHAP exchange out of step');
      return this.loginRequest(out, STAGE.SECURITY, true, STAGE.OPERATIONAL, []);
    }
    if (nsg === STAGE.FULL_FEATURE) return this.loginFail(out, 'target skipped the operational stage');
    this.loginRequest(out, STAGE.OPERATIONAL, true, STAGE.FULL_FEATURE, this.operationalKeys());
  }

  private enterFullFeature(out: InitiatorAction[]): void {
    const a = this.agreed;
    const num = (k: string, dflt: number): number => {
      const n = parseNumber(a.get(k) ?? '');
      return n === undefined ? dflt : n;
    };
    const yes = (k: string, dflt: boolean): boolean => (a.has(k) ? a.get(k) === 'Yes' : dflt);
    const maxBurst = Math.min(num('MaxBurstLength', 262144), this.maxBurstOffer);
    const p: InitiatorParams = {
      headerDigest: a.get('HeaderDigest') === 'CRC32C',
      dataDigest: a.get('DataDigest') === 'CRC32C',
      immediateData: yes('ImmediateData', true),
      initialR2T: yes('InitialR2T', true),
      targetMaxRecvDataSegmentBytes: Math.max(512, num('MaxRecvDataSegmentLength', DEFAULT_MAX_RECV_DATA_SEGMENT_BYTES)),
      maxBurstBytes: Math.max(512, maxBurst),
      firstBurstBytes: Math.max(512, Math.min(num('FirstBurstLength', 65536), INITIATOR_FIRST_BURST_BYTES, maxBurst)),
      tsih: this.tsih,
      auth: this.cfg.chap ? 'CHAP' : 'None',
    };
    if ((p.headerDigest && !this.cfg.digests?.header) || (p.dataDigest && !this.cfg.digests?.data)) return this.loginFail(out, 'target chose a digest that was not offered');
    this.params = p;
    this.digests = { header: p.headerDigest, data: p.dataDigest };
    this.framer.configure({ digests: this.digests, maxDataSegmentBytes: INITIATOR_MAX_RECV_DATA_SEGMENT_BYTES });
    this.phase = 'full-feature';
    out.push({ kind: 'ready', params: p });
  }

  // ---- full feature phase -----------------------------------------------------------------------------------

  /** §4.2.2.1: a MaxCmdSN below ExpCmdSN - 1 is ignored; otherwise each only moves forward. */
  private updateWindow(expCmdSN: number, maxCmdSN: number): void {
    if (snLt(maxCmdSN, u32(expCmdSN - 1))) return;
    if (snLt(this.expCmdSN, expCmdSN)) this.expCmdSN = expCmdSN;
    if (snLt(this.maxCmdSN, maxCmdSN)) this.maxCmdSN = maxCmdSN;
  }

  private sendWaiting(out: InitiatorAction[]): void {
    while (this.phase === 'full-feature' && this.waiting.length > 0 && snLe(this.cmdSN, this.maxCmdSN)) {
      const t = this.waiting.shift()!;
      if (t.cmd.aborted === true) {
        out.push({ kind: 'complete', id: t.id, result: { status: SCSI_STATUS.TASK_ABORTED } });
        continue;
      }
      this.sendCommand(t, out);
    }
  }

  private sendCommand(t: Task, out: InitiatorAction[]): void {
    const p = this.params!;
    t.itt = this.allocItt();
    t.cmdSN = this.cmdSN;
    this.cmdSN = u32(this.cmdSN + 1);
    this.tasks.set(t.itt, t);
    const cdb = t.cmd.cdb;
    const bhsCdb = new Uint8Array(BHS_CDB_BYTES);
    bhsCdb.set(cdb.subarray(0, BHS_CDB_BYTES));
    const ahs =
      cdb.length > BHS_CDB_BYTES
        ? buildAhs([{ type: AHS_TYPE.EXTENDED_CDB, specific: Uint8Array.from([0, ...cdb.subarray(BHS_CDB_BYTES)]) }])
        : EMPTY;
    const data = t.write ? t.cmd.dataOut! : EMPTY;
    const firstBurst = t.write && !p.initialR2T ? Math.min(data.length, p.firstBurstBytes) : 0;
    const immBytes = t.write && p.immediateData ? Math.min(data.length, p.firstBurstBytes, p.targetMaxRecvDataSegmentBytes) : 0;
    const unsolicitedFollows = firstBurst > immBytes;
    const flags = (unsolicitedFollows ? 0 : FLAG.F) | (t.write ? FLAG.WRITE : FLAG.READ) | ATTR_SIMPLE;
    this.send(
      out,
      // Every field given (no makePdu defaults to build and spread): this is the per-command hot path.
      {
        opcode: OPCODE.SCSI_COMMAND,
        immediate: false,
        flags,
        itt: t.itt,
        lun: encodeLun(t.cmd.lun),
        expectedDataTransferLength: t.edtl,
        cmdSN: t.cmdSN,
        expStatSN: this.expStatSN,
        cdb: bhsCdb,
        ahs,
        data: data.subarray(0, immBytes),
      },
    );
    if (unsolicitedFollows) this.sendDataOut(t, RESERVED_TAG, immBytes, firstBurst, out);
  }

  /** Data-Out PDUs for bytes [from, to) of a write, at most the target's MaxRecvDataSegmentLength each. */
  private sendDataOut(t: Task, ttt: number, from: number, to: number, out: InitiatorAction[]): void {
    const seg = this.params!.targetMaxRecvDataSegmentBytes;
    const data = t.cmd.dataOut!;
    let dataSN = 0;
    for (let off = from; off < to; off += seg) {
      const end = Math.min(to, off + seg);
      this.counters.dataOutPdus++;
      this.send(
        out,
        {
          opcode: OPCODE.DATA_OUT,
          immediate: false,
          flags: end === to ? FLAG.F : 0,
          itt: t.itt,
          lun: encodeLun(t.cmd.lun),
          ttt,
          expStatSN: this.expStatSN,
          dataSN: dataSN++,
          bufferOffset: off,
          ahs: EMPTY,
          data: data.subarray(off, end),
        },
      );
    }
  }

  private fullFeature(pdu: Pdu, out: InitiatorAction[]): void {
    if ('expCmdSN' in pdu && 'maxCmdSN' in pdu) this.updateWindow(pdu.expCmdSN, pdu.maxCmdSN);
    switch (pdu.opcode) {
      case OPCODE.DATA_IN:
        this.dataIn(pdu, out);
        break;
      case OPCODE.SCSI_RESPONSE:
        this.scsiResponse(pdu, out);
        break;
      case OPCODE.R2T:
        this.r2t(pdu, out);
        break;
      case OPCODE.NOP_IN:
        this.nopIn(pdu, out);
        break;
      case OPCODE.REJECT:
        this.reject(pdu, out);
        break;
      case OPCODE.LOGOUT_RESPONSE:
        if (pdu.itt !== this.logoutItt) return this.protocolError(out, `Logout Response for ITT 0x${pdu.itt.toString(16)}, no logout pending`);
        this.expStatSN = u32(pdu.statSN + 1);
        this.close(out, 'logout');
        return;
      case OPCODE.ASYNC_MESSAGE:
        // Event 1 (the target asks for a logout) and the others: noted by the StatSN only; the target
        // closes the connection when it must, and the caller's path logic takes over.
        this.expStatSN = u32(pdu.statSN + 1);
        break;
      case OPCODE.LOGIN_RESPONSE:
        return this.protocolError(out, 'Login Response in the full feature phase');
      default:
        // Task Management and Text responses answer requests this initiator never sends.
        return this.protocolError(out, `unexpected opcode 0x${pdu.opcode.toString(16)}`);
    }
    this.sendWaiting(out);
  }

  private taskFor(itt: number, what: string, out: InitiatorAction[]): Task | undefined {
    const t = this.tasks.get(itt);
    if (t === undefined) this.protocolError(out, `${what} for ITT 0x${itt.toString(16)}, no such command`);
    return t;
  }

  private dataIn(pdu: PduOf<typeof OPCODE.DATA_IN>, out: InitiatorAction[]): void {
    const t = this.taskFor(pdu.itt, 'Data-In', out);
    if (t === undefined) return;
    this.counters.dataInPdus++;
    const len = pdu.data.length;
    if (t.write && len > 0) return this.protocolError(out, `Data-In for write ITT 0x${pdu.itt.toString(16)}`);
    if (pdu.bufferOffset !== t.received) return this.protocolError(out, `Data-In at offset ${pdu.bufferOffset}, expected ${t.received} (DataPDUInOrder=Yes)`);
    if (t.received + len > t.edtl) return this.protocolError(out, `Data-In beyond the expected ${t.edtl} bytes`);
    if (this.bufferedBytes + len > INITIATOR_MAX_BUFFERED_BYTES) return this.protocolError(out, `more than ${INITIATOR_MAX_BUFFERED_BYTES} bytes of Data-In held (INITIATOR_MAX_BUFFERED_BYTES)`);
    if (len > 0) {
      // The PDU may be a view of the framer's chunk: copy what is kept.
      t.chunks.push(Uint8Array.prototype.slice.call(pdu.data));
      t.received += len;
      t.buffered += len;
      this.bufferedBytes += len;
    }
    if ((pdu.flags & FLAG.STATUS) === 0) return;
    if ((pdu.flags & FLAG.F) === 0) return this.protocolError(out, 'Data-In with S but without F');
    this.expStatSN = u32(pdu.statSN + 1);
    this.finish(t, { status: pdu.status as ScsiResult['status'] }, out);
  }

  private scsiResponse(pdu: PduOf<typeof OPCODE.SCSI_RESPONSE>, out: InitiatorAction[]): void {
    const t = this.taskFor(pdu.itt, 'SCSI Response', out);
    if (t === undefined) return;
    this.expStatSN = u32(pdu.statSN + 1);
    if (pdu.response !== 0) {
      // iSCSI response "target failure" (§11.4.3): the command did not complete at the SCSI level.
      this.release(t);
      out.push({ kind: 'fail', id: t.id, error: new VfabError(INITIATOR_ERROR.REJECTED, `target failure (iSCSI response 0x${pdu.response.toString(16)})`, { response: pdu.response }) });
      return;
    }
    const result: ScsiResult = { status: pdu.status as ScsiResult['status'] };
    if (pdu.data.length >= 2) {
      const senseLength = (pdu.data[0] << 8) | pdu.data[1];
      if (2 + senseLength > pdu.data.length) return this.protocolError(out, `SenseLength ${senseLength} beyond the ${pdu.data.length - 2} bytes sent`);
      if (senseLength > 0) result.sense = senseOf(pdu.data.subarray(2, 2 + senseLength));
    }
    if (t.write) {
      if (pdu.flags & FLAG.OVERFLOW) result.dataOutWanted = t.edtl + pdu.residualCount;
      else if (pdu.flags & FLAG.UNDERFLOW) result.dataOutWanted = Math.max(0, t.edtl - pdu.residualCount);
    }
    if (result.status === SCSI_STATUS.CHECK_CONDITION && result.sense === undefined) result.sense = { key: SENSE_KEY.NO_SENSE, asc: 0, ascq: 0 };
    this.finish(t, result, out);
  }

  private finish(t: Task, result: ScsiResult, out: InitiatorAction[]): void {
    this.release(t);
    if (t.received > 0) result.dataIn = t.chunks.length === 1 ? t.chunks[0]! : concat(t.chunks, t.received);
    out.push({ kind: 'complete', id: t.id, result });
  }

  private release(t: Task): void {
    this.tasks.delete(t.itt);
    this.bufferedBytes -= t.buffered;
    t.buffered = 0;
  }

  private r2t(pdu: PduOf<typeof OPCODE.R2T>, out: InitiatorAction[]): void {
    const t = this.taskFor(pdu.itt, 'R2T', out);
    if (t === undefined) return;
    this.counters.r2ts++;
    const end = pdu.bufferOffset + pdu.desiredDataTransferLength;
    if (!t.write || pdu.desiredDataTransferLength === 0 || end > t.edtl || pdu.desiredDataTransferLength > this.params!.maxBurstBytes) {
      return this.protocolError(out, `R2T for bytes ${pdu.bufferOffset}..${end} of a ${t.write ? `${t.edtl}-byte write` : 'read'}`);
    }
    this.sendDataOut(t, pdu.ttt, pdu.bufferOffset, end, out);
  }

  private nopIn(pdu: PduOf<typeof OPCODE.NOP_IN>, out: InitiatorAction[]): void {
    if (pdu.ttt === RESERVED_TAG) return; // an answer to a ping of ours (none are sent) or an unsolicited notice
    this.counters.nopPings++;
    // A ping from the target (§11.19): answer with its TTT, ITT reserved, immediate, CmdSN not advanced.
    this.send(out, makePdu(OPCODE.NOP_OUT, { immediate: true, flags: FLAG.F, itt: RESERVED_TAG, ttt: pdu.ttt, lun: pdu.lun, cmdSN: this.cmdSN, expStatSN: this.expStatSN }));
  }

  private reject(pdu: PduOf<typeof OPCODE.REJECT>, out: InitiatorAction[]): void {
    this.counters.rejects++;
    this.expStatSN = u32(pdu.statSN + 1);
    if (pdu.data.length < 48) return this.protocolError(out, 'Reject without the rejected header');
    const itt = ((pdu.data[16] << 24) | (pdu.data[17] << 16) | (pdu.data[18] << 8) | pdu.data[19]) >>> 0;
    const t = this.tasks.get(itt);
    if (t === undefined) return; // a rejected Data-Out or NOP-Out: the command's own status still comes
    // ERL 0: a rejected command never gets a status; its CmdSN slot was still used (§11.17.2... the target
    // answers it with a Reject instead).
    this.release(t);
    out.push({ kind: 'fail', id: t.id, error: new VfabError(INITIATOR_ERROR.REJECTED, `target rejected the command (reason 0x${pdu.reason.toString(16)})`, { reason: pdu.reason }) });
  }
}

function concat(chunks: Uint8Array[], total: number): Buffer {
  return Buffer.concat(chunks, total);
}

function senseOf(bytes: Uint8Array): Sense {
  const s = parseFixedSense(bytes);
  return s.ok ? s.value : { key: SENSE_KEY.HARDWARE_ERROR, asc: 0x44, ascq: 0 };
}
