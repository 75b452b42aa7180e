// A/B of the guest path between checkouts (a change against main), back to back on the same machine:
// for each round, each checkout brings up its own bench/topologies/guests.yaml from its own dist/ (run
// `npm run build` in each), runs a 1 s warm-up and one iperf3 TCP flow of SECONDS, prints Gb/s, CPU per
// segment of all its daemons and of each, and takes the fabric down; VDE (bench/peers/vde-netns.ts) runs
// in the same rounds as the yardstick. The order alternates per round. Medians at the end. Needs root,
// iperf3, vde2. Bounded: ROUNDS x (checkouts + 1) flows.
// A checkout may end in :tap or :vxlan (VFAB_GUEST_ATTACH for its fabric): the two attach modes of one
// checkout side by side. CPU per segment counts the daemons and their children (the TAP helpers).
// usage: node --import tsx bench/tools/guests-ab.ts ROUNDS SECONDS CHECKOUT_A[:tap|:vxlan] [CHECKOUT_B ...]
//   e.g. (git archive main | tar -x -C /tmp/base; cd /tmp/base; ln -s /work/main/node_modules; npx tsc -p tsconfig.build.json)
//        node --import tsx bench/tools/guests-ab.ts 3 4 /tmp/base "$PWD"

import fs from 'node:fs';
import path from 'node:path';

interface Measured { gbps: number; nsPerSegment: number; detail: string }
const [roundsArg, secondsArg, ...checkouts] = process.argv.slice(2);
const rounds = Number(roundsArg);
const seconds = Number(secondsArg);
if (!(rounds >= 1 && rounds <= 20) || !(seconds >= 1 && seconds <= 60) || checkouts.length === 0) {
  console.error('usage: guests-ab.ts ROUNDS(1-20) SECONDS(1-60) CHECKOUT_A [CHECKOUT_B ...]');
  process.exit(2);
}
const here = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const own = await import(`${here}/bench/guests.ts`);
const { cpuSecondsOf, processCpuSeconds } = await import(`${here}/bench/harness.ts`);
const { VdeNetnsPair } = await import(`${here}/bench/peers/vde-netns.ts`);

const sides: Array<{ name: string; measure: () => Promise<Measured> }> = [];
/** The daemons' children (the TAP helpers), read from /proc. */
function childrenOf(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(/\s+/).filter((x) => /^\d+$/.test(x)).map(Number);
  } catch {
    return [];
  }
}
for (const spec of checkouts) {
  const [, dirArg, attach] = /^(.*?)(?::(tap|vxlan))?$/.exec(spec)!;
  const dir = path.resolve(dirArg!);
  const m = await import(`${dir}/bench/guests.ts`);
  sides.push({
    name: spec,
    measure: async () => {
      const saved = process.env.VFAB_GUEST_ATTACH;
      if (attach) process.env.VFAB_GUEST_ATTACH = attach;
      const g = await m.VfabGuests.start(`${dir}/bench/topologies/guests.yaml`).finally(() => {
        if (saved === undefined) delete process.env.VFAB_GUEST_ATTACH;
        else process.env.VFAB_GUEST_ATTACH = saved;
      });
      try {
        await m.waitReachable(g.path, 'vfab');
        await m.tcpFlow(g.path, 1, 1);
        const daemonPids: number[] = g.state.daemons.map((d: { pid: number }) => d.pid);
        const helperPids = daemonPids.flatMap(childrenOf);
        const pids = [...daemonPids, ...helperPids];
        const c0 = pids.map((p) => processCpuSeconds(p) ?? 0);
        const t = await m.tcpFlow(g.path, seconds, 1);
        const c1 = pids.map((p) => processCpuSeconds(p) ?? 0);
        const ns = (i: number) => ((c1[i]! - c0[i]!) / t.run.segments) * 1e9;
        const total = pids.reduce((a, _p, i) => a + ns(i), 0);
        const detail = [...g.state.daemons.map((d: { name: string }, i: number) => `${d.name} ${Math.round(ns(i))}`),
          ...(helperPids.length ? [`${helperPids.length} helpers ${Math.round(helperPids.reduce((a, _p, k) => a + ns(daemonPids.length + k), 0))}`] : [])].join(', ');
        return { gbps: t.run.receivedBitsPerSecond / 1e9, nsPerSegment: total, detail: `${detail}; ${t.run.retransmits} retransmits` };
      } finally {
        await g.stop();
      }
    },
  });
}
const vde = await VdeNetnsPair.start(`ab${process.pid}`);
try {
  const vdePath = { client: { netns: vde.guests[0].netns, ip: vde.guests[1].ip }, server: { netns: vde.guests[1].netns, ip: vde.guests[1].ip }, pids: () => vde.pids() };
  await own.waitReachable(vdePath, 'VDE');
  sides.push({
    name: 'VDE',
    measure: async () => {
      await own.tcpFlow(vdePath, 1, 1);
      const c0 = cpuSecondsOf(vde.pids());
      const t = await own.tcpFlow(vdePath, seconds, 1);
      const c1 = cpuSecondsOf(vde.pids());
      return { gbps: t.run.receivedBitsPerSecond / 1e9, nsPerSegment: c0 === null || c1 === null ? NaN : ((c1 - c0) / t.run.segments) * 1e9, detail: `${t.run.retransmits} retransmits` };
    },
  });
  const results = new Map<string, Measured[]>();
  for (let r = 0; r < rounds; r++) {
    for (const s of r % 2 === 0 ? sides : [...sides].reverse()) {
      const x = await s.measure();
      results.set(s.name, [...(results.get(s.name) ?? []), x]);
      console.log(`round ${r + 1}/${rounds} ${s.name}: ${x.gbps.toFixed(3)} Gb/s, ${Math.round(x.nsPerSegment)} ns/segment (${x.detail})`);
    }
  }
  const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
  const range = (a: number[], f: (x: number) => string) => `${f(Math.min(...a))}-${f(Math.max(...a))}`;
  for (const [name, xs] of results) {
    const g = xs.map((x) => x.gbps);
    const n = xs.map((x) => x.nsPerSegment);
    console.log(`${name}: median ${median(g).toFixed(3)} Gb/s (${range(g, (x) => x.toFixed(3))}), ${Math.round(median(n))} ns/segment (${range(n, (x) => String(Math.round(x)))})`);
  }
} finally {
  await vde.stop();
}
process.exit(0);
