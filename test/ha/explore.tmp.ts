import { HaSim, clusterOf } from './sim.js';
    const input = clusterOf(4, {}, [
      { name: 'db1', datastore: 'ds3' },
      { name: 'web1', datastore: 'ds1', portGroups: ['pg-dmz'] },
      { name: 'lost1', datastore: 'ds4' },
    ]);
    input.hosts[0]!.datastores = ['ds1', 'ds2', 'ds3', 'ds4'];
    input.hosts[0]!.portGroups = ['pg-web', 'pg-dmz'];
    input.hosts[1]!.datastores = ['ds1', 'ds2', 'ds3'];
    input.hosts[2]!.portGroups = ['pg-web', 'pg-dmz'];
    const sim = new HaSim(input, { esx1: ['db1', 'web1', 'lost1'] });
    sim.advance(20_000);
    sim.crash('esx1');
    sim.advance(60_000);
  for (const e of sim.events) if (e.atMs > 15000) console.log(e.atMs, e.message);
