// CHAP helpers (lib/iscsi/chap.ts): the MD5 response of RFC 1994 and binary value encoding of RFC 7143 §6.1.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { chapResponse, decodeBinary, encodeBinary } from '../../lib/iscsi/chap.js';

describe('iscsi/chap', () => {
  it('the response is MD5 over identifier, secret and challenge, in that order', () => {
    const challenge = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
    const want = createHash('md5').update(Buffer.concat([Buffer.of(7), Buffer.from('secretsecret'), challenge])).digest();
    expect(chapResponse(7, 'secretsecret', challenge).equals(want)).to.equal(true);
    expect(chapResponse(8, 'secretsecret', challenge).equals(want)).to.equal(false);
    // a known vector: MD5 of 0x01 "abcdefghijkl" 0x00 * 16
    expect(chapResponse(1, 'abcdefghijkl', Buffer.alloc(16)).toString('hex')).to.equal(
      createHash('md5').update(Buffer.concat([Buffer.of(1), Buffer.from('abcdefghijkl'), Buffer.alloc(16)])).digest('hex'));
  });

  it('binary values round-trip as hex and decode from base64; malformed or oversize values are refused', () => {
    const b = Buffer.from('a1b2c3', 'hex');
    expect(encodeBinary(b)).to.equal('0xa1b2c3');
    expect(decodeBinary('0xa1b2c3')!.equals(b)).to.equal(true);
    expect(decodeBinary('0XA1B2C3')!.equals(b)).to.equal(true);
    expect(decodeBinary('0xabc')!.toString('hex')).to.equal('0abc');
    expect(decodeBinary('0b' + b.toString('base64'))!.equals(b)).to.equal(true);
    for (const bad of ['', '0x', 'a1b2', '0xzz', '0b', '0b!!!!', '0babc']) expect(decodeBinary(bad), bad).to.equal(undefined);
    expect(decodeBinary('0x' + 'ab'.repeat(17), 16)).to.equal(undefined);
    expect(decodeBinary('0x' + 'ab'.repeat(16), 16)!.length).to.equal(16);
  });
});
