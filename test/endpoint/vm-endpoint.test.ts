// VmEndpoint: a guest with a small IP stack, two or more wired back to back through a hub on a ManualClock.
import { expect } from 'chai';
import { ManualClock, seededRandom } from '../../lib/clock.js';
import {
  VmEndpoint, ARP_CACHE_TTL_MS, ARP_RETRY_INTERVAL_MS, ARP_MAX_RETRIES, ARP_PENDING_MAX_PACKETS, PING_DEFAULT_TIMEOUT_MS, maxPingPayloadBytes,
} from '../../lib/endpoint/index.js';
import { parseEthernet, ethIsTagged, ethVid, ethSrc, ethDst, ETHERTYPE_ARP, ETHERTYPE_IPV4 } from '../../lib/wire/ethernet.js';
import { parseArp, buildGratuitousArp, buildArpRequest, ARP_OP_REQUEST, ARP_OP_REPLY } from '../../lib/wire/arp.js';
import { parseIpv4, emitIpv4Simple, IPPROTO_UDP, IPPROTO_ICMP, ipv4ToString } from '../../lib/wire/ipv4.js';
import { parseUdp } from '../../lib/wire/udp.js';
import { emitIcmp, ICMP_ECHO_REQUEST, ICMP_ECHO_REPLY } from '../../lib/wire/icmp.js';
import { parseMac } from '../../lib/wire/mac.js';
import { VfabError } from '../../lib/errors.js';
import { internetChecksum } from '../../lib/wire/checksum.js';
import { Hub, vm, MAC_A, MAC_B, MAC_C, MAC_G } from './harness.js';

function arpOf(frame: Buffer) {
  const eth = parseEthernet(frame);
  if (!eth.ok || eth.value.header.etherType !== ETHERTYPE_ARP) return undefined;
  const a = parseArp(frame, eth.value.payloadOffset);
  return a.ok ? a.value : undefined;
}

function pair(opts: { guestVlanId?: number; mtuBytes?: number } = {}) {
  const clock = new ManualClock(0);
  const a = vm(clock, 'A', { mac: MAC_A, ipv4: '10.0.0.1', prefixLength: 24, ...opts });
  const b = vm(clock, 'B', { mac: MAC_B, ipv4: '10.0.0.2', prefixLength: 24, ...opts });
  const hub = new Hub();
  hub.attach(a);
  hub.attach(b);
  a.powerOn(); // gratuitous ARPs deliberately not delivered: caches start empty
  b.powerOn();
  return { clock, a, b, hub };
}

/** A hand-built IPv4 frame from B's MAC/IP to A. */
function ipFrame(proto: number, l4: Buffer, opts: { dstIp?: number; srcIp?: number; dstMac?: number } = {}): Buffer {
  const f = Buffer.alloc(Math.max(60, 14 + 20 + l4.length));
  f.writeUIntBE(opts.dstMac ?? MAC_A, 0, 6);
  f.writeUIntBE(MAC_B, 6, 6);
  f.writeUInt16BE(ETHERTYPE_IPV4, 12);
  const at = emitIpv4Simple(f, 14, opts.srcIp ?? 0x0a000002, opts.dstIp ?? 0x0a000001, proto, l4.length, 1);
  l4.copy(f, at);
  return f;
}

describe('endpoint/VmEndpoint', () => {
  describe('power-on and ARP', () => {
    it('powerOn sends one gratuitous ARP per vNIC with an address; peers learn from it', () => {
      const clock = new ManualClock(0);
      const a = new VmEndpoint({
        name: 'A', clock, nics: [
          { name: 'eth0', mac: MAC_A, ipv4: '10.0.0.1' },
          { name: 'eth1', mac: MAC_C }, // L2 only
        ],
      });
      const b = vm(clock, 'B', { mac: MAC_B, ipv4: '10.0.0.2' });
      const hub = new Hub();
      hub.attach(a, 0);
      hub.attach(b);
      b.powerOn();
      const acts = a.powerOn();
      expect(acts).to.have.length(1);
      const garp = arpOf((acts[0] as { frame: Buffer }).frame)!;
      expect(garp.op).to.equal(ARP_OP_REQUEST);
      expect(garp.spa).to.equal(0x0a000001);
      expect(garp.tpa).to.equal(0x0a000001);
      hub.run(a, acts);
      expect(b.arpTable()).to.deep.equal([{ ip: '10.0.0.1', mac: '00:50:56:00:00:0a', nic: 'B-eth0', ageMs: 0 }]);
      expect(b.counters.arp.gratuitousReceived).to.equal(1);
      expect(a.powerOn()).to.have.length(0); // already on
    });

    it('resolves the peer by ARP, flushes the queued datagram, both sides learn', () => {
      const { a, b, hub } = pair();
      const acts = a.sendUdp(0, '10.0.0.2', 7000, 5000, Buffer.from('payload-1'));
      expect(acts).to.have.length(1);
      const req = arpOf((acts[0] as { frame: Buffer }).frame)!;
      expect(req).to.include({ op: ARP_OP_REQUEST, sha: MAC_A, spa: 0x0a000001, tpa: 0x0a000002 });
      hub.run(a, acts);
      expect(hub.of('arpResolved', 'A')).to.deep.equal([{ kind: 'arpResolved', nic: 0, ip: '10.0.0.2', mac: MAC_B }]);
      const udp = hub.of('udp', 'B');
      expect(udp).to.have.length(1);
      expect(udp[0]).to.deep.include({ srcIp: '10.0.0.1', srcPort: 5000, dstIp: '10.0.0.2', dstPort: 7000 });
      expect(udp[0]!.payload.toString()).to.equal('payload-1');
      expect(a.arpTable().map((e) => e.ip)).to.deep.equal(['10.0.0.2']);
      expect(b.arpTable().map((e) => e.mac)).to.deep.equal(['00:50:56:00:00:0a']);
      expect(a.counters.arp).to.include({ requestsSent: 1, repliesReceived: 1, resolved: 1 });
      expect(b.counters.arp).to.include({ requestsReceived: 1, repliesSent: 1 });
      // second datagram goes straight out, no ARP
      const again = a.sendUdp(0, '10.0.0.2', 7000, 5000, Buffer.from('x'));
      expect(again).to.have.length(1);
      expect(ethDst((again[0] as { frame: Buffer }).frame)).to.equal(MAC_B);
    });

    it('answers ARP only for its own address', () => {
      const { a } = pair();
      const other = a.receive(0, buildArpRequest(MAC_B, '10.0.0.2', '10.0.0.77'));
      expect(other).to.have.length(0);
      const mine = a.receive(0, buildArpRequest(MAC_B, '10.0.0.2', '10.0.0.1'));
      expect(mine).to.have.length(1);
      const rep = arpOf((mine[0] as { frame: Buffer }).frame)!;
      expect(rep).to.include({ op: ARP_OP_REPLY, sha: MAC_A, spa: 0x0a000001, tha: MAC_B, tpa: 0x0a000002 });
      expect(ethDst((mine[0] as { frame: Buffer }).frame)).to.equal(MAC_B);
    });

    it('reports an IP conflict when another MAC claims its address', () => {
      const { a } = pair();
      const acts = a.receive(0, buildGratuitousArp(MAC_C, '10.0.0.1'));
      expect(acts).to.deep.equal([{ kind: 'ipConflict', nic: 0, ip: '10.0.0.1', mac: MAC_C }]);
      expect(a.counters.arp.conflicts).to.equal(1);
      expect(a.arpTable()).to.have.length(0);
    });

    it('retries ARP every ARP_RETRY_INTERVAL_MS, gives up after ARP_MAX_RETRIES and drops the bounded queue', () => {
      const { clock, a, hub } = pair();
      let first = a.sendUdp(0, '10.0.0.3', 1, 2, Buffer.alloc(4));
      hub.run(a, first);
      for (let i = 1; i < ARP_PENDING_MAX_PACKETS + 3; i++) {
        first = a.sendUdp(0, '10.0.0.3', 1, 2, Buffer.alloc(4));
        expect(first).to.have.length(0); // queued behind the pending resolution
      }
      expect(a.counters.drops.arpQueueFull).to.equal(3);
      expect(a.nextDeadlineMs()).to.equal(ARP_RETRY_INTERVAL_MS);
      const requestTimes: number[] = [];
      hub.tamper = (f, from) => {
        if (from === 'A' && arpOf(f)?.tpa === 0x0a000003) requestTimes.push(clock.nowMs());
        return f;
      };
      hub.advance(clock, ARP_RETRY_INTERVAL_MS * (ARP_MAX_RETRIES + 2));
      expect(requestTimes).to.deep.equal([1, 2, 3].map((k) => k * ARP_RETRY_INTERVAL_MS));
      expect(a.counters.arp.retries).to.equal(ARP_MAX_RETRIES);
      expect(hub.of('arpFailed', 'A')).to.deep.equal([
        { kind: 'arpFailed', nic: 0, ip: '10.0.0.3', droppedPackets: ARP_PENDING_MAX_PACKETS },
      ]);
      expect(a.counters.drops.arpGiveUp).to.equal(ARP_PENDING_MAX_PACKETS);
      expect(a.counters.arp.failed).to.equal(1);
      expect(a.nextDeadlineMs()).to.equal(undefined);
    });

    it('expires cache entries after ARP_CACHE_TTL_MS and resolves again on the next send', () => {
      const { clock, a, hub } = pair();
      clock.set(500);
      hub.run(a, a.sendUdp(0, '10.0.0.2', 1, 2, Buffer.alloc(1)));
      expect(a.nextDeadlineMs()).to.equal(500 + ARP_CACHE_TTL_MS);
      clock.set(500 + ARP_CACHE_TTL_MS - 1);
      expect(a.arpTable()[0]!.ageMs).to.equal(ARP_CACHE_TTL_MS - 1);
      expect(a.tick()).to.have.length(0);
      expect(a.counters.arp.expired).to.equal(0);
      clock.set(500 + ARP_CACHE_TTL_MS);
      a.tick();
      expect(a.counters.arp.expired).to.equal(1);
      expect(a.arpTable()).to.have.length(0);
      const acts = a.sendUdp(0, '10.0.0.2', 1, 2, Buffer.alloc(1));
      expect(arpOf((acts[0] as { frame: Buffer }).frame)?.op).to.equal(ARP_OP_REQUEST);
    });
  });

  describe('ICMP echo', () => {
    it('ping gets a reply with RTT from the clock, TTL and ICMP byte count', () => {
      const { clock, a, b } = pair();
      // Pre-resolve so the ping frame goes straight out.
      const hub = new Hub();
      hub.attach(a); hub.attach(b);
      hub.run(a, a.resolve(0, '10.0.0.2'));
      clock.set(1000);
      const out = a.ping(0, '10.0.0.2', { id: 0x1234, seq: 7, sizeBytes: 56 });
      expect(out).to.have.length(1);
      clock.advance(5);
      const reply = b.receive(0, (out[0] as { frame: Buffer }).frame);
      expect(reply).to.have.length(1);
      const rf = (reply[0] as { frame: Buffer }).frame;
      const ip = parseIpv4(rf, 14);
      expect(ip.ok && ip.value.header.protocol).to.equal(IPPROTO_ICMP);
      expect(rf[34]).to.equal(ICMP_ECHO_REPLY);
      clock.advance(3);
      expect(a.receive(0, rf)).to.deep.equal([
        { kind: 'pingReply', nic: 0, targetIp: '10.0.0.2', id: 0x1234, seq: 7, rttMs: 8, ttl: 64, bytes: 64 },
      ]);
      expect(a.counters.icmp).to.include({ echoRequestsSent: 1, echoRepliesReceived: 1 });
      expect(b.counters.icmp).to.include({ echoRequestsReceived: 1, echoRepliesSent: 1 });
      expect(a.nextDeadlineMs()).to.equal(1000 + ARP_CACHE_TTL_MS - 1000); // only the ARP entry (learned at 0) remains
    });

    it('ping times out after timeoutMs when nobody answers (ARP unresolved)', () => {
      const { clock, a, hub } = pair();
      hub.run(a, a.ping(0, '10.0.0.9', { seq: 1 }));
      hub.advance(clock, PING_DEFAULT_TIMEOUT_MS - 1);
      expect(hub.of('pingTimeout')).to.have.length(0);
      hub.advance(clock, 1);
      expect(hub.of('pingTimeout', 'A')).to.deep.equal([{ kind: 'pingTimeout', nic: 0, targetIp: '10.0.0.9', id: 1, seq: 1 }]);
      expect(a.counters.icmp.timeouts).to.equal(1);
    });

    it('a late reply after the timeout is counted as unmatched, not reported', () => {
      const { clock, a, b } = pair();
      const hub = new Hub();
      hub.attach(a); hub.attach(b);
      hub.run(a, a.resolve(0, '10.0.0.2'));
      const out = a.ping(0, '10.0.0.2', { seq: 3, timeoutMs: 100 });
      const reply = b.receive(0, (out[0] as { frame: Buffer }).frame);
      clock.advance(100);
      expect(a.tick()[0]).to.include({ kind: 'pingTimeout', seq: 3 });
      expect(a.receive(0, (reply[0] as { frame: Buffer }).frame)).to.have.length(0);
      expect(a.counters.drops.unmatchedEchoReply).to.equal(1);
    });

    it('does not answer echo requests sent to a broadcast address', () => {
      const { a } = pair();
      const icmp = Buffer.alloc(16);
      emitIcmp({ kind: 'echo', type: ICMP_ECHO_REQUEST, code: 0, id: 1, seq: 1, payload: Buffer.alloc(8) }, icmp);
      expect(a.receive(0, ipFrame(IPPROTO_ICMP, icmp, { dstIp: 0x0a0000ff, dstMac: 0xffffffffffff }))).to.have.length(0);
      expect(a.counters.drops.broadcastEcho).to.equal(1);
      expect(a.receive(0, ipFrame(IPPROTO_ICMP, icmp))).to.have.length(1);
    });
  });

  describe('vNIC MTU (no fragmentation)', () => {
    it('a 9000-byte vNIC pings with 8972 data bytes in one 9014-byte frame and gets the reply; 8973 is refused', () => {
      const { a, b } = pair({ mtuBytes: 9000 });
      const hub = new Hub();
      hub.attach(a); hub.attach(b);
      hub.run(a, a.resolve(0, '10.0.0.2'));
      expect(maxPingPayloadBytes(9000)).to.equal(8972);
      hub.run(a, a.ping(0, '10.0.0.2', { seq: 1, sizeBytes: 8972 }));
      expect(hub.wire.at(-2)!.frame.length).to.equal(9014);
      expect(hub.of('pingReply', 'A')).to.have.length(1);
      expect(hub.of('pingReply', 'A')[0]).to.include({ bytes: 8980 });
      expect(() => a.ping(0, '10.0.0.2', { seq: 2, sizeBytes: 8973 })).to.throw(VfabError, /8973 bytes does not fit the 9000-byte MTU/).with.property('code', 'VFAB_ENDPOINT_TOO_LARGE');
    });

    it('defaults to 1500 (1472 data bytes), setMtu raises it within 68..9000 and refuses the rest', () => {
      const { a } = pair();
      expect(a.nicMtu(0)).to.equal(1500);
      expect(() => a.ping(0, '10.0.0.2', { sizeBytes: 1473 })).to.throw(VfabError).with.property('code', 'VFAB_ENDPOINT_TOO_LARGE');
      a.setMtu(0, 9000);
      expect(a.nicMtu(0)).to.equal(9000);
      expect(a.nicMaxFrameBytes(0)).to.equal(9014);
      for (const bad of [67, 9001, 1500.5]) expect(() => a.setMtu(0, bad)).to.throw(VfabError).with.property('code', 'VFAB_ENDPOINT_BAD_CONFIG');
      expect(a.nicMtu(0)).to.equal(9000);
    });

    it('drops a received packet larger than its own MTU (counted oversize): a 1500-byte guest does not answer a jumbo ping', () => {
      const { a, b } = pair({ mtuBytes: 9000 });
      const hub = new Hub();
      hub.attach(a); hub.attach(b);
      hub.run(a, a.resolve(0, '10.0.0.2'));
      b.setMtu(0, 1500);
      hub.run(a, a.ping(0, '10.0.0.2', { seq: 1, sizeBytes: 1473 }));
      expect(b.counters.drops.oversize).to.equal(1);
      expect(b.counters.icmp.echoRequestsReceived).to.equal(0);
      hub.run(a, a.ping(0, '10.0.0.2', { seq: 2, sizeBytes: 1472 }));
      expect(hub.of('pingReply', 'A').map((r) => r.seq)).to.deep.equal([2]);
    });
  });

  describe('routing', () => {
    it('off-link destinations go to the gateway MAC (ARP for the gateway, IP dst unchanged)', () => {
      const clock = new ManualClock(0);
      const a = vm(clock, 'A', { mac: MAC_A, ipv4: '10.0.0.1', prefixLength: 24, gateway: '10.0.0.254' });
      const g = vm(clock, 'G', { mac: MAC_G, ipv4: '10.0.0.254', prefixLength: 24 });
      const hub = new Hub();
      hub.attach(a); hub.attach(g);
      a.powerOn(); g.powerOn();
      const acts = a.sendUdp(0, '192.168.5.5', 53, 4000, Buffer.from('q'));
      expect(arpOf((acts[0] as { frame: Buffer }).frame)?.tpa).to.equal(0x0a0000fe);
      hub.run(a, acts);
      const dataFrame = hub.wire.filter((w) => w.from === 'A').map((w) => w.frame).find((f) => parseEthernet(f).ok && ethDst(f) === MAC_G && f.readUInt16BE(12) === ETHERTYPE_IPV4)!;
      expect(dataFrame).to.not.equal(undefined);
      const ip = parseIpv4(dataFrame, 14);
      if (!ip.ok) throw ip.error;
      expect(ipv4ToString(ip.value.header.dst)).to.equal('192.168.5.5');
      expect(g.counters.drops.notOurIp).to.equal(1); // G is not a router
    });

    it('off-link without a gateway fails clearly (VFAB_ENDPOINT_NO_ROUTE), nothing is sent', () => {
      const { a } = pair();
      const acts = a.ping(0, '172.16.0.1');
      expect(acts).to.have.length(1);
      expect(acts[0]).to.include({ kind: 'sendFailed', code: 'VFAB_ENDPOINT_NO_ROUTE', dstIp: '172.16.0.1' });
      expect(a.counters.drops.noRoute).to.equal(1);
      expect(a.nextDeadlineMs()).to.equal(undefined); // no ping left pending
      expect(() => a.udpFrameTemplate(0, '172.16.0.1', 1, 1, 22)).to.throw(VfabError).with.property('code', 'VFAB_ENDPOINT_NO_ROUTE');
    });

    it('subnet and limited broadcasts go to ff:ff:ff:ff:ff:ff without ARP and are received', () => {
      const { a, b, hub } = pair();
      const acts = a.sendUdp(0, '10.0.0.255', 9, 9, Buffer.from('bc'));
      expect(ethDst((acts[0] as { frame: Buffer }).frame)).to.equal(0xffffffffffff);
      hub.run(a, acts);
      hub.run(a, a.sendUdp(0, '255.255.255.255', 9, 9, Buffer.from('bc2')));
      expect(hub.of('udp', 'B').map((u) => u.payload.toString())).to.deep.equal(['bc', 'bc2']);
      expect(b.counters.arp.requestsReceived).to.equal(0);
    });
  });

  describe('UDP', () => {
    it('delivers datagrams whose checksum verifies; a corrupted byte in flight is dropped as badChecksum', () => {
      const { a, b, hub } = pair();
      hub.run(a, a.resolve(0, '10.0.0.2'));
      const acts = a.sendUdp(0, '10.0.0.2', 4242, 1111, Buffer.from('important data'));
      const frame = (acts[0] as { frame: Buffer }).frame;
      const ip = parseIpv4(frame, 14);
      if (!ip.ok) throw ip.error;
      const u = parseUdp(frame, ip.value.payloadOffset, ip.value.payloadBytes, ip.value.header.src, ip.value.header.dst);
      expect(u.ok).to.equal(true);
      if (u.ok) expect(u.value.checksum).to.not.equal(0);
      const bad = Buffer.from(frame);
      bad[14 + 20 + 8 + 3] ^= 0x01;
      expect(b.receive(0, bad)).to.have.length(0);
      expect(b.counters.drops.badChecksum).to.equal(1);
      const good = b.receive(0, frame);
      expect(good).to.have.length(1);
      expect(good[0]).to.deep.include({ kind: 'udp', dstPort: 4242, srcPort: 1111 });
    });

    it('count-only ports count datagrams and bytes without actions; udpFrameTemplate frames resend as is', () => {
      const { a, b, hub } = pair();
      expect(a.udpFrameTemplate(0, '10.0.0.2', 9999, 1234, 86)).to.equal(undefined);
      hub.run(a, a.resolve(0, '10.0.0.2'));
      const t = a.udpFrameTemplate(0, '10.0.0.2', 9999, 1234, 86)!;
      expect(t.length).to.equal(14 + 20 + 8 + 86);
      b.setUdpCountOnly(9999);
      for (let i = 0; i < 100; i++) expect(b.receive(0, t)).to.have.length(0);
      expect(b.udpPortCounters(9999)).to.deep.equal({ datagrams: 100, bytes: 100 * 86 });
      expect(b.counters.udp.rxDatagrams).to.equal(100);
      b.setUdpCountOnly(9999, false);
      expect(b.receive(0, t)).to.have.length(1);
      expect(() => a.udpFrameTemplate(0, '10.0.0.2', 1, 1, -1)).to.throw(VfabError);
      expect(() => a.udpFrameTemplate(0, '10.0.0.2', 1, 1, 1473)).to.throw(VfabError).with.property('code', 'VFAB_ENDPOINT_TOO_LARGE');
      expect(a.udpFrameTemplate(0, '10.0.0.2', 1, 1, 1472)!.length).to.equal(1514);
      expect(a.udpFrameTemplate(0, '10.0.0.2', 1, 1, 0)!.length).to.equal(60); // padded
    });

    it('refuses a datagram larger than the MTU (no fragmentation)', () => {
      const { a } = pair();
      expect(() => a.sendUdp(0, '10.0.0.2', 1, 1, Buffer.alloc(1473))).to.throw(VfabError).with.property('code', 'VFAB_ENDPOINT_TOO_LARGE');
      expect(a.sendUdp(0, '10.0.0.2', 1, 1, Buffer.alloc(1472))).to.have.length(1); // ARP request
    });
  });

  describe('guest VLAN tagging (VGT, §2.1)', () => {
    it('§2.1 with guestVlanId every frame leaves tagged with that VID and ping works end to end', () => {
      const { clock, a, b, hub } = pair({ guestVlanId: 10 });
      hub.run(a, a.ping(0, '10.0.0.2', { seq: 1 }));
      expect(hub.wire.length).to.be.greaterThan(2);
      for (const w of hub.wire) {
        expect(ethIsTagged(w.frame)).to.equal(true);
        expect(ethVid(w.frame)).to.equal(10);
      }
      expect(hub.of('pingReply', 'A')).to.have.length(1);
      expect(clock.nowMs()).to.equal(0);
      expect(b.counters.drops.vlanMismatch).to.equal(0);
    });

    it('§2.1 a tagging guest ignores untagged frames and other VIDs; an untagging guest ignores tagged ones', () => {
      const { b } = pair({ guestVlanId: 10 });
      const untagged = buildArpRequest(MAC_A, '10.0.0.1', '10.0.0.2');
      expect(b.receive(0, untagged)).to.have.length(0);
      expect(b.receive(0, buildArpRequest(MAC_A, '10.0.0.1', '10.0.0.2', 11))).to.have.length(0);
      expect(b.counters.drops.vlanMismatch).to.equal(2);
      const ok = b.receive(0, buildArpRequest(MAC_A, '10.0.0.1', '10.0.0.2', 10));
      expect(ok).to.have.length(1);
      expect(ethVid((ok[0] as { frame: Buffer }).frame)).to.equal(10);
      const { a } = pair();
      expect(a.receive(0, buildArpRequest(MAC_B, '10.0.0.2', '10.0.0.1', 10))).to.have.length(0);
      expect(a.counters.drops.vlanMismatch).to.equal(1);
    });
  });

  describe('promiscuous mode and MAC change (§4)', () => {
    it('§4.2 a promiscuous guest sees unicast for others but never answers it', () => {
      const { clock, a, hub } = pair();
      const c = vm(clock, 'C', { mac: MAC_C, ipv4: '10.0.0.3' });
      c.powerOn();
      hub.attach(c);
      hub.run(a, a.resolve(0, '10.0.0.2'));
      const notForC = c.counters.drops.notForUs;
      expect(notForC).to.equal(1); // B's ARP reply to A
      expect(c.setPromiscuous(0, true)).to.deep.equal([{ kind: 'promiscuous', nic: 0, on: true }]);
      expect(c.setPromiscuous(0, true)).to.have.length(0);
      const before = hub.wire.length;
      hub.run(a, a.ping(0, '10.0.0.2'));
      expect(hub.wire.length - before).to.equal(2); // request + B's reply; nothing from C
      const sniffed = hub.of('sniffed', 'C');
      expect(sniffed.map((s) => ethSrc(s.frame))).to.deep.equal([MAC_A, MAC_B]);
      expect(c.counters.rxPromiscuousFrames).to.equal(2);
      expect(c.counters.icmp.echoRequestsReceived).to.equal(0);
      c.setPromiscuous(0, false);
      hub.run(a, a.ping(0, '10.0.0.2'));
      expect(hub.of('sniffed', 'C')).to.have.length(2);
      expect(c.counters.drops.notForUs).to.equal(notForC + 2);
    });

    it('§4.1/§4.3 setMac changes the receive filter and source MAC and tells the host; announce updates peers', () => {
      const { a, b, hub } = pair();
      hub.run(a, a.resolve(0, '10.0.0.2'));
      const newMac = parseMac('00:50:56:00:00:99');
      expect(b.setMac(0, newMac)).to.deep.equal([{ kind: 'macChanged', nic: 0, mac: newMac, previousMac: MAC_B }]);
      expect(b.nicMac(0)).to.equal(newMac);
      expect(b.nicInitialMac(0)).to.equal(MAC_B);
      // A still uses the old MAC: B no longer accepts it
      hub.run(a, a.ping(0, '10.0.0.2', { seq: 1 }));
      expect(b.counters.drops.notForUs).to.equal(1);
      expect(hub.of('pingReply')).to.have.length(0);
      const ann = b.announce(0);
      expect(ethSrc((ann[0] as { frame: Buffer }).frame)).to.equal(newMac);
      hub.run(b, ann);
      expect(a.arpTable()[0]!.mac).to.equal('00:50:56:00:00:99');
      hub.run(a, a.ping(0, '10.0.0.2', { seq: 2 }));
      expect(hub.of('pingReply', 'A').map((p) => p.seq)).to.deep.equal([2]);
      expect(() => b.setMac(0, 0x010000000000)).to.throw(VfabError);
    });
  });

  describe('robustness', () => {
    it('malformed input is dropped and counted by reason, never thrown', () => {
      const { a } = pair();
      const d = a.counters.drops;
      a.receive(0, Buffer.alloc(10));
      expect(d.runt).to.equal(1);
      a.receive(0, Buffer.alloc(9100));
      expect(d.oversize).to.equal(1);
      const badIp = ipFrame(IPPROTO_UDP, Buffer.alloc(8));
      badIp[24] ^= 0xff;
      a.receive(0, badIp);
      expect(d.badChecksum).to.equal(1);
      const truncIp = ipFrame(IPPROTO_UDP, Buffer.alloc(8));
      truncIp.writeUInt16BE(1000, 16);
      truncIp[24] = 0; truncIp[25] = 0;
      a.receive(0, truncIp);
      expect(d.malformed).to.equal(1);
      const arpShort = buildArpRequest(MAC_B, '10.0.0.2', '10.0.0.1').subarray(0, 30);
      a.receive(0, arpShort);
      expect(d.malformed).to.equal(2);
      const arpBadLen = buildArpRequest(MAC_B, '10.0.0.2', '10.0.0.1');
      arpBadLen[18] = 8;
      expect(a.receive(0, arpBadLen)).to.have.length(0);
      expect(d.malformed).to.equal(3);
      const icmp = Buffer.alloc(16);
      emitIcmp({ kind: 'echo', type: ICMP_ECHO_REQUEST, code: 0, id: 1, seq: 1, payload: Buffer.alloc(8) }, icmp);
      icmp[9] = 1;
      a.receive(0, ipFrame(IPPROTO_ICMP, icmp));
      expect(d.badChecksum).to.equal(2);
      const fragOk = ipFrame(IPPROTO_UDP, Buffer.alloc(8));
      fragOk[20] = 0x20; // more-fragments
      fragOk.writeUInt16BE(0, 24);
      fragOk.writeUInt16BE(internetChecksum(fragOk, 14, 20), 24);
      a.receive(0, fragOk);
      expect(d.fragment).to.equal(1);
      a.receive(0, ipFrame(IPPROTO_UDP, Buffer.alloc(8), { dstIp: 0x0a000063 }));
      expect(d.notOurIp).to.equal(1);
      a.receive(0, ipFrame(6, Buffer.alloc(20)));
      expect(d.unsupportedProtocol).to.equal(1);
      const unknown = Buffer.alloc(60);
      unknown.writeUIntBE(MAC_A, 0, 6);
      unknown.writeUInt16BE(0x88b5, 12);
      a.receive(0, unknown);
      expect(d.unsupportedEtherType).to.equal(1);
    });

    it('survives 2000 random and bit-flipped frames (seeded) without throwing', () => {
      const { a, b } = pair();
      const rnd = seededRandom(42);
      const valid = a.udpFrameTemplate(0, '10.0.0.255', 1, 1, 58)!;
      for (let i = 0; i < 2000; i++) {
        let f: Buffer;
        if (i % 2 === 0) {
          f = Buffer.alloc(Math.floor(rnd() * 200));
          for (let j = 0; j < f.length; j++) f[j] = Math.floor(rnd() * 256);
          if (f.length >= 6 && rnd() < 0.5) f.writeUIntBE(MAC_B, 0, 6);
          if (f.length >= 14 && rnd() < 0.5) f.writeUInt16BE(rnd() < 0.5 ? 0x0800 : 0x0806, 12);
        } else {
          f = Buffer.from(valid.subarray(0, 14 + Math.floor(rnd() * (valid.length - 13))));
          f[Math.floor(rnd() * f.length)] ^= 1 << Math.floor(rnd() * 8);
        }
        expect(() => b.receive(0, f)).to.not.throw();
      }
      expect(b.counters.rxFrames).to.equal(2000);
    });

    it('powered off: frames are dropped, sends fail with VFAB_ENDPOINT_POWERED_OFF', () => {
      const { a } = pair();
      a.powerOff();
      expect(a.receive(0, buildArpRequest(MAC_B, '10.0.0.2', '10.0.0.1'))).to.have.length(0);
      expect(a.counters.drops.poweredOff).to.equal(1);
      expect(a.ping(0, '10.0.0.2')[0]).to.include({ kind: 'sendFailed', code: 'VFAB_ENDPOINT_POWERED_OFF' });
      expect(a.sendRaw(0, Buffer.alloc(60))[0]).to.include({ kind: 'sendFailed' });
    });

    it('sendRaw sends exactly the given bytes (e.g. a forged source MAC)', () => {
      const { a } = pair();
      const forged = Buffer.alloc(60, 0x33);
      forged.writeUIntBE(MAC_C, 6, 6);
      const acts = a.sendRaw(0, forged);
      expect(acts).to.have.length(1);
      const out = (acts[0] as { frame: Buffer }).frame;
      expect(out.equals(forged)).to.equal(true);
      forged[0] = 0;
      expect(out[0]).to.equal(0x33); // a copy
      expect(() => a.sendRaw(0, Buffer.alloc(13))).to.throw(VfabError);
    });

    it('validates configuration and vNIC indices', () => {
      const clock = new ManualClock();
      const bad = (nics: unknown[]) => () => new VmEndpoint({ name: 'X', clock, nics: nics as never });
      expect(bad(Array.from({ length: 11 }, (_, i) => ({ name: `n${i}`, mac: MAC_A + i })))).to.throw(VfabError);
      expect(bad([{ name: 'e', mac: 0x010000000001 }])).to.throw(VfabError).with.property('code', 'VFAB_ENDPOINT_BAD_CONFIG');
      expect(bad([{ name: 'e', mac: MAC_A, ipv4: '10.0.0.300' }])).to.throw(VfabError).with.property('code', 'VFAB_ENDPOINT_BAD_CONFIG');
      expect(bad([{ name: 'e', mac: MAC_A, ipv4: '10.0.0.1', gateway: '10.0.1.1' }])).to.throw(VfabError).with.property('code', 'VFAB_ENDPOINT_BAD_CONFIG');
      expect(bad([{ name: 'e', mac: MAC_A, guestVlanId: 4095 }])).to.throw(VfabError);
      expect(bad([{ name: 'e', mac: MAC_A }, { name: 'e', mac: MAC_B }])).to.throw(VfabError);
      const { a } = pair();
      expect(() => a.receive(3, Buffer.alloc(60))).to.throw(VfabError).with.property('code', 'VFAB_ENDPOINT_BAD_NIC');
    });

    it('a VM without vNICs (a disk-only VM) powers on, sends nothing, and refuses a ping naming the missing vNIC', () => {
      const clock = new ManualClock();
      const vm = new VmEndpoint({ name: 'diskonly', clock, nics: [] });
      expect(vm.powerOn()).to.deep.equal([]);
      expect(vm.arpTable()).to.deep.equal([]);
      expect(() => vm.ping(0, '10.0.0.1')).to.throw(VfabError).with.property('code', 'VFAB_ENDPOINT_BAD_NIC');
      const moved = VmEndpoint.restore(vm.snapshot(), clock);
      expect(moved.ok, JSON.stringify(moved)).to.equal(true);
    });
  });
});
