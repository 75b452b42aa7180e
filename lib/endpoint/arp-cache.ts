// The ARP state of one guest vNIC (RFC 826 as a host implements it, with the retry/queue behaviour of
// common stacks): a cache of IPv4 -> MAC entries that expire after ARP_CACHE_TTL_MS, and the pending
// resolutions, each with its retry deadline and a bounded queue of frames waiting for the MAC. Pure data
// with explicit times: the caller (VmEndpoint) decides what to send. Leaves out NUD states
// (stale/probe/delay of Linux) and proxy ARP.

import type { Mac } from '../wire/mac.js';

/** How long a learned entry is used before it must be resolved again. */
export const ARP_CACHE_TTL_MS = 60_000;
/** Time between ARP requests for an unresolved address. */
export const ARP_RETRY_INTERVAL_MS = 1_000;
/** Requests after the first before giving up (so 1 + ARP_MAX_RETRIES requests in all). */
export const ARP_MAX_RETRIES = 3;
/** Frames queued per unresolved next hop; more are dropped and counted. */
export const ARP_PENDING_MAX_PACKETS = 16;
/** Cache entries per vNIC; a new entry beyond it evicts the oldest. */
export const ARP_CACHE_MAX_ENTRIES = 1024;
/** Unresolved next hops per vNIC; a new one beyond it fails at once. */
export const ARP_PENDING_MAX_RESOLUTIONS = 256;

export interface ArpEntry {
  mac: Mac;
  learnedAtMs: number;
  expiresAtMs: number;
}

export interface ArpResolution {
  ip: number;
  /** Requests sent after the first one. */
  retries: number;
  nextRetryAtMs: number;
  /** Complete frames whose destination MAC is written once the address resolves. */
  queue: Buffer[];
}

export class ArpCache {
  readonly entries = new Map<number, ArpEntry>();
  readonly pending = new Map<number, ArpResolution>();

  /** The MAC for `ip` if a live entry exists (an expired one counts as absent). */
  lookup(ip: number, nowMs: number): Mac | undefined {
    const e = this.entries.get(ip);
    return e !== undefined && e.expiresAtMs > nowMs ? e.mac : undefined;
  }

  /** Adds or refreshes an entry; returns true when the oldest entry was evicted to make room. */
  learn(ip: number, mac: Mac, nowMs: number): boolean {
    const e = this.entries.get(ip);
    if (e !== undefined) {
      // Re-insert so Map order stays "least recently learned first" for eviction.
      this.entries.delete(ip);
      e.mac = mac;
      e.learnedAtMs = nowMs;
      e.expiresAtMs = nowMs + ARP_CACHE_TTL_MS;
      this.entries.set(ip, e);
      return false;
    }
    let evicted = false;
    if (this.entries.size >= ARP_CACHE_MAX_ENTRIES) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
      evicted = true;
    }
    this.entries.set(ip, { mac, learnedAtMs: nowMs, expiresAtMs: nowMs + ARP_CACHE_TTL_MS });
    return evicted;
  }

  /** Removes entries whose TTL has run out; returns how many. */
  expire(nowMs: number): number {
    let n = 0;
    for (const [ip, e] of this.entries) {
      if (e.expiresAtMs <= nowMs) {
        this.entries.delete(ip);
        n++;
      }
    }
    return n;
  }

  /** Earliest time something here is due (retry or expiry), or undefined. */
  nextDeadlineMs(): number | undefined {
    let next: number | undefined;
    for (const e of this.entries.values()) if (next === undefined || e.expiresAtMs < next) next = e.expiresAtMs;
    for (const r of this.pending.values()) if (next === undefined || r.nextRetryAtMs < next) next = r.nextRetryAtMs;
    return next;
  }

  clear(): void {
    this.entries.clear();
    this.pending.clear();
  }
}
