// PhysicalSwitch.reconfigure(): a running switch changed live (vfab set port|switch; docs/reconfigure.md).
// Differential: after the change, with its table cleared, the switch decides every frame as a switch
// built with the new config does. Then the MAC entries a change keeps and flushes, shutdown, aging, and
// an invalid config changing nothing. Leaves out the daemon (test/e2e/fabric/reconfigure-switch.test.ts).

import { expect } from 'chai';
import { ManualClock } from '../../lib/clock.js';
import { VfabError } from '../../lib/errors.js';
import { PhysicalSwitch, type PhysicalSwitchConfig, resultDeliveries, type SwitchEvent } from '../../lib/pswitch/pswitch.js';
import { BCAST, frame, MAC_A, MAC_B, MAC_C } from './frames.js';

const MAC_D = '00:50:56:00:00:0d';

function config(ports: PhysicalSwitchConfig['ports'], extra: Partial<PhysicalSwitchConfig> = {}): PhysicalSwitchConfig {
  return { name: 'sw1', ports, ...extra };
}

const BEFORE = config(
  [
    { name: 'Gi1/0/1', mode: 'access', accessVlan: 10 },
    { name: 'Gi1/0/2', mode: 'access', accessVlan: 10 },
    { name: 'Gi1/0/3', mode: 'trunk', nativeVlan: 10, allowedVlans: [10, 20] },
    { name: 'Gi1/0/4', mode: 'trunk', allowedVlans: [10, 20] },
    { name: 'Gi1/0/5', mode: 'trunk', allowedVlans: [10, 20] },
  ],
  { portChannels: [{ name: 'Po1', members: ['Gi1/0/4', 'Gi1/0/5'], mode: 'on' }] },
);

const AFTER = config(
  [
    { name: 'Gi1/0/1', mode: 'access', accessVlan: 20 },
    { name: 'Gi1/0/2', mode: 'trunk', nativeVlan: 20, allowedVlans: [10, 20] },
    { name: 'Gi1/0/3', mode: 'trunk', nativeVlan: 20, allowedVlans: [20] },
    { name: 'Gi1/0/4', mode: 'trunk', allowedVlans: [10, 20] },
    { name: 'Gi1/0/5', mode: 'trunk', allowedVlans: [10, 20], shutdown: true },
  ],
  { macAgingMs: 20_000 },
);

/** Every (port, frame) combination of a few MACs and tags, with its decision, as text. */
function decisions(sw: PhysicalSwitch): string[] {
  const out: string[] = [];
  const macs = [MAC_A, MAC_B, MAC_C];
  for (let p = 0; p < sw.portCount(); p++) {
    for (const vid of [undefined, 10, 20]) {
      for (const [si, src] of macs.entries()) {
        for (const dst of [BCAST, macs[(si + 1) % macs.length]!]) {
          const r = sw.receive(p, frame(dst, src, vid === undefined ? {} : { vid }));
          const d = resultDeliveries(r).map((x) => `${x.port}:${Buffer.from(x.frame).toString('hex').slice(24, 32)}`).sort();
          out.push(`${p} ${vid} ${src}>${dst} ${r.verdict} ${r.dropReason ?? ''} vlan=${r.vlan} ${d.join(' ')}`);
        }
      }
    }
  }
  return out;
}

function learnAll(sw: PhysicalSwitch): void {
  sw.receive(0, frame(BCAST, MAC_A)); // VLAN 10 on Gi1/0/1
  sw.receive(1, frame(BCAST, MAC_B)); // VLAN 10 on Gi1/0/2
  sw.receive(2, frame(BCAST, MAC_C, { vid: 20 })); // VLAN 20 on Gi1/0/3
  sw.receive(2, frame(BCAST, MAC_D)); // VLAN 10 (native) on Gi1/0/3
  sw.receive(3, frame(BCAST, MAC_B, { vid: 20 })); // VLAN 20 on Po1
}

const flushed = (evs: SwitchEvent[]) => evs.filter((e) => e.type === 'mac-flushed').map((e) => e.type === 'mac-flushed' && `${e.port}:${e.count}:${e.reason}`).sort();

describe('pswitch: reconfigure a running switch', () => {
  it('differential: after the change the switch decides every frame like one built with the new config', () => {
    const live = new PhysicalSwitch(BEFORE, new ManualClock(1000));
    learnAll(live);
    live.reconfigure(AFTER);
    live.clearMacTable();
    const fresh = new PhysicalSwitch(AFTER, new ManualClock(1000));
    expect(decisions(live)).to.deep.equal(decisions(fresh));
    expect(live.ports()).to.deep.equal(fresh.ports());
    expect(live.portChannels()).to.deep.equal(fresh.portChannels());
  });

  it('and back: the old config restored gives the old switch', () => {
    const live = new PhysicalSwitch(BEFORE, new ManualClock(1000));
    live.reconfigure(AFTER);
    live.reconfigure(BEFORE);
    live.clearMacTable();
    expect(decisions(live)).to.deep.equal(decisions(new PhysicalSwitch(BEFORE, new ManualClock(1000))));
  });

  it('flushes the entries of VLANs a port no longer carries and of channels whose members changed, keeps the rest', () => {
    const live = new PhysicalSwitch(BEFORE, new ManualClock(1000));
    learnAll(live);
    const evs = live.reconfigure(AFTER);
    // Gi1/0/1 left VLAN 10 (MAC_A goes); Gi1/0/2 now a trunk still carrying 10 (MAC_B stays); Gi1/0/3
    // pruned VLAN 10 (MAC_D goes) but kept 20 (MAC_C stays); Po1 lost its channel (MAC_B in 20 goes).
    expect(flushed(evs)).to.deep.equal(['Gi1/0/1:1:reconfigured', 'Gi1/0/3:1:reconfigured', 'Po1:1:reconfigured']);
    expect(live.macTable().map((r) => `${r.vlan} ${r.mac} ${r.port}`)).to.deep.equal([`10 ${MAC_B} Gi1/0/2`, `20 ${MAC_C} Gi1/0/3`]);
    expect(live.counters().flushed).to.equal(3);
    // a kept entry forwards as known unicast to its port
    const r = live.receive(3, frame(MAC_C, MAC_A, { vid: 20 }));
    expect(r.verdict).to.equal('forward');
    expect(resultDeliveries(r).map((d) => d.port)).to.deep.equal([2]);
  });

  it('a native VLAN change keeps entries of VLANs still carried, and untagged frames land in the new native VLAN', () => {
    const ports = BEFORE.ports.map((p) => (p.name === 'Gi1/0/3' ? { ...p, nativeVlan: 20 } : p));
    const live = new PhysicalSwitch(BEFORE, new ManualClock(1000));
    learnAll(live);
    expect(flushed(live.reconfigure({ ...BEFORE, ports }))).to.deep.equal([]);
    expect(live.lookupMac(10, MAC_D)).to.equal('Gi1/0/3');
    expect(live.receive(2, frame(BCAST, 'aa:00:00:00:00:01')).vlan).to.equal(20);
  });

  it('a port joining a channel: its entries go, and the channel is one logical port', () => {
    const ports = BEFORE.ports.map((p) => (p.name === 'Gi1/0/3' ? { name: 'Gi1/0/3', mode: 'trunk' as const, allowedVlans: [10, 20] } : p));
    const live = new PhysicalSwitch(BEFORE, new ManualClock(1000));
    learnAll(live);
    const evs = live.reconfigure({ ...BEFORE, ports, portChannels: [{ name: 'Po1', members: ['Gi1/0/3', 'Gi1/0/4', 'Gi1/0/5'], mode: 'on' }] });
    expect(flushed(evs)).to.deep.equal(['Gi1/0/3:2:reconfigured', 'Po1:1:reconfigured']);
    expect(live.portChannels()[0]!.members).to.deep.equal(['Gi1/0/3', 'Gi1/0/4', 'Gi1/0/5']);
    live.receive(2, frame(BCAST, MAC_C, { vid: 20 }));
    expect(live.lookupMac(20, MAC_C)).to.equal('Po1');
  });

  it('shutdown acts as setShutdown (link-down, flush); no shutdown brings the port back', () => {
    const live = new PhysicalSwitch(BEFORE, new ManualClock(1000));
    learnAll(live);
    const shut = { ...BEFORE, ports: BEFORE.ports.map((p, i) => (i === 0 ? { ...p, shutdown: true } : p)) };
    const evs = live.reconfigure(shut);
    expect(evs.map((e) => e.type)).to.deep.equal(['link-down', 'mac-flushed']);
    expect(live.ports()[0]!.status).to.equal('disabled');
    expect(live.receive(0, frame(BCAST, MAC_A)).dropReason).to.equal('port_shutdown');
    expect(live.reconfigure(BEFORE).map((e) => e.type)).to.deep.equal(['link-up']);
    expect(live.receive(0, frame(BCAST, MAC_A)).verdict).to.equal('flood');
  });

  it('a shorter MAC aging time makes older entries stale at once', () => {
    const clock = new ManualClock(1000);
    const live = new PhysicalSwitch(BEFORE, clock);
    learnAll(live);
    clock.advance(30_000);
    expect(live.lookupMac(10, MAC_B)).to.equal('Gi1/0/2');
    live.reconfigure({ ...BEFORE, macAgingMs: 20_000 });
    expect(live.lookupMac(10, MAC_B)).to.equal(undefined);
    expect(live.nextAgingDeadlineMs()).to.equal(1000 + 20_000);
    expect(live.age().length).to.equal(5);
  });

  it('an invalid config throws before anything changes', () => {
    const live = new PhysicalSwitch(BEFORE, new ManualClock(1000));
    learnAll(live);
    const ports = live.ports();
    const table = live.macTable();
    const bad: Array<[PhysicalSwitchConfig, string]> = [
      [{ ...BEFORE, ports: BEFORE.ports.map((p, i) => (i === 0 ? { ...p, accessVlan: 5000 } : p)) }, 'VFAB_PSWITCH_BAD_VLAN'],
      // a channel member that differs from the others (IOS would suspend it)
      [{ ...BEFORE, ports: BEFORE.ports.map((p, i) => (i === 4 ? { ...p, allowedVlans: [10] } : p)) }, 'VFAB_PSWITCH_CHANNEL_MISMATCH'],
      [{ ...BEFORE, ports: BEFORE.ports.slice(1) }, 'VFAB_PSWITCH_CONFIG'],
      [{ ...BEFORE, macAgingMs: 0 }, 'VFAB_PSWITCH_BAD_LIMIT'],
    ];
    for (const [cfg, code] of bad) {
      expect(() => live.reconfigure(cfg)).to.throw(VfabError).with.property('code', code);
      expect(live.ports()).to.deep.equal(ports);
      expect(live.macTable()).to.deep.equal(table);
    }
  });
});
