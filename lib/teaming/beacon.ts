// Beacon probing (spec §3.9): the beacon frame codec and the pure prober that counts missed beacons between
// team mates and infers which uplink failed. Covers: EtherType 0x8922 broadcast beacons sent by every team
// NIC (active or standby) once per BEACON_INTERVAL_MS on each VLAN in use (802.1Q-tagged, untagged for
// VLAN 0); an uplink pair is "lost" after BEACON_MISSES_FOR_FAILURE consecutive rounds without a beacon on
// every VLAN in use; an uplink that hears no team mate while other uplinks hear each other is failed; when no
// uplink hears any team mate (always the case for a failure with 2 NICs) the failure is ambiguous and the
// prober reports "shotgun" (traffic goes out all of them).
// Leaves out: sending (the daemon sends the frames the engine returns) and timers (the caller ticks).
// Payload format: VMware does not publish the ESXi beacon payload, so ours is our own layout:
//   offset 0  magic "VFBN" (4 bytes) | 4 version (1) | 5 name length (1) | 6 sequence number (uint32 BE)
//   offset 10 sender vmnic name (ASCII, name-length bytes), then zero padding to the 60-byte minimum frame.
// Only the EtherType, the broadcast destination and the vmnic MAC as source follow ESXi [S22].

import { VfabError, type Result, ok, err } from '../errors.js';
import { type Mac, BROADCAST_MAC, readMac, writeMac } from '../wire/mac.js';
import {
  ETHERTYPE_VLAN,
  ETHERTYPE_VMW_BEACON,
  ETH_HEADER_BYTES,
  MIN_FRAME_BYTES,
  VLAN_TAG_BYTES,
  VLAN_MAX,
} from '../wire/ethernet.js';

/** Beacons are sent once per second by every team NIC (§3.9). */
export const BEACON_INTERVAL_MS = 1000;
/** Consecutive missed beacon rounds before an uplink pair is considered lost (§3.9). */
export const BEACON_MISSES_FOR_FAILURE = 3;
/** Longest vmnic name carried in a beacon. */
export const BEACON_NAME_MAX_BYTES = 32;
/** Most VLANs beacons are sent on; each adds one beacon per NIC per second. */
export const MAX_BEACON_VLANS = 256;

export const BEACON_MAGIC = 0x5646424e; // "VFBN"
export const BEACON_VERSION = 1;
const P_MAGIC = 0;
const P_VERSION = 4;
const P_NAME_LEN = 5;
const P_SEQ = 6;
const P_NAME = 10;

/** A beacon as a value. `vlanId` 0 = untagged. */
export interface Beacon {
  src: Mac;
  vlanId: number;
  seq: number;
  uplinkName: string;
}

export class BeaconError extends VfabError {
  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
    this.name = 'BeaconError';
  }
}

export function beaconFrameBytes(b: Beacon): number {
  const tag = b.vlanId === 0 ? 0 : VLAN_TAG_BYTES;
  return Math.max(MIN_FRAME_BYTES, ETH_HEADER_BYTES + tag + P_NAME + Buffer.byteLength(b.uplinkName, 'latin1'));
}

/** Writes `b` into `buf` (at least beaconFrameBytes(b) long); padding bytes are zeroed. Returns bytes written. */
export function emitBeacon(b: Beacon, buf: Uint8Array): number {
  if (b.uplinkName.length > BEACON_NAME_MAX_BYTES || !/^[\x21-\x7e]*$/.test(b.uplinkName)) {
    throw new BeaconError('VFAB_BEACON_BAD_NAME', `uplink name ${JSON.stringify(b.uplinkName)} must be printable ASCII of at most ${BEACON_NAME_MAX_BYTES} bytes`);
  }
  if (!(Number.isInteger(b.vlanId) && b.vlanId >= 0 && b.vlanId <= VLAN_MAX)) {
    throw new BeaconError('VFAB_BEACON_BAD_VLAN', `beacon VLAN ${b.vlanId} is not 0..${VLAN_MAX}`);
  }
  const total = beaconFrameBytes(b);
  if (buf.length < total) throw new BeaconError('VFAB_BEACON_BUFFER_SMALL', `beacon needs ${total} bytes, buffer has ${buf.length}`);
  writeMac(buf, 0, BROADCAST_MAC);
  writeMac(buf, 6, b.src);
  let o = 12;
  if (b.vlanId !== 0) {
    buf[12] = ETHERTYPE_VLAN >>> 8;
    buf[13] = ETHERTYPE_VLAN & 0xff;
    buf[14] = (b.vlanId >>> 8) & 0x0f;
    buf[15] = b.vlanId & 0xff;
    o = 16;
  }
  buf[o] = ETHERTYPE_VMW_BEACON >>> 8;
  buf[o + 1] = ETHERTYPE_VMW_BEACON & 0xff;
  const p = o + 2;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  view.setUint32(p + P_MAGIC, BEACON_MAGIC);
  buf[p + P_VERSION] = BEACON_VERSION;
  buf[p + P_NAME_LEN] = b.uplinkName.length;
  view.setUint32(p + P_SEQ, b.seq >>> 0);
  for (let i = 0; i < b.uplinkName.length; i++) buf[p + P_NAME + i] = b.uplinkName.charCodeAt(i);
  buf.fill(0, p + P_NAME + b.uplinkName.length, total);
  return total;
}

export function buildBeacon(b: Beacon): Buffer {
  const buf = Buffer.alloc(beaconFrameBytes(b));
  emitBeacon(b, buf);
  return buf;
}

/** True when the frame's EtherType (after one optional C-tag) is the beacon EtherType. No allocation. */
export function isBeaconFrame(frame: Uint8Array): boolean {
  if (frame.length < ETH_HEADER_BYTES) return false;
  let t = (frame[12]! << 8) | frame[13]!;
  if (t === ETHERTYPE_VLAN) {
    if (frame.length < ETH_HEADER_BYTES + VLAN_TAG_BYTES) return false;
    t = (frame[16]! << 8) | frame[17]!;
  }
  return t === ETHERTYPE_VMW_BEACON;
}

/** Parses a beacon from untrusted bytes; never throws. */
export function parseBeacon(frame: Uint8Array): Result<Beacon, BeaconError> {
  if (frame.length < ETH_HEADER_BYTES) return err(new BeaconError('VFAB_BEACON_TRUNCATED', `frame of ${frame.length} bytes has no Ethernet header`));
  let o = 12;
  let vlanId = 0;
  if (((frame[12]! << 8) | frame[13]!) === ETHERTYPE_VLAN) {
    if (frame.length < ETH_HEADER_BYTES + VLAN_TAG_BYTES) return err(new BeaconError('VFAB_BEACON_TRUNCATED', 'frame ends inside its 802.1Q tag'));
    vlanId = ((frame[14]! << 8) | frame[15]!) & 0x0fff;
    o = 16;
  }
  const type = (frame[o]! << 8) | frame[o + 1]!;
  if (type !== ETHERTYPE_VMW_BEACON) {
    return err(new BeaconError('VFAB_BEACON_NOT_BEACON', `EtherType 0x${type.toString(16).padStart(4, '0')} is not the beacon EtherType 0x8922`));
  }
  const p = o + 2;
  if (frame.length < p + P_NAME) return err(new BeaconError('VFAB_BEACON_TRUNCATED', 'beacon payload shorter than its 10-byte header'));
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  if (view.getUint32(p + P_MAGIC) !== BEACON_MAGIC || frame[p + P_VERSION] !== BEACON_VERSION) {
    return err(new BeaconError('VFAB_BEACON_BAD_MAGIC', 'beacon payload is not a vfab beacon (magic/version mismatch; ESXi payloads are not decoded)'));
  }
  const nameLen = frame[p + P_NAME_LEN]!;
  if (nameLen > BEACON_NAME_MAX_BYTES || frame.length < p + P_NAME + nameLen) {
    return err(new BeaconError('VFAB_BEACON_BAD_NAME', `beacon name length ${nameLen} exceeds the frame or ${BEACON_NAME_MAX_BYTES}`));
  }
  let uplinkName = '';
  for (let i = 0; i < nameLen; i++) uplinkName += String.fromCharCode(frame[p + P_NAME + i]!);
  return ok({ src: readMac(frame, 6), vlanId, seq: view.getUint32(p + P_SEQ), uplinkName });
}

// ---------------------------------------------------------------- prober (pure state machine)

export interface BeaconProberOptions {
  uplinkNames: readonly string[];
  uplinkMacs: readonly Mac[];
  /** Uplink indices that take part (team NICs: active and standby; unused NICs do not). */
  participants: readonly number[];
  /** VLANs beacons go out on; 0 = untagged. Default [0]. */
  vlans?: readonly number[];
  startMs: number;
  intervalMs?: number;
  missesForFailure?: number;
}

export interface BeaconSend {
  uplink: number;
  vlanId: number;
  frame: Buffer;
}

/** Result of the prober's inference over the uplinks that have link and take part. */
export interface BeaconVerdict {
  /** Bit i set: uplink i failed beacon probing. */
  failedMask: number;
  /** Bit i set: ambiguous failure, send out all of these (0 when not ambiguous). */
  shotgunMask: number;
}

export class BeaconProber {
  private readonly n: number;
  private readonly names: readonly string[];
  private readonly macs: readonly Mac[];
  private readonly macToUplink = new Map<Mac, number>();
  private readonly intervalMs: number;
  private readonly missesForFailure: number;
  private participantMask = 0;
  private linkUpMask: number;
  private vlans: number[] = [0];
  private readonly vlanIndex = new Map<number, number>();
  /** heard[(r * n + s) * nVlans + v] = 1 when r heard s on VLAN v during the current round. */
  private heard: Uint8Array = new Uint8Array(0);
  /** Consecutive missed rounds of sender s at receiver r: misses[r * n + s]. */
  private readonly misses: Uint16Array;
  /** Uplinks that sent beacons in the round now being collected. */
  private sentMask = 0;
  private nextRoundMs: number;
  private started = false;
  private seq = 0;
  private verdict: BeaconVerdict = { failedMask: 0, shotgunMask: 0 };
  /** Beacons dropped as malformed, from unknown senders or on VLANs not in use. */
  ignoredBeacons = 0;

  constructor(opts: BeaconProberOptions) {
    this.n = opts.uplinkNames.length;
    this.names = opts.uplinkNames;
    this.macs = opts.uplinkMacs;
    if (this.macs.length !== this.n) {
      throw new VfabError('VFAB_TEAMING_BEACON_NO_MAC', `beacon probing needs one MAC per uplink (${this.n} uplinks, ${this.macs.length} MACs)`);
    }
    this.macs.forEach((m, i) => this.macToUplink.set(m, i));
    this.intervalMs = opts.intervalMs ?? BEACON_INTERVAL_MS;
    this.missesForFailure = opts.missesForFailure ?? BEACON_MISSES_FOR_FAILURE;
    this.misses = new Uint16Array(this.n * this.n);
    for (const i of opts.participants) this.participantMask |= 1 << i;
    this.linkUpMask = this.n === 32 ? -1 : (1 << this.n) - 1;
    this.nextRoundMs = opts.startMs;
    this.setVlans(opts.vlans ?? [0]);
  }

  /** Changes the VLANs beacons are sent on; restarts the per-round reception record. */
  setVlans(vlans: readonly number[]): void {
    const unique = [...new Set(vlans)];
    if (unique.length === 0) unique.push(0);
    if (unique.length > MAX_BEACON_VLANS) {
      throw new VfabError('VFAB_TEAMING_TOO_MANY_BEACON_VLANS', `beacons on ${unique.length} VLANs exceed MAX_BEACON_VLANS (${MAX_BEACON_VLANS})`);
    }
    for (const v of unique) {
      if (!(Number.isInteger(v) && v >= 0 && v <= VLAN_MAX)) throw new VfabError('VFAB_TEAMING_BAD_VLAN', `beacon VLAN ${v} is not 0..${VLAN_MAX}`);
    }
    this.vlans = unique;
    this.vlanIndex.clear();
    unique.forEach((v, i) => this.vlanIndex.set(v, i));
    this.heard = new Uint8Array(this.n * this.n * unique.length);
  }

  /** Link state feeds in: a NIC without link sends nothing and is not judged; on link up its record restarts. */
  setLinkUp(uplink: number, up: boolean): void {
    const bit = 1 << uplink;
    if (up === ((this.linkUpMask & bit) !== 0)) return;
    this.linkUpMask = up ? this.linkUpMask | bit : this.linkUpMask & ~bit;
    for (let j = 0; j < this.n; j++) {
      this.misses[uplink * this.n + j] = 0;
      this.misses[j * this.n + uplink] = 0;
    }
    this.sentMask &= ~bit;
    this.verdict = this.infer();
  }

  /** Records a beacon that arrived on uplink `rxUplink`. Returns false when the frame was ignored. */
  receive(rxUplink: number, frame: Uint8Array): boolean {
    const parsed = parseBeacon(frame);
    if (!parsed.ok) {
      this.ignoredBeacons++;
      return false;
    }
    const sender = this.macToUplink.get(parsed.value.src);
    const v = this.vlanIndex.get(parsed.value.vlanId);
    if (sender === undefined || v === undefined || sender === rxUplink || rxUplink < 0 || rxUplink >= this.n) {
      this.ignoredBeacons++;
      return false;
    }
    this.heard[(rxUplink * this.n + sender) * this.vlans.length + v] = 1;
    return true;
  }

  nextDeadlineMs(): number {
    return this.nextRoundMs;
  }

  current(): BeaconVerdict {
    return this.verdict;
  }

  /** Consecutive missed rounds of `sender` at `receiver` (for status and tests). */
  missedRounds(receiver: number, sender: number): number {
    return this.misses[receiver * this.n + sender]!;
  }

  /** True when `receiver` still hears `sender` (fewer than the failure threshold of missed rounds). */
  hears(receiver: number, sender: number): boolean {
    return this.misses[receiver * this.n + sender]! < this.missesForFailure;
  }

  /**
   * At or after a round boundary: closes the round just ended (counts misses, re-infers), then returns the
   * beacons of the next round. Before the boundary: returns null. A late call does not count the rounds it
   * skipped (no beacons were sent in them).
   */
  tick(nowMs: number): { sends: BeaconSend[]; changed: boolean } | null {
    if (nowMs < this.nextRoundMs) return null;
    let changed = false;
    if (this.started) {
      this.closeRound();
      const next = this.infer();
      changed = next.failedMask !== this.verdict.failedMask || next.shotgunMask !== this.verdict.shotgunMask;
      this.verdict = next;
    }
    this.started = true;
    this.heard.fill(0);
    this.seq = (this.seq + 1) >>> 0;
    const sends: BeaconSend[] = [];
    const senders = this.participantMask & this.linkUpMask;
    for (let u = 0; u < this.n; u++) {
      if ((senders & (1 << u)) === 0) continue;
      for (const vlanId of this.vlans) {
        sends.push({ uplink: u, vlanId, frame: buildBeacon({ src: this.macs[u]!, vlanId, seq: this.seq, uplinkName: this.names[u]! }) });
      }
    }
    this.sentMask = senders;
    this.nextRoundMs += this.intervalMs;
    if (this.nextRoundMs <= nowMs) this.nextRoundMs = nowMs + this.intervalMs;
    return { sends, changed };
  }

  private closeRound(): void {
    const nV = this.vlans.length;
    const receivers = this.participantMask & this.linkUpMask;
    for (let r = 0; r < this.n; r++) {
      if ((receivers & (1 << r)) === 0) continue;
      for (let s = 0; s < this.n; s++) {
        if (s === r || (this.sentMask & (1 << s)) === 0) continue;
        let all = true;
        const base = (r * this.n + s) * nV;
        for (let v = 0; v < nV; v++) if (this.heard[base + v] === 0) all = false;
        const k = r * this.n + s;
        this.misses[k] = all ? 0 : Math.min(this.misses[k]! + 1, 0xffff);
      }
    }
  }

  /** An uplink that hears no team mate is failed if some others still hear a mate; if none does, shotgun. */
  private infer(): BeaconVerdict {
    const candidates = this.participantMask & this.linkUpMask;
    let count = 0;
    let deaf = 0;
    for (let r = 0; r < this.n; r++) {
      if ((candidates & (1 << r)) === 0) continue;
      count++;
      let hearsAny = false;
      for (let s = 0; s < this.n; s++) {
        if (s !== r && (candidates & (1 << s)) !== 0 && this.hears(r, s)) hearsAny = true;
      }
      if (!hearsAny) deaf |= 1 << r;
    }
    if (count < 2 || deaf === 0) return { failedMask: 0, shotgunMask: 0 };
    if (deaf === candidates) return { failedMask: 0, shotgunMask: candidates };
    return { failedMask: deaf, shotgunMask: 0 };
  }
}
