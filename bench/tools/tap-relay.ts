// The ceiling of vfab's TAP guest edge alone (daemons/guests/tap-attach.ts + tap-helper.py), the
// counterpart of bench/tools/vxlan-relay.ts: two network namespaces, each with a tap served by its TAP
// helper, and this process handing every frame of one helper's link to the other's (no vSwitch, no
// switches, no WebSocket hops). One iperf3 TCP flow between them; prints Gb/s, retransmits and CPU per
// segment of this process, of the two helpers (and their system part), and their sum (the same three-process shape as VDE's
// plug2tap + switch + plug2tap). Needs root, iperf3, python3. Names: vfabb-tpr<pid>-a/b. Run:
//   node --import tsx bench/tools/tap-relay.ts [seconds]

import { FrameLink } from '../../lib/link/frame-link.js';
import { TapHelper } from '../../daemons/guests/tap-attach.js';
import { run } from '../../daemons/guests/vxlan-device.js';
import { tcpFlow, waitReachable, type GuestPath } from '../guests.js';
import { selfCpuSeconds, processCpuSeconds } from '../harness.js';

const seconds = Number(process.argv[2] ?? 5);
const tag = `tpr${process.pid % 100000}`;
const ns = [`vfabb-${tag}-a`, `vfabb-${tag}-b`];
const ips = ['198.51.100.11', '198.51.100.12'];
const made: string[] = [];
const helpers: TapHelper[] = [];
try {
  const links = [new FrameLink('relay.0'), new FrameLink('relay.1')];
  for (let i = 0; i < 2; i++) {
    await run('ip', ['netns', 'add', ns[i]!]);
    made.push(ns[i]!);
    await run('ip', ['-n', ns[i]!, 'link', 'set', 'lo', 'up']);
    helpers.push(await TapHelper.start({ netns: ns[i]!, ifname: 'eth0', mtu: 1500, link: links[i]!, event: (t, f) => console.error(t, f) }));
    await run('ip', ['-n', ns[i]!, 'addr', 'add', `${ips[i]}/24`, 'dev', 'eth0']);
    await run('ip', ['-n', ns[i]!, 'link', 'set', 'eth0', 'up']);
  }
  links[0]!.onFrameView((f) => links[1]!.send(f));
  links[1]!.onFrameView((f) => links[0]!.send(f));
  const p: GuestPath = { client: { netns: ns[0]!, ip: ips[0]! }, server: { netns: ns[1]!, ip: ips[1]! }, pids: () => helpers.map((h) => h.pid!) };
  await waitReachable(p, 'relay');
  const sys = () => helpers.reduce((a, h) => a + (processCpuSeconds(h.pid, 'system') ?? NaN), 0);
  const cpu0 = selfCpuSeconds();
  const sys0 = sys();
  const t = await tcpFlow(p, seconds, 1);
  const cpu = selfCpuSeconds() - cpu0;
  const helperSys = sys() - sys0;
  const per = (s: number) => Math.round((s / t.run.segments) * 1e9);
  console.log(JSON.stringify({
    gbps: +(t.run.receivedBitsPerSecond / 1e9).toFixed(3), retransmits: t.run.retransmits, segments: t.run.segments,
    relayNsPerSegment: per(cpu), helpersNsPerSegment: per(t.cpuSeconds ?? NaN), totalNsPerSegment: per(cpu + (t.cpuSeconds ?? NaN)),
    helpersSystemNsPerSegment: per(helperSys),
    helpers: helpers.map((h) => h.counters),
  }));
} finally {
  for (const h of helpers) await h.close().catch(() => undefined);
  for (const n of made) await run('ip', ['netns', 'del', n]).catch(() => undefined);
}
