// The array's iSCSI portal (RFC 7143) in stored: a TCP listener whose connections each run one session —
// the byte stream cut into PDUs by lib/iscsi/framer.ts, the login decided by lib/iscsi/negotiate.ts
// (loginStep; Discovery sessions answer SendTargets with this portal), the full feature phase by
// lib/iscsi/session.ts (IscsiSession). This file only performs the actions those pure parts return: it
// writes PDUs (digests switched on after the login as negotiated), runs SCSI commands on the array's target
// through the same path and the same array-wide in-flight byte budget as the WebSocket block server (one
// command model, several transports), applies LUN and target resets, and closes connections. One target
// (IQN) per array; its LUNs keep the array's LUN numbers. Bounds: MAX_ISCSI_CONNECTIONS connections,
// LOGIN_TIMEOUT_MS to finish a login, the session's CmdSN window (so at most TARGET_CMD_WINDOW +
// SESSION_MAX_IMMEDIATE_TASKS commands queued per connection), MAX_SEND_BUFFER_BYTES unsent before reading
// stops. Malformed input closes that connection with a counted reason, never the process; Rejects are counted
// by reason and commands dropped for their CmdSN in `ignoredCmdSN` (docs/iscsi.md "Bad input"). Access
// (docs/iscsi.md "Access: initiator ACLs and CHAP"): a Normal login from an initiator not on the ACL is refused
// (0x0202, `aclRefusals`), a Discovery session lists only targets its initiator may log in to, and with CHAP
// configured every login must pass it (0x0201, `authFailures` by reason); challenges come from crypto
// randomness. Leaves out several connections per session, NOP-In pings, Asynchronous Messages, the unit attentions
// resets should raise in other sessions, and aborting other sessions' tasks on TARGET RESET.

import net from 'node:net';
import { SCSI_STATUS, SENSE_KEY, type ScsiCommand, type ScsiResult, type ScsiTarget } from '../../lib/storage/scsi.js';
import { commandWorkingBytes, isSubmitTarget, type SubmitTarget } from '../../lib/storage/target.js';
import { IscsiFramer, type FramerEvent } from '../../lib/iscsi/framer.js';
import { BHS_BYTES, ISCSI_ERROR, LOGIN_STATUS, NO_DIGESTS, OPCODE, parsePdu, type Digests, type Pdu } from '../../lib/iscsi/pdu.js';
import { PduSendBuffer } from '../../lib/iscsi/send-buffer.js';
import { DEFAULT_MAX_RECV_DATA_SEGMENT_BYTES, loginStep, newLoginState, type LoginConfig, type LoginState, type TargetChap, type TargetInfo } from '../../lib/iscsi/negotiate.js';
import { initiatorAllowed, type IscsiAccess } from '../../lib/iscsi/access.js';
import { IscsiSession, type SessionAction } from '../../lib/iscsi/session.js';
import { realTimers, type Timers } from '../common/timers.js';
import { ADMIT, COMMAND_BASE_COST_BYTES, MAX_SEND_BUFFER_BYTES, runOnTarget, type Admit, type BudgetSession, type InFlightBudget } from './block-server.js';

/** iSCSI connections (one session each) the portal serves at once; more are closed at accept. */
export const MAX_ISCSI_CONNECTIONS = 64;
/** Time a connection has from accept to the end of its login before it is closed. */
export const LOGIN_TIMEOUT_MS = 10_000;
/** Range of stored --iscsi-login-timeout-ms (tests shorten it; longer lets idle connections hold slots). */
export const MIN_LOGIN_TIMEOUT_MS = 100;
export const MAX_LOGIN_TIMEOUT_MS = 60_000;
/** Portal group tag of the one portal group of an array. */
export const PORTAL_GROUP_TAG = 1;
/** Largest TSIH; TSIHs are handed out 1..MAX_TSIH and wrap. */
const MAX_TSIH = 0xffff;

/** Why connections closed, as counted in `info().closed` and logged. */
export const CLOSE_REASON = {
  TOO_MANY: 'too-many-connections',
  LOGIN_TIMEOUT: 'login-timeout',
  LOGIN_FAILED: 'login-failed',
  BEFORE_LOGIN: 'pdu-before-login',
  FATAL_PDU: 'fatal-pdu',
  BAD_PDU_IN_LOGIN: 'bad-pdu-during-login',
  BAD_PDU: 'bad-pdu',
  PEER_CLOSED: 'peer-closed',
  SOCKET_ERROR: 'socket-error',
  SHUTDOWN: 'shutdown',
} as const;

/** The 48-byte BHS of a PDU parsed alone (no AHS, no data): enough for the session to reject it by ITT. */
function headerOnly(bhs: Uint8Array): Pdu | undefined {
  const b = Uint8Array.prototype.slice.call(bhs, 0, BHS_BYTES);
  b[4] = 0;
  b[5] = b[6] = b[7] = 0;
  const r = parsePdu(b, 0, NO_DIGESTS);
  return r.ok ? r.value.pdu : undefined;
}

/** The IQN of an array's target: one per array. */
export function arrayIqn(arrayName: string): string {
  return `iqn.2026-11.vfab:${arrayName.toLowerCase().replace(/[^a-z0-9.-]/g, '-')}`;
}

export interface IscsiPortalOptions {
  target: ScsiTarget;
  arrayName: string;
  /** The array's in-flight byte budget, shared with the block server. */
  budget: InFlightBudget;
  host: string;
  port: number;
  /** LUN numbers of the array (TARGET RESET resets each). */
  lunNumbers: () => number[];
  logicalUnitReset: (lun: number) => void;
  /** The last connection of an initiator port is gone (SPC-2 reservations are released). */
  onInitiatorGone: (initiator: string) => void;
  log: (line: string) => void;
  /** Time to finish a login (default LOGIN_TIMEOUT_MS; tests use shorter ones). */
  loginTimeoutMs?: number;
  /** Initiator ACL and CHAP (checked by the caller: accessProblems); everyone, AuthMethod None when absent. */
  access?: IscsiAccess;
  /** Fabric time in ms (login times in `sessions`); default ms since the portal started. */
  now?: () => number;
  /**
   * Timers and random bytes (login timeouts, initial StatSNs, CHAP challenges): Node's and crypto in
   * stored; the virtual clock and the run seed in the simulation (daemons/sim/storage.ts), which hands
   * the portal its in-process connections with acceptConnection instead of listening.
   */
  timers?: Timers;
}

/** What a connection of the portal uses of its socket: a net.Socket, or the simulation's in-process byte pipe. */
export type PortalSocket = Pick<net.Socket, 'remoteAddress' | 'remotePort' | 'setNoDelay' | 'on' | 'once' | 'write' | 'writableLength' | 'pause' | 'resume' | 'end' | 'destroy' | 'destroyed'> & { destroySoon?: () => void };

/** A session in the full feature phase, as `vfab status` and `vfab lun list` show it. */
export interface IscsiSessionInfo {
  initiatorName: string;
  /** ISID in hex (12 digits). */
  isid: string;
  tsih: number;
  sessionType: string;
  target: string | null;
  remote: string;
  /** Login time on the fabric clock (ms). */
  loginAtMs: number;
  headerDigest: 'None' | 'CRC32C';
  dataDigest: 'None' | 'CRC32C';
}

export interface IscsiPortalInfo {
  address: string;
  port: number;
  iqn: string;
  maxConnections: number;
  connections: Array<{ id: number; remote: string; initiator: string | undefined; sessionType: string | undefined; commands: number; tasks: number }>;
  /** Sessions past login, one per connection (MaxConnections 1). */
  sessions: IscsiSessionInfo[];
  accepted: number;
  logins: number;
  loginFailures: number;
  logouts: number;
  commands: number;
  dataDigestRejects: number;
  /** Reject PDUs sent, by reason code in hex (e.g. "0x09"; §11.17.1). */
  rejects: Record<string, number>;
  /** Non-immediate commands dropped for a CmdSN outside the window or already seen (§4.2.2.1). */
  ignoredCmdSN: number;
  /** Connections closed, by reason (CLOSE_REASON values and the session's own close reasons). */
  closed: Record<string, number>;
  /** Who may log in: the initiator ACL (null: everyone) and the CHAP mode; never the secrets. */
  access: { initiators: string[] | null; chap: 'off' | 'one-way' | 'mutual' };
  /** Normal logins refused by the initiator ACL (status 0x0202). */
  aclRefusals: number;
  /** Logins that failed CHAP (status 0x0201), by reason (AUTH_FAILURE values). */
  authFailures: Record<string, number>;
}

export class IscsiPortal {
  readonly iqn: string;
  readonly timers: Timers;
  private readonly server: net.Server;
  private readonly conns = new Map<number, PortalConnection>();
  private nextId = 1;
  private nextTsih = 1;
  port = 0;
  accepted = 0;
  logins = 0;
  loginFailures = 0;
  logouts = 0;
  commands = 0;
  /** PDUs whose data digest did not match, answered with a Reject (the connection stays). */
  dataDigestRejects = 0;
  readonly rejects: Record<string, number> = {};
  ignoredCmdSN = 0;
  readonly closed: Record<string, number> = {};
  aclRefusals = 0;
  readonly authFailures: Record<string, number> = {};
  readonly submitTarget: SubmitTarget | undefined;
  /** CHAP of every login, when configured. */
  readonly chap: TargetChap | undefined;
  /** The ACL check of loginStep: Discovery sessions (no target) always get in, then see only allowed targets. */
  readonly allow = (initiator: string, target: string | undefined): boolean => target === undefined || (target === this.iqn && initiatorAllowed(this.opts.access?.initiators, initiator));

  constructor(readonly opts: IscsiPortalOptions) {
    this.iqn = arrayIqn(opts.arrayName);
    this.submitTarget = isSubmitTarget(opts.target) ? opts.target : undefined;
    const chap = opts.access?.chap;
    this.timers = opts.timers ?? realTimers;
    this.chap = chap === undefined ? undefined : { credentials: chap, randomBytes: (n) => this.timers.randomBytes(n) };
    this.server = net.createServer((socket) => this.acceptConnection(socket));
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port, this.opts.host, () => resolve());
    });
    this.port = (this.server.address() as net.AddressInfo).port;
    this.server.on('error', (e) => this.opts.log(`iscsi portal: ${e.message}`));
    return this.port;
  }

  get targets(): TargetInfo[] {
    const host = this.opts.host.includes(':') ? `[${this.opts.host}]` : this.opts.host;
    return [{ name: this.iqn, alias: this.opts.arrayName, portals: [`${host}:${this.port}`], portalGroupTag: PORTAL_GROUP_TAG }];
  }

  /** The targets `initiator` may log in to: what its Discovery sessions list. */
  targetsFor(initiator: string): TargetInfo[] {
    return this.targets.filter((t) => this.allow(initiator, t.name));
  }

  allocTsih(): number {
    const t = this.nextTsih;
    this.nextTsih = t >= MAX_TSIH ? 1 : t + 1;
    return t;
  }

  countClose(reason: string): void {
    this.closed[reason] = (this.closed[reason] ?? 0) + 1;
  }

  /** A connection reached the portal (from its TCP listener, or from the simulation's in-process transport). */
  acceptConnection(socket: PortalSocket): void {
    this.accepted++;
    if (this.conns.size >= MAX_ISCSI_CONNECTIONS) {
      this.countClose(CLOSE_REASON.TOO_MANY);
      this.opts.log(`iscsi: refused ${socket.remoteAddress}:${socket.remotePort}: ${MAX_ISCSI_CONNECTIONS} connections open (MAX_ISCSI_CONNECTIONS)`);
      socket.on('error', () => {});
      socket.destroy();
      return;
    }
    const id = this.nextId++;
    const c = new PortalConnection(this, id, socket);
    this.conns.set(id, c);
    socket.once('close', () => {
      this.conns.delete(id);
      const who = c.initiator;
      if (who !== undefined && ![...this.conns.values()].some((o) => o.initiator === who)) this.opts.onInitiatorGone(who);
    });
  }

  /** TARGET WARM/COLD RESET: every LUN of the array is reset (SPC-2 reservations released). */
  targetReset(): void {
    for (const lun of this.opts.lunNumbers()) this.opts.logicalUnitReset(lun);
  }

  info(): IscsiPortalInfo {
    return {
      address: this.opts.host,
      port: this.port,
      iqn: this.iqn,
      maxConnections: MAX_ISCSI_CONNECTIONS,
      connections: [...this.conns.values()].map((c) => c.info()),
      sessions: [...this.conns.values()].flatMap((c) => (c.sessionInfo ? [c.sessionInfo] : [])),
      accepted: this.accepted,
      logins: this.logins,
      loginFailures: this.loginFailures,
      logouts: this.logouts,
      commands: this.commands,
      dataDigestRejects: this.dataDigestRejects,
      rejects: { ...this.rejects },
      ignoredCmdSN: this.ignoredCmdSN,
      closed: { ...this.closed },
      access: {
        initiators: this.opts.access?.initiators ? [...this.opts.access.initiators] : null,
        chap: this.chap === undefined ? 'off' : this.chap.credentials.mutual ? 'mutual' : 'one-way',
      },
      aclRefusals: this.aclRefusals,
      authFailures: { ...this.authFailures },
    };
  }

  async close(): Promise<void> {
    for (const c of this.conns.values()) c.shutdown(CLOSE_REASON.SHUTDOWN);
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** One SCSI command of an iSCSI task, as the array's target runs it. */
class PortalCommand implements ScsiCommand {
  aborted = false;
  readonly initiator: string;
  readonly lun: number;
  readonly cdb: Uint8Array;
  readonly dataOut: Uint8Array | undefined;
  readonly residualsReported: boolean | undefined;
  readonly reportsUnitAttentions: boolean | undefined;
  readonly costBytes: number;
  constructor(
    readonly itt: number,
    cmd: ScsiCommand,
  ) {
    this.initiator = cmd.initiator;
    this.lun = cmd.lun;
    this.cdb = cmd.cdb;
    this.dataOut = cmd.dataOut;
    this.residualsReported = cmd.residualsReported;
    this.reportsUnitAttentions = cmd.reportsUnitAttentions;
    this.costBytes = COMMAND_BASE_COST_BYTES + (cmd.dataOut === undefined ? 0 : cmd.dataOut.length) + commandWorkingBytes(cmd.cdb);
  }
}

class PortalConnection implements BudgetSession {
  waitingForBudget = false;
  /** Set once the login is over (status listing). */
  sessionInfo: IscsiSessionInfo | undefined;
  private readonly framer = new IscsiFramer({ maxDataSegmentBytes: DEFAULT_MAX_RECV_DATA_SEGMENT_BYTES });
  private login: LoginState | undefined;
  private readonly tsih: number;
  private session: IscsiSession | undefined;
  private sessionType: string | undefined;
  private digests: Digests = NO_DIGESTS;
  private closed = false;
  private readonly loginTimer: unknown;
  /** Commands waiting for the array's budget (bounded by the session's CmdSN window and immediate limit). */
  private readonly queue: PortalCommand[] = [];
  /** Commands handed to the target, by ITT. */
  private readonly running = new Map<number, PortalCommand>();
  private commands = 0;
  private pausedForSend = false;
  /** PDUs written in this tick, packed for one socket write at its end (flush). */
  private readonly out = new PduSendBuffer();
  private flushScheduled = false;
  private readonly flushBound = (): void => this.flush();
  private readonly writeRunBound = (bytes: Buffer): void => this.writeRun(bytes);
  private readonly remote: string;
  private readonly onEventBound = (e: FramerEvent): void => this.onEvent(e);
  private readonly onSubmittedBound = (cmd: PortalCommand, res: ScsiResult): void => this.complete(cmd, res);
  private readonly onFailedBound = (cmd: PortalCommand, e: unknown): void => this.failed(cmd, e);

  constructor(
    private readonly portal: IscsiPortal,
    readonly id: number,
    private readonly socket: PortalSocket,
  ) {
    this.remote = `${socket.remoteAddress}:${socket.remotePort}`;
    this.tsih = portal.allocTsih();
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      if (!this.closed) this.framer.push(chunk, this.onEventBound);
    });
    socket.on('error', (e) => {
      if (!this.closed) this.end(CLOSE_REASON.SOCKET_ERROR, e.message);
    });
    socket.on('close', () => this.end(CLOSE_REASON.PEER_CLOSED));
    const loginMs = portal.opts.loginTimeoutMs ?? LOGIN_TIMEOUT_MS;
    this.loginTimer = portal.timers.setTimeout(() => {
      if (this.session === undefined) this.end(CLOSE_REASON.LOGIN_TIMEOUT, `no login within ${loginMs} ms`);
    }, loginMs);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** The I_T nexus (SCSI initiator port name) once the session runs. */
  get initiator(): string | undefined {
    return this.session?.initiator;
  }

  info(): { id: number; remote: string; initiator: string | undefined; sessionType: string | undefined; commands: number; tasks: number } {
    return { id: this.id, remote: this.remote, initiator: this.initiator, sessionType: this.sessionType, commands: this.commands, tasks: this.session?.taskCount ?? 0 };
  }

  private onEvent(e: FramerEvent): void {
    if (this.closed) return;
    if (e.type === 'fatal') {
      this.end(CLOSE_REASON.FATAL_PDU, `${e.error.code}: ${e.error.message}`);
      return;
    }
    if (this.session === undefined) {
      if (e.type === 'bad-pdu') {
        this.end(CLOSE_REASON.BAD_PDU_IN_LOGIN, `${e.error.code}: ${e.error.message}`);
        return;
      }
      this.onLoginPdu(e.pdu);
      return;
    }
    if (e.type === 'bad-pdu') {
      // A data digest error is answered with a Reject and the stream goes on (§7.8); any other malformed
      // PDU closes the connection.
      const header = e.error.code === ISCSI_ERROR.DATA_DIGEST ? headerOnly(e.header) : undefined;
      if (header !== undefined) {
        this.portal.dataDigestRejects++;
        this.perform(this.session.dataDigestError(header));
      } else this.end(CLOSE_REASON.BAD_PDU, `${e.error.code}: ${e.error.message}`);
      return;
    }
    const ignoredBefore = this.session.counters.outOfWindow;
    const actions = this.session.receive(e.pdu);
    this.portal.ignoredCmdSN += this.session.counters.outOfWindow - ignoredBefore;
    this.perform(actions);
  }

  private onLoginPdu(pdu: Pdu): void {
    if (pdu.opcode !== OPCODE.LOGIN_REQUEST) {
      this.end(CLOSE_REASON.BEFORE_LOGIN, `opcode 0x${pdu.opcode.toString(16)} before the login ended`);
      return;
    }
    const cfg: LoginConfig = {
      targets: this.portal.targets,
      tsih: this.tsih,
      initialStatSN: this.login?.statSN ?? this.portal.timers.randomBytes(4).readUInt32BE(0) % 0x7fffffff,
      allow: this.portal.allow,
      ...(this.portal.chap ? { chap: this.portal.chap } : {}),
    };
    this.login ??= newLoginState(cfg);
    const d = loginStep(this.login, pdu, cfg);
    this.write(d.response);
    if (d.outcome === 'fail') {
      this.portal.loginFailures++;
      if (d.authFailure !== undefined) this.portal.authFailures[d.authFailure] = (this.portal.authFailures[d.authFailure] ?? 0) + 1;
      if (((d.response.statusClass << 8) | d.response.statusDetail) === LOGIN_STATUS.AUTHORIZATION_FAILURE) this.portal.aclRefusals++;
      this.portal.opts.log(`iscsi ${this.id}: login from ${this.remote} failed: ${d.reason ?? 'unknown'}`);
      this.end(CLOSE_REASON.LOGIN_FAILED, d.reason);
      return;
    }
    if (d.outcome !== 'full-feature' || d.params === undefined) return;
    this.portal.timers.clearTimeout(this.loginTimer);
    const p = d.params;
    this.digests = { header: p.headerDigest, data: p.dataDigest };
    this.framer.configure({ digests: this.digests, maxDataSegmentBytes: p.targetMaxRecvDataSegmentBytes });
    this.session = new IscsiSession({
      params: p,
      isid: this.login.isid!,
      cid: this.login.cid,
      expCmdSN: pdu.cmdSN,
      statSN: this.login.statSN,
      agreed: this.login.agreed,
      targets: this.portal.targetsFor(p.initiatorName),
    });
    this.sessionType = p.sessionType;
    const digest = (on: boolean): 'None' | 'CRC32C' => (on ? 'CRC32C' : 'None');
    this.sessionInfo = {
      initiatorName: p.initiatorName, isid: Buffer.from(this.login.isid!).toString('hex'), tsih: this.tsih, sessionType: p.sessionType, target: p.targetName ?? null,
      remote: this.remote, loginAtMs: Math.round(this.portal.opts.now?.() ?? performance.now()), headerDigest: digest(p.headerDigest), dataDigest: digest(p.dataDigest),
    };
    this.portal.logins++;
    this.portal.opts.log(
      `iscsi ${this.id}: login ${p.sessionType} ${this.session.initiator}${p.targetName ? ` to ${p.targetName}` : ''} from ${this.remote}` +
        ` (digests header ${p.headerDigest ? 'CRC32C' : 'None'} data ${p.dataDigest ? 'CRC32C' : 'None'}, MaxRecvDataSegmentLength ${p.initiatorMaxRecvDataSegmentBytes})`,
    );
  }

  private perform(actions: SessionAction[]): void {
    for (const a of actions) {
      switch (a.kind) {
        case 'send':
          if (a.pdu.opcode === OPCODE.REJECT) {
            const reason = `0x${a.pdu.reason.toString(16).padStart(2, '0')}`;
            this.portal.rejects[reason] = (this.portal.rejects[reason] ?? 0) + 1;
          }
          if (!this.closed) this.write(a.pdu);
          break;
        case 'execute':
          this.enqueue(new PortalCommand(a.itt, a.cmd));
          break;
        case 'abort': {
          const cmd = this.running.get(a.itt);
          if (cmd !== undefined) cmd.aborted = true;
          else this.dropQueued(a.itt);
          break;
        }
        case 'lun-reset':
          this.portal.opts.logicalUnitReset(a.lun);
          this.portal.opts.log(`iscsi ${this.id}: LUN RESET of LUN ${a.lun} by ${this.initiator}`);
          break;
        case 'target-reset':
          this.portal.targetReset();
          this.portal.opts.log(`iscsi ${this.id}: TARGET ${a.cold ? 'COLD' : 'WARM'} RESET by ${this.initiator}`);
          break;
        case 'close':
          if (/logout/i.test(a.reason)) this.portal.logouts++;
          this.end(a.reason);
          return;
      }
    }
  }

  private write(pdu: Pdu): void {
    // Every PDU written in this tick (the responses of all commands that completed together) is packed
    // into one slab run (its data copied now: a READ's data may be lent by the read cache for this call
    // only) and leaves in one write when the tick ends, not one system call per 48-byte response.
    this.out.add(pdu, this.digests, this.writeRunBound);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(this.flushBound);
    }
  }

  /** Writes what this tick packed (in order, after any run `add` already wrote). */
  private flush(): void {
    this.flushScheduled = false;
    const run = this.out.take();
    if (run !== undefined) this.writeRun(run);
  }

  private writeRun(bytes: Buffer): void {
    if (this.socket.destroyed) return;
    this.socket.write(bytes);
    if (this.socket.writableLength > MAX_SEND_BUFFER_BYTES && !this.pausedForSend) {
      // The initiator is not reading its answers: stop reading its commands until the socket drains.
      this.pausedForSend = true;
      this.socket.pause();
      this.socket.once('drain', () => {
        this.pausedForSend = false;
        if (!this.closed) this.socket.resume();
      });
    }
  }

  private enqueue(cmd: PortalCommand): void {
    this.commands++;
    this.portal.commands++;
    this.queue.push(cmd);
    this.drainQueue();
  }

  private dropQueued(itt: number): void {
    const i = this.queue.findIndex((c) => c.itt === itt);
    if (i < 0) return;
    const [cmd] = this.queue.splice(i, 1);
    // The session waits for the result of an aborted command; it drops it (no status follows the abort).
    this.perform(this.session!.complete(cmd!.itt, { status: SCSI_STATUS.TASK_ABORTED }));
  }

  drainQueue(): Admit {
    let stopped: Admit = ADMIT.RUN;
    while (!this.closed && this.queue.length > 0) {
      const next = this.queue[0]!;
      stopped = this.portal.opts.budget.admit(this, next.costBytes);
      if (stopped !== ADMIT.RUN) break;
      this.queue.shift();
      this.run(next);
    }
    return stopped;
  }

  private run(cmd: PortalCommand): void {
    this.running.set(cmd.itt, cmd);
    runOnTarget(this.portal.opts.target, this.portal.submitTarget, cmd, this.onSubmittedBound, this.onFailedBound);
  }

  private failed(cmd: PortalCommand, e: unknown): void {
    this.portal.opts.log(`iscsi ${this.id}: target failed ITT 0x${cmd.itt.toString(16)}: ${e instanceof Error ? e.message : String(e)}`);
    // SAM: a target failure is CHECK CONDITION, HARDWARE ERROR, INTERNAL TARGET FAILURE.
    this.complete(cmd, { status: SCSI_STATUS.CHECK_CONDITION, sense: { key: SENSE_KEY.HARDWARE_ERROR, asc: 0x44, ascq: 0x00 } });
  }

  private complete(cmd: PortalCommand, res: ScsiResult): void {
    if (this.running.get(cmd.itt) === cmd) this.running.delete(cmd.itt);
    this.portal.opts.budget.release(cmd.costBytes);
    if (this.closed || this.session === undefined) return;
    // A READ's data may be lent (read cache, memory store) for this call only: perform() sends the
    // session's Data-In now, and write() copies it into the send slab before returning.
    this.perform(this.session.complete(cmd.itt, res));
  }

  shutdown(reason: string): void {
    this.end(reason);
  }

  /** Closes the connection once (after what was written), counts the reason, aborts what still runs. */
  private end(reason: string, detail?: string): void {
    if (this.closed) return;
    this.closed = true;
    this.portal.timers.clearTimeout(this.loginTimer);
    this.portal.countClose(reason);
    this.portal.opts.log(`iscsi ${this.id}: connection from ${this.remote} closed: ${reason}${detail ? `: ${detail}` : ''}`);
    if (this.session !== undefined) for (const a of this.session.connectionLost()) if (a.kind === 'abort') {
      const cmd = this.running.get(a.itt);
      if (cmd !== undefined) cmd.aborted = true;
    }
    for (const cmd of this.running.values()) cmd.aborted = true;
    this.queue.length = 0;
    if (this.waitingForBudget) this.portal.opts.budget.release(0); // let the sessions behind it have their turn
    this.flush(); // what was sent before the close (a Logout Response, a Login reject) goes out first
    this.socket.end();
    this.socket.destroySoon?.();
  }
}
