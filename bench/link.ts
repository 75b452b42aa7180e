// Micro-benchmark: frames/s through a WebSocket link pair on 127.0.0.1 for 64 B and 1500 B frames, with
// the flush deferred by setImmediate (default) and by queueMicrotask, next to a bare WebSocket relay
// (one frame per message, no link protocol) as the reference. Bounded: each run lasts RUN_MS.
// Run: node --import tsx bench/link.ts

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { WsLinkServer, connectWsLink } from '../daemons/link/ws-link.js';
import type { EthernetLink, FlushScheduler } from '../lib/link/link.js';

const RUN_MS = 1500;
const FRAMES_PER_TURN = 64;

function frame(sizeBytes: number): Buffer {
  const f = Buffer.alloc(sizeBytes, 0x5a);
  f.writeUInt16BE(0x88b5, 12);
  return f;
}

async function linkRun(sizeBytes: number, schedule: FlushScheduler): Promise<number> {
  let serverLink: EthernetLink | undefined;
  const server = new WsLinkServer({ token: 'bench', onLink: (_n, l) => (serverLink = l), schedule });
  const http = createServer();
  http.on('upgrade', (req, s, h) => {
    if (!server.handleUpgrade(req, s, h)) s.destroy();
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const port = (http.address() as AddressInfo).port;
  const client = connectWsLink({ url: `ws://127.0.0.1:${port}/link/bench`, token: 'bench', name: 'sender', schedule });
  while (!(client.carrier && serverLink?.carrier)) await new Promise((r) => setTimeout(r, 5));
  let received = 0;
  serverLink!.onFrame(() => received++);
  const f = frame(sizeBytes);
  const stopAt = performance.now() + RUN_MS;
  await new Promise<void>((resolve) => {
    const pump = () => {
      if (performance.now() >= stopAt) return resolve();
      for (let i = 0; i < FRAMES_PER_TURN; i++) if (!client.send(f)) break;
      setImmediate(pump);
    };
    pump();
  });
  const rate = received / (RUN_MS / 1000);
  client.close();
  server.close();
  http.closeAllConnections();
  await new Promise<void>((r) => http.close(() => r()));
  return rate;
}

async function bareRelayRun(sizeBytes: number): Promise<number> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await new Promise<void>((r) => wss.on('listening', () => r()));
  let received = 0;
  wss.on('connection', (ws) => ws.on('message', () => received++));
  const port = (wss.address() as AddressInfo).port;
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
  await new Promise<void>((r) => ws.on('open', () => r()));
  const f = frame(sizeBytes);
  const stopAt = performance.now() + RUN_MS;
  await new Promise<void>((resolve) => {
    const pump = () => {
      if (performance.now() >= stopAt) return resolve();
      for (let i = 0; i < FRAMES_PER_TURN && ws.bufferedAmount < 1024 * 1024; i++) ws.send(f);
      setImmediate(pump);
    };
    pump();
  });
  const rate = received / (RUN_MS / 1000);
  ws.terminate();
  await new Promise<void>((r) => wss.close(() => r()));
  return rate;
}

const immediate: FlushScheduler = (fn) => void setImmediate(fn);
const microtask: FlushScheduler = (fn) => queueMicrotask(fn);

for (const sizeBytes of [64, 1500]) {
  const bare = await bareRelayRun(sizeBytes);
  const viaImmediate = await linkRun(sizeBytes, immediate);
  const viaMicrotask = await linkRun(sizeBytes, microtask);
  const fmt = (n: number) => `${Math.round(n).toLocaleString('en-US')} frames/s`;
  console.log(`${String(sizeBytes).padStart(5)} B  bare ws (1 frame/msg): ${fmt(bare)}`);
  console.log(`${String(sizeBytes).padStart(5)} B  link, setImmediate flush: ${fmt(viaImmediate)} (${((viaImmediate / bare) * 100).toFixed(0)} % of bare)`);
  console.log(`${String(sizeBytes).padStart(5)} B  link, queueMicrotask flush: ${fmt(viaMicrotask)} (${((viaMicrotask / bare) * 100).toFixed(0)} % of bare)`);
}
