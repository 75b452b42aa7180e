// 48-bit MAC addresses as numbers (IEEE 802 bit meanings).
import { expect } from 'chai';
import {
  readMac, writeMac, parseMac, macToString, macFromBytes, isGroupMac, isBroadcastMac, isLocalMac, BROADCAST_MAC, ZERO_MAC,
} from '../../lib/wire/mac.js';
import { VfabError } from '../../lib/errors.js';

describe('wire/mac', () => {
  it('reads and writes the six bytes big-endian at an offset, leaving neighbours alone', () => {
    const b = Buffer.alloc(8, 0xa5);
    writeMac(b, 1, 0x005056abcdef);
    expect(b.toString('hex')).to.equal('a5005056abcdefa5');
    expect(readMac(b, 1)).to.equal(0x005056abcdef);
  });

  it('round-trips extremes: zero, broadcast, high bit set', () => {
    for (const mac of [ZERO_MAC, BROADCAST_MAC, 0x800000000001, 0xfeffffffffff, 0x0000ffffffff, 0x000100000000]) {
      const b = Buffer.alloc(6, 0xa5);
      writeMac(b, 0, mac);
      expect(readMac(b, 0)).to.equal(mac);
      expect(parseMac(macToString(mac))).to.equal(mac);
    }
  });

  it('parses colon, dash and Cisco dotted forms, case-insensitive, trims spaces', () => {
    expect(parseMac('00:50:56:01:02:03')).to.equal(0x005056010203);
    expect(parseMac('00-50-56-0A-0b-0C')).to.equal(0x0050560a0b0c);
    expect(parseMac('0050.5601.0203')).to.equal(0x005056010203);
    expect(parseMac(' ff:ff:ff:ff:ff:ff ')).to.equal(BROADCAST_MAC);
  });

  it('rejects malformed text with VFAB_BAD_MAC', () => {
    for (const bad of ['00:50:56:01:02', '00:50:56:01:02:03:04', '0g:50:56:01:02:03', '', '005056010203x']) {
      expect(() => parseMac(bad), bad).to.throw(VfabError).with.property('code', 'VFAB_BAD_MAC');
    }
  });

  it('formats as lower-case colon hex with leading zeros', () => {
    expect(macToString(0x000c29000a0b)).to.equal('00:0c:29:00:0a:0b');
  });

  it('group, broadcast and locally-administered bits come from the first byte', () => {
    expect(isGroupMac(BROADCAST_MAC)).to.equal(true);
    expect(isGroupMac(0x01005e000001)).to.equal(true);
    expect(isGroupMac(0x005056000001)).to.equal(false);
    expect(isGroupMac(0x000000000001)).to.equal(false); // bit 0 of the last byte is not the I/G bit
    expect(isBroadcastMac(BROADCAST_MAC)).to.equal(true);
    expect(isBroadcastMac(0x01005e000001)).to.equal(false);
    expect(isLocalMac(0x020000000001)).to.equal(true);
    expect(isLocalMac(0x005056000001)).to.equal(false);
  });

  it('macFromBytes reads an array of six numbers', () => {
    expect(macFromBytes([0, 0x50, 0x56, 1, 2, 3])).to.equal(0x005056010203);
  });
});

describe('wire/mac macFromBytes length check', () => {
  it('throws VFAB_BAD_MAC for a byte count other than six', () => {
    expect(() => macFromBytes([1, 2, 3])).to.throw(VfabError).with.property('code', 'VFAB_BAD_MAC');
  });
});
