// Differential tests of the vSwitch's "run" fast paths (fromUplinkRun / repeatFromUplink /
// countRepeatFromUplink, fromPortRepeatable / countRepeatFromPort) against the per-frame entry points
// they replace (fromUplink, fromPort). Two identical vSwitches get the same frames: one frame by frame,
// the other the way EsxHost uses the run API; every delivery (port and bytes), every counter, the port
// status, the MAC table and the events must come out identical. Follows docs/vsphere-behaviour.md §1.4-§1.13,
// §2.2/§2.3 (VLAN tagging), §4 (security). Leaves out the host and the link codec (test/host/runs.test.ts).

import { expect } from 'chai';
import { VSwitch, type ForwardResult, type VSwitchConfig } from '../../lib/vswitch/vswitch.js';
import { ETHERTYPE_IPV4, buildFrame, ETHERTYPE_VLAN } from '../../lib/wire/ethernet.js';
import type { Mac } from '../../lib/wire/mac.js';
import { MAC } from './frames.js';

const CONFIG: VSwitchConfig = {
  name: 'vSwitch0',
  mtuBytes: 1500,
  uplinks: ['vmnic0', 'vmnic1'],
  portGroups: [
    { name: 'est', vlanId: 0 },
    { name: 'v10', vlanId: 10 },
    { name: 'v20', vlanId: 20 },
    { name: 'trunk', vlanId: 4095 },
    { name: 'open10', vlanId: 10, security: { allowPromiscuous: true, allowForgedTransmits: true, allowMacChanges: false } },
  ],
};

/** One frame of a run: the first 16 bytes fixed by (dst, src, vid), the payload carries `seq`. */
function runFrame(dst: Mac, src: Mac, seq: number, opts: { vid?: number; payloadBytes?: number } = {}): Buffer {
  const payload = Buffer.alloc(opts.payloadBytes ?? 100);
  // byte 0-1 of the payload are the same for every frame (they are part of the 16-byte run key when untagged)
  payload[0] = 0x45;
  payload[1] = 0x00;
  for (let i = 2; i < payload.length; i++) payload[i] = (i * 13 + seq * 7) & 0xff;
  if (payload.length >= 8) payload.writeUInt32BE(seq, 4);
  return buildFrame(
    opts.vid === undefined
      ? { dst, src, etherType: ETHERTYPE_IPV4 }
      : { dst, src, tag: { tpid: ETHERTYPE_VLAN, pcp: 0, dei: 0, vid: opts.vid }, etherType: ETHERTYPE_IPV4 },
    payload,
  );
}

function run(n: number, dst: Mac, src: Mac, opts: { vid?: number; payloadBytes?: number; sizes?: number[] } = {}): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) out.push(runFrame(dst, src, i, { ...opts, ...(opts.sizes ? { payloadBytes: opts.sizes[i % opts.sizes.length]! } : {}) }));
  return out;
}

/** Deliveries of one result as [portId, hex] (copied: the result and scratch bytes are reused). */
function deliveries(r: ForwardResult): Array<[number, string]> {
  const out: Array<[number, string]> = [];
  for (let i = 0; i < r.portCount; i++) out.push([r.portIds[i]!, Buffer.from(r.portFrames[i]!).toString('hex')]);
  return out;
}

function snapshot(vs: VSwitch) {
  return { counters: vs.counters(), ports: vs.ports(), macTable: vs.macTable(), events: vs.takeEvents() };
}

type Setup = (vs: VSwitch) => void;

function twin(setup: Setup, reuseOutputBuffers: boolean): { a: VSwitch; b: VSwitch } {
  const a = new VSwitch(CONFIG, { reuseOutputBuffers });
  const b = new VSwitch(CONFIG, { reuseOutputBuffers });
  setup(a);
  setup(b);
  return { a, b };
}

/** Feeds `frames` (arrived on `uplink`) to `a` frame by frame and to `b` as one run; compares everything. */
function compareUplinkRun(setup: Setup, uplink: number, frames: Buffer[], opts: { reuse: boolean; countOnly?: boolean }): { taken: boolean; delivered: Array<[number, string]> } {
  const { a, b } = twin(setup, opts.reuse);
  const perFrame: Array<[number, string]> = [];
  for (const f of frames) perFrame.push(...deliveries(a.fromUplink(uplink, f)));

  const viaRun: Array<[number, string]> = [];
  const maxFrameBytes = Math.max(...frames.map((f) => f.length));
  const taken = b.fromUplinkRun(uplink, frames[0]!, maxFrameBytes);
  viaRun.push(...deliveries(b.lastResult));
  if (taken) {
    const portId = b.lastResult.portIds[0]!;
    for (let i = 1; i < frames.length; i++) {
      if (opts.countOnly) {
        // a measuring sink reads the frame where it lies: only the counting is the vSwitch's
        b.countRepeatFromUplink(frames[i]!.length);
        viaRun.push([portId, '']);
      } else {
        viaRun.push([portId, Buffer.from(b.repeatFromUplink(frames[i]!)).toString('hex')]);
      }
    }
  } else {
    for (let i = 1; i < frames.length; i++) viaRun.push(...deliveries(b.fromUplink(uplink, frames[i]!)));
  }
  if (opts.countOnly && taken) {
    expect(viaRun.map(([p]) => p), 'one delivery per frame, to the same port').to.deep.equal(perFrame.map(([p]) => p));
    expect(snapshot(b)).to.deep.equal(snapshot(a));
    return { taken, delivered: perFrame };
  }
  expect(viaRun, 'deliveries (port, bytes) in order').to.deep.equal(perFrame);
  expect(snapshot(b)).to.deep.equal(snapshot(a));
  return { taken, delivered: perFrame };
}

describe('vSwitch runs: fromUplinkRun/repeatFromUplink equal fromUplink frame by frame', () => {
  for (const reuse of [true, false]) {
    const mode = reuse ? 'scratch buffers' : 'allocating';
    describe(`(${mode})`, () => {
      it('§2.3 a run of tagged frames to a VST port is taken whole; each frame untagged as fromUplink does', () => {
        let port = 0;
        const r = compareUplinkRun((vs) => {
          port = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
          vs.connectPort({ portGroup: 'v20', initialMac: MAC.vm2 });
        }, 0, run(16, MAC.vm1, MAC.remote, { vid: 10, sizes: [100, 300, 46, 1400, 30] }), { reuse });
        expect(r.taken).to.equal(true);
        expect(r.delivered).to.have.length(16);
        expect(r.delivered.every(([p]) => p === port)).to.equal(true);
      });

      it('§2.3 a run of short tagged frames to a VST port: untagged copies padded to 60 bytes, rxBytes equal (countRepeatFromUplink too)', () => {
        const setup: Setup = (vs) => void vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
        const frames = run(8, MAC.vm1, MAC.remote, { vid: 10, sizes: [10, 20, 30, 40, 42, 43] });
        expect(compareUplinkRun(setup, 0, frames, { reuse }).taken).to.equal(true);
        expect(compareUplinkRun(setup, 0, frames, { reuse, countOnly: true }).taken).to.equal(true);
      });

      it('§2.2 a run of tagged frames to a VGT (4095) port is taken whole; bytes unchanged', () => {
        const frames = run(12, MAC.vm3, MAC.remote, { vid: 20, sizes: [64, 700] });
        const r = compareUplinkRun((vs) => {
          vs.connectPort({ portGroup: 'v20', initialMac: MAC.vm1 });
          vs.connectPort({ portGroup: 'trunk', initialMac: MAC.vm3 });
        }, 0, frames, { reuse });
        expect(r.taken).to.equal(true);
        expect(r.delivered.map(([, hex]) => hex)).to.deep.equal(frames.map((f) => f.toString('hex')));
      });

      it('§2.1 a run of untagged frames to a VLAN 0 port group is taken whole; bytes unchanged', () => {
        const frames = run(10, MAC.vm2, MAC.remote, { sizes: [46, 1000, 1500] });
        const r = compareUplinkRun((vs) => void vs.connectPort({ portGroup: 'est', initialMac: MAC.vm2 }), 0, frames, { reuse });
        expect(r.taken).to.equal(true);
        expect(r.delivered.map(([, hex]) => hex)).to.deep.equal(frames.map((f) => f.toString('hex')));
      });

      it('§2.3 a run of priority-tagged frames (VID 0) to a VLAN 0 port: untagged like fromUplink, counters equal (countRepeatFromUplink too)', () => {
        const setup: Setup = (vs) => void vs.connectPort({ portGroup: 'est', initialMac: MAC.vm2 });
        const frames = run(6, MAC.vm2, MAC.remote, { vid: 0, sizes: [100, 20] });
        expect(compareUplinkRun(setup, 0, frames, { reuse }).taken).to.equal(true);
        expect(compareUplinkRun(setup, 0, frames, { reuse, countOnly: true }).taken).to.equal(true);
      });

      it('countRepeatFromUplink leaves every counter as repeated fromUplink calls (VST, VGT, VLAN 0)', () => {
        const setup: Setup = (vs) => {
          vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
          vs.connectPort({ portGroup: 'trunk', initialMac: MAC.vm3 });
          vs.connectPort({ portGroup: 'est', initialMac: MAC.vm2 });
        };
        expect(compareUplinkRun(setup, 0, run(9, MAC.vm1, MAC.remote, { vid: 10, sizes: [80, 900, 33] }), { reuse, countOnly: true }).taken).to.equal(true);
        expect(compareUplinkRun(setup, 0, run(9, MAC.vm3, MAC.remote, { vid: 10, sizes: [80, 900, 33] }), { reuse, countOnly: true }).taken).to.equal(true);
        expect(compareUplinkRun(setup, 0, run(9, MAC.vm2, MAC.remote, { sizes: [80, 900, 33] }), { reuse, countOnly: true }).taken).to.equal(true);
      });
    });
  }

  describe('runs that must not be taken whole (fromUplinkRun false), then frame by frame', () => {
    for (const reuse of [true, false]) {
      const mode = reuse ? 'scratch buffers' : 'allocating';
      const both: Setup = (vs) => {
        vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
        vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm2 });
        vs.connectPort({ portGroup: 'trunk', initialMac: MAC.vm3 });
      };

      it(`§1.8 broadcast destination (${mode})`, () => {
        const r = compareUplinkRun(both, 0, run(5, MAC.broadcast, MAC.remote, { vid: 10 }), { reuse });
        expect(r.taken).to.equal(false);
        expect(r.delivered).to.have.length(15);
      });

      it(`§1.9 multicast destination, one subscribed port (${mode})`, () => {
        const r = compareUplinkRun((vs) => {
          const p = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
          vs.setMulticastFilter(p, [MAC.mcast1]);
        }, 0, run(5, MAC.mcast1, MAC.remote, { vid: 10 }), { reuse });
        expect(r.taken).to.equal(false);
        expect(r.delivered).to.have.length(5);
      });

      it(`§1.6 unknown unicast (dropped) (${mode})`, () => {
        const r = compareUplinkRun(both, 0, run(5, MAC.unknown, MAC.remote, { vid: 10 }), { reuse });
        expect(r.taken).to.equal(false);
        expect(r.delivered).to.have.length(0);
      });

      it(`§1.6 §4.2 a promiscuous port in the VLAN (two deliveries per frame) (${mode})`, () => {
        const r = compareUplinkRun((vs) => {
          vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
          const p = vs.connectPort({ portGroup: 'open10', initialMac: MAC.vm4 });
          vs.setGuestPromiscuous(p, true);
        }, 0, run(6, MAC.vm1, MAC.remote, { vid: 10 }), { reuse });
        expect(r.taken).to.equal(false);
        expect(r.delivered).to.have.length(12);
      });

      it(`§1.13 a frame larger than the MTU in the run (maxFrameBytes) (${mode})`, () => {
        const frames = run(6, MAC.vm1, MAC.remote, { vid: 10, sizes: [200, 200, 1501, 200] });
        const r = compareUplinkRun(both, 0, frames, { reuse });
        expect(r.taken).to.equal(false);
        expect(r.delivered).to.have.length(5);
      });

      it(`§1.10 reverse path: the run arrives on the standby uplink (${mode})`, () => {
        const r = compareUplinkRun(both, 1, run(5, MAC.vm1, MAC.remote, { vid: 10 }), { reuse });
        expect(r.taken).to.equal(false);
        expect(r.delivered).to.have.length(0);
      });

      it(`§1.10 own-MAC reflection: the run's source is a local port's MAC (${mode})`, () => {
        const r = compareUplinkRun(both, 0, run(5, MAC.vm1, MAC.vm2, { vid: 10 }), { reuse });
        expect(r.taken).to.equal(false);
      });

      it(`a blocked destination port (${mode})`, () => {
        const r = compareUplinkRun((vs) => {
          const p = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
          vs.setPortBlocked(p, true);
        }, 0, run(5, MAC.vm1, MAC.remote, { vid: 10 }), { reuse });
        expect(r.taken).to.equal(false);
        expect(r.delivered).to.have.length(0);
      });

      it(`§4.3 a port whose MAC change was rejected (${mode})`, () => {
        const r = compareUplinkRun((vs) => {
          const p = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
          vs.setEffectiveMac(p, MAC.vm5);
        }, 0, run(5, MAC.vm1, MAC.remote, { vid: 10 }), { reuse });
        expect(r.taken).to.equal(false);
      });

      it(`a run on an uplink that is down (${mode})`, () => {
        const r = compareUplinkRun((vs) => {
          vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
          vs.setUplinkUp(0, false);
          vs.setUplinkUp(1, false);
        }, 0, run(5, MAC.vm1, MAC.remote, { vid: 10 }), { reuse });
        expect(r.taken).to.equal(false);
      });

      it(`§2.3 a run of VLAN 4095 tagged frames (${mode})`, () => {
        const r = compareUplinkRun(both, 0, run(4, MAC.vm3, MAC.remote, { vid: 4095 }), { reuse });
        expect(r.taken).to.equal(false);
      });

      it(`§1.3 a run of BPDUs (${mode})`, () => {
        const r = compareUplinkRun(both, 0, run(4, MAC.bpdu, MAC.remote), { reuse });
        expect(r.taken).to.equal(false);
      });
    }
  });

  it('§1.6 §4.2 unknown unicast seen by exactly one promiscuous port: one delivery, taken whole, equal', () => {
    const r = compareUplinkRun((vs) => {
      const p = vs.connectPort({ portGroup: 'open10', initialMac: MAC.vm4 });
      vs.setGuestPromiscuous(p, true);
    }, 0, run(6, MAC.unknown, MAC.remote, { vid: 10 }), { reuse: true });
    expect(r.taken).to.equal(true);
    expect(r.delivered).to.have.length(6);
  });
});

/** Feeds `frames` from `portOf(vs)` to `a` with fromPort each and to `b` as the host's stream fast path does. */
function comparePortRepeat(setup: (vs: VSwitch) => number, frames: Buffer[], reuse = true): { repeatable: boolean; results: Array<{ mask: number; ports: number; drop: string | null }> } {
  const a = new VSwitch(CONFIG, { reuseOutputBuffers: reuse });
  const b = new VSwitch(CONFIG, { reuseOutputBuffers: reuse });
  const pa = setup(a);
  const pb = setup(b);
  const results: Array<{ mask: number; ports: number; drop: string | null }> = [];
  for (const f of frames) {
    const r = a.fromPort(pa, f);
    results.push({ mask: r.uplinkMask, ports: r.portCount, drop: r.dropReason });
  }
  const first = b.fromPort(pb, frames[0]!);
  const firstOut = { mask: first.uplinkMask, ports: first.portCount, drop: first.dropReason };
  expect(firstOut).to.deep.equal(results[0]);
  const repeatable = b.fromPortRepeatable(pb);
  if (repeatable) {
    const mask = first.uplinkMask;
    for (let i = 1; i < frames.length; i++) b.countRepeatFromPort(frames[i]!.length, mask);
    // the promise behind a repeat: every per-frame decision is that of the first frame
    expect(results.every((r) => r.mask === mask && r.ports === 0 && r.drop === null), 'per-frame decisions equal the first').to.equal(true);
  } else {
    for (let i = 1; i < frames.length; i++) b.fromPort(pb, frames[i]!);
  }
  expect(snapshot(b)).to.deep.equal(snapshot(a));
  return { repeatable, results };
}

describe('vSwitch runs: fromPortRepeatable/countRepeatFromPort equal fromPort frame by frame', () => {
  it('§1.5 §2.2 unknown unicast from a VST port (out of the uplink, re-tagged): repeatable, counters equal', () => {
    const r = comparePortRepeat((vs) => vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 }), run(20, MAC.remote, MAC.vm1, { sizes: [100, 1400, 46] }));
    expect(r.repeatable).to.equal(true);
    expect(r.results[0]!.mask).to.equal(1);
  });

  it('§2.2 a guest-tagged stream from a VGT port: repeatable, counters equal (allocating mode too)', () => {
    for (const reuse of [true, false]) {
      const r = comparePortRepeat((vs) => vs.connectPort({ portGroup: 'trunk', initialMac: MAC.vm3 }), run(10, MAC.remote, MAC.vm3, { vid: 20 }), reuse);
      expect(r.repeatable).to.equal(true);
    }
  });

  it('§2.1 an untagged stream from a VLAN 0 port: repeatable, counters equal', () => {
    const r = comparePortRepeat((vs) => vs.connectPort({ portGroup: 'est', initialMac: MAC.vm2 }), run(10, MAC.remote, MAC.vm2));
    expect(r.repeatable).to.equal(true);
  });

  it('§1.7 a broadcast with no other port in the VLAN: repeatable (uplink only); with one: not', () => {
    expect(comparePortRepeat((vs) => vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 }), run(5, MAC.broadcast, MAC.vm1)).repeatable).to.equal(true);
    expect(comparePortRepeat((vs) => {
      vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm2 });
      return vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
    }, run(5, MAC.broadcast, MAC.vm1)).repeatable).to.equal(false);
  });

  it('§1.4 local delivery (known unicast to a port on the same vSwitch): not repeatable', () => {
    const r = comparePortRepeat((vs) => {
      vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm2 });
      return vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
    }, run(5, MAC.vm2, MAC.vm1));
    expect(r.repeatable).to.equal(false);
  });

  it('§4.2 unknown unicast with a promiscuous port in the VLAN (a local copy): not repeatable', () => {
    const r = comparePortRepeat((vs) => {
      const p = vs.connectPort({ portGroup: 'open10', initialMac: MAC.vm4 });
      vs.setGuestPromiscuous(p, true);
      return vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
    }, run(5, MAC.remote, MAC.vm1));
    expect(r.repeatable).to.equal(false);
  });

  it('§4.2 unknown unicast with a blocked promiscuous port in the VLAN (a refusal noted): not repeatable', () => {
    const r = comparePortRepeat((vs) => {
      const p = vs.connectPort({ portGroup: 'open10', initialMac: MAC.vm4 });
      vs.setGuestPromiscuous(p, true);
      vs.setPortBlocked(p, true);
      return vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
    }, run(5, MAC.remote, MAC.vm1));
    expect(r.repeatable).to.equal(false);
  });

  it('§1.5 no uplink up (dropped, no_uplink): not repeatable', () => {
    const r = comparePortRepeat((vs) => {
      vs.setUplinkUp(0, false);
      vs.setUplinkUp(1, false);
      return vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
    }, run(5, MAC.remote, MAC.vm1));
    expect(r.repeatable).to.equal(false);
    expect(r.results[0]!.drop).to.equal('no_uplink');
  });

  it('§4.4 forged transmits rejected: not repeatable', () => {
    const r = comparePortRepeat((vs) => vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 }), run(5, MAC.remote, MAC.vm5));
    expect(r.repeatable).to.equal(false);
    expect(r.results[0]!.drop).to.equal('forged_transmit');
  });

  it('§2.4 a guest tag on a VST port, a blocked port, a frame over the MTU: not repeatable', () => {
    expect(comparePortRepeat((vs) => vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 }), run(4, MAC.remote, MAC.vm1, { vid: 10 })).repeatable).to.equal(false);
    expect(comparePortRepeat((vs) => {
      const p = vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 });
      vs.setPortBlocked(p, true);
      return p;
    }, run(4, MAC.remote, MAC.vm1)).repeatable).to.equal(false);
    expect(comparePortRepeat((vs) => vs.connectPort({ portGroup: 'v10', initialMac: MAC.vm1 }), run(4, MAC.remote, MAC.vm1, { payloadBytes: 1501 })).repeatable).to.equal(false);
  });
});
