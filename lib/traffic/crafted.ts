// Crafted frames (`vfab send`, the scenario `send` step, POST /control/inject): the bounds every
// injection obeys, checks of frames given as hex, a frame built from fields (dst, src, VLAN, EtherType,
// payload, size), and the plan that cuts a paced sequence of frames into bounded control requests.
// Pure: no clock, no I/O; the CLI and the daemons do the sending and the waiting. Leaves out capture
// files (lib/capture/replay.ts) and what the vSwitch or switch does with the frames (lib/vswitch,
// lib/pswitch). Framing follows IEEE 802.3 / 802.1Q as lib/wire/ethernet.ts does.

import { VfabError } from '../errors.js';
import { ETH_HEADER_BYTES, MAX_FRAME_BYTES, VLAN_TAG_BYTES, ETHERTYPE_VLAN, buildFrame } from '../wire/ethernet.js';
import { type Mac } from '../wire/mac.js';

/** Most frames one POST /control/inject carries. */
export const MAX_INJECT_FRAMES_PER_REQUEST = 1024;
/** Most frame bytes one POST /control/inject carries (as hex it is twice that, inside the 1 MiB body bound). */
export const MAX_INJECT_BYTES_PER_REQUEST = 256 * 1024;
/** Longest a daemon spends pacing one request (sum of its intervals), ms. */
export const MAX_INJECT_REQUEST_SPAN_MS = 10_000;
/** Most frames one `vfab send` (or scenario step) puts on the wire: the set of frames times --count. */
export const MAX_SEND_FRAMES = 1_000_000;
/** Longest one send may take when paced (--rate, --timing), ms. */
export const MAX_SEND_DURATION_MS = 600_000;
/** Highest --rate, frames per second. */
export const MAX_SEND_RATE_PPS = 100_000;
/** IEEE 802 local experimental EtherType: the default of a frame built from fields (no stack consumes it). */
export const ETHERTYPE_LOCAL_EXPERIMENTAL = 0x88b5;

export class CraftError extends VfabError {
  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
    this.name = 'CraftError';
  }
}

/** A frame's size is acceptable for injection: 14..MAX_FRAME_BYTES bytes. */
export function frameSizeProblem(bytes: number): string | undefined {
  return bytes < ETH_HEADER_BYTES || bytes > MAX_FRAME_BYTES ? `a frame is ${ETH_HEADER_BYTES}..${MAX_FRAME_BYTES} bytes, this one ${bytes}` : undefined;
}

/** Hex text (spaces, colons and a leading 0x allowed) to bytes; throws VFAB_BAD_FRAME naming `what`. */
export function parseFrameHex(text: string, what: string): Buffer {
  const clean = text.replace(/^0x/i, '').replace(/[\s:.-]/g, '');
  if (clean.length > 2 * MAX_FRAME_BYTES + 2) throw new CraftError('VFAB_BAD_FRAME', `${what}: longer than ${MAX_FRAME_BYTES} bytes`);
  if (clean.length === 0 || clean.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(clean)) {
    throw new CraftError('VFAB_BAD_FRAME', `${what}: not hex bytes (write pairs of hex digits, e.g. ffffffffffff0050560101010800...)`);
  }
  const frame = Buffer.from(clean, 'hex');
  const problem = frameSizeProblem(frame.length);
  if (problem) throw new CraftError('VFAB_BAD_FRAME', `${what}: ${problem}`);
  return frame;
}

export interface FrameFields {
  dst: Mac;
  src: Mac;
  /** 802.1Q VID 0..4094 (0: a priority tag); absent: untagged. */
  vlan?: number;
  /** EtherType after any tag; default ETHERTYPE_LOCAL_EXPERIMENTAL. */
  etherType?: number;
  /** Payload bytes after the EtherType. */
  payload?: Uint8Array;
  /** Whole frame size without FCS; the payload is zero-padded to it. Default: 60 (the Ethernet minimum). */
  sizeBytes?: number;
}

/** Builds one frame from fields; throws VFAB_BAD_FRAME when the fields do not fit together. */
export function frameFromFields(f: FrameFields): Buffer {
  if (f.vlan !== undefined && (!Number.isInteger(f.vlan) || f.vlan < 0 || f.vlan > 4094)) throw new CraftError('VFAB_BAD_FRAME', `VLAN ${f.vlan} is outside 0..4094`);
  const etherType = f.etherType ?? ETHERTYPE_LOCAL_EXPERIMENTAL;
  if (!Number.isInteger(etherType) || etherType < 0 || etherType > 0xffff) throw new CraftError('VFAB_BAD_FRAME', `EtherType ${etherType} is outside 0x0000..0xffff`);
  const headerBytes = ETH_HEADER_BYTES + (f.vlan !== undefined ? VLAN_TAG_BYTES : 0);
  const payload = f.payload ?? new Uint8Array(0);
  const built = headerBytes + payload.length;
  if (f.sizeBytes !== undefined) {
    const problem = frameSizeProblem(f.sizeBytes);
    if (problem) throw new CraftError('VFAB_BAD_FRAME', `size ${f.sizeBytes}: ${problem}`);
    if (f.sizeBytes < built) throw new CraftError('VFAB_BAD_FRAME', `size ${f.sizeBytes} is smaller than the ${headerBytes}-byte header plus the ${payload.length}-byte payload`);
  }
  if (built > MAX_FRAME_BYTES) throw new CraftError('VFAB_BAD_FRAME', `header and payload make ${built} bytes, over ${MAX_FRAME_BYTES}`);
  const header = { dst: f.dst, src: f.src, etherType, ...(f.vlan !== undefined ? { tag: { tpid: ETHERTYPE_VLAN, pcp: 0, dei: 0, vid: f.vlan } } : {}) };
  const frame = buildFrame(header, payload);
  if (f.sizeBytes === undefined || f.sizeBytes === frame.length) return frame;
  if (f.sizeBytes < frame.length) return frame.subarray(0, f.sizeBytes); // below 60: the zero padding goes
  const sized = Buffer.alloc(f.sizeBytes);
  frame.copy(sized);
  return sized;
}

/** One POST /control/inject: frames, and the ms to wait before each (relative to the one before). */
export interface InjectRequest {
  frames: Buffer[];
  intervalsMs: number[];
  /** ms the sender waits on its own before this request (a gap longer than a request may span). */
  waitBeforeMs: number;
}

/**
 * Cuts `count` rounds of `frames` into requests within the per-request bounds. `gapsMs[i]` is the wait
 * before frames[i] (frames[0]'s is used between rounds); all zero sends as fast as the daemon takes them.
 * A request spans at most `maxSpanMs` (<= MAX_INJECT_REQUEST_SPAN_MS) of intervals.
 * Throws VFAB_SEND_TOO_MANY_FRAMES / VFAB_SEND_TOO_LONG when the whole send is over its bounds.
 */
export function planInjectRequests(frames: readonly Buffer[], gapsMs: readonly number[], count: number, maxSpanMs = MAX_INJECT_REQUEST_SPAN_MS): InjectRequest[] {
  const total = frames.length * count;
  if (frames.length === 0) throw new CraftError('VFAB_BAD_FRAME', 'no frames to send');
  if (total > MAX_SEND_FRAMES) throw new CraftError('VFAB_SEND_TOO_MANY_FRAMES', `${frames.length} frame(s) x ${count} = ${total} frames; one send puts at most ${MAX_SEND_FRAMES} on the wire`);
  let durationMs = 0;
  for (let i = 0; i < frames.length; i++) durationMs += (i === 0 ? count - 1 : count) * (gapsMs[i] ?? 0);
  if (durationMs > MAX_SEND_DURATION_MS) throw new CraftError('VFAB_SEND_TOO_LONG', `the send would take ${Math.round(durationMs)} ms; at most ${MAX_SEND_DURATION_MS} ms`);
  const requests: InjectRequest[] = [];
  let current: InjectRequest | undefined;
  let bytes = 0;
  let spanMs = 0;
  for (let round = 0; round < count; round++) {
    for (let i = 0; i < frames.length; i++) {
      const frame = frames[i]!;
      let gap = round === 0 && i === 0 ? 0 : (gapsMs[i] ?? 0);
      const full = current !== undefined && (current.frames.length >= MAX_INJECT_FRAMES_PER_REQUEST || bytes + frame.length > MAX_INJECT_BYTES_PER_REQUEST || spanMs + gap > maxSpanMs);
      if (current === undefined || full) {
        // a gap longer than a request may span is waited for by the sender, before the request
        const inRequest = gap > maxSpanMs ? 0 : gap;
        current = { frames: [], intervalsMs: [], waitBeforeMs: gap - inRequest };
        requests.push(current);
        bytes = 0;
        spanMs = 0;
        gap = inRequest;
      }
      current.frames.push(frame);
      current.intervalsMs.push(gap);
      bytes += frame.length;
      spanMs += gap;
    }
  }
  return requests;
}

/** Checks a POST /control/inject body (untrusted) against the bounds; returns its frames and intervals. */
export function checkInjectBody(body: unknown): { point: string; frames: Buffer[]; intervalsMs: number[] | undefined } {
  const b = (body ?? {}) as { point?: unknown; frames?: unknown; intervalsMs?: unknown };
  if (typeof b.point !== 'string' || b.point === '') throw new CraftError('VFAB_BAD_FRAME', 'point must name where the frames go in (esx1.vmnic0, sw1.Gi1/0/1, web1.nic0)');
  if (!Array.isArray(b.frames) || b.frames.length === 0) throw new CraftError('VFAB_BAD_FRAME', 'frames must be a non-empty list of frames as hex');
  if (b.frames.length > MAX_INJECT_FRAMES_PER_REQUEST) throw new CraftError('VFAB_INJECT_TOO_LARGE', `${b.frames.length} frames in one request; at most ${MAX_INJECT_FRAMES_PER_REQUEST}`);
  let bytes = 0;
  const frames = b.frames.map((h, i) => {
    if (typeof h !== 'string') throw new CraftError('VFAB_BAD_FRAME', `frames[${i}] is not a hex string`);
    bytes += h.length / 2;
    if (bytes > MAX_INJECT_BYTES_PER_REQUEST) throw new CraftError('VFAB_INJECT_TOO_LARGE', `frames of one request exceed ${MAX_INJECT_BYTES_PER_REQUEST} bytes`);
    return parseFrameHex(h, `frames[${i}]`);
  });
  let intervalsMs: number[] | undefined;
  if (b.intervalsMs !== undefined) {
    if (!Array.isArray(b.intervalsMs) || b.intervalsMs.length !== frames.length) throw new CraftError('VFAB_BAD_FRAME', 'intervalsMs must be a list with one number per frame');
    let span = 0;
    intervalsMs = b.intervalsMs.map((v, i) => {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new CraftError('VFAB_BAD_FRAME', `intervalsMs[${i}] must be a number >= 0`);
      span += v;
      return v;
    });
    if (span > MAX_INJECT_REQUEST_SPAN_MS) throw new CraftError('VFAB_INJECT_TOO_LARGE', `intervals of one request add up to ${span} ms; at most ${MAX_INJECT_REQUEST_SPAN_MS} ms`);
  }
  return { point: b.point, frames, intervalsMs };
}
