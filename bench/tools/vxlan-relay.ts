// The ceiling of vfab's VXLAN guest edge alone (daemons/link/vxlan-socket.ts), for profiling: two network
// namespaces, each with a kernel vxlan device (daemons/guests/vxlan-device.ts) sending to one VxlanSocket
// in this process, which hands every frame of one tunnel to the other (no vSwitch, no switches, no
// WebSocket hops). One iperf3 TCP flow between them; prints Gb/s, retransmits and this process's CPU per
// frame. Needs root, iperf3, python3. Names: vfabb-vxr<pid>-a/b. Run:
//   node --import tsx bench/tools/vxlan-relay.ts [seconds] [--cpu-prof (node flag, before --import)]

import dgram from 'node:dgram';
import { VxlanSocket } from '../../daemons/link/vxlan-socket.js';
import type { FrameLink } from '../../lib/link/frame-link.js';
import { createVxlanDevice, deleteLink, run } from '../../daemons/guests/vxlan-device.js';
import { tcpFlow, waitReachable, type GuestPath } from '../guests.js';
import { selfCpuSeconds } from '../harness.js';

const seconds = Number(process.argv[2] ?? 5);
const tag = `vxr${process.pid % 100000}`;
const ns = [`vfabb-${tag}-a`, `vfabb-${tag}-b`];
const dev = [`${tag}a`, `${tag}b`];
const ips = ['198.51.100.11', '198.51.100.12'];

async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const p = s.address().port;
  s.close();
  return p;
}

const sock = await VxlanSocket.open();
const made: string[] = [];
try {
  const links: FrameLink[] = [];
  for (let i = 0; i < 2; i++) {
    const listenPort = await freeUdpPort();
    await run('ip', ['netns', 'add', ns[i]!]);
    made.push(ns[i]!);
    await createVxlanDevice({ name: dev[i]!, vni: 100 + i, listenPort, remote: '127.0.0.1', remotePort: sock.port, mtu: 1500 });
    await run('ip', ['link', 'set', dev[i]!, 'netns', ns[i]!]);
    await run('ip', ['-n', ns[i]!, 'addr', 'add', `${ips[i]}/24`, 'dev', dev[i]!]);
    await run('ip', ['-n', ns[i]!, 'link', 'set', dev[i]!, 'up']);
    await run('ip', ['-n', ns[i]!, 'link', 'set', 'lo', 'up']);
    links.push(sock.tunnel({ vni: 100 + i, remoteAddress: '127.0.0.1', remotePort: listenPort, name: `relay.${i}` }));
  }
  links[0]!.onFrameView((f) => links[1]!.send(f));
  links[1]!.onFrameView((f) => links[0]!.send(f));
  const p: GuestPath = { client: { netns: ns[0]!, ip: ips[0]! }, server: { netns: ns[1]!, ip: ips[1]! }, pids: () => [] };
  await waitReachable(p, 'relay');
  const cpu0 = selfCpuSeconds();
  const t = await tcpFlow(p, seconds, 1);
  const cpu = selfCpuSeconds() - cpu0;
  console.log(JSON.stringify({ gbps: +(t.run.receivedBitsPerSecond / 1e9).toFixed(3), retransmits: t.run.retransmits, segments: t.run.segments, relayCpuNsPerSegment: Math.round((cpu / t.run.segments) * 1e9), counters: sock.counters }));
} finally {
  sock.close();
  for (const n of made) await run('ip', ['netns', 'del', n]).catch(() => undefined);
  for (const d of dev) await deleteLink(d).catch(() => undefined);
}
