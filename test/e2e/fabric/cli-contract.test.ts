// The CLI contract across processes (`node bin/vfab.js`, the compiled CLI in dist/), without starting a
// fabric: bad values exit 2 naming the option as typed, unknown options and commands exit 2 with "did you
// mean", no fabric exits 3, a daemon that does not answer exits 3 and is named, unknown VMs/hosts/
// endpoints exit 2 with a suggestion (against a hand-written state file whose switch sw1 is a sleeping
// child process started with `--name sw1` on a port where nothing listens, and whose host esx1 is this
// test process, which is not a vfab daemon), and bin/vfab.js without dist/ says how to build it. Leaves
// out commands against a live fabric (cli.test.ts).

import { expect } from 'chai';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { FabricState } from '../../../daemons/fabric/state.js';
import { makeTempDir, runCli, trackPids, VFAB_BIN } from '../helpers/fabric.js';

/** A loopback port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe('e2e CLI contract: exit codes 0/1/2/3 and messages, no fabric needed', function () {
  this.timeout(30_000);
  const empty = makeTempDir('vfab-e2e-contract-empty-');
  const fake = makeTempDir('vfab-e2e-contract-fake-');
  const cli = (args: string[], stateDir = empty) => runCli(args, { stateDir });
  let sleeper: ChildProcess;

  before(async () => {
    const port = await closedPort();
    // "sw1" is a process that looks like vfab's daemon sw1 (--name sw1) but listens nowhere: unreachable
    sleeper = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e9)', '--', '--name', 'sw1'], { stdio: 'ignore' });
    trackPids([sleeper.pid!]);
    const state: FabricState = {
      fabric: 'fake', topologyFile: 'fake.yaml', token: 't', startedAt: new Date().toISOString(), timeScale: 1, runDir: fake,
      clock: { monotonicNs: String(process.hrtime.bigint()), wallMs: Date.now() },
      daemons: [
        { name: 'sw1', kind: 'switch', pid: sleeper.pid!, port, logFile: path.join(fake, 'sw1.log') },
        { name: 'esx1', kind: 'host', pid: process.pid, port, logFile: path.join(fake, 'esx1.log') },
      ],
      vmHosts: { web1: 'esx1' },
    };
    fs.writeFileSync(path.join(fake, 'state.json'), JSON.stringify(state));
  });

  after(() => {
    if (sleeper.pid !== undefined && sleeper.exitCode === null) process.kill(sleeper.pid, 'SIGKILL');
    fs.rmSync(empty, { recursive: true, force: true });
    fs.rmSync(fake, { recursive: true, force: true });
  });

  it('a value out of range or of the wrong kind exits 2 and names the option as typed (before any fabric is needed)', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['mac-table', 'sw1', '--vlan', '5000'], /vfab mac-table: --vlan 5000: must be 0-4095/],
      [['disk', 'load', 'web1', '--depth', 'abc'], /vfab disk: --depth abc: must be a whole number 1-256/],
      [['disk', 'load', 'web1', '--block', '16X'], /vfab disk: --block 16X: not a size/],
      [['disk', 'load', 'web1', '--pattern', 'bogus'], /--pattern bogus: must be one of random, sequential/],
      [['capture', 'esx1.vmnic0', '-w', 'x.pcap', '--format', 'bogus'], /--format bogus: must be one of pcap, pcapng/],
      [['ping', 'web1', '192.0.2.12', '-c', '0'], /vfab ping: -c 0: must be 1-10000/],
      [['up', 'topologies/quickstart.yaml', '--time-scale', 'fast'], /--time-scale fast: must be a number/],
      [['fault', 'flap', 'sw1.Gi1/0/1', '--loss', '5'], /--loss does not apply to vfab fault flap/],
      [['lun', 'create', 'x'], /--size SIZE is required for vfab lun create/],
      [['link', 'down'], /vfab link takes 2 arguments, got 1/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).to.equal(2);
      expect(r.stderr, args.join(' ')).to.match(message);
      expect(r.stderr).not.to.match(/internal error|\n\s+at /);
    }
  });

  it('unknown options, commands and actions exit 2 with "did you mean"', async () => {
    const option = await cli(['ping', 'web1', '192.0.2.12', '--cont', '3']);
    expect([option.code, option.stderr]).to.deep.equal([2, 'vfab ping: unknown option --cont (did you mean --count?) (see: vfab ping --help)\n']);
    const command = await cli(['stauts']);
    expect(command.code).to.equal(2);
    expect(command.stderr).to.match(/unknown command "stauts" \(did you mean status\?\)/);
    const action = await cli(['lun', 'crate', 'x']);
    expect(action.code).to.equal(2);
    expect(action.stderr).to.match(/unknown action "crate" for vfab lun: .*\(did you mean create\?\)/);
  });

  it('no fabric running here: exit 3 with how to start one', async () => {
    for (const args of [['status'], ['ping', 'web1', '192.0.2.12'], ['down'], ['lun', 'list']]) {
      const r = await cli(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).to.equal(3);
      expect(r.stderr).to.match(/no fabric is running here .*start one with: vfab up FILE/);
    }
  });

  it('a daemon that does not answer: exit 3, naming it', async () => {
    const table = await cli(['mac-table', 'sw1'], fake);
    expect(table.code, table.stderr).to.equal(3);
    expect(table.stderr).to.match(/vfab mac-table: cannot reach switch sw1 \(127\.0\.0\.1:\d+\): connection refused/);
    const status = await cli(['status'], fake);
    expect(status.code).to.equal(3);
    expect(status.stderr).to.match(/switch sw1 \(pid \d+\) does not answer: cannot reach switch sw1/);
    expect(status.stderr).to.match(/host esx1 \(pid \d+\) is not running \(pid \d+ is no longer esx1/);
  });

  it('unknown VMs, hosts and endpoints exit 2 and suggest the closest name', async () => {
    const vm = await cli(['ping', 'web11', '192.0.2.12'], fake);
    expect(vm.code).to.equal(2);
    expect(vm.stderr).to.match(/no VM named "web11" in fabric fake \(did you mean web1\?\) \(VMs: web1\)/);
    const node = await cli(['mac-table', 'sw2x'], fake);
    expect(node.code).to.equal(2);
    expect(node.stderr).to.match(/no host, switch or array named "sw2x" .*\(have: sw1, esx1\)/);
    const host = await cli(['mac-table', 'esx'], fake);
    expect(host.stderr).to.match(/\(did you mean esx1\?\)/);
    const endpoint = await cli(['link', 'down', 'esx2.vmnic0'], fake);
    expect(endpoint.code).to.equal(2);
    expect(endpoint.stderr).to.match(/no host, switch or VM named "esx2" in endpoint esx2\.vmnic0 \(did you mean esx1\?\)/);
  });

  it('success is 0: --help of a command and of vfab', async () => {
    expect((await cli(['--help'])).code).to.equal(0);
    const help = await cli(['ping', '--help']);
    expect(help.code).to.equal(0);
    expect(help.out).to.match(/^vfab ping — /).and.match(/exit codes:/);
  });

  it('bin/vfab.js without a built dist/ says to run npm ci (or npm run build)', () => {
    const dir = makeTempDir('vfab-e2e-nodist-');
    try {
      fs.mkdirSync(path.join(dir, 'bin'));
      fs.copyFileSync(VFAB_BIN, path.join(dir, 'bin', 'vfab.js'));
      fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
      const r = spawnSync(process.execPath, [path.join(dir, 'bin', 'vfab.js'), 'status'], { encoding: 'utf8', timeout: 20_000 });
      expect(r.status).to.equal(1);
      expect(r.stderr).to.match(/the compiled CLI is missing .*run npm ci \(or npm run build\)/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
  it('output larger than a pipe holds reaches a slow reader whole (the CLI waits for stdout before it exits)', () => {
    // 64 hosts with long names: `vfab validate --json` prints ~72 KB, more than the 64 KiB a pipe buffers
    const hosts = Array.from({ length: 64 }, (_, h) => {
      const vms = Array.from({ length: 12 }, (_, v) => `      - name: vm-with-a-long-name-${h}-${v}\n        nics: [{ portGroup: VM-10, ip: 192.0.${h}.${v + 10}/16 }]`).join('\n');
      return `  - name: esx-host-with-a-long-name-${h}\n    vswitches:\n      - name: vSwitch0\n        uplinks: [vmnic0]\n        portGroups: [{ name: VM-10, vlan: 10 }]\n    vms:\n${vms}`;
    });
    const file = path.join(empty, 'big.yaml');
    fs.writeFileSync(file, `name: big\nhosts:\n${hosts.join('\n')}\n`);
    // a reader that starts late, as a pipeline into a slow program does
    const out = path.join(empty, 'big.json');
    const r = spawnSync('sh', ['-c', '"$0" "$1" validate "$2" --json | (sleep 1; cat > "$3")', process.execPath, VFAB_BIN, file, out],
      { env: { ...process.env, VFAB_STATE_DIR: empty }, encoding: 'utf8', timeout: 20_000 });
    expect(r.error, 'the pipeline finished').to.equal(undefined);
    const text = fs.readFileSync(out, 'utf8');
    expect(Buffer.byteLength(text)).to.be.greaterThan(65_536);
    expect(() => JSON.parse(text)).not.to.throw();
  });
});
