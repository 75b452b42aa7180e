// Runs `vfab ui --json` as a child process against a test fabric (its state dir) and reads the login URL
// it prints; stops it by PID. Shared by the browser tests (test/e2e/ui/) and the screenshot script.
// Leaves out the fabric (helpers/fabric.ts) and the browser (helpers/browser.ts).

import { spawn, type ChildProcess } from 'node:child_process';
import { REPO_ROOT, VFAB_BIN, trackPids } from './fabric.js';

/** Bound on `vfab ui` reading the fabric once and printing its URL (ms). */
export const UI_START_TIMEOUT_MS = 20_000;

export interface RunningUi {
  url: string;
  port: number;
  origin: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

export async function startUi(stateDir: string): Promise<RunningUi> {
  const child = spawn(process.execPath, [VFAB_BIN, 'ui', '--json'], { cwd: REPO_ROOT, env: { ...process.env, VFAB_STATE_DIR: stateDir }, stdio: ['ignore', 'pipe', 'pipe'] });
  trackPids([child.pid!]);
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const printed = await new Promise<{ url: string; port: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`vfab ui printed no URL within ${UI_START_TIMEOUT_MS} ms; stderr:\n${err}`)), UI_START_TIMEOUT_MS);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      try {
        const v = JSON.parse(out) as { url: string; port: number };
        clearTimeout(timer);
        resolve(v);
      } catch {
        /* not whole yet */
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`vfab ui exited with ${code}; stderr:\n${err}`));
    });
  });
  return {
    url: printed.url,
    port: printed.port,
    origin: `http://127.0.0.1:${printed.port}`,
    child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}
