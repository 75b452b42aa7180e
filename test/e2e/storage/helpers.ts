// Shared helpers for the storage e2e tests: an in-process block server over a fake target, and spawning
// the `stored` daemon (node dist/daemons/stored.js) on port 0, reading its ready line, killing it
// by PID. Not a test file itself.

import { createServer, type Server } from 'node:http';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { IscsiFramer } from '../../../lib/iscsi/framer.js';
import { OPCODE, STAGE, emitPdu, loginFlags, makePdu, type Pdu } from '../../../lib/iscsi/pdu.js';
import { encodeText } from '../../../lib/iscsi/text.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { AddressInfo } from 'node:net';
import { BlockServer, type BlockServerOptions } from '../../../daemons/storage/block-server.js';
import { SCSI_STATUS, type ScsiCommand, type ScsiResult, type ScsiTarget } from '../../../lib/storage/scsi.js';
import { DAEMON_SCRIPTS } from '../../../daemons/fabric/process.js';

export const TOKEN = 'test-token-123';

/** A target whose commands finish only when the test says so (to test windows and pausing). */
export class GatedTarget implements ScsiTarget {
  readonly pending: Array<{ cmd: ScsiCommand; resolve: (r: ScsiResult) => void }> = [];
  active = 0;
  maxActive = 0;
  received = 0;
  execute(cmd: ScsiCommand): Promise<ScsiResult> {
    this.received++;
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    return new Promise((resolve) => this.pending.push({ cmd, resolve }));
  }
  /** Completes up to `n` pending commands, newest first (to exercise out-of-order responses). */
  releaseNewestFirst(n = Infinity): number {
    let done = 0;
    while (this.pending.length > 0 && done < n) {
      const p = this.pending.pop()!;
      this.active--;
      p.resolve({ status: SCSI_STATUS.GOOD, dataIn: Buffer.from(p.cmd.cdb) });
      done++;
    }
    return done;
  }
}

export async function startInProcessServer(
  opts: Omit<BlockServerOptions, 'token'>,
): Promise<{ server: Server; block: BlockServer; url: string; port: number; close: () => Promise<void> }> {
  const block = new BlockServer({ ...opts, token: TOKEN });
  const server = createServer((_req, res) => {
    res.statusCode = 404;
    res.end();
  });
  server.on('upgrade', (req, socket, head) => {
    if (!block.handleUpgrade(req, socket, head)) socket.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    block,
    port,
    url: `ws://127.0.0.1:${port}/block`,
    close: async () => {
      block.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

export interface StoredProcess {
  child: ChildProcess;
  port: number;
  pid: number;
  url: string;
  controlUrl: string;
  dataDir: string;
  stderr: () => string;
  /** The iSCSI portal's port and target IQN (stored started with --iscsi-port or config iscsi). */
  iscsiPort?: number;
  iqn?: string;
}

export function tempDataDir(prefix = 'vfab-stored-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Spawns `stored`, resolves with its port after the ready line. */
export function spawnStored(args: string[], env: Record<string, string> = {}, dataDir = ''): Promise<StoredProcess> {
  const child = spawn(process.execPath, [DAEMON_SCRIPTS.array, ...args], {
    cwd: process.cwd(),
    env: { ...process.env, VFAB_TOKEN: TOKEN, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    if (err.length > 100_000) err = err.slice(-50_000);
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`stored did not get ready in 20 s: ${err}`));
    }, 20_000);
    const rl = createInterface({ input: child.stdout! });
    rl.once('line', (line) => {
      clearTimeout(timer);
      try {
        const ready = JSON.parse(line) as { event: string; port: number; pid: number; iscsiPort?: number; iqn?: string };
        if (ready.event !== 'ready') throw new Error(`unexpected first line ${line}`);
        resolve({
          child,
          port: ready.port,
          pid: ready.pid,
          ...(ready.iscsiPort !== undefined ? { iscsiPort: ready.iscsiPort, iqn: ready.iqn } : {}),
          url: `ws://127.0.0.1:${ready.port}/block`,
          controlUrl: `http://127.0.0.1:${ready.port}`,
          dataDir,
          stderr: () => err,
        });
      } catch (e) {
        reject(e as Error);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`stored exited with ${code} before ready: ${err}`));
    });
  });
}

/** Kills a stored we started, by PID, and waits for it to exit. */
export function killStored(p: StoredProcess | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return Promise.resolve(p?.child.exitCode ?? null);
  return new Promise((resolve) => {
    p.child.once('exit', (code) => resolve(code));
    process.kill(p.pid, signal);
  });
}

export async function control(p: StoredProcess, method: string, path: string, body?: unknown, token = TOKEN): Promise<{ status: number; json: any }> {
  const res = await fetch(`${p.controlUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

/**
 * A hand-driven iSCSI initiator on a raw TCP socket (for what libiscsi cannot send): `login` goes through
 * the security and operational stages with the given operational keys and resolves with the final Login
 * Response; `next` waits for the next PDU from the target; `framer` is the socket's (configure its digests).
 */
export async function rawIscsiClient(port: number): Promise<{
  sock: Socket;
  framer: IscsiFramer;
  next: (maxMs?: number) => Promise<Pdu>;
  login: (targetName: string, operational: Record<string, string>) => Promise<Pdu>;
}> {
  const sock = connect(port, '127.0.0.1');
  sock.on('error', () => {});
  await new Promise<void>((r) => sock.once('connect', () => r()));
  const framer = new IscsiFramer();
  const got: Pdu[] = [];
  sock.on('data', (c: Buffer) => framer.push(c, (e) => e.type === 'pdu' && got.push(e.pdu)));
  const next = async (maxMs = 5000): Promise<Pdu> => {
    for (let waited = 0; got.length === 0; waited += 10) {
      if (waited > maxMs) throw new Error('no answer from the portal');
      await new Promise((r) => setTimeout(r, 10));
    }
    return got.shift()!;
  };
  const isid = Uint8Array.from([0x80, 1, 2, 3, 0, 0]);
  const request = (flags: number, pairs: Record<string, string>): Buffer =>
    emitPdu(makePdu(OPCODE.LOGIN_REQUEST, { immediate: true, flags, isid, itt: 1, cmdSN: 1, data: encodeText(Object.entries(pairs).map(([key, value]) => ({ key, value }))) }));
  const login = async (targetName: string, operational: Record<string, string>): Promise<Pdu> => {
    sock.write(request(loginFlags(true, false, STAGE.SECURITY, STAGE.OPERATIONAL), { InitiatorName: 'iqn.test:raw', SessionType: 'Normal', TargetName: targetName, AuthMethod: 'None' }));
    const first = await next();
    if (first.opcode !== OPCODE.LOGIN_RESPONSE || (first as { statusClass: number }).statusClass !== 0) throw new Error('login refused in the security stage');
    sock.write(request(loginFlags(true, false, STAGE.OPERATIONAL, STAGE.FULL_FEATURE), operational));
    const final = await next();
    if (final.opcode !== OPCODE.LOGIN_RESPONSE || (final as { statusClass: number }).statusClass !== 0) throw new Error('login refused in the operational stage');
    return final;
  };
  return { sock, framer, next, login };
}

/** Bound on one peer tool run (libiscsi's tools, qemu-img); they take well under a second on loopback. */
export const TOOL_TIMEOUT_MS = 60_000;

/** Runs a peer tool, resolves with its exit code and output (never rejects on a non-zero exit; sent `signal` after timeoutMs). */
export function runTool(cmd: string, args: string[], timeoutMs = TOOL_TIMEOUT_MS, signal: NodeJS.Signals = 'SIGKILL'): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill(signal), timeoutMs);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}
