// Login and text parameter negotiation of an iSCSI target (RFC 7143 §6 and §13) and the login stage
// machine (§6.3, §11.12, §11.13). Covers: the keys real initiators send (libiscsi, open-iscsi) with their
// kind (declarative, list, numeric minimum/maximum, boolean AND/OR), where they may appear (login only,
// leading connection, full feature phase only, security stage), the answers NotUnderstood, Irrelevant and
// Reject, duplicates (§6.2: a key is declared or negotiated once per login); the target's own values and
// limits as named constants; the login as a pure decision function from one Login Request to the Login
// Response to send (CSG/NSG/T/C transitions, ISID, TSIH, version, status class and detail); and the
// SendTargets answer of a Discovery session (§13.3, Appendix C of RFC 7143); access: an initiator ACL (the
// caller's `allow`, §11.13.5 authorization failure) and CHAP in the security stage (§12.1.3, RFC 1994: MD5,
// one-way or mutual, the challenge from randomness the caller passes in; every CHAP failure is status
// 0x0201 with a reason code). Leaves out SRP and Kerberos, CHAP algorithms other than MD5, several
// connections per session (MaxConnections 1), session reinstatement, error recovery levels above 0, and the
// sockets and timers (the portal in stored, daemons/storage/iscsi-portal.ts).

import { VfabError } from '../errors.js';
import { FLAG, LOGIN_STATUS, OPCODE, STAGE, loginFlags, loginStages, makePdu, type PduOf } from './pdu.js';
import { TextAssembler, encodeText, type TextPair } from './text.js';
import {
  CHAP_ALGORITHM_MD5, CHAP_CHALLENGE_BYTES, CHAP_MAX_IDENTIFIER, CHAP_MD5_RESPONSE_BYTES, chapResponse, chapResponseMatches, decodeBinary,
  encodeBinary, type ChapTargetConfig,
} from './chap.js';

// ---- the target's values and limits -------------------------------------------------------------------

/** What the target declares as its MaxRecvDataSegmentLength (bytes of data per PDU it accepts). */
export const TARGET_MAX_RECV_DATA_SEGMENT_BYTES = 256 * 1024;
/** The MaxRecvDataSegmentLength both sides use until one declares another, and during login (§13.12). */
export const DEFAULT_MAX_RECV_DATA_SEGMENT_BYTES = 8192;
/** Largest burst (R2T or Data-In sequence) the target agrees to. */
export const TARGET_MAX_BURST_BYTES = 1024 * 1024;
/** Largest unsolicited (immediate + first burst) data the target agrees to. */
export const TARGET_FIRST_BURST_BYTES = 256 * 1024;
/** R2Ts the target keeps outstanding per task. */
export const TARGET_MAX_OUTSTANDING_R2T = 1;
/** Seconds, offered for DefaultTime2Wait (result: maximum). */
export const TARGET_DEFAULT_TIME2WAIT_S = 2;
/** Seconds, offered for DefaultTime2Retain (result: minimum); 0: no task survives its connection (ERL 0). */
export const TARGET_DEFAULT_TIME2RETAIN_S = 0;
/** Commands the target lets an initiator have outstanding (MaxCmdSN - ExpCmdSN + 1). */
export const TARGET_CMD_WINDOW = 64;
/** Login Requests accepted in one login before it is refused (a login that goes round in circles). */
export const LOGIN_MAX_EXCHANGES = 32;
/** iSCSI names are at most 223 bytes (§4.2.7.1). */
export const ISCSI_NAME_MAX_BYTES = 223;
/** The only protocol version there is (§11.12.4). */
export const ISCSI_VERSION = 0x00;
export { ISCSI_DEFAULT_PORT } from './well-known.js';

// ---- key table ----------------------------------------------------------------------------------------

export type KeyKind = 'declarative' | 'list' | 'min' | 'max' | 'and' | 'or';
/** Where a key may appear (§13): login only, login of the leading connection, login and full feature, full feature only. */
export type KeyUse = 'IO' | 'LO' | 'ALL' | 'FFPO';

export interface KeyDef {
  kind: KeyKind;
  use: KeyUse;
  /** Who may send it: a target-only key sent by an initiator is answered Reject. */
  from: 'initiator' | 'target' | 'both';
  /** Keys that belong to the security stage (only there). */
  security?: boolean;
  /** Numeric range, inclusive. */
  range?: readonly [number, number];
  /** List keys: the values the target accepts; boolean keys: the target's value. Numeric: the target's value. */
  target?: readonly string[] | string | number;
  /** Value in force when the key is not negotiated. */
  default?: string;
  /** Answered Irrelevant in a Discovery session. */
  discoveryIrrelevant?: boolean;
  /** A constant answer (keys RFC 7143 §13 lists as obsolete). */
  constant?: string;
}

const MAX_24 = 0xffffff;

export const KEYS: Readonly<Record<string, KeyDef>> = {
  HeaderDigest: { kind: 'list', use: 'IO', from: 'both', target: ['CRC32C', 'None'], default: 'None' },
  DataDigest: { kind: 'list', use: 'IO', from: 'both', target: ['CRC32C', 'None'], default: 'None' },
  MaxConnections: { kind: 'min', use: 'LO', from: 'both', range: [1, 65535], target: 1, default: '1', discoveryIrrelevant: true },
  SendTargets: { kind: 'declarative', use: 'FFPO', from: 'initiator' },
  TargetName: { kind: 'declarative', use: 'IO', from: 'initiator' },
  InitiatorName: { kind: 'declarative', use: 'IO', from: 'initiator' },
  TargetAlias: { kind: 'declarative', use: 'ALL', from: 'target' },
  InitiatorAlias: { kind: 'declarative', use: 'ALL', from: 'initiator' },
  TargetAddress: { kind: 'declarative', use: 'ALL', from: 'target' },
  TargetPortalGroupTag: { kind: 'declarative', use: 'IO', from: 'target' },
  InitialR2T: { kind: 'or', use: 'LO', from: 'both', target: 'No', default: 'Yes', discoveryIrrelevant: true },
  ImmediateData: { kind: 'and', use: 'LO', from: 'both', target: 'Yes', default: 'Yes', discoveryIrrelevant: true },
  MaxRecvDataSegmentLength: { kind: 'declarative', use: 'ALL', from: 'both', range: [512, MAX_24], default: String(DEFAULT_MAX_RECV_DATA_SEGMENT_BYTES) },
  MaxBurstLength: { kind: 'min', use: 'LO', from: 'both', range: [512, MAX_24], target: TARGET_MAX_BURST_BYTES, default: '262144', discoveryIrrelevant: true },
  FirstBurstLength: { kind: 'min', use: 'LO', from: 'both', range: [512, MAX_24], target: TARGET_FIRST_BURST_BYTES, default: '65536', discoveryIrrelevant: true },
  DefaultTime2Wait: { kind: 'max', use: 'LO', from: 'both', range: [0, 3600], target: TARGET_DEFAULT_TIME2WAIT_S, default: '2' },
  DefaultTime2Retain: { kind: 'min', use: 'LO', from: 'both', range: [0, 3600], target: TARGET_DEFAULT_TIME2RETAIN_S, default: '20' },
  MaxOutstandingR2T: { kind: 'min', use: 'LO', from: 'both', range: [1, 65535], target: TARGET_MAX_OUTSTANDING_R2T, default: '1', discoveryIrrelevant: true },
  DataPDUInOrder: { kind: 'or', use: 'LO', from: 'both', target: 'Yes', default: 'Yes', discoveryIrrelevant: true },
  DataSequenceInOrder: { kind: 'or', use: 'LO', from: 'both', target: 'Yes', default: 'Yes', discoveryIrrelevant: true },
  ErrorRecoveryLevel: { kind: 'min', use: 'LO', from: 'both', range: [0, 2], target: 0, default: '0' },
  SessionType: { kind: 'declarative', use: 'LO', from: 'initiator', default: 'Normal' },
  AuthMethod: { kind: 'list', use: 'IO', from: 'both', security: true, target: ['None'], default: 'None' },
  TaskReporting: { kind: 'list', use: 'LO', from: 'both', target: ['RFC3720'], default: 'RFC3720' },
  iSCSIProtocolLevel: { kind: 'min', use: 'LO', from: 'both', range: [0, 31], target: 1, default: '1' },
  // RFC 7145 (iSER) key libiscsi may send; vfab serves TCP only.
  RDMAExtensions: { kind: 'and', use: 'LO', from: 'both', target: 'No', default: 'No' },
  // Marker keys of RFC 3720, obsolete in RFC 7143 (§13); libiscsi still sends IFMarker/OFMarker.
  IFMarker: { kind: 'and', use: 'IO', from: 'both', constant: 'No' },
  OFMarker: { kind: 'and', use: 'IO', from: 'both', constant: 'No' },
  IFMarkInt: { kind: 'declarative', use: 'IO', from: 'both', constant: 'Reject' },
  OFMarkInt: { kind: 'declarative', use: 'IO', from: 'both', constant: 'Reject' },
};

export const ANSWER = { NOT_UNDERSTOOD: 'NotUnderstood', IRRELEVANT: 'Irrelevant', REJECT: 'Reject' } as const;
const ANSWER_VALUES: ReadonlySet<string> = new Set(Object.values(ANSWER));

/** Parses a numeric value: decimal, or hexadecimal with 0x (§6.1 numerical values). */
export function parseNumber(v: string): number | undefined {
  if (/^[0-9]{1,10}$/.test(v)) return Number(v);
  if (/^0[xX][0-9a-fA-F]{1,8}$/.test(v)) return parseInt(v.slice(2), 16);
  return undefined;
}

/** Where the exchange happens: which login stage, or the full feature phase (Text Requests). */
export type Phase = 'security' | 'operational' | 'full-feature';

export interface NegotiationContext {
  phase: Phase;
  sessionType: 'Normal' | 'Discovery';
  /** Keys already declared or negotiated in this login (duplicates are an initiator error). */
  seen: Set<string>;
  /** Agreed values so far (key -> value). */
  agreed: Map<string, string>;
  /** The AuthMethod values the target takes (default: None only). */
  authMethods?: readonly string[];
}

export interface NegotiationResult {
  answers: TextPair[];
  /** Set when the exchange breaks a MUST of §6: the login fails with this status. */
  failure?: { status: number; reason: string };
}

/** Answers the initiator's keys of one exchange and records what was agreed in `ctx.agreed`. */
export function negotiate(pairs: readonly TextPair[], ctx: NegotiationContext): NegotiationResult {
  const answers: TextPair[] = [];
  const failWith = (status: number, reason: string): NegotiationResult => ({ answers, failure: { status, reason } });
  for (const { key, value } of pairs) {
    const def = Object.hasOwn(KEYS, key) ? KEYS[key] : undefined;
    if (!def) {
      answers.push({ key, value: ANSWER.NOT_UNDERSTOOD });
      continue;
    }
    if (ctx.phase !== 'full-feature') {
      if (ctx.seen.has(key)) return failWith(LOGIN_STATUS.INITIATOR_ERROR, `${key} sent twice in one login (§6.2)`);
      ctx.seen.add(key);
    }
    // An answer word offered as a value answers nothing the target asked: nothing to say.
    if (ANSWER_VALUES.has(value)) continue;
    if (def.security && ctx.phase !== 'security') return failWith(LOGIN_STATUS.INITIATOR_ERROR, `${key} outside the security stage`);
    if (def.from === 'target') {
      answers.push({ key, value: ANSWER.REJECT });
      continue;
    }
    const inLogin = ctx.phase !== 'full-feature';
    if ((def.use === 'FFPO' && inLogin) || ((def.use === 'IO' || def.use === 'LO') && !inLogin)) {
      answers.push({ key, value: ANSWER.REJECT });
      continue;
    }
    if (def.constant !== undefined) {
      answers.push({ key, value: def.constant });
      continue;
    }
    if (def.discoveryIrrelevant && ctx.sessionType === 'Discovery') {
      answers.push({ key, value: ANSWER.IRRELEVANT });
      continue;
    }
    const answer = answerOne(value, key === 'AuthMethod' && ctx.authMethods ? { ...def, target: ctx.authMethods } : def);
    if (answer === undefined) {
      ctx.agreed.set(key, value); // declarative: no answer
      continue;
    }
    if (answer !== ANSWER.REJECT) ctx.agreed.set(key, answer);
    answers.push({ key, value: answer });
  }
  // FirstBurstLength never exceeds MaxBurstLength (§13.14), whichever order they came in.
  const first = answers.find((a) => a.key === 'FirstBurstLength');
  const maxBurst = Number(ctx.agreed.get('MaxBurstLength') ?? KEYS.MaxBurstLength.default);
  if (first && first.value !== ANSWER.REJECT && first.value !== ANSWER.IRRELEVANT && Number(first.value) > maxBurst) {
    first.value = String(maxBurst);
    ctx.agreed.set('FirstBurstLength', first.value);
  }
  return { answers };
}

/** The answer to one key, undefined for a valid declaration (no answer), Reject for a bad value. */
function answerOne(value: string, def: KeyDef): string | undefined {
  switch (def.kind) {
    case 'declarative': {
      if (def.range) {
        const n = parseNumber(value);
        return n !== undefined && n >= def.range[0] && n <= def.range[1] ? undefined : ANSWER.REJECT;
      }
      return undefined;
    }
    case 'list': {
      const ours = def.target as readonly string[];
      const pick = value.split(',').find((v) => ours.includes(v));
      return pick ?? ANSWER.REJECT;
    }
    case 'min':
    case 'max': {
      const n = parseNumber(value);
      const [lo, hi] = def.range!;
      if (n === undefined || n < lo || n > hi) return ANSWER.REJECT;
      const ours = def.target as number;
      return String(def.kind === 'min' ? Math.min(n, ours) : Math.max(n, ours));
    }
    default: {
      if (value !== 'Yes' && value !== 'No') return ANSWER.REJECT;
      const ours = def.target === 'Yes';
      const theirs = value === 'Yes';
      return (def.kind === 'and' ? theirs && ours : theirs || ours) ? 'Yes' : 'No';
    }
  }
}

/** The parameters a session runs with once login is over (defaults where nothing was negotiated). */
export interface SessionParams {
  sessionType: 'Normal' | 'Discovery';
  initiatorName: string;
  initiatorAlias: string | undefined;
  targetName: string | undefined;
  headerDigest: boolean;
  dataDigest: boolean;
  /** Largest data segment the target may send to the initiator (the initiator's declaration). */
  initiatorMaxRecvDataSegmentBytes: number;
  /** Largest data segment the target accepts (its declaration if it made one, else the default). */
  targetMaxRecvDataSegmentBytes: number;
  maxConnections: number;
  initialR2T: boolean;
  immediateData: boolean;
  maxBurstBytes: number;
  firstBurstBytes: number;
  defaultTime2WaitS: number;
  defaultTime2RetainS: number;
  maxOutstandingR2T: number;
  dataPduInOrder: boolean;
  dataSequenceInOrder: boolean;
  errorRecoveryLevel: number;
}

function agreedOf(agreed: Map<string, string>, key: string): string {
  return agreed.get(key) ?? KEYS[key].default!;
}

export function sessionParams(agreed: Map<string, string>, targetDeclaredMrdsl: boolean): SessionParams {
  const num = (k: string): number => Number(agreedOf(agreed, k));
  const yes = (k: string): boolean => agreedOf(agreed, k) === 'Yes';
  return {
    sessionType: agreedOf(agreed, 'SessionType') === 'Discovery' ? 'Discovery' : 'Normal',
    initiatorName: agreed.get('InitiatorName') ?? '',
    initiatorAlias: agreed.get('InitiatorAlias'),
    targetName: agreed.get('TargetName'),
    headerDigest: agreedOf(agreed, 'HeaderDigest') === 'CRC32C',
    dataDigest: agreedOf(agreed, 'DataDigest') === 'CRC32C',
    initiatorMaxRecvDataSegmentBytes: parseNumber(agreedOf(agreed, 'MaxRecvDataSegmentLength')) ?? DEFAULT_MAX_RECV_DATA_SEGMENT_BYTES,
    targetMaxRecvDataSegmentBytes: targetDeclaredMrdsl ? TARGET_MAX_RECV_DATA_SEGMENT_BYTES : DEFAULT_MAX_RECV_DATA_SEGMENT_BYTES,
    maxConnections: num('MaxConnections'),
    initialR2T: yes('InitialR2T'),
    immediateData: yes('ImmediateData'),
    maxBurstBytes: num('MaxBurstLength'),
    firstBurstBytes: num('FirstBurstLength'),
    defaultTime2WaitS: num('DefaultTime2Wait'),
    defaultTime2RetainS: num('DefaultTime2Retain'),
    maxOutstandingR2T: num('MaxOutstandingR2T'),
    dataPduInOrder: yes('DataPDUInOrder'),
    dataSequenceInOrder: yes('DataSequenceInOrder'),
    errorRecoveryLevel: num('ErrorRecoveryLevel'),
  };
}

// ---- targets and discovery ----------------------------------------------------------------------------

export interface TargetInfo {
  /** IQN of the target. */
  name: string;
  alias?: string;
  /** Portals serving it, "host:port" (IPv6 hosts in brackets), all in one portal group. */
  portals: readonly string[];
  portalGroupTag: number;
}

/**
 * The answer to SendTargets (§13.3, RFC 7143 Appendix C): All lists every target, a name lists that target
 * (nothing if unknown), an empty value the session's own target (Normal sessions only).
 */
export function sendTargetsAnswer(value: string, targets: readonly TargetInfo[], session: { sessionType: 'Normal' | 'Discovery'; targetName?: string }): TextPair[] {
  let chosen: readonly TargetInfo[];
  if (value === 'All') {
    if (session.sessionType !== 'Discovery') return [{ key: 'SendTargets', value: ANSWER.REJECT }];
    chosen = targets;
  } else if (value === '') {
    if (session.sessionType !== 'Normal') return [{ key: 'SendTargets', value: ANSWER.REJECT }];
    chosen = targets.filter((t) => t.name === session.targetName);
  } else {
    chosen = targets.filter((t) => t.name === value);
  }
  const out: TextPair[] = [];
  for (const t of chosen) {
    out.push({ key: 'TargetName', value: t.name });
    for (const p of t.portals) out.push({ key: 'TargetAddress', value: `${p},${t.portalGroupTag}` });
  }
  return out;
}

/** Answers the keys of a Text Request in the full feature phase: SendTargets, and keys of use ALL. */
export function answerTextRequest(pairs: readonly TextPair[], agreed: Map<string, string>, targets: readonly TargetInfo[], session: { sessionType: 'Normal' | 'Discovery'; targetName?: string }): TextPair[] {
  const out: TextPair[] = [];
  const rest = pairs.filter((p) => p.key !== 'SendTargets');
  const st = pairs.find((p) => p.key === 'SendTargets');
  if (st) out.push(...sendTargetsAnswer(st.value, targets, session));
  const r = negotiate(rest, { phase: 'full-feature', sessionType: session.sessionType, seen: new Set(), agreed });
  out.push(...r.answers);
  return out;
}

// ---- the login stage machine --------------------------------------------------------------------------

export interface LoginConfig {
  targets: readonly TargetInfo[];
  /** TSIH for the session if this login completes (non-zero; the caller allocates it). */
  tsih: number;
  /** StatSN of the first Login Response (the connection's starting StatSN). */
  initialStatSN: number;
  /** Whether this initiator may log in to this target (initiator ACLs); all may when absent. */
  allow?: (initiatorName: string, targetName: string | undefined) => boolean;
  /** CHAP every login must pass (Normal and Discovery); AuthMethod None when absent. */
  chap?: TargetChap;
}

/** CHAP on the target side: the credentials, and where challenges and identifiers come from. */
export interface TargetChap {
  credentials: ChapTargetConfig;
  /** `n` random bytes (crypto in the portal, seeded in tests). */
  randomBytes: (n: number) => Uint8Array;
}

/** Why a login failed CHAP (status 0x0201), as counted by the portal. */
export const AUTH_FAILURE = {
  /** The initiator offers no AuthMethod the target takes (None to a CHAP target, only CHAP to one without). */
  NO_COMMON_METHOD: 'no-common-method',
  /** The login asked to leave the security stage (or began past it) before CHAP finished. */
  NOT_AUTHENTICATED: 'not-authenticated',
  /** CHAP_A without 5 (MD5). */
  NO_MD5: 'no-md5',
  /** CHAP_A, CHAP_N or CHAP_R not sent when due, or CHAP_I without CHAP_C (or the reverse). */
  MISSING_KEY: 'missing-key',
  /** A CHAP key out of turn (before AuthMethod=CHAP, after CHAP ended, outside the security stage). */
  UNEXPECTED_KEY: 'unexpected-key',
  /** CHAP_N is not the configured user name. */
  UNKNOWN_USER: 'unknown-user',
  /** CHAP_R is not the response to the target's challenge with the configured secret. */
  WRONG_RESPONSE: 'wrong-response',
  /** CHAP_R, CHAP_I or CHAP_C that is not a valid value. */
  MALFORMED: 'malformed-value',
  /** The initiator's challenge is the target's own (a reflection attack, RFC 7143 §12.1.3). */
  REFLECTION: 'reflected-challenge',
  /** The initiator asks the target to prove itself (mutual CHAP) and the target has no mutual secret. */
  MUTUAL_NOT_CONFIGURED: 'mutual-not-configured',
} as const;
export type AuthFailure = (typeof AUTH_FAILURE)[keyof typeof AUTH_FAILURE];

/** Where a CHAP exchange is: off (no CHAP), waiting for AuthMethod, for CHAP_A, for CHAP_N/CHAP_R, or done. */
export type ChapStep = 'off' | 'method' | 'algorithm' | 'response' | 'done';

export interface LoginState {
  /** Stage the target is in: the CSG the next request must carry (undefined before the first request). */
  stage: number | undefined;
  done: 'no' | 'full-feature' | 'failed';
  isid: Uint8Array | undefined;
  tsih: number;
  cid: number;
  statSN: number;
  exchanges: number;
  seen: Set<string>;
  agreed: Map<string, string>;
  text: TextAssembler;
  /** Whether the first exchange (InitiatorName, SessionType, TargetName) was checked. */
  identified: boolean;
  sentPortalGroupTag: boolean;
  declaredMrdsl: boolean;
  chap: { step: ChapStep; id: number; challenge: Uint8Array | undefined };
}

export function newLoginState(cfg: LoginConfig): LoginState {
  return {
    stage: undefined,
    done: 'no',
    isid: undefined,
    tsih: 0,
    cid: 0,
    statSN: cfg.initialStatSN >>> 0,
    exchanges: 0,
    seen: new Set(),
    agreed: new Map(),
    text: new TextAssembler(),
    identified: false,
    sentPortalGroupTag: false,
    declaredMrdsl: false,
    chap: { step: cfg.chap ? 'method' : 'off', id: 0, challenge: undefined },
  };
}

export interface LoginDecision {
  response: PduOf<typeof OPCODE.LOGIN_RESPONSE>;
  /** continue: send and wait for the next request; full-feature: send, then the session runs; fail: send, then close. */
  outcome: 'continue' | 'full-feature' | 'fail';
  /** Why the login failed (for the event log and counters). Never holds a secret. */
  reason?: string;
  /** Set when the login failed CHAP (status 0x0201): which rule it broke. */
  authFailure?: AuthFailure;
  /** The session's parameters when the outcome is full-feature. */
  params?: SessionParams;
}

/**
 * Decides the Login Response to one Login Request. `state` is updated in place. After a failure or the
 * move to full feature the state takes no more requests.
 */
export function loginStep(state: LoginState, req: PduOf<typeof OPCODE.LOGIN_REQUEST>, cfg: LoginConfig): LoginDecision {
  const st = loginStages(req.flags);
  const respond = (flags: number, status: number, data: Uint8Array, tsih: number): PduOf<typeof OPCODE.LOGIN_RESPONSE> => {
    const r = makePdu(OPCODE.LOGIN_RESPONSE, {
      flags,
      versionMax: ISCSI_VERSION,
      versionActive: ISCSI_VERSION,
      isid: req.isid,
      tsih,
      itt: req.itt,
      statSN: state.statSN,
      expCmdSN: req.cmdSN,
      maxCmdSN: (req.cmdSN + TARGET_CMD_WINDOW - 1) >>> 0,
      statusClass: status >> 8,
      statusDetail: status & 0xff,
      data,
    });
    state.statSN = (state.statSN + 1) >>> 0;
    return r;
  };
  const fail = (status: number, reason: string, authFailure?: AuthFailure): LoginDecision => {
    state.done = 'failed';
    state.text.reset();
    state.chap.challenge = undefined;
    const response = respond(loginFlags(false, false, st.csg, 0), status, new Uint8Array(0), req.tsih);
    return { response, outcome: 'fail', reason, ...(authFailure ? { authFailure } : {}) };
  };

  if (state.done !== 'no') return fail(LOGIN_STATUS.INVALID_DURING_LOGIN, 'login request after the login ended');
  if (++state.exchanges > LOGIN_MAX_EXCHANGES) return fail(LOGIN_STATUS.INITIATOR_ERROR, `more than ${LOGIN_MAX_EXCHANGES} login requests (LOGIN_MAX_EXCHANGES)`);
  if (state.isid === undefined) {
    if (req.versionMin > ISCSI_VERSION) return fail(LOGIN_STATUS.UNSUPPORTED_VERSION, `initiator needs version ${req.versionMin} or later, target speaks ${ISCSI_VERSION}`);
    if (req.tsih !== 0) return fail(LOGIN_STATUS.SESSION_DOES_NOT_EXIST, `TSIH ${req.tsih}: no session to add a connection to (MaxConnections=1)`);
    state.isid = Uint8Array.prototype.slice.call(req.isid);
    state.tsih = req.tsih;
    state.cid = req.cid;
  } else if (!sameBytes(state.isid, req.isid) || req.tsih !== state.tsih || req.cid !== state.cid) {
    return fail(LOGIN_STATUS.INITIATOR_ERROR, 'ISID, TSIH or CID changed during login');
  }
  if (st.transit && st.cont) return fail(LOGIN_STATUS.INITIATOR_ERROR, 'T and C both set (§11.12.2)');
  if (st.csg !== STAGE.SECURITY && st.csg !== STAGE.OPERATIONAL) return fail(LOGIN_STATUS.INITIATOR_ERROR, `CSG ${st.csg} is not a login stage`);
  if (state.stage !== undefined && st.csg !== state.stage) return fail(LOGIN_STATUS.INITIATOR_ERROR, `CSG ${st.csg} while the login is in stage ${state.stage}`);
  if (st.transit && (st.nsg === 2 || st.nsg <= st.csg)) return fail(LOGIN_STATUS.INITIATOR_ERROR, `NSG ${st.nsg} does not follow CSG ${st.csg}`);
  state.stage = st.csg;

  const text = state.text.add(req.data, st.cont);
  if (!text.ok) return fail(LOGIN_STATUS.INITIATOR_ERROR, text.error.message);
  if (text.value === undefined) {
    // More text to come: an empty response asks for it (§6.1).
    return { response: respond(loginFlags(false, false, st.csg, 0), LOGIN_STATUS.SUCCESS, new Uint8Array(0), state.tsih), outcome: 'continue' };
  }
  // With CHAP on, the CHAP_* keys are the CHAP exchange's (chapStep), not negotiated keys.
  const pairs = cfg.chap ? text.value.filter((p) => !p.key.startsWith('CHAP_')) : text.value;
  const chapKeys = cfg.chap ? text.value.filter((p) => p.key.startsWith('CHAP_')) : [];
  const sessionType = pairs.find((p) => p.key === 'SessionType')?.value ?? state.agreed.get('SessionType') ?? 'Normal';
  if (sessionType !== 'Normal' && sessionType !== 'Discovery') return fail(LOGIN_STATUS.SESSION_TYPE_NOT_SUPPORTED, `SessionType ${sessionType}`);
  const neg = negotiate(pairs, {
    phase: st.csg === STAGE.SECURITY ? 'security' : 'operational',
    sessionType,
    seen: state.seen,
    agreed: state.agreed,
    ...(cfg.chap ? { authMethods: ['CHAP'] } : {}),
  });
  if (neg.failure) return fail(neg.failure.status, neg.failure.reason);
  const answers = neg.answers;

  if (!state.identified) {
    state.identified = true;
    const initiator = state.agreed.get('InitiatorName');
    if (!initiator) return fail(LOGIN_STATUS.MISSING_PARAMETER, 'the first login request has no InitiatorName');
    if (Buffer.byteLength(initiator) > ISCSI_NAME_MAX_BYTES) return fail(LOGIN_STATUS.INITIATOR_ERROR, `InitiatorName longer than ${ISCSI_NAME_MAX_BYTES} bytes`);
    const targetName = state.agreed.get('TargetName');
    if (sessionType === 'Normal') {
      if (!targetName) return fail(LOGIN_STATUS.MISSING_PARAMETER, 'a Normal session needs TargetName');
      const target = cfg.targets.find((t) => t.name === targetName);
      if (!target) return fail(LOGIN_STATUS.NOT_FOUND, `no target ${targetName}`);
      answers.push({ key: 'TargetPortalGroupTag', value: String(target.portalGroupTag) });
      if (target.alias) answers.push({ key: 'TargetAlias', value: target.alias });
      state.sentPortalGroupTag = true;
    }
    if (cfg.allow && !cfg.allow(initiator, sessionType === 'Normal' ? targetName : undefined)) {
      return fail(LOGIN_STATUS.AUTHORIZATION_FAILURE, `initiator ${initiator} may not log in to ${targetName ?? 'discovery'}`);
    }
  } else if (pairs.some((p) => p.key === 'InitiatorName' || p.key === 'TargetName' || p.key === 'SessionType')) {
    // seen-set already refuses repeats; a first declaration after the first exchange is also too late.
    return fail(LOGIN_STATUS.INITIATOR_ERROR, 'InitiatorName, TargetName and SessionType belong to the first login request');
  }
  const auth = answers.find((a) => a.key === 'AuthMethod');
  if (auth && auth.value === ANSWER.REJECT) {
    const offers = cfg.chap ? 'this target requires CHAP' : 'this target offers None';
    return fail(LOGIN_STATUS.AUTHENTICATION_FAILURE, `no authentication method in common (${offers})`, AUTH_FAILURE.NO_COMMON_METHOD);
  }
  // Holding the login in the security stage (T=0 although the initiator set T) while CHAP goes on (§6.3).
  let holdInSecurity = false;
  if (cfg.chap) {
    const before = state.chap.step;
    const c = chapStep(state.chap, st.csg, auth?.value === 'CHAP', chapKeys, cfg.chap);
    if ('failure' in c) return fail(LOGIN_STATUS.AUTHENTICATION_FAILURE, c.failure.reason, c.failure.code);
    answers.push(...c.answers);
    if (state.chap.step !== 'done' && st.transit) {
      if (state.chap.step === before) return fail(LOGIN_STATUS.AUTHENTICATION_FAILURE, 'the initiator asked to leave the security stage before CHAP', AUTH_FAILURE.NOT_AUTHENTICATED);
      holdInSecurity = true;
    }
  }

  if (st.csg === STAGE.OPERATIONAL && !state.declaredMrdsl) {
    answers.push({ key: 'MaxRecvDataSegmentLength', value: String(TARGET_MAX_RECV_DATA_SEGMENT_BYTES) });
    state.declaredMrdsl = true;
  }
  const data = encodeText(answers);
  if (!st.transit || holdInSecurity) return { response: respond(loginFlags(false, false, st.csg, 0), LOGIN_STATUS.SUCCESS, data, state.tsih), outcome: 'continue' };
  if (st.nsg !== STAGE.FULL_FEATURE) {
    state.stage = st.nsg;
    return { response: respond(loginFlags(true, false, st.csg, st.nsg), LOGIN_STATUS.SUCCESS, data, state.tsih), outcome: 'continue' };
  }
  state.done = 'full-feature';
  state.stage = STAGE.FULL_FEATURE;
  if (cfg.tsih <= 0 || cfg.tsih > 0xffff) throw new VfabError('VFAB_ISCSI_BAD_EMIT', `TSIH ${cfg.tsih} is not 1..65535`);
  return {
    response: respond(loginFlags(true, false, st.csg, STAGE.FULL_FEATURE), LOGIN_STATUS.SUCCESS, data, cfg.tsih),
    outcome: 'full-feature',
    params: sessionParams(state.agreed, state.declaredMrdsl),
  };
}

type ChapOutcome = { answers: TextPair[] } | { failure: { code: AuthFailure; reason: string } };

/**
 * One request's part of the CHAP exchange (RFC 7143 §12.1.3): AuthMethod=CHAP agreed, then CHAP_A (must list
 * 5) answered with CHAP_A, CHAP_I and CHAP_C, then CHAP_N and CHAP_R checked, and for mutual CHAP the
 * initiator's CHAP_I and CHAP_C answered with the target's CHAP_N and CHAP_R. `chap` is updated in place.
 */
function chapStep(chap: LoginState['chap'], csg: number, chapAgreed: boolean, keys: readonly TextPair[], cfg: TargetChap): ChapOutcome {
  const failure = (code: AuthFailure, reason: string): ChapOutcome => ({ failure: { code, reason } });
  const value = (k: string): string | undefined => keys.find((p) => p.key === k)?.value;
  const unexpected = (allowed: readonly string[]): TextPair | undefined => keys.find((p) => !allowed.includes(p.key));
  if (csg !== STAGE.SECURITY) {
    if (keys.length > 0) return failure(AUTH_FAILURE.UNEXPECTED_KEY, `${keys[0]!.key} outside the security stage`);
    if (chap.step !== 'done') return failure(AUTH_FAILURE.NOT_AUTHENTICATED, 'the login left the security stage without CHAP, which this target requires');
    return { answers: [] };
  }
  switch (chap.step) {
    case 'method': {
      if (keys.length > 0) return failure(AUTH_FAILURE.UNEXPECTED_KEY, `${keys[0]!.key} before AuthMethod=CHAP was agreed`);
      if (chapAgreed) chap.step = 'algorithm';
      return { answers: [] };
    }
    case 'algorithm': {
      const extra = unexpected(['CHAP_A']);
      if (extra) return failure(AUTH_FAILURE.UNEXPECTED_KEY, `${extra.key} while the target waits for CHAP_A`);
      const algorithms = value('CHAP_A');
      if (algorithms === undefined) return failure(AUTH_FAILURE.MISSING_KEY, 'no CHAP_A after AuthMethod=CHAP');
      if (!algorithms.split(',').includes(String(CHAP_ALGORITHM_MD5))) return failure(AUTH_FAILURE.NO_MD5, `CHAP_A offers no ${CHAP_ALGORITHM_MD5} (MD5), the only algorithm this target takes`);
      chap.id = (cfg.randomBytes(1)[0] ?? 0) & CHAP_MAX_IDENTIFIER;
      chap.challenge = Uint8Array.prototype.slice.call(cfg.randomBytes(CHAP_CHALLENGE_BYTES), 0, CHAP_CHALLENGE_BYTES);
      if (chap.challenge.length !== CHAP_CHALLENGE_BYTES) throw new VfabError('VFAB_ISCSI_BAD_EMIT', `randomBytes gave ${chap.challenge.length} bytes for a ${CHAP_CHALLENGE_BYTES}-byte challenge`);
      chap.step = 'response';
      return {
        answers: [
          { key: 'CHAP_A', value: String(CHAP_ALGORITHM_MD5) },
          { key: 'CHAP_I', value: String(chap.id) },
          { key: 'CHAP_C', value: encodeBinary(chap.challenge) },
        ],
      };
    }
    case 'response': {
      const extra = unexpected(['CHAP_N', 'CHAP_R', 'CHAP_I', 'CHAP_C']);
      if (extra) return failure(AUTH_FAILURE.UNEXPECTED_KEY, `${extra.key} while the target waits for CHAP_N and CHAP_R`);
      const name = value('CHAP_N');
      const r = value('CHAP_R');
      if (name === undefined || r === undefined) return failure(AUTH_FAILURE.MISSING_KEY, `no ${name === undefined ? 'CHAP_N' : 'CHAP_R'} in answer to the challenge`);
      const theirId = value('CHAP_I');
      const theirChallenge = value('CHAP_C');
      if ((theirId === undefined) !== (theirChallenge === undefined)) return failure(AUTH_FAILURE.MISSING_KEY, `${theirId === undefined ? 'CHAP_C without CHAP_I' : 'CHAP_I without CHAP_C'} (mutual CHAP needs both)`);
      let mutual: { id: number; challenge: Buffer } | undefined;
      if (theirId !== undefined && theirChallenge !== undefined) {
        if (cfg.credentials.mutual === undefined) return failure(AUTH_FAILURE.MUTUAL_NOT_CONFIGURED, 'the initiator asks for mutual CHAP and this target has no mutual secret');
        const id = parseNumber(theirId);
        const challenge = decodeBinary(theirChallenge);
        if (id === undefined || id > CHAP_MAX_IDENTIFIER || challenge === undefined) return failure(AUTH_FAILURE.MALFORMED, 'CHAP_I or CHAP_C of the initiator is not a valid value');
        if (chapResponseMatches(chap.challenge!, challenge)) return failure(AUTH_FAILURE.REFLECTION, "the initiator's CHAP_C is the target's own challenge");
        mutual = { id, challenge };
      }
      const response = decodeBinary(r, CHAP_MD5_RESPONSE_BYTES);
      if (response?.length !== CHAP_MD5_RESPONSE_BYTES) return failure(AUTH_FAILURE.MALFORMED, `CHAP_R is not a binary value of ${CHAP_MD5_RESPONSE_BYTES} bytes`);
      if (name !== cfg.credentials.username) return failure(AUTH_FAILURE.UNKNOWN_USER, 'CHAP_N is not the user name this target knows');
      if (!chapResponseMatches(chapResponse(chap.id, cfg.credentials.secret, chap.challenge!), response)) return failure(AUTH_FAILURE.WRONG_RESPONSE, 'CHAP_R does not answer the challenge with the secret');
      chap.step = 'done';
      chap.challenge = undefined;
      if (mutual === undefined) return { answers: [] };
      const m = cfg.credentials.mutual!;
      return {
        answers: [
          { key: 'CHAP_N', value: m.username },
          { key: 'CHAP_R', value: encodeBinary(chapResponse(mutual.id, m.secret, mutual.challenge)) },
        ],
      };
    }
    default:
      if (keys.length > 0) return failure(AUTH_FAILURE.UNEXPECTED_KEY, `${keys[0]!.key} after CHAP ended`);
      return { answers: [] };
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Whether a Login Response says the target moved to the full feature phase. */
export function isFinalLoginResponse(flags: number): boolean {
  return (flags & FLAG.TRANSIT) !== 0 && (flags & FLAG.STAGE_MASK) === STAGE.FULL_FEATURE;
}
