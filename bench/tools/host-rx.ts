// Micro-benchmark of the receiving host's per-frame cost: decode a link message of 64 tagged stream
// frames and hand it to EsxHost (runs, or frame by frame). usage: node --import tsx bench/tools/host-rx.ts [frameBytes]
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTopologyFile } from '../../lib/topology/load.js';
import { EsxHost } from '../../lib/host/host.js';
import { ManualClock } from '../../lib/clock.js';
import { LinkEncoder, decodeLinkMessage, type LinkRecordHandler } from '../../lib/link/codec.js';
import { writeStreamHeader, readStreamHeader, StreamReceiver, sharedNowNs } from '../../lib/traffic/stream.js';
import { pushVlanTag } from '../../lib/wire/ethernet.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const topo = await loadTopologyFile(path.join(here, '../topologies/two-hosts.yaml'));
const clock = new ManualClock(0);
const tx = new EsxHost(topo.hosts[0]!, clock, { uplinkTx: () => {} });
const rx = new EsxHost(topo.hosts[1]!, clock, { uplinkTx: () => {}, streamNowNs: () => 1 }); // hostd stamps arrivals once per I/O callback
for (const h of [tx, rx]) { h.powerOnAll(); h.setUplinkLink('vmnic0', true); }
const sink = rx.addStreamSink('vm-b', 1, 9000);
// a 64-byte UDP stream frame vm-a -> vm-b (the stamp is what the sink reads; checksums are not checked there)
const frameBytes = Number(process.argv[2] ?? 64); // untagged frame size
const tpl = Buffer.alloc(frameBytes);
tpl.writeUIntBE(0x005056000a02, 0, 6);
tpl.writeUIntBE(0x005056000a01, 6, 6);
tpl.writeUInt16BE(0x0800, 12);
tpl[14] = 0x45; tpl.writeUInt16BE(frameBytes - 14, 16); tpl[22] = 64; tpl[23] = 17;
tpl.set([192, 0, 2, 1, 192, 0, 2, 2], 26);
tpl.writeUInt16BE(9000, 34); tpl.writeUInt16BE(9000, 36); tpl.writeUInt16BE(frameBytes - 34, 38);
const tagged = Buffer.from(pushVlanTag(tpl, 10));
const enc = new LinkEncoder();
const perMsg = Math.max(1, Math.min(64, Math.floor(60000 / (frameBytes + 7)))); // one message of at most ~60 KB
const messages: Buffer[] = [];
let seq = 0;
for (let m = 0; m < 200; m++) {
  for (let i = 0; i < perMsg; i++) {
    writeStreamHeader(tagged, 18 + 20 + 8, 1, seq++, 0);
    enc.appendFrame(tagged);
  }
  messages.push(Buffer.from(enc.take()[0]!));
}
const base: LinkRecordHandler = { frame: (f) => rx.receiveUplink('vmnic0', f), carrier() {}, hello() {}, captureFrame() {}, recordError() {}, unknownRecord() {} };
const runs: LinkRecordHandler = { ...base, frameView: (f) => rx.receiveUplink('vmnic0', f), frameRun: (first, _c, records, _b, max) => rx.receiveUplinkRun('vmnic0', first, records, max) };
// the bare relay chain's receiver on the same frames in its own format ([u16 length][frame])
const bareMsgs = messages.map((m) => { const out = Buffer.alloc(m.length - m.length / (3 + tagged.length)); let o = 0; for (let i = 0; i < m.length; i += 3 + tagged.length) { out.writeUInt16BE(tagged.length, o); m.copy(out, o + 2, i + 3, i + 3 + tagged.length); o += 2 + tagged.length; } return out; });
const bareRx = new StreamReceiver(1);
for (let round = 0; round < 2; round++) {
  let spent = 0n;
  for (let r = 0; r < 100; r++) {
    for (const m of bareMsgs) for (let o = 0; o < m.length; o += 2 + tagged.length) m.writeUInt32BE(seq++, o + 2 + 54);
    const t0 = process.hrtime.bigint();
    for (const data of bareMsgs) {
      const now = sharedNowNs();
      for (let o = 0; o + 2 <= data.length; ) {
        const len = data.readUInt16BE(o);
        const stamp = readStreamHeader(data, o + 2 + 46);
        if (stamp) bareRx.record(stamp.seq, stamp.sentAtNs, now);
        o += 2 + len;
      }
    }
    spent += process.hrtime.bigint() - t0;
  }
  console.log(`bare receiver: ${(Number(spent) / (100 * bareMsgs.length * perMsg)).toFixed(0)} ns/frame (received ${bareRx.report().received})`);
}
for (const [name, h] of [['frames', base], ['runs', runs], ['frames', base], ['runs', runs]] as const) {
  const rounds = 100;
  let spent = 0n;
  for (let r = 0; r < rounds; r++) {
    // fresh sequence numbers each round (not timed), so the sink never takes its duplicate shortcut
    for (const m of messages) for (let o = 0; o < m.length; o += 3 + tagged.length) m.writeUInt32BE(seq++, o + 3 + 46 + 8);
    const t0 = process.hrtime.bigint();
    for (const m of messages) decodeLinkMessage(m, h);
    spent += process.hrtime.bigint() - t0;
  }
  const ns = Number(spent) / (rounds * messages.length * perMsg);
  console.log(`${name}: ${ns.toFixed(0)} ns/frame (received ${sink.report().received})`);
}
