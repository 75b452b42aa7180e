// Tests for lib/capture: byte-exact pcap/pcapng headers against hand-built fixtures, writer -> reader
// round trips, reader validation of untrusted input, and tshark reading every file written here with
// no malformed packet and with the VLAN IDs of tagged frames visible.

import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CAPTURE_SNAPLEN_BYTES,
  PcapWriter,
  PcapngWriter,
  readPcap,
  readPcapng,
} from '../../lib/capture/index.js';
import { ETHERTYPE_ARP, buildFrame, pushVlanTag } from '../../lib/wire/ethernet.js';
import { parseMac } from '../../lib/wire/mac.js';
import { TSHARK_INSTALL_HINT, requirePeerTool, runTshark } from '../helpers/peer-tools.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const TS_NS = 1_700_000_000_123_456_789n;

function collect(): { sink: (c: Buffer) => void; bytes: () => Buffer; chunks: Buffer[] } {
  const chunks: Buffer[] = [];
  return { sink: (c) => chunks.push(Buffer.from(c)), bytes: () => Buffer.concat(chunks), chunks };
}

/** A well-formed ARP request (tshark dissects it fully, so truncation would show as malformed). */
function arpRequest(): Buffer {
  const arp = hex('0001 0800 06 04 0001 005056000001 0a000001 000000000000 0a000002');
  return buildFrame({ dst: parseMac('ff:ff:ff:ff:ff:ff'), src: parseMac('00:50:56:00:00:01'), etherType: ETHERTYPE_ARP }, arp);
}
/** A frame with a local-experimental EtherType: its payload is opaque data to every dissector. */
function opaqueFrame(sizeBytes: number): Buffer {
  const payload = Buffer.alloc(sizeBytes - 14);
  for (let i = 0; i < payload.length; i++) payload[i] = i & 0xff;
  return buildFrame({ dst: parseMac('00:50:56:00:00:02'), src: parseMac('00:50:56:00:00:03'), etherType: 0x88b5 }, payload);
}

describe('capture: pcap writer', () => {
  it('emits the 24-byte little-endian microsecond file header on construction', () => {
    const out = collect();
    new PcapWriter(out.sink);
    expect(out.chunks).to.have.length(1);
    expect(out.bytes().toString('hex')).to.equal(hex('d4c3b2a1 0200 0400 00000000 00000000 00000400 01000000').toString('hex'));
  });

  it('uses the nanosecond magic 0xa1b23c4d when asked', () => {
    const out = collect();
    new PcapWriter(out.sink, { resolution: 'ns', snaplenBytes: 65535 });
    expect(out.bytes().toString('hex')).to.equal(hex('4d3cb2a1 0200 0400 00000000 00000000 ffff0000 01000000').toString('hex'));
  });

  it('writes a record header (seconds, microseconds, lengths) followed by the frame bytes', () => {
    const out = collect();
    const w = new PcapWriter(out.sink);
    out.chunks.length = 0;
    w.writeFrame(TS_NS, hex('0102030405'));
    expect(out.bytes().toString('hex')).to.equal(hex('00f15365 40e20100 05000000 05000000 0102030405').toString('hex'));
    expect(w.packets).to.equal(1);
  });

  it('accepts a number timestamp and keeps ns precision in ns mode', () => {
    const out = collect();
    const w = new PcapWriter(out.sink, { resolution: 'ns' });
    w.writeFrame(1_500_000_007, arpRequest());
    const file = readPcap(out.bytes());
    expect(file.ok && file.value.packets[0]!.timestampNs).to.equal(1_500_000_007n);
  });

  it('truncates frames longer than snaplen but records their original length', () => {
    const out = collect();
    const w = new PcapWriter(out.sink, { snaplenBytes: 64 });
    w.writeFrame(0n, opaqueFrame(1500));
    const file = readPcap(out.bytes());
    if (!file.ok) throw file.error;
    expect(file.value.packets[0]!.data.length).to.equal(64);
    expect(file.value.packets[0]!.originalLength).to.equal(1500);
  });

  it('rejects a negative timestamp and a bad snaplen with typed errors', () => {
    const out = collect();
    expect(() => new PcapWriter(out.sink, { snaplenBytes: 0 })).to.throw().with.property('code', 'VFAB_CAPTURE_BAD_SNAPLEN');
    const w = new PcapWriter(out.sink);
    expect(() => w.writeFrame(-1, arpRequest())).to.throw().with.property('code', 'VFAB_CAPTURE_BAD_TIMESTAMP');
  });
});

describe('capture: pcap reader', () => {
  it('round-trips frames, timestamps (us resolution) and an 802.1Q tag', () => {
    const out = collect();
    const w = new PcapWriter(out.sink);
    const tagged = pushVlanTag(arpRequest(), 42);
    w.writeFrame(TS_NS, arpRequest());
    w.writeFrame(TS_NS + 1_000n, tagged);
    const file = readPcap(out.bytes());
    if (!file.ok) throw file.error;
    expect(file.value.header).to.include({ resolution: 'us', linkType: 1, snaplenBytes: CAPTURE_SNAPLEN_BYTES, littleEndian: true });
    expect(file.value.packets.map((p) => p.timestampNs)).to.deep.equal([1_700_000_000_123_456_000n, 1_700_000_000_123_457_000n]);
    expect(file.value.packets[1]!.data.equals(tagged)).to.equal(true);
    expect(file.value.packets[1]!.data.readUInt16BE(14) & 0xfff).to.equal(42);
  });

  it('reads a big-endian file', () => {
    const be = hex('a1b2c3d4 0002 0004 00000000 00000000 0000ffff 00000001  00000001 00000002 00000003 00000003 aabbcc');
    const file = readPcap(be);
    if (!file.ok) throw file.error;
    expect(file.value.header.littleEndian).to.equal(false);
    expect(file.value.packets[0]!.timestampNs).to.equal(1_000_002_000n);
    expect(file.value.packets[0]!.data.toString('hex')).to.equal('aabbcc');
  });

  it('returns typed errors for bad magic, truncation and oversize records instead of throwing', () => {
    expect(readPcap(hex('00112233')).ok).to.equal(false);
    const bad = readPcap(Buffer.alloc(24));
    expect(!bad.ok && bad.error.code).to.equal('VFAB_CAPTURE_BAD_MAGIC');
    const out = collect();
    new PcapWriter(out.sink).writeFrame(0n, arpRequest());
    const whole = out.bytes();
    const cut = readPcap(whole.subarray(0, whole.length - 1));
    expect(!cut.ok && cut.error.code).to.equal('VFAB_CAPTURE_TRUNCATED');
    const huge = Buffer.from(whole);
    huge.writeUInt32LE(0x7fffffff, 24 + 8);
    const big = readPcap(huge);
    expect(!big.ok && big.error.code).to.equal('VFAB_CAPTURE_RECORD_TOO_LARGE');
  });
});

const SHB_HEX = '0a0d0d0a 28000000 4d3c2b1a 0100 0000 ffffffffffffffff 0400 0400 76666162 00000000 28000000';
const IDB_HEX =
  '01000000 34000000 0100 0000 00000400 0200 0400 65746830 0300 0600 75706c696e6b 0000 0900 0100 09000000 00000000 34000000';
const EPB_HEX =
  '06000000 3c000000 00000000 fe9c9717 15cd853d 05000000 05000000 0102030405 000000 0100 0200 6869 0000 0200 0400 01000000 00000000 3c000000';

describe('capture: pcapng writer', () => {
  it('emits a Section Header Block (byte-order magic, v1.0, unknown length, shb_userappl) on construction', () => {
    const out = collect();
    new PcapngWriter(out.sink);
    expect(out.bytes().toString('hex')).to.equal(hex(SHB_HEX).toString('hex'));
  });

  it('emits an Interface Description Block with if_name, if_description, if_tsresol=9, padded options', () => {
    const out = collect();
    const w = new PcapngWriter(out.sink);
    out.chunks.length = 0;
    expect(w.addInterface({ name: 'eth0', description: 'uplink' })).to.equal(0);
    expect(out.bytes().toString('hex')).to.equal(hex(IDB_HEX).toString('hex'));
  });

  it('emits an Enhanced Packet Block: ns timestamp halves, padded data, opt_comment, epb_flags, trailing length', () => {
    const out = collect();
    const w = new PcapngWriter(out.sink);
    w.addInterface({ name: 'eth0', description: 'uplink' });
    out.chunks.length = 0;
    w.writeFrame(0, TS_NS, hex('0102030405'), { direction: 'inbound', comment: 'hi' });
    expect(out.bytes().toString('hex')).to.equal(hex(EPB_HEX).toString('hex'));
  });

  it('writes a block with no options when neither direction nor comment is given', () => {
    const out = collect();
    const w = new PcapngWriter(out.sink);
    w.addInterface({ name: 'p' });
    out.chunks.length = 0;
    w.writeFrame(0, 0n, hex('01020304'));
    expect(out.bytes().length).to.equal(32 + 4);
    expect(out.bytes().readUInt32LE(4)).to.equal(36);
  });

  it('refuses an unknown interface id and an over-long comment', () => {
    const w = new PcapngWriter(() => {});
    expect(() => w.writeFrame(0, 0n, arpRequest())).to.throw().with.property('code', 'VFAB_CAPTURE_UNKNOWN_INTERFACE');
    w.addInterface({ name: 'p' });
    expect(() => w.writeFrame(0, 0n, arpRequest(), { comment: 'x'.repeat(70_000) })).to.throw().with.property('code', 'VFAB_CAPTURE_OPTION_TOO_LONG');
  });
});

describe('capture: pcapng reader', () => {
  it('round-trips interfaces, ns timestamps, direction, comments and a tagged frame', () => {
    const out = collect();
    const w = new PcapngWriter(out.sink);
    const up = w.addInterface({ name: 'esx1/vmnic0', description: 'uplink to sw1 gi0/1' });
    const vm = w.addInterface({ name: 'esx1/vm-a', snaplenBytes: 128 });
    const tagged = pushVlanTag(opaqueFrame(200), 100, 5);
    w.writeFrame(up, TS_NS, tagged, { direction: 'outbound', comment: 'trunk' });
    w.writeFrame(vm, TS_NS + 7n, opaqueFrame(300), { direction: 'inbound' });
    w.writeFrame(up, 1n, arpRequest());
    const file = readPcapng(out.bytes());
    if (!file.ok) throw file.error;
    expect(file.value.userApplication).to.equal('vfab');
    expect(file.value.interfaces.map((i) => [i.name, i.description, i.tsresol, i.linkType, i.snaplenBytes])).to.deep.equal([
      ['esx1/vmnic0', 'uplink to sw1 gi0/1', 9, 1, CAPTURE_SNAPLEN_BYTES],
      ['esx1/vm-a', undefined, 9, 1, 128],
    ]);
    const [p0, p1, p2] = file.value.packets;
    expect(p0).to.include({ interfaceId: 0, timestampNs: TS_NS, direction: 'outbound', comment: 'trunk', originalLength: tagged.length });
    expect(p0!.data.equals(tagged)).to.equal(true);
    expect(p1).to.include({ interfaceId: 1, timestampNs: TS_NS + 7n, direction: 'inbound', originalLength: 300 });
    expect(p1!.data.length).to.equal(128);
    expect(p2!.direction).to.equal(undefined);
    expect(p2!.timestampNs).to.equal(1n);
  });

  it('reads a big-endian section with microsecond default resolution', () => {
    const be = hex(
      '0a0d0d0a 0000001c 1a2b3c4d 0001 0000 ffffffffffffffff 0000001c' +
        ' 00000001 00000014 0001 0000 0000ffff 00000014' +
        ' 00000006 00000024 00000000 00000000 000f4241 00000004 00000004 aabbccdd 00000024',
    );
    const file = readPcapng(be);
    if (!file.ok) throw file.error;
    expect(file.value.littleEndian).to.equal(false);
    expect(file.value.packets[0]!.timestampNs).to.equal(1_000_001_000n);
    expect(file.value.packets[0]!.data.toString('hex')).to.equal('aabbccdd');
  });

  it('returns typed errors for mismatched trailing length, unknown interface, truncation, bad options', () => {
    const ok = Buffer.concat([hex(SHB_HEX), hex(IDB_HEX), hex(EPB_HEX)]);
    expect(readPcapng(ok).ok).to.equal(true);
    const code = (b: Buffer) => {
      const r = readPcapng(b);
      return r.ok ? 'ok' : r.error.code;
    };
    const trailing = Buffer.from(ok);
    trailing.writeUInt32LE(0x40, trailing.length - 4);
    expect(code(trailing)).to.equal('VFAB_CAPTURE_BAD_BLOCK');
    expect(code(Buffer.concat([hex(SHB_HEX), hex(EPB_HEX)]))).to.equal('VFAB_CAPTURE_UNKNOWN_INTERFACE');
    expect(code(ok.subarray(0, ok.length - 8))).to.equal('VFAB_CAPTURE_TRUNCATED');
    expect(code(hex('01000000 0c000000 0c000000'))).to.equal('VFAB_CAPTURE_BAD_MAGIC');
    const badOpt = Buffer.from(ok);
    badOpt.writeUInt16LE(0x00ff, 40 + 18); // if_name length runs past the IDB
    expect(code(badOpt)).to.equal('VFAB_CAPTURE_BAD_OPTION');
    const badLen = Buffer.from(ok);
    badLen.writeUInt32LE(13, 40 + 4);
    expect(code(badLen)).to.equal('VFAB_CAPTURE_BAD_BLOCK');
  });

  it('skips block types it does not know', () => {
    const unknown = hex('bad00000 10000000 deadbeef 10000000');
    const file = readPcapng(Buffer.concat([hex(SHB_HEX), unknown, hex(IDB_HEX), hex(EPB_HEX)]));
    if (!file.ok) throw file.error;
    expect(file.value.packets).to.have.length(1);
  });
});

describe('capture: tshark reads what we write', function () {
  let dir: string;
  before(function () {
    requirePeerTool(this, 'tshark', TSHARK_INSTALL_HINT);
    dir = mkdtempSync(join(tmpdir(), 'vfab-capture-'));
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function assertClean(file: string): void {
    const problems = runTshark(['-r', file, '-Y', '_ws.malformed || _ws.expert.severity >= "error"', '-T', 'fields', '-e', 'frame.number']);
    expect(problems.trim(), `malformed/error frames in ${file}`).to.equal('');
    const expert = runTshark(['-q', '-r', file, '-z', 'expert']);
    expect(expert).to.not.match(/Errors \(|Malformed/i);
  }

  for (const resolution of ['us', 'ns'] as const) {
    it(`pcap (${resolution}): no malformed packet, VLAN IDs of tagged frames shown`, () => {
      const out = collect();
      const w = new PcapWriter(out.sink, { resolution });
      w.writeFrame(TS_NS, arpRequest());
      w.writeFrame(TS_NS + 1n, pushVlanTag(arpRequest(), 42));
      w.writeFrame(TS_NS + 2n, pushVlanTag(opaqueFrame(1500), 4094));
      w.writeFrame(TS_NS + 3n, opaqueFrame(9000));
      const file = join(dir, `t-${resolution}.pcap`);
      writeFileSync(file, out.bytes());
      assertClean(file);
      const vids = runTshark(['-r', file, '-T', 'fields', '-e', 'vlan.id']).split('\n').map((l) => l.trim());
      expect(vids.slice(0, 4)).to.deep.equal(['', '42', '4094', '']);
      const times = runTshark(['-r', file, '-T', 'fields', '-e', 'frame.time_epoch']).trim().split('\n');
      expect(times[0]).to.match(resolution === 'ns' ? /^1700000000\.123456789/ : /^1700000000\.123456000/);
    });
  }

  it('pcapng: interfaces, direction, comment, VLAN ID, no malformed packet', () => {
    const out = collect();
    const w = new PcapngWriter(out.sink);
    const a = w.addInterface({ name: 'sw1/gi0/1', description: 'trunk to esx1' });
    const b = w.addInterface({ name: 'esx1/vm-a' });
    w.writeFrame(a, TS_NS, pushVlanTag(arpRequest(), 7), { direction: 'inbound', comment: 'first' });
    w.writeFrame(b, TS_NS + 1n, arpRequest(), { direction: 'outbound' });
    w.writeFrame(a, TS_NS + 2n, pushVlanTag(opaqueFrame(61), 300));
    const file = join(dir, 't.pcapng');
    writeFileSync(file, out.bytes());
    assertClean(file);
    const rows = runTshark(['-r', file, '-T', 'fields', '-E', 'separator=|', '-e', 'vlan.id', '-e', 'frame.interface_name', '-e', 'frame.comment', '-e', 'frame.time_epoch'])
      .trim()
      .split('\n');
    expect(rows).to.have.length(3);
    expect(rows[0]).to.match(/^7\|sw1\/gi0\/1\|first\|1700000000\.123456789/);
    expect(rows[1]).to.match(/^\|esx1\/vm-a\|\|/);
    expect(rows[2]).to.match(/^300\|sw1\/gi0\/1\|/);
    const dirs = runTshark(['-r', file, '-T', 'fields', '-e', 'frame.packet_flags_direction']).trim().split('\n');
    expect(dirs.slice(0, 2).map((d) => parseInt(d.trim(), 16))).to.deep.equal([1, 2]);
  });
});
