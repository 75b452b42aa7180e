// Shared helpers for the NAS e2e tests: a stored config file with shares, and the /nas URL of a spawned
// stored. Not a test file itself.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StoredProcess } from './helpers.js';

/** A config file: stored's own form, or the plan form `vfab up` writes (the topology's array, shares included). */
export function nasConfig(dir: string, form: 'stored' | 'plan' = 'stored', shares = [{ name: 'nfs1', sizeMB: 64 }]): string {
  const file = join(dir, 'stored.json');
  const cfg = form === 'stored' ? { name: 'arr-nas', shares } : { kind: 'array', fabric: 'nas-test', array: { name: 'arr-nas', luns: [], shares, readCacheBytes: 0 } };
  writeFileSync(file, JSON.stringify(cfg));
  return file;
}

export const nasUrl = (p: StoredProcess): string => `ws://127.0.0.1:${p.port}/nas`;
