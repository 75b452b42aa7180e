// PhysicalSwitch.receiveRun (the same-header fast path switchd uses for runs from lib/link/codec.ts)
// against receive() frame by frame: two identical switches get the same frames, one through each entry
// point, and must end with the same deliveries, events, counters and MAC table. Also pins when a run is
// NOT taken whole (runFrames = 1): flooding, a port-channel with several members, an MTU breach in the
// run, a source that cannot be learned, bytes that change on the way (re-tag). Leaves out switchd's I/O.

import { expect } from 'chai';
import { ManualClock } from '../../lib/clock.js';
import type { PhysicalSwitchConfig } from '../../lib/pswitch/config.js';
import { PhysicalSwitch, type SwitchEvent, type SwitchResult } from '../../lib/pswitch/pswitch.js';
import { BCAST, MAC_A, MAC_B, frame } from './frames.js';

interface Outcome {
  deliveries: Array<[number, string]>;
  events: SwitchEvent[];
  runFrames: number[];
}

function take(r: SwitchResult, out: Outcome): void {
  for (let k = 0; k < r.count; k++) out.deliveries.push([r.ports[k]!, Buffer.from(r.frames[k]!).toString('hex')]);
  if (r.events) out.events.push(...r.events);
}

/** The same switch twice, with every port up. */
function pair(config: PhysicalSwitchConfig): [PhysicalSwitch, PhysicalSwitch] {
  const make = () => {
    const sw = new PhysicalSwitch(config, new ManualClock(1000));
    for (let i = 0; i < sw.portCount(); i++) sw.setLinkUp(i, true);
    return sw;
  };
  return [make(), make()];
}

function perFrame(sw: PhysicalSwitch, port: number, frames: Buffer[], frameNo: number): Outcome {
  const out: Outcome = { deliveries: [], events: [], runFrames: [] };
  frames.forEach((f, i) => take(sw.receive(port, f, frameNo + i), out));
  return out;
}

/** What switchd does with a run: receiveRun, then the whole run out of ports[0], or the rest one by one. */
function asRun(sw: PhysicalSwitch, port: number, frames: Buffer[], frameNo: number): Outcome {
  const out: Outcome = { deliveries: [], events: [], runFrames: [] };
  const bytes = frames.reduce((a, f) => a + f.length, 0);
  const max = Math.max(...frames.map((f) => f.length));
  const r = sw.receiveRun(port, frames[0]!, frames.length, bytes, max, frameNo);
  out.runFrames.push(r.runFrames);
  if (r.runFrames === frames.length) {
    expect(r.count).to.equal(1);
    for (const f of frames) out.deliveries.push([r.ports[0]!, f.toString('hex')]);
    if (r.events) out.events.push(...r.events);
    return out;
  }
  expect(r.runFrames).to.equal(1);
  take(r, out);
  frames.slice(1).forEach((f, i) => take(sw.receive(port, f, frameNo + 1 + i), out));
  return out;
}

function expectSameState(a: PhysicalSwitch, b: PhysicalSwitch): void {
  expect(b.counters()).to.deep.equal(a.counters());
  for (let i = 0; i < a.portCount(); i++) expect(b.portCounters(i), `port ${i}`).to.deep.equal(a.portCounters(i));
  expect(b.macTable()).to.deep.equal(a.macTable());
}

/** Frames with one header (the first 16 bytes) and payloads (and lengths) that differ. */
function run(dst: string, src: string, n: number, opts: { vid?: number; sizes?: number[] } = {}): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const f = frame(dst, src, { ...(opts.vid !== undefined ? { vid: opts.vid } : {}), payloadBytes: opts.sizes?.[i % opts.sizes.length] ?? 46 });
    f[f.length - 1] = i; // payloads differ
    out.push(f);
  }
  return out;
}

function check(config: PhysicalSwitchConfig, prepare: (sw: PhysicalSwitch) => void, port: number, frames: Buffer[]): Outcome {
  const [a, b] = pair(config);
  prepare(a);
  prepare(b);
  const expected = perFrame(a, port, frames, 10);
  const actual = asRun(b, port, frames, 10);
  expect(actual.deliveries).to.deep.equal(expected.deliveries);
  expect(actual.events).to.deep.equal(expected.events);
  expectSameState(a, b);
  return actual;
}

const trunks: PhysicalSwitchConfig = {
  name: 'sw1',
  ports: [
    { name: 'Gi1/0/1', mode: 'trunk', allowedVlans: [10, 20] },
    { name: 'Gi1/0/2', mode: 'trunk', allowedVlans: [10, 20] },
    { name: 'Gi1/0/3', mode: 'access', accessVlan: 10 },
  ],
};

/** B has spoken on Gi1/0/2 (VLAN 10, tagged); nobody on Gi1/0/3 yet. */
const learnB = (sw: PhysicalSwitch) => sw.receive(1, frame(MAC_A, MAC_B, { vid: 10 }));

describe('pswitch: receiveRun is receive() for every frame of a same-header run', () => {
  it('known unicast trunk to trunk, same VLAN: taken whole, bytes unchanged, counters and aging as per frame', () => {
    const learnBoth = (sw: PhysicalSwitch) => {
      learnB(sw);
      sw.receive(0, frame(MAC_B, MAC_A, { vid: 10 }));
    };
    const out = check(trunks, learnBoth, 0, run(MAC_B, MAC_A, 20, { vid: 10, sizes: [46, 100, 1000] }));
    expect(out.runFrames).to.deep.equal([20]);
  });

  it('the run\'s first frame learns its source (an event): that frame is decided alone, the rest one by one', () => {
    expect(check(trunks, learnB, 0, run(MAC_B, MAC_A, 5, { vid: 10 })).runFrames).to.deep.equal([1]);
  });

  it('the source learned by the run: its entry and the mac-learned event match', () => {
    const [a, b] = pair(trunks);
    learnB(a);
    learnB(b);
    const frames = run(MAC_B, MAC_A, 5, { vid: 10 });
    const expected = perFrame(a, 0, frames, 1);
    const actual = asRun(b, 0, frames, 1);
    expect(actual.events.map((e) => e.type)).to.deep.equal(['mac-learned']);
    expect(actual.events).to.deep.equal(expected.events);
    expectSameState(a, b);
  });

  it('a MAC move caused by the run\'s first frame: the event names frame 10 and the rest follow one by one', () => {
    const [a, b] = pair(trunks);
    for (const sw of [a, b]) {
      learnB(sw);
      sw.receive(1, frame(MAC_B, MAC_A, { vid: 10 })); // A learned on Gi1/0/2 first
    }
    const frames = run(MAC_B, MAC_A, 6, { vid: 10 }); // now from Gi1/0/1: a move... but B is on Gi1/0/2
    const expected = perFrame(a, 0, frames, 10);
    const actual = asRun(b, 0, frames, 10);
    expect(actual.runFrames).to.deep.equal([1]);
    expect(actual.events.find((e) => e.type === 'mac-move')).to.include({ frameNo: 10, fromPort: 'Gi1/0/2', toPort: 'Gi1/0/1' });
    expect(actual.deliveries).to.deep.equal(expected.deliveries);
    expectSameState(a, b);
  });

  it('not taken whole: unknown unicast and broadcast flood per frame', () => {
    expect(check(trunks, () => {}, 0, run(MAC_B, MAC_A, 4, { vid: 10 })).runFrames).to.deep.equal([1]);
    expect(check(trunks, learnB, 0, run(BCAST, MAC_A, 4, { vid: 10 })).runFrames).to.deep.equal([1]);
  });

  it('not taken whole: the egress re-tags (trunk VLAN 10 to an access port): bytes change', () => {
    const learnOnAccess = (sw: PhysicalSwitch) => sw.receive(2, frame(MAC_A, MAC_B));
    expect(check(trunks, learnOnAccess, 0, run(MAC_B, MAC_A, 4, { vid: 10 })).runFrames).to.deep.equal([1]);
  });

  it('not taken whole: a frame in the run is over the egress MTU (dropped on its own, as per frame)', () => {
    const small: PhysicalSwitchConfig = { ...trunks, ports: trunks.ports.map((p, i) => (i === 1 ? { ...p, mtuBytes: 576 } : p)) };
    const learnBoth = (sw: PhysicalSwitch) => {
      learnB(sw);
      sw.receive(0, frame(MAC_B, MAC_A, { vid: 10 }));
    };
    const out = check(small, learnBoth, 0, run(MAC_B, MAC_A, 6, { vid: 10, sizes: [46, 1000] }));
    expect(out.runFrames).to.deep.equal([1]);
    expect(out.deliveries).to.have.length(3);
  });

  it('not taken whole: the egress is a port-channel with two members (the hash reads more than the run key)', () => {
    const po: PhysicalSwitchConfig = {
      name: 'sw1',
      ports: [
        { name: 'Gi1/0/1', mode: 'trunk' },
        { name: 'Gi1/0/2', mode: 'trunk' },
        { name: 'Gi1/0/3', mode: 'trunk' },
      ],
      portChannels: [{ name: 'Po1', members: ['Gi1/0/2', 'Gi1/0/3'], mode: 'on', loadBalance: 'src-dst-ip' }],
    };
    // one run key (addresses, tag), IPv4 sources that differ past it
    const frames = Array.from({ length: 8 }, (_, i) => frame(MAC_B, MAC_A, { vid: 10, srcIp: `192.0.2.${i + 1}`, dstIp: '192.0.2.200' }));
    expect(new Set(frames.map((f) => f.subarray(0, 16).toString('hex'))).size).to.equal(1);
    const out = check(po, (sw) => sw.receive(1, frame(MAC_A, MAC_B, { vid: 10 })), 0, frames);
    expect(out.runFrames).to.deep.equal([1]);
    expect(new Set(out.deliveries.map((d) => d[0])).size, 'the hash spreads the run over both members').to.equal(2);
  });

  it('not taken whole: a zero source MAC (counted as a drop per frame, never learned)', () => {
    const frames = run(MAC_B, '00:00:00:00:00:00', 5, { vid: 10 });
    expect(check(trunks, learnB, 0, frames).runFrames).to.deep.equal([1]);
  });

  it('a run whose first frame is dropped (VLAN not allowed) drops every frame as per frame', () => {
    expect(check(trunks, learnB, 0, run(MAC_B, MAC_A, 4, { vid: 30 })).runFrames).to.deep.equal([1]);
  });
});
