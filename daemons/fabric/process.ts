// Starting and stopping daemon processes: each host, switch and array is its own Node process on
// loopback. Covers spawning with the fabric token, waiting for the ready line (with a timeout and the
// log tail on failure), and stopping by PID (SIGTERM, then SIGKILL after a grace period). Only PIDs this
// fabric started are ever signalled, and only while they are provably still that daemon (start time and
// command line, daemons/fabric/pid-identity.ts): a reused PID is reported and left alone. Logs are 0600.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { VfabError } from '../../lib/errors.js';
import { type DaemonKind, type DaemonRecord, STATE_FILE_MODE, ensurePrivateDir } from './state.js';
import { checkDaemonPid, isAlive, processIdentity, processStartTime, stillExists, type DaemonIdentity } from './pid-identity.js';
import { daemonNodeArgs } from '../common/node-args.js';
import { distScript } from '../common/paths.js';

export const DAEMON_READY_TIMEOUT_MS = 20_000;
export const DAEMON_STOP_GRACE_MS = 3_000;

/** Each daemon's compiled entry point (dist/, built by `npm ci` or `npm run build`): no TypeScript at run time. */
export const DAEMON_SCRIPTS: Record<DaemonKind, string> = {
  host: distScript('daemons/hostd.ts'),
  switch: distScript('daemons/switchd.ts'),
  array: distScript('daemons/stored.ts'),
  vm: distScript('daemons/vmd.ts'),
};

export interface SpawnOptions {
  name: string;
  kind: DaemonKind;
  args: string[];
  token: string;
  logFile: string;
  /** Keep running after the parent exits (vfab up --detach). */
  detached: boolean;
  env?: Record<string, string>;
  /** The file to run instead of the kind's daemon (a host group: dist/daemons/hostgroupd.js; a simulated fabric: dist/daemons/simd.js). */
  script?: string;
}

export async function spawnDaemon(opts: SpawnOptions): Promise<DaemonRecord> {
  const script = opts.script ?? DAEMON_SCRIPTS[opts.kind];
  if (!fs.existsSync(script)) throw new VfabError('VFAB_DAEMON_SPAWN', `cannot start ${opts.kind} daemon ${opts.name}: ${script} is missing (run npm ci, or npm run build)`);
  ensurePrivateDir(path.dirname(opts.logFile));
  const logFd = fs.openSync(opts.logFile, 'a', STATE_FILE_MODE);
  fs.fchmodSync(logFd, STATE_FILE_MODE);
  const child = spawn(process.execPath, daemonNodeArgs(script, opts.args), {
    stdio: ['ignore', 'pipe', logFd],
    detached: opts.detached,
    env: { ...process.env, ...opts.env, VFAB_TOKEN: opts.token },
  });
  fs.closeSync(logFd);
  const pid = child.pid;
  if (pid === undefined) throw new VfabError('VFAB_DAEMON_SPAWN', `could not start ${opts.kind} daemon ${opts.name}`);
  return await new Promise<DaemonRecord>((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout! });
    // {"event":"fatal","code":"VFAB_...","message"} before exiting: the daemon's own error, passed on with its code
    let fatal: { code: string; message: string } | undefined;
    const fail = (why: string) => {
      clearTimeout(timer);
      lines.close();
      if (isAlive(pid)) child.kill('SIGKILL');
      if (fatal) reject(new VfabError(fatal.code, `${opts.kind} daemon ${opts.name} did not start: ${fatal.message}`));
      else reject(new VfabError('VFAB_DAEMON_START', `${opts.kind} daemon ${opts.name} ${why}\n${logTail(opts.logFile)}`));
    };
    const timer = setTimeout(() => fail(`did not report ready within ${DAEMON_READY_TIMEOUT_MS} ms`), DAEMON_READY_TIMEOUT_MS);
    // 'close', not 'exit': every line the daemon wrote (a fatal line) has been read by then
    child.once('close', (code, signal) => fail(`exited (${signal ?? `code ${code}`}) before it was ready`));
    lines.on('line', (line) => {
      const msg = daemonLine(line);
      if (msg?.event === 'fatal') {
        fatal = msg;
        return;
      }
      if (msg?.event !== 'ready') return;
      clearTimeout(timer);
      child.removeAllListeners('close');
      lines.close();
      child.stdout!.resume(); // keep draining so the daemon never blocks on a full pipe
      if (opts.detached) child.unref();
      (child.stdout as any).unref?.();
      const startTime = processStartTime(pid);
      resolve({ name: opts.name, kind: opts.kind, pid, port: msg.port, logFile: opts.logFile, ...(startTime !== undefined ? { startTime } : {}), ...(typeof msg.iscsiPort === 'number' ? { iscsiPort: msg.iscsiPort } : {}) });
    });
  });
}

/** A daemon's stdout line: its ready line (`{"event":"ready","port",...}`), its fatal line, or undefined for anything else. */
export function daemonLine(line: string): { event: 'ready'; port: number; iscsiPort?: number } | { event: 'fatal'; code: string; message: string } | undefined {
  let msg: any;
  try {
    msg = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (msg?.event === 'fatal' && typeof msg.code === 'string' && /^VFAB_[A-Z0-9_]+$/.test(msg.code) && typeof msg.message === 'string') return { event: 'fatal', code: msg.code, message: msg.message };
  if (msg?.event === 'ready') return msg;
  return undefined;
}

export function logTail(file: string, lines = 15): string {
  try {
    const text = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
    return text.slice(-lines).map((l) => `  | ${l}`).join('\n');
  } catch {
    return '';
  }
}

/** A recorded daemon whose PID is alive but no longer that daemon: reported, never signalled. */
export interface NotSignalled {
  name: string;
  pid: number;
  reason: string;
}

/**
 * SIGTERM every daemon that is provably still ours, wait up to the grace period, then SIGKILL what is
 * left (checked again just before). A PID that no longer matches its record lands in `notSignalled`.
 * Packed hosts (a `group` in their record) are stopped with their group: its process is signalled once
 * (it stops each host's worker cleanly), and every host recorded in it counts as stopped or killed with it.
 */
export async function stopDaemons(daemons: DaemonRecord[], graceMs = DAEMON_STOP_GRACE_MS): Promise<{ stopped: string[]; killed: string[]; notSignalled: NotSignalled[] }> {
  const stopped: string[] = [];
  const killed: string[] = [];
  const notSignalled: NotSignalled[] = [];
  // one process per daemon, or per group of packed hosts (its members named for the report)
  const processes = new Map<string, { id: DaemonIdentity; members: string[] }>();
  for (const d of daemons) {
    const id = processIdentity(d);
    const key = `${id.name} ${id.pid}`;
    const p = processes.get(key);
    if (p === undefined) processes.set(key, { id, members: [d.name] });
    else p.members.push(d.name);
  }
  const ours: Array<{ id: DaemonIdentity; members: string[] }> = [];
  for (const p of processes.values()) {
    const now = checkDaemonPid(p.id);
    if (p.id.remote) notSignalled.push(...p.members.map((name) => ({ name, pid: p.id.pid, reason: `${name} runs on another machine (vfab k8s connect)` })));
    else if (now.state === 'foreign') notSignalled.push(...p.members.map((name) => ({ name, pid: p.id.pid, reason: now.reason })));
    else if (now.state === 'gone') stopped.push(...p.members);
    else ours.push(p);
  }
  for (const { id } of ours) {
    try {
      process.kill(id.pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
  }
  const deadline = Date.now() + graceMs;
  for (const { id, members } of ours) {
    while (stillExists(id) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    if (stillExists(id)) {
      try {
        process.kill(id.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
      killed.push(...members);
    } else stopped.push(...members);
  }
  return { stopped, killed, notSignalled };
}
