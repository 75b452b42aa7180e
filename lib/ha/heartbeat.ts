// The HA network heartbeat (docs/ha.md; docs/vsphere-behaviour.md §7.11): what one agent tells another every
// second (its role, the primary it follows, how many datastores it sees for elections, the VMs it runs)
// and its UDP codec. A heartbeat with many VMs is split into pages that each fit one 1500-byte frame
// (HA_MAX_DATAGRAM_BYTES); HeartbeatAssembler puts the pages of one heartbeat together and keeps at most
// one partial heartbeat per sender. A malformed datagram decodes to an error value (the daemon drops and
// counts it), never a throw. Leaves out sockets (the daemon sends on the management vmkernel port) and
// authentication of peers.

import { type Result, err, ok } from '../errors.js';
import { HA_MAX_HOSTS, HA_MAX_NAME_BYTES, HA_MAX_VMS } from './config.js';
import { HA_ERROR, HaError } from './errors.js';

/** UDP port of the HA agents (vSphere's FDM uses 8182). */
export const HA_UDP_PORT = 8182;
/** Largest datagram payload: a 1500-byte frame minus the IPv4 and UDP headers. */
export const HA_MAX_DATAGRAM_BYTES = 1472;
/** Most pages of one heartbeat (bounds the VMs one host reports: enough for HA_MAX_VMS names). */
export const HA_MAX_PAGES = 512;
const VERSION = 1;

export const HA_ROLES = ['election', 'primary', 'secondary', 'isolated'] as const;
export type HaRole = (typeof HA_ROLES)[number];

export interface HaHeartbeat {
  cluster: string;
  from: string;
  role: HaRole;
  /** The primary the sender follows (a primary names itself). */
  primary?: string;
  datastoresSeen: number;
  /** VMs powered on at the sender. */
  poweredOn: string[];
  /** Grows by one per heartbeat sent (pages of one heartbeat share it). */
  seq: number;
}

interface Page {
  v: number;
  c: string;
  f: string;
  r: HaRole;
  p?: string;
  d: number;
  s: number;
  i: number;
  n: number;
  vms: string[];
}

const bad = (why: string): { ok: false; error: HaError } => err(new HaError(HA_ERROR.BAD_HEARTBEAT, `HA heartbeat dropped: ${why}`));

/** The datagrams of one heartbeat (one, unless its VM list needs more pages). */
export function encodeHeartbeat(hb: HaHeartbeat): Buffer[] {
  const head = { v: VERSION, c: hb.cluster, f: hb.from, r: hb.role, ...(hb.primary !== undefined ? { p: hb.primary } : {}), d: hb.datastoresSeen, s: hb.seq };
  const pages: string[][] = [[]];
  const baseBytes = Buffer.byteLength(JSON.stringify({ ...head, i: HA_MAX_PAGES, n: HA_MAX_PAGES, vms: [] }));
  let bytes = baseBytes;
  for (const vm of hb.poweredOn) {
    const add = Buffer.byteLength(JSON.stringify(vm)) + 1;
    if (bytes + add > HA_MAX_DATAGRAM_BYTES) {
      pages.push([]);
      bytes = baseBytes;
    }
    pages[pages.length - 1]!.push(vm);
    bytes += add;
  }
  if (pages.length > HA_MAX_PAGES) throw new HaError(HA_ERROR.BAD_HEARTBEAT, `heartbeat of ${hb.from} needs ${pages.length} pages, at most ${HA_MAX_PAGES}`);
  return pages.map((vms, i) => Buffer.from(JSON.stringify({ ...head, i, n: pages.length, vms })));
}

const isName = (x: unknown): x is string => typeof x === 'string' && x.length > 0 && Buffer.byteLength(x) <= HA_MAX_NAME_BYTES;
const isCount = (x: unknown, max: number): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= max;

/** One datagram, checked field by field. */
export function decodePage(buf: Uint8Array): Result<Page, HaError> {
  if (buf.length === 0 || buf.length > HA_MAX_DATAGRAM_BYTES) return bad(`${buf.length} bytes (1..${HA_MAX_DATAGRAM_BYTES})`);
  let o: unknown;
  try {
    o = JSON.parse(Buffer.from(buf).toString('utf8'));
  } catch {
    return bad('not JSON');
  }
  if (typeof o !== 'object' || o === null) return bad('not an object');
  const p = o as Record<string, unknown>;
  if (p.v !== VERSION) return bad(`version ${JSON.stringify(p.v)}, not ${VERSION}`);
  if (!isName(p.c) || !isName(p.f)) return bad('cluster or sender name missing or too long');
  if (!(HA_ROLES as readonly unknown[]).includes(p.r)) return bad(`role ${JSON.stringify(p.r)}`);
  if (p.p !== undefined && !isName(p.p)) return bad('primary name');
  if (!isCount(p.d, 1_000_000) || !isCount(p.s, Number.MAX_SAFE_INTEGER)) return bad('datastore count or sequence number');
  if (!isCount(p.n, HA_MAX_PAGES) || p.n === 0 || !isCount(p.i, p.n - 1)) return bad('page number');
  if (!Array.isArray(p.vms) || !p.vms.every(isName)) return bad('VM list');
  return ok(p as unknown as Page);
}

/** Reassembles heartbeats from pages: at most one partial heartbeat per sender, HA_MAX_HOSTS senders. */
export class HeartbeatAssembler {
  private readonly partial = new Map<string, { seq: number; pages: Array<string[] | undefined>; got: number; vms: number }>();
  /** Datagrams dropped (malformed, too many senders or VMs). */
  dropped = 0;

  /** A full heartbeat once its last page arrives; undefined while pages are missing or when dropped. */
  push(buf: Uint8Array): HaHeartbeat | undefined {
    const r = decodePage(buf);
    if (!r.ok) {
      this.dropped++;
      return undefined;
    }
    const p = r.value;
    const key = `${p.c}/${p.f}`;
    let cur = this.partial.get(key);
    if (cur === undefined || cur.seq !== p.s || cur.pages.length !== p.n) {
      if (cur === undefined && this.partial.size >= HA_MAX_HOSTS) {
        this.dropped++;
        return undefined;
      }
      cur = { seq: p.s, pages: new Array<string[] | undefined>(p.n).fill(undefined), got: 0, vms: 0 };
      this.partial.set(key, cur);
    }
    if (cur.pages[p.i] !== undefined) return undefined; // duplicate page
    if (cur.vms + p.vms.length > HA_MAX_VMS) {
      this.dropped++;
      this.partial.delete(key);
      return undefined;
    }
    cur.pages[p.i] = p.vms;
    cur.got++;
    cur.vms += p.vms.length;
    if (cur.got < p.n) return undefined;
    this.partial.delete(key);
    return { cluster: p.c, from: p.f, role: p.r, ...(p.p !== undefined ? { primary: p.p } : {}), datastoresSeen: p.d, poweredOn: cur.pages.flatMap((x) => x!), seq: p.s };
  }
}
