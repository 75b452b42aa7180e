// CHAP for iSCSI logins (RFC 7143 §12.1.3, RFC 1994 §4.1): the response is MD5 over the one-byte identifier,
// the shared secret and the challenge; CHAP_C and CHAP_R travel as hex ("0x...") or base64 ("0b...")
// binary values (RFC 7143 §6.1). This file holds the parts both sides need (the response, encoding and
// decoding of binary values, the secret bounds). Leaves out the login exchange itself (the target side in
// lib/iscsi/negotiate.ts, the initiator side in lib/iscsi/initiator.ts) and algorithms other than MD5
// (CHAP_A=5), the only one RFC 7143 requires. Pure: hashing only, no I/O.

import { createHash, timingSafeEqual } from 'node:crypto';

/** CHAP_A value of MD5 (RFC 1994), the only algorithm offered or accepted. */
export const CHAP_ALGORITHM_MD5 = 5;
/** Shortest secret accepted, in bytes (RFC 7143 §12.1.3 asks for at least 96 bits of randomness). */
export const CHAP_MIN_SECRET_BYTES = 12;
/** Longest secret accepted, in bytes (what common targets and initiators accept). */
export const CHAP_MAX_SECRET_BYTES = 255;
/** Bytes of a challenge vfab sends (RFC 7143 §12.1.3: at least the length of the hash, 16). */
export const CHAP_CHALLENGE_BYTES = 16;
/** Longest challenge accepted from a peer, in bytes (bounds the decoding before it allocates). */
export const CHAP_MAX_CHALLENGE_BYTES = 1024;

/** MD5(identifier || secret || challenge): the CHAP_R for CHAP_I = identifier and CHAP_C = challenge. */
export function chapResponse(identifier: number, secret: Uint8Array | string, challenge: Uint8Array): Buffer {
  const h = createHash('md5');
  h.update(Buffer.of(identifier & 0xff));
  h.update(typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret);
  h.update(challenge);
  return h.digest();
}

/** A binary value as iSCSI text: hex with the 0x prefix. */
export function encodeBinary(b: Uint8Array): string {
  return '0x' + Buffer.from(b).toString('hex');
}

/**
 * Decodes a binary value ("0x" hex or "0b" base64, RFC 7143 §6.1); undefined when malformed, empty or longer
 * than maxBytes (checked on the text length before anything is allocated).
 */
export function decodeBinary(v: string, maxBytes = CHAP_MAX_CHALLENGE_BYTES): Buffer | undefined {
  const p = v.slice(0, 2).toLowerCase();
  const body = v.slice(2);
  if (p === '0x') {
    if (body.length === 0 || body.length > maxBytes * 2 + 1 || !/^[0-9a-fA-F]+$/.test(body)) return undefined;
    return Buffer.from(body.length % 2 === 1 ? '0' + body : body, 'hex');
  }
  if (p === '0b') {
    if (body.length === 0 || body.length > Math.ceil(maxBytes / 3) * 4 || !/^[A-Za-z0-9+/]+={0,2}$/.test(body) || body.length % 4 !== 0) return undefined;
    const out = Buffer.from(body, 'base64');
    return out.length === 0 || out.length > maxBytes ? undefined : out;
  }
  return undefined;
}

// ---- the target side's checks and configuration bounds ----------------------------------------------

/** Bytes of an MD5 CHAP_R (RFC 1994: the response is the hash). */
export const CHAP_MD5_RESPONSE_BYTES = 16;
/** Longest CHAP user name (CHAP_N), in bytes: a simple text value (RFC 7143 §6.1). */
export const CHAP_MAX_NAME_BYTES = 255;
/** Longest CHAP binary value as text: "0x" and two hex digits for each byte of the longest challenge. */
export const CHAP_MAX_VALUE_TEXT_BYTES = 2 + 2 * CHAP_MAX_CHALLENGE_BYTES;
/** Largest CHAP identifier (CHAP_I is one byte, RFC 1994 §4.1). */
export const CHAP_MAX_IDENTIFIER = 255;

/** A user name and the secret shared with it. */
export interface ChapCredentials {
  username: string;
  secret: string;
}

/** CHAP a target asks of initiators: one-way, or mutual (the target proves itself with `mutual` too). */
export interface ChapTargetConfig extends ChapCredentials {
  mutual?: ChapCredentials;
}

/** Why `secret` cannot be a CHAP secret (its length in bytes out of bounds), undefined when it can. Never echoes it. */
export function chapSecretProblem(secret: string): string | undefined {
  const n = Buffer.byteLength(secret, 'utf8');
  if (n < CHAP_MIN_SECRET_BYTES) return `a CHAP secret needs at least ${CHAP_MIN_SECRET_BYTES} bytes (CHAP_MIN_SECRET_BYTES), this one has ${n}`;
  if (n > CHAP_MAX_SECRET_BYTES) return `a CHAP secret has at most ${CHAP_MAX_SECRET_BYTES} bytes (CHAP_MAX_SECRET_BYTES), this one has ${n}`;
  return undefined;
}

/** Why `name` cannot be a CHAP user name (empty, too long, a NUL), undefined when it can. */
export function chapNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'a CHAP user name must not be empty';
  if (Buffer.byteLength(name, 'utf8') > CHAP_MAX_NAME_BYTES) return `a CHAP user name has at most ${CHAP_MAX_NAME_BYTES} bytes (CHAP_MAX_NAME_BYTES)`;
  if (name.includes('\0')) return 'a CHAP user name cannot hold a NUL byte';
  return undefined;
}

/** Whether a received response equals the expected one, compared in constant time. */
export function chapResponseMatches(expected: Uint8Array, got: Uint8Array): boolean {
  return expected.length === got.length && timingSafeEqual(expected, got);
}
