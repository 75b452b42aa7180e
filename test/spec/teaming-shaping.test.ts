// Spec coverage audit (docs/spec-coverage.md): rules of spec §3.1, §3.10, §4.5 and §5 that earlier tests
// pinned only in part, checked on EsxHost wired to physical switches in-process (test/host/fabric.ts) on a
// ManualClock, with topologies/failover.yaml as the base design: the empty active list, notify-switches
// RARPs after a guest MAC change and on every change of a flapping link, the topology's security
// defaults, and shaping that is off by default, egress-only and per port. Leaves out what test/teaming,
// test/host and test/shaping pin already.

import { expect } from 'chai';
import fs from 'node:fs';
import { ManualClock } from '../../lib/clock.js';
import { TeamingEngine } from '../../lib/teaming/engine.js';
import type { EsxHost } from '../../lib/host/host.js';
import { parseMac } from '../../lib/wire/mac.js';
import { MiniFabric } from '../host/fabric.js';

const FAILOVER_YAML = fs.readFileSync(new URL('../../topologies/failover.yaml', import.meta.url), 'utf8');
const APP1 = parseMac('00:50:56:00:10:01');
const APP1_NEW = parseMac('00:50:56:00:10:77');
const SHAPING = 'trafficShaping: { enabled: true, averageKbps: 1000, peakKbps: 2000, burstKB: 10 }';

/** Sends `count` 128-byte UDP frames from `fromVm` to `toIp` (ARP resolved through the fabric first). */
function burst(f: MiniFabric, from: EsxHost, fromVm: string, to: EsxHost, toVm: string, toIp: string, streamId: number, count: number): () => number {
  const rx = to.addStreamSink(toVm, streamId, 9000 + streamId);
  let s = from.streamSender(fromVm, 0, toIp, 9000 + streamId, 128, streamId);
  for (let i = 0; !s && i < 5; i++) {
    f.advance(10, 10);
    s = from.streamSender(fromVm, 0, toIp, 9000 + streamId, 128, streamId);
  }
  if (!s) throw new Error(`${fromVm} could not resolve ${toIp}`);
  from.sendStreamFrames(s, count, 0);
  f.pump();
  return () => rx.report().received;
}

describe('spec audit: teaming (§3.1, §3.10)', () => {
  it('§3.1 an empty active list means no active NIC: the standby carries the port and the status says why', () => {
    const engine = new TeamingEngine({
      uplinks: ['vmnic0', 'vmnic1'],
      vswitchPolicy: { loadBalancing: 'explicit', active: [], standby: ['vmnic1'], failback: true, notifySwitches: true, failureDetection: 'linkStatus' },
      portGroupPolicies: {},
      clock: new ManualClock(0),
    });
    const port = { portId: 1, portGroup: 'pg', mac: APP1 };
    expect(engine.portConnected(port)).to.deep.equal([{ kind: 'notify', portId: 1, mac: APP1, uplink: 1, count: 5, reason: 'power-on' }]);
    expect(engine.selectEgress(port, new Uint8Array(60))).to.equal(0b10);
    expect(engine.describePort(1)).to.deep.equal({ uplink: 'vmnic1', uplinks: ['vmnic1'], reason: 'standby vmnic1 in use: no active NIC configured' });
    expect(engine.uplinkStatus().map((u) => u.role)).to.deep.equal(['unused', 'standby']);
  });

  it('§3.10 a guest MAC change (MAC changes Accept) sends 5 RARPs for the new MAC on the port\'s uplink', () => {
    const yaml = FAILOVER_YAML.replace('- { name: APP, vlan: 10 }', '- { name: APP, vlan: 10, security: { macChanges: accept } }');
    const f = new MiniFabric(yaml);
    const esx1 = f.host('esx1');
    const mark0 = f.sentCount('esx1.vmnic0');
    esx1.applyGuestActions('app1', esx1.endpoint('app1').setMac(0, APP1_NEW));
    f.pump();
    f.settleNotify();
    expect(f.rarpsFrom('esx1.vmnic0', APP1_NEW, mark0)).to.equal(5);
    expect(f.rarpsFrom('esx1.vmnic1', APP1_NEW)).to.equal(0);
    expect(f.sw('sw1').lookupMac(10, APP1_NEW)).to.equal('Gi1/0/1', 'the switch learned the new MAC from the RARPs');
  });

  it('§3.10 §4.3 with MAC changes Reject a guest MAC change sends no RARP', () => {
    const f = new MiniFabric(FAILOVER_YAML);
    const esx1 = f.host('esx1');
    esx1.applyGuestActions('app1', esx1.endpoint('app1').setMac(0, APP1_NEW));
    f.pump();
    expect(f.rarpsFrom('esx1.vmnic0', APP1_NEW)).to.equal(0);
    expect(f.rarpsFrom('esx1.vmnic1', APP1_NEW)).to.equal(0);
  });

  it('§3.10 a flapping link repeats the notification on every change, 5 RARPs each time, on the new uplink', () => {
    const f = new MiniFabric(FAILOVER_YAML);
    f.settleNotify();
    expect(f.rarpsFrom('esx1.vmnic0', APP1)).to.equal(5); // power-on
    const counts: Array<[number, number]> = [];
    for (const up of [false, true, false, true]) {
      f.setCable('esx1.vmnic0', up);
      f.settleNotify();
      counts.push([f.rarpsFrom('esx1.vmnic0', APP1), f.rarpsFrom('esx1.vmnic1', APP1)]);
    }
    // down: failover to vmnic1; up: failback to vmnic0 (failback yes); and again
    expect(counts).to.deep.equal([[5, 5], [10, 5], [10, 10], [15, 10]]);
  });
});

describe('spec audit: security defaults of a topology (§4.5)', () => {
  it('§4.5 a topology without security settings gets the vSphere 7.0 defaults: all three Reject', () => {
    const f = new MiniFabric(FAILOVER_YAML);
    expect(f.host('esx1').vswitch('vSwitch0')!.portGroupPolicy('APP')).to.deep.equal({ allowPromiscuous: false, allowMacChanges: false, allowForgedTransmits: false });
  });

  it('§4.5 the pre-7.0 vSS defaults (MAC changes and forged transmits Accept) can be chosen in defaults.security', () => {
    const yaml = FAILOVER_YAML.replace('defaults:\n', 'defaults:\n  security: { promiscuous: reject, macChanges: accept, forgedTransmits: accept }\n');
    const f = new MiniFabric(yaml);
    expect(f.host('esx1').vswitch('vSwitch0')!.portGroupPolicy('APP')).to.deep.equal({ allowPromiscuous: false, allowMacChanges: true, allowForgedTransmits: true });
  });
});

describe('spec audit: traffic shaping (§5.1, §5.2)', () => {
  it('§5.1 shaping is off by default: no shaper, and a 2000-frame burst is delivered whole', () => {
    const f = new MiniFabric(FAILOVER_YAML);
    const esx1 = f.host('esx1');
    expect(esx1.shapingStats('app1')).to.equal(null);
    const received = burst(f, esx1, 'app1', f.host('esx2'), 'web2', '192.0.2.12', 1, 2000);
    expect(received()).to.equal(2000);
  });

  it('§5.1 a vSS shapes only egress from the VM: a burst towards a shaped VM is not shaped', () => {
    const f = new MiniFabric(FAILOVER_YAML.replace('- { name: APP, vlan: 10 }', `- { name: APP, vlan: 10, ${SHAPING} }`));
    const esx1 = f.host('esx1');
    const before = esx1.shapingStats('app1')!;
    const received = burst(f, f.host('esx2'), 'web2', esx1, 'app1', '192.0.2.11', 2, 2000);
    expect(received()).to.equal(2000);
    const after = esx1.shapingStats('app1')!;
    expect(after.droppedFrames).to.equal(before.droppedFrames);
    expect(after.queuedFrames).to.equal(0);
  });

  it('§5.2 the values apply per port: one VM exhausting its bucket does not change what its port-group neighbour may send', () => {
    const yaml = FAILOVER_YAML
      .replace('- { name: APP, vlan: 10 }', `- { name: APP, vlan: 10, ${SHAPING} }`)
      .replace('- { portGroup: APP-quiet, mac: "00:50:56:00:10:03", ip: 192.0.2.13/24 }', '- { portGroup: APP, mac: "00:50:56:00:10:03", ip: 192.0.2.13/24 }');
    /** quiet1's shaper counters after it sends 40 frames, with or without app1 flooding the same port group first. */
    const quietAfter = (appFloods: boolean) => {
      const f = new MiniFabric(yaml);
      const esx1 = f.host('esx1');
      const esx2 = f.host('esx2');
      if (appFloods) {
        burst(f, esx1, 'app1', esx2, 'web2', '192.0.2.12', 3, 2000);
        expect(esx1.shapingStats('app1')!.droppedFrames).to.be.greaterThan(0);
      } else {
        f.advance(30, 10); // the same ARP time the flood's resolution takes
      }
      const received = burst(f, esx1, 'quiet1', esx2, 'web2', '192.0.2.12', 4, 40);
      const now = { ...esx1.shapingStats('quiet1')! };
      f.advance(1000, 5);
      return { now, delivered: received() };
    };
    const alone = quietAfter(false);
    const besideFlood = quietAfter(true);
    expect(besideFlood.now.droppedFrames).to.equal(0);
    expect([besideFlood.now.sentFrames, besideFlood.now.queuedFrames]).to.deep.equal([alone.now.sentFrames, alone.now.queuedFrames]);
    expect(besideFlood.delivered).to.equal(40);
    expect(alone.delivered).to.equal(40);
  });
});
