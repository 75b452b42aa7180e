// The runner's hooks (lib/scenario/runner.ts RunHooks) and the web view's scenario run built from them
// (lib/ui/scenario-run.ts): each step starts and ends in order with its scene times, a snapshot check is
// told at once and an event check only after the evidence is collected (its expect step stays running
// until then), the verdict at the end, and a hook that throws does not change the run. Fake driver,
// manual time. The live path over a real fabric is test/e2e/ui/ui-scenario.test.ts.

import { expect } from 'chai';
import { parseScenario } from '../../lib/scenario/load.js';
import { runScenario, type RunHooks, type ScenarioDriver } from '../../lib/scenario/runner.js';
import type { RunEvidence } from '../../lib/scenario/evaluate.js';
import { ScenarioRunView } from '../../lib/ui/scenario-run.js';
import type { UiScenarioRun } from '../../lib/ui/protocol.js';

const TEXT = `name: t
topology: x.yaml
steps:
  - label: pull
    link: { down: esx1.vmnic0 }
  - wait: 1s
  - expect:
      - name: the entry is gone
        macTable: { switch: sw1, vlan: 10, mac: "00:50:56:00:10:02", port: null }
      - name: the failover is logged
        event: { source: esx1, type: failover, after: pull }
`;

function fakeDriver(): ScenarioDriver {
  let now = 0;
  return {
    nowMs: () => now,
    sleep: async (ms) => void (now += ms),
    act: async () => void (now += 10),
    macTable: async () => [],
    ping: async () => ({ sent: 1, received: 1, detail: '' }),
    portUplink: async () => ({ port: '', uplink: null, egressUplinks: [] }),
    uplinkTxFrames: async () => ({}),
    counters: async () => ({}),
    vmPower: async () => { throw new Error('none'); },
    datastoreFiles: async () => { throw new Error('none'); },
    datastoreState: async () => { throw new Error('none'); },
    // no failover event was logged: the event check fails, only once the evidence is in
    collect: async (): Promise<RunEvidence> => ({ timeline: [], streams: new Map(), rarps: [], capturedPoints: new Set() }),
  };
}

describe('scenario runner hooks and the web view\'s scenario run', () => {
  it('tells each step start and end in order, each check once, deferred checks after the steps', async () => {
    const s = parseScenario(TEXT, 'x.yaml');
    const calls: string[] = [];
    const hooks: RunHooks = {
      stepStarted: (r) => calls.push(`start ${r.index} @${r.startMs}`),
      stepEnded: (r) => calls.push(`end ${r.index} @${r.endMs}`),
      expectation: (r, i) => calls.push(`check ${i} ${r.name} ${r.passed}`),
    };
    const result = await runScenario(s, fakeDriver(), hooks);
    expect(calls).to.deep.equal([
      'start 1 @0', 'end 1 @10',
      'start 2 @10', 'end 2 @1010',
      'start 3 @1010', 'check 3 the entry is gone true', 'end 3 @1010',
      'check 3 the failover is logged false',
    ]);
    expect(result.passed).to.equal(false);
  });

  it('keeps an expect step running until its event check is decided, then shows the verdict', async () => {
    const s = parseScenario(TEXT, 'x.yaml');
    const view = new ScenarioRunView(s, (sceneMs) => 5000 + sceneMs);
    const runs: UiScenarioRun[] = [view.current()];
    const result = await runScenario(s, fakeDriver(), view.hooks((r) => runs.push(r)));
    view.finished(result);
    expect(runs[0]!.steps.map((x) => x.status)).to.deep.equal(['pending', 'pending', 'pending']);
    // after step 3 ended (its snapshot check passed) and before the event check was decided
    const ended = runs.find((r) => r.steps[2]!.endSceneMs !== undefined)!;
    expect(ended.steps[2]!.status).to.equal('running');
    expect(ended.steps[2]!.expectations.map((x) => x.pass)).to.deep.equal([true, null]);
    const last = view.current();
    expect(last.state).to.equal('failed');
    expect(last.steps.map((x) => [x.index, x.label ?? null, x.status, x.atMs, x.startSceneMs, x.endSceneMs])).to.deep.equal([
      [1, 'pull', 'done', 5000, 0, 10],
      [2, null, 'done', 5010, 10, 1010],
      [3, null, 'failed', 6010, 1010, 1010],
    ]);
    expect(last.steps[2]!.expectations[1]).to.include({ text: 'the failover is logged', pass: false });
    expect(last.steps[2]!.expectations[1]!.detail).to.match(/^expected /);
    // each message is a copy: later changes do not reach one already sent
    expect(runs[0]!.steps[0]!.status).to.equal('pending');
  });

  it('a hook that throws does not change the run', async () => {
    const s = parseScenario(TEXT, 'x.yaml');
    const quiet = await runScenario(s, fakeDriver());
    const boom = () => { throw new Error('watcher broke'); };
    const loud = await runScenario(s, fakeDriver(), { stepStarted: boom, stepEnded: boom, expectation: boom });
    expect(loud).to.deep.equal(quiet);
  });
});
