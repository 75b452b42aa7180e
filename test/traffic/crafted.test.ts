// Tests for lib/traffic/crafted.ts: hex frames, frames from fields (tag, EtherType, payload, size), the
// plan that cuts a paced send into bounded requests, and the checks of an untrusted inject body.

import { expect } from 'chai';
import {
  parseFrameHex, frameFromFields, planInjectRequests, checkInjectBody,
  MAX_INJECT_FRAMES_PER_REQUEST, MAX_INJECT_BYTES_PER_REQUEST, MAX_INJECT_REQUEST_SPAN_MS, MAX_SEND_FRAMES, MAX_SEND_DURATION_MS,
} from '../../lib/traffic/crafted.js';
import { MAX_FRAME_BYTES } from '../../lib/wire/ethernet.js';
import { parseMac } from '../../lib/wire/mac.js';

const codeOf = (f: () => unknown) => {
  try {
    f();
    return 'no error';
  } catch (e) {
    return (e as { code?: string }).code;
  }
};
const DST = parseMac('00:50:56:00:00:12');
const SRC = parseMac('00:50:56:3f:ee:01');

describe('traffic: crafted frames', () => {
  it('reads a frame as hex (spaces, colons, 0x allowed) and refuses bad text and sizes', () => {
    expect(parseFrameHex('0x ffff:ffff ffff 0050 5600 0001 88b5', 'f').toString('hex')).to.equal('ffffffffffff00505600000188b5');
    expect(codeOf(() => parseFrameHex('abc', 'f'))).to.equal('VFAB_BAD_FRAME');
    expect(codeOf(() => parseFrameHex('zz'.repeat(14), 'f'))).to.equal('VFAB_BAD_FRAME');
    expect(codeOf(() => parseFrameHex('00'.repeat(13), 'f'))).to.equal('VFAB_BAD_FRAME');
    expect(codeOf(() => parseFrameHex('00'.repeat(14), 'f'))).to.equal('no error');
    expect(codeOf(() => parseFrameHex('00'.repeat(MAX_FRAME_BYTES), 'f'))).to.equal('no error');
    expect(codeOf(() => parseFrameHex('00'.repeat(MAX_FRAME_BYTES + 1), 'f'))).to.equal('VFAB_BAD_FRAME');
  });

  it('builds a frame from fields: minimum size, default EtherType 0x88b5', () => {
    const f = frameFromFields({ dst: DST, src: SRC });
    expect(f.length).to.equal(60);
    expect(f.subarray(0, 14).toString('hex')).to.equal('005056000012' + '0050563fee01' + '88b5');
  });

  it('builds a tagged frame with payload, padded to the size asked for', () => {
    const f = frameFromFields({ dst: DST, src: SRC, vlan: 30, etherType: 0x0800, payload: Buffer.from('cafe', 'hex'), sizeBytes: 1518 });
    expect(f.length).to.equal(1518);
    expect(f.subarray(12, 20).toString('hex')).to.equal('8100001e0800cafe');
    expect(f.subarray(20).every((b) => b === 0)).to.equal(true);
    expect(frameFromFields({ dst: DST, src: SRC, sizeBytes: 20 }).length, 'below 60: the padding goes').to.equal(20);
  });

  it('refuses fields that do not fit together', () => {
    expect(codeOf(() => frameFromFields({ dst: DST, src: SRC, vlan: 4095 }))).to.equal('VFAB_BAD_FRAME');
    expect(codeOf(() => frameFromFields({ dst: DST, src: SRC, etherType: 0x10000 }))).to.equal('VFAB_BAD_FRAME');
    expect(codeOf(() => frameFromFields({ dst: DST, src: SRC, payload: Buffer.alloc(10), sizeBytes: 20 }))).to.equal('VFAB_BAD_FRAME');
    expect(codeOf(() => frameFromFields({ dst: DST, src: SRC, sizeBytes: 13 }))).to.equal('VFAB_BAD_FRAME');
    expect(codeOf(() => frameFromFields({ dst: DST, src: SRC, payload: Buffer.alloc(MAX_FRAME_BYTES) }))).to.equal('VFAB_BAD_FRAME');
  });

  it('cuts an unpaced send into requests of at most MAX_INJECT_FRAMES_PER_REQUEST frames', () => {
    const f = Buffer.alloc(60);
    const plan = planInjectRequests([f, f, f], [0, 0, 0], 1000);
    expect(plan.map((r) => r.frames.length)).to.deep.equal([MAX_INJECT_FRAMES_PER_REQUEST, MAX_INJECT_FRAMES_PER_REQUEST, 3000 - 2 * MAX_INJECT_FRAMES_PER_REQUEST]);
    expect(plan.every((r) => r.intervalsMs.every((v) => v === 0) && r.waitBeforeMs === 0)).to.equal(true);
  });

  it('keeps each request within MAX_INJECT_BYTES_PER_REQUEST', () => {
    const big = Buffer.alloc(9000);
    const plan = planInjectRequests([big], [0], 100);
    const perRequest = Math.floor(MAX_INJECT_BYTES_PER_REQUEST / 9000);
    expect(plan[0]!.frames.length).to.equal(perRequest);
    expect(plan.reduce((n, r) => n + r.frames.length, 0)).to.equal(100);
    expect(plan.every((r) => r.frames.reduce((n, x) => n + x.length, 0) <= MAX_INJECT_BYTES_PER_REQUEST)).to.equal(true);
  });

  it('paces: every gap is kept, a request spans at most maxSpanMs, a longer gap is waited for before a request', () => {
    const f = Buffer.alloc(60);
    const plan = planInjectRequests([f], [10], 50, 100);
    expect(plan.every((r) => r.intervalsMs.reduce((a, b) => a + b, 0) <= 100)).to.equal(true);
    const all = plan.flatMap((r) => r.intervalsMs.map((v, k) => (k === 0 ? v + r.waitBeforeMs : v)));
    expect(all.length).to.equal(50);
    expect(all.reduce((a, b) => a + b, 0)).to.equal(490);
    const slow = planInjectRequests([f, f], [0, 250], 1, 100);
    expect(slow.map((r) => [r.waitBeforeMs, r.intervalsMs])).to.deep.equal([[0, [0]], [250, [0]]]);
  });

  it('refuses a send over its bounds (frames in all, duration)', () => {
    const f = Buffer.alloc(60);
    expect(codeOf(() => planInjectRequests([f, f], [0, 0], MAX_SEND_FRAMES / 2 + 1))).to.equal('VFAB_SEND_TOO_MANY_FRAMES');
    expect(codeOf(() => planInjectRequests([f], [1000], MAX_SEND_DURATION_MS / 1000 + 2))).to.equal('VFAB_SEND_TOO_LONG');
    expect(codeOf(() => planInjectRequests([f], [1000], MAX_SEND_DURATION_MS / 1000 + 1))).to.equal('no error');
  });

  it('checks an inject body: point, frames, bounds, intervals', () => {
    const hex = '00'.repeat(60);
    expect(checkInjectBody({ point: 'sw1.Gi1/0/1', frames: [hex], intervalsMs: [5] })).to.deep.include({ point: 'sw1.Gi1/0/1', intervalsMs: [5] });
    expect(codeOf(() => checkInjectBody({ frames: [hex] }))).to.equal('VFAB_BAD_FRAME');
    expect(codeOf(() => checkInjectBody({ point: 'p', frames: [] }))).to.equal('VFAB_BAD_FRAME');
    expect(codeOf(() => checkInjectBody({ point: 'p', frames: [42] }))).to.equal('VFAB_BAD_FRAME');
    expect(codeOf(() => checkInjectBody({ point: 'p', frames: ['00'] }))).to.equal('VFAB_BAD_FRAME');
    expect(codeOf(() => checkInjectBody({ point: 'p', frames: Array(MAX_INJECT_FRAMES_PER_REQUEST + 1).fill(hex) }))).to.equal('VFAB_INJECT_TOO_LARGE');
    expect(codeOf(() => checkInjectBody({ point: 'p', frames: Array(30).fill('00'.repeat(9000)) }))).to.equal('VFAB_INJECT_TOO_LARGE');
    expect(codeOf(() => checkInjectBody({ point: 'p', frames: [hex, hex], intervalsMs: [1] }))).to.equal('VFAB_BAD_FRAME');
    expect(codeOf(() => checkInjectBody({ point: 'p', frames: [hex], intervalsMs: [-1] }))).to.equal('VFAB_BAD_FRAME');
    expect(codeOf(() => checkInjectBody({ point: 'p', frames: [hex, hex], intervalsMs: [MAX_INJECT_REQUEST_SPAN_MS, 1] }))).to.equal('VFAB_INJECT_TOO_LARGE');
  });
});
