// The destination side of a vMotion (behaviour reference §7.15 steps 2-4; docs/vmotion.md): a pure state
// machine that receives OPEN, memory and device state as datagrams, acknowledges each one (cumulative +
// selective, with its status), and at the switchover checks that every memory unit and the whole state
// arrived, restores the VM's endpoint from the state, asks the daemon to take the VM's file locks, and only
// with the locks resumes the VM here and asks for notify-switches RARPs for each vNIC (when the port
// group notifies). The locks decide which host runs the VM: an ABORT that arrives while the locks are being
// taken does not stop a resume that got them (the source then finds them held and forgets the VM).
// Malformed, foreign or out-of-order datagrams are dropped and counted, never thrown; every buffer is
// bounded (unit maps sized from the validated OPEN, state at most VMOTION_MAX_STATE_BYTES).
// Leaves out sockets and timers (daemons/), the port registration and RARP frames themselves (lib/host,
// lib/teaming), and the pre-checks (precheck.ts).

import type { Clock } from '../clock.js';
import type { Mac } from '../wire/mac.js';
import { VmEndpoint } from '../endpoint/vm-endpoint.js';
import {
  VMOTION_DEST_LINGER_MS, VMOTION_MAX_MEMORY_BYTES, VMOTION_MAX_STATE_BYTES, VMOTION_MIN_MEMORY_BYTES, VMOTION_PAGE_BYTES, VMOTION_UNIT_BYTES,
  VmotionReason, type MigrationTuning, type Tuning, reasonCode, resolveTuning,
} from './config.js';
import { ChunkReceiver } from './transfer.js';
import { DestStatus, type DestStatusNumber, type DataMessage, buildVmotion, parseVmotion, ACK_SACK_BYTES } from './wire.js';
import type { DestinationOutcome, DestinationResult, VmotionEvent, VmotionEventType } from './events.js';

export interface DestinationOptions {
  migrationId: number;
  clock: Clock;
  tuning?: MigrationTuning;
  /** The VM the daemon agreed to take (from the control plane); an OPEN for another is refused. */
  expectVm?: string;
  /** Largest memory this host accepts (default VMOTION_MAX_MEMORY_BYTES). */
  maxMemoryBytes?: number;
  /** Whether the port group of vNIC `nicName` has notify switches on (default: yes for all). */
  notify?: (nicName: string) => boolean;
}

export type DestinationPhase = 'waiting' | 'receiving' | 'acquiring-locks' | 'resumed' | 'failed' | 'closed';

export type DestinationAction =
  /** Send this UDP payload back to the source's vMotion vmkernel port. */
  | { kind: 'send'; datagram: Buffer }
  /** Open the VM's files on its datastores (exclusive), then call locksAcquired(). */
  | { kind: 'acquireLocks' }
  /** Run the VM here: connect its ports with this endpoint; `extra` is the daemon's own part of the state. */
  | { kind: 'resume'; endpoint: VmEndpoint; extra: unknown }
  /** Send notify-switches RARPs for this vNIC (its port group notifies). */
  | { kind: 'notify'; nic: number; nicName: string; mac: Mac }
  /** Nothing arrives here after all: drop what was prepared for the VM. */
  | { kind: 'discard' }
  /** The session may be dropped (after resuming or failing, the linger time passed). */
  | { kind: 'close' }
  | { kind: 'event'; event: VmotionEvent }
  | { kind: 'done'; result: DestinationResult };

/** One bit per unit received at least once; bounded by the size it was made with. */
class UnitMap {
  private readonly bits: Uint8Array;
  seen = 0;
  constructor(readonly units: number) {
    this.bits = new Uint8Array(Math.ceil(units / 8));
  }
  mark(first: number, count: number): void {
    for (let u = first; u < first + count; u++) {
      const bit = 1 << (u & 7);
      if (!(this.bits[u >>> 3]! & bit)) {
        this.bits[u >>> 3]! |= bit;
        this.seen++;
      }
    }
  }
  get complete(): boolean {
    return this.seen === this.units;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export class MigrationDestination {
  readonly migrationId: number;
  private readonly clock: Clock;
  private readonly tuning: Tuning;
  private readonly opts: DestinationOptions;
  private readonly receiver: ChunkReceiver;
  private phaseNow: DestinationPhase = 'waiting';
  private status: DestStatusNumber = DestStatus.RECEIVING;
  private reason: number = VmotionReason.NONE;
  private vm = '';
  private memoryUnits: UnitMap | undefined;
  private pages = 0;
  private memoryBytesReceived = 0;
  private state: Buffer | undefined;
  private stateUnits: UnitMap | undefined;
  private switchover: { seq: number; stunAtMs: number; stateBytes: number; pages: number } | undefined;
  private endpoint: VmEndpoint | undefined;
  private extra: unknown;
  private resumedAtMs = 0;
  private lastHeardMs: number;
  private endedAtMs = 0;
  private readonly sackScratch = new Uint8Array(ACK_SACK_BYTES);
  readonly counters = { malformed: 0, foreign: 0, protocolErrors: 0 };

  constructor(opts: DestinationOptions) {
    this.opts = opts;
    this.migrationId = opts.migrationId;
    this.clock = opts.clock;
    this.tuning = resolveTuning(opts.tuning);
    this.receiver = new ChunkReceiver(this.tuning.windowChunks);
    this.lastHeardMs = this.clock.nowMs();
  }

  get phase(): DestinationPhase {
    return this.phaseNow;
  }

  // ---------------------------------------------------------------- inputs

  /** A datagram from the source. Never throws for bad bytes: drops and counts. */
  receive(datagram: Uint8Array): DestinationAction[] {
    const parsed = parseVmotion(datagram);
    if (!parsed.ok) {
      this.counters.malformed++;
      return [];
    }
    const m = parsed.value;
    if (m.migrationId !== this.migrationId) {
      this.counters.foreign++;
      return [];
    }
    if (this.phaseNow === 'closed') return [];
    const now = this.clock.nowMs();
    this.lastHeardMs = now;
    const out: DestinationAction[] = [];
    if (m.type === 'ack') {
      this.counters.protocolErrors++;
      return out;
    }
    if (m.type === 'abort') {
      // Once the locks are being taken, the locks decide (see the file comment).
      if (this.phaseNow === 'waiting' || this.phaseNow === 'receiving') this.fail(out, m.reason === VmotionReason.NONE ? VmotionReason.CANCELLED : m.reason, 'the source aborted', 'aborted');
      return out;
    }
    // Sequenced: nothing but OPEN before the OPEN; never apply twice; always acknowledge.
    if (m.type !== 'open' && this.phaseNow === 'waiting') {
      this.counters.protocolErrors++;
      return out;
    }
    const arrival = this.receiver.accept(m.seq);
    if (arrival === 'new' && (this.phaseNow === 'waiting' || this.phaseNow === 'receiving')) {
      if (m.type === 'open') this.open(out, m.vm, m.memoryBytes, m.pageBytes);
      else if (m.type === 'data') this.data(m);
      else this.switchover = { seq: m.seq, stunAtMs: m.stunAtMs, stateBytes: m.stateBytes, pages: m.pages };
    }
    if (this.phaseNow === 'receiving' && this.switchover !== undefined && this.receiver.hasAllThrough(this.switchover.seq)) this.takeOver(out);
    this.ack(out);
    return out;
  }

  /** The daemon took (ok) or could not take the VM's file locks. */
  locksAcquired(result: { ok: true } | { ok: false; message: string }): DestinationAction[] {
    if (this.phaseNow !== 'acquiring-locks' || this.endpoint === undefined) return [];
    const out: DestinationAction[] = [];
    if (!result.ok) {
      this.fail(out, VmotionReason.LOCK_FAILED, `cannot take ${this.vm}'s locks: ${result.message}`, 'failed');
      this.ack(out);
      return out;
    }
    const now = this.clock.nowMs();
    this.phaseNow = 'resumed';
    this.status = DestStatus.RESUMED;
    this.resumedAtMs = now;
    this.endedAtMs = now;
    const ep = this.endpoint;
    out.push({ kind: 'resume', endpoint: ep, extra: this.extra });
    const downtimeMs = now - (this.switchover?.stunAtMs ?? now);
    this.event(out, 'vmotion-resumed', `${this.vm} resumed on the destination, ${downtimeMs} ms after the stun`, { downtimeMs });
    for (let i = 0; i < ep.nicCount; i++) {
      const name = ep.nicName(i);
      if (this.opts.notify !== undefined && !this.opts.notify(name)) continue;
      out.push({ kind: 'notify', nic: i, nicName: name, mac: ep.nicMac(i) });
      this.event(out, 'vmotion-notify', `RARPs for ${this.vm}.${name} from the destination`, { nic: name, mac: ep.nicMac(i) });
    }
    this.ack(out);
    out.push({ kind: 'done', result: this.result('resumed', undefined, 'resumed here', downtimeMs) });
    return out;
  }

  /** Idle timeout before the switchover, linger after it. Call at nextDeadlineMs(). */
  tick(): DestinationAction[] {
    const now = this.clock.nowMs();
    const out: DestinationAction[] = [];
    if ((this.phaseNow === 'waiting' || this.phaseNow === 'receiving') && now - this.lastHeardMs >= this.tuning.networkTimeoutMs) {
      this.fail(out, VmotionReason.NETWORK_LOST, `nothing from the source for ${this.tuning.networkTimeoutMs} ms`, 'aborted');
    } else if ((this.phaseNow === 'resumed' || this.phaseNow === 'failed') && now - this.endedAtMs >= VMOTION_DEST_LINGER_MS) {
      this.phaseNow = 'closed';
      out.push({ kind: 'close' });
    }
    return out;
  }

  nextDeadlineMs(): number | undefined {
    if (this.phaseNow === 'waiting' || this.phaseNow === 'receiving') return this.lastHeardMs + this.tuning.networkTimeoutMs;
    if (this.phaseNow === 'resumed' || this.phaseNow === 'failed') return this.endedAtMs + VMOTION_DEST_LINGER_MS;
    return undefined;
  }

  // ---------------------------------------------------------------- decisions

  private open(out: DestinationAction[], vm: string, memoryBytes: number, pageBytes: number): void {
    const max = Math.min(this.opts.maxMemoryBytes ?? VMOTION_MAX_MEMORY_BYTES, VMOTION_MAX_MEMORY_BYTES);
    this.vm = vm;
    let refusal: string | undefined;
    if (this.opts.expectVm !== undefined && vm !== this.opts.expectVm) refusal = `expected VM ${this.opts.expectVm}, the source sends ${vm}`;
    else if (pageBytes !== VMOTION_PAGE_BYTES) refusal = `page size ${pageBytes} is not ${VMOTION_PAGE_BYTES}`;
    else if (memoryBytes < VMOTION_MIN_MEMORY_BYTES || memoryBytes > max || memoryBytes % VMOTION_PAGE_BYTES !== 0) {
      refusal = `memory of ${memoryBytes} bytes is outside ${VMOTION_MIN_MEMORY_BYTES}..${max} or not whole pages`;
    }
    if (refusal !== undefined) {
      this.fail(out, VmotionReason.REFUSED, refusal, 'failed');
      return;
    }
    this.phaseNow = 'receiving';
    this.pages = memoryBytes / VMOTION_PAGE_BYTES;
    this.memoryUnits = new UnitMap(memoryBytes / VMOTION_UNIT_BYTES);
  }

  private data(m: DataMessage): void {
    if (m.region === 'memory') {
      const map = this.memoryUnits!;
      if (m.page >= this.pages || m.offset % VMOTION_UNIT_BYTES !== 0 || m.data.length % VMOTION_UNIT_BYTES !== 0 || m.offset + m.data.length > VMOTION_PAGE_BYTES) {
        this.counters.protocolErrors++;
        return;
      }
      map.mark((m.page * VMOTION_PAGE_BYTES + m.offset) / VMOTION_UNIT_BYTES, m.data.length / VMOTION_UNIT_BYTES);
      this.memoryBytesReceived += m.data.length;
      return;
    }
    // Device state: one buffer, sized by the first chunk's total within the limit; chunks start on units.
    if (m.total > VMOTION_MAX_STATE_BYTES || (this.state !== undefined && this.state.length !== m.total) || m.offset % VMOTION_UNIT_BYTES !== 0
      || (m.data.length % VMOTION_UNIT_BYTES !== 0 && m.offset + m.data.length !== m.total)) {
      this.counters.protocolErrors++;
      return;
    }
    if (this.state === undefined) {
      this.state = Buffer.alloc(m.total);
      this.stateUnits = new UnitMap(Math.ceil(m.total / VMOTION_UNIT_BYTES));
    }
    this.state.set(m.data, m.offset);
    this.stateUnits!.mark(m.offset / VMOTION_UNIT_BYTES, Math.ceil(m.data.length / VMOTION_UNIT_BYTES));
  }

  /** Everything up to the SWITCHOVER arrived: check it, restore the endpoint, ask for the locks. */
  private takeOver(out: DestinationAction[]): void {
    const sw = this.switchover!;
    const stateOk = sw.stateBytes === 0 ? this.state === undefined : this.state !== undefined && this.state.length === sw.stateBytes && this.stateUnits!.complete;
    if (sw.pages !== this.pages || !this.memoryUnits!.complete || !stateOk) {
      this.fail(out, VmotionReason.INCOMPLETE, `switchover with ${this.memoryUnits!.seen}/${this.memoryUnits!.units} memory units and ${this.stateUnits?.seen ?? 0}/${this.stateUnits?.units ?? 0} state units`, 'failed');
      return;
    }
    let decoded: unknown;
    try {
      decoded = JSON.parse(utf8.decode(this.state ?? new Uint8Array(0)));
    } catch {
      this.fail(out, VmotionReason.BAD_STATE, 'device state is not JSON', 'failed');
      return;
    }
    const obj = typeof decoded === 'object' && decoded !== null ? (decoded as Record<string, unknown>) : {};
    const restored = VmEndpoint.restore(obj.endpoint, this.clock);
    if (!restored.ok) {
      this.fail(out, VmotionReason.BAD_STATE, `device state: ${restored.error.message}`, 'failed');
      return;
    }
    this.endpoint = restored.value;
    this.extra = obj.extra;
    this.phaseNow = 'acquiring-locks';
    out.push({ kind: 'acquireLocks' });
  }

  private fail(out: DestinationAction[], reason: number, message: string, outcome: DestinationOutcome): void {
    const now = this.clock.nowMs();
    const prepared = this.phaseNow !== 'waiting';
    this.phaseNow = 'failed';
    this.status = DestStatus.FAILED;
    this.reason = reason;
    this.endedAtMs = now;
    this.endpoint = undefined;
    this.state = undefined;
    if (prepared) out.push({ kind: 'discard' });
    this.event(out, outcome === 'aborted' ? 'vmotion-aborted' : 'vmotion-failed', `incoming vMotion of ${this.vm || '?'} ${outcome}: ${message}`, { code: reasonCode(reason) });
    out.push({ kind: 'done', result: this.result(outcome, reasonCode(reason), message) });
  }

  private result(outcome: DestinationOutcome, code: string | undefined, message: string, downtimeMs?: number): DestinationResult {
    return {
      migrationId: this.migrationId, vm: this.vm, outcome, ...(code !== undefined ? { code } : {}), message,
      ...(downtimeMs !== undefined ? { downtimeMs } : {}),
      memoryBytesReceived: this.memoryBytesReceived, stateBytes: this.switchover?.stateBytes ?? 0,
      transfer: { ...this.receiver.counters, ...this.counters },
    };
  }

  private ack(out: DestinationAction[]): void {
    out.push({
      kind: 'send',
      datagram: buildVmotion({
        type: 'ack', migrationId: this.migrationId, seq: this.receiver.nextExpected, status: this.status, reason: this.reason,
        window: this.receiver.windowChunks, resumedAtMs: this.resumedAtMs, sack: this.receiver.sack(this.sackScratch),
      }),
    });
  }

  private event(out: DestinationAction[], type: VmotionEventType, message: string, details: Record<string, unknown>): void {
    out.push({ kind: 'event', event: { type, atMs: this.clock.nowMs(), side: 'destination', vm: this.vm, migrationId: this.migrationId, message, details } });
  }
}
