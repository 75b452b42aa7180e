// VXLAN header (RFC 7348 §5): fixtures, parse checks and emit.
import { expect } from 'chai';
import { parseVxlan, emitVxlan, emitVxlanHeader, checkVxlan, vxlanVni, VXLAN_HEADER_BYTES } from '../../lib/wire/vxlan.js';
import { MAX_FRAME_BYTES } from '../../lib/wire/ethernet.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
// A Linux vxlan device's datagram (VNI 4242 = 0x001092) carrying an IPv6 ND multicast frame's header.
const HEADER = hex('08000000 00109200');
const INNER = hex('3333ff000001 020000000001 86dd') ;

describe('wire/vxlan', () => {
  it('parses the fixture: VNI, inner frame as a view', () => {
    const d = Buffer.concat([HEADER, INNER]);
    const r = parseVxlan(d);
    if (!r.ok) throw r.error;
    expect(r.value.vni).to.equal(4242);
    expect(Buffer.from(r.value.frame).equals(INNER)).to.equal(true);
    expect(r.value.frame.buffer).to.equal(d.buffer); // no copy
    expect(vxlanVni(d)).to.equal(4242);
  });

  it('emit reproduces the fixture byte for byte, reserved bytes zero', () => {
    expect(emitVxlan(4242, INNER).equals(Buffer.concat([HEADER, INNER]))).to.equal(true);
    const out = Buffer.alloc(10, 0xa5);
    expect(emitVxlanHeader(0xffffff, out, 1)).to.equal(VXLAN_HEADER_BYTES);
    expect(out.toString('hex')).to.equal('a50800000' + '0ffffff00a5');
  });

  it('refuses what is not a VXLAN packet, with the reason', () => {
    expect(checkVxlan(hex('08000000001092'))).to.equal('short');
    expect(checkVxlan(Buffer.concat([hex('00000000 00109200'), INNER]))).to.equal('no-i-flag');
    expect(checkVxlan(Buffer.concat([hex('0c000000 00109200'), INNER]))).to.equal('reserved-flags');
    expect(checkVxlan(Buffer.concat([HEADER, INNER.subarray(0, 13)]))).to.equal('runt-frame');
    expect(checkVxlan(Buffer.concat([HEADER, Buffer.alloc(MAX_FRAME_BYTES + 1)]))).to.equal('giant-frame');
    expect(checkVxlan(Buffer.concat([HEADER, Buffer.alloc(MAX_FRAME_BYTES)]))).to.equal('');
    // other reserved flag bits are ignored on receipt (RFC 7348 §5)
    expect(checkVxlan(Buffer.concat([hex('88000000 00109201'), INNER]))).to.equal('');
    const r = parseVxlan(hex('0800'));
    expect(r.ok).to.equal(false);
    if (!r.ok) expect(r.error.code).to.equal('VFAB_WIRE_BAD_VXLAN');
  });

  it('every truncation of a valid packet below the minimum is refused, never thrown', () => {
    const d = Buffer.concat([HEADER, INNER]);
    for (let n = 0; n < VXLAN_HEADER_BYTES + 14; n++) expect(parseVxlan(d.subarray(0, n)).ok).to.equal(false);
    expect(parseVxlan(d).ok).to.equal(true);
  });

  it('emit refuses a VNI outside 24 bits', () => {
    expect(() => emitVxlan(0x1000000, INNER)).to.throw(/VNI/);
    expect(() => emitVxlan(-1, INNER)).to.throw(/VNI/);
  });
});
