// Builds the QEMU boot test's initramfs (test/e2e/guests/qemu.test.ts) from files installed by Debian
// packages, at test time: busybox-static's /bin/busybox, the kernel's virtio network modules (with their
// dependencies from modules.dep) and an /init script the caller writes. Nothing is downloaded. Not a test
// file itself. Leaves out compressed modules (Debian 12's are plain .ko; others are reported as missing).

import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { writeCpio, type CpioEntry } from '../../../lib/guests/cpio.js';

export const BUSYBOX = '/bin/busybox';

/** The newest kernel in /boot with its modules directory, or why there is none. */
export function findKernel(): { vmlinuz: string; modules: string } | string {
  let names: string[];
  try {
    names = fs.readdirSync('/boot').filter((n) => n.startsWith('vmlinuz-')).sort();
  } catch {
    return 'no /boot directory';
  }
  for (const n of names.reverse()) {
    const version = n.slice('vmlinuz-'.length);
    const modules = `/usr/lib/modules/${version}`;
    if (fs.existsSync(path.join(modules, 'modules.dep'))) {
      try {
        fs.accessSync(path.join('/boot', n), fs.constants.R_OK);
      } catch {
        return `/boot/${n} is not readable (run as root)`;
      }
      return { vmlinuz: path.join('/boot', n), modules };
    }
  }
  return 'no /boot/vmlinuz-* with its modules (package linux-image-amd64)';
}

/**
 * The module files to load for `wanted` (names as in modules.dep, e.g. "virtio_net"), dependencies first,
 * each once. Throws naming a module that is missing or compressed.
 */
export function moduleLoadOrder(modulesDir: string, wanted: string[]): string[] {
  const deps = new Map<string, string[]>();
  for (const line of fs.readFileSync(path.join(modulesDir, 'modules.dep'), 'utf8').split('\n')) {
    const [file, rest] = line.split(':');
    if (!file || rest === undefined) continue;
    deps.set(file, rest.trim() === '' ? [] : rest.trim().split(/\s+/));
  }
  const byName = new Map([...deps.keys()].map((f) => [path.basename(f).replace(/\.ko(\.\w+)?$/, ''), f]));
  const order: string[] = [];
  const visit = (file: string) => {
    if (order.includes(file)) return;
    for (const d of deps.get(file) ?? []) visit(d);
    order.push(file);
  };
  for (const w of wanted) {
    const file = byName.get(w);
    if (file === undefined) throw new Error(`module ${w} is not in ${modulesDir}/modules.dep (built in, or another kernel?)`);
    visit(file);
  }
  for (const f of order) if (!f.endsWith('.ko')) throw new Error(`module ${f} is compressed: this test loads plain .ko files`);
  return order;
}

/** A gzip-compressed newc initramfs: busybox, the modules (under /lib/modules/), and /init. */
export function buildInitramfs(opts: { modulesDir: string; modules: string[]; init: string }): Buffer {
  const entries: CpioEntry[] = ['bin', 'sbin', 'usr', 'usr/bin', 'usr/sbin', 'proc', 'sys', 'dev', 'tmp', 'lib', 'lib/modules'].map((p) => ({ type: 'dir', path: p }));
  entries.push({ type: 'file', path: 'bin/busybox', data: fs.readFileSync(BUSYBOX), mode: 0o755 });
  entries.push({ type: 'symlink', path: 'bin/sh', target: 'busybox' });
  for (const m of opts.modules) entries.push({ type: 'file', path: `lib/modules/${path.basename(m)}`, data: fs.readFileSync(path.join(opts.modulesDir, m)) });
  entries.push({ type: 'file', path: 'init', data: Buffer.from(opts.init), mode: 0o755 });
  return zlib.gzipSync(writeCpio(entries), { level: 1 });
}
