// A daemon's Ethernet links: the ends it listens for (WsLinkServer at /link/<interface>) and the ends it
// dials once told where its peers are (POST /control/peers). Covers binding each link to a local
// interface, carrier and frame callbacks, admin up/down, and status rows. Shared by hostd and switchd.
// Fault injection (POST /control/links/:iface/impair and /flap): seeded loss per direction, delay and
// jitter (lib/faults/impairment.ts) applied at this end, and flap schedules that take the link admin-down
// and up on the daemon's scaled clock. With no impairment set, frames take the unimpaired fast path (no
// decision, no copy, no timer). Leaves out corruption and duplication.

import { VfabError } from '../../lib/errors.js';
import type { EthernetLink } from '../../lib/link/link.js';
import { WsLinkServer, connectWsLink } from '../link/ws-link.js';
import { forEachRunFrame } from '../../lib/link/codec.js';
import type { LinkEnd } from '../fabric/plan.js';
import type { Clock } from '../../lib/clock.js';
import { type FlapRequest, type ImpairRequest, type LinkImpairment, flapChanges, impairmentFor } from '../../lib/faults/impairment.js';

/** Frames an impaired direction may hold for delayed delivery before it tail-drops (counted). */
export const MAX_DELAYED_FRAMES_PER_LINK = 65_536;

/** Body of POST /control/links/:iface/impair ({} clears) and /flap ({} cancels), times on the scaled clock. */
export type { ImpairRequest, FlapRequest };

export interface LinkFaultOptions {
  clock: Clock;
  /** Scaled-clock ms per wall ms (timers wait ms / timeScale). */
  timeScale: number;
  /** Event log hook (impairment set/cleared, flap changes). */
  event?: (type: string, fields: Record<string, unknown>) => void;
}

interface DelayQueue {
  frames: Buffer[];
  atMs: number[];
  head: number;
  timer: NodeJS.Timeout | undefined;
  overflowDrops: number;
}

interface Faults {
  impair: LinkImpairment;
  config: ImpairRequest & { seed: number };
  tx: DelayQueue;
  rx: DelayQueue;
  lostTx: number;
  lostRx: number;
}

function newQueue(): DelayQueue {
  return { frames: [], atMs: [], head: 0, timer: undefined, overflowDrops: 0 };
}

export interface LinkCallbacks {
  /** A received frame: a view valid during the call only (copy to keep it). */
  frame(local: string, frame: Uint8Array): void;
  carrier(local: string, up: boolean, reason: string): void;
  /**
   * When present, runs of frames that share their first RUN_KEY_BYTES bytes arrive in one call (see
   * EthernetLink.onFrameRun); on an impaired link they are taken apart and go through frame() one by one.
   */
  frameRun?(local: string, first: Uint8Array, count: number, records: Uint8Array, frameBytes: number, maxFrameBytes: number): void;
}

interface Slot {
  end: LinkEnd;
  link: EthernetLink | undefined;
  /** Admin state requested before the link existed. */
  adminUp: boolean;
  /** null = unimpaired fast path. */
  faults: Faults | null;
  flapTimers: NodeJS.Timeout[];
  flap: { changes: Array<{ atMs: number; up: boolean }>; startedAtMs: number } | null;
}

export class DaemonLinks {
  readonly server: WsLinkServer;
  private readonly slots = new Map<string, Slot>();
  private lastSendLocal = '';
  private lastSendSlot: Slot | undefined;

  constructor(private readonly name: string, ends: LinkEnd[], private readonly token: string, private readonly cb: LinkCallbacks, private readonly faultOpts?: LinkFaultOptions) {
    for (const end of ends) this.slots.set(end.local, { end, link: undefined, adminUp: true, faults: null, flapTimers: [], flap: null });
    this.server = new WsLinkServer({
      token,
      onLink: (local, link) => {
        const slot = this.slots.get(local);
        if (!slot || slot.end.role !== 'listen') {
          link.close();
          return;
        }
        this.bind(slot, link);
      },
    });
  }

  private bind(slot: Slot, link: EthernetLink): void {
    slot.link = link;
    const local = slot.end.local;
    link.onFrameView((frame) => {
      if (slot.faults === null) this.cb.frame(local, frame);
      else this.impairedRx(slot, frame);
    });
    const frameRun = this.cb.frameRun;
    if (frameRun !== undefined) {
      const impairedRx = (frame: Uint8Array) => this.impairedRx(slot, frame);
      link.onFrameRun((first, count, records, frameBytes, maxFrameBytes) => {
        if (slot.faults === null) frameRun(local, first, count, records, frameBytes, maxFrameBytes);
        else forEachRunFrame(records, 0, impairedRx);
      });
    }
    link.onCarrier((up, reason) => this.cb.carrier(local, up, reason));
    if (!slot.adminUp) link.setAdminUp(false);
    if (link.carrier) this.cb.carrier(local, true, 'connected');
  }

  /**
   * Binds a link of another transport (lib/link/frame-link.ts: a VXLAN tunnel, a real guest's backend) to
   * interface `local`: admin state, impairments, flaps and status apply to it as to a WebSocket link. The
   * end is created ('attach' role, peer `peer`) when the plan did not list it. Replaces any link bound there.
   */
  attach(local: string, link: EthernetLink, peer = ''): void {
    let slot = this.slots.get(local);
    if (slot === undefined) {
      const [peerNode = '', peerInterface = ''] = peer.split('.', 2);
      slot = { end: { local, peer, peerNode, peerInterface, role: 'attach' }, link: undefined, adminUp: true, faults: null, flapTimers: [], flap: null };
      this.slots.set(local, slot);
    }
    if (slot.link && slot.link !== link) slot.link.close();
    this.bind(slot, link);
  }

  /** Dials every 'dial' end given a URL (the orchestrator's POST /control/peers). */
  dial(peers: Record<string, string>): string[] {
    const dialled: string[] = [];
    for (const [local, url] of Object.entries(peers)) {
      const slot = this.slots.get(local);
      if (!slot || slot.end.role !== 'dial') throw new VfabError('VFAB_NOT_FOUND', `${this.name} has no link end ${local} that dials out`);
      if (slot.link) slot.link.close();
      this.bind(slot, connectWsLink({ url, token: this.token, name: `${this.name}.${local}` }));
      dialled.push(local);
    }
    return dialled;
  }

  /** Queues `frame` (copied before this returns) on link `local`; false when dropped or not connected. */
  send(local: string, frame: Uint8Array): boolean {
    const slot = this.sendSlot(local);
    if (slot === undefined) return false;
    const link = slot.link;
    if (!link) return false;
    if (slot.faults === null) return link.send(frame);
    return this.impairedTx(slot, frame);
  }

  /**
   * Queues a received run's records unchanged on link `local` (one copy; see EthernetLink.sendRun). An
   * impaired link takes the frames one by one. Returns the frames queued.
   */
  sendRun(local: string, records: Uint8Array, count: number, frameBytes: number): number {
    const slot = this.sendSlot(local);
    if (slot === undefined) return 0;
    const link = slot.link;
    if (!link) return 0;
    if (slot.faults === null) return link.sendRun(records, count, frameBytes);
    let sent = 0;
    const s = slot;
    forEachRunFrame(records, 0, (frame) => {
      if (this.impairedTx(s, frame)) sent++;
    });
    return sent;
  }

  /** The slot of link `local`; the last one is remembered (a stream keeps sending on one link). */
  private sendSlot(local: string): Slot | undefined {
    let slot = this.lastSendSlot;
    if (slot === undefined || local !== this.lastSendLocal) {
      slot = this.slots.get(local);
      if (slot === undefined) return undefined;
      this.lastSendLocal = local;
      this.lastSendSlot = slot;
    }
    return slot;
  }

  /** Link for `local` (undefined until connected or dialled). */
  link(local: string): EthernetLink | undefined {
    return this.slots.get(local)?.link;
  }

  /** The fullest link's queued bytes (a load generator waits while it is high, like a sender's NIC ring). */
  maxQueuedBytes(): number {
    let max = 0;
    for (const slot of this.slots.values()) {
      const q = slot.link?.queuedBytes ?? 0;
      if (q > max) max = q;
    }
    return max;
  }

  has(local: string): boolean {
    return this.slots.has(local);
  }

  setAdminUp(local: string, up: boolean): void {
    const slot = this.slots.get(local);
    if (!slot) throw new VfabError('VFAB_NOT_FOUND', `${this.name} has no link on ${local} (links: ${[...this.slots.keys()].join(', ') || 'none'})`);
    slot.adminUp = up;
    slot.link?.setAdminUp(up);
  }

  status() {
    return [...this.slots.values()].map((s) => ({
      local: s.end.local,
      peer: s.end.peer,
      role: s.end.role,
      carrier: s.link?.carrier ?? false,
      adminUp: s.adminUp,
      counters: s.link?.counters ?? null,
      impairment: s.faults
        ? { ...s.faults.config, lostTx: s.faults.lostTx, lostRx: s.faults.lostRx, delayedDropsTx: s.faults.tx.overflowDrops, delayedDropsRx: s.faults.rx.overflowDrops }
        : null,
      flap: s.flap,
    }));
  }

  /** Zeroes every link's counters and its impairment's loss counts (`vfab counters --reset`). */
  clearCounters(): void {
    for (const s of this.slots.values()) {
      s.link?.clearCounters();
      if (s.faults) {
        s.faults.lostTx = 0;
        s.faults.lostRx = 0;
        s.faults.tx.overflowDrops = 0;
        s.faults.rx.overflowDrops = 0;
      }
    }
  }

  close(): void {
    for (const s of this.slots.values()) {
      this.clearFaults(s);
      this.cancelFlap(s);
      s.link?.close();
    }
    this.server.close();
  }

  // ------------------------------------------------------------------ fault injection

  private slot(local: string): Slot {
    const slot = this.slots.get(local);
    if (!slot) throw new VfabError('VFAB_NOT_FOUND', `${this.name} has no link on ${local} (links: ${[...this.slots.keys()].join(', ') || 'none'})`);
    return slot;
  }

  private fo(): LinkFaultOptions {
    if (!this.faultOpts) throw new VfabError('VFAB_LINK_FAULTS_UNAVAILABLE', `${this.name} was started without a clock for fault injection`);
    return this.faultOpts;
  }

  /** Sets (or with `{}` clears) loss/delay/jitter on link `local`. Returns the settings now in force. */
  impair(local: string, req: ImpairRequest): ImpairRequest | null {
    const slot = this.slot(local);
    const fo = this.fo();
    this.clearFaults(slot);
    const made = impairmentFor(req, 1);
    if (made === null) {
      fo.event?.('impairment-cleared', { link: local });
      return null;
    }
    const { impair, config } = made;
    slot.faults = { impair, config, tx: newQueue(), rx: newQueue(), lostTx: 0, lostRx: 0 };
    fo.event?.('impairment-set', { link: local, ...config });
    return config;
  }

  private clearFaults(slot: Slot): void {
    const f = slot.faults;
    if (!f) return;
    slot.faults = null;
    // frames held for delay are released now rather than lost
    for (const [q, dir] of [[f.tx, 'tx'], [f.rx, 'rx']] as const) {
      if (q.timer) clearTimeout(q.timer);
      for (let i = q.head; i < q.frames.length; i++) this.emitDelayed(slot, dir, q.frames[i]!);
    }
  }

  private impairedTx(slot: Slot, frame: Uint8Array): boolean {
    const f = slot.faults!;
    const now = this.faultOpts!.clock.nowMs();
    const d = f.impair.decide('aToB', now);
    if (d.drop) {
      f.lostTx++;
      return false;
    }
    if (d.deliverAtMs <= now && f.tx.head === f.tx.frames.length) return slot.link!.send(frame);
    return this.hold(slot, f.tx, 'tx', Buffer.from(frame), d.deliverAtMs);
  }

  private impairedRx(slot: Slot, frame: Uint8Array): void {
    const f = slot.faults!;
    const now = this.faultOpts!.clock.nowMs();
    const d = f.impair.decide('bToA', now);
    if (d.drop) {
      f.lostRx++;
      return;
    }
    if (d.deliverAtMs <= now && f.rx.head === f.rx.frames.length) return this.cb.frame(slot.end.local, frame);
    this.hold(slot, f.rx, 'rx', Buffer.from(frame), d.deliverAtMs);
  }

  /** Queues a delayed frame (FIFO: impairment never reorders) with one timer per direction. */
  private hold(slot: Slot, q: DelayQueue, dir: 'tx' | 'rx', frame: Buffer, atMs: number): boolean {
    if (q.frames.length - q.head >= MAX_DELAYED_FRAMES_PER_LINK) {
      q.overflowDrops++;
      return false;
    }
    q.frames.push(frame);
    q.atMs.push(atMs);
    if (!q.timer) this.armQueue(slot, q, dir);
    return true;
  }

  private armQueue(slot: Slot, q: DelayQueue, dir: 'tx' | 'rx'): void {
    const fo = this.faultOpts!;
    const waitMs = Math.max(0, (q.atMs[q.head]! - fo.clock.nowMs()) / fo.timeScale);
    q.timer = setTimeout(() => {
      q.timer = undefined;
      const now = fo.clock.nowMs();
      while (q.head < q.frames.length && q.atMs[q.head]! <= now + 0.5) {
        const frame = q.frames[q.head]!;
        q.frames[q.head] = undefined as unknown as Buffer;
        q.head++;
        this.emitDelayed(slot, dir, frame);
      }
      if (q.head === q.frames.length) {
        q.frames.length = 0;
        q.atMs.length = 0;
        q.head = 0;
      } else {
        if (q.head > 1024) {
          q.frames.splice(0, q.head);
          q.atMs.splice(0, q.head);
          q.head = 0;
        }
        this.armQueue(slot, q, dir);
      }
    }, waitMs);
  }

  private emitDelayed(slot: Slot, dir: 'tx' | 'rx', frame: Buffer): void {
    if (dir === 'tx') slot.link?.send(frame);
    else this.cb.frame(slot.end.local, frame);
  }

  /**
   * Flap schedule on link `local` (times relative to now, scaled clock): explicit changes, or `count`
   * cycles of down for `downMs` every `periodMs` starting now. `{}` cancels and leaves the link up.
   */
  flap(local: string, req: FlapRequest): { changes: Array<{ atMs: number; up: boolean }> } | null {
    const slot = this.slot(local);
    const fo = this.fo();
    this.cancelFlap(slot);
    const changes = flapChanges(req);
    if (changes === null) {
      this.setAdminUp(local, true);
      fo.event?.('flap-cancelled', { link: local });
      return null;
    }
    const startedAtMs = fo.clock.nowMs();
    slot.flap = { changes, startedAtMs };
    fo.event?.('flap-set', { link: local, changes: changes.length, lastAtMs: changes[changes.length - 1]?.atMs ?? 0 });
    changes.forEach((c, i) => {
      const t = setTimeout(() => {
        this.setAdminUp(local, c.up);
        fo.event?.('flap-change', { link: local, up: c.up, step: i + 1, of: changes.length });
        if (i === changes.length - 1) slot.flap = null;
      }, c.atMs / fo.timeScale);
      slot.flapTimers.push(t);
    });
    return { changes };
  }

  private cancelFlap(slot: Slot): void {
    for (const t of slot.flapTimers) clearTimeout(t);
    slot.flapTimers = [];
    slot.flap = null;
  }
}
