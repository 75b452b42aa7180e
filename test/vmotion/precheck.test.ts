// Pre-checks: each reason a migration cannot start is one typed refusal naming what is wrong; a good
// request has none.
import { expect } from 'chai';
import { precheckMigration, VMOTION_MAX_CONCURRENT_PER_HOST, type PrecheckInput } from '../../lib/vmotion/index.js';

function good(): PrecheckInput {
  return {
    vm: { name: 'app1', poweredOn: true, datastores: ['ds1'], nics: [{ name: 'nic0', portGroup: 'App', vlanId: 20 }], memory: { memoryBytes: 64 * 1024 * 1024, dirtyBytesPerSec: 1_000_000 } },
    source: { name: 'esx1', datastores: ['ds1'], portGroups: [{ name: 'App', vlanId: 20 }], hasVmotionVmk: true, vms: ['app1'], migrating: [] },
    destination: { name: 'esx2', datastores: ['ds1', 'ds2'], portGroups: [{ name: 'App', vlanId: 20 }, { name: 'Web', vlanId: 10 }], hasVmotionVmk: true, vms: [], migrating: [] },
  };
}

function codes(p: PrecheckInput): string[] {
  return precheckMigration(p).map((e) => e.code);
}

describe('vMotion pre-checks', () => {
  it('passes a VM that is on, to another host with its datastore and port group on the same VLAN', () => {
    expect(precheckMigration(good())).to.deep.equal([]);
  });

  it('refuses a VM that is powered off', () => {
    const p = good();
    p.vm.poweredOn = false;
    expect(codes(p)).to.deep.equal(['VFAB_VMOTION_VM_OFF']);
    expect(precheckMigration(p)[0]!.message).to.match(/app1 is powered off/);
  });

  it('refuses the source as destination', () => {
    const p = good();
    p.destination = { ...p.source };
    expect(codes(p)).to.deep.equal(['VFAB_VMOTION_SAME_HOST']);
    expect(precheckMigration(p)[0]!.message).to.match(/already runs on esx1/);
  });

  it('refuses a destination that does not see the datastore, naming it', () => {
    const p = good();
    p.destination.datastores = ['ds2'];
    const r = precheckMigration(p);
    expect(r.map((e) => e.code)).to.deep.equal(['VFAB_VMOTION_NO_DATASTORE']);
    expect(r[0]!.message).to.match(/esx2 does not see datastore ds1/);
    expect(r[0]!.details).to.include({ datastore: 'ds1' });
  });

  it('refuses a destination without the port group, naming vNIC and port group', () => {
    const p = good();
    p.destination.portGroups = [{ name: 'Web', vlanId: 10 }];
    const r = precheckMigration(p);
    expect(r.map((e) => e.code)).to.deep.equal(['VFAB_VMOTION_NO_PORT_GROUP']);
    expect(r[0]!.message).to.match(/no port group App for app1\.nic0/);
  });

  it('refuses a port group of the same name on another VLAN, with both VLANs', () => {
    const p = good();
    p.destination.portGroups = [{ name: 'App', vlanId: 21 }];
    const r = precheckMigration(p);
    expect(r.map((e) => e.code)).to.deep.equal(['VFAB_VMOTION_VLAN_MISMATCH']);
    expect(r[0]!.details).to.include({ sourceVlan: 20, destinationVlan: 21 });
  });

  it('refuses a VM already migrating, from either host', () => {
    const p = good();
    p.source.migrating = ['app1'];
    expect(codes(p)).to.deep.equal(['VFAB_VMOTION_IN_PROGRESS']);
    const q = good();
    q.destination.migrating = ['app1'];
    expect(codes(q)).to.deep.equal(['VFAB_VMOTION_IN_PROGRESS']);
  });

  it('refuses hosts without a vMotion vmkernel port, a taken name, too many migrations, a bad memory model', () => {
    const p = good();
    p.destination.hasVmotionVmk = false;
    p.destination.vms = ['app1'];
    p.source.migrating = Array.from({ length: VMOTION_MAX_CONCURRENT_PER_HOST }, (_, i) => `vm${i}`);
    p.vm.memory = { memoryBytes: 1000, dirtyBytesPerSec: 0 };
    expect(codes(p)).to.deep.equal(['VFAB_VMOTION_NAME_TAKEN', 'VFAB_VMOTION_TOO_MANY', 'VFAB_VMOTION_NO_VMK', 'VFAB_VMOTION_BAD_CONFIG']);
  });

  it('refuses a VM name too long for the wire', () => {
    const p = good();
    p.vm.name = 'v'.repeat(65);
    expect(codes(p)).to.deep.equal(['VFAB_VMOTION_BAD_CONFIG']);
  });

  it('lists every problem at once', () => {
    const p = good();
    p.vm.poweredOn = false;
    p.destination.datastores = [];
    p.destination.portGroups = [];
    expect(codes(p)).to.deep.equal(['VFAB_VMOTION_VM_OFF', 'VFAB_VMOTION_NO_DATASTORE', 'VFAB_VMOTION_NO_PORT_GROUP']);
  });
});
