// The capture client (daemons/fabric/capture-client.ts) against two fake capture servers: frames a daemon
// sends right after its handshake (in the same read as the 101 answer, or while another daemon's stream
// is still connecting) reach the file. Loopback only, port 0, bounded to two connections and one frame.
import { expect } from 'chai';
import http from 'node:http';
import { PassThrough } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { startCapture } from '../../daemons/fabric/capture-client.js';
import type { FabricState } from '../../daemons/fabric/state.js';
import { CAPTURE_DIRECTION_IN, LinkEncoder, MAX_LINK_MESSAGE_BYTES } from '../../lib/link/codec.js';
import { captureTimestampNs } from '../../lib/fabric-clock.js';
import { readPcapng } from '../../lib/capture/pcapng.js';

/** A capture server that answers the upgrade after `delayMs` and then, at once, sends its points and `frames` frames. */
async function fakeDaemon(delayMs: number, frames: number, timestampNs: bigint): Promise<{ port: number; close: () => Promise<void> }> {
  const wss = new WebSocketServer({ noServer: true });
  const server = http.createServer();
  const sockets = new Set<WebSocket>();
  server.on('upgrade', (req, socket, head) => {
    setTimeout(() => wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.add(ws);
      const points = new URL(req.url!, 'http://x').searchParams.getAll('point');
      ws.send(JSON.stringify({ points }));
      const enc = new LinkEncoder(MAX_LINK_MESSAGE_BYTES);
      const frame = Buffer.alloc(60, 0);
      frame.fill(0xff, 0, 6); // broadcast destination
      frame.writeUInt16BE(0x0806, 12);
      for (let k = 0; k < frames; k++) enc.appendCaptureFrame(timestampNs, CAPTURE_DIRECTION_IN, 0, frame);
      for (const m of enc.take()) ws.send(m);
    }), delayMs);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as { port: number }).port,
    close: async () => {
      for (const ws of sockets) ws.terminate();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe('capture client', function () {
  this.timeout(10_000);

  it('keeps the frames a daemon sends right after its handshake while another daemon is still connecting', async () => {
    const anchor = { monotonicNs: String(process.hrtime.bigint()), wallMs: Date.now() };
    const ts = captureTimestampNs(anchor, 0);
    const quick = await fakeDaemon(0, 3, ts);
    const slow = await fakeDaemon(300, 0, ts);
    try {
      const state = {
        fabric: 't', topologyFile: 't.yaml', token: 'tok', startedAt: new Date().toISOString(), timeScale: 1, clock: anchor, runDir: '/tmp',
        daemons: [
          { name: 'esx1', kind: 'host', pid: 0, port: quick.port, logFile: '/dev/null' },
          { name: 'esx2', kind: 'host', pid: 0, port: slow.port, logFile: '/dev/null' },
        ],
        vmHosts: {},
      } as unknown as FabricState;
      const out = new PassThrough();
      const chunks: Buffer[] = [];
      out.on('data', (c: Buffer) => chunks.push(c));
      const session = await startCapture(state, ['esx1.vmnic0', 'esx2.vmnic0'], out, 'pcapng');
      await new Promise((r) => setTimeout(r, 100));
      const result = await session.stop();
      expect(result.frames).to.equal(3);
      const file = readPcapng(new Uint8Array(Buffer.concat(chunks)));
      expect(file.ok).to.equal(true);
      if (file.ok) expect(file.value.packets.length).to.equal(3);
    } finally {
      await quick.close();
      await slow.close();
    }
  });
});
