// Cluster configuration (docs/ha.md; docs/vsphere-behaviour.md §7.12): defaults (leave powered on, the
// gateway as isolation address, 2 heartbeat datastores per host chosen deterministically, medium
// priority, protected), and validation that names the field of every problem, limits first.
import { expect } from 'chai';
import { HA_ERROR, HA_MAX_HOSTS, chooseHeartbeatDatastores, haHeartbeatFile, haPoweronFile, resolveCluster } from '../../lib/ha/index.js';
import { clusterOf } from './sim.js';

function fields(input: unknown): string[] {
  const r = resolveCluster(input);
  if (r.ok) return [];
  for (const e of r.error) expect(e.code).to.equal(HA_ERROR.BAD_CONFIG);
  return r.error.map((e) => e.details!.field as string);
}

describe('HA cluster configuration', () => {
  it('defaults: leave powered on, isolation address = gateway, 2 heartbeat datastores, medium priority, protected', () => {
    const input = clusterOf(3, {}, [{ name: 'web1', datastore: 'ds1' }]);
    input.hosts[2]!.datastores = ['ds3', 'ds1', 'ds2'];
    input.hosts[1]!.gateway = '192.0.2.254';
    const r = resolveCluster(input);
    if (!r.ok) throw new Error(r.error.map((e) => e.message).join());
    const c = r.value;
    expect(c.isolationResponse).to.equal('leave-powered-on');
    expect(c.host.get('esx1')!.isolationAddresses).to.deep.equal(['192.0.2.1']);
    expect(c.host.get('esx2')!.isolationAddresses).to.deep.equal(['192.0.2.254']);
    // Mounted by the most hosts first (ds1, ds2 by all three), ds3 only by esx3: never chosen over them.
    expect(c.hosts.map((h) => h.heartbeatDatastores)).to.deep.equal([['ds1', 'ds2'], ['ds1', 'ds2'], ['ds1', 'ds2']]);
    expect(c.vm.get('web1')).to.deep.equal({ name: 'web1', datastore: 'ds1', portGroups: [], restartPriority: 'medium', protected: true });
    expect(haHeartbeatFile('c1', 'esx1')).to.equal('.vSphere-HA/c1/host-esx1-hb');
    expect(haPoweronFile('c1', 'esx1')).to.equal('.vSphere-HA/c1/host-esx1-poweron');
  });

  it('heartbeat datastores: the named list in its order, per host those it mounts; count 0..5; deterministic', () => {
    const hosts = [{ name: 'a', datastores: ['x', 'y', 'z'] }, { name: 'b', datastores: ['z', 'w'] }];
    expect(chooseHeartbeatDatastores(hosts, 2, ['z', 'w', 'x'])).to.deep.equal(new Map([['a', ['z', 'x']], ['b', ['z', 'w']]]));
    expect(chooseHeartbeatDatastores(hosts, 2)).to.deep.equal(new Map([['a', ['z', 'x']], ['b', ['z', 'w']]]));
    expect(chooseHeartbeatDatastores(hosts, 1)).to.deep.equal(chooseHeartbeatDatastores([...hosts].reverse(), 1));
    const r = resolveCluster(clusterOf(2, { ha: { heartbeatDatastores: ['ds2'], isolationAddresses: ['198.51.100.1', '198.51.100.2'], isolationResponse: 'power-off' } }));
    expect(r.ok && r.value.hosts.map((h) => [h.heartbeatDatastores, h.isolationAddresses, r.value.isolationResponse])).to.deep.equal([
      [['ds2'], ['198.51.100.1', '198.51.100.2'], 'power-off'], [['ds2'], ['198.51.100.1', '198.51.100.2'], 'power-off'],
    ]);
    const none = resolveCluster(clusterOf(2, { ha: { heartbeatDatastoresPerHost: 0 } }));
    expect(none.ok && none.value.hosts.map((h) => h.heartbeatDatastores)).to.deep.equal([[], []]);
  });

  it('every problem is reported, each naming its field', () => {
    const input = clusterOf(3, {
      ha: { isolationResponse: 'reboot' as never, heartbeatDatastoresPerHost: 6, heartbeatDatastores: ['ds9'] },
    }, [
      { name: 'web1', datastore: 'ds7' },
      { name: 'web1', datastore: 'ds1', portGroups: ['pg-nope'], restartPriority: 'urgent' as never, protected: 'yes' as never },
    ]);
    delete input.hosts[1]!.gateway;
    input.hosts[2]!.managementIp = '192.0.2.300';
    (input.hosts[0] as unknown as Record<string, unknown>).vlan = 5;
    expect(fields(input)).to.have.members([
      'ha.isolationResponse', 'ha.heartbeatDatastoresPerHost', 'ha.heartbeatDatastores[0]',
      'hosts[0].vlan', 'hosts[1].gateway', 'hosts[2].managementIp',
      'vms[0].datastore', 'vms[1].name', 'vms[1].portGroups[0]', 'vms[1].restartPriority', 'vms[1].protected',
    ]);
  });

  it('names are checked; a field prefix is prepended; limits are checked before anything else', () => {
    expect(fields(clusterOf(1, { name: 'a b' }))).to.deep.equal(['name']);
    const r = resolveCluster({ name: 'c1', hosts: [] }, 'clusters[2]');
    expect(!r.ok && r.error.map((e) => e.message)).to.deep.equal(['clusters[2].hosts: must list 1..64 hosts']);
    const many = clusterOf(HA_MAX_HOSTS + 1);
    expect(fields(many)).to.deep.equal(['hosts']);
    expect(fields(clusterOf(2, { ha: { isolationAddresses: Array(11).fill('192.0.2.1') } }))).to.deep.equal(['ha.isolationAddresses']);
    expect(fields(clusterOf(2, { ha: { isolationAddresses: ['gw'] } }))).to.deep.equal(['ha.isolationAddresses[0]']);
    expect(fields(null)).to.deep.equal(['']);
    // Without a gateway, an explicit isolation address will do.
    const input = clusterOf(2, { ha: { isolationAddresses: ['192.0.2.1'] } });
    for (const h of input.hosts) delete h.gateway;
    expect(fields(input)).to.deep.equal([]);
  });
});
