// The Internet checksum of RFC 1071 (16-bit one's-complement sum of big-endian words, complemented),
// used by IPv4 (RFC 791), ICMP (RFC 792) and UDP (RFC 768, with the IPv4 pseudo-header), plus the
// incremental update of RFC 1624. Covers a tight word loop over a byte range and helpers to chain partial
// sums. Leaves out SIMD tricks and hardware offload: a plain loop is fast enough for 9000-byte frames.

/** Ranges at least this long are summed 32 bits at a time through a Uint32Array view (one small allocation). */
const WIDE_SUM_MIN_BYTES = 128;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Adds the bytes `[offset, offset + lengthBytes)` of `buf` as big-endian 16-bit words to `sum` (an
 * odd trailing byte is padded with a zero byte). Returns the unfolded sum; chain calls, then `foldSum`.
 * The accumulator stays exact: 2^53 / 0xffff words is far beyond any frame. Long, even-aligned ranges on
 * little-endian hosts are summed as native 32-bit words and byte-swapped once at the end, which gives the
 * same result (RFC 1071 §2(B): the sum is independent of byte order).
 */
export function sumWords(buf: Uint8Array, offset: number, lengthBytes: number, sum = 0): number {
  const abs = buf.byteOffset + offset;
  if (lengthBytes < WIDE_SUM_MIN_BYTES || !LITTLE_ENDIAN || (abs & 1) !== 0 || offset + lengthBytes > buf.length) return sumWordsLoop(buf, offset, lengthBytes, sum);
  let i = offset;
  const end = offset + lengthBytes;
  if ((abs & 3) === 2) {
    // One big-endian word first so the rest starts 4-aligned (pairing relative to offset is unchanged).
    sum += (buf[i]! << 8) | buf[i + 1]!;
    i += 2;
  }
  const words = (end - i) >>> 2;
  const u32 = new Uint32Array(buf.buffer, buf.byteOffset + i, words);
  let swapped = 0;
  for (let k = 0; k < words; k++) {
    const v = u32[k]!;
    swapped += (v & 0xffff) + (v >>> 16);
  }
  const folded = foldSum(swapped);
  sum += ((folded & 0xff) << 8) | (folded >>> 8);
  i += words * 4;
  return sumWordsLoop(buf, i, end - i, sum);
}

function sumWordsLoop(buf: Uint8Array, offset: number, lengthBytes: number, sum: number): number {
  const end = offset + lengthBytes;
  const evenEnd = end - ((end - offset) & 1);
  let i = offset;
  // Two words per iteration keeps the loop short without changing the result.
  const pairEnd = evenEnd - ((evenEnd - offset) & 3);
  while (i < pairEnd) {
    sum += ((buf[i]! << 8) | buf[i + 1]!) + ((buf[i + 2]! << 8) | buf[i + 3]!);
    i += 4;
  }
  while (i < evenEnd) {
    sum += (buf[i]! << 8) | buf[i + 1]!;
    i += 2;
  }
  if (evenEnd !== end) sum += buf[evenEnd]! << 8;
  return sum;
}

/** Folds the carries of an unfolded sum back into 16 bits (one's-complement addition). */
export function foldSum(sum: number): number {
  // Bring a wide sum below 2^32 first (exact with division), then fold twice.
  if (sum > 0xffffffff) sum = (sum % 0x100000000) + Math.floor(sum / 0x100000000);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return sum & 0xffff;
}

/** The checksum field value: complement of the folded sum of the range (and of `initialSum`). */
export function internetChecksum(buf: Uint8Array, offset: number, lengthBytes: number, initialSum = 0): number {
  return ~foldSum(sumWords(buf, offset, lengthBytes, initialSum)) & 0xffff;
}

/**
 * True when a range that contains its own checksum field verifies (its folded sum is 0xffff).
 * A checksum of 0 over a range that also includes the field itself means "correct".
 */
export function checksumVerifies(buf: Uint8Array, offset: number, lengthBytes: number, initialSum = 0): boolean {
  return internetChecksum(buf, offset, lengthBytes, initialSum) === 0;
}

/** Unfolded sum of the IPv4 pseudo-header (RFC 768 / RFC 793): src, dst, zero, protocol, length. */
export function ipv4PseudoHeaderSum(srcIp: number, dstIp: number, protocol: number, lengthBytes: number): number {
  return (srcIp >>> 16) + (srcIp & 0xffff) + (dstIp >>> 16) + (dstIp & 0xffff) + protocol + lengthBytes;
}

/**
 * RFC 1624 eqn. 3: the new checksum after one 16-bit word of the covered data changes from `oldWord`
 * to `newWord`, without re-summing: HC' = ~(~HC + ~m + m').
 */
export function updateChecksum16(oldChecksum: number, oldWord: number, newWord: number): number {
  const sum = (~oldChecksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  return ~foldSum(sum) & 0xffff;
}

/** RFC 1624 for a 32-bit field (e.g. an IPv4 address): two word updates. */
export function updateChecksum32(oldChecksum: number, oldValue: number, newValue: number): number {
  const c = updateChecksum16(oldChecksum, oldValue >>> 16, newValue >>> 16);
  return updateChecksum16(c, oldValue & 0xffff, newValue & 0xffff);
}
