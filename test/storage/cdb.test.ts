// CDB builders against hex fixtures laid out per SBC-3/SPC-4, and the data-in decoders.
import { expect } from 'chai';
import * as cdb from '../../lib/storage/cdb.js';
import { PR_TYPE } from '../../lib/storage/reservations.js';

describe('storage CDB builders', () => {
  const hex = (b: Buffer) => b.toString('hex');
  it('READ/WRITE 10 and 16 with FUA', () => {
    expect(hex(cdb.read10(0x01020304, 8))).to.equal('28000102030400000800');
    expect(hex(cdb.write10(5, 1, { fua: true }))).to.equal('2a080000000500000100');
    expect(hex(cdb.read16(0x100000002, 0x10))).to.equal('88000000000100000002000000100000');
    expect(hex(cdb.write16(1n, 1))).to.equal('8a000000000000000001000000010000');
  });
  it('COMPARE AND WRITE puts NUMBER OF LOGICAL BLOCKS in byte 13', () => {
    expect(hex(cdb.compareAndWrite(0x300, 1))).to.equal('89000000000000000300000000010000');
  });
  it('WRITE SAME, UNMAP, SYNCHRONIZE CACHE', () => {
    expect(hex(cdb.writeSame10(7, 2, { unmap: true }))).to.equal('41080000000700000200');
    expect(hex(cdb.writeSame16(7, 2, { unmap: true, ndob: true }))).to.equal('93090000000000000007000000020000');
    const u = cdb.unmapCommand([{ lba: 9, blocks: 3 }]);
    expect(hex(u.cdb)).to.equal('42000000000000001800');
    expect(hex(u.dataOut)).to.equal('00160010000000000000000000000009000000030000000' + '0');
    expect(hex(cdb.synchronizeCache10())).to.equal('35000000000000000000');
    expect(hex(cdb.synchronizeCache16(1, 2))).to.equal('91000000000000000001000000020000');
  });
  it('SPC commands', () => {
    expect(hex(cdb.inquiry(0x83, 0x100))).to.equal('120183010000');
    expect(hex(cdb.inquiry(undefined, 36))).to.equal('120000002400');
    expect(hex(cdb.reportLuns(16))).to.equal('a0000000000000000010' + '0000');
    expect(hex(cdb.readCapacity16())).to.equal('9e100000000000000000000000200000');
    expect(hex(cdb.requestSense())).to.equal('030000001200');
    expect(hex(cdb.reserve6())).to.equal('160000000000');
    expect(hex(cdb.release10())).to.equal('57000000000000000000');
  });
  it('PERSISTENT RESERVE IN/OUT and the 24-byte parameter list', () => {
    expect(hex(cdb.prIn.readKeys(0x200))).to.equal('5e000000000000020000');
    const r = cdb.prOut.reserve(0x1122n, PR_TYPE.EXCLUSIVE_ACCESS_REGISTRANTS_ONLY);
    expect(hex(r.cdb)).to.equal('5f010600000000001800');
    expect(hex(r.dataOut)).to.equal('0000000000001122' + '0000000000000000' + '0000000000000000');
    expect(hex(cdb.prOut.preempt(1n, 2n, PR_TYPE.WRITE_EXCLUSIVE).dataOut.subarray(0, 16))).to.equal('00000000000000010000000000000002');
  });
  it('decoders read what the target produces', () => {
    const rc = Buffer.alloc(32);
    rc.writeBigUInt64BE(99n, 0);
    rc.writeUInt32BE(4096, 8);
    rc[14] = 0xc0;
    expect(cdb.parseReadCapacity16(rc)).to.deep.equal({ lastLba: 99, blockSizeBytes: 4096, thin: true, zeroesWhenUnmapped: true });
    expect(cdb.parseReadCapacity16(Buffer.alloc(4))).to.equal(undefined);
    const keys = Buffer.from('00000007000000100000000000000001000000000000000a', 'hex');
    expect(cdb.parseReadKeys(keys)).to.deep.equal({ generation: 7, keys: [1n, 10n] });
  });
});
