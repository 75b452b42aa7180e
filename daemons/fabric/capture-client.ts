// The reading side of live capture: connects to the daemons that own the requested points
// (/capture?point=...), decodes CAPTURE_FRAME records and writes them to one pcap or pcapng stream.
// pcapng gets one interface per point (named after it) and each packet's direction; classic pcap merges
// every point into one Ethernet stream. Frames keep their 802.1Q tags exactly as they crossed the point.

import fs from 'node:fs';
import { WebSocket } from 'ws';
import { VfabError } from '../../lib/errors.js';
import { PcapWriter } from '../../lib/capture/pcap.js';
import { PcapngWriter } from '../../lib/capture/pcapng.js';
import { decodeLinkMessage, CAPTURE_DIRECTION_IN } from '../../lib/link/codec.js';
import { type FabricState, daemonForEndpoint } from './state.js';

export type CaptureFormat = 'pcap' | 'pcapng';

export interface CaptureSession {
  /** Frames written so far. */
  readonly frames: number;
  /** Resolves once `count` frames were written (if a count was given). */
  readonly done: Promise<void>;
  stop(): Promise<{ frames: number; malformed: number }>;
}

export function formatFor(file: string, format?: string): CaptureFormat {
  if (format === 'pcap' || format === 'pcapng') return format;
  if (format !== undefined) throw new VfabError('VFAB_USAGE', `--format must be pcap or pcapng, got ${format}`);
  return file.endsWith('.pcapng') ? 'pcapng' : 'pcap';
}

export async function startCapture(state: FabricState, points: string[], out: string | NodeJS.WritableStream, format: CaptureFormat, count?: number): Promise<CaptureSession> {
  const stream = typeof out === 'string' ? fs.createWriteStream(out) : out;
  const sink = (chunk: Buffer) => void stream.write(chunk);
  const pcap = format === 'pcap' ? new PcapWriter(sink) : undefined;
  const pcapng = format === 'pcapng' ? new PcapngWriter(sink) : undefined;
  const byDaemon = new Map<string, { port: number; points: string[] }>();
  for (const p of points) {
    const { daemon } = daemonForEndpoint(state, p);
    const entry = byDaemon.get(daemon.name) ?? { port: daemon.port, points: [] };
    entry.points.push(p);
    byDaemon.set(daemon.name, entry);
  }
  const interfaceOf = new Map<string, number>();
  if (pcapng) for (const p of points) interfaceOf.set(p, pcapng.addInterface({ name: p, description: `vfab capture point ${p}` }));
  let frames = 0;
  let malformed = 0;
  let finish: () => void = () => {};
  const done = new Promise<void>((r) => (finish = r));
  const sockets: WebSocket[] = [];
  for (const { port, points: pts } of byDaemon.values()) {
    const qs = pts.map((p) => `point=${encodeURIComponent(p)}`).join('&');
    const ws = new WebSocket(`ws://127.0.0.1:${port}/capture?${qs}`, { headers: { authorization: `Bearer ${state.token}` }, perMessageDeflate: false });
    sockets.push(ws);
    let ids: string[] = pts;
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => reject(new VfabError('VFAB_CAPTURE_POINT', `cannot capture ${pts.join(', ')}: ${body || `HTTP ${res.statusCode}`}`)));
      });
      ws.once('error', reject);
    });
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
          if (count !== undefined && frames >= count) return;
          const point = ids[pointId] ?? ids[0]!;
          if (pcapng) pcapng.writeFrame(interfaceOf.get(point)!, ts, frame, { direction: direction === CAPTURE_DIRECTION_IN ? 'inbound' : 'outbound' });
          else pcap!.writeFrame(ts, frame);
          frames++;
          if (count !== undefined && frames >= count) finish();
        },
        recordError() {
          malformed++;
        },
        unknownRecord() {},
      });
      if (!r.ok) malformed++;
    });
  }
  return {
    get frames() {
      return frames;
    },
    done,
    async stop() {
      await Promise.all(
        sockets.map((ws) => new Promise<void>((resolve) => {
          if (ws.readyState === WebSocket.CLOSED) return resolve();
          ws.once('close', () => resolve());
          ws.close();
          setTimeout(resolve, 1000).unref();
        })),
      );
      if (typeof out === 'string') await new Promise<void>((r) => (stream as fs.WriteStream).end(() => r()));
      return { frames, malformed };
    },
  };
}
