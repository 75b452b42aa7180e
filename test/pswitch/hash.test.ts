import { expect } from 'chai';
import {
  channelHash, ipv4Offset, LB_DST_IP, LB_DST_MAC, LB_SRC_DST_IP, LB_SRC_DST_MAC, LB_SRC_IP, LB_SRC_MAC,
} from '../../lib/pswitch/hash.js';
import { frame, MAC_A, MAC_B, MAC_C } from './frames.js';

describe('pswitch port-channel hash', () => {
  it('src-dst-ip on one /24 equals (lastOctet(src) XOR lastOctet(dst)) mod n, as vSphere IP hash (§3.4)', () => {
    for (let s = 1; s < 40; s += 3) {
      for (let d = 1; d < 40; d += 5) {
        const f = frame(MAC_B, MAC_A, { srcIp: `10.0.0.${s}`, dstIp: `10.0.0.${d}` });
        const h = channelHash(f, LB_SRC_DST_IP);
        expect(h % 2).to.equal((s ^ d) % 2);
        expect(h % 3).to.equal((s ^ d) % 3);
        expect(h % 4).to.equal((s ^ d) % 4);
      }
    }
  });

  it('src-dst-ip is symmetric and ignores MACs and the 802.1Q tag', () => {
    const a = frame(MAC_B, MAC_A, { srcIp: '192.168.1.7', dstIp: '10.1.2.3' });
    const b = frame(MAC_A, MAC_C, { srcIp: '10.1.2.3', dstIp: '192.168.1.7' });
    const tagged = frame(MAC_B, MAC_A, { srcIp: '192.168.1.7', dstIp: '10.1.2.3', vid: 20 });
    expect(channelHash(a, LB_SRC_DST_IP)).to.equal(channelHash(b, LB_SRC_DST_IP));
    expect(channelHash(a, LB_SRC_DST_IP)).to.equal(channelHash(tagged, LB_SRC_DST_IP));
    expect(ipv4Offset(a)).to.equal(14);
    expect(ipv4Offset(tagged)).to.equal(18);
  });

  it('IP modes fall back to the matching MAC mode for non-IPv4 and truncated IPv4 frames', () => {
    const arp = frame(MAC_B, MAC_A);
    expect(ipv4Offset(arp)).to.equal(-1);
    expect(channelHash(arp, LB_SRC_DST_IP)).to.equal(channelHash(arp, LB_SRC_DST_MAC));
    expect(channelHash(arp, LB_SRC_IP)).to.equal(channelHash(arp, LB_SRC_MAC));
    expect(channelHash(arp, LB_DST_IP)).to.equal(channelHash(arp, LB_DST_MAC));
    const ip = frame(MAC_B, MAC_A, { srcIp: '10.0.0.1', dstIp: '10.0.0.2' });
    const truncated = ip.subarray(0, 14 + 19);
    expect(ipv4Offset(truncated)).to.equal(-1);
    expect(channelHash(truncated, LB_SRC_DST_IP)).to.equal(channelHash(truncated, LB_SRC_DST_MAC));
  });

  it('single-field modes ignore the other field', () => {
    const f1 = frame(MAC_B, MAC_A, { srcIp: '10.0.0.1', dstIp: '10.0.0.2' });
    const f2 = frame(MAC_C, MAC_A, { srcIp: '10.0.0.1', dstIp: '10.0.0.9' });
    expect(channelHash(f1, LB_SRC_IP)).to.equal(channelHash(f2, LB_SRC_IP));
    expect(channelHash(f1, LB_SRC_MAC)).to.equal(channelHash(f2, LB_SRC_MAC));
    expect(channelHash(f1, LB_DST_IP)).to.not.equal(channelHash(f2, LB_DST_IP));
    expect(channelHash(f1, LB_DST_MAC)).to.not.equal(channelHash(f2, LB_DST_MAC));
    // MAC_A ^ MAC_B differ only in the last byte: 0x0a ^ 0x0b = 1.
    expect(channelHash(f1, LB_SRC_DST_MAC)).to.equal(1);
  });
});
