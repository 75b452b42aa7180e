// Profiles the fabric benchmark's daemons: runs one throughput phase with every daemon started under
// --cpu-prof (VFAB_CPU_PROF_DIR), then prints the top self-time functions of each profile.
// usage: node --import tsx bench/tools/profile-fabric.ts [--bytes 64] [--seconds 3] [--dir /tmp/vfab-prof]

import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { printProfileTop, profileTops } from './cpu-profiles.js';

const { values } = parseArgs({ options: { bytes: { type: 'string', default: '64' }, seconds: { type: 'string', default: '3' }, dir: { type: 'string', default: '/tmp/vfab-prof' } } });
fs.rmSync(values.dir!, { recursive: true, force: true });
fs.mkdirSync(values.dir!, { recursive: true });
process.env.VFAB_CPU_PROF_DIR = values.dir;
const { runFabricBench } = await import('../fabric.js');
const { formatComparison } = await import('../harness.js');
const result = await runFabricBench({ seconds: Number(values.seconds), sizes: [Number(values.bytes)], rounds: 1 });
for (const line of formatComparison(result.comparisons[0]!)) console.log(line);
await new Promise((r) => setTimeout(r, 500));
for (const p of profileTops(values.dir!, 12)) {
  const has = (t: string) => p.top.some(([k]) => k.includes(t));
  printProfileTop(p, has('pswitch') ? 'switchd' : has('sendStreamFrames') || has('writeStreamHeader') ? 'hostd (sender)' : has('trySink') || has('record stream') ? 'hostd (receiver)' : 'other');
}
process.exit(0);
