// ARP (RFC 826) and RARP (RFC 903) codec, RARP announce of spec §3.11.
import { expect } from 'chai';
import {
  parseArp, emitArp, arpOp, arpSha, arpSpa, arpTha, arpTpa, arpIsEthernetIpv4, buildRarpAnnounce, buildGratuitousArp,
  buildArpRequest, buildArpReply, ARP_OP_REQUEST, ARP_OP_REPLY, RARP_OP_REQUEST_REVERSE, ARP_PACKET_BYTES,
} from '../../lib/wire/arp.js';
import { parseEthernet, ETHERTYPE_RARP, ETHERTYPE_ARP } from '../../lib/wire/ethernet.js';
import { parseMac } from '../../lib/wire/mac.js';
import { VfabError } from '../../lib/errors.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
// A captured-style ARP request: who-has 192.168.1.1 tell 192.168.1.100, from 00:0c:29:aa:bb:cc, padded to 60.
const ARP_REQUEST_FRAME =
  'ffffffffffff 000c29aabbcc 0806' +
  '0001 0800 06 04 0001 000c29aabbcc c0a80164 000000000000 c0a80101' +
  '000000000000000000000000000000000000';

describe('wire/arp', () => {
  it('parses a real ARP request frame (after the Ethernet header) and ignores padding', () => {
    const f = hex(ARP_REQUEST_FRAME);
    expect(f.length).to.equal(60);
    const eth = parseEthernet(f);
    if (!eth.ok) throw eth.error;
    expect(eth.value.header.etherType).to.equal(ETHERTYPE_ARP);
    const r = parseArp(f, eth.value.payloadOffset);
    if (!r.ok) throw r.error;
    expect(r.value).to.deep.equal({
      htype: 1, ptype: 0x0800, op: ARP_OP_REQUEST, sha: parseMac('00:0c:29:aa:bb:cc'), spa: 0xc0a80164, tha: 0, tpa: 0xc0a80101,
    });
    expect(arpOp(f, 14)).to.equal(1);
    expect(arpSha(f, 14)).to.equal(parseMac('00:0c:29:aa:bb:cc'));
    expect(arpSpa(f, 14)).to.equal(0xc0a80164);
    expect(arpTha(f, 14)).to.equal(0);
    expect(arpTpa(f, 14)).to.equal(0xc0a80101);
    expect(arpIsEthernetIpv4(f, 14)).to.equal(true);
  });

  it('round trip: emit into a 0xa5 buffer reproduces the 28 bytes and nothing more', () => {
    const f = hex(ARP_REQUEST_FRAME);
    const r = parseArp(f, 14);
    if (!r.ok) throw r.error;
    const out = Buffer.alloc(30, 0xa5);
    expect(emitArp(r.value, out, 1)).to.equal(29);
    expect(out[0]).to.equal(0xa5);
    expect(out[29]).to.equal(0xa5);
    expect(out.subarray(1, 29).toString('hex')).to.equal(f.subarray(14, 42).toString('hex'));
  });

  it('builders produce the same bytes as the fixture (request) and a unicast reply', () => {
    const req = buildArpRequest(parseMac('00:0c:29:aa:bb:cc'), '192.168.1.100', '192.168.1.1');
    expect(req.toString('hex')).to.equal(hex(ARP_REQUEST_FRAME).toString('hex'));
    const rep = buildArpReply(parseMac('00:50:56:00:00:01'), '192.168.1.1', parseMac('00:0c:29:aa:bb:cc'), '192.168.1.100');
    expect(rep.subarray(0, 6).toString('hex')).to.equal('000c29aabbcc');
    const p = parseArp(rep, 14);
    expect(p.ok && p.value.op).to.equal(ARP_OP_REPLY);
    if (p.ok) expect(p.value.tha).to.equal(parseMac('00:0c:29:aa:bb:cc'));
  });

  it('rejects wrong hlen/plen with VFAB_WIRE_ARP_BAD_ADDR_LEN', () => {
    for (const [hlen, plen] of [[8, 4], [6, 16]] as const) {
      const b = hex(ARP_REQUEST_FRAME).subarray(14);
      b[4] = hlen; b[5] = plen;
      const r = parseArp(b);
      expect(r.ok).to.equal(false);
      if (!r.ok) {
        expect(r.error.code).to.equal('VFAB_WIRE_ARP_BAD_ADDR_LEN');
        expect(r.error).to.be.instanceOf(VfabError);
      }
    }
  });

  it('rejects truncation with VFAB_WIRE_TRUNCATED', () => {
    const b = hex(ARP_REQUEST_FRAME).subarray(14, 14 + 27);
    for (const len of [0, 7, 27]) {
      const r = parseArp(b.subarray(0, len));
      expect(r.ok).to.equal(false);
      if (!r.ok) expect(r.error.code).to.equal('VFAB_WIRE_TRUNCATED');
    }
  });

  it('keeps unknown opcodes and hardware types (not an error)', () => {
    const b = Buffer.from(hex(ARP_REQUEST_FRAME).subarray(14, 42));
    b[1] = 6; // IEEE 802 hardware type
    b[7] = 9; // opcode 9 (InARP request)
    const r = parseArp(b);
    if (!r.ok) throw r.error;
    expect(r.value.htype).to.equal(6);
    expect(r.value.op).to.equal(9);
    const out = Buffer.alloc(ARP_PACKET_BYTES, 0xa5);
    emitArp(r.value, out);
    expect(out.equals(b)).to.equal(true);
  });

  it('§3.11 RARP announce: broadcast, 0x8035, op 3, sha = tha = MAC, spa = tpa = 0, 60 bytes', () => {
    const mac = parseMac('00:50:56:12:34:56');
    const f = buildRarpAnnounce(mac);
    expect(f.toString('hex')).to.equal(
      'ffffffffffff' + '005056123456' + '8035' +
      '0001 0800 0604 0003 005056123456 00000000 005056123456 00000000'.replace(/\s+/g, '') + '00'.repeat(18),
    );
    expect(f.length).to.equal(60);
    const r = parseArp(f, 14);
    expect(r.ok && r.value.op).to.equal(RARP_OP_REQUEST_REVERSE);
  });

  it('§3.11 RARP announce in VST carries an 802.1Q tag with the VLAN, still padded to 60', () => {
    const mac = parseMac('00:50:56:12:34:56');
    const f = buildRarpAnnounce(mac, 100);
    expect(f.length).to.equal(60);
    const eth = parseEthernet(f);
    if (!eth.ok) throw eth.error;
    expect(eth.value.header.tag?.vid).to.equal(100);
    expect(eth.value.header.tag?.tpid).to.equal(0x8100);
    expect(eth.value.header.etherType).to.equal(ETHERTYPE_RARP);
    expect(f.subarray(18, 46).toString('hex')).to.equal(buildRarpAnnounce(mac, 0).subarray(14, 42).toString('hex'));
    expect(() => buildRarpAnnounce(mac, 4095)).to.throw(VfabError).with.property('code', 'VFAB_WIRE_BAD_VLAN');
    expect(() => buildRarpAnnounce(mac, -1)).to.throw(VfabError);
  });

  it('gratuitous ARP: broadcast request with spa = tpa = the address, optional tag', () => {
    const mac = parseMac('00:50:56:00:00:09');
    const f = buildGratuitousArp(mac, '10.0.0.9', 20);
    const eth = parseEthernet(f);
    if (!eth.ok) throw eth.error;
    expect(eth.value.header.dst).to.equal(0xffffffffffff);
    expect(eth.value.header.tag?.vid).to.equal(20);
    const r = parseArp(f, eth.value.payloadOffset);
    if (!r.ok) throw r.error;
    expect(r.value.op).to.equal(ARP_OP_REQUEST);
    expect(r.value.spa).to.equal(0x0a000009);
    expect(r.value.tpa).to.equal(0x0a000009);
    expect(r.value.sha).to.equal(mac);
  });
});
