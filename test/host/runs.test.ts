// Differential tests of EsxHost's "run" fast paths against the per-frame paths they replace:
// receiveUplinkRun (fed by lib/link/codec.ts decodeLinkMessage with a frameRun handler) versus
// receiveUplink per frame (the same messages decoded without frameRun), and sendStreamFrames(s, n) versus
// n calls of sendStreamFrames(s, 1). Two hosts are built from one topology model on ManualClocks at the
// same time; everything observable must be identical: uplink bytes in order, taps, external-VM frames,
// events, host status (vSwitch and port counters, guest counters, teaming), MAC tables, stream sink
// reports and beacons handed to the teaming engine. Spec: docs/vsphere-behaviour.md §1 (forwarding), §2
// (VLANs), §3.9 (beacons), §5 (shaping). Leaves out sockets (daemons/hostd.ts) and the physical switch.

import { expect } from 'chai';
import sinon from 'sinon';
import { ManualClock } from '../../lib/clock.js';
import { EsxHost, type StreamSender } from '../../lib/host/host.js';
import { LinkEncoder, decodeLinkMessage, type LinkRecordHandler } from '../../lib/link/codec.js';
import { parseTopology } from '../../lib/topology/load.js';
import type { Host as HostModel } from '../../lib/topology/model.js';
import type { StreamReceiver } from '../../lib/traffic/stream.js';
import { writeStreamHeader } from '../../lib/traffic/stream.js';
import { buildArpReply, buildArpRequest } from '../../lib/wire/arp.js';
import { buildFrame, ETHERTYPE_IPV4, ETHERTYPE_VLAN } from '../../lib/wire/ethernet.js';
import { emitIcmp, ICMP_ECHO_REQUEST } from '../../lib/wire/icmp.js';
import { emitIpv4Simple, parseIpv4Address, IPPROTO_ICMP } from '../../lib/wire/ipv4.js';
import { parseMac, type Mac } from '../../lib/wire/mac.js';

const REMOTE = parseMac('00:1b:21:aa:bb:cc');
const REMOTE_IP = '192.0.2.100';
const SINK = parseMac('00:50:56:00:0a:01');
const RESP = parseMac('00:50:56:00:0a:02');
const FLAT = parseMac('00:50:56:00:0b:01');
const TRUNK = parseMac('00:50:56:00:0c:01');
const SHAPED = parseMac('00:50:56:00:0a:05');
const EXT = parseMac('00:50:56:00:0a:06');

function topology(opts: { loadBalancing?: string; active?: string; standby?: string } = {}): string {
  return `
name: runs
hosts:
  - name: esx1
    vswitches:
      - name: vSwitch0
        uplinks: [vmnic0, vmnic1]
        teaming: { loadBalancing: ${opts.loadBalancing ?? 'srcPortId'}, active: [${opts.active ?? 'vmnic0'}], standby: [${opts.standby ?? 'vmnic1'}] }
        portGroups:
          - { name: V10, vlan: 10 }
          - { name: V0, vlan: 0 }
          - { name: VGT, vlan: 4095 }
          - { name: SHAPED, vlan: 10, trafficShaping: { enabled: true, averageKbps: 1000, peakKbps: 1000, burstKB: 2 } }
    vms:
      - { name: sink, nics: [ { portGroup: V10, mac: "00:50:56:00:0a:01", ip: 192.0.2.1/24 } ] }
      - { name: resp, nics: [ { portGroup: V10, mac: "00:50:56:00:0a:02", ip: 192.0.2.2/24 } ] }
      - { name: flat, nics: [ { portGroup: V0, mac: "00:50:56:00:0b:01", ip: 198.51.100.1/24 } ] }
      - { name: trunk, nics: [ { portGroup: VGT, mac: "00:50:56:00:0c:01", ip: 203.0.113.1/24, guestVlan: 20 } ] }
      - { name: shaped, nics: [ { portGroup: SHAPED, mac: "00:50:56:00:0a:05", ip: 192.0.2.5/24 } ] }
      - { name: ext, external: true, nics: [ { portGroup: V10, mac: "00:50:56:00:0a:06", ip: 192.0.2.6/24 } ] }
`;
}

/** One host and everything it put out, in order. */
class Rig {
  readonly clock = new ManualClock(0);
  readonly host: EsxHost;
  readonly out: string[] = [];
  readonly events: unknown[] = [];
  readonly runs: number[] = [];
  private arrivalNs = 0;

  constructor(model: HostModel) {
    this.host = new EsxHost(model, this.clock, {
      uplinkTx: (vmnic, frame) => this.out.push(`tx ${vmnic} ${hex(frame)}`),
      event: (e) => this.events.push(JSON.parse(JSON.stringify(e))),
      tap: (point, dir, frame) => this.out.push(`tap ${point} ${dir} ${hex(frame)}`),
      vmTx: (vm, nic, frame) => this.out.push(`vm ${vm}.${nic} ${hex(frame)}`),
      // like hostd, arrivals are stamped once per received message (one I/O callback): the frames of a
      // message arrive at one instant, whichever way they are delivered; each message at a later one
      streamNowNs: () => this.arrivalNs,
    });
    this.host.powerOnAll();
    this.host.setUplinkLink('vmnic0', true);
    this.host.setUplinkLink('vmnic1', true);
    this.host.setVmLink('ext', 0, true);
  }

  /** Decodes link messages into the host: frame by frame, or with frameRun (runs). */
  feed(vmnic: string, messages: Buffer[], runs: boolean): void {
    const base: LinkRecordHandler = {
      frame: (f) => this.host.receiveUplink(vmnic, f),
      carrier() {},
      hello() {},
      captureFrame() {},
      recordError(e) {
        throw e;
      },
      unknownRecord() {},
    };
    const handler: LinkRecordHandler = runs
      ? {
          ...base,
          frameView: (f) => this.host.receiveUplink(vmnic, f),
          frameRun: (first, count, records, _frameBytes, maxFrameBytes) => {
            this.runs.push(count);
            this.host.receiveUplinkRun(vmnic, first, records, maxFrameBytes);
          },
        }
      : base;
    for (const m of messages) {
      this.arrivalNs += 1000;
      expect(decodeLinkMessage(m, handler).ok).to.equal(true);
    }
  }

  snapshot() {
    return { out: this.out, events: this.events, status: this.host.status(), macTable: this.host.macTable(), nextDeadlineMs: this.host.nextDeadlineMs() };
  }
}

function hex(frame: Uint8Array): string {
  return Buffer.from(frame).toString('hex');
}

function twins(yaml = topology()): { a: Rig; b: Rig } {
  const model = parseTopology(yaml, 'runs.yaml').hosts[0]!;
  const a = new Rig(model);
  const b = new Rig(model);
  // power-on and link-up output (RARPs) is the same on both; the tests compare what follows
  expect(b.snapshot()).to.deep.equal(a.snapshot());
  for (const r of [a, b]) {
    r.out.length = 0;
    r.events.length = 0;
  }
  return { a, b };
}

function encode(frames: Uint8Array[]): Buffer[] {
  const enc = new LinkEncoder();
  for (const f of frames) expect(enc.appendFrame(f)).to.equal(true);
  return enc.take().map((m) => Buffer.from(m));
}

/** Feeds the same frames to `a` per frame and `b` with runs; everything observable must agree. */
function compareReceive(a: Rig, b: Rig, vmnic: string, frames: Uint8Array[], sinks?: [StreamReceiver, StreamReceiver]): void {
  const messages = encode(frames);
  a.feed(vmnic, messages, false);
  b.feed(vmnic, messages, true);
  expect(b.runs.length, 'the codec handed at least one run to receiveUplinkRun').to.be.greaterThan(0);
  expect(b.snapshot()).to.deep.equal(a.snapshot());
  if (sinks) expect(sinks[1].report()).to.deep.equal(sinks[0].report());
}

// ------------------------------------------------------------------ frame builders

function ipv4Frame(dst: Mac, src: Mac, vid: number | undefined, srcIp: string, dstIp: string, protocol: number, l4: Uint8Array, id = 0): Buffer {
  const body = Buffer.alloc(20 + l4.length);
  emitIpv4Simple(body, 0, parseIpv4Address(srcIp), parseIpv4Address(dstIp), protocol, l4.length, id);
  body.set(l4, 20);
  return buildFrame(vid === undefined ? { dst, src, etherType: ETHERTYPE_IPV4 } : { dst, src, tag: { tpid: ETHERTYPE_VLAN, pcp: 0, dei: 0, vid }, etherType: ETHERTYPE_IPV4 }, body);
}

/** A UDP stream frame (lib/traffic/stream.ts header after the UDP header; zero UDP checksum). */
function streamFrame(dst: Mac, vid: number | undefined, dstIp: string, udpPort: number, streamId: number, seq: number, payloadBytes = 64): Buffer {
  const udp = Buffer.alloc(8 + payloadBytes);
  udp.writeUInt16BE(udpPort, 0);
  udp.writeUInt16BE(udpPort, 2);
  udp.writeUInt16BE(udp.length, 4);
  if (payloadBytes >= 20) writeStreamHeader(udp, 8, streamId, seq, 5000 + seq);
  return ipv4Frame(dst, REMOTE, vid, REMOTE_IP, dstIp, 17, udp);
}

function echoRequest(dst: Mac, vid: number | undefined, dstIp: string, seq: number): Buffer {
  const icmp = Buffer.alloc(8 + 32);
  emitIcmp({ kind: 'echo', type: ICMP_ECHO_REQUEST, code: 0, id: 0x77, seq, payload: Buffer.alloc(32, seq) }, icmp, 0);
  return ipv4Frame(dst, REMOTE, vid, REMOTE_IP, dstIp, IPPROTO_ICMP, icmp, seq);
}

/** A unicast ARP request (as a host refreshing its cache sends) to `dst`; sender IPs differ per `i`. */
function unicastArpRequest(dst: Mac, vid: number, targetIp: string, i: number): Buffer {
  const f = buildArpRequest(REMOTE, `192.0.2.${150 + i}`, targetIp, vid);
  f.writeUIntBE(dst, 0, 6);
  return f;
}

function beacon(vid: number | undefined, i: number): Buffer {
  const payload = Buffer.alloc(46, i);
  const src = 0x025600000001;
  return buildFrame(vid === undefined ? { dst: 0xffffffffffff, src, etherType: 0x8922 } : { dst: 0xffffffffffff, src, tag: { tpid: ETHERTYPE_VLAN, pcp: 0, dei: 0, vid }, etherType: 0x8922 }, payload);
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

// ------------------------------------------------------------------ receive

describe('EsxHost runs: receiveUplinkRun equals receiveUplink frame by frame', () => {
  it('§2.3 a stream sink (VST, tagged on the wire): identical sink report, vSwitch and port counters', () => {
    const { a, b } = twins();
    const sinks: [StreamReceiver, StreamReceiver] = [a.host.addStreamSink('sink', 1, 9000), b.host.addStreamSink('sink', 1, 9000)];
    // sizes vary, a duplicate and a reordered seq, a frame too short to carry the stamp once untagged
    // (the frames without a stamp, payload 0, come last: the guest's stack takes them, ending the fast path)
    const seqs = [...range(20), 12, 25, 20, 21, 22, 23, 24, ...range(14).map((i) => 26 + i)];
    const frames = seqs.map((s, i) => streamFrame(SINK, 10, '192.0.2.1', 9000, 1, s, i < 36 ? [64, 400, 20, 1400][i % 4] : [0, 64][i % 2]));
    const vs = b.host.vswitch('vSwitch0')!;
    // every frame of the fast path is counted by countRepeatFromUplink (repeatFromUplink counts through it)
    const fast = [sinon.spy(vs, 'countRepeatFromUplink')];
    compareReceive(a, b, 'vmnic0', frames, sinks);
    expect(fast[0]!.callCount, 'the fast path was taken (frames 2-37; the 37th goes to the stack)').to.equal(36);
    expect(sinks[1].report().received).to.be.greaterThan(30);
    expect(sinks[1].report().duplicates).to.equal(1);
  });

  it('§2.1 a stream sink on a VLAN 0 port group (untagged) and one on a VGT port (guest tag kept)', () => {
    const { a, b } = twins();
    const flat: [StreamReceiver, StreamReceiver] = [a.host.addStreamSink('flat', 2, 9002), b.host.addStreamSink('flat', 2, 9002)];
    compareReceive(a, b, 'vmnic0', range(30).map((s) => streamFrame(FLAT, undefined, '198.51.100.1', 9002, 2, s, 100 + s)), flat);
    const trunk: [StreamReceiver, StreamReceiver] = [a.host.addStreamSink('trunk', 3, 9003), b.host.addStreamSink('trunk', 3, 9003)];
    compareReceive(a, b, 'vmnic0', range(30).map((s) => streamFrame(TRUNK, 20, '203.0.113.1', 9003, 3, s)), trunk);
    expect(trunk[1].report().received).to.equal(30);
  });

  it('a run where one frame misses the sink (other UDP port, other stream) goes to the guest there and after, as per frame', () => {
    const { a, b } = twins();
    const sinks: [StreamReceiver, StreamReceiver] = [a.host.addStreamSink('sink', 1, 9000), b.host.addStreamSink('sink', 1, 9000)];
    const frames = range(20).map((s) => streamFrame(SINK, 10, '192.0.2.1', s === 7 ? 9999 : 9000, s === 12 ? 5 : 1, s));
    compareReceive(a, b, 'vmnic0', frames, sinks);
    expect(sinks[1].report().received).to.equal(18);
  });

  it('ICMP echo requests to a guest: every request gets its reply, in the same order and bytes as per frame', () => {
    const { a, b } = twins();
    compareReceive(a, b, 'vmnic0', range(12).map((s) => echoRequest(RESP, 10, '192.0.2.2', s)));
    const replies = b.out.filter((l) => l.startsWith('tx vmnic0'));
    expect(replies).to.have.length(12);
  });

  it('ICMP echo requests to a guest whose first frames go to a sink of another port: replies equal', () => {
    const { a, b } = twins();
    a.host.addStreamSink('resp', 9, 9009);
    b.host.addStreamSink('resp', 9, 9009);
    const frames = [...range(5).map((s) => streamFrame(RESP, 10, '192.0.2.2', 9009, 9, s)), ...range(6).map((s) => echoRequest(RESP, 10, '192.0.2.2', s))];
    compareReceive(a, b, 'vmnic0', frames);
    expect(b.out.filter((l) => l.startsWith('tx vmnic0'))).to.have.length(6);
  });

  it('unicast ARP requests to a guest (same first 16 bytes): every request answered in order, ARP caches equal', () => {
    const { a, b } = twins();
    compareReceive(a, b, 'vmnic0', range(8).map((i) => unicastArpRequest(RESP, 10, '192.0.2.2', i)));
    expect(b.out.filter((l) => l.startsWith('tx vmnic0'))).to.have.length(8);
  });

  it('§1.8 broadcast ARP requests (a run that is never taken whole): replies equal', () => {
    const { a, b } = twins();
    compareReceive(a, b, 'vmnic0', range(6).map((i) => buildArpRequest(REMOTE, `192.0.2.${150 + i}`, '192.0.2.2', 10)));
    expect(b.out.filter((l) => l.startsWith('tx vmnic0'))).to.have.length(6);
  });

  it('a tapped uplink: the tap sees every frame in the same bytes and order (sink behind it)', () => {
    const { a, b } = twins();
    for (const r of [a, b]) expect(r.host.setTap('esx1.vmnic0', true)).to.equal(true);
    const sinks: [StreamReceiver, StreamReceiver] = [a.host.addStreamSink('sink', 1, 9000), b.host.addStreamSink('sink', 1, 9000)];
    compareReceive(a, b, 'vmnic0', range(16).map((s) => streamFrame(SINK, 10, '192.0.2.1', 9000, 1, s)), sinks);
    expect(b.out.filter((l) => l.startsWith('tap esx1.vmnic0 in'))).to.have.length(16);
  });

  it('a tapped vNIC: the tap sees every frame (untagged) in the same bytes and order, for a sink and for a replying guest', () => {
    const { a, b } = twins();
    for (const r of [a, b]) {
      expect(r.host.setTap('sink.nic0', true)).to.equal(true);
      expect(r.host.setTap('resp.nic0', true)).to.equal(true);
    }
    const sinks: [StreamReceiver, StreamReceiver] = [a.host.addStreamSink('sink', 1, 9000), b.host.addStreamSink('sink', 1, 9000)];
    compareReceive(a, b, 'vmnic0', range(16).map((s) => streamFrame(SINK, 10, '192.0.2.1', 9000, 1, s, 30 + 7 * s)), sinks);
    compareReceive(a, b, 'vmnic0', range(6).map((s) => echoRequest(RESP, 10, '192.0.2.2', s)));
    expect(b.out.filter((l) => l.startsWith('tap sink.nic0 in'))).to.have.length(16);
    expect(b.out.filter((l) => l.startsWith('tap resp.nic0'))).to.have.length(12);
  });

  it('an external VM: its link gets every frame in the same bytes and order', () => {
    const { a, b } = twins();
    compareReceive(a, b, 'vmnic0', range(10).map((s) => streamFrame(EXT, 10, '192.0.2.6', 9000, 1, s, 50 + s)));
    expect(b.out.filter((l) => l.startsWith('vm ext.0'))).to.have.length(10);
  });

  it('§1.10 a run on the standby uplink (reverse path): nothing delivered, counters equal', () => {
    const { a, b } = twins();
    const sinks: [StreamReceiver, StreamReceiver] = [a.host.addStreamSink('sink', 1, 9000), b.host.addStreamSink('sink', 1, 9000)];
    compareReceive(a, b, 'vmnic1', range(10).map((s) => streamFrame(SINK, 10, '192.0.2.1', 9000, 1, s)), sinks);
    expect(sinks[1].report().received).to.equal(0);
  });

  it('§1.13 a run with a frame over the MTU: that frame dropped, the rest delivered, as per frame', () => {
    const { a, b } = twins();
    const sinks: [StreamReceiver, StreamReceiver] = [a.host.addStreamSink('sink', 1, 9000), b.host.addStreamSink('sink', 1, 9000)];
    compareReceive(a, b, 'vmnic0', range(10).map((s) => streamFrame(SINK, 10, '192.0.2.1', 9000, 1, s, s === 4 ? 1600 : 64)), sinks);
    expect(sinks[1].report().received).to.equal(9);
  });

  it('§3.9 beacons (EtherType 0x8922, tagged or not) go to the teaming engine only, each one, in order', () => {
    const { a, b } = twins();
    const spies = [a, b].map((r) => sinon.spy(r.host.teaming('vSwitch0')!, 'onBeacon'));
    compareReceive(a, b, 'vmnic1', [...range(6).map((i) => beacon(undefined, i)), ...range(6).map((i) => beacon(10, i))]);
    const calls = spies.map((s) => s.getCalls().map((c) => [c.args[0], hex(c.args[1] as Uint8Array)]));
    expect(calls[1]).to.have.length(12);
    expect(calls[1]).to.deep.equal(calls[0]);
    expect(b.host.vswitch('vSwitch0')!.counters().framesFromUplinks).to.equal(0);
  });
});

describe('EsxHost runs: the inner EtherType of tagged frames is outside the 16-byte run key', () => {
  // Tagged frames agree on their first 16 bytes (dst, src, 0x8100 + TCI) whatever their inner EtherType,
  // so a beacon (0x8922) can sit in a run behind a frame for a VM. Per frame it goes to the teaming
  // engine (§3.9, never to VMs); the run must do the same.
  it('§3.9 a tagged beacon inside a run behind stream frames to a sink goes to the teaming engine, not the VM', () => {
    const { a, b } = twins();
    const sinks: [StreamReceiver, StreamReceiver] = [a.host.addStreamSink('sink', 1, 9000), b.host.addStreamSink('sink', 1, 9000)];
    const spies = [a, b].map((r) => sinon.spy(r.host.teaming('vSwitch0')!, 'onBeacon'));
    const probe = streamFrame(SINK, 10, '192.0.2.1', 9000, 1, 99);
    probe.writeUInt16BE(0x8922, 16); // same dst, src and tag: only the inner EtherType differs
    const frames = [...range(4).map((s) => streamFrame(SINK, 10, '192.0.2.1', 9000, 1, s)), probe, streamFrame(SINK, 10, '192.0.2.1', 9000, 1, 4)];
    const messages = encode(frames);
    a.feed('vmnic0', messages, false);
    b.feed('vmnic0', messages, true);
    expect(b.runs).to.deep.equal([6]);
    expect(spies[0]!.callCount, 'per frame: the engine got the beacon').to.equal(1);
    expect(spies[1]!.callCount, 'runs: the engine got the beacon').to.equal(1);
    expect(b.snapshot()).to.deep.equal(a.snapshot());
    expect(sinks[1].report()).to.deep.equal(sinks[0].report());
  });

  it('§3.9 a tagged beacon inside a run to an external VM goes to the teaming engine, not the VM link', () => {
    const { a, b } = twins();
    const spies = [a, b].map((r) => sinon.spy(r.host.teaming('vSwitch0')!, 'onBeacon'));
    const probe = streamFrame(EXT, 10, '192.0.2.6', 9000, 1, 99);
    probe.writeUInt16BE(0x8922, 16);
    const messages = encode([streamFrame(EXT, 10, '192.0.2.6', 9000, 1, 0), probe, streamFrame(EXT, 10, '192.0.2.6', 9000, 1, 1)]);
    a.feed('vmnic0', messages, false);
    b.feed('vmnic0', messages, true);
    expect(spies[1]!.callCount).to.equal(spies[0]!.callCount);
    expect(b.snapshot()).to.deep.equal(a.snapshot());
  });
});

// ------------------------------------------------------------------ send

/** A stream sender on both rigs, the next hop resolved by an ARP reply fed to each (same bytes). */
function senders(a: Rig, b: Rig, vm: string, vmMac: Mac, vmIp: string, vid: number | undefined, dstIp = REMOTE_IP, remote = true, frameBytes = 200): [StreamSender, StreamSender] {
  const out: StreamSender[] = [];
  for (const r of [a, b]) {
    let s = r.host.streamSender(vm, 0, dstIp, 9100, frameBytes, 4);
    if (!s && remote) {
      r.host.receiveUplink('vmnic0', buildArpReply(REMOTE, dstIp, vmMac, vmIp, vid));
      s = r.host.streamSender(vm, 0, dstIp, 9100, frameBytes, 4);
    }
    for (let i = 0; !s && i < 3; i++) s = r.host.streamSender(vm, 0, dstIp, 9100, frameBytes, 4);
    if (!s) throw new Error(`${vm} could not resolve ${dstIp}`);
    out.push(s);
  }
  expect(b.snapshot()).to.deep.equal(a.snapshot());
  return [out[0]!, out[1]!];
}

/** 64 frames: `a` with 64 calls of count 1, `b` with one call of count 64; then everything must agree. */
function compareSend(a: Rig, b: Rig, s: [StreamSender, StreamSender], count = 64, nowNs = 123_456): void {
  for (let i = 0; i < count; i++) a.host.sendStreamFrames(s[0], 1, nowNs);
  b.host.sendStreamFrames(s[1], count, nowNs);
  expect(s[1].sent).to.equal(s[0].sent);
  expect(b.snapshot()).to.deep.equal(a.snapshot());
}

describe('EsxHost runs: sendStreamFrames(s, n) equals n calls of sendStreamFrames(s, 1)', () => {
  it('§2.2 a VST port (the vSwitch adds the tag): identical uplink bytes frame by frame (stamp and seq included), counters', () => {
    const { a, b } = twins();
    const s = senders(a, b, 'sink', SINK, '192.0.2.1', 10);
    const mark = b.out.length;
    const repeats = sinon.spy(b.host.vswitch('vSwitch0')!, 'countRepeatFromPort');
    compareSend(a, b, s);
    expect(repeats.callCount, 'the fast path was taken').to.equal(63);
    const sent = b.out.slice(mark).filter((l) => l.startsWith('tx vmnic0'));
    expect(sent).to.have.length(64);
    expect(new Set(sent).size, 'each frame has its own stamp').to.equal(64);
  });

  it('§2.1 a port group on VLAN 0 (no tag) and §2.2 a VGT port (guest tag)', () => {
    const { a, b } = twins();
    compareSend(a, b, senders(a, b, 'flat', FLAT, '198.51.100.1', undefined, '198.51.100.100'));
    compareSend(a, b, senders(a, b, 'trunk', TRUNK, '203.0.113.1', 20, '203.0.113.9'));
    expect(b.out.filter((l) => l.startsWith('tx vmnic0'))).to.have.length.greaterThan(64);
  });

  it('§5 a shaped port: identical frames sent, queued and dropped, also after the queue drains', () => {
    const { a, b } = twins();
    const s = senders(a, b, 'shaped', SHAPED, '192.0.2.5', 10);
    compareSend(a, b, s, 64);
    expect(b.host.shapingStats('shaped')).to.deep.equal(a.host.shapingStats('shaped'));
    for (const r of [a, b]) {
      r.clock.advance(2000);
      r.host.tick();
    }
    expect(b.snapshot()).to.deep.equal(a.snapshot());
    expect(b.host.shapingStats('shaped')).to.deep.equal(a.host.shapingStats('shaped'));
  });

  it('a tapped vNIC and a tapped uplink: identical tap records and uplink bytes', () => {
    const { a, b } = twins();
    const s = senders(a, b, 'sink', SINK, '192.0.2.1', 10);
    for (const r of [a, b]) r.host.setTap('sink.nic0', true);
    compareSend(a, b, s, 32);
    for (const r of [a, b]) {
      r.host.setTap('sink.nic0', false);
      r.host.setTap('esx1.vmnic0', true);
    }
    compareSend(a, b, s, 32);
    expect(b.out.filter((l) => l.startsWith('tap esx1.vmnic0 out'))).to.have.length(32);
  });

  it('§1.4 a stream to a VM on the same host (local delivery, measured by its sink): identical sink report', () => {
    const { a, b } = twins();
    const sinks = [a.host.addStreamSink('resp', 4, 9100), b.host.addStreamSink('resp', 4, 9100)];
    // the sender resolves resp through the vSwitch (ARP request and reply stay on the host)
    const s = senders(a, b, 'sink', SINK, '192.0.2.1', 10, '192.0.2.2', false);
    compareSend(a, b, s);
    expect(sinks[1]!.report()).to.deep.equal(sinks[0]!.report());
    expect(sinks[1]!.report().received).to.equal(64);
  });

  it('§3.5 ip hash over two active uplinks: identical uplink choice and bytes', () => {
    const { a, b } = twins(topology({ loadBalancing: 'ipHash', active: 'vmnic0, vmnic1', standby: '' }));
    compareSend(a, b, senders(a, b, 'sink', SINK, '192.0.2.1', 10));
    compareSend(a, b, senders(a, b, 'resp', RESP, '192.0.2.2', 10, REMOTE_IP));
  });

  it('a later burst after a fast one continues the sequence exactly as per frame (count 1 and count 2 mixed)', () => {
    const { a, b } = twins();
    const s = senders(a, b, 'sink', SINK, '192.0.2.1', 10);
    compareSend(a, b, s, 64, 1);
    compareSend(a, b, s, 2, 2);
    compareSend(a, b, s, 1, 3);
    compareSend(a, b, s, 17, 4);
  });
});

describe('EsxHost runs: the helpers see the fast paths', () => {
  it('twins() gives two hosts with the same state, and a lone frame is never a run', () => {
    const { a, b } = twins();
    compareReceiveSingle(a, b);
  });
});

function compareReceiveSingle(a: Rig, b: Rig): void {
  const messages = encode([echoRequest(RESP, 10, '192.0.2.2', 1)]);
  a.feed('vmnic0', messages, false);
  b.feed('vmnic0', messages, true);
  expect(b.runs).to.deep.equal([]);
  expect(b.snapshot()).to.deep.equal(a.snapshot());
}
