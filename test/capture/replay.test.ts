// Tests for lib/capture/replay.ts: frames and gaps from files the writers produce (pcap and pcapng,
// tagged and untagged, several sizes), hand-built big-endian fixtures (pcap ns, pcapng with EPB and SPB),
// the refusals (link type, cut frames, sizes, empty, bounds), and that no prefix of a valid file throws.

import { expect } from 'chai';
import { PcapWriter, PcapngWriter } from '../../lib/capture/index.js';
import { readReplayFrames, captureFormatOf, MAX_REPLAY_FILE_BYTES, MAX_REPLAY_FRAMES } from '../../lib/capture/replay.js';
import { buildFrame, pushVlanTag } from '../../lib/wire/ethernet.js';
import { parseMac } from '../../lib/wire/mac.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const T0_NS = 1_700_000_000_000_000_000n;

function collect(): { sink: (c: Buffer) => void; bytes: () => Buffer } {
  const chunks: Buffer[] = [];
  return { sink: (c) => chunks.push(Buffer.from(c)), bytes: () => Buffer.concat(chunks) };
}

function frame(sizeBytes: number, fill: number): Buffer {
  return buildFrame({ dst: parseMac('00:50:56:00:00:02'), src: parseMac('00:50:56:00:00:03'), etherType: 0x88b5 }, Buffer.alloc(sizeBytes - 14, fill));
}

/** Three frames of different sizes, one 802.1Q-tagged, at 0, +1.5 ms, +11.5 ms. */
const FRAMES = [frame(60, 1), pushVlanTag(frame(300, 2), 30), frame(1514, 3)];
const TIMES_NS = [T0_NS, T0_NS + 1_500_000n, T0_NS + 11_500_000n];

function pcapFile(resolution: 'us' | 'ns' = 'us'): Buffer {
  const out = collect();
  const w = new PcapWriter(out.sink, { resolution });
  FRAMES.forEach((f, i) => w.writeFrame(TIMES_NS[i]!, f));
  return out.bytes();
}

function pcapngFile(): Buffer {
  const out = collect();
  const w = new PcapngWriter(out.sink);
  const a = w.addInterface({ name: 'a' });
  const b = w.addInterface({ name: 'b' });
  FRAMES.forEach((f, i) => w.writeFrame(i === 1 ? b : a, TIMES_NS[i]!, f, { direction: 'inbound', comment: 'x' }));
  return out.bytes();
}

// Big-endian pcap, ns resolution: one 14-byte frame at 1 s, one 16-byte frame at 1.000000250 s.
const PCAP_BE_NS = hex(`a1b23c4d 0002 0004 00000000 00000000 00040000 00000001
  00000001 00000000 0000000e 0000000e ffffffffffff 005056000001 88b5
  00000001 000000fa 00000010 00000010 ffffffffffff 005056000001 88b5 abcd`);
// Big-endian pcapng: SHB, IDB (Ethernet, no options: microseconds), EPB at 1 s, EPB at 1.002 s, SPB.
const PCAPNG_BE = hex(`0a0d0d0a 0000001c 1a2b3c4d 0001 0000 ffffffffffffffff 0000001c
  00000001 00000014 0001 0000 00040000 00000014
  00000006 00000030 00000000 00000000 000f4240 0000000e 0000000e ffffffffffff005056000001 88b5 0000 00000030
  00000006 00000030 00000000 00000000 000f4a10 0000000e 0000000e 005056000009005056000001 88b5 0000 00000030
  00000003 00000020 0000000e 005056000009005056000001 0800 0000 00000020`);

describe('capture: frames to replay', () => {
  it('reads the frames of a pcap file byte for byte, with the gaps between them', () => {
    for (const resolution of ['us', 'ns'] as const) {
      const r = readReplayFrames(pcapFile(resolution));
      if (!r.ok) throw r.error;
      expect(r.value.format).to.equal('pcap');
      expect(r.value.frames.map((f) => f.data.toString('hex'))).to.deep.equal(FRAMES.map((f) => f.toString('hex')));
      expect(r.value.frames.map((f) => f.gapMs)).to.deep.equal([0, 1.5, 10]);
      expect(r.value.spanMs).to.equal(11.5);
    }
  });

  it('reads the frames of a pcapng file across interfaces, with gaps', () => {
    const r = readReplayFrames(pcapngFile());
    if (!r.ok) throw r.error;
    expect(r.value.format).to.equal('pcapng');
    expect(r.value.frames.map((f) => f.data.toString('hex'))).to.deep.equal(FRAMES.map((f) => f.toString('hex')));
    expect(r.value.frames.map((f) => f.gapMs)).to.deep.equal([0, 1.5, 10]);
  });

  it('reads big-endian fixtures: pcap in ns, pcapng with Enhanced and Simple Packet Blocks', () => {
    const p = readReplayFrames(PCAP_BE_NS);
    if (!p.ok) throw p.error;
    expect(p.value.frames.map((f) => f.data.length)).to.deep.equal([14, 16]);
    expect(p.value.frames[1]!.gapMs).to.equal(0.00025);
    const n = readReplayFrames(PCAPNG_BE);
    if (!n.ok) throw n.error;
    expect(n.value.frames.map((f) => f.data.toString('hex'))).to.deep.equal([
      'ffffffffffff00505600000188b5', '00505600000900505600000188b5', '0050560000090050560000010800',
    ]);
    // EPB to EPB: 2 ms; an SPB has no time: no gap
    expect(n.value.frames.map((f) => f.gapMs)).to.deep.equal([0, 2, 0]);
  });

  it('never gives a negative gap when time goes back', () => {
    const out = collect();
    const w = new PcapWriter(out.sink);
    w.writeFrame(T0_NS + 5_000_000n, FRAMES[0]!);
    w.writeFrame(T0_NS, FRAMES[1]!);
    w.writeFrame(T0_NS + 7_000_000n, FRAMES[2]!);
    const r = readReplayFrames(out.bytes());
    if (!r.ok) throw r.error;
    expect(r.value.frames.map((f) => f.gapMs)).to.deep.equal([0, 0, 2]);
  });

  it('refuses what it cannot replay faithfully, with a typed error', () => {
    const code = (bytes: Uint8Array) => {
      const r = readReplayFrames(bytes);
      return r.ok ? 'ok' : r.error.code;
    };
    expect(code(hex('00112233 44556677'))).to.equal('VFAB_CAPTURE_BAD_MAGIC');
    const wifi = Buffer.from(PCAP_BE_NS);
    wifi.writeUInt32BE(105, 20); // LINKTYPE_IEEE802_11
    expect(code(wifi)).to.equal('VFAB_CAPTURE_LINK_TYPE');
    const cut = collect();
    new PcapWriter(cut.sink, { snaplenBytes: 100 }).writeFrame(T0_NS, FRAMES[2]!);
    expect(code(cut.bytes())).to.equal('VFAB_CAPTURE_FRAME_CUT');
    const runt = collect();
    new PcapWriter(runt.sink).writeFrame(T0_NS, Buffer.alloc(13));
    expect(code(runt.bytes())).to.equal('VFAB_CAPTURE_FRAME_SIZE');
    const giant = collect();
    new PcapWriter(giant.sink).writeFrame(T0_NS, Buffer.alloc(9023));
    expect(code(giant.bytes())).to.equal('VFAB_CAPTURE_FRAME_SIZE');
    const empty = collect();
    new PcapWriter(empty.sink);
    expect(code(empty.bytes())).to.equal('VFAB_CAPTURE_EMPTY');
    // the size bound is checked before anything is read (a stand-in with only a length)
    expect(code({ length: MAX_REPLAY_FILE_BYTES + 1 } as unknown as Uint8Array)).to.equal('VFAB_CAPTURE_FILE_TOO_LARGE');
  });

  it(`refuses a file of more than ${MAX_REPLAY_FRAMES} frames and takes one of exactly that many`, () => {
    const build = (n: number) => {
      const out = collect();
      const w = new PcapWriter(out.sink);
      const f = Buffer.alloc(14);
      for (let i = 0; i < n; i++) w.writeFrame(T0_NS, f);
      return out.bytes();
    };
    const at = readReplayFrames(build(MAX_REPLAY_FRAMES));
    expect(at.ok && at.value.frames.length).to.equal(MAX_REPLAY_FRAMES);
    const over = readReplayFrames(build(MAX_REPLAY_FRAMES + 1));
    expect(!over.ok && over.error.code).to.equal('VFAB_CAPTURE_TOO_MANY_FRAMES');
  });

  it('never throws on any prefix of a valid file (pcap, pcapng, both byte orders)', () => {
    for (const file of [pcapFile(), pcapngFile(), PCAP_BE_NS, PCAPNG_BE]) {
      for (let n = 0; n < file.length; n++) {
        const r = readReplayFrames(file.subarray(0, n));
        if (r.ok) expect(r.value.frames.length).to.be.greaterThan(0); // a prefix ending on a record boundary
        else expect(r.error.code).to.match(/^VFAB_CAPTURE_/);
      }
    }
  });

  it('tells the formats apart by their magic', () => {
    expect(captureFormatOf(pcapFile())).to.equal('pcap');
    expect(captureFormatOf(PCAP_BE_NS)).to.equal('pcap');
    expect(captureFormatOf(pcapngFile())).to.equal('pcapng');
    expect(captureFormatOf(PCAPNG_BE)).to.equal('pcapng');
    expect(captureFormatOf(hex('0a0d0d'))).to.equal(undefined);
  });
});
