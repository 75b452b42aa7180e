// How vfab starts a daemon in a child process: node on the compiled JavaScript in dist/ with the V8
// flags daemons run with. TypeScript files (benchmark peers) start the same way with the tsx loader,
// which is a devDependency: it is resolved only when asked for, never by the CLI or a daemon.

/**
 * V8 flags every vfab daemon (and every benchmark peer started the same way) runs with. The daemons'
 * garbage is mostly socket-read buffers, WebSocket messages and LevelDB values, held outside a small JS
 * heap (about 10 MB). A 1 MiB young generation collects their wrappers while they are young; a 64 MB
 * initial old generation keeps V8 from starting a full mark-compact every 40-100 ms just because the
 * small old generation's limit is reached (measured with --trace-gc: 36-52 per 3 s in a receiving host at
 * 1500 B frames, 1-2 after). Measured: 25-30 % less CPU per block read (docs/storage-model.md, "Third
 * round"), and per received frame 2.2-3.0 -> 1.2 us at 1500 B (docs/fabric-performance.md). The initial
 * old generation is a limit, not an allocation: an idle daemon of the quickstart measured 53-60 MiB VmRSS
 * (12-24 MiB private) with and without it, within run-to-run noise, so it stays.
 * Measured for start-up at scale and not adopted (10 hosts x 10 VMs, medians per daemon; docs/scale.md):
 * --single-threaded-gc, --single-threaded, --v8-pool-size=0 and UV_THREADPOOL_SIZE=1 change a daemon's
 * CPU from start to idle and its VmRSS/PSS within noise (0.3-0.6 MiB, +-20 ms): the idle threads' stacks
 * are mostly not resident, and the pool-less GC moves work onto the main thread.
 */
export const DAEMON_V8_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--initial-old-space-size=64'];

/** VFAB_CPU_PROF_DIR=DIR: every daemon writes a V8 CPU profile there when it exits (for `npm run bench`). */
/** VFAB_PERF_MAP=1: every daemon writes /tmp/perf-<pid>.map, so Linux `perf` names its JavaScript functions. */
function profileArgs(): string[] {
  return [
    ...(process.env.VFAB_CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.VFAB_CPU_PROF_DIR}`] : []),
    ...(process.env.VFAB_PERF_MAP === '1' ? ['--perf-basic-prof-only-functions'] : []),
  ];
}

/** argv (after the node binary) that runs the JavaScript file `script` (a daemon in dist/) with `args`. */
export function daemonNodeArgs(script: string, args: string[] = []): string[] {
  return [...DAEMON_V8_FLAGS, ...profileArgs(), script, ...args];
}

/** argv that runs the TypeScript file `script` through tsx (benchmark peers; tsx is a devDependency). */
export function tsNodeArgs(script: string, args: string[] = []): string[] {
  // the loader as an absolute URL, so the child works whatever its working directory
  return [...DAEMON_V8_FLAGS, ...profileArgs(), '--import', import.meta.resolve('tsx'), script, ...args];
}
