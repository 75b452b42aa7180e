// Is PID N still the vfab daemon we started? A PID in the state file may have been reused by an unrelated
// process after the daemon died (reboot, crash, a long-lived state directory). At spawn vfab records the
// process start time; before it signals or trusts a PID it checks that the start time is unchanged and
// that the command line still carries `--name <daemon>`. Linux: field 22 of /proc/PID/stat (starttime,
// clock ticks since boot) and /proc/PID/cmdline. Elsewhere: `ps -o lstart=` and `ps -o args=` when ps
// exists; with neither, only "a process with that PID exists" is known and the command line cannot be
// checked (documented in docs/security.md). A host packed into a host group (vfab up --hosts-per-process)
// is its group's process plus its worker's state in the group's workers file. Leaves out PID namespaces.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

/** What a recorded daemon PID is now. */
export type PidState =
  | { state: 'running' }
  | { state: 'gone' }
  /** A live process that is not the daemon (PID reused, or a different command line). */
  | { state: 'foreign'; reason: string };

export interface DaemonIdentity {
  name: string;
  pid: number;
  /** processStartTime(pid) when the daemon was spawned; absent in state files of older vfab versions. */
  startTime?: string;
  /** The `--name` on the command line when one process serves several nodes (vfab up --sim); default `name`. */
  process?: string;
  /**
   * A host packed into a host group (vfab up --hosts-per-process): `pid` is the group's process, whose
   * command line carries `--name <group>`; `groupFile` is the group's workers file, which says whether
   * this host's worker thread still runs (daemons/hostgroupd.ts).
   */
  group?: string;
  groupFile?: string;
  /** A node behind the Kubernetes gateway (vfab k8s connect): no local process to check or signal. */
  remote?: true;
}

/** The process behind a record: the daemon itself, for a packed host its group, for a simulated node the sim process. */
export function processIdentity(rec: DaemonIdentity): DaemonIdentity {
  const name = rec.group ?? rec.process;
  return name === undefined ? rec : { name, pid: rec.pid, ...(rec.startTime !== undefined ? { startTime: rec.startTime } : {}) };
}

/** A packed host's worker state in its group's workers file ('running', 'killed', ...), or undefined if unreadable. */
export function packedHostState(rec: DaemonIdentity): string | undefined {
  if (rec.groupFile === undefined) return undefined;
  try {
    const file = JSON.parse(fs.readFileSync(rec.groupFile, 'utf8')) as { pid?: unknown; hosts?: Record<string, unknown> };
    if (file.pid !== rec.pid) return undefined;
    const state = file.hosts?.[rec.name];
    return typeof state === 'string' ? state : undefined;
  } catch {
    return undefined;
  }
}

/** A packed host whose group runs but whose worker does not (killed, stopped, failed): gone. */
function packedWorkerGone(rec: DaemonIdentity): boolean {
  if (rec.group === undefined) return false;
  const state = packedHostState(rec);
  return state !== undefined && state !== 'running' && state !== 'starting' && state !== 'stopping';
}

const PROC = '/proc';

function hasProc(): boolean {
  return process.platform === 'linux' && fs.existsSync(`${PROC}/self/stat`);
}

function ps(pid: number, field: string): string | undefined {
  try {
    const out = execFileSync('ps', ['-o', `${field}=`, '-p', String(pid)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5_000 });
    const text = out.trim();
    return text === '' ? undefined : text;
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

/** Fields 3.. of /proc/PID/stat ("pid (comm) state ..."; comm may hold spaces and parentheses). */
function procStat(pid: number): string[] | undefined {
  try {
    const stat = fs.readFileSync(`${PROC}/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** The start time of process `pid` as an opaque string (see the file comment), or undefined if unknown. */
export function processStartTime(pid: number): string | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  if (hasProc()) {
    const startTime = procStat(pid)?.[22 - 3]; // field 22; index 0 is field 3
    return startTime !== undefined && /^\d+$/.test(startTime) ? startTime : undefined;
  }
  return ps(pid, 'lstart');
}

/** The argument vector of process `pid`, or undefined if it cannot be read. */
export function processArgs(pid: number): string[] | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  if (hasProc()) {
    try {
      const raw = fs.readFileSync(`${PROC}/${pid}/cmdline`, 'utf8');
      return raw.split('\0').filter((a, i, all) => a !== '' || i < all.length - 1);
    } catch {
      return undefined;
    }
  }
  const args = ps(pid, 'args');
  return args === undefined ? undefined : args.split(/\s+/);
}

/**
 * True while the process that `rec` recorded still exists, a zombie not yet reaped included (its
 * command line is gone, its start time is not): what to wait on after signalling it.
 */
export function stillExists(rec: DaemonIdentity): boolean {
  if (rec.remote) return false;
  if (!isAlive(rec.pid) || packedWorkerGone(rec)) return false;
  if (rec.startTime === undefined) return true;
  const now = processStartTime(rec.pid);
  return now === undefined || now === rec.startTime;
}

/** Checks that `rec.pid` is still the daemon `rec.name` that vfab started (never signals anything). */
export function checkDaemonPid(rec: DaemonIdentity): PidState {
  if (rec.remote) return { state: 'running' }; // on another machine: whether it answers shows in its control calls
  if (rec.group !== undefined) {
    const group = checkDaemonPid(processIdentity(rec));
    return group.state === 'running' && packedWorkerGone(rec) ? { state: 'gone' } : group;
  }
  if (!isAlive(rec.pid)) return { state: 'gone' };
  if (hasProc() && procStat(rec.pid)?.[0] === 'Z') return { state: 'gone' }; // exited, not yet reaped
  const startTime = processStartTime(rec.pid);
  if (rec.startTime !== undefined && startTime !== undefined && startTime !== rec.startTime) {
    return { state: 'foreign', reason: `pid ${rec.pid} is no longer ${rec.name} (started at another time)` };
  }
  const args = processArgs(rec.pid);
  if (args !== undefined) {
    const at = args.indexOf('--name');
    const named = rec.process ?? rec.name;
    if (at < 0 || args[at + 1] !== named) return { state: 'foreign', reason: `pid ${rec.pid} is no longer ${rec.name} (its command line is not a vfab daemon named ${named})` };
  }
  return { state: 'running' };
}
