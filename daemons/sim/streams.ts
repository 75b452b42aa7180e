// Measured traffic streams of a simulated host under `vfab up --sim` (docs/simulation.md "Interactive: vfab
// up --sim"): hostd's routes POST /control/streams/sink, /control/streams/send, GET /control/streams/:vm
// and POST /control/streams/:vm/clear, over the host core's stream sender and sinks (lib/host/host.ts), with
// frames paced on the virtual clock: frame k leaves at start + k / rate, one scheduler timer each (as
// `vfab run --sim` runs traffic steps, daemons/sim/driver.ts). Leaves out unpaced streams (ratePps 0: hostd
// sends them as fast as its uplinks drain, which has no meaning on a virtual clock; refused) and the
// daemon's wall-clock timing of a run. Not from the spec: the emulator's own machinery.

import { VfabError } from '../../lib/errors.js';
import { NS_PER_MS } from '../../lib/fabric-clock.js';
import type { StreamReceiver } from '../../lib/traffic/stream.js';
import type { ControlServer } from '../common/server.js';
import type { SimHost } from './fabric.js';

/** Longest stream, seconds of fabric time (hostd's MAX_STREAM_SECONDS). */
export const SIM_MAX_STREAM_SECONDS = 600;
/** Highest rate of one simulated stream, frames per second of fabric time (each frame is a scheduler timer). */
export const SIM_MAX_STREAM_PPS = 100_000;
/** Senders one simulated host runs at once (hostd's MAX_RUNNING_SENDERS). */
export const SIM_MAX_RUNNING_SENDERS = 64;
/** Tries, and fabric ms between them, to resolve a stream's next hop (hostd: 100 x 20 ms). */
const RESOLVE_TRIES = 100;
const RESOLVE_PAUSE_MS = 20;

interface SenderRecord {
  streamId: number;
  sent: number;
  running: boolean;
  error?: string;
}

/** One host's streams: its sinks and senders, gone with the host (a restart starts with none, as hostd). */
export class SimHostStreams {
  private readonly sinks = new Map<string, StreamReceiver[]>();
  private readonly senders = new Map<string, SenderRecord[]>();

  /** `host()`: the host as it runs now (VFAB_DAEMON_DOWN once killed). */
  constructor(private readonly host: () => SimHost) {}

  register(server: ControlServer): void {
    server
      .on('POST', '/control/streams/sink', (req) => {
        const vm = String(req.body?.vm);
        const receiver = this.host().core.addStreamSink(vm, Number(req.body?.streamId ?? 1), Number(req.body?.udpPort ?? 9000));
        this.sinks.set(vm, [...(this.sinks.get(vm) ?? []), receiver]);
        return { vm, streamId: receiver.streamId };
      })
      .on('POST', '/control/streams/send', (req) => this.start(req.body))
      .on('GET', '/control/streams/:vm', (req) => ({ vm: req.params.vm, streams: (this.sinks.get(req.params.vm!) ?? []).map((r) => r.report()), senders: this.senders.get(req.params.vm!) ?? [] }))
      .on('POST', '/control/streams/:vm/clear', (req) => {
        const vm = req.params.vm!;
        this.host().core.removeStreamSinks(vm);
        this.sinks.delete(vm);
        this.senders.set(vm, (this.senders.get(vm) ?? []).filter((r) => r.running));
        return { vm };
      });
  }

  private async start(body: any): Promise<unknown> {
    const h = this.host();
    const core = h.core;
    const vm = String(body?.vm);
    const target = String(body?.target);
    const streamId = Number(body?.streamId ?? 1);
    core.isPoweredOn(vm); // VFAB_NOT_FOUND before anything starts
    const nic = core.pickNic(vm, target, body?.nic);
    const frameBytes = Math.min(Math.max(64, Number(body?.frameBytes ?? 64)), 9018);
    core.checkStreamFrame(vm, nic, Number(body?.frameBytes ?? 64));
    const udpPort = Number(body?.udpPort ?? 9000);
    const seconds = Math.min(Math.max(0.01, Number(body?.seconds ?? 1)), SIM_MAX_STREAM_SECONDS);
    const ratePps = Number(body?.ratePps ?? 0);
    if (!(ratePps > 0)) throw new VfabError('VFAB_SIM_UNSUPPORTED', 'an unpaced stream (ratePps 0) is not simulated by vfab up --sim: give it a rate (frames per second)');
    if (ratePps > SIM_MAX_STREAM_PPS) throw new VfabError('VFAB_SIM_UNSUPPORTED', `ratePps ${ratePps}: a simulated stream sends at most ${SIM_MAX_STREAM_PPS} frames per second (SIM_MAX_STREAM_PPS)`);
    const running = [...this.senders.values()].flat().filter((r) => r.running).length;
    if (running >= SIM_MAX_RUNNING_SENDERS) throw new VfabError('VFAB_HOST_TOO_MANY_STREAMS', `a host runs at most ${SIM_MAX_RUNNING_SENDERS} stream senders at once`);
    const rec: SenderRecord = { streamId, sent: 0, running: true };
    this.senders.set(vm, [...(this.senders.get(vm) ?? []).filter((r) => r.streamId !== streamId), rec]);
    const run = this.send(h, { vm, nic, target, udpPort, frameBytes, seconds, ratePps, streamId }, rec);
    if (body?.background === true) {
      run.catch((e: Error) => {
        rec.error = e.message;
        rec.running = false;
        h.events.add('stream-failed', { vm, streamId, message: rec.error });
      });
      return { vm, streamId, started: true };
    }
    return await run;
  }

  private async send(h: SimHost, s: { vm: string; nic: number; target: string; udpPort: number; frameBytes: number; seconds: number; ratePps: number; streamId: number }, rec: SenderRecord): Promise<unknown> {
    const core = h.core;
    const pause = (ms: number) => new Promise<void>((r) => h.timers.after(ms, r));
    // resolve the next hop first (ARP through the fabric), as hostd does
    let sender = core.streamSender(s.vm, s.nic, s.target, s.udpPort, s.frameBytes, s.streamId);
    for (let i = 0; !sender && i < RESOLVE_TRIES; i++) {
      h.tick.schedule();
      await pause(RESOLVE_PAUSE_MS);
      sender = core.streamSender(s.vm, s.nic, s.target, s.udpPort, s.frameBytes, s.streamId);
    }
    if (!sender) {
      rec.running = false;
      throw new VfabError('VFAB_STREAM_UNRESOLVED', `${s.vm} could not resolve ${s.target} (no ARP reply)`);
    }
    const out = sender;
    const total = Math.max(1, Math.floor(s.seconds * s.ratePps));
    const startMs = h.timers.nowMs();
    // the instant the last frame left (read in the timer: the await below may resume later)
    let lastMs = startMs;
    // frame k leaves at start + k / rate; the host's timers stop with it (a killed host sends no more)
    await new Promise<void>((resolve) => {
      const next = (): void => {
        if (!rec.running) return resolve();
        if (!core.isPoweredOn(s.vm)) {
          rec.error = `${s.vm} was powered off`;
          return resolve();
        }
        lastMs = h.timers.nowMs();
        core.sendStreamFrames(out, 1, lastMs * NS_PER_MS);
        rec.sent = out.sent;
        h.tick.schedule();
        if (out.sent < total) h.timers.at(startMs + (out.sent * 1000) / s.ratePps, next);
        else resolve();
      };
      next();
    });
    const seconds = (lastMs - startMs) / 1000 + 1 / s.ratePps;
    rec.running = false;
    h.events.add('stream-done', { vm: s.vm, streamId: s.streamId, sent: out.sent, seconds: Math.round(seconds * 1000) / 1000 });
    return { vm: s.vm, target: s.target, streamId: s.streamId, sent: out.sent, seconds, sentPps: out.sent / seconds };
  }
}
