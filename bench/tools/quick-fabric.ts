// vfab vs the two relay chains (frames/s, CPU ns per frame, latency), one comparison per frame size, from
// bench/fabric.ts without the rest of `npm run bench`; one round unless told otherwise.
// usage: node --import tsx bench/tools/quick-fabric.ts [64,1500] [seconds] [rounds]
import { runFabricBench } from '../fabric.js';
import { formatComparison } from '../harness.js';
const sizes = (process.argv[2] ?? '64').split(',').map(Number);
const result = await runFabricBench({ seconds: Number(process.argv[3] ?? 3), sizes, rounds: Number(process.argv[4] ?? 1) });
for (const c of result.comparisons) for (const line of formatComparison(c)) console.log(line);
process.exit(0);
