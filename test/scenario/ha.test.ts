// The HA scenario steps (lib/scenario): `isolate: HOST` / `noIsolate: HOST` load into one isolate action
// with its direction, and a host that is not in the topology or has no management vmkernel port is
// reported on the step's line; the shipped HA scenarios load against their topology. Follows
// docs/scenarios.md and docs/ha.md.
import { expect } from 'chai';
import { parseScenario, checkAgainstTopology } from '../../lib/scenario/load.js';
import { loadTopologyFile } from '../../lib/topology/load.js';
import { loadScenarioAndTopology } from '../../daemons/scenario/run.js';

const parse = (steps: string) => parseScenario(`name: t\ntopology: x.yaml\nsteps:\n${steps}`, 'x.yaml');

describe('scenario HA steps', () => {
  it('isolate and noIsolate load as one isolate action each way', () => {
    const s = parse('  - isolate: esx1\n  - noIsolate: esx1\n');
    expect(s.steps.map((x) => (x.kind === 'action' ? x.action : x))).to.deep.include.members([{ kind: 'isolate', host: 'esx1', isolated: true }, { kind: 'isolate', host: 'esx1', isolated: false }]);
  });

  it('a host without a management vmk, or not in the topology, is reported on its line', async () => {
    const lab = await loadTopologyFile('scenarios/topologies/ha-lab.yaml');
    const problems = checkAgainstTopology(parse('  - wait: 1s\n  - isolate: infra\n  - noIsolate: esx9\n  - isolate: esx2\n'), lab).map((p) => `${p.line}: ${p.message}`);
    expect(problems).to.have.length(2);
    expect(problems[0]).to.match(/^5: .*no host `infra` with a management vmkernel port/);
    expect(problems[1]).to.match(/^6: .*no host `esx9` with a management vmkernel port/);
  });

  it('the shipped HA scenarios load against their topology', async () => {
    for (const f of ['scenarios/ha-host-crash.yaml', 'scenarios/ha-isolation-power-off.yaml', 'scenarios/ha-host-crash-no-hb.yaml', 'scenarios/ha-isolation-leave-powered-on.yaml']) {
      const { scenario } = await loadScenarioAndTopology(f);
      expect(scenario.steps.length, f).to.be.greaterThan(3);
    }
  });
});
