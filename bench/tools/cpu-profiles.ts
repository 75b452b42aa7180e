// Reads the V8 CPU profiles (.cpuprofile) the daemons wrote under --cpu-prof (VFAB_CPU_PROF_DIR) and sums
// self time per function, idle left out: what bench/tools/profile-fabric.ts and profile-guests.ts print.
// Leaves out call trees and time lines (open a profile in Chrome DevTools for those).

import fs from 'node:fs';
import path from 'node:path';

export interface ProfileTop {
  file: string;
  /** Busy ms (samples that were not idle). */
  busyMs: number;
  /** "function file:line" and self ms, most first. */
  top: Array<[string, number]>;
}

/** The `count` functions with the most self time in each profile of `dir`. */
export function profileTops(dir: string, count: number): ProfileTop[] {
  return fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((file) => {
    const prof = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
    const byId = new Map<number, any>(prof.nodes.map((n: any) => [n.id, n]));
    const self = new Map<string, number>();
    let busy = 0;
    prof.samples.forEach((id: number, i: number) => {
      const cf = byId.get(id).callFrame;
      const key = `${cf.functionName || '(anonymous)'} ${path.basename(cf.url)}:${cf.lineNumber + 1}`;
      const dt = prof.timeDeltas[i] ?? 0;
      if (key.startsWith('(idle)')) return;
      busy += dt;
      self.set(key, (self.get(key) ?? 0) + dt);
    });
    const top = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, count).map(([k, us]): [string, number] => [k, us / 1000]);
    return { file, busyMs: busy / 1000, top };
  });
}

/** Prints one profile's top functions as a share of its busy time. */
export function printProfileTop(p: ProfileTop, label = ''): void {
  console.log(`\n== ${p.file}${label ? ` [${label}]` : ''} busy ${p.busyMs.toFixed(0)} ms`);
  for (const [k, ms] of p.top) console.log(`${((ms / p.busyMs) * 100).toFixed(1).padStart(5)}%  ${k}`);
}
