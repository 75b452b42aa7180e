#!/usr/bin/env node
// vfab command-line entry: runs the compiled CLI in dist/ (built from the TypeScript sources by
// `npm ci`, through the `prepare` script, or by `npm run build`). No TypeScript is compiled at run time.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = new URL('../dist/daemons/cli.js', import.meta.url);
if (!existsSync(fileURLToPath(cli))) {
  process.stderr.write(`vfab: the compiled CLI is missing (${fileURLToPath(cli)}): run npm ci (or npm run build) in ${fileURLToPath(new URL('..', import.meta.url))}\n`);
  process.exit(1);
}
const { run } = await import(cli.href);
await run(process.argv.slice(2));
