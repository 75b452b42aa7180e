// The million-PDU seeded fuzz of the iSCSI target's pure layers, in-process: bytes through IscsiFramer, the
// login through loginStep, the full feature phase through IscsiSession, and its SCSI commands run on a real
// lib/storage array (memory block store, two LUNs) — the path daemons/storage/iscsi-portal.ts drives,
// without TCP (the TCP fuzz of test/e2e/fuzz/iscsi.test.ts sends its million PDUs to a real stored with
// fewer connection-ending inputs per PDU; this one checks the session's queue bounds after every PDU). Mostly well-formed PDUs with mutated fields (test/iscsi/
// fuzz-pdus.ts), some byte-mutated, some random bytes, and mutated logins; a connection the target closes is
// replaced by a new one. Checks that nothing throws, that every queue the session keeps stays within its
// bound, that a clean login and a READ still work at the end, and that the heap stays under HEAP_BOUND_BYTES.
// Seed from VFAB_FUZZ_SEED (printed on failure); bounded in count (FUZZ_PDUS) and time (FUZZ_TIME_MS).

import { expect } from 'chai';
import { IscsiFramer, type FramerEvent } from '../../lib/iscsi/framer.js';
import { DEFAULT_MAX_RECV_DATA_SEGMENT_BYTES, TARGET_CMD_WINDOW, loginStep, newLoginState, type LoginState, type TargetInfo } from '../../lib/iscsi/negotiate.js';
import { FLAG, ISCSI_ERROR, NO_DIGESTS, OPCODE, RESERVED_TAG, STAGE, emitPdu, loginFlags, makePdu, parsePdu, type Digests, type Pdu } from '../../lib/iscsi/pdu.js';
import { IscsiSession, SESSION_MAX_DATA_OUT_BYTES, SESSION_MAX_IMMEDIATE_TASKS, type SessionAction } from '../../lib/iscsi/session.js';
import { encodeText } from '../../lib/iscsi/text.js';
import { ensureLuns, openArray, type StorageArray } from '../../lib/storage/array.js';
import * as cdb from '../../lib/storage/cdb.js';
import { FUZZ_SEED, Fuzz } from '../e2e/fuzz/fuzz-helpers.js';
import { cdb16, nextFuzzInput } from './fuzz-pdus.js';

const FUZZ_PDUS = Number(process.env.VFAB_ISCSI_FUZZ_PDUS_INPROCESS ?? 1_000_000);
const FUZZ_TIME_MS = 55_000;
const BURST = 48;
const HEAP_BOUND_BYTES = 256 * 1024 * 1024;
const LUN_BYTES = 4 * 1024 * 1024;
const TARGETS: TargetInfo[] = [{ name: 'iqn.2026-11.vfab:fz', alias: 'fz', portals: ['127.0.0.1:3260'], portalGroupTag: 1 }];
const ISID = Uint8Array.from([0x80, 1, 2, 3, 0, 0]);

/** One simulated connection: what PortalConnection does with the target's answers replaced by counters. */
class Conn {
  readonly framer = new IscsiFramer({ maxDataSegmentBytes: DEFAULT_MAX_RECV_DATA_SEGMENT_BYTES });
  login: LoginState | undefined;
  session: IscsiSession | undefined;
  digests: Digests = NO_DIGESTS;
  closed: string | undefined;
  answers: Pdu[] = [];
  running: Array<Promise<void>> = [];
  constructor(private readonly array: StorageArray, private readonly stats: Record<string, number>) {}

  push(bytes: Uint8Array): void {
    if (this.closed === undefined) this.framer.push(bytes, (e) => this.onEvent(e));
  }

  private onEvent(e: FramerEvent): void {
    if (this.closed !== undefined) return;
    if (e.type === 'fatal') return this.close('fatal-pdu');
    if (this.session === undefined) {
      if (e.type === 'bad-pdu') return this.close('bad-pdu-during-login');
      if (e.pdu.opcode !== OPCODE.LOGIN_REQUEST) return this.close('pdu-before-login');
      const cfg = { targets: TARGETS, tsih: 1, initialStatSN: 100 };
      this.login ??= newLoginState(cfg);
      const d = loginStep(this.login, e.pdu, cfg);
      this.answers.push(d.response);
      if (d.outcome === 'fail') return this.close('login-failed');
      if (d.outcome !== 'full-feature' || d.params === undefined) return;
      const p = d.params;
      this.digests = { header: p.headerDigest, data: p.dataDigest };
      this.framer.configure({ digests: this.digests, maxDataSegmentBytes: p.targetMaxRecvDataSegmentBytes });
      this.session = new IscsiSession({ params: p, isid: this.login.isid!, cid: this.login.cid, expCmdSN: e.pdu.cmdSN, statSN: this.login.statSN, agreed: this.login.agreed, targets: TARGETS });
      return;
    }
    if (e.type === 'bad-pdu') {
      if (e.error.code !== ISCSI_ERROR.DATA_DIGEST) return this.close('bad-pdu');
      const b = Uint8Array.prototype.slice.call(e.header, 0, 48);
      b[4] = b[5] = b[6] = b[7] = 0;
      const r = parsePdu(b, 0, NO_DIGESTS);
      if (!r.ok) return this.close('bad-pdu');
      return this.perform(this.session.dataDigestError(r.value.pdu));
    }
    this.perform(this.session.receive(e.pdu));
  }

  private perform(actions: SessionAction[]): void {
    for (const a of actions) {
      if (this.closed !== undefined) return;
      switch (a.kind) {
        case 'send':
          this.stats[`sent-${a.pdu.opcode.toString(16)}`] = (this.stats[`sent-${a.pdu.opcode.toString(16)}`] ?? 0) + 1;
          emitPdu(a.pdu, this.digests); // everything the session answers must be emittable
          if (this.answers.length < 256) this.answers.push(a.pdu);
          break;
        case 'execute':
          this.stats.executed = (this.stats.executed ?? 0) + 1;
          this.running.push(
            this.array.execute(a.cmd).then(
              (res) => {
                if (this.session !== undefined) this.perform(this.session.complete(a.itt, res.dataIn !== undefined ? { ...res, dataIn: Buffer.from(res.dataIn) } : res));
              },
              (err: unknown) => {
                throw new Error(`the array threw on ${Buffer.from(a.cmd.cdb).toString('hex')}: ${(err as Error).message}`);
              },
            ),
          );
          break;
        case 'lun-reset':
          this.array.logicalUnitReset(a.lun);
          break;
        case 'target-reset':
          for (const l of this.array.listLuns()) this.array.logicalUnitReset(l.lun);
          break;
        case 'close':
          this.close(a.reason);
          return;
        default:
          break; // aborts: the array's commands finish anyway and the session drops their results
      }
    }
  }

  close(reason: string): void {
    if (this.closed !== undefined) return;
    this.closed = reason;
    this.stats[`closed-${reason}`] = (this.stats[`closed-${reason}`] ?? 0) + 1;
    this.session?.connectionLost();
  }

  /** Waits for the commands handed to the array (their completions may hand out more). */
  async settle(): Promise<void> {
    while (this.running.length > 0) await Promise.all(this.running.splice(0));
  }
}

function loginBytes(operational: Record<string, string>): Buffer[] {
  const req = (flags: number, pairs: Record<string, string>): Buffer =>
    emitPdu(makePdu(OPCODE.LOGIN_REQUEST, { immediate: true, flags, isid: ISID, itt: 1, cmdSN: 1, data: encodeText(Object.entries(pairs).map(([key, value]) => ({ key, value }))) }));
  return [
    req(loginFlags(true, false, STAGE.SECURITY, STAGE.OPERATIONAL), { InitiatorName: 'iqn.test:fuzz', SessionType: 'Normal', TargetName: TARGETS[0]!.name, AuthMethod: 'None' }),
    req(loginFlags(true, false, STAGE.OPERATIONAL, STAGE.FULL_FEATURE), operational),
  ];
}

describe('iscsi/seeded in-process fuzz: framer, login and session against a real array', function () {
  this.timeout(FUZZ_TIME_MS + 30_000);
  let array: StorageArray;
  before(async () => {
    array = await openArray({ name: 'fz', readCacheBytes: 0 });
    await ensureLuns(array, [{ name: 'l0', sizeBytes: LUN_BYTES, lun: 0 }, { name: 'l1', sizeBytes: LUN_BYTES, blockSizeBytes: 4096, lun: 1 }]);
  });
  after(async () => {
    await array.close();
  });

  it(`${FUZZ_PDUS} PDUs (VFAB_FUZZ_SEED=${FUZZ_SEED}): nothing throws, every session bound holds, a clean login and READ work after`, async () => {
    const f = new Fuzz(FUZZ_SEED);
    const stats: Record<string, number> = {};
    const started = Date.now();
    const heap0 = process.memoryUsage().heapUsed;
    let heapMax = 0;
    let sent = 0;
    let conns = 0;
    const fail = (e: unknown): never => {
      throw new Error(`in-process iSCSI fuzz failed (replay with VFAB_FUZZ_SEED=${FUZZ_SEED}) after ${sent} PDUs: ${(e as Error).stack}`);
    };
    try {
      while (sent < FUZZ_PDUS && Date.now() - started < FUZZ_TIME_MS) {
        const c = new Conn(array, stats);
        conns++;
        const kind = conns % 3;
        const login = loginBytes(kind === 0 ? { HeaderDigest: 'None', DataDigest: 'None' } : kind === 1 ? { HeaderDigest: 'CRC32C', DataDigest: 'None' } : { HeaderDigest: 'CRC32C', DataDigest: 'CRC32C' });
        for (const b of login) {
          c.push(f.chance(0.03) ? f.mutate(b) : b); // some logins fail or never finish
          sent++;
        }
        if (c.session === undefined) continue; // refused, or still in login: dropped like the login timeout would
        let cmdSN = 1;
        while (c.closed === undefined && sent < FUZZ_PDUS) {
          for (let i = 0; i < BURST && c.closed === undefined; i++, sent++) {
            const next = nextFuzzInput(f, cmdSN, c.digests);
            cmdSN = next.cmdSN;
            if (next.bytes !== undefined) c.push(next.bytes);
          }
          const s = c.session;
          expect(s.taskCount).to.be.at.most(TARGET_CMD_WINDOW + SESSION_MAX_IMMEDIATE_TASKS);
          expect(s.bufferedDataOutBytes).to.be.at.most(SESSION_MAX_DATA_OUT_BYTES);
          expect(s.heldCommands).to.be.at.most(TARGET_CMD_WINDOW);
          await c.settle();
          // With no task left, every window slot is free again: no task leaked a slot.
          if (s.taskCount === 0 && c.closed === undefined) expect((s.maxCmdSN - s.nextExpCmdSN + 1) >>> 0, 'open CmdSN window with no task').to.equal(TARGET_CMD_WINDOW);
          cmdSN = s.nextExpCmdSN;
          if (c.framer.bufferedBytes > 0 && f.chance(0.5)) c.close('out-of-step'); // a partial PDU left by garbage
          if ((sent & 0xffff) < BURST) heapMax = Math.max(heapMax, process.memoryUsage().heapUsed);
        }
        c.close('fuzzer');
        await c.settle();
      }
      // the same array still serves a clean session
      const c = new Conn(array, stats);
      for (const b of loginBytes({ HeaderDigest: 'None', DataDigest: 'None' })) c.push(b);
      expect(c.session, 'a clean login after the fuzz').to.not.equal(undefined);
      // The fuzz's resets left a unit attention for this I_T nexus: a READ answered CHECK CONDITION is asked again.
      let got = 0;
      for (let attempt = 0; attempt < 3 && got === 0; attempt++) {
        c.answers.length = 0;
        const itt = 0x77 + attempt;
        c.push(emitPdu(makePdu(OPCODE.SCSI_COMMAND, { immediate: true, flags: FLAG.F | FLAG.READ, lun: 0n, itt, expectedDataTransferLength: 512, cmdSN: 1, cdb: cdb16(cdb.read10(0, 1)) })));
        await c.settle();
        got = c.answers.filter((p) => p.opcode === OPCODE.DATA_IN && p.itt === itt).reduce((n, p) => n + p.data.length, 0);
      }
      expect(got).to.equal(512);
      expect(c.answers.some((p) => p.itt === RESERVED_TAG)).to.equal(false);
    } catch (e) {
      fail(e);
    }
    const seconds = (Date.now() - started) / 1000;
    heapMax = Math.max(heapMax, process.memoryUsage().heapUsed);
    console.log(`      ${sent} PDUs in ${seconds.toFixed(1)} s (${Math.round(sent / seconds)} PDUs/s) on ${conns} connections; heap ${((heapMax - heap0) / 1048576).toFixed(0)} MiB over the start; ${JSON.stringify(stats)}`);
    expect(sent).to.be.at.least(Math.min(FUZZ_PDUS, 100_000));
    expect(heapMax).to.be.below(HEAP_BOUND_BYTES);
  });
});
