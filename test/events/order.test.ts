// lib/events/order.ts: merging daemons' events by time, ties, and holding events back while following.
import { expect } from 'chai';
import { EventOrderer, mergeEvents } from '../../lib/events/order.js';
import type { DaemonEvent } from '../../lib/scenario/timeline.js';

const ev = (source: string, seq: number, timeMs: number, type = 't'): DaemonEvent => ({ source, seq, timeMs, type });

describe('events/order', () => {
  it('merges by time; equal times by source, then the daemon\'s own sequence (cause before effect)', () => {
    const esx1 = [ev('esx1', 1, 10, 'admin-link'), ev('esx1', 2, 10, 'carrier'), ev('esx1', 3, 10.2, 'failover')];
    const sw1 = [ev('sw1', 7, 10.1, 'carrier'), ev('sw1', 8, 10.2, 'link-down')];
    const merged = mergeEvents([sw1, esx1]);
    expect(merged.map((e) => `${e.source}:${e.type}`)).to.deep.equal(['esx1:admin-link', 'esx1:carrier', 'sw1:carrier', 'esx1:failover', 'sw1:link-down']);
    expect(mergeEvents([esx1, sw1])).to.deep.equal(merged);
  });

  it('a follower prints an event only once every daemon\'s clock has passed it', () => {
    const o = new EventOrderer();
    // round 1: sw1 answered at 10.5, esx1 at 12; esx1's event at 11 must wait (sw1 may still log 10.6)
    expect(o.round([ev('esx1', 1, 11), ev('sw1', 1, 10)], 10.5).map((e) => e.timeMs)).to.deep.equal([10]);
    // round 2: sw1 logged 10.6 in the meantime; both clocks past 20
    expect(o.round([ev('sw1', 2, 10.6)], 20).map((e) => `${e.source}@${e.timeMs}`)).to.deep.equal(['sw1@10.6', 'esx1@11']);
    expect(o.size).to.equal(0);
  });

  it('holds a bounded number of events (the oldest go out past the bound); flush empties it in order', () => {
    const o = new EventOrderer(2);
    expect(o.round([ev('a', 1, 5), ev('a', 2, 6), ev('a', 3, 7)], 0).map((e) => e.timeMs)).to.deep.equal([5]);
    expect(o.flush().map((e) => e.timeMs)).to.deep.equal([6, 7]);
  });
});
