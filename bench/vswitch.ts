// Micro-benchmark of the vSwitch decision engine alone (no sockets): frames/s for known unicast VM->VM,
// VM->uplink with VST tagging, and uplink->VM with tag removal. Bounded: FRAMES_PER_CASE frames per case.
// Run: node --import tsx bench/vswitch.ts. Speed is reported, never asserted (tests stay timing-free).

import { VSwitch } from '../lib/vswitch/vswitch.js';
import { buildFrame, ETHERTYPE_IPV4, ETHERTYPE_VLAN } from '../lib/wire/ethernet.js';
import { parseMac } from '../lib/wire/mac.js';

const FRAMES_PER_CASE = 1_000_000;
const WARMUP_FRAMES = 50_000;
const PAYLOAD_BYTES = 1000;

const vm1 = parseMac('00:50:56:00:00:01');
const vm2 = parseMac('00:50:56:00:00:02');
const remote = parseMac('00:1b:21:aa:bb:cc');

const vs = new VSwitch({ name: 'bench', uplinks: ['vmnic0', 'vmnic1'], portGroups: [{ name: 'v10', vlanId: 10 }] });
const p1 = vs.connectPort({ portGroup: 'v10', initialMac: vm1 });
vs.connectPort({ portGroup: 'v10', initialMac: vm2 });
vs.takeEvents();

const payload = new Uint8Array(PAYLOAD_BYTES);
const vmToVm = buildFrame({ dst: vm2, src: vm1, etherType: ETHERTYPE_IPV4 }, payload);
const vmToUplink = buildFrame({ dst: remote, src: vm1, etherType: ETHERTYPE_IPV4 }, payload);
const uplinkToVm = buildFrame({ dst: vm2, src: remote, tag: { tpid: ETHERTYPE_VLAN, pcp: 0, dei: 0, vid: 10 }, etherType: ETHERTYPE_IPV4 }, payload);

function run(label: string, step: () => number): void {
  for (let i = 0; i < WARMUP_FRAMES; i++) step();
  let delivered = 0;
  const t0 = performance.now();
  for (let i = 0; i < FRAMES_PER_CASE; i++) delivered += step();
  const ms = performance.now() - t0;
  const fps = Math.round(FRAMES_PER_CASE / (ms / 1000));
  console.log(`${label.padEnd(34)} ${fps.toLocaleString('en-US').padStart(12)} frames/s  (${delivered} delivered, ${ms.toFixed(0)} ms)`);
}

run('known unicast VM -> VM', () => vs.fromPort(p1, vmToVm).portCount);
run('VM -> uplink (VST tag push)', () => (vs.fromPort(p1, vmToUplink).uplinkMask !== 0 ? 1 : 0));
run('uplink -> VM (VST tag pop)', () => vs.fromUplink(0, uplinkToVm).portCount);
