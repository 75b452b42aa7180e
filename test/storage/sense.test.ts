// Fixed-format sense data (SPC-4 §4.5.3): hex fixtures, round trip, VALID bit, typed parse errors.
import { expect } from 'chai';
import { ASC, SENSE_KEY } from '../../lib/storage/scsi.js';
import { SENSE_ERROR, parseFixedSense, toFixedSense } from '../../lib/storage/sense.js';

describe('storage sense data (fixed format 0x70)', () => {
  it('renders MISCOMPARE with INFORMATION (VALID set) as the expected bytes', () => {
    const b = toFixedSense({ key: SENSE_KEY.MISCOMPARE, asc: ASC.MISCOMPARE_DURING_VERIFY[0], ascq: 0, information: 700 });
    expect(b.toString('hex')).to.equal('f0000e000002bc0a000000001d0000000000');
  });

  it('renders ILLEGAL REQUEST / INVALID FIELD IN CDB without INFORMATION (VALID clear)', () => {
    const b = toFixedSense({ key: SENSE_KEY.ILLEGAL_REQUEST, asc: 0x24, ascq: 0 });
    expect(b.toString('hex')).to.equal('700005000000000a00000000240000000000');
  });

  it('parses a fixture and round-trips', () => {
    const fixture = Buffer.from('f00003000000040a00000000110000000000', 'hex');
    const s = parseFixedSense(fixture);
    expect(s.ok && s.value).to.deep.equal({ key: SENSE_KEY.MEDIUM_ERROR, asc: 0x11, ascq: 0, information: 4 });
    if (s.ok) expect(toFixedSense(s.value).equals(fixture)).to.equal(true);
  });

  it('drops an INFORMATION value that does not fit 32 bits (VALID clear)', () => {
    const b = toFixedSense({ key: 3, asc: 0x11, ascq: 0, information: 2 ** 40 });
    expect(b[0]).to.equal(0x70);
    expect(b.readUInt32BE(3)).to.equal(0);
  });

  it('rejects short or non-fixed sense with a typed error, no throw', () => {
    const short = parseFixedSense(Buffer.alloc(10));
    expect(!short.ok && short.error.code).to.equal(SENSE_ERROR.BAD_SENSE);
    const desc = Buffer.alloc(18);
    desc[0] = 0x72;
    const d = parseFixedSense(desc);
    expect(!d.ok && d.error.code).to.equal(SENSE_ERROR.BAD_SENSE);
  });
});
