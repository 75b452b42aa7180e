// Bundles the web view of `vfab ui` (ui/src/main.ts, ui/style.css, ui/index.html) into dist/ui/ with
// esbuild at `npm run build` time: one app.js (cytoscape included, minified, no CDN, nothing fetched at run
// time), one app.css, index.html. The server (daemons/ui/) serves these files as they are. Leaves out
// source maps and hashing (one version per build). Page notes: docs/ui.md.

import { build } from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.resolve(here, '..', 'dist', 'ui');
fs.mkdirSync(out, { recursive: true });
const common = { bundle: true, minify: process.env.VFAB_UI_NO_MINIFY !== '1', logLevel: 'warning', legalComments: 'none' };
await build({ ...common, entryPoints: [path.join(here, 'src', 'main.ts')], outfile: path.join(out, 'app.js'), format: 'iife', target: 'es2022', platform: 'browser' });
await build({ ...common, entryPoints: [path.join(here, 'style.css')], outfile: path.join(out, 'app.css') });
fs.copyFileSync(path.join(here, 'index.html'), path.join(out, 'index.html'));
