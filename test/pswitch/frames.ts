// Fixed test frames for the physical-switch tests: untagged/tagged Ethernet frames with an optional
// IPv4 header (addresses only matter to the port-channel hash). Built from the shared Ethernet codec.

import { buildFrame, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_VLAN } from '../../lib/wire/ethernet.js';
import { parseMac } from '../../lib/wire/mac.js';

export const MAC_A = '00:50:56:00:00:0a';
export const MAC_B = '00:50:56:00:00:0b';
export const MAC_C = '00:50:56:00:00:0c';
export const BCAST = 'ff:ff:ff:ff:ff:ff';

export interface FrameOpts {
  /** 802.1Q VID (0 = priority tag); undefined = untagged. */
  vid?: number;
  pcp?: number;
  etherType?: number;
  /** IPv4 source/destination: makes an IPv4 frame. */
  srcIp?: string;
  dstIp?: string;
  payloadBytes?: number;
}

function ipBytes(ip: string): number[] {
  return ip.split('.').map((x) => Number(x));
}

export function frame(dst: string, src: string, opts: FrameOpts = {}): Buffer {
  let etherType = opts.etherType ?? ETHERTYPE_ARP;
  let payload = new Uint8Array(opts.payloadBytes ?? 46).fill(0x5a);
  if (opts.srcIp !== undefined && opts.dstIp !== undefined) {
    etherType = ETHERTYPE_IPV4;
    const n = Math.max(opts.payloadBytes ?? 46, 20);
    payload = new Uint8Array(n);
    payload[0] = 0x45;
    payload[2] = (n >>> 8) & 0xff;
    payload[3] = n & 0xff;
    payload[8] = 64;
    payload[9] = 17;
    payload.set(ipBytes(opts.srcIp), 12);
    payload.set(ipBytes(opts.dstIp), 16);
  }
  return buildFrame(
    {
      dst: parseMac(dst),
      src: parseMac(src),
      ...(opts.vid !== undefined ? { tag: { tpid: ETHERTYPE_VLAN, pcp: opts.pcp ?? 0, dei: 0, vid: opts.vid } } : {}),
      etherType,
    },
    payload,
  );
}

/** VID of a frame, or undefined when untagged. */
export function vidOf(f: Uint8Array): number | undefined {
  if (((f[12]! << 8) | f[13]!) !== ETHERTYPE_VLAN) return undefined;
  return ((f[14]! << 8) | f[15]!) & 0x0fff;
}
