// Login and text negotiation (lib/iscsi/negotiate.ts): libiscsi's one-PDU login gets the exact Login
// Response a hex fixture gives; a security -> operational -> full feature login with digests; text
// continued over PDUs; every login rule fails with its status class and detail; every key kind answers
// as RFC 7143 §6 and §13 say; Discovery sessions answer SendTargets from the target list.

import { expect } from 'chai';
import {
  ANSWER,
  LOGIN_MAX_EXCHANGES,
  TARGET_CMD_WINDOW,
  answerTextRequest,
  loginStep,
  negotiate,
  newLoginState,
  type LoginConfig,
  type LoginState,
  type NegotiationContext,
  type TargetInfo,
} from '../../lib/iscsi/negotiate.js';
import { IscsiFramer } from '../../lib/iscsi/framer.js';
import { DEFAULT_MAX_RECV_DATA_SEGMENT_BYTES } from '../../lib/iscsi/negotiate.js';
import { LOGIN_STATUS, OPCODE, STAGE, emitPdu, loginFlags, makePdu, parsePdu, type PduOf } from '../../lib/iscsi/pdu.js';
import type { TextPair } from '../../lib/iscsi/text.js';
import { FIXTURES, LIBISCSI_LOGIN_KEYS, textOf, withData } from './fixtures.js';

const TARGET = 'iqn.2026-01.dev.vfab:array1';
const TARGETS: TargetInfo[] = [
  { name: TARGET, portals: ['127.0.0.1:3260', '[::1]:3260'], portalGroupTag: 1 },
  { name: 'iqn.2026-01.dev.vfab:array2', alias: 'array two', portals: ['127.0.0.1:3261'], portalGroupTag: 2 },
];
const CFG: LoginConfig = { targets: TARGETS, tsih: 7, initialStatSN: 0x100 };
const ISID = Uint8Array.from([0x80, 0x12, 0x34, 0x56, 0, 0]);

type LoginReq = PduOf<typeof OPCODE.LOGIN_REQUEST>;

function req(flags: number, pairs: Array<[string, string]>, extra: Partial<LoginReq> = {}): LoginReq {
  return makePdu(OPCODE.LOGIN_REQUEST, { immediate: true, flags, isid: ISID, itt: 1, cmdSN: 0xabcd, data: Buffer.from(textOf(pairs)), ...extra });
}

const pairsOf = (data: Uint8Array): Array<[string, string]> =>
  Buffer.from(data)
    .toString('utf8')
    .split('\0')
    .filter(Boolean)
    .map((s) => [s.slice(0, s.indexOf('=')), s.slice(s.indexOf('=') + 1)]);

const OPER_TO_FF = loginFlags(true, false, STAGE.OPERATIONAL, STAGE.FULL_FEATURE);
const SEC_TO_OPER = loginFlags(true, false, STAGE.SECURITY, STAGE.OPERATIONAL);
const BASE: Array<[string, string]> = [
  ['InitiatorName', 'iqn.1994-05.com.redhat:client'],
  ['SessionType', 'Normal'],
  ['TargetName', TARGET],
];

function failsWith(steps: LoginReq[], status: number, cfg: LoginConfig = CFG): LoginState {
  const state = newLoginState(cfg);
  let last;
  for (const r of steps) last = loginStep(state, r, cfg);
  expect(last!.outcome, last!.reason).to.equal('fail');
  const got = (last!.response.statusClass << 8) | last!.response.statusDetail;
  expect(got.toString(16), last!.reason).to.equal(status.toString(16));
  expect(last!.response.flags & 0xc0, 'a failure response has neither T nor C').to.equal(0);
  expect(last!.response.data.length).to.equal(0);
  return state;
}

describe('iscsi/negotiate', () => {
  describe('login', () => {
    it("answers libiscsi's one-PDU login with the Login Response of the hex fixture", () => {
      const parsed = parsePdu(FIXTURES.loginRequest, 0, { header: false, data: false });
      if (!parsed.ok || parsed.value.pdu.opcode !== OPCODE.LOGIN_REQUEST) throw new Error('fixture');
      const state = newLoginState(CFG);
      const d = loginStep(state, parsed.value.pdu, CFG);
      expect(d.outcome, d.reason).to.equal('full-feature');
      const expected = withData(
        // T, CSG 1, NSG 3; ISID echoed; TSIH 7; ITT 1; StatSN 0x100; ExpCmdSN 0xabcd; MaxCmdSN 0xabcd + 63.
        '23870000 00000000 80123456 00000007 00000001 00000000 00000100 0000abcd 0000ac0c 00000000 00000000 00000000',
        textOf([
          ['HeaderDigest', 'None'],
          ['DataDigest', 'None'],
          ['InitialR2T', 'No'],
          ['ImmediateData', 'Yes'],
          ['MaxBurstLength', '262144'],
          ['FirstBurstLength', '262144'],
          ['DefaultTime2Wait', '2'],
          ['DefaultTime2Retain', '0'],
          ['MaxOutstandingR2T', '1'],
          ['ErrorRecoveryLevel', '0'],
          ['IFMarker', 'No'],
          ['OFMarker', 'No'],
          ['MaxConnections', '1'],
          ['DataPDUInOrder', 'Yes'],
          ['DataSequenceInOrder', 'Yes'],
          ['TargetPortalGroupTag', '1'],
          ['MaxRecvDataSegmentLength', '262144'],
        ]),
      );
      expect(emitPdu(d.response).toString('hex')).to.equal(expected.toString('hex'));
      expect(0xabcd + TARGET_CMD_WINDOW - 1).to.equal(0xac0c);
      expect(d.params).to.include({
        sessionType: 'Normal',
        initiatorName: LIBISCSI_LOGIN_KEYS[0][1],
        targetName: TARGET,
        headerDigest: false,
        initiatorMaxRecvDataSegmentBytes: 262144,
        targetMaxRecvDataSegmentBytes: 262144,
        initialR2T: false,
        immediateData: true,
        firstBurstBytes: 262144,
        maxBurstBytes: 262144,
      });
      expect(state.done).to.equal('full-feature');
    });

    it('goes security -> operational -> full feature, with digests, StatSN counting up', () => {
      const state = newLoginState(CFG);
      const a = loginStep(state, req(SEC_TO_OPER, [...BASE, ['AuthMethod', 'CHAP,None']]), CFG);
      expect(a.outcome).to.equal('continue');
      expect(a.response.flags).to.equal(SEC_TO_OPER);
      expect(a.response.tsih, 'TSIH only in the final response').to.equal(0);
      expect(pairsOf(a.response.data)).to.deep.equal([
        ['AuthMethod', 'None'],
        ['TargetPortalGroupTag', '1'],
      ]);
      const b = loginStep(state, req(loginFlags(false, false, STAGE.OPERATIONAL, 0), [['HeaderDigest', 'CRC32C,None'], ['DataDigest', 'CRC32C']]), CFG);
      expect(b.outcome).to.equal('continue');
      expect(b.response.flags & 0x80, 'T stays 0 while the initiator does not ask to move').to.equal(0);
      expect(pairsOf(b.response.data)).to.deep.equal([
        ['HeaderDigest', 'CRC32C'],
        ['DataDigest', 'CRC32C'],
        ['MaxRecvDataSegmentLength', '262144'],
      ]);
      const c = loginStep(state, req(OPER_TO_FF, [['MaxRecvDataSegmentLength', '65536']]), CFG);
      expect(c.outcome).to.equal('full-feature');
      expect(c.response.tsih).to.equal(7);
      expect([a.response.statSN, b.response.statSN, c.response.statSN]).to.deep.equal([0x100, 0x101, 0x102]);
      expect(pairsOf(c.response.data)).to.deep.equal([]);
      expect(c.params).to.include({ headerDigest: true, dataDigest: true, initiatorMaxRecvDataSegmentBytes: 65536, targetMaxRecvDataSegmentBytes: 262144 });
    });

    it('security straight to full feature: the target never declared its limit, so 8192 holds', () => {
      const state = newLoginState(CFG);
      const d = loginStep(state, req(loginFlags(true, false, STAGE.SECURITY, STAGE.FULL_FEATURE), [...BASE, ['AuthMethod', 'None']]), CFG);
      expect(d.outcome).to.equal('full-feature');
      expect(d.params!.targetMaxRecvDataSegmentBytes).to.equal(8192);
    });

    it('joins text continued over Login Requests (C bit), answering each with an empty response', () => {
      const text = Buffer.from(textOf(LIBISCSI_LOGIN_KEYS));
      const state = newLoginState(CFG);
      const cont = loginFlags(false, true, STAGE.OPERATIONAL, 0);
      const a = loginStep(state, req(cont, [], { data: text.subarray(0, 100) }), CFG);
      expect(a.outcome).to.equal('continue');
      expect(a.response.data.length).to.equal(0);
      expect(a.response.flags).to.equal(loginFlags(false, false, STAGE.OPERATIONAL, 0));
      const b = loginStep(state, req(OPER_TO_FF, [], { data: text.subarray(100) }), CFG);
      expect(b.outcome, b.reason).to.equal('full-feature');
    });

    it('a login with digests end to end: framer -> loginStep -> response; CRC32C from the next PDU on', () => {
      const framer = new IscsiFramer({ maxDataSegmentBytes: DEFAULT_MAX_RECV_DATA_SEGMENT_BYTES });
      const state = newLoginState(CFG);
      const nop = makePdu(OPCODE.NOP_OUT, { immediate: true, itt: 2, ttt: 0xffffffff, cmdSN: 0xabcd, expStatSN: 0x101 });
      const login = req(OPER_TO_FF, [...BASE, ['HeaderDigest', 'CRC32C'], ['DataDigest', 'CRC32C']]);
      const wire = Buffer.concat([emitPdu(login), emitPdu(nop, { header: true, data: true })]);
      const seen: string[] = [];
      for (let p = 0; p < wire.length; p += 7) {
        framer.push(wire.subarray(p, p + 7), (e) => {
          if (e.type !== 'pdu') throw new Error(e.type);
          seen.push(e.pdu.opcode.toString(16));
          if (e.pdu.opcode !== OPCODE.LOGIN_REQUEST) return;
          const d = loginStep(state, e.pdu, CFG);
          expect(d.outcome, d.reason).to.equal('full-feature');
          const rsp = parsePdu(emitPdu(d.response), 0, { header: false, data: false });
          expect(rsp.ok).to.equal(true);
          framer.configure({ digests: { header: d.params!.headerDigest, data: d.params!.dataDigest }, maxDataSegmentBytes: d.params!.targetMaxRecvDataSegmentBytes });
        });
      }
      expect(seen).to.deep.equal(['3', '0']);
      expect(framer.bufferedBytes, 'the NOP-Out digest was read as a digest, not left over').to.equal(0);
    });

    describe('refuses logins that break a rule, with the status RFC 7143 §11.13.5 gives', () => {
      it('no InitiatorName: missing parameter', () => failsWith([req(OPER_TO_FF, [['SessionType', 'Normal'], ['TargetName', TARGET]])], LOGIN_STATUS.MISSING_PARAMETER));
      it('Normal session without TargetName: missing parameter', () => failsWith([req(OPER_TO_FF, [BASE[0]])], LOGIN_STATUS.MISSING_PARAMETER));
      it('unknown target: not found', () => failsWith([req(OPER_TO_FF, [BASE[0], ['TargetName', 'iqn.2026-01.dev.vfab:nope']])], LOGIN_STATUS.NOT_FOUND));
      it('version-min above 0: unsupported version', () => failsWith([req(OPER_TO_FF, BASE, { versionMin: 1, versionMax: 1 })], LOGIN_STATUS.UNSUPPORTED_VERSION));
      it('non-zero TSIH: session does not exist', () => failsWith([req(OPER_TO_FF, BASE, { tsih: 3 })], LOGIN_STATUS.SESSION_DOES_NOT_EXIST));
      it('T and C both set', () => failsWith([req(0xc7, BASE)], LOGIN_STATUS.INITIATOR_ERROR));
      it('NSG not after CSG, or reserved stage 2', () => {
        failsWith([req(loginFlags(true, false, STAGE.OPERATIONAL, STAGE.SECURITY), BASE)], LOGIN_STATUS.INITIATOR_ERROR);
        failsWith([req(loginFlags(true, false, STAGE.OPERATIONAL, STAGE.OPERATIONAL), BASE)], LOGIN_STATUS.INITIATOR_ERROR);
        failsWith([req(loginFlags(true, false, STAGE.SECURITY, 2), BASE)], LOGIN_STATUS.INITIATOR_ERROR);
      });
      it('CSG full feature', () => failsWith([req(0x0c, BASE)], LOGIN_STATUS.INITIATOR_ERROR));
      it('going back to the security stage', () =>
        failsWith([req(SEC_TO_OPER, BASE), req(loginFlags(false, false, STAGE.SECURITY, 0), [])], LOGIN_STATUS.INITIATOR_ERROR));
      it('ISID changed during login', () =>
        failsWith([req(loginFlags(false, false, STAGE.OPERATIONAL, 0), BASE), req(OPER_TO_FF, [], { isid: new Uint8Array(6) })], LOGIN_STATUS.INITIATOR_ERROR));
      it('a key negotiated twice in one login (§6.2)', () =>
        failsWith(
          [req(loginFlags(false, false, STAGE.OPERATIONAL, 0), [...BASE, ['MaxBurstLength', '65536']]), req(OPER_TO_FF, [['MaxBurstLength', '65536']])],
          LOGIN_STATUS.INITIATOR_ERROR,
        ));
      it('TargetName after the first exchange', () =>
        failsWith([req(loginFlags(false, false, STAGE.OPERATIONAL, 0), [BASE[0], ['SessionType', 'Discovery']]), req(OPER_TO_FF, [['TargetName', TARGET]])], LOGIN_STATUS.INITIATOR_ERROR));
      it('no authentication method in common: authentication failure', () => failsWith([req(SEC_TO_OPER, [...BASE, ['AuthMethod', 'CHAP']])], LOGIN_STATUS.AUTHENTICATION_FAILURE));
      it('AuthMethod in the operational stage', () => failsWith([req(OPER_TO_FF, [...BASE, ['AuthMethod', 'None']])], LOGIN_STATUS.INITIATOR_ERROR));
      it('initiator not allowed by the ACL: authorization failure', () =>
        failsWith([req(OPER_TO_FF, BASE)], LOGIN_STATUS.AUTHORIZATION_FAILURE, { ...CFG, allow: (i) => i === 'iqn.other' }));
      it('a SessionType that does not exist', () => failsWith([req(OPER_TO_FF, [BASE[0], ['SessionType', 'Boot']])], LOGIN_STATUS.SESSION_TYPE_NOT_SUPPORTED));
      it('malformed text', () => failsWith([req(OPER_TO_FF, [], { data: Buffer.from('InitiatorName\0') })], LOGIN_STATUS.INITIATOR_ERROR));
      it(`more than LOGIN_MAX_EXCHANGES (${LOGIN_MAX_EXCHANGES}) requests`, () => {
        const steps = [req(loginFlags(false, false, STAGE.OPERATIONAL, 0), BASE)];
        for (let i = 0; i < LOGIN_MAX_EXCHANGES; i++) steps.push(req(loginFlags(false, false, STAGE.OPERATIONAL, 0), []));
        failsWith(steps, LOGIN_STATUS.INITIATOR_ERROR);
      });
      it('a request after the login failed', () => {
        const state = failsWith([req(OPER_TO_FF, [BASE[0]])], LOGIN_STATUS.MISSING_PARAMETER);
        const again = loginStep(state, req(OPER_TO_FF, BASE), CFG);
        expect(again.outcome).to.equal('fail');
      });
    });
  });

  describe('key answers (§6, §13)', () => {
    const ctx = (over: Partial<NegotiationContext> = {}): NegotiationContext => ({ phase: 'operational', sessionType: 'Normal', seen: new Set(), agreed: new Map(), ...over });
    const answer = (pairs: Array<[string, string]>, over: Partial<NegotiationContext> = {}): Array<[string, string]> =>
      negotiate(
        pairs.map(([key, value]) => ({ key, value })),
        ctx(over),
      ).answers.map((a: TextPair) => [a.key, a.value]);

    it('unknown and private keys: NotUnderstood', () => {
      expect(answer([['FooBar', '1'], ['X-com.example.Thing', 'Yes']])).to.deep.equal([
        ['FooBar', ANSWER.NOT_UNDERSTOOD],
        ['X-com.example.Thing', ANSWER.NOT_UNDERSTOOD],
      ]);
    });

    it('list keys pick the first value the target accepts, else Reject', () => {
      expect(answer([['HeaderDigest', 'CRC32C,None']])).to.deep.equal([['HeaderDigest', 'CRC32C']]);
      expect(answer([['DataDigest', 'None,CRC32C']])).to.deep.equal([['DataDigest', 'None']]);
      expect(answer([['HeaderDigest', 'MD5']])).to.deep.equal([['HeaderDigest', ANSWER.REJECT]]);
      expect(answer([['TaskReporting', 'FastAbort,RFC3720']])).to.deep.equal([['TaskReporting', 'RFC3720']]);
    });

    it('numeric keys: minimum or maximum with the target value, Reject outside the range or not a number', () => {
      expect(answer([['MaxBurstLength', '16777215']])).to.deep.equal([['MaxBurstLength', '1048576']]);
      expect(answer([['MaxBurstLength', '0x2000']])).to.deep.equal([['MaxBurstLength', '8192']]);
      expect(answer([['DefaultTime2Wait', '0']])).to.deep.equal([['DefaultTime2Wait', '2']]);
      expect(answer([['DefaultTime2Wait', '20']])).to.deep.equal([['DefaultTime2Wait', '20']]);
      expect(answer([['MaxBurstLength', '511']])).to.deep.equal([['MaxBurstLength', ANSWER.REJECT]]);
      expect(answer([['ErrorRecoveryLevel', '3']])).to.deep.equal([['ErrorRecoveryLevel', ANSWER.REJECT]]);
      expect(answer([['ErrorRecoveryLevel', '2']])).to.deep.equal([['ErrorRecoveryLevel', '0']]);
      expect(answer([['MaxConnections', 'many']])).to.deep.equal([['MaxConnections', ANSWER.REJECT]]);
    });

    it('FirstBurstLength never exceeds the agreed MaxBurstLength, in either order', () => {
      expect(answer([['FirstBurstLength', '262144'], ['MaxBurstLength', '65536']])).to.deep.equal([
        ['FirstBurstLength', '65536'],
        ['MaxBurstLength', '65536'],
      ]);
    });

    it('boolean keys: AND (ImmediateData) and OR (InitialR2T), Reject for other words', () => {
      expect(answer([['ImmediateData', 'No']])).to.deep.equal([['ImmediateData', 'No']]);
      expect(answer([['ImmediateData', 'Yes']])).to.deep.equal([['ImmediateData', 'Yes']]);
      expect(answer([['InitialR2T', 'Yes']])).to.deep.equal([['InitialR2T', 'Yes']]);
      expect(answer([['InitialR2T', 'No']])).to.deep.equal([['InitialR2T', 'No']]);
      expect(answer([['DataPDUInOrder', 'No']])).to.deep.equal([['DataPDUInOrder', 'Yes']]);
      expect(answer([['RDMAExtensions', 'Yes']])).to.deep.equal([['RDMAExtensions', 'No']]);
      expect(answer([['ImmediateData', 'yes']])).to.deep.equal([['ImmediateData', ANSWER.REJECT]]);
    });

    it('declarations get no answer unless their value is out of range', () => {
      expect(answer([['MaxRecvDataSegmentLength', '65536'], ['InitiatorAlias', 'client']])).to.deep.equal([]);
      expect(answer([['MaxRecvDataSegmentLength', '100']])).to.deep.equal([['MaxRecvDataSegmentLength', ANSWER.REJECT]]);
    });

    it('Discovery sessions: session keys are Irrelevant', () => {
      expect(answer([['MaxBurstLength', '65536'], ['ImmediateData', 'Yes'], ['HeaderDigest', 'None']], { sessionType: 'Discovery' })).to.deep.equal([
        ['MaxBurstLength', ANSWER.IRRELEVANT],
        ['ImmediateData', ANSWER.IRRELEVANT],
        ['HeaderDigest', 'None'],
      ]);
    });

    it('keys sent by the wrong side or in the wrong phase: Reject; obsolete marker keys: their constant', () => {
      expect(answer([['TargetAddress', '1.2.3.4'], ['SendTargets', 'All']])).to.deep.equal([
        ['TargetAddress', ANSWER.REJECT],
        ['SendTargets', ANSWER.REJECT],
      ]);
      expect(answer([['MaxBurstLength', '65536'], ['MaxRecvDataSegmentLength', '65536']], { phase: 'full-feature' })).to.deep.equal([['MaxBurstLength', ANSWER.REJECT]]);
      expect(answer([['IFMarker', 'Yes'], ['OFMarkInt', '2048~8192']])).to.deep.equal([
        ['IFMarker', 'No'],
        ['OFMarkInt', ANSWER.REJECT],
      ]);
    });

    it('an answer word offered as a value gets no answer', () => {
      expect(answer([['MaxBurstLength', 'NotUnderstood']])).to.deep.equal([]);
    });
  });

  describe('Discovery session', () => {
    const discoveryLogin = (): LoginState => {
      const state = newLoginState(CFG);
      const d = loginStep(state, req(OPER_TO_FF, [BASE[0], ['SessionType', 'Discovery']]), CFG);
      expect(d.outcome, d.reason).to.equal('full-feature');
      expect(d.params!.sessionType).to.equal('Discovery');
      expect(pairsOf(d.response.data).map((p) => p[0])).not.to.include('TargetPortalGroupTag');
      return state;
    };

    it('SendTargets=All lists every target with each of its portals and its group tag', () => {
      const state = discoveryLogin();
      const out = answerTextRequest([{ key: 'SendTargets', value: 'All' }], state.agreed, TARGETS, { sessionType: 'Discovery' });
      expect(out.map((p) => [p.key, p.value])).to.deep.equal([
        ['TargetName', TARGET],
        ['TargetAddress', '127.0.0.1:3260,1'],
        ['TargetAddress', '[::1]:3260,1'],
        ['TargetName', 'iqn.2026-01.dev.vfab:array2'],
        ['TargetAddress', '127.0.0.1:3261,2'],
      ]);
    });

    it('SendTargets=<name> lists that target, nothing for an unknown one', () => {
      const ask = (v: string, s: { sessionType: 'Normal' | 'Discovery'; targetName?: string }): string[] =>
        answerTextRequest([{ key: 'SendTargets', value: v }], new Map(), TARGETS, s).map((p) => `${p.key}=${p.value}`);
      expect(ask('iqn.2026-01.dev.vfab:array2', { sessionType: 'Discovery' })).to.deep.equal(['TargetName=iqn.2026-01.dev.vfab:array2', 'TargetAddress=127.0.0.1:3261,2']);
      expect(ask('iqn.nope', { sessionType: 'Discovery' })).to.deep.equal([]);
      expect(ask('', { sessionType: 'Normal', targetName: TARGET })).to.deep.equal([`TargetName=${TARGET}`, 'TargetAddress=127.0.0.1:3260,1', 'TargetAddress=[::1]:3260,1']);
      expect(ask('All', { sessionType: 'Normal', targetName: TARGET })).to.deep.equal(['SendTargets=Reject']);
    });

    it('the SendTargets=All Text Request fixture parses into the pairs answered above', () => {
      const p = parsePdu(FIXTURES.textRequest, 0, { header: false, data: false });
      if (!p.ok) throw p.error;
      expect(pairsOf(p.value.pdu.data)).to.deep.equal([['SendTargets', 'All']]);
    });
  });
});
