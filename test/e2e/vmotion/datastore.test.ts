// End-to-end vMotion of a VM with a datastore disk (real processes from dist/, port 0;
// topologies/e2e/vmotion-datastore.yaml; docs/vmotion.md "In a fabric"): once ds1 is formatted db1 runs on
// esx1 with its files locked there; `vfab vm migrate db1 --to esx2` moves the exclusive locks to esx2
// (released by esx1, taken by esx2 through the power-on lock code), db1 runs on esx2 and its disk is read
// and written there, and esx1 can no longer power db1 on (locked by esx2). Leaves out a destination that cannot
// take the locks (the core's tests: the VM resumes on the source).

import { expect } from 'chai';
import { runCli, type TestFabric, useFabric, waitFor } from '../helpers/fabric.js';

describe('e2e vMotion with datastore locks (topologies/e2e/vmotion-datastore.yaml)', function () {
  this.timeout(90_000);
  let fab: TestFabric;

  useFabric('topologies/e2e/vmotion-datastore.yaml', (f) => (fab = f));

  const holders = async (host: string) => (await fab.call(host, 'GET', '/control/datastores/ds1/files')).files
    .filter((f: any) => f.path.startsWith('db1/')).map((f: any) => [f.path, f.lock.mode, f.lock.holders.map((h: any) => h.owner).join(',')]);

  it("moves db1's file locks from esx1 to esx2 with the VM", async () => {
    for (const h of ['esx1', 'esx2']) {
      await waitFor(async () => (await fab.call(h, 'GET', '/control/datastores')).datastores[0].state === 'unformatted', `${h} sees the blank LUN`, 15_000);
    }
    const fmt = await runCli(['datastore', 'format', 'ds1', '--host', 'esx1'], { stateDir: fab.stateDir });
    expect(fmt.code, fmt.stderr).to.equal(0);
    await waitFor(async () => (await fab.status('esx1')).vms.find((v: any) => v.name === 'db1')?.poweredOn === true, 'db1 powered on at esx1', 20_000);
    await waitFor(async () => (await fab.call('esx2', 'GET', '/control/datastores')).datastores[0].state === 'mounted', 'esx2 mounted ds1', 20_000);
    expect((await holders('esx2')).map((x: string[]) => x[2]), 'esx1 holds every file of db1').to.deep.equal(['esx1', 'esx1', 'esx1']);

    const mig = await runCli(['vm', 'migrate', 'db1', '--to', 'esx2'], { stateDir: fab.stateDir, timeoutMs: 60_000 });
    expect(mig.code, mig.stderr + mig.out).to.equal(0);
    expect(mig.out).to.match(/db1 migrated: runs on esx2; downtime [\d.]+ ms/);
    expect(mig.stderr).to.match(/pass 1: 4\.0 MiB in \d+ ms/);
    expect(mig.stderr).to.include('locks-released');

    const after = await holders('esx1');
    expect(after.map((x: string[]) => [x[1], x[2]]), 'esx2 holds them now, exclusive').to.deep.equal([['exclusive', 'esx2'], ['exclusive', 'esx2'], ['exclusive', 'esx2']]);
    expect((await fab.status('esx2')).vms.find((v: any) => v.name === 'db1')).to.deep.include({ poweredOn: true });
    const pattern = Buffer.from('written on esx2 after the move');
    await fab.call('esx2', 'POST', '/control/vms/db1/disks/sys/write', { offset: 4096, dataBase64: pattern.toString('base64') });
    const read = await fab.call('esx2', 'POST', '/control/vms/db1/disks/sys/read', { offset: 4096, length: pattern.length });
    expect(Buffer.from(read.dataBase64, 'base64').toString(), "db1's disk answers on esx2, under esx2's lock").to.equal(pattern.toString());
    const gone = await fab.call('esx1', 'POST', '/control/vms/db1/disks/sys/read', { offset: 0, length: 16 }).then(() => 'read', (e: Error) => e.message);
    expect(gone, 'esx1 no longer serves it as its own').to.not.equal('read');
    const again = await fab.call('esx1', 'POST', '/control/datastores/ds1/vms/db1/power-on', { waitMs: 3000 }).then(() => 'powered on', (e: Error) => e.message);
    expect(again, 'esx1 cannot run db1 any more').to.match(/locked by esx2/);
  });
});
