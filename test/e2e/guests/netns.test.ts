// Network namespaces as guests (topology `kind: netns`, docs/guests.md), end to end: `vfab up
// topologies/netns-lab.yaml` creates a namespace per netns VM whose eth0 is a port of its host's vSwitch;
// the tests ping across hosts and to a builtin VM from inside (`vfab exec`), run iperf3 between the two
// namespaces, fail the sending host's active uplink over under iperf3 (the TCP connection carries on over
// the standby), check that carrier, impairments, flaps and captures reach the guest's port, that status
// shows the namespace, that `vfab exec` keeps the CLI contract, and that `vfab down` removes every
// namespace and device, also after its host was killed with SIGKILL. A user without root gets exit 2
// naming the VMs (faked with VFAB_ASSUME_NOT_ROOT: the tests run as root). Needs root, iproute2, python3,
// iperf3 and ping: skips with the reason elsewhere, fails in CI. Namespaces are named vfabt-nn<pid>-...
// (VFAB_NETNS_PREFIX), so nothing of another run or fabric is touched. Daemons run from dist/.

import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startFabric, runCli, trackPids, makeTempDir, waitFor, repoPath, FABRIC_UP_TIMEOUT_MS, FABRIC_DOWN_TIMEOUT_MS, type TestFabric, type CliResult } from '../helpers/fabric.js';
import { canManageNetworks, run } from '../../../daemons/guests/vxlan-device.js';
import { removeNamespace } from '../../../daemons/guests/netns.js';

const PREFIX = `vfabt-nn${process.pid % 100000}-`;
const NS_WEB1 = `${PREFIX}netns-lab-web1`;
const NS_WEB2 = `${PREFIX}netns-lab-web2`;
const TOPOLOGY = 'topologies/netns-lab.yaml';

function toolsMissing(): string | undefined {
  for (const tool of ['ip', 'python3', 'iperf3', 'ping', 'bridge']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return tool;
    }
  }
  return undefined;
}

/** Our namespaces that exist now. */
function ourNamespaces(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(PREFIX));
}

/** Root-namespace devices a host daemon with PID `pid` names while it sets a vNIC up ("vfabt-<pid36>x<n>"). */
function ourTempDevices(pids: number[]): string[] {
  const names = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).split('\n').map((l) => l.split(':')[1]?.trim().split('@')[0] ?? '');
  return names.filter((n) => pids.some((p) => n.startsWith(`vfabt-${p.toString(36)}x`)));
}

/** Removes whatever this file's fabrics left (also when a test failed half-way). */
async function sweep(hostPids: number[]): Promise<void> {
  for (const ns of ourNamespaces()) await removeNamespace(ns).catch(() => undefined);
  for (const dev of ourTempDevices(hostPids)) await run('ip', ['link', 'del', dev]).catch(() => undefined);
}

/** True while `pid` runs (a zombie waiting for its reaper has ended). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function withEnv<T>(env: Record<string, string>, f: () => T): T {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    return f();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

describe('e2e: netns guests (kind: netns)', function () {
  this.timeout(60_000);

  describe('without root', () => {
    it('vfab up of a topology with netns VMs exits 2 naming the VMs and what is needed, and starts nothing', async () => {
      const dir = makeTempDir('vfab-e2e-netns-');
      try {
        const r = await withEnv({ VFAB_ASSUME_NOT_ROOT: '1' }, () => runCli(['up', repoPath(TOPOLOGY), '--detach'], { stateDir: dir }));
        expect(r.code, r.stderr).to.equal(2);
        expect(r.stderr).to.match(/VMs web1, web2 are kind: netns/).and.match(/root/).and.match(/CAP_NET_ADMIN/);
        expect(fs.existsSync(path.join(dir, 'state.json')), 'no state: nothing started').to.equal(false);
        expect(fs.existsSync(path.join(dir, 'logs')), 'no daemon logs: nothing started').to.equal(false);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('vfab exec with no fabric running exits 3', async () => {
      const dir = makeTempDir('vfab-e2e-netns-');
      try {
        const r = await runCli(['exec', 'web1', '--', 'true'], { stateDir: dir });
        expect(r.code, r.stderr).to.equal(3);
        expect(r.stderr).to.match(/no fabric is running/);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  // both ways of attaching a vNIC (daemons/guests/netns.ts, $VFAB_GUEST_ATTACH): the same behaviour
  for (const mode of ['tap', 'vxlan'] as const)
  describe(`as root, attached by ${mode}`, () => {
    let fab: TestFabric | undefined;
    let hostPids: number[] = [];
    let stateDir: string | undefined;
    const cli = (args: string[], timeoutMs?: number): Promise<CliResult> => runCli(args, { stateDir: fab!.stateDir, timeoutMs });
    const exec = (vm: string, cmd: string[], timeoutMs?: number) => cli(['exec', vm, '--', ...cmd], timeoutMs);
    const linkShow = async (ns: string) => run('ip', ['-n', ns, 'link', 'show', 'eth0']);

    before(async function () {
      this.timeout(FABRIC_UP_TIMEOUT_MS);
      const missing = toolsMissing();
      if (!canManageNetworks() || missing !== undefined) {
        if (process.env.CI === 'true') throw new Error(`CI runs as root with the guest tools: netns tests cannot skip (${missing ?? 'not root'})`);
        this.skip(); // needs root (namespaces, links) and ip, bridge, python3, iperf3, ping
      }
      process.env.VFAB_NETNS_PREFIX = PREFIX; // hostd inherits it: our namespaces are vfabt-nn<pid>-...
      process.env.VFAB_GUEST_ATTACH = mode;
      fab = await startFabric(TOPOLOGY, { keepStateDir: true });
      stateDir = fab.stateDir;
      hostPids = fab.state.daemons.filter((d) => d.kind === 'host').map((d) => d.pid);
    });

    after(async function () {
      this.timeout(FABRIC_DOWN_TIMEOUT_MS + 10_000);
      try {
        // the fabric the last test brought up again (if it failed before its own vfab down)
        if (stateDir !== undefined && fs.existsSync(path.join(stateDir, 'state.json'))) await runCli(['down'], { stateDir });
        await fab?.down();
      } finally {
        if (stateDir !== undefined) fs.rmSync(stateDir, { recursive: true, force: true });
        await sweep(hostPids);
        delete process.env.VFAB_NETNS_PREFIX;
        delete process.env.VFAB_GUEST_ATTACH;
      }
    });

    it('creates one namespace per netns VM with eth0 = the vNIC (MAC, address, MTU, default route)', async () => {
      expect(ourNamespaces().sort()).to.deep.equal([NS_WEB1, NS_WEB2]);
      const link = await linkShow(NS_WEB1);
      expect(link).to.match(/link\/ether 00:50:56:00:20:11/).and.match(/mtu 1500/).and.match(/LOWER_UP/);
      expect(await linkShow(NS_WEB2), 'nics[].mtu').to.match(/link\/ether 00:50:56:00:20:12/).and.match(/mtu 1400/);
      expect(await run('ip', ['-n', NS_WEB1, '-4', 'addr', 'show', 'eth0'])).to.match(/inet 192\.0\.2\.11\/24/);
      expect(await run('ip', ['-n', NS_WEB1, 'route', 'show', 'default'])).to.match(/default via 192\.0\.2\.1 dev eth0/);
      expect(ourTempDevices(hostPids), 'temporary devices were moved into the namespaces').to.deep.equal([]);
    });

    it('a netns guest pings the other netns guest across hosts and a builtin VM, from inside (vfab exec)', async () => {
      const across = await exec('web1', ['ping', '-c', '3', '-W', '2', '192.0.2.12']);
      expect(across.code, across.stderr + across.out).to.equal(0);
      expect(across.out).to.match(/3 packets transmitted, 3 received/);
      const builtin = await exec('web2', ['ping', '-c', '2', '-W', '2', '192.0.2.13']);
      expect(builtin.code, builtin.stderr + builtin.out).to.equal(0);
      expect(builtin.out).to.match(/2 received/);
      // and the builtin VM reaches the namespace through vfab's own stack
      const back = await fab!.ping('app1', '192.0.2.11', { count: 2 });
      expect(back.received).to.equal(2);
    });

    it('vfab status shows the namespace and its interfaces (human and --json)', async () => {
      const json = await cli(['status', 'esx1', '--json']);
      expect(json.code, json.stderr).to.equal(0);
      const esx1 = JSON.parse(json.out).daemons[0];
      expect(esx1.guests.web1.netns).to.equal(NS_WEB1);
      expect(esx1.guests.web1.interfaces[0]).to.include({ nic: 'nic0', name: 'eth0', mac: '00:50:56:00:20:11', ip: '192.0.2.11/24', mtu: 1500, carrier: true });
      expect(esx1.guests.web1.attach).to.equal(mode);
      if (mode === 'tap') {
        // the helper runs inside the namespace and moves several frames per read (the pings above)
        const tap = esx1.guests.web1.interfaces[0];
        expect(running(tap.helperPid), 'helperPid runs').to.equal(true);
        expect((await run('ip', ['netns', 'pids', NS_WEB1])).split(/\s+/)).to.include(String(tap.helperPid));
        expect(tap.helper.rxFrames).to.be.above(0);
        expect(tap.helper.txFrames).to.be.above(0);
      }
      expect(esx1.vms.find((v: any) => v.name === 'web1').kind).to.equal('netns');
      const human = await cli(['status', 'esx1']);
      expect(human.out).to.match(new RegExp(`guest web1: netns ${NS_WEB1}`)).and.match(/eth0\s+nic0\s+00:50:56:00:20:11\s+192\.0\.2\.11\/24\s+1500\s+up/);
    });

    it('vfab exec passes the exit code through, and refuses unknown and non-netns VMs with exit 2', async () => {
      expect((await exec('web1', ['sh', '-c', 'exit 7'])).code).to.equal(7);
      const builtin = await exec('app1', ['true']);
      expect(builtin.code).to.equal(2);
      expect(builtin.stderr).to.match(/VM app1 is a builtin VM/).and.match(/not kind: netns/);
      const unknown = await exec('web9', ['true']);
      expect(unknown.code).to.equal(2);
      expect(unknown.stderr).to.match(/no VM named "web9"/);
      const noCommand = await cli(['exec', 'web1']);
      expect(noCommand.code).to.equal(2);
      const notRoot = await withEnv({ VFAB_ASSUME_NOT_ROOT: '1' }, () => exec('web1', ['true']));
      expect(notRoot.code).to.equal(2);
      expect(notRoot.stderr).to.match(new RegExp(`VM web1's network namespace ${NS_WEB1} needs root`));
      // vfab ping on a netns VM points to vfab exec
      const ping = await cli(['ping', 'web1', '192.0.2.12']);
      expect(ping.code).to.equal(2);
      expect(ping.stderr).to.match(/netns guest/).and.match(/vfab exec web1 -- ping/);
    });

    it('vfab link down on the vNIC shows NO-CARRIER inside the namespace (protodown / tap carrier off); link up restores it', async () => {
      expect((await cli(['link', 'down', 'web1.nic0'])).code).to.equal(0);
      try {
        await waitFor(async () => /NO-CARRIER/.test(await linkShow(NS_WEB1)), 'NO-CARRIER in web1', 5000);
        if (mode === 'vxlan') expect(await linkShow(NS_WEB1)).to.match(/protodown on/);
        const cut = await exec('web1', ['ping', '-c', '1', '-W', '1', '192.0.2.12']);
        expect(cut.code, 'no ping with the link down').to.not.equal(0);
      } finally {
        expect((await cli(['link', 'up', 'web1.nic0'])).code).to.equal(0);
      }
      await waitFor(async () => /LOWER_UP/.test(await linkShow(NS_WEB1)), 'carrier back in web1', 5000);
      const ok = await exec('web1', ['ping', '-c', '2', '-W', '2', '192.0.2.12']);
      expect(ok.code, ok.out).to.equal(0);
    });

    it('an impairment on the vNIC applies to the guest (100% loss, then cleared)', async () => {
      const set = await cli(['fault', 'impair', 'web2.nic0', '--loss', '100']);
      expect(set.code, set.stderr).to.equal(0);
      try {
        const lost = await exec('web1', ['ping', '-c', '2', '-W', '1', '192.0.2.12']);
        expect(lost.out).to.match(/2 packets transmitted, 0 received/);
      } finally {
        expect((await cli(['fault', 'clear', 'web2.nic0'])).code).to.equal(0);
      }
      const ok = await exec('web1', ['ping', '-c', '2', '-W', '2', '192.0.2.12']);
      expect(ok.code, ok.out).to.equal(0);
    });

    it('a flap of the vNIC reaches the guest: carrier goes down and comes back inside the namespace', async () => {
      const r = await cli(['fault', 'flap', 'web2.nic0', '--period-ms', '3000', '--down-ms', '1500', '--count', '1']);
      expect(r.code, r.stderr).to.equal(0);
      await waitFor(async () => /NO-CARRIER/.test(await linkShow(NS_WEB2)), 'NO-CARRIER in web2 during the flap', 5000);
      await waitFor(async () => /LOWER_UP/.test(await linkShow(NS_WEB2)), 'carrier back in web2 after the flap', 8000);
    });

    it('a capture at the vNIC sees the guest kernel\'s ICMP', async () => {
      const file = path.join(fab!.stateDir, 'web1.pcap');
      const capture = cli(['capture', 'web1.nic0', '-w', file, '--seconds', '4'], 15_000);
      await new Promise((r) => setTimeout(r, 1000));
      await exec('web1', ['ping', '-c', '2', '-W', '1', '192.0.2.12']);
      const c = await capture;
      expect(c.code, c.stderr).to.equal(0);
      const pcap = fs.readFileSync(file);
      // ICMP echo request from 192.0.2.11 to 192.0.2.12: IPv4 proto 1, then the two addresses
      expect(pcap.includes(Buffer.from([0x01]))).to.equal(true);
      expect(pcap.includes(Buffer.from([192, 0, 2, 11, 192, 0, 2, 12, 8, 0])), 'an echo request web1 -> web2 in the capture').to.equal(true);
    });

    it('iperf3 runs between the two netns guests, and a failover of the sender\'s active uplink keeps the TCP connection', async function () {
      this.timeout(40_000);
      const server = await exec('web2', ['iperf3', '-s', '-1', '-D']);
      expect(server.code, server.stderr).to.equal(0);
      await waitFor(async () => /:5201/.test(await run('ip', ['netns', 'exec', NS_WEB2, 'ss', '-ltn']).catch(() => '')), 'iperf3 server listening in web2', 5000);
      const client = exec('web1', ['iperf3', '-c', '192.0.2.12', '-t', '6', '-J', '--connect-timeout', '3000', '--snd-timeout', '4000'], 30_000);
      const started = Date.now();
      await new Promise((r) => setTimeout(r, 2500));
      const down = await cli(['link', 'down', 'esx1.vmnic0']);
      expect(down.code, down.stderr).to.equal(0);
      const failoverS = (Date.now() - started) / 1000;
      try {
        const r = await client;
        expect(r.code, r.stderr + r.out.slice(0, 500)).to.equal(0);
        const j = JSON.parse(r.out);
        expect(j.error, 'iperf3 error').to.equal(undefined);
        expect(j.end.sum_received.bytes).to.be.above(1_000_000);
        // the port now uses the standby uplink
        expect((await fab!.vmPort('web1')).uplink).to.equal('vmnic1');
        // bytes flowed after the failover (intervals that start a second after it)
        const after = j.intervals.filter((i: any) => i.sum.start >= failoverS + 1);
        expect(after.length, 'intervals after the failover').to.be.above(0);
        expect(after.reduce((s: number, i: any) => s + i.sum.bytes, 0), 'bytes after the failover').to.be.above(100_000);
      } finally {
        await cli(['link', 'up', 'esx1.vmnic0']);
      }
    });

    it('a host killed with SIGKILL and restarted (vfab fault restart) removes what it left and attaches its guest again', async function () {
      this.timeout(30_000);
      const status = JSON.parse((await cli(['status', 'esx1', '--json'])).out).daemons[0];
      const helperPid = status.guests.web1.interfaces[0].helperPid as number | undefined;
      const kill = await cli(['fault', 'kill', 'esx1']);
      expect(kill.code, kill.stderr).to.equal(0);
      expect(ourNamespaces(), 'the killed host could not remove its namespace').to.include(NS_WEB1);
      if (mode === 'tap') {
        // the helper sees its stdin close and ends; the kernel removes the tap with it
        await waitFor(() => !running(helperPid!), 'the TAP helper ends with its host', 5000);
        await waitFor(async () => !/eth0/.test(await run('ip', ['-n', NS_WEB1, 'link', 'show'])), 'the tap gone with its helper', 5000);
      }
      const restart = await cli(['fault', 'restart', 'esx1'], 25_000);
      expect(restart.code, restart.stderr).to.equal(0);
      const state = JSON.parse(fs.readFileSync(path.join(fab!.stateDir, 'state.json'), 'utf8'));
      const pid = state.daemons.find((d: any) => d.name === 'esx1').pid as number;
      trackPids([pid]);
      hostPids.push(pid);
      expect(ourNamespaces().sort()).to.deep.equal([NS_WEB1, NS_WEB2]);
      const ping = await exec('web1', ['ping', '-c', '2', '-W', '2', '192.0.2.12']);
      expect(ping.code, ping.out).to.equal(0);
    });

    it('a fresh vfab up clears what killed daemons left; vfab down removes a killed host\'s namespace and every process in them', async function () {
      this.timeout(FABRIC_UP_TIMEOUT_MS + FABRIC_DOWN_TIMEOUT_MS);
      // a long-running process in a namespace: it must not outlive the namespace
      const sleeper = await exec('web2', ['sh', '-c', 'sleep 300 >/dev/null 2>&1 & echo $!']);
      const sleeperPid = Number(sleeper.out.trim());
      expect(sleeperPid).to.be.above(0);
      // every daemon killed (the state file stays): the namespaces stay behind
      const before = JSON.parse(fs.readFileSync(path.join(fab!.stateDir, 'state.json'), 'utf8'));
      for (const d of before.daemons) process.kill(d.pid, 'SIGKILL');
      await waitFor(() => before.daemons.every((d: any) => !running(d.pid)), 'every daemon gone', 5000);
      expect(ourNamespaces().sort()).to.deep.equal([NS_WEB1, NS_WEB2]);
      const up = await cli(['up', repoPath(TOPOLOGY), '--detach'], FABRIC_UP_TIMEOUT_MS);
      const state = JSON.parse(fs.readFileSync(path.join(fab!.stateDir, 'state.json'), 'utf8'));
      trackPids(state.daemons.map((d: any) => d.pid));
      hostPids.push(...state.daemons.filter((d: any) => d.kind === 'host').map((d: any) => d.pid));
      expect(up.code, up.stderr).to.equal(0);
      expect(running(sleeperPid), 'the process started in web2 was ended with its namespace').to.equal(false);
      expect(ourNamespaces().sort()).to.deep.equal([NS_WEB1, NS_WEB2]);
      // the new fabric's esx1 killed: vfab down removes its namespace
      process.kill(state.daemons.find((d: any) => d.name === 'esx1').pid, 'SIGKILL');
      const down = await cli(['down']);
      expect(down.code, down.stderr).to.equal(0);
      expect(down.out).to.match(new RegExp(`removed what killed hosts left: netns ${NS_WEB1}`));
      expect(ourNamespaces()).to.deep.equal([]);
      expect(ourTempDevices(hostPids)).to.deep.equal([]);
      fab = undefined; // stopped above; after() only sweeps and removes the state dir
    });
  });
});
