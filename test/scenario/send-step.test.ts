// The scenario `send` step: model values from fields, hex and pcap (path resolved against the scenario
// file), line-precise problems for what cannot be sent, and the point checked against the topology.
import { expect } from 'chai';
import path from 'node:path';
import { parseScenario, ScenarioError, checkAgainstTopology } from '../../lib/scenario/load.js';
import { describeAction } from '../../lib/scenario/model.js';
import { loadTopologyFile } from '../../lib/topology/load.js';

const head = `name: s
topology: t.yaml
steps:
`;

function problems(steps: string): string[] {
  try {
    parseScenario(head + steps, 'x.yaml');
  } catch (e) {
    expect(e).to.be.instanceOf(ScenarioError);
    return (e as ScenarioError).problems.map((p) => `${p.line}: ${p.message}`);
  }
  throw new Error('expected a ScenarioError');
}

function action(steps: string, file = 'x.yaml'): any {
  const s = parseScenario(head + steps, file);
  const step = s.steps[0]!;
  if (step.kind !== 'action') throw new Error('not an action');
  return step.action;
}

describe('scenario: send step', () => {
  it('builds a frame from fields, with count and rate', () => {
    const a = action('  - send: { point: web1.nic0, dst: "00:50:56:00:00:12", src: "00:50:56:3f:ee:01", vlan: 10, etherType: 0x0800, payload: cafe, size: 100, count: 3, rate: 20 }\n');
    expect(a).to.deep.include({ kind: 'send', point: 'web1.nic0', count: 3, ratePps: 20 });
    expect(a.fields).to.deep.include({ dst: 0x005056000012, src: 0x0050563fee01, vlan: 10, etherType: 0x0800, sizeBytes: 100 });
    expect(Buffer.from(a.fields.payload).toString('hex')).to.equal('cafe');
    expect(describeAction(a)).to.equal('send 3 x a frame from fields at web1.nic0, 20 pps');
  });

  it('takes hex frames, and a pcap path relative to the scenario file', () => {
    expect(action('  - send: { point: sw1.Gi1/0/1, hex: [ffffffffffff00505600000188b5] }\n')).to.deep.include({ hex: ['ffffffffffff00505600000188b5'], count: 1 });
    const p = action('  - send: { point: sw1.Gi1/0/1, pcap: caps/a.pcap, timing: true }\n', '/lab/scen/x.yaml');
    expect(p).to.deep.include({ pcap: path.resolve('/lab/scen/caps/a.pcap'), timing: true });
  });

  it('refuses steps that cannot be sent, at their line', () => {
    expect(problems('  - send: { point: web1.nic0 }\n').join('\n')).to.include('4: send needs frames');
    expect(problems('  - send: { point: web1.nic0, hex: [ffffffffffff00505600000188b5], pcap: a.pcap }\n').join('\n')).to.include('give the frames one way');
    expect(problems('  - send: { point: web1.nic0, dst: "00:50:56:00:00:12" }\n').join('\n')).to.include('needs dst and src');
    expect(problems('  - send: { point: web1.nic0, hex: [ffffffffffff00505600000188b5zz] }\n').join('\n')).to.include('not hex');
    expect(problems('  - send: { point: web1.nic0, dst: "00:50:56:00:00:12", src: "00:50:56:00:00:13", payload: "00", size: 14 }\n').join('\n')).to.include('smaller than');
    expect(problems('  - send: { point: web1.nic0, pcap: a.pcap, timing: true, rate: 5 }\n').join('\n')).to.include('timing or rate');
    expect(problems('  - send: { point: web1.nic0, hex: [ffffffffffff00505600000188b5], timing: true }\n').join('\n')).to.include('timing applies to pcap only');
    expect(problems('  - send: { point: web1.nic0, dst: "00:50:56:00:00:12", src: "00:50:56:00:00:13", count: 100000, rate: 1 }\n').join('\n')).to.include('take longer than');
  });

  it('checks the point against the topology: a vNIC, uplink or switch port', async () => {
    const t = await loadTopologyFile('topologies/e2e/security.yaml');
    const check = (point: string) => checkAgainstTopology(parseScenario(head + `  - send: { point: "${point}", hex: [ffffffffffff00505600000188b5] }\n`, 'x.yaml'), t).map((p) => p.message);
    expect(check('forger.nic0')).to.deep.equal([]);
    expect(check('esx1.vmnic0')).to.deep.equal([]);
    expect(check('sw1.Gi1/0/2')).to.deep.equal([]);
    expect(check('sw1.Gi9/9').join('\n')).to.match(/Gi9\/9/);
  });
});
