// The daemons `vfab up` starts are single files (daemons/bundle.mjs, run by `npm run build` after tsc):
// each of dist/daemons/{hostd,switchd,stored,vmd}.js imports no module of vfab's own at run time (only
// node: built-ins and npm packages), and still starts (its --help runs, so every import resolves from
// where the bundle lies), and finds no file relative to its own module (new URL(rel, import.meta.url)
// would look beside the bundle). Why: a daemon reading 90-170 modules one by one cost about 20 % more start CPU
// and 2 MiB more memory per daemon (docs/scale.md). Leaves out what the daemons do once started (every
// other e2e test runs these same files).

import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { DAEMON_SCRIPTS } from '../../../daemons/fabric/process.js';

/** Relative module specifiers a compiled file imports (static `from '...'` and dynamic `import('...')`). */
export function relativeImports(code: string): string[] {
  return [...code.matchAll(/\bfrom\s*["'](\.{1,2}\/[^"']+)["']|\bimport\s*\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)|^\s*import\s*["'](\.{1,2}\/[^"']+)["']/gm)].map((m) => (m[1] ?? m[2] ?? m[3])!);
}

/** `new URL('<relative>', import.meta.url)`: a file found next to the module that asks. */
export function relativeFileUrls(code: string): string[] {
  return [...code.matchAll(/new URL\(\s*(["'][^"']*["']|[A-Za-z_$][\w$]*)\s*,\s*import\.meta\.url\s*\)/g)].map((m) => m[1]!);
}

describe('the daemons vfab up starts are bundled (e2e, dist/)', () => {
  it('finds relative imports the way tsc emits them (the check itself can fail)', () => {
    const tscOutput = "import fs from 'node:fs';\nimport { EsxHost } from '../lib/host/host.js';\nconst m = await import('./guests/attach.js');\nimport './side-effect.js';\n";
    expect(relativeImports(tscOutput)).to.deep.equal(['../lib/host/host.js', './guests/attach.js', './side-effect.js']);
    expect(relativeFileUrls("const p = fileURLToPath(new URL(rel, import.meta.url));\nnew URL('./x.py', import.meta.url)")).to.deep.equal(['rel', "'./x.py'"]);
  });

  for (const [kind, script] of Object.entries(DAEMON_SCRIPTS)) {
    it(`${kind}: ${script.replace(/.*\/dist\//, 'dist/')} imports none of vfab's modules and starts`, () => {
      const code = fs.readFileSync(script, 'utf8');
      expect(relativeImports(code), 'relative imports left (run npm run build, which bundles after tsc)').to.deep.equal([]);
      // a file found relative to its own module would be looked for beside the bundle (find it from the package root)
      expect(relativeFileUrls(code), 'new URL(relative, import.meta.url) in a bundle').to.deep.equal([]);
      const help = spawnSync(process.execPath, [script, '--help'], { encoding: 'utf8', timeout: 10_000 });
      expect(help.status, help.stderr).to.equal(0);
      expect(help.stdout + help.stderr).to.match(/usage/i);
    });
  }
});
