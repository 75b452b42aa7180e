// Test-frame builders for the vSwitch tests (not a test file itself): broadcast, unicast, multicast,
// 802.1Q-tagged, BPDU and sized frames, all made with lib/wire/ethernet.ts buildFrame. Payloads are a
// fixed byte pattern so equal inputs give equal bytes. Leaves out real IP/ARP payload contents.

import { buildFrame, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_VLAN, type EthernetHeader } from '../../lib/wire/ethernet.js';
import { BROADCAST_MAC, parseMac, type Mac } from '../../lib/wire/mac.js';

export const MAC = {
  vm1: parseMac('00:50:56:00:00:01'),
  vm2: parseMac('00:50:56:00:00:02'),
  vm3: parseMac('00:50:56:00:00:03'),
  vm4: parseMac('00:50:56:00:00:04'),
  vm5: parseMac('00:50:56:00:00:05'),
  remote: parseMac('00:1b:21:aa:bb:cc'),
  remote2: parseMac('00:1b:21:aa:bb:dd'),
  unknown: parseMac('00:0c:29:99:99:99'),
  mcast1: parseMac('01:00:5e:00:00:fb'),
  mcast2: parseMac('01:00:5e:01:02:03'),
  bpdu: parseMac('01:80:c2:00:00:00'),
  broadcast: BROADCAST_MAC,
} as const;

export interface FrameOpts {
  /** Add an 802.1Q tag with this VID. */
  vid?: number;
  pcp?: number;
  etherType?: number;
  /** Payload length in bytes (after the EtherType); default 46 (a minimum frame). */
  payloadBytes?: number;
}

export function frame(dst: Mac, src: Mac, opts: FrameOpts = {}): Buffer {
  const header: EthernetHeader = { dst, src, etherType: opts.etherType ?? ETHERTYPE_IPV4 };
  if (opts.vid !== undefined) header.tag = { tpid: ETHERTYPE_VLAN, pcp: opts.pcp ?? 0, dei: 0, vid: opts.vid };
  const payload = new Uint8Array(opts.payloadBytes ?? 46);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 7 + 3) & 0xff;
  return buildFrame(header, payload);
}

export function broadcast(src: Mac, opts: FrameOpts = {}): Buffer {
  return frame(BROADCAST_MAC, src, { etherType: ETHERTYPE_ARP, ...opts });
}

export function unicast(dst: Mac, src: Mac, opts: FrameOpts = {}): Buffer {
  return frame(dst, src, opts);
}

export function tagged(dst: Mac, src: Mac, vid: number, opts: FrameOpts = {}): Buffer {
  return frame(dst, src, { ...opts, vid });
}

export function multicast(group: Mac, src: Mac, opts: FrameOpts = {}): Buffer {
  return frame(group, src, opts);
}

/** An IEEE 802.1D configuration BPDU (LLC framing, so the type field is a length). */
export function bpdu(src: Mac, opts: FrameOpts = {}): Buffer {
  return frame(MAC.bpdu, src, { etherType: 0x0026, ...opts });
}

export function hex(buf: Uint8Array): string {
  return Buffer.from(buf).toString('hex');
}
