// Shared helpers for the vSwitch tests (not a test file): read a ForwardResult into plain values.

import type { ForwardResult } from '../../lib/vswitch/vswitch.js';

/** Port deliveries as portId -> bytes (copied out of the reused result). */
export function toPorts(r: ForwardResult): Map<number, Uint8Array> {
  const m = new Map<number, Uint8Array>();
  for (let i = 0; i < r.portCount; i++) m.set(r.portIds[i]!, r.portFrames[i]!);
  return m;
}

export function portIdsOf(r: ForwardResult): number[] {
  return [...toPorts(r).keys()].sort((a, b) => a - b);
}

export function uplinksOf(r: ForwardResult): number[] {
  const out: number[] = [];
  for (let i = 0; i < 32; i++) if ((r.uplinkMask >>> i) & 1) out.push(i);
  return out;
}
