// In-process Ethernet links for the simulation: a cable between two ends (a host uplink, a switch port)
// that delivers each frame to the other end one hop later on the virtual clock (lib/sim/scheduler.ts).
// Keeps the link semantics of the daemons' links (lib/link/link.ts, daemons/common/links.ts): carrier is
// up while both ends are admin-up and both nodes run, and taking one end down is seen at both; frames
// sent without carrier, or arriving at an end whose carrier is down, are dropped and counted; seeded
// loss, delay and jitter per direction seen from the end they are set on (lib/faults/impairment.ts, the
// same decisions and draws as a daemon's link); flap schedules; the same counter names. Frames are copied
// when sent (the sender may reuse its buffer). A frame leaves an end at the line rate (1 GbE), after those
// queued before it; a queue longer than SIM_LINK_MAX_QUEUE_MS of line time tail-drops. Leaves out sockets
// and batching into messages. Not from the spec: the emulator's own cables.

import { type FlapRequest, type ImpairRequest, type LinkImpairment, flapChanges, impairmentFor } from '../faults/impairment.js';
import { type LinkCounters, zeroCounters } from '../link/link.js';
import { ETH_HEADER_BYTES, MAX_FRAME_BYTES } from '../wire/ethernet.js';
import type { SimScheduler, SimTimer } from './scheduler.js';

/** One-way time a frame takes over a simulated cable (fabric ms): 10 µs, like a hop between daemons. */
export const SIM_LINK_HOP_MS = 0.01;
/**
 * Line rate of a simulated cable, bits/s: 1 GbE, the slowest network vSphere supports for vMotion. A frame
 * takes its bytes (plus preamble and inter-frame gap) at this rate to leave an end, after the frames queued
 * before it, so a burst (a vMotion pass, a fast stream) takes time as on a wire.
 */
export const SIM_LINK_RATE_BPS = 1_000_000_000;
/** Bytes on the wire besides the frame: preamble and start delimiter (8), inter-frame gap (12). */
export const SIM_LINK_OVERHEAD_BYTES = 20;
/** Line time an end may have queued before it tail-drops a frame (txDropsQueueFull): 50 ms, about 6 MB at 1 GbE. */
export const SIM_LINK_MAX_QUEUE_MS = 50;
/** Time a frame of `bytes` takes to leave an end at the line rate (fabric ms). */
export function simWireMs(bytes: number): number {
  return ((bytes + SIM_LINK_OVERHEAD_BYTES) * 8 * 1000) / SIM_LINK_RATE_BPS;
}

/** Frames one direction of an impaired end may hold for delayed delivery before it drops them (counted). */
export const MAX_SIM_DELAYED_FRAMES = 65_536;

/** The counters of one end: lib/link/link.ts's (those a simulated cable counts stay 0: messages are frames, nothing queues). */
export type SimLinkCounters = LinkCounters;

export interface SimEndHandlers {
  /** A frame arrived (a view valid during the call). */
  frame(frame: Uint8Array): void;
  carrier(up: boolean, reason: string): void;
  /** Event log hook (impairment-set/-cleared, flap-set/-change/-cancelled), as a daemon logs them. */
  event?(type: string, fields: Record<string, unknown>): void;
}

interface Faults {
  impair: LinkImpairment;
  config: ImpairRequest & { direction: 'tx' | 'rx' | 'both'; seed: number };
  heldTx: number;
  heldRx: number;
  lostTx: number;
  lostRx: number;
  overflowDrops: number;
}

export class SimLinkEnd {
  adminUp = true;
  /** The carrier this end has seen (its handler was told). */
  carrierSeen = false;
  counters: SimLinkCounters = zeroCounters();
  peer!: SimLinkEnd;
  handlers: SimEndHandlers | undefined;
  private faults: Faults | null = null;
  private flapTimers: SimTimer[] = [];
  private flapState: { changes: number; startedAtMs: number } | null = null;
  /** When the last frame queued at this end has left it (line rate, SIM_LINK_RATE_BPS). */
  private txBusyUntilMs = 0;

  constructor(readonly link: SimLink, readonly node: string, readonly iface: string) {}

  get name(): string {
    return `${this.node}.${this.iface}`;
  }

  get carrier(): boolean {
    return this.link.carrierUp();
  }

  /** Sends a frame (copied) to the peer; false when dropped (no carrier, bad size, impairment loss). */
  send(frame: Uint8Array): boolean {
    const c = this.counters;
    if (frame.length < ETH_HEADER_BYTES || frame.length > MAX_FRAME_BYTES) {
      c.txDropsInvalid++;
      return false;
    }
    if (!this.carrier) {
      c.txDropsCarrier++;
      return false;
    }
    const sched = this.link.sched;
    const now = sched.nowMs();
    const startMs = this.txBusyUntilMs > now ? this.txBusyUntilMs : now;
    if (startMs - now > SIM_LINK_MAX_QUEUE_MS) {
      c.txDropsQueueFull++;
      return false;
    }
    const leftMs = startMs + simWireMs(frame.length);
    let atMs = leftMs + SIM_LINK_HOP_MS;
    if (this.faults !== null) {
      const d = this.faults.impair.decide('aToB', now);
      if (d.drop) {
        this.faults.lostTx++;
        return false;
      }
      if (this.faults.heldTx >= MAX_SIM_DELAYED_FRAMES) {
        this.faults.overflowDrops++;
        return false;
      }
      atMs = leftMs + (d.deliverAtMs - now) + SIM_LINK_HOP_MS;
    }
    this.txBusyUntilMs = leftMs;
    c.txFrames++;
    c.txBytes += frame.length;
    c.txMessages++;
    const copy = Uint8Array.prototype.slice.call(frame) as Uint8Array;
    const peer = this.peer;
    const f = this.faults;
    if (f !== null) f.heldTx++;
    sched.at(atMs, () => {
      if (f !== null) f.heldTx--;
      peer.arrive(copy);
    });
    return true;
  }

  private arrive(frame: Uint8Array): void {
    const c = this.counters;
    c.rxMessages++;
    if (!this.carrierSeen || !this.link.running(this)) {
      c.rxDropsCarrier++;
      return;
    }
    if (this.faults !== null) {
      const f = this.faults;
      const now = this.link.sched.nowMs();
      const d = f.impair.decide('bToA', now);
      if (d.drop) {
        f.lostRx++;
        return;
      }
      if (d.deliverAtMs > now) {
        if (f.heldRx >= MAX_SIM_DELAYED_FRAMES) {
          f.overflowDrops++;
          return;
        }
        f.heldRx++;
        this.link.sched.at(d.deliverAtMs, () => {
          f.heldRx--;
          this.deliver(frame);
        });
        return;
      }
    }
    this.deliver(frame);
  }

  private deliver(frame: Uint8Array): void {
    if (!this.link.running(this)) return; // held by an impairment while its node died: gone with the node
    this.counters.rxFrames++;
    this.counters.rxBytes += frame.length;
    this.handlers?.frame(frame);
  }

  /** Cable pulled (false) or plugged (true) at this end: carrier follows at both ends. */
  setAdminUp(up: boolean): void {
    if (this.adminUp === up) return;
    this.adminUp = up;
    this.link.carrierChanged(up ? 'admin-up' : 'admin-down', this);
  }

  /** Sets (or with `{}` clears) loss/delay/jitter at this end; returns the settings in force. */
  impair(req: ImpairRequest, defaultSeed: number): (ImpairRequest & { seed: number }) | null {
    const ev = this.handlers?.event;
    const made = impairmentFor(req, defaultSeed);
    this.faults = null;
    if (made === null) {
      ev?.('impairment-cleared', { link: this.iface });
      return null;
    }
    const { impair, config } = made;
    this.faults = { impair, config, heldTx: 0, heldRx: 0, lostTx: 0, lostRx: 0, overflowDrops: 0 };
    ev?.('impairment-set', { link: this.iface, ...config });
    return config;
  }

  /** Flap schedule at this end (times relative to now); `{}` cancels and leaves the end up. */
  flap(req: FlapRequest): { changes: Array<{ atMs: number; up: boolean }> } | null {
    const ev = this.handlers?.event;
    const sched = this.link.sched;
    for (const t of this.flapTimers) sched.cancel(t);
    this.flapTimers = [];
    this.flapState = null;
    const changes = flapChanges(req);
    if (changes === null) {
      this.setAdminUp(true);
      ev?.('flap-cancelled', { link: this.iface });
      return null;
    }
    this.flapState = { changes: changes.length, startedAtMs: sched.nowMs() };
    ev?.('flap-set', { link: this.iface, changes: changes.length, lastAtMs: changes[changes.length - 1]?.atMs ?? 0 });
    changes.forEach((c, i) => {
      this.flapTimers.push(sched.after(c.atMs, () => {
        this.setAdminUp(c.up);
        ev?.('flap-change', { link: this.iface, up: c.up, step: i + 1, of: changes.length });
        if (i === changes.length - 1) this.flapState = null;
      }));
    });
    return { changes };
  }

  /**
   * This end's node died: what its daemon held of the link is gone (admin state, impairment, flap timers,
   * counters, the carrier it had seen). Carrier itself follows from the node no longer running
   * (SimLink.carrierChanged); a restarted node starts from this fresh state, as a new process does.
   */
  reset(): void {
    for (const t of this.flapTimers) this.link.sched.cancel(t);
    this.flapTimers = [];
    this.flapState = null;
    this.faults = null;
    this.adminUp = true;
    this.carrierSeen = false;
    this.txBusyUntilMs = 0;
    this.counters = zeroCounters();
  }

  clearCounters(): void {
    this.counters = zeroCounters();
    if (this.faults) this.faults.lostTx = this.faults.lostRx = 0;
  }

  /** A status row like a daemon's links (GET /control/status links[]). */
  status(): { local: string; peer: string; adminUp: boolean; carrier: boolean; counters: SimLinkCounters; impairment: unknown; flap: unknown } {
    return {
      local: this.iface, peer: this.peer.name, adminUp: this.adminUp, carrier: this.carrier, counters: { ...this.counters },
      impairment: this.faults ? { ...this.faults.config, lostTx: this.faults.lostTx, lostRx: this.faults.lostRx } : null,
      flap: this.flapState,
    };
  }
}

/** A cable between two ends; `running(node)` says whether a node runs (a stopped node has no carrier). */
export class SimLink {
  readonly a: SimLinkEnd;
  readonly b: SimLinkEnd;
  private up = false;

  constructor(readonly sched: SimScheduler, a: { node: string; iface: string }, b: { node: string; iface: string }, private readonly isRunning: (node: string) => boolean = () => true) {
    this.a = new SimLinkEnd(this, a.node, a.iface);
    this.b = new SimLinkEnd(this, b.node, b.iface);
    this.a.peer = this.b;
    this.b.peer = this.a;
  }

  running(end: SimLinkEnd): boolean {
    return this.isRunning(end.node);
  }

  carrierUp(): boolean {
    return this.up;
  }

  /**
   * Re-evaluates carrier (after an admin change or a node stopping or starting) and tells both ends: the
   * end where it changed (`origin`) at once, the other one hop later (as a carrier record crosses a real
   * link). An end is told only what is true when the news arrives, so a quick flip back is seen as such.
   */
  carrierChanged(reason: string, origin?: SimLinkEnd): void {
    const up = this.a.adminUp && this.b.adminUp && this.isRunning(this.a.node) && this.isRunning(this.b.node);
    if (up === this.up) return;
    this.up = up;
    for (const end of [this.a, this.b]) {
      if (origin === undefined || end === origin) this.tell(end, reason);
      else this.sched.after(SIM_LINK_HOP_MS, () => this.tell(end, reason));
    }
  }

  private tell(end: SimLinkEnd, reason: string): void {
    const up = this.up;
    if (!this.isRunning(end.node) || end.carrierSeen === up) return;
    if (up) {
      end.counters.carrierUps++;
      end.counters.connects++;
    } else end.counters.carrierDowns++;
    end.carrierSeen = up;
    end.handlers?.carrier(up, reason);
  }
}
