// Multipathing decisions (pure): path states (active / standby / dead), the path selection policy per LUN
// in the style of VMware's NMP PSPs — Fixed (preferred path, fails back when it returns), Most Recently
// Used (sticks to the path that works, no failback) and Round Robin (switch path every `rrIops` I/Os,
// VMware's default 1000) — what to do when a path fails (the caller retries on another path) and
// all-paths-down: I/O waits up to APD_TIMEOUT_MS (VMware's Misc.APDTimeout default, 140 s) after the last
// path died, then fails with VFAB_MULTIPATH_APD_TIMEOUT. Time comes in as `nowMs`; the daemon side
// (daemons/storage/multipath-client.ts) owns connections and timers. Leaves out ALUA target port groups,
// PDL (permanent device loss) sense handling and path probing.

import { VfabError } from '../errors.js';

export type PathState = 'active' | 'standby' | 'dead';
export type PathPolicy = 'fixed' | 'mru' | 'rr';

/** Time I/O waits in all-paths-down before it fails (VMware Misc.APDTimeout default). */
export const APD_TIMEOUT_MS = 140_000;
/** Round Robin: I/Os sent down one path before switching (VMware's iops=1000 default). */
export const DEFAULT_RR_IOPS = 1000;
/** Paths per device (VMware's maximum is 32 per LUN; 1024 per host). */
export const MAX_PATHS = 32;

export const MULTIPATH_ERROR = {
  /** All paths stayed down for APD_TIMEOUT_MS: the I/O fails. */
  APD_TIMEOUT: 'VFAB_MULTIPATH_APD_TIMEOUT',
  /** A path index outside 0..paths-1. */
  NO_SUCH_PATH: 'VFAB_MULTIPATH_NO_SUCH_PATH',
  /** Bad options: no paths, more than MAX_PATHS, bad policy, rrIops < 1, bad preferred path. */
  BAD_CONFIG: 'VFAB_MULTIPATH_BAD_CONFIG',
} as const;

export interface MultipathOptions {
  pathCount: number;
  policy: PathPolicy;
  /** Fixed: the preferred path (default 0). */
  preferredPath?: number;
  /** Round Robin: I/Os per path before switching (default DEFAULT_RR_IOPS). */
  rrIops?: number;
  /** All-paths-down timeout (default APD_TIMEOUT_MS). */
  apdTimeoutMs?: number;
}

export type PathVerdict =
  | { kind: 'path'; path: number }
  /** No path is alive: wait for a restore until `deadlineMs`, then ask again. */
  | { kind: 'wait'; deadlineMs: number }
  | { kind: 'fail'; error: VfabError };

export interface PathStatus {
  path: number;
  state: PathState;
  /** True when some LUN currently sends its I/O down this path ("Active (I/O)"). */
  io: boolean;
  preferred: boolean;
  selected: number;
  failures: number;
  deadSinceMs: number | undefined;
}

interface LunPathState {
  current: number;
  ioOnCurrent: number;
}

export class MultipathSelector {
  readonly policy: PathPolicy;
  readonly rrIops: number;
  readonly apdTimeoutMs: number;
  readonly preferredPath: number;
  private readonly dead: boolean[];
  private readonly deadSinceMs: Array<number | undefined>;
  private readonly selected: number[];
  private readonly failures: number[];
  private readonly luns = new Map<number, LunPathState>();
  private apdSinceMs: number | undefined;

  constructor(opts: MultipathOptions) {
    const n = opts.pathCount;
    if (!Number.isInteger(n) || n < 1 || n > MAX_PATHS) throw new VfabError(MULTIPATH_ERROR.BAD_CONFIG, `path count ${n} outside 1..${MAX_PATHS}`);
    if (opts.policy !== 'fixed' && opts.policy !== 'mru' && opts.policy !== 'rr') throw new VfabError(MULTIPATH_ERROR.BAD_CONFIG, `unknown policy ${String(opts.policy)}`);
    this.policy = opts.policy;
    this.rrIops = opts.rrIops ?? DEFAULT_RR_IOPS;
    if (!Number.isInteger(this.rrIops) || this.rrIops < 1) throw new VfabError(MULTIPATH_ERROR.BAD_CONFIG, `rrIops ${this.rrIops} must be >= 1`);
    this.apdTimeoutMs = opts.apdTimeoutMs ?? APD_TIMEOUT_MS;
    if (!(this.apdTimeoutMs >= 0)) throw new VfabError(MULTIPATH_ERROR.BAD_CONFIG, `apdTimeoutMs ${this.apdTimeoutMs} must be >= 0`);
    this.preferredPath = opts.preferredPath ?? 0;
    if (!Number.isInteger(this.preferredPath) || this.preferredPath < 0 || this.preferredPath >= n) {
      throw new VfabError(MULTIPATH_ERROR.BAD_CONFIG, `preferred path ${this.preferredPath} outside 0..${n - 1}`);
    }
    this.dead = new Array<boolean>(n).fill(false);
    this.deadSinceMs = new Array<number | undefined>(n).fill(undefined);
    this.selected = new Array<number>(n).fill(0);
    this.failures = new Array<number>(n).fill(0);
  }

  get pathCount(): number {
    return this.dead.length;
  }

  /** When all paths went down (undefined when at least one is alive). */
  get allPathsDownSinceMs(): number | undefined {
    return this.apdSinceMs;
  }

  isDead(path: number): boolean {
    this.check(path);
    return this.dead[path];
  }

  /** Picks the path for the next I/O to `lun` and counts it. */
  select(lun: number, nowMs: number): PathVerdict {
    if (this.apdSinceMs !== undefined) {
      const deadlineMs = this.apdSinceMs + this.apdTimeoutMs;
      if (nowMs >= deadlineMs) {
        return {
          kind: 'fail',
          error: new VfabError(MULTIPATH_ERROR.APD_TIMEOUT, `all ${this.pathCount} paths down for ${Math.round(nowMs - this.apdSinceMs)} ms (APD timeout ${this.apdTimeoutMs} ms)`, { lun }),
        };
      }
      return { kind: 'wait', deadlineMs };
    }
    let st = this.luns.get(lun);
    if (!st) {
      st = { current: this.firstAlive(this.policy === 'fixed' ? this.preferredPath : lun % this.pathCount), ioOnCurrent: 0 };
      this.luns.set(lun, st);
    }
    switch (this.policy) {
      case 'fixed':
        if (!this.dead[this.preferredPath]) st.current = this.preferredPath;
        else if (this.dead[st.current]) st.current = this.firstAlive(st.current);
        break;
      case 'mru':
        if (this.dead[st.current]) st.current = this.firstAlive(st.current);
        break;
      case 'rr':
        if (this.dead[st.current] || st.ioOnCurrent >= this.rrIops) {
          st.current = this.firstAlive(st.current + 1);
          st.ioOnCurrent = 0;
        }
        st.ioOnCurrent++;
        break;
    }
    this.selected[st.current]++;
    return { kind: 'path', path: st.current };
  }

  /** A path failed (link down, connection lost, transport error). The caller retries the I/O elsewhere. */
  pathFailed(path: number, nowMs: number): void {
    this.check(path);
    if (this.dead[path]) return;
    this.dead[path] = true;
    this.deadSinceMs[path] = nowMs;
    this.failures[path]++;
    if (this.dead.every((d) => d)) this.apdSinceMs = nowMs;
  }

  /** A path works again; Fixed fails back to it if it is the preferred one. Ends APD. */
  pathRestored(path: number): void {
    this.check(path);
    this.dead[path] = false;
    this.deadSinceMs[path] = undefined;
    this.apdSinceMs = undefined;
  }

  status(): PathStatus[] {
    const ioPaths = new Set<number>();
    if (this.policy !== 'rr') for (const st of this.luns.values()) if (!this.dead[st.current]) ioPaths.add(st.current);
    return this.dead.map((dead, path) => {
      const io = this.policy === 'rr' ? !dead && this.luns.size > 0 : ioPaths.has(path);
      const state: PathState = dead ? 'dead' : this.policy === 'rr' || io || (this.luns.size === 0 && this.isDefault(path)) ? 'active' : 'standby';
      return {
        path,
        state,
        io,
        preferred: this.policy === 'fixed' && path === this.preferredPath,
        selected: this.selected[path],
        failures: this.failures[path],
        deadSinceMs: this.deadSinceMs[path],
      };
    });
  }

  private isDefault(path: number): boolean {
    return path === this.firstAlive(this.policy === 'fixed' ? this.preferredPath : 0);
  }

  private firstAlive(from: number): number {
    const n = this.pathCount;
    for (let i = 0; i < n; i++) {
      const p = (((from + i) % n) + n) % n;
      if (!this.dead[p]) return p;
    }
    return ((from % n) + n) % n;
  }

  private check(path: number): void {
    if (!Number.isInteger(path) || path < 0 || path >= this.pathCount) {
      throw new VfabError(MULTIPATH_ERROR.NO_SUCH_PATH, `path ${path} outside 0..${this.pathCount - 1}`);
    }
  }
}
