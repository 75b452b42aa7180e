// CHAP in the login stage machine (lib/iscsi/negotiate.ts loginStep, RFC 7143 §12.1.3, RFC 1994): the
// exchange libiscsi 1.19 drives (AuthMethod=CHAP,None with T set, CHAP_A, then CHAP_N/CHAP_R with T set)
// on text fixtures with seeded randomness, one-way and mutual; and each rule's failure with status 0x0201
// and its reason code: wrong response, wrong user, missing keys, no MD5, no CHAP offered, leaving the
// security stage early, keys out of turn, a reflected challenge, mutual CHAP the target cannot answer.

import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { seededRandom } from '../../lib/clock.js';
import { chapResponse, encodeBinary } from '../../lib/iscsi/chap.js';
import { AUTH_FAILURE, loginStep, newLoginState, type LoginConfig, type LoginDecision, type LoginState, type TargetInfo } from '../../lib/iscsi/negotiate.js';
import { LOGIN_STATUS, OPCODE, STAGE, emitPdu, loginFlags, makePdu, type PduOf } from '../../lib/iscsi/pdu.js';
import { LIBISCSI_LOGIN_KEYS, textOf, withData } from './fixtures.js';

const TARGET = 'iqn.2026-01.dev.vfab:array1';
const TARGETS: TargetInfo[] = [{ name: TARGET, portals: ['127.0.0.1:3260'], portalGroupTag: 1 }];
const ISID = Uint8Array.from([0x80, 0x12, 0x34, 0x56, 0, 0]);
const SEED = 0x5eed;
const USER = 'host1';
const SECRET = 'initiator-secret-1';
const TARGET_USER = 'array1';
const TARGET_SECRET = 'target-secret-22';

/** n bytes from a seeded generator: the same seed gives the same CHAP_I and CHAP_C. */
function seededBytes(seed: number): (n: number) => Uint8Array {
  const r = seededRandom(seed);
  return (n) => Uint8Array.from({ length: n }, () => Math.floor(r() * 256));
}

function config(mutual = false): LoginConfig {
  return {
    targets: TARGETS,
    tsih: 9,
    initialStatSN: 0x200,
    chap: { credentials: { username: USER, secret: SECRET, ...(mutual ? { mutual: { username: TARGET_USER, secret: TARGET_SECRET } } : {}) }, randomBytes: seededBytes(SEED) },
  };
}

type LoginReq = PduOf<typeof OPCODE.LOGIN_REQUEST>;
const req = (flags: number, pairs: Array<[string, string]>): LoginReq =>
  makePdu(OPCODE.LOGIN_REQUEST, { immediate: true, flags, isid: ISID, itt: 1, cmdSN: 0x10, data: Buffer.from(textOf(pairs)) });
const pairsOf = (data: Uint8Array): Array<[string, string]> =>
  Buffer.from(data).toString('utf8').split('\0').filter(Boolean).map((s) => [s.slice(0, s.indexOf('=')), s.slice(s.indexOf('=') + 1)]);

const SEC_T = loginFlags(true, false, STAGE.SECURITY, STAGE.OPERATIONAL);
const SEC = loginFlags(false, false, STAGE.SECURITY, 0);
const OPER_TO_FF = loginFlags(true, false, STAGE.OPERATIONAL, STAGE.FULL_FEATURE);
const IDENTITY: Array<[string, string]> = [LIBISCSI_LOGIN_KEYS[0], ['TargetName', TARGET], ['SessionType', 'Normal']];
/** libiscsi's operational keys (its login text without the three it sends in the first security request). */
const OPERATIONAL = LIBISCSI_LOGIN_KEYS.filter(([k]) => !['InitiatorName', 'TargetName', 'SessionType'].includes(k));

/** What the seeded generator gives the target: CHAP_I, then the 16-byte challenge. */
function expectedChallenge(): { id: number; challenge: Uint8Array } {
  const bytes = seededBytes(SEED);
  const id = bytes(1)[0]!;
  return { id, challenge: bytes(16) };
}

/** Runs the first two exchanges (AuthMethod, CHAP_A); returns the state and the target's CHAP_I and CHAP_C. */
function challenged(cfg: LoginConfig, identity = IDENTITY): { state: LoginState; id: number; challenge: Buffer } {
  const state = newLoginState(cfg);
  const a = loginStep(state, req(SEC_T, [...identity, ['AuthMethod', 'CHAP,None']]), cfg);
  expect(a.outcome, a.reason).to.equal('continue');
  const b = loginStep(state, req(SEC, [['CHAP_A', '5']]), cfg);
  expect(b.outcome, b.reason).to.equal('continue');
  const got = new Map(pairsOf(b.response.data));
  return { state, id: Number(got.get('CHAP_I')), challenge: Buffer.from(got.get('CHAP_C')!.slice(2), 'hex') };
}

function expectAuthFailure(d: LoginDecision, reason: string): void {
  expect(d.outcome, d.reason).to.equal('fail');
  expect(((d.response.statusClass << 8) | d.response.statusDetail).toString(16)).to.equal(LOGIN_STATUS.AUTHENTICATION_FAILURE.toString(16));
  expect(d.authFailure, d.reason).to.equal(reason);
  expect(d.response.data.length).to.equal(0);
  for (const secret of [SECRET, TARGET_SECRET]) expect(d.reason).not.to.contain(secret);
}

const answer = (id: number, challenge: Uint8Array, secret = SECRET): string => encodeBinary(chapResponse(id, secret, challenge));

describe('iscsi/CHAP login (target side)', () => {
  it("one-way CHAP as libiscsi drives it: T held at 0 until CHAP_R checks out, then operational and full feature", () => {
    const cfg = config();
    const state = newLoginState(cfg);
    const a = loginStep(state, req(SEC_T, [...IDENTITY, ['AuthMethod', 'CHAP,None']]), cfg);
    expect(a.outcome, a.reason).to.equal('continue');
    expect(a.response.flags, 'the target stays in the security stage (T=0) although the initiator set T').to.equal(SEC);
    expect(pairsOf(a.response.data)).to.deep.equal([['AuthMethod', 'CHAP'], ['TargetPortalGroupTag', '1']]);

    const b = loginStep(state, req(SEC, [['CHAP_A', '7,5']]), cfg);
    const { id, challenge } = expectedChallenge();
    // Login Response: T=0 CSG 0; ISID echoed; TSIH 0; ITT 1; StatSN 0x201; ExpCmdSN 0x10; MaxCmdSN 0x4f.
    const fixture = withData(
      '23000000 00000000 80123456 00000000 00000001 00000000 00000201 00000010 0000004f 00000000 00000000 00000000',
      textOf([['CHAP_A', '5'], ['CHAP_I', String(id)], ['CHAP_C', `0x${Buffer.from(challenge).toString('hex')}`]]),
    );
    expect(emitPdu(b.response).toString('hex')).to.equal(fixture.toString('hex'));

    const c = loginStep(state, req(SEC_T, [['CHAP_N', USER], ['CHAP_R', answer(id, challenge)]]), cfg);
    expect(c.outcome, c.reason).to.equal('continue');
    expect(c.response.flags).to.equal(SEC_T);
    expect(pairsOf(c.response.data), 'one-way: the target does not prove itself').to.deep.equal([]);

    const d = loginStep(state, req(OPER_TO_FF, OPERATIONAL), cfg);
    expect(d.outcome, d.reason).to.equal('full-feature');
    expect(d.params).to.include({ sessionType: 'Normal', initiatorName: IDENTITY[0][1], targetName: TARGET });
  });

  it('a base64 CHAP_R and a Discovery session pass the same way', () => {
    const cfg = config();
    const { state, id, challenge } = challenged(cfg, [IDENTITY[0], ['SessionType', 'Discovery']]);
    const r = '0b' + chapResponse(id, SECRET, challenge).toString('base64');
    const d = loginStep(state, req(loginFlags(true, false, STAGE.SECURITY, STAGE.FULL_FEATURE), [['CHAP_N', USER], ['CHAP_R', r]]), cfg);
    expect(d.outcome, d.reason).to.equal('full-feature');
    expect(d.params!.sessionType).to.equal('Discovery');
  });

  it('mutual CHAP: the target answers the initiator\'s CHAP_I/CHAP_C with its own CHAP_N and the MD5 response', () => {
    const cfg = config(true);
    const { state, id, challenge } = challenged(cfg);
    const theirs = Buffer.from('a5'.repeat(32), 'hex');
    const d = loginStep(state, req(SEC_T, [['CHAP_N', USER], ['CHAP_R', answer(id, challenge)], ['CHAP_I', '1'], ['CHAP_C', encodeBinary(theirs)]]), cfg);
    expect(d.outcome, d.reason).to.equal('continue');
    expect(d.response.flags).to.equal(SEC_T);
    const want = createHash('md5').update(Buffer.concat([Buffer.of(1), Buffer.from(TARGET_SECRET), theirs])).digest('hex');
    expect(pairsOf(d.response.data)).to.deep.equal([['CHAP_N', TARGET_USER], ['CHAP_R', `0x${want}`]]);
  });

  describe('fails with 0x0201 authentication failure and its reason', () => {
    it('a wrong CHAP_R (another secret, or the right secret with another identifier)', () => {
      const cfg = config();
      const one = challenged(cfg);
      expectAuthFailure(loginStep(one.state, req(SEC_T, [['CHAP_N', USER], ['CHAP_R', answer(one.id, one.challenge, 'another-secret-9')]]), cfg), AUTH_FAILURE.WRONG_RESPONSE);
      const two = challenged(config());
      expectAuthFailure(loginStep(two.state, req(SEC_T, [['CHAP_N', USER], ['CHAP_R', answer((two.id + 1) & 0xff, two.challenge)]]), cfg), AUTH_FAILURE.WRONG_RESPONSE);
    });

    it('a CHAP_R that is not a 16-byte binary value', () => {
      const cfg = config();
      const { state, id, challenge } = challenged(cfg);
      const short = encodeBinary(chapResponse(id, SECRET, challenge).subarray(0, 15));
      expectAuthFailure(loginStep(state, req(SEC_T, [['CHAP_N', USER], ['CHAP_R', short]]), cfg), AUTH_FAILURE.MALFORMED);
    });

    it('the right response under another user name', () => {
      const cfg = config();
      const { state, id, challenge } = challenged(cfg);
      expectAuthFailure(loginStep(state, req(SEC_T, [['CHAP_N', 'host2'], ['CHAP_R', answer(id, challenge)]]), cfg), AUTH_FAILURE.UNKNOWN_USER);
    });

    it('missing keys: no CHAP_A after AuthMethod=CHAP, no CHAP_N, no CHAP_R, CHAP_I without CHAP_C', () => {
      const cfg = config(true);
      const state = newLoginState(cfg);
      loginStep(state, req(SEC_T, [...IDENTITY, ['AuthMethod', 'CHAP']]), cfg);
      expectAuthFailure(loginStep(state, req(SEC, []), cfg), AUTH_FAILURE.MISSING_KEY);
      const n = challenged(cfg);
      expectAuthFailure(loginStep(n.state, req(SEC_T, [['CHAP_R', answer(n.id, n.challenge)]]), cfg), AUTH_FAILURE.MISSING_KEY);
      const r = challenged(cfg);
      expectAuthFailure(loginStep(r.state, req(SEC_T, [['CHAP_N', USER]]), cfg), AUTH_FAILURE.MISSING_KEY);
      const i = challenged(cfg);
      expectAuthFailure(loginStep(i.state, req(SEC_T, [['CHAP_N', USER], ['CHAP_R', answer(i.id, i.challenge)], ['CHAP_I', '1']]), cfg), AUTH_FAILURE.MISSING_KEY);
    });

    it('CHAP_A without 5 (MD5)', () => {
      const cfg = config();
      const state = newLoginState(cfg);
      loginStep(state, req(SEC_T, [...IDENTITY, ['AuthMethod', 'CHAP']]), cfg);
      expectAuthFailure(loginStep(state, req(SEC, [['CHAP_A', '6,7']]), cfg), AUTH_FAILURE.NO_MD5);
    });

    it('no CHAP offered, a login that starts in the operational stage, T set before AuthMethod was agreed', () => {
      const cfg = config();
      expectAuthFailure(loginStep(newLoginState(cfg), req(SEC_T, [...IDENTITY, ['AuthMethod', 'None']]), cfg), AUTH_FAILURE.NO_COMMON_METHOD);
      // libiscsi without a user name: one operational request straight to full feature
      expectAuthFailure(loginStep(newLoginState(cfg), req(OPER_TO_FF, LIBISCSI_LOGIN_KEYS), cfg), AUTH_FAILURE.NOT_AUTHENTICATED);
      // ... also when it does not ask to move on yet
      expectAuthFailure(loginStep(newLoginState(cfg), req(loginFlags(false, false, STAGE.OPERATIONAL, 0), LIBISCSI_LOGIN_KEYS), cfg), AUTH_FAILURE.NOT_AUTHENTICATED);
      expectAuthFailure(loginStep(newLoginState(cfg), req(SEC_T, IDENTITY), cfg), AUTH_FAILURE.NOT_AUTHENTICATED);
    });

    it('CHAP keys out of turn: a response before the challenge, CHAP_A again after it', () => {
      const cfg = config();
      const state = newLoginState(cfg);
      loginStep(state, req(SEC_T, [...IDENTITY, ['AuthMethod', 'CHAP']]), cfg);
      expectAuthFailure(loginStep(state, req(SEC, [['CHAP_A', '5'], ['CHAP_N', USER]]), cfg), AUTH_FAILURE.UNEXPECTED_KEY);
      const c = challenged(cfg);
      expectAuthFailure(loginStep(c.state, req(SEC_T, [['CHAP_A', '5'], ['CHAP_N', USER], ['CHAP_R', answer(c.id, c.challenge)]]), cfg), AUTH_FAILURE.UNEXPECTED_KEY);
    });

    it("a reflected challenge: the initiator's CHAP_C is the target's own", () => {
      const cfg = config(true);
      const { state, id, challenge } = challenged(cfg);
      const d = loginStep(state, req(SEC_T, [['CHAP_N', USER], ['CHAP_R', answer(id, challenge)], ['CHAP_I', String(id)], ['CHAP_C', encodeBinary(challenge)]]), cfg);
      expectAuthFailure(d, AUTH_FAILURE.REFLECTION);
    });

    it('mutual CHAP asked of a target without a mutual secret', () => {
      const cfg = config(false);
      const { state, id, challenge } = challenged(cfg);
      const d = loginStep(state, req(SEC_T, [['CHAP_N', USER], ['CHAP_R', answer(id, challenge)], ['CHAP_I', '3'], ['CHAP_C', encodeBinary(Buffer.alloc(16, 7))]]), cfg);
      expectAuthFailure(d, AUTH_FAILURE.MUTUAL_NOT_CONFIGURED);
    });
  });

  it('without CHAP configured, AuthMethod=CHAP alone is refused and CHAP,None gets None', () => {
    const cfg: LoginConfig = { targets: TARGETS, tsih: 9, initialStatSN: 0 };
    expectAuthFailure(loginStep(newLoginState(cfg), req(SEC_T, [...IDENTITY, ['AuthMethod', 'CHAP']]), cfg), AUTH_FAILURE.NO_COMMON_METHOD);
    const d = loginStep(newLoginState(cfg), req(SEC_T, [...IDENTITY, ['AuthMethod', 'CHAP,None']]), cfg);
    expect(d.outcome).to.equal('continue');
    expect(d.response.flags).to.equal(SEC_T);
    expect(pairsOf(d.response.data)[0]).to.deep.equal(['AuthMethod', 'None']);
  });
});
