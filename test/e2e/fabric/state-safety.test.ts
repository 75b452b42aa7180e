// End-to-end: the fabric's state file is safe to keep and to act on. It holds the fabric token, so the
// state directory is owner-only (0700) and the state file, run configs and logs are 0600; `vfab down`
// and `vfab status` never trust a PID that is no longer the daemon vfab started (a reused PID of an
// unrelated process is reported, not signalled); a corrupt (truncated) state file is a clear
// VFAB_STATE_CORRUPT naming the file (exit 2), and `vfab down` still stops the daemons it can prove are
// its own. Fabric: topologies/native-vlan-trap.yaml (3 daemons). See docs/security.md.

import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { FABRIC_DOWN_TIMEOUT_MS, FABRIC_UP_TIMEOUT_MS, makeTempDir, runCli, startFabric, type TestFabric, useFabric } from '../helpers/fabric.js';
import { isAlive } from '../../../daemons/fabric/pid-identity.js';
import type { FabricState } from '../../../daemons/fabric/state.js';

const mode = (p: string): number => fs.statSync(p).mode & 0o777;

/** Starts `sleep 30`: an unrelated process whose PID a forged state file names. */
function startSleeper(): ChildProcess {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  if (child.pid === undefined) throw new Error('could not start sleep');
  return child;
}

function stopSleeper(child: ChildProcess | undefined): void {
  if (child?.pid !== undefined && isAlive(child.pid)) child.kill('SIGKILL');
}

/** A state file naming `pid` as host esx1 (with a recorded start time or, like older state files, without). */
function forgedState(dir: string, pid: number, startTime: string | undefined): void {
  const state: FabricState = {
    fabric: 'forged',
    topologyFile: 'none.yaml',
    token: 'not-a-real-token',
    startedAt: new Date().toISOString(),
    timeScale: 1,
    runDir: path.join(dir, 'run'),
    daemons: [{ name: 'esx1', kind: 'host', pid, port: 9, logFile: path.join(dir, 'logs', 'esx1.log'), ...(startTime !== undefined ? { startTime } : {}) }],
    vmHosts: {},
    clock: { monotonicNs: '0', wallMs: Date.now() },
  };
  fs.writeFileSync(path.join(dir, 'state.json'), JSON.stringify(state, null, 2));
}

describe('e2e fabric: the state file is private and its PIDs are verified before use', function () {
  this.timeout(30_000);

  describe('a running fabric (topologies/native-vlan-trap.yaml)', () => {
    let fab: TestFabric;
    useFabric('topologies/native-vlan-trap.yaml', (f) => (fab = f));

    it('state dir is 0700; state.json, run configs and logs (token holders) are 0600', () => {
      expect(mode(fab.stateDir).toString(8), 'state dir').to.equal('700');
      expect(mode(path.join(fab.stateDir, 'state.json')).toString(8), 'state.json').to.equal('600');
      const runFiles = fs.readdirSync(fab.state.runDir).filter((f) => f.endsWith('.json'));
      expect(runFiles.length).to.be.above(0);
      for (const f of runFiles) expect(mode(path.join(fab.state.runDir, f)).toString(8), `run/${f}`).to.equal('600');
      for (const d of fab.state.daemons) {
        expect(mode(d.logFile).toString(8), d.logFile).to.equal('600');
        expect(d.startTime, `${d.name} has its start time recorded`).to.match(/^\S+/);
      }
    });
  });

  describe('a PID reused by an unrelated process', () => {
    let sleeper: ChildProcess | undefined;
    let dir: string;
    beforeEach(() => {
      dir = makeTempDir('vfab-e2e-forged-');
      sleeper = startSleeper();
    });
    afterEach(() => {
      stopSleeper(sleeper);
      fs.rmSync(dir, { recursive: true, force: true });
    });

    for (const variant of [
      { what: 'recorded start time differs', startTime: '1' },
      { what: 'no start time recorded (older state file): the command line decides', startTime: undefined },
    ]) {
      it(`vfab down does not signal it (${variant.what})`, async () => {
        const pid = sleeper!.pid!;
        forgedState(dir, pid, variant.startTime);
        const r = await runCli(['down'], { stateDir: dir });
        expect(r.code, r.stderr).to.equal(0);
        expect(r.stderr).to.include(`pid ${pid} is no longer esx1`).and.to.include('not signalled');
        await new Promise((res) => setTimeout(res, 200));
        expect(isAlive(pid), 'the unrelated process is still alive').to.equal(true);
        expect(sleeper!.exitCode).to.equal(null);
        expect(sleeper!.signalCode).to.equal(null);
      });
    }

    it('vfab status reports it as not running and does not trust it', async () => {
      const pid = sleeper!.pid!;
      forgedState(dir, pid, '1');
      const r = await runCli(['status', '--json'], { stateDir: dir });
      const report = JSON.parse(r.out) as { daemons: Array<{ name: string; running: boolean; error?: string }> };
      expect(report.daemons[0]!.running).to.equal(false);
      expect(report.daemons[0]!.error).to.include(`pid ${pid} is no longer esx1`);
      expect(isAlive(pid)).to.equal(true);
    });
  });

  describe('a corrupt state file', () => {
    let fab: TestFabric | undefined;
    let dir: string;
    before(async function () {
      this.timeout(FABRIC_UP_TIMEOUT_MS);
      dir = makeTempDir('vfab-e2e-corrupt-');
      fab = await startFabric('topologies/native-vlan-trap.yaml', { stateDir: dir });
    });
    after(async function () {
      this.timeout(FABRIC_DOWN_TIMEOUT_MS);
      await fab?.down(); // stops what `vfab down` could not identify (by the in-memory records)
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('gives VFAB_STATE_CORRUPT naming the file (exit 2); vfab down stops the daemons it can prove, exit 2', async () => {
      const file = path.join(dir, 'state.json');
      const text = fs.readFileSync(file, 'utf8');
      const daemons = fab!.state.daemons;
      expect(daemons.length).to.equal(3);
      // cut the file in the middle of the last daemon record: the first two stay whole
      const last = daemons[daemons.length - 1]!;
      const cut = text.indexOf(`"name": "${last.name}"`, text.indexOf('"daemons"'));
      expect(cut).to.be.above(0);
      fs.writeFileSync(file, text.slice(0, cut + 10));

      const status = await runCli(['status'], { stateDir: dir });
      expect(status.code, status.stderr).to.equal(2);
      expect(status.stderr).to.include(`state file ${file}`).and.to.include('not valid JSON').and.to.include('truncated');
      expect(status.stderr).to.not.match(/SyntaxError|at JSON\.parse/);

      const down = await runCli(['down'], { stateDir: dir });
      expect(down.code, down.stderr).to.equal(2);
      expect(down.stderr).to.include(`state file ${file} is corrupt`);
      for (const d of daemons.slice(0, -1)) expect(isAlive(d.pid), `${d.name} (whole record) was stopped`).to.equal(false);
      expect(isAlive(last.pid), `${last.name} (cut record) could not be identified and was left`).to.equal(true);
      expect(fs.existsSync(`${file}.corrupt`), 'the corrupt file was moved aside').to.equal(true);
      expect(fs.existsSync(file)).to.equal(false);
    });
  });
});
