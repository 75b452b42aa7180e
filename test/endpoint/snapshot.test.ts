// VmEndpoint.snapshot()/restore(): the hand-over value survives JSON, rebases ARP entries and pending pings
// on the new host's clock, keeps counters counting, and a snapshot out of shape is a typed refusal.
import { expect } from 'chai';
import { ManualClock } from '../../lib/clock.js';
import { VmEndpoint, ARP_CACHE_TTL_MS } from '../../lib/endpoint/index.js';
import { Hub, vm, MAC_A, MAC_B } from './harness.js';

function pair() {
  const clock = new ManualClock(0);
  const a = vm(clock, 'A', { mac: MAC_A, ipv4: '10.0.0.1' });
  const b = vm(clock, 'B', { mac: MAC_B, ipv4: '10.0.0.2' });
  const hub = new Hub();
  hub.attach(a);
  hub.attach(b);
  hub.run(a, a.powerOn());
  hub.run(b, b.powerOn());
  return { clock, a, b, hub };
}

describe('VmEndpoint snapshot and restore', () => {
  it('carries MAC, IP, ARP entries (rebased on the new clock), counters and UDP count-only ports through JSON', () => {
    const { clock, a, b, hub } = pair();
    a.setUdpCountOnly(9000);
    hub.run(b, b.sendUdp(0, '10.0.0.1', 9000, 5000, Buffer.alloc(10)));
    a.setMac(0, 0x005056000099);
    clock.advance(1_000);
    const snap = JSON.parse(JSON.stringify(a.snapshot()));
    const other = new ManualClock(500_000); // the destination's clock reads otherwise
    const r = VmEndpoint.restore(snap, other);
    expect(r.ok).to.equal(true);
    if (!r.ok) return;
    const c = r.value;
    expect(c.nicMac(0)).to.equal(0x005056000099);
    expect(c.nicInitialMac(0)).to.equal(MAC_A);
    expect(c.nicIp(0)).to.equal('10.0.0.1');
    expect(c.isPoweredOn).to.equal(true);
    expect(c.arpTable()).to.deep.equal([{ ip: '10.0.0.2', mac: '00:50:56:00:00:0b', nic: 'A-eth0', ageMs: 1_000 }]);
    expect(c.udpPortCounters(9000)).to.deep.equal({ datagrams: 1, bytes: 10 });
    expect(c.counters).to.deep.equal(a.counters);
    // the entry expires where it would have on the source: TTL minus the 1 s already spent
    other.advance(ARP_CACHE_TTL_MS - 1_001);
    expect(c.arpTable()).to.have.length(1);
    other.advance(1);
    expect(c.arpTable()).to.have.length(0);
  });

  it('an ARP entry expires after the time left it carried, on the new clock', () => {
    const { a } = pair();
    const snap = a.snapshot();
    snap.nics[0]!.arp = [{ ip: '10.0.0.7', mac: '00:50:56:00:00:07', ageMs: 0, ttlMs: 5_000 }];
    const clock = new ManualClock(70_000);
    const r = VmEndpoint.restore(snap, clock);
    if (!r.ok) throw r.error;
    clock.advance(4_999);
    expect(r.value.arpTable().map((e) => e.ip)).to.deep.equal(['10.0.0.7']);
    clock.advance(1);
    expect(r.value.arpTable()).to.deep.equal([]);
  });

  it('a ping sent before the hand-over is answered after it (the reply matches on the destination)', () => {
    const { clock, a, b, hub } = pair();
    hub.run(a, a.resolve(0, '10.0.0.2'));
    const req = a.ping(0, '10.0.0.2', { timeoutMs: 5_000 });
    const frame = req.find((x) => x.kind === 'transmit')!;
    clock.advance(100);
    const moved = VmEndpoint.restore(JSON.parse(JSON.stringify(a.snapshot())), clock);
    if (!moved.ok) throw moved.error;
    const c = moved.value;
    // B answers the request; the reply reaches the restored endpoint
    const replies = frame.kind === 'transmit' ? b.receive(0, frame.frame) : [];
    const reply = replies.find((x) => x.kind === 'transmit')!;
    clock.advance(5);
    const got = reply.kind === 'transmit' ? c.receive(0, reply.frame) : [];
    expect(got.map((x) => x.kind)).to.deep.equal(['pingReply']);
    expect(got[0]!.kind === 'pingReply' && got[0]!.rttMs).to.equal(105);
  });

  it('refuses a snapshot out of shape or range with VFAB_ENDPOINT_BAD_SNAPSHOT, never throwing', () => {
    const { a } = pair();
    const good = a.snapshot();
    const broken: unknown[] = [
      null, 'x', { ...good, version: 2 }, { ...good, nics: Array.from({ length: 11 }, () => good.nics[0]!) },
      { ...good, nics: [{ ...good.nics[0]!, mac: 'ff:ff:ff:ff:ff:ff' }] },
      { ...good, nics: [{ ...good.nics[0]!, mtuBytes: 10 }] },
      { ...good, nics: [{ ...good.nics[0]!, arp: [{ ip: '10.0.0.9', mac: '00:50:56:00:00:01', ageMs: 0, ttlMs: ARP_CACHE_TTL_MS + 1 }] }] },
      { ...good, pings: [{ nic: 3, targetIp: '10.0.0.2', id: 1, seq: 1, ageMs: 0, leftMs: 1 }] },
      { ...good, counters: { ...good.counters, rxFrames: -1 } },
      { ...good, counters: { ...good.counters, drops: 'none' } },
      { ...good, nics: [{ ...good.nics[0]!, gateway: '192.168.1.1' }] },
    ];
    for (const [i, s] of broken.entries()) {
      const r = VmEndpoint.restore(s, new ManualClock(0));
      expect(r.ok, `case ${i}`).to.equal(false);
      if (!r.ok) expect(r.error.code, `case ${i}`).to.equal('VFAB_ENDPOINT_BAD_SNAPSHOT');
    }
    expect(VmEndpoint.restore(JSON.parse(JSON.stringify(good)), new ManualClock(0)).ok).to.equal(true);
  });
});
