// The state of a running guest endpoint as a plain, JSON-serialisable value, for handing a VM over to
// another host (vMotion switchover, docs/vmotion.md): per vNIC the configuration, the effective MAC, the
// promiscuous flag, the next IP id and the live ARP entries (ages and time left, so the destination rebases
// them on its own clock); the pings awaiting a reply (so a reply that reaches the destination still
// matches); the count-only UDP ports with their counters; and every endpoint counter (streams in flight keep
// counting where they left off). A snapshot arrives over the network, so `checkEndpointSnapshot` validates
// every field and bound before anything is built, and returns a typed error instead of throwing.
// Leaves out pending ARP resolutions and the frames queued behind them (lost with the stun, as frames in
// flight are) and the receive/transmit paths themselves (lib/endpoint/vm-endpoint.ts).

import { VfabError, type Result, ok, err } from '../errors.js';
import { parseMac } from '../wire/mac.js';
import { parseIpv4Address } from '../wire/ipv4.js';
import { ARP_CACHE_MAX_ENTRIES, ARP_CACHE_TTL_MS } from './arp-cache.js';

export const ENDPOINT_SNAPSHOT_VERSION = 1;

export interface ArpEntrySnapshot {
  ip: string;
  mac: string;
  /** Time since the entry was learned, ms (>= 0). */
  ageMs: number;
  /** Time before it expires, ms (> 0; expired entries are not carried). */
  ttlMs: number;
}

export interface NicSnapshot {
  name: string;
  /** The configured MAC, 'aa:bb:cc:dd:ee:ff'. */
  initialMac: string;
  /** The effective MAC (differs after a guest MAC change). */
  mac: string;
  ipv4?: string;
  prefixLength?: number;
  gateway?: string;
  guestVlanId?: number;
  mtuBytes: number;
  promiscuous: boolean;
  nextIpId: number;
  arp: ArpEntrySnapshot[];
}

export interface PingSnapshot {
  nic: number;
  targetIp: string;
  id: number;
  seq: number;
  /** Time since the request was sent, ms. */
  ageMs: number;
  /** Time left before it times out, ms. */
  leftMs: number;
}

export interface UdpPortSnapshot {
  port: number;
  datagrams: number;
  bytes: number;
}

export interface EndpointSnapshot {
  version: typeof ENDPOINT_SNAPSHOT_VERSION;
  name: string;
  poweredOn: boolean;
  nics: NicSnapshot[];
  pings: PingSnapshot[];
  nextPingSeq: number;
  udpCountOnly: UdpPortSnapshot[];
  /** Every counter of EndpointCounters, same shape. */
  counters: Record<string, unknown>;
}

/** Limits a snapshot must respect (the endpoint's own, passed in so this file needs no import cycle). */
export interface SnapshotLimits {
  maxNics: number;
  maxPings: number;
  maxUdpPorts: number;
  maxPingTimeoutMs: number;
}

function bad(message: string): { ok: false; error: VfabError } {
  return err(new VfabError('VFAB_ENDPOINT_BAD_SNAPSHOT', message));
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isUint = (v: unknown, max: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;
/** A time span in ms: finite, 0..max (fabric time is fractional). */
const isSpan = (v: unknown, max: number): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= max;
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isText = (v: unknown, maxLen: number): v is string => typeof v === 'string' && v.length > 0 && v.length <= maxLen;

/** True when `v` is short text that `parse` accepts (parse throws on bad text). */
function parses(v: unknown, maxLen: number, parse: (t: string) => unknown): boolean {
  if (!isText(v, maxLen)) return false;
  try {
    parse(v);
    return true;
  } catch {
    return false;
  }
}
const macOk = (v: unknown): boolean => parses(v, 17, parseMac);
const ipOk = (v: unknown): boolean => parses(v, 15, parseIpv4Address);

/** Counters: the same tree of keys as `template`, every leaf a non-negative safe integer. */
export function checkCounters(template: Record<string, unknown>, v: unknown, where = 'counters'): string | undefined {
  if (!isObj(v)) return `${where} is not an object`;
  for (const [k, t] of Object.entries(template)) {
    if (isObj(t)) {
      const why = checkCounters(t, v[k], `${where}.${k}`);
      if (why !== undefined) return why;
    } else if (!isCount(v[k])) return `${where}.${k} is not a non-negative integer`;
  }
  return undefined;
}

/**
 * Checks an untrusted value against the snapshot shape and limits; never throws. `counterTemplate` is a
 * fresh EndpointCounters (the shape the counters must have).
 */
export function checkEndpointSnapshot(v: unknown, limits: SnapshotLimits, counterTemplate: Record<string, unknown>): Result<EndpointSnapshot> {
  if (!isObj(v)) return bad('snapshot is not an object');
  if (v.version !== ENDPOINT_SNAPSHOT_VERSION) return bad(`snapshot version ${String(v.version)} is not ${ENDPOINT_SNAPSHOT_VERSION}`);
  if (!isText(v.name, 256)) return bad('snapshot name must be 1..256 characters');
  if (typeof v.poweredOn !== 'boolean') return bad('poweredOn is not a boolean');
  if (!Array.isArray(v.nics) || v.nics.length > limits.maxNics) return bad(`nics must be 0..${limits.maxNics} entries`);
  for (const [i, n] of v.nics.entries()) {
    const where = `nics[${i}]`;
    if (!isObj(n)) return bad(`${where} is not an object`);
    if (!isText(n.name, 64)) return bad(`${where}.name must be 1..64 characters`);
    if (!macOk(n.initialMac) || !macOk(n.mac)) return bad(`${where}: mac/initialMac must be MAC addresses`);
    if (n.ipv4 !== undefined && !ipOk(n.ipv4)) return bad(`${where}.ipv4 is not an IPv4 address`);
    if (n.gateway !== undefined && !ipOk(n.gateway)) return bad(`${where}.gateway is not an IPv4 address`);
    if (n.prefixLength !== undefined && !isUint(n.prefixLength, 32)) return bad(`${where}.prefixLength is not 0..32`);
    if (n.guestVlanId !== undefined && !isUint(n.guestVlanId, 4094)) return bad(`${where}.guestVlanId is not 0..4094`);
    if (!isUint(n.mtuBytes, 0xffff)) return bad(`${where}.mtuBytes is not 0..65535`);
    if (typeof n.promiscuous !== 'boolean') return bad(`${where}.promiscuous is not a boolean`);
    if (!isUint(n.nextIpId, 0xffff)) return bad(`${where}.nextIpId is not 0..65535`);
    if (!Array.isArray(n.arp) || n.arp.length > ARP_CACHE_MAX_ENTRIES) return bad(`${where}.arp must be at most ${ARP_CACHE_MAX_ENTRIES} entries`);
    for (const [j, e] of n.arp.entries()) {
      if (!isObj(e) || !ipOk(e.ip) || !macOk(e.mac) || !isSpan(e.ageMs, ARP_CACHE_TTL_MS) || !isSpan(e.ttlMs, ARP_CACHE_TTL_MS) || e.ttlMs === 0) {
        return bad(`${where}.arp[${j}] needs ip, mac, ageMs and ttlMs (1..${ARP_CACHE_TTL_MS} ms)`);
      }
    }
  }
  if (!Array.isArray(v.pings) || v.pings.length > limits.maxPings) return bad(`pings must be at most ${limits.maxPings} entries`);
  for (const [i, p] of v.pings.entries()) {
    if (!isObj(p) || !isUint(p.nic, v.nics.length - 1) || !ipOk(p.targetIp) || !isUint(p.id, 0xffff) || !isUint(p.seq, 0xffff)
      || !isSpan(p.ageMs, limits.maxPingTimeoutMs) || !isSpan(p.leftMs, limits.maxPingTimeoutMs)) {
      return bad(`pings[${i}] needs nic, targetIp, id, seq, ageMs and leftMs in range`);
    }
  }
  if (!isUint(v.nextPingSeq, 0xffff + 1)) return bad('nextPingSeq is not 0..65536');
  if (!Array.isArray(v.udpCountOnly) || v.udpCountOnly.length > limits.maxUdpPorts) return bad(`udpCountOnly must be at most ${limits.maxUdpPorts} entries`);
  for (const [i, u] of v.udpCountOnly.entries()) {
    if (!isObj(u) || !isUint(u.port, 0xffff) || !isCount(u.datagrams) || !isCount(u.bytes)) return bad(`udpCountOnly[${i}] needs port, datagrams and bytes`);
  }
  const why = checkCounters(counterTemplate, v.counters);
  if (why !== undefined) return bad(why);
  return ok(v as unknown as EndpointSnapshot);
}

/** Copies every counter of `from` (already checked) into `into`, same shape. */
export function copyCounters(into: Record<string, unknown>, from: Record<string, unknown>): void {
  for (const [k, t] of Object.entries(into)) {
    if (isObj(t)) copyCounters(t, from[k] as Record<string, unknown>);
    else into[k] = from[k];
  }
}
