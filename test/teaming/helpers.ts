// Test helpers for the teaming tests: frame builders and a beacon delivery loop on a ManualClock.
import type { ManualClock } from '../../lib/clock.js';
import type { TeamingAction, TeamingEngine } from '../../lib/teaming/engine.js';
import type { TeamingPolicy } from '../../lib/teaming/policy.js';

export const NICS = ['vmnic0', 'vmnic1', 'vmnic2', 'vmnic3'];
export const NIC_MACS = [0x001b21000a00, 0x001b21000a01, 0x001b21000a02, 0x001b21000a03];

export function policy(over: Partial<TeamingPolicy> = {}): TeamingPolicy {
  return { loadBalancing: 'srcPortId', active: ['vmnic0', 'vmnic1'], standby: [], failback: true, notifySwitches: true, failureDetection: 'linkStatus', ...over };
}

function macBytes(mac: number): number[] {
  return [0, 1, 2, 3, 4, 5].map((i) => Math.floor(mac / 2 ** (8 * (5 - i))) & 0xff);
}

/** Ethernet frame with src MAC and optional VLAN tag and payload after the EtherType. */
export function frame(opts: { src?: number; dst?: number; vlan?: number; type?: number; payload?: number[] }): Uint8Array {
  const bytes = [...macBytes(opts.dst ?? 0xffffffffffff), ...macBytes(opts.src ?? 0x005056800001)];
  if (opts.vlan !== undefined) bytes.push(0x81, 0x00, opts.vlan >> 8, opts.vlan & 0xff);
  const type = opts.type ?? 0x0800;
  bytes.push(type >> 8, type & 0xff, ...(opts.payload ?? []));
  while (bytes.length < 60) bytes.push(0);
  return Uint8Array.from(bytes);
}

/** IPv4 frame from srcIp to dstIp (dotted strings). */
export function ipv4(src: string, dst: string, vlan?: number, srcMac = 0x005056800001): Uint8Array {
  const ip = (s: string): number[] => s.split('.').map(Number);
  const hdr = [0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, ...ip(src), ...ip(dst)];
  return frame({ src: srcMac, type: 0x0800, payload: hdr, ...(vlan !== undefined ? { vlan } : {}) });
}

/** Delivers the beacons in `actions` to every other uplink for which reach(from, to) is true. */
export function deliverBeacons(engine: TeamingEngine, actions: TeamingAction[], reach: (from: number, to: number) => boolean, uplinks = 4): void {
  for (const a of actions) {
    if (a.kind !== 'beacon') continue;
    for (let to = 0; to < uplinks; to++) if (to !== a.uplink && reach(a.uplink, to)) engine.onBeacon(to, a.frame);
  }
}

/** Advances one beacon interval, ticks, delivers the round's beacons; returns the non-beacon actions. */
export function beaconRound(clock: ManualClock, engine: TeamingEngine, reach: (from: number, to: number) => boolean, advanceMs = 1000, uplinks = 4): TeamingAction[] {
  clock.advance(advanceMs);
  const actions = engine.tick();
  deliverBeacons(engine, actions, reach, uplinks);
  return actions.filter((a) => a.kind !== 'beacon');
}

export function kinds<K extends TeamingAction['kind']>(actions: TeamingAction[], kind: K): Extract<TeamingAction, { kind: K }>[] {
  return actions.filter((a): a is Extract<TeamingAction, { kind: K }> => a.kind === kind);
}
