// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the digest of iSCSI header and data digests
// (RFC 7143 §11.2.3 and §13.1; test vectors of RFC 3720 Appendix B.4). Covers the checksum over one buffer,
// a running form over several buffers, and how the value travels (least significant byte first, the order
// libiscsi and the RFC vectors use). Table-driven, eight bytes per step ("slicing by 8"), so a data digest
// over a whole data segment costs a small part of what receiving it does. Pure: no I/O.

/** Bytes of a digest on the wire. */
export const DIGEST_BYTES = 4;

const POLY_REFLECTED = 0x82f63b78;

/** TABLES[k][b]: the CRC of byte b followed by k zero bytes (k = 0..7). */
const TABLES: Uint32Array[] = (() => {
  const t: Uint32Array[] = [];
  for (let k = 0; k < 8; k++) t.push(new Uint32Array(256));
  for (let b = 0; b < 256; b++) {
    let c = b;
    for (let i = 0; i < 8; i++) c = c & 1 ? (c >>> 1) ^ POLY_REFLECTED : c >>> 1;
    t[0][b] = c >>> 0;
  }
  for (let b = 0; b < 256; b++) {
    for (let k = 1; k < 8; k++) t[k][b] = (t[k - 1][b] >>> 8) ^ t[0][t[k - 1][b] & 0xff];
  }
  return t;
})();

/** Starting value of a running CRC (pass to crc32cUpdate, finish with crc32cFinish). */
export const CRC32C_INIT = 0xffffffff;

/** Feeds `buf[start, end)` into a running CRC and returns the new running value. */
export function crc32cUpdate(crc: number, buf: Uint8Array, start = 0, end = buf.length): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = TABLES;
  let c = crc >>> 0;
  let i = start;
  const end8 = end - ((end - i) & 7);
  while (i < end8) {
    const lo = (c ^ (buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24))) >>> 0;
    c =
      t7[lo & 0xff] ^
      t6[(lo >>> 8) & 0xff] ^
      t5[(lo >>> 16) & 0xff] ^
      t4[lo >>> 24] ^
      t3[buf[i + 4]] ^
      t2[buf[i + 5]] ^
      t1[buf[i + 6]] ^
      t0[buf[i + 7]];
    i += 8;
  }
  while (i < end) c = (c >>> 8) ^ t0[(c ^ buf[i++]) & 0xff];
  return c >>> 0;
}

/** The final CRC value of a running CRC. */
export function crc32cFinish(crc: number): number {
  return (crc ^ 0xffffffff) >>> 0;
}

/** CRC32C of `buf[start, end)`. */
export function crc32c(buf: Uint8Array, start = 0, end = buf.length): number {
  return crc32cFinish(crc32cUpdate(CRC32C_INIT, buf, start, end));
}

/** Writes a digest value as it travels: least significant byte first. */
export function writeDigest(buf: Uint8Array, offset: number, value: number): void {
  buf[offset] = value & 0xff;
  buf[offset + 1] = (value >>> 8) & 0xff;
  buf[offset + 2] = (value >>> 16) & 0xff;
  buf[offset + 3] = (value >>> 24) & 0xff;
}

/** Reads a digest value as it travels (least significant byte first). */
export function readDigest(buf: Uint8Array, offset: number): number {
  return (buf[offset] | (buf[offset + 1] << 8) | (buf[offset + 2] << 16) | (buf[offset + 3] << 24)) >>> 0;
}
