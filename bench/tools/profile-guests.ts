// Where the CPU of vfab's guest path goes: brings up bench/topologies/guests.yaml (two netns guests, two
// hosts, two switches), runs one iperf3 TCP flow ga -> gb and prints each daemon's CPU per full-size data
// segment and its system share; with --prof, every daemon runs under --cpu-prof (VFAB_CPU_PROF_DIR) and the top self-time
// functions of each profile are printed. Needs root, iperf3. Bounded: one flow of --seconds.
// usage: node --import tsx bench/tools/profile-guests.ts [--seconds 5] [--prof] [--dir /tmp/vfab-prof-guests]

import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { processCpuSeconds } from '../harness.js';
import { printProfileTop, profileTops } from './cpu-profiles.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, prof: { type: 'boolean' }, dir: { type: 'string', default: '/tmp/vfab-prof-guests' } } });
if (values.prof) {
  fs.rmSync(values.dir!, { recursive: true, force: true });
  fs.mkdirSync(values.dir!, { recursive: true });
  process.env.VFAB_CPU_PROF_DIR = values.dir;
}
const { VfabGuests, tcpFlow, waitReachable } = await import('../guests.js');
const g = await VfabGuests.start(path.resolve(path.dirname(new URL(import.meta.url).pathname), '../topologies/guests.yaml'));
try {
  await waitReachable(g.path, 'vfab');
  await tcpFlow(g.path, 1, 1); // warm-up
  const before = g.state.daemons.map((d) => processCpuSeconds(d.pid) ?? 0);
  const sysBefore = g.state.daemons.map((d) => processCpuSeconds(d.pid, 'system') ?? 0);
  const t = await tcpFlow(g.path, Number(values.seconds), 1);
  const after = g.state.daemons.map((d) => processCpuSeconds(d.pid) ?? 0);
  const sysAfter = g.state.daemons.map((d) => processCpuSeconds(d.pid, 'system') ?? 0);
  console.log(`${(t.run.receivedBitsPerSecond / 1e9).toFixed(3)} Gb/s, ${t.run.retransmits} retransmits, ${t.run.segments} segments`);
  g.state.daemons.forEach((d, i) => console.log(`${d.name.padEnd(6)} ${(((after[i]! - before[i]!) / t.run.segments) * 1e9).toFixed(0).padStart(6)} ns/segment  ${(after[i]! - before[i]!).toFixed(2)} s CPU, ${Math.round(((sysAfter[i]! - sysBefore[i]!) / (after[i]! - before[i]!)) * 100)} % of it system`));
} finally {
  await g.stop();
}
if (values.prof) {
  await new Promise((r) => setTimeout(r, 500));
  for (const p of profileTops(values.dir!, 14)) printProfileTop(p);
}
process.exit(0);
