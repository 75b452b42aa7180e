// The benchmark's peer: a bare WebSocket relay chain with the same hop count as a vfab VM-to-VM path
// across two hosts and one physical switch (sender process -> relay process -> receiver process: two
// WebSocket hops, three processes). Frames travel as [u16 length][bytes] records, batched per event-loop
// turn like vfab's links; the relay forwards whole messages without looking inside. It is the upper bound
// for any switching logic on top of the same transport. Run by bench/index.ts; one role per process:
//   receiver: listens, counts frames and latency; prints a report and starts counting afresh on SIGUSR2
//       (so one receiver serves every round of a benchmark), prints a last report on SIGTERM
//   relay --to URL [--per-frame]: listens, forwards every message to URL; with --per-frame it takes each
//       message apart and sends its frames on one by one, re-batched per event-loop turn (the per-frame
//       work any frame relay does, without switching decisions)
//   sender --to URL --bytes N --seconds S [--rate PPS]: sends stamped frames for S seconds
// Prints one JSON line on ready and one with its result. Binds 127.0.0.1 only.

import { WebSocketServer, WebSocket } from 'ws';
import { parseArgs } from 'node:util';
import { StreamReceiver, writeStreamHeader, readStreamHeader, sharedNowNs } from '../../lib/traffic/stream.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { to: { type: 'string' }, bytes: { type: 'string', default: '64' }, seconds: { type: 'string', default: '3' }, rate: { type: 'string' }, 'per-frame': { type: 'boolean' } },
});
const role = positionals[0];
const SEND_BUFFER_LIMIT_BYTES = 1 << 20;
const FRAMES_PER_TURN = 64;
const STAMP_OFFSET = 42; // where a UDP payload starts in an untagged IPv4/UDP frame

function say(obj: unknown) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function listen(onMessage: (data: Buffer) => void): Promise<WebSocketServer> {
  return new Promise((resolve) => {
    const wss: WebSocketServer = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false }, () => resolve(wss));
    wss.on('connection', (ws: WebSocket) => {
      (ws as any)._socket?.setNoDelay(true);
      ws.on('message', (data: Buffer) => onMessage(data));
    });
  });
}

function connect(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    // the same transport options as vfab's links (daemons/link/ws-link.ts): no compression, and an all-zero
    // masking key on loopback, so neither side pays for masking; the peer must not be handicapped
    const ws = new WebSocket(url, { perMessageDeflate: false, generateMask: (mask: Buffer) => void mask.fill(0) });
    ws.once('open', () => {
      (ws as any)._socket?.setNoDelay(true);
      resolve(ws);
    });
    ws.once('error', reject);
  });
}

if (role === 'receiver') {
  let rx = new StreamReceiver(1);
  const wss = await listen((data) => {
    const now = sharedNowNs();
    for (let o = 0; o + 2 <= data.length; ) {
      const len = data.readUInt16BE(o);
      const stamp = readStreamHeader(data, o + 2 + STAMP_OFFSET);
      if (stamp) rx.record(stamp.seq, stamp.sentAtNs, now);
      o += 2 + len;
    }
  });
  say({ event: 'ready', port: (wss.address() as any).port });
  process.on('SIGUSR2', () => {
    say({ event: 'result', report: rx.report() });
    rx = new StreamReceiver(1);
  });
  process.on('SIGTERM', () => {
    say({ event: 'result', report: rx.report() });
    process.exit(0);
  });
} else if (role === 'relay') {
  const out = await connect(values.to!);
  const perFrame = values['per-frame'] === true;
  const batch = Buffer.allocUnsafe(256 * 1024);
  let used = 0;
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (used > 0 && out.bufferedAmount < SEND_BUFFER_LIMIT_BYTES) out.send(Buffer.from(batch.subarray(0, used)));
    used = 0;
  };
  const wss = await listen((data) => {
    if (!perFrame) {
      if (out.bufferedAmount < SEND_BUFFER_LIMIT_BYTES) out.send(data);
      return;
    }
    for (let o = 0; o + 2 <= data.length; ) {
      const len = data.readUInt16BE(o);
      const frame = data.subarray(o + 2, o + 2 + len);
      if (used + 2 + len > batch.length) flush();
      batch.writeUInt16BE(len, used);
      batch.set(frame, used + 2);
      used += 2 + len;
      o += 2 + len;
    }
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  });
  say({ event: 'ready', port: (wss.address() as any).port });
  process.on('SIGTERM', () => process.exit(0));
} else if (role === 'sender') {
  const ws = await connect(values.to!);
  const frameBytes = Number(values.bytes);
  const seconds = Number(values.seconds);
  const rate = values.rate ? Number(values.rate) : 0;
  const frame = Buffer.alloc(frameBytes);
  frame.fill(0xff, 0, 6);
  frame.writeUInt16BE(0x0800, 12);
  let seq = 0;
  const endAt = performance.now() + seconds * 1000;
  const startAt = performance.now();
  const cpuAtStart = process.cpuUsage();
  say({ event: 'ready' });
  const batchBytes = FRAMES_PER_TURN * (2 + frameBytes);
  let batch = Buffer.alloc(batchBytes);
  const sendSome = (count: number) => {
    // ws sends the buffer itself (zero mask: no masked copy): while an earlier message still waits in the
    // socket (bufferedAmount > 0) it may be this buffer, so write the next one elsewhere. The same rule
    // as vfab's link encoder (lib/link/link.ts, releasesWrittenBytes).
    if (ws.bufferedAmount > 0) batch = Buffer.allocUnsafe(batchBytes);
    let o = 0;
    for (let i = 0; i < count; i++) {
      batch.writeUInt16BE(frameBytes, o);
      writeStreamHeader(frame, STAMP_OFFSET, 1, seq++, sharedNowNs());
      frame.copy(batch, o + 2);
      o += 2 + frameBytes;
    }
    ws.send(batch.subarray(0, o));
  };
  await new Promise<void>((resolve) => {
    const turn = () => {
      const now = performance.now();
      if (now >= endAt) return resolve();
      if (rate > 0) {
        const due = Math.floor(((now - startAt) / 1000) * rate) - seq;
        if (due > 0) sendSome(Math.min(due, FRAMES_PER_TURN));
        setTimeout(turn, 1);
      } else {
        if (ws.bufferedAmount < SEND_BUFFER_LIMIT_BYTES) sendSome(FRAMES_PER_TURN);
        setImmediate(turn);
      }
    };
    turn();
  });
  // CPU this process spent sending (it exits before the bench could read /proc)
  const cpu = process.cpuUsage(cpuAtStart);
  say({ event: 'result', sent: seq, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 });
  ws.close();
  setTimeout(() => process.exit(0), 50);
} else {
  process.stderr.write('usage: ws-chain.ts receiver | relay --to URL | sender --to URL --bytes N --seconds S [--rate PPS]\n');
  process.exit(2);
}
