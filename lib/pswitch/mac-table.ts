// Dynamic MAC address table of the emulated physical switch: (VLAN, MAC) -> logical port (a port or a
// port-channel), with last-seen time, move counts and the flap-detection window. Keyed by numbers only:
// one Map<Mac, entry> per VLAN in a 4096-slot array, so a lookup builds no string. Capacity is fixed at
// construction; the table itself never evicts (the switch refuses to learn when full, see pswitch.ts).
// Aging is a scan (age() is called periodically, not per frame), bounded by the capacity. Leaves out
// static and secure entries.

import type { Mac } from '../wire/mac.js';
import { VLAN_ID_SPACE } from './config.js';

export interface MacEntry {
  readonly vlan: number;
  readonly mac: Mac;
  /** Logical port index (standalone port or port-channel) the MAC was last seen on. */
  lport: number;
  /** Logical port before the last move, or -1. */
  prevLport: number;
  learnedMs: number;
  lastSeenMs: number;
  /** Moves since learned. */
  moves: number;
  /** Flap window: start time, moves inside it, and whether it already raised mac-flap. */
  windowStartMs: number;
  windowMoves: number;
  flapReported: boolean;
}

export class MacTable {
  private readonly vlans: Array<Map<Mac, MacEntry> | undefined> = new Array(VLAN_ID_SPACE);
  private count = 0;
  // The two entries found last (a frame looks up its source, then its destination): hits only, forgotten
  // whenever an entry leaves the table.
  private hitVlan0 = -1;
  private hitMac0 = -1;
  private hit0: MacEntry | undefined;
  private hitVlan1 = -1;
  private hitMac1 = -1;
  private hit1: MacEntry | undefined;

  constructor(readonly maxEntries: number) {}

  get size(): number {
    return this.count;
  }

  isFull(): boolean {
    return this.count >= this.maxEntries;
  }

  get(vlan: number, mac: Mac): MacEntry | undefined {
    if (mac === this.hitMac0 && vlan === this.hitVlan0) return this.hit0;
    if (mac === this.hitMac1 && vlan === this.hitVlan1) return this.hit1;
    const m = this.vlans[vlan];
    const e = m === undefined ? undefined : m.get(mac);
    if (e !== undefined) {
      this.hitVlan1 = this.hitVlan0;
      this.hitMac1 = this.hitMac0;
      this.hit1 = this.hit0;
      this.hitVlan0 = vlan;
      this.hitMac0 = mac;
      this.hit0 = e;
    }
    return e;
  }

  private forgetHits(): void {
    this.hitVlan0 = -1;
    this.hitMac0 = -1;
    this.hit0 = undefined;
    this.hitVlan1 = -1;
    this.hitMac1 = -1;
    this.hit1 = undefined;
  }

  /** Adds a new entry; the caller checks isFull() and absence first. */
  insert(vlan: number, mac: Mac, lport: number, nowMs: number): MacEntry {
    let m = this.vlans[vlan];
    if (m === undefined) {
      m = new Map();
      this.vlans[vlan] = m;
    }
    const entry: MacEntry = {
      vlan, mac, lport, prevLport: -1, learnedMs: nowMs, lastSeenMs: nowMs, moves: 0,
      windowStartMs: nowMs, windowMoves: 0, flapReported: false,
    };
    m.set(mac, entry);
    this.count++;
    this.forgetHits(); // the caller checked absence; forgetting keeps a replaced entry from lingering
    return entry;
  }

  delete(entry: MacEntry): void {
    const m = this.vlans[entry.vlan];
    if (m !== undefined && m.get(entry.mac) === entry) {
      m.delete(entry.mac);
      this.count--;
      this.forgetHits();
    }
  }

  /** Removes and returns every entry for which `pred` is true. */
  removeWhere(pred: (e: MacEntry) => boolean): MacEntry[] {
    const removed: MacEntry[] = [];
    this.forgetHits();
    for (let v = 0; v < VLAN_ID_SPACE; v++) {
      const m = this.vlans[v];
      if (m === undefined || m.size === 0) continue;
      for (const e of m.values()) {
        if (pred(e)) {
          m.delete(e.mac);
          removed.push(e);
        }
      }
    }
    this.count -= removed.length;
    return removed;
  }

  /** Entries in VLAN then MAC order. */
  entries(): MacEntry[] {
    const out: MacEntry[] = [];
    for (let v = 0; v < VLAN_ID_SPACE; v++) {
      const m = this.vlans[v];
      if (m === undefined || m.size === 0) continue;
      const list = [...m.values()].sort((a, b) => a.mac - b.mac);
      for (const e of list) out.push(e);
    }
    return out;
  }

  /** Smallest lastSeenMs over all entries, or undefined when empty. */
  oldestSeenMs(): number | undefined {
    let oldest: number | undefined;
    for (let v = 0; v < VLAN_ID_SPACE; v++) {
      const m = this.vlans[v];
      if (m === undefined || m.size === 0) continue;
      for (const e of m.values()) if (oldest === undefined || e.lastSeenMs < oldest) oldest = e.lastSeenMs;
    }
    return oldest;
  }
}
