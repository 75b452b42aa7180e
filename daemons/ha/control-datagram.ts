// The HA agents' restart datagrams (docs/ha.md "In a fabric"): the primary asks a host to power a VM on
// (`power-on`), and the host answers with the outcome of its datastore power-on (`power-on-result`:
// ok, locked or failed). Small JSON objects in one UDP datagram to port 8183 of the management vmkernel
// port. A datagram that is not a valid one decodes to undefined (dropped and counted), never a throw.
// Leaves out retransmission (the agent times an attempt out and retries) and authentication.

import { HA_MAX_DATAGRAM_BYTES, HA_MAX_NAME_BYTES } from '../../lib/ha/index.js';

/** UDP port of the restart requests and their answers (vfab's choice: the heartbeat port + 1). */
export const HA_CONTROL_UDP_PORT = 8183;
const VERSION = 1;
const OUTCOMES = ['ok', 'locked', 'failed'] as const;

export type HaControl =
  | { t: 'power-on'; c: string; f: string; vm: string }
  | { t: 'power-on-result'; c: string; f: string; vm: string; o: (typeof OUTCOMES)[number] };

export function encodeControl(m: HaControl): Buffer {
  return Buffer.from(JSON.stringify({ v: VERSION, ...m }), 'utf8');
}

const name = (x: unknown): x is string => typeof x === 'string' && x.length > 0 && Buffer.byteLength(x, 'utf8') <= HA_MAX_NAME_BYTES;

export function decodeControl(buf: Uint8Array): HaControl | undefined {
  if (buf.length > HA_MAX_DATAGRAM_BYTES) return undefined;
  let m: unknown;
  try {
    m = JSON.parse(Buffer.from(buf).toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof m !== 'object' || m === null) return undefined;
  const o = m as Record<string, unknown>;
  if (o.v !== VERSION || !name(o.c) || !name(o.f) || !name(o.vm)) return undefined;
  if (o.t === 'power-on') return { t: 'power-on', c: o.c, f: o.f, vm: o.vm };
  if (o.t === 'power-on-result' && (OUTCOMES as readonly unknown[]).includes(o.o)) return { t: 'power-on-result', c: o.c, f: o.f, vm: o.vm, o: o.o as (typeof OUTCOMES)[number] };
  return undefined;
}
