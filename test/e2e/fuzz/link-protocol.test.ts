// Seeded fuzz of the link protocol (docs/link-protocol.md) at a real switchd: the test stops esx2 (by its
// PID, a daemon of the test's own fabric) and takes over its switch port sw1 Gi1/0/10 over WebSocket,
// then sends INPUTS messages: valid FRAME / CARRIER / HELLO records and batches of them, those mutated at
// the byte level (lengths, types, truncation, duplication), random bytes, text messages and, rarely, a
// message over MAX_LINK_MESSAGE_BYTES (the daemon closes with 1009; the fuzzer reconnects). Messages are
// pipelined (BURST per drain). Afterwards sw1 must be alive, serve GET /control/status with the port's
// malformed-record counter raised, and its RSS must have stayed under RSS_BOUND_BYTES. Bounded in count
// and time (FUZZ_TIME_MS). Seed: FUZZ_SEED (VFAB_FUZZ_SEED replays). Fabric: native-vlan-trap.yaml.

import { expect } from 'chai';
import { WebSocket } from 'ws';
import { MAX_LINK_MESSAGE_BYTES, RECORD_CARRIER, RECORD_FRAME, RECORD_HELLO } from '../../../lib/link/codec.js';
import { waitFor, type TestFabric, useFabric } from '../helpers/fabric.js';
import { isAlive } from '../../../daemons/fabric/pid-identity.js';
import { FUZZ_SEED, Fuzz, RssSampler, expectServing } from './fuzz-helpers.js';

const INPUTS = 100_000;
const BURST = 500;
const FUZZ_TIME_MS = 40_000;
const RSS_BOUND_BYTES = 300 * 1024 * 1024;
const PORT = 'Gi1/0/10';

function record(type: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(3);
  head[0] = type;
  head.writeUInt16BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

/** An Ethernet frame: dst, src, optional 802.1Q tag, EtherType, payload. */
function frame(f: Fuzz): Buffer {
  const dst = f.chance(0.4) ? Buffer.alloc(6, 0xff) : f.bytes(6);
  const src = f.bytes(6);
  src[0] = src[0]! & 0xfe; // unicast source (a multicast one is dropped early; the mutator makes those too)
  const tag = f.chance(0.3) ? Buffer.from([0x81, 0x00, f.int(16), f.int(256)]) : Buffer.alloc(0);
  const type = Buffer.from(f.pick([[0x08, 0x06], [0x08, 0x00], [0x86, 0xdd], [0x88, 0x09], [f.int(256), f.int(256)]]));
  return Buffer.concat([dst, src, tag, type, f.bytes(f.pick([0, 10, 46, 100, 1000, 1500, 1600]))]);
}

function validMessage(f: Fuzz): Buffer {
  const parts: Buffer[] = [];
  for (let i = 1 + (f.chance(0.3) ? f.int(8) : 0); i > 0; i--) {
    const kind = f.int(10);
    if (kind < 7) parts.push(record(RECORD_FRAME, frame(f)));
    else if (kind < 9) parts.push(record(RECORD_CARRIER, Buffer.from([f.int(2), f.int(6)])));
    else parts.push(record(RECORD_HELLO, Buffer.concat([Buffer.from([0, 1]), Buffer.from(f.pick(['esx2.vmnic0', 'x', 'ü/é', '']))])));
  }
  return Buffer.concat(parts);
}

function fuzzMessage(f: Fuzz): Buffer | string {
  const k = f.int(100);
  if (k < 35) return validMessage(f);
  if (k < 85) return f.mutate(validMessage(f), 4);
  if (k < 95) return f.bytes(f.int(300));
  if (k < 99) return f.text(f.int(50), 'abc {}[]":,0123');
  return Buffer.alloc(0);
}

function connect(port: number, token: string): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/link/${encodeURIComponent(PORT)}`, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false, maxPayload: MAX_LINK_MESSAGE_BYTES * 4 });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

describe('fuzz: the link protocol at a switchd port (seeded, bounded)', function () {
  this.timeout(FUZZ_TIME_MS + 30_000);
  let fab: TestFabric;

  useFabric('topologies/native-vlan-trap.yaml', (f) => (fab = f));

  it(`${INPUTS} mutated and random link messages (seed ${FUZZ_SEED}): sw1 alive, counting, RSS under ${RSS_BOUND_BYTES / 2 ** 20} MiB`, async () => {
    const f = new Fuzz(FUZZ_SEED);
    const sw1 = fab.daemon('sw1');
    const esx2 = fab.daemon('esx2');
    process.kill(esx2.pid, 'SIGKILL'); // its port is the fuzzer's now (nobody reconnects and takes it back)
    await waitFor(() => !isAlive(esx2.pid), 'esx2 to exit');
    const before = (await fab.status('sw1')).links.find((l: any) => l.local === PORT).counters;
    const sampler = new RssSampler(sw1.pid);
    const deadline = Date.now() + FUZZ_TIME_MS;
    let sent = 0;
    let reconnects = 0;
    try {
      let ws = await connect(sw1.port, fab.state.token);
      while (sent < INPUTS && Date.now() < deadline) {
        if (ws.readyState !== WebSocket.OPEN) {
          ws.terminate();
          ws = await connect(sw1.port, fab.state.token);
          reconnects++;
        }
        for (let i = 0; i < BURST && ws.readyState === WebSocket.OPEN; i++) {
          const m = f.chance(1 / 20_000) ? Buffer.alloc(MAX_LINK_MESSAGE_BYTES + 1 + f.int(1000), 1) : fuzzMessage(f);
          ws.send(m, { binary: typeof m !== 'string' });
          sent++;
        }
        // let the daemon read the burst before the next one (bounded memory on both sides)
        await waitFor(() => ws.readyState !== WebSocket.OPEN || ws.bufferedAmount === 0, 'the burst to be written', 10_000, 1);
        await new Promise((r) => setImmediate(r));
      }
      ws.close();
    } finally {
      const peak = sampler.stop();
      if (process.env.VFAB_FUZZ_VERBOSE) console.log(`sent ${sent}, reconnects ${reconnects}, sw1 RSS peak ${Math.round(peak / 2 ** 20)} MiB`);
      expect(peak, 'sw1 RSS peak').to.be.below(RSS_BOUND_BYTES);
    }
    expect(sent).to.be.at.least(INPUTS);
    await expectServing('sw1', sw1.pid, 'sw1', sw1.port, fab.state.token);
    const after = (await fab.status('sw1')).links.find((l: any) => l.local === PORT).counters;
    expect(after.rxDropsMalformed, 'malformed records were dropped and counted').to.be.above(before.rxDropsMalformed);
    expect(after.rxFrames, 'valid frames were received').to.be.above(before.rxFrames);
  });
});
