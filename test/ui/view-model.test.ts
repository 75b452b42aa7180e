// lib/ui/view-model.ts: status replies and events -> UiSnapshot and UiDelta, with fixtures shaped like
// the daemons' GET /control/status and a manual clock (times passed in). Also the event batcher's bounds.
import { expect } from 'chai';
import { EventBatcher, FabricView, diffSnapshots, eventBatchWaitMs, linkState } from '../../lib/ui/view-model.js';
import { LIVE_BATCH_MS, LIVE_QUIET_BATCH_EVENTS, LIVE_QUIET_BATCH_MS } from '../../lib/ui/protocol.js';
import type { UiEvent } from '../../lib/ui/protocol.js';

interface LinkOpts { carrier?: boolean; adminUp?: boolean; tx?: number; rx?: number; impairment?: unknown; flap?: unknown }

function link(local: string, peer: string, o: LinkOpts = {}) {
  const tx = o.tx ?? 0;
  const rx = o.rx ?? 0;
  return { local, peer, carrier: o.carrier ?? true, adminUp: o.adminUp ?? true, counters: { txFrames: tx, rxFrames: rx, txBytes: tx * 60, rxBytes: rx * 60, txDropsCarrier: 0, txDropsQueueFull: 0 }, impairment: o.impairment ?? null, flap: o.flap ?? null };
}

/** esx1 as its status reads: vmnic0 to sw1, vmnic1 to sw2; web1 (port 1) and app1 (port 2). */
function esx1(clockMs: number, o: { vmnic0?: LinkOpts; app1Uplink?: string; web1On?: boolean } = {}) {
  const vmnic0Up = o.vmnic0?.carrier ?? true;
  const app1 = o.app1Uplink ?? (vmnic0Up ? 'vmnic0' : 'vmnic1');
  const port = (portId: number, name: string, pg: string, vlan: number, mac: string, uplink: string) => ({ portId, name, portGroup: pg, vlanId: vlan, effectiveMac: mac, uplink, uplinkReason: `active uplink ${uplink} (srcPortId)`, counters: { drops: { forged_transmit: portId === 1 ? 2 : 0 } } });
  return {
    name: 'esx1', kind: 'host', clockMs,
    links: [link('vmnic0', 'sw1.Gi1/0/1', o.vmnic0), link('vmnic1', 'sw2.Gi1/0/1')],
    vswitches: [{
      name: 'vSwitch0', mtu: 1500,
      teaming: { loadBalancing: 'srcPortId', active: ['vmnic0', 'vmnic1'], standby: [], failback: true, notifySwitches: true, failureDetection: 'linkStatus' },
      uplinks: [{ name: 'vmnic0', up: vmnic0Up, role: 'active', inUse: vmnic0Up, drops: { reverse_path: 1 } }, { name: 'vmnic1', up: true, role: 'active', inUse: true, drops: {} }],
      portGroups: [{ name: 'VM-10', vlan: 10 }, { name: 'VM-20', vlan: 20 }],
      ports: [port(1, 'web1.nic0', 'VM-10', 10, '00:50:56:00:10:01', 'vmnic1'), port(2, 'app1.nic0', 'VM-20', 20, '00:50:56:00:20:02', app1)],
    }],
    vms: [
      { name: 'web1', poweredOn: o.web1On ?? true, nics: [{ name: 'nic0', mac: '00:50:56:00:10:01', ip: '192.0.2.11/24', portGroup: 'VM-10', vswitch: 'vSwitch0', portId: 1 }] },
      { name: 'app1', poweredOn: true, nics: [{ name: 'nic0', mac: '00:50:56:00:20:02', ip: '198.51.100.12/24', portGroup: 'VM-20', vswitch: 'vSwitch0', portId: 2 }] },
    ],
    vmkernels: [],
  };
}

function sw(name: string, clockMs: number, hostPort: LinkOpts = {}, trunk: LinkOpts = {}) {
  const other = name === 'sw1' ? 'sw2' : 'sw1';
  const p = (pname: string, vlans: string, up: boolean) => ({ name: pname, description: '', mode: 'trunk', accessVlan: 1, nativeVlan: 1, vlans, up, shutdown: false, counters: { rxDrops: { vlan_not_allowed: 1 }, txDrops: {} } });
  return {
    name, kind: 'switch', clockMs,
    links: [link('Gi1/0/1', `esx1.${name === 'sw1' ? 'vmnic0' : 'vmnic1'}`, hostPort), link('Gi1/0/48', `${other}.Gi1/0/48`, trunk)],
    ports: [p('Gi1/0/1', '10,20', hostPort.carrier ?? true), p('Gi1/0/48', '10,20,30', true)],
    counters: { macEntries: 4, moves: 2, flaps: 0, drops: { no_egress: 3 } },
  };
}

const DAEMONS = [{ name: 'sw1', kind: 'switch' as const }, { name: 'sw2', kind: 'switch' as const }, { name: 'array1', kind: 'array' as const }, { name: 'esx1', kind: 'host' as const }];

function view(atMs = 1000): FabricView {
  const v = new FabricView({ fabric: 'lab', timeScale: 1, daemons: DAEMONS });
  v.applyStatus('sw1', sw('sw1', atMs), undefined, atMs);
  v.applyStatus('sw2', sw('sw2', atMs), undefined, atMs);
  v.applyStatus('array1', { luns: [{ lun: 0, name: 'datastore1', sizeBytes: 4096 }], sessions: [{}, {}] }, undefined, atMs);
  v.applyStatus('esx1', esx1(atMs), undefined, atMs);
  return v;
}

const ev = (timeMs: number, source: string, seq: number, type: string, fields: Record<string, unknown> = {}): UiEvent => ({ timeMs, source, seq, type, ...fields });

describe('ui/view-model: FabricView.snapshot', () => {
  it('has every host, switch and array, each link once (from both ends), with the VLANs of the switch end', () => {
    const s = view().snapshot(1500);
    expect(s).to.include({ fabric: 'lab', clockMs: 1500, timeScale: 1, version: 1 });
    expect(s.hosts.map((h) => h.name)).to.deep.equal(['esx1']);
    expect(s.switches.map((x) => x.name)).to.deep.equal(['sw1', 'sw2']);
    expect(s.arrays).to.deep.equal([{ name: 'array1', reachable: true, luns: [{ lun: 0, name: 'datastore1', sizeBytes: 4096 }], sessions: 2 }]);
    expect(s.links.map((l) => l.id)).to.deep.equal(['esx1.vmnic0 -- sw1.Gi1/0/1', 'esx1.vmnic1 -- sw2.Gi1/0/1', 'sw1.Gi1/0/48 -- sw2.Gi1/0/48']);
    const trunk = s.links[2]!;
    expect(trunk).to.deep.include({ state: 'up', vlans: '10,20,30', nativeVlan: 1 });
    expect(trunk.a).to.deep.equal({ endpoint: 'sw1.Gi1/0/48', node: 'sw1', iface: 'Gi1/0/48', carrier: true, adminUp: true });
  });

  it("gives each vNIC its vSwitch port's active uplink and the teaming reason; a powered-off VM has none", () => {
    const v = view();
    let vms = v.snapshot(1000).hosts[0]!.vms;
    expect(vms.find((x) => x.name === 'app1')!.nics[0]).to.deep.include({ id: 'app1.nic0', vlan: 20, activeUplink: 'vmnic0', uplinkReason: 'active uplink vmnic0 (srcPortId)' });
    v.applyStatus('esx1', esx1(2000, { web1On: false }), undefined, 2000);
    vms = v.snapshot(2000).hosts[0]!.vms;
    expect(vms.find((x) => x.name === 'web1')!.nics[0]).to.deep.include({ activeUplink: null, uplinkReason: 'powered off' });
  });

  it('sums drops per vSwitch port, uplink, host and switch port', () => {
    const s = view().snapshot(1000);
    const vs = s.hosts[0]!.vswitches[0]!;
    expect(vs.ports.map((p) => p.drops)).to.deep.equal([2, 0]);
    expect(vs.uplinks.map((u) => u.drops)).to.deep.equal([1, 0]);
    expect(s.hosts[0]!.drops).to.equal(3);
    expect(s.switches[0]!.ports[0]!.drops).to.equal(1);
    expect(s.switches[0]!.drops).to.equal(3);
  });

  it('rates per direction come from the counter difference over fabric time; a counter that went back starts over at 0', () => {
    const v = view(1000);
    v.applyStatus('esx1', esx1(3000, { vmnic0: { tx: 400, rx: 100 } }), undefined, 3000);
    let l = v.snapshot(3000).links[0]!;
    // a is esx1.vmnic0: 400 frames of 60 bytes in 2 s out of it, 100 in
    expect(l.rate.ab).to.deep.equal({ fps: 200, bps: 200 * 60 * 8 });
    expect(l.rate.ba).to.deep.equal({ fps: 50, bps: 50 * 60 * 8 });
    v.applyStatus('esx1', esx1(4000, { vmnic0: { tx: 10, rx: 10 } }), undefined, 4000);
    l = v.snapshot(4000).links[0]!;
    expect(l.rate.ab).to.deep.equal({ fps: 0, bps: 0 });
  });

  it("gives a VM's disks the datastore and the host holding its lock, where the fabric has datastores", () => {
    const v = view();
    expect(v.snapshot(1000).hosts[0]!.vms.find((x) => x.name === 'app1')!.disks).to.deep.equal([]);
    v.datastores = [{ name: 'ds1', hosts: ['esx1', 'esx2'], locks: [{ file: 'app1', holder: 'esx2', alive: true }] }];
    const s = v.snapshot(1000);
    expect(s.hosts[0]!.vms.find((x) => x.name === 'app1')!.disks).to.deep.equal([{ name: 'app1', datastore: 'ds1', lun: null, lockHolder: 'esx2' }]);
    expect(s.hosts[0]!.vms.find((x) => x.name === 'web1')!.disks).to.deep.equal([]);
    expect(s.datastores).to.deep.equal(v.datastores);
  });

  it('lists a VM registered on several hosts (HA) once, under the host that runs it, naming every host', () => {
    const v = new FabricView({ fabric: 'ha', timeScale: 1, daemons: [{ name: 'esx1', kind: 'host' }, { name: 'esx2', kind: 'host' }, { name: 'esx3', kind: 'host' }] });
    const host = (name: string, on: boolean) => ({ ...esx1(1000), name, vms: [{ name: 'app1', poweredOn: on, nics: [] }] });
    v.applyStatus('esx1', host('esx1', false), undefined, 1000);
    v.applyStatus('esx2', host('esx2', true), undefined, 1000);
    v.applyStatus('esx3', host('esx3', false), undefined, 1000);
    const s = v.snapshot(1000);
    expect(s.hosts.map((h) => h.vms.map((x) => x.name))).to.deep.equal([[], ['app1'], []]);
    expect(s.hosts[1]!.vms[0]!.registeredOn).to.deep.equal(['esx1', 'esx2', 'esx3']);
    v.applyStatus('esx2', host('esx2', false), undefined, 1100);
    expect(v.snapshot(1100).hosts.map((h) => h.vms.length)).to.deep.equal([1, 0, 0]);
  });

  it('an unreachable daemon keeps its last reply, marked unreachable with why', () => {
    const v = view();
    v.applyStatus('sw2', undefined, 'cannot reach switch sw2: connection refused', 2000);
    const s = v.snapshot(2000);
    const sw2 = s.switches.find((x) => x.name === 'sw2')!;
    expect(sw2).to.deep.include({ reachable: false, error: 'cannot reach switch sw2: connection refused' });
    expect(sw2.ports.length).to.equal(2);
    expect(s.daemons.find((d) => d.name === 'sw2')).to.deep.include({ reachable: false });
  });

  it('counts MAC moves on the switch ports of each link from mac-move and mac-flap events', () => {
    const v = view();
    v.applyEvents([ev(10, 'sw1', 1, 'mac-move', { fromPort: 'Gi1/0/48', toPort: 'Gi1/0/1' }), ev(11, 'sw1', 2, 'mac-flap', { fromPort: 'Gi1/0/1', toPort: 'Gi1/0/48' })]);
    const s = v.snapshot(1000);
    expect(s.links.find((l) => l.id === 'esx1.vmnic0 -- sw1.Gi1/0/1')!.macMoves).to.equal(2);
    expect(s.links.find((l) => l.id === 'sw1.Gi1/0/48 -- sw2.Gi1/0/48')!.macMoves).to.equal(2);
    expect(s.links.find((l) => l.id === 'esx1.vmnic1 -- sw2.Gi1/0/1')!.macMoves).to.equal(0);
  });

  it('names the daemons to read again after state-changing events, not after drops or learning', () => {
    const v = view();
    const changed = v.applyEvents([ev(1, 'esx1', 1, 'carrier', { uplink: 'vmnic0', up: false }), ev(2, 'sw2', 1, 'drop'), ev(3, 'sw1', 1, 'mac-learned')]);
    expect([...changed]).to.deep.equal(['esx1']);
  });
});

describe('ui/view-model: linkState', () => {
  const end = (carrier: boolean, impairment: unknown = null, flap: unknown = null) => ({ carrier, impairment, flap });
  it('is down when either end lost carrier, impaired when an up link has an impairment, flapping while a flap runs', () => {
    expect(linkState([end(true), end(true)])).to.equal('up');
    expect(linkState([end(true), end(false)])).to.equal('down');
    expect(linkState([end(true, { lossPercent: 5 }), end(true)])).to.equal('impaired');
    expect(linkState([end(false, { lossPercent: 5 }), end(false)])).to.equal('down');
    expect(linkState([end(false, null, { periodMs: 2000 }), end(false)])).to.equal('flapping');
    expect(linkState([undefined, undefined])).to.equal('down');
  });
});

describe('ui/view-model: diffSnapshots', () => {
  it('is undefined when nothing but the clock moved', () => {
    const v = view();
    expect(diffSnapshots(v.snapshot(1000), v.snapshot(2000))).to.equal(undefined);
  });

  it('after a pulled cable: the link (down), the host and switch, and the vNIC whose uplink moved, nothing else', () => {
    const v = view(1000);
    const before = v.snapshot(1000);
    v.applyStatus('esx1', esx1(1200, { vmnic0: { carrier: false, adminUp: false } }), undefined, 1200);
    v.applyStatus('sw1', sw('sw1', 1200, { carrier: false }), undefined, 1200);
    const d = diffSnapshots(before, v.snapshot(1200))!;
    expect(d.links!.map((l) => [l.id, l.state])).to.deep.equal([['esx1.vmnic0 -- sw1.Gi1/0/1', 'down']]);
    expect(d.links![0]!.a).to.deep.include({ carrier: false, adminUp: false });
    expect(d.hosts!.map((h) => h.name)).to.deep.equal(['esx1']);
    expect(d.switches!.map((x) => x.name)).to.deep.equal(['sw1']);
    expect(d.uplinkChanges).to.deep.equal([{ nic: 'app1.nic0', host: 'esx1', from: 'vmnic0', to: 'vmnic1', reason: 'active uplink vmnic1 (srcPortId)' }]);
    expect(d.arrays).to.equal(undefined);
  });

  it('lists what is gone', () => {
    const v = view();
    const before = v.snapshot(1000);
    const after = { ...before, links: before.links.slice(1) };
    expect(diffSnapshots(before, after)!.removed).to.deep.equal({ links: ['esx1.vmnic0 -- sw1.Gi1/0/1'] });
  });
});

describe('ui/view-model: EventBatcher', () => {
  it('sends events in fabric-time order (then source, then seq), at most the bound per batch, the rest counted by type', () => {
    const b = new EventBatcher(3, 10);
    b.push([ev(5, 'sw1', 2, 'mac-move'), ev(5, 'esx1', 9, 'carrier'), ev(1, 'sw1', 1, 'carrier'), ev(6, 'sw1', 3, 'drop'), ev(7, 'sw1', 4, 'drop'), ev(8, 'sw2', 1, 'carrier')]);
    const batch = b.take()!;
    expect(batch.events.map((e) => `${e.timeMs}/${e.source}/${e.seq}`)).to.deep.equal(['1/sw1/1', '5/esx1/9', '5/sw1/2']);
    expect(batch.omitted).to.deep.equal({ drop: 2, carrier: 1 });
    expect(b.take()).to.equal(undefined);
  });

  it('keeps the newest events sent for pages that connect later, not those still waiting (they come in the next batch)', () => {
    const b = new EventBatcher(100, 4);
    b.push(Array.from({ length: 10 }, (_, i) => ev(i, 'sw1', i + 1, 'drop')));
    expect(b.recent()).to.deep.equal([]);
    b.take();
    b.push([ev(20, 'sw1', 11, 'drop')]);
    expect(b.recent().map((e) => e.seq)).to.deep.equal([7, 8, 9, 10]);
    expect(b.take()!.events.map((e) => e.seq)).to.deep.equal([11]);
    expect(b.recent().map((e) => e.seq)).to.deep.equal([8, 9, 10, 11]);
  });

  it('holds at most the batch bound however many events arrive between two batches (1000 events/s for 1 s)', () => {
    const b = new EventBatcher(500, 2000);
    for (let i = 0; i < 1000; i++) b.push([ev(i, 'esx1', i + 1, 'drop')]);
    expect(b.size).to.equal(500);
    const batch = b.take()!;
    expect(batch.events.length).to.equal(500);
    expect(batch.omitted).to.deep.equal({ drop: 500 });
  });
});

describe('ui/view-model: eventBatchWaitMs', () => {
  it('sends a batch at once when the last one is older than the gap, soon after a small batch, LIVE_BATCH_MS after a big one', () => {
    // idle: the previous batch long ago, whatever its size
    expect(eventBatchWaitMs(0, 500, 10_000)).to.equal(0);
    // quiet: a small batch 5 ms ago, the next one LIVE_QUIET_BATCH_MS after it
    expect(eventBatchWaitMs(1000, LIVE_QUIET_BATCH_EVENTS, 1005)).to.equal(LIVE_QUIET_BATCH_MS - 5);
    expect(eventBatchWaitMs(1000, 1, 1000 + LIVE_QUIET_BATCH_MS)).to.equal(0);
    // busy: a big batch 5 ms ago, the next one LIVE_BATCH_MS after it
    expect(eventBatchWaitMs(1000, LIVE_QUIET_BATCH_EVENTS + 1, 1005)).to.equal(LIVE_BATCH_MS - 5);
    expect(LIVE_QUIET_BATCH_MS).to.be.below(LIVE_BATCH_MS);
  });

  it('bounds the batches a busy stream sends: 1000 events/s in 10 ms slices gives at most one batch per quiet gap, fuller ones at higher rates', () => {
    // the server's loop on a manual clock: events arrive every 10 ms, a batch goes out when its wait is over
    const run = (perSlice: number): { batches: number; biggest: number } => {
      let pending = 0, lastAt = -Infinity, lastSize = 0, dueAt: number | null = null, batches = 0, biggest = 0;
      for (let now = 0; now < 1000; now++) {
        if (now % 10 === 0) {
          pending += perSlice;
          if (dueAt === null) dueAt = now + eventBatchWaitMs(lastAt, lastSize, now);
        }
        if (dueAt !== null && now >= dueAt) {
          batches++;
          biggest = Math.max(biggest, pending);
          lastAt = now;
          lastSize = pending;
          pending = 0;
          dueAt = null;
        }
      }
      return { batches, biggest };
    };
    const at1000 = run(10);
    expect(at1000.batches).to.be.at.most(Math.ceil(1000 / LIVE_QUIET_BATCH_MS) + 1);
    expect(at1000.biggest).to.be.at.most(LIVE_QUIET_BATCH_EVENTS);
    const at5000 = run(50);
    expect(at5000.batches).to.be.at.most(Math.ceil(1000 / LIVE_BATCH_MS) + 1);
  });
});
