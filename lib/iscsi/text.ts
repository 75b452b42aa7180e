// iSCSI text data (RFC 7143 §6.1 and §6.2): the key=value pairs carried by Login and Text PDUs, each pair
// terminated by a NUL byte, and text split over several PDUs with the C (continue) bit. Covers parse with
// bounds (key and value lengths, pairs and bytes per exchange), encode, and an assembler that joins the
// data of continued PDUs (a pair may be cut anywhere, §6.1) and splits long answers into pieces a peer's
// MaxRecvDataSegmentLength allows. Leaves out what keys mean (lib/iscsi/negotiate.ts). Pure.

import { VfabError, type Result, ok, err } from '../errors.js';
import { CHAP_MAX_VALUE_TEXT_BYTES } from './chap.js';

/** Key names are at most 63 bytes (§6.1). */
export const TEXT_MAX_KEY_BYTES = 63;
/**
 * Longest value accepted, in bytes. Simple values have at most 255 (§6.1); CHAP_C and CHAP_R are binary values
 * that may be longer, so the bound is the longest CHAP binary value vfab takes (a 1024-byte challenge in hex,
 * 2050 bytes, §12.1.3). Every value is checked against it before it is decoded.
 */
export const TEXT_MAX_VALUE_BYTES = CHAP_MAX_VALUE_TEXT_BYTES;
/** Pairs accepted in one exchange (all the PDUs of one C-bit sequence). */
export const TEXT_MAX_PAIRS = 128;
/** Bytes of text accepted in one exchange (all the PDUs of one C-bit sequence). */
export const TEXT_MAX_BYTES = 32 * 1024;

export const TEXT_ERROR = {
  /** Text that does not end with a NUL byte (a pair cut off). */
  NOT_TERMINATED: 'VFAB_ISCSI_TEXT_NOT_TERMINATED',
  /** A pair with no '=' or an empty pair between others. */
  NO_EQUALS: 'VFAB_ISCSI_TEXT_NO_EQUALS',
  /** A key name with characters §6.1 does not allow, or empty. */
  BAD_KEY: 'VFAB_ISCSI_TEXT_BAD_KEY',
  KEY_TOO_LONG: 'VFAB_ISCSI_TEXT_KEY_TOO_LONG',
  VALUE_TOO_LONG: 'VFAB_ISCSI_TEXT_VALUE_TOO_LONG',
  /** A value that is not UTF-8. */
  BAD_VALUE: 'VFAB_ISCSI_TEXT_BAD_VALUE',
  /** More than TEXT_MAX_PAIRS pairs in one exchange. */
  TOO_MANY_PAIRS: 'VFAB_ISCSI_TEXT_TOO_MANY_PAIRS',
  /** More than TEXT_MAX_BYTES bytes in one exchange. */
  TOO_LONG: 'VFAB_ISCSI_TEXT_TOO_LONG',
  /** The same key twice in one exchange (§6.2: a key is negotiated or declared once). */
  DUPLICATE_KEY: 'VFAB_ISCSI_TEXT_DUPLICATE_KEY',
} as const;

export interface TextPair {
  key: string;
  value: string;
}

const KEY_RE = /^[A-Za-z][A-Za-z0-9.\-+@_#]*$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

function fail(code: string, message: string): { ok: false; error: VfabError } {
  return err(new VfabError(code, message));
}

/** Parses the text of one exchange. NUL bytes after the last pair (padding some senders add) are ignored. */
export function parseText(bytes: Uint8Array): Result<TextPair[]> {
  if (bytes.length > TEXT_MAX_BYTES) return fail(TEXT_ERROR.TOO_LONG, `text of ${bytes.length} bytes exceeds ${TEXT_MAX_BYTES} (TEXT_MAX_BYTES)`);
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0 && (end < 2 || bytes[end - 2] === 0)) end--;
  const pairs: TextPair[] = [];
  const seen = new Set<string>();
  let p = 0;
  while (p < end) {
    const nul = bytes.indexOf(0, p);
    if (nul < 0 || nul >= end) return fail(TEXT_ERROR.NOT_TERMINATED, `text at byte ${p} has no NUL terminator`);
    const eq = bytes.indexOf(0x3d, p);
    if (eq < 0 || eq > nul) return fail(TEXT_ERROR.NO_EQUALS, `text at byte ${p} is not key=value`);
    const keyBytes = eq - p;
    if (keyBytes > TEXT_MAX_KEY_BYTES) return fail(TEXT_ERROR.KEY_TOO_LONG, `key of ${keyBytes} bytes exceeds ${TEXT_MAX_KEY_BYTES}`);
    const key = String.fromCharCode(...bytes.subarray(p, eq));
    if (!KEY_RE.test(key)) return fail(TEXT_ERROR.BAD_KEY, `key ${JSON.stringify(key)} is not a key name`);
    const valueBytes = nul - eq - 1;
    if (valueBytes > TEXT_MAX_VALUE_BYTES) return fail(TEXT_ERROR.VALUE_TOO_LONG, `value of ${key} has ${valueBytes} bytes (max ${TEXT_MAX_VALUE_BYTES})`);
    let value: string;
    try {
      value = utf8.decode(bytes.subarray(eq + 1, nul));
    } catch {
      return fail(TEXT_ERROR.BAD_VALUE, `value of ${key} is not UTF-8`);
    }
    if (seen.has(key)) return fail(TEXT_ERROR.DUPLICATE_KEY, `key ${key} appears twice`);
    seen.add(key);
    if (pairs.length === TEXT_MAX_PAIRS) return fail(TEXT_ERROR.TOO_MANY_PAIRS, `more than ${TEXT_MAX_PAIRS} pairs (TEXT_MAX_PAIRS)`);
    pairs.push({ key, value });
    p = nul + 1;
  }
  return ok(pairs);
}

/** key=value NUL for each pair. */
export function encodeText(pairs: readonly TextPair[]): Buffer {
  return Buffer.from(pairs.map((x) => `${x.key}=${x.value}\0`).join(''), 'utf8');
}

/**
 * Joins the data segments of one C-bit sequence. `add` returns undefined while more is to come (C set),
 * the pairs when the sequence ends, or an error (the sequence is then dropped).
 */
export class TextAssembler {
  private parts: Uint8Array[] = [];
  private bytes = 0;

  get heldBytes(): number {
    return this.bytes;
  }

  add(data: Uint8Array, cont: boolean): Result<TextPair[] | undefined> {
    if (this.bytes + data.length > TEXT_MAX_BYTES) {
      this.reset();
      return fail(TEXT_ERROR.TOO_LONG, `text of more than ${TEXT_MAX_BYTES} bytes in one exchange (TEXT_MAX_BYTES)`);
    }
    this.parts.push(Uint8Array.prototype.slice.call(data));
    this.bytes += data.length;
    if (cont) return ok(undefined);
    const all = Buffer.concat(this.parts);
    this.reset();
    return parseText(all);
  }

  reset(): void {
    this.parts = [];
    this.bytes = 0;
  }
}

/** Splits text into pieces of at most `maxBytes` (the peer's MaxRecvDataSegmentLength); all but the last go out with C set. */
export function splitText(text: Uint8Array, maxBytes: number): Uint8Array[] {
  if (text.length === 0) return [text];
  const out: Uint8Array[] = [];
  for (let p = 0; p < text.length; p += maxBytes) out.push(text.subarray(p, Math.min(text.length, p + maxBytes)));
  return out;
}
