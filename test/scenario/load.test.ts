// Scenario file parsing: model values, line-precise schema and semantic errors, names checked against
// the topology.
import { expect } from 'chai';
import { parseScenario, ScenarioError, checkAgainstTopology, VFAB_SCENARIO_INVALID, VFAB_SCENARIO_YAML } from '../../lib/scenario/load.js';
import { parseDurationMs } from '../../lib/scenario/model.js';
import { loadTopologyFile } from '../../lib/topology/load.js';

const GOOD = `name: t1
topology: topologies/teaming-lab.yaml
timeScale: 5
steps:
  - traffic: { name: s1, from: peer, to: web1, rate: 100, seconds: 2 }
  - label: pull
    link: { down: esx1.vmnic0 }
  - wait: 1.5s
  - expect:
      - rarpCount: { point: esx1.vmnic1, mac: "00:50:56:00:10:01", max: 8, after: pull }
      - framesLost: { stream: s1, max: 10 }
      - name: custom
        macTable: { switch: sw1, vlan: 10, mac: "00:50:56:00:10:01", port: null }
`;

function problemsOf(text: string): ScenarioError {
  try {
    parseScenario(text, 'x.yaml');
  } catch (e) {
    expect(e).to.be.instanceOf(ScenarioError);
    return e as ScenarioError;
  }
  throw new Error('expected a ScenarioError');
}

describe('scenario loading', () => {
  it('builds steps, defaults and expectation ids', () => {
    const s = parseScenario(GOOD, 'x.yaml');
    expect(s.timeScale).to.equal(5);
    expect(s.steps).to.have.length(4);
    const t = s.steps[0]!;
    expect(t.kind === 'action' && t.action).to.deep.include({ kind: 'traffic', frameBytes: 128, streamId: 1, udpPort: 9001, ratePps: 100 });
    const w = s.steps[2]!;
    expect(w.kind === 'action' && w.action).to.deep.equal({ kind: 'wait', ms: 1500 });
    const e = s.steps[3]!;
    if (e.kind !== 'expect') throw new Error('expect step');
    expect(e.expectations.map((x) => x.id)).to.deep.equal(['4.1', '4.2', '4.3']);
    expect(e.expectations[0]!.check).to.deep.include({ kind: 'rarpCount', min: 1, max: 8, direction: 'any', after: 'pull', macText: '00:50:56:00:10:01' });
    expect(e.expectations[2]!.name).to.equal('custom');
    expect(e.expectations[2]!.check).to.deep.include({ port: null });
    expect(e.expectations[0]!.loc.line).to.equal(10);
  });

  it('parses durations in ms, s and m', () => {
    expect(parseDurationMs('500ms')).to.equal(500);
    expect(parseDurationMs('2s')).to.equal(2000);
    expect(parseDurationMs('1.5 s')).to.equal(1500);
    expect(parseDurationMs('1m')).to.equal(60000);
    expect(parseDurationMs(250)).to.equal(250);
    expect(parseDurationMs('soon')).to.equal(undefined);
  });

  it('reports an unknown field at its line with a suggestion', () => {
    const e = problemsOf(GOOD.replace('link: { down: esx1.vmnic0 }', 'lnk: { down: esx1.vmnic0 }'));
    expect(e.code).to.equal(VFAB_SCENARIO_INVALID);
    const p = e.problems.find((x) => x.message.includes('unknown field `lnk`'))!;
    expect(p.line).to.equal(7);
    expect(p.message).to.contain('did you mean `link`');
  });

  it('reports a bad duration and a wrong type at their lines', () => {
    const e = problemsOf(GOOD.replace('wait: 1.5s', 'wait: soon').replace('rate: 100', 'rate: fast'));
    const lines = e.problems.map((p) => p.line);
    expect(lines).to.include(5);
    expect(lines).to.include(8);
  });

  it('refuses two actions in one step (line of the step)', () => {
    const e = problemsOf(GOOD.replace('    link: { down: esx1.vmnic0 }', '    link: { down: esx1.vmnic0 }\n    wait: 1s'));
    const p = e.problems.find((x) => x.message.includes('one action'))!;
    expect(p.message).to.contain('link and wait');
    expect(p.line).to.equal(6);
  });

  it('refuses a stream that no traffic step defined, and an unknown label', () => {
    const e = problemsOf(GOOD.replace('stream: s1', 'stream: s2').replace('after: pull', 'after: pul'));
    expect(e.problems.some((p) => p.line === 11 && p.message.includes('no traffic step named `s2`'))).to.equal(true);
    expect(e.problems.some((p) => p.line === 10 && p.message.includes('did you mean `pull`'))).to.equal(true);
  });

  it('reports min above max', () => {
    const e = problemsOf(GOOD.replace('max: 8, after', 'min: 9, max: 8, after'));
    expect(e.problems[0]!.message).to.contain('min (9) is larger than max (8)');
  });

  it('reports YAML syntax errors with VFAB_SCENARIO_YAML', () => {
    const e = problemsOf('name: x\nsteps:\n  - wait: 1s\n  - wait: [\n');
    expect(e.code).to.equal(VFAB_SCENARIO_YAML);
    expect(e.problems[0]!.line).to.be.greaterThan(1);
  });

  it('checks VM, switch and endpoint names against the topology', async () => {
    const topo = await loadTopologyFile('scenarios/topologies/teaming-lab.yaml');
    const good = parseScenario(GOOD, 'x.yaml');
    expect(checkAgainstTopology(good, topo)).to.deep.equal([]);
    const bad = parseScenario(GOOD.replace('from: peer', 'from: peeer').replace('down: esx1.vmnic0', 'down: esx1.vmnic7').replace('switch: sw1', 'switch: sw9'), 'x.yaml');
    const problems = checkAgainstTopology(bad, topo);
    expect(problems.map((p) => p.line)).to.deep.equal([5, 7, 13]);
    expect(problems[0]!.message).to.contain('did you mean `peer`');
  });

  it('loads the guest steps setMtu and promiscuous, bounds the MTU, and checks the VM and NIC names', async () => {
    const text = (steps: string) => `name: g\ntopology: x.yaml\nsteps:\n${steps}`;
    const s = parseScenario(text('  - setMtu: { vm: web1, nic: nic0, mtu: 9000 }\n  - promiscuous: { vm: web1, on: true }\n'), 'x.yaml');
    expect(s.steps.map((x) => x.kind === 'action' && x.action)).to.deep.equal([
      { kind: 'setMtu', vm: 'web1', nic: 'nic0', mtu: 9000 },
      { kind: 'promiscuous', vm: 'web1', on: true },
    ]);
    for (const bad of [67, 9001]) {
      expect(problemsOf(text(`  - setMtu: { vm: web1, mtu: ${bad} }\n`)).problems[0]!.line).to.equal(4);
    }
    const topo = await loadTopologyFile('scenarios/topologies/teaming-lab.yaml');
    expect(checkAgainstTopology(s, topo)).to.deep.equal([]);
    const wrong = checkAgainstTopology(parseScenario(text('  - setMtu: { vm: web1, nic: nic7, mtu: 9000 }\n  - promiscuous: { vm: webb1, on: false }\n'), 'x.yaml'), topo);
    expect(wrong.map((p) => [p.line, p.message])).to.deep.include.members([[4, 'VM web1 has no NIC `nic7`']]);
    expect(wrong.map((p) => p.line)).to.deep.equal([4, 5]);
  });
});
