// End-to-end: a topology with `arrays[].shares` brought up with fabricUp in a temp state dir; the array's
// stored serves the share on /nas with the fabric token; a file written there is still there after
// fabricDown and a second fabricUp (the share lives in the array's store folder, `nas/`). Torn down in
// after().

import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fabricUp, fabricDown } from '../../../daemons/fabric/lifecycle.js';
import { loadTopologyFile } from '../../../lib/topology/load.js';
import type { FabricState } from '../../../daemons/fabric/state.js';
import { connectNasClient } from '../../../daemons/storage/nas-client.js';
import { NAS_STORE_DIR } from '../../../daemons/storage/nas-server.js';
import { ARRAYS_DIR } from '../../../daemons/fabric/stores.js';

const TOPOLOGY = `name: nas-fabric
arrays:
  - name: filer
    shares:
      - { name: nfs1, sizeMB: 16 }
`;

describe('e2e storage: NAS share from the topology survives vfab down / up', function () {
  this.timeout(60_000);
  let dir: string;
  let state: FabricState | undefined;
  const saved = process.env.VFAB_STATE_DIR;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfab-e2e-nas-fabric-'));
    process.env.VFAB_STATE_DIR = dir;
    fs.writeFileSync(path.join(dir, 'nas.yaml'), TOPOLOGY);
  });
  after(async () => {
    if (state) await fabricDown(state, dir);
    if (saved === undefined) delete process.env.VFAB_STATE_DIR;
    else process.env.VFAB_STATE_DIR = saved;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const open = async () => {
    const filer = state!.daemons.find((d) => d.name === 'filer')!;
    return connectNasClient({ url: `ws://127.0.0.1:${filer.port}/nas`, token: state!.token, share: 'nfs1', client: 'esx-test' });
  };

  it('create and write on the share, vfab down, vfab up: the file is there with its bytes', async () => {
    const topology = await loadTopologyFile(path.join(dir, 'nas.yaml'));
    state = await fabricUp({ topology, stateDir: dir });
    let c = await open();
    expect(c.ack.capacityBytes).to.equal(16 * 1024 * 1024);
    const f = await c.create(c.rootId, 'vm1.vmx');
    await c.write(f.fileId, 0, Buffer.from('memSize = "1024"\n'));
    await c.close();
    await fabricDown(state, dir);
    state = undefined;
    expect(fs.existsSync(path.join(dir, ARRAYS_DIR, 'filer', NAS_STORE_DIR, 'CURRENT'))).to.equal(true);
    state = await fabricUp({ topology, stateDir: dir });
    c = await open();
    const again = await c.lookup(c.rootId, 'vm1.vmx');
    expect(again.fileId).to.equal(f.fileId);
    expect((await c.read(f.fileId, 0, 100)).data.toString()).to.equal('memSize = "1024"\n');
    await c.close();
  });
});
