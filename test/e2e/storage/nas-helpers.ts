// Shared helpers for the NAS e2e tests: a stored config file with shares, and the /nas URL of a spawned
// stored. Not a test file itself.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StoredProcess } from './helpers.js';

export function nasConfig(dir: string, shares = [{ name: 'nfs1', sizeMB: 64 }]): string {
  const file = join(dir, 'stored.json');
  writeFileSync(file, JSON.stringify({ name: 'arr-nas', shares }));
  return file;
}

export const nasUrl = (p: StoredProcess): string => `ws://127.0.0.1:${p.port}/nas`;
