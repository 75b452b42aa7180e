import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { main } from '../../daemons/cli.js';
import { RULE_LIST } from '../../lib/validate/index.js';
import { capture } from './helpers.js';

describe('vfab validate (CLI)', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfab-validate-test-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, text);
    return p;
  };

  it('exit 0 on the clean production design', async () => {
    const c = capture();
    expect(await main(['validate', 'topologies/production.yaml'], c.io)).to.equal(0);
    expect(c.out.join('\n')).to.contain('0 errors, 0 warnings, 0 info');
  });

  it('exit 0 with warnings only, exit 1 with an error-level finding', async () => {
    expect(await main(['validate', 'topologies/validate/single-uplink.yaml'], capture().io)).to.equal(0);
    const c = capture();
    expect(await main(['validate', 'topologies/validate/native-vlan-trap.yaml'], c.io)).to.equal(1);
    expect(c.out.join('\n')).to.match(/native-vlan-trap\.yaml:28:\d+: error VFAB-NET-002/);
  });

  it('--json prints one document with the findings', async () => {
    const c = capture();
    expect(await main(['validate', 'topologies/validate/duplicate-mac.yaml', '--json'], c.io)).to.equal(1);
    const doc = JSON.parse(c.out.join('\n'));
    expect(doc.valid).to.equal(true);
    expect(doc.summary).to.deep.equal({ error: 1, warning: 0, info: 0 });
    expect(doc.findings[0]).to.include({ ruleId: 'VFAB-NET-011', severity: 'error', path: 'hosts[1].vms[0].nics[0].mac' });
    expect(doc.findings[0].related[0].path).to.equal('hosts[0].vms[0].nics[0].mac');
  });

  it('--sarif writes a SARIF 2.1.0 log with rule metadata and located results', async () => {
    const out = path.join(dir, 'out.sarif');
    expect(await main(['validate', 'topologies/validate/mtu-mismatch.yaml', '--sarif', out], capture().io)).to.equal(1);
    const log = JSON.parse(fs.readFileSync(out, 'utf8'));
    expect(log.version).to.equal('2.1.0');
    expect(log.$schema).to.match(/sarif-2\.1\.0/);
    const run = log.runs[0];
    expect(run.tool.driver.rules).to.have.length(RULE_LIST.length + 1);
    const rule = run.tool.driver.rules.find((r: any) => r.id === 'VFAB-NET-010');
    expect(rule).to.deep.include({ name: 'mtu-mismatch', helpUri: 'docs/validate.md#vfab-net-010' });
    expect(rule.shortDescription.text).to.be.a('string').and.not.empty;
    expect(run.results).to.have.length(2);
    const r0 = run.results[0];
    expect(r0).to.include({ ruleId: 'VFAB-NET-010', level: 'error' });
    expect(run.tool.driver.rules[r0.ruleIndex].id).to.equal('VFAB-NET-010');
    expect(r0.locations[0].physicalLocation.artifactLocation.uri).to.equal('topologies/validate/mtu-mismatch.yaml');
    expect(r0.locations[0].physicalLocation.region.startLine).to.equal(26);
    expect(r0.partialFingerprints['vfabFindingKey/v1']).to.be.a('string');
  });

  it('--sarif on a file that does not load reports VFAB-TOPO-001 results and exits 2', async () => {
    const bad = write('bad.yaml', 'name: x\nhosts:\n  - name: esx1\n    colour: blue\n');
    const out = path.join(dir, 'bad.sarif');
    expect(await main(['validate', bad, '--sarif', out], capture().io)).to.equal(2);
    const log = JSON.parse(fs.readFileSync(out, 'utf8'));
    expect(log.runs[0].results[0]).to.deep.include({ ruleId: 'VFAB-TOPO-001', level: 'error' });
    expect(log.runs[0].results[0].locations[0].physicalLocation.region.startLine).to.equal(4);
  });

  const malformed: Array<[string, string, Array<[number, RegExp]>]> = [
    ['bad YAML', 'name: x\nhosts:\n  - name: [esx1\n', [[4, /Flow sequence/]]],
    ['an unknown field', 'name: x\nswitches:\n  - name: sw1\n    portz: []\n', [[4, /unknown field `portz`/]]],
    ['a wrong type', 'name: x\nswitches:\n  - name: sw1\n    mtu: big\n', [[4, /expected/]]],
    ['a dangling host and port', 'name: x\nswitches:\n  - name: sw1\n    ports:\n      - { name: Gi1/0/1 }\n      - { name: Gi1/0/2 }\nlinks:\n  - [esx9.vmnic0, sw1.Gi1/0/1]\n  - [sw1.Gi1/0/1x, sw1.Gi1/0/2]\n',
      [[8, /unknown node `esx9`/], [9, /no port `Gi1\/0\/1x`/]]],
  ];
  for (const [what, text, expected] of malformed) {
    it(`${what}: one message per problem with its line, exit 2`, async () => {
      const file = write(`${what.replace(/\W+/g, '-')}.yaml`, text);
      const c = capture();
      expect(await main(['validate', file], c.io)).to.equal(2);
      const lines = c.err.filter((l) => l.startsWith(file));
      expect(lines).to.have.length(expected.length + 1); // + the summary line
      expected.forEach(([line, re], i) => {
        expect(lines[i]).to.contain(`${file}:${line}:`);
        expect(lines[i]).to.match(re);
      });
      const j = capture();
      expect(await main(['validate', file, '--json'], j.io)).to.equal(2);
      const doc = JSON.parse(j.out.join('\n'));
      expect(doc.valid).to.equal(false);
      expect(doc.problems).to.have.length(expected.length);
    });
  }

  it('a missing file exits 2 with a message', async () => {
    const c = capture();
    expect(await main(['validate', path.join(dir, 'nope.yaml')], c.io)).to.equal(2);
    expect(c.err[0]).to.contain('cannot read file');
  });

  it('usage errors exit 2', async () => {
    expect(await main(['validate'], capture().io)).to.equal(2);
    expect(await main(['diff', 'topologies/production.yaml'], capture().io)).to.equal(2);
  });
});

describe('vfab diff (CLI)', () => {
  it('reports the new finding, the lost reachability and exits 1 when the change is worse', async () => {
    const c = capture();
    expect(await main(['diff', 'topologies/validate/gateway-not-in-design.yaml', 'topologies/validate/native-vlan-trap.yaml', '--json'], c.io)).to.equal(1);
    const d = JSON.parse(c.out.join('\n'));
    expect(d.worse).to.equal(true);
    expect(d.newFindings.map((f: any) => f.ruleId)).to.deep.equal(['VFAB-NET-002']);
    expect(d.resolvedFindings.map((f: any) => f.ruleId)).to.deep.equal(['VFAB-NET-015']);
    const lost = d.reachability.find((r: any) => r.key === 'web1.nic0 -> web2.nic0');
    expect(lost).to.include({ before: 'reachable', after: 'partial' });
  });

  it('reports single points of failure added and exits 0 when nothing got worse in reverse', async () => {
    const c = capture();
    expect(await main(['diff', 'topologies/validate/single-uplink.yaml', 'topologies/production.yaml'], c.io)).to.equal(0);
    const c2 = capture();
    await main(['diff', 'topologies/production.yaml', 'topologies/validate/single-uplink.yaml', '--json'], c2.io);
    const d = JSON.parse(c2.out.join('\n'));
    expect(d.spofsAdded).to.include('web1.nic0 depends on uplink esx1.vmnic0');
    expect(d.spofsAdded).to.include('web1.nic0 depends on switch sw1');
  });
});
