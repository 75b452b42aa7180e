// EsxHost's part of a vMotion (docs/vmotion.md "In a fabric"; spec §7.15 steps 3-4, §3.10) on a ManualClock,
// two hosts cabled to a physical switch in-process: a stunned VM neither sends nor receives and keeps its
// state, resumes in place without a power event; a VM rebuilt from its endpoint snapshot on the other host
// connects there with notify RARPs (reason vmotion) when its port group notifies and none when it does not,
// the switch moves its MAC only with them, and the source forgets the VM. Leaves out the migration core
// (test/vmotion/) and the daemon's wiring (test/e2e/vmotion/).
import { expect } from 'chai';
import { MiniFabric } from './fabric.js';
import type { EndpointAction } from '../../lib/endpoint/vm-endpoint.js';
import { VmEndpoint } from '../../lib/endpoint/vm-endpoint.js';
import { VfabError } from '../../lib/errors.js';

const YAML = `
name: vmo
switches:
  - name: sw1
    ports:
      - { name: Gi1/0/1, mode: trunk, allowedVlans: "10,11" }
      - { name: Gi1/0/2, mode: trunk, allowedVlans: "10,11" }
hosts:
  - name: esx1
    vswitches:
      - name: vSwitch0
        uplinks: [vmnic0]
        portGroups:
          - { name: VM-10, vlan: 10 }
          - { name: Quiet, vlan: 11, teaming: { notifySwitches: false } }
    vms:
      - { name: app1, nics: [{ portGroup: VM-10, mac: "00:50:56:00:10:21", ip: 10.0.10.21/24 }] }
      - { name: quiet1, nics: [{ portGroup: Quiet, mac: "00:50:56:00:11:21", ip: 10.0.11.21/24 }] }
  - name: esx2
    vswitches:
      - name: vSwitch0
        uplinks: [vmnic0]
        portGroups:
          - { name: VM-10, vlan: 10 }
          - { name: Quiet, vlan: 11, teaming: { notifySwitches: false } }
    vms:
      - { name: peer, nics: [{ portGroup: VM-10, ip: 10.0.10.99/24 }] }
links:
  - [esx1.vmnic0, sw1.Gi1/0/1]
  - [esx2.vmnic0, sw1.Gi1/0/2]
`;

const APP1 = 0x005056001021;
const QUIET1 = 0x005056001121;
let seqNo = 0;

/** One echo request from `vm` on `host` to `target`: the RTT, or null after the timeout. */
function ping(f: MiniFabric, host: string, vm: string, target: string): number | null {
  const h = f.host(host);
  const seq = seqNo++;
  let result: number | null | undefined;
  const stop = h.listen(vm, (a: EndpointAction) => {
    if (a.kind === 'pingReply' && a.seq === seq) result = a.rttMs;
    if ((a.kind === 'pingTimeout' && a.seq === seq) || a.kind === 'arpFailed') result ??= null;
  });
  h.ping(vm, 0, target, { id: 9, seq, timeoutMs: 500 });
  f.pump();
  for (let i = 0; result === undefined && i < 20; i++) f.advance(100, 100);
  stop();
  return result ?? null;
}

/** What vMotion does to the hosts: stun at the source, rebuild from the snapshot at the destination, forget. */
function move(f: MiniFabric, vm: string): void {
  const src = f.host('esx1');
  src.stunVm(vm);
  const snap = JSON.parse(JSON.stringify(src.endpoint(vm).snapshot()));
  const model = src.vmModel(vm);
  const ep = VmEndpoint.restore(snap, f.clock);
  if (!ep.ok) throw ep.error;
  f.host('esx2').addMigratedVm(model, ep.value);
  src.forgetVm(vm);
  f.pump();
}

describe('EsxHost vMotion hand-over', () => {
  it('a stunned VM neither answers nor sends, keeps its ARP entries, and resumes in place without a power event', () => {
    const f = new MiniFabric(YAML);
    f.settleNotify();
    expect(ping(f, 'esx2', 'peer', '10.0.10.21'), 'reachable').to.be.a('number');
    const esx1 = f.host('esx1');
    const arpBefore = esx1.endpoint('app1').arpTable().length;
    expect(arpBefore, 'app1 learned peer').to.be.greaterThan(0);
    const powerEvents = f.ofType('power', 'esx1').length;
    const sent = f.sentCount('esx1.vmnic0');
    esx1.stunVm('app1');
    expect(esx1.isStunned('app1')).to.equal(true);
    expect(esx1.status().vms.find((v) => v.name === 'app1')).to.deep.include({ poweredOn: true, stunned: true });
    expect(ping(f, 'esx2', 'peer', '10.0.10.21'), 'no answer while stunned').to.equal(null);
    expect(f.sentCount('esx1.vmnic0') - sent, 'nothing left esx1 but what peer flooded back').to.be.at.most(0);
    expect(esx1.endpoint('app1').arpTable().length, 'state kept').to.equal(arpBefore);
    esx1.resumeVm('app1');
    expect(esx1.isStunned('app1')).to.equal(false);
    expect(ping(f, 'esx2', 'peer', '10.0.10.21'), 'answers again').to.be.a('number');
    expect(f.ofType('power', 'esx1').length, 'stun and resume are no power events').to.equal(powerEvents);
  });

  it('§7.15 step 4: the VM rebuilt on esx2 sends 5 RARPs (reason vmotion), sw1 moves its MAC, esx1 forgets it', () => {
    const f = new MiniFabric(YAML);
    f.settleNotify();
    expect(ping(f, 'esx2', 'peer', '10.0.10.21')).to.be.a('number');
    expect(f.sw('sw1').lookupMac(10, APP1)).to.equal('Gi1/0/1');
    const mark = f.sentCount('esx2.vmnic0');
    move(f, 'app1');
    f.settleNotify();
    expect(f.rarpsFrom('esx2.vmnic0', APP1, mark)).to.equal(5);
    expect(f.ofType('notify', 'esx2').filter((e) => e.port === 'app1.nic0').map((e) => e.reason)).to.deep.equal(['vmotion']);
    expect(f.sw('sw1').lookupMac(10, APP1), 'moved by the RARPs').to.equal('Gi1/0/2');
    expect(f.host('esx1').status().vms.map((v) => v.name)).to.deep.equal(['quiet1']);
    expect(f.host('esx2').status().vms.find((v) => v.name === 'app1')).to.deep.include({ poweredOn: true });
    expect(f.host('esx2').endpoint('app1').arpTable().map((e) => e.ip), 'ARP cache travelled').to.include('10.0.10.99');
    expect(ping(f, 'esx2', 'peer', '10.0.10.21'), 'answers on esx2').to.be.a('number');
    expect(() => f.host('esx2').addMigratedVm(f.host('esx2').vmModel('app1'), f.host('esx2').endpoint('app1'))).to.throw(VfabError, /already has a VM named app1/);
  });

  it('§3.10 with notify off on the port group: no RARP, the switch keeps the old port', () => {
    const f = new MiniFabric(YAML);
    f.settleNotify();
    ping(f, 'esx1', 'quiet1', '10.0.11.99'); // its ARP request teaches sw1 where quiet1 is
    expect(f.sw('sw1').lookupMac(11, QUIET1), 'learned from its ARP').to.equal('Gi1/0/1');
    const mark = f.sentCount('esx2.vmnic0');
    move(f, 'quiet1');
    f.settleNotify();
    expect(f.rarpsFrom('esx2.vmnic0', QUIET1, mark)).to.equal(0);
    expect(f.sw('sw1').lookupMac(11, QUIET1), 'still the old port').to.equal('Gi1/0/1');
  });
});
