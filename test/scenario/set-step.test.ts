// The scenario `set:` step (docs/scenarios.md, docs/reconfigure.md): the words of a vfab set command line,
// parsed at load (string or list form), then checked before a run with vfab set's own option table and
// every topology rule, the steps' edits applied in order (checkSetSteps). Leaves out running the step
// (scenarios/native-vlan-live-fix.yaml in test/e2e/scenario/scenarios.test.ts).
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseScenario, ScenarioError } from '../../lib/scenario/load.js';
import { describeAction } from '../../lib/scenario/model.js';
import { checkSetSteps } from '../../daemons/scenario/run.js';

const TOPOLOGY = path.resolve('topologies/native-vlan-trap.yaml');

function scenario(steps: string) {
  return parseScenario(`name: s\ntopology: ${TOPOLOGY}\nsteps:\n${steps}`, 'x.yaml');
}

async function problems(steps: string): Promise<string[]> {
  try {
    await checkSetSteps(scenario(steps), TOPOLOGY);
  } catch (e) {
    expect(e).to.be.instanceOf(ScenarioError);
    return (e as ScenarioError).problems.map((p) => `${p.line}: ${p.message}`);
  }
  return [];
}

describe('scenario set: step', () => {
  it('takes the words of vfab set as a string or a list', () => {
    const s = scenario('  - set: port sw1 Gi1/0/1 --native-vlan 20\n  - set: [portgroup, esx1, "VM Network", --vlan, 10]\n');
    const actions = s.steps.map((x) => (x.kind === 'action' ? x.action : undefined));
    expect(actions[0]).to.deep.equal({ kind: 'set', argv: ['port', 'sw1', 'Gi1/0/1', '--native-vlan', '20'] });
    expect(actions[1]).to.deep.equal({ kind: 'set', argv: ['portgroup', 'esx1', 'VM Network', '--vlan', '10'] });
    expect(describeAction(actions[1]!)).to.equal('set portgroup esx1 "VM Network" --vlan 10');
  });

  it('refuses a step with too few words at its line', () => {
    expect(() => scenario('  - set: port\n')).to.throw(ScenarioError, /x.yaml:4.*set needs the words of a vfab set command line/);
  });

  it('applies the steps in order before the run: a change valid only after an earlier one passes', async () => {
    expect(await problems('  - set: port sw1 Gi1/0/10 --mode trunk\n  - set: port sw1 Gi1/0/10 --native-vlan 20\n')).to.deep.equal([]);
  });

  it('reports a change the topology rules refuse, an unknown option and an unknown port, each at its step', async () => {
    const found = await problems([
      '  - set: port sw1 Gi1/0/10 --native-vlan 20',
      '  - set: port sw1 Gi1/0/1 --native-vlna 20',
      '  - set: port sw1 Gi1/0/9 --vlan 20',
      '  - set: switch sw1 --mac-aging 600',
      '',
    ].join('\n'));
    expect(found).to.have.length(3);
    expect(found[0]).to.match(/^4: step 1 set port sw1 Gi1\/0\/10 --native-vlan 20: .*nativeVlan applies to trunk ports only/);
    expect(found[1]).to.match(/^5: .*unknown option --native-vlna \(did you mean --native-vlan\?\)/);
    expect(found[2]).to.match(/^6: .*no port Gi1\/0\/9 \(did you mean Gi1\/0\/1\?\)/);
  });

  it('a scenario without set: steps does not read the topology again', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfab-setstep-'));
    try {
      await checkSetSteps(scenario('  - wait: 1s\n'), path.join(dir, 'missing.yaml'));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
