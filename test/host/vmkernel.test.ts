// VMkernel ports (hosts[].vmkernels) on a ManualClock, two hosts cabled to a physical switch in-process:
// ARP and ping between vmk0s through vSwitch, uplinks and switch on VLAN 30 (tagged on the wire, isolated
// from VLAN 10), the UDP API (bind, send, unbound ports, handler errors), the port group's security policy
// (forged transmits) and shaping on the vmk's port, teaming failover moving the vmk to the standby with
// notify RARPs like a VM vNIC (spec §3.7, §3.10), capture points and events.
import { expect } from 'chai';
import fs from 'node:fs';
import { MiniFabric } from './fabric.js';
import type { EndpointAction } from '../../lib/endpoint/vm-endpoint.js';
import type { VmkUdpDatagram } from '../../lib/host/vmkernel.js';
import { VfabError } from '../../lib/errors.js';
import { EsxHost } from '../../lib/host/host.js';
import { ManualClock } from '../../lib/clock.js';

const YAML = `
name: vmk
switches:
  - name: sw1
    ports:
      - { name: Gi1/0/1, mode: trunk, allowedVlans: "10,30" }
      - { name: Gi1/0/2, mode: trunk, allowedVlans: "10,30" }
      - { name: Gi1/0/3, mode: trunk, allowedVlans: "10,30" }
hosts:
  - name: esx1
    vswitches:
      - name: vSwitch0
        uplinks: [vmnic0, vmnic1]
        teaming: { active: [vmnic0], standby: [vmnic1] }
        portGroups:
          - { name: Management, vlan: 30 }
          - { name: Forgeable, vlan: 30, security: { forgedTransmits: accept } }
          - { name: Shaped, vlan: 30, trafficShaping: { enabled: true, averageKbps: 1000, peakKbps: 1000, burstKB: 4 } }
    vmkernels:
      - { name: vmk0, portGroup: Management, ip: 10.0.0.11/24, services: [management] }
      - { name: vmk1, portGroup: Forgeable, ip: 10.0.1.11/24, services: [vmotion] }
      - { name: vmk2, portGroup: Shaped, ip: 10.0.2.11/24, services: [storage] }
    vms:
      - { name: vc1, nics: [{ portGroup: Management, ip: 10.0.0.5/24 }] }
  - name: esx2
    vswitches:
      - name: vSwitch0
        uplinks: [vmnic0]
        portGroups:
          - { name: Management, vlan: 30 }
          - { name: VM-10, vlan: 10 }
    vmkernels:
      - { name: vmk0, portGroup: Management, ip: 10.0.0.12/24, services: [management] }
    vms:
      - { name: trap10, nics: [{ portGroup: VM-10, ip: 10.0.0.50/24 }] }
links:
  - [esx1.vmnic0, sw1.Gi1/0/1]
  - [esx1.vmnic1, sw1.Gi1/0/2]
  - [esx2.vmnic0, sw1.Gi1/0/3]
`;

let seqNo = 0;

/** One echo request from `host`.`vmk` to `target`; the reply's RTT, or null after the timeout. */
function ping(f: MiniFabric, host: string, vmk: string, target: string): number | null {
  const port = f.host(host).vmkernel(vmk);
  const seq = seqNo++;
  let result: number | null | undefined;
  const stop = port.listen((a: EndpointAction) => {
    if (a.kind === 'pingReply' && a.seq === seq) result = a.rttMs;
    if ((a.kind === 'pingTimeout' && a.seq === seq) || a.kind === 'arpFailed') result ??= null;
  });
  const sent = port.ping(target, { id: 7, seq, timeoutMs: 1000 });
  expect(sent, 'the request left').to.deep.equal({ ok: true });
  f.pump();
  for (let i = 0; result === undefined && i < 50; i++) f.advance(100, 100);
  stop();
  return result ?? null;
}

/** Frames `end` sent whose source MAC is `mac`. */
function sentFrom(f: MiniFabric, end: string, mac: number, from = 0): Buffer[] {
  return (f.sent.get(end) ?? []).slice(from).filter((fr) => fr.readUIntBE(6, 6) === mac);
}

describe('EsxHost vmkernel ports', () => {
  it('ARP and ping between two hosts\' vmk0 through vSwitch, uplinks and switch, tagged VLAN 30 on the wire', () => {
    const f = new MiniFabric(YAML);
    const esx1 = f.host('esx1');
    const mac = esx1.vmkernel('vmk0').mac;
    expect(ping(f, 'esx1', 'vmk0', '10.0.0.12')).to.be.a('number');
    expect(ping(f, 'esx2', 'vmk0', '10.0.0.11')).to.be.a('number');
    const out = sentFrom(f, 'esx1.vmnic0', mac);
    const arp = out.filter((fr) => fr.readUInt16BE(16) === 0x0806);
    const icmp = out.filter((fr) => fr.readUInt16BE(16) === 0x0800 && fr[27] === 1);
    expect(arp.length, 'ARP from vmk0 on the wire').to.be.greaterThan(0);
    expect(icmp.length, 'echo request and reply from vmk0').to.be.at.least(2);
    for (const fr of out) {
      expect(fr.readUInt16BE(12), 'an 802.1Q tag').to.equal(0x8100);
      expect(fr.readUInt16BE(14) & 0x0fff, 'the port group VLAN').to.equal(30);
    }
    expect(f.sw('sw1').lookupMac(30, mac), 'the switch learned vmk0 on VLAN 30').to.equal('Gi1/0/1');
    expect(esx1.vmkernelCounters()!.stack.icmp.echoRequestsReceived).to.equal(1);
  });

  it('a VM on the same port group reaches vmk0 inside the host (local switching, nothing on the uplinks)', () => {
    const f = new MiniFabric(YAML);
    const esx1 = f.host('esx1');
    const mark = f.sentCount('esx1.vmnic0');
    const replies: number[] = [];
    esx1.listen('vc1', (a) => a.kind === 'pingReply' && replies.push(a.seq));
    esx1.ping('vc1', 0, '10.0.0.11', { id: 3, seq: 1 });
    f.pump();
    expect(replies).to.deep.equal([1]);
    expect(sentFrom(f, 'esx1.vmnic0', esx1.vmkernel('vmk0').mac, mark).filter((fr) => fr.readUInt16BE(16) === 0x0800), 'the reply stayed local').to.have.length(0);
  });

  it('§2 VLAN: vmk0 on VLAN 30 does not reach a VM with an address in its subnet on VLAN 10', () => {
    const f = new MiniFabric(YAML);
    expect(ping(f, 'esx1', 'vmk0', '10.0.0.50')).to.equal(null);
    f.advance(5000, 500); // ARP gives up after its retries
    expect(f.host('esx2').endpoint('trap10').counters.arp.requestsReceived, 'not even the ARP request').to.equal(0);
    expect(f.ofType('arpFailed', 'esx1').map((e) => e.vmk), 'an event names the vmk').to.deep.equal(['vmk0']);
  });

  it('UDP: a bound handler gets the datagram with its source, a reply comes back, unbound ports are counted', () => {
    const f = new MiniFabric(YAML);
    const a = f.host('esx1').vmkernel('vmk0');
    const b = f.host('esx2').vmkernel('vmk0');
    const atB: VmkUdpDatagram[] = [];
    const atA: VmkUdpDatagram[] = [];
    b.bindUdp(8182, (d) => {
      atB.push(d);
      b.sendUdp(d.srcIp, d.srcPort, Buffer.from(`ack ${d.payload.toString()}`), 8182);
    });
    a.bindUdp(8182, (d) => atA.push(d));
    expect(a.sendUdp('10.0.0.12', 8182, Buffer.from('hb 1'))).to.deep.equal({ ok: true });
    f.pump();
    expect(atB).to.have.length(1);
    expect(atB[0]).to.deep.include({ vmk: 'vmk0', srcIp: '10.0.0.11', srcPort: 8182, dstIp: '10.0.0.12', dstPort: 8182 });
    expect(atB[0]!.payload.toString()).to.equal('hb 1');
    expect(atA.map((d) => d.payload.toString())).to.deep.equal(['ack hb 1']);
    expect(a.sendUdp('10.0.0.12', 9999, Buffer.from('nobody'))).to.deep.equal({ ok: true });
    f.pump();
    expect(f.host('esx2').vmkernelCounters()!.udp).to.deep.equal({ udpDelivered: 1, udpNoListener: 1, handlerErrors: 0 });
    expect(b.boundUdpPorts()).to.deep.equal([8182]);
  });

  it('UDP: a port binds once, unbinding frees it, no route is a failed send, a throwing handler is counted', () => {
    const f = new MiniFabric(YAML);
    const a = f.host('esx1').vmkernel('vmk0');
    const b = f.host('esx2').vmkernel('vmk0');
    const unbind = b.bindUdp(8182, () => {
      throw new Error('bug in a handler');
    });
    expect(() => b.bindUdp(8182, () => {})).to.throw(VfabError, /already bound/).with.property('code', 'VFAB_VMK_PORT_IN_USE');
    a.sendUdp('10.0.0.12', 8182, Buffer.from('x'));
    f.pump();
    expect(f.host('esx2').vmkernelCounters()!.udp.handlerErrors).to.equal(1);
    expect(ping(f, 'esx1', 'vmk0', '10.0.0.12'), 'the host carries on').to.be.a('number');
    unbind();
    expect(() => b.bindUdp(8182, () => {})).to.not.throw();
    expect(a.sendUdp('192.0.2.1', 8182, Buffer.from('x'))).to.deep.include({ ok: false, code: 'VFAB_ENDPOINT_NO_ROUTE' });
    expect(() => a.sendUdp('10.0.0.12', 8182, Buffer.alloc(1500))).to.throw(VfabError).with.property('code', 'VFAB_ENDPOINT_TOO_LARGE');
    expect(f.host('esx1').vmkernelFor('vmotion')?.name).to.equal('vmk1');
    expect(() => f.host('esx1').vmkernel('vmk7')).to.throw(/has no vmkernel port vmk7 \(has: vmk0, vmk1, vmk2\)/);
  });

  it('§4.4 the port group\'s security applies: a forged source MAC is dropped on Reject, forwarded on Accept', () => {
    const f = new MiniFabric(YAML);
    const esx1 = f.host('esx1');
    const forged = Buffer.alloc(60);
    forged.writeUIntBE(0xffffffffffff, 0, 6);
    forged.writeUIntBE(0x005056aa0001, 6, 6);
    forged.writeUInt16BE(0x88b5, 12);
    const mark = f.sentCount('esx1.vmnic0');
    esx1.vmkernel('vmk0').sendRaw(forged); // Management: forgedTransmits reject (default)
    f.pump();
    const atVmk = () => f.drops.filter((d) => d.point.startsWith('esx1.vmk'));
    expect(atVmk()).to.deep.equal([{ host: 'esx1', point: 'esx1.vmk0', reason: 'forged_transmit' }]);
    expect(sentFrom(f, 'esx1.vmnic0', 0x005056aa0001, mark)).to.have.length(0);
    esx1.vmkernel('vmk1').sendRaw(forged); // Forgeable: accept
    f.pump();
    expect(atVmk()).to.have.length(1);
    expect(sentFrom(f, 'esx1.vmnic0', 0x005056aa0001, mark)).to.have.length(1);
  });

  it('§5 the port group\'s shaping applies to the vmk\'s egress', () => {
    const f = new MiniFabric(YAML);
    const esx1 = f.host('esx1');
    const vmk2 = esx1.vmkernel('vmk2');
    const mark = f.sentCount('esx1.vmnic0');
    for (let i = 0; i < 40; i++) vmk2.sendUdp('10.0.2.255', 9000, Buffer.alloc(1000));
    f.pump();
    const udp = () => sentFrom(f, 'esx1.vmnic0', vmk2.mac, mark).filter((fr) => fr.readUInt16BE(16) === 0x0800 && fr[27] === 17).length;
    const now = udp();
    expect(now, 'a 4 KB burst at 1000 kbit/s peak: a few at most leave at once').to.be.within(0, 6);
    f.advance(1000, 10);
    const later = udp();
    expect(later, '1000 kbit/s: about 125 KB/s, the queue drains').to.equal(40);
    const port = esx1.status().vswitches[0]!.ports.find((p) => p.portId === esx1.describeVmkernel('vmk2').portId)!;
    expect(port.shaping).to.not.equal(null);
  });

  it('§3.7 §3.10 failover moves vmk0 to the standby uplink with 5 notify RARPs; the switch follows, ping goes on', () => {
    const f = new MiniFabric(YAML);
    f.settleNotify();
    const esx1 = f.host('esx1');
    const mac = esx1.vmkernel('vmk0').mac;
    expect(f.rarpsFrom('esx1.vmnic0', mac), 'startup RARPs like a VM').to.equal(5);
    expect(esx1.describeVmkernel('vmk0').uplink).to.equal('vmnic0');
    expect(ping(f, 'esx2', 'vmk0', '10.0.0.11')).to.be.a('number');
    expect(f.sw('sw1').lookupMac(30, mac)).to.equal('Gi1/0/1');

    const mark = f.sentCount('esx1.vmnic1');
    f.setCable('esx1.vmnic0', false);
    const fo = f.ofType('failover', 'esx1');
    expect(fo).to.have.length(1);
    expect((fo[0]!.ports as Array<{ port: string }>).map((p) => p.port)).to.include('esx1.vmk0');
    f.settleNotify();
    expect(f.rarpsFrom('esx1.vmnic1', mac, mark)).to.equal(5);
    expect(f.ofType('notify', 'esx1').filter((e) => e.port === 'esx1.vmk0').map((e) => [e.uplink, e.reason, e.vlan])).to.deep.equal([
      ['vmnic0', 'startup', 30], ['vmnic1', 'failover', 30],
    ]);
    expect(f.sw('sw1').lookupMac(30, mac), 'moved by the RARPs').to.equal('Gi1/0/2');
    expect(esx1.describeVmkernel('vmk0')).to.deep.include({ uplink: 'vmnic1' });
    expect(esx1.status().vmkernels.find((k) => k.name === 'vmk0')).to.deep.include({ uplink: 'vmnic1', ip: '10.0.0.11/24', up: true });
    expect(ping(f, 'esx2', 'vmk0', '10.0.0.11'), 'reachable on the standby').to.be.a('number');
  });

  it('capture: esx1.vmk0 is a capture point that sees the vmk\'s frames untagged, both directions', () => {
    const f = new MiniFabric(YAML);
    const esx1 = f.host('esx1');
    expect(esx1.capturePoints()).to.include.members(['esx1.vmk0', 'esx1.vmk1', 'esx1.vmnic0', 'vc1.nic0']);
    expect(esx1.setTap('esx1.vmk0', true)).to.equal(true);
    expect(esx1.setTap('esx1.vmk9', true)).to.equal(false);
    ping(f, 'esx1', 'vmk0', '10.0.0.12');
    const at = f.taps.filter((t) => t.point === 'esx1.vmk0');
    const icmp = (dir: string) => at.filter((t) => t.direction === dir && t.frame.readUInt16BE(12) === 0x0800 && t.frame[23] === 1);
    expect(icmp('out'), 'echo request').to.have.length(1);
    expect(icmp('in'), 'echo reply').to.have.length(1);
    expect(at.every((t) => t.frame.readUInt16BE(12) !== 0x8100), 'untagged: what the vmk sees').to.equal(true);
    expect(f.taps.filter((t) => t.point !== 'esx1.vmk0')).to.have.length(0);
  });

  it('before the host brings them up, the vmk API refuses with VFAB_VMK_DOWN', () => {
    const t = new MiniFabric(YAML).topology;
    const host = new EsxHost(t.hosts[0]!, new ManualClock(0), { uplinkTx: () => {} });
    expect(() => host.vmkernel('vmk0').sendUdp('10.0.0.12', 8182, Buffer.from('x'))).to.throw(VfabError).with.property('code', 'VFAB_VMK_DOWN');
    expect(host.status().vmkernels[0]).to.deep.include({ up: false, portId: null });
    host.startVmkernels();
    expect(host.vmkernel('vmk0').sendUdp('10.0.0.12', 8182, Buffer.from('x'))).to.deep.equal({ ok: true });
  });

  it('status lists each vmk with IP, MAC, services and port; VMs stay VMs', () => {
    const f = new MiniFabric(YAML);
    const st = f.host('esx1').status();
    expect(st.vms.map((v) => v.name)).to.deep.equal(['vc1']);
    expect(st.vmkernels.map((k) => [k.endpoint, k.ip, k.portGroup, k.services.join(',')])).to.deep.equal([
      ['esx1.vmk0', '10.0.0.11/24', 'Management', 'management'],
      ['esx1.vmk1', '10.0.1.11/24', 'Forgeable', 'vmotion'],
      ['esx1.vmk2', '10.0.2.11/24', 'Shaped', 'storage'],
    ]);
    expect(st.vmkernels[0]!.mac).to.equal(f.topology.hosts[0]!.vmkernels[0]!.macText);
    const portIds = st.vswitches[0]!.ports.map((p) => p.portId);
    for (const k of st.vmkernels) expect(portIds).to.include(k.portId);
  });
});

describe('topologies/production.yaml vmkernel ports', () => {
  it('every host\'s vmk0 pings every other across both switches and the port-channel (VLAN 40)', () => {
    const f = new MiniFabric(fs.readFileSync(new URL('../../topologies/production.yaml', import.meta.url), 'utf8'));
    for (const [from, to] of [['esx1', '10.0.40.13'], ['esx3', '10.0.40.12'], ['esx2', '10.0.40.11']] as const) {
      expect(ping(f, from, 'vmk0', to), `${from}.vmk0 -> ${to}`).to.be.a('number');
    }
    expect(f.sw('sw1').lookupMac(40, f.host('esx1').vmkernel('vmk0').mac)).to.be.a('string');
  });

  it('a host without vmkernels has none, and its vmk API says so', () => {
    const f = new MiniFabric(YAML.replace(/ {4}vmkernels:\n {6}- \{ name: vmk0, portGroup: Management, ip: 10\.0\.0\.12\/24, services: \[management\] \}\n/, ''));
    expect(f.host('esx2').vmkernels()).to.deep.equal([]);
    expect(f.host('esx2').status().vmkernels).to.deep.equal([]);
    expect(() => f.host('esx2').vmkernelEndpoint()).to.throw(/has no vmkernel ports/);
  });
});
