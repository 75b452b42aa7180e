// lib/link/link.ts flush: when one flush writes several messages (a large run goes out as a message of
// its own next to the batch), a transport that can cork is corked around them, so they leave in one
// system call; a flush of one message writes it without corking. The socket side (ws's TCP socket) is
// daemons/link/ws-link.ts; this checks the endpoint's calls with a recording transport.
import { expect } from 'chai';
import { LinkEndpoint, type LinkTransport } from '../../lib/link/link.js';
import { CarrierReason, LINK_PROTOCOL_VERSION, LinkEncoder, ZERO_COPY_RUN_BYTES } from '../../lib/link/codec.js';

function recorder(log: string[]): LinkTransport {
  return {
    releasesWrittenBytes: true,
    write: (m) => void log.push(`write ${m.length}`),
    bufferedBytes: () => 0,
    end: () => void log.push('end'),
    cork: () => void log.push('cork'),
    uncork: () => void log.push('uncork'),
  };
}

/** FRAME records of `n` frames of `bytes` bytes each, encoded as a peer would send them. */
function runRecords(n: number, bytes: number): Uint8Array {
  const e = new LinkEncoder();
  for (let i = 0; i < n; i++) e.appendFrame(Buffer.alloc(bytes, 0x11));
  return Buffer.concat(e.take());
}

describe('link/flush corking', () => {
  let pending: Array<() => void>;
  let log: string[];
  let link: LinkEndpoint;
  const flush = () => {
    const p = pending;
    pending = [];
    for (const f of p) f();
  };
  beforeEach(() => {
    pending = [];
    log = [];
    link = new LinkEndpoint('a', { schedule: (f) => void pending.push(f) });
    link.attachTransport(recorder(log));
    // the peer's HELLO and CARRIER(up) bring carrier up
    const peer = new LinkEncoder();
    peer.appendHello(LINK_PROTOCOL_VERSION, 'b');
    peer.appendCarrier(true, CarrierReason.NONE);
    link.receiveMessage(Buffer.concat(peer.take()));
    flush();
    log.length = 0;
    expect(link.carrier).to.equal(true);
  });

  it('corks the transport around a flush of several messages and uncorks after the last write', () => {
    const records = runRecords(12, 1500);
    expect(records.length).to.be.at.least(ZERO_COPY_RUN_BYTES);
    const messagesBefore = link.counters.txMessages;
    expect(link.send(Buffer.alloc(60, 1))).to.equal(true);
    expect(link.sendRun(records, 12, 12 * 1500)).to.equal(12);
    expect(link.send(Buffer.alloc(60, 2))).to.equal(true);
    flush();
    expect(log[0]).to.equal('cork');
    expect(log.at(-1)).to.equal('uncork');
    expect(log.filter((l) => l.startsWith('write'))).to.have.length(3);
    expect(link.counters.txMessages - messagesBefore).to.equal(3);
  });

  it('writes a flush of one message without corking', () => {
    expect(link.send(Buffer.alloc(60, 1))).to.equal(true);
    expect(link.send(Buffer.alloc(60, 2))).to.equal(true);
    flush();
    expect(log).to.deep.equal([`write ${2 * (3 + 60)}`]);
  });
});
