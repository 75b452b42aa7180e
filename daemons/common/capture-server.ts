// Live capture streams from a daemon to `vfab capture`: a WebSocket at /capture?point=<endpoint>[&point=...]
// carrying CAPTURE_FRAME records of the link protocol (docs/link-protocol.md), batched per event-loop turn.
// Covers subscribing and unsubscribing points (the daemon taps only points someone watches) and tail drop
// when the reader falls behind (counted, reported when the stream ends). Frames are stamped on the fabric
// clock (lib/fabric-clock.ts), so streams of different daemons merge by time. A daemon may comment the
// frame it just tapped (why it was dropped, which MAC it moved): a CAPTURE_COMMENT record right after it.
// Auth is checked by ControlServer.

import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket } from './ws.js';
import type { RequestTarget } from './http-guard.js';
import { LinkEncoder, MAX_LINK_MESSAGE_BYTES, CAPTURE_DIRECTION_IN, CAPTURE_DIRECTION_OUT } from '../../lib/link/codec.js';

export const CAPTURE_PATH = '/capture';
/** A capture reader may fall this far behind before frames are dropped (counted). */
export const CAPTURE_QUEUE_BYTES = 8 * 1024 * 1024;
export const MAX_CAPTURE_POINTS_PER_STREAM = 64;

export interface CaptureHooks {
  /** Turns tapping of `point` on or off; returns false when the daemon has no such point. */
  setTap(point: string, on: boolean): boolean;
}

interface Subscriber {
  ws: WebSocket;
  pointIds: Map<string, number>;
  encoder: LinkEncoder;
  scheduled: boolean;
  dropped: number;
  /** Point id of the last frame appended to this stream, -1 when it was dropped (a comment needs it). */
  lastPointId: number;
}

export class CaptureServer {
  private readonly wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 4096 });
  private readonly byPoint = new Map<string, Set<Subscriber>>();

  /** `timestampNs`: now as a capture timestamp on the fabric clock (FabricClock.captureNowNs). */
  constructor(private readonly hooks: CaptureHooks, private readonly timestampNs: () => bigint) {}

  handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, url: RequestTarget): boolean {
    if (url.pathname !== CAPTURE_PATH) return false;
    const points = url.searchParams.getAll('point').slice(0, MAX_CAPTURE_POINTS_PER_STREAM);
    const unknown = points.filter((p) => !this.hooks.setTap(p, this.byPoint.has(p)));
    if (points.length === 0 || unknown.length > 0) {
      const why = points.length === 0 ? 'no capture point given' : `no capture point ${unknown.join(', ')}`;
      socket.end(`HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(why)}\r\n\r\n${why}`);
      socket.destroy();
      return true;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, points));
    return true;
  }

  private accept(ws: WebSocket, points: string[]): void {
    const sub: Subscriber = { ws, pointIds: new Map(points.map((p, i) => [p, i])), encoder: new LinkEncoder(MAX_LINK_MESSAGE_BYTES), scheduled: false, dropped: 0, lastPointId: -1 };
    for (const p of points) {
      let set = this.byPoint.get(p);
      if (!set) this.byPoint.set(p, (set = new Set()));
      set.add(sub);
      this.hooks.setTap(p, true);
    }
    // tell the reader which id is which point: a text message, once, before any frame
    ws.send(JSON.stringify({ points }));
    const remove = () => {
      for (const p of points) {
        const set = this.byPoint.get(p);
        set?.delete(sub);
        if (set && set.size === 0) {
          this.byPoint.delete(p);
          this.hooks.setTap(p, false);
        }
      }
    };
    ws.on('close', remove);
    ws.on('error', remove);
  }

  /** Called by the daemon for every frame at a tapped point. */
  frame(point: string, direction: 'in' | 'out', frame: Uint8Array): void {
    const subs = this.byPoint.get(point);
    if (!subs) return;
    const ts = this.timestampNs();
    for (const sub of subs) {
      if (sub.ws.bufferedAmount + sub.encoder.pendingBytes > CAPTURE_QUEUE_BYTES) {
        sub.dropped++;
        sub.lastPointId = -1;
        continue;
      }
      const id = sub.pointIds.get(point)!;
      sub.lastPointId = sub.encoder.appendCaptureFrame(ts, direction === 'in' ? CAPTURE_DIRECTION_IN : CAPTURE_DIRECTION_OUT, id, frame) ? id : -1;
      this.schedule(sub);
    }
  }

  /** True when someone captures `point` (a comment is worth composing). */
  watching(point: string): boolean {
    return this.byPoint.has(point);
  }

  /** Comments the frame just passed to frame() at `point` (in every stream that got that frame). */
  comment(point: string, text: string): void {
    const subs = this.byPoint.get(point);
    if (!subs) return;
    for (const sub of subs) {
      const id = sub.pointIds.get(point)!;
      if (sub.lastPointId !== id) continue;
      sub.encoder.appendCaptureComment(id, text);
      sub.lastPointId = -1;
      this.schedule(sub);
    }
  }

  private schedule(sub: Subscriber): void {
    if (sub.scheduled) return;
    sub.scheduled = true;
    setImmediate(() => {
      sub.scheduled = false;
      if (sub.ws.readyState !== WebSocket.OPEN) return;
      for (const m of sub.encoder.take()) sub.ws.send(m);
    });
  }

  close(): void {
    for (const set of this.byPoint.values()) for (const sub of set) sub.ws.close(1001, 'daemon stopping');
    this.wss.close();
  }
}
