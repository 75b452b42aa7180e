// README.md and docs/*.md must stand on their own in a user's clone: no pointer outside the repository
// (`../shared`, `/work/`, the internal reference's file name), every relative markdown link resolves to a
// file inside the repository (and to a heading, when it names a markdown anchor), and every `docs/NAME.md`
// mentioned in the text exists. Covers inline links `[text](target)` outside code; leaves out reference-style
// links (none are used) and http(s) links (not fetched: tests stay off the network).

import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.join(import.meta.dirname, '..', '..');

/** Pointers to places a clone of the repository does not have. */
const OUTSIDE = [/\.\.\/shared\b/, /\/work\//, /vsphere-semantics/];

/** The product docs: README.md and docs/*.md, as paths relative to `root`. */
function productDocs(root: string): string[] {
  const docs = fs.readdirSync(path.join(root, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => path.join('docs', f));
  return ['README.md', ...docs];
}

/** Text with fenced code blocks blanked out (line numbers kept). */
function withoutFences(text: string): string {
  return text.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, (block) => block.replace(/[^\n]/g, ' '));
}

/** Text with fenced code blocks and inline code spans blanked out (line numbers kept). */
function withoutCode(text: string): string {
  return withoutFences(text).replace(/`[^`\n]*`/g, (span) => ' '.repeat(span.length));
}

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[`*_]/g, '').replace(/[^\p{L}\p{N}\s-]/gu, '').replace(/\s/g, '-');
}

function anchors(markdown: string): Set<string> {
  const out = new Set<string>();
  const seen = new Map<string, number>();
  for (const m of withoutFences(markdown).matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const base = slug(m[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Every problem with the links of the product docs under `root`, as "file:line: what". */
function linkProblems(root: string): string[] {
  const problems: string[] = [];
  const rootDir = path.resolve(root);
  for (const file of productDocs(root)) {
    const text = fs.readFileSync(path.join(root, file), 'utf8');
    const lineOf = (index: number) => text.slice(0, index).split('\n').length;
    for (const re of OUTSIDE) {
      for (const m of text.matchAll(new RegExp(re.source, 'g'))) {
        problems.push(`${file}:${lineOf(m.index!)}: points outside the repository (${m[0]})`);
      }
    }
    const prose = withoutCode(text);
    for (const m of prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      const target = m[1]!;
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
      const [pathPart, anchor] = target.split('#', 2) as [string, string | undefined];
      const resolved = pathPart === '' ? path.join(rootDir, file) : path.resolve(rootDir, path.dirname(file), decodeURIComponent(pathPart));
      const where = `${file}:${lineOf(m.index!)}`;
      if (path.relative(rootDir, resolved).startsWith('..') || path.isAbsolute(pathPart)) {
        problems.push(`${where}: link ${target} leaves the repository`);
      } else if (!fs.existsSync(resolved)) {
        problems.push(`${where}: link ${target} names a file that does not exist`);
      } else if (anchor !== undefined && resolved.endsWith('.md') && !anchors(fs.readFileSync(resolved, 'utf8')).has(anchor)) {
        problems.push(`${where}: link ${target} names a heading that does not exist`);
      }
    }
    for (const m of text.matchAll(/(?<![\w/.-])(?<!\]\()docs\/[\w.-]+\.md\b/g)) {
      if (!fs.existsSync(path.join(rootDir, m[0]))) problems.push(`${file}:${lineOf(m.index!)}: mentions ${m[0]}, which does not exist`);
    }
  }
  return problems;
}

describe('README.md and docs/*.md links', () => {
  it('point nowhere outside the repository, and every relative link resolves', () => {
    expect(linkProblems(ROOT)).to.deep.equal([]);
  });

  it('the README links the behaviour reference, and the reference keeps the §1-§8 numbering', () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    expect(readme).to.include('](docs/vsphere-behaviour.md)');
    const headings = [...anchors(fs.readFileSync(path.join(ROOT, 'docs', 'vsphere-behaviour.md'), 'utf8'))];
    for (let n = 0; n <= 8; n++) expect(headings.some((h) => h.startsWith(`${n}-`)), `heading §${n}`).to.equal(true);
  });

  describe('the checker itself (on a scratch tree)', () => {
    let dir: string;
    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfab-doclinks-'));
      fs.mkdirSync(path.join(dir, 'docs'));
      fs.writeFileSync(path.join(dir, 'docs', 'a.md'), '# A\n\n## Two words\n');
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    const check = (readme: string) => {
      fs.writeFileSync(path.join(dir, 'README.md'), readme);
      return linkProblems(dir);
    };

    it('accepts good links, URLs, and links inside code', () => {
      expect(check('[a](docs/a.md) [b](docs/a.md#two-words) [w](https://example.com/x) `[c](nope.md)`\n' +
        '```\n[d](missing/x.md)\n```\nsee docs/a.md\n')).to.deep.equal([]);
    });

    it('reports a missing file, a missing heading, a link out of the tree, a dangling docs/ mention and ../shared', () => {
      const problems = check('# R\n[m](docs/missing.md)\n[h](docs/a.md#nope)\n[o](../outside.md)\nsee docs/gone.md\n' +
        'ref ../shared/spec/x.md\n');
      expect(problems).to.have.length(5);
      expect(problems[0]).to.match(/README\.md:6: points outside the repository \(\.\.\/shared\)/);
      expect(problems.slice(1).join('\n')).to.match(/README\.md:2: link docs\/missing\.md names a file that does not exist/)
        .and.match(/README\.md:3: link docs\/a\.md#nope names a heading/)
        .and.match(/README\.md:4: link \.\.\/outside\.md leaves the repository/)
        .and.match(/README\.md:5: mentions docs\/gone\.md/);
    });
  });
});
