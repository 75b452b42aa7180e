// The iSCSI portal in-process (daemons/storage/iscsi-portal.ts beside a block server over a gated fake
// target, no peers needed): the login timeout closes a silent connection with its counted reason, and iSCSI
// commands run under the same array-wide in-flight byte budget as block protocol commands (one command
// model: a command of one transport waits while the other's holds the budget, then runs).

import { expect } from 'chai';
import { connectBlockClient } from '../../../daemons/storage/block-client.js';
import { IscsiPortal } from '../../../daemons/storage/iscsi-portal.js';
import { OPCODE, emitPdu, makePdu } from '../../../lib/iscsi/pdu.js';
import { encodeLun } from '../../../lib/iscsi/session.js';
import { SCSI_OP } from '../../../lib/storage/scsi.js';
import { GatedTarget, TOKEN, rawIscsiClient, startInProcessServer } from './helpers.js';

const LOGIN_MS = 200;

async function until(cond: () => boolean, what: string, maxMs = 5000): Promise<void> {
  for (let waited = 0; !cond(); waited += 10) {
    if (waited > maxMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** READ (10) in the 16-byte CDB field of a SCSI Command PDU (zero padded). */
function read10(blocks: number): Buffer {
  const c = Buffer.alloc(16);
  c[0] = SCSI_OP.READ_10;
  c.writeUInt16BE(blocks, 7);
  return c;
}

describe('storage/iSCSI portal in-process (login timeout, shared in-flight budget)', () => {
  let srv: Awaited<ReturnType<typeof startInProcessServer>>;
  let target: GatedTarget;
  let portal: IscsiPortal;
  const logs: string[] = [];

  beforeEach(async () => {
    target = new GatedTarget();
    // a budget of 1 byte: one command runs at a time over both transports (one always runs when none does)
    srv = await startInProcessServer({ target, maxInFlight: 8, inFlightBytes: 1, luns: () => [{ lun: 0, name: 'lun0', blockSizeBytes: 512, blocks: 100 }] });
    portal = new IscsiPortal({
      target,
      arrayName: 'arr',
      budget: srv.block.budget,
      host: '127.0.0.1',
      port: 0,
      lunNumbers: () => [0],
      logicalUnitReset: () => {},
      onInitiatorGone: () => {},
      log: (l) => logs.push(l),
      loginTimeoutMs: LOGIN_MS,
    });
    await portal.listen();
  });
  afterEach(async () => {
    target.releaseNewestFirst();
    await portal.close();
    await srv.close();
  });

  it('closes a connection that does not finish its login in time, counted login-timeout', async () => {
    const c = await rawIscsiClient(portal.port);
    const closed = new Promise<void>((r) => c.sock.once('close', () => r()));
    const t0 = Date.now();
    await closed;
    expect(Date.now() - t0).to.be.at.least(LOGIN_MS - 50);
    expect(portal.info().closed['login-timeout']).to.equal(1);
    expect(logs.some((l) => /closed: login-timeout: no login within 200 ms/.test(l))).to.equal(true);
  });

  it('an iSCSI command waits while a block protocol command holds the array budget, then runs', async () => {
    const block = await connectBlockClient({ url: srv.url, token: TOKEN, initiator: 'iqn.test:block', maxInFlight: 4 });
    const blockRead = block.read(0, 0, 1).catch(() => undefined); // GatedTarget answers with the CDB: not a block
    await until(() => target.received === 1, 'the block command at the target');
    const c = await rawIscsiClient(portal.port);
    await c.login(portal.iqn, {});
    c.sock.write(emitPdu(makePdu(OPCODE.SCSI_COMMAND, { flags: 0x80 | 0x40, itt: 9, lun: encodeLun(0), expectedDataTransferLength: 512, cmdSN: 1, cdb: read10(1) })));
    await until(() => srv.block.budgetInfo().waitingSessions === 1, 'the iSCSI command waiting for the budget');
    expect(target.received).to.equal(1);
    expect(portal.info().commands).to.equal(1);
    target.releaseNewestFirst(1); // the block command ends: the iSCSI one gets its turn
    await blockRead;
    await until(() => target.received === 2, 'the iSCSI command at the target');
    expect(target.pending[0]!.cmd.initiator).to.equal('iqn.test:raw,i,0x800102030000');
    target.releaseNewestFirst(1);
    const answer = await c.next();
    expect([OPCODE.DATA_IN, OPCODE.SCSI_RESPONSE]).to.include(answer.opcode);
    expect(answer.itt).to.equal(9);
    block.close();
    c.sock.destroy();
  });
});
