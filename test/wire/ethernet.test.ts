// Ethernet II + IEEE 802.1Q / 802.1ad framing.
import { expect } from 'chai';
import {
  parseEthernet, emitEthernet, buildFrame, pushVlanTag, popVlanTag, ethDst, ethSrc, ethOuterType, ethIsTagged, ethVid,
  ethInnerType, ethernetHeaderBytes, MAX_FRAME_BYTES, MIN_FRAME_BYTES, ETHERTYPE_IPV4, ETHERTYPE_VLAN, ETHERTYPE_QINQ,
  type EthernetHeader,
} from '../../lib/wire/ethernet.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const DST = 'ffffffffffff';
const SRC = '005056010203';
const UNTAGGED = hex(`${DST} ${SRC} 0800 4500`);
const TAGGED = hex(`${DST} ${SRC} 8100 a064 0806 0001`); // PCP 5, DEI 0, VID 100
const QINQ = hex(`${DST} ${SRC} 88a8 100a 8100 2014 0800 45`); // S-VID 10 (DEI 1), C-VID 20 (PCP 1)

describe('wire/ethernet', () => {
  it('parses an untagged frame; view accessors agree', () => {
    const r = parseEthernet(UNTAGGED);
    if (!r.ok) throw r.error;
    expect(r.value.header).to.deep.equal({ dst: 0xffffffffffff, src: 0x005056010203, etherType: ETHERTYPE_IPV4 });
    expect(r.value.payloadOffset).to.equal(14);
    expect(ethDst(UNTAGGED)).to.equal(0xffffffffffff);
    expect(ethSrc(UNTAGGED)).to.equal(0x005056010203);
    expect(ethIsTagged(UNTAGGED)).to.equal(false);
    expect(ethInnerType(UNTAGGED)).to.equal(ETHERTYPE_IPV4);
  });

  it('parses an 802.1Q tag: PCP, DEI, VID and the inner EtherType', () => {
    const r = parseEthernet(TAGGED);
    if (!r.ok) throw r.error;
    expect(r.value.header.tag).to.deep.equal({ tpid: ETHERTYPE_VLAN, pcp: 5, dei: 0, vid: 100 });
    expect(r.value.header.etherType).to.equal(0x0806);
    expect(r.value.payloadOffset).to.equal(18);
    expect(ethIsTagged(TAGGED)).to.equal(true);
    expect(ethVid(TAGGED)).to.equal(100);
    expect(ethInnerType(TAGGED)).to.equal(0x0806);
  });

  it('parses a 0x88a8 outer S-tag followed by a C-tag', () => {
    const r = parseEthernet(QINQ);
    if (!r.ok) throw r.error;
    expect(r.value.header.outerTag).to.deep.equal({ tpid: ETHERTYPE_QINQ, pcp: 0, dei: 1, vid: 10 });
    expect(r.value.header.tag).to.deep.equal({ tpid: ETHERTYPE_VLAN, pcp: 1, dei: 0, vid: 20 });
    expect(r.value.header.etherType).to.equal(ETHERTYPE_IPV4);
    expect(r.value.payloadOffset).to.equal(22);
    expect(ethernetHeaderBytes(r.value.header)).to.equal(22);
    expect(ethOuterType(QINQ)).to.equal(ETHERTYPE_QINQ);
    expect(ethIsTagged(QINQ)).to.equal(false); // the C-tag view only looks right after the MACs
  });

  it('round trip: emitting the parsed headers into 0xa5 buffers reproduces the bytes', () => {
    for (const f of [UNTAGGED, TAGGED, QINQ]) {
      const r = parseEthernet(f);
      if (!r.ok) throw r.error;
      const out = Buffer.alloc(r.value.payloadOffset + 1, 0xa5);
      expect(emitEthernet(r.value.header, out, 0)).to.equal(r.value.payloadOffset);
      expect(out.subarray(0, r.value.payloadOffset).equals(f.subarray(0, r.value.payloadOffset))).to.equal(true);
      expect(out[r.value.payloadOffset]).to.equal(0xa5);
    }
  });

  it('keeps an unknown EtherType and an 802.3 length field as they are; payload untouched', () => {
    const f = hex(`${DST} ${SRC} 88b5 deadbeef`);
    const r = parseEthernet(f);
    if (!r.ok) throw r.error;
    expect(r.value.header.etherType).to.equal(0x88b5);
    const rebuilt = buildFrame(r.value.header, f.subarray(r.value.payloadOffset));
    expect(rebuilt.subarray(0, f.length).equals(f)).to.equal(true);
    const llc = parseEthernet(hex(`${DST} ${SRC} 0026 4242 03`));
    expect(llc.ok && llc.value.header.etherType).to.equal(0x26);
  });

  it('rejects truncated input: short header, frame ending inside a tag', () => {
    for (const f of [hex('ffff'), UNTAGGED.subarray(0, 13), TAGGED.subarray(0, 17), QINQ.subarray(0, 17), QINQ.subarray(0, 21)]) {
      const r = parseEthernet(f);
      expect(r.ok, f.toString('hex')).to.equal(false);
      if (!r.ok) expect(r.error.code).to.equal('VFAB_WIRE_TRUNCATED');
    }
  });

  it('rejects frames above MAX_FRAME_BYTES and accepts exactly MAX_FRAME_BYTES', () => {
    const big = Buffer.alloc(MAX_FRAME_BYTES + 1);
    const r = parseEthernet(big);
    expect(r.ok).to.equal(false);
    if (!r.ok) expect(r.error.code).to.equal('VFAB_WIRE_OVERSIZE');
    expect(parseEthernet(big.subarray(0, MAX_FRAME_BYTES)).ok).to.equal(true);
  });

  it('buildFrame pads to 60 bytes with zeros and keeps longer payloads whole', () => {
    const h: EthernetHeader = { dst: 1, src: 2, etherType: 0x0800 };
    const f = buildFrame(h, Buffer.from([9, 9]));
    expect(f.length).to.equal(MIN_FRAME_BYTES);
    expect(f.subarray(16).every((b) => b === 0)).to.equal(true);
    expect(buildFrame(h, Buffer.alloc(100, 1)).length).to.equal(114);
  });

  it('pushVlanTag inserts TPID 0x8100 + TCI after the MACs; popVlanTag restores and re-pads', () => {
    const f = buildFrame({ dst: 0xffffffffffff, src: 0x005056010203, etherType: 0x0806 }, Buffer.alloc(46, 7));
    const t = pushVlanTag(f, 300, 3);
    expect(t.length).to.equal(64);
    expect(t.subarray(12, 18).toString('hex')).to.equal('8100612c0806');
    expect(ethVid(t)).to.equal(300);
    const p = popVlanTag(t);
    expect(p.equals(f)).to.equal(true);
    const small = popVlanTag(hex(`${DST} ${SRC} 8100 0005 0800 45`));
    expect(small.length).to.equal(MIN_FRAME_BYTES);
    expect(small.subarray(12, 15).toString('hex')).to.equal('080045');
  });
});
