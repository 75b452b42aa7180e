// An array's iSCSI portal and its sessions as text, for `vfab status` and `vfab lun list` (kept apart from
// the storage commands so `vfab status` does not load the array's code). Reads the `iscsi` part of stored's
// GET /control/status (daemons/storage/iscsi-portal.ts IscsiPortalInfo); leaves out counters.

import { table } from './io.js';

/** The fields of the portal's status these lines use. */
export interface PortalStatus {
  address: string;
  port: number;
  iqn: string;
  sessions?: Array<{ initiatorName: string; isid: string; tsih: number; sessionType: string; remote: string; loginAtMs: number; headerDigest: string; dataDigest: string }>;
}

/** The portal line and a table of its sessions (initiator, ISID, TSIH, peer, login time in fabric seconds, digests). */
export function iscsiPortalLines(p: PortalStatus): string[] {
  const lines = [`iSCSI portal: ${p.address}:${p.port}  target ${p.iqn}  (iscsi://${p.address}:${p.port}/${p.iqn}/<lun>)`];
  const sessions = p.sessions ?? [];
  if (sessions.length === 0) return [...lines, 'iSCSI sessions: none'];
  lines.push('iSCSI sessions:');
  const rows = sessions.map((s) => [s.initiatorName, `0x${s.isid}`, String(s.tsih), s.sessionType, s.remote, `${(s.loginAtMs / 1000).toFixed(3)} s`, `${s.headerDigest}/${s.dataDigest}`]);
  lines.push(...table([['initiator', 'isid', 'tsih', 'type', 'from', 'login (fabric)', 'digests h/d'], ...rows]).split('\n').map((l) => `  ${l}`));
  return lines;
}
