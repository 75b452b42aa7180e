// docs/errors.md must list every VFAB_* code the source raises (the codes are a stable interface).
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
}

describe('docs/errors.md', () => {
  it('lists every VFAB_* code raised in lib/ and daemons/', () => {
    const doc = fs.readFileSync('docs/errors.md', 'utf8');
    const missing = new Set<string>();
    for (const file of [...sources('lib'), ...sources('daemons')]) {
      for (const m of fs.readFileSync(file, 'utf8').matchAll(/'(VFAB_[A-Z0-9_]*[A-Z0-9])'/g)) {
        if (!doc.includes('`' + m[1] + '`')) missing.add(`${m[1]} (${file})`);
      }
    }
    expect([...missing], 'codes missing from docs/errors.md').to.deep.equal([]);
  });
});
