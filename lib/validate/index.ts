// Entry point of design validation (`vfab validate`, `vfab diff`): parse topology text with the loader
// (lib/topology/load.ts), run every rule (rules.ts) with field-precise locations (locate.ts), or return
// the loader's problems when the file does not load (the CLI exits 2). Pure: the caller reads the file.
// Follows docs/vsphere-behaviour.md (sections per rule in findings.ts). Leaves out output formats (sarif.ts).

import { parseTopology, TopologyError, type TopologyProblem } from '../topology/load.js';
import type { Topology } from '../topology/model.js';
import type { Finding } from './findings.js';
import { fieldLocator } from './locate.js';
import { validateTopology } from './rules.js';

export type ValidateOutcome =
  | { ok: true; topology: Topology; findings: Finding[] }
  | { ok: false; code: string; problems: TopologyProblem[] };

/** Loads `text` (reported as `file`) and validates it. Never throws for a bad file. */
export function validateText(text: string, file: string): ValidateOutcome {
  let topology: Topology;
  try {
    topology = parseTopology(text, file);
  } catch (e) {
    if (e instanceof TopologyError) return { ok: false, code: e.code, problems: e.problems };
    throw e;
  }
  return { ok: true, topology, findings: validateTopology(topology, fieldLocator(text, file)) };
}

export * from './findings.js';
export { validateTopology, ALL_RULES, clusters } from './rules.js';
export { fieldLocator, parsePath } from './locate.js';
export { PhysicalGraph, allNics } from './graph.js';
export { analyzeDesign, analyzeReachability, analyzeSpofs } from './analysis.js';
