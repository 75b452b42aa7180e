// Where vfab's files are, whether this module runs from the TypeScript sources (tests, through tsx) or
// from the compiled JavaScript in dist/ (the CLI and every daemon): the package root (the folder with
// package.json), the compiled tree, and the data files that are not compiled (embedded topologies).

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`vfab: no package.json above ${from}`);
  }
}

/** The folder with vfab's package.json (dist/ has none, so this is the same from the sources and from dist). */
export const PACKAGE_ROOT = findPackageRoot(path.dirname(fileURLToPath(import.meta.url)));
/** The compiled JavaScript (tsconfig.build.json), built by `npm ci` (prepare) or `npm run build`. */
export const DIST_DIR = path.join(PACKAGE_ROOT, 'dist');

/** A file of the package that is not compiled (topologies/quickstart.yaml, ...). */
export function packageFile(...parts: string[]): string {
  return path.join(PACKAGE_ROOT, ...parts);
}

/** The compiled JavaScript of a source file given relative to the package root ('daemons/hostd.ts'). */
export function distScript(sourceFromRoot: string): string {
  return path.join(DIST_DIR, sourceFromRoot.replace(/\.ts$/, '.js'));
}
