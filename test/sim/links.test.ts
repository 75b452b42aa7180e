// lib/sim/links.ts: a simulated cable keeps the daemons' link semantics: carrier at both ends (the far
// end told one hop later), frames one hop later (after their line time at 1 GbE, queued in order, tail-dropped
// past the queue bound) and copied, drops without carrier counted, seeded loss
// that repeats with its seed and follows its direction, delay on the virtual clock, flap schedules.
import { expect } from 'chai';
import { SimScheduler } from '../../lib/sim/scheduler.js';
import { SimLink, SIM_LINK_HOP_MS, SIM_LINK_MAX_QUEUE_MS, simWireMs } from '../../lib/sim/links.js';

function cable() {
  const s = new SimScheduler();
  const link = new SimLink(s, { node: 'esx1', iface: 'vmnic0' }, { node: 'sw1', iface: 'Gi1/0/1' });
  const got = { a: [] as Array<{ atMs: number; byte: number }>, b: [] as Array<{ atMs: number; byte: number }>, carrierA: [] as Array<[number, boolean]>, carrierB: [] as Array<[number, boolean]>, events: [] as string[] };
  link.a.handlers = { frame: (f) => got.a.push({ atMs: s.nowMs(), byte: f[14]! }), carrier: (up) => got.carrierA.push([s.nowMs(), up]), event: (t) => got.events.push(t) };
  link.b.handlers = { frame: (f) => got.b.push({ atMs: s.nowMs(), byte: f[14]! }), carrier: (up) => got.carrierB.push([s.nowMs(), up]) };
  link.carrierChanged('connected');
  return { s, link, got };
}

const frame = (n: number) => {
  const f = new Uint8Array(64);
  f[14] = n;
  return f;
};

describe('sim links', () => {
  it('delivers a copy one hop after its line time, and counts frames and bytes at both ends', () => {
    const { s, link, got } = cable();
    const f = frame(1);
    expect(link.a.send(f)).to.equal(true);
    f[14] = 99; // the sender reuses its buffer
    s.runUntil(1);
    expect(got.b).to.deep.equal([{ atMs: simWireMs(64) + SIM_LINK_HOP_MS, byte: 1 }]);
    expect(simWireMs(64)).to.be.closeTo(0.000672, 1e-9); // 84 bytes on the wire at 1 Gb/s
    expect(link.a.counters.txFrames).to.equal(1);
    expect(link.b.counters.rxFrames).to.equal(1);
    expect(link.b.counters.rxBytes).to.equal(64);
  });

  it('takes carrier down at both ends when one end goes down (the far end a hop later) and drops frames meanwhile', () => {
    const { s, link, got } = cable();
    s.runUntil(4.99);
    link.a.send(frame(1)); // in flight when the cable is pulled: it left before the carrier news, arrives
    s.runUntil(5);
    link.b.send(frame(3)); // in flight towards the pulled end: dropped there
    link.a.setAdminUp(false);
    expect(got.carrierA).to.deep.equal([[0, true], [5, false]]);
    expect(link.b.send(frame(2))).to.equal(false);
    s.runUntil(6);
    expect(got.carrierB).to.deep.equal([[0, true], [5 + SIM_LINK_HOP_MS, false]]);
    expect(got.b.map((x) => x.byte)).to.deep.equal([1]);
    expect(got.a).to.deep.equal([]);
    expect(link.a.counters.rxDropsCarrier).to.equal(1);
    expect(link.b.counters.txDropsCarrier).to.equal(1);
    link.a.setAdminUp(true);
    s.runUntil(7);
    expect(got.carrierB.at(-1)).to.deep.equal([6 + SIM_LINK_HOP_MS, true]);
    expect(link.a.counters.carrierDowns).to.equal(1);
    expect(link.a.counters.carrierUps).to.equal(2);
  });

  it('sends a burst at the line rate, in order, and tail-drops past the queue bound', () => {
    const { s, link, got } = cable();
    s.runUntil(1);
    for (let i = 0; i < 3; i++) link.a.send(frame(i));
    s.runUntil(2);
    const w = simWireMs(64);
    expect(got.b.map((x) => x.byte)).to.deep.equal([0, 1, 2]);
    got.b.forEach((x, i) => expect(x.atMs, `frame ${i}`).to.be.closeTo(1 + (i + 1) * w + SIM_LINK_HOP_MS, 1e-9));
    // a burst longer than the queue bound: the frames past it are dropped and counted, none delayed beyond it
    const big = new Uint8Array(1514);
    const n = Math.ceil(SIM_LINK_MAX_QUEUE_MS / simWireMs(1514)) + 10;
    let sent = 0;
    for (let i = 0; i < n; i++) if (link.a.send(big)) sent++;
    expect(link.a.counters.txDropsQueueFull).to.equal(n - sent);
    expect(n - sent).to.be.within(9, 11);
    s.runUntil(2 + SIM_LINK_MAX_QUEUE_MS + 1);
    expect(link.b.counters.rxFrames).to.equal(3 + sent);
  });

  it('loses frames by its seed: the same seed loses the same frames, another seed others, only in the set direction', () => {
    const lostWith = (seed: number, direction: 'tx' | 'rx') => {
      const { s, link, got } = cable();
      link.a.impair({ lossPercent: 30, direction, seed }, 0);
      for (let i = 0; i < 200; i++) link.a.send(frame(i));
      for (let i = 0; i < 200; i++) link.b.send(frame(i));
      s.runUntil(1);
      const missing = (list: Array<{ byte: number }>) => {
        const have = new Set(list.map((x) => x.byte));
        return [...Array(200).keys()].filter((i) => !have.has(i % 256));
      };
      return { aToB: missing(got.b), bToA: missing(got.a) };
    };
    const one = lostWith(5, 'tx');
    expect(one.aToB.length).to.be.within(30, 90);
    expect(one.bToA).to.deep.equal([]);
    expect(lostWith(5, 'tx')).to.deep.equal(one);
    expect(lostWith(6, 'tx').aToB).to.not.deep.equal(one.aToB);
    const rx = lostWith(5, 'rx');
    expect(rx.aToB).to.deep.equal([]);
    expect(rx.bToA.length).to.be.within(30, 90);
  });

  it('delays frames on the virtual clock, in order, and logs the impairment', () => {
    const { s, link, got } = cable();
    link.a.impair({ delayMs: 40, jitterMs: 10, seed: 1 }, 0);
    for (let i = 0; i < 20; i++) link.a.send(frame(i));
    s.runUntil(100);
    expect(got.b.map((x) => x.byte)).to.deep.equal([...Array(20).keys()]);
    for (const x of got.b) expect(x.atMs).to.be.within(30, 50 + SIM_LINK_HOP_MS);
    expect(got.events).to.deep.equal(['impairment-set']);
  });

  it('flaps on schedule: down for downMs every periodMs, count times', () => {
    const { s, link, got } = cable();
    link.a.flap({ periodMs: 100, downMs: 30, count: 2 });
    s.runUntil(1000);
    expect(got.carrierA).to.deep.equal([[0, true], [0, false], [30, true], [100, false], [130, true]]);
    expect(got.events).to.deep.equal(['flap-set', 'flap-change', 'flap-change', 'flap-change', 'flap-change']);
    expect(link.carrierUp()).to.equal(true);
  });
});
