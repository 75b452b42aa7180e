// End-to-end live reconfiguration of hosts with `vfab set` (docs/reconfigure.md) across real processes
// (2 hostd + 1 switchd, WebSocket links): a port group moved to another VLAN loses the old VLAN and
// reaches the new one across the fabric (spec §2.3); an explicit failover order change re-pins ports and
// sends RARPs on the new uplink (§3.10), seen in the host's events and by the physical switch; forged
// transmits accept -> reject drops a forged frame from then on (§4.4); invalid changes exit 2 and change
// nothing (running configuration text and status). Topology: topologies/e2e/reconfigure.yaml. Tests run
// in order on one fabric; each states what it starts from.

import { expect } from 'chai';
import { buildFrame } from '../../../lib/wire/ethernet.js';
import { parseMac } from '../../../lib/wire/mac.js';
import { readRunningConfig } from '../../../daemons/fabric/running-config.js';
import { runCli, waitFor, type TestFabric, useFabric } from '../helpers/fabric.js';

const ETHERTYPE_EXPERIMENTAL = 0x88b5;

describe('e2e fabric: vfab set on hosts (topologies/e2e/reconfigure.yaml)', function () {
  this.timeout(60_000);
  let fab: TestFabric;
  useFabric('topologies/e2e/reconfigure.yaml', (f) => (fab = f));

  const set = (...args: string[]) => runCli(['set', ...args], { stateDir: fab.stateDir });
  const events = async (host: string): Promise<any[]> => (await fab.call(host, 'GET', '/control/events?since=0')).events;

  it('invalid changes exit 2, name the problem, and change nothing (running configuration and status)', async () => {
    const text = readRunningConfig(fab.state);
    const status = JSON.stringify((await fab.status('esx1')).vswitches.map((v: any) => ({ ...v, counters: 0, uplinks: 0, ports: v.ports.map((p: any) => ({ ...p, counters: 0 })) })));
    const cases: Array<[string[], RegExp]> = [
      [['portgroup', 'esx1', 'VM-10', '--vlan', '5000'], /--vlan/],
      [['portgroup', 'esx1', 'VM-1O', '--vlan', '11'], /no port group VM-1O \(did you mean VM-10\?\)/],
      [['vswitch', 'esx1', 'vSwitch0', '--active', 'vmnic0,vmnic7'], /vmnic7/],
      [['vnic', 'web1', 'nic0', '--portgroup', 'VM-30'], /VM-30/],
      [['vswitch', 'esx1', 'vSwitch0', '--uplinks', 'vmnic0'], /--uplinks/],
      [['vnic', 'web1', 'nic0', '--mac', '01:00:5e:00:00:01'], /multicast \(group\) address; a NIC needs a unicast MAC/],
    ];
    for (const [args, why] of cases) {
      const r = await set(...args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).to.equal(2);
      expect(r.stderr, args.join(' ')).to.match(why);
    }
    expect(readRunningConfig(fab.state)).to.equal(text);
    const after = JSON.stringify((await fab.status('esx1')).vswitches.map((v: any) => ({ ...v, counters: 0, uplinks: 0, ports: v.ports.map((p: any) => ({ ...p, counters: 0 })) })));
    expect(after).to.equal(status);
    expect((await events('esx1')).filter((e) => e.type === 'config-changed')).to.have.length(0);
  });

  it('§4.4 forged transmits accept -> reject: a forged frame is delivered before and dropped from then on', async () => {
    const forged = buildFrame({ dst: parseMac('00:50:56:00:10:02'), src: parseMac('00:50:56:3f:ee:01'), etherType: ETHERTYPE_EXPERIMENTAL }, Buffer.alloc(46, 7)).toString('hex');
    const web2Drops = async (): Promise<number> => (await fab.vm('web2')).counters.drops.unsupportedEtherType;
    const port = async (): Promise<number> => (await fab.vmPort('web1')).counters.drops.forged_transmit;
    const before = await web2Drops();
    await fab.call('esx1', 'POST', '/control/vms/web1/raw', { frameHex: forged });
    await waitFor(async () => (await web2Drops()) === before + 1, 'the forged frame to reach web2 while forged transmits is accept');
    const r = await set('portgroup', 'esx1', 'VM-10', '--forged-transmits', 'reject');
    expect(r.code, r.stderr).to.equal(0);
    const dropped = await port();
    await fab.call('esx1', 'POST', '/control/vms/web1/raw', { frameHex: forged });
    await waitFor(async () => (await port()) === dropped + 1, 'the forged frame dropped as forged_transmit');
    expect(await web2Drops()).to.equal(before + 1);
    expect((await fab.vmPort('web1')).security.allowForgedTransmits).to.equal(false);
    expect(readRunningConfig(fab.state)).to.match(/forgedTransmits: reject/);
    const ev = (await events('esx1')).filter((e) => e.type === 'config-changed');
    expect(ev.map((e) => e.what)).to.deep.equal(['esx1 VM-10 (port group) --forged-transmits reject']);
  });

  it('§3.10 an explicit failover order change re-pins the ports and sends RARPs on the new uplink', async () => {
    const before = (await fab.vmPort('web1')).uplink;
    const other = before === 'vmnic0' ? 'vmnic1' : 'vmnic0';
    const r = await set('vswitch', 'esx1', 'vSwitch0', '--load-balancing', 'explicit', '--active', other, '--standby', before, '--json');
    expect(r.code, r.stderr).to.equal(0);
    expect(JSON.parse(r.out).changes.join(' ')).to.include(`explicit, active ${other}, standby ${before}`);
    expect((await fab.vmPort('web1')).uplink).to.equal(other);
    const ev = await events('esx1');
    const notify = ev.filter((e) => e.type === 'notify' && e.reason === 'policy-change' && e.port === 'web1.nic0');
    expect(notify.map((e) => e.uplink)).to.deep.equal([other]);
    const changed = ev.findIndex((e) => e.type === 'config-changed' && /--active/.test(e.what));
    expect(changed, 'config-changed logged before the RARPs it caused').to.be.within(0, ev.indexOf(notify[0]));
    const swPort = other === 'vmnic0' ? 'Gi1/0/1' : 'Gi1/0/2';
    await waitFor(async () => (await fab.call('sw1', 'GET', '/control/mac-table')).entries.some((e: any) => e.mac === '00:50:56:00:10:01' && e.port === swPort), `sw1 to learn web1 behind ${swPort} from the RARPs`);
    expect((await fab.ping('web2', '192.0.2.11', { count: 2 })).received).to.equal(2);
    const status = await runCli(['status'], { stateDir: fab.stateDir });
    expect(status.out).to.include(`teaming: explicit, active ${other}, standby ${before}`);
  });

  it('§2.3 a port group moved to VLAN 20 loses web2 (VLAN 10) and reaches db1 (VLAN 20) across the fabric', async () => {
    expect((await fab.ping('web1', '192.0.2.12', { count: 1 })).received).to.equal(1);
    const r = await set('portgroup', 'esx1', 'VM-10', '--vlan', '20');
    expect(r.code, r.stderr).to.equal(0);
    expect((await fab.ping('web1', '192.0.2.21', { count: 2 })).received, 'web1 -> db1').to.equal(2);
    expect((await fab.ping('web1', '192.0.2.12', { count: 1, timeoutMs: 500 })).received, 'web1 -> web2').to.equal(0);
    expect((await fab.vmPort('web1')).vlanId).to.equal(20);
    const status = await runCli(['status'], { stateDir: fab.stateDir });
    expect(status.out).to.match(/port group VM-10: VLAN 20/);
    const exported = await runCli(['export'], { stateDir: fab.stateDir });
    expect(exported.out).to.match(/name: VM-10, vlan: 20/);
  });

  it('a vNIC reconnected to another port group (on esx2, found from the VM) gets a new port and that port group\'s VLAN', async () => {
    const before = (await fab.vmPort('db1')).portId;
    expect((await fab.ping('db1', '192.0.2.12', { count: 1, timeoutMs: 500 })).received, 'db1 (VLAN 20) -> web2 (VLAN 10) before').to.equal(0);
    const r = await set('vnic', 'db1', 'nic0', '--portgroup', 'VM-10');
    expect(r.code, r.stderr).to.equal(0);
    const port = await fab.vmPort('db1');
    expect([port.portGroup, port.vlanId]).to.deep.equal(['VM-10', 10]);
    expect(port.portId).to.not.equal(before);
    expect((await fab.ping('db1', '192.0.2.12', { count: 2 })).received, 'db1 -> web2 after').to.equal(2);
    expect((await events('esx2')).filter((e) => e.type === 'notify' && e.reason === 'reconnect').map((e) => e.port)).to.deep.equal(['db1.nic0']);
  });
});
