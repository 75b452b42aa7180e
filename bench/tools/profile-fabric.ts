// Profiles the fabric benchmark's daemons: runs one throughput phase with every daemon started under
// --cpu-prof (VFAB_CPU_PROF_DIR), then prints the top self-time functions of each profile.
// usage: node --import tsx bench/tools/profile-fabric.ts [--bytes 64] [--seconds 3] [--dir /tmp/vfab-prof]

import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { bytes: { type: 'string', default: '64' }, seconds: { type: 'string', default: '3' }, dir: { type: 'string', default: '/tmp/vfab-prof' } } });
fs.rmSync(values.dir!, { recursive: true, force: true });
fs.mkdirSync(values.dir!, { recursive: true });
process.env.VFAB_CPU_PROF_DIR = values.dir;
const { runFabricBench } = await import('../fabric.js');
const { formatComparison } = await import('../harness.js');
const result = await runFabricBench({ seconds: Number(values.seconds), sizes: [Number(values.bytes)], rounds: 1 });
for (const line of formatComparison(result.comparisons[0]!)) console.log(line);
await new Promise((r) => setTimeout(r, 500));
for (const file of fs.readdirSync(values.dir!).filter((f) => f.endsWith('.cpuprofile'))) {
  const prof = JSON.parse(fs.readFileSync(path.join(values.dir!, file), 'utf8'));
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
  const top = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 12);
  const label = top.some(([k]) => k.includes('pswitch')) ? 'switchd' : top.some(([k]) => k.includes('sendStreamFrames') || k.includes('writeStreamHeader')) ? 'hostd (sender)' : top.some(([k]) => k.includes('trySink') || k.includes('record stream')) ? 'hostd (receiver)' : 'other';
  console.log(`\n== ${file} [${label}] busy ${(busy / 1000).toFixed(0)} ms`);
  for (const [k, v] of top) console.log(`${((v / busy) * 100).toFixed(1).padStart(5)}%  ${k}`);
}
process.exit(0);
