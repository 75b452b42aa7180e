// A VXLAN endpoint for end-to-end tests that needs no root: a UDP socket on 127.0.0.1 speaking RFC 7348
// with one guest stack behind it (lib/endpoint's VmEndpoint: answers ARP and ping, pings). Stands in for a
// Linux vxlan device on machines where the test cannot create one. Also the small topology the VXLAN port
// tests share, and a free UDP port. Not a test file itself.

import dgram from 'node:dgram';
import { SystemClock } from '../../../lib/clock.js';
import { VmEndpoint, type EndpointActions } from '../../../lib/endpoint/vm-endpoint.js';
import { parseMac } from '../../../lib/wire/mac.js';
import { emitVxlan, parseVxlan } from '../../../lib/wire/vxlan.js';

/** The VNI of the test topologies' tunnel port. */
export const VXLAN_TEST_VNI = 5001;

/** How often the peer's stack runs its timers (ARP retries, ping timeouts), wall ms. */
const PEER_TICK_MS = 50;

export class VxlanPeer {
  /** Frames received through the tunnel (any VNI) and sent into it. */
  rxFrames = 0;
  txFrames = 0;
  private remotePort = 0;
  private readonly endpoint: VmEndpoint;
  private readonly replies: Array<{ seq: number }> = [];
  private readonly tick: NodeJS.Timeout;

  private constructor(private readonly socket: dgram.Socket, readonly vni: number, ip: string, mac: string) {
    this.endpoint = new VmEndpoint({ name: 'vxlan-peer', nics: [{ name: 'eth0', mac: parseMac(mac), ipv4: ip, prefixLength: 24 }], clock: new SystemClock() });
    socket.on('message', (d) => {
      const p = parseVxlan(d);
      if (!p.ok || p.value.vni !== this.vni) return;
      this.rxFrames++;
      this.perform(this.endpoint.receive(0, Buffer.from(p.value.frame)));
    });
    this.perform(this.endpoint.powerOn());
    this.tick = setInterval(() => this.perform(this.endpoint.tick()), PEER_TICK_MS);
  }

  /** Binds 127.0.0.1:<any free port>; the guest behind it has `ip`/24 and `mac`. */
  static async open(vni: number, ip: string, mac: string): Promise<VxlanPeer> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
    return new VxlanPeer(socket, vni, ip, mac);
  }

  get port(): number {
    return this.socket.address().port;
  }

  /** Where the peer's frames go: the switch's VXLAN socket. */
  connect(remotePort: number): void {
    this.remotePort = remotePort;
  }

  /** Sends a raw datagram to the switch's socket (malformed input, other VNIs). */
  sendRaw(d: Buffer): void {
    this.socket.send(d, this.remotePort, '127.0.0.1');
  }

  /** Pings `ip` `count` times from the guest behind the tunnel; resolves with the replies received. */
  async ping(ip: string, count = 3, timeoutMs = 1000): Promise<number> {
    const before = this.replies.length;
    for (let i = 0; i < count; i++) {
      this.perform(this.endpoint.ping(0, ip, { timeoutMs }));
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, timeoutMs));
    return this.replies.length - before;
  }

  close(): void {
    clearInterval(this.tick);
    this.socket.close();
  }

  private perform(actions: EndpointActions): void {
    for (const a of actions) {
      if (a.kind === 'transmit' && this.remotePort !== 0) {
        this.txFrames++;
        this.socket.send(emitVxlan(this.vni, a.frame), this.remotePort, '127.0.0.1');
      } else if (a.kind === 'pingReply') this.replies.push({ seq: a.seq });
    }
  }
}

/**
 * One switch, one host with a VM (web1, 192.0.2.11) in VLAN 10, and sw1.Vx1 tunnelling VLAN 10 to
 * `peerPort`: untagged (an access port), or with `trunk` tagged (a trunk allowing VLAN 10).
 */
export function vxlanTopology(name: string, peerPort: number, localPort = 0, vm = { name: 'web1', ip: '192.0.2.11', mac: '00:50:56:00:10:01' }, trunk = false): string {
  const vlans = trunk ? 'allowedVlans: [10]' : 'vlan: 10';
  return `name: ${name}
switches:
  - name: sw1
    ports:
      - { name: Gi1/0/1, mode: access, vlan: 10 }
      - { name: Vx1, mode: vxlan, ${vlans}, vxlan: { vni: ${VXLAN_TEST_VNI}, remote: 127.0.0.1, remotePort: ${peerPort}, localPort: ${localPort}, trunk: ${trunk} } }
hosts:
  - name: esx1
    vswitches:
      - name: vSwitch0
        uplinks: [vmnic0]
        portGroups: [ { name: VM, vlan: 0 } ]
    vms:
      - name: ${vm.name}
        nics: [ { portGroup: VM, mac: "${vm.mac}", ip: ${vm.ip}/24 } ]
links:
  - [esx1.vmnic0, sw1.Gi1/0/1]
`;
}

/** A UDP port free on 127.0.0.1 a moment ago (bound, read, closed: the caller binds it soon after). */
export async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', () => resolve()));
  const port = s.address().port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
