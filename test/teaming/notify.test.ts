// Notify-switches RARP frames (spec §3.11).
import { expect } from 'chai';
import { buildRarp, emitRarp, parseRarp, RARP_OP_REVERSE_REQUEST } from '../../lib/teaming/notify.js';

const M = '005056800001';
const BODY = '8035' + '0001' + '0800' + '06' + '04' + '0003' + M + '00000000' + M + '00000000';
const UNTAGGED = 'ffffffffffff' + M + BODY + '00'.repeat(18);
// §3.11: padded to 60 bytes before the FCS, tag included (the same bytes as lib/wire/arp.ts buildRarpAnnounce)
const TAGGED = 'ffffffffffff' + M + '8100' + '0064' + BODY + '00'.repeat(14);

describe('notify-switches RARP (§3.11)', () => {
  it('§3.11 emits "reverse request who-is M tell M" padded to 60 bytes into a 0xa5 buffer', () => {
    const out = Buffer.alloc(60, 0xa5);
    expect(emitRarp({ mac: 0x005056800001 }, out)).to.equal(60);
    expect(out.toString('hex')).to.equal(UNTAGGED);
  });
  it('§3.11 adds an 802.1Q tag for a VST port group', () => {
    expect(buildRarp({ mac: 0x005056800001, vlanId: 100 }).toString('hex')).to.equal(TAGGED);
  });
  it('parses the fixtures back', () => {
    const r = parseRarp(Buffer.from(TAGGED, 'hex'));
    expect(r.ok && r.value).to.deep.equal({ mac: 0x005056800001, vlanId: 100, op: RARP_OP_REVERSE_REQUEST, sha: 0x005056800001, tha: 0x005056800001 });
    const bad = parseRarp(Buffer.from(UNTAGGED, 'hex').subarray(0, 30));
    expect(bad.ok === false && bad.error.code).to.equal('VFAB_TEAMING_RARP_TRUNCATED');
  });
  it('refuses a VLAN outside 1..4094 and a short buffer', () => {
    expect(() => buildRarp({ mac: 1, vlanId: 4095 })).to.throw(/VLAN 4095/);
    expect(() => emitRarp({ mac: 1 }, Buffer.alloc(59))).to.throw(/needs 60 bytes/);
  });
});
