// Duplicate MACs (spec §6.7, issue item 7): on one vSwitch the vSwitch raises its own conflict event; on
// two hosts the physical switch raises MAC-move and MAC-flap events naming the MAC, VLAN, both ports and the
// frame that moved it, and unicast to that MAC reaches whichever VM spoke last (intermittent delivery);
// in two different VLANs the same MAC is no conflict at all.
import { expect } from 'chai';
import { MiniFabric } from './fabric.js';
import { parseMac } from '../../lib/wire/mac.js';
import { frame } from '../teaming/helpers.js';

const DUP = parseMac('00:50:56:00:aa:01');
const B = parseMac('00:50:56:00:bb:01');

function topology(opts: { sameHost?: boolean; vlanC?: number } = {}): string {
  const vlanC = opts.vlanC ?? 10;
  const pg = (h: string) => `      - name: vSwitch0
        uplinks: [vmnic0]
        portGroups: [ { name: V10, vlan: 10 }, { name: V20, vlan: 20 } ]`;
  return `
name: dup
switches:
  - name: sw1
    ports:
      - { name: Gi1/0/1, mode: trunk, allowedVlans: [10, 20] }
      - { name: Gi1/0/2, mode: trunk, allowedVlans: [10, 20] }
      - { name: Gi1/0/3, mode: trunk, allowedVlans: [10, 20] }
hosts:
  - name: esx1
    vswitches:
${pg('esx1')}
    vms:
      - { name: a, nics: [ { portGroup: V10, mac: "00:50:56:00:aa:01", ip: 192.0.2.1/24 } ] }
${opts.sameHost ? `      - { name: c, nics: [ { portGroup: V${vlanC}, mac: "00:50:56:00:aa:01", ip: 192.0.2.3/24 } ] }` : ''}
  - name: esx2
    vswitches:
${pg('esx2')}
    vms:
${opts.sameHost ? '      - { name: idle, nics: [ { portGroup: V10, ip: 192.0.2.9/24 } ] }' : `      - { name: c, nics: [ { portGroup: V${vlanC}, mac: "00:50:56:00:aa:01", ip: 192.0.2.3/24 } ] }`}
  - name: esx3
    vswitches:
${pg('esx3')}
    vms:
      - { name: b, nics: [ { portGroup: V10, mac: "00:50:56:00:bb:01", ip: 192.0.2.2/24 } ] }
links:
  - [esx1.vmnic0, sw1.Gi1/0/1]
  - [esx2.vmnic0, sw1.Gi1/0/2]
  - [esx3.vmnic0, sw1.Gi1/0/3]
`;
}

/** The VM `vm` on `host` sends one frame from the duplicate MAC (to an unknown unicast). */
function speak(f: MiniFabric, host: string, vm: string): void {
  f.host(host).transmitFromVm(vm, 0, frame({ src: DUP, dst: parseMac('00:50:56:00:ee:ee'), type: 0x88b5 }));
  f.pump();
}

/** b sends `n` frames to the duplicate MAC. */
function toDup(f: MiniFabric, n: number): void {
  for (let i = 0; i < n; i++) f.host('esx3').transmitFromVm('b', 0, frame({ src: B, dst: DUP, type: 0x88b5 }));
  f.pump();
}

describe('duplicate MACs (§6.7)', () => {
  it('§6.7 two VMs with one MAC on one vSwitch: the vSwitch reports a duplicate registration', () => {
    const f = new MiniFabric(topology({ sameHost: true }));
    const conflicts = f.ofType('mac_conflict', 'esx1');
    expect(conflicts).to.have.length(1);
    expect(conflicts[0]).to.include({ vlanId: 10, mac: DUP });
    expect(conflicts[0]!.portIds).to.have.length(2);
  });

  it('§6.7 one MAC on two hosts: mac-move and mac-flap name the MAC, VLAN, both ports and the frame; delivery follows the last speaker', () => {
    const f = new MiniFabric(topology());
    const a = f.host('esx1').endpoint('a').counters;
    const c = f.host('esx2').endpoint('c').counters;
    const rx = () => [a.rxFrames, c.rxFrames];
    speak(f, 'esx1', 'a');
    let base = rx();
    toDup(f, 10);
    expect([rx()[0]! - base[0]!, rx()[1]! - base[1]!], 'after a spoke').to.deep.equal([10, 0]);
    speak(f, 'esx2', 'c');
    base = rx();
    toDup(f, 10);
    expect([rx()[0]! - base[0]!, rx()[1]! - base[1]!], 'after c spoke').to.deep.equal([0, 10]);
    const move = f.ofType('mac-move', 'sw1').find((e) => e.mac === '00:50:56:00:aa:01' && e.toPort === 'Gi1/0/2');
    expect(move).to.include({ vlan: 10, fromPort: 'Gi1/0/1' });
    expect(move!.frameNo).to.be.a('number');
    for (let i = 0; i < 3; i++) {
      f.clock.advance(100);
      speak(f, 'esx1', 'a');
      f.clock.advance(100);
      speak(f, 'esx2', 'c');
    }
    const flap = f.ofType('mac-flap', 'sw1').find((e) => e.mac === '00:50:56:00:aa:01');
    expect(flap).to.include({ vlan: 10 });
    expect(flap!.ports).to.have.members(['Gi1/0/1', 'Gi1/0/2']);
  });

  it('§6.7 the same MAC in two VLANs is no conflict: separate tables, no moves, both reachable', () => {
    const f = new MiniFabric(topology({ vlanC: 20 }));
    speak(f, 'esx1', 'a');
    speak(f, 'esx2', 'c');
    speak(f, 'esx1', 'a');
    expect(f.ofType('mac-move', 'sw1')).to.have.length(0);
    expect(f.sw('sw1').lookupMac(10, DUP)).to.equal('Gi1/0/1');
    expect(f.sw('sw1').lookupMac(20, DUP)).to.equal('Gi1/0/2');
  });
});
