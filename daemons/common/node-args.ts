// How vfab starts a TypeScript entry point in a child process: node with the tsx loader, resolved to an
// absolute URL so the child works whatever its working directory.

/** URL of tsx's loader (the same one `node --import tsx` uses), for `node --import <url>`. */
export const TSX_LOADER_URL = import.meta.resolve('tsx');

/** argv (after the node binary) that runs the TypeScript file `script` with `args`. */
export function tsNodeArgs(script: string, args: string[] = []): string[] {
  // VFAB_CPU_PROF_DIR=DIR: every daemon writes a V8 CPU profile there when it exits (for `npm run bench`)
  const prof = process.env.VFAB_CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.VFAB_CPU_PROF_DIR}`] : [];
  return [...prof, '--import', TSX_LOADER_URL, script, ...args];
}
