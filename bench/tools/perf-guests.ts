// Where the CPU of vfab's guest path goes, kernel included: brings up bench/topologies/guests.yaml with
// every daemon writing a perf map (VFAB_PERF_MAP=1), runs one iperf3 TCP flow ga -> gb and records the
// whole machine with Linux `perf record -a` for the middle of the flow; prints, per daemon, its CPU per
// segment (user, system), the share of its samples in the kernel, V8 builtins, JavaScript, the C allocator
// and copies, and the rest of Node and V8, and its top symbols. Needs root, iperf3, perf.
// Bounded: one flow of --seconds. usage: node --import tsx bench/tools/perf-guests.ts [--seconds 6] [--top 25]

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { processCpuSeconds } from '../harness.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '6' }, top: { type: 'string', default: '25' }, out: { type: 'string', default: '/tmp/vfab-perf-guests.data' } } });
process.env.VFAB_PERF_MAP = '1';
const { VfabGuests, tcpFlow, waitReachable } = await import('../guests.js');
const g = await VfabGuests.start(path.resolve(path.dirname(new URL(import.meta.url).pathname), '../topologies/guests.yaml'));
const seconds = Number(values.seconds);
try {
  await waitReachable(g.path, 'vfab');
  await tcpFlow(g.path, 1, 1);
  const before = g.state.daemons.map((d) => [processCpuSeconds(d.pid) ?? 0, processCpuSeconds(d.pid, 'system') ?? 0]);
  const flow = tcpFlow(g.path, seconds, 1);
  await new Promise((r) => setTimeout(r, 1000));
  const perf = spawn('perf', ['record', '-a', '-F', '4999', '-o', values.out!, '--', 'sleep', String(Math.max(1, seconds - 2))], { stdio: 'ignore' });
  await new Promise((r) => perf.on('exit', r));
  const t = await flow;
  const after = g.state.daemons.map((d) => [processCpuSeconds(d.pid) ?? 0, processCpuSeconds(d.pid, 'system') ?? 0]);
  console.log(`${(t.run.receivedBitsPerSecond / 1e9).toFixed(3)} Gb/s, ${t.run.retransmits} retransmits, ${t.run.segments} segments`);
  g.state.daemons.forEach((d, i) => {
    const s = ((after[i]![1]! - before[i]![1]!) / t.run.segments) * 1e9;
    const u = ((after[i]![0]! - before[i]![0]!) / t.run.segments) * 1e9 - s;
    console.log(`${d.name.padEnd(6)} pid ${d.pid}: ${(u + s).toFixed(0)} ns/segment, user ${u.toFixed(0)}, system ${s.toFixed(0)}`);
  });
  for (const d of g.state.daemons) {
    const r = spawnSync('perf', ['report', '-i', values.out!, '--pid', String(d.pid), '--percentage', 'relative', '--sort', 'sym', '--stdio'], { encoding: 'utf8', maxBuffer: 64 << 20 });
    const lines = r.stdout.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
    // "  12.34%  [k] symbol" / "[.] JS:*name" / "[.] Builtins_..." / libc allocator and copies / the rest (Node, V8)
    const share = { kernel: 0, js: 0, builtins: 0, libcMemory: 0, nodeV8: 0 };
    for (const l of lines) {
      const m = /^\s*([\d.]+)%\s+\[(.)\]\s+(.*)$/.exec(l);
      if (!m) continue;
      const pct = Number(m[1]);
      const sym = m[3]!;
      if (m[2] === 'k') share.kernel += pct;
      else if (sym.startsWith('JS:')) share.js += pct;
      else if (sym.startsWith('Builtins_')) share.builtins += pct;
      else if (/malloc|free|calloc|realloc|memmove|memcpy|_int_|unlink_chunk/.test(sym)) share.libcMemory += pct;
      else share.nodeV8 += pct;
    }
    console.log(`== ${d.name}: ${Object.entries(share).map(([k, v]) => `${k} ${v.toFixed(1)} %`).join(', ')}`);
    console.log(lines.slice(0, Number(values.top)).join('\n'));
  }
  const all = spawnSync('perf', ['report', '-i', values.out!, '--sort', 'comm', '--stdio'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  console.log(`== by command\n${all.stdout.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#')).slice(0, 15).join('\n')}`);
} finally {
  await g.stop();
  // the daemons' perf maps (/tmp/perf-<pid>.map, written by --perf-basic-prof-only-functions) go with them
  for (const d of g.state.daemons) fs.rmSync(`/tmp/perf-${d.pid}.map`, { force: true });
}
process.exit(0);
