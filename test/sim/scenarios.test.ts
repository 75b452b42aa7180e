// Every shipped scenario (scenarios/*.yaml) under `vfab run --sim`: each passes with the same expectations
// as its daemon run, none is refused, and docs/simulation.md's section "Shipped scenarios that need daemon
// mode" says so (no table rows). A scenario that needs daemon mode (a netns guest) is refused with its
// reasons, never half run. In this process, no daemons; bounded by the number of shipped files.
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { loadScenarioAndTopology, runScenarioFile } from '../../daemons/scenario/run.js';
import { simUnsupported } from '../../lib/sim/support.js';
import type { VfabError } from '../../lib/errors.js';

const shipped = fs.readdirSync('scenarios').filter((f) => f.endsWith('.yaml')).sort();

/** The scenario files of the doc's table of scenarios that need daemon mode. */
function documentedDaemonOnly(): string[] {
  const doc = fs.readFileSync('docs/simulation.md', 'utf8');
  const section = doc.split('### Shipped scenarios that need daemon mode')[1]?.split(/\n## /)[0] ?? '';
  return [...section.matchAll(/^\| `([^`]+\.yaml)` \|/gm)].map((m) => m[1]!).sort();
}

describe('sim: shipped scenarios', function () {
  let tmp: string;
  before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vfab-sim-all-'))));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('refuses no shipped scenario, as docs/simulation.md says (its table of daemon-only scenarios is empty)', async () => {
    const refused: string[] = [];
    for (const f of shipped) {
      const { scenario, topology } = await loadScenarioAndTopology(path.join('scenarios', f));
      if (simUnsupported(scenario, topology).length > 0) refused.push(f);
    }
    expect(refused).to.deep.equal([]);
    expect(documentedDaemonOnly()).to.deep.equal(refused);
    expect(fs.readFileSync('docs/simulation.md', 'utf8')).to.include('No shipped scenario needs daemon mode');
  });

  /** A scenario over a topology with a netns guest (a real kernel namespace): daemon mode only. */
  function netnsScenario(): string {
    const file = path.join(tmp, 'netns.yaml');
    fs.writeFileSync(file, `name: netns\ndescription: a namespace guest\ntopology: ${path.resolve('topologies/netns-lab.yaml')}\nsteps:\n  - ping: { from: app1, to: web1 }\n  - kill: esx1\n`);
    return file;
  }

  it('refuses a daemon-only scenario before running it, naming every reason', async () => {
    const err = await runScenarioFile(netnsScenario(), { sim: { seed: 1 }, outDir: path.join(tmp, 'ns'), handleSignals: false }).then(() => null, (e: unknown) => e);
    expect(err).to.be.instanceOf(Error);
    expect((err as VfabError).code).to.equal('VFAB_SIM_UNSUPPORTED');
    expect((err as VfabError).message).to.include('VM web1: a netns guest').and.not.include('(kill)');
    expect(fs.existsSync(path.join(tmp, 'ns', 'timeline.json'))).to.equal(false);
  });

  it('vfab run: exit 2 naming the option or every reason (--seed without --sim, --time-scale with it, a daemon-only scenario)', () => {
    const vfab = (...args: string[]) => spawnSync(process.execPath, ['bin/vfab.js', 'run', ...args], { encoding: 'utf8', timeout: 30_000 });
    const noSim = vfab('scenarios/failover-notify-on.yaml', '--seed', '3');
    expect(noSim.status).to.equal(2);
    expect(noSim.stderr).to.include('--seed 3 needs --sim');
    const scaled = vfab('scenarios/failover-notify-on.yaml', '--sim', '--time-scale', '2');
    expect(scaled.status).to.equal(2);
    expect(scaled.stderr).to.include('--time-scale 2 does not apply with --sim');
    const ns = vfab(netnsScenario(), '--sim', '--json', '--out', path.join(tmp, 'ns-cli'));
    expect(ns.status).to.equal(2);
    const doc = JSON.parse(ns.stdout) as { unsupported: boolean; code: string; reasons: string[] };
    expect(doc).to.include({ unsupported: true, code: 'VFAB_SIM_UNSUPPORTED' });
    expect(doc.reasons.some((r) => r.startsWith('VM web1: a netns guest'))).to.equal(true);
  });

  for (const f of shipped) {
    it(`passes ${f} with --sim`, async () => {
      const r = await runScenarioFile(path.join('scenarios', f), { sim: { seed: 1 }, outDir: path.join(tmp, f), handleSignals: false });
      const failed = r.results.filter((x) => !x.passed).map((x) => `${x.id} ${x.name}: expected ${x.expected}, got ${x.got}`);
      expect(r.error, r.error).to.equal(undefined);
      expect(failed).to.deep.equal([]);
      expect(r.passed).to.equal(true);
      expect(r.results.length).to.be.greaterThan(0);
    });
  }
});
