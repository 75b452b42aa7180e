// Keeps docs/topology.md in step with the schema, and checks the teaching example topologies say what
// their comments claim.

import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { schemaFieldTable } from '../../lib/topology/schema-doc.js';
import { loadTopologyFile } from '../../lib/topology/load.js';
import {
  MAX_NAME_LENGTH, MAX_PORT_GROUPS_PER_VSWITCH, MAX_UPLINKS_PER_VSWITCH, MAX_VNICS_PER_VM, MAX_VSWITCHES_PER_HOST,
  MAX_VSWITCH_MTU_BYTES, MAX_PORT_CHANNEL_MEMBERS, MAX_STORAGE_PATHS, MAX_HOSTS, MAX_LINKS, MAX_SWITCHES,
  MAX_SWITCH_PORTS, findPortGroup, linkPeer,
} from '../../lib/topology/model.js';
import { MAX_READ_CACHE_BYTES } from '../../lib/storage/block-cache.js';
import { HA_MAX_HOSTS } from '../../lib/ha/config.js';
import schema from '../../lib/topology/topology.schema.json' with { type: 'json' };

const ROOT = join(import.meta.dirname, '..', '..');

describe('topology docs and examples', () => {
  it('docs/topology.md holds the field table generated from the schema, verbatim', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'topology.md'), 'utf8');
    const begin = doc.indexOf('<!-- fields:begin -->\n');
    const end = doc.indexOf('<!-- fields:end -->');
    expect(begin, 'markers').to.be.greaterThan(0);
    expect(doc.slice(begin + '<!-- fields:begin -->\n'.length, end).trim()).to.equal(schemaFieldTable());
    expect(doc).to.include('lib/topology/topology.schema.json');
  });

  it('the field table covers nested fields (port-group vlan, NIC guestVlan, teaming lists)', () => {
    const table = schemaFieldTable();
    for (const field of ['hosts[].vswitches[].portGroups[].vlan', 'hosts[].vms[].nics[].guestVlan',
      'hosts[].vswitches[].portGroups[].teaming.standby', 'arrays[].luns[].blockSize']) {
      expect(table).to.include(`| \`${field}\` |`);
    }
  });

  it('§8 limits in the schema equal the named constants of model.ts', () => {
    const d = schema.definitions;
    expect(d.host.properties.vswitches.maxItems).to.equal(MAX_VSWITCHES_PER_HOST);
    expect(d.vswitch.properties.portGroups.maxItems).to.equal(MAX_PORT_GROUPS_PER_VSWITCH);
    expect(d.vswitch.properties.uplinks.maxItems).to.equal(MAX_UPLINKS_PER_VSWITCH);
    expect(d.vm.properties.nics.maxItems).to.equal(MAX_VNICS_PER_VM);
    expect(d.array.properties.readCacheMB.maximum * 1024 ** 2).to.equal(MAX_READ_CACHE_BYTES);
    expect(d.vswitchMtu.maximum).to.equal(MAX_VSWITCH_MTU_BYTES);
    expect(d.nodeName.maxLength).to.equal(MAX_NAME_LENGTH);
    expect(d.label.maxLength).to.equal(MAX_NAME_LENGTH);
    expect(d.portChannel.properties.members.maxItems).to.equal(MAX_PORT_CHANNEL_MEMBERS);
    expect(d.hostStorage.properties.paths.maximum).to.equal(MAX_STORAGE_PATHS);
    expect(schema.properties.hosts.maxItems).to.equal(MAX_HOSTS);
    expect(schema.properties.links.maxItems).to.equal(MAX_LINKS);
    expect(schema.properties.switches.maxItems).to.equal(MAX_SWITCHES);
    expect(d.cluster.properties.hosts.maxItems).to.equal(HA_MAX_HOSTS);
    expect(d.switch.properties.ports.maxItems).to.equal(MAX_SWITCH_PORTS);
  });

  it('§2.6 native-vlan-trap: a VST port group on the trunk\'s native VLAN, and a VLAN-0 port group beside it', async () => {
    const t = await loadTopologyFile(join(ROOT, 'topologies', 'native-vlan-trap.yaml'));
    const esx1 = t.hosts.find((h) => h.name === 'esx1')!;
    const peer = linkPeer(t, 'esx1.vmnic0');
    if (peer?.kind !== 'switchPort') expect.fail('esx1.vmnic0 should be cabled to a switch port');
    expect(peer.port).to.include({ mode: 'trunk', nativeVlan: 10 });
    expect(findPortGroup(esx1, 'Trap-10')!.portGroup.vlan).to.equal(peer.port.nativeVlan);
    expect(findPortGroup(esx1, 'Native')!.portGroup.vlan).to.equal(0);
    const vmsOn = (pg: string) => esx1.vms.filter((v) => v.nics.some((n) => n.portGroup === pg)).map((v) => v.name);
    expect(vmsOn('Trap-10')).to.deep.equal(['trapped']);
    expect(vmsOn('Native')).to.deep.equal(['fixed']);
  });
});
