// daemons/ha/control-datagram.ts: the restart request and its answer round-trip; anything else that
// reaches port 8183 (not JSON, another version, a missing or over-long name, an unknown outcome, an
// oversized datagram) decodes to undefined, to be dropped and counted, never thrown.

import { expect } from 'chai';
import { decodeControl, encodeControl } from '../../daemons/ha/control-datagram.js';

describe('HA restart datagrams', () => {
  it('a power-on request and each outcome round-trip', () => {
    const req = { t: 'power-on', c: 'cluster1', f: 'esx3', vm: 'app1' } as const;
    expect(decodeControl(encodeControl(req))).to.deep.equal(req);
    for (const o of ['ok', 'locked', 'failed'] as const) {
      const res = { t: 'power-on-result', c: 'cluster1', f: 'esx2', vm: 'app1', o } as const;
      expect(decodeControl(encodeControl(res))).to.deep.equal(res);
    }
  });

  it('malformed datagrams decode to undefined', () => {
    const good = { v: 1, t: 'power-on', c: 'cluster1', f: 'esx3', vm: 'app1' };
    const bad: unknown[] = [
      'not json', 42, null, [], { ...good, v: 2 }, { ...good, t: 'reboot' }, { ...good, vm: '' }, { ...good, f: 7 },
      { ...good, c: 'x'.repeat(65) }, { ...good, t: 'power-on-result', o: 'maybe' }, { ...good, t: 'power-on-result' },
    ];
    for (const b of bad) expect(decodeControl(Buffer.from(typeof b === 'string' ? b : JSON.stringify(b))), JSON.stringify(b)).to.equal(undefined);
    expect(decodeControl(Buffer.alloc(2000, 0x20)), 'over one datagram').to.equal(undefined);
    expect(decodeControl(Buffer.from([0xff, 0xfe, 0x00])), 'not UTF-8 JSON').to.equal(undefined);
  });
});
