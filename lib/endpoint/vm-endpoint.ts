// A guest VM as seen from the wire: one or more vNICs, each with a MAC, an optional IPv4 address, prefix
// and gateway, and a small real IP stack: ARP (RFC 826: cache with TTL, retries, bounded pending queue,
// replies for its own address, learning from gratuitous ARP, duplicate-address notice), ICMP echo
// (RFC 792: responder, and ping with RTT from the clock), UDP (RFC 768) send/receive, guest 802.1Q tagging
// (VGT on a 4095 port group, spec §2.1), promiscuous receive (§4.2) and guest MAC change (§4.1, §4.3).
// Pure logic: time comes from the Clock, every output is an action for the caller (the daemon) to carry
// out, malformed frames are dropped and counted. snapshot()/restore() hand a running endpoint to another host
// (vMotion; the value is in lib/endpoint/snapshot.ts). Leaves out TCP, IP fragmentation/reassembly, IPv4
// multicast group membership, DHCP and IPv6.

import { VfabError, type Result, ok, err } from '../errors.js';
import type { Clock } from '../clock.js';
import { type Mac, BROADCAST_MAC, MAC_BYTES, readMac, writeMac, isGroupMac, macToString, parseMac } from '../wire/mac.js';
import {
  ETH_HEADER_BYTES, VLAN_TAG_BYTES, MIN_FRAME_BYTES, MAX_FRAME_BYTES, MAX_MTU_BYTES, ETHERTYPE_ARP, ETHERTYPE_IPV4,
  ETHERTYPE_RARP, ETHERTYPE_VLAN, VLAN_MIN, VLAN_MAX, ETH_TYPE_OFFSET,
} from '../wire/ethernet.js';
import {
  ARP_OP_REPLY, ARP_OP_REQUEST, ARP_PACKET_BYTES, arpIsEthernetIpv4, arpOp, arpSha,
  arpSpa, arpTpa, buildArpReply, buildArpRequest, buildGratuitousArp,
} from '../wire/arp.js';
import {
  IPV4_BROADCAST, IPV4_MIN_HEADER_BYTES, IPPROTO_ICMP, IPPROTO_UDP, Ipv4Check, checkIpv4, emitIpv4Simple, ipv4Dst,
  ipv4HeaderBytes, ipv4IsFragment, ipv4Protocol, ipv4Src, ipv4ToString, ipv4TotalLength, ipv4Ttl, parseIpv4Address,
  prefixMask, sameSubnet,
} from '../wire/ipv4.js';
import {
  ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, ICMP_HEADER_BYTES, emitIcmp, icmpEchoId, icmpEchoSeq, icmpType, icmpVerifies,
} from '../wire/icmp.js';
import { UDP_HEADER_BYTES, UdpCheck, checkUdp, emitUdp, fillUdpChecksum, udpDstPort, udpLength, udpSrcPort } from '../wire/udp.js';
import { internetChecksum } from '../wire/checksum.js';
import { type EndpointSnapshot, ENDPOINT_SNAPSHOT_VERSION, checkEndpointSnapshot, copyCounters } from './snapshot.js';
import { ArpCache, ARP_MAX_RETRIES, ARP_PENDING_MAX_PACKETS, ARP_PENDING_MAX_RESOLUTIONS, ARP_RETRY_INTERVAL_MS } from './arp-cache.js';

/** vNICs per VM (spec §8). */
export const MAX_VM_NICS = 10;
export const DEFAULT_MTU_BYTES = 1500;

/** The largest frame a vNIC with IP MTU `mtuBytes` sends: the MTU plus the Ethernet header, plus the 802.1Q tag when the guest tags (no fragmentation). */
export function vnicMaxFrameBytes(mtuBytes: number, guestTagged: boolean): number {
  return mtuBytes + ETH_HEADER_BYTES + (guestTagged ? VLAN_TAG_BYTES : 0);
}

/** Why vNIC `nic` ("web1.nic0") cannot send `frameBytes`-byte frames (the size is over vnicMaxFrameBytes). */
export function frameTooLargeMessage(nic: string, frameBytes: number, mtuBytes: number, guestTagged: boolean): string {
  return `${nic} cannot send ${frameBytes}-byte frames: its largest frame is ${vnicMaxFrameBytes(mtuBytes, guestTagged)} bytes (MTU ${mtuBytes} + ${ETH_HEADER_BYTES}-byte Ethernet header${guestTagged ? ` + ${VLAN_TAG_BYTES}-byte 802.1Q tag the guest adds` : ''}; no fragmentation)`;
}
/** Smallest IPv4 MTU (RFC 791). */
export const MIN_MTU_BYTES = 68;

/** The largest ICMP echo payload (ping -s) a vNIC with IP MTU `mtuBytes` sends in one packet: MTU - 20 - 8. */
export function maxPingPayloadBytes(mtuBytes: number): number {
  return mtuBytes - IPV4_MIN_HEADER_BYTES - ICMP_HEADER_BYTES;
}

function checkMtu(mtuBytes: number, where: string): number {
  if (!Number.isInteger(mtuBytes) || mtuBytes < MIN_MTU_BYTES || mtuBytes > MAX_MTU_BYTES) {
    throw endpointError('VFAB_ENDPOINT_BAD_CONFIG', `${where}: MTU ${mtuBytes} outside ${MIN_MTU_BYTES}..${MAX_MTU_BYTES}`);
  }
  return mtuBytes;
}

/** A topology VM's vNICs as endpoint configs (address, gateway, guest VLAN, MTU), for hostd and vmd alike. */
export function nicConfigsOf(nics: ReadonlyArray<{ name: string; mac: Mac; ip?: { address: string; prefixLength: number } | undefined; gateway?: string | undefined; guestVlan?: number | undefined; mtu?: number | undefined }>): NicConfig[] {
  return nics.map((n) => ({
    name: n.name,
    mac: n.mac,
    ...(n.ip ? { ipv4: n.ip.address, prefixLength: n.ip.prefixLength } : {}),
    ...(n.gateway ? { gateway: n.gateway } : {}),
    ...(n.guestVlan !== undefined ? { guestVlanId: n.guestVlan } : {}),
    ...(n.mtu !== undefined ? { mtuBytes: n.mtu } : {}),
  }));
}
export const DEFAULT_PREFIX_LENGTH = 24;
export const PING_DEFAULT_TIMEOUT_MS = 1_000;
/** Like ping(8): 56 data bytes, 64 ICMP bytes. */
export const PING_DEFAULT_PAYLOAD_BYTES = 56;
export const PING_DEFAULT_ID = 1;
/** Pings awaiting a reply per VM; more fail at once. */
export const PING_MAX_OUTSTANDING = 1024;
/** Longest ping timeout accepted. */
export const PING_MAX_TIMEOUT_MS = 3_600_000;
/** UDP ports whose datagrams are only counted (no action), per VM. */
export const UDP_COUNT_ONLY_MAX_PORTS = 1024;
const IP_TTL = 64;

export interface NicConfig {
  name: string;
  mac: Mac;
  /** 'a.b.c.d'; without it the vNIC speaks only L2 (raw frames) and answers no ARP. */
  ipv4?: string;
  /** 0..32, default 24. */
  prefixLength?: number;
  /** On-link next hop for off-link destinations. */
  gateway?: string;
  /** 1..4094: the guest tags what it sends with this VID and accepts only frames tagged with it (VGT). */
  guestVlanId?: number;
  /** IP MTU, MIN_MTU_BYTES..MAX_MTU_BYTES, default 1500. */
  mtuBytes?: number;
}

export interface VmEndpointOptions {
  name: string;
  nics: NicConfig[];
  clock: Clock;
}

export type EndpointAction =
  /** Put `frame` on the wire of vNIC `nic` (the Buffer belongs to the caller from now on). */
  | { kind: 'transmit'; nic: number; frame: Buffer }
  /** The guest changed its effective MAC: the host must re-register the port (spec §4.3, §3.10 RARP). */
  | { kind: 'macChanged'; nic: number; mac: Mac; previousMac: Mac }
  /** The guest adapter entered or left promiscuous receive (spec §4.2). */
  | { kind: 'promiscuous'; nic: number; on: boolean }
  | { kind: 'pingReply'; nic: number; targetIp: string; id: number; seq: number; rttMs: number; ttl: number; bytes: number }
  | { kind: 'pingTimeout'; nic: number; targetIp: string; id: number; seq: number }
  /** A pending resolution completed (queued frames were transmitted in the same batch). */
  | { kind: 'arpResolved'; nic: number; ip: string; mac: Mac }
  /** ARP gave up after ARP_MAX_RETRIES retries; `droppedPackets` queued frames were discarded. */
  | { kind: 'arpFailed'; nic: number; ip: string; droppedPackets: number }
  /** Another station claims this vNIC's IPv4 address (gratuitous ARP or ARP from a foreign MAC). */
  | { kind: 'ipConflict'; nic: number; ip: string; mac: Mac }
  | { kind: 'udp'; nic: number; srcIp: string; srcPort: number; dstIp: string; dstPort: number; payload: Buffer }
  /** A frame seen only because the vNIC is promiscuous (not addressed to it; never answered). A copy. */
  | { kind: 'sniffed'; nic: number; frame: Buffer }
  /** A send could not leave: `code` is a VFAB_ENDPOINT_* code (no route, no address, powered off...). */
  | { kind: 'sendFailed'; nic: number; dstIp: string; code: string; message: string };

export type EndpointActions = readonly EndpointAction[];

const NO_ACTIONS: EndpointActions = Object.freeze([]) as EndpointActions;

export interface EndpointDropCounters {
  poweredOff: number;
  /** Shorter than an Ethernet header. */
  runt: number;
  /** Longer than MAX_FRAME_BYTES, or an IP packet larger than the vNIC's MTU (its receive buffers fit the MTU). */
  oversize: number;
  /** Tag missing, wrong VID, or a tag on a vNIC that does not tag. */
  vlanMismatch: number;
  /** Unicast or multicast to another MAC while not promiscuous. */
  notForUs: number;
  malformed: number;
  badChecksum: number;
  notOurIp: number;
  fragment: number;
  unsupportedEtherType: number;
  unsupportedProtocol: number;
  /** Queued frames beyond ARP_PENDING_MAX_PACKETS, or resolutions beyond ARP_PENDING_MAX_RESOLUTIONS. */
  arpQueueFull: number;
  /** Queued frames discarded when ARP gave up. */
  arpGiveUp: number;
  noRoute: number;
  /** Echo requests to a broadcast address (ignored, as Linux does by default). */
  broadcastEcho: number;
  unmatchedEchoReply: number;
}

export interface EndpointCounters {
  rxFrames: number;
  rxBytes: number;
  txFrames: number;
  txBytes: number;
  rxPromiscuousFrames: number;
  drops: EndpointDropCounters;
  arp: {
    requestsSent: number; requestsReceived: number; repliesSent: number; repliesReceived: number; gratuitousReceived: number;
    retries: number; resolved: number; failed: number; expired: number; cacheEvictions: number; conflicts: number;
    rarpReceived: number; otherReceived: number;
  };
  icmp: { echoRequestsSent: number; echoRequestsReceived: number; echoRepliesSent: number; echoRepliesReceived: number; timeouts: number; otherReceived: number };
  udp: { rxDatagrams: number; rxBytes: number; txDatagrams: number; txBytes: number };
}

function newCounters(): EndpointCounters {
  return {
    rxFrames: 0, rxBytes: 0, txFrames: 0, txBytes: 0, rxPromiscuousFrames: 0,
    drops: {
      poweredOff: 0, runt: 0, oversize: 0, vlanMismatch: 0, notForUs: 0, malformed: 0, badChecksum: 0, notOurIp: 0, fragment: 0,
      unsupportedEtherType: 0, unsupportedProtocol: 0, arpQueueFull: 0, arpGiveUp: 0, noRoute: 0, broadcastEcho: 0, unmatchedEchoReply: 0,
    },
    arp: {
      requestsSent: 0, requestsReceived: 0, repliesSent: 0, repliesReceived: 0, gratuitousReceived: 0, retries: 0, resolved: 0,
      failed: 0, expired: 0, cacheEvictions: 0, conflicts: 0, rarpReceived: 0, otherReceived: 0,
    },
    icmp: { echoRequestsSent: 0, echoRequestsReceived: 0, echoRepliesSent: 0, echoRepliesReceived: 0, timeouts: 0, otherReceived: 0 },
    udp: { rxDatagrams: 0, rxBytes: 0, txDatagrams: 0, txBytes: 0 },
  };
}

interface NicState {
  index: number;
  name: string;
  initialMac: Mac;
  mac: Mac;
  hasIp: boolean;
  ip: number;
  mask: number;
  /** Directed broadcast of the subnet (equal to ip for /32). */
  subnetBroadcast: number;
  gateway: number | undefined;
  guestVid: number;
  /** 14, or 18 with a guest tag. */
  headerBytes: number;
  mtuBytes: number;
  promiscuous: boolean;
  arp: ArpCache;
  nextIpId: number;
}

interface PendingPing {
  nic: number;
  targetIp: string;
  id: number;
  seq: number;
  sentAtMs: number;
  deadlineMs: number;
}

export interface UdpPortCounters {
  datagrams: number;
  bytes: number;
}

/** Next hop meaning "send to the broadcast MAC, no ARP". */
const NEXT_HOP_BROADCAST = -1;
/** Next hop meaning "off-link and no gateway". */
const NEXT_HOP_NONE = -2;

function endpointError(code: string, message: string, details?: Record<string, unknown>): VfabError {
  return new VfabError(code, message, details);
}

/** Bits set in a contiguous netmask. */
function prefixLengthOf(mask: number): number {
  let n = 0;
  for (let m = mask >>> 0; m !== 0; m = (m << 1) >>> 0) n++;
  return n;
}

function isMac(mac: unknown): mac is Mac {
  return typeof mac === 'number' && Number.isInteger(mac) && mac >= 0 && mac <= BROADCAST_MAC;
}

function toIp(ip: string | number): number {
  return typeof ip === 'number' ? ip >>> 0 : parseIpv4Address(ip);
}

function checkPort(port: number, what: string): void {
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) {
    throw endpointError('VFAB_ENDPOINT_BAD_ARGUMENT', `${what} ${port} is outside 0..65535`);
  }
}

export class VmEndpoint {
  readonly name: string;
  readonly counters: EndpointCounters = newCounters();
  private readonly clock: Clock;
  private readonly nics: NicState[];
  private poweredOn = false;
  private readonly pings = new Map<number, PendingPing>();
  private nextPingSeq = 1;
  private readonly udpCountOnly = new Map<number, UdpPortCounters>();

  constructor(opts: VmEndpointOptions) {
    this.name = opts.name;
    this.clock = opts.clock;
    // A VM without vNICs is valid (a disk-only VM, as in vSphere): it has a stack with no interface.
    if (!Array.isArray(opts.nics) || opts.nics.length > MAX_VM_NICS) {
      throw endpointError('VFAB_ENDPOINT_BAD_CONFIG', `VM ${opts.name}: needs 0..${MAX_VM_NICS} vNICs, got ${opts.nics?.length}`);
    }
    const names = new Set<string>();
    this.nics = opts.nics.map((c, index) => {
      const where = `VM ${opts.name} vNIC ${c.name ?? index}`;
      if (names.has(c.name)) throw endpointError('VFAB_ENDPOINT_BAD_CONFIG', `${where}: duplicate vNIC name`);
      names.add(c.name);
      if (!isMac(c.mac) || isGroupMac(c.mac)) {
        throw endpointError('VFAB_ENDPOINT_BAD_CONFIG', `${where}: MAC must be a unicast 48-bit address`);
      }
      const mtuBytes = checkMtu(c.mtuBytes ?? DEFAULT_MTU_BYTES, where);
      const guestVid = c.guestVlanId ?? 0;
      if (guestVid !== 0 && (!Number.isInteger(guestVid) || guestVid < VLAN_MIN || guestVid > VLAN_MAX)) {
        throw endpointError('VFAB_ENDPOINT_BAD_CONFIG', `${where}: guestVlanId ${guestVid} outside ${VLAN_MIN}..${VLAN_MAX}`);
      }
      let hasIp = false;
      let ip = 0;
      let mask = 0;
      let gateway: number | undefined;
      try {
        if (c.ipv4 !== undefined) {
          hasIp = true;
          ip = parseIpv4Address(c.ipv4);
          mask = prefixMask(c.prefixLength ?? DEFAULT_PREFIX_LENGTH);
        } else if (c.gateway !== undefined || c.prefixLength !== undefined) {
          throw endpointError('VFAB_ENDPOINT_BAD_CONFIG', `${where}: gateway/prefixLength need an ipv4 address`);
        }
        if (c.gateway !== undefined) {
          gateway = parseIpv4Address(c.gateway);
          if (!sameSubnet(gateway, ip, mask)) {
            throw endpointError('VFAB_ENDPOINT_BAD_CONFIG', `${where}: gateway ${c.gateway} is not on-link for ${c.ipv4}/${c.prefixLength ?? DEFAULT_PREFIX_LENGTH}`);
          }
        }
      } catch (e) {
        if (e instanceof VfabError && e.code === 'VFAB_BAD_IPV4') throw endpointError('VFAB_ENDPOINT_BAD_CONFIG', `${where}: ${e.message}`);
        throw e;
      }
      return {
        index, name: c.name, initialMac: c.mac, mac: c.mac, hasIp, ip, mask,
        // /31 and /32 have no directed broadcast (RFC 3021): only 255.255.255.255 is broadcast there.
        subnetBroadcast: (mask >>> 0) >= 0xfffffffe ? IPV4_BROADCAST : (ip | ~mask) >>> 0, gateway,
        guestVid, headerBytes: ETH_HEADER_BYTES + (guestVid ? VLAN_TAG_BYTES : 0), mtuBytes, promiscuous: false,
        arp: new ArpCache(), nextIpId: 1,
      };
    });
  }

  // ---------------------------------------------------------------- inspection

  get nicCount(): number {
    return this.nics.length;
  }
  get isPoweredOn(): boolean {
    return this.poweredOn;
  }
  nicMac(nic: number): Mac {
    return this.nic(nic).mac;
  }
  nicInitialMac(nic: number): Mac {
    return this.nic(nic).initialMac;
  }
  nicIp(nic: number): string | undefined {
    const n = this.nic(nic);
    return n.hasIp ? ipv4ToString(n.ip) : undefined;
  }
  nicName(nic: number): string {
    return this.nic(nic).name;
  }
  nicMtu(nic: number): number {
    return this.nic(nic).mtuBytes;
  }
  /** The largest frame the vNIC sends (vnicMaxFrameBytes). */
  nicMaxFrameBytes(nic: number): number {
    const n = this.nic(nic);
    return n.mtuBytes + n.headerBytes;
  }
  isPromiscuous(nic: number): boolean {
    return this.nic(nic).promiscuous;
  }

  /** Live ARP entries of every vNIC. */
  arpTable(): Array<{ ip: string; mac: string; nic: string; ageMs: number }> {
    const now = this.clock.nowMs();
    const out: Array<{ ip: string; mac: string; nic: string; ageMs: number }> = [];
    for (const n of this.nics) {
      for (const [ip, e] of n.arp.entries) {
        if (e.expiresAtMs > now) out.push({ ip: ipv4ToString(ip), mac: macToString(e.mac), nic: n.name, ageMs: now - e.learnedAtMs });
      }
    }
    return out;
  }

  // ---------------------------------------------------------------- hand-over (vMotion)

  /**
   * The endpoint's state as a plain JSON-serialisable value (lib/endpoint/snapshot.ts): configuration,
   * effective MACs, live ARP entries and pending pings with times relative to now, counters. Pending ARP
   * resolutions and their queued frames are not carried.
   */
  snapshot(): EndpointSnapshot {
    const now = this.clock.nowMs();
    return {
      version: ENDPOINT_SNAPSHOT_VERSION,
      name: this.name,
      poweredOn: this.poweredOn,
      nics: this.nics.map((n) => ({
        name: n.name,
        initialMac: macToString(n.initialMac),
        mac: macToString(n.mac),
        ...(n.hasIp ? { ipv4: ipv4ToString(n.ip), prefixLength: prefixLengthOf(n.mask) } : {}),
        ...(n.gateway !== undefined ? { gateway: ipv4ToString(n.gateway) } : {}),
        ...(n.guestVid !== 0 ? { guestVlanId: n.guestVid } : {}),
        mtuBytes: n.mtuBytes,
        promiscuous: n.promiscuous,
        nextIpId: n.nextIpId,
        arp: [...n.arp.entries].filter(([, e]) => e.expiresAtMs > now).map(([ip, e]) => ({
          ip: ipv4ToString(ip), mac: macToString(e.mac), ageMs: now - e.learnedAtMs, ttlMs: e.expiresAtMs - now,
        })),
      })),
      pings: [...this.pings.values()].map((p) => ({
        nic: p.nic, targetIp: p.targetIp, id: p.id, seq: p.seq, ageMs: now - p.sentAtMs, leftMs: Math.max(0, p.deadlineMs - now),
      })),
      nextPingSeq: this.nextPingSeq,
      udpCountOnly: [...this.udpCountOnly].map(([port, c]) => ({ port, datagrams: c.datagrams, bytes: c.bytes })),
      counters: JSON.parse(JSON.stringify(this.counters)) as Record<string, unknown>,
    };
  }

  /**
   * An endpoint that carries on from `snap` (untrusted: it crossed the network) on `clock`: ARP entries
   * and pings rebased on the new clock, counters continued, powered on without any announcement (the
   * host sends the RARPs). A typed VFAB_ENDPOINT_BAD_SNAPSHOT error for anything out of shape or range.
   */
  static restore(snap: unknown, clock: Clock): Result<VmEndpoint> {
    const checked = checkEndpointSnapshot(snap, {
      maxNics: MAX_VM_NICS, maxPings: PING_MAX_OUTSTANDING, maxUdpPorts: UDP_COUNT_ONLY_MAX_PORTS, maxPingTimeoutMs: PING_MAX_TIMEOUT_MS,
    }, newCounters() as unknown as Record<string, unknown>);
    if (!checked.ok) return checked;
    const s = checked.value;
    let ep: VmEndpoint;
    try {
      ep = new VmEndpoint({
        name: s.name, clock,
        nics: s.nics.map((n) => ({
          name: n.name, mac: parseMac(n.initialMac), ipv4: n.ipv4, prefixLength: n.prefixLength, gateway: n.gateway,
          guestVlanId: n.guestVlanId || undefined, mtuBytes: n.mtuBytes,
        })),
      });
      for (const [i, n] of s.nics.entries()) {
        const mac = parseMac(n.mac);
        if (isGroupMac(mac)) throw endpointError('VFAB_ENDPOINT_BAD_SNAPSHOT', `nics[${i}].mac is not unicast`);
        ep.nics[i]!.mac = mac;
      }
    } catch (e) {
      if (e instanceof VfabError) return err(new VfabError('VFAB_ENDPOINT_BAD_SNAPSHOT', e.message));
      throw e;
    }
    const now = clock.nowMs();
    for (const [i, n] of s.nics.entries()) {
      const st = ep.nics[i]!;
      st.promiscuous = n.promiscuous;
      st.nextIpId = n.nextIpId;
      for (const e of n.arp) {
        st.arp.learn(parseIpv4Address(e.ip), parseMac(e.mac), now - e.ageMs);
        const entry = st.arp.entries.get(parseIpv4Address(e.ip))!;
        entry.expiresAtMs = now + e.ttlMs;
      }
    }
    for (const p of s.pings) {
      ep.pings.set(p.nic * 0x100000000 + p.id * 0x10000 + p.seq, {
        nic: p.nic, targetIp: p.targetIp, id: p.id, seq: p.seq, sentAtMs: now - p.ageMs, deadlineMs: now + p.leftMs,
      });
    }
    ep.nextPingSeq = s.nextPingSeq;
    for (const u of s.udpCountOnly) ep.udpCountOnly.set(u.port, { datagrams: u.datagrams, bytes: u.bytes });
    copyCounters(ep.counters as unknown as Record<string, unknown>, s.counters);
    ep.poweredOn = s.poweredOn;
    return ok(ep);
  }

  // ---------------------------------------------------------------- power and guest NIC settings

  /** Connects the vNICs: a gratuitous ARP per vNIC that has an address. */
  powerOn(): EndpointActions {
    if (this.poweredOn) return NO_ACTIONS;
    this.poweredOn = true;
    const out: EndpointAction[] = [];
    for (const n of this.nics) if (n.hasIp) this.tx(out, n, buildGratuitousArp(n.mac, n.ip, n.guestVid));
    return out;
  }

  /** Disconnects: forgets ARP state and outstanding pings (no actions). */
  powerOff(): EndpointActions {
    this.poweredOn = false;
    for (const n of this.nics) n.arp.clear();
    this.pings.clear();
    return NO_ACTIONS;
  }

  /** Sends a gratuitous ARP for the vNIC's address (e.g. after a MAC change). */
  announce(nic: number): EndpointActions {
    const n = this.nic(nic);
    if (!this.poweredOn || !n.hasIp) return NO_ACTIONS;
    const out: EndpointAction[] = [];
    this.tx(out, n, buildGratuitousArp(n.mac, n.ip, n.guestVid));
    return out;
  }

  /** The guest sets a new effective MAC (spec §4.1); the receive filter and source MAC follow it. */
  setMac(nic: number, mac: Mac): EndpointActions {
    const n = this.nic(nic);
    if (!isMac(mac) || isGroupMac(mac)) throw endpointError('VFAB_ENDPOINT_BAD_ARGUMENT', `MAC ${mac} is not a unicast 48-bit address`);
    if (mac === n.mac) return NO_ACTIONS;
    const previousMac = n.mac;
    n.mac = mac;
    return [{ kind: 'macChanged', nic, mac, previousMac }];
  }

  /**
   * The guest sets its interface's IP MTU (`ip link set mtu`): larger pings and datagrams are sent in one
   * frame up to it (no fragmentation, as with DF set), and received packets above it are dropped.
   */
  setMtu(nic: number, mtuBytes: number): void {
    const n = this.nic(nic);
    n.mtuBytes = checkMtu(mtuBytes, `${this.name} ${n.name}`);
  }

  /**
   * The vNIC's configured MAC changed (its VM's settings were edited, `vfab set vnic --mac`): both the
   * burned-in and the effective MAC become `mac` (a guest MAC change made before is forgotten).
   */
  setConfiguredMac(nic: number, mac: Mac): void {
    const n = this.nic(nic);
    if (!isMac(mac) || isGroupMac(mac)) throw endpointError('VFAB_ENDPOINT_BAD_ARGUMENT', `MAC ${mac} is not a unicast 48-bit address`);
    n.initialMac = mac;
    n.mac = mac;
  }

  /** The guest adapter's promiscuous flag (spec §4.2: the port group must also Accept). */
  setPromiscuous(nic: number, on: boolean): EndpointActions {
    const n = this.nic(nic);
    if (n.promiscuous === on) return NO_ACTIONS;
    n.promiscuous = on;
    return [{ kind: 'promiscuous', nic, on }];
  }

  /** Datagrams to `port` are counted (udpPortCounters) instead of producing 'udp' actions. */
  setUdpCountOnly(port: number, on = true): void {
    checkPort(port, 'UDP port');
    if (!on) {
      this.udpCountOnly.delete(port);
      return;
    }
    if (this.udpCountOnly.has(port)) return;
    if (this.udpCountOnly.size >= UDP_COUNT_ONLY_MAX_PORTS) {
      throw endpointError('VFAB_ENDPOINT_BAD_ARGUMENT', `at most ${UDP_COUNT_ONLY_MAX_PORTS} count-only UDP ports`);
    }
    this.udpCountOnly.set(port, { datagrams: 0, bytes: 0 });
  }

  udpPortCounters(port: number): UdpPortCounters | undefined {
    return this.udpCountOnly.get(port);
  }

  // ---------------------------------------------------------------- sending

  /** Sends `frame` exactly as given (a copy), e.g. with a forged source MAC. 14..MAX_FRAME_BYTES bytes. */
  sendRaw(nic: number, frame: Uint8Array): EndpointActions {
    const n = this.nic(nic);
    if (frame.length < ETH_HEADER_BYTES || frame.length > MAX_FRAME_BYTES) {
      throw endpointError('VFAB_ENDPOINT_BAD_ARGUMENT', `raw frame of ${frame.length} bytes outside ${ETH_HEADER_BYTES}..${MAX_FRAME_BYTES}`);
    }
    if (!this.poweredOn) return this.failed(nic, '', 'VFAB_ENDPOINT_POWERED_OFF', `VM ${this.name} is powered off`);
    const out: EndpointAction[] = [];
    this.tx(out, n, Buffer.from(frame));
    return out;
  }

  /** Sends an ICMP echo request; the outcome is a later 'pingReply' or 'pingTimeout' action. */
  ping(nic: number, targetIp: string, opts: { id?: number; seq?: number; sizeBytes?: number; timeoutMs?: number } = {}): EndpointActions {
    const n = this.nic(nic);
    const dst = toIp(targetIp);
    const id = opts.id ?? PING_DEFAULT_ID;
    const seq = opts.seq ?? (this.nextPingSeq++ & 0xffff);
    const payloadBytes = opts.sizeBytes ?? PING_DEFAULT_PAYLOAD_BYTES;
    const timeoutMs = opts.timeoutMs ?? PING_DEFAULT_TIMEOUT_MS;
    checkPort(id, 'ping id');
    checkPort(seq, 'ping seq');
    if (!Number.isInteger(payloadBytes) || payloadBytes < 0 || payloadBytes > maxPingPayloadBytes(n.mtuBytes)) {
      throw endpointError('VFAB_ENDPOINT_TOO_LARGE', `ping payload of ${payloadBytes} bytes does not fit the ${n.mtuBytes}-byte MTU (no fragmentation)`);
    }
    if (!(timeoutMs > 0 && timeoutMs <= PING_MAX_TIMEOUT_MS)) {
      throw endpointError('VFAB_ENDPOINT_BAD_ARGUMENT', `ping timeout ${timeoutMs} ms outside (0, ${PING_MAX_TIMEOUT_MS}]`);
    }
    const key = nic * 0x100000000 + id * 0x10000 + seq;
    if (!this.pings.has(key) && this.pings.size >= PING_MAX_OUTSTANDING) {
      return this.failed(nic, targetIp, 'VFAB_ENDPOINT_TOO_MANY_PINGS', `${PING_MAX_OUTSTANDING} pings already outstanding`);
    }
    const payload = Buffer.allocUnsafe(payloadBytes);
    for (let i = 0; i < payloadBytes; i++) payload[i] = i & 0xff;
    const icmpBytes = ICMP_HEADER_BYTES + payloadBytes;
    const refused = this.precheck(n, dst, targetIp);
    if (refused !== undefined) return refused;
    const { frame, l4 } = this.buildIp(n, dst, IPPROTO_ICMP, icmpBytes);
    emitIcmp({ kind: 'echo', type: ICMP_ECHO_REQUEST, code: 0, id, seq, payload }, frame, l4);
    const now = this.clock.nowMs();
    this.pings.set(key, { nic, targetIp: ipv4ToString(dst), id, seq, sentAtMs: now, deadlineMs: now + timeoutMs });
    this.counters.icmp.echoRequestsSent++;
    return this.route(n, dst, frame, targetIp);
  }

  /** Sends one UDP datagram (checksum always computed); ARP first if needed. */
  sendUdp(nic: number, dstIp: string, dstPort: number, srcPort: number, payload: Uint8Array): EndpointActions {
    const n = this.nic(nic);
    const dst = toIp(dstIp);
    checkPort(dstPort, 'UDP destination port');
    checkPort(srcPort, 'UDP source port');
    const udpBytes = UDP_HEADER_BYTES + payload.length;
    if (IPV4_MIN_HEADER_BYTES + udpBytes > n.mtuBytes) {
      throw endpointError('VFAB_ENDPOINT_TOO_LARGE', `UDP payload of ${payload.length} bytes does not fit the ${n.mtuBytes}-byte MTU (no fragmentation)`);
    }
    const refused = this.precheck(n, dst, dstIp);
    if (refused !== undefined) return refused;
    const built = this.buildIp(n, dst, IPPROTO_UDP, udpBytes);
    emitUdp({ srcPort, dstPort, payload }, n.ip, dst, built.frame, built.l4);
    this.counters.udp.txDatagrams++;
    this.counters.udp.txBytes += payload.length;
    return this.route(n, dst, built.frame, dstIp);
  }

  /** Starts ARP for the next hop toward `ip` unless it is already known (for load generators). */
  resolve(nic: number, ip: string): EndpointActions {
    const n = this.nic(nic);
    const dst = toIp(ip);
    const refused = this.precheck(n, dst, ip);
    if (refused !== undefined) return refused;
    const hop = this.nextHop(n, dst);
    if (hop === NEXT_HOP_BROADCAST || n.arp.lookup(hop, this.clock.nowMs()) !== undefined || n.arp.pending.has(hop)) return NO_ACTIONS;
    const out: EndpointAction[] = [];
    this.startResolution(out, n, hop, undefined);
    return out;
  }

  /**
   * A complete, checksummed Ethernet/IPv4/UDP frame carrying `payloadBytes` UDP data bytes (0..MTU - 28;
   * the frame is header + 28 + payloadBytes, padded to MIN_FRAME_BYTES) for a load generator to resend as
   * is; data bytes are i & 0xff. Undefined while the next hop is unresolved (call `resolve` first). Throws
   * VFAB_ENDPOINT_NO_ROUTE / VFAB_ENDPOINT_NO_IPV4 / VFAB_ENDPOINT_TOO_LARGE. Frames sent this way bypass
   * the counters.
   */
  udpFrameTemplate(nic: number, dstIp: string, dstPort: number, srcPort: number, payloadBytes: number): Buffer | undefined {
    const n = this.nic(nic);
    const dst = toIp(dstIp);
    checkPort(dstPort, 'UDP destination port');
    checkPort(srcPort, 'UDP source port');
    const maxPayloadBytes = n.mtuBytes - IPV4_MIN_HEADER_BYTES - UDP_HEADER_BYTES;
    if (!Number.isInteger(payloadBytes) || payloadBytes < 0 || payloadBytes > maxPayloadBytes) {
      throw endpointError('VFAB_ENDPOINT_TOO_LARGE', `UDP payload of ${payloadBytes} bytes outside 0..${maxPayloadBytes} (MTU ${n.mtuBytes}, no fragmentation)`);
    }
    if (!n.hasIp) throw endpointError('VFAB_ENDPOINT_NO_IPV4', `vNIC ${n.name} has no IPv4 address`);
    const hop = this.nextHop(n, dst);
    if (hop === NEXT_HOP_NONE) throw endpointError('VFAB_ENDPOINT_NO_ROUTE', `no route from ${n.name} to ${dstIp}: off-link and no gateway`);
    const dstMac = hop === NEXT_HOP_BROADCAST ? BROADCAST_MAC : n.arp.lookup(hop, this.clock.nowMs());
    if (dstMac === undefined) return undefined;
    const frame = this.allocFrame(n, IPV4_MIN_HEADER_BYTES + UDP_HEADER_BYTES + payloadBytes);
    const l3 = this.writeEth(n, frame, dstMac, ETHERTYPE_IPV4);
    const l4 = emitIpv4Simple(frame, l3, n.ip, dst, IPPROTO_UDP, UDP_HEADER_BYTES + payloadBytes, this.ipId(n), IP_TTL);
    const payload = frame.subarray(l4 + UDP_HEADER_BYTES, l4 + UDP_HEADER_BYTES + payloadBytes);
    for (let i = 0; i < payloadBytes; i++) payload[i] = i & 0xff;
    frame[l4] = srcPort >>> 8;
    frame[l4 + 1] = srcPort & 0xff;
    frame[l4 + 2] = dstPort >>> 8;
    frame[l4 + 3] = dstPort & 0xff;
    const udpBytes = UDP_HEADER_BYTES + payloadBytes;
    frame[l4 + 4] = udpBytes >>> 8;
    frame[l4 + 5] = udpBytes & 0xff;
    fillUdpChecksum(frame, l4, udpBytes, n.ip, dst);
    return frame;
  }

  // ---------------------------------------------------------------- receiving

  /** Handles one frame arriving on vNIC `nic`. Never throws for bad bytes: drops and counts. */
  receive(nic: number, frame: Uint8Array): EndpointActions {
    const n = this.nic(nic);
    const c = this.counters;
    c.rxFrames++;
    c.rxBytes += frame.length;
    if (!this.poweredOn) {
      c.drops.poweredOff++;
      return NO_ACTIONS;
    }
    if (frame.length < ETH_HEADER_BYTES) {
      c.drops.runt++;
      return NO_ACTIONS;
    }
    if (frame.length > MAX_FRAME_BYTES) {
      c.drops.oversize++;
      return NO_ACTIONS;
    }
    // VLAN: a tagging guest accepts only its VID; a non-tagging guest only untagged or priority-tagged.
    let l3 = ETH_HEADER_BYTES;
    const outerType = (frame[ETH_TYPE_OFFSET]! << 8) | frame[ETH_TYPE_OFFSET + 1]!;
    if (outerType === ETHERTYPE_VLAN) {
      if (frame.length < ETH_HEADER_BYTES + VLAN_TAG_BYTES) {
        c.drops.runt++;
        return NO_ACTIONS;
      }
      const vid = ((frame[14]! << 8) | frame[15]!) & 0x0fff;
      if (vid !== n.guestVid) {
        c.drops.vlanMismatch++;
        return NO_ACTIONS;
      }
      l3 += VLAN_TAG_BYTES;
    } else if (n.guestVid !== 0) {
      c.drops.vlanMismatch++;
      return NO_ACTIONS;
    }
    if (frame.length - l3 > n.mtuBytes) {
      c.drops.oversize++;
      return NO_ACTIONS;
    }
    const dstMac = readMac(frame, 0);
    if (dstMac !== n.mac && dstMac !== BROADCAST_MAC) {
      if (!n.promiscuous) {
        c.drops.notForUs++;
        return NO_ACTIONS;
      }
      // Promiscuous: seen, never answered (spec §4.2).
      c.rxPromiscuousFrames++;
      return [{ kind: 'sniffed', nic, frame: Buffer.from(frame) }];
    }
    const etherType = (frame[l3 - 2]! << 8) | frame[l3 - 1]!;
    if (etherType === ETHERTYPE_IPV4) return this.receiveIpv4(n, frame, l3);
    if (etherType === ETHERTYPE_ARP) return this.receiveArp(n, frame, l3);
    if (etherType === ETHERTYPE_RARP) {
      c.arp.rarpReceived++;
      return NO_ACTIONS;
    }
    c.drops.unsupportedEtherType++;
    return NO_ACTIONS;
  }

  private receiveArp(n: NicState, frame: Uint8Array, off: number): EndpointActions {
    const c = this.counters;
    if (frame.length - off < ARP_PACKET_BYTES) {
      c.drops.malformed++;
      return NO_ACTIONS;
    }
    if (!arpIsEthernetIpv4(frame, off)) {
      // Other hardware/protocol types are legal ARP, just not ours; wrong lengths are malformed.
      if (frame[off + 4] !== 6 || frame[off + 5] !== 4) c.drops.malformed++;
      else c.arp.otherReceived++;
      return NO_ACTIONS;
    }
    const op = arpOp(frame, off);
    const sha = arpSha(frame, off);
    const spa = arpSpa(frame, off);
    const tpa = arpTpa(frame, off);
    if (op === ARP_OP_REQUEST) c.arp.requestsReceived++;
    else if (op === ARP_OP_REPLY) c.arp.repliesReceived++;
    else {
      c.arp.otherReceived++;
      return NO_ACTIONS;
    }
    if (!n.hasIp || isGroupMac(sha)) return NO_ACTIONS;
    const gratuitous = spa === tpa && spa !== 0;
    if (gratuitous) c.arp.gratuitousReceived++;
    if (spa === n.ip) {
      if (sha !== n.mac) {
        c.arp.conflicts++;
        return [{ kind: 'ipConflict', nic: n.index, ip: ipv4ToString(spa), mac: sha }];
      }
      return NO_ACTIONS; // our own announcement reflected back
    }
    let out: EndpointAction[] | undefined;
    const now = this.clock.nowMs();
    // RFC 826 merge: refresh a known sender; add it when we are the target or it announces itself.
    if (spa !== 0 && (tpa === n.ip || gratuitous || n.arp.entries.has(spa) || n.arp.pending.has(spa))) {
      if (n.arp.learn(spa, sha, now)) c.arp.cacheEvictions++;
      const pending = n.arp.pending.get(spa);
      if (pending !== undefined) {
        n.arp.pending.delete(spa);
        c.arp.resolved++;
        out = [];
        for (const queued of pending.queue) {
          writeMac(queued, 0, sha);
          this.tx(out, n, queued);
        }
        out.push({ kind: 'arpResolved', nic: n.index, ip: ipv4ToString(spa), mac: sha });
      }
    }
    if (op === ARP_OP_REQUEST && tpa === n.ip && !gratuitous) {
      out ??= [];
      this.tx(out, n, buildArpReply(n.mac, n.ip, sha, spa, n.guestVid));
      c.arp.repliesSent++;
    }
    return out ?? NO_ACTIONS;
  }

  private receiveIpv4(n: NicState, frame: Uint8Array, off: number): EndpointActions {
    const c = this.counters;
    const check = checkIpv4(frame, off, frame.length);
    if (check !== Ipv4Check.Ok) {
      if (check === Ipv4Check.BadChecksum) c.drops.badChecksum++;
      else c.drops.malformed++;
      return NO_ACTIONS;
    }
    const dst = ipv4Dst(frame, off);
    const toBroadcast = dst === IPV4_BROADCAST || (n.hasIp && dst === n.subnetBroadcast);
    if (!toBroadcast && !(n.hasIp && dst === n.ip)) {
      c.drops.notOurIp++;
      return NO_ACTIONS;
    }
    if (ipv4IsFragment(frame, off)) {
      c.drops.fragment++;
      return NO_ACTIONS;
    }
    const hlen = ipv4HeaderBytes(frame, off);
    const l4 = off + hlen;
    const l4Bytes = ipv4TotalLength(frame, off) - hlen;
    const src = ipv4Src(frame, off);
    const proto = ipv4Protocol(frame, off);
    if (proto === IPPROTO_UDP) {
      const uc = checkUdp(frame, l4, l4Bytes, src, dst);
      if (uc !== UdpCheck.Ok) {
        if (uc === UdpCheck.BadChecksum) c.drops.badChecksum++;
        else c.drops.malformed++;
        return NO_ACTIONS;
      }
      const dataBytes = udpLength(frame, l4) - UDP_HEADER_BYTES;
      c.udp.rxDatagrams++;
      c.udp.rxBytes += dataBytes;
      const dstPort = udpDstPort(frame, l4);
      const sink = this.udpCountOnly.get(dstPort);
      if (sink !== undefined) {
        sink.datagrams++;
        sink.bytes += dataBytes;
        return NO_ACTIONS;
      }
      return [{
        kind: 'udp', nic: n.index, srcIp: ipv4ToString(src), srcPort: udpSrcPort(frame, l4), dstIp: ipv4ToString(dst), dstPort,
        payload: Buffer.from(frame.subarray(l4 + UDP_HEADER_BYTES, l4 + UDP_HEADER_BYTES + dataBytes)),
      }];
    }
    if (proto === IPPROTO_ICMP) {
      if (!icmpVerifies(frame, l4, l4Bytes)) {
        if (l4Bytes < ICMP_HEADER_BYTES) c.drops.malformed++;
        else c.drops.badChecksum++;
        return NO_ACTIONS;
      }
      const type = icmpType(frame, l4);
      if (type === ICMP_ECHO_REQUEST) return this.answerEcho(n, frame, l4, l4Bytes, src, toBroadcast);
      if (type === ICMP_ECHO_REPLY) return this.matchEchoReply(n, frame, off, l4, l4Bytes);
      c.icmp.otherReceived++;
      return NO_ACTIONS;
    }
    c.drops.unsupportedProtocol++;
    return NO_ACTIONS;
  }

  private answerEcho(n: NicState, frame: Uint8Array, l4: number, l4Bytes: number, src: number, toBroadcast: boolean): EndpointActions {
    const c = this.counters;
    c.icmp.echoRequestsReceived++;
    if (toBroadcast || !n.hasIp) {
      c.drops.broadcastEcho++;
      return NO_ACTIONS;
    }
    // Reply to the frame's source MAC (the requester or its router): no ARP round trip needed.
    const reply = this.allocFrame(n, IPV4_MIN_HEADER_BYTES + l4Bytes);
    const l3 = this.writeEth(n, reply, readMac(frame, MAC_BYTES), ETHERTYPE_IPV4);
    const r4 = emitIpv4Simple(reply, l3, n.ip, src, IPPROTO_ICMP, l4Bytes, this.ipId(n), IP_TTL);
    reply.set(frame.subarray(l4, l4 + l4Bytes), r4);
    reply[r4] = ICMP_ECHO_REPLY;
    reply[r4 + 2] = 0;
    reply[r4 + 3] = 0;
    const sum = internetChecksum(reply, r4, l4Bytes);
    reply[r4 + 2] = sum >>> 8;
    reply[r4 + 3] = sum & 0xff;
    const out: EndpointAction[] = [];
    this.tx(out, n, reply);
    c.icmp.echoRepliesSent++;
    return out;
  }

  private matchEchoReply(n: NicState, frame: Uint8Array, off: number, l4: number, l4Bytes: number): EndpointActions {
    const c = this.counters;
    const id = icmpEchoId(frame, l4);
    const seq = icmpEchoSeq(frame, l4);
    const key = n.index * 0x100000000 + id * 0x10000 + seq;
    const p = this.pings.get(key);
    if (p === undefined) {
      c.drops.unmatchedEchoReply++;
      return NO_ACTIONS;
    }
    this.pings.delete(key);
    c.icmp.echoRepliesReceived++;
    return [{
      kind: 'pingReply', nic: n.index, targetIp: p.targetIp, id, seq, rttMs: this.clock.nowMs() - p.sentAtMs,
      ttl: ipv4Ttl(frame, off), bytes: l4Bytes,
    }];
  }

  // ---------------------------------------------------------------- timers

  /** Runs whatever is due: ARP retries and give-ups, ARP cache expiry, ping timeouts. */
  tick(): EndpointActions {
    const now = this.clock.nowMs();
    const c = this.counters;
    let out: EndpointAction[] | undefined;
    for (const n of this.nics) {
      for (const r of n.arp.pending.values()) {
        if (r.nextRetryAtMs > now) continue;
        out ??= [];
        if (r.retries < ARP_MAX_RETRIES) {
          r.retries++;
          r.nextRetryAtMs = now + ARP_RETRY_INTERVAL_MS;
          c.arp.retries++;
          this.sendArpRequest(out, n, r.ip);
        } else {
          n.arp.pending.delete(r.ip);
          c.arp.failed++;
          c.drops.arpGiveUp += r.queue.length;
          out.push({ kind: 'arpFailed', nic: n.index, ip: ipv4ToString(r.ip), droppedPackets: r.queue.length });
        }
      }
      c.arp.expired += n.arp.expire(now);
    }
    for (const [key, p] of this.pings) {
      if (p.deadlineMs > now) continue;
      this.pings.delete(key);
      c.icmp.timeouts++;
      out ??= [];
      out.push({ kind: 'pingTimeout', nic: p.nic, targetIp: p.targetIp, id: p.id, seq: p.seq });
    }
    return out ?? NO_ACTIONS;
  }

  /** When `tick` next has work, on the clock's time line; undefined when nothing is scheduled. */
  nextDeadlineMs(): number | undefined {
    let next: number | undefined;
    for (const n of this.nics) {
      const d = n.arp.nextDeadlineMs();
      if (d !== undefined && (next === undefined || d < next)) next = d;
    }
    for (const p of this.pings.values()) if (next === undefined || p.deadlineMs < next) next = p.deadlineMs;
    return next;
  }

  // ---------------------------------------------------------------- internals

  private nic(nic: number): NicState {
    const n = this.nics[nic];
    if (n === undefined) throw endpointError('VFAB_ENDPOINT_BAD_NIC', `VM ${this.name} has no vNIC ${nic} (it has ${this.nics.length})`);
    return n;
  }

  private ipId(n: NicState): number {
    const id = n.nextIpId;
    n.nextIpId = (id + 1) & 0xffff;
    return id;
  }

  private failed(nic: number, dstIp: string, code: string, message: string): EndpointActions {
    return [{ kind: 'sendFailed', nic, dstIp, code, message }];
  }

  private noRoute(n: NicState, dstIp: string): EndpointActions {
    this.counters.drops.noRoute++;
    return this.failed(n.index, dstIp, 'VFAB_ENDPOINT_NO_ROUTE', `no route from ${n.name} to ${dstIp}: off-link and no gateway`);
  }

  /** Next hop IP, NEXT_HOP_BROADCAST or NEXT_HOP_NONE. */
  private nextHop(n: NicState, dst: number): number {
    if (dst === IPV4_BROADCAST || dst === n.subnetBroadcast) return NEXT_HOP_BROADCAST;
    if (sameSubnet(dst, n.ip, n.mask)) return dst;
    return n.gateway ?? NEXT_HOP_NONE;
  }

  private allocFrame(n: NicState, l3Bytes: number): Buffer {
    return Buffer.alloc(Math.max(MIN_FRAME_BYTES, n.headerBytes + l3Bytes));
  }

  /** Ethernet header (with the guest tag if any); returns the L3 offset. */
  private writeEth(n: NicState, frame: Buffer, dstMac: Mac, etherType: number): number {
    writeMac(frame, 0, dstMac);
    writeMac(frame, MAC_BYTES, n.mac);
    let o = ETH_TYPE_OFFSET;
    if (n.guestVid !== 0) {
      frame[o] = ETHERTYPE_VLAN >>> 8;
      frame[o + 1] = ETHERTYPE_VLAN & 0xff;
      frame[o + 2] = n.guestVid >>> 8;
      frame[o + 3] = n.guestVid & 0xff;
      o += VLAN_TAG_BYTES;
    }
    frame[o] = etherType >>> 8;
    frame[o + 1] = etherType & 0xff;
    return o + 2;
  }

  /** Why an IP send to `dst` cannot start (powered off, no address, no route), or undefined if it can. */
  private precheck(n: NicState, dst: number, dstText: string): EndpointActions | undefined {
    if (!this.poweredOn) return this.failed(n.index, dstText, 'VFAB_ENDPOINT_POWERED_OFF', `VM ${this.name} is powered off`);
    if (!n.hasIp) return this.failed(n.index, dstText, 'VFAB_ENDPOINT_NO_IPV4', `vNIC ${n.name} has no IPv4 address`);
    if (this.nextHop(n, dst) === NEXT_HOP_NONE) return this.noRoute(n, dstText);
    return undefined;
  }

  /** A frame with Ethernet (destination MAC still open) and IPv4 headers written. */
  private buildIp(n: NicState, dst: number, protocol: number, l4Bytes: number): { frame: Buffer; l4: number } {
    const frame = this.allocFrame(n, IPV4_MIN_HEADER_BYTES + l4Bytes);
    const l3 = this.writeEth(n, frame, 0, ETHERTYPE_IPV4);
    const l4 = emitIpv4Simple(frame, l3, n.ip, dst, protocol, l4Bytes, this.ipId(n), IP_TTL);
    return { frame, l4 };
  }

  /** Sends an IP frame whose destination MAC is still open: now if known, else after ARP. */
  private route(n: NicState, dst: number, frame: Buffer, dstText: string): EndpointActions {
    const hop = this.nextHop(n, dst);
    if (hop === NEXT_HOP_NONE) return this.noRoute(n, dstText);
    const out: EndpointAction[] = [];
    if (hop === NEXT_HOP_BROADCAST) {
      writeMac(frame, 0, BROADCAST_MAC);
      this.tx(out, n, frame);
      return out;
    }
    const mac = n.arp.lookup(hop, this.clock.nowMs());
    if (mac !== undefined) {
      writeMac(frame, 0, mac);
      this.tx(out, n, frame);
      return out;
    }
    const pending = n.arp.pending.get(hop);
    if (pending !== undefined) {
      if (pending.queue.length >= ARP_PENDING_MAX_PACKETS) this.counters.drops.arpQueueFull++;
      else pending.queue.push(frame);
      return NO_ACTIONS;
    }
    this.startResolution(out, n, hop, frame);
    return out;
  }

  private startResolution(out: EndpointAction[], n: NicState, hop: number, frame: Buffer | undefined): void {
    if (n.arp.pending.size >= ARP_PENDING_MAX_RESOLUTIONS) {
      if (frame !== undefined) this.counters.drops.arpQueueFull++;
      out.push({ kind: 'sendFailed', nic: n.index, dstIp: ipv4ToString(hop), code: 'VFAB_ENDPOINT_ARP_BUSY', message: `${ARP_PENDING_MAX_RESOLUTIONS} ARP resolutions already pending on ${n.name}` });
      return;
    }
    n.arp.pending.set(hop, { ip: hop, retries: 0, nextRetryAtMs: this.clock.nowMs() + ARP_RETRY_INTERVAL_MS, queue: frame ? [frame] : [] });
    this.sendArpRequest(out, n, hop);
  }

  private sendArpRequest(out: EndpointAction[], n: NicState, target: number): void {
    this.tx(out, n, buildArpRequest(n.mac, n.ip, target, n.guestVid));
    this.counters.arp.requestsSent++;
  }

  private tx(out: EndpointAction[], n: NicState, frame: Buffer): void {
    this.counters.txFrames++;
    this.counters.txBytes += frame.length;
    out.push({ kind: 'transmit', nic: n.index, frame });
  }
}
