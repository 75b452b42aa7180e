// readStreamHeaderInto: the allocation-free stream header reader used per frame by host sinks.

import { expect } from 'chai';
import { readStreamHeaderInto, writeStreamHeader, STREAM_HEADER_BYTES, type StreamStamp } from '../../lib/traffic/stream.js';

describe('traffic stream header into a reused stamp', () => {
  it('reads what writeStreamHeader wrote into the given object', () => {
    const buf = Buffer.alloc(64, 0xa5);
    writeStreamHeader(buf, 42 - STREAM_HEADER_BYTES, 9, 0xfffffffe, 1.7e18 + 0.5);
    const stamp: StreamStamp = { streamId: 0, seq: 0, sentAtNs: 0 };
    expect(readStreamHeaderInto(buf, 42 - STREAM_HEADER_BYTES, stamp)).to.equal(true);
    expect(stamp).to.deep.equal({ streamId: 9, seq: 0xfffffffe, sentAtNs: 1.7e18 + 0.5 });
    writeStreamHeader(buf, 0, 3, 4, 5);
    expect(readStreamHeaderInto(buf, 0, stamp)).to.equal(true);
    expect(stamp).to.deep.equal({ streamId: 3, seq: 4, sentAtNs: 5 });
  });

  it('returns false and leaves the stamp alone for a payload without the magic or too short', () => {
    const buf = Buffer.alloc(64, 0xa5);
    const stamp: StreamStamp = { streamId: 1, seq: 2, sentAtNs: 3 };
    expect(readStreamHeaderInto(buf, 0, stamp)).to.equal(false);
    writeStreamHeader(buf, 40, 7, 8, 9);
    expect(readStreamHeaderInto(buf, 40, stamp)).to.equal(true);
    expect(readStreamHeaderInto(buf, 64 - STREAM_HEADER_BYTES + 1, stamp)).to.equal(false);
    expect(readStreamHeaderInto(buf, -1, stamp)).to.equal(false);
    expect(stamp).to.deep.equal({ streamId: 7, seq: 8, sentAtNs: 9 });
  });
});
