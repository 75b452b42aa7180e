// Temporary directories under os.tmpdir() for LevelDB tests, removed afterwards.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function makeTempDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `vfab-${tag}-`));
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
