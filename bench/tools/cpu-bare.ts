// CPU per process of the bare relay chain (bench/peers/ws-chain.ts) during one unpaced 3 s run, to set
// against bench/tools/cpu-fabric.ts. usage: node --import tsx bench/tools/cpu-bare.ts [frameBytes]
import { spawn } from 'node:child_process';
import readline from 'node:readline';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tsNodeArgs } from '../../daemons/common/node-args.js';
import { processCpuSeconds } from '../fabric.js';
const here = path.dirname(fileURLToPath(import.meta.url));
const bytes = process.argv[2] ?? '64';
async function role(args: string[]) {
  const child = spawn(process.execPath, tsNodeArgs(path.join(here, '../peers/ws-chain.ts'), args), { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return { child, lines, ready: JSON.parse((await lines.next()).value) };
}
const rx = await role(['receiver']);
const relay = await role(['relay', '--to', `ws://127.0.0.1:${rx.ready.port}`]);
const b0 = [processCpuSeconds(rx.child.pid)!, processCpuSeconds(relay.child.pid)!];
const tx = await role(['sender', '--to', `ws://127.0.0.1:${relay.ready.port}`, '--bytes', bytes, '--seconds', '3']);
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
