// Runs the EthernetLink conformance suite against createInProcessLinkPair, plus in-process specifics:
// carrier comes up asynchronously, and an injected scheduler controls when batches are flushed.

import { expect } from 'chai';
import { PcapngWriter, readPcapng } from '../../lib/capture/index.js';
import { CAPTURE_DIRECTION_IN, CAPTURE_DIRECTION_OUT } from '../../lib/link/codec.js';
import { createInProcessLinkPair } from '../../lib/link/link.js';
import { pushVlanTag } from '../../lib/wire/ethernet.js';
import { runLinkConformance, seqFrame, waitFor } from './conformance.js';

runLinkConformance('in-process pair', async ({ queueBytes }) => {
  const [a, b] = createInProcessLinkPair('vm-a/eth0', 'esx1/vswitch0/port5', queueBytes !== undefined ? { queueBytes } : {});
  await waitFor(() => a.carrier && b.carrier, 'carrier up');
  return {
    a,
    b,
    teardown: async () => {
      a.close();
      b.close();
    },
  };
});

describe('in-process link pair', () => {
  it('starts with carrier down and brings it up after one turn (HELLO + CARRIER exchanged)', async () => {
    const [a, b] = createInProcessLinkPair('a', 'b');
    expect(a.carrier).to.equal(false);
    expect(a.send(seqFrame(1))).to.equal(false);
    await waitFor(() => a.carrier && b.carrier, 'carrier up');
    expect(a.counters.carrierUps).to.equal(1);
    a.close();
    b.close();
  });

  it('flushes through the injected scheduler: nothing moves until it runs', async () => {
    const pending: Array<() => void> = [];
    const schedule = (fn: () => void) => {
      pending.push(fn);
    };
    const [a, b] = createInProcessLinkPair('a', 'b', { schedule });
    const got: number[] = [];
    b.onFrame((f) => got.push(f.readUInt32BE(14)));
    const runAll = () => {
      while (pending.length > 0) pending.shift()!();
    };
    runAll();
    expect(a.carrier && b.carrier).to.equal(true);
    a.send(seqFrame(1));
    a.send(seqFrame(2));
    expect(pending).to.have.length(1); // one flush per batch, not per frame
    expect(got).to.deep.equal([]);
    runAll();
    expect(got).to.deep.equal([1, 2]);
    expect(b.counters.rxMessages).to.equal(2); // the handshake message, then the batch
  });

  it('drops frames that arrive while carrier is down at the receiver and counts them', () => {
    const pending: Array<() => void> = [];
    const [a, b] = createInProcessLinkPair('a', 'b', { schedule: (fn) => void pending.push(fn) });
    const runAll = () => {
      while (pending.length > 0) pending.shift()!();
    };
    runAll();
    a.send(seqFrame(1)); // in flight...
    b.setAdminUp(false); // ...when b goes down
    runAll();
    expect(b.counters.rxDropsCarrier).to.equal(1);
    expect(b.counters.rxFrames).to.equal(0);
  });
});

describe('live capture over a link', () => {
  it('carries CAPTURE_FRAME records that feed a pcapng writer (direction, capture point, tags kept)', async () => {
    const [daemon, cli] = createInProcessLinkPair('esx1/capture', 'cli');
    await waitFor(() => daemon.carrier && cli.carrier, 'carrier up');
    const chunks: Buffer[] = [];
    const writer = new PcapngWriter((c) => chunks.push(c));
    const interfaces = new Map<number, number>();
    cli.onCaptureFrame((tsNs, direction, pointId, frame) => {
      let id = interfaces.get(pointId);
      if (id === undefined) interfaces.set(pointId, (id = writer.addInterface({ name: `point-${pointId}` })));
      writer.writeFrame(id, tsNs, frame, { direction: direction === CAPTURE_DIRECTION_IN ? 'inbound' : 'outbound' });
    });
    const tagged = pushVlanTag(seqFrame(1), 42);
    expect(daemon.sendCaptureFrame(5_000_000_001n, CAPTURE_DIRECTION_IN, 3, tagged)).to.equal(true);
    expect(daemon.sendCaptureFrame(5_000_000_002n, CAPTURE_DIRECTION_OUT, 9, seqFrame(2))).to.equal(true);
    await waitFor(() => writer.packets === 2, 'two captured frames');
    const file = readPcapng(Buffer.concat(chunks));
    if (!file.ok) throw file.error;
    expect(file.value.interfaces.map((i) => i.name)).to.deep.equal(['point-3', 'point-9']);
    expect(file.value.packets.map((p) => [p.interfaceId, p.timestampNs, p.direction])).to.deep.equal([
      [0, 5_000_000_001n, 'inbound'],
      [1, 5_000_000_002n, 'outbound'],
    ]);
    expect(file.value.packets[0]!.data.equals(tagged)).to.equal(true);
    daemon.close();
    cli.close();
  });
});
