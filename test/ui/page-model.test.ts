// Unit tests of the web view page's pure parts (no browser): ui/src/model.ts (deltas applied by id, the
// timeline filter, where an event lights up) and ui/src/layout.ts (the elements drawn from a snapshot:
// nesting, active-uplink edges, link classes, switch port order, links to ends not drawn left out).
// Snapshots come from the quickstart topology (test/e2e/helpers/ui-fixture.ts). The page in a browser:
// test/e2e/ui/.

import { expect } from 'chai';
import type { UiSnapshot } from '../../lib/ui/protocol.js';
import { buildElements, linkClasses, portOrder } from '../../ui/src/layout.js';
import { applyDelta, eventMatches, eventPlace, formatFabricTime } from '../../ui/src/model.js';
import { snapshotOfFile } from '../e2e/helpers/ui-fixture.js';

const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

describe('ui page model and layout (pure)', () => {
  let base: UiSnapshot;
  before(async () => {
    base = await snapshotOfFile('topologies/quickstart.yaml');
  });

  it('applies a delta by replacing hosts and links whole by id and removing what it names', () => {
    const snap = clone(base);
    const link = clone(snap.links[0]!);
    link.state = 'down';
    const esx2 = clone(snap.hosts[1]!);
    esx2.reachable = false;
    applyDelta(snap, { links: [link], hosts: [esx2], removed: { links: [snap.links[4]!.id] } }, 5000);
    expect(snap.links).to.have.length(4);
    expect(snap.links[0]!.state).to.equal('down');
    expect(snap.hosts.map((h) => [h.name, h.reachable])).to.deep.equal([['esx1', true], ['esx2', false]]);
    expect(snap.clockMs).to.equal(5000);
    applyDelta(snap, {}, 10); // the clock never goes back
    expect(snap.clockMs).to.equal(5000);
  });

  it('filters events by type and by text in any field; formats fabric time', () => {
    const e = { timeMs: 12329.117, source: 'sw2', seq: 1, type: 'mac-move', vlan: 20, mac: '00:50:56:00:20:02', fromPort: 'Gi1/0/48', toPort: 'Gi1/0/1' };
    expect(eventMatches(e, '', '')).to.equal(true);
    expect(eventMatches(e, 'mac-move', 'vlan=20')).to.equal(true);
    expect(eventMatches(e, 'drop', '')).to.equal(false);
    expect(eventMatches(e, '', 'vlan=10')).to.equal(false);
    expect(eventMatches(e, '', 'SW2')).to.equal(true);
    expect(formatFabricTime(12329.117)).to.equal('12.329 s');
    expect(formatFabricTime(725_000)).to.equal('12 min 5.000 s');
  });

  it('lights a drop at its port (a vNIC by name, an uplink or switch port under its daemon) and a MAC move at the port it moved to', () => {
    expect(eventPlace({ timeMs: 0, source: 'esx1', seq: 1, type: 'drop', port: 'web1.nic0' })).to.deep.equal({ id: 'web1.nic0', kind: 'drops' });
    expect(eventPlace({ timeMs: 0, source: 'esx1', seq: 1, type: 'drop', port: 'vmnic0' })).to.deep.equal({ id: 'esx1.vmnic0', kind: 'drops' });
    expect(eventPlace({ timeMs: 0, source: 'sw2', seq: 1, type: 'mac-move', toPort: 'Gi1/0/1' })).to.deep.equal({ id: 'sw2.Gi1/0/1', kind: 'macmove' });
    expect(eventPlace({ timeMs: 0, source: 'sw1', seq: 1, type: 'mac-flap', ports: ['Gi1/0/1', 'Gi1/0/2'] })).to.deep.equal({ id: 'sw1.Gi1/0/2', kind: 'macmove' });
    expect(eventPlace({ timeMs: 0, source: 'sw1', seq: 1, type: 'mac-learned', port: 'Gi1/0/1' })).to.equal(null);
  });

  it('nests each vNIC in its port group, vSwitch and host, with one active-uplink edge to a vmnic of its host', () => {
    const els = buildElements(base);
    const byId = new Map(els.map((e) => [e.data.id, e]));
    expect(byId.get('web1.nic0')!.data.parent).to.equal('pg:esx1/vSwitch0/VM-10');
    expect(byId.get('pg:esx1/vSwitch0/VM-10')!.data.parent).to.equal('vswitch:esx1/vSwitch0');
    expect(byId.get('vswitch:esx1/vSwitch0')!.data.parent).to.equal('host:esx1');
    expect(byId.get('esx1.vmnic0')!.data.parent).to.equal('host:esx1');
    const uses = els.filter((e) => e.data.kind === 'uses');
    expect(uses.map((e) => e.data.source).sort()).to.deep.equal(['app1.nic0', 'db1.nic0', 'web1.nic0', 'web2.nic0']);
    for (const u of uses) expect(String(u.data.target).split('.')[0]).to.equal(byId.get(String(u.data.source))!.data.host);
    // every leaf has a place, no two leaves share one
    const places = els.filter((e) => e.position).map((e) => `${e.position!.x},${e.position!.y}`);
    expect(new Set(places).size).to.equal(places.length);
  });

  it('draws a powered-off VM grey and without an active-uplink edge when it has none', () => {
    const snap = clone(base);
    const web1 = snap.hosts[0]!.vms.find((v) => v.name === 'web1')!;
    web1.poweredOn = false;
    web1.nics[0]!.activeUplink = null;
    const els = buildElements(snap);
    expect(els.find((e) => e.data.id === 'web1.nic0')!.classes).to.include('off');
    expect(els.some((e) => e.data.id === 'uses:web1.nic0')).to.equal(false);
  });

  it('classes a link by state and marks a trunk (a VLAN list), and leaves out a link to an end it does not draw', () => {
    const link = clone(base.links[0]!);
    expect(linkClasses({ ...link, state: 'flapping', vlans: '10,20' })).to.equal('link flapping trunk');
    expect(linkClasses({ ...link, state: 'up', vlans: '10' })).to.equal('link up');
    const snap = clone(base);
    snap.links.push({ ...link, id: 'esx1.vmnic9 -- stor.eth0', a: { ...link.a, endpoint: 'esx1.vmnic9' }, b: { ...link.b, endpoint: 'stor.eth0' } });
    const ids = buildElements(snap).filter((e) => e.data.kind === 'link').map((e) => e.data.id);
    expect(ids).to.have.length(5);
  });

  it('orders switch ports so the inter-switch trunk faces the other switch', () => {
    const sw2 = base.switches.find((s) => s.name === 'sw2')!;
    const sw1 = base.switches.find((s) => s.name === 'sw1')!;
    expect(portOrder(sw1, base).map((p) => p.name)).to.deep.equal(['Gi1/0/1', 'Gi1/0/2', 'Gi1/0/48']);
    expect(portOrder(sw2, base).map((p) => p.name)).to.deep.equal(['Gi1/0/48', 'Gi1/0/1', 'Gi1/0/2']);
    // and the drawing places them in that order
    const x = (id: string) => buildElements(base).find((e) => e.data.id === id)!.position!.x;
    expect(x('sw2.Gi1/0/48')).to.be.below(x('sw2.Gi1/0/1'));
    expect(x('sw1.Gi1/0/48')).to.be.below(x('sw2.Gi1/0/48'));
  });
});
