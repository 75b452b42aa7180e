// A host's storage path over iSCSI: one TCP connection (node:net) to an array's portal running one
// session of lib/iscsi/initiator.ts, with the surface MultipathClient uses from BlockClient (`connected`,
// `execute(cmd)`, `luns`, `close`, `terminate`, a 'close' event, in-flight commands rejected with
// VFAB_BLOCK_DISCONNECTED when the connection goes, so the command is retried on another path). URL:
// iscsi://HOST:PORT/TARGET-IQN. Connecting = TCP connect, login, then LUN discovery the way a host scans a
// target: REPORT LUNS, and per LUN INQUIRY (Device Identification VPD page: the LUN's name in the T10
// vendor ID designator) and READ CAPACITY (16); all within `connectTimeoutMs`. UNIT ATTENTION check
// conditions (the portal reports them after LUN resets and reservation changes made through other
// nexuses) are retried here up to MAX_UNIT_ATTENTION_RETRIES times, as ESX does, so the datastore code
// above never sees them. Leaves out iSNS/SendTargets discovery (the fabric passes the IQN), several
// connections per session, task management and NOP-Out pings of its own (a dead peer shows as a closed
// socket; cable pulls are failPath, which terminates the socket).

import net from 'node:net';
import { EventEmitter } from 'node:events';
import { VfabError } from '../../lib/errors.js';
import { SCSI_STATUS, SENSE_KEY, type ScsiCommand, type ScsiResult, type ScsiTarget } from '../../lib/storage/scsi.js';
import { BLOCK_ERROR, type LunEntry } from '../../lib/storage/protocol.js';
import { inquiry, parseReadCapacity16, readCapacity16, reportLuns } from '../../lib/storage/cdb.js';
import { INQUIRY_VENDOR } from '../../lib/storage/target.js';
import { INITIATOR_ERROR, IscsiInitiator, type InitiatorAction, type InitiatorConfig, type InitiatorParams } from '../../lib/iscsi/initiator.js';
import { CHAP_CHALLENGE_BYTES, type ChapTargetConfig } from '../../lib/iscsi/chap.js';
import { decodeLun, UNADDRESSABLE_LUN } from '../../lib/iscsi/session.js';
import { CONNECT_TIMEOUT_MS, scsiError } from './block-client.js';
import { parseIscsiUrl, type IscsiTargetUrl } from './iscsi-url.js';
import { realTimers, type Timers } from '../common/timers.js';

/** Times one command is sent again after a UNIT ATTENTION before the caller sees it. */
export const MAX_UNIT_ATTENTION_RETRIES = 5;
/** LUNs taken from REPORT LUNS at connect (the rest are ignored, and logged). */
export const MAX_DISCOVERED_LUNS = 256;
/** Allocation length of the REPORT LUNS at connect: 8 header bytes and 8 per LUN. */
const REPORT_LUNS_BYTES = 8 + 8 * MAX_DISCOVERED_LUNS;
/** Device Identification VPD page (SPC-4 §7.8.6). */
const VPD_DEVICE_ID = 0x83;
/** Designator type T10 vendor ID (SPC-4 §7.8.6.4). */
const DESIGNATOR_T10 = 0x01;

export const ISCSI_CLIENT_ERROR = {
  /** The URL is not iscsi://HOST:PORT/IQN. */
  BAD_URL: 'VFAB_ISCSI_CLIENT_BAD_URL',
  /** Connect, login and LUN discovery did not finish in time. */
  CONNECT_TIMEOUT: 'VFAB_ISCSI_CLIENT_CONNECT_TIMEOUT',
} as const;

export { parseIscsiUrl, pathIsid, type IscsiTargetUrl } from './iscsi-url.js';

export interface IscsiClientOptions {
  url: string;
  /** iSCSI initiator name (iqn.2026-11.vfab:<host>). */
  initiator: string;
  isid: Uint8Array;
  /** CHAP the target asks for; with `mutual` the client challenges the target too (fresh random challenge per login). */
  chap?: ChapTargetConfig;
  digests?: { header: boolean; data: boolean };
  connectTimeoutMs?: number;
  log?: (line: string) => void;
  /**
   * The simulation's replacements (daemons/sim/storage.ts): a byte connection to the portal instead of a
   * TCP connect, and timers and random bytes on the virtual clock and the run seed. Absent in hostd.
   */
  dial?: (target: IscsiTargetUrl) => Promise<IscsiSocket>;
  timers?: Timers;
}

/** What the client uses of its connection: a net.Socket, or the simulation's in-process byte pipe. */
export type IscsiSocket = Pick<net.Socket, 'setNoDelay' | 'cork' | 'uncork' | 'write' | 'end' | 'destroy' | 'destroyed' | 'on' | 'once' | 'removeAllListeners'>;

interface Waiting {
  resolve: (r: ScsiResult) => void;
  reject: (e: Error) => void;
}

export class IscsiClient extends EventEmitter implements ScsiTarget {
  luns: LunEntry[] = [];
  params: InitiatorParams | undefined;
  unitAttentionRetries = 0;
  private readonly ini: IscsiInitiator;
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 1;
  private closedError: VfabError | undefined;
  private loginDone: ((e?: VfabError) => void) | undefined;
  private readonly where: string;
  private corked = false;
  private readonly uncorkBound = (): void => {
    this.corked = false;
    if (!this.socket.destroyed) this.socket.uncork();
  };

  /** Use connectIscsiClient(). */
  constructor(
    private readonly socket: IscsiSocket,
    readonly target: IscsiTargetUrl,
    readonly opts: IscsiClientOptions,
  ) {
    super();
    this.where = `${target.host}:${target.port}`;
    this.ini = new IscsiInitiator({
      initiatorName: opts.initiator,
      targetName: target.iqn,
      isid: opts.isid,
      ...(opts.chap ? { chap: initiatorChap(opts.chap, opts.timers ?? realTimers) } : {}),
      ...(opts.digests ? { digests: opts.digests } : {}),
      initialCmdSN: 1,
    });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.perform(this.ini.receive(chunk)));
    socket.on('error', (e) => this.onClose(`connection failed: ${e.message}`));
    socket.on('close', () => this.onClose('connection closed'));
  }

  get connected(): boolean {
    return this.closedError === undefined && this.ini.state === 'full-feature';
  }

  /** The initiator's counters (bad target PDUs, R2Ts, NOP pings, ...). */
  get counters(): IscsiInitiator['counters'] {
    return this.ini.counters;
  }

  /** Starts the login; resolves when the full feature phase is reached. */
  login(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.loginDone = (e) => (e ? reject(e) : resolve());
      this.perform(this.ini.start());
    });
  }

  /** Runs a command; a UNIT ATTENTION is retried up to MAX_UNIT_ATTENTION_RETRIES times. */
  async execute(cmd: ScsiCommand): Promise<ScsiResult> {
    for (let attempt = 0; ; attempt++) {
      const r = await this.executeOnce(cmd);
      if (r.status !== SCSI_STATUS.CHECK_CONDITION || r.sense?.key !== SENSE_KEY.UNIT_ATTENTION || attempt >= MAX_UNIT_ATTENTION_RETRIES) return r;
      this.unitAttentionRetries++;
      if (cmd.aborted === true) return { status: SCSI_STATUS.TASK_ABORTED };
    }
  }

  private executeOnce(cmd: ScsiCommand): Promise<ScsiResult> {
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise<ScsiResult>((resolve, reject) => {
      const id = this.nextId++;
      this.waiting.set(id, { resolve, reject });
      this.perform(this.ini.submit(id, cmd));
    });
  }

  private perform(actions: InitiatorAction[]): void {
    for (const a of actions) {
      switch (a.kind) {
        case 'send':
          if (this.closedError) break;
          // Unsent bytes are bounded by the initiator's outstanding commands (their data-out is not copied).
          // The PDUs of one tick leave in one writev when it ends, not one system call each.
          if (!this.corked) {
            this.corked = true;
            this.socket.cork();
            process.nextTick(this.uncorkBound);
          }
          for (const part of a.parts) if (part.length > 0) this.socket.write(part);
          break;
        case 'ready':
          this.params = a.params;
          this.loginDone?.();
          this.loginDone = undefined;
          break;
        case 'complete':
        case 'fail': {
          const w = this.waiting.get(a.id);
          if (w === undefined) break;
          this.waiting.delete(a.id);
          if (a.kind === 'complete') w.resolve(a.result);
          else w.reject(a.error.code === INITIATOR_ERROR.NOT_READY ? this.disconnectError(a.error.message) : a.error);
          break;
        }
        case 'close':
          this.opts.log?.(`iscsi ${this.where}: closing: ${a.reason}${a.error ? `: ${a.error.message}` : ''}`);
          if (this.loginDone && a.error) {
            this.loginDone(a.error);
            this.loginDone = undefined;
          }
          this.socket.destroy();
          this.onClose(a.error ? a.error.message : a.reason);
          break;
      }
    }
  }

  private disconnectError(why: string): VfabError {
    return new VfabError(BLOCK_ERROR.DISCONNECTED, `iSCSI connection to ${this.target.iqn} at ${this.where} lost: ${why}`);
  }

  private onClose(why: string): void {
    if (this.closedError) return;
    this.closedError = this.disconnectError(why);
    this.loginDone?.(this.closedError);
    this.loginDone = undefined;
    this.perform(this.ini.connectionLost(this.closedError));
    for (const w of this.waiting.values()) w.reject(this.closedError);
    this.waiting.clear();
    this.emit('close', this.closedError);
  }

  /** Logs out when the session runs (best effort), then closes; in-flight commands fail with VFAB_BLOCK_DISCONNECTED. */
  close(): void {
    if (this.ini.state === 'full-feature' && this.ini.outstanding === 0) {
      this.perform(this.ini.logout());
      this.socket.end();
    } else this.socket.destroy();
    this.onClose('closed by the client');
  }

  /** Drops the connection at once (a cable pull). */
  terminate(): void {
    this.socket.destroy();
    this.onClose('terminated by the client');
  }

  /** REPORT LUNS, then the name (VPD 0x83 T10 vendor ID) and capacity of each LUN. */
  async discoverLuns(): Promise<LunEntry[]> {
    const check = (r: ScsiResult, what: string): ScsiResult => {
      if (r.status !== SCSI_STATUS.GOOD) throw scsiError(what, r);
      return r;
    };
    const rl = check(await this.execute({ initiator: this.opts.initiator, lun: 0, cdb: reportLuns(REPORT_LUNS_BYTES) }), 'REPORT LUNS').dataIn ?? new Uint8Array(0);
    const listBytes = rl.length >= 4 ? Buffer.from(rl.buffer, rl.byteOffset, rl.byteLength).readUInt32BE(0) : 0;
    const count = Math.min(Math.floor(Math.min(listBytes, rl.length - 8) / 8), MAX_DISCOVERED_LUNS);
    if (listBytes / 8 > MAX_DISCOVERED_LUNS) this.opts.log?.(`iscsi ${this.where}: ${listBytes / 8} LUNs, using the first ${MAX_DISCOVERED_LUNS} (MAX_DISCOVERED_LUNS)`);
    const out: LunEntry[] = [];
    for (let i = 0; i < count; i++) {
      const field = Buffer.from(rl.buffer, rl.byteOffset + 8 + i * 8, 8).readBigUInt64BE(0);
      const lun = decodeLun(field);
      if (lun === UNADDRESSABLE_LUN) continue;
      const id = check(await this.execute({ initiator: this.opts.initiator, lun, cdb: inquiry(VPD_DEVICE_ID) }), `INQUIRY VPD 0x83 of LUN ${lun}`).dataIn;
      const cap = parseReadCapacity16(check(await this.execute({ initiator: this.opts.initiator, lun, cdb: readCapacity16() }), `READ CAPACITY (16) of LUN ${lun}`).dataIn ?? new Uint8Array(0));
      if (cap === undefined) continue;
      out.push({ lun, name: lunNameOf(id) ?? `lun${lun}`, blockSizeBytes: cap.blockSizeBytes, blocks: cap.lastLba + 1 });
    }
    this.luns = out;
    return out;
  }
}

/** The initiator's CHAP settings from the target's: the host's name and secret, and a fresh challenge for mutual CHAP. */
function initiatorChap(c: ChapTargetConfig, t: Timers): NonNullable<InitiatorConfig['chap']> {
  const m = c.mutual;
  return { name: c.username, secret: c.secret, ...(m ? { mutual: { name: m.username, secret: m.secret, id: t.randomBytes(1)[0]!, challenge: t.randomBytes(CHAP_CHALLENGE_BYTES) } } : {}) };
}

/** The LUN name of a vfab LUN: the T10 vendor ID designator of VPD page 0x83 without its 8-byte vendor. */
export function lunNameOf(page: Uint8Array | undefined): string | undefined {
  if (page === undefined || page.length < 4) return undefined;
  const end = Math.min(page.length, 4 + ((page[2]! << 8) | page[3]!));
  for (let p = 4; p + 4 <= end; ) {
    const len = page[p + 3]!;
    if ((page[p + 1]! & 0x0f) === DESIGNATOR_T10 && p + 4 + len <= end) {
      const id = Buffer.from(page.subarray(p + 4, p + 4 + len)).toString('latin1');
      return id.startsWith(INQUIRY_VENDOR) ? id.slice(8) : undefined;
    }
    p += 4 + len;
  }
  return undefined;
}

/** Connects, logs in and discovers the LUNs; rejects with a VfabError (VFAB_BLOCK_DISCONNECTED when refused). */
export async function connectIscsiClient(opts: IscsiClientOptions): Promise<IscsiClient> {
  const target = parseIscsiUrl(opts.url);
  if (target === undefined) throw new VfabError(ISCSI_CLIENT_ERROR.BAD_URL, `${opts.url}: not iscsi://HOST:PORT/IQN`);
  const timeoutMs = opts.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
  const timers = opts.timers ?? realTimers;
  let socket: IscsiSocket | undefined;
  let client: IscsiClient | undefined;
  let timer: unknown;
  const timeout = new Promise<never>((_, reject) => {
    timer = timers.setTimeout(() => reject(new VfabError(ISCSI_CLIENT_ERROR.CONNECT_TIMEOUT, `no iSCSI session with ${target.iqn} at ${target.host}:${target.port} within ${timeoutMs} ms`)), timeoutMs);
  });
  const work = (async (): Promise<IscsiClient> => {
    if (opts.dial !== undefined) socket = await opts.dial(target);
    else {
      const tcp = (socket = new net.Socket());
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', (e) => reject(new VfabError(BLOCK_ERROR.DISCONNECTED, `cannot connect to iSCSI portal ${target.host}:${target.port}: ${e.message}`)));
        tcp.connect(target.port, target.host, () => resolve());
      });
    }
    socket.removeAllListeners('error');
    client = new IscsiClient(socket, target, opts);
    await client.login();
    await client.discoverLuns();
    return client;
  })();
  try {
    return await Promise.race([work, timeout]);
  } catch (e) {
    work.catch(() => {});
    socket?.on('error', () => {});
    if (client) client.terminate();
    else socket?.destroy();
    throw e;
  } finally {
    timers.clearTimeout(timer);
  }
}
