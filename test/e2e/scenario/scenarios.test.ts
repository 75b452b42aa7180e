// End to end across real processes: every shipped scenario (scenarios/*.yaml) runs on its own fabric and
// passes; a deliberately wrong scenario fails through the CLI with "expected X, got Y", exit 1 and a
// JUnit file; an invalid one exits 2 with file:line. Each run brings its fabric up in a private temp state
// dir and tears it down itself (runScenarioFile's finally); time scales keep every run to a few seconds.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runScenarioFile } from '../../../daemons/scenario/run.js';
import { formatFailure } from '../../../lib/scenario/evaluate.js';
import { assertStrictTimeOrder } from '../../helpers/peer-tools.js';

const SHIPPED = fs.readdirSync('scenarios').filter((f) => f.endsWith('.yaml')).sort();
const RUN_TIMEOUT_MS = 60_000;

describe('e2e: shipped scenarios', function () {
  this.timeout(RUN_TIMEOUT_MS);
  let outRoot: string;
  before(() => {
    outRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'vfab-scenario-e2e-'));
  });
  after(() => fs.rmSync(outRoot, { recursive: true, force: true }));

  it('ships the scenarios the issue lists', () => {
    expect(SHIPPED).to.include.members([
      'failover-notify-on.yaml', 'failover-notify-off.yaml', 'failback-on.yaml', 'failback-off.yaml', 'explicit-order.yaml',
      'ip-hash-port-channel.yaml', 'ip-hash-no-port-channel.yaml', 'beacon-3-uplinks.yaml', 'beacon-2-uplinks.yaml', 'duplicate-mac.yaml',
      'datastore-power-on-race.yaml', 'datastore-host-crash.yaml', 'datastore-stall-10s.yaml', 'datastore-stall-20s.yaml', 'datastore-ats-off.yaml', 'nas-host-crash.yaml',
      'vmotion-notify-on.yaml', 'vmotion-notify-off.yaml', 'vmotion-stream.yaml', 'forged-transmit-counters.yaml', 'native-vlan-live-fix.yaml', 'portgroup-vlan-move.yaml',
    ]);
  });

  for (const file of SHIPPED) {
    it(`${file} passes and writes its timeline and captures`, async () => {
      const out = path.join(outRoot, file);
      const r = await runScenarioFile(path.join('scenarios', file), { outDir: out, handleSignals: false });
      const failures = r.results.filter((x) => !x.passed).map(formatFailure).join('\n');
      expect(r.error, r.error).to.equal(undefined);
      expect(failures).to.equal('');
      expect(r.passed).to.equal(true);
      expect(r.results.length).to.be.greaterThan(0);
      const timeline = fs.readFileSync(path.join(out, 'timeline.txt'), 'utf8');
      expect(timeline).to.match(/ms {2}runner +step /);
      expect(JSON.parse(fs.readFileSync(path.join(out, 'timeline.json'), 'utf8'))).to.be.an('array').that.is.not.empty;
      const captures = fs.readdirSync(out, { recursive: true, encoding: 'utf8' }).filter((f) => /\.pcap(ng)?$/.test(f)).map((f) => path.join(out, f));
      assertStrictTimeOrder(captures);
    });
  }
});

describe('e2e: vfab run reports failures and invalid scenarios', function () {
  this.timeout(RUN_TIMEOUT_MS);
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfab-scenario-cli-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('a wrong scenario exits 1 and says what was expected and what happened (JUnit too)', () => {
    const junit = path.join(dir, 'junit.xml');
    const run = spawnSync(process.execPath, ['bin/vfab.js', 'run', 'test/e2e/scenario/fixtures/wrong-expectation.yaml', '--out', path.join(dir, 'out'), '--junit', junit, '--quiet'],
      { encoding: 'utf8', timeout: RUN_TIMEOUT_MS - 5000, env: { ...process.env, VFAB_STATE_DIR: path.join(dir, 'state') } });
    expect(run.status, run.stderr).to.equal(1);
    expect(run.stdout).to.contain('FAIL 2.1 wrong port');
    expect(run.stdout).to.contain('expected 00:50:56:00:10:01 in VLAN 10 at sw1 Gi1/0/2, got at Gi1/0/1');
    expect(run.stdout).to.match(/FAIL 5\.1 wrong RARP count[^\n]*\n {2}expected exactly 0 RARP frames for 00:50:56:00:10:01 at esx1\.vmnic1 between [\d.]+ ms and [\d.]+ ms, got [1-8]\n/);
    expect(run.stdout).to.match(/RARP who-is 00:50:56:00:10:01 tell 00:50:56:00:10:01 vlan 10/);
    expect(run.stdout).to.contain('ok   5.2 right uplink');
    expect(run.stdout).to.contain('FAIL wrong-expectation: 1/3 expectations met');
    const xml = fs.readFileSync(junit, 'utf8');
    expect(xml).to.contain('tests="3" failures="2"');
    expect(xml).to.contain('<failure message="expected 00:50:56:00:10:01 in VLAN 10 at sw1 Gi1/0/2, got at Gi1/0/1"');
    expect(fs.readdirSync(path.join(dir, 'out'))).to.include.members(['timeline.txt', 'timeline.json', 'result.json', 'rarp-points.pcapng']);
  });

  it('a traffic step whose frames the vNIC cannot send exits 2 before any fabric starts, naming the VM, the size and the limit', () => {
    const bad = path.join(dir, 'jumbo.yaml');
    fs.writeFileSync(bad, `name: jumbo\ntopology: ${path.resolve('scenarios/topologies/forged-lab.yaml')}\nsteps:\n  - traffic: { name: big, from: web1, to: peer, rate: 10, seconds: 1, frameBytes: 9014 }\n`);
    const run = spawnSync(process.execPath, ['bin/vfab.js', 'run', bad], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, VFAB_STATE_DIR: path.join(dir, 'state-jumbo') } });
    expect(run.status, run.stderr).to.equal(2);
    expect(run.stderr).to.contain(`${bad}:4:5: steps[0].traffic: traffic big: web1.nic0 cannot send 9014-byte frames: its largest frame is 1514 bytes (MTU 1500 + 14-byte Ethernet header; no fragmentation)`);
  });

  it('an invalid scenario exits 2 with file:line and starts no fabric', () => {
    const bad = path.join(dir, 'bad.yaml');
    fs.writeFileSync(bad, 'name: bad\ntopology: nowhere.yaml\nsteps:\n  - wiat: 1s\n');
    const run = spawnSync(process.execPath, ['bin/vfab.js', 'run', bad], { encoding: 'utf8', timeout: 20_000 });
    expect(run.status).to.equal(2);
    expect(run.stderr).to.contain(`${bad}:4:5: steps[0].wiat: unknown field \`wiat\` (did you mean \`wait\`?)`);
  });
});
