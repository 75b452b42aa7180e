// `vfab run SCENARIO --sim`: the scenario against a simulated fabric (daemons/sim/fabric.ts) in this
// process, on a virtual clock, with the run seed: refuses at once (VFAB_SIM_UNSUPPORTED, exit 2) a scenario
// that needs what is not simulated (lib/sim/support.ts names each step or topology part), else runs the
// steps with a SimDriver and writes the same outputs as a daemon run (timeline.txt/.json, result.json,
// captures, JUnit XML). Nothing to tear down: no process, socket or state directory is made.
// Leaves out argument parsing (daemons/cli/commands/scenario.ts) and loading (daemons/scenario/run.ts).

import fs from 'node:fs';
import path from 'node:path';
import { VfabError } from '../../lib/errors.js';
import type { Scenario } from '../../lib/scenario/model.js';
import type { Topology } from '../../lib/topology/model.js';
import { runScenario } from '../../lib/scenario/runner.js';
import { simNotes, simUnsupported } from '../../lib/sim/support.js';
import { writeOutputs, type RunReport } from '../scenario/run.js';
import { SimFabric } from './fabric.js';
import { SIM_SETTLE_MS, SimDriver } from './driver.js';

export interface SimRunInput {
  file: string;
  scenario: Scenario;
  topology: Topology;
  topologyFile: string;
  outDir: string;
  seed: number;
  junitFile?: string;
  log?: (line: string) => void;
}

/** VFAB_SIM_UNSUPPORTED listing every reason, when the scenario needs daemon mode. */
export function assertSimulatable(scenario: Scenario, topology: Topology): void {
  const why = simUnsupported(scenario, topology);
  if (why.length > 0) {
    throw new VfabError('VFAB_SIM_UNSUPPORTED', `scenario ${scenario.name} cannot run with --sim (run it without --sim; see docs/simulation.md):\n  ${why.join('\n  ')}`, { reasons: why });
  }
}

export async function runSimScenario(i: SimRunInput): Promise<RunReport> {
  assertSimulatable(i.scenario, i.topology);
  const log = i.log ?? (() => {});
  fs.mkdirSync(i.outDir, { recursive: true });
  log(`scenario ${i.scenario.name}: simulating ${i.topology.name} in one process (seed ${i.seed})`);
  const fabric = new SimFabric({ topology: i.topology, seed: i.seed });
  // arrays open and hosts attach and mount their datastores while the fabric settles
  await fabric.storage?.start(SIM_SETTLE_MS);
  const driver = new SimDriver({ fabric, topologyText: fs.readFileSync(i.topologyFile, 'utf8'), topologyFile: i.topologyFile, outDir: i.outDir, log });
  const result = await runScenario(i.scenario, driver);
  const report: RunReport = {
    ...result, sim: { seed: i.seed }, file: path.resolve(i.file), topologyFile: i.topologyFile, timeScale: 1, outDir: i.outDir, files: [], warnings: [...simNotes(i.topology), ...(fabric.storage?.warnings ?? []), ...driver.warnings],
  };
  writeOutputs(report, i.junitFile);
  return report;
}
