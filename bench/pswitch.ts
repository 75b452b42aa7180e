// Micro-benchmark of the physical-switch decision engine (lib/pswitch): frames/s for known unicast
// (access to access, same bytes out) and for broadcast flooding (8 access ports + 2 trunks, so one
// tagged copy is built per frame). Bounded: at most MAX_FRAMES frames or MAX_RUN_MS per case, whichever
// comes first. Run: node --import tsx bench/pswitch.ts. Leaves out I/O: see the link/daemon benchmarks.

import { SystemClock } from '../lib/clock.js';
import { PhysicalSwitch, type SwitchPortConfig } from '../lib/pswitch/pswitch.js';
import { buildFrame, ETHERTYPE_IPV4 } from '../lib/wire/ethernet.js';
import { BROADCAST_MAC, parseMac } from '../lib/wire/mac.js';

const MAX_FRAMES = 2_000_000;
const MAX_RUN_MS = 2_000;
const WARMUP_FRAMES = 50_000;
const CHECK_EVERY_FRAMES = 4096;

function makeSwitch(): PhysicalSwitch {
  const ports: SwitchPortConfig[] = [];
  for (let i = 1; i <= 8; i++) ports.push({ name: `Gi1/0/${i}`, mode: 'access', accessVlan: 10 });
  ports.push({ name: 'Gi1/0/9', mode: 'trunk' }, { name: 'Gi1/0/10', mode: 'trunk', nativeVlan: 10 });
  return new PhysicalSwitch({ name: 'bench', ports }, new SystemClock());
}

function run(name: string, sw: PhysicalSwitch, port: number, frame: Uint8Array): void {
  let deliveries = 0;
  for (let i = 0; i < WARMUP_FRAMES; i++) deliveries += sw.receive(port, frame).count;
  const start = performance.now();
  let frames = 0;
  let elapsedMs = 0;
  while (frames < MAX_FRAMES) {
    for (let i = 0; i < CHECK_EVERY_FRAMES; i++) deliveries += sw.receive(port, frame).count;
    frames += CHECK_EVERY_FRAMES;
    elapsedMs = performance.now() - start;
    if (elapsedMs >= MAX_RUN_MS) break;
  }
  const fps = (frames / elapsedMs) * 1000;
  console.log(`${name.padEnd(28)} ${Math.round(fps).toLocaleString('en-US').padStart(12)} frames/s  (${frames} frames in ${elapsedMs.toFixed(0)} ms, ${deliveries} copies)`);
}

const macA = parseMac('00:50:56:00:00:0a');
const macB = parseMac('00:50:56:00:00:0b');
const payload = new Uint8Array(46);
payload[0] = 0x45;

const sw = makeSwitch();
// Learn both hosts first.
sw.receive(0, buildFrame({ dst: BROADCAST_MAC, src: macA, etherType: ETHERTYPE_IPV4 }, payload));
sw.receive(1, buildFrame({ dst: BROADCAST_MAC, src: macB, etherType: ETHERTYPE_IPV4 }, payload));

run('known unicast (access)', sw, 0, buildFrame({ dst: macB, src: macA, etherType: ETHERTYPE_IPV4 }, payload));
run('broadcast flood (10 ports)', sw, 0, buildFrame({ dst: BROADCAST_MAC, src: macA, etherType: ETHERTYPE_IPV4 }, payload));
