// The reading side of live capture: connects to the daemons that own the requested points
// (/capture?point=...), decodes CAPTURE_FRAME and CAPTURE_COMMENT records and writes one pcap or pcapng
// stream. Frames of several daemons are merged in time order on the fabric clock (lib/capture/merge.ts,
// a bounded reorder window), so the file is in strict time order. pcapng gets one interface per point
// (named after it), each packet's direction and the daemon's comment (why it was dropped, which MAC it
// moved) as the packet comment; classic pcap merges every point into one Ethernet stream and has no
// comments. Frames keep their 802.1Q tags exactly as they crossed the point.
// Order of work: every point is checked and every stream open before the output file is created, so a bad
// point leaves no file; a daemon that goes away mid-capture ends the capture (`lost` names it) with the
// frames so far written out in a valid file.

import fs from 'node:fs';
import { WebSocket } from '../common/ws.js';
import { daemonWsUrl, tlsClientOptions, type DaemonAddress } from '../common/control-client.js';
import { VfabError } from '../../lib/errors.js';
import { PcapWriter } from '../../lib/capture/pcap.js';
import { PcapngWriter } from '../../lib/capture/pcapng.js';
import { CaptureMerger, CAPTURE_REORDER_WINDOW_MS, type MergeFrame } from '../../lib/capture/merge.js';
import { decodeLinkMessage, CAPTURE_DIRECTION_IN } from '../../lib/link/codec.js';
import { FabricClock } from '../common/fabric-clock.js';
import { type FabricState, daemonForEndpoint } from './state.js';

export type CaptureFormat = 'pcap' | 'pcapng';

/** How often (wall ms) held frames are looked at while streams are quiet. */
const MERGE_TICK_MS = Math.max(10, Math.round(CAPTURE_REORDER_WINDOW_MS / 5));
/** Wall time to open the stream of one daemon. */
export const CAPTURE_CONNECT_TIMEOUT_MS = 5_000;

export interface CaptureResult {
  frames: number;
  malformed: number;
  /** Frames that came later than the reorder window and were written with the time of the frame before. */
  late: number;
  /** Set when a daemon's stream ended before stop() (the daemon died or stopped): which, and how. */
  lost?: { daemon: string; reason: string };
}

export interface CaptureSession {
  /** Frames written so far. */
  readonly frames: number;
  /** Resolves once `count` frames were written (if a count was given), or a daemon's stream ended. */
  readonly done: Promise<void>;
  /** Set when a daemon's stream ended before stop(): which daemon, and how. */
  readonly lost: { daemon: string; reason: string } | undefined;
  stop(): Promise<CaptureResult>;
}

export function formatFor(file: string, format?: string): CaptureFormat {
  if (format === 'pcap' || format === 'pcapng') return format;
  if (format !== undefined) throw new VfabError('VFAB_USAGE', `--format must be pcap or pcapng, got ${format}`);
  return file.endsWith('.pcapng') ? 'pcapng' : 'pcap';
}

/** Which daemon serves each point; a point no daemon has is VFAB_CAPTURE_POINT naming it. */
function pointsByDaemon(state: FabricState, points: string[]): Map<string, { at: DaemonAddress; points: string[] }> {
  const byDaemon = new Map<string, { at: DaemonAddress; points: string[] }>();
  for (const p of points) {
    let daemon;
    try {
      daemon = daemonForEndpoint(state, p).daemon;
    } catch (e) {
      throw new VfabError('VFAB_CAPTURE_POINT', `no capture point ${p}: ${(e as Error).message}`, { point: p });
    }
    const entry = byDaemon.get(daemon.name) ?? { at: daemon, points: [] };
    entry.points.push(p);
    byDaemon.set(daemon.name, entry);
  }
  return byDaemon;
}

/** Opens the capture stream of one daemon: resolves once the daemon took every point. */
function openStream(state: FabricState, daemon: string, at: DaemonAddress, pts: string[]): Promise<WebSocket> {
  const qs = pts.map((p) => `point=${encodeURIComponent(p)}`).join('&');
  const ws = new WebSocket(daemonWsUrl(at, `/capture?${qs}`), { headers: { authorization: `Bearer ${state.token}` }, perMessageDeflate: false, handshakeTimeout: CAPTURE_CONNECT_TIMEOUT_MS, ...tlsClientOptions(at) });
  return new Promise<WebSocket>((resolve, reject) => {
    // paused at once: what the daemon sends with or right after its handshake waits in the socket until
    // every stream is open and its listeners are on (a message emitted before that would be lost)
    ws.once('open', () => {
      ws.pause();
      resolve(ws);
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => reject(new VfabError('VFAB_CAPTURE_POINT', `cannot capture ${pts.join(', ')} at ${daemon}: ${body || `HTTP ${res.statusCode}`}`, { points: pts })));
    });
    ws.once('error', (e) => reject(new VfabError('VFAB_CAPTURE_UNREACHABLE', `cannot reach ${daemon} (${at.host ?? '127.0.0.1'}:${at.port}) to capture ${pts.join(', ')}: ${e.message}`, { daemon })));
  });
}

/** Creates (truncates) the output file; a path that cannot be written is VFAB_CAPTURE_FILE naming it. */
function openOutput(file: string): fs.WriteStream {
  let fd: number;
  try {
    fd = fs.openSync(file, 'w');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such directory' : err.code === 'EACCES' ? 'permission denied' : err.code === 'EISDIR' ? 'is a directory' : err.message;
    throw new VfabError('VFAB_CAPTURE_FILE', `cannot write capture file ${file}: ${why}`, { file, errno: err.code });
  }
  return fs.createWriteStream(file, { fd });
}

export async function startCapture(state: FabricState, points: string[], out: string | NodeJS.WritableStream, format: CaptureFormat, count?: number): Promise<CaptureSession> {
  const byDaemon = pointsByDaemon(state, points);
  const opened = await Promise.allSettled([...byDaemon].map(([daemon, { at, points: pts }]) => openStream(state, daemon, at, pts)));
  const failed = opened.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    for (const r of opened) if (r.status === 'fulfilled') r.value.terminate();
    throw failed.reason;
  }
  const sockets = opened.map((r) => (r as PromiseFulfilledResult<WebSocket>).value);
  let stream: NodeJS.WritableStream;
  try {
    stream = typeof out === 'string' ? openOutput(out) : out;
  } catch (e) {
    for (const ws of sockets) ws.terminate();
    throw e;
  }
  let writeError: Error | undefined;
  stream.on('error', (e) => (writeError ??= e));
  const sink = (chunk: Buffer) => void stream.write(chunk);
  const pcap = format === 'pcap' ? new PcapWriter(sink) : undefined;
  const pcapng = format === 'pcapng' ? new PcapngWriter(sink) : undefined;
  const interfaceOf = new Map<string, number>();
  if (pcapng) for (const p of points) interfaceOf.set(p, pcapng.addInterface({ name: p, description: `vfab capture point ${p}` }));

  const clock = new FabricClock(state.clock, state.timeScale);
  const merger = new CaptureMerger();
  let frames = 0;
  let malformed = 0;
  let lost: { daemon: string; reason: string } | undefined;
  let stopping = false;
  let finish: () => void = () => {};
  const done = new Promise<void>((r) => (finish = r));

  const write = (list: MergeFrame[]) => {
    for (const f of list) {
      if (count !== undefined && frames >= count) return;
      if (pcapng) {
        const late = f.lateNs !== undefined ? `arrived ${(Number(f.lateNs) / 1e6).toFixed(3)} ms late: time raised to keep the file in order` : undefined;
        const comment = [f.comment, late].filter((c) => c !== undefined).join('; ');
        pcapng.writeFrame(interfaceOf.get(f.point)!, f.timestampNs, f.frame, { direction: f.direction === 'in' ? 'inbound' : 'outbound', ...(comment ? { comment } : {}) });
      } else pcap!.writeFrame(f.timestampNs, f.frame);
      frames++;
      if (count !== undefined && frames >= count) finish();
    }
  };
  const tick = setInterval(() => write(merger.release(clock.captureNowNs())), MERGE_TICK_MS);
  tick.unref();

  [...byDaemon.entries()].forEach(([daemon, { points: pts }], k) => {
    const ws = sockets[k]!;
    const streamId = merger.addStream();
    let ids: string[] = pts;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) {
        try {
          ids = JSON.parse(data.toString()).points ?? ids;
        } catch {
          malformed++;
        }
        return;
      }
      const r = decodeLinkMessage(data, {
        frame() {},
        carrier() {},
        hello() {},
        captureFrame(ts, direction, pointId, frame) {
          merger.push(streamId, { timestampNs: ts, point: ids[pointId] ?? ids[0]!, direction: direction === CAPTURE_DIRECTION_IN ? 'in' : 'out', frame });
        },
        captureComment(pointId, text) {
          merger.comment(streamId, ids[pointId] ?? ids[0]!, text);
        },
        recordError() {
          malformed++;
        },
        unknownRecord() {},
      });
      if (!r.ok) malformed++;
      write(merger.release(clock.captureNowNs()));
    });
    ws.once('close', (code: number, reason: Buffer) => {
      merger.closeStream(streamId);
      if (stopping) return;
      lost ??= { daemon, reason: code === 1001 ? `${daemon} stopped (${reason.toString() || 'going away'})` : `the connection to ${daemon} closed (code ${code})` };
      finish();
    });
    ws.on('error', () => {}); // the close that follows says what happened
  });
  for (const ws of sockets) ws.resume();

  return {
    get frames() {
      return frames;
    },
    get lost() {
      return lost;
    },
    done,
    async stop() {
      stopping = true;
      clearInterval(tick);
      await Promise.all(
        sockets.map((ws) => new Promise<void>((resolve) => {
          if (ws.readyState === WebSocket.CLOSED) return resolve();
          ws.once('close', () => resolve());
          ws.close();
          setTimeout(resolve, 1000).unref();
        })),
      );
      write(merger.drain());
      if (typeof out === 'string') await new Promise<void>((r) => (stream as fs.WriteStream).end(() => r()));
      if (writeError) throw new VfabError('VFAB_CAPTURE_FILE', `cannot write capture file ${typeof out === 'string' ? out : 'stdout'}: ${writeError.message}`);
      return { frames, malformed, late: merger.late, ...(lost ? { lost } : {}) };
    },
  };
}
