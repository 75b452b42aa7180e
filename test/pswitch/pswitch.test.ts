import { expect } from 'chai';
import { ManualClock } from '../../lib/clock.js';
import { VfabError } from '../../lib/errors.js';
import {
  DROP_REASON_INFO, DROP_REASONS, PhysicalSwitch, type PhysicalSwitchConfig, resultDeliveries, type SwitchEvent, type SwitchResult,
} from '../../lib/pswitch/pswitch.js';
import { BCAST, frame, MAC_A, MAC_B, MAC_C, vidOf } from './frames.js';

// Ports of the common test switch.
const A10 = 0; // access VLAN 10
const B10 = 1; // access VLAN 10
const C20 = 2; // access VLAN 20
const T_ALL = 3; // trunk, native 1, all VLANs
const T_N99 = 4; // trunk, native 99, allowed 10 and 99
const T_20 = 5; // trunk, allowed 20 only (native 1 not allowed)

function baseConfig(extra: Partial<PhysicalSwitchConfig> = {}): PhysicalSwitchConfig {
  return {
    name: 'sw1',
    ports: [
      { name: 'Gi1/0/1', mode: 'access', accessVlan: 10 },
      { name: 'Gi1/0/2', mode: 'access', accessVlan: 10 },
      { name: 'Gi1/0/3', mode: 'access', accessVlan: 20 },
      { name: 'Gi1/0/4', mode: 'trunk' },
      { name: 'Gi1/0/5', mode: 'trunk', nativeVlan: 99, allowedVlans: [10, 99] },
      { name: 'Gi1/0/6', mode: 'trunk', allowedVlans: [20] },
    ],
    ...extra,
  };
}

function make(extra: Partial<PhysicalSwitchConfig> = {}): { sw: PhysicalSwitch; clock: ManualClock } {
  const clock = new ManualClock(1000);
  return { sw: new PhysicalSwitch(baseConfig(extra), clock), clock };
}

/** Delivered ports as a sorted list (copied out of the reused result). */
function portsOf(r: SwitchResult): number[] {
  return resultDeliveries(r).map((d) => d.port).sort((a, b) => a - b);
}

function frameTo(r: SwitchResult, port: number): Uint8Array {
  const d = resultDeliveries(r).find((x) => x.port === port);
  if (!d) throw new Error(`no delivery to port ${port}`);
  return d.frame;
}

function eventsOf(r: SwitchResult, type: SwitchEvent['type']): SwitchEvent[] {
  return (r.events ?? []).filter((e) => e.type === type);
}

describe('pswitch ingress classification and egress tagging', () => {
  it('access port: untagged frame joins the access VLAN and floods to that VLAN only, untagged on access, tagged on trunks', () => {
    const { sw } = make();
    const f = frame(BCAST, MAC_A);
    const r = sw.receive(A10, f);
    expect(r.verdict).to.equal('flood');
    expect(r.vlan).to.equal(10);
    expect(portsOf(r)).to.deep.equal([B10, T_ALL, T_N99]);
    expect(frameTo(r, B10)).to.equal(f); // unchanged bytes: the input itself, no copy
    expect(vidOf(frameTo(r, T_ALL))).to.equal(10);
    expect(vidOf(frameTo(r, T_N99))).to.equal(10);
  });

  it('tagged copies carry TPID 0x8100 with the VLAN after the source MAC (hex fixture)', () => {
    const { sw } = make();
    const f = frame(BCAST, MAC_A);
    const out = Buffer.from(frameTo(sw.receive(A10, f), T_ALL));
    expect(out.subarray(0, 18).toString('hex')).to.equal('ffffffffffff' + '00505600000a' + '8100000a' + '0806');
    expect(out.length).to.equal(f.length + 4);
    expect(out.subarray(18).equals(f.subarray(14))).to.equal(true);
  });

  it('identical copies share one buffer: all untagged one, all tagged another', () => {
    const { sw } = make({ ports: [...baseConfig().ports, { name: 'Gi1/0/7', mode: 'access', accessVlan: 10 }] });
    const r = sw.receive(T_ALL, frame(BCAST, MAC_A, { vid: 10 }));
    expect(portsOf(r)).to.deep.equal([A10, B10, T_N99, 6]);
    expect(frameTo(r, A10)).to.equal(frameTo(r, B10));
    expect(frameTo(r, A10)).to.equal(frameTo(r, 6));
    expect(vidOf(frameTo(r, A10))).to.equal(undefined);
    expect(vidOf(frameTo(r, T_N99))).to.equal(10);
  });

  it('access port: priority-tagged frame (VID 0) joins the access VLAN; trunks get the VLAN with the PCP kept', () => {
    const { sw } = make();
    const r = sw.receive(A10, frame(BCAST, MAC_A, { vid: 0, pcp: 5 }));
    expect(r.vlan).to.equal(10);
    expect(vidOf(frameTo(r, B10))).to.equal(undefined);
    const t = frameTo(r, T_ALL);
    expect(vidOf(t)).to.equal(10);
    expect(t[14]! >>> 5).to.equal(5);
  });

  it('access port: a frame tagged with another VID is dropped as tagged_on_access', () => {
    const { sw } = make();
    const r = sw.receive(A10, frame(BCAST, MAC_A, { vid: 10 }));
    expect(r.verdict).to.equal('drop');
    expect(r.dropReason).to.equal('tagged_on_access');
    expect(r.count).to.equal(0);
    expect(sw.portCounters(A10).rxDrops.tagged_on_access).to.equal(1);
    expect(sw.macTable()).to.deep.equal([]);
  });

  it('trunk: untagged goes to the native VLAN, tagged allowed VID to that VLAN with the tag removed on access ports', () => {
    const { sw } = make();
    const r1 = sw.receive(T_N99, frame(BCAST, MAC_A));
    expect(r1.vlan).to.equal(99);
    expect(portsOf(r1)).to.deep.equal([T_ALL]);
    expect(vidOf(frameTo(r1, T_ALL))).to.equal(99);
    const f = frame(BCAST, MAC_B, { vid: 10, payloadBytes: 46 });
    const r2 = sw.receive(T_N99, f);
    expect(r2.vlan).to.equal(10);
    expect(portsOf(r2)).to.deep.equal([A10, B10, T_ALL]);
    const untagged = Buffer.from(frameTo(r2, A10));
    expect(untagged.subarray(12, 14).toString('hex')).to.equal('0806');
    expect(untagged.length).to.equal(60);
    expect(frameTo(r2, T_ALL)).to.equal(f); // same VID out a trunk: the input bytes unchanged
  });

  it('trunk: VID not allowed is dropped as vlan_not_allowed, also for untagged when the native VLAN is not allowed (§2.7)', () => {
    const { sw } = make();
    expect(sw.receive(T_N99, frame(BCAST, MAC_A, { vid: 20 })).dropReason).to.equal('vlan_not_allowed');
    expect(sw.receive(T_20, frame(BCAST, MAC_A)).dropReason).to.equal('vlan_not_allowed');
    expect(sw.portCounters(T_N99).rxDrops.vlan_not_allowed).to.equal(1);
    expect(sw.portCounters(T_20).rxDrops.vlan_not_allowed).to.equal(1);
  });

  it('trunk: priority-tagged frame (VID 0) goes to the native VLAN', () => {
    const { sw } = make();
    const r = sw.receive(T_N99, frame(BCAST, MAC_A, { vid: 0 }));
    expect(r.vlan).to.equal(99);
    expect(vidOf(frameTo(r, T_ALL))).to.equal(99);
  });

  it('egress: never out a port whose allowed list lacks the VLAN, never back out the ingress port', () => {
    const { sw } = make();
    const r = sw.receive(C20, frame(BCAST, MAC_A));
    expect(r.vlan).to.equal(20);
    expect(portsOf(r)).to.deep.equal([T_ALL, T_20]);
    const back = sw.receive(T_ALL, frame(BCAST, MAC_B, { vid: 20 }));
    expect(portsOf(back)).to.deep.equal([C20, T_20]);
  });

  it('native VLAN untagged both ways: trunk native VLAN leaves untagged and untagged frames come in on it', () => {
    const { sw } = make({ ports: [...baseConfig().ports, { name: 'Gi1/0/7', mode: 'access', accessVlan: 99 }] });
    const r1 = sw.receive(6, frame(BCAST, MAC_A));
    expect(portsOf(r1)).to.deep.equal([T_ALL, T_N99]);
    expect(vidOf(frameTo(r1, T_N99))).to.equal(undefined); // native on Gi1/0/5
    expect(vidOf(frameTo(r1, T_ALL))).to.equal(99);
    const r2 = sw.receive(T_N99, frame(MAC_A, MAC_B));
    expect(r2.verdict).to.equal('forward');
    expect(portsOf(r2)).to.deep.equal([6]);
  });

  it('native-VLAN trap from the switch side (§2.6): a host frame tagged with the native VID lands in the native VLAN, the reply leaves untagged', () => {
    const { sw } = make({ ports: [...baseConfig().ports, { name: 'Gi1/0/7', mode: 'access', accessVlan: 99 }] });
    // The ESXi host on Gi1/0/5 uses a VST port group with VLAN 99, the trunk's native VLAN.
    const fromHost = frame(BCAST, MAC_A, { vid: 99 });
    const r1 = sw.receive(T_N99, fromHost);
    expect(r1.vlan).to.equal(99);
    expect(portsOf(r1)).to.deep.equal([T_ALL, 6]);
    expect(vidOf(frameTo(r1, 6))).to.equal(undefined);
    expect(sw.lookupMac(99, MAC_A)).to.equal('Gi1/0/5');
    // The reply from the gateway on Gi1/0/7 goes back untagged: the VLAN-99 port group never sees it.
    const reply = frame(MAC_A, MAC_C);
    const r2 = sw.receive(6, reply);
    expect(r2.verdict).to.equal('forward');
    expect(portsOf(r2)).to.deep.equal([T_N99]);
    expect(vidOf(frameTo(r2, T_N99))).to.equal(undefined);
    expect(frameTo(r2, T_N99)).to.equal(reply);
  });

  it('MTU: payload over the ingress MTU is dropped; the 802.1Q tag does not count; smaller egress MTU skips that port', () => {
    const cfg = baseConfig();
    cfg.ports[1] = { name: 'Gi1/0/2', mode: 'access', accessVlan: 10, mtuBytes: 1000 };
    const { sw } = make({ ports: cfg.ports });
    expect(sw.receive(A10, frame(BCAST, MAC_A, { payloadBytes: 1501 })).dropReason).to.equal('mtu_exceeded');
    const r = sw.receive(T_ALL, frame(BCAST, MAC_B, { vid: 10, payloadBytes: 1500 }));
    expect(r.verdict).to.equal('flood');
    expect(portsOf(r)).to.deep.equal([A10, T_N99]);
    expect(sw.portCounters(B10).txDrops.mtu_exceeded).to.equal(1);
    expect(sw.portCounters(A10).rxDrops.mtu_exceeded).to.equal(1);
  });

  it('malformed frames are dropped and counted, never thrown', () => {
    const { sw } = make();
    expect(sw.receive(A10, new Uint8Array(10)).dropReason).to.equal('malformed');
    const shortTagged = Buffer.from('ffffffffffff00505600000a8100', 'hex');
    expect(sw.receive(T_ALL, shortTagged).dropReason).to.equal('malformed');
    expect(sw.receive(A10, new Uint8Array(0)).dropReason).to.equal('malformed');
    expect(sw.counters().drops.malformed).to.equal(3);
  });

  it('source MAC: multicast source is dropped; zero source is forwarded but not learned', () => {
    const { sw } = make();
    expect(sw.receive(A10, frame(BCAST, '01:00:5e:00:00:01')).dropReason).to.equal('src_mac_group');
    const r = sw.receive(A10, frame(BCAST, '00:00:00:00:00:00'));
    expect(r.verdict).to.equal('flood');
    expect(r.events).to.equal(undefined);
    expect(sw.macTable()).to.have.length(0);
    expect(sw.portCounters(A10).rxDrops.src_mac_zero).to.equal(1);
  });

  it('link-local group (01:80:c2:00:00:0x, e.g. STP BPDU) is never forwarded; other multicast floods', () => {
    const { sw } = make();
    expect(sw.receive(A10, frame('01:80:c2:00:00:00', MAC_A)).dropReason).to.equal('link_local');
    expect(sw.receive(A10, frame('01:80:c2:00:00:0e', MAC_A)).dropReason).to.equal('link_local');
    const r = sw.receive(A10, frame('01:00:5e:00:00:fb', MAC_A));
    expect(r.verdict).to.equal('flood');
    expect(portsOf(r)).to.deep.equal([B10, T_ALL, T_N99]);
  });

  it('port down or shut: received frames are dropped with port_down / port_shutdown and never sent there', () => {
    const { sw } = make();
    sw.setLinkUp(B10, false);
    expect(sw.receive(B10, frame(BCAST, MAC_A)).dropReason).to.equal('port_down');
    expect(portsOf(sw.receive(A10, frame(BCAST, MAC_A)))).to.deep.equal([T_ALL, T_N99]);
    sw.setShutdown(T_ALL, true);
    expect(sw.receive(T_ALL, frame(BCAST, MAC_C, { vid: 10 })).dropReason).to.equal('port_shutdown');
    expect(portsOf(sw.receive(A10, frame(BCAST, MAC_A)))).to.deep.equal([T_N99]);
    expect(sw.ports()[T_ALL]!.status).to.equal('disabled');
    expect(sw.ports()[B10]!.status).to.equal('notconnect');
  });

  it('a flood with nowhere to go is a no_egress drop', () => {
    const { sw } = make();
    const r = sw.receive(C20, frame(BCAST, MAC_A, {}));
    expect(r.verdict).to.equal('flood');
    sw.setLinkUp(T_ALL, false);
    sw.setLinkUp(T_20, false);
    expect(sw.receive(C20, frame(BCAST, MAC_A)).dropReason).to.equal('no_egress');
  });

  it('throws VFAB_PSWITCH_UNKNOWN_PORT for a port index that does not exist', () => {
    const { sw } = make();
    expect(() => sw.receive(42, frame(BCAST, MAC_A))).to.throw(VfabError).with.property('code', 'VFAB_PSWITCH_UNKNOWN_PORT');
    expect(() => sw.setLinkUp(-1, true)).to.throw(VfabError).with.property('code', 'VFAB_PSWITCH_UNKNOWN_PORT');
  });
});

describe('pswitch MAC learning and aging', () => {
  it('learns the source, floods unknown unicast, then sends known unicast to one port', () => {
    const { sw, clock } = make();
    const r1 = sw.receive(A10, frame(MAC_B, MAC_A), 1);
    expect(r1.verdict).to.equal('flood');
    expect(r1.events).to.deep.equal([{ type: 'mac-learned', timeMs: 1000, vlan: 10, mac: MAC_A, port: 'Gi1/0/1', frameNo: 1 }]);
    clock.advance(5);
    const r2 = sw.receive(T_ALL, frame(MAC_A, MAC_B, { vid: 10 }), 2);
    expect(r2.verdict).to.equal('forward');
    expect(portsOf(r2)).to.deep.equal([A10]);
    expect(vidOf(frameTo(r2, A10))).to.equal(undefined);
    const r3 = sw.receive(A10, frame(MAC_B, MAC_A), 3);
    expect(r3.verdict).to.equal('forward');
    expect(portsOf(r3)).to.deep.equal([T_ALL]);
    expect(vidOf(frameTo(r3, T_ALL))).to.equal(10);
    expect(r3.events).to.equal(undefined);
    expect(sw.macTable()).to.deep.equal([
      { vlan: 10, mac: MAC_A, port: 'Gi1/0/1', type: 'dynamic', ageMs: 0, moves: 0 },
      { vlan: 10, mac: MAC_B, port: 'Gi1/0/4', type: 'dynamic', ageMs: 0, moves: 0 },
    ]);
  });

  it('reuses one result object across calls', () => {
    const { sw } = make();
    const r1 = sw.receive(A10, frame(BCAST, MAC_A));
    const r2 = sw.receive(B10, frame(BCAST, MAC_B));
    expect(r1).to.equal(r2);
  });

  it('filters a unicast whose destination is learned on the ingress port (same_port)', () => {
    const { sw } = make();
    sw.receive(T_ALL, frame(BCAST, MAC_A, { vid: 10 }));
    const r = sw.receive(T_ALL, frame(MAC_A, MAC_B, { vid: 10 }));
    expect(r.dropReason).to.equal('same_port');
    expect(sw.portCounters(T_ALL).rxDrops.same_port).to.equal(1);
  });

  it('keys the table by VLAN: one MAC in two VLANs on two ports is no move; known in one VLAN is unknown in another', () => {
    const { sw } = make();
    sw.receive(A10, frame(BCAST, MAC_A));
    const r = sw.receive(C20, frame(BCAST, MAC_A));
    expect(eventsOf(r, 'mac-move')).to.have.length(0);
    expect(eventsOf(r, 'mac-learned')).to.have.length(1);
    expect(sw.lookupMac(10, MAC_A)).to.equal('Gi1/0/1');
    expect(sw.lookupMac(20, MAC_A)).to.equal('Gi1/0/3');
    const toA20 = sw.receive(T_ALL, frame(MAC_A, MAC_B, { vid: 20 }));
    expect(portsOf(toA20)).to.deep.equal([C20]);
  });

  it('ages an entry exactly at macAgingMs after it was last seen (boundary), and refresh restarts the clock', () => {
    const { sw, clock } = make({ macAgingMs: 300_000 });
    sw.receive(A10, frame(BCAST, MAC_A));
    expect(sw.nextAgingDeadlineMs()).to.equal(1000 + 300_000);
    clock.advance(299_999);
    expect(sw.age()).to.deep.equal([]);
    expect(sw.receive(T_ALL, frame(MAC_A, MAC_B, { vid: 10 })).verdict).to.equal('forward');
    clock.advance(1);
    // Stale from exactly 300 000 ms: lookups miss even before age() runs.
    expect(sw.receive(T_ALL, frame(MAC_A, MAC_B, { vid: 10 })).verdict).to.equal('flood');
    const aged = sw.age();
    expect(aged).to.deep.equal([{ type: 'mac-aged', timeMs: 301_000, vlan: 10, mac: MAC_A, port: 'Gi1/0/1', ageMs: 300_000 }]);
    expect(sw.lookupMac(10, MAC_A)).to.equal(undefined);
    expect(sw.lookupMac(10, MAC_B)).to.equal('Gi1/0/4'); // refreshed by its frames
    expect(sw.nextAgingDeadlineMs()).to.equal(301_000 + 300_000);
    expect(sw.counters().aged).to.equal(1);
  });

  it('a frame from a stale source ages it and learns it afresh (no move)', () => {
    const { sw, clock } = make({ macAgingMs: 1000 });
    sw.receive(A10, frame(BCAST, MAC_A));
    clock.advance(1000);
    const r = sw.receive(B10, frame(BCAST, MAC_A), 7);
    expect((r.events ?? []).map((e) => e.type)).to.deep.equal(['mac-aged', 'mac-learned']);
    expect(sw.macTable()[0]).to.include({ port: 'Gi1/0/2', moves: 0 });
  });

  it('nextAgingDeadlineMs is undefined for an empty table', () => {
    const { sw } = make();
    expect(sw.nextAgingDeadlineMs()).to.equal(undefined);
  });

  it('clearMacTable by VLAN, port and address', () => {
    const { sw } = make();
    sw.receive(A10, frame(BCAST, MAC_A));
    sw.receive(B10, frame(BCAST, MAC_B));
    sw.receive(C20, frame(BCAST, MAC_C));
    sw.receive(T_ALL, frame(BCAST, MAC_C, { vid: 10 }));
    expect(sw.clearMacTable({ vlan: 20 })).to.equal(1);
    expect(sw.clearMacTable({ port: 'Gi1/0/2' })).to.equal(1);
    expect(sw.clearMacTable({ mac: MAC_C })).to.equal(1);
    expect(sw.macTable().map((e) => e.mac)).to.deep.equal([MAC_A]);
    expect(sw.clearMacTable()).to.equal(1);
  });
});

describe('pswitch MAC moves and flaps (§3.4, §3.8, §6.6)', () => {
  it('emits mac-move with MAC, VLAN, old and new port, time and frameNo, and counts moves in the table', () => {
    const { sw, clock } = make();
    sw.receive(A10, frame(BCAST, MAC_A), 10);
    clock.advance(250);
    const r = sw.receive(B10, frame(BCAST, MAC_A), 11);
    expect(eventsOf(r, 'mac-move')).to.deep.equal([
      { type: 'mac-move', timeMs: 1250, vlan: 10, mac: MAC_A, fromPort: 'Gi1/0/1', toPort: 'Gi1/0/2', moves: 1, frameNo: 11 },
    ]);
    expect(sw.macTable()[0]).to.include({ port: 'Gi1/0/2', moves: 1 });
    expect(sw.receive(T_ALL, frame(MAC_A, MAC_B, { vid: 10 })).ports[0]).to.equal(B10);
  });

  it('emits mac-flap once per window when moves exceed the threshold', () => {
    const { sw, clock } = make({ flapDetection: { moves: 3, windowMs: 1000 } });
    sw.receive(A10, frame(BCAST, MAC_A), 1);
    const flaps: SwitchEvent[] = [];
    let frameNo = 2;
    for (let i = 0; i < 6; i++) {
      clock.advance(10);
      const r = sw.receive(i % 2 === 0 ? B10 : A10, frame(BCAST, MAC_A), frameNo++);
      flaps.push(...eventsOf(r, 'mac-flap'));
    }
    expect(flaps).to.have.length(1);
    expect(flaps[0]).to.deep.equal({
      type: 'mac-flap', timeMs: 1040, vlan: 10, mac: MAC_A, ports: ['Gi1/0/2', 'Gi1/0/1'], movesInWindow: 4,
      windowMs: 1000, windowStartMs: 1010, frameNo: 5,
    });
    // A new window opens once the old one is over, and can flap again.
    clock.advance(1000);
    const later: SwitchEvent[] = [];
    for (let i = 0; i < 4; i++) {
      clock.advance(10);
      later.push(...eventsOf(sw.receive(i % 2 === 0 ? B10 : A10, frame(BCAST, MAC_A), frameNo++), 'mac-flap'));
    }
    expect(later).to.have.length(1);
    expect(sw.counters().flaps).to.equal(2);
    expect(sw.macTable()[0]!.moves).to.equal(10);
  });

  it('moves spread wider than the window never flap', () => {
    const { sw, clock } = make({ flapDetection: { moves: 2, windowMs: 1000 } });
    sw.receive(A10, frame(BCAST, MAC_A));
    let flaps = 0;
    for (let i = 0; i < 10; i++) {
      clock.advance(600);
      flaps += eventsOf(sw.receive(i % 2 === 0 ? B10 : A10, frame(BCAST, MAC_A)), 'mac-flap').length;
    }
    expect(flaps).to.equal(0);
    expect(sw.counters().moves).to.equal(10);
  });

  it('without a port-channel, IP-hash traffic from one MAC over two links shows MAC moves (§3.4)', () => {
    const { sw } = make({
      ports: [{ name: 'p1', mode: 'trunk' }, { name: 'p2', mode: 'trunk' }, { name: 'p3', mode: 'access', accessVlan: 10 }],
    });
    sw.receive(0, frame(BCAST, MAC_A, { vid: 10, srcIp: '10.0.0.1', dstIp: '10.0.0.2' }));
    const r = sw.receive(1, frame(BCAST, MAC_A, { vid: 10, srcIp: '10.0.0.1', dstIp: '10.0.0.3' }));
    expect(eventsOf(r, 'mac-move')).to.have.length(1);
  });
});

describe('pswitch MAC table limit', () => {
  it('when full, does not learn new MACs, counts mac_table_full, still forwards, and reports mac-table-full once', () => {
    const { sw, clock } = make({ macTableMaxEntries: 2, macAgingMs: 10_000 });
    sw.receive(A10, frame(BCAST, MAC_A));
    clock.advance(5_000);
    sw.receive(B10, frame(BCAST, MAC_B));
    const r = sw.receive(T_ALL, frame(BCAST, MAC_C, { vid: 10 }), 3);
    expect(r.verdict).to.equal('flood');
    expect(r.events).to.deep.equal([
      { type: 'mac-table-full', timeMs: 6000, vlan: 10, mac: MAC_C, port: 'Gi1/0/4', maxEntries: 2, frameNo: 3 },
    ]);
    expect(sw.lookupMac(10, MAC_C)).to.equal(undefined);
    // Unknown destination keeps flooding; a second refusal raises no second event.
    const r2 = sw.receive(T_ALL, frame(MAC_C, '00:50:56:00:00:0d', { vid: 10 }));
    expect(r2.verdict).to.equal('flood');
    expect(r2.events).to.equal(undefined);
    expect(sw.portCounters(T_ALL).rxDrops.mac_table_full).to.equal(2);
    // Existing entries still move while the table is full.
    expect(eventsOf(sw.receive(T_ALL, frame(BCAST, MAC_A, { vid: 10 })), 'mac-move')).to.have.length(1);
    // Aging frees room: the event re-arms and new MACs are learned again.
    clock.advance(10_000);
    expect(sw.age().map((e) => e.type)).to.deep.equal(['mac-aged', 'mac-aged']);
    expect(eventsOf(sw.receive(T_ALL, frame(BCAST, MAC_C, { vid: 10 })), 'mac-learned')).to.have.length(1);
    expect(eventsOf(sw.receive(A10, frame(BCAST, MAC_A)), 'mac-learned')).to.have.length(1);
    expect(eventsOf(sw.receive(A10, frame(BCAST, '00:50:56:00:00:0e')), 'mac-table-full')).to.have.length(1);
    expect(sw.counters().tableFullEvents).to.equal(2);
  });
});

describe('pswitch static port-channels (mode on, §3.4)', () => {
  function chSwitch(loadBalance: 'src-dst-ip' | 'src-mac' = 'src-dst-ip'): { sw: PhysicalSwitch; clock: ManualClock } {
    const clock = new ManualClock(0);
    const sw = new PhysicalSwitch({
      name: 'sw1',
      ports: [
        { name: 'Gi1/0/1', mode: 'trunk' }, // Po1 member
        { name: 'Gi1/0/2', mode: 'trunk' }, // Po1 member
        { name: 'Gi1/0/3', mode: 'access', accessVlan: 10 },
        { name: 'Gi1/0/4', mode: 'access', accessVlan: 10 },
      ],
      portChannels: [{ name: 'Po1', members: ['Gi1/0/1', 'Gi1/0/2'], mode: 'on', loadBalance }],
    }, clock);
    return { sw, clock };
  }

  it('learns on the channel, not the member: no moves between members', () => {
    const { sw } = chSwitch();
    const r1 = sw.receive(0, frame(BCAST, MAC_A, { vid: 10 }));
    expect(eventsOf(r1, 'mac-learned')[0]).to.include({ port: 'Po1' });
    const r2 = sw.receive(1, frame(BCAST, MAC_A, { vid: 10 }));
    expect(r2.events).to.equal(undefined);
    expect(sw.macTable()).to.have.length(1);
    expect(sw.macTable()[0]).to.include({ port: 'Po1', moves: 0 });
  });

  it('floods one copy per channel, never back into the ingress channel', () => {
    const { sw } = chSwitch();
    for (let s = 1; s <= 8; s++) {
      const r = sw.receive(2, frame(BCAST, MAC_C, { srcIp: `10.0.0.${s}`, dstIp: '10.0.0.255' }));
      const ports = portsOf(r);
      expect(ports).to.have.length(2);
      expect(ports).to.include(3);
      expect(ports.filter((p) => p === 0 || p === 1)).to.have.length(1);
    }
    const back = sw.receive(0, frame(BCAST, MAC_A, { vid: 10 }));
    expect(portsOf(back)).to.deep.equal([2, 3]);
  });

  it('spreads known unicast across members by (lastOctet(src) XOR lastOctet(dst)) mod n', () => {
    const { sw } = chSwitch();
    sw.receive(0, frame(BCAST, MAC_A, { vid: 10 })); // MAC_A behind Po1
    const used = [0, 0];
    for (let s = 1; s <= 32; s++) {
      const r = sw.receive(2, frame(MAC_A, MAC_C, { srcIp: `10.0.0.${s}`, dstIp: '10.0.0.100' }));
      expect(r.verdict).to.equal('forward');
      expect(r.count).to.equal(1);
      const port = r.ports[0]!;
      expect(port).to.equal((s ^ 100) % 2);
      used[port]!++;
    }
    expect(used).to.deep.equal([16, 16]);
  });

  it('src-mac hashing keeps one member per source MAC', () => {
    const { sw } = chSwitch('src-mac');
    sw.receive(0, frame(BCAST, MAC_A, { vid: 10 }));
    const first = sw.receive(2, frame(MAC_A, MAC_C, { srcIp: '10.0.0.1', dstIp: '10.0.0.2' })).ports[0];
    for (let s = 2; s < 10; s++) {
      expect(sw.receive(2, frame(MAC_A, MAC_C, { srcIp: `10.0.0.${s}`, dstIp: '10.0.0.2' })).ports[0]).to.equal(first);
    }
  });

  it('skips a member whose link is down; the channel stays up and keeps its MACs', () => {
    const { sw } = chSwitch();
    sw.receive(0, frame(BCAST, MAC_A, { vid: 10 }));
    const ev = sw.setLinkUp(1, false);
    expect(ev.map((e) => e.type)).to.deep.equal(['link-down']);
    for (let s = 1; s <= 8; s++) {
      const r = sw.receive(2, frame(MAC_A, MAC_C, { srcIp: `10.0.0.${s}`, dstIp: '10.0.0.100' }));
      expect(portsOf(r)).to.deep.equal([0]);
    }
    expect(sw.lookupMac(10, MAC_A)).to.equal('Po1');
    expect(sw.portChannels()[0]).to.include({ up: true });
    expect(sw.portChannels()[0]!.upMembers).to.deep.equal(['Gi1/0/1']);
  });

  it('a channel with no member up is down: its MACs are flushed, and it comes back with a member', () => {
    const { sw, clock } = chSwitch();
    sw.receive(0, frame(BCAST, MAC_A, { vid: 10 }));
    sw.receive(2, frame(BCAST, MAC_C));
    sw.setLinkUp(0, false);
    clock.advance(100);
    const ev = sw.setLinkUp(1, false);
    expect(ev).to.deep.equal([
      { type: 'link-down', timeMs: 100, port: 'Gi1/0/2', reason: 'link' },
      { type: 'port-channel-down', timeMs: 100, channel: 'Po1' },
      { type: 'mac-flushed', timeMs: 100, port: 'Po1', count: 1, reason: 'link-down' },
    ]);
    expect(sw.lookupMac(10, MAC_A)).to.equal(undefined);
    expect(sw.lookupMac(10, MAC_C)).to.equal('Gi1/0/3');
    expect(portsOf(sw.receive(2, frame(BCAST, MAC_C)))).to.deep.equal([3]);
    expect(sw.setLinkUp(1, true).map((e) => e.type)).to.deep.equal(['link-up', 'port-channel-up']);
    expect(sw.setLinkUp(1, true)).to.deep.equal([]);
  });
});

describe('pswitch link state and counters', () => {
  it('link down flushes the MACs learned on that port only', () => {
    const { sw, clock } = make();
    sw.receive(A10, frame(BCAST, MAC_A));
    sw.receive(B10, frame(BCAST, MAC_B));
    clock.advance(7);
    const ev = sw.setLinkUp(A10, false);
    expect(ev).to.deep.equal([
      { type: 'link-down', timeMs: 1007, port: 'Gi1/0/1', reason: 'link' },
      { type: 'mac-flushed', timeMs: 1007, port: 'Gi1/0/1', count: 1, reason: 'link-down' },
    ]);
    expect(sw.macTable().map((e) => e.mac)).to.deep.equal([MAC_B]);
    expect(sw.counters().flushed).to.equal(1);
  });

  it('shutdown flushes too; no shutdown brings the port back (link-up)', () => {
    const { sw } = make();
    sw.receive(A10, frame(BCAST, MAC_A));
    expect(sw.setShutdown(A10, true).map((e) => e.type)).to.deep.equal(['link-down', 'mac-flushed']);
    expect(sw.macTable()).to.deep.equal([]);
    expect(sw.setShutdown(A10, false).map((e) => e.type)).to.deep.equal(['link-up']);
    // Link changes while shut are silent.
    sw.setShutdown(A10, true);
    expect(sw.setLinkUp(A10, false)).to.deep.equal([]);
  });

  it('counts rx/tx frames and bytes by cast type per port, and switch-wide totals and drops', () => {
    const { sw } = make();
    const bcast = frame(BCAST, MAC_A); // 60 bytes
    sw.receive(A10, bcast);
    sw.receive(B10, frame(MAC_A, MAC_B));
    sw.receive(A10, frame('01:00:5e:00:00:01', MAC_A));
    sw.receive(A10, frame(BCAST, MAC_A, { vid: 5 }));
    const a = sw.portCounters(A10);
    expect(a).to.include({ rxFrames: 3, rxBytes: 60 * 2 + 64, rxUnicast: 0, rxBroadcast: 2, rxMulticast: 1, txFrames: 1, txBytes: 60, txUnicast: 1 });
    expect(a.rxDrops.tagged_on_access).to.equal(1);
    const t = sw.portCounters(T_ALL);
    expect(t).to.include({ txFrames: 2, txBytes: 128, txBroadcast: 1, txMulticast: 1 });
    const c = sw.counters();
    expect(c).to.include({ rxFrames: 4, knownUnicast: 1, flooded: 2, learned: 2, macEntries: 2 });
    expect(c.drops.tagged_on_access).to.equal(1);
    expect(c.ports).to.have.length(6);
    sw.clearCounters();
    expect(sw.counters().rxFrames).to.equal(0);
  });

  it('every drop reason has a one-line description', () => {
    expect(DROP_REASONS).to.include.members([
      'malformed', 'mtu_exceeded', 'tagged_on_access', 'vlan_not_allowed', 'port_down', 'port_shutdown', 'same_port', 'mac_table_full',
    ]);
    for (const r of DROP_REASONS) {
      expect(DROP_REASON_INFO[r].description).to.be.a('string').and.not.include('\n');
    }
  });
});
