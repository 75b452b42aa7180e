// Frames to replay from a capture file (`vfab send POINT --pcap FILE`): picks the format by its magic
// (classic pcap in either byte order and resolution, or pcapng in either byte order), reads it with the
// readers of pcap.ts / pcapng.ts, and hands back whole Ethernet frames with the gap before each one.
// Refuses (typed error, never a throw) what cannot be replayed faithfully: a file or frame count over
// the bounds below, a link type other than Ethernet, a frame the capture cut short (snaplen), a frame
// outside 14..MAX_FRAME_BYTES. Simple Packet Blocks carry no time: their gap is 0. Leaves out reading
// the file (the caller hands bytes) and pacing (lib/send/frames.ts).

import { type Result, ok, err } from '../errors.js';
import { ETH_HEADER_BYTES, MAX_FRAME_BYTES } from '../wire/ethernet.js';
import { CaptureError, LINKTYPE_ETHERNET } from './common.js';
import { PCAP_MAGIC_NS, PCAP_MAGIC_US, readPcap } from './pcap.js';
import { PCAPNG_BLOCK_SHB, readPcapng } from './pcapng.js';

/** Largest capture file a replay reads (checked before reading it whole). */
export const MAX_REPLAY_FILE_BYTES = 64 * 1024 * 1024;
/** Most frames one replay takes from a file. */
export const MAX_REPLAY_FRAMES = 100_000;

export interface ReplayFrame {
  /** The frame's bytes (a view into the input). */
  data: Buffer;
  /** Time since the previous frame in the file, ms (0 for the first, for untimed SPBs, or when time went back). */
  gapMs: number;
}

export interface ReplayFile {
  format: 'pcap' | 'pcapng';
  frames: ReplayFrame[];
  /** Time from the first to the last frame, ms. */
  spanMs: number;
}

function refuse(code: string, message: string): { ok: false; error: CaptureError } {
  return err(new CaptureError(code, message));
}

/** Which format `bytes` start with, or undefined. */
export function captureFormatOf(bytes: Uint8Array): 'pcap' | 'pcapng' | undefined {
  if (bytes.length < 4) return undefined;
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, 4);
  if (b.readUInt32LE(0) === PCAPNG_BLOCK_SHB) return 'pcapng';
  const le = b.readUInt32LE(0);
  const be = b.readUInt32BE(0);
  if (le === PCAP_MAGIC_US || le === PCAP_MAGIC_NS || be === PCAP_MAGIC_US || be === PCAP_MAGIC_NS) return 'pcap';
  return undefined;
}

/** Parses a capture file from untrusted bytes into frames to replay; never throws. */
export function readReplayFrames(bytes: Uint8Array): Result<ReplayFile, CaptureError> {
  if (bytes.length > MAX_REPLAY_FILE_BYTES) {
    return refuse('VFAB_CAPTURE_FILE_TOO_LARGE', `capture file of ${bytes.length} bytes exceeds ${MAX_REPLAY_FILE_BYTES} bytes`);
  }
  const format = captureFormatOf(bytes);
  if (format === undefined) return refuse('VFAB_CAPTURE_BAD_MAGIC', 'not a pcap or pcapng file (no known magic number at its start)');
  const raw: Array<{ data: Buffer; originalLength: number; timestampNs: bigint | undefined; linkType: number }> = [];
  if (format === 'pcap') {
    const file = readPcap(bytes);
    if (!file.ok) return file;
    for (const p of file.value.packets) raw.push({ data: p.data, originalLength: p.originalLength, timestampNs: p.timestampNs, linkType: file.value.header.linkType });
  } else {
    const file = readPcapng(bytes);
    if (!file.ok) return file;
    for (const p of file.value.packets) raw.push({ data: p.data, originalLength: p.originalLength, timestampNs: p.timestampNs, linkType: file.value.interfaces[p.interfaceId]!.linkType });
  }
  if (raw.length > MAX_REPLAY_FRAMES) return refuse('VFAB_CAPTURE_TOO_MANY_FRAMES', `capture holds ${raw.length} frames; a replay takes at most ${MAX_REPLAY_FRAMES}`);
  if (raw.length === 0) return refuse('VFAB_CAPTURE_EMPTY', 'capture holds no frames');
  const frames: ReplayFrame[] = [];
  let previousNs: bigint | undefined;
  let spanNs = 0n;
  for (let i = 0; i < raw.length; i++) {
    const r = raw[i]!;
    const n = i + 1;
    if (r.linkType !== LINKTYPE_ETHERNET) return refuse('VFAB_CAPTURE_LINK_TYPE', `frame ${n} has link type ${r.linkType}; only Ethernet (1) can be replayed`);
    if (r.data.length < r.originalLength) return refuse('VFAB_CAPTURE_FRAME_CUT', `frame ${n} was cut to ${r.data.length} of its ${r.originalLength} bytes by the capture's snapshot length`);
    if (r.data.length < ETH_HEADER_BYTES || r.data.length > MAX_FRAME_BYTES) {
      return refuse('VFAB_CAPTURE_FRAME_SIZE', `frame ${n} is ${r.data.length} bytes; a frame is ${ETH_HEADER_BYTES}..${MAX_FRAME_BYTES} bytes`);
    }
    let gapNs = 0n;
    if (r.timestampNs !== undefined) {
      if (previousNs !== undefined && r.timestampNs > previousNs) gapNs = r.timestampNs - previousNs;
      if (previousNs === undefined || r.timestampNs > previousNs) previousNs = r.timestampNs;
    }
    spanNs += gapNs;
    frames.push({ data: r.data, gapMs: Number(gapNs) / 1e6 });
  }
  return ok({ format, frames, spanMs: Number(spanNs) / 1e6 });
}
