// End-to-end: the Kubernetes gateway (daemons/k8s/gateway.ts) on loopback, as a cluster would run it.
// The quickstart's daemons start with TLS, each on its own 127.0.0.x address, and nobody wires them;
// the gateway reads their configs from a folder (the ConfigMap's layout), tells every dialling link end
// and every host's arrays where to connect (wss://, token), and serves the control API pass-through, the
// daemons' clock offsets and their events on its own clock. Checks: every link and array comes up from
// the gateway alone; a ping through the pass-through crosses hosts and switches; a cable pulled through
// the gateway is logged by both its ends at gateway times inside the window of the request (so the
// offsets put each daemon's clock on the gateway's); a wrong token is refused at the gateway. Then the
// ordinary CLI against the gateway (vfab k8s connect, the real binary in a child process): status lists
// every daemon, ping, link down, fault impair, a capture streamed through the gateway's WebSocket
// pass-through (a pcapng tshark reads), no token refused at the pass-through, fault kill refused
// (exit 2), and vfab down forgets the connection while every daemon keeps running.

import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { loadTopologyFile } from '../../../lib/topology/load.js';
import { planFabric } from '../../../daemons/fabric/plan.js';
import { daemonArgs, listenSettings, spreadAddress, linkCensus } from '../../../daemons/fabric/lifecycle.js';
import { spawnDaemon, stopDaemons } from '../../../daemons/fabric/process.js';
import { newToken } from '../../../daemons/common/server.js';
import { control, type DaemonAddress } from '../../../daemons/common/control-client.js';
import { distScript } from '../../../daemons/common/paths.js';
import { daemonNodeArgs } from '../../../daemons/common/node-args.js';
import type { DaemonRecord, FabricState } from '../../../daemons/fabric/state.js';
import { FABRIC_UP_TIMEOUT_MS, makeTempDir, repoPath, waitFor } from '../helpers/fabric.js';
import { haveOpenssl, makeTlsDir } from '../../helpers/tls-certs.js';
import { cliInProcess } from '../helpers/cli-in-process.js';
import { exitCodeFor } from '../../../daemons/cli.js';
import { WebSocket } from '../../../daemons/common/ws.js';
import { isAlive } from '../../../daemons/fabric/pid-identity.js';
import { runCli } from '../helpers/fabric.js';
import { requirePeerTool, runTshark, TSHARK_INSTALL_HINT } from '../../helpers/peer-tools.js';

describe('e2e: the Kubernetes gateway wires a TLS fabric on loopback and serves the CLI', function () {
  this.timeout(FABRIC_UP_TIMEOUT_MS);
  const dir = makeTempDir('vfab-e2e-gateway-');
  const tlsDir = path.join(dir, 'tls');
  const configDir = path.join(dir, 'config');
  const token = newToken();
  const daemons: DaemonRecord[] = [];
  let gateway: ChildProcess | undefined;
  let gw: DaemonAddress;
  const call = <T = any>(method: 'GET' | 'POST', p: string, body?: unknown) => control<T>(gw, token, method, p, body);

  before(async function () {
    if (!haveOpenssl()) {
      if (process.env.CI === 'true') throw new Error('CI installs openssl (.ci/run): this test cannot skip there');
      this.skip(); // needs the openssl CLI for the throwaway CA: apt-get install -y openssl
    }
    makeTlsDir(tlsDir, { ips: Array.from({ length: 10 }, (_, i) => `127.0.0.${i + 1}`) });
    fs.mkdirSync(configDir);
    const topology = await loadTopologyFile(repoPath('topologies/quickstart.yaml'));
    const plan = planFabric(topology); // no shared clock anchor: each daemon starts its own clock, as on many machines
    const addresses: string[] = [];
    for (const [i, d] of plan.entries()) {
      if (d.config.kind === 'array') d.config.dataDir = path.join(dir, 'store');
      const file = path.join(configDir, `${d.name}.json`);
      fs.writeFileSync(file, JSON.stringify(d.config));
      const listen = listenSettings(spreadAddress(i), tlsDir);
      const rec = await spawnDaemon({ name: d.name, kind: d.kind, args: [...daemonArgs(d.name, d.config, file), ...listen.args], token, logFile: path.join(dir, 'logs', `${d.name}.log`), detached: false, env: listen.env });
      daemons.push({ ...rec, host: spreadAddress(i), tls: true, caFile: path.join(tlsDir, 'ca.crt') });
      addresses.push('--address', `${d.name}=${spreadAddress(i)}:${rec.port}`);
    }
    const listen = listenSettings('127.0.0.9', tlsDir);
    gateway = spawn(process.execPath, daemonNodeArgs(distScript('daemons/k8s/gateway.ts'), ['--config-dir', configDir, ...listen.args, ...addresses]), {
      stdio: ['ignore', 'pipe', fs.openSync(path.join(dir, 'logs', 'gateway.log'), 'a')],
      env: { ...process.env, ...listen.env, VFAB_TOKEN: token },
    });
    const port = await new Promise<number>((resolve, reject) => {
      const lines = readline.createInterface({ input: gateway!.stdout! });
      lines.on('line', (l) => {
        const m = JSON.parse(l);
        if (m.event === 'ready') resolve(m.port);
      });
      gateway!.once('exit', (code) => reject(new Error(`gateway exited ${code}: ${fs.readFileSync(path.join(dir, 'logs', 'gateway.log'), 'utf8')}`)));
    });
    gw = { host: '127.0.0.9', port, tls: true, caFile: path.join(tlsDir, 'ca.crt'), name: 'gateway', kind: 'gateway' };
  });

  after(async function () {
    if (gateway?.pid !== undefined && gateway.exitCode === null) gateway.kill('SIGTERM');
    await stopDaemons(daemons);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('wires every link and array from the configs alone', async () => {
    const fabric = await waitFor(async () => {
      const f = await call('GET', '/fabric');
      return f.daemons.every((d: any) => d.wired) ? f : undefined;
    }, 'every daemon wired by the gateway', 20_000, 200);
    expect(fabric.daemons.map((d: any) => d.name).sort()).to.deep.equal(['array1', 'esx1', 'esx2', 'sw1', 'sw2']);
    const state = { token, daemons, runDir: configDir } as unknown as FabricState;
    await waitFor(async () => {
      const c = await linkCensus(state);
      return c.up === c.total ? c : undefined;
    }, 'every link up', 20_000, 100);
    for (const h of ['esx1', 'esx2']) expect(JSON.stringify(await call('GET', `/daemons/${h}/control/storage`)), h).to.match(/"state":"attached"/);
  });

  it('passes control calls through: a ping across hosts and switches', async () => {
    const r = await call('POST', '/daemons/esx1/control/vms/web1/ping', { target: '192.0.2.12', count: 3, intervalMs: 50, timeoutMs: 1000, sizeBytes: 56 });
    expect(r.received, JSON.stringify(r)).to.equal(3);
    const isolated = await call('POST', '/daemons/esx1/control/vms/web1/ping', { target: '198.51.100.11', count: 2, intervalMs: 50, timeoutMs: 500, sizeBytes: 56 });
    expect(isolated.received).to.equal(0);
  });

  it("puts both ends' events of a pulled cable on the gateway clock, inside the request's window", async () => {
    const before = (await call('GET', '/fabric')).clockMs;
    await call('POST', '/daemons/esx1/control/links/vmnic1', { up: false });
    const after = (await call('GET', '/fabric')).clockMs;
    const fabric = await call('GET', '/fabric');
    const esx1 = fabric.daemons.find((d: any) => d.name === 'esx1');
    // the daemons started before the gateway, on their own clocks: the offsets are real, not zero
    expect(esx1.clockOffsetMs).to.be.above(0);
    const events = await waitFor(async () => {
      const r = await call('GET', '/events');
      const down = r.events.filter((e: any) => e.type === 'carrier' && e.up === false && e.daemonTimeMs !== undefined && e.timeMs >= before - 50);
      return down.length > 0 ? r.events : undefined;
    }, 'carrier-down events', 5_000, 100);
    const down = events.filter((e: any) => e.type === 'carrier' && e.up === false && e.timeMs >= before - 50);
    expect(down.map((e: any) => e.source)).to.include('esx1');
    const slack = Math.max(...fabric.daemons.filter((d: any) => d.clockRttMs !== undefined).map((d: any) => d.clockRttMs)) / 2 + 1;
    for (const e of down) {
      expect(e.timeMs, JSON.stringify(e)).to.be.within(before - slack, after + slack);
      expect(Math.abs(e.daemonTimeMs - e.timeMs), 'stamped on its own clock, moved onto the gateway clock').to.be.above(slack);
    }
    const times = events.map((e: any) => e.timeMs);
    expect(times).to.deep.equal([...times].sort((a, b) => a - b));
    await call('POST', '/daemons/esx1/control/links/vmnic1', { up: true });
  });

  it('vfab k8s status / call / events work through the gateway (token from VFAB_TOKEN, --ca)', async () => {
    const saved = process.env.VFAB_TOKEN;
    process.env.VFAB_TOKEN = token;
    const at = ['--gateway', `https://${gw.host}:${gw.port}`, '--ca', gw.caFile!];
    try {
      const st = await cliInProcess('k8s', ['status', ...at, '--json']);
      expect(st.code, st.text).to.equal(0);
      expect(st.json.ok).to.equal(true);
      expect(st.json.daemons.filter((d: any) => d.clockOffsetMs !== undefined).map((d: any) => d.name).sort()).to.deep.equal(['esx1', 'esx2', 'sw1', 'sw2']);
      const ping = await cliInProcess('k8s', ['call', 'esx2', 'POST', '/control/vms/web2/ping', JSON.stringify({ target: '192.0.2.11', count: 2 }), ...at]);
      expect(ping.code, ping.text).to.equal(0);
      expect(JSON.parse(ping.text).received).to.equal(2);
      const ev = await cliInProcess('k8s', ['events', ...at]);
      expect(ev.code).to.equal(0);
      expect(ev.text).to.match(/ms  .*carrier/);
      // no CA: the gateway's certificate is not trusted (exit 3, the gateway named)
      const untrusted = await cliInProcess('k8s', ['status', '--gateway', `https://${gw.host}:${gw.port}`]);
      expect(exitCodeFor(untrusted.error)).to.equal(3);
      expect(untrusted.error.message).to.match(/vfab-gateway/);
    } finally {
      if (saved === undefined) delete process.env.VFAB_TOKEN;
      else process.env.VFAB_TOKEN = saved;
    }
  });

  it('refuses a wrong token and names an unknown daemon', async () => {
    let err: any;
    try {
      await control(gw, 'wrong', 'GET', '/fabric');
    } catch (e) {
      err = e;
    }
    expect(err?.code).to.equal('VFAB_AUTH');
    err = undefined;
    try {
      await call('GET', '/daemons/esx9/control/status');
    } catch (e) {
      err = e;
    }
    expect(err?.code).to.equal('VFAB_GATEWAY_NOT_FOUND');
    expect(err?.message).to.match(/no daemon esx9/);
  });

  describe('the ordinary CLI through the gateway (vfab k8s connect)', () => {
    const stateDir = path.join(dir, 'cli-state');
    const tokenFile = path.join(dir, 'token');
    const cli = (args: string[], timeoutMs?: number) => runCli(args, { stateDir, ...(timeoutMs ? { timeoutMs } : {}) });

    it('connect records every daemon behind the gateway; status --json lists them all', async () => {
      fs.writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
      const r = await cli(['k8s', 'connect', `https://${gw.host}:${gw.port}`, '--ca', gw.caFile!, '--token-file', tokenFile, '--json']);
      expect(r.code, r.stderr).to.equal(0);
      expect(JSON.parse(r.out).daemons.sort()).to.deep.equal(['array1', 'esx1', 'esx2', 'sw1', 'sw2']);
      const st = await cli(['status', '--json']);
      expect(st.code, st.stderr).to.equal(0);
      const reports = JSON.parse(st.out).daemons;
      expect(reports.map((d: any) => d.name).sort()).to.deep.equal(['array1', 'esx1', 'esx2', 'sw1', 'sw2']);
      for (const d of reports) expect(d.running && d.error === undefined, JSON.stringify(d).slice(0, 300)).to.equal(true);
      expect(reports.find((d: any) => d.name === 'esx1').vms.map((v: any) => v.name)).to.include('web1');
    });

    it('ping, link down and fault impair take effect through the gateway', async () => {
      const ping = await cli(['ping', 'web1', '192.0.2.12', '--count', '2']);
      expect(ping.code, ping.out + ping.stderr).to.equal(0);
      const down = await cli(['link', 'down', 'esx1.vmnic0']);
      expect(down.code, down.stderr).to.equal(0);
      const links = await call('GET', '/daemons/esx1/control/status');
      expect(links.links.find((l: any) => l.local === 'vmnic0').adminUp).to.equal(false);
      expect((await cli(['link', 'up', 'esx1.vmnic0'])).code).to.equal(0);
      expect((await call('GET', '/daemons/esx1/control/status')).links.find((l: any) => l.local === 'vmnic0').adminUp).to.not.equal(false);
      const impair = await cli(['fault', 'impair', 'esx1.vmnic1', '--loss', '100', '--direction', 'tx']);
      expect(impair.code, impair.stderr).to.equal(0);
      const clear = await cli(['fault', 'clear', 'esx1.vmnic1']);
      expect(clear.code, clear.stderr).to.equal(0);
    });

    it('captures through the gateway into a pcapng that tshark reads', async function () {
      const file = path.join(dir, 'through-gateway.pcapng');
      const capture = cli(['capture', 'web1.nic0', '-w', file, '--count', '4', '--seconds', '20'], 30_000);
      await waitFor(async () => (fs.existsSync(file) ? true : undefined), 'the capture file (every stream open)', 10_000, 50);
      const ping = await cli(['ping', 'web1', '192.0.2.12', '--count', '3']);
      expect(ping.code, ping.stderr).to.equal(0);
      const r = await capture;
      expect(r.code, r.stderr).to.equal(0);
      const bytes = fs.readFileSync(file);
      expect(bytes.readUInt32LE(0), 'pcapng section header').to.equal(0x0a0d0d0a);
      requirePeerTool(this, 'tshark', TSHARK_INSTALL_HINT);
      expect(runTshark(['-r', file]).trim().split('\n'), 'every frame of --count 4').to.have.length(4);
      // (the first two may be ARP when web1 had no entry for 192.0.2.12 yet)
      expect(runTshark(['-r', file, '-Y', 'icmp && ip.src == 192.0.2.11']).trim(), 'an echo request of web1').to.not.equal('');
    });

    it('refuses a capture stream without the token at the gateway', async () => {
      const status = await new Promise<number>((resolve, reject) => {
        const ws = new WebSocket(`wss://${gw.host}:${gw.port}/daemons/esx1/capture?point=web1.nic0`, { ca: fs.readFileSync(gw.caFile!), handshakeTimeout: 5_000 });
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.once('open', () => {
          ws.terminate();
          resolve(101);
        });
        ws.once('error', reject);
      });
      expect(status).to.equal(401);
    });

    it('refuses fault kill (exit 2, no PID to kill) and leaves the daemon running', async () => {
      const r = await cli(['fault', 'kill', 'esx2']);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.match(/no PID here to kill.*kubectl delete pod/);
      expect(isAlive(daemons.find((d) => d.name === 'esx2')!.pid)).to.equal(true);
    });

    it('vfab down forgets the connection and signals nothing', async () => {
      const r = await cli(['down']);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.out).to.match(/forgot the connection.*no process was signalled/);
      expect(fs.existsSync(path.join(stateDir, 'state.json'))).to.equal(false);
      for (const d of daemons) expect(isAlive(d.pid), d.name).to.equal(true);
      expect(gateway!.exitCode).to.equal(null);
      expect((await call('GET', '/fabric')).daemons.every((d: any) => d.reachable)).to.equal(true);
    });
  });
});
