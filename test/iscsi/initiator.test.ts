// The iSCSI initiator state machine (lib/iscsi/initiator.ts) driven against the REAL target side in
// process: bytes the initiator sends go through lib/iscsi's framer, loginStep and IscsiSession, commands
// run on a lib/storage BlockTarget over a MemoryBlockStore, and the target's PDUs go back as bytes — cut
// into small pieces with a seeded random split, or several PDUs coalesced in one chunk. Covers login (None,
// digests), reads larger than MaxRecvDataSegmentLength, writes by immediate data, unsolicited Data-Out and
// R2T, sense and residuals, the CmdSN window, NOP-In pings, Logout, CHAP (one-way and mutual against the
// real target's CHAP, and against a scripted security stage whose check is an independent MD5), and bad
// target PDUs (counted, the connection closed, never thrown).

import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { IscsiFramer } from '../../lib/iscsi/framer.js';
import { FLAG, LOGIN_STATUS, NO_DIGESTS, OPCODE, RESERVED_TAG, STAGE, emitPdu, emitPduParts, loginFlags, loginStages, makePdu, type Digests, type Pdu } from '../../lib/iscsi/pdu.js';
import { DEFAULT_MAX_RECV_DATA_SEGMENT_BYTES, loginStep, newLoginState, type LoginConfig, type LoginState, type SessionParams, type TargetChap } from '../../lib/iscsi/negotiate.js';
import { IscsiSession, type SessionAction } from '../../lib/iscsi/session.js';
import { encodeText, parseText } from '../../lib/iscsi/text.js';
import {
  INITIATOR_ERROR,
  INITIATOR_MAX_BUFFERED_BYTES,
  INITIATOR_MAX_OUTSTANDING,
  INITIATOR_MAX_RECV_DATA_SEGMENT_BYTES,
  IscsiInitiator,
  type InitiatorAction,
  type InitiatorConfig,
} from '../../lib/iscsi/initiator.js';
import { BlockTarget } from '../../lib/storage/target.js';
import { MemoryBlockStore } from '../../lib/storage/blockstore-memory.js';
import { SCSI_STATUS, SENSE_KEY, type ScsiResult } from '../../lib/storage/scsi.js';
import * as cdb from '../../lib/storage/cdb.js';
import { seededRandom } from '../../lib/clock.js';
import { VfabError } from '../../lib/errors.js';

const TARGET = 'iqn.2026-11.vfab:array1';
const INITIATOR = 'iqn.2026-11.vfab:esx1';
const ISID = Uint8Array.from([0x80, 0, 0, 0, 0, 1]);
const BLOCK = 512;
const BLOCKS = 8192; // 4 MiB LUN

type Delivery = 'whole' | 'split' | 'coalesced';

/** The target side of one connection, as the portal runs it, without sockets. */
class InProcessTarget {
  readonly framer = new IscsiFramer({ maxDataSegmentBytes: DEFAULT_MAX_RECV_DATA_SEGMENT_BYTES });
  readonly login: LoginState;
  readonly cfg: LoginConfig;
  session: IscsiSession | undefined;
  params: SessionParams | undefined;
  digests: Digests = NO_DIGESTS;
  /** Bytes for the initiator, not yet delivered. */
  toInitiator: Uint8Array[] = [];
  closed: string | undefined;
  running: Array<Promise<void>> = [];
  pdusIn: Pdu[] = [];

  constructor(readonly lu: BlockTarget, chap?: TargetChap) {
    this.cfg = { targets: [{ name: TARGET, portals: ['127.0.0.1:3260'], portalGroupTag: 1 }], tsih: 7, initialStatSN: 1000, ...(chap ? { chap } : {}) };
    this.login = newLoginState(this.cfg);
  }

  write(pdu: Pdu): void {
    this.toInitiator.push(...emitPduParts(pdu, this.digests));
  }

  receive(bytes: Uint8Array): void {
    this.framer.push(bytes, (e) => {
      if (this.closed) return;
      if (e.type !== 'pdu') {
        this.closed = `${e.type}: ${e.error.code}`;
        return;
      }
      this.pdusIn.push(e.pdu);
      if (this.session === undefined) {
        if (e.pdu.opcode !== OPCODE.LOGIN_REQUEST) {
          this.closed = 'pdu before login';
          return;
        }
        const d = loginStep(this.login, e.pdu, this.cfg);
        this.write(d.response);
        if (d.outcome === 'fail') this.closed = `login failed: ${d.reason}`;
        if (d.outcome !== 'full-feature') return;
        const p = d.params!;
        this.params = p;
        this.digests = { header: p.headerDigest, data: p.dataDigest };
        this.framer.configure({ digests: this.digests, maxDataSegmentBytes: p.targetMaxRecvDataSegmentBytes });
        this.session = new IscsiSession({ params: p, isid: this.login.isid!, cid: 0, expCmdSN: e.pdu.cmdSN, statSN: this.login.statSN, agreed: this.login.agreed, targets: this.cfg.targets });
        return;
      }
      this.perform(this.session.receive(e.pdu));
    });
  }

  perform(actions: SessionAction[]): void {
    for (const a of actions) {
      if (a.kind === 'send') this.write(a.pdu);
      else if (a.kind === 'execute') {
        this.running.push(
          this.lu.execute(a.cmd).then((r) => {
            const res = r.dataIn !== undefined ? { ...r, dataIn: Buffer.from(r.dataIn) } : r;
            this.perform(this.session!.complete(a.itt, res));
          }),
        );
      } else if (a.kind === 'close') this.closed = a.reason;
    }
  }
}

/** Cuts the concatenation of `parts` as `how` says. */
function deliveries(parts: Uint8Array[], how: Delivery, rnd: () => number): Uint8Array[] {
  if (parts.length === 0) return [];
  if (how === 'whole') return parts;
  const all = Buffer.concat(parts);
  if (how === 'coalesced') return [all];
  const out: Uint8Array[] = [];
  for (let p = 0; p < all.length; ) {
    const n = 1 + Math.floor(rnd() * 97);
    out.push(all.subarray(p, p + n));
    p += n;
  }
  return out;
}

interface Harness {
  ini: IscsiInitiator;
  tgt: InProcessTarget;
  lu: BlockTarget;
  results: Map<number, ScsiResult>;
  failures: Map<number, VfabError>;
  closes: Array<{ reason: string; error?: VfabError }>;
  ready: boolean;
  sentPdus: number;
  handle: (acts: InitiatorAction[]) => void;
  pump: () => Promise<void>;
  run: (id: number, c: Parameters<IscsiInitiator['submit']>[1]) => Promise<ScsiResult>;
}

function newLu(): BlockTarget {
  const lu = new BlockTarget(new MemoryBlockStore());
  lu.addLun({ lun: 0, name: 'lun0', id: 'naa.6' + '0'.repeat(31), sizeBytes: BLOCKS * BLOCK, blockSizeBytes: BLOCK, blocks: BLOCKS, createdAtMs: 0 });
  return lu;
}

async function harness(how: Delivery, over: Partial<InitiatorConfig> = {}, seed = 1, chap?: TargetChap): Promise<Harness> {
  const rnd = seededRandom(seed);
  const lu = newLu();
  const tgt = new InProcessTarget(lu, chap);
  const ini = new IscsiInitiator({ initiatorName: INITIATOR, targetName: TARGET, isid: ISID, initialCmdSN: 0xfffffff0, ...over });
  const toTarget: Uint8Array[] = [];
  const h: Harness = {
    ini,
    tgt,
    lu,
    results: new Map(),
    failures: new Map(),
    closes: [],
    ready: false,
    sentPdus: 0,
    handle(acts) {
      for (const a of acts) {
        if (a.kind === 'send') {
          toTarget.push(...a.parts);
          h.sentPdus++;
        } else if (a.kind === 'ready') h.ready = true;
        else if (a.kind === 'complete') h.results.set(a.id, a.result);
        else if (a.kind === 'fail') h.failures.set(a.id, a.error);
        else h.closes.push(a.error ? { reason: a.reason, error: a.error } : { reason: a.reason });
      }
    },
    async pump() {
      for (let round = 0; round < 10_000; round++) {
        const out = toTarget.splice(0);
        for (const d of deliveries(out, how, rnd)) tgt.receive(d);
        const running = tgt.running.splice(0);
        await Promise.all(running);
        const back = tgt.toInitiator.splice(0);
        for (const d of deliveries(back, how, rnd)) h.handle(ini.receive(d));
        if (toTarget.length === 0 && tgt.toInitiator.length === 0 && tgt.running.length === 0) return;
      }
      throw new Error('pump did not settle');
    },
    async run(id, c) {
      h.handle(ini.submit(id, c));
      await h.pump();
      const r = h.results.get(id);
      if (r === undefined) throw h.failures.get(id) ?? new Error(`no answer for ${id}`);
      return r;
    },
  };
  h.handle(ini.start());
  await h.pump();
  return h;
}

const pattern = (n: number, seed = 1): Buffer => Buffer.from(Uint8Array.from({ length: n }, (_, i) => (i * 131 + seed * 7 + (i >> 9)) & 0xff));
const HOW: Delivery[] = ['whole', 'split', 'coalesced'];

describe('iscsi initiator: against the real target side', () => {
  for (const how of HOW) {
    it(`logs in and moves data both ways (${how})`, async () => {
      const h = await harness(how);
      expect(h.ready).to.equal(true);
      expect(h.ini.state).to.equal('full-feature');
      expect(h.tgt.session!.initiator).to.equal(`${INITIATOR},i,0x800000000001`);
      const p = h.ini.agreedParams!;
      expect(p).to.include({ immediateData: true, initialR2T: false, auth: 'None', headerDigest: false, dataDigest: false, tsih: 7 });
      // 1 MiB write: immediate data, unsolicited Data-Out to FirstBurstLength, then R2Ts for the rest.
      const data = pattern(1024 * 1024, 3);
      const w = await h.run(1, { initiator: INITIATOR, lun: 0, cdb: cdb.write16(100, data.length / BLOCK), dataOut: data });
      expect(w.status).to.equal(SCSI_STATUS.GOOD);
      expect(h.ini.counters.r2ts).to.be.greaterThan(0);
      expect(h.ini.counters.dataOutPdus).to.be.greaterThan(0);
      // Read bigger than MaxRecvDataSegmentLength: several Data-In PDUs assembled, status in the last.
      const r = await h.run(2, { initiator: INITIATOR, lun: 0, cdb: cdb.read16(100, data.length / BLOCK) });
      expect(r.status).to.equal(SCSI_STATUS.GOOD);
      expect(h.ini.counters.dataInPdus).to.be.at.least(data.length / INITIATOR_MAX_RECV_DATA_SEGMENT_BYTES);
      expect(Buffer.from(r.dataIn!).equals(data)).to.equal(true);
      expect(h.ini.dataInBufferedBytes).to.equal(0);
      expect(h.ini.outstanding).to.equal(0);
    });
  }

  it('writes by R2T only when InitialR2T=Yes and ImmediateData=No were agreed', async () => {
    const h = await harness('split', { offer: { initialR2T: true, immediateData: false, maxBurstBytes: 64 * 1024 } });
    expect(h.ini.agreedParams).to.include({ initialR2T: true, immediateData: false, maxBurstBytes: 64 * 1024 });
    expect(h.tgt.params).to.include({ initialR2T: true, immediateData: false, maxBurstBytes: 64 * 1024 });
    const data = pattern(300 * 1024, 5);
    const w = await h.run(1, { initiator: INITIATOR, lun: 0, cdb: cdb.write10(8, data.length / BLOCK), dataOut: data });
    expect(w.status).to.equal(SCSI_STATUS.GOOD);
    expect(h.ini.counters.r2ts).to.equal(Math.ceil(data.length / (64 * 1024)));
    const cmd = h.tgt.pdusIn.find((p) => p.opcode === OPCODE.SCSI_COMMAND)!;
    expect(cmd.data.length).to.equal(0);
    const r = await h.run(2, { initiator: INITIATOR, lun: 0, cdb: cdb.read10(8, data.length / BLOCK) });
    expect(Buffer.from(r.dataIn!).equals(data)).to.equal(true);
  });

  it('negotiates CRC32C digests and uses them on every PDU after login', async () => {
    const h = await harness('split', { digests: { header: true, data: true } });
    expect(h.ini.agreedParams).to.include({ headerDigest: true, dataDigest: true });
    expect(h.tgt.digests).to.deep.equal({ header: true, data: true });
    const data = pattern(64 * 1024, 9);
    expect((await h.run(1, { initiator: INITIATOR, lun: 0, cdb: cdb.write16(0, 128), dataOut: data })).status).to.equal(SCSI_STATUS.GOOD);
    const r = await h.run(2, { initiator: INITIATOR, lun: 0, cdb: cdb.read16(0, 128) });
    expect(Buffer.from(r.dataIn!).equals(data)).to.equal(true);
    expect(h.tgt.closed).to.equal(undefined);
  });

  it('hands back sense data and short reads (underflow) as the target sent them', async () => {
    const h = await harness('coalesced');
    const bad = await h.run(1, { initiator: INITIATOR, lun: 0, cdb: cdb.read16(BLOCKS, 1) });
    expect(bad.status).to.equal(SCSI_STATUS.CHECK_CONDITION);
    expect(bad.sense).to.include({ key: SENSE_KEY.ILLEGAL_REQUEST, asc: 0x21 });
    const cap = await h.run(2, { initiator: INITIATOR, lun: 0, cdb: cdb.readCapacity16() });
    expect(cap.status).to.equal(SCSI_STATUS.GOOD);
    expect(cdb.parseReadCapacity16(cap.dataIn!)).to.include({ lastLba: BLOCKS - 1, blockSizeBytes: BLOCK });
    const tur = await h.run(3, { initiator: INITIATOR, lun: 0, cdb: cdb.testUnitReady() });
    expect(tur.status).to.equal(SCSI_STATUS.GOOD);
    expect(tur.dataIn).to.equal(undefined);
  });

  it('keeps to the CmdSN window: commands past MaxCmdSN wait, then go when the window opens', async () => {
    const h = await harness('whole');
    // 100 commands at once against the target's window of 64.
    for (let i = 0; i < 100; i++) h.handle(h.ini.submit(i, { initiator: INITIATOR, lun: 0, cdb: cdb.read16(i, 1) }));
    const sentNow = h.tgt.pdusIn.length;
    expect(h.ini.counters.windowWaits).to.be.greaterThan(0);
    await h.pump();
    expect(h.results.size).to.equal(100);
    expect([...h.results.values()].every((r) => r.status === SCSI_STATUS.GOOD)).to.equal(true);
    expect(h.tgt.session!.counters.outOfWindow).to.equal(0);
    expect(sentNow).to.be.greaterThan(0);
  });

  it('refuses more than INITIATOR_MAX_OUTSTANDING commands without sending them', async () => {
    const h = await harness('whole');
    for (let i = 0; i < INITIATOR_MAX_OUTSTANDING; i++) h.handle(h.ini.submit(i, { initiator: INITIATOR, lun: 0, cdb: cdb.testUnitReady() }));
    h.handle(h.ini.submit(9999, { initiator: INITIATOR, lun: 0, cdb: cdb.testUnitReady() }));
    expect(h.failures.get(9999)?.code).to.equal(INITIATOR_ERROR.BUSY);
    await h.pump();
    expect(h.results.size).to.equal(INITIATOR_MAX_OUTSTANDING);
  });

  it('logs out: the target answers and the initiator closes', async () => {
    const h = await harness('split');
    h.handle(h.ini.logout());
    await h.pump();
    expect(h.closes).to.deep.equal([{ reason: 'logout' }]);
    expect(h.tgt.closed).to.match(/logout/i);
  });

  it('fails every command with the caller\'s error when the connection is lost', async () => {
    const h = await harness('whole');
    h.handle(h.ini.submit(1, { initiator: INITIATOR, lun: 0, cdb: cdb.read16(0, 1) }));
    const lost = new VfabError('VFAB_BLOCK_DISCONNECTED', 'gone');
    h.handle(h.ini.connectionLost(lost));
    expect(h.failures.get(1)).to.equal(lost);
    h.handle(h.ini.submit(2, { initiator: INITIATOR, lun: 0, cdb: cdb.read16(0, 1) }));
    expect(h.failures.get(2)?.code).to.equal(INITIATOR_ERROR.NOT_READY);
  });

  it('a login the target refuses closes with the status (unknown target name)', async () => {
    const h = await harness('split', { targetName: 'iqn.2026-11.vfab:nope' });
    expect(h.ready).to.equal(false);
    expect(h.closes).to.have.length(1);
    expect(h.closes[0]!.error?.code).to.equal(INITIATOR_ERROR.LOGIN_FAILED);
    expect(h.closes[0]!.error?.details).to.deep.equal({ statusClass: 2, statusDetail: 3 });
  });
});

// ---- target PDUs written by hand ------------------------------------------------------------------------------

/** An initiator logged in through the real target, then fed hand-made target PDUs. */
async function loggedIn(): Promise<Harness> {
  return harness('whole');
}

describe('iscsi initiator: bad and unusual target PDUs', () => {
  it('answers a NOP-In ping with a NOP-Out carrying its TTT', async () => {
    const h = await loggedIn();
    const before = h.tgt.pdusIn.length;
    const { statSN, expCmdSN, maxCmdSN } = { statSN: h.tgt.session!.nextStatSN, expCmdSN: h.ini.window.cmdSN, maxCmdSN: h.ini.window.maxCmdSN };
    h.handle(h.ini.receive(emitPdu(makePdu(OPCODE.NOP_IN, { itt: RESERVED_TAG, ttt: 0x1234, statSN, expCmdSN, maxCmdSN }))));
    await h.pump();
    const nop = h.tgt.pdusIn.slice(before).find((p) => p.opcode === OPCODE.NOP_OUT);
    expect(nop).to.not.equal(undefined);
    expect(nop).to.include({ ttt: 0x1234, itt: RESERVED_TAG, immediate: true });
    expect(h.ini.counters.nopPings).to.equal(1);
    expect(h.closes).to.deep.equal([]);
  });

  const bad: Array<[string, () => Uint8Array]> = [
    ['Data-In for an unknown ITT', () => emitPdu(makePdu(OPCODE.DATA_IN, { itt: 0x4242, ttt: RESERVED_TAG, data: Buffer.alloc(8) }))],
    ['an initiator opcode', () => emitPdu(makePdu(OPCODE.SCSI_COMMAND, { itt: 1 }))],
    ['an unknown opcode', () => Buffer.concat([Buffer.of(0x1f), Buffer.alloc(47)])],
    ['a data segment over MaxRecvDataSegmentLength', () => {
      const b = Buffer.alloc(48);
      b[0] = OPCODE.DATA_IN;
      b.writeUIntBE(INITIATOR_MAX_RECV_DATA_SEGMENT_BYTES + 4, 5, 3);
      return b;
    }],
    ['a SCSI Response for an unknown ITT', () => emitPdu(makePdu(OPCODE.SCSI_RESPONSE, { itt: 0x777 }))],
    ['a Logout Response nobody asked for', () => emitPdu(makePdu(OPCODE.LOGOUT_RESPONSE, { itt: 5 }))],
    ['a Login Response in the full feature phase', () => emitPdu(makePdu(OPCODE.LOGIN_RESPONSE, { itt: 0 }))],
  ];
  for (const [name, bytes] of bad) {
    it(`${name}: counted, the connection closed, commands failed, nothing thrown`, async () => {
      const h = await loggedIn();
      // A command in flight when the bad PDU comes (its answer not yet delivered).
      h.handle(h.ini.submit(1, { initiator: INITIATOR, lun: 0, cdb: cdb.read16(0, 1) }));
      let acts: InitiatorAction[] = [];
      expect(() => (acts = h.ini.receive(bytes()))).to.not.throw();
      h.handle(acts);
      expect(h.ini.counters.badPdus).to.equal(1);
      expect(h.closes).to.have.length(1);
      expect(h.closes[0]!.error?.code).to.equal(INITIATOR_ERROR.PROTOCOL);
      expect(h.ini.state).to.equal('closed');
      // The caller then drops the connection: the command in flight fails with its disconnect error.
      const lost = new VfabError('VFAB_BLOCK_DISCONNECTED', 'dropped');
      h.handle(h.ini.connectionLost(lost));
      expect(h.failures.get(1)).to.equal(lost);
      // More bytes after the close are ignored.
      expect(h.ini.receive(bytes())).to.deep.equal([]);
    });
  }

  it('Data-In past the expected length or out of order closes the connection', async () => {
    const h = await loggedIn();
    h.handle(h.ini.submit(1, { initiator: INITIATOR, lun: 0, cdb: cdb.read16(0, 1) }));
    // Not delivered to the target: the first command of the session has ITT 1.
    h.handle(h.ini.receive(emitPdu(makePdu(OPCODE.DATA_IN, { itt: 1, ttt: RESERVED_TAG, bufferOffset: 512, data: Buffer.alloc(512), flags: 0 }))));
    expect(h.ini.counters.badPdus).to.equal(1);
    expect(h.closes[0]!.error!.message).to.match(/offset 512, expected 0/);
  });

  it('a Reject of a command fails that command and keeps the session', async () => {
    const h = await loggedIn();
    h.handle(h.ini.submit(1, { initiator: INITIATOR, lun: 0, cdb: cdb.read16(0, 1) }));
    const header = Buffer.alloc(48);
    header[0] = OPCODE.SCSI_COMMAND;
    header.writeUInt32BE(1, 16);
    h.handle(h.ini.receive(emitPdu(makePdu(OPCODE.REJECT, { itt: RESERVED_TAG, reason: 0x09, statSN: h.tgt.session!.nextStatSN, data: header }))));
    expect(h.failures.get(1)?.code).to.equal(INITIATOR_ERROR.REJECTED);
    expect(h.ini.counters.rejects).to.equal(1);
    expect(h.ini.state).to.equal('full-feature');
  });
});

// ---- CHAP -----------------------------------------------------------------------------------------------------

/**
 * A target security stage that asks for CHAP (RFC 7143 §12.1.3), then hands the operational stage to the
 * real loginStep. The response is checked with node's MD5 directly (not lib/iscsi/chap.ts).
 */
describe('iscsi initiator: CHAP login', () => {
  const SECRET = 'a-secret-of-16by';
  const CHALLENGE = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
  const ID = 0x2a;

  function chapTarget(secret: string): { receive: (b: Uint8Array) => Uint8Array[]; got: Map<string, string>; result: () => string } {
    const framer = new IscsiFramer({ maxDataSegmentBytes: DEFAULT_MAX_RECV_DATA_SEGMENT_BYTES });
    const got = new Map<string, string>();
    let outcome = 'pending';
    let statSN = 50;
    const lu = newLu();
    const real = new InProcessTarget(lu);
    let operational = false;
    return {
      got,
      result: () => outcome,
      receive(bytes) {
        const out: Uint8Array[] = [];
        framer.push(bytes, (e) => {
          if (e.type !== 'pdu' || e.pdu.opcode !== OPCODE.LOGIN_REQUEST) {
            outcome = 'bad pdu';
            return;
          }
          const req = e.pdu;
          const st = loginStages(req.flags);
          if (st.csg === STAGE.OPERATIONAL || operational) {
            // from here on the real target (its own security stage skipped: answer as if AuthMethod=None was agreed)
            if (!operational) {
              operational = true;
              real.login.stage = STAGE.OPERATIONAL;
              real.login.isid = Uint8Array.prototype.slice.call(req.isid);
              real.login.identified = true;
              real.login.agreed.set('InitiatorName', got.get('InitiatorName')!);
              real.login.agreed.set('TargetName', got.get('TargetName')!);
              real.login.statSN = statSN;
            }
            real.receive(emitPdu(req));
            out.push(...real.toInitiator.splice(0));
            if (real.session) outcome = 'full-feature';
            return;
          }
          for (const p of parseText(req.data).ok ? (parseText(req.data) as { value: Array<{ key: string; value: string }> }).value : []) got.set(p.key, p.value);
          let answers: Array<{ key: string; value: string }> = [];
          let flags = loginFlags(false, false, STAGE.SECURITY, 0);
          let status: number = LOGIN_STATUS.SUCCESS;
          if (!got.has('CHAP_A')) answers = [{ key: 'AuthMethod', value: got.get('AuthMethod') === 'CHAP' ? 'CHAP' : 'Reject' }];
          else if (!got.has('CHAP_R')) answers = [{ key: 'CHAP_A', value: '5' }, { key: 'CHAP_I', value: String(ID) }, { key: 'CHAP_C', value: '0x' + CHALLENGE.toString('hex') }];
          else {
            const want = createHash('md5').update(Buffer.of(ID)).update(secret).update(CHALLENGE).digest('hex');
            if (got.get('CHAP_R')!.toLowerCase() === '0x' + want && got.get('CHAP_N') === INITIATOR) {
              flags = loginFlags(true, false, STAGE.SECURITY, STAGE.OPERATIONAL);
            } else {
              status = LOGIN_STATUS.AUTHENTICATION_FAILURE;
              outcome = 'auth failed';
            }
          }
          out.push(
            emitPdu(
              makePdu(OPCODE.LOGIN_RESPONSE, {
                flags,
                isid: req.isid,
                itt: req.itt,
                statSN: statSN++,
                expCmdSN: req.cmdSN,
                maxCmdSN: req.cmdSN + 63,
                statusClass: status >> 8,
                statusDetail: status & 0xff,
                data: encodeText(answers),
              }),
            ),
          );
        });
        return out;
      },
    };
  }

  async function chapLogin(secret: string, targetSecret: string): Promise<{ ini: IscsiInitiator; tgt: ReturnType<typeof chapTarget>; closes: InitiatorAction[] }> {
    const tgt = chapTarget(targetSecret);
    const ini = new IscsiInitiator({ initiatorName: INITIATOR, targetName: TARGET, isid: ISID, chap: { name: INITIATOR, secret } });
    const closes: InitiatorAction[] = [];
    let pending = ini.start();
    for (let i = 0; i < 20 && pending.length > 0; i++) {
      const next: InitiatorAction[] = [];
      for (const a of pending) {
        if (a.kind === 'send') for (const b of tgt.receive(Buffer.concat(a.parts))) next.push(...ini.receive(b));
        else closes.push(a);
      }
      pending = next;
    }
    return { ini, tgt, closes };
  }

  it('answers the challenge with MD5(id, secret, challenge) and reaches the full feature phase', async () => {
    const { ini, tgt } = await chapLogin(SECRET, SECRET);
    expect(tgt.got.get('AuthMethod')).to.equal('CHAP');
    expect(tgt.got.get('CHAP_A')).to.equal('5');
    expect(tgt.result()).to.equal('full-feature');
    expect(ini.state).to.equal('full-feature');
    expect(ini.agreedParams?.auth).to.equal('CHAP');
  });

  it('a wrong secret: the target refuses, the initiator closes with LOGIN_FAILED 0x0201', async () => {
    const { ini, tgt, closes } = await chapLogin('not-the-right-secret', SECRET);
    expect(tgt.result()).to.equal('auth failed');
    expect(ini.state).to.equal('closed');
    const c = closes.find((a) => a.kind === 'close') as { error?: VfabError };
    expect(c.error?.code).to.equal(INITIATOR_ERROR.LOGIN_FAILED);
    expect(c.error?.details).to.deep.equal({ statusClass: 2, statusDetail: 1 });
  });

  it('without credentials the login offers AuthMethod=None; a target that is not configured for CHAP refuses CHAP', async () => {
    const h = await harness('whole');
    const first = parseText(h.tgt.pdusIn[0]!.data);
    expect(first.ok && first.value.find((p) => p.key === 'AuthMethod')?.value).to.equal('None');
    const c = await harness('whole', { chap: { name: INITIATOR, secret: SECRET } });
    expect(c.ready).to.equal(false);
    expect(c.closes[0]?.error?.code).to.equal(INITIATOR_ERROR.LOGIN_FAILED);
  });
});

describe('iscsi initiator: CHAP against the real target (loginStep with CHAP)', () => {
  const SECRET = 'host-secret-0123';
  const MUTUAL = 'target-secret-456';
  const rnd = seededRandom(42);
  const randomBytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => Math.floor(rnd() * 256));
  const targetChap = (mutual?: string): TargetChap => ({
    credentials: { username: INITIATOR, secret: SECRET, ...(mutual ? { mutual: { username: TARGET, secret: mutual } } : {}) },
    randomBytes,
  });
  const mutualOf = (secret: string) => ({ name: TARGET, secret, id: 9, challenge: randomBytes(16) });

  for (const how of HOW) {
    it(`one-way CHAP: logs in and moves data (${how})`, async () => {
      const h = await harness(how, { chap: { name: INITIATOR, secret: SECRET } }, 3, targetChap());
      expect(h.ready, h.closes[0]?.error?.message).to.equal(true);
      expect(h.ini.agreedParams?.auth).to.equal('CHAP');
      const data = pattern(8192, 4);
      expect((await h.run(1, { initiator: INITIATOR, lun: 0, cdb: cdb.write16(0, 16), dataOut: data })).status).to.equal(SCSI_STATUS.GOOD);
      expect(Buffer.from((await h.run(2, { initiator: INITIATOR, lun: 0, cdb: cdb.read16(0, 16) })).dataIn!).equals(data)).to.equal(true);
    });
  }

  it('a wrong secret: the real target refuses with 0x0201 and the initiator closes', async () => {
    const h = await harness('split', { chap: { name: INITIATOR, secret: 'not-the-secret-x' } }, 3, targetChap());
    expect(h.ready).to.equal(false);
    expect(h.closes[0]?.error?.code).to.equal(INITIATOR_ERROR.LOGIN_FAILED);
    expect(h.closes[0]?.error?.details).to.deep.equal({ statusClass: 2, statusDetail: 1 });
  });

  it('mutual CHAP: the target proves itself; a target with another mutual secret is refused by the initiator', async () => {
    const ok = await harness('split', { chap: { name: INITIATOR, secret: SECRET, mutual: mutualOf(MUTUAL) } }, 3, targetChap(MUTUAL));
    expect(ok.ready, ok.closes[0]?.error?.message).to.equal(true);
    const impostor = await harness('split', { chap: { name: INITIATOR, secret: SECRET, mutual: mutualOf(MUTUAL) } }, 3, targetChap('another-secret-789'));
    expect(impostor.ready).to.equal(false);
    expect(impostor.closes[0]?.error?.code).to.equal(INITIATOR_ERROR.LOGIN_FAILED);
    expect(impostor.closes[0]?.error?.message).to.match(/did not prove itself/);
  });
});

// ---- seeded fuzz ------------------------------------------------------------------------------------------------

describe('iscsi initiator: seeded random target PDUs (bounded: 100 sessions x 30 PDUs)', () => {
  const SESSIONS = 100;
  const PDUS = 30;
  const TARGET_OPS = [OPCODE.DATA_IN, OPCODE.SCSI_RESPONSE, OPCODE.R2T, OPCODE.NOP_IN, OPCODE.REJECT, OPCODE.ASYNC_MESSAGE, OPCODE.LOGOUT_RESPONSE, OPCODE.TEXT_RESPONSE, OPCODE.TASK_MGMT_RESPONSE];

  it('never throws; every command is answered exactly once; the buffered bytes and outstanding bounds hold', async () => {
    const rnd = seededRandom(2026);
    const int = (n: number): number => Math.floor(rnd() * n);
    const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
    /** The BHS a Reject carries: a SCSI Command header with that ITT. */
    const rejected = (itt: number): Buffer => {
      const b = Buffer.alloc(48);
      b[0] = OPCODE.SCSI_COMMAND;
      b.writeUInt32BE(itt, 16);
      return b;
    };
    let closed = 0;
    for (let s = 0; s < SESSIONS; s++) {
      const h = await harness('whole', {}, s + 1);
      const answered = new Map<number, number>();
      const count = (acts: InitiatorAction[]): void => {
        for (const a of acts) if (a.kind === 'complete' || a.kind === 'fail') answered.set(a.id, (answered.get(a.id) ?? 0) + 1);
        h.handle(acts);
      };
      const ids = [1, 2, 3, 4];
      count(h.ini.submit(1, { initiator: INITIATOR, lun: 0, cdb: cdb.read16(0, 8) }));
      count(h.ini.submit(2, { initiator: INITIATOR, lun: 0, cdb: cdb.write16(0, 8), dataOut: pattern(4096) }));
      count(h.ini.submit(3, { initiator: INITIATOR, lun: 0, cdb: cdb.testUnitReady() }));
      count(h.ini.submit(4, { initiator: INITIATOR, lun: 0, cdb: cdb.write16(8, 1024), dataOut: pattern(512 * 1024) }));
      const w = h.ini.window;
      for (let i = 0; i < PDUS && h.ini.state !== 'closed'; i++) {
        const op = pick(TARGET_OPS);
        const len = pick([0, 0, 4, 512, 4096, int(70000)]);
        const pdu = makePdu(op, {
          flags: pick([FLAG.F, FLAG.F | FLAG.STATUS, 0, FLAG.F | FLAG.STATUS | FLAG.UNDERFLOW, int(256)]),
          itt: pick([1, 2, 3, 4, RESERVED_TAG, int(10)]),
          ...(op === OPCODE.NOP_IN || op === OPCODE.R2T || op === OPCODE.DATA_IN ? { ttt: pick([RESERVED_TAG, 5, int(100)]) } : {}),
          ...(op === OPCODE.DATA_IN ? { bufferOffset: pick([0, 0, 512, int(5_000_000)]), dataSN: int(4), status: pick([0, 2, 8]) } : {}),
          ...(op === OPCODE.R2T ? { bufferOffset: pick([0, 4096, int(600_000)]), desiredDataTransferLength: pick([0, 4096, 65536, int(2_000_000)]), r2tSN: int(3) } : {}),
          ...(op === OPCODE.SCSI_RESPONSE ? { status: pick([0, 2, 8]), response: pick([0, 0, 1]), residualCount: int(10000) } : {}),
          ...(op === OPCODE.REJECT ? { reason: int(16) } : {}),
          statSN: int(2000),
          expCmdSN: pick([w.cmdSN, w.expCmdSN, int(0x100000000)]),
          maxCmdSN: pick([(w.cmdSN + 63) >>> 0, w.maxCmdSN, int(0x100000000)]),
          data:
            op === OPCODE.REJECT
              ? rejected(pick([1, 2, 3, 4, 99]))
              : op === OPCODE.SCSI_RESPONSE && len > 0
                ? Buffer.concat([Buffer.from([0, pick([18, 200, 0])]), pattern(len)])
                : pattern(len),
        } as never);
        let bytes: Uint8Array = emitPdu(pdu as Pdu);
        if (rnd() < 0.1) {
          bytes = Buffer.from(bytes);
          (bytes as Buffer)[int(bytes.length)] = int(256); // a garbled byte
        }
        let acts: InitiatorAction[] = [];
        expect(() => (acts = h.ini.receive(bytes)), `session ${s} pdu ${i}`).to.not.throw();
        count(acts);
        expect(h.ini.dataInBufferedBytes).to.be.at.most(INITIATOR_MAX_BUFFERED_BYTES);
        expect(h.ini.outstanding).to.be.at.most(INITIATOR_MAX_OUTSTANDING);
      }
      if (h.ini.state === 'closed') closed++;
      count(h.ini.connectionLost(new VfabError('VFAB_BLOCK_DISCONNECTED', 'end of round')));
      for (const id of ids) expect(answered.get(id), `session ${s}: command ${id} answered once`).to.equal(1);
      expect(h.ini.dataInBufferedBytes).to.equal(0);
    }
    expect(closed, 'most random sessions hit a protocol error').to.be.greaterThan(SESSIONS / 2);
  });
});
