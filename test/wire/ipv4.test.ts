// IPv4 header codec (RFC 791) and address helpers.
import { expect } from 'chai';
import {
  parseIpv4, emitIpv4, checkIpv4, Ipv4Check, ipv4CheckError, parseIpv4Address, ipv4ToString, prefixMask, sameSubnet,
  ipv4Src, ipv4Dst, ipv4Protocol, ipv4Ttl, ipv4TotalLength, ipv4HeaderBytes, ipv4IsFragment, emitIpv4Simple,
  IPPROTO_UDP, IPPROTO_ICMP, type Ipv4Header,
} from '../../lib/wire/ipv4.js';
import { VfabError } from '../../lib/errors.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
// Published example header (checksum b861) followed by 0x53 payload bytes.
const HDR = '4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7';
const packet = (): Buffer => Buffer.concat([hex(HDR), Buffer.alloc(0x73 - 20, 0x11)]);

describe('wire/ipv4', () => {
  it('parses the published example header: fields, DF, checksum', () => {
    const r = parseIpv4(packet());
    expect(r.ok).to.equal(true);
    if (!r.ok) return;
    const h = r.value.header;
    expect(h.totalLength).to.equal(0x73);
    expect(h.dontFragment).to.equal(true);
    expect(h.moreFragments).to.equal(false);
    expect(h.fragmentOffset).to.equal(0);
    expect(h.ttl).to.equal(64);
    expect(h.protocol).to.equal(IPPROTO_UDP);
    expect(h.checksum).to.equal(0xb861);
    expect(ipv4ToString(h.src)).to.equal('192.168.0.1');
    expect(ipv4ToString(h.dst)).to.equal('192.168.0.199');
    expect(r.value.headerBytes).to.equal(20);
    expect(r.value.payloadOffset).to.equal(20);
    expect(r.value.payloadBytes).to.equal(0x73 - 20);
    expect(r.value.isFragment).to.equal(false);
  });

  it('view accessors read the same fields without parsing', () => {
    const b = Buffer.concat([Buffer.from([0xee, 0xee]), packet()]);
    expect(ipv4HeaderBytes(b, 2)).to.equal(20);
    expect(ipv4TotalLength(b, 2)).to.equal(0x73);
    expect(ipv4Protocol(b, 2)).to.equal(17);
    expect(ipv4Ttl(b, 2)).to.equal(64);
    expect(ipv4Src(b, 2)).to.equal(0xc0a80001);
    expect(ipv4Dst(b, 2)).to.equal(0xc0a800c7);
    expect(ipv4IsFragment(b, 2)).to.equal(false);
  });

  it('round trip: emit of the parsed value into a 0xa5 buffer reproduces the bytes', () => {
    const r = parseIpv4(packet());
    if (!r.ok) throw r.error;
    const out = Buffer.alloc(20, 0xa5);
    expect(emitIpv4(r.value.header, out, 0)).to.equal(20);
    expect(out.toString('hex')).to.equal(hex(HDR).toString('hex'));
  });

  it('keeps options unchanged and computes the checksum over them', () => {
    const h: Ipv4Header = {
      tos: 0, totalLength: 28, identification: 7, dontFragment: false, moreFragments: false, fragmentOffset: 0, ttl: 1,
      protocol: IPPROTO_ICMP, src: 0x0a000001, dst: 0x0a000002, options: hex('94040000'), // router alert
    };
    const buf = Buffer.alloc(28, 0xa5);
    expect(emitIpv4(h, buf, 0)).to.equal(24);
    expect(buf[0]).to.equal(0x46);
    expect(buf.subarray(24).toString('hex')).to.equal('a5a5a5a5'); // payload untouched
    const r = parseIpv4(buf);
    expect(r.ok).to.equal(true);
    if (r.ok) {
      expect(Buffer.from(r.value.header.options).toString('hex')).to.equal('94040000');
      expect(r.value.payloadOffset).to.equal(24);
    }
  });

  it('rejects options that are not whole words on emit', () => {
    const h: Ipv4Header = {
      tos: 0, totalLength: 23, identification: 0, dontFragment: false, moreFragments: false, fragmentOffset: 0, ttl: 1,
      protocol: 1, src: 1, dst: 2, options: hex('010101'),
    };
    expect(() => emitIpv4(h, Buffer.alloc(40), 0)).to.throw(VfabError).with.property('code', 'VFAB_WIRE_IPV4_BAD_OPTIONS');
  });

  it('a bad header checksum is a typed error, not a throw', () => {
    const b = packet();
    b[10] ^= 0xff;
    const r = parseIpv4(b);
    expect(r.ok).to.equal(false);
    if (!r.ok) expect(r.error.code).to.equal('VFAB_WIRE_BAD_CHECKSUM');
  });

  it('ignores Ethernet padding after total length, rejects a packet longer than the bytes', () => {
    const small = Buffer.alloc(46, 0); // 28-byte packet padded to 46 as in a 60-byte frame
    emitIpv4Simple(small, 0, 0x0a000001, 0x0a000002, IPPROTO_UDP, 8, 1);
    const r = parseIpv4(small);
    expect(r.ok).to.equal(true);
    if (r.ok) expect(r.value.payloadBytes).to.equal(8);
    const r2 = parseIpv4(packet().subarray(0, 0x72));
    expect(r2.ok).to.equal(false);
    if (!r2.ok) expect(r2.error.code).to.equal('VFAB_WIRE_TRUNCATED');
  });

  it('rejects version != 4, IHL < 5, total length < IHL and truncated headers', () => {
    const cases: Array<[(b: Buffer) => void, string]> = [
      [(b) => { b[0] = 0x65; }, 'VFAB_WIRE_IPV4_BAD_VERSION'],
      [(b) => { b[0] = 0x44; }, 'VFAB_WIRE_IPV4_BAD_HEADER_LEN'],
      [(b) => { b[2] = 0; b[3] = 19; }, 'VFAB_WIRE_IPV4_BAD_TOTAL_LEN'],
      [(b) => { b[0] = 0x4f; }, 'VFAB_WIRE_TRUNCATED'],
    ];
    for (const [mutate, code] of cases) {
      const b = packet().subarray(0, 40);
      b[2] = 0; b[3] = 40;
      mutate(b);
      const r = parseIpv4(b);
      expect(r.ok, code).to.equal(false);
      if (!r.ok) expect(r.error.code).to.equal(code);
    }
    expect(checkIpv4(hex('4500'), 0)).to.equal(Ipv4Check.Truncated);
    expect(ipv4CheckError(Ipv4Check.Truncated).code).to.equal('VFAB_WIRE_TRUNCATED');
  });

  it('parses fragments and reports them as fragments (no reassembly)', () => {
    const h: Ipv4Header = {
      tos: 0, totalLength: 28, identification: 9, dontFragment: false, moreFragments: true, fragmentOffset: 0, ttl: 64,
      protocol: IPPROTO_UDP, src: 1, dst: 2, options: new Uint8Array(0),
    };
    const b = Buffer.alloc(28);
    emitIpv4(h, b, 0);
    let r = parseIpv4(b);
    expect(r.ok && r.value.isFragment && r.value.header.moreFragments).to.equal(true);
    emitIpv4({ ...h, moreFragments: false, fragmentOffset: 185 }, b, 0);
    r = parseIpv4(b);
    expect(r.ok && r.value.isFragment).to.equal(true);
    if (r.ok) expect(r.value.header.fragmentOffset).to.equal(185);
    expect(ipv4IsFragment(b, 0)).to.equal(true);
  });

  it('address helpers: text <-> number (strict dotted quad), masks and subnets', () => {
    expect(parseIpv4Address('10.1.2.3')).to.equal(0x0a010203);
    expect(parseIpv4Address('255.255.255.255')).to.equal(0xffffffff);
    expect(ipv4ToString(0xc0a80001)).to.equal('192.168.0.1');
    for (const bad of ['10.1.2', '10.1.2.256', '0x0a.1.2.3', 'foo', '']) {
      expect(() => parseIpv4Address(bad), bad).to.throw(VfabError).with.property('code', 'VFAB_BAD_IPV4');
    }
    expect(prefixMask(24)).to.equal(0xffffff00);
    expect(prefixMask(0)).to.equal(0);
    expect(prefixMask(32)).to.equal(0xffffffff);
    expect(() => prefixMask(33)).to.throw(VfabError);
    expect(sameSubnet(0x0a000001, 0x0a0000fe, prefixMask(24))).to.equal(true);
    expect(sameSubnet(0x0a000001, 0x0a000101, prefixMask(24))).to.equal(false);
  });
});
