// Internet checksum (RFC 1071) and incremental update (RFC 1624).
import { expect } from 'chai';
import {
  sumWords, foldSum, internetChecksum, checksumVerifies, ipv4PseudoHeaderSum, updateChecksum16, updateChecksum32,
} from '../../lib/wire/checksum.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** Independent reference: sum 16-bit words, fold, complement (written plainly for comparison). */
function reference(bytes: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < bytes.length; i += 2) s += (bytes[i]! << 8) + (i + 1 < bytes.length ? bytes[i + 1]! : 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

describe('wire/checksum', () => {
  it('RFC 1071 §3 example: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2, checksum 0x220d', () => {
    const b = hex('0001f203f4f5f6f7');
    expect(foldSum(sumWords(b, 0, b.length))).to.equal(0xddf2);
    expect(internetChecksum(b, 0, b.length)).to.equal(0x220d);
  });

  it('verifies the published IPv4 header example (checksum 0xb861)', () => {
    const h = hex('4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7');
    expect(checksumVerifies(h, 0, 20)).to.equal(true);
    h[11] = 0x62;
    expect(checksumVerifies(h, 0, 20)).to.equal(false);
  });

  it('pads an odd trailing byte with zero and honours offset/length', () => {
    const b = hex('ff 0102 0304 05 ff');
    expect(internetChecksum(b, 1, 5)).to.equal(reference(hex('0102030405')));
  });

  it('matches the reference on random lengths 0..2000 at every offset and buffer alignment (wide path included)', () => {
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
    for (let len = 0; len < 2000; len += 37) {
      for (const shift of [0, 1, 2, 3]) {
        for (const off of [0, 1, 2, 3]) {
          const b = new Uint8Array(len + off + shift + 2).subarray(shift); // byteOffset = shift
          for (let i = 0; i < b.length; i++) b[i] = rnd();
          expect(internetChecksum(b, off, len)).to.equal(reference(b.subarray(off, off + len)), `len ${len} off ${off} shift ${shift}`);
        }
      }
    }
  });

  it('an all-0xff 9000-byte buffer folds correctly (large carries)', () => {
    const b = Buffer.alloc(9000, 0xff);
    expect(internetChecksum(b, 0, b.length)).to.equal(reference(b));
    expect(foldSum(0x1_0000_0000 * 3 + 5)).to.equal(foldSum(8));
  });

  it('chains: pseudo-header sum + data equals summing the concatenation', () => {
    const ph = ipv4PseudoHeaderSum(0xc0a80001, 0xc0a800c7, 17, 13);
    const data = hex('04d2162e000d0000') ;
    const whole = Buffer.concat([hex('c0a80001 c0a800c7 0011 000d'), data]);
    expect(internetChecksum(data, 0, data.length, ph)).to.equal(reference(whole));
  });

  it('RFC 1624 incremental update equals recomputation (TTL decrement, address rewrite)', () => {
    const h = hex('4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7');
    const old16 = (h[8]! << 8) | h[9]!;
    h[8] = 0x3f; // TTL 64 -> 63
    const upd = updateChecksum16(0xb861, old16, (h[8]! << 8) | h[9]!);
    h[10] = 0; h[11] = 0;
    expect(upd).to.equal(internetChecksum(h, 0, 20));
    h[10] = upd >>> 8; h[11] = upd & 0xff;
    const upd32 = updateChecksum32(upd, 0xc0a800c7, 0x0a000001);
    h.writeUInt32BE(0x0a000001, 16);
    h[10] = 0; h[11] = 0;
    expect(upd32).to.equal(internetChecksum(h, 0, 20));
  });
});
