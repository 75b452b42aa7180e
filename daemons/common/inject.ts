// POST /control/inject {point, frames: [hex...], intervalsMs?} and GET /control/inject: crafted frames
// put on the wire at one of the daemon's points, shared by hostd (an uplink, as if received from the
// physical side; a VM's vNIC, as its guest sending), switchd (a port, as if received on it) and vmd (its
// VM's vNIC). Each daemon says what its points are (InjectTargets); this file checks the body against
// the bounds of lib/traffic/crafted.ts, paces the frames on the wall clock (intervals are wall ms, like a
// capture file's gaps), counts them per point and logs one `frames-injected` event per request. Leaves
// out what the frames then do (the vSwitch or switch decides; a drop shows in its drop counters).

import { VfabError } from '../../lib/errors.js';
import { checkInjectBody } from '../../lib/traffic/crafted.js';
import type { ControlServer } from './server.js';
import type { EventLog } from './events.js';
import type { GuestOps } from './vm-control.js';

/** Requests one daemon paces at once; more are refused (VFAB_INJECT_BUSY) rather than queued. */
export const MAX_RUNNING_INJECTIONS = 8;

export interface InjectTargets {
  /**
   * The function that takes one frame in at `point` (the daemon's own naming: "esx1.vmnic0", "web1.nic0",
   * "sw1.Gi1/0/1"); throws VFAB_NOT_FOUND naming the points the daemon has.
   */
  resolve(point: string): (frame: Buffer) => void;
  /** Runs after each batch of frames (hostd re-arms its guest timers). */
  afterBatch?(): void;
}

export interface InjectCounters {
  requests: number;
  frames: number;
  bytes: number;
}

/** Registers POST /control/inject and GET /control/inject (counters per point) on `server`. */
export function registerInjectRoutes(server: ControlServer, targets: InjectTargets, events: EventLog): ControlServer {
  // keyed by points resolve() accepted: bounded by the daemon's own points
  const counters = new Map<string, InjectCounters>();
  let running = 0;
  return server
    .on('GET', '/control/inject', () => ({ points: Object.fromEntries(counters) }))
    .on('POST', '/control/inject', async (req) => {
      const { point, frames, intervalsMs } = checkInjectBody(req.body);
      const take = targets.resolve(point);
      if (running >= MAX_RUNNING_INJECTIONS) throw new VfabError('VFAB_INJECT_BUSY', `this daemon already paces ${MAX_RUNNING_INJECTIONS} injections; try again when one ends`);
      running++;
      const c = counters.get(point) ?? { requests: 0, frames: 0, bytes: 0 };
      counters.set(point, c);
      c.requests++;
      let sent = 0;
      let bytes = 0;
      const send = (frame: Buffer) => {
        take(frame);
        sent++;
        bytes += frame.length;
        c.frames++;
        c.bytes += frame.length;
      };
      try {
        if (intervalsMs === undefined || intervalsMs.every((v) => v === 0)) {
          for (const f of frames) send(f);
          targets.afterBatch?.();
        } else {
          // every frame that is due goes out in one batch, then a timer until the next one is due
          const start = performance.now();
          let dueMs = 0;
          for (let i = 0; i < frames.length; ) {
            dueMs += intervalsMs[i]!;
            const waitMs = start + dueMs - performance.now();
            if (waitMs >= 1) await new Promise((r) => setTimeout(r, waitMs));
            send(frames[i++]!);
            while (i < frames.length && start + dueMs + intervalsMs[i]! <= performance.now()) {
              dueMs += intervalsMs[i]!;
              send(frames[i++]!);
            }
            targets.afterBatch?.();
          }
        }
      } finally {
        running--;
        if (sent > 0) events.add('frames-injected', { point, count: sent, bytes });
      }
      return { point, frames: sent, bytes };
    });
}

/**
 * A VM vNIC point "<vm>.<nic>" of a daemon that runs guests (hostd, vmd): the frame goes out as the guest
 * sending it, so the vSwitch port's security policy (forged transmits) applies. Throws VFAB_NOT_FOUND
 * (from `ops`, naming what it has) for an unknown VM or vNIC, VFAB_VM_POWERED_OFF for a VM that is off.
 */
export function guestInjectTarget(ops: GuestOps, point: string): (frame: Buffer) => void {
  const dot = point.indexOf('.');
  if (dot <= 0 || dot === point.length - 1) throw new VfabError('VFAB_BAD_ENDPOINT', `not a vNIC: ${JSON.stringify(point)} (write <vm>.<nic>, e.g. web1.nic0)`);
  const vm = point.slice(0, dot);
  const nic = ops.pickNic(vm, '0.0.0.0', point.slice(dot + 1)); // VFAB_NOT_FOUND names the vNICs
  if (!ops.endpoint(vm).isPoweredOn) throw new VfabError('VFAB_VM_POWERED_OFF', `VM ${vm} is powered off: its guest sends nothing`);
  return (frame) => ops.transmitFromVm(vm, nic, frame);
}

/** The "no such point" error, naming the points the daemon has. */
export function unknownInjectPoint(daemon: string, point: string, points: string[]): VfabError {
  return new VfabError('VFAB_INJECT_NOT_FOUND', `${daemon} has no injection point ${point} (has: ${points.join(', ')})`);
}
