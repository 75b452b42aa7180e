// Bad input at the array's iSCSI portal (daemons/storage/iscsi-portal.ts, RFC 7143) over real TCP to a real
// `stored` (--memory, --iscsi-port 0, a short --iscsi-login-timeout-ms): a truncated PDU then close, an
// oversize DataSegmentLength, unknown and initiator-invalid opcodes, out-of-window and duplicate CmdSN,
// header and data digest mismatches after CRC32C was negotiated, a login that never finishes, a login to a
// target the array does not have, a Data-Out for an unknown ITT/TTT, 500 idle connections at once; each
// gets what docs/iscsi.md "Bad input" says (Reject with its reason, Login Response with its status, or the
// connection closed) and shows in GET /control/status `iscsi`. Then a seeded fuzz of FUZZ_PDUS PDUs (a
// million by default, issue 11) over FUZZ_WORKERS connections at once (each logging in again when the
// target closes it), bounded in count and time; every kind of connection-ending input must have come;
// stored must still answer a clean login and a READ, and its RSS stay under RSS_BOUND_BYTES. The same
// inputs also run in-process through the pure layers in test/iscsi/fuzz.test.ts.

import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { IscsiFramer } from '../../../lib/iscsi/framer.js';
import { FLAG, LOGIN_STATUS, OPCODE, REJECT_REASON, RESERVED_TAG, STAGE, emitPdu, loginFlags, makePdu, type Digests, type Pdu } from '../../../lib/iscsi/pdu.js';
import { encodeText } from '../../../lib/iscsi/text.js';
import { MAX_ISCSI_CONNECTIONS } from '../../../daemons/storage/iscsi-portal.js';
import * as cdb from '../../../lib/storage/cdb.js';
import { control, killStored, rawIscsiClient, removeDir, spawnStored, tempDataDir, type StoredProcess } from '../storage/helpers.js';
import { FUZZ_SEED, Fuzz, RssSampler } from './fuzz-helpers.js';
import { cdb16, nextFuzzInput, type FuzzRates } from '../../iscsi/fuzz-pdus.js';

/** PDUs of the TCP fuzz (issue 11: at least a million); it must send them all within FUZZ_TIME_MS. */
const FUZZ_PDUS = Number(process.env.VFAB_ISCSI_FUZZ_PDUS ?? 1_000_000);
const FUZZ_TIME_MS = 240_000;
/** Connections fuzzing at once, each with its own seeded stream and an equal share of FUZZ_PDUS. */
const FUZZ_WORKERS = 4;
/** PDUs written (in one write) before the fuzzer waits for the answer to a ping (keeps the pipe full but bounded). */
const BURST = 256;
/**
 * Fewer connection-ending inputs per PDU than in-process (a login costs round trips over TCP), every kind
 * still there: about one in 700 inputs ends the connection instead of one in 160.
 */
const TCP_FUZZ_RATES: FuzzRates = { randomBytes: 0.0002, mutated: 0.001, logout: 0.004, rareTmf: 0.01 };
/** ITTs of the pings (worker w uses PING_ITT_BASE + w * 2^20 on): the fuzz's own ITTs stay below. */
const PING_ITT_BASE = 0x7f000000;
const LOGIN_TIMEOUT_MS = 400;
/** Longest wait for the answer to the ping after a burst before the portal counts as wedged. */
const PING_WAIT_MS = 10_000;
/** After garbage, how long an unanswered ping means the stream is out of step (the fuzzer reconnects). */
const GARBLED_WAIT_MS = 300;
const IDLE_CONNECTIONS = 500;
const RSS_BOUND_BYTES = 400 * 1024 * 1024;
const LUN_BYTES = 8 * 1024 * 1024;


describe('fuzz/iSCSI portal: bad input is answered as RFC 7143 says, counted, and never wedges stored', function () {
  this.timeout(120_000);
  let stored: StoredProcess | undefined;
  let dir = '';
  let iqn = '';
  let rss: RssSampler | undefined;
  /** Every socket a test opened, destroyed after each test (a failed assertion leaves none behind). */
  const sockets: net.Socket[] = [];
  afterEach(() => {
    for (const s of sockets.splice(0)) s.destroy();
  });

  const status = async (): Promise<any> => (await control(stored!, 'GET', '/control/status')).json.iscsi;
  const waitFor = async (what: string, ok: () => Promise<boolean>, maxMs = 5000): Promise<void> => {
    for (let waited = 0; !(await ok()); waited += 20) {
      if (waited > maxMs) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const closedOf = async (reason: string): Promise<number> => ((await status()).closed[reason] ?? 0) as number;
  const rejectsOf = async (reason: number): Promise<number> => ((await status()).rejects[`0x${reason.toString(16).padStart(2, '0')}`] ?? 0) as number;
  const closes = (s: net.Socket, maxMs = 5000): Promise<void> =>
    new Promise((resolve, reject) => {
      if (s.destroyed) return resolve();
      const t = setTimeout(() => reject(new Error('the portal did not close the connection')), maxMs);
      s.once('close', () => {
        clearTimeout(t);
        resolve();
      });
    });
  const open = async (): Promise<net.Socket> => {
    const s = net.connect(stored!.iscsiPort!, '127.0.0.1');
    s.on('error', () => {});
    s.resume(); // read (and drop) what the target sends, so its FIN is seen
    sockets.push(s);
    await new Promise<void>((r, j) => {
      s.once('connect', () => r());
      s.once('error', j);
    });
    return s;
  };
  /** A logged-in raw session (rawIscsiClient's login uses CmdSN 1, so the first command's CmdSN is 1). */
  const session = async (operational: Record<string, string> = { HeaderDigest: 'None', DataDigest: 'None' }) => {
    const c = await rawIscsiClient(stored!.iscsiPort!);
    sockets.push(c.sock);
    await c.login(iqn, operational);
    const digests: Digests = { header: operational.HeaderDigest === 'CRC32C', data: operational.DataDigest === 'CRC32C' };
    c.framer.configure({ digests });
    return { ...c, digests, send: (pdu: Pdu) => c.sock.write(emitPdu(pdu, digests)) };
  };
  const nop = (itt: number, cmdSN: number, immediate = true): Pdu =>
    makePdu(OPCODE.NOP_OUT, { immediate, flags: FLAG.F, itt, ttt: RESERVED_TAG, cmdSN, data: Buffer.from('ping') });
  /**
   * A clean login and a READ(10) of LUN 0 on a fresh connection: the target is still serving. The fuzz's
   * resets leave a unit attention for this I_T nexus: a READ answered CHECK CONDITION is asked again.
   */
  const expectServing = async (): Promise<void> => {
    const c = await session();
    let got = 0;
    for (let attempt = 0; attempt < 3 && got === 0; attempt++) {
      const itt = 0x77 + attempt;
      c.send(makePdu(OPCODE.SCSI_COMMAND, { immediate: true, flags: FLAG.F | FLAG.READ, lun: 0n, itt, expectedDataTransferLength: 512, cmdSN: 1, cdb: cdb16(cdb.read10(0, 1)) }));
      for (;;) {
        const p = await c.next();
        expect(p.itt).to.equal(itt);
        if (p.opcode === OPCODE.DATA_IN) got += p.data.length;
        if (p.opcode === OPCODE.SCSI_RESPONSE || (p.opcode === OPCODE.DATA_IN && (p.flags & FLAG.STATUS) !== 0)) break;
      }
    }
    expect(got).to.equal(512);
    c.sock.destroy();
  };

  before(async () => {
    dir = tempDataDir('vfab-iscsi-fuzz-');
    const cfg = join(dir, 'array.json');
    writeFileSync(cfg, JSON.stringify({ name: 'fz', luns: [{ name: 'l0', sizeBytes: LUN_BYTES, lun: 0 }, { name: 'l1', sizeBytes: LUN_BYTES, blockSize: 4096, lun: 1 }] }));
    stored = await spawnStored(['--memory', '--config', cfg, '--iscsi-port', '0', '--iscsi-login-timeout-ms', String(LOGIN_TIMEOUT_MS)]);
    iqn = stored.iqn!;
    rss = new RssSampler(stored.pid);
  });
  after(async () => {
    rss?.stop();
    await killStored(stored);
    if (dir) removeDir(dir);
  });

  it('a truncated PDU followed by a close is dropped with the connection (peer-closed), before and after login', async () => {
    const before = await closedOf('peer-closed');
    const s = await open();
    s.end(emitPdu(nop(1, 1)).subarray(0, 30));
    await closes(s);
    const c = await session();
    c.sock.end(emitPdu(nop(2, 1)).subarray(0, 50));
    await closes(c.sock);
    await waitFor('two peer-closed', async () => (await closedOf('peer-closed')) === before + 2);
    await expectServing();
  });

  it('a DataSegmentLength over MaxRecvDataSegmentLength closes the connection (fatal-pdu): nothing after it can be framed', async () => {
    const before = await closedOf('fatal-pdu');
    const c = await session();
    const big = emitPdu(nop(3, 1));
    big[5] = 0xff; // 16 MiB: far beyond the MaxRecvDataSegmentLength the target declared
    c.sock.write(big);
    await closes(c.sock);
    expect(await closedOf('fatal-pdu')).to.equal(before + 1);
    await expectServing();
  });

  it('an opcode RFC 7143 does not define closes the connection (bad-pdu); target opcodes, SNACK and a second Login are Rejected and the session goes on', async () => {
    const c = await session();
    const protoBefore = await rejectsOf(REJECT_REASON.PROTOCOL_ERROR);
    const unsupportedBefore = await rejectsOf(REJECT_REASON.COMMAND_NOT_SUPPORTED);
    // a NOP-In (a target opcode) from the initiator
    const nopIn = emitPdu(nop(4, 1));
    nopIn[0] = OPCODE.NOP_IN;
    c.sock.write(nopIn);
    let p = await c.next();
    expect(p.opcode).to.equal(OPCODE.REJECT);
    expect((p as any).reason).to.equal(REJECT_REASON.PROTOCOL_ERROR);
    c.send(makePdu(OPCODE.SNACK_REQUEST, { itt: 5, ttt: RESERVED_TAG }));
    p = await c.next();
    expect((p as any).reason).to.equal(REJECT_REASON.COMMAND_NOT_SUPPORTED);
    c.send(makePdu(OPCODE.LOGIN_REQUEST, { immediate: true, flags: loginFlags(true, false, STAGE.OPERATIONAL, STAGE.FULL_FEATURE), isid: Uint8Array.from([0x80, 1, 2, 3, 0, 0]), itt: 6, cmdSN: 1 }));
    p = await c.next();
    expect((p as any).reason).to.equal(REJECT_REASON.PROTOCOL_ERROR);
    c.send(nop(7, 1));
    p = await c.next();
    expect([p.opcode, p.itt]).to.deep.equal([OPCODE.NOP_IN, 7]);
    expect(await rejectsOf(REJECT_REASON.PROTOCOL_ERROR)).to.equal(protoBefore + 2);
    expect(await rejectsOf(REJECT_REASON.COMMAND_NOT_SUPPORTED)).to.equal(unsupportedBefore + 1);
    const badBefore = await closedOf('bad-pdu');
    const undefinedOp = emitPdu(nop(8, 1));
    undefinedOp[0] = 0x40 | 0x1b; // no iSCSI opcode 0x1b
    c.sock.write(undefinedOp);
    await closes(c.sock);
    expect(await closedOf('bad-pdu')).to.equal(badBefore + 1);
    await expectServing();
  });

  it('a command whose CmdSN is out of the window or already used is ignored (§4.2.2.1), counted, and the next in order is served', async () => {
    const c = await session();
    const before = (await status()).ignoredCmdSN as number;
    c.send(nop(0x10, 1, false));
    expect((await c.next()).itt).to.equal(0x10);
    c.send(nop(0x11, 1, false)); // duplicate
    c.send(nop(0x12, 1000, false)); // beyond MaxCmdSN
    c.send(nop(0x13, 0xfffffff0, false)); // before ExpCmdSN (serial arithmetic)
    c.send(nop(0x14, 2, false));
    const p = await c.next();
    expect([p.opcode, p.itt]).to.deep.equal([OPCODE.NOP_IN, 0x14]);
    expect((await status()).ignoredCmdSN).to.equal(before + 3);
    c.sock.destroy();
  });

  it('with CRC32C negotiated, a bad header digest closes the connection (fatal-pdu) and a bad data digest is Rejected (0x02)', async () => {
    const h = await session({ HeaderDigest: 'CRC32C', DataDigest: 'None' });
    const fatalBefore = await closedOf('fatal-pdu');
    const bad = emitPdu(nop(0x20, 1), h.digests);
    bad[48] = bad[48]! ^ 0x01; // first byte of the header digest
    h.sock.write(bad);
    await closes(h.sock);
    expect(await closedOf('fatal-pdu')).to.equal(fatalBefore + 1);

    const d = await session({ HeaderDigest: 'CRC32C', DataDigest: 'CRC32C' });
    const digestBefore = await rejectsOf(REJECT_REASON.DATA_DIGEST);
    const badData = emitPdu(nop(0x21, 1), d.digests);
    badData[badData.length - 1] = badData[badData.length - 1]! ^ 0x80;
    d.sock.write(badData);
    const rej = await d.next();
    expect([rej.opcode, (rej as any).reason]).to.deep.equal([OPCODE.REJECT, REJECT_REASON.DATA_DIGEST]);
    d.send(nop(0x22, 1));
    expect((await d.next()).itt).to.equal(0x22);
    expect(await rejectsOf(REJECT_REASON.DATA_DIGEST)).to.equal(digestBefore + 1);
    d.sock.destroy();
  });

  it('a login that never finishes is closed after --iscsi-login-timeout-ms (login-timeout); a login to an unknown target gets status 0x0203', async () => {
    const before = await closedOf('login-timeout');
    const s = await open();
    const isid = Uint8Array.from([0x80, 9, 9, 9, 0, 0]);
    const text = encodeText([{ key: 'InitiatorName', value: 'iqn.test:slow' }, { key: 'SessionType', value: 'Normal' }, { key: 'TargetName', value: iqn }, { key: 'AuthMethod', value: 'None' }]);
    s.write(emitPdu(makePdu(OPCODE.LOGIN_REQUEST, { immediate: true, flags: loginFlags(true, false, STAGE.SECURITY, STAGE.OPERATIONAL), isid, itt: 1, cmdSN: 1, data: text })));
    const t0 = Date.now();
    await closes(s, 5000); // the security stage was answered; the operational stage never comes
    expect(Date.now() - t0).to.be.within(LOGIN_TIMEOUT_MS / 2, 4000);
    expect(await closedOf('login-timeout')).to.equal(before + 1);

    const failBefore = (await status()).loginFailures as number;
    const u = await open();
    const framer = new IscsiFramer();
    const got: Pdu[] = [];
    u.on('data', (b: Buffer) => framer.push(b, (e) => e.type === 'pdu' && got.push(e.pdu)));
    const textU = encodeText([{ key: 'InitiatorName', value: 'iqn.test:lost' }, { key: 'SessionType', value: 'Normal' }, { key: 'TargetName', value: 'iqn.2026-11.vfab:nosuch' }, { key: 'AuthMethod', value: 'None' }]);
    u.write(emitPdu(makePdu(OPCODE.LOGIN_REQUEST, { immediate: true, flags: loginFlags(true, false, STAGE.SECURITY, STAGE.OPERATIONAL), isid, itt: 1, cmdSN: 1, data: textU })));
    await closes(u);
    expect(got).to.have.length(1);
    const r = got[0] as any;
    expect(r.opcode).to.equal(OPCODE.LOGIN_RESPONSE);
    expect((r.statusClass << 8) | r.statusDetail).to.equal(LOGIN_STATUS.NOT_FOUND);
    expect((await status()).loginFailures).to.equal(failBefore + 1);
  });

  it('a Data-Out for an unknown ITT/TTT is Rejected with Invalid PDU Field (0x09) and the session goes on', async () => {
    const c = await session();
    const before = await rejectsOf(REJECT_REASON.INVALID_PDU_FIELD);
    c.send(makePdu(OPCODE.DATA_OUT, { flags: FLAG.F, lun: 0n, itt: 0x4242, ttt: 0x1234, dataSN: 0, bufferOffset: 0, data: Buffer.alloc(512) }));
    const p = await c.next();
    expect([p.opcode, (p as any).reason]).to.deep.equal([OPCODE.REJECT, REJECT_REASON.INVALID_PDU_FIELD]);
    expect(Buffer.from(p.data).readUInt32BE(16)).to.equal(0x4242); // the rejected BHS comes back
    c.send(nop(0x30, 1));
    expect((await c.next()).itt).to.equal(0x30);
    expect(await rejectsOf(REJECT_REASON.INVALID_PDU_FIELD)).to.equal(before + 1);
    c.sock.destroy();
  });

  it(`${IDLE_CONNECTIONS} idle connections at once: ${MAX_ISCSI_CONNECTIONS} held until the login timeout, the rest refused at accept; all counted, stored serving`, async () => {
    await waitFor('the earlier tests\' connections to be gone', async () => (await status()).connections.length === 0);
    const before = await status();
    const socks = await Promise.all(Array.from({ length: IDLE_CONNECTIONS }, async () => open().catch(() => undefined)));
    try {
      await waitFor('every connection accepted or refused', async () => (await status()).accepted - before.accepted === IDLE_CONNECTIONS);
      const mid = await status();
      expect(mid.connections.length).to.be.at.most(MAX_ISCSI_CONNECTIONS);
      expect((mid.closed['too-many-connections'] ?? 0) - (before.closed['too-many-connections'] ?? 0)).to.be.at.least(IDLE_CONNECTIONS - MAX_ISCSI_CONNECTIONS);
      // all held slots are freed by the login timeout, with no help from the initiators
      await waitFor('the login timeout to free every slot', async () => (await status()).connections.length === 0, 5000);
      const after = await status();
      const counted = ['too-many-connections', 'login-timeout', 'peer-closed'].reduce((n, k) => n + (after.closed[k] ?? 0) - (before.closed[k] ?? 0), 0);
      expect(counted).to.equal(IDLE_CONNECTIONS);
    } finally {
      for (const s of socks) s?.destroy();
    }
    await expectServing();
    expect(rss!.max).to.be.below(RSS_BOUND_BYTES);
  });

  it(`seeded fuzz (VFAB_FUZZ_SEED=${FUZZ_SEED}): ${FUZZ_PDUS} PDUs over ${FUZZ_WORKERS} connections at once; stored keeps serving, RSS under ${RSS_BOUND_BYTES / 1024 / 1024} MiB`, async function () {
    this.timeout(FUZZ_TIME_MS + 60_000);
    const started = Date.now();
    const totals = { sent: 0, logins: 0, outOfStep: 0 };
    const elapsed = (): number => Date.now() - started;
    /**
     * One worker: its own seeded stream (seed + worker number), its quota of PDUs, logged in again whenever
     * the target closes its connection; the digest setting rotates per login.
     */
    const worker = async (w: number, quota: number): Promise<void> => {
      const f = new Fuzz(FUZZ_SEED + w);
      let sent = 0;
      let pings = 0;
      for (let logins = 0; sent < quota && elapsed() < FUZZ_TIME_MS; logins++) {
        const kind = (logins + w) % 3;
        const operational = kind === 0 ? { HeaderDigest: 'None', DataDigest: 'None' } : kind === 1 ? { HeaderDigest: 'CRC32C', DataDigest: 'None' } : { HeaderDigest: 'CRC32C', DataDigest: 'CRC32C' };
        const c = await session(operational);
        totals.logins++;
        // From here the answers are only scanned for ExpCmdSN and the ping's answer (nothing is kept).
        c.sock.removeAllListeners('data');
        const framer = new IscsiFramer({ digests: c.digests });
        let expCmdSN = 1;
        let pong = -1;
        let closed = false;
        let wake: (() => void) | undefined;
        c.sock.once('close', () => {
          closed = true;
          wake?.();
        });
        c.sock.on('data', (b: Buffer) =>
          framer.push(b, (e) => {
            if (e.type !== 'pdu') return;
            const p = e.pdu as any;
            if (typeof p.expCmdSN === 'number' && p.opcode !== OPCODE.REJECT) expCmdSN = p.expCmdSN;
            const itt = p.opcode === OPCODE.REJECT && p.data.length >= 20 ? Buffer.from(p.data).readUInt32BE(16) : p.itt;
            if (itt >= PING_ITT_BASE && itt !== RESERVED_TAG) {
              pong = itt;
              wake?.();
            }
          }),
        );
        while (!closed && sent < quota && elapsed() < FUZZ_TIME_MS) {
          let cmdSN = expCmdSN;
          // Bytes that are no PDU can leave the target waiting for the rest of a PDU they announced (the
          // stream is out of step, RFC 7143 has no way back at ERL 0): after such a burst a missing answer to
          // the ping only ends the connection; after a burst of whole PDUs it means the portal is wedged.
          let garbled = false;
          const chunks: Buffer[] = [];
          for (let i = 0; i < BURST && sent < quota; i++, sent++, totals.sent++) {
            const next = nextFuzzInput(f, cmdSN, c.digests, TCP_FUZZ_RATES);
            cmdSN = next.cmdSN;
            garbled ||= next.garbled;
            if (next.bytes !== undefined) chunks.push(next.bytes);
          }
          const ping = PING_ITT_BASE + w * 0x100000 + (pings++ & 0xfffff);
          chunks.push(emitPdu(nop(ping, cmdSN), c.digests));
          const ok = c.sock.write(Buffer.concat(chunks));
          if (!ok && !closed) await new Promise((r) => (c.sock.once('drain', r), c.sock.once('close', r)));
          if (pong !== ping && !closed) {
            const limit = garbled ? GARBLED_WAIT_MS : PING_WAIT_MS;
            await new Promise<void>((r) => {
              const t = setTimeout(r, limit);
              wake = () => {
                if (pong !== ping && !closed) return;
                clearTimeout(t);
                r();
              };
            });
            wake = undefined;
            if (pong !== ping && !closed) {
              if (!garbled) throw new Error(`worker ${w}: no answer to ping 0x${ping.toString(16)} in ${PING_WAIT_MS} ms: the portal is wedged`);
              totals.outOfStep++;
            }
          }
          if (pong !== ping) break;
        }
        c.sock.destroy();
      }
    };
    try {
      await Promise.all(Array.from({ length: FUZZ_WORKERS }, (_, w) => worker(w, Math.ceil(FUZZ_PDUS / FUZZ_WORKERS))));
      await expectServing();
    } catch (e) {
      throw new Error(`iSCSI fuzz failed (replay with VFAB_FUZZ_SEED=${FUZZ_SEED}) after ${totals.sent} PDUs: ${(e as Error).message}\n${stored!.stderr().slice(-2000)}`);
    }
    const seconds = elapsed() / 1000;
    const max = rss!.stop();
    const st = await status();
    console.log(
      `      ${totals.sent} PDUs in ${seconds.toFixed(1)} s (${Math.round(totals.sent / seconds)} PDUs/s), ${totals.logins} logins (${totals.outOfStep} after garbage put the stream out of step), peak RSS ${(max / 1024 / 1024).toFixed(0)} MiB;` +
        ` closed ${JSON.stringify(st.closed)}, rejects ${JSON.stringify(st.rejects)}, ignored CmdSN ${st.ignoredCmdSN}`,
    );
    expect(totals.sent, `all ${FUZZ_PDUS} PDUs within ${FUZZ_TIME_MS / 1000} s (seed ${FUZZ_SEED})`).to.be.at.least(FUZZ_PDUS);
    expect(max, `stored's peak RSS (seed ${FUZZ_SEED})`).to.be.below(RSS_BOUND_BYTES);
    if (FUZZ_PDUS >= 100_000) {
      // every kind of input that ends a connection came, and was counted as such
      for (const reason of ['logout', 'target cold reset', 'fatal-pdu', 'bad-pdu']) expect(st.closed[reason] ?? 0, `connections closed by ${reason}`).to.be.above(0);
      expect(totals.outOfStep + (st.closed['fatal-pdu'] ?? 0), 'garbled inputs').to.be.above(0);
    }
    expect((await control(stored!, 'GET', '/control/status')).status).to.equal(200);
    // a real initiator too, when libiscsi's tools are installed (test/e2e/storage/iscsi-portal.test.ts needs them)
    if (spawnSync('sh', ['-c', 'command -v iscsi-inq']).status === 0) {
      const r = spawnSync('iscsi-inq', [`iscsi://127.0.0.1:${stored!.iscsiPort}/${iqn}/0`], { encoding: 'utf8', timeout: 20_000 });
      expect(r.status, r.stderr).to.equal(0);
    }
  });
});
