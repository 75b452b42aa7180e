// UDP (RFC 768) over IPv4 with the pseudo-header checksum.
import { expect } from 'chai';
import {
  parseUdp, emitUdp, checkUdp, UdpCheck, udpCheckError, fillUdpChecksum, udpSrcPort, udpDstPort, udpLength,
  udpChecksumField,
} from '../../lib/wire/udp.js';
import { internetChecksum, ipv4PseudoHeaderSum } from '../../lib/wire/checksum.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const SRC = 0xc0a80001; // 192.168.0.1
const DST = 0xc0a800c7; // 192.168.0.199
// 1234 -> 5678, "hello"; checksum 0x1ee9 computed independently (pseudo-header + header + data, padded).
const DGRAM = Buffer.concat([hex('04d2 162e 000d 1ee9'), Buffer.from('hello')]);

describe('wire/udp', () => {
  it('parses a datagram with a valid pseudo-header checksum; views agree', () => {
    const r = parseUdp(DGRAM, 0, DGRAM.length, SRC, DST);
    if (!r.ok) throw r.error;
    expect(r.value.srcPort).to.equal(1234);
    expect(r.value.dstPort).to.equal(5678);
    expect(r.value.checksum).to.equal(0x1ee9);
    expect(Buffer.from(r.value.payload).toString()).to.equal('hello');
    expect(udpSrcPort(DGRAM, 0)).to.equal(1234);
    expect(udpDstPort(DGRAM, 0)).to.equal(5678);
    expect(udpLength(DGRAM, 0)).to.equal(13);
    expect(udpChecksumField(DGRAM, 0)).to.equal(0x1ee9);
  });

  it('round trip: emit into a 0xa5 buffer reproduces the fixture, checksum included', () => {
    const out = Buffer.alloc(DGRAM.length + 1, 0xa5);
    expect(emitUdp({ srcPort: 1234, dstPort: 5678, payload: Buffer.from('hello') }, SRC, DST, out, 0)).to.equal(13);
    expect(out.subarray(0, 13).equals(DGRAM)).to.equal(true);
    expect(out[13]).to.equal(0xa5);
  });

  it('the checksum covers the pseudo-header: other addresses fail verification', () => {
    const r = parseUdp(DGRAM, 0, DGRAM.length, SRC, DST + 1);
    expect(r.ok).to.equal(false);
    if (!r.ok) expect(r.error.code).to.equal('VFAB_WIRE_BAD_CHECKSUM');
    const b = Buffer.from(DGRAM);
    b[9] ^= 0x20;
    expect(checkUdp(b, 0, b.length, SRC, DST)).to.equal(UdpCheck.BadChecksum);
  });

  it('a received checksum of 0 means none and is accepted', () => {
    const b = Buffer.from(DGRAM);
    b[6] = 0; b[7] = 0;
    b[9] ^= 0x20; // even with altered data
    expect(parseUdp(b, 0, b.length, SRC, DST).ok).to.equal(true);
  });

  it('a computed checksum of 0 is sent as 0xffff', () => {
    // Choose a 2-byte payload that makes the one's-complement sum 0xffff.
    const probe = Buffer.alloc(10);
    emitUdp({ srcPort: 7, dstPort: 9, payload: Buffer.alloc(2) }, SRC, DST, probe);
    const c = internetChecksum(probe.fill(0, 6, 8), 0, 10, ipv4PseudoHeaderSum(SRC, DST, 17, 10));
    const payload = Buffer.from([c >>> 8, c & 0xff]);
    const out = Buffer.alloc(10, 0xa5);
    emitUdp({ srcPort: 7, dstPort: 9, payload }, SRC, DST, out);
    expect(udpChecksumField(out, 0)).to.equal(0xffff);
    expect(parseUdp(out, 0, 10, SRC, DST).ok).to.equal(true);
  });

  it('length validation: below 8, beyond the IP payload, truncated header; bytes after the length are ignored', () => {
    const short = Buffer.from(DGRAM);
    short[5] = 7;
    expect(checkUdp(short, 0, short.length, SRC, DST)).to.equal(UdpCheck.BadLength);
    expect(checkUdp(DGRAM, 0, 12, SRC, DST)).to.equal(UdpCheck.BadLength);
    expect(checkUdp(DGRAM, 0, 7, SRC, DST)).to.equal(UdpCheck.Truncated);
    expect(checkUdp(DGRAM, 0, DGRAM.length + 1, SRC, DST)).to.equal(UdpCheck.Truncated);
    expect(udpCheckError(UdpCheck.BadLength).code).to.equal('VFAB_WIRE_UDP_BAD_LENGTH');
    const r = parseUdp(Buffer.concat([DGRAM, Buffer.alloc(5)]), 0, DGRAM.length + 5, SRC, DST);
    expect(r.ok).to.equal(true);
    if (r.ok) expect(r.value.payload.length).to.equal(5);
  });

  it('fillUdpChecksum recomputes after an in-place change', () => {
    const b = Buffer.from(DGRAM);
    b[8] = 'j'.charCodeAt(0);
    fillUdpChecksum(b, 0, b.length, SRC, DST);
    expect(checkUdp(b, 0, b.length, SRC, DST)).to.equal(UdpCheck.Ok);
  });
});
