// CPU per process of the bare relay chain (bench/peers/ws-chain.ts) during one unpaced 3 s run, to set
// against bench/tools/cpu-fabric.ts. usage: node --import tsx bench/tools/cpu-bare.ts [frameBytes]
import { startRole } from '../fabric.js';
import { processCpuSeconds } from '../harness.js';
const bytes = process.argv[2] ?? '64';
const rx = await startRole(['receiver']);
const relay = await startRole(['relay', '--to', `ws://127.0.0.1:${rx.ready.port}`]);
const b0 = [processCpuSeconds(rx.child.pid)!, processCpuSeconds(relay.child.pid)!];
const tx = await startRole(['sender', '--to', `ws://127.0.0.1:${relay.ready.port}`, '--bytes', bytes, '--seconds', '3']);
const res = JSON.parse((await tx.lines.next()).value);
await new Promise((r) => setTimeout(r, 300));
const b1 = [processCpuSeconds(rx.child.pid)!, processCpuSeconds(relay.child.pid)!];
rx.child.kill('SIGTERM');
const rep = JSON.parse((await rx.lines.next()).value).report;
relay.child.kill('SIGTERM');
console.log(`sent ${res.sent} received ${rep.received}`);
console.log(`  sender   ${res.cpuSeconds.toFixed(2)} s, ${(res.cpuSeconds / rep.received * 1e9).toFixed(0)} ns/frame`);
console.log(`  relay    ${(b1[1]! - b0[1]!).toFixed(2)} s, ${((b1[1]! - b0[1]!) / rep.received * 1e9).toFixed(0)} ns/frame`);
console.log(`  receiver ${(b1[0]! - b0[0]!).toFixed(2)} s, ${((b1[0]! - b0[0]!) / rep.received * 1e9).toFixed(0)} ns/frame`);
process.exit(0);
