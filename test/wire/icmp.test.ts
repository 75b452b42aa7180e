// ICMP (RFC 792) echo and generic messages.
import { expect } from 'chai';
import {
  parseIcmp, emitIcmp, icmpBytes, icmpType, icmpCode, icmpEchoId, icmpEchoSeq, icmpVerifies, ICMP_ECHO_REQUEST,
  ICMP_ECHO_REPLY, ICMP_DEST_UNREACHABLE, type IcmpMessage,
} from '../../lib/wire/icmp.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
// The classic Windows ping echo request: id 1, seq 1, 32 data bytes "abcdefghijklmnopqrstuvwabcdefghi".
const DATA = Buffer.from('abcdefghijklmnopqrstuvwabcdefghi', 'ascii');
const ECHO = Buffer.concat([hex('0800 4d5a 0001 0001'), DATA]);

/** Independent checksum for the test (plain loop, no library code). */
function sum16(b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += (b[i]! << 8) | (b[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

describe('wire/icmp', () => {
  it('the published echo checksum 0x4d5a is what an independent sum gives', () => {
    const zeroed = Buffer.from(ECHO);
    zeroed[2] = 0; zeroed[3] = 0;
    expect(sum16(zeroed)).to.equal(0x4d5a);
  });

  it('parses the echo request: id, seq, payload; view accessors agree', () => {
    const r = parseIcmp(ECHO);
    if (!r.ok) throw r.error;
    expect(r.value.kind).to.equal('echo');
    if (r.value.kind !== 'echo') return;
    expect(r.value.type).to.equal(ICMP_ECHO_REQUEST);
    expect(r.value.id).to.equal(1);
    expect(r.value.seq).to.equal(1);
    expect(Buffer.from(r.value.payload).equals(DATA)).to.equal(true);
    expect(icmpType(ECHO, 0)).to.equal(8);
    expect(icmpCode(ECHO, 0)).to.equal(0);
    expect(icmpEchoId(ECHO, 0)).to.equal(1);
    expect(icmpEchoSeq(ECHO, 0)).to.equal(1);
    expect(icmpVerifies(ECHO, 0, ECHO.length)).to.equal(true);
  });

  it('round trip: emit into a 0xa5 buffer computes checksum 0x4d5a and writes exactly the message', () => {
    const msg: IcmpMessage = { kind: 'echo', type: ICMP_ECHO_REQUEST, code: 0, id: 1, seq: 1, payload: DATA };
    const out = Buffer.alloc(icmpBytes(msg) + 2, 0xa5);
    expect(emitIcmp(msg, out, 1)).to.equal(1 + ECHO.length);
    expect(out.subarray(1, 1 + ECHO.length).equals(ECHO)).to.equal(true);
    expect(out[0]).to.equal(0xa5);
    expect(out[out.length - 1]).to.equal(0xa5);
  });

  it('echo reply of the same data has checksum 0x555a (type 8 -> 0 removes 0x0800 from the sum)', () => {
    const out = Buffer.alloc(ECHO.length, 0xa5);
    emitIcmp({ kind: 'echo', type: ICMP_ECHO_REPLY, code: 0, id: 1, seq: 1, payload: DATA }, out);
    expect(out.readUInt16BE(2)).to.equal(0x555a);
    expect(sum16(out)).to.equal(0);
  });

  it('bad checksum and truncation are typed errors', () => {
    const b = Buffer.from(ECHO);
    b[10] ^= 1;
    let r = parseIcmp(b);
    expect(r.ok).to.equal(false);
    if (!r.ok) expect(r.error.code).to.equal('VFAB_WIRE_BAD_CHECKSUM');
    r = parseIcmp(ECHO.subarray(0, 7));
    expect(r.ok).to.equal(false);
    if (!r.ok) expect(r.error.code).to.equal('VFAB_WIRE_TRUNCATED');
    r = parseIcmp(ECHO, 0, ECHO.length + 4);
    expect(r.ok).to.equal(false);
    expect(icmpVerifies(ECHO, 0, 7)).to.equal(false);
  });

  it('keeps other types generically (destination unreachable, odd-length body) and re-emits them unchanged', () => {
    const body = hex('4500001c000000004011000000000000000000000102030405');
    const msg: IcmpMessage = { kind: 'other', type: ICMP_DEST_UNREACHABLE, code: 4, restOfHeader: 1500, body };
    const out = Buffer.alloc(icmpBytes(msg), 0xa5);
    emitIcmp(msg, out);
    expect(sum16(out)).to.equal(0);
    const r = parseIcmp(out);
    if (!r.ok) throw r.error;
    expect(r.value).to.deep.include({ kind: 'other', type: 3, code: 4, restOfHeader: 1500 });
    if (r.value.kind === 'other') expect(Buffer.from(r.value.body).equals(body)).to.equal(true);
    const again = Buffer.alloc(out.length);
    emitIcmp(r.value, again);
    expect(again.equals(out)).to.equal(true);
  });
});
