// The windowed transfer: the window bounds what is unacknowledged, cumulative and selective acks free
// datagrams, retransmission happens only when the caller's timeout has passed, stale acks are ignored,
// and the receiver classifies new, duplicate and out-of-window arrivals with a bounded bitmap.
import { expect } from 'chai';
import { ChunkSender, ChunkReceiver, ACK_SACK_BYTES } from '../../lib/vmotion/index.js';

const dg = (n: number): Buffer => Buffer.alloc(100, n);
const noSack = new Uint8Array(ACK_SACK_BYTES);

describe('vMotion transfer: ChunkSender', () => {
  it('keeps at most the window unacknowledged, counted from the oldest unacknowledged datagram', () => {
    const s = new ChunkSender(4, 50, 0);
    for (let i = 0; i < 4; i++) s.send(dg(i), 10, 0);
    expect(s.canSend()).to.equal(false);
    expect(() => s.send(dg(9), 10, 0)).to.throw(/window full/);
    // a selective ack of 1..3 does not move the window while 0 is missing
    const sack = new Uint8Array(ACK_SACK_BYTES);
    sack[0] = 0b111; // next=0: seqs 1, 2, 3
    expect(s.onAck(0, sack, 4, 1)).to.include({ datagrams: 3, dataBytes: 30 });
    expect(s.canSend()).to.equal(false);
    expect(s.onAck(4, noSack, 4, 2)).to.include({ datagrams: 1, dataBytes: 10 });
    expect(s.canSend()).to.equal(true);
    expect(s.idle).to.equal(true);
  });

  it('follows a smaller window the receiver announces', () => {
    const s = new ChunkSender(8, 50, 0);
    s.send(dg(0), 1, 0);
    s.onAck(0, noSack, 2, 0);
    s.send(dg(1), 1, 0);
    expect(s.canSend()).to.equal(false);
  });

  it('retransmits only datagrams whose timeout has passed, and counts them', () => {
    const s = new ChunkSender(8, 50, 0);
    s.send(dg(0), 1, 0);
    s.send(dg(1), 1, 20);
    expect(s.nextDeadlineMs()).to.equal(50);
    expect(s.due(49)).to.have.length(0);
    expect(s.due(50).map((b) => b[0])).to.deep.equal([0]);
    expect(s.nextDeadlineMs()).to.equal(70);
    expect(s.due(70).map((b) => b[0])).to.deep.equal([1]);
    expect(s.counters.retransmits).to.equal(2);
    s.onAck(2, noSack, 8, 71);
    expect(s.due(1000)).to.have.length(0);
    expect(s.nextDeadlineMs()).to.equal(undefined);
  });

  it('resends a hole once, at once, when three datagrams sent after it are acknowledged; then only on the timeout', () => {
    const s = new ChunkSender(8, 50, 0);
    for (let i = 0; i < 6; i++) s.send(dg(i), 1, 0);
    const sack = new Uint8Array(ACK_SACK_BYTES);
    sack[0] = 0b11; // next=0: 1, 2
    expect(s.onAck(0, sack, 8, 1).resend).to.have.length(0); // two after it: not yet
    sack[0] = 0b111; // 1, 2, 3
    expect(s.onAck(0, sack, 8, 2).resend.map((b) => b[0])).to.deep.equal([0]);
    sack[0] = 0b1111; // and 4: 0 is not resent again on the fast path
    expect(s.onAck(0, sack, 8, 3).resend).to.have.length(0);
    expect(s.counters).to.include({ fastRetransmits: 1, retransmits: 1 });
    expect(s.due(51).map((b) => b[0])).to.deep.equal([5]); // 5 was sent at 0; 0 was resent at 2
    expect(s.due(52).map((b) => b[0])).to.deep.equal([0]);
  });

  it('ignores acks beyond what was sent and counts duplicates; progress time moves only on new acks', () => {
    const s = new ChunkSender(8, 50, 0);
    s.send(dg(0), 1, 0);
    s.onAck(5, noSack, 8, 10);
    expect(s.counters.staleAcks).to.equal(1);
    expect(s.outstanding).to.equal(1);
    s.onAck(0, noSack, 8, 20);
    expect(s.counters.duplicateAcks).to.equal(1);
    expect(s.lastProgressMs).to.equal(0);
    s.onAck(1, noSack, 8, 30);
    expect(s.lastProgressMs).to.equal(30);
  });
});

describe('vMotion transfer: ChunkReceiver', () => {
  it('advances the cumulative point over held arrivals and reports the rest selectively', () => {
    const r = new ChunkReceiver(8);
    expect(r.accept(1)).to.equal('new');
    expect(r.accept(3)).to.equal('new');
    expect(r.nextExpected).to.equal(0);
    expect(r.sack()[0]).to.equal(0b101); // next+1 = 1, next+3 = 3
    expect(r.accept(0)).to.equal('new');
    expect(r.nextExpected).to.equal(2);
    expect(r.sack()[0]).to.equal(0b1); // 3 = next + 1
    expect(r.hasAllThrough(1)).to.equal(true);
    expect(r.hasAllThrough(3)).to.equal(false);
  });

  it('drops duplicates and anything beyond its window without keeping it', () => {
    const r = new ChunkReceiver(4);
    expect(r.accept(0)).to.equal('new');
    expect(r.accept(0)).to.equal('duplicate');
    expect(r.accept(2)).to.equal('new');
    expect(r.accept(2)).to.equal('duplicate');
    expect(r.accept(5)).to.equal('outside'); // next=1, window 4 covers 1..4
    expect(r.accept(0xffffffff)).to.equal('duplicate'); // far behind, modulo 2^32
    expect(r.counters).to.deep.equal({ accepted: 2, duplicates: 3, outsideWindow: 1 });
  });
});
