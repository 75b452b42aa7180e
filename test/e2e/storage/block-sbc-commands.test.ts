// The commands added for libiscsi's conformance suite — READ (6), ORWRITE (16), GET LBA STATUS — and the
// sense field pointer travel over vfab's own WebSocket block protocol unchanged (one command model, two
// transports): an in-process block server over a real in-memory array, a real block client. The iSCSI side
// is checked by iscsi-test-cu (iscsi-conformance.test.ts). Leaves out thick-LUN details (unit tests).
import { expect } from 'chai';
import { connectBlockClient, type BlockClient } from '../../../daemons/storage/block-client.js';
import { openArray, type StorageArray } from '../../../lib/storage/array.js';
import * as cdb from '../../../lib/storage/cdb.js';
import { SCSI_OP, SCSI_STATUS } from '../../../lib/storage/scsi.js';
import { LBA_STATUS } from '../../../lib/storage/target.js';
import { TOKEN, startInProcessServer } from './helpers.js';

describe('storage/block protocol carries READ (6), ORWRITE, GET LBA STATUS and field pointers unchanged', () => {
  let arr: StorageArray;
  let srv: Awaited<ReturnType<typeof startInProcessServer>>;
  let c: BlockClient;
  beforeEach(async () => {
    arr = await openArray({ name: 'ws' });
    await arr.createLun({ name: 'ds1', sizeBytes: 256 * 512 });
    srv = await startInProcessServer({ target: arr, maxInFlight: 8, luns: () => arr.listLuns().map((l) => ({ lun: l.lun, name: l.name, blockSizeBytes: l.blockSizeBytes, blocks: l.blocks })) });
    c = await connectBlockClient({ url: srv.url, token: TOKEN, initiator: 'iqn.test:ws', maxInFlight: 8 });
  });
  afterEach(async () => {
    c.close();
    await srv.close();
    await arr.close();
  });

  const exec = (cdbBytes: Buffer, dataOut?: Buffer) => c.execute({ initiator: 'iqn.test:ws', lun: 0, cdb: cdbBytes, ...(dataOut ? { dataOut } : {}) });

  it('ORWRITE ORs into what READ (6) reads back, and GET LBA STATUS sees the mapped blocks', async () => {
    await c.write(0, 4, Buffer.alloc(2 * 512, 0x30));
    expect((await exec(cdb.orWrite16(4, 2), Buffer.alloc(2 * 512, 0x03))).status).to.equal(SCSI_STATUS.GOOD);
    const r = await exec(cdb.read6(4, 2));
    expect(r.status).to.equal(SCSI_STATUS.GOOD);
    expect(Buffer.from(r.dataIn!).equals(Buffer.alloc(2 * 512, 0x33))).to.equal(true);
    const s = await exec(cdb.getLbaStatus(0));
    expect(cdb.parseLbaStatus(s.dataIn!)).to.deep.equal([
      { lba: 0, blocks: 4, status: LBA_STATUS.DEALLOCATED },
      { lba: 4, blocks: 2, status: LBA_STATUS.MAPPED },
      { lba: 6, blocks: 250, status: LBA_STATUS.DEALLOCATED },
    ]);
  });

  it('the sense field pointer of a refusal arrives with the CHECK CONDITION', async () => {
    const r = await exec(cdb.reportSupportedOpcodes(2, SCSI_OP.TEST_UNIT_READY));
    expect(r.status).to.equal(SCSI_STATUS.CHECK_CONDITION);
    expect(r.sense!.field).to.deep.equal({ inCdb: true, byte: 2 });
  });
});
