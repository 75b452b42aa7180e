// Which vNIC a VM sends from when a step or command names only a target address: the first vNIC on the
// target's subnet, else the first with an IP, else vNIC 0. One rule for hostd (pings, streams) and the
// scenario loader (which checks a traffic step's frame size against that vNIC before the run). Pure;
// leaves out routing beyond "on the same subnet" (a gateway is the chosen vNIC's business).

import { parseIpv4Address, prefixMask, sameSubnet } from '../wire/ipv4.js';

function ipToNumber(text: string): number | undefined {
  try {
    return parseIpv4Address(text);
  } catch {
    return undefined;
  }
}

/** Index of the vNIC that sends to `target` (an IPv4 address; anything else picks by the other rules). */
export function defaultNicIndex(nics: ReadonlyArray<{ ip?: { address: string; prefixLength: number } | undefined }>, target: string): number {
  const t = ipToNumber(target);
  const onLink = nics.findIndex((n) => n.ip && t !== undefined && sameSubnet(ipToNumber(n.ip.address)!, t, prefixMask(n.ip.prefixLength)));
  if (onLink >= 0) return onLink;
  const any = nics.findIndex((n) => n.ip);
  return any >= 0 ? any : 0;
}
