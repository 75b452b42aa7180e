// Expectation evaluation over evidence, the runner's step sequencing against a fake driver (manual time),
// the timeline format and JUnit output.
import { expect } from 'chai';
import { parseScenario } from '../../lib/scenario/load.js';
import { evaluateDeferred, evaluateSnapshot, eventMatches, formatFailure, type RunEvidence } from '../../lib/scenario/evaluate.js';
import { runScenario, autoCapturePoints, type ScenarioDriver } from '../../lib/scenario/runner.js';
import { formatTimelineLine, mergeTimeline, toTimelineEntry } from '../../lib/scenario/timeline.js';
import { junitXml } from '../../lib/scenario/junit.js';
import type { ActionStep, ExpectationSpec } from '../../lib/scenario/model.js';

const MAC1 = 0x005056001001;

function specOf(yaml: string): ExpectationSpec {
  const s = parseScenario(`name: t\ntopology: x.yaml\nsteps:\n  - traffic: { name: s1, from: a, to: b, rate: 100, seconds: 1 }\n  - expect:\n      - ${yaml}\n`, 'x.yaml');
  const step = s.steps[1]!;
  if (step.kind !== 'expect') throw new Error('no expect');
  return step.expectations[0]!;
}

function evidence(over: Partial<RunEvidence> = {}): RunEvidence {
  return { timeline: [], streams: new Map(), rarps: [], capturedPoints: new Set(), ...over };
}

describe('expectation evaluation', () => {
  it('framesLost: passes within max, fails with expected/got and the stream line', () => {
    const spec = specOf('framesLost: { stream: s1, max: 5 }');
    const s = { name: 's1', from: 'a', to: 'b', sent: 100, received: 90, lost: 10, maxGapMs: 40, maxGapAtMs: 1000 };
    const r = evaluateDeferred(spec, evidence({ streams: new Map([['s1', s]]) }), [0, 0]);
    expect(r.passed).to.equal(false);
    expect(formatFailure(r)).to.contain('expected at most 5 frames lost, got 10 lost of 100 sent');
    expect(r.evidence[0]).to.contain('sent 100, received 90');
    const ok = evaluateDeferred(spec, evidence({ streams: new Map([['s1', { ...s, received: 97, lost: 3 }]]) }), [0, 0]);
    expect(ok.passed).to.equal(true);
  });

  it('rarpCount (§3.10): counts only matching MAC, direction and window', () => {
    const spec = specOf('rarpCount: { point: esx1.vmnic1, mac: "00:50:56:00:10:01", direction: out, min: 1, max: 8 }');
    const rarps = [
      { sceneMs: 50, point: 'esx1.vmnic1', direction: 'out' as const, mac: MAC1 }, // before the window
      { sceneMs: 150, point: 'esx1.vmnic1', direction: 'out' as const, mac: MAC1 },
      { sceneMs: 160, point: 'esx1.vmnic1', direction: 'in' as const, mac: MAC1 },
      { sceneMs: 170, point: 'esx1.vmnic1', direction: 'out' as const, mac: 0x005056001002 },
      { sceneMs: 180, point: 'esx1.vmnic0', direction: 'out' as const, mac: MAC1 },
    ];
    const r = evaluateDeferred(spec, evidence({ rarps, capturedPoints: new Set(['esx1.vmnic1']) }), [100, 200]);
    expect(r.got).to.equal('1');
    expect(r.passed).to.equal(true);
    const none = evaluateDeferred(spec, evidence({ rarps: rarps.slice(0, 1), capturedPoints: new Set(['esx1.vmnic1']) }), [100, 200]);
    expect(none.passed).to.equal(false);
    const uncaptured = evaluateDeferred(spec, evidence({ rarps }), [100, 200]);
    expect(uncaptured.got).to.contain('was not captured');
  });

  it('event: matches fields (lists contain), window and count; evidence shows the near misses', () => {
    const tl = [
      toTimelineEntry({ seq: 1, timeMs: 1100, source: 'esx1', type: 'failover', from: 'vmnic0', to: 'vmnic1', ports: [{ port: 'web1.nic0' }] }, 1000),
      toTimelineEntry({ seq: 2, timeMs: 1900, source: 'esx1', type: 'failover', from: 'vmnic1', to: 'vmnic2', ports: [{ port: 'app1.nic0' }] }, 1000),
    ];
    expect(eventMatches(tl[0]!, 'esx1', 'failover', { ports: 'web1.nic0', to: 'VMNIC1' })).to.equal(true);
    const spec = specOf('event: { source: esx1, type: failover, match: { ports: web1.nic0 }, withinMs: 500 }');
    expect(evaluateDeferred(spec, evidence({ timeline: tl }), [50, 550]).passed).to.equal(true);
    const late = evaluateDeferred(spec, evidence({ timeline: tl }), [200, 700]);
    expect(late.passed).to.equal(false);
    expect(late.evidence.join('\n')).to.contain('outside the window');
    const never = specOf('event: { source: esx1, type: failback, min: 0, max: 0 }');
    expect(evaluateDeferred(never, evidence({ timeline: tl }), [0, 5000]).passed).to.equal(true);
  });

  it('macTable (§6.6): expected port, absent entry, and the table as evidence', () => {
    const rows = [{ vlan: 10, mac: '00:50:56:00:10:01', port: 'Gi1/0/1', moves: 2 }];
    const at2 = specOf('macTable: { switch: sw1, vlan: 10, mac: "00:50:56:00:10:01", port: Gi1/0/2 }');
    const r = evaluateSnapshot(at2, { kind: 'macTable', rows });
    expect(r.passed).to.equal(false);
    expect(`expected ${r.expected}, got ${r.got}`).to.equal('expected 00:50:56:00:10:01 in VLAN 10 at sw1 Gi1/0/2, got at Gi1/0/1');
    expect(r.evidence[0]).to.contain('moves 2');
    const absent = specOf('macTable: { switch: sw1, mac: "00:50:56:00:10:01", port: null }');
    expect(evaluateSnapshot(absent, { kind: 'macTable', rows: [] }).passed).to.equal(true);
    expect(evaluateSnapshot(absent, { kind: 'macTable', rows }).passed).to.equal(false);
  });

  it('uplinkCarries / uplinkIdle by VM port and by stream counters', () => {
    const carries = specOf('uplinkCarries: { endpoint: esx1.vmnic1, vm: web1 }');
    const idle = specOf('uplinkIdle: { endpoint: esx1.vmnic1, vm: web1 }');
    const obs = { kind: 'portUplink' as const, vm: 'web1', port: 'web1.nic0', uplink: 'vmnic0', egressUplinks: ['vmnic0'] };
    expect(evaluateSnapshot(carries, obs).passed).to.equal(false);
    expect(evaluateSnapshot(idle, obs).passed).to.equal(true);
    const byStream = specOf('uplinkCarries: { endpoint: esx1.vmnic1, stream: s1 }');
    const frames = { kind: 'uplinkFrames' as const, endpoint: 'esx1.vmnic1', deltaFrames: 40, expectedFrames: 100, windowMs: [0, 1000] as [number, number] };
    expect(evaluateSnapshot(byStream, frames).passed).to.equal(false); // 40 < 50 % of 100
    expect(evaluateSnapshot(byStream, { ...frames, deltaFrames: 60 }).passed).to.equal(true);
  });

  it('ping: reachable and unreachable', () => {
    const spec = specOf('ping: { from: a, to: b, expect: unreachable }');
    expect(evaluateSnapshot(spec, { kind: 'ping', sent: 3, received: 0, detail: '' }).passed).to.equal(true);
    expect(evaluateSnapshot(spec, { kind: 'ping', sent: 3, received: 1, detail: '' }).passed).to.equal(false);
  });
});

describe('scenario runner (fake driver, manual time)', () => {
  const text = `name: fake
topology: x.yaml
steps:
  - ping: { from: web1, to: peer }
  - label: pull
    link: { down: esx1.vmnic0 }
  - wait: 2s
  - expect:
      - rarpCount: { point: esx1.vmnic1, max: 8 }
      - event: { source: esx1, type: failover, withinMs: 500 }
      - macTable: { switch: sw1, mac: "00:50:56:00:10:01", port: Gi1/0/2 }
  - kill: esx2
  - expect:
      - ping: { from: web1, to: peer, expect: reachable }
`;

  function fakeDriver(opts: { failKill?: boolean } = {}) {
    let now = 0;
    const acts: string[] = [];
    const driver: ScenarioDriver = {
      nowMs: () => now,
      sleep: async (ms) => void (now += ms),
      act: async (a: ActionStep) => {
        acts.push(a.kind === 'capture' ? `capture ${a.points.join(',')}` : a.kind);
        now += 10;
        if (a.kind === 'kill' && opts.failKill) throw new Error('no such process');
        return undefined;
      },
      macTable: async () => [{ vlan: 10, mac: '00:50:56:00:10:01', port: 'Gi1/0/2' }],
      ping: async () => ({ sent: 3, received: 3, detail: 'ok' }),
      portUplink: async () => ({ port: 'web1.nic0', uplink: 'vmnic1', egressUplinks: ['vmnic1'] }),
      uplinkTxFrames: async () => ({}),
      counters: async () => ({}),
      vmPower: async () => { throw new Error('no datastore steps here'); },
      datastoreFiles: async () => { throw new Error('no datastore checks here'); },
      datastoreState: async () => { throw new Error('no datastore checks here'); },
      collect: async () => evidence({
        capturedPoints: new Set(['esx1.vmnic1']),
        rarps: [{ sceneMs: 25, point: 'esx1.vmnic1', direction: 'out', mac: MAC1 }],
        timeline: [{ sceneMs: 30, source: 'esx1', type: 'failover', fields: {} }],
      }),
    };
    return { driver, acts };
  }

  it('captures rarpCount points first, runs steps in order and evaluates windows from the anchor', async () => {
    const s = parseScenario(text, 'x.yaml');
    expect(autoCapturePoints(s)).to.deep.equal(['esx1.vmnic1']);
    const { driver, acts } = fakeDriver();
    const r = await runScenario(s, driver);
    expect(acts).to.deep.equal(['capture esx1.vmnic1', 'ping', 'link', 'kill']);
    expect(r.results.map((x) => [x.id, x.passed])).to.deep.equal([['4.1', true], ['4.2', true], ['4.3', true], ['6.1', true]]);
    expect(r.results[1]!.windowMs).to.deep.equal([20, 520]); // link step started at 20 ms
    expect(r.passed).to.equal(true);
    expect(r.timeline.map((e) => e.type)).to.include('failover');
  });

  it('a failing step stops the run and fails the checks not reached, saying why', async () => {
    const { driver } = fakeDriver({ failKill: true });
    const r = await runScenario(parseScenario(text, 'x.yaml'), driver);
    expect(r.passed).to.equal(false);
    expect(r.error).to.contain('step 5 (kill esx2) failed: no such process');
    expect(r.results[3]!.got).to.contain('not checked');
    expect(r.results[0]!.passed).to.equal(true);
  });
});

describe('timeline and JUnit', () => {
  it('puts daemon events on the scene clock and merges by time', () => {
    const a = [toTimelineEntry({ seq: 1, timeMs: 5000, source: 'sw1', type: 'mac-move', mac: 'x' }, 4000)];
    const b = [{ sceneMs: 500, source: 'runner', type: 'step', fields: { step: 1 } }];
    const m = mergeTimeline(a, b);
    expect(m.map((e) => e.sceneMs)).to.deep.equal([500, 1000]);
    expect(formatTimelineLine(m[1]!)).to.match(/^\s+1000\.0 ms {2}sw1 +mac-move +mac=x$/);
  });

  it('writes one testcase per expectation with failure messages escaped', () => {
    const xml = junitXml({ scenario: 's<1>', durationMs: 1500, results: [
      { id: '1.1', name: 'a & b', kind: 'ping', passed: true, expected: '', got: '', evidence: [], where: 'x:1:1' },
      { id: '1.2', name: 'c', kind: 'framesLost', passed: false, expected: 'at most 5 frames lost', got: '10 lost of 100 sent', evidence: ['line <1>'], where: 'x:2:1' },
    ] });
    expect(xml).to.contain('tests="2" failures="1" errors="0" time="1.500"');
    expect(xml).to.contain('name="1.1 a &amp; b"');
    expect(xml).to.contain('message="expected at most 5 frames lost, got 10 lost of 100 sent"');
    expect(xml).to.contain('line &lt;1&gt;');
  });
});
