// vMotion on a host daemon (docs/vmotion.md "In a fabric"): carries out what the pure core (lib/vmotion/)
// decides, on both sides. The source runner stuns the VM (its vNICs leave their ports, its stack keeps its
// state), hands the core the endpoint snapshot and the VM's measured stream receivers, releases or takes
// back the VM's datastore file locks (the power-on lock code, daemons/datastore/), resumes or forgets the
// VM. The destination runner registers the VM (its definition comes with the prepare call, from the
// source's topology), takes the locks, connects the VM with the restored endpoint (its ports notify the
// physical switches when the port group's teaming has notify on: the same RARP path as a power-on) and
// restores the stream receivers. Every datagram is a real UDP frame from one host's vMotion vmkernel port
// to the other's (port VMOTION_UDP_PORT), through vSwitches, uplinks and physical switches; timers follow
// the cores' nextDeadlineMs on the fabric clock. Hosts talk to each other over the control API: the
// source asks the destination for its facts (pre-checks) and to prepare; the CLI passes the destination's
// control port (hostd has no list of its peers).
// Routes: POST /control/vms/:vm/migrate {to, toPort}, GET /control/vmotion/:id, GET /control/vmotion/facts,
// POST /control/vmotion/prepare. Leaves out cancelling from the CLI, several vMotion vmks per host, NAS
// datastore lock hand-over, disks carved straight from a LUN (only datastore disks move), and storage vMotion.

import { randomInt } from 'node:crypto';
import { VfabError } from '../../lib/errors.js';
import type { Clock } from '../../lib/clock.js';
import type { EsxHost } from '../../lib/host/host.js';
import type { Host as HostModel, Vm } from '../../lib/topology/model.js';
import { isRealGuest } from '../../lib/topology/model.js';
import { MAX_VM_NICS, type VmEndpoint } from '../../lib/endpoint/vm-endpoint.js';
import { StreamReceiver } from '../../lib/traffic/stream.js';
import { macToString } from '../../lib/wire/mac.js';
import {
  MigrationDestination, MigrationSource, VMOTION_UDP_PORT, VMOTION_MAX_CONCURRENT_PER_HOST, VMOTION_PAGE_BYTES, VmotionError,
  precheckMigration, vmotionMigrationId, VM_TYPE_OFFSET, type DestinationAction, type PrecheckHost, type SourceAction,
  type SourceResult, type VmotionEvent, type MigrationTuning,
} from '../../lib/vmotion/index.js';
import { control } from '../common/control-client.js';
import type { EventLog } from '../common/events.js';
import { DeadlineTimer } from '../common/deadline-timer.js';

/** Finished migrations a source keeps for GET /control/vmotion/:id (oldest forgotten first). */
export const VMOTION_KEPT_RESULTS = 32;
/** Events kept per migration for its progress (the event log has them all). */
export const VMOTION_KEPT_EVENTS = 256;
/** Wait for a lock a live host holds (fabric ms): the destination takes free locks, the source takes back its own. */
export const VMOTION_LOCK_WAIT_MS = 20_000;
/** Destination phases in which the VM counts as migrating (after them the session only lingers). */
const DEST_ACTIVE = new Set(['waiting', 'receiving', 'acquiring-locks']);
/** Wire type of an ACK (the only message going destination -> source). */
const ACK_TYPE = 5;

/** The datastore side hostd gives (daemons/datastore/host-datastores.ts). */
export interface VmotionDatastores {
  vmotionLocks(vm: string, on: boolean, waitMs: number): Promise<{ ok: true } | { ok: false; locked: boolean; message: string }>;
  adoptVm(vm: Vm | string): void;
  visibleDatastores(): string[];
  homeOf(vm: string): string | undefined;
}

export interface VmotionDeps {
  name: string;
  model: HostModel;
  host: EsxHost;
  clock: Clock;
  timeScale: number;
  token: string;
  events: EventLog;
  datastores: VmotionDatastores;
  /** The disk routes' registry (daemons/host-storage.ts): a VM's datastore disks move with it. */
  storage?: { adoptVmDisks(vm: Vm | string): void };
  /** hostd's stream sinks per VM (GET /control/streams/:vm reports them): they move with the VM. */
  sinks: Map<string, StreamReceiver[]>;
  scheduleTick: () => void;
  /** Tunables for every migration (tests shorten the timeouts). */
  tuning?: MigrationTuning;
  /**
   * The simulated fabric's replacements for this daemon's I/O (daemons/sim/vmotion.ts): a call to the
   * destination host's service instead of its control API, migration ids from a seeded stream instead of
   * crypto, a deadline timer on the virtual clock. Absent in hostd: HTTP, randomInt, DeadlineTimer.
   */
  io?: VmotionIo;
}

export interface VmotionIo {
  peer(to: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown>;
  migrationId(): number;
  timer(next: () => number | undefined, fire: () => void): { schedule(): void };
}

interface SourceRun {
  core: MigrationSource;
  vm: string;
  to: string;
  peerIp: string;
  events: VmotionEvent[];
  result?: SourceResult;
}

interface DestRun {
  core: MigrationDestination;
  vm: Vm;
  peerIp: string;
}

export class VmotionService {
  private readonly sources = new Map<number, SourceRun>();
  private readonly dests = new Map<string, DestRun>();
  /** VMs whose migration is being set up (pre-checks, prepare): a second request for them is refused. */
  private readonly starting = new Set<string>();
  private readonly timer: { schedule(): void };
  /** Datagrams that did not parse as a vMotion message or named no migration here. */
  readonly counters = { unrouted: 0, sendFailed: 0, errors: 0 };

  constructor(private readonly d: VmotionDeps) {
    const next = () => this.nextDeadlineMs();
    const fire = () => this.guard(() => this.tick());
    this.timer = d.io ? d.io.timer(next, fire) : new DeadlineTimer(d.clock, d.timeScale, next, fire);
    const vmk = d.host.vmkernelFor('vmotion');
    vmk?.bindUdp(VMOTION_UDP_PORT, (dg) => this.datagram(dg.srcIp, dg.payload));
  }

  // ------------------------------------------------------------------ control plane

  /** What the pre-checks need to know about this host. */
  facts(): PrecheckHost & { vmotionIp: string | null; mtu: number | null } {
    const vmk = this.d.host.vmkernelFor('vmotion');
    return {
      name: this.d.name,
      datastores: this.d.datastores.visibleDatastores(),
      portGroups: this.d.model.vswitches.flatMap((vs) => vs.portGroups.map((pg) => ({ name: pg.name, vlanId: pg.vlan }))),
      hasVmotionVmk: vmk !== undefined,
      vms: this.runningHere(),
      migrating: this.migrating(),
      vmotionIp: vmk?.ip ?? null,
      mtu: vmk?.mtu ?? null,
    };
  }

  /**
   * VMs registered here that a migration could clash with: all but an HA cluster's powered-off standby
   * copies of other hosts' VMs (daemons/fabric/plan.ts), which an arriving VM replaces.
   */
  private runningHere(): string[] {
    return this.d.host.status().vms.filter((v) => v.poweredOn || this.d.host.vmModel(v.name).haStandby !== true).map((v) => v.name);
  }

  private migrating(): string[] {
    return [...this.starting, ...[...this.sources.values()].filter((s) => s.result === undefined).map((s) => s.vm), ...[...this.dests.values()].filter((r) => DEST_ACTIVE.has(r.core.phase)).map((r) => r.vm.name)];
  }

  /** POST /control/vms/:vm/migrate {to, toPort}: pre-checks, the destination prepares, the copy starts. */
  async migrate(vm: string, body: any): Promise<unknown> {
    const to = body?.to;
    const toPort = body?.toPort;
    if (typeof to !== 'string' || to === '') throw new VfabError('VFAB_VMOTION_BAD_REQUEST', `"to" must name the destination host, got ${JSON.stringify(to)}`);
    if (to !== this.d.name && !(Number.isInteger(toPort) && toPort > 0 && toPort < 65536)) {
      throw new VfabError('VFAB_VMOTION_BAD_REQUEST', `"toPort" must be the destination's control port (1..65535), got ${JSON.stringify(toPort)}`);
    }
    const model = this.d.host.vmModel(vm); // VFAB_NOT_FOUND names the VMs here
    const mine = this.facts();
    if (mine.migrating.includes(vm)) throw new VmotionError('VFAB_VMOTION_IN_PROGRESS', `${vm} is already migrating`, { vm });
    this.starting.add(vm);
    try {
      return await this.start(vm, to, toPort, model, mine);
    } finally {
      this.starting.delete(vm);
    }
  }

  private async start(vm: string, to: string, toPort: number, model: Vm, mine: ReturnType<VmotionService['facts']>): Promise<unknown> {
    const peer = { port: toPort, name: to, kind: 'host' };
    const call = <T>(method: 'GET' | 'POST', route: string, body?: unknown): Promise<T> => (this.d.io ? this.d.io.peer(to, method, route, body) as Promise<T> : control<T>(peer, this.d.token, method, route, body));
    const theirs = to === this.d.name ? mine : await call<ReturnType<VmotionService['facts']>>('GET', '/control/vmotion/facts');
    const vlanOf = (pg: string) => mine.portGroups.find((g) => g.name === pg)?.vlanId ?? -1;
    const home = this.d.datastores.homeOf(vm);
    const memory = memoryOf(model);
    const refusals = model.external || isRealGuest(model)
      ? [new VmotionError('VFAB_VMOTION_EXTERNAL', model.external ? `${vm} runs in its own process (external: true): vfab migrates host-run VMs only` : `${vm} is a ${model.kind} guest: vfab migrates VMs with its own stack only`, { vm })]
      : precheckMigration({
        vm: {
          name: vm, poweredOn: this.d.host.isPoweredOn(vm) || this.d.host.isStunned(vm), datastores: home === undefined ? [] : [home],
          nics: model.nics.map((n) => ({ name: n.name, portGroup: n.portGroup, vlanId: vlanOf(n.portGroup) })), memory,
        },
        source: mine,
        destination: theirs,
      });
    if (refusals.length > 0) {
      const first = refusals[0]!;
      throw new VmotionError(first.code, refusals.map((r) => r.message).join('; '), { refusals: refusals.map((r) => ({ code: r.code, message: r.message })) });
    }
    if (this.sources.size >= VMOTION_KEPT_RESULTS) this.dropOldest();
    const vmk = this.d.host.vmkernelFor('vmotion')!;
    const newId = () => (this.d.io ? this.d.io.migrationId() : randomInt(1, 0xffffffff));
    let migrationId = newId();
    while (this.sources.has(migrationId)) migrationId = newId();
    const tuning = { ...this.d.tuning, maxDatagramBytes: Math.min(vmk.mtu, theirs.mtu ?? vmk.mtu) - 28 };
    await call('POST', '/control/vmotion/prepare', { migrationId, vm: model, sourceIp: vmk.ip, tuning });
    const core = new MigrationSource({ migrationId, vm, memory, clock: this.d.clock, tuning });
    const run: SourceRun = { core, vm, to, peerIp: theirs.vmotionIp!, events: [] };
    this.sources.set(migrationId, run);
    this.actSource(run, core.start());
    return { migrationId, vm, from: this.d.name, to, memoryBytes: memory.memoryBytes, dirtyBytesPerSec: memory.dirtyBytesPerSec };
  }

  /** POST /control/vmotion/prepare (from the source's hostd): expect the VM, register it for its locks. */
  prepare(body: any): unknown {
    const migrationId = body?.migrationId;
    const sourceIp = body?.sourceIp;
    const vm = body?.vm as Vm | undefined;
    if (!Number.isInteger(migrationId) || migrationId < 0 || migrationId > 0xffffffff || typeof sourceIp !== 'string' || typeof vm?.name !== 'string'
      || !Array.isArray(vm.nics) || vm.nics.length > MAX_VM_NICS || !Array.isArray(vm.disks)) {
      throw new VfabError('VFAB_VMOTION_BAD_REQUEST', 'prepare needs {migrationId (u32), sourceIp, vm: {name, nics (at most 10), disks}}');
    }
    // the vNICs land on this host's port groups (their vSwitch is the one here that holds the port group)
    const nics = vm.nics.map((n) => {
      const vs = this.d.model.vswitches.find((x) => x.portGroups.some((pg) => pg.name === n?.portGroup));
      if (vs === undefined) throw new VmotionError('VFAB_VMOTION_NO_PORT_GROUP', `${this.d.name} has no port group ${String(n?.portGroup)} for ${vm.name}.${String(n?.name)}`);
      return { ...n, vswitch: vs.name };
    });
    if (this.migrating().length >= VMOTION_MAX_CONCURRENT_PER_HOST) throw new VmotionError('VFAB_VMOTION_TOO_MANY', `${this.d.name} already runs ${VMOTION_MAX_CONCURRENT_PER_HOST} migrations`);
    if (this.runningHere().includes(vm.name)) throw new VmotionError('VFAB_VMOTION_NAME_TAKEN', `${this.d.name} already has a VM named ${vm.name}`);
    const notifies = new Map(vm.nics.map((n) => [n.name, this.portGroupNotifies(n.portGroup)]));
    const core = new MigrationDestination({ migrationId, clock: this.d.clock, expectVm: vm.name, tuning: body?.tuning ?? {}, notify: (nic) => notifies.get(nic) ?? false });
    const local: Vm = { ...vm, nics, host: this.d.name };
    this.dests.set(`${sourceIp}/${migrationId}`, { core, vm: local, peerIp: sourceIp });
    this.d.datastores.adoptVm(local);
    this.timer.schedule();
    return { migrationId, vm: vm.name, host: this.d.name };
  }

  private portGroupNotifies(pg: string): boolean {
    for (const vs of this.d.model.vswitches) {
      const g = vs.portGroups.find((x) => x.name === pg);
      if (g) return g.teaming.notifySwitches;
    }
    return false;
  }

  /** GET /control/vmotion/:id: the migration's phase, its events so far and its result once done. */
  progress(id: number): unknown {
    const run = this.sources.get(id);
    if (run === undefined) throw new VfabError('VFAB_VMOTION_NOT_FOUND', `no migration ${id} on ${this.d.name}`);
    return { migrationId: id, vm: run.vm, from: this.d.name, to: run.to, phase: run.core.phase, dirtyBytes: run.core.dirtyBytes, transfer: run.core.transferCounters, events: run.events, result: run.result ?? null };
  }

  private dropOldest(): void {
    for (const [id, r] of this.sources) {
      if (r.result !== undefined) {
        this.sources.delete(id);
        return;
      }
    }
  }

  // ------------------------------------------------------------------ data plane

  private datagram(srcIp: string, payload: Buffer): void {
    this.guard(() => this.route(srcIp, payload));
  }

  /**
   * Runs data-plane work (a datagram, a timer) so that nothing it meets can end the process: a failure
   * (e.g. the VM was powered off under the migration) is counted and logged as an event.
   */
  private guard(work: () => void): void {
    try {
      work();
    } catch (e) {
      this.counters.errors++;
      this.d.events.add('vmotion-error', { message: (e as Error).message, code: (e as VfabError).code ?? null });
    }
  }

  private route(srcIp: string, payload: Buffer): void {
    if (payload.length < 16) {
      this.counters.unrouted++;
      return;
    }
    const id = vmotionMigrationId(payload);
    if (payload[VM_TYPE_OFFSET] === ACK_TYPE) {
      const run = this.sources.get(id);
      if (run === undefined || run.result !== undefined || run.peerIp !== srcIp) this.counters.unrouted++;
      else this.actSource(run, run.core.receive(payload));
    } else {
      const key = `${srcIp}/${id}`;
      const run = this.dests.get(key);
      if (run === undefined) this.counters.unrouted++;
      else this.actDest(key, run, run.core.receive(payload));
    }
    this.timer.schedule();
  }

  private send(peerIp: string, datagram: Buffer): void {
    const r = this.d.host.vmkernelFor('vmotion')?.sendUdp(peerIp, VMOTION_UDP_PORT, datagram);
    if (r !== undefined && !r.ok) this.counters.sendFailed++; // lost like any datagram: the core resends
  }

  private nextDeadlineMs(): number | undefined {
    let next: number | undefined;
    const take = (x: number | undefined) => {
      if (x !== undefined && (next === undefined || x < next)) next = x;
    };
    for (const r of this.sources.values()) if (r.result === undefined) take(r.core.nextDeadlineMs());
    for (const r of this.dests.values()) take(r.core.nextDeadlineMs());
    return next;
  }

  private tick(): void {
    const now = this.d.clock.nowMs();
    for (const r of [...this.sources.values()]) {
      const due = r.core.nextDeadlineMs();
      if (r.result === undefined && due !== undefined && due <= now) this.actSource(r, r.core.tick());
    }
    for (const [key, r] of [...this.dests]) {
      const due = r.core.nextDeadlineMs();
      if (due !== undefined && due <= now) this.actDest(key, r, r.core.tick());
    }
  }

  private event(e: VmotionEvent): void {
    const { type, atMs: _at, details, ...rest } = e;
    this.d.events.add(type, { ...rest, ...details, ...(typeof details.mac === 'number' ? { mac: macToString(details.mac) } : {}) });
  }

  // ------------------------------------------------------------------ source actions

  private actSource(run: SourceRun, actions: SourceAction[]): void {
    for (const a of actions) {
      switch (a.kind) {
        case 'send':
          this.send(run.peerIp, a.datagram);
          break;
        case 'event':
          if (run.events.length < VMOTION_KEPT_EVENTS) run.events.push(a.event);
          this.event(a.event);
          break;
        case 'stun': {
          this.d.host.stunVm(run.vm);
          const sinks = this.d.host.streamSinks(run.vm).flatMap((s) => {
            const snap = s.receiver.snapshot();
            return snap.ok ? [{ udpPort: s.udpPort, snapshot: snap.value }] : [];
          });
          this.actSource(run, run.core.stunned({ endpoint: this.d.host.endpoint(run.vm).snapshot(), extra: { sinks } }));
          break;
        }
        case 'releaseLocks':
          void this.d.datastores.vmotionLocks(run.vm, false, 0).then((r) => this.guard(() => {
            this.actSource(run, run.core.locksReleased(r.ok ? { ok: true } : { ok: false, message: r.message }));
          }));
          break;
        case 'reacquireLocks':
          void this.d.datastores.vmotionLocks(run.vm, true, VMOTION_LOCK_WAIT_MS).then((r) => this.guard(() => {
            this.actSource(run, run.core.locksReacquired(r.ok ? { ok: true } : { ok: false, heldByPeer: r.locked, message: r.message }));
          }));
          break;
        case 'resume':
          this.d.host.resumeVm(run.vm);
          this.d.scheduleTick();
          break;
        case 'forget':
          this.d.host.forgetVm(run.vm);
          this.d.datastores.adoptVm(run.vm);
          this.d.storage?.adoptVmDisks(run.vm);
          this.d.sinks.delete(run.vm);
          break;
        case 'done':
          run.result = a.result;
          break;
      }
    }
    this.d.scheduleTick();
    this.timer.schedule();
  }

  // ------------------------------------------------------------------ destination actions

  private actDest(key: string, run: DestRun, actions: DestinationAction[]): void {
    for (const a of actions) {
      switch (a.kind) {
        case 'send':
          this.send(run.peerIp, a.datagram);
          break;
        case 'event':
          this.event(a.event);
          break;
        case 'acquireLocks':
          void this.d.datastores.vmotionLocks(run.vm.name, true, VMOTION_LOCK_WAIT_MS).then((r) => this.guard(() => {
            this.actDest(key, run, run.core.locksAcquired(r.ok ? { ok: true } : { ok: false, message: r.message }));
          }));
          break;
        case 'resume':
          this.resumeHere(run.vm, a.endpoint, a.extra);
          break;
        case 'notify':
          // the RARPs went out as the VM's ports connected (teaming's notify path, as at power-on)
          break;
        case 'discard':
          this.d.datastores.adoptVm(run.vm.name);
          break;
        case 'close':
          this.dests.delete(key);
          break;
        case 'done':
          if (a.result.outcome !== 'resumed') this.d.datastores.adoptVm(run.vm.name);
          break;
      }
    }
    this.d.scheduleTick();
    this.timer.schedule();
  }

  /** The VM runs here now: its ports connect (notify RARPs), its measured streams keep counting. */
  private resumeHere(vm: Vm, endpoint: VmEndpoint, extra: unknown): void {
    // an HA standby copy of it (powered off) gives way; a running one makes addMigratedVm refuse
    if (!this.runningHere().includes(vm.name)) this.d.host.forgetVm(vm.name);
    this.d.host.addMigratedVm(vm, endpoint);
    this.d.storage?.adoptVmDisks(vm);
    const restored: StreamReceiver[] = [];
    const sinks = (extra as { sinks?: unknown } | null)?.sinks;
    if (Array.isArray(sinks)) {
      for (const s of sinks.slice(0, 64)) {
        const r = StreamReceiver.restore((s as { snapshot?: unknown })?.snapshot);
        const udpPort = (s as { udpPort?: unknown })?.udpPort;
        if (!r.ok || !Number.isInteger(udpPort)) continue;
        try {
          this.d.host.adoptStreamSink(vm.name, r.value, udpPort as number);
          restored.push(r.value);
        } catch {
          break; // the host measures its most streams already
        }
      }
    }
    if (restored.length > 0) this.d.sinks.set(vm.name, restored);
  }
}

/** The VM's memory model from its topology entry (vms[].memoryMB, vms[].dirtyRateMBps). */
export function memoryOf(vm: Vm): { memoryBytes: number; dirtyBytesPerSec: number } {
  const memoryBytes = Math.floor((vm.memoryMB * 1024 * 1024) / VMOTION_PAGE_BYTES) * VMOTION_PAGE_BYTES;
  return { memoryBytes, dirtyBytesPerSec: Math.round(vm.dirtyRateMBps * 1024 * 1024) };
}
