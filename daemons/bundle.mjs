// Bundles each daemon's compiled entry (dist/daemons/hostd.js, switchd.js, stored.js, vmd.js, simd.js, the
// simulated fabric's process, and hostgroupd.js, the process of a host group that runs hostd.js in worker threads) into one
// file in place, with esbuild at `npm run build` time, after tsc. A daemon then starts from one file
// instead of resolving and reading its ~90-170 modules one by one: measured on 10 hosts x 10 VMs, a host
// daemon's CPU from start to idle 190-200 -> 150-160 ms and its own memory (RssAnon) 17.0 -> 14.7 MiB
// (docs/scale.md). Node 20 has no on-disk compile cache (module.enableCompileCache is Node 22), which
// would be the other way to cut this. Leaves out: the CLI and the gateway (their modules are imported by
// other modules too, so a bundle of them would hold second copies of shared state); npm packages stay
// outside the bundle (they are loaded with require from node_modules, as before). Same paths as before,
// so `vfab up`, `vfab k8s render` and the image start the same files; import.meta.url of the bundle is
// the entry's own, so paths found from it (daemons/common/paths.ts) do not change.

import { build } from 'esbuild';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'daemons');
/** The daemons `vfab up` and the pods start; none of them is imported by another module (hostgroupd runs hostd.js as a file). */
const ENTRIES = ['hostd.js', 'switchd.js', 'stored.js', 'vmd.js', 'hostgroupd.js', 'simd.js'];

await Promise.all(
  ENTRIES.map((entry) =>
    build({
      entryPoints: [path.join(dist, entry)],
      outfile: path.join(dist, entry),
      allowOverwrite: true,
      bundle: true,
      // modules a daemon loads on first use (guests, HA runner) stay in the file; their code runs only when imported
      splitting: false,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      packages: 'external',
      logLevel: 'warning',
    }),
  ),
);
