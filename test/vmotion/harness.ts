// Test harness: a MigrationSource and a MigrationDestination joined by a simulated vMotion network (one
// queue per direction with a bit rate, a one-way latency and seeded loss, Ethernet/IPv4/UDP overhead
// counted), a lock table standing in for the datastore, and a guest endpoint, all on a ManualClock. It
// carries out the actions as the daemon will, records events, and checks that the VM never runs on both
// hosts. Not a test file itself.

import { ManualClock, seededRandom, type Random } from '../../lib/clock.js';
import { VmEndpoint } from '../../lib/endpoint/index.js';
import { parseMac } from '../../lib/wire/mac.js';
import {
  MigrationSource, MigrationDestination, type SourceAction, type DestinationAction, type SourceResult, type DestinationResult,
  type VmotionEvent, type MigrationTuning, type MemoryModel, type ReacquireResult,
} from '../../lib/vmotion/index.js';

/** Ethernet header + FCS-less minimum framing + IPv4 + UDP around each datagram. */
export const FRAME_OVERHEAD_BYTES = 14 + 20 + 8;

export class SimLink {
  private busyUntilMs = 0;
  readonly inFlight: Array<{ atMs: number; datagram: Buffer }> = [];
  sent = 0;
  lost = 0;
  bytes = 0;
  /** When true, everything is dropped (cable pulled). */
  down = false;

  constructor(private readonly bytesPerSec: number, private readonly latencyMs: number, private readonly lossRate: number, private readonly rand: Random) {}

  send(nowMs: number, datagram: Buffer): void {
    this.sent++;
    const wireBytes = datagram.length + FRAME_OVERHEAD_BYTES;
    this.bytes += wireBytes;
    const start = Math.max(nowMs, this.busyUntilMs);
    this.busyUntilMs = start + (wireBytes / this.bytesPerSec) * 1000;
    if (this.down || (this.lossRate > 0 && this.rand() < this.lossRate)) {
      this.lost++;
      return;
    }
    this.inFlight.push({ atMs: this.busyUntilMs + this.latencyMs, datagram: Buffer.from(datagram) });
  }

  nextArrivalMs(): number | undefined {
    return this.inFlight.length > 0 ? this.inFlight[0]!.atMs : undefined;
  }

  /** Datagrams that have arrived by `nowMs`, in order. */
  takeArrived(nowMs: number): Buffer[] {
    const out: Buffer[] = [];
    while (this.inFlight.length > 0 && this.inFlight[0]!.atMs <= nowMs) out.push(this.inFlight.shift()!.datagram);
    return out;
  }
}

export interface HarnessOptions {
  memory: MemoryModel;
  tuning?: MigrationTuning;
  /** Wire bit rate of the vMotion network, bytes/s (each direction). */
  bytesPerSec?: number;
  latencyMs?: number;
  loss?: number;
  seed?: number;
  /** Destination's lock acquisition: 'ok' at once, 'refuse', or 'never' (no answer). */
  destLocks?: 'ok' | 'refuse' | 'never';
  /** Destination options. */
  expectVm?: string;
  maxMemoryBytes?: number;
  notify?: (nic: string) => boolean;
}

export const VM_MAC0 = parseMac('00:50:56:00:10:01');
export const VM_MAC1 = parseMac('00:50:56:00:10:02');

export class Harness {
  readonly clock = new ManualClock(1000);
  readonly src: MigrationSource;
  readonly dst: MigrationDestination;
  readonly toDst: SimLink;
  readonly toSrc: SimLink;
  /** The guest as it runs on the source. */
  readonly guest: VmEndpoint;
  lockHolder: 'source' | 'destination' | undefined = 'source';
  runningOnSource = true;
  runningOnDest = false;
  sourceForgot = false;
  destEndpoint: VmEndpoint | undefined;
  destExtra: unknown;
  readonly events: VmotionEvent[] = [];
  readonly notifies: Array<{ nic: number; nicName: string; mac: number }> = [];
  readonly actions: Array<{ side: 'source' | 'destination'; kind: string; atMs: number }> = [];
  sourceResult: SourceResult | undefined;
  destResult: DestinationResult | undefined;
  /** Times both hosts ran the VM at once (must stay 0). */
  dualRun = 0;

  constructor(private readonly o: HarnessOptions) {
    const rand = seededRandom(o.seed ?? 1);
    const bps = o.bytesPerSec ?? 100_000_000;
    this.toDst = new SimLink(bps, o.latencyMs ?? 0.1, o.loss ?? 0, rand);
    this.toSrc = new SimLink(bps, o.latencyMs ?? 0.1, o.loss ?? 0, rand);
    this.src = new MigrationSource({ migrationId: 7, vm: 'app1', memory: o.memory, clock: this.clock, tuning: o.tuning });
    this.dst = new MigrationDestination({
      migrationId: 7, clock: this.clock, tuning: o.tuning, expectVm: o.expectVm ?? 'app1', maxMemoryBytes: o.maxMemoryBytes, notify: o.notify,
    });
    this.guest = new VmEndpoint({
      name: 'app1', clock: this.clock,
      nics: [{ name: 'nic0', mac: VM_MAC0, ipv4: '192.0.2.21', prefixLength: 24, gateway: '192.0.2.1' }, { name: 'nic1', mac: VM_MAC1 }],
    });
    this.guest.powerOn();
  }

  start(): void {
    this.onSource(this.src.start());
  }

  onSource(actions: SourceAction[]): void {
    for (const a of actions) {
      this.actions.push({ side: 'source', kind: a.kind, atMs: this.clock.nowMs() });
      switch (a.kind) {
        case 'send': this.toDst.send(this.clock.nowMs(), a.datagram); break;
        case 'event': this.events.push(a.event); break;
        case 'stun':
          this.runningOnSource = false;
          this.onSource(this.src.stunned({ endpoint: this.guest.snapshot(), extra: { streams: [{ id: 1, received: 42 }] } }));
          break;
        case 'releaseLocks':
          if (this.lockHolder === 'source') this.lockHolder = undefined;
          this.onSource(this.src.locksReleased());
          break;
        case 'reacquireLocks': {
          let r: ReacquireResult;
          if (this.lockHolder === 'destination') r = { ok: false, heldByPeer: true, message: 'locked by esx2' };
          else {
            this.lockHolder = 'source';
            r = { ok: true };
          }
          this.onSource(this.src.locksReacquired(r));
          break;
        }
        case 'resume': this.runningOnSource = true; break;
        case 'forget': this.sourceForgot = true; this.runningOnSource = false; break;
        case 'done': this.sourceResult = a.result; break;
      }
      this.checkDual();
    }
  }

  onDest(actions: DestinationAction[]): void {
    for (const a of actions) {
      this.actions.push({ side: 'destination', kind: a.kind, atMs: this.clock.nowMs() });
      switch (a.kind) {
        case 'send': this.toSrc.send(this.clock.nowMs(), a.datagram); break;
        case 'event': this.events.push(a.event); break;
        case 'acquireLocks': {
          const mode = this.o.destLocks ?? 'ok';
          if (mode === 'never') break;
          if (mode === 'ok' && (this.lockHolder === undefined || this.lockHolder === 'destination')) {
            this.lockHolder = 'destination';
            this.onDest(this.dst.locksAcquired({ ok: true }));
          } else this.onDest(this.dst.locksAcquired({ ok: false, message: `locked by ${this.lockHolder ?? 'nobody (refused)'}` }));
          break;
        }
        case 'resume': this.runningOnDest = true; this.destEndpoint = a.endpoint; this.destExtra = a.extra; break;
        case 'notify': this.notifies.push({ nic: a.nic, nicName: a.nicName, mac: a.mac }); break;
        case 'discard': this.runningOnDest = false; break;
        case 'done': this.destResult = a.result; break;
        default: break;
      }
      this.checkDual();
    }
  }

  private checkDual(): void {
    if (this.runningOnSource && this.runningOnDest) this.dualRun++;
  }

  /** Runs the fabric until both sides are done or `untilMs` (fabric ms) passes. */
  run(untilMs = 600_000): void {
    for (let guard = 0; guard < 5_000_000; guard++) {
      if (this.sourceResult !== undefined && (this.destResult !== undefined || this.o.destLocks === 'never') && this.toDst.inFlight.length === 0 && this.toSrc.inFlight.length === 0) return;
      const candidates = [this.src.nextDeadlineMs(), this.dst.nextDeadlineMs(), this.toDst.nextArrivalMs(), this.toSrc.nextArrivalMs()]
        .filter((d): d is number => d !== undefined);
      if (candidates.length === 0) return;
      const next = Math.min(...candidates);
      if (next > untilMs) return;
      this.clock.set(Math.max(next, this.clock.nowMs()));
      const now = this.clock.nowMs();
      for (const d of this.toDst.takeArrived(now)) this.onDest(this.dst.receive(d));
      for (const d of this.toSrc.takeArrived(now)) this.onSource(this.src.receive(d));
      const sd = this.src.nextDeadlineMs();
      if (sd !== undefined && sd <= now) this.onSource(this.src.tick());
      const dd = this.dst.nextDeadlineMs();
      if (dd !== undefined && dd <= now) this.onDest(this.dst.tick());
    }
    throw new Error('harness: runaway loop');
  }

  eventTypes(side?: 'source' | 'destination'): string[] {
    return this.events.filter((e) => side === undefined || e.side === side).map((e) => e.type);
  }
}

export const MiB = 1024 * 1024;
