// Crafted frames into a running fabric, shared by `vfab send` and the scenario `send` step: turns a send
// (hex frames, a capture file, or fields; count, rate or the file's timing) into frames with gaps, finds
// the daemon serving the point (a VM's vNIC: its host, or its own vm daemon for an external VM; an
// uplink: its host; a switch port: its switch) and posts the bounded requests of lib/traffic/crafted.ts
// one after another to POST /control/inject. Leaves out option parsing (daemons/cli/commands/send.ts,
// lib/scenario/load.ts) and what the fabric does with the frames.

import fs from 'node:fs';
import { VfabError } from '../../lib/errors.js';
import { readReplayFrames, MAX_REPLAY_FILE_BYTES } from '../../lib/capture/replay.js';
import { frameFromFields, parseFrameHex, planInjectRequests, type FrameFields, type InjectRequest } from '../../lib/traffic/crafted.js';
import { control } from '../common/control-client.js';
import { type FabricState, type DaemonRecord, daemonForEndpoint, findVmDaemon } from './state.js';

/** A paced send posts a request per this much time, so progress and Ctrl-C come at least this often. */
export const REQUEST_SPAN_MS = 1000;

/** What to send: exactly one source of frames, and how often / how fast. */
export interface SendSpec {
  point: string;
  hex?: string[];
  pcap?: string;
  /** With pcap: keep the file's gaps between frames. */
  timing?: boolean;
  fields?: FrameFields;
  /** Rounds of the frames (default 1). */
  count?: number;
  /** Frames per second; absent (and no timing): as fast as the daemon takes them. */
  ratePps?: number;
  /** Fabric ms per wall ms (scenarios): the rate and a file's gaps are fabric time. Default 1. */
  timeScale?: number;
}

export interface SendResult {
  point: string;
  daemon: string;
  frames: number;
  bytes: number;
  requests: number;
  seconds: number;
}

/** The frames of a send and the wait before each (ms). Errors name the source: `what(source)`. */
export function craftFrames(spec: SendSpec, what: (source: 'hex' | 'pcap' | 'fields') => string = (s) => s): { frames: Buffer[]; gapsMs: number[] } {
  const given = [spec.hex?.length ? 'hex' : '', spec.pcap !== undefined ? 'pcap' : '', spec.fields ? 'fields' : ''].filter(Boolean);
  if (given.length !== 1) throw new VfabError('VFAB_USAGE', `give the frames one way: hex frames, a capture file, or fields (dst, src, ...); got ${given.length ? given.join(' and ') : 'none'}`);
  let frames: Buffer[];
  let fileGaps: number[] | undefined;
  if (spec.hex?.length) frames = spec.hex.map((h, i) => parseFrameHex(h, spec.hex!.length > 1 ? `${what('hex')} #${i + 1}` : what('hex')));
  else if (spec.fields) {
    try {
      frames = [frameFromFields(spec.fields)];
    } catch (e) {
      if (e instanceof VfabError) throw new VfabError(e.code, `${what('fields')}: ${e.message}`);
      throw e;
    }
  } else {
    const file = spec.pcap!;
    const bad = (message: string) => new VfabError('VFAB_CAPTURE_FILE', `${what('pcap')} ${file}: ${message}`);
    let bytes: Buffer;
    try {
      const size = fs.statSync(file).size;
      if (size > MAX_REPLAY_FILE_BYTES) throw bad(`${size} bytes; a replayed file is at most ${MAX_REPLAY_FILE_BYTES} bytes`);
      bytes = fs.readFileSync(file);
    } catch (e) {
      if (e instanceof VfabError) throw e;
      throw bad((e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message);
    }
    const parsed = readReplayFrames(bytes);
    if (!parsed.ok) throw bad(parsed.error.message);
    frames = parsed.value.frames.map((f) => f.data);
    fileGaps = parsed.value.frames.map((f) => f.gapMs);
  }
  const scale = spec.timeScale ?? 1;
  const rateGap = spec.ratePps !== undefined ? 1000 / spec.ratePps / scale : 0;
  const gapsMs = frames.map((_, i) => (spec.timing && fileGaps ? fileGaps[i]! / scale : rateGap));
  // between two rounds of a timed replay: the file's own first frame has no gap; use the rate's (0)
  if (spec.timing && fileGaps) gapsMs[0] = 0;
  return { frames, gapsMs };
}

/** The daemon that takes frames in at `point`. */
export function injectDaemon(state: FabricState, point: string): DaemonRecord {
  const { daemon, node } = daemonForEndpoint(state, point);
  // an external VM's guest runs in its own vm daemon (vmHosts names it), not at the host its link ends on
  return Object.hasOwn(state.vmHosts, node) ? findVmDaemon(state, node) : daemon;
}

/** The frames of `spec` cut into bounded requests; throws (before any fabric is asked) when out of bounds. */
export function planSend(spec: SendSpec, what?: (source: 'hex' | 'pcap' | 'fields') => string): InjectRequest[] {
  const craft = craftFrames(spec, what);
  return planInjectRequests(craft.frames, craft.gapsMs, spec.count ?? 1, REQUEST_SPAN_MS);
}

/** Sends the planned requests to `point`; `progress(sent, total)` after each request. */
export async function sendFrames(state: FabricState, point: string, requests: InjectRequest[], progress?: (sent: number, total: number) => void): Promise<SendResult> {
  const daemon = injectDaemon(state, point);
  const total = requests.reduce((n, r) => n + r.frames.length, 0);
  const started = performance.now();
  let frames = 0;
  let bytes = 0;
  for (const r of requests) {
    if (r.waitBeforeMs > 0) await new Promise((resolve) => setTimeout(resolve, r.waitBeforeMs));
    const spanMs = r.intervalsMs.reduce((a, b) => a + b, 0);
    const paced = r.intervalsMs.some((v) => v > 0);
    const reply = await control<{ frames: number; bytes: number }>(daemon, state.token, 'POST', '/control/inject', {
      point,
      frames: r.frames.map((f) => f.toString('hex')),
      ...(paced ? { intervalsMs: r.intervalsMs } : {}),
    }, spanMs + 30_000);
    frames += reply.frames;
    bytes += reply.bytes;
    progress?.(frames, total);
  }
  return { point, daemon: daemon.name, frames, bytes, requests: requests.length, seconds: (performance.now() - started) / 1000 };
}
