// Shared helper for end-to-end tests: bring a whole fabric up from a topology file in a private temp
// state dir (real daemon processes on 127.0.0.1, port 0), talk to its daemons, run the vfab CLI as a
// child process against it, and tear everything down again. Only PIDs this helper started are ever
// signalled (fabricDown stops the fabric's own daemon records; an exit hook SIGKILLs leftovers if a test
// run dies). Leaves out assertions: tests decide what to check. Not a test file itself.
//
// Typical use (mocha):
//   let fab: TestFabric;
//   before(async function () { this.timeout(FABRIC_UP_TIMEOUT_MS); fab = await startFabric('topologies/quickstart.yaml'); });
//   after(async function () { this.timeout(FABRIC_DOWN_TIMEOUT_MS); await fab?.down(); });
//   it('pings', async () => expect((await fab.ping('web1', '192.0.2.12')).received).to.be.above(0));

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTopologyFile } from '../../../lib/topology/load.js';
import { control } from '../../../daemons/common/control-client.js';
import type { PingResult } from '../../../daemons/cli/net-commands.js';
import { fabricUp, fabricDown } from '../../../daemons/fabric/lifecycle.js';
import { type FabricState, type DaemonRecord, findDaemon, isAlive, readState } from '../../../daemons/fabric/state.js';

/** Bounds for mocha hooks: bringing a fabric up (spawning every daemon + links up) and down. */
export const FABRIC_UP_TIMEOUT_MS = 60_000;
export const FABRIC_DOWN_TIMEOUT_MS = 15_000;
/** A CLI child process is killed (SIGKILL, by PID) after this long unless the caller gives a bound. */
export const CLI_TIMEOUT_MS = 30_000;
/** CLI output kept per stream; more is cut (tests look at small outputs). */
const MAX_CLI_OUTPUT_BYTES = 4 * 1024 * 1024;

/** Absolute path of the repository root (tests may run from anywhere). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const VFAB_BIN = path.join(REPO_ROOT, 'bin', 'vfab.js');

/** `path` relative to the repository root, made absolute. */
export function repoPath(...parts: string[]): string {
  return path.resolve(REPO_ROOT, ...parts);
}

/** A fresh temp directory (for VFAB_STATE_DIR, captures, broken topology files). */
export function makeTempDir(prefix = 'vfab-e2e-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

// Every PID started through this helper, so a crashed run can still kill them on exit.
const startedPids = new Set<number>();
process.once('exit', () => {
  for (const pid of startedPids) {
    if (isAlive(pid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
});

/** Remembers PIDs the caller started some other way (e.g. `vfab up --detach` in a child process). */
export function trackPids(pids: number[]): void {
  for (const p of pids) startedPids.add(p);
}

/** What a VM's ping control call answers (the CLI's own type). */
export type { PingResult };
export interface PingOptions {
  count?: number;
  intervalMs?: number;
  timeoutMs?: number;
  sizeBytes?: number;
  nic?: string;
}

export interface TestFabric {
  readonly stateDir: string;
  readonly state: FabricState;
  daemon(name: string): DaemonRecord;
  /** The daemon (host) that runs VM `vm`. */
  hostOf(vm: string): DaemonRecord;
  /** JSON control call to daemon `name` with the fabric token; a VFAB_* error reply throws a VfabError. */
  call<T = any>(name: string, method: 'GET' | 'POST', urlPath: string, body?: unknown): Promise<T>;
  /** GET /control/status of daemon `name`. */
  status(name: string): Promise<any>;
  /** Ping from inside `vm` through the fabric (ARP + ICMP), via its host's control API. */
  ping(vm: string, target: string, opts?: PingOptions): Promise<PingResult>;
  /** The status record of VM `vm` (nics, endpoint counters, ARP table) from its host. */
  vm(vm: string): Promise<any>;
  /** The vSwitch port of VM `vm`'s NIC (default nic 0): security, macChangeBlocked, per-port drop counters. */
  vmPort(vm: string, nic?: number): Promise<any>;
  /** Stops every daemon of the fabric (by PID) and removes the temp state dir. Safe to call twice. */
  down(): Promise<void>;
}

export interface StartOptions {
  /** Reuse this state dir (default: a fresh temp dir, removed by down()). */
  stateDir?: string;
  timeScale?: number;
  /** Keep the state dir (daemon logs) after down(); default: only when VFAB_E2E_KEEP=1. */
  keepStateDir?: boolean;
  /** vfab up --tls DIR and --spread-addresses (test/e2e/fabric/tls-spread.test.ts). */
  tlsDir?: string;
  spreadAddresses?: boolean;
}

/** Loads `topologyFile` (relative to the repo root or absolute) and brings its fabric up. */
export async function startFabric(topologyFile: string, opts: StartOptions = {}): Promise<TestFabric> {
  const stateDir = opts.stateDir ?? makeTempDir('vfab-e2e-state-');
  const topology = await loadTopologyFile(repoPath(topologyFile));
  let state: FabricState;
  try {
    state = await fabricUp({ topology, stateDir, timeScale: opts.timeScale ?? 1, detached: false, ...(opts.tlsDir !== undefined ? { tlsDir: opts.tlsDir } : {}), spreadAddresses: opts.spreadAddresses ?? false });
  } catch (e) {
    // fabricUp already stopped what it started; keep the daemon logs in the error before the dir goes
    const logs = logTails(path.join(stateDir, 'logs'));
    if (!opts.stateDir) fs.rmSync(stateDir, { recursive: true, force: true });
    if (e instanceof Error && logs) e.message += `\n${logs}`;
    throw e;
  }
  trackPids(state.daemons.map((d) => d.pid));
  return new RunningFabric(stateDir, state, opts.stateDir === undefined && !(opts.keepStateDir ?? process.env.VFAB_E2E_KEEP === '1'));
}

/** The last lines of every daemon log in `dir` (for failure messages). */
export function logTails(dir: string, lines = 12): string {
  let files: string[];
  try {
    files = fs.readdirSync(dir).filter((f) => f.endsWith('.log'));
  } catch {
    return '';
  }
  return files
    .map((f) => {
      const text = fs.readFileSync(path.join(dir, f), 'utf8').trimEnd();
      return text ? `--- ${f}\n${text.split('\n').slice(-lines).join('\n')}` : '';
    })
    .filter(Boolean)
    .join('\n');
}

class RunningFabric implements TestFabric {
  private stopped = false;
  constructor(
    readonly stateDir: string,
    readonly state: FabricState,
    private readonly removeDir: boolean,
  ) {}

  daemon(name: string): DaemonRecord {
    return findDaemon(this.state, name);
  }

  hostOf(vm: string): DaemonRecord {
    const host = this.state.vmHosts[vm];
    if (!host) throw new Error(`no VM ${vm} in fabric ${this.state.fabric}`);
    return this.daemon(host);
  }

  call<T = any>(name: string, method: 'GET' | 'POST', urlPath: string, body?: unknown): Promise<T> {
    return control<T>(this.daemon(name), this.state.token, method, urlPath, body);
  }

  status(name: string): Promise<any> {
    return this.call(name, 'GET', '/control/status');
  }

  ping(vm: string, target: string, opts: PingOptions = {}): Promise<PingResult> {
    const body = { target, count: opts.count ?? 2, intervalMs: opts.intervalMs ?? 50, timeoutMs: opts.timeoutMs ?? 1000, sizeBytes: opts.sizeBytes ?? 56, nic: opts.nic };
    return control<PingResult>(this.hostOf(vm), this.state.token, 'POST', `/control/vms/${encodeURIComponent(vm)}/ping`, body);
  }

  async vm(vm: string): Promise<any> {
    const status = await control<any>(this.hostOf(vm), this.state.token, 'GET', '/control/status');
    const found = status.vms.find((v: any) => v.name === vm);
    if (!found) throw new Error(`host ${this.state.vmHosts[vm]} does not report VM ${vm}`);
    return found;
  }

  async vmPort(vm: string, nic = 0): Promise<any> {
    const status = await control<any>(this.hostOf(vm), this.state.token, 'GET', '/control/status');
    const v = status.vms.find((x: any) => x.name === vm);
    const portId = v?.nics[nic]?.portId;
    const vswitch = v?.nics[nic]?.vswitch;
    const port = status.vswitches.find((s: any) => s.name === vswitch)?.ports.find((p: any) => p.portId === portId);
    if (!port) throw new Error(`no vSwitch port for ${vm} nic ${nic}`);
    return port;
  }

  async down(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // every daemon known either way: the records at start (a test may patch one after restarting a daemon
    // itself) and the state file's (vfab fault restart records a restarted daemon's new PID there)
    let daemons = this.state.daemons;
    try {
      const pids = new Set(daemons.map((d) => d.pid));
      daemons = [...daemons, ...readState(this.stateDir).daemons.filter((d) => !pids.has(d.pid))];
    } catch {
      /* no state file: the records at start */
    }
    await fabricDown({ ...this.state, daemons }, this.stateDir);
    if (this.removeDir) fs.rmSync(this.stateDir, { recursive: true, force: true });
  }
}

/** PIDs among `pids` that are still running. */
export function alivePids(pids: number[]): number[] {
  return pids.filter((p) => isAlive(p));
}

/** Polls `check` (every `intervalMs`) until it returns a truthy value; throws `what` after `timeoutMs`. */
export async function waitFor<T>(check: () => Promise<T> | T, what: string, timeoutMs = 10_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
  /** stdout as UTF-8. */
  out: string;
}

export interface CliOptions {
  /** VFAB_STATE_DIR for the child. */
  stateDir: string;
  /** SIGKILL the child (by PID) after this long; default CLI_TIMEOUT_MS. */
  timeoutMs?: number;
  /** Send stdout to this file instead of collecting it (like `vfab capture -w - > FILE`). */
  stdoutFile?: string;
}

/**
 * The `after` of a suite that brought a fabric up through the CLI: normally its last test ran `vfab down`;
 * if not, stops what the state file in `stateDir` records (our PIDs only), then removes `stateDir` and `dirs`.
 */
export async function cleanUpCliFabric(stateDir: string, ...dirs: string[]): Promise<void> {
  if (fs.existsSync(path.join(stateDir, 'state.json'))) await fabricDown(readState(stateDir), stateDir);
  for (const d of [stateDir, ...dirs]) fs.rmSync(d, { recursive: true, force: true });
}

/** Runs `node bin/vfab.js ...args` as a child process with VFAB_STATE_DIR set; never rejects on exit codes. */
export function runCli(args: string[], opts: CliOptions): Promise<CliResult> {
  const outFd = opts.stdoutFile ? fs.openSync(opts.stdoutFile, 'w') : undefined;
  const child = spawn(process.execPath, [VFAB_BIN, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, VFAB_STATE_DIR: opts.stateDir },
    stdio: ['ignore', outFd ?? 'pipe', 'pipe'],
  });
  if (outFd !== undefined) fs.closeSync(outFd);
  const out: Buffer[] = [];
  let outBytes = 0;
  let err = '';
  child.stdout?.on('data', (d: Buffer) => {
    if (outBytes < MAX_CLI_OUTPUT_BYTES) out.push(d);
    outBytes += d.length;
  });
  child.stderr!.on('data', (d: Buffer) => {
    if (err.length < MAX_CLI_OUTPUT_BYTES) err += d.toString();
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      if (child.pid !== undefined && isAlive(child.pid)) child.kill('SIGKILL');
    }, opts.timeoutMs ?? CLI_TIMEOUT_MS);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out);
      resolve({ code, signal, stdout, stderr: err, out: stdout.toString('utf8') });
    });
  });
}

/**
 * Brings `topologyFile`'s fabric up before the enclosing describe's tests and down after them (mocha
 * hooks with the fabric timeouts), handing the running fabric to `use` once it is up.
 */
export function useFabric(topologyFile: string, use: (fab: TestFabric) => void, opts: StartOptions = {}): void {
  let fab: TestFabric | undefined;
  before(async function () {
    this.timeout(FABRIC_UP_TIMEOUT_MS);
    fab = await startFabric(topologyFile, opts);
    use(fab);
  });
  after(async function () {
    this.timeout(FABRIC_DOWN_TIMEOUT_MS);
    await fab?.down();
  });
}
