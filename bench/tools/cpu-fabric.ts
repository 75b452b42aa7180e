// CPU seconds per daemon during one unpaced vfab stream (bench/topologies/two-hosts.yaml), from /proc.
// usage: node --import tsx bench/tools/cpu-fabric.ts [frameBytes] [seconds]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTopologyFile } from '../../lib/topology/load.js';
import { fabricUp, fabricDown } from '../../daemons/fabric/lifecycle.js';
import { control } from '../../daemons/common/control-client.js';
import { findDaemon } from '../../daemons/fabric/state.js';
import { processCpuSeconds } from '../harness.js';

process.stdout.on('error', () => {}); // a closed pipe (| head) must not skip the teardown
const here = path.dirname(fileURLToPath(import.meta.url));
const frameBytes = Number(process.argv[2] ?? 64);
const seconds = Number(process.argv[3] ?? 3);
const cpuS = (pid: number) => processCpuSeconds(pid) ?? NaN;
const sysS = (pid: number) => processCpuSeconds(pid, 'system') ?? NaN;
const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfab-cpu-'));
const state = await fabricUp({ topology: await loadTopologyFile(path.join(here, '../topologies/two-hosts.yaml')), stateDir });
try {
  const esx1 = findDaemon(state, 'esx1');
  const esx2 = findDaemon(state, 'esx2');
  const daemons = state.daemons.filter((d) => d.pid);
  await control(esx2, state.token, 'POST', '/control/streams/sink', { vm: 'vm-b', udpPort: 9000, streamId: 1 });
  const before = daemons.map((d) => cpuS(d.pid!));
  const sysBefore = daemons.map((d) => sysS(d.pid!));
  const sent = await control<{ sent: number }>(esx1, state.token, 'POST', '/control/streams/send', { vm: 'vm-a', target: '192.0.2.2', udpPort: 9000, frameBytes, seconds, streamId: 1 }, 120_000);
  const after = daemons.map((d) => cpuS(d.pid!));
  const sysAfter = daemons.map((d) => sysS(d.pid!));
  await new Promise((r) => setTimeout(r, 300));
  const rep = (await control<{ streams: any[] }>(esx2, state.token, 'GET', '/control/streams/vm-b')).streams[0];
  const rx = rep.received;
  console.log(`${frameBytes} B: sent ${sent.sent}, received ${rx} (${(rx / seconds / 1e6).toFixed(2)} M/s)`);
  daemons.forEach((d, i) => console.log(`  ${d.name.padEnd(6)} ${(after[i]! - before[i]!).toFixed(2)} CPU s, ${(((after[i]! - before[i]!) / rx) * 1e9).toFixed(0)} ns per received frame (system ${(sysAfter[i]! - sysBefore[i]!).toFixed(2)} s)`));
  for (const d of state.daemons) {
    const st = await control<{ links: any[] }>(d, state.token, 'GET', '/control/status');
    for (const l of st.links ?? []) {
      const c = l.counters ?? {};
      console.log(`  ${d.name}.${l.local}: tx ${c.txFrames} (msgs ${c.txMessages}, dropsQueueFull ${c.txDropsQueueFull}, dropsCarrier ${c.txDropsCarrier}), rx ${c.rxFrames} (msgs ${c.rxMessages}, dropsCarrier ${c.rxDropsCarrier})`);
    }
  }
} finally {
  await fabricDown(state, stateDir);
  fs.rmSync(stateDir, { recursive: true, force: true });
}
