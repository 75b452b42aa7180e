// lib/link/frame-link.ts: an EthernetLink over a one-frame-at-a-time transport (VXLAN, QEMU backends).
import { expect } from 'chai';
import { FrameLink, type FrameTransport } from '../../lib/link/frame-link.js';
import { LinkEncoder } from '../../lib/link/codec.js';
import { MAX_FRAME_BYTES } from '../../lib/wire/ethernet.js';

function transport(buffered = 0): FrameTransport & { sent: Buffer[]; buffered: number } {
  const t = {
    sent: [] as Buffer[],
    buffered,
    sendFrame(f: Uint8Array) {
      t.sent.push(Buffer.from(f));
    },
    bufferedBytes: () => t.buffered,
  };
  return t;
}
const frame = (n: number, fill = 1) => Buffer.alloc(n, fill);

describe('link/frame-link', () => {
  it('carrier comes up when a transport attaches and admin is up; frames pass both ways and are counted', () => {
    const link = new FrameLink('g.nic0');
    const changes: Array<[boolean, string]> = [];
    link.onCarrier((up, why) => changes.push([up, why]));
    expect(link.carrier).to.equal(false);
    expect(link.send(frame(60))).to.equal(false);
    expect(link.counters.txDropsCarrier).to.equal(1);
    const t = transport();
    link.attachTransport(t);
    expect(link.carrier).to.equal(true);
    expect(link.send(frame(60, 7))).to.equal(true);
    expect(t.sent).to.have.length(1);
    const got: Buffer[] = [];
    link.onFrameView((f) => got.push(Buffer.from(f)));
    link.receiveFrame(frame(64, 9));
    expect(got[0]!.equals(frame(64, 9))).to.equal(true);
    expect(link.counters).to.include({ txFrames: 1, txBytes: 60, rxFrames: 1, rxBytes: 64, carrierUps: 1, connects: 1 });
    expect(changes).to.deep.equal([[true, 'connected']]);
  });

  it('admin down stops frames both ways (counted) and says why; up again restores', () => {
    const link = new FrameLink('x');
    const t = transport();
    link.attachTransport(t);
    const changes: string[] = [];
    link.onCarrier((up, why) => changes.push(`${up}:${why}`));
    let rx = 0;
    link.onFrameView(() => rx++);
    link.setAdminUp(false);
    expect(link.send(frame(60))).to.equal(false);
    link.receiveFrame(frame(60));
    expect(rx).to.equal(0);
    expect(link.counters.rxDropsCarrier).to.equal(1);
    link.setAdminUp(true);
    link.receiveFrame(frame(60));
    expect(rx).to.equal(1);
    expect(changes).to.deep.equal(['false:admin-down', 'true:admin-up']);
  });

  it('the far end going away (QEMU disconnects) drops carrier; a stale transport is ignored', () => {
    const link = new FrameLink('q');
    const a = transport();
    const b = transport();
    link.attachTransport(a);
    link.attachTransport(b);
    link.detachTransport('peer-gone', a);
    expect(link.carrier).to.equal(true);
    link.setFarEndUp(false, 'peer-admin-down');
    expect(link.carrier).to.equal(false);
    link.setFarEndUp(true, 'peer-admin-up');
    link.detachTransport('peer-gone');
    expect(link.carrier).to.equal(false);
  });

  it('wrong sizes are dropped and counted, never thrown; the queue bound tail-drops', () => {
    const link = new FrameLink('s', { queueBytes: 1000 });
    const t = transport(950);
    link.attachTransport(t);
    link.receiveFrame(frame(13));
    link.receiveFrame(frame(MAX_FRAME_BYTES + 1));
    link.receiveMalformed();
    expect(link.counters).to.include({ rxDropsMalformed: 2, rxDropsOversize: 1, rxFrames: 0 });
    expect(link.send(frame(13))).to.equal(false);
    expect(link.send(frame(MAX_FRAME_BYTES + 1))).to.equal(false);
    expect(link.counters.txDropsInvalid).to.equal(2);
    expect(link.send(frame(60))).to.equal(false);
    expect(link.counters.txDropsQueueFull).to.equal(1);
    t.buffered = 0;
    expect(link.send(frame(60))).to.equal(true);
  });

  it('sendRun sends every frame of a run one by one', () => {
    const link = new FrameLink('r');
    const t = transport();
    link.attachTransport(t);
    const enc = new LinkEncoder();
    for (let i = 0; i < 3; i++) enc.appendFrame(frame(60, i + 1));
    const records = Buffer.concat(enc.take());
    expect(link.sendRun(records, 3, 60)).to.equal(3);
    expect(t.sent.map((f) => f[0])).to.deep.equal([1, 2, 3]);
  });

  it('close drops carrier once and refuses a later transport', () => {
    let closed = 0;
    const link = new FrameLink('c', { onClose: () => closed++ });
    link.attachTransport(transport());
    link.close();
    link.close();
    expect(closed).to.equal(1);
    link.attachTransport(transport());
    expect(link.carrier).to.equal(false);
  });
});
