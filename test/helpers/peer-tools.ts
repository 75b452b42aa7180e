// Gate for tests that need an external tool (tshark, tgt, iscsiadm...). Covers finding the command on
// PATH. A missing tool fails the test in CI (process.env.CI === 'true') and skips it elsewhere, printing
// how to install it. Leaves out version checks.

import { spawnSync } from 'node:child_process';

const found = new Map<string, boolean>();

/** True when `command` is on PATH (cached per process). */
export function hasPeerTool(command: string): boolean {
  let present = found.get(command);
  if (present === undefined) {
    const probe = spawnSync('sh', ['-c', 'command -v "$1"', 'sh', command], { stdio: 'ignore' });
    present = probe.status === 0;
    found.set(command, present);
  }
  return present;
}

/** Skips (or, in CI, fails) the current test when `command` is missing. */
export function requirePeerTool(ctx: Mocha.Context, command: string, installHint: string): void {
  if (hasPeerTool(command)) return;
  const message = `peer tool "${command}" is not installed; install it with: ${installHint}`;
  if (process.env.CI === 'true') throw new Error(message);
  console.warn(`      (skipped: ${message})`);
  ctx.skip();
}

export const TSHARK_INSTALL_HINT = 'apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y tshark';

/** Runs tshark with `args` (bounded in time); returns stdout, throws with stderr on a non-zero exit. */
export function runTshark(args: string[]): string {
  const run = spawnSync('tshark', args, { encoding: 'utf8', timeout: 30_000 });
  if (run.error) throw run.error;
  if (run.status !== 0) throw new Error(`tshark ${args.join(' ')} exited with ${run.status}: ${run.stderr}`);
  return run.stdout;
}

/** capinfos comes with tshark (Debian's tshark depends on wireshark-common, which ships it). */
export const CAPINFOS_INSTALL_HINT = TSHARK_INSTALL_HINT + '  (capinfos is in wireshark-common, installed with tshark)';

/** capinfos's "Strict time order" line for `file`: true, false, or throws when capinfos fails. */
export function strictTimeOrder(file: string): boolean {
  const run = spawnSync('capinfos', ['-o', file], { encoding: 'utf8', timeout: 30_000 });
  if (run.error) throw run.error;
  if (run.status !== 0) throw new Error(`capinfos -o ${file} exited with ${run.status}: ${run.stderr}`);
  const m = /Strict time order:\s+(True|False)/.exec(run.stdout);
  if (!m) throw new Error(`capinfos -o ${file} printed no "Strict time order" line:\n${run.stdout}`);
  return m[1] === 'True';
}

/**
 * Asserts that every capture in `files` is in strict time order (capinfos). Where capinfos is missing it
 * fails in CI and, elsewhere, only warns: the caller's other assertions still run.
 */
export function assertStrictTimeOrder(files: string[]): void {
  if (!hasPeerTool('capinfos')) {
    const message = `peer tool "capinfos" is not installed; install it with: ${CAPINFOS_INSTALL_HINT}`;
    if (process.env.CI === 'true') throw new Error(message);
    console.warn(`      (time order not checked: ${message})`);
    return;
  }
  const unordered = files.filter((f) => !strictTimeOrder(f));
  if (unordered.length > 0) throw new Error(`not in strict time order (capinfos): ${unordered.join(', ')}`);
}
