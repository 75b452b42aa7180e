// Daemons stay small at idle: no module a daemon loads (hostd, switchd, stored, vmd, followed through
// their relative imports) may `import` an npm package by value. Our packages are CommonJS, or ESM
// wrappers around CommonJS (ws), and an ESM import of CommonJS makes Node start its WebAssembly export
// scanner: about 6 MiB of resident memory per process. Packages are required instead
// (daemons/common/ws.ts); `import type` is fine. Static: reads the sources, runs nothing. Leaves out the
// CLI, which loads YAML and JSON Schema code only for the commands that need it.

import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';

const DAEMONS = ['daemons/hostd.ts', 'daemons/switchd.ts', 'daemons/stored.ts', 'daemons/vmd.ts'];

/** Every value import (not `import type`) of the module graph under `entry`: [file, specifier]. */
function valueImports(entry: string, seen = new Set<string>(), out: Array<[string, string]> = []): Array<[string, string]> {
  if (seen.has(entry)) return out;
  seen.add(entry);
  const text = fs.readFileSync(entry, 'utf8');
  for (const m of text.matchAll(/^import\s+(type\s+)?(?:[^'";]*?\s+from\s+)?'([^']+)';/gms)) {
    if (m[1]) continue;
    const spec = m[2]!;
    if (spec.startsWith('.')) valueImports(path.join(path.dirname(entry), spec.replace(/\.js$/, '.ts')), seen, out);
    else out.push([entry, spec]);
  }
  return out;
}

describe('daemon module graphs: no ESM import of a CommonJS package (idle memory)', () => {
  for (const daemon of DAEMONS) {
    it(`${daemon} requires npm packages instead of importing them`, () => {
      const imports = valueImports(daemon);
      expect(imports.filter(([, spec]) => spec.startsWith('node:')).length, 'node: imports found').to.be.above(0);
      const offending = imports.filter(([, spec]) => !spec.startsWith('node:'));
      expect(offending.map(([file, spec]) => `${file}: ${spec}`)).to.deep.equal([]);
    });
  }
});
