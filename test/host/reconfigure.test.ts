// Live reconfiguration of a running host (EsxHost.reconfigure; docs/reconfigure.md), in-process on a
// ManualClock: each kind of change, right after it, under traffic: a port group's VLAN (§2), teaming order
// and notify (§3.10), security (§4), shaping (§5), the vSwitch MTU (§1.13), Net.ReversePathFwdCheckPromisc
// (§1.11), a vNIC reconnected to another port group or given another MAC; and changes that cannot
// happen live, refused with nothing changed. Changes are made as `vfab set` makes them: edits of the
// topology text (lib/topology/edit.ts), loaded with every rule, then the host's new model applied.
import { expect } from 'chai';
import fs from 'node:fs';
import { MiniFabric } from './fabric.js';
import { editTopologyText, hostPath, portGroupPath, rawTopology, vmNicPath, vswitchPath, type TopologyEdit } from '../../lib/topology/edit.js';
import type { PathSeg } from '../../lib/topology/source.js';
import type { EsxHost } from '../../lib/host/host.js';
import { buildFrame } from '../../lib/wire/ethernet.js';
import { parseMac } from '../../lib/wire/mac.js';

const YAML = fs.readFileSync(new URL('../../topologies/e2e/reconfigure.yaml', import.meta.url), 'utf8');
const WEB1 = parseMac('00:50:56:00:10:01');

class Lab {
  readonly f = new MiniFabric(YAML);
  text = YAML;
  private seq = 0;
  constructor() {
    this.f.settleNotify();
  }
  host(name: string): EsxHost {
    return this.f.host(name);
  }
  /** Edits the running text and applies host `host`'s new model (as vfab set does); returns the change lines. */
  set(host: string, edits: (raw: Record<string, unknown>) => TopologyEdit[]): string[] {
    const edited = editTopologyText(this.text, 'reconfigure.yaml', edits(rawTopology(this.text)));
    const changes = this.host(host).reconfigure(edited.topology.hosts.find((h) => h.name === host)!);
    this.text = edited.text;
    this.f.pump();
    return changes;
  }
  /** One ping from `vm` (on `host`) to `ip`: true on a reply; waits out the guest's ARP retries (4 s). */
  ping(host: string, vm: string, ip: string): boolean {
    const h = this.host(host);
    let ok = false;
    const stop = h.listen(vm, (a) => {
      if (a.kind === 'pingReply') ok = true;
    });
    h.ping(vm, 0, ip, { id: 7, seq: ++this.seq, timeoutMs: 1000 });
    this.f.pump();
    this.f.advance(5000, 50);
    stop();
    return ok;
  }
}

const at = (p: PathSeg[], ...more: PathSeg[]): PathSeg[] => [...p, ...more];

describe('EsxHost live reconfiguration (vfab set on hosts)', () => {
  it('§2 a port group moved to another VLAN loses the old VLAN and reaches the new one at once; its MAC entry moves', () => {
    const lab = new Lab();
    expect(lab.ping('esx1', 'web1', '192.0.2.12'), 'web1 -> web2 in VLAN 10 before').to.equal(true);
    expect(lab.ping('esx1', 'web1', '192.0.2.21'), 'web1 -> db1 (VLAN 20) before').to.equal(false);
    const changes = lab.set('esx1', (raw) => [{ path: at(portGroupPath(raw, 'esx1', 'VM-10'), 'vlan'), value: 20 }]);
    expect(changes).to.deep.equal(['vSwitch0: VM-10 VLAN 10 -> 20']);
    expect(lab.host('esx1').macTable().filter((e) => e.mac === '00:50:56:00:10:01').map((e) => e.vlan)).to.deep.equal([20]);
    expect(lab.ping('esx1', 'web1', '192.0.2.21'), 'web1 -> db1 after').to.equal(true);
    expect(lab.ping('esx1', 'web1', '192.0.2.12'), 'web1 -> web2 after').to.equal(false);
    const port = lab.host('esx1').status().vswitches[0]!.ports.find((p) => p.name === 'web1.nic0')!;
    expect(port.vlanId).to.equal(20);
  });

  it('§3.10 an explicit failover order change re-pins the ports and sends their RARPs on the new uplink', () => {
    const lab = new Lab();
    const esx1 = lab.host('esx1');
    const before = esx1.describeNic('web1').uplink;
    const other = before === 'vmnic0' ? 'vmnic1' : 'vmnic0';
    const mark0 = lab.f.sentCount(`esx1.${other}`);
    lab.set('esx1', (raw) => {
      const p = vswitchPath(raw, 'esx1', 'vSwitch0');
      return [{ path: at(p, 'teaming', 'loadBalancing'), value: 'explicit' }, { path: at(p, 'teaming', 'active'), value: [other] }, { path: at(p, 'teaming', 'standby'), value: [before!] }];
    });
    lab.f.settleNotify();
    expect(esx1.describeNic('web1').uplink).to.equal(other);
    expect(esx1.describeNic('spy1').uplink).to.equal(other);
    expect(lab.f.rarpsFrom(`esx1.${other}`, WEB1, mark0), 'five RARPs for web1 on its new uplink').to.equal(5);
    const notify = lab.f.ofType('notify', 'esx1').filter((e) => e.reason === 'policy-change');
    expect(notify.map((e) => e.port).sort()).to.include('web1.nic0');
    expect(lab.f.ofType('policy-change', 'esx1')).to.have.length.greaterThan(0);
    expect(lab.f.sw('sw1').lookupMac(10, WEB1), 'the switch relearnt web1 behind its new uplink').to.equal(other === 'vmnic0' ? 'Gi1/0/1' : 'Gi1/0/2');
    expect(lab.ping('esx2', 'web2', '192.0.2.11')).to.equal(true);
  });

  it('§3.10 with notify off, the same re-pin sends no RARP', () => {
    const lab = new Lab();
    const esx1 = lab.host('esx1');
    const before = esx1.describeNic('web1').uplink!;
    const other = before === 'vmnic0' ? 'vmnic1' : 'vmnic0';
    const mark = lab.f.sentCount(`esx1.${other}`);
    lab.set('esx1', (raw) => {
      const p = vswitchPath(raw, 'esx1', 'vSwitch0');
      return [{ path: at(p, 'teaming', 'notifySwitches'), value: false }, { path: at(p, 'teaming', 'loadBalancing'), value: 'explicit' }, { path: at(p, 'teaming', 'active'), value: [other, before] }];
    });
    lab.f.settleNotify();
    expect(esx1.describeNic('web1').uplink).to.equal(other);
    expect(lab.f.rarpsFrom(`esx1.${other}`, WEB1, mark)).to.equal(0);
  });

  it('§3.4 srcPortId -> ipHash: every port now spreads over both uplinks and takes frames from both; no RARP (one EtherChannel)', () => {
    const lab = new Lab();
    const esx1 = lab.host('esx1');
    expect(esx1.describeNic('web1').uplinks).to.have.length(1);
    const marks = ['vmnic0', 'vmnic1'].map((u) => lab.f.sentCount(`esx1.${u}`));
    const changes = lab.set('esx1', (raw) => [{ path: at(vswitchPath(raw, 'esx1', 'vSwitch0'), 'teaming', 'loadBalancing'), value: 'ipHash' }]);
    expect(changes).to.deep.equal(['vSwitch0: teaming ipHash, active vmnic0,vmnic1, standby -, failback on, notify on, linkStatus']);
    lab.f.settleNotify();
    expect(esx1.describeNic('web1').uplinks).to.deep.equal(['vmnic0', 'vmnic1']);
    expect(esx1.describeNic('spy1').uplinks).to.deep.equal(['vmnic0', 'vmnic1']);
    // web1 (port 1 under srcPortId: vmnic1) now leaves by the hash, its notify uplink vmnic0: logged, but no RARP
    expect(lab.f.ofType('policy-change', 'esx1').flatMap((e) => (e.ports as Array<{ port: string }>).map((p) => p.port))).to.include('web1.nic0');
    const spy1 = parseMac('00:50:56:00:10:09');
    expect(['vmnic0', 'vmnic1'].flatMap((u, i) => [lab.f.rarpsFrom(`esx1.${u}`, WEB1, marks[i]), lab.f.rarpsFrom(`esx1.${u}`, spy1, marks[i])])).to.deep.equal([0, 0, 0, 0]);
  });

  it('§4 a vSwitch-level security change reaches the port groups that do not override it', () => {
    const lab = new Lab();
    const forged = buildFrame({ dst: parseMac('ff:ff:ff:ff:ff:ff'), src: parseMac('00:50:56:00:66:66'), etherType: 0x88b5 }, new Uint8Array(46));
    lab.set('esx1', (raw) => [{ path: at(vswitchPath(raw, 'esx1', 'vSwitch0'), 'security', 'forgedTransmits'), value: 'reject' }]);
    lab.host('esx1').transmitFromVm('web1', 0, forged);
    lab.f.pump();
    expect(lab.f.drops.filter((d) => d.reason === 'forged_transmit').map((d) => d.point)).to.deep.equal(['web1.nic0']);
  });

  it('§4.4 forged transmits accept -> reject drops a forged frame from then on', () => {
    const lab = new Lab();
    const forged = buildFrame({ dst: parseMac('ff:ff:ff:ff:ff:ff'), src: parseMac('00:50:56:00:66:66'), etherType: 0x88b5 }, new Uint8Array(46));
    lab.host('esx1').transmitFromVm('web1', 0, forged);
    lab.f.pump();
    expect(lab.f.drops.filter((d) => d.reason === 'forged_transmit')).to.have.length(0);
    lab.set('esx1', (raw) => [{ path: at(portGroupPath(raw, 'esx1', 'VM-10'), 'security', 'forgedTransmits'), value: 'reject' }]);
    lab.host('esx1').transmitFromVm('web1', 0, forged);
    lab.f.pump();
    expect(lab.f.drops.filter((d) => d.reason === 'forged_transmit').map((d) => d.point)).to.deep.equal(['web1.nic0']);
    expect(lab.host('esx1').status().vswitches[0]!.ports.find((p) => p.name === 'web1.nic0')!.security.allowForgedTransmits).to.equal(false);
  });

  it('§4.2 promiscuous accept -> reject: the port stops receiving other ports\' unicast at once', () => {
    const lab = new Lab();
    lab.set('esx1', (raw) => [{ path: at(portGroupPath(raw, 'esx1', 'VM-10'), 'security', 'promiscuous'), value: 'accept' }]);
    const esx1 = lab.host('esx1');
    esx1.applyGuestActions('spy1', esx1.endpoint('spy1').setPromiscuous(0, true));
    const sniffed = (): number => esx1.status().vswitches[0]!.ports.find((p) => p.name === 'spy1.nic0')!.counters.rxFrames;
    lab.ping('esx2', 'web2', '192.0.2.11');
    const seen = sniffed();
    lab.ping('esx2', 'web2', '192.0.2.11');
    expect(sniffed(), 'spy1 sees web1\'s unicast while promiscuous is accepted').to.be.greaterThan(seen);
    lab.set('esx1', (raw) => [{ path: at(portGroupPath(raw, 'esx1', 'VM-10'), 'security', 'promiscuous'), value: 'reject' }]);
    const after = sniffed();
    expect(lab.ping('esx2', 'web2', '192.0.2.11')).to.equal(true);
    expect(sniffed(), 'nothing more once rejected').to.equal(after);
  });

  it('§5 shaping turned on gives each port of the port group a bucket; off removes it', () => {
    const lab = new Lab();
    expect(lab.host('esx1').shapingStats('web1')).to.equal(null);
    lab.set('esx1', (raw) => {
      const p = portGroupPath(raw, 'esx1', 'VM-10');
      return [{ path: at(p, 'trafficShaping'), value: { enabled: true, averageKbps: 1000, peakKbps: 2000, burstKB: 10 } }];
    });
    expect(lab.host('esx1').shapingStats('web1')).to.not.equal(null);
    expect(lab.host('esx1').shapingStats('spy1')).to.not.equal(null);
    expect(lab.ping('esx1', 'web1', '192.0.2.12')).to.equal(true);
    expect(lab.host('esx1').shapingStats('web1')!.sentFrames).to.be.greaterThan(0);
    lab.set('esx1', (raw) => [{ path: at(portGroupPath(raw, 'esx1', 'VM-10'), 'trafficShaping', 'enabled'), value: false }]);
    expect(lab.host('esx1').shapingStats('web1')).to.equal(null);
  });

  it('§1.13 the vSwitch MTU change applies to the next frame from an uplink', () => {
    const lab = new Lab();
    const big = buildFrame({ dst: WEB1, src: parseMac('00:50:56:00:77:77'), tag: { tpid: 0x8100, pcp: 0, dei: 0, vid: 10 }, etherType: 0x88b5 }, new Uint8Array(4000));
    lab.host('esx1').receiveUplink('vmnic0', big);
    expect(lab.f.drops.filter((d) => d.reason === 'mtu_exceeded')).to.have.length(1);
    lab.set('esx1', (raw) => [{ path: at(vswitchPath(raw, 'esx1', 'vSwitch0'), 'mtu'), value: 9000 }]);
    lab.host('esx1').receiveUplink('vmnic0', big);
    expect(lab.f.drops.filter((d) => d.reason === 'mtu_exceeded')).to.have.length(1);
    expect(lab.host('esx1').status().vswitches[0]!.mtu).to.equal(9000);
  });

  it('§1.11 Net.ReversePathFwdCheckPromisc 1 reaches the vSwitches; 0 again clears it', () => {
    const lab = new Lab();
    expect(lab.host('esx1').vswitch('vSwitch0')!.reversePathCheckPromiscuous).to.equal(false);
    lab.set('esx1', (raw) => [{ path: at(hostPath(raw, 'esx1'), 'advanced'), value: { reversePathFwdCheckPromisc: 1 } }]);
    expect(lab.host('esx1').vswitch('vSwitch0')!.reversePathCheckPromiscuous).to.equal(true);
    expect(lab.host('esx1').status().advanced.reversePathFwdCheckPromisc).to.equal(1);
    lab.set('esx1', (raw) => [{ path: at(hostPath(raw, 'esx1'), 'advanced'), remove: true }]);
    expect(lab.host('esx1').vswitch('vSwitch0')!.reversePathCheckPromiscuous).to.equal(false);
  });

  it('§1.11 Net.ReversePathFwdCheckPromisc 1: a promiscuous port no longer gets its own broadcast back from the physical switch', () => {
    const lab = new Lab();
    lab.set('esx1', (raw) => [{ path: at(portGroupPath(raw, 'esx1', 'VM-10'), 'security', 'promiscuous'), value: 'accept' }]);
    const esx1 = lab.host('esx1');
    esx1.applyGuestActions('spy1', esx1.endpoint('spy1').setPromiscuous(0, true));
    const own = buildFrame({ dst: parseMac('ff:ff:ff:ff:ff:ff'), src: parseMac('00:50:56:00:10:09'), etherType: 0x88b5 }, new Uint8Array(46));
    const rx = (): number => esx1.status().vswitches[0]!.ports.find((p) => p.name === 'spy1.nic0')!.counters.rxFrames;
    let before = rx();
    esx1.transmitFromVm('spy1', 0, own);
    lab.f.pump();
    expect(rx() - before, 'sw1 floods it back over the other uplink: the promiscuous port sees its own frame').to.equal(1);
    lab.set('esx1', (raw) => [{ path: at(hostPath(raw, 'esx1'), 'advanced'), value: { reversePathFwdCheckPromisc: 1 } }]);
    before = rx();
    esx1.transmitFromVm('spy1', 0, own);
    lab.f.pump();
    expect(rx() - before, 'filtered once the option is 1').to.equal(0);
  });

  it('a vNIC reconnected to another port group gets a new port (new ID, connect RARPs) and that port group\'s VLAN', () => {
    const lab = new Lab();
    const esx1 = lab.host('esx1');
    const oldPort = esx1.describeNic('web1').portId;
    lab.set('esx1', (raw) => [{ path: at(vmNicPath(raw, 'web1', 'nic0'), 'portGroup'), value: 'VM-20' }]);
    const d = esx1.describeNic('web1');
    expect(d.portId).to.not.equal(oldPort);
    expect(esx1.status().vswitches[0]!.ports.map((p) => p.portId)).to.not.include(oldPort);
    expect(lab.f.ofType('notify', 'esx1').filter((e) => e.reason === 'reconnect').map((e) => e.port)).to.deep.equal(['web1.nic0']);
    expect(lab.ping('esx1', 'web1', '192.0.2.21'), 'reaches db1 in VLAN 20').to.equal(true);
    expect(lab.ping('esx1', 'web1', '192.0.2.12'), 'no longer web2 in VLAN 10').to.equal(false);
  });

  it('a vNIC MAC change (the VM\'s settings) reconnects the port with the new initial MAC; traffic follows', () => {
    const lab = new Lab();
    const esx1 = lab.host('esx1');
    lab.set('esx1', (raw) => [{ path: at(vmNicPath(raw, 'web1', 'nic0'), 'mac'), value: '00:50:56:00:10:aa' }]);
    const port = esx1.status().vswitches[0]!.ports.find((p) => p.name === 'web1.nic0')!;
    expect([port.initialMac, port.effectiveMac, port.macChangeBlocked]).to.deep.equal(['00:50:56:00:10:aa', '00:50:56:00:10:aa', false]);
    expect(esx1.macTable().map((e) => e.mac)).to.not.include('00:50:56:00:10:01');
    expect(lab.ping('esx2', 'web2', '192.0.2.11')).to.equal(true);
    expect(lab.f.sw('sw1').lookupMac(10, parseMac('00:50:56:00:10:aa'))).to.not.equal(undefined);
  });

  describe('refused: nothing changes', () => {
    const refuse = (lab: Lab, host: string, edits: (raw: Record<string, unknown>) => TopologyEdit[], code: string): void => {
      const before = JSON.stringify(lab.host(host).status());
      const mac = JSON.stringify(lab.host(host).macTable());
      const edited = editTopologyText(lab.text, 'reconfigure.yaml', edits(rawTopology(lab.text)));
      expect(() => lab.host(host).reconfigure(edited.topology.hosts.find((h) => h.name === host)!)).to.throw().with.property('code', code);
      expect(JSON.stringify(lab.host(host).status())).to.equal(before);
      expect(JSON.stringify(lab.host(host).macTable())).to.equal(mac);
    };

    it('an uplink list change (with a VLAN change in the same request)', () => {
      const lab = new Lab();
      refuse(lab, 'esx1', (raw) => [
        { path: at(portGroupPath(raw, 'esx1', 'VM-10'), 'vlan'), value: 20 },
        { path: at(vswitchPath(raw, 'esx1', 'vSwitch0'), 'uplinks'), value: ['vmnic1', 'vmnic0'] },
      ], 'VFAB_HOST_LIVE_UNSUPPORTED');
    });

    it('beacon probing turned on live (with an MTU change in the same request)', () => {
      const lab = new Lab();
      refuse(lab, 'esx1', (raw) => {
        const p = vswitchPath(raw, 'esx1', 'vSwitch0');
        return [{ path: at(p, 'mtu'), value: 9000 }, { path: at(p, 'teaming', 'failureDetection'), value: 'beaconProbing' }];
      }, 'VFAB_TEAMING_LIVE_UNSUPPORTED');
    });

    it('a port group added', () => {
      const lab = new Lab();
      refuse(lab, 'esx1', (raw) => [{ path: at(vswitchPath(raw, 'esx1', 'vSwitch0'), 'portGroups', 2), value: { name: 'VM-30', vlan: 30 } }], 'VFAB_HOST_LIVE_UNSUPPORTED');
    });
  });
});
