// Mocha global setup (.mocharc.json `require`): end-to-end tests start the CLI and the daemons from the
// compiled JavaScript in dist/, so dist/ must match the sources. `npm test` builds first; this catches a
// direct `npx mocha ...` after an edit: when any source under lib/ or daemons/ is newer than its compiled
// file (or that file is missing), it runs the build once (tsc, then the daemon bundles of
// daemons/bundle.mjs, so the tests start what `vfab up` starts) and says so. Leaves out deleted sources (a
// stale extra file in dist/ is never imported).

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { DIST_DIR, PACKAGE_ROOT } from '../../daemons/common/paths.js';

/** Sources compiled into dist/ (tsconfig.build.json), with the files tsc copies beside them. */
const SOURCE_DIRS = ['lib', 'daemons'];

/** Source files whose compiled counterpart in dist/ is missing or older (paths relative to the package). */
export function staleSources(root = PACKAGE_ROOT, dist = DIST_DIR): string[] {
  const stale: string[] = [];
  const walk = (rel: string): void => {
    for (const entry of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const file = path.join(rel, entry.name);
      if (entry.isDirectory()) walk(file);
      else if ((entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) || entry.name.endsWith('.schema.json')) {
        const out = path.join(dist, file.replace(/\.ts$/, '.js'));
        const built = fs.statSync(out, { throwIfNoEntry: false });
        if (!built || built.mtimeMs < fs.statSync(path.join(root, file)).mtimeMs) stale.push(file);
      }
    }
  };
  for (const d of SOURCE_DIRS) walk(d);
  return stale;
}

export function mochaGlobalSetup(): void {
  const stale = staleSources();
  if (stale.length === 0) return;
  process.stderr.write(`dist/ is older than ${stale.length} source file(s) (${stale.slice(0, 3).join(', ')}${stale.length > 3 ? ', ...' : ''}): npm run build\n`);
  execFileSync(process.execPath, [path.join(PACKAGE_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(PACKAGE_ROOT, 'tsconfig.build.json')], { stdio: 'inherit' });
  execFileSync(process.execPath, [path.join(PACKAGE_ROOT, 'daemons', 'bundle.mjs')], { stdio: 'inherit' });
}
