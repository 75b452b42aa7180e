// Micro-benchmark of the sending host's per-frame cost: sendStreamFrames bursts of 64 into a link
// endpoint's encoder (as hostd does), against the bare chain sender's loop. usage: node --import tsx bench/tools/host-tx.ts
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTopologyFile } from '../../lib/topology/load.js';
import { EsxHost } from '../../lib/host/host.js';
import { ManualClock } from '../../lib/clock.js';
import { LinkEncoder } from '../../lib/link/codec.js';
import { createInProcessLinkPair } from '../../lib/link/link.js';
import { writeStreamHeader, sharedNowNs } from '../../lib/traffic/stream.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const topo = await loadTopologyFile(path.join(here, '../topologies/two-hosts.yaml'));
const clock = new ManualClock(0);
const [a, b] = createInProcessLinkPair('esx1.vmnic0', 'sw1.Gi1/0/1', { schedule: () => {}, queueBytes: 1 << 30 });
(a as any).carrierUp = true; // no transport turn in this loop: force carrier so send() takes frames
(a as any).transport = { write() {}, bufferedBytes: () => 0, end() {} };
void b;
const enc = (a as any).encoder as LinkEncoder;
const tx = new EsxHost(topo.hosts[0]!, clock, { uplinkTx: (_vmnic, frame) => void a.send(frame) });
tx.powerOnAll();
tx.setUplinkLink('vmnic0', true);
// resolve vm-b's MAC in vm-a's ARP cache with a reply frame from the "fabric"
const vmA = (tx as any).vms.get('vm-a').endpoint;
vmA.nics[0].arp.learn(0xc0000202, 0x005056000a02, 0);
const s = tx.streamSender('vm-a', 0, '192.0.2.2', 9000, 64, 1);
if (!s) throw new Error('unresolved');
for (let round = 0; round < 3; round++) {
  const n = 3_000_000;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i += 64) {
    tx.sendStreamFrames(s, 64, sharedNowNs());
    enc.take();
  }
  console.log(`host sender: ${(Number(process.hrtime.bigint() - t0) / n).toFixed(1)} ns/frame`);
  const frame = Buffer.alloc(64);
  const batch = Buffer.alloc(64 * 66);
  const t1 = process.hrtime.bigint();
  let seq = 0;
  for (let i = 0; i < n; i += 64) {
    let o = 0;
    for (let k = 0; k < 64; k++) {
      batch.writeUInt16BE(64, o);
      writeStreamHeader(frame, 42, 1, seq++, sharedNowNs());
      frame.copy(batch, o + 2);
      o += 66;
    }
  }
  console.log(`bare sender:  ${(Number(process.hrtime.bigint() - t1) / n).toFixed(1)} ns/frame`);
}
