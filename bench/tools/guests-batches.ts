// Batch sizes on vfab's guest path under TCP (issue 13 profiling): brings up bench/topologies/guests.yaml,
// runs one iperf3 flow ga -> gb and prints, per daemon and link, frames and messages sent and received
// during the flow (frames per message = the batching the link protocol achieves), and each daemon's CPU
// per segment. Needs root, iperf3. Bounded: one flow of --seconds.
// usage: node --import tsx bench/tools/guests-batches.ts [--seconds 5]

import path from 'node:path';
import { parseArgs } from 'node:util';
import { control } from '../../daemons/common/control-client.js';
import { processCpuSeconds } from '../harness.js';
import { VfabGuests, tcpFlow, waitReachable } from '../guests.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' } } });
const g = await VfabGuests.start(path.resolve(path.dirname(new URL(import.meta.url).pathname), '../topologies/guests.yaml'));
type Row = { local: string; counters: Record<string, number> | null };
const snapshot = async () => {
  const out: Record<string, Record<string, Record<string, number>>> = {};
  for (const d of g.state.daemons) {
    const st = await control<{ links: Row[] }>(d, g.state.token, 'GET', '/control/status');
    out[d.name] = Object.fromEntries(st.links.filter((l) => l.counters !== null).map((l) => [l.local, l.counters!]));
  }
  return out;
};
try {
  await waitReachable(g.path, 'vfab');
  await tcpFlow(g.path, 1, 1);
  const s0 = await snapshot();
  const c0 = g.state.daemons.map((d) => processCpuSeconds(d.pid) ?? 0);
  const t = await tcpFlow(g.path, Number(values.seconds), 1);
  const c1 = g.state.daemons.map((d) => processCpuSeconds(d.pid) ?? 0);
  const s1 = await snapshot();
  console.log(`${(t.run.receivedBitsPerSecond / 1e9).toFixed(3)} Gb/s, ${t.run.retransmits} retransmits, ${t.run.segments} segments`);
  g.state.daemons.forEach((d, i) => {
    console.log(`${d.name.padEnd(6)} ${(((c1[i]! - c0[i]!) / t.run.segments) * 1e9).toFixed(0).padStart(6)} ns/segment`);
    for (const [local, c] of Object.entries(s1[d.name]!)) {
      const b = s0[d.name]![local];
      if (!b) continue;
      const dd = (k: string) => c[k]! - b[k]!;
      const fpm = (f: number, m: number) => (m > 0 ? (f / m).toFixed(1) : '-');
      const drops = ['txDropsQueueFull', 'txDropsCarrier', 'rxDropsCarrier'].map((k) => `${k}=${dd(k)}`).join(' ');
      console.log(`  ${local.padEnd(12)} tx ${dd('txFrames')} frames/${dd('txMessages')} msgs (${fpm(dd('txFrames'), dd('txMessages'))})  rx ${dd('rxFrames')}/${dd('rxMessages')} (${fpm(dd('rxFrames'), dd('rxMessages'))})  ${drops}`);
    }
  });
} finally {
  await g.stop();
}
process.exit(0);
