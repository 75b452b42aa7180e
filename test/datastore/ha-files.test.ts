// The HA files on a datastore (lib/datastore/ha-files.ts) on the manual-clock simulation: a host holds
// its `-hb` file exclusively (directories created on the way), another host reads the holder's pulse,
// which moves with each VMFS heartbeat while the holder lives and stands still once it is killed; once
// the dead holder's slot is broken (a power-on took its lock), the read gives no pulse at all. The
// poweron text written by the holder reads back; a second host cannot take the held file.
import { expect } from 'chai';
import { DS_ERROR } from '../../lib/datastore/errors.js';
import { holdHaFile, readHaHeartbeat, writeHaText } from '../../lib/datastore/ha-files.js';
import { openPath } from '../../lib/datastore/open.js';
import { type Sim, mountedSim } from './sim.js';

const HB = '.vSphere-HA/cluster1/host-esx1-hb';
const PON = '.vSphere-HA/cluster1/host-esx1-poweron';

const setup = (): Promise<Sim> => mountedSim(['esx1', 'esx2']);

async function read(sim: Sim): Promise<{ pulse: number | undefined; poweron: string | undefined }> {
  const h2 = sim.host('esx2');
  const r = h2.run('read', readHaHeartbeat(h2.ctx, HB, PON));
  await sim.advance(100);
  return r.value();
}

describe('datastore HA files (§7.12)', () => {
  it("esx2 reads esx1's pulse through the -hb file's lock: it moves while esx1 lives, stops when it dies, and is gone once its slot is broken", async () => {
    const sim = await setup();
    const h1 = sim.host('esx1');
    const hold = h1.run('hold', holdHaFile(h1.ctx, HB));
    await sim.advance(2000);
    expect(hold.value<number>()).to.be.a('number');
    const pon = h1.run('hold-pon', holdHaFile(h1.ctx, PON));
    await sim.advance(2000);
    const ponEntry = pon.value<number>();
    const vmFile = h1.run('vm', holdHaFile(h1.ctx, 'app1/app1.vmx')); // stands for a VM's file
    await sim.advance(2000);
    vmFile.value();
    const w = h1.run('write', writeHaText(h1.ctx, ponEntry, JSON.stringify({ isolated: true, poweredOn: ['app1'] })));
    await sim.advance(1000);
    w.value();
    const a = await read(sim);
    expect(a.pulse).to.be.a('number');
    expect(JSON.parse(a.poweron!)).to.deep.equal({ isolated: true, poweredOn: ['app1'] });
    await sim.advance(4000); // more than one VMFS heartbeat (3 s)
    const b = await read(sim);
    expect(b.pulse, 'the pulse moves while esx1 heartbeats').to.not.equal(a.pulse);
    // a second host cannot take the held file while esx1 lives
    const h2 = sim.host('esx2');
    const steal = h2.run('steal', openPath(h2.ctx, HB, 'exclusive'));
    await sim.advance(25_000);
    expect(steal.error()?.code).to.equal(DS_ERROR.LOCKED);
    sim.kill('esx1');
    const c = await read(sim);
    await sim.advance(5000);
    const d = await read(sim);
    expect(d.pulse, 'a dead holder\'s pulse stands still').to.equal(c.pulse);
    // a restart on esx2 breaks the dead holder's lock on a VM file after the lease: esx1's slot is freed
    // (its generation moves on), and its -hb file, still naming the old generation, gives no pulse
    const take = h2.run('take', openPath(h2.ctx, 'app1/app1.vmx', 'exclusive'));
    await sim.advance(30_000);
    take.value();
    expect((await read(sim)).pulse).to.equal(undefined);
  });

  it('a file nobody created reads as no pulse and no poweron record', async () => {
    const sim = await setup();
    expect(await read(sim)).to.deep.equal({ pulse: undefined, poweron: undefined });
  });
});
