// lib/guests/tap-framing.ts: what hostd writes to a netns guest's TAP helper: frames and control records
// gathered into one buffer per flush, parsed back (frames) with the stream parser when the buffer is cut
// at every byte; a full batch is handed over before the record that does not fit; a frame longer than a
// batch travels in a buffer of its own. Also the choice of attach mode ($VFAB_GUEST_ATTACH).
import { expect } from 'chai';
import { TapBatcher, TAP_CONTROL_CARRIER_DOWN, TAP_CONTROL_CARRIER_UP } from '../../lib/guests/tap-framing.js';
import { QemuStreamParser, encodeQemuStreamFrame } from '../../lib/guests/qemu-stream.js';
import { guestAttachMode } from '../../daemons/guests/netns.js';

const frame = (n: number, fill: number) => Buffer.alloc(n, fill);

describe('guests/tap-framing', () => {
  it('gathers frames into one buffer that parses back frame by frame, cut at every byte', () => {
    const b = new TapBatcher();
    const frames = [frame(60, 1), frame(1514, 2), frame(14, 3)];
    const full: Buffer[] = [];
    for (const f of frames) b.addFrame(f, (x) => full.push(x));
    expect(full).to.deep.equal([]);
    expect(b.records).to.equal(3);
    const out = b.take()!;
    expect(out).to.deep.equal(Buffer.concat(frames.map(encodeQemuStreamFrame)));
    expect(b.take(), 'nothing left after take').to.equal(undefined);
    for (let cut = 0; cut <= out.length; cut++) {
      const p = new QemuStreamParser();
      const got: string[] = [];
      for (const c of [out.subarray(0, cut), out.subarray(cut)]) expect(p.push(c, (f) => got.push(Buffer.from(f).toString('hex')))).to.equal(true);
      expect(got, `cut at ${cut}`).to.deep.equal(frames.map((f) => f.toString('hex')));
    }
  });

  it('copies the frame: the caller may reuse its buffer at once', () => {
    const b = new TapBatcher();
    const f = frame(20, 7);
    b.addFrame(f, () => undefined);
    f.fill(0);
    expect(b.take()!.subarray(4)).to.deep.equal(frame(20, 7));
  });

  it('control records are a prefix with the top bit set and no body, in order with the frames', () => {
    const b = new TapBatcher();
    b.addFrame(frame(14, 9), () => undefined);
    b.addControl(TAP_CONTROL_CARRIER_DOWN, () => undefined);
    b.addControl(TAP_CONTROL_CARRIER_UP, () => undefined);
    const out = b.take()!;
    expect(out.length).to.equal(4 + 14 + 4 + 4);
    expect(out.readUInt32BE(18)).to.equal(0x8000_0000);
    expect(out.readUInt32BE(22)).to.equal(0x8000_0001);
  });

  it('hands over a full batch before the record that does not fit; never more than the bound in one buffer', () => {
    const bound = 1000;
    const b = new TapBatcher(bound);
    const full: Buffer[] = [];
    for (let i = 0; i < 10; i++) b.addFrame(frame(196, i), (x) => full.push(x));
    expect(full.length).to.equal(1);
    expect(full[0]!.length).to.be.at.most(bound);
    expect(full[0]!.length).to.equal(5 * 200);
    expect(b.take()!.length).to.equal(5 * 200);
    // a frame longer than a batch: a buffer of its own
    b.addFrame(frame(50, 1), (x) => full.push(x));
    b.addFrame(frame(3000, 2), (x) => full.push(x));
    expect(full.length).to.equal(2);
    expect(b.take()!.length).to.equal(3004);
  });
});

describe('guests/netns: attach mode', () => {
  it('VFAB_GUEST_ATTACH picks tap or vxlan; unset means tap where the helper can run, else vxlan; anything else is refused', () => {
    expect(guestAttachMode({ VFAB_GUEST_ATTACH: 'vxlan' }, () => true)).to.equal('vxlan');
    expect(guestAttachMode({ VFAB_GUEST_ATTACH: 'tap' }, () => false)).to.equal('tap');
    expect(guestAttachMode({}, () => true)).to.equal('tap');
    expect(guestAttachMode({}, () => false)).to.equal('vxlan');
    expect(() => guestAttachMode({ VFAB_GUEST_ATTACH: 'veth' }, () => true)).to.throw(/VFAB_GUEST_ATTACH "veth": use tap or vxlan/);
  });
});
