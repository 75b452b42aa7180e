// The VDE peer of the guests benchmark (bench/guests.ts): two Linux network namespaces joined by VDE, the
// userspace Ethernet switch QEMU and User-Mode Linux users reach for. One `vde_switch` (its data socket
// in a temporary directory under /tmp) and one `vde_plug2tap` per namespace, started inside it with
// `ip netns exec`, so the tap device it opens (and creates: TUNSETIFF) lives in that namespace, where the
// guest's address is. Each frame takes tap -> vde_plug2tap -> vde_switch -> vde_plug2tap -> tap: three
// userspace processes, as vfab's path has hosts and switches. The taps keep the kernel's defaults (MTU
// 1500, no vnet header, so no offloads reach the plug: the kernel segments and checksums before the tap).
// Every process is a child of the bench, ended by its PID; the namespaces (`vfabb-<tag>-a/b`) and the
// socket directory are removed in stop(), also after a failed start. Needs root. Leaves out VDE's
// cabling of several switches (vde_plug | dpipe), its management console, VLANs.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run } from '../../daemons/guests/vxlan-device.js';

export const VDE_TOOLS = ['vde_switch', 'vde_plug2tap'] as const;
/** Bound on waiting for a plug's tap to appear in its namespace. */
export const VDE_START_TIMEOUT_MS = 5000;

export interface VdeGuest {
  netns: string;
  ifname: string;
  ip: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A namespace name and its address on the peer's /24 (a network of its own: TEST-NET-2, 198.51.100.0/24). */
function guest(prefix: string, tag: string, i: number): VdeGuest {
  return { netns: `${prefix}${tag}-${'ab'[i]}`, ifname: `vdetap${i}`, ip: `198.51.100.${i + 1}` };
}

/** The namespaces' prefix in the bench (tests pass their own, vfabt-). */
export const VDE_NETNS_PREFIX = 'vfabb-';

export class VdeNetnsPair {
  readonly guests: [VdeGuest, VdeGuest];
  private readonly children: ChildProcess[] = [];
  private readonly made: string[] = [];
  private dir: string | null = null;
  private switchProc: ChildProcess | null = null;

  private constructor(tag: string, prefix: string) {
    this.guests = [guest(prefix, tag, 0), guest(prefix, tag, 1)];
  }

  /** Starts the switch and both plugs, addresses the taps; undoes what it made when a step fails. */
  static async start(tag: string, prefix = VDE_NETNS_PREFIX): Promise<VdeNetnsPair> {
    const p = new VdeNetnsPair(tag, prefix);
    try {
      await p.setUp();
      return p;
    } catch (e) {
      await p.stop();
      throw e;
    }
  }

  /** PIDs of the path's processes (switch, both plugs) for CPU accounting. */
  pids(): number[] {
    return [this.switchProc, ...this.children].map((c) => c?.pid).filter((p): p is number => p !== undefined);
  }

  private spawnChild(file: string, args: string[], what: string): ChildProcess {
    // stdin stays an open pipe: vde_switch without -d reads its console from stdin and quits on EOF
    const child = spawn(file, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-1000)));
    child.on('error', () => undefined);
    child.once('exit', (code, sig) => {
      if (!this.stopping) this.died = `${what} exited ${code ?? sig}: ${err.trim()}`;
    });
    return child;
  }

  private stopping = false;
  private died: string | null = null;

  private async setUp(): Promise<void> {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfabb-vde-'));
    const sock = path.join(this.dir, 'switch');
    this.switchProc = this.spawnChild('vde_switch', ['-s', sock], 'vde_switch');
    const deadline = Date.now() + VDE_START_TIMEOUT_MS;
    while (!fs.existsSync(path.join(sock, 'ctl'))) {
      if (this.died) throw new Error(this.died);
      if (Date.now() > deadline) throw new Error(`vde_switch made no socket in ${sock} within ${VDE_START_TIMEOUT_MS} ms`);
      await sleep(20);
    }
    for (const g of this.guests) {
      await run('ip', ['netns', 'add', g.netns]);
      this.made.push(g.netns);
      await run('ip', ['-n', g.netns, 'link', 'set', 'lo', 'up']);
      // ip netns exec execs the plug: the child's PID is vde_plug2tap's
      this.children.push(this.spawnChild('ip', ['netns', 'exec', g.netns, 'vde_plug2tap', '-s', sock, g.ifname], `vde_plug2tap in ${g.netns}`));
    }
    for (const g of this.guests) {
      for (;;) {
        if (this.died) throw new Error(this.died);
        if (await run('ip', ['-n', g.netns, 'link', 'show', g.ifname]).then(() => true, () => false)) break;
        if (Date.now() > deadline) throw new Error(`vde_plug2tap made no ${g.ifname} in ${g.netns} within ${VDE_START_TIMEOUT_MS} ms`);
        await sleep(20);
      }
      await run('ip', ['-n', g.netns, 'link', 'set', g.ifname, 'mtu', '1500', 'up']);
      await run('ip', ['-n', g.netns, 'addr', 'add', `${g.ip}/24`, 'dev', g.ifname]);
    }
  }

  /** Ends every process it started (by PID) and removes its namespaces and socket directory; idempotent. */
  async stop(): Promise<void> {
    this.stopping = true;
    const all = [...this.children, ...(this.switchProc ? [this.switchProc] : [])];
    await Promise.all(all.map((c) => endChild(c)));
    this.children.length = 0;
    this.switchProc = null;
    for (const ns of this.made.splice(0)) await run('ip', ['netns', 'del', ns]).catch(() => undefined);
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
    this.dir = null;
  }
}

/** SIGTERM, then SIGKILL after a second; resolves once the child has exited. */
export async function endChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null || c.pid === undefined) return;
  const gone = new Promise<void>((r) => c.once('exit', () => r()));
  c.kill('SIGTERM');
  const t = setTimeout(() => c.kill('SIGKILL'), 1000);
  await gone;
  clearTimeout(t);
}
