// CRC32C (lib/iscsi/crc32c.ts): the test vectors of RFC 3720 Appendix B.4, the running form over any
// split, the byte order digests travel in (least significant byte first, as libiscsi reads them).

import { expect } from 'chai';
import { CRC32C_INIT, crc32c, crc32cFinish, crc32cUpdate, readDigest, writeDigest } from '../../lib/iscsi/crc32c.js';
import { RFC3720_READ_PDU, RFC3720_READ_PDU_CRC } from './fixtures.js';

describe('iscsi/crc32c', () => {
  it('matches the RFC 3720 Appendix B.4 vectors', () => {
    expect(crc32c(new Uint8Array(32))).to.equal(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).to.equal(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).to.equal(0x46dd794e);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i))).to.equal(0x113fdb5c);
    expect(crc32c(RFC3720_READ_PDU)).to.equal(RFC3720_READ_PDU_CRC);
  });

  it('is the Castagnoli check value on "123456789"', () => {
    expect(crc32c(Buffer.from('123456789'))).to.equal(0xe3069283);
  });

  it('gives the same value however the input is split, at every byte and offset', () => {
    const data = Uint8Array.from({ length: 77 }, (_, i) => (i * 37 + 11) & 0xff);
    const whole = crc32c(data);
    for (let cut = 0; cut <= data.length; cut++) {
      const run = crc32cUpdate(crc32cUpdate(CRC32C_INIT, data, 0, cut), data, cut, data.length);
      expect(crc32cFinish(run), `cut at ${cut}`).to.equal(whole);
    }
    for (let start = 0; start < 16; start++) {
      const slow = crc32c(Uint8Array.from(data.subarray(start)));
      expect(crc32c(data, start), `start ${start}`).to.equal(slow);
    }
  });

  it('travels least significant byte first (aa 36 91 8a for 32 zero bytes)', () => {
    const b = new Uint8Array(6);
    writeDigest(b, 1, 0x8a9136aa);
    expect(Buffer.from(b).toString('hex')).to.equal('00aa36918a00');
    expect(readDigest(b, 1)).to.equal(0x8a9136aa);
  });
});
