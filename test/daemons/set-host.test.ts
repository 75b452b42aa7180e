// vfab set on hosts, the CLI half (daemons/fabric/reconfigure-host.ts): each option becomes the topology
// field it names, checked by loading the result with every topology rule; the options that cannot change
// live are refused before anything is read. In-process, no daemon (the host's half: test/host/reconfigure.test.ts).
import { expect } from 'chai';
import fs from 'node:fs';
import { hostChange } from '../../daemons/fabric/reconfigure-host.js';
import type { SetVerb } from '../../daemons/cli/commands/set.js';
import { editTopologyText, rawTopology } from '../../lib/topology/edit.js';
import { parseTopology } from '../../lib/topology/load.js';

const YAML = fs.readFileSync(new URL('../../topologies/e2e/reconfigure.yaml', import.meta.url), 'utf8');

function run(verb: SetVerb, names: string[], values: Record<string, unknown>) {
  const typed = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, `--${k} ${String(v)}`]));
  const change = hostChange(verb, names, values, typed);
  const edited = editTopologyText(YAML, 't.yaml', change.edits(rawTopology(YAML), parseTopology(YAML, 't.yaml')));
  return { change, topology: edited.topology, text: edited.text };
}

describe('vfab set on hosts: options to topology fields', () => {
  it('vswitch: MTU, teaming and security', () => {
    const { topology, change } = run('vswitch', ['esx1', 'vSwitch0'], { mtu: 9000, 'load-balancing': 'explicit', active: 'vmnic1', standby: 'vmnic0', failback: 'off', notify: 'off', 'failure-detection': 'linkStatus', promiscuous: 'accept', 'mac-changes': 'accept', 'forged-transmits': 'reject' });
    const vs = topology.hosts[0]!.vswitches[0]!;
    expect(vs.mtu).to.equal(9000);
    expect(vs.teaming).to.deep.include({ loadBalancing: 'explicit', active: ['vmnic1'], standby: ['vmnic0'], failback: false, notifySwitches: false, failureDetection: 'linkStatus' });
    expect(vs.security).to.deep.equal({ promiscuous: 'accept', macChanges: 'accept', forgedTransmits: 'reject' });
    expect(change.what).to.equal('esx1 vSwitch0 (vSwitch) --mtu 9000 --load-balancing explicit --active vmnic1 --standby vmnic0 --failback off --notify off --failure-detection linkStatus --promiscuous accept --mac-changes accept --forged-transmits reject');
  });

  it('portgroup: VLAN, teaming override (standby -), security override and shaping; the other port group keeps the vSwitch policy', () => {
    const { topology } = run('portgroup', ['esx1', 'VM-10'], { vlan: 11, 'load-balancing': 'explicit', active: 'vmnic1,vmnic0', standby: '-', promiscuous: 'accept', shaping: 'on', 'average-kbps': 1000, 'peak-kbps': 2000, 'burst-kb': 50 });
    const [pg, other] = topology.hosts[0]!.vswitches[0]!.portGroups;
    expect(pg!.vlan).to.equal(11);
    expect(pg!.teaming).to.deep.include({ loadBalancing: 'explicit', active: ['vmnic1', 'vmnic0'], standby: [] });
    expect(pg!.security.promiscuous).to.equal('accept');
    expect(pg!.trafficShaping).to.deep.equal({ enabled: true, averageKbps: 1000, peakKbps: 2000, burstKB: 50 });
    expect(other!.teaming.loadBalancing).to.equal('srcPortId');
    expect(other!.security.promiscuous).to.equal('reject');
  });

  it('vnic: port group and MAC', () => {
    const { topology } = run('vnic', ['db1', 'nic0'], { portgroup: 'VM-10', mac: '00:50:56:00:20:aa' });
    const nic = topology.hosts[1]!.vms.find((v) => v.name === 'db1')!.nics[0]!;
    expect([nic.portGroup, nic.vswitch, nic.macText]).to.deep.equal(['VM-10', 'vSwitch0', '00:50:56:00:20:aa']);
  });

  it('host: --reverse-path-promisc 1 sets hosts[].advanced, 0 removes it', () => {
    const on = run('host', ['esx2'], { 'reverse-path-promisc': '1' });
    expect(on.topology.hosts[1]!.advanced).to.deep.equal({ reversePathFwdCheckPromisc: 1 });
    expect(on.text).to.match(/advanced:\n\s+reversePathFwdCheckPromisc: 1/);
    const off = run('host', ['esx2'], { 'reverse-path-promisc': '0' });
    expect(off.topology.hosts[1]!.advanced).to.equal(undefined);
  });

  it('refused before anything is read: --uplinks (usage, exit 2)', () => {
    expect(() => hostChange('vswitch', ['esx1', 'vSwitch0'], { uplinks: 'vmnic0' }, { uplinks: '--uplinks vmnic0' })).to.throw(/--uplinks vmnic0: .*cabled/).with.property('code', 'VFAB_USAGE');
  });

  it('vnic --mtu edits nics[].mtu, within the vSwitch MTU like a topology file', () => {
    const r = run('vnic', ['web1', 'nic0'], { mtu: 1400 });
    expect(r.topology.hosts[0]!.vms.find((v) => v.name === 'web1')!.nics[0]!.mtu).to.equal(1400);
    expect(() => run('vnic', ['web1', 'nic0'], { mtu: 9000 })).to.throw(/9000/).with.property('code', 'VFAB_TOPOLOGY_INVALID');
  });

  it('invalid results are the topology\'s problems: an active uplink the vSwitch lacks, an unknown port group', () => {
    expect(() => run('vswitch', ['esx1', 'vSwitch0'], { active: 'vmnic0,vmnic7' })).to.throw(/vmnic7/).with.property('code', 'VFAB_TOPOLOGY_INVALID');
    expect(() => run('vnic', ['web1', 'nic0'], { portgroup: 'VM-30' })).to.throw(/VM-30/).with.property('code', 'VFAB_TOPOLOGY_INVALID');
    expect(() => run('portgroup', ['esx1', 'VM-1O'], { vlan: 3 })).to.throw(/did you mean VM-10/).with.property('code', 'VFAB_NOT_FOUND');
  });
});
