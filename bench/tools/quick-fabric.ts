// One line per frame size: vfab vs the two relay chains (frames/s, CPU ns per frame, latency), from
// bench/fabric.ts without the rest of `npm run bench`. usage: node --import tsx bench/tools/quick-fabric.ts [64,1500] [seconds]
import { runFabricBench } from '../fabric.js';
const sizes = (process.argv[2] ?? '64').split(',').map(Number);
const rows = await runFabricBench({ seconds: Number(process.argv[3] ?? 3), sizes });
for (const r of rows) console.log(`${r.frameBytes} B: vfab ${(r.vfab.framesPerSec/1e3).toFixed(0)}k (sent ${r.vfab.sent}, cpu ${r.vfab.cpuNsPerFrame?.toFixed(0)} ns, p50 ${r.vfab.latencyP50Ms?.toFixed(2)} p99 ${r.vfab.latencyP99Ms?.toFixed(2)}) bare ${(r.bareChain.framesPerSec/1e3).toFixed(0)}k (sent ${r.bareChain.sent}, cpu ${r.bareChain.cpuNsPerFrame?.toFixed(0)} ns) ratio ${r.ratio.toFixed(2)}; frame relay ${(r.frameRelayChain.framesPerSec/1e3).toFixed(0)}k ratio ${r.frameRelayRatio.toFixed(2)}`);
process.exit(0);
