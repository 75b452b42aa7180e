// EsxHost with teaming (spec §3), wired in-process to physical switches on a ManualClock: failover and
// failback with notify-switches RARPs, the black hole without notify, beacon probing behind a link that
// stays up (2-tier), IP hash with and without a port-channel, shaping (spec §5).
import { expect } from 'chai';
import fs from 'node:fs';
import { MiniFabric } from './fabric.js';
import type { EsxHost, StreamSender } from '../../lib/host/host.js';
import type { StreamReceiver } from '../../lib/traffic/stream.js';
import { parseMac } from '../../lib/wire/mac.js';
import { ipv4 } from '../teaming/helpers.js';

const FAILOVER_YAML = fs.readFileSync(new URL('../../topologies/failover.yaml', import.meta.url), 'utf8');
const APP1 = parseMac('00:50:56:00:10:01');
const QUIET1 = parseMac('00:50:56:00:10:03');

/** A stream from `fromVm` (on `from`) to `toIp` counted at `toVm` (on `to`); ARP resolved through the fabric. */
function stream(f: MiniFabric, from: EsxHost, fromVm: string, to: EsxHost, toVm: string, toIp: string, streamId: number): { s: StreamSender; rx: StreamReceiver; send(n: number): void } {
  const rx = to.addStreamSink(toVm, streamId, 9000 + streamId);
  let s = from.streamSender(fromVm, 0, toIp, 9000 + streamId, 128, streamId);
  for (let i = 0; !s && i < 5; i++) {
    f.pump();
    f.advance(10, 10);
    s = from.streamSender(fromVm, 0, toIp, 9000 + streamId, 128, streamId);
  }
  if (!s) throw new Error(`${fromVm} could not resolve ${toIp}`);
  const sender = s;
  return {
    s: sender,
    rx,
    send(n: number) {
      from.sendStreamFrames(sender, n, 0);
      f.pump();
    },
  };
}

describe('EsxHost teaming: link-status failover and notify switches', () => {
  it('§3.10 power-on sends exactly NOTIFY_RARP_COUNT (5) RARPs per port, once, on its uplink only', () => {
    const f = new MiniFabric(FAILOVER_YAML);
    f.settleNotify();
    expect(f.rarpsFrom('esx1.vmnic0', APP1)).to.equal(5);
    expect(f.rarpsFrom('esx1.vmnic1', APP1)).to.equal(0);
    expect(f.rarpsFrom('esx1.vmnic0', QUIET1), 'notify off in APP-quiet').to.equal(0);
    expect(f.ofType('notify', 'esx1').map((e) => [e.port, e.uplink, e.count, e.vlan])).to.deep.equal([['app1.nic0', 'vmnic0', 5, 10]]);
  });

  it('§3.7 §3.10 failover to standby: RARPs on the new uplink, the switch points there at once, no frame lost after', () => {
    const f = new MiniFabric(FAILOVER_YAML);
    const esx1 = f.host('esx1');
    const esx2 = f.host('esx2');
    expect(esx1.describeNic('app1').uplink).to.equal('vmnic0');
    const st = stream(f, esx2, 'web2', esx1, 'app1', '192.0.2.11', 1);
    st.send(100);
    expect(st.rx.report().received).to.equal(100);
    expect(f.sw('sw2').lookupMac(10, APP1)).to.equal('Gi1/0/48');

    const mark = f.sentCount('esx1.vmnic1');
    f.setCable('esx1.vmnic0', false);
    const fo = f.ofType('failover', 'esx1');
    expect(fo).to.have.length(1);
    expect(fo[0]).to.include({ from: 'vmnic0', to: 'vmnic1' });
    expect((fo[0]!.ports as Array<{ port: string }>).map((p) => p.port)).to.have.members(['app1.nic0', 'quiet1.nic0']);
    f.settleNotify();
    expect(f.rarpsFrom('esx1.vmnic1', APP1, mark)).to.equal(5);
    expect(f.rarpsFrom('esx1.vmnic1', QUIET1, mark)).to.equal(0);
    expect(f.sw('sw2').lookupMac(10, APP1), 'moved by the RARPs').to.equal('Gi1/0/1');
    expect(f.ofType('mac-move', 'sw2').some((e) => e.mac === '00:50:56:00:10:01' && e.fromPort === 'Gi1/0/48' && e.toPort === 'Gi1/0/1')).to.equal(true);
    expect(esx1.describeNic('app1').reason).to.match(/standby vmnic1 in use: vmnic0 down/);

    st.send(100);
    expect(st.rx.report().received).to.equal(200);
    expect(st.rx.report().lost).to.equal(0);
  });

  it('§3.10 notify off: inbound traffic is black-holed until the VM speaks', () => {
    const f = new MiniFabric(FAILOVER_YAML);
    const esx1 = f.host('esx1');
    const st = stream(f, f.host('esx2'), 'web2', esx1, 'quiet1', '192.0.2.13', 2);
    st.send(50);
    expect(st.rx.report().received).to.equal(50);
    f.setCable('esx1.vmnic0', false);
    expect(esx1.describeNic('quiet1').uplink).to.equal('vmnic1');
    expect(f.sw('sw2').lookupMac(10, QUIET1), 'stale entry').to.equal('Gi1/0/48');
    st.send(50);
    expect(st.rx.report().received, 'sw1 has no port for it any more').to.equal(50);
    // the VM speaks (an ARP for its peer): sw2 learns it on the new port
    esx1.applyGuestActions('quiet1', esx1.endpoint('quiet1').resolve(0, '192.0.2.99'));
    f.pump();
    expect(f.sw('sw2').lookupMac(10, QUIET1)).to.equal('Gi1/0/1');
    st.send(50);
    expect(st.rx.report().received).to.equal(100);
  });

  it('§3.10 notify off: or until the stale switch entry ages out (300 s), then flooding finds the VM', () => {
    const f = new MiniFabric(FAILOVER_YAML);
    const st = stream(f, f.host('esx2'), 'web2', f.host('esx1'), 'quiet1', '192.0.2.13', 3);
    st.send(10);
    f.setCable('esx1.vmnic0', false);
    st.send(10);
    expect(st.rx.report().received).to.equal(10);
    f.advance(301_000, 10_000);
    expect(f.ofType('mac-aged', 'sw2').some((e) => e.mac === '00:50:56:00:10:03')).to.equal(true);
    st.send(10);
    expect(st.rx.report().received).to.equal(20);
  });

  it('§3.8 failback yes: the recovered active takes the ports back with RARPs on it', () => {
    const f = new MiniFabric(FAILOVER_YAML);
    f.setCable('esx1.vmnic0', false);
    const mark = f.sentCount('esx1.vmnic0');
    f.setCable('esx1.vmnic0', true);
    expect(f.ofType('failback', 'esx1')[0]).to.include({ from: 'vmnic1', to: 'vmnic0' });
    expect(f.host('esx1').describeNic('app1').uplink).to.equal('vmnic0');
    f.settleNotify();
    expect(f.rarpsFrom('esx1.vmnic0', APP1, mark)).to.equal(5);
  });

  it('§3.10 start-up RARPs (VMs power on before carrier) say startup, a port back from no uplink says port-up: neither is a failback', () => {
    const f = new MiniFabric(FAILOVER_YAML); // VMs power on first, each uplink gets carrier after, as in a started fabric
    const reasons = () => f.ofType('notify', 'esx1').filter((e) => e.port === 'app1.nic0').map((e) => [e.uplink, e.reason]);
    expect(reasons()).to.deep.equal([['vmnic0', 'startup']]);
    expect(f.ofType('failback', 'esx1')).to.deep.equal([]);
    f.setCable('esx1.vmnic0', false);
    f.setCable('esx1.vmnic1', false);
    const mark = f.sentCount('esx1.vmnic0');
    f.setCable('esx1.vmnic0', true);
    expect(reasons()).to.deep.equal([['vmnic0', 'startup'], ['vmnic1', 'failover'], ['vmnic0', 'port-up']]);
    expect(f.ofType('failback', 'esx1')).to.deep.equal([]);
    f.settleNotify();
    expect(f.rarpsFrom('esx1.vmnic0', APP1, mark)).to.equal(5);
  });

  it('§3.10 a port that moves twice in quick succession: the older RARP burst is cut short, the last RARPs come from the current uplink', () => {
    const f = new MiniFabric(FAILOVER_YAML);
    f.settleNotify();
    const mark0 = f.sentCount('esx1.vmnic0');
    const mark1 = f.sentCount('esx1.vmnic1');
    f.setCable('esx1.vmnic0', false); // failover: burst starts on vmnic1
    f.setCable('esx1.vmnic0', true); // failback at once: burst on vmnic0 replaces it
    f.settleNotify();
    expect(f.rarpsFrom('esx1.vmnic1', APP1, mark1), 'only the first RARP of the superseded burst left').to.equal(1);
    expect(f.rarpsFrom('esx1.vmnic0', APP1, mark0)).to.equal(5);
    expect(f.sw('sw1').lookupMac(10, APP1)).to.equal('Gi1/0/1');
  });

  it('§3.8 failback no: the standby keeps the ports after recovery', () => {
    const f = new MiniFabric(FAILOVER_YAML.replace('failback: true', 'failback: false'));
    f.setCable('esx1.vmnic0', false);
    f.setCable('esx1.vmnic0', true);
    const d = f.host('esx1').describeNic('app1');
    expect(d.uplink).to.equal('vmnic1');
    expect(f.ofType('failback', 'esx1')).to.have.length(0);
  });

  it('status shows per port the active uplink and why, and uplink roles', () => {
    const f = new MiniFabric(FAILOVER_YAML);
    const vs = f.host('esx1').status().vswitches[0]!;
    expect(vs.ports.find((p) => p.name === 'app1.nic0')).to.include({ uplink: 'vmnic0', uplinkReason: 'active uplink vmnic0 (explicit: first healthy active)' });
    expect(vs.uplinks.map((u) => [u.name, u.role, u.link, u.inUse])).to.deep.equal([['vmnic0', 'active', 'up', true], ['vmnic1', 'standby', 'up', false]]);
  });
});

// Two-tier: esx1's uplinks go to access switches, each uplinked to one core switch.
function twoTier(uplinks: 2 | 3, detection: 'beaconProbing' | 'linkStatus'): string {
  const nics = uplinks === 3 ? ['vmnic0', 'vmnic1', 'vmnic2'] : ['vmnic0', 'vmnic1'];
  const acc = nics.map((_, i) => `acc${i + 1}`);
  return `
name: twotier
switches:
${acc.map((a) => `  - name: ${a}
    ports:
      - { name: Gi1/0/1, mode: trunk, allowedVlans: [10] }
      - { name: Gi1/0/48, mode: trunk, allowedVlans: [10] }`).join('\n')}
  - name: core
    ports:
${acc.map((_, i) => `      - { name: Gi1/0/${i + 1}, mode: trunk, allowedVlans: [10] }`).join('\n')}
hosts:
  - name: esx1
    vswitches:
      - name: vSwitch0
        uplinks: [${nics.join(', ')}]
        teaming: { loadBalancing: explicit, active: [${nics.join(', ')}], failureDetection: ${detection} }
        portGroups: [ { name: APP, vlan: 10 } ]
    vms:
      - name: app1
        nics: [ { portGroup: APP, mac: "00:50:56:00:10:01", ip: 192.0.2.11/24 } ]
links:
${nics.map((n, i) => `  - [esx1.${n}, acc${i + 1}.Gi1/0/1]\n  - [acc${i + 1}.Gi1/0/48, core.Gi1/0/${i + 1}]`).join('\n')}
`;
}

describe('EsxHost teaming: beacon probing (§3.9) in a 2-tier design', () => {
  it('§3.9 a core-side failure behind a link that stays up: 3 missed beacons mark vmnic0 failed and app1 fails over', () => {
    const f = new MiniFabric(twoTier(3, 'beaconProbing'));
    const esx1 = f.host('esx1');
    f.advance(3000);
    expect(esx1.describeNic('app1').uplink).to.equal('vmnic0');
    f.setCable('acc1.Gi1/0/48', false); // the access-to-core link: esx1.vmnic0 keeps its carrier
    expect(esx1.status().vswitches[0]!.uplinks[0]).to.include({ link: 'up' });
    f.advance(2000);
    expect(f.ofType('beacon-failed', 'esx1'), 'not before 3 missed rounds').to.have.length(0);
    f.advance(3000);
    const failed = f.ofType('beacon-failed', 'esx1');
    expect(failed.map((e) => e.uplink)).to.deep.equal(['vmnic0']);
    expect(esx1.describeNic('app1').uplink).to.equal('vmnic1');
    expect(f.ofType('failover', 'esx1')[0]).to.include({ from: 'vmnic0', to: 'vmnic1' });
    expect(esx1.teaming('vSwitch0')!.uplinkStatus()[0]).to.include({ link: 'up', beacon: 'failed' });
    // beacons (flooded back in on the other uplinks for 8 s) never reach a VM; the only other frames are
    // app1's own RARPs, which the vSwitch drops as reflections
    expect(esx1.endpoint('app1').counters.rxFrames).to.equal(0);
  });

  it('§3.9 link status alone cannot see that failure: app1 stays on vmnic0 and its frames go nowhere', () => {
    const f = new MiniFabric(twoTier(3, 'linkStatus'));
    f.setCable('acc1.Gi1/0/48', false);
    f.advance(10_000);
    expect(f.host('esx1').describeNic('app1').uplink).to.equal('vmnic0');
    expect(f.ofType('failover', 'esx1')).to.have.length(0);
  });

  it('§3.9 with only 2 uplinks the failure is ambiguous: shotgun on both', () => {
    const f = new MiniFabric(twoTier(2, 'beaconProbing'));
    f.advance(2000);
    f.setCable('acc1.Gi1/0/48', false);
    f.advance(5000);
    expect(f.ofType('shotgun-on', 'esx1')).to.have.length(1);
    const d = f.host('esx1').describeNic('app1');
    expect(d.uplinks).to.deep.equal(['vmnic0', 'vmnic1']);
    expect(d.reason).to.match(/^shotgun/);
  });
});

function ipHashTopology(channel: boolean): string {
  return `
name: iphash
switches:
  - name: sw1
    ports:
      - { name: Gi1/0/1, mode: trunk, allowedVlans: [10] }
      - { name: Gi1/0/2, mode: trunk, allowedVlans: [10] }
${channel ? '    portChannels: [ { name: Po1, members: [Gi1/0/1, Gi1/0/2] } ]' : ''}
hosts:
  - name: esx1
    vswitches:
      - name: vSwitch0
        uplinks: [vmnic0, vmnic1]
        teaming: { loadBalancing: ipHash, active: [vmnic0, vmnic1] }
        portGroups: [ { name: APP, vlan: 10 } ]
    vms:
      - name: app1
        nics: [ { portGroup: APP, mac: "00:50:56:00:10:01", ip: 192.0.2.11/24 } ]
links:
  - [esx1.vmnic0, sw1.Gi1/0/1]
  - [esx1.vmnic1, sw1.Gi1/0/2]
`;
}

describe('EsxHost teaming: IP hash (§3.4)', () => {
  function spray(f: MiniFabric): void {
    for (let last = 20; last < 28; last++) {
      const frame = ipv4('192.0.2.11', `192.0.2.${last}`, undefined, APP1);
      frame.set([0x00, 0x50, 0x56, 0x00, 0x99, 0x99], 0); // unicast to an unknown MAC
      f.host('esx1').transmitFromVm('app1', 0, frame);
      f.pump();
    }
  }
  it('§3.4 without a port-channel the switch sees the VM MAC move between the two ports', () => {
    const f = new MiniFabric(ipHashTopology(false));
    spray(f);
    expect(f.sentCount('esx1.vmnic0')).to.be.greaterThan(1);
    expect(f.sentCount('esx1.vmnic1')).to.be.greaterThan(1);
    const moves = f.ofType('mac-move', 'sw1').filter((e) => e.mac === '00:50:56:00:10:01');
    expect(moves.length).to.be.greaterThan(2);
    expect(f.ofType('mac-flap', 'sw1').some((e) => e.mac === '00:50:56:00:10:01')).to.equal(true);
  });
  it('§3.4 with a static port-channel the MAC stays on Po1: no moves', () => {
    const f = new MiniFabric(ipHashTopology(true));
    spray(f);
    expect(f.ofType('mac-move', 'sw1')).to.have.length(0);
    expect(f.sw('sw1').lookupMac(10, APP1)).to.equal('Po1');
  });
});

describe('EsxHost traffic shaping (§5)', () => {
  it('§5.1 shapes VM egress: a burst beyond the bucket is queued, the rest dropped and counted; the queue drains on the clock', () => {
    const yaml = FAILOVER_YAML.replace('- { name: APP, vlan: 10 }', '- { name: APP, vlan: 10, trafficShaping: { enabled: true, averageKbps: 1000, peakKbps: 2000, burstKB: 10 } }');
    const f = new MiniFabric(yaml);
    const esx1 = f.host('esx1');
    const st = stream(f, esx1, 'app1', f.host('esx2'), 'web2', '192.0.2.12', 4);
    st.send(2000); // 2000 x 128 bytes at once
    const stats = esx1.shapingStats('app1')!;
    expect(stats.droppedFrames).to.be.greaterThan(0);
    expect(stats.sentFrames + stats.queuedFrames + stats.droppedFrames).to.be.at.least(2000);
    const drops = f.ofType('shaping-drop', 'esx1');
    expect(drops).to.have.length(1); // one report per SHAPING_DROP_EVENT_INTERVAL_MS
    const before = st.rx.report().received;
    f.advance(2000, 5);
    expect(st.rx.report().received).to.be.greaterThan(before);
    expect(esx1.shapingStats('app1')!.droppedFrames).to.equal(stats.droppedFrames);
  });
});
