// End-to-end `vfab run SCENARIO --ui` (docs/ui.md "Live stream", docs/scenarios.md): a real run of
// scenarios/failover-notify-off.yaml (time scale 1, about 3 s) serves the web view of its private fabric;
// the test logs in with the printed one-time URL, opens the live WebSocket with the cookie, and checks
// that `scenario` messages come while the run goes on (steps start and end one after the other, checks
// get pass/fail), that the last one matches the run's own --json report (steps with their scene times,
// each expectation's result, the verdict), that the page's actions are refused during the run, and that
// the server stops with the run. Also the usage errors: --ui with --sim, --ui-port without --ui, a bad
// --ui-port as typed, or one in use. Leaves out the page (page.test.ts draws `scenario` rows from recorded messages).

import { expect } from 'chai';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { WebSocket } from '../../../daemons/common/ws.js';
import type { LiveMessage, UiScenarioRun } from '../../../lib/ui/protocol.js';
import type { RunReport } from '../../../daemons/scenario/run.js';
import { isAlive } from '../../../daemons/fabric/state.js';
import { REPO_ROOT, VFAB_BIN, makeTempDir, runCli, trackPids, waitFor } from '../helpers/fabric.js';

const SCENARIO = 'scenarios/failover-notify-off.yaml';
/** Wall ms the whole run may take (fabric up, about 3 s of steps at time scale 1, teardown). */
const RUN_TIMEOUT_MS = 90_000;

function post(port: number, urlPath: string, cookie: string, body: unknown): Promise<{ status: number; body: string }> {
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: urlPath, headers: { cookie, origin: `http://127.0.0.1:${port}`, 'content-type': 'application/json', 'content-length': payload.length } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

function login(port: number, urlPath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: urlPath }, (res) => {
      res.resume();
      if (res.statusCode !== 303) return reject(new Error(`login answered ${res.statusCode}`));
      resolve(String(res.headers['set-cookie']).split(';')[0]!);
    }).on('error', reject);
  });
}

const RANK = { pending: 0, running: 1, done: 2, failed: 2 } as const;

describe('vfab run --ui (e2e)', function () {
  let tmp: string;
  before(() => {
    tmp = makeTempDir('vfab-e2e-uiscen-');
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('sends the scenario live: steps in order, checks with pass/fail, the verdict of the report', async function () {
    this.timeout(RUN_TIMEOUT_MS + 10_000);
    const child = spawn(process.execPath, [VFAB_BIN, 'run', SCENARIO, '--ui', '--ui-port', '0', '--json', '--time-scale', '1', '--out', path.join(tmp, 'out')], {
      cwd: REPO_ROOT, env: { ...process.env, VFAB_STATE_DIR: path.join(tmp, 'state') }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    trackPids([child.pid!]);
    const killer = setTimeout(() => child.pid !== undefined && isAlive(child.pid) && child.kill('SIGKILL'), RUN_TIMEOUT_MS);
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    try {
      const url = await new Promise<URL>((resolve, reject) => {
        child.stderr!.on('data', (d: Buffer) => {
          err += d.toString();
          const m = /open (http:\/\/127\.0\.0\.1:\d+\/login\?code=[0-9a-f]+)/.exec(err);
          if (m) resolve(new URL(m[1]!));
        });
        void exited.then((code) => reject(new Error(`vfab run exited ${code} before printing the URL: ${err}`)));
      });
      const port = Number(url.port);
      const cookie = await login(port, `${url.pathname}${url.search}`);
      const ws = new WebSocket(`ws://127.0.0.1:${port}/api/live`, { headers: { cookie, origin: `http://127.0.0.1:${port}` } });
      const messages: LiveMessage[] = [];
      ws.on('message', (d: Buffer) => messages.push(JSON.parse(d.toString('utf8'))));
      const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      // the page's actions would act on another fabric and change the run: refused while it runs
      const action = await post(port, '/api/link', cookie, { endpoint: 'esx1.vmnic0', up: false });
      expect(action.status, action.body).to.equal(409);
      expect(JSON.parse(action.body).error.code).to.equal('VFAB_UI_ACTION_FAILED');

      const code = await exited;
      await closed;
      const report = JSON.parse(out) as RunReport;
      expect(code).to.equal(report.passed ? 0 : 1);
      // the server stopped with the run
      const refused = await new Promise<boolean>((resolve) => http.get({ host: '127.0.0.1', port, path: '/' }, (r) => (r.resume(), resolve(false))).on('error', () => resolve(true)));
      expect(refused, 'the web view still answers after the run').to.equal(true);

      const snap = messages.find((m) => m.type === 'snapshot');
      if (snap?.type !== 'snapshot') throw new Error(`no snapshot: ${messages.map((m) => m.type).join(',')}`);
      expect(snap.snapshot.scenario?.name).to.equal('failover-notify-off');
      const live = messages.flatMap((m) => (m.type === 'scenario' ? [m.run] : []));
      const runs: UiScenarioRun[] = [snap.snapshot.scenario!, ...live];

      // every run: steps one after the other (none starts before the one before it ended)
      for (const run of runs) {
        for (let i = 1; i < run.steps.length; i++) {
          if (run.steps[i]!.startSceneMs === undefined) continue;
          expect(run.steps[i - 1]!.endSceneMs, `step ${run.steps[i]!.index} started before step ${run.steps[i - 1]!.index} ended`).to.be.a('number');
          expect(run.steps[i]!.startSceneMs!).to.be.at.least(run.steps[i - 1]!.endSceneMs!);
        }
      }
      // message to message: nothing goes back (pending -> running -> done|failed; a decided check stays)
      for (let k = 1; k < runs.length; k++) {
        for (const [i, st] of runs[k]!.steps.entries()) {
          const before = runs[k - 1]!.steps[i]!;
          expect(RANK[st.status], `step ${st.index} went from ${before.status} to ${st.status}`).to.be.at.least(RANK[before.status]);
          for (const [j, x] of st.expectations.entries()) if (before.expectations[j]!.pass !== null) expect(x.pass).to.equal(before.expectations[j]!.pass);
        }
      }
      // live, not only at the end: the page saw the last step start, then end, in messages during the run
      const last = report.steps.at(-1)!.index;
      const lastStatus = live.map((r) => r.steps.find((s) => s.index === last)!.status);
      expect(lastStatus, 'the last step never showed as running').to.include('running');
      expect(live.filter((r) => r.state === 'running').length, 'scenario messages while the run went on').to.be.at.least(2);

      // the last message is the report
      const final = live.at(-1)!;
      expect(final.state).to.equal(report.passed ? 'passed' : 'failed');
      expect(final.steps.filter((s) => s.status !== 'pending').map((s) => [s.index, s.startSceneMs, s.endSceneMs])).to.deep.equal(report.steps.map((s) => [s.index, s.startMs, s.endMs]));
      const checks = final.steps.flatMap((s) => s.expectations.map((x) => [x.id, x.text, x.pass]));
      expect(checks).to.deep.equal(report.results.map((r) => [r.id, r.name, r.passed]));
      for (const s of final.steps) expect(s.status, `step ${s.index}`).to.be.oneOf(['done', 'failed']);
    } finally {
      clearTimeout(killer);
      if (child.pid !== undefined && isAlive(child.pid)) {
        child.kill('SIGTERM');
        await waitFor(() => child.exitCode !== null || child.signalCode !== null, 'vfab run to stop', 20_000).catch(() => child.kill('SIGKILL'));
      }
    }
  });

  it('refuses --ui with --sim, --ui-port without --ui, and a bad --ui-port as typed (exit 2)', async function () {
    this.timeout(30_000);
    const state = path.join(tmp, 'state-usage');
    const sim = await runCli(['run', SCENARIO, '--ui', '--sim'], { stateDir: state });
    expect(sim.code).to.equal(2);
    expect(sim.stderr).to.contain('--ui does not apply with --sim');
    const alone = await runCli(['run', SCENARIO, '--ui-port', '0'], { stateDir: state });
    expect(alone.code).to.equal(2);
    expect(alone.stderr).to.contain('--ui-port 0 needs --ui');
    const bad = await runCli(['run', SCENARIO, '--ui', '--ui-port=70000'], { stateDir: state });
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.contain('--ui-port 70000: must be 0-65535');
  });

  it('a --ui-port in use exits 2 naming it as typed', async function () {
    this.timeout(RUN_TIMEOUT_MS);
    const taken = http.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    const port = (taken.address() as { port: number }).port;
    try {
      const r = await runCli(['run', SCENARIO, '--ui', '--ui-port', String(port), '--quiet', '--out', path.join(tmp, 'out-taken')], { stateDir: path.join(tmp, 'state-taken'), timeoutMs: RUN_TIMEOUT_MS });
      expect(r.code, r.stderr).to.equal(2);
      expect(r.stderr).to.contain(`--ui-port ${port}: in use`);
    } finally {
      await new Promise<void>((r) => taken.close(() => r()));
    }
  });
});
