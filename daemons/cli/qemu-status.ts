// The qemu guests' part of `vfab status` (docs/guests.md "QEMU guests"): per vNIC, the backend QEMU
// reaches (stream or dgram on 127.0.0.1:port), the QEMU end it has now, and the backend's counters.
// Leaves out the QEMU arguments (vfab qemu-args prints them).

import { table } from './io.js';

/** Lines for the hosts' GET /control/status `guests` record (entries of other kinds are left to their own code). */
export function renderQemuGuests(guests: Record<string, any>): string[] {
  const rows: string[][] = [];
  for (const [vm, g] of Object.entries(guests)) {
    if (g?.kind !== 'qemu') continue;
    for (const n of g.nics ?? []) {
      const c = n.counters ?? {};
      const notes = [c.refused ? `${c.refused} refused` : '', c.protocolErrors ? `${c.protocolErrors} bad framing` : '', c.rxDropsWrongSource ? `${c.rxDropsWrongSource} from elsewhere` : ''].filter(Boolean).join(', ');
      rows.push([vm, n.nic, n.backend, n.address, n.peer ?? '(waiting for QEMU)', String(c.rxFrames ?? c.rxDatagrams ?? 0), String(c.txFrames ?? c.txDatagrams ?? 0), notes]);
    }
  }
  if (rows.length === 0) return [];
  const body = table([['vm', 'nic', 'netdev', 'vfab end', 'QEMU end', 'rx', 'tx', 'notes'], ...rows]).split('\n').map((l) => `    ${l}`);
  return ['  QEMU guests (vfab qemu-args VM prints their -netdev/-device arguments):', ...body];
}
