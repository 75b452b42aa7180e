// iSCSI target URLs of host storage paths (iscsi://HOST[:PORT]/IQN) and the ISID of each path: the small
// part of the iSCSI initiator that hostd needs before any iSCSI path connects (status lines, the plan),
// kept apart so a host on the block protocol does not load the initiator (iscsi-client.ts). Leaves out
// the LUN part of libiscsi-style URLs (a path reaches every LUN of the target).

import { ISCSI_DEFAULT_PORT } from '../../lib/iscsi/well-known.js';

export interface IscsiTargetUrl {
  host: string;
  port: number;
  iqn: string;
}

/** Parses iscsi://HOST[:PORT]/IQN (port 3260 when absent); undefined when it is not one. */
export function parseIscsiUrl(url: string): IscsiTargetUrl | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  if (u.protocol !== 'iscsi:' || u.hostname === '') return undefined;
  const iqn = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (!/^(iqn|eui|naa)\.[^/\s]+$/.test(iqn)) return undefined;
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  return { host, port: u.port === '' ? ISCSI_DEFAULT_PORT : Number(u.port), iqn };
}

/** ISID of path `index` (RFC 7143 §11.12.5: type 10b "random", then the path number): one nexus per path. */
export function pathIsid(index: number): Uint8Array {
  return Uint8Array.from([0x80, 0x76, 0x66, 0x62, (index >> 8) & 0xff, index & 0xff]);
}
