// One ScsiTarget over several paths to one array, each a block-protocol connection (ws://..., same
// initiator identity on every path so reservations follow the host, as with one host's HBAs) or an iSCSI
// session (iscsi://HOST:PORT/IQN, daemons/storage/iscsi-client.ts: one ISID per path, so one I_T nexus per
// path as with ESX's software iSCSI adapter). Both transports fail in-flight commands with
// VFAB_BLOCK_DISCONNECTED when their connection goes; everything below is the same for both. Path choice comes from lib/storage/multipath.ts;
// this file owns the connections and timers. A command whose path drops (VFAB_BLOCK_DISCONNECTED) is
// retried on another path without the caller seeing an error; with all paths down it waits for a path up
// to the APD timeout. failPath(i)/restorePath(i) act like pulling / re-plugging a cable. Dead paths that
// were not failed on purpose are reconnected every `reconnectIntervalMs`. Leaves out ALUA and path probing
// with TEST UNIT READY.

import { VfabError } from '../../lib/errors.js';
import { SystemClock, type Clock } from '../../lib/clock.js';
import { SCSI_STATUS, type ScsiCommand, type ScsiResult, type ScsiTarget } from '../../lib/storage/scsi.js';
import { BLOCK_ERROR, type LunEntry } from '../../lib/storage/protocol.js';
import { MultipathSelector, type PathPolicy, type PathStatus } from '../../lib/storage/multipath.js';
import { connectBlockClient } from './block-client.js';
import type { ChapTargetConfig } from '../../lib/iscsi/chap.js';
import { realTimers, type TimerHandle, type Timers } from '../common/timers.js';

/** What a path needs from its connection (BlockClient and IscsiClient both are one). */
export interface PathTransport extends ScsiTarget {
  readonly connected: boolean;
  /** The array's LUNs as this connection saw them when it connected. */
  readonly luns: LunEntry[];
  close(): void;
  /** Drops the connection at once (a cable pull). */
  terminate(): void;
  once(event: 'close', listener: (e: Error) => void): unknown;
}

/** Which transport a path URL names. */
export function pathProtocol(url: string): 'block' | 'iscsi' {
  return url.startsWith('iscsi:') ? 'iscsi' : 'block';
}

const TASK_ABORTED: ScsiResult = { status: SCSI_STATUS.TASK_ABORTED };

/** Default time between reconnect attempts on a path that died by itself. */
export const RECONNECT_INTERVAL_MS = 1000;
/** Retries of one command across paths before giving up (guards against a path that accepts and drops). */
export const MAX_PATH_RETRIES = 64;

export interface MultipathClientOptions {
  /** One URL per path: ws://127.0.0.1:PORT/block or iscsi://127.0.0.1:PORT/IQN. */
  urls: string[];
  token: string;
  initiator: string;
  policy?: PathPolicy;
  preferredPath?: number;
  rrIops?: number;
  apdTimeoutMs?: number;
  maxInFlight?: number;
  /** CHAP for iscsi:// paths (the array's portal asks for it); `mutual`: the target must prove itself too. */
  chap?: ChapTargetConfig;
  /** Reconnect dead paths that were not failed with failPath (default true). */
  autoReconnect?: boolean;
  reconnectIntervalMs?: number;
  clock?: Clock;
  log?: (line: string) => void;
  /** Reconnect and path-wait timers (default Node's; the simulation passes the host's scheduler timers). */
  timers?: Timers;
  /**
   * Opens path `path` to `url` instead of a WebSocket or iSCSI connection (the simulation's in-process
   * transport, daemons/sim/storage.ts); rejects as a refused connection would.
   */
  connectTransport?: (url: string, path: number) => Promise<PathTransport>;
}

export interface MultipathPathInfo extends PathStatus {
  url: string;
  protocol: 'block' | 'iscsi';
  connected: boolean;
  adminDown: boolean;
}

export class MultipathClient implements ScsiTarget {
  readonly selector: MultipathSelector;
  private readonly clients: Array<PathTransport | undefined>;
  private readonly adminDown: boolean[];
  private readonly reconnectTimers: TimerHandle[];
  private readonly waiters = new Set<() => void>();
  private readonly clock: Clock;
  private readonly timers: Timers;
  private closed = false;
  retriedCommands = 0;

  private constructor(private readonly opts: MultipathClientOptions) {
    this.clock = opts.clock ?? new SystemClock();
    this.timers = opts.timers ?? realTimers;
    this.selector = new MultipathSelector({
      pathCount: opts.urls.length,
      policy: opts.policy ?? 'rr',
      ...(opts.preferredPath !== undefined ? { preferredPath: opts.preferredPath } : {}),
      ...(opts.rrIops !== undefined ? { rrIops: opts.rrIops } : {}),
      ...(opts.apdTimeoutMs !== undefined ? { apdTimeoutMs: opts.apdTimeoutMs } : {}),
    });
    this.clients = new Array<PathTransport | undefined>(opts.urls.length).fill(undefined);
    this.adminDown = new Array<boolean>(opts.urls.length).fill(false);
    this.reconnectTimers = new Array<TimerHandle>(opts.urls.length).fill(undefined);
  }

  /** Connects every path; succeeds if at least one path connects (the others are marked dead). */
  static async connect(opts: MultipathClientOptions): Promise<MultipathClient> {
    const mc = new MultipathClient(opts);
    const results = await Promise.allSettled(opts.urls.map((_, i) => mc.connectPath(i)));
    if (results.every((r) => r.status === 'rejected')) {
      mc.close();
      throw (results[0] as PromiseRejectedResult).reason as Error;
    }
    return mc;
  }

  private async connectPath(i: number): Promise<void> {
    try {
      const url = this.opts.urls[i]!;
      const c = this.opts.connectTransport !== undefined ? await this.opts.connectTransport(url, i) : await this.dial(url, i);
      if (this.closed || this.adminDown[i]) {
        c.close();
        return;
      }
      this.clients[i] = c;
      c.once('close', () => {
        if (this.clients[i] === c) this.onPathLost(i, 'connection closed');
      });
      this.selector.pathRestored(i);
      this.wakeWaiters();
    } catch (e) {
      this.onPathLost(i, (e as Error).message);
      throw e;
    }
  }

  /** A block-protocol WebSocket or an iSCSI session for path `i`. */
  private async dial(url: string, i: number): Promise<PathTransport> {
    // the iSCSI initiator loads with the first iSCSI path (hosts on the block protocol never carry it)
    const iscsi = pathProtocol(url) === 'iscsi' ? await import('./iscsi-client.js') : undefined;
    return iscsi !== undefined
      ? iscsi.connectIscsiClient({ url, initiator: this.opts.initiator, isid: iscsi.pathIsid(i), ...(this.opts.chap ? { chap: this.opts.chap } : {}), ...(this.opts.log ? { log: this.opts.log } : {}) })
      : connectBlockClient({
          url,
          token: this.opts.token,
          initiator: this.opts.initiator,
          ...(this.opts.maxInFlight !== undefined ? { maxInFlight: this.opts.maxInFlight } : {}),
        });
  }

  private onPathLost(i: number, why: string): void {
    this.clients[i] = undefined;
    if (!this.selector.isDead(i)) this.opts.log?.(`path ${i} (${this.opts.urls[i]}) dead: ${why}`);
    this.selector.pathFailed(i, this.clock.nowMs());
    if (this.closed || this.adminDown[i] || this.opts.autoReconnect === false || this.reconnectTimers[i]) return;
    this.reconnectTimers[i] = this.timers.setTimeout(() => {
      this.reconnectTimers[i] = undefined;
      if (!this.closed && !this.adminDown[i]) this.connectPath(i).catch(() => {});
    }, this.opts.reconnectIntervalMs ?? RECONNECT_INTERVAL_MS);
  }

  async execute(cmd: ScsiCommand): Promise<ScsiResult> {
    for (let attempt = 0; ; attempt++) {
      if (this.closed) throw new VfabError(BLOCK_ERROR.DISCONNECTED, 'multipath client closed');
      const v = this.selector.select(cmd.lun, this.clock.nowMs());
      if (v.kind === 'fail') throw v.error;
      if (v.kind === 'wait') {
        await this.waitForPath(v.deadlineMs);
        // its issuer gave up while it waited for a path: never sent (no stale write after the abort)
        if (cmd.aborted === true) return TASK_ABORTED;
        continue;
      }
      const client = this.clients[v.path];
      if (!client || !client.connected) {
        this.onPathLost(v.path, 'not connected');
        continue;
      }
      try {
        return await client.execute(cmd);
      } catch (e) {
        if ((e as VfabError).code !== BLOCK_ERROR.DISCONNECTED || attempt >= MAX_PATH_RETRIES) throw e;
        this.retriedCommands++;
        if (this.clients[v.path] === client) this.onPathLost(v.path, (e as Error).message);
      }
    }
  }

  private waitForPath(deadlineMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.timers.clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = this.timers.setTimeout(done, Math.max(0, deadlineMs - this.clock.nowMs()) + 1);
      this.waiters.add(done);
    });
  }

  private wakeWaiters(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Takes a path down like a pulled cable: in-flight commands on it are retried on other paths. */
  failPath(i: number): void {
    this.selector.isDead(i); // validates the index
    this.adminDown[i] = true;
    this.timers.clearTimeout(this.reconnectTimers[i]);
    this.reconnectTimers[i] = undefined;
    const c = this.clients[i];
    this.clients[i] = undefined;
    this.selector.pathFailed(i, this.clock.nowMs());
    c?.terminate();
  }

  /** Brings a path back (reconnects it). */
  async restorePath(i: number): Promise<void> {
    this.selector.isDead(i);
    this.adminDown[i] = false;
    if (this.clients[i]?.connected) return;
    await this.connectPath(i);
  }

  /** The LUN list of a connected path (HELLO_ACK, or the iSCSI LUN scan; a snapshot taken at connect time). */
  lunEntries(): LunEntry[] {
    for (const c of this.clients) if (c?.connected) return c.luns;
    return [];
  }

  paths(): MultipathPathInfo[] {
    return this.selector.status().map((s) => ({
      ...s,
      url: this.opts.urls[s.path]!,
      protocol: pathProtocol(this.opts.urls[s.path]!),
      connected: this.clients[s.path]?.connected === true,
      adminDown: this.adminDown[s.path],
    }));
  }

  close(): void {
    this.closed = true;
    for (let i = 0; i < this.clients.length; i++) {
      this.timers.clearTimeout(this.reconnectTimers[i]);
      this.clients[i]?.close();
      this.clients[i] = undefined;
    }
    this.wakeWaiters();
  }
}
