// A physical switch's `mode: vxlan` ports (docs/guests.md "VXLAN ports on physical switches"): opens one
// VxlanSocket (vxlan-socket.ts) per local address and port the switch's tunnel ports name, makes each
// port's tunnel and hands its link to the switch's links (DaemonLinks.attach), so frames, link down/up,
// `shutdown`, impairments, flaps, captures and counters take the paths of any cabled port. Covers start
// (all sockets or none: a bind failure closes what was opened and names the port), status and close.
// Leaves out the tunnel itself (vxlan-socket.ts) and the VLAN behaviour of the port (lib/pswitch).

import type { EthernetLink } from '../../lib/link/link.js';
import type { SwitchPort, SwitchPortVxlan } from '../../lib/topology/model.js';
import { VfabError } from '../../lib/errors.js';
import { VxlanSocket } from './vxlan-socket.js';

export interface VxlanPortStatus extends SwitchPortVxlan {
  /** The switch port. */
  port: string;
  /** The port the socket is bound to (differs from localPort when that was 0 = any free port). */
  boundPort: number;
}

export interface VxlanPorts {
  /** One row per tunnel port. */
  ports(): VxlanPortStatus[];
  /** One row per socket: its address, tunnels and counters (received, dropped by reason, sent). */
  sockets(): Array<ReturnType<VxlanSocket['status']>>;
  close(): void;
}

/** The peer a tunnel port's link shows in status: "vxlan:<remote>:<remotePort>/<vni>". */
export function vxlanPeer(v: SwitchPortVxlan): string {
  return `vxlan:${v.remote}:${v.remotePort}/${v.vni}`;
}

/** Opens the sockets and tunnels of `switchName`'s tunnel ports and attaches each port's link. */
export async function openVxlanPorts(switchName: string, ports: readonly SwitchPort[], attach: (port: string, link: EthernetLink, peer: string) => void): Promise<VxlanPorts> {
  const bySocket = new Map<string, SwitchPort[]>();
  for (const p of ports) {
    if (!p.vxlan) continue;
    const key = `${p.vxlan.localAddress}:${p.vxlan.localPort}`;
    bySocket.set(key, [...(bySocket.get(key) ?? []), p]);
  }
  const sockets: VxlanSocket[] = [];
  const rows: VxlanPortStatus[] = [];
  try {
    for (const group of bySocket.values()) {
      const { localAddress, localPort } = group[0]!.vxlan!;
      let socket: VxlanSocket;
      try {
        socket = await VxlanSocket.open(localAddress, localPort);
      } catch (e) {
        throw new VfabError('VFAB_VXLAN_BIND', `switch ${switchName} port ${group.map((p) => p.name).join(', ')}: ${(e as Error).message}`, { address: localAddress, port: localPort });
      }
      sockets.push(socket);
      for (const p of group) {
        const v = p.vxlan!;
        const link = socket.tunnel({ vni: v.vni, remoteAddress: v.remote, remotePort: v.remotePort, name: `${switchName}.${p.name}` });
        attach(p.name, link, vxlanPeer(v));
        rows.push({ port: p.name, ...v, boundPort: socket.port });
      }
    }
  } catch (e) {
    for (const s of sockets) s.close();
    throw e;
  }
  return {
    ports: () => rows,
    sockets: () => sockets.map((s) => s.status()),
    close: () => {
      for (const s of sockets) s.close();
    },
  };
}
