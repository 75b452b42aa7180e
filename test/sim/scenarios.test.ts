// Every shipped scenario (scenarios/*.yaml) under `vfab run --sim`: each passes with the same expectations
// as its daemon run and, run a second time with the same seed, gives byte-identical timeline.json,
// timeline.txt and capture files; none is refused, and docs/simulation.md's section "Shipped scenarios that need daemon
// mode" says so (no table rows). A scenario that needs daemon mode (a netns guest) is refused with its
// reasons, never half run. In this process, no daemons; bounded by the number of shipped files (two runs each).
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

  /** The files a run writes that must repeat byte for byte: its timelines and captures. */
  function outputs(dir: string): Record<string, Buffer> {
    const bytes: Record<string, Buffer> = {};
    for (const x of fs.readdirSync(dir).sort()) if (x === 'timeline.json' || x === 'timeline.txt' || x.endsWith('.pcapng')) bytes[x] = fs.readFileSync(path.join(dir, x));
    return bytes;
  }

  // each file runs twice with seed 1 in this process (the second run after the first's state, timers and
  // streams are gone): the same seed must give byte-identical timelines and captures
  for (const f of shipped) {
    it(`passes ${f} with --sim, and repeats it byte for byte with the same seed`, async () => {
      let runs = 0;
      const run = () => runScenarioFile(path.join('scenarios', f), { sim: { seed: 1 }, outDir: path.join(tmp, f, String(runs++)), handleSignals: false });
      const r = await run();
      const failed = r.results.filter((x) => !x.passed).map((x) => `${x.id} ${x.name}: expected ${x.expected}, got ${x.got}`);
      expect(r.error, r.error).to.equal(undefined);
      expect(failed).to.deep.equal([]);
      expect(r.passed).to.equal(true);
      expect(r.results.length).to.be.greaterThan(0);
      const again = await run();
      expect(again.passed, again.error).to.equal(true);
      const [a, b] = [outputs(path.join(tmp, f, '0')), outputs(path.join(tmp, f, '1'))];
      expect(Object.keys(a)).to.include('timeline.json');
      expect(Object.keys(b)).to.deep.equal(Object.keys(a));
      for (const [name, bytes] of Object.entries(a)) expect(Buffer.compare(bytes, b[name]!), `${f}: ${name} differs between two runs with seed 1`).to.equal(0);
    });
  }
});
