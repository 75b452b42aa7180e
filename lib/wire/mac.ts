// 48-bit MAC addresses as plain numbers (exact below 2^53), so MAC tables key on numbers on the hot path.
// Covers parsing and formatting (colon, dash and Cisco dotted forms), reading and writing from buffers,
// and the group/broadcast/locally-administered bits of IEEE 802. Leaves out OUI lookups.

import { VfabError } from '../errors.js';

export type Mac = number;

export const MAC_BYTES = 6;
export const BROADCAST_MAC: Mac = 0xffffffffffff;
export const ZERO_MAC: Mac = 0;
const TWO_POW_40 = 0x10000000000;

export function readMac(buf: Uint8Array, offset: number): Mac {
  return (
    (buf[offset]! * 0x10000000000) +
    (buf[offset + 1]! * 0x100000000) +
    (((buf[offset + 2]! << 24) >>> 0) + (buf[offset + 3]! << 16) + (buf[offset + 4]! << 8) + buf[offset + 5]!)
  );
}

export function writeMac(buf: Uint8Array, offset: number, mac: Mac): void {
  const hi = Math.floor(mac / 0x100000000);
  const lo = mac >>> 0;
  buf[offset] = (hi >>> 8) & 0xff;
  buf[offset + 1] = hi & 0xff;
  buf[offset + 2] = (lo >>> 24) & 0xff;
  buf[offset + 3] = (lo >>> 16) & 0xff;
  buf[offset + 4] = (lo >>> 8) & 0xff;
  buf[offset + 5] = lo & 0xff;
}

/** Group bit (I/G): broadcast and multicast destinations. */
export function isGroupMac(mac: Mac): boolean {
  return (Math.floor(mac / TWO_POW_40) & 1) === 1;
}

export function isBroadcastMac(mac: Mac): boolean {
  return mac === BROADCAST_MAC;
}

/** Locally administered bit (U/L). */
export function isLocalMac(mac: Mac): boolean {
  return (Math.floor(mac / TWO_POW_40) & 2) === 2;
}

export function macToString(mac: Mac): string {
  const hex = mac.toString(16).padStart(12, '0');
  return `${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4, 6)}:${hex.slice(6, 8)}:${hex.slice(8, 10)}:${hex.slice(10, 12)}`;
}

const MAC_FORMS = [
  /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i,
  /^([0-9a-f]{2})([0-9a-f]{2})\.([0-9a-f]{2})([0-9a-f]{2})\.([0-9a-f]{2})([0-9a-f]{2})$/i,
];

/** Parses "00:50:56:01:02:03", "00-50-56-01-02-03" or "0050.5601.0203"; throws VFAB_BAD_MAC otherwise. */
export function parseMac(text: string): Mac {
  for (const form of MAC_FORMS) {
    const m = form.exec(text.trim());
    if (m) return parseInt(m.slice(1).join(''), 16);
  }
  throw new VfabError('VFAB_BAD_MAC', `not a MAC address: ${JSON.stringify(text)} (expected e.g. 00:50:56:01:02:03)`);
}

/** Six byte values to a MAC; throws VFAB_BAD_MAC for any other count (instead of yielding NaN). */
export function macFromBytes(bytes: ArrayLike<number>): Mac {
  if (bytes.length !== MAC_BYTES) throw new VfabError('VFAB_BAD_MAC', `a MAC has ${MAC_BYTES} bytes, got ${bytes.length}`);
  return readMac(Uint8Array.from(bytes), 0);
}
