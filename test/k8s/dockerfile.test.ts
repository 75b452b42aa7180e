// The Dockerfile, checked statically (no docker daemon here, nor in CI): based on node:20-slim, the
// runtime stage installs production dependencies only (npm ci --omit=dev) and takes the compiled tree
// from the build stage, every path it copies exists and is not excluded by .dockerignore, the entry point
// and every script the rendered pods start are files the build produces, and no module the image runs
// imports a devDependency (it would be missing at run time: no network to fetch it then).

import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { loadTopologyFile } from '../../lib/topology/load.js';
import { k8sDaemons, GATEWAY_SCRIPT } from '../../daemons/k8s/plan.js';
import { distScript } from '../../daemons/common/paths.js';

interface Stage { from: string; alias?: string; lines: string[] }

/** The Dockerfile's stages: FROM image [AS alias] and the instructions after it (comments and continuations folded). */
function stages(text: string): Stage[] {
  const out: Stage[] = [];
  const lines = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  for (const l of lines) {
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?$/i.exec(l);
    if (from) out.push({ from: from[1]!, ...(from[2] ? { alias: from[2] } : {}), lines: [] });
    else out.at(-1)!.lines.push(l);
  }
  return out;
}

/** The build stage's source paths of each COPY (without --from). */
function copiedPaths(stage: Stage): string[] {
  return stage.lines.filter((l) => /^COPY\s/i.test(l) && !/--from=/.test(l)).flatMap((l) => {
    const parts = l.split(/\s+/).slice(1).filter((p) => !p.startsWith('--'));
    return parts.slice(0, -1);
  });
}

function ignored(): string[] {
  return fs.readFileSync('.dockerignore', 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [path.join(dir, e.name)] : []));
}

describe('Dockerfile (static)', () => {
  const text = fs.readFileSync('Dockerfile', 'utf8');
  const all = stages(text);
  const runtime = all.at(-1)!;

  it('builds on node:20-slim in two stages and installs only production dependencies at the end', () => {
    expect(all.map((s) => s.from)).to.deep.equal(['node:20-slim', 'node:20-slim']);
    const build = all[0]!;
    expect(build.lines.some((l) => /^RUN npm ci\b/.test(l)), 'the build stage installs with npm ci').to.equal(true);
    expect(build.lines).to.include('RUN npm run build');
    const installs = runtime.lines.filter((l) => /^RUN .*npm (ci|install)\b/.test(l));
    expect(installs).to.have.length(1);
    expect(installs[0]).to.match(/npm ci --omit=dev\b/);
    expect(runtime.lines.some((l) => /^COPY --from=build \/src\/dist \.\/dist$/.test(l)), 'dist/ from the build stage').to.equal(true);
    // nothing fetched at run time: the last stage runs nothing but npm ci (and cleaning its cache)
    expect(runtime.lines.filter((l) => /^RUN\s/.test(l)).join('\n')).not.to.match(/curl|wget|git |npx /);
    expect(runtime.lines).to.include('USER node');
  });

  it('copies only paths that exist and that .dockerignore lets through', () => {
    const ign = ignored();
    for (const ig of ['node_modules', 'dist', '.vfab', '.git']) expect(ign, `.dockerignore has ${ig}`).to.include(ig);
    const copied = all.flatMap(copiedPaths);
    expect(copied.length).to.be.above(5);
    for (const p of copied) {
      expect(fs.existsSync(p), `${p} exists`).to.equal(true);
      expect(ign.some((i) => p === i || p.replace(/^\.\//, '').split('/')[0] === i), `${p} is not excluded by .dockerignore`).to.equal(false);
    }
    // the build stage compiles with tsconfig.build.json into dist/, which the runtime stage copies
    const build = JSON.parse(fs.readFileSync('tsconfig.build.json', 'utf8'));
    expect(build.compilerOptions.outDir).to.equal('dist');
    expect(copiedPaths(all[0]!)).to.include.members(['tsconfig.build.json', 'lib', 'daemons']);
  });

  it('the build stage copies every file the build script runs (the daemon bundler, the page build)', () => {
    const script: string = JSON.parse(fs.readFileSync('package.json', 'utf8')).scripts.build;
    const files = [...script.matchAll(/\bnode\s+(\S+\.m?js)\b/g)].map((m) => m[1]!);
    expect(files, 'the build script runs node on some files').to.not.be.empty;
    const copied = copiedPaths(all[0]!).map((p) => p.replace(/^\.\//, '').replace(/\/$/, ''));
    for (const f of files) expect(copied.some((c) => f === c || f.startsWith(`${c}/`)), `${f} is copied into the build stage`).to.equal(true);
  });

  it('its entry point and every script a rendered pod starts are files the build produces', async () => {
    const entry = /^ENTRYPOINT\s+(\[.*\])$/m.exec(text);
    expect(entry, 'ENTRYPOINT in exec form').to.not.equal(null);
    const argv = JSON.parse(entry![1]!) as string[];
    expect(argv[0]).to.equal('node');
    expect(fs.existsSync(argv[1]!), argv[1]).to.equal(true);
    expect(copiedPaths(runtime)).to.include(argv[1]!.split('/')[0]!);
    const topology = await loadTopologyFile('topologies/quickstart.yaml');
    const scripts = [...new Set([...k8sDaemons(topology, 'vfab').map((d) => d.script), GATEWAY_SCRIPT])];
    expect(scripts).to.have.length(4);
    for (const s of scripts) {
      // dist/X.js is compiled from X.ts (tsconfig.build.json includes lib/ and daemons/)
      const source = s.replace(/^dist\//, '').replace(/\.js$/, '.ts');
      expect(fs.existsSync(source), `${source} (compiled to ${s})`).to.equal(true);
      expect(distScript(source).endsWith(s)).to.equal(true);
    }
  });

  it('no module the image runs imports a devDependency', () => {
    const pkg = JSON.parse(fs.readFileSync('package.json', 'utf8'));
    const runtimeDeps = new Set(Object.keys(pkg.dependencies));
    const bad: string[] = [];
    for (const file of [...sources('lib'), ...sources('daemons')]) {
      const src = fs.readFileSync(file, 'utf8');
      for (const m of src.matchAll(/^\s*import\s+(?!type\b)(?:[^'";]*?\s+from\s+)?'([^'.][^']*)'|\bimport\('([^'.][^']*)'\)|\)\('([^'.][^']*)'\)/gm)) {
        const spec = (m[1] ?? m[2] ?? m[3])!;
        if (spec.startsWith('node:')) continue;
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
        if (!runtimeDeps.has(name)) bad.push(`${file}: ${spec}`);
      }
    }
    expect(bad).to.deep.equal([]);
  });
});
