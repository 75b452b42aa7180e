// The source side of a vMotion (behaviour reference §7.15; docs/vmotion.md): a pure state machine that
// decides, the daemon acts. Phases: opening (OPEN until the destination accepts), pre-copy passes over the
// dirty pages with the bandwidth measured from acknowledged data until the dirty set would copy within
// the switchover budget or the pass limit is reached, stun, final copy of the dirty pages and the device
// state, release of the VM's file locks, switchover (the destination takes the locks and resumes), then
// the source forgets the VM. A switchover unfinished `switchoverTimeoutMs` after the stun, a lost vMotion
// network, or a destination that gives up resumes the VM on the source once it holds its locks again;
// the locks decide which host runs the VM, so it never runs on two. Before the stun a failure only aborts
// (the VM never stopped). Every phase is an event with its fabric time; downtime = stun to resume.
// Inputs: start, receive (datagrams from the destination), tick (at nextDeadlineMs), stunned (the daemon
// stopped the VM and hands its state), locksReleased, locksReacquired, cancel. Outputs: actions.
// Leaves out sockets and timers (daemons/), the pre-checks (precheck.ts) and storage vMotion.

import type { Clock } from '../clock.js';
import {
  VMOTION_MAX_STATE_BYTES, VMOTION_MAX_VM_NAME_BYTES, VMOTION_PAGE_BYTES, VMOTION_UNIT_BYTES, VmotionError, VmotionReason, type MigrationTuning, type Tuning,
  reasonCode, resolveTuning,
} from './config.js';
import { GuestMemory, type MemoryModel } from './memory.js';
import { ChunkSender } from './transfer.js';
import { DATA_PAYLOAD_OFFSET, DestStatus, buildVmotion, parseVmotion } from './wire.js';
import type { PassReport, SourceOutcome, SourceResult, VmotionEvent, VmotionEventType } from './events.js';

export interface SourceOptions {
  /** u32 naming this migration on the wire (the daemon picks it, unique per source host). */
  migrationId: number;
  vm: string;
  memory: MemoryModel;
  clock: Clock;
  tuning?: MigrationTuning;
}

export type SourcePhase =
  | 'new' | 'opening' | 'precopy' | 'stunning' | 'final-copy' | 'releasing-locks' | 'switchover' | 'reacquiring-locks' | 'done';

export type SourceAction =
  /** Send this UDP payload from the source's vMotion vmkernel port to the destination's. */
  | { kind: 'send'; datagram: Buffer }
  /** Stop the VM (no frames in or out), then call stunned(state) with its endpoint snapshot. */
  | { kind: 'stun' }
  /** Close the VM's files on its datastores, then call locksReleased(). */
  | { kind: 'releaseLocks' }
  /** Open the VM's files again (exclusive), then call locksReacquired(). */
  | { kind: 'reacquireLocks' }
  /** Let the VM run again on this host. */
  | { kind: 'resume' }
  /** The VM runs on the destination: remove it from this host (ports, endpoint, memory). */
  | { kind: 'forget' }
  | { kind: 'event'; event: VmotionEvent }
  | { kind: 'done'; result: SourceResult };

export type LockResult = { ok: true } | { ok: false; message: string };
/** `heldByPeer`: the files are locked by the destination (alive), so the VM is running there. */
export type ReacquireResult = { ok: true } | { ok: false; heldByPeer: boolean; message: string };

const utf8 = new TextEncoder();

export class MigrationSource {
  readonly migrationId: number;
  readonly vm: string;
  private readonly clock: Clock;
  private readonly tuning: Tuning;
  private readonly memory: GuestMemory;
  private readonly sender: ChunkSender;
  /** Memory units per DATA datagram (one page at most). */
  private readonly unitsPerChunk: number;
  private phaseNow: SourcePhase = 'new';
  private startedAtMs = 0;
  private lastHeardMs = 0;
  private lastPollMs = 0;
  private openSeq = -1;
  private switchoverDatagram: Buffer | undefined;
  // pass bookkeeping
  private pass = 0;
  private passStartMs = 0;
  private passPages = 0;
  private passAckedBytes = 0;
  private readonly passes: PassReport[] = [];
  private converged: boolean | undefined;
  /** Page being sent and the next unit in it (-1: take the next page of the pass). */
  private page = -1;
  private unit = 0;
  // stun and after
  private stunAtMs: number | undefined;
  private state: Buffer | undefined;
  private stateSent = 0;
  private finalCopyBytes = 0;
  /** Why the switchover is failing, while a lock release is still under way. */
  private failing: { reason: number; message: string } | undefined;
  private failure: { reason: number; message: string } | undefined;

  constructor(opts: SourceOptions) {
    if (!(Number.isInteger(opts.migrationId) && opts.migrationId >= 0 && opts.migrationId <= 0xffffffff)) {
      throw new VmotionError('VFAB_VMOTION_BAD_CONFIG', `migration id ${opts.migrationId} is not a u32`, { field: 'migrationId' });
    }
    const nameBytes = Buffer.byteLength(opts.vm ?? '', 'utf8');
    if (nameBytes < 1 || nameBytes > VMOTION_MAX_VM_NAME_BYTES) {
      throw new VmotionError('VFAB_VMOTION_BAD_CONFIG', `VM name of ${nameBytes} bytes is not 1..${VMOTION_MAX_VM_NAME_BYTES}`, { field: 'vm' });
    }
    this.migrationId = opts.migrationId;
    this.vm = opts.vm;
    this.clock = opts.clock;
    this.tuning = resolveTuning(opts.tuning);
    const now = this.clock.nowMs();
    this.memory = new GuestMemory(opts.memory, now);
    this.sender = new ChunkSender(this.tuning.windowChunks, this.tuning.rtoMs, now);
    this.unitsPerChunk = Math.min(VMOTION_PAGE_BYTES / VMOTION_UNIT_BYTES, Math.floor((this.tuning.maxDatagramBytes - DATA_PAYLOAD_OFFSET) / VMOTION_UNIT_BYTES));
  }

  get phase(): SourcePhase {
    return this.phaseNow;
  }
  /** Dirty memory now, bytes (what a stun now would leave for the final copy). */
  get dirtyBytes(): number {
    return this.memory.dirtyBytes;
  }
  get transferCounters(): SourceResult['transfer'] {
    return { ...this.sender.counters };
  }

  // ---------------------------------------------------------------- inputs

  start(): SourceAction[] {
    if (this.phaseNow !== 'new') return [];
    const now = this.clock.nowMs();
    this.startedAtMs = now;
    this.lastHeardMs = now;
    const out: SourceAction[] = [];
    this.phaseNow = 'opening';
    this.openSeq = this.sender.nextSequence;
    this.send(out, buildVmotion({ type: 'open', migrationId: this.migrationId, seq: this.openSeq, memoryBytes: this.memory.pages * VMOTION_PAGE_BYTES, pageBytes: VMOTION_PAGE_BYTES, vm: this.vm }), 0, now);
    this.event(out, 'vmotion-start', `vMotion of ${this.vm} started: ${this.memory.pages * VMOTION_PAGE_BYTES} bytes of memory`, {
      memoryBytes: this.memory.pages * VMOTION_PAGE_BYTES, ...this.tuning,
    });
    return out;
  }

  /** A datagram from the destination. Malformed or foreign ones are ignored (never thrown). */
  receive(datagram: Uint8Array): SourceAction[] {
    const parsed = parseVmotion(datagram);
    if (!parsed.ok || parsed.value.type !== 'ack' || parsed.value.migrationId !== this.migrationId) return [];
    if (this.phaseNow === 'new' || this.phaseNow === 'done') return [];
    const ack = parsed.value;
    const now = this.clock.nowMs();
    this.memory.advance(now);
    this.lastHeardMs = now;
    const out: SourceAction[] = [];
    const got = this.sender.onAck(ack.seq, ack.sack, ack.window, now);
    for (const d of got.resend) out.push({ kind: 'send', datagram: d });
    if (this.phaseNow === 'precopy') this.passAckedBytes += got.dataBytes;
    if (ack.status === DestStatus.FAILED) {
      const why = `destination gave up: ${reasonCode(ack.reason)}`;
      if (this.stunAtMs === undefined) this.abort(out, ack.reason === VmotionReason.NONE ? VmotionReason.REFUSED : ack.reason, why, false);
      else this.failSwitchover(out, ack.reason, why);
      return out;
    }
    if (ack.status === DestStatus.RESUMED) {
      if (this.phaseNow === 'switchover') {
        const at = ack.resumedAtMs >= (this.stunAtMs ?? 0) && ack.resumedAtMs <= now ? ack.resumedAtMs : now;
        this.complete(out, at, 'the destination resumed the VM');
      }
      return out;
    }
    if (this.phaseNow === 'opening' && this.sender.idle) this.beginPass(out, now);
    this.pump(out, now);
    return out;
  }

  /** Retransmissions, pass ends, loss of the vMotion network, the switchover timeout. Call at nextDeadlineMs(). */
  tick(): SourceAction[] {
    if (this.phaseNow === 'new' || this.phaseNow === 'done') return [];
    const now = this.clock.nowMs();
    this.memory.advance(now);
    const out: SourceAction[] = [];
    if (this.stunAtMs !== undefined && now >= this.stunAtMs + this.tuning.switchoverTimeoutMs && this.phaseNow !== 'reacquiring-locks' && this.failing === undefined) {
      this.failSwitchover(out, VmotionReason.SWITCHOVER_TIMEOUT, `switchover not finished ${this.tuning.switchoverTimeoutMs} ms after the stun`);
      return out;
    }
    if (this.networkLost(now)) {
      const why = `no acknowledgement from the destination for ${this.tuning.networkTimeoutMs} ms`;
      if (this.stunAtMs === undefined) this.abort(out, VmotionReason.NETWORK_LOST, why, true);
      else this.failSwitchover(out, VmotionReason.NETWORK_LOST, why);
      return out;
    }
    for (const d of this.sender.due(now)) out.push({ kind: 'send', datagram: d });
    // Waiting for the destination to take the locks: ask for its status every retransmission timeout.
    if (this.phaseNow === 'switchover' && this.sender.idle && this.switchoverDatagram !== undefined && now >= this.lastPollMs + this.tuning.rtoMs) {
      this.lastPollMs = now;
      out.push({ kind: 'send', datagram: this.switchoverDatagram });
    }
    this.pump(out, now);
    return out;
  }

  /** The VM is stopped; `state` is its device state (e.g. { endpoint: VmEndpoint.snapshot(), extra }), JSON-serialisable. */
  stunned(state: unknown): SourceAction[] {
    if (this.phaseNow !== 'stunning') return [];
    const now = this.clock.nowMs();
    const out: SourceAction[] = [];
    let bytes: Buffer;
    try {
      bytes = Buffer.from(utf8.encode(JSON.stringify(state ?? null)));
    } catch (e) {
      this.failSwitchover(out, VmotionReason.BAD_STATE, `device state is not serialisable: ${(e as Error).message}`);
      return out;
    }
    if (bytes.length > VMOTION_MAX_STATE_BYTES) {
      this.failSwitchover(out, VmotionReason.BAD_STATE, `device state of ${bytes.length} bytes exceeds ${VMOTION_MAX_STATE_BYTES}`);
      return out;
    }
    this.state = bytes;
    this.phaseNow = 'final-copy';
    this.pass++;
    this.passStartMs = now;
    this.passPages = this.memory.beginPass();
    this.finalCopyBytes = this.passPages * VMOTION_PAGE_BYTES;
    this.event(out, 'vmotion-final-copy', `final copy: ${this.finalCopyBytes} bytes of memory and ${bytes.length} bytes of device state`, {
      pass: this.pass, memoryBytes: this.finalCopyBytes, stateBytes: bytes.length,
    });
    this.pump(out, now);
    return out;
  }

  /** The daemon closed (ok) or failed to close the VM's files. */
  locksReleased(result: LockResult = { ok: true }): SourceAction[] {
    if (this.phaseNow !== 'releasing-locks') return [];
    const now = this.clock.nowMs();
    const out: SourceAction[] = [];
    if (this.failing !== undefined || !result.ok) {
      const f = this.failing ?? { reason: VmotionReason.LOCK_FAILED, message: `releasing the locks failed: ${result.ok ? '' : result.message}` };
      this.failing = undefined;
      this.reacquire(out, f.reason, f.message);
      return out;
    }
    this.event(out, 'vmotion-locks-released', `${this.vm}'s files unlocked on the source`, {});
    this.phaseNow = 'switchover';
    const stateBytes = this.state?.length ?? 0;
    this.switchoverDatagram = buildVmotion({
      type: 'switchover', migrationId: this.migrationId, seq: this.sender.nextSequence, stunAtMs: this.stunAtMs ?? now, stateBytes, pages: this.memory.pages,
    });
    this.lastPollMs = now;
    this.send(out, this.switchoverDatagram, 0, now);
    this.event(out, 'vmotion-switchover', 'switchover: the destination may take the locks and resume', { sinceStunMs: now - (this.stunAtMs ?? now) });
    return out;
  }

  /** The daemon tried to open the VM's files again after a failed switchover. */
  locksReacquired(result: ReacquireResult): SourceAction[] {
    if (this.phaseNow !== 'reacquiring-locks') return [];
    const now = this.clock.nowMs();
    const out: SourceAction[] = [];
    const f = this.failure ?? { reason: VmotionReason.NONE, message: 'switchover failed' };
    if (result.ok) {
      this.resumeHere(out, now, f.reason, f.message);
    } else if (result.heldByPeer) {
      this.complete(out, now, `the destination holds the VM's locks (${result.message}): it runs there`);
    } else {
      this.finish(out, 'failed', 'VFAB_VMOTION_LOCK_FAILED', `${f.message}; and the source cannot take the locks back: ${result.message}`, now);
    }
    return out;
  }

  /** Stops the migration at the user's request (aborted before the stun, resumed on the source after). */
  cancel(): SourceAction[] {
    const out: SourceAction[] = [];
    if (this.phaseNow === 'new' || this.phaseNow === 'done' || this.phaseNow === 'reacquiring-locks') return out;
    if (this.stunAtMs === undefined) this.abort(out, VmotionReason.CANCELLED, 'cancelled', true);
    else this.failSwitchover(out, VmotionReason.CANCELLED, 'cancelled');
    return out;
  }

  /** When tick() next has work (retransmission, network or switchover timeout, status poll). */
  nextDeadlineMs(): number | undefined {
    if (this.phaseNow === 'new' || this.phaseNow === 'done') return undefined;
    const ds: number[] = [];
    const rtx = this.sender.nextDeadlineMs();
    if (rtx !== undefined) ds.push(rtx, this.sender.lastProgressMs + this.tuning.networkTimeoutMs);
    if (this.stunAtMs !== undefined && this.phaseNow !== 'reacquiring-locks' && this.failing === undefined) ds.push(this.stunAtMs + this.tuning.switchoverTimeoutMs);
    if (this.phaseNow === 'switchover' && this.sender.idle) ds.push(this.lastPollMs + this.tuning.rtoMs, this.lastHeardMs + this.tuning.networkTimeoutMs);
    return ds.length === 0 ? undefined : Math.min(...ds);
  }

  // ---------------------------------------------------------------- decisions

  private networkLost(now: number): boolean {
    if (!this.sender.idle) return now - this.sender.lastProgressMs >= this.tuning.networkTimeoutMs;
    return this.phaseNow === 'switchover' && now - this.lastHeardMs >= this.tuning.networkTimeoutMs;
  }

  private beginPass(out: SourceAction[], now: number): void {
    this.phaseNow = 'precopy';
    this.pass++;
    this.passStartMs = now;
    this.passAckedBytes = 0;
    this.passPages = this.memory.beginPass();
    this.page = -1;
  }

  /** Fills the window with the next datagrams; ends passes and phases whose data is all acknowledged. */
  private pump(out: SourceAction[], now: number): void {
    for (;;) {
      if (this.phaseNow === 'precopy' || this.phaseNow === 'final-copy') {
        while (this.sender.canSend() && this.sendNextChunk(out, now));
        if (!this.sender.idle || this.page !== -1 || this.memory.passPagesLeft > 0) return;
        if (this.phaseNow === 'final-copy') {
          if (this.state !== undefined && this.stateSent < this.state.length) return;
          this.phaseNow = 'releasing-locks';
          out.push({ kind: 'releaseLocks' });
          return;
        }
        if (!this.endPass(out, now)) continue; // another pass
        return;
      }
      return;
    }
  }

  /** Sends one DATA datagram (memory, then in the final copy the state); false when nothing is left. */
  private sendNextChunk(out: SourceAction[], now: number): boolean {
    if (this.page === -1) {
      this.page = this.memory.nextPassPage();
      this.unit = 0;
    }
    const seq = this.sender.nextSequence;
    if (this.page !== -1) {
      const unitsInPage = VMOTION_PAGE_BYTES / VMOTION_UNIT_BYTES;
      const units = Math.min(this.unitsPerChunk, unitsInPage - this.unit);
      const data = Buffer.alloc(units * VMOTION_UNIT_BYTES, this.page & 0xff);
      const offset = this.unit * VMOTION_UNIT_BYTES;
      this.send(out, buildVmotion({ type: 'data', migrationId: this.migrationId, seq, region: 'memory', pass: Math.min(this.pass, 0xff), page: this.page, offset, total: 0, data }), data.length, now);
      this.unit += units;
      if (this.unit >= unitsInPage) this.page = -1;
      return true;
    }
    if (this.phaseNow === 'final-copy' && this.state !== undefined && this.stateSent < this.state.length) {
      const len = Math.min(this.unitsPerChunk * VMOTION_UNIT_BYTES, this.state.length - this.stateSent);
      const data = this.state.subarray(this.stateSent, this.stateSent + len);
      this.send(out, buildVmotion({ type: 'data', migrationId: this.migrationId, seq, region: 'state', pass: Math.min(this.pass, 0xff), page: 0, offset: this.stateSent, total: this.state.length, data }), len, now);
      this.stateSent += len;
      return true;
    }
    return false;
  }

  /** A pre-copy pass is acknowledged: report it and decide. True = stun now, false = another pass begun. */
  private endPass(out: SourceAction[], now: number): boolean {
    const ms = now - this.passStartMs;
    const bytes = this.passPages * VMOTION_PAGE_BYTES;
    const bytesPerMs = ms > 0 ? this.passAckedBytes / ms : Infinity;
    const dirty = this.memory.dirtyBytes;
    const estimateMs = dirty === 0 ? 0 : dirty / bytesPerMs;
    const report: PassReport = {
      pass: this.pass, pages: this.passPages, bytes, ms, bandwidthBytesPerSec: Number.isFinite(bytesPerMs) ? Math.round(bytesPerMs * 1000) : 0, dirtyBytesAfter: dirty,
    };
    this.passes.push(report);
    const fits = estimateMs <= this.tuning.switchoverBudgetMs;
    this.event(out, 'vmotion-pass', `pre-copy pass ${this.pass}: ${bytes} bytes in ${ms} ms, ${dirty} bytes dirty (about ${Math.round(estimateMs)} ms to copy)`, {
      ...report, estimatedSwitchoverMs: estimateMs, budgetMs: this.tuning.switchoverBudgetMs,
    });
    if (fits || this.pass >= this.tuning.maxPasses) {
      this.converged = fits;
      this.stun(out, now);
      return true;
    }
    this.beginPass(out, now);
    return false;
  }

  private stun(out: SourceAction[], now: number): void {
    this.phaseNow = 'stunning';
    this.stunAtMs = now;
    this.memory.stop(now);
    this.page = -1;
    const why = this.converged ? 'the dirty memory fits the switchover budget' : `pass limit ${this.tuning.maxPasses} reached without converging`;
    this.event(out, 'vmotion-stun', `stun after ${this.pass} passes: ${why}`, { passes: this.pass, converged: this.converged, dirtyBytes: this.memory.dirtyBytes });
    out.push({ kind: 'stun' });
  }

  /** Before the stun: the VM never stopped; tell the destination and end. */
  private abort(out: SourceAction[], reason: number, message: string, tellPeer: boolean): void {
    const now = this.clock.nowMs();
    if (tellPeer) this.sendAbort(out, reason);
    this.finish(out, 'aborted', reasonCode(reason), message, now);
  }

  /** After the stun: the VM must run on the source again, once it holds its locks. */
  private failSwitchover(out: SourceAction[], reason: number, message: string): void {
    if (this.phaseNow === 'reacquiring-locks' || this.phaseNow === 'done' || this.failing !== undefined) return;
    const now = this.clock.nowMs();
    this.event(out, 'vmotion-switchover-failed', `switchover failed: ${message}`, { code: reasonCode(reason), sinceStunMs: now - (this.stunAtMs ?? now) });
    this.sendAbort(out, reason);
    if (this.phaseNow === 'releasing-locks') {
      this.failing = { reason, message }; // decided when the release reports back
      return;
    }
    if (this.phaseNow === 'switchover') {
      this.reacquire(out, reason, message);
      return;
    }
    this.resumeHere(out, now, reason, message); // the locks were never given up
  }

  private reacquire(out: SourceAction[], reason: number, message: string): void {
    this.failure = { reason, message };
    this.phaseNow = 'reacquiring-locks';
    out.push({ kind: 'reacquireLocks' });
  }

  private resumeHere(out: SourceAction[], now: number, reason: number, message: string): void {
    this.memory.resume(now);
    out.push({ kind: 'resume' });
    this.event(out, 'vmotion-resumed-on-source', `${this.vm} resumed on the source after ${now - (this.stunAtMs ?? now)} ms stunned: ${message}`, {
      code: reasonCode(reason), downtimeMs: now - (this.stunAtMs ?? now),
    });
    this.finish(out, 'resumed-on-source', reasonCode(reason), message, now, now);
  }

  private complete(out: SourceAction[], resumedAtMs: number, message: string): void {
    const now = this.clock.nowMs();
    out.push({ kind: 'forget' });
    this.event(out, 'vmotion-completed', `${this.vm} runs on the destination; downtime ${(resumedAtMs - (this.stunAtMs ?? resumedAtMs)).toFixed(1)} ms`, {
      downtimeMs: resumedAtMs - (this.stunAtMs ?? resumedAtMs), passes: this.passes.length,
    });
    this.finish(out, 'migrated', undefined, message, now, resumedAtMs);
  }

  private finish(out: SourceAction[], outcome: SourceOutcome, code: string | undefined, message: string, now: number, resumedAtMs?: number): void {
    if (outcome === 'aborted' || outcome === 'failed') {
      this.event(out, outcome === 'aborted' ? 'vmotion-aborted' : 'vmotion-failed', `vMotion of ${this.vm} ${outcome}: ${message}`, { code });
    }
    this.phaseNow = 'done';
    const precopyMs = this.passes.reduce((t, p) => t + p.ms, 0);
    const result: SourceResult = {
      migrationId: this.migrationId, vm: this.vm, outcome, ...(code !== undefined ? { code } : {}), message,
      startedAtMs: this.startedAtMs, endedAtMs: now, passes: [...this.passes], precopyMs,
      ...(this.converged !== undefined ? { converged: this.converged } : {}),
      ...(this.stunAtMs !== undefined ? { stunAtMs: this.stunAtMs } : {}),
      ...(resumedAtMs !== undefined ? { resumedAtMs } : {}),
      ...(resumedAtMs !== undefined && this.stunAtMs !== undefined ? { downtimeMs: resumedAtMs - this.stunAtMs } : {}),
      finalCopyBytes: this.finalCopyBytes, stateBytes: this.state?.length ?? 0, transfer: { ...this.sender.counters },
    };
    out.push({ kind: 'done', result });
  }

  // ---------------------------------------------------------------- output helpers

  private send(out: SourceAction[], datagram: Buffer, dataBytes: number, now: number): void {
    out.push({ kind: 'send', datagram: this.sender.send(datagram, dataBytes, now) });
  }

  private sendAbort(out: SourceAction[], reason: number): void {
    this.sender.cancelAll(); // nothing more of this migration goes out
    out.push({ kind: 'send', datagram: buildVmotion({ type: 'abort', migrationId: this.migrationId, seq: 0, reason }) });
  }

  private event(out: SourceAction[], type: VmotionEventType, message: string, details: Record<string, unknown>): void {
    out.push({ kind: 'event', event: { type, atMs: this.clock.nowMs(), side: 'source', vm: this.vm, migrationId: this.migrationId, message, details } });
  }
}
